//! A small working format for the transcendentals: sign, exponent and a 128-bit significand
//! (about twice the register precision), so that series evaluated here and rounded once into
//! the 80-bit format land within an ulp of the exact value.

use super::f80::{self, Ctx};
use super::F80;

/// `(-1)^neg * sig/2^127 * 2^exp`; `sig == 0` is zero, otherwise bit 127 is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Big {
    pub neg: bool,
    pub exp: i32,
    pub sig: u128,
}

/// 128 significant bits of pi (exponent 1) and ln 2 (exponent -1).
pub const PI_SIG: u128 = 0xC90F_DAA2_2168_C234_C4C6_628B_80DC_1CD1;
pub const LN2_SIG: u128 = 0xB172_17F7_D1CF_79AB_C9E3_B398_03F2_F6AF;

#[inline]
fn mul_hi(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & 0xFFFF_FFFF_FFFF_FFFF);
    let (b1, b0) = (b >> 64, b & 0xFFFF_FFFF_FFFF_FFFF);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & 0xFFFF_FFFF_FFFF_FFFF) + (p10 & 0xFFFF_FFFF_FFFF_FFFF);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    let lo = (mid << 64) | (p00 & 0xFFFF_FFFF_FFFF_FFFF);
    (hi, lo)
}

impl Big {
    pub const ZERO: Big = Big {
        neg: false,
        exp: 0,
        sig: 0,
    };
    pub const ONE: Big = Big {
        neg: false,
        exp: 0,
        sig: 1 << 127,
    };
    pub const PI: Big = Big {
        neg: false,
        exp: 1,
        sig: PI_SIG,
    };
    pub const PI_2: Big = Big {
        neg: false,
        exp: 0,
        sig: PI_SIG,
    };
    pub const PI_4: Big = Big {
        neg: false,
        exp: -1,
        sig: PI_SIG,
    };
    pub const LN2: Big = Big {
        neg: false,
        exp: -1,
        sig: LN2_SIG,
    };

    pub fn new(neg: bool, exp: i32, sig: u128) -> Big {
        if sig == 0 {
            return Big::ZERO;
        }
        let lz = sig.leading_zeros();
        Big {
            neg,
            exp: exp - lz as i32,
            sig: sig << lz,
        }
    }
    /// A finite F80 (zero allowed).
    pub fn from_f80(a: F80) -> Big {
        if a.is_zero() {
            return Big {
                neg: a.sign(),
                ..Big::ZERO
            };
        }
        let (s, e, m) = a.unpack();
        Big {
            neg: s,
            exp: e,
            sig: (m as u128) << 64,
        }
    }
    pub fn from_int(v: i64) -> Big {
        Big::new(v < 0, 127, v.unsigned_abs() as u128)
    }
    pub fn is_zero(&self) -> bool {
        self.sig == 0
    }
    pub fn neg(self) -> Big {
        Big {
            neg: !self.neg,
            ..self
        }
    }
    pub fn abs(self) -> Big {
        Big { neg: false, ..self }
    }
    pub fn mul(self, b: Big) -> Big {
        if self.sig == 0 || b.sig == 0 {
            return Big::ZERO;
        }
        let (hi, lo) = mul_hi(self.sig, b.sig);
        // value = hi*2^128+lo / 2^254
        let neg = self.neg ^ b.neg;
        if hi >> 127 != 0 {
            Big {
                neg,
                exp: self.exp + b.exp + 1,
                sig: hi | (lo != 0) as u128,
            }
        } else {
            Big {
                neg,
                exp: self.exp + b.exp,
                sig: (hi << 1) | (lo >> 127),
            }
        }
    }
    pub fn add(self, b: Big) -> Big {
        if self.sig == 0 {
            return b;
        }
        if b.sig == 0 {
            return self;
        }
        let (x, y) = if (self.exp, self.sig) >= (b.exp, b.sig) {
            (self, b)
        } else {
            (b, self)
        };
        let d = (x.exp - y.exp) as u32;
        let ys = f80::shr_jam(y.sig, d.min(200)) >> 1;
        let xs = x.sig >> 1;
        // Both scaled by 1/2: value = s/2^126 * 2^x.exp.
        if x.neg == y.neg {
            Big::new(x.neg, x.exp + 1, xs + ys)
        } else {
            Big::new(x.neg, x.exp + 1, xs - ys)
        }
    }
    pub fn sub(self, b: Big) -> Big {
        self.add(b.neg())
    }
    pub fn div(self, b: Big) -> Big {
        if self.sig == 0 || b.sig == 0 {
            return Big::ZERO;
        }
        let (mut rem, adj) = if self.sig >= b.sig {
            (self.sig, 0)
        } else {
            (self.sig, -1)
        };
        let mut q: u128 = 0;
        let mut carry = adj == -1;
        if carry {
            // rem*2 exceeds 128 bits: start with the first doubled step.
            let c = rem >> 127;
            rem <<= 1;
            carry = c != 0;
        }
        for _ in 0..128 {
            q <<= 1;
            if carry || rem >= b.sig {
                rem = rem.wrapping_sub(b.sig);
                q |= 1;
            }
            carry = rem >> 127 != 0;
            rem <<= 1;
        }
        Big {
            neg: self.neg ^ b.neg,
            exp: self.exp - b.exp + adj,
            sig: q | (rem != 0) as u128,
        }
    }
    pub fn div_int(self, n: u64) -> Big {
        self.div(Big::from_int(n as i64))
    }
    pub fn scale(self, n: i32) -> Big {
        if self.sig == 0 {
            self
        } else {
            Big {
                exp: self.exp + n,
                ..self
            }
        }
    }
    /// Round into an 80-bit register (full 64-bit precision), raising PE/UE/OE.
    pub fn round(self, ctx: &mut Ctx) -> F80 {
        if self.sig == 0 {
            ctx.up = false;
            return F80::zero(self.neg);
        }
        // Any bits below the 128 kept mean inexact; series results always are.
        f80::round_f80(ctx, self.neg, self.exp, self.sig | 1, 64)
    }
    /// Truncate toward zero to an integer (|value| < 2^64).
    pub fn trunc_u64(self) -> u64 {
        if self.sig == 0 || self.exp < 0 {
            0
        } else if self.exp >= 64 {
            u64::MAX
        } else {
            (self.sig >> (127 - self.exp)) as u64
        }
    }
}

/// A 256-bit fixed-point number with 192 fraction bits, for exact argument reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fix(pub [u64; 4]); // most significant word first

impl Fix {
    pub fn from_big(b: Big) -> Fix {
        // value = sig * 2^(exp-127); in units of 2^-192: sig << (exp + 65)
        let sh = b.exp + 65;
        let mut w = [0u64; 4];
        if b.sig == 0 || sh < -128 {
            return Fix(w);
        }
        // Place sig (128 bits) so that its bit 0 lands at bit position `sh` of the 256-bit word.
        for k in 0..128 {
            if b.sig >> k & 1 != 0 {
                let pos = k as i32 + sh;
                if (0..256).contains(&pos) {
                    w[3 - (pos / 64) as usize] |= 1 << (pos % 64);
                }
            }
        }
        Fix(w)
    }
    pub fn to_big(self, neg: bool) -> Big {
        let lz = {
            let mut n = 0;
            for &x in &self.0 {
                if x == 0 {
                    n += 64;
                } else {
                    n += x.leading_zeros();
                    break;
                }
            }
            n
        };
        if lz >= 256 {
            return Big::ZERO;
        }
        let s = self.shl(lz);
        let sig = ((s.0[0] as u128) << 64) | s.0[1] as u128;
        let sticky = (s.0[2] | s.0[3]) != 0;
        // bit 255 of the shifted value has weight 2^(63 - lz)
        Big {
            neg,
            exp: 63 - lz as i32,
            sig: sig | sticky as u128,
        }
    }
    fn shl(self, n: u32) -> Fix {
        let mut w = [0u64; 4];
        for (k, out) in w.iter_mut().enumerate() {
            let bit = k as u32 * 64 + n;
            let (i, o) = ((bit / 64) as usize, bit % 64);
            let hi = if i < 4 { self.0[i] } else { 0 };
            let lo = if i + 1 < 4 { self.0[i + 1] } else { 0 };
            *out = if o == 0 {
                hi
            } else {
                (hi << o) | (lo >> (64 - o))
            };
        }
        Fix(w)
    }
    pub fn sub(self, b: Fix) -> Fix {
        let mut w = [0u64; 4];
        let mut borrow = 0u64;
        for k in (0..4).rev() {
            let (d, b1) = self.0[k].overflowing_sub(b.0[k]);
            let (d, b2) = d.overflowing_sub(borrow);
            w[k] = d;
            borrow = (b1 || b2) as u64;
        }
        Fix(w)
    }
    pub fn add(self, b: Fix) -> Fix {
        let mut w = [0u64; 4];
        let mut carry = 0u64;
        for k in (0..4).rev() {
            let (d, c1) = self.0[k].overflowing_add(b.0[k]);
            let (d, c2) = d.overflowing_add(carry);
            w[k] = d;
            carry = (c1 || c2) as u64;
        }
        Fix(w)
    }
    /// self * n (truncated to 256 bits).
    pub fn mul_u64(self, n: u64) -> Fix {
        let mut w = [0u64; 4];
        let mut carry = 0u128;
        for k in (0..4).rev() {
            let p = self.0[k] as u128 * n as u128 + carry;
            w[k] = p as u64;
            carry = p >> 64;
        }
        Fix(w)
    }
}

/// pi/2 as used for FSIN/FCOS/FSINCOS/FPTAN argument reduction: the x87's 66-bit pi (its
/// constant ROM; Intel SDM vol. 1 §8.3.10), i.e. 0xC90FDAA22168C234 followed by the bits 11.
pub fn reduction_pi_2() -> Fix {
    // pi66/2 = (0xC90FDAA22168C234 << 2 | 3) * 2^-65: fraction bits fit in 192.
    let p: u128 = ((0xC90F_DAA2_2168_C234u128) << 2) | 3; // 66 bits, value p * 2^-64 = pi
                                                          // p * 2^-65 in units of 2^-192: p << 127
    let mut w = [0u64; 4];
    for k in 0..66 {
        if p >> k & 1 != 0 {
            let pos = k + 127;
            w[3 - pos / 64] |= 1 << (pos % 64);
        }
    }
    Fix(w)
}
