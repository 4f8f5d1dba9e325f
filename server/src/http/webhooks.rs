//! `POST /webhooks/chargebee/{token}`: the per-tenant Chargebee endpoint.

use super::responses::{WebhookDeliveryResponse, WebhookErrorResponse};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use backend::ingest::{self, BodyError, Delivery, DeliveryError};
use backend::AppState;
use base64::Engine;

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Whether a body-read error (or one of its causes) is of the given kind.
fn caused_by<E: std::error::Error + 'static>(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<E>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether reading the body stopped at the size limit (rather than failing otherwise).
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.to_string().contains("length limit exceeded") {
            return true;
        }
        source = e.source();
    }
    false
}

fn error_response(e: DeliveryError) -> Response {
    let status = match e {
        DeliveryError::UnknownToken => StatusCode::NOT_FOUND,
        DeliveryError::Unauthorized => StatusCode::UNAUTHORIZED,
        DeliveryError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        DeliveryError::TimedOut => StatusCode::REQUEST_TIMEOUT,
        DeliveryError::Rejected(_) => StatusCode::BAD_REQUEST,
        DeliveryError::Unavailable | DeliveryError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        DeliveryError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = WebhookErrorResponse {
        error: e.to_string(),
    };
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"Partner Ledger webhook\""),
        );
    }
    // The database away: in a while; bodies in flight at their bound: in a few seconds.
    let retry_after = match e {
        DeliveryError::Busy => Some("5"),
        DeliveryError::Unavailable => Some("30"),
        _ => None,
    };
    if let Some(after) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static(after));
    }
    resp
}

/// Reads the body (at most `limit` bytes) and names why it could not be read.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        if caused_by::<tower_http::timeout::TimeoutError>(&err) {
            BodyError::TimedOut
        } else if is_length_limit(&err) {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable(err.to_string())
        }
    })
}

/// Translates the request into a [`Delivery`] and the answer into a response; the rules
/// (tenant, Basic Auth, limits, recording refusals) are `ingest::deliver`'s.
pub async fn chargebee(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let creds = basic_credentials(&headers);
    let delivery = Delivery {
        token: &token,
        basic: creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        declared_len: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok()),
        read_body: |limit| read_body(body, limit),
    };
    match ingest::deliver(&state, delivery).await {
        Ok(outcome) => Json(WebhookDeliveryResponse::from(outcome)).into_response(),
        Err(e) => error_response(e),
    }
}
