//! Webhook events: storing and applying deliveries, replays, releases of parked events, retries, and the event log.

use super::backend::Backend;
use super::batch::{perform, Budget, Item, Row, SqlxWaves, WaveOp, ATTEMPT_SQL, KEEP_FIRST};
use super::commissions::settle;
use super::store::*;
use super::*;
use crate::chargebee::BillingEvent;
use crate::domain::{identifier_problem, random_id};
use crate::health::HealthFacts;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::borrow::Cow;

/// The forms of an event's customer key (`e.customer_key`) that a mistyped key is likely to
/// be: as sent, trimmed, lower case, upper case.
const KEY_VARIANTS: &str = "e.customer_key, trim(e.customer_key), lower(trim(e.customer_key)), \
     upper(trim(e.customer_key))";

/// Health counts stop here: past it, "that many or more" is all an alert needs.
pub const HEALTH_COUNT_CAP: i64 = 10_000;

const EVENT_SUMMARY_COLUMNS: &str = "id, event_id, event_type, occurred_at, received_at, outcome, \
     detail, customer_key, attempts, customer_id";

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
    /// Stores and applies deliveries in one transaction; any error fails them all.
    /// On PostgreSQL every lock they need is taken first, in one sorted order, so that
    /// concurrent transactions (batches or single deliveries) cannot deadlock.
    async fn apply_deliveries(
        &self,
        items: &[(&OrgId, &NewEvent, &BillingEvent)],
    ) -> Result<Vec<EventOutcome>> {
        let work: Vec<Item<'_>> = items
            .iter()
            .enumerate()
            .map(|(i, (org, event, billing))| Item {
                org,
                row: Row::New(event),
                billing: Cow::Borrowed(billing),
                now: event.received_at,
                origin: i,
            })
            .collect();
        // The commissions' creation time: the latest arrival.
        let now = items
            .iter()
            .map(|(_, e, _)| e.received_at)
            .max()
            .unwrap_or_default();
        let mut budget = Budget::new(self.release_chunk);
        let mut tx = self.write.begin().await?;
        let out = perform(
            &mut SqlxWaves::<DB>(&mut *tx),
            WaveOp::Deliveries(work),
            &mut budget,
        )
        .await?;
        settle::<DB>(&mut tx, budget.payments(), now).await?;
        tx.commit().await?;
        self.after_releases(&budget);
        Ok(out)
    }
}

#[async_trait]
impl<DB> Events for SqlStore<DB>
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
    async fn ingest(
        &self,
        org: &OrgId,
        event: &NewEvent,
        billing: &BillingEvent,
    ) -> Result<EventOutcome> {
        let mut out = self.apply_deliveries(&[(org, event, billing)]).await?;
        out.pop()
            .ok_or_else(|| StorageError::Other("no outcome for a delivery".into()))
    }

    fn write_batching(&self) -> (usize, usize) {
        DB::WRITE_BATCHING
    }

    async fn ingest_batch(&self, items: &[IngestItem]) -> Vec<Result<EventOutcome>> {
        if items.len() > 1 {
            let refs: Vec<(&OrgId, &NewEvent, &BillingEvent)> = items
                .iter()
                .map(|it| (&it.org, &it.event, &it.billing))
                .collect();
            match self.apply_deliveries(&refs).await {
                Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
                // The database is away: every item would wait for it again. Answer
                // them all now (503, so Chargebee retries).
                Err(StorageError::Unavailable(e)) => {
                    tracing::warn!(error = %e, items = items.len(), "database unavailable for a batch");
                    return items
                        .iter()
                        .map(|_| Err(StorageError::Unavailable(e.clone())))
                        .collect();
                }
                Err(e) => {
                    tracing::warn!(error = %e, items = items.len(), "batch failed; applying its events one by one")
                }
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            out.push(self.ingest(&it.org, &it.event, &it.billing).await);
        }
        out
    }

    async fn record_event(
        &self,
        org: &OrgId,
        event: &NewEvent,
        outcome: Outcome,
        detail: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<EventOutcome> {
        let mut budget = Budget::new(self.release_chunk);
        let mut tx = self.write.begin().await?;
        let op = WaveOp::Record {
            org,
            event,
            outcome,
            detail,
            retry_at,
        };
        let recorded = perform(&mut SqlxWaves::<DB>(&mut *tx), op, &mut budget)
            .await?
            .pop()
            .ok_or_else(|| StorageError::Other("no outcome for a recorded delivery".into()))?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn reprocess(&self, org: &OrgId, id: &str, now: i64) -> Result<EventOutcome> {
        let mut budget = Budget::new(self.release_chunk);
        let mut tx = self.write.begin().await?;
        let outcome = perform(
            &mut SqlxWaves::<DB>(&mut *tx),
            WaveOp::Replay { org, id, now },
            &mut budget,
        )
        .await?
        .pop()
        .ok_or_else(|| StorageError::Other("no outcome for a replay".into()))?;
        settle::<DB>(&mut tx, budget.payments(), now).await?;
        tx.commit().await?;
        self.after_releases(&budget);
        Ok(outcome)
    }

    async fn continue_releases(&self, now: i64) -> Result<Option<usize>> {
        let mut tx = self.write.begin().await?;
        let lock = DB::CLAIM;
        let request: Option<(String, String, String, String)> = sqlx::query_as(&format!(
            "SELECT org_id, customer_key, chargebee_id, after_id FROM release_requests \
             ORDER BY created_at, org_id, customer_key LIMIT 1{lock}"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((org_id, customer_key, chargebee_id, after_id)) = request else {
            return Ok(None);
        };
        let org = OrgId::from_trusted(org_id);
        let mut budget = Budget::new(self.release_chunk);
        let released: usize = perform(
            &mut SqlxWaves::<DB>(&mut *tx),
            WaveOp::Release {
                org: &org,
                customer_key: &customer_key,
                chargebee_id: Some(chargebee_id.as_str()).filter(|c| !c.is_empty()),
                after: Some(after_id.as_str()),
                now,
            },
            &mut budget,
        )
        .await?
        .iter()
        .map(applied)
        .sum();
        // Not done: the next share starts after this one, at the back of the line so
        // that other customers' releases take turns with it. Done: forget the request.
        let key_args = (org.as_str(), customer_key.as_str(), chargebee_id.as_str());
        match budget.next_share() {
            Some(cursor) => {
                sqlx::query(
                    "UPDATE release_requests SET after_id = $4, created_at = $5 \
                     WHERE org_id = $1 AND customer_key = $2 AND chargebee_id = $3",
                )
                .bind(key_args.0)
                .bind(key_args.1)
                .bind(key_args.2)
                .bind(cursor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM release_requests WHERE org_id = $1 AND customer_key = $2 \
                       AND chargebee_id = $3",
                )
                .bind(key_args.0)
                .bind(key_args.1)
                .bind(key_args.2)
                .execute(&mut *tx)
                .await?;
            }
        }
        settle::<DB>(&mut tx, budget.payments(), now).await?;
        tx.commit().await?;
        Ok(Some(released))
    }

    fn release_signal(&self) -> Arc<tokio::sync::Notify> {
        self.releases.clone()
    }

    async fn mark_failed(
        &self,
        org: &OrgId,
        id: &str,
        error: &str,
        retry: Retry,
        now: i64,
    ) -> Result<()> {
        let (keep, at) = match retry {
            Retry::At(at) => (false, at),
            Retry::Keep => (true, None),
        };
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "UPDATE webhook_events SET {KEEP_FIRST}, outcome = 'failed', detail = $3, \
               next_attempt_at = CASE WHEN $5 THEN next_attempt_at ELSE $4 END, \
               attempts = attempts + CASE WHEN $5 THEN 0 ELSE 1 END \
             WHERE org_id = $1 AND id = $2"
        );
        let changed = sqlx::query(&sql)
            .bind(org.as_str())
            .bind(id)
            .bind(error)
            .bind(at)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&changed) == 1 {
            sqlx::query(ATTEMPT_SQL)
                .bind(random_id("att"))
                .bind(org.as_str())
                .bind(id)
                .bind(now)
                .bind("failed")
                .bind(error)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_due_events(
        &self,
        now: i64,
        limit: i64,
        lease_until: i64,
    ) -> Result<Vec<DueEvent>> {
        let lock = DB::CLAIM;
        let sql = format!(
            "UPDATE webhook_events SET next_attempt_at = $3 WHERE id IN ( \
               SELECT id FROM webhook_events WHERE outcome = 'failed' \
                 AND next_attempt_at IS NOT NULL AND next_attempt_at <= $1 \
               ORDER BY next_attempt_at LIMIT $2{lock}) \
             RETURNING org_id, id, CAST(attempts AS BIGINT)"
        );
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&sql)
            .bind(now)
            .bind(limit)
            .bind(lease_until)
            .fetch_all(&self.write)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(org_id, id, attempts)| DueEvent {
                org_id,
                id,
                attempts,
            })
            .collect())
    }

    async fn events(
        &self,
        org: &OrgId,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<EventSummary>> {
        let (c_time, c_id) = newest_first_cursor(cursor);
        // Equality where a filter is given (not `$n IS NULL OR …`), so the planner can read a
        // customer's events through webhook_events_customer_time, or one outcome's through
        // webhook_events_outcome, instead of scanning the organization's in time order.
        let by_outcome = if filter.outcome.is_some() {
            "outcome = $2"
        } else {
            "$2 IS NULL"
        };
        let by_customer = if filter.customer_id.is_some() {
            "customer_id = $4"
        } else {
            "$4 IS NULL"
        };
        let sql = format!(
            "SELECT {EVENT_SUMMARY_COLUMNS} FROM webhook_events WHERE org_id = $1 \
               AND {by_outcome} AND ($3 IS NULL OR event_type = $3) AND {by_customer} \
               AND ($6 = '' OR received_at < $5 OR (received_at = $5 AND id < $6)) \
             ORDER BY received_at DESC, id DESC LIMIT $7"
        );
        let rows: Vec<EventSummary> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(filter.outcome.map(Outcome::as_str))
            .bind(&filter.event_type)
            .bind(&filter.customer_id)
            .bind(c_time)
            .bind(&c_id)
            .bind(limit + 1)
            .fetch_all(&self.read)
            .await?;
        Ok(paginate(rows, limit, |e| {
            format!("{}:{}", e.received_at, e.id)
        }))
    }

    async fn event(&self, org: &OrgId, id: &str) -> Result<Option<EventDetail>> {
        if identifier_problem(id).is_some() {
            return Ok(None);
        }
        let found: Option<EventDetail> = sqlx::query_as(
            "SELECT id, event_id, event_type, occurred_at, received_at, outcome, detail, \
               customer_key, customer_id, attempts, payload, first_outcome, first_detail, \
               payload_pruned_at \
             FROM webhook_events \
             WHERE org_id = $1 AND (id = $2 OR event_id = $2) \
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        let Some(mut e) = found else {
            return Ok(None);
        };
        let later = self.event_attempts(org, &e.id).await?;
        let first = Attempt {
            at: e.received_at,
            outcome: e
                .first_outcome
                .clone()
                .unwrap_or_else(|| e.outcome.to_string()),
            detail: if e.first_outcome.is_some() {
                e.first_detail.clone()
            } else {
                e.detail.clone()
            },
        };
        e.history = std::iter::once(first)
            .chain(later.into_iter().map(|a| Attempt {
                at: a.at,
                outcome: a.outcome,
                detail: a.detail,
            }))
            .collect();
        Ok(Some(e))
    }

    async fn event_attempts(&self, org: &OrgId, id: &str) -> Result<Vec<AttemptRow>> {
        Ok(sqlx::query_as(
            "SELECT at, outcome, detail FROM event_attempts WHERE org_id = $1 AND event_row = $2 \
             ORDER BY at, id LIMIT 1000",
        )
        .bind(org.as_str())
        .bind(id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn event_counts_since(&self, org: &OrgId, since: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT outcome, COUNT(*) FROM webhook_events WHERE org_id = $1 AND received_at >= $2 \
             GROUP BY outcome ORDER BY outcome",
        )
        .bind(org.as_str())
        .bind(since)
        .fetch_all(&self.read)
        .await?)
    }

    async fn last_event_at(&self, org: &OrgId) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(received_at) FROM webhook_events WHERE org_id = $1")
                .bind(org.as_str())
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn health_facts(&self, org: &OrgId, now: i64) -> Result<HealthFacts> {
        use crate::health::{CardFact, Refusal, RefusalFact, TRAFFIC_BEFORE_QUIET, WINDOW_MS};
        // The 7 days before `now`: `now - WINDOW_MS` itself is outside, as in `health::alerts`.
        let since = now.saturating_sub(WINDOW_MS) + 1;
        let o = org.as_str();
        // Newest first along (org_id, received_at): each stops at its first row. Chargebee's
        // deliveries only: not "Send test event" (it skips Basic Auth and is always v2).
        const NOT_TEST: &str = "(event_type IS NULL OR event_type <> 'partner_ledger_test')";
        let last_delivery_at: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT received_at FROM webhook_events WHERE org_id = $1 AND {NOT_TEST} \
             ORDER BY received_at DESC LIMIT 1"
        ))
        .bind(o)
        .fetch_optional(&self.read)
        .await?;
        // Accepted: neither refused nor a copy of a refused one (a retried v1 event is a
        // duplicate), within the window the refusals are read from.
        let last_accepted_at: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT received_at FROM webhook_events WHERE org_id = $1 AND received_at >= $2 \
               AND outcome NOT IN ('rejected', 'duplicate') AND {NOT_TEST} \
             ORDER BY received_at DESC LIMIT 1"
        ))
        .bind(o)
        .bind(since)
        .fetch_optional(&self.read)
        .await?;
        let traffic_before_last =
            match last_delivery_at {
                Some(last) => sqlx::query_scalar(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS one FROM webhook_events \
                     WHERE org_id = $1 AND received_at > $2 AND received_at <= $3 LIMIT $4) x",
                )
                .bind(o)
                .bind(last.saturating_sub(WINDOW_MS))
                .bind(last)
                .bind(TRAFFIC_BEFORE_QUIET)
                .fetch_one(&self.read)
                .await?,
                None => 0,
            };
        // One index range per kind of refusal (webhook_events_refused), counted up to a cap.
        let mut refusals = vec![];
        for refusal in Refusal::ALL {
            let (last_at, count): (Option<i64>, i64) = sqlx::query_as(
                "SELECT MAX(received_at), CAST(COUNT(*) AS BIGINT) FROM (SELECT received_at \
                 FROM webhook_events WHERE org_id = $1 AND refusal = $2 AND received_at >= $3 \
                 AND refusal IS NOT NULL ORDER BY received_at DESC LIMIT $4) x",
            )
            .bind(o)
            .bind(refusal.as_str())
            .bind(since)
            .bind(HEALTH_COUNT_CAP)
            .fetch_one(&self.read)
            .await?;
            if let Some(last_at) = last_at {
                refusals.push(RefusalFact {
                    refusal,
                    last_at,
                    count_7d: count,
                });
            }
        }
        let card_last: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT received_at, event_type FROM webhook_events \
             WHERE org_id = $1 AND card_data = 1 AND received_at >= $2 \
             ORDER BY received_at DESC LIMIT 1",
        )
        .bind(o)
        .bind(since)
        .fetch_optional(&self.read)
        .await?;
        let card = match card_last {
            None => None,
            Some((last_at, event_type)) => {
                let count_7d: i64 = sqlx::query_scalar(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS one FROM webhook_events \
                     WHERE org_id = $1 AND card_data = 1 AND received_at >= $2 LIMIT $3) x",
                )
                .bind(o)
                .bind(since)
                .bind(HEALTH_COUNT_CAP)
                .fetch_one(&self.read)
                .await?;
                let clean: Option<i64> = sqlx::query_scalar(
                    "SELECT received_at FROM webhook_events WHERE org_id = $1 \
                     AND received_at >= $2 AND card_data = 0 AND event_type = $3 \
                     ORDER BY received_at LIMIT 1",
                )
                .bind(o)
                .bind(last_at)
                .bind(event_type.as_deref().unwrap_or(""))
                .fetch_optional(&self.read)
                .await?;
                Some(CardFact {
                    last_at,
                    event_type,
                    count_7d,
                    clean_since: clean.is_some(),
                })
            }
        };
        Ok(HealthFacts {
            last_delivery_at,
            last_accepted_at,
            traffic_before_last,
            refusals,
            card,
        })
    }

    async fn event_types(&self, org: &OrgId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT event_type FROM webhook_events WHERE org_id = $1 \
               AND event_type IS NOT NULL ORDER BY event_type",
        )
        .bind(org.as_str())
        .fetch_all(&self.read)
        .await?)
    }
    async fn prune_payloads(&self, now: i64, limit: i64) -> Result<u64> {
        // One organization at a time, with its cutoff: each pass reads only the index range of
        // payloads past that cutoff (webhook_events_prunable), so a pass with nothing to do
        // costs one probe per organization.
        let orgs: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, payload_retention_days FROM organizations ORDER BY id")
                .fetch_all(&self.read)
                .await?;
        let keep = "payload <> '' AND received_at < $2 AND outcome <> 'unmatched' \
             AND NOT (outcome = 'failed' AND next_attempt_at IS NOT NULL)";
        let sql = format!(
            "UPDATE webhook_events SET payload = '', payload_pruned_at = $3 \
             WHERE org_id = $1 AND {keep} AND id IN (SELECT id FROM webhook_events \
               WHERE org_id = $1 AND {keep} ORDER BY received_at LIMIT $4{})",
            DB::CLAIM
        );
        let mut left = limit;
        let mut done = 0;
        for (org, days) in orgs {
            if left <= 0 {
                break;
            }
            let cutoff = now.saturating_sub(days.saturating_mul(86_400_000));
            let r = sqlx::query(&sql)
                .bind(&org)
                .bind(cutoff)
                .bind(now)
                .bind(left)
                .execute(&self.write)
                .await?;
            let n = DB::rows_affected(&r);
            done += n;
            left -= i64::try_from(n).unwrap_or(i64::MAX);
        }
        Ok(done)
    }

    async fn expire_unmatched(&self, now: i64, limit: i64) -> Result<u64> {
        let orgs: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, attribution_window_days FROM organizations ORDER BY id")
                .fetch_all(&self.read)
                .await?;
        // Never one whose customer is there already (a release may still be on its way), one
        // with a release queued, or one that looks like an integration mistake (it stays in
        // Needs action): see `suspicious_unmatched`.
        let sql = format!(
            "UPDATE webhook_events SET {KEEP_FIRST}, outcome = 'not_attributed', \
               detail = 'still unmatched when the attribution window ended' \
             WHERE org_id = $1 AND outcome = 'unmatched' AND received_at < $2 AND id IN ( \
               SELECT e.id FROM webhook_events e \
               WHERE e.org_id = $1 AND e.outcome = 'unmatched' AND e.received_at < $2 \
                 AND e.customer_key IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.org_id = e.org_id \
                   AND c.key IN ({variants})) \
                 AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.org_id = e.org_id \
                   AND c.chargebee_id = e.chargebee_customer) \
                 AND NOT EXISTS (SELECT 1 FROM release_requests r WHERE r.org_id = e.org_id \
                   AND r.customer_key = e.customer_key) \
               ORDER BY e.received_at LIMIT $3{})",
            DB::CLAIM,
            variants = KEY_VARIANTS,
        );
        let mut left = limit;
        let mut done = 0;
        for (org, days) in orgs {
            if left <= 0 {
                break;
            }
            let cutoff = now.saturating_sub(days.saturating_mul(86_400_000));
            let r = sqlx::query(&sql)
                .bind(&org)
                .bind(cutoff)
                .bind(left)
                .execute(&self.write)
                .await?;
            let n = DB::rows_affected(&r);
            done += n;
            left -= i64::try_from(n).unwrap_or(i64::MAX);
        }
        Ok(done)
    }

    async fn suspicious_unmatched(&self, org: &OrgId, limit: i64) -> Result<Vec<EventSummary>> {
        // Of the latest 1,000 unmatched events: no key, or a key whose trimmed, lower- or
        // upper-case form is a customer's (each an index probe).
        Ok(sqlx::query_as(&format!(
            "SELECT e.id, e.event_id, e.event_type, e.occurred_at, e.received_at, e.outcome, \
               e.detail, e.customer_key, e.attempts, e.customer_id \
             FROM (SELECT * FROM webhook_events WHERE org_id = $1 AND outcome = 'unmatched' \
                   ORDER BY received_at DESC, id DESC LIMIT 1000) e \
             WHERE e.customer_key IS NULL OR EXISTS (SELECT 1 FROM customers c \
                 WHERE c.org_id = e.org_id AND c.key <> e.customer_key AND c.key IN ({KEY_VARIANTS})) \
             ORDER BY e.received_at DESC, e.id DESC LIMIT $2"
        ))
        .bind(org.as_str())
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    async fn unattributed_payments_since(&self, org: &OrgId, since: i64) -> Result<(i64, i64)> {
        let (done, waiting): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN outcome = 'not_attributed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN outcome = 'unmatched' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM webhook_events WHERE org_id = $1 AND event_type = 'payment_succeeded' \
               AND outcome IN ('not_attributed', 'unmatched') AND received_at >= $2",
        )
        .bind(org.as_str())
        .bind(since)
        .fetch_one(&self.read)
        .await?;
        Ok((done, waiting))
    }
}
