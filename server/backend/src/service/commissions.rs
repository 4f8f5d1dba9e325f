//! Commission terms and the commission ledger, for the REST API and the dashboard.

use super::Result;
use crate::commission::TermsSpec;
use crate::domain::{identifier_problem, OrgId};
use crate::storage::{BalanceRow, CommissionEntryRow, EntryFilter, TermsVersionRow};
use crate::AppState;
use shared::error::AppError;
use shared::model::Page;

/// Terms as shown: the version in force now (if any), in plain language, and every version.
#[derive(Debug, Clone)]
pub struct TermsView {
    pub terms: Option<TermsSpec>,
    pub description: Option<String>,
    pub versions: Vec<TermsVersionRow>,
}

/// The statuses an entry can be filtered by.
pub const STATUSES: [&str; 3] = ["pending", "approved", "paid"];

fn partner_key(key: Option<&str>) -> Result<Option<&str>> {
    match key {
        Some(k) if identifier_problem(k).is_some() => Err(AppError::NotFound),
        other => Ok(other),
    }
}

/// The organization's default terms (`partner` `None`) or a partner's override. `NotFound`
/// for an unknown partner.
pub async fn terms(state: &AppState, org: &OrgId, partner: Option<&str>) -> Result<TermsView> {
    let partner = partner_key(partner)?;
    if let Some(key) = partner {
        if state.store.partner(org, key).await?.is_none() {
            return Err(AppError::NotFound);
        }
    }
    let versions = state.store.terms_versions(org, partner).await?;
    let now = state.now();
    let current = versions
        .iter()
        .filter(|v| v.effective_from <= now)
        .max_by_key(|v| (v.effective_from, v.created_at))
        .and_then(|v| v.terms.clone());
    let description = current
        .as_ref()
        .and_then(|t| t.to_terms().ok())
        .map(|t| t.describe());
    Ok(TermsView {
        terms: current,
        description,
        versions,
    })
}

/// Adds a version of the terms, in force for payments that occur from `effective_from` (now
/// when absent; a date in the past applies to payments that occurred since, whenever they
/// arrive). Payments already recorded keep their entries.
pub async fn set_terms(
    state: &AppState,
    org: &OrgId,
    partner: Option<&str>,
    spec: TermsSpec,
) -> Result<TermsView> {
    let partner = partner_key(partner)?;
    spec.to_terms()
        .map_err(|(field, message)| AppError::field(field, message))?;
    let now = state.now();
    let from = spec.effective_from.unwrap_or(now);
    if !(0..=253_402_300_799_000).contains(&from) {
        return Err(AppError::field(
            "effective_from",
            "must be a time in milliseconds since 1970",
        ));
    }
    state
        .store
        .add_terms_version(org, partner, Some(&spec), from, now)
        .await?;
    terms(state, org, partner).await
}

/// Ends a partner's override from now on: the organization's default applies again.
pub async fn remove_partner_terms(
    state: &AppState,
    org: &OrgId,
    partner: &str,
) -> Result<TermsView> {
    let view = terms(state, org, Some(partner)).await?;
    if view.versions.is_empty() {
        return Err(AppError::NotFound);
    }
    let now = state.now();
    state
        .store
        .add_terms_version(org, Some(partner), None, now, now)
        .await?;
    terms(state, org, Some(partner)).await
}

/// Commission entries, newest first, filtered by partner, customer and status.
pub async fn entries(
    state: &AppState,
    org: &OrgId,
    partner: Option<&str>,
    customer: Option<&str>,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<CommissionEntryRow>> {
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(AppError::field(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    // No stored key has a control character (and PostgreSQL refuses a NUL): nothing matches.
    if [partner, customer]
        .into_iter()
        .flatten()
        .any(|k| identifier_problem(k).is_some())
    {
        return Ok(Page {
            items: vec![],
            next_cursor: None,
        });
    }
    let filter = EntryFilter {
        partner_key: partner.map(str::to_string),
        customer_key: customer.map(str::to_string),
        status: status.map(str::to_string),
        now: state.now(),
    };
    let cursor = cursor.filter(|c| !c.chars().any(char::is_control));
    Ok(state
        .store
        .commission_entries(org, &filter, cursor, limit)
        .await?)
}

/// A partner's balance per currency. `NotFound` for an unknown partner.
pub async fn balance(state: &AppState, org: &OrgId, partner: &str) -> Result<Vec<BalanceRow>> {
    if identifier_problem(partner).is_some() {
        return Err(AppError::NotFound);
    }
    state
        .store
        .partner_balance(org, partner, state.now())
        .await?
        .ok_or(AppError::NotFound)
}
