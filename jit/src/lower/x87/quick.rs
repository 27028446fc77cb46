//! The quick case of x87 register arithmetic in IR (as `ironbox_cpu::x87::quick`): normal
//! operands, 64-bit precision, round to nearest-even, a result inside the exponent range.
//! Values are a significand (i64, integer bit 63) and sign+exponent (i32, 16 bits used).

use super::*;
use ironbox_cpu::x87::f80::BIAS;

/// A quick result: significand, sign+exponent, rounded up (i32 0/1), inexact (i32 0/1).
pub(super) struct Res {
    pub(super) m: Value,
    pub(super) se: Value,
    pub(super) up: Value,
    pub(super) pe: Value,
}

/// Largest biased exponent the quick case rounds into (the result may then carry into the
/// next one, which is still finite).
const EMAX_QUICK: i64 = 0x7FFD;

impl Lower<'_, '_> {
    /// Whether `v` is normal (i8): exponent 1..=0x7FFE with the integer bit set.
    pub(super) fn x87_normal(&mut self, m: Value, se: Value) -> Value {
        let e = self.b.ins().band_imm_s(se, 0x7FFF);
        let em1 = self.b.ins().iadd_imm_s(e, -1);
        let in_range = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, em1, 0x7FFE);
        let j = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, m, 0);
        self.b.ins().band(in_range, j)
    }

    /// Round `hi:lo` (integer bit at bit 63 of `hi`) at 64 bits to nearest-even, biased
    /// exponent `e`, `sign` (0 or 0x8000): the result and whether it is not the quick case
    /// (i8: the exponent out of range).
    fn x87_round(&mut self, sign: Value, e: Value, hi: Value, lo: Value) -> (Res, Value) {
        let i32t = types::I32;
        let i64t = types::I64;
        let half = self.b.ins().ushr_imm_s(lo, 63);
        let rest = self.b.ins().ishl_imm_s(lo, 1);
        let rest = self.b.ins().icmp_imm_s(IntCC::NotEqual, rest, 0);
        let rest = self.b.ins().uextend(i64t, rest);
        let odd = self.b.ins().band_imm_s(hi, 1);
        let either = self.b.ins().bor(rest, odd);
        let inc = self.b.ins().band(half, either);
        let m = self.b.ins().iadd(hi, inc);
        let carry = self.b.ins().icmp_imm_s(IntCC::Equal, m, 0);
        let j = self.b.ins().iconst(i64t, ironbox_cpu::x87::f80::J as i64);
        let m = self.b.ins().select(carry, j, m);
        let c = self.b.ins().uextend(i32t, carry);
        let e2 = self.b.ins().iadd(e, c);
        let em1 = self.b.ins().iadd_imm_s(e, -1);
        let fail = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, em1, EMAX_QUICK);
        let pe = self.b.ins().icmp_imm_s(IntCC::NotEqual, lo, 0);
        let pe = self.b.ins().uextend(i32t, pe);
        let up = self.b.ins().ireduce(i32t, inc);
        let se = self.b.ins().bor(e2, sign);
        (Res { m, se, up, pe }, fail)
    }

    /// a × b (`quick::mul`): the result and whether it is not the quick case (i8).
    pub(super) fn x87_mul(&mut self, am: Value, ase: Value, bm: Value, bse: Value) -> (Res, Value) {
        let i32t = types::I32;
        let lo = self.b.ins().imul(am, bm);
        let hi = self.b.ins().umulhi(am, bm);
        // The product is in [2^126, 2^128): shift left once unless bit 127 is set.
        let top = self.b.ins().ushr_imm_s(hi, 63);
        let n = self.b.ins().bxor_imm_s(top, 1);
        let hs = self.b.ins().ishl(hi, n);
        let lb = self.b.ins().ushr_imm_s(lo, 63);
        let lb = self.b.ins().band(lb, n);
        let hi2 = self.b.ins().bor(hs, lb);
        let lo2 = self.b.ins().ishl(lo, n);
        let ea = self.b.ins().band_imm_s(ase, 0x7FFF);
        let eb = self.b.ins().band_imm_s(bse, 0x7FFF);
        let e = self.b.ins().iadd(ea, eb);
        let e = self.b.ins().iadd_imm_s(e, -(BIAS as i64));
        let t32 = self.b.ins().ireduce(i32t, top);
        let e = self.b.ins().iadd(e, t32);
        let sign = self.b.ins().bxor(ase, bse);
        let sign = self.b.ins().band_imm_s(sign, 0x8000);
        self.x87_round(sign, e, hi2, lo2)
    }

    /// a + b (`quick::add`): the result and whether it is not the quick case (i8: exponents
    /// more than 63 apart, an exact zero, the exponent out of range).
    pub(super) fn x87_add(&mut self, am: Value, ase: Value, bm: Value, bse: Value) -> (Res, Value) {
        let (i32t, i64t, i128t) = (types::I32, types::I64, types::I128);
        let ea = self.b.ins().band_imm_s(ase, 0x7FFF);
        let eb = self.b.ins().band_imm_s(bse, 0x7FFF);
        // The larger magnitude first.
        let e_gt = self.b.ins().icmp(IntCC::UnsignedGreaterThan, eb, ea);
        let e_eq = self.b.ins().icmp(IntCC::Equal, eb, ea);
        let m_gt = self.b.ins().icmp(IntCC::UnsignedGreaterThan, bm, am);
        let tie = self.b.ins().band(e_eq, m_gt);
        let swap = self.b.ins().bor(e_gt, tie);
        let e1 = self.b.ins().select(swap, eb, ea);
        let e2 = self.b.ins().select(swap, ea, eb);
        let m1 = self.b.ins().select(swap, bm, am);
        let m2 = self.b.ins().select(swap, am, bm);
        let s1 = self.b.ins().select(swap, bse, ase);
        let s1 = self.b.ins().band_imm_s(s1, 0x8000);
        let d = self.b.ins().isub(e1, e2);
        let far = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, d, 63);
        // x = m1 << 63, y = m2 << (63 - d): exact for d <= 63.
        let x = self.b.ins().uextend(i128t, m1);
        let x = self.b.ins().ishl_imm_s(x, 63);
        let y = self.b.ins().uextend(i128t, m2);
        let c63 = self.b.ins().iconst(i32t, 63);
        let sh = self.b.ins().isub(c63, d);
        let sh = self.b.ins().band_imm_s(sh, 63);
        let sh = self.b.ins().uextend(i64t, sh);
        let y = self.b.ins().ishl(y, sh);
        let signs = self.b.ins().bxor(ase, bse);
        let signs = self.b.ins().band_imm_s(signs, 0x8000);
        let sum = self.b.ins().iadd(x, y);
        let dif = self.b.ins().isub(x, y);
        let r = self.b.ins().select(signs, dif, sum);
        let (lo, hi) = self.b.ins().isplit(r);
        let any = self.b.ins().bor(lo, hi);
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, any, 0);
        // Normalize: leading zeros of the 128-bit value.
        let lzh = self.b.ins().clz(hi);
        let lzl = self.b.ins().clz(lo);
        let lzl = self.b.ins().iadd_imm_s(lzl, 64);
        let hz = self.b.ins().icmp_imm_s(IntCC::Equal, hi, 0);
        let lz = self.b.ins().select(hz, lzl, lzh);
        let lz = self.b.ins().band_imm_s(lz, 127);
        let r = self.b.ins().ishl(r, lz);
        let (lo, hi) = self.b.ins().isplit(r);
        let lz32 = self.b.ins().ireduce(i32t, lz);
        let e = self.b.ins().iadd_imm_s(e1, 1);
        let e = self.b.ins().isub(e, lz32);
        let (res, f) = self.x87_round(s1, e, hi, lo);
        let fail = self.b.ins().bor(far, zero);
        (res, self.b.ins().bor(fail, f))
    }

    /// Compare a with b (`quick::cmp`): (equal, less), i8 each.
    pub(super) fn x87_cmp(
        &mut self,
        am: Value,
        ase: Value,
        bm: Value,
        bse: Value,
    ) -> (Value, Value) {
        let se_eq = self.b.ins().icmp(IntCC::Equal, ase, bse);
        let m_eq = self.b.ins().icmp(IntCC::Equal, am, bm);
        let eq = self.b.ins().band(se_eq, m_eq);
        let ea = self.b.ins().band_imm_s(ase, 0x7FFF);
        let eb = self.b.ins().band_imm_s(bse, 0x7FFF);
        let e_eq = self.b.ins().icmp(IntCC::Equal, ea, eb);
        let e_gt = self.b.ins().icmp(IntCC::UnsignedGreaterThan, ea, eb);
        let e_lt = self.b.ins().icmp(IntCC::UnsignedLessThan, ea, eb);
        let m_gt = self.b.ins().icmp(IntCC::UnsignedGreaterThan, am, bm);
        let m_lt = self.b.ins().icmp(IntCC::UnsignedLessThan, am, bm);
        let t = self.b.ins().band(e_eq, m_gt);
        let gt = self.b.ins().bor(e_gt, t); // |a| > |b|
        let t = self.b.ins().band(e_eq, m_lt);
        let lt = self.b.ins().bor(e_lt, t); // |a| < |b|
        let sa = self.b.ins().band_imm_s(ase, 0x8000);
        let sa = self.b.ins().icmp_imm_s(IntCC::NotEqual, sa, 0);
        let signs = self.b.ins().bxor(ase, bse);
        let signs = self.b.ins().band_imm_s(signs, 0x8000);
        let same = self.b.ins().select(sa, gt, lt);
        let less = self.b.ins().select(signs, sa, same);
        (eq, less)
    }
}
