//! Region → machine code. A `Compiler` owns a Cranelift context and the host ISA; it builds a
//! region's IR (`lower`) and compiles it to bytes. The bytes are position-independent and have
//! no relocations (helpers are called through constant addresses), so the thread that owns the
//! `JITModule` installs them with `define_function_bytes` wherever they were compiled: on the
//! dispatcher's thread (synchronous mode) or on the background worker (`worker`).

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, Signature};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

use crate::lower::{self, LowerOptions};
use crate::region::Region;
use crate::runtime::Helpers;

/// The host ISA with the settings translations are compiled with.
pub fn host_isa() -> OwnedTargetIsa {
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
    // Nothing unwinds through translations (no exceptions, no host backtraces needed).
    fb.set("unwind_info", "false").expect("known setting");
    // Translations keep their context in the pinned register (r15 on x86-64).
    fb.set("enable_pinned_reg", "true").expect("known setting");
    // `IRONBOX_JIT_VERIFY=true` checks every function's IR (slow; for debugging lowerings).
    fb.set("enable_verifier", &env("IRONBOX_JIT_VERIFY", "false"))
        .expect("known setting");
    cranelift_native::builder()
        .expect("the host is supported by Cranelift")
        .finish(settings::Flags::new(fb))
        .expect("host ISA flags")
}

/// What the code of a region depends on besides its instructions.
#[derive(Clone, Copy)]
pub struct LowerParams {
    pub helpers: Helpers,
    /// SS.B.
    pub stack32: bool,
    /// CPL 3 (user pages only).
    pub user: bool,
    pub mode: u32,
    pub opts: LowerOptions,
    pub links: Links,
}

/// The exit-link slots a region's code may use (`JumpCache::links`): `count` slots from
/// `first` of the table at host address `table` (0: none), of the jump cache at `jc`.
#[derive(Clone, Copy, Default)]
pub struct Links {
    pub jc: u64,
    pub table: u64,
    pub first: u32,
    pub count: u32,
}

/// Compiled machine code, ready to be installed in a module.
pub struct Code {
    pub bytes: Vec<u8>,
    pub align: u64,
}

pub struct Compiler {
    isa: OwnedTargetIsa,
    ctx: Context,
    fbc: FunctionBuilderContext,
}

impl Compiler {
    pub fn new() -> Compiler {
        Compiler {
            isa: host_isa(),
            ctx: Context::new(),
            fbc: FunctionBuilderContext::new(),
        }
    }

    /// The calling convention of helpers and of the trampoline (the host's C convention).
    pub fn call_conv(&self) -> CallConv {
        self.isa.default_call_conv()
    }

    /// Compile `region`; with `dump`, print its guest code and the generated code.
    pub fn region(&mut self, region: &Region, p: &LowerParams, dump: bool) -> Result<Code, String> {
        let call_conv = self.call_conv();
        self.ctx.clear();
        self.ctx.func.signature = lower::region_signature(CallConv::Tail);
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
            lower::lower_region(
                &mut b, region, p.helpers, call_conv, p.stack32, p.user, p.mode, p.opts, p.links,
            );
            b.finalize(self.isa.frontend_config());
        }
        if dump {
            eprintln!("jit: region at {:#x}:", region.entry_eip);
            for g in &region.blocks {
                for i in &g.instrs {
                    eprintln!("  {:08x}  {}", i.ip32(), crate::disasm(i));
                }
            }
        }
        self.finish(dump)
    }

    /// The function of the shared exit code `kind` (see `lower::ExitStub`).
    pub fn stub(&mut self, kind: lower::ExitStub, h: Helpers) -> Result<Code, String> {
        let call_conv = self.call_conv();
        self.ctx.clear();
        self.ctx.func.signature = kind.signature();
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
            lower::lower_stub(&mut b, kind, h, call_conv);
            b.finalize(self.isa.frontend_config());
        }
        self.finish(false)
    }

    /// The `extern "C" fn(f, cpu, ctx) -> i32` that calls translation `f` (tail convention).
    pub fn trampoline(&mut self) -> Result<Code, String> {
        let mut sig = Signature::new(self.call_conv());
        for _ in 0..3 {
            sig.params.push(AbiParam::new(types::I64));
        }
        sig.returns.push(AbiParam::new(types::I32));
        self.ctx.clear();
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
            let callee = b.import_signature(lower::region_signature(CallConv::Tail));
            let blk = b.create_block();
            b.append_block_params_for_function_params(blk);
            b.switch_to_block(blk);
            let p = b.block_params(blk).to_vec();
            // The pinned register is the caller's callee-saved register: keep its value.
            let saved = b.ins().get_pinned_reg(types::I64);
            b.ins().set_pinned_reg(p[2]);
            let call = b.ins().call_indirect(callee, p[0], &[p[1], p[2]]);
            let r = b.inst_results(call)[0];
            b.ins().set_pinned_reg(saved);
            b.ins().return_(&[r]);
            b.seal_all_blocks();
            b.finalize(self.isa.frontend_config());
        }
        self.finish(false)
    }

    fn finish(&mut self, dump: bool) -> Result<Code, String> {
        self.ctx.set_disasm(dump);
        let code = self
            .ctx
            .compile(&*self.isa, &mut ControlPlane::default())
            .map_err(|e| {
                if dump {
                    eprintln!("{}", e.func.display());
                }
                format!("{:?}", e.inner)
            })?;
        if !code.buffer.relocs().is_empty() {
            return Err("the code needs relocations".into());
        }
        if dump {
            if let Some(v) = &code.vcode {
                eprintln!("{v}");
            }
        }
        let align = (code.buffer.alignment as u64)
            .max(self.isa.function_alignment().minimum as u64)
            .max(self.isa.symbol_alignment());
        Ok(Code {
            bytes: code.code_buffer().to_vec(),
            align,
        })
    }
}
