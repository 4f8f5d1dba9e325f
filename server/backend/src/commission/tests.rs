use super::*;
use proptest::prelude::*;

const DAY: i64 = DAY_MS;
const T0: i64 = 1_700_000_000_000;

fn payment(amount: i64) -> Payment {
    Payment {
        txn_id: "txn_1".into(),
        amount,
        currency: "USD".into(),
        occurred_at: T0,
        plan_key: None,
        refunds: vec![],
        failed: false,
    }
}

fn refund(id: &str, amount: i64, days_after: i64) -> Refund {
    Refund {
        id: id.into(),
        amount,
        occurred_at: T0 + days_after * DAY,
    }
}

const FIRST: History = History {
    first_payment_at: T0,
    ordinal: 1,
};

fn total(entries: &[Entry]) -> i64 {
    entries.iter().map(|e| e.amount).sum()
}

fn keys(entries: &[Entry]) -> Vec<(&str, i64)> {
    entries.iter().map(|e| (e.key.as_str(), e.amount)).collect()
}

#[test]
fn twenty_percent_of_a_payment_rounds_half_up_to_the_minor_unit() {
    let terms = Terms::percent(2000);
    assert_eq!(commission_on(&terms, &payment(10_000), FIRST), Ok(2000));
    // 20 % of 0.03 is 0.006: one cent.
    assert_eq!(commission_on(&terms, &payment(3), FIRST), Ok(1));
    // 20 % of 0.02 is 0.004: nothing.
    assert_eq!(
        commission_on(&terms, &payment(2), FIRST),
        Err(NoCommission::Zero)
    );
    // The largest amount a payment may have does not overflow.
    let max = crate::chargebee::MAX_AMOUNT;
    assert_eq!(
        commission_on(&Terms::percent(FULL_BPS), &payment(max), FIRST),
        Ok(max)
    );
}

#[test]
fn a_payment_earns_one_commission_entry_payable_after_the_hold() {
    let e = target(&payment(10_000), Some(2000), 30);
    assert_eq!(keys(&e), [("commission:txn_1", 2000)]);
    assert_eq!(e[0].kind, Kind::Commission);
    assert_eq!(e[0].payable_at, T0 + 30 * DAY);
    assert_eq!(e[0].currency, "USD");
}

#[test]
fn a_partial_refund_claws_back_its_share_rounded_down() {
    let mut p = payment(10_000);
    // A third of the payment: 2000 / 3 = 666.67 → 666 back.
    p.refunds.push(refund("re_1", 3333, 5));
    let e = target(&p, Some(2000), 30);
    assert_eq!(
        keys(&e),
        [("commission:txn_1", 2000), ("clawback:re_1", -666)]
    );
    assert_eq!(e[1].kind, Kind::Clawback);
    // Payable with the commission it reduces.
    assert_eq!(e[1].payable_at, T0 + 30 * DAY);
}

#[test]
fn a_full_refund_in_parts_reverses_what_remains_so_the_payment_nets_to_zero() {
    let mut p = payment(10_000);
    for (i, amount) in [3333, 3333, 3334].into_iter().enumerate() {
        p.refunds
            .push(refund(&format!("re_{i}"), amount, i as i64 + 1));
    }
    let e = target(&p, Some(2000), 30);
    assert_eq!(
        keys(&e),
        [
            ("commission:txn_1", 2000),
            ("clawback:re_0", -666),
            ("clawback:re_1", -666),
            ("clawback:re_2", -666),
            ("reversal:txn_1", -2),
        ]
    );
    assert_eq!(total(&e), 0);
    // After the hold, the reversal is payable at once (it occurred on day 3).
    assert_eq!(e[4].occurred_at, T0 + 3 * DAY);
}

#[test]
fn a_single_full_refund_is_one_clawback_of_everything() {
    let mut p = payment(10_000);
    p.refunds.push(refund("re_1", 10_000, 40));
    let e = target(&p, Some(2000), 30);
    assert_eq!(
        keys(&e),
        [("commission:txn_1", 2000), ("clawback:re_1", -2000)]
    );
    // Past the commission's hold: payable when it occurred.
    assert_eq!(e[1].payable_at, T0 + 40 * DAY);
}

#[test]
fn a_failed_payment_reverses_its_whole_commission() {
    let mut p = payment(10_000);
    p.failed = true;
    let e = target(&p, Some(2000), 30);
    assert_eq!(
        keys(&e),
        [("commission:txn_1", 2000), ("reversal:txn_1", -2000)]
    );
    assert_eq!(total(&e), 0);
}

#[test]
fn a_refund_that_arrived_before_its_payment_is_clawed_back_when_the_payment_arrives() {
    // The ledger kept the refund; the payment arrives now with it attached.
    let mut p = payment(10_000);
    p.refunds.push(refund("re_1", 5000, 2));
    let e = entries(&p, Some(2000), 30, &HashSet::new());
    assert_eq!(
        keys(&e),
        [("commission:txn_1", 2000), ("clawback:re_1", -1000)]
    );
}

#[test]
fn entries_already_written_are_not_returned_again() {
    let mut p = payment(10_000);
    let written: HashSet<String> = target(&p, Some(2000), 30)
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert!(entries(&p, Some(2000), 30, &written).is_empty());
    p.refunds.push(refund("re_1", 5000, 2));
    assert_eq!(
        keys(&entries(&p, Some(2000), 30, &written)),
        [("clawback:re_1", -1000)]
    );
}

#[test]
fn a_refund_delivered_twice_is_clawed_back_once() {
    let mut p = payment(10_000);
    p.refunds.push(refund("re_1", 5000, 2));
    p.refunds.push(refund("re_1", 5000, 2));
    assert_eq!(total(&target(&p, Some(2000), 30)), 1000);
}

#[test]
fn refunds_beyond_the_amount_never_claw_back_more_than_the_commission() {
    let mut p = payment(10_000);
    p.refunds.push(refund("re_1", 9000, 1));
    p.refunds.push(refund("re_2", 9000, 2));
    let e = target(&p, Some(2000), 30);
    assert_eq!(total(&e), 0);
    assert!(e.iter().skip(1).all(|e| e.amount <= 0));
}

#[test]
fn a_payment_without_commission_has_no_entries() {
    let mut p = payment(10_000);
    p.refunds.push(refund("re_1", 5000, 2));
    p.failed = true;
    assert!(target(&p, None, 30).is_empty());
}

#[test]
fn the_version_in_force_when_the_payment_occurred_applies_whenever_it_arrives() {
    let v = |from: i64, bps| Version {
        effective_from: from,
        terms: Terms::percent(bps),
    };
    // Given in any order.
    let versions = [v(T0 + 10 * DAY, 3000), v(T0 - 10 * DAY, 1000), v(T0, 2000)];
    assert_eq!(in_force(&versions, T0 - 20 * DAY), None);
    assert_eq!(in_force(&versions, T0 - DAY), Some(&Terms::percent(1000)));
    assert_eq!(in_force(&versions, T0), Some(&Terms::percent(2000)));
    assert_eq!(
        in_force(&versions, T0 + 9 * DAY),
        Some(&Terms::percent(2000))
    );
    assert_eq!(
        in_force(&versions, T0 + 10 * DAY),
        Some(&Terms::percent(3000))
    );
}

#[test]
fn months_are_counted_from_the_customers_first_payment() {
    let mut terms = Terms::percent(2000);
    terms.span = Span::Months(12);
    let first = T0 - 365 * DAY;
    let history = History {
        first_payment_at: first,
        ordinal: 13,
    };
    let mut p = payment(10_000);
    p.occurred_at = add_months(first, 12) - 1;
    assert_eq!(commission_on(&terms, &p, history), Ok(2000));
    p.occurred_at = add_months(first, 12);
    assert_eq!(
        commission_on(&terms, &p, history),
        Err(NoCommission::OutsideSpan)
    );
}

#[test]
fn only_the_first_n_payments_earn_commission() {
    let mut terms = Terms::percent(2000);
    terms.span = Span::Payments(3);
    let at = |ordinal| History {
        first_payment_at: T0,
        ordinal,
    };
    assert_eq!(commission_on(&terms, &payment(100), at(3)), Ok(20));
    assert_eq!(
        commission_on(&terms, &payment(100), at(4)),
        Err(NoCommission::OutsideSpan)
    );
}

#[test]
fn plan_rates_override_the_rate_and_plan_limits_exclude_other_plans() {
    let mut terms = Terms::percent(2000);
    terms.plan_rates.insert("enterprise".into(), 3000);
    let mut p = payment(10_000);
    p.plan_key = Some("enterprise".into());
    assert_eq!(commission_on(&terms, &p, FIRST), Ok(3000));
    p.plan_key = Some("starter".into());
    assert_eq!(commission_on(&terms, &p, FIRST), Ok(2000));
    terms.only_plans = Some(["enterprise".to_string()].into());
    assert_eq!(
        commission_on(&terms, &p, FIRST),
        Err(NoCommission::PlanNotCovered)
    );
    p.plan_key = None;
    assert_eq!(
        commission_on(&terms, &p, FIRST),
        Err(NoCommission::PlanNotCovered)
    );
}

#[test]
fn a_flat_amount_is_paid_only_on_payments_in_its_currency() {
    let terms = Terms {
        rate: Rate::Flat {
            amount: 500,
            currency: "USD".into(),
        },
        ..Terms::percent(0)
    };
    assert_eq!(commission_on(&terms, &payment(10_000), FIRST), Ok(500));
    let mut eur = payment(10_000);
    eur.currency = "EUR".into();
    assert_eq!(
        commission_on(&terms, &eur, FIRST),
        Err(NoCommission::OtherCurrency)
    );
}

#[test]
fn adding_months_keeps_the_day_or_takes_the_last_day_of_a_shorter_month() {
    use time::macros::datetime;
    let ms = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let jan31 = ms(datetime!(2024-01-31 10:00 UTC));
    assert_eq!(add_months(jan31, 1), ms(datetime!(2024-02-29 10:00 UTC)));
    assert_eq!(add_months(jan31, 13), ms(datetime!(2025-02-28 10:00 UTC)));
    let mar15 = ms(datetime!(2024-03-15 00:00 UTC));
    assert_eq!(add_months(mar15, 12), ms(datetime!(2025-03-15 00:00 UTC)));
    assert_eq!(add_months(mar15, 0), mar15);
}

#[test]
fn terms_read_as_a_sentence() {
    let mut terms = Terms::percent(2000);
    terms.span = Span::Months(12);
    assert_eq!(
        terms.describe(),
        "20 % of every payment for 12 months after the first payment, payable after 30 days"
    );
    let flat = Terms {
        rate: Rate::Flat {
            amount: 500,
            currency: "USD".into(),
        },
        span: Span::Payments(3),
        hold_days: 0,
        ..Terms::percent(0)
    };
    assert_eq!(
        flat.describe(),
        "5.00 USD per payment for the first 3 payments, payable at once"
    );
    let mut plans = Terms::percent(1250);
    plans.plan_rates.insert("pro".into(), 1500);
    assert_eq!(
        plans.describe(),
        "12.5 % of every payment (15 % on pro) for the customer's lifetime, payable after 30 days"
    );
}

#[test]
fn invalid_terms_name_the_field() {
    assert_eq!(Terms::percent(10_001).validate().unwrap_err().0, "rate_bps");
    let mut t = Terms::percent(2000);
    t.span = Span::Months(0);
    assert_eq!(t.validate().unwrap_err().0, "duration");
    let flat = |amount, currency: &str| Terms {
        rate: Rate::Flat {
            amount,
            currency: currency.into(),
        },
        ..Terms::percent(0)
    };
    assert_eq!(flat(0, "USD").validate().unwrap_err().0, "flat_amount");
    assert_eq!(flat(500, "usd").validate().unwrap_err().0, "currency");
    assert!(flat(500, "USD").validate().is_ok());
    let mut bad_plan = Terms::percent(2000);
    bad_plan.plan_rates.insert("pro\u{0}".into(), 100);
    assert_eq!(bad_plan.validate().unwrap_err().0, "plan_rates");
    assert!(Terms::percent(2000).validate().is_ok());
}

#[test]
fn an_entry_is_pending_in_its_hold_then_approved_and_paid_once_paid_out() {
    assert_eq!(status(T0 + DAY, false, T0), "pending");
    assert_eq!(status(T0 + DAY, false, T0 + DAY), "approved");
    assert_eq!(status(T0 + DAY, true, T0), "paid");
}

// ----- any order, any duplicates: the entries of the natural order -----

/// One fact about a payment, as a webhook delivers it.
#[derive(Debug, Clone)]
enum Fact {
    Paid,
    Refunded(usize),
    Failed,
}

#[derive(Debug, Clone)]
struct Case {
    amount: i64,
    bps: u32,
    refunds: Vec<Refund>,
    failed: bool,
    /// The order the facts arrive in, duplicates included.
    arrival: Vec<Fact>,
}

/// A realistic history: a payment, then either refunds (at most its amount; sometimes all of
/// it) or a failure; delivered in any order, each fact one to three times.
fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            1i64..100,
            100i64..1_000_000,
            1_000_000i64..=1_000_000_000_000
        ],
        0u32..=FULL_BPS,
        prop::collection::vec(1u32..=1000, 0..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(amount, bps, weights, full, failed)| {
            // Refund amounts: shares of the amount by weight (all of it when `full`).
            let sum: i64 = weights.iter().map(|w| i64::from(*w)).sum::<i64>().max(1);
            let budget = if full { amount } else { amount / 2 };
            let mut refunds: Vec<Refund> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| Refund {
                    id: format!("re_{i}"),
                    amount: budget * i64::from(*w) / sum,
                    occurred_at: T0 + (i as i64 + 1) * DAY,
                })
                .filter(|r| r.amount > 0)
                .collect();
            if full {
                // What integer division left over goes to the last refund.
                let given: i64 = refunds.iter().map(|r| r.amount).sum();
                if let Some(last) = refunds.last_mut() {
                    last.amount += amount - given;
                }
            }
            // A failed payment was never collected, so it has no refunds.
            let failed = failed && refunds.is_empty();
            let mut facts = vec![Fact::Paid];
            facts.extend((0..refunds.len()).map(Fact::Refunded));
            if failed {
                facts.push(Fact::Failed);
            }
            let copies = prop::collection::vec(1usize..=3, facts.len());
            (Just((amount, bps, refunds, failed, facts)), copies).prop_flat_map(
                |((amount, bps, refunds, failed, facts), copies)| {
                    let arrival: Vec<Fact> = facts
                        .iter()
                        .zip(copies)
                        .flat_map(|(f, n)| std::iter::repeat_n(f.clone(), n))
                        .collect();
                    Just(arrival).prop_shuffle().prop_map(move |arrival| Case {
                        amount,
                        bps,
                        refunds: refunds.clone(),
                        failed,
                        arrival,
                    })
                },
            )
        })
}

/// Delivers the facts in `order` to a ledger that, like storage, keeps every fact it has seen
/// and appends the entries [`entries`] asks for after each one. Returns the entries written and
/// the payment's running totals after each delivery.
fn replay(case: &Case, order: &[Fact]) -> (Vec<Entry>, Vec<i64>) {
    let terms = Terms::percent(case.bps);
    let mut known = Payment {
        refunds: vec![],
        ..payment(case.amount)
    };
    let mut paid = false;
    let mut written: Vec<Entry> = vec![];
    let mut totals = vec![];
    for fact in order {
        match fact {
            Fact::Paid => paid = true,
            Fact::Refunded(i) => known.refunds.push(case.refunds[*i].clone()),
            Fact::Failed => known.failed = true,
        }
        if paid {
            let commission = commission_on(&terms, &known, FIRST).ok();
            let keys: HashSet<String> = written.iter().map(|e| e.key.clone()).collect();
            written.extend(entries(&known, commission, terms.hold_days, &keys));
        }
        totals.push(total(&written));
    }
    (written, totals)
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_order_and_any_duplicates_give_the_entries_of_the_natural_order(case in case()) {
        let mut natural = vec![Fact::Paid];
        natural.extend((0..case.refunds.len()).map(Fact::Refunded));
        if case.failed {
            natural.push(Fact::Failed);
        }
        let (expected, _) = replay(&case, &natural);
        let (got, totals) = replay(&case, &case.arrival);
        prop_assert_eq!(sorted(got.clone()), sorted(expected));

        let commission = commission_on(&Terms::percent(case.bps), &payment(case.amount), FIRST)
            .unwrap_or(0);
        // At every moment, a payment's entries sum to between zero and its commission.
        for t in &totals {
            prop_assert!((0..=commission).contains(t), "total {} of {}", t, commission);
        }
        // At the end: nothing for a failed or fully refunded payment; otherwise the rate on
        // the net amount, to within one minor unit per refund (plus the half unit of rounding
        // the commission itself).
        let refunded: i64 = case.refunds.iter().map(|r| r.amount).sum();
        let net = case.amount - refunded;
        let end = total(&got);
        if case.failed || net == 0 {
            prop_assert_eq!(end, 0);
        } else {
            let exact = i128::from(net) * i128::from(case.bps); // × 1/10000
            let got = i128::from(end) * i128::from(FULL_BPS);
            let slack = (case.refunds.len() as i128 + 1) * i128::from(FULL_BPS);
            prop_assert!((got - exact).abs() <= slack, "{} vs {}", end, exact as f64 / 1e4);
        }
        // Every entry is in the payment's currency; only the commission is positive.
        for e in &got {
            prop_assert_eq!(&e.currency, "USD");
            prop_assert_eq!(e.amount > 0, e.kind == Kind::Commission);
        }
    }
}

#[test]
fn a_payment_pushed_out_of_its_span_by_an_earlier_one_is_reversed_once() {
    let p = payment(10_000);
    let out = || Err(NoCommission::OutsideSpan);
    let had = |list: &[(&str, i64)]| -> Vec<(String, i64)> {
        list.iter().map(|(k, a)| (k.to_string(), *a)).collect()
    };
    // What it earned is reversed; with a clawback already, what remains.
    let e = reconcile(&p, out(), 30, &had(&[("commission:txn_1", 2000)]));
    assert_eq!(keys(&e), [("reversal:txn_1", -2000)]);
    assert_eq!(e[0].payable_at, T0 + 30 * DAY);
    let e = reconcile(
        &p,
        out(),
        30,
        &had(&[("commission:txn_1", 2000), ("clawback:re_1", -500)]),
    );
    assert_eq!(keys(&e), [("reversal:txn_1", -1500)]);
    // Once only; nothing for a payment that never earned; in its span, as `entries`.
    let reversed = had(&[("commission:txn_1", 2000), ("reversal:txn_1", -2000)]);
    assert!(reconcile(&p, out(), 30, &reversed).is_empty());
    assert!(reconcile(&p, out(), 30, &[]).is_empty());
    assert_eq!(
        keys(&reconcile(&p, Ok(2000), 30, &[])),
        [("commission:txn_1", 2000)]
    );
}

/// A customer's payments (distinct times, in natural order) and an arrival order with copies.
#[derive(Debug, Clone)]
struct Series {
    amounts: Vec<i64>,
    first_n: u32,
    bps: u32,
    arrival: Vec<usize>,
}

fn series() -> impl Strategy<Value = Series> {
    (
        prop::collection::vec(1i64..1_000_000, 1..6),
        1u32..4,
        1u32..=10_000,
    )
        .prop_flat_map(|(amounts, first_n, bps)| {
            let n = amounts.len();
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            let copies = prop::collection::vec(0..n, 0..4);
            (Just(amounts), Just(first_n), Just(bps), order, copies)
        })
        .prop_map(|(amounts, first_n, bps, mut arrival, copies)| {
            arrival.extend(copies);
            Series {
                amounts,
                first_n,
                bps,
                arrival,
            }
        })
}

/// Settles the series in `order` as the storage does: the arriving payment, then every later
/// one of the customer (which may only lose its commission). Returns each payment's net.
fn settle_series(s: &Series, order: &[usize]) -> Vec<i64> {
    let mut terms = Terms::percent(s.bps);
    terms.span = Span::Payments(s.first_n);
    let pay = |i: usize| Payment {
        txn_id: format!("txn_{i}"),
        amount: s.amounts[i],
        currency: "USD".into(),
        occurred_at: T0 + i as i64 * DAY,
        plan_key: None,
        refunds: vec![],
        failed: false,
    };
    let mut known: Vec<usize> = vec![];
    let mut written: Vec<Vec<(String, i64)>> = vec![vec![]; s.amounts.len()];
    for &arrived in order {
        if !known.contains(&arrived) {
            known.push(arrived);
        }
        let first = *known.iter().min().unwrap();
        for &i in known.iter().filter(|&&i| i >= arrived) {
            let history = History {
                first_payment_at: T0 + first as i64 * DAY,
                ordinal: known.iter().filter(|&&j| j <= i).count() as u32,
            };
            let earned = commission_on(&terms, &pay(i), history);
            if i != arrived && earned != Err(NoCommission::OutsideSpan) {
                continue;
            }
            for e in reconcile(&pay(i), earned, 30, &written[i]) {
                written[i].push((e.key, e.amount));
            }
        }
    }
    written
        .iter()
        .map(|w| w.iter().map(|(_, a)| a).sum())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn first_n_payments_net_as_in_the_natural_order_whatever_arrives_first(s in series()) {
        let natural: Vec<usize> = (0..s.amounts.len()).collect();
        let expected = settle_series(&s, &natural);
        let got = settle_series(&s, &s.arrival);
        prop_assert_eq!(&got, &expected);
        // In the natural order exactly the first N earn.
        for (i, net) in expected.iter().enumerate() {
            prop_assert_eq!(*net > 0, (i as u32) < s.first_n && share(s.amounts[i], s.bps) > 0);
        }
    }
}
