//! The Chargebee integration: webhook tokens and Basic Auth.

use super::backend::Backend;
use super::store::*;
use super::*;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> Integrations for SqlStore<DB>
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
    async fn integration(&self, org: &OrgId) -> Result<IntegrationRow> {
        sqlx::query_as(
            "SELECT org_id, token_nonce, previous_valid_until, basic_auth_username, \
               basic_auth_password_mac FROM chargebee_integrations WHERE org_id = $1",
        )
        .bind(org.as_str())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound)
    }

    async fn integration_by_token_hash(&self, token_hash: &str) -> Result<Option<TokenMatch>> {
        let now = std::time::Instant::now();
        let generation = match self.tokens.get(token_hash, now) {
            Ok(found) => return Ok(Some(found)),
            Err(generation) => generation,
        };
        let row: Option<(IntegrationRow, bool)> = sqlx::query_as::<
            _,
            (
                String,
                String,
                Option<i64>,
                Option<String>,
                Option<String>,
                bool,
            ),
        >(
            "SELECT org_id, token_nonce, previous_valid_until, basic_auth_username, \
               basic_auth_password_mac, token_hash <> $1 FROM chargebee_integrations \
             WHERE token_hash = $1 OR previous_token_hash = $1 LIMIT 1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?
        .map(
            |(
                org_id,
                token_nonce,
                previous_valid_until,
                basic_auth_username,
                basic_auth_password_mac,
                previous,
            )| {
                (
                    IntegrationRow {
                        org_id,
                        token_nonce,
                        previous_valid_until,
                        basic_auth_username,
                        basic_auth_password_mac,
                    },
                    previous,
                )
            },
        );
        let found = row.map(|(integration, previous)| TokenMatch {
            integration,
            previous,
        });
        if let Some(found) = &found {
            self.tokens.put(token_hash, found, now, generation);
        }
        Ok(found)
    }

    async fn rotate_token(
        &self,
        org: &OrgId,
        nonce: &str,
        token_hash: &str,
        previous_valid_until: Option<i64>,
        now: i64,
    ) -> Result<()> {
        // Without a grace period the old token is forgotten at once.
        let n = sqlx::query(
            "UPDATE chargebee_integrations SET \
               previous_token_hash = CASE WHEN $4 IS NULL THEN NULL ELSE token_hash END, \
               previous_valid_until = $4, token_nonce = $2, token_hash = $3, rotated_at = $5 \
             WHERE org_id = $1",
        )
        .bind(org.as_str())
        .bind(nonce)
        .bind(token_hash)
        .bind(previous_valid_until)
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected_by::<DB>();
        self.tokens.clear();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn set_basic_auth(
        &self,
        org: &OrgId,
        username: Option<&str>,
        password_mac: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE chargebee_integrations SET basic_auth_username = $2, \
               basic_auth_password_mac = $3 WHERE org_id = $1",
        )
        .bind(org.as_str())
        .bind(username)
        .bind(password_mac)
        .execute(&self.write)
        .await?;
        self.tokens.clear();
        Ok(())
    }
}
