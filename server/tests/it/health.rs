//! Integration health over HTTP: each alert appears from real deliveries to the webhook URL and
//! clears by itself when its cause goes away (time moved by an injected clock); deliveries per
//! outcome over 24 hours and 7 days; the Overview carries the same health.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

/// The integration's health as the REST API reports it.
async fn health(org: &TestOrg) -> Value {
    let (s, body) = org.get("/integrations/chargebee").await;
    assert_eq!(s, 200, "{body}");
    body["health"].clone()
}

/// The kinds of the alerts now showing.
async fn alerts(org: &TestOrg) -> Vec<String> {
    health(org).await["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A delivery Chargebee would send for an event the ledger ignores, without card data.
fn harmless(id: &str) -> Value {
    envelope(
        id,
        "plan_created",
        1_700_000_100,
        json!({"plan": {"id": "basic"}}),
    )
}

async fn post_raw(org: &TestOrg, body: &'static str) -> u16 {
    reqwest::Client::new()
        .post(&org.webhook_url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both_backends!(
    wrong_basic_auth_is_an_alert_until_a_delivery_is_accepted,
    |b| async move {
        let (app, clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        assert!(alerts(&org).await.is_empty(), "a new organization");
        let (s, body) = org
            .send(
                Method::PUT,
                "/integrations/chargebee",
                Some(json!({"basic_auth": {"username": "cb", "password": "s3cret-pass-123"}})),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let http = reqwest::Client::new();
        for password in ["wrong", "also-wrong"] {
            let r = http
                .post(&org.webhook_url)
                .basic_auth("cb", Some(password))
                .json(&harmless("ev_1"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
        }
        let h = health(&org).await;
        assert_eq!(h["alerts"].as_array().unwrap().len(), 1, "{h}");
        let alert = &h["alerts"][0];
        assert_eq!(alert["kind"], "basic_auth");
        assert_eq!(alert["count_7d"], 2);
        assert!(
            alert["title"].as_str().unwrap().contains("Basic Auth"),
            "{alert}"
        );
        // Days later, still nothing accepted: still showing. "Send test event" skips Basic
        // Auth, so it proves nothing about Chargebee's credentials.
        clock.advance_ms(3 * 24 * HOUR);
        let member = app.signed_in(&org.email, PASSWORD).await;
        let (s, body) = app.rpc(&member, "send_test_event", &[]).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(alerts(&org).await, ["basic_auth"]);
        // Chargebee gets the right password: the next delivery clears it.
        let r = http
            .post(&org.webhook_url)
            .basic_auth("cb", Some("s3cret-pass-123"))
            .json(&harmless("ev_1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(alerts(&org).await.is_empty());
    }
);

both_backends!(
    a_v1_webhook_is_an_alert_until_a_v2_delivery_arrives,
    |b| async move {
        let (app, _clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        let mut v1 = harmless("ev_v1");
        v1["api_version"] = json!("v1");
        assert_eq!(org.deliver(&v1).await.status(), 400);
        assert_eq!(alerts(&org).await, ["api_version"]);
        // Chargebee retrying the refused event is a copy of it, not an accepted delivery.
        org.deliver(&v1).await;
        assert_eq!(alerts(&org).await, ["api_version"]);
        org.deliver_ok(&harmless("ev_v2")).await;
        assert!(alerts(&org).await.is_empty());
    }
);

both_backends!(
    bodies_not_json_or_too_large_are_alerts_for_24_hours,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.retry_interval_seconds = 3600;
        config.webhook_max_body_bytes = 4096;
        let clock = backend::clock::ManualClock::new();
        let app = TestApp::spawn_with_clock(config, clock.clone()).await;
        let org = app.org("Acme").await;
        assert_eq!(post_raw(&org, "this is not json").await, 400);
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(8192));
        let r = reqwest::Client::new()
            .post(&org.webhook_url)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        assert_eq!(alerts(&org).await, ["too_large", "not_json"]);
        // Good deliveries beside them do not clear them: they concern single deliveries.
        org.deliver_ok(&harmless("ev_ok")).await;
        assert_eq!(alerts(&org).await, ["too_large", "not_json"]);
        clock.advance_ms(24 * HOUR);
        assert!(alerts(&org).await.is_empty());
        // Still counted over 7 days, no longer over 24 hours.
        let h = health(&org).await;
        assert_eq!(h["counts_24h"], json!([]), "{h}");
        assert_eq!(
            h["counts_7d"],
            json!([{"outcome": "rejected", "count": 2}, {"outcome": "ignored", "count": 1}])
        );
        drop(db);
    }
);

both_backends!(
    silence_after_traffic_is_an_alert_until_the_next_delivery,
    |b| async move {
        let (app, clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        // Four deliveries, then a day of silence: not enough traffic to call it quiet.
        for n in 0..4 {
            org.deliver_ok(&harmless(&format!("ev_{n}"))).await;
        }
        clock.advance_ms(25 * HOUR);
        assert!(alerts(&org).await.is_empty());
        // A fifth, then silence: quiet from 24 hours on.
        org.deliver_ok(&harmless("ev_4")).await;
        let last = health(&org).await["last_delivery_at"].as_i64().unwrap();
        clock.advance_ms(24 * HOUR - 1);
        assert!(alerts(&org).await.is_empty());
        clock.advance_ms(1);
        let h = health(&org).await;
        assert_eq!(h["alerts"][0]["kind"], "quiet", "{h}");
        assert_eq!(h["alerts"][0]["last_seen_at"], last);
        assert_eq!(
            h["alerts"][0]["title"],
            "No deliveries from Chargebee for 24 hours."
        );
        org.deliver_ok(&harmless("ev_5")).await;
        assert!(alerts(&org).await.is_empty());
    }
);

both_backends!(
    card_data_is_an_alert_until_its_event_type_arrives_without_it,
    |b| async move {
        let (app, _clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        // The payment helper sends a card object, as Chargebee does unless told not to.
        org.deliver_ok(&payment_succeeded("ev_1", "txn_1", 5000, Some("c1"), None))
            .await;
        let h = health(&org).await;
        assert_eq!(h["alerts"][0]["kind"], "card_data", "{h}");
        assert!(h["alerts"][0]["advice"]
            .as_str()
            .unwrap()
            .contains("Exclude card information"));
        // The card never reached storage.
        let (_, event) = org.get("/webhook-events/ev_1").await;
        assert!(!event.to_string().contains("411111"), "{event}");
        // Another type without a card does not clear it; the same type without one does.
        org.deliver_ok(&harmless("ev_2")).await;
        assert_eq!(alerts(&org).await, ["card_data"]);
        let mut clean = payment_succeeded("ev_3", "txn_2", 5000, Some("c1"), None);
        clean["content"].as_object_mut().unwrap().remove("card");
        org.deliver_ok(&clean).await;
        assert!(alerts(&org).await.is_empty());
    }
);

both_backends!(
    the_overview_shows_the_same_health_as_the_chargebee_page,
    |b| async move {
        let (app, _clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        assert_eq!(post_raw(&org, "<xml/>").await, 400);
        let member = app.signed_in(&org.email, PASSWORD).await;
        let (s, overview) = app.rpc(&member, "overview", &[]).await;
        assert_eq!(s, 200, "{overview}");
        let kinds: Vec<&str> = overview["health"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["not_json"]);
        // Rendered on the server, without JavaScript, on both pages.
        for path in ["/", "/settings/integrations/webhooks/chargebee"] {
            let html = app.page(&member, path).await;
            assert!(html.contains("id=\"alert-not_json\""), "{path}");
        }
    }
);
