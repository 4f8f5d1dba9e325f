#![recursion_limit = "512"]
//! Benchmarks: `bench ingest` (webhook ingestion vs a minimal durable-insert baseline),
//! `bench dashboard` (customer list and detail at 100k customers / 1M transactions) and
//! `bench release` (one customer freeing 100k parked events).
//! Run through `scripts/bench`, which builds everything in release mode first.
//! `bench serve-baseline` is the baseline server the ingestion benchmark compares with.

mod baseline;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(about = "Partner Ledger benchmarks")]
struct Cli {
    /// The server binary to benchmark.
    #[arg(long, default_value = "target/release/partner-ledger")]
    server: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Webhook ingestion throughput and latency, with the baseline in the same run.
    Ingest {
        /// sqlite or postgres
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// PostgreSQL server URL (a database is created and dropped per run).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg: String,
    },
    /// One customer that frees many parked events: how long its creation takes (one chunk),
    /// how long the background takes for the rest, and other deliveries' latency meanwhile.
    Release {
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long, default_value_t = 100_000)]
        parked: usize,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg: String,
    },
    /// The baseline server (started by `ingest`): only durably inserts each raw body, with the
    /// same database settings and commit strategy as the webhook endpoint.
    #[command(hide = true)]
    ServeBaseline,
    /// A payout run over many partners and entries, and the balance and entry pages at that
    /// scale.
    Payouts {
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long, default_value_t = 10_000)]
        partners: usize,
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        #[arg(long, default_value_t = 200)]
        requests: usize,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg: String,
    },
    /// Dashboard latency with a large tenant.
    Dashboard {
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        #[arg(long, default_value_t = 1_000_000)]
        transactions: usize,
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Webhook events received over the last 7 days (what the integration health reads).
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg: String,
    },
}

struct Server {
    child: tokio::process::Child,
    base: String,
    pid: u32,
}

impl Server {
    async fn start(
        bin: &PathBuf,
        db_url: &str,
        dir: &std::path::Path,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(bin)
            .args(args)
            .current_dir(dir)
            .env("DATABASE_URL", db_url)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env(
                "SECRET_KEY",
                "bench-secret-key-that-is-long-enough-0123456789",
            )
            .env("LOG_LEVEL", "warn")
            .env(
                "DB_MAX_CONNECTIONS",
                std::env::var("BENCH_DB_MAX_CONNECTIONS").unwrap_or_else(|_| "16".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next_line()
                .await?
                .ok_or_else(|| anyhow::anyhow!("server exited before listening"))?;
            if let Some(rest) = line.split("open ").nth(1) {
                break rest.split(' ').next().unwrap_or_default().to_string();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, base, pid })
    }

    /// Peak resident set size (VmHWM) in MiB.
    fn peak_rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A database for one run: a temporary SQLite file or a fresh PostgreSQL database.
struct BenchDb {
    url: String,
    pg: Option<(String, String)>,
    dir: tempfile::TempDir,
}

impl BenchDb {
    async fn new(backend: &str, pg: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        if backend == "postgres" {
            use sqlx::Connection;
            let name = format!("pl_bench_{}", std::process::id());
            let mut conn = sqlx::PgConnection::connect(pg).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let url = format!("{}/{name}", &pg[..pg.rfind('/').unwrap()]);
            Ok(Self {
                url,
                pg: Some((pg.to_string(), name)),
                dir,
            })
        } else {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            Ok(Self { url, pg: None, dir })
        }
    }

    async fn drop_db(self) {
        if let Some((admin, name)) = self.pg {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

struct LoadResult {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: usize,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn row(&self, name: &str, rss: f64) -> String {
        format!(
            "| {name} | {:.0} | {} | {} | {} | {} | {:.0} | {} |",
            self.rate(),
            ms(percentile(&self.latencies, 0.5)),
            ms(percentile(&self.latencies, 0.9)),
            ms(percentile(&self.latencies, 0.99)),
            ms(*self.latencies.last().unwrap_or(&Duration::ZERO)),
            rss,
            self.errors
        )
    }
}

/// Sends `bodies` to `url` with `concurrency` requests in flight.
async fn load(url: &str, bodies: Arc<Vec<String>>, concurrency: usize) -> LoadResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let (client, bodies, next, url) = (
            client.clone(),
            bodies.clone(),
            next.clone(),
            url.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                lat.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut latencies = vec![];
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    LoadResult {
        events: bodies.len(),
        elapsed,
        latencies,
        errors,
    }
}

fn customer(i: usize) -> Value {
    json!({
        "id": format!("cb_cus_{i}"), "first_name": "Ada", "last_name": format!("Customer {i}"),
        "email": format!("customer{i}@example.com"), "auto_collection": "on", "net_term_days": 0,
        "allow_direct_debit": false, "created_at": 1_700_000_000, "taxability": "taxable",
        "updated_at": 1_700_000_000, "locale": "en", "resource_version": 1_700_000_000_000i64 + i as i64,
        "deleted": false, "object": "customer", "billing_address": {"first_name": "Ada", "line1": "1 Main St",
        "city": "Springfield", "state": "IL", "country": "US", "zip": "62701", "validation_status": "not_validated", "object": "billing_address"},
        "card_status": "valid", "promotional_credits": 0, "refundable_credits": 0, "excess_payments": 0,
        "unbilled_charges": 0, "preferred_currency_code": "USD",
        "meta_data": {"customer_key": format!("cust_{i}"), "partner_key": format!("partner_{}", i % 50)},
    })
}

fn envelope(id: String, event_type: &str, content: Value) -> String {
    json!({
        "id": id, "occurred_at": 1_700_000_000, "source": "scheduled_job", "object": "event",
        "api_version": "v2", "event_type": event_type, "webhook_status": "scheduled", "content": content,
    })
    .to_string()
}

/// A realistic mix: payments with full invoice and customer, renewals, customer changes,
/// refunds, and ~10% re-deliveries.
fn workload(n: usize, customers: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut sent: Vec<String> = vec![];
    for i in 0..n {
        if i % 10 == 9 && !sent.is_empty() {
            out.push(sent[(i * 7919) % sent.len()].clone());
            continue;
        }
        let c = i % customers;
        let body = match i % 10 {
            0..=4 => {
                let txn = format!("txn_{i}");
                envelope(
                    format!("ev_pay_{i}"),
                    "payment_succeeded",
                    json!({
                        "transaction": {"id": txn, "customer_id": format!("cb_cus_{c}"), "subscription_id": format!("sub_{c}"),
                            "gateway_account_id": "gw_1", "payment_source_id": "pm_1", "payment_method": "card", "gateway": "stripe",
                            "type": "payment", "date": 1_700_000_000 + i as i64, "settled_at": 1_700_000_000 + i as i64,
                            "exchange_rate": 1.0, "currency_code": "USD", "amount": 4900, "id_at_gateway": format!("ch_{i}"),
                            "status": "success", "masked_card_number": "************4242", "base_currency_code": "USD",
                            "amount_unused": 0, "linked_invoices": [{"invoice_id": format!("inv_{i}"), "applied_amount": 4900,
                            "applied_at": 1_700_000_000, "invoice_date": 1_700_000_000, "invoice_total": 4900, "invoice_status": "paid"}],
                            "linked_refunds": [], "deleted": false, "object": "transaction", "resource_version": 1_700_000_000_000i64},
                        "invoice": {"id": format!("inv_{i}"), "customer_id": format!("cb_cus_{c}"), "subscription_id": format!("sub_{c}"),
                            "recurring": true, "status": "paid", "price_type": "tax_exclusive", "date": 1_700_000_000, "due_date": 1_700_000_000,
                            "net_term_days": 0, "exchange_rate": 1.0, "total": 4900, "amount_paid": 4900, "amount_adjusted": 0,
                            "write_off_amount": 0, "credits_applied": 0, "amount_due": 0, "paid_at": 1_700_000_000, "currency_code": "USD",
                            "tax": 0, "sub_total": 4900, "line_items": [{"id": format!("li_{i}"), "date_from": 1_700_000_000,
                            "date_to": 1_702_592_000, "unit_amount": 4900, "quantity": 1, "amount": 4900, "pricing_model": "flat_fee",
                            "is_taxed": false, "tax_amount": 0, "object": "line_item", "subscription_id": format!("sub_{c}"),
                            "customer_id": format!("cb_cus_{c}"), "description": "Pro Monthly", "entity_type": "plan_item_price",
                            "entity_id": "pro-USD-monthly", "discount_amount": 0, "item_level_discount_amount": 0}],
                            "linked_payments": [{"txn_id": format!("txn_{i}"), "applied_amount": 4900, "applied_at": 1_700_000_000,
                            "txn_status": "success", "txn_date": 1_700_000_000, "txn_amount": 4900}], "object": "invoice"},
                        "customer": customer(c),
                        "card": {"status": "valid", "gateway": "stripe", "iin": "424242", "last4": "4242", "card_type": "visa",
                            "expiry_month": 12, "expiry_year": 2030, "masked_number": "************4242", "object": "card"},
                    }),
                )
            }
            5 | 6 => envelope(
                format!("ev_sub_{i}"),
                "subscription_renewed",
                json!({
                    "subscription": {"id": format!("sub_{c}"), "customer_id": format!("cb_cus_{c}"), "status": "active",
                        "current_term_start": 1_700_000_000, "current_term_end": 1_702_592_000, "mrr": 4900, "currency_code": "USD",
                        "billing_period": 1, "billing_period_unit": "month", "resource_version": 1_700_000_000_000i64 + i as i64,
                        "subscription_items": [{"item_price_id": "pro-USD-monthly", "item_type": "plan", "quantity": 1,
                            "unit_price": 4900, "amount": 4900, "object": "subscription_item"}], "object": "subscription"},
                    "customer": customer(c),
                }),
            ),
            7 => envelope(
                format!("ev_cus_{i}"),
                "customer_changed",
                json!({"customer": customer(c)}),
            ),
            _ => {
                let original = format!("txn_{}", i - 3);
                envelope(
                    format!("ev_ref_{i}"),
                    "payment_refunded",
                    json!({
                        "transaction": {"id": format!("txn_ref_{i}"), "customer_id": format!("cb_cus_{c}"), "type": "refund",
                            "date": 1_700_000_500, "currency_code": "USD", "amount": 1000, "status": "success",
                            "refunded_txn_id": original, "object": "transaction"},
                        "customer": customer(c),
                    }),
                )
            }
        };
        sent.push(body.clone());
        out.push(body);
    }
    out
}

async fn create_org(bin: &PathBuf, db_url: &str, dir: &std::path::Path) -> anyhow::Result<Value> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(bin)
        .args([
            "admin",
            "create-org",
            "--name",
            "Bench Co",
            "--email",
            "bench@example.com",
        ])
        .current_dir(dir)
        .env("DATABASE_URL", db_url)
        .env(
            "SECRET_KEY",
            "bench-secret-key-that-is-long-enough-0123456789",
        )
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .await?;
    let out = child.wait_with_output().await?;
    anyhow::ensure!(out.status.success(), "create-org failed");
    Ok(serde_json::from_slice(&out.stdout)?)
}

async fn ingest(
    bin: &PathBuf,
    backend: &str,
    concurrency: usize,
    events: usize,
    pg: &str,
) -> anyhow::Result<()> {
    const CUSTOMERS: usize = 2_000;
    let bodies = Arc::new(workload(events, CUSTOMERS));
    let avg = bodies.iter().map(String::len).sum::<usize>() / bodies.len();
    println!(
        "## Ingestion: {backend}, {events} events (avg {avg} bytes), concurrency {concurrency}\n"
    );
    println!("| endpoint | events/s | p50 ms | p90 ms | p99 ms | max ms | server peak RSS MiB | errors |");
    println!("|---|---|---|---|---|---|---|---|");

    // The real endpoint: without commission terms, then with 20 % default terms (every
    // attributed payment, refund and failure then settles its commission entries).
    let mut rates = vec![];
    for commissions in [false, true] {
        let db = BenchDb::new(backend, pg).await?;
        let org = create_org(bin, &db.url, db.dir.path()).await?;
        let server = Server::start(bin, &db.url, db.dir.path(), &[]).await?;
        if commissions {
            let r = reqwest::Client::new()
                .put(format!("{}/api/v1/commission-terms", server.base))
                .bearer_auth(org["api_key"].as_str().unwrap_or_default())
                .json(&json!({"rate_bps": 2000, "effective_from": 0}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "setting terms: {}", r.status());
        }
        let token = org["webhook_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let url = format!("{}/webhooks/chargebee/{token}", server.base);
        // Warm up (connections, statement caches) with events that are not counted.
        let warm: Vec<String> = (0..200)
            .map(|i| {
                envelope(
                    format!("ev_warm_{i}"),
                    "customer_changed",
                    json!({"customer": customer(i)}),
                )
            })
            .collect();
        load(&url, Arc::new(warm), concurrency).await;
        let ours = load(&url, bodies.clone(), concurrency).await;
        let rss = server.peak_rss_mib();
        let label = if commissions {
            "Partner Ledger webhook (commissions on)"
        } else {
            "Partner Ledger webhook"
        };
        println!("{}", ours.row(label, rss));
        rates.push(ours.rate());
        server.stop().await;
        db.drop_db().await;
    }
    let ours_rate = rates[0];

    // The baseline: the same durable insert and commit strategy, no parsing or ledger.
    let db = BenchDb::new(backend, pg).await?;
    let me = std::env::current_exe()?;
    let server = Server::start(&me, &db.url, db.dir.path(), &["serve-baseline"]).await?;
    let url = format!("{}/webhooks/chargebee/baseline", server.base);
    let warm: Vec<String> = (0..200).map(|i| format!("{{\"warm\":{i}}}")).collect();
    load(&url, Arc::new(warm), concurrency).await;
    let base = load(&url, bodies.clone(), concurrency).await;
    let rss = server.peak_rss_mib();
    println!("{}", base.row("baseline (durable insert only)", rss));
    server.stop().await;
    db.drop_db().await;
    println!("\nratio to baseline: {:.2}×", ours_rate / base.rate());
    println!(
        "commissions on vs off: {:+.1} % throughput\n",
        (rates[1] / rates[0] - 1.0) * 100.0
    );
    Ok(())
}

fn payment(id: usize, customer_key: &str, partner_key: Option<&str>) -> String {
    let mut meta = json!({"customer_key": customer_key});
    if let Some(p) = partner_key {
        meta["partner_key"] = json!(p);
    }
    envelope(
        format!("ev_{customer_key}_{id}"),
        "payment_succeeded",
        json!({
            "transaction": {"id": format!("txn_{customer_key}_{id}"), "customer_id": format!("cb_{customer_key}"),
                "type": "payment", "date": 1_700_000_000 + id as i64, "currency_code": "USD", "amount": 4900,
                "status": "success", "object": "transaction"},
            "customer": {"id": format!("cb_{customer_key}"), "email": "big@example.com", "meta_data": meta,
                "object": "customer"},
        }),
    )
}

async fn release(bin: &PathBuf, backend: &str, parked: usize, pg: &str) -> anyhow::Result<()> {
    let db = BenchDb::new(backend, pg).await?;
    let org = create_org(bin, &db.url, db.dir.path()).await?;
    let server = Server::start(bin, &db.url, db.dir.path(), &[]).await?;
    let token = org["webhook_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let url = format!("{}/webhooks/chargebee/{token}", server.base);
    let api = format!("{}/api/v1", server.base);
    let key = org["api_key"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    println!("## Releasing {parked} parked events of one customer: {backend}\n");
    let bodies: Vec<String> = (0..parked).map(|i| payment(i, "big", None)).collect();
    let parking = load(&url, Arc::new(bodies), 64).await;
    println!(
        "parked {} events at {:.0}/s ({} errors)\n",
        parked,
        parking.rate(),
        parking.errors
    );
    // Another customer's deliveries, one at a time, while the release runs.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let (url, done, client) = (url.clone(), done.clone(), client.clone());
        tokio::spawn(async move {
            let mut latencies = vec![];
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(payment(i, "other", Some("p_other")))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    latencies.push(started.elapsed());
                }
                i += 1;
            }
            latencies
        })
    };
    let started = Instant::now();
    let created: Value = client
        .post(format!("{api}/customers"))
        .bearer_auth(&key)
        .json(&json!({"key": "big", "partner_key": "p_big"}))
        .send()
        .await?
        .json()
        .await?;
    let create_time = started.elapsed();
    // Wait until nothing is left parked.
    loop {
        let left: Value = client
            .get(format!("{api}/webhook-events?outcome=unmatched&limit=1"))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        if left["data"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let mut latencies = probe.await?;
    latencies.sort();
    println!("| measure | value |\n|---|---|");
    println!(
        "| creating the customer (releases the first chunk) | {} ms, {} events |",
        ms(create_time),
        created["reconciled_events"]
    );
    println!(
        "| all {parked} released | {:.1} s ({:.0} events/s) |",
        total.as_secs_f64(),
        parked as f64 / total.as_secs_f64()
    );
    println!(
        "| another customer's deliveries meanwhile ({} sent one at a time) | p50 {} ms, p99 {} ms, max {} ms |",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!("| server peak RSS | {:.0} MiB |\n", server.peak_rss_mib());
    server.stop().await;
    db.drop_db().await;
    Ok(())
}

async fn dashboard(
    bin: &PathBuf,
    backend: &str,
    (customers, transactions, events): (usize, usize, usize),
    requests: usize,
    pg: &str,
) -> anyhow::Result<()> {
    let db = BenchDb::new(backend, pg).await?;
    let org = create_org(bin, &db.url, db.dir.path()).await?;
    let org_id = org["org_id"].as_str().unwrap().to_string();
    let seeded = Instant::now();
    seed(&db.url, &org_id, customers, transactions).await?;
    seed_events(&db.url, &org_id, events, customers).await?;
    println!(
        "## Dashboard: {backend}, {customers} customers, {transactions} transactions, {events} webhook events in 7 days (seeded in {:.0} s)\n",
        seeded.elapsed().as_secs_f64()
    );
    let server = Server::start(bin, &db.url, db.dir.path(), &[]).await?;
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let origin = server.base.clone();
    let login = client
        .post(format!("{}/rpc/login", server.base))
        .header("origin", &origin)
        .header("accept", "application/json")
        .form(&[
            ("email", "bench@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        login.status().is_success(),
        "login failed: {}",
        login.status()
    );
    let deep = format!("cust_{:07}", customers * 9 / 10);
    let detail = format!("cust_{:07}", customers / 2);
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        (
            "customers: first page",
            "customers",
            vec![("search", String::new()), ("cursor", String::new())],
        ),
        (
            "customers: deep page (90%)",
            "customers",
            vec![("search", String::new()), ("cursor", deep)],
        ),
        (
            "customers: search",
            "customers",
            vec![("search", "customer0004".into()), ("cursor", String::new())],
        ),
        (
            "customers: search (one match, at the end)",
            "customers",
            vec![
                ("search", format!("customer{:07}@", customers - 1)),
                ("cursor", String::new()),
            ],
        ),
        ("customer detail", "customer", vec![("key", detail.clone())]),
        // Revenue, top partners, needs action and the integration's health (7 days of events).
        ("overview (with integration health)", "overview", vec![]),
        (
            "Chargebee page (with integration health)",
            "chargebee",
            vec![],
        ),
    ];
    println!("| request | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    for (name, rpc, form) in cases {
        let mut lat = vec![];
        for _ in 0..requests {
            let t = Instant::now();
            let r = client
                .post(format!("{}/rpc/{rpc}", server.base))
                .header("origin", &origin)
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await?;
            let status = r.status();
            let _ = r.bytes().await?;
            anyhow::ensure!(status.is_success(), "{name}: {status}");
            lat.push(t.elapsed());
        }
        lat.sort();
        println!(
            "| {name} | {} | {} | {} |",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(*lat.last().unwrap())
        );
    }
    // A whole server-rendered page, for comparison (includes the HTML shell).
    let mut lat = vec![];
    for _ in 0..requests.min(100) {
        let t = Instant::now();
        let r = client
            .get(format!("{}/customers/{detail}", server.base))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success());
        let _ = r.bytes().await?;
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "| customer page (full SSR HTML) | {} | {} | {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    println!("\nserver peak RSS: {:.0} MiB\n", server.peak_rss_mib());
    server.stop().await;
    db.drop_db().await;
    Ok(())
}

/// Runs `$body` with `$pool` a bulk-loading pool on the database at `$url`: migrated first
/// through the application's own storage layer, and analysed afterwards (a long-lived tenant's
/// tables have been vacuumed and analysed, which on PostgreSQL also merges the GIN indexes'
/// pending lists; a bulk load has not).
macro_rules! bulk_load {
    ($url:expr, |$pool:ident| $body:block) => {{
        let url: &str = $url;
        let store = backend::storage::connect(url, &Default::default()).await?;
        store.migrate().await?;
        if url.starts_with("postgres") {
            let $pool = sqlx::PgPool::connect(url).await?;
            $body
            sqlx::query("VACUUM ANALYZE").execute(&$pool).await?;
        } else {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            let opts = opts
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            let $pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            $body
            sqlx::query("ANALYZE").execute(&$pool).await?;
        }
    }};
}

/// Bulk-loads a large tenant directly (the API would take too long for a million rows).
/// `events` webhook events received over the 7 days before now: mostly processed, a fifth
/// unmatched, some ignored, 1 % refused for Basic Auth, a third carrying card data.
async fn seed_events(url: &str, org: &str, events: usize, customers: usize) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let week = 7 * 86_400_000i64;
    bulk_load!(url, |pool| {
        let mut q = String::new();
        for n in 0..events {
            if q.is_empty() {
                q.push_str("INSERT INTO webhook_events (id, org_id, event_id, event_type, occurred_at, received_at, outcome, detail, payload, attempts, refusal, card_data, customer_id) VALUES ");
            } else {
                q.push(',');
            }
            let at = now - week + (n as i64) * week / (events.max(1) as i64);
            let (outcome, refusal) = match n % 100 {
                0 => ("rejected", "'basic_auth'"),
                1..=20 => ("unmatched", "NULL"),
                21..=25 => ("ignored", "NULL"),
                _ => ("processed", "NULL"),
            };
            let card = i64::from(n % 3 == 0);
            // Processed events name their customer, as real ones do.
            let customer = if outcome == "processed" {
                format!("'cus_{}'", n % customers.max(1))
            } else {
                "NULL".into()
            };
            q.push_str(&format!(
                "('evt_{n}', '{org}', 'ev_{n}', 'payment_succeeded', {at}, {at}, '{outcome}', NULL, '{{}}', 1, {refusal}, {card}, {customer})"
            ));
            if (n + 1) % 1000 == 0 {
                sqlx::query(&q).execute(&pool).await?;
                q.clear();
            }
        }
        if !q.is_empty() {
            sqlx::query(&q).execute(&pool).await?;
        }
    });
    Ok(())
}

async fn seed(url: &str, org: &str, customers: usize, transactions: usize) -> anyhow::Result<()> {
    let partners = 500;
    bulk_load!(url, |pool| {
        let mut tx = pool.begin().await?;
        for p in 0..partners {
            sqlx::query("INSERT INTO partners (id, org_id, key, name, auto_created, created_at) VALUES ($1, $2, $3, $4, FALSE, 0)")
                    .bind(format!("prt_{p}")).bind(org).bind(format!("partner_{p}")).bind(format!("Partner {p}"))
                    .execute(&mut *tx).await?;
        }
        tx.commit().await?;
        for chunk in (0..customers).collect::<Vec<_>>().chunks(500) {
            let mut q = String::from("INSERT INTO customers (id, org_id, key, email, name, partner_id, created_at) VALUES ");
            for (n, i) in chunk.iter().enumerate() {
                if n > 0 {
                    q.push(',');
                }
                q.push_str(&format!("('cus_{i}', '{org}', 'cust_{i:07}', 'customer{i:07}@example.com', 'Customer {i}', 'prt_{}', 0)", i % partners));
            }
            sqlx::query(&q).execute(&pool).await?;
        }
        let per = transactions / customers.max(1);
        let mut n = 0usize;
        let mut q = String::new();
        for i in 0..customers {
            for j in 0..per {
                if q.is_empty() {
                    q.push_str("INSERT INTO transactions (id, org_id, chargebee_id, customer_id, recorded, amount, amount_refunded, currency, occurred_at, subscription_id, invoice_id, removed_reason, created_at) VALUES ");
                } else {
                    q.push(',');
                }
                let refunded = if j == 3 { 500 } else { 0 };
                q.push_str(&format!("('txn_{i}_{j}', '{org}', 'cbtxn_{i}_{j}', 'cus_{i}', TRUE, 4900, {refunded}, 'USD', {}, 'sub_{i}', 'inv_{i}_{j}', NULL, 0)", 1_700_000_000_000i64 + (j as i64) * 86_400_000));
                n += 1;
                if n.is_multiple_of(1000) {
                    sqlx::query(&q).execute(&pool).await?;
                    q.clear();
                }
            }
        }
        if !q.is_empty() {
            sqlx::query(&q).execute(&pool).await?;
        }
    });
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Cmd::ServeBaseline = cli.command {
        let config = server::config::Config::load(None).map_err(anyhow::Error::msg)?;
        return baseline::serve(config).await;
    }
    anyhow::ensure!(
        cli.server.exists(),
        "server binary {} not found (run scripts/bench)",
        cli.server.display()
    );
    let server = std::fs::canonicalize(&cli.server)?;
    match cli.command {
        Cmd::Ingest {
            backend,
            concurrency,
            events,
            pg,
        } => ingest(&server, &backend, concurrency, events, &pg).await,
        Cmd::Dashboard {
            backend,
            customers,
            transactions,
            requests,
            events,
            pg,
        } => {
            dashboard(
                &server,
                &backend,
                (customers, transactions, events),
                requests,
                &pg,
            )
            .await
        }
        Cmd::Release {
            backend,
            parked,
            pg,
        } => release(&server, &backend, parked, &pg).await,
        Cmd::Payouts {
            backend,
            partners,
            entries,
            requests,
            pg,
        } => payouts(&server, &backend, partners, entries, requests, &pg).await,
        Cmd::ServeBaseline => unreachable!("handled above"),
    }
}

/// Seeds `partners` partners (one customer each) and `entries` approved commission entries
/// spread over them: 9 in 10 positive, and every 50th partner's total negative.
async fn seed_entries(url: &str, org: &str, partners: usize, entries: usize) -> anyhow::Result<()> {
    bulk_load!(url, |pool| {
        for chunk in (0..partners).collect::<Vec<_>>().chunks(500) {
            let mut p = String::from(
                "INSERT INTO partners (id, org_id, key, name, auto_created, created_at) VALUES ",
            );
            let mut c = String::from(
                "INSERT INTO customers (id, org_id, key, partner_id, created_at) VALUES ",
            );
            for (n, i) in chunk.iter().enumerate() {
                if n > 0 {
                    p.push(',');
                    c.push(',');
                }
                p.push_str(&format!(
                    "('prt_{i}', '{org}', 'partner_{i:05}', 'Partner {i}', FALSE, 0)"
                ));
                c.push_str(&format!(
                    "('cus_{i}', '{org}', 'cust_{i:05}', 'prt_{i}', 0)"
                ));
            }
            sqlx::query(&p).execute(&pool).await?;
            sqlx::query(&c).execute(&pool).await?;
        }
        let mut q = String::new();
        for n in 0..entries {
            let partner = n % partners;
            let negative = partner.is_multiple_of(50) || n % 10 == 9;
            let (kind, amount) = if negative {
                ("clawback", -700)
            } else {
                ("commission", 500)
            };
            if q.is_empty() {
                q.push_str("INSERT INTO commission_entries (id, org_id, key, partner_id, customer_id, transaction_id, kind, amount, currency, occurred_at, payable_at, created_at, seq) VALUES ");
            } else {
                q.push(',');
            }
            q.push_str(&format!(
                    "('com_{n}', '{org}', '{kind}:{n}', 'prt_{partner}', 'cus_{partner}', 'txn_{n}', '{kind}', {amount}, 'USD', {t}, {t}, 0, {seq})",
                    t = 1_700_000_000_000i64 + (n as i64 % 1000) * 60_000,
                    seq = n + 1
                ));
            if (n + 1) % 1000 == 0 {
                sqlx::query(&q).execute(&pool).await?;
                q.clear();
            }
        }
        if !q.is_empty() {
            sqlx::query(&q).execute(&pool).await?;
        }
    });
    Ok(())
}

async fn payouts(
    bin: &PathBuf,
    backend: &str,
    partners: usize,
    entries: usize,
    requests: usize,
    pg: &str,
) -> anyhow::Result<()> {
    let db = BenchDb::new(backend, pg).await?;
    let org = create_org(bin, &db.url, db.dir.path()).await?;
    let org_id = org["org_id"].as_str().unwrap().to_string();
    let key = org["api_key"].as_str().unwrap().to_string();
    let seeded = Instant::now();
    seed_entries(&db.url, &org_id, partners, entries).await?;
    println!(
        "## Payouts: {backend}, {partners} partners, {entries} entries (seeded in {:.0} s)\n",
        seeded.elapsed().as_secs_f64()
    );
    let server = Server::start(bin, &db.url, db.dir.path(), &[]).await?;
    let api = reqwest::Client::new();
    let started = Instant::now();
    let run: Value = api
        .post(format!("{}/api/v1/payouts", server.base))
        .bearer_auth(&key)
        .json(&json!({"up_to": 4_000_000_000_000i64}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let run_time = started.elapsed();
    let statements = run["statements"].as_array().map_or(0, Vec::len);
    let id = run["id"].as_str().unwrap_or_default().to_string();
    let started = Instant::now();
    let csv = api
        .get(format!("{}/api/v1/payouts/{id}/csv", server.base))
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let csv_time = started.elapsed();
    let started = Instant::now();
    api.post(format!("{}/api/v1/payouts/{id}/paid", server.base))
        .bearer_auth(&key)
        .json(&json!({"reference": "BENCH-1"}))
        .send()
        .await?
        .error_for_status()?;
    let paid_time = started.elapsed();
    println!("| step | time |\n|---|---|");
    println!(
        "| create the run ({statements} statements) | {:.0} ms |",
        run_time.as_secs_f64() * 1e3
    );
    println!(
        "| its CSV ({} rows) | {:.0} ms |",
        csv.lines().count() - 1,
        csv_time.as_secs_f64() * 1e3
    );
    println!("| mark it paid | {:.0} ms |", paid_time.as_secs_f64() * 1e3);
    println!("\n| request | p50 ms | p99 ms | max ms |\n|---|---|---|---|");
    for (label, path) in [
        ("partner balance", "/partners/partner_{p}/balance"),
        (
            "partner entries (first page)",
            "/commissions?partner=partner_{p}",
        ),
    ] {
        let mut times = vec![];
        for i in 0..requests {
            let p = format!("{:05}", (i * 7919) % partners);
            let url = format!("{}/api/v1{}", server.base, path.replace("{p}", &p));
            let t = Instant::now();
            api.get(url)
                .bearer_auth(&key)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} |",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    println!("\nserver peak RSS: {:.0} MiB\n", server.peak_rss_mib());
    server.stop().await;
    db.drop_db().await;
    Ok(())
}
