//! Shifts and rotates: ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR, SHLD, SHRD, and the 8086/286
//! undocumented SETMO/SETMOC (group 2, /6).

use iced_x86::{Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::operand::op_size;
use crate::ops::alu::{mask, sign, szp};
use crate::state::flags::*;
use crate::state::CpuModel;
use crate::Cpu;

impl Cpu {
    pub(crate) fn op_shift<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let raw = if i.op_count() > 1 {
            self.read_op(bus, i, 1)? & 0xFF
        } else {
            1
        };
        let count = if self.s.model == CpuModel::I8086 {
            raw
        } else {
            raw & 0x1F
        };
        let m = i.mnemonic();
        // Group 2 /6 decodes as SAL on 186+ decoders; the 8086 and 286 execute SETMO there.
        let setmo = m == Mnemonic::Sal && self.s.model == CpuModel::I8086;
        if count == 0 {
            // Still performs the memory access checks of a read-modify-write.
            self.read_op_rmw(bus, i)?;
            return Ok(());
        }
        let a = self.read_op_rmw(bus, i)? & mask(size);
        let bits = size * 8;
        let sb = sign(size);
        let cf_in = self.s.eflags & CF != 0;
        let old = self.s.eflags;
        let (r, f): (u32, u32) = match m {
            _ if setmo => {
                let r = mask(size);
                (r, szp(r, size))
            }
            Mnemonic::Shl | Mnemonic::Sal => {
                let wide = if count > bits + 1 {
                    0u64
                } else {
                    (a as u64) << count
                };
                let r = wide as u32 & mask(size);
                let cf = (wide >> bits) & 1 != 0;
                let mut f = szp(r, size);
                if cf {
                    f |= CF;
                }
                if (r & sb != 0) != cf {
                    f |= OF;
                }
                (r, f)
            }
            Mnemonic::Shr => {
                let r = if count >= 32 { 0 } else { a >> count };
                let cf = if count > bits {
                    false
                } else {
                    (a >> (count - 1)) & 1 != 0
                };
                let mut f = szp(r, size);
                if cf {
                    f |= CF;
                }
                // OF is the sign change of the last single-bit step.
                if count == 1 && a & sb != 0 {
                    f |= OF;
                }
                (r, f)
            }
            Mnemonic::Sar => {
                let sa: i64 = match size {
                    1 => a as u8 as i8 as i64,
                    2 => a as u16 as i16 as i64,
                    _ => a as i32 as i64,
                };
                let c = count.min(bits);
                let r = (sa >> c) as u32 & mask(size);
                let cf = (sa >> (c - 1)) & 1 != 0;
                let mut f = szp(r, size);
                if cf {
                    f |= CF;
                }
                (r, f)
            }
            Mnemonic::Rol => {
                let c = count % bits;
                let r = if c == 0 {
                    a
                } else {
                    ((a << c) | (a >> (bits - c))) & mask(size)
                };
                let cf = r & 1 != 0;
                let mut f = old & (SF | ZF | PF | AF);
                if cf {
                    f |= CF;
                }
                if (r & sb != 0) != cf {
                    f |= OF;
                }
                (r, f)
            }
            Mnemonic::Ror => {
                let c = count % bits;
                let r = if c == 0 {
                    a
                } else {
                    ((a >> c) | (a << (bits - c))) & mask(size)
                };
                let cf = r & sb != 0;
                let mut f = old & (SF | ZF | PF | AF);
                if cf {
                    f |= CF;
                }
                if (r & sb != 0) != (r & (sb >> 1) != 0) {
                    f |= OF;
                }
                (r, f)
            }
            Mnemonic::Rcl => {
                let c = if self.s.model == CpuModel::I8086 {
                    count
                } else {
                    count % (bits + 1)
                };
                let mut r = a;
                let mut cf = cf_in;
                for _ in 0..c {
                    let out = r & sb != 0;
                    r = ((r << 1) | cf as u32) & mask(size);
                    cf = out;
                }
                let mut f = old & (SF | ZF | PF | AF);
                if cf {
                    f |= CF;
                }
                if (r & sb != 0) != cf {
                    f |= OF;
                }
                (r, f)
            }
            _ => {
                // RCR
                let c = if self.s.model == CpuModel::I8086 {
                    count
                } else {
                    count % (bits + 1)
                };
                let mut r = a;
                let mut cf = cf_in;
                for _ in 0..c {
                    let out = r & 1 != 0;
                    r = (r >> 1) | if cf { sb } else { 0 };
                    cf = out;
                }
                let mut f = old & (SF | ZF | PF | AF);
                if cf {
                    f |= CF;
                }
                if (r & sb != 0) != (r & (sb >> 1) != 0) {
                    f |= OF;
                }
                (r, f)
            }
        };
        self.set_status(f);
        self.write_op(bus, i, 0, r)
    }

    pub(crate) fn op_shld_shrd<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let bits = size * 8;
        let count = self.read_op(bus, i, 2)? & 0x1F;
        let _ = bits;
        let dst = self.read_op_rmw(bus, i)? & mask(size);
        if count == 0 {
            return Ok(());
        }
        let src = self.read_op(bus, i, 1)? & mask(size);
        let (r, cf) = if i.mnemonic() == Mnemonic::Shld {
            // dst:src (and src again for 16-bit counts above 16, as the P6 does)
            let wide: u64 = if size == 2 {
                ((dst as u64) << 32) | ((src as u64) << 16) | dst as u64
            } else {
                ((dst as u64) << 32) | src as u64
            };
            let top = if size == 2 { 48 } else { 64 };
            let r = (wide << count >> (top - bits)) as u32 & mask(size);
            let cf = (wide >> (top - count)) & 1 != 0;
            (r, cf)
        } else {
            // src:dst (src:dst:src for 16-bit operands)
            let wide: u64 = if size == 2 {
                ((src as u64) << 32) | ((dst as u64) << 16) | src as u64
            } else {
                ((src as u64) << 32) | dst as u64
            };
            let base = if size == 2 { 16 } else { 0 };
            let r = (wide >> (base + count)) as u32 & mask(size);
            let cf = (wide >> (base + count - 1)) & 1 != 0;
            (r, cf)
        };
        let mut f = szp(r, size);
        if cf {
            f |= CF;
        }
        if (r ^ dst) & sign(size) != 0 {
            f |= OF;
        }
        self.set_status(f);
        self.write_op(bus, i, 0, r)
    }
}
