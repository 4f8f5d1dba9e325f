//! Group commit: concurrent requests hand their work to one task, which applies whatever has
//! queued up in a single transaction and answers each request after the commit. With one
//! writer (SQLite) this turns many small fsyncs into one without delaying a lone request:
//! a batch is simply everything that arrived while the previous one was being written.

use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

type Job<J, R> = (J, oneshot::Sender<R>);

pub struct GroupCommit<J, R> {
    queue: mpsc::Sender<Job<J, R>>,
}

impl<J: Send + 'static, R: Send + 'static> GroupCommit<J, R> {
    /// Starts `writers` writer tasks. `flush` gets up to `max_batch` jobs and returns one
    /// result per job, in order.
    pub fn spawn<F, Fut>(max_batch: usize, writers: usize, flush: F) -> Arc<Self>
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (queue, rx) = mpsc::channel::<Job<J, R>>(max_batch * writers.max(1) * 16);
        let rx = Arc::new(Mutex::new(rx));
        let flush = Arc::new(flush);
        for _ in 0..writers.max(1) {
            let (rx, flush) = (rx.clone(), flush.clone());
            tokio::spawn(async move {
                loop {
                    // Take a batch; the queue is locked only while taking it.
                    let jobs = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut jobs = vec![first];
                        while jobs.len() < max_batch {
                            match rx.try_recv() {
                                Ok(job) => jobs.push(job),
                                Err(_) => break,
                            }
                        }
                        jobs
                    };
                    let (work, replies): (Vec<J>, Vec<oneshot::Sender<R>>) =
                        jobs.into_iter().unzip();
                    // A panic while writing must not stop the writer: its batch's requesters
                    // get no result (`submit` answers `None`) and the next batch goes on.
                    let Ok(results) = AssertUnwindSafe(flush(work)).catch_unwind().await else {
                        tracing::error!(
                            "a group-commit writer panicked; its batch was not applied"
                        );
                        continue;
                    };
                    debug_assert_eq!(results.len(), replies.len());
                    for (result, reply) in results.into_iter().zip(replies) {
                        // The requester may have gone away (client disconnected); nothing to do.
                        let _ = reply.send(result);
                    }
                }
            });
        }
        Arc::new(Self { queue })
    }

    /// Queues a job and waits for its result; `None` if the writer task is gone.
    pub async fn submit(&self, job: J) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        self.queue.send((job, tx)).await.ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_jobs_are_answered_in_order_and_batched() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let counter = flushes.clone();
        let gc = GroupCommit::spawn(8, 2, move |jobs: Vec<u32>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                jobs.into_iter().map(|j| j * 10).collect::<Vec<_>>()
            }
        });
        let results = futures::future::join_all((0..32u32).map(|i| {
            let gc = gc.clone();
            async move { gc.submit(i).await }
        }))
        .await;
        assert_eq!(
            results,
            (0..32u32).map(|i| Some(i * 10)).collect::<Vec<_>>()
        );
        let n = flushes.load(Ordering::SeqCst);
        assert!(
            (4..32).contains(&n),
            "32 jobs in batches of ≤ 8 took {n} flushes"
        );
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_jobs_and_the_writer_carries_on() {
        let gc = GroupCommit::spawn(1, 1, |jobs: Vec<u32>| async move {
            assert!(!jobs.contains(&13), "unlucky");
            jobs
        });
        assert_eq!(gc.submit(13).await, None);
        assert_eq!(gc.submit(14).await, Some(14));
    }
}
