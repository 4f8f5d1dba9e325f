//! The loop: applies a [`WaveOp`] (new deliveries, a replay, a release of parked events) in
//! waves over a [`WaveDb`], written once for both backends. Each wave loads its events'
//! states, plans them (pure), writes the planned rows, and releases the parked events the
//! plans free, until nothing more is released or the [`Budget`] is spent.

use super::*;
use crate::chargebee::{self, classify, parse_envelope};
use std::borrow::Cow;
use std::collections::HashSet;

/// How many parked events one transaction may still release. A release that would go past it
/// takes what fits; the rest is left to the background (`release_requests`), so that one
/// customer who frees 100,000 parked events cannot hold the writer for minutes.
pub struct Budget {
    left: usize,
    /// Releases that found more parked events than fitted, to finish in the background.
    later: Vec<ReleaseLater>,
    /// For a background share ([`WaveOp::Release`] with `after`): the last parked event it
    /// looked at, and whether more may follow.
    cursor: Option<(String, bool)>,
    /// The payments (org, Chargebee transaction id) whose ledger rows this transaction changed:
    /// their commissions are settled before it commits.
    payments: std::collections::BTreeSet<(String, String)>,
}

impl Budget {
    pub fn new(releases: usize) -> Self {
        Self {
            left: releases,
            later: vec![],
            cursor: None,
            payments: Default::default(),
        }
    }
    /// Whether some parked events were left for the background.
    pub fn releases_left(&self) -> bool {
        !self.later.is_empty()
    }
    /// The payments whose ledger rows this transaction changed: (org, transaction id).
    pub fn payments(&self) -> &std::collections::BTreeSet<(String, String)> {
        &self.payments
    }
    /// After a background share: where the next share starts, when there is one.
    pub fn next_share(&self) -> Option<&str> {
        match &self.cursor {
            Some((last, true)) => Some(last.as_str()),
            _ => None,
        }
    }
}

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
    /// Store a delivery that is not applied (rejected, ignored, or failed with a retry at
    /// `retry_at`), written as the loop writes applied ones; a re-delivery of a known event
    /// id is logged as a duplicate.
    Record {
        org: &'a OrgId,
        event: &'a NewEvent,
        outcome: Outcome,
        detail: Option<&'a str>,
        retry_at: Option<i64>,
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

impl WaveOp<'_> {
    /// The time of the work: its events' arrival, or the time given with it.
    fn now(&self) -> i64 {
        match self {
            WaveOp::Deliveries(items) => items.iter().map(|i| i.now).max().unwrap_or_default(),
            WaveOp::Record { event, .. } => event.received_at,
            WaveOp::Replay { now, .. } | WaveOp::Release { now, .. } => *now,
        }
    }
}

pub(crate) async fn perform<D: WaveDb>(
    db: &mut D,
    op: WaveOp<'_>,
    budget: &mut Budget,
) -> Result<Vec<EventOutcome>> {
    // The time only orders the requests.
    let now = op.now();
    let out = perform_op(db, op, budget).await?;
    for later in &budget.later {
        let args = [
            text(&later.org),
            text(&later.customer_key),
            text(later.chargebee_id.as_deref().unwrap_or("")),
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
                outcome: Outcome::Rejected,
                detail: Some(why),
                id: id.to_string(),
                released: 0,
            }]),
        },
        WaveOp::Record {
            org,
            event,
            outcome,
            detail,
            retry_at,
        } => Ok(vec![
            record(db, org, event, outcome, detail, retry_at).await?,
        ]),
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
                None => release(db, &[ask], &mut HashSet::new(), budget).await?,
                Some(after) => release_after(db, &ask, after, budget).await?,
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
) -> Result<Vec<Parked>> {
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
        found.extend(db.parked(&sql, &args[start..end]).await?);
        start = end;
    }
    Ok(found)
}

/// Reads back the parked events that `releases` find, oldest first, each once (`known` holds
/// the stored events already pending), as events of the release that found them, within the
/// `budget`. Events whose payload no longer parses are marked rejected instead.
async fn release<'a, D: WaveDb>(
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
            let later = ReleaseLater {
                org: r.org.to_string(),
                customer_key: r.customer_key.clone(),
                chargebee_id: r.chargebee_id.clone(),
            };
            if !budget.later.contains(&later) {
                budget.later.push(later);
            }
        }
    }
    let mut items = vec![];
    for Parked { release, id } in found {
        if budget.left == 0 {
            break;
        }
        if !known.insert(id.clone()) {
            continue;
        }
        budget.left -= 1;
        let r = &releases[release];
        if let Ok(item) = load_stored(db, r.org, &id, r.now, r.origin).await? {
            items.push(item);
        }
    }
    Ok(items)
}

/// A background share: up to the budget of the parked events of `release` after row id
/// `after`, read back as its events; the budget's cursor says where the next share starts.
async fn release_after<'a, D: WaveDb>(
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
    for Parked { id, .. } in found.into_iter().take(budget.left) {
        budget.left -= 1;
        if let Ok(item) = load_stored(db, release.org, &id, release.now, release.origin).await? {
            items.push(item);
        }
        last = Some(id);
    }
    budget.cursor = last.map(|l| (l, more));
    Ok(items)
}

/// Stores a delivery that is not applied ([`WaveOp::Record`]).
async fn record<D: WaveDb>(
    db: &mut D,
    org: &OrgId,
    event: &NewEvent,
    outcome: Outcome,
    detail: Option<&str>,
    retry_at: Option<i64>,
) -> Result<EventOutcome> {
    let original = match &event.event_id {
        Some(id) => {
            // The same lock a delivery of this event id takes: a concurrent copy is either
            // stored already (and found here) or waits for this one.
            db.lock(&[event_lock_key(org, id)]).await?;
            db.original(org, id).await?
        }
        None => None,
    };
    let mut writes = Writes::default();
    let out = match original {
        Some(original) => EventOutcome {
            detail: Some(writes.duplicate(org, event, &original.id, &original.outcome)),
            outcome: Outcome::Duplicate,
            id: original.id,
            released: 0,
        },
        None => {
            writes.unapplied(org, event, outcome, detail, retry_at);
            EventOutcome {
                outcome,
                detail: detail.map(str::to_string),
                id: event.id.clone(),
                released: 0,
            }
        }
    };
    for (stmt, args) in writes.in_order() {
        if !args.is_empty() {
            exec_rows(db, stmt, args).await?;
        }
    }
    Ok(out)
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
    let Stored { payload, outcome } = db
        .stored(org, row_id)
        .await?
        .ok_or(StorageError::NotFound)?;
    if outcome.parse::<Outcome>().map_err(StorageError::Other)? == Outcome::Duplicate {
        return Err(StorageError::Conflict(
            "a duplicate delivery cannot be replayed; replay the original event".into(),
        ));
    }
    if payload.is_empty() {
        return Err(StorageError::Conflict(
            "this delivery has no payload to replay: it was refused before it was read, or its payload was pruned after the organization's retention period".into(),
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
            let attempt = crate::domain::random_id("att");
            let args = [
                text(&attempt),
                text(org.as_str()),
                text(row_id),
                Arg::Int(Some(now)),
                text("rejected"),
                text(&why),
            ];
            db.execute(ATTEMPT_SQL, &args).await?;
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
    // Per delivery given: its outcome once applied, and how many parked events it released.
    let mut given_out: Vec<Given> = items.iter().map(|_| Given::default()).collect();
    let mut keys: Vec<Vec<String>> = items.iter().map(Item::keys).collect();
    let mut known: HashSet<String> = items
        .iter()
        .filter_map(|it| match &it.row {
            Row::Stored(id) => Some(id.clone()),
            Row::New(_) => None,
        })
        .collect();
    // Releases already run, per delivery that caused them (as if each delivery were alone).
    let mut asked: HashSet<Asked> = HashSet::new();
    let mut pending: Vec<usize> = (0..given).collect();
    while !pending.is_empty() {
        let (wave, rest) = next_wave(&pending, &keys);
        let loaded = load_states(db, &items, &wave).await?;
        let mut writes = Writes::default();
        let mut deferred = vec![];
        let mut releases: Vec<Release<'a>> = vec![];
        for (&i, Loaded { state, original }) in wave.iter().zip(loaded) {
            if !deferred.is_empty() {
                deferred.push(i);
                continue;
            }
            let (org, now, origin): (&'a OrgId, i64, usize) =
                (items[i].org, items[i].now, items[i].origin);
            if let (Row::New(e), Some(original)) = (&items[i].row, original) {
                let e = *e;
                let detail = writes.duplicate(org, e, &original.id, &original.outcome);
                given_out[i].outcome = Some(EventOutcome {
                    outcome: Outcome::Duplicate,
                    detail: Some(detail),
                    id: original.id,
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
            for txn in payments_changed(&plan.changes) {
                budget.payments.insert((org.to_string(), txn.to_string()));
            }
            let (outcome, detail) = outcome_parts(&plan.outcome);
            let txn_owner = state
                .transaction
                .as_ref()
                .and_then(|t| t.customer_id.as_deref());
            let event_row = items[i].row.id().to_string();
            let applied = writes
                .add_changes(org, plan.changes, now, txn_owner, &event_row)
                .map_err(StorageError::Other)?;
            if let Row::Stored(id) = &items[i].row {
                // Applied: a later release may find it again only if it is still parked.
                known.remove(id);
            }
            let customer_id = applied.customer_id.or_else(|| state_customer(&state));
            writes.record(
                org,
                &items[i].row,
                billing,
                outcome,
                detail.clone(),
                customer_id,
                now,
            );
            releases.extend(applied.releases.into_iter().map(|p| Release {
                org,
                customer_key: p.customer_key,
                chargebee_id: p.chargebee_id,
                origin,
                now,
            }));
            if i < given {
                given_out[i].outcome = Some(EventOutcome {
                    outcome,
                    detail,
                    id: event_row,
                    released: 0,
                });
            } else if outcome == Outcome::Processed {
                given_out[origin].released += 1;
            }
        }
        for (stmt, args) in writes.in_order() {
            if !args.is_empty() {
                exec_rows(db, stmt, args).await?;
            }
        }
        drop(writes);
        releases.retain(|r| {
            asked.insert(Asked {
                origin: r.origin,
                org: r.org.to_string(),
                customer_key: r.customer_key.clone(),
                chargebee_id: r.chargebee_id.clone(),
            })
        });
        let mut released_now = vec![];
        for item in release(db, &releases, &mut known, budget).await? {
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
    given_out
        .into_iter()
        .map(|g| {
            g.outcome
                .map(|o| EventOutcome {
                    released: g.released,
                    ..o
                })
                .ok_or_else(|| StorageError::Other("an event was not applied".into()))
        })
        .collect()
}

/// What became of one delivery given to [`run_items`].
#[derive(Default)]
pub(crate) struct Given {
    outcome: Option<EventOutcome>,
    /// Parked events its releases applied (also those released by them in turn).
    released: usize,
}

/// A release already run for a delivery (each delivery releases as if it were alone).
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct Asked {
    origin: usize,
    org: String,
    customer_key: String,
    chargebee_id: Option<String>,
}

/// The payments a plan's changes touch: recorded, refunded, adjusted or failed.
fn payments_changed(changes: &[crate::chargebee::Change]) -> impl Iterator<Item = &str> {
    use crate::chargebee::Change;
    changes.iter().filter_map(|c| match c {
        Change::RecordTransaction { txn, .. } => Some(txn.id.as_str()),
        Change::RecordRefund {
            original_txn_id, ..
        } => Some(original_txn_id.as_str()),
        Change::AdjustTransaction { txn_id, .. } | Change::MarkFailed { txn_id } => {
            Some(txn_id.as_str())
        }
        _ => None,
    })
}
