//! Migrations over data written by earlier versions: a database migrated up to an earlier
//! version, filled the way that version wrote, then migrated to the newest.

use crate::both_backends;
use crate::helpers::*;
use backend::domain::OrgId;
use backend::storage::{EntryFilter, PoolSettings};
use std::borrow::Cow;

/// Applies the first `n` migrations of `backend` to `url`, then runs `seed`.
async fn migrate_to(backend: Backend, url: &str, n: usize, seed: &str) {
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dir);
    let mut m = sqlx::migrate::Migrator::new(path).await.unwrap();
    m.migrations = Cow::Owned(m.migrations[..n].to_vec());
    match backend {
        Backend::Sqlite => {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true))
                .await
                .unwrap();
            m.run(&pool).await.unwrap();
            sqlx::raw_sql(seed).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            m.run(&pool).await.unwrap();
            sqlx::raw_sql(seed).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// The store on `url`, migrated to the newest version.
async fn migrated(url: &str) -> backend::storage::DynStorage {
    let pool = PoolSettings {
        max_connections: 4,
        acquire_timeout: std::time::Duration::from_secs(10),
        statement_timeout_ms: 30_000,
        release_chunk: 100,
    };
    let store = backend::storage::connect(url, &pool).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Payout runs as version 0005 wrote them: entries tagged with their run, several drafts.
const RUNS_0005: &str = "
INSERT INTO organizations (id, name, created_at) VALUES ('o1', 'Acme', 0);
INSERT INTO partners (id, org_id, key, created_at) VALUES ('p1', 'o1', 'p1', 0);
INSERT INTO customers (id, org_id, key, partner_id, created_at) VALUES ('c1', 'o1', 'c1', 'p1', 0);
INSERT INTO payouts (id, org_id, up_to, status, reference, created_at, closed_at) VALUES
  ('r1', 'o1', 100, 'paid', 'WIRE-1', 100, 150),
  ('r2', 'o1', 200, 'draft', NULL, 200, NULL),
  ('r3', 'o1', 300, 'draft', NULL, 300, NULL);
INSERT INTO commission_entries (id, org_id, key, partner_id, customer_id, transaction_id, kind,
  amount, currency, occurred_at, payable_at, payout_id, created_at) VALUES
  ('e0', 'o1', 'commission:t0', 'p1', 'c1', 't0', 'commission', 40, 'USD', 0, 1000, NULL, 0),
  ('e1', 'o1', 'commission:t1', 'p1', 'c1', 't1', 'commission', 100, 'USD', 1, 10, 'r1', 1),
  ('e2', 'o1', 'commission:t2', 'p1', 'c1', 't2', 'commission', 200, 'USD', 2, 10, 'r2', 2),
  ('e3', 'o1', 'commission:t3', 'p1', 'c1', 't3', 'commission', 300, 'USD', 3, 10, 'r3', 3),
  ('e4', 'o1', 'commission:t4', 'p1', 'c1', 't4', 'commission', 50, 'USD', 4, 10, NULL, 4);
";

both_backends!(
    payout_runs_of_version_5_keep_what_they_took_and_older_drafts_free_theirs,
    |b| async move {
        let db = TestDb::new(b).await;
        migrate_to(b, &db.url, 5, RUNS_0005).await;
        let store = migrated(&db.url).await;
        let org = OrgId::from_trusted("o1".to_string());
        let now = 10_000;
        let run = |id: &'static str| {
            let store = store.clone();
            let org = org.clone();
            async move { store.payout(&org, id).await.unwrap().unwrap() }
        };
        // r1 stays paid with what it took; r2, an older draft, is cancelled; r3 stays a draft.
        let (r1, r2, r3) = (run("r1").await, run("r2").await, run("r3").await);
        assert_eq!((r1.status.as_str(), r1.number), ("paid", 1));
        assert_eq!(r1.statements[0].amount, 100);
        assert_eq!(r2.status, "cancelled");
        assert_eq!(
            (r3.status.as_str(), r3.statements[0].amount),
            ("draft", 300)
        );
        let entries = store
            .commission_entries(
                &org,
                &EntryFilter {
                    now,
                    ..Default::default()
                },
                None,
                50,
            )
            .await
            .unwrap()
            .items;
        let of = |id: &str| {
            let e = entries.iter().find(|e| e.id == id).unwrap();
            (e.status.clone(), e.payout_id.clone())
        };
        assert_eq!(of("e1"), ("paid".into(), Some("r1".into())));
        assert_eq!(
            of("e2"),
            ("approved".into(), None),
            "freed from the cancelled draft"
        );
        assert_eq!(of("e3"), ("approved".into(), Some("r3".into())));
        assert_eq!(of("e4"), ("approved".into(), None));
        assert_eq!(of("e0"), ("approved".into(), None));
        // Once r3 is paid, the next run takes exactly the free entries: e0, e2 and e4.
        store
            .mark_payout_paid(&org, "r3", "WIRE-3", now)
            .await
            .unwrap();
        let next = store.create_payout(&org, now, now).await.unwrap();
        assert_eq!(next.number, 4);
        assert_eq!(
            (next.statements[0].amount, next.statements[0].entries),
            (290, 3)
        );
        let balance = store
            .partner_balance(&org, "p1", now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(balance[0].balance.paid, 400);
        assert_eq!(balance[0].balance.approved, 290);
        drop(store);
        drop(db);
    }
);

/// Payments as version 0011 stored them, with no event of their own: t1 recorded by two
/// events (the earlier one first), t2 by an event whose payload was pruned, t3 by an event
/// with a NUL escape; a refused non-JSON delivery that must not stop the migration.
const PAYMENTS_0011: &str = r#"
INSERT INTO organizations (id, name, created_at) VALUES ('o1', 'Acme', 0);
INSERT INTO partners (id, org_id, key, created_at) VALUES ('p1', 'o1', 'p1', 0);
INSERT INTO customers (id, org_id, key, partner_id, created_at) VALUES ('c1', 'o1', 'c1', 'p1', 0);
INSERT INTO webhook_events (id, org_id, event_id, event_type, received_at, outcome, payload) VALUES
  ('w_late', 'o1', 'ev_b', 'payment_succeeded', 20, 'processed',
   '{"content": {"transaction": {"id": "t1"}}}'),
  ('w_first', 'o1', 'ev_a', 'payment_succeeded', 10, 'processed',
   '{"content": {"transaction": {"id": "t1"}}}'),
  ('w_pruned', 'o1', 'ev_c', 'payment_succeeded', 30, 'processed', ''),
  ('w_nul', 'o1', 'ev_d', 'payment_succeeded', 40, 'processed',
   '{"content": {"transaction": {"id": "t3", "x": "a\u0000b"}}}'),
  ('w_bad', 'o1', NULL, NULL, 50, 'rejected', 'not json {'),
  ('w_refund', 'o1', 'ev_r', 'payment_refunded', 60, 'processed',
   '{"content": {"transaction": {"id": "re_1"}}}');
INSERT INTO transactions (id, org_id, chargebee_id, customer_id, recorded, amount, currency,
  occurred_at, created_at) VALUES
  ('x1', 'o1', 't1', 'c1', TRUE, 1000, 'USD', 1, 1),
  ('x2', 'o1', 't2', 'c1', TRUE, 1000, 'USD', 2, 2),
  ('x3', 'o1', 't3', 'c1', TRUE, 1000, 'USD', 3, 3);
INSERT INTO refunds (org_id, chargebee_id, original_txn_id, amount, currency, occurred_at,
  event_row) VALUES ('o1', 're_1', 't1', 500, 'USD', 4, 'w_refund');
INSERT INTO commission_entries (id, org_id, key, partner_id, customer_id, transaction_id, kind,
  amount, currency, occurred_at, payable_at, created_at, seq) VALUES
  ('e1', 'o1', 'commission:t1', 'p1', 'c1', 't1', 'commission', 200, 'USD', 1, 10, 1, 1),
  ('e2', 'o1', 'commission:t2', 'p1', 'c1', 't2', 'commission', 200, 'USD', 2, 10, 2, 2),
  ('e3', 'o1', 'commission:t3', 'p1', 'c1', 't3', 'commission', 200, 'USD', 3, 10, 3, 3),
  ('e4', 'o1', 'clawback:re_1', 'p1', 'c1', 't1', 'clawback', -100, 'USD', 4, 10, 4, 4);
"#;

both_backends!(
    payments_of_version_11_are_matched_to_the_first_event_that_recorded_them,
    |b| async move {
        let db = TestDb::new(b).await;
        migrate_to(b, &db.url, 11, PAYMENTS_0011).await;
        let store = migrated(&db.url).await;
        let org = OrgId::from_trusted("o1".to_string());
        let entries = store
            .commission_entries(&org, &EntryFilter::default(), None, 50)
            .await
            .unwrap()
            .items;
        let event_of = |id: &str| {
            entries
                .iter()
                .find(|e| e.id == id)
                .unwrap()
                .webhook_event_id
                .clone()
        };
        assert_eq!(event_of("e1").as_deref(), Some("w_first"));
        assert_eq!(event_of("e2"), None, "its payload was pruned");
        assert_eq!(event_of("e4").as_deref(), Some("w_refund"));
        // SQLite reads the NUL escape; PostgreSQL's JSON cannot, so that one payment is left
        // without an event rather than failing the migration.
        let nul = match b {
            Backend::Sqlite => Some("w_nul"),
            Backend::Postgres => None,
        };
        assert_eq!(event_of("e3").as_deref(), nul);
    }
);

/// Deliveries refused before version 13, known only by the reason they were recorded with.
const REFUSED_0012: &str = r#"
INSERT INTO organizations (id, name, created_at) VALUES ('o1', 'Acme', 0);
INSERT INTO webhook_events (id, org_id, received_at, outcome, detail, payload) VALUES
  ('w1', 'o1', 100, 'rejected',
   'this webhook requires HTTP Basic Auth credentials; the ones sent are missing or wrong', ''),
  ('w2', 'o1', 200, 'rejected', 'only v2 webhooks are supported (api_version is "v1")', '{}'),
  ('w3', 'o1', 300, 'rejected', 'body is not valid JSON: expected value at line 1', 'x'),
  ('w4', 'o1', 50, 'processed', NULL, '{}');
"#;

both_backends!(
    deliveries_refused_before_version_13_keep_their_reason,
    |b| async move {
        let db = TestDb::new(b).await;
        migrate_to(b, &db.url, 12, REFUSED_0012).await;
        let store = migrated(&db.url).await;
        let org = OrgId::from_trusted("o1".to_string());
        let facts = store.health_facts(&org, 1_000).await.unwrap();
        let reasons: Vec<(&str, i64)> = facts
            .refusals
            .iter()
            .map(|r| (r.refusal.as_str(), r.last_at))
            .collect();
        assert_eq!(
            reasons,
            [("basic_auth", 100), ("not_json", 300), ("api_version", 200)]
        );
        assert_eq!(
            (facts.last_delivery_at, facts.last_accepted_at),
            (Some(300), Some(50))
        );
    }
);
