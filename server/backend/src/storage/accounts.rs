//! Organizations, users, sign-in attempts and the periodic cleanup.

use super::backend::Backend;
use super::store::*;
use super::*;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> Accounts for SqlStore<DB>
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
    async fn create_org(&self, o: &NewOrgRow<'_>) -> Result<()> {
        let NewOrgRow {
            org_id,
            name,
            owner,
            email,
            password_hash,
            token_nonce,
            token_hash,
            now,
        } = *o;
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org_id.as_str())
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(hash) = password_hash {
            let r = sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(owner.as_str())
            .bind(email)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await;
            r.map_err(|e| conflict_if_unique(e, || "email already registered".into()))?;
        }
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(org_id.as_str())
        .bind(owner.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO chargebee_integrations (org_id, token_nonce, token_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(org_id.as_str())
        .bind(token_nonce)
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_org(&self, org: &OrgId) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let members: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE org_id = $1")
                .bind(org.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let n = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(org.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        // Accounts that belonged only to this organization go with it, so their
        // email addresses can sign up again.
        for user in members {
            sqlx::query(
                "DELETE FROM users WHERE id = $1 AND NOT EXISTS \
                   (SELECT 1 FROM memberships m WHERE m.user_id = $1)",
            )
            .bind(&user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.tokens.clear();
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT id, email, password_hash, session_epoch FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT id, email, password_hash, session_epoch FROM users WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?)
    }

    async fn user_orgs(&self, user: &UserId) -> Result<Vec<OrgChoice>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT o.id, o.name, m.role FROM memberships m \
             JOIN organizations o ON o.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY m.created_at, o.id",
        )
        .bind(user.as_str())
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, role)| OrgChoice {
                id,
                name,
                role: role.parse().unwrap_or(Role::Viewer),
                partner: None,
            })
            .collect())
    }

    async fn set_password(&self, user: &UserId, password_hash: &str) -> Result<i64> {
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 \
             WHERE id = $1 RETURNING session_epoch",
        )
        .bind(user.as_str())
        .bind(password_hash)
        .fetch_optional(&self.write)
        .await?;
        epoch.ok_or(StorageError::NotFound)
    }

    async fn reserve_attempt(
        &self,
        scopes: &[(String, i64)],
        since: i64,
        now: i64,
        attempt: &str,
    ) -> Result<Option<(usize, Option<i64>)>> {
        let mut tx = self.write.begin().await?;
        // Concurrent reservations for a scope wait for each other here, so a burst cannot
        // all count the same "still under the limit".
        let keys: Vec<String> = scopes.iter().map(|(s, _)| attempt_lock_key(s)).collect();
        lock_keys::<DB>(&mut tx, keys).await?;
        for (i, (scope, limit)) in scopes.iter().enumerate() {
            let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(at) FROM login_failures WHERE scope = $1 AND at >= $2",
            )
            .bind(scope)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            if count >= *limit {
                return Ok(Some((i, oldest)));
            }
        }
        for (scope, _) in scopes {
            sqlx::query("INSERT INTO login_failures (scope, at, attempt) VALUES ($1, $2, $3)")
                .bind(scope)
                .bind(now)
                .bind(attempt)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    async fn release_attempt(&self, attempt: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE attempt = $1")
            .bind(attempt)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn record_login_failure(&self, scopes: &[String], now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for scope in scopes {
            sqlx::query("INSERT INTO login_failures (scope, at) VALUES ($1, $2)")
                .bind(scope)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn login_failures(
        &self,
        scopes: &[String],
        since: i64,
    ) -> Result<Vec<(i64, Option<i64>)>> {
        let mut out = vec![];
        for scope in scopes {
            let row: (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(at) FROM login_failures WHERE scope = $1 AND at >= $2",
            )
            .bind(scope)
            .bind(since)
            .fetch_one(&self.read)
            .await?;
            out.push(row);
        }
        Ok(out)
    }

    async fn clear_login_failures(&self, scope: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE scope = $1")
            .bind(scope)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn cleanup(&self, _now: i64, login_before: i64) -> Result<bool> {
        use tower_sessions::session_store::ExpiredDeletion;
        // One connection holds the advisory lock for the duration (PostgreSQL only).
        let mut lock_conn = if let Some((try_lock, _)) = DB::CLEANUP_LOCK {
            let mut conn = self.write.acquire().await?;
            let got: bool = sqlx::query_scalar(try_lock).fetch_one(&mut *conn).await?;
            if !got {
                return Ok(false);
            }
            Some(conn)
        } else {
            None
        };
        let result = async {
            self.session_store()
                .delete_expired()
                .await
                .map_err(|e| StorageError::Other(format!("deleting expired sessions: {e}")))?;
            sqlx::query("DELETE FROM login_failures WHERE at < $1")
                .bind(login_before)
                .execute(&self.write)
                .await?;
            Ok::<(), StorageError>(())
        }
        .await;
        if let (Some(conn), Some((_, unlock))) = (lock_conn.as_mut(), DB::CLEANUP_LOCK) {
            sqlx::query(unlock).execute(&mut **conn).await?;
        }
        result.map(|()| true)
    }
}
