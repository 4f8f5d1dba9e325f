//! Pure row building: what a wave writes ([`Writes`]), as rows per statement kind, from the
//! planner's changes. New rows get their ids from the [`Writes`]'s id source.

use super::*;
pub(crate) fn outcome_parts(o: &PlanOutcome) -> (Outcome, Option<String>) {
    match o {
        PlanOutcome::Processed => (Outcome::Processed, None),
        PlanOutcome::Ignored(why) => (Outcome::Ignored, Some(why.clone())),
        PlanOutcome::Unmatched(why) => (Outcome::Unmatched, Some(why.clone())),
        PlanOutcome::Rejected(why) => (Outcome::Rejected, Some(why.clone())),
    }
}

/// The rows one wave writes, per statement kind, flushed in [`Writes::in_order`].
pub(crate) struct Writes<'a> {
    /// Where new rows' ids come from (`random_id` in production; tests pass their own).
    pub(crate) new_id: fn(&str) -> String,
    pub(crate) partners: Vec<Arg<'a>>,
    pub(crate) partner_keys: HashSet<(String, String)>,
    pub(crate) new_customers: Vec<Arg<'a>>,
    /// Ids chosen for the customers this wave creates, by (org, key).
    pub(crate) new_customer_ids: HashMap<(String, String), String>,
    pub(crate) customer_updates: Vec<Arg<'a>>,
    pub(crate) transactions: Vec<Arg<'a>>,
    pub(crate) failed: Vec<Arg<'a>>,
    pub(crate) refunds: Vec<Arg<'a>>,
    pub(crate) rejected_refunds: Vec<Arg<'a>>,
    pub(crate) adjustments: Vec<Arg<'a>>,
    pub(crate) subscriptions: Vec<Arg<'a>>,
    pub(crate) tombstones: Vec<Arg<'a>>,
    pub(crate) new_events: Vec<Arg<'a>>,
    pub(crate) event_updates: Vec<Arg<'a>>,
    pub(crate) attempts: Vec<Arg<'a>>,
    pub(crate) written: HashSet<String>,
}

impl Default for Writes<'_> {
    fn default() -> Self {
        Self::with_ids(random_id)
    }
}

/// What [`Writes::add_changes`] found in a plan.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The customer the event concerned, if its changes name one.
    pub customer_id: Option<String>,
    /// The customers whose parked events it releases.
    pub releases: Vec<ParkedFor>,
}

impl<'a> Writes<'a> {
    /// Empty writes whose new rows get their ids from `new_id` (given the id's prefix).
    pub fn with_ids(new_id: fn(&str) -> String) -> Self {
        Self {
            new_id,
            partners: vec![],
            partner_keys: HashSet::new(),
            new_customers: vec![],
            new_customer_ids: HashMap::new(),
            customer_updates: vec![],
            transactions: vec![],
            failed: vec![],
            refunds: vec![],
            rejected_refunds: vec![],
            adjustments: vec![],
            subscriptions: vec![],
            tombstones: vec![],
            new_events: vec![],
            event_updates: vec![],
            attempts: vec![],
            written: HashSet::new(),
        }
    }

    /// Statements with their rows, in the order they must run (partners before the customers
    /// that name them, customers before their transactions and subscriptions).
    pub fn in_order(&self) -> [(&'static Stmt, &[Arg<'a>]); 13] {
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
            (&ATTEMPTS, &self.attempts),
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
    /// one) and the customers whose parked events it releases.
    /// `txn_owner` is the stored transaction's customer (an adjusted transaction's owner is
    /// the customer the event concerns).
    pub fn add_changes(
        &mut self,
        org: &'a OrgId,
        changes: Vec<Change>,
        now: i64,
        txn_owner: Option<&str>,
        event_row: &str,
    ) -> Result<Applied, String> {
        let mut customer_id: Option<String> = None;
        let mut releases = vec![];
        let o = || text(org.as_str());
        for change in changes {
            match change {
                Change::CreatePartner { key } => {
                    if self.partner_keys.insert((org.to_string(), key.clone())) {
                        self.partners.extend([
                            owned((self.new_id)("prt")),
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
                        let id = (self.new_id)("cus");
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
                        owned((self.new_id)("txn")),
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
                        opt(txn.exchange_rate),
                        opt(txn.base_currency_code),
                        owned(event_row),
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
                    owned((self.new_id)("txn")),
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
                        owned((self.new_id)("sub")),
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
                    owned((self.new_id)("sub")),
                    o(),
                    owned(subscription_id),
                    Arg::Int(Some(version)),
                    Arg::Int(Some(now)),
                ]),
                Change::ReleaseParked {
                    customer_key,
                    chargebee_id,
                } => releases.push(ParkedFor {
                    customer_key,
                    chargebee_id,
                }),
            }
        }
        Ok(Applied {
            customer_id,
            releases,
        })
    }

    /// Records an applied event's outcome: a new row for a delivery; for a stored one, an
    /// update and the attempt (at `now`).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        org: &'a OrgId,
        row: &Row<'a>,
        billing: &BillingEvent,
        outcome: Outcome,
        detail: Option<String>,
        customer_id: Option<String>,
        now: i64,
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
                    text(outcome.as_str()),
                    opt(detail),
                    text(&e.payload),
                    opt(key),
                    opt(cb_id),
                    opt(customer_id),
                    Arg::Int(Some(1)),
                    Arg::Int(None),
                    opt_ref(e.refusal.map(|r| r.as_str())),
                    Arg::Int(Some(i64::from(e.card_data))),
                ]);
            }
            Row::Stored(ref id) => {
                self.attempts.extend([
                    owned((self.new_id)("att")),
                    text(org.as_str()),
                    owned(id.clone()),
                    Arg::Int(Some(now)),
                    text(outcome.as_str()),
                    opt(detail.clone()),
                ]);
                self.event_updates.extend([
                    text(org.as_str()),
                    owned(id.clone()),
                    text(outcome.as_str()),
                    opt(detail),
                    opt(key),
                    opt(cb_id),
                    opt(customer_id),
                ]);
            }
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
            owned((self.new_id)("evt")),
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
            Arg::Int(None),
            Arg::Text(None),
            Arg::Int(Some(i64::from(e.card_data))),
        ]);
        detail
    }

    /// Stores a delivery that is not applied: rejected, ignored, or failed (to be retried at
    /// `retry_at`). It names no customer and counts no attempt yet.
    pub fn unapplied(
        &mut self,
        org: &'a OrgId,
        e: &'a NewEvent,
        outcome: Outcome,
        detail: Option<&'a str>,
        retry_at: Option<i64>,
    ) {
        self.new_events.extend([
            text(&e.id),
            text(org.as_str()),
            opt_ref(e.event_id.as_deref()),
            opt_ref(e.event_type.as_deref()),
            Arg::Int(e.occurred_at),
            Arg::Int(Some(e.received_at)),
            text(outcome.as_str()),
            opt_ref(detail),
            text(&e.payload),
            Arg::Text(None),
            Arg::Text(None),
            Arg::Text(None),
            Arg::Int(Some(0)),
            Arg::Int(retry_at),
            opt_ref(e.refusal.map(|r| r.as_str())),
            Arg::Int(Some(i64::from(e.card_data))),
        ]);
    }
}

/// The detail logged on a re-delivery of a stored event.
pub(crate) fn duplicate_detail(e: &NewEvent, original_id: &str, original_outcome: &str) -> String {
    format!(
        "re-delivery of event {} (first stored as {original_id}, outcome {original_outcome})",
        e.event_id.as_deref().unwrap_or_default(),
    )
}

/// The customer an event concerns when its changes name none: who the state found.
pub(crate) fn state_customer(state: &State) -> Option<String> {
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
