//! Data shapes shared by the server and the browser (server-function results, rows shown in
//! pages). Times are milliseconds since the Unix epoch; money is in minor units.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
    /// Admins and owners may change data; viewers only read.
    pub fn can_write(self) -> bool {
        self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role \"{other}\" (use admin or viewer)")),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The signed-in user and the organization they are working in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
    pub orgs: Vec<OrgChoice>,
}

/// A membership the organization switcher offers: a team membership (with its role), or a
/// partner-user membership (with its partner; `role` is then `viewer` and means nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgChoice {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub partner: Option<PartnerChoice>,
}

impl OrgChoice {
    /// The switcher's value for it: `org` for a team membership, `org/partner` for a partner's.
    pub fn value(&self) -> String {
        match &self.partner {
            Some(p) => format!("{}/{}", self.id, p.id),
            None => self.id.clone(),
        }
    }

    /// How the switcher names it.
    pub fn label(&self) -> String {
        match &self.partner {
            Some(p) => format!(
                "{} — partner portal of {}",
                self.name,
                p.name.clone().unwrap_or_else(|| p.key.clone())
            ),
            None => format!("{} — {}", self.name, self.role),
        }
    }
}

/// The partner of a partner-user membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerChoice {
    pub id: String,
    pub key: String,
    pub name: Option<String>,
}

/// A person who sees a partner's part in the partner portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PartnerUser {
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
}

/// An invite to the partner portal, not accepted yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PartnerInvite {
    pub id: String,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The signed-in partner user, in the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerMe {
    pub email: String,
    pub org_name: String,
    pub partner_key: String,
    pub partner_name: Option<String>,
    pub partner_email: Option<String>,
    /// Every membership of the account (for the switcher), and which is current.
    pub choices: Vec<OrgChoice>,
    pub current: String,
}

/// A customer as the partner who referred them sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalCustomer {
    pub key: String,
    pub name: Option<String>,
    /// First letter and domain only: `a…@example.com`.
    pub email: Option<String>,
    pub first_payment_at: Option<i64>,
    pub revenue: Vec<CurrencyTotal>,
    pub earnings: Vec<CurrencyTotal>,
}

/// One month of a partner's attributed revenue and earnings in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalMonth {
    /// `2026-11`.
    pub month: String,
    pub currency: String,
    pub revenue: i128,
    pub earnings: i128,
}

/// A partner's statement in a payout run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PortalStatement {
    pub run_id: String,
    pub run_number: i64,
    /// `draft` (being prepared) or `paid`.
    pub status: String,
    pub reference: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub currency: String,
    pub amount: i64,
    pub entries: i64,
}

/// `ada@example.com` → `a…@example.com`; anything without an `@` → `…`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Member {
    pub user_id: String,
    pub email: String,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "String"))]
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Invite {
    pub id: String,
    pub email: String,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "String"))]
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

/// What an API key may do: `read` keys only read; `full` keys may also change data and see
/// credentials (the webhook URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    Read,
    Full,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Full => "full",
        }
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(ApiScope::Read),
            "full" => Ok(ApiScope::Full),
            other => Err(format!("unknown scope \"{other}\" (use read or full)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// `read` or `full` (see [`ApiScope`]).
    pub scope: String,
    /// The email of the member who created the key (none for keys made on the command line).
    pub created_by: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// An exact total of minor units in one currency. Totals are never added across currencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotal {
    pub currency: String,
    pub amount: i128,
}

/// `(net_revenue, currency)` as one figure: `0` and no currency when there is no revenue,
/// the total when it is all in one currency (and fits an `i64`), `None` when there are several
/// currencies (see the per-currency list instead).
fn single_currency(totals: &[CurrencyTotal]) -> (Option<i64>, Option<String>) {
    match totals {
        [] => (Some(0), None),
        [one] => match i64::try_from(one.amount) {
            Ok(v) => (Some(v), Some(one.currency.clone())),
            Err(_) => (None, Some(one.currency.clone())),
        },
        _ => (None, None),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Partner {
    pub id: String,
    pub key: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub auto_created: bool,
    pub created_at: i64,
    pub customers: i64,
    /// Attributed net revenue when all of it is in one currency (`currency`); `None` when
    /// there is none or several: see `revenue` for the figure per currency.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub net_revenue: Option<i64>,
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub currency: Option<String>,
    /// Attributed net revenue per currency.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub revenue: Vec<CurrencyTotal>,
    /// Commissions earned per currency (every entry: commissions less clawbacks).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    #[serde(default)]
    pub earnings: Vec<CurrencyTotal>,
    /// `revenue` in the organization's reporting currency, when some is in another currency
    /// and every payment's exchange rate converts.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    #[serde(default)]
    pub revenue_converted: Option<ConvertedTotal>,
    /// `earnings` likewise.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    #[serde(default)]
    pub earnings_converted: Option<ConvertedTotal>,
}

impl Partner {
    pub fn set_revenue(&mut self, revenue: Vec<CurrencyTotal>) {
        (self.net_revenue, self.currency) = single_currency(&revenue);
        self.revenue = revenue;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Customer {
    pub id: String,
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub partner_key: Option<String>,
    pub partner_name: Option<String>,
    pub chargebee_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct CustomerListRow {
    pub id: String,
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub partner_key: Option<String>,
    /// Net revenue when it is all in one currency; see `revenue` for every currency.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub net_revenue: Option<i64>,
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub currency: Option<String>,
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub revenue: Vec<CurrencyTotal>,
    pub active_subscriptions: i64,
}

impl CustomerListRow {
    pub fn set_revenue(&mut self, revenue: Vec<CurrencyTotal>) {
        (self.net_revenue, self.currency) = single_currency(&revenue);
        self.revenue = revenue;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Transaction {
    pub chargebee_id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub occurred_at: i64,
    pub subscription_id: Option<String>,
    pub invoice_id: Option<String>,
    pub removed_reason: Option<String>,
    /// Chargebee's exchange rate to its base currency (units of `currency` per unit of
    /// `base_currency_code`), as plain decimal text.
    #[serde(default)]
    pub exchange_rate: Option<String>,
    #[serde(default)]
    pub base_currency_code: Option<String>,
    /// What the payment earned its partner, net of clawbacks (in `currency`); `None` when it
    /// has no commission entries.
    #[serde(default)]
    pub commission: Option<i64>,
}

impl Transaction {
    pub fn net_amount(&self) -> i64 {
        self.amount.saturating_sub(self.amount_refunded)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Subscription {
    pub chargebee_id: String,
    pub plan_key: Option<String>,
    pub plan_name: Option<String>,
    pub status: String,
    pub mrr: Option<i64>,
    pub currency: Option<String>,
    pub current_term_start: Option<i64>,
    pub current_term_end: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Plan {
    pub id: String,
    pub key: String,
    pub name: String,
    pub subscriptions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct DetectedPlan {
    pub key: String,
    pub subscriptions: i64,
}

/// One row of the webhook event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct EventSummary {
    pub id: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "String"))]
    pub outcome: Outcome,
    pub detail: Option<String>,
    pub customer_key: Option<String>,
    pub attempts: i32,
    /// Our customer, when the event is matched to one (an unmatched event names a key that
    /// has no customer yet).
    #[serde(default)]
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct EventDetail {
    pub id: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "String"))]
    pub outcome: Outcome,
    pub detail: Option<String>,
    pub customer_key: Option<String>,
    pub customer_id: Option<String>,
    pub attempts: i32,
    pub payload: String,
    /// The outcome of the first attempt, when a later one changed it (else `outcome`).
    #[serde(default)]
    pub first_outcome: Option<String>,
    #[serde(default)]
    pub first_detail: Option<String>,
    /// When its payload was pruned (past the organization's retention).
    #[serde(default)]
    pub payload_pruned_at: Option<i64>,
    /// Every attempt, oldest first: the first (when it was received), then each replay,
    /// retry or release.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    #[serde(default)]
    pub history: Vec<Attempt>,
}

/// One processing attempt of a stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: i64,
    pub outcome: String,
    pub detail: Option<String>,
}

impl From<EventDetail> for EventSummary {
    fn from(e: EventDetail) -> Self {
        EventSummary {
            id: e.id,
            event_id: e.event_id,
            event_type: e.event_type,
            occurred_at: e.occurred_at,
            received_at: e.received_at,
            outcome: e.outcome,
            detail: e.detail,
            customer_key: e.customer_key,
            customer_id: e.customer_id,
            attempts: e.attempts,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargebeeIntegration {
    pub webhook_url: String,
    pub basic_auth_username: Option<String>,
    pub previous_url_valid_until: Option<i64>,
    /// How many days a rotated-away URL keeps working.
    pub grace_days: i64,
    pub last_event_at: Option<i64>,
    /// Events received in the last 24 hours, by outcome.
    pub counts_24h: Vec<(String, i64)>,
    #[serde(default)]
    pub health: IntegrationHealth,
}

/// How the Chargebee integration is doing: the latest delivery, deliveries per outcome over
/// the last 24 hours and 7 days, and what needs fixing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IntegrationHealth {
    pub last_delivery_at: Option<i64>,
    /// Deliveries by outcome (refused ones as `rejected`), largest first.
    pub counts_24h: Vec<(String, i64)>,
    pub counts_7d: Vec<(String, i64)>,
    pub alerts: Vec<HealthAlert>,
}

/// Something wrong with the integration, while its cause lasts (it clears by itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAlert {
    /// `quiet`, `basic_auth`, `api_version`, `not_json`, `too_large` or `card_data`.
    pub kind: String,
    /// What happened, in a sentence.
    pub title: String,
    /// What to do about it.
    pub advice: String,
    /// When its cause was last seen (for `quiet`: the last delivery).
    pub last_seen_at: i64,
    /// How many deliveries it concerns over the last 7 days (0 for `quiet`).
    pub count_7d: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenuePoint {
    /// Day as days since the epoch.
    pub day: i64,
    pub currency: String,
    pub net: i128,
}

/// One commission ledger entry: `commission` (positive), `clawback` or `reversal` (negative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct CommissionEntry {
    pub id: String,
    pub partner_key: String,
    pub customer_key: String,
    pub transaction_id: String,
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub occurred_at: i64,
    pub payable_at: i64,
    /// The payout run it is in (draft or paid), if any.
    pub payout_id: Option<String>,
    /// When its run was marked paid.
    pub paid_at: Option<i64>,
    /// The webhook event that recorded its fact: the refund's event for a clawback, else the
    /// payment's. `None` for payments recorded before events were remembered whose payload
    /// was gone.
    #[serde(default)]
    pub webhook_event_id: Option<String>,
    /// `pending` (inside the hold), `approved` (payable) or `paid`, as of when it was read.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    #[serde(default)]
    pub status: String,
}

/// A partner's commissions in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub currency: String,
    /// Not paid, inside the hold.
    pub pending: i128,
    /// Not paid, payable.
    pub approved: i128,
    pub paid: i128,
    /// All clawbacks and reversals, as a positive amount.
    pub clawed_back: i128,
}

/// A total converted into one currency at the exchange rates Chargebee sent, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvertedTotal {
    pub currency: String,
    pub amount: i128,
    /// Plain words, e.g. "EUR converted to USD at Chargebee's exchange rate of each payment".
    pub how: String,
}

/// A partner's balance: per currency, and, where every figure can be converted at the
/// exchange rates Chargebee sent, the same figures in the organization's reporting currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerBalance {
    pub lines: Vec<Balance>,
    pub converted: Option<ConvertedBalance>,
}

/// Balance figures converted into one currency, with how they were converted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertedBalance {
    pub currency: String,
    pub pending: i128,
    pub approved: i128,
    pub paid: i128,
    pub clawed_back: i128,
    pub how: String,
}

/// Commission terms as the dashboard shows them: the organization's default, or a partner's
/// override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommissionTerms {
    /// The version in force now, in plain language; `None` when none is.
    pub description: Option<String>,
    /// The version in force now as the form's fields (to start an edit from).
    pub form: Option<TermsFormValues>,
    /// Every version, newest first.
    pub versions: Vec<TermsVersion>,
}

/// One version of commission terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermsVersion {
    pub effective_from: i64,
    pub created_at: i64,
    /// In plain language; `None` for a partner's override removed from here on.
    pub description: Option<String>,
    /// `in force`, `scheduled` or `superseded`.
    pub state: String,
}

/// The terms form's fields, as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TermsFormValues {
    /// `percent` or `flat`.
    pub kind: String,
    pub percent: String,
    pub flat_amount: String,
    pub currency: String,
    /// `lifetime`, `months` or `payments`.
    pub duration: String,
    pub duration_count: String,
    pub hold_days: String,
    /// One `plan key = percent` per line.
    pub plan_rates: String,
}

/// What other commission terms would have paid over a past period, next to what was earned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermsPreview {
    pub from: i64,
    pub to: i64,
    /// The terms previewed, in plain language.
    pub description: String,
    /// Payments the terms were applied to.
    pub payments: i64,
    /// Payments left out: under a partner's own terms, which a change of the default does
    /// not reach.
    pub left_out: i64,
    pub lines: Vec<PreviewLine>,
}

/// One currency of a preview: what the terms would have paid and what was earned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewLine {
    pub currency: String,
    pub payments: i64,
    pub proposed: i128,
    pub actual: i128,
}

/// One row of the audit log: who changed what, when and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    /// `user`, `api_key` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// The user's email or the key's name.
    pub actor_label: String,
    pub ip: Option<String>,
    /// What was done, e.g. `plan.updated`.
    pub action: String,
    /// What it was done to, e.g. a plan's key.
    pub target: Option<String>,
    pub changes: Vec<AuditChange>,
}

/// A changed field: its value before and after, as shown to people (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A payout run's statement: one partner, one currency, a positive amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Statement {
    pub partner_key: String,
    pub partner_name: Option<String>,
    pub partner_email: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub entries: i64,
}

/// A payout run and its statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayoutRun {
    pub id: String,
    /// Its place among the organization's runs: 1, 2, …
    pub number: i64,
    pub up_to: i64,
    /// `draft`, `paid` or `cancelled`.
    pub status: String,
    pub reference: Option<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    /// Per currency, what the run pays and in how many statements.
    pub totals: Vec<RunTotal>,
    /// Empty in the list of runs.
    pub statements: Vec<Statement>,
}

/// What a payout run pays in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTotal {
    pub currency: String,
    pub amount: i128,
    pub statements: i64,
}

/// Totals per currency as text, e.g. `1,523.00 USD · 1,000.00 EUR`; `—` when there are none.
pub fn format_totals(totals: &[CurrencyTotal]) -> String {
    if totals.is_empty() {
        return "—".into();
    }
    totals
        .iter()
        .map(|t| format_money(t.amount, &t.currency))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// What happened to a webhook event (stored as its lowercase name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Applied to the ledger.
    Processed,
    /// A re-delivery of an event already stored: changed nothing.
    Duplicate,
    /// Waiting for its customer (parked); applied when the customer appears.
    Unmatched,
    /// Not something the ledger records (an event type or state we do not use).
    Ignored,
    /// Refused: not a well-formed event (the detail says why).
    Rejected,
    /// Processing failed; retried.
    Failed,
    /// Was unmatched for the whole attribution window: its customer was never referred by a
    /// partner. Final, and nothing to act on.
    #[serde(rename = "not_attributed")]
    NotAttributed,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Processed,
        Outcome::Duplicate,
        Outcome::Unmatched,
        Outcome::NotAttributed,
        Outcome::Ignored,
        Outcome::Rejected,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Duplicate => "duplicate",
            Outcome::Unmatched => "unmatched",
            Outcome::Ignored => "ignored",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::NotAttributed => "not_attributed",
        }
    }

    /// "processed, duplicate, …", for messages.
    pub fn names() -> String {
        Self::ALL.map(Outcome::as_str).join(", ")
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome \"{s}\" (one of {})", Self::names()))
    }
}

impl TryFrom<String> for Outcome {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Formats minor units with the currency's own decimals, e.g. `1234, "USD"` → `12.34 USD`.
pub fn format_money(minor: impl Into<i128>, currency: &str) -> String {
    let minor: i128 = minor.into();
    let decimals = currency_decimals(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{} {currency}", group(abs));
    }
    let div = 10u128.pow(decimals);
    format!(
        "{sign}{}.{:0width$} {currency}",
        group(abs / div),
        abs % div,
        width = decimals as usize
    )
}

/// A count with thousands separators: `1204` → `1,204`.
pub fn format_count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group(u128::from(n.unsigned_abs())))
}

fn group(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Number of minor-unit decimals of a currency (ISO 4217).
pub fn currency_decimals(currency: &str) -> u32 {
    match currency.to_ascii_uppercase().as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `2026-11-26 21:49 UTC` from milliseconds since the epoch (civil-from-days, no time crate).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

pub fn format_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 of the first day of month `m` (1–12) of year `y` (the inverse of
/// [`civil_from_days`] on first days).
pub fn days_from_civil(y: i64, m: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days → (year, month, day) algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currency_decimals() {
        assert_eq!(format_money(123456, "USD"), "1,234.56 USD");
        assert_eq!(format_money(5000, "JPY"), "5,000 JPY");
        assert_eq!(format_money(1005, "KWD"), "1.005 KWD");
        assert_eq!(format_money(-250, "EUR"), "-2.50 EUR");
        assert_eq!(format_money(7, "usd"), "0.07 usd");
        assert_eq!(
            format_money(i128::from(i64::MAX) * 10, "USD"),
            "922,337,203,685,477,580.70 USD"
        );
    }

    #[test]
    fn totals_are_shown_per_currency_never_added() {
        let t = vec![
            CurrencyTotal {
                currency: "EUR".into(),
                amount: 100_000,
            },
            CurrencyTotal {
                currency: "USD".into(),
                amount: 152_300,
            },
        ];
        assert_eq!(format_totals(&t), "1,000.00 EUR · 1,523.00 USD");
        assert_eq!(format_totals(&[]), "—");
        assert_eq!(single_currency(&t), (None, None));
        assert_eq!(single_currency(&[]), (Some(0), None));
        assert_eq!(
            single_currency(&t[1..]),
            (Some(152_300), Some("USD".into()))
        );
    }

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        for (y, m, d) in [
            (1970, 1, 0),
            (2026, 12, 20_788),
            (2024, 3, 19_783),
            (2000, 2, 10_988),
        ] {
            assert_eq!(days_from_civil(y, m), d, "{y}-{m}");
            assert_eq!(civil_from_days(d), (y, m, 1));
        }
        assert_eq!(
            [
                format_count(0),
                format_count(1204),
                format_count(-1_000_000)
            ],
            ["0", "1,204", "-1,000,000"]
        );
        assert_eq!(format_time(1_795_730_951_000), "2026-11-26 22:09 UTC");
        assert_eq!(format_date(951_782_400_000), "2000-02-29");
    }

    #[test]
    fn roles_parse_and_order() {
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Owner.can_write() && Role::Admin.can_write() && !Role::Viewer.can_write());
    }
}
