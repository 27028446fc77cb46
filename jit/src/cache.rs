//! The translation cache: hotness counters and compiled regions keyed by (physical address,
//! EIP, mode bits), the Cranelift module that owns their code, and the dispatcher step that
//! runs one region. Code memory is bounded: when the module holds more than `CODE_LIMIT`
//! bytes, every translation is dropped and the module's memory freed (a new generation).
//! Each generation's code lies back to back in one huge-page mapping (`codemem`).

use rustc_hash::FxHashMap as HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cranelift_codegen::isa::CallConv;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};
use ironbox_cpu::state::flags;
use ironbox_cpu::translator::mode_key;
use ironbox_cpu::{Cpu, CpuBus, RunExit, SegReg};

use crate::compiler::{host_isa, Code, Compiler, Links, LowerParams};
use crate::jumpcache::{self, JumpCache};
use crate::lower::{self, LowerOptions, EXIT_IO, EXIT_SHUTDOWN};
use crate::region::{discover, Limits, Region, Seen, SHARED_MIN};
use crate::runtime::{Ctx, Helpers};
use crate::worker::{Done, Job, Key, Worker};

/// Code memory kept before a generation flush.
const CODE_LIMIT: usize = 48 << 20;

/// A translation's address (it has the `tail` calling convention: only translated code and
/// the trampoline call it).
type RegionFn = *const u8;
/// The trampoline: `extern "C"`, calls the translation `f` (tail convention) with (cpu, ctx).
type TrampolineFn = unsafe extern "C" fn(RegionFn, *mut Cpu, *mut Ctx) -> i32;

struct Compiled {
    f: RegionFn,
    page: u32,
    gen: u32,
    max_last: u32,
    /// Owns the instructions the code points at (interpreter fallbacks).
    region: Region,
}

// SAFETY: `f` points at code owned by the `Jit`'s module; it is only called on the thread
// that owns the `Jit` at that moment.
unsafe impl Send for Compiled {}

/// Per cache key: hotness and state (kept small: the dispatcher touches one for every block
/// it interprets). The compiled code, if any, is in `Jit::compiled`.
#[derive(Clone, Copy)]
struct Entry {
    /// Dispatcher visits (while `PENDING`: the index of its heat counter in `Jit::heat`).
    hits: u32,
    /// Times its translation went stale (its page was written).
    stale: u16,
    /// `FAILED` (discovery or compilation failed here: stay interpreted), `PENDING`
    /// (being compiled in the background) and `NO_LEAVES`.
    state: u16,
    /// Index of its translation in `Jit::compiled` (`NONE`: not compiled).
    c: u32,
}

const FAILED: u16 = 1;
const PENDING: u16 = 2;
/// A translation here went stale through a leaf function it took in from another page
/// (`region::Foreign`): the next ones take in none (its code may be rewritten again).
const NO_LEAVES: u16 = 4;
const NONE: u32 = u32::MAX;

impl Default for Entry {
    fn default() -> Self {
        Entry {
            hits: 0,
            stale: 0,
            state: 0,
            c: NONE,
        }
    }
}

/// A direct-mapped front for the key → entry map, so that the dispatcher's lookup usually
/// costs one cache line.
#[derive(Clone, Copy)]
struct Front {
    phys: u32,
    eip: u32,
    /// `u32::MAX`: empty (mode keys are small).
    mode: u32,
    entry: u32,
}

/// One visit to a pending entry in this many adds to its heat (this many).
const HEAT_SAMPLE: u32 = 8;
/// Runs of a cold block interpreted without a dispatch in between (`Jit::watched`).
const COLD_WATCH: u32 = 64;
/// The same for a block whose entry waits for the worker.
const PENDING_WATCH: u32 = 8;
/// The same for an entry that stays interpreted (`FAILED`).
const FAILED_WATCH: u32 = 1024;

const FRONT_SLOTS: usize = 1 << 14;
const FRONT_EMPTY: Front = Front {
    phys: 0,
    eip: 0,
    mode: u32::MAX,
    entry: 0,
};

fn front_slot(key: Key) -> usize {
    let h = (key.0 ^ key.1.rotate_left(7) ^ key.2.rotate_left(25)).wrapping_mul(0x9E37_79B1);
    (h >> (32 - FRONT_SLOTS.trailing_zeros())) as usize
}

/// Counters for `--stats` and the benchmarks.
#[derive(Clone, Debug, Default)]
pub struct JitStats {
    pub regions_compiled: u64,
    pub guest_instrs_compiled: u64,
    pub code_bytes: u64,
    pub compile_time: Duration,
    pub region_runs: u64,
    pub instrs_in_regions: u64,
    pub stale_drops: u64,
    pub flushes: u64,
    /// Runs that ended at an exit that could have chained, but found no translation for its
    /// target in the jump cache.
    pub chain_misses: u64,
    /// Dispatcher calls that interpreted: cold entries (under the threshold), entries waiting
    /// for their background compilation, entries that stay interpreted.
    pub cold_entries: u64,
    pub pending_entries: u64,
    pub failed_entries: u64,
}

/// Translations for one bus type (helpers are monomorphised per bus).
pub struct Jit<B: CpuBus> {
    module: Option<JITModule>,
    /// Compiles on this thread (synchronous mode, and the trampoline).
    compiler: Compiler,
    /// Compiles in the background, if on (`background`).
    worker: Option<Worker>,
    /// Cache flushes so far (a background result from an older epoch is dropped).
    epoch: u64,
    /// Key → index in `slots`.
    entries: HashMap<Key, u32>,
    slots: Vec<Entry>,
    /// Per entry of `slots`: guest instructions in its translation's region (compiled or
    /// being compiled; `region::SHARED_MIN`).
    sizes: Vec<u16>,
    front: Box<[Front]>,
    /// Translations (`Entry::c`), with free indices in `free`.
    compiled: Vec<Option<Compiled>>,
    free: Vec<u32>,
    /// Heat counters of the entries waiting for the worker (shared with their jobs).
    heat: Vec<Option<Arc<AtomicU32>>>,
    heat_free: Vec<u32>,
    /// Visits to pending entries (which of them count: `HEAT_SAMPLE`).
    heat_tick: u32,
    helpers: Helpers,
    /// Block entries seen this many times are compiled.
    pub threshold: u32,
    pub opts: LowerOptions,
    pub limits: Limits,
    pub stats: JitStats,
    code_in_module: usize,
    /// Key of the region being defined (diagnostics: `IRONBOX_JIT_LOG`).
    defining: Option<Key>,
    /// Translation for the next EIP, consulted by translated code when it leaves.
    jc: Box<JumpCache>,
    /// The next free exit-link slot (`JumpCache::links`), handed out to regions as compiled.
    links_next: u32,
    /// Enter translations directly from one another (off for lockstep: it checks each run).
    pub chaining: bool,
    /// The dispatcher interprets with `Cpu::run_watched` (off for lockstep, which runs one
    /// block per dispatch): when `try_region` runs nothing, `watch` is how many more runs of
    /// the block at EIP need no dispatch (`credit` counts them afterwards).
    pub watched: bool,
    pub watch: u32,
    /// The entry `watch` is for (`credit`).
    watching: Option<usize>,
    /// The cache was flushed since the last dispatch: blocks' watch counts are reset.
    unwatch_all: bool,
    /// Where the last run stopped because its budget ran out (see `resume_at`).
    resume: Option<u32>,
    trampoline: Option<TrampolineFn>,
    /// The context translated code runs with (points at `tlb` and `jc`).
    ctx: Box<Ctx>,
    /// Register-preserving entries to the cold-path helpers (`None`: call them directly).
    _thunks: Option<crate::thunks::Thunks>,
    _stubs: Option<crate::thunks::Stubs>,
    _bus: PhantomData<fn(&mut B)>,
}

fn new_module() -> JITModule {
    let mut b = JITBuilder::with_isa(host_isa(), default_libcall_names());
    // Code back to back in one mapping per generation (`codemem`), where the host keeps
    // instruction fetch coherent with stores; twice the generation's limit covers alignment.
    // (`IRONBOX_JIT_NOARENA=1`: Cranelift's own provider instead, a mapping per translation,
    // to compare.)
    #[cfg(all(unix, target_arch = "x86_64"))]
    if std::env::var_os("IRONBOX_JIT_NOARENA").is_none() {
        match crate::codemem::CodeArena::new(2 * CODE_LIMIT) {
            Ok(a) => {
                b.memory_provider(Box::new(a));
            }
            Err(e) => tracing::warn!("jit: no code arena ({e}); code on pages of its own"),
        }
    }
    JITModule::new(b)
}

impl<B: CpuBus> Jit<B> {
    pub fn new(threshold: u32) -> Jit<B> {
        let mut jc = JumpCache::new();
        let ctx = Box::new(Ctx::new(&mut *jc));
        let mut helpers = Helpers::for_bus::<B>();
        // (`IRONBOX_JIT_THUNKS=0`: call the cold-path helpers directly, to compare.)
        let want = std::env::var("IRONBOX_JIT_THUNKS").map_or(true, |v| v != "0");
        let thunks = match want
            .then(|| crate::thunks::Thunks::install(&mut helpers))
            .transpose()
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(
                    "jit: no register-preserving thunks ({e}); calling helpers directly"
                );
                None
            }
        };
        let stubs = match crate::thunks::Stubs::install(&mut helpers) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("jit: no shared exit functions ({e}); regions carry their own");
                None
            }
        };
        Jit {
            module: Some(new_module()),
            compiler: Compiler::new(),
            worker: None,
            epoch: 0,
            entries: HashMap::default(),
            slots: Vec::new(),
            sizes: Vec::new(),
            front: vec![FRONT_EMPTY; FRONT_SLOTS].into_boxed_slice(),
            compiled: Vec::new(),
            free: Vec::new(),
            heat: Vec::new(),
            heat_free: Vec::new(),
            heat_tick: 0,
            helpers,
            threshold,
            opts: LowerOptions::default(),
            limits: Limits::default(),
            stats: JitStats::default(),
            code_in_module: 0,
            defining: None,
            jc,
            links_next: 0,
            chaining: true,
            watched: false,
            watch: 0,
            watching: None,
            unwatch_all: false,
            resume: None,
            trampoline: None,
            ctx,
            _thunks: thunks,
            _stubs: stubs,
            _bus: PhantomData,
        }
    }

    /// Drop every translation and free their code.
    pub fn flush(&mut self) {
        self.entries.clear();
        self.slots.clear();
        self.sizes.clear();
        self.front.fill(FRONT_EMPTY);
        self.compiled.clear();
        self.free.clear();
        self.heat.clear();
        self.heat_free.clear();
        if let Some(m) = self.module.take() {
            // SAFETY: no translation runs now (we are in the dispatcher) and every pointer
            // into this module went with `entries`.
            unsafe { m.free_memory() };
        }
        self.module = Some(new_module());
        self.epoch += 1;
        self.code_in_module = 0;
        self.trampoline = None;
        self.jc.clear();
        self.links_next = 0;
        self.jc.links_handed_out = 0;
        self.unwatch_all = true;
        self.stats.flushes += 1;
    }

    /// The last run stopped at `eip` because its budget ran out, not at a branch: the next
    /// one starts there without counting towards a translation (the interpreter runs to the
    /// block's end). Run slices end anywhere inside hot loops; each such EIP would otherwise
    /// become hot in turn, and be compiled as a region of its own.
    pub fn resume_at(&mut self, eip: u32) {
        self.resume = Some(eip);
    }

    /// Run the translation at CS:EIP if there is one (compiling it once it is hot).
    /// `None`: nothing ran, interpret. The caller checked `Cpu::needs_step` first.
    pub fn try_region(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        budget: u64,
    ) -> Option<(u64, Option<RunExit>)> {
        self.watch = 0;
        self.watching = None;
        if self.worker.as_ref().is_some_and(|w| w.ready()) {
            self.collect(cpu);
        }
        if self.unwatch_all {
            self.unwatch_all = false;
            cpu.unwatch_all();
        }
        let eip = cpu.s.eip;
        let resumed = self.resume.take() == Some(eip);
        let phys = cpu.code_phys(bus, eip)?;
        // The code TLB learns every page the dispatcher runs code on (what translations that
        // took in code of other pages check: see `region::Foreign`).
        self.jc.sync(cpu, bus);
        let lin = cpu.s.seg[SegReg::Cs as usize].base.wrapping_add(eip);
        self.jc.note_page(lin, phys, cpu.s.cpl == 3);
        let key = (phys, eip, mode_key(cpu));
        let mut ei = self.entry_index(key);
        let mut e = self.slots[ei];
        if e.c != NONE {
            let c = self.compiled[e.c as usize]
                .as_ref()
                .expect("live translation");
            let leaf_stale = c
                .region
                .foreign
                .iter()
                .any(|f| cpu.code_page_gen(f.phys >> 12) != Some(f.gen));
            if cpu.code_page_gen(c.page) != Some(c.gen) || leaf_stale {
                self.drop_compiled(e.c);
                let e = &mut self.slots[ei];
                if leaf_stale {
                    e.state |= NO_LEAVES;
                }
                e.c = NONE;
                e.hits = self.threshold / 2;
                e.stale = e.stale.saturating_add(1);
                // Code that keeps rewriting itself stays interpreted.
                if e.stale > 8 {
                    e.state |= FAILED;
                }
                self.stats.stale_drops += 1;
            }
            e = self.slots[ei];
        }
        if e.c == NONE {
            if e.state & (FAILED | PENDING) != 0 {
                if e.state & FAILED != 0 {
                    self.stats.failed_entries += 1;
                    if self.watched {
                        self.watch = FAILED_WATCH;
                        self.watching = Some(ei);
                    }
                } else {
                    if self.watched {
                        // The dispatcher sees the entry again after some runs (or once
                        // compiled): `credit` adds them to its heat.
                        self.watch = PENDING_WATCH;
                        self.watching = Some(ei);
                    }
                    self.stats.pending_entries += 1;
                    // One visit in HEAT_SAMPLE counts (for HEAT_SAMPLE): the counter's line is
                    // the worker's too, and most visits would miss it.
                    self.heat_tick = self.heat_tick.wrapping_add(1);
                    if self.heat_tick % HEAT_SAMPLE == 0 {
                        if let Some(h) = &self.heat[e.hits as usize] {
                            // (Only this thread writes it: no locked add, which stalls on the
                            // line the worker reads.)
                            let v = h.load(Ordering::Relaxed).wrapping_add(HEAT_SAMPLE);
                            h.store(v, Ordering::Relaxed);
                        }
                    }
                }
                return None;
            }
            // Not entries that anything jumps to: where the last run's budget ran out, and
            // the instructions the interpreter steps one by one when a block does not fit
            // what is left of the budget (the end of every run slice, anywhere in a loop).
            // (With one-instruction blocks every instruction is a block: nothing to skip.)
            let blocks = self.limits.block_instrs as u64;
            if blocks > 1 && (resumed || budget < blocks) {
                return None;
            }
            let hits = e.hits + 1;
            self.slots[ei].hits = hits;
            if hits < self.threshold {
                self.stats.cold_entries += 1;
                if self.watched {
                    // The next runs up to the threshold need no dispatch (`credit` counts
                    // them).
                    self.watch = (self.threshold - hits - 1).min(COLD_WATCH);
                    self.watching = Some(ei);
                }
                return None;
            }
            let c = self.compile(cpu, bus, key)?;
            // (Compiling may flush the cache, so look the entry up again.)
            ei = self.entry_index(key);
            self.set_compiled(ei, c);
            cpu.unwatch(phys, eip);
        }
        let c = self.compiled[self.slots[ei].c as usize]
            .as_ref()
            .expect("compiled above");
        if c.max_last > cpu.s.seg[SegReg::Cs as usize].limit {
            return None; // the limit check is the interpreter's business
        }
        let entry_flags = cpu.s.eflags & (flags::IF | flags::TF | flags::RF);
        self.ctx.host_tlb.sync(cpu, bus);
        let (f, max_last) = (c.f, c.max_last);
        let trampoline = match self.trampoline {
            Some(t) => t,
            None => {
                let t = self.build_trampoline()?;
                self.trampoline = Some(t);
                t
            }
        };
        if self.chaining {
            self.jc
                .insert(lin, key.2, max_last, phys, cpu.s.cpl == 3, f as u64);
        }
        self.ctx.jc = if self.chaining {
            &mut *self.jc
        } else {
            std::ptr::null_mut()
        };
        let ctx = &mut *self.ctx;
        ctx.begin(
            cpu,
            bus as *mut B as *mut (),
            budget.min(i64::MAX as u64) as i64,
            entry_flags,
        );
        // SAFETY: see above; the trampoline calls `f` with the tail convention it has.
        ctx.chain_miss = 0;
        let code = unsafe { trampoline(f, cpu, ctx) };
        self.stats.chain_misses += (ctx.chain_miss != 0) as u64;
        ctx.settle(cpu);
        let n = budget - ctx.budget as u64;
        let exit = match code {
            EXIT_IO => Some(RunExit::Io),
            EXIT_SHUTDOWN => Some(RunExit::Shutdown),
            _ => None,
        };
        if n == 0 && exit.is_none() {
            return None; // the first block did not fit in the budget
        }
        self.stats.region_runs += 1;
        self.stats.instrs_in_regions += n;
        Some((n, exit))
    }

    /// What `Cpu::run_watched` should stop for: results from the worker.
    pub fn news(&self) -> (&AtomicUsize, usize) {
        static NONE: AtomicUsize = AtomicUsize::new(0);
        match &self.worker {
            Some(w) => w.news(),
            None => (&NONE, 0),
        }
    }

    /// After `Cpu::run_watched`: the block the last `try_region` left to the interpreter
    /// (with `watch`) ran `runs` times without a dispatch since its watch was set before.
    pub fn credit(&mut self, runs: u32) {
        let Some(ei) = self.watching.take() else {
            return;
        };
        let e = &mut self.slots[ei];
        if e.c != NONE {
            return;
        }
        if e.state & (FAILED | PENDING) == 0 {
            e.hits = e.hits.saturating_add(runs);
            self.stats.cold_entries += runs as u64;
        } else if e.state & FAILED != 0 {
            self.stats.failed_entries += runs as u64;
        } else if e.state & PENDING != 0 {
            self.stats.pending_entries += runs as u64;
            if let Some(h) = &self.heat[e.hits as usize] {
                let v = h.load(Ordering::Relaxed).wrapping_add(runs);
                h.store(v, Ordering::Relaxed);
            }
        }
    }

    /// Index of the entry for `key` in `slots` (made if new).
    #[inline]
    fn entry_index(&mut self, key: Key) -> usize {
        let fs = front_slot(key);
        let f = self.front[fs];
        if (f.phys, f.eip, f.mode) == key {
            return f.entry as usize;
        }
        let n = self.slots.len() as u32;
        let i = *self.entries.entry(key).or_insert(n);
        if i == n {
            self.slots.push(Entry::default());
            self.sizes.push(0);
        }
        self.front[fs] = Front {
            phys: key.0,
            eip: key.1,
            mode: key.2,
            entry: i,
        };
        i as usize
    }

    fn set_compiled(&mut self, ei: usize, c: Compiled) {
        let i = match self.free.pop() {
            Some(i) => {
                self.compiled[i as usize] = Some(c);
                i
            }
            None => {
                self.compiled.push(Some(c));
                self.compiled.len() as u32 - 1
            }
        };
        self.slots[ei].c = i;
    }

    fn drop_compiled(&mut self, i: u32) {
        self.compiled[i as usize] = None;
        self.free.push(i);
    }

    fn mark(&mut self, key: Key, state: u16, on: bool) {
        let ei = self.entry_index(key);
        let e = &mut self.slots[ei];
        if on {
            e.state |= state;
        } else {
            e.state &= !state;
        }
    }

    /// Compile the region at `key` now, or queue it for the worker (then `None`: it is
    /// installed by `collect` when done). A failure marks the entry to stay interpreted.
    fn compile(&mut self, cpu: &mut Cpu, bus: &mut B, key: Key) -> Option<Compiled> {
        let (phys, eip, mode) = key;
        // Blocks never seen yet stay out of the region (see `discover`), except with
        // one-instruction blocks (instruction tests), where nothing has run before. So do
        // blocks where another translation of `SHARED_MIN` or more instructions starts.
        let prune = self.limits.block_instrs > 1;
        let ei = self.entry_index(key);
        let limits = Limits {
            leaves: self.slots[ei].state & NO_LEAVES == 0,
            ..self.limits
        };
        let seen = |s: u32, p: u32| {
            let Some(&i) = self.entries.get(&(p, s, mode)) else {
                return if prune { Seen::Never } else { Seen::Ran };
            };
            let e = self.slots[i as usize];
            let other = e.c != NONE || e.state & PENDING != 0;
            if other && self.sizes[i as usize] as usize >= SHARED_MIN {
                Seen::Entry
            } else if !prune || other || e.hits > 0 || e.state != 0 {
                Seen::Ran
            } else {
                Seen::Never
            }
        };
        let found = discover(cpu, bus, eip, phys, limits, &seen).and_then(|mut r| {
            // The pages' generations now: the code is stale if one changes.
            for f in &mut r.foreign {
                f.gen = cpu.code_page_gen(f.phys >> 12)?;
            }
            cpu.code_page_gen(phys >> 12).map(|g| (r, g))
        });
        let Some((region, gen)) = found else {
            self.mark(key, FAILED, true);
            return None;
        };
        let ei = self.entry_index(key);
        self.sizes[ei] = region.instr_count().min(u16::MAX as usize) as u16;
        // Exit-link slots: at most a taken and a not-taken exit per block, and return sites.
        let want = 3 * region.blocks.len() as u32 + 4;
        let links = if (self.links_next + want) as usize <= jumpcache::LINKS {
            self.links_next += want;
            self.jc.links_handed_out = self.links_next as usize;
            Links {
                jc: &*self.jc as *const JumpCache as u64,
                table: self.jc.links.as_ptr() as u64,
                first: self.links_next - want,
                count: want,
            }
        } else {
            Links::default()
        };
        let params = LowerParams {
            helpers: self.helpers,
            stack32: cpu.s.stack32(),
            user: cpu.s.cpl == 3,
            mode,
            opts: self.opts,
            links,
        };
        if let Some(w) = &mut self.worker {
            let heat = Arc::new(AtomicU32::new(0));
            let job = Job {
                key,
                epoch: self.epoch,
                region,
                params,
                gen,
                heat: heat.clone(),
                seen: 0,
            };
            if w.submit(job) {
                let h = match self.heat_free.pop() {
                    Some(h) => {
                        self.heat[h as usize] = Some(heat);
                        h
                    }
                    None => {
                        self.heat.push(Some(heat));
                        self.heat.len() as u32 - 1
                    }
                };
                let ei = self.entry_index(key);
                let e = &mut self.slots[ei];
                e.state |= PENDING;
                e.hits = h;
                return None;
            }
            // The worker is gone: compile here from now on (what it still had queued too).
            self.worker = None;
            let t = self.threshold;
            for e in self.slots.iter_mut().filter(|e| e.state & PENDING != 0) {
                e.state &= !PENDING;
                e.hits = t;
            }
            self.heat.clear();
            self.heat_free.clear();
            return None;
        }
        let t0 = Instant::now();
        let dump = std::env::var_os("IRONBOX_JIT_DUMP").is_some();
        let code = self.compiler.region(&region, &params, dump);
        self.stats.compile_time += t0.elapsed();
        self.install(key, region, gen, code)
    }

    /// Put compiled code in the module (flushing the cache first if it is full).
    fn install(
        &mut self,
        key: Key,
        region: Region,
        gen: u32,
        code: Result<Code, String>,
    ) -> Option<Compiled> {
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("jit: region at {:#x} did not compile: {e}", key.1);
                // (With the IR verifier on, say so loudly: a lowering bug is being debugged.)
                if std::env::var_os("IRONBOX_JIT_VERIFY").is_some() {
                    eprintln!("jit: region at {:#x} did not compile: {e}", key.1);
                }
                self.mark(key, FAILED, true);
                return None;
            }
        };
        if self.code_in_module > CODE_LIMIT {
            self.flush();
        }
        self.defining = Some(key);
        if std::env::var_os("IRONBOX_JIT_LOG").is_some() {
            for g in &region.blocks {
                for i in &g.instrs {
                    eprintln!("  {:08x}  {}", i.ip32(), crate::disasm(i));
                }
            }
        }
        let Some(f) = self.define(&code) else {
            self.mark(key, FAILED, true);
            return None;
        };
        self.code_in_module += code.bytes.len();
        self.stats.regions_compiled += 1;
        self.stats.guest_instrs_compiled += region.instr_count() as u64;
        self.stats.code_bytes += code.bytes.len() as u64;
        Some(Compiled {
            f,
            page: key.0 >> 12,
            gen,
            max_last: region.max_last,
            region,
        })
    }

    /// Install finished background compilations.
    fn collect(&mut self, cpu: &mut Cpu) {
        while let Some(d) = self.worker.as_mut().and_then(Worker::collect) {
            let Done {
                key,
                epoch,
                region,
                gen,
                code,
                time,
            } = d;
            self.stats.compile_time += time;
            if epoch != self.epoch {
                continue; // made before a flush: its entry is gone
            }
            let c = self.install(key, region, gen, code);
            // (Installing may flush the cache: look the entry up afterwards.)
            let ei = self.entry_index(key);
            let e = self.slots[ei];
            if e.state & PENDING != 0 {
                self.heat[e.hits as usize] = None;
                self.heat_free.push(e.hits);
                let e = &mut self.slots[ei];
                e.state &= !PENDING;
                e.hits = self.threshold;
            }
            if let Some(c) = c {
                if self.slots[ei].c != NONE {
                    let old = self.slots[ei].c;
                    self.drop_compiled(old);
                }
                self.set_compiled(ei, c);
                cpu.unwatch(key.0, key.1);
            }
        }
    }

    /// Compile in the background from now on (if a thread can be started).
    pub fn background(&mut self) {
        match Worker::spawn() {
            Ok(w) => self.worker = Some(w),
            Err(e) => tracing::warn!("jit: no background compiler ({e}); compiling inline"),
        }
    }

    /// Define and finalize `code` in the module: its address.
    fn define(&mut self, code: &Code) -> Option<RegionFn> {
        let module = self.module.as_mut().expect("a module is always there");
        let sig = lower::region_signature(CallConv::Tail);
        let id = module.declare_anonymous_function(&sig).ok()?;
        if std::env::var_os("IRONBOX_JIT_LOG").is_some() {
            eprintln!("jit: .Lfn{:x} = {:x?}", id.as_u32(), self.defining);
            if let Some(d) = std::env::var_os("IRONBOX_JIT_BYTES") {
                let _ = std::fs::write(
                    format!("{}/{:x}.bin", d.to_string_lossy(), id.as_u32()),
                    &code.bytes,
                );
            }
        }
        module
            .define_function_bytes(id, code.align, &code.bytes, &[])
            .ok()?;
        module.finalize_definitions().ok()?;
        Some(module.get_finalized_function(id))
    }

    /// The `extern "C"` entry into translated code (one per module).
    fn build_trampoline(&mut self) -> Option<TrampolineFn> {
        let code = self.compiler.trampoline().ok()?;
        let ptr = self.define(&code)?;
        // SAFETY: compiled by `Compiler::trampoline` with this signature.
        Some(unsafe { std::mem::transmute::<*const u8, TrampolineFn>(ptr) })
    }

    /// The region compiled at CS:EIP, if any (for the lockstep report).
    pub(crate) fn region_at(&self, phys: u32, eip: u32, mode: u32) -> Option<&Region> {
        let e = self.slots[*self.entries.get(&(phys, eip, mode))? as usize];
        self.compiled.get(e.c as usize)?.as_ref().map(|c| &c.region)
    }
}

impl<B: CpuBus> Drop for Jit<B> {
    fn drop(&mut self) {
        // Diagnostics: `IRONBOX_JIT_LOG=1` also names each translation (`.LfnN` in perf's map)
        // with its key and guest code as it is installed; with `IRONBOX_JIT_BYTES=DIR` too,
        // each one's code goes to `DIR/N.bin` (for `objdump -b binary -mi386:x86-64 -D`).
        if std::env::var_os("IRONBOX_JIT_LOG").is_some() {
            let s = &self.stats;
            eprintln!(
                "jit: dispatcher interpreted {} cold, {} pending, {} failed entries; {} keys",
                s.cold_entries,
                s.pending_entries,
                s.failed_entries,
                self.entries.len()
            );
            eprintln!(
                "jit: jump cache dropped {} times, its code TLB {} times",
                self.jc.clears.0, self.jc.clears.1
            );
        }
    }
}
