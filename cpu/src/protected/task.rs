//! Task management (Intel SDM vol. 3, chapter 7; vol. 2 "task switch" pseudocode): switching
//! through a TSS or task gate by JMP, CALL, INT and IRET (32-bit and 16-bit TSS, busy bits, NT
//! and the back link, CR0.TS, CR3 and LDTR), the inner-level stacks of the TSS, and the I/O
//! permission bitmap.
//!
//! Gaps: the TSS T bit (debug trap on switch) is ignored.

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::state::{attr, cr0, flags, SegReg};
use crate::Cpu;

use super::descriptor::{is_null, sel_fault, sys, Desc};
use super::segment::{null_seg, v86_code, v86_seg};

/// What caused a task switch: it decides the busy bits, NT and the back link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskSource {
    Jmp,
    Call,
    Iret,
    /// An interrupt or exception through a task gate.
    Int,
}

/// The state a TSS holds, read in full before anything changes.
#[derive(Default)]
struct TaskImage {
    cr3: u32,
    eip: u32,
    eflags: u32,
    gpr: [u32; 8],
    /// ES, CS, SS, DS, FS, GS.
    seg: [u16; 6],
    ldt: u16,
}

/// Is the cached TR a 32-bit TSS?
#[inline]
fn tss32(tr_attr: u16) -> bool {
    tr_attr & attr::CODE != 0
}

impl Cpu {
    /// The inner stack (SS, ESP) for privilege `dpl` from the current TSS.
    pub(crate) fn tss_stack<B: CpuBus>(
        &mut self,
        bus: &mut B,
        dpl: u8,
        ext: u16,
    ) -> Result<(u16, u32), Fault> {
        let tr = self.s.tr;
        let bad = sel_fault(fault::TS, tr.selector, ext);
        if tss32(tr.attr) {
            let off = 8 * dpl as u32 + 4;
            if off + 7 > tr.limit {
                return Err(bad);
            }
            let esp = self.read_sys(bus, tr.base.wrapping_add(off), 4)?;
            let ss = self.read_sys(bus, tr.base.wrapping_add(off + 4), 2)? as u16;
            Ok((ss, esp))
        } else {
            let off = 4 * dpl as u32 + 2;
            if off + 3 > tr.limit {
                return Err(bad);
            }
            let sp = self.read_sys(bus, tr.base.wrapping_add(off), 2)?;
            let ss = self.read_sys(bus, tr.base.wrapping_add(off + 2), 2)? as u16;
            Ok((ss, sp))
        }
    }

    /// May the current code access `size` bytes at `port`? In protected mode with CPL > IOPL,
    /// and always in V86 mode, the I/O permission bitmap of the (32-bit) TSS decides; #GP(0) if
    /// it denies the access or lies beyond the TSS limit.
    pub(crate) fn io_allowed<B: CpuBus>(
        &mut self,
        bus: &mut B,
        port: u16,
        size: u32,
    ) -> Result<(), Fault> {
        if !self.s.protected() || (!self.s.v86() && self.s.cpl <= self.s.iopl()) {
            return Ok(());
        }
        let tr = self.s.tr;
        let typ = (tr.attr & attr::TYPE_MASK) as u8;
        if tr.attr & attr::S != 0
            || !(typ == sys::TSS32_AVAIL || typ == sys::TSS32_BUSY)
            || tr.limit < 0x67
        {
            return Err(Fault::gp0());
        }
        let iob = self.read_sys(bus, tr.base.wrapping_add(0x66), 2)?;
        let off = iob + port as u32 / 8;
        if off + 1 > tr.limit {
            return Err(Fault::gp0());
        }
        let bits = self.read_sys(bus, tr.base.wrapping_add(off), 2)?;
        let mask = ((1u32 << size.min(4)) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Fault::gp0());
        }
        Ok(())
    }

    /// Switch to the task whose TSS descriptor is `d` (selector `sel`). The caller has checked
    /// privilege, presence and the busy bit. Faults before the state is saved leave the old task
    /// untouched; faults while loading the new task's segments are raised in the new task.
    pub(crate) fn task_switch<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        d: Desc,
        src: TaskSource,
        ext: u16,
    ) -> Result<(), Fault> {
        let new32 = d.gate32();
        if d.limit() < if new32 { 0x67 } else { 0x2B } {
            return Err(sel_fault(fault::TS, sel, ext));
        }
        let old = self.s.tr;
        let old32 = tss32(old.attr);
        if old.limit < if old32 { 0x67 } else { 0x2B } {
            return Err(sel_fault(fault::TS, old.selector, ext));
        }

        // Read the whole new state first: a page fault here changes nothing.
        let nb = d.base();
        let mut n = TaskImage::default();
        if new32 {
            n.cr3 = self.read_sys(bus, nb.wrapping_add(0x1C), 4)?;
            n.eip = self.read_sys(bus, nb.wrapping_add(0x20), 4)?;
            n.eflags = self.read_sys(bus, nb.wrapping_add(0x24), 4)?;
            for k in 0..8 {
                n.gpr[k] = self.read_sys(bus, nb.wrapping_add(0x28 + 4 * k as u32), 4)?;
            }
            for k in 0..6 {
                n.seg[k] = self.read_sys(bus, nb.wrapping_add(0x48 + 4 * k as u32), 2)? as u16;
            }
            n.ldt = self.read_sys(bus, nb.wrapping_add(0x60), 2)? as u16;
        } else {
            n.eip = self.read_sys(bus, nb.wrapping_add(0x0E), 2)?;
            n.eflags = self.read_sys(bus, nb.wrapping_add(0x10), 2)?;
            for k in 0..8 {
                n.gpr[k] =
                    0xFFFF_0000 | self.read_sys(bus, nb.wrapping_add(0x12 + 2 * k as u32), 2)?;
            }
            for k in 0..4 {
                n.seg[k] = self.read_sys(bus, nb.wrapping_add(0x22 + 2 * k as u32), 2)? as u16;
            }
            n.ldt = self.read_sys(bus, nb.wrapping_add(0x2A), 2)? as u16;
        }
        // Make sure the old TSS's dynamic fields are writable before changing anything.
        let ob = old.base;
        let (save_lo, save_hi) = if old32 { (0x20, 0x5D) } else { (0x0E, 0x29) };
        self.probe_sys_write(bus, ob.wrapping_add(save_lo), ob.wrapping_add(save_hi))?;
        if matches!(src, TaskSource::Call | TaskSource::Int) {
            self.probe_sys_write(bus, nb, nb.wrapping_add(1))?;
        }

        if matches!(src, TaskSource::Jmp | TaskSource::Iret) {
            self.set_tss_busy(bus, old.selector, false)?;
        }
        // Save the outgoing task.
        let mut fl = self.flags_image();
        if src == TaskSource::Iret {
            fl &= !flags::NT;
        }
        let eip = self.s.eip;
        if old32 {
            self.write_sys(bus, ob.wrapping_add(0x20), 4, eip)?;
            self.write_sys(bus, ob.wrapping_add(0x24), 4, fl)?;
            for k in 0..8 {
                let v = self.s.gpr[k];
                self.write_sys(bus, ob.wrapping_add(0x28 + 4 * k as u32), 4, v)?;
            }
            for k in 0..6 {
                let v = self.s.seg[k].selector as u32;
                self.write_sys(bus, ob.wrapping_add(0x48 + 4 * k as u32), 2, v)?;
            }
        } else {
            self.write_sys(bus, ob.wrapping_add(0x0E), 2, eip)?;
            self.write_sys(bus, ob.wrapping_add(0x10), 2, fl)?;
            for k in 0..8 {
                let v = self.s.gpr[k];
                self.write_sys(bus, ob.wrapping_add(0x12 + 2 * k as u32), 2, v)?;
            }
            for k in 0..4 {
                let v = self.s.seg[k].selector as u32;
                self.write_sys(bus, ob.wrapping_add(0x22 + 2 * k as u32), 2, v)?;
            }
        }
        if matches!(src, TaskSource::Call | TaskSource::Int) {
            self.write_sys(bus, nb, 2, old.selector as u32)?;
            n.eflags |= flags::NT;
        }
        if src != TaskSource::Iret {
            self.set_tss_busy(bus, sel, true)?;
        }

        // Commit: from here on we are in the new task.
        let mut tr = d.to_segment(sel);
        tr.attr |= sys::BUSY as u16;
        self.s.tr = tr;
        self.s.cr0 |= cr0::TS;
        if new32 && self.s.paging() {
            self.s.cr3 = n.cr3;
            self.flush_tlb();
        }
        self.write_flags(n.eflags, !0);
        self.s.eip = n.eip;
        self.s.gpr = n.gpr;
        for k in 0..6 {
            self.s.seg[k] = null_seg(n.seg[k]);
        }
        self.s.ldtr = null_seg(n.ldt);
        // A fault from here on is taken in the new task: the instruction restarts there.
        self.saved_gpr = self.s.gpr;
        self.saved_flags = self.s.eflags;
        self.start_eip = self.s.eip;
        self.task_load_segments(bus, &n, ext)
    }

    /// Load and check the LDT and segment registers of the task just switched to; faults are
    /// #TS (or #NP/#SS) in the new task's context.
    fn task_load_segments<B: CpuBus>(
        &mut self,
        bus: &mut B,
        n: &TaskImage,
        ext: u16,
    ) -> Result<(), Fault> {
        if !is_null(n.ldt) {
            let ld = self.fetch_gdt_desc(bus, n.ldt, fault::TS, ext)?;
            if ld.is_seg() || ld.typ() != sys::LDT || !ld.present() {
                return Err(sel_fault(fault::TS, n.ldt, ext));
            }
            self.s.ldtr = ld.to_segment(n.ldt);
        }
        if self.s.v86() {
            for k in 0..6 {
                self.s.seg[k] = v86_seg(n.seg[k]);
            }
            self.s.seg[SegReg::Cs as usize] = v86_code(n.seg[SegReg::Cs as usize]);
            self.s.cpl = 3;
        } else {
            let csel = n.seg[SegReg::Cs as usize];
            if is_null(csel) {
                return Err(sel_fault(fault::TS, csel, ext));
            }
            let cd = self.fetch_desc(bus, csel, fault::TS, ext)?;
            let rpl = (csel & 3) as u8;
            if !cd.is_code()
                || if cd.conforming() {
                    cd.dpl() > rpl
                } else {
                    cd.dpl() != rpl
                }
            {
                return Err(sel_fault(fault::TS, csel, ext));
            }
            if !cd.present() {
                return Err(sel_fault(fault::NP, csel, ext));
            }
            self.set_accessed(bus, &cd)?;
            self.s.seg[SegReg::Cs as usize] = cd.to_segment(csel);
            self.s.cpl = rpl;
            for r in [SegReg::Ss, SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
                let c = self.check_seg(bus, r, n.seg[r as usize], rpl, fault::TS, ext)?;
                self.s.seg[r as usize] = c;
            }
        }
        if self.s.eip > self.s.seg[SegReg::Cs as usize].limit {
            return Err(Fault::gp0());
        }
        Ok(())
    }

    /// Check that the linear bytes `first..=last` of a system structure are writable.
    fn probe_sys_write<B: CpuBus>(
        &mut self,
        bus: &mut B,
        first: u32,
        last: u32,
    ) -> Result<(), Fault> {
        if !self.s.paging() {
            return Ok(());
        }
        let mut page = first & !0xFFF;
        loop {
            let a = if page < first { first } else { page };
            self.translate(bus, a, crate::memory::Access::Write, false)?;
            if page >= (last & !0xFFF) {
                return Ok(());
            }
            page = page.wrapping_add(0x1000);
        }
    }
}
