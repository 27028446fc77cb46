//! Interrupt and exception delivery through the IDT (Intel SDM vol. 3, 6.10-6.13; vol. 2 INT n
//! pseudocode): interrupt, trap and task gates, 16- and 32-bit gates, the gate DPL check for
//! software interrupts (the IOPL check of INT n in V86 mode is the caller's, since INT3 and
//! INTO are not IOPL-sensitive), stack switches from the TSS, exits from V86 mode to ring 0, error codes
//! with the IDT and EXT bits. Nothing is committed until every check and push has succeeded,
//! so a fault during delivery leaves the interrupted state intact for #DF escalation.

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::interrupt::IntKind;
use crate::state::{flags, reg, SegReg};
use crate::Cpu;

use super::descriptor::{is_null, sel_fault, sys};
use super::segment::{null_seg, Stack};
use super::task::TaskSource;

impl Cpu {
    /// Deliver an interrupt or exception through the IDT.
    pub(crate) fn pm_interrupt<B: CpuBus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        kind: IntKind,
        error: Option<u32>,
    ) -> Result<(), Fault> {
        let ext: u16 = if kind == IntKind::Software { 0 } else { 1 };
        let idt_err = Fault::with_error(fault::GP, vector as u32 * 8 + 2 + ext as u32);
        let cpl = self.s.cpl;
        let v86 = self.s.v86();
        let off = vector as u32 * 8;
        if off + 7 > self.s.idtr.limit {
            return Err(idt_err);
        }
        let g = self.read_desc_at(bus, self.s.idtr.base.wrapping_add(off))?;
        let typ = g.typ();
        if g.is_seg()
            || !matches!(
                typ,
                sys::TASK_GATE
                    | sys::INT_GATE16
                    | sys::TRAP_GATE16
                    | sys::INT_GATE32
                    | sys::TRAP_GATE32
            )
        {
            return Err(idt_err);
        }
        if kind == IntKind::Software && g.dpl() < cpl {
            return Err(idt_err);
        }
        if !g.present() {
            return Err(Fault::with_error(
                fault::NP,
                vector as u32 * 8 + 2 + ext as u32,
            ));
        }
        if typ == sys::TASK_GATE {
            return self.interrupt_task_gate(bus, g.gate_selector(), error, ext);
        }

        let csel = g.gate_selector();
        if is_null(csel) {
            return Err(Fault::with_error(fault::GP, ext as u32));
        }
        let cd = self.fetch_desc(bus, csel, fault::GP, ext)?;
        if !cd.is_code() || cd.dpl() > cpl {
            return Err(sel_fault(fault::GP, csel, ext));
        }
        if !cd.present() {
            return Err(sel_fault(fault::NP, csel, ext));
        }
        let size = if g.gate32() { 4 } else { 2 };
        let eip = g.gate_offset();
        if eip > cd.limit() {
            return Err(Fault::with_error(fault::GP, ext as u32));
        }
        let fl = self.flags_image();
        let old_cs = self.s.seg[SegReg::Cs as usize].selector as u32;
        let ret = self.s.eip;
        if !cd.conforming() && cd.dpl() < cpl {
            // Inner privilege: new stack from the TSS.
            let new_cpl = cd.dpl();
            if v86 && new_cpl != 0 {
                return Err(sel_fault(fault::GP, csel, ext));
            }
            let (ss_sel, esp) = self.tss_stack(bus, new_cpl, ext)?;
            let ss = self.check_seg(bus, SegReg::Ss, ss_sel, new_cpl, fault::TS, ext)?;
            let mut ns = Stack::new(ss, esp, new_cpl, sel_fault(fault::SS, ss_sel, ext));
            if v86 {
                for r in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                    let v = self.s.seg[r as usize].selector as u32;
                    self.st_push(bus, &mut ns, size, v)?;
                }
            }
            let old_ss = self.s.seg[SegReg::Ss as usize].selector as u32;
            let old_esp = self.s.gpr[reg::ESP];
            self.st_push(bus, &mut ns, size, old_ss)?;
            self.st_push(bus, &mut ns, size, old_esp)?;
            self.st_push(bus, &mut ns, size, fl)?;
            self.st_push(bus, &mut ns, size, old_cs)?;
            self.st_push(bus, &mut ns, size, ret)?;
            if let Some(e) = error {
                self.st_push(bus, &mut ns, size, e)?;
            }
            self.set_accessed(bus, &cd)?;
            if v86 {
                for r in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                    self.s.seg[r as usize] = null_seg(0);
                }
            }
            self.s.seg[SegReg::Ss as usize] = ss;
            self.commit_sp(&ns);
            self.commit_cs(&cd, csel, new_cpl, eip);
        } else {
            // Same privilege (conforming target, or DPL == CPL); impossible from V86.
            if v86 {
                return Err(sel_fault(fault::GP, csel, ext));
            }
            let mut st = self.cur_stack(Fault::with_error(fault::SS, ext as u32));
            self.st_push(bus, &mut st, size, fl)?;
            self.st_push(bus, &mut st, size, old_cs)?;
            self.st_push(bus, &mut st, size, ret)?;
            if let Some(e) = error {
                self.st_push(bus, &mut st, size, e)?;
            }
            self.set_accessed(bus, &cd)?;
            self.commit_sp(&st);
            self.commit_cs(&cd, csel, cpl, eip);
        }
        let mut clear = flags::TF | flags::NT | flags::RF | flags::VM;
        if typ == sys::INT_GATE16 || typ == sys::INT_GATE32 {
            clear |= flags::IF;
        }
        self.s.eflags &= !clear;
        Ok(())
    }

    /// Interrupt through a task gate: switch to the task (nested), then push the error code
    /// on the new task's stack.
    fn interrupt_task_gate<B: CpuBus>(
        &mut self,
        bus: &mut B,
        tsel: u16,
        error: Option<u32>,
        ext: u16,
    ) -> Result<(), Fault> {
        let td = self.fetch_gdt_desc(bus, tsel, fault::GP, ext)?;
        if !td.is_tss() || td.tss_busy() {
            return Err(sel_fault(fault::GP, tsel, ext));
        }
        if !td.present() {
            return Err(sel_fault(fault::NP, tsel, ext));
        }
        self.task_switch(bus, tsel, td, TaskSource::Int, ext)?;
        if let Some(e) = error {
            let size = if td.gate32() { 4 } else { 2 };
            let mut st = self.cur_stack(Fault::with_error(fault::SS, ext as u32));
            self.st_push(bus, &mut st, size, e)?;
            self.commit_sp(&st);
        }
        Ok(())
    }
}
