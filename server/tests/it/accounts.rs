//! Accounts and tenancy through the dashboard's server functions (as the browser calls them):
//! sign-up, sign-in, sessions, CSRF, rate limits, roles, API keys, cross-tenant isolation.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn session_cookie(jar: &reqwest::cookie::Jar, base: &str) -> Option<String> {
    use reqwest::cookie::CookieStore;
    let header = jar.cookies(&base.parse().unwrap())?;
    header
        .to_str()
        .ok()?
        .split("; ")
        .find(|c| c.starts_with("pl_session="))
        .map(str::to_string)
}

both_backends!(
    signing_up_creates_an_organization_and_signs_the_owner_in,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (client, email) = signup(&app, "Acme").await;
        let me = me(&app, &client).await;
        assert_eq!(me["email"], email.as_str());
        assert_eq!(me["role"], "owner");
        assert_eq!(me["org_name"], "Acme");
        // The new organization has a working webhook URL.
        let (s, i) = app.rpc(&client, "chargebee", &[]).await;
        assert_eq!(s, 200);
        let url = i["webhook_url"].as_str().unwrap();
        let r = reqwest::Client::new()
            .post(url)
            .json(&envelope("ev_1", "invoice_generated", 1, json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
);

both_backends!(
    signup_validates_each_field_and_does_not_reveal_existing_accounts,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let client = browser_client(&app.address);
        let (s, body) = app
            .rpc(
                &client,
                "signup",
                &[
                    ("organization", " "),
                    ("email", "nope"),
                    ("password", "short"),
                ],
            )
            .await;
        assert_eq!(s, 422);
        let fields: Vec<&str> = body["Validation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["organization", "email", "password"]);
        let (_, email) = signup(&app, "First").await;
        let (s, body) = app
            .rpc(
                &client,
                "signup",
                &[
                    ("organization", "Second"),
                    ("email", &email.to_uppercase()),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(s, 422);
        let msg = body["Validation"][0]["message"].as_str().unwrap();
        assert_eq!(body["Validation"][0]["field"], "email");
        assert!(msg.contains("cannot be used"), "{msg}");
    }
);

both_backends!(
    unknown_email_and_wrong_password_get_the_same_answer,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (_, email) = signup(&app, "Acme").await;
        let client = browser_client(&app.address);
        let (s1, wrong) = app
            .rpc(
                &client,
                "login",
                &[("email", &email), ("password", "not the password")],
            )
            .await;
        let (s2, unknown) = app
            .rpc(
                &client,
                "login",
                &[
                    ("email", "nobody@example.com"),
                    ("password", "not the password"),
                ],
            )
            .await;
        assert_eq!((s1, s2), (401, 401));
        assert_eq!(wrong, unknown);
        assert_eq!(wrong, json!("InvalidCredentials"));
        assert_eq!(me(&app, &client).await, Value::Null);
    }
);

both_backends!(
    login_changes_the_session_id_and_logout_ends_the_session,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (_, email) = signup(&app, "Acme").await;
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = browser_client_with_jar(&app.address, jar.clone());
        // A session exists before login (a failed attempt stores nothing, so plant one).
        jar.add_cookie_str(
            "pl_session=planted-by-attacker; Path=/",
            &app.address.parse().unwrap(),
        );
        let before = session_cookie(&jar, &app.address);
        let (s, _) = app
            .rpc(
                &client,
                "login",
                &[("email", &email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(s, 200);
        let after = session_cookie(&jar, &app.address).expect("a session cookie after login");
        assert_ne!(
            before,
            Some(after.clone()),
            "session id was not changed at login"
        );
        assert_eq!(me(&app, &client).await["email"], email.as_str());
        // Signing in again on the same browser issues yet another id.
        let (s, _) = app
            .rpc(
                &client,
                "login",
                &[("email", &email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(s, 200);
        let again = session_cookie(&jar, &app.address).unwrap();
        assert_ne!(
            again, after,
            "session id was not changed at the second login"
        );
        let after = again;
        // Logging out ends the session on the server: the old cookie no longer works.
        let stolen = browser_client(&app.address);
        let stolen_jar_cookie = after.clone();
        let (s, _) = app.rpc(&client, "logout", &[]).await;
        assert_eq!(s, 200);
        assert_eq!(me(&app, &client).await, Value::Null);
        let r = stolen
            .post(app.url("/rpc/me"))
            .header("cookie", stolen_jar_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
    }
);

both_backends!(
    session_cookies_are_http_only_and_same_site,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (_, email) = signup(&app, "Acme").await;
        let client = reqwest::Client::builder().build().unwrap();
        let r = client
            .post(app.url("/rpc/login"))
            .header("origin", &app.address)
            .header("accept", "application/json")
            .form(&[("email", email.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(cookie.starts_with("pl_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        // Served over plain http here, so not Secure (it is when PUBLIC_URL is https).
        assert!(!cookie.contains("Secure"), "{cookie}");
    }
);

both_backends!(
    sessions_expire_after_the_absolute_lifetime,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.session_absolute_seconds = 60;
        let clock = backend::clock::ManualClock::new();
        let app = TestApp::spawn_with_clock(config, clock.clone()).await;
        let (client, _) = signup(&app, "Acme").await;
        assert_ne!(me(&app, &client).await, Value::Null);
        // Used every 20 s (never idle), it still ends at 60 s.
        for _ in 0..2 {
            clock.advance_secs(20);
            assert_ne!(me(&app, &client).await, Value::Null);
        }
        clock.advance_secs(21);
        assert_eq!(
            me(&app, &client).await,
            Value::Null,
            "session outlived its absolute lifetime"
        );
    }
);

both_backends!(
    sessions_expire_when_idle_and_expired_rows_are_cleaned_up,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.session_idle_seconds = 60;
        let clock = backend::clock::ManualClock::new();
        let app = TestApp::spawn_with_clock(config, clock.clone()).await;
        let (client, email) = signup(&app, "Acme").await;
        assert_ne!(me(&app, &client).await, Value::Null);
        clock.advance_secs(59);
        assert_ne!(me(&app, &client).await, Value::Null, "in use: not idle");
        clock.advance_secs(61);
        assert_eq!(
            me(&app, &client).await,
            Value::Null,
            "idle session still valid"
        );
        // The cleanup removes expired session rows and old login failures.
        let _ = app
            .rpc(
                &browser_client(&app.address),
                "login",
                &[("email", &email), ("password", "wrong password")],
            )
            .await;
        let now = app.state.now();
        assert!(app.state.store.cleanup(now, now + 1).await.unwrap());
        let scopes = vec![format!("acct:{email}")];
        let counts = app.state.store.login_failures(&scopes, 0).await.unwrap();
        assert_eq!(counts[0].0, 0);
    }
);

both_backends!(
    changing_the_password_ends_the_users_other_sessions,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (_, email) = signup(&app, "Acme").await;
        let laptop = app.signed_in(&email, PASSWORD).await;
        let phone = app.signed_in(&email, PASSWORD).await;
        let (s, body) = app
            .rpc(
                &laptop,
                "change_password",
                &[
                    ("current_password", "wrong one here"),
                    ("new_password", "a brand new password"),
                ],
            )
            .await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(body["Validation"][0]["field"], "current_password");
        let (s, body) = app
            .rpc(
                &laptop,
                "change_password",
                &[("current_password", PASSWORD), ("new_password", "short")],
            )
            .await;
        assert_eq!(s, 422, "{body}");
        let (s, body) = app
            .rpc(
                &laptop,
                "change_password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new password"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert_ne!(
            me(&app, &laptop).await,
            Value::Null,
            "the session that changed it stays signed in"
        );
        assert_eq!(
            me(&app, &phone).await,
            Value::Null,
            "other sessions must end"
        );
        let fresh = browser_client(&app.address);
        let (s, _) = app
            .rpc(
                &fresh,
                "login",
                &[("email", &email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(s, 401);
        app.signed_in(&email, "a brand new password").await;
    }
);

both_backends!(
    state_changing_requests_from_other_sites_are_refused,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (client, _) = signup(&app, "Acme").await;
        // Same cookies, but the request comes from another origin.
        let evil = client
            .post(app.url("/rpc/create_plan"))
            .header("origin", "https://evil.example")
            .form(&[("key", "pro"), ("name", "Pro")])
            .send()
            .await
            .unwrap();
        assert_eq!(evil.status(), 403);
        assert!(evil
            .text()
            .await
            .unwrap()
            .contains("Cross-site request refused"));
        // No Origin, no Referer, no Sec-Fetch-Site: refused too.
        let bare = reqwest::Client::new()
            .post(app.url("/rpc/login"))
            .form(&[("email", "a@b.co"), ("password", "whatever12345")])
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), 403);
        // A same-origin Referer (no Origin) is accepted; and our own origin works.
        let (s, _) = app
            .rpc(&client, "create_plan", &[("key", "pro"), ("name", "Pro")])
            .await;
        assert_eq!(s, 200);
        let (_, plans) = app.rpc(&client, "plans", &[]).await;
        assert_eq!(
            plans["plans"].as_array().unwrap().len(),
            1,
            "the cross-site request must not have created a plan"
        );
    }
);

both_backends!(
    sign_in_is_rate_limited_per_account_and_per_address,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (_, email) = signup(&app, "Acme").await;
        let client = browser_client(&app.address);
        for _ in 0..5 {
            let (s, _) = app
                .rpc(
                    &client,
                    "login",
                    &[("email", &email), ("password", "wrong password!")],
                )
                .await;
            assert_eq!(s, 401);
        }
        let (s, body) = app
            .rpc(
                &client,
                "login",
                &[("email", &email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(s, 429, "{body}");
        let msg = body["TooManyAttempts"].as_str().unwrap();
        assert!(msg.contains("Try again in 15 minutes"), "{msg}");
        // Per address: many accounts from one client address.
        for i in 0..15 {
            let other = format!("someone{i}@example.com");
            let _ = app
                .rpc(
                    &client,
                    "login",
                    &[("email", &other), ("password", "wrong password!")],
                )
                .await;
        }
        let (s, body) = app
            .rpc(
                &client,
                "login",
                &[
                    ("email", "fresh@example.com"),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        assert_eq!(s, 429, "{body}");
    }
);

/// Every server function that changes data, with arguments that would succeed for an admin.
fn mutations(
    plan_key: &str,
    event_id: &str,
    member_id: &str,
    key_id: &str,
) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    vec![
        (
            "create_plan",
            vec![("key", "new-plan".into()), ("name", "New".into())],
        ),
        (
            "update_plan",
            vec![
                ("key", plan_key.into()),
                ("new_key", plan_key.into()),
                ("name", "Renamed".into()),
            ],
        ),
        ("delete_plan", vec![("key", plan_key.into())]),
        (
            "create_customer",
            vec![
                ("key", "c-new".into()),
                ("email", "".into()),
                ("name", "".into()),
                ("partner_key", "".into()),
            ],
        ),
        (
            "save_partner",
            vec![
                ("key", "p-new".into()),
                ("name", "P".into()),
                ("email", "".into()),
                ("create", "true".into()),
            ],
        ),
        ("rotate_chargebee", vec![]),
        (
            "chargebee_basic_auth",
            vec![
                ("username", "cb".into()),
                ("password", "long enough pw".into()),
            ],
        ),
        ("send_test_event", vec![]),
        ("replay_event", vec![("id", event_id.into())]),
        (
            "invite",
            vec![
                ("email", "new@example.com".into()),
                ("role", "viewer".into()),
            ],
        ),
        (
            "set_role",
            vec![("user_id", member_id.into()), ("role", "admin".into())],
        ),
        ("remove_member", vec![("user_id", member_id.into())]),
        ("create_api_key", vec![("name", "k".into())]),
        ("revoke_api_key", vec![("id", key_id.into())]),
        ("delete_org", vec![("confirm_name", "Acme".into())]),
    ]
}

both_backends!(
    viewers_are_refused_every_change_and_admins_only_owner_matters,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, _) = signup(&app, "Acme").await;
        app.rpc(&owner, "create_plan", &[("key", "pro"), ("name", "Pro")])
            .await;
        let (_, ev) = app.rpc(&owner, "send_test_event", &[]).await;
        let event_id = ev["id"].as_str().unwrap().to_string();
        let (_, key) = app.rpc(&owner, "create_api_key", &[("name", "k1")]).await;
        assert!(key.as_str().unwrap().starts_with("pl_"));
        let (_, keys) = app.rpc(&owner, "api_keys", &[]).await;
        let key_id = keys[0]["id"].as_str().unwrap().to_string();
        let viewer = add_member(&app, &owner, "viewer@example.com", "viewer").await;
        let admin = add_member(&app, &owner, "admin@example.com", "admin").await;
        let (_, team) = app.rpc(&owner, "team", &[]).await;
        let admin_id = team["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == "admin@example.com")
            .unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_string();
        let owner_id = team["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "owner")
            .unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_string();

        // A viewer can read…
        for read in [
            "plans",
            "chargebee",
            "team",
            "api_keys",
            "partners",
            "overview",
        ] {
            let (s, body) = app.rpc(&viewer, read, &[]).await;
            assert_eq!(s, 200, "viewer could not read {read}: {body}");
        }
        // …and is refused every change, with a message that says why.
        for (name, args) in mutations("pro", &event_id, &admin_id, &key_id) {
            let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, body) = app.rpc(&viewer, name, &form).await;
            assert_eq!(s, 403, "viewer was not refused {name}: {body}");
            let msg = body["Forbidden"].as_str().unwrap_or_default().to_string();
            assert!(
                msg.contains("viewer") || msg.contains("owner"),
                "{name}: {msg}"
            );
        }
        let (_, plans) = app.rpc(&owner, "plans", &[]).await;
        assert_eq!(
            plans["plans"][0]["name"], "Pro",
            "a refused change must change nothing"
        );

        // An admin may change data, but not owners and not delete the organization.
        let (s, _) = app
            .rpc(
                &admin,
                "create_plan",
                &[("key", "basic"), ("name", "Basic")],
            )
            .await;
        assert_eq!(s, 200);
        let (s, _) = app
            .rpc(
                &admin,
                "set_role",
                &[("user_id", &owner_id), ("role", "viewer")],
            )
            .await;
        assert_eq!(s, 403);
        let (s, _) = app
            .rpc(&admin, "remove_member", &[("user_id", &owner_id)])
            .await;
        assert_eq!(s, 403);
        let (s, _) = app
            .rpc(&admin, "delete_org", &[("confirm_name", "Acme")])
            .await;
        assert_eq!(s, 403);
        // The last owner cannot step down; the owner can delete after typing the name.
        let (s, _) = app
            .rpc(
                &owner,
                "set_role",
                &[("user_id", &owner_id), ("role", "admin")],
            )
            .await;
        assert_eq!(s, 409);
        let (s, body) = app
            .rpc(&owner, "delete_org", &[("confirm_name", "Wrong")])
            .await;
        assert_eq!(s, 422, "{body}");
        let (s, _) = app
            .rpc(&owner, "delete_org", &[("confirm_name", "Acme")])
            .await;
        assert_eq!(s, 200);
        assert_eq!(
            me(&app, &viewer).await,
            Value::Null,
            "members of a deleted organization are signed out"
        );
    }
);

both_backends!(
    api_keys_are_shown_once_work_for_one_organization_and_can_be_revoked,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, _) = signup(&app, "Acme").await;
        let (s, key) = app
            .rpc(&owner, "create_api_key", &[("name", "backend")])
            .await;
        assert_eq!(s, 200);
        let key = key.as_str().unwrap().to_string();
        let (_, keys) = app.rpc(&owner, "api_keys", &[]).await;
        let listed = keys[0].to_string();
        assert!(
            !listed.contains(&key),
            "the full key must not be listed again"
        );
        assert_eq!(keys[0]["last_used_at"], Value::Null);
        let api = api_client(&key);
        let r = api.get(app.url("/api/v1/partners")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (_, keys) = app.rpc(&owner, "api_keys", &[]).await;
        assert!(keys[0]["last_used_at"].is_i64(), "last use is recorded");
        let (s, _) = app.rpc(&owner, "create_api_key", &[("name", " ")]).await;
        assert_eq!(s, 422);
        let id = keys[0]["id"].as_str().unwrap().to_string();
        let (s, _) = app.rpc(&owner, "revoke_api_key", &[("id", &id)]).await;
        assert_eq!(s, 200);
        let r = api.get(app.url("/api/v1/partners")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
);

both_backends!(
    a_user_can_belong_to_several_organizations_and_switch,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (a_owner, a_email) = signup(&app, "Org A").await;
        let (b_owner, _) = signup(&app, "Org B").await;
        // An existing account joins by signing in and accepting (never with a password).
        let member = add_existing_member(&app, &b_owner, &a_email, "viewer").await;
        let me_b = me(&app, &member).await;
        assert_eq!(me_b["org_name"], "Org B");
        assert_eq!(me_b["role"], "viewer");
        assert_eq!(me_b["orgs"].as_array().unwrap().len(), 2);
        let a_id = me(&app, &a_owner).await["org_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, _) = app.rpc(&member, "switch_org", &[("org_id", &a_id)]).await;
        assert_eq!(s, 200);
        let me_a = me(&app, &member).await;
        assert_eq!(me_a["org_name"], "Org A");
        assert_eq!(me_a["role"], "owner");
    }
);

both_backends!(
    another_organizations_ids_answer_404_through_the_dashboard,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (a, _) = signup(&app, "Org A").await;
        let (bee, _) = signup(&app, "Org B").await;
        // Org A's resources of every type.
        app.rpc(&a, "create_plan", &[("key", "plan_a"), ("name", "A")])
            .await;
        app.rpc(
            &a,
            "create_customer",
            &[
                ("key", "cust_a"),
                ("email", ""),
                ("name", ""),
                ("partner_key", "partner_a"),
            ],
        )
        .await;
        let (_, ev) = app.rpc(&a, "send_test_event", &[]).await;
        let event_id = ev["id"].as_str().unwrap().to_string();
        app.rpc(&a, "create_api_key", &[("name", "k")]).await;
        let (_, keys) = app.rpc(&a, "api_keys", &[]).await;
        let key_id = keys[0]["id"].as_str().unwrap().to_string();
        app.rpc(
            &a,
            "invite",
            &[("email", "x@example.com"), ("role", "viewer")],
        )
        .await;
        let (_, team) = app.rpc(&a, "team", &[]).await;
        let invite_id = team["invites"][0]["id"].as_str().unwrap().to_string();
        let a_user = team["members"][0]["user_id"].as_str().unwrap().to_string();
        let a_org = me(&app, &a).await["org_id"].as_str().unwrap().to_string();

        let attempts: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("customer", vec![("key", "cust_a")]),
            ("event", vec![("id", &event_id)]),
            ("replay_event", vec![("id", &event_id)]),
            (
                "update_plan",
                vec![("key", "plan_a"), ("new_key", "plan_a"), ("name", "stolen")],
            ),
            ("delete_plan", vec![("key", "plan_a")]),
            (
                "save_partner",
                vec![
                    ("key", "partner_a"),
                    ("name", "stolen"),
                    ("email", ""),
                    ("create", "false"),
                ],
            ),
            ("revoke_api_key", vec![("id", &key_id)]),
            ("revoke_invite", vec![("id", &invite_id)]),
            ("set_role", vec![("user_id", &a_user), ("role", "viewer")]),
            ("remove_member", vec![("user_id", &a_user)]),
            ("switch_org", vec![("org_id", &a_org)]),
        ];
        for (name, form) in attempts {
            let (s, body) = app.rpc(&bee, name, &form).await;
            assert_eq!(s, 404, "org B reached org A's {name}: {body}");
            assert_eq!(body, json!("NotFound"));
        }
        // Lists show only B's own data.
        let (_, plans) = app.rpc(&bee, "plans", &[]).await;
        assert!(plans["plans"].as_array().unwrap().is_empty());
        let (_, customers) = app
            .rpc(&bee, "customers", &[("search", ""), ("cursor", "")])
            .await;
        assert!(customers["items"].as_array().unwrap().is_empty());
        // And A's data is intact.
        let (_, plans) = app.rpc(&a, "plans", &[]).await;
        assert_eq!(plans["plans"][0]["name"], "A");
    }
);

#[tokio::test]
async fn admin_create_org_prints_a_working_org_webhook_url_and_api_key() {
    let db = TestDb::new(Backend::Sqlite).await;
    let config = test_config(&db.url);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-ledger"))
        .args([
            "admin",
            "create-org",
            "--name",
            "Ops Co",
            "--email",
            "ops@example.com",
        ])
        .env("DATABASE_URL", &db.url)
        .env("SECRET_KEY", config.secret_key.clone().unwrap())
        .env("LOG_LEVEL", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed["org_id"].as_str().unwrap().starts_with("org_"));
    let app = TestApp::spawn_with(config).await;
    let port_url = printed["webhook_url"]
        .as_str()
        .unwrap()
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{}", app.port));
    let r = reqwest::Client::new()
        .post(port_url)
        .json(&envelope("ev_1", "invoice_generated", 1, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api_client(printed["api_key"].as_str().unwrap())
        .get(app.url("/api/v1/partners"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The owner can sign in with the password given on stdin.
    app.signed_in("ops@example.com", "correct horse battery")
        .await;
    // Bad input is refused with a message and a non-zero exit.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-ledger"))
        .args([
            "admin",
            "create-org",
            "--name",
            "X",
            "--email",
            "not-an-email",
        ])
        .env("DATABASE_URL", &db.url)
        .env(
            "SECRET_KEY",
            "test-secret-key-that-is-long-enough-0123456789",
        )
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("email"));
}

#[tokio::test]
async fn a_bad_setting_stops_the_server_with_a_message_naming_it() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-ledger"))
        .env("LISTEN_ADDR", "not-an-address")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LISTEN_ADDR"));
}
