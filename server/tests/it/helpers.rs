//! Test harness: a real server on port 0 with a fresh database per test (a SQLite file in a
//! temporary folder, or a new PostgreSQL database that is dropped afterwards).

use backend::{service, AppState};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, ORIGIN};
use serde_json::{json, Value};
use server::config::Config;
use server::Application;
use std::path::PathBuf;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| PG_ADMIN_URL.to_string())
}

/// A database for one test; dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let name = format!(
                    "pl_test_{}",
                    backend::auth::random_token(9)
                        .to_lowercase()
                        .replace(['-', '_'], "x")
                );
                let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.expect(
                    "PostgreSQL must be running on 127.0.0.1:5432 (user postgres, trust auth)",
                );
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = pg_admin_url();
                let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
                TestDb {
                    url,
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside async; use a small runtime on a plain thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                // Bounded: a drop that PostgreSQL keeps waiting (a lock, a backend slow to
                // terminate) must not hang the test; at worst the database is left behind.
                rt.block_on(async {
                    use sqlx::Connection;
                    let drop_db = async {
                        let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await?;
                        sqlx::query("SET lock_timeout = '10s'")
                            .execute(&mut conn)
                            .await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await
                    };
                    match tokio::time::timeout(std::time::Duration::from_secs(30), drop_db).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => eprintln!("could not drop test database {name}: {e}"),
                        Err(_) => eprintln!("dropping test database {name} timed out"),
                    }
                });
            })
            .join();
        }
    }
}

pub fn site_root() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/site")
        .display()
        .to_string()
}

pub fn test_config(db_url: &str) -> Config {
    Config {
        database_url: db_url.to_string(),
        listen_addr: "127.0.0.1:0".into(),
        secret_key: Some("test-secret-key-that-is-long-enough-0123456789".into()),
        site_root: site_root(),
        log_level: "warn".into(),
        db_max_connections: 8,
        ..Config::default()
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    pub db: Option<TestDb>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let config = test_config(&db.url);
        let mut app = Self::spawn_with(config).await;
        app.db = Some(db);
        app
    }

    pub async fn spawn_with(config: Config) -> Self {
        Self::spawn_with_clock(config, std::sync::Arc::new(backend::clock::SystemClock)).await
    }

    /// A server whose time-based rules read `clock` (tests move it instead of sleeping).
    pub async fn spawn_with_clock(config: Config, clock: backend::clock::DynClock) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let application = Application::build_with_clock(config, listener, clock)
            .await
            .expect("server builds");
        let port = application.port();
        let state = application.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            application
                .run_until(async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs");
        });
        let address = format!("http://127.0.0.1:{port}");
        TestApp {
            address,
            port,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
            db: None,
        }
    }

    /// A server on a fresh database whose clock the test moves, and whose background pass
    /// is not due during the test (the test runs the upkeep it checks by itself).
    pub async fn spawn_quiet(
        backend: Backend,
    ) -> (Self, std::sync::Arc<backend::clock::ManualClock>) {
        let db = TestDb::new(backend).await;
        let clock = backend::clock::ManualClock::new();
        let mut config = test_config(&db.url);
        config.retry_interval_seconds = 3600;
        let mut app = Self::spawn_with_clock(config, clock.clone()).await;
        app.db = Some(db);
        (app, clock)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> Option<TestDb> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
        self.db.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Calls a server function (form-encoded, as the browser does) with `client`.
    pub async fn rpc(
        &self,
        client: &reqwest::Client,
        name: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let r = client
            .post(self.url(&format!("/rpc/{name}")))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The server-rendered HTML of a page, as `client` gets it.
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> String {
        client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A signed-in browser-like client for `email`.
    pub async fn signed_in(&self, email: &str, password: &str) -> reqwest::Client {
        let client = browser_client(&self.address);
        let (s, body) = self
            .rpc(
                &client,
                "login",
                &[("email", email), ("password", password)],
            )
            .await;
        assert_eq!(s, 200, "login failed: {body}");
        client
    }

    /// A new organization with an owner, an API key and the webhook URL.
    /// The id of a test organization (for calling storage directly).
    pub async fn org_id(&self, org: &TestOrg) -> backend::domain::OrgId {
        use backend::domain::{OrgId, UserId};
        let store = &self.state.store;
        let user = store.user_by_email(&org.email).await.unwrap().unwrap();
        let orgs = store
            .user_orgs(&UserId::from_trusted(user.id))
            .await
            .unwrap();
        OrgId::from_trusted(orgs[0].id.clone())
    }

    pub async fn org(&self, name: &str) -> TestOrg {
        let email = format!(
            "owner-{}@example.com",
            backend::auth::random_token(6).to_lowercase()
        );
        let org = service::create_org(&self.state, name, &email, "correct horse battery")
            .await
            .expect("create org");
        let (_, api_key) = service::create_api_key(
            &self.state,
            &org.org_id,
            "tests",
            shared::model::ApiScope::Full,
            None,
            &backend::audit::Actor::system("tests"),
        )
        .await
        .expect("create key");
        TestOrg {
            email,
            webhook_url: org.webhook_url,
            api: api_client(&api_key),
            api_key,
            base: self.address.clone(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client that behaves like a browser on our pages: keeps cookies, sends our Origin.
pub fn browser_client(origin: &str) -> reqwest::Client {
    browser_client_with_jar(origin, std::sync::Arc::new(reqwest::cookie::Jar::default()))
}

pub fn browser_client_with_jar(
    origin: &str,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
    headers.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    reqwest::Client::builder()
        .cookie_provider(jar)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

pub fn api_client(key: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

/// No request of a test waits longer than this: a server that does not answer fails the test
/// with the request named, instead of hanging the suite.
pub const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// POSTs a Chargebee event to a webhook URL (any organization's, old or new).
pub async fn deliver_to(url: &str, event: &Value) -> reqwest::Response {
    plain_client().post(url).json(event).send().await.unwrap()
}

/// A client without cookies or default headers (with [`CLIENT_TIMEOUT`]).
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

pub struct TestOrg {
    /// The owner's email (password "correct horse battery").
    pub email: String,
    pub webhook_url: String,
    pub api_key: String,
    pub api: reqwest::Client,
    base: String,
}

impl TestOrg {
    /// The organization of a full-access `api_key` whose owner is `email` (signed up through
    /// the dashboard).
    pub async fn for_key(app: &TestApp, api_key: &str, email: &str) -> TestOrg {
        let api = api_client(api_key);
        let integration: Value = api
            .get(app.url("/api/v1/integrations/chargebee"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        TestOrg {
            email: email.to_string(),
            webhook_url: integration["webhook_url"].as_str().unwrap().to_string(),
            api_key: api_key.to_string(),
            api,
            base: app.address.clone(),
        }
    }

    pub async fn deliver(&self, event: &Value) -> reqwest::Response {
        deliver_to(&self.webhook_url, event).await
    }

    /// Delivers and expects a 200; returns the body.
    pub async fn deliver_ok(&self, event: &Value) -> Value {
        let r = self.deliver(event).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "delivery failed: {body}");
        body
    }

    /// GETs `/api/v1{path}`; the response must conform to the OpenAPI document.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .api
            .request(method.clone(), format!("{}/api/v1{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = r.bytes().await.unwrap();
        crate::contract::check(&method, path, status, &content_type, &bytes);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn transactions(&self, customer: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/customers/{customer}/transactions"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }
}

// ----- Chargebee v2 event builders (documented envelope and content shapes) -----

pub fn envelope(id: &str, event_type: &str, occurred_at: i64, content: Value) -> Value {
    json!({
        "id": id,
        "occurred_at": occurred_at,
        "source": "api",
        "object": "event",
        "api_version": "v2",
        "event_type": event_type,
        "webhook_status": "scheduled",
        "content": content,
    })
}

pub fn cb_customer(cb_id: &str, customer_key: Option<&str>, partner_key: Option<&str>) -> Value {
    let mut meta = serde_json::Map::new();
    if let Some(k) = customer_key {
        meta.insert("customer_key".into(), json!(k));
    }
    if let Some(p) = partner_key {
        meta.insert("partner_key".into(), json!(p));
    }
    json!({
        "id": cb_id,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": format!("{cb_id}@example.com"),
        "auto_collection": "on",
        "net_term_days": 0,
        "allow_direct_debit": false,
        "created_at": 1_700_000_000,
        "taxability": "taxable",
        "updated_at": 1_700_000_000,
        "resource_version": 1_700_000_000_000i64,
        "deleted": false,
        "object": "customer",
        "card_status": "valid",
        "meta_data": meta,
    })
}

pub fn cb_card(cb_id: &str) -> Value {
    json!({
        "status": "valid", "gateway": "chargebee", "gateway_account_id": "gw_1",
        "first_name": "Ada", "iin": "411111", "last4": "1111", "card_type": "visa",
        "funding_type": "credit", "expiry_month": 12, "expiry_year": 2030,
        "masked_number": "************1111", "object": "card", "customer_id": cb_id,
    })
}

pub fn cb_txn(id: &str, cb_customer: &str, amount: i64, kind: &str) -> Value {
    json!({
        "id": id,
        "customer_id": cb_customer,
        "subscription_id": "sub_1",
        "gateway_account_id": "gw_1",
        "payment_method": "card",
        "gateway": "chargebee",
        "type": kind,
        "date": 1_700_000_100,
        "currency_code": "USD",
        "amount": amount,
        "id_at_gateway": format!("cb_{id}"),
        "status": "success",
        "masked_card_number": "************1111",
        "linked_invoices": [{"invoice_id": "inv_1", "applied_amount": amount, "applied_at": 1_700_000_100, "invoice_date": 1_700_000_100, "invoice_total": amount, "invoice_status": "paid"}],
        "resource_version": 1_700_000_100_000i64,
        "object": "transaction",
    })
}

pub fn payment_succeeded(
    ev: &str,
    txn: &str,
    amount: i64,
    customer_key: Option<&str>,
    partner_key: Option<&str>,
) -> Value {
    envelope(
        ev,
        "payment_succeeded",
        1_700_000_100,
        json!({
            "transaction": cb_txn(txn, "cb_cus_1", amount, "payment"),
            "customer": cb_customer("cb_cus_1", customer_key, partner_key),
            "card": cb_card("cb_cus_1"),
            "invoice": {"id": "inv_1", "customer_id": "cb_cus_1", "status": "paid", "total": amount, "amount_paid": amount, "currency_code": "USD", "object": "invoice"},
        }),
    )
}

/// `event` as if it came from Chargebee customer `cb` (its transaction, customer, invoice and
/// card).
pub fn for_chargebee_customer(mut event: Value, cb: &str) -> Value {
    let content = &mut event["content"];
    content["transaction"]["customer_id"] = json!(cb);
    content["customer"]["id"] = json!(cb);
    if content["invoice"].is_object() {
        content["invoice"]["customer_id"] = json!(cb);
    }
    if content["card"].is_object() {
        content["card"]["customer_id"] = json!(cb);
    }
    event
}

pub fn payment_refunded(
    ev: &str,
    refund_txn: &str,
    original: &str,
    amount: i64,
    customer_key: &str,
) -> Value {
    let mut t = cb_txn(refund_txn, "cb_cus_1", amount, "refund");
    t["refunded_txn_id"] = json!(original);
    envelope(
        ev,
        "payment_refunded",
        1_700_000_200,
        json!({
            "transaction": t,
            "customer": cb_customer("cb_cus_1", Some(customer_key), None),
            "invoice": {"id": "inv_1", "linked_payments": [{"txn_id": original, "applied_amount": amount, "txn_status": "success"}]},
        }),
    )
}

pub fn payment_failed(ev: &str, txn: &str, customer_key: &str) -> Value {
    let mut t = cb_txn(txn, "cb_cus_1", 5000, "payment");
    t["status"] = json!("failure");
    envelope(
        ev,
        "payment_failed",
        1_700_000_150,
        json!({
            "transaction": t,
            "customer": cb_customer("cb_cus_1", Some(customer_key), None),
        }),
    )
}

pub fn subscription_event(
    ev: &str,
    event_type: &str,
    sub: &str,
    plan: &str,
    version: i64,
    customer_key: &str,
    partner_key: Option<&str>,
) -> Value {
    envelope(
        ev,
        event_type,
        version / 1000,
        json!({
            "subscription": {
                "id": sub, "customer_id": "cb_cus_1", "plan_id": plan, "plan_quantity": 1,
                "status": "active", "current_term_start": 1_700_000_000, "current_term_end": 1_702_592_000,
                "mrr": 4900, "currency_code": "USD", "resource_version": version, "object": "subscription",
            },
            "customer": cb_customer("cb_cus_1", Some(customer_key), partner_key),
        }),
    )
}

/// A real `partner-ledger` process on a free port, its log lines collected.
pub struct Process {
    pub base: String,
    pub child: tokio::process::Child,
    /// Everything the process wrote (stdout and stderr), line by line.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Process {
    /// The server process's peak resident memory (`VmHWM`), in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        let pid = self.child.id().expect("process is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

/// Starts the `partner-ledger` binary on `db_url` with `extra` environment variables and
/// waits until it listens (it prints its URL).
pub async fn start_process(db_url: &str, extra: &[(&str, &str)]) -> Process {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-ledger"));
    cmd.env("DATABASE_URL", db_url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env(
            "SECRET_KEY",
            "test-secret-key-that-is-long-enough-0123456789",
        )
        .env("SITE_ROOT", site_root())
        .env("LOG_LEVEL", "warn")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start partner-ledger");
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    {
        let logs = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                logs.lock().unwrap().push(line);
            }
        });
    }
    // Wait for readiness: the server prints its URL once it listens.
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("server exited before listening");
        logs.lock().unwrap().push(line.clone());
        if let Some(rest) = line.split("open ").nth(1) {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    {
        let logs = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                logs.lock().unwrap().push(line);
            }
        });
    }
    Process { base, child, logs }
}

// ----- accounts through the server functions, as the browser calls them -----

pub const PASSWORD: &str = "correct horse battery";

pub async fn signup(app: &TestApp, org: &str) -> (reqwest::Client, String) {
    let email = format!(
        "{}-{}@example.com",
        org.to_lowercase().replace(' ', "-"),
        backend::auth::random_token(5).to_lowercase()
    );
    let client = browser_client(&app.address);
    let (s, body) = app
        .rpc(
            &client,
            "signup",
            &[
                ("organization", org),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(s, 200, "signup failed: {body}");
    (client, email)
}

pub async fn me(app: &TestApp, client: &reqwest::Client) -> Value {
    let (s, body) = app.rpc(client, "me", &[]).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Creates an invite from `owner` for `email`; returns the one-time token of its link.
pub async fn invite_token(
    app: &TestApp,
    owner: &reqwest::Client,
    email: &str,
    role: &str,
) -> String {
    let (s, link) = app
        .rpc(owner, "invite", &[("email", email), ("role", role)])
        .await;
    assert_eq!(s, 200, "{link}");
    link.as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Invites `email` with `role` and accepts the invite; returns the member's signed-in client.
pub async fn add_member(
    app: &TestApp,
    owner: &reqwest::Client,
    email: &str,
    role: &str,
) -> reqwest::Client {
    let token = invite_token(app, owner, email, role).await;
    let member = browser_client(&app.address);
    let (s, body) = app
        .rpc(
            &member,
            "accept_invite",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    member
}

/// Invites `email`, which already has an account, and accepts the invite signed in as it.
pub async fn add_existing_member(
    app: &TestApp,
    owner: &reqwest::Client,
    email: &str,
    role: &str,
) -> reqwest::Client {
    let token = invite_token(app, owner, email, role).await;
    let member = app.signed_in(email, PASSWORD).await;
    let (s, body) = app
        .rpc(&member, "accept_invite", &[("token", &token)])
        .await;
    assert_eq!(s, 200, "{body}");
    member
}

/// The user id of the member with `email` in a `team` answer.
pub fn member_id(team: &Value, email: &str) -> String {
    team["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("{email} is not a member: {team}"))["user_id"]
        .as_str()
        .unwrap()
        .to_string()
}
