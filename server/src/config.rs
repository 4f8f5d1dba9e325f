//! Configuration: defaults, then an optional TOML file, then environment variables.
//! Validated at startup; an invalid setting stops the server with a message naming it.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Settings as read (strings and numbers), before validation.
#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: String,
    /// Base URL users reach the server at; used to build absolute webhook URLs.
    pub public_url: Option<String>,
    pub log_level: String,
    /// Secret for webhook tokens and Basic Auth hashes. Generated into `secret_key_file`
    /// when unset (fine for one machine; set it explicitly when running several servers).
    pub secret_key: Option<String>,
    pub secret_key_file: String,
    pub site_root: String,
    pub db_max_connections: u32,
    /// Seconds a request waits for a database connection before answering 503.
    pub db_acquire_timeout_seconds: u32,
    /// PostgreSQL statement timeout in milliseconds.
    pub db_statement_timeout_ms: u32,
    pub webhook_max_body_bytes: usize,
    pub webhook_grace_days: u32,
    /// Sessions end after this long without a request…
    pub session_idle_seconds: u32,
    /// …and this long after sign-in in any case.
    pub session_absolute_seconds: u32,
    pub login_limit_per_account: u32,
    pub login_limit_per_ip: u32,
    pub login_window_minutes: u32,
    /// How many reverse proxies of yours sit in front of the server (0: none). The client
    /// address is then the right-most `X-Forwarded-For` hop that none of them wrote.
    pub trusted_proxies: u32,
    /// Replaced by `trusted_proxies`; still read so that `true` is refused with a message
    /// naming the new setting (`false` changes nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_forwarded_for: Option<bool>,
    /// Sign-ups allowed per client address within the sign-in window.
    pub signup_limit_per_ip: u32,
    pub retry_interval_seconds: u32,
    /// Bytes of webhook bodies being read or awaiting their commit, across all deliveries.
    /// Beyond it a delivery gets 503 with `Retry-After` (Chargebee retries).
    pub webhook_max_inflight_bytes: usize,
    /// A client must send a request's headers within this many seconds.
    pub http_header_timeout_seconds: u32,
    /// …and its body within this many seconds (408 otherwise).
    pub http_body_timeout_seconds: u32,
    /// Most parked events released in one transaction; the rest continue in the background.
    pub release_chunk: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/partner-ledger.db".into(),
            listen_addr: "127.0.0.1:3000".into(),
            public_url: None,
            log_level: "info".into(),
            secret_key: None,
            secret_key_file: "data/secret.key".into(),
            site_root: "target/site".into(),
            db_max_connections: 16,
            db_acquire_timeout_seconds: 5,
            db_statement_timeout_ms: 15_000,
            webhook_max_body_bytes: 2 * 1024 * 1024,
            webhook_grace_days: 7,
            session_idle_seconds: 12 * 3600,
            session_absolute_seconds: 7 * 24 * 3600,
            login_limit_per_account: 5,
            login_limit_per_ip: 20,
            login_window_minutes: 15,
            trusted_proxies: 0,
            trust_forwarded_for: None,
            signup_limit_per_ip: 10,
            retry_interval_seconds: 30,
            webhook_max_inflight_bytes: 64 * 1024 * 1024,
            http_header_timeout_seconds: 10,
            http_body_timeout_seconds: 30,
            release_chunk: 500,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen_addr", &self.listen_addr)
            .field("public_url", &self.public_url)
            .field("log_level", &self.log_level)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "[hidden]"))
            .field("site_root", &self.site_root)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:pass@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Environment variables read (upper-case names of the fields above).
const ENV_KEYS: &[&str] = &[
    "DATABASE_URL",
    "LISTEN_ADDR",
    "PUBLIC_URL",
    "LOG_LEVEL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "SITE_ROOT",
    "DB_MAX_CONNECTIONS",
    "DB_ACQUIRE_TIMEOUT_SECONDS",
    "DB_STATEMENT_TIMEOUT_MS",
    "WEBHOOK_MAX_BODY_BYTES",
    "WEBHOOK_GRACE_DAYS",
    "SESSION_IDLE_SECONDS",
    "SESSION_ABSOLUTE_SECONDS",
    "LOGIN_LIMIT_PER_ACCOUNT",
    "LOGIN_LIMIT_PER_IP",
    "LOGIN_WINDOW_MINUTES",
    "TRUST_FORWARDED_FOR",
    "TRUSTED_PROXIES",
    "SIGNUP_LIMIT_PER_IP",
    "RETRY_INTERVAL_SECONDS",
    "WEBHOOK_MAX_INFLIGHT_BYTES",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
    "RELEASE_CHUNK",
];

impl Config {
    /// Defaults, then `file` (or `partner-ledger.toml` when present, or the file named by
    /// `PARTNER_LEDGER_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let file: Option<PathBuf> = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PARTNER_LEDGER_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("partner-ledger.toml");
                p.exists().then_some(p)
            });
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = &file {
            if !f.exists() {
                return Err(format!("configuration file {} does not exist", f.display()));
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(
            Env::raw()
                .only(ENV_KEYS)
                .map(|k| k.as_str().to_lowercase().into()),
        );
        fig.extract::<Config>().map_err(|e| {
            let key = e.path.join(".");
            format!("invalid setting {}: {}", key.to_uppercase(), e.kind)
        })
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<Validated, String> {
        let listen: SocketAddr = self.listen_addr.parse().map_err(|_| {
            format!(
                "invalid setting LISTEN_ADDR: \"{}\" is not an address like 127.0.0.1:3000",
                self.listen_addr
            )
        })?;
        let db = &self.database_url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(format!(
                "invalid setting DATABASE_URL: must start with sqlite:// or postgres:// (got \"{}\")",
                redact_url(db)
            ));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                return Err(format!(
                    "invalid setting PUBLIC_URL: \"{url}\" must be an absolute http:// or https:// URL"
                ));
            }
        }
        if let Some(k) = &self.secret_key {
            if k.len() < 32 {
                return Err("invalid setting SECRET_KEY: use at least 32 characters".into());
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| format!("invalid setting LOG_LEVEL: \"{}\" ({e})", self.log_level))?;
        for (name, v) in [
            ("DB_MAX_CONNECTIONS", self.db_max_connections as usize),
            (
                "DB_ACQUIRE_TIMEOUT_SECONDS",
                self.db_acquire_timeout_seconds as usize,
            ),
            (
                "DB_STATEMENT_TIMEOUT_MS",
                self.db_statement_timeout_ms as usize,
            ),
            ("WEBHOOK_MAX_BODY_BYTES", self.webhook_max_body_bytes),
            ("SESSION_IDLE_SECONDS", self.session_idle_seconds as usize),
            (
                "SESSION_ABSOLUTE_SECONDS",
                self.session_absolute_seconds as usize,
            ),
            (
                "LOGIN_LIMIT_PER_ACCOUNT",
                self.login_limit_per_account as usize,
            ),
            ("LOGIN_LIMIT_PER_IP", self.login_limit_per_ip as usize),
            ("LOGIN_WINDOW_MINUTES", self.login_window_minutes as usize),
            (
                "RETRY_INTERVAL_SECONDS",
                self.retry_interval_seconds as usize,
            ),
            ("SIGNUP_LIMIT_PER_IP", self.signup_limit_per_ip as usize),
            (
                "HTTP_HEADER_TIMEOUT_SECONDS",
                self.http_header_timeout_seconds as usize,
            ),
            (
                "HTTP_BODY_TIMEOUT_SECONDS",
                self.http_body_timeout_seconds as usize,
            ),
            ("RELEASE_CHUNK", self.release_chunk as usize),
        ] {
            if v == 0 {
                return Err(format!("invalid setting {name}: must be greater than 0"));
            }
        }
        if self.trust_forwarded_for == Some(true) {
            return Err(
                "invalid setting TRUST_FORWARDED_FOR: it was replaced by TRUSTED_PROXIES, \
                 the number of reverse proxies in front of the server (e.g. TRUSTED_PROXIES=1)"
                    .into(),
            );
        }
        if self.webhook_max_inflight_bytes < self.webhook_max_body_bytes {
            return Err(format!(
                "invalid setting WEBHOOK_MAX_INFLIGHT_BYTES: must be at least WEBHOOK_MAX_BODY_BYTES ({})",
                self.webhook_max_body_bytes
            ));
        }
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_string();
        Ok(Validated { listen, public_url })
    }

    /// The secret key: configured, or read from (and on first start written to) the key file.
    pub fn secret_key_bytes(&self) -> Result<Vec<u8>, String> {
        if let Some(k) = &self.secret_key {
            return Ok(k.as_bytes().to_vec());
        }
        let path = Path::new(&self.secret_key_file);
        if let Ok(existing) = std::fs::read_to_string(path) {
            let k = existing.trim();
            if k.len() < 32 {
                return Err(format!(
                    "invalid setting SECRET_KEY_FILE: {} holds fewer than 32 characters",
                    path.display()
                ));
            }
            return Ok(k.as_bytes().to_vec());
        }
        let key = backend::auth::random_token(32);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "invalid setting SECRET_KEY_FILE: cannot create {}: {e}",
                    dir.display()
                )
            })?;
        }
        write_private(path, &key).map_err(|e| {
            format!(
                "invalid setting SECRET_KEY_FILE: cannot write {}: {e}",
                path.display()
            )
        })?;
        tracing::info!(file = %path.display(), "generated a new secret key");
        Ok(key.into_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The parts of the configuration that validation turned into typed values.
#[derive(Debug, Clone)]
pub struct Validated {
    pub listen: SocketAddr,
    pub public_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_sqlite_under_data() {
        let c = Config::default();
        let v = c.validate().unwrap();
        assert!(c.database_url.starts_with("sqlite://data/"));
        assert_eq!(v.public_url, "http://127.0.0.1:3000");
    }

    #[test]
    fn a_bad_setting_is_named_in_the_error() {
        let c = Config {
            listen_addr: "nowhere".into(),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("LISTEN_ADDR"));
        let c = Config {
            database_url: "mysql://x".into(),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("DATABASE_URL"));
        let c = Config {
            public_url: Some("example.com".into()),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("PUBLIC_URL"));
        let c = Config {
            secret_key: Some("short".into()),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("SECRET_KEY"));
        let c = Config {
            trust_forwarded_for: Some(true),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("TRUSTED_PROXIES"));
        let c = Config {
            webhook_max_inflight_bytes: 10,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .contains("WEBHOOK_MAX_INFLIGHT_BYTES"));
    }

    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/ledger"),
            "postgres://app:***@db:5432/ledger"
        );
        let c = Config {
            database_url: "postgres://app:hunter2@db/ledger".into(),
            secret_key: Some("x".repeat(40)),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains(&"x".repeat(40)));
    }
}
