//! The accept loop. `axum::serve` cannot bound how long a client takes to send its headers,
//! so a slow client could hold a connection (and its memory) forever; this loop runs hyper
//! with a header-read timeout, TCP_NODELAY and graceful shutdown. Body read time is bounded by
//! a layer in the router (`Timeouts::body`).

use crate::config::Config;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client may take to send a request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the connection (or the previous response) to the end of the request headers.
    pub header: Duration,
    /// To read the whole body (408 beyond it).
    pub body: Duration,
}

impl Timeouts {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header: Duration::from_secs(u64::from(config.http_header_timeout_seconds)),
            body: Duration::from_secs(u64::from(config.http_body_timeout_seconds)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish (for at most 30 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // HTTP/1.1 only: cleartext HTTP/2 (h2c) has no header-read timeout, and browsers reach us
    // over HTTP/1.1 here (or over a TLS proxy that speaks HTTP/1.1 to us).
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // No Nagle delay: responses are written in several pieces (headers, streamed HTML),
        // and waiting for the peer's delayed ACK would add ~40 ms to them.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req.map(Body::new))
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 30 s; stopping anyway");
    }
    Ok(())
}
