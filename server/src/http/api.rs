//! The REST API under `/api/v1`, authenticated by a per-organization API key
//! (`Authorization: Bearer pl_…`). Every handler starts from the key's organization; another
//! organization's resource answers 404 exactly like a missing one.

use super::error::ApiError;
use super::exports;
use super::responses::{
    AuditPageResponse, ChargebeeIntegrationResponse, CommissionEntryResponse,
    CommissionPageResponse, CommissionTermsResponse, CreatedCustomerResponse, CustomerResponse,
    DeletedPlanResponse, EventDetailResponse, EventPageResponse, EventSummaryResponse,
    ListResponse, PartnerBalanceResponse, PartnerInviteCreatedResponse, PartnerInviteResponse,
    PartnerResponse, PartnerUserResponse, PartnerUsersResponse, PayoutResponse, PlanResponse,
    RemovedPartnerUserResponse, ReplayResponse, SettingsResponse, SubscriptionResponse,
    TermsPreviewResponse, TransactionResponse,
};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::{Json, Router};
use backend::audit::Actor;
use backend::auth::sha256_hex;
use backend::domain::OrgId;
use backend::storage::EventFilter;
use backend::{ingest, service, AppState};
use serde::Deserialize;
use shared::model::{ApiScope, Outcome, Role};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

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

/// The REST API's routes, each registered with its OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    use utoipa::OpenApi;
    OpenApiRouter::with_openapi(super::openapi::ApiDoc::openapi())
        .routes(routes!(create_customer))
        .routes(routes!(get_customer))
        .routes(routes!(customer_transactions))
        .routes(routes!(customer_subscriptions))
        .routes(routes!(list_partners, create_partner))
        .routes(routes!(get_partner, update_partner))
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(update_plan, delete_plan))
        .routes(routes!(get_chargebee, put_chargebee))
        .routes(routes!(rotate_chargebee))
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(replay_event))
        .routes(routes!(get_default_terms, put_default_terms))
        .routes(routes!(
            get_partner_terms,
            put_partner_terms,
            delete_partner_terms
        ))
        .routes(routes!(partner_balance))
        .routes(routes!(list_partner_users, invite_partner_user))
        .routes(routes!(remove_partner_user))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(audit_log))
        .routes(routes!(preview_default_terms))
        .routes(routes!(preview_partner_terms))
        .routes(routes!(list_commissions))
        .routes(routes!(commissions_csv))
        .routes(routes!(transactions_csv))
        .routes(routes!(list_payouts, create_payout))
        .routes(routes!(get_payout))
        .routes(routes!(payout_csv))
        .routes(routes!(mark_payout_paid))
        .routes(routes!(cancel_payout))
        .routes(routes!(openapi_json))
}

/// The REST API, nested under `/api/v1`.
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.fallback(|| async { ApiError::not_found() })
}

/// The OpenAPI document of [`router`]: the same routes, with the errors each may answer.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut doc) = routes().split_for_parts();
        super::openapi::add_errors_and_security(&mut doc);
        doc
    })
}

/// This document, without an API key.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This API's OpenAPI 3.1 document",
    responses((status = 200, description = "The document", body = Value))
)]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(openapi())
}

#[derive(Deserialize, ToSchema)]
struct CustomerIn {
    key: String,
    email: Option<String>,
    name: Option<String>,
    partner_key: Option<String>,
}

#[utoipa::path(
    post,
    path = "/customers",
    tag = "customers",
    summary = "Create a customer; events parked for its key are applied",
    request_body = CustomerIn,
    responses((status = 201, description = "Created", body = CreatedCustomerResponse))
)]
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

#[utoipa::path(
    get,
    path = "/customers/{key}",
    tag = "customers",
    summary = "A customer",
    params(("key" = String, Path, description = "The customer's key")),
    responses((status = 200, description = "The customer", body = CustomerResponse))
)]
async fn get_customer(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<CustomerResponse>> {
    let c = service::customer(&state, &org, &key).await?;
    Ok(Json(CustomerResponse::from(&c)))
}

#[utoipa::path(
    get,
    path = "/customers/{key}/transactions",
    tag = "customers",
    summary = "A customer's payments and refunds",
    params(("key" = String, Path, description = "The customer's key")),
    responses((status = 200, description = "Its transactions", body = ListResponse<TransactionResponse>))
)]
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

#[utoipa::path(
    get,
    path = "/customers/{key}/subscriptions",
    tag = "customers",
    summary = "A customer's subscriptions",
    params(("key" = String, Path, description = "The customer's key")),
    responses((status = 200, description = "Its subscriptions", body = ListResponse<SubscriptionResponse>))
)]
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

#[derive(Deserialize, ToSchema)]
struct PartnerIn {
    key: String,
    name: Option<String>,
    email: Option<String>,
}

#[utoipa::path(
    get,
    path = "/partners",
    tag = "partners",
    summary = "Every partner, with revenue and earnings per currency",
    responses((status = 200, description = "The partners", body = ListResponse<PartnerResponse>))
)]
async fn list_partners(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<ListResponse<PartnerResponse>>> {
    let partners = state.store.partners(&org).await?;
    Ok(Json(ListResponse::new(
        partners.iter().map(PartnerResponse::from).collect(),
    )))
}

#[utoipa::path(
    get,
    path = "/partners/{key}",
    tag = "partners",
    summary = "A partner",
    params(("key" = String, Path, description = "The partner's key")),
    responses((status = 200, description = "The partner", body = PartnerResponse))
)]
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

#[utoipa::path(
    post,
    path = "/partners",
    tag = "partners",
    summary = "Create a partner",
    request_body = PartnerIn,
    responses((status = 201, description = "Created", body = PartnerResponse))
)]
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

#[derive(Deserialize, ToSchema)]
struct PartnerUpdate {
    name: Option<String>,
    email: Option<String>,
}

#[utoipa::path(
    put,
    path = "/partners/{key}",
    tag = "partners",
    summary = "Change a partner's name or e-mail",
    params(("key" = String, Path, description = "The partner's key")),
    request_body = PartnerUpdate,
    responses((status = 200, description = "The partner", body = PartnerResponse))
)]
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

#[derive(Deserialize, ToSchema)]
struct PlanIn {
    key: String,
    name: String,
}

#[utoipa::path(
    get,
    path = "/plans",
    tag = "plans",
    summary = "Every plan name",
    responses((status = 200, description = "The plans", body = ListResponse<PlanResponse>))
)]
async fn list_plans(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<ListResponse<PlanResponse>>> {
    let plans = state.store.plans(&org).await?;
    Ok(Json(ListResponse::new(
        plans.iter().map(PlanResponse::from).collect(),
    )))
}

#[utoipa::path(
    post,
    path = "/plans",
    tag = "plans",
    summary = "Name a Chargebee plan id",
    request_body = PlanIn,
    responses((status = 201, description = "Created", body = PlanResponse))
)]
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

#[utoipa::path(
    put,
    path = "/plans/{key}",
    tag = "plans",
    summary = "Change a plan's key or name",
    params(("key" = String, Path, description = "The plan's key")),
    request_body = PlanIn,
    responses((status = 200, description = "The plan", body = PlanResponse))
)]
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

#[utoipa::path(
    delete,
    path = "/plans/{key}",
    tag = "plans",
    summary = "Delete a plan name",
    params(("key" = String, Path, description = "The plan's key")),
    responses((status = 200, description = "Deleted", body = DeletedPlanResponse))
)]
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

#[utoipa::path(
    get,
    path = "/integrations/chargebee",
    tag = "integration",
    summary = "The webhook URL, Basic Auth and health (a full-access key)",
    responses((status = 200, description = "The integration", body = ChargebeeIntegrationResponse))
)]
async fn get_chargebee(
    State(state): State<AppState>,
    FullAccess(org): FullAccess,
) -> Result<Json<ChargebeeIntegrationResponse>> {
    Ok(Json(ChargebeeIntegrationResponse::from(
        &service::integration(&state, &org, Role::Owner).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
struct BasicAuthIn {
    username: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
struct ChargebeeIn {
    basic_auth: Option<BasicAuthIn>,
}

#[utoipa::path(
    put,
    path = "/integrations/chargebee",
    tag = "integration",
    summary = "Turn Basic Auth on (`basic_auth`) or off (`null`)",
    request_body = ChargebeeIn,
    responses((status = 200, description = "The integration", body = ChargebeeIntegrationResponse))
)]
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

#[derive(Deserialize, Default, ToSchema)]
struct RotateIn {
    /// Stop the previous URL at once instead of after the grace period.
    #[serde(default)]
    revoke_previous: bool,
}

#[utoipa::path(
    post,
    path = "/integrations/chargebee/rotate",
    tag = "integration",
    summary = "A new webhook URL; the previous one works for the grace period unless revoked",
    request_body = RotateIn,
    responses((status = 200, description = "The integration", body = ChargebeeIntegrationResponse))
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    outcome: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/webhook-events",
    tag = "events",
    summary = "Webhook events, newest first",
    params(EventQuery),
    responses((status = 200, description = "A page of events", body = EventPageResponse))
)]
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

#[utoipa::path(
    get,
    path = "/webhook-events/{event_id}",
    tag = "events",
    summary = "An event with its payload and every processing attempt",
    params(("event_id" = String, Path, description = "The event's id here, or Chargebee's event id")),
    responses((status = 200, description = "The event", body = EventDetailResponse))
)]
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

#[utoipa::path(
    post,
    path = "/webhook-events/{event_id}/replay",
    tag = "events",
    summary = "Process a stored event again (its history keeps every attempt)",
    params(("event_id" = String, Path, description = "The event's id here, or Chargebee's event id")),
    responses((status = 200, description = "The outcome of the replay", body = ReplayResponse))
)]
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

#[utoipa::path(
    get,
    path = "/commission-terms",
    tag = "commissions",
    summary = "The organization's default terms and their versions",
    responses((status = 200, description = "The terms", body = CommissionTermsResponse))
)]
async fn get_default_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<CommissionTermsResponse>> {
    let view = service::commissions::terms(&state, &org, None).await?;
    Ok(Json(view.into()))
}

#[utoipa::path(
    put,
    path = "/commission-terms",
    tag = "commissions",
    summary = "A new version of the default terms, from `effective_from` (default now)",
    request_body = super::openapi::TermsDoc,
    responses((status = 200, description = "The terms", body = CommissionTermsResponse))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewIn {
    #[schema(value_type = super::openapi::TermsDoc)]
    terms: backend::commission::TermsSpec,
    from: i64,
    to: i64,
}

#[utoipa::path(
    post,
    path = "/commission-terms/preview",
    tag = "commissions",
    summary = "What other default terms would have paid over a past period, beside what was earned; writes nothing",
    request_body = PreviewIn,
    responses((status = 200, description = "The preview", body = TermsPreviewResponse))
)]
async fn preview_default_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    body: std::result::Result<Json<PreviewIn>, JsonRejection>,
) -> Result<Json<TermsPreviewResponse>> {
    let Json(p) = body?;
    let preview = service::commissions::preview(&state, &org, None, &p.terms, p.from, p.to).await?;
    Ok(Json(preview.into()))
}

#[utoipa::path(
    post,
    path = "/partners/{key}/commission-terms/preview",
    tag = "commissions",
    summary = "What other terms would have paid one partner over a past period; writes nothing",
    params(("key" = String, Path, description = "The partner's key")),
    request_body = PreviewIn,
    responses((status = 200, description = "The preview", body = TermsPreviewResponse))
)]
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

#[utoipa::path(
    get,
    path = "/partners/{key}/commission-terms",
    tag = "commissions",
    summary = "A partner's own terms (an override of the default) and their versions",
    params(("key" = String, Path, description = "The partner's key")),
    responses((status = 200, description = "The terms", body = CommissionTermsResponse))
)]
async fn get_partner_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<CommissionTermsResponse>> {
    let view = service::commissions::terms(&state, &org, Some(&key)).await?;
    Ok(Json(view.into()))
}

#[utoipa::path(
    put,
    path = "/partners/{key}/commission-terms",
    tag = "commissions",
    summary = "A new version of a partner's own terms",
    params(("key" = String, Path, description = "The partner's key")),
    request_body = super::openapi::TermsDoc,
    responses((status = 200, description = "The terms", body = CommissionTermsResponse))
)]
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

#[utoipa::path(
    delete,
    path = "/partners/{key}/commission-terms",
    tag = "commissions",
    summary = "End a partner's own terms: the default applies from now",
    params(("key" = String, Path, description = "The partner's key")),
    responses((status = 200, description = "The terms", body = CommissionTermsResponse))
)]
async fn delete_partner_terms(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
) -> Result<Json<CommissionTermsResponse>> {
    let view = service::commissions::remove_partner_terms(&state, &org, &key, &who).await?;
    Ok(Json(view.into()))
}

#[utoipa::path(
    get,
    path = "/partners/{key}/balance",
    tag = "partners",
    summary = "A partner's commissions per currency: pending, approved, paid, clawed back",
    params(("key" = String, Path, description = "The partner's key")),
    responses((status = 200, description = "The balance", body = PartnerBalanceResponse))
)]
async fn partner_balance(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<PartnerBalanceResponse>> {
    let balance = service::commissions::balance(&state, &org, &key).await?;
    Ok(Json(balance.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/audit-log",
    tag = "settings",
    summary = "Who changed what, newest first (a full-access key)",
    params(AuditQuery),
    responses((status = 200, description = "A page of the audit log", body = AuditPageResponse))
)]
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

#[utoipa::path(
    get,
    path = "/settings",
    tag = "settings",
    summary = "The organization's settings",
    responses((status = 200, description = "The settings", body = SettingsResponse))
)]
async fn get_settings(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<SettingsResponse>> {
    Ok(Json(service::settings::get(&state, &org).await?.into()))
}

/// Any of the settings; the others stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsIn {
    reporting_currency: Option<String>,
    payload_retention_days: Option<i64>,
    attribution_window_days: Option<i64>,
}

#[utoipa::path(
    put,
    path = "/settings",
    tag = "settings",
    summary = "Change any of the settings; all are checked before any changes",
    request_body = SettingsIn,
    responses((status = 200, description = "The settings", body = SettingsResponse))
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CommissionQuery {
    partner: Option<String>,
    customer: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/commissions",
    tag = "commissions",
    summary = "Commission ledger entries, newest first",
    params(CommissionQuery),
    responses((status = 200, description = "A page of entries", body = CommissionPageResponse))
)]
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

#[derive(Deserialize, ToSchema)]
struct PayoutIn {
    up_to: i64,
}

#[derive(Deserialize, ToSchema)]
struct PaidIn {
    reference: String,
}

#[utoipa::path(
    get,
    path = "/payouts",
    tag = "payouts",
    summary = "Every payout run, newest first",
    responses((status = 200, description = "The runs", body = ListResponse<PayoutResponse>))
)]
async fn list_payouts(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
) -> Result<Json<ListResponse<PayoutResponse>>> {
    let runs = service::commissions::payouts(&state, &org).await?;
    Ok(Json(ListResponse::new(
        runs.into_iter().map(PayoutResponse::from).collect(),
    )))
}

#[utoipa::path(
    post,
    path = "/payouts",
    tag = "payouts",
    summary = "A draft payout run of the approved entries up to `up_to`",
    request_body = PayoutIn,
    responses((status = 201, description = "Created", body = PayoutResponse))
)]
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

#[utoipa::path(
    get,
    path = "/payouts/{id}",
    tag = "payouts",
    summary = "A payout run with its statements",
    params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, description = "The run", body = PayoutResponse))
)]
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

#[utoipa::path(
    get,
    path = "/payouts/{id}/csv",
    tag = "payouts",
    summary = "A run's statements as CSV, one row per statement",
    params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String))
)]
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

#[utoipa::path(
    get,
    path = "/commissions/csv",
    tag = "commissions",
    summary = "Commission entries as CSV, filtered as the list is",
    params(exports::ExportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String))
)]
async fn commissions_csv(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    query: std::result::Result<Query<exports::ExportQuery>, QueryRejection>,
) -> Result<axum::response::Response> {
    let Query(q) = query?;
    exports::commissions_csv(state, org, q)
}

#[utoipa::path(
    get,
    path = "/transactions/csv",
    tag = "customers",
    summary = "Transactions as CSV, filtered by customer or partner",
    params(exports::ExportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String))
)]
async fn transactions_csv(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    query: std::result::Result<Query<exports::ExportQuery>, QueryRejection>,
) -> Result<axum::response::Response> {
    let Query(q) = query?;
    Ok(exports::transactions_csv(state, org, q))
}

#[utoipa::path(
    post,
    path = "/payouts/{id}/paid",
    tag = "payouts",
    summary = "Mark a draft run paid with a reference: its entries become paid",
    params(("id" = String, Path, description = "The run's id")),
    request_body = PaidIn,
    responses((status = 200, description = "The run", body = PayoutResponse))
)]
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

#[utoipa::path(
    post,
    path = "/payouts/{id}/cancel",
    tag = "payouts",
    summary = "Cancel a draft run: its entries are free for the next one",
    params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, description = "The run", body = PayoutResponse))
)]
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

#[derive(Deserialize, ToSchema)]
struct PartnerUserIn {
    email: String,
}

#[utoipa::path(
    get,
    path = "/partners/{key}/users",
    tag = "partners",
    summary = "A partner's portal users and pending invites",
    params(("key" = String, Path, description = "The partner's key")),
    responses((status = 200, description = "Its users and invites", body = PartnerUsersResponse))
)]
async fn list_partner_users(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<PartnerUsersResponse>> {
    let (users, invites) = service::portal::users(&state, &org, &key).await?;
    Ok(Json(PartnerUsersResponse {
        data: users
            .into_iter()
            .map(|u| PartnerUserResponse {
                created_at: u.created_at,
                email: u.email,
                user_id: u.user_id,
            })
            .collect(),
        invites: invites
            .into_iter()
            .map(|i| PartnerInviteResponse {
                created_at: i.created_at,
                email: i.email,
                expires_at: i.expires_at,
                id: i.id,
            })
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/partners/{key}/users",
    tag = "partners",
    summary = "Invite a partner contact to the partner portal (a one-time link, valid 7 days)",
    params(("key" = String, Path, description = "The partner's key")),
    request_body = PartnerUserIn,
    responses((status = 201, description = "The invite link", body = PartnerInviteCreatedResponse))
)]
async fn invite_partner_user(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path(key): Path<String>,
    body: std::result::Result<Json<PartnerUserIn>, JsonRejection>,
) -> Result<(StatusCode, Json<PartnerInviteCreatedResponse>)> {
    let Json(b) = body?;
    let invite_url = service::portal::invite(&state, &org, &key, &b.email, &who).await?;
    Ok((
        StatusCode::CREATED,
        Json(PartnerInviteCreatedResponse { invite_url }),
    ))
}

#[utoipa::path(
    delete,
    path = "/partners/{key}/users/{user_id}",
    tag = "partners",
    summary = "Remove a partner user: their portal sessions end at once",
    params(
        ("key" = String, Path, description = "The partner's key"),
        ("user_id" = String, Path, description = "The partner user's id")
    ),
    responses((status = 200, description = "Removed", body = RemovedPartnerUserResponse))
)]
async fn remove_partner_user(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Who(who): Who,
    Path((key, user_id)): Path<(String, String)>,
) -> Result<Json<RemovedPartnerUserResponse>> {
    service::portal::remove_user(&state, &org, &key, &user_id, &who).await?;
    Ok(Json(RemovedPartnerUserResponse { removed: user_id }))
}
