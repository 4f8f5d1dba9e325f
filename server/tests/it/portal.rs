//! The partner portal's isolation matrix, on both backends: two organizations with two
//! partners each, a partner user of each partner, and a team member. Every portal page,
//! server function and download is tried by every one of them, and every dashboard page,
//! server function and download by the partner users; each answer is the expected one (data,
//! 403, 404 or a redirect), and no answer to a partner user holds another partner's customer
//! keys or names.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// One partner of the matrix: its organization (index), key, its customer's key and name.
struct Seat {
    org: usize,
    partner: &'static str,
    customer: &'static str,
    name: &'static str,
}

const SEATS: [Seat; 4] = [
    Seat {
        org: 0,
        partner: "pa1",
        customer: "cust-a1",
        name: "Alice Aardvark",
    },
    Seat {
        org: 0,
        partner: "pa2",
        customer: "cust-a2",
        name: "Bruno Bison",
    },
    Seat {
        org: 1,
        partner: "pb1",
        customer: "cust-b1",
        name: "Carla Caracal",
    },
    Seat {
        org: 1,
        partner: "pb2",
        customer: "cust-b2",
        name: "Dario Dingo",
    },
];

/// The portal's server functions, with arguments that read the caller's own data.
const PORTAL_RPCS: [&str; 5] = [
    "portal_me",
    "portal_home",
    "portal_customers",
    "portal_commissions",
    "portal_statements",
];

const PORTAL_PAGES: [&str; 5] = [
    "/partner",
    "/partner/customers",
    "/partner/commissions",
    "/partner/payouts",
    "/partner/profile",
];

const DASHBOARD_PAGES: [&str; 14] = [
    "/",
    "/customers",
    "/customers/cust-a1",
    "/partners",
    "/partners/pa1",
    "/payouts",
    "/plans",
    "/events",
    "/settings/integrations/webhooks/chargebee",
    "/settings/commissions",
    "/settings/team",
    "/settings/api-keys",
    "/settings/account",
    "/settings/audit-log",
];

/// A paid payment of `amount` by the seat's customer, under its own Chargebee id.
fn payment(seat: &Seat, txn: &str, amount: i64) -> Value {
    let mut ev = payment_succeeded(
        &format!("ev_{txn}"),
        txn,
        amount,
        Some(seat.customer),
        Some(seat.partner),
    );
    ev = for_chargebee_customer(ev, &format!("cb_{}", seat.customer));
    ev["content"]["customer"]["first_name"] = json!(seat.name.split(' ').next().unwrap());
    ev["content"]["customer"]["last_name"] = json!(seat.name.split(' ').nth(1).unwrap());
    ev
}

/// Accepts `invite_url` as a new account; returns its signed-in client.
async fn accept(app: &TestApp, invite_url: &str) -> reqwest::Client {
    let token = invite_url.rsplit('/').next().unwrap();
    let client = browser_client(&app.address);
    let (s, body) = app
        .rpc(
            &client,
            "accept_invite",
            &[("token", token), ("password", PASSWORD)],
        )
        .await;
    assert!(s < 400, "accept: {s} {body}");
    client
}

async fn status_and_body(r: reqwest::Response) -> (u16, String, Option<String>) {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, r.text().await.unwrap(), location)
}

both_backends!(
    every_portal_and_dashboard_surface_answers_each_kind_of_user_with_only_their_own_data,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let orgs = [app.org("Org A").await, app.org("Org B").await];
        let mut runs: Vec<String> = vec![];
        for org in &orgs {
            org.send(
                Method::PUT,
                "/commission-terms",
                Some(json!({"rate_bps": 2000, "hold_days": 0, "effective_from": 0})),
            )
            .await;
        }
        for (n, seat) in SEATS.iter().enumerate() {
            orgs[seat.org]
                .deliver_ok(&payment(seat, &format!("txn_{n}"), 10_000 + n as i64))
                .await;
        }
        for org in &orgs {
            let (s, run) = org
                .send(
                    Method::POST,
                    "/payouts",
                    Some(json!({"up_to": 4_000_000_000_000i64})),
                )
                .await;
            assert_eq!(s, 201, "{run}");
            let id = run["id"].as_str().unwrap().to_string();
            let (s, _) = org
                .send(
                    Method::POST,
                    &format!("/payouts/{id}/paid"),
                    Some(json!({"reference": "WIRE-1"})),
                )
                .await;
            assert_eq!(s, 200);
            runs.push(id);
        }
        // A second run in org A that pays only pa2: pa1's user must not reach it.
        orgs[0]
            .deliver_ok(&payment(&SEATS[1], "txn_late", 5_000))
            .await;
        let (s, run) = orgs[0]
            .send(
                Method::POST,
                "/payouts",
                Some(json!({"up_to": 4_000_000_000_000i64})),
            )
            .await;
        assert_eq!(s, 201, "{run}");
        let only_pa2 = run["id"].as_str().unwrap().to_string();

        // A partner user for each partner, invited over REST and accepted as a new account.
        let mut users = vec![];
        for seat in &SEATS {
            let (s, body) = orgs[seat.org]
                .send(
                    Method::POST,
                    &format!("/partners/{}/users", seat.partner),
                    Some(json!({"email": format!("contact-{}@example.com", seat.partner)})),
                )
                .await;
            assert_eq!(s, 201, "{body}");
            users.push(accept(&app, body["invite_url"].as_str().unwrap()).await);
        }
        let team = app.signed_in(&orgs[0].email, PASSWORD).await;

        // Every partner user, everywhere.
        for (i, seat) in SEATS.iter().enumerate() {
            let me = &users[i];
            let others: Vec<&Seat> = SEATS.iter().filter(|s| s.partner != seat.partner).collect();
            let leaks = |what: &str, body: &str| {
                for o in &others {
                    assert!(
                        !body.contains(o.customer)
                            && !body.contains(o.name.split(' ').next().unwrap()),
                        "{}: {what} shows {}'s customer: {body}",
                        seat.partner,
                        o.partner
                    );
                }
            };
            for rpc in PORTAL_RPCS {
                let (s, body) = app.rpc(me, rpc, &[]).await;
                assert_eq!(s, 200, "{} {rpc}: {body}", seat.partner);
                leaks(rpc, &body.to_string());
            }
            let (_, customers) = app.rpc(me, "portal_customers", &[]).await;
            assert_eq!(customers["items"][0]["key"], seat.customer, "{customers}");
            assert_eq!(customers["items"].as_array().unwrap().len(), 1);
            let masked = customers["items"][0]["email"].as_str().unwrap();
            assert!(
                masked.contains('…') && !masked.contains(seat.customer),
                "{masked}"
            );
            let (_, entries) = app.rpc(me, "portal_commissions", &[]).await;
            assert!(entries["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["customer_key"] == seat.customer));
            // Another partner's customer, by key, is missing.
            for o in &others {
                let (s, body) = app
                    .rpc(me, "portal_commissions", &[("customer", o.customer)])
                    .await;
                assert_eq!(s, 404, "{} reading {}: {body}", seat.partner, o.customer);
            }
            let (s, _) = app
                .rpc(me, "portal_commissions", &[("customer", seat.customer)])
                .await;
            assert_eq!(s, 200);
            // Pages of the portal render theirs; the dashboard's send them to the portal.
            for path in PORTAL_PAGES {
                let html = app.page(me, path).await;
                assert!(!html.contains("Page not found"), "{path}");
                leaks(path, &html);
            }
            let home = app.page(me, "/partner/customers").await;
            assert!(home.contains(seat.customer), "{}: {home}", seat.partner);
            for path in DASHBOARD_PAGES {
                let r = me
                    .get(app.url(path))
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                let (s, html, to) = status_and_body(r).await;
                assert_eq!(
                    (s, to.as_deref()),
                    (303, Some("/partner")),
                    "{} asked {path}",
                    seat.partner
                );
                leaks(path, &html);
            }
            // Every server function that is not the portal's is refused before it runs.
            let mut refused = 0;
            for (path, _) in leptos::server_fn::axum::server_fn_paths() {
                let name = path.trim_start_matches("/rpc/");
                if server::http::signed_in::PORTAL_RPCS.contains(&name) {
                    continue;
                }
                refused += 1;
                let r = me
                    .post(app.url(path))
                    .form(&[("x", "")])
                    .send()
                    .await
                    .unwrap();
                let (s, body, _) = status_and_body(r).await;
                assert_eq!(s, 403, "{} called {path}: {body}", seat.partner);
                leaks(path, &body);
            }
            assert!(
                refused > 40,
                "the dashboard's server functions were all tried ({refused})"
            );
            // The dashboard's downloads and the REST API are not theirs either.
            for path in [
                "/exports/commissions.csv",
                "/exports/transactions.csv",
                &format!("/exports/payouts/{}.csv", runs[seat.org]),
            ] {
                let r = me.get(app.url(path)).send().await.unwrap();
                let (s, body, _) = status_and_body(r).await;
                assert_eq!(s, 403, "{} downloading {path}: {body}", seat.partner);
            }
            let r = me.get(app.url("/api/v1/partners")).send().await.unwrap();
            assert_eq!(r.status(), 401, "a session is not an API key");
            // Their downloads: own entries and own statements; another's run is missing.
            let r = me
                .get(app.url("/partner/exports/commissions.csv"))
                .send()
                .await
                .unwrap();
            let (s, csv, _) = status_and_body(r).await;
            assert_eq!(s, 200);
            assert!(csv.contains(seat.customer), "{csv}");
            leaks("commissions.csv", &csv);
            let own_run = &runs[seat.org];
            let r = me
                .get(app.url(&format!("/partner/exports/statements/{own_run}.csv")))
                .send()
                .await
                .unwrap();
            let (s, csv, _) = status_and_body(r).await;
            assert_eq!(s, 200, "{csv}");
            assert!(
                csv.contains(seat.partner) && csv.contains(own_run.as_str()),
                "{csv}"
            );
            assert_eq!(
                csv.lines().count(),
                2,
                "a header and their one statement: {csv}"
            );
            leaks("statement", &csv);
            let mut foreign: Vec<&String> = runs.iter().filter(|r| *r != own_run).collect();
            if seat.partner != "pa2" {
                foreign.push(&only_pa2);
            }
            for run in foreign {
                let r = me
                    .get(app.url(&format!("/partner/exports/statements/{run}.csv")))
                    .send()
                    .await
                    .unwrap();
                let (s, body, _) = status_and_body(r).await;
                assert_eq!(s, 404, "{} reading run {run}: {body}", seat.partner);
            }
            let r = me
                .get(app.url("/partner/exports/statements/pay_missing.csv"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404);
        }

        // The team member: the portal is not theirs.
        for rpc in PORTAL_RPCS {
            let (s, body) = app.rpc(&team, rpc, &[]).await;
            assert_eq!(s, 403, "team member called {rpc}: {body}");
        }
        for path in PORTAL_PAGES {
            let r = team
                .get(app.url(path))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            let (s, _, to) = status_and_body(r).await;
            assert_eq!(
                (s, to.as_deref()),
                (303, Some("/")),
                "team member asked {path}"
            );
        }
        for path in [
            "/partner/exports/commissions.csv".to_string(),
            format!("/partner/exports/statements/{}.csv", runs[0]),
        ] {
            let r = team.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status(), 403, "team member downloading {path}");
        }

        // An account that is only a partner user signs in at /login into the portal.
        let fresh = browser_client(&app.address);
        let r = fresh
            .post(app.url("/rpc/login"))
            .form(&[("email", "contact-pa2@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        let (s, _, to) = status_and_body(r).await;
        assert!(s < 400, "{s}");
        if let Some(to) = to {
            assert_eq!(to, "/partner");
        }
        let (s, _) = app.rpc(&fresh, "portal_home", &[]).await;
        assert_eq!(s, 200);
        let (s, _) = app.rpc(&fresh, "partners", &[]).await;
        assert_eq!(s, 403);

        // A partner user edits their partner's name and payout e-mail (and nothing else).
        let (s, body) = app
            .rpc(
                &users[1],
                "portal_profile",
                &[
                    ("name", "Bruno's Agency"),
                    ("email", "pay@bruno.example"),
                    ("key", "pa1"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let (_, pa2) = orgs[0].get("/partners/pa2").await;
        assert_eq!(
            (pa2["name"].as_str(), pa2["email"].as_str()),
            (Some("Bruno's Agency"), Some("pay@bruno.example"))
        );
        let (_, pa1) = orgs[0].get("/partners/pa1").await;
        assert_ne!(pa1["name"], "Bruno's Agency");

        // Removing a partner user ends their sessions at once.
        let (_, list) = orgs[0].get("/partners/pa1/users").await;
        let uid = list["data"][0]["user_id"].as_str().unwrap().to_string();
        let (s, body) = orgs[0]
            .send(Method::DELETE, &format!("/partners/pa1/users/{uid}"), None)
            .await;
        assert_eq!(s, 200, "{body}");
        let (s, _) = app.rpc(&users[0], "portal_home", &[]).await;
        assert_eq!(s, 401);
        let r = users[0]
            .get(app.url("/partner"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let (s, _, to) = status_and_body(r).await;
        assert_eq!((s, to.as_deref()), (303, Some("/login?next=/partner")));
        // Each change is in the audit log with who made it.
        let (_, log) = orgs[0].get("/audit-log?limit=200").await;
        let rows: Vec<(String, String, String)> = log["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap().to_string(),
                    r["actor"]["kind"].as_str().unwrap().to_string(),
                    r["actor"]["label"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        for (action, kind, label) in [
            ("partner_user.invited", "api_key", "tests"),
            ("partner_user.removed", "api_key", "tests"),
            ("partner.updated", "user", "contact-pa2@example.com"),
        ] {
            assert!(
                rows.iter()
                    .any(|(a, k, l)| a == action && k == kind && l.starts_with(label)),
                "{action} by {kind} {label} in {rows:?}"
            );
        }
        assert!(
            !log.to_string().contains("/invite/"),
            "no invite link in the audit log"
        );
        // Another organization's partner cannot be reached through this one's API key.
        let (s, _) = orgs[0].get("/partners/pb1/users").await;
        assert_eq!(s, 404);
    }
);

both_backends!(
    one_account_is_a_team_member_here_and_a_partner_user_there_and_switches_between_them,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let (a, b2) = (app.org("Org A").await, app.org("Org B").await);
        b2.deliver_ok(&payment(&SEATS[2], "txn_b", 4_000)).await;
        // Org A's owner is invited to Org B's partner pb1, and accepts signed in (no password).
        let (s, body) = b2
            .send(
                Method::POST,
                "/partners/pb1/users",
                Some(json!({"email": a.email})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        let link = body["invite_url"].as_str().unwrap().to_string();
        let token = link.rsplit('/').next().unwrap().to_string();
        let owner = app.signed_in(&a.email, PASSWORD).await;
        // Not signed in, an existing account cannot take the invite with a password.
        let stranger = browser_client(&app.address);
        let (s, _) = app
            .rpc(
                &stranger,
                "accept_invite",
                &[("token", &token), ("password", "x".repeat(12).as_str())],
            )
            .await;
        assert_eq!(s, 409);
        let (s, body) = app.rpc(&owner, "accept_invite", &[("token", &token)]).await;
        assert!(s < 400, "{s} {body}");
        // Now in the portal of pb1; the switcher lists both memberships with their kinds.
        let (s, me) = app.rpc(&owner, "portal_me", &[]).await;
        assert_eq!(s, 200, "{me}");
        let labels: Vec<&str> = me["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Org A", "Org B"]);
        assert!(me["choices"][0]["partner"].is_null());
        assert_eq!(me["choices"][1]["partner"]["key"], "pb1");
        let html = app.page(&owner, "/partner").await;
        assert!(
            html.contains("Org A — owner"),
            "the switcher names the kind"
        );
        assert!(html.contains("Org B — partner portal of pb1"));
        // Back to the team membership: the dashboard again, the portal refused.
        let org_a = me["choices"][0]["id"].as_str().unwrap().to_string();
        let (s, _) = app.rpc(&owner, "switch_org", &[("org_id", &org_a)]).await;
        assert!(s < 400);
        let (s, _) = app.rpc(&owner, "partners", &[]).await;
        assert_eq!(s, 200);
        let (s, _) = app.rpc(&owner, "portal_home", &[]).await;
        assert_eq!(s, 403);
        // And to the portal: only through a membership of their own.
        let portal = me["current"].as_str().unwrap().to_string();
        let (s, _) = app.rpc(&owner, "switch_org", &[("org_id", &portal)]).await;
        assert!(s < 400);
        let (s, _) = app.rpc(&owner, "portal_home", &[]).await;
        assert_eq!(s, 200);
        let other_partner = format!("{}/prt_not_theirs", portal.split('/').next().unwrap());
        let (s, _) = app
            .rpc(&owner, "switch_org", &[("org_id", &other_partner)])
            .await;
        assert_eq!(s, 404);
        // Signing in again starts in the team membership (the dashboard).
        let again = app.signed_in(&a.email, PASSWORD).await;
        let (s, _) = app.rpc(&again, "partners", &[]).await;
        assert_eq!(s, 200);
    }
);

both_backends!(
    the_portal_pages_customers_25_at_a_time_searches_them_and_says_when_there_is_nothing_yet,
    |b| async move {
        let app = TestApp::spawn(b).await;
        let org = app.org("Org").await;
        let (_, body) = org
            .send(
                Method::POST,
                "/partners",
                Some(json!({"key": "p1", "name": "Partner One"})),
            )
            .await;
        assert_eq!(body["key"], "p1");
        let (_, invite) = org
            .send(
                Method::POST,
                "/partners/p1/users",
                Some(json!({"email": "p1-contact@example.com"})),
            )
            .await;
        let user = accept(&app, invite["invite_url"].as_str().unwrap()).await;
        // Nothing yet: every page says what will appear.
        for (path, empty) in [
            ("/partner/customers", "portal-customers-empty"),
            ("/partner/commissions", "portal-commissions-empty"),
            ("/partner/payouts", "portal-payouts-empty"),
            ("/partner", "monthly-empty"),
        ] {
            let html = app.page(&user, path).await;
            assert!(html.contains(empty), "{path}");
        }
        // 30 customers of p1 (one named Zed), created over the REST API.
        for n in 0..30 {
            let name = if n == 7 {
                "Zed Zebra".to_string()
            } else {
                format!("Customer {n}")
            };
            let (s, body) = org
                .send(
                    Method::POST,
                    "/customers",
                    Some(json!({"key": format!("k{n:02}"), "name": name, "email": format!("c{n}@example.com"), "partner_key": "p1"})),
                )
                .await;
            assert_eq!(s, 201, "{body}");
        }
        let (s, first) = app.rpc(&user, "portal_customers", &[]).await;
        assert_eq!(s, 200);
        assert_eq!(first["items"].as_array().unwrap().len(), 25);
        assert_eq!(first["items"][0]["email"], "c…@example.com");
        let cursor = first["next_cursor"].as_str().unwrap().to_string();
        let (_, second) = app
            .rpc(&user, "portal_customers", &[("after", &cursor)])
            .await;
        assert_eq!(second["items"].as_array().unwrap().len(), 5);
        assert!(second["next_cursor"].is_null());
        let (_, found) = app.rpc(&user, "portal_customers", &[("q", "zebra")]).await;
        let keys: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["k07"]);
        // By e-mail nothing is found: the portal never confirms an address.
        let (_, by_email) = app
            .rpc(&user, "portal_customers", &[("q", "c7@example.com")])
            .await;
        assert_eq!(by_email["items"], json!([]));
        // A partner user changes their own password (there is no dashboard account page for
        // them); the old one stops working.
        let (s, body) = app
            .rpc(
                &user,
                "change_password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new passphrase"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let retry = browser_client(&app.address);
        let (s, _) = app
            .rpc(
                &retry,
                "login",
                &[("email", "p1-contact@example.com"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(s, 401);
        // Wildcards are plain characters.
        let (_, wild) = app.rpc(&user, "portal_customers", &[("q", "%")]).await;
        assert_eq!(wild["items"], json!([]));
    }
);
