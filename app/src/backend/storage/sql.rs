//! The SQL behind [`Storage`], written once and expanded for SQLite and PostgreSQL.
//!
//! The SQL is portable on purpose: `$n` placeholders (both drivers accept them), `ON CONFLICT`,
//! `RETURNING`, `CAST(… AS BIGINT)` around sums, times as BIGINT milliseconds. The few places
//! that differ test `IS_PG`: advisory locks, claiming due work with `FOR UPDATE SKIP LOCKED`,
//! the cleanup lock, group-commit sizes, and the SQLite FTS5 prefilter in customer search.
//!
//! SQLite writes go through a one-connection pool so writers queue in-process instead of
//! failing with SQLITE_BUSY; reads use a separate pool (WAL lets them run during writes).
//!
//! Applying webhook events (a batch, a replay, a release) is not here: see `waves.rs` (what
//! is written, pure), `apply.rs` (the steps) and `wave_db.rs` (how each backend runs them).

use super::apply::{Budget, RunWaves, WaveOp};
use super::token_cache::TokenCache;
use super::waves::{duplicate_detail, joined_sum, Item, Row, PARTNERS};
use super::*;
use crate::backend::chargebee::BillingEvent;
use crate::backend::domain::{identifier_problem, random_id};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Prepared statements kept per connection (sqlx's default is 100).
const STATEMENT_CACHE: usize = 400;

pub struct SqliteStorage {
    read: SqlitePool,
    write: SqlitePool,
    tokens: TokenCache,
    release_chunk: usize,
    releases: Arc<tokio::sync::Notify>,
}

pub struct PgStorage {
    read: PgPool,
    write: PgPool,
    tokens: TokenCache,
    release_chunk: usize,
    releases: Arc<tokio::sync::Notify>,
}

impl SqliteStorage {
    pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::Other(format!("invalid DATABASE_URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk (WAL fsynced) before we answer 2xx.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000")
            // Batched writes use a few statement texts per kind and size (see `waves.rs`);
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
        Ok(Self {
            read,
            write,
            tokens: TokenCache::default(),
            release_chunk: pool.release_chunk.max(1),
            releases: Arc::default(),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.write
    }
}

impl PgStorage {
    pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Self> {
        let release_chunk = pool.release_chunk.max(1);
        let statement_timeout = format!("{}ms", pool.statement_timeout_ms);
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StorageError::Other(format!("invalid DATABASE_URL: {e}")))?
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
        Ok(Self {
            read: pool.clone(),
            write: pool,
            tokens: TokenCache::default(),
            release_chunk,
            releases: Arc::default(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.write
    }
}

/// A page of `limit + 1` rows → the page and the cursor for the next one.
fn paginate<T>(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
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
fn conflict_if_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StorageError {
    if is_unique_violation(&e) {
        StorageError::Conflict(message())
    } else {
        e.into()
    }
}

fn like_pattern(search: &str) -> String {
    let escaped = search
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

const CUSTOMER_COLUMNS: &str = "c.id, c.key, c.email, c.name, p.key AS partner_key, \
     p.name AS partner_name, c.chargebee_id, c.created_at";

const PARTNER_COLUMNS: &str = "p.id, p.key, p.name, p.email, p.auto_created, p.created_at, \
     (SELECT COUNT(*) FROM customers c WHERE c.org_id = p.org_id AND c.partner_id = p.id) AS customers";

/// Net revenue (recorded, not removed) per currency, summed as millions and remainders so that
/// no sum overflows (put together by `joined_sum`). Queries add their grouping column first.
const NET_REVENUE_SPLIT: &str = "t.currency, \
     CAST(SUM((t.amount - t.amount_refunded) / 1000000) AS BIGINT) AS millions, \
     CAST(SUM((t.amount - t.amount_refunded) % 1000000) AS BIGINT) AS units";

const CUSTOMER_LIST_SELECT: &str = "SELECT c.id, c.key, c.email, c.name, p.key AS partner_key, \
   (SELECT COUNT(*) FROM subscriptions s WHERE s.org_id = c.org_id \
     AND s.customer_id = c.id AND NOT s.deleted \
     AND s.status IN ('active', 'in_trial', 'non_renewing', 'future')) AS active_subscriptions";

/// How many events a released event's outcome stands for: itself if applied, and what it
/// released in turn.
fn applied(o: &EventOutcome) -> usize {
    usize::from(o.outcome == "processed") + o.released
}

/// Groups (owner, currency, millions, units) rows into exact totals per owner, currencies in
/// alphabetical order.
fn totals_by_owner(rows: Vec<(String, String, i64, i64)>) -> HashMap<String, Vec<CurrencyTotal>> {
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

const API_KEY_COLUMNS: &str = "k.id, k.name, k.prefix, k.scope, \
     (SELECT u.email FROM users u WHERE u.id = k.created_by) AS created_by, \
     k.created_at, k.last_used_at, k.revoked_at";

const EVENT_SUMMARY_COLUMNS: &str = "id, event_id, event_type, occurred_at, received_at, outcome, \
     detail, customer_key, attempts";

macro_rules! impl_storage {
    ($ty:ident, $conn:ty, $is_pg:expr, $name:literal) => {
        impl $ty {
            const IS_PG: bool = $is_pg;

            async fn insert_event(
                conn: &mut $conn,
                org: &OrgId,
                e: &NewEvent,
                outcome: &str,
                detail: Option<&str>,
                retry_at: Option<i64>,
            ) -> Result<Option<EventOutcome>> {
                let inserted: Option<String> = sqlx::query_scalar(
                    "INSERT INTO webhook_events (id, org_id, event_id, event_type, occurred_at, \
                       received_at, outcome, detail, payload, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (org_id, event_id) DO NOTHING RETURNING id",
                )
                .bind(&e.id)
                .bind(org.as_str())
                .bind(&e.event_id)
                .bind(&e.event_type)
                .bind(e.occurred_at)
                .bind(e.received_at)
                .bind(outcome)
                .bind(detail)
                .bind(&e.payload)
                .bind(retry_at)
                .fetch_optional(&mut *conn)
                .await?;
                if inserted.is_some() {
                    return Ok(None);
                }
                // A re-delivery: log it (without a second copy of the payload), change nothing.
                let original: (String, String) = sqlx::query_as(
                    "SELECT id, outcome FROM webhook_events WHERE org_id = $1 AND event_id = $2",
                )
                .bind(org.as_str())
                .bind(&e.event_id)
                .fetch_one(&mut *conn)
                .await?;
                let detail = duplicate_detail(e, &original.0, &original.1);
                sqlx::query(
                    "INSERT INTO webhook_events (id, org_id, event_id, event_type, occurred_at, \
                       received_at, outcome, detail, payload) \
                     VALUES ($1, $2, NULL, $3, $4, $5, 'duplicate', $6, '')",
                )
                .bind(random_id("evt"))
                .bind(org.as_str())
                .bind(&e.event_type)
                .bind(e.occurred_at)
                .bind(e.received_at)
                .bind(&detail)
                .execute(&mut *conn)
                .await?;
                Ok(Some(EventOutcome {
                    outcome: "duplicate".into(),
                    detail: Some(detail),
                    id: original.0,
                    released: 0,
                }))
            }

            /// Stores and applies deliveries in one transaction; any error fails them all.
            /// On PostgreSQL every lock they need is taken first, in one sorted order, so that
            /// concurrent transactions (batches or single deliveries) cannot deadlock.
            async fn apply_deliveries(
                &self,
                items: &[(&OrgId, &NewEvent, &BillingEvent)],
            ) -> Result<Vec<EventOutcome>> {
                let work: Vec<Item<'_>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, (org, event, billing))| Item {
                        org,
                        row: Row::New(event),
                        billing: Cow::Borrowed(billing),
                        now: event.received_at,
                        origin: i,
                    })
                    .collect();
                let mut budget = Budget::new(self.release_chunk);
                let mut tx = self.write.begin().await?;
                let out = tx.run_waves(WaveOp::Deliveries(work), &mut budget).await?;
                tx.commit().await?;
                self.after_releases(&budget);
                Ok(out)
            }

            /// Wakes the background worker when a transaction left parked events for it.
            fn after_releases(&self, budget: &Budget) {
                if budget.left_work() {
                    self.releases.notify_one();
                }
            }

            /// Locks the organization's memberships for this transaction (PostgreSQL: the
            /// organization row; SQLite has one writer) and returns the member's role.
            async fn lock_membership(
                conn: &mut $conn,
                org: &OrgId,
                user: &UserId,
            ) -> Result<Role> {
                if Self::IS_PG {
                    // NO KEY UPDATE: role changes wait for each other, but inserts that only
                    // reference the organization (its key share lock) do not wait for them.
                    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
                        .bind(org.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                let role: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
                )
                .bind(org.as_str())
                .bind(user.as_str())
                .fetch_optional(&mut *conn)
                .await?;
                role.and_then(|r| r.parse().ok()).ok_or(StorageError::NotFound)
            }

            /// Refuses (Conflict) when the organization has no owner besides the one about to
            /// stop being one. Runs under [`lock_membership`](Self::lock_membership).
            async fn keep_an_owner(conn: &mut $conn, org: &OrgId, advice: &str) -> Result<()> {
                let owners: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
                )
                .bind(org.as_str())
                .fetch_one(&mut *conn)
                .await?;
                if owners <= 1 {
                    return Err(StorageError::Conflict(format!(
                        "An organization needs at least one owner; {advice}."
                    )));
                }
                Ok(())
            }

            /// Revokes the pending invites `user` created in `org`.
            async fn revoke_invites_by(conn: &mut $conn, org: &OrgId, user: &UserId) -> Result<()> {
                sqlx::query(
                    "DELETE FROM invites WHERE org_id = $1 AND created_by = $2 AND accepted_at IS NULL",
                )
                .bind(org.as_str())
                .bind(user.as_str())
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn partner_by_key(&self, org: &OrgId, key: &str) -> Result<Option<Partner>> {
                if identifier_problem(key).is_some() {
                    return Ok(None);
                }
                let sql = format!(
                    "SELECT {PARTNER_COLUMNS} FROM partners p WHERE p.org_id = $1 AND p.key = $2"
                );
                let partner: Option<Partner> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(key)
                    .fetch_optional(&self.read)
                    .await?;
                let Some(mut partner) = partner else { return Ok(None) };
                let mut totals = self.partner_totals(org, Some(&partner.id)).await?;
                partner.set_revenue(totals.remove(&partner.id).unwrap_or_default());
                Ok(Some(partner))
            }

            /// Net revenue per partner and currency (one partner, or all of the organization's).
            async fn partner_totals(
                &self,
                org: &OrgId,
                partner_id: Option<&str>,
            ) -> Result<HashMap<String, Vec<CurrencyTotal>>> {
                let sql = format!(
                    "SELECT c.partner_id, {NET_REVENUE_SPLIT} FROM transactions t \
                     JOIN customers c ON c.id = t.customer_id \
                     WHERE t.org_id = $1 AND c.partner_id IS NOT NULL AND ($2 IS NULL OR c.partner_id = $2) \
                       AND t.recorded AND t.removed_reason IS NULL \
                     GROUP BY c.partner_id, t.currency"
                );
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(partner_id)
                    .fetch_all(&self.read)
                    .await?;
                Ok(totals_by_owner(rows))
            }

            async fn plan_by_key(&self, org: &OrgId, key: &str) -> Result<Plan> {
                sqlx::query_as(
                    "SELECT p.id, p.key, p.name, (SELECT COUNT(*) FROM subscriptions s \
                       WHERE s.org_id = p.org_id AND NOT s.deleted \
                         AND (s.plan_key = p.key OR s.plan_item_id = p.key)) AS subscriptions \
                     FROM plans p WHERE p.org_id = $1 AND p.key = $2",
                )
                .bind(org.as_str())
                .bind(key)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StorageError::NotFound)
            }
        }

        #[async_trait]
        impl Storage for $ty {
            fn backend_name(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<()> {
                if Self::IS_PG {
                    sqlx::migrate!("../migrations/postgres")
                        .run(&self.write)
                        .await
                        .map_err(|e| StorageError::Other(format!("migration failed: {e}")))?;
                } else {
                    sqlx::migrate!("../migrations/sqlite")
                        .run(&self.write)
                        .await
                        .map_err(|e| StorageError::Other(format!("migration failed: {e}")))?;
                }
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
                self.make_session_store()
            }

            async fn create_org(&self, o: &NewOrgRow<'_>) -> Result<()> {
                let NewOrgRow { org_id, name, owner, email, password_hash, token_nonce, token_hash, now } = *o;
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
                    .rows_affected();
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
                if Self::IS_PG {
                    // Concurrent reservations for a scope wait for each other here, so a
                    // burst cannot all count the same "still under the limit".
                    let mut keys: Vec<&str> = scopes.iter().map(|(s, _)| s.as_str()).collect();
                    keys.sort_unstable();
                    sqlx::query(
                        "SELECT pg_advisory_xact_lock(hashtextextended('attempt:' || k, 0)) \
                         FROM unnest(string_to_array($1, chr(10))) AS k ORDER BY k",
                    )
                    .bind(keys.join("\n"))
                    .execute(&mut *tx)
                    .await?;
                }
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
                let mut lock_conn = if Self::IS_PG {
                    let mut conn = self.write.acquire().await?;
                    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(727274)")
                        .fetch_one(&mut *conn)
                        .await?;
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
                if let Some(conn) = lock_conn.as_mut() {
                    sqlx::query("SELECT pg_advisory_unlock(727274)")
                        .execute(&mut **conn)
                        .await?;
                }
                result.map(|()| true)
            }

            async fn members(&self, org: &OrgId) -> Result<Vec<Member>> {
                Ok(sqlx::query_as(
                    "SELECT u.id AS user_id, u.email, m.role, m.created_at FROM memberships m \
                     JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, u.email",
                )
                .bind(org.as_str())
                .fetch_all(&self.read)
                .await?)
            }

            async fn member_role(&self, org: &OrgId, user: &UserId) -> Result<Option<Role>> {
                let role: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
                )
                .bind(org.as_str())
                .bind(user.as_str())
                .fetch_optional(&self.read)
                .await?;
                Ok(role.and_then(|r| r.parse().ok()))
            }

            async fn set_member_role(&self, org: &OrgId, user: &UserId, role: Role) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let current = Self::lock_membership(&mut tx, org, user).await?;
                if current == Role::Owner && role != Role::Owner {
                    Self::keep_an_owner(&mut tx, org, "make someone else owner first").await?;
                }
                sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
                    .bind(org.as_str())
                    .bind(user.as_str())
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                if !role.can_write() {
                    // A viewer cannot invite: links this member handed out stop working.
                    Self::revoke_invites_by(&mut tx, org, user).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(&self, org: &OrgId, user: &UserId) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let current = Self::lock_membership(&mut tx, org, user).await?;
                if current == Role::Owner {
                    Self::keep_an_owner(&mut tx, org, "add another owner first").await?;
                }
                sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
                    .bind(org.as_str())
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await?;
                Self::revoke_invites_by(&mut tx, org, user).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_invite(&self, org: &OrgId, i: &NewInvite<'_>) -> Result<Invite> {
                let NewInvite { email, role, token_hash, created_by, now, expires_at } = *i;
                Ok(sqlx::query_as(
                    "INSERT INTO invites (id, org_id, email, role, token_hash, created_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     RETURNING id, email, role, created_at, expires_at, accepted_at",
                )
                .bind(random_id("inv"))
                .bind(org.as_str())
                .bind(email)
                .bind(role.as_str())
                .bind(token_hash)
                .bind(created_by.as_str())
                .bind(now)
                .bind(expires_at)
                .fetch_one(&self.write)
                .await?)
            }

            async fn invites(&self, org: &OrgId) -> Result<Vec<Invite>> {
                Ok(sqlx::query_as(
                    "SELECT id, email, role, created_at, expires_at, accepted_at FROM invites \
                     WHERE org_id = $1 ORDER BY created_at DESC, id",
                )
                .bind(org.as_str())
                .fetch_all(&self.read)
                .await?)
            }

            async fn revoke_invite(&self, org: &OrgId, invite_id: &str) -> Result<()> {
                let n = sqlx::query(
                    "DELETE FROM invites WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL",
                )
                .bind(org.as_str())
                .bind(invite_id)
                .execute(&self.write)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StorageError::NotFound);
                }
                Ok(())
            }

            async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, org_id, email, role, expires_at, accepted_at FROM invites WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn accept_invite(
                &self,
                token_hash: &str,
                acceptor: InviteAcceptor<'_>,
                now: i64,
            ) -> Result<AcceptedInvite> {
                let mut tx = self.write.begin().await?;
                let lock = if Self::IS_PG { " FOR UPDATE" } else { "" };
                let invite: Option<InviteRow> = sqlx::query_as(&format!(
                    "SELECT id, org_id, email, role, expires_at, accepted_at FROM invites \
                     WHERE token_hash = $1{lock}"
                ))
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let invite = invite
                    .filter(|i| i.accepted_at.is_none() && i.expires_at > now)
                    .ok_or(StorageError::NotFound)?;
                let existing: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                    .bind(&invite.email)
                    .fetch_optional(&mut *tx)
                    .await?;
                let user = match (acceptor, existing) {
                    // The invited account itself, signed in.
                    (InviteAcceptor::SignedIn(me), Some(id)) if id == me.as_str() => me.clone(),
                    (InviteAcceptor::SignedIn(_), _) => {
                        return Err(StorageError::Conflict(format!(
                            "This invite is for {}. Sign out, then sign in with that address (or create it) to join.",
                            invite.email
                        )))
                    }
                    // An address that already has an account joins only by signing in.
                    (InviteAcceptor::NewUser { .. }, Some(_)) => {
                        return Err(StorageError::Conflict(SIGN_IN_TO_ACCEPT.into()))
                    }
                    (InviteAcceptor::NewUser { id, password_hash }, None) => {
                        let r = sqlx::query(
                            "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(id.as_str())
                        .bind(&invite.email)
                        .bind(password_hash)
                        .bind(now)
                        .execute(&mut *tx)
                        .await;
                        r.map_err(|e| conflict_if_unique(e, || SIGN_IN_TO_ACCEPT.into()))?;
                        id.clone()
                    }
                };
                sqlx::query("UPDATE invites SET accepted_at = $2 WHERE id = $1")
                    .bind(&invite.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, user_id) DO NOTHING",
                )
                .bind(&invite.org_id)
                .bind(user.as_str())
                .bind(&invite.role)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(AcceptedInvite {
                    user,
                    org_id: invite.org_id,
                })
            }

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
                let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys k WHERE k.org_id = $1 AND k.id = $2");
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
                .rows_affected();
                if n == 0 {
                    return Err(StorageError::NotFound);
                }
                Ok(())
            }

            async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyMatch>> {
                let row: Option<(String, String, String)> = sqlx::query_as(
                    "SELECT id, org_id, scope FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                )
                .bind(key_hash)
                .fetch_optional(&self.read)
                .await?;
                Ok(row.map(|(id, org_id, scope)| ApiKeyMatch {
                    id,
                    org_id,
                    scope: scope.parse().unwrap_or(ApiScope::Read),
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
                let row: Option<(IntegrationRow, bool)> = sqlx::query_as::<_, (String, String, Option<i64>, Option<String>, Option<String>, bool)>(
                    "SELECT org_id, token_nonce, previous_valid_until, basic_auth_username, \
                       basic_auth_password_mac, token_hash <> $1 FROM chargebee_integrations \
                     WHERE token_hash = $1 OR previous_token_hash = $1 LIMIT 1",
                )
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?
                .map(|(org_id, token_nonce, previous_valid_until, basic_auth_username, basic_auth_password_mac, previous)| {
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
                });
                let found = row.map(|(integration, previous)| TokenMatch { integration, previous });
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
                .rows_affected();
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

            async fn ingest(
                &self,
                org: &OrgId,
                event: &NewEvent,
                billing: &BillingEvent,
            ) -> Result<EventOutcome> {
                let mut out = self.apply_deliveries(&[(org, event, billing)]).await?;
                out.pop().ok_or_else(|| StorageError::Other("no outcome for a delivery".into()))
            }

            fn write_batching(&self) -> (usize, usize) {
                if Self::IS_PG {
                    (16, 4)
                } else {
                    (128, 1)
                }
            }

            async fn ingest_batch(&self, items: &[IngestItem]) -> Vec<Result<EventOutcome>> {
                if items.len() > 1 {
                    let refs: Vec<(&OrgId, &NewEvent, &BillingEvent)> =
                        items.iter().map(|it| (&it.org, &it.event, &it.billing)).collect();
                    match self.apply_deliveries(&refs).await {
                        Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
                        // The database is away: every item would wait for it again. Answer
                        // them all now (503, so Chargebee retries).
                        Err(StorageError::Unavailable(e)) => {
                            tracing::warn!(error = %e, items = items.len(), "database unavailable for a batch");
                            return items
                                .iter()
                                .map(|_| Err(StorageError::Unavailable(sqlx::Error::Protocol(e.to_string()))))
                                .collect();
                        }
                        Err(e) => tracing::warn!(error = %e, items = items.len(), "batch failed; applying its events one by one"),
                    }
                }
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    out.push(self.ingest(&it.org, &it.event, &it.billing).await);
                }
                out
            }

            async fn record_event(
                &self,
                org: &OrgId,
                event: &NewEvent,
                outcome: &str,
                detail: Option<&str>,
                retry_at: Option<i64>,
            ) -> Result<EventOutcome> {
                let mut tx = self.write.begin().await?;
                let dup = Self::insert_event(&mut tx, org, event, outcome, detail, retry_at).await?;
                tx.commit().await?;
                Ok(dup.unwrap_or_else(|| EventOutcome {
                    outcome: outcome.to_string(),
                    detail: detail.map(str::to_string),
                    id: event.id.clone(),
                    released: 0,
                }))
            }

            async fn reprocess(&self, org: &OrgId, id: &str, now: i64) -> Result<EventOutcome> {
                let mut budget = Budget::new(self.release_chunk);
                let mut tx = self.write.begin().await?;
                let outcome = tx
                    .run_waves(WaveOp::Replay { org, id, now }, &mut budget)
                    .await?
                    .pop()
                    .ok_or_else(|| StorageError::Other("no outcome for a replay".into()))?;
                tx.commit().await?;
                self.after_releases(&budget);
                Ok(outcome)
            }

            async fn continue_releases(&self, now: i64) -> Result<Option<usize>> {
                let mut tx = self.write.begin().await?;
                let lock = if Self::IS_PG { " FOR UPDATE SKIP LOCKED" } else { "" };
                let request: Option<(String, String, String, String)> = sqlx::query_as(&format!(
                    "SELECT org_id, customer_key, chargebee_id, after_id FROM release_requests \
                     ORDER BY created_at, org_id, customer_key LIMIT 1{lock}"
                ))
                .fetch_optional(&mut *tx)
                .await?;
                let Some((org_id, customer_key, chargebee_id, after_id)) = request else {
                    return Ok(None);
                };
                let org = OrgId::from_trusted(org_id);
                let mut budget = Budget::new(self.release_chunk);
                let released: usize = tx
                    .run_waves(
                        WaveOp::Release {
                            org: &org,
                            customer_key: &customer_key,
                            chargebee_id: Some(chargebee_id.as_str()).filter(|c| !c.is_empty()),
                            after: Some(after_id.as_str()),
                            now,
                        },
                        &mut budget,
                    )
                    .await?
                    .iter()
                    .map(applied)
                    .sum();
                // Not done: the next share starts after this one, at the back of the line so
                // that other customers' releases take turns with it. Done: forget the request.
                let key_args = (org.as_str(), customer_key.as_str(), chargebee_id.as_str());
                match budget.next_share() {
                    Some(cursor) => {
                        sqlx::query(
                            "UPDATE release_requests SET after_id = $4, created_at = $5 \
                             WHERE org_id = $1 AND customer_key = $2 AND chargebee_id = $3",
                        )
                        .bind(key_args.0)
                        .bind(key_args.1)
                        .bind(key_args.2)
                        .bind(cursor)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM release_requests WHERE org_id = $1 AND customer_key = $2 \
                               AND chargebee_id = $3",
                        )
                        .bind(key_args.0)
                        .bind(key_args.1)
                        .bind(key_args.2)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(Some(released))
            }

            fn release_signal(&self) -> Arc<tokio::sync::Notify> {
                self.releases.clone()
            }

            async fn mark_failed(
                &self,
                org: &OrgId,
                id: &str,
                error: &str,
                retry_at: Option<i64>,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE webhook_events SET outcome = 'failed', detail = $3, next_attempt_at = $4, \
                       attempts = attempts + 1 WHERE org_id = $1 AND id = $2",
                )
                .bind(org.as_str())
                .bind(id)
                .bind(error)
                .bind(retry_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn claim_due_events(
                &self,
                now: i64,
                limit: i64,
                lease_until: i64,
            ) -> Result<Vec<DueEvent>> {
                let lock = if Self::IS_PG { "FOR UPDATE SKIP LOCKED" } else { "" };
                let sql = format!(
                    "UPDATE webhook_events SET next_attempt_at = $3 WHERE id IN ( \
                       SELECT id FROM webhook_events WHERE outcome = 'failed' \
                         AND next_attempt_at IS NOT NULL AND next_attempt_at <= $1 \
                       ORDER BY next_attempt_at LIMIT $2 {lock}) \
                     RETURNING org_id, id, CAST(attempts AS BIGINT)"
                );
                let rows: Vec<(String, String, i64)> = sqlx::query_as(&sql)
                    .bind(now)
                    .bind(limit)
                    .bind(lease_until)
                    .fetch_all(&self.write)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(org_id, id, attempts)| DueEvent {
                        org_id,
                        id,
                        attempts,
                    })
                    .collect())
            }

            async fn events(
                &self,
                org: &OrgId,
                filter: &EventFilter,
                cursor: Option<&str>,
                limit: i64,
            ) -> Result<Page<EventSummary>> {
                let (c_time, c_id) = cursor
                    .and_then(|c| c.split_once(':'))
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
                    .unwrap_or((i64::MAX, String::new()));
                let sql = format!(
                    "SELECT {EVENT_SUMMARY_COLUMNS} FROM webhook_events WHERE org_id = $1 \
                       AND ($2 IS NULL OR outcome = $2) AND ($3 IS NULL OR event_type = $3) \
                       AND ($4 IS NULL OR customer_id = $4) \
                       AND ($6 = '' OR received_at < $5 OR (received_at = $5 AND id < $6)) \
                     ORDER BY received_at DESC, id DESC LIMIT $7"
                );
                let rows: Vec<EventSummary> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(&filter.outcome)
                    .bind(&filter.event_type)
                    .bind(&filter.customer_id)
                    .bind(c_time)
                    .bind(&c_id)
                    .bind(limit + 1)
                    .fetch_all(&self.read)
                    .await?;
                Ok(paginate(rows, limit, |e| format!("{}:{}", e.received_at, e.id)))
            }

            async fn event(&self, org: &OrgId, id: &str) -> Result<Option<EventDetail>> {
                if identifier_problem(id).is_some() {
                    return Ok(None);
                }
                Ok(sqlx::query_as(
                    "SELECT id, event_id, event_type, occurred_at, received_at, outcome, detail, \
                       customer_key, customer_id, attempts, payload FROM webhook_events \
                     WHERE org_id = $1 AND (id = $2 OR event_id = $2) \
                     ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1",
                )
                .bind(org.as_str())
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn event_counts_since(&self, org: &OrgId, since: i64) -> Result<Vec<(String, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT outcome, COUNT(*) FROM webhook_events WHERE org_id = $1 AND received_at >= $2 \
                     GROUP BY outcome ORDER BY outcome",
                )
                .bind(org.as_str())
                .bind(since)
                .fetch_all(&self.read)
                .await?)
            }

            async fn last_event_at(&self, org: &OrgId) -> Result<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "SELECT MAX(received_at) FROM webhook_events WHERE org_id = $1",
                )
                .bind(org.as_str())
                .fetch_one(&self.read)
                .await?)
            }

            async fn event_types(&self, org: &OrgId) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT DISTINCT event_type FROM webhook_events WHERE org_id = $1 \
                       AND event_type IS NOT NULL ORDER BY event_type",
                )
                .bind(org.as_str())
                .fetch_all(&self.read)
                .await?)
            }

            async fn create_customer(
                &self,
                org: &OrgId,
                c: &NewCustomer,
                now: i64,
            ) -> Result<(Customer, usize)> {
                let mut tx = self.write.begin().await?;
                if Self::IS_PG {
                    // Same lock as an event for this customer key takes (see `lock_keys`), so a
                    // concurrently parked event is either seen here or sees this customer.
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(format!("{org}:customer:{}", c.key))
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(pk) = &c.partner_key {
                    sqlx::query(&PARTNERS.render(1))
                    .bind(random_id("prt"))
                    .bind(org.as_str())
                    .bind(pk)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                let r = sqlx::query(
                    "INSERT INTO customers (id, org_id, key, email, name, partner_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, (SELECT id FROM partners WHERE org_id = $2 AND key = $6), $7)",
                )
                .bind(random_id("cus"))
                .bind(org.as_str())
                .bind(&c.key)
                .bind(&c.email)
                .bind(&c.name)
                .bind(&c.partner_key)
                .bind(now)
                .execute(&mut *tx)
                .await;
                r.map_err(|e| conflict_if_unique(e, || format!("a customer with key \"{}\" already exists", c.key)))?;
                let mut budget = Budget::new(self.release_chunk);
                let released: usize = tx
                    .run_waves(
                        WaveOp::Release {
                            org,
                            customer_key: &c.key,
                            chargebee_id: None,
                            after: None,
                            now,
                        },
                        &mut budget,
                    )
                    .await?
                    .iter()
                    .map(applied)
                    .sum();
                tx.commit().await?;
                self.after_releases(&budget);
                let customer = self.customer(org, &c.key).await?.ok_or(StorageError::NotFound)?;
                Ok((customer, released))
            }

            async fn customer(&self, org: &OrgId, key: &str) -> Result<Option<Customer>> {
                // No stored key has a control character or is that long: not found, without
                // asking PostgreSQL (which refuses a NUL in a query).
                if identifier_problem(key).is_some() {
                    return Ok(None);
                }
                let sql = format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM customers c \
                     LEFT JOIN partners p ON p.id = c.partner_id \
                     WHERE c.org_id = $1 AND c.key = $2"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(key)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn customers(
                &self,
                org: &OrgId,
                search: Option<&str>,
                cursor: Option<&str>,
                limit: i64,
            ) -> Result<Page<CustomerListRow>> {
                // Control characters cannot be in any stored key, email or name: drop them
                // (PostgreSQL refuses a NUL in a query), and a cursor holding one starts over.
                let cleaned: Option<String> =
                    search.map(|s| s.chars().filter(|c| !c.is_control()).collect());
                let cursor = cursor.filter(|c| !c.chars().any(char::is_control));
                let term = cleaned.as_deref().map(str::trim).filter(|s| !s.is_empty());
                let pattern = term.map(like_pattern);
                // SQLite: terms of 3+ characters are found by the FTS5 trigram index; shorter
                // ones by LIKE (which folds ASCII case only).
                let fts = term
                    .filter(|t| !Self::IS_PG && t.chars().count() >= 3)
                    .map(|t| format!("\"{}\"", t.to_lowercase().replace('"', "\"\"")));
                // With a search term, the matching customers are found first (trigram indexes
                // on both backends) and only then ordered and paged; otherwise a planner walking
                // the key index for a LIMIT can scan every customer for a rare term.
                let sql = format!(
                    "{} {CUSTOMER_LIST_SELECT} FROM {} c LEFT JOIN partners p ON p.id = c.partner_id \
                     WHERE c.org_id = $1 AND c.key > $2 ORDER BY c.key LIMIT $4",
                    match (&pattern, &fts) {
                        // The FTS5 index has one column per field and folds case in every
                        // script, so its match alone decides (SQLite's lower() is ASCII-only).
                        (Some(_), Some(_)) => {
                            "WITH matches AS MATERIALIZED (SELECT * FROM customers m WHERE m.org_id = $1 \
                               AND m.rowid IN (SELECT rowid FROM customers_search WHERE customers_search MATCH $5) \
                               AND $3 IS NOT NULL)"
                        }
                        (Some(_), None) => {
                            "WITH matches AS MATERIALIZED (SELECT * FROM customers m WHERE m.org_id = $1 \
                               AND (lower(m.key) LIKE $3 ESCAPE '\\' OR lower(m.email) LIKE $3 ESCAPE '\\' \
                                    OR lower(m.name) LIKE $3 ESCAPE '\\'))"
                        }
                        // $3 is bound either way; mention it so both variants use it.
                        (None, _) => "WITH matches AS (SELECT 1 WHERE $3 IS NULL)",
                    },
                    if pattern.is_some() { "matches" } else { "customers" },
                );
                let mut query = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(cursor.unwrap_or(""))
                    .bind(&pattern)
                    .bind(limit + 1);
                if let Some(f) = &fts {
                    query = query.bind(f);
                }
                let rows: Vec<CustomerListRow> = query.fetch_all(&self.read).await?;
                let mut page = paginate(rows, limit, |c| c.key.clone());
                if !page.items.is_empty() {
                    // Totals for this page's customers only, per currency.
                    let ids: Vec<String> = (0..page.items.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "SELECT t.customer_id, {NET_REVENUE_SPLIT} FROM transactions t \
                         WHERE t.org_id = $1 AND t.customer_id IN ({}) \
                           AND t.recorded AND t.removed_reason IS NULL \
                         GROUP BY t.customer_id, t.currency",
                        ids.join(", ")
                    );
                    let mut q = sqlx::query_as(&sql).bind(org.as_str());
                    for c in &page.items {
                        q = q.bind(&c.id);
                    }
                    let rows: Vec<(String, String, i64, i64)> = q.fetch_all(&self.read).await?;
                    let mut totals = totals_by_owner(rows);
                    for c in &mut page.items {
                        c.set_revenue(totals.remove(&c.id).unwrap_or_default());
                    }
                }
                Ok(page)
            }

            async fn transactions(&self, org: &OrgId, customer_id: &str) -> Result<Vec<Transaction>> {
                Ok(sqlx::query_as(
                    "SELECT chargebee_id, amount, amount_refunded, currency, occurred_at, \
                       subscription_id, invoice_id, removed_reason FROM transactions \
                     WHERE org_id = $1 AND customer_id = $2 AND recorded \
                     ORDER BY occurred_at DESC, chargebee_id",
                )
                .bind(org.as_str())
                .bind(customer_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn subscriptions(&self, org: &OrgId, customer_id: &str) -> Result<Vec<Subscription>> {
                Ok(sqlx::query_as(
                    "SELECT s.chargebee_id, s.plan_key, \
                       COALESCE(p.name, (SELECT p2.name FROM plans p2 WHERE p2.org_id = s.org_id \
                         AND p2.key = s.plan_item_id)) AS plan_name, \
                       s.status, s.mrr, s.currency, s.current_term_start, s.current_term_end \
                     FROM subscriptions s \
                     LEFT JOIN plans p ON p.org_id = s.org_id AND p.key = s.plan_key \
                     WHERE s.org_id = $1 AND s.customer_id = $2 AND NOT s.deleted \
                     ORDER BY s.chargebee_id",
                )
                .bind(org.as_str())
                .bind(customer_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn create_partner(
                &self,
                org: &OrgId,
                key: &str,
                name: Option<&str>,
                email: Option<&str>,
                now: i64,
            ) -> Result<Partner> {
                let r = sqlx::query(
                    "INSERT INTO partners (id, org_id, key, name, email, auto_created, created_at) \
                     VALUES ($1, $2, $3, $4, $5, FALSE, $6)",
                )
                .bind(random_id("prt"))
                .bind(org.as_str())
                .bind(key)
                .bind(name)
                .bind(email)
                .bind(now)
                .execute(&self.write)
                .await;
                r.map_err(|e| conflict_if_unique(e, || format!("a partner with key \"{key}\" already exists")))?;
                self.partner_by_key(org, key).await?.ok_or(StorageError::NotFound)
            }

            async fn update_partner(
                &self,
                org: &OrgId,
                key: &str,
                name: Option<&str>,
                email: Option<&str>,
            ) -> Result<Partner> {
                let n = sqlx::query(
                    "UPDATE partners SET name = $3, email = $4, auto_created = FALSE \
                     WHERE org_id = $1 AND key = $2",
                )
                .bind(org.as_str())
                .bind(key)
                .bind(name)
                .bind(email)
                .execute(&self.write)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StorageError::NotFound);
                }
                self.partner_by_key(org, key).await?.ok_or(StorageError::NotFound)
            }

            async fn partner(&self, org: &OrgId, key: &str) -> Result<Option<Partner>> {
                self.partner_by_key(org, key).await
            }

            async fn partners(&self, org: &OrgId) -> Result<Vec<Partner>> {
                let sql = format!(
                    "SELECT {PARTNER_COLUMNS} FROM partners p WHERE p.org_id = $1 ORDER BY p.key"
                );
                let mut partners: Vec<Partner> =
                    sqlx::query_as(&sql).bind(org.as_str()).fetch_all(&self.read).await?;
                let mut totals = self.partner_totals(org, None).await?;
                for p in &mut partners {
                    p.set_revenue(totals.remove(&p.id).unwrap_or_default());
                }
                Ok(partners)
            }

            async fn plans(&self, org: &OrgId) -> Result<Vec<Plan>> {
                Ok(sqlx::query_as(
                    "SELECT p.id, p.key, p.name, (SELECT COUNT(*) FROM subscriptions s \
                       WHERE s.org_id = p.org_id AND NOT s.deleted \
                         AND (s.plan_key = p.key OR s.plan_item_id = p.key)) AS subscriptions \
                     FROM plans p WHERE p.org_id = $1 ORDER BY p.key",
                )
                .bind(org.as_str())
                .fetch_all(&self.read)
                .await?)
            }

            async fn detected_plans(&self, org: &OrgId) -> Result<Vec<DetectedPlan>> {
                Ok(sqlx::query_as(
                    "SELECT s.plan_key AS key, COUNT(*) AS subscriptions FROM subscriptions s \
                     WHERE s.org_id = $1 AND NOT s.deleted AND s.plan_key IS NOT NULL \
                       AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.org_id = s.org_id \
                         AND (p.key = s.plan_key OR p.key = s.plan_item_id)) \
                     GROUP BY s.plan_key ORDER BY s.plan_key",
                )
                .bind(org.as_str())
                .fetch_all(&self.read)
                .await?)
            }

            async fn create_plan(&self, org: &OrgId, key: &str, name: &str, now: i64) -> Result<Plan> {
                let r = sqlx::query(
                    "INSERT INTO plans (id, org_id, key, name, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(random_id("pln"))
                .bind(org.as_str())
                .bind(key)
                .bind(name)
                .bind(now)
                .execute(&self.write)
                .await;
                r.map_err(|e| conflict_if_unique(e, || format!("a plan with key \"{key}\" already exists")))?;
                self.plan_by_key(org, key).await
            }

            async fn update_plan(
                &self,
                org: &OrgId,
                key: &str,
                new_key: &str,
                name: &str,
            ) -> Result<Plan> {
                let r = sqlx::query("UPDATE plans SET key = $3, name = $4 WHERE org_id = $1 AND key = $2")
                    .bind(org.as_str())
                    .bind(key)
                    .bind(new_key)
                    .bind(name)
                    .execute(&self.write)
                    .await;
                match r {
                    Ok(r) if r.rows_affected() == 0 => return Err(StorageError::NotFound),
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StorageError::Conflict(format!(
                            "a plan with key \"{new_key}\" already exists"
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
                self.plan_by_key(org, new_key).await
            }

            async fn delete_plan(&self, org: &OrgId, key: &str) -> Result<i64> {
                let mut tx = self.write.begin().await?;
                let affected: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM subscriptions s WHERE s.org_id = $1 AND NOT s.deleted \
                       AND (s.plan_key = $2 OR s.plan_item_id = $2)",
                )
                .bind(org.as_str())
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let n = sqlx::query("DELETE FROM plans WHERE org_id = $1 AND key = $2")
                    .bind(org.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(StorageError::NotFound);
                }
                tx.commit().await?;
                Ok(affected)
            }

            async fn baseline_setup(&self) -> Result<()> {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS baseline_events (id TEXT PRIMARY KEY, \
                       received_at BIGINT NOT NULL, payload TEXT NOT NULL)",
                )
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn baseline_insert(&self, bodies: &[&[u8]], now: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for body in bodies {
                    sqlx::query("INSERT INTO baseline_events (id, received_at, payload) VALUES ($1, $2, $3)")
                        .bind(random_id("evt"))
                        .bind(now)
                        .bind(String::from_utf8_lossy(body).as_ref())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn revenue_by_day(&self, org: &OrgId, since: i64) -> Result<Vec<RevenuePoint>> {
                let sql = format!(
                    "SELECT CAST(t.occurred_at / 86400000 AS BIGINT) AS day, {NET_REVENUE_SPLIT} \
                     FROM transactions t JOIN customers c ON c.id = t.customer_id \
                     WHERE t.org_id = $1 AND t.occurred_at >= $2 AND t.recorded \
                       AND t.removed_reason IS NULL AND c.partner_id IS NOT NULL \
                     GROUP BY t.occurred_at / 86400000, t.currency ORDER BY day, t.currency"
                );
                let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(since)
                    .fetch_all(&self.read)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(day, currency, millions, units)| RevenuePoint {
                        day,
                        currency,
                        net: joined_sum(millions, units),
                    })
                    .collect())
            }
        }
    };
}

impl SqliteStorage {
    fn make_session_store(&self) -> AnySessionStore {
        AnySessionStore::Sqlite(tower_sessions_sqlx_store::SqliteStore::new(
            self.write.clone(),
        ))
    }
}

impl PgStorage {
    fn make_session_store(&self) -> AnySessionStore {
        AnySessionStore::Postgres(tower_sessions_sqlx_store::PostgresStore::new(
            self.write.clone(),
        ))
    }
}

impl_storage!(SqliteStorage, sqlx::SqliteConnection, false, "sqlite");
impl_storage!(PgStorage, sqlx::PgConnection, true, "postgres");
