//! The ingestion benchmark's baseline: an endpoint shaped like the webhook endpoint that only
//! durably inserts the raw body. Same database settings and the same commit strategy as the
//! real one (the same group commit, sized by `Storage::write_batching`), so the ratio between
//! the two shows what parsing, matching and the ledger cost. `bench serve-baseline` runs it;
//! nothing of it is in the production server or its storage.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use backend::batch::GroupCommit;
use backend::storage::{Events, PgStorage, PoolSettings, SqliteStorage, Storage};
use server::config::Config;
use sqlx::{Database, Executor, IntoArguments, Pool};
use std::sync::Arc;

type Queue = Arc<GroupCommit<Bytes, bool>>;

async fn insert(State(queue): State<Queue>, Path(_token): Path<String>, body: Bytes) -> StatusCode {
    if queue.submit(body).await.unwrap_or(false) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The baseline's table and its group-committed insert, on either backend.
fn spawn_queue<DB>(pool: Pool<DB>, batching: (usize, usize)) -> Queue
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let (max_batch, writers) = batching;
    GroupCommit::spawn(max_batch, writers, move |bodies: Vec<Bytes>| {
        let pool = pool.clone();
        async move {
            let ok = insert_bodies(&pool, &bodies).await.is_ok();
            vec![ok; bodies.len()]
        }
    })
}

async fn insert_bodies<DB>(pool: &Pool<DB>, bodies: &[Bytes]) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let now = backend::clock::Clock::now_ms(&backend::clock::SystemClock);
    let mut tx = pool.begin().await?;
    for body in bodies {
        sqlx::query::<DB>(
            "INSERT INTO baseline_events (id, received_at, payload) VALUES ($1, $2, $3)",
        )
        .bind(backend::domain::random_id("evt"))
        .bind(now)
        .bind(String::from_utf8_lossy(body).into_owned())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS baseline_events (id TEXT PRIMARY KEY, \
     received_at BIGINT NOT NULL, payload TEXT NOT NULL)";

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let validated = config.validate().map_err(anyhow::Error::msg)?;
    let settings = PoolSettings {
        max_connections: config.db_max_connections,
        acquire_timeout: std::time::Duration::from_secs(u64::from(
            config.db_acquire_timeout_seconds,
        )),
        statement_timeout_ms: u64::from(config.db_statement_timeout_ms),
        release_chunk: config.release_chunk as usize,
    };
    let url = &config.database_url;
    let queue = if url.starts_with("postgres") {
        let store = PgStorage::connect(url, &settings).await?;
        store.migrate().await?;
        sqlx::query(CREATE).execute(store.pool()).await?;
        spawn_queue(store.pool().clone(), store.write_batching())
    } else {
        let store = SqliteStorage::connect(url, &settings).await?;
        store.migrate().await?;
        sqlx::query(CREATE).execute(store.pool()).await?;
        spawn_queue(store.pool().clone(), store.write_batching())
    };
    let listener = tokio::net::TcpListener::bind(validated.listen).await?;
    let addr = listener.local_addr()?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("Baseline is running: open http://{addr} in your browser (Ctrl-C stops it)");
    let app = Router::new()
        .route("/webhooks/chargebee/{token}", post(insert))
        .with_state(queue);
    axum::serve(listener, app)
        .with_graceful_shutdown(server::shutdown_signal())
        .await?;
    Ok(())
}
