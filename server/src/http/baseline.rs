//! The ingestion benchmark's baseline: an endpoint shaped like the webhook endpoint that only
//! durably inserts the raw body. Same database settings and commit path as the real one, so
//! the ratio between the two shows what parsing, matching and the ledger cost.

use crate::config::Config;
use app::backend::storage::DynStorage;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

async fn insert(
    State(store): State<DynStorage>,
    Path(_token): Path<String>,
    body: Bytes,
) -> StatusCode {
    match store
        .baseline_insert(&[&body], app::backend::now_ms())
        .await
    {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let validated = config.validate().map_err(anyhow::Error::msg)?;
    let state = crate::build_state(&config, validated.public_url, validated.listen).await?;
    state.store.baseline_setup().await?;
    let listener = tokio::net::TcpListener::bind(validated.listen).await?;
    let addr = listener.local_addr()?;
    println!("Baseline is running: open http://{addr} in your browser (Ctrl-C stops it)");
    let app = Router::new()
        .route("/webhooks/chargebee/{token}", post(insert))
        .with_state(state.store.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    Ok(())
}
