//! The translation cache: hotness counters and compiled regions keyed by (physical address,
//! EIP, mode bits), the Cranelift module that owns their code, and the dispatcher step that
//! runs one region. Code memory is bounded: when the module holds more than `CODE_LIMIT`
//! bytes, every translation is dropped and the module's memory freed (a new generation).

use rustc_hash::FxHashMap as HashMap;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{isa::CallConv, Context};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};
use ironbox_cpu::state::flags;
use ironbox_cpu::translator::mode_key;
use ironbox_cpu::{Cpu, CpuBus, RunExit, SegReg};

use crate::jumpcache::JumpCache;
use crate::lower::{self, LowerOptions, EXIT_IO, EXIT_SHUTDOWN};
use crate::region::{discover, Limits, Region};
use crate::runtime::{Ctx, Helpers};
use crate::tlb::HostTlb;

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

#[derive(Default)]
struct Entry {
    hits: u32,
    /// Times its translation went stale (its page was written).
    stale: u32,
    /// Discovery or compilation failed here: stay interpreted.
    failed: bool,
    compiled: Option<Compiled>,
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
}

/// Translations for one bus type (helpers are monomorphised per bus).
pub struct Jit<B: CpuBus> {
    module: Option<JITModule>,
    cl_ctx: Context,
    fbc: FunctionBuilderContext,
    call_conv: CallConv,
    entries: HashMap<(u32, u32, u32), Entry>,
    helpers: Helpers,
    /// Block entries seen this many times are compiled.
    pub threshold: u32,
    pub opts: LowerOptions,
    pub limits: Limits,
    pub stats: JitStats,
    code_in_module: usize,
    tlb: Box<HostTlb>,
    /// Translation for the next EIP, consulted by translated code when it leaves.
    jc: Box<JumpCache>,
    /// Enter translations directly from one another (off for lockstep: it checks each run).
    pub chaining: bool,
    trampoline: Option<TrampolineFn>,
    /// The context translated code runs with (points at `tlb` and `jc`).
    ctx: Box<Ctx>,
    _bus: PhantomData<fn(&mut B)>,
}

fn new_module() -> JITModule {
    let mut fb = settings::builder();
    // Measured on the intmix workload: "none" compiles ~30% faster than "speed" and runs
    // as fast (the IR is already simple); the register allocator dominates compile time.
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    fb.set("opt_level", &env("IRONBOX_JIT_OPT", "none"))
        .expect("known setting");
    fb.set(
        "regalloc_algorithm",
        &env("IRONBOX_JIT_REGALLOC", "backtracking"),
    )
    .expect("known setting");
    fb.set("preserve_frame_pointers", "true")
        .expect("known setting");
    fb.set("is_pic", "false").expect("known setting");
    fb.set("enable_verifier", "false").expect("known setting");
    let isa = cranelift_native::builder()
        .expect("the host is supported by Cranelift")
        .finish(settings::Flags::new(fb))
        .expect("host ISA flags");
    JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()))
}

impl<B: CpuBus> Jit<B> {
    pub fn new(threshold: u32) -> Jit<B> {
        let module = new_module();
        let call_conv = module.isa().default_call_conv();
        let mut tlb = HostTlb::new();
        let mut jc = JumpCache::new();
        let ctx = Box::new(Ctx::new(&mut *tlb, &mut *jc));
        Jit {
            cl_ctx: module.make_context(),
            module: Some(module),
            fbc: FunctionBuilderContext::new(),
            call_conv,
            entries: HashMap::default(),
            helpers: Helpers::for_bus::<B>(),
            threshold,
            opts: LowerOptions::default(),
            limits: Limits::default(),
            stats: JitStats::default(),
            code_in_module: 0,
            tlb,
            jc,
            chaining: true,
            trampoline: None,
            ctx,
            _bus: PhantomData,
        }
    }

    /// Drop every translation and free their code.
    pub fn flush(&mut self) {
        self.entries.clear();
        if let Some(m) = self.module.take() {
            // SAFETY: no translation runs now (we are in the dispatcher) and every pointer
            // into this module went with `entries`.
            unsafe { m.free_memory() };
        }
        let m = new_module();
        self.cl_ctx = m.make_context();
        self.module = Some(m);
        self.code_in_module = 0;
        self.trampoline = None;
        self.jc.clear();
        self.stats.flushes += 1;
    }

    /// Run the translation at CS:EIP if there is one (compiling it once it is hot).
    /// `None`: nothing ran, interpret. The caller checked `Cpu::needs_step` first.
    pub fn try_region(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        budget: u64,
    ) -> Option<(u64, Option<RunExit>)> {
        let eip = cpu.s.eip;
        let phys = cpu.code_phys(bus, eip)?;
        let key = (phys, eip, mode_key(cpu));
        let threshold = self.threshold;
        let entry = self.entries.entry(key).or_default();
        if let Some(c) = &entry.compiled {
            if cpu.code_page_gen(c.page) != Some(c.gen) {
                entry.compiled = None;
                entry.hits = threshold / 2;
                entry.stale += 1;
                // Code that keeps rewriting itself stays interpreted.
                entry.failed = entry.stale > 8;
                self.stats.stale_drops += 1;
            }
        }
        if entry.compiled.is_none() {
            if entry.failed {
                return None;
            }
            entry.hits += 1;
            if entry.hits < threshold {
                return None;
            }
            // (Compiling may flush the cache, so look the entry up again.)
            let c = self.compile(cpu, bus, eip, phys);
            let entry = self.entries.entry(key).or_default();
            match c {
                Some(c) => entry.compiled = Some(c),
                None => {
                    entry.failed = true;
                    return None;
                }
            }
        }
        let c = self.entries[&key]
            .compiled
            .as_ref()
            .expect("compiled above");
        if c.max_last > cpu.s.seg[SegReg::Cs as usize].limit {
            return None; // the limit check is the interpreter's business
        }
        let entry_flags = cpu.s.eflags & (flags::IF | flags::TF | flags::RF);
        self.tlb.sync(cpu, bus);
        self.jc.sync(cpu, bus);
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
            let lin = cpu.s.seg[SegReg::Cs as usize].base.wrapping_add(eip);
            self.jc.insert(lin, key.2, max_last, f as u64);
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
        let code = unsafe { trampoline(f, cpu, ctx) };
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

    fn compile(&mut self, cpu: &mut Cpu, bus: &mut B, eip: u32, phys: u32) -> Option<Compiled> {
        let t0 = Instant::now();
        let region = discover(cpu, bus, eip, phys, self.limits)?;
        let gen = cpu.code_page_gen(phys >> 12)?;
        if self.code_in_module > CODE_LIMIT {
            self.flush();
        }
        let module = self.module.as_mut().expect("a module is always there");
        self.cl_ctx.func.signature = lower::region_signature(CallConv::Tail);
        {
            let mut b = FunctionBuilder::new(&mut self.cl_ctx.func, &mut self.fbc);
            lower::lower_region(
                &mut b,
                &region,
                self.helpers,
                self.call_conv,
                cpu.s.stack32(),
                cpu.s.cpl == 3,
                mode_key(cpu),
                self.opts,
            );
            b.finalize(module.isa().frontend_config());
        }
        let dump = std::env::var_os("IRONBOX_JIT_DUMP").is_some();
        if dump {
            self.cl_ctx.set_disasm(true);
            eprintln!("jit: region at {eip:#x}:");
            for g in &region.blocks {
                for i in &g.instrs {
                    eprintln!("  {:08x}  {}", i.ip32(), crate::disasm(i));
                }
            }
        }
        let id = module
            .declare_anonymous_function(&self.cl_ctx.func.signature)
            .ok()?;
        if let Err(e) = module.define_function(id, &mut self.cl_ctx) {
            tracing::warn!("jit: region at {eip:#x} did not compile: {e:?}");
            module.clear_context(&mut self.cl_ctx);
            return None;
        }
        let size = self
            .cl_ctx
            .compiled_code()
            .map_or(0, |c| c.code_info().total_size as usize);
        if dump {
            if let Some(v) = self.cl_ctx.compiled_code().and_then(|c| c.vcode.clone()) {
                eprintln!("{v}");
            }
        }
        module.clear_context(&mut self.cl_ctx);
        module.finalize_definitions().ok()?;
        let ptr = module.get_finalized_function(id);
        self.code_in_module += size;
        self.stats.regions_compiled += 1;
        self.stats.guest_instrs_compiled += region.instr_count() as u64;
        self.stats.code_bytes += size as u64;
        self.stats.compile_time += t0.elapsed();
        Some(Compiled {
            f: ptr,
            page: phys >> 12,
            gen,
            max_last: region.max_last,
            region,
        })
    }

    /// The `extern "C"` entry into translated code (one per module).
    fn build_trampoline(&mut self) -> Option<TrampolineFn> {
        use cranelift_codegen::ir::{types, AbiParam, InstBuilder, Signature};
        let module = self.module.as_mut()?;
        let mut sig = Signature::new(self.call_conv);
        for _ in 0..3 {
            sig.params.push(AbiParam::new(types::I64));
        }
        sig.returns.push(AbiParam::new(types::I32));
        self.cl_ctx.func.signature = sig.clone();
        {
            let mut b = FunctionBuilder::new(&mut self.cl_ctx.func, &mut self.fbc);
            let callee = b.import_signature(lower::region_signature(CallConv::Tail));
            let blk = b.create_block();
            b.append_block_params_for_function_params(blk);
            b.switch_to_block(blk);
            let p = b.block_params(blk).to_vec();
            let call = b.ins().call_indirect(callee, p[0], &[p[1], p[2]]);
            let r = b.inst_results(call)[0];
            b.ins().return_(&[r]);
            b.seal_all_blocks();
            b.finalize(module.isa().frontend_config());
        }
        let id = module.declare_anonymous_function(&sig).ok()?;
        let res = module.define_function(id, &mut self.cl_ctx);
        module.clear_context(&mut self.cl_ctx);
        res.ok()?;
        module.finalize_definitions().ok()?;
        let ptr = module.get_finalized_function(id);
        // SAFETY: built just above with this signature (the ISA's default convention).
        Some(unsafe { std::mem::transmute::<*const u8, TrampolineFn>(ptr) })
    }

    /// The region compiled at CS:EIP, if any (for the lockstep report).
    pub(crate) fn region_at(&self, phys: u32, eip: u32, mode: u32) -> Option<&Region> {
        self.entries
            .get(&(phys, eip, mode))
            .and_then(|e| e.compiled.as_ref())
            .map(|c| &c.region)
    }
}
