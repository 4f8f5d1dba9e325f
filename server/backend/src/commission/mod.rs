//! The commission calculator (pure): given a payment, what the ledger has recorded about it
//! (refunds, a failure), the commission terms in force when it occurred and the customer's
//! history, which commission entries it should have. No I/O, no clock, no randomness.
//!
//! **The model.** Every entry is keyed by the fact it comes from, so a fact can produce its
//! entry once and only once (storage keeps the key unique):
//!
//! | key | entry | amount |
//! |---|---|---|
//! | `commission:{txn}` | the commission on a recorded, attributed payment | `+C` |
//! | `clawback:{refund}` | a partial refund's share | `−⌊C × refund ÷ amount⌋` |
//! | `reversal:{txn}` | what remains, once the payment is fully refunded or failed | `−(C − clawbacks)` |
//!
//! [`entries`] computes the whole set a payment should have from everything known about it
//! and returns the ones not written yet. The set depends only on the facts, never on the
//! order they arrived in: a refund that arrives before its payment waits (nothing is known to
//! claw back from) and is clawed back when the payment arrives; 20 copies of one event find
//! their entry written. Clawbacks round down, so together they never exceed the commission;
//! the reversal takes exactly what remains, so a fully refunded payment nets to zero. Between,
//! the total is `C × net ÷ amount` to within one minor unit per refund.

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Basis points in 100 %.
pub const FULL_BPS: u32 = 10_000;
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// What a term pays per attributed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rate {
    /// A share of the payment, in basis points (2000 = 20 %).
    Percent { bps: u32 },
    /// A fixed amount per payment, in minor units of `currency`; payments in another
    /// currency earn nothing (amounts in different currencies are never mixed).
    Flat { amount: i64, currency: String },
}

/// For how long a customer's payments earn commission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Every payment, for the customer's lifetime.
    Lifetime,
    /// Payments that occur within this many calendar months of the customer's first payment.
    Months(u32),
    /// The customer's first this-many payments, in the order they occurred.
    Payments(u32),
}

/// Commission terms (one version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub rate: Rate,
    pub span: Span,
    /// Days after the payment before its commission becomes payable (the refund window).
    pub hold_days: u32,
    /// A different rate (basis points) per plan key; for a `Percent` rate only.
    pub plan_rates: BTreeMap<String, u32>,
    /// When set, only payments for these plan keys earn commission.
    pub only_plans: Option<BTreeSet<String>>,
}

impl Terms {
    pub fn percent(bps: u32) -> Self {
        Terms {
            rate: Rate::Percent { bps },
            span: Span::Lifetime,
            hold_days: 30,
            plan_rates: BTreeMap::new(),
            only_plans: None,
        }
    }

    /// Checks the terms a person or an API client gave (the error names the field).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match &self.rate {
            Rate::Percent { bps } if *bps > FULL_BPS => {
                return Err(("rate_bps", format!("must be between 0 and {FULL_BPS}")))
            }
            Rate::Flat { amount, currency } => {
                if *amount <= 0 || *amount > crate::chargebee::MAX_AMOUNT {
                    return Err((
                        "flat_amount",
                        "must be a positive amount in minor units".into(),
                    ));
                }
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err((
                        "currency",
                        "must be a three-letter ISO code like USD".into(),
                    ));
                }
                if !self.plan_rates.is_empty() {
                    return Err(("plan_rates", "apply to a percentage rate only".into()));
                }
            }
            Rate::Percent { .. } => {}
        }
        let plans = self
            .plan_rates
            .keys()
            .chain(self.only_plans.iter().flatten());
        for plan in plans {
            if let Some(problem) = crate::domain::identifier_problem(plan) {
                return Err(("plan_rates", format!("a plan key {problem}")));
            }
        }
        if self.plan_rates.len() > 200 || self.only_plans.as_ref().is_some_and(|p| p.len() > 200) {
            return Err(("plan_rates", "at most 200 plan keys".into()));
        }
        if let Some((plan, _)) = self.plan_rates.iter().find(|(_, bps)| **bps > FULL_BPS) {
            return Err((
                "plan_rates",
                format!("the rate for {plan} must be between 0 and {FULL_BPS}"),
            ));
        }
        match self.span {
            Span::Months(0) | Span::Payments(0) => {
                return Err(("duration", "must be at least 1".into()))
            }
            Span::Months(n) if n > 1200 => return Err(("duration", "at most 1200 months".into())),
            _ => {}
        }
        if self.hold_days > 3660 {
            return Err(("hold_days", "must be between 0 and 3660".into()));
        }
        Ok(())
    }

    /// The terms in plain language, e.g. "20 % of every payment for 12 months after the first
    /// payment, payable after 30 days".
    pub fn describe(&self) -> String {
        let rate = match &self.rate {
            Rate::Percent { bps } => format!("{} of every payment", percent_text(*bps)),
            Rate::Flat { amount, currency } => format!(
                "{} per payment",
                shared::model::format_money(*amount, currency)
            ),
        };
        let span = match self.span {
            Span::Lifetime => "for the customer's lifetime".to_string(),
            Span::Months(1) => "for 1 month after the first payment".to_string(),
            Span::Months(n) => format!("for {n} months after the first payment"),
            Span::Payments(1) => "for the first payment only".to_string(),
            Span::Payments(n) => format!("for the first {n} payments"),
        };
        let plans = match &self.only_plans {
            Some(p) if !p.is_empty() => format!(
                " on plans {}",
                p.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            _ => String::new(),
        };
        let overrides = if self.plan_rates.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = self
                .plan_rates
                .iter()
                .map(|(plan, bps)| format!("{} on {plan}", percent_text(*bps)))
                .collect();
            format!(" ({})", list.join(", "))
        };
        let hold = match self.hold_days {
            0 => "payable at once".to_string(),
            1 => "payable after 1 day".to_string(),
            d => format!("payable after {d} days"),
        };
        format!("{rate}{plans}{overrides} {span}, {hold}")
    }
}

fn percent_text(bps: u32) -> String {
    let (whole, frac) = (bps / 100, bps % 100);
    match frac {
        0 => format!("{whole} %"),
        f if f % 10 == 0 => format!("{whole}.{} %", f / 10),
        f => format!("{whole}.{f:02} %"),
    }
}

/// One version of the terms: in force for payments that occurred at or after `effective_from`
/// (until the next version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub effective_from: i64,
    pub terms: Terms,
}

/// The terms in force when a payment occurred: the latest version that took effect at or
/// before `occurred_at`. `versions` may come in any order.
pub fn in_force(versions: &[Version], occurred_at: i64) -> Option<&Terms> {
    versions
        .iter()
        .filter(|v| v.effective_from <= occurred_at)
        .max_by_key(|v| v.effective_from)
        .map(|v| &v.terms)
}

/// A recorded payment, as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Chargebee's transaction id.
    pub txn_id: String,
    /// Minor units, ≥ 0.
    pub amount: i64,
    pub currency: String,
    /// When it occurred (ms).
    pub occurred_at: i64,
    /// The plan key (invoice line items, else the subscription).
    pub plan_key: Option<String>,
    /// Its refunds: (Chargebee refund id, minor units, when it occurred), any order.
    pub refunds: Vec<Refund>,
    /// The payment failed after all (or was removed): what remains is reversed.
    pub failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub occurred_at: i64,
}

/// Where a payment stands among the customer's payments (in the order they occurred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// When the customer's first recorded payment occurred (ms).
    pub first_payment_at: i64,
    /// This payment's position among them, from 1.
    pub ordinal: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Commission,
    Clawback,
    Reversal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Commission => "commission",
            Kind::Clawback => "clawback",
            Kind::Reversal => "reversal",
        }
    }
}

/// A ledger entry a payment should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique per organization: the fact it comes from (see the module docs).
    pub key: String,
    pub kind: Kind,
    /// Minor units of `currency`: positive for a commission, negative otherwise.
    pub amount: i64,
    pub currency: String,
    /// When the fact occurred (ms).
    pub occurred_at: i64,
    /// From when it is payable (ms): the payment's time plus the hold. A clawback is payable
    /// with the commission it reduces, or at once if that is already payable.
    pub payable_at: i64,
}

/// Why a payment earns no commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoCommission {
    NoTerms,
    OutsideSpan,
    PlanNotCovered,
    OtherCurrency,
    Zero,
}

/// The commission on a payment's full amount under `terms` (before any refund), or why
/// there is none. Percentages round half up to the minor unit.
pub fn commission_on(
    terms: &Terms,
    payment: &Payment,
    history: History,
) -> Result<i64, NoCommission> {
    let within = match terms.span {
        Span::Lifetime => true,
        Span::Payments(n) => history.ordinal <= n,
        Span::Months(n) => payment.occurred_at < add_months(history.first_payment_at, n),
    };
    if !within {
        return Err(NoCommission::OutsideSpan);
    }
    if let Some(only) = &terms.only_plans {
        if !payment.plan_key.as_ref().is_some_and(|p| only.contains(p)) {
            return Err(NoCommission::PlanNotCovered);
        }
    }
    let amount = match &terms.rate {
        Rate::Percent { bps } => {
            let bps = payment
                .plan_key
                .as_ref()
                .and_then(|p| terms.plan_rates.get(p))
                .copied()
                .unwrap_or(*bps);
            share(payment.amount.max(0), bps)
        }
        Rate::Flat { amount, currency } => {
            if *currency != payment.currency {
                return Err(NoCommission::OtherCurrency);
            }
            *amount
        }
    };
    if amount <= 0 {
        return Err(NoCommission::Zero);
    }
    Ok(amount)
}

/// `amount × bps ÷ 10000`, rounded half up; exact in i128 (amounts are at most 10^12).
fn share(amount: i64, bps: u32) -> i64 {
    let n = i128::from(amount) * i128::from(bps) + i128::from(FULL_BPS / 2);
    i64::try_from(n / i128::from(FULL_BPS)).unwrap_or(i64::MAX)
}

/// `⌊commission × part ÷ whole⌋` for 0 ≤ part ≤ whole; exact in i128.
fn proportion(commission: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    let part = part.clamp(0, whole);
    i64::try_from(i128::from(commission) * i128::from(part) / i128::from(whole)).unwrap_or(0)
}

/// Every entry `payment` should have, given the commission on it (`None`: it earns none).
pub fn target(payment: &Payment, commission: Option<i64>, hold_days: u32) -> Vec<Entry> {
    let Some(c) = commission.filter(|c| *c > 0) else {
        return vec![];
    };
    let hold = i64::from(hold_days) * DAY_MS;
    let payable = payment.occurred_at.saturating_add(hold);
    let entry = |key: String, kind, amount, occurred_at: i64| Entry {
        key,
        kind,
        amount,
        currency: payment.currency.clone(),
        occurred_at,
        payable_at: payable.max(occurred_at),
    };
    let mut out = vec![entry(
        format!("commission:{}", payment.txn_id),
        Kind::Commission,
        c,
        payment.occurred_at,
    )];
    // One clawback per refund (each id once), in a fixed order; together never more than the
    // commission, since each rounds down and the refunds never exceed the amount.
    let mut refunds: Vec<&Refund> = vec![];
    let mut seen = HashSet::new();
    for r in &payment.refunds {
        if seen.insert(r.id.as_str()) {
            refunds.push(r);
        }
    }
    refunds.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let (mut refunded, mut clawed, mut last_refund_at) = (0i64, 0i64, payment.occurred_at);
    if !payment.failed {
        for r in refunds {
            let amount = r.amount.clamp(0, payment.amount - refunded);
            refunded += amount;
            let back = proportion(c, amount, payment.amount).min(c - clawed);
            last_refund_at = last_refund_at.max(r.occurred_at);
            if back > 0 {
                clawed += back;
                out.push(entry(
                    format!("clawback:{}", r.id),
                    Kind::Clawback,
                    -back,
                    r.occurred_at,
                ));
            }
        }
    }
    let fully_refunded = payment.amount > 0 && refunded >= payment.amount;
    if (payment.failed || fully_refunded) && c - clawed > 0 {
        out.push(entry(
            format!("reversal:{}", payment.txn_id),
            Kind::Reversal,
            -(c - clawed),
            last_refund_at,
        ));
    }
    out
}

/// The entries of [`target`] whose keys are not in `written` (the keys this payment's entries
/// already have): what to append now.
pub fn entries(
    payment: &Payment,
    commission: Option<i64>,
    hold_days: u32,
    written: &HashSet<String>,
) -> Vec<Entry> {
    target(payment, commission, hold_days)
        .into_iter()
        .filter(|e| !written.contains(&e.key))
        .collect()
}

/// What to append to a payment's entries, given the ones it has (`written`: key and amount)
/// and what it earns now (`earned`, from [`commission_on`]).
///
/// Mostly the entries of [`target`] it lacks. One case more: a payment that already earned a
/// commission but now falls outside the terms' span. That happens when a payment that
/// occurred earlier arrives late and pushes it past "the first N payments", or moves the
/// customer's first payment back past "N months". It gets one reversal of what its entries
/// sum to, so its net is what the natural order of arrival gives. Entries are append-only, so
/// the entries themselves differ from that order: a commission and its reversal.
pub fn reconcile(
    payment: &Payment,
    earned: Result<i64, NoCommission>,
    hold_days: u32,
    written: &[(String, i64)],
) -> Vec<Entry> {
    let keys: HashSet<String> = written.iter().map(|(k, _)| k.clone()).collect();
    if earned == Err(NoCommission::OutsideSpan) {
        let net: i64 = written.iter().map(|(_, a)| *a).sum();
        let key = format!("reversal:{}", payment.txn_id);
        if net <= 0 || keys.contains(&key) {
            return vec![];
        }
        let hold = i64::from(hold_days) * DAY_MS;
        return vec![Entry {
            key,
            kind: Kind::Reversal,
            amount: -net,
            currency: payment.currency.clone(),
            occurred_at: payment.occurred_at,
            payable_at: payment.occurred_at.saturating_add(hold),
        }];
    }
    entries(payment, earned.ok(), hold_days, &keys)
}

/// `at` (ms since the epoch, UTC) plus `months` calendar months; a day past the end of the
/// target month becomes its last day (Jan 31 + 1 month = Feb 28 or 29).
pub fn add_months(at: i64, months: u32) -> i64 {
    use time::{Date, OffsetDateTime};
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000) else {
        return at;
    };
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + i64::from(months);
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let Ok(year) = i32::try_from(year) else {
        return i64::MAX;
    };
    let Ok(month) = time::Month::try_from(month0 as u8 + 1) else {
        return at;
    };
    let day = t.day().min(month.length(year));
    match Date::from_calendar_date(year, month, day) {
        Ok(d) => {
            let moved = t.replace_date(d);
            i64::try_from(moved.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
        }
        Err(_) => at,
    }
}

/// An entry's status at `now`: `pending` inside the hold, `approved` once payable, `paid`
/// once in a payout marked paid.
pub fn status(entry_payable_at: i64, paid: bool, now: i64) -> &'static str {
    if paid {
        "paid"
    } else if now < entry_payable_at {
        "pending"
    } else {
        "approved"
    }
}

mod preview;
pub use preview::{preview, PreviewPayment, PreviewTotals};

#[cfg(test)]
mod tests;

/// Terms as they are written: the REST body, and the JSON stored with each version.
/// Exactly one of `rate_bps` and `flat_amount` (with `currency`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default)]
    pub duration: DurationSpec,
    #[serde(default = "default_hold_days")]
    pub hold_days: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plan_rates: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_plans: Option<BTreeSet<String>>,
    /// When the version takes effect (ms); now when absent. Not part of the stored terms.
    #[serde(default, skip_serializing)]
    pub effective_from: Option<i64>,
}

fn default_hold_days() -> u32 {
    30
}

/// `"lifetime"`, `{"months": n}` or `{"payments": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum DurationSpec {
    #[default]
    #[serde(with = "lifetime")]
    Lifetime,
    Months {
        months: u32,
    },
    Payments {
        payments: u32,
    },
}

mod lifetime {
    pub fn serialize<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("lifetime")
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        if s == "lifetime" {
            Ok(())
        } else {
            Err(serde::de::Error::custom("expected \"lifetime\""))
        }
    }
}

impl TermsSpec {
    /// The terms, checked (the error names the field).
    pub fn to_terms(&self) -> Result<Terms, (&'static str, String)> {
        let rate = match (self.rate_bps, self.flat_amount, &self.currency) {
            (Some(bps), None, None) => Rate::Percent { bps },
            (None, Some(amount), Some(currency)) => Rate::Flat {
                amount,
                currency: currency.clone(),
            },
            (None, Some(_), None) => {
                return Err(("currency", "is required with flat_amount".into()))
            }
            (Some(_), _, Some(_)) => return Err(("currency", "is only for a flat_amount".into())),
            (None, None, _) => return Err(("rate_bps", "give rate_bps or flat_amount".into())),
            (Some(_), Some(_), None) => {
                return Err(("rate_bps", "give rate_bps or flat_amount, not both".into()))
            }
        };
        let span = match self.duration {
            DurationSpec::Lifetime => Span::Lifetime,
            DurationSpec::Months { months } => Span::Months(months),
            DurationSpec::Payments { payments } => Span::Payments(payments),
        };
        let terms = Terms {
            rate,
            span,
            hold_days: self.hold_days,
            plan_rates: self.plan_rates.clone(),
            only_plans: self.only_plans.clone(),
        };
        terms.validate()?;
        Ok(terms)
    }

    pub fn from_terms(t: &Terms) -> Self {
        let (rate_bps, flat_amount, currency) = match &t.rate {
            Rate::Percent { bps } => (Some(*bps), None, None),
            Rate::Flat { amount, currency } => (None, Some(*amount), Some(currency.clone())),
        };
        TermsSpec {
            rate_bps,
            flat_amount,
            currency,
            duration: match t.span {
                Span::Lifetime => DurationSpec::Lifetime,
                Span::Months(months) => DurationSpec::Months { months },
                Span::Payments(payments) => DurationSpec::Payments { payments },
            },
            hold_days: t.hold_days,
            plan_rates: t.plan_rates.clone(),
            only_plans: t.only_plans.clone(),
            effective_from: None,
        }
    }
}

/// The terms for a partner's payment that occurred at `at`: the partner's override in force
/// then (`Some(None)` in `overrides` is a removed override), else the organization's default.
pub fn terms_for<'a>(
    overrides: &'a [(i64, Option<Terms>)],
    defaults: &'a [(i64, Option<Terms>)],
    at: i64,
) -> Option<&'a Terms> {
    let latest = |versions: &'a [(i64, Option<Terms>)]| {
        versions
            .iter()
            .filter(|(from, _)| *from <= at)
            .max_by_key(|(from, _)| *from)
            .and_then(|(_, t)| t.as_ref())
    };
    latest(overrides).or_else(|| latest(defaults))
}
