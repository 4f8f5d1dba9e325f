//! The commission ledger over HTTP: terms through the REST API, entries written by webhook
//! deliveries in the transaction that records the payment, balances, and tenant isolation.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The payment helpers' times (Chargebee sends seconds).
const PAID_AT: i64 = 1_700_000_100_000;
const DAY: i64 = 86_400_000;

async fn put_terms(org: &TestOrg, path: &str, terms: Value) -> Value {
    let (s, body) = org.send(Method::PUT, path, Some(terms)).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Sets the organization's default terms: `bps` of every payment, in force since 1970.
async fn default_terms(org: &TestOrg, bps: u32) {
    put_terms(
        org,
        "/commission-terms",
        json!({"rate_bps": bps, "effective_from": 0}),
    )
    .await;
}

/// Delivers a payment of `amount` by customer `customer` (of `partner`) and expects a 200.
async fn pay(
    org: &TestOrg,
    ev: &str,
    txn: &str,
    amount: i64,
    customer: &str,
    partner: Option<&str>,
) {
    org.deliver_ok(&payment_succeeded(ev, txn, amount, Some(customer), partner))
        .await;
}

/// (kind, amount, currency, status, transaction) of every entry, by kind then oldest first.
async fn entries(org: &TestOrg, query: &str) -> Vec<(String, i64, String, String, String)> {
    let (s, body) = org.get(&format!("/commissions{query}")).await;
    assert_eq!(s, 200, "{body}");
    let mut out: Vec<(String, i64, String, String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["amount"].as_i64().unwrap(),
                e["currency"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                e["transaction_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.reverse();
    // The payment helpers date refunds like payments: entries of one time come by kind.
    out.sort_by_key(|e| match e.0.as_str() {
        "commission" => 0,
        "clawback" => 1,
        _ => 2,
    });
    out
}

/// An approved USD entry of `txn`.
fn entry_of(kind: &str, amount: i64, txn: &str) -> (String, i64, String, String, String) {
    (
        kind.into(),
        amount,
        "USD".into(),
        "approved".into(),
        txn.into(),
    )
}

fn entry(kind: &str, amount: i64, status: &str) -> (String, i64, String, String, String) {
    (
        kind.into(),
        amount,
        "USD".into(),
        status.into(),
        "txn_1".into(),
    )
}

/// The stored id of the event Chargebee sent as `event_id`.
async fn event_row(org: &TestOrg, event_id: &str) -> String {
    let (s, e) = org.get(&format!("/webhook-events/{event_id}")).await;
    assert_eq!(s, 200, "{e}");
    e["id"].as_str().unwrap().to_string()
}

both_backends!(
    each_entry_names_the_event_that_recorded_its_payment_or_refund,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 2000).await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        // A copy of the payment under another event id, then the refund: the commission keeps
        // the event that first recorded its payment, the clawback names the refund's event.
        pay(&org, "ev_1_again", "txn_1", 10_000, "c1", Some("p1")).await;
        org.deliver_ok(&payment_refunded("ev_r", "re_1", "txn_1", 10_000, "c1"))
            .await;
        let (s, body) = org.get("/commissions?partner=p1").await;
        assert_eq!(s, 200, "{body}");
        let by_kind = |kind: &str| -> Value {
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == kind)
                .unwrap_or_else(|| panic!("no {kind} in {body}"))["webhook_event_id"]
                .clone()
        };
        let (paid, refunded) = (event_row(&org, "ev_1").await, event_row(&org, "ev_r").await);
        assert_ne!(paid, refunded);
        assert_eq!(by_kind("commission"), json!(paid));
        assert_eq!(by_kind("clawback"), json!(refunded));
        // The partner page links each entry to that event.
        let member = app.signed_in(&org.email, PASSWORD).await;
        let html = member
            .get(app.url("/partners/p1"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for row in [&paid, &refunded] {
            assert!(
                html.contains(&format!("href=\"/events/{row}\"")),
                "no link to {row}"
            );
        }
    }
);

both_backends!(
    a_referred_payment_earns_the_default_commission_and_a_partial_refund_claws_back_its_share,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let terms = put_terms(
            &org,
            "/commission-terms",
            json!({"rate_bps": 2000, "duration": {"months": 12}, "hold_days": 30, "effective_from": 0}),
        )
        .await;
        assert_eq!(
            terms["description"],
            "20 % of every payment for 12 months after the first payment, payable after 30 days"
        );
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        // The hold ended long ago (the payment occurred in 2023): payable.
        assert_eq!(
            entries(&org, "").await,
            [entry("commission", 2000, "approved")]
        );
        org.deliver_ok(&payment_refunded("ev_r", "re_1", "txn_1", 2500, "c1"))
            .await;
        assert_eq!(
            entries(&org, "").await,
            [
                entry("commission", 2000, "approved"),
                entry("clawback", -500, "approved")
            ]
        );
        let (s, balance) = org.get("/partners/p1/balance").await;
        assert_eq!(s, 200);
        assert_eq!(
            balance,
            json!({"data": [{"currency": "USD", "pending": 0, "approved": 1500, "paid": 0, "clawed_back": 500}], "converted": null})
        );
        // The partner carries its earnings per currency, on its own and in the list.
        let (_, partner) = org.get("/partners/p1").await;
        assert_eq!(
            partner["earnings"],
            json!([{"currency": "USD", "amount": 1500}])
        );
        let (_, list) = org.get("/partners").await;
        assert_eq!(list["data"][0]["earnings"], partner["earnings"]);
        // A second copy of the refund changes nothing.
        org.deliver_ok(&payment_refunded("ev_r", "re_1", "txn_1", 2500, "c1"))
            .await;
        assert_eq!(entries(&org, "").await.len(), 2);
    }
);

both_backends!(
    a_refund_that_arrives_before_its_payment_gives_the_entries_of_the_natural_order,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 2000).await;
        // The customer exists (so the refund is kept for the payment); the refund comes first.
        let (s, _) = org
            .send(
                Method::POST,
                "/customers",
                Some(json!({"key": "c1", "partner_key": "p1"})),
            )
            .await;
        assert_eq!(s, 201);
        org.deliver_ok(&payment_refunded("ev_r", "re_1", "txn_1", 10_000, "c1"))
            .await;
        assert!(
            entries(&org, "").await.is_empty(),
            "nothing to claw back from yet"
        );
        pay(&org, "ev_1", "txn_1", 10_000, "c1", None).await;
        assert_eq!(
            entries(&org, "").await,
            [
                entry("commission", 2000, "approved"),
                entry("clawback", -2000, "approved")
            ]
        );
    }
);

both_backends!(
    twenty_concurrent_copies_of_a_payment_produce_one_commission,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 1000).await;
        let ev = payment_succeeded("ev_burst", "txn_1", 7000, Some("c1"), Some("p1"));
        let sends = (0..20).map(|_| org.deliver(&ev));
        for r in futures::future::join_all(sends).await {
            assert_eq!(r.status(), 200);
        }
        assert_eq!(
            entries(&org, "").await,
            [entry("commission", 700, "approved")]
        );
    }
);

both_backends!(
    a_late_payment_is_paid_under_the_terms_in_force_when_it_occurred,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 1000).await;
        // Raised a day after the payment occurred, before it arrives.
        let after = PAID_AT + DAY;
        let terms = put_terms(
            &org,
            "/commission-terms",
            json!({"rate_bps": 3000, "effective_from": after}),
        )
        .await;
        assert_eq!(terms["terms"]["rate_bps"], 3000);
        assert_eq!(terms["versions"].as_array().unwrap().len(), 2);
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        assert_eq!(
            entries(&org, "").await,
            [entry("commission", 1000, "approved")]
        );
    }
);

both_backends!(
    a_partner_override_replaces_the_default_until_it_is_removed,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 1000).await;
        let (s, _) = org
            .send(
                Method::POST,
                "/partners",
                Some(json!({"key": "p1", "name": "Partner One"})),
            )
            .await;
        assert_eq!(s, 201);
        let flat = put_terms(
            &org,
            "/partners/p1/commission-terms",
            json!({"flat_amount": 500, "currency": "USD", "effective_from": 0}),
        )
        .await;
        assert_eq!(
            flat["description"],
            "5.00 USD per payment for the customer's lifetime, payable after 30 days"
        );
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        assert_eq!(
            entries(&org, "?partner=p1").await,
            [entry("commission", 500, "approved")]
        );
        let (s, removed) = org
            .send(Method::DELETE, "/partners/p1/commission-terms", None)
            .await;
        assert_eq!(s, 200, "{removed}");
        assert_eq!(removed["terms"], Value::Null);
        // The default applies again to payments that occur from now on.
        let (_, default) = org.get("/partners/p1/commission-terms").await;
        assert_eq!(default["terms"], Value::Null);
        // Filters: by customer and by status.
        assert_eq!(entries(&org, "?customer=c1&status=approved").await.len(), 1);
        assert!(entries(&org, "?status=pending").await.is_empty());
        assert!(entries(&org, "?customer=nobody").await.is_empty());
    }
);

both_backends!(
    without_terms_payments_earn_nothing_and_bad_terms_are_refused_naming_the_field,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        assert!(entries(&org, "").await.is_empty());
        let (s, none) = org.get("/commission-terms").await;
        assert_eq!((s, none["terms"].clone()), (200, Value::Null));
        for (body, field) in [
            (json!({"rate_bps": 10_001}), "rate_bps"),
            (json!({"flat_amount": 500}), "currency"),
            (
                json!({"rate_bps": 100, "duration": {"months": 0}}),
                "duration",
            ),
            (json!({}), "rate_bps"),
        ] {
            let (s, err) = org
                .send(Method::PUT, "/commission-terms", Some(body.clone()))
                .await;
            assert_eq!(s, 422, "{body}: {err}");
            assert_eq!(err["error"]["fields"][0]["field"], field, "{body}: {err}");
        }
        // Not JSON of the right shape: a 4xx, never a 5xx.
        let (s, _) = org
            .send(
                Method::PUT,
                "/commission-terms",
                Some(json!({"rate_bps": "lots"})),
            )
            .await;
        assert!((400..500).contains(&s), "{s}");
        let (s, _) = org.get("/commissions?status=owed").await;
        assert_eq!(s, 422);
        let (s, _) = org.get("/commissions?limit=0").await;
        assert_eq!(s, 422);
    }
);

both_backends!(
    another_tenants_partner_terms_and_balance_answer_404_like_missing_ones,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let acme = app.org("Acme").await;
        let other = app.org("Other").await;
        default_terms(&acme, 2000).await;
        pay(&acme, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        for path in [
            "/partners/p1/balance",
            "/partners/p1/commission-terms",
            "/partners/nobody/balance",
        ] {
            let (s, body) = other.get(path).await;
            assert_eq!(s, 404, "{path}: {body}");
        }
        let (s, _) = other
            .send(
                Method::PUT,
                "/partners/p1/commission-terms",
                Some(json!({"rate_bps": 1})),
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = other
            .send(Method::DELETE, "/partners/p1/commission-terms", None)
            .await;
        assert_eq!(s, 404);
        // Neither the other tenant's entries nor its terms show.
        assert!(entries(&other, "").await.is_empty());
        assert!(entries(&other, "?partner=p1").await.is_empty());
        let (_, terms) = other.get("/commission-terms").await;
        assert_eq!(terms["terms"], Value::Null);
        assert_eq!(entries(&acme, "").await.len(), 1);
    }
);

/// `event` as sent for another Chargebee customer (the helpers all use `cb_cus_1`).
/// A payout run's statements as (partner, currency, amount, entries).
fn statements(run: &Value) -> Vec<(String, String, i64, i64)> {
    run["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["partner_key"].as_str().unwrap().to_string(),
                s["currency"].as_str().unwrap().to_string(),
                s["amount"].as_i64().unwrap(),
                s["entries"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn statement(partner: &str, amount: i64, entries: i64) -> (String, String, i64, i64) {
    (partner.into(), "USD".into(), amount, entries)
}

/// Asks for a payout run of everything payable.
async fn post_run(org: &TestOrg) -> (u16, Value) {
    org.send(
        Method::POST,
        "/payouts",
        Some(json!({"up_to": 4_000_000_000_000i64})),
    )
    .await
}

/// A run is refused when no statement would be positive.
async fn nothing_to_pay(org: &TestOrg) {
    let (s, body) = post_run(org).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to pay"),
        "{body}"
    );
}

async fn run_payout(org: &TestOrg) -> Value {
    let (s, run) = post_run(org).await;
    assert_eq!(s, 201, "{run}");
    run
}

both_backends!(
    a_payout_run_pays_each_positive_total_once_and_carries_the_others_forward,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 2000).await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        // p2's only payment is refunded in full: its total is zero, so nothing is paid.
        let paid = payment_succeeded("ev_2", "txn_2", 5000, Some("c2"), Some("p2"));
        org.deliver_ok(&for_chargebee_customer(paid, "cb_cus_2"))
            .await;
        let refunded = payment_refunded("ev_r", "re_2", "txn_2", 5000, "c2");
        org.deliver_ok(&for_chargebee_customer(refunded, "cb_cus_2"))
            .await;
        let run = run_payout(&org).await;
        assert_eq!(run["status"], "draft");
        assert_eq!(statements(&run), [statement("p1", 2000, 1)]);
        assert_eq!(run["number"], 1);
        let id = run["id"].as_str().unwrap().to_string();
        // One draft at a time.
        let (s, again) = post_run(&org).await;
        assert_eq!(s, 409, "{again}");
        assert!(
            again["error"]["message"]
                .as_str()
                .unwrap()
                .contains("draft"),
            "{again}"
        );
        // The CSV: one row per statement.
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/payouts/{id}/csv", app.address))
            .bearer_auth(&org.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = r.text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "partner_key,partner_name,partner_email,currency,amount,entries,payout_id"
        );
        assert_eq!(lines[1], format!("p1,,,USD,20.00,1,{id}"));
        assert_eq!(lines.len(), 2);
        // Drafts are still approved; paid once marked paid, for good.
        assert_eq!(
            entries(&org, "?partner=p1").await,
            [entry("commission", 2000, "approved")]
        );
        let (s, bad) = org
            .send(
                Method::POST,
                &format!("/payouts/{id}/paid"),
                Some(json!({"reference": " "})),
            )
            .await;
        assert_eq!(s, 422, "{bad}");
        let (s, paid) = org
            .send(
                Method::POST,
                &format!("/payouts/{id}/paid"),
                Some(json!({"reference": "WIRE-1"})),
            )
            .await;
        assert_eq!(s, 200, "{paid}");
        assert_eq!(
            (paid["status"].as_str(), paid["reference"].as_str()),
            (Some("paid"), Some("WIRE-1"))
        );
        assert_eq!(
            entries(&org, "?partner=p1").await,
            [entry("commission", 2000, "paid")]
        );
        for action in ["paid", "cancel"] {
            let (s, _) = org
                .send(
                    Method::POST,
                    &format!("/payouts/{id}/{action}"),
                    Some(json!({"reference": "again"})),
                )
                .await;
            assert_eq!(s, 409, "{action} of a paid run");
        }
        let (_, balance) = org.get("/partners/p1/balance").await;
        assert_eq!(balance["data"][0]["paid"], 2000);
        assert_eq!(balance["data"][0]["approved"], 0);
        // A second run never takes an entry twice.
        nothing_to_pay(&org).await;
        let (s, list) = org.get("/payouts").await;
        assert_eq!(s, 200);
        let list = list["data"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0]["totals"],
            json!([{"currency": "USD", "amount": 2000, "statements": 1}])
        );
    }
);

both_backends!(
    a_clawback_after_a_payout_nets_against_the_next_run,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 2000).await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        let id = run_payout(&org).await["id"].as_str().unwrap().to_string();
        let (s, _) = org
            .send(
                Method::POST,
                &format!("/payouts/{id}/paid"),
                Some(json!({"reference": "WIRE-1"})),
            )
            .await;
        assert_eq!(s, 200);
        // Half refunded after it was paid: the paid entry stays; a clawback of its own.
        org.deliver_ok(&payment_refunded("ev_r", "re_1", "txn_1", 5000, "c1"))
            .await;
        assert_eq!(
            entries(&org, "").await,
            [
                entry("commission", 2000, "paid"),
                entry("clawback", -1000, "approved")
            ]
        );
        let (_, balance) = org.get("/partners/p1/balance").await;
        assert_eq!(balance["data"][0]["approved"], -1000, "{balance}");
        // On its own the clawback is carried forward …
        nothing_to_pay(&org).await;
        // … and nets against the next commission.
        pay(&org, "ev_2", "txn_2", 10_000, "c1", Some("p1")).await;
        assert_eq!(
            statements(&run_payout(&org).await),
            [statement("p1", 1000, 2)]
        );
    }
);

both_backends!(
    a_cancelled_run_frees_its_entries_and_other_tenants_runs_answer_404,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let other = app.org("Other").await;
        default_terms(&org, 2000).await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        let id = run_payout(&org).await["id"].as_str().unwrap().to_string();
        for (method, path) in [
            (Method::GET, format!("/payouts/{id}")),
            (Method::GET, format!("/payouts/{id}/csv")),
            (Method::POST, format!("/payouts/{id}/paid")),
            (Method::POST, format!("/payouts/{id}/cancel")),
        ] {
            let (s, _) = other
                .send(method.clone(), &path, Some(json!({"reference": "x"})))
                .await;
            assert_eq!(s, 404, "{method} {path}");
        }
        let (s, cancelled) = org
            .send(Method::POST, &format!("/payouts/{id}/cancel"), None)
            .await;
        assert_eq!((s, cancelled["status"].as_str()), (200, Some("cancelled")));
        // The cancelled run keeps its statements as a record; its entries go to the next.
        assert_eq!(statements(&cancelled), [statement("p1", 2000, 1)]);
        assert_eq!(
            entries(&org, "?partner=p1").await,
            [entry("commission", 2000, "approved")]
        );
        assert_eq!(
            statements(&run_payout(&org).await),
            [statement("p1", 2000, 1)]
        );
        let (s, _) = org
            .send(Method::POST, "/payouts", Some(json!({"up_to": "tomorrow"})))
            .await;
        assert!((400..500).contains(&s));
    }
);

both_backends!(
    a_failure_of_a_recorded_payment_reverses_its_commission_in_either_order,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        default_terms(&org, 2000).await;
        // Natural order for txn_1; the failure first for txn_2 (another customer).
        pay(&org, "ev_1", "txn_1", 5000, "c1", Some("p1")).await;
        org.deliver_ok(&payment_failed("ev_f1", "txn_1", "c1"))
            .await;
        let failed = for_chargebee_customer(payment_failed("ev_f2", "txn_2", "c2"), "cb_cus_2");
        org.deliver(&failed).await;
        let paid = payment_succeeded("ev_2", "txn_2", 5000, Some("c2"), Some("p2"));
        org.deliver_ok(&for_chargebee_customer(paid, "cb_cus_2"))
            .await;
        for (partner, txn) in [("p1", "txn_1"), ("p2", "txn_2")] {
            let got = entries(&org, &format!("?partner={partner}")).await;
            let kinds: Vec<(&str, i64, &str)> = got
                .iter()
                .map(|e| (e.0.as_str(), e.1, e.4.as_str()))
                .collect();
            assert_eq!(
                kinds,
                [("commission", 1000, txn), ("reversal", -1000, txn)],
                "{partner}"
            );
        }
    }
);

both_backends!(
    terms_for_the_first_payment_only_pay_on_the_customers_first_payment,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        put_terms(
            &org,
            "/commission-terms",
            json!({"rate_bps": 1000, "duration": {"payments": 1}, "effective_from": 0}),
        )
        .await;
        // Delivered in reverse: the first payment (txn_1, same time, earlier id) arrives last.
        pay(&org, "ev_2", "txn_2", 10_000, "c1", Some("p1")).await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        let mut got = entries(&org, "").await;
        got.sort();
        // txn_2 was the customer's first payment when it arrived; txn_1 (same time, earlier id)
        // is first in fact: it earns, and txn_2's commission is reversed.
        assert_eq!(
            got,
            [
                entry_of("commission", 1000, "txn_1"),
                entry_of("commission", 1000, "txn_2"),
                entry_of("reversal", -1000, "txn_2"),
            ]
        );
        // A third payment, later in the order, earns nothing.
        pay(&org, "ev_3", "txn_3", 10_000, "c1", Some("p1")).await;
        assert_eq!(entries(&org, "").await.len(), got.len());
    }
);

both_backends!(
    commissions_stay_in_the_payment_currency_and_the_balance_converts_at_chargebees_rates,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let other = app.org("Other").await;
        default_terms(&org, 1000).await;
        // 40 days ago: past the hold, inside the Overview's 90 days.
        let when = json!(app.state.now() / 1000 - 40 * 86_400);
        let mut usd = payment_succeeded("ev_1", "txn_usd", 10_000, Some("c1"), Some("p1"));
        usd["content"]["transaction"]["date"] = when.clone();
        org.deliver_ok(&usd).await;
        // 90.00 EUR on a USD site where 1 USD buys 0.9 EUR: 100.00 USD.
        let mut eur = payment_succeeded("ev_2", "txn_eur", 9_000, Some("c1"), Some("p1"));
        let t = &mut eur["content"]["transaction"];
        t["date"] = when;
        t["currency_code"] = json!("EUR");
        t["exchange_rate"] = json!(0.9);
        t["base_currency_code"] = json!("USD");
        org.deliver_ok(&eur).await;
        let (s, balance) = org.get("/partners/p1/balance").await;
        assert_eq!(s, 200, "{balance}");
        // Never added under one label: one line per currency …
        assert_eq!(
            balance["data"],
            json!([
                {"currency": "EUR", "pending": 0, "approved": 900, "paid": 0, "clawed_back": 0},
                {"currency": "USD", "pending": 0, "approved": 1000, "paid": 0, "clawed_back": 0}
            ])
        );
        // … and a converted total that says how it was converted.
        assert_eq!(balance["converted"]["currency"], "USD");
        assert_eq!(balance["converted"]["approved"], 2000);
        assert!(balance["converted"]["how"]
            .as_str()
            .unwrap()
            .contains("EUR converted to USD"));
        // So does the partners list, for revenue and earnings.
        let (_, partners) = org.get("/partners").await;
        assert_eq!(
            partners["data"][0]["revenue_converted"]["amount"], 20_000,
            "{partners}"
        );
        assert_eq!(partners["data"][0]["earnings_converted"]["amount"], 2_000);
        // The Overview's revenue also carries its converted total: 100.00 + 90.00 EUR → 200.00.
        let browser = app.signed_in(&org.email, PASSWORD).await;
        let (s, overview) = app.rpc(&browser, "overview", &[]).await;
        assert_eq!(s, 200, "{overview}");
        assert_eq!(overview["converted"]["amount"], 20_000, "{overview}");
        assert_eq!(overview["converted"]["currency"], "USD");
        // A reporting currency no rate converts to: no converted total at all.
        let (s, settings) = org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"reporting_currency": "gbp"})),
            )
            .await;
        assert_eq!(
            (s, settings["reporting_currency"].as_str()),
            (200, Some("GBP"))
        );
        let (_, balance) = org.get("/partners/p1/balance").await;
        assert_eq!(balance["converted"], Value::Null, "{balance}");
        let (s, bad) = org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"reporting_currency": "dollars"})),
            )
            .await;
        assert_eq!(s, 422, "{bad}");
        // Another tenant's setting is its own.
        let (_, theirs) = other.get("/settings").await;
        assert_eq!(theirs["reporting_currency"], "USD");
        // The stored rate is on the transaction.
        let (_, txns) = org.get("/customers/c1/transactions").await;
        let eur = txns["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "txn_eur")
            .cloned()
            .unwrap();
        assert_eq!(
            (
                eur["exchange_rate"].as_str(),
                eur["base_currency_code"].as_str()
            ),
            (Some("0.9"), Some("USD"))
        );
        assert_eq!(eur["commission"], 900);
    }
);

both_backends!(
    a_preview_shows_what_other_terms_would_have_paid_and_writes_nothing,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let other = app.org("Other").await;
        default_terms(&org, 1000).await;
        pay(&org, "ev_1", "txn_1", 10_000, "c1", Some("p1")).await;
        let second = payment_succeeded("ev_2", "txn_2", 5_000, Some("c2"), Some("p2"));
        org.deliver_ok(&for_chargebee_customer(second, "cb_cus_2"))
            .await;
        let refund = payment_refunded("ev_r", "re_2", "txn_2", 2_500, "c2");
        org.deliver_ok(&for_chargebee_customer(refund, "cb_cus_2"))
            .await;
        let before = entries(&org, "").await;
        let period = |terms: Value| json!({"terms": terms, "from": 1_699_000_000_000i64, "to": 1_701_000_000_000i64});
        let (s, p) = org
            .send(
                Method::POST,
                "/commission-terms/preview",
                Some(period(json!({"rate_bps": 2000}))),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        // 20 %: 2,000 on txn_1, and 1,000 less a 500 clawback on txn_2; it earned 1,000 + 250.
        assert_eq!(
            p["lines"],
            json!([{"currency": "USD", "payments": 2, "proposed": 2500, "actual": 1250}])
        );
        assert_eq!(
            (p["payments"].as_i64(), p["left_out"].as_i64()),
            (Some(2), Some(0))
        );
        assert!(p["description"].as_str().unwrap().contains("20"), "{p}");
        assert_eq!(entries(&org, "").await, before, "a preview writes nothing");
        // A partner with its own terms is left out of a change of the default …
        put_terms(
            &org,
            "/partners/p2/commission-terms",
            json!({"rate_bps": 500, "effective_from": 0}),
        )
        .await;
        let (_, p) = org
            .send(
                Method::POST,
                "/commission-terms/preview",
                Some(period(json!({"rate_bps": 2000}))),
            )
            .await;
        assert_eq!(
            (p["payments"].as_i64(), p["left_out"].as_i64()),
            (Some(1), Some(1))
        );
        // … and a preview of its own terms covers only its payments.
        let (s, p) = org
            .send(
                Method::POST,
                "/partners/p2/commission-terms/preview",
                Some(period(json!({"flat_amount": 300, "currency": "USD"}))),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        assert_eq!(
            p["lines"],
            json!([{"currency": "USD", "payments": 1, "proposed": 150, "actual": 250}])
        );
        // Bad periods and terms name their field; another tenant's partner is not found.
        let (s, bad) = org
            .send(
                Method::POST,
                "/commission-terms/preview",
                Some(json!({"terms": {"rate_bps": 2000}, "from": 10, "to": 5})),
            )
            .await;
        assert_eq!(
            (s, bad["error"]["fields"][0]["field"].as_str()),
            (422, Some("to"))
        );
        let (s, _) = org
            .send(
                Method::POST,
                "/commission-terms/preview",
                Some(period(json!({"rate_bps": 20000}))),
            )
            .await;
        assert_eq!(s, 422);
        let (s, _) = other
            .send(
                Method::POST,
                "/partners/p2/commission-terms/preview",
                Some(period(json!({"rate_bps": 2000}))),
            )
            .await;
        assert_eq!(s, 404);
        let (_, theirs) = other
            .send(
                Method::POST,
                "/commission-terms/preview",
                Some(period(json!({"rate_bps": 2000}))),
            )
            .await;
        assert_eq!(theirs["payments"], 0, "{theirs}");
    }
);

both_backends!(
    commissions_and_transactions_export_as_streamed_csv_filtered_and_per_tenant,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let other = app.org("Other").await;
        default_terms(&org, 2000).await;
        // More than one page (500 rows) of each, so the stream really pages.
        for n in 0..260 {
            let txn = format!("txn_{n:03}");
            pay(&org, &format!("ev_{n}"), &txn, 1_000 + n, "c1", Some("p1")).await;
            org.deliver_ok(&payment_refunded(
                &format!("ev_r{n}"),
                &format!("re_{n:03}"),
                &txn,
                100,
                "c1",
            ))
            .await;
        }
        let csv = |path: String, key: String| async move {
            let r = reqwest::Client::new()
                .get(path)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let kind = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (status, kind, r.text().await.unwrap())
        };
        let (s, kind, text) = csv(
            format!("{}/api/v1/commissions/csv?partner=p1", app.address),
            org.api_key.clone(),
        )
        .await;
        assert_eq!(s, 200);
        assert!(kind.unwrap().starts_with("text/csv"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "id,occurred_at,partner_key,customer_key,transaction_id,kind,currency,amount,status,payable_at,payout_id,webhook_event_id"
        );
        // 260 commissions and 260 clawbacks, each once.
        assert_eq!(lines.len(), 1 + 520);
        let ids: std::collections::HashSet<&str> = lines[1..]
            .iter()
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(ids.len(), 520);
        assert!(
            lines.iter().any(|l| l.contains(",clawback,USD,-0.20,")),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("2023-11-14T22:15:00Z"), "{}", lines[1]);
        // Filtered by status as on the page; a bad status is a 422 before any row.
        let (s, _, pending) = csv(
            format!("{}/api/v1/commissions/csv?status=pending", app.address),
            org.api_key.clone(),
        )
        .await;
        assert_eq!((s, pending.lines().count()), (200, 1));
        let (s, _, _) = csv(
            format!("{}/api/v1/commissions/csv?status=unpaid", app.address),
            org.api_key.clone(),
        )
        .await;
        assert_eq!(s, 422);
        let (s, _, text) = csv(
            format!("{}/api/v1/transactions/csv?customer=c1", app.address),
            org.api_key.clone(),
        )
        .await;
        assert_eq!(s, 200);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 260);
        assert!(lines[0].starts_with("transaction_id,occurred_at,customer_key,partner_key,currency,amount,refunded,net,status,commission"));
        assert!(
            lines[1].starts_with(
                "txn_000,2023-11-14T22:15:00Z,c1,p1,USD,10.00,1.00,9.00,partially refunded,1.80,"
            ),
            "{}",
            lines[1]
        );
        // Another tenant sees none of it.
        for path in [
            "/api/v1/commissions/csv",
            "/api/v1/transactions/csv?customer=c1",
        ] {
            let (s, _, text) = csv(format!("{}{path}", app.address), other.api_key.clone()).await;
            assert_eq!((s, text.lines().count()), (200, 1), "{path}");
        }
        // The dashboard's downloads need a session, and send a visitor to sign in.
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/exports/commissions.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login?next=/partners");
        let browser = app.signed_in(&org.email, PASSWORD).await;
        let r = browser
            .get(app.url("/exports/commissions.csv?customer=c1&status=approved"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("commissions.csv"));
        assert_eq!(r.text().await.unwrap().lines().count(), 1 + 520);
        let run = run_payout(&org).await;
        let id = run["id"].as_str().unwrap();
        let r = browser
            .get(app.url(&format!("/exports/payouts/{id}.csv")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!(
                "p1,,,USD,{},520,{id}",
                run["statements"][0]["amount"]
                    .as_i64()
                    .map(|a| format!("{}.{:02}", a / 100, a % 100))
                    .unwrap()
            )
        );
        // Another tenant's member cannot download this run.
        let theirs = app.signed_in(&other.email, PASSWORD).await;
        let r = theirs
            .get(app.url(&format!("/exports/payouts/{id}.csv")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
);

both_backends!(
    an_earlier_payment_arriving_late_takes_the_first_payment_commission_from_a_later_one,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        put_terms(
            &org,
            "/commission-terms",
            json!({"rate_bps": 1000, "duration": {"payments": 1}, "effective_from": 0}),
        )
        .await;
        let on = |ev: &str, txn: &str, date: i64| {
            let mut e = payment_succeeded(ev, txn, 10_000, Some("c1"), Some("p1"));
            e["content"]["transaction"]["date"] = json!(date);
            e
        };
        // The second payment arrives first: as far as anyone knows, it is the first.
        org.deliver_ok(&on("ev_2", "txn_late", 1_700_100_000)).await;
        assert_eq!(entries(&org, "").await.len(), 1);
        // Then the real first payment: it earns, and the other one's commission is reversed.
        org.deliver_ok(&on("ev_1", "txn_early", 1_700_000_000))
            .await;
        let (_, body) = org.get("/commissions").await;
        let mut got: Vec<(String, String, i64)> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["transaction_id"].as_str().unwrap().to_string(),
                    e["kind"].as_str().unwrap().to_string(),
                    e["amount"].as_i64().unwrap(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("txn_early".into(), "commission".into(), 1000),
                ("txn_late".into(), "commission".into(), 1000),
                ("txn_late".into(), "reversal".into(), -1000),
            ]
        );
        // Replays change nothing.
        org.deliver_ok(&on("ev_1", "txn_early", 1_700_000_000))
            .await;
        org.deliver_ok(&on("ev_2", "txn_late", 1_700_100_000)).await;
        assert_eq!(entries(&org, "").await.len(), 3);
        let (_, balance) = org.get("/partners/p1/balance").await;
        assert_eq!(balance["data"][0]["approved"], 1000, "{balance}");
    }
);
