//! Several server processes on one PostgreSQL database, and the database going away under load.

use crate::helpers::*;
use serde_json::{json, Value};

async fn start_instance(db_url: &str, extra: &[(&str, &str)]) -> Process {
    start_process(db_url, extra).await
}

async fn admin_url() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap()
}

fn db_name(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_and_apply_a_concurrent_duplicate_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = start_instance(&db.url, &[]).await;
    let b = start_instance(&db.url, &[]).await;

    // Sign up on A; the session cookie works on B.
    let client = browser_client(&a.base);
    let r = client
        .post(format!("{}/rpc/signup", a.base))
        .form(&[
            ("organization", "Acme"),
            ("email", "ops@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let me_on_b: Value = reqwest::Client::new()
        .post(format!("{}/rpc/me", b.base))
        .header("cookie", &cookie)
        .header("origin", &b.base)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me_on_b["email"], "ops@example.com",
        "session not valid on the other instance"
    );

    // The same Chargebee event, delivered concurrently to both instances.
    let integration: Value = client
        .post(format!("{}/rpc/chargebee", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url_a = integration["webhook_url"].as_str().unwrap().to_string();
    let token = url_a.rsplit('/').next().unwrap().to_string();
    let url_b = format!("{}/webhooks/chargebee/{token}", b.base);
    let ev = payment_succeeded("ev_shared", "txn_shared", 4200, Some("cust_1"), Some("p1"));
    let http = reqwest::Client::new();
    let sends = (0..20).map(|i| {
        let url = if i % 2 == 0 {
            url_a.clone()
        } else {
            url_b.clone()
        };
        let http = http.clone();
        let ev = ev.clone();
        async move {
            http.post(url)
                .json(&ev)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    let results = futures::future::join_all(sends).await;
    let processed = results
        .iter()
        .filter(|r| r["outcome"] == "processed")
        .count();
    let duplicates = results
        .iter()
        .filter(|r| r["outcome"] == "duplicate")
        .count();
    assert_eq!((processed, duplicates), (1, 19), "{results:?}");
    let key: String = reqwest::Client::new()
        .post(format!("{}/rpc/create_api_key", b.base))
        .header("cookie", &cookie)
        .header("origin", &b.base)
        .form(&[("name", "k")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let txns: Value = api_client(&key)
        .get(format!("{}/api/v1/customers/cust_1/transactions", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(txns["data"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_retries_run_once_across_instances() {
    let db = TestDb::new(Backend::Postgres).await;
    let app = TestApp::spawn_with(test_config(&db.url)).await;
    let org = app.org("Acme").await;
    // Twenty events that fail to process (a payment without its transaction).
    for i in 0..20 {
        let ev = envelope(
            &format!("ev_{i}"),
            "payment_succeeded",
            1_700_000_000,
            json!({"customer": cb_customer("cb_1", Some("c1"), Some("p1"))}),
        );
        assert_eq!(org.deliver_ok(&ev).await["outcome"], "failed");
    }
    drop(app);
    // Make them due now, then let two instances with a 1-second worker interval compete.
    sqlx::query("UPDATE webhook_events SET next_attempt_at = 0 WHERE outcome = 'failed'")
        .execute(&sqlx::PgPool::connect(&db.url).await.unwrap())
        .await
        .unwrap();
    let _a = start_instance(&db.url, &[("RETRY_INTERVAL_SECONDS", "1")]).await;
    let _b = start_instance(&db.url, &[("RETRY_INTERVAL_SECONDS", "1")]).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut waited = 0;
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE outcome = 'failed'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        waited += 1;
        assert!(waited < 200, "retries did not run");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Each event was attempted exactly once more (a second, concurrent run would show 2).
    let attempts: Vec<(String, i32)> =
        sqlx::query_as("SELECT outcome, attempts FROM webhook_events WHERE event_id IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(attempts.len(), 20);
    for (outcome, n) in attempts {
        assert_eq!(outcome, "rejected");
        assert_eq!(n, 1, "an event was retried more than once");
    }
    // Two concurrent claims on the same due work get disjoint sets.
    sqlx::query("UPDATE webhook_events SET outcome = 'failed', next_attempt_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    let s1 = backend::storage::connect(&db.url, &Default::default())
        .await
        .unwrap();
    let s2 = backend::storage::connect(&db.url, &Default::default())
        .await
        .unwrap();
    let now = backend::clock::Clock::now_ms(&backend::clock::SystemClock);
    let (c1, c2) = tokio::join!(
        s1.claim_due_events(now, 15, now + 60_000),
        s2.claim_due_events(now, 15, now + 60_000)
    );
    let (c1, c2) = (c1.unwrap(), c2.unwrap());
    let ids1: std::collections::HashSet<_> = c1.iter().map(|e| e.id.clone()).collect();
    assert!(
        c2.iter().all(|e| !ids1.contains(&e.id)),
        "the same event was claimed twice"
    );
    assert_eq!(c1.len() + c2.len(), 40.min(c1.len() + c2.len()));
}

/// A server on a fresh PostgreSQL database, its configuration adjusted by `tune`, with an
/// organization that has received one payment (customer `c1`).
async fn seeded_pg_app(
    tune: impl FnOnce(&mut server::config::Config),
) -> (TestDb, TestApp, TestOrg) {
    let db = TestDb::new(Backend::Postgres).await;
    let mut config = test_config(&db.url);
    tune(&mut config);
    let app = TestApp::spawn_with(config).await;
    let org = app.org("Acme").await;
    org.deliver_ok(&payment_succeeded(
        "ev_0",
        "txn_0",
        100,
        Some("c1"),
        Some("p1"),
    ))
    .await;
    (db, app, org)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_get_503_while_postgres_is_unreachable_and_succeed_after_without_a_restart() {
    let (db, app, org) = seeded_pg_app(|config| config.db_acquire_timeout_seconds = 1).await;
    let name = db_name(&db.url);
    let mut admin = admin_url().await;
    // The database stops accepting connections and every open one is cut.
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    for i in 1..=3 {
        let r = org
            .deliver(&payment_succeeded(
                &format!("ev_{i}"),
                &format!("txn_{i}"),
                100,
                Some("c1"),
                None,
            ))
            .await;
        assert_eq!(r.status(), 503, "delivery {i} during the outage");
        assert_eq!(r.headers().get("retry-after").unwrap(), "30");
    }
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    // The database comes back; the same server recovers and Chargebee's retries land.
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    for i in 1..=3 {
        let body = org
            .deliver_ok(&payment_succeeded(
                &format!("ev_{i}"),
                &format!("txn_{i}"),
                100,
                Some("c1"),
                None,
            ))
            .await;
        assert_eq!(body["outcome"], "processed");
    }
    assert_eq!(org.transactions("c1").await.len(), 4);
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_or_an_exhausted_pool_answers_503_and_the_server_carries_on() {
    let (db, _app, org) = seeded_pg_app(|config| {
        config.db_statement_timeout_ms = 300;
        config.db_acquire_timeout_seconds = 1;
        config.db_max_connections = 2;
    })
    .await;
    // Another session holds a lock that every delivery's transaction waits on (its state
    // query reads the events table; the webhook token itself is cached by now).
    use sqlx::Connection;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    // Several at once: some hit the statement timeout, the rest cannot get one of the two
    // connections in time. Either way: 503, so Chargebee retries.
    let evs: Vec<Value> = (1..=4)
        .map(|i| {
            payment_succeeded(
                &format!("ev_{i}"),
                &format!("txn_{i}"),
                100,
                Some("c1"),
                None,
            )
        })
        .collect();
    let responses = futures::future::join_all(evs.iter().map(|ev| org.deliver(ev))).await;
    for r in &responses {
        assert_eq!(r.status(), 503);
    }
    tx.rollback().await.unwrap();
    // The lock is gone: the retries are applied by the same server.
    for ev in &evs {
        assert_eq!(org.deliver_ok(ev).await["outcome"], "processed");
    }
    assert_eq!(org.transactions("c1").await.len(), 5);
}
