//! Storage: one trait per area (accounts, team, API keys, integrations, events, ledger) and
//! [`Storage`] combining them; one generic implementation ([`SqlStore`]) over two backends
//! (SQLite, PostgreSQL), chosen by the database URL's scheme.
//!
//! Every method that touches tenant data takes the [`OrgId`] first; there is no way to read or
//! change a tenant's rows without naming the tenant. The SQL is written once, in the area file
//! of the same name; what differs between the databases is in `backend.rs`; each backend has
//! its own migrations folder.

mod accounts;
mod api_keys;
mod audit;
mod backend;
mod batch;
mod commissions;
mod events;
mod integrations;
mod ledger;
mod portal;
mod sessions;
mod settings;
mod store;
mod team;
mod token_cache;

pub use backend::Backend;
pub use sessions::AnySessionStore;
pub use store::{PgStorage, SqlStore, SqliteStorage};

/// The storage traits, for callers of `DynStorage` methods.
pub mod prelude {
    pub use super::{
        Accounts, ApiKeys, Audit, Commissions, Events, Integrations, Ledger, Portal, Settings,
        Storage, Team,
    };
}

use crate::chargebee::BillingEvent;
use crate::domain::{OrgId, UserId};
use async_trait::async_trait;
use shared::model::*;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or is overloaded: callers answer 503.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A uniqueness rule was broken (e.g. a key already taken).
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// The database refused a value of one item (PostgreSQL: invalid byte sequence, value or
    /// index row too large; SQLite: too big). It concerns that item alone.
    #[error("a value cannot be stored: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

/// Why the database is unavailable: the driver's own error, shared by every delivery of a
/// batch that failed for it.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

impl StorageError {
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Unavailable(Arc::new(cause))
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::PoolTimedOut
            | E::PoolClosed
            | E::Io(_)
            | E::Tls(_)
            | E::WorkerCrashed
            | E::Protocol(_) => StorageError::unavailable(e),
            E::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                // A value the database cannot store: PostgreSQL 22021 (invalid byte sequence,
                // e.g. NUL), 22P05 (untranslatable character), 22001 (string too long), 54000
                // (program limit: index row too large); SQLite 18 (TOOBIG). Other data
                // exceptions (overflow, division by zero) are bugs and stay errors.
                if matches!(code.as_str(), "22021" | "22P05" | "22001" | "54000" | "18") {
                    return StorageError::Invalid(db.message().to_string());
                }
                // PostgreSQL: class 08 (connection), 57P01-03 (shutdown / cannot connect now),
                // 53 (insufficient resources), 57014 (statement timeout), 55000 (database not
                // accepting connections), 55P03 (lock not available in time), 40P01 / 40001 (deadlock or
                // serialization failure: the client retries).
                // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED.
                if code.starts_with("08")
                    || code.starts_with("57P")
                    || code.starts_with("53")
                    || code == "57014"
                    || code == "55000"
                    || code == "40P01"
                    || code == "40001"
                    || code == "55P03"
                    || code == "5"
                    || code == "6"
                    || code == "517"
                {
                    StorageError::unavailable(e)
                } else {
                    StorageError::Database(e)
                }
            }
            _ => StorageError::Database(e),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub session_epoch: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IntegrationRow {
    pub org_id: String,
    pub token_nonce: String,
    pub previous_valid_until: Option<i64>,
    pub basic_auth_username: Option<String>,
    pub basic_auth_password_mac: Option<String>,
}

/// Which webhook token matched.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMatch {
    pub integration: IntegrationRow,
    /// True when the previous (rotated-away) token matched; check `previous_valid_until`.
    pub previous: bool,
}

#[derive(Debug, Clone)]
pub struct ApiKeyMatch {
    pub id: String,
    pub org_id: String,
    pub scope: ApiScope,
    /// The key's name and public prefix, for the audit log.
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scope: ApiScope,
    /// The member who created it (`None` from the command line).
    pub created_by: Option<&'a UserId>,
    pub now: i64,
}

/// Why an invite for an address that has an account cannot be accepted without signing in.
pub const SIGN_IN_TO_ACCEPT: &str =
    "An account with this email already exists. Sign in with it, then open this invite link again to join.";

/// Who accepts an invite.
#[derive(Debug, Clone, Copy)]
pub enum InviteAcceptor<'a> {
    /// A signed-in user: accepted only when the invite is for their own address.
    SignedIn(&'a UserId),
    /// A new account for the invited address: refused when the address has an account.
    NewUser {
        id: &'a UserId,
        password_hash: &'a str,
    },
}

#[derive(Debug, Clone)]
pub struct AcceptedInvite {
    pub user: UserId,
    pub org_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

/// A webhook delivery as it is stored (card data already removed).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    pub payload: String,
    /// Why it was refused, when it is recorded as rejected at the door.
    pub refusal: Option<crate::health::Refusal>,
    /// Whether it carried Chargebee's card object (removed before storage): what ticking
    /// "Exclude card information" in Chargebee stops.
    pub card_data: bool,
}

/// What happened to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    pub outcome: Outcome,
    pub detail: Option<String>,
    /// Our row id for the event (the original's for a duplicate).
    pub id: String,
    /// How many parked events this one released and applied.
    pub released: usize,
}

/// One delivery for [`Storage::ingest_batch`].
#[derive(Debug, Clone)]
pub struct IngestItem {
    pub org: OrgId,
    pub event: NewEvent,
    pub billing: BillingEvent,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub outcome: Option<Outcome>,
    pub event_type: Option<String>,
    pub customer_id: Option<String>,
}

/// A new organization, its owner and its Chargebee integration.
#[derive(Debug, Clone)]
pub struct NewOrgRow<'a> {
    pub org_id: &'a OrgId,
    pub name: &'a str,
    pub owner: &'a UserId,
    pub email: &'a str,
    /// `None` when the owner is an existing user.
    pub password_hash: Option<&'a str>,
    pub token_nonce: &'a str,
    pub token_hash: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct NewInvite<'a> {
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub created_by: &'a UserId,
    pub now: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub partner_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DueEvent {
    pub org_id: String,
    pub id: String,
    /// Attempts made so far (for the backoff).
    pub attempts: i64,
}

/// Organizations, users and their sign-in attempts.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates an organization, its owner (a new user, or an existing one when `password_hash`
    /// is `None`), and its Chargebee integration, in one transaction.
    async fn create_org(&self, org: &NewOrgRow<'_>) -> Result<()>;
    /// Deletes an organization and everything it owns, and the accounts of members who
    /// belong to no other organization.
    async fn delete_org(&self, org: &OrgId) -> Result<()>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>>;
    async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRow>>;
    /// Organizations the user belongs to, oldest membership first.
    async fn user_orgs(&self, user: &UserId) -> Result<Vec<OrgChoice>>;
    /// Stores a new password hash and bumps the session epoch; returns the new epoch.
    async fn set_password(&self, user: &UserId, password_hash: &str) -> Result<i64>;
    /// Reserves one attempt in each `(scope, limit)` unless a scope already holds `limit`
    /// attempts since `since`: then nothing is reserved and the answer names that scope
    /// (its position) and its oldest attempt. Atomic: concurrent reservations for a scope are
    /// counted one after another. A reserved attempt stays (it counts as a failure) unless
    /// cleared or released.
    async fn reserve_attempt(
        &self,
        scopes: &[(String, i64)],
        since: i64,
        now: i64,
        attempt: &str,
    ) -> Result<Option<(usize, Option<i64>)>>;
    /// Forgets one reserved attempt (it was not made: the password check could not run).
    async fn release_attempt(&self, attempt: &str) -> Result<()>;
    async fn record_login_failure(&self, scopes: &[String], now: i64) -> Result<()>;
    /// For each scope: the number of failures since `since` and the oldest one's time.
    async fn login_failures(
        &self,
        scopes: &[String],
        since: i64,
    ) -> Result<Vec<(i64, Option<i64>)>>;
    async fn clear_login_failures(&self, scope: &str) -> Result<()>;
    /// Deletes expired sessions and login failures older than `login_before`. On PostgreSQL
    /// an advisory lock lets only one instance do it at a time; returns whether this one did.
    async fn cleanup(&self, now: i64, login_before: i64) -> Result<bool>;
}

/// Members, roles and invites of an organization.
#[async_trait]
pub trait Team: Send + Sync {
    async fn members(&self, org: &OrgId) -> Result<Vec<Member>>;
    async fn member_role(&self, org: &OrgId, user: &UserId) -> Result<Option<Role>>;
    /// Changes a member's role in one transaction: `Conflict` when that would leave the
    /// organization without an owner; a member who can no longer write loses their pending
    /// invites.
    async fn set_member_role(&self, org: &OrgId, user: &UserId, role: Role) -> Result<()>;
    /// Removes a member and their pending invites in one transaction (`Conflict` for the last
    /// owner).
    async fn remove_member(&self, org: &OrgId, user: &UserId) -> Result<()>;
    async fn create_invite(&self, org: &OrgId, invite: &NewInvite<'_>) -> Result<Invite>;
    async fn invites(&self, org: &OrgId) -> Result<Vec<Invite>>;
    async fn revoke_invite(&self, org: &OrgId, invite_id: &str) -> Result<()>;
    async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteRow>>;
    /// Accepts an invite in one transaction: checks it is unused and unexpired, checks who
    /// accepts (see [`InviteAcceptor`]; `Conflict` when not allowed), creates the new user if
    /// that is who accepts, adds the membership, marks the invite used. `NotFound` when the
    /// invite cannot be used.
    async fn accept_invite(
        &self,
        token_hash: &str,
        acceptor: InviteAcceptor<'_>,
        now: i64,
    ) -> Result<AcceptedInvite>;
}

/// REST API keys.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn create_api_key(&self, org: &OrgId, key: &NewApiKey<'_>) -> Result<ApiKey>;
    async fn api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>>;
    async fn revoke_api_key(&self, org: &OrgId, id: &str, now: i64) -> Result<()>;
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyMatch>>;
    async fn touch_api_key(&self, id: &str, now: i64) -> Result<()>;
}

/// The Chargebee integration of an organization: its webhook token and Basic Auth.
#[async_trait]
pub trait Integrations: Send + Sync {
    async fn integration(&self, org: &OrgId) -> Result<IntegrationRow>;
    async fn integration_by_token_hash(&self, token_hash: &str) -> Result<Option<TokenMatch>>;
    /// A new token; the previous one keeps working until `previous_valid_until`, or stops
    /// at once when that is `None`.
    async fn rotate_token(
        &self,
        org: &OrgId,
        nonce: &str,
        token_hash: &str,
        previous_valid_until: Option<i64>,
        now: i64,
    ) -> Result<()>;
    async fn set_basic_auth(
        &self,
        org: &OrgId,
        username: Option<&str>,
        password_mac: Option<&str>,
    ) -> Result<()>;
}

/// Webhook events: storing and applying deliveries, replays, releases, retries, the event log.
#[async_trait]
pub trait Events: Send + Sync {
    /// Stores the event and applies it to the ledger in one transaction. A re-delivery of a
    /// known event id changes nothing and reports `duplicate`.
    async fn ingest(
        &self,
        org: &OrgId,
        event: &NewEvent,
        billing: &BillingEvent,
    ) -> Result<EventOutcome>;
    /// Group commit for concurrent deliveries: (largest batch, parallel writers). SQLite has
    /// one writer, so one big batch at a time; PostgreSQL writes several smaller batches at once.
    fn write_batching(&self) -> (usize, usize);
    /// [`ingest`](Self::ingest) for several deliveries in one transaction, one result each.
    /// If the batch fails, each item is tried on its own so one bad event fails alone.
    async fn ingest_batch(&self, items: &[IngestItem]) -> Vec<Result<EventOutcome>>;
    /// Stores an event that is not applied (rejected, ignored, or failed with `detail`);
    /// a known event id is left as it is (`duplicate`).
    async fn record_event(
        &self,
        org: &OrgId,
        event: &NewEvent,
        outcome: Outcome,
        detail: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<EventOutcome>;
    /// Applies a stored event again (replay, retry). Duplicate-safe: the ledger changes are
    /// idempotent by Chargebee ids.
    async fn reprocess(&self, org: &OrgId, id: &str, now: i64) -> Result<EventOutcome>;
    /// Releases the next share of parked events that an earlier transaction left for the
    /// background (see `release_requests`). `None` when nothing is left; otherwise how many
    /// events this share applied. Safe on several instances (each request is claimed).
    async fn continue_releases(&self, now: i64) -> Result<Option<usize>>;
    /// Notified when a transaction leaves parked events for [`continue_releases`](Self::continue_releases).
    fn release_signal(&self) -> Arc<tokio::sync::Notify>;
    /// Marks a stored event failed after a processing error at `now`, keeps the attempt, and
    /// schedules what `retry` says.
    async fn mark_failed(
        &self,
        org: &OrgId,
        id: &str,
        error: &str,
        retry: Retry,
        now: i64,
    ) -> Result<()>;
    /// Failed events due for a retry (claimed so that other instances skip them).
    async fn claim_due_events(
        &self,
        now: i64,
        limit: i64,
        lease_until: i64,
    ) -> Result<Vec<DueEvent>>;
    async fn events(
        &self,
        org: &OrgId,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<EventSummary>>;
    /// By our id or by Chargebee's event id.
    async fn event(&self, org: &OrgId, id: &str) -> Result<Option<EventDetail>>;
    /// Every attempt after the first of a stored event (by our id), oldest first.
    async fn event_attempts(&self, org: &OrgId, id: &str) -> Result<Vec<AttemptRow>>;
    async fn event_counts_since(&self, org: &OrgId, since: i64) -> Result<Vec<(String, i64)>>;
    async fn last_event_at(&self, org: &OrgId) -> Result<Option<i64>>;
    /// What integration health is decided from, over the 7 days before `now`
    /// ([`crate::health`]).
    async fn health_facts(&self, org: &OrgId, now: i64) -> Result<crate::health::HealthFacts>;
    async fn event_types(&self, org: &OrgId) -> Result<Vec<String>>;
    /// Empties the payloads of up to `limit` events received before their organization's
    /// retention (never an event still waiting: unmatched, or failed with a retry to come).
    /// Returns how many were pruned.
    async fn prune_payloads(&self, now: i64, limit: i64) -> Result<u64>;
    /// Makes up to `limit` unmatched events older than their organization's attribution
    /// window `not_attributed` (final). Returns how many.
    async fn expire_unmatched(&self, now: i64, limit: i64) -> Result<u64>;
    /// Unmatched events that look like integration mistakes (no customer key, or a key that
    /// differs only in case or surrounding space from a customer's), newest first.
    async fn suspicious_unmatched(&self, org: &OrgId, limit: i64) -> Result<Vec<EventSummary>>;
    /// Payments received since `since` from customers without a partner: (not attributed,
    /// still waiting for their customer).
    async fn unattributed_payments_since(&self, org: &OrgId, since: i64) -> Result<(i64, i64)>;
}

/// Customers, partners, plans, and what the ledger recorded for them.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Creates a customer (and its partner if new) and applies any events parked for its key.
    async fn create_customer(
        &self,
        org: &OrgId,
        c: &NewCustomer,
        now: i64,
    ) -> Result<(Customer, usize)>;
    async fn customer(&self, org: &OrgId, key: &str) -> Result<Option<Customer>>;
    async fn customers(
        &self,
        org: &OrgId,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<CustomerListRow>>;
    async fn transactions(&self, org: &OrgId, customer_id: &str) -> Result<Vec<Transaction>>;
    /// Recorded transactions in the order they were stored, after `after` ((created at, our
    /// id)), for exports: of one customer and/or one partner's customers (by key).
    async fn transactions_after(
        &self,
        org: &OrgId,
        filter: &TransactionFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<TransactionExportRow>>;
    async fn subscriptions(&self, org: &OrgId, customer_id: &str) -> Result<Vec<Subscription>>;
    async fn create_partner(
        &self,
        org: &OrgId,
        key: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: i64,
    ) -> Result<Partner>;
    async fn update_partner(
        &self,
        org: &OrgId,
        key: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Partner>;
    async fn partner(&self, org: &OrgId, key: &str) -> Result<Option<Partner>>;
    async fn partners(&self, org: &OrgId) -> Result<Vec<Partner>>;
    async fn plans(&self, org: &OrgId) -> Result<Vec<Plan>>;
    async fn detected_plans(&self, org: &OrgId) -> Result<Vec<DetectedPlan>>;
    async fn create_plan(&self, org: &OrgId, key: &str, name: &str, now: i64) -> Result<Plan>;
    /// Renames (and possibly re-keys) a plan.
    async fn update_plan(&self, org: &OrgId, key: &str, new_key: &str, name: &str) -> Result<Plan>;
    /// Deletes a plan; returns how many subscriptions lose their plan name.
    async fn delete_plan(&self, org: &OrgId, key: &str) -> Result<i64>;
    async fn revenue_by_day(&self, org: &OrgId, since: i64) -> Result<Vec<RevenuePoint>>;
    /// Attributed net revenue since `since`, per currency and exchange rate.
    async fn revenue_by_rate(
        &self,
        org: &OrgId,
        since: i64,
    ) -> Result<Vec<crate::currency::RatedSum>>;
}

/// A partner invite as its link finds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerInviteRow {
    pub id: String,
    pub org_id: String,
    pub partner_id: String,
    pub email: String,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub org_name: String,
    pub partner_name: String,
}

/// Who accepted a partner invite, into which organization and partner.
#[derive(Debug, Clone)]
pub struct AcceptedPartnerInvite {
    pub user: UserId,
    pub org_id: String,
    pub partner_id: String,
}

/// Partner users, their invites, and one partner's part of an organization (the portal).
/// Every method is scoped by organization and partner.
#[async_trait]
pub trait Portal: Send + Sync {
    async fn partner_users(&self, org: &OrgId, partner_id: &str) -> Result<Vec<PartnerUser>>;
    /// `NotFound` when the user is not a partner user of that partner.
    async fn remove_partner_user(&self, org: &OrgId, partner_id: &str, user: &str) -> Result<()>;
    /// The partner, when `user` is one of its partner users.
    async fn partner_membership(
        &self,
        org: &OrgId,
        partner_id: &str,
        user: &UserId,
    ) -> Result<Option<PartnerChoice>>;
    /// Every partner-user membership of `user`, oldest first.
    async fn user_partner_memberships(&self, user: &UserId) -> Result<Vec<OrgChoice>>;
    /// `invite.role` is not used.
    async fn create_partner_invite(
        &self,
        org: &OrgId,
        partner_id: &str,
        invite: &NewInvite<'_>,
    ) -> Result<PartnerInvite>;
    /// Pending invites (not accepted, not expired at `now`).
    async fn partner_invites(
        &self,
        org: &OrgId,
        partner_id: &str,
        now: i64,
    ) -> Result<Vec<PartnerInvite>>;
    async fn revoke_partner_invite(&self, org: &OrgId, partner_id: &str, id: &str) -> Result<()>;
    async fn partner_invite_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<PartnerInviteRow>>;
    /// Accepts like a team invite ([`InviteAcceptor`]), making the account a partner user.
    async fn accept_partner_invite(
        &self,
        token_hash: &str,
        acceptor: InviteAcceptor<'_>,
        now: i64,
    ) -> Result<AcceptedPartnerInvite>;
    /// The partner's customers by key, searched by key or name, with masked e-mails.
    async fn portal_customers(
        &self,
        org: &OrgId,
        partner_id: &str,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<PortalCustomer>>;
    /// Whether `key` is one of the partner's customers.
    async fn portal_customer_exists(
        &self,
        org: &OrgId,
        partner_id: &str,
        key: &str,
    ) -> Result<bool>;
    /// (day since 1970, currency, net revenue, earnings) of the partner since `since`.
    async fn portal_daily(
        &self,
        org: &OrgId,
        partner_id: &str,
        since: i64,
    ) -> Result<Vec<(i64, String, i64, i64)>>;
    /// When the partner's earliest pending commission becomes payable (after `now`). A
    /// pending entry is in no run: runs take only entries payable by their cutoff.
    async fn portal_next_payable(
        &self,
        org: &OrgId,
        partner_id: &str,
        now: i64,
    ) -> Result<Option<i64>>;
    /// The partner's statements in runs that are drafts or paid, newest run first.
    async fn portal_statements(
        &self,
        org: &OrgId,
        partner_id: &str,
    ) -> Result<Vec<PortalStatement>>;
}

/// All of storage: what the services hold (`Arc<dyn Storage>`). Bring the area traits into
/// scope with `use backend::storage::prelude::*`.
#[async_trait]
pub trait Storage:
    Accounts
    + Team
    + ApiKeys
    + Integrations
    + Events
    + Ledger
    + Commissions
    + Audit
    + Settings
    + Portal
    + Send
    + Sync
    + 'static
{
    fn backend_name(&self) -> &'static str;
    async fn migrate(&self) -> Result<()>;
    async fn ping(&self) -> Result<()>;
    fn session_store(&self) -> AnySessionStore;
}

/// One version of commission terms.
#[derive(Debug, Clone)]
pub struct TermsVersionRow {
    pub effective_from: i64,
    /// `None`: a partner's override removed from here on.
    pub terms: Option<crate::commission::TermsSpec>,
    pub created_at: i64,
}

/// Which audit rows to list: by action (prefix, e.g. `plan.`), by actor label, and time.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The audit log.
#[async_trait]
pub trait Audit: Send + Sync {
    /// Appends a row (`entry.id` is new).
    async fn append_audit(&self, org: &OrgId, entry: &AuditEntry) -> Result<()>;
    /// Newest first.
    async fn audit_log(
        &self,
        org: &OrgId,
        filter: &AuditFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<AuditEntry>>;
}

/// What a failed attempt does to an event's scheduled retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retry at this time, or never again (`None`): the background retries decide.
    At(Option<i64>),
    /// Leave the schedule as it is: a failed replay never cancels a retry.
    Keep,
}

/// One processing attempt of a stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub at: i64,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Which transactions to export.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    pub customer_key: Option<String>,
    pub partner_key: Option<String>,
}

/// A transaction with its customer and partner, for exports.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TransactionExportRow {
    /// Our id.
    pub id: String,
    pub created_at: i64,
    pub chargebee_id: String,
    pub customer_key: String,
    pub partner_key: Option<String>,
    pub occurred_at: i64,
    pub currency: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub removed_reason: Option<String>,
    pub commission: Option<i64>,
    pub exchange_rate: Option<String>,
    pub base_currency_code: Option<String>,
    pub subscription_id: Option<String>,
    pub invoice_id: Option<String>,
}

/// Which commission entries to list.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub partner_key: Option<String>,
    pub customer_key: Option<String>,
    /// `pending`, `approved` or `paid` (as of `now`).
    pub status: Option<String>,
    pub now: i64,
}

/// A partner's balance in one currency from payments of one exchange rate (Chargebee's
/// `exchange_rate` to `base_currency_code`; `None` when it sent none).
#[derive(Debug, Clone, PartialEq)]
pub struct RatedBalance {
    pub balance: Balance,
    pub rate: Option<String>,
    pub base: Option<String>,
}

/// What a preview of terms works from.
#[derive(Debug, Clone)]
pub struct PreviewFacts {
    pub payments: Vec<crate::commission::PreviewPayment>,
}

/// The organization's settings.
#[async_trait]
pub trait Settings: Send + Sync {
    /// The currency reports convert into (`USD` until set).
    async fn reporting_currency(&self, org: &OrgId) -> Result<String>;
    async fn set_reporting_currency(&self, org: &OrgId, currency: &str) -> Result<()>;
    /// How many days webhook payloads are kept (400 until set).
    async fn payload_retention_days(&self, org: &OrgId) -> Result<i64>;
    async fn set_payload_retention_days(&self, org: &OrgId, days: i64) -> Result<()>;
    /// How many days an unmatched event waits for its customer (30 until set).
    async fn attribution_window_days(&self, org: &OrgId) -> Result<i64>;
    async fn set_attribution_window_days(&self, org: &OrgId, days: i64) -> Result<()>;
}

/// Commission terms and the commission ledger.
#[async_trait]
pub trait Commissions: Send + Sync {
    /// A payout run of every entry payable by `min(up_to, now)` and in no run yet, per
    /// partner and currency; a partner's currency whose total is not positive is carried
    /// forward (its entries stay out of the run). `Conflict` while another run is a draft.
    async fn create_payout(&self, org: &OrgId, up_to: i64, now: i64) -> Result<PayoutRun>;
    async fn payout(&self, org: &OrgId, id: &str) -> Result<Option<PayoutRun>>;
    /// Newest first, without statements.
    async fn payouts(&self, org: &OrgId) -> Result<Vec<PayoutRun>>;
    /// Marks a draft run paid: its entries become paid, for good. `Conflict` unless draft.
    async fn mark_payout_paid(
        &self,
        org: &OrgId,
        id: &str,
        reference: &str,
        now: i64,
    ) -> Result<PayoutRun>;
    /// Cancels a draft run: it keeps its statements as a record, and its entries are free
    /// for the next run. `Conflict` unless draft.
    async fn cancel_payout(&self, org: &OrgId, id: &str, now: i64) -> Result<PayoutRun>;
    /// Appends a version of the organization's default terms (`partner_key` `None`) or of a
    /// partner's override (`terms` `None`: the override ends, the default applies again).
    /// `NotFound` for an unknown partner.
    async fn add_terms_version(
        &self,
        org: &OrgId,
        partner_key: Option<&str>,
        terms: Option<&crate::commission::TermsSpec>,
        effective_from: i64,
        now: i64,
    ) -> Result<()>;
    /// The versions, oldest first; `None` for an unknown partner.
    async fn terms_versions(
        &self,
        org: &OrgId,
        partner_key: Option<&str>,
    ) -> Result<Option<Vec<TermsVersionRow>>>;
    async fn commission_entries(
        &self,
        org: &OrgId,
        filter: &EntryFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<CommissionEntry>>;
    /// Per currency and exchange rate; `None` for an unknown partner.
    async fn partner_balance(
        &self,
        org: &OrgId,
        partner_key: &str,
        now: i64,
    ) -> Result<Option<Vec<RatedBalance>>>;
    /// The recorded, attributed payments that occurred in `[from, to)` (of one partner, or of
    /// all), with what they earned, for a preview of other terms. `None` for an unknown
    /// partner; `Conflict` when there are more than `limit`. `history`: where each payment
    /// stands among its customer's (for terms limited to N months or payments).
    async fn preview_facts(
        &self,
        org: &OrgId,
        partner_key: Option<&str>,
        from: i64,
        to: i64,
        limit: usize,
        history: bool,
    ) -> Result<Option<PreviewFacts>>;
}

pub type DynStorage = Arc<dyn Storage>;

/// Connection pool limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before it fails (with a 503).
    pub acquire_timeout: std::time::Duration,
    /// PostgreSQL `statement_timeout` in milliseconds.
    pub statement_timeout_ms: u64,
    /// Most parked events one transaction releases; the rest goes to the background.
    pub release_chunk: usize,
}

/// Parked events one transaction releases by default: a few hundred milliseconds of the
/// single SQLite writer (see docs/performance.md).
pub const RELEASE_CHUNK: usize = 500;

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(5),
            statement_timeout_ms: 15_000,
            release_chunk: RELEASE_CHUNK,
        }
    }
}

/// Connects to the database named by `url` (`sqlite://…` or `postgres://…`).
pub async fn connect(url: &str, pool: &PoolSettings) -> Result<DynStorage> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStorage::connect(url, pool).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStorage::connect(url, pool).await?))
    } else {
        Err(StorageError::Other(format!(
            "DATABASE_URL must start with sqlite:// or postgres:// (got \"{}\")",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
