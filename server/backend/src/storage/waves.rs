//! Applying a batch of billing events with a few statements per batch instead of several per
//! event (the writer is the bottleneck, and every statement is a round trip).
//!
//! A batch is applied in **waves**. A wave is a run of events that share no lock key (customer
//! key, Chargebee customer, transaction, subscription, event id), so no event in it can depend
//! on another's writes. For a wave we load every event's [`State`] in one query, plan each
//! event (pure), collect the planned changes as rows per statement kind ([`Writes`]) and write
//! each kind with one multi-row statement. Events that must see an earlier event's writes wait
//! for a later wave, in arrival order. This module is the pure part: keys, waves, rows and
//! statement text. `apply.rs` runs them.

use super::{NewEvent, OrgId};
use crate::chargebee::{
    customer_ref, transaction_ref, BillingEvent, Change, CustomerTarget, KnownCustomer,
    KnownTransaction, Outcome, State,
};
use crate::domain::random_id;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// A value bound into a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
}

fn owned(s: impl Into<String>) -> Arg<'static> {
    Arg::Text(Some(Cow::Owned(s.into())))
}
fn opt(s: Option<String>) -> Arg<'static> {
    Arg::Text(s.map(Cow::Owned))
}
pub(super) fn text(s: &str) -> Arg<'_> {
    Arg::Text(Some(Cow::Borrowed(s)))
}
fn opt_ref(s: Option<&str>) -> Arg<'_> {
    Arg::Text(s.map(Cow::Borrowed))
}

/// A multi-row statement: `head`, then `row` once per row (comma-separated; every `?` becomes
/// the next `$n`), then `tail`.
pub(super) struct Stmt {
    pub head: &'static str,
    pub row: &'static str,
    pub tail: &'static str,
    /// When set, every row must be written; fewer means a concurrent writer got there first,
    /// and the batch fails with this message (it is then applied one delivery at a time).
    pub all_rows: Option<&'static str>,
}

/// Rows per statement at most; a batch is split into power-of-two chunks so that each
/// statement text is one of a few (prepared-statement caches keep them).
pub(super) const MAX_ROWS: usize = 64;

impl Stmt {
    pub fn width(&self) -> usize {
        self.row.matches('?').count()
    }

    pub fn render(&self, rows: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + self.tail.len() + rows * 64);
        sql.push_str(self.head);
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            for part in self.row.split_inclusive('?') {
                match part.strip_suffix('?') {
                    Some(before) => {
                        n += 1;
                        sql.push_str(before);
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                    None => sql.push_str(part),
                }
            }
        }
        sql.push_str(self.tail);
        sql
    }
}

/// Splits `n` rows into chunk sizes that are powers of two, at most [`MAX_ROWS`], largest first.
pub(super) fn chunks(mut n: usize) -> Vec<usize> {
    let mut out = vec![];
    while n > 0 {
        let size = if n >= MAX_ROWS {
            MAX_ROWS
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        out.push(size);
        n -= size;
    }
    out
}

/// `n` rounded up to a power of two (or a multiple of [`MAX_ROWS`]): the state query pads
/// its rows to this so each wave needs one statement.
pub(super) fn padded(n: usize) -> usize {
    if n > MAX_ROWS {
        n.div_ceil(MAX_ROWS) * MAX_ROWS
    } else {
        n.next_power_of_two()
    }
}

/// A state-query row that matches nothing (position -1).
pub(super) const STATE_PADDING: [Arg<'static>; 10] = [
    Arg::Int(Some(-1)),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
    Arg::Text(None),
];

/// What an event's state is loaded by, one row per event:
/// (position, org, customer key, Chargebee customer, partner key, transaction, refund,
/// subscription, event id, currency). Refunds are summed in the event's currency only, split
/// into millions and remainders so that no sum can overflow (see `StateRow`).
pub(super) const STATE: Stmt = Stmt {
    head: "WITH k(i, org, ckey, cbid, pkey, txn, refund, sub, evid, cur) AS (VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    tail: ") SELECT k.i AS i, \
    ck.id AS k_id, ck.key AS k_key, ck.partner_id AS k_partner, ck.chargebee_id AS k_cb, \
    ck.chargebee_version AS k_version, \
    cc.id AS c_id, cc.key AS c_key, cc.partner_id AS c_partner, cc.chargebee_id AS c_cb, \
    cc.chargebee_version AS c_version, \
    (SELECT COUNT(*) FROM partners p WHERE p.org_id = k.org AND p.key = k.pkey) AS partners, \
    t.amount AS t_amount, t.amount_refunded AS t_refunded, t.recorded AS t_recorded, \
    t.removed_reason AS t_removed, t.customer_id AS t_customer, t.currency AS t_currency, \
    CAST((SELECT COALESCE(SUM(r.amount / 1000000), 0) FROM refunds r \
      WHERE r.org_id = k.org AND r.original_txn_id = k.txn \
        AND (k.cur IS NULL OR r.currency = k.cur)) AS BIGINT) AS refunded_millions, \
    CAST((SELECT COALESCE(SUM(r.amount % 1000000), 0) FROM refunds r \
      WHERE r.org_id = k.org AND r.original_txn_id = k.txn \
        AND (k.cur IS NULL OR r.currency = k.cur)) AS BIGINT) AS refunded_units, \
    (SELECT COUNT(*) FROM refunds r WHERE r.org_id = k.org AND r.original_txn_id = k.txn \
      AND k.cur IS NOT NULL AND r.currency <> k.cur) AS other_refunds, \
    (SELECT COUNT(*) FROM refunds r WHERE r.org_id = k.org AND r.chargebee_id = k.refund) AS refund_known, \
    (SELECT s.version FROM subscriptions s WHERE s.org_id = k.org AND s.chargebee_id = k.sub) AS sub_version, \
    e.id AS e_id, e.outcome AS e_outcome \
  FROM k \
  LEFT JOIN customers ck ON ck.org_id = k.org AND ck.key = k.ckey \
  LEFT JOIN customers cc ON cc.id = (SELECT c2.id FROM customers c2 \
    WHERE c2.org_id = k.org AND c2.chargebee_id = k.cbid ORDER BY c2.created_at, c2.id LIMIT 1) \
  LEFT JOIN transactions t ON t.org_id = k.org AND t.chargebee_id = k.txn \
  LEFT JOIN webhook_events e ON e.org_id = k.org AND e.event_id = k.evid \
  ORDER BY k.i",
    all_rows: None,
};

/// Parked (unmatched) events for customer keys / Chargebee customers, one row per request:
/// (position, org, customer key, Chargebee customer). Oldest first.
pub(super) const PARKED: Stmt = Stmt {
    head: "WITH r(i, org, ckey, cbid) AS (VALUES ",
    row: "(?, ?, ?, ?)",
    tail:
        ") SELECT r.i AS i, w.id AS id, w.occurred_at AS occurred_at, w.received_at AS received_at \
      FROM r JOIN webhook_events w ON w.org_id = r.org AND w.customer_key = r.ckey \
        AND w.outcome = 'unmatched' \
    UNION \
    SELECT r.i AS i, w.id AS id, w.occurred_at AS occurred_at, w.received_at AS received_at \
      FROM r JOIN webhook_events w ON w.org_id = r.org AND w.chargebee_customer = r.cbid \
        AND w.outcome = 'unmatched' \
    ORDER BY 3, 4, 2, 1",
    all_rows: None,
};

/// Partners known only by their key (named later), unless they exist.
pub(super) const PARTNERS: Stmt = Stmt {
    head: "INSERT INTO partners (id, org_id, key, auto_created, created_at) VALUES ",
    row: "(?, ?, ?, TRUE, ?)",
    tail: " ON CONFLICT (org_id, key) DO NOTHING",
    all_rows: None,
};

const NEW_CUSTOMERS: Stmt = Stmt {
    head: "INSERT INTO customers (id, org_id, key, email, name, partner_id, chargebee_id, \
       chargebee_version, created_at) VALUES ",
    row: "(?, ?, ?, ?, ?, (SELECT id FROM partners WHERE org_id = ? AND key = ?), ?, ?, ?)",
    tail: " ON CONFLICT (org_id, key) DO NOTHING",
    all_rows: Some("a customer was created by another writer during the batch"),
};

const CUSTOMER_UPDATES: Stmt = Stmt {
    head: "WITH v(org_id, id, email, name, chargebee_id, version, partner_key) AS (VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?)",
    tail: ") UPDATE customers SET email = COALESCE(v.email, customers.email), \
       name = COALESCE(v.name, customers.name), \
       chargebee_id = COALESCE(v.chargebee_id, customers.chargebee_id), \
       chargebee_version = COALESCE(v.version, customers.chargebee_version), \
       partner_id = COALESCE(customers.partner_id, \
         (SELECT p.id FROM partners p WHERE p.org_id = v.org_id AND p.key = v.partner_key)) \
     FROM v WHERE customers.org_id = v.org_id AND customers.id = v.id",
    all_rows: None,
};

const TRANSACTIONS: Stmt = Stmt {
    head: "INSERT INTO transactions (id, org_id, chargebee_id, customer_id, recorded, amount, \
       amount_refunded, currency, occurred_at, subscription_id, invoice_id, removed_reason, \
       created_at) VALUES ",
    row: "(?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET \
       customer_id = excluded.customer_id, recorded = TRUE, \
       amount = excluded.amount, amount_refunded = excluded.amount_refunded, \
       currency = excluded.currency, occurred_at = excluded.occurred_at, \
       subscription_id = excluded.subscription_id, invoice_id = excluded.invoice_id, \
       removed_reason = excluded.removed_reason",
    all_rows: None,
};

const FAILED: Stmt = Stmt {
    head: "INSERT INTO transactions (id, org_id, chargebee_id, recorded, amount, currency, \
       occurred_at, removed_reason, created_at) VALUES ",
    row: "(?, ?, ?, FALSE, 0, '', 0, 'failed', ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET removed_reason = 'failed'",
    all_rows: None,
};

const REFUNDS: Stmt = Stmt {
    head: "INSERT INTO refunds (org_id, chargebee_id, original_txn_id, amount, currency, \
       occurred_at, event_row) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO NOTHING",
    all_rows: None,
};

/// Marks the events of refunds in another currency than their payment as rejected (the
/// refunds were never counted). (org, payment, its currency, reason).
const REJECTED_REFUNDS: Stmt = Stmt {
    head: "WITH v(org_id, txn, cur, why) AS (VALUES ",
    row: "(?, ?, ?, ?)",
    tail: ") UPDATE webhook_events SET outcome = 'rejected', detail = v.why FROM v \
     WHERE webhook_events.org_id = v.org_id AND webhook_events.id IN (SELECT r.event_row \
       FROM refunds r WHERE r.org_id = v.org_id AND r.original_txn_id = v.txn \
         AND r.currency <> v.cur)",
    all_rows: None,
};

const ADJUSTMENTS: Stmt = Stmt {
    head: "WITH v(org_id, chargebee_id, amount_refunded, removed_reason) AS (VALUES ",
    row: "(?, ?, ?, ?)",
    tail: ") UPDATE transactions SET amount_refunded = v.amount_refunded, \
       removed_reason = v.removed_reason \
     FROM v WHERE transactions.org_id = v.org_id AND transactions.chargebee_id = v.chargebee_id",
    all_rows: None,
};

const SUBSCRIPTIONS: Stmt = Stmt {
    head: "INSERT INTO subscriptions (id, org_id, chargebee_id, customer_id, plan_key, \
       plan_item_id, status, mrr, currency, current_term_start, current_term_end, version, \
       deleted, updated_at) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET \
       customer_id = excluded.customer_id, plan_key = excluded.plan_key, \
       plan_item_id = excluded.plan_item_id, status = excluded.status, \
       mrr = excluded.mrr, currency = excluded.currency, \
       current_term_start = excluded.current_term_start, \
       current_term_end = excluded.current_term_end, \
       version = excluded.version, deleted = FALSE, updated_at = excluded.updated_at \
     WHERE subscriptions.version <= excluded.version",
    all_rows: None,
};

const TOMBSTONES: Stmt = Stmt {
    head: "INSERT INTO subscriptions (id, org_id, chargebee_id, status, version, deleted, \
       updated_at) VALUES ",
    row: "(?, ?, ?, 'deleted', ?, TRUE, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET deleted = TRUE, \
       status = 'deleted', version = excluded.version, updated_at = excluded.updated_at \
     WHERE subscriptions.version <= excluded.version",
    all_rows: None,
};

const NEW_EVENTS: Stmt = Stmt {
    head: "INSERT INTO webhook_events (id, org_id, event_id, event_type, occurred_at, \
       received_at, outcome, detail, payload, customer_key, chargebee_customer, customer_id, \
       attempts) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    tail: " ON CONFLICT (org_id, event_id) DO NOTHING",
    all_rows: Some("an event was stored by another writer during the batch"),
};

const EVENT_UPDATES: Stmt = Stmt {
    head: "WITH v(org_id, id, outcome, detail, customer_key, chargebee_customer, customer_id) \
       AS (VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?)",
    tail: ") UPDATE webhook_events SET outcome = v.outcome, detail = v.detail, \
       customer_key = v.customer_key, chargebee_customer = v.chargebee_customer, \
       customer_id = v.customer_id, next_attempt_at = NULL, \
       attempts = webhook_events.attempts + 1 \
     FROM v WHERE webhook_events.org_id = v.org_id AND webhook_events.id = v.id",
    all_rows: None,
};

/// Which row an event's outcome goes to.
pub enum Row<'a> {
    /// A delivery not stored yet: it is stored with its final outcome.
    New(&'a NewEvent),
    /// A stored event (replayed, retried or released from parking): its row is updated.
    Stored(String),
}

impl Row<'_> {
    /// Our id of the event row (`evt_…`).
    pub fn id(&self) -> &str {
        match self {
            Row::New(e) => &e.id,
            Row::Stored(id) => id,
        }
    }
}

/// One event to apply.
pub struct Item<'a> {
    pub org: &'a OrgId,
    pub row: Row<'a>,
    pub billing: Cow<'a, BillingEvent>,
    /// The time written on rows it creates.
    pub now: i64,
    /// The delivery (position among the first items) whose release brought this event in.
    pub origin: usize,
}

impl<'a> Item<'a> {
    /// Keys an event's state depends on: events sharing one go to different waves, in order.
    /// On PostgreSQL the same keys are the advisory locks.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = lock_keys(self.org, &self.billing);
        match &self.row {
            // Re-deliveries of one event meet on its unique index.
            Row::New(e) => {
                if let Some(id) = &e.event_id {
                    keys.push(format!("{}:event:{id}", self.org));
                }
            }
            Row::Stored(id) => keys.push(format!("{}:row:{id}", self.org)),
        }
        keys
    }

    /// The state query's row for this event (`i`: its position in the wave).
    pub fn state_args(&self, i: usize) -> Vec<Arg<'_>> {
        let event = self.billing.as_ref();
        let (key, cb_id) = customer_ref(event);
        let partner_key = match event {
            BillingEvent::PaymentSucceeded { customer, .. }
            | BillingEvent::Subscription { customer, .. }
            | BillingEvent::Customer { customer } => customer.partner_key.as_deref(),
            _ => None,
        };
        let refund_id = match event {
            BillingEvent::PaymentRefunded { refund, .. } => Some(refund.id.as_str()),
            _ => None,
        };
        let sub_id = match event {
            BillingEvent::Subscription { subscription, .. } => Some(subscription.id.as_str()),
            _ => None,
        };
        let event_id = match &self.row {
            Row::New(e) => e.event_id.as_deref(),
            Row::Stored(_) => None,
        };
        // Refunds are counted in the currency of the payment or refund at hand.
        let currency = match event {
            BillingEvent::PaymentSucceeded { txn, .. } => Some(txn.currency.as_str()),
            BillingEvent::PaymentRefunded { refund, .. } => Some(refund.currency.as_str()),
            _ => None,
        };
        vec![
            Arg::Int(Some(i as i64)),
            text(self.org.as_str()),
            opt(key),
            opt(cb_id),
            opt_ref(partner_key),
            opt_ref(transaction_ref(event)),
            opt_ref(refund_id),
            opt_ref(sub_id),
            opt_ref(event_id),
            opt_ref(currency),
        ]
    }
}

/// The advisory lock key for a customer key. An event about the customer and the creation
/// of that customer take it, so a concurrently parked event is either seen by the creation
/// or sees the new customer.
pub fn customer_lock_key(org: &OrgId, customer_key: &str) -> String {
    format!("{org}:customer:{customer_key}")
}

/// The advisory lock key for a sign-in limiter scope.
pub fn attempt_lock_key(scope: &str) -> String {
    format!("attempt:{scope}")
}

/// What concurrent transactions about the same things must not interleave on (PostgreSQL
/// runs them in parallel; SQLite has one writer). Sorted, so locks are taken in one order.
pub(super) fn lock_keys(org: &OrgId, event: &BillingEvent) -> Vec<String> {
    let mut keys = vec![];
    let (customer_key, chargebee_id) = customer_ref(event);
    if let Some(k) = customer_key {
        keys.push(customer_lock_key(org, &k));
    }
    if let Some(c) = chargebee_id {
        keys.push(format!("{org}:chargebee-customer:{c}"));
    }
    if let Some(t) = transaction_ref(event) {
        keys.push(format!("{org}:txn:{t}"));
    }
    if let BillingEvent::Subscription { subscription, .. } = event {
        keys.push(format!("{org}:sub:{}", subscription.id));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Splits `pending` (in arrival order) into the next wave and the rest. An event joins the
/// wave unless it shares a key with an event already in it or already held back; held-back
/// events keep their order.
pub(super) fn next_wave(pending: &[usize], keys: &[Vec<String>]) -> (Vec<usize>, Vec<usize>) {
    let mut claimed: HashSet<&str> = HashSet::new();
    let mut blocked: HashSet<&str> = HashSet::new();
    let (mut wave, mut rest) = (vec![], vec![]);
    for &i in pending {
        let k = &keys[i];
        if k.iter()
            .any(|k| claimed.contains(k.as_str()) || blocked.contains(k.as_str()))
        {
            blocked.extend(k.iter().map(String::as_str));
            rest.push(i);
        } else {
            claimed.extend(k.iter().map(String::as_str));
            wave.push(i);
        }
    }
    (wave, rest)
}

/// The rows a plan writes (besides partners, which are idempotent): two events in one wave
/// must not write the same row, or one multi-row statement would touch it twice.
pub(super) fn written_rows(org: &OrgId, changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::SaveCustomer {
                target: CustomerTarget::Existing(id),
                ..
            } => Some(format!("customer:{id}")),
            Change::SaveCustomer {
                target: CustomerTarget::New { key },
                ..
            } => Some(format!("{org}:customer-key:{key}")),
            Change::RecordTransaction { txn, .. } => Some(format!("{org}:txn:{}", txn.id)),
            Change::AdjustTransaction { txn_id, .. } | Change::MarkFailed { txn_id } => {
                Some(format!("{org}:txn:{txn_id}"))
            }
            Change::RecordRefund { refund_txn_id, .. } => {
                Some(format!("{org}:refund:{refund_txn_id}"))
            }
            Change::UpsertSubscription { subscription, .. } => {
                Some(format!("{org}:sub:{}", subscription.id))
            }
            Change::DeleteSubscription {
                subscription_id, ..
            } => Some(format!("{org}:sub:{subscription_id}")),
            // Touches only the stored events of this payment's refunds (the payment's own
            // transaction key keeps them out of this wave).
            Change::CreatePartner { .. }
            | Change::ReleaseParked { .. }
            | Change::RejectRefunds { .. } => None,
        })
        .collect()
}

/// The stored customers an event's state was read from, named as in [`written_rows`]: an
/// event of the wave that changes one of them (say, its Chargebee id) must come first.
pub(super) fn read_rows(state: &State) -> Vec<String> {
    [&state.customer_by_key, &state.customer_by_chargebee_id]
        .into_iter()
        .flatten()
        .map(|c| format!("customer:{}", c.id))
        .collect()
}

pub(super) fn outcome_parts(o: &Outcome) -> (&'static str, Option<String>) {
    match o {
        Outcome::Processed => ("processed", None),
        Outcome::Ignored(why) => ("ignored", Some(why.clone())),
        Outcome::Unmatched(why) => ("unmatched", Some(why.clone())),
        Outcome::Rejected(why) => ("rejected", Some(why.clone())),
    }
}

/// Customers (key, Chargebee id) whose parked events a plan asks to apply.
pub(super) type Releases = Vec<(String, Option<String>)>;

/// A request to apply events parked for a customer.
pub(super) struct Release<'a> {
    pub org: &'a OrgId,
    pub customer_key: String,
    pub chargebee_id: Option<String>,
    pub origin: usize,
    pub now: i64,
}

impl Release<'_> {
    pub fn args(&self, i: usize) -> Vec<Arg<'_>> {
        vec![
            Arg::Int(Some(i as i64)),
            text(self.org.as_str()),
            text(&self.customer_key),
            opt_ref(self.chargebee_id.as_deref()),
        ]
    }
}

/// The rows one wave writes, per statement kind, flushed in [`Writes::in_order`].
#[derive(Default)]
pub(super) struct Writes<'a> {
    partners: Vec<Arg<'a>>,
    partner_keys: HashSet<(String, String)>,
    new_customers: Vec<Arg<'a>>,
    /// Ids chosen for the customers this wave creates, by (org, key).
    new_customer_ids: HashMap<(String, String), String>,
    customer_updates: Vec<Arg<'a>>,
    transactions: Vec<Arg<'a>>,
    failed: Vec<Arg<'a>>,
    refunds: Vec<Arg<'a>>,
    rejected_refunds: Vec<Arg<'a>>,
    adjustments: Vec<Arg<'a>>,
    subscriptions: Vec<Arg<'a>>,
    tombstones: Vec<Arg<'a>>,
    new_events: Vec<Arg<'a>>,
    event_updates: Vec<Arg<'a>>,
    written: HashSet<String>,
}

impl<'a> Writes<'a> {
    /// Statements with their rows, in the order they must run (partners before the customers
    /// that name them, customers before their transactions and subscriptions).
    pub fn in_order(&self) -> [(&'static Stmt, &[Arg<'a>]); 12] {
        [
            (&PARTNERS, &self.partners),
            (&NEW_CUSTOMERS, &self.new_customers),
            (&CUSTOMER_UPDATES, &self.customer_updates),
            (&TRANSACTIONS, &self.transactions),
            (&FAILED, &self.failed),
            (&REFUNDS, &self.refunds),
            (&ADJUSTMENTS, &self.adjustments),
            (&SUBSCRIPTIONS, &self.subscriptions),
            (&TOMBSTONES, &self.tombstones),
            (&NEW_EVENTS, &self.new_events),
            (&EVENT_UPDATES, &self.event_updates),
            // After the events are written: a refund's event may be new in an earlier wave.
            (&REJECTED_REFUNDS, &self.rejected_refunds),
        ]
    }

    /// Claims the rows a plan writes; false (nothing claimed) when an earlier event of the
    /// wave writes one of them, or one of the rows its state was read from (`read`).
    pub fn claim(&mut self, read: &[String], rows: Vec<String>) -> bool {
        if read.iter().chain(&rows).any(|r| self.written.contains(r)) {
            return false;
        }
        self.written.extend(rows);
        true
    }

    fn customer_id(&self, org: &OrgId, target: &CustomerTarget) -> Result<String, String> {
        match target {
            CustomerTarget::Existing(id) => Ok(id.clone()),
            CustomerTarget::New { key } => self
                .new_customer_ids
                .get(&(org.to_string(), key.clone()))
                .cloned()
                .ok_or_else(|| format!("customer {key} was planned but not created")),
        }
    }

    /// Adds a plan's changes. Returns the customer the event concerned (if the changes name
    /// one) and the parked-event releases it asks for.
    /// `txn_owner` is the stored transaction's customer (an adjusted transaction's owner is
    /// the customer the event concerns).
    pub fn add_changes(
        &mut self,
        org: &'a OrgId,
        changes: Vec<Change>,
        now: i64,
        txn_owner: Option<&str>,
        event_row: &str,
    ) -> Result<(Option<String>, Releases), String> {
        let mut customer_id: Option<String> = None;
        let mut releases = vec![];
        let o = || text(org.as_str());
        for change in changes {
            match change {
                Change::CreatePartner { key } => {
                    if self.partner_keys.insert((org.to_string(), key.clone())) {
                        self.partners.extend([
                            owned(random_id("prt")),
                            o(),
                            owned(key),
                            Arg::Int(Some(now)),
                        ]);
                    }
                }
                Change::SaveCustomer {
                    target,
                    email,
                    name,
                    chargebee_id,
                    partner_key,
                    version,
                } => match target {
                    CustomerTarget::New { key } => {
                        let id = random_id("cus");
                        self.new_customer_ids
                            .insert((org.to_string(), key.clone()), id.clone());
                        self.new_customers.extend([
                            owned(id.clone()),
                            o(),
                            owned(key),
                            opt(email),
                            opt(name),
                            o(),
                            opt(partner_key),
                            opt(chargebee_id),
                            Arg::Int(version),
                            Arg::Int(Some(now)),
                        ]);
                        customer_id.get_or_insert(id);
                    }
                    CustomerTarget::Existing(id) => {
                        self.customer_updates.extend([
                            o(),
                            owned(id.clone()),
                            opt(email),
                            opt(name),
                            opt(chargebee_id),
                            Arg::Int(version),
                            opt(partner_key),
                        ]);
                        customer_id.get_or_insert(id);
                    }
                },
                Change::RecordTransaction {
                    customer,
                    txn,
                    amount_refunded,
                    removed_reason,
                } => {
                    let cid = self.customer_id(org, &customer)?;
                    self.transactions.extend([
                        owned(random_id("txn")),
                        o(),
                        owned(txn.id),
                        owned(cid.clone()),
                        Arg::Int(Some(txn.amount)),
                        Arg::Int(Some(amount_refunded)),
                        owned(txn.currency),
                        Arg::Int(Some(txn.date.saturating_mul(1000))),
                        opt(txn.subscription_id),
                        opt(txn.invoice_id),
                        opt(removed_reason),
                        Arg::Int(Some(now)),
                    ]);
                    customer_id.get_or_insert(cid);
                }
                Change::RecordRefund {
                    refund_txn_id,
                    original_txn_id,
                    amount,
                    currency,
                    date,
                } => self.refunds.extend([
                    o(),
                    owned(refund_txn_id),
                    owned(original_txn_id),
                    Arg::Int(Some(amount)),
                    owned(currency),
                    Arg::Int(Some(date.saturating_mul(1000))),
                    owned(event_row),
                ]),
                Change::RejectRefunds {
                    original_txn_id,
                    currency,
                } => {
                    let why = format!(
                        "not applied: the payment {original_txn_id} it refunds is in {currency}, another currency than this refund"
                    );
                    self.rejected_refunds.extend([
                        o(),
                        owned(original_txn_id),
                        owned(currency),
                        owned(why),
                    ]);
                }
                Change::AdjustTransaction {
                    txn_id,
                    amount_refunded,
                    removed_reason,
                } => {
                    self.adjustments.extend([
                        o(),
                        owned(txn_id),
                        Arg::Int(Some(amount_refunded)),
                        opt(removed_reason),
                    ]);
                    if let Some(owner) = txn_owner {
                        customer_id.get_or_insert_with(|| owner.to_string());
                    }
                }
                Change::MarkFailed { txn_id } => self.failed.extend([
                    owned(random_id("txn")),
                    o(),
                    owned(txn_id),
                    Arg::Int(Some(now)),
                ]),
                Change::UpsertSubscription {
                    customer,
                    subscription: s,
                } => {
                    let cid = self.customer_id(org, &customer)?;
                    self.subscriptions.extend([
                        owned(random_id("sub")),
                        o(),
                        owned(s.id),
                        owned(cid.clone()),
                        opt(s.plan_key),
                        opt(s.plan_item_id),
                        owned(s.status),
                        Arg::Int(s.mrr),
                        opt(s.currency),
                        Arg::Int(s.current_term_start.map(|t| t.saturating_mul(1000))),
                        Arg::Int(s.current_term_end.map(|t| t.saturating_mul(1000))),
                        Arg::Int(Some(s.version)),
                        Arg::Int(Some(now)),
                    ]);
                    customer_id.get_or_insert(cid);
                }
                Change::DeleteSubscription {
                    subscription_id,
                    version,
                } => self.tombstones.extend([
                    owned(random_id("sub")),
                    o(),
                    owned(subscription_id),
                    Arg::Int(Some(version)),
                    Arg::Int(Some(now)),
                ]),
                Change::ReleaseParked {
                    customer_key,
                    chargebee_id,
                } => releases.push((customer_key, chargebee_id)),
            }
        }
        Ok((customer_id, releases))
    }

    /// Records an applied event's outcome: a new row for a delivery, an update for a stored one.
    pub fn record(
        &mut self,
        org: &'a OrgId,
        row: &Row<'a>,
        billing: &BillingEvent,
        outcome: &'static str,
        detail: Option<String>,
        customer_id: Option<String>,
    ) {
        let (key, cb_id) = customer_ref(billing);
        match *row {
            Row::New(e) => {
                self.new_events.extend([
                    text(&e.id),
                    text(org.as_str()),
                    opt_ref(e.event_id.as_deref()),
                    opt_ref(e.event_type.as_deref()),
                    Arg::Int(e.occurred_at),
                    Arg::Int(Some(e.received_at)),
                    text(outcome),
                    opt(detail),
                    text(&e.payload),
                    opt(key),
                    opt(cb_id),
                    opt(customer_id),
                    Arg::Int(Some(1)),
                ]);
            }
            Row::Stored(ref id) => self.event_updates.extend([
                text(org.as_str()),
                owned(id.clone()),
                text(outcome),
                opt(detail),
                opt(key),
                opt(cb_id),
                opt(customer_id),
            ]),
        }
    }

    /// Logs a re-delivery of a stored event (without a second copy of the payload); changes
    /// nothing else. Returns its detail.
    pub fn duplicate(
        &mut self,
        org: &'a OrgId,
        e: &'a NewEvent,
        original_id: &str,
        original_outcome: &str,
    ) -> String {
        let detail = duplicate_detail(e, original_id, original_outcome);
        self.new_events.extend([
            owned(random_id("evt")),
            text(org.as_str()),
            Arg::Text(None),
            opt_ref(e.event_type.as_deref()),
            Arg::Int(e.occurred_at),
            Arg::Int(Some(e.received_at)),
            text("duplicate"),
            owned(detail.clone()),
            text(""),
            Arg::Text(None),
            Arg::Text(None),
            Arg::Text(None),
            Arg::Int(Some(0)),
        ]);
        detail
    }
}

/// The detail logged on a re-delivery of a stored event.
pub(super) fn duplicate_detail(e: &NewEvent, original_id: &str, original_outcome: &str) -> String {
    format!(
        "re-delivery of event {} (first stored as {original_id}, outcome {original_outcome})",
        e.event_id.as_deref().unwrap_or_default(),
    )
}

/// The customer an event concerns when its changes name none: who the state found.
pub(super) fn state_customer(state: &State) -> Option<String> {
    state
        .customer_by_key
        .as_ref()
        .map(|c| c.id.clone())
        .or_else(|| {
            state
                .customer_by_chargebee_id
                .as_ref()
                .map(|c| c.id.clone())
        })
        .or_else(|| {
            state
                .transaction
                .as_ref()
                .and_then(|t| t.customer_id.clone())
        })
}

/// A sum read as millions and remainders (`SUM(x / 1000000)`, `SUM(x % 1000000)`), which
/// cannot overflow in SQL, put back together exactly.
pub(super) fn joined_sum(millions: i64, units: i64) -> i128 {
    i128::from(millions) * 1_000_000 + i128::from(units)
}

/// [`joined_sum`] as an `i64`, saturating beyond it (every use of a refund total caps it at
/// the payment's amount, so saturating there is exact).
pub(super) fn exact_sum(millions: i64, units: i64) -> i64 {
    let total = joined_sum(millions, units);
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

/// One row of [`STATE`].
#[derive(sqlx::FromRow)]
pub(super) struct StateRow {
    i: i64,
    k_id: Option<String>,
    k_key: Option<String>,
    k_partner: Option<String>,
    k_cb: Option<String>,
    k_version: Option<i64>,
    c_id: Option<String>,
    c_key: Option<String>,
    c_partner: Option<String>,
    c_cb: Option<String>,
    c_version: Option<i64>,
    partners: i64,
    t_amount: Option<i64>,
    t_refunded: Option<i64>,
    t_recorded: Option<bool>,
    t_removed: Option<String>,
    t_customer: Option<String>,
    t_currency: Option<String>,
    refunded_millions: i64,
    refunded_units: i64,
    other_refunds: i64,
    refund_known: i64,
    sub_version: Option<i64>,
    e_id: Option<String>,
    e_outcome: Option<String>,
}

/// An event's state, and the stored event its id already belongs to (id, outcome).
pub(super) type Loaded = (State, Option<(String, String)>);

impl StateRow {
    pub fn position(&self) -> i64 {
        self.i
    }

    /// Reads a row of [`STATE`] from SQLite's own API (see `wave_db.rs`).
    pub fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            i: row.get("i")?,
            k_id: row.get("k_id")?,
            k_key: row.get("k_key")?,
            k_partner: row.get("k_partner")?,
            k_cb: row.get("k_cb")?,
            k_version: row.get("k_version")?,
            c_id: row.get("c_id")?,
            c_key: row.get("c_key")?,
            c_partner: row.get("c_partner")?,
            c_cb: row.get("c_cb")?,
            c_version: row.get("c_version")?,
            partners: row.get("partners")?,
            t_amount: row.get("t_amount")?,
            t_refunded: row.get("t_refunded")?,
            t_recorded: row.get("t_recorded")?,
            t_removed: row.get("t_removed")?,
            t_customer: row.get("t_customer")?,
            t_currency: row.get("t_currency")?,
            refunded_millions: row.get("refunded_millions")?,
            refunded_units: row.get("refunded_units")?,
            other_refunds: row.get("other_refunds")?,
            refund_known: row.get("refund_known")?,
            sub_version: row.get("sub_version")?,
            e_id: row.get("e_id")?,
            e_outcome: row.get("e_outcome")?,
        })
    }

    pub fn into_loaded(self) -> Loaded {
        let customer = |id: Option<String>, key, partner: Option<String>, cb, version| {
            id.map(|id| KnownCustomer {
                id,
                key: Option::<String>::unwrap_or_default(key),
                has_partner: partner.is_some(),
                chargebee_id: cb,
                version,
            })
        };
        let state = State {
            customer_by_key: customer(
                self.k_id,
                self.k_key,
                self.k_partner,
                self.k_cb,
                self.k_version,
            ),
            customer_by_chargebee_id: customer(
                self.c_id,
                self.c_key,
                self.c_partner,
                self.c_cb,
                self.c_version,
            ),
            partner_exists: self.partners > 0,
            transaction: self.t_amount.map(|amount| KnownTransaction {
                amount,
                amount_refunded: self.t_refunded.unwrap_or(0),
                recorded: self.t_recorded.unwrap_or(false),
                removed_reason: self.t_removed,
                customer_id: self.t_customer,
            }),
            refund_known: self.refund_known > 0,
            refunded_so_far: exact_sum(self.refunded_millions, self.refunded_units),
            transaction_currency: self.t_currency.filter(|c| !c.is_empty()),
            other_currency_refunds: self.other_refunds,
            subscription_version: self.sub_version,
        };
        (state, self.e_id.zip(self.e_outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chargebee::{CbCustomer, CbSubscription, CbTransaction};

    fn org() -> OrgId {
        OrgId::from_trusted("org_test")
    }

    fn active_subscription(id: &str) -> CbSubscription {
        CbSubscription {
            id: id.into(),
            customer_id: None,
            plan_key: None,
            plan_item_id: None,
            status: "active".into(),
            mrr: None,
            currency: None,
            current_term_start: None,
            current_term_end: None,
            version: 1,
        }
    }

    #[test]
    fn render_numbers_placeholders_across_rows() {
        let s = Stmt {
            head: "INSERT INTO t VALUES ",
            row: "(?, (SELECT ? + 1), 'x')",
            tail: " ON CONFLICT DO NOTHING",
            all_rows: None,
        };
        assert_eq!(s.width(), 2);
        assert_eq!(
            s.render(2),
            "INSERT INTO t VALUES ($1, (SELECT $2 + 1), 'x'), ($3, (SELECT $4 + 1), 'x') ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn chunks_are_powers_of_two_that_add_up() {
        for n in 0..300 {
            let c = chunks(n);
            assert_eq!(c.iter().sum::<usize>(), n);
            assert!(c.iter().all(|s| s.is_power_of_two() && *s <= MAX_ROWS));
            assert!(c.windows(2).all(|w| w[0] >= w[1]));
        }
        assert_eq!(chunks(37), vec![32, 4, 1]);
        assert_eq!(
            (padded(1), padded(29), padded(64), padded(65)),
            (1, 32, 64, 128)
        );
        assert_eq!(chunks(padded(100)), vec![64, 64]);
        assert_eq!(chunks(130), vec![64, 64, 2]);
    }

    fn keys(list: &[&[&str]]) -> Vec<Vec<String>> {
        list.iter()
            .map(|k| k.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn waves_hold_back_events_that_share_a_key_and_keep_their_order() {
        // 0 and 1 share a; 2 shares b with held-back 1, so it waits too; 3 is free.
        let k = keys(&[&["a"], &["a", "b"], &["b"], &["c"], &[]]);
        let (wave, rest) = next_wave(&[0, 1, 2, 3, 4], &k);
        assert_eq!(wave, vec![0, 3, 4]);
        assert_eq!(rest, vec![1, 2]);
        let (wave, rest) = next_wave(&rest, &k);
        assert_eq!(wave, vec![1]);
        assert_eq!(rest, vec![2]);
        assert_eq!(next_wave(&rest, &k), (vec![2], vec![]));
    }

    fn payment(txn: &str, key: &str) -> BillingEvent {
        BillingEvent::PaymentSucceeded {
            txn: CbTransaction {
                id: txn.into(),
                amount: 100,
                currency: "USD".into(),
                date: 1,
                subscription_id: None,
                invoice_id: None,
                customer_id: Some(format!("cb_{key}")),
            },
            customer: CbCustomer {
                id: Some(format!("cb_{key}")),
                customer_key: Some(key.into()),
                partner_key: Some("p1".into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn re_deliveries_and_shared_customers_fall_into_later_waves() {
        let org = org();
        let event = |id: &str| NewEvent {
            id: format!("evt_{id}"),
            event_id: Some(id.into()),
            event_type: Some("payment_succeeded".into()),
            occurred_at: Some(1),
            received_at: 2,
            payload: "{}".into(),
        };
        let (e1, e2, e3) = (event("ev_1"), event("ev_1"), event("ev_2"));
        let item = |e, billing| Item {
            org: &org,
            row: Row::New(e),
            billing: Cow::Owned(billing),
            now: 2,
            origin: 0,
        };
        let items = [
            item(&e1, payment("t1", "k1")),
            item(&e2, payment("t1", "k1")),
            item(&e3, payment("t2", "k2")),
        ];
        let k: Vec<_> = items.iter().map(Item::keys).collect();
        assert!(k[0].contains(&"org_test:event:ev_1".to_string()));
        assert_eq!(next_wave(&[0, 1, 2], &k), (vec![0, 2], vec![1]));
    }

    #[test]
    fn one_row_is_written_once_per_wave() {
        let org = org();
        let mut w = Writes::default();
        let adjust = |t: &str| Change::AdjustTransaction {
            txn_id: t.into(),
            amount_refunded: 1,
            removed_reason: None,
        };
        assert!(w.claim(&[], written_rows(&org, &[adjust("t1")])));
        let failed = Change::MarkFailed {
            txn_id: "t1".into(),
        };
        assert!(!w.claim(&[], written_rows(&org, &[failed])));
        assert!(w.claim(&[], written_rows(&org, &[adjust("t2")])));
        // A customer changed earlier in the wave cannot be read from by a later event.
        let save = Change::SaveCustomer {
            target: CustomerTarget::Existing("cus_x".into()),
            email: None,
            name: None,
            chargebee_id: Some("cb_new".into()),
            partner_key: None,
            version: None,
        };
        assert!(w.claim(&[], written_rows(&org, &[save])));
        let state = State {
            customer_by_chargebee_id: Some(KnownCustomer {
                id: "cus_x".into(),
                key: "k".into(),
                has_partner: true,
                chargebee_id: Some("cb_old".into()),
                version: None,
            }),
            ..State::default()
        };
        assert_eq!(read_rows(&state), vec!["customer:cus_x".to_string()]);
        assert!(!w.claim(&read_rows(&state), vec![]));
    }

    #[test]
    fn every_change_makes_whole_rows_of_its_statement() {
        let org = org();
        let e = NewEvent {
            id: "evt_1".into(),
            event_id: Some("ev_1".into()),
            event_type: None,
            occurred_at: None,
            received_at: 5,
            payload: "{}".into(),
        };
        let mut w = Writes::default();
        let changes = vec![
            Change::CreatePartner { key: "p".into() },
            Change::CreatePartner { key: "p".into() },
            Change::SaveCustomer {
                target: CustomerTarget::New { key: "k".into() },
                email: None,
                name: None,
                chargebee_id: None,
                partner_key: Some("p".into()),
                version: None,
            },
            Change::SaveCustomer {
                target: CustomerTarget::Existing("cus_2".into()),
                email: Some("a@b.c".into()),
                name: None,
                chargebee_id: None,
                partner_key: None,
                version: Some(3),
            },
            Change::RecordTransaction {
                customer: CustomerTarget::New { key: "k".into() },
                txn: CbTransaction {
                    id: "t".into(),
                    amount: 1,
                    currency: "USD".into(),
                    date: 1,
                    subscription_id: None,
                    invoice_id: None,
                    customer_id: None,
                },
                amount_refunded: 0,
                removed_reason: None,
            },
            Change::RecordRefund {
                refund_txn_id: "r".into(),
                original_txn_id: "t".into(),
                amount: 1,
                currency: "USD".into(),
                date: 1,
            },
            Change::AdjustTransaction {
                txn_id: "t".into(),
                amount_refunded: 1,
                removed_reason: None,
            },
            Change::MarkFailed {
                txn_id: "t3".into(),
            },
            Change::UpsertSubscription {
                customer: CustomerTarget::Existing("cus_2".into()),
                subscription: active_subscription("s"),
            },
            Change::DeleteSubscription {
                subscription_id: "s2".into(),
                version: 1,
            },
            Change::ReleaseParked {
                customer_key: "k".into(),
                chargebee_id: None,
            },
            Change::RejectRefunds {
                original_txn_id: "t".into(),
                currency: "USD".into(),
            },
        ];
        let (customer, releases) = w
            .add_changes(&org, changes, 5, Some("cus_owner"), "evt_9")
            .unwrap();
        // The first customer named is the one created.
        assert_eq!(
            customer.as_deref(),
            w.new_customer_ids.values().next().map(String::as_str)
        );
        assert_eq!(releases, vec![("k".to_string(), None)]);
        w.record(
            &org,
            &Row::New(&e),
            &BillingEvent::Other,
            "processed",
            None,
            customer,
        );
        w.record(
            &org,
            &Row::Stored("evt_0".into()),
            &BillingEvent::Other,
            "ignored",
            Some("why".into()),
            None,
        );
        w.duplicate(&org, &e, "evt_0", "processed");
        for (stmt, args) in w.in_order() {
            assert!(!args.is_empty(), "{}", stmt.head);
            assert_eq!(args.len() % stmt.width(), 0, "{}", stmt.head);
        }
        // The partner is created once.
        assert_eq!(w.partners.len(), PARTNERS.width());
        assert_eq!(STATE.width(), 10);
        assert_eq!(STATE.width(), STATE_PADDING.len());
        assert_eq!(PARKED.width(), 4);
    }

    #[test]
    fn split_sums_are_put_back_together_exactly_and_never_overflow() {
        assert_eq!(exact_sum(12, 345_678), 12_345_678);
        assert_eq!(exact_sum(0, 0), 0);
        assert_eq!(exact_sum(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(exact_sum(9_223_372_036_854, 775_807), i64::MAX);
    }

    #[test]
    fn a_transaction_for_a_customer_not_created_in_the_wave_is_an_error() {
        let org = org();
        let mut w = Writes::default();
        let err = w
            .add_changes(
                &org,
                vec![Change::MarkFailed { txn_id: "t".into() }, {
                    Change::UpsertSubscription {
                        customer: CustomerTarget::New {
                            key: "nobody".into(),
                        },
                        subscription: active_subscription("s"),
                    }
                }],
                1,
                None,
                "evt_1",
            )
            .unwrap_err();
        assert!(err.contains("nobody"), "{err}");
    }
}
