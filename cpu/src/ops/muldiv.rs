//! MUL, IMUL (one, two and three operands), DIV, IDIV.

use iced_x86::{Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::operand::op_size;
use crate::ops::alu::{mask, szp};
use crate::state::flags::*;
use crate::state::CpuModel;
use crate::Cpu;

#[inline]
fn sext(v: u32, size: u32) -> i64 {
    match size {
        1 => v as u8 as i8 as i64,
        2 => v as u16 as i16 as i64,
        _ => v as i32 as i64,
    }
}

impl Cpu {
    /// Raise #DE: a fault on 286+, but on the 8086 a trap-like INT 0 after the instruction.
    fn divide_error<B: CpuBus>(&mut self, bus: &mut B) -> Result<(), Fault> {
        if self.s.model == CpuModel::I8086 {
            return self.interrupt(bus, 0, crate::interrupt::IntKind::Exception, None);
        }
        Err(Fault::de())
    }

    /// Read the accumulator pair (AX, DX:AX, EDX:EAX) as an unsigned dividend.
    fn acc_wide(&self, size: u32) -> u64 {
        match size {
            1 => (self.s.gpr[0] & 0xFFFF) as u64,
            2 => ((self.s.gpr[2] & 0xFFFF) as u64) << 16 | (self.s.gpr[0] & 0xFFFF) as u64,
            _ => (self.s.gpr[2] as u64) << 32 | self.s.gpr[0] as u64,
        }
    }

    fn set_acc_wide(&mut self, size: u32, lo: u32, hi: u32) {
        match size {
            1 => self
                .s
                .set_reg16(0, ((hi as u16 & 0xFF) << 8) | (lo as u16 & 0xFF)),
            2 => {
                self.s.set_reg16(0, lo as u16);
                self.s.set_reg16(2, hi as u16);
            }
            _ => {
                self.s.gpr[0] = lo;
                self.s.gpr[2] = hi;
            }
        }
    }

    pub(crate) fn op_mul<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let src = self.read_op(bus, i, 0)? & mask(size);
        let acc = self.s.gpr[0] & mask(size);
        let full = acc as u64 * src as u64;
        let bits = size * 8;
        let lo = full as u32 & mask(size);
        let hi = (full >> bits) as u32 & mask(size);
        self.set_acc_wide(size, lo, hi);
        let mut f = szp(lo, size);
        if hi != 0 {
            f |= CF | OF;
        }
        self.set_status(f);
        Ok(())
    }

    pub(crate) fn op_imul<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let bits = size * 8;
        if i.op_count() == 1 {
            let src = sext(self.read_op(bus, i, 0)?, size);
            let acc = sext(self.s.gpr[0], size);
            let full = acc * src;
            let lo = full as u32 & mask(size);
            let hi = (full >> bits) as u32 & mask(size);
            self.set_acc_wide(size, lo, hi);
            let mut f = szp(lo, size);
            if full != sext(lo, size) {
                f |= CF | OF;
            }
            self.set_status(f);
            return Ok(());
        }
        let (a, b) = if i.op_count() == 2 {
            (self.read_op(bus, i, 0)?, self.read_op(bus, i, 1)?)
        } else {
            (self.read_op(bus, i, 1)?, self.read_op(bus, i, 2)?)
        };
        let full = sext(a, size) * sext(b, size);
        let r = full as u32 & mask(size);
        let mut f = szp(r, size);
        if full != sext(r, size) {
            f |= CF | OF;
        }
        self.set_status(f);
        self.set_reg(i.op0_register(), r);
        Ok(())
    }

    pub(crate) fn op_div<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let d = (self.read_op(bus, i, 0)? & mask(size)) as u64;
        let n = self.acc_wide(size);
        if d == 0 {
            return self.divide_error(bus);
        }
        let q = n / d;
        let r = n % d;
        if q > mask(size) as u64 {
            return self.divide_error(bus);
        }
        self.set_acc_wide(size, q as u32, r as u32);
        Ok(())
    }

    pub(crate) fn op_idiv<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let d = sext(self.read_op(bus, i, 0)?, size);
        let n: i64 = match size {
            1 => self.s.gpr[0] as u16 as i16 as i64,
            2 => (((self.s.gpr[2] & 0xFFFF) << 16) | (self.s.gpr[0] & 0xFFFF)) as i32 as i64,
            _ => ((self.s.gpr[2] as u64) << 32 | self.s.gpr[0] as u64) as i64,
        };
        if d == 0 {
            return self.divide_error(bus);
        }
        if n == i64::MIN && d == -1 {
            return self.divide_error(bus);
        }
        let mut q = n.wrapping_div(d);
        if self.s.model == CpuModel::I8086 && (i.has_rep_prefix() || i.has_repne_prefix()) {
            q = -q; // an 8086 microcode quirk: a REP prefix negates the quotient
        }
        let r = n.wrapping_rem(d);
        let bits = size * 8;
        let max = (1i64 << (bits - 1)) - 1;
        let min = if self.s.model == CpuModel::I8086 {
            -max
        } else {
            -max - 1
        };
        if q > max || q < min {
            return self.divide_error(bus);
        }
        self.set_acc_wide(size, q as u32, r as u32);
        Ok(())
    }

    pub(crate) fn op_muldiv<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        match i.mnemonic() {
            Mnemonic::Mul => self.op_mul(bus, i),
            Mnemonic::Imul => self.op_imul(bus, i),
            Mnemonic::Div => self.op_div(bus, i),
            _ => self.op_idiv(bus, i),
        }
    }
}
