//! Exchange rates, kept exact, and the converted totals reports show next to per-currency
//! figures.
//!
//! Chargebee sends each transaction's `exchange_rate` (a decimal number) and the site's
//! `base_currency_code`. The rate is how many units of the payment's currency one unit of the
//! base currency buys: a real INR invoice of a USD site carries `83.283543`
//! (`subscription_created__chargebee-java__1.json`), so the amount in the base currency is the
//! amount divided by the rate. We keep the rate as plain decimal text and convert with
//! integers only.

use shared::model::currency_decimals;
pub use shared::model::ConvertedTotal as Converted;

/// A positive exchange rate: `digits / 10^scale`, at most 18 significant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRate {
    digits: u64,
    scale: u32,
}

/// The largest rate accepted (no real currency pair comes near it).
const MAX_RATE: u64 = 1_000_000_000;
const MAX_SCALE: u32 = 18;

impl ExchangeRate {
    /// Parses a rate as JSON writes a number: `1`, `1.0`, `0.8523`, `1.5e-3`, `2E+2`.
    /// `None` for anything else, zero, a negative rate, or one beyond range.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > 40 {
            return None;
        }
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        if exponent.abs() > 40 {
            return None;
        }
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let all = format!("{whole}{fraction}");
        let all = all.trim_start_matches('0');
        let mut scale = i64::try_from(fraction.len()).ok()? - i64::from(exponent);
        let mut digits = all.to_string();
        // Trailing zeros of the fraction say nothing.
        while scale > 0 && digits.ends_with('0') {
            digits.pop();
            scale -= 1;
        }
        while scale < 0 {
            digits.push('0');
            scale += 1;
        }
        if digits.is_empty() || digits.len() > 18 {
            return None;
        }
        let digits: u64 = digits.parse().ok()?;
        let scale = u32::try_from(scale).ok().filter(|s| *s <= MAX_SCALE)?;
        if digits == 0 || digits / 10u64.pow(scale) >= MAX_RATE {
            return None;
        }
        Some(Self { digits, scale })
    }

    /// The rate as a plain decimal: `0.8523`, `1`, `200`.
    pub fn as_text(&self) -> String {
        if self.scale == 0 {
            return self.digits.to_string();
        }
        let s = format!("{:0>width$}", self.digits, width = self.scale as usize + 1);
        let (whole, fraction) = s.split_at(s.len() - self.scale as usize);
        format!("{whole}.{fraction}")
    }

    /// `minor` units of `from` (the payment's currency) in minor units of `to` (the base
    /// currency the rate is quoted against): the amount divided by the rate, rounded half to
    /// even. `None` on overflow.
    pub fn convert(&self, minor: i128, from: &str, to: &str) -> Option<i128> {
        let from_d = currency_decimals(from);
        let to_d = currency_decimals(to);
        // (minor / 10^from_d) / (digits / 10^scale) * 10^to_d
        let numerator = minor.checked_mul(10i128.checked_pow(to_d + self.scale)?)?;
        let denominator = i128::from(self.digits).checked_mul(10i128.checked_pow(from_d)?)?;
        Some(divide_half_even(numerator, denominator))
    }
}

fn divide_half_even(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// A sum in one currency, with the rate and base currency of the payments it came from
/// (`None` when Chargebee sent none).
#[derive(Debug, Clone, PartialEq)]
pub struct RatedSum {
    pub currency: String,
    pub amount: i128,
    pub rate: Option<String>,
    pub base: Option<String>,
}

/// The total of `sums` in `reporting`, converting each sum in another currency at its own
/// payment's rate when that rate converts to `reporting`. `None` when any sum cannot be
/// converted (no rate, or a rate to another base currency): a partial total would mislead.
pub fn converted_total(sums: &[RatedSum], reporting: &str) -> Option<Converted> {
    let mut total: i128 = 0;
    let mut converted_from = std::collections::BTreeSet::new();
    for s in sums {
        let amount = if s.currency == reporting {
            s.amount
        } else {
            let rate = s
                .rate
                .as_deref()
                .filter(|_| s.base.as_deref() == Some(reporting))
                .and_then(ExchangeRate::parse)?;
            converted_from.insert(s.currency.as_str());
            rate.convert(s.amount, &s.currency, reporting)?
        };
        total = total.checked_add(amount)?;
    }
    let how = if converted_from.is_empty() {
        format!("all in {reporting}: nothing converted")
    } else {
        format!(
            "{} converted to {reporting} at Chargebee's exchange rate of each payment",
            converted_from.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    Some(Converted {
        currency: reporting.to_string(),
        amount: total,
        how,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> ExchangeRate {
        ExchangeRate::parse(s).unwrap()
    }

    #[test]
    fn rates_parse_as_json_writes_them_and_print_plainly() {
        for (text, plain) in [
            ("1", "1"),
            ("1.0", "1"),
            ("0.8523", "0.8523"),
            ("1.5e-3", "0.0015"),
            ("2E+2", "200"),
            ("007.50", "7.5"),
            (".25", "0.25"),
        ] {
            assert_eq!(rate(text).as_text(), plain, "{text}");
        }
        for bad in [
            "",
            "0",
            "0.0",
            "-1",
            "abc",
            "1.2.3",
            "1e",
            "1e400",
            "1e2000000000",
            "NaN",
            "1e10",
            "0.0000000000000000001",
            "12345678901234567890",
        ] {
            assert_eq!(ExchangeRate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn conversion_is_exact_and_rounds_half_to_even() {
        // 90.00 EUR where 1 USD buys 0.9 EUR → 100.00 USD.
        assert_eq!(rate("0.9").convert(9_000, "EUR", "USD"), Some(10_000));
        // The real INR invoice: 116.67 INR at 83.283543 → 1.40 USD.
        assert_eq!(rate("83.283543").convert(11_667, "INR", "USD"), Some(140));
        // 0.05 / 2 = 0.025 → 0.02 (even); 0.07 / 2 = 0.035 → 0.04 (even).
        assert_eq!(rate("2").convert(5, "EUR", "USD"), Some(2));
        assert_eq!(rate("2").convert(7, "EUR", "USD"), Some(4));
        assert_eq!(rate("2").convert(-7, "EUR", "USD"), Some(-4));
        // Zero-decimal currencies: 1,000 JPY at 150 → 6.67 USD; 10.00 USD at 0.0067 → 1,493 JPY.
        assert_eq!(rate("150").convert(1000, "JPY", "USD"), Some(667));
        assert_eq!(rate("0.0067").convert(1000, "USD", "JPY"), Some(1493));
        assert_eq!(rate("0.5").convert(i128::MAX / 2, "EUR", "USD"), None);
    }

    #[test]
    fn a_converted_total_needs_every_sum_convertible() {
        let sum = |currency: &str, amount: i128, rate: Option<&str>, base: Option<&str>| RatedSum {
            currency: currency.into(),
            amount,
            rate: rate.map(Into::into),
            base: base.map(Into::into),
        };
        let total = converted_total(
            &[
                sum("USD", 1000, None, None),
                sum("EUR", 900, Some("0.9"), Some("USD")),
                sum("EUR", 500, Some("0.5"), Some("USD")),
            ],
            "USD",
        )
        .unwrap();
        assert_eq!(total.amount, 1000 + 1000 + 1000);
        assert!(total.how.contains("EUR converted to USD"), "{}", total.how);
        // No rate, or a rate to another base currency: no total at all.
        assert_eq!(
            converted_total(&[sum("EUR", 1000, None, None)], "USD"),
            None
        );
        assert_eq!(
            converted_total(&[sum("EUR", 1000, Some("0.9"), Some("GBP"))], "USD"),
            None
        );
        assert!(converted_total(&[], "USD")
            .unwrap()
            .how
            .contains("nothing converted"));
    }
}
