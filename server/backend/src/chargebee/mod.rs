//! Chargebee v2 webhooks → ledger changes. Pure: no I/O, no clock, no randomness.
//!
//! The flow is `parse_envelope` (bytes → [`Envelope`], or a [`Rejection`] that says what was
//! wrong) → `strip_card_data` (what we store) → `classify` (envelope → [`BillingEvent`]) →
//! `plan` (event + the relevant current state → [`Plan`]). Storage loads the state and applies
//! the plan in one transaction; nothing here knows about databases.

mod card_data;

pub use crate::domain::identifier_problem;
use serde_json::{Map, Value};
use std::fmt;

/// The parts of a Chargebee event envelope that we rely on.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    /// Seconds since the epoch (Chargebee's `occurred_at`); 0 when absent.
    pub occurred_at: i64,
    pub api_version: Option<String>,
    pub content: Value,
}

/// Why a delivery was refused before any processing (answered with a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotJson(String),
    NotAnObject,
    MissingField(&'static str),
    /// A field is present but not acceptable (control characters, too long, wrong type).
    InvalidField(&'static str, String),
    UnsupportedApiVersion(String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotJson(e) => write!(f, "body is not valid JSON: {e}"),
            Rejection::NotAnObject => write!(f, "body must be a JSON object (a Chargebee event)"),
            Rejection::MissingField(name) => {
                write!(f, "event is missing the required field `{name}`")
            }
            Rejection::InvalidField(name, problem) => {
                write!(f, "event field `{name}` {problem}")
            }
            Rejection::UnsupportedApiVersion(v) => {
                write!(f, "only v2 webhooks are supported (api_version is \"{v}\")")
            }
        }
    }
}

/// Parses a raw body. On an unsupported `api_version` the parsed JSON is still returned with
/// the rejection so the event can be recorded (as rejected) for the admin to see.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, (Rejection, Option<Value>)> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| (Rejection::NotJson(e.to_string()), None))?;
    envelope_from_value(value)
}

/// Like [`parse_envelope`], for a body already parsed as JSON.
pub fn envelope_from_value(value: Value) -> Result<Envelope, (Rejection, Option<Value>)> {
    let Some(obj) = value.as_object() else {
        return Err((Rejection::NotAnObject, None));
    };
    let id = match obj.get("id").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.to_string(),
        _ => return Err((Rejection::MissingField("id"), Some(value))),
    };
    if let Some(problem) = identifier_problem(&id) {
        return Err((Rejection::InvalidField("id", problem), Some(value)));
    }
    let event_type = match obj.get("event_type").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.to_string(),
        _ => return Err((Rejection::MissingField("event_type"), Some(value))),
    };
    if let Some(problem) = identifier_problem(&event_type) {
        return Err((Rejection::InvalidField("event_type", problem), Some(value)));
    }
    let api_version = obj
        .get("api_version")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(v) = &api_version {
        if !v.eq_ignore_ascii_case("v2") {
            return Err((Rejection::UnsupportedApiVersion(v.clone()), Some(value)));
        }
    }
    let occurred_at = obj.get("occurred_at").and_then(as_i64).unwrap_or(0);
    // Take the content out instead of copying it: the envelope is all that is needed now.
    let mut value = value;
    let content = value
        .as_object_mut()
        .and_then(|o| o.remove("content"))
        .unwrap_or(Value::Null);
    Ok(Envelope {
        id,
        event_type,
        occurred_at,
        api_version,
        content,
    })
}

/// Reads the event `id` and `event_type` of a body if they are there and acceptable, for
/// recording rejects (an unacceptable one is left out, never stored).
pub fn peek_id_and_type(value: &Value) -> (Option<String>, Option<String>) {
    let s = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty() && identifier_problem(s).is_none())
            .map(str::to_string)
    };
    (s("id"), s("event_type"))
}

pub use card_data::strip_card_data;

/// Masks long digit runs (possible card numbers) in a body that is not JSON, before it is kept
/// as evidence of a rejected delivery.
pub fn scrub_text(body: &[u8], max_len: usize) -> String {
    // Control characters (NUL among them, which PostgreSQL refuses) are dropped; line breaks
    // and tabs stay.
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    let mut out = String::with_capacity(text.len().min(max_len + 16));
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        // Separators at the end of a run belong to the text that follows.
        let kept = run.trim_end_matches([' ', '-']).len();
        let tail = run.split_off(kept);
        if run.chars().filter(char::is_ascii_digit).count() >= 12 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        out.push_str(&tail);
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (!run.is_empty() && (c == ' ' || c == '-')) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    if out.len() > max_len {
        let mut cut = max_len;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("…[truncated]");
    }
    out
}

/// A Chargebee customer, reduced to what matching needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CbCustomer {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub customer_key: Option<String>,
    pub partner_key: Option<String>,
    /// `resource_version` (milliseconds) when present.
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CbTransaction {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// Seconds since the epoch.
    pub date: i64,
    pub subscription_id: Option<String>,
    pub invoice_id: Option<String>,
    pub customer_id: Option<String>,
    /// Chargebee's `exchange_rate` to the site's base currency, as plain decimal text; `None`
    /// when absent or not a positive number (the payment is still recorded).
    pub exchange_rate: Option<String>,
    /// The site's `base_currency_code`, when a valid one is present.
    pub base_currency_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CbSubscription {
    pub id: String,
    pub customer_id: Option<String>,
    pub plan_key: Option<String>,
    pub plan_item_id: Option<String>,
    pub status: String,
    pub mrr: Option<i64>,
    pub currency: Option<String>,
    pub current_term_start: Option<i64>,
    pub current_term_end: Option<i64>,
    /// Ordering key: `resource_version`, else `occurred_at` in milliseconds.
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionAction {
    Upsert,
    Cancel,
    Delete,
}

/// What a Chargebee event means for the ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum BillingEvent {
    PaymentSucceeded {
        txn: CbTransaction,
        customer: CbCustomer,
    },
    PaymentFailed {
        txn_id: String,
        customer: CbCustomer,
    },
    PaymentRefunded {
        refund: CbTransaction,
        original_txn_id: Option<String>,
        customer: CbCustomer,
    },
    Subscription {
        action: SubscriptionAction,
        subscription: CbSubscription,
        customer: CbCustomer,
    },
    Customer {
        customer: CbCustomer,
    },
    /// A well-formed event we do not act on.
    Other,
}

/// Largest amount accepted, in minor units (10^12: ten billion in a two-decimal currency).
/// Anything above, below zero, or not a whole number is refused before it reaches the ledger.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Longest free text kept from Chargebee (names, emails, statuses), in characters.
const MAX_TEXT_CHARS: usize = 200;

/// Why a supported event could not be turned into a [`BillingEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentProblem {
    /// Something the event needs is absent (stored as failed, retried, replayable).
    Missing,
    /// A value is present but not acceptable: a bad amount, currency, id or key. Such an
    /// event is never applied; it is stored as rejected with the reason.
    Invalid,
}

/// A supported event whose content lacks what it needs, or holds a value we refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError(pub String, pub ContentProblem);

impl ContentError {
    pub fn missing(message: impl Into<String>) -> Self {
        ContentError(message.into(), ContentProblem::Missing)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        ContentError(message.into(), ContentProblem::Invalid)
    }
    pub fn is_invalid(&self) -> bool {
        self.1 == ContentProblem::Invalid
    }
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A time or version: whole numbers (or numeric strings); fractions are cut.
fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn str_field(obj: &Value, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id or key (`what.key`): absent, or acceptable (see [`identifier_problem`]).
fn id_field(obj: &Value, key: &str, what: &str) -> Result<Option<String>, ContentError> {
    match str_field(obj, key) {
        None => Ok(None),
        Some(s) => match identifier_problem(&s) {
            None => Ok(Some(s)),
            Some(problem) => Err(ContentError::invalid(format!("{what}.{key} {problem}"))),
        },
    }
}

/// A currency code: three letters (ISO 4217), returned in upper case.
fn currency_field(obj: &Value, key: &str, what: &str) -> Result<Option<String>, ContentError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
                Ok(Some(t.to_ascii_uppercase()))
            } else {
                Err(ContentError::invalid(format!(
                    "{what}.{key} must be a three-letter ISO 4217 currency code"
                )))
            }
        }
        Some(_) => Err(ContentError::invalid(format!(
            "{what}.{key} must be a three-letter ISO 4217 currency code"
        ))),
    }
}

/// An amount in minor units: a whole JSON number with `0 ≤ amount ≤ MAX_AMOUNT`.
fn amount_field(obj: &Value, key: &str, what: &str) -> Result<Option<i64>, ContentError> {
    let bad = |why: String| ContentError::invalid(format!("{what}.{key} {why}"));
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                match i64::try_from(u) {
                    Ok(a) if a <= MAX_AMOUNT => Ok(Some(a)),
                    _ => Err(bad(format!(
                        "is {u}, more than the largest accepted amount ({MAX_AMOUNT} minor units)"
                    ))),
                }
            } else if n.is_i64() {
                Err(bad(format!("is {n}; amounts must not be negative")))
            } else {
                Err(bad(format!(
                    "is {n}; amounts must be whole numbers of minor units (cents)"
                )))
            }
        }
        Some(other) => Err(bad(format!(
            "must be a whole number of minor units, not {}",
            json_kind(other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Free text kept for display (names, emails, statuses): control characters are dropped and
/// the text is cut to [`MAX_TEXT_CHARS`].
fn text_field(obj: &Value, key: &str) -> Option<String> {
    let s = str_field(obj, key)?;
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT_CHARS)
        .collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// `meta_data` may be an object or a JSON string holding one.
fn meta_data(customer: &Value) -> Map<String, Value> {
    match customer
        .get("meta_data")
        .or_else(|| customer.get("metadata"))
    {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

pub fn parse_customer(content: &Value) -> Result<CbCustomer, ContentError> {
    let Some(c) = content.get("customer").filter(|c| c.is_object()) else {
        return Ok(CbCustomer::default());
    };
    let meta = Value::Object(meta_data(c));
    let name = match (text_field(c, "first_name"), text_field(c, "last_name")) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f),
        (None, Some(l)) => Some(l),
        (None, None) => text_field(c, "company"),
    };
    let customer_key = match id_field(&meta, "customer_key", "customer.meta_data")? {
        Some(k) => Some(k),
        None => id_field(c, "cf_customer_id", "customer")?,
    };
    let partner_key = match id_field(&meta, "partner_key", "customer.meta_data")? {
        Some(k) => Some(k),
        None => id_field(c, "cf_partner_key", "customer")?,
    };
    Ok(CbCustomer {
        id: id_field(c, "id", "customer")?,
        email: text_field(c, "email"),
        name,
        customer_key,
        partner_key,
        version: c.get("resource_version").and_then(as_i64),
    })
}

fn parse_transaction(t: &Value) -> Result<CbTransaction, ContentError> {
    let id = id_field(t, "id", "transaction")?
        .ok_or_else(|| ContentError::missing("transaction has no `id`"))?;
    let about = |e: ContentError| ContentError(format!("{} (transaction {id})", e.0), e.1);
    let amount = amount_field(t, "amount", "transaction")
        .map_err(about)?
        .ok_or_else(|| {
            ContentError::missing(format!("transaction {id} has no numeric `amount`"))
        })?;
    let currency = currency_field(t, "currency_code", "transaction")
        .map_err(about)?
        .ok_or_else(|| ContentError::missing(format!("transaction {id} has no `currency_code`")))?;
    let invoice_id = match t
        .get("linked_invoices")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
    {
        Some(i) => id_field(i, "invoice_id", "transaction.linked_invoices")?,
        None => None,
    };
    Ok(CbTransaction {
        amount,
        currency,
        date: t.get("date").and_then(as_i64).unwrap_or(0),
        subscription_id: id_field(t, "subscription_id", "transaction")?,
        invoice_id,
        customer_id: id_field(t, "customer_id", "transaction")?,
        exchange_rate: t
            .get("exchange_rate")
            .filter(|v| v.is_number())
            .and_then(|v| crate::currency::ExchangeRate::parse(&v.to_string()))
            .map(|r| r.as_text()),
        base_currency_code: currency_field(t, "base_currency_code", "transaction")
            .ok()
            .flatten(),
        id,
    })
}

fn parse_subscription(content: &Value, occurred_at: i64) -> Result<CbSubscription, ContentError> {
    let s = content
        .get("subscription")
        .filter(|s| s.is_object())
        .ok_or_else(|| ContentError::missing("event content has no `subscription`"))?;
    let id = id_field(s, "id", "subscription")?
        .ok_or_else(|| ContentError::missing("subscription has no `id`"))?;
    let plan_item = s
        .get("subscription_items")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .find(|i| i.get("item_type").and_then(Value::as_str) == Some("plan"))
        });
    let (plan_key, plan_item_id) = match plan_item {
        Some(item) => (
            id_field(item, "item_price_id", "subscription.subscription_items")?,
            id_field(item, "item_id", "subscription.subscription_items")?,
        ),
        None => (id_field(s, "plan_id", "subscription")?, None),
    };
    Ok(CbSubscription {
        customer_id: id_field(s, "customer_id", "subscription")?,
        plan_key,
        plan_item_id,
        status: text_field(s, "status").unwrap_or_else(|| "unknown".into()),
        // Shown, never summed into the ledger: an unusable value is simply not shown.
        mrr: amount_field(s, "mrr", "subscription").ok().flatten(),
        currency: currency_field(s, "currency_code", "subscription")?,
        current_term_start: s.get("current_term_start").and_then(as_i64),
        current_term_end: s.get("current_term_end").and_then(as_i64),
        version: s
            .get("resource_version")
            .and_then(as_i64)
            .unwrap_or(occurred_at.saturating_mul(1000)),
        id,
    })
}

/// Turns an envelope into the billing event it describes.
pub fn classify(env: &Envelope) -> Result<BillingEvent, ContentError> {
    let content = &env.content;
    const USED: &[&str] = &[
        "payment_succeeded",
        "payment_failed",
        "payment_refunded",
        "subscription_created",
        "subscription_changed",
        "subscription_started",
        "subscription_activated",
        "subscription_reactivated",
        "subscription_renewed",
        "subscription_cancelled",
        "subscription_deleted",
        "customer_created",
        "customer_changed",
    ];
    if !USED.contains(&env.event_type.as_str()) {
        return Ok(BillingEvent::Other);
    }
    let customer = parse_customer(content)?;
    let txn = || {
        content
            .get("transaction")
            .filter(|t| t.is_object())
            .ok_or_else(|| ContentError::missing("event content has no `transaction`"))
    };
    Ok(match env.event_type.as_str() {
        "payment_succeeded" => BillingEvent::PaymentSucceeded {
            txn: parse_transaction(txn()?)?,
            customer,
        },
        "payment_failed" => BillingEvent::PaymentFailed {
            txn_id: id_field(txn()?, "id", "transaction")?
                .ok_or_else(|| ContentError::missing("transaction has no `id`"))?,
            customer,
        },
        "payment_refunded" => {
            let t = txn()?;
            let refund = parse_transaction(t)?;
            let linked = content
                .get("invoice")
                .and_then(|i| i.get("linked_payments"))
                .and_then(Value::as_array);
            let original_txn_id = match id_field(t, "refunded_txn_id", "transaction")? {
                Some(id) => Some(id),
                None => {
                    let mut found = None;
                    for p in linked.into_iter().flatten() {
                        match id_field(p, "txn_id", "invoice.linked_payments")? {
                            Some(id) if id != refund.id => {
                                found = Some(id);
                                break;
                            }
                            _ => {}
                        }
                    }
                    found
                }
            };
            BillingEvent::PaymentRefunded {
                refund,
                original_txn_id,
                customer,
            }
        }
        "subscription_created"
        | "subscription_changed"
        | "subscription_started"
        | "subscription_activated"
        | "subscription_reactivated"
        | "subscription_renewed" => BillingEvent::Subscription {
            action: SubscriptionAction::Upsert,
            subscription: parse_subscription(content, env.occurred_at)?,
            customer,
        },
        "subscription_cancelled" => BillingEvent::Subscription {
            action: SubscriptionAction::Cancel,
            subscription: parse_subscription(content, env.occurred_at)?,
            customer,
        },
        "subscription_deleted" => BillingEvent::Subscription {
            action: SubscriptionAction::Delete,
            subscription: parse_subscription(content, env.occurred_at)?,
            customer,
        },
        "customer_created" | "customer_changed" => {
            if customer.id.is_none() && customer.customer_key.is_none() {
                return Err(ContentError::missing("event content has no `customer`"));
            }
            BillingEvent::Customer { customer }
        }
        _ => BillingEvent::Other,
    })
}

// ---------------------------------------------------------------------------------------------
// Planning: event + current state → changes
// ---------------------------------------------------------------------------------------------

/// A customer of ours as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownCustomer {
    pub id: String,
    pub key: String,
    pub has_partner: bool,
    pub chargebee_id: Option<String>,
    pub version: Option<i64>,
}

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownTransaction {
    pub amount: i64,
    pub amount_refunded: i64,
    pub recorded: bool,
    pub removed_reason: Option<String>,
    pub customer_id: Option<String>,
}

/// What storage knows that is relevant to one event; loaded before planning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Our customer found by the event's `customer_key`.
    pub customer_by_key: Option<KnownCustomer>,
    /// Our customer found by the Chargebee customer id (when the key is absent or unknown).
    pub customer_by_chargebee_id: Option<KnownCustomer>,
    /// Whether a partner with the event's `partner_key` exists.
    pub partner_exists: bool,
    /// The transaction the event is about (the refunded original for refunds).
    pub transaction: Option<KnownTransaction>,
    /// Whether this refund transaction id was already counted.
    pub refund_known: bool,
    /// Sum of the refunds already known for the original transaction, in the currency of the
    /// event (refunds in another currency are never counted).
    pub refunded_so_far: i64,
    /// The currency of the stored transaction, when it was recorded.
    pub transaction_currency: Option<String>,
    /// Refunds already known for the transaction in another currency than the event's.
    pub other_currency_refunds: i64,
    /// Stored version of the subscription (tombstones included).
    pub subscription_version: Option<i64>,
}

/// Which customer the ledger changes go under.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerTarget {
    Existing(String),
    /// Create a customer with this key (and the plan's `partner` when set).
    New {
        key: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create the partner, marked as created from a webhook.
    CreatePartner { key: String },
    /// Create or update our customer's details from Chargebee's.
    SaveCustomer {
        target: CustomerTarget,
        email: Option<String>,
        name: Option<String>,
        chargebee_id: Option<String>,
        /// Attribute to this partner when the customer has none yet.
        partner_key: Option<String>,
        version: Option<i64>,
    },
    /// Record a payment (with the refunds already known for it).
    RecordTransaction {
        customer: CustomerTarget,
        txn: CbTransaction,
        amount_refunded: i64,
        /// Set when the transaction is recorded already removed (refund/failure came first).
        removed_reason: Option<String>,
    },
    /// Remember a refund (by the refund transaction's id) against an original transaction.
    RecordRefund {
        refund_txn_id: String,
        original_txn_id: String,
        amount: i64,
        currency: String,
        date: i64,
    },
    /// Refunds that arrived before this payment in another currency than `currency` were never
    /// counted: their events are marked rejected, with the reason.
    RejectRefunds {
        original_txn_id: String,
        currency: String,
    },
    /// Update a stored transaction's refunded amount; `removed_reason` set removes it.
    AdjustTransaction {
        txn_id: String,
        amount_refunded: i64,
        removed_reason: Option<String>,
    },
    /// Remember that a transaction failed (it may not be recorded yet).
    MarkFailed { txn_id: String },
    UpsertSubscription {
        customer: CustomerTarget,
        subscription: CbSubscription,
    },
    /// Keep a tombstone so older events cannot bring it back.
    DeleteSubscription {
        subscription_id: String,
        version: i64,
    },
    /// Reconcile events parked for this customer key / Chargebee id.
    ReleaseParked {
        customer_key: String,
        chargebee_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    Ignored(String),
    Unmatched(String),
    /// Not applied because it contradicts the ledger (e.g. a refund in another currency than
    /// its payment); kept with the reason for the admin.
    Rejected(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub outcome: Outcome,
    pub changes: Vec<Change>,
}

impl Plan {
    fn processed(changes: Vec<Change>) -> Self {
        Plan {
            outcome: Outcome::Processed,
            changes,
        }
    }
    fn ignored(why: impl Into<String>) -> Self {
        Plan {
            outcome: Outcome::Ignored(why.into()),
            changes: vec![],
        }
    }
    fn unmatched(why: impl Into<String>) -> Self {
        Plan {
            outcome: Outcome::Unmatched(why.into()),
            changes: vec![],
        }
    }
    fn rejected(why: impl Into<String>) -> Self {
        Plan {
            outcome: Outcome::Rejected(why.into()),
            changes: vec![],
        }
    }
}

/// The customer key and Chargebee customer id an event is about (for loading state and for
/// parking an unmatched event).
pub fn customer_ref(event: &BillingEvent) -> (Option<String>, Option<String>) {
    let (customer, fallback_id) = match event {
        BillingEvent::PaymentSucceeded { txn, customer } => (customer, txn.customer_id.clone()),
        BillingEvent::PaymentFailed { customer, .. } => (customer, None),
        BillingEvent::PaymentRefunded {
            refund, customer, ..
        } => (customer, refund.customer_id.clone()),
        BillingEvent::Subscription {
            subscription,
            customer,
            ..
        } => (customer, subscription.customer_id.clone()),
        BillingEvent::Customer { customer } => (customer, None),
        BillingEvent::Other => return (None, None),
    };
    (
        customer.customer_key.clone(),
        customer.id.clone().or(fallback_id),
    )
}

/// The transaction id whose stored state the planner needs.
pub fn transaction_ref(event: &BillingEvent) -> Option<&str> {
    match event {
        BillingEvent::PaymentSucceeded { txn, .. } => Some(&txn.id),
        BillingEvent::PaymentFailed { txn_id, .. } => Some(txn_id),
        BillingEvent::PaymentRefunded {
            original_txn_id, ..
        } => original_txn_id.as_deref(),
        _ => None,
    }
}

/// Resolves the customer an event belongs to, creating one when a partner key allows it.
/// Returns the target plus any changes that creating it needs, or the reason it is unmatched.
fn resolve_customer(
    customer: &CbCustomer,
    state: &State,
) -> Result<(CustomerTarget, Vec<Change>), String> {
    if let Some(known) = &state.customer_by_key {
        return Ok((CustomerTarget::Existing(known.id.clone()), vec![]));
    }
    // The same Chargebee customer (its key absent, or not one we know): use who we know.
    if let Some(known) = &state.customer_by_chargebee_id {
        return Ok((CustomerTarget::Existing(known.id.clone()), vec![]));
    }
    match (&customer.customer_key, &customer.partner_key) {
        (Some(key), Some(partner)) => {
            let mut changes = vec![];
            if !state.partner_exists {
                changes.push(Change::CreatePartner {
                    key: partner.clone(),
                });
            }
            let target = CustomerTarget::New { key: key.clone() };
            changes.push(Change::SaveCustomer {
                target: target.clone(),
                email: customer.email.clone(),
                name: customer.name.clone(),
                chargebee_id: customer.id.clone(),
                partner_key: Some(partner.clone()),
                version: customer.version,
            });
            changes.push(Change::ReleaseParked {
                customer_key: key.clone(),
                chargebee_id: customer.id.clone(),
            });
            Ok((target, changes))
        }
        (Some(key), None) => Err(format!(
            "no customer with key \"{key}\" and no partner_key to create one"
        )),
        (None, _) => Err(
            "the Chargebee customer has no customer_key in meta_data and no cf_customer_id"
                .to_string(),
        ),
    }
}

/// Decides what an event changes, given the current state. The heart of the ledger.
pub fn plan(event: &BillingEvent, state: &State) -> Plan {
    match event {
        BillingEvent::Other => Plan::ignored("event type not used by the ledger"),
        BillingEvent::Customer { customer } => plan_customer(customer, state),
        BillingEvent::PaymentSucceeded { txn, customer } => {
            if let Some(existing) = &state.transaction {
                if existing.recorded {
                    return Plan::ignored(format!("transaction {} is already recorded", txn.id));
                }
            }
            let (target, mut changes) = match resolve_customer(customer, state) {
                Ok(r) => r,
                Err(why) => return Plan::unmatched(why),
            };
            // A refund or failure may have arrived first: it decides the state.
            let (amount_refunded, removed_reason) = match &state.transaction {
                Some(t) if t.removed_reason.as_deref() == Some("failed") => {
                    (0, Some("failed".to_string()))
                }
                _ => {
                    let refunded = state.refunded_so_far.clamp(0, txn.amount);
                    let removed =
                        (txn.amount > 0 && refunded >= txn.amount).then(|| "refunded".to_string());
                    (refunded, removed)
                }
            };
            changes.push(Change::RecordTransaction {
                customer: target,
                txn: txn.clone(),
                amount_refunded,
                removed_reason,
            });
            if state.other_currency_refunds > 0 {
                changes.push(Change::RejectRefunds {
                    original_txn_id: txn.id.clone(),
                    currency: txn.currency.clone(),
                });
            }
            Plan::processed(changes)
        }
        BillingEvent::PaymentFailed { txn_id, .. } => match &state.transaction {
            Some(t) if t.removed_reason.is_some() => {
                Plan::ignored(format!("transaction {txn_id} is already removed"))
            }
            Some(t) if t.recorded => Plan::processed(vec![Change::AdjustTransaction {
                txn_id: txn_id.clone(),
                amount_refunded: t.amount_refunded,
                removed_reason: Some("failed".into()),
            }]),
            _ => Plan::processed(vec![Change::MarkFailed {
                txn_id: txn_id.clone(),
            }]),
        },
        BillingEvent::PaymentRefunded {
            refund,
            original_txn_id,
            ..
        } => {
            let Some(original) = original_txn_id else {
                return Plan::unmatched(format!(
                    "refund {} names no refunded transaction (no refunded_txn_id or linked payment)",
                    refund.id
                ));
            };
            if state.refund_known {
                return Plan::ignored(format!("refund {} is already recorded", refund.id));
            }
            let recorded = state.transaction.as_ref().filter(|t| t.recorded);
            if let (Some(_), Some(paid_in)) = (recorded, state.transaction_currency.as_deref()) {
                if !paid_in.is_empty() && paid_in != refund.currency {
                    return Plan::rejected(format!(
                        "refund {} is in {} but the payment {original} it refunds is in {paid_in}; it was not applied",
                        refund.id, refund.currency
                    ));
                }
            }
            let mut changes = vec![Change::RecordRefund {
                refund_txn_id: refund.id.clone(),
                original_txn_id: original.clone(),
                amount: refund.amount,
                currency: refund.currency.clone(),
                date: refund.date,
            }];
            if let Some(t) = recorded {
                // Both terms are at most MAX_AMOUNT-sized sums; saturating keeps the cap exact.
                let total = state
                    .refunded_so_far
                    .saturating_add(refund.amount)
                    .clamp(0, t.amount);
                let removed = if t.removed_reason.is_some() {
                    t.removed_reason.clone()
                } else {
                    (t.amount > 0 && total >= t.amount).then(|| "refunded".to_string())
                };
                changes.push(Change::AdjustTransaction {
                    txn_id: original.clone(),
                    amount_refunded: total,
                    removed_reason: removed,
                });
            }
            Plan::processed(changes)
        }
        BillingEvent::Subscription {
            action,
            subscription,
            customer,
        } => {
            if let Some(stored) = state.subscription_version {
                if stored > subscription.version {
                    return Plan::ignored(format!(
                        "subscription {} has newer state (version {stored} > {})",
                        subscription.id, subscription.version
                    ));
                }
            }
            if *action == SubscriptionAction::Delete {
                return Plan::processed(vec![Change::DeleteSubscription {
                    subscription_id: subscription.id.clone(),
                    version: subscription.version,
                }]);
            }
            let (target, mut changes) = match resolve_customer(customer, state) {
                Ok(r) => r,
                Err(why) => return Plan::unmatched(why),
            };
            let mut sub = subscription.clone();
            if *action == SubscriptionAction::Cancel {
                sub.status = "cancelled".into();
            }
            changes.push(Change::UpsertSubscription {
                customer: target,
                subscription: sub,
            });
            Plan::processed(changes)
        }
    }
}

fn plan_customer(customer: &CbCustomer, state: &State) -> Plan {
    let existing = state
        .customer_by_key
        .as_ref()
        .or(state.customer_by_chargebee_id.as_ref());
    if let Some(known) = existing {
        if let (Some(stored), Some(incoming)) = (known.version, customer.version) {
            if stored > incoming {
                return Plan::ignored(format!(
                    "customer {} has newer state (version {stored} > {incoming})",
                    known.key
                ));
            }
        }
        let mut changes = vec![];
        let partner_key = if known.has_partner {
            None
        } else {
            customer.partner_key.clone()
        };
        if partner_key.is_some() && !state.partner_exists {
            changes.push(Change::CreatePartner {
                key: customer.partner_key.clone().unwrap_or_default(),
            });
        }
        changes.push(Change::SaveCustomer {
            target: CustomerTarget::Existing(known.id.clone()),
            email: customer.email.clone(),
            name: customer.name.clone(),
            chargebee_id: customer.id.clone(),
            partner_key,
            version: customer.version,
        });
        changes.push(Change::ReleaseParked {
            customer_key: known.key.clone(),
            chargebee_id: customer.id.clone(),
        });
        return Plan::processed(changes);
    }
    match resolve_customer(customer, state) {
        Ok((_, changes)) => Plan::processed(changes),
        Err(why) => Plan::unmatched(why),
    }
}

pub use shared::model::currency_decimals;

#[cfg(test)]
mod tests;
