//! Runs one scrape's collectors on a few blocking threads instead of one thread each.
//!
//! Handing every collector to its own blocking-pool thread cost a futex wake-up, a context
//! switch and (through glibc's per-thread arenas) malloc work per collector on every scrape:
//! ~15-20% of scrape CPU in a profile, for collectors that mostly read one `/proc` file in
//! microseconds. Here a few *drainer* threads pull the next collector from a shared index
//! until none are left, so a scrape costs a few hand-offs whatever the number of collectors.
//!
//! Isolation is kept: a collector that blocks (a hung NFS `statfs`) holds only the drainer
//! running it, and when no collector has finished for [`STALL`] while some have not started,
//! the scrape adds another drainer, so the healthy ones still run before the deadline. A
//! panic is caught per collector and does not take the drainer's remaining work with it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Collector, CollectorError};
use crate::exposition::MetricSet;

/// How long a scrape waits without any collector finishing before it adds a drainer.
const STALL: Duration = Duration::from_millis(25);

/// One collector to run in this scrape.
pub(super) struct Job {
    pub collector: Arc<dyn Collector>,
    /// The collector's in-flight flag, cleared when its run ends (even by a panic).
    pub busy: Arc<AtomicBool>,
}

/// Why a finished run produced no metrics.
pub(super) enum Failure {
    Error(CollectorError),
    Panic(String),
}

/// A run that ended before the deadline.
pub(super) struct Finished {
    pub result: Result<MetricSet, Failure>,
    /// Time spent in `collect` itself, not waiting for a drainer or for the scrape.
    pub duration: Duration,
}

struct Batch {
    jobs: Vec<Job>,
    /// Index of the next job a drainer takes.
    next: AtomicUsize,
    /// Number of jobs that have finished.
    finished: AtomicUsize,
    results: Vec<Mutex<Option<Finished>>>,
    done: Notify,
}

/// Runs `jobs` on `drainers` blocking threads (more if they stall) until all have finished
/// or `deadline` passes. Entry `i` of the result is job `i`'s outcome, `None` if it had not
/// finished by the deadline (it keeps running; its busy flag stays set until it returns).
pub(super) async fn run(
    jobs: Vec<Job>,
    drainers: usize,
    deadline: tokio::time::Instant,
) -> Vec<Option<Finished>> {
    let total = jobs.len();
    let batch = Arc::new(Batch {
        results: (0..total).map(|_| Mutex::new(None)).collect(),
        jobs,
        next: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        done: Notify::new(),
    });
    for _ in 0..drainers.max(1).min(total) {
        spawn_drainer(&batch);
    }
    while batch.finished.load(Ordering::Acquire) < total {
        let seen = batch.finished.load(Ordering::Acquire);
        let wake = deadline.min(tokio::time::Instant::now() + STALL);
        // `notify_one` keeps a permit when nobody waits yet, so the last finish is never lost.
        if tokio::time::timeout_at(wake, batch.done.notified())
            .await
            .is_ok()
        {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let stalled = batch.finished.load(Ordering::Acquire) == seen;
        if stalled && batch.next.load(Ordering::Acquire) < total {
            spawn_drainer(&batch);
        }
    }
    // A job no drainer has taken by now will not run in this scrape (all drainers are stuck
    // and the deadline came before the next stall check): release it, or its busy flag would
    // keep it skipped until a stuck collector returns.
    let first_untaken = batch.next.swap(total, Ordering::AcqRel);
    for job in batch.jobs.iter().skip(first_untaken) {
        job.busy.store(false, Ordering::Release);
    }
    batch
        .results
        .iter()
        .map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).take())
        .collect()
}

fn spawn_drainer(batch: &Arc<Batch>) {
    let batch = batch.clone();
    // Dropping the handle detaches the thread: a stuck collector never blocks the scrape.
    drop(tokio::task::spawn_blocking(move || drain(&batch)));
}

fn drain(batch: &Batch) {
    loop {
        let index = batch.next.fetch_add(1, Ordering::AcqRel);
        let Some(job) = batch.jobs.get(index) else {
            return;
        };
        let start = Instant::now();
        let mut metrics = MetricSet::default();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| job.collector.collect(&mut metrics)));
        let duration = start.elapsed();
        job.busy.store(false, Ordering::Release);
        let result = match outcome {
            Ok(Ok(())) => Ok(metrics),
            Ok(Err(error)) => Err(Failure::Error(error)),
            Err(payload) => Err(Failure::Panic(panic_message(payload.as_ref()))),
        };
        *batch.results[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Finished { result, duration });
        if batch.finished.fetch_add(1, Ordering::AcqRel) + 1 == batch.jobs.len() {
            batch.done.notify_one();
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}
