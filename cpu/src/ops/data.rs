//! Data movement and bit operations: MOV (incl. segment registers), MOVZX/MOVSX, XCHG, LEA,
//! LDS/LES/LFS/LGS/LSS, XLAT, CBW/CWDE/CWD/CDQ, BSWAP, CMOVcc, SETcc, LAHF/SAHF, CMPXCHG,
//! CMPXCHG8B, XADD, BT/BTS/BTR/BTC, BSF/BSR, and the flag instructions.

use iced_x86::{ConditionCode, Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::operand::{addr32, op_size, seg_of};
use crate::ops::alu::mask;
use crate::state::flags::*;
use crate::state::{attr, CpuModel, SegReg, Segment};
use crate::Cpu;

impl Cpu {
    /// Evaluate a Jcc/SETcc/CMOVcc condition.
    #[inline]
    pub(crate) fn cond(&self, cc: ConditionCode) -> bool {
        let f = self.s.eflags;
        let sf_ne_of = (f & SF != 0) != (f & OF != 0);
        match cc {
            ConditionCode::o => f & OF != 0,
            ConditionCode::no => f & OF == 0,
            ConditionCode::b => f & CF != 0,
            ConditionCode::ae => f & CF == 0,
            ConditionCode::e => f & ZF != 0,
            ConditionCode::ne => f & ZF == 0,
            ConditionCode::be => f & (CF | ZF) != 0,
            ConditionCode::a => f & (CF | ZF) == 0,
            ConditionCode::s => f & SF != 0,
            ConditionCode::ns => f & SF == 0,
            ConditionCode::p => f & PF != 0,
            ConditionCode::np => f & PF == 0,
            ConditionCode::l => sf_ne_of,
            ConditionCode::ge => !sf_ne_of,
            ConditionCode::le => sf_ne_of || f & ZF != 0,
            ConditionCode::g => !sf_ne_of && f & ZF == 0,
            ConditionCode::None => true,
        }
    }

    /// Load a segment register other than CS (MOV, POP, LDS...), in any mode.
    pub(crate) fn load_seg<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        sel: u16,
    ) -> Result<(), Fault> {
        if seg == SegReg::Ss {
            self.shadow_next = true;
        }
        if self.s.protected() && !self.s.v86() {
            return self.pm_load_seg(bus, seg, sel);
        }
        let sr = &mut self.s.seg[seg as usize];
        if self.s.eflags & VM != 0 {
            *sr = Segment {
                selector: sel,
                attr: attr::REAL_DATA | (3 << attr::DPL_SHIFT),
                base: (sel as u32) << 4,
                limit: 0xFFFF,
            };
        } else {
            sr.selector = sel;
            sr.base = (sel as u32) << 4;
            if seg == SegReg::Cs {
                sr.attr = attr::REAL_CODE | (sr.attr & (attr::DB | attr::G));
            }
        }
        Ok(())
    }

    pub(crate) fn op_mov<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        if i.op0_kind() == OpKind::Register {
            let r = i.op0_register();
            if r.is_segment_register() {
                let v = self.read_op(bus, i, 1)? as u16;
                let seg = seg_of(r);
                if seg == SegReg::Cs {
                    if self.s.model != CpuModel::I8086 {
                        return Err(Fault::ud());
                    }
                    self.load_cs_real(v);
                    return Ok(());
                }
                if matches!(seg, SegReg::Fs | SegReg::Gs) && self.s.model == CpuModel::I8086 {
                    return Err(Fault::ud());
                }
                return self.load_seg(bus, seg, v);
            }
            if r.is_cr() || r.is_dr() || r.is_tr() {
                return self.op_mov_crdr(bus, i);
            }
        }
        if i.op1_kind() == OpKind::Register {
            let r = i.op1_register();
            if r.is_cr() || r.is_dr() || r.is_tr() {
                return self.op_mov_crdr(bus, i);
            }
            if r.is_segment_register()
                && i.op0_kind() == OpKind::Register
                && i.op0_register().size() == 4
            {
                // MOV r32, Sreg zero-extends on the P6.
                let v = self.reg(r);
                self.set_reg(i.op0_register(), v);
                return Ok(());
            }
        }
        let v = self.read_op(bus, i, 1)?;
        self.write_op(bus, i, 0, v)
    }

    pub(crate) fn op_movx<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let ss = op_size(i, 1);
        let v = self.read_op(bus, i, 1)?;
        let v = if i.mnemonic() == Mnemonic::Movsx {
            if ss == 1 {
                v as u8 as i8 as i32 as u32
            } else {
                v as u16 as i16 as i32 as u32
            }
        } else {
            v & mask(ss)
        };
        self.set_reg(i.op0_register(), v);
        Ok(())
    }

    pub(crate) fn op_xchg<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let b = self.read_op(bus, i, 1)?;
        let a = self.read_op_rmw(bus, i)?;
        self.write_op(bus, i, 0, b)?;
        self.write_op(bus, i, 1, a)
    }

    pub(crate) fn op_lea(&mut self, i: &Instruction) -> Result<(), Fault> {
        if i.op1_kind() != OpKind::Memory {
            return Err(Fault::ud());
        }
        let a = self.ea(i);
        self.set_reg(i.op0_register(), a);
        Ok(())
    }

    /// LDS, LES, LFS, LGS, LSS.
    pub(crate) fn op_lseg<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        if i.op1_kind() != OpKind::Memory {
            return Err(Fault::ud());
        }
        let size = i.op0_register().size() as u32;
        let seg = self.mem_seg(i);
        let off = self.ea(i);
        let v = self.read_mem(bus, seg, off, size)?;
        let sel = self.read_mem(bus, seg, off.wrapping_add(size), 2)? as u16;
        let target = match i.mnemonic() {
            Mnemonic::Lds => SegReg::Ds,
            Mnemonic::Les => SegReg::Es,
            Mnemonic::Lfs => SegReg::Fs,
            Mnemonic::Lgs => SegReg::Gs,
            _ => SegReg::Ss,
        };
        self.load_seg(bus, target, sel)?;
        self.set_reg(i.op0_register(), v);
        Ok(())
    }

    pub(crate) fn op_xlat<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let seg = self.mem_seg(i);
        let al = self.s.reg8(0) as u32;
        let off = if addr32(i) {
            self.s.gpr[3].wrapping_add(al)
        } else {
            (self.s.gpr[3].wrapping_add(al)) & 0xFFFF
        };
        let v = self.read_mem(bus, seg, off, 1)?;
        self.s.set_reg8(0, v as u8);
        Ok(())
    }

    pub(crate) fn op_convert(&mut self, i: &Instruction) {
        match i.mnemonic() {
            Mnemonic::Cbw => {
                let v = self.s.reg8(0) as i8 as i16 as u16;
                self.s.set_reg16(0, v);
            }
            Mnemonic::Cwde => self.s.gpr[0] = self.s.gpr[0] as u16 as i16 as i32 as u32,
            Mnemonic::Cwd => {
                let v = if self.s.gpr[0] & 0x8000 != 0 {
                    0xFFFF
                } else {
                    0
                };
                self.s.set_reg16(2, v);
            }
            _ => {
                self.s.gpr[2] = if self.s.gpr[0] & 0x8000_0000 != 0 {
                    0xFFFF_FFFF
                } else {
                    0
                }
            }
        }
    }

    pub(crate) fn op_bswap(&mut self, i: &Instruction) {
        let r = i.op0_register();
        let v = self.reg(r);
        if r.size() == 4 {
            self.set_reg(r, v.swap_bytes());
        } else {
            self.set_reg(r, 0); // BSWAP r16 is undefined; the P6 clears it
        }
    }

    pub(crate) fn op_cmovcc<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let v = self.read_op(bus, i, 1)?;
        if self.cond(i.condition_code()) {
            self.set_reg(i.op0_register(), v);
        }
        Ok(())
    }

    pub(crate) fn op_setcc<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let v = self.cond(i.condition_code()) as u32;
        self.write_op(bus, i, 0, v)
    }

    pub(crate) fn op_cmpxchg<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let dst = self.read_op_rmw(bus, i)?;
        let src = self.read_op(bus, i, 1)?;
        let acc = self.s.gpr[0] & mask(size);
        self.sub_flags(acc, dst, 0, size);
        if acc == dst & mask(size) {
            self.write_op(bus, i, 0, src)
        } else {
            self.write_op(bus, i, 0, dst)?;
            match size {
                1 => self.s.set_reg8(0, dst as u8),
                2 => self.s.set_reg16(0, dst as u16),
                _ => self.s.gpr[0] = dst,
            }
            Ok(())
        }
    }

    pub(crate) fn op_cmpxchg8b<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        if i.op0_kind() != OpKind::Memory {
            return Err(Fault::ud());
        }
        let seg = self.mem_seg(i);
        let off = self.ea(i);
        let lo = self.read_mem_rmw(bus, seg, off, 4)?;
        let hi = self.read_mem_rmw(bus, seg, off.wrapping_add(4), 4)?;
        if lo == self.s.gpr[0] && hi == self.s.gpr[2] {
            self.write_mem(bus, seg, off, 4, self.s.gpr[3])?;
            self.write_mem(bus, seg, off.wrapping_add(4), 4, self.s.gpr[1])?;
            self.s.eflags |= ZF;
        } else {
            self.write_mem(bus, seg, off, 4, lo)?;
            self.write_mem(bus, seg, off.wrapping_add(4), 4, hi)?;
            self.s.gpr[0] = lo;
            self.s.gpr[2] = hi;
            self.s.eflags &= !ZF;
        }
        Ok(())
    }

    pub(crate) fn op_xadd<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let dst = self.read_op_rmw(bus, i)?;
        let src = self.read_op(bus, i, 1)?;
        let sum = self.add_flags(dst, src, 0, size);
        if i.op0_kind() == OpKind::Memory {
            // At the address computed before the register changes (XADD [EAX], EAX).
            self.write_op(bus, i, 0, sum)?;
            self.write_op(bus, i, 1, dst)
        } else {
            // Both the same register: the sum wins.
            self.write_op(bus, i, 1, dst)?;
            self.write_op(bus, i, 0, sum)
        }
    }

    /// BT, BTS, BTR, BTC (register or memory base; register offsets reach beyond the operand).
    pub(crate) fn op_bt<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let bits = size * 8;
        let off = self.read_op(bus, i, 1)?;
        let m = i.mnemonic();
        let (val, bit, mem) = if i.op0_kind() == OpKind::Memory {
            let seg = self.mem_seg(i);
            let mut ea = self.ea(i);
            let bit = if i.op1_kind() == OpKind::Register {
                let soff = if size == 2 {
                    off as u16 as i16 as i32
                } else {
                    off as i32
                };
                let disp = (soff >> (if size == 2 { 4 } else { 5 })).wrapping_mul(size as i32);
                ea = ea.wrapping_add(disp as u32);
                if !addr32(i) {
                    ea &= 0xFFFF;
                }
                (soff as u32) & (bits - 1)
            } else {
                off & (bits - 1)
            };
            let v = if m == Mnemonic::Bt {
                self.read_mem(bus, seg, ea, size)?
            } else {
                self.read_mem_rmw(bus, seg, ea, size)?
            };
            (v, bit, Some((seg, ea)))
        } else {
            (self.reg(i.op0_register()), off & (bits - 1), None)
        };
        let old = (val >> bit) & 1 != 0;
        self.s.set_flag(CF, old);
        let nv = match m {
            Mnemonic::Bts => val | (1 << bit),
            Mnemonic::Btr => val & !(1 << bit),
            Mnemonic::Btc => val ^ (1 << bit),
            _ => return Ok(()),
        };
        match mem {
            Some((seg, ea)) => self.write_mem(bus, seg, ea, size, nv),
            None => {
                self.set_reg(i.op0_register(), nv);
                Ok(())
            }
        }
    }

    pub(crate) fn op_bsf_bsr<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let size = op_size(i, 0);
        let v = self.read_op(bus, i, 1)? & mask(size);
        if v == 0 {
            self.s.eflags |= ZF;
            return Ok(());
        }
        // TZCNT/LZCNT encodings run as BSF/BSR (REP ignored) on this CPU.
        let idx = if matches!(i.mnemonic(), Mnemonic::Bsf | Mnemonic::Tzcnt) {
            v.trailing_zeros()
        } else {
            31 - v.leading_zeros()
        };
        let f = crate::ops::alu::szp(idx, size) & !ZF;
        self.set_status((self.s.eflags & (CF | OF | AF)) | f);
        self.set_reg(i.op0_register(), idx);
        Ok(())
    }

    /// LAHF, SAHF, CLC, STC, CMC, CLD, STD (CLI/STI are IOPL-checked in `system`).
    pub(crate) fn op_flagops(&mut self, i: &Instruction) {
        match i.mnemonic() {
            Mnemonic::Lahf => {
                let v = (self.s.eflags & 0xD5) as u8 | 2;
                self.s.set_reg8(4, v);
            }
            Mnemonic::Sahf => {
                let ah = self.s.reg8(4) as u32;
                self.s.eflags =
                    (self.s.eflags & !(SF | ZF | AF | PF | CF)) | (ah & (SF | ZF | AF | PF | CF));
            }
            Mnemonic::Clc => self.s.eflags &= !CF,
            Mnemonic::Stc => self.s.eflags |= CF,
            Mnemonic::Cmc => self.s.eflags ^= CF,
            Mnemonic::Cld => self.s.eflags &= !DF,
            _ => self.s.eflags |= DF,
        }
    }
}
