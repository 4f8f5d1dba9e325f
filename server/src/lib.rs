//! The Partner Ledger server: configuration, the axum router (pages, server functions,
//! webhooks, REST API, health), background work, and the command line.
#![forbid(unsafe_code)]
// The pages' view types are deep; release builds compute their layout here too.
#![recursion_limit = "512"]

pub mod cli;
pub mod config;
pub mod http;
pub mod telemetry;

use anyhow::Context;
use backend::clock::{DynClock, SystemClock};
use backend::{storage, AppState, Secret, Settings};
use config::Config;
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: Config,
}

impl Application {
    /// Validates the configuration, connects and migrates the database, binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let validated = config.validate().map_err(anyhow::Error::msg)?;
        let listener = TcpListener::bind(validated.listen)
            .await
            .with_context(|| format!("cannot listen on {}", validated.listen))?;
        Self::build_with_listener(config, listener).await
    }

    /// Like [`build`](Self::build), on a listener bound by the caller (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        Self::build_with_clock(config, listener, Arc::new(SystemClock)).await
    }

    /// Like [`build_with_listener`](Self::build_with_listener), with the clock that time-based
    /// rules read (tests move a `ManualClock` instead of sleeping).
    pub async fn build_with_clock(
        config: Config,
        listener: TcpListener,
        clock: DynClock,
    ) -> anyhow::Result<Self> {
        let validated = config.validate().map_err(anyhow::Error::msg)?;
        let addr = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(_) => validated.public_url,
            None => format!("http://{addr}"),
        };
        let state = build_state(&config, public_url, clock).await?;
        Ok(Self {
            listener,
            state,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes (SIGINT/SIGTERM in `main`), then drains requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = http::spawn_background(&self.state, &self.config);
        let addr = self.listener.local_addr()?;
        let options = leptos_options(&self.config, addr);
        let router = http::router(self.state.clone(), options, &self.config);
        tracing::info!(
            url = %self.state.settings.public_url,
            database = self.state.store.backend_name(),
            "Partner Ledger is listening"
        );
        let timeouts = http::Timeouts::from_config(&self.config);
        http::serve(self.listener, router, timeouts, shutdown).await?;
        background.abort();
        tracing::info!("stopped");
        Ok(())
    }
}

/// Connects to and migrates the database and assembles the shared state.
pub async fn build_state(
    config: &Config,
    public_url: String,
    clock: backend::clock::DynClock,
) -> anyhow::Result<AppState> {
    let pool = storage::PoolSettings {
        max_connections: config.db_max_connections,
        acquire_timeout: std::time::Duration::from_secs(u64::from(
            config.db_acquire_timeout_seconds,
        )),
        statement_timeout_ms: u64::from(config.db_statement_timeout_ms),
        release_chunk: config.release_chunk as usize,
    };
    let store = storage::connect(&config.database_url, &pool)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                config::redact_url(&config.database_url)
            )
        })?;
    store.migrate().await.context("database migration failed")?;
    let secret = config.secret_key_bytes().map_err(anyhow::Error::msg)?;
    let settings = Settings {
        public_url,
        secret_key: Secret::new(secret),
        webhook_grace_ms: i64::from(config.webhook_grace_days) * 86_400_000,
        max_body_bytes: config.webhook_max_body_bytes,
        login_limit_per_account: i64::from(config.login_limit_per_account),
        login_limit_per_ip: i64::from(config.login_limit_per_ip),
        login_window_ms: i64::from(config.login_window_minutes) * 60_000,
        session_idle_secs: i64::from(config.session_idle_seconds),
        session_absolute_ms: i64::from(config.session_absolute_seconds) * 1000,
        trusted_proxies: config.trusted_proxies as usize,
        signup_limit_per_ip: i64::from(config.signup_limit_per_ip),
        release_chunk: config.release_chunk as usize,
        body_deadline: std::time::Duration::from_secs(u64::from(config.http_body_timeout_seconds)),
    };
    Ok(AppState::with_clock(
        store,
        settings,
        clock,
        config.webhook_max_inflight_bytes,
    ))
}

/// Where the pages' bundle and stylesheet are served from.
pub fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("partner-ledger")
        .site_root(config.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
