//! The statements of the batch path: bound values ([`Arg`]), multi-row statements ([`Stmt`]) and
//! their texts, and the state query's row ([`StateRow`]). Placeholders always appear in order
//! (`$1`, `$2`, …), so SQLite can bind them by position.

use super::*;

/// A value bound into a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
}

pub(crate) fn owned(s: impl Into<String>) -> Arg<'static> {
    Arg::Text(Some(Cow::Owned(s.into())))
}
pub(crate) fn opt(s: Option<String>) -> Arg<'static> {
    Arg::Text(s.map(Cow::Owned))
}
pub(crate) fn text(s: &str) -> Arg<'_> {
    Arg::Text(Some(Cow::Borrowed(s)))
}
pub(crate) fn opt_ref(s: Option<&str>) -> Arg<'_> {
    Arg::Text(s.map(Cow::Borrowed))
}

/// A multi-row statement: `head`, then `row` once per row (comma-separated; every `?` becomes
/// the next `$n`), then `tail`.
pub(crate) struct Stmt {
    pub head: &'static str,
    pub row: &'static str,
    pub tail: &'static str,
    /// When set, every row must be written; fewer means a concurrent writer got there first,
    /// and the batch fails with this message (it is then applied one delivery at a time).
    pub all_rows: Option<&'static str>,
}

/// Rows per statement at most; a batch is split into power-of-two chunks so that each
/// statement text is one of a few (prepared-statement caches keep them).
pub(crate) const MAX_ROWS: usize = 64;

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
pub(crate) fn chunks(mut n: usize) -> Vec<usize> {
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
pub(crate) fn padded(n: usize) -> usize {
    if n > MAX_ROWS {
        n.div_ceil(MAX_ROWS) * MAX_ROWS
    } else {
        n.next_power_of_two()
    }
}

/// A state-query row that matches nothing (position -1).
pub(crate) const STATE_PADDING: [Arg<'static>; 10] = [
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
pub(crate) const STATE: Stmt = Stmt {
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
pub(crate) const PARKED: Stmt = Stmt {
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
pub(crate) const PARTNERS: Stmt = Stmt {
    head: "INSERT INTO partners (id, org_id, key, auto_created, created_at) VALUES ",
    row: "(?, ?, ?, TRUE, ?)",
    tail: " ON CONFLICT (org_id, key) DO NOTHING",
    all_rows: None,
};

pub(crate) const NEW_CUSTOMERS: Stmt = Stmt {
    head: "INSERT INTO customers (id, org_id, key, email, name, partner_id, chargebee_id, \
       chargebee_version, created_at) VALUES ",
    row: "(?, ?, ?, ?, ?, (SELECT id FROM partners WHERE org_id = ? AND key = ?), ?, ?, ?)",
    tail: " ON CONFLICT (org_id, key) DO NOTHING",
    all_rows: Some("a customer was created by another writer during the batch"),
};

pub(crate) const CUSTOMER_UPDATES: Stmt = Stmt {
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

pub(crate) const TRANSACTIONS: Stmt = Stmt {
    head: "INSERT INTO transactions (id, org_id, chargebee_id, customer_id, recorded, amount, \
       amount_refunded, currency, occurred_at, subscription_id, invoice_id, removed_reason, \
       created_at, exchange_rate, base_currency_code, event_row) VALUES ",
    row: "(?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET \
       customer_id = excluded.customer_id, recorded = TRUE, \
       amount = excluded.amount, amount_refunded = excluded.amount_refunded, \
       currency = excluded.currency, occurred_at = excluded.occurred_at, \
       subscription_id = excluded.subscription_id, invoice_id = excluded.invoice_id, \
       removed_reason = excluded.removed_reason, \
       exchange_rate = COALESCE(excluded.exchange_rate, transactions.exchange_rate), \
       base_currency_code = COALESCE(excluded.base_currency_code, transactions.base_currency_code), \
       event_row = COALESCE(transactions.event_row, excluded.event_row)",
    all_rows: None,
};

pub(crate) const FAILED: Stmt = Stmt {
    head: "INSERT INTO transactions (id, org_id, chargebee_id, recorded, amount, currency, \
       occurred_at, removed_reason, created_at) VALUES ",
    row: "(?, ?, ?, FALSE, 0, '', 0, 'failed', ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET removed_reason = 'failed'",
    all_rows: None,
};

pub(crate) const REFUNDS: Stmt = Stmt {
    head: "INSERT INTO refunds (org_id, chargebee_id, original_txn_id, amount, currency, \
       occurred_at, event_row) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO NOTHING",
    all_rows: None,
};

/// Marks the events of refunds in another currency than their payment as rejected (the
/// refunds were never counted). (org, payment, its currency, reason).
pub(crate) const REJECTED_REFUNDS: Stmt = Stmt {
    head: "WITH v(org_id, txn, cur, why) AS (VALUES ",
    row: "(?, ?, ?, ?)",
    tail: ") UPDATE webhook_events SET outcome = 'rejected', detail = v.why, \
       refusal = 'invalid' FROM v \
     WHERE webhook_events.org_id = v.org_id AND webhook_events.id IN (SELECT r.event_row \
       FROM refunds r WHERE r.org_id = v.org_id AND r.original_txn_id = v.txn \
         AND r.currency <> v.cur)",
    all_rows: None,
};

pub(crate) const ADJUSTMENTS: Stmt = Stmt {
    head: "WITH v(org_id, chargebee_id, amount_refunded, removed_reason) AS (VALUES ",
    row: "(?, ?, ?, ?)",
    tail: ") UPDATE transactions SET amount_refunded = v.amount_refunded, \
       removed_reason = v.removed_reason \
     FROM v WHERE transactions.org_id = v.org_id AND transactions.chargebee_id = v.chargebee_id",
    all_rows: None,
};

pub(crate) const SUBSCRIPTIONS: Stmt = Stmt {
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

pub(crate) const TOMBSTONES: Stmt = Stmt {
    head: "INSERT INTO subscriptions (id, org_id, chargebee_id, status, version, deleted, \
       updated_at) VALUES ",
    row: "(?, ?, ?, 'deleted', ?, TRUE, ?)",
    tail: " ON CONFLICT (org_id, chargebee_id) DO UPDATE SET deleted = TRUE, \
       status = 'deleted', version = excluded.version, updated_at = excluded.updated_at \
     WHERE subscriptions.version <= excluded.version",
    all_rows: None,
};

pub(crate) const NEW_EVENTS: Stmt = Stmt {
    head: "INSERT INTO webhook_events (id, org_id, event_id, event_type, occurred_at, \
       received_at, outcome, detail, payload, customer_key, chargebee_customer, customer_id, \
       attempts, next_attempt_at, refusal, card_data) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    tail: " ON CONFLICT (org_id, event_id) DO NOTHING",
    all_rows: Some("an event was stored by another writer during the batch"),
};

pub(crate) const EVENT_UPDATES: Stmt = Stmt {
    head: "WITH v(org_id, id, outcome, detail, customer_key, chargebee_customer, customer_id) \
       AS (VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?)",
    tail: ") UPDATE webhook_events SET outcome = v.outcome, detail = v.detail, \
       customer_key = v.customer_key, chargebee_customer = v.chargebee_customer, \
       customer_id = v.customer_id, next_attempt_at = NULL, \
       attempts = webhook_events.attempts + 1, \
       refusal = CASE WHEN v.outcome = 'rejected' THEN webhook_events.refusal END, \
       first_outcome = COALESCE(webhook_events.first_outcome, webhook_events.outcome), \
       first_detail = CASE WHEN webhook_events.first_outcome IS NULL \
         THEN webhook_events.detail ELSE webhook_events.first_detail END \
     FROM v WHERE webhook_events.org_id = v.org_id AND webhook_events.id = v.id",
    all_rows: None,
};

/// A later attempt of a stored event (see [`EVENT_UPDATES`]): (id, org, event row, at,
/// outcome, detail).
pub(crate) const ATTEMPTS: Stmt = Stmt {
    head: "INSERT INTO event_attempts (id, org_id, event_row, at, outcome, detail) VALUES ",
    row: "(?, ?, ?, ?, ?, ?)",
    tail: "",
    all_rows: None,
};

/// Keeps an event's first outcome before a later attempt changes it (the SET of the same
/// statement reads the values from before it).
pub(crate) const KEEP_FIRST: &str = "first_outcome = COALESCE(first_outcome, outcome), \
   first_detail = CASE WHEN first_outcome IS NULL THEN detail ELSE first_detail END";

/// A sum read as millions and remainders (`SUM(x / 1000000)`, `SUM(x % 1000000)`), which
/// cannot overflow in SQL, put back together exactly.
pub(crate) fn joined_sum(millions: i64, units: i64) -> i128 {
    i128::from(millions) * 1_000_000 + i128::from(units)
}

/// [`joined_sum`] as an `i64`, saturating beyond it (every use of a refund total caps it at
/// the payment's amount, so saturating there is exact).
pub(crate) fn exact_sum(millions: i64, units: i64) -> i64 {
    let total = joined_sum(millions, units);
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

/// One row of [`STATE`].
#[derive(sqlx::FromRow)]
#[cfg_attr(test, derive(Default))]
pub(crate) struct StateRow {
    pub(crate) i: i64,
    pub(crate) k_id: Option<String>,
    pub(crate) k_key: Option<String>,
    pub(crate) k_partner: Option<String>,
    pub(crate) k_cb: Option<String>,
    pub(crate) k_version: Option<i64>,
    pub(crate) c_id: Option<String>,
    pub(crate) c_key: Option<String>,
    pub(crate) c_partner: Option<String>,
    pub(crate) c_cb: Option<String>,
    pub(crate) c_version: Option<i64>,
    pub(crate) partners: i64,
    pub(crate) t_amount: Option<i64>,
    pub(crate) t_refunded: Option<i64>,
    pub(crate) t_recorded: Option<bool>,
    pub(crate) t_removed: Option<String>,
    pub(crate) t_customer: Option<String>,
    pub(crate) t_currency: Option<String>,
    pub(crate) refunded_millions: i64,
    pub(crate) refunded_units: i64,
    pub(crate) other_refunds: i64,
    pub(crate) refund_known: i64,
    pub(crate) sub_version: Option<i64>,
    pub(crate) e_id: Option<String>,
    pub(crate) e_outcome: Option<String>,
}

/// A stored event an incoming delivery's event id already belongs to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Original {
    pub id: String,
    pub outcome: String,
}

/// An event's state, and the stored event its id already belongs to.
pub(crate) struct Loaded {
    pub state: State,
    pub original: Option<Original>,
}

impl StateRow {
    pub fn position(&self) -> i64 {
        self.i
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
        Loaded {
            state,
            original: self
                .e_id
                .zip(self.e_outcome)
                .map(|(id, outcome)| Original { id, outcome }),
        }
    }
}

/// Marks a stored event whose payload no longer parses as rejected.
pub(crate) const REJECT_SQL: &str = "UPDATE webhook_events SET \
   first_outcome = COALESCE(first_outcome, outcome), \
   first_detail = CASE WHEN first_outcome IS NULL THEN detail ELSE first_detail END, \
   outcome = 'rejected', detail = $1, attempts = attempts + 1 WHERE org_id = $2 AND id = $3";

/// Records a later attempt: ($1 id, $2 org, $3 event row, $4 at, $5 outcome, $6 detail).
pub(crate) const ATTEMPT_SQL: &str = "INSERT INTO event_attempts (id, org_id, event_row, at, \
   outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)";

/// Asks that parked events still waiting after a transaction's share be released later, in
/// the background.
pub(crate) const RELEASE_LATER_SQL: &str =
    "INSERT INTO release_requests (org_id, customer_key, chargebee_id, \
   created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, customer_key, chargebee_id) DO NOTHING";

/// A background share of a release: the customer's parked events after a cursor, in our row
/// id order (a fixed order, so every share moves on even when events stay unmatched; the
/// ledger's rules do not depend on the order of payments, refunds and failures).
/// ($3 twice is one parameter.)
pub(crate) const PARKED_AFTER_SQL: &str =
    "SELECT CAST(0 AS BIGINT) AS i, w.id AS id FROM webhook_events w \
   WHERE w.org_id = $1 AND w.outcome = 'unmatched' \
     AND (w.customer_key = $2 OR ($3 <> '' AND w.chargebee_customer = $3)) \
     AND w.id > $4 ORDER BY w.id";

/// A stored event's payload and outcome.
pub(crate) const STORED_SQL: &str =
    "SELECT payload, outcome FROM webhook_events WHERE org_id = $1 AND id = $2";

/// The stored event an event id belongs to (for a delivery that is not applied).
pub(crate) const ORIGINAL_SQL: &str =
    "SELECT id, outcome FROM webhook_events WHERE org_id = $1 AND event_id = $2";
