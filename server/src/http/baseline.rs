//! The ingestion benchmark's baseline: an endpoint shaped like the webhook endpoint that only
//! durably inserts the raw body. Same database settings and the same commit strategy as the
//! real one (group commit on SQLite, a transaction per request on PostgreSQL), so the ratio
//! between the two shows what parsing, matching and the ledger cost.

use crate::config::Config;
use app::backend::batch::GroupCommit;
use app::backend::storage::DynStorage;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use std::sync::Arc;

#[derive(Clone)]
struct Baseline {
    store: DynStorage,
    queue: Option<Arc<GroupCommit<Bytes, bool>>>,
}

async fn insert(State(b): State<Baseline>, Path(_token): Path<String>, body: Bytes) -> StatusCode {
    let ok = match &b.queue {
        Some(queue) => queue.submit(body).await.unwrap_or(false),
        None => b
            .store
            .baseline_insert(&[&body], app::backend::now_ms())
            .await
            .is_ok(),
    };
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let validated = config.validate().map_err(anyhow::Error::msg)?;
    let state = crate::build_state(&config, validated.public_url, validated.listen).await?;
    let store = state.store.clone();
    store.baseline_setup().await?;
    let queue = store.batches_writes().then(|| {
        let store = store.clone();
        GroupCommit::spawn(128, move |bodies: Vec<Bytes>| {
            let store = store.clone();
            async move {
                let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_ref()).collect();
                let ok = store
                    .baseline_insert(&refs, app::backend::now_ms())
                    .await
                    .is_ok();
                vec![ok; bodies.len()]
            }
        })
    });
    let listener = tokio::net::TcpListener::bind(validated.listen).await?;
    let addr = listener.local_addr()?;
    println!("Baseline is running: open http://{addr} in your browser (Ctrl-C stops it)");
    let app = Router::new()
        .route("/webhooks/chargebee/{token}", post(insert))
        .with_state(Baseline { store, queue });
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    Ok(())
}
