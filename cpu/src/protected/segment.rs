//! Segment register loads in protected mode (Intel SDM vol. 3, 5.5-5.7; vol. 2 MOV/POP/LDS
//! pseudocode): null selectors, table limits, type and privilege checks, not-present faults,
//! the accessed bit, and the stack cursor used to build frames on a stack before committing it.

use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::memory::Access;
use crate::state::{attr, reg, SegReg, Segment};
use crate::Cpu;

use super::descriptor::{is_null, seg_fits, sel_fault, Desc};

/// The descriptor cache of a register loaded with a null selector: not present, so any access
/// through it raises #GP(0).
#[inline]
pub(crate) fn null_seg(sel: u16) -> Segment {
    Segment {
        selector: sel,
        attr: 0,
        base: 0,
        limit: 0,
    }
}

/// A data segment as V86 mode gives it: base = selector * 16, 64 KiB, DPL 3.
#[inline]
pub(crate) fn v86_seg(sel: u16) -> Segment {
    Segment {
        selector: sel,
        attr: attr::REAL_DATA | (3 << attr::DPL_SHIFT),
        base: (sel as u32) << 4,
        limit: 0xFFFF,
    }
}

/// A V86 code segment.
#[inline]
pub(crate) fn v86_code(sel: u16) -> Segment {
    Segment {
        selector: sel,
        attr: attr::REAL_CODE | (3 << attr::DPL_SHIFT),
        base: (sel as u32) << 4,
        limit: 0xFFFF,
    }
}

/// A stack being read or written before it becomes the current one: every access is checked
/// against the segment's limit (fault `fault`) and paged with the privilege `user`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stack {
    pub seg: Segment,
    pub sp: u32,
    /// 32-bit stack pointer (SS.B).
    pub big: bool,
    /// Accesses are user-mode (CPL 3).
    pub user: bool,
    pub fault: Fault,
}

impl Stack {
    /// A stack in segment `seg` at `sp` for code running at `cpl`.
    pub fn new(seg: Segment, sp: u32, cpl: u8, fault: Fault) -> Stack {
        let big = seg.attr & attr::DB != 0;
        Stack {
            seg,
            sp: if big { sp } else { sp & 0xFFFF },
            big,
            user: cpl == 3,
            fault,
        }
    }
    /// Release `n` bytes (RETF imm16).
    pub fn skip(&mut self, n: u32) {
        self.sp = self.wrap(self.sp.wrapping_add(n));
    }
    #[inline]
    fn wrap(&self, v: u32) -> u32 {
        if self.big {
            v
        } else {
            v & 0xFFFF
        }
    }
    fn lin(&self, off: u32, size: u32) -> Result<u32, Fault> {
        if !seg_fits(&self.seg, off, size) {
            return Err(self.fault);
        }
        Ok(self.seg.base.wrapping_add(off))
    }
}

impl Cpu {
    /// Load a data or stack segment register (not CS) in protected mode, with every check.
    pub(crate) fn pm_load_seg<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        sel: u16,
    ) -> Result<(), Fault> {
        if !self.s.protected() {
            // Real mode: only selector and base change (the cached limit survives: "unreal" mode).
            let s = &mut self.s.seg[seg as usize];
            s.selector = sel;
            s.base = (sel as u32) << 4;
            return Ok(());
        }
        if self.s.v86() {
            self.s.seg[seg as usize] = v86_seg(sel);
            return Ok(());
        }
        let cpl = self.s.cpl;
        let cache = self.check_seg(bus, seg, sel, cpl, fault::GP, 0)?;
        self.s.seg[seg as usize] = cache;
        Ok(())
    }

    /// Validate `sel` for the data or stack register `seg` at privilege `cpl` and give the
    /// descriptor cache to load. Type and privilege violations raise `bad` (#GP, or #TS during
    /// a task switch) with the selector as error code; a not-present segment raises #NP, or #SS
    /// for SS. Sets the accessed bit.
    pub(crate) fn check_seg<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        sel: u16,
        cpl: u8,
        bad: u8,
        ext: u16,
    ) -> Result<Segment, Fault> {
        if is_null(sel) {
            if seg == SegReg::Ss {
                return Err(sel_fault(bad, sel, ext));
            }
            return Ok(null_seg(sel));
        }
        let d = self.fetch_desc(bus, sel, bad, ext)?;
        let rpl = (sel & 3) as u8;
        if seg == SegReg::Ss {
            if rpl != cpl || !d.writable_data() || d.dpl() != cpl {
                return Err(sel_fault(bad, sel, ext));
            }
            if !d.present() {
                return Err(sel_fault(fault::SS, sel, ext));
            }
        } else {
            if !d.is_seg() || !d.readable() {
                return Err(sel_fault(bad, sel, ext));
            }
            if !d.conforming() && (rpl > d.dpl() || cpl > d.dpl()) {
                return Err(sel_fault(bad, sel, ext));
            }
            if !d.present() {
                return Err(sel_fault(fault::NP, sel, ext));
            }
        }
        self.set_accessed(bus, &d)?;
        Ok(d.to_segment(sel))
    }

    /// Make CS the code segment `d` with RPL `cpl`, set the CPL and EIP.
    pub(crate) fn commit_cs(&mut self, d: &Desc, sel: u16, cpl: u8, eip: u32) {
        self.s.seg[SegReg::Cs as usize] = d.to_segment((sel & !3) | cpl as u16);
        self.s.cpl = cpl;
        self.s.eip = eip;
    }

    /// After a return to an outer privilege level: null every data segment register the new
    /// CPL may not use (data or non-conforming code with DPL < CPL).
    pub(crate) fn null_inaccessible_segs(&mut self) {
        let cpl = self.s.cpl;
        for r in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let s = &mut self.s.seg[r as usize];
            let conforming_code =
                s.attr & (attr::S | attr::CODE | attr::DC) == (attr::S | attr::CODE | attr::DC);
            if s.dpl() < cpl && (!s.present() || !conforming_code) {
                *s = null_seg(0);
            }
        }
    }

    // ---- stack cursor ----------------------------------------------------------------------

    /// The current stack (SS:ESP) as a cursor; nothing changes until `commit_stack`.
    pub(crate) fn cur_stack(&self, fault: Fault) -> Stack {
        let ss = self.s.seg[SegReg::Ss as usize];
        let big = self.s.stack32();
        let sp = self.s.gpr[reg::ESP];
        Stack {
            seg: ss,
            sp: if big { sp } else { sp & 0xFFFF },
            big,
            user: self.s.cpl == 3,
            fault,
        }
    }

    /// Make the cursor's stack pointer the current ESP (SP only for a 16-bit stack).
    pub(crate) fn commit_sp(&mut self, st: &Stack) {
        if st.big {
            self.s.gpr[reg::ESP] = st.sp;
        } else {
            self.s.set_reg16(reg::ESP, st.sp as u16);
        }
    }

    pub(crate) fn st_push<B: CpuBus>(
        &mut self,
        bus: &mut B,
        st: &mut Stack,
        size: u32,
        v: u32,
    ) -> Result<(), Fault> {
        let sp = st.wrap(st.sp.wrapping_sub(size));
        let lin = st.lin(sp, size)?;
        self.write_lin_as(bus, lin, size, v, st.user)?;
        st.sp = sp;
        Ok(())
    }

    pub(crate) fn st_pop<B: CpuBus>(
        &mut self,
        bus: &mut B,
        st: &mut Stack,
        size: u32,
    ) -> Result<u32, Fault> {
        let v = self.st_peek(bus, st, 0, size)?;
        st.sp = st.wrap(st.sp.wrapping_add(size));
        Ok(v)
    }

    /// Read `size` bytes at SP + `delta` without moving SP.
    pub(crate) fn st_peek<B: CpuBus>(
        &mut self,
        bus: &mut B,
        st: &Stack,
        delta: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        let off = st.wrap(st.sp.wrapping_add(delta));
        let lin = st.lin(off, size)?;
        self.read_lin_as(bus, lin, size, st.user, Access::Read)
    }
}
