//! The REST API under `/api/v1`, authenticated by a per-organization API key
//! (`Authorization: Bearer pl_…`). Every handler starts from the key's organization; another
//! organization's resource answers 404 exactly like a missing one.

use super::error::ApiError;
use super::exports;
use super::responses::{
    AuditPageResponse, ChargebeeIntegrationResponse, CommissionEntryResponse,
    CommissionPageResponse, CommissionTermsResponse, CreatedCustomerResponse, CustomerResponse,
    DeletedPlanResponse, EventDetailResponse, EventPageResponse, EventSummaryResponse,
    ListResponse, PartnerBalanceResponse, PartnerResponse, PayoutResponse, PlanResponse,
    ReplayResponse, SettingsResponse, SubscriptionResponse, TermsPreviewResponse,
    TransactionResponse,
};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use backend::audit::Actor;
use backend::auth::sha256_hex;
use backend::domain::OrgId;
use backend::storage::EventFilter;
use backend::{ingest, service, AppState};
use serde::Deserialize;
use shared::model::{ApiScope, Outcome, Role};

type Result<T> = std::result::Result<T, ApiError>;

/// The organization an API key belongs to. A `read` key is refused (403) on every request
/// that is not a read; see [`FullAccess`] for reads that need a full key.
pub struct ApiOrg(pub OrgId, pub ApiScope);

/// A full-access key's organization: for requests that expose credentials.
pub struct FullAccess(pub OrgId);

impl FromRequestParts<AppState> for FullAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let ApiOrg(org, scope) = ApiOrg::from_request_parts(parts, state).await?;
        if scope != ApiScope::Full {
            return Err(read_only());
        }
        Ok(FullAccess(org))
    }
}

fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this API key is read-only; create a full-access key under Settings > API keys",
    )
}

impl FromRequestParts<AppState> for ApiOrg {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send an API key as `Authorization: Bearer <key>`; create keys under Settings > API keys",
            )
        };
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() < 200)
            .ok_or_else(unauthorized)?;
        let found = state
            .store
            .api_key_by_hash(&sha256_hex(key))
            .await?
            .ok_or_else(unauthorized)?;
        if let Err(e) = state.store.touch_api_key(&found.id, state.now()).await {
            tracing::warn!(error = %e, "could not record API key use");
        }
        tracing::Span::current().record("org", found.org_id.as_str());
        let reads = matches!(parts.method, Method::GET | Method::HEAD);
        if found.scope == ApiScope::Read && !reads {
            return Err(read_only());
        }
        let ip = client_ip(parts, state);
        parts
            .extensions
            .insert(Actor::api_key(&found.id, &found.label, Some(ip)));
        Ok(ApiOrg(OrgId::from_trusted(found.org_id), found.scope))
    }
}

/// The client's address, as [`backend::session::client_ip`] reads it.
fn client_ip(parts: &Parts, state: &AppState) -> String {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = forwarded.join(",");
    backend::session::client_ip(
        peer,
        Some(forwarded.as_str()).filter(|f| !f.is_empty()),
        state.settings.trusted_proxies,
    )
}

/// Who is acting: the API key [`ApiOrg`] found (list it after `ApiOrg` or `FullAccess`).
pub struct Who(pub Actor);

impl FromRequestParts<AppState> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Who)
            .ok_or_else(|| ApiError::from(shared::error::AppError::Unauthorized))
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers", post(create_customer))
        .route("/customers/{key}", get(get_customer))
        .route("/customers/{key}/transactions", get(customer_transactions))
        .route(
            "/customers/{key}/subscriptions",
            get(customer_subscriptions),
        )
        .route("/partners", get(list_partners).post(create_partner))
        .route("/partners/{key}", get(get_partner).put(update_partner))
        .route("/plans", get(list_plans).post(create_plan))
        .route("/plans/{key}", put(update_plan).delete(delete_plan))
        .route(
            "/integrations/chargebee",
            get(get_chargebee).put(put_chargebee),
        )
        .route("/integrations/chargebee/rotate", post(rotate_chargebee))
        .route("/webhook-events", get(list_events))
        .route("/webhook-events/{event_id}", get(get_event))
        .route("/webhook-events/{event_id}/replay", post(replay_event))
        .route(
            "/commission-terms",
            get(get_default_terms).put(put_default_terms),
        )
        .route(
            "/partners/{key}/commission-terms",
            get(get_partner_terms)
                .put(put_partner_terms)
                .delete(delete_partner_terms),
        )
        .route("/partners/{key}/balance", get(partner_balance))
        .route("/settings", get(get_settings).put(put_settings))
        .route("/audit-log", get(audit_log))
        .route("/commission-terms/preview", post(preview_default_terms))
        .route(
            "/partners/{key}/commission-terms/preview",
            post(preview_partner_terms),
        )
        .route("/commissions", get(list_commissions))
        .route("/commissions/csv", get(commissions_csv))
        .route("/transactions/csv", get(transactions_csv))
        .route("/payouts", get(list_payouts).post(create_payout))
        .route("/payouts/{id}", get(get_payout))
        .route("/payouts/{id}/csv", get(payout_csv))
        .route("/payouts/{id}/paid", post(mark_payout_paid))
        .route("/payouts/{id}/cancel", post(cancel_payout))
        .fallback(|| async { ApiError::not_found() })
}

#[derive(Deserialize)]
struct CustomerIn {
    key: String,
    email: Option<String>,
    name: Option<String>,
    partner_key: Option<String>,
}

async fn create_customer(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    body: std::result::Result<Json<CustomerIn>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedCustomerResponse>)> {
    let Json(c) = body?;
    let (customer, released) = service::create_customer(
        &state,
        &org,
        &c.key,
        c.email.as_deref(),
        c.name.as_deref(),
        c.partner_key.as_deref(),
        &who,
    )
    .await?;
    let body = CreatedCustomerResponse {
        customer: CustomerResponse::from(&customer),
        reconciled_events: released,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

async fn get_customer(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<CustomerResponse>> {
    let c = service::customer(&state, &org, &key).await?;
    Ok(Json(CustomerResponse::from(&c)))
}

async fn customer_transactions(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<ListResponse<TransactionResponse>>> {
    let c = service::customer(&state, &org, &key).await?;
    let txns = state.store.transactions(&org, &c.id).await?;
    let data = txns
        .iter()
        .filter(|t| t.removed_reason.is_none())
        .map(TransactionResponse::from)
        .collect();
    Ok(Json(ListResponse::new(data)))
}

async fn customer_subscriptions(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<ListResponse<SubscriptionResponse>>> {
    let c = service::customer(&state, &org, &key).await?;
    let subs = state.store.subscriptions(&org, &c.id).await?;
    let data = subs.iter().map(SubscriptionResponse::from).collect();
    Ok(Json(ListResponse::new(data)))
}

#[derive(Deserialize)]
struct PartnerIn {
    key: String,
    name: Option<String>,
    email: Option<String>,
}

async fn list_partners(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<ListResponse<PartnerResponse>>> {
    let partners = state.store.partners(&org).await?;
    Ok(Json(ListResponse::new(
        partners.iter().map(PartnerResponse::from).collect(),
    )))
}

async fn get_partner(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<PartnerResponse>> {
    let p = state
        .store
        .partner(&org, &key)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(PartnerResponse::from(&p)))
}

async fn create_partner(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    body: std::result::Result<Json<PartnerIn>, JsonRejection>,
) -> Result<(StatusCode, Json<PartnerResponse>)> {
    let Json(p) = body?;
    let partner = service::save_partner(
        &state,
        &org,
        &p.key,
        p.name.as_deref(),
        p.email.as_deref(),
        true,
        &who,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(PartnerResponse::from(&partner))))
}

#[derive(Deserialize)]
struct PartnerUpdate {
    name: Option<String>,
    email: Option<String>,
}

async fn update_partner(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
    body: std::result::Result<Json<PartnerUpdate>, JsonRejection>,
) -> Result<Json<PartnerResponse>> {
    let Json(p) = body?;
    let partner = service::save_partner(
        &state,
        &org,
        &key,
        p.name.as_deref(),
        p.email.as_deref(),
        false,
        &who,
    )
    .await?;
    Ok(Json(PartnerResponse::from(&partner)))
}

#[derive(Deserialize)]
struct PlanIn {
    key: String,
    name: String,
}

async fn list_plans(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<ListResponse<PlanResponse>>> {
    let plans = state.store.plans(&org).await?;
    Ok(Json(ListResponse::new(
        plans.iter().map(PlanResponse::from).collect(),
    )))
}

async fn create_plan(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    body: std::result::Result<Json<PlanIn>, JsonRejection>,
) -> Result<(StatusCode, Json<PlanResponse>)> {
    let Json(p) = body?;
    let plan = service::create_plan(&state, &org, &p.key, &p.name, &who).await?;
    Ok((StatusCode::CREATED, Json(PlanResponse::from(&plan))))
}

async fn update_plan(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
    body: std::result::Result<Json<PlanIn>, JsonRejection>,
) -> Result<Json<PlanResponse>> {
    let Json(p) = body?;
    let plan = service::update_plan(&state, &org, &key, &p.key, &p.name, &who).await?;
    Ok(Json(PlanResponse::from(&plan)))
}

async fn delete_plan(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
) -> Result<Json<DeletedPlanResponse>> {
    let affected = service::delete_plan(&state, &org, &key, &who).await?;
    Ok(Json(DeletedPlanResponse {
        deleted: key,
        subscriptions_without_plan_name: affected,
    }))
}

async fn get_chargebee(
    State(state): State<AppState>,
    FullAccess(org): FullAccess,
) -> Result<Json<ChargebeeIntegrationResponse>> {
    Ok(Json(ChargebeeIntegrationResponse::from(
        &service::integration(&state, &org, Role::Owner).await?,
    )))
}

#[derive(Deserialize)]
struct BasicAuthIn {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct ChargebeeIn {
    basic_auth: Option<BasicAuthIn>,
}

async fn put_chargebee(
    State(state): State<AppState>,
    FullAccess(org): FullAccess,
    Who(who): Who,
    body: std::result::Result<Json<ChargebeeIn>, JsonRejection>,
) -> Result<Json<ChargebeeIntegrationResponse>> {
    let Json(c) = body?;
    let creds = c
        .basic_auth
        .as_ref()
        .map(|b| (b.username.as_str(), b.password.as_str()));
    Ok(Json(ChargebeeIntegrationResponse::from(
        &service::set_basic_auth(&state, &org, creds, &who).await?,
    )))
}

#[derive(Deserialize, Default)]
struct RotateIn {
    /// Stop the previous URL at once instead of after the grace period.
    #[serde(default)]
    revoke_previous: bool,
}

async fn rotate_chargebee(
    State(state): State<AppState>,
    FullAccess(org): FullAccess,
    Who(who): Who,
    body: Option<Json<RotateIn>>,
) -> Result<Json<ChargebeeIntegrationResponse>> {
    let revoke = body.is_some_and(|Json(b)| b.revoke_previous);
    Ok(Json(ChargebeeIntegrationResponse::from(
        &service::rotate_webhook_url(&state, &org, revoke, &who).await?,
    )))
}

#[derive(Deserialize)]
struct EventQuery {
    outcome: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_events(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    query: std::result::Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<EventPageResponse>> {
    let Query(q) = query?;
    let outcome = match q.outcome.as_deref().filter(|o| !o.is_empty()) {
        None => None,
        Some(o) => Some(o.parse::<Outcome>().map_err(|_| {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("outcome must be one of {}", Outcome::names()),
            );
            e.fields = vec![shared::error::FieldMessage {
                field: "outcome".into(),
                message: format!("must be one of {}", Outcome::names()),
            }];
            e
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "limit must be between 1 and 200",
        ));
    }
    let filter = EventFilter {
        outcome,
        event_type: q.event_type.filter(|t| !t.is_empty()),
        customer_id: None,
    };
    let page = state
        .store
        .events(&org, &filter, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(EventPageResponse {
        data: page
            .items
            .into_iter()
            .map(EventSummaryResponse::from)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn get_event(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(event_id): Path<String>,
) -> Result<Json<EventDetailResponse>> {
    let e = state
        .store
        .event(&org, &event_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(EventDetailResponse::from(e)))
}

async fn replay_event(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(event_id): Path<String>,
) -> Result<Json<ReplayResponse>> {
    let e = state
        .store
        .event(&org, &event_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let outcome = ingest::replay(&state, &org, &e.id, &who).await?;
    Ok(Json(ReplayResponse::from(outcome)))
}

type TermsBody = std::result::Result<Json<backend::commission::TermsSpec>, JsonRejection>;

async fn get_default_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<CommissionTermsResponse>> {
    let view = service::commissions::terms(&state, &org, None).await?;
    Ok(Json(view.into()))
}

async fn put_default_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    body: TermsBody,
) -> Result<Json<CommissionTermsResponse>> {
    let Json(spec) = body?;
    let view = service::commissions::set_terms(&state, &org, None, spec, &who).await?;
    Ok(Json(view.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewIn {
    terms: backend::commission::TermsSpec,
    from: i64,
    to: i64,
}

async fn preview_default_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    body: std::result::Result<Json<PreviewIn>, JsonRejection>,
) -> Result<Json<TermsPreviewResponse>> {
    let Json(p) = body?;
    let preview = service::commissions::preview(&state, &org, None, &p.terms, p.from, p.to).await?;
    Ok(Json(preview.into()))
}

async fn preview_partner_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
    body: std::result::Result<Json<PreviewIn>, JsonRejection>,
) -> Result<Json<TermsPreviewResponse>> {
    let Json(p) = body?;
    let preview =
        service::commissions::preview(&state, &org, Some(&key), &p.terms, p.from, p.to).await?;
    Ok(Json(preview.into()))
}

async fn get_partner_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<CommissionTermsResponse>> {
    let view = service::commissions::terms(&state, &org, Some(&key)).await?;
    Ok(Json(view.into()))
}

async fn put_partner_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
    body: TermsBody,
) -> Result<Json<CommissionTermsResponse>> {
    let Json(spec) = body?;
    let view = service::commissions::set_terms(&state, &org, Some(&key), spec, &who).await?;
    Ok(Json(view.into()))
}

async fn delete_partner_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
) -> Result<Json<CommissionTermsResponse>> {
    let view = service::commissions::remove_partner_terms(&state, &org, &key, &who).await?;
    Ok(Json(view.into()))
}

async fn partner_balance(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<PartnerBalanceResponse>> {
    let balance = service::commissions::balance(&state, &org, &key).await?;
    Ok(Json(balance.into()))
}

#[derive(Deserialize)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The audit log (a full-access key: it names people and their addresses).
async fn audit_log(
    State(state): State<AppState>,
    FullAccess(org): FullAccess,
    query: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPageResponse>> {
    let Query(q) = query?;
    let filter = backend::storage::AuditFilter {
        action: q.action,
        actor: q.actor,
        since: q.since,
        until: q.until,
    };
    let page = backend::audit::list(
        &state,
        &org,
        filter,
        q.cursor.as_deref().filter(|c| !c.is_empty()),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(page.into()))
}

async fn get_settings(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<SettingsResponse>> {
    Ok(Json(service::settings::get(&state, &org).await?.into()))
}

/// Any of the settings; the others stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsIn {
    reporting_currency: Option<String>,
    payload_retention_days: Option<i64>,
    attribution_window_days: Option<i64>,
}

async fn put_settings(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    body: std::result::Result<Json<SettingsIn>, JsonRejection>,
) -> Result<Json<SettingsResponse>> {
    let Json(s) = body?;
    service::settings::check_change(
        s.reporting_currency.as_deref(),
        s.payload_retention_days,
        s.attribution_window_days,
    )?;
    if let Some(code) = &s.reporting_currency {
        service::commissions::set_reporting_currency(&state, &org, code, &who).await?;
    }
    if let Some(days) = s.payload_retention_days {
        service::settings::set_retention(&state, &org, days, &who).await?;
    }
    if let Some(days) = s.attribution_window_days {
        service::settings::set_attribution_window(&state, &org, days, &who).await?;
    }
    Ok(Json(service::settings::get(&state, &org).await?.into()))
}

#[derive(Deserialize)]
struct CommissionQuery {
    partner: Option<String>,
    customer: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_commissions(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    query: std::result::Result<Query<CommissionQuery>, QueryRejection>,
) -> Result<Json<CommissionPageResponse>> {
    let Query(q) = query?;
    fn nonempty(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|s| !s.is_empty())
    }
    let page = service::commissions::entries(
        &state,
        &org,
        nonempty(&q.partner),
        nonempty(&q.customer),
        nonempty(&q.status),
        nonempty(&q.cursor),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(CommissionPageResponse {
        data: page
            .items
            .into_iter()
            .map(CommissionEntryResponse::new)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize)]
struct PayoutIn {
    up_to: i64,
}

#[derive(Deserialize)]
struct PaidIn {
    reference: String,
}

async fn list_payouts(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<ListResponse<PayoutResponse>>> {
    let runs = service::commissions::payouts(&state, &org).await?;
    Ok(Json(ListResponse::new(
        runs.into_iter().map(PayoutResponse::from).collect(),
    )))
}

async fn create_payout(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    body: std::result::Result<Json<PayoutIn>, JsonRejection>,
) -> Result<(StatusCode, Json<PayoutResponse>)> {
    let Json(p) = body?;
    let run = service::commissions::create_payout(&state, &org, p.up_to, &who).await?;
    Ok((StatusCode::CREATED, Json(run.into())))
}

async fn get_payout(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(id): Path<String>,
) -> Result<Json<PayoutResponse>> {
    Ok(Json(
        service::commissions::payout(&state, &org, &id)
            .await?
            .into(),
    ))
}

async fn payout_csv(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(id): Path<String>,
) -> Result<axum::response::Response> {
    let csv = service::commissions::payout_csv(&state, &org, &id).await?;
    Ok(exports::csv_response(
        &format!("payout-{id}.csv"),
        axum::body::Body::from(csv),
    ))
}

async fn commissions_csv(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    query: std::result::Result<Query<exports::ExportQuery>, QueryRejection>,
) -> Result<axum::response::Response> {
    let Query(q) = query?;
    exports::commissions_csv(state, org, q)
}

async fn transactions_csv(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    query: std::result::Result<Query<exports::ExportQuery>, QueryRejection>,
) -> Result<axum::response::Response> {
    let Query(q) = query?;
    Ok(exports::transactions_csv(state, org, q))
}

async fn mark_payout_paid(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(id): Path<String>,
    body: std::result::Result<Json<PaidIn>, JsonRejection>,
) -> Result<Json<PayoutResponse>> {
    let Json(p) = body?;
    let run = service::commissions::mark_paid(&state, &org, &id, &p.reference, &who).await?;
    Ok(Json(run.into()))
}

async fn cancel_payout(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(id): Path<String>,
) -> Result<Json<PayoutResponse>> {
    Ok(Json(
        service::commissions::cancel_payout(&state, &org, &id, &who)
            .await?
            .into(),
    ))
}
