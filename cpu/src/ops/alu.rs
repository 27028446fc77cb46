//! Integer arithmetic and logic: ADD/ADC/SUB/SBB/CMP/AND/OR/XOR/TEST/INC/DEC/NEG/NOT and the
//! status-flag computations they share.

use iced_x86::{Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::operand::op_size;
use crate::state::flags::*;
use crate::Cpu;

#[inline]
pub(crate) fn mask(size: u32) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

#[inline]
pub(crate) fn sign(size: u32) -> u32 {
    match size {
        1 => 0x80,
        2 => 0x8000,
        _ => 0x8000_0000,
    }
}

/// PF for each low byte (no POPCNT in the baseline x86-64 target).
const PARITY: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).count_ones() % 2 == 0;
        i += 1;
    }
    t
};

#[inline(always)]
pub(crate) fn parity(v: u32) -> bool {
    PARITY[(v & 0xFF) as usize]
}

/// Flags SF, ZF, PF from a result.
#[inline(always)]
pub(crate) fn szp(r: u32, size: u32) -> u32 {
    let r = r & mask(size);
    let mut f = 0;
    if r == 0 {
        f |= ZF;
    }
    if r & sign(size) != 0 {
        f |= SF;
    }
    if parity(r) {
        f |= PF;
    }
    f
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AluOp {
    Add,
    Adc,
    Sub,
    Sbb,
    And,
    Or,
    Xor,
}

impl Cpu {
    #[inline]
    pub(crate) fn set_status(&mut self, f: u32) {
        self.s.eflags = (self.s.eflags & !STATUS) | f;
    }

    /// a + b + carry, setting all status flags.
    #[inline(always)]
    pub(crate) fn add_flags(&mut self, a: u32, b: u32, carry: u32, size: u32) -> u32 {
        let m = mask(size);
        let full = (a & m) as u64 + (b & m) as u64 + carry as u64;
        let r = full as u32 & m;
        let mut f = szp(r, size);
        if full > m as u64 {
            f |= CF;
        }
        if (a ^ r) & (b ^ r) & sign(size) != 0 {
            f |= OF;
        }
        if (a ^ b ^ r) & 0x10 != 0 {
            f |= AF;
        }
        self.set_status(f);
        r
    }

    /// a - b - borrow, setting all status flags.
    #[inline(always)]
    pub(crate) fn sub_flags(&mut self, a: u32, b: u32, borrow: u32, size: u32) -> u32 {
        let m = mask(size);
        let (a, b) = (a & m, b & m);
        let r = a.wrapping_sub(b).wrapping_sub(borrow) & m;
        let mut f = szp(r, size);
        if (a as u64) < b as u64 + borrow as u64 {
            f |= CF;
        }
        if (a ^ b) & (a ^ r) & sign(size) != 0 {
            f |= OF;
        }
        if (a ^ b ^ r) & 0x10 != 0 {
            f |= AF;
        }
        self.set_status(f);
        r
    }

    #[inline(always)]
    pub(crate) fn logic_flags(&mut self, r: u32, size: u32) -> u32 {
        let r = r & mask(size);
        self.set_status(szp(r, size));
        r
    }

    #[inline(always)]
    pub(crate) fn alu(&mut self, op: AluOp, a: u32, b: u32, size: u32) -> u32 {
        let c = self.s.eflags & CF;
        match op {
            AluOp::Add => self.add_flags(a, b, 0, size),
            AluOp::Adc => self.add_flags(a, b, c, size),
            AluOp::Sub => self.sub_flags(a, b, 0, size),
            AluOp::Sbb => self.sub_flags(a, b, c, size),
            AluOp::And => self.logic_flags(a & b, size),
            AluOp::Or => self.logic_flags(a | b, size),
            AluOp::Xor => self.logic_flags(a ^ b, size),
        }
    }

    /// Two-operand ALU instruction writing operand 0.
    pub(crate) fn op_alu<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        op: AluOp,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let b = self.read_op(bus, i, 1)?;
        let a = self.read_op_rmw(bus, i)?;
        let r = self.alu(op, a, b, size);
        self.write_op(bus, i, 0, r)
    }

    /// CMP / TEST: flags only.
    pub(crate) fn op_cmp_test<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let a = self.read_op(bus, i, 0)?;
        let b = self.read_op(bus, i, 1)?;
        if i.mnemonic() == Mnemonic::Cmp {
            self.sub_flags(a, b, 0, size);
        } else {
            self.logic_flags(a & b, size);
        }
        Ok(())
    }

    /// INC / DEC: CF preserved.
    pub(crate) fn op_incdec<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let a = self.read_op_rmw(bus, i)?;
        let cf = self.s.eflags & CF;
        let r = if i.mnemonic() == Mnemonic::Inc {
            self.add_flags(a, 1, 0, size)
        } else {
            self.sub_flags(a, 1, 0, size)
        };
        self.s.eflags = (self.s.eflags & !CF) | cf;
        self.write_op(bus, i, 0, r)
    }

    pub(crate) fn op_neg<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let a = self.read_op_rmw(bus, i)?;
        let r = self.sub_flags(0, a, 0, size);
        self.write_op(bus, i, 0, r)
    }

    pub(crate) fn op_not<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let a = self.read_op_rmw(bus, i)?;
        self.write_op(bus, i, 0, !a)
    }
}
