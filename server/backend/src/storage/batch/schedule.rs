//! Pure scheduling: the lock keys an event depends on, the split of a batch into waves, and
//! the rows an event reads and writes (two events of a wave must not share one).

use super::*;
/// The advisory lock key for a customer key. An event about the customer and the creation
/// of that customer take it, so a concurrently parked event is either seen by the creation
/// or sees the new customer.
pub fn customer_lock_key(org: &OrgId, customer_key: &str) -> String {
    format!("{org}:customer:{customer_key}")
}

/// The key of a delivery's event id: re-deliveries of one event meet on it (and on its
/// unique index).
pub(crate) fn event_lock_key(org: &OrgId, event_id: &str) -> String {
    format!("{org}:event:{event_id}")
}

/// The advisory lock key for a sign-in limiter scope.
pub fn attempt_lock_key(scope: &str) -> String {
    format!("attempt:{scope}")
}

/// What concurrent transactions about the same things must not interleave on (PostgreSQL
/// runs them in parallel; SQLite has one writer). Sorted, so locks are taken in one order.
pub(crate) fn lock_keys(org: &OrgId, event: &BillingEvent) -> Vec<String> {
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
pub(crate) fn next_wave(pending: &[usize], keys: &[Vec<String>]) -> (Vec<usize>, Vec<usize>) {
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
pub(crate) fn written_rows(org: &OrgId, changes: &[Change]) -> Vec<String> {
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
pub(crate) fn read_rows(state: &State) -> Vec<String> {
    [&state.customer_by_key, &state.customer_by_chargebee_id]
        .into_iter()
        .flatten()
        .map(|c| format!("customer:{}", c.id))
        .collect()
}
