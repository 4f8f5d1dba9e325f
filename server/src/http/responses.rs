//! The JSON bodies the REST API and the webhook endpoint answer with, one type per shape.
//!
//! An `Option` field is always sent (`null` when `None`): clients see every field of a shape
//! whether or not it has a value. Fields are declared in alphabetical order, the order in
//! which the bodies were sent when they were built as `serde_json::Value`s.

use backend::storage::EventOutcome;
use serde::Serialize;
use serde_json::Value;
use shared::model::{
    ChargebeeIntegration, CurrencyTotal, Customer, EventDetail, EventSummary, Outcome, Partner,
    Plan, Subscription, Transaction,
};
use utoipa::ToSchema;

/// `{"data": [...]}`: a list that is not paginated.
#[derive(Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub data: Vec<T>,
}

impl<T> ListResponse<T> {
    pub fn new(data: Vec<T>) -> Self {
        Self { data }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CustomerResponse {
    pub chargebee_customer_id: Option<String>,
    pub created_at: i64,
    pub email: Option<String>,
    pub key: String,
    pub name: Option<String>,
    pub partner_key: Option<String>,
}

impl From<&Customer> for CustomerResponse {
    fn from(c: &Customer) -> Self {
        Self {
            chargebee_customer_id: c.chargebee_id.clone(),
            created_at: c.created_at,
            email: c.email.clone(),
            key: c.key.clone(),
            name: c.name.clone(),
            partner_key: c.partner_key.clone(),
        }
    }
}

/// A created customer, and how many parked events its creation released and applied.
#[derive(Serialize, ToSchema)]
pub struct CreatedCustomerResponse {
    #[serde(flatten)]
    pub customer: CustomerResponse,
    pub reconciled_events: usize,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerResponse {
    pub auto_created: bool,
    /// Commissions per currency (commissions less clawbacks), minor units.
    pub earnings: Vec<EarningsResponse>,
    /// `earnings` in the reporting currency, when some is in another currency and every
    /// payment's exchange rate converts; with how it was converted.
    pub earnings_converted: Option<ConvertedTotalResponse>,
    pub currency: Option<String>,
    pub customers: i64,
    pub email: Option<String>,
    pub key: String,
    pub name: Option<String>,
    /// One currency: its total. Several (or none): null; `revenue` has every currency.
    pub net_revenue: Option<i64>,
    pub revenue: Vec<RevenueResponse>,
    /// `revenue` likewise.
    pub revenue_converted: Option<ConvertedTotalResponse>,
}

/// A total in the reporting currency, converted at Chargebee's exchange rates.
#[derive(Serialize, ToSchema)]
pub struct ConvertedTotalResponse {
    pub amount: i128,
    pub currency: String,
    pub how: String,
}

fn converted_total(c: &Option<shared::model::ConvertedTotal>) -> Option<ConvertedTotalResponse> {
    c.as_ref().map(|c| ConvertedTotalResponse {
        amount: c.amount,
        currency: c.currency.clone(),
        how: c.how.clone(),
    })
}

impl From<&Partner> for PartnerResponse {
    fn from(p: &Partner) -> Self {
        Self {
            auto_created: p.auto_created,
            earnings: p
                .earnings
                .iter()
                .map(|t| EarningsResponse {
                    amount: t.amount,
                    currency: t.currency.clone(),
                })
                .collect(),
            earnings_converted: converted_total(&p.earnings_converted),
            revenue_converted: converted_total(&p.revenue_converted),
            currency: p.currency.clone(),
            customers: p.customers,
            email: p.email.clone(),
            key: p.key.clone(),
            name: p.name.clone(),
            net_revenue: p.net_revenue,
            revenue: p.revenue.iter().map(RevenueResponse::from).collect(),
        }
    }
}

/// A partner's commissions in one currency.
#[derive(Serialize, ToSchema)]
pub struct EarningsResponse {
    pub amount: i128,
    pub currency: String,
}

/// A partner's net revenue in one currency.
#[derive(Serialize, ToSchema)]
pub struct RevenueResponse {
    pub currency: String,
    pub net_revenue: i128,
}

impl From<&CurrencyTotal> for RevenueResponse {
    fn from(t: &CurrencyTotal) -> Self {
        Self {
            currency: t.currency.clone(),
            net_revenue: t.amount,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlanResponse {
    pub key: String,
    pub name: String,
    pub subscriptions: i64,
}

impl From<&Plan> for PlanResponse {
    fn from(p: &Plan) -> Self {
        Self {
            key: p.key.clone(),
            name: p.name.clone(),
            subscriptions: p.subscriptions,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeletedPlanResponse {
    /// The deleted plan's key.
    pub deleted: String,
    pub subscriptions_without_plan_name: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TransactionResponse {
    pub amount: i64,
    pub amount_refunded: i64,
    /// Chargebee's `base_currency_code`, when it sent one.
    pub base_currency_code: Option<String>,
    /// What it earned its partner, net of clawbacks, in `currency`; `null` without entries.
    pub commission: Option<i64>,
    pub currency: String,
    /// Chargebee's `exchange_rate` (units of `currency` per unit of the base currency).
    pub exchange_rate: Option<String>,
    /// Chargebee's transaction id.
    pub id: String,
    pub invoice_id: Option<String>,
    pub net_amount: i64,
    pub occurred_at: i64,
    pub subscription_id: Option<String>,
}

impl From<&Transaction> for TransactionResponse {
    fn from(t: &Transaction) -> Self {
        Self {
            amount: t.amount,
            amount_refunded: t.amount_refunded,
            base_currency_code: t.base_currency_code.clone(),
            commission: t.commission,
            currency: t.currency.clone(),
            exchange_rate: t.exchange_rate.clone(),
            id: t.chargebee_id.clone(),
            invoice_id: t.invoice_id.clone(),
            net_amount: t.net_amount(),
            occurred_at: t.occurred_at,
            subscription_id: t.subscription_id.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionResponse {
    pub currency: Option<String>,
    pub current_term_end: Option<i64>,
    pub current_term_start: Option<i64>,
    /// Chargebee's subscription id.
    pub id: String,
    pub mrr: Option<i64>,
    pub plan_key: Option<String>,
    pub plan_name: Option<String>,
    pub status: String,
}

impl From<&Subscription> for SubscriptionResponse {
    fn from(s: &Subscription) -> Self {
        Self {
            currency: s.currency.clone(),
            current_term_end: s.current_term_end,
            current_term_start: s.current_term_start,
            id: s.chargebee_id.clone(),
            mrr: s.mrr,
            plan_key: s.plan_key.clone(),
            plan_name: s.plan_name.clone(),
            status: s.status.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChargebeeIntegrationResponse {
    pub basic_auth_username: Option<String>,
    pub health: HealthResponse,
    pub last_event_at: Option<i64>,
    pub previous_url_valid_until: Option<i64>,
    pub webhook_url: String,
}

impl From<&ChargebeeIntegration> for ChargebeeIntegrationResponse {
    fn from(i: &ChargebeeIntegration) -> Self {
        Self {
            basic_auth_username: i.basic_auth_username.clone(),
            health: HealthResponse::from(&i.health),
            last_event_at: i.last_event_at,
            previous_url_valid_until: i.previous_url_valid_until,
            webhook_url: i.webhook_url.clone(),
        }
    }
}

/// Deliveries per outcome over a period.
#[derive(Serialize, ToSchema)]
pub struct OutcomeCountResponse {
    pub count: i64,
    pub outcome: String,
}

/// The integration's health: see `docs/webhooks.md` for when each alert shows and clears.
#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    pub alerts: Vec<HealthAlertResponse>,
    pub counts_24h: Vec<OutcomeCountResponse>,
    pub counts_7d: Vec<OutcomeCountResponse>,
    pub last_delivery_at: Option<i64>,
}

/// An alert while its cause lasts.
#[derive(Serialize, ToSchema)]
pub struct HealthAlertResponse {
    pub advice: String,
    pub count_7d: i64,
    /// `quiet`, `basic_auth`, `api_version`, `not_json`, `too_large` or `card_data`.
    pub kind: String,
    pub last_seen_at: i64,
    pub title: String,
}

impl From<&shared::model::IntegrationHealth> for HealthResponse {
    fn from(h: &shared::model::IntegrationHealth) -> Self {
        let counts = |c: &[(String, i64)]| {
            c.iter()
                .map(|(outcome, count)| OutcomeCountResponse {
                    count: *count,
                    outcome: outcome.clone(),
                })
                .collect()
        };
        Self {
            alerts: h
                .alerts
                .iter()
                .map(|a| HealthAlertResponse {
                    advice: a.advice.clone(),
                    count_7d: a.count_7d,
                    kind: a.kind.clone(),
                    last_seen_at: a.last_seen_at,
                    title: a.title.clone(),
                })
                .collect(),
            counts_24h: counts(&h.counts_24h),
            counts_7d: counts(&h.counts_7d),
            last_delivery_at: h.last_delivery_at,
        }
    }
}

/// One row of the webhook event log (the field names of [`EventSummary`]).
#[derive(Serialize, ToSchema)]
pub struct EventSummaryResponse {
    pub attempts: i32,
    pub customer_key: Option<String>,
    pub detail: Option<String>,
    /// Chargebee's event id.
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// Our row id.
    pub id: String,
    pub occurred_at: Option<i64>,
    #[schema(value_type = super::openapi::OutcomeDoc)]
    pub outcome: Outcome,
    pub received_at: i64,
}

impl From<EventSummary> for EventSummaryResponse {
    fn from(e: EventSummary) -> Self {
        Self {
            attempts: e.attempts,
            customer_key: e.customer_key,
            detail: e.detail,
            event_id: e.event_id,
            event_type: e.event_type,
            id: e.id,
            occurred_at: e.occurred_at,
            outcome: e.outcome,
            received_at: e.received_at,
        }
    }
}

/// A page of the webhook event log; `next_cursor` is `null` on the last page.
#[derive(Serialize, ToSchema)]
pub struct EventPageResponse {
    pub data: Vec<EventSummaryResponse>,
    pub next_cursor: Option<String>,
}

/// One webhook event: its summary's fields and the stored payload.
#[derive(Serialize, ToSchema)]
pub struct EventDetailResponse {
    pub attempts: i32,
    pub customer_key: Option<String>,
    pub detail: Option<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// The outcome of its first attempt (`outcome` is the latest).
    pub first_outcome: String,
    /// Every attempt, oldest first: when, outcome, detail.
    pub history: Vec<AttemptResponse>,
    pub id: String,
    pub occurred_at: Option<i64>,
    #[schema(value_type = super::openapi::OutcomeDoc)]
    pub outcome: Outcome,
    /// The stored payload as JSON; as a string when it is not JSON (empty once pruned).
    #[schema(value_type = Value)]
    pub payload: Value,
    /// When the payload was pruned, past the organization's retention.
    pub payload_pruned_at: Option<i64>,
    pub received_at: i64,
}

impl From<EventDetail> for EventDetailResponse {
    fn from(e: EventDetail) -> Self {
        let payload: Value =
            serde_json::from_str(&e.payload).unwrap_or(Value::String(e.payload.clone()));
        Self {
            attempts: e.attempts,
            customer_key: e.customer_key,
            detail: e.detail,
            event_id: e.event_id,
            event_type: e.event_type,
            first_outcome: e
                .history
                .first()
                .map_or_else(|| e.outcome.to_string(), |a| a.outcome.clone()),
            history: e
                .history
                .into_iter()
                .map(|a| AttemptResponse {
                    at: a.at,
                    detail: a.detail,
                    outcome: a.outcome,
                })
                .collect(),
            id: e.id,
            occurred_at: e.occurred_at,
            outcome: e.outcome,
            payload,
            payload_pruned_at: e.payload_pruned_at,
            received_at: e.received_at,
        }
    }
}

/// One processing attempt of an event.
#[derive(Serialize, ToSchema)]
pub struct AttemptResponse {
    pub at: i64,
    pub detail: Option<String>,
    pub outcome: String,
}

/// What replaying an event did.
#[derive(Serialize, ToSchema)]
pub struct ReplayResponse {
    pub detail: Option<String>,
    /// Our row id for the event.
    pub id: String,
    #[schema(value_type = super::openapi::OutcomeDoc)]
    pub outcome: Outcome,
    pub reconciled_events: usize,
}

impl From<EventOutcome> for ReplayResponse {
    fn from(o: EventOutcome) -> Self {
        Self {
            detail: o.detail,
            id: o.id,
            outcome: o.outcome,
            reconciled_events: o.released,
        }
    }
}

/// The answer to an accepted webhook delivery.
#[derive(Serialize, ToSchema)]
pub struct WebhookDeliveryResponse {
    pub detail: Option<String>,
    /// Our row id for the event (the original's for a duplicate).
    pub event: String,
    #[schema(value_type = super::openapi::OutcomeDoc)]
    pub outcome: Outcome,
}

impl From<EventOutcome> for WebhookDeliveryResponse {
    fn from(o: EventOutcome) -> Self {
        Self {
            detail: o.detail,
            event: o.id,
            outcome: o.outcome,
        }
    }
}

/// The answer to a refused webhook delivery: `{"error": "<why>"}`.
#[derive(Serialize, ToSchema)]
pub struct WebhookErrorResponse {
    pub error: String,
}

/// One version of commission terms.
#[derive(Serialize, ToSchema)]
pub struct TermsVersionResponse {
    pub created_at: i64,
    pub effective_from: i64,
    /// `null`: a partner's override ended here.
    #[schema(value_type = Option<super::openapi::TermsDoc>)]
    pub terms: Option<backend::commission::TermsSpec>,
}

/// Commission terms: those in force now (`null` if none), in plain language, and every
/// version, oldest first.
#[derive(Serialize, ToSchema)]
pub struct CommissionTermsResponse {
    pub description: Option<String>,
    #[schema(value_type = Option<super::openapi::TermsDoc>)]
    pub terms: Option<backend::commission::TermsSpec>,
    pub versions: Vec<TermsVersionResponse>,
}

impl From<backend::service::commissions::TermsView> for CommissionTermsResponse {
    fn from(v: backend::service::commissions::TermsView) -> Self {
        Self {
            description: v.description,
            terms: v.terms,
            versions: v
                .versions
                .into_iter()
                .map(|v| TermsVersionResponse {
                    created_at: v.created_at,
                    effective_from: v.effective_from,
                    terms: v.terms,
                })
                .collect(),
        }
    }
}

/// One commission ledger entry.
#[derive(Serialize, ToSchema)]
pub struct CommissionEntryResponse {
    pub amount: i64,
    pub currency: String,
    pub customer_key: String,
    pub id: String,
    /// `commission`, `clawback` or `reversal`.
    pub kind: String,
    pub occurred_at: i64,
    pub partner_key: String,
    pub payable_at: i64,
    pub payout_id: Option<String>,
    /// `pending`, `approved` or `paid`.
    pub status: String,
    pub transaction_id: String,
    /// The webhook event that recorded it (a clawback: its refund's event; otherwise its
    /// payment's), as `GET /api/v1/webhook-events/{id}` names it; `null` when not known.
    pub webhook_event_id: Option<String>,
}

impl CommissionEntryResponse {
    pub fn new(e: shared::model::CommissionEntry) -> Self {
        Self {
            status: e.status,
            amount: e.amount,
            currency: e.currency,
            customer_key: e.customer_key,
            id: e.id,
            kind: e.kind,
            occurred_at: e.occurred_at,
            partner_key: e.partner_key,
            payable_at: e.payable_at,
            payout_id: e.payout_id,
            transaction_id: e.transaction_id,
            webhook_event_id: e.webhook_event_id,
        }
    }
}

/// A page of commission entries; `next_cursor` is `null` on the last page.
#[derive(Serialize, ToSchema)]
pub struct CommissionPageResponse {
    pub data: Vec<CommissionEntryResponse>,
    pub next_cursor: Option<String>,
}

/// A partner's commissions in one currency (minor units).
#[derive(Serialize, ToSchema)]
pub struct BalanceResponse {
    pub approved: i128,
    pub clawed_back: i128,
    pub currency: String,
    pub paid: i128,
    pub pending: i128,
}

impl From<shared::model::Balance> for BalanceResponse {
    fn from(b: shared::model::Balance) -> Self {
        Self {
            approved: b.approved,
            clawed_back: b.clawed_back,
            currency: b.currency,
            paid: b.paid,
            pending: b.pending,
        }
    }
}

/// A partner's balance per currency and, where every figure can be converted at Chargebee's
/// exchange rates, the same figures in the organization's reporting currency.
#[derive(Serialize, ToSchema)]
pub struct PartnerBalanceResponse {
    pub converted: Option<ConvertedBalanceResponse>,
    pub data: Vec<BalanceResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct ConvertedBalanceResponse {
    pub approved: i128,
    pub clawed_back: i128,
    pub currency: String,
    /// How it was converted, in plain words.
    pub how: String,
    pub paid: i128,
    pub pending: i128,
}

impl From<shared::model::PartnerBalance> for PartnerBalanceResponse {
    fn from(b: shared::model::PartnerBalance) -> Self {
        Self {
            converted: b.converted.map(|c| ConvertedBalanceResponse {
                approved: c.approved,
                clawed_back: c.clawed_back,
                currency: c.currency,
                how: c.how,
                paid: c.paid,
                pending: c.pending,
            }),
            data: b.lines.into_iter().map(BalanceResponse::from).collect(),
        }
    }
}

/// What other terms would have paid over a past period, next to what was earned (a preview:
/// nothing is written).
#[derive(Serialize, ToSchema)]
pub struct TermsPreviewResponse {
    /// The terms previewed, in plain language.
    pub description: String,
    pub from: i64,
    /// Payments left out: under a partner's own terms, which the default does not reach.
    pub left_out: i64,
    pub lines: Vec<PreviewLineResponse>,
    /// Payments the terms were applied to.
    pub payments: i64,
    pub to: i64,
}

/// One currency of a preview (minor units).
#[derive(Serialize, ToSchema)]
pub struct PreviewLineResponse {
    /// What the entries of those payments sum to.
    pub actual: i128,
    pub currency: String,
    pub payments: i64,
    /// What the previewed terms would have paid.
    pub proposed: i128,
}

impl From<shared::model::TermsPreview> for TermsPreviewResponse {
    fn from(p: shared::model::TermsPreview) -> Self {
        Self {
            description: p.description,
            from: p.from,
            left_out: p.left_out,
            lines: p
                .lines
                .into_iter()
                .map(|l| PreviewLineResponse {
                    actual: l.actual,
                    currency: l.currency,
                    payments: l.payments,
                    proposed: l.proposed,
                })
                .collect(),
            payments: p.payments,
            to: p.to,
        }
    }
}

/// The organization's settings.
#[derive(Serialize, ToSchema)]
pub struct SettingsResponse {
    /// How many days an unmatched event waits for its customer before it is not attributed.
    pub attribution_window_days: i64,
    /// How many days webhook payloads are kept (the ledger, outcomes and attempts stay).
    pub payload_retention_days: i64,
    /// The currency reports convert into (ISO 4217).
    pub reporting_currency: String,
}

impl From<backend::service::settings::OrgSettings> for SettingsResponse {
    fn from(s: backend::service::settings::OrgSettings) -> Self {
        Self {
            attribution_window_days: s.attribution_window_days,
            payload_retention_days: s.payload_retention_days,
            reporting_currency: s.reporting_currency,
        }
    }
}

/// A payout run's statement: one partner, one currency (minor units).
#[derive(Serialize, ToSchema)]
pub struct StatementResponse {
    pub amount: i64,
    pub currency: String,
    pub entries: i64,
    pub partner_key: String,
}

/// A payout run (`draft`, `paid` or `cancelled`) and its statements.
#[derive(Serialize, ToSchema)]
pub struct PayoutResponse {
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub id: String,
    /// The run's place among the organization's runs: 1, 2, …
    pub number: i64,
    pub reference: Option<String>,
    /// Empty in the list of runs; see `totals`.
    pub statements: Vec<StatementResponse>,
    pub status: String,
    /// Per currency: what the run pays and in how many statements.
    pub totals: Vec<RunTotalResponse>,
    pub up_to: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RunTotalResponse {
    pub amount: i128,
    pub currency: String,
    pub statements: i64,
}

impl From<shared::model::PayoutRun> for PayoutResponse {
    fn from(p: shared::model::PayoutRun) -> Self {
        Self {
            closed_at: p.closed_at,
            created_at: p.created_at,
            id: p.id,
            number: p.number,
            reference: p.reference,
            totals: p
                .totals
                .into_iter()
                .map(|t| RunTotalResponse {
                    amount: t.amount,
                    currency: t.currency,
                    statements: t.statements,
                })
                .collect(),
            statements: p
                .statements
                .into_iter()
                .map(|s| StatementResponse {
                    amount: s.amount,
                    currency: s.currency,
                    entries: s.entries,
                    partner_key: s.partner_key,
                })
                .collect(),
            status: p.status,
            up_to: p.up_to,
        }
    }
}

/// One row of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryResponse {
    pub action: String,
    pub actor: AuditActorResponse,
    pub at: i64,
    /// The changed fields, before and after (never a secret).
    pub changes: Vec<AuditChangeResponse>,
    pub id: String,
    pub ip: Option<String>,
    pub target: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditActorResponse {
    pub id: Option<String>,
    /// `user`, `api_key` or `system`.
    pub kind: String,
    /// The user's email, or the key's name and prefix.
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditChangeResponse {
    pub after: Option<String>,
    pub before: Option<String>,
    pub field: String,
}

/// A page of the audit log, newest first; `next_cursor` is `null` on the last page.
#[derive(Serialize, ToSchema)]
pub struct AuditPageResponse {
    pub data: Vec<AuditEntryResponse>,
    pub next_cursor: Option<String>,
}

impl From<shared::model::Page<shared::model::AuditEntry>> for AuditPageResponse {
    fn from(p: shared::model::Page<shared::model::AuditEntry>) -> Self {
        Self {
            data: p
                .items
                .into_iter()
                .map(|e| AuditEntryResponse {
                    action: e.action,
                    actor: AuditActorResponse {
                        id: e.actor_id,
                        kind: e.actor_kind,
                        label: e.actor_label,
                    },
                    at: e.at,
                    changes: e
                        .changes
                        .into_iter()
                        .map(|c| AuditChangeResponse {
                            after: c.after,
                            before: c.before,
                            field: c.field,
                        })
                        .collect(),
                    id: e.id,
                    ip: e.ip,
                    target: e.target,
                })
                .collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// A partner's portal users and pending invites.
#[derive(Serialize, ToSchema)]
pub struct PartnerUsersResponse {
    pub data: Vec<PartnerUserResponse>,
    pub invites: Vec<PartnerInviteResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerUserResponse {
    pub created_at: i64,
    pub email: String,
    pub user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerInviteResponse {
    pub created_at: i64,
    pub email: String,
    pub expires_at: i64,
    pub id: String,
}

/// An invite to the partner portal: hand `invite_url` to the person (it is shown only once).
#[derive(Serialize, ToSchema)]
pub struct PartnerInviteCreatedResponse {
    pub invite_url: String,
}

/// A removed partner user: their portal sessions have ended.
#[derive(Serialize, ToSchema)]
pub struct RemovedPartnerUserResponse {
    pub removed: String,
}
