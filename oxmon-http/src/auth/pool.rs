//! A bounded pool for password hashing: argon2 runs on at most a few
//! blocking threads at once, and only a bounded number of requests may wait
//! for one. The rest are refused at once instead of piling up threads and
//! memory (each argon2 check holds its memory cost, 19 MiB by default).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// Waiting requests allowed by default beside the running checks.
pub const DEFAULT_PASSWORD_QUEUE: usize = 32;

/// The pool is full: no check may start and the queue is full. Answer
/// "busy, retry later".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks in progress; retry later")]
pub struct PoolBusy;

/// Runs password hashing work on at most `max_concurrent` blocking threads,
/// with at most `max_waiting` callers queued (first come, first served).
/// Cheap to clone; clones share the limits.
#[derive(Debug, Clone)]
pub struct PasswordPool {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

impl Default for PasswordPool {
    /// As many checks at once as the machine has cores, and
    /// [`DEFAULT_PASSWORD_QUEUE`] waiting.
    fn default() -> Self {
        Self::new(0, DEFAULT_PASSWORD_QUEUE)
    }
}

/// The number of cores, or 1 when it cannot be read.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl PasswordPool {
    /// The pool `[auth]` of `server.toml` sets
    /// (`max_concurrent_password_checks`, `password_check_queue`).
    pub fn from_config(auth: &oxmon_core::config::AuthConfig) -> Self {
        Self::new(
            auth.max_concurrent_password_checks,
            auth.password_check_queue,
        )
    }

    /// At most `max_concurrent` checks at once (0: one per core, see
    /// [`available_cores`]) and `max_waiting` callers waiting (0: none wait,
    /// a caller finding every slot taken is refused).
    pub fn new(max_concurrent: usize, max_waiting: usize) -> Self {
        let max_concurrent = if max_concurrent == 0 {
            available_cores()
        } else {
            max_concurrent
        };
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
        }
    }

    /// Checks that may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Callers that may wait for a free slot.
    pub fn max_waiting(&self) -> usize {
        self.max_waiting
    }

    /// Runs `work` on a blocking thread once a slot is free.
    ///
    /// The slot is held by the blocking task itself, so a caller that gives
    /// up (a dropped request) does not free it before the work is done: the
    /// number of threads hashing never exceeds the limit.
    ///
    /// # Errors
    /// [`PoolBusy`] at once when every slot is taken and `max_waiting`
    /// callers already wait; also if the work panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PoolBusy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let _place = Waiting::enter(&self.waiting, self.max_waiting)?;
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| PoolBusy)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|_| PoolBusy)
    }
}

/// A place in the queue, given back when dropped (also on cancellation).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize, max: usize) -> Result<Self, PoolBusy> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| PoolBusy)?;
        Ok(Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test]
    async fn runs_work_and_counts_cores() {
        let pool = PasswordPool::default();
        assert!(pool.max_concurrent() >= 1);
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));
    }

    /// Occupies the pool's one slot until `release` is sent to.
    async fn hold_the_only_slot(
        pool: &PasswordPool,
    ) -> (
        mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), PoolBusy>>,
    ) {
        let (release, hold) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let running = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started_tx.send(());
                    let _ = hold.recv();
                })
                .await
            })
        };
        started.await.expect("started");
        (release, running)
    }

    #[tokio::test]
    async fn a_full_pool_and_queue_refuse_at_once() {
        let pool = PasswordPool::new(1, 1);
        let (release, running) = hold_the_only_slot(&pool).await;
        // One caller may wait...
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 7).await })
        };
        while pool.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // ...a second is refused without waiting.
        assert_eq!(pool.run(|| 8).await, Err(PoolBusy));
        release.send(()).expect("release");
        assert_eq!(running.await.expect("join"), Ok(()));
        assert_eq!(waiting.await.expect("join"), Ok(7));
        assert_eq!(pool.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_gives_its_place_back() {
        let pool = PasswordPool::new(1, 1);
        let (release, running) = hold_the_only_slot(&pool).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 1).await })
        };
        while pool.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(pool.waiting.load(Ordering::Acquire), 0);
        release.send(()).expect("release");
        assert_eq!(running.await.expect("join"), Ok(()));
    }
}
