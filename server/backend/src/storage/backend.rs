//! What differs between the two databases, and nothing else: the name, how a pool is opened,
//! the migrations, the session store, how writes are batched, and a handful of SQL spellings
//! (row and advisory locks, the SQLite FTS5 prefilter). Every query of the area files
//! (`accounts.rs`, `team.rs`, …) is written once, generically over a [`Backend`].

use super::sessions::AnySessionStore;
use super::{PoolSettings, Result, StorageError};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// Prepared statements kept per connection (sqlx's default is 100).
const STATEMENT_CACHE: usize = 400;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// A database Partner Ledger runs on.
pub trait Backend: sqlx::Database<Connection: sqlx::migrate::Migrate> {
    /// As `backend_name()` reports it: `sqlite` or `postgres`.
    const BACKEND: &'static str;
    /// Group commit for concurrent deliveries: (largest batch, parallel writers). SQLite has
    /// one writer, so one big batch at a time; PostgreSQL writes several smaller ones at once.
    const WRITE_BATCHING: (usize, usize);
    /// Appended to a `SELECT` that reads rows the transaction will change (PostgreSQL:
    /// ` FOR UPDATE`; SQLite has one writer).
    const FOR_UPDATE: &'static str;
    /// Appended to a `SELECT` that claims work other instances must skip (PostgreSQL:
    /// ` FOR UPDATE SKIP LOCKED`).
    const CLAIM: &'static str;
    /// Locks an organization's memberships until the transaction ends, `$1` the organization
    /// (PostgreSQL: its row, `FOR NO KEY UPDATE`, so inserts that only reference it do not
    /// wait; SQLite: nothing, one writer).
    const LOCK_ORG: Option<&'static str>;
    /// Takes transaction advisory locks on `$1`, keys separated by newlines, in sorted order
    /// (PostgreSQL; SQLite has one writer). Keys come from `batch::lock_key`.
    const LOCK_KEYS: Option<&'static str>;
    /// Tries a session-level advisory lock, and releases it, for work only one instance
    /// should do at a time (PostgreSQL; SQLite has one server).
    const CLEANUP_LOCK: Option<(&'static str, &'static str)>;
    /// Lifts the statement timeout for the rest of the transaction, for work that is large by
    /// nature (a payout run over a million entries; PostgreSQL's `DB_STATEMENT_TIMEOUT_MS`
    /// still bounds everything else).
    const LONG_WORK: Option<&'static str>;
    /// Takes a shared transaction advisory lock on the key `$1` (PostgreSQL; SQLite has one
    /// writer). Appending commission entries holds it shared; a payout run takes the same key
    /// exclusively through [`Backend::LOCK_KEYS`], so no entry is half-written while it counts.
    const LOCK_SHARED: Option<&'static str>;
    /// Customer search prefilters terms of 3+ characters with the FTS5 trigram index
    /// `customers_search` (SQLite; PostgreSQL uses its trigram indexes directly).
    const FTS_SEARCH: bool;

    /// Opens the (read, write) pools. They may be the same pool.
    fn open(
        url: &str,
        settings: &PoolSettings,
    ) -> impl Future<Output = Result<(Pool<Self>, Pool<Self>)>> + Send;
    fn migrator() -> &'static Migrator;
    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
    fn session_store(pool: &Pool<Self>) -> AnySessionStore;
}

fn invalid_url(e: sqlx::Error) -> StorageError {
    StorageError::Other(format!("invalid DATABASE_URL: {e}"))
}

impl Backend for Sqlite {
    const BACKEND: &'static str = "sqlite";
    const WRITE_BATCHING: (usize, usize) = (128, 1);
    const FOR_UPDATE: &'static str = "";
    const CLAIM: &'static str = "";
    const LOCK_ORG: Option<&'static str> = None;
    const LOCK_KEYS: Option<&'static str> = None;
    const CLEANUP_LOCK: Option<(&'static str, &'static str)> = None;
    const FTS_SEARCH: bool = true;
    const LONG_WORK: Option<&'static str> = None;
    const LOCK_SHARED: Option<&'static str> = None;

    /// Writes go through a one-connection pool so writers queue in-process instead of failing
    /// with SQLITE_BUSY; reads use a separate pool (WAL lets them run during writes).
    async fn open(url: &str, pool: &PoolSettings) -> Result<(Pool<Self>, Pool<Self>)> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(invalid_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk (WAL fsynced) before we answer 2xx.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000")
            // Batched writes use a few statement texts per kind and size (see `batch/`);
            // all of them, and the dashboard's, stay prepared.
            .statement_cache_capacity(STATEMENT_CACHE);
        if let Some(parent) = opts.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StorageError::Other(format!(
                        "cannot create the database folder {}: {e}",
                        parent.display()
                    ))
                })?;
            }
        }
        // A local file does not drop connections: no ping before each use.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(opts.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(pool.max_connections.max(2))
            .test_before_acquire(false)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(opts)
            .await?;
        Ok((read, write))
    }

    fn migrator() -> &'static Migrator {
        &SQLITE_MIGRATIONS
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn session_store(pool: &Pool<Self>) -> AnySessionStore {
        AnySessionStore::Sqlite(tower_sessions_sqlx_store::SqliteStore::new(pool.clone()))
    }
}

impl Backend for Postgres {
    const BACKEND: &'static str = "postgres";
    const WRITE_BATCHING: (usize, usize) = (16, 4);
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const CLAIM: &'static str = " FOR UPDATE SKIP LOCKED";
    const LOCK_ORG: Option<&'static str> =
        Some("SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE");
    const LOCK_KEYS: Option<&'static str> = Some(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
              FROM unnest(string_to_array($1, chr(10))) AS k ORDER BY k",
    );
    const CLEANUP_LOCK: Option<(&'static str, &'static str)> = Some((
        "SELECT pg_try_advisory_lock(727274)",
        "SELECT pg_advisory_unlock(727274)",
    ));
    const FTS_SEARCH: bool = false;
    const LONG_WORK: Option<&'static str> = Some("SET LOCAL statement_timeout = '300s'");
    const LOCK_SHARED: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))");

    async fn open(url: &str, pool: &PoolSettings) -> Result<(Pool<Self>, Pool<Self>)> {
        let statement_timeout = format!("{}ms", pool.statement_timeout_ms);
        let opts = PgConnectOptions::from_str(url)
            .map_err(invalid_url)?
            .options([
                ("statement_timeout", statement_timeout.as_str()),
                ("lock_timeout", "10s"),
                // One tenant's rows dominate small tables early on; a generic plan cached
                // then (e.g. an org_id index plus a filter) stays slow as tables grow.
                ("plan_cache_mode", "force_custom_plan"),
            ])
            .statement_cache_capacity(STATEMENT_CACHE);
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .test_before_acquire(true)
            .connect_with(opts)
            .await?;
        Ok((pool.clone(), pool))
    }

    fn migrator() -> &'static Migrator {
        &POSTGRES_MIGRATIONS
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn session_store(pool: &Pool<Self>) -> AnySessionStore {
        AnySessionStore::Postgres(tower_sessions_sqlx_store::PostgresStore::new(pool.clone()))
    }
}
