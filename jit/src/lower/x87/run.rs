//! A run of consecutive x87 register instructions (FLD ST(i), FXCH, FST(P) ST(i), FNSTSW AX,
//! FADD/FSUB(R)/FMUL and FCOM(P)(P) on registers) done inline as one piece: the register
//! stack is followed at translation time (TOP relative to its value at the run's start), the
//! values stay in SSA values, and the state (registers, tags, TOP, status word, FIP/FCS/FOP) is
//! stored once, at the end. Arithmetic is the interpreter's quick case
//! (`ironbox_cpu::x87::quick`): 64-bit precision, round to nearest, all exceptions masked,
//! normal operands and a result inside the exponent range.
//!
//! The run starts with one check: CR0.EM/TS clear, no pending exception, that control word,
//! the model has an x87, and the registers the run reads before writing are not empty (those
//! it pushes into are). If the check fails the run goes instruction by instruction (the
//! "chain": `x87_one` for each); if an arithmetic case is not the quick one, the state as of
//! before that instruction is stored and the chain goes on from there.

use super::*;

/// One instruction of a run.
#[derive(Clone, Copy)]
enum Op {
    /// A stack move (FXCH, FLD ST(k), FST(P) ST(k)) or FNSTSW AX.
    Move(Inline),
    /// `x87::rr_code`: operation, ST(d) ← ST(d) op ST(s) or compare ST(0) with ST(s), pops.
    Rr(u32),
}

fn op_of(i: &Instruction) -> Option<Op> {
    if let Some(m) = inline_op(i) {
        return Some(Op::Move(m));
    }
    let code = ironbox_cpu::x87::rr_code(i)?;
    // Add, sub, subr, mul and compares (no divisions: they stay calls).
    matches!(code & 7, 0..=3 | ironbox_cpu::x87::rr::CMP).then_some(Op::Rr(code))
}

/// What the run knows about a register slot at translation time.
#[derive(Clone, Copy, PartialEq)]
enum Known {
    /// Not touched yet: as the run's start found it.
    Start,
    Empty,
    Full,
}

/// The stack effect of `op` on slots relative to TOP at the run's start (`off`: TOP's
/// offset now): the slots it reads, the one it pushes into, whether it pops, the slot it
/// writes. (Same for FXCH: both slots are read and written.)
struct Effect {
    reads: Vec<i32>,
    push: bool,
    writes: Vec<i32>,
    pops: u32,
}

fn effect(op: Op) -> Effect {
    let (reads, push, writes, pops) = match op {
        Op::Move(Inline::Xch(k)) => (vec![0, k as i32], false, vec![0, k as i32], 0),
        Op::Move(Inline::Ld(k)) => (vec![k as i32], true, vec![], 0),
        Op::Move(Inline::St(k, pop)) => (vec![0], false, vec![k as i32], pop as u32),
        Op::Move(Inline::Stsw(_)) => (vec![], false, vec![], 0),
        Op::Rr(code) => {
            let (d, s) = (((code >> 4) & 7) as i32, ((code >> 8) & 7) as i32);
            let pops = (code >> 12) & 3;
            if code & 7 == ironbox_cpu::x87::rr::CMP {
                (vec![0, s], false, vec![], pops)
            } else {
                (vec![d, s], false, vec![d], pops)
            }
        }
    };
    Effect {
        reads,
        push,
        writes,
        pops,
    }
}

/// The instructions of `instrs` that make a run from its start (as `op_of`), with the slots
/// that must be full (bit r) and empty at the start. The run stops before an instruction
/// that would underflow or overflow the stack as followed so far.
fn plan(instrs: &[Instruction]) -> (Vec<Op>, u8, u8) {
    let mut known = [Known::Start; 8];
    let (mut full, mut empty) = (0u8, 0u8);
    let mut off = 0i32;
    let mut ops = Vec::new();
    'outer: for i in instrs {
        let Some(op) = op_of(i) else { break };
        let e = effect(op);
        let mut k2 = known;
        let (mut f2, mut e2) = (full, empty);
        for &r in &e.reads {
            let slot = ((off + r) & 7) as usize;
            match k2[slot] {
                Known::Empty => break 'outer,
                Known::Start => {
                    f2 |= 1 << slot;
                    k2[slot] = Known::Full;
                }
                Known::Full => {}
            }
        }
        let mut o2 = off;
        if e.push {
            o2 -= 1;
            let slot = (o2 & 7) as usize;
            match k2[slot] {
                Known::Full => break 'outer,
                Known::Start => e2 |= 1 << slot,
                Known::Empty => {}
            }
            k2[slot] = Known::Full;
        }
        for &r in &e.writes {
            k2[((o2 + r) & 7) as usize] = Known::Full;
        }
        for _ in 0..e.pops {
            k2[(o2 & 7) as usize] = Known::Empty;
            o2 += 1;
        }
        (known, full, empty, off) = (k2, f2, e2, o2);
        ops.push(op);
    }
    (ops, full, empty)
}

/// How many instructions from the start of `instrs` make an x87 run (0: none).
pub(in crate::lower) fn run_len(instrs: &[Instruction]) -> usize {
    plan(instrs).0.len()
}

/// A value in a register slot: significand, sign and exponent (i32), whether it is known
/// to be normal.
#[derive(Clone, Copy)]
struct Val {
    m: Value,
    se: Value,
    normal: bool,
}

/// The run's state at translation time.
#[derive(Clone)]
struct State {
    /// TOP's offset from the start.
    off: i32,
    /// What each slot holds, as far as the run has read or written it (a popped slot keeps
    /// its value, as the registers do).
    vals: [Option<Val>; 8],
    /// Slots the run wrote a value to (stored at the end).
    written: u8,
    /// Slots the run popped and did not write since (empty).
    popped: u8,
    /// Slots whose tag the run changed (written or popped).
    dirty: u8,
    /// The status word (i32).
    sw: Value,
    /// The last instruction that sets FIP/FCS/FOP.
    last: Option<(u32, u32)>,
}

impl State {
    /// The run wrote slot `s` (now full).
    fn wrote(&mut self, s: usize) {
        self.written |= 1 << s;
        self.popped &= !(1 << s);
        self.dirty |= 1 << s;
    }
}

impl Lower<'_, '_> {
    /// The x87 instructions `instrs` (a run: `run_len`), `refund0` the refund of the first.
    pub(in crate::lower) fn x87_run(&mut self, instrs: &[Instruction], refund0: i64) {
        let (ops, full, empty) = plan(instrs);
        debug_assert_eq!(ops.len(), instrs.len());
        self.writeback();
        self.flush_lazy();
        self.known = None;
        self.last_writer = None;
        let i32t = types::I32;
        let mf = self.mf;
        let cpu = self.cpu_ptr();
        let chain: Vec<Block> = instrs.iter().map(|_| self.b.create_block()).collect();
        for &c in &chain {
            self.b.set_cold_block(c);
        }
        let join = self.b.create_block();

        // The check.
        let sw = self.b.ins().uload16(i32t, mf, cpu, FPU_SW);
        let cw = self.b.ins().uload16(i32t, mf, cpu, FPU_CW);
        let top = self.b.ins().uload8(i32t, mf, cpu, FPU_TOP);
        let top = self.b.ins().band_imm_s(top, 7);
        let tw = self.b.ins().uload16(i32t, mf, cpu, FPU_TW);
        let cwq = self.b.ins().band_imm_s(cw, 0x0F3F);
        let mut bad = self.b.ins().bxor_imm_s(cwq, 0x033F);
        // Empty slots, relative to TOP: bit 2r (tag 3 at physical (TOP + r) & 7).
        let e = self.b.ins().ushr_imm_s(tw, 1);
        let e = self.b.ins().band(e, tw);
        let e = self.b.ins().band_imm_s(e, 0x5555);
        let e2 = self.b.ins().ishl_imm_s(e, 16);
        let e = self.b.ins().bor(e, e2);
        let sh = self.b.ins().ishl_imm_s(top, 1);
        let rel = self.b.ins().ushr(e, sh);
        let spread = |m: u8| {
            (0..8)
                .filter(|r| m & 1 << r != 0)
                .map(|r| 1i64 << (2 * r))
                .sum::<i64>()
        };
        let want = self.b.ins().band_imm_s(rel, spread(full) | spread(empty));
        let slots_bad = self.b.ins().bxor_imm_s(want, spread(empty));
        bad = self.b.ins().bor(bad, slots_bad);
        let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, bad, 0);
        let unusual = self.x87_unusual(cpu, sw, true);
        let bad = self.b.ins().bor(bad, unusual);
        let fast = self.b.create_block();
        self.b.ins().brif(bad, chain[0], &[], fast, &[]);
        self.b.switch_to_block(fast);

        let mut st = State {
            off: 0,
            vals: [None; 8],
            written: 0,
            popped: 0,
            dirty: 0,
            sw,
            last: None,
        };
        for (k, (i, &op)) in instrs.iter().zip(&ops).enumerate() {
            self.x87_run_op(i, op, &mut st, cpu, top, tw, chain[k]);
        }
        self.x87_run_store(&st, cpu, top, tw);
        self.b.ins().jump(join, &[]);

        // The chain: one instruction at a time.
        for (k, i) in instrs.iter().enumerate() {
            self.b.switch_to_block(chain[k]);
            // (Entered from the fast path too: nothing cached from the instruction before.)
            self.after_call();
            self.x87_one(i, refund0 - k as i64);
            let next = chain.get(k + 1).copied().unwrap_or(join);
            self.b.ins().jump(next, &[]);
        }
        self.b.switch_to_block(join);
        // (EAX is read afresh from the state after FNSTSW AX.)
        self.after_call();
        self.reload();
    }

    /// The value in slot `slot` (loaded from the state the first time).
    fn x87_run_get(&mut self, st: &mut State, cpu: Value, top: Value, slot: usize) -> Val {
        if let Some(v) = st.vals[slot] {
            return v;
        }
        let a = self.x87_run_addr(cpu, top, slot);
        let m = self.b.ins().load(types::I64, self.mf, a, 0);
        let se = self.b.ins().uload16(types::I32, self.mf, a, F80_SE);
        let v = Val {
            m,
            se,
            normal: false,
        };
        st.vals[slot] = Some(v);
        v
    }

    /// The address of slot `slot` (relative to TOP at the start) in the state.
    fn x87_run_addr(&mut self, cpu: Value, top: Value, slot: usize) -> Value {
        let p = self.b.ins().iadd_imm_s(top, slot as i64);
        let p = self.b.ins().band_imm_s(p, 7);
        self.x87_reg_addr(cpu, p)
    }

    /// Instruction `i` (`op`) of the run, on `st`; `bail`: the chain from this instruction.
    #[allow(clippy::too_many_arguments)]
    fn x87_run_op(
        &mut self,
        i: &Instruction,
        op: Op,
        st: &mut State,
        cpu: Value,
        top: Value,
        tw: Value,
        bail: Block,
    ) {
        let slot = |st: &State, k: u32| ((st.off + k as i32) & 7) as usize;
        let fop = ironbox_cpu::x87::stashed_fop(i).unwrap_or(0) & 0x7FF;
        match op {
            Op::Move(Inline::Stsw(_)) => {
                // AX = the status word with TOP (a control instruction: FIP/FOP stay).
                let t = self.b.ins().iadd_imm_s(top, st.off as i64);
                let t = self.b.ins().band_imm_s(t, 7);
                let t = self.b.ins().ishl_imm_s(t, 11);
                let s = self.b.ins().band_imm_s(st.sw, !0x3800i64);
                let s = self.b.ins().bor(s, t);
                self.b.ins().istore16(self.mf, s, cpu, GPR);
                return;
            }
            Op::Move(m) => {
                match m {
                    Inline::Xch(k) => {
                        let (a, b) = (slot(st, 0), slot(st, k));
                        let va = self.x87_run_get(st, cpu, top, a);
                        let vb = self.x87_run_get(st, cpu, top, b);
                        st.vals[a] = Some(vb);
                        st.vals[b] = Some(va);
                        st.wrote(a);
                        st.wrote(b);
                    }
                    Inline::Ld(k) => {
                        let v = self.x87_run_get(st, cpu, top, slot(st, k));
                        st.off -= 1;
                        let d = slot(st, 0);
                        st.vals[d] = Some(v);
                        st.wrote(d);
                    }
                    Inline::St(k, pop) => {
                        let v = self.x87_run_get(st, cpu, top, slot(st, 0));
                        let d = slot(st, k);
                        st.vals[d] = Some(v);
                        st.wrote(d);
                        if pop {
                            self.x87_run_pop(st);
                        }
                    }
                    Inline::Stsw(_) => unreachable!(),
                }
                // C1 clear; ES and B clear (every exception masked).
                st.sw = self.b.ins().band_imm_s(st.sw, !(0x0200 | 0x8080) as i64);
            }
            Op::Rr(code) => {
                let (d, s) = ((code >> 4) & 7, (code >> 8) & 7);
                let pops = (code >> 12) & 3;
                let (sd, ss) = (slot(st, d), slot(st, s));
                let a = self.x87_run_get(st, cpu, top, sd);
                let b = self.x87_run_get(st, cpu, top, ss);
                let mut fail = self.b.ins().iconst(types::I8, 0);
                for v in [a, b] {
                    if !v.normal {
                        let n = self.x87_normal(v.m, v.se);
                        let not = self.b.ins().bxor_imm_s(n, 1);
                        fail = self.b.ins().bor(fail, not);
                    }
                }
                let (a, b) = (Val { normal: true, ..a }, Val { normal: true, ..b });
                if code & 7 == ironbox_cpu::x87::rr::CMP {
                    self.x87_run_bail(fail, st, cpu, top, tw, bail);
                    let (eq, less) = self.x87_cmp(a.m, a.se, b.m, b.se);
                    let c3 = self.b.ins().uextend(types::I32, eq);
                    let c3 = self.b.ins().ishl_imm_s(c3, 14);
                    let c0 = self.b.ins().uextend(types::I32, less);
                    let c0 = self.b.ins().ishl_imm_s(c0, 8);
                    // C3 C2 C1 C0 from the ordering (C2 and C1 clear); ES and B clear.
                    let s = self.b.ins().band_imm_s(st.sw, !(0x4700 | 0x8080) as i64);
                    let s = self.b.ins().bor(s, c3);
                    st.sw = self.b.ins().bor(s, c0);
                } else {
                    let neg = |me: &mut Self, v: Val| Val {
                        se: me.b.ins().bxor_imm_s(v.se, 0x8000),
                        ..v
                    };
                    let (r, f2) = match code & 7 {
                        0 => self.x87_add(a.m, a.se, b.m, b.se),
                        1 => {
                            let nb = neg(self, b);
                            self.x87_add(a.m, a.se, nb.m, nb.se)
                        }
                        2 => {
                            let na = neg(self, a);
                            self.x87_add(b.m, b.se, na.m, na.se)
                        }
                        _ => self.x87_mul(a.m, a.se, b.m, b.se),
                    };
                    let fail = self.b.ins().bor(fail, f2);
                    self.x87_run_bail(fail, st, cpu, top, tw, bail);
                    st.vals[sd] = Some(Val {
                        m: r.m,
                        se: r.se,
                        normal: true,
                    });
                    st.wrote(sd);
                    // C1 = rounded up, PE if inexact; ES and B clear.
                    let c1 = self.b.ins().ishl_imm_s(r.up, 9);
                    let pe = self.b.ins().ishl_imm_s(r.pe, 5);
                    let s = self.b.ins().band_imm_s(st.sw, !(0x0200 | 0x8080) as i64);
                    let s = self.b.ins().bor(s, c1);
                    st.sw = self.b.ins().bor(s, pe);
                }
                for _ in 0..pops {
                    self.x87_run_pop(st);
                }
            }
        }
        st.last = Some((i.ip32(), fop as u32));
    }

    /// Pop in the run: ST(0) becomes empty.
    fn x87_run_pop(&mut self, st: &mut State) {
        let s = (st.off & 7) as usize;
        st.popped |= 1 << s;
        st.dirty |= 1 << s;
        st.off += 1;
    }

    /// If `fail` (i8), store the state `st` and go on in the chain at `bail` (a cold path).
    #[allow(clippy::too_many_arguments)]
    fn x87_run_bail(
        &mut self,
        fail: Value,
        st: &State,
        cpu: Value,
        top: Value,
        tw: Value,
        bail: Block,
    ) {
        let out = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(out);
        self.b.ins().brif(fail, out, &[], cont, &[]);
        self.b.switch_to_block(out);
        self.x87_run_store(st, cpu, top, tw);
        self.b.ins().jump(bail, &[]);
        self.b.switch_to_block(cont);
    }

    /// Store the run's state `st`: the changed slots and their tags, TOP, the status word
    /// and FIP/FCS/FOP.
    fn x87_run_store(&mut self, st: &State, cpu: Value, top: Value, tw: Value) {
        let i32t = types::I32;
        let mf = self.mf;
        let mut ntw = tw;
        for slot in 0..8 {
            if st.dirty & 1 << slot == 0 {
                continue;
            }
            let p = self.b.ins().iadd_imm_s(top, slot as i64);
            let p = self.b.ins().band_imm_s(p, 7);
            let v = st.vals[slot].filter(|_| st.written & 1 << slot != 0);
            if let Some(v) = v {
                let a = self.x87_reg_addr(cpu, p);
                self.b.ins().store(mf, v.m, a, 0);
                self.b.ins().istore16(mf, v.se, a, F80_SE);
            }
            let tag = match v {
                _ if st.popped & 1 << slot != 0 => self.b.ins().iconst(i32t, 3),
                Some(v) if v.normal => self.b.ins().iconst(i32t, 0),
                Some(v) => self.x87_tag(v.m, v.se),
                None => unreachable!("a dirty slot was written or popped"),
            };
            ntw = self.x87_put_tag(ntw, p, tag);
        }
        if st.dirty != 0 {
            self.b.ins().istore16(mf, ntw, cpu, FPU_TW);
        }
        if st.off != 0 {
            let t = self.b.ins().iadd_imm_s(top, st.off as i64);
            let t = self.b.ins().band_imm_s(t, 7);
            self.b.ins().istore8(mf, t, cpu, FPU_TOP);
        }
        self.b.ins().istore16(mf, st.sw, cpu, FPU_SW);
        if let Some((ip, fop)) = st.last {
            self.x87_note(cpu, ip, fop);
        }
    }
}
