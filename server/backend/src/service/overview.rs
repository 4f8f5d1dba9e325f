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
    let mut needs_action = vec![];
    for outcome in [Outcome::Failed, Outcome::Unmatched] {
        let f = EventFilter {
            outcome: Some(outcome),
            ..Default::default()
        };
        needs_action.extend(state.store.events(org, &f, None, 5).await?.items);
    }
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
    })
}
