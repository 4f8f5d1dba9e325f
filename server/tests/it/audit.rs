//! The audit log: a row for each kind of change, with the right actor, none holding a secret.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn audit(org: &TestOrg, query: &str) -> Vec<Value> {
    let (s, body) = org.get(&format!("/audit-log{query}")).await;
    assert_eq!(s, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

both_backends!(
    every_kind_of_change_is_audited_with_its_actor_and_never_a_secret,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, owner_email) = signup(&app, "Acme").await;
        // A full API key of this organization, made in the dashboard (audited too).
        let (s, key) = app.rpc(&owner, "create_api_key", &[("name", "ci")]).await;
        assert_eq!(s, 200, "{key}");
        let secret_key = key.as_str().unwrap().to_string();
        let org = TestOrg::for_key(&app, &secret_key, &owner_email).await;
        let ok = |(s, body): (u16, Value)| {
            assert!((200..300).contains(&s), "{s} {body}");
            body
        };
        // Through the REST API (the key acts) …
        ok(org
            .send(
                Method::POST,
                "/plans",
                Some(json!({"key": "pro", "name": "Pro"})),
            )
            .await);
        ok(org
            .send(
                Method::PUT,
                "/plans/pro",
                Some(json!({"key": "pro", "name": "Pro plan"})),
            )
            .await);
        ok(org.send(Method::DELETE, "/plans/pro", None).await);
        ok(org
            .send(
                Method::POST,
                "/partners",
                Some(json!({"key": "p1", "name": "Ada"})),
            )
            .await);
        ok(org
            .send(
                Method::PUT,
                "/partners/p1",
                Some(json!({"name": "Ada L.", "email": "ada@example.com"})),
            )
            .await);
        ok(org
            .send(
                Method::POST,
                "/customers",
                Some(json!({"key": "c1", "partner_key": "p1"})),
            )
            .await);
        let password = "s3cret-basic-auth-password";
        ok(org
            .send(
                Method::PUT,
                "/integrations/chargebee",
                Some(json!({"basic_auth": {"username": "cb", "password": password}})),
            )
            .await);
        let rotated = ok(org
            .send(Method::POST, "/integrations/chargebee/rotate", None)
            .await);
        let webhook_url = rotated["webhook_url"].as_str().unwrap().to_string();
        ok(org
            .send(
                Method::PUT,
                "/commission-terms",
                Some(json!({"rate_bps": 2000, "effective_from": 0})),
            )
            .await);
        ok(org
            .send(
                Method::PUT,
                "/partners/p1/commission-terms",
                Some(json!({"rate_bps": 500})),
            )
            .await);
        ok(org
            .send(Method::DELETE, "/partners/p1/commission-terms", None)
            .await);
        ok(org
            .send(
                Method::PUT,
                "/settings",
                Some(json!({"reporting_currency": "EUR"})),
            )
            .await);
        // A payment to pay out and to replay (Basic Auth is on now).
        let r = reqwest::Client::new()
            .post(&webhook_url)
            .basic_auth("cb", Some(password))
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
        assert_eq!(r.status(), 200);
        let (_, events) = org.get("/webhook-events").await;
        let event = events["data"][0]["id"].as_str().unwrap().to_string();
        ok(org
            .send(
                Method::POST,
                &format!("/webhook-events/{event}/replay"),
                None,
            )
            .await);
        let run = ok(org
            .send(
                Method::POST,
                "/payouts",
                Some(json!({"up_to": 4_000_000_000_000i64})),
            )
            .await);
        let run = run["id"].as_str().unwrap().to_string();
        ok(org
            .send(
                Method::POST,
                &format!("/payouts/{run}/paid"),
                Some(json!({"reference": "WIRE-1"})),
            )
            .await);
        // … and in the dashboard (the owner acts).
        let invite = invite_token(&app, &owner, "gone@example.com", "viewer").await;
        let _ = invite;
        let (_, team) = app.rpc(&owner, "team", &[]).await;
        let invite_id = team["invites"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(
            app.rpc(&owner, "revoke_invite", &[("id", &invite_id)])
                .await
                .0,
            200
        );
        add_member(&app, &owner, "member@example.com", "viewer").await;
        let (_, team) = app.rpc(&owner, "team", &[]).await;
        let member = member_id(&team, "member@example.com");
        assert_eq!(
            app.rpc(
                &owner,
                "set_role",
                &[("user_id", &member), ("role", "admin")]
            )
            .await
            .0,
            200
        );
        assert_eq!(
            app.rpc(&owner, "remove_member", &[("user_id", &member)])
                .await
                .0,
            200
        );
        let (_, keys) = app.rpc(&owner, "api_keys", &[]).await;
        let (s, second) = app
            .rpc(&owner, "create_api_key", &[("name", "to revoke")])
            .await;
        assert_eq!(s, 200);
        let (_, keys2) = app.rpc(&owner, "api_keys", &[]).await;
        let new_id = keys2
            .as_array()
            .unwrap()
            .iter()
            .find(|k| !keys.as_array().unwrap().iter().any(|o| o["id"] == k["id"]))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            app.rpc(&owner, "revoke_api_key", &[("id", &new_id)])
                .await
                .0,
            200
        );

        let mut rows = vec![];
        let mut cursor = String::new();
        loop {
            let (s, page) = org
                .get(&format!("/audit-log?limit=10&cursor={cursor}"))
                .await;
            assert_eq!(s, 200, "{page}");
            rows.extend(page["data"].as_array().unwrap().clone());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        let by_key = |action: &str| -> Vec<&Value> {
            rows.iter().filter(|r| r["action"] == action).collect()
        };
        for action in [
            "plan.created",
            "plan.updated",
            "plan.deleted",
            "partner.created",
            "partner.updated",
            "customer.created",
            "integration.basic_auth",
            "integration.url_rotated",
            "commission_terms.changed",
            "commission_terms.override_removed",
            "settings.changed",
            "event.replayed",
            "payout.created",
            "payout.paid",
        ] {
            let found = by_key(action);
            assert!(!found.is_empty(), "no {action} in {rows:#?}");
            assert_eq!(found[0]["actor"]["kind"], "api_key", "{action}");
            assert!(
                found[0]["actor"]["label"]
                    .as_str()
                    .unwrap()
                    .starts_with("ci ("),
                "{action}"
            );
            assert!(
                found[0]["ip"].as_str().is_some_and(|ip| !ip.is_empty()),
                "{action}"
            );
        }
        for action in [
            "api_key.created",
            "api_key.revoked",
            "invite.created",
            "invite.revoked",
            "member.role_changed",
            "member.removed",
        ] {
            let found = by_key(action);
            assert!(!found.is_empty(), "no {action}");
            assert_eq!(found[0]["actor"]["kind"], "user", "{action}");
            assert_eq!(found[0]["actor"]["label"], owner_email.as_str(), "{action}");
        }
        // Before and after of the changed fields.
        let renamed = by_key("partner.updated")[0]["changes"].clone();
        assert!(
            renamed
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["field"] == "name" && c["before"] == "Ada" && c["after"] == "Ada L."),
            "{renamed}"
        );
        let role = by_key("member.role_changed")[0]["changes"][0].clone();
        assert_eq!(
            (role["before"].as_str(), role["after"].as_str()),
            (Some("viewer"), Some("admin"))
        );
        // No secret anywhere: not the Basic Auth password, the API keys or the webhook token.
        let all = serde_json::to_string(&rows).unwrap();
        let token = webhook_url.rsplit('/').next().unwrap();
        for secret in [
            password,
            secret_key.as_str(),
            second.as_str().unwrap(),
            token,
        ] {
            assert!(!all.contains(secret), "a secret reached the audit log");
        }
        // Filters; newest first.
        let payouts = audit(&org, "?action=payout.").await;
        assert_eq!(payouts.len(), 2);
        assert_eq!(payouts[0]["action"], "payout.paid");
        assert_eq!(
            audit(&org, &format!("?actor={owner_email}&action=member."))
                .await
                .len(),
            2
        );
        // Other tenants see none of it; read-only keys cannot read it.
        let other = app.org("Other").await;
        assert!(audit(&other, "").await.iter().all(|r| r["target"] != "p1"));
        let (s, read_key) = app
            .rpc(
                &owner,
                "create_api_key",
                &[("name", "ro"), ("scope", "read")],
            )
            .await;
        assert_eq!(s, 200);
        let r = api_client(read_key.as_str().unwrap())
            .get(app.url("/api/v1/audit-log"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        // The dashboard's page lists it for owners.
        let (s, page) = app.rpc(&owner, "audit_log", &[("action", "plan.")]).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["items"].as_array().unwrap().len(), 3);
    }
);
