//! IRET (Intel SDM vol. 2 IRET pseudocode; vol. 3 6.12.1, 7.4, 20.2): in V86 mode (IOPL 3 only,
//! CR4.VME not modelled), return from a nested task (EFLAGS.NT), and protected-mode returns to
//! the same level, to an outer level and to V86 mode.

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::state::{flags, reg, SegReg};
use crate::Cpu;

use super::segment::{v86_code, v86_seg, Stack};
use super::task::TaskSource;

/// The EFLAGS bits a protected-mode IRET may change, at privilege `cpl` with IOPL `iopl`.
fn iret_mask(cpl: u8, iopl: u8, op32: bool) -> u32 {
    let mut m = flags::STATUS | flags::TF | flags::DF | flags::NT;
    if op32 {
        m |= flags::RF | flags::AC | flags::ID;
    }
    if cpl <= iopl {
        m |= flags::IF;
    }
    if cpl == 0 {
        m |= flags::IOPL;
        if op32 {
            m |= flags::VIF | flags::VIP;
        }
    }
    m
}

impl Cpu {
    /// IRET in protected mode (same/outer privilege, to V86, nested task return) and in V86.
    pub(crate) fn pm_iret<B: CpuBus>(&mut self, bus: &mut B, op32: bool) -> Result<(), Fault> {
        let size = if op32 { 4 } else { 2 };
        if self.s.v86() {
            if self.s.iopl() < 3 {
                return Err(Fault::gp0());
            }
            let mut st = self.cur_stack(Fault::ss(0));
            let eip = self.st_pop(bus, &mut st, size)?;
            let cs = self.st_pop(bus, &mut st, size)? as u16;
            let fl = self.st_pop(bus, &mut st, size)?;
            if eip > 0xFFFF {
                return Err(Fault::gp0());
            }
            let mask = if op32 {
                !(flags::VM | flags::IOPL | flags::VIP | flags::VIF)
            } else {
                0xFFFF & !flags::IOPL
            };
            self.commit_sp(&st);
            self.s.seg[SegReg::Cs as usize] = v86_code(cs);
            self.s.eip = eip;
            self.write_flags(fl, mask);
            self.s.nmi_blocked = false;
            return Ok(());
        }
        if self.s.flag(flags::NT) {
            // Return from a nested task through the back link of the current TSS.
            let tr = self.s.tr;
            let link = self.read_sys(bus, tr.base, 2)? as u16;
            let td = self.fetch_gdt_desc(bus, link, fault::TS, 0)?;
            if !td.is_tss() || !td.tss_busy() {
                return Err(super::descriptor::sel_fault(fault::TS, link, 0));
            }
            if !td.present() {
                return Err(super::descriptor::sel_fault(fault::NP, link, 0));
            }
            self.task_switch(bus, link, td, TaskSource::Iret, 0)?;
            self.s.nmi_blocked = false;
            return Ok(());
        }
        let cpl = self.s.cpl;
        let mut st = self.cur_stack(Fault::ss(0));
        let eip = self.st_pop(bus, &mut st, size)?;
        let csel = self.st_pop(bus, &mut st, size)? as u16;
        let fl = self.st_pop(bus, &mut st, size)?;
        if op32 && fl & flags::VM != 0 && cpl == 0 {
            return self.iret_to_v86(bus, st, eip, csel, fl);
        }
        let cd = self.check_return_cs(bus, csel, cpl)?;
        let rpl = (csel & 3) as u8;
        let eip = if op32 { eip } else { eip & 0xFFFF };
        let mask = iret_mask(cpl, self.s.iopl(), op32);
        if rpl == cpl {
            if eip > cd.limit() {
                return Err(Fault::gp0());
            }
            self.set_accessed(bus, &cd)?;
            self.commit_sp(&st);
            self.commit_cs(&cd, csel, cpl, eip);
            self.write_flags(fl, mask);
        } else {
            let esp = self.st_pop(bus, &mut st, size)?;
            let ss_sel = self.st_pop(bus, &mut st, size)? as u16;
            let ss = self.check_seg(bus, SegReg::Ss, ss_sel, rpl, fault::GP, 0)?;
            if eip > cd.limit() {
                return Err(Fault::gp0());
            }
            self.set_accessed(bus, &cd)?;
            self.write_flags(fl, mask);
            self.commit_cs(&cd, csel, rpl, eip);
            self.s.seg[SegReg::Ss as usize] = ss;
            self.commit_sp(&Stack::new(ss, esp, rpl, Fault::ss(0)));
            self.null_inaccessible_segs();
        }
        self.s.nmi_blocked = false;
        Ok(())
    }

    /// IRETD at CPL 0 with VM set in the popped EFLAGS: the rest of the V86 frame (ESP, SS,
    /// ES, DS, FS, GS) follows.
    fn iret_to_v86<B: CpuBus>(
        &mut self,
        bus: &mut B,
        mut st: Stack,
        eip: u32,
        cs: u16,
        fl: u32,
    ) -> Result<(), Fault> {
        let mut v = [0u32; 6];
        for x in v.iter_mut() {
            *x = self.st_pop(bus, &mut st, 4)?;
        }
        let [esp, ss, es, ds, fs, gs] = v;
        if eip > 0xFFFF {
            return Err(Fault::gp0());
        }
        self.write_flags(fl, !0);
        self.s.seg[SegReg::Cs as usize] = v86_code(cs);
        self.s.seg[SegReg::Ss as usize] = v86_seg(ss as u16);
        self.s.seg[SegReg::Es as usize] = v86_seg(es as u16);
        self.s.seg[SegReg::Ds as usize] = v86_seg(ds as u16);
        self.s.seg[SegReg::Fs as usize] = v86_seg(fs as u16);
        self.s.seg[SegReg::Gs as usize] = v86_seg(gs as u16);
        self.s.gpr[reg::ESP] = esp;
        self.s.eip = eip;
        self.s.cpl = 3;
        self.s.nmi_blocked = false;
        Ok(())
    }
}
