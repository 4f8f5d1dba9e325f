//! [`SqlStore`]: the one implementation of the storage traits, generic over the [`Backend`]
//! (SQLite or PostgreSQL), and the helpers the area files share.
//!
//! The SQL is portable on purpose: `$n` placeholders (both drivers accept them), `ON CONFLICT`,
//! `RETURNING`, `CAST(… AS BIGINT)` around sums, times as BIGINT milliseconds. What differs is
//! spelled out by [`Backend`]. Each area of the storage traits has its own file (`accounts.rs`,
//! `team.rs`, `api_keys.rs`, `integrations.rs`, `events.rs`, `ledger.rs`); applying webhook
//! events (a batch, a replay, a release) is in `batch/`.

use super::backend::Backend;
use super::batch::{joined_sum, Budget};
use super::token_cache::TokenCache;
use super::*;
use sqlx::{Executor, IntoArguments, Pool};
use std::collections::HashMap;

pub use super::batch::{attempt_lock_key, customer_lock_key};

/// Storage on one database. [`SqliteStorage`] and [`PgStorage`] are its two instances.
pub struct SqlStore<DB: Backend> {
    pub(super) read: Pool<DB>,
    pub(super) write: Pool<DB>,
    pub(super) tokens: TokenCache,
    pub(super) release_chunk: usize,
    pub(super) releases: Arc<tokio::sync::Notify>,
}

pub type SqliteStorage = SqlStore<sqlx::Sqlite>;
pub type PgStorage = SqlStore<sqlx::Postgres>;

impl<DB: Backend> SqlStore<DB> {
    pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Self> {
        let (read, write) = DB::open(url, pool).await?;
        Ok(Self {
            read,
            write,
            tokens: TokenCache::default(),
            release_chunk: pool.release_chunk.max(1),
            releases: Arc::default(),
        })
    }

    /// The write pool (SQLite: its one connection).
    pub fn pool(&self) -> &Pool<DB> {
        &self.write
    }

    /// Wakes the background worker when a transaction left parked events for it.
    pub(super) fn after_releases(&self, budget: &Budget) {
        if budget.releases_left() {
            self.releases.notify_one();
        }
    }
}

#[async_trait]
impl<DB> Storage for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    Self: Accounts
        + Team
        + ApiKeys
        + Integrations
        + Events
        + Ledger
        + Commissions
        + Audit
        + Settings
        + Portal,
{
    fn backend_name(&self) -> &'static str {
        DB::BACKEND
    }

    async fn migrate(&self) -> Result<()> {
        DB::migrator()
            .run(&self.write)
            .await
            .map_err(|e| StorageError::Other(format!("migration failed: {e}")))?;
        self.session_store()
            .migrate()
            .await
            .map_err(|e| StorageError::Other(format!("session table migration failed: {e}")))?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn session_store(&self) -> AnySessionStore {
        DB::session_store(&self.write)
    }
}

/// Takes the transaction's advisory locks on `keys` ([`Backend::LOCK_KEYS`]; nothing on
/// SQLite, which has one writer), in sorted order.
pub(super) async fn lock_keys<DB>(conn: &mut DB::Connection, mut keys: Vec<String>) -> Result<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let Some(sql) = DB::LOCK_KEYS else {
        return Ok(());
    };
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    sqlx::query(sql)
        .bind(keys.join("\n"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `$first, $first+1, …` for `n` values, comma-separated.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a newest-first page starts, from a cursor that [`paginate`] gave as
/// `"{time}:{id}"`; the start of the list when there is none (or it does not parse).
pub(super) fn newest_first_cursor(cursor: Option<&str>) -> (i64, String) {
    cursor
        .and_then(|c| c.split_once(':'))
        .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
        .unwrap_or((i64::MAX, String::new()))
}

/// A page of `limit + 1` rows → the page and the cursor for the next one.
pub(super) fn paginate<T>(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(cursor)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// A uniqueness violation becomes a `Conflict` with `message`; other errors pass through.
pub(super) fn conflict_if_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StorageError {
    if is_unique_violation(&e) {
        StorageError::Conflict(message())
    } else {
        e.into()
    }
}

/// How many events a released event's outcome stands for: itself if applied, and what it
/// released in turn.
pub(super) fn applied(o: &EventOutcome) -> usize {
    usize::from(o.outcome == Outcome::Processed) + o.released
}

/// Groups (owner, currency, millions, units) rows into exact totals per owner, currencies in
/// alphabetical order.
pub(super) fn totals_by_owner(
    rows: Vec<(String, String, i64, i64)>,
) -> HashMap<String, Vec<CurrencyTotal>> {
    let mut out: HashMap<String, Vec<CurrencyTotal>> = HashMap::new();
    for (owner, currency, millions, units) in rows {
        out.entry(owner).or_default().push(CurrencyTotal {
            currency,
            amount: joined_sum(millions, units),
        });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.currency.cmp(&b.currency));
    }
    out
}

/// `.rows_affected_by::<DB>()` at the end of a generic `execute`.
pub(super) trait RowsAffected {
    fn rows_affected_by<DB: Backend<QueryResult = Self>>(&self) -> u64
    where
        Self: Sized;
}

impl<T> RowsAffected for T {
    fn rows_affected_by<DB: Backend<QueryResult = Self>>(&self) -> u64 {
        DB::rows_affected(self)
    }
}
