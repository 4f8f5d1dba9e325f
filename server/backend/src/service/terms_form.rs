//! The dashboard's commission terms form, parsed into [`TermsSpec`] (the REST API takes the
//! spec as JSON directly). Every field is text from a browser: parsed here, with the field's
//! name in the error.

use super::Result;
use crate::commission::{DurationSpec, TermsSpec};
use shared::error::AppError;
use shared::model::TermsFormValues;
use std::collections::BTreeMap;

/// The form's fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct TermsForm<'a> {
    /// `percent` or `flat`.
    pub kind: &'a str,
    /// A percentage with up to two decimals: `20`, `12.5`.
    pub percent: &'a str,
    /// An amount in the currency's major unit: `5`, `5.00`.
    pub flat_amount: &'a str,
    pub currency: &'a str,
    /// `lifetime`, `months` or `payments`.
    pub duration: &'a str,
    pub duration_count: &'a str,
    pub hold_days: &'a str,
    /// One `plan key = percent` per line.
    pub plan_rates: &'a str,
    /// `YYYY-MM-DD` (UTC), or empty for now.
    pub effective_from: &'a str,
}

impl TermsForm<'_> {
    pub fn to_spec(&self) -> Result<TermsSpec> {
        let (rate_bps, flat_amount, currency) = match self.kind {
            "percent" => (Some(percent_bps("percent", self.percent)?), None, None),
            "flat" => {
                let currency = self.currency.trim().to_ascii_uppercase();
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(AppError::field(
                        "currency",
                        "give a three-letter currency code, e.g. USD",
                    ));
                }
                let amount = major_to_minor(self.flat_amount, &currency).ok_or_else(|| {
                    AppError::field(
                        "flat_amount",
                        "give an amount such as 5.00 (at most the currency's decimals)",
                    )
                })?;
                (None, Some(amount), Some(currency))
            }
            _ => {
                return Err(AppError::field(
                    "kind",
                    "choose a percentage or a flat amount",
                ))
            }
        };
        let count = || {
            self.duration_count
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1200).contains(n))
                .ok_or_else(|| AppError::field("duration_count", "give a whole number from 1"))
        };
        let duration = match self.duration {
            "" | "lifetime" => DurationSpec::Lifetime,
            "months" => DurationSpec::Months { months: count()? },
            "payments" => DurationSpec::Payments { payments: count()? },
            _ => return Err(AppError::field("duration", "choose how long the terms pay")),
        };
        let hold_days = match self.hold_days.trim() {
            "" => 30,
            text => text.parse::<u32>().map_err(|_| {
                AppError::field("hold_days", "give a whole number of days (0 for none)")
            })?,
        };
        let mut plan_rates = BTreeMap::new();
        for line in self
            .plan_rates
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let (plan, rate) = line.split_once('=').ok_or_else(|| {
                AppError::field(
                    "plan_rates",
                    format!("write “plan key = percent”, not “{line}”"),
                )
            })?;
            let plan = plan.trim();
            if plan.is_empty() {
                return Err(AppError::field(
                    "plan_rates",
                    format!("“{line}” has no plan key"),
                ));
            }
            plan_rates.insert(plan.to_string(), percent_bps("plan_rates", rate)?);
        }
        let effective_from = match self.effective_from.trim() {
            "" => None,
            text => Some(date_ms("effective_from", text)?),
        };
        let spec = TermsSpec {
            rate_bps,
            flat_amount,
            currency,
            duration,
            hold_days,
            plan_rates,
            only_plans: None,
            effective_from,
        };
        spec.to_terms()
            .map_err(|(field, message)| AppError::field(field, message))?;
        Ok(spec)
    }
}

/// Terms as the form's fields (the reverse of [`TermsForm::to_spec`]).
pub fn form_values(spec: &TermsSpec) -> TermsFormValues {
    let (duration, count) = match spec.duration {
        DurationSpec::Lifetime => ("lifetime", String::new()),
        DurationSpec::Months { months } => ("months", months.to_string()),
        DurationSpec::Payments { payments } => ("payments", payments.to_string()),
    };
    let currency = spec.currency.clone().unwrap_or_default();
    TermsFormValues {
        kind: if spec.flat_amount.is_some() {
            "flat"
        } else {
            "percent"
        }
        .into(),
        percent: spec.rate_bps.map(bps_text).unwrap_or_default(),
        flat_amount: spec
            .flat_amount
            .map(|a| super::commissions::major_units(i128::from(a), &currency))
            .unwrap_or_default(),
        currency,
        duration: duration.into(),
        duration_count: count,
        hold_days: spec.hold_days.to_string(),
        plan_rates: spec
            .plan_rates
            .iter()
            .map(|(plan, bps)| format!("{plan} = {}", bps_text(*bps)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// 2000 → `20`, 1250 → `12.5`, 1 → `0.01`.
fn bps_text(bps: u32) -> String {
    let text = format!("{}.{:02}", bps / 100, bps % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `20` → 2000, `12.5` → 1250, `0.01` → 1; a trailing `%` is allowed.
pub fn percent_bps(field: &'static str, text: &str) -> Result<u32> {
    let bad = || AppError::field(field, "give a percentage such as 20 or 12.5 (0 to 100)");
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || whole.len() > 3
    {
        return Err(bad());
    }
    let bps = whole.parse::<u32>().map_err(|_| bad())? * 100
        + format!("{fraction:0<2}")
            .parse::<u32>()
            .map_err(|_| bad())?;
    if bps > 10_000 {
        return Err(bad());
    }
    Ok(bps)
}

/// `5` / `5.00` in `currency`'s major unit → minor units; `None` for anything else.
pub fn major_to_minor(text: &str, currency: &str) -> Option<i64> {
    let decimals = shared::model::currency_decimals(currency) as usize;
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 12
        || fraction.len() > decimals
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if decimals == 0 {
        0
    } else {
        format!("{fraction:0<decimals$}").parse().ok()?
    };
    whole
        .checked_mul(10i64.checked_pow(decimals as u32)?)?
        .checked_add(fraction)
}

/// `YYYY-MM-DD` → milliseconds at that day's start, UTC.
pub fn date_ms(field: &'static str, text: &str) -> Result<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text.trim(), &format)
        .map_err(|_| AppError::field(field, "give a date as YYYY-MM-DD"))?;
    let ms = date.midnight().assume_utc().unix_timestamp() * 1000;
    if !(0..=253_402_300_799_000).contains(&ms) {
        return Err(AppError::field(field, "give a date from 1970 on"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: AppError) -> String {
        match e {
            AppError::Validation(fields) => fields[0].field.clone(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn percentages_become_basis_points() {
        for (text, bps) in [
            ("20", 2000),
            ("12.5", 1250),
            ("0.01", 1),
            ("100", 10_000),
            (" 7 %", 700),
        ] {
            assert_eq!(percent_bps("percent", text).unwrap(), bps, "{text}");
        }
        for bad in ["", "abc", "-5", "100.01", "1.234", "1e3", ".", "5.5.5"] {
            assert!(percent_bps("percent", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_take_the_currency_decimals() {
        assert_eq!(major_to_minor("5", "USD"), Some(500));
        assert_eq!(major_to_minor("5.5", "USD"), Some(550));
        assert_eq!(major_to_minor("500", "JPY"), Some(500));
        assert_eq!(major_to_minor("5.5", "JPY"), None);
        assert_eq!(major_to_minor("5.555", "USD"), None);
        assert_eq!(major_to_minor("-5", "USD"), None);
        assert_eq!(major_to_minor("9999999999999", "USD"), None);
    }

    #[test]
    fn dates_are_utc_midnights() {
        assert_eq!(date_ms("d", "2026-01-31").unwrap(), 1_769_817_600_000);
        assert!(date_ms("d", "31/01/2026").is_err());
        assert!(date_ms("d", "1969-12-31").is_err());
    }

    #[test]
    fn the_form_becomes_terms_or_names_the_wrong_field() {
        let form = TermsForm {
            kind: "percent",
            percent: "20",
            duration: "months",
            duration_count: "12",
            hold_days: "30",
            plan_rates: "pro = 25\n\n enterprise=30% ",
            effective_from: "2026-01-01",
            ..Default::default()
        };
        let spec = form.to_spec().unwrap();
        // What the form shows again parses to the same terms.
        let shown = form_values(&spec);
        assert_eq!(shown.plan_rates, "enterprise = 30\npro = 25");
        let again = TermsForm {
            kind: &shown.kind,
            percent: &shown.percent,
            duration: &shown.duration,
            duration_count: &shown.duration_count,
            hold_days: &shown.hold_days,
            plan_rates: &shown.plan_rates,
            effective_from: "2026-01-01",
            ..Default::default()
        };
        assert_eq!(again.to_spec().unwrap(), spec);
        assert_eq!(spec.rate_bps, Some(2000));
        assert_eq!(spec.duration, DurationSpec::Months { months: 12 });
        assert_eq!(spec.plan_rates.get("enterprise"), Some(&3000));
        assert_eq!(spec.effective_from, Some(1_767_225_600_000));
        let flat = TermsForm {
            kind: "flat",
            flat_amount: "5.00",
            currency: "eur",
            ..Default::default()
        };
        let spec = flat.to_spec().unwrap();
        assert_eq!(
            (spec.flat_amount, spec.currency.as_deref()),
            (Some(500), Some("EUR"))
        );
        assert_eq!(spec.hold_days, 30);
        for (form, field) in [
            (
                TermsForm {
                    kind: "percent",
                    percent: "x",
                    ..Default::default()
                },
                "percent",
            ),
            (
                TermsForm {
                    kind: "flat",
                    flat_amount: "5",
                    currency: "euro",
                    ..Default::default()
                },
                "currency",
            ),
            (
                TermsForm {
                    kind: "percent",
                    percent: "5",
                    duration: "months",
                    duration_count: "0",
                    ..Default::default()
                },
                "duration_count",
            ),
            (
                TermsForm {
                    kind: "percent",
                    percent: "5",
                    plan_rates: "pro 25",
                    ..Default::default()
                },
                "plan_rates",
            ),
            (
                TermsForm {
                    kind: "percent",
                    percent: "5",
                    effective_from: "soon",
                    ..Default::default()
                },
                "effective_from",
            ),
            (
                TermsForm {
                    kind: "",
                    ..Default::default()
                },
                "kind",
            ),
        ] {
            assert_eq!(field_of(form.to_spec().unwrap_err()), field);
        }
    }
}
