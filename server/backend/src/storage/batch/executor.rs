//! The executor: what the loop (`run.rs`) needs from a connection inside a transaction
//! ([`WaveDb`]), and [`SqlxWaves`], which runs the statements through sqlx on either database.
//! (SQLite once ran them on the write connection's raw handle through rusqlite, to save sqlx's
//! hand-off to its worker thread per statement; measured against this one it saved nothing
//! once a wave became a few multi-row statements, so it went, with its `unsafe` block: see
//! docs/performance.md.)

use super::*;
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, IntoArguments, Row as _, Type};
use std::future::Future;

/// An event id a parked-events query found, with the position of the release that found it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parked {
    pub release: usize,
    pub id: String,
}

/// A stored event read back for replay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub payload: String,
    pub outcome: String,
}

/// What applying events needs from a connection inside a transaction. SQL placeholders
/// (`$1`, `$2`, …) always appear in order, so SQLite can bind them by position.
pub(crate) trait WaveDb: Send {
    /// Runs the state query (`sql`, a rendering of [`STATE`]).
    fn states(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<StateRow>>> + Send;
    /// Runs a write; returns the number of rows written.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> impl Future<Output = Result<u64>> + Send;
    /// Runs a parked-events query (a rendering of [`PARKED`], or [`PARKED_AFTER_SQL`]).
    fn parked(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Parked>>> + Send;
    /// A stored event's payload and outcome.
    fn stored(
        &mut self,
        org: &OrgId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Stored>>> + Send;
    /// The stored event an event id belongs to ([`ORIGINAL_SQL`]).
    fn original(
        &mut self,
        org: &OrgId,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<Original>>> + Send;
    /// Takes the advisory locks for `keys` (sorted) until the transaction ends (PostgreSQL;
    /// SQLite has one writer).
    fn lock(&mut self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
}

/// Binds [`Arg`]s in order.
pub(crate) fn bind_args<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
{
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_deref()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// [`WaveDb`] over a sqlx connection, on either database.
pub(crate) struct SqlxWaves<'c, DB: Backend>(pub &'c mut DB::Connection);

impl<DB> WaveDb for SqlxWaves<'_, DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Decode<'q, DB> + Type<DB>,
    for<'r> StateRow: FromRow<'r, DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    async fn states(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<StateRow>> {
        let rows = bind_args(sqlx::query(sql), args)
            .fetch_all(&mut *self.0)
            .await?;
        Ok(rows
            .iter()
            .map(StateRow::from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let result = bind_args(sqlx::query(sql), args)
            .execute(&mut *self.0)
            .await?;
        Ok(DB::rows_affected(&result))
    }

    async fn parked(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Parked>> {
        let rows = bind_args(sqlx::query(sql), args)
            .fetch_all(&mut *self.0)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(Parked {
                    release: usize::try_from(r.try_get::<i64, _>("i")?).unwrap_or(0),
                    id: r.try_get("id")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()?)
    }

    async fn stored(&mut self, org: &OrgId, id: &str) -> Result<Option<Stored>> {
        let row: Option<(String, String)> = sqlx::query_as(STORED_SQL)
            .bind(org.as_str())
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(|(payload, outcome)| Stored { payload, outcome }))
    }

    async fn original(&mut self, org: &OrgId, event_id: &str) -> Result<Option<Original>> {
        let row: Option<(String, String)> = sqlx::query_as(ORIGINAL_SQL)
            .bind(org.as_str())
            .bind(event_id)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(|(id, outcome)| Original { id, outcome }))
    }

    async fn lock(&mut self, keys: &[String]) -> Result<()> {
        if let (Some(sql), false) = (DB::LOCK_KEYS, keys.is_empty()) {
            sqlx::query(sql)
                .bind(keys.join("\n"))
                .execute(&mut *self.0)
                .await?;
        }
        Ok(())
    }
}
