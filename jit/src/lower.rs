//! Lowering a region to Cranelift IR: one function `fn(cpu, ctx) -> exit code`.
//!
//! Between guest blocks all guest state is in memory: GPRs and EFLAGS in the CPU state, the
//! lazy flag record and the instruction budget in the context (`Ctx`), whose address is in
//! the pinned register; except into a block with one way in, which continues its
//! predecessor's state (`fuse`). Within a guest block, registers read or written are SSA values
//! (`RegCache`), stored back wherever something outside the block may look (the jump to
//! another block, exits, fault paths, interpreter calls). No value lives across blocks or
//! across a call to the host's C convention, so register allocation stays local and cheap;
//! the exceptions are a block with one way in, which continues its predecessor's values
//! (`fuse`), and a loop (a block that branches to itself, or that blocks fused to it branch
//! back to), which carries its registers around (`enter_self_loop`). Cold-path helpers are called through thunks that
//! preserve every register (`thunks`). The integer instructions that matter are
//! lowered by hand: moves, ALU operations, LEA, MOVZX/MOVSX, PUSH/POP/LEAVE, INC/DEC/NEG/NOT,
//! shifts, multiplies and divides, CBW..CDQ, flag operations, near CALL/RET/JMP and plain
//! MOVS/STOS/LODS (here), SETcc/CMOVcc and branches (`cond`), bit operations and counted
//! shifts (`bits`), exchanges (`exchange`), x87 (`x87`); data accesses inline the segment
//! checks and host TLB (`memory`), with the `h_read`/`h_write` helpers, which do every check
//! of the interpreter, on a miss; a block's accesses relative to its starting ESP or EBP are
//! checked together once, at its start (`stack`). REP string instructions call `h_rep`, which runs the
//! interpreter's batches back to back. Everything else calls the interpreter for that one
//! instruction. A status flag is computed only if a later instruction may observe it: a
//! reader, the end of the block, or an instruction that can fault or calls the interpreter
//! (see `flags`). A RET to a call site of the same region jumps there directly.
//! Every block entry checks the instruction budget (or its predecessor's check covered it:
//! `fuse`), so a region never runs past it. `classify` picks each instruction's lowering;
//! `interp` calls the interpreter for one; `exits` leaves the region or chains on.

use std::collections::HashMap;
use std::mem::offset_of;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, Block, BlockArg, InstBuilder, MemFlagsData, SigRef, Signature, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use iced_x86::{ConditionCode, FlowControl, Instruction, Mnemonic, OpKind, Register};
use ironbox_cpu::state::flags as fl;
use ironbox_cpu::translator::exec_result as xr;
use ironbox_cpu::translator::MODE_FLAT;
use ironbox_cpu::{Cpu, CpuState};

use crate::compiler::Links;
use crate::region::{has_near_target, Region};
use crate::runtime::{Ctx, Helpers, READ_FAULT, WRITE_FAULT, WRITE_HIT_CODE};
mod bits;
mod classify;
mod cond;
mod exchange;
mod exits;
mod flags;
mod fuse;
mod interp;
mod memory;
mod regs;
mod stack;
mod x87;

use classify::*;
pub use exits::{lower_stub, ExitStub};
use flags::{hot_need, live_after, Rec};
pub use flags::{K_ADD, K_LOGIC, K_MUL, K_ROT_L, K_ROT_R, K_SAR, K_SHL, K_SHR, K_SUB};
use regs::{RegCache, SelfLoop};

use crate::jumpcache;
use crate::tlb::{self, HostTlb, TlbSet};

/// Exit codes returned by translated code.
pub const EXIT_NONE: i32 = 0;
pub const EXIT_IO: i32 = 1;
pub const EXIT_SHUTDOWN: i32 = 2;

const S: usize = offset_of!(Cpu, s);
const GPR: i32 = (S + offset_of!(CpuState, gpr)) as i32;
const EIP: i32 = (S + offset_of!(CpuState, eip)) as i32;
const EFLAGS: i32 = (S + offset_of!(CpuState, eflags)) as i32;
const CTX_BUDGET: i32 = offset_of!(Ctx, budget) as i32;
const CTX_CHAIN_MISS: i32 = offset_of!(Ctx, chain_miss) as i32;
const CTX_CPU: i32 = offset_of!(Ctx, cpu) as i32;
const CTX_JC: i32 = offset_of!(Ctx, jc) as i32;
const CTX_LZ: i32 = offset_of!(Ctx, lz) as i32;
pub(crate) const CTX_RET: i32 = offset_of!(Ctx, ret) as i32;
const CS_BASE: i32 = (S
    + offset_of!(CpuState, seg)
    + std::mem::size_of::<ironbox_cpu::Segment>()
    + offset_of!(ironbox_cpu::Segment, base)) as i32;
const CS_LIMIT: i32 = (S
    + offset_of!(CpuState, seg)
    + std::mem::size_of::<ironbox_cpu::Segment>()
    + offset_of!(ironbox_cpu::Segment, limit)) as i32;
const JE_LIN: i32 = offset_of!(jumpcache::JumpEntry, lin) as i32;
const JE_MODE: i32 = offset_of!(jumpcache::JumpEntry, mode) as i32;
const JE_LAST: i32 = offset_of!(jumpcache::JumpEntry, max_last) as i32;
const JE_F: i32 = offset_of!(jumpcache::JumpEntry, f) as i32;
const JE_PHYS: i32 = offset_of!(jumpcache::JumpEntry, phys) as i32;
const JC_PAGE_TAG: i32 = (offset_of!(jumpcache::JumpCache, pages) + 4 * jumpcache::PAGE_TAG) as i32;
const JC_PAGE_PHYS: i32 =
    (offset_of!(jumpcache::JumpCache, pages) + 4 * jumpcache::PAGE_PHYS) as i32;
const CTX_SEG_BASE: i32 = offset_of!(Ctx, seg_base) as i32;
const CTX_SEG_RLIM: i32 = offset_of!(Ctx, seg_rlim) as i32;
const CTX_SEG_WLIM: i32 = offset_of!(Ctx, seg_wlim) as i32;
// (Of the CPL 0-2 set; the CPL 3 set is `TLB_SET` further: `Lower::tlb_set`.)
const TLB_READ: i32 = (offset_of!(Ctx, host_tlb) + offset_of!(TlbSet, read_tag)) as i32;
const TLB_WRITE: i32 = (offset_of!(Ctx, host_tlb) + offset_of!(TlbSet, write_tag)) as i32;
const TLB_ADDEND: i32 = (offset_of!(Ctx, host_tlb) + offset_of!(TlbSet, addend)) as i32;
const TLB_CODE_BITS: i32 = (offset_of!(Ctx, host_tlb) + offset_of!(TlbSet, code_bits)) as i32;
/// The refund bit that makes a path into the fault block leave instead (`write_mem_last`).
const LEAVE_BIT: u32 = 40;
const TLB_SET: i32 = size_of::<TlbSet>() as i32;
const _: () = assert!(offset_of!(HostTlb, sets) == 0);

const STATUS: u32 = fl::STATUS;

/// Function signature of a translation: `(cpu, ctx) -> exit code`.
pub fn region_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

fn helper_sig(call_conv: CallConv, params: &[types::Type], ret: types::Type) -> Signature {
    let mut sig = Signature::new(call_conv);
    for &p in params {
        sig.params.push(AbiParam::new(p));
    }
    sig.returns.push(AbiParam::new(ret));
    sig
}

struct Sigs {
    /// A translation's own signature (tail calls between translations).
    region: SigRef,
    flags: SigRef,
    flags_entry: SigRef,
    read: SigRef,
    write: SigRef,
    group: SigRef,
    exec: SigRef,
    rep: SigRef,
    raise: SigRef,
    /// The shared exit code's functions (`ExitStub`), tail-called.
    stub: [SigRef; 3],
}

/// Options that change the code generated.
#[derive(Clone, Copy, Debug, Default)]
pub struct LowerOptions {
    /// Call the interpreter for every instruction (coverage baseline, debugging).
    pub interp_only: bool,
    /// Every data access through the helpers (no inline host-pointer TLB).
    pub no_inline_memory: bool,
    /// No stack groups (`stack`): each stack access checks alone. For lockstep, whose
    /// recording bus has no host pages: a group there would always leave its block.
    pub no_stack_groups: bool,
}

struct Lower<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    /// Guest registers as cached in the current guest block (see `RegCache`).
    regs: RegCache,
    /// The CPU pointer, loaded once at the head of each guest block.
    cpu: Option<Value>,
    /// The context value at hand in the current guest block (see `ctx`).
    ctxv: Option<Value>,
    sigs: Sigs,
    h: Helpers,
    region: &'a Region,
    heads: HashMap<u32, Block>,
    code32: bool,
    stack32: bool,
    mf: MemFlagsData,
    /// The region runs at CPL 3 (its host-TLB set; the user bit of jump-cache tags).
    user: bool,
    /// The mode key the region is compiled for (chaining only enters the same mode).
    mode: u32,
    inline_memory: bool,
    no_stack_groups: bool,
    /// Shared exits: [without, with] writing the registers back; the shared fault path.
    exits: [Option<Block>; 2],
    fault_blk: Option<Block>,
    /// The current block's back edge to itself, if it keeps registers across it.
    self_loop: Option<SelfLoop>,
    /// Status flags observable after the instruction being lowered (`flags::live_after`).
    live_now: u32,
    /// The last fault stub made in this guest block and what it stores.
    fault_stub: Option<(StubKey, Block)>,
    /// The shared "run one instruction in the interpreter, then leave" path (`interp_exit`).
    interp_blk: Option<Block>,
    /// The lazy record if it was set in the current block (its values are at hand); else
    /// the record is in `Ctx::lz` (op | pending EFLAGS bits << 12, a, b, r; see `Rec::op`).
    known: Option<Rec>,
    /// Status bits that may be pending in the lazy record here.
    maybe_lazy: u32,
    /// The last flag writer of the current block (for conditions straight from operands).
    last_writer: Option<Rec>,
    /// Per guest block: how each instruction is lowered, and the flags it needs exact in
    /// the flags variable when entered.
    kinds: Vec<Vec<Kind>>,
    need: Vec<u32>,
    /// The result of the current instruction's memory write (checked after its flags).
    code_hit: Option<Value>,
    /// Exit-link slots for this region's exits (see `exit_chain`), and how many are used.
    links: Links,
    links_used: u32,
    /// Lowering the region's entry (before its first block: nothing lives across a call).
    at_entry: bool,
    /// Lowering an `ExitStub` (its shared blocks get their code; a region's tail-call it).
    in_stub: bool,
    /// In an exit stub: the exiting region's mode key and user tag (run-time values).
    dyn_mode: Option<(Value, Value)>,
    /// The region has an indirect JMP/CALL, whose exit to a computed EIP may chain.
    indirect_exit: bool,
    /// Which blocks continue their predecessor's state, and how far lowering got (`fuse`).
    fuse: fuse::Fusion,
    /// The current guest block's checked stack-frame groups (`stack`).
    stack: Vec<stack::Active>,
}

/// The compile-time state that two paths out of a branch each start from.
#[derive(Clone, Copy)]
struct BranchState {
    known: Option<Rec>,
    maybe_lazy: u32,
    last_writer: Option<Rec>,
    regs: RegCache,
}

/// The state a shared fault stub stores (see `Lower::fault_exit`).
#[derive(Clone, Copy, PartialEq)]
struct StubKey {
    vals: [Option<Value>; 8],
    lazy: Option<(Rec, u32)>,
}

fn import_sigs(b: &mut FunctionBuilder, h: Helpers, call_conv: CallConv) -> Sigs {
    let i64t = types::I64;
    let i32t = types::I32;
    // The cold-path helpers, through register-preserving thunks when there are (`thunks`).
    let cold = |t| crate::thunks::call_signature(t, h.preserve_all, call_conv);
    Sigs {
        region: b.import_signature(region_signature(CallConv::Tail)),
        read: b.import_signature(cold(crate::thunks::READ)),
        flags: b.import_signature(cold(crate::thunks::FLAGS)),
        flags_entry: b.import_signature(helper_sig(call_conv, &[i64t, i32t, i32t], i32t)),
        write: b.import_signature(cold(crate::thunks::WRITE)),
        group: b.import_signature(cold(crate::thunks::GROUP)),
        exec: b.import_signature(helper_sig(call_conv, &[i64t, i64t, i64t], i32t)),
        rep: b.import_signature(helper_sig(call_conv, &[i64t; 4], i64t)),
        raise: b.import_signature(helper_sig(call_conv, &[i64t, i32t, i64t, i32t], i32t)),
        stub: [ExitStub::Chain, ExitStub::Interp, ExitStub::Fault]
            .map(|k| b.import_signature(k.signature())),
    }
}

/// Emit the IR of `region` into the function `b` builds. `stack32` is SS.B.
pub fn lower_region(
    b: &mut FunctionBuilder,
    region: &Region,
    h: Helpers,
    call_conv: CallConv,
    stack32: bool,
    user: bool,
    mode: u32,
    opts: LowerOptions,
    links: Links,
) {
    let sigs = import_sigs(b, h, call_conv);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    // The context lives in the pinned register for the whole run (see `Lower::ctx`): the
    // trampoline put it there, and tail calls between translations keep it.
    let kinds: Vec<Vec<Kind>> = region
        .blocks
        .iter()
        .map(|g| {
            g.instrs
                .iter()
                .map(|i| {
                    // (A region that crosses pages runs its one instruction afresh.)
                    if opts.interp_only || region.straddles {
                        Kind::Interp
                    } else {
                        match classify(i) {
                            Kind::Str if region.string_quirks => Kind::Interp,
                            k => k,
                        }
                    }
                })
                .collect()
        })
        .collect();
    // Diagnostics: `IRONBOX_JIT_HIST=1` lists every instruction compiled as an interpreter
    // call (`... | sort | uniq -c | sort -rn` gives what to lower next).
    if std::env::var_os("IRONBOX_JIT_HIST").is_some() {
        for (g, k) in region.blocks.iter().zip(&kinds) {
            for (i, k) in g.instrs.iter().zip(k) {
                if matches!(k, Kind::Interp) {
                    eprintln!("jit-interp: {:?} {:?}", i.code(), i.memory_size());
                }
            }
        }
    }
    let need = region
        .blocks
        .iter()
        .zip(&kinds)
        .map(|(g, k)| hot_need(&g.instrs, k))
        .collect();
    let heads = region
        .blocks
        .iter()
        .map(|g| (g.eip, b.create_block()))
        .collect::<HashMap<_, _>>();
    let fusion = fuse::Fusion::new(region, &kinds);
    let mut l = Lower::new(b, region, h, sigs, stack32, user, mode, opts);
    l.heads = heads;
    l.fuse = fusion;
    l.kinds = kinds;
    l.need = need;
    l.links = links;
    l.reload();
    // A translation that chained here may have left its lazy flag record in the context
    // (see `chain`): it stays there; make exact what the first block needs.
    l.maybe_lazy = STATUS;
    l.at_entry = true;
    l.materialize(l.need[region.index[&region.entry_eip]]);
    l.at_entry = false;
    let first = l.heads[&region.entry_eip];
    l.b.ins().jump(first, &[]);
    // A fused block is lowered after its predecessor (from whose state it starts); one
    // whose predecessor never jumped there (unreachable) is lowered as any other.
    for pass in 0..2 {
        for gi in 0..region.blocks.len() {
            if l.fuse.pred[gi].is_some() == (pass == 1) && l.fuse.carried[gi].is_none() {
                l.block(gi);
                while let Some(f) = l.fuse.pending.pop() {
                    l.block(f);
                }
            }
        }
    }
    l.finish_exits();
    l.b.seal_all_blocks();
}

impl<'a, 'b> Lower<'a, 'b> {
    /// A lowering of `region` with nothing emitted yet (no block heads, kinds or links).
    #[allow(clippy::too_many_arguments)]
    fn new(
        b: &'a mut FunctionBuilder<'b>,
        region: &'a Region,
        h: Helpers,
        sigs: Sigs,
        stack32: bool,
        user: bool,
        mode: u32,
        opts: LowerOptions,
    ) -> Self {
        Lower {
            b,
            regs: RegCache::default(),
            cpu: None,
            ctxv: None,
            sigs,
            h,
            region,
            heads: HashMap::new(),
            code32: region.code32,
            stack32,
            mf: MemFlagsData::trusted(),
            user,
            mode,
            inline_memory: !opts.no_inline_memory,
            no_stack_groups: opts.no_stack_groups,
            exits: [None, None],
            fault_blk: None,
            fault_stub: None,
            live_now: STATUS,
            self_loop: None,
            interp_blk: None,
            known: None,
            maybe_lazy: 0,
            last_writer: None,
            kinds: Vec::new(),
            need: Vec::new(),
            code_hit: None,
            links: Links::default(),
            links_used: 0,
            at_entry: false,
            in_stub: false,
            dyn_mode: None,
            indirect_exit: false,
            fuse: fuse::Fusion::default(),
            stack: Vec::new(),
        }
    }
}

impl Lower<'_, '_> {
    /// The context (`Ctx`): in the pinned register, which no register allocation touches, so
    /// it costs no register and no spill anywhere in the region.
    fn ctx(&mut self) -> Value {
        match self.ctxv {
            Some(c) => c,
            None => self.b.ins().get_pinned_reg(types::I64),
        }
    }

    /// The instruction budget left (`Ctx::budget`: kept in memory, so no value lives
    /// across guest blocks).
    fn bud_get(&mut self) -> Value {
        self.ctx_load(types::I64, CTX_BUDGET)
    }

    fn bud_set(&mut self, v: Value) {
        self.ctx_store(v, CTX_BUDGET);
    }

    fn ctx_load(&mut self, ty: types::Type, off: i32) -> Value {
        let c = self.ctx();
        self.b.ins().load(ty, self.mf, c, off)
    }

    fn ctx_store(&mut self, v: Value, off: i32) {
        let c = self.ctx();
        self.b.ins().store(self.mf, v, c, off);
    }

    /// The CPU pointer, loaded from the context where needed (a shorter live range than
    /// the function parameter's).
    fn cpu_ptr(&mut self) -> Value {
        match self.cpu {
            Some(c) => c,
            None => self.ctx_load(types::I64, CTX_CPU),
        }
    }

    /// Call a cold-path helper (`thunks`): its result, from the return register or, through
    /// a thunk, from the context.
    fn call_cold(&mut self, sig: SigRef, f: usize, args: &[Value], ret: types::Type) -> Value {
        let f = self.b.ins().iconst(types::I64, f as i64);
        let call = self.b.ins().call_indirect(sig, f, args);
        if self.h.preserve_all {
            self.ctx_load(ret, CTX_RET)
        } else {
            self.b.inst_results(call)[0]
        }
    }

    /// EFLAGS as kept in the CPU state (the status bits pending in the lazy record are
    /// stale there; see `flags`).
    fn get_flags(&mut self) -> Value {
        let cpu = self.cpu_ptr();
        self.b.ins().load(types::I32, self.mf, cpu, EFLAGS)
    }

    fn set_flags(&mut self, v: Value) {
        let cpu = self.cpu_ptr();
        self.b.ins().store(self.mf, v, cpu, EFLAGS);
    }

    /// The budget as of the start of the instruction `refund` instructions before the end
    /// of the current block (what helpers need to count retired instructions).
    fn budget_at(&mut self, refund: i64) -> Value {
        let bud = self.bud_get();
        self.b.ins().iadd_imm_s(bud, refund + 1)
    }

    fn branch_state(&self) -> BranchState {
        BranchState {
            known: self.known,
            maybe_lazy: self.maybe_lazy,
            last_writer: self.last_writer,
            regs: self.regs,
        }
    }

    fn set_branch_state(&mut self, f: BranchState) {
        self.known = f.known;
        self.maybe_lazy = f.maybe_lazy;
        self.last_writer = f.last_writer;
        self.regs = f.regs;
    }

    fn mask_next(&self, e: u32) -> u32 {
        if self.code32 {
            e
        } else {
            e & 0xFFFF
        }
    }

    fn block(&mut self, gi: usize) {
        let region = self.region;
        let g = &region.blocks[gi];
        let head = self.heads[&g.eip];
        self.b.switch_to_block(head);
        self.self_loop = None;
        self.fuse.current = gi;
        let fused = self.fuse.carried[gi].is_some();
        if let Some(c) = self.fuse.carried[gi].clone() {
            // Fused: everything as the predecessor left it (see `fuse`).
            self.enter_fused(c);
        } else {
            // The lazy record is in the context here (see `goto`), the registers in the
            // state; the context and CPU pointers are taken afresh as after a call.
            self.fuse.fresh[gi] = true;
            self.regs = RegCache::default();
            self.after_call();
            self.known = None;
            self.last_writer = None;
            self.maybe_lazy = STATUS & !self.need[gi];
            let body = self.loop_body(gi);
            let blocks: Vec<_> = body
                .iter()
                .map(|&b| (&region.blocks[b], self.kinds[b].as_slice()))
                .collect();
            if let Some((reads, writes)) = loop_registers(&blocks) {
                self.enter_self_loop(&body, reads, writes);
            }
        }
        let n = g.instrs.len();
        // Budget: the whole block must fit, and any blocks fused to it, else leave before
        // it. (A fused block's predecessor checked for it.)
        let bud = self.bud_get();
        if !fused || !self.fuse.covered[gi] {
            let need = self.fuse.need[gi];
            let short = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, bud, need);
            let out = self.b.create_block();
            let cont = self.b.create_block();
            self.b.ins().brif(short, out, &[], cont, &[]);
            self.b.switch_to_block(out);
            self.leave_before(g.eip);
            self.b.switch_to_block(cont);
        }
        self.enter_stack_groups(gi);
        let bud = self.b.ins().iadd_imm_s(bud, -(n as i64));
        self.bud_set(bud);

        let kinds = self.kinds[gi].clone();
        let live = live_after(&g.instrs, &kinds);
        let mut k = 0;
        while k < n {
            let i = &g.instrs[k];
            self.live_now = live[k];
            let refund = (n - k - 1) as i64;
            let last = k + 1 == n;
            if kinds[k] == Kind::X87 {
                let run = x87::run_len(&g.instrs[k..]);
                if run > 0 && kinds[k..k + run].iter().all(|&c| c == Kind::X87) {
                    self.x87_run(&g.instrs[k..k + run], refund);
                    k += run;
                    continue;
                }
            }
            let kind = kinds[k];
            k += 1;
            match kind {
                Kind::Interp => {
                    // (The interpreter may change translations: accesses after it check.)
                    self.stack.clear();
                    self.interp(i, refund, last);
                    if last {
                        return;
                    }
                }
                Kind::CallRel | Kind::RetNear | Kind::JmpInd | Kind::CallInd => {
                    self.call_ret(i, kind, refund);
                    return;
                }
                Kind::Branch => {
                    self.branch(i);
                    return;
                }
                Kind::Loop => {
                    self.loop_branch(i);
                    return;
                }
                kind => {
                    self.lowered(i, kind, refund);
                    // A write that hit translated code ends the region after the instruction.
                    if let Some(r) = self.code_hit.take() {
                        self.leave_if_code_hit(i, r, refund);
                    }
                }
            }
        }
        let nx = g.next_eip(self.code32);
        self.goto(nx);
    }

    /// Leave the region from the current block for the guest block at `eip`, which has not
    /// started (its budget check, its stack groups). Code only: the compile-time state goes on
    /// into the block unchanged.
    pub(super) fn leave_before(&mut self, eip: u32) {
        let st = self.branch_state();
        self.exit_const(Some(eip), EXIT_NONE, 0);
        self.set_branch_state(st);
    }

    /// Near CALL rel / RET: the stack work inline; a target beyond the CS limit goes to the
    /// interpreter (which raises #GP exactly). Always the last instruction of its block.
    fn call_ret(&mut self, i: &Instruction, kind: Kind, refund: i64) {
        use iced_x86::Code;
        // The size of the return address (RET imm16 also releases imm16 bytes).
        let size = match i.code() {
            Code::Retnw
            | Code::Retnw_imm16
            | Code::Call_rel16
            | Code::Jmp_rm16
            | Code::Call_rm16 => 2,
            _ => 4,
        };
        let cpu = self.cpu_ptr();
        let limit = self.b.ins().load(types::I32, self.mf, cpu, CS_LIMIT);
        let ok = self.b.create_block();
        let bad = self.b.create_block();
        self.b.set_cold_block(bad);
        // (The `bad` path starts from the state here, whatever the `ok` path does to it.)
        let before = self.branch_state();
        if matches!(kind, Kind::JmpInd | Kind::CallInd) {
            let t = self.read_op(i, 0, size, false, refund);
            let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, t, limit);
            self.b.ins().brif(fits, ok, &[], bad, &[]);
            self.b.switch_to_block(ok);
            if kind == Kind::CallInd {
                let r = self.push_return_address(i, size, refund);
                // A push onto translated code (not one of a stack group): leave through the
                // dispatcher.
                if self.const_of(r) != Some(0) {
                    let hit = self.b.ins().band_imm_s(r, WRITE_HIT_CODE as i64);
                    let out = self.b.create_block();
                    let go = self.b.create_block();
                    self.b.ins().brif(hit, out, &[], go, &[]);
                    self.b.switch_to_block(out);
                    self.exit_value(t, false);
                    self.b.switch_to_block(go);
                }
            }
            self.exit_value(t, true);
            self.indirect_exit = true;
        } else if kind == Kind::CallRel {
            let target = i.near_branch_target() as u32;
            let fits =
                self.b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, limit, target as i64);
            self.b.ins().brif(fits, ok, &[], bad, &[]);
            self.b.switch_to_block(ok);
            let r = self.push_return_address(i, size, refund);
            // A push onto translated code: leave after the instruction.
            self.leave_if_code_hit_to(r, refund, target);
            self.check_foreign(target);
            self.goto(target);
        } else {
            let extra = if i.op_count() > 0 {
                i.immediate16() as i64
            } else {
                0
            }; // RET imm16
            let sp = self.sp();
            let v = self.read_mem(i, SS, sp, size, false, refund);
            let v = self.mask_to(v, size);
            let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, v, limit);
            self.b.ins().brif(fits, ok, &[], bad, &[]);
            self.b.switch_to_block(ok);
            let nsp = self.plus_const(sp, size as i64 + extra.max(0));
            self.set_sp(nsp);
            // Returns to a call site of this region stay in it.
            for c in self.return_sites() {
                let hit = self.b.ins().icmp_imm_s(IntCC::Equal, v, c as i64);
                let yes = self.b.create_block();
                let no = self.b.create_block();
                self.b.ins().brif(hit, yes, &[], no, &[]);
                self.b.switch_to_block(yes);
                let st = self.branch_state();
                self.goto(c);
                self.set_branch_state(st);
                self.b.switch_to_block(no);
            }
            self.exit_value(v, true);
        }
        self.set_branch_state(before);
        self.b.switch_to_block(bad);
        self.interp_exit(i, refund);
    }

    /// The addresses after this region's CALLs that are blocks of the region (where its
    /// RETs most likely go), at most `MAX_RETURN_SITES`. For the RET of a leaf function the
    /// region took in from another page (`region::Foreign`), the addresses after the CALLs
    /// of it, blocks of the region or not (an exit to a fixed address is linked).
    fn return_sites(&self) -> Vec<u32> {
        const MAX_RETURN_SITES: usize = 4;
        let here = self.region.blocks[self.fuse.current].eip;
        let leaf = self.region.foreign.iter().any(|f| f.eip == here);
        let mut out = Vec::new();
        for (g, ks) in self.region.blocks.iter().zip(&self.kinds) {
            if let (Some(i), Some(Kind::CallRel | Kind::CallInd)) = (g.instrs.last(), ks.last()) {
                let c = self.mask_next(i.next_ip32());
                let site = if leaf {
                    has_near_target(i) && i.near_branch_target() as u32 == here
                } else {
                    self.heads.contains_key(&c)
                };
                if site && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out.truncate(MAX_RETURN_SITES);
        out
    }

    /// Leave for the EIP `v` (computed), chaining to its translation if cached.
    /// (`chain`: and enter its translation directly if the jump cache has one.)
    fn exit_value(&mut self, v: Value, chain: bool) {
        self.flush_lazy();
        self.sync_regs();
        let slot = if chain { self.link_slot() } else { None };
        if let Some(slot) = slot {
            self.try_link(slot, v, exits::LinkTo::Computed);
        }
        let blk = self.exit_block(true);
        let set = self.b.ins().iconst(types::I32, 1 | (chain as i64) << 1);
        let code = self.b.ins().iconst(types::I32, EXIT_NONE as i64);
        let rf = self.b.ins().iconst(types::I64, 0);
        let link = self.b.ins().iconst(types::I64, slot.unwrap_or(0) as i64);
        let args = [v, set, code, rf, link].map(BlockArg::Value);
        self.b.ins().jump(blk, &args);
    }

    /// Push `v` (`size` bytes) on the stack; returns the write's result (see `write_mem`).
    fn push(&mut self, i: &Instruction, v: Value, size: u32, refund: i64) -> Value {
        let sp = self.sp();
        let nsp = self.plus_const(sp, -(size as i64));
        let nsp = if self.stack32 {
            nsp
        } else {
            self.mask_to(nsp, 2)
        };
        let r = self.write_mem(i, SS, nsp, size, v, refund);
        self.set_sp(nsp);
        r
    }

    /// CALL's push of the address of the next instruction.
    fn push_return_address(&mut self, i: &Instruction, size: u32, refund: i64) -> Value {
        let ret = self.mask_next(i.next_ip32());
        let v = self.b.ins().iconst(types::I32, ret as i64);
        self.push(i, v, size, refund)
    }

    /// `v` masked to `size` bytes (no-op for 4).
    fn mask_to(&mut self, v: Value, size: u32) -> Value {
        if size == 4 {
            v
        } else {
            self.b.ins().band_imm_s(v, mask(size) as i64)
        }
    }

    /// The region's shared fault block (parameters: EIP, refund, budget at the instruction),
    /// emitted by `finish_exits`.
    fn fault_block(&mut self) -> Block {
        if let Some(b) = self.fault_blk {
            return b;
        }
        let b = self.b.create_block();
        for t in [types::I32, types::I64, types::I64] {
            self.b.append_block_param(b, t);
        }
        self.b.set_cold_block(b);
        self.fault_blk = Some(b);
        b
    }

    // ---- registers -------------------------------------------------------------------------

    fn get_reg(&mut self, r: Register) -> Value {
        let (n, hi) = gpr_index(r).expect("lowered registers are GPRs");
        let v = self.gpr_get(n);
        match (r.size(), hi) {
            (4, _) => v,
            (2, _) => self.b.ins().band_imm_s(v, 0xFFFF),
            (_, false) => self.b.ins().band_imm_s(v, 0xFF),
            (_, true) => {
                let s = self.b.ins().ushr_imm_s(v, 8);
                self.b.ins().band_imm_s(s, 0xFF)
            }
        }
    }

    fn set_reg(&mut self, r: Register, v: Value) {
        let (n, hi) = gpr_index(r).expect("lowered registers are GPRs");
        let new = match (r.size(), hi) {
            (4, _) => v,
            (2, _) => {
                let old = self.gpr_get(n);
                let old = self.b.ins().band_imm_s(old, 0xFFFF_0000u32 as i32 as i64);
                let v = self.b.ins().band_imm_s(v, 0xFFFF);
                self.b.ins().bor(old, v)
            }
            (_, false) => {
                let old = self.gpr_get(n);
                let old = self.b.ins().band_imm_s(old, !0xFFi64);
                let v = self.b.ins().band_imm_s(v, 0xFF);
                self.b.ins().bor(old, v)
            }
            (_, true) => {
                let old = self.gpr_get(n);
                let old = self.b.ins().band_imm_s(old, !0xFF00i64);
                let v = self.b.ins().band_imm_s(v, 0xFF);
                let v = self.b.ins().ishl_imm_s(v, 8);
                self.b.ins().bor(old, v)
            }
        };
        self.gpr_set(n, new);
    }

    // ---- memory ----------------------------------------------------------------------------

    /// Effective address (offset in the segment) of the memory operand. The displacement is
    /// added last, so that `plus_const` can fold what is added to the address later into it.
    fn ea(&mut self, i: &Instruction) -> Value {
        let disp = i.memory_displacement32() as i32 as i64;
        let mut sum: Option<Value> = None;
        let base = i.memory_base();
        if base != Register::None {
            let (n, _) = gpr_index(base).unwrap();
            sum = Some(self.gpr_get(n));
        }
        let idx = i.memory_index();
        if idx != Register::None {
            let (n, _) = gpr_index(idx).unwrap();
            let v = self.gpr_get(n);
            let sh = i.memory_index_scale().trailing_zeros() as i64;
            let v = if sh > 0 {
                self.b.ins().ishl_imm_s(v, sh)
            } else {
                v
            };
            sum = Some(match sum {
                Some(s) => self.b.ins().iadd(s, v),
                None => v,
            });
        }
        let a = match sum {
            Some(s) if disp == 0 => s,
            Some(s) => self.b.ins().iadd_imm_s(s, disp),
            None => self.b.ins().iconst(types::I32, disp),
        };
        if addr32(i) {
            a
        } else {
            self.b.ins().band_imm_s(a, 0xFFFF)
        }
    }

    /// `v + c` (32 bits), folding `c` into `v`'s own constant addend if it has one (`x + k`
    /// becomes `x + (k + c)`: one host instruction, not two, as the code is not optimized).
    fn plus_const(&mut self, v: Value, c: i64) -> Value {
        if c == 0 {
            return v;
        }
        if let Some((x, k)) = self.split_const(v) {
            let sum = k.wrapping_add(c as i32);
            return self.b.ins().iadd_imm_s(x, sum as i64);
        }
        self.b.ins().iadd_imm_s(v, c as i32 as i64)
    }

    /// `v` as `x + k` if an addition (or subtraction) of a constant made it (the constant as
    /// 32 bits).
    fn split_const(&self, v: Value) -> Option<(Value, i32)> {
        use cranelift_codegen::ir::{InstructionData, Opcode, ValueDef};
        let dfg = &self.b.func.dfg;
        let ValueDef::Result(inst, 0) = dfg.value_def(v) else {
            return None;
        };
        let InstructionData::Binary {
            opcode,
            args: [x, k],
        } = dfg.insts[inst]
        else {
            return None;
        };
        let k = self.const_of(k)? as i32;
        match opcode {
            Opcode::Iadd => Some((x, k)),
            Opcode::Isub => Some((x, k.wrapping_neg())),
            _ => None,
        }
    }

    /// The constant `v` is, if an `iconst` made it.
    fn const_of(&self, v: Value) -> Option<i64> {
        use cranelift_codegen::ir::{InstructionData, Opcode, ValueDef};
        let dfg = &self.b.func.dfg;
        let ValueDef::Result(inst, 0) = dfg.value_def(v) else {
            return None;
        };
        let InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } = dfg.insts[inst]
        else {
            return None;
        };
        Some(imm.bits())
    }

    /// The fault path of instruction `i`: registers as at its start, deliver, leave.
    fn fault_exit(&mut self, i: &Instruction, refund: i64) {
        let (stub, args) = self.fault_target(i, refund);
        self.b.ins().jump(stub, &args);
    }

    /// The block (and its arguments) that leaves through the fault path of `i` (see
    /// `fault_exit`), for a branch that goes there itself.
    fn fault_target(&mut self, i: &Instruction, refund: i64) -> (Block, [BlockArg; 2]) {
        let fb = self.fault_block();
        // Fault paths with the same registers and lazy record to store share one stub that
        // stores them (a block has many accesses and few changes in between).
        let key = self.stub_key();
        let stub = match self.fault_stub {
            Some((k, b)) if k == key => b,
            _ => {
                let b = self.b.create_block();
                let eip = self.b.append_block_param(b, types::I32);
                let rf = self.b.append_block_param(b, types::I64);
                self.b.set_cold_block(b);
                let here = self.b.current_block().expect("lowering is in a block");
                self.b.switch_to_block(b);
                self.flush_lazy();
                self.sync_regs();
                let bud = self.bud_get();
                let bk = self.b.ins().iadd(bud, rf);
                let bk = self.b.ins().iadd_imm_s(bk, 1);
                let args = [eip, rf, bk].map(BlockArg::Value);
                self.b.ins().jump(fb, &args);
                self.b.switch_to_block(here);
                self.fault_stub = Some((key, b));
                b
            }
        };
        let eip = self.b.ins().iconst(types::I32, i.ip32() as i64);
        let rf = self.b.ins().iconst(types::I64, refund);
        (stub, [BlockArg::Value(eip), BlockArg::Value(rf)])
    }

    /// What a fault path stores: the written registers and the lazy record if only known here.
    fn stub_key(&self) -> StubKey {
        let mut vals = [None; 8];
        for (r, v) in vals.iter_mut().enumerate() {
            if self.regs.dirty & 1 << r != 0 {
                *v = self.regs.vals[r];
            }
        }
        StubKey {
            vals,
            lazy: self.known.map(|r| (r, self.maybe_lazy)),
        }
    }

    // ---- operands --------------------------------------------------------------------------

    fn imm(&mut self, i: &Instruction, n: u32, size: u32) -> Value {
        let v = i.immediate(n) as u32 & mask(size);
        self.b.ins().iconst(types::I32, v as i64)
    }

    /// Read operand `n` (register, immediate or memory) of `size` bytes, zero-extended.
    fn read_op(&mut self, i: &Instruction, n: u32, size: u32, rmw: bool, refund: i64) -> Value {
        match i.op_kind(n) {
            OpKind::Register => self.get_reg(i.op_register(n)),
            OpKind::Memory => {
                let off = self.ea(i);
                let seg = seg_index(i.memory_segment());
                self.read_mem(i, seg, off, size, rmw, refund)
            }
            _ => self.imm(i, n, size),
        }
    }

    // ---- flags -----------------------------------------------------------------------------

    // ---- instructions ----------------------------------------------------------------------

    fn lowered(&mut self, i: &Instruction, kind: Kind, refund: i64) {
        let m = i.mnemonic();
        match kind {
            Kind::Nop => {}
            Kind::Mov => {
                let size = op_size(i, 0);
                let v = self.read_op(i, 1, size, false, refund);
                if i.op0_kind() == OpKind::Memory {
                    let off = self.ea(i);
                    let seg = seg_index(i.memory_segment());
                    self.write_mem_last(i, seg, off, size, v, refund);
                } else {
                    self.write_op0(i, v, size, refund);
                }
            }
            Kind::Alu => {
                let size = op_size(i, 0);
                let b = self.read_op(i, 1, size, false, refund);
                let a = self.read_op(i, 0, size, true, refund);
                let (r, rec) = self.alu_op(m, a, b, size);
                // Flags change only once nothing can fault any more.
                self.write_op0(i, r, size, refund);
                self.write_flags(rec);
            }
            Kind::Cmp => {
                let size = op_size(i, 0);
                let a = self.read_op(i, 0, size, false, refund);
                let b = self.read_op(i, 1, size, false, refund);
                let (_, rec) = self.alu_op(m, a, b, size);
                self.write_flags(rec);
            }
            Kind::IncDec => {
                let size = op_size(i, 0);
                let a = self.read_op(i, 0, size, true, refund);
                let one = self.b.ins().iconst(types::I32, 1);
                let w = STATUS & !fl::CF;
                let (r, rec) = if m == Mnemonic::Inc {
                    self.add(a, one, None, size, w)
                } else {
                    self.sub(a, one, None, size, w)
                };
                self.write_op0(i, r, size, refund);
                self.write_flags(rec);
            }
            Kind::Neg => {
                let size = op_size(i, 0);
                let a = self.read_op(i, 0, size, true, refund);
                let zero = self.b.ins().iconst(types::I32, 0);
                let (r, rec) = self.sub(zero, a, None, size, STATUS);
                self.write_op0(i, r, size, refund);
                self.write_flags(rec);
            }
            Kind::Not => {
                let size = op_size(i, 0);
                let a = self.read_op(i, 0, size, true, refund);
                let r = self.b.ins().bnot(a);
                let r = self.b.ins().band_imm_s(r, mask(size) as i32 as i64);
                self.write_op0(i, r, size, refund);
            }
            Kind::Lea => {
                let a = self.ea(i);
                self.set_reg(i.op0_register(), a);
            }
            Kind::Movx => {
                let ssize = op_size(i, 1);
                let v = self.read_op(i, 1, ssize, false, refund);
                let v = if m == Mnemonic::Movsx {
                    let t = if ssize == 1 { types::I8 } else { types::I16 };
                    let n = self.b.ins().ireduce(t, v);
                    self.b.ins().sextend(types::I32, n)
                } else {
                    v
                };
                self.set_reg(i.op0_register(), v);
            }
            Kind::Xchg => self.xchg(i, refund),
            Kind::Xadd => self.xadd(i, refund),
            Kind::Cmpxchg => self.cmpxchg(i, refund),
            Kind::Cmpxchg8b => self.cmpxchg8b(i, refund),
            Kind::Setcc => self.setcc(i, refund),
            Kind::Cmov => self.cmov(i, refund),
            Kind::ShiftVar => self.shift_var(i, refund),
            Kind::DoubleShift => self.double_shift(i, refund),
            Kind::BitTest => self.bit_test(i, refund),
            Kind::BitScan => self.bit_scan(i, refund),
            Kind::Bswap => self.bswap(i),
            Kind::Leave => {
                // ESP = EBP, then pop EBP (SP/BP in a 16-bit stack or with 16-bit operands).
                let size = if i.code() == iced_x86::Code::Leaved {
                    4
                } else {
                    2
                };
                let bp = self.gpr_get(5);
                let bp = if self.stack32 {
                    bp
                } else {
                    self.mask_to(bp, 2)
                };
                let v = self.read_mem(i, SS, bp, size, false, refund);
                let nsp = self.b.ins().iadd_imm_s(bp, size as i64);
                self.set_sp(nsp);
                let r = if size == 4 {
                    Register::EBP
                } else {
                    Register::BP
                };
                self.set_reg(r, v);
            }
            Kind::Convert => {
                let eax = self.gpr_get(0);
                // sign-extend the low `from` bits of EAX into `to`
                let (from, to) = match m {
                    Mnemonic::Cbw => (8, Register::AX),
                    Mnemonic::Cwde => (16, Register::EAX),
                    Mnemonic::Cwd => (16, Register::DX),
                    _ => (32, Register::EDX),
                };
                let up = self.b.ins().ishl_imm_s(eax, 32 - from);
                let down = if matches!(m, Mnemonic::Cbw | Mnemonic::Cwde) {
                    32 - from
                } else {
                    31
                };
                let v = self.b.ins().sshr_imm_s(up, down);
                self.set_reg(to, v);
            }
            Kind::FlagOp => {
                let f = self.get_flags();
                match m {
                    Mnemonic::Cld => {
                        let nf = self.b.ins().band_imm_s(f, !(fl::DF as i64));
                        self.set_flags(nf);
                    }
                    Mnemonic::Std => {
                        let nf = self.b.ins().bor_imm_s(f, fl::DF as i64);
                        self.set_flags(nf);
                    }
                    Mnemonic::Clc => {
                        let v = self.b.ins().iconst(types::I32, 0);
                        self.set_bits(fl::CF, v);
                    }
                    Mnemonic::Stc => {
                        let v = self.b.ins().iconst(types::I32, 1);
                        self.set_bits(fl::CF, v);
                    }
                    Mnemonic::Sahf | Mnemonic::Lahf => {
                        const LOW: u32 = fl::SF | fl::ZF | fl::AF | fl::PF | fl::CF;
                        if m == Mnemonic::Lahf {
                            self.materialize(LOW);
                            let f = self.get_flags();
                            // AH = SF ZF 0 AF 0 PF 1 CF
                            let v = self.b.ins().band_imm_s(f, LOW as i64);
                            let v = self.b.ins().bor_imm_s(v, 2);
                            self.set_reg(Register::AH, v);
                        } else {
                            let ah = self.get_reg(Register::AH);
                            let ah = self.b.ins().band_imm_s(ah, LOW as i64);
                            self.set_bits(LOW, ah);
                        }
                    }
                    _ => {
                        let c = self.carry_in();
                        let v = self.b.ins().bxor_imm_s(c, 1);
                        self.set_bits(fl::CF, v);
                    }
                }
            }
            Kind::Push => {
                let size = i.stack_pointer_increment().unsigned_abs();
                let v = self.read_op(i, 0, size, false, refund);
                let r = self.push(i, v, size, refund);
                self.code_hit = Some(r);
            }
            Kind::Str => self.string_op(i, refund),
            Kind::Pop => {
                let size = i.stack_pointer_increment().unsigned_abs();
                let sp = self.sp();
                let v = self.read_mem(i, SS, sp, size, false, refund);
                let nsp = self.plus_const(sp, size as i64);
                self.set_sp(nsp);
                self.set_reg(i.op0_register(), v);
            }
            Kind::Shift => {
                let size = op_size(i, 0);
                let c = i.immediate(1) as u32 & 0x1F;
                let a = self.read_op(i, 0, size, true, refund);
                let (r, rec) = self.shift(m, a, c, size);
                self.write_op0(i, r, size, refund);
                self.write_flags(rec);
            }
            Kind::MulWide => {
                let src = self.read_op(i, 0, 4, false, refund);
                let eax = self.gpr_get(0);
                let (a64, b64) = if m == Mnemonic::Imul {
                    (
                        self.b.ins().sextend(types::I64, eax),
                        self.b.ins().sextend(types::I64, src),
                    )
                } else {
                    (
                        self.b.ins().uextend(types::I64, eax),
                        self.b.ins().uextend(types::I64, src),
                    )
                };
                let full = self.b.ins().imul(a64, b64);
                let lo = self.b.ins().ireduce(types::I32, full);
                let hi64 = self.b.ins().ushr_imm_s(full, 32);
                let hi = self.b.ins().ireduce(types::I32, hi64);
                // CF = OF: the high half is not just the extension of the low half.
                let ext = if m == Mnemonic::Imul {
                    self.b.ins().sextend(types::I64, lo)
                } else {
                    self.b.ins().uextend(types::I64, lo)
                };
                let over = self.b.ins().icmp(IntCC::NotEqual, full, ext);
                let over = self.b.ins().uextend(types::I32, over);
                self.gpr_set(0, lo);
                self.gpr_set(2, hi);
                let rec = self.rec(K_MUL, 4, lo, over, lo, STATUS);
                self.write_flags(rec);
            }
            Kind::Imul => {
                let size = op_size(i, 0);
                let (a, b) = if i.op_count() == 2 {
                    let a = self.read_op(i, 0, size, false, refund);
                    let b = self.read_op(i, 1, size, false, refund);
                    (a, b)
                } else {
                    let a = self.read_op(i, 1, size, false, refund);
                    let b = self.read_op(i, 2, size, false, refund);
                    (a, b)
                };
                let (r, over) = if self.live_now & (fl::OF | fl::CF) == 0 {
                    // Nothing reads the overflow: the low half is the same product.
                    let p = self.b.ins().imul(a, b);
                    (self.mask_to(p, size), self.b.ins().iconst(types::I32, 0))
                } else {
                    let sa = self.sext64(a, size);
                    let sb = self.sext64(b, size);
                    let full = self.b.ins().imul(sa, sb);
                    let r32 = self.b.ins().ireduce(types::I32, full);
                    let r = self.mask_to(r32, size);
                    let back = self.sext64(r, size);
                    let over = self.b.ins().icmp(IntCC::NotEqual, full, back);
                    (r, self.b.ins().uextend(types::I32, over))
                };
                self.set_reg(i.op0_register(), r);
                let rec = self.rec(K_MUL, size, r, over, r, STATUS);
                self.write_flags(rec);
            }
            Kind::Div => {
                let src = self.read_op(i, 0, 4, false, refund);
                let eax = self.gpr_get(0);
                let edx = self.gpr_get(2);
                let lo = self.b.ins().uextend(types::I64, eax);
                let hi = self.b.ins().uextend(types::I64, edx);
                let hi = self.b.ins().ishl_imm_s(hi, 32);
                let n = self.b.ins().bor(hi, lo);
                let ok = self.b.create_block();
                let bad = self.b.create_block();
                let join = self.b.create_block();
                self.b.set_cold_block(bad);
                // Both paths store their registers and the lazy record before they meet
                // again (the other path calls the interpreter).
                self.writeback();
                self.flush_lazy();
                self.known = None;
                self.last_writer = None;
                let saved = self.branch_state();
                let (q, r) = if m == Mnemonic::Div {
                    // No divide error iff EDX < divisor (which also excludes 0).
                    let fits = self.b.ins().icmp(IntCC::UnsignedLessThan, edx, src);
                    self.b.ins().brif(fits, ok, &[], bad, &[]);
                    self.b.switch_to_block(ok);
                    let d = self.b.ins().uextend(types::I64, src);
                    (self.b.ins().udiv(n, d), self.b.ins().urem(n, d))
                } else {
                    let d = self.b.ins().sextend(types::I64, src);
                    let zero = self.b.ins().icmp_imm_s(IntCC::Equal, src, 0);
                    let minus1 = self.b.ins().icmp_imm_s(IntCC::Equal, src, -1);
                    let top = self.b.ins().icmp_imm_s(IntCC::Equal, n, i64::MIN);
                    let ovf = self.b.ins().band(minus1, top);
                    let trap = self.b.ins().bor(zero, ovf);
                    let divide = self.b.create_block();
                    self.b.ins().brif(trap, bad, &[], divide, &[]);
                    self.b.switch_to_block(divide);
                    let q = self.b.ins().sdiv(n, d);
                    let r = self.b.ins().srem(n, d);
                    let q32 = self.b.ins().ireduce(types::I32, q);
                    let back = self.b.ins().sextend(types::I64, q32);
                    let fits = self.b.ins().icmp(IntCC::Equal, back, q);
                    self.b.ins().brif(fits, ok, &[], bad, &[]);
                    self.b.switch_to_block(ok);
                    (q, r)
                };
                let q = self.b.ins().ireduce(types::I32, q);
                let r = self.b.ins().ireduce(types::I32, r);
                self.gpr_set(0, q);
                self.gpr_set(2, r);
                self.writeback();
                let after = self.branch_state();
                self.b.ins().jump(join, &[]);
                // A divide error: the interpreter executes the instruction and raises #DE.
                self.set_branch_state(saved);
                self.b.switch_to_block(bad);
                self.interp(i, refund, false);
                self.b.ins().jump(join, &[]);
                self.set_branch_state(after);
                self.b.switch_to_block(join);
                self.after_call();
                self.reload();
            }
            Kind::X87 => self.x87(i, refund),
            Kind::Interp
            | Kind::Branch
            | Kind::Loop
            | Kind::CallRel
            | Kind::RetNear
            | Kind::JmpInd
            | Kind::CallInd => {
                unreachable!("handled by the block")
            }
        }
    }

    fn sp(&mut self) -> Value {
        let v = self.gpr_get(4);
        if self.stack32 {
            v
        } else {
            self.b.ins().band_imm_s(v, 0xFFFF)
        }
    }

    fn set_sp(&mut self, v: Value) {
        if self.stack32 {
            self.gpr_set(4, v);
        } else {
            self.set_reg(Register::SP, v);
        }
    }

    /// MOVS/STOS/LODS without a repeat prefix: the accesses (a fault leaves the registers
    /// as they were), then SI/DI stepped by the element size, backwards if DF is set.
    fn string_op(&mut self, i: &Instruction, refund: i64) {
        use Mnemonic as M;
        let m = i.mnemonic();
        let size = match m {
            M::Movsb | M::Stosb | M::Lodsb => 1,
            M::Movsw | M::Stosw | M::Lodsw => 2,
            _ => 4,
        };
        let acc = match size {
            1 => Register::AL,
            2 => Register::AX,
            _ => Register::EAX,
        };
        let a32 = (0..i.op_count()).any(|n| {
            matches!(
                i.op_kind(n),
                OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI
            )
        });
        let index = |l: &mut Self, r: usize| {
            let v = l.gpr_get(r);
            if a32 {
                v
            } else {
                l.b.ins().band_imm_s(v, 0xFFFF)
            }
        };
        let (lods, stos) = (
            matches!(m, M::Lodsb | M::Lodsw | M::Lodsd),
            matches!(m, M::Stosb | M::Stosw | M::Stosd),
        );
        let v = if stos {
            self.get_reg(acc)
        } else {
            let si = index(self, 6);
            let seg = seg_index(i.memory_segment());
            self.read_mem(i, seg, si, size, false, refund)
        };
        if !lods {
            let di = index(self, 7);
            let r = self.write_mem(i, 0, di, size, v, refund);
            self.code_hit = Some(r);
        }
        let f = self.get_flags();
        let df = self.b.ins().band_imm_s(f, fl::DF as i64);
        let back = self.b.ins().iconst(types::I32, -(size as i64));
        let fwd = self.b.ins().iconst(types::I32, size as i64);
        let delta = self.b.ins().select(df, back, fwd);
        let step = |l: &mut Self, r: usize| {
            let old = l.gpr_get(r);
            let n = l.b.ins().iadd(old, delta);
            let n = if a32 {
                n
            } else {
                let lo = l.b.ins().band_imm_s(n, 0xFFFF);
                let hi = l.b.ins().band_imm_s(old, -0x1_0000i64);
                l.b.ins().bor(hi, lo)
            };
            l.gpr_set(r, n);
        };
        if !stos {
            step(self, 6);
        }
        if !lods {
            step(self, 7);
        }
        if lods {
            self.set_reg(acc, v);
        }
    }

    fn write_op0(&mut self, i: &Instruction, v: Value, size: u32, refund: i64) {
        match i.op0_kind() {
            OpKind::Register => self.set_reg(i.op0_register(), v),
            _ => {
                let off = self.ea(i);
                let seg = seg_index(i.memory_segment());
                let r = self.write_mem(i, seg, off, size, v, refund);
                self.code_hit = Some(r);
            }
        }
    }
}

const SS: u32 = 2;

/// A branch that cannot change CS or the mode: Jcc, near JMP/CALL (direct or indirect), near
/// RET, LOOPcc, JCXZ.
fn near_branch(i: &Instruction) -> bool {
    use iced_x86::FlowControl as F;
    match i.flow_control() {
        F::ConditionalBranch => true,
        F::UnconditionalBranch | F::Call => has_near_target(i),
        F::IndirectBranch | F::IndirectCall => {
            !matches!(i.op0_kind(), OpKind::FarBranch16 | OpKind::FarBranch32)
                && !i.is_call_far_indirect()
                && !i.is_jmp_far_indirect()
        }
        F::Return => matches!(i.mnemonic(), Mnemonic::Ret),
        _ => false,
    }
}

fn seg_index(r: Register) -> u32 {
    match r {
        Register::ES => 0,
        Register::CS => 1,
        Register::SS => 2,
        Register::DS => 3,
        Register::FS => 4,
        Register::GS => 5,
        _ => 3,
    }
}

fn mask(size: u32) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

fn op_size(i: &Instruction, n: u32) -> u32 {
    match i.op_kind(n) {
        OpKind::Register => i.op_register(n).size() as u32,
        OpKind::Memory => i.memory_size().size() as u32,
        _ => op_size(i, 0),
    }
}

fn addr32(i: &Instruction) -> bool {
    let b = i.memory_base();
    if b != Register::None {
        return b.size() == 4;
    }
    let x = i.memory_index();
    if x != Register::None {
        return x.size() == 4;
    }
    i.memory_displ_size() == 4
}
