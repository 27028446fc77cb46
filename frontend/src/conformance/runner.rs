//! Runs MOO tests on the reference interpreter (`ironbox_cpu`), the JIT or both in lockstep
//! (`--engine`), and compares the outcome.
//!
//! What the captures look like (checked on the files in `../shared/conformance/`):
//! - 8086 suite (CPU id `8086`): no HLT follows the instruction (the bytes after it are the NOPs
//!   of the prefetch queue) and there are no `EXCP` chunks. The final state is taken right after
//!   the instruction; an exception or `INT n` ends with CS:IP at the IVT handler, which has not
//!   run (e.g. `div` by zero: CS:IP = IVT[0], the pushed IP is the next instruction). So we step
//!   exactly one instruction, repeating only while a REP string instruction is still at its
//!   start address. The exception is inferred from the expected CS:IP matching an IVT entry
//!   given in the initial RAM; its pushed FLAGS are at SS:SP+4.
//! - 80286 suite (CPU id `C286`): the instruction bytes end with a HLT and the final IP is past
//!   it. Every interrupt (exception or `INT n`) has an `EXCP` chunk; its IVT entry points at a
//!   HLT, so the final CS:IP is the handler + 1 and the handler's HLT has run. We step until
//!   `halted`; not halting within [`STEP_CAP`] steps fails the test.
//!
//! The runner uses its own bus (flat RAM like `FlatBus`, ports read as all ones) that also
//! records written addresses (to clear them between tests and to catch stray writes) and IVT
//! reads: after a step that read IVT entry v and left CS:IP equal to it, interrupt v was taken.
//! An interrupt whose IVT entry the 286 test does not provide stops the test at once (its
//! handler would be zeroed memory). Memory not listed by a test reads as 0.
//!
//! Engines: every step goes through an `ironbox_jit::Engine` (one per file and model, so the
//! translation cache holds one file's code at most). Under `jit`/`lockstep` it compiles every
//! instruction on first sight into a one-instruction region (threshold 1,
//! `single_instruction_regions`), so the instruction under test runs as translated code; the
//! bytes a test writes (and `clean` zeroes) go through `Cpu::invalidate_phys`, which bumps the
//! code page's generation, so a translation left at the same address by an earlier test is
//! dropped, never reused. Each test records whether its first step (the instruction under test)
//! ran translated. The 8086 model always single-steps through the interpreter
//! (`Cpu::needs_step`), so its tests never run translated code, by design; neither do 286 tests
//! that start with TF set.
//!
//! Compared: the 14 registers (GPRs on 16 bits, IP on the full EIP), FLAGS under the opcode's
//! `flags-mask`, real-mode segment bases (= selector × 16), every RAM byte listed in INIT or
//! FINA (FINA wins), writes to unlisted addresses, and the exception taken. 286 initial FLAGS
//! have bits 12-15 cleared; pushed FLAGS at the exception's stack address are masked too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use ironbox_cpu::state::attr;
use ironbox_cpu::{Cpu, CpuBus, CpuModel, CpuState, RunExit, Segment, StepEvent};
use ironbox_jit::{Engine, EngineKind};

use super::moo::{self, Test, REG_NAMES, R_CS, R_FLAGS, R_IP, R_SP, R_SS};

/// Steps allowed per test before it counts as "never halted".
pub const STEP_CAP: u32 = 5000;

/// Statuses whose tests are run; others (`undefined`, `fpu`, `extension`, …) are skipped.
const RUNNABLE: [&str; 4] = ["normal", "alias", "prefix", "undocumented"];

/// CPU model for a `MOO ` header CPU id.
pub fn model_for(cpu_id: &str) -> Option<CpuModel> {
    match cpu_id.trim() {
        "8086" | "8088" => Some(CpuModel::I8086),
        "C286" | "286" | "80286" => Some(CpuModel::I80286),
        _ => None,
    }
}

/// `metadata.json` facts about one opcode (or one ModRM reg value of a group opcode).
#[derive(Clone, Debug, Default)]
pub struct OpInfo {
    pub status: Option<String>,
    pub flags_mask: Option<u16>,
}

impl OpInfo {
    fn runnable(&self) -> bool {
        self.status.as_deref().is_none_or(|s| RUNNABLE.contains(&s))
    }
}

#[derive(Clone, Debug, Default)]
struct OpMeta {
    info: OpInfo,
    reg: Option<[OpInfo; 8]>,
}

/// One suite folder: its `metadata.json` and `revocation_list.txt`.
#[derive(Default)]
pub struct Suite {
    ops: HashMap<String, OpMeta>,
    revoked: HashSet<String>,
    /// Problems found while loading (printed once by the caller).
    pub warnings: Vec<String>,
}

impl Suite {
    pub fn load(dir: &Path) -> Suite {
        let mut s = Suite::default();
        let meta = dir.join("metadata.json");
        match std::fs::read_to_string(&meta) {
            Ok(text) => match parse_metadata(&text) {
                Ok(ops) => s.ops = ops,
                Err(e) => s.warnings.push(format!(
                    "{}: {e}; running without flag masks",
                    meta.display()
                )),
            },
            Err(e) => s.warnings.push(format!(
                "{}: {e}; running all opcodes without flag masks",
                meta.display()
            )),
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("revocation_list.txt")) {
            s.revoked = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_ascii_lowercase)
                .collect();
        }
        s
    }
}

fn parse_metadata(text: &str) -> anyhow::Result<HashMap<String, OpMeta>> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let ops = v
        .get("opcodes")
        .and_then(|o| o.as_object())
        .ok_or_else(|| anyhow::anyhow!("no \"opcodes\" object"))?;
    let info = |v: &serde_json::Value| OpInfo {
        status: v.get("status").and_then(|s| s.as_str()).map(str::to_string),
        flags_mask: v
            .get("flags-mask")
            .and_then(|m| m.as_u64())
            .map(|m| m as u16),
    };
    let mut out = HashMap::new();
    for (k, v) in ops {
        let reg = v.get("reg").and_then(|r| r.as_object()).map(|r| {
            let mut regs: [OpInfo; 8] = Default::default();
            for (d, e) in r {
                if let Some(i) = d.parse::<usize>().ok().filter(|&i| i < 8) {
                    regs[i] = info(e);
                }
            }
            regs
        });
        out.insert(k.to_ascii_uppercase(), OpMeta { info: info(v), reg });
    }
    Ok(out)
}

/// The metadata entry of a file, from its name: `XX.MOO.gz`, `XX.R.MOO.gz`, `0FXX…`.
struct FileRule {
    op: Option<OpMeta>,
    reg: Option<usize>,
}

impl FileRule {
    fn new(suite: &Suite, file_name: &str) -> FileRule {
        let mut parts = file_name.split('.');
        let key = parts.next().unwrap_or("").to_ascii_uppercase();
        let reg = parts
            .next()
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|&r| r < 8);
        FileRule {
            op: suite.ops.get(&key).cloned(),
            reg,
        }
    }

    /// Status and flag mask for one test (group opcodes without a reg digit in the file name
    /// are resolved from the test's ModRM byte).
    fn for_test(&self, bytes: &[u8]) -> OpInfo {
        let Some(op) = &self.op else {
            return OpInfo::default();
        };
        match (&op.reg, self.reg.or_else(|| modrm_reg(bytes))) {
            (Some(regs), Some(r)) => regs[r].clone(),
            _ => op.info.clone(),
        }
    }
}

fn is_prefix(b: u8) -> bool {
    matches!(b, 0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF1 | 0xF2 | 0xF3)
}

/// The reg field of the ModRM byte following the opcode (after prefixes; 0F takes two bytes).
fn modrm_reg(bytes: &[u8]) -> Option<usize> {
    let i = bytes.iter().position(|&b| !is_prefix(b))?;
    let i = if bytes[i] == 0x0F { i + 2 } else { i + 1 };
    bytes.get(i).map(|m| (*m as usize >> 3) & 7)
}

/// A REP/REPNE-prefixed string instruction (8086 decoding: 6C-6F are not string ops there).
fn is_rep_string(bytes: &[u8]) -> bool {
    let mut rep = false;
    for &b in bytes {
        match b {
            0xF2 | 0xF3 => rep = true,
            b if is_prefix(b) => {}
            op => return rep && matches!(op, 0xA4..=0xA7 | 0xAA..=0xAF),
        }
    }
    false
}

/// Flat RAM that remembers written addresses and the last IVT entry read.
struct TestBus {
    mem: Vec<u8>,
    mask: u32,
    dirty: Vec<u32>,
    ivt_read: Option<u8>,
}

impl TestBus {
    fn new(size: usize) -> TestBus {
        TestBus {
            mem: vec![0; size],
            mask: size as u32 - 1,
            dirty: Vec::new(),
            ivt_read: None,
        }
    }
    #[inline]
    fn byte(&self, addr: u32) -> u8 {
        self.mem[(addr & self.mask) as usize]
    }
    fn word(&self, addr: u32) -> u16 {
        u16::from_le_bytes([self.byte(addr), self.byte(addr.wrapping_add(1))])
    }
}

impl CpuBus for TestBus {
    #[inline]
    fn read8(&mut self, addr: u32) -> u8 {
        let a = addr & self.mask;
        if a < 0x400 {
            self.ivt_read = Some((a >> 2) as u8);
        }
        self.mem[a as usize]
    }
    #[inline]
    fn write8(&mut self, addr: u32, value: u8) {
        let a = addr & self.mask;
        self.dirty.push(a);
        self.mem[a as usize] = value;
    }
    fn io_in(&mut self, _port: u16, size: u8) -> u32 {
        match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn io_out(&mut self, _port: u16, _size: u8, _value: u32) {}
}

/// Why stepping stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stop {
    /// The instruction completed (8086 mode) or HLT was reached (286 mode).
    Done,
    /// 286 mode: no HLT within the step cap.
    StepCap,
    Shutdown,
    /// 286 mode: interrupt through an IVT entry the test does not provide.
    UnlistedVector(u8),
    Panic(String),
    /// Lockstep: translated code and the interpreter disagreed (the engine's report).
    Diverged(String),
}

#[derive(Clone, Debug)]
enum Mismatch {
    /// Register (index into REG_NAMES), expected, got (flags: already masked).
    Reg(usize, u32, u32),
    /// Segment register (REG_NAMES index) whose cached base is not selector × 16.
    SegBase(usize, u32),
    /// Address, expected, got, note.
    Mem(u32, u8, u8, &'static str),
    Exception(Option<u8>, Option<u8>),
    Stop(Stop),
}

/// The first failing test of a file, ready to print.
pub struct Failure {
    pub ordinal: usize,
    pub name: String,
    /// Short list of what differed (`ip flags mem …`).
    pub summary: String,
    /// Multi-line expected-vs-got report (for `--verbose`).
    pub detail: String,
}

/// The outcome of one file.
#[derive(Default)]
pub struct FileReport {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: BTreeMap<String, usize>,
    pub first_failure: Option<Failure>,
    /// Unreadable / corrupt / unsupported file (already counted in `failed`).
    pub error: Option<String>,
    /// The CPU model of the file (`None`: unknown or unreadable).
    pub model: Option<CpuModel>,
    /// Tests whose instruction ran as translated code (`jit` / `lockstep`).
    pub translated: usize,
    /// Regions compiled, and the time spent compiling them.
    pub regions_compiled: u64,
    pub compile_time: std::time::Duration,
    /// Lockstep: translated regions re-run by the interpreter and compared.
    pub lockstep_checked: u64,
}

/// A CPU and its RAM, reused across the tests of one model (a fresh `Cpu` per test would
/// rebuild the interpreter's decode cache every time), and the engine that runs it.
struct Machine {
    cpu: Cpu,
    bus: TestBus,
    engine: Engine<TestBus>,
}

/// Per-thread scratch state: one machine per model, reused across tests.
#[derive(Default)]
pub struct Worker {
    m8086: Option<Machine>,
    m286: Option<Machine>,
    expected_mem: Vec<(u32, u8)>,
    mismatches: Vec<Mismatch>,
}

/// Options that shape a run.
#[derive(Clone, Copy)]
pub struct RunOpts {
    pub limit: Option<usize>,
    pub engine: EngineKind,
}

impl Worker {
    pub fn run_file(
        &mut self,
        path: &Path,
        display: String,
        suite: &Suite,
        opts: RunOpts,
    ) -> FileReport {
        let mut rep = FileReport {
            name: display,
            ..FileReport::default()
        };
        let file = moo::load(path);
        let limit = opts.limit.unwrap_or(usize::MAX);
        let wanted = (file.declared as usize).min(limit);
        let model = model_for(&file.cpu_id);
        let fail_file = |rep: &mut FileReport, ran: usize, msg: String| {
            rep.failed += wanted.saturating_sub(ran).max(1);
            rep.error = Some(msg);
        };
        let Some(model) = model else {
            let msg = match &file.error {
                Some(e) if file.cpu_id.is_empty() => format!("corrupt: {e}"),
                _ => format!(
                    "unknown CPU id {:?} in MOO header (known: 8086, 8088, C286)",
                    file.cpu_id
                ),
            };
            fail_file(&mut rep, 0, msg);
            return rep;
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rule = FileRule::new(suite, &file_name);
        let tests = &file.tests[..file.tests.len().min(limit)];
        rep.model = Some(model);
        // A fresh engine per file: its cache then holds this file's translations only.
        let m = self.machine(model);
        m.engine = new_engine(opts.engine, &m.cpu);
        for (ordinal, t) in tests.iter().enumerate() {
            let info = rule.for_test(&t.bytes);
            if !info.runnable() {
                *rep.skipped
                    .entry(info.status.clone().unwrap_or_default())
                    .or_default() += 1;
                continue;
            }
            if !suite.revoked.is_empty() && suite.revoked.contains(&t.hash_hex()) {
                *rep.skipped.entry("revoked".into()).or_default() += 1;
                continue;
            }
            let flags_mask = info.flags_mask.unwrap_or(0xFFFF);
            let (ok, translated) = self.run_test(t, model, flags_mask);
            rep.translated += translated as usize;
            if ok {
                rep.passed += 1;
            } else {
                rep.failed += 1;
                if rep.first_failure.is_none() {
                    rep.first_failure = Some(self.describe(ordinal, t, model, flags_mask));
                }
            }
            let panicked = self
                .mismatches
                .iter()
                .any(|m| matches!(m, Mismatch::Stop(Stop::Panic(_))));
            self.clean(model, t, panicked);
        }
        if let Some(e) = &file.error {
            fail_file(&mut rep, tests.len(), format!("corrupt: {e}"));
        }
        let engine = &self.machine(model).engine;
        if let Some(s) = engine.stats() {
            rep.regions_compiled = s.regions_compiled;
            rep.compile_time = s.compile_time;
        }
        rep.lockstep_checked = engine.lockstep_checked();
        rep
    }

    fn machine(&mut self, model: CpuModel) -> &mut Machine {
        machine(&mut self.m8086, &mut self.m286, model)
    }

    /// Run one test: (passed, its instruction ran as translated code). Leaves the mismatches in
    /// `self.mismatches`.
    fn run_test(&mut self, t: &Test, model: CpuModel, flags_mask: u16) -> (bool, bool) {
        let Machine { cpu, bus, engine } = machine(&mut self.m8086, &mut self.m286, model);
        cpu.s = CpuState::reset(model);
        cpu.flush_tlb();
        let init = initial_regs(t, model);
        for i in 0..14 {
            if let Some(v) = init.get(i) {
                set_reg(cpu, i, v);
            }
        }
        for &(a, v) in &t.init.ram {
            let a = a & bus.mask;
            bus.mem[a as usize] = v;
            cpu.invalidate_phys(a, 1);
        }
        bus.dirty.clear();

        let single = model == CpuModel::I8086;
        let rep = single && is_rep_string(&t.bytes);
        let start = (cpu.s.seg[1].selector, cpu.s.eip);
        let mut taken = None;
        let translated_before = in_regions(engine);
        let mut translated = false;
        let stepped = panic::catch_unwind(AssertUnwindSafe(|| {
            for step in 0..STEP_CAP {
                bus.ivt_read = None;
                // A budget of one: the interpreter goes through the block cache and its fast
                // forms (the 8086 model always single-steps), the JIT through a translated
                // one-instruction region, so the vectors check every path. Only the instruction
                // under test goes through the engine (every iteration of a REP string
                // instruction too); the HLT after it or at its interrupt handler is not what
                // is tested, and compiling it would double the JIT's compile time.
                let exit = if step == 0 || (cpu.s.seg[1].selector, cpu.s.eip) == start {
                    engine.run(cpu, bus, 1).0
                } else {
                    cpu.run(bus, 1).0
                };
                if step == 0 {
                    translated = in_regions(engine) > translated_before;
                }
                let ev = match exit {
                    RunExit::Shutdown => StepEvent::Shutdown,
                    RunExit::Diverged => {
                        return Stop::Diverged(engine.divergence.take().unwrap_or_default())
                    }
                    _ => StepEvent::Executed,
                };
                if let Some(v) = bus.ivt_read {
                    let e = v as u32 * 4;
                    if cpu.s.seg[1].selector == bus.word(e + 2) && cpu.s.eip == bus.word(e) as u32 {
                        taken.get_or_insert(v);
                        if !single && !(e..e + 4).all(|a| t.init.ram.iter().any(|r| r.0 == a)) {
                            return Stop::UnlistedVector(v);
                        }
                    }
                }
                if ev == StepEvent::Shutdown {
                    return Stop::Shutdown;
                }
                if cpu.s.halted || (single && !(rep && (cpu.s.seg[1].selector, cpu.s.eip) == start))
                {
                    return Stop::Done;
                }
            }
            Stop::StepCap
        }));
        let stop = stepped.unwrap_or_else(|p| Stop::Panic(panic_message(&p)));
        let cpu = &*cpu;

        let mm = &mut self.mismatches;
        mm.clear();
        if stop != Stop::Done {
            mm.push(Mismatch::Stop(stop));
        }
        // Registers.
        let mut want = init;
        for i in 0..14 {
            if let Some(v) = t.fina.regs.get(i) {
                want.set(i, v);
            }
        }
        for i in 0..14 {
            let Some(w) = want.get(i) else { continue };
            let (w, g) = match i {
                R_FLAGS => (
                    (w & flags_mask) as u32,
                    (cpu.s.eflags as u16 & flags_mask) as u32,
                ),
                R_IP => (w as u32, cpu.s.eip),
                _ => (w as u32, get_reg(cpu, i) as u32),
            };
            if w != g {
                mm.push(Mismatch::Reg(i, w, g));
            }
        }
        for (i, s) in SEG_REGS {
            let seg = &cpu.s.seg[s];
            if seg.base != (seg.selector as u32) << 4 {
                mm.push(Mismatch::SegBase(i, seg.base));
            }
        }
        // Exception. The pushed FLAGS sit at the final SS:SP+4 (EXCP's own address is rounded
        // down to even when SP is odd, so it is not used).
        let want_exc = match t.excp {
            Some(e) => Some(e.vector),
            None if single => inferred_vector(t, &init, &want),
            None => None,
        };
        let flags_at = want_exc.map(|_| {
            let ss = (want.get(R_SS).unwrap_or(0) as u32) << 4;
            let sp = want.get(R_SP).unwrap_or(0);
            [
                ss + sp.wrapping_add(4) as u32,
                ss + sp.wrapping_add(5) as u32,
            ]
            .map(|a| a & bus.mask)
        });
        if want_exc != taken {
            mm.push(Mismatch::Exception(want_exc, taken));
        }
        // Memory: INIT overlaid by FINA, plus writes to unlisted addresses.
        let exp = &mut self.expected_mem;
        exp.clear();
        exp.extend(
            t.init
                .ram
                .iter()
                .chain(&t.fina.ram)
                .map(|&(a, v)| (a & bus.mask, v)),
        );
        exp.sort_by_key(|e| e.0);
        exp.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        for &(a, w) in exp.iter() {
            let g = bus.byte(a);
            let (m, note) = match flags_at {
                Some([lo, _]) if a == lo => (flags_mask as u8, "pushed FLAGS lo, masked"),
                Some([_, hi]) if a == hi => ((flags_mask >> 8) as u8, "pushed FLAGS hi, masked"),
                _ => (0xFF, ""),
            };
            if (w ^ g) & m != 0 {
                mm.push(Mismatch::Mem(a, w & m, g & m, note));
            }
        }
        bus.dirty.sort_unstable();
        bus.dirty.dedup();
        for &a in &bus.dirty {
            if exp.binary_search_by_key(&a, |e| e.0).is_err() && bus.byte(a) != 0 {
                mm.push(Mismatch::Mem(
                    a,
                    0,
                    bus.byte(a),
                    "written, but not listed by the test",
                ));
            }
        }
        (mm.is_empty(), translated)
    }

    /// Zero the RAM a test used.
    fn clean(&mut self, model: CpuModel, t: &Test, panicked: bool) {
        let m = self.machine(model);
        for a in t
            .init
            .ram
            .iter()
            .map(|r| r.0 & m.bus.mask)
            .chain(m.bus.dirty.drain(..))
        {
            m.bus.mem[a as usize] = 0;
            m.cpu.invalidate_phys(a, 1);
        }
        if panicked {
            // The interpreter's private state may be mid-instruction: start afresh.
            m.cpu = Cpu::new(model);
            m.engine = new_engine(m.engine.kind(), &m.cpu);
        }
    }

    /// Report the mismatches left by the last `run_test`.
    fn describe(&self, ordinal: usize, t: &Test, model: CpuModel, flags_mask: u16) -> Failure {
        let mut kinds: Vec<String> = Vec::new();
        let mut add = |k: String| {
            if !kinds.contains(&k) {
                kinds.push(k)
            }
        };
        for m in &self.mismatches {
            add(match m {
                Mismatch::Reg(i, ..) => REG_NAMES[*i].to_string(),
                Mismatch::SegBase(i, _) => format!("{}.base", REG_NAMES[*i]),
                Mismatch::Mem(..) => "mem".into(),
                Mismatch::Exception(..) => "exception".into(),
                Mismatch::Stop(s) => stop_word(s).into(),
            });
        }
        let summary = kinds.join(" ");

        let mut d = String::new();
        let bytes: Vec<String> = t.bytes.iter().map(|b| format!("{b:02x}")).collect();
        let index = if t.index as usize != ordinal {
            format!(" (index {})", t.index)
        } else {
            String::new()
        };
        let hash = if t.hash.is_some() {
            format!("  hash {}", t.hash_hex())
        } else {
            String::new()
        };
        let _ = writeln!(
            d,
            "    test #{ordinal}{index} {:?}  bytes {}{hash}",
            t.name,
            bytes.join(" ")
        );
        let init = initial_regs(t, model);
        let regs: Vec<String> = (0..14)
            .filter_map(|i| init.get(i).map(|v| format!("{}={v:04x}", REG_NAMES[i])))
            .collect();
        let _ = writeln!(d, "      initial  {}", regs[..regs.len().min(8)].join(" "));
        if regs.len() > 8 {
            let _ = writeln!(d, "               {}", regs[8..].join(" "));
        }
        for m in &self.mismatches {
            let _ = match m {
                Mismatch::Stop(s) => writeln!(d, "      stopped  {}", stop_text(s)),
                Mismatch::Reg(i, w, g) if *i == R_FLAGS => writeln!(
                    d,
                    "      flags    expected {w:04x}  got {g:04x}  (under mask {flags_mask:04x}: {})",
                    flag_diff(*w as u16, *g as u16)
                ),
                Mismatch::Reg(i, w, g) => writeln!(d, "      {:<8} expected {w:04x}  got {g:04x}", REG_NAMES[*i]),
                Mismatch::SegBase(i, b) => writeln!(d, "      {:<8} base {b:#x} is not selector*16", REG_NAMES[*i]),
                Mismatch::Exception(w, g) => {
                    let f = |v: &Option<u8>| v.map_or("none".to_string(), |v| format!("#{v} (int {v:02x}h)"));
                    writeln!(d, "      exception expected {}  got {}", f(w), f(g))
                }
                Mismatch::Mem(..) => Ok(()),
            };
        }
        // Memory mismatches, consecutive addresses with the same note on one line.
        let mems: Vec<(u32, u8, u8, &str)> = self
            .mismatches
            .iter()
            .filter_map(|m| {
                if let Mismatch::Mem(a, w, g, n) = m {
                    Some((*a, *w, *g, *n))
                } else {
                    None
                }
            })
            .collect();
        let mut lines = 0;
        let mut i = 0;
        while i < mems.len() {
            let mut j = i + 1;
            while j < mems.len()
                && j - i < 8
                && mems[j].0 == mems[j - 1].0 + 1
                && mems[j].3 == mems[i].3
            {
                j += 1;
            }
            lines += 1;
            if lines <= 10 {
                let run = &mems[i..j];
                let hex = |f: fn(&(u32, u8, u8, &str)) -> u8| {
                    run.iter()
                        .map(|m| format!("{:02x}", f(m)))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let note = if run[0].3.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", run[0].3)
                };
                let _ = writeln!(
                    d,
                    "      [{:06x}] expected {}  got {}{note}",
                    run[0].0,
                    hex(|m| m.1),
                    hex(|m| m.2)
                );
            }
            i = j;
        }
        if lines > 10 {
            let _ = writeln!(d, "      … and {} more memory lines", lines - 10);
        }
        Failure {
            ordinal,
            name: t.name.clone(),
            summary,
            detail: d,
        }
    }
}

fn machine<'a>(
    m8086: &'a mut Option<Machine>,
    m286: &'a mut Option<Machine>,
    model: CpuModel,
) -> &'a mut Machine {
    let (slot, size) = match model {
        CpuModel::I8086 => (m8086, 1 << 20),
        _ => (m286, 16 << 20),
    };
    slot.get_or_insert_with(|| {
        let cpu = Cpu::new(model);
        Machine {
            engine: new_engine(EngineKind::Interp, &cpu),
            cpu,
            bus: TestBus::new(size),
        }
    })
}

/// An engine that translates every instruction the first time it runs, one per region.
fn new_engine(kind: EngineKind, cpu: &Cpu) -> Engine<TestBus> {
    let mut e = Engine::with_threshold(kind, cpu, 1);
    e.single_instruction_regions();
    e
}

/// Guest instructions run by translated code so far.
fn in_regions(e: &Engine<TestBus>) -> u64 {
    e.stats().map_or(0, |s| s.instrs_in_regions)
}

/// REG_NAMES index → CpuState segment index (ES CS SS DS order).
const SEG_REGS: [(usize, usize); 4] = [(4, 1), (5, 2), (6, 3), (7, 0)];
/// REG_NAMES index → CpuState GPR index (ax bx cx dx … sp bp si di).
fn gpr_index(i: usize) -> usize {
    [0, 3, 1, 2, 0, 0, 0, 0, 4, 5, 6, 7][i]
}

/// INIT registers as loaded: on the 286, FLAGS bits 12-15 cleared (real mode).
fn initial_regs(t: &Test, model: CpuModel) -> moo::Regs {
    let mut r = t.init.regs;
    if model == CpuModel::I80286 {
        r.v[R_FLAGS] &= 0x0FFF;
    }
    r
}

fn set_reg(cpu: &mut Cpu, i: usize, v: u16) {
    match i {
        R_IP => cpu.s.eip = v as u32,
        R_FLAGS => cpu.s.eflags = v as u32,
        4..=7 => {
            let s = SEG_REGS[i - 4].1;
            cpu.s.seg[s] = Segment::real(v);
            if i == R_CS {
                cpu.s.seg[s].attr = attr::REAL_CODE;
            }
        }
        _ => cpu.s.gpr[gpr_index(i)] = v as u32,
    }
}

fn get_reg(cpu: &Cpu, i: usize) -> u16 {
    match i {
        R_IP => cpu.s.eip as u16,
        R_FLAGS => cpu.s.eflags as u16,
        4..=7 => cpu.s.seg[SEG_REGS[i - 4].1].selector,
        _ => cpu.s.gpr[gpr_index(i)] as u16,
    }
}

/// 8086: the vector whose IVT entry (given in the initial RAM) equals the expected final CS:IP,
/// provided the rest looks like an interrupt (3 words pushed, IF and TF clear): a far CALL whose
/// operand bytes overlap the IVT must not count.
fn inferred_vector(t: &Test, init: &moo::Regs, want: &moo::Regs) -> Option<u8> {
    let (cs, ip) = (want.get(R_CS)?, want.get(R_IP)?);
    if want.get(R_SP)? != init.get(R_SP)?.wrapping_sub(6) || want.get(R_FLAGS)? & 0x0300 != 0 {
        return None;
    }
    let byte = |a: u32| t.init.ram.iter().find(|r| r.0 == a).map(|r| r.1);
    t.init
        .ram
        .iter()
        .filter(|r| r.0 < 0x400 && r.0 % 4 == 0)
        .find_map(|&(a, _)| {
            let w = |o: u32| Some(u16::from_le_bytes([byte(a + o)?, byte(a + o + 1)?]));
            (w(0)? == ip && w(2)? == cs).then_some((a / 4) as u8)
        })
}

fn stop_word(s: &Stop) -> &'static str {
    match s {
        Stop::Done => "done",
        Stop::StepCap => "no-halt",
        Stop::Shutdown => "shutdown",
        Stop::UnlistedVector(_) => "exception",
        Stop::Panic(_) => "PANIC",
        Stop::Diverged(_) => "diverged",
    }
}

fn stop_text(s: &Stop) -> String {
    match s {
        Stop::Done => "normally".into(),
        Stop::StepCap => format!("no HLT reached within {STEP_CAP} steps"),
        Stop::Shutdown => "shutdown (triple fault)".into(),
        Stop::UnlistedVector(v) => {
            format!("took interrupt #{v} (int {v:02x}h), whose IVT entry the test does not provide")
        }
        Stop::Panic(m) => format!("interpreter panicked: {m}"),
        Stop::Diverged(r) => r.trim_end().replace('\n', "\n               "),
    }
}

const FLAG_NAMES: [(u16, &str); 12] = [
    (0x0001, "CF"),
    (0x0004, "PF"),
    (0x0010, "AF"),
    (0x0040, "ZF"),
    (0x0080, "SF"),
    (0x0100, "TF"),
    (0x0200, "IF"),
    (0x0400, "DF"),
    (0x0800, "OF"),
    (0x3000, "IOPL"),
    (0x4000, "NT"),
    (0x8000, "bit15"),
];

/// "ZF want 1, CF want 0, …" for the flags that differ.
fn flag_diff(want: u16, got: u16) -> String {
    let diff = want ^ got;
    let mut parts: Vec<String> = FLAG_NAMES
        .iter()
        .filter(|(b, _)| diff & b != 0)
        .map(|(b, n)| format!("{n} expected {}", (want & b) >> b.trailing_zeros()))
        .collect();
    let other = diff & !FLAG_NAMES.iter().fold(0, |a, (b, _)| a | b);
    if other != 0 {
        parts.push(format!("reserved bits {other:04x}"));
    }
    parts.join(", ")
}

thread_local! {
    /// The message of the last panic on this thread (set by the hook installed in `mod.rs`).
    pub static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    LAST_PANIC
        .with(|l| l.borrow_mut().take())
        .unwrap_or_else(|| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rep_detection_and_modrm() {
        assert!(is_rep_string(&[0xF3, 0xA4]));
        assert!(is_rep_string(&[0x26, 0xF2, 0x2E, 0xAF]));
        assert!(!is_rep_string(&[0xA4]));
        assert!(!is_rep_string(&[0xF3, 0x90]));
        assert!(!is_rep_string(&[0xF3]));
        assert_eq!(modrm_reg(&[0x26, 0xF6, 0xB4]), Some(6));
        assert_eq!(modrm_reg(&[0x0F, 0x01, 0x18]), Some(3));
        assert_eq!(modrm_reg(&[0xF6]), None);
    }

    #[test]
    fn metadata_lookup() {
        let json = r#"{"opcodes": {"90": {"status": "normal"}, "D8": {"status": "fpu"},
            "F6": {"reg": {"6": {"status": "normal", "flags-mask": 63274}, "1": {"status": "undefined"}}}}}"#;
        let suite = Suite {
            ops: parse_metadata(json).unwrap(),
            ..Suite::default()
        };
        assert!(FileRule::new(&suite, "90.MOO.gz")
            .for_test(&[0x90])
            .runnable());
        assert!(!FileRule::new(&suite, "D8.MOO.gz")
            .for_test(&[0xD8, 0])
            .runnable());
        let f6 = FileRule::new(&suite, "F6.6.MOO.gz").for_test(&[0xF6, 0x00]);
        assert_eq!(f6.flags_mask, Some(63274));
        // No digit in the name: the ModRM reg of the test decides.
        let f6 = FileRule::new(&suite, "F6.MOO.gz");
        assert!(!f6.for_test(&[0xF6, 0x08]).runnable());
        assert_eq!(f6.for_test(&[0xF6, 0x30]).flags_mask, Some(63274));
        // Unknown opcodes run unmasked.
        assert!(FileRule::new(&suite, "0FA2.MOO")
            .for_test(&[0x0F, 0xA2])
            .runnable());
    }

    #[test]
    fn flag_diff_names_flags() {
        assert_eq!(flag_diff(0x0041, 0x0001), "ZF expected 1");
        assert_eq!(flag_diff(0x0001, 0x0800), "CF expected 1, OF expected 0");
    }

    /// A MOO file of 286 tests: (name, bytes at CS:IP, INIT regs, extra INIT RAM, FINA regs
    /// as (index, value), FINA RAM, EXCP vector).
    type Spec<'a> = (
        &'a str,
        &'a [u8],
        [u16; 14],
        &'a [(u32, u8)],
        &'a [(usize, u16)],
        &'a [(u32, u8)],
        Option<u8>,
    );

    fn moo_286(tests: &[Spec]) -> Vec<u8> {
        use crate::conformance::moo::tests::{chunk, ram, regs};
        let mut f = chunk(
            b"MOO ",
            &[
                &[1, 0, 0, 0][..],
                &(tests.len() as u32).to_le_bytes(),
                b"C286",
            ]
            .concat(),
        );
        for (i, (name, bytes, init, extra, fina, fina_ram, excp)) in tests.iter().enumerate() {
            let mut p = (i as u32).to_le_bytes().to_vec();
            p.extend(chunk(
                b"NAME",
                &[&(name.len() as u32).to_le_bytes()[..], name.as_bytes()].concat(),
            ));
            p.extend(chunk(
                b"BYTS",
                &[&(bytes.len() as u32).to_le_bytes()[..], bytes].concat(),
            ));
            let code = ((init[R_CS] as u32) << 4) + init[R_IP] as u32;
            let mut init_ram: Vec<(u32, u8)> = bytes
                .iter()
                .enumerate()
                .map(|(k, b)| (code + k as u32, *b))
                .collect();
            init_ram.extend_from_slice(extra);
            p.extend(chunk(
                b"INIT",
                &[regs(0x3FFF, init), ram(&init_ram)].concat(),
            ));
            let mask = fina.iter().fold(0u16, |m, (r, _)| m | 1 << r);
            let mut sorted = fina.to_vec();
            sorted.sort();
            let vals: Vec<u16> = sorted.iter().map(|r| r.1).collect();
            p.extend(chunk(b"FINA", &[regs(mask, &vals), ram(fina_ram)].concat()));
            if let Some(v) = excp {
                p.extend(chunk(b"EXCP", &[&[*v][..], &0u32.to_le_bytes()].concat()));
            }
            f.extend(chunk(b"TEST", &p));
        }
        f
    }

    // ax bx cx dx cs ss ds es sp bp si di ip flags
    const INIT: [u16; 14] = [1, 2, 3, 4, 0x100, 0x300, 0, 0, 0x100, 0, 0, 0, 0x10, 0xF0C7];
    /// IVT entry 3 → 0200:0000, a HLT.
    const IVT3: &[(u32, u8)] = &[(12, 0), (13, 0), (14, 0), (15, 2), (0x2000, 0xF4)];
    /// INT 3 from 0100:0010: pushes FLAGS (0x00C7, 12-15 cleared), CS, IP 0x11 at 0300:00FA.
    const STACK: &[(u32, u8)] = &[
        (0x30FA, 0x11),
        (0x30FB, 0),
        (0x30FC, 0x00),
        (0x30FD, 0x01),
        (0x30FE, 0xC7),
        (0x30FF, 0x00),
    ];
    const INT3_FINA: &[(usize, u16)] = &[
        (R_CS, 0x200),
        (R_SP, 0xFA),
        (R_IP, 1),
        (R_FLAGS, 0x00C7 & !0x300),
    ];

    /// Run every test of a MOO file (written to a temporary file) under `engine`.
    fn run_moo(w: &mut Worker, file: &[u8], engine: EngineKind) -> FileReport {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("ironbox-runner-{}-{n}.MOO", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, file).unwrap();
        let opts = RunOpts {
            limit: None,
            engine,
        };
        let r = w.run_file(&path, "t".into(), &Suite::default(), opts);
        let _ = std::fs::remove_file(&path);
        r
    }

    #[test]
    fn runs_and_compares_286_tests() {
        let (init, ivt3, stack, int3_fina) = (INIT, IVT3, STACK, INT3_FINA);
        let file = moo_286(&[
            (
                "nop",
                &[0x90, 0xF4],
                init,
                &[],
                &[(R_IP, 0x12), (R_FLAGS, 0x00C7)],
                &[],
                None,
            ),
            (
                "nop (wrong ax)",
                &[0x90, 0xF4],
                init,
                &[],
                &[(0, 5), (R_IP, 0x12)],
                &[],
                None,
            ),
            ("int3", &[0xCC, 0xF4], init, ivt3, int3_fina, stack, Some(3)),
            (
                "int3 (no EXCP)",
                &[0xCC, 0xF4],
                init,
                ivt3,
                int3_fina,
                stack,
                None,
            ),
            (
                "int3 (no IVT entry)",
                &[0xCC, 0xF4],
                init,
                &[],
                int3_fina,
                stack,
                Some(3),
            ),
        ]);
        let dir = std::env::temp_dir().join(format!("ironbox-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("90.MOO");
        std::fs::write(&path, &file).unwrap();
        let mut w = Worker::default();
        let suite = Suite::default();
        // Every engine gives the same verdicts; the JIT runs the instructions translated.
        // (Lockstep: see `lockstep_follows_rewritten_code`.)
        for engine in [EngineKind::Interp, EngineKind::Jit] {
            let mut fails = Vec::new();
            for limit in 1..=5 {
                let opts = RunOpts {
                    limit: Some(limit),
                    engine,
                };
                let r = w.run_file(&path, "t/90.MOO".into(), &suite, opts);
                assert!(r.error.is_none(), "{:?}", r.error);
                let want = if engine == EngineKind::Interp {
                    0
                } else {
                    limit
                };
                assert_eq!(r.translated, want, "{engine:?}");
                fails.push((r.passed, r.failed, r.first_failure.map(|f| f.summary)));
            }
            // nop passes, wrong ax fails, int3 passes, int3 without EXCP and without IVT entry
            // fail.
            let counts: Vec<(usize, usize)> = fails.iter().map(|f| (f.0, f.1)).collect();
            assert_eq!(
                counts,
                [(1, 0), (1, 1), (2, 1), (2, 2), (2, 3)],
                "{engine:?}"
            );
            assert_eq!(fails[4].2.as_deref(), Some("ax"), "{engine:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        // The details of each failure, one at a time.
        for n in [4, 5] {
            let file = moo_286(&[(
                "t",
                &[0xCC, 0xF4],
                init,
                if n == 4 { ivt3 } else { &[] },
                int3_fina,
                stack,
                if n == 4 { None } else { Some(3) },
            )]);
            let r = run_moo(&mut w, &file, EngineKind::Interp);
            let f = r.first_failure.expect("fails");
            assert!(
                f.summary.contains("exception"),
                "{}: {}",
                f.summary,
                f.detail
            );
            if n == 5 {
                assert!(
                    f.detail.contains("IVT entry the test does not provide"),
                    "{}",
                    f.detail
                );
            }
        }
    }

    /// Lockstep re-runs each translated region on a shadow interpreter, whose decode cache must
    /// drop code the runner rewrote: here every test sits at 0100:0010, so `int3` follows a
    /// `nop` at the same address. Today the shadow's cache keeps the `nop` (Engine's shadow
    /// `Cpu` never sees `invalidate_phys`) and lockstep reports a false divergence.
    #[test]
    fn lockstep_follows_rewritten_code() {
        let nop: &[(usize, u16)] = &[(R_IP, 0x12), (R_FLAGS, 0x00C7)];
        let file = moo_286(&[
            ("nop", &[0x90, 0xF4], INIT, &[], nop, &[], None),
            ("int3", &[0xCC, 0xF4], INIT, IVT3, INT3_FINA, STACK, Some(3)),
        ]);
        let r = run_moo(&mut Worker::default(), &file, EngineKind::Lockstep);
        let detail = r.first_failure.map(|f| f.detail).unwrap_or_default();
        assert_eq!((r.passed, r.failed), (2, 0), "{detail}");
        assert_eq!(r.translated, 2);
        assert!(r.lockstep_checked >= 2);
    }
}
