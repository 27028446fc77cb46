//! Operand access for decoded instructions: registers by iced `Register`, effective addresses
//! (16- and 32-bit addressing), and sized reads/writes of any operand kind.

use iced_x86::{Instruction, OpKind, Register};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::SegReg;
use crate::Cpu;

#[inline]
pub(crate) fn seg_of(r: Register) -> SegReg {
    SegReg::from_index((r as usize).wrapping_sub(Register::ES as usize) & 7)
}

/// Size in bytes of operand `n`.
#[inline]
pub(crate) fn op_size(i: &Instruction, n: u32) -> u32 {
    match i.op_kind(n) {
        OpKind::Register => i.op_register(n).size() as u32,
        OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
        OpKind::Immediate16 | OpKind::Immediate8to16 | OpKind::NearBranch16 => 2,
        OpKind::Immediate32 | OpKind::Immediate8to32 | OpKind::NearBranch32 => 4,
        _ => i.memory_size().size() as u32,
    }
}

/// Does the instruction use 32-bit addressing?
#[inline]
pub(crate) fn addr32(i: &Instruction) -> bool {
    let b = i.memory_base();
    if b != Register::None {
        return b.size() == 4;
    }
    let x = i.memory_index();
    if x != Register::None {
        return x.size() == 4;
    }
    i.memory_displ_size() == 4
}

impl Cpu {
    #[inline]
    pub(crate) fn reg(&self, r: Register) -> u32 {
        let n = r as usize;
        if n >= Register::EAX as usize && n <= Register::EDI as usize {
            self.s.gpr[n - Register::EAX as usize]
        } else if n >= Register::AX as usize && n <= Register::DI as usize {
            self.s.gpr[n - Register::AX as usize] & 0xFFFF
        } else if n >= Register::AL as usize && n <= Register::BH as usize {
            self.s.reg8(n - Register::AL as usize) as u32
        } else if r.is_segment_register() {
            self.s.seg[seg_of(r) as usize].selector as u32
        } else {
            0
        }
    }

    /// Write a general register (8/16/32-bit). Segment registers go through `load_seg`.
    #[inline]
    pub(crate) fn set_reg(&mut self, r: Register, v: u32) {
        let n = r as usize;
        if n >= Register::EAX as usize && n <= Register::EDI as usize {
            self.s.gpr[n - Register::EAX as usize] = v;
        } else if n >= Register::AX as usize && n <= Register::DI as usize {
            self.s.set_reg16(n - Register::AX as usize, v as u16);
        } else if n >= Register::AL as usize && n <= Register::BH as usize {
            self.s.set_reg8(n - Register::AL as usize, v as u8);
        }
    }

    /// Effective address (offset within the segment) of the memory operand.
    #[inline(always)]
    pub(crate) fn ea(&self, i: &Instruction) -> u32 {
        let mut a = i.memory_displacement32();
        let b = i.memory_base();
        if b != Register::None {
            a = a.wrapping_add(self.reg(b));
        }
        let x = i.memory_index();
        if x != Register::None {
            a = a.wrapping_add(self.reg(x) << i.memory_index_scale().trailing_zeros());
        }
        if addr32(i) {
            a
        } else {
            a & 0xFFFF
        }
    }

    /// Segment of the memory operand (after overrides and the SS default for BP/SP bases).
    #[inline]
    pub(crate) fn mem_seg(&self, i: &Instruction) -> SegReg {
        seg_of(i.memory_segment())
    }

    /// Offset for string operands (SI/ESI or DI/EDI by kind).
    #[inline]
    fn string_off(&self, k: OpKind) -> (bool, u32) {
        match k {
            OpKind::MemorySegSI => (false, self.s.gpr[6] & 0xFFFF),
            OpKind::MemorySegESI => (false, self.s.gpr[6]),
            OpKind::MemorySegDI => (false, self.s.gpr[7] & 0xFFFF),
            OpKind::MemorySegEDI => (false, self.s.gpr[7]),
            OpKind::MemoryESDI => (true, self.s.gpr[7] & 0xFFFF),
            _ => (true, self.s.gpr[7]),
        }
    }

    /// Read operand `n` (zero-extended).
    #[inline]
    pub(crate) fn read_op<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        n: u32,
    ) -> Result<u32, Fault> {
        match i.op_kind(n) {
            OpKind::Register => Ok(self.reg(i.op_register(n))),
            OpKind::Memory => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                self.read_mem(bus, seg, off, op_size(i, n))
            }
            OpKind::Immediate8 => Ok(i.immediate8() as u32),
            OpKind::Immediate8_2nd => Ok(i.immediate8_2nd() as u32),
            OpKind::Immediate16 => Ok(i.immediate16() as u32),
            OpKind::Immediate32 => Ok(i.immediate32()),
            OpKind::Immediate8to16 => Ok(i.immediate8to16() as u16 as u32),
            OpKind::Immediate8to32 => Ok(i.immediate8to32() as u32),
            OpKind::NearBranch16 => Ok(i.near_branch16() as u32),
            OpKind::NearBranch32 => Ok(i.near_branch32()),
            k @ (OpKind::MemorySegSI
            | OpKind::MemorySegESI
            | OpKind::MemorySegDI
            | OpKind::MemorySegEDI) => {
                let (_, off) = self.string_off(k);
                let seg = self.mem_seg(i);
                self.read_mem(bus, seg, off, op_size(i, n))
            }
            k @ (OpKind::MemoryESDI | OpKind::MemoryESEDI) => {
                let (_, off) = self.string_off(k);
                self.read_mem(bus, SegReg::Es, off, op_size(i, n))
            }
            _ => Err(Fault::ud()),
        }
    }

    /// Read operand 0 for a read-modify-write (memory checked for writability).
    #[inline]
    pub(crate) fn read_op_rmw<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<u32, Fault> {
        if i.op0_kind() == OpKind::Memory {
            let seg = self.mem_seg(i);
            let off = self.ea(i);
            self.read_mem_rmw(bus, seg, off, op_size(i, 0))
        } else {
            self.read_op(bus, i, 0)
        }
    }

    /// Write operand `n`.
    #[inline]
    pub(crate) fn write_op<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        n: u32,
        v: u32,
    ) -> Result<(), Fault> {
        match i.op_kind(n) {
            OpKind::Register => {
                self.set_reg(i.op_register(n), v);
                Ok(())
            }
            OpKind::Memory => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                self.write_mem(bus, seg, off, op_size(i, n), v)
            }
            k @ (OpKind::MemoryESDI | OpKind::MemoryESEDI) => {
                let (_, off) = self.string_off(k);
                self.write_mem(bus, SegReg::Es, off, op_size(i, n), v)
            }
            _ => Err(Fault::ud()),
        }
    }
}
