//! Interrupt and exception delivery: real-mode IVT, protected-mode IDT (see `protected`),
//! double-fault escalation and shutdown, plus the stack and FLAGS helpers they use.

use crate::bus::CpuBus;
use crate::fault::{self, Fault, StepEvent};
use crate::state::{attr, flags, CpuModel, SegReg, Segment};
use crate::Cpu;

/// Where an interrupt came from: it decides privilege checks (software INT n checks the gate
/// DPL and IOPL in V86) and whether an error code is pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    /// A processor exception (fault or trap).
    Exception,
    /// INT n, INT3, INTO (software; gate DPL checked).
    Software,
    /// INTR or NMI.
    External,
}

impl Cpu {
    /// Deliver an external interrupt (or NMI) between instructions.
    pub(crate) fn deliver_external<B: CpuBus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        nmi: bool,
    ) -> StepEvent {
        self.start_eip = self.s.eip;
        if nmi {
            self.s.nmi_blocked = true;
        }
        match self.interrupt(bus, vector, IntKind::External, None) {
            Ok(()) => StepEvent::Executed,
            Err(f) => self.deliver_exception(bus, f),
        }
    }

    /// Deliver an exception raised by the current instruction (EIP already points at the
    /// faulting instruction for faults, past it for traps), escalating to #DF and shutdown.
    pub(crate) fn deliver_exception<B: CpuBus>(&mut self, bus: &mut B, f: Fault) -> StepEvent {
        let mut cur = f;
        if self.trace_exceptions {
            let cs = self.s.seg[SegReg::Cs as usize].selector;
            eprintln!(
                "exception {} err={:?} at {cs:04x}:{:08x} cr2={:08x} instret={}",
                f.vector, f.error, self.s.eip, self.s.cr2, self.instret
            );
        }
        for _ in 0..3 {
            let err = if self.s.protected() { cur.error } else { None };
            match self.interrupt(bus, cur.vector, IntKind::Exception, err) {
                Ok(()) => return StepEvent::Executed,
                Err(next) => {
                    if cur.vector == fault::DF {
                        return StepEvent::Shutdown;
                    }
                    let first_contrib = cur.is_contributory();
                    let first_pf = cur.vector == fault::PF;
                    let second_contrib = next.is_contributory();
                    let second_pf = next.vector == fault::PF;
                    if (first_contrib && second_contrib)
                        || (first_pf && (second_contrib || second_pf))
                    {
                        cur = Fault::with_error(fault::DF, 0);
                    } else {
                        cur = next;
                    }
                    self.s.eip = self.start_eip;
                }
            }
        }
        StepEvent::Shutdown
    }

    /// Vector through the IVT (real mode) or IDT (protected and V86 mode).
    pub(crate) fn interrupt<B: CpuBus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        kind: IntKind,
        error: Option<u32>,
    ) -> Result<(), Fault> {
        if self.s.protected() {
            return self.pm_interrupt(bus, vector, kind, error);
        }
        let off = vector as u32 * 4;
        if self.s.model.is_386_plus() && off + 3 > self.s.idtr.limit {
            return Err(Fault::gp(0));
        }
        let base = self.s.idtr.base;
        let ip = self.read_sys(bus, base.wrapping_add(off), 2)?;
        let cs = self.read_sys(bus, base.wrapping_add(off + 2), 2)? as u16;
        let fl = self.flags_image();
        self.push(bus, fl, 2)?;
        let old_cs = self.s.seg[SegReg::Cs as usize].selector as u32;
        self.push(bus, old_cs, 2)?;
        let ip_now = self.s.eip & 0xFFFF;
        self.push(bus, ip_now, 2)?;
        self.s.eflags &= !(flags::IF | flags::TF | flags::AC | flags::RF);
        self.load_cs_real(cs);
        self.s.eip = ip;
        Ok(())
    }

    /// CS in real/V86 mode: base = selector << 4, attributes keep a 64 KiB code segment.
    pub(crate) fn load_cs_real(&mut self, sel: u16) {
        let v86 = self.s.v86();
        let cs = &mut self.s.seg[SegReg::Cs as usize];
        cs.selector = sel;
        cs.base = (sel as u32) << 4;
        if v86 {
            *cs = Segment {
                selector: sel,
                attr: attr::REAL_CODE | (3 << attr::DPL_SHIFT),
                base: (sel as u32) << 4,
                limit: 0xFFFF,
            };
        }
    }

    /// FLAGS as PUSHF and interrupts store them, with the model's fixed bits.
    pub(crate) fn flags_image(&self) -> u32 {
        match self.s.model {
            CpuModel::I8086 => (self.s.eflags & 0x0FD5) | 0xF002,
            CpuModel::I80286 => {
                if self.s.protected() {
                    (self.s.eflags & 0x7FD5) | 2
                } else {
                    (self.s.eflags & 0x0FD5) | 2
                }
            }
            CpuModel::Pentium2 => self.s.eflags,
        }
    }

    /// Write FLAGS from POPF/IRET-style sources; `mask` says which bits may change.
    pub(crate) fn write_flags(&mut self, v: u32, mask: u32) {
        let mut f = (self.s.eflags & !mask) | (v & mask);
        match self.s.model {
            CpuModel::I8086 => f = (f & 0x0FD5) | 0xF002,
            CpuModel::I80286 => {
                f = if self.s.protected() {
                    (f & 0x7FD5) | 2
                } else {
                    (f & 0x0FD5) | 2
                };
            }
            CpuModel::Pentium2 => f = (f & 0x003F_7FD5) | 2,
        }
        self.s.eflags = f;
    }

    // ---- stack -------------------------------------------------------------------------------

    #[inline]
    pub(crate) fn sp(&self) -> u32 {
        if self.s.stack32() {
            self.s.gpr[4]
        } else {
            self.s.gpr[4] & 0xFFFF
        }
    }

    #[inline]
    pub(crate) fn set_sp(&mut self, v: u32) {
        if self.s.stack32() {
            self.s.gpr[4] = v
        } else {
            self.s.set_reg16(4, v as u16)
        }
    }

    /// Push `size` bytes (2 or 4).
    #[inline]
    pub(crate) fn push<B: CpuBus>(&mut self, bus: &mut B, v: u32, size: u32) -> Result<(), Fault> {
        let sp = self.sp().wrapping_sub(size);
        let sp = if self.s.stack32() { sp } else { sp & 0xFFFF };
        self.write_mem(bus, SegReg::Ss, sp, size, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Pop `size` bytes (2 or 4).
    #[inline]
    pub(crate) fn pop<B: CpuBus>(&mut self, bus: &mut B, size: u32) -> Result<u32, Fault> {
        let sp = self.sp();
        let v = self.read_mem(bus, SegReg::Ss, sp, size)?;
        self.set_sp(sp.wrapping_add(size));
        Ok(v)
    }

    /// Read the stack at SP + `delta` without popping.
    #[inline]
    pub(crate) fn peek<B: CpuBus>(
        &mut self,
        bus: &mut B,
        delta: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        let sp = self.sp().wrapping_add(delta);
        let sp = if self.s.stack32() { sp } else { sp & 0xFFFF };
        self.read_mem(bus, SegReg::Ss, sp, size)
    }
}
