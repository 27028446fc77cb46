//! Transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1.
//! Series are summed in the 128-bit `Big` format and rounded once (results are within an ulp of
//! the exact value; the hardware claims the same). FSIN/FCOS/FPTAN reduce their argument with
//! the x87's 66-bit pi, as real hardware does, and refuse |x| >= 2^63 with C2 = 1.

use super::big::{reduction_pi_2, Big, Fix};
use super::f80::*;
use super::F80;

/// sin(r) and cos(r) for |r| <= pi/4 (Taylor series).
fn sin_cos_small(r: Big) -> (Big, Big) {
    let r2 = r.mul(r);
    // sin
    let mut term = r;
    let mut s = r;
    let mut n = 1u64;
    for _ in 0..40 {
        term = term.mul(r2).div_int((n + 1) * (n + 2)).neg();
        n += 2;
        if term.is_zero() || term.exp < s.exp - 140 {
            break;
        }
        s = s.add(term);
    }
    let mut term = Big::ONE;
    let mut c = Big::ONE;
    let mut n = 0u64;
    for _ in 0..40 {
        term = term.mul(r2).div_int((n + 1) * (n + 2)).neg();
        n += 2;
        if term.is_zero() || term.exp < c.exp - 140 {
            break;
        }
        c = c.add(term);
    }
    (s, c)
}

/// Reduce |x| (< 2^63) by the 66-bit pi/2: (quadrant, r in [-pi/4, pi/4]).
fn reduce(x: Big) -> (u64, Big) {
    let c = reduction_pi_2();
    let xf = Fix::from_big(x.abs());
    let kb = x.abs().div(Big::PI_2);
    let mut k = kb.trunc_u64();
    let mut r = xf.sub(c.mul_u64(k));
    // Fix the estimate: r must lie in [0, c).
    while r.0[0] >> 63 != 0 {
        r = r.add(c);
        k = k.wrapping_sub(1);
    }
    while r >= c {
        r = r.sub(c);
        k = k.wrapping_add(1);
    }
    // Move to [-pi/4, pi/4]: if r > c/2, use r - c and the next quadrant.
    let half = Fix([
        c.0[0] >> 1,
        (c.0[1] >> 1) | (c.0[0] << 63),
        (c.0[2] >> 1) | (c.0[1] << 63),
        (c.0[3] >> 1) | (c.0[2] << 63),
    ]);
    if r > half {
        let d = c.sub(r);
        (k.wrapping_add(1), d.to_big(true))
    } else {
        (k, r.to_big(false))
    }
}

/// Common screening for the one-operand trigonometric instructions. `Err(Some(v))` is a final
/// result, `Err(None)` means "out of range: C2 = 1, operand unchanged".
fn trig_screen(ctx: &mut Ctx, a: F80) -> Result<Big, Option<F80>> {
    if let Some(r) = screen1(ctx, a) {
        return Err(Some(r));
    }
    match a.class() {
        Class::Inf => return Err(Some(invalid(ctx))),
        Class::Zero => return Err(Some(a)),
        _ => {}
    }
    if a.exp() as i32 >= BIAS + 63 {
        return Err(None);
    }
    check_denormal(ctx, &[a]);
    if ctx.blocked() {
        return Err(Some(F80::INDEFINITE));
    }
    Ok(Big::from_f80(a))
}

/// Result of a trigonometric instruction.
pub enum Trig {
    /// One or two values (FSINCOS/FPTAN: second is pushed).
    Done(F80, Option<F80>),
    /// |x| >= 2^63: C2 = 1, stack unchanged.
    OutOfRange,
}

fn sincos_big(x: Big) -> (Big, Big) {
    if x.exp < -1 {
        // |x| < 0.5 < pi/4: no reduction (keeps tiny arguments exact).
        return sin_cos_small(x);
    }
    let (k, r) = reduce(x);
    let (s, c) = sin_cos_small(r);
    let (s, c) = match k & 3 {
        0 => (s, c),
        1 => (c, s.neg()),
        2 => (s.neg(), c.neg()),
        _ => (c.neg(), s),
    };
    (if x.neg { s.neg() } else { s }, c)
}

/// Tiny arguments: sin x = x (and tan x = x) rounded, with PE; avoids series underflow trouble.
fn tiny(x: Big) -> bool {
    x.exp < -40
}

pub fn fsin(ctx: &mut Ctx, a: F80) -> Trig {
    let x = match trig_screen(ctx, a) {
        Ok(x) => x,
        Err(Some(v)) => return Trig::Done(v, None),
        Err(None) => return Trig::OutOfRange,
    };
    if tiny(x) {
        // sin x = x - x^3/6: the correction only decides rounding direction.
        let corr = x.mul(x).mul(x).div_int(6);
        return Trig::Done(x.sub(corr).round(ctx), None);
    }
    Trig::Done(sincos_big(x).0.round(ctx), None)
}

pub fn fcos(ctx: &mut Ctx, a: F80) -> Trig {
    if a.is_zero() {
        return Trig::Done(F80::ONE, None);
    }
    let x = match trig_screen(ctx, a) {
        Ok(x) => x,
        Err(Some(v)) => return Trig::Done(v, None),
        Err(None) => return Trig::OutOfRange,
    };
    Trig::Done(sincos_big(x).1.round(ctx), None)
}

/// FSINCOS: (sin → ST(0) after the push is cos; we return (sin, Some(cos))).
pub fn fsincos(ctx: &mut Ctx, a: F80) -> Trig {
    if a.is_zero() {
        return Trig::Done(a, Some(F80::ONE));
    }
    let x = match trig_screen(ctx, a) {
        Ok(x) => x,
        Err(Some(v)) => return Trig::Done(v, Some(v)),
        Err(None) => return Trig::OutOfRange,
    };
    let (s, c) = sincos_big(x);
    let mut c1 = *ctx;
    let sv = s.round(&mut c1);
    let cv = c.round(ctx);
    ctx.exc |= c1.exc;
    ctx.up = c1.up || ctx.up;
    Trig::Done(sv, Some(cv))
}

/// FPTAN: (tan, Some(1.0)).
pub fn fptan(ctx: &mut Ctx, a: F80) -> Trig {
    let x = match trig_screen(ctx, a) {
        Ok(x) => x,
        Err(Some(v)) => return Trig::Done(v, Some(if v.is_zero() { F80::ONE } else { v })),
        Err(None) => return Trig::OutOfRange,
    };
    if tiny(x) {
        let corr = x.mul(x).mul(x).div_int(3);
        return Trig::Done(x.add(corr).round(ctx), Some(F80::ONE));
    }
    let (k, r) = if x.exp < -1 { (0, x.abs()) } else { reduce(x) };
    let (s, c) = sin_cos_small(r);
    let t = if k & 1 == 0 { s.div(c) } else { c.div(s).neg() };
    let t = if x.neg { t.neg() } else { t };
    Trig::Done(t.round(ctx), Some(F80::ONE))
}

/// atan(t) for 0 <= t <= 1.
fn atan_unit(t: Big) -> Big {
    // tan(pi/8) = 0.41421356...
    let tan_pi_8 = Big {
        neg: false,
        exp: -2,
        sig: 0xD413_CCCF_E779_9211_65F6_26CD_D52A_FA7C,
    };
    let (base, u) = if t.sig != 0 && (t.exp, t.sig) > (tan_pi_8.exp, tan_pi_8.sig) {
        (Big::PI_4, t.sub(Big::ONE).div(t.add(Big::ONE)))
    } else {
        (Big::ZERO, t)
    };
    let u2 = u.mul(u);
    let mut pow = u;
    let mut sum = u;
    for k in 1..80u64 {
        pow = pow.mul(u2).neg();
        let term = pow.div_int(2 * k + 1);
        if term.is_zero() || term.exp < sum.exp - 140 {
            break;
        }
        sum = sum.add(term);
    }
    base.add(sum)
}

/// FPATAN: atan2(y = ST(1), x = ST(0)).
pub fn fpatan(ctx: &mut Ctx, y: F80, x: F80) -> F80 {
    if let Some(r) = screen2(ctx, x, y) {
        return r;
    }
    let (cy, cx) = (y.class(), x.class());
    let sy = y.sign();
    let res = |v: Big, ctx: &mut Ctx| if sy { v.neg().round(ctx) } else { v.round(ctx) };
    if cy == Class::Inf {
        check_denormal(ctx, &[x]);
        return match (cx, x.sign()) {
            (Class::Inf, false) => res(Big::PI_4, ctx),
            (Class::Inf, true) => res(Big::PI_4.mul(Big::from_int(3)), ctx),
            _ => res(Big::PI_2, ctx),
        };
    }
    if cx == Class::Inf {
        check_denormal(ctx, &[y]);
        return if x.sign() {
            res(Big::PI, ctx)
        } else {
            F80::zero(sy)
        };
    }
    check_denormal(ctx, &[x, y]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    if cy == Class::Zero {
        return if x.sign() {
            res(Big::PI, ctx)
        } else {
            F80::zero(sy)
        };
    }
    if cx == Class::Zero {
        return res(Big::PI_2, ctx);
    }
    let (by, bx) = (Big::from_f80(y).abs(), Big::from_f80(x).abs());
    let swap = (by.exp, by.sig) > (bx.exp, bx.sig);
    let t = if swap { bx.div(by) } else { by.div(bx) };
    let mut a = atan_unit(t);
    if swap {
        a = Big::PI_2.sub(a);
    }
    if x.sign() {
        a = Big::PI.sub(a);
    }
    res(a, ctx)
}

/// e^t - 1 for moderate |t| (series).
fn expm1(t: Big) -> Big {
    let mut term = t;
    let mut sum = t;
    for n in 2..80u64 {
        term = term.mul(t).div_int(n);
        if term.is_zero() || term.exp < sum.exp - 140 {
            break;
        }
        sum = sum.add(term);
    }
    sum
}

/// F2XM1: 2^x - 1 (defined for -1 <= x <= 1).
pub fn f2xm1(ctx: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = screen1(ctx, a) {
        return r;
    }
    match a.class() {
        Class::Zero => return a,
        Class::Inf => return if a.sign() { F80::ONE.neg() } else { a },
        _ => {}
    }
    check_denormal(ctx, &[a]);
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    let x = Big::from_f80(a);
    if x.exp >= 0 && !(x.exp == 0 && x.sig == 1 << 127) {
        // Outside the documented domain (|x| > 1) the result is undefined; the reference host
        // returns the operand unchanged and signals PE.
        ctx.raise(PE);
        ctx.up = false;
        return a;
    }
    expm1(x.mul(Big::LN2)).round(ctx)
}

/// ln(m) for a value m near 1 via 2 atanh((m-1)/(m+1)); `num` = m - 1, `den` = m + 1.
fn ln_ratio(num: Big, den: Big) -> Big {
    let s = num.div(den);
    let s2 = s.mul(s);
    let mut pow = s;
    let mut sum = s;
    for k in 1..100u64 {
        pow = pow.mul(s2);
        let term = pow.div_int(2 * k + 1);
        if term.is_zero() || term.exp < sum.exp - 140 {
            break;
        }
        sum = sum.add(term);
    }
    sum.scale(1)
}

/// log2 of a positive value held in a `Big`.
fn log2_big(t: Big) -> Big {
    let mut e = t.exp;
    let mut m = Big {
        neg: false,
        exp: 0,
        sig: t.sig,
    };
    // Keep m in [sqrt(1/2), sqrt(2)).
    if t.sig > 0xB504_F333_F9DE_6484_597D_89B3_754A_BE9F {
        m = m.scale(-1);
        e += 1;
    }
    let ln_m = ln_ratio(m.sub(Big::ONE), m.add(Big::ONE));
    Big::from_int(e as i64).add(ln_m.div(Big::LN2))
}

/// log2 of a positive finite value.
fn log2(x: F80) -> Big {
    log2_big(Big::from_f80(x))
}

/// FYL2X: y * log2(x), y = ST(1), x = ST(0).
pub fn fyl2x(ctx: &mut Ctx, y: F80, x: F80) -> F80 {
    if let Some(r) = screen2(ctx, x, y) {
        return r;
    }
    let (cx, cy) = (x.class(), y.class());
    if x.sign() && cx != Class::Zero {
        return invalid(ctx);
    }
    check_denormal(ctx, &[x, y]);
    let one_cmp = if matches!(cx, Class::Zero | Class::Inf) {
        None
    } else {
        Some(super::arith::cmp_num(x, F80::ONE))
    };
    use super::arith::Ord3;
    match (cx, cy) {
        (Class::Zero, Class::Zero) => return invalid(ctx),
        (Class::Zero, Class::Inf) => return F80::inf(!y.sign()),
        (Class::Zero, _) => {
            if ctx.blocked() {
                return F80::INDEFINITE;
            }
            ctx.raise(ZE);
            return F80::inf(!y.sign());
        }
        (Class::Inf, Class::Zero) => return invalid(ctx),
        (Class::Inf, _) => return F80::inf(y.sign()),
        (_, Class::Inf) => {
            return match one_cmp {
                Some(Ord3::Equal) => invalid(ctx),
                Some(Ord3::Less) => F80::inf(!y.sign()),
                _ => F80::inf(y.sign()),
            }
        }
        (_, Class::Zero) => {
            return match one_cmp {
                Some(Ord3::Less) => F80::zero(!y.sign()),
                _ => F80::zero(y.sign()),
            }
        }
        _ => {}
    }
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    if one_cmp == Some(Ord3::Equal) {
        return F80::zero(y.sign());
    }
    let l = log2(x);
    l.mul(Big::from_f80(y)).round(ctx)
}

/// FYL2XP1: y * log2(x + 1), y = ST(1), x = ST(0).
pub fn fyl2xp1(ctx: &mut Ctx, y: F80, x: F80) -> F80 {
    if let Some(r) = screen2(ctx, x, y) {
        return r;
    }
    let (cx, cy) = (x.class(), y.class());
    check_denormal(ctx, &[x, y]);
    match (cx, cy) {
        (Class::Zero, Class::Inf) | (Class::Inf, Class::Zero) => return invalid(ctx),
        (Class::Zero, _) => return F80::zero(x.sign() ^ y.sign()),
        (_, Class::Zero) => return F80::zero(x.sign() ^ y.sign()),
        (Class::Inf, _) => {
            return if x.sign() {
                invalid(ctx)
            } else {
                F80::inf(y.sign())
            };
        }
        (_, Class::Inf) => return F80::inf(x.sign() ^ y.sign()),
        _ => {}
    }
    if ctx.blocked() {
        return F80::INDEFINITE;
    }
    let bx = Big::from_f80(x);
    // 1 - sqrt(2)/2
    let lim = Big {
        neg: false,
        exp: -2,
        sig: 0x95F6_1998_0C43_36F7_4D04_EC99_156A_82C1,
    };
    if x.sign() && bx.exp >= 0 {
        if bx.exp == 0 && bx.sig == 1 << 127 {
            // log2(0)
            ctx.raise(ZE);
            return F80::inf(!y.sign());
        }
        // x < -1: undefined; the reference host returns the operand x (and PE).
        ctx.raise(PE);
        ctx.up = false;
        return x;
    }
    let l = if (bx.exp, bx.sig) < (lim.exp, lim.sig) {
        ln_ratio(bx, bx.add(Big::from_int(2))).div(Big::LN2)
    } else {
        log2_big(bx.add(Big::ONE))
    };
    l.mul(Big::from_f80(y)).round(ctx)
}
