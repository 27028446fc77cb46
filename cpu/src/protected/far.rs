//! Far transfers in protected mode (Intel SDM vol. 3, 5.8; vol. 2 JMP, CALL and RET pseudocode):
//! direct jumps and calls to code segments (conforming or not), call gates (16/32-bit, with a
//! stack switch and parameter copying on a privilege change), jumps and calls to TSSs and task
//! gates, and far returns to the same or an outer privilege level.

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::state::SegReg;
use crate::Cpu;

use super::descriptor::{is_null, sel_fault, sys, Desc};
use super::segment::Stack;
use super::task::TaskSource;

impl Cpu {
    /// JMP FAR in protected mode (code segment, call gate, task gate or TSS).
    pub(crate) fn pm_far_jump<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        off: u32,
        op32: bool,
    ) -> Result<(), Fault> {
        let cpl = self.s.cpl;
        if is_null(sel) {
            return Err(Fault::gp0());
        }
        let d = self.fetch_desc(bus, sel, fault::GP, 0)?;
        if d.is_seg() {
            check_code_direct(&d, sel, cpl)?;
            let eip = if op32 { off } else { off & 0xFFFF };
            if eip > d.limit() {
                return Err(Fault::gp0());
            }
            self.set_accessed(bus, &d)?;
            self.commit_cs(&d, sel, cpl, eip);
            return Ok(());
        }
        match d.typ() {
            sys::CALL_GATE16 | sys::CALL_GATE32 => {
                let cd = self.call_gate_target(bus, &d, sel)?;
                if !cd.conforming() && cd.dpl() != cpl {
                    return Err(sel_fault(fault::GP, d.gate_selector(), 0));
                }
                let eip = d.gate_offset();
                if eip > cd.limit() {
                    return Err(Fault::gp0());
                }
                self.set_accessed(bus, &cd)?;
                self.commit_cs(&cd, d.gate_selector(), cpl, eip);
                Ok(())
            }
            sys::TASK_GATE | sys::TSS16_AVAIL | sys::TSS32_AVAIL => {
                let (tsel, td) = self.task_target(bus, &d, sel)?;
                self.task_switch(bus, tsel, td, TaskSource::Jmp, 0)
            }
            _ => Err(sel_fault(fault::GP, sel, 0)),
        }
    }

    /// CALL FAR in protected mode (code segment, call gate with privilege change, task gate, TSS).
    pub(crate) fn pm_far_call<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        off: u32,
        op32: bool,
    ) -> Result<(), Fault> {
        let cpl = self.s.cpl;
        if is_null(sel) {
            return Err(Fault::gp0());
        }
        let d = self.fetch_desc(bus, sel, fault::GP, 0)?;
        if d.is_seg() {
            check_code_direct(&d, sel, cpl)?;
            let eip = if op32 { off } else { off & 0xFFFF };
            return self.call_same_level(bus, &d, sel, eip, if op32 { 4 } else { 2 });
        }
        match d.typ() {
            sys::CALL_GATE16 | sys::CALL_GATE32 => {
                let cd = self.call_gate_target(bus, &d, sel)?;
                if !cd.conforming() && cd.dpl() < cpl {
                    self.call_gate_inner(bus, &d, &cd)
                } else {
                    let size = if d.gate32() { 4 } else { 2 };
                    self.call_same_level(bus, &cd, d.gate_selector(), d.gate_offset(), size)
                }
            }
            sys::TASK_GATE | sys::TSS16_AVAIL | sys::TSS32_AVAIL => {
                let (tsel, td) = self.task_target(bus, &d, sel)?;
                self.task_switch(bus, tsel, td, TaskSource::Call, 0)
            }
            _ => Err(sel_fault(fault::GP, sel, 0)),
        }
    }

    /// RETF [imm] in protected mode (same or outer privilege).
    pub(crate) fn pm_far_ret<B: CpuBus>(
        &mut self,
        bus: &mut B,
        op32: bool,
        pop: u16,
    ) -> Result<(), Fault> {
        let size = if op32 { 4 } else { 2 };
        let cpl = self.s.cpl;
        let mut st = self.cur_stack(Fault::ss(0));
        let eip = self.st_pop(bus, &mut st, size)?;
        let csel = self.st_pop(bus, &mut st, size)? as u16;
        let cd = self.check_return_cs(bus, csel, cpl)?;
        let rpl = (csel & 3) as u8;
        let eip = if op32 { eip } else { eip & 0xFFFF };
        st.skip(pop as u32);
        if rpl == cpl {
            if eip > cd.limit() {
                return Err(Fault::gp0());
            }
            self.set_accessed(bus, &cd)?;
            self.commit_sp(&st);
            self.commit_cs(&cd, csel, cpl, eip);
            return Ok(());
        }
        // Return to an outer privilege level: the caller's SS:ESP follow the parameters.
        let esp = self.st_pop(bus, &mut st, size)?;
        let ss_sel = self.st_pop(bus, &mut st, size)? as u16;
        let ss = self.check_seg(bus, SegReg::Ss, ss_sel, rpl, fault::GP, 0)?;
        if eip > cd.limit() {
            return Err(Fault::gp0());
        }
        self.set_accessed(bus, &cd)?;
        self.commit_cs(&cd, csel, rpl, eip);
        self.s.seg[SegReg::Ss as usize] = ss;
        let ns = Stack::new(ss, esp.wrapping_add(pop as u32), rpl, Fault::ss(0));
        self.commit_sp(&ns);
        self.null_inaccessible_segs();
        Ok(())
    }

    /// The checks RETF and IRET make on the code segment they return to (RPL >= CPL).
    pub(crate) fn check_return_cs<B: CpuBus>(
        &mut self,
        bus: &mut B,
        csel: u16,
        cpl: u8,
    ) -> Result<Desc, Fault> {
        if is_null(csel) {
            return Err(Fault::gp0());
        }
        let cd = self.fetch_desc(bus, csel, fault::GP, 0)?;
        let rpl = (csel & 3) as u8;
        if !cd.is_code() || rpl < cpl {
            return Err(sel_fault(fault::GP, csel, 0));
        }
        if if cd.conforming() {
            cd.dpl() > rpl
        } else {
            cd.dpl() != rpl
        } {
            return Err(sel_fault(fault::GP, csel, 0));
        }
        if !cd.present() {
            return Err(sel_fault(fault::NP, csel, 0));
        }
        Ok(cd)
    }

    /// Push the return address (CS, EIP of `size` bytes) on the current stack and enter `cd`
    /// at the current privilege level.
    fn call_same_level<B: CpuBus>(
        &mut self,
        bus: &mut B,
        cd: &Desc,
        csel: u16,
        eip: u32,
        size: u32,
    ) -> Result<(), Fault> {
        if eip > cd.limit() {
            return Err(Fault::gp0());
        }
        let cpl = self.s.cpl;
        let mut st = self.cur_stack(Fault::ss(0));
        let old_cs = self.s.seg[SegReg::Cs as usize].selector as u32;
        let ret = self.s.eip;
        self.st_push(bus, &mut st, size, old_cs)?;
        self.st_push(bus, &mut st, size, ret)?;
        self.set_accessed(bus, cd)?;
        self.commit_sp(&st);
        self.commit_cs(cd, csel, cpl, eip);
        Ok(())
    }

    /// Checks on a call gate (privilege, presence) and the code segment it names; gives the
    /// code segment's descriptor.
    fn call_gate_target<B: CpuBus>(
        &mut self,
        bus: &mut B,
        g: &Desc,
        sel: u16,
    ) -> Result<Desc, Fault> {
        let cpl = self.s.cpl;
        let rpl = (sel & 3) as u8;
        if g.dpl() < cpl || g.dpl() < rpl {
            return Err(sel_fault(fault::GP, sel, 0));
        }
        if !g.present() {
            return Err(sel_fault(fault::NP, sel, 0));
        }
        let csel = g.gate_selector();
        if is_null(csel) {
            return Err(Fault::gp0());
        }
        let cd = self.fetch_desc(bus, csel, fault::GP, 0)?;
        if !cd.is_code() || cd.dpl() > cpl {
            return Err(sel_fault(fault::GP, csel, 0));
        }
        if !cd.present() {
            return Err(sel_fault(fault::NP, csel, 0));
        }
        Ok(cd)
    }

    /// CALL through a call gate to a more privileged non-conforming segment: switch to the
    /// inner stack from the TSS, copy `count` parameters, push the caller's SS:ESP and CS:EIP.
    fn call_gate_inner<B: CpuBus>(
        &mut self,
        bus: &mut B,
        g: &Desc,
        cd: &Desc,
    ) -> Result<(), Fault> {
        let new_cpl = cd.dpl();
        let csel = g.gate_selector();
        let (ss_sel, esp) = self.tss_stack(bus, new_cpl, 0)?;
        let ss = self.check_seg(bus, SegReg::Ss, ss_sel, new_cpl, fault::TS, 0)?;
        let eip = g.gate_offset();
        if eip > cd.limit() {
            return Err(Fault::gp0());
        }
        let size = if g.gate32() { 4 } else { 2 };
        let old = self.cur_stack(Fault::ss(0));
        let mut ns = Stack::new(ss, esp, new_cpl, sel_fault(fault::SS, ss_sel, 0));
        let old_ss = self.s.seg[SegReg::Ss as usize].selector as u32;
        let old_esp = self.s.gpr[crate::state::reg::ESP];
        self.st_push(bus, &mut ns, size, old_ss)?;
        self.st_push(bus, &mut ns, size, old_esp)?;
        for k in (0..g.gate_count()).rev() {
            let v = self.st_peek(bus, &old, k * size, size)?;
            self.st_push(bus, &mut ns, size, v)?;
        }
        let old_cs = self.s.seg[SegReg::Cs as usize].selector as u32;
        let ret = self.s.eip;
        self.st_push(bus, &mut ns, size, old_cs)?;
        self.st_push(bus, &mut ns, size, ret)?;
        self.set_accessed(bus, cd)?;
        self.s.seg[SegReg::Ss as usize] = ss;
        self.commit_sp(&ns);
        self.commit_cs(cd, csel, new_cpl, eip);
        Ok(())
    }

    /// JMP/CALL to a task gate or TSS descriptor `d` (selector `sel`): privilege and presence
    /// checks; gives the TSS selector and descriptor to switch to.
    fn task_target<B: CpuBus>(
        &mut self,
        bus: &mut B,
        d: &Desc,
        sel: u16,
    ) -> Result<(u16, Desc), Fault> {
        let cpl = self.s.cpl;
        let rpl = (sel & 3) as u8;
        if d.dpl() < cpl || d.dpl() < rpl {
            return Err(sel_fault(fault::GP, sel, 0));
        }
        if !d.present() {
            return Err(sel_fault(fault::NP, sel, 0));
        }
        if d.typ() != sys::TASK_GATE {
            return Ok((sel, *d));
        }
        let tsel = d.gate_selector();
        let td = self.fetch_gdt_desc(bus, tsel, fault::GP, 0)?;
        if !td.is_tss() || td.tss_busy() {
            return Err(sel_fault(fault::GP, tsel, 0));
        }
        if !td.present() {
            return Err(sel_fault(fault::NP, tsel, 0));
        }
        Ok((tsel, td))
    }
}

/// Direct JMP/CALL to a code segment: type, privilege and presence.
fn check_code_direct(d: &Desc, sel: u16, cpl: u8) -> Result<(), Fault> {
    let rpl = (sel & 3) as u8;
    if !d.is_code() {
        return Err(sel_fault(fault::GP, sel, 0));
    }
    let bad = if d.conforming() {
        d.dpl() > cpl
    } else {
        rpl > cpl || d.dpl() != cpl
    };
    if bad {
        return Err(sel_fault(fault::GP, sel, 0));
    }
    if !d.present() {
        return Err(sel_fault(fault::NP, sel, 0));
    }
    Ok(())
}
