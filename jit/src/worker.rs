//! Background compilation: a worker thread with its own `Compiler` turns hot regions into
//! machine code while the guest goes on in the interpreter, so compile latency stays off the
//! guest's path. The dispatcher submits a `Job` when a block entry becomes hot and installs
//! each `Done` it collects (see `cache`); a result from before a cache flush is dropped there.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::compiler::{Code, Compiler, LowerParams};
use crate::region::Region;

/// Cache key of a translation: (physical address, EIP, mode key).
pub type Key = (u32, u32, u32);

pub struct Job {
    pub key: Key,
    /// The cache's flush count when the job was made.
    pub epoch: u64,
    pub region: Region,
    /// The code page's generation when the region was decoded.
    pub gen: u32,
    pub params: LowerParams,
}

pub struct Done {
    pub key: Key,
    pub epoch: u64,
    pub region: Region,
    pub gen: u32,
    pub code: Result<Code, String>,
    pub time: Duration,
}

pub struct Worker {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    /// Set when the cache goes away: the worker drops what is still queued and ends.
    stop: Arc<AtomicBool>,
    /// Jobs submitted whose result has not been collected.
    pub in_flight: usize,
    /// Results sent by the worker so far, and collected so far (the dispatcher looks at the
    /// channel only when they differ: one relaxed load per dispatch).
    sent: Arc<AtomicUsize>,
    collected: usize,
}

impl Worker {
    pub fn spawn() -> std::io::Result<Worker> {
        let (jobs, rx) = channel::<Job>();
        let (tx, done) = channel::<Done>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let sent_w = sent.clone();
        std::thread::Builder::new()
            .name("ironbox-jit".into())
            .spawn(move || {
                let mut c = Compiler::new();
                let dump = std::env::var_os("IRONBOX_JIT_DUMP").is_some();
                for job in rx {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let t0 = Instant::now();
                    let code = c.region(&job.region, &job.params, dump);
                    let d = Done {
                        key: job.key,
                        epoch: job.epoch,
                        region: job.region,
                        gen: job.gen,
                        code,
                        time: t0.elapsed(),
                    };
                    if tx.send(d).is_err() {
                        break;
                    }
                    sent_w.fetch_add(1, Ordering::Release);
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            done,
            stop,
            in_flight: 0,
            sent,
            collected: 0,
        })
    }

    /// Queue a job; `false` if the worker is gone (the caller compiles it itself).
    pub fn submit(&mut self, job: Job) -> bool {
        let ok = self.jobs.as_ref().is_some_and(|s| s.send(job).is_ok());
        self.in_flight += ok as usize;
        ok
    }

    /// Whether a finished job is waiting (cheap).
    #[inline]
    pub fn ready(&self) -> bool {
        self.sent.load(Ordering::Acquire) != self.collected
    }

    /// A finished job, if one is waiting.
    pub fn collect(&mut self) -> Option<Done> {
        let d = self.done.try_recv().ok()?;
        self.in_flight -= 1;
        self.collected += 1;
        Some(d)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs = None; // ends the worker's loop once it is idle
    }
}
