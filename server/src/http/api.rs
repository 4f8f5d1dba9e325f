//! The REST API under `/api/v1`, authenticated by a per-organization API key
//! (`Authorization: Bearer pl_…`). Every handler starts from the key's organization; another
//! organization's resource answers 404 exactly like a missing one.

use super::error::ApiError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use backend::auth::sha256_hex;
use backend::domain::OrgId;
use backend::storage::EventFilter;
use backend::{ingest, now_ms, service, AppState};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::model::{
    ApiScope, ChargebeeIntegration, Customer, EventSummary, Partner, Plan, Role, OUTCOMES,
};

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
        if let Err(e) = state.store.touch_api_key(&found.id, now_ms()).await {
            tracing::warn!(error = %e, "could not record API key use");
        }
        tracing::Span::current().record("org", found.org_id.as_str());
        let reads = matches!(parts.method, Method::GET | Method::HEAD);
        if found.scope == ApiScope::Read && !reads {
            return Err(read_only());
        }
        Ok(ApiOrg(OrgId::from_trusted(found.org_id), found.scope))
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
        .fallback(|| async { ApiError::not_found() })
}

fn customer_json(c: &Customer) -> Value {
    json!({
        "key": c.key,
        "email": c.email,
        "name": c.name,
        "partner_key": c.partner_key,
        "chargebee_customer_id": c.chargebee_id,
        "created_at": c.created_at,
    })
}

fn partner_json(p: &Partner) -> Value {
    json!({
        "key": p.key,
        "name": p.name,
        "email": p.email,
        "auto_created": p.auto_created,
        "customers": p.customers,
        // One currency: its total. Several (or none): null; `revenue` has every currency.
        "net_revenue": p.net_revenue,
        "currency": p.currency,
        "revenue": p.revenue.iter().map(|t| json!({"currency": t.currency, "net_revenue": t.amount})).collect::<Vec<_>>(),
    })
}

fn plan_json(p: &Plan) -> Value {
    json!({"key": p.key, "name": p.name, "subscriptions": p.subscriptions})
}

fn integration_json(i: &ChargebeeIntegration) -> Value {
    json!({
        "webhook_url": i.webhook_url,
        "basic_auth_username": i.basic_auth_username,
        "previous_url_valid_until": i.previous_url_valid_until,
        "last_event_at": i.last_event_at,
    })
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
    body: std::result::Result<Json<CustomerIn>, JsonRejection>,
) -> Result<Response> {
    let Json(c) = body?;
    let (customer, released) = service::create_customer(
        &state,
        &org,
        &c.key,
        c.email.as_deref(),
        c.name.as_deref(),
        c.partner_key.as_deref(),
    )
    .await?;
    let mut body = customer_json(&customer);
    body["reconciled_events"] = json!(released);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_customer(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<Value>> {
    let c = service::customer(&state, &org, &key).await?;
    Ok(Json(customer_json(&c)))
}

async fn customer_transactions(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<Value>> {
    let c = service::customer(&state, &org, &key).await?;
    let txns = state.store.transactions(&org, &c.id).await?;
    let data: Vec<Value> = txns
        .iter()
        .filter(|t| t.removed_reason.is_none())
        .map(|t| {
            json!({
                "id": t.chargebee_id,
                "amount": t.amount,
                "amount_refunded": t.amount_refunded,
                "net_amount": t.net_amount(),
                "currency": t.currency,
                "occurred_at": t.occurred_at,
                "subscription_id": t.subscription_id,
                "invoice_id": t.invoice_id,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

async fn customer_subscriptions(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<Value>> {
    let c = service::customer(&state, &org, &key).await?;
    let subs = state.store.subscriptions(&org, &c.id).await?;
    let data: Vec<Value> = subs
        .iter()
        .map(|s| {
            json!({
                "id": s.chargebee_id,
                "plan_key": s.plan_key,
                "plan_name": s.plan_name,
                "status": s.status,
                "mrr": s.mrr,
                "currency": s.currency,
                "current_term_start": s.current_term_start,
                "current_term_end": s.current_term_end,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
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
) -> Result<Json<Value>> {
    let partners = state.store.partners(&org).await?;
    Ok(Json(
        json!({"data": partners.iter().map(partner_json).collect::<Vec<_>>()}),
    ))
}

async fn get_partner(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<Value>> {
    let p = state
        .store
        .partner(&org, &key)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(partner_json(&p)))
}

async fn create_partner(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    body: std::result::Result<Json<PartnerIn>, JsonRejection>,
) -> Result<Response> {
    let Json(p) = body?;
    let partner = service::save_partner(
        &state,
        &org,
        &p.key,
        p.name.as_deref(),
        p.email.as_deref(),
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(partner_json(&partner))).into_response())
}

#[derive(Deserialize)]
struct PartnerUpdate {
    name: Option<String>,
    email: Option<String>,
}

async fn update_partner(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
    body: std::result::Result<Json<PartnerUpdate>, JsonRejection>,
) -> Result<Json<Value>> {
    let Json(p) = body?;
    let partner = service::save_partner(
        &state,
        &org,
        &key,
        p.name.as_deref(),
        p.email.as_deref(),
        false,
    )
    .await?;
    Ok(Json(partner_json(&partner)))
}

#[derive(Deserialize)]
struct PlanIn {
    key: String,
    name: String,
}

async fn list_plans(State(state): State<AppState>, ApiOrg(org, _): ApiOrg) -> Result<Json<Value>> {
    let plans = state.store.plans(&org).await?;
    Ok(Json(
        json!({"data": plans.iter().map(plan_json).collect::<Vec<_>>()}),
    ))
}

async fn create_plan(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    body: std::result::Result<Json<PlanIn>, JsonRejection>,
) -> Result<Response> {
    let Json(p) = body?;
    let plan = service::create_plan(&state, &org, &p.key, &p.name).await?;
    Ok((StatusCode::CREATED, Json(plan_json(&plan))).into_response())
}

async fn update_plan(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
    body: std::result::Result<Json<PlanIn>, JsonRejection>,
) -> Result<Json<Value>> {
    let Json(p) = body?;
    let plan = service::update_plan(&state, &org, &key, &p.key, &p.name).await?;
    Ok(Json(plan_json(&plan)))
}

async fn delete_plan(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(key): Path<String>,
) -> Result<Json<Value>> {
    let affected = state.store.delete_plan(&org, &key).await?;
    Ok(Json(
        json!({"deleted": key, "subscriptions_without_plan_name": affected}),
    ))
}

async fn get_chargebee(
    State(state): State<AppState>,
    FullAccess(org): FullAccess,
) -> Result<Json<Value>> {
    Ok(Json(integration_json(
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
    body: std::result::Result<Json<ChargebeeIn>, JsonRejection>,
) -> Result<Json<Value>> {
    let Json(c) = body?;
    let creds = c
        .basic_auth
        .as_ref()
        .map(|b| (b.username.as_str(), b.password.as_str()));
    Ok(Json(integration_json(
        &service::set_basic_auth(&state, &org, creds).await?,
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
    body: Option<Json<RotateIn>>,
) -> Result<Json<Value>> {
    let revoke = body.is_some_and(|Json(b)| b.revoke_previous);
    Ok(Json(integration_json(
        &service::rotate_webhook_url(&state, &org, revoke).await?,
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
) -> Result<Json<Value>> {
    let Query(q) = query?;
    let outcome = q.outcome.filter(|o| !o.is_empty());
    if let Some(o) = &outcome {
        if !OUTCOMES.contains(&o.as_str()) {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("outcome must be one of {}", OUTCOMES.join(", ")),
            );
            e.fields = vec![shared::error::FieldMessage {
                field: "outcome".into(),
                message: format!("must be one of {}", OUTCOMES.join(", ")),
            }];
            return Err(e);
        }
    }
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
    // An event's JSON is the `EventSummary` shape (its field names are the API's).
    Ok(Json(
        json!({"data": page.items, "next_cursor": page.next_cursor}),
    ))
}

async fn get_event(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(event_id): Path<String>,
) -> Result<Json<Value>> {
    let e = state
        .store
        .event(&org, &event_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let payload: Value =
        serde_json::from_str(&e.payload).unwrap_or(Value::String(e.payload.clone()));
    let mut body = json!(EventSummary::from(e));
    body["payload"] = payload;
    Ok(Json(body))
}

async fn replay_event(
    State(state): State<AppState>,
    ApiOrg(org, _): ApiOrg,
    Path(event_id): Path<String>,
) -> Result<Json<Value>> {
    let e = state
        .store
        .event(&org, &event_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let outcome = ingest::replay(&state, &org, &e.id).await?;
    Ok(Json(json!({
        "id": outcome.id,
        "outcome": outcome.outcome,
        "detail": outcome.detail,
        "reconciled_events": outcome.released,
    })))
}
