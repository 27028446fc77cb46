//! Background compilation: a worker thread with its own `Compiler` turns hot regions into
//! machine code while the guest goes on in the interpreter, so compile latency stays off the
//! guest's path. The dispatcher submits a `Job` when a block entry becomes hot and installs
//! each `Done` it collects (see `cache`); a result from before a cache flush is dropped there.
//!
//! The queue is not first-in first-out: the worker takes the job whose entry the dispatcher
//! reached most often while it waited (its `heat`), newest first among equals. Compilation
//! cannot keep up during a boot, and the entries that became hot in a phase long gone (the
//! kernel's decompressor, early setup) should not hold up the ones running now.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};
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
    /// Dispatcher visits to the entry while it waits (the worker's priority).
    pub heat: Arc<AtomicU32>,
    /// `heat` when the worker last chose a job (what came since is the recent heat).
    pub seen: u32,
}

pub struct Done {
    pub key: Key,
    pub epoch: u64,
    pub region: Region,
    pub gen: u32,
    pub code: Result<Code, String>,
    pub time: Duration,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// The cache went away: the worker drops what is still queued and ends.
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

pub struct Worker {
    queue: Shared,
    done: Receiver<Done>,
    alive: Arc<AtomicBool>,
    /// Jobs submitted whose result has not been collected.
    pub in_flight: usize,
    /// Results sent by the worker so far, and collected so far (the dispatcher looks at the
    /// channel only when they differ: one relaxed load per dispatch).
    sent: Arc<AtomicUsize>,
    collected: usize,
}

impl Worker {
    pub fn spawn() -> std::io::Result<Worker> {
        let queue: Shared = Arc::default();
        let q = queue.clone();
        let (tx, done) = channel::<Done>();
        let sent = Arc::new(AtomicUsize::new(0));
        let sent_w = sent.clone();
        let alive = Arc::new(AtomicBool::new(true));
        let alive_w = alive.clone();
        std::thread::Builder::new()
            .name("ironbox-jit".into())
            .spawn(move || {
                // (Dropped on the way out, also when a compilation panics: the dispatcher
                // then compiles inline.)
                let _alive = Alive(alive_w);
                let mut c = Compiler::new();
                let dump = std::env::var_os("IRONBOX_JIT_DUMP").is_some();
                let log = std::env::var_os("IRONBOX_JIT_LOG").is_some();
                while let Some(job) = next_job(&q) {
                    let t0 = Instant::now();
                    let code = c.region(&job.region, &job.params, dump);
                    if log {
                        log_compile(&job, &code, t0);
                    }
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
            queue,
            done,
            alive,
            in_flight: 0,
            sent,
            collected: 0,
        })
    }

    /// Queue a job; `false` if the worker is gone (the caller compiles it itself).
    pub fn submit(&mut self, job: Job) -> bool {
        if !self.alive.load(Ordering::Relaxed) {
            return false;
        }
        let (m, cv) = &*self.queue;
        let Ok(mut q) = m.lock() else {
            return false;
        };
        q.jobs.push(job);
        cv.notify_one();
        self.in_flight += 1;
        true
    }

    /// Whether a finished job is waiting (cheap).
    #[inline]
    pub fn ready(&self) -> bool {
        self.sent.load(Ordering::Acquire) != self.collected
    }

    /// The count of results sent, and its value when nothing is waiting (`Cpu::run_watched`
    /// stops for news when they differ).
    pub fn news(&self) -> (&AtomicUsize, usize) {
        (&self.sent, self.collected)
    }

    /// A finished job, if one is waiting.
    pub fn collect(&mut self) -> Option<Done> {
        let d = self.done.try_recv().ok()?;
        self.in_flight -= 1;
        self.collected += 1;
        Some(d)
    }
}

/// Clears the worker's `alive` flag when the thread ends.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// The hottest queued job (the newest among equals); `None` once the queue is closed.
fn next_job(q: &Shared) -> Option<Job> {
    let (m, cv) = &**q;
    let mut g = m.lock().ok()?;
    loop {
        if g.closed {
            return None;
        }
        if !g.jobs.is_empty() {
            // The entry visited most since the last choice goes first, then the most visited
            // overall: code the guest runs now before code it ran a lot once (boot code
            // that waited long piles up heat it no longer earns).
            let mut best = g.jobs.len() - 1;
            let mut top = (0, 0);
            for (i, j) in g.jobs.iter_mut().enumerate().rev() {
                let h = j.heat.load(Ordering::Relaxed);
                let score = (h.wrapping_sub(j.seen), h);
                j.seen = h;
                if score > top {
                    (best, top) = (i, score);
                }
            }
            // (`remove`, not `swap_remove`: the order stays the submission order.)
            return Some(g.jobs.remove(best));
        }
        g = cv.wait(g).ok()?;
    }
}

/// `IRONBOX_JIT_LOG`: one line per compiled region.
fn log_compile(job: &Job, code: &Result<Code, String>, t0: Instant) {
    let r = &job.region;
    let distinct = r
        .blocks
        .iter()
        .flat_map(|g| g.instrs.iter().map(|i| i.ip32()))
        .collect::<std::collections::HashSet<_>>()
        .len();
    eprintln!(
        "jit-compile: {:#x} {} instrs ({} distinct) {} blocks {} bytes {} us, heat {}",
        r.entry_eip,
        r.instr_count(),
        distinct,
        r.blocks.len(),
        code.as_ref().map_or(0, |c| c.bytes.len()),
        t0.elapsed().as_micros(),
        job.heat.load(Ordering::Relaxed),
    );
}

impl Drop for Worker {
    fn drop(&mut self) {
        let (m, cv) = &*self.queue;
        if let Ok(mut q) = m.lock() {
            q.closed = true;
            q.jobs.clear();
        }
        cv.notify_all();
    }
}
