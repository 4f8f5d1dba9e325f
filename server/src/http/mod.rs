//! The router: pages and server functions (Leptos), webhooks, REST API, health checks,
//! and the layers around them (sessions, CSRF, request ids, tracing).

pub mod api;
mod csrf;
mod error;
mod exports;
mod headers;
mod openapi;
mod responses;
mod serve;
pub mod signed_in;
mod webhooks;

pub use headers::redacted_path;
pub use serve::{serve, Timeouts};

use crate::config::Config;
use app::{shell, App};
use axum::extract::{FromRef, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use backend::{ingest, AppState};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use error::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the router's handlers extract: the backend's state, and where the pages' files are.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub leptos_options: LeptosOptions,
}

impl FromRef<HttpState> for AppState {
    fn from_ref(state: &HttpState) -> Self {
        state.app.clone()
    }
}

impl FromRef<HttpState> for LeptosOptions {
    fn from_ref(state: &HttpState) -> Self {
        state.leptos_options.clone()
    }
}

pub fn router(state: AppState, leptos_options: LeptosOptions, config: &Config) -> Router {
    let http_state = HttpState {
        app: state.clone(),
        leptos_options,
    };
    let routes = generate_route_list(App);
    let secure = state.settings.public_url.starts_with("https://");
    let sessions = SessionManagerLayer::new(state.store.session_store())
        .with_name("pl_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(state.settings.session_idle_secs),
        ));

    let pages = Router::new()
        .leptos_routes_with_context(
            &http_state,
            routes,
            {
                let state = state.clone();
                let doc = app::pages::api_reference::ApiDocument(std::sync::Arc::new(
                    serde_json::to_value(api::openapi()).unwrap_or_default(),
                ));
                move || {
                    provide_context(state.clone());
                    provide_context(doc.clone());
                }
            },
            {
                let options = http_state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<HttpState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            signed_in::require_member,
        ));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/webhooks/chargebee/{token}", post(webhooks::chargebee))
        .nest("/api/v1", api::router().with_state(state.clone()))
        .merge(exports::router().with_state(state.clone()))
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::same_origin_only))
        .layer(sessions)
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            Timeouts::from_config(config).body,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The route, never the raw path: webhook and invite paths carry secrets.
                let path = redacted_path(req.uri().path());
                tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id, org = tracing::field::Empty)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(http_state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Background work: retrying failed events and removing expired sessions and old login
/// failures. Each pass claims its work in the database, so several instances may run it.
pub fn spawn_background(state: &AppState, config: &Config) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let every = Duration::from_secs(u64::from(config.retry_interval_seconds));
    let releases = state.store.release_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A transaction that left parked events to release wakes this loop at once.
            let woken = tokio::select! {
                _ = tick.tick() => false,
                () = releases.notified() => true,
            };
            match ingest::continue_releases(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "released parked events in the background"),
                Err(e) => tracing::warn!(error = %e, "releasing parked events"),
            }
            if woken {
                continue;
            }
            if let Err(e) = ingest::retry_due(&state).await {
                tracing::warn!(error = %e, "retrying failed events");
            }
            // Small batches, a bounded number per pass: pruning never holds the writer long.
            match backend::service::settings::prune_payloads(&state, 500, 20).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned webhook payloads past their retention"),
                Err(e) => tracing::warn!(error = %e, "pruning webhook payloads"),
            }
            match backend::service::settings::expire_unmatched(&state, 500, 20).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(events = n, "unmatched events past their attribution window")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ending the attribution window of unmatched events")
                }
            }
            let now = state.now();
            if let Err(e) = state
                .store
                .cleanup(now, now - state.settings.login_window_ms)
                .await
            {
                tracing::warn!(error = %e, "cleanup of expired sessions and login failures");
            }
        }
    })
}
