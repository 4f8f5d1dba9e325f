//! Password hashing and checking, bounded. Each argon2id run needs 19 MiB and most of a core
//! for tens of milliseconds. Run on the blocking pool, a flood of sign-ups or sign-ins ran
//! hundreds at once (gigabytes); even a handful at a time left the allocator holding a fresh
//! 19 MiB block per thread and hash (close to a gigabyte after 100 sign-ups).
//!
//! So the work runs on a few dedicated threads, each with one argon2 memory buffer that it
//! reuses for every hash: memory is `threads × 19 MiB`, allocated once. A caller waits up to
//! `wait` for a free thread, then gets [`PasswordError::Busy`] (answered 503 + `Retry-After`).

use super::auth::{argon2, dummy_hash};
use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every password thread stayed busy for the whole wait.
    #[error("too many password checks at once")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

enum Work {
    Hash(String, oneshot::Sender<anyhow::Result<String>>),
    /// `None`: check against the dummy hash (unknown user), answer `false` either way.
    Verify(
        Option<String>,
        String,
        oneshot::Sender<anyhow::Result<bool>>,
    ),
}

/// A piece of work and its turn: the turn goes back only when a thread has finished (or
/// skipped) the work, so callers that give up (a client that disconnects) cannot queue up
/// more work than there are threads.
struct Job {
    work: Work,
    _turn: OwnedSemaphorePermit,
}

/// Most password threads, whatever the core count (each keeps a 19 MiB buffer).
const MAX_THREADS: usize = 8;

pub struct PasswordWork {
    turns: Arc<Semaphore>,
    wait: Duration,
    jobs: mpsc::Sender<Job>,
}

impl PasswordWork {
    /// Starts `threads` password threads, at most 8 (their buffers are allocated on first
    /// use).
    pub fn new(threads: usize, wait: Duration) -> Self {
        let threads = threads.clamp(1, MAX_THREADS);
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password thread");
            }
        }
        Self {
            turns: Arc::new(Semaphore::new(threads)),
            wait,
            jobs,
        }
    }

    async fn run<T>(
        &self,
        work: impl FnOnce(oneshot::Sender<anyhow::Result<T>>) -> Work,
    ) -> Result<T, PasswordError> {
        // At most one job per thread is handed over; the rest wait here, for a while.
        let turns = self.turns.clone();
        let turn = match tokio::time::timeout(self.wait, turns.acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            _ => return Err(PasswordError::Busy),
        };
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                work: work(tx),
                _turn: turn,
            })
            .map_err(|_| anyhow::anyhow!("the password threads stopped"))?;
        Ok(rx
            .await
            .map_err(|_| anyhow::anyhow!("a password thread stopped"))??)
    }

    /// An argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(|tx| Work::Hash(password, tx)).await
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) the dummy hash is
    /// checked instead, so both cases take the same time, and the answer is `false`.
    pub async fn verify(
        &self,
        hash: Option<String>,
        password: String,
    ) -> Result<bool, PasswordError> {
        self.run(|tx| Work::Verify(hash, password, tx)).await
    }
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = vec![];
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A caller that gave up (its reply channel is closed) gets no work done for it.
        match job.work {
            Work::Hash(password, reply) if !reply.is_closed() => {
                let _ = reply.send(hash_with(&mut memory, &password));
            }
            Work::Verify(hash, password, reply) if !reply.is_closed() => {
                let known = hash.is_some();
                let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
                let ok = verify_with(&mut memory, &hash, &password).map(|ok| known && ok);
                let _ = reply.send(ok);
            }
            _ => {}
        }
        // The job's turn is dropped here: the next caller may hand over its work.
    }
}

/// Grows the reused buffer to what `params` need (once, for our own parameters).
fn blocks_for<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    if memory.len() < params.block_count() {
        *memory = vec![Block::default(); params.block_count()];
    }
    &mut memory[..]
}

fn hash_with(memory: &mut Vec<Block>, password: &str) -> anyhow::Result<String> {
    let hasher = argon2();
    let params = hasher.params().clone();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hasher
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            blocks_for(memory, &params),
        )
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Vec<Block>, hash: &str, password: &str) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm)
        .map_err(|e| anyhow::anyhow!("stored password hash: {e}"))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored password hash: {e}"))?
        .unwrap_or_default();
    let params =
        Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("stored password hash: {e}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(anyhow::anyhow!("stored password hash has no salt or hash"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("stored salt: {e}"))?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            blocks_for(memory, &params),
        )
        .map_err(|e| anyhow::anyhow!("checking a password failed: {e}"))?;
    let computed = Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?;
    // `Output` compares in constant time.
    Ok(computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{hash_password, verify_password};

    #[tokio::test]
    async fn hashes_made_here_and_by_the_argon2_crate_verify_both_ways() {
        let work = PasswordWork::new(2, Duration::from_secs(5));
        let ours = work.hash("correct horse battery".into()).await.unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(
            verify_password(Some(ours.clone()), "correct horse battery".into())
                .await
                .unwrap()
        );
        let theirs = hash_password("correct horse battery".into()).await.unwrap();
        for hash in [ours, theirs] {
            assert!(work
                .verify(Some(hash.clone()), "correct horse battery".into())
                .await
                .unwrap());
            assert!(!work
                .verify(Some(hash), "wrong horse battery".into())
                .await
                .unwrap());
        }
        // An unknown user: the dummy hash is checked and the answer is no.
        assert!(!work.verify(None, "anything".into()).await.unwrap());
        // The same thread, reusing its buffer, gives different salts and still verifies.
        let a = work.hash("one password here".into()).await.unwrap();
        let b = work.hash("one password here".into()).await.unwrap();
        assert_ne!(a, b);
        assert!(work
            .verify(Some(b), "one password here".into())
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn work_beyond_the_threads_gives_up_after_the_wait() {
        let work = PasswordWork::new(1, Duration::from_millis(20));
        let held = work.turns.clone().acquire_owned().await.unwrap();
        assert!(matches!(
            work.hash("correct horse battery".into()).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        assert!(work.hash("correct horse battery".into()).await.is_ok());
    }
}
