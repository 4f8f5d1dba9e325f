//! Attacks through the webhook endpoint (docs/security.md): bad money, money in several
//! currencies, card data in every shape, poison strings, floods of bytes, slow clients, and
//! a customer that releases a mountain of parked events.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn with_amount(ev: &str, txn: &str, amount: Value) -> Value {
    let mut e = payment_succeeded(ev, txn, 5000, Some("cust_1"), Some("p1"));
    e["content"]["transaction"]["amount"] = amount;
    e
}

/// The outcome and detail stored for a Chargebee event id.
async fn stored(org: &TestOrg, event_id: &str) -> (String, String) {
    let (s, e) = org.get(&format!("/webhook-events/{event_id}")).await;
    assert_eq!(s, 200, "{e}");
    (
        e["outcome"].as_str().unwrap().to_string(),
        e["detail"].as_str().unwrap_or_default().to_string(),
    )
}

both_backends!(
    amounts_that_are_fractional_negative_or_huge_are_kept_as_rejected_and_pages_keep_working,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_ok",
            "txn_ok",
            1000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        for (ev, amount, says) in [
            ("ev_frac", json!(12.99), "whole number"),
            ("ev_neg", json!(-5000), "negative"),
            ("ev_max", json!(i64::MAX), "largest accepted amount"),
            ("ev_str", json!("5000"), "not a string"),
        ] {
            let r = org
                .deliver(&with_amount(ev, &format!("txn_{ev}"), amount))
                .await;
            assert_eq!(r.status(), 400, "{ev}");
            let body: Value = r.json().await.unwrap();
            assert!(
                body["error"].as_str().unwrap().contains(says),
                "{ev}: {body}"
            );
            let (outcome, detail) = stored(&org, ev).await;
            assert_eq!(outcome, "rejected", "{ev}");
            assert!(detail.contains("transaction.amount"), "{ev}: {detail}");
        }
        // A negative refund never raises net revenue.
        let mut refund = payment_refunded("ev_rneg", "txn_rneg", "txn_ok", 100, "cust_1");
        refund["content"]["transaction"]["amount"] = json!(-100_000);
        assert_eq!(org.deliver(&refund).await.status(), 400);
        let txns = org.transactions("cust_1").await;
        assert_eq!(txns.len(), 1, "{txns:?}");
        assert_eq!(txns[0]["amount"], 1000);
        assert_eq!(txns[0]["net_amount"], 1000);
        // Every page that sums money still answers.
        let owner = app.signed_in(&org.email, PASSWORD).await;
        for name in ["overview", "partners", "customers"] {
            let (s, body) = app.rpc(&owner, name, &[]).await;
            assert_eq!(s, 200, "{name}: {body}");
        }
        let (s, p) = org.get("/partners/p1").await;
        assert_eq!(s, 200);
        assert_eq!(p["net_revenue"], 1000);
    }
);

both_backends!(
    a_refund_in_another_currency_than_its_payment_is_not_applied,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_p",
            "txn_p",
            1000,
            Some("cust_1"),
            Some("p1"),
        ))
        .await;
        let mut refund = payment_refunded("ev_r", "txn_r", "txn_p", 400, "cust_1");
        refund["content"]["transaction"]["currency_code"] = json!("EUR");
        let body = org.deliver_ok(&refund).await;
        assert_eq!(body["outcome"], "rejected", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("EUR"), "{body}");
        let txns = org.transactions("cust_1").await;
        assert_eq!(txns[0]["amount_refunded"], 0);
        // The same refund in the payment's currency applies.
        let same = payment_refunded("ev_r2", "txn_r2", "txn_p", 400, "cust_1");
        assert_eq!(org.deliver_ok(&same).await["outcome"], "processed");
        assert_eq!(org.transactions("cust_1").await[0]["amount_refunded"], 400);
        // A refund that arrives before its payment, in another currency, is not counted.
        let mut early = payment_refunded("ev_r3", "txn_r3", "txn_q", 300, "cust_1");
        early["content"]["transaction"]["currency_code"] = json!("EUR");
        org.deliver_ok(&early).await;
        org.deliver_ok(&payment_succeeded(
            "ev_q",
            "txn_q",
            900,
            Some("cust_1"),
            None,
        ))
        .await;
        let q = org
            .transactions("cust_1")
            .await
            .into_iter()
            .find(|t| t["id"] == "txn_q")
            .unwrap();
        assert_eq!(q["amount_refunded"], 0, "{q}");
        // …and once the payment shows the currencies differ, the refund's event says so.
        let (outcome, detail) = stored(&org, "ev_r3").await;
        assert_eq!(outcome, "rejected");
        assert!(
            detail.contains("txn_q") && detail.contains("USD"),
            "{detail}"
        );
    }
);

both_backends!(
    revenue_in_two_currencies_is_shown_per_currency_never_summed,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            152_300,
            Some("c_usd"),
            Some("p1"),
        ))
        .await;
        let mut eur = payment_succeeded("ev_2", "txn_2", 100_000, Some("c_eur"), Some("p1"));
        eur["content"]["transaction"]["currency_code"] = json!("EUR");
        eur["content"]["customer"]["id"] = json!("cb_cus_2");
        org.deliver_ok(&eur).await;
        // REST: no single figure; one per currency.
        let (_, p) = org.get("/partners/p1").await;
        assert_eq!(p["net_revenue"], Value::Null, "{p}");
        assert_eq!(p["currency"], Value::Null, "{p}");
        assert_eq!(
            p["revenue"],
            json!([{"currency": "EUR", "net_revenue": 100_000}, {"currency": "USD", "net_revenue": 152_300}])
        );
        // Dashboard: partners list, overview chart and list, customers list.
        let owner = app.signed_in(&org.email, PASSWORD).await;
        let (_, partners) = app.rpc(&owner, "partners", &[]).await;
        assert_eq!(partners[0]["revenue"].as_array().unwrap().len(), 2);
        let (_, overview) = app.rpc(&owner, "overview", &[]).await;
        assert_eq!(
            overview["top_partners"][0]["revenue"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // The pages themselves (server-rendered) show both figures and never their sum.
        for page in ["/partners", "/"] {
            let html = app.page(&owner, page).await;
            assert!(html.contains("1,523.00 USD"), "{page}");
            assert!(html.contains("1,000.00 EUR"), "{page}");
            assert!(!html.contains("2,523.00"), "{page} adds currencies");
        }
        let (_, customers) = app.rpc(&owner, "customers", &[]).await;
        for c in customers["items"].as_array().unwrap() {
            assert_eq!(c["revenue"].as_array().unwrap().len(), 1, "{c}");
        }
    }
);

both_backends!(
    card_data_in_json_strings_other_spellings_and_free_text_is_never_stored,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let mut ev = payment_succeeded("ev_c", "txn_c", 5000, Some("cust_1"), Some("p1"));
        // Chargebee's payment_method_details is a JSON-encoded string.
        ev["content"]["transaction"]["payment_method_details"] = json!(json!({
            "card": {"first_name": "Ada", "iin": "555555", "last4": "4444", "brand": "mastercard"}
        })
        .to_string());
        ev["content"]["Card"] = json!({"Number": "5555555555554444", "CVC": "737"});
        ev["content"]["customer"]["cf_notes"] = json!("paid with 5555-5555-5555-4444 exp 12/30");
        org.deliver_ok(&ev).await;
        let mut failed = payment_failed("ev_f", "txn_f", "cust_1");
        failed["content"]["transaction"]["error_text"] =
            json!("Card 4000 0566 5566 5556 was declined");
        org.deliver_ok(&failed).await;
        for id in ["ev_c", "ev_f"] {
            let (_, e) = org.get(&format!("/webhook-events/{id}")).await;
            let text = e["payload"].to_string();
            for secret in [
                "5555555555554444",
                "5555-5555-5555-4444",
                "4000 0566 5566 5556",
                "737",
                "555555",
                "\"4444\"",
                "Number",
            ] {
                assert!(!text.contains(secret), "{id} keeps {secret}: {text}");
            }
        }
        // What the ledger needs is still there.
        assert_eq!(org.transactions("cust_1").await[0]["id"], "txn_c");
    }
);

both_backends!(
    ids_with_control_characters_or_too_long_are_rejected_alone_naming_the_field,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let mut nul_id = payment_succeeded("ev_\u{0}x", "txn_n", 100, Some("cust_1"), Some("p1"));
        nul_id["id"] = json!("ev_\u{0}x");
        let long_id =
            payment_succeeded(&"e".repeat(3000), "txn_l", 100, Some("cust_1"), Some("p1"));
        let nul_key = payment_succeeded("ev_k", "txn_k", 100, Some("cust\u{0}1"), Some("p1"));
        let bad_currency = {
            let mut e = payment_succeeded("ev_cur", "txn_cur", 100, Some("cust_1"), Some("p1"));
            e["content"]["transaction"]["currency_code"] = json!("U\u{0}D");
            e
        };
        let good: Vec<Value> = (0..20)
            .map(|i| {
                payment_succeeded(
                    &format!("ev_g{i}"),
                    &format!("txn_g{i}"),
                    100,
                    Some(&format!("cust_g{i}")),
                    Some("p1"),
                )
            })
            .collect();
        // All at once, so that good and bad deliveries share group-commit batches.
        let bad = [
            (&nul_id, "`id`"),
            (&long_id, "`id`"),
            (&nul_key, "customer_key"),
            (&bad_currency, "currency_code"),
        ];
        let bad_answers = futures::future::join_all(bad.iter().map(|(e, _)| org.deliver(e)));
        let good_answers = futures::future::join_all(good.iter().map(|e| org.deliver(e)));
        let (bad_answers, good_answers) = tokio::join!(bad_answers, good_answers);
        for (r, (_, field)) in bad_answers.into_iter().zip(bad) {
            assert_eq!(r.status(), 400);
            let body: Value = r.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains(field), "{body}");
        }
        for r in good_answers {
            assert_eq!(r.status(), 200);
        }
        let (_, rejected) = org.get("/webhook-events?outcome=rejected").await;
        assert_eq!(rejected["data"].as_array().unwrap().len(), 4, "{rejected}");
        let (_, processed) = org.get("/webhook-events?outcome=processed&limit=100").await;
        assert_eq!(processed["data"].as_array().unwrap().len(), 20);
        // REST and forms: a key with a control character is refused naming the field; a path
        // or search with one is simply not found.
        let (s, body) = org
            .send(
                reqwest::Method::POST,
                "/customers",
                Some(json!({"key": "c\u{0}1"})),
            )
            .await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(body["error"]["fields"][0]["field"], "key");
        let (s, _) = org.get("/customers/c%001").await;
        assert_eq!(s, 404);
        let (s, _) = org.get("/webhook-events/ev%00x").await;
        assert_eq!(s, 404);
        let owner = app.signed_in(&org.email, PASSWORD).await;
        let (s, body) = app
            .rpc(
                &owner,
                "customers",
                &[("search", "cust\u{0}"), ("cursor", "a\u{0}")],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let (s, body) = app.rpc(&owner, "customer", &[("key", "c\u{0}1")]).await;
        assert_eq!(s, 404, "{body}");
    }
);

both_backends!(
    webhook_bodies_in_flight_are_bounded_and_slow_bodies_time_out,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.webhook_max_body_bytes = 4096;
        config.webhook_max_inflight_bytes = 8192;
        config.http_body_timeout_seconds = 2;
        let app = TestApp::spawn_with(config).await;
        let org = app.org("Acme").await;
        let path = org.webhook_url.trim_start_matches(&app.address).to_string();
        // Two clients announce 4 KiB bodies and send only a little of them.
        let mut slow = vec![];
        for _ in 0..2 {
            let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
                .await
                .unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{{\"id\":"
            );
            tcp.write_all(head.as_bytes()).await.unwrap();
            slow.push(tcp);
        }
        // Wait until the server holds both bodies' budgets.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.state.webhook_bytes.available_permits() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the slow bodies were not admitted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let r = org
            .deliver(&payment_succeeded(
                "ev_1",
                "txn_1",
                100,
                Some("c1"),
                Some("p1"),
            ))
            .await;
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        // The stalled bodies time out: each gets 408 and its budget comes back.
        for mut tcp in slow {
            let mut answer = vec![0u8; 1024];
            let n = tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read(&mut answer))
                .await
                .expect("the server answers a stalled body")
                .unwrap();
            let text = String::from_utf8_lossy(&answer[..n]);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        }
        let r = org
            .deliver(&payment_succeeded(
                "ev_2",
                "txn_2",
                100,
                Some("c1"),
                Some("p1"),
            ))
            .await;
        assert_eq!(r.status(), 200);
        let (_, rejected) = org.get("/webhook-events?outcome=rejected").await;
        assert!(rejected["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"]
                .as_str()
                .unwrap()
                .contains("did not arrive in time")));
    }
);

both_backends!(
    a_client_that_never_finishes_its_headers_is_disconnected,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.http_header_timeout_seconds = 1;
        let app = TestApp::spawn_with(config).await;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap();
        tcp.write_all(b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        // The server closes the connection (possibly after a 408) instead of waiting forever.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the connection stayed open");
    }
);

/// Runs the background releases (as the worker does) until `key` has `count` transactions;
/// the worker of the server itself may take some of the shares meanwhile.
async fn release_until(app: &TestApp, org: &TestOrg, key: &str, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        backend::ingest::continue_releases(&app.state)
            .await
            .unwrap();
        if org.transactions(key).await.len() == count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{key} has not got {count} transactions after 60 s of releases"
        );
        tokio::task::yield_now().await;
    }
}

both_backends!(
    a_customer_that_frees_many_parked_events_releases_them_in_chunks,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.release_chunk = 40;
        let app = TestApp::spawn_with(config).await;
        let org = app.org("Acme").await;
        let parked: Vec<Value> = (0..100)
            .map(|i| {
                payment_succeeded(
                    &format!("ev_{i}"),
                    &format!("txn_{i}"),
                    100,
                    Some("big"),
                    None,
                )
            })
            .collect();
        for chunk in parked.chunks(25) {
            for r in futures::future::join_all(chunk.iter().map(|e| org.deliver(e))).await {
                assert_eq!(r.status(), 200);
            }
        }
        let (s, created) = org
            .send(
                reqwest::Method::POST,
                "/customers",
                Some(json!({"key": "big", "partner_key": "p1"})),
            )
            .await;
        assert_eq!(s, 201, "{created}");
        // One transaction releases one chunk; the background does the rest.
        assert_eq!(created["reconciled_events"], 40);
        release_until(&app, &org, "big", 100).await;
        let (_, unmatched) = org.get("/webhook-events?outcome=unmatched").await;
        assert_eq!(
            unmatched["data"].as_array().unwrap().len(),
            0,
            "{unmatched}"
        );
        let (_, processed) = org.get("/webhook-events?outcome=processed&limit=200").await;
        assert_eq!(processed["data"].as_array().unwrap().len(), 100);
    }
);

both_backends!(
    no_log_line_carries_a_webhook_token_or_an_invite_token,
    |b| async move {
        let db = TestDb::new(b).await;
        let server = start_process(&db.url, &[("LOG_LEVEL", "debug")]).await;
        let base = server.base.clone();
        let owner = browser_client(&base);
        let email = "logs@example.com";
        let r = owner
            .post(format!("{base}/rpc/signup"))
            .form(&[
                ("organization", "Logs"),
                ("email", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rpc = |name: &'static str, form: Vec<(&'static str, &'static str)>| {
            let (owner, base) = (&owner, &base);
            async move {
                let r = owner
                    .post(format!("{base}/rpc/{name}"))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{name}");
                r.json::<Value>().await.unwrap()
            }
        };
        let url = rpc("chargebee", vec![]).await["webhook_url"]
            .as_str()
            .unwrap()
            .to_string();
        let token = url.rsplit('/').next().unwrap().to_string();
        // A delivery, a bad delivery, a test event, an invite (and its page), a rotation.
        let http = plain_client();
        http.post(&url)
            .json(&payment_succeeded(
                "ev_1",
                "txn_1",
                100,
                Some("c1"),
                Some("p1"),
            ))
            .send()
            .await
            .unwrap();
        http.post(&url).body("not json").send().await.unwrap();
        rpc("send_test_event", vec![]).await;
        let link = rpc(
            "invite",
            vec![("email", "new@example.com"), ("role", "viewer")],
        )
        .await;
        let invite_token = link
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        http.get(link.as_str().unwrap()).send().await.unwrap();
        let rotated = rpc("rotate_chargebee", vec![]).await;
        let new_token = rotated["webhook_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        http.post(format!("{base}/webhooks/chargebee/{new_token}"))
            .json(&payment_succeeded("ev_2", "txn_2", 100, Some("c1"), None))
            .send()
            .await
            .unwrap();
        let logs = server.log_text();
        assert!(
            logs.contains("/webhooks/chargebee/{token}"),
            "no request was logged: {logs}"
        );
        for secret in [&token, &invite_token, &new_token] {
            assert!(
                !logs.contains(secret.as_str()),
                "a log line holds a secret:\n{logs}"
            );
        }
    }
);

both_backends!(
    background_releases_move_on_past_events_that_stay_unmatched,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.release_chunk = 3;
        let app = TestApp::spawn_with(config).await;
        let org = app.org("Acme").await;
        // Refunds that name no refunded payment stay unmatched whoever their customer is;
        // more of them than a chunk holds, then payments that can be applied.
        for i in 0..7 {
            let mut e =
                payment_refunded(&format!("ev_r{i}"), &format!("txn_r{i}"), "x", 10, "stuck");
            let t = e["content"]["transaction"].as_object_mut().unwrap();
            t.remove("refunded_txn_id");
            e["content"]["invoice"]["linked_payments"] = json!([]);
            assert_eq!(org.deliver_ok(&e).await["outcome"], "unmatched");
        }
        for i in 0..4 {
            let e = payment_succeeded(
                &format!("ev_p{i}"),
                &format!("txn_p{i}"),
                100,
                Some("stuck"),
                None,
            );
            assert_eq!(org.deliver_ok(&e).await["outcome"], "unmatched");
        }
        let (s, _) = org
            .send(
                reqwest::Method::POST,
                "/customers",
                Some(json!({"key": "stuck", "partner_key": "p1"})),
            )
            .await;
        assert_eq!(s, 201);
        // The background comes to an end (it used to go round the same chunk for ever) …
        release_until(&app, &org, "stuck", 4).await;
        // … and nothing is left for it to do.
        assert_eq!(
            app.state
                .store
                .continue_releases(app.state.now())
                .await
                .unwrap(),
            None
        );
        let (_, unmatched) = org.get("/webhook-events?outcome=unmatched").await;
        assert_eq!(unmatched["data"].as_array().unwrap().len(), 7);
    }
);
