//! Chargebee webhook ingestion, driven over HTTP.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    a_payment_is_recorded_under_the_customer_named_in_meta_data,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let body = org
            .deliver_ok(&payment_succeeded(
                "ev_1",
                "txn_1",
                5000,
                Some("cust_1"),
                Some("partner_1"),
            ))
            .await;
        assert_eq!(body["outcome"], "processed");
        let txns = org.transactions("cust_1").await;
        assert_eq!(txns.len(), 1);
        let t = &txns[0];
        assert_eq!(t["id"], "txn_1");
        assert_eq!(t["amount"], 5000);
        assert_eq!(t["amount_refunded"], 0);
        assert_eq!(t["net_amount"], 5000);
        assert_eq!(t["currency"], "USD");
        assert_eq!(t["occurred_at"], 1_700_000_100_000i64);
        assert_eq!(t["subscription_id"], "sub_1");
        assert_eq!(t["invoice_id"], "inv_1");
        // The customer was created and attributed to a partner created from the webhook.
        let (_, c) = org.get("/customers/cust_1").await;
        assert_eq!(c["partner_key"], "partner_1");
        assert_eq!(c["chargebee_customer_id"], "cb_cus_1");
        let (_, p) = org.get("/partners").await;
        assert_eq!(p["data"][0]["key"], "partner_1");
        assert_eq!(p["data"][0]["auto_created"], true);
    }
);

both_backends!(
    a_redelivered_event_answers_200_and_changes_nothing,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let ev = payment_succeeded("ev_dup", "txn_1", 5000, Some("cust_1"), Some("p1"));
        org.deliver_ok(&ev).await;
        let again = org.deliver_ok(&ev).await;
        assert_eq!(again["outcome"], "duplicate");
        assert_eq!(org.transactions("cust_1").await.len(), 1);
        let (_, events) = org.get("/webhook-events?outcome=duplicate").await;
        assert_eq!(events["data"].as_array().unwrap().len(), 1);
    }
);

both_backends!(
    concurrent_duplicate_deliveries_produce_exactly_one_ledger_change,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let ev = payment_succeeded("ev_burst", "txn_burst", 7000, Some("cust_1"), Some("p1"));
        let sends = (0..16).map(|_| org.deliver(&ev));
        let responses = futures::future::join_all(sends).await;
        let mut outcomes = vec![];
        for r in responses {
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            outcomes.push(body["outcome"].as_str().unwrap().to_string());
        }
        assert_eq!(
            outcomes.iter().filter(|o| *o == "processed").count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 15);
        assert_eq!(org.transactions("cust_1").await.len(), 1);
    }
);

both_backends!(a_full_refund_removes_the_transaction, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    org.deliver_ok(&payment_succeeded(
        "ev_1",
        "txn_1",
        5000,
        Some("cust_1"),
        Some("p1"),
    ))
    .await;
    org.deliver_ok(&payment_refunded("ev_2", "txn_r1", "txn_1", 5000, "cust_1"))
        .await;
    assert!(org.transactions("cust_1").await.is_empty());
});

both_backends!(
    a_partial_refund_keeps_the_transaction_with_its_net_amount,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        org.deliver_ok(&payment_refunded("ev_2", "txn_r1", "txn_1", 1500, "cust_1"))
            .await;
        let txns = org.transactions("cust_1").await;
        assert_eq!(txns.len(), 1);
        assert_eq!(txns[0]["amount_refunded"], 1500);
        assert_eq!(txns[0]["net_amount"], 3500);
        // A second partial refund that completes it removes the transaction.
        org.deliver_ok(&payment_refunded("ev_3", "txn_r2", "txn_1", 3500, "cust_1"))
            .await;
        assert!(org.transactions("cust_1").await.is_empty());
    }
);

both_backends!(
    a_refund_without_refunded_txn_id_uses_the_invoice_linked_payment,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        let mut refund = payment_refunded("ev_2", "txn_r1", "txn_1", 1000, "cust_1");
        refund["content"]["transaction"]
            .as_object_mut()
            .unwrap()
            .remove("refunded_txn_id");
        org.deliver_ok(&refund).await;
        assert_eq!(org.transactions("cust_1").await[0]["amount_refunded"], 1000);
    }
);

both_backends!(
    a_refund_that_arrives_before_its_payment_is_not_undone_by_the_late_payment,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let early = org
            .deliver_ok(&payment_refunded("ev_2", "txn_r1", "txn_1", 5000, "cust_1"))
            .await;
        assert_eq!(early["outcome"], "processed");
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        assert!(
            org.transactions("cust_1").await.is_empty(),
            "refunded payment came back"
        );
    }
);

both_backends!(
    a_failure_removes_a_recorded_payment_and_is_remembered_when_early,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        org.deliver_ok(&payment_failed("ev_2", "txn_1", "cust_1"))
            .await;
        assert!(org.transactions("cust_1").await.is_empty());
        // Failure first, then the payment: stays removed.
        org.deliver_ok(&payment_failed("ev_3", "txn_2", "cust_1"))
            .await;
        org.deliver_ok(&payment_succeeded(
            "ev_4",
            "txn_2",
            5000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        assert!(org.transactions("cust_1").await.is_empty());
        // A failure of an unknown transaction changes nothing else.
        org.deliver_ok(&payment_succeeded(
            "ev_5",
            "txn_3",
            900,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        assert_eq!(org.transactions("cust_1").await.len(), 1);
    }
);

both_backends!(
    subscriptions_are_upserted_and_older_events_do_not_overwrite_newer_state,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&subscription_event(
            "ev_1",
            "subscription_created",
            "sub_1",
            "basic",
            1_700_000_000_000,
            "cust_1",
            Some("p1"),
        ))
        .await;
        org.deliver_ok(&subscription_event(
            "ev_3",
            "subscription_changed",
            "sub_1",
            "pro",
            1_700_000_300_000,
            "cust_1",
            None,
        ))
        .await;
        // Older change arrives late.
        let late = org
            .deliver_ok(&subscription_event(
                "ev_2",
                "subscription_changed",
                "sub_1",
                "basic",
                1_700_000_200_000,
                "cust_1",
                None,
            ))
            .await;
        assert_eq!(late["outcome"], "ignored");
        let (_, subs) = org.get("/customers/cust_1/subscriptions").await;
        assert_eq!(subs["data"].as_array().unwrap().len(), 1);
        assert_eq!(subs["data"][0]["plan_key"], "pro");
        assert_eq!(subs["data"][0]["plan_name"], Value::Null);
        assert_eq!(subs["data"][0]["mrr"], 4900);
        // A subscription never creates a transaction.
        assert!(org.transactions("cust_1").await.is_empty());
        // With a plan set up, its name shows.
        let (s, _) = org
            .send(
                reqwest::Method::POST,
                "/plans",
                Some(json!({"key": "pro", "name": "Pro Monthly"})),
            )
            .await;
        assert_eq!(s, 201);
        let (_, subs) = org.get("/customers/cust_1/subscriptions").await;
        assert_eq!(subs["data"][0]["plan_name"], "Pro Monthly");
        // Cancelled, then deleted.
        org.deliver_ok(&subscription_event(
            "ev_4",
            "subscription_cancelled",
            "sub_1",
            "pro",
            1_700_000_400_000,
            "cust_1",
            None,
        ))
        .await;
        let (_, subs) = org.get("/customers/cust_1/subscriptions").await;
        assert_eq!(subs["data"][0]["status"], "cancelled");
        org.deliver_ok(&subscription_event(
            "ev_5",
            "subscription_deleted",
            "sub_1",
            "pro",
            1_700_000_500_000,
            "cust_1",
            None,
        ))
        .await;
        let (_, subs) = org.get("/customers/cust_1/subscriptions").await;
        assert!(subs["data"].as_array().unwrap().is_empty());
        // A late re-activation older than the deletion does not bring it back.
        let late = org
            .deliver_ok(&subscription_event(
                "ev_6",
                "subscription_reactivated",
                "sub_1",
                "pro",
                1_700_000_450_000,
                "cust_1",
                None,
            ))
            .await;
        assert_eq!(late["outcome"], "ignored");
    }
);

both_backends!(
    product_catalog_2_subscriptions_use_the_plan_item_price,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let mut ev = subscription_event(
            "ev_1",
            "subscription_created",
            "sub_9",
            "unused",
            1_700_000_000_000,
            "cust_1",
            Some("p1"),
        );
        let sub = ev["content"]["subscription"].as_object_mut().unwrap();
        sub.remove("plan_id");
        sub.insert("subscription_items".into(), json!([
        {"item_price_id": "seats-USD-monthly", "item_type": "addon", "quantity": 3, "object": "subscription_item"},
        {"item_price_id": "growth-USD-monthly", "item_type": "plan", "quantity": 1, "unit_price": 4900, "object": "subscription_item"}
    ]));
        org.deliver_ok(&ev).await;
        let (_, subs) = org.get("/customers/cust_1/subscriptions").await;
        assert_eq!(subs["data"][0]["plan_key"], "growth-USD-monthly");
    }
);

both_backends!(
    an_unmatched_payment_is_parked_and_applied_when_the_customer_is_created,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let parked = org
            .deliver_ok(&payment_succeeded(
                "ev_1",
                "txn_1",
                5000,
                Some("cust_later"),
                None,
            ))
            .await;
        assert_eq!(parked["outcome"], "unmatched");
        assert!(parked["detail"].as_str().unwrap().contains("cust_later"));
        let (_, events) = org.get("/webhook-events?outcome=unmatched").await;
        assert_eq!(events["data"].as_array().unwrap().len(), 1);
        // Creating the customer through the API applies the parked event.
        let (status, c) = org
            .send(
                reqwest::Method::POST,
                "/customers",
                Some(json!({"key": "cust_later", "email": "later@example.com"})),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        assert_eq!(c["reconciled_events"], 1);
        assert_eq!(org.transactions("cust_later").await.len(), 1);
        let (_, ev) = org.get("/webhook-events/ev_1").await;
        assert_eq!(ev["outcome"], "processed");
    }
);

both_backends!(
    an_event_without_any_key_is_parked_until_a_customer_event_supplies_it,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let parked = org
            .deliver_ok(&payment_succeeded("ev_1", "txn_1", 5000, None, None))
            .await;
        assert_eq!(parked["outcome"], "unmatched");
        assert!(parked["detail"].as_str().unwrap().contains("customer_key"));
        // The Chargebee customer later gets its keys (customer_changed): the payment is applied.
        let ev = envelope(
            "ev_2",
            "customer_changed",
            1_700_000_300,
            json!({
                "customer": cb_customer("cb_cus_1", Some("cust_1"), Some("p1")),
            }),
        );
        let body = org.deliver_ok(&ev).await;
        assert_eq!(body["outcome"], "processed");
        assert_eq!(org.transactions("cust_1").await.len(), 1);
    }
);

both_backends!(
    customer_keys_are_read_from_hosted_page_custom_fields_and_string_meta_data,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let mut ev = payment_succeeded("ev_1", "txn_1", 5000, None, None);
        ev["content"]["customer"]["cf_customer_id"] = json!("hosted_1");
        ev["content"]["customer"]["cf_partner_key"] = json!("p_hosted");
        org.deliver_ok(&ev).await;
        assert_eq!(org.transactions("hosted_1").await.len(), 1);
        let mut ev = payment_succeeded("ev_2", "txn_2", 700, None, None);
        ev["content"]["customer"]["id"] = json!("cb_cus_2");
        ev["content"]["customer"]["meta_data"] =
            json!("{\"customer_key\":\"str_1\",\"partner_key\":\"p2\"}");
        org.deliver_ok(&ev).await;
        assert_eq!(org.transactions("str_1").await.len(), 1);
    }
);

both_backends!(card_data_is_never_stored, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    org.deliver_ok(&payment_succeeded(
        "ev_1",
        "txn_1",
        5000,
        Some("cust_1"),
        Some("p1"),
    ))
    .await;
    let (status, ev) = org.get("/webhook-events/ev_1").await;
    assert_eq!(status, 200);
    let stored = ev["payload"].to_string();
    assert!(ev["payload"]["content"]["transaction"]["id"] == "txn_1");
    for forbidden in [
        "\"card\":",
        "masked_card_number",
        "masked_number",
        "\"iin\"",
        "last4",
        "expiry_month",
        "411111",
        "1111\"",
    ] {
        assert!(
            !stored.contains(forbidden),
            "stored payload contains {forbidden}: {stored}"
        );
    }
});

both_backends!(
    bad_deliveries_get_a_clear_4xx_and_are_recorded,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let http = reqwest::Client::new();
        // Unknown token: 404 with no hint.
        let r = http
            .post(app.url("/webhooks/chargebee/not-a-real-token"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        // Not JSON.
        let r = http
            .post(&org.webhook_url)
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("not valid JSON"));
        // JSON without id / event_type.
        let r = http
            .post(&org.webhook_url)
            .json(&json!({"event_type": "payment_succeeded"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("`id`"));
        let r = http
            .post(&org.webhook_url)
            .json(&json!({"id": "ev_x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("`event_type`"));
        // v1 webhooks.
        let mut v1 = payment_succeeded("ev_v1", "txn_1", 5000, Some("c"), Some("p"));
        v1["api_version"] = json!("v1");
        let r = http.post(&org.webhook_url).json(&v1).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("only v2 webhooks are supported"));
        // Too large (the default limit is 2 MiB).
        let big = "x".repeat(2 * 1024 * 1024 + 10);
        let r = http.post(&org.webhook_url).body(big).send().await.unwrap();
        assert_eq!(r.status(), 413);
        // Every one of them is visible to the admin as rejected, with the reason.
        let (_, events) = org.get("/webhook-events?outcome=rejected").await;
        let details: Vec<String> = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(details.len(), 5, "{details:?}");
        assert!(details.iter().any(|d| d.contains("only v2")));
        assert!(details.iter().any(|d| d.contains("larger than the limit")));
        let (_, v1_event) = org.get("/webhook-events/ev_v1").await;
        assert_eq!(v1_event["outcome"], "rejected");
        let (s, _) = org.get("/customers/c").await;
        assert_eq!(s, 404, "a rejected event must not change the ledger");
    }
);

both_backends!(basic_auth_is_enforced_when_configured, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    let (s, body) = org
        .send(
            reqwest::Method::PUT,
            "/integrations/chargebee",
            Some(json!({"basic_auth": {"username": "chargebee", "password": "s3cret-pass"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["basic_auth_username"], "chargebee");
    let ev = payment_succeeded("ev_1", "txn_1", 5000, Some("cust_1"), Some("p1"));
    let http = reqwest::Client::new();
    let r = http.post(&org.webhook_url).json(&ev).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(&org.webhook_url)
        .basic_auth("chargebee", Some("wrong"))
        .json(&ev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(&org.webhook_url)
        .basic_auth("chargebee", Some("s3cret-pass"))
        .json(&ev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(org.transactions("cust_1").await.len(), 1);
    // Removing it opens the endpoint again.
    let (s, _) = org
        .send(
            reqwest::Method::PUT,
            "/integrations/chargebee",
            Some(json!({"basic_auth": null})),
        )
        .await;
    assert_eq!(s, 200);
    let r = http
        .post(&org.webhook_url)
        .json(&payment_succeeded("ev_2", "txn_2", 1, Some("cust_1"), None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
});

both_backends!(
    a_rotated_url_keeps_working_for_the_grace_period,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let (s, rotated) = org
            .send(
                reqwest::Method::POST,
                "/integrations/chargebee/rotate",
                None,
            )
            .await;
        assert_eq!(s, 200);
        let new_url = rotated["webhook_url"].as_str().unwrap().to_string();
        assert_ne!(new_url, org.webhook_url);
        let until = rotated["previous_url_valid_until"].as_i64().unwrap();
        let week = 7 * 86_400_000;
        assert!((until - app.state.now() - week).abs() < 60_000);
        let http = reqwest::Client::new();
        let old = http
            .post(&org.webhook_url)
            .json(&payment_succeeded(
                "ev_1",
                "txn_1",
                5000,
                Some("c1"),
                Some("p1"),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(old.status(), 200);
        let new = http
            .post(&new_url)
            .json(&payment_succeeded(
                "ev_2",
                "txn_2",
                5000,
                Some("c1"),
                Some("p1"),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(new.status(), 200);
        assert_eq!(org.transactions("c1").await.len(), 2);
        // Rotating again ends the first URL at once (only one previous URL is kept).
        org.send(
            reqwest::Method::POST,
            "/integrations/chargebee/rotate",
            None,
        )
        .await;
        let first = http
            .post(&org.webhook_url)
            .json(&payment_succeeded("ev_3", "txn_3", 5000, Some("c1"), None))
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 404);
    }
);

both_backends!(
    a_malformed_supported_event_is_kept_as_failed_and_can_be_replayed,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let ev = envelope(
            "ev_bad",
            "payment_succeeded",
            1_700_000_000,
            json!({"customer": cb_customer("cb_1", Some("c1"), Some("p1"))}),
        );
        let body = org.deliver_ok(&ev).await;
        assert_eq!(body["outcome"], "failed");
        let (_, stored) = org.get("/webhook-events/ev_bad").await;
        assert_eq!(stored["outcome"], "failed");
        assert!(stored["detail"].as_str().unwrap().contains("transaction"));
        let (s, replayed) = org
            .send(reqwest::Method::POST, "/webhook-events/ev_bad/replay", None)
            .await;
        assert_eq!(s, 200, "{replayed}");
        assert_eq!(replayed["outcome"], "rejected");
    }
);

both_backends!(other_event_types_are_stored_as_ignored, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    let body = org
        .deliver_ok(&envelope(
            "ev_inv",
            "invoice_generated",
            1_700_000_000,
            json!({"invoice": {"id": "inv_1"}}),
        ))
        .await;
    assert_eq!(body["outcome"], "ignored");
    let (_, ev) = org.get("/webhook-events/ev_inv").await;
    assert_eq!(ev["outcome"], "ignored");
});

both_backends!(
    replaying_a_processed_event_does_not_double_count,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("c1"),
            Some("p1"),
        ))
        .await;
        let (s, r) = org
            .send(reqwest::Method::POST, "/webhook-events/ev_1/replay", None)
            .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(org.transactions("c1").await.len(), 1);
        assert_eq!(org.transactions("c1").await[0]["amount"], 5000);
    }
);

both_backends!(
    events_survive_a_restart_and_redeliveries_after_it_are_duplicates,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let ev = payment_succeeded("ev_1", "txn_1", 5000, Some("c1"), Some("p1"));
        org.deliver_ok(&ev).await;
        let db = app.stop().await.unwrap();
        let app2 = TestApp::spawn_with(test_config(&db.url)).await;
        // Same secret key, same database: same webhook URL and API key work.
        let r = reqwest::Client::new()
            .post(org.webhook_url.replace(
                &format!(":{}", org_port(&org.webhook_url)),
                &format!(":{}", app2.port),
            ))
            .json(&ev)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["outcome"], "duplicate");
        let (s, txns) = api_client(&org.api_key)
            .get(app2.url("/api/v1/customers/c1/transactions"))
            .send()
            .await
            .map(|r| (r.status(), r))
            .unwrap();
        assert_eq!(s, 200);
        let txns: Value = txns.json().await.unwrap();
        assert_eq!(txns["data"].as_array().unwrap().len(), 1);
        drop(app2);
        drop(db);
    }
);

fn org_port(url: &str) -> u16 {
    url.split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

both_backends!(
    a_payment_and_its_refund_arriving_at_the_same_moment_leave_it_refunded,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_seed",
            "txn_seed",
            1,
            Some("c1"),
            Some("p1"),
        ))
        .await;
        let mut sends = vec![];
        for i in 0..20 {
            sends.push(payment_succeeded(
                &format!("ev_p{i}"),
                &format!("txn_{i}"),
                5000,
                Some("c1"),
                Some("p1"),
            ));
            sends.push(payment_refunded(
                &format!("ev_r{i}"),
                &format!("txn_r{i}"),
                &format!("txn_{i}"),
                5000,
                "c1",
            ));
        }
        let results = futures::future::join_all(sends.iter().map(|ev| org.deliver(ev))).await;
        assert!(results.iter().all(|r| r.status() == 200));
        let left: Vec<String> = org
            .transactions("c1")
            .await
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            left,
            vec!["txn_seed".to_string()],
            "refunded payments survived a race"
        );
    }
);

both_backends!(
    a_burst_of_related_deliveries_ends_as_if_applied_one_by_one,
    |b| async move {
        // One burst (so the writer gets large batches): per customer a payment that creates
        // it, a re-delivery of that payment, a partial refund of it, and a second payment
        // without a partner key, which is parked when it comes first and released by the one
        // that creates the customer.
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        // Each customer is its own Chargebee customer.
        let own = |mut ev: Value, i: usize| {
            ev["content"]["customer"]["id"] = json!(format!("cb_{i}"));
            ev["content"]["transaction"]["customer_id"] = json!(format!("cb_{i}"));
            ev
        };
        let mut sends = vec![];
        for i in 0..12 {
            let (key, partner) = (format!("c{i}"), format!("p{}", i % 3));
            let first = own(
                payment_succeeded(
                    &format!("ev_a{i}"),
                    &format!("txn_a{i}"),
                    1000,
                    Some(&key),
                    Some(&partner),
                ),
                i,
            );
            sends.push(first.clone());
            sends.push(first);
            sends.push(own(
                payment_refunded(
                    &format!("ev_r{i}"),
                    &format!("txn_r{i}"),
                    &format!("txn_a{i}"),
                    400,
                    &key,
                ),
                i,
            ));
            sends.push(own(
                payment_succeeded(
                    &format!("ev_b{i}"),
                    &format!("txn_b{i}"),
                    2000,
                    Some(&key),
                    None,
                ),
                i,
            ));
        }
        let results = futures::future::join_all(sends.iter().map(|ev| org.deliver(ev))).await;
        let mut duplicates = 0;
        for r in results {
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            assert_ne!(body["outcome"], "failed", "{body}");
            duplicates += usize::from(body["outcome"] == "duplicate");
        }
        assert_eq!(duplicates, 12);
        for i in 0..12 {
            let mut txns = org.transactions(&format!("c{i}")).await;
            txns.sort_by_key(|t| t["id"].as_str().unwrap().to_string());
            let got: Vec<(String, i64)> = txns
                .iter()
                .map(|t| {
                    (
                        t["id"].as_str().unwrap().to_string(),
                        t["net_amount"].as_i64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                got,
                vec![(format!("txn_a{i}"), 600), (format!("txn_b{i}"), 2000)],
                "customer c{i}"
            );
        }
        let (_, parked) = org.get("/webhook-events?outcome=unmatched").await;
        assert_eq!(parked["data"].as_array().unwrap().len(), 0, "{parked}");
    }
);

both_backends!(
    one_batch_applies_related_events_in_arrival_order,
    |b| async move {
        // Straight to the storage's batch entry point, so all four are one batch for certain.
        use backend::chargebee::{classify, parse_envelope};
        use backend::domain::random_id;
        use backend::storage::{IngestItem, NewEvent};
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let store = &app.state.store;
        let org_id = app.org_id(&org).await;
        let item = |ev: &Value| {
            let body = serde_json::to_vec(ev).unwrap();
            let env = parse_envelope(&body).unwrap();
            IngestItem {
                org: org_id.clone(),
                event: NewEvent {
                    id: random_id("evt"),
                    event_id: Some(env.id.clone()),
                    event_type: Some(env.event_type.clone()),
                    occurred_at: Some(env.occurred_at * 1000),
                    received_at: 1,
                    payload: String::from_utf8(body).unwrap(),
                    refusal: None,
                    card_data: false,
                },
                billing: classify(&env).unwrap(),
            }
        };
        let paid = payment_succeeded("ev_a", "txn_a", 1000, Some("c1"), Some("p1"));
        let batch = [
            // No partner key and no such customer yet: parked...
            item(&payment_succeeded("ev_b", "txn_b", 2000, Some("c1"), None)),
            // ...until this one creates the customer and releases it.
            item(&paid),
            item(&paid),
            // Must see the payment before it.
            item(&payment_refunded("ev_r", "txn_r", "txn_a", 400, "c1")),
        ];
        let outcomes: Vec<(String, usize)> = store
            .ingest_batch(&batch)
            .await
            .into_iter()
            .map(|o| {
                let o = o.unwrap();
                (o.outcome.to_string(), o.released)
            })
            .collect();
        let expected = [
            ("unmatched", 0),
            ("processed", 1),
            ("duplicate", 0),
            ("processed", 0),
        ];
        assert_eq!(outcomes, expected.map(|(o, n)| (o.to_string(), n)).to_vec());
        let mut txns: Vec<(String, i64)> = org
            .transactions("c1")
            .await
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["net_amount"].as_i64().unwrap(),
                )
            })
            .collect();
        txns.sort();
        assert_eq!(
            txns,
            vec![("txn_a".to_string(), 600), ("txn_b".to_string(), 2000)]
        );
        let (_, ev_b) = org.get("/webhook-events/ev_b").await;
        assert_eq!(ev_b["outcome"], "processed", "{ev_b}");
    }
);

both_backends!(
    a_refund_is_logged_under_the_customer_who_owns_the_refunded_payment,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let with_cb = |mut ev: Value, cb: &str| {
            ev["content"]["customer"]["id"] = json!(cb);
            ev["content"]["transaction"]["customer_id"] = json!(cb);
            ev
        };
        let paid_a = payment_succeeded("ev_1", "txn_1", 5000, Some("a"), Some("p1"));
        org.deliver_ok(&with_cb(paid_a, "cb_a")).await;
        let paid_b = payment_succeeded("ev_2", "txn_2", 5000, Some("b"), Some("p1"));
        org.deliver_ok(&with_cb(paid_b, "cb_b")).await;
        // A refund of a's payment whose customer content names b.
        let refund = payment_refunded("ev_3", "txn_r", "txn_1", 1000, "b");
        org.deliver_ok(&with_cb(refund, "cb_b")).await;
        let org_id = app.org_id(&org).await;
        let store = &app.state.store;
        let a = store.customer(&org_id, "a").await.unwrap().unwrap();
        let logged = store.event(&org_id, "ev_3").await.unwrap().unwrap();
        assert_eq!(logged.outcome.as_str(), "processed");
        assert_eq!(logged.customer_id, Some(a.id));
        assert_eq!(org.transactions("a").await[0]["net_amount"], 4000);
    }
);

both_backends!(
    replay_is_refused_for_deliveries_that_stored_nothing,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let big = "x".repeat(2 * 1024 * 1024 + 10);
        let r = reqwest::Client::new()
            .post(&org.webhook_url)
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let (_, events) = org.get("/webhook-events?outcome=rejected").await;
        let id = events["data"][0]["id"].as_str().unwrap().to_string();
        let (s, body) = org
            .send(
                reqwest::Method::POST,
                &format!("/webhook-events/{id}/replay"),
                None,
            )
            .await;
        assert_eq!(s, 409, "{body}");
        let (_, e) = org.get(&format!("/webhook-events/{id}")).await;
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .contains("larger than the limit"),
            "the original reason must stay"
        );
    }
);

both_backends!(
    the_dashboard_test_event_goes_through_the_endpoint_even_with_basic_auth,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let (s, _) = org
            .send(
                reqwest::Method::PUT,
                "/integrations/chargebee",
                Some(json!({"basic_auth": {"username": "cb", "password": "s3cret-pass"}})),
            )
            .await;
        assert_eq!(s, 200);
        let owner = app.signed_in(&org.email, "correct horse battery").await;
        let (s, ev) = app.rpc(&owner, "send_test_event", &[]).await;
        assert_eq!(s, 200, "{ev}");
        assert_eq!(ev["outcome"], "ignored");
        assert_eq!(ev["event_type"], "partner_ledger_test");
        // The header the test event once used to get past Basic Auth opens nothing: the
        // test event runs in-process now, and a delivery still needs the credentials.
        let body =
            json!({"id": "ev_forged", "event_type": "payment_succeeded", "api_version": "v2"})
                .to_string();
        let r = reqwest::Client::new()
            .post(&org.webhook_url)
            .header("x-partner-ledger-test-signature", "00".repeat(32))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let (s, _) = org.get("/webhook-events/ev_forged").await;
        assert_eq!(s, 404, "a forged delivery must not be stored as an event");
    }
);
