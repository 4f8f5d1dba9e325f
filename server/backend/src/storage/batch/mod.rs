//! The batch write path: applying webhook events (new deliveries, a replay, a release of
//! parked events) with a few statements per batch instead of several per event (the writer
//! is the bottleneck, and every statement is a round trip).
//!
//! A batch is applied in **waves**. A wave is a run of events that share no lock key (customer
//! key, Chargebee customer, transaction, subscription, event id), so no event in it can depend
//! on another's writes. For a wave we load every event's [`State`] in one query, plan each
//! event (pure), collect the planned changes as rows per statement kind ([`Writes`]) and write
//! each kind with one multi-row statement. Events that must see an earlier event's writes wait
//! for a later wave, in arrival order. Events that a wave's plans release (parked for a
//! customer that now exists) join the next wave, within the transaction's [`Budget`].
//!
//! The seams, one file each:
//! - `schedule.rs` (pure): lock keys, the split into waves, the rows an event reads and writes;
//! - `rows.rs` (pure): the rows a wave writes, from the planner's changes (ids passed in);
//! - `statements.rs`: the statement texts, bound values, and the state query's row;
//! - `executor.rs`: [`WaveDb`], what the loop needs from a connection, over sqlx;
//! - `run.rs`: the loop.

mod executor;
#[cfg(test)]
mod loop_tests;
mod rows;
mod run;
mod schedule;
mod statements;
#[cfg(test)]
mod tests;

pub(crate) use executor::*;
pub(crate) use rows::*;
pub(crate) use run::*;
pub use run::{Budget, WaveOp};
pub(crate) use schedule::*;
pub use schedule::{attempt_lock_key, customer_lock_key};
pub(crate) use statements::*;

use super::{Backend, EventOutcome, NewEvent, OrgId, Result, StorageError};
use crate::chargebee::{
    customer_ref, transaction_ref, BillingEvent, Change, CustomerTarget, KnownCustomer,
    KnownTransaction, Outcome as PlanOutcome, State,
};
use crate::domain::random_id;
use shared::model::Outcome;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

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
                    keys.push(event_lock_key(self.org, id));
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

/// A customer (key, and Chargebee id when known) whose parked events a plan releases.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParkedFor {
    pub customer_key: String,
    pub chargebee_id: Option<String>,
}

/// A release that found more parked events than one transaction may apply: the rest is
/// applied in the background (`release_requests`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReleaseLater {
    pub org: String,
    pub customer_key: String,
    pub chargebee_id: Option<String>,
}

/// A request to apply events parked for a customer.
pub(crate) struct Release<'a> {
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
