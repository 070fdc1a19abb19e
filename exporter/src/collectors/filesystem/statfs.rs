//! `statvfs(2)` with a per-mount timeout, for mounts whose server may be gone.
//!
//! A statfs on a hard-mounted NFS share whose server is down blocks in the kernel and cannot
//! be interrupted. As node_exporter does, a mount whose call overruns the timeout is reported
//! as failed and remembered as stuck: later scrapes skip it (instead of starting another
//! thread that would hang as well) until the stuck call returns.
//!
//! The calls run on one long-lived worker thread, so a healthy scrape starts no thread; a
//! scrape hands it all its mounts at once. When a call overruns, that worker is left behind
//! with the stuck call and a fresh one takes the remaining mounts; the abandoned worker clears the mount's stuck mark when its call returns, then
//! exits. So there is at most one thread per stuck mount, plus one.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Space and inode figures of one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// The statfs call itself: the real one, or a test double that hangs on demand (a hung NFS
/// server is a fault a test cannot cause on this machine).
pub trait StatFs: Send + Sync + 'static {
    fn usage(&self, path: &Path) -> io::Result<Usage>;
}

/// `statvfs(2)` through rustix.
pub struct Statvfs;

impl StatFs for Statvfs {
    fn usage(&self, path: &Path) -> io::Result<Usage> {
        let s = rustix::fs::statvfs(path)?;
        // f_blocks counts f_frsize units (POSIX); node_exporter multiplies by f_bsize, which
        // is the same number on the filesystems where both are set (ext4, xfs, tmpfs, ...).
        let unit = s.f_frsize as f64;
        Ok(Usage {
            size: s.f_blocks as f64 * unit,
            free: s.f_bfree as f64 * unit,
            avail: s.f_bavail as f64 * unit,
            files: s.f_files as f64,
            files_free: s.f_ffree as f64,
        })
    }
}

/// What became of one mount's statfs.
#[derive(Debug)]
pub enum Outcome {
    Usage(Usage),
    Failed(io::Error),
    /// The call overran the timeout on this scrape and is still blocked.
    TimedOut,
    /// Skipped: a call from an earlier scrape is still blocked.
    Stuck,
}

type Reply = io::Result<Usage>;

struct Worker {
    jobs: mpsc::Sender<Vec<PathBuf>>,
    replies: mpsc::Receiver<Reply>,
}

/// Runs [`StatFs`] calls with a timeout and remembers the mounts whose call is stuck.
pub struct TimedStatFs<S: StatFs> {
    inner: Arc<S>,
    timeout: Duration,
    /// Paths whose call overran and has not returned yet. Only ever touched with this lock
    /// held on both sides, which is what makes "timed out" and "returned just then" exclusive.
    stuck: Arc<Mutex<HashSet<PathBuf>>>,
    worker: Mutex<Option<Worker>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked (single inserts/removes).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: StatFs> TimedStatFs<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            timeout,
            stuck: Arc::default(),
            worker: Mutex::new(None),
        }
    }

    /// One outcome per path, in order. All the paths go to the worker in one message and it
    /// answers them one by one, so a scrape wakes it once rather than once per mount; each
    /// answer still has its own timeout.
    pub fn usage_all(&self, paths: &[PathBuf]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(paths.len());
        let mut pending = Vec::with_capacity(paths.len());
        {
            let stuck = lock(&self.stuck);
            for (index, path) in paths.iter().enumerate() {
                if stuck.contains(path) {
                    outcomes.push(Some(Outcome::Stuck));
                } else {
                    outcomes.push(None);
                    pending.push(index);
                }
            }
        }
        let mut slot = lock(&self.worker);
        while !pending.is_empty() {
            let answered = self.run_batch(&mut slot, paths, &pending, &mut outcomes);
            pending.drain(..answered);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Failed(io::Error::other("statfs not run"))))
            .collect()
    }

    /// Sends `pending` to the worker and collects answers until one fails to come; returns
    /// how many of `pending` got an outcome. A worker left with a stuck or panicked call is
    /// dropped, and the caller sends the rest to a fresh one.
    fn run_batch(
        &self,
        slot: &mut Option<Worker>,
        paths: &[PathBuf],
        pending: &[usize],
        outcomes: &mut [Option<Outcome>],
    ) -> usize {
        let worker = match slot.as_mut() {
            Some(worker) => worker,
            None => match self.spawn_worker() {
                Ok(worker) => slot.insert(worker),
                Err(e) => {
                    let message = e.to_string();
                    for &index in pending {
                        outcomes[index] = Some(Outcome::Failed(io::Error::other(message.clone())));
                    }
                    return pending.len();
                }
            },
        };
        let batch = pending.iter().map(|&index| paths[index].clone()).collect();
        if worker.jobs.send(batch).is_err() {
            *slot = None;
            outcomes[pending[0]] = Some(Outcome::Failed(io::Error::other("statfs worker exited")));
            return 1;
        }
        for (answered, &index) in pending.iter().enumerate() {
            match worker.replies.recv_timeout(self.timeout) {
                Ok(reply) => outcomes[index] = Some(outcome(reply)),
                Err(RecvTimeoutError::Disconnected) => {
                    // The worker panicked inside this call; the rest go to a new one.
                    *slot = None;
                    outcomes[index] =
                        Some(Outcome::Failed(io::Error::other("statfs worker exited")));
                    return answered + 1;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let mut stuck = lock(&self.stuck);
                    // The reply may have arrived between the timeout and taking the lock.
                    if let Ok(reply) = worker.replies.try_recv() {
                        outcomes[index] = Some(outcome(reply));
                        continue;
                    }
                    stuck.insert(paths[index].clone());
                    // Dropped with the lock held: the worker's reply now fails, and it
                    // clears the mark itself when the call returns, then exits without
                    // touching the rest of the batch.
                    *slot = None;
                    outcomes[index] = Some(Outcome::TimedOut);
                    return answered + 1;
                }
            }
        }
        pending.len()
    }

    fn spawn_worker(&self) -> io::Result<Worker> {
        let (jobs, job_rx) = mpsc::channel::<Vec<PathBuf>>();
        let (reply_tx, replies) = mpsc::channel();
        let inner = Arc::clone(&self.inner);
        let stuck = Arc::clone(&self.stuck);
        std::thread::Builder::new()
            .name("statfs".into())
            .spawn(move || {
                while let Ok(batch) = job_rx.recv() {
                    for path in batch {
                        let reply = inner.usage(&path);
                        let mut stuck = lock(&stuck);
                        if reply_tx.send(reply).is_err() {
                            stuck.remove(&path);
                            tracing::info!(
                                path = %path.display(),
                                "statfs returned after its timeout; the mount is checked again"
                            );
                            return;
                        }
                    }
                }
            })?;
        Ok(Worker { jobs, replies })
    }
}

fn outcome(reply: Reply) -> Outcome {
    match reply {
        Ok(usage) => Outcome::Usage(usage),
        Err(e) => Outcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    const USAGE: Usage = Usage {
        size: 4096.0,
        free: 2048.0,
        avail: 1024.0,
        files: 10.0,
        files_free: 5.0,
    };

    /// Hangs on `/hang` until released, as statfs does on a dead NFS mount; answers at once
    /// for every other path. Counts the calls that reached it. A test double because a hung
    /// NFS server is a fault this test cannot cause for real (it needs root, a kernel NFS
    /// client and a server to kill).
    struct Hanging {
        release: Mutex<mpsc::Receiver<()>>,
        calls: AtomicUsize,
    }

    impl StatFs for Arc<Hanging> {
        fn usage(&self, path: &Path) -> io::Result<Usage> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if path == Path::new("/hang") {
                let _ = lock(&self.release).recv();
            }
            if path == Path::new("/gone") {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            Ok(USAGE)
        }
    }

    fn usage(statfs: &TimedStatFs<Arc<Hanging>>, path: &str) -> Outcome {
        statfs.usage_all(&[PathBuf::from(path)]).remove(0)
    }

    fn hanging() -> (mpsc::Sender<()>, Arc<Hanging>) {
        let (release, rx) = mpsc::channel();
        let hanging = Arc::new(Hanging {
            release: Mutex::new(rx),
            calls: AtomicUsize::new(0),
        });
        (release, hanging)
    }

    #[test]
    fn a_hung_mount_in_a_batch_does_not_hold_up_the_rest() {
        let (release, hanging) = hanging();
        let statfs = TimedStatFs::new(Arc::clone(&hanging), Duration::from_millis(500));
        let paths = ["/ok", "/hang", "/gone", "/ok2"].map(PathBuf::from);
        let outcomes = statfs.usage_all(&paths);
        assert!(matches!(outcomes[0], Outcome::Usage(u) if u == USAGE));
        assert!(matches!(outcomes[1], Outcome::TimedOut));
        assert!(matches!(&outcomes[2], Outcome::Failed(e) if e.kind() == io::ErrorKind::NotFound));
        assert!(matches!(outcomes[3], Outcome::Usage(u) if u == USAGE));
        // Each path was called once: the abandoned worker did not go on with the batch.
        assert_eq!(hanging.calls.load(Ordering::SeqCst), 4);
        let outcomes = statfs.usage_all(&paths);
        assert!(matches!(outcomes[1], Outcome::Stuck));
        assert!(matches!(outcomes[3], Outcome::Usage(_)));
        release.send(()).unwrap();
    }

    #[test]
    fn a_hung_mount_times_out_is_skipped_and_recovers() {
        let (release, hanging) = hanging();
        // Generous for the calls that answer at once, on a loaded CI machine.
        let statfs = TimedStatFs::new(Arc::clone(&hanging), Duration::from_millis(500));

        let start = Instant::now();
        assert!(matches!(usage(&statfs, "/hang"), Outcome::TimedOut));
        assert!(start.elapsed() < Duration::from_secs(2));
        // Other mounts are served by a fresh worker while the first is blocked.
        assert!(matches!(usage(&statfs, "/ok"), Outcome::Usage(u) if u == USAGE));
        assert!(matches!(
            usage(&statfs, "/gone"),
            Outcome::Failed(e) if e.kind() == io::ErrorKind::NotFound
        ));
        // The stuck mount is skipped without another call (no second hung thread).
        let calls = hanging.calls.load(Ordering::SeqCst);
        assert!(matches!(usage(&statfs, "/hang"), Outcome::Stuck));
        assert_eq!(hanging.calls.load(Ordering::SeqCst), calls);

        // The server comes back: the blocked call returns and clears the mark.
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&statfs.stuck).contains(Path::new("/hang")) {
            assert!(Instant::now() < deadline, "stuck mark never cleared");
            std::thread::sleep(Duration::from_millis(10));
        }
        release.send(()).unwrap();
        assert!(matches!(
            usage(&statfs, "/hang"),
            Outcome::Usage(u) if u == USAGE
        ));
    }

    #[test]
    fn real_statvfs_of_a_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        let usage = Statvfs.usage(dir.path()).unwrap();
        assert!(usage.size > 0.0);
        assert!(usage.free <= usage.size && usage.avail <= usage.free);
        assert!(Statvfs.usage(&dir.path().join("missing")).is_err());
    }
}
