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
    if !RETENTION_DAYS.contains(&days) {
        return Err(AppError::field(
            "payload_retention_days",
            format!(
                "keep payloads between {} and {} days",
                RETENTION_DAYS.start(),
                RETENTION_DAYS.end()
            ),
        ));
    }
    let before = state.store.payload_retention_days(org).await?;
    state.store.set_payload_retention_days(org, days).await?;
    let changes = changed(
        "payload retention (days)",
        Some(before.to_string()),
        Some(days.to_string()),
    )
    .into_iter()
    .collect();
    audit::record(state, org, who, "settings.changed", None, changes).await?;
    get(state, org).await
}

/// Prunes the payloads past their organization's retention, in batches of `batch`, at most
/// `batches` of them (the rest waits for the next pass). Returns how many were pruned.
pub async fn prune_payloads(state: &AppState, batch: i64, batches: usize) -> Result<u64> {
    let now = state.now();
    let mut total = 0;
    for _ in 0..batches {
        let n = state.store.prune_payloads(now, batch).await?;
        total += n;
        if n < batch as u64 {
            break;
        }
    }
    Ok(total)
}

/// Sets how many days an unmatched event waits for its customer (1 to 365).
pub async fn set_attribution_window(
    state: &AppState,
    org: &OrgId,
    days: i64,
    who: &Actor,
) -> Result<OrgSettings> {
    if !WINDOW_DAYS.contains(&days) {
        return Err(AppError::field(
            "attribution_window_days",
            "give a number of days from 1 to 365",
        ));
    }
    let before = state.store.attribution_window_days(org).await?;
    state.store.set_attribution_window_days(org, days).await?;
    let changes = changed(
        "attribution window (days)",
        Some(before.to_string()),
        Some(days.to_string()),
    )
    .into_iter()
    .collect();
    audit::record(state, org, who, "settings.changed", None, changes).await?;
    get(state, org).await
}

/// Makes unmatched events past their organization's attribution window `not_attributed`, in
/// batches. Returns how many.
pub async fn expire_unmatched(state: &AppState, batch: i64, batches: usize) -> Result<u64> {
    let now = state.now();
    let mut total = 0;
    for _ in 0..batches {
        let n = state.store.expire_unmatched(now, batch).await?;
        total += n;
        if n < batch as u64 {
            break;
        }
    }
    Ok(total)
}
