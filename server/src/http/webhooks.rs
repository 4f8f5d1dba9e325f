//! `POST /webhooks/chargebee/{token}`: the per-tenant Chargebee endpoint.

use super::responses::{WebhookDeliveryResponse, WebhookErrorResponse};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use backend::domain::OrgId;
use backend::ingest::{self, DeliveryError};
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
        DeliveryError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
    }
    resp
}

/// Records a delivery refused before its body was read (no payload kept; the reason is the
/// error's message) and answers it.
async fn refuse(state: &AppState, org: &OrgId, e: DeliveryError, now: i64) -> Response {
    match ingest::record_rejection(state, org, None, &e.to_string(), now).await {
        Ok(()) => error_response(e),
        Err(recording) => error_response(recording),
    }
}

pub async fn chargebee(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.now();
    let creds = basic_credentials(&headers);
    let basic = creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let org = match ingest::authenticate(&state, &token, basic, now).await {
        Ok(org) => org,
        Err(e) => return error_response(e),
    };
    tracing::Span::current().record("org", org.as_str());
    let max = state.settings.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return refuse(&state, &org, DeliveryError::TooLarge(max), now).await;
    }
    // Bodies being read or waiting for their commit are bounded in bytes, across all
    // deliveries: past the bound, Chargebee is asked to come back (it retries).
    let reserve = declared.unwrap_or(max).max(1);
    let Some(_in_flight) = u32::try_from(reserve)
        .ok()
        .and_then(|n| state.webhook_bytes.clone().try_acquire_many_owned(n).ok())
    else {
        tracing::warn!(
            bytes = reserve,
            "webhook bodies in flight are at their bound; answering 503"
        );
        let mut resp = error_response(DeliveryError::Unavailable);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return resp;
    };
    // A deadline for the whole body (the router's body timeout resets with every frame).
    let read = tokio::time::timeout(
        state.settings.body_deadline,
        axum::body::to_bytes(body, max),
    );
    let Ok(read) = read.await else {
        return refuse(&state, &org, DeliveryError::TimedOut, now).await;
    };
    let bytes = match read {
        Ok(b) => b,
        Err(err) if caused_by::<tower_http::timeout::TimeoutError>(&err) => {
            return refuse(&state, &org, DeliveryError::TimedOut, now).await;
        }
        Err(err) if !is_length_limit(&err) => {
            let why = format!("could not read the request body: {err}");
            return refuse(&state, &org, DeliveryError::Rejected(why), now).await;
        }
        Err(_) => return refuse(&state, &org, DeliveryError::TooLarge(max), now).await,
    };
    match ingest::receive(&state, &org, bytes, now).await {
        Ok(outcome) => Json(WebhookDeliveryResponse::from(outcome)).into_response(),
        Err(e) => error_response(e),
    }
}
