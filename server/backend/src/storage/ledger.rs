//! Customers, partners, plans, transactions and subscriptions, and revenue.

use super::backend::Backend;
use super::batch::{joined_sum, perform, Budget, SqlxWaves, WaveOp, PARTNERS};
use super::commissions::settle;
use super::store::*;
use super::*;
use crate::currency::RatedSum;
use crate::domain::{identifier_problem, random_id};
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::HashMap;

pub(super) fn like_pattern(search: &str) -> String {
    let escaped = search
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

const CUSTOMER_COLUMNS: &str = "c.id, c.key, c.email, c.name, p.key AS partner_key, \
     p.name AS partner_name, c.chargebee_id, c.created_at";

const PARTNER_COLUMNS: &str = "p.id, p.key, p.name, p.email, p.auto_created, p.created_at, \
     (SELECT COUNT(*) FROM customers c WHERE c.org_id = p.org_id AND c.partner_id = p.id) AS customers";

/// Net revenue (recorded, not removed) per currency, summed as millions and remainders so that
/// no sum overflows (put together by `joined_sum`). Queries add their grouping column first.
/// (owner, currency, rate, base, millions, units): a sum of one owner in one currency at
/// one exchange rate.
type RatedRow = (String, String, Option<String>, Option<String>, i64, i64);

/// Rows of (owner, currency, rate, base, millions, units) by owner.
fn rated_by_owner(rows: Vec<RatedRow>) -> HashMap<String, Vec<RatedSum>> {
    let mut out: HashMap<String, Vec<RatedSum>> = HashMap::new();
    for (owner, currency, rate, base, millions, units) in rows {
        out.entry(owner).or_default().push(RatedSum {
            currency,
            amount: joined_sum(millions, units),
            rate,
            base,
        });
    }
    out
}

/// Per currency (never added across currencies), sorted by currency.
fn per_currency(sums: &[RatedSum]) -> Vec<CurrencyTotal> {
    let mut out: Vec<CurrencyTotal> = vec![];
    for s in sums {
        match out.iter_mut().find(|t| t.currency == s.currency) {
            Some(t) => t.amount += s.amount,
            None => out.push(CurrencyTotal {
                currency: s.currency.clone(),
                amount: s.amount,
            }),
        }
    }
    out.sort_by(|a, b| a.currency.cmp(&b.currency));
    out
}

/// A partner's revenue and earnings per currency, and each converted into `reporting` when
/// some is in another currency and every rate converts.
fn set_totals(p: &mut Partner, revenue: Vec<RatedSum>, earnings: Vec<RatedSum>, reporting: &str) {
    let converted = |sums: &[RatedSum]| {
        sums.iter()
            .any(|s| s.currency != reporting)
            .then(|| crate::currency::converted_total(sums, reporting))
            .flatten()
    };
    p.revenue_converted = converted(&revenue);
    p.earnings_converted = converted(&earnings);
    p.set_revenue(per_currency(&revenue));
    p.earnings = per_currency(&earnings);
}

const NET_REVENUE_SPLIT: &str = "t.currency, \
     CAST(SUM((t.amount - t.amount_refunded) / 1000000) AS BIGINT) AS millions, \
     CAST(SUM((t.amount - t.amount_refunded) % 1000000) AS BIGINT) AS units";

const CUSTOMER_LIST_SELECT: &str = "SELECT c.id, c.key, c.email, c.name, p.key AS partner_key, \
   (SELECT COUNT(*) FROM subscriptions s WHERE s.org_id = c.org_id \
     AND s.customer_id = c.id AND NOT s.deleted \
     AND s.status IN ('active', 'in_trial', 'non_renewing', 'future')) AS active_subscriptions";

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn partner_by_key(&self, org: &OrgId, key: &str) -> Result<Option<Partner>> {
        if identifier_problem(key).is_some() {
            return Ok(None);
        }
        let sql =
            format!("SELECT {PARTNER_COLUMNS} FROM partners p WHERE p.org_id = $1 AND p.key = $2");
        let partner: Option<Partner> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        let Some(mut partner) = partner else {
            return Ok(None);
        };
        let mut totals = self.partner_totals(org, Some(&partner.id)).await?;
        let mut earnings = self.partner_earnings(org, Some(&partner.id)).await?;
        let reporting = self.reporting_in(org).await?;
        let revenue = totals.remove(&partner.id).unwrap_or_default();
        let earned = earnings.remove(&partner.id).unwrap_or_default();
        set_totals(&mut partner, revenue, earned, &reporting);
        Ok(Some(partner))
    }

    /// Commissions per partner, currency and exchange rate (one partner, or all of the
    /// organization's), summed as millions and remainders so that no sum overflows.
    async fn partner_earnings(
        &self,
        org: &OrgId,
        partner_id: Option<&str>,
    ) -> Result<HashMap<String, Vec<RatedSum>>> {
        let rows: Vec<RatedRow> =
            sqlx::query_as(
                "SELECT e.partner_id, e.currency, t.exchange_rate, t.base_currency_code, \
                   CAST(SUM(e.amount / 1000000) AS BIGINT), CAST(SUM(e.amount % 1000000) AS BIGINT) \
                 FROM commission_entries e \
                 LEFT JOIN transactions t ON t.org_id = e.org_id AND t.chargebee_id = e.transaction_id \
                 WHERE e.org_id = $1 AND ($2 IS NULL OR e.partner_id = $2) \
                 GROUP BY e.partner_id, e.currency, t.exchange_rate, t.base_currency_code",
            )
            .bind(org.as_str())
            .bind(partner_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rated_by_owner(rows))
    }

    /// Net revenue per partner, currency and exchange rate (one partner, or all of the
    /// organization's).
    async fn partner_totals(
        &self,
        org: &OrgId,
        partner_id: Option<&str>,
    ) -> Result<HashMap<String, Vec<RatedSum>>> {
        let sql =
            "SELECT c.partner_id, t.currency, t.exchange_rate, t.base_currency_code, \
               CAST(SUM((t.amount - t.amount_refunded) / 1000000) AS BIGINT), \
               CAST(SUM((t.amount - t.amount_refunded) % 1000000) AS BIGINT) FROM transactions t \
             JOIN customers c ON c.id = t.customer_id \
             WHERE t.org_id = $1 AND c.partner_id IS NOT NULL AND ($2 IS NULL OR c.partner_id = $2) \
               AND t.recorded AND t.removed_reason IS NULL \
             GROUP BY c.partner_id, t.currency, t.exchange_rate, t.base_currency_code";
        let rows: Vec<RatedRow> = sqlx::query_as(sql)
            .bind(org.as_str())
            .bind(partner_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rated_by_owner(rows))
    }

    /// The organization's reporting currency.
    async fn reporting_in(&self, org: &OrgId) -> Result<String> {
        Ok(
            sqlx::query_scalar("SELECT reporting_currency FROM organizations WHERE id = $1")
                .bind(org.as_str())
                .fetch_optional(&self.read)
                .await?
                .unwrap_or_else(|| "USD".to_string()),
        )
    }

    async fn plan_by_key(&self, org: &OrgId, key: &str) -> Result<Plan> {
        sqlx::query_as(
            "SELECT p.id, p.key, p.name, (SELECT COUNT(*) FROM subscriptions s \
               WHERE s.org_id = p.org_id AND NOT s.deleted \
                 AND (s.plan_key = p.key OR s.plan_item_id = p.key)) AS subscriptions \
             FROM plans p WHERE p.org_id = $1 AND p.key = $2",
        )
        .bind(org.as_str())
        .bind(key)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound)
    }
}

#[async_trait]
impl<DB> Ledger for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn create_customer(
        &self,
        org: &OrgId,
        c: &NewCustomer,
        now: i64,
    ) -> Result<(Customer, usize)> {
        let mut tx = self.write.begin().await?;
        // Same lock as an event for this customer key takes, so a concurrently parked event
        // is either seen here or sees this customer.
        lock_keys::<DB>(&mut tx, vec![customer_lock_key(org, &c.key)]).await?;
        if let Some(pk) = &c.partner_key {
            sqlx::query(&PARTNERS.render(1))
                .bind(random_id("prt"))
                .bind(org.as_str())
                .bind(pk)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let r = sqlx::query(
            "INSERT INTO customers (id, org_id, key, email, name, partner_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, (SELECT id FROM partners WHERE org_id = $2 AND key = $6), $7)",
        )
        .bind(random_id("cus"))
        .bind(org.as_str())
        .bind(&c.key)
        .bind(&c.email)
        .bind(&c.name)
        .bind(&c.partner_key)
        .bind(now)
        .execute(&mut *tx)
        .await;
        r.map_err(|e| {
            conflict_if_unique(e, || {
                format!("a customer with key \"{}\" already exists", c.key)
            })
        })?;
        let mut budget = Budget::new(self.release_chunk);
        let released: usize = perform(
            &mut SqlxWaves::<DB>(&mut *tx),
            WaveOp::Release {
                org,
                customer_key: &c.key,
                chargebee_id: None,
                after: None,
                now,
            },
            &mut budget,
        )
        .await?
        .iter()
        .map(applied)
        .sum();
        settle::<DB>(&mut tx, budget.payments(), now).await?;
        tx.commit().await?;
        self.after_releases(&budget);
        let customer = self
            .customer(org, &c.key)
            .await?
            .ok_or(StorageError::NotFound)?;
        Ok((customer, released))
    }

    async fn customer(&self, org: &OrgId, key: &str) -> Result<Option<Customer>> {
        // No stored key has a control character or is that long: not found, without
        // asking PostgreSQL (which refuses a NUL in a query).
        if identifier_problem(key).is_some() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers c \
             LEFT JOIN partners p ON p.id = c.partner_id \
             WHERE c.org_id = $1 AND c.key = $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn customers(
        &self,
        org: &OrgId,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<CustomerListRow>> {
        // Control characters cannot be in any stored key, email or name: drop them
        // (PostgreSQL refuses a NUL in a query), and a cursor holding one starts over.
        let cleaned: Option<String> =
            search.map(|s| s.chars().filter(|c| !c.is_control()).collect());
        let cursor = cursor.filter(|c| !c.chars().any(char::is_control));
        let term = cleaned.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let pattern = term.map(like_pattern);
        // SQLite: terms of 3+ characters are found by the FTS5 trigram index; shorter
        // ones by LIKE (which folds ASCII case only).
        let fts = term
            .filter(|t| DB::FTS_SEARCH && t.chars().count() >= 3)
            .map(|t| format!("\"{}\"", t.to_lowercase().replace('"', "\"\"")));
        // With a search term, the matching customers are found first (trigram indexes
        // on both backends) and only then ordered and paged; otherwise a planner walking
        // the key index for a LIMIT can scan every customer for a rare term.
        let sql = format!(
            "{} {CUSTOMER_LIST_SELECT} FROM {} c LEFT JOIN partners p ON p.id = c.partner_id \
             WHERE c.org_id = $1 AND c.key > $2 ORDER BY c.key LIMIT $4",
            match (&pattern, &fts) {
                // The FTS5 index has one column per field and folds case in every
                // script, so its match alone decides (SQLite's lower() is ASCII-only).
                (Some(_), Some(_)) => {
                    "WITH matches AS MATERIALIZED (SELECT * FROM customers m WHERE m.org_id = $1 \
                       AND m.rowid IN (SELECT rowid FROM customers_search WHERE customers_search MATCH $5) \
                       AND $3 IS NOT NULL)"
                }
                (Some(_), None) => {
                    "WITH matches AS MATERIALIZED (SELECT * FROM customers m WHERE m.org_id = $1 \
                       AND (lower(m.key) LIKE $3 ESCAPE '\\' OR lower(m.email) LIKE $3 ESCAPE '\\' \
                            OR lower(m.name) LIKE $3 ESCAPE '\\'))"
                }
                // $3 is bound either way; mention it so both variants use it.
                (None, _) => "WITH matches AS (SELECT 1 WHERE $3 IS NULL)",
            },
            if pattern.is_some() {
                "matches"
            } else {
                "customers"
            },
        );
        let mut query = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(cursor.unwrap_or(""))
            .bind(&pattern)
            .bind(limit + 1);
        if let Some(f) = &fts {
            query = query.bind(f);
        }
        let rows: Vec<CustomerListRow> = query.fetch_all(&self.read).await?;
        let mut page = paginate(rows, limit, |c| c.key.clone());
        if !page.items.is_empty() {
            // Totals for this page's customers only, per currency.
            let ids = placeholders(2, page.items.len());
            let sql = format!(
                "SELECT t.customer_id, {NET_REVENUE_SPLIT} FROM transactions t \
                 WHERE t.org_id = $1 AND t.customer_id IN ({}) \
                   AND t.recorded AND t.removed_reason IS NULL \
                 GROUP BY t.customer_id, t.currency",
                ids
            );
            let mut q = sqlx::query_as(&sql).bind(org.as_str());
            for c in &page.items {
                q = q.bind(&c.id);
            }
            let rows: Vec<(String, String, i64, i64)> = q.fetch_all(&self.read).await?;
            let mut totals = totals_by_owner(rows);
            for c in &mut page.items {
                c.set_revenue(totals.remove(&c.id).unwrap_or_default());
            }
        }
        Ok(page)
    }

    async fn transactions(&self, org: &OrgId, customer_id: &str) -> Result<Vec<Transaction>> {
        Ok(sqlx::query_as(
            "SELECT t.chargebee_id, t.amount, t.amount_refunded, t.currency, t.occurred_at, \
               t.subscription_id, t.invoice_id, t.removed_reason, t.exchange_rate, \
               t.base_currency_code, \
               (SELECT CAST(SUM(e.amount) AS BIGINT) FROM commission_entries e \
                 WHERE e.org_id = t.org_id AND e.transaction_id = t.chargebee_id) AS commission \
             FROM transactions t \
             WHERE t.org_id = $1 AND t.customer_id = $2 AND t.recorded \
             ORDER BY t.occurred_at DESC, t.chargebee_id",
        )
        .bind(org.as_str())
        .bind(customer_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn transactions_after(
        &self,
        org: &OrgId,
        filter: &TransactionFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<TransactionExportRow>> {
        let (at, id) = after.unwrap_or((i64::MIN, String::new()));
        Ok(sqlx::query_as(
            "SELECT t.id, t.created_at, t.chargebee_id, c.key AS customer_key, \
               p.key AS partner_key, t.occurred_at, \
               t.currency, t.amount, t.amount_refunded, t.removed_reason, \
               (SELECT CAST(SUM(e.amount) AS BIGINT) FROM commission_entries e \
                 WHERE e.org_id = t.org_id AND e.transaction_id = t.chargebee_id) AS commission, \
               t.exchange_rate, t.base_currency_code, t.subscription_id, t.invoice_id \
             FROM transactions t JOIN customers c ON c.id = t.customer_id \
             LEFT JOIN partners p ON p.id = c.partner_id \
             WHERE t.org_id = $1 AND t.recorded AND ($2 IS NULL OR c.key = $2) \
               AND ($3 IS NULL OR p.key = $3) \
               AND (t.created_at > $4 OR (t.created_at = $4 AND t.id > $5)) \
             ORDER BY t.created_at, t.id LIMIT $6",
        )
        .bind(org.as_str())
        .bind(filter.customer_key.as_deref())
        .bind(filter.partner_key.as_deref())
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    async fn subscriptions(&self, org: &OrgId, customer_id: &str) -> Result<Vec<Subscription>> {
        Ok(sqlx::query_as(
            "SELECT s.chargebee_id, s.plan_key, \
               COALESCE(p.name, (SELECT p2.name FROM plans p2 WHERE p2.org_id = s.org_id \
                 AND p2.key = s.plan_item_id)) AS plan_name, \
               s.status, s.mrr, s.currency, s.current_term_start, s.current_term_end \
             FROM subscriptions s \
             LEFT JOIN plans p ON p.org_id = s.org_id AND p.key = s.plan_key \
             WHERE s.org_id = $1 AND s.customer_id = $2 AND NOT s.deleted \
             ORDER BY s.chargebee_id",
        )
        .bind(org.as_str())
        .bind(customer_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn create_partner(
        &self,
        org: &OrgId,
        key: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: i64,
    ) -> Result<Partner> {
        let r = sqlx::query(
            "INSERT INTO partners (id, org_id, key, name, email, auto_created, created_at) \
             VALUES ($1, $2, $3, $4, $5, FALSE, $6)",
        )
        .bind(random_id("prt"))
        .bind(org.as_str())
        .bind(key)
        .bind(name)
        .bind(email)
        .bind(now)
        .execute(&self.write)
        .await;
        r.map_err(|e| {
            conflict_if_unique(e, || format!("a partner with key \"{key}\" already exists"))
        })?;
        self.partner_by_key(org, key)
            .await?
            .ok_or(StorageError::NotFound)
    }

    async fn update_partner(
        &self,
        org: &OrgId,
        key: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Partner> {
        let n = sqlx::query(
            "UPDATE partners SET name = $3, email = $4, auto_created = FALSE \
             WHERE org_id = $1 AND key = $2",
        )
        .bind(org.as_str())
        .bind(key)
        .bind(name)
        .bind(email)
        .execute(&self.write)
        .await?
        .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        self.partner_by_key(org, key)
            .await?
            .ok_or(StorageError::NotFound)
    }

    async fn partner(&self, org: &OrgId, key: &str) -> Result<Option<Partner>> {
        self.partner_by_key(org, key).await
    }

    async fn partners(&self, org: &OrgId) -> Result<Vec<Partner>> {
        let sql =
            format!("SELECT {PARTNER_COLUMNS} FROM partners p WHERE p.org_id = $1 ORDER BY p.key");
        let mut partners: Vec<Partner> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .fetch_all(&self.read)
            .await?;
        let mut totals = self.partner_totals(org, None).await?;
        let mut earnings = self.partner_earnings(org, None).await?;
        let reporting = self.reporting_in(org).await?;
        for p in &mut partners {
            let (revenue, earned) = (
                totals.remove(&p.id).unwrap_or_default(),
                earnings.remove(&p.id).unwrap_or_default(),
            );
            set_totals(p, revenue, earned, &reporting);
        }
        Ok(partners)
    }

    async fn plans(&self, org: &OrgId) -> Result<Vec<Plan>> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.key, p.name, (SELECT COUNT(*) FROM subscriptions s \
               WHERE s.org_id = p.org_id AND NOT s.deleted \
                 AND (s.plan_key = p.key OR s.plan_item_id = p.key)) AS subscriptions \
             FROM plans p WHERE p.org_id = $1 ORDER BY p.key",
        )
        .bind(org.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn detected_plans(&self, org: &OrgId) -> Result<Vec<DetectedPlan>> {
        Ok(sqlx::query_as(
            "SELECT s.plan_key AS key, COUNT(*) AS subscriptions FROM subscriptions s \
             WHERE s.org_id = $1 AND NOT s.deleted AND s.plan_key IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.org_id = s.org_id \
                 AND (p.key = s.plan_key OR p.key = s.plan_item_id)) \
             GROUP BY s.plan_key ORDER BY s.plan_key",
        )
        .bind(org.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn create_plan(&self, org: &OrgId, key: &str, name: &str, now: i64) -> Result<Plan> {
        let r = sqlx::query(
            "INSERT INTO plans (id, org_id, key, name, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(random_id("pln"))
        .bind(org.as_str())
        .bind(key)
        .bind(name)
        .bind(now)
        .execute(&self.write)
        .await;
        r.map_err(|e| {
            conflict_if_unique(e, || format!("a plan with key \"{key}\" already exists"))
        })?;
        self.plan_by_key(org, key).await
    }

    async fn update_plan(&self, org: &OrgId, key: &str, new_key: &str, name: &str) -> Result<Plan> {
        let r = sqlx::query("UPDATE plans SET key = $3, name = $4 WHERE org_id = $1 AND key = $2")
            .bind(org.as_str())
            .bind(key)
            .bind(new_key)
            .bind(name)
            .execute(&self.write)
            .await;
        match r {
            Ok(r) if r.rows_affected_by::<DB>() == 0 => return Err(StorageError::NotFound),
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::Conflict(format!(
                    "a plan with key \"{new_key}\" already exists"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        self.plan_by_key(org, new_key).await
    }

    async fn delete_plan(&self, org: &OrgId, key: &str) -> Result<i64> {
        let mut tx = self.write.begin().await?;
        let affected: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscriptions s WHERE s.org_id = $1 AND NOT s.deleted \
               AND (s.plan_key = $2 OR s.plan_item_id = $2)",
        )
        .bind(org.as_str())
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM plans WHERE org_id = $1 AND key = $2")
            .bind(org.as_str())
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected_by::<DB>();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        tx.commit().await?;
        Ok(affected)
    }

    async fn revenue_by_rate(
        &self,
        org: &OrgId,
        since: i64,
    ) -> Result<Vec<crate::currency::RatedSum>> {
        let sql = format!(
            "SELECT t.exchange_rate, t.base_currency_code, {NET_REVENUE_SPLIT} \
             FROM transactions t JOIN customers c ON c.id = t.customer_id \
             WHERE t.org_id = $1 AND t.occurred_at >= $2 AND t.recorded \
               AND t.removed_reason IS NULL AND c.partner_id IS NOT NULL \
             GROUP BY t.currency, t.exchange_rate, t.base_currency_code"
        );
        let rows: Vec<(Option<String>, Option<String>, String, i64, i64)> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(since)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(rate, base, currency, millions, units)| crate::currency::RatedSum {
                    currency,
                    amount: joined_sum(millions, units),
                    rate,
                    base,
                },
            )
            .collect())
    }

    async fn revenue_by_day(&self, org: &OrgId, since: i64) -> Result<Vec<RevenuePoint>> {
        let sql = format!(
            "SELECT CAST(t.occurred_at / 86400000 AS BIGINT) AS day, {NET_REVENUE_SPLIT} \
             FROM transactions t JOIN customers c ON c.id = t.customer_id \
             WHERE t.org_id = $1 AND t.occurred_at >= $2 AND t.recorded \
               AND t.removed_reason IS NULL AND c.partner_id IS NOT NULL \
             GROUP BY t.occurred_at / 86400000, t.currency ORDER BY day, t.currency"
        );
        let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(since)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(day, currency, millions, units)| RevenuePoint {
                day,
                currency,
                net: joined_sum(millions, units),
            })
            .collect())
    }
}
