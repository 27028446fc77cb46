//! The common case of register-operand x87 arithmetic, without a `Ctx`: 64-bit precision,
//! round to nearest, both operands normal and a result well inside the exponent range. Each
//! function gives the same value, PE and "rounded up" (C1) as the general path in `arith`, or
//! `None` when the case is not that common one (the caller then takes the general path).

use super::f80::{round64_in_range, BIAS};
use super::F80;

/// A result of the common case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quick {
    pub v: F80,
    /// Inexact (PE).
    pub pe: bool,
    /// Rounded up in magnitude (C1 when inexact).
    pub up: bool,
}

/// `round_f80` at 64 bits, round to nearest-even, inside the range (`round64_in_range`).
#[inline(always)]
fn round64(sign: bool, exp: i32, sig: u128) -> Option<Quick> {
    round64_in_range(sign, exp, sig, 0).map(|(v, pe, up)| Quick { v, pe, up })
}

/// a + b of two normal values (`arith::add`).
#[inline(always)]
pub fn add(a: F80, b: F80) -> Option<Quick> {
    let (ka, kb) = (
        ((a.exp() as u128) << 64) | a.mant as u128,
        ((b.exp() as u128) << 64) | b.mant as u128,
    );
    // Larger magnitude first.
    let (a, b) = if ka >= kb { (a, b) } else { (b, a) };
    let (ea, eb) = (a.exp() as i32, b.exp() as i32);
    let x = (a.mant as u128) << 63;
    let y = super::arith::align_addend(b.mant, (ea - eb) as u32);
    let sig = if a.sign() == b.sign() {
        x + y
    } else {
        let r = x - y;
        if r == 0 {
            // An exact zero sum: +0 when rounding to nearest.
            return Some(Quick {
                v: F80::ZERO,
                pe: false,
                up: false,
            });
        }
        r
    };
    round64(a.sign(), ea - BIAS + 1, sig)
}

/// a * b of two normal values (`arith::mul`).
#[inline(always)]
pub fn mul(a: F80, b: F80) -> Option<Quick> {
    let p = a.mant as u128 * b.mant as u128;
    let e = (a.exp() as i32 - BIAS) + (b.exp() as i32 - BIAS);
    round64(a.sign() ^ b.sign(), e + 1, p)
}

/// The ordering of two normal values: -1, 0 or 1 (`arith::cmp_num`).
#[inline(always)]
pub fn cmp(a: F80, b: F80) -> i32 {
    let key = |x: F80| {
        let mag = ((x.exp() as i128) << 64) | x.mant as i128;
        if x.sign() {
            -mag
        } else {
            mag
        }
    };
    key(a).cmp(&key(b)) as i32
}

#[cfg(test)]
mod tests {
    use super::super::arith::{self, Ord3};
    use super::super::f80::{Ctx, J, PE};
    use super::*;

    /// Normal values with exponents clustered (so sums overlap and cancel) and near both ends
    /// of the range (so the quick path must decline), from a fixed xorshift sequence.
    fn values() -> Vec<F80> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut v = Vec::new();
        for k in 0..400 {
            let r = next();
            let exp = match k % 5 {
                0 => 0x3FFF + (r % 8) as u16,
                1 => 0x3FFF - (r % 70) as u16,
                2 => 1 + (r % 3) as u16,
                3 => 0x7FFE - (r % 3) as u16,
                _ => 0x3000 + (r % 0x2000) as u16,
            };
            // Short significands too (exact results), and ones differing in the last bits.
            let mant = match k % 3 {
                0 => J | (next() & 0xFFFF_0000_0000_0000),
                1 => J | next(),
                _ => J | (next() >> 1),
            };
            v.push(F80::new(r & 1 << 40 != 0, exp, mant));
        }
        v
    }

    fn check(q: Option<Quick>, general: impl Fn(&mut Ctx) -> F80) -> bool {
        let mut ctx = Ctx::from_cw(0x037F);
        let r = general(&mut ctx);
        match q {
            None => false,
            Some(q) => {
                assert_eq!((q.v.mant, q.v.se), (r.mant, r.se));
                assert_eq!(q.pe, ctx.exc & PE as u32 != 0);
                assert_eq!(ctx.exc & !(PE as u32), 0);
                assert_eq!(q.up, q.pe && ctx.up);
                true
            }
        }
    }

    #[test]
    fn quick_paths_agree_with_the_general_ones() {
        let v = values();
        let (mut taken, mut total) = (0, 0);
        for &a in &v {
            for &b in v.iter().step_by(3) {
                total += 3;
                taken += check(add(a, b), |c| arith::add(c, a, b)) as u32;
                taken += check(add(a, b.neg()), |c| arith::sub(c, a, b)) as u32;
                taken += check(mul(a, b), |c| arith::mul(c, a, b)) as u32;
                let want = match arith::cmp_num(a, b) {
                    Ord3::Less => -1,
                    Ord3::Equal => 0,
                    _ => 1,
                };
                assert_eq!(cmp(a, b), want);
                assert_eq!(cmp(a, a), 0);
            }
        }
        // Most pairs are in range: the quick path must take them.
        assert!(taken * 10 > total * 6, "{taken} of {total}");
        assert!(taken < total, "the edge exponents must decline");
    }
}
