//! The ingestion benchmark's baseline: an endpoint shaped like the webhook endpoint that only
//! durably inserts the raw body. Same database settings and the same commit strategy as the
//! real one (the same group commit, sized by `Storage::write_batching`), so the ratio
//! between the two shows what parsing, matching and the ledger cost.

use crate::config::Config;
use app::backend::batch::GroupCommit;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use std::sync::Arc;

async fn insert(
    State(queue): State<Arc<GroupCommit<Bytes, bool>>>,
    Path(_token): Path<String>,
    body: Bytes,
) -> StatusCode {
    if queue.submit(body).await.unwrap_or(false) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let validated = config.validate().map_err(anyhow::Error::msg)?;
    let state = crate::build_state(
        &config,
        validated.public_url,
        validated.listen,
        std::sync::Arc::new(app::backend::clock::SystemClock),
    )
    .await?;
    let store = state.store.clone();
    store.baseline_setup().await?;
    let (max_batch, writers) = store.write_batching();
    let queue = GroupCommit::spawn(max_batch, writers, move |bodies: Vec<Bytes>| {
        let store = store.clone();
        async move {
            let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_ref()).collect();
            let ok = store
                .baseline_insert(&refs, app::backend::now_ms())
                .await
                .is_ok();
            vec![ok; bodies.len()]
        }
    });
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
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    Ok(())
}
