//! Decimal adjust and ASCII adjust: DAA, DAS, AAA, AAS, AAM, AAD, and SALC.

use iced_x86::{Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::ops::alu::szp;
use crate::state::flags::*;
use crate::state::CpuModel;
use crate::Cpu;

impl Cpu {
    /// DAA/DAS compare the old AL with 0x99; the 8086 uses 0x9F when AF is set.
    fn daa_threshold(&self, af: bool) -> u8 {
        if af && self.s.model == CpuModel::I8086 {
            0x9F
        } else {
            0x99
        }
    }

    pub(crate) fn op_bcd<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let al = self.s.reg8(0);
        let ah = self.s.reg8(4);
        let cf = self.s.eflags & CF != 0;
        let af = self.s.eflags & AF != 0;
        match i.mnemonic() {
            Mnemonic::Daa => {
                let mut new_al = al;
                let mut f = 0;
                if al & 0x0F > 9 || af {
                    let (v, carry) = new_al.overflowing_add(6);
                    new_al = v;
                    f |= AF;
                    if carry && self.s.model != CpuModel::I8086 {
                        f |= CF;
                    }
                }
                if al > self.daa_threshold(af) || cf {
                    new_al = new_al.wrapping_add(0x60);
                    f |= CF;
                }
                f |= szp(new_al as u32, 1);
                if (al ^ new_al) & new_al & 0x80 != 0 {
                    f |= OF;
                }
                self.s.set_reg8(0, new_al);
                self.set_status(f);
            }
            Mnemonic::Das => {
                let mut new_al = al;
                let mut f = 0;
                if al & 0x0F > 9 || af {
                    let (v, borrow) = new_al.overflowing_sub(6);
                    new_al = v;
                    f |= AF;
                    if borrow && self.s.model != CpuModel::I8086 {
                        f |= CF;
                    }
                }
                if al > self.daa_threshold(af) || cf {
                    new_al = new_al.wrapping_sub(0x60);
                    f |= CF;
                }
                f |= szp(new_al as u32, 1);
                if (al ^ new_al) & al & 0x80 != 0 {
                    f |= OF;
                }
                self.s.set_reg8(0, new_al);
                self.set_status(f);
            }
            Mnemonic::Aaa | Mnemonic::Aas => {
                let add = i.mnemonic() == Mnemonic::Aaa;
                let adjust = al & 0x0F > 9 || af;
                let mut f = self.s.eflags & STATUS & !(AF | CF);
                if adjust {
                    let ax = self.s.reg16(0);
                    if self.s.model == CpuModel::I8086 {
                        let nal = if add {
                            al.wrapping_add(6)
                        } else {
                            al.wrapping_sub(6)
                        };
                        let nah = if add {
                            ah.wrapping_add(1)
                        } else {
                            ah.wrapping_sub(1)
                        };
                        self.s
                            .set_reg16(0, ((nah as u16) << 8) | (nal & 0x0F) as u16);
                    } else {
                        let nax = if add {
                            ax.wrapping_add(0x106)
                        } else {
                            ax.wrapping_sub(6).wrapping_sub(0x100)
                        };
                        self.s.set_reg16(0, nax & 0xFF0F);
                    }
                    f |= AF | CF;
                } else {
                    self.s.set_reg8(0, al & 0x0F);
                }
                // SF/ZF/PF/OF are undefined; model them from the adjusted AL as the 286+ do.
                let nal = if adjust {
                    if add {
                        al.wrapping_add(6)
                    } else {
                        al.wrapping_sub(6)
                    }
                } else {
                    al
                };
                f = (f & !(SF | ZF | PF | OF)) | szp(nal as u32, 1);
                self.set_status(f);
            }
            Mnemonic::Aam => {
                let base = i.immediate8();
                if base == 0 {
                    if self.s.model == CpuModel::I8086 {
                        // The 8086 microcode leaves flags as for a zero result.
                        self.set_status(szp(0, 1));
                        return self.interrupt(bus, 0, crate::interrupt::IntKind::Exception, None);
                    }
                    return Err(Fault::de());
                }
                let q = al / base;
                let r = al % base;
                self.s.set_reg16(0, ((q as u16) << 8) | r as u16);
                self.set_status(szp(r as u32, 1));
            }
            Mnemonic::Aad => {
                let base = i.immediate8();
                let prod = ah.wrapping_mul(base);
                let r = self.add_flags(al as u32, prod as u32, 0, 1);
                self.s.set_reg16(0, r as u16 & 0xFF);
            }
            _ => {
                // SALC
                self.s.set_reg8(0, if cf { 0xFF } else { 0 });
            }
        }
        Ok(())
    }
}
