//! Basic x87 arithmetic on 80-bit values: add/sub, mul, div, sqrt (these honour precision
//! control), partial remainders (FPREM/FPREM1), FRNDINT, FSCALE, FXTRACT and comparisons, each
//! with the x87's special-operand rules (Intel SDM vol. 1 §4.8, §8.5; vol. 2 instruction pages).

use super::f80::*;
use super::F80;

/// Sign of an exact zero sum of opposite-signed operands: −0 only when rounding down.
fn zero_sum_sign(ctx: &Ctx) -> bool {
    ctx.rc == 1
}

/// a + b (negate b beforehand for a subtraction).
#[inline]
pub fn add(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if a.is_normal() && b.is_normal() {
        return add_normal(ctx, a, b);
    }
    add_special(ctx, a, b)
}

/// `add` with a special operand (zero, denormal, infinity, NaN, unsupported) among them.
#[inline(never)]
fn add_special(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = screen2(ctx, a, b) {
        return r;
    }
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Inf || cb == Class::Inf {
        if ca == Class::Inf && cb == Class::Inf && a.sign() != b.sign() {
            return invalid(ctx);
        }
        check_denormal(ctx, &[a, b]);
        return if ca == Class::Inf { a } else { b };
    }
    check_denormal(ctx, &[a, b]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    match (ca == Class::Zero, cb == Class::Zero) {
        (true, true) => {
            return F80::zero(if a.sign() == b.sign() {
                a.sign()
            } else {
                zero_sum_sign(ctx)
            });
        }
        (true, false) => return norm_copy(ctx, b),
        (false, true) => return norm_copy(ctx, a),
        _ => {}
    }
    add_finite(ctx, a, b)
}

/// `add` of two normal operands (what screening, the special cases and the denormal checks
/// come to then).
#[inline]
fn add_normal(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if ctx.den {
        ctx.raise(DE);
    }
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    add_finite(ctx, a, b)
}

/// `add` of two finite non-zero operands, after the checks.
#[inline]
fn add_finite(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    let (sa, ea, ma) = a.unpack();
    let (sb, eb, mb) = b.unpack();
    // Larger magnitude first.
    let (sa, ea, ma, sb, eb, mb) = if (ea, ma) >= (eb, mb) {
        (sa, ea, ma, sb, eb, mb)
    } else {
        (sb, eb, mb, sa, ea, ma)
    };
    let x = (ma as u128) << 63; // integer bit at 126: one bit of headroom for the carry
    let d = (ea - eb) as u32;
    let y = align_addend(mb, d);
    let (sig, sign) = if sa == sb {
        (x + y, sa)
    } else {
        let r = x - y;
        if r == 0 {
            return F80::zero(zero_sum_sign(ctx));
        }
        (r, sa)
    };
    // value = sig / 2^126 * 2^ea = sig/2^127 * 2^(ea+1)
    round_f80(ctx, sign, ea + 1, sig, ctx.prec)
}

/// `shr_jam((m as u128) << 63, d)` on 64-bit halves: the low 63 bits of the shifted value are
/// zero, so bits are lost (and make the sticky bit) only for `d` > 63.
#[inline]
pub(crate) fn align_addend(m: u64, d: u32) -> u128 {
    if d < 64 {
        (m as u128) << (63 - d)
    } else if d < 127 {
        let s = d - 63; // 1..=63
        ((m >> s) | ((m & ((1u64 << s) - 1)) != 0) as u64) as u128
    } else {
        (m != 0) as u128
    }
}

/// A single finite operand passed through an operation that does not change it (x + 0): rounded
/// to the current precision (denormals stay denormal, exact results raise nothing).
fn norm_copy(ctx: &mut Ctx, a: F80) -> F80 {
    let (s, e, m) = a.unpack();
    round_f80(ctx, s, e, (m as u128) << 64, ctx.prec)
}

#[inline]
pub fn sub(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if a.is_normal() && b.is_normal() {
        return add_normal(ctx, a, b.neg());
    }
    sub_special(ctx, a, b)
}

#[inline(never)]
fn sub_special(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    // Negating a NaN would change which NaN wins a tie; screen first.
    if let Some(r) = screen2(ctx, a, b) {
        return r;
    }
    add(ctx, a, b.neg())
}

#[inline]
pub fn mul(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if a.is_normal() && b.is_normal() {
        // (What screening, the special cases and the denormal checks come to.)
        if ctx.den {
            ctx.raise(DE);
        }
        if ctx.blocked() {
            return F80::INDEFINITE;
        }
        let p = a.mant as u128 * b.mant as u128;
        let e = (a.exp() as i32 - BIAS) + (b.exp() as i32 - BIAS);
        return round_f80(ctx, a.sign() ^ b.sign(), e + 1, p, ctx.prec);
    }
    mul_special(ctx, a, b)
}

/// `mul` with a special operand among them.
#[inline(never)]
fn mul_special(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = screen2(ctx, a, b) {
        return r;
    }
    let (ca, cb) = (a.class(), b.class());
    let sign = a.sign() ^ b.sign();
    if ca == Class::Inf || cb == Class::Inf {
        if ca == Class::Zero || cb == Class::Zero {
            return invalid(ctx);
        }
        check_denormal(ctx, &[a, b]);
        return F80::inf(sign);
    }
    check_denormal(ctx, &[a, b]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    if ca == Class::Zero || cb == Class::Zero {
        return F80::zero(sign);
    }
    let (_, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let p = ma as u128 * mb as u128; // value = p/2^126 * 2^(ea+eb)
    round_f80(ctx, sign, ea + eb + 1, p, ctx.prec)
}

/// 128-bit quotient of two normalized 64-bit significands: returns (q with integer bit at 127
/// and a sticky bit in bit 0, exponent adjustment 0 or -1).
pub fn div_sig(ma: u64, mb: u64) -> (u128, i32) {
    let (num, adj) = if ma >= mb {
        ((ma as u128) << 63, 0)
    } else {
        ((ma as u128) << 64, -1)
    };
    let q1 = num / mb as u128;
    let r1 = num % mb as u128;
    let n2 = r1 << 64;
    let q2 = n2 / mb as u128;
    let r2 = n2 % mb as u128;
    ((q1 << 64) | q2 | (r2 != 0) as u128, adj)
}

pub fn div(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = screen2(ctx, a, b) {
        return r;
    }
    let (ca, cb) = (a.class(), b.class());
    let sign = a.sign() ^ b.sign();
    if ca == Class::Inf {
        if cb == Class::Inf {
            return invalid(ctx);
        }
        check_denormal(ctx, &[b]);
        return F80::inf(sign);
    }
    if cb == Class::Inf {
        check_denormal(ctx, &[a]);
        return F80::zero(sign);
    }
    if cb == Class::Zero {
        if ca == Class::Zero {
            return invalid(ctx);
        }
        // x / 0 raises ZE only, also for a denormal x.
        if ctx.blocked() {
            return F80::INDEFINITE;
        }
        ctx.raise(ZE);
        return F80::inf(sign);
    }
    check_denormal(ctx, &[a, b]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    if ca == Class::Zero {
        return F80::zero(sign);
    }
    let (_, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let (q, adj) = div_sig(ma, mb);
    round_f80(ctx, sign, ea - eb + adj, q, ctx.prec)
}

/// Square root of a normalized significand with unbiased exponent `e`: (root with integer bit
/// at 127 and sticky in bit 0, result exponent).
pub fn sqrt_sig(m: u64, e: i32) -> (u128, i32) {
    let rad: u128 = if e & 1 == 0 {
        (m as u128) << 63
    } else {
        (m as u128) << 64
    };
    let (mut r, mut rem): (u128, u128) = (0, 0);
    for k in 0..68 {
        let pair = if k < 64 {
            (rad >> (126 - 2 * k)) & 3
        } else {
            0
        };
        rem = (rem << 2) | pair;
        let t = (r << 2) | 1;
        if rem >= t {
            rem -= t;
            r = (r << 1) | 1;
        } else {
            r <<= 1;
        }
    }
    ((r << 60) | (rem != 0) as u128, e.div_euclid(2))
}

pub fn sqrt(ctx: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = screen1(ctx, a) {
        return r;
    }
    match a.class() {
        Class::Zero => return a,
        Class::Inf if !a.sign() => return a,
        _ => {}
    }
    if a.sign() {
        return invalid(ctx);
    }
    check_denormal(ctx, &[a]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    let (_, e, m) = a.unpack();
    let (r, re) = sqrt_sig(m, e);
    round_f80(ctx, false, re, r, ctx.prec)
}

/// Result of FPREM/FPREM1: the (partial) remainder, the low three quotient bits and whether
/// the reduction is incomplete (C2).
pub struct Rem {
    pub val: F80,
    pub q: u64,
    pub incomplete: bool,
}

/// FPREM (`ieee == false`, truncating quotient) and FPREM1 (round-to-nearest quotient).
pub fn rem(ctx: &mut Ctx, a: F80, b: F80, ieee: bool) -> Rem {
    let done = |val| Rem {
        val,
        q: 0,
        incomplete: false,
    };
    if let Some(r) = screen2(ctx, a, b) {
        return done(r);
    }
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Inf || cb == Class::Zero {
        return done(invalid(ctx));
    }
    check_denormal(ctx, &[a, b]);
    if ctx.blocked() {
        return done(F80::INDEFINITE);
    }
    if cb == Class::Inf || ca == Class::Zero {
        // Denormal dividend with infinite divisor comes back normalized (rounded exactly).
        if ca != Class::Zero {
            return done(norm_copy(&mut ctx.full(), a));
        }
        return done(a);
    }
    let (sa, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let d = ea - eb;
    let mut c = ctx.full();
    let res = if d >= 64 {
        // Partial reduction: reduce the exponent by N = 32..63 (as the Pentium does:
        // N = 32 + ((d - 32) mod 32)).
        let n = 32 + ((d - 32) & 31);
        let num = (ma as u128) << n;
        let r = num % mb as u128;
        let q = (num / mb as u128) as u64;
        let v = if r == 0 {
            F80::zero(sa)
        } else {
            round_f80(&mut c, sa, eb + (d - n) + 64, r, 64)
        };
        Rem {
            val: v,
            q,
            incomplete: true,
        }
    } else if d < 0 {
        if ieee && d == -1 && ma > mb {
            // |a| > |b|/2: remainder a - b, quotient 1.
            let r = 2 * mb as u128 - ma as u128;
            Rem {
                val: round_f80(&mut c, !sa, ea + 64, r, 64),
                q: 1,
                incomplete: false,
            }
        } else {
            Rem {
                val: norm_copy(&mut c, a),
                q: 0,
                incomplete: false,
            }
        }
    } else {
        let num = (ma as u128) << d;
        let mbw = mb as u128;
        let mut q = num / mbw;
        let mut r = num % mbw;
        let mut sign = sa;
        if ieee && (2 * r > mbw || (2 * r == mbw && q & 1 == 1)) {
            r = mbw - r;
            q += 1;
            sign = !sa;
        }
        let v = if r == 0 {
            F80::zero(sa)
        } else {
            round_f80(&mut c, sign, eb + 64, r, 64)
        };
        Rem {
            val: v,
            q: q as u64,
            incomplete: false,
        }
    };
    ctx.exc |= c.exc;
    ctx.up = false;
    res
}

/// Round to an integral value in the current rounding mode (FRNDINT; no precision control).
pub fn rndint(ctx: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = screen1(ctx, a) {
        return r;
    }
    match a.class() {
        Class::Zero | Class::Inf => return a,
        _ => {}
    }
    check_denormal(ctx, &[a]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    let (s, e, m) = a.unpack();
    ctx.up = false;
    if e >= 63 {
        return a;
    }
    let sig = (m as u128) << 64;
    // Keep bits above the binary point: `keep` = e + 1 integer bits (may be <= 0).
    let drop = (127 - e).min(200) as u32; // bits below the binary point
    let (int_part, rem, half) = if drop >= 128 {
        (0u128, sig, if drop == 128 { 1u128 << 127 } else { 0 })
    } else {
        let lsb = 1u128 << drop;
        (sig >> drop, sig & (lsb - 1), lsb >> 1)
    };
    let rem_nonzero = rem != 0;
    let inc = if drop > 128 {
        // |a| < 0.5: nearest rounds to 0.
        match ctx.rc {
            1 => s,
            2 => !s,
            _ => false,
        }
    } else {
        match ctx.rc {
            0 => rem > half || (rem == half && int_part & 1 == 1),
            1 => rem_nonzero && s,
            2 => rem_nonzero && !s,
            _ => false,
        }
    };
    if !rem_nonzero {
        return a;
    }
    ctx.raise(PE);
    let v = int_part + inc as u128;
    ctx.up = inc;
    if v == 0 {
        return F80::zero(s);
    }
    let lz = v.leading_zeros();
    round_f80(&mut Ctx { exc: 0, ..*ctx }, s, 127 - lz as i32, v << lz, 64)
}

/// FSCALE: a * 2^trunc(b).
pub fn scale(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = screen2(ctx, a, b) {
        return r;
    }
    let (ca, cb) = (a.class(), b.class());
    if cb == Class::Inf {
        return match (ca, b.sign()) {
            (Class::Zero, false) | (Class::Inf, true) => invalid(ctx),
            (_, false) => {
                check_denormal(ctx, &[a]);
                F80::inf(a.sign())
            }
            (_, true) => {
                check_denormal(ctx, &[a]);
                F80::zero(a.sign())
            }
        };
    }
    check_denormal(ctx, &[a, b]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    if ca == Class::Zero || ca == Class::Inf {
        return a;
    }
    let n: i32 = if cb == Class::Zero {
        0
    } else {
        let (sb, eb, mb) = b.unpack();
        let mag = if eb < 0 {
            0
        } else if eb >= 16 {
            0x10000
        } else {
            (mb >> (63 - eb)) as i32
        };
        if sb {
            -mag
        } else {
            mag
        }
    };
    let (sa, ea, ma) = a.unpack();
    round_f80(ctx, sa, ea + n, (ma as u128) << 64, 64)
}

/// FXTRACT: (exponent as a value, significand with exponent 0). Zero → ZE, (-inf, ±0).
pub fn xtract(ctx: &mut Ctx, a: F80) -> (F80, F80) {
    if let Some(r) = screen1(ctx, a) {
        return (r, r);
    }
    match a.class() {
        Class::Zero => {
            ctx.raise(ZE);
            return (F80::inf(true), a);
        }
        Class::Inf => return (F80::inf(false), a),
        _ => {}
    }
    check_denormal(ctx, &[a]);
    if ctx.blocked() {
        return (F80::INDEFINITE, F80::INDEFINITE);
    }
    let (s, e, m) = a.unpack();
    let sig = F80::new(s, BIAS as u16, m);
    (super::conv::from_i64(e as i64), sig)
}

/// Comparison outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ord3 {
    Less,
    Equal,
    Greater,
    Unordered,
}

/// Compare a with b. `quiet`: only SNaNs (and unsupported formats) raise IE (FUCOM); otherwise
/// any NaN does (FCOM).
pub fn compare(ctx: &mut Ctx, a: F80, b: F80, quiet: bool) -> Ord3 {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        ctx.raise(IE);
        return Ord3::Unordered;
    }
    let an = matches!(ca, Class::QNaN | Class::SNaN);
    let bn = matches!(cb, Class::QNaN | Class::SNaN);
    if an || bn {
        if !quiet || ca == Class::SNaN || cb == Class::SNaN {
            ctx.raise(IE);
        }
        return Ord3::Unordered;
    }
    check_denormal(ctx, &[a, b]);
    cmp_num(a, b)
}

/// Ordering of two non-NaN values.
pub fn cmp_num(a: F80, b: F80) -> Ord3 {
    let key = |x: F80| -> (i32, i128) {
        match x.class() {
            Class::Zero => (0, 0),
            Class::Inf => (if x.sign() { -1 } else { 1 }, 0),
            _ => {
                let (s, e, m) = x.unpack();
                let mag = ((e as i128 + 20000) << 64) | m as i128;
                (0, if s { -mag } else { mag })
            }
        }
    };
    match key(a).cmp(&key(b)) {
        std::cmp::Ordering::Less => Ord3::Less,
        std::cmp::Ordering::Equal => Ord3::Equal,
        std::cmp::Ordering::Greater => Ord3::Greater,
    }
}
