//! Status flags in translated code, kept lazily: the last flag-writing operation is held as
//! a record (kind, operands, result, pending bits) in Cranelift variables and its flags are
//! computed only where something needs them — inline where it is known at compile time,
//! through `runtime::h_flags` otherwise (exits, faults). Conditions of Jcc come straight from
//! the operands of the last writer where its kind allows. A chained exit (RET, indirect
//! jumps, branches out of the region) hands the pending record to the next translation
//! through `Ctx::lz` instead of settling it; a return to the dispatcher settles it.

use super::*;

/// The status flags an instruction reads and writes as lowered (`Interp`: all of both).
fn reads_writes(i: &Instruction, k: Kind) -> (u32, u32) {
    match k {
        Kind::Interp => (STATUS, STATUS),
        Kind::Branch => (cc_reads(i.condition_code()), 0),
        Kind::Alu if matches!(i.mnemonic(), Mnemonic::Adc | Mnemonic::Sbb) => (fl::CF, STATUS),
        Kind::Alu | Kind::Cmp | Kind::Neg | Kind::MulWide | Kind::Imul => (0, STATUS),
        // Partial writers keep the other flags: those must be exact first.
        Kind::IncDec => (fl::CF, STATUS & !fl::CF),
        Kind::Shift if matches!(i.mnemonic(), Mnemonic::Rol | Mnemonic::Ror) => {
            (STATUS & !(fl::CF | fl::OF), fl::CF | fl::OF)
        }
        Kind::Shift | Kind::Xadd | Kind::Cmpxchg => (0, STATUS),
        Kind::Setcc | Kind::Cmov => (cc_reads(i.condition_code()), 0),
        // A count of 0 or a zero source keeps every flag (computed in place).
        Kind::ShiftVar | Kind::DoubleShift | Kind::BitScan => (STATUS, 0),
        Kind::BitTest => (0, fl::CF),
        Kind::Cmpxchg8b => (0, fl::ZF),
        Kind::FlagOp => match i.mnemonic() {
            Mnemonic::Cmc => (fl::CF, fl::CF),
            Mnemonic::Clc | Mnemonic::Stc => (0, fl::CF),
            Mnemonic::Lahf => (STATUS & !fl::OF, 0),
            Mnemonic::Sahf => (0, STATUS & !fl::OF),
            _ => (0, 0),
        },
        Kind::Loop if matches!(i.mnemonic(), Mnemonic::Loope | Mnemonic::Loopne) => (fl::ZF, 0),
        _ => (0, 0),
    }
}

/// Status flags that block must find exact in the flags variable (not pending in the lazy
/// record) when it starts: read, or kept by a partial writer, before it writes them itself.
/// Predecessors in the region compute them before jumping there (inline, cheaply).
pub(super) fn hot_need(instrs: &[Instruction], kinds: &[Kind]) -> u32 {
    let mut written = 0u32;
    let mut need = 0u32;
    for (i, &k) in instrs.iter().zip(kinds) {
        let (reads, writes) = reads_writes(i, k);
        need |= reads & !written;
        written |= writes;
        if k == Kind::Interp {
            break;
        }
    }
    need
}

/// An instruction whose lowering may leave the region or fault, where every status flag
/// must be recoverable: anything touching memory, the interpreter, control transfers.
fn may_leave(i: &Instruction, k: Kind) -> bool {
    let register_only = matches!(
        k,
        Kind::Mov
            | Kind::Alu
            | Kind::Cmp
            | Kind::IncDec
            | Kind::Neg
            | Kind::Not
            | Kind::Lea
            | Kind::Movx
            | Kind::Nop
            | Kind::Shift
            | Kind::MulWide
            | Kind::Imul
            | Kind::Setcc
            | Kind::Cmov
            | Kind::Bswap
            | Kind::Convert
            | Kind::FlagOp
            | Kind::Xchg
            | Kind::BitTest
            | Kind::BitScan
            | Kind::ShiftVar
            | Kind::DoubleShift
    );
    !register_only || (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory)
}

/// Per instruction of a block: the status flags something may observe after it before they
/// are written again (a reader, a possible fault or exit, the end of the block). A partial
/// writer need not keep the pending bits of an earlier writer that nothing observes.
pub(super) fn live_after(instrs: &[Instruction], kinds: &[Kind]) -> Vec<u32> {
    let mut live = STATUS;
    let mut out = vec![0; instrs.len()];
    for k in (0..instrs.len()).rev() {
        out[k] = live;
        let (reads, writes) = reads_writes(&instrs[k], kinds[k]);
        let reads = if may_leave(&instrs[k], kinds[k]) {
            STATUS
        } else {
            reads
        };
        live = (live & !writes) | reads;
    }
    out
}

/// Lazy flag record kinds (`h_flags` computes the same flags at run time).
pub const K_ADD: u32 = 1;
pub const K_SUB: u32 = 2;
pub const K_LOGIC: u32 = 3;
pub const K_SHL: u32 = 4;
pub const K_SHR: u32 = 5;
pub const K_SAR: u32 = 6;
pub const K_ROT_L: u32 = 7;
pub const K_ROT_R: u32 = 8;
pub const K_MUL: u32 = 9;

/// A flag-writing operation, kept so its flags can be computed when something needs them:
/// kind, operand size, shift count, operands (`b` = overflow for MUL, carry-in `c` for
/// ADC/SBB inline), result, and the flags it writes.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Rec {
    kind: u32,
    size: u32,
    count: u32,
    a: Value,
    b: Value,
    r: Value,
    c: Option<Value>,
    w: u32,
}

impl Rec {
    /// The run-time encoding of the operation for `h_flags`.
    pub(super) fn op(&self) -> u32 {
        self.kind | self.size << 4 | self.count << 7
    }
}

pub(super) fn cc_reads(cc: ConditionCode) -> u32 {
    use ConditionCode::*;
    match cc {
        None => 0,
        o | no => fl::OF,
        b | ae => fl::CF,
        e | ne => fl::ZF,
        be | a => fl::CF | fl::ZF,
        s | ns => fl::SF,
        p | np => fl::PF,
        l | ge => fl::SF | fl::OF,
        le | g => fl::ZF | fl::SF | fl::OF,
    }
}

impl Lower<'_, '_> {
    pub(super) fn bit(&mut self, v: Value, shift: u32) -> Value {
        let s = if shift > 0 {
            self.b.ins().ushr_imm_s(v, shift as i64)
        } else {
            v
        };
        self.b.ins().band_imm_s(s, 1)
    }

    /// `v` (0 or 1) moved to the position of `flag`.
    pub(super) fn at(&mut self, v: Value, flag: u32) -> Value {
        let sh = flag.trailing_zeros() as i64;
        if sh > 0 {
            self.b.ins().ishl_imm_s(v, sh)
        } else {
            v
        }
    }

    pub(super) fn or_all(&mut self, parts: Vec<Value>) -> Value {
        let mut it = parts.into_iter();
        let mut acc = match it.next() {
            Some(v) => v,
            None => return self.b.ins().iconst(types::I32, 0),
        };
        for v in it {
            acc = self.b.ins().bor(acc, v);
        }
        acc
    }

    /// The `want` status bits (EFLAGS positions) of the operation `rec`, computed inline with
    /// the interpreter's formulas.
    pub(super) fn rec_bits(&mut self, rec: &Rec, want: u32) -> Value {
        let size = rec.size;
        let bits = size * 8;
        let (a, b, r) = (rec.a, rec.b, rec.r);
        let mut parts = Vec::new();
        if want & fl::ZF != 0 && rec.kind != K_ROT_L && rec.kind != K_ROT_R {
            let z = self.b.ins().icmp_imm_s(IntCC::Equal, r, 0);
            let z = self.b.ins().uextend(types::I32, z);
            parts.push(self.at(z, fl::ZF));
        }
        if want & fl::SF != 0 {
            let s = self.bit(r, bits - 1);
            parts.push(self.at(s, fl::SF));
        }
        if want & fl::PF != 0 {
            let lo = self.b.ins().band_imm_s(r, 0xFF);
            let c = self.b.ins().popcnt(lo);
            let odd = self.b.ins().band_imm_s(c, 1);
            let p = self.b.ins().bxor_imm_s(odd, 1);
            parts.push(self.at(p, fl::PF));
        }
        let af = want & fl::AF != 0;
        let cf = want & fl::CF != 0;
        let of = want & fl::OF != 0;
        match rec.kind {
            K_ADD | K_SUB => {
                if af {
                    let x = self.b.ins().bxor(a, b);
                    let x = self.b.ins().bxor(x, r);
                    let v = self.bit(x, 4);
                    parts.push(self.at(v, fl::AF));
                }
                if of {
                    let (x, y) = if rec.kind == K_ADD {
                        (self.b.ins().bxor(a, r), self.b.ins().bxor(b, r))
                    } else {
                        (self.b.ins().bxor(a, b), self.b.ins().bxor(a, r))
                    };
                    let z = self.b.ins().band(x, y);
                    let v = self.bit(z, bits - 1);
                    parts.push(self.at(v, fl::OF));
                }
                if cf {
                    let a64 = self.b.ins().uextend(types::I64, a);
                    let b64 = self.b.ins().uextend(types::I64, b);
                    let mut bb = b64;
                    if let Some(c) = rec.c {
                        let c64 = self.b.ins().uextend(types::I64, c);
                        bb = self.b.ins().iadd(b64, c64);
                    }
                    let v = if rec.kind == K_ADD {
                        let full = self.b.ins().iadd(a64, bb);
                        let s = self.b.ins().ushr_imm_s(full, bits as i64);
                        let s = self.b.ins().ireduce(types::I32, s);
                        self.b.ins().band_imm_s(s, 1)
                    } else {
                        let lt = self.b.ins().icmp(IntCC::UnsignedLessThan, a64, bb);
                        self.b.ins().uextend(types::I32, lt)
                    };
                    parts.push(v); // CF is bit 0
                }
            }
            K_SHL | K_SHR | K_SAR => {
                let c = rec.count;
                if cf {
                    let v = match rec.kind {
                        K_SHL => self.bit(a, bits - c),
                        _ => self.bit(a, c - 1), // SAR: `a` is sign-extended
                    };
                    parts.push(v);
                }
                if of {
                    let v = match rec.kind {
                        K_SHL => {
                            let cfv = self.bit(a, bits - c);
                            let top = self.bit(r, bits - 1);
                            Some(self.b.ins().bxor(top, cfv))
                        }
                        K_SHR if c == 1 => Some(self.bit(a, bits - 1)),
                        _ => None,
                    };
                    if let Some(v) = v {
                        parts.push(self.at(v, fl::OF));
                    }
                }
            }
            K_ROT_L | K_ROT_R => {
                let (cfv, ofv) = if rec.kind == K_ROT_L {
                    let cfv = self.b.ins().band_imm_s(r, 1);
                    let top = self.bit(r, bits - 1);
                    (cfv, self.b.ins().bxor(top, cfv))
                } else {
                    let cfv = self.bit(r, bits - 1);
                    let next = self.bit(r, bits - 2);
                    (cfv, self.b.ins().bxor(cfv, next))
                };
                if cf {
                    parts.push(cfv);
                }
                if of {
                    parts.push(self.at(ofv, fl::OF));
                }
            }
            K_MUL => {
                if cf {
                    parts.push(b);
                }
                if of {
                    parts.push(self.at(b, fl::OF));
                }
            }
            _ => {} // K_LOGIC: CF, OF, AF clear
        }
        self.or_all(parts)
    }

    /// Store the lazy record where translated code outside this block finds it (`Ctx::lz`):
    /// at every jump to another block, exit or shared cold path while it is only known here.
    /// Emits code only; the compile-time state is unchanged.
    pub(super) fn flush_lazy(&mut self) {
        let Some(rec) = self.known else {
            return; // already there
        };
        let op = if self.maybe_lazy == 0 {
            0
        } else {
            rec.op() | self.maybe_lazy << 12
        };
        let opv = self.b.ins().iconst(types::I32, op as i64);
        self.ctx_store(opv, CTX_LZ);
        if self.maybe_lazy != 0 {
            for (k, v) in [rec.a, rec.b, rec.r].into_iter().enumerate() {
                self.ctx_store(v, CTX_LZ + 4 * (k as i32 + 1));
            }
        }
    }

    /// The pending-bits mask of the lazy record in the context (run time).
    pub(super) fn lazy_mask(&mut self) -> Value {
        let opm = self.ctx_load(types::I32, CTX_LZ);
        self.b.ins().ushr_imm_s(opm, 12)
    }

    /// An instruction wrote the status flags `rec.w`: they become the pending lazy record.
    pub(super) fn write_flags(&mut self, rec: Rec) {
        let w = rec.w;
        // Old pending bits this write does not replace go into EFLAGS first, unless
        // nothing can observe them before they are written again.
        let survive = self.maybe_lazy & !w & self.live_now;
        if survive != 0 {
            self.materialize(survive);
        }
        self.known = Some(rec);
        self.maybe_lazy = w;
        self.last_writer = Some(rec);
    }

    /// Make the status bits `bits` exact in EFLAGS (compute them from the lazy record:
    /// inline if it is known here, else through `h_flags`).
    pub(super) fn materialize(&mut self, bits: u32) {
        let need = bits & self.maybe_lazy;
        if need == 0 {
            return;
        }
        let Some(rec) = self.known else {
            // Unknown record (region entry, after a call): often nothing wanted is pending
            // (the previous translation settled those bits), so test before calling.
            let m = self.lazy_mask();
            let m = self.b.ins().band_imm_s(m, need as i64);
            let call = self.b.create_block();
            let done = self.b.create_block();
            self.b.set_cold_block(call);
            self.b.ins().brif(m, call, &[], done, &[]);
            self.b.switch_to_block(call);
            let f = self.get_flags();
            let nf = if self.at_entry {
                // (Nothing lives across the call yet: the C convention costs nothing here.)
                let cx = self.ctx();
                let h = self.b.ins().iconst(types::I64, self.h.flags_entry as i64);
                let call = self
                    .b
                    .ins()
                    .call_indirect(self.sigs.flags_entry, h, &[cx, f, m]);
                self.b.inst_results(call)[0]
            } else {
                self.call_h_flags(f, m)
            };
            self.set_flags(nf);
            let opm = self.ctx_load(types::I32, CTX_LZ);
            let cleared = self.b.ins().band_imm_s(opm, !((need as i64) << 12));
            self.ctx_store(cleared, CTX_LZ);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            self.maybe_lazy &= !need;
            return;
        };
        let f = self.get_flags();
        let v = self.rec_bits(&rec, need);
        let keep = self.b.ins().band_imm_s(f, !(need as i64));
        let newf = self.b.ins().bor(keep, v);
        self.set_flags(newf);
        self.maybe_lazy &= !need;
    }

    /// `h_flags(lazy record in the context, flags, mask)`: the flags with the `mask` bits
    /// of the record.
    pub(super) fn call_h_flags(&mut self, f: Value, mask: Value) -> Value {
        let args = [self.ctx(), f, mask];
        self.call_cold(self.sigs.flags, self.h.flags, &args, types::I32)
    }

    /// All flags exact (before the interpreter or a helper sees EFLAGS).
    pub(super) fn materialize_all(&mut self) {
        self.materialize(STATUS);
    }

    /// Forget the lazy state after the interpreter ran (it left EFLAGS exact).
    pub(super) fn lazy_reset(&mut self) {
        self.forget_writer();
    }

    /// The flags variable was written directly after `materialize_all`: no record is
    /// pending, and no condition may come from the last writer's operands.
    pub(super) fn forget_writer(&mut self) {
        // (The context's record may be an old one: nothing is pending now.)
        let z = self.b.ins().iconst(types::I32, 0);
        self.ctx_store(z, CTX_LZ);
        self.known = None;
        self.maybe_lazy = 0;
        self.last_writer = None;
    }

    /// Set the status flags `bits` in the flags variable to those of `v` (in place); the
    /// other status flags stay as they are, pending or not.
    pub(super) fn set_bits(&mut self, bits: u32, v: Value) {
        self.materialize(bits);
        if let Some(w) = self.last_writer.as_mut() {
            w.w &= !bits;
        }
        let f = self.get_flags();
        let keep = self.b.ins().band_imm_s(f, !(bits as i64));
        let nf = self.b.ins().bor(keep, v);
        self.set_flags(nf);
    }

    /// The zero, sign and parity flags of the `size`-byte result `r`.
    pub(super) fn szp(&mut self, r: Value, size: u32) -> Value {
        let rec = self.rec(K_LOGIC, size, r, r, r, 0);
        self.rec_bits(&rec, fl::ZF | fl::SF | fl::PF)
    }

    pub(super) fn rec(&self, kind: u32, size: u32, a: Value, b: Value, r: Value, w: u32) -> Rec {
        Rec {
            kind,
            size,
            count: 0,
            a,
            b,
            r,
            c: None,
            w,
        }
    }

    /// a + b (+ c) masked to `size`; operands already masked.
    pub(super) fn add(
        &mut self,
        a: Value,
        b: Value,
        c: Option<Value>,
        size: u32,
        w: u32,
    ) -> (Value, Rec) {
        let mut f = self.b.ins().iadd(a, b);
        if let Some(c) = c {
            f = self.b.ins().iadd(f, c);
        }
        let r = self.mask_to(f, size);
        let mut rec = self.rec(K_ADD, size, a, b, r, w);
        rec.c = c;
        (r, rec)
    }

    /// a - b (- c) masked to `size`; operands already masked.
    pub(super) fn sub(
        &mut self,
        a: Value,
        b: Value,
        c: Option<Value>,
        size: u32,
        w: u32,
    ) -> (Value, Rec) {
        let mut d = self.b.ins().isub(a, b);
        if let Some(c) = c {
            d = self.b.ins().isub(d, c);
        }
        let r = self.mask_to(d, size);
        let mut rec = self.rec(K_SUB, size, a, b, r, w);
        rec.c = c;
        (r, rec)
    }

    /// Sign-extend a `size`-byte value (zero-extended in an i32) to i64.
    pub(super) fn sext64(&mut self, v: Value, size: u32) -> Value {
        match size {
            4 => self.b.ins().sextend(types::I64, v),
            2 => {
                let n = self.b.ins().ireduce(types::I16, v);
                self.b.ins().sextend(types::I64, n)
            }
            _ => {
                let n = self.b.ins().ireduce(types::I8, v);
                self.b.ins().sextend(types::I64, n)
            }
        }
    }

    /// SHL/SHR/SAR (count 1..bits-1) and 32-bit ROL/ROR (1..31).
    pub(super) fn shift(&mut self, m: Mnemonic, a: Value, c: u32, size: u32) -> (Value, Rec) {
        let (r, kind, src) = match m {
            Mnemonic::Rol => (self.b.ins().rotl_imm_s(a, c as i64), K_ROT_L, a),
            Mnemonic::Ror => (self.b.ins().rotr_imm_s(a, c as i64), K_ROT_R, a),
            Mnemonic::Shr => (self.b.ins().ushr_imm_s(a, c as i64), K_SHR, a),
            Mnemonic::Sar => {
                let sa = self.sext64(a, size);
                let sa = self.b.ins().ireduce(types::I32, sa);
                let sr = self.b.ins().sshr_imm_s(sa, c as i64);
                let r = self.mask_to(sr, size);
                (r, K_SAR, sa)
            }
            _ => {
                let w = self.b.ins().ishl_imm_s(a, c as i64);
                let r = self.mask_to(w, size);
                (r, K_SHL, a)
            }
        };
        let w = if matches!(kind, K_ROT_L | K_ROT_R) {
            fl::CF | fl::OF
        } else {
            STATUS
        };
        let mut rec = self.rec(kind, size, src, src, r, w);
        rec.count = c;
        (r, rec)
    }

    pub(super) fn carry_in(&mut self) -> Value {
        // Straight from the last writer's operands when it can say (ADC/SBB write every
        // status flag: nothing else needs the old record stored).
        if let Some(c) = self.direct_cond(ConditionCode::b) {
            return self.b.ins().uextend(types::I32, c);
        }
        self.materialize(fl::CF);
        let f = self.get_flags();
        self.b.ins().band_imm_s(f, fl::CF as i64)
    }

    pub(super) fn alu_op(&mut self, m: Mnemonic, a: Value, b: Value, size: u32) -> (Value, Rec) {
        match m {
            Mnemonic::Add => self.add(a, b, None, size, STATUS),
            Mnemonic::Adc => {
                let c = self.carry_in();
                self.add(a, b, Some(c), size, STATUS)
            }
            Mnemonic::Sub | Mnemonic::Cmp => self.sub(a, b, None, size, STATUS),
            Mnemonic::Sbb => {
                let c = self.carry_in();
                self.sub(a, b, Some(c), size, STATUS)
            }
            _ => {
                let r = match m {
                    Mnemonic::And | Mnemonic::Test => self.b.ins().band(a, b),
                    Mnemonic::Or => self.b.ins().bor(a, b),
                    _ => self.b.ins().bxor(a, b),
                };
                let rec = self.rec(K_LOGIC, size, r, r, r, STATUS);
                (r, rec)
            }
        }
    }

    /// A Jcc condition straight from the operands of the last flag writer, when it wrote
    /// every flag the condition reads and its kind allows it.
    pub(super) fn direct_cond(&mut self, cc: ConditionCode) -> Option<Value> {
        use ConditionCode as C;
        let rec = self.last_writer?;
        if rec.w & cc_reads(cc) != cc_reads(cc) {
            return None;
        }
        let size = rec.size;
        let signed = |me: &mut Self, v: Value| {
            if size == 4 {
                v
            } else {
                let sh = 32 - size as i64 * 8;
                let x = me.b.ins().ishl_imm_s(v, sh);
                me.b.ins().sshr_imm_s(x, sh)
            }
        };
        let r = rec.r;
        let v = match (rec.kind, cc) {
            (_, C::e) if rec.kind != K_ROT_L && rec.kind != K_ROT_R => {
                self.b.ins().icmp_imm_s(IntCC::Equal, r, 0)
            }
            (_, C::ne) if rec.kind != K_ROT_L && rec.kind != K_ROT_R => {
                self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0)
            }
            (K_SUB, _) if rec.c.is_none() => {
                let (a, b) = (rec.a, rec.b);
                match cc {
                    C::b => self.b.ins().icmp(IntCC::UnsignedLessThan, a, b),
                    C::ae => self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, a, b),
                    C::be => self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, a, b),
                    C::a => self.b.ins().icmp(IntCC::UnsignedGreaterThan, a, b),
                    C::l | C::ge | C::le | C::g => {
                        let sa = signed(self, a);
                        let sb = signed(self, b);
                        let c = match cc {
                            C::l => IntCC::SignedLessThan,
                            C::ge => IntCC::SignedGreaterThanOrEqual,
                            C::le => IntCC::SignedLessThanOrEqual,
                            _ => IntCC::SignedGreaterThan,
                        };
                        self.b.ins().icmp(c, sa, sb)
                    }
                    C::s | C::ns => {
                        let sr = signed(self, r);
                        let c = if cc == C::s {
                            IntCC::SignedLessThan
                        } else {
                            IntCC::SignedGreaterThanOrEqual
                        };
                        self.b.ins().icmp_imm_s(c, sr, 0)
                    }
                    _ => return None,
                }
            }
            // Carries: the bit shifted out last, or the wrap of an addition.
            (K_SHL | K_SHR | K_SAR | K_ROT_L | K_ROT_R | K_ADD | K_LOGIC, C::b | C::ae)
                if rec.c.is_none() =>
            {
                let bits = size * 8;
                let cf = match rec.kind {
                    K_SHL => self.bit(rec.a, bits - rec.count),
                    K_SHR | K_SAR => self.bit(rec.a, rec.count - 1),
                    K_ROT_L => self.b.ins().band_imm_s(r, 1),
                    K_ROT_R => self.bit(r, bits - 1),
                    K_ADD => {
                        let c = self.b.ins().icmp(IntCC::UnsignedLessThan, r, rec.a);
                        self.b.ins().uextend(types::I32, c)
                    }
                    _ => self.b.ins().iconst(types::I32, 0),
                };
                let want = if cc == C::b {
                    IntCC::NotEqual
                } else {
                    IntCC::Equal
                };
                self.b.ins().icmp_imm_s(want, cf, 0)
            }
            (K_LOGIC, C::s | C::l) | (K_ADD, C::s) => {
                let sr = signed(self, r);
                self.b.ins().icmp_imm_s(IntCC::SignedLessThan, sr, 0)
            }
            (K_LOGIC, C::ns | C::ge) | (K_ADD, C::ns) => {
                let sr = signed(self, r);
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, sr, 0)
            }
            (K_LOGIC, C::le) => {
                let sr = signed(self, r);
                self.b.ins().icmp_imm_s(IntCC::SignedLessThanOrEqual, sr, 0)
            }
            (K_LOGIC, C::g) => {
                let sr = signed(self, r);
                self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, sr, 0)
            }
            (K_LOGIC, C::be) => self.b.ins().icmp_imm_s(IntCC::Equal, r, 0),
            (K_LOGIC, C::a) => self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0),
            _ => return None,
        };
        Some(v)
    }

    pub(super) fn cond(&mut self, cc: ConditionCode) -> Value {
        if let Some(v) = self.direct_cond(cc) {
            return v;
        }
        use ConditionCode::{a, ae, b, be, e, g, ge, l, le, ne, no, np, ns, o, p, s};
        self.materialize(cc_reads(cc));
        let f = self.get_flags();
        let bit = |me: &mut Self, flag: u32| me.b.ins().band_imm_s(f, flag as i64);
        let sf_ne_of = |me: &mut Self| {
            let sf = me.bit(f, 7);
            let of = me.bit(f, 11);
            me.b.ins().bxor(sf, of)
        };
        let (v, negate) = match cc {
            o | no => (bit(self, fl::OF), cc == no),
            b | ae => (bit(self, fl::CF), cc == ae),
            e | ne => (bit(self, fl::ZF), cc == ne),
            be | a => (bit(self, fl::CF | fl::ZF), cc == a),
            s | ns => (bit(self, fl::SF), cc == ns),
            p | np => (bit(self, fl::PF), cc == np),
            l | ge => (sf_ne_of(self), cc == ge),
            le | g => {
                let x = sf_ne_of(self);
                let z = self.bit(f, 6);
                (self.b.ins().bor(x, z), cc == g)
            }
            ConditionCode::None => unreachable!("Jcc has a condition"),
        };
        if negate {
            self.b.ins().icmp_imm_s(IntCC::Equal, v, 0)
        } else {
            self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0)
        }
    }
}
