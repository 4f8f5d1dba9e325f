//! Commission terms (versions) and the commission ledger. [`settle`] runs inside the
//! transaction that changed a payment's ledger rows: it reads what is known about each payment
//! and appends the entries the pure calculator (`crate::commission`) asks for.

use super::backend::Backend;
use super::store::*;
use super::*;
use crate::commission::{self, History, Payment, Refund, Terms, TermsSpec};
use crate::domain::random_id;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::HashMap;

/// A payout run's row, without its statements.
#[derive(sqlx::FromRow)]
struct PayoutHead {
    id: String,
    number: i64,
    up_to: i64,
    status: String,
    reference: Option<String>,
    created_at: i64,
    closed_at: Option<i64>,
}

const PAYOUT_COLUMNS: &str = "id, number, up_to, status, reference, created_at, closed_at";

impl PayoutHead {
    fn with(self, totals: Vec<RunTotal>, statements: Vec<Statement>) -> PayoutRun {
        PayoutRun {
            id: self.id,
            number: self.number,
            up_to: self.up_to,
            status: self.status,
            reference: self.reference,
            created_at: self.created_at,
            closed_at: self.closed_at,
            totals,
            statements,
        }
    }
}

/// A stored version: (effective from, the terms or `None` for a removed override).
type Versions = Vec<(i64, Option<Terms>)>;

fn parse_versions(rows: Vec<(i64, Option<String>)>) -> Versions {
    rows.into_iter()
        .map(|(from, json)| {
            let terms = json
                .and_then(|j| serde_json::from_str::<TermsSpec>(&j).ok())
                .and_then(|s| s.to_terms().ok());
            (from, terms)
        })
        .collect()
}

/// The lock key that numbering entries holds shared and a payout run exclusively.
fn entries_lock_key(org: &str) -> String {
    format!("{org}:commission-entries")
}

/// The run that covers entry `e`: the first run, not cancelled, with a statement for the
/// entry's partner and currency whose cutoff and count the entry is within. (A run counts,
/// per partner and currency, the entries no earlier run covers; see `create_payout`.)
const COVERING_RUN: &str =
    "(SELECT y.id FROM payout_statements s JOIN payouts y ON y.id = s.payout_id \
     WHERE s.org_id = e.org_id AND s.partner_id = e.partner_id AND s.currency = e.currency \
       AND y.status <> 'cancelled' AND e.payable_at <= y.cutoff AND e.seq <= y.through_seq \
     ORDER BY y.number LIMIT 1)";

/// Appends the commission entries of `payments` ((org, Chargebee transaction id)) that are
/// missing, inside the caller's transaction. Per organization and batch: one query for its
/// terms (and nothing more when it has none), one for the payments, one for their refunds,
/// one for the entries they have, and the inserts.
pub(super) async fn settle<DB>(
    conn: &mut DB::Connection,
    payments: &std::collections::BTreeSet<(String, String)>,
    now: i64,
) -> Result<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let mut orgs: Vec<&str> = payments.iter().map(|(o, _)| o.as_str()).collect();
    orgs.dedup();
    for org in orgs {
        let versions: Vec<(Option<String>, i64, Option<String>)> = sqlx::query_as(
            "SELECT partner_id, effective_from, terms FROM commission_terms WHERE org_id = $1",
        )
        .bind(org)
        .fetch_all(&mut *conn)
        .await?;
        if versions.is_empty() {
            continue;
        }
        let defaults = parse_versions(
            versions
                .iter()
                .filter(|(p, _, _)| p.is_none())
                .map(|(_, f, t)| (*f, t.clone()))
                .collect(),
        );
        let mut txns: Vec<String> = payments
            .iter()
            .filter(|(o, _)| o == org)
            .map(|(_, t)| t.clone())
            .collect();
        let changed: std::collections::HashSet<String> = txns.iter().cloned().collect();
        // Where a payment stands among the customer's payments matters only to terms limited
        // to N months or N payments.
        let needs_history = versions.iter().any(|(_, _, json)| {
            json.as_deref()
                .is_some_and(|j| j.contains("\"months\"") || j.contains("\"payments\""))
        });
        // Lists padded to a power of two (repeating the last id) keep the number of distinct
        // statement texts small, so they stay prepared (as the batch path's do).
        let pad = |txns: &mut Vec<String>| {
            if let Some(last) = txns.last().cloned() {
                txns.resize(super::batch::padded(txns.len()), last);
            }
        };
        if needs_history {
            pad(&mut txns);
            // A payment that occurred before others of its customer moves them down the
            // order: they are settled again (see `commission::reconcile`).
            let later_sql = format!(
                "SELECT DISTINCT t2.chargebee_id FROM transactions t \
                 JOIN transactions t2 ON t2.org_id = t.org_id AND t2.customer_id = t.customer_id \
                   AND t2.recorded AND (t2.occurred_at > t.occurred_at \
                     OR (t2.occurred_at = t.occurred_at AND t2.chargebee_id > t.chargebee_id)) \
                 WHERE t.org_id = $1 AND t.recorded AND t.chargebee_id IN ({})",
                placeholders(2, txns.len())
            );
            let mut q = sqlx::query_scalar::<_, String>(&later_sql).bind(org);
            for t in &txns {
                q = q.bind(t.as_str());
            }
            let later = q.fetch_all(&mut *conn).await?;
            txns.extend(later);
            txns.sort_unstable();
            txns.dedup();
        }
        pad(&mut txns);
        let list = placeholders(2, txns.len());
        let facts_sql = format!(
            "{} AND t.chargebee_id IN ({list})",
            facts_select(needs_history, false)
        );
        let mut q = sqlx::query_as::<_, PaymentRow>(&facts_sql).bind(org);
        for t in &txns {
            q = q.bind(t.as_str());
        }
        let facts = q.fetch_all(&mut *conn).await?;
        if facts.is_empty() {
            continue;
        }
        let refunds_sql = format!(
            "SELECT original_txn_id, chargebee_id, amount, occurred_at, currency FROM refunds \
             WHERE org_id = $1 AND original_txn_id IN ({list})"
        );
        let mut q = sqlx::query_as::<_, RefundRow>(&refunds_sql).bind(org);
        for t in &txns {
            q = q.bind(t.as_str());
        }
        let refunds = by_payment(q.fetch_all(&mut *conn).await?);
        let keys_sql = format!(
            "SELECT transaction_id, key, amount FROM commission_entries \
             WHERE org_id = $1 AND transaction_id IN ({list})"
        );
        let mut q = sqlx::query_as::<_, (String, String, i64)>(&keys_sql).bind(org);
        for t in &txns {
            q = q.bind(t.as_str());
        }
        let mut written: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for (txn, key, amount) in q.fetch_all(&mut *conn).await? {
            written.entry(txn).or_default().push((key, amount));
        }
        let mut rows: Vec<(commission::Entry, &PaymentRow)> = vec![];
        for f in facts.iter().filter(|f| f.earns()) {
            let overrides = parse_versions(
                versions
                    .iter()
                    .filter(|(p, _, _)| p.as_deref() == Some(f.partner_id.as_str()))
                    .map(|(_, from, t)| (*from, t.clone()))
                    .collect(),
            );
            let Some(terms) = commission::terms_for(&overrides, &defaults, f.occurred_at) else {
                continue;
            };
            let (payment, history) = f.payment(refunds_of(&refunds, &f.chargebee_id));
            let earned = commission::commission_on(terms, &payment, history);
            // A later payment of the customer is only moved down the order: it may lose its
            // commission, never gain one it was not settled with.
            if !changed.contains(&f.chargebee_id)
                && earned != Err(commission::NoCommission::OutsideSpan)
            {
                continue;
            }
            let has = written.get(&f.chargebee_id).map_or(&[][..], Vec::as_slice);
            for e in commission::reconcile(&payment, earned, terms.hold_days, has) {
                rows.push((e, f));
            }
        }
        if rows.is_empty() {
            continue;
        }
        // Entries are numbered per organization. A payout run takes this key exclusively
        // while it counts them, so no entry numbered below its count is still being written.
        if let Some(sql) = DB::LOCK_SHARED {
            sqlx::query(sql)
                .bind(entries_lock_key(org))
                .execute(&mut *conn)
                .await?;
        }
        let last: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM commission_entries WHERE org_id = $1",
        )
        .bind(org)
        .fetch_one(&mut *conn)
        .await?;
        let mut start = 0;
        for size in super::batch::chunks(rows.len()) {
            let chunk = &rows[start..start + size];
            let first = start;
            start += size;
            let values: Vec<String> = (0..chunk.len())
                .map(|r| format!("({})", placeholders(r * 13 + 1, 13)))
                .collect();
            let sql = format!(
                "INSERT INTO commission_entries (id, org_id, key, partner_id, customer_id, \
                   transaction_id, kind, amount, currency, occurred_at, payable_at, created_at, seq) \
                 VALUES {} ON CONFLICT (org_id, key) DO NOTHING",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (r, (e, f)) in chunk.iter().enumerate() {
                let seq = last.saturating_add(i64::try_from(first + r + 1).unwrap_or(i64::MAX));
                q = q
                    .bind(random_id("com"))
                    .bind(org)
                    .bind(e.key.as_str())
                    .bind(f.partner_id.as_str())
                    .bind(f.customer_id.as_str())
                    .bind(f.chargebee_id.as_str())
                    .bind(e.kind.as_str())
                    .bind(e.amount)
                    .bind(e.currency.as_str())
                    .bind(e.occurred_at)
                    .bind(e.payable_at)
                    .bind(now)
                    .bind(seq);
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    chargebee_id: String,
    amount: i64,
    currency: String,
    occurred_at: i64,
    removed_reason: Option<String>,
    customer_id: String,
    partner_id: String,
    plan_key: Option<String>,
    first_at: Option<i64>,
    ordinal: i64,
    /// The sum of its entries (read for previews only).
    earned: Option<i64>,
}

/// A refund's row: (payment, refund id, amount, occurred at, currency).
type RefundRow = (String, String, i64, i64, String);

/// Refunds by the payment they refund.
fn by_payment(rows: Vec<RefundRow>) -> HashMap<String, Vec<RefundRow>> {
    let mut map: HashMap<String, Vec<RefundRow>> = HashMap::new();
    for r in rows {
        map.entry(r.0.clone()).or_default().push(r);
    }
    map
}

fn refunds_of<'a>(map: &'a HashMap<String, Vec<RefundRow>>, txn: &str) -> &'a [RefundRow] {
    map.get(txn).map_or(&[], Vec::as_slice)
}

impl PaymentRow {
    /// Whether it can earn at all: refunded and failed payments are settled from their
    /// refunds and failure; one taken out for any other reason (an invalid amount) earns
    /// nothing.
    fn earns(&self) -> bool {
        self.removed_reason
            .as_deref()
            .is_none_or(|r| r == "failed" || r == "refunded")
    }

    /// The payment as the calculator takes it, with its refunds in its own currency (`refunds`
    /// may hold other payments' too).
    fn payment(&self, refunds: &[RefundRow]) -> (Payment, History) {
        let payment = Payment {
            txn_id: self.chargebee_id.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            occurred_at: self.occurred_at,
            plan_key: self.plan_key.clone(),
            refunds: refunds
                .iter()
                .filter(|(txn, _, _, _, cur)| *txn == self.chargebee_id && *cur == self.currency)
                .map(|(_, id, amount, occurred_at, _)| Refund {
                    id: id.clone(),
                    amount: *amount,
                    occurred_at: *occurred_at,
                })
                .collect(),
            failed: self.removed_reason.as_deref() == Some("failed"),
        };
        let history = History {
            first_payment_at: self.first_at.unwrap_or(self.occurred_at),
            ordinal: u32::try_from(self.ordinal.max(1)).unwrap_or(u32::MAX),
        };
        (payment, history)
    }
}

/// The facts of an organization's (`$1`) recorded, attributed payments, for [`PaymentRow`];
/// the caller adds its own conditions. `history`: where each stands among its customer's
/// payments (else every payment reads as the first). `earned`: the sum of its entries.
fn facts_select(history: bool, earned: bool) -> String {
    let history = if history {
        "(SELECT MIN(t2.occurred_at) FROM transactions t2 WHERE t2.org_id = t.org_id \
           AND t2.customer_id = t.customer_id AND t2.recorded) AS first_at, \
         (SELECT COUNT(*) FROM transactions t2 WHERE t2.org_id = t.org_id \
           AND t2.customer_id = t.customer_id AND t2.recorded \
           AND (t2.occurred_at < t.occurred_at \
             OR (t2.occurred_at = t.occurred_at AND t2.chargebee_id <= t.chargebee_id))) AS ordinal"
    } else {
        "t.occurred_at AS first_at, CAST(1 AS BIGINT) AS ordinal"
    };
    let earned = if earned {
        "(SELECT CAST(SUM(e.amount) AS BIGINT) FROM commission_entries e \
           WHERE e.org_id = t.org_id AND e.transaction_id = t.chargebee_id) AS earned"
    } else {
        "CAST(NULL AS BIGINT) AS earned"
    };
    format!(
        "SELECT t.chargebee_id, t.amount, t.currency, t.occurred_at, t.removed_reason, \
           t.customer_id, c.partner_id, \
           (SELECT COALESCE(s.plan_key, s.plan_item_id) FROM subscriptions s \
             WHERE s.org_id = t.org_id AND s.chargebee_id = t.subscription_id) AS plan_key, \
           {history}, {earned} \
         FROM transactions t JOIN customers c ON c.id = t.customer_id \
         WHERE t.org_id = $1 AND t.recorded AND c.partner_id IS NOT NULL"
    )
}

/// Rows per multi-row insert of statements.
const STATEMENT_ROWS: usize = 100;

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// Our id of the partner with this key.
    async fn partner_id(&self, org: &OrgId, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM partners WHERE org_id = $1 AND key = $2")
                .bind(org.as_str())
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// A run and its statements, read through `conn`.
    async fn load_payout(
        conn: &mut DB::Connection,
        org: &OrgId,
        id: &str,
    ) -> Result<Option<PayoutRun>> {
        let run: Option<PayoutHead> = sqlx::query_as(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(run) = run else {
            return Ok(None);
        };
        let statements: Vec<Statement> = sqlx::query_as(
            "SELECT p.key AS partner_key, p.name AS partner_name, p.email AS partner_email, \
               s.currency, s.amount, s.entries \
             FROM payout_statements s JOIN partners p ON p.id = s.partner_id \
             WHERE s.org_id = $1 AND s.payout_id = $2 ORDER BY p.key, s.currency",
        )
        .bind(org.as_str())
        .bind(&run.id)
        .fetch_all(&mut *conn)
        .await?;
        let mut totals: std::collections::BTreeMap<&str, RunTotal> = Default::default();
        for st in &statements {
            let t = totals.entry(&st.currency).or_insert_with(|| RunTotal {
                currency: st.currency.clone(),
                amount: 0,
                statements: 0,
            });
            t.amount += i128::from(st.amount);
            t.statements += 1;
        }
        let totals = totals.into_values().collect();
        Ok(Some(run.with(totals, statements)))
    }

    /// Closes a draft run as `status` (`paid` with a reference, or `cancelled`).
    async fn close_payout(
        &self,
        org: &OrgId,
        id: &str,
        status: &str,
        reference: Option<&str>,
        now: i64,
    ) -> Result<PayoutRun> {
        if crate::domain::identifier_problem(id).is_some() {
            return Err(StorageError::NotFound);
        }
        let mut tx = self.write.begin().await?;
        let current: Option<String> = sqlx::query_scalar(&format!(
            "SELECT status FROM payouts WHERE org_id = $1 AND id = $2{}",
            DB::FOR_UPDATE
        ))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        match current.as_deref() {
            None => return Err(StorageError::NotFound),
            Some("draft") => {}
            Some(other) => {
                return Err(StorageError::Conflict(format!(
                    "this payout run is {other} already; only a draft run can be marked paid or cancelled"
                )))
            }
        }
        sqlx::query("UPDATE payouts SET status = $3, reference = $4, closed_at = $5 WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id)
            .bind(status)
            .bind(reference.map(str::to_string))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // An entry is paid once its run is, and back in no run once it is cancelled: no
        // entry row changes.
        let run = Self::load_payout(&mut tx, org, id)
            .await?
            .ok_or(StorageError::NotFound)?;
        tx.commit().await?;
        Ok(run)
    }
}

#[async_trait]
impl<DB> Commissions for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn create_payout(&self, org: &OrgId, up_to: i64, now: i64) -> Result<PayoutRun> {
        let cutoff = up_to.min(now);
        let id = random_id("pay");
        let mut tx = self.write.begin().await?;
        // One run at a time per organization, and no entry half-written while it counts
        // (PostgreSQL; SQLite has one writer).
        lock_keys::<DB>(
            &mut tx,
            vec![format!("{org}:payouts"), entries_lock_key(org.as_str())],
        )
        .await?;
        if let Some(sql) = DB::LONG_WORK {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        let draft: Option<i64> =
            sqlx::query_scalar("SELECT number FROM payouts WHERE org_id = $1 AND status = 'draft'")
                .bind(org.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(number) = draft {
            return Err(StorageError::Conflict(format!(
                "payout run {number} is still a draft: mark it paid or cancel it before creating another"
            )));
        }
        let (number, through_seq): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE((SELECT MAX(number) FROM payouts WHERE org_id = $1), 0) + 1 AS BIGINT), \
               CAST(COALESCE((SELECT MAX(seq) FROM commission_entries WHERE org_id = $1), 0) AS BIGINT)",
        )
        .bind(org.as_str())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO payouts (id, org_id, up_to, status, created_at, number, cutoff, through_seq) \
             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(org.as_str())
        .bind(up_to)
        .bind(now)
        .bind(number)
        .bind(cutoff)
        .bind(through_seq)
        .execute(&mut *tx)
        .await?;
        // Per partner and currency, the entries payable by the cutoff that no earlier run
        // covers. Sums split into millions and remainders (see `joined_sum`): none overflows.
        let groups: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT e.partner_id, e.currency, CAST(SUM(e.amount / 1000000) AS BIGINT), \
               CAST(SUM(e.amount % 1000000) AS BIGINT), COUNT(*) \
             FROM commission_entries e \
             WHERE e.org_id = $1 AND e.payable_at <= $2 AND e.seq <= $3 \
               AND NOT EXISTS (SELECT 1 FROM payout_statements s JOIN payouts y ON y.id = s.payout_id \
                 WHERE s.org_id = e.org_id AND s.partner_id = e.partner_id \
                   AND s.currency = e.currency AND y.status <> 'cancelled' \
                   AND e.payable_at <= y.cutoff AND e.seq <= y.through_seq) \
             GROUP BY e.partner_id, e.currency",
        )
        .bind(org.as_str())
        .bind(cutoff)
        .bind(through_seq)
        .fetch_all(&mut *tx)
        .await?;
        // A total that is not positive is carried forward: no statement, so its entries stay
        // free for the next run.
        let mut statements = vec![];
        for (partner, currency, m, u, n) in groups {
            let total = super::batch::joined_sum(m, u);
            if total <= 0 {
                continue;
            }
            let amount = i64::try_from(total).map_err(|_| {
                StorageError::Conflict(format!(
                    "a statement in {currency} would total more than this ledger can hold"
                ))
            })?;
            statements.push((partner, currency, amount, n));
        }
        if statements.is_empty() {
            // Dropping the transaction forgets the run.
            return Err(StorageError::Conflict(
                "nothing to pay: no partner has a positive approved total up to this date \
                 (a total of zero or less is carried forward)"
                    .into(),
            ));
        }
        for chunk in statements.chunks(STATEMENT_ROWS) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| format!("({})", placeholders(r * 6 + 1, 6)))
                .collect();
            let sql = format!(
                "INSERT INTO payout_statements (payout_id, org_id, partner_id, currency, amount, entries) \
                 VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (partner, currency, amount, n) in chunk {
                q = q
                    .bind(&id)
                    .bind(org.as_str())
                    .bind(partner.as_str())
                    .bind(currency.as_str())
                    .bind(*amount)
                    .bind(*n);
            }
            q.execute(&mut *tx).await?;
        }
        let run = Self::load_payout(&mut tx, org, &id)
            .await?
            .ok_or(StorageError::NotFound)?;
        tx.commit().await?;
        Ok(run)
    }

    async fn payout(&self, org: &OrgId, id: &str) -> Result<Option<PayoutRun>> {
        if crate::domain::identifier_problem(id).is_some() {
            return Ok(None);
        }
        let mut conn = self.read.acquire().await?;
        Self::load_payout(&mut conn, org, id).await
    }

    async fn payouts(&self, org: &OrgId) -> Result<Vec<PayoutRun>> {
        let rows: Vec<PayoutHead> = sqlx::query_as(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE org_id = $1 ORDER BY number DESC LIMIT 500"
        ))
        .bind(org.as_str())
        .fetch_all(&self.read)
        .await?;
        let sums: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT s.payout_id, s.currency, CAST(SUM(s.amount / 1000000) AS BIGINT), \
               CAST(SUM(s.amount % 1000000) AS BIGINT), COUNT(*) \
             FROM payout_statements s JOIN payouts y ON y.id = s.payout_id \
             WHERE s.org_id = $1 AND y.number > $2 \
             GROUP BY s.payout_id, s.currency ORDER BY s.currency",
        )
        .bind(org.as_str())
        .bind(rows.last().map_or(0, |r| r.number - 1))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let totals = sums
                    .iter()
                    .filter(|(run, ..)| *run == r.id)
                    .map(|(_, currency, m, u, n)| RunTotal {
                        currency: currency.clone(),
                        amount: super::batch::joined_sum(*m, *u),
                        statements: *n,
                    })
                    .collect();
                r.with(totals, vec![])
            })
            .collect())
    }

    async fn mark_payout_paid(
        &self,
        org: &OrgId,
        id: &str,
        reference: &str,
        now: i64,
    ) -> Result<PayoutRun> {
        self.close_payout(org, id, "paid", Some(reference), now)
            .await
    }

    async fn cancel_payout(&self, org: &OrgId, id: &str, now: i64) -> Result<PayoutRun> {
        self.close_payout(org, id, "cancelled", None, now).await
    }

    async fn preview_facts(
        &self,
        org: &OrgId,
        partner_key: Option<&str>,
        from: i64,
        to: i64,
        limit: usize,
        history: bool,
    ) -> Result<Option<PreviewFacts>> {
        let partner_id = match partner_key {
            None => String::new(),
            Some(key) => match self.partner_id(org, key).await? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        let mut conn = self.read.acquire().await?;
        let versions: Vec<(Option<String>, i64, Option<String>)> = sqlx::query_as(
            "SELECT partner_id, effective_from, terms FROM commission_terms WHERE org_id = $1",
        )
        .bind(org.as_str())
        .fetch_all(&mut *conn)
        .await?;
        let period =
            "AND t.occurred_at >= $2 AND t.occurred_at < $3 AND ($4 = '' OR c.partner_id = $4)";
        let facts: Vec<PaymentRow> = sqlx::query_as(&format!(
            "{} {period} ORDER BY t.occurred_at, t.chargebee_id LIMIT $5",
            facts_select(history, true)
        ))
        .bind(org.as_str())
        .bind(from)
        .bind(to)
        .bind(&partner_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(&mut *conn)
        .await?;
        if facts.len() > limit {
            return Err(StorageError::Conflict(format!(
                "the period holds more than {limit} payments: choose a shorter one"
            )));
        }
        let refunds: Vec<RefundRow> = sqlx::query_as(&format!(
            "SELECT r.original_txn_id, r.chargebee_id, r.amount, r.occurred_at, r.currency \
             FROM refunds r \
             JOIN transactions t ON t.org_id = r.org_id AND t.chargebee_id = r.original_txn_id \
             JOIN customers c ON c.id = t.customer_id \
             WHERE r.org_id = $1 AND t.recorded AND c.partner_id IS NOT NULL {period}"
        ))
        .bind(org.as_str())
        .bind(from)
        .bind(to)
        .bind(&partner_id)
        .fetch_all(&mut *conn)
        .await?;
        let refunds = by_payment(refunds);
        // Each partner's own terms, parsed once.
        let mut overrides: HashMap<&str, Versions> = HashMap::new();
        let mut payments = Vec::with_capacity(facts.len());
        for f in facts.iter().filter(|f| f.earns()) {
            let own = overrides.entry(f.partner_id.as_str()).or_insert_with(|| {
                parse_versions(
                    versions
                        .iter()
                        .filter(|(p, _, _)| p.as_deref() == Some(f.partner_id.as_str()))
                        .map(|(_, from, t)| (*from, t.clone()))
                        .collect(),
                )
            });
            let (payment, history) = f.payment(refunds_of(&refunds, &f.chargebee_id));
            payments.push(commission::PreviewPayment {
                payment,
                history,
                earned: f.earned.unwrap_or(0),
                // Whether the partner's own terms governed it (a change of the default would
                // not have reached it).
                overridden: commission::terms_for(own, &[], f.occurred_at).is_some(),
            });
        }
        Ok(Some(PreviewFacts { payments }))
    }

    async fn add_terms_version(
        &self,
        org: &OrgId,
        partner_key: Option<&str>,
        terms: Option<&TermsSpec>,
        effective_from: i64,
        now: i64,
    ) -> Result<()> {
        let partner_id = match partner_key {
            None => None,
            Some(key) => Some(
                self.partner_id(org, key)
                    .await?
                    .ok_or(StorageError::NotFound)?,
            ),
        };
        let json = terms.map(|t| serde_json::to_string(t).unwrap_or_default());
        sqlx::query(
            "INSERT INTO commission_terms (id, org_id, partner_id, effective_from, terms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(random_id("ctv"))
        .bind(org.as_str())
        .bind(partner_id)
        .bind(effective_from)
        .bind(json)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn terms_versions(
        &self,
        org: &OrgId,
        partner_key: Option<&str>,
    ) -> Result<Option<Vec<TermsVersionRow>>> {
        let partner_id = match partner_key {
            None => None,
            Some(key) => match self.partner_id(org, key).await? {
                Some(id) => Some(id),
                None => return Ok(None),
            },
        };
        let rows: Vec<(i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT effective_from, terms, created_at FROM commission_terms \
             WHERE org_id = $1 AND ((partner_id IS NULL AND $2 IS NULL) OR partner_id = $2) \
             ORDER BY effective_from, created_at",
        )
        .bind(org.as_str())
        .bind(partner_id)
        .fetch_all(&self.read)
        .await?;
        Ok(Some(
            rows.into_iter()
                .map(|(effective_from, terms, created_at)| TermsVersionRow {
                    effective_from,
                    terms: terms.and_then(|j| serde_json::from_str(&j).ok()),
                    created_at,
                })
                .collect(),
        ))
    }

    async fn commission_entries(
        &self,
        org: &OrgId,
        filter: &EntryFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<CommissionEntry>> {
        let (c_time, c_id) = newest_first_cursor(cursor);
        // Equality on the partner's or customer's id (not `OR … IS NULL`) lets the planner read
        // that partner's entries through their index, already in order.
        let by_partner = if filter.partner_key.is_some() {
            "e.partner_id = (SELECT p2.id FROM partners p2 WHERE p2.org_id = $1 AND p2.key = $2)"
        } else {
            "$2 IS NULL"
        };
        let by_customer = if filter.customer_key.is_some() {
            "e.customer_id = (SELECT c2.id FROM customers c2 WHERE c2.org_id = $1 AND c2.key = $3)"
        } else {
            "$3 IS NULL"
        };
        let sql = format!(
            // One level, in the order of the (org_id, occurred_at, id) index, so a page stops
            // after its rows: each row's run is looked up only for the rows scanned.
            "SELECT e.id, p.key AS partner_key, c.key AS customer_key, e.transaction_id, e.kind, \
               e.amount, e.currency, e.occurred_at, e.payable_at, {COVERING_RUN} AS payout_id, \
               y.closed_at AS paid_at, \
               CASE WHEN e.kind = 'clawback' THEN (SELECT r.event_row FROM refunds r \
                   WHERE r.org_id = e.org_id AND r.chargebee_id = SUBSTR(e.key, 10)) \
                 ELSE (SELECT t.event_row FROM transactions t \
                   WHERE t.org_id = e.org_id AND t.chargebee_id = e.transaction_id) END AS webhook_event_id \
             FROM commission_entries e \
             JOIN partners p ON p.id = e.partner_id JOIN customers c ON c.id = e.customer_id \
             LEFT JOIN payouts y ON y.status = 'paid' AND y.id = {COVERING_RUN} \
             WHERE e.org_id = $1 AND {by_partner} AND {by_customer} \
               AND ($5 = '' OR e.occurred_at < $4 OR (e.occurred_at = $4 AND e.id < $5)) \
               AND ($7 = '' OR ($7 = 'paid' AND y.id IS NOT NULL) \
                 OR ($7 = 'pending' AND y.id IS NULL AND e.payable_at > $8) \
                 OR ($7 = 'approved' AND y.id IS NULL AND e.payable_at <= $8)) \
             ORDER BY e.occurred_at DESC, e.id DESC LIMIT $6"
        );
        let rows: Vec<CommissionEntry> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(filter.partner_key.as_deref())
            .bind(filter.customer_key.as_deref())
            .bind(c_time)
            .bind(&c_id)
            .bind(limit + 1)
            .bind(filter.status.as_deref().unwrap_or(""))
            .bind(filter.now)
            .fetch_all(&self.read)
            .await?;
        let mut page = paginate(rows, limit, |e| format!("{}:{}", e.occurred_at, e.id));
        for e in &mut page.items {
            e.status = commission::status(e.payable_at, e.paid_at.is_some(), filter.now).into();
        }
        Ok(page)
    }

    async fn partner_balance(
        &self,
        org: &OrgId,
        partner_key: &str,
        now: i64,
    ) -> Result<Option<Vec<RatedBalance>>> {
        let Some(partner_id) = self.partner_id(org, partner_key).await? else {
            return Ok(None);
        };
        // Sums split into millions and remainders (see `joined_sum`): none can overflow.
        let split = |name: &str, when: &str| {
            format!(
                "CAST(SUM(CASE WHEN {when} THEN e.amount / 1000000 ELSE 0 END) AS BIGINT) AS {name}_m, \
                 CAST(SUM(CASE WHEN {when} THEN e.amount % 1000000 ELSE 0 END) AS BIGINT) AS {name}_u"
            )
        };
        let rows: Vec<BalanceSums> = sqlx::query_as(&format!(
            "SELECT e.currency, t.exchange_rate, t.base_currency_code, {}, {}, {}, {} \
             FROM (SELECT e.currency, e.amount, e.payable_at, e.transaction_id, e.org_id, \
                     {COVERING_RUN} AS payout_id \
                   FROM commission_entries e WHERE e.org_id = $1 AND e.partner_id = $2) e \
             LEFT JOIN payouts y ON y.id = e.payout_id AND y.status = 'paid' \
             LEFT JOIN transactions t ON t.org_id = e.org_id AND t.chargebee_id = e.transaction_id \
             GROUP BY e.currency, t.exchange_rate, t.base_currency_code \
             ORDER BY e.currency",
            split("pending", "y.id IS NULL AND e.payable_at > $3"),
            split("approved", "y.id IS NULL AND e.payable_at <= $3"),
            split("paid", "y.id IS NOT NULL"),
            split("clawed", "e.amount < 0"),
        ))
        .bind(org.as_str())
        .bind(&partner_id)
        .bind(now)
        .fetch_all(&self.read)
        .await?;
        use super::batch::joined_sum;
        Ok(Some(
            rows.into_iter()
                .map(|r| RatedBalance {
                    balance: Balance {
                        pending: joined_sum(r.pending_m, r.pending_u),
                        approved: joined_sum(r.approved_m, r.approved_u),
                        paid: joined_sum(r.paid_m, r.paid_u),
                        clawed_back: -joined_sum(r.clawed_m, r.clawed_u),
                        currency: r.currency,
                    },
                    rate: r.exchange_rate,
                    base: r.base_currency_code,
                })
                .collect(),
        ))
    }
}

#[derive(sqlx::FromRow)]
struct BalanceSums {
    currency: String,
    exchange_rate: Option<String>,
    base_currency_code: Option<String>,
    pending_m: i64,
    pending_u: i64,
    approved_m: i64,
    approved_u: i64,
    paid_m: i64,
    paid_u: i64,
    clawed_m: i64,
    clawed_u: i64,
}
