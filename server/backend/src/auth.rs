//! Passwords, tokens and keys. Hashing runs on the blocking pool, never on async threads.

use super::domain::OrgId;
use super::Secret;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

pub(crate) fn argon2() -> Argon2<'static> {
    // OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
    })
    .await?
}

/// A hash of a random password, verified against when the user does not exist so that an
/// unknown email and a wrong password take the same time.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(random_token(16).as_bytes(), &salt)
            .expect("hashing the dummy password")
            .to_string()
    })
}

/// Verifies `password` against `hash`, or against a dummy hash when there is no user.
pub async fn verify_password(hash: Option<String>, password: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && ok)
    })
    .await?
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn hmac_bytes(secret: &Secret, parts: &[&str]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).expect("HMAC takes any key");
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(b"\x00");
    }
    mac.finalize().into_bytes().to_vec()
}

/// The webhook token of an organization: HMAC(secret, org, nonce). The database keeps the
/// nonce and a SHA-256 of the token, so a database leak alone does not reveal a working URL.
pub fn webhook_token(secret: &Secret, org: &OrgId, nonce: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac_bytes(
        secret,
        &["chargebee-webhook", org.as_str(), nonce],
    ))
}

/// A new nonce, its token and the token's hash.
pub fn new_webhook_token(secret: &Secret, org: &OrgId) -> (String, String, String) {
    let nonce = random_token(16);
    let token = webhook_token(secret, org, &nonce);
    let hash = sha256_hex(&token);
    (nonce, token, hash)
}

/// A keyed hash of a webhook Basic Auth password (fast to check on every delivery).
pub fn basic_auth_mac(secret: &Secret, org: &OrgId, password: &str) -> String {
    hex::encode(hmac_bytes(secret, &["basic-auth", org.as_str(), password]))
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A new API key: (the key shown once, its display prefix, its hash).
pub fn new_api_key() -> (String, String, String) {
    let key = format!("pl_{}", random_token(24));
    let prefix = key[..10].to_string();
    let hash = sha256_hex(&key);
    (key, prefix, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(Some(hash.clone()), "correct horse battery".into())
                .await
                .unwrap()
        );
        assert!(!verify_password(Some(hash), "wrong horse battery".into())
            .await
            .unwrap());
        assert!(!verify_password(None, "anything at all".into())
            .await
            .unwrap());
    }

    #[test]
    fn webhook_tokens_depend_on_secret_org_and_nonce() {
        let s1 = Secret::new(b"one".to_vec());
        let s2 = Secret::new(b"two".to_vec());
        let org = OrgId::from_trusted("org_a");
        let t = webhook_token(&s1, &org, "n1");
        assert_eq!(t, webhook_token(&s1, &org, "n1"));
        assert_ne!(t, webhook_token(&s2, &org, "n1"));
        assert_ne!(t, webhook_token(&s1, &org, "n2"));
        assert_ne!(t, webhook_token(&s1, &OrgId::from_trusted("org_b"), "n1"));
        // 256-bit HMAC, base64url: 43 characters, well over 128 bits.
        assert_eq!(t.len(), 43);
    }

    #[test]
    fn api_keys_are_random_and_hashed() {
        let (k1, p1, h1) = new_api_key();
        let (k2, _, _) = new_api_key();
        assert_ne!(k1, k2);
        assert!(k1.starts_with(&p1));
        assert_eq!(h1, sha256_hex(&k1));
        assert!(constant_time_eq(&h1, &sha256_hex(&k1)));
        assert!(!constant_time_eq(&h1, &sha256_hex(&k2)));
    }
}
