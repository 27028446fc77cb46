//! Stack instructions: PUSH, POP, PUSHA/POPA, PUSHF/POPF, ENTER, LEAVE (and the 8086's POP CS).

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::operand::seg_of;
use crate::state::flags::*;
use crate::state::{CpuModel, SegReg};
use crate::Cpu;

impl Cpu {
    /// Operand size of a stack instruction (2 or 4).
    #[inline]
    fn stack_opsize(i: &Instruction) -> u32 {
        i.stack_pointer_increment().unsigned_abs()
    }

    pub(crate) fn op_push<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::stack_opsize(i);
        let v = if i.op0_kind() == OpKind::Register
            && i.op0_register() == iced_x86::Register::SP
            && self.s.model == CpuModel::I8086
        {
            // The 8086 pushes SP after decrementing it.
            self.s.gpr[4].wrapping_sub(2) & 0xFFFF
        } else {
            self.read_op(bus, i, 0)?
        };
        self.push(bus, v, size)
    }

    pub(crate) fn op_pop<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::stack_opsize(i);
        let v = self.peek(bus, 0, size)?;
        let old_sp = self.sp();
        self.set_sp(old_sp.wrapping_add(size));
        if i.op0_kind() == OpKind::Register {
            let r = i.op0_register();
            if r.is_segment_register() {
                let seg = seg_of(r);
                if let Err(f) = self.load_seg(bus, seg, v as u16) {
                    self.set_sp(old_sp);
                    return Err(f);
                }
                return Ok(());
            }
            self.set_reg(r, v);
            return Ok(());
        }
        // POP m: the address is computed with the incremented stack pointer.
        self.write_op(bus, i, 0, v)
    }

    /// POP CS, which only the 8086 has (opcode 0F).
    pub(crate) fn op_pop_cs<B: CpuBus>(&mut self, bus: &mut B) -> Result<(), Fault> {
        let v = self.pop(bus, 2)?;
        self.load_cs_real(v as u16);
        Ok(())
    }

    pub(crate) fn op_pusha<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = if i.mnemonic() == Mnemonic::Pushad {
            4
        } else {
            2
        };
        let sp = self.s.gpr[4];
        for r in 0..8 {
            let v = if r == 4 { sp } else { self.s.gpr[r] };
            self.push(bus, v, size)?;
        }
        Ok(())
    }

    pub(crate) fn op_popa<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = if i.mnemonic() == Mnemonic::Popad {
            4
        } else {
            2
        };
        for r in (0..8).rev() {
            let v = self.pop(bus, size)?;
            if r == 4 {
                continue;
            }
            if size == 4 {
                self.s.gpr[r] = v;
            } else {
                self.s.set_reg16(r, v as u16);
            }
        }
        Ok(())
    }

    pub(crate) fn op_pushf<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        if self.s.v86() && self.s.iopl() < 3 {
            return Err(Fault::gp0());
        }
        let size = Self::stack_opsize(i);
        let v = self.flags_image() & !(VM | RF);
        self.push(bus, v, size)
    }

    pub(crate) fn op_popf<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        if self.s.v86() && self.s.iopl() < 3 {
            return Err(Fault::gp0());
        }
        let size = Self::stack_opsize(i);
        let v = self.pop(bus, size)?;
        let mut m = STATUS | TF | DF | NT | IF | IOPL | AC | ID | RF;
        if self.s.protected() {
            if self.s.cpl > 0 {
                m &= !IOPL;
            }
            if self.s.cpl > self.s.iopl() {
                m &= !IF;
            }
        }
        if size == 2 {
            m &= 0xFFFF;
        }
        self.write_flags(v & !RF, m);
        Ok(())
    }

    pub(crate) fn op_enter<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = Self::enter_opsize(i);
        let alloc = i.immediate16() as u32;
        let level = (i.immediate8_2nd() % 32) as u32;
        let s32 = self.s.stack32();
        let bp_mask = if s32 { 0xFFFF_FFFF } else { 0xFFFF };
        self.push(bus, self.s.gpr[5], size)?;
        let frame = self.sp();
        if level > 0 {
            let mut bp = self.s.gpr[5];
            for _ in 1..level {
                bp = bp.wrapping_sub(size) & bp_mask;
                let v = self.read_mem(bus, SegReg::Ss, bp, size)?;
                self.push(bus, v, size)?;
            }
            self.push(bus, frame, size)?;
        }
        let new_sp = self.sp().wrapping_sub(alloc) & bp_mask;
        // The final stack pointer must be writable (checked on the 386+).
        if self.s.model.is_386_plus() {
            self.seg_lin(SegReg::Ss, new_sp, 1, true)?;
        }
        if size == 4 {
            self.s.gpr[5] = frame;
        } else {
            self.s.set_reg16(5, frame as u16);
        }
        self.set_sp(new_sp);
        Ok(())
    }

    fn enter_opsize(i: &Instruction) -> u32 {
        match i.code() {
            iced_x86::Code::Enterd_imm16_imm8 => 4,
            _ => 2,
        }
    }

    pub(crate) fn op_leave<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = if i.code() == iced_x86::Code::Leaved {
            4
        } else {
            2
        };
        let bp = if self.s.stack32() {
            self.s.gpr[5]
        } else {
            self.s.gpr[5] & 0xFFFF
        };
        let v = self.read_mem(bus, SegReg::Ss, bp, size)?;
        self.set_sp(bp.wrapping_add(size));
        if size == 4 {
            self.s.gpr[5] = v;
        } else {
            self.s.set_reg16(5, v as u16);
        }
        Ok(())
    }
}
