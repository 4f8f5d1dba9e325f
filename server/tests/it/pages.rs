//! Pages without JavaScript (plain HTTP): a signed-out visitor to any dashboard page gets a
//! real redirect to sign in, and a signed-in member gets the page's content rendered on the
//! server.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

both_backends!(
    every_dashboard_page_redirects_a_signed_out_visitor_and_renders_for_a_member,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Acme").await;
        org.send(
            Method::PUT,
            "/commission-terms",
            Some(json!({"rate_bps": 2000, "effective_from": 0})),
        )
        .await;
        org.deliver_ok(&payment_succeeded(
            "ev_1",
            "txn_1",
            5000,
            Some("c1"),
            Some("p1"),
        ))
        .await;
        let (s, run) = org
            .send(
                Method::POST,
                "/payouts",
                Some(json!({"up_to": 4_000_000_000_000i64})),
            )
            .await;
        assert_eq!(s, 201, "{run}");
        let (_, events) = org.get("/webhook-events").await;
        let event = events["data"][0]["id"].as_str().unwrap().to_string();
        let run = run["id"].as_str().unwrap().to_string();
        // (path, text only the rendered page has)
        let pages = [
            ("/".to_string(), "Attributed revenue"),
            ("/customers".into(), "customers-table"),
            ("/customers/c1".into(), "transactions-table"),
            ("/partners".into(), "partners-table"),
            ("/partners/p1".into(), "balance-table"),
            ("/payouts".into(), "runs-table"),
            (format!("/payouts/{run}"), "statements-table"),
            ("/plans".into(), "Plans"),
            ("/events".into(), "events-table"),
            (format!("/events/{event}"), "payment_succeeded"),
            ("/settings/integrations/webhooks".into(), "Chargebee"),
            (
                "/settings/integrations/webhooks/chargebee".into(),
                "webhook-url",
            ),
            ("/settings/team".into(), "members-table"),
            ("/settings/api-keys".into(), "API keys"),
            (
                "/settings/api-keys/reference".into(),
                "Commission ledger entries, newest first",
            ),
            ("/settings/account".into(), "Change password"),
            ("/settings/commissions".into(), "terms-description"),
        ];
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for (path, _) in &pages {
            let r = no_redirects
                .get(app.url(path))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{path}");
            let to = r.headers()["location"].to_str().unwrap().to_string();
            assert!(to.starts_with("/login?next=/"), "{path} → {to}");
        }
        // The sign-in page itself, and where it sends back to, are ordinary pages.
        let r = no_redirects
            .get(app.url("/customers?q=ada"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/login?next=/customers%3Fq%3Dada");
        let login = no_redirects
            .get(app.url("/login?next=/customers"))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        // Signed in: each page renders its content on the server.
        let member = app.signed_in(&org.email, PASSWORD).await;
        for (path, marker) in &pages {
            let r = member
                .get(app.url(path))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let html = r.text().await.unwrap();
            assert!(html.contains(marker), "{path} lacks {marker}");
        }
    }
);
