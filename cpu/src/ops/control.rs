//! Control transfer: JMP, Jcc, JCXZ, LOOP*, CALL, RET, RETF, IRET (near and far, real mode;
//! protected-mode far forms go to `protected`), INT n/INT3/INTO/INT1, BOUND.

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::interrupt::IntKind;
use crate::operand::op_size;
use crate::state::flags::*;
use crate::state::{CpuModel, SegReg};
use crate::Cpu;

impl Cpu {
    /// Near jump within CS, with the limit check.
    #[inline]
    pub(crate) fn jump_near(&mut self, target: u32) -> Result<(), Fault> {
        if self.s.model != CpuModel::I8086 && target > self.s.seg[SegReg::Cs as usize].limit {
            return Err(Fault::gp0());
        }
        self.s.eip = target;
        Ok(())
    }

    /// Far jump in real or V86 mode.
    fn jump_far_real(&mut self, sel: u16, off: u32) -> Result<(), Fault> {
        if self.s.model != CpuModel::I8086
            && off > 0xFFFF
            && self.s.seg[SegReg::Cs as usize].limit <= 0xFFFF
        {
            return Err(Fault::gp0());
        }
        self.load_cs_real(sel);
        self.s.eip = off;
        Ok(())
    }

    /// Read a far pointer operand (m16:16 or m16:32): (selector, offset, 32-bit?).
    fn far_operand<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(u16, u32, bool), Fault> {
        match i.op0_kind() {
            OpKind::FarBranch16 => Ok((i.far_branch_selector(), i.far_branch16() as u32, false)),
            OpKind::FarBranch32 => Ok((i.far_branch_selector(), i.far_branch32(), true)),
            OpKind::Memory => {
                let size = i.memory_size().size() as u32 - 2;
                let seg = self.mem_seg(i);
                let ea = self.ea(i);
                let off = self.read_mem(bus, seg, ea, size)?;
                let sel = self.read_mem(bus, seg, ea.wrapping_add(size), 2)? as u16;
                Ok((sel, off, size == 4))
            }
            _ => Err(Fault::ud()),
        }
    }

    #[inline]
    fn pm(&self) -> bool {
        self.s.protected() && !self.s.v86()
    }

    pub(crate) fn op_jmp<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.op0_kind() {
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                self.jump_near(i.near_branch_target() as u32)
            }
            OpKind::Register | OpKind::Memory if !is_far(i) => {
                let v = self.read_op(bus, i, 0)?;
                self.jump_near(v)
            }
            _ => {
                let (sel, off, op32) = self.far_operand(bus, i)?;
                if self.pm() {
                    self.pm_far_jump(bus, sel, off, op32)
                } else {
                    self.jump_far_real(sel, off)
                }
            }
        }
    }

    pub(crate) fn op_jcc(&mut self, i: &Instruction) -> Result<(), Fault> {
        if self.cond(i.condition_code()) {
            self.jump_near(i.near_branch_target() as u32)
        } else {
            Ok(())
        }
    }

    /// JCXZ/JECXZ, LOOP, LOOPE, LOOPNE.
    pub(crate) fn op_loop(&mut self, i: &Instruction) -> Result<(), Fault> {
        let ecx = matches!(
            i.code(),
            Code::Loop_rel8_16_ECX
                | Code::Loop_rel8_32_ECX
                | Code::Loope_rel8_16_ECX
                | Code::Loope_rel8_32_ECX
                | Code::Loopne_rel8_16_ECX
                | Code::Loopne_rel8_32_ECX
                | Code::Jecxz_rel8_16
                | Code::Jecxz_rel8_32
        );
        let cmask = if ecx { 0xFFFF_FFFF } else { 0xFFFF };
        let m = i.mnemonic();
        let taken = if m == Mnemonic::Jcxz || m == Mnemonic::Jecxz {
            self.s.gpr[1] & cmask == 0
        } else {
            let c = self.s.gpr[1].wrapping_sub(1) & cmask;
            self.s.gpr[1] = (self.s.gpr[1] & !cmask) | c;
            let zf = self.s.eflags & ZF != 0;
            c != 0
                && match m {
                    Mnemonic::Loope => zf,
                    Mnemonic::Loopne => !zf,
                    _ => true,
                }
        };
        if taken {
            self.jump_near(i.near_branch_target() as u32)
        } else {
            Ok(())
        }
    }

    pub(crate) fn op_call<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.op0_kind() {
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                let size = if i.op0_kind() == OpKind::NearBranch32 {
                    4
                } else {
                    2
                };
                let ret = self.s.eip;
                let target = i.near_branch_target() as u32;
                self.push(bus, ret, size)?;
                self.jump_near(target)
            }
            OpKind::Register | OpKind::Memory if !is_far(i) => {
                let size = op_size(i, 0);
                let target = self.read_op(bus, i, 0)?;
                let ret = self.s.eip;
                self.push(bus, ret, size)?;
                self.jump_near(target)
            }
            _ => {
                let (sel, off, op32) = self.far_operand(bus, i)?;
                if self.pm() {
                    return self.pm_far_call(bus, sel, off, op32);
                }
                let size = if op32 { 4 } else { 2 };
                let cs = self.s.seg[SegReg::Cs as usize].selector as u32;
                let ret = self.s.eip;
                self.push(bus, cs, size)?;
                self.push(bus, ret, size)?;
                self.jump_far_real(sel, off)
            }
        }
    }

    pub(crate) fn op_ret<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let (size, imm) = match i.code() {
            Code::Retnw => (2, 0),
            Code::Retnw_imm16 => (2, i.immediate16() as u32),
            Code::Retnd => (4, 0),
            _ => (4, i.immediate16() as u32),
        };
        let target = self.pop(bus, size)?;
        self.jump_near(target)?;
        let sp = self.sp().wrapping_add(imm);
        self.set_sp(sp);
        Ok(())
    }

    pub(crate) fn op_retf<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let (op32, imm) = match i.code() {
            Code::Retfw => (false, 0),
            Code::Retfw_imm16 => (false, i.immediate16()),
            Code::Retfd => (true, 0),
            _ => (true, i.immediate16()),
        };
        if self.pm() {
            return self.pm_far_ret(bus, op32, imm);
        }
        let size = if op32 { 4 } else { 2 };
        let off = self.peek(bus, 0, size)?;
        let sel = self.peek(bus, size, 2)? as u16;
        self.jump_far_real(sel, off)?;
        let sp = self.sp().wrapping_add(2 * size + imm as u32);
        self.set_sp(sp);
        Ok(())
    }

    pub(crate) fn op_iret<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let op32 = i.code() == Code::Iretd;
        self.s.nmi_blocked = false;
        if self.s.protected() {
            return self.pm_iret(bus, op32);
        }
        let size = if op32 { 4 } else { 2 };
        let off = self.peek(bus, 0, size)?;
        let sel = self.peek(bus, size, 2)? as u16;
        let fl = self.peek(bus, 2 * size, size)?;
        self.jump_far_real(sel, off)?;
        let sp = self.sp().wrapping_add(3 * size);
        self.set_sp(sp);
        let m = if op32 {
            STATUS | TF | IF | DF | NT | IOPL | AC | ID | RF
        } else {
            0xFFFF & (STATUS | TF | IF | DF | NT | IOPL)
        };
        self.write_flags(fl, m);
        Ok(())
    }

    /// INT n, INT3, INTO, INT1 (ICEBP).
    pub(crate) fn op_int<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let (vector, kind) = match i.mnemonic() {
            Mnemonic::Int => (i.immediate8(), IntKind::Software),
            Mnemonic::Int3 => (fault::BP, IntKind::Software),
            Mnemonic::Into => {
                if self.s.eflags & OF == 0 {
                    return Ok(());
                }
                (fault::OF, IntKind::Software)
            }
            _ => (fault::DB, IntKind::Exception),
        };
        if self.s.v86() && self.s.iopl() < 3 && i.mnemonic() == Mnemonic::Int {
            return Err(Fault::gp0());
        }
        self.interrupt(bus, vector, kind, None)
    }

    pub(crate) fn op_bound<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        if i.op1_kind() != OpKind::Memory {
            return Err(Fault::ud());
        }
        let size = i.op0_register().size() as u32;
        let seg = self.mem_seg(i);
        let ea = self.ea(i);
        let lo = self.read_mem(bus, seg, ea, size)?;
        let hi = self.read_mem(bus, seg, ea.wrapping_add(size), size)?;
        let v = self.reg(i.op0_register());
        let (v, lo, hi) = if size == 2 {
            (
                v as u16 as i16 as i32,
                lo as u16 as i16 as i32,
                hi as u16 as i16 as i32,
            )
        } else {
            (v as i32, lo as i32, hi as i32)
        };
        if v < lo || v > hi {
            return Err(Fault::new(fault::BR));
        }
        Ok(())
    }
}

/// Is this JMP/CALL the far form?
fn is_far(i: &Instruction) -> bool {
    matches!(i.op0_kind(), OpKind::FarBranch16 | OpKind::FarBranch32)
        || (i.op0_kind() == OpKind::Memory
            && matches!(
                i.memory_size(),
                iced_x86::MemorySize::SegPtr16 | iced_x86::MemorySize::SegPtr32
            ))
}
