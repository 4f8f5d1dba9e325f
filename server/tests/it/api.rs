//! The REST API: authentication, validation, and tenant isolation.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

both_backends!(
    requests_without_a_valid_api_key_are_refused,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let _org = app.org("Acme").await;
        let http = reqwest::Client::new();
        let r = http.get(app.url("/api/v1/partners")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = http
            .get(app.url("/api/v1/partners"))
            .bearer_auth("pl_nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
);

both_backends!(
    bad_json_and_missing_fields_are_named_in_the_error,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let r = org
            .api
            .post(app.url("/api/v1/customers"))
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let (s, body) = org
            .send(Method::POST, "/customers", Some(json!({"email": "a@b.co"})))
            .await;
        assert_eq!(s, 422);
        assert!(
            body["error"]["message"].as_str().unwrap().contains("key"),
            "{body}"
        );
        let (s, body) = org
            .send(
                Method::POST,
                "/customers",
                Some(json!({"key": "has space", "email": "nope"})),
            )
            .await;
        assert_eq!(s, 422);
        let fields: Vec<&str> = body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["key", "email"]);
        let (s, body) = org
            .send(
                Method::POST,
                "/plans",
                Some(json!({"key": "", "name": " "})),
            )
            .await;
        assert_eq!(s, 422);
        assert_eq!(body["error"]["fields"].as_array().unwrap().len(), 2);
        let (s, _) = org.get("/webhook-events?outcome=bogus").await;
        assert_eq!(s, 422);
        let (s, _) = org.get("/webhook-events?limit=0").await;
        assert_eq!(s, 422);
    }
);

both_backends!(
    customers_partners_and_plans_can_be_created_and_read,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let (s, p) = org
            .send(
                Method::POST,
                "/partners",
                Some(json!({"key": "p1", "name": "Partner One", "email": "p1@example.com"})),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        assert_eq!(p["auto_created"], false);
        let (s, _) = org
            .send(Method::POST, "/partners", Some(json!({"key": "p1"})))
            .await;
        assert_eq!(s, 409);
        let (s, c) = org.send(Method::POST, "/customers", Some(json!({"key": "c1", "email": "C1@Example.com", "name": "C One", "partner_key": "p1"}))).await;
        assert_eq!(s, 201, "{c}");
        assert_eq!(c["email"], "c1@example.com");
        assert_eq!(c["partner_key"], "p1");
        let (s, _) = org
            .send(Method::POST, "/customers", Some(json!({"key": "c1"})))
            .await;
        assert_eq!(s, 409);
        let (s, c) = org.get("/customers/c1").await;
        assert_eq!(s, 200);
        assert_eq!(c["name"], "C One");
        let (s, _) = org.get("/customers/nobody").await;
        assert_eq!(s, 404);
        let (s, _) = org
            .send(
                Method::POST,
                "/plans",
                Some(json!({"key": "pro", "name": "Pro"})),
            )
            .await;
        assert_eq!(s, 201);
        let (s, plan) = org
            .send(
                Method::PUT,
                "/plans/pro",
                Some(json!({"key": "pro-2", "name": "Pro Two"})),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(plan["key"], "pro-2");
        let (_, plans) = org.get("/plans").await;
        assert_eq!(plans["data"].as_array().unwrap().len(), 1);
        let (s, deleted) = org.send(Method::DELETE, "/plans/pro-2", None).await;
        assert_eq!(s, 200);
        assert_eq!(deleted["subscriptions_without_plan_name"], 0);
        let (s, _) = org.send(Method::DELETE, "/plans/pro-2", None).await;
        assert_eq!(s, 404);
    }
);

both_backends!(
    another_tenants_resources_answer_404_like_missing_ones,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let a = app.org("Org A").await;
        let bee = app.org("Org B").await;
        // Org A has a customer, partner, plan, transaction and webhook event.
        a.deliver_ok(&payment_succeeded(
            "ev_a",
            "txn_a",
            5000,
            Some("cust_a"),
            Some("partner_a"),
        ))
        .await;
        a.send(
            Method::POST,
            "/plans",
            Some(json!({"key": "plan_a", "name": "A"})),
        )
        .await;
        let (_, ev) = a.get("/webhook-events/ev_a").await;
        let event_row_id = ev["id"].as_str().unwrap().to_string();
        // Org B's key sees none of it.
        for path in [
            "/customers/cust_a".to_string(),
            "/customers/cust_a/transactions".to_string(),
            "/customers/cust_a/subscriptions".to_string(),
            "/partners/partner_a".to_string(),
            "/webhook-events/ev_a".to_string(),
            format!("/webhook-events/{event_row_id}"),
        ] {
            let (s, _) = bee.get(&path).await;
            assert_eq!(s, 404, "org B read {path}");
        }
        let (s, _) = bee
            .send(Method::POST, "/webhook-events/ev_a/replay", None)
            .await;
        assert_eq!(s, 404);
        let (s, _) = bee
            .send(
                Method::PUT,
                "/plans/plan_a",
                Some(json!({"key": "x", "name": "x"})),
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = bee.send(Method::DELETE, "/plans/plan_a", None).await;
        assert_eq!(s, 404);
        let (s, _) = bee
            .send(
                Method::PUT,
                "/partners/partner_a",
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(s, 404);
        let (_, list) = bee.get("/partners").await;
        assert!(list["data"].as_array().unwrap().is_empty());
        let (_, list) = bee.get("/plans").await;
        assert!(list["data"].as_array().unwrap().is_empty());
        let (_, list) = bee.get("/webhook-events").await;
        assert!(list["data"].as_array().unwrap().is_empty());
        // The same customer key in org B is a different customer.
        bee.deliver_ok(&payment_succeeded(
            "ev_a",
            "txn_a",
            100,
            Some("cust_a"),
            Some("partner_a"),
        ))
        .await;
        assert_eq!(bee.transactions("cust_a").await[0]["amount"], 100);
        assert_eq!(a.transactions("cust_a").await[0]["amount"], 5000);
        // Each org's integration shows its own URL.
        let (_, ia) = a.get("/integrations/chargebee").await;
        let (_, ib) = bee.get("/integrations/chargebee").await;
        assert_eq!(ia["webhook_url"], a.webhook_url.as_str());
        assert_ne!(ia["webhook_url"], ib["webhook_url"]);
    }
);

both_backends!(webhook_events_are_paginated_with_a_cursor, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    for i in 0..7 {
        org.deliver_ok(&envelope(
            &format!("ev_{i}"),
            "invoice_generated",
            1_700_000_000 + i,
            json!({}),
        ))
        .await;
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/webhook-events?limit=3&cursor={c}"),
            None => "/webhook-events?limit=3".to_string(),
        };
        let (s, page) = org.get(&path).await;
        assert_eq!(s, 200);
        for e in page["data"].as_array().unwrap() {
            seen.push(e["event_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    let (_, filtered) = org
        .get("/webhook-events?type=invoice_generated&limit=100")
        .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 7);
    let (_, filtered) = org.get("/webhook-events?type=payment_succeeded").await;
    assert!(filtered["data"].as_array().unwrap().is_empty());
});

both_backends!(
    customer_search_matches_key_email_or_name_substrings,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        for (key, email, name) in [
            ("acme-001", "ada@lovelace.example", "Ada Lovelace"),
            ("acme-002", "grace@hopper.example", "Grace Hopper"),
            ("zz-100%", "alan@turing.example", "Alan Turing"),
            ("ab", "x@y.example", "Short Key"),
        ] {
            let (s, body) = org
                .send(
                    Method::POST,
                    "/customers",
                    Some(json!({"key": key, "email": email, "name": name})),
                )
                .await;
            assert_eq!(s, 201, "{body}");
        }
        // The dashboard's search, through its server function.
        let client = browser_client(&app.address);
        let (s, _) = app
            .rpc(
                &client,
                "login",
                &[("email", &org.email), ("password", "correct horse battery")],
            )
            .await;
        assert_eq!(s, 200);
        let search = |term: &'static str| {
            let client = client.clone();
            let app = &app;
            async move {
                let (s, page) = app
                    .rpc(&client, "customers", &[("search", term), ("cursor", "")])
                    .await;
                assert_eq!(s, 200, "{page}");
                let mut keys: Vec<String> = page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["key"].as_str().unwrap().to_string())
                    .collect();
                keys.sort();
                keys
            }
        };
        assert_eq!(search("LOVELACE").await, vec!["acme-001"], "name, any case");
        assert_eq!(
            search("hopper.ex").await,
            vec!["acme-002"],
            "email substring"
        );
        assert_eq!(
            search("acme-00").await,
            vec!["acme-001", "acme-002"],
            "key substring"
        );
        assert_eq!(
            search("100%").await,
            vec!["zz-100%"],
            "a % in the term is literal"
        );
        assert_eq!(
            search("ab").await,
            vec!["ab"],
            "two characters still search (by key)"
        );
        assert!(search("nobody-here").await.is_empty());
        // A term spanning two fields does not match (fields are searched one by one).
        assert!(search("001 ada").await.is_empty());
        // Changed details are found under the new value, not the old.
        let ev = envelope(
            "ev_1",
            "customer_changed",
            1_700_000_000,
            json!({
                "customer": {"id": "cb_9", "email": "ada@analytical.example", "first_name": "Ada", "last_name": "King",
                             "meta_data": {"customer_key": "acme-001"}, "object": "customer"}
            }),
        );
        org.deliver_ok(&ev).await;
        assert_eq!(search("analytical").await, vec!["acme-001"]);
        assert!(
            search("lovelace").await.is_empty(),
            "the old name still matched"
        );
    }
);
