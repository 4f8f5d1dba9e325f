//! Commission terms and the commission ledger, for the REST API and the dashboard.

use super::exports::safe_cell;
use super::Result;
use crate::audit::{self, changed, set, Actor};
use crate::commission::TermsSpec;
use crate::currency;
use crate::domain::{identifier_problem, OrgId};
use crate::storage::RatedBalance;
use crate::storage::{EntryFilter, TermsVersionRow};
use crate::AppState;
use shared::error::AppError;
use shared::model::Page;
use shared::model::{
    Balance, CommissionEntry, CommissionTerms, ConvertedBalance, PartnerBalance, PayoutRun,
    TermsPreview, TermsVersion,
};

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
    let versions = state
        .store
        .terms_versions(org, partner)
        .await?
        .ok_or(AppError::NotFound)?;
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

/// Terms as the dashboard shows them: in plain language, as form fields, every version
/// (newest first) with whether it is in force.
pub async fn terms_page(
    state: &AppState,
    org: &OrgId,
    partner: Option<&str>,
) -> Result<CommissionTerms> {
    let view = terms(state, org, partner).await?;
    Ok(terms_shown(&view, state.now()))
}

fn terms_shown(view: &TermsView, now: i64) -> CommissionTerms {
    let current = view
        .versions
        .iter()
        .enumerate()
        .filter(|(_, v)| v.effective_from <= now)
        .max_by_key(|(_, v)| (v.effective_from, v.created_at))
        .map(|(i, _)| i);
    let mut versions: Vec<TermsVersion> = view
        .versions
        .iter()
        .enumerate()
        .map(|(i, v)| TermsVersion {
            effective_from: v.effective_from,
            created_at: v.created_at,
            description: v
                .terms
                .as_ref()
                .and_then(|t| t.to_terms().ok())
                .map(|t| t.describe()),
            state: if Some(i) == current {
                "in force"
            } else if v.effective_from > now {
                "scheduled"
            } else {
                "superseded"
            }
            .into(),
        })
        .collect();
    versions.reverse();
    CommissionTerms {
        description: view.description.clone(),
        form: view.terms.as_ref().map(super::terms_form::form_values),
        versions,
    }
}

/// Adds a version of the terms, in force for payments that occur from `effective_from` (now
/// when absent; a date in the past applies to payments that occurred since, whenever they
/// arrive). Payments already recorded keep their entries.
pub async fn set_terms(
    state: &AppState,
    org: &OrgId,
    partner: Option<&str>,
    spec: TermsSpec,
    who: &Actor,
) -> Result<TermsView> {
    let partner = partner_key(partner)?;
    let before = terms(state, org, partner).await?.description;
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
    let described = spec.to_terms().ok().map(|t| t.describe());
    let changes = vec![
        shared::model::AuditChange {
            field: "terms".into(),
            before,
            after: described,
        },
        set("for payments from", shared::model::format_date(from)),
    ];
    let target = partner.unwrap_or("default");
    audit::record(
        state,
        org,
        who,
        "commission_terms.changed",
        Some(target),
        changes,
    )
    .await?;
    terms(state, org, partner).await
}

/// The most payments a preview reads (a longer period is refused with a clear message).
pub const PREVIEW_LIMIT: usize = 50_000;

/// What `spec` would have paid for the payments that occurred in `[from, to)`, next to what
/// they earned; of one partner (its override) or of every partner (the default, which does not
/// reach payments under a partner's own terms). Writes nothing.
pub async fn preview(
    state: &AppState,
    org: &OrgId,
    partner: Option<&str>,
    spec: &TermsSpec,
    from: i64,
    to: i64,
) -> Result<TermsPreview> {
    let partner = partner_key(partner)?;
    let terms = spec
        .to_terms()
        .map_err(|(field, message)| AppError::field(field, message))?;
    if !(0..=253_402_300_799_000).contains(&from) {
        return Err(AppError::field(
            "from",
            "must be a time in milliseconds since 1970",
        ));
    }
    if to <= from || to > 253_402_300_799_000 {
        return Err(AppError::field("to", "must be after from"));
    }
    let facts = state
        .store
        .preview_facts(
            org,
            partner,
            from,
            to,
            PREVIEW_LIMIT,
            terms.span != crate::commission::Span::Lifetime,
        )
        .await?
        .ok_or(AppError::NotFound)?;
    let totals = crate::commission::preview(&facts.payments, &terms, partner.is_none());
    Ok(TermsPreview {
        from,
        to,
        description: terms.describe(),
        payments: totals.payments,
        left_out: totals.left_out,
        lines: totals.lines,
    })
}

/// Ends a partner's override from now on: the organization's default applies again.
pub async fn remove_partner_terms(
    state: &AppState,
    org: &OrgId,
    partner: &str,
    who: &Actor,
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
    let changes = changed(
        "terms",
        view.description.clone(),
        Some("the organization's default".into()),
    )
    .into_iter()
    .collect();
    audit::record(
        state,
        org,
        who,
        "commission_terms.override_removed",
        Some(partner),
        changes,
    )
    .await?;
    terms(state, org, Some(partner)).await
}

/// Commission entries, newest first, filtered by partner, customer and status (as of now).
pub async fn entries(
    state: &AppState,
    org: &OrgId,
    partner: Option<&str>,
    customer: Option<&str>,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<CommissionEntry>> {
    let now = state.now();
    entries_at(state, org, (partner, customer, status), cursor, limit, now).await
}

/// [`entries`] with statuses as of `now` (an export reads every page as of one moment).
pub async fn entries_at(
    state: &AppState,
    org: &OrgId,
    (partner, customer, status): (Option<&str>, Option<&str>, Option<&str>),
    cursor: Option<&str>,
    limit: i64,
    now: i64,
) -> Result<Page<CommissionEntry>> {
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
        now,
    };
    let cursor = cursor.filter(|c| !c.chars().any(char::is_control));
    Ok(state
        .store
        .commission_entries(org, &filter, cursor, limit)
        .await?)
}

/// A partner's balance per currency, and converted into the organization's reporting
/// currency where every figure can be. `NotFound` for an unknown partner.
pub async fn balance(state: &AppState, org: &OrgId, partner: &str) -> Result<PartnerBalance> {
    if identifier_problem(partner).is_some() {
        return Err(AppError::NotFound);
    }
    let rated = state
        .store
        .partner_balance(org, partner, state.now())
        .await?
        .ok_or(AppError::NotFound)?;
    let reporting = state.store.reporting_currency(org).await?;
    Ok(balance_view(&rated, &reporting))
}

/// Per currency (summing across rates), and each column converted (see
/// [`currency::converted_total`]).
fn balance_view(rated: &[RatedBalance], reporting: &str) -> PartnerBalance {
    let mut lines: Vec<Balance> = vec![];
    for r in rated {
        match lines.iter_mut().find(|l| l.currency == r.balance.currency) {
            Some(l) => {
                l.pending += r.balance.pending;
                l.approved += r.balance.approved;
                l.paid += r.balance.paid;
                l.clawed_back += r.balance.clawed_back;
            }
            None => lines.push(r.balance.clone()),
        }
    }
    let column = |pick: fn(&Balance) -> i128| {
        let sums: Vec<currency::RatedSum> = rated
            .iter()
            .map(|r| currency::RatedSum {
                currency: r.balance.currency.clone(),
                amount: pick(&r.balance),
                rate: r.rate.clone(),
                base: r.base.clone(),
            })
            .collect();
        currency::converted_total(&sums, reporting)
    };
    // Only worth showing when there is something to convert.
    let converted = if lines.iter().any(|l| l.currency != reporting) {
        match (
            column(|b| b.pending),
            column(|b| b.approved),
            column(|b| b.paid),
            column(|b| b.clawed_back),
        ) {
            (Some(p), Some(a), Some(d), Some(c)) => Some(ConvertedBalance {
                currency: reporting.to_string(),
                pending: p.amount,
                approved: a.amount,
                paid: d.amount,
                clawed_back: c.amount,
                how: p.how,
            }),
            _ => None,
        }
    } else {
        None
    };
    PartnerBalance { lines, converted }
}

/// The currency reports convert into.
pub async fn reporting_currency(state: &AppState, org: &OrgId) -> Result<String> {
    Ok(state.store.reporting_currency(org).await?)
}

/// A three-letter ISO 4217 code, upper-cased; the error names `field`.
pub fn currency_code(field: &str, code: &str) -> Result<String> {
    let code = code.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(AppError::field(
            field,
            "must be a three-letter ISO 4217 currency code, e.g. USD",
        ));
    }
    Ok(code)
}

/// Sets the reporting currency: a three-letter ISO 4217 code.
pub async fn set_reporting_currency(
    state: &AppState,
    org: &OrgId,
    code: &str,
    who: &Actor,
) -> Result<String> {
    let code = currency_code("currency", code)?;
    let before = state.store.reporting_currency(org).await?;
    state.store.set_reporting_currency(org, &code).await?;
    let changes = changed("reporting currency", Some(before), Some(code.clone()))
        .into_iter()
        .collect();
    audit::record(state, org, who, "settings.changed", None, changes).await?;
    Ok(code)
}

/// Creates a payout run of every approved entry payable up to `up_to` (ms).
pub async fn create_payout(
    state: &AppState,
    org: &OrgId,
    up_to: i64,
    who: &Actor,
) -> Result<PayoutRun> {
    if !(0..=253_402_300_799_000).contains(&up_to) {
        return Err(AppError::field(
            "up_to",
            "must be a time in milliseconds since 1970",
        ));
    }
    let run = state.store.create_payout(org, up_to, state.now()).await?;
    let totals = run
        .totals
        .iter()
        .map(|t| shared::model::format_money(t.amount, &t.currency))
        .collect::<Vec<_>>()
        .join(", ");
    let changes = vec![
        set("up to", shared::model::format_time(up_to)),
        set("pays", totals),
        set("statements", run.statements.len()),
    ];
    audit::record(state, org, who, "payout.created", Some(&run.id), changes).await?;
    Ok(run)
}

pub async fn payout(state: &AppState, org: &OrgId, id: &str) -> Result<PayoutRun> {
    state.store.payout(org, id).await?.ok_or(AppError::NotFound)
}

pub async fn payouts(state: &AppState, org: &OrgId) -> Result<Vec<PayoutRun>> {
    Ok(state.store.payouts(org).await?)
}

/// Marks a draft run paid, with the reference of the transfer (1 to 200 characters).
pub async fn mark_paid(
    state: &AppState,
    org: &OrgId,
    id: &str,
    reference: &str,
    who: &Actor,
) -> Result<PayoutRun> {
    let reference = reference.trim();
    if reference.is_empty()
        || reference.chars().count() > 200
        || reference.chars().any(char::is_control)
    {
        return Err(AppError::field(
            "reference",
            "give the payment's reference (1 to 200 characters, no control characters)",
        ));
    }
    let run = state
        .store
        .mark_payout_paid(org, id, reference, state.now())
        .await?;
    let changes = vec![
        changed("status", Some("draft".into()), Some("paid".into())),
        Some(set("reference", reference)),
    ]
    .into_iter()
    .flatten()
    .collect();
    audit::record(state, org, who, "payout.paid", Some(id), changes).await?;
    Ok(run)
}

/// Cancels a draft run; its entries go back to the next run.
pub async fn cancel_payout(
    state: &AppState,
    org: &OrgId,
    id: &str,
    who: &Actor,
) -> Result<PayoutRun> {
    let run = state.store.cancel_payout(org, id, state.now()).await?;
    let changes = changed("status", Some("draft".into()), Some("cancelled".into()))
        .into_iter()
        .collect();
    audit::record(state, org, who, "payout.cancelled", Some(id), changes).await?;
    Ok(run)
}

/// A run as CSV: one row per statement (partner key, name, email, currency, amount in the
/// currency's major unit, entry count, run id). Cells that a spreadsheet would read as a
/// formula are prefixed with `'`.
pub async fn payout_csv(state: &AppState, org: &OrgId, id: &str) -> Result<String> {
    payout_csv_of(state, org, id, None).await
}

/// A run's CSV with only `partner`'s statements (the partner portal); `NotFound` when it has
/// none, exactly like a run that does not exist.
pub async fn partner_payout_csv(
    state: &AppState,
    org: &OrgId,
    id: &str,
    partner_key: &str,
) -> Result<String> {
    payout_csv_of(state, org, id, Some(partner_key)).await
}

async fn payout_csv_of(
    state: &AppState,
    org: &OrgId,
    id: &str,
    only: Option<&str>,
) -> Result<String> {
    let mut run = payout(state, org, id).await?;
    if let Some(key) = only {
        run.statements.retain(|s| s.partner_key == key);
        if run.statements.is_empty() || run.status == "cancelled" {
            return Err(AppError::NotFound);
        }
    }
    let mut w = csv::Writer::from_writer(vec![]);
    let fail = |e: csv::Error| {
        tracing::error!(error = %e, "writing a payout CSV");
        AppError::Internal
    };
    w.write_record([
        "partner_key",
        "partner_name",
        "partner_email",
        "currency",
        "amount",
        "entries",
        "payout_id",
    ])
    .map_err(fail)?;
    for s in &run.statements {
        w.write_record([
            safe_cell(&s.partner_key),
            safe_cell(s.partner_name.as_deref().unwrap_or("")),
            safe_cell(s.partner_email.as_deref().unwrap_or("")),
            s.currency.clone(),
            major_units(i128::from(s.amount), &s.currency),
            s.entries.to_string(),
            run.id.clone(),
        ])
        .map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| fail(e.into_error().into()))?;
    String::from_utf8(bytes).map_err(|_| AppError::Internal)
}

/// Minor units as a decimal in the currency's major unit: `12345, "USD"` → `123.45`.
pub fn major_units(minor: i128, currency: &str) -> String {
    let decimals = shared::model::currency_decimals(currency);
    if decimals == 0 {
        return minor.to_string();
    }
    let scale = 10i128.pow(decimals);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}
