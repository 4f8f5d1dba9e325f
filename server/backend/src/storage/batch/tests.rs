//! Unit tests of the pure parts: waves, keys, rows.

use super::*;
use crate::chargebee::{CbCustomer, CbSubscription, CbTransaction};

pub(crate) fn org() -> OrgId {
    OrgId::from_trusted("org_test")
}

pub(crate) fn active_subscription(id: &str) -> CbSubscription {
    CbSubscription {
        id: id.into(),
        customer_id: None,
        plan_key: None,
        plan_item_id: None,
        status: "active".into(),
        mrr: None,
        currency: None,
        current_term_start: None,
        current_term_end: None,
        version: 1,
    }
}

#[test]
pub(crate) fn render_numbers_placeholders_across_rows() {
    let s = Stmt {
        head: "INSERT INTO t VALUES ",
        row: "(?, (SELECT ? + 1), 'x')",
        tail: " ON CONFLICT DO NOTHING",
        all_rows: None,
    };
    assert_eq!(s.width(), 2);
    assert_eq!(
        s.render(2),
        "INSERT INTO t VALUES ($1, (SELECT $2 + 1), 'x'), ($3, (SELECT $4 + 1), 'x') ON CONFLICT DO NOTHING"
    );
}

#[test]
pub(crate) fn chunks_are_powers_of_two_that_add_up() {
    for n in 0..300 {
        let c = chunks(n);
        assert_eq!(c.iter().sum::<usize>(), n);
        assert!(c.iter().all(|s| s.is_power_of_two() && *s <= MAX_ROWS));
        assert!(c.windows(2).all(|w| w[0] >= w[1]));
    }
    assert_eq!(chunks(37), vec![32, 4, 1]);
    assert_eq!(
        (padded(1), padded(29), padded(64), padded(65)),
        (1, 32, 64, 128)
    );
    assert_eq!(chunks(padded(100)), vec![64, 64]);
    assert_eq!(chunks(130), vec![64, 64, 2]);
}

pub(crate) fn keys(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|k| k.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
pub(crate) fn waves_hold_back_events_that_share_a_key_and_keep_their_order() {
    // 0 and 1 share a; 2 shares b with held-back 1, so it waits too; 3 is free.
    let k = keys(&[&["a"], &["a", "b"], &["b"], &["c"], &[]]);
    let (wave, rest) = next_wave(&[0, 1, 2, 3, 4], &k);
    assert_eq!(wave, vec![0, 3, 4]);
    assert_eq!(rest, vec![1, 2]);
    let (wave, rest) = next_wave(&rest, &k);
    assert_eq!(wave, vec![1]);
    assert_eq!(rest, vec![2]);
    assert_eq!(next_wave(&rest, &k), (vec![2], vec![]));
}

pub(crate) fn payment(txn: &str, key: &str) -> BillingEvent {
    BillingEvent::PaymentSucceeded {
        txn: CbTransaction {
            id: txn.into(),
            amount: 100,
            currency: "USD".into(),
            date: 1,
            subscription_id: None,
            invoice_id: None,
            customer_id: Some(format!("cb_{key}")),
            ..Default::default()
        },
        customer: CbCustomer {
            id: Some(format!("cb_{key}")),
            customer_key: Some(key.into()),
            partner_key: Some("p1".into()),
            ..Default::default()
        },
    }
}

#[test]
pub(crate) fn re_deliveries_and_shared_customers_fall_into_later_waves() {
    let org = org();
    let event = |id: &str| NewEvent {
        id: format!("evt_{id}"),
        event_id: Some(id.into()),
        event_type: Some("payment_succeeded".into()),
        occurred_at: Some(1),
        received_at: 2,
        payload: "{}".into(),
        refusal: None,
        card_data: false,
    };
    let (e1, e2, e3) = (event("ev_1"), event("ev_1"), event("ev_2"));
    let item = |e, billing| Item {
        org: &org,
        row: Row::New(e),
        billing: Cow::Owned(billing),
        now: 2,
        origin: 0,
    };
    let items = [
        item(&e1, payment("t1", "k1")),
        item(&e2, payment("t1", "k1")),
        item(&e3, payment("t2", "k2")),
    ];
    let k: Vec<_> = items.iter().map(Item::keys).collect();
    assert!(k[0].contains(&"org_test:event:ev_1".to_string()));
    assert_eq!(next_wave(&[0, 1, 2], &k), (vec![0, 2], vec![1]));
}

#[test]
pub(crate) fn one_row_is_written_once_per_wave() {
    let org = org();
    let mut w = Writes::default();
    let adjust = |t: &str| Change::AdjustTransaction {
        txn_id: t.into(),
        amount_refunded: 1,
        removed_reason: None,
    };
    assert!(w.claim(&[], written_rows(&org, &[adjust("t1")])));
    let failed = Change::MarkFailed {
        txn_id: "t1".into(),
    };
    assert!(!w.claim(&[], written_rows(&org, &[failed])));
    assert!(w.claim(&[], written_rows(&org, &[adjust("t2")])));
    // A customer changed earlier in the wave cannot be read from by a later event.
    let save = Change::SaveCustomer {
        target: CustomerTarget::Existing("cus_x".into()),
        email: None,
        name: None,
        chargebee_id: Some("cb_new".into()),
        partner_key: None,
        version: None,
    };
    assert!(w.claim(&[], written_rows(&org, &[save])));
    let state = State {
        customer_by_chargebee_id: Some(KnownCustomer {
            id: "cus_x".into(),
            key: "k".into(),
            has_partner: true,
            chargebee_id: Some("cb_old".into()),
            version: None,
        }),
        ..State::default()
    };
    assert_eq!(read_rows(&state), vec!["customer:cus_x".to_string()]);
    assert!(!w.claim(&read_rows(&state), vec![]));
}

#[test]
pub(crate) fn every_change_makes_whole_rows_of_its_statement() {
    let org = org();
    let e = NewEvent {
        id: "evt_1".into(),
        event_id: Some("ev_1".into()),
        event_type: None,
        occurred_at: None,
        received_at: 5,
        payload: "{}".into(),
        refusal: None,
        card_data: false,
    };
    let mut w = Writes::default();
    let changes = vec![
        Change::CreatePartner { key: "p".into() },
        Change::CreatePartner { key: "p".into() },
        Change::SaveCustomer {
            target: CustomerTarget::New { key: "k".into() },
            email: None,
            name: None,
            chargebee_id: None,
            partner_key: Some("p".into()),
            version: None,
        },
        Change::SaveCustomer {
            target: CustomerTarget::Existing("cus_2".into()),
            email: Some("a@b.c".into()),
            name: None,
            chargebee_id: None,
            partner_key: None,
            version: Some(3),
        },
        Change::RecordTransaction {
            customer: CustomerTarget::New { key: "k".into() },
            txn: CbTransaction {
                id: "t".into(),
                amount: 1,
                currency: "USD".into(),
                date: 1,
                subscription_id: None,
                invoice_id: None,
                customer_id: None,
                ..Default::default()
            },
            amount_refunded: 0,
            removed_reason: None,
        },
        Change::RecordRefund {
            refund_txn_id: "r".into(),
            original_txn_id: "t".into(),
            amount: 1,
            currency: "USD".into(),
            date: 1,
        },
        Change::AdjustTransaction {
            txn_id: "t".into(),
            amount_refunded: 1,
            removed_reason: None,
        },
        Change::MarkFailed {
            txn_id: "t3".into(),
        },
        Change::UpsertSubscription {
            customer: CustomerTarget::Existing("cus_2".into()),
            subscription: active_subscription("s"),
        },
        Change::DeleteSubscription {
            subscription_id: "s2".into(),
            version: 1,
        },
        Change::ReleaseParked {
            customer_key: "k".into(),
            chargebee_id: None,
        },
        Change::RejectRefunds {
            original_txn_id: "t".into(),
            currency: "USD".into(),
        },
    ];
    let Applied {
        customer_id: customer,
        releases,
    } = w
        .add_changes(&org, changes, 5, Some("cus_owner"), "evt_9")
        .unwrap();
    // The first customer named is the one created.
    assert_eq!(
        customer.as_deref(),
        w.new_customer_ids.values().next().map(String::as_str)
    );
    assert_eq!(
        releases,
        vec![ParkedFor {
            customer_key: "k".into(),
            chargebee_id: None
        }]
    );
    w.record(
        &org,
        &Row::New(&e),
        &BillingEvent::Other,
        Outcome::Processed,
        None,
        customer,
        1,
    );
    w.record(
        &org,
        &Row::Stored("evt_0".into()),
        &BillingEvent::Other,
        Outcome::Ignored,
        Some("why".into()),
        None,
        1,
    );
    w.duplicate(&org, &e, "evt_0", "processed");
    for (stmt, args) in w.in_order() {
        assert!(!args.is_empty(), "{}", stmt.head);
        assert_eq!(args.len() % stmt.width(), 0, "{}", stmt.head);
    }
    // The partner is created once.
    assert_eq!(w.partners.len(), PARTNERS.width());
    assert_eq!(STATE.width(), 10);
    assert_eq!(STATE.width(), STATE_PADDING.len());
    assert_eq!(PARKED.width(), 4);
}

#[test]
pub(crate) fn split_sums_are_put_back_together_exactly_and_never_overflow() {
    assert_eq!(exact_sum(12, 345_678), 12_345_678);
    assert_eq!(exact_sum(0, 0), 0);
    assert_eq!(exact_sum(i64::MAX, i64::MAX), i64::MAX);
    assert_eq!(exact_sum(9_223_372_036_854, 775_807), i64::MAX);
}

#[test]
pub(crate) fn a_transaction_for_a_customer_not_created_in_the_wave_is_an_error() {
    let org = org();
    let mut w = Writes::default();
    let err = w
        .add_changes(
            &org,
            vec![Change::MarkFailed { txn_id: "t".into() }, {
                Change::UpsertSubscription {
                    customer: CustomerTarget::New {
                        key: "nobody".into(),
                    },
                    subscription: active_subscription("s"),
                }
            }],
            1,
            None,
            "evt_1",
        )
        .unwrap_err();
    assert!(err.contains("nobody"), "{err}");
}
