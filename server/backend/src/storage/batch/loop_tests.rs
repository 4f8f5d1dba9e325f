//! Tests of the loop (`run.rs`) over an in-memory executor: waves and deferrals, duplicates
//! inside one batch, release chains and the release budget. [`MemDb`] keeps the few tables the
//! loop reads back (customers, partners, transactions, webhook events) and answers the state
//! and parked-events queries from them; statements it does not model are counted only.

use super::*;
use crate::chargebee::{classify, parse_envelope};
use futures::executor::block_on;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct MemCustomer {
    id: String,
    org: String,
    key: String,
    chargebee_id: Option<String>,
    partner_key: Option<String>,
}

#[derive(Debug, Clone)]
struct MemTxn {
    customer_id: Option<String>,
    amount: i64,
    currency: String,
}

#[derive(Debug, Clone)]
struct MemEvent {
    id: String,
    org: String,
    event_id: Option<String>,
    outcome: String,
    payload: String,
    customer_key: Option<String>,
    chargebee_customer: Option<String>,
}

#[derive(Default)]
struct MemDb {
    customers: Vec<MemCustomer>,
    partners: HashSet<(String, String)>,
    transactions: HashMap<(String, String), MemTxn>,
    events: Vec<MemEvent>,
    /// How many state queries ran: one per wave (a wave of at most 64 events).
    state_queries: usize,
    /// Requests to release the rest later: (org, customer key).
    release_later: Vec<(String, String)>,
}

fn text_at(args: &[Arg<'_>], i: usize) -> Option<String> {
    match &args[i] {
        Arg::Text(t) => t.as_ref().map(|c| c.to_string()),
        Arg::Int(n) => n.map(|n| n.to_string()),
    }
}

fn int_at(args: &[Arg<'_>], i: usize) -> Option<i64> {
    match &args[i] {
        Arg::Int(n) => *n,
        Arg::Text(t) => t.as_ref().and_then(|t| t.parse().ok()),
    }
}

impl MemDb {
    fn customer_by_key(&self, org: &str, key: &str) -> Option<&MemCustomer> {
        self.customers.iter().find(|c| c.org == org && c.key == key)
    }

    fn event(&self, id: &str) -> &MemEvent {
        self.events
            .iter()
            .find(|e| e.id == id)
            .expect("event stored")
    }

    fn outcomes(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .map(|e| (e.event_id.clone().unwrap_or_default(), e.outcome.clone()))
            .collect()
    }
}

impl WaveDb for MemDb {
    async fn states(&mut self, _sql: &str, args: &[Arg<'_>]) -> Result<Vec<StateRow>> {
        self.state_queries += 1;
        let mut out = vec![];
        for row in args.chunks(STATE.width()) {
            let i = int_at(row, 0).unwrap_or(-1);
            if i < 0 {
                continue;
            }
            let org = text_at(row, 1).unwrap_or_default();
            let mut s = StateRow {
                i,
                ..StateRow::default()
            };
            if let Some(c) = text_at(row, 2).and_then(|k| self.customer_by_key(&org, &k)) {
                s.k_id = Some(c.id.clone());
                s.k_key = Some(c.key.clone());
                s.k_partner = c.partner_key.clone();
                s.k_cb = c.chargebee_id.clone();
            }
            if let Some(cb) = text_at(row, 3) {
                if let Some(c) = self
                    .customers
                    .iter()
                    .find(|c| c.org == org && c.chargebee_id.as_deref() == Some(cb.as_str()))
                {
                    s.c_id = Some(c.id.clone());
                    s.c_key = Some(c.key.clone());
                    s.c_partner = c.partner_key.clone();
                    s.c_cb = c.chargebee_id.clone();
                }
            }
            if let Some(p) = text_at(row, 4) {
                s.partners = i64::from(self.partners.contains(&(org.clone(), p)));
            }
            if let Some(t) = text_at(row, 5).and_then(|t| self.transactions.get(&(org.clone(), t)))
            {
                s.t_amount = Some(t.amount);
                s.t_refunded = Some(0);
                s.t_recorded = Some(true);
                s.t_customer = t.customer_id.clone();
                s.t_currency = Some(t.currency.clone());
            }
            if let Some(ev) = text_at(row, 8) {
                if let Some(e) = self
                    .events
                    .iter()
                    .find(|e| e.org == org && e.event_id.as_deref() == Some(ev.as_str()))
                {
                    s.e_id = Some(e.id.clone());
                    s.e_outcome = Some(e.outcome.clone());
                }
            }
            out.push(s);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let rows = |stmt: &Stmt| args.chunks(stmt.width()).collect::<Vec<_>>();
        let mut n = 0;
        if sql.starts_with(PARTNERS.head) {
            for r in rows(&PARTNERS) {
                let key = (text_at(r, 1).unwrap(), text_at(r, 2).unwrap());
                n += u64::from(self.partners.insert(key));
            }
        } else if sql.starts_with(NEW_CUSTOMERS.head) {
            for r in rows(&NEW_CUSTOMERS) {
                let (org, key) = (text_at(r, 1).unwrap(), text_at(r, 2).unwrap());
                if self.customer_by_key(&org, &key).is_none() {
                    self.customers.push(MemCustomer {
                        id: text_at(r, 0).unwrap(),
                        org,
                        key,
                        chargebee_id: text_at(r, 7),
                        partner_key: text_at(r, 6),
                    });
                    n += 1;
                }
            }
        } else if sql.starts_with(CUSTOMER_UPDATES.head) {
            for r in rows(&CUSTOMER_UPDATES) {
                let id = text_at(r, 1).unwrap();
                if let Some(c) = self.customers.iter_mut().find(|c| c.id == id) {
                    if let Some(cb) = text_at(r, 4) {
                        c.chargebee_id = Some(cb);
                    }
                    if c.partner_key.is_none() {
                        c.partner_key = text_at(r, 6);
                    }
                    n += 1;
                }
            }
        } else if sql.starts_with(TRANSACTIONS.head) {
            for r in rows(&TRANSACTIONS) {
                let key = (text_at(r, 1).unwrap(), text_at(r, 2).unwrap());
                let txn = MemTxn {
                    customer_id: text_at(r, 3),
                    amount: int_at(r, 4).unwrap_or(0),
                    currency: text_at(r, 6).unwrap_or_default(),
                };
                self.transactions.insert(key, txn);
                n += 1;
            }
        } else if sql.starts_with(NEW_EVENTS.head) {
            for r in rows(&NEW_EVENTS) {
                let (org, event_id) = (text_at(r, 1).unwrap(), text_at(r, 2));
                let taken = event_id.is_some()
                    && self
                        .events
                        .iter()
                        .any(|e| e.org == org && e.event_id == event_id);
                if !taken {
                    self.events.push(MemEvent {
                        id: text_at(r, 0).unwrap(),
                        org,
                        event_id,
                        outcome: text_at(r, 6).unwrap(),
                        payload: text_at(r, 8).unwrap_or_default(),
                        customer_key: text_at(r, 9),
                        chargebee_customer: text_at(r, 10),
                    });
                    n += 1;
                }
            }
        } else if sql.starts_with(EVENT_UPDATES.head) {
            for r in rows(&EVENT_UPDATES) {
                let id = text_at(r, 1).unwrap();
                if let Some(e) = self.events.iter_mut().find(|e| e.id == id) {
                    e.outcome = text_at(r, 2).unwrap();
                    e.customer_key = text_at(r, 4).or(e.customer_key.take());
                    e.chargebee_customer = text_at(r, 5).or(e.chargebee_customer.take());
                    n += 1;
                }
            }
        } else if sql == RELEASE_LATER_SQL {
            self.release_later
                .push((text_at(args, 0).unwrap(), text_at(args, 1).unwrap()));
            n = 1;
        }
        Ok(n)
    }

    async fn parked(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Parked>> {
        let limit: usize = sql
            .rsplit(" LIMIT ")
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(usize::MAX);
        let unmatched = |e: &&MemEvent| e.outcome == "unmatched";
        let mut out = vec![];
        if sql.starts_with(PARKED.head) {
            for r in args.chunks(PARKED.width()) {
                let (release, org) = (int_at(r, 0).unwrap() as usize, text_at(r, 1).unwrap());
                let (key, cb) = (text_at(r, 2), text_at(r, 3));
                for e in self.events.iter().filter(unmatched).filter(|e| {
                    e.org == org
                        && ((key.is_some() && e.customer_key == key)
                            || (cb.is_some() && e.chargebee_customer == cb))
                }) {
                    out.push(Parked {
                        release,
                        id: e.id.clone(),
                    });
                }
            }
        } else {
            // PARKED_AFTER_SQL: (org, key, Chargebee customer or '', after).
            let (org, key) = (text_at(args, 0).unwrap(), text_at(args, 1));
            let (cb, after) = (text_at(args, 2).filter(|c| !c.is_empty()), text_at(args, 3));
            let mut ids: Vec<&MemEvent> = self
                .events
                .iter()
                .filter(unmatched)
                .filter(|e| {
                    e.org == org
                        && (e.customer_key == key || (cb.is_some() && e.chargebee_customer == cb))
                        && Some(e.id.clone()) > after
                })
                .collect();
            ids.sort_by(|a, b| a.id.cmp(&b.id));
            out.extend(ids.into_iter().map(|e| Parked {
                release: 0,
                id: e.id.clone(),
            }));
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn stored(&mut self, org: &OrgId, id: &str) -> Result<Option<Stored>> {
        Ok(self
            .events
            .iter()
            .find(|e| e.org == org.as_str() && e.id == id)
            .map(|e| Stored {
                payload: e.payload.clone(),
                outcome: e.outcome.clone(),
            }))
    }

    async fn original(&mut self, org: &OrgId, event_id: &str) -> Result<Option<Original>> {
        Ok(self
            .events
            .iter()
            .find(|e| e.org == org.as_str() && e.event_id.as_deref() == Some(event_id))
            .map(|e| Original {
                id: e.id.clone(),
                outcome: e.outcome.clone(),
            }))
    }

    async fn lock(&mut self, _keys: &[String]) -> Result<()> {
        Ok(())
    }
}

fn org() -> OrgId {
    OrgId::from_trusted("org_loop")
}

/// A Chargebee payment_succeeded event: Chargebee customer `cb`, with the customer and partner
/// keys in its meta_data when given.
fn payment(
    ev: &str,
    txn: &str,
    amount: i64,
    cb: &str,
    key: Option<&str>,
    partner: Option<&str>,
) -> String {
    let mut meta = serde_json::Map::new();
    if let Some(k) = key {
        meta.insert("customer_key".into(), json!(k));
    }
    if let Some(p) = partner {
        meta.insert("partner_key".into(), json!(p));
    }
    let body: Value = json!({
        "id": ev,
        "occurred_at": 1_700_000_100,
        "object": "event",
        "api_version": "v2",
        "event_type": "payment_succeeded",
        "content": {
            "transaction": {
                "id": txn, "customer_id": cb, "type": "payment", "status": "success",
                "date": 1_700_000_100, "currency_code": "USD", "amount": amount,
                "object": "transaction"
            },
            "customer": {
                "id": cb, "email": format!("{cb}@example.com"), "meta_data": meta,
                "created_at": 1_700_000_000, "resource_version": 1_700_000_000_000i64,
                "object": "customer"
            }
        }
    });
    body.to_string()
}

/// A Chargebee customer_changed event for Chargebee customer `cb` with `key` in its meta_data.
fn customer_changed(ev: &str, cb: &str, key: &str) -> String {
    json!({
        "id": ev,
        "occurred_at": 1_700_000_050,
        "object": "event",
        "api_version": "v2",
        "event_type": "customer_changed",
        "content": {
            "customer": {
                "id": cb, "email": format!("{cb}@example.com"),
                "meta_data": {"customer_key": key},
                "created_at": 1_700_000_000, "resource_version": 1_700_000_050_000i64,
                "object": "customer"
            }
        }
    })
    .to_string()
}

fn delivery(n: usize, payload: &str) -> NewEvent {
    let env = parse_envelope(payload.as_bytes()).expect("a well-formed event");
    NewEvent {
        id: format!("evt_{n:03}"),
        event_id: Some(env.id),
        event_type: Some(env.event_type),
        occurred_at: Some(env.occurred_at * 1000),
        received_at: 1_700_000_200_000 + n as i64,
        payload: payload.to_string(),
        refusal: None,
        card_data: false,
    }
}

/// Applies `events` as one batch of new deliveries.
fn deliver(
    db: &mut MemDb,
    org: &OrgId,
    events: &[NewEvent],
    budget: &mut Budget,
) -> Vec<EventOutcome> {
    let items: Vec<Item<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let env = parse_envelope(e.payload.as_bytes()).unwrap();
            Item {
                org,
                row: Row::New(e),
                billing: Cow::Owned(classify(&env).expect("a supported event")),
                now: e.received_at,
                origin: i,
            }
        })
        .collect();
    block_on(perform(db, WaveOp::Deliveries(items), budget)).expect("the batch applies")
}

fn outcome_names(out: &[EventOutcome]) -> Vec<(&'static str, usize)> {
    out.iter()
        .map(|o| (o.outcome.as_str(), o.released))
        .collect()
}

#[test]
fn two_payments_that_create_the_same_customer_go_to_two_waves_and_share_it() {
    let (org, mut db) = (org(), MemDb::default());
    let events = [
        delivery(
            1,
            &payment("ev_1", "txn_1", 1000, "cb_1", Some("k"), Some("p")),
        ),
        delivery(
            2,
            &payment("ev_2", "txn_2", 2500, "cb_1", Some("k"), Some("p")),
        ),
    ];
    let out = deliver(&mut db, &org, &events, &mut Budget::new(10));
    assert_eq!(outcome_names(&out), [("processed", 0), ("processed", 0)]);
    // The second creates the customer the first created: it waits for the next wave.
    assert_eq!(db.state_queries, 2);
    assert_eq!(db.customers.len(), 1, "{:?}", db.customers);
    let id = &db.customers[0].id;
    for txn in ["txn_1", "txn_2"] {
        let t = &db.transactions[&(org.to_string(), txn.to_string())];
        assert_eq!(t.customer_id.as_ref(), Some(id), "{txn}");
    }
}

#[test]
fn unrelated_payments_share_one_wave() {
    let (org, mut db) = (org(), MemDb::default());
    let events = [
        delivery(
            1,
            &payment("ev_1", "txn_1", 1000, "cb_1", Some("k1"), Some("p")),
        ),
        delivery(
            2,
            &payment("ev_2", "txn_2", 2500, "cb_2", Some("k2"), Some("p")),
        ),
    ];
    let out = deliver(&mut db, &org, &events, &mut Budget::new(10));
    assert_eq!(outcome_names(&out), [("processed", 0), ("processed", 0)]);
    assert_eq!(db.state_queries, 1);
    assert_eq!(db.customers.len(), 2);
}

#[test]
fn a_second_copy_of_an_event_in_the_same_batch_is_a_duplicate_of_the_first() {
    let (org, mut db) = (org(), MemDb::default());
    let body = payment("ev_1", "txn_1", 1000, "cb_1", Some("k"), Some("p"));
    let events = [delivery(1, &body), delivery(2, &body)];
    let out = deliver(&mut db, &org, &events, &mut Budget::new(10));
    assert_eq!(outcome_names(&out), [("processed", 0), ("duplicate", 0)]);
    // The duplicate names the row of the copy that was applied.
    assert_eq!(out[1].id, out[0].id);
    assert_eq!(db.transactions.len(), 1);
    // Both deliveries are logged; only the first carries the event id.
    assert_eq!(
        db.outcomes(),
        [
            ("ev_1".to_string(), "processed".to_string()),
            (String::new(), "duplicate".to_string())
        ]
    );
}

#[test]
fn a_release_chain_applies_events_parked_by_key_then_by_chargebee_customer() {
    let (org, mut db) = (org(), MemDb::default());
    // Parked: a payment that names only the Chargebee customer, and the customer event that
    // tells which customer key that Chargebee customer is.
    let parked = [
        delivery(1, &payment("ev_cb", "txn_cb", 300, "cb_9", None, None)),
        delivery(2, &customer_changed("ev_key", "cb_9", "k")),
    ];
    let out = deliver(&mut db, &org, &parked, &mut Budget::new(10));
    assert_eq!(outcome_names(&out), [("unmatched", 0), ("unmatched", 0)]);
    // The customer appears (as the REST API creates it: a key, no Chargebee id yet).
    db.customers.push(MemCustomer {
        id: "cus_k".into(),
        org: org.to_string(),
        key: "k".into(),
        chargebee_id: None,
        partner_key: Some("p".into()),
    });
    let mut budget = Budget::new(10);
    let released = block_on(perform(
        &mut db,
        WaveOp::Release {
            org: &org,
            customer_key: "k",
            chargebee_id: None,
            after: None,
            now: 1_700_000_300_000,
        },
        &mut budget,
    ))
    .unwrap();
    // The key finds the customer event; applying it teaches the customer its Chargebee id,
    // which releases the payment in turn.
    assert_eq!(outcome_names(&released), [("processed", 1)]);
    assert_eq!(db.customers[0].chargebee_id.as_deref(), Some("cb_9"));
    for ev in [&parked[0].id, &parked[1].id] {
        assert_eq!(db.event(ev).outcome, "processed", "{ev}");
    }
    let t = &db.transactions[&(org.to_string(), "txn_cb".to_string())];
    assert_eq!(t.customer_id.as_deref(), Some("cus_k"));
    assert!(!budget.releases_left());
}

#[test]
fn a_release_beyond_the_budget_leaves_the_rest_for_the_background() {
    let (org, mut db) = (org(), MemDb::default());
    let parked: Vec<NewEvent> = (0..3)
        .map(|i| {
            let body = payment(
                &format!("ev_{i}"),
                &format!("txn_{i}"),
                100,
                "cb_1",
                Some("k"),
                None,
            );
            delivery(i, &body)
        })
        .collect();
    deliver(&mut db, &org, &parked, &mut Budget::new(10));
    assert!(db.events.iter().all(|e| e.outcome == "unmatched"));
    // A payment that creates the customer (it names its partner) releases the parked ones,
    // but this transaction may release only two.
    let creating = [delivery(
        9,
        &payment("ev_new", "txn_new", 100, "cb_1", Some("k"), Some("p")),
    )];
    let mut budget = Budget::new(2);
    let out = deliver(&mut db, &org, &creating, &mut budget);
    assert_eq!(outcome_names(&out), [("processed", 2)]);
    assert!(budget.releases_left());
    assert_eq!(db.release_later, [(org.to_string(), "k".to_string())]);
    let still_parked = db
        .events
        .iter()
        .filter(|e| e.outcome == "unmatched")
        .count();
    assert_eq!(still_parked, 1);
}

#[test]
fn a_delivery_that_is_not_applied_is_stored_once_and_its_copies_are_duplicates() {
    let (org, mut db) = (org(), MemDb::default());
    let e = delivery(1, &payment("ev_x", "txn_x", 100, "cb_1", None, None));
    let record = |db: &mut MemDb, e: &NewEvent| {
        block_on(perform(
            db,
            WaveOp::Record {
                org: &org,
                event: e,
                outcome: Outcome::Rejected,
                detail: Some("why"),
                retry_at: None,
            },
            &mut Budget::new(10),
        ))
        .unwrap()
    };
    let first = record(&mut db, &e);
    assert_eq!(outcome_names(&first), [("rejected", 0)]);
    let again = delivery(2, &e.payload);
    let second = record(&mut db, &again);
    assert_eq!(outcome_names(&second), [("duplicate", 0)]);
    assert_eq!(second[0].id, e.id);
    assert_eq!(
        db.outcomes(),
        [
            ("ev_x".to_string(), "rejected".to_string()),
            (String::new(), "duplicate".to_string())
        ]
    );
}
