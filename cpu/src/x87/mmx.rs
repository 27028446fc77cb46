//! MMX (Pentium II set): MOVD/MOVQ, packs/unpacks, wrapping and saturating add/sub, compares,
//! multiplies, logic and shifts, EMMS. MMi aliases the significand of physical x87 register Ri;
//! every MMX instruction but EMMS sets TOP = 0 and all tags valid, and a write sets the
//! register's sign/exponent to all ones (Intel SDM vol. 1 §9.5). CR0.EM → #UD, CR0.TS → #NM,
//! pending x87 exception → #MF/FERR#. XMM forms (SSE2) do not exist on this CPU → #UD.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::cr0;
use crate::Cpu;

fn lanes(v: u64, bits: u32) -> impl Iterator<Item = u64> {
    let n = 64 / bits;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (0..n).map(move |k| (v >> (k * bits)) & mask)
}

/// Apply `f` lane-wise to two packed values with `bits`-wide lanes.
fn map2(a: u64, b: u64, bits: u32, f: impl Fn(u64, u64) -> u64) -> u64 {
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    lanes(a, bits)
        .zip(lanes(b, bits))
        .enumerate()
        .fold(0, |acc, (k, (x, y))| {
            acc | ((f(x, y) & mask) << (k as u32 * bits))
        })
}

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

fn sat_s(v: i64, bits: u32) -> u64 {
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(-max - 1, max) as u64
}

fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, (1i64 << bits) - 1) as u64
}

/// Interleave lanes of the low (`high == false`) or high halves of a and b.
fn unpack(a: u64, b: u64, bits: u32, high: bool) -> u64 {
    let n = 32 / bits;
    let mask = (1u64 << bits) - 1;
    let base = if high { 32 } else { 0 };
    let mut r = 0;
    for k in 0..n {
        let x = (a >> (base + k * bits)) & mask;
        let y = (b >> (base + k * bits)) & mask;
        r |= x << (2 * k * bits);
        r |= y << ((2 * k + 1) * bits);
    }
    r
}

fn pack(a: u64, b: u64, from: u32, sat: impl Fn(i64) -> u64) -> u64 {
    let to = from / 2;
    let mut r = 0;
    for (k, x) in lanes(a, from).chain(lanes(b, from)).enumerate() {
        r |= sat(sext(x, from)) << (k as u32 * to);
    }
    r
}

fn shift(v: u64, count: u64, bits: u32, kind: u8) -> u64 {
    map2(v, 0, bits, |x, _| match kind {
        0 => {
            if count >= bits as u64 {
                0
            } else {
                x << count
            }
        }
        1 => {
            if count >= bits as u64 {
                0
            } else {
                x >> count
            }
        }
        _ => {
            let c = count.min(bits as u64 - 1);
            (sext(x, bits) >> c) as u64
        }
    })
}

impl Cpu {
    #[inline]
    fn mm(&self, r: Register) -> u64 {
        self.s.fpu.regs[(r as usize).wrapping_sub(Register::MM0 as usize) & 7].mant
    }

    #[inline]
    fn set_mm(&mut self, r: Register, v: u64) {
        let reg = &mut self.s.fpu.regs[(r as usize).wrapping_sub(Register::MM0 as usize) & 7];
        reg.mant = v;
        reg.se = 0xFFFF;
    }

    /// Source operand `n` as 64 bits (MMX register, memory or immediate).
    fn mmx_src<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction, n: u32) -> Result<u64, Fault> {
        match i.op_kind(n) {
            OpKind::Register => Ok(self.mm(i.op_register(n))),
            OpKind::Memory => {
                let (seg, off) = (self.mem_seg(i), self.ea(i));
                self.read_u64(bus, seg, off)
            }
            OpKind::Immediate8 => Ok(i.immediate8() as u64),
            _ => Err(Fault::ud()),
        }
    }

    /// Execute one MMX instruction (MOVD/MOVQ/PADD*/.../EMMS).
    pub(crate) fn exec_mmx<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        use Mnemonic::*;
        if self.s.cr0 & cr0::EM != 0 {
            return Err(Fault::ud());
        }
        // SSE2 forms (XMM operands) are not part of the Pentium II.
        for n in 0..i.op_count() {
            if i.op_kind(n) == OpKind::Register && i.op_register(n).is_xmm() {
                return Err(Fault::ud());
            }
        }
        if self.s.cr0 & cr0::TS != 0 {
            return Err(Fault::nm());
        }
        self.fpu_pending(bus)?;
        let m = i.mnemonic();
        if m == Emms {
            self.s.fpu.tw = 0xFFFF;
            return Ok(());
        }
        match m {
            Movd => {
                if i.op0_kind() == OpKind::Register && i.op0_register().is_mm() {
                    let v = self.read_op(bus, i, 1)?;
                    self.set_mm(i.op0_register(), v as u64);
                } else {
                    let v = self.mm(i.op1_register()) as u32;
                    self.write_op(bus, i, 0, v)?;
                }
            }
            Movq => {
                let v = self.mmx_src(bus, i, 1)?;
                if i.op0_kind() == OpKind::Register {
                    self.set_mm(i.op0_register(), v);
                } else {
                    let (seg, off) = (self.mem_seg(i), self.ea(i));
                    self.write_bytes(bus, seg, off, &v.to_le_bytes())?;
                }
            }
            _ => {
                let dst = i.op0_register();
                if !dst.is_mm() {
                    return Err(Fault::ud());
                }
                let a = self.mm(dst);
                let b = self.mmx_src(bus, i, 1)?;
                let r = match m {
                    Paddb => map2(a, b, 8, u64::wrapping_add),
                    Paddw => map2(a, b, 16, u64::wrapping_add),
                    Paddd => map2(a, b, 32, u64::wrapping_add),
                    Psubb => map2(a, b, 8, u64::wrapping_sub),
                    Psubw => map2(a, b, 16, u64::wrapping_sub),
                    Psubd => map2(a, b, 32, u64::wrapping_sub),
                    Paddsb => map2(a, b, 8, |x, y| sat_s(sext(x, 8) + sext(y, 8), 8)),
                    Paddsw => map2(a, b, 16, |x, y| sat_s(sext(x, 16) + sext(y, 16), 16)),
                    Psubsb => map2(a, b, 8, |x, y| sat_s(sext(x, 8) - sext(y, 8), 8)),
                    Psubsw => map2(a, b, 16, |x, y| sat_s(sext(x, 16) - sext(y, 16), 16)),
                    Paddusb => map2(a, b, 8, |x, y| sat_u(x as i64 + y as i64, 8)),
                    Paddusw => map2(a, b, 16, |x, y| sat_u(x as i64 + y as i64, 16)),
                    Psubusb => map2(a, b, 8, |x, y| sat_u(x as i64 - y as i64, 8)),
                    Psubusw => map2(a, b, 16, |x, y| sat_u(x as i64 - y as i64, 16)),
                    Pcmpeqb => map2(a, b, 8, |x, y| if x == y { !0 } else { 0 }),
                    Pcmpeqw => map2(a, b, 16, |x, y| if x == y { !0 } else { 0 }),
                    Pcmpeqd => map2(a, b, 32, |x, y| if x == y { !0 } else { 0 }),
                    Pcmpgtb => map2(a, b, 8, |x, y| if sext(x, 8) > sext(y, 8) { !0 } else { 0 }),
                    Pcmpgtw => map2(
                        a,
                        b,
                        16,
                        |x, y| if sext(x, 16) > sext(y, 16) { !0 } else { 0 },
                    ),
                    Pcmpgtd => map2(
                        a,
                        b,
                        32,
                        |x, y| if sext(x, 32) > sext(y, 32) { !0 } else { 0 },
                    ),
                    Pmullw => map2(a, b, 16, |x, y| (sext(x, 16) * sext(y, 16)) as u64),
                    Pmulhw => map2(a, b, 16, |x, y| ((sext(x, 16) * sext(y, 16)) >> 16) as u64),
                    Pmaddwd => map2(a, b, 32, |x, y| {
                        let p0 = sext(x & 0xFFFF, 16) * sext(y & 0xFFFF, 16);
                        let p1 = sext(x >> 16, 16) * sext(y >> 16, 16);
                        (p0 + p1) as u64
                    }),
                    Pand => a & b,
                    Pandn => !a & b,
                    Por => a | b,
                    Pxor => a ^ b,
                    Psllw => shift(a, b, 16, 0),
                    Pslld => shift(a, b, 32, 0),
                    Psllq => shift(a, b, 64, 0),
                    Psrlw => shift(a, b, 16, 1),
                    Psrld => shift(a, b, 32, 1),
                    Psrlq => shift(a, b, 64, 1),
                    Psraw => shift(a, b, 16, 2),
                    Psrad => shift(a, b, 32, 2),
                    Punpcklbw => unpack(a, b, 8, false),
                    Punpcklwd => unpack(a, b, 16, false),
                    Punpckldq => unpack(a, b, 32, false),
                    Punpckhbw => unpack(a, b, 8, true),
                    Punpckhwd => unpack(a, b, 16, true),
                    Punpckhdq => unpack(a, b, 32, true),
                    Packsswb => pack(a, b, 16, |v| sat_s(v, 8) & 0xFF),
                    Packssdw => pack(a, b, 32, |v| sat_s(v, 16) & 0xFFFF),
                    Packuswb => pack(a, b, 16, |v| sat_u(v, 8)),
                    _ => return Err(Fault::ud()),
                };
                self.set_mm(dst, r);
            }
        }
        // Any MMX instruction but EMMS: TOP = 0, all registers valid.
        self.s.fpu.top = 0;
        self.s.fpu.tw = 0;
        Ok(())
    }
}
