//! What other terms would have paid over past payments, next to what their entries say was
//! earned. Pure: the storage reads the payments, this computes.

use super::{commission_on, target, History, Payment, Terms};
use shared::model::PreviewLine;

/// A past payment, with the sum of the entries it has.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewPayment {
    pub payment: Payment,
    pub history: History,
    /// What its entries sum to (commission less clawbacks and reversals).
    pub earned: i64,
    /// Whether a partner's own terms were in force for it.
    pub overridden: bool,
}

/// The outcome: per currency, and how many payments it covers and leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreviewTotals {
    pub lines: Vec<PreviewLine>,
    pub payments: i64,
    pub left_out: i64,
}

/// `terms` applied to each payment as settling would (refunds and failures included), summed
/// per currency next to what was earned. A change of the organization's default
/// (`default_change`) does not reach payments under a partner's own terms: those are left out
/// of both sides and counted in `left_out`.
pub fn preview(payments: &[PreviewPayment], terms: &Terms, default_change: bool) -> PreviewTotals {
    let mut out = PreviewTotals::default();
    for p in payments {
        if default_change && p.overridden {
            out.left_out += 1;
            continue;
        }
        out.payments += 1;
        let commission = commission_on(terms, &p.payment, p.history).ok();
        let proposed: i128 = target(&p.payment, commission, terms.hold_days)
            .iter()
            .map(|e| i128::from(e.amount))
            .sum();
        let line = match out
            .lines
            .iter_mut()
            .position(|l| l.currency == p.payment.currency)
        {
            Some(i) => &mut out.lines[i],
            None => {
                out.lines.push(PreviewLine {
                    currency: p.payment.currency.clone(),
                    payments: 0,
                    proposed: 0,
                    actual: 0,
                });
                out.lines.last_mut().expect("just pushed")
            }
        };
        line.payments += 1;
        line.proposed += proposed;
        line.actual += i128::from(p.earned);
    }
    out.lines.sort_by(|a, b| a.currency.cmp(&b.currency));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commission::{Refund, Span};

    fn paid(id: &str, amount: i64, currency: &str, earned: i64) -> PreviewPayment {
        PreviewPayment {
            payment: Payment {
                txn_id: id.into(),
                amount,
                currency: currency.into(),
                occurred_at: 1_000,
                plan_key: None,
                refunds: vec![],
                failed: false,
            },
            history: History {
                first_payment_at: 1_000,
                ordinal: 1,
            },
            earned,
            overridden: false,
        }
    }

    #[test]
    fn other_terms_are_summed_per_currency_next_to_what_was_earned() {
        let mut refunded = paid("t2", 10_000, "USD", 500);
        refunded.payment.refunds.push(Refund {
            id: "r".into(),
            amount: 5_000,
            occurred_at: 2_000,
        });
        let mut failed = paid("t3", 10_000, "USD", 0);
        failed.payment.failed = true;
        let payments = [
            paid("t1", 10_000, "USD", 1_000),
            refunded,
            failed,
            paid("t4", 3_000, "EUR", 300),
        ];
        let totals = preview(&payments, &Terms::percent(2_000), false);
        assert_eq!(totals.payments, 4);
        assert_eq!(
            totals.lines,
            [
                PreviewLine {
                    currency: "EUR".into(),
                    payments: 1,
                    proposed: 600,
                    actual: 300
                },
                PreviewLine {
                    currency: "USD".into(),
                    payments: 3,
                    // 2,000 for t1; 2,000 − 1,000 for half of t2 refunded; nothing for t3.
                    proposed: 3_000,
                    actual: 1_500
                },
            ]
        );
    }

    #[test]
    fn a_default_change_leaves_out_payments_under_a_partners_own_terms() {
        let mut own = paid("t2", 10_000, "USD", 5_000);
        own.overridden = true;
        let payments = [paid("t1", 10_000, "USD", 1_000), own];
        let totals = preview(&payments, &Terms::percent(1_000), true);
        assert_eq!((totals.payments, totals.left_out), (1, 1));
        assert_eq!(totals.lines[0].actual, 1_000);
        // A partner's own terms reach all of its payments.
        let totals = preview(&payments, &Terms::percent(1_000), false);
        assert_eq!((totals.payments, totals.left_out), (2, 0));
        assert_eq!(totals.lines[0].proposed, 2_000);
    }

    #[test]
    fn the_span_of_the_terms_applies_as_it_would_have() {
        let mut second = paid("t2", 10_000, "USD", 0);
        second.history.ordinal = 2;
        let payments = [paid("t1", 10_000, "USD", 0), second];
        let mut terms = Terms::percent(1_000);
        terms.span = Span::Payments(1);
        assert_eq!(preview(&payments, &terms, false).lines[0].proposed, 1_000);
    }
}
