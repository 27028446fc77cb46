//! Soft-float core for the x87's 80-bit extended format: classification, the exception/rounding
//! context taken from the control word, and one rounding routine shared by every destination
//! format (80-bit with precision control, 64-bit and 32-bit reals).
//!
//! Intermediate results are `(sign, unbiased exponent, u128 significand with the integer bit at
//! bit 127)`; the low bits carry guard and sticky information ("jamming" shifts keep a 1 in bit 0
//! when anything non-zero was shifted out). Rounding follows the x87 rules: round at the precision
//! position of the destination's significand field (also for denormals), tininess detected
//! before rounding, C1 = "rounded up", masked overflow/underflow responses as in the Intel SDM
//! vol. 1 §4.9 and §8.5, bias-adjusted results for unmasked OE/UE on register destinations.

use super::F80;

/// Exception bits, laid out as in the status word (and the control word's masks).
pub const IE: u16 = 0x01;
pub const DE: u16 = 0x02;
pub const ZE: u16 = 0x04;
pub const OE: u16 = 0x08;
pub const UE: u16 = 0x10;
pub const PE: u16 = 0x20;
/// Stack fault (status word bit 6); always with IE.
pub const SF: u16 = 0x40;

/// Extended-format exponent bias.
pub const BIAS: i32 = 16383;
/// The bias adjustment applied to results of unmasked overflow/underflow (3 << 13).
pub const WRAP: i32 = 24576;

/// Rounding and exception context of one operation.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Rounding control: 0 nearest-even, 1 down, 2 up, 3 toward zero.
    pub rc: u8,
    /// Significand bits from precision control (24, 53 or 64).
    pub prec: u32,
    /// Exception masks (control word bits 0-5). (u32, as `exc`: 16-bit fields side by side get
    /// read as one word after separate narrow writes, which stalls store forwarding.)
    pub mask: u32,
    /// Exceptions raised so far (the `IE`..`SF` bits).
    pub exc: u32,
    /// The last rounding increased the magnitude (becomes C1).
    pub up: bool,
    /// A memory operand was a 32/64-bit denormal (it is normal once converted, but the
    /// operation raises DE where it would for a denormal operand).
    pub den: bool,
}

impl Ctx {
    pub fn from_cw(cw: u16) -> Ctx {
        let prec = match (cw >> 8) & 3 {
            0 => 24,
            2 => 53,
            _ => 64,
        };
        Ctx {
            rc: ((cw >> 10) & 3) as u8,
            prec,
            mask: cw as u32 & 0x3F,
            exc: 0,
            up: false,
            den: false,
        }
    }
    /// Same context, full 64-bit precision (for operations not subject to precision control).
    pub fn full(&self) -> Ctx {
        Ctx { prec: 64, ..*self }
    }
    #[inline]
    pub fn masked(&self, e: u16) -> bool {
        self.mask & e as u32 != 0
    }
    #[inline]
    pub fn raise(&mut self, e: u16) {
        self.exc |= e as u32;
    }
    /// An unmasked exception that suppresses the result (IE, DE, ZE) was raised.
    pub fn blocked(&self) -> bool {
        self.exc & (IE | DE | ZE) as u32 & !self.mask != 0
    }
}

/// What kind of value an 80-bit register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    /// Exponent 0, integer bit clear, significand non-zero.
    Denormal,
    /// Exponent 0 with the integer bit set (treated as exponent 1, raises DE).
    PseudoDenormal,
    Normal,
    Inf,
    QNaN,
    SNaN,
    /// Unnormal, pseudo-NaN, pseudo-infinity: invalid operands since the 387.
    Unsupported,
}

pub const J: u64 = 1 << 63;
pub const QBIT: u64 = 1 << 62;

impl F80 {
    pub const ZERO: F80 = F80 { mant: 0, se: 0 };
    pub const ONE: F80 = F80 {
        mant: J,
        se: 0x3FFF,
    };
    pub const INF: F80 = F80 {
        mant: J,
        se: 0x7FFF,
    };
    /// The "real indefinite" QNaN.
    pub const INDEFINITE: F80 = F80 {
        mant: 0xC000_0000_0000_0000,
        se: 0xFFFF,
    };

    #[inline]
    pub const fn new(sign: bool, exp: u16, mant: u64) -> F80 {
        F80 {
            mant,
            se: ((sign as u16) << 15) | (exp & 0x7FFF),
        }
    }
    #[inline]
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }
    #[inline]
    pub fn exp(self) -> u16 {
        self.se & 0x7FFF
    }
    #[inline]
    pub fn neg(self) -> F80 {
        F80 {
            mant: self.mant,
            se: self.se ^ 0x8000,
        }
    }
    #[inline]
    pub fn abs(self) -> F80 {
        F80 {
            mant: self.mant,
            se: self.se & 0x7FFF,
        }
    }
    #[inline]
    pub fn with_sign(self, s: bool) -> F80 {
        F80 {
            mant: self.mant,
            se: (self.se & 0x7FFF) | ((s as u16) << 15),
        }
    }
    pub fn zero(sign: bool) -> F80 {
        F80::new(sign, 0, 0)
    }
    pub fn inf(sign: bool) -> F80 {
        F80::new(sign, 0x7FFF, J)
    }
    pub fn class(self) -> Class {
        let e = self.exp();
        let j = self.mant & J != 0;
        match e {
            0 if self.mant == 0 => Class::Zero,
            0 if j => Class::PseudoDenormal,
            0 => Class::Denormal,
            0x7FFF if !j => Class::Unsupported,
            0x7FFF if self.mant << 1 == 0 => Class::Inf,
            0x7FFF if self.mant & QBIT != 0 => Class::QNaN,
            0x7FFF => Class::SNaN,
            _ if !j => Class::Unsupported,
            _ => Class::Normal,
        }
    }
    #[inline]
    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNaN | Class::SNaN)
    }
    #[inline]
    pub fn is_zero(self) -> bool {
        self.class() == Class::Zero
    }
    /// Denormal or pseudo-denormal (raises DE when used as an operand).
    #[inline]
    pub fn is_denormal(self) -> bool {
        matches!(self.class(), Class::Denormal | Class::PseudoDenormal)
    }
    /// The quiet version of a NaN.
    #[inline]
    pub fn quiet(self) -> F80 {
        F80 {
            mant: self.mant | QBIT,
            se: self.se,
        }
    }
    /// Tag of this value for the tag word: 0 valid, 1 zero, 2 special.
    #[inline]
    pub fn tag(self) -> u16 {
        // (`class()` Normal → 0, Zero → 1, anything else → 2, without the full match.)
        if self.is_normal() {
            0
        } else if self.se & 0x7FFF == 0 && self.mant == 0 {
            1
        } else {
            2
        }
    }
    /// A normal finite value (`class() == Class::Normal`): exponent 1..=0x7FFE with the integer
    /// bit set.
    #[inline]
    pub fn is_normal(self) -> bool {
        (self.se & 0x7FFF).wrapping_sub(1) < 0x7FFE && self.mant & J != 0
    }
    /// Finite non-zero value as (sign, unbiased exponent, significand normalized to bit 63).
    /// Must not be called on zero/inf/NaN/unsupported.
    pub fn unpack(self) -> (bool, i32, u64) {
        let mut e = self.exp() as i32;
        let mut m = self.mant;
        if e == 0 {
            e = 1;
        }
        let lz = m.leading_zeros() as i32;
        m = m.checked_shl(lz as u32).unwrap_or(0);
        e -= lz;
        (self.sign(), e - BIAS, m)
    }
}

/// Right shift of a u128 keeping a sticky bit.
#[inline]
pub fn shr_jam(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n >= 128 {
        (x != 0) as u128
    } else {
        (x >> n) | ((x & ((1u128 << n) - 1)) != 0) as u128
    }
}

/// Destination format of a rounding.
#[derive(Clone, Copy, Debug)]
pub struct Fmt {
    /// Significand bits including the integer bit.
    pub prec: u32,
    /// Smallest normal unbiased exponent.
    pub emin: i32,
    /// Largest finite unbiased exponent.
    pub emax: i32,
    /// Bias-adjusted results for unmasked OE/UE (register destinations).
    pub wrap: bool,
}

pub const EXT: Fmt = Fmt {
    prec: 64,
    emin: -16382,
    emax: 16383,
    wrap: true,
};
pub const DBL: Fmt = Fmt {
    prec: 53,
    emin: -1022,
    emax: 1023,
    wrap: false,
};
pub const SGL: Fmt = Fmt {
    prec: 24,
    emin: -126,
    emax: 127,
    wrap: false,
};

/// A rounded result: `exp` is unbiased (`emin - 1` for denormals and zero, `emax + 1` for
/// infinity); `mant` holds the significand with the integer bit at bit 63.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    pub sign: bool,
    pub exp: i32,
    pub mant: u64,
}

/// Does rounding of `rem` (bits below the last kept bit, `half` = weight of the guard bit)
/// increment the kept part?
#[inline]
fn round_inc(rc: u8, sign: bool, rem: u128, half: u128, lsb_set: bool) -> bool {
    match rc {
        0 => rem > half || (rem == half && lsb_set),
        1 => rem != 0 && sign,
        2 => rem != 0 && !sign,
        _ => false,
    }
}

/// Round `(-1)^sign * sig/2^127 * 2^exp` (sig != 0, normalized or not) into `fmt` with
/// precision `prec` (≤ fmt.prec), raising PE/UE/OE and setting `ctx.up`.
pub fn round(ctx: &mut Ctx, sign: bool, exp: i32, sig: u128, fmt: Fmt, prec: u32) -> Rounded {
    ctx.up = false;
    if sig == 0 {
        return Rounded {
            sign,
            exp: fmt.emin - 1,
            mant: 0,
        };
    }
    let lz = sig.leading_zeros();
    let mut sig = sig << lz;
    let mut exp = exp - lz as i32;
    let drop = 128 - prec;
    let lsb = 1u128 << drop;
    // Tininess is detected after rounding (as if the exponent range were unbounded).
    let tiny = exp < fmt.emin - 1
        || (exp == fmt.emin - 1 && {
            let rem = sig & (lsb - 1);
            let kept = sig & !(lsb - 1);
            !(round_inc(ctx.rc, sign, rem, lsb >> 1, kept & lsb != 0)
                && kept.checked_add(lsb).is_none())
        });
    let mut denorm = false;
    if tiny {
        if !ctx.masked(UE) {
            ctx.raise(UE);
            if !fmt.wrap {
                // Memory destination: nothing is stored, only UE is reported.
                return Rounded {
                    sign,
                    exp: fmt.emin - 1,
                    mant: 0,
                };
            }
            if exp + WRAP < fmt.emin {
                // Even the bias-adjusted result is out of range (FSCALE): signed zero.
                ctx.raise(PE);
                return Rounded {
                    sign,
                    exp: fmt.emin - 1,
                    mant: 0,
                };
            }
            exp += WRAP;
        } else if exp < fmt.emin {
            sig = shr_jam(sig, (fmt.emin - exp) as u32);
            exp = fmt.emin;
            denorm = true;
        }
    }
    let rem = sig & (lsb - 1);
    let inexact = rem != 0;
    let mut kept = sig & !(lsb - 1);
    let mut up = false;
    if round_inc(ctx.rc, sign, rem, lsb >> 1, kept & lsb != 0) {
        up = true;
        match kept.checked_add(lsb) {
            Some(k) => kept = k,
            None => {
                kept = 1 << 127;
                exp += 1;
            }
        }
    }
    if exp > fmt.emax {
        ctx.raise(OE);
        if !ctx.masked(OE) {
            if !fmt.wrap {
                return Rounded {
                    sign,
                    exp: fmt.emax + 1,
                    mant: J,
                };
            }
            if exp - WRAP <= fmt.emax {
                if inexact {
                    ctx.raise(PE);
                    ctx.up = up;
                }
                return Rounded {
                    sign,
                    exp: exp - WRAP,
                    mant: (kept >> 64) as u64,
                };
            }
            ctx.raise(PE);
            ctx.up = true;
            return Rounded {
                sign,
                exp: fmt.emax + 1,
                mant: J,
            };
        }
        ctx.raise(PE);
        let to_inf = match ctx.rc {
            0 => true,
            1 => sign,
            2 => !sign,
            _ => false,
        };
        ctx.up = to_inf;
        return if to_inf {
            Rounded {
                sign,
                exp: fmt.emax + 1,
                mant: J,
            }
        } else {
            let m = !0u64 << (64 - prec);
            Rounded {
                sign,
                exp: fmt.emax,
                mant: m,
            }
        };
    }
    if inexact {
        ctx.raise(PE);
        ctx.up = up;
        if tiny && ctx.masked(UE) {
            ctx.raise(UE);
        }
    }
    if denorm && kept >> 127 == 0 {
        // Still denormal (or rounded to zero).
        return Rounded {
            sign,
            exp: fmt.emin - 1,
            mant: (kept >> 64) as u64,
        };
    }
    Rounded {
        sign,
        exp,
        mant: (kept >> 64) as u64,
    }
}

impl Rounded {
    pub fn to_f80(self) -> F80 {
        if self.mant & J == 0 {
            return F80::new(self.sign, 0, self.mant);
        }
        F80::new(
            self.sign,
            (self.exp + BIAS).clamp(0, 0x7FFF) as u16,
            self.mant,
        )
    }
    pub fn to_f64(self) -> u64 {
        let s = (self.sign as u64) << 63;
        if self.mant & J == 0 {
            return s | (self.mant >> 11);
        }
        s | (((self.exp + 1023) as u64 & 0x7FF) << 52) | ((self.mant >> 11) & ((1 << 52) - 1))
    }
    pub fn to_f32(self) -> u32 {
        let s = (self.sign as u32) << 31;
        if self.mant & J == 0 {
            return s | (self.mant >> 40) as u32;
        }
        s | (((self.exp + 127) as u32 & 0xFF) << 23) | ((self.mant >> 40) as u32 & 0x7F_FFFF)
    }
}

/// Round an intermediate into an 80-bit register value at precision `prec`.
#[inline]
pub fn round_f80(ctx: &mut Ctx, sign: bool, exp: i32, sig: u128, prec: u32) -> F80 {
    if prec == 64 && sig != 0 {
        if let Some((v, pe, up)) = round64_in_range(sign, exp, sig, ctx.rc) {
            ctx.up = up;
            if pe {
                ctx.raise(PE);
            }
            return v;
        }
    }
    round(ctx, sign, exp, sig, EXT, prec).to_f80()
}

/// `round_f80`'s fast path: full precision, rounding control `rc`, a non-zero `sig` / 2^127 *
/// 2^`exp` whose normalized exponent is well inside the range (no tininess, no overflow even
/// when rounding carries into the exponent). The same result as `round`, with whether it is
/// inexact (PE) and rounded up in magnitude (C1); `None` outside that range.
#[inline(always)]
pub fn round64_in_range(sign: bool, exp: i32, sig: u128, rc: u8) -> Option<(F80, bool, bool)> {
    let lz = sig.leading_zeros();
    let sig = sig << lz;
    let exp = exp - lz as i32;
    if !(EXT.emin..EXT.emax).contains(&exp) {
        return None;
    }
    let (hi, lo) = ((sig >> 64) as u64, sig as u64);
    let inc = match rc {
        0 => lo > 1 << 63 || (lo == 1 << 63 && hi & 1 != 0),
        1 => lo != 0 && sign,
        2 => lo != 0 && !sign,
        _ => false,
    };
    let (mant, exp) = match hi.checked_add(inc as u64) {
        Some(h) => (h, exp),
        None => (J, exp + 1),
    };
    Some((
        F80::new(sign, (exp + BIAS) as u16, mant),
        lo != 0,
        lo != 0 && inc,
    ))
}

/// NaN result of a two-operand operation (Intel SDM vol. 1 table 4-7): an SNaN raises IE and
/// is quieted; of two NaNs the larger significand wins (on a tie, the positive one); a QNaN wins
/// over an SNaN. Returns `None` when neither operand is a NaN.
pub fn propagate_nan(ctx: &mut Ctx, a: F80, b: F80) -> Option<F80> {
    let (ca, cb) = (a.class(), b.class());
    let an = matches!(ca, Class::QNaN | Class::SNaN);
    let bn = matches!(cb, Class::QNaN | Class::SNaN);
    if !an && !bn {
        return None;
    }
    if ca == Class::SNaN || cb == Class::SNaN {
        ctx.raise(IE);
    }
    let (qa, qb) = (a.quiet(), b.quiet());
    Some(if an && bn {
        if ca == Class::QNaN && cb == Class::SNaN {
            qa
        } else if cb == Class::QNaN && ca == Class::SNaN {
            qb
        } else if qa.mant != qb.mant {
            if qa.mant > qb.mant {
                qa
            } else {
                qb
            }
        } else if qa.se < qb.se {
            qa
        } else {
            qb
        }
    } else if an {
        qa
    } else {
        qb
    })
}

/// Single-operand NaN result (SNaN → IE + quieted).
pub fn propagate_nan1(ctx: &mut Ctx, a: F80) -> Option<F80> {
    match a.class() {
        Class::SNaN => {
            ctx.raise(IE);
            Some(a.quiet())
        }
        Class::QNaN => Some(a),
        _ => None,
    }
}

/// Common operand screening for arithmetic: unsupported formats → IE + indefinite, NaNs
/// propagated. `None` means both operands are numbers (zero, denormal, normal, infinity).
pub fn screen2(ctx: &mut Ctx, a: F80, b: F80) -> Option<F80> {
    if a.class() == Class::Unsupported || b.class() == Class::Unsupported {
        ctx.raise(IE);
        return Some(F80::INDEFINITE);
    }
    propagate_nan(ctx, a, b)
}

pub fn screen1(ctx: &mut Ctx, a: F80) -> Option<F80> {
    if a.class() == Class::Unsupported {
        ctx.raise(IE);
        return Some(F80::INDEFINITE);
    }
    propagate_nan1(ctx, a)
}

/// Invalid operation: IE and the default indefinite.
pub fn invalid(ctx: &mut Ctx) -> F80 {
    ctx.raise(IE);
    F80::INDEFINITE
}

/// Raise DE if any operand is denormal.
pub fn check_denormal(ctx: &mut Ctx, vals: &[F80]) {
    if ctx.den || vals.iter().any(|v| v.is_denormal()) {
        ctx.raise(DE);
    }
}
