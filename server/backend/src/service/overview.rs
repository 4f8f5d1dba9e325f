//! The overview page: revenue, the top partners and what needs attention, in one answer.

use super::{Result, DAY_MS};
use crate::domain::OrgId;
use crate::storage::EventFilter;
use crate::AppState;
use shared::model::{EventSummary, Outcome, Partner, RevenuePoint};

/// The overview of an organization.
pub struct Overview {
    /// Start of the revenue chart: midnight (UTC) 89 days before today's.
    pub since: i64,
    pub revenue: Vec<RevenuePoint>,
    /// The window's revenue in the reporting currency, when every payment's rate converts.
    pub converted: Option<shared::model::ConvertedTotal>,
    pub top_partners: Vec<Partner>,
    pub needs_action: Vec<EventSummary>,
    pub unmatched: i64,
    pub failed: i64,
    /// Deliveries refused (bad payloads and the like), whenever received.
    pub rejected: i64,
    /// Payments this month (UTC) from customers without a partner: not attributed, and still
    /// waiting for their customer within the attribution window.
    pub not_attributed_this_month: i64,
    pub waiting_this_month: i64,
    pub attribution_window_days: i64,
    /// The Chargebee integration's health (as on its page).
    pub health: shared::model::IntegrationHealth,
}

/// The overview: daily revenue for the last 90 days (today included); the 5 partners with the
/// most customers (then by key), ranked by customers because revenue in different currencies
/// cannot be compared; the 5 latest failed events followed by the 5 latest unmatched ones
/// (by time received); and how many events are unmatched and failed, whenever received.
pub async fn overview(state: &AppState, org: &OrgId) -> Result<Overview> {
    let now = state.now();
    let since = (now / DAY_MS - 89) * DAY_MS;
    // Ranked by customers: revenue in different currencies cannot be compared.
    let mut partners = state.store.partners(org).await?;
    partners.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.key.cmp(&b.key)));
    partners.truncate(5);
    let counts = state.store.event_counts_since(org, 0).await?;
    let count = |o: &str| {
        counts
            .iter()
            .find(|(k, _)| k == o)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    // What needs someone: failures, refused deliveries, and unmatched events that look like
    // an integration mistake. A customer without a partner is normal: counted, not listed.
    let mut needs_action = vec![];
    for outcome in [Outcome::Failed, Outcome::Rejected] {
        let f = EventFilter {
            outcome: Some(outcome),
            ..Default::default()
        };
        needs_action.extend(state.store.events(org, &f, None, 5).await?.items);
    }
    needs_action.extend(state.store.suspicious_unmatched(org, 5).await?);
    let (y, m, _) = shared::model::civil_from_days(now.div_euclid(DAY_MS));
    let month_start = shared::model::days_from_civil(y, m) * DAY_MS;
    let (not_attributed, waiting) = state
        .store
        .unattributed_payments_since(org, month_start)
        .await?;
    let rated = state.store.revenue_by_rate(org, since).await?;
    let reporting = state.store.reporting_currency(org).await?;
    // Worth showing only when something is in another currency.
    let converted = if rated.iter().any(|r| r.currency != reporting) {
        crate::currency::converted_total(&rated, &reporting)
    } else {
        None
    };
    Ok(Overview {
        since,
        revenue: state.store.revenue_by_day(org, since).await?,
        converted,
        top_partners: partners,
        needs_action,
        unmatched: count("unmatched"),
        failed: count("failed"),
        rejected: count("rejected"),
        not_attributed_this_month: not_attributed,
        waiting_this_month: waiting,
        attribution_window_days: state.store.attribution_window_days(org).await?,
        health: crate::service::integration_health(state, org).await?,
    })
}
