//! The execution engines behind `--engine`: the interpreter alone, the JIT (interpreter for
//! cold code, translations for hot code), and lockstep (the JIT, with every translated run
//! re-executed by a shadow interpreter from the same state and compared).
//!
//! `Engine::run` has `Cpu::run`'s contract: at most `budget` instructions, the same exits.

use std::fmt::Write as _;

use ironbox_cpu::translator::mode_key;
use ironbox_cpu::{Cpu, CpuBus, RunExit};

use crate::cache::{Jit, JitStats};
use crate::lockstep::{Recorder, Replay};

/// Which engine runs guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Interp,
    Jit,
    Lockstep,
}

impl EngineKind {
    pub fn parse(s: &str) -> Option<EngineKind> {
        match s {
            "interp" | "interpreter" => Some(EngineKind::Interp),
            "jit" => Some(EngineKind::Jit),
            "lockstep" => Some(EngineKind::Lockstep),
            _ => None,
        }
    }
}

/// Default hotness threshold: a block entry seen this often is compiled. Cranelift costs
/// tens of microseconds per guest instruction here, so compiling lukewarm code slows boots
/// down (measured on the Linux benchmark: 400 → 3000 and 48 → 16 blocks per region cut its
/// compile time from 54 s to 14 s and its run time by a third).
pub const DEFAULT_THRESHOLD: u32 = 3000;

/// The threshold when compiling in the background: compile time is then off the guest's
/// path, and the worker takes the hottest job first (Linux benchmark, 8-block regions: 3000
/// -> 1500 interpreted ~20% fewer instructions and cut the main thread's CPU time by ~1 s,
/// for ~2.4 s more on the worker; once regions left out blocks that never ran, 1500 -> 800
/// took 3-4% off the Linux benchmarks; 300-800 measured alike; once stack accesses were
/// checked per block, 800 -> 400 took ~3% off (median of 6 runs; 200 and 1600 were slower)).
pub const BACKGROUND_THRESHOLD: u32 = 400;

enum Inner<B: CpuBus> {
    Interp,
    Jit(Box<Jit<B>>),
    Lockstep(Box<Lockstep<B>>),
}

struct Lockstep<B: CpuBus> {
    jit: Jit<Recorder<B>>,
    shadow: Box<Cpu>,
    checked: u64,
}

/// An execution engine for one bus type.
pub struct Engine<B: CpuBus> {
    inner: Inner<B>,
    /// Set when lockstep found a divergence (the run returned `RunExit::Diverged`).
    pub divergence: Option<String>,
}

impl<B: CpuBus> Engine<B> {
    /// The engine for a machine, with the threshold from `IRONBOX_JIT_THRESHOLD`.
    /// `background`: the JIT compiles on a worker thread (which code runs translated then
    /// depends on the host's timing; guest-visible results never do). `IRONBOX_JIT_SYNC=1`
    /// overrides it (to measure what background compilation saves).
    pub fn new(kind: EngineKind, cpu: &Cpu, background: bool) -> Engine<B> {
        let background = background && std::env::var_os("IRONBOX_JIT_SYNC").is_none();
        let default = if background && kind == EngineKind::Jit {
            BACKGROUND_THRESHOLD
        } else {
            DEFAULT_THRESHOLD
        };
        let mut e = Self::with_threshold(kind, cpu, threshold_from_env(default));
        if background {
            e.compile_in_background();
        }
        e
    }

    /// Compile on a worker thread from now on (the JIT engine; lockstep stays synchronous).
    pub fn compile_in_background(&mut self) {
        if let Inner::Jit(j) = &mut self.inner {
            j.background();
        }
    }

    pub fn with_threshold(kind: EngineKind, cpu: &Cpu, threshold: u32) -> Engine<B> {
        let inner = match kind {
            EngineKind::Interp => Inner::Interp,
            EngineKind::Jit => Inner::Jit(Box::new({
                let mut j = Jit::new(threshold);
                // (`IRONBOX_JIT_UNWATCHED=1`: one interpreted block per dispatch, to compare.)
                j.watched = std::env::var_os("IRONBOX_JIT_UNWATCHED").is_none();
                j
            })),
            EngineKind::Lockstep => Inner::Lockstep(Box::new(Lockstep {
                jit: {
                    // Each translated run is checked alone: no chaining between them.
                    let mut j = Jit::new(threshold);
                    j.chaining = false;
                    j.opts.no_stack_groups = true;
                    j
                },
                shadow: Box::new(Cpu::new(cpu.s.model)),
                checked: 0,
            })),
        };
        Engine {
            inner,
            divergence: None,
        }
    }

    pub fn kind(&self) -> EngineKind {
        match self.inner {
            Inner::Interp => EngineKind::Interp,
            Inner::Jit(_) => EngineKind::Jit,
            Inner::Lockstep(_) => EngineKind::Lockstep,
        }
    }

    pub fn stats(&self) -> Option<JitStats> {
        match &self.inner {
            Inner::Interp => None,
            Inner::Jit(j) => Some(j.stats.clone()),
            Inner::Lockstep(l) => Some(l.jit.stats.clone()),
        }
    }

    /// Regions re-executed and compared by lockstep so far.
    pub fn lockstep_checked(&self) -> u64 {
        match &self.inner {
            Inner::Lockstep(l) => l.checked,
            _ => 0,
        }
    }

    /// Translate one instruction per region (instruction-level tests: each translation then
    /// runs alone, within a budget of one).
    pub fn single_instruction_regions(&mut self) {
        let l = crate::region::Limits {
            block_instrs: 1,
            blocks: 1,
            leaves: false,
        };
        match &mut self.inner {
            Inner::Interp => {}
            Inner::Jit(j) => j.limits = l,
            Inner::Lockstep(s) => s.jit.limits = l,
        }
    }

    /// Drop all translations (e.g. after a machine reset).
    pub fn flush(&mut self) {
        match &mut self.inner {
            Inner::Interp => {}
            Inner::Jit(j) => j.flush(),
            Inner::Lockstep(l) => l.jit.flush(),
        }
    }

    /// Run up to `budget` instructions, as `Cpu::run` does.
    pub fn run(&mut self, cpu: &mut Cpu, bus: &mut B, budget: u64) -> (RunExit, u64) {
        let mut done = 0u64;
        while done < budget {
            let left = budget - done;
            // The end of a run slice: fewer instructions left than a block may hold, which
            // most translations and watched blocks do not fit in, and every look at one would
            // cost a dispatch for an instruction or two. The interpreter runs them out.
            if let Inner::Jit(j) = &self.inner {
                if left < j.limits.block_instrs as u64 {
                    let (e, n) = cpu.run(bus, left);
                    done += n;
                    if e != RunExit::Budget {
                        return (e, done);
                    }
                    continue;
                }
            }
            let ran = if cpu.needs_step(bus) {
                None
            } else {
                match &mut self.inner {
                    Inner::Interp => return cpu.run(bus, budget).pipe(|(e, n)| (e, n + done)),
                    Inner::Jit(j) => j.try_region(cpu, bus, left),
                    Inner::Lockstep(l) => match l.run_checked(cpu, bus, left) {
                        Ok(r) => r,
                        Err(report) => {
                            self.divergence = Some(report);
                            return (RunExit::Diverged, done);
                        }
                    },
                }
            };
            let (n, exit) = match (ran, &mut self.inner) {
                (Some(r), _) => r,
                (None, Inner::Jit(j)) if j.watched => {
                    let mut w = j.watch;
                    let r = cpu.run_watched(bus, left, &mut w, j.news());
                    j.credit(w);
                    r
                }
                (None, _) => cpu.run_once(bus, left),
            };
            done += n;
            if let Some(e) = exit {
                return (e, done);
            }
        }
        // The budget ran out wherever the interpreter was, often inside a block: the next
        // run starts there, at an entry no translation should be made for.
        match &mut self.inner {
            Inner::Interp => {}
            Inner::Jit(j) => j.resume_at(cpu.s.eip),
            Inner::Lockstep(l) => l.jit.resume_at(cpu.s.eip),
        }
        (RunExit::Budget, done)
    }
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

fn threshold_from_env(default: u32) -> u32 {
    std::env::var("IRONBOX_JIT_THRESHOLD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

impl<B: CpuBus> Lockstep<B> {
    /// Run one translated region on the real CPU, then the same number of instructions on
    /// the shadow interpreter from the state before it, and compare.
    fn run_checked(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        budget: u64,
    ) -> Result<Option<(u64, Option<RunExit>)>, String> {
        self.shadow.copy_state_from(cpu);
        let (phys, eip, mode) = (cpu.code_phys(bus, cpu.s.eip), cpu.s.eip, mode_key(cpu));
        let mut rec = Recorder::new(bus);
        let Some((n, exit)) = self.jit.try_region(cpu, &mut rec, budget) else {
            return Ok(None);
        };
        let log = rec.into_log();
        let mut rep = Replay::new(bus, &log);
        let mut done = 0;
        while done < n {
            let (k, e) = self.shadow.run_once(&mut rep, n - done);
            done += k;
            if e.is_some() && e != Some(RunExit::Io) {
                break;
            }
        }
        let problems = rep.finish();
        self.checked += 1;
        if problems.is_empty()
            && done == n
            && self.shadow.s == cpu.s
            && self.shadow.instret == cpu.instret
        {
            return Ok(Some((n, exit)));
        }
        let mut r = String::new();
        let _ = writeln!(
            r,
            "lockstep: translated code and the interpreter diverged after the region at EIP {eip:#010x} (phys {:#010x}, mode {mode:#x}): {n} instructions (interpreter ran {done})",
            phys.unwrap_or(0)
        );
        for p in &problems {
            let _ = writeln!(r, "  bus: {p}");
        }
        let _ = write!(r, "{}", state_diff(&self.shadow, cpu));
        if let Some(region) = phys.and_then(|p| self.jit.region_at(p, eip, mode)) {
            let _ = writeln!(r, "region:");
            for g in &region.blocks {
                for i in &g.instrs {
                    let _ = writeln!(r, "  {:08x}  {}", i.ip32(), crate::disasm(i));
                }
            }
        }
        Err(r)
    }
}

/// The fields where the interpreter (`i`) and translated code (`j`) disagree.
fn state_diff(i: &Cpu, j: &Cpu) -> String {
    let mut r = String::new();
    let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
    for k in 0..8 {
        if i.s.gpr[k] != j.s.gpr[k] {
            let _ = writeln!(
                r,
                "  {}: interp {:#010x} jit {:#010x}",
                names[k], i.s.gpr[k], j.s.gpr[k]
            );
        }
    }
    if i.s.eip != j.s.eip {
        let _ = writeln!(r, "  eip: interp {:#010x} jit {:#010x}", i.s.eip, j.s.eip);
    }
    if i.s.eflags != j.s.eflags {
        let _ = writeln!(
            r,
            "  eflags: interp {:#010x} jit {:#010x}",
            i.s.eflags, j.s.eflags
        );
    }
    if i.instret != j.instret {
        let _ = writeln!(r, "  retired: interp {} jit {}", i.instret, j.instret);
    }
    if i.s != j.s && r.is_empty() {
        let _ = writeln!(
            r,
            "  other state differs:\n  interp {:?}\n  jit    {:?}",
            i.s, j.s
        );
    }
    r
}
