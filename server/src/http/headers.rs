//! Response headers every page gets, and what request paths look like in logs.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Paths whose last segment is a secret (webhook token, invite token), as logged.
const SECRET_ROUTES: &[(&str, &str)] = &[
    ("/webhooks/chargebee/", "/webhooks/chargebee/{token}"),
    ("/invite/", "/invite/{token}"),
];

/// The path as it may appear in a log line: routes that carry a secret are shown as their
/// template (`/webhooks/chargebee/{token}`), never with the secret.
pub fn redacted_path(path: &str) -> &str {
    for (prefix, template) in SECRET_ROUTES {
        if path.starts_with(prefix) {
            return template;
        }
    }
    path
}

/// Framing refused (clickjacking), no MIME sniffing, no referrer sent to other sites (invite
/// links carry a token), and nothing but the static bundle kept in caches: pages and API
/// answers hold tenant data.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let cacheable = req.uri().path().starts_with("/pkg/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !cacheable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn secret_paths_are_logged_as_their_route() {
        assert_eq!(
            redacted_path("/webhooks/chargebee/abcdefSECRET"),
            "/webhooks/chargebee/{token}"
        );
        assert_eq!(redacted_path("/invite/SECRET"), "/invite/{token}");
        assert_eq!(redacted_path("/customers/c1"), "/customers/c1");
    }
}
