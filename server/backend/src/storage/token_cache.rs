//! Webhook tokens recently looked up, so a burst of deliveries does not query the integration
//! for every request. Entries live [`TOKEN_TTL`]; this process's own changes to an integration
//! (rotation, Basic Auth, deleting the organization) clear the cache at once. Another server
//! sharing the database sees such a change within [`TOKEN_TTL`]. Grace periods are checked
//! against the clock on every request, cached or not.

use super::TokenMatch;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TOKEN_TTL: Duration = Duration::from_secs(5);
/// More distinct tokens than this within the TTL (many tenants) empties the cache first.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every clear: a lookup that started before a change must not cache its result.
    generation: u64,
    entries: HashMap<String, (Instant, TokenMatch)>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached match, or the generation to pass to [`TokenCache::put`] after querying.
    pub fn get(&self, token_hash: &str, now: Instant) -> Result<TokenMatch, u64> {
        let inner = self.lock();
        inner
            .entries
            .get(token_hash)
            .filter(|(at, _)| now.duration_since(*at) < TOKEN_TTL)
            .map(|(_, m)| m.clone())
            .ok_or(inner.generation)
    }

    /// Caches a match read from storage, unless the cache was cleared since `generation`.
    pub fn put(&self, token_hash: &str, found: &TokenMatch, now: Instant, generation: u64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let entries = &mut inner.entries;
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| now.duration_since(*at) < TOKEN_TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token_hash.to_string(), (now, found.clone()));
    }

    /// Forgets everything (call after changing an integration).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::IntegrationRow;

    fn found(org: &str) -> TokenMatch {
        TokenMatch {
            integration: IntegrationRow {
                org_id: org.into(),
                token_nonce: "n".into(),
                previous_valid_until: None,
                basic_auth_username: None,
                basic_auth_password_mac: None,
            },
            previous: false,
        }
    }

    #[test]
    fn entries_expire_and_clear() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        assert_eq!(cache.get("h", t0), Err(0));
        cache.put("h", &found("org_a"), t0, 0);
        assert_eq!(
            cache.get("h", t0 + Duration::from_secs(1)),
            Ok(found("org_a"))
        );
        assert_eq!(cache.get("other", t0), Err(0));
        assert_eq!(cache.get("h", t0 + TOKEN_TTL), Err(0), "expired");
        cache.clear();
        assert_eq!(cache.get("h", t0), Err(1));
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_not_cached() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        let generation = cache.get("h", t0).unwrap_err();
        // The integration changes (and the cache is cleared) while the lookup runs.
        cache.clear();
        cache.put("h", &found("org_a"), t0, generation);
        assert!(cache.get("h", t0).is_err());
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES {
            cache.put(&format!("old{i}"), &found("org_a"), t0, 0);
        }
        let later = t0 + TOKEN_TTL;
        cache.put("new", &found("org_b"), later, 0);
        assert_eq!(cache.get("new", later), Ok(found("org_b")));
        assert_eq!(cache.lock().entries.len(), 1);
    }
}
