//! Integration health: from a few facts about an organization's recent deliveries to the
//! alerts its admins see. Pure (facts and a time in, alerts out) and unit-tested; the facts
//! come from `Events::health_facts`, bounded to the last 7 days.
//!
//! Every alert lasts only while its cause does:
//! - **quiet**: no delivery for 24 hours after a period of traffic (at least
//!   [`TRAFFIC_BEFORE_QUIET`] deliveries in the 7 days up to the last one). The next
//!   delivery clears it. "Send test event" is not a delivery from Chargebee.
//! - **basic_auth**, **api_version**: a delivery refused for wrong Basic Auth or for being a
//!   v1 webhook, with no delivery accepted since (a copy of a refused event is not one). While either is wrong, every delivery is
//!   refused, so the first accepted one proves the fix and clears it.
//! - **not_json**, **too_large**: such a refusal in the last 24 hours. These concern single
//!   deliveries among good ones, so an accepted delivery proves nothing; they clear 24 hours
//!   after the last one.
//! - **card_data**: a delivery carried card data (removed before storage) in the last 7 days,
//!   and no later delivery of the same event type came without it. Ticking "Exclude card
//!   information" in Chargebee makes the next delivery of that type clean, which clears it.

use shared::model::HealthAlert;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// How far back health looks.
pub const WINDOW_MS: i64 = 7 * DAY_MS;
/// How long without deliveries counts as quiet.
pub const QUIET_MS: i64 = DAY_MS;
/// Deliveries in the 7 days before the last one that make silence worth an alert.
pub const TRAFFIC_BEFORE_QUIET: i64 = 5;

/// Why a delivery was refused, as stored with its rejected event (`webhook_events.refusal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Basic Auth credentials missing or wrong.
    BasicAuth,
    /// Longer than the body limit.
    TooLarge,
    /// The body did not arrive in time.
    TimedOut,
    /// The body could not be read.
    Unreadable,
    /// Not JSON.
    NotJson,
    /// A v1 (or other unsupported) webhook.
    ApiVersion,
    /// JSON, but not a Chargebee event (not an object, a field missing or unacceptable).
    Malformed,
    /// A Chargebee event whose values we refuse (amount, currency, id).
    Invalid,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Refusal::BasicAuth,
        Refusal::TooLarge,
        Refusal::TimedOut,
        Refusal::Unreadable,
        Refusal::NotJson,
        Refusal::ApiVersion,
        Refusal::Malformed,
        Refusal::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BasicAuth => "basic_auth",
            Refusal::TooLarge => "too_large",
            Refusal::TimedOut => "timed_out",
            Refusal::Unreadable => "unreadable",
            Refusal::NotJson => "not_json",
            Refusal::ApiVersion => "api_version",
            Refusal::Malformed => "malformed",
            Refusal::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Refusals of one kind over the last 7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalFact {
    pub refusal: Refusal,
    pub last_at: i64,
    pub count_7d: i64,
}

/// The latest delivery that carried card data, and whether a delivery of its type came
/// without since (received at the same millisecond or later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFact {
    pub last_at: i64,
    pub event_type: Option<String>,
    pub count_7d: i64,
    pub clean_since: bool,
}

/// What the alerts are decided from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthFacts {
    /// The latest delivery, refused or not.
    pub last_delivery_at: Option<i64>,
    /// The latest delivery that was not refused.
    pub last_accepted_at: Option<i64>,
    /// Deliveries in the 7 days up to the latest one, itself included (counted up to
    /// [`TRAFFIC_BEFORE_QUIET`]).
    pub traffic_before_last: i64,
    /// Refusals in the last 7 days, one per kind seen.
    pub refusals: Vec<RefusalFact>,
    pub card: Option<CardFact>,
}

/// "3 hours", "2 days": how long `ms` is, rounded down, for alert titles.
fn span(ms: i64) -> String {
    let hours = ms / HOUR_MS;
    if hours < 48 {
        format!("{hours} hours")
    } else {
        format!("{} days", hours / 24)
    }
}

/// The alerts `facts` call for at `now`, in a fixed order.
pub fn alerts(facts: &HealthFacts, now: i64) -> Vec<HealthAlert> {
    let mut out = vec![];
    if let Some(last) = facts.last_delivery_at {
        if now.saturating_sub(last) >= QUIET_MS && facts.traffic_before_last >= TRAFFIC_BEFORE_QUIET
        {
            out.push(HealthAlert {
                kind: "quiet".into(),
                title: format!(
                    "No deliveries from Chargebee for {}.",
                    span(now.saturating_sub(last))
                ),
                advice: "Check in Chargebee (Settings › Configure Chargebee › Webhooks) that the \
                         webhook is enabled, that its URL is the one on the Chargebee page here, \
                         and whether its recent calls failed."
                    .into(),
                last_seen_at: last,
                count_7d: 0,
            });
        }
    }
    let since_accepted = |at: i64| facts.last_accepted_at.is_none_or(|a| a < at);
    for r in &facts.refusals {
        let recent = now.saturating_sub(r.last_at) < DAY_MS;
        let (active, title, advice) = match r.refusal {
            Refusal::BasicAuth => (
                since_accepted(r.last_at),
                "Deliveries are refused: their Basic Auth username or password is wrong or missing.",
                "Enter the same username and password in Chargebee's webhook settings as under \
                 Basic Auth on the Chargebee page here, or turn Basic Auth off there.",
            ),
            Refusal::ApiVersion => (
                since_accepted(r.last_at),
                "Deliveries are refused: the webhook in Chargebee uses API version v1.",
                "Edit the webhook in Chargebee and choose API version v2.",
            ),
            Refusal::NotJson => (
                recent,
                "Deliveries were refused because their body is not JSON.",
                "Check that this URL is only used by Chargebee's webhook, and that nothing \
                 between Chargebee and this service rewrites the requests.",
            ),
            Refusal::TooLarge => (
                recent,
                "Deliveries were refused because they are larger than the size limit.",
                "Tick \u{201c}Exclude card information\u{201d} and leave out unneeded fields in \
                 Chargebee; if events are large by nature, ask your operator to raise the limit.",
            ),
            _ => (false, "", ""),
        };
        if active {
            out.push(HealthAlert {
                kind: r.refusal.as_str().into(),
                title: title.into(),
                advice: advice.into(),
                last_seen_at: r.last_at,
                count_7d: r.count_7d,
            });
        }
    }
    if let Some(card) = &facts.card {
        if !card.clean_since && now.saturating_sub(card.last_at) < WINDOW_MS {
            let which = card
                .event_type
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            out.push(HealthAlert {
                kind: "card_data".into(),
                title: format!("Chargebee sent card data{which}. It was removed and never stored."),
                advice: "In Chargebee's webhook settings, tick \u{201c}Exclude card information \
                         from webhook call\u{201d} so card data is not sent at all."
                    .into(),
                last_seen_at: card.last_at,
                count_7d: card.count_7d,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn kinds(f: &HealthFacts) -> Vec<String> {
        alerts(f, NOW).into_iter().map(|a| a.kind).collect()
    }

    fn busy(last: i64) -> HealthFacts {
        HealthFacts {
            last_delivery_at: Some(last),
            last_accepted_at: Some(last),
            traffic_before_last: TRAFFIC_BEFORE_QUIET,
            ..Default::default()
        }
    }

    #[test]
    fn a_new_organization_has_no_alerts() {
        assert!(kinds(&HealthFacts::default()).is_empty());
    }

    #[test]
    fn silence_after_traffic_is_an_alert_from_24_hours_on() {
        assert!(kinds(&busy(NOW - QUIET_MS + 1)).is_empty());
        let quiet = alerts(&busy(NOW - QUIET_MS), NOW);
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0].kind, "quiet");
        assert_eq!(quiet[0].title, "No deliveries from Chargebee for 24 hours.");
        assert_eq!(
            alerts(&busy(NOW - 3 * DAY_MS - HOUR_MS), NOW)[0].title,
            "No deliveries from Chargebee for 3 days."
        );
    }

    #[test]
    fn silence_without_earlier_traffic_is_not_an_alert() {
        let mut f = busy(NOW - 10 * DAY_MS);
        f.traffic_before_last = TRAFFIC_BEFORE_QUIET - 1;
        assert!(kinds(&f).is_empty());
    }

    fn refused(refusal: Refusal, at: i64) -> RefusalFact {
        RefusalFact {
            refusal,
            last_at: at,
            count_7d: 2,
        }
    }

    #[test]
    fn wrong_basic_auth_or_v1_lasts_until_a_delivery_is_accepted() {
        for r in [Refusal::BasicAuth, Refusal::ApiVersion] {
            let mut f = busy(NOW - 2 * HOUR_MS);
            f.refusals = vec![refused(r, NOW - HOUR_MS)];
            f.last_delivery_at = Some(NOW - HOUR_MS);
            let a = alerts(&f, NOW);
            assert_eq!(kinds(&f), [r.as_str()]);
            assert_eq!((a[0].count_7d, a[0].last_seen_at), (2, NOW - HOUR_MS));
            // Days later, still refused: still an alert.
            f.refusals = vec![refused(r, NOW - 5 * DAY_MS)];
            f.last_accepted_at = Some(NOW - 6 * DAY_MS);
            assert_eq!(kinds(&f), [r.as_str()]);
            // An accepted delivery after it clears it.
            f.last_accepted_at = Some(NOW - 4 * DAY_MS);
            assert!(kinds(&f).is_empty(), "{r:?}");
        }
        let never = HealthFacts {
            refusals: vec![refused(Refusal::BasicAuth, NOW - HOUR_MS)],
            ..Default::default()
        };
        assert_eq!(kinds(&never), ["basic_auth"]);
    }

    #[test]
    fn bodies_not_json_or_too_large_are_an_alert_for_24_hours() {
        for r in [Refusal::NotJson, Refusal::TooLarge] {
            let mut f = busy(NOW - HOUR_MS);
            f.refusals = vec![refused(r, NOW - 2 * HOUR_MS)];
            assert_eq!(
                kinds(&f),
                [r.as_str()],
                "accepted deliveries since do not clear it"
            );
            f.refusals = vec![refused(r, NOW - DAY_MS)];
            assert!(kinds(&f).is_empty());
        }
    }

    #[test]
    fn other_refusals_are_counted_but_not_alerts() {
        let mut f = busy(NOW - HOUR_MS);
        f.refusals = [
            Refusal::TimedOut,
            Refusal::Unreadable,
            Refusal::Malformed,
            Refusal::Invalid,
        ]
        .map(|r| refused(r, NOW - 2 * HOUR_MS))
        .to_vec();
        assert!(kinds(&f).is_empty());
    }

    #[test]
    fn card_data_is_an_alert_until_its_event_type_arrives_without_it() {
        let mut f = busy(NOW - HOUR_MS);
        f.card = Some(CardFact {
            last_at: NOW - HOUR_MS,
            event_type: Some("payment_succeeded".into()),
            count_7d: 3,
            clean_since: false,
        });
        let a = alerts(&f, NOW);
        assert_eq!(a[0].kind, "card_data");
        assert!(a[0].title.contains("(payment_succeeded)"), "{}", a[0].title);
        f.card.as_mut().unwrap().clean_since = true;
        assert!(kinds(&f).is_empty());
        // Older than the window: gone.
        let card = f.card.as_mut().unwrap();
        card.clean_since = false;
        card.last_at = NOW - WINDOW_MS;
        assert!(kinds(&f).is_empty());
    }

    #[test]
    fn refusal_codes_round_trip() {
        for r in Refusal::ALL {
            assert_eq!(Refusal::parse(r.as_str()), Some(r));
        }
        assert_eq!(Refusal::parse("other"), None);
    }
}
