//! CSRF: a state-changing request from a browser must come from our own origin. Webhooks and
//! the REST API (bearer keys, no cookies) are exempt.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use backend::AppState;

fn origin_of(url: &str) -> &str {
    // scheme://host[:port] — everything before the first '/' after the scheme.
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => &url[..i + 3 + j],
            None => url,
        },
        None => url,
    }
}

pub async fn same_origin_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    if safe || path.starts_with("/webhooks/") || path.starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let ours = |origin: &str| {
        let origin = origin_of(origin);
        origin == origin_of(&state.settings.public_url)
            || origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host && !host.is_empty())
    };
    let allowed = if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        ours(origin)
    } else if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        site == "same-origin" || site == "none"
    } else if let Some(referer) = headers.get(header::REFERER).and_then(|v| v.to_str().ok()) {
        ours(referer)
    } else {
        false
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(
            path = super::redacted_path(path),
            "refused a cross-site request"
        );
        (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: state-changing requests must come from this site's own pages.",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_drop_the_path() {
        assert_eq!(
            origin_of("https://ledger.example.com/a/b"),
            "https://ledger.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
    }
}
