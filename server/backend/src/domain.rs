//! Domain types parsed once at the edge. Past the edge, code trusts them.

use rand::{distributions::Alphanumeric, Rng};
use serde::Serialize;
use std::fmt;

/// A typed, prefixed identifier (`org_…`, `usr_…`).
macro_rules! typed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub fn generate() -> Self {
                Self(random_id($prefix))
            }
            /// Trusts a value read back from our own storage or session.
            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(OrgId, "org");
typed_id!(UserId, "usr");

/// `prefix_` followed by 20 random alphanumerics (~119 bits).
pub fn random_id(prefix: &str) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    format!("{prefix}_{tail}")
}

/// Longest id or key accepted anywhere (webhooks, REST, forms), in bytes. Keys are indexed;
/// this keeps every index entry far below what a btree row can hold.
pub const MAX_ID_BYTES: usize = 255;

/// What is wrong with an id, key or event type, if anything: it must be free of control
/// characters (NUL included) and at most [`MAX_ID_BYTES`] bytes long.
pub fn identifier_problem(s: &str) -> Option<String> {
    if s.chars().any(char::is_control) {
        return Some("contains a control character".into());
    }
    if s.len() > MAX_ID_BYTES {
        return Some(format!("is longer than {MAX_ID_BYTES} bytes"));
    }
    None
}

/// Text with control characters, which no form field of ours accepts.
fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

pub use shared::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldError> {
        let s = s.trim().to_lowercase();
        let bad = || FieldError::new(field, "enter an email address like name@example.com");
        if s.len() > 254 || s.chars().any(char::is_whitespace) || has_control(&s) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains('@')
        {
            return Err(bad());
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least 10 characters, at most 200.
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldError> {
        let n = s.chars().count();
        if n < Self::MIN_LEN {
            return Err(FieldError::new(
                field,
                format!("use at least {} characters", Self::MIN_LEN),
            ));
        }
        if n > 200 {
            return Err(FieldError::new(field, "use at most 200 characters"));
        }
        Ok(Self(s.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([hidden])")
    }
}

/// A non-blank display name (organization, partner, plan), trimmed, ≤ 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(FieldError::new(field, "must not be blank"));
        }
        if t.chars().count() > 200 {
            return Err(FieldError::new(field, "use at most 200 characters"));
        }
        if has_control(t) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A customer, partner or plan key: non-blank, no whitespace or control characters,
/// ≤ 200 characters and ≤ [`MAX_ID_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, FieldError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if has_control(t) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        if t.chars().any(char::is_whitespace) {
            return Err(FieldError::new(field, "must not contain spaces"));
        }
        if t.chars().count() > 200 {
            return Err(FieldError::new(field, "use at most 200 characters"));
        }
        if t.len() > MAX_ID_BYTES {
            return Err(FieldError::new(
                field,
                format!("use at most {MAX_ID_BYTES} bytes"),
            ));
        }
        Ok(Self(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Collects field errors so a form can report all of them at once.
#[derive(Default)]
pub struct Validator {
    pub errors: Vec<FieldError>,
}

impl Validator {
    pub fn check<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
    /// Parses an optional field: blank means absent.
    pub fn optional<T>(
        &mut self,
        s: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => self.check(parse(s)),
        }
    }
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("email", "  Ann@Example.COM ")
                .unwrap()
                .as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused_with_the_field_name() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@c.de",
            "a@.com",
        ] {
            let err = Email::parse("email", bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert!(Password::parse("password", "123456789").is_err());
        assert!(Password::parse("password", "1234567890").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("p", "secret-secret").unwrap()),
            "Password([hidden])"
        );
    }

    #[test]
    fn keys_refuse_blanks_and_spaces() {
        assert_eq!(Key::parse("key", " ").unwrap_err().message, "is required");
        assert_eq!(
            Key::parse("key", "pro plan").unwrap_err().message,
            "must not contain spaces"
        );
        assert_eq!(
            Key::parse("key", " pro-monthly ").unwrap().as_str(),
            "pro-monthly"
        );
    }

    #[test]
    fn keys_refuse_control_characters_and_more_than_255_bytes() {
        assert_eq!(
            Key::parse("key", "a\u{0}b").unwrap_err().message,
            "must not contain control characters"
        );
        // 100 three-byte characters: within 200 characters, over 255 bytes.
        let long = "€".repeat(100);
        assert!(Key::parse("key", &long)
            .unwrap_err()
            .message
            .contains("255 bytes"));
        assert!(Key::parse("key", &"k".repeat(200)).is_ok());
        assert!(Name::parse("name", "Ada\u{7}").is_err());
        assert!(Email::parse("email", "a\u{0}@example.com").is_err());
    }

    #[test]
    fn identifiers_with_nul_or_over_255_bytes_are_named_as_such() {
        assert_eq!(
            identifier_problem("ev_\u{0}"),
            Some("contains a control character".into())
        );
        assert!(identifier_problem(&"x".repeat(256))
            .unwrap()
            .contains("255"));
        assert_eq!(identifier_problem(&"x".repeat(255)), None);
        assert_eq!(identifier_problem("tax customer test"), None);
    }

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = OrgId::generate();
        let b = OrgId::generate();
        assert!(a.as_str().starts_with("org_"));
        assert_eq!(a.as_str().len(), 24);
        assert_ne!(a, b);
    }

    #[test]
    fn validator_collects_every_error() {
        let mut v = Validator::default();
        v.check(Name::parse("name", ""));
        v.check(Email::parse("email", "x"));
        let errs = v.finish().unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[1].field, "email");
    }
}
