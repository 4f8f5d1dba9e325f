//! Credentials and HTTP-level defences (docs/security.md): who sees the webhook URL, API key
//! scopes, revoking a leaked URL, response headers, and search that folds case in any script.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    viewers_see_the_webhook_url_masked_and_admins_see_it_whole,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, _) = signup(&app, "Acme").await;
        let viewer = add_member(&app, &owner, "viewer@example.com", "viewer").await;
        let (_, full) = app.rpc(&owner, "chargebee", &[]).await;
        let url = full["webhook_url"].as_str().unwrap().to_string();
        let token = url.rsplit('/').next().unwrap().to_string();
        assert!(token.len() >= 40, "{url}");
        let (s, masked) = app.rpc(&viewer, "chargebee", &[]).await;
        assert_eq!(s, 200);
        let shown = masked["webhook_url"].as_str().unwrap();
        assert!(!shown.contains(&token), "{shown}");
        assert!(shown.contains("/webhooks/chargebee/"), "{shown}");
        // The server-rendered page does not carry it either.
        let html = app
            .page(&viewer, "/settings/integrations/webhooks/chargebee")
            .await;
        assert!(html.contains("only admins and owners see it"));
        assert!(!html.contains(&token));
    }
);

both_backends!(
    read_only_api_keys_read_but_cannot_change_data_or_see_the_webhook_url,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let owner = app.signed_in(&org.email, PASSWORD).await;
        let (s, key) = app
            .rpc(
                &owner,
                "create_api_key",
                &[("name", "reporting"), ("scope", "read")],
            )
            .await;
        assert_eq!(s, 200, "{key}");
        let read = api_client(key.as_str().unwrap());
        let base = format!("{}/api/v1", app.address);
        let status = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(
            status(read.get(format!("{base}/partners")).send().await.unwrap()),
            200
        );
        assert_eq!(
            status(
                read.get(format!("{base}/webhook-events"))
                    .send()
                    .await
                    .unwrap()
            ),
            200
        );
        for (method, path, body) in [
            (
                reqwest::Method::POST,
                "/partners",
                Some(json!({"key": "p1"})),
            ),
            (
                reqwest::Method::POST,
                "/customers",
                Some(json!({"key": "c1"})),
            ),
            (
                reqwest::Method::PUT,
                "/integrations/chargebee",
                Some(json!({})),
            ),
            (
                reqwest::Method::POST,
                "/integrations/chargebee/rotate",
                None,
            ),
            (reqwest::Method::GET, "/integrations/chargebee", None),
        ] {
            let mut req = read.request(method.clone(), format!("{base}{path}"));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 403, "{method} {path}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["error"]["code"], "forbidden");
        }
        // The full key of the tests can; the list says which key is which and who made it.
        let (s, _) = org.get("/integrations/chargebee").await;
        assert_eq!(s, 200);
        let (_, keys) = app.rpc(&owner, "api_keys", &[]).await;
        let reporting = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "reporting")
            .unwrap();
        assert_eq!(reporting["scope"], "read");
        assert_eq!(reporting["created_by"], org.email.as_str());
        // An unknown scope is refused naming the field; no scope means full (as before).
        let (s, body) = app
            .rpc(
                &owner,
                "create_api_key",
                &[("name", "x"), ("scope", "root")],
            )
            .await;
        assert_eq!(s, 422, "{body}");
        let (_, key) = app
            .rpc(&owner, "create_api_key", &[("name", "legacy")])
            .await;
        let legacy = api_client(key.as_str().unwrap());
        let r = legacy
            .post(format!("{base}/partners"))
            .json(&json!({"key": "p2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
);

both_backends!(
    rotating_with_revoke_stops_the_old_url_at_once,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let (s, rotated) = org
            .send(
                reqwest::Method::POST,
                "/integrations/chargebee/rotate",
                Some(json!({"revoke_previous": true})),
            )
            .await;
        assert_eq!(s, 200, "{rotated}");
        assert_eq!(rotated["previous_url_valid_until"], Value::Null);
        let event = payment_succeeded("ev_1", "txn_1", 100, Some("c1"), Some("p1"));
        assert_eq!(org.deliver(&event).await.status(), 404);
        let r = deliver_to(rotated["webhook_url"].as_str().unwrap(), &event).await;
        assert_eq!(r.status(), 200);
        // From the dashboard too.
        let owner = app.signed_in(&org.email, PASSWORD).await;
        let (s, body) = app
            .rpc(&owner, "rotate_chargebee", &[("revoke_previous", "true")])
            .await;
        assert_eq!(s, 200, "{body}");
        let r = deliver_to(rotated["webhook_url"].as_str().unwrap(), &event).await;
        assert_eq!(r.status(), 404);
    }
);

both_backends!(
    responses_refuse_framing_sniffing_referrers_and_caching_of_pages,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        let (owner, _) = signup(&app, "Other").await;
        let http = plain_client();
        let responses = [
            http.get(app.url("/login")).send().await.unwrap(),
            owner
                .get(app.url("/"))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap(),
            org.api
                .get(app.url("/api/v1/partners"))
                .send()
                .await
                .unwrap(),
            http.get(app.url("/healthz")).send().await.unwrap(),
            owner.post(app.url("/rpc/me")).send().await.unwrap(),
        ];
        for r in responses {
            let h = r.headers();
            let path = r.url().path().to_string();
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            assert_eq!(
                h["content-security-policy"], "frame-ancestors 'none'",
                "{path}"
            );
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "same-origin", "{path}");
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
        let css = http
            .get(app.url("/pkg/partner-ledger.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(css.status(), 200);
        assert_ne!(
            css.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store")
        );
    }
);

both_backends!(customer_search_folds_case_in_every_script, |b| async move {
    let app = TestApp::spawn(b).await;
    let org = app.org("Acme").await;
    for (key, name, email) in [
        ("c_emile", "Émile Zola", "ez@example.com"),
        ("c_oe", "Øyvind Ås", "oa@example.com"),
        ("c_abc", "Plain Name", "def@example.com"),
    ] {
        let (s, body) = org
            .send(
                reqwest::Method::POST,
                "/customers",
                Some(json!({"key": key, "name": name, "email": email})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let owner = app.signed_in(&org.email, PASSWORD).await;
    let keys = |search: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let (s, page) = app.rpc(owner, "customers", &[("search", search)]).await;
            assert_eq!(s, 200, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["key"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(keys("émile").await, vec!["c_emile"]);
    assert_eq!(keys("ÉMILE").await, vec!["c_emile"]);
    assert_eq!(keys("øyvind").await, vec!["c_oe"]);
    assert_eq!(keys("zola").await, vec!["c_emile"]);
    // A match never spans two fields (key "c_abc" + email "def…").
    assert_eq!(keys("abcdef").await, Vec::<String>::new());
});
