//! Runs waves (see `waves.rs`) against a database, written once for both backends over the
//! small [`WaveDb`] interface. PostgreSQL implements it over the wire (sqlx); SQLite on the
//! write connection's own handle, synchronously (`wave_db.rs`), so a batch costs no
//! thread hand-off per statement.

use super::waves::{
    chunks, lock_keys, next_wave, outcome_parts, padded, read_rows, state_customer, text,
    written_rows, Arg, Item, Loaded, Release, Row, StateRow, Stmt, Writes, PARKED, STATE,
    STATE_PADDING,
};
use super::{EventOutcome, OrgId, Result, StorageError};
use crate::chargebee::{self, classify, parse_envelope};
use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;

/// What applying events needs from a connection inside a transaction. SQL placeholders
/// (`$1`, `$2`, …) always appear in order, so SQLite can bind them by position.
pub(super) trait WaveDb: Send {
    /// Runs the state query (`sql`, a rendering of [`STATE`]).
    fn states(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<StateRow>>> + Send;
    /// Runs a write; returns the number of rows written.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> impl Future<Output = Result<u64>> + Send;
    /// Runs the parked-events query (`sql`, a rendering of [`PARKED`]): (request, event id).
    fn parked(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<(i64, String)>>> + Send;
    /// A stored event's payload and outcome.
    fn stored(
        &mut self,
        org: &OrgId,
        id: &str,
    ) -> impl Future<Output = Result<Option<(String, String)>>> + Send;
    /// Takes the advisory locks for `keys` (sorted) until the transaction ends (PostgreSQL;
    /// SQLite has one writer).
    fn lock(&mut self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
}

/// Marks a stored event whose payload no longer parses as rejected. (Placeholders appear in
/// order: SQLite binds them by position.)
const REJECT_SQL: &str = "UPDATE webhook_events SET outcome = 'rejected', detail = $1, \
   next_attempt_at = NULL, attempts = attempts + 1 WHERE org_id = $2 AND id = $3";

/// Asks that parked events still waiting after a transaction's share be released later, in
/// the background (placeholders in order: SQLite binds them by position).
const RELEASE_LATER_SQL: &str =
    "INSERT INTO release_requests (org_id, customer_key, chargebee_id, \
   created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, customer_key, chargebee_id) DO NOTHING";

/// How many parked events one transaction may still release. A release that would go past it
/// takes what fits; the rest is left to the background (`release_requests`), so that one
/// customer who frees 100,000 parked events cannot hold the writer for minutes.
pub struct Budget {
    left: usize,
    /// Releases that found more parked events than fitted: (org, customer key, Chargebee id).
    more: Vec<(String, String, Option<String>)>,
    /// For a background share ([`WaveOp::Release`] with `after`): the last parked event it
    /// looked at, and whether more may follow.
    cursor: Option<(String, bool)>,
}

impl Budget {
    pub fn new(releases: usize) -> Self {
        Self {
            left: releases,
            more: vec![],
            cursor: None,
        }
    }
    /// Whether some parked events were left for the background.
    pub fn left_work(&self) -> bool {
        !self.more.is_empty()
    }
    /// After a background share: where the next share starts, when there is one.
    pub fn next_share(&self) -> Option<&str> {
        match &self.cursor {
            Some((last, true)) => Some(last.as_str()),
            _ => None,
        }
    }
}

/// A background share of a release: the customer's parked events after a cursor, in our row
/// id order (a fixed order, so every share moves on even when events stay unmatched; the
/// ledger's rules do not depend on the order of payments, refunds and failures).
/// Placeholders in order ($3 twice is one parameter).
const PARKED_AFTER_SQL: &str = "SELECT CAST(0 AS BIGINT) AS i, w.id AS id FROM webhook_events w \
   WHERE w.org_id = $1 AND w.outcome = 'unmatched' \
     AND (w.customer_key = $2 OR ($3 <> '' AND w.chargebee_customer = $3)) \
     AND w.id > $4 ORDER BY w.id";

/// Work for one transaction.
pub enum WaveOp<'a> {
    /// New deliveries (their locks are taken first, in one sorted order).
    Deliveries(Vec<Item<'a>>),
    /// Replay a stored event.
    Replay {
        org: &'a OrgId,
        id: &'a str,
        now: i64,
    },
    /// Apply the events parked for a customer key (and Chargebee customer, if known): the
    /// oldest first, or, with `after` (a background share), those after that row id.
    Release {
        org: &'a OrgId,
        customer_key: &'a str,
        chargebee_id: Option<&'a str>,
        after: Option<&'a str>,
        now: i64,
    },
}

/// Runs a [`WaveOp`] inside the connection's open transaction.
pub trait RunWaves {
    fn run_waves<'a>(
        &'a mut self,
        op: WaveOp<'a>,
        budget: &'a mut Budget,
    ) -> impl Future<Output = Result<Vec<EventOutcome>>> + Send + 'a;
}

pub(super) async fn perform<D: WaveDb>(
    db: &mut D,
    op: WaveOp<'_>,
    budget: &mut Budget,
) -> Result<Vec<EventOutcome>> {
    let out = perform_op(db, op, budget).await?;
    // The time only orders the requests.
    let now = crate::now_ms();
    for (org, key, cb) in &budget.more {
        let args = [
            text(org),
            text(key),
            text(cb.as_deref().unwrap_or("")),
            Arg::Int(Some(now)),
        ];
        db.execute(RELEASE_LATER_SQL, &args).await?;
    }
    Ok(out)
}

async fn perform_op<D: WaveDb>(
    db: &mut D,
    op: WaveOp<'_>,
    budget: &mut Budget,
) -> Result<Vec<EventOutcome>> {
    match op {
        WaveOp::Deliveries(items) => {
            let mut keys: Vec<String> = items.iter().flat_map(Item::keys).collect();
            keys.sort();
            keys.dedup();
            db.lock(&keys).await?;
            run_items(db, items, budget).await
        }
        WaveOp::Replay { org, id, now } => match load_stored(db, org, id, now, 0).await? {
            Ok(item) => run_items(db, vec![item], budget).await,
            Err(why) => Ok(vec![EventOutcome {
                outcome: "rejected".into(),
                detail: Some(why),
                id: id.to_string(),
                released: 0,
            }]),
        },
        WaveOp::Release {
            org,
            customer_key,
            chargebee_id,
            after,
            now,
        } => {
            let ask = Release {
                org,
                customer_key: customer_key.to_string(),
                chargebee_id: chargebee_id.map(str::to_string),
                origin: 0,
                now,
            };
            let mut items = match after {
                None => freed(db, &[ask], &mut HashSet::new(), budget).await?,
                Some(after) => freed_after(db, &ask, after, budget).await?,
            };
            // Each released event counts as a delivery of its own here.
            for (i, item) in items.iter_mut().enumerate() {
                item.origin = i;
            }
            if items.is_empty() {
                return Ok(vec![]);
            }
            run_items(db, items, budget).await
        }
    }
}

/// Runs a multi-row statement over `args` (whole rows), in chunks. Returns the rows written.
async fn exec_rows<D: WaveDb>(db: &mut D, stmt: &Stmt, args: &[Arg<'_>]) -> Result<u64> {
    let width = stmt.width();
    let rows = args.len() / width;
    let (mut start, mut affected) = (0, 0);
    for size in chunks(rows) {
        let end = start + size * width;
        affected += db.execute(&stmt.render(size), &args[start..end]).await?;
        start = end;
    }
    match stmt.all_rows {
        Some(why) if affected < rows as u64 => Err(StorageError::Other(why.into())),
        _ => Ok(affected),
    }
}

/// Loads the state of every event in `wave` (one statement for up to 64 events).
async fn load_states<D: WaveDb>(
    db: &mut D,
    items: &[Item<'_>],
    wave: &[usize],
) -> Result<Vec<Loaded>> {
    let mut args: Vec<Arg<'_>> = wave
        .iter()
        .enumerate()
        .flat_map(|(pos, &i)| items[i].state_args(pos))
        .collect();
    // Padded up to a size whose statement text is prepared already.
    let rows = padded(wave.len());
    args.extend((wave.len()..rows).flat_map(|_| STATE_PADDING.iter().cloned()));
    let width = STATE.width();
    let mut loaded: Vec<Option<Loaded>> = wave.iter().map(|_| None).collect();
    let mut start = 0;
    for size in chunks(rows) {
        let end = start + size * width;
        for state in db.states(&STATE.render(size), &args[start..end]).await? {
            if let Some(slot) = usize::try_from(state.position())
                .ok()
                .and_then(|p| loaded.get_mut(p))
            {
                *slot = Some(state.into_loaded());
            }
        }
        start = end;
    }
    loaded
        .into_iter()
        .map(|l| l.ok_or_else(|| StorageError::Other("no state loaded for an event".into())))
        .collect()
}

/// Ids of the events parked for `releases`, oldest first, each with the position of the
/// release that found it; at most `limit` per chunk of releases.
async fn parked<D: WaveDb>(
    db: &mut D,
    releases: &[Release<'_>],
    limit: usize,
) -> Result<Vec<(usize, String)>> {
    let args: Vec<Arg<'_>> = releases
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.args(i))
        .collect();
    let width = PARKED.width();
    let mut found = vec![];
    let mut start = 0;
    for size in chunks(releases.len()) {
        let end = start + size * width;
        let sql = format!("{} LIMIT {limit}", PARKED.render(size));
        for (i, id) in db.parked(&sql, &args[start..end]).await? {
            found.push((usize::try_from(i).unwrap_or(0), id));
        }
        start = end;
    }
    Ok(found)
}

/// Reads back the parked events that `releases` find, oldest first, each once (`known` holds
/// the stored events already pending), as events of the release that found them, within the
/// `budget`. Events whose payload no longer parses are marked rejected instead.
async fn freed<'a, D: WaveDb>(
    db: &mut D,
    releases: &[Release<'a>],
    known: &mut HashSet<String>,
    budget: &mut Budget,
) -> Result<Vec<Item<'a>>> {
    if releases.is_empty() {
        return Ok(vec![]);
    }
    // One more than fits tells whether anything is left over; with nothing left to spend,
    // all of it is (if anything is parked at all: the background finds out).
    let found = if budget.left == 0 {
        vec![]
    } else {
        parked(db, releases, budget.left + 1).await?
    };
    if budget.left == 0 || found.len() > budget.left {
        for r in releases {
            let ask = (
                r.org.to_string(),
                r.customer_key.clone(),
                r.chargebee_id.clone(),
            );
            if !budget.more.contains(&ask) {
                budget.more.push(ask);
            }
        }
    }
    let mut items = vec![];
    for (r, id) in found {
        if budget.left == 0 {
            break;
        }
        if !known.insert(id.clone()) {
            continue;
        }
        budget.left -= 1;
        let r = &releases[r];
        if let Ok(item) = load_stored(db, r.org, &id, r.now, r.origin).await? {
            items.push(item);
        }
    }
    Ok(items)
}

/// A background share: up to the budget of the parked events of `release` after row id
/// `after`, read back as its events; the budget's cursor says where the next share starts.
async fn freed_after<'a, D: WaveDb>(
    db: &mut D,
    release: &Release<'a>,
    after: &str,
    budget: &mut Budget,
) -> Result<Vec<Item<'a>>> {
    let args = [
        text(release.org.as_str()),
        text(&release.customer_key),
        text(release.chargebee_id.as_deref().unwrap_or("")),
        text(after),
    ];
    let sql = format!("{PARKED_AFTER_SQL} LIMIT {}", budget.left + 1);
    let found = db.parked(&sql, &args).await?;
    let more = found.len() > budget.left;
    let mut items = vec![];
    let mut last = None;
    for (_, id) in found.into_iter().take(budget.left) {
        budget.left -= 1;
        if let Ok(item) = load_stored(db, release.org, &id, release.now, release.origin).await? {
            items.push(item);
        }
        last = Some(id);
    }
    budget.cursor = last.map(|l| (l, more));
    Ok(items)
}

/// Reads a stored event back for replay. A payload that no longer parses is marked rejected
/// (`Err` with the reason); otherwise the event's locks are taken.
async fn load_stored<'a, D: WaveDb>(
    db: &mut D,
    org: &'a OrgId,
    row_id: &str,
    now: i64,
    origin: usize,
) -> Result<std::result::Result<Item<'a>, String>> {
    let (payload, outcome) = db
        .stored(org, row_id)
        .await?
        .ok_or(StorageError::NotFound)?;
    if outcome == "duplicate" {
        return Err(StorageError::Conflict(
            "a duplicate delivery cannot be replayed; replay the original event".into(),
        ));
    }
    if payload.is_empty() {
        return Err(StorageError::Conflict(
            "nothing was stored for this delivery (it was refused before reading it), so it cannot be replayed".into(),
        ));
    }
    let parsed = parse_envelope(payload.as_bytes())
        .map_err(|(r, _)| r.to_string())
        .and_then(|env| classify(&env).map_err(|e| e.to_string()));
    match parsed {
        Ok(billing) => {
            db.lock(&lock_keys(org, &billing)).await?;
            Ok(Ok(Item {
                org,
                row: Row::Stored(row_id.to_string()),
                billing: Cow::Owned(billing),
                now,
                origin,
            }))
        }
        Err(why) => {
            let args = [text(&why), text(org.as_str()), text(row_id)];
            db.execute(REJECT_SQL, &args).await?;
            Ok(Err(why))
        }
    }
}

/// Applies events in waves, then the parked events they release, until nothing more is
/// released. Returns an outcome per item given.
async fn run_items<'a, D: WaveDb>(
    db: &mut D,
    mut items: Vec<Item<'a>>,
    budget: &mut Budget,
) -> Result<Vec<EventOutcome>> {
    let given = items.len();
    let mut out: Vec<Option<EventOutcome>> = items.iter().map(|_| None).collect();
    let mut released = vec![0usize; given];
    let mut keys: Vec<Vec<String>> = items.iter().map(Item::keys).collect();
    let mut known: HashSet<String> = items
        .iter()
        .filter_map(|it| match &it.row {
            Row::Stored(id) => Some(id.clone()),
            Row::New(_) => None,
        })
        .collect();
    // Releases already run, per delivery that caused them (as if each delivery were alone).
    let mut asked: HashSet<(usize, String, String, Option<String>)> = HashSet::new();
    let mut pending: Vec<usize> = (0..given).collect();
    while !pending.is_empty() {
        let (wave, rest) = next_wave(&pending, &keys);
        let loaded = load_states(db, &items, &wave).await?;
        let mut writes = Writes::default();
        let mut deferred = vec![];
        let mut releases: Vec<Release<'a>> = vec![];
        for (&i, (state, original)) in wave.iter().zip(loaded) {
            if !deferred.is_empty() {
                deferred.push(i);
                continue;
            }
            let (org, now, origin): (&'a OrgId, i64, usize) =
                (items[i].org, items[i].now, items[i].origin);
            if let (Row::New(e), Some((original_id, original_outcome))) = (&items[i].row, original)
            {
                let e = *e;
                let detail = writes.duplicate(org, e, &original_id, &original_outcome);
                out[i] = Some(EventOutcome {
                    outcome: "duplicate".into(),
                    detail: Some(detail),
                    id: original_id,
                    released: 0,
                });
                continue;
            }
            let billing = items[i].billing.as_ref();
            // The planner is pure; a panic in it is a bug that must not lose the event.
            let plan = std::panic::catch_unwind(|| chargebee::plan(billing, &state))
                .map_err(|_| StorageError::Other("the ledger planner panicked".into()))?;
            // Writes a row an earlier event of this wave writes, or read one: it and every
            // event after it wait for the next wave.
            if !writes.claim(&read_rows(&state), written_rows(org, &plan.changes)) {
                deferred.push(i);
                continue;
            }
            let (outcome, detail) = outcome_parts(&plan.outcome);
            let txn_owner = state
                .transaction
                .as_ref()
                .and_then(|t| t.customer_id.as_deref());
            let event_row = items[i].row.id().to_string();
            let (customer_id, asks) = writes
                .add_changes(org, plan.changes, now, txn_owner, &event_row)
                .map_err(StorageError::Other)?;
            if let Row::Stored(id) = &items[i].row {
                // Applied: a later release may find it again only if it is still parked.
                known.remove(id);
            }
            let customer_id = customer_id.or_else(|| state_customer(&state));
            writes.record(
                org,
                &items[i].row,
                billing,
                outcome,
                detail.clone(),
                customer_id,
            );
            releases.extend(
                asks.into_iter()
                    .map(|(customer_key, chargebee_id)| Release {
                        org,
                        customer_key,
                        chargebee_id,
                        origin,
                        now,
                    }),
            );
            if i < given {
                out[i] = Some(EventOutcome {
                    outcome: outcome.to_string(),
                    detail,
                    id: event_row,
                    released: 0,
                });
            } else if outcome == "processed" {
                released[origin] += 1;
            }
        }
        for (stmt, args) in writes.in_order() {
            if !args.is_empty() {
                exec_rows(db, stmt, args).await?;
            }
        }
        drop(writes);
        releases.retain(|r| {
            asked.insert((
                r.origin,
                r.org.to_string(),
                r.customer_key.clone(),
                r.chargebee_id.clone(),
            ))
        });
        let mut released_now = vec![];
        for item in freed(db, &releases, &mut known, budget).await? {
            keys.push(item.keys());
            items.push(item);
            released_now.push(items.len() - 1);
        }
        pending = deferred
            .into_iter()
            .chain(released_now)
            .chain(rest)
            .collect();
    }
    out.into_iter()
        .zip(released)
        .map(|(o, n)| {
            o.map(|o| EventOutcome { released: n, ..o })
                .ok_or_else(|| StorageError::Other("an event was not applied".into()))
        })
        .collect()
}
