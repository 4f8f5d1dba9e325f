//! Webhook ingestion: from a delivery (token, credentials, body) to a committed event and its
//! ledger changes. HTTP-agnostic: the server's handler maps [`DeliveryError`] to statuses.
//!
//! [`deliver`] is the one entry point. Order of work: find the tenant by token → check Basic
//! Auth → size limit and the bound on bodies in flight → read the body within its deadline →
//! parse once → strip card data → classify → one transaction that stores the event and applies
//! it. Anything that goes wrong after the tenant is known is recorded as an event the admin
//! can see.

use super::auth::{basic_auth_mac, constant_time_eq, sha256_hex};
use super::chargebee::{
    classify, envelope_from_value, peek_id_and_type, scrub_text, strip_card_data, BillingEvent,
    Rejection,
};
use super::domain::{random_id, OrgId};
use super::health::Refusal;
use super::storage::{EventOutcome, IngestItem, NewEvent, Retry, StorageError};
use super::{AppState, IngestFailure};
use serde_json::Value;
use shared::model::Outcome;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    /// No tenant has this token (or its grace period ended): 404, no hint.
    #[error("not found")]
    UnknownToken,
    #[error(
        "this webhook requires HTTP Basic Auth credentials; the ones sent are missing or wrong"
    )]
    Unauthorized,
    #[error("body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The client did not send the whole body in time: 408.
    #[error("the request body did not arrive in time")]
    TimedOut,
    /// The delivery is malformed (recorded as rejected): 400 with this message.
    #[error("{0}")]
    Rejected(String),
    /// The database is unavailable: 503 so Chargebee retries.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Webhook bodies in flight are at their bound: 503, come back in a few seconds.
    #[error("the service is temporarily unavailable")]
    Busy,
    #[error("internal error")]
    Internal,
}

impl From<StorageError> for DeliveryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable during a delivery");
                DeliveryError::Unavailable
            }
            StorageError::Invalid(cause) => {
                tracing::warn!(error = %cause, "the database refused a value of a delivery");
                DeliveryError::Rejected("the delivery holds a value that cannot be stored".into())
            }
            other => {
                tracing::error!(error = ?other, "storage error during a delivery");
                DeliveryError::Internal
            }
        }
    }
}

/// Largest part of a non-JSON body kept as evidence on a rejected event.
const EVIDENCE_BYTES: usize = 4096;
/// First retry of a failed event after this long; doubles per attempt.
const RETRY_BASE_MS: i64 = 30_000;
/// Failed events are retried automatically this many times, then wait for a replay.
pub const MAX_ATTEMPTS: i64 = 8;

pub fn retry_at(now: i64, attempts: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| now + RETRY_BASE_MS * (1 << attempts.clamp(0, 12)))
}

/// Finds the tenant of a webhook token and checks its Basic Auth (`basic`: the
/// `Authorization: Basic …` credentials sent, if any).
pub async fn authenticate(
    state: &AppState,
    token: &str,
    basic: Option<(&str, &str)>,
    now: i64,
) -> Result<OrgId, DeliveryError> {
    // Tokens are 43 base64url characters; anything else cannot match.
    if token.len() > 128 {
        return Err(DeliveryError::UnknownToken);
    }
    let found = state
        .store
        .integration_by_token_hash(&sha256_hex(token))
        .await?
        .ok_or(DeliveryError::UnknownToken)?;
    let integration = found.integration;
    if found.previous && integration.previous_valid_until.is_none_or(|t| t < now) {
        return Err(DeliveryError::UnknownToken);
    }
    let org = OrgId::from_trusted(integration.org_id);
    if let (Some(user), Some(mac)) = (
        integration.basic_auth_username.as_deref(),
        integration.basic_auth_password_mac.as_deref(),
    ) {
        let ok = match basic {
            Some((u, p)) => {
                let user_ok = constant_time_eq(u, user);
                let pass_ok =
                    constant_time_eq(&basic_auth_mac(&state.settings.secret_key, &org, p), mac);
                user_ok & pass_ok
            }
            None => false,
        };
        if !ok {
            record_rejection(
                state,
                &org,
                None,
                (Refusal::BasicAuth, &DeliveryError::Unauthorized.to_string()),
                now,
            )
            .await?;
            return Err(DeliveryError::Unauthorized);
        }
    }
    Ok(org)
}

/// Why the HTTP layer could not read a delivery's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit it was asked to read.
    TooLarge,
    /// The client stopped sending before the whole body arrived.
    TimedOut,
    /// Any other failure to read it (the connection broke, a bad chunk).
    Unreadable(String),
}

/// A webhook delivery as the HTTP layer hands it over: the URL token, the Basic Auth
/// credentials sent (if any), the body length the client declared (if any), and a way to
/// read the body up to a limit.
pub struct Delivery<'a, R> {
    pub token: &'a str,
    pub basic: Option<(&'a str, &'a str)>,
    pub declared_len: Option<usize>,
    pub read_body: R,
}

/// The one entry point of a webhook delivery: finds the tenant by token, checks Basic Auth,
/// enforces the size limit and the bound on bodies in flight, reads the body within its
/// deadline, and stores and applies it ([`receive`]). Every refusal after the tenant is
/// known is recorded as a rejected event the admin can see.
pub async fn deliver<R, F, B>(
    state: &AppState,
    delivery: Delivery<'_, R>,
) -> Result<EventOutcome, DeliveryError>
where
    R: FnOnce(usize) -> F,
    F: std::future::Future<Output = Result<B, BodyError>>,
    B: AsRef<[u8]>,
{
    let now = state.now();
    let org = authenticate(state, delivery.token, delivery.basic, now).await?;
    tracing::Span::current().record("org", org.as_str());
    let max = state.settings.max_body_bytes;
    if delivery.declared_len.is_some_and(|len| len > max) {
        return refuse(state, &org, DeliveryError::TooLarge(max), now).await;
    }
    // Bodies being read or waiting for their commit are bounded in bytes, across all
    // deliveries: past the bound, Chargebee is asked to come back (it retries).
    let reserve = delivery.declared_len.unwrap_or(max).max(1);
    let Some(_in_flight) = u32::try_from(reserve)
        .ok()
        .and_then(|n| state.webhook_bytes.clone().try_acquire_many_owned(n).ok())
    else {
        tracing::warn!(
            bytes = reserve,
            "webhook bodies in flight are at their bound; answering 503"
        );
        return Err(DeliveryError::Busy);
    };
    // A deadline for the whole body (an idle timeout resets with every frame).
    let read = tokio::time::timeout(state.settings.body_deadline, (delivery.read_body)(max));
    let body = match read.await {
        Ok(Ok(body)) => body,
        Err(_) | Ok(Err(BodyError::TimedOut)) => {
            return refuse(state, &org, DeliveryError::TimedOut, now).await
        }
        Ok(Err(BodyError::TooLarge)) => {
            return refuse(state, &org, DeliveryError::TooLarge(max), now).await
        }
        Ok(Err(BodyError::Unreadable(why))) => {
            let why = format!("could not read the request body: {why}");
            return refuse(state, &org, DeliveryError::Rejected(why), now).await;
        }
    };
    receive(state, &org, body, now).await
}

/// Records a delivery refused before its body was read (no payload kept; the reason is the
/// error's message) and answers with the error.
async fn refuse(
    state: &AppState,
    org: &OrgId,
    e: DeliveryError,
    now: i64,
) -> Result<EventOutcome, DeliveryError> {
    let refusal = match e {
        DeliveryError::TooLarge(_) => Refusal::TooLarge,
        DeliveryError::TimedOut => Refusal::TimedOut,
        _ => Refusal::Unreadable,
    };
    record_rejection(state, org, None, (refusal, &e.to_string()), now).await?;
    Err(e)
}

/// Records a delivery refused before parsing (no payload kept).
pub async fn record_rejection(
    state: &AppState,
    org: &OrgId,
    payload: Option<String>,
    (refusal, why): (Refusal, &str),
    now: i64,
) -> Result<(), DeliveryError> {
    let event = NewEvent {
        id: random_id("evt"),
        event_id: None,
        event_type: None,
        occurred_at: None,
        received_at: now,
        payload: payload.unwrap_or_default(),
        refusal: Some(refusal),
        card_data: false,
    };
    state
        .store
        .record_event(org, &event, Outcome::Rejected, Some(why), None)
        .await?;
    Ok(())
}

/// Keeps a parsed delivery as `rejected` with the reason; the answer is a 400 with it.
async fn keep_rejected(
    state: &AppState,
    org: &OrgId,
    event: &NewEvent,
    why: String,
) -> Result<EventOutcome, DeliveryError> {
    state
        .store
        .record_event(org, event, Outcome::Rejected, Some(&why), None)
        .await?;
    Err(DeliveryError::Rejected(why))
}

/// Whether a delivery holds Chargebee's card resource (`content.card` with fields), which
/// Chargebee leaves out when "Exclude card information from webhook call" is ticked.
fn carries_card_object(value: &Value) -> bool {
    value
        .get("content")
        .and_then(|c| c.get("card"))
        .and_then(Value::as_object)
        .is_some_and(|card| !card.is_empty())
}

/// Stores and applies one delivery for an authenticated tenant. `Ok` means committed.
///
/// The body is taken by value and dropped once parsed: while the delivery waits for its
/// group commit, the only copy of it is the payload in the queued item.
pub async fn receive(
    state: &AppState,
    org: &OrgId,
    body: impl AsRef<[u8]>,
    now: i64,
) -> Result<EventOutcome, DeliveryError> {
    let store = &state.store;
    let parsed = serde_json::from_slice::<Value>(body.as_ref());
    let mut value: Value = match parsed {
        Ok(v) => v,
        Err(e) => {
            let why = format!("body is not valid JSON: {e}");
            let evidence = scrub_text(body.as_ref(), EVIDENCE_BYTES);
            drop(body);
            record_rejection(state, org, Some(evidence), (Refusal::NotJson, &why), now).await?;
            return Err(DeliveryError::Rejected(why));
        }
    };
    drop(body);
    let card_data = carries_card_object(&value);
    let stripped = strip_card_data(&mut value);
    if stripped > 0 {
        tracing::info!(org = %org, fields = stripped, "card data removed from a delivery");
    }
    let payload = value.to_string();
    let (event_id, event_type) = peek_id_and_type(&value);
    let occurred_at = value.get("occurred_at").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let mut new_event = NewEvent {
        id: random_id("evt"),
        event_id,
        event_type,
        occurred_at: occurred_at.map(|s| s.saturating_mul(1000)),
        received_at: now,
        payload,
        refusal: None,
        card_data,
    };
    let envelope = match envelope_from_value(value) {
        Ok(env) => env,
        Err((rejection, _)) => {
            new_event.refusal = Some(match rejection {
                Rejection::NotJson(_) => Refusal::NotJson,
                Rejection::UnsupportedApiVersion(_) => Refusal::ApiVersion,
                _ => Refusal::Malformed,
            });
            return keep_rejected(state, org, &new_event, rejection.to_string()).await;
        }
    };
    let billing = match classify(&envelope) {
        Ok(BillingEvent::Other) => {
            let why = format!(
                "event type {} is not used by the ledger",
                envelope.event_type
            );
            return Ok(store
                .record_event(org, &new_event, Outcome::Ignored, Some(&why), None)
                .await?);
        }
        Ok(b) => b,
        Err(content) if content.is_invalid() => {
            // A value we refuse (amount, currency, id): never applied, kept for the admin.
            new_event.refusal = Some(Refusal::Invalid);
            return keep_rejected(state, org, &new_event, format!("not applied: {content}")).await;
        }
        Err(content) => {
            // Well-formed, but not what we expected: keep it, retry later, allow replay.
            let why = format!("could not read the event: {content}");
            return Ok(store
                .record_event(
                    org,
                    &new_event,
                    Outcome::Failed,
                    Some(&why),
                    retry_at(now, 0),
                )
                .await?);
        }
    };
    drop(envelope);
    let item = IngestItem {
        org: org.clone(),
        event: new_event,
        billing,
    };
    match state.ingest(item).await {
        Ok(outcome) => Ok(outcome),
        Err(IngestFailure {
            error: StorageError::Unavailable(cause),
            ..
        }) => {
            tracing::warn!(org = %org, error = %cause, "database unavailable; asking Chargebee to retry");
            Err(DeliveryError::Unavailable)
        }
        Err(IngestFailure { error, item }) => {
            let Some(item) = item else {
                tracing::error!(org = %org, error = ?error, "the ingestion writer stopped");
                return Err(DeliveryError::Unavailable);
            };
            let mut event = item.event;
            if let StorageError::Invalid(cause) = &error {
                // The database refused one of its values: keep it as rejected, without the
                // columns it may have refused (the payload is JSON text, always storable).
                tracing::warn!(org = %org, error = %cause, "a delivery holds a value the database refuses");
                event.event_id = None;
                event.event_type = None;
                event.refusal = Some(Refusal::Invalid);
                let why = "not applied: the event holds a value that cannot be stored";
                return keep_rejected(state, org, &event, why.into()).await;
            }
            // A bug or surprise while applying: keep the event as failed, retry it later.
            tracing::error!(org = %org, event = ?event.event_id, error = ?error, "processing failed");
            let why = format!("processing failed: {error}");
            Ok(store
                .record_event(org, &event, Outcome::Failed, Some(&why), retry_at(now, 0))
                .await?)
        }
    }
}

/// Applies parked events that earlier transactions left for the background, one share per
/// transaction, until none is left. Returns how many events were applied.
pub async fn continue_releases(state: &AppState) -> Result<usize, StorageError> {
    let mut applied = 0;
    while let Some(n) = state.store.continue_releases(state.now()).await? {
        applied += n;
        // Let other writers (deliveries) take the write connection between shares.
        tokio::task::yield_now().await;
    }
    Ok(applied)
}

/// Applies a stored event again (the admin's Replay). Failures are recorded on the event.
pub async fn replay(
    state: &AppState,
    org: &OrgId,
    id: &str,
    who: &crate::audit::Actor,
) -> Result<EventOutcome, StorageError> {
    let now = state.now();
    let before = state
        .store
        .event(org, id)
        .await?
        .map(|e| e.outcome.to_string());
    let outcome = replay_once(state, org, id, now).await?;
    let changes = crate::audit::changed("outcome", before, Some(outcome.outcome.to_string()))
        .into_iter()
        .collect();
    crate::audit::record(state, org, who, "event.replayed", Some(id), changes).await?;
    Ok(outcome)
}

async fn replay_once(
    state: &AppState,
    org: &OrgId,
    id: &str,
    now: i64,
) -> Result<EventOutcome, StorageError> {
    match state.store.reprocess(org, id, now).await {
        Ok(o) => Ok(o),
        Err(
            e @ (StorageError::NotFound | StorageError::Conflict(_) | StorageError::Unavailable(_)),
        ) => Err(e),
        Err(e) => {
            tracing::error!(org = %org, id, error = ?e, "replay failed");
            let why = format!("processing failed: {e}");
            state
                .store
                .mark_failed(org, id, &why, Retry::Keep, now)
                .await?;
            Ok(EventOutcome {
                outcome: Outcome::Failed,
                detail: Some(why),
                id: id.to_string(),
                released: 0,
            })
        }
    }
}

/// Retries failed events that are due. Safe to run on every instance: each event is claimed
/// by one (row locks on PostgreSQL; a single writer on SQLite). Returns how many were tried.
pub async fn retry_due(state: &AppState) -> Result<usize, StorageError> {
    let now = state.now();
    let due = state.store.claim_due_events(now, 50, now + 300_000).await?;
    for event in &due {
        let org = OrgId::from_trusted(event.org_id.clone());
        match state.store.reprocess(&org, &event.id, now).await {
            Ok(outcome) => {
                tracing::info!(org = %org, id = %event.id, outcome = %outcome.outcome, "retried a failed event")
            }
            Err(StorageError::Unavailable(e)) => return Err(StorageError::Unavailable(e)),
            Err(e) => {
                let why = format!("processing failed: {e}");
                state
                    .store
                    .mark_failed(
                        &org,
                        &event.id,
                        &why,
                        Retry::At(retry_at(now, event.attempts + 1)),
                        now,
                    )
                    .await?;
            }
        }
    }
    Ok(due.len())
}

/// "Send test event": a harmless event (a type the ledger ignores) through the same pipeline
/// as a delivery to the tenant's webhook URL (parsing, card stripping, classification, the
/// group commit), in-process: the dashboard user is already authenticated, so neither the
/// URL's token nor Basic Auth is involved, and nothing calls this server over HTTP.
pub async fn send_test_event(state: &AppState, org: &OrgId) -> Result<EventOutcome, DeliveryError> {
    let now = state.now();
    receive(state, org, test_event_body(now), now).await
}

/// A harmless event (an event type the ledger ignores) for the "Send test event" button.
pub fn test_event_body(now: i64) -> String {
    serde_json::json!({
        "id": random_id("ev_test"),
        "occurred_at": now / 1000,
        "source": "partner_ledger",
        "object": "event",
        "api_version": "v2",
        "event_type": "partner_ledger_test",
        "webhook_status": "not_configured",
        "content": {"message": "Test event sent from Settings > Integrations > Webhooks"}
    })
    .to_string()
}
