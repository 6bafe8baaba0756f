//! Work that must not run on an async worker: checking a large input
//! against a plugin's schema, compiling a plugin's schemas. It goes to a
//! few plain threads of the host's own, and the caller awaits the answer
//! under its deadline, so one plugin's slow work never holds a worker that
//! another plugin's call needs.
//!
//! The threads are not tokio's blocking pool on purpose: a runtime waits
//! for its blocking tasks when it shuts down, and a process must exit
//! within a bounded time of its last call whatever a job still does. These
//! threads are detached; a job still running when the process ends is
//! dropped with it. The queue is bounded: past it, work is refused at once
//! (`Busy`) rather than waiting behind a flood.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// Why offloaded work gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offloaded {
    /// The queue was full.
    Busy,
    /// The deadline passed first (the job may still finish, unseen).
    TimedOut,
    /// The job panicked.
    Failed,
}

/// A few threads that take jobs from one bounded queue.
#[derive(Debug)]
pub(crate) struct Offload {
    jobs: SyncSender<Job>,
}

impl Offload {
    /// `threads` threads named `name-N`, and a queue of `queue` jobs.
    pub fn start(name: &str, threads: usize, queue: usize) -> Self {
        let (jobs, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                // Compiling and checking schemas recurse with their nesting.
                .stack_size(8 << 20)
                .spawn(move || work(&receiver));
            if let Err(err) = spawned {
                tracing::warn!(target: "witplug::host", "could not start a {name} thread: {err}");
            }
        }
        Self { jobs }
    }

    /// Runs `job` on one of the threads; the future waits for its answer
    /// at most `timeout`. (The job is queued at once, not when the future
    /// is first polled.)
    pub fn run<T: Send + 'static>(
        &self,
        timeout: Duration,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, Offloaded>> + Send + 'static {
        self.run_while(timeout, move |_| job())
    }

    /// [`Offload::run`] for a job that asks, as it goes, whether anyone
    /// still waits for it (`waited()`): false once the future is dropped or
    /// timed out, so a job can give up, and a write not be made that its
    /// caller was told failed.
    pub fn run_while<T: Send + 'static>(
        &self,
        timeout: Duration,
        job: impl FnOnce(&dyn Fn() -> bool) -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, Offloaded>> + Send + 'static {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let waited = || !answer.is_closed();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&waited)));
            let _ = answer.send(result.map_err(|_| Offloaded::Failed));
        });
        let queued = match self.jobs.try_send(job) {
            Ok(()) => Ok(answered),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Offloaded::Busy),
        };
        async move {
            match tokio::time::timeout(timeout, queued?).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(Offloaded::Failed),
                Err(_) => Err(Offloaded::TimedOut),
            }
        }
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only to take the next job, never while one runs.
        let job = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// The threads that check inputs against schemas and compile schemas: as
/// many as the machine has cores (2 to 8), 64 jobs queued for each.
pub(crate) fn schemas() -> &'static Offload {
    static POOL: OnceLock<Offload> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        Offload::start("witplug-schema", threads, threads * 64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_answers_and_a_slow_one_times_out() {
        let pool = Offload::start("test-offload", 1, 4);
        assert_eq!(pool.run(Duration::from_secs(5), || 2 + 2).await, Ok(4));
        let slow = pool.run(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(300));
        });
        assert_eq!(slow.await, Err(Offloaded::TimedOut));
        let panicked = pool.run(Duration::from_secs(5), || panic!("in a job"));
        assert_eq!(panicked.await, Err::<(), _>(Offloaded::Failed));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = Offload::start("test-full", 1, 1);
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let held = Mutex::new(held);
        // One job runs and waits; one fills the queue; the next is refused.
        let first = pool.run(Duration::from_secs(5), move || {
            let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(5));
        });
        let first = tokio::spawn(first);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = tokio::spawn(pool.run(Duration::from_secs(5), || ()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run(Duration::from_secs(5), || ()).await, Err(Offloaded::Busy));
        hold.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(()));
    }
}
