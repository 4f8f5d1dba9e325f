//! Attacks on accounts (docs/security.md): invites that take over accounts, sign-in bursts,
//! sign-up floods, owners, sessions that outlive their idle time.

use crate::both_backends;
use crate::helpers::*;
use serde_json::Value;

both_backends!(
    an_invite_for_an_existing_account_cannot_be_accepted_with_its_password,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (victim, victim_email) = signup(&app, "Victim Co").await;
        let (attacker, _) = signup(&app, "Attacker Co").await;
        let token = invite_token(&app, &attacker, &victim_email, "admin").await;
        // Guessing (even the right password) over the invite gets nobody signed in.
        let anonymous = browser_client(&app.address);
        for guess in ["wrong guess 1", PASSWORD] {
            let (s, body) = app
                .rpc(
                    &anonymous,
                    "accept_invite",
                    &[("token", &token), ("password", guess)],
                )
                .await;
            assert_eq!(s, 409, "{body}");
            assert!(body["Conflict"].as_str().unwrap().contains("Sign in"));
        }
        let (_, who) = app.rpc(&anonymous, "me", &[]).await;
        assert_eq!(who, Value::Null, "the invite signed someone in");
        // The account's owner signs in and accepts: then they are a member.
        let (s, body) = app
            .rpc(&victim, "accept_invite", &[("token", &token)])
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(me(&app, &victim).await["orgs"].as_array().unwrap().len(), 2);
    }
);

both_backends!(
    an_invite_is_accepted_only_by_the_account_it_is_for,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, _) = signup(&app, "Acme").await;
        let (other, _) = signup(&app, "Other").await;
        let token = invite_token(&app, &owner, "someone-else@example.com", "viewer").await;
        let (s, body) = app.rpc(&other, "accept_invite", &[("token", &token)]).await;
        assert_eq!(s, 409, "{body}");
        assert!(body["Conflict"]
            .as_str()
            .unwrap()
            .contains("someone-else@example.com"));
        assert_eq!(me(&app, &other).await["orgs"].as_array().unwrap().len(), 1);
    }
);

both_backends!(
    invite_info_says_the_same_for_new_and_existing_addresses,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, owner_email) = signup(&app, "Acme").await;
        let (_, existing) = signup(&app, "Elsewhere").await;
        let anonymous = browser_client(&app.address);
        let mut shapes = vec![];
        for email in [existing.as_str(), "brand-new@example.com"] {
            let token = invite_token(&app, &owner, email, "viewer").await;
            let (s, info) = app
                .rpc(&anonymous, "invite_info", &[("token", &token)])
                .await;
            assert_eq!(s, 200, "{info}");
            assert_eq!(info["email"], email);
            let mut keys: Vec<String> = info.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            shapes.push((keys, info["signed_in_as"].clone()));
        }
        assert_eq!(shapes[0], shapes[1], "the answers differ: {shapes:?}");
        assert!(!shapes[0].0.contains(&"existing_user".to_string()));
        // Signed in, the visitor learns only who they are themselves.
        let token = invite_token(&app, &owner, "third@example.com", "viewer").await;
        let (_, info) = app.rpc(&owner, "invite_info", &[("token", &token)]).await;
        assert_eq!(info["signed_in_as"], owner_email.as_str());
    }
);

both_backends!(
    accepting_invites_is_rate_limited_per_client_address,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.login_limit_per_ip = 3;
        let app = TestApp::spawn_with(config).await;
        let anonymous = browser_client(&app.address);
        let mut statuses = vec![];
        for i in 0..5 {
            let (s, _) = app
                .rpc(
                    &anonymous,
                    "accept_invite",
                    &[("token", &format!("guess-{i}")), ("password", PASSWORD)],
                )
                .await;
            statuses.push(s);
        }
        assert_eq!(statuses, vec![404, 404, 404, 429, 429]);
    }
);

both_backends!(
    a_members_pending_invites_are_revoked_when_they_leave_or_become_a_viewer,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, _) = signup(&app, "Acme").await;
        let admin = add_member(&app, &owner, "admin@example.com", "admin").await;
        let second = add_member(&app, &owner, "second@example.com", "admin").await;
        let by_admin = invite_token(&app, &admin, "friend@example.com", "viewer").await;
        let by_second = invite_token(&app, &second, "pal@example.com", "viewer").await;
        let by_owner = invite_token(&app, &owner, "kept@example.com", "viewer").await;
        // Invites to the partner portal too.
        let (s, body) = app
            .rpc(
                &owner,
                "save_partner",
                &[
                    ("key", "p1"),
                    ("name", "P1"),
                    ("email", ""),
                    ("create", "true"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let mut portal_tokens = vec![];
        for (who, email) in [
            (&admin, "portal-friend@example.com"),
            (&second, "portal-pal@example.com"),
            (&owner, "portal-kept@example.com"),
        ] {
            let (s, link) = app
                .rpc(
                    who,
                    "invite_partner_user",
                    &[("key", "p1"), ("email", email)],
                )
                .await;
            assert_eq!(s, 200, "{link}");
            portal_tokens.push(
                link.as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        let (_, team) = app.rpc(&owner, "team", &[]).await;
        let (s, _) = app
            .rpc(
                &owner,
                "remove_member",
                &[("user_id", &member_id(&team, "admin@example.com"))],
            )
            .await;
        assert_eq!(s, 200);
        let (s, _) = app
            .rpc(
                &owner,
                "set_role",
                &[
                    ("user_id", &member_id(&team, "second@example.com")),
                    ("role", "viewer"),
                ],
            )
            .await;
        assert_eq!(s, 200);
        let anonymous = browser_client(&app.address);
        let [p_admin, p_second, p_owner]: [String; 3] = portal_tokens.try_into().unwrap();
        for (token, status) in [
            (by_admin, 404),
            (by_second, 404),
            (by_owner, 200),
            (p_admin, 404),
            (p_second, 404),
            (p_owner, 200),
        ] {
            let (s, body) = app
                .rpc(&anonymous, "invite_info", &[("token", &token)])
                .await;
            assert_eq!(s, status, "{body}");
        }
    }
);

both_backends!(
    two_owners_stepping_down_at_once_leave_one_owner,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (first, first_email) = signup(&app, "Acme").await;
        let second = add_member(&app, &first, "second-owner@example.com", "admin").await;
        let (_, team) = app.rpc(&first, "team", &[]).await;
        let (first_id, second_id) = (
            member_id(&team, &first_email),
            member_id(&team, "second-owner@example.com"),
        );
        let (s, _) = app
            .rpc(
                &first,
                "set_role",
                &[("user_id", &second_id), ("role", "owner")],
            )
            .await;
        assert_eq!(s, 200);
        // Each owner demotes themselves at the same moment, twenty times over.
        for _ in 0..20 {
            let first_form = [("user_id", first_id.as_str()), ("role", "admin")];
            let second_form = [("user_id", second_id.as_str()), ("role", "admin")];
            let (a, b2) = tokio::join!(
                app.rpc(&first, "set_role", &first_form),
                app.rpc(&second, "set_role", &second_form),
            );
            let (_, team) = app.rpc(&first, "team", &[]).await;
            let owners: Vec<&Value> = team["members"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["role"] == "owner")
                .collect();
            assert_eq!(owners.len(), 1, "answers {} / {}: {team}", a.0, b2.0);
            // Restore two owners for the next round (the remaining owner promotes the other).
            let remaining = owners[0]["user_id"].as_str().unwrap().to_string();
            let (owner_client, other_id) = if remaining == first_id {
                (&first, &second_id)
            } else {
                (&second, &first_id)
            };
            let (s, body) = app
                .rpc(
                    owner_client,
                    "set_role",
                    &[("user_id", other_id), ("role", "owner")],
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }
    }
);

both_backends!(
    sixty_concurrent_wrong_sign_ins_have_at_most_the_limit_checked,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (_, email) = signup(&app, "Acme").await;
        let attempts = (0..60).map(|i| {
            let app = &app;
            let email = email.clone();
            async move {
                // A fresh client (and cookie jar) per attempt, as a botnet would.
                let client = browser_client(&app.address);
                let guess = format!("wrong guess {i}");
                app.rpc(&client, "login", &[("email", &email), ("password", &guess)])
                    .await
                    .0
            }
        });
        let statuses = futures::future::join_all(attempts).await;
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(checked, 5, "{statuses:?}");
        assert_eq!(limited, 55, "{statuses:?}");
    }
);

both_backends!(
    changing_the_password_is_rate_limited_like_signing_in,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (client, _) = signup(&app, "Acme").await;
        let mut statuses = vec![];
        for i in 0..6 {
            let (s, _) = app
                .rpc(
                    &client,
                    "change_password",
                    &[
                        ("current_password", &format!("not it {i}")),
                        ("new_password", "a brand new password"),
                    ],
                )
                .await;
            statuses.push(s);
        }
        assert_eq!(statuses, vec![422, 422, 422, 422, 422, 429]);
    }
);

both_backends!(
    the_client_address_is_the_hop_added_by_our_own_proxy,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.login_limit_per_ip = 3;
        config.login_limit_per_account = 100;
        config.trusted_proxies = 1;
        let app = TestApp::spawn_with(config).await;
        let login = |forged: String, real: &'static str| {
            let app = &app;
            async move {
                let client = browser_client(&app.address);
                client
                    .post(app.url("/rpc/login"))
                    .header("x-forwarded-for", format!("{forged}, {real}"))
                    .form(&[
                        ("email", "nobody@example.com"),
                        ("password", "wrong password"),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        // The left-most hop is the client's own invention: changing it does not help.
        let mut statuses = vec![];
        for i in 0..4 {
            statuses.push(login(format!("10.1.1.{i}"), "203.0.113.7").await);
        }
        assert_eq!(statuses, vec![401, 401, 401, 429]);
        // Another real address (as our proxy saw it) has its own count.
        assert_eq!(login("10.1.1.1".into(), "203.0.113.8").await, 401);
    }
);

both_backends!(sign_up_is_limited_per_client_address, |b| async move {
    let db = TestDb::new(b).await;
    let mut config = test_config(&db.url);
    config.signup_limit_per_ip = 2;
    let app = TestApp::spawn_with(config).await;
    let mut statuses = vec![];
    for i in 0..3 {
        let client = browser_client(&app.address);
        let email = format!("flood-{i}@example.com");
        let (s, _) = app
            .rpc(
                &client,
                "signup",
                &[
                    ("organization", "Flood"),
                    ("email", &email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        statuses.push(s);
    }
    assert_eq!(statuses, vec![200, 200, 429]);
});

both_backends!(
    two_hundred_concurrent_sign_ups_keep_memory_bounded_and_health_answering,
    |b| async move {
        let db = TestDb::new(b).await;
        // Each sign-up comes from its own address (through one trusted proxy), so that the
        // per-address limit does not stop them before the password work.
        let server = start_process(
            &db.url,
            &[("TRUSTED_PROXIES", "1"), ("SIGNUP_LIMIT_PER_IP", "5")],
        )
        .await;
        let base = server.base.clone();
        let signups = (0..200).map(|i| {
            let base = base.clone();
            async move {
                let client = browser_client(&base);
                let email = format!("flood-{i}@example.com");
                let r = client
                    .post(format!("{base}/rpc/signup"))
                    .header("x-forwarded-for", format!("198.51.100.{}", i % 250))
                    .form(&[
                        ("organization", "Flood"),
                        ("email", email.as_str()),
                        ("password", PASSWORD),
                    ])
                    .send()
                    .await
                    .unwrap();
                let retry_after = r.headers().contains_key("retry-after");
                (r.status().as_u16(), retry_after)
            }
        });
        let health = async {
            let client = plain_client();
            let mut answered = 0;
            for _ in 0..20 {
                let r = client
                    .get(format!("{base}/healthz"))
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await
                    .expect("/healthz answers during the flood");
                assert_eq!(r.status(), 200);
                answered += 1;
                tokio::task::yield_now().await;
            }
            answered
        };
        let (results, answered) = tokio::join!(futures::future::join_all(signups), health);
        assert_eq!(answered, 20);
        for (status, retry_after) in &results {
            assert!(
                *status == 200 || (*status == 503 && *retry_after),
                "unexpected answer {status} (Retry-After: {retry_after})"
            );
        }
        assert!(results.iter().any(|(s, _)| *s == 200));
        let peak_mb = server.peak_rss_kb() / 1024;
        assert!(peak_mb < 512, "peak RSS {peak_mb} MB");
    }
);

both_backends!(idle_expiry_counts_from_the_last_request, |b| async move {
    let db = TestDb::new(b).await;
    let mut config = test_config(&db.url);
    config.session_idle_seconds = 3600;
    let clock = backend::clock::ManualClock::new();
    let app = TestApp::spawn_with_clock(config, clock.clone()).await;
    let (client, _) = signup(&app, "Acme").await;
    // Requests 50 minutes apart keep the session alive well past an hour after sign-in.
    for _ in 0..3 {
        clock.advance_secs(3000);
        assert_ne!(me(&app, &client).await, Value::Null, "ended while in use");
    }
    // More than the idle time without a request ends it.
    clock.advance_secs(3601);
    assert_eq!(
        me(&app, &client).await,
        Value::Null,
        "idle session still valid"
    );
});

both_backends!(
    a_member_removed_from_every_organization_can_sign_in_to_accept_a_new_invite,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (owner, _) = signup(&app, "Acme").await;
        let member = add_member(&app, &owner, "leaver@example.com", "viewer").await;
        let (_, team) = app.rpc(&owner, "team", &[]).await;
        let id = member_id(&team, "leaver@example.com");
        let (s, _) = app.rpc(&owner, "remove_member", &[("user_id", &id)]).await;
        assert_eq!(s, 200);
        assert_eq!(me(&app, &member).await, Value::Null);
        let token = invite_token(&app, &owner, "leaver@example.com", "admin").await;
        let client = browser_client(&app.address);
        // Without an invite to go to, an account in no organization cannot sign in …
        let (s, _) = app
            .rpc(
                &client,
                "login",
                &[("email", "leaver@example.com"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(s, 403);
        // … with one, it signs in for the invite page and joins.
        let next = format!("/invite/{token}");
        let (s, body) = app
            .rpc(
                &client,
                "login",
                &[
                    ("email", "leaver@example.com"),
                    ("password", PASSWORD),
                    ("next", &next),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let (_, info) = app.rpc(&client, "invite_info", &[("token", &token)]).await;
        assert_eq!(info["signed_in_as"], "leaver@example.com");
        let (s, body) = app
            .rpc(&client, "accept_invite", &[("token", &token)])
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(me(&app, &client).await["role"], "admin");
    }
);

both_backends!(
    successful_sign_ins_do_not_use_up_the_address_limit,
    |b| async move {
        let db = TestDb::new(b).await;
        let mut config = test_config(&db.url);
        config.login_limit_per_ip = 3;
        let app = TestApp::spawn_with(config).await;
        let (_, email) = signup(&app, "Acme").await;
        for _ in 0..6 {
            let client = browser_client(&app.address);
            let (s, body) = app
                .rpc(
                    &client,
                    "login",
                    &[("email", &email), ("password", PASSWORD)],
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }
    }
);
