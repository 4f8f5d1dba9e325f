//! The attribution window: unmatched payments wait for their customer, then are not
//! attributed; "Needs action" lists only what needs someone.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

const DAY_S: i64 = 86_400;

both_backends!(
    non_referred_traffic_is_counted_not_listed_and_ends_not_attributed,
    |b| async move {
        let (app, clock) = TestApp::spawn_quiet(b).await;
        let org = app.org("Acme").await;
        // One referred customer, nine who were not, and one key that differs only in case
        // from an existing customer's: the only thing that needs someone.
        let referred = payment_succeeded("ev_r", "txn_r", 5000, Some("acme-1"), Some("p1"));
        org.deliver_ok(&for_chargebee_customer(referred, "cb_r"))
            .await;
        for i in 0..9 {
            let e = payment_succeeded(
                &format!("ev_{i}"),
                &format!("txn_{i}"),
                900,
                Some(&format!("plain-{i}")),
                None,
            );
            assert_eq!(
                org.deliver_ok(&for_chargebee_customer(e, &format!("cb_{i}")))
                    .await["outcome"],
                "unmatched"
            );
        }
        let typo = payment_succeeded("ev_t", "txn_t", 900, Some("ACME-1 "), None);
        assert_eq!(
            org.deliver_ok(&for_chargebee_customer(typo, "cb_t")).await["outcome"],
            "unmatched"
        );
        let owner = app.signed_in(&org.email, PASSWORD).await;
        let (s, o) = app.rpc(&owner, "overview", &[]).await;
        assert_eq!(s, 200, "{o}");
        let listed: Vec<&str> = o["needs_action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["ev_t"], "{o}");
        assert_eq!(
            (
                o["not_attributed_this_month"].as_i64(),
                o["waiting_this_month"].as_i64()
            ),
            (Some(0), Some(10))
        );
        // The window: 30 days by default, settable from 1 to 365 days (audited).
        let (s, _) = org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"attribution_window_days": 0})),
            )
            .await;
        assert_eq!(s, 422);
        let (s, set) = org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"attribution_window_days": 7})),
            )
            .await;
        assert_eq!((s, set["attribution_window_days"].as_i64()), (200, Some(7)));
        // Day 6: still waiting. Day 8: not attributed, final.
        clock.advance_secs(6 * DAY_S);
        assert_eq!(
            backend::service::settings::expire_unmatched(&app.state, 500, 10)
                .await
                .unwrap(),
            0
        );
        clock.advance_secs(2 * DAY_S);
        // In batches of four: the nine plain ones. The mistyped key stays unmatched, and in
        // Needs action, until someone looks at it.
        assert_eq!(
            backend::service::settings::expire_unmatched(&app.state, 4, 10)
                .await
                .unwrap(),
            9
        );
        let (_, list) = org
            .get("/webhook-events?outcome=not_attributed&limit=100")
            .await;
        assert_eq!(list["data"].as_array().unwrap().len(), 9, "{list}");
        let (_, typo) = org.get("/webhook-events/ev_t").await;
        assert_eq!(typo["outcome"], "unmatched");
        let (_, e) = org.get("/webhook-events/ev_0").await;
        assert_eq!(
            (e["outcome"].as_str(), e["first_outcome"].as_str()),
            (Some("not_attributed"), Some("unmatched"))
        );
        // A customer created afterwards does not bring it back: the window is over.
        let (s, _) = org
            .send(
                Method::POST,
                "/customers",
                Some(json!({"key": "plain-0", "partner_key": "p2"})),
            )
            .await;
        assert_eq!(s, 201);
        let (_, e) = org.get("/webhook-events/ev_0").await;
        assert_eq!(e["outcome"], "not_attributed");
        assert!(org.transactions("plain-0").await.is_empty());
        // (Signed in again: a week went by on the clock.)
        let owner = app.signed_in(&org.email, PASSWORD).await;
        let (s, o) = app.rpc(&owner, "overview", &[]).await;
        assert_eq!(s, 200, "{o}");
        let listed: Vec<&str> = o["needs_action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["ev_t"], "{o}");
    }
);
