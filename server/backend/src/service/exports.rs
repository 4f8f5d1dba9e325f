//! CSV exports of commission entries and transactions, streamed a page at a time: any size,
//! in bounded memory. Amounts are in the currency's major unit (`12.34`); dates in UTC.

use super::commissions::{entries_at, major_units};
use super::Result;
use crate::domain::{identifier_problem, OrgId};
use crate::storage::TransactionFilter;
use crate::AppState;
use futures::stream::{self, Stream, StreamExt};
use shared::error::AppError;

/// `ms` as an RFC 3339 time in UTC, to the second: `2026-12-01T14:34:55Z`.
pub fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Rows read per page.
const PAGE: i64 = 500;

/// A cell a spreadsheet cannot read as a formula (prefixed with `'` where it could).
pub fn safe_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn csv_bytes(rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.write_record(r).map_err(|e| {
            tracing::error!(error = %e, "writing CSV");
            AppError::Internal
        })?;
    }
    w.into_inner().map_err(|_| AppError::Internal)
}

fn key_filter(key: Option<String>) -> Option<String> {
    key.filter(|k| !k.is_empty())
}

/// Where a paged export stands: the next page's cursor, or done.
enum Next<C> {
    Header,
    After(Option<C>),
    Done,
}

/// Commission entries (filtered as on the page), newest first: a header, then a chunk per page.
pub fn commissions_csv(
    state: AppState,
    org: OrgId,
    partner: Option<String>,
    customer: Option<String>,
    status: Option<String>,
) -> impl Stream<Item = Result<Vec<u8>>> + Send {
    let (partner, customer, status) = (
        key_filter(partner),
        key_filter(customer),
        key_filter(status),
    );
    // Every page's statuses as of when the export started.
    let now = state.now();
    stream::unfold(Next::<String>::Header, move |next| {
        let (state, org) = (state.clone(), org.clone());
        let (partner, customer, status) = (partner.clone(), customer.clone(), status.clone());
        async move {
            let cursor = match next {
                Next::Done => return None,
                Next::Header => {
                    let header = [
                        "id",
                        "occurred_at",
                        "partner_key",
                        "customer_key",
                        "transaction_id",
                        "kind",
                        "currency",
                        "amount",
                        "status",
                        "payable_at",
                        "payout_id",
                        "webhook_event_id",
                    ];
                    let row = vec![header.iter().map(|h| h.to_string()).collect()];
                    return Some((csv_bytes(&row), Next::After(None)));
                }
                Next::After(c) => c,
            };
            let page = match entries_at(
                &state,
                &org,
                (partner.as_deref(), customer.as_deref(), status.as_deref()),
                cursor.as_deref(),
                PAGE.min(200),
                now,
            )
            .await
            {
                Ok(p) => p,
                Err(e) => return Some((Err(e), Next::Done)),
            };
            let rows: Vec<Vec<String>> = page
                .items
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        format_time(e.occurred_at),
                        safe_cell(&e.partner_key),
                        safe_cell(&e.customer_key),
                        safe_cell(&e.transaction_id),
                        e.kind.clone(),
                        e.currency.clone(),
                        major_units(i128::from(e.amount), &e.currency),
                        e.status.clone(),
                        format_time(e.payable_at),
                        e.payout_id.clone().unwrap_or_default(),
                        e.webhook_event_id.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let next = match page.next_cursor {
                Some(c) => Next::After(Some(c)),
                None => Next::Done,
            };
            Some((csv_bytes(&rows), next))
        }
    })
    .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
}

/// Recorded transactions of one customer and/or one partner's customers, in the order they
/// were first stored (an immutable order: a page boundary never skips or repeats a row).
pub fn transactions_csv(
    state: AppState,
    org: OrgId,
    customer: Option<String>,
    partner: Option<String>,
) -> impl Stream<Item = Result<Vec<u8>>> + Send {
    let filter = TransactionFilter {
        customer_key: key_filter(customer),
        partner_key: key_filter(partner),
    };
    // A key no stored row can have matches nothing (PostgreSQL refuses a NUL outright).
    let impossible = [&filter.customer_key, &filter.partner_key]
        .into_iter()
        .flatten()
        .any(|k| identifier_problem(k).is_some());
    stream::unfold(Next::<(i64, String)>::Header, move |next| {
        let (state, org, filter) = (state.clone(), org.clone(), filter.clone());
        async move {
            let after = match next {
                Next::Done => return None,
                Next::Header => {
                    let header = [
                        "transaction_id",
                        "occurred_at",
                        "customer_key",
                        "partner_key",
                        "currency",
                        "amount",
                        "refunded",
                        "net",
                        "status",
                        "commission",
                        "exchange_rate",
                        "base_currency_code",
                        "subscription_id",
                        "invoice_id",
                    ];
                    let row = vec![header.iter().map(|h| h.to_string()).collect()];
                    let next = if impossible {
                        Next::Done
                    } else {
                        Next::After(None)
                    };
                    return Some((csv_bytes(&row), next));
                }
                Next::After(a) => a,
            };
            let rows = match state
                .store
                .transactions_after(&org, &filter, after, PAGE)
                .await
            {
                Ok(r) => r,
                Err(e) => return Some((Err(e.into()), Next::Done)),
            };
            let next = match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => {
                    Next::After(Some((last.created_at, last.id.clone())))
                }
                _ => Next::Done,
            };
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|t| {
                    let status = match t.removed_reason.as_deref() {
                        Some(r) => r.to_string(),
                        None if t.amount_refunded > 0 => "partially refunded".into(),
                        None => "recorded".into(),
                    };
                    let net = i128::from(t.amount) - i128::from(t.amount_refunded);
                    vec![
                        safe_cell(&t.chargebee_id),
                        format_time(t.occurred_at),
                        safe_cell(&t.customer_key),
                        safe_cell(t.partner_key.as_deref().unwrap_or("")),
                        t.currency.clone(),
                        major_units(i128::from(t.amount), &t.currency),
                        major_units(i128::from(t.amount_refunded), &t.currency),
                        major_units(net, &t.currency),
                        status,
                        t.commission
                            .map(|c| major_units(i128::from(c), &t.currency))
                            .unwrap_or_default(),
                        t.exchange_rate.clone().unwrap_or_default(),
                        t.base_currency_code.clone().unwrap_or_default(),
                        safe_cell(t.subscription_id.as_deref().unwrap_or("")),
                        safe_cell(t.invoice_id.as_deref().unwrap_or("")),
                    ]
                })
                .collect();
            Some((csv_bytes(&cells), next))
        }
    })
    .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
}
