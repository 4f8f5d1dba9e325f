//! The audit log: who changed what, when, from which address, with the before and after of
//! the fields that changed. Services record a row after each change they make; the caller
//! says who is acting ([`Actor`]). Secrets (passwords, keys, webhook tokens) never go in: a
//! change to one is recorded as the fact that it changed.

use crate::domain::{random_id, OrgId};
use crate::storage::StorageError;
use crate::AppState;
use shared::model::{AuditChange, AuditEntry};

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `user`, `api_key` or `system`.
    pub kind: &'static str,
    pub id: Option<String>,
    /// The user's email, or the API key's name and prefix.
    pub label: String,
    /// The client's address, as far as it is known.
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(id: &str, email: &str, ip: &str) -> Self {
        Self {
            kind: "user",
            id: Some(id.to_string()),
            label: email.to_string(),
            ip: Some(ip.to_string()),
        }
    }

    pub fn api_key(id: &str, label: &str, ip: Option<String>) -> Self {
        Self {
            kind: "api_key",
            id: Some(id.to_string()),
            label: label.to_string(),
            ip,
        }
    }

    /// Work the system does by itself (or a tool such as a test or a benchmark).
    pub fn system(label: &str) -> Self {
        Self {
            kind: "system",
            id: None,
            label: label.to_string(),
            ip: None,
        }
    }
}

/// A field's value before and after, when they differ.
pub fn changed(field: &str, before: Option<String>, after: Option<String>) -> Option<AuditChange> {
    (before != after).then(|| AuditChange {
        field: field.to_string(),
        before,
        after,
    })
}

/// A field that is set (on a creation) or that is cleared (on a deletion).
pub fn set(field: &str, value: impl ToString) -> AuditChange {
    AuditChange {
        field: field.to_string(),
        before: None,
        after: Some(value.to_string()),
    }
}

/// Records an action. A failure to record is logged and answered as unavailable: a change
/// nobody can account for is not acceptable, but the change itself has already happened,
/// so the caller still reports its own outcome where it can.
pub async fn record(
    state: &AppState,
    org: &OrgId,
    who: &Actor,
    action: &str,
    target: Option<&str>,
    changes: Vec<AuditChange>,
) -> Result<(), StorageError> {
    let entry = AuditEntry {
        id: random_id("aud"),
        at: state.now(),
        actor_kind: who.kind.to_string(),
        actor_id: who.id.clone(),
        actor_label: who.label.clone(),
        ip: who.ip.clone(),
        action: action.to_string(),
        target: target.map(str::to_string),
        changes,
    };
    state
        .store
        .append_audit(org, &entry)
        .await
        .inspect_err(|e| {
            tracing::error!(error = %e, action, "could not record an audit row");
        })
}

/// The audit log, newest first: by action (prefix, e.g. `payout.`), actor (email or key
/// label) and time (`[since, until)`, ms). `limit` is 1 to 200.
pub async fn list(
    state: &AppState,
    org: &OrgId,
    filter: crate::storage::AuditFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<shared::model::Page<AuditEntry>, shared::error::AppError> {
    use shared::error::AppError;
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let clean = |v: Option<String>| {
        v.map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control))
    };
    let filter = crate::storage::AuditFilter {
        action: clean(filter.action),
        actor: clean(filter.actor),
        since: filter.since,
        until: filter.until,
    };
    let cursor = cursor.filter(|c| !c.chars().any(char::is_control));
    Ok(state.store.audit_log(org, &filter, cursor, limit).await?)
}
