//! Register-preserving entries to the helpers translated code calls on its cold paths
//! (`h_read`/`h_write` on a host-TLB miss, `h_group`, `h_flags`). Each thunk has Cranelift's
//! `preserve_all` convention and calls the `extern "C"` helper itself, saving whatever the
//! helper may clobber. A call on a cold path then clobbers no register of the translation,
//! so guest registers stay in host registers across it instead of being spilled for the
//! whole region. The thunks live in a module of their own that no cache flush frees.

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, Signature};
use cranelift_codegen::isa::CallConv;
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};

use crate::compiler::host_isa;
use crate::runtime::Helpers;

/// The thunks' module (never freed while the `Jit` lives; its code is a few hundred bytes).
pub struct Thunks {
    _module: JITModule,
}

fn sig(call_conv: CallConv, params: &[types::Type], ret: Option<types::Type>) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    s.returns.extend(ret.map(AbiParam::new));
    s
}

/// A cold-path helper: its `extern "C"` parameters (the context first) and result.
#[derive(Clone, Copy)]
pub struct HelperType {
    pub params: &'static [types::Type],
    pub ret: types::Type,
}

pub const READ: HelperType = HelperType {
    params: &[types::I64, types::I32, types::I32, types::I32],
    ret: types::I64,
};
pub const WRITE: HelperType = HelperType {
    params: &[types::I64, types::I32, types::I32, types::I32, types::I32],
    ret: types::I32,
};
pub const GROUP: HelperType = HelperType {
    params: &[types::I64, types::I32, types::I32, types::I32],
    ret: types::I64,
};
pub const FLAGS: HelperType = HelperType {
    params: &[types::I64, types::I32, types::I32],
    ret: types::I32,
};

/// How translated code calls a cold-path helper: directly with the host's C convention
/// (result in a register), or through its thunk (`preserve_all`, no result; the thunk
/// stores the result in `Ctx::ret`).
pub fn call_signature(t: HelperType, thunk: bool, c_conv: CallConv) -> Signature {
    if thunk {
        sig(CallConv::PreserveAll, t.params, None)
    } else {
        sig(c_conv, t.params, Some(t.ret))
    }
}

impl Thunks {
    /// Build thunks for `h`'s read, write, group and flags helpers and point `h` at them
    /// (`h.preserve_all` tells `lower` which ones are thunks).
    pub fn install(h: &mut Helpers) -> Result<Thunks, String> {
        let isa = host_isa();
        let mut module = JITModule::new(JITBuilder::with_isa(host_isa(), default_libcall_names()));
        let c_conv = isa.default_call_conv();
        let mut ctx = Context::new();
        let mut fbc = FunctionBuilderContext::new();
        let mut make = |target: usize, t: HelperType| {
            ctx.clear();
            // (A `preserve_all` function restores every register it wrote, the return
            // register too: the result goes through the context instead.)
            ctx.func.signature = sig(CallConv::PreserveAll, t.params, None);
            {
                let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
                let callee = b.import_signature(sig(c_conv, t.params, Some(t.ret)));
                let blk = b.create_block();
                b.append_block_params_for_function_params(blk);
                b.switch_to_block(blk);
                let args = b.block_params(blk).to_vec();
                let f = b.ins().iconst(types::I64, target as i64);
                let call = b.ins().call_indirect(callee, f, &args);
                let r = b.inst_results(call)[0];
                b.ins()
                    .store(MemFlagsData::trusted(), r, args[0], crate::lower::CTX_RET);
                b.ins().return_(&[]);
                b.seal_all_blocks();
                b.finalize(isa.frontend_config());
            }
            let code = ctx
                .compile(&*isa, &mut ControlPlane::default())
                .map_err(|e| format!("{:?}", e.inner))?;
            if !code.buffer.relocs().is_empty() {
                return Err("a thunk needs relocations".to_string());
            }
            let align = (code.buffer.alignment as u64)
                .max(isa.function_alignment().minimum as u64)
                .max(isa.symbol_alignment());
            let bytes = code.code_buffer().to_vec();
            let id = module
                .declare_anonymous_function(&ctx.func.signature)
                .map_err(|e| e.to_string())?;
            module
                .define_function_bytes(id, align, &bytes, &[])
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(id)
        };
        let read = make(h.read, READ)?;
        let write = make(h.write, WRITE)?;
        let group = make(h.group, GROUP)?;
        let flags = make(h.flags, FLAGS)?;
        module.finalize_definitions().map_err(|e| e.to_string())?;
        h.read = module.get_finalized_function(read) as usize;
        h.write = module.get_finalized_function(write) as usize;
        h.group = module.get_finalized_function(group) as usize;
        h.flags = module.get_finalized_function(flags) as usize;
        h.preserve_all = true;
        Ok(Thunks { _module: module })
    }
}

/// The shared exit code's functions (`lower::ExitStub`), in a module of their own that no
/// cache flush frees (regions hold their addresses as constants).
pub struct Stubs {
    _module: JITModule,
}

impl Stubs {
    /// Compile the exit stubs for helpers `h` (thunks installed first: the stubs call them)
    /// and point `h.stubs` at them.
    pub fn install(h: &mut Helpers) -> Result<Stubs, String> {
        let mut module = JITModule::new(JITBuilder::with_isa(host_isa(), default_libcall_names()));
        let mut compiler = crate::compiler::Compiler::new();
        let mut ids = Vec::new();
        for kind in crate::lower::ExitStub::ALL {
            let code = compiler.stub(kind, *h)?;
            let id = module
                .declare_anonymous_function(&kind.signature())
                .map_err(|e| e.to_string())?;
            module
                .define_function_bytes(id, code.align, &code.bytes, &[])
                .map_err(|e| e.to_string())?;
            ids.push((kind, id));
        }
        module.finalize_definitions().map_err(|e| e.to_string())?;
        for (kind, id) in ids {
            h.stubs[kind as usize] = module.get_finalized_function(id) as usize;
        }
        Ok(Stubs { _module: module })
    }
}
