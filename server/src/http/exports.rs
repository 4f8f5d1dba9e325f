//! CSV downloads: for the dashboard (`/exports/…`, signed in with the session cookie) and for
//! the REST API (the same streams behind an API key). Every export is streamed a page at a
//! time, so its size is not bounded by memory.

use super::error::ApiError;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use backend::domain::OrgId;
use backend::service::{commissions, exports};
use backend::AppState;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use shared::error::AppError;
use tower_sessions::Session;

/// The dashboard's download routes (merged into the main router, inside the session layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exports/commissions.csv", get(commissions_download))
        .route("/exports/transactions.csv", get(transactions_download))
        .route("/exports/payouts/{file}", get(payout_download))
        .route(
            "/partner/exports/commissions.csv",
            get(portal_commissions_download),
        )
        .route(
            "/partner/exports/statements/{file}",
            get(portal_statement_download),
        )
}

/// A CSV attachment; `filename` is reduced to safe characters.
pub fn csv_response(filename: &str, body: Body) -> Response {
    let name: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// A stream of CSV chunks as a body. A failure after the first chunk can only end the
/// download early (the status is sent): it is logged.
pub fn streamed(stream: impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static) -> Body {
    Body::from_stream(stream.map(|chunk| {
        chunk.map_err(|e| {
            tracing::warn!(error = %e, "a CSV export ended early");
            std::io::Error::other(e.to_string())
        })
    }))
}

/// The signed-in member's organization, or the response to give instead: a visitor who is
/// not signed in is sent to sign in and back.
async fn member(session: &Session, state: &AppState, back: &str) -> Result<OrgId, Response> {
    match backend::session::current(session, state).await {
        Ok(ctx) => Ok(ctx.org),
        Err(AppError::Unauthorized) => {
            Err(Redirect::to(&super::signed_in::login_url_for(back)).into_response())
        }
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    pub partner: Option<String>,
    pub customer: Option<String>,
    pub status: Option<String>,
}

impl ExportQuery {
    /// Checks the status filter before the download starts (a bad one is a 422, not a
    /// truncated file).
    pub fn checked(self) -> Result<Self, ApiError> {
        match self.status.as_deref() {
            None | Some("") => Ok(self),
            Some(s) if commissions::STATUSES.contains(&s) => Ok(self),
            Some(_) => Err(AppError::field(
                "status",
                format!("must be one of {}", commissions::STATUSES.join(", ")),
            )
            .into()),
        }
    }
}

/// Commission entries as CSV (see [`exports::commissions_csv`]).
pub fn commissions_csv(state: AppState, org: OrgId, q: ExportQuery) -> Result<Response, ApiError> {
    let q = q.checked()?;
    let stream = exports::commissions_csv(state, org, q.partner, q.customer, q.status);
    Ok(csv_response("commissions.csv", streamed(stream)))
}

/// Transactions as CSV (see [`exports::transactions_csv`]).
pub fn transactions_csv(state: AppState, org: OrgId, q: ExportQuery) -> Response {
    let stream = exports::transactions_csv(state, org, q.customer, q.partner);
    csv_response("transactions.csv", streamed(stream))
}

async fn commissions_download(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    let org = match member(&session, &state, "/partners").await {
        Ok(org) => org,
        Err(r) => return r,
    };
    query
        .map_err(ApiError::from)
        .and_then(|Query(q)| commissions_csv(state, org, q))
        .unwrap_or_else(IntoResponse::into_response)
}

async fn transactions_download(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    let org = match member(&session, &state, "/customers").await {
        Ok(org) => org,
        Err(r) => return r,
    };
    match query {
        Ok(Query(q)) => transactions_csv(state, org, q),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn payout_download(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
) -> Response {
    let org = match member(&session, &state, "/payouts").await {
        Ok(org) => org,
        Err(r) => return r,
    };
    let id = file.strip_suffix(".csv").unwrap_or(&file);
    match commissions::payout_csv(&state, &org, id).await {
        Ok(csv) => csv_response(&format!("payout-{id}.csv"), Body::from(csv)),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The signed-in partner user's partner, or the response to give instead (sign in; a team
/// session is refused).
async fn partner_user(
    session: &Session,
    state: &AppState,
    back: &str,
) -> Result<backend::session::PartnerCtx, Response> {
    match backend::session::current_partner(session, state).await {
        Ok(p) => Ok(p),
        Err(AppError::Unauthorized) => {
            Err(Redirect::to(&super::signed_in::login_url_for(back)).into_response())
        }
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// The portal's entries as CSV: always the session's partner's; a customer filter must be
/// one of its customers (another's is 404).
async fn portal_commissions_download(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    let p = match partner_user(&session, &state, "/partner/commissions").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(Query(mut q)) = query else {
        return ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid",
            "the query is not valid",
        )
        .into_response();
    };
    if let Some(c) = q.customer.as_deref().filter(|c| !c.is_empty()) {
        match state
            .store
            .portal_customer_exists(&p.org, &p.partner_id, c)
            .await
        {
            Ok(true) => {}
            Ok(false) => return ApiError::not_found().into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    q.partner = Some(p.partner_key.clone());
    commissions_csv(state, p.org, q).unwrap_or_else(IntoResponse::into_response)
}

/// One of the partner's statements as CSV; another partner's run is 404.
async fn portal_statement_download(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
) -> Response {
    let p = match partner_user(&session, &state, "/partner/payouts").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = file.strip_suffix(".csv").unwrap_or(&file);
    match backend::service::portal::statement_csv(&state, &p, id).await {
        Ok(csv) => csv_response(&format!("statement-{id}.csv"), Body::from(csv)),
        Err(e) => ApiError::from(e).into_response(),
    }
}
