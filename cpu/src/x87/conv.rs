//! Conversions between the 80-bit register format and the x87's memory formats: 16/32/64-bit
//! integers, 32/64-bit reals, 18-digit packed BCD, plus the built-in constants (FLDPI …) with
//! their rounding-mode-dependent last bit.

use super::f80::*;
use super::F80;

/// Exact conversion of an integer.
pub fn from_i64(v: i64) -> F80 {
    if v == 0 {
        return F80::ZERO;
    }
    let m = v.unsigned_abs();
    let lz = m.leading_zeros();
    F80::new(v < 0, (BIAS + 63 - lz as i32) as u16, m << lz)
}

/// Round to an integer of `bits` (16/32/64) bits in the current rounding mode (FIST/FISTP,
/// FBSTP uses 64 and checks the BCD range itself). Invalid (NaN, infinity, out of range) →
/// IE and `None` (the caller stores the integer indefinite when IE is masked).
pub fn to_int(ctx: &mut Ctx, a: F80, bits: u32) -> Option<i64> {
    ctx.up = false;
    match a.class() {
        Class::Zero => return Some(0),
        Class::Inf | Class::QNaN | Class::SNaN | Class::Unsupported => {
            ctx.raise(IE);
            return None;
        }
        _ => {}
    }
    let (s, e, m) = a.unpack();
    let (int, rem, half): (u128, u128, u128) = if e >= 64 {
        ctx.raise(IE);
        return None;
    } else if e >= 0 {
        let sig = (m as u128) << 64;
        let drop = 127 - e as u32;
        let lsb = 1u128 << drop;
        (sig >> drop, sig & (lsb - 1), lsb >> 1)
    } else if e == -1 {
        (0, m as u128, 1u128 << 63)
    } else {
        (0, 1, 2) // below one half: only the sticky matters
    };
    let inc = match ctx.rc {
        0 => rem > half || (rem == half && int & 1 == 1),
        1 => rem != 0 && s,
        2 => rem != 0 && !s,
        _ => false,
    };
    let v = int + inc as u128;
    let limit: u128 = 1u128 << (bits - 1);
    if (!s && v >= limit) || (s && v > limit) {
        ctx.raise(IE);
        return None;
    }
    if rem != 0 {
        ctx.raise(PE);
        ctx.up = inc;
    }
    Some(if s {
        (v as i128).wrapping_neg() as i64
    } else {
        v as i64
    })
}

/// Convert a 64-bit real (exact; a denormal sets `ctx.den`; NaNs stay signalling/quiet).
pub fn from_f64(ctx: &mut Ctx, v: u64) -> F80 {
    let s = v >> 63 != 0;
    let e = ((v >> 52) & 0x7FF) as i32;
    let f = v & ((1 << 52) - 1);
    match e {
        0 if f == 0 => F80::zero(s),
        0 => {
            ctx.den = true;
            let lz = f.leading_zeros() as i32; // f < 2^52
                                               // value = f * 2^(-1074); normalized significand f << lz, exponent 63 - lz - 1074
            F80::new(s, (BIAS + 63 - lz - 1074) as u16, f << lz)
        }
        0x7FF if f == 0 => F80::inf(s),
        // NaNs keep their quiet bit: the consumer signals IE for an SNaN and quiets it.
        0x7FF => F80::new(s, 0x7FFF, J | (f << 11)),
        _ => F80::new(s, (e - 1023 + BIAS) as u16, J | (f << 11)),
    }
}

pub fn from_f32(ctx: &mut Ctx, v: u32) -> F80 {
    let s = v >> 31 != 0;
    let e = ((v >> 23) & 0xFF) as i32;
    let f = (v & 0x7F_FFFF) as u64;
    match e {
        0 if f == 0 => F80::zero(s),
        0 => {
            ctx.den = true;
            let lz = f.leading_zeros() as i32;
            F80::new(s, (BIAS + 63 - lz - 149) as u16, f << lz)
        }
        0xFF if f == 0 => F80::inf(s),
        0xFF => F80::new(s, 0x7FFF, J | (f << 40)),
        _ => F80::new(s, (e - 127 + BIAS) as u16, J | (f << 40)),
    }
}

/// Store conversion to a 64-bit real (FST m64). IE on SNaN/unsupported; masked responses are
/// the quieted NaN / the double indefinite.
pub fn to_f64(ctx: &mut Ctx, a: F80) -> u64 {
    let s = (a.sign() as u64) << 63;
    ctx.up = false;
    match a.class() {
        Class::Zero => s,
        Class::Inf => s | 0x7FF0_0000_0000_0000,
        Class::Unsupported => {
            ctx.raise(IE);
            0xFFF8_0000_0000_0000
        }
        Class::SNaN | Class::QNaN => {
            if a.class() == Class::SNaN {
                ctx.raise(IE);
            }
            s | 0x7FF8_0000_0000_0000 | ((a.mant >> 11) & ((1 << 52) - 1))
        }
        _ => {
            let (sg, e, m) = a.unpack();
            round(ctx, sg, e, (m as u128) << 64, DBL, 53).to_f64()
        }
    }
}

pub fn to_f32(ctx: &mut Ctx, a: F80) -> u32 {
    let s = (a.sign() as u32) << 31;
    ctx.up = false;
    match a.class() {
        Class::Zero => s,
        Class::Inf => s | 0x7F80_0000,
        Class::Unsupported => {
            ctx.raise(IE);
            0xFFC0_0000
        }
        Class::SNaN | Class::QNaN => {
            if a.class() == Class::SNaN {
                ctx.raise(IE);
            }
            s | 0x7FC0_0000 | ((a.mant >> 40) as u32 & 0x7F_FFFF)
        }
        _ => {
            let (sg, e, m) = a.unpack();
            round(ctx, sg, e, (m as u128) << 64, SGL, 24).to_f32()
        }
    }
}

/// FBLD: 10 bytes of packed BCD (sign in bit 7 of byte 9). Invalid digits give an undefined
/// result on real hardware; we decode them as binary nibbles.
pub fn from_bcd(b: &[u8; 10]) -> F80 {
    let mut v: i64 = 0;
    for k in (0..9).rev() {
        v = v * 100 + (b[k] >> 4) as i64 * 10 + (b[k] & 15) as i64;
    }
    let r = from_i64(v);
    if b[9] & 0x80 != 0 {
        r.with_sign(true)
    } else {
        r
    }
}

/// FBSTP: round to an integer and encode; `None` when invalid (the caller stores the packed
/// BCD indefinite FFFF C000 0000 0000 0000 when IE is masked).
pub fn to_bcd(ctx: &mut Ctx, a: F80) -> Option<[u8; 10]> {
    let v = to_int(ctx, a, 64)?;
    let m = v.unsigned_abs();
    if m > 999_999_999_999_999_999 {
        ctx.raise(IE);
        ctx.exc &= !(PE as u32);
        ctx.up = false;
        return None;
    }
    let mut out = [0u8; 10];
    let mut x = m;
    for byte in out.iter_mut().take(9) {
        let lo = (x % 10) as u8;
        x /= 10;
        let hi = (x % 10) as u8;
        x /= 10;
        *byte = (hi << 4) | lo;
    }
    if a.sign() {
        out[9] = 0x80;
    }
    Some(out)
}

/// The built-in constants, kept with more bits than the register holds and rounded by RC (as
/// the hardware does with its 66-bit constant ROM; PE is not raised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Const {
    One,
    L2T,
    L2E,
    Pi,
    Lg2,
    Ln2,
    Zero,
}

pub fn constant(c: Const, rc: u8) -> F80 {
    // (exponent, 64-bit significand, next bits of the true value)
    let (e, m, ext): (i32, u64, u64) = match c {
        Const::One => return F80::ONE,
        Const::Zero => return F80::ZERO,
        Const::L2T => (1, 0xD49A_784B_CD1B_8AFE, 0x492B_F6FF_4DAF_DB4C),
        Const::L2E => (0, 0xB8AA_3B29_5C17_F0BB, 0xBE87_FED0_691D_3E89),
        Const::Pi => (1, 0xC90F_DAA2_2168_C234, 0xC4C6_628B_80DC_1CD1),
        Const::Lg2 => (-2, 0x9A20_9A84_FBCF_F798, 0x8F89_59AC_0B7C_9178),
        Const::Ln2 => (-1, 0xB172_17F7_D1CF_79AB, 0xC9E3_B398_03F2_F6AF),
    };
    // Rounded from the exact value (no constant lies on a tie; FLDLG2 rounds up in the nearest
    // mode, as measured on hardware, which a 66-bit-then-64-bit double rounding would not).
    let inc = match rc {
        0 => ext >= 1 << 63,
        2 => ext != 0,
        _ => false,
    };
    F80::new(false, (BIAS + e) as u16, m + inc as u64)
}
