//! REST API keys (only their hashes are stored).

use super::backend::Backend;
use super::store::*;
use super::*;
use crate::domain::random_id;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

const API_KEY_COLUMNS: &str = "k.id, k.name, k.prefix, k.scope, \
     (SELECT u.email FROM users u WHERE u.id = k.created_by) AS created_by, \
     k.created_at, k.last_used_at, k.revoked_at";

#[async_trait]
impl<DB> ApiKeys for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn create_api_key(&self, org: &OrgId, k: &NewApiKey<'_>) -> Result<ApiKey> {
        let id = random_id("key");
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, prefix, key_hash, scope, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(org.as_str())
        .bind(k.name)
        .bind(k.prefix)
        .bind(k.key_hash)
        .bind(k.scope.as_str())
        .bind(k.created_by.map(UserId::as_str))
        .bind(k.now)
        .execute(&self.write)
        .await?;
        let sql =
            format!("SELECT {API_KEY_COLUMNS} FROM api_keys k WHERE k.org_id = $1 AND k.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(&id)
            .fetch_one(&self.write)
            .await?)
    }

    async fn api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys k WHERE k.org_id = $1 \
             ORDER BY k.created_at DESC, k.id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(org.as_str())
            .fetch_all(&self.read)
            .await?)
    }

    async fn revoke_api_key(&self, org: &OrgId, id: &str, now: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(org.as_str())
        .bind(id)
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyMatch>> {
        let row: Option<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, org_id, scope, name, prefix FROM api_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, org_id, scope, name, prefix)| ApiKeyMatch {
            id,
            org_id,
            scope: scope.parse().unwrap_or(ApiScope::Read),
            label: format!("{name} ({prefix}…)"),
        }))
    }

    async fn touch_api_key(&self, id: &str, now: i64) -> Result<()> {
        // At most once a minute per key, so API traffic does not turn into writes.
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
               AND (last_used_at IS NULL OR last_used_at < $2 - 60000)",
        )
        .bind(id)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
