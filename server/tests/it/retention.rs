//! Retention: payloads past the organization's retention are pruned in small batches; the
//! ledger, the outcomes and the attempts stay, and the event says when it was pruned.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

const DAY_S: i64 = 86_400;

both_backends!(
    payloads_past_the_retention_are_pruned_and_the_ledger_stays,
    |b| async move {
        let (app, clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        let other = app.org("Other").await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("c1"),
            Some("p1"),
        ))
        .await;
        // Waiting for its customer: never pruned, whatever its age.
        let parked = payment_succeeded("ev_p", "txn_p", 700, Some("nobody"), None);
        let mut parked = parked;
        parked["content"]["customer"]["id"] = json!("cb_other");
        parked["content"]["transaction"]["customer_id"] = json!("cb_other");
        org.deliver_ok(&parked).await;
        other
            .deliver_ok(&payment_succeeded(
                "ev_o",
                "txn_o",
                5000,
                Some("c1"),
                Some("p1"),
            ))
            .await;
        // The other tenant keeps payloads for 10 years; this one for the default 400 days.
        let (s, set) = other
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"payload_retention_days": 3650})),
            )
            .await;
        assert_eq!(
            (s, set["payload_retention_days"].as_i64()),
            (200, Some(3650))
        );
        let (s, bad) = org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"payload_retention_days": 5})),
            )
            .await;
        assert_eq!(s, 422, "{bad}");
        // All or nothing: a good currency with a bad number of days changes neither.
        let (s, bad) = org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"reporting_currency": "EUR", "attribution_window_days": 0})),
            )
            .await;
        assert_eq!(s, 422, "{bad}");
        assert_eq!(
            bad["error"]["fields"][0]["field"],
            "attribution_window_days"
        );
        let (_, settings) = org.get("/settings").await;
        assert_eq!(settings["payload_retention_days"], 400);
        assert_eq!(settings["reporting_currency"], "USD");
        // Day 399: nothing to prune.
        clock.advance_secs(399 * DAY_S);
        let state = &app.state;
        assert_eq!(
            backend::service::settings::prune_payloads(state, 500, 10)
                .await
                .unwrap(),
            0
        );
        // Day 401: this tenant's processed event only, in batches of one.
        clock.advance_secs(2 * DAY_S);
        assert_eq!(
            backend::service::settings::prune_payloads(state, 1, 10)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            backend::service::settings::prune_payloads(state, 1, 10)
                .await
                .unwrap(),
            0
        );
        let (_, event) = org.get("/webhook-events/ev_1").await;
        assert_eq!(event["payload"], "", "{event}");
        assert!(event["payload_pruned_at"].as_i64().is_some());
        assert_eq!(event["outcome"], "processed");
        assert_eq!(event["history"].as_array().unwrap().len(), 1);
        let (_, kept) = org.get("/webhook-events/ev_p").await;
        assert_ne!(kept["payload"], "", "a parked event keeps its payload");
        let (_, theirs) = other.get("/webhook-events/ev_o").await;
        assert_ne!(
            theirs["payload"], "",
            "another tenant's retention is its own"
        );
        // The ledger is intact; a replay says why it cannot run.
        assert_eq!(org.transactions("c1").await.len(), 1);
        let id = event["id"].as_str().unwrap();
        let (s, r) = org
            .send(Method::POST, &format!("/webhook-events/{id}/replay"), None)
            .await;
        assert_eq!(s, 409, "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("pruned"),
            "{r}"
        );
        // The change of setting is in the audit log.
        let (_, log) = other.get("/audit-log?action=settings.").await;
        assert_eq!(log["data"][0]["changes"][0]["after"], "3650");
    }
);
