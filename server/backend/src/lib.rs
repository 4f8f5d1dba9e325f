//! The server-side core of Partner Ledger: domain types, the pure Chargebee-to-ledger planner,
//! storage (SQLite and PostgreSQL), ingestion, services, sign-in and sessions. It knows nothing
//! of Leptos or of HTTP routing: the `app` crate's server functions and the `server` crate's
//! handlers call into it, and `cargo test -p backend` tests it on its own.

mod app_error;

pub mod audit;
pub mod auth;
pub mod batch;
pub mod chargebee;
pub mod clock;
pub mod commission;
pub mod currency;
pub mod domain;
pub mod health;
pub mod ingest;
pub mod passwords;
pub mod service;
pub mod session;
pub mod storage;

use std::sync::Arc;
use storage::DynStorage;

/// A server secret whose `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Arc::new(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([hidden])")
    }
}

/// Runtime settings the services need (validated by the server's configuration loader).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL used to build absolute webhook URLs, without a trailing slash.
    pub public_url: String,
    /// Key for deriving webhook tokens and hashing Basic Auth passwords.
    pub secret_key: Secret,
    /// How long a rotated-away webhook URL keeps working.
    pub webhook_grace_ms: i64,
    /// Largest accepted webhook body.
    pub max_body_bytes: usize,
    /// Login attempts allowed per account / per client address in the window.
    pub login_limit_per_account: i64,
    pub login_limit_per_ip: i64,
    pub login_window_ms: i64,
    /// Sessions: idle expiry and absolute lifetime.
    pub session_idle_secs: i64,
    pub session_absolute_ms: i64,
    /// How many reverse proxies of ours sit in front of the server: the client address is
    /// the right-most `X-Forwarded-For` hop that none of them added. 0: the socket peer.
    pub trusted_proxies: usize,
    /// Sign-ups allowed per client address within the sign-in window.
    pub signup_limit_per_ip: i64,
    /// Most parked events released in one transaction; the rest continue in the background.
    pub release_chunk: usize,
    /// The whole body of a request must arrive within this time (a deadline, not an idle
    /// timeout: a client that sends a byte now and then is cut off too).
    pub body_deadline: std::time::Duration,
}

impl Settings {
    pub fn webhook_url(&self, token: &str) -> String {
        format!("{}/webhooks/chargebee/{token}", self.public_url)
    }
}

/// Everything a request handler or server function needs.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStorage,
    pub settings: Arc<Settings>,
    /// Group commit for webhook ingestion.
    pub ingest_queue: Arc<IngestQueue>,
    /// The time (injectable: tests move it instead of sleeping).
    pub clock: clock::DynClock,
    /// Bounds the password hashing done at once (each hash takes 19 MiB and a core).
    pub passwords: Arc<passwords::PasswordWork>,
    /// Bytes of webhook bodies being read or waiting for their commit, at most.
    pub webhook_bytes: Arc<tokio::sync::Semaphore>,
    /// Wakes the background worker when parked events are left to release.
    pub background: Arc<tokio::sync::Notify>,
}

/// A delivery that could not be applied, handed back so that the caller can record it
/// (the queue holds the only copy of its payload).
pub struct IngestFailure {
    pub error: storage::StorageError,
    pub item: Option<Box<storage::IngestItem>>,
}

pub type IngestQueue =
    batch::GroupCommit<storage::IngestItem, Result<storage::EventOutcome, IngestFailure>>;

impl AppState {
    pub fn new(store: DynStorage, settings: Settings) -> Self {
        Self::with_clock(
            store,
            settings,
            Arc::new(clock::SystemClock),
            64 * 1024 * 1024,
        )
    }

    /// Like [`new`](Self::new), with a chosen clock and in-flight webhook byte budget.
    pub fn with_clock(
        store: DynStorage,
        settings: Settings,
        clock: clock::DynClock,
        webhook_inflight_bytes: usize,
    ) -> Self {
        let (max_batch, writers) = store.write_batching();
        let ingest_queue = {
            let store = store.clone();
            batch::GroupCommit::spawn(
                max_batch,
                writers,
                move |items: Vec<storage::IngestItem>| {
                    let store = store.clone();
                    async move {
                        let results = store.ingest_batch(&items).await;
                        results
                            .into_iter()
                            .zip(items)
                            .map(|(r, item)| {
                                r.map_err(|error| IngestFailure {
                                    error,
                                    item: Some(Box::new(item)),
                                })
                            })
                            .collect()
                    }
                },
            )
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            settings: Arc::new(settings),
            ingest_queue,
            clock,
            passwords: Arc::new(passwords::PasswordWork::new(
                2 * cores,
                std::time::Duration::from_secs(2),
            )),
            webhook_bytes: Arc::new(tokio::sync::Semaphore::new(
                webhook_inflight_bytes.min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            background: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Milliseconds since the Unix epoch, from the state's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Stores and applies one delivery, through group commit.
    pub async fn ingest(
        &self,
        item: storage::IngestItem,
    ) -> Result<storage::EventOutcome, IngestFailure> {
        self.ingest_queue.submit(item).await.unwrap_or_else(|| {
            Err(IngestFailure {
                error: storage::StorageError::Other("the ingestion writer stopped".into()),
                item: None,
            })
        })
    }
}
