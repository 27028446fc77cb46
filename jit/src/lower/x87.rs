//! x87 instructions (`Kind::X87`): a call to `h_x87` (one per instruction class), which runs
//! the interpreter's x87 semantics for the one instruction. Such an instruction reads no
//! general register but its memory operand's base and index and writes none (but AX for
//! FNSTSW AX), nor EFLAGS (`translator::x87_plain`): the written registers are stored
//! before the call and the lazy flags stay pending (in the context). A fault comes back
//! undelivered and leaves through the shared fault path (registers written back, flags
//! settled, then delivered); a write that hit translated code leaves after the instruction.
//! FXCH, FLD ST(i), FST(P) ST(i) and FNSTSW / FSTSW AX are done inline when nothing unusual
//! is pending (`x87_fast`), falling back to the call; register-operand arithmetic and
//! compares first try `h_x87_rr` (no dispatch, no retired-count sync, cannot fault), which
//! declines in the same unusual cases. Consecutive such instructions (and register FADD,
//! FSUB(R), FMUL, FCOM) make a run done inline as one piece (`run`), with those per-instruction
//! forms as its way out.

use super::*;

mod quick;
mod run;
use crate::runtime::{X87_FAULT, X87_LEAVE};
use ironbox_cpu::state::cr0;
pub(super) use run::run_len;

use ironbox_cpu::state::CpuModel;
use ironbox_cpu::x87::{FpuState, F80};

const FPU: usize = S + offset_of!(CpuState, fpu);
const FPU_REGS: i32 = (FPU + offset_of!(FpuState, regs)) as i32;
const FPU_CW: i32 = (FPU + offset_of!(FpuState, cw)) as i32;
const FPU_SW: i32 = (FPU + offset_of!(FpuState, sw)) as i32;
const FPU_TOP: i32 = (FPU + offset_of!(FpuState, top)) as i32;
const FPU_TW: i32 = (FPU + offset_of!(FpuState, tw)) as i32;
const FPU_FOP: i32 = (FPU + offset_of!(FpuState, fop)) as i32;
const FPU_FIP: i32 = (FPU + offset_of!(FpuState, fip)) as i32;
const FPU_FCS: i32 = (FPU + offset_of!(FpuState, fcs)) as i32;
const F80_SE: i32 = offset_of!(F80, se) as i32;
const CR0: i32 = (S + offset_of!(CpuState, cr0)) as i32;
const MODEL: i32 = (S + offset_of!(CpuState, model)) as i32;
const CS_SEL: i32 = (S
    + offset_of!(CpuState, seg)
    + std::mem::size_of::<ironbox_cpu::Segment>()
    + offset_of!(ironbox_cpu::Segment, selector)) as i32;
const _: () = assert!(std::mem::size_of::<F80>() == 16);

/// Register stack operations done inline when nothing unusual is pending (see `x87_fast`).
#[derive(Clone, Copy)]
enum Inline {
    /// FXCH ST(k), k ≠ 0.
    Xch(u32),
    /// FLD ST(k).
    Ld(u32),
    /// FST ST(k) / FSTP ST(k) (pop).
    St(u32, bool),
    /// FNSTSW AX / FSTSW AX (waits: a pending exception takes the helper).
    Stsw(bool),
}

fn inline_op(i: &Instruction) -> Option<Inline> {
    ironbox_cpu::x87::stashed_fop(i)?;
    let st = |r: Register| (r as u32).wrapping_sub(Register::ST0 as u32) & 7;
    let reg = |n: u32| i.op_kind(n) == OpKind::Register;
    match i.mnemonic() {
        Mnemonic::Fxch => {
            let k = match i.op_count() {
                0 => 1,
                1 if reg(0) => st(i.op0_register()),
                2 if reg(1) => st(i.op1_register()),
                _ => return None,
            };
            (k != 0).then_some(Inline::Xch(k))
        }
        Mnemonic::Fld if i.op_count() == 1 && reg(0) => Some(Inline::Ld(st(i.op0_register()))),
        Mnemonic::Fst | Mnemonic::Fstp if i.op_count() == 1 && reg(0) => Some(Inline::St(
            st(i.op0_register()),
            i.mnemonic() == Mnemonic::Fstp,
        )),
        Mnemonic::Fnstsw | Mnemonic::Fstsw if ironbox_cpu::translator::x87_writes_ax(i) => {
            Some(Inline::Stsw(i.mnemonic() == Mnemonic::Fstsw))
        }
        _ => None,
    }
}

impl Lower<'_, '_> {
    /// Inline code unless `bad`: continues in the (hot) inline block; returns the cold
    /// block that takes the helper instead and the block both meet in.
    fn inline_unless(&mut self, bad: Value) -> (Block, Block) {
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        self.b.set_cold_block(slow);
        self.b.ins().brif(bad, slow, &[], fast, &[]);
        self.b.switch_to_block(fast);
        (slow, join)
    }

    /// A register-operand arithmetic or compare (`code`: `x87::rr_code`) through `h_x87_rr`
    /// (no instruction decode, retired count or fault path); if that declines, branches to
    /// the `h_x87` call that follows (the builder is left there). Returns the join block.
    fn x87_fast_rr(&mut self, i: &Instruction, code: u32) -> Block {
        let cpu = self.cpu_ptr();
        let f = self.b.ins().iconst(
            types::I64,
            crate::runtime::h_x87_rr as *const () as usize as i64,
        );
        let c = self.b.ins().iconst(types::I64, code as i64);
        let ip = self.b.ins().iconst(types::I64, i.ip32() as i64);
        let call = self.b.ins().call_indirect(self.sigs.exec, f, &[cpu, c, ip]);
        let res = self.b.inst_results(call)[0];
        self.after_call();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        self.b.set_cold_block(slow);
        self.b.ins().brif(res, join, &[], slow, &[]);
        self.b.switch_to_block(slow);
        join
    }

    /// The tag of the register value (`mant`, `se` as i32): 0 normal, 1 zero, 2 special
    /// (`F80::tag`).
    fn x87_tag(&mut self, mant: Value, se: Value) -> Value {
        let normal = self.x87_normal(mant, se);
        let e = self.b.ins().band_imm_s(se, 0x7FFF);
        let ez = self.b.ins().icmp_imm_s(IntCC::Equal, e, 0);
        let mz = self.b.ins().icmp_imm_s(IntCC::Equal, mant, 0);
        let zero = self.b.ins().band(ez, mz);
        let one = self.b.ins().iconst(types::I32, 1);
        let two = self.b.ins().iconst(types::I32, 2);
        let zero_v = self.b.ins().iconst(types::I32, 0);
        let t = self.b.ins().select(zero, one, two);
        self.b.ins().select(normal, zero_v, t)
    }

    /// Whether the inline forms must leave the instruction to the helper whatever it is (i8):
    /// CR0.EM or TS set, the model has no x87, or (`wait`) an exception is pending in `sw`.
    fn x87_unusual(&mut self, cpu: Value, sw: Value, wait: bool) -> Value {
        let i32t = types::I32;
        let cr0 = self.b.ins().load(i32t, self.mf, cpu, CR0);
        let model = self.b.ins().uload8(i32t, self.mf, cpu, MODEL);
        let mut bad = self.b.ins().band_imm_s(cr0, (cr0::EM | cr0::TS) as i64);
        if wait {
            let es = self.b.ins().band_imm_s(sw, 0x80);
            bad = self.b.ins().bor(bad, es);
        }
        let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, bad, 0);
        let no_fpu = self
            .b
            .ins()
            .icmp_imm_s(IntCC::NotEqual, model, CpuModel::Pentium2 as i64);
        self.b.ins().bor(bad, no_fpu)
    }

    /// The tag word `tw` with physical register `p`'s tag set to `tag` (i32 each).
    fn x87_put_tag(&mut self, tw: Value, p: Value, tag: Value) -> Value {
        let sh = self.b.ins().ishl_imm_s(p, 1);
        let m3 = self.b.ins().iconst(types::I32, 3);
        let clr = self.b.ins().ishl(m3, sh);
        let clr = self.b.ins().bnot(clr);
        let kept = self.b.ins().band(tw, clr);
        let set = self.b.ins().ishl(tag, sh);
        self.b.ins().bor(kept, set)
    }

    /// FIP, FCS and FOP after the instruction at `ip` with opcode `fop` (`exec_x87_class`).
    fn x87_note(&mut self, cpu: Value, ip: u32, fop: u32) {
        let (i32t, mf) = (types::I32, self.mf);
        let ip = self.b.ins().iconst(i32t, ip as i64);
        self.b.ins().store(mf, ip, cpu, FPU_FIP);
        let cs = self.b.ins().uload16(i32t, mf, cpu, CS_SEL);
        self.b.ins().istore16(mf, cs, cpu, FPU_FCS);
        let fop = self.b.ins().iconst(i32t, (fop & 0x7FF) as i64);
        self.b.ins().istore16(mf, fop, cpu, FPU_FOP);
    }

    /// The address of physical register `p` (i32) in the state.
    fn x87_reg_addr(&mut self, cpu: Value, p: Value) -> Value {
        let p64 = self.b.ins().uextend(types::I64, p);
        let off = self.b.ins().ishl_imm_s(p64, 4);
        let a = self.b.ins().iadd(cpu, off);
        self.b.ins().iadd_imm_s(a, FPU_REGS as i64)
    }

    /// FXCH / FLD ST(k) / FST(P) ST(k) inline, exactly as `exec_x87_translated` does them
    /// when CR0.EM/TS are clear, no exception is pending (ES), the registers they read are not
    /// empty (FLD: the one it pushes into is), and the model has an x87: the registers and
    /// their tags (recomputed from the values, as `set_st` does), TOP, C1 cleared, ES/B
    /// recomputed, and FIP/FCS/FOP. Anything else branches to the helper call that follows
    /// (the builder is left there); the returned block joins both.
    fn x87_fast(&mut self, i: &Instruction, op: Inline) -> Block {
        if let Inline::Stsw(wait) = op {
            return self.x87_fast_stsw(wait);
        }
        let i32t = types::I32;
        let mf = self.mf;
        let cpu = self.cpu_ptr();
        let sw = self.b.ins().uload16(i32t, mf, cpu, FPU_SW);
        let top = self.b.ins().uload8(i32t, mf, cpu, FPU_TOP);
        let tw = self.b.ins().uload16(i32t, mf, cpu, FPU_TW);
        let phys = |me: &mut Self, k: u32| {
            let p = me.b.ins().iadd_imm_s(top, k as i64);
            me.b.ins().band_imm_s(p, 7)
        };
        // The value moves from `src` to `dst`; FXCH also moves the old `dst` to `src`.
        let (src, dst) = match op {
            Inline::Xch(k) => (phys(self, k), phys(self, 0)),
            Inline::Ld(k) => (phys(self, k), phys(self, 7)),
            Inline::St(k, _) => (phys(self, 0), phys(self, k)),
            Inline::Stsw(_) => unreachable!(),
        };
        let tag_of = |me: &mut Self, p: Value| {
            let sh = me.b.ins().ishl_imm_s(p, 1);
            let t = me.b.ins().ushr(tw, sh);
            me.b.ins().band_imm_s(t, 3)
        };
        let t_src = tag_of(self, src);
        let unusual = self.x87_unusual(cpu, sw, true);
        let src_empty = self.b.ins().icmp_imm_s(IntCC::Equal, t_src, 3);
        let mut any = self.b.ins().bor(unusual, src_empty);
        match op {
            Inline::Xch(_) | Inline::Ld(_) => {
                let t_dst = tag_of(self, dst);
                let cc = if matches!(op, Inline::Ld(_)) {
                    IntCC::NotEqual // FLD: the slot must be empty (else stack overflow)
                } else {
                    IntCC::Equal
                };
                let d_bad = self.b.ins().icmp_imm_s(cc, t_dst, 3);
                any = self.b.ins().bor(any, d_bad);
            }
            Inline::St(..) | Inline::Stsw(_) => {}
        }
        let (slow, join) = self.inline_unless(any);
        let a_src = self.x87_reg_addr(cpu, src);
        let a_dst = self.x87_reg_addr(cpu, dst);
        let m = self.b.ins().load(types::I64, mf, a_src, 0);
        let se = self.b.ins().uload16(i32t, mf, a_src, F80_SE);
        let old_dst = matches!(op, Inline::Xch(_)).then(|| {
            let m0 = self.b.ins().load(types::I64, mf, a_dst, 0);
            let s0 = self.b.ins().uload16(i32t, mf, a_dst, F80_SE);
            (m0, s0)
        });
        self.b.ins().store(mf, m, a_dst, 0);
        self.b.ins().istore16(mf, se, a_dst, F80_SE);
        let tag = self.x87_tag(m, se);
        let mut ntw = self.x87_put_tag(tw, dst, tag);
        if let Some((m0, s0)) = old_dst {
            self.b.ins().store(mf, m0, a_src, 0);
            self.b.ins().istore16(mf, s0, a_src, F80_SE);
            let tag_0 = self.x87_tag(m0, s0);
            ntw = self.x87_put_tag(ntw, src, tag_0);
        }
        match op {
            Inline::Ld(_) => {
                self.b.ins().istore8(mf, dst, cpu, FPU_TOP);
            }
            Inline::St(_, true) => {
                // Pop: ST(0) (`src`) empty, TOP + 1 (after the store: FSTP ST(0) empties).
                let empty = self.b.ins().iconst(i32t, 3);
                ntw = self.x87_put_tag(ntw, src, empty);
                let nt = phys(self, 1);
                self.b.ins().istore8(mf, nt, cpu, FPU_TOP);
            }
            _ => {}
        }
        self.b.ins().istore16(mf, ntw, cpu, FPU_TW);
        // C1 clear; ES and B from the unmasked exception flags (`ffinish`, `update_es`).
        let cw = self.b.ins().uload16(i32t, mf, cpu, FPU_CW);
        let ncw = self.b.ins().bnot(cw);
        let unm = self.b.ins().band(sw, ncw);
        let unm = self.b.ins().band_imm_s(unm, 0x3F);
        let es_on = self.b.ins().icmp_imm_s(IntCC::NotEqual, unm, 0);
        let es_bits = self.b.ins().iconst(i32t, 0x8080);
        let zero = self.b.ins().iconst(i32t, 0);
        let es = self.b.ins().select(es_on, es_bits, zero);
        let nsw = self.b.ins().band_imm_s(sw, !(0x0200 | 0x8080) as i64);
        let nsw = self.b.ins().bor(nsw, es);
        self.b.ins().istore16(mf, nsw, cpu, FPU_SW);
        let fop = ironbox_cpu::x87::stashed_fop(i).unwrap_or(0);
        self.x87_note(cpu, i.ip32(), fop as u32);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        join
    }

    /// FNSTSW AX / FSTSW AX inline, as `exec_x87_translated` does it when CR0.EM/TS are
    /// clear, the model has an x87 and (FSTSW, which waits) no exception is pending: AX =
    /// the status word with TOP (`FpuState::status`), in the state (the caller reloads).
    /// A control instruction: FIP/FCS/FOP stay. Otherwise branches to the helper call that
    /// follows (the builder is left there); the returned block joins both.
    fn x87_fast_stsw(&mut self, wait: bool) -> Block {
        let i32t = types::I32;
        let mf = self.mf;
        let cpu = self.cpu_ptr();
        let sw = self.b.ins().uload16(i32t, mf, cpu, FPU_SW);
        let any = self.x87_unusual(cpu, sw, wait);
        let (slow, join) = self.inline_unless(any);
        let top = self.b.ins().uload8(i32t, mf, cpu, FPU_TOP);
        let top = self.b.ins().band_imm_s(top, 7);
        let top = self.b.ins().ishl_imm_s(top, 11);
        let st = self.b.ins().band_imm_s(sw, !0x3800i64);
        let st = self.b.ins().bor(st, top);
        self.b.ins().istore16(mf, st, cpu, GPR);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        join
    }

    pub(super) fn x87(&mut self, i: &Instruction, refund: i64) {
        // The helper reads the address registers (and FNSTSW AX writes EAX) in the state,
        // and nothing may live across its call (see `after_call`): the written registers
        // and the lazy record go to memory first (x87 leaves EFLAGS alone, so what is
        // pending stays pending, in the context).
        self.writeback();
        self.flush_lazy();
        self.known = None;
        self.last_writer = None;
        self.x87_one(i, refund);
        // (EAX is read afresh from the state after FNSTSW AX.)
        self.after_call();
        self.reload();
    }

    /// One x87 instruction, the registers and flags already in the state: its inline code
    /// or leaner call if it has one, else the `h_x87` call. Ends in the block after it, with
    /// nothing cached (the caller takes the pointers afresh, `after_call`).
    pub(super) fn x87_one(&mut self, i: &Instruction, refund: i64) {
        let join = match (inline_op(i), ironbox_cpu::x87::rr_code(i)) {
            (Some(op), _) => Some(self.x87_fast(i, op)),
            (None, Some(code)) => Some(self.x87_fast_rr(i, code)),
            _ => None,
        };
        let bk = self.budget_at(refund);
        let ip = self
            .b
            .ins()
            .iconst(types::I64, i as *const Instruction as i64);
        let class = ironbox_cpu::x87::class::of(i.mnemonic());
        let f = self
            .b
            .ins()
            .iconst(types::I64, self.h.x87[class as usize] as i64);
        let cx = self.ctx();
        let call = self.b.ins().call_indirect(self.sigs.exec, f, &[cx, ip, bk]);
        let res = self.b.inst_results(call)[0];
        let slow = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(slow);
        self.b.ins().brif(res, slow, &[], cont, &[]);
        self.b.switch_to_block(slow);
        let fault = self.b.create_block();
        let leave = self.b.create_block();
        self.b.set_cold_block(fault);
        self.b.set_cold_block(leave);
        let f = self.b.ins().band_imm_s(res, X87_FAULT as i64);
        self.b.ins().brif(f, fault, &[], leave, &[]);
        self.b.switch_to_block(fault);
        self.fault_exit(i, refund);
        self.b.switch_to_block(leave);
        debug_assert_eq!(X87_LEAVE & X87_FAULT, 0);
        let nx = self.mask_next(i.next_ip32());
        self.exit_const(Some(nx), EXIT_NONE, refund);
        self.b.switch_to_block(cont);
        if let Some(j) = join {
            self.b.ins().jump(j, &[]);
            self.b.switch_to_block(j);
        }
    }
}
