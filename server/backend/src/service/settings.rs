//! The organization's settings: the reporting currency and how long webhook payloads are
//! kept.

use super::Result;
use crate::audit::{self, changed, Actor};
use crate::domain::OrgId;
use crate::AppState;
use shared::error::AppError;

/// The settings as shown and changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    pub reporting_currency: String,
    pub payload_retention_days: i64,
    pub attribution_window_days: i64,
}

/// The shortest and longest attribution window, in days.
pub const WINDOW_DAYS: std::ops::RangeInclusive<i64> = 1..=365;

/// The fewest and most days a payload may be kept.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 30..=3650;

pub async fn get(state: &AppState, org: &OrgId) -> Result<OrgSettings> {
    Ok(OrgSettings {
        reporting_currency: state.store.reporting_currency(org).await?,
        payload_retention_days: state.store.payload_retention_days(org).await?,
        attribution_window_days: state.store.attribution_window_days(org).await?,
    })
}

/// Sets how many days webhook payloads are kept (30 to 3650).
pub async fn set_retention(
    state: &AppState,
    org: &OrgId,
    days: i64,
    who: &Actor,
) -> Result<OrgSettings> {
    let store = &state.store;
    let before = store.payload_retention_days(org).await?;
    check_days("payload_retention_days", days, RETENTION_DAYS)?;
    store.set_payload_retention_days(org, days).await?;
    changed_days(state, org, who, "payload retention (days)", before, days).await
}

/// Checks every setting of a change before any is made (a change is all or nothing).
pub fn check_change(
    reporting_currency: Option<&str>,
    payload_retention_days: Option<i64>,
    attribution_window_days: Option<i64>,
) -> Result<()> {
    let mut errors = vec![];
    let mut keep = |r: Result<()>| {
        if let Err(AppError::Validation(mut fields)) = r {
            errors.append(&mut fields);
        }
    };
    if let Some(code) = reporting_currency {
        keep(super::commissions::currency_code("reporting_currency", code).map(|_| ()));
    }
    if let Some(days) = payload_retention_days {
        keep(check_days("payload_retention_days", days, RETENTION_DAYS));
    }
    if let Some(days) = attribution_window_days {
        keep(check_days("attribution_window_days", days, WINDOW_DAYS));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Refuses a number of days outside `range`, naming the field.
fn check_days(field: &str, days: i64, range: std::ops::RangeInclusive<i64>) -> Result<()> {
    if range.contains(&days) {
        return Ok(());
    }
    Err(AppError::field(
        field,
        format!(
            "give a number of days from {} to {}",
            range.start(),
            range.end()
        ),
    ))
}

/// Records a change of a setting in days, and answers the settings.
async fn changed_days(
    state: &AppState,
    org: &OrgId,
    who: &Actor,
    what: &str,
    before: i64,
    after: i64,
) -> Result<OrgSettings> {
    let changes = changed(what, Some(before.to_string()), Some(after.to_string()))
        .into_iter()
        .collect();
    audit::record(state, org, who, "settings.changed", None, changes).await?;
    get(state, org).await
}

/// Runs `pass` (one batch of upkeep) until a batch comes back short, at most `batches`
/// times (the rest waits for the next tick). Returns how many rows it changed.
async fn in_batches<F, Fut>(batch: i64, batches: usize, mut pass: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<u64, crate::storage::StorageError>>,
{
    let mut total = 0;
    for _ in 0..batches {
        let n = pass().await?;
        total += n;
        if n < batch.unsigned_abs() {
            break;
        }
    }
    Ok(total)
}

/// Prunes the payloads past their organization's retention, in batches of `batch`, at most
/// `batches` of them (the rest waits for the next pass). Returns how many were pruned.
pub async fn prune_payloads(state: &AppState, batch: i64, batches: usize) -> Result<u64> {
    let now = state.now();
    in_batches(batch, batches, || state.store.prune_payloads(now, batch)).await
}

/// Sets how many days an unmatched event waits for its customer (1 to 365).
pub async fn set_attribution_window(
    state: &AppState,
    org: &OrgId,
    days: i64,
    who: &Actor,
) -> Result<OrgSettings> {
    let store = &state.store;
    let before = store.attribution_window_days(org).await?;
    check_days("attribution_window_days", days, WINDOW_DAYS)?;
    store.set_attribution_window_days(org, days).await?;
    changed_days(state, org, who, "attribution window (days)", before, days).await
}

/// Makes unmatched events past their organization's attribution window `not_attributed`, in
/// batches. Returns how many.
pub async fn expire_unmatched(state: &AppState, batch: i64, batches: usize) -> Result<u64> {
    let now = state.now();
    in_batches(batch, batches, || state.store.expire_unmatched(now, batch)).await
}
