//! The organization's settings: the reporting currency, payload retention, the attribution
//! window.

use super::backend::Backend;
use super::store::*;
use super::*;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> Settings for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn reporting_currency(&self, org: &OrgId) -> Result<String> {
        Ok(
            sqlx::query_scalar("SELECT reporting_currency FROM organizations WHERE id = $1")
                .bind(org.as_str())
                .fetch_optional(&self.read)
                .await?
                .ok_or(StorageError::NotFound)?,
        )
    }

    async fn set_reporting_currency(&self, org: &OrgId, currency: &str) -> Result<()> {
        sqlx::query("UPDATE organizations SET reporting_currency = $2 WHERE id = $1")
            .bind(org.as_str())
            .bind(currency)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn payload_retention_days(&self, org: &OrgId) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT payload_retention_days FROM organizations WHERE id = $1")
                .bind(org.as_str())
                .fetch_optional(&self.read)
                .await?
                .ok_or(StorageError::NotFound)?,
        )
    }

    async fn set_payload_retention_days(&self, org: &OrgId, days: i64) -> Result<()> {
        sqlx::query("UPDATE organizations SET payload_retention_days = $2 WHERE id = $1")
            .bind(org.as_str())
            .bind(days)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn attribution_window_days(&self, org: &OrgId) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT attribution_window_days FROM organizations WHERE id = $1")
                .bind(org.as_str())
                .fetch_optional(&self.read)
                .await?
                .ok_or(StorageError::NotFound)?,
        )
    }

    async fn set_attribution_window_days(&self, org: &OrgId, days: i64) -> Result<()> {
        sqlx::query("UPDATE organizations SET attribution_window_days = $2 WHERE id = $1")
            .bind(org.as_str())
            .bind(days)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
