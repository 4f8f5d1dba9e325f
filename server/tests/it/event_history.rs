//! Every processing attempt of an event is kept: the first outcome and the latest, and a
//! failed replay never cancels a scheduled retry.

use crate::both_backends;
use crate::helpers::*;
use backend::storage::Retry;
use reqwest::Method;
use serde_json::json;

fn outcomes(event: &serde_json::Value) -> Vec<String> {
    event["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect()
}

both_backends!(
    a_replay_keeps_the_first_outcome_and_every_attempt,
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
        let (_, first) = org.get("/webhook-events/ev_1").await;
        assert_eq!(outcomes(&first), ["processed"]);
        let id = first["id"].as_str().unwrap().to_string();
        for _ in 0..2 {
            let (s, r) = org
                .send(Method::POST, &format!("/webhook-events/{id}/replay"), None)
                .await;
            assert_eq!(s, 200, "{r}");
        }
        let (_, after) = org.get("/webhook-events/ev_1").await;
        let got = outcomes(&after);
        assert_eq!(got.len(), 3, "{after}");
        assert_eq!(got[0], "processed");
        assert_eq!(after["first_outcome"], "processed");
        assert_eq!(after["outcome"].as_str(), Some(got[2].as_str()));
        assert!(
            after["history"][1]["at"].as_i64().unwrap() >= first["received_at"].as_i64().unwrap()
        );
        // The ledger is as before: one transaction.
        assert_eq!(org.transactions("c1").await.len(), 1);
        // A malformed event: failed when received, rejected when replayed; both kept.
        let bad = envelope(
            "ev_bad",
            "payment_succeeded",
            1_700_000_000,
            json!({"customer": cb_customer("cb_1", Some("c1"), Some("p1"))}),
        );
        assert_eq!(org.deliver_ok(&bad).await["outcome"], "failed");
        let (_, stored) = org.get("/webhook-events/ev_bad").await;
        let bad_id = stored["id"].as_str().unwrap();
        org.send(
            Method::POST,
            &format!("/webhook-events/{bad_id}/replay"),
            None,
        )
        .await;
        let (_, stored) = org.get("/webhook-events/ev_bad").await;
        assert_eq!(outcomes(&stored), ["failed", "rejected"]);
        assert_eq!(stored["first_outcome"], "failed");
        // Another tenant sees none of it.
        let other = app.org("Other").await;
        let (s, _) = other.get(&format!("/webhook-events/{id}")).await;
        assert_eq!(s, 404);
    }
);

both_backends!(a_failed_replay_keeps_the_scheduled_retry, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    let bad = envelope(
        "ev_bad",
        "payment_succeeded",
        1_700_000_000,
        json!({"customer": cb_customer("cb_1", Some("c1"), Some("p1"))}),
    );
    assert_eq!(org.deliver_ok(&bad).await["outcome"], "failed");
    let (_, stored) = org.get("/webhook-events/ev_bad").await;
    let id = stored["id"].as_str().unwrap().to_string();
    let org_id = app.org_id(&org).await;
    let store = &app.state.store;
    // A retry scheduled for a given time …
    store
        .mark_failed(
            &org_id,
            &id,
            "processing failed: a",
            Retry::At(Some(123_456)),
            1,
        )
        .await
        .unwrap();
    // … survives a replay that fails, and the replay's attempt is kept.
    store
        .mark_failed(&org_id, &id, "processing failed: b", Retry::Keep, 2)
        .await
        .unwrap();
    let due = store.claim_due_events(123_456, 10, 200_000).await.unwrap();
    assert_eq!(
        due.iter().filter(|d| d.id == id).count(),
        1,
        "the retry is still due"
    );
    let (_, stored) = org.get("/webhook-events/ev_bad").await;
    assert_eq!(outcomes(&stored), ["failed", "failed", "failed"]);
    assert_eq!(stored["history"][2]["detail"], "processing failed: b");
    // The retries' own decision to stop does clear it.
    store
        .mark_failed(&org_id, &id, "processing failed: c", Retry::At(None), 3)
        .await
        .unwrap();
    let due = store
        .claim_due_events(i64::MAX / 2, 10, i64::MAX / 2)
        .await
        .unwrap();
    assert!(due.iter().all(|d| d.id != id));
});
