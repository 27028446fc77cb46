//! The descriptor-table system instructions (Intel SDM vol. 2): LLDT, LTR, SLDT, STR, LAR, LSL,
//! VERR, VERW and ARPL. All raise #UD in real and V86 mode.

use iced_x86::{Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::state::flags;
use crate::Cpu;

use super::descriptor::{is_null, sel_fault, sys, Desc};
use super::segment::null_seg;

impl Cpu {
    /// LLDT, LTR, SLDT, STR, LAR, LSL, VERR, VERW, ARPL.
    pub(crate) fn exec_descriptor_op<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        if !self.s.protected() || self.s.v86() {
            return Err(Fault::ud());
        }
        match i.mnemonic() {
            Mnemonic::Sldt => {
                let v = self.s.ldtr.selector as u32;
                self.write_op(bus, i, 0, v)
            }
            Mnemonic::Str => {
                let v = self.s.tr.selector as u32;
                self.write_op(bus, i, 0, v)
            }
            Mnemonic::Lldt => {
                if self.s.cpl != 0 {
                    return Err(Fault::gp0());
                }
                let sel = self.read_op(bus, i, 0)? as u16;
                self.lldt(bus, sel)
            }
            Mnemonic::Ltr => {
                if self.s.cpl != 0 {
                    return Err(Fault::gp0());
                }
                let sel = self.read_op(bus, i, 0)? as u16;
                self.ltr(bus, sel)
            }
            Mnemonic::Lar | Mnemonic::Lsl => {
                let sel = self.read_op(bus, i, 1)? as u16;
                let lar = i.mnemonic() == Mnemonic::Lar;
                match self.lar_lsl(bus, sel, lar)? {
                    Some(v) => {
                        self.write_op(bus, i, 0, v)?;
                        self.s.set_flag(flags::ZF, true);
                    }
                    None => self.s.set_flag(flags::ZF, false),
                }
                Ok(())
            }
            Mnemonic::Verr | Mnemonic::Verw => {
                let sel = self.read_op(bus, i, 0)? as u16;
                let ok = self.verify(bus, sel, i.mnemonic() == Mnemonic::Verw)?;
                self.s.set_flag(flags::ZF, ok);
                Ok(())
            }
            Mnemonic::Arpl => {
                let d = self.read_op_rmw(bus, i)?;
                let s = self.read_op(bus, i, 1)?;
                if d & 3 < s & 3 {
                    self.write_op(bus, i, 0, (d & !3) | (s & 3))?;
                    self.s.set_flag(flags::ZF, true);
                } else {
                    self.s.set_flag(flags::ZF, false);
                }
                Ok(())
            }
            _ => Err(Fault::ud()),
        }
    }

    /// LLDT: load the LDT register from a GDT descriptor (a null selector invalidates it).
    pub(crate) fn lldt<B: CpuBus>(&mut self, bus: &mut B, sel: u16) -> Result<(), Fault> {
        if is_null(sel) {
            self.s.ldtr = null_seg(sel);
            return Ok(());
        }
        let d = self.fetch_gdt_desc(bus, sel, fault::GP, 0)?;
        if d.is_seg() || d.typ() != sys::LDT {
            return Err(sel_fault(fault::GP, sel, 0));
        }
        if !d.present() {
            return Err(sel_fault(fault::NP, sel, 0));
        }
        self.s.ldtr = d.to_segment(sel);
        Ok(())
    }

    /// LTR: load the task register from an available TSS descriptor and mark it busy.
    pub(crate) fn ltr<B: CpuBus>(&mut self, bus: &mut B, sel: u16) -> Result<(), Fault> {
        if is_null(sel) {
            return Err(Fault::gp0());
        }
        let d = self.fetch_gdt_desc(bus, sel, fault::GP, 0)?;
        if !d.is_tss() || d.tss_busy() {
            return Err(sel_fault(fault::GP, sel, 0));
        }
        if !d.present() {
            return Err(sel_fault(fault::NP, sel, 0));
        }
        self.set_tss_busy(bus, sel, true)?;
        let mut tr = d.to_segment(sel);
        tr.attr |= sys::BUSY as u16;
        self.s.tr = tr;
        Ok(())
    }

    /// Fetch a descriptor for LAR/LSL/VERR/VERW: None if null or outside its table.
    fn probe_desc<B: CpuBus>(&mut self, bus: &mut B, sel: u16) -> Result<Option<Desc>, Fault> {
        if is_null(sel) {
            return Ok(None);
        }
        match self.desc_addr(sel) {
            Some(a) => Ok(Some(self.read_desc_at(bus, a)?)),
            None => Ok(None),
        }
    }

    /// Is `d` (selector `sel`) visible at the current privilege (DPL >= CPL and RPL)?
    fn visible(&self, d: &Desc, sel: u16) -> bool {
        let rpl = (sel & 3) as u8;
        d.conforming() || (d.dpl() >= self.s.cpl && d.dpl() >= rpl)
    }

    /// LAR (bytes 5-7 of the descriptor, limit bits 16-19 included as Bochs does) or LSL (scaled limit); None clears ZF.
    fn lar_lsl<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        lar: bool,
    ) -> Result<Option<u32>, Fault> {
        let Some(d) = self.probe_desc(bus, sel)? else {
            return Ok(None);
        };
        let type_ok = d.is_seg()
            || match d.typ() {
                sys::TSS16_AVAIL
                | sys::LDT
                | sys::TSS16_BUSY
                | sys::TSS32_AVAIL
                | sys::TSS32_BUSY => true,
                sys::CALL_GATE16 | sys::TASK_GATE | sys::CALL_GATE32 => lar,
                _ => false,
            };
        if !type_ok || !self.visible(&d, sel) {
            return Ok(None);
        }
        // Bits 16-19 are undefined (SDM); they read as 0, as under QEMU.
        Ok(Some(if lar { d.hi & 0x00F0_FF00 } else { d.limit() }))
    }

    /// VERR / VERW: can the segment be read / written at the current privilege?
    fn verify<B: CpuBus>(&mut self, bus: &mut B, sel: u16, write: bool) -> Result<bool, Fault> {
        let Some(d) = self.probe_desc(bus, sel)? else {
            return Ok(false);
        };
        if !d.is_seg() {
            return Ok(false);
        }
        let type_ok = if write {
            d.writable_data()
        } else {
            d.readable()
        };
        Ok(type_ok && self.visible(&d, sel))
    }
}
