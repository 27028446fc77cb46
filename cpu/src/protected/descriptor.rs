//! Segment descriptors: fetching 8-byte descriptors from the GDT/LDT/IDT, decoding their fields
//! (Intel SDM vol. 3, 3.4.5 and 5.8-5.12), setting the accessed and busy bits, and the error
//! codes of the faults they raise (index, TI and EXT bits, SDM 6.13).

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::{attr, Segment};
use crate::Cpu;

/// System descriptor types (S = 0).
pub(crate) mod sys {
    pub const TSS16_AVAIL: u8 = 0x1;
    pub const LDT: u8 = 0x2;
    pub const TSS16_BUSY: u8 = 0x3;
    pub const CALL_GATE16: u8 = 0x4;
    pub const TASK_GATE: u8 = 0x5;
    pub const INT_GATE16: u8 = 0x6;
    pub const TRAP_GATE16: u8 = 0x7;
    pub const TSS32_AVAIL: u8 = 0x9;
    pub const TSS32_BUSY: u8 = 0xB;
    pub const CALL_GATE32: u8 = 0xC;
    pub const INT_GATE32: u8 = 0xE;
    pub const TRAP_GATE32: u8 = 0xF;
    /// The busy bit of a TSS type.
    pub const BUSY: u8 = 0x2;
}

/// A raw descriptor as read from a table, with the linear address it came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Desc {
    pub lo: u32,
    pub hi: u32,
    /// Linear address of the descriptor (to set accessed/busy bits).
    pub addr: u32,
}

impl Desc {
    /// Bytes 5-6 as `Segment::attr` holds them (limit bits 16-19 masked out).
    #[inline]
    pub fn attr(&self) -> u16 {
        ((self.hi >> 8) & 0xF0FF) as u16
    }
    #[inline]
    pub fn typ(&self) -> u8 {
        ((self.hi >> 8) & 0xF) as u8
    }
    /// S bit: code/data segment (true) or system descriptor (false).
    #[inline]
    pub fn is_seg(&self) -> bool {
        self.hi & (1 << 12) != 0
    }
    #[inline]
    pub fn dpl(&self) -> u8 {
        ((self.hi >> 13) & 3) as u8
    }
    #[inline]
    pub fn present(&self) -> bool {
        self.hi & (1 << 15) != 0
    }
    #[inline]
    pub fn is_code(&self) -> bool {
        self.is_seg() && self.typ() & 8 != 0
    }
    #[inline]
    pub fn is_data(&self) -> bool {
        self.is_seg() && self.typ() & 8 == 0
    }
    #[inline]
    pub fn conforming(&self) -> bool {
        self.is_code() && self.typ() & 4 != 0
    }
    /// Code segment that can be read (not execute-only).
    #[inline]
    pub fn readable(&self) -> bool {
        self.is_data() || self.typ() & 2 != 0
    }
    #[inline]
    pub fn writable_data(&self) -> bool {
        self.is_data() && self.typ() & 2 != 0
    }
    #[inline]
    pub fn base(&self) -> u32 {
        (self.lo >> 16) | ((self.hi & 0xFF) << 16) | (self.hi & 0xFF00_0000)
    }
    /// Byte-granular limit (scaled by G).
    #[inline]
    pub fn limit(&self) -> u32 {
        let raw = (self.lo & 0xFFFF) | (self.hi & 0x000F_0000);
        if self.hi & (1 << 23) != 0 {
            (raw << 12) | 0xFFF
        } else {
            raw
        }
    }
    /// The descriptor-cache image for selector `sel`, with the accessed bit set for segments.
    pub fn to_segment(&self, sel: u16) -> Segment {
        let mut a = self.attr();
        if self.is_seg() {
            a |= attr::ACCESSED;
        }
        Segment {
            selector: sel,
            attr: a,
            base: self.base(),
            limit: self.limit(),
        }
    }

    // ---- gates -----------------------------------------------------------------------------

    /// Target selector of a call, interrupt, trap or task gate.
    #[inline]
    pub fn gate_selector(&self) -> u16 {
        (self.lo >> 16) as u16
    }
    /// Target offset of a gate (16 bits for 286 gates).
    #[inline]
    pub fn gate_offset(&self) -> u32 {
        if self.gate32() {
            (self.lo & 0xFFFF) | (self.hi & 0xFFFF_0000)
        } else {
            self.lo & 0xFFFF
        }
    }
    /// Is this a 386 (32-bit) gate or TSS?
    #[inline]
    pub fn gate32(&self) -> bool {
        self.typ() & 8 != 0
    }
    /// Parameter count of a call gate.
    #[inline]
    pub fn gate_count(&self) -> u32 {
        self.hi & 0x1F
    }
    #[inline]
    pub fn is_tss(&self) -> bool {
        !self.is_seg()
            && matches!(
                self.typ(),
                sys::TSS16_AVAIL | sys::TSS16_BUSY | sys::TSS32_AVAIL | sys::TSS32_BUSY
            )
    }
    #[inline]
    pub fn tss_busy(&self) -> bool {
        self.typ() & sys::BUSY != 0
    }
}

/// A fault whose error code names a selector: index and TI from `sel` (RPL cleared), plus EXT.
#[inline]
pub(crate) fn sel_fault(vector: u8, sel: u16, ext: u16) -> Fault {
    Fault::with_error(vector, ((sel & 0xFFFC) | (ext & 1)) as u32)
}

/// Is a selector null (index 0 in the GDT, any RPL)?
#[inline]
pub(crate) fn is_null(sel: u16) -> bool {
    sel & 0xFFFC == 0
}

/// Does an access of `size` bytes at `off` fit in the segment (expand-down aware)?
pub(crate) fn seg_fits(seg: &Segment, off: u32, size: u32) -> bool {
    let last = off.wrapping_add(size.max(1) - 1);
    if last < off {
        return false;
    }
    if seg.attr & (attr::S | attr::CODE | attr::DC) == (attr::S | attr::DC) {
        let upper = if seg.attr & attr::DB != 0 {
            0xFFFF_FFFF
        } else {
            0xFFFF
        };
        off > seg.limit && last <= upper
    } else {
        last <= seg.limit
    }
}

impl Cpu {
    /// Linear address of the descriptor `sel` names, if it lies within its table (GDT or, with
    /// TI set, a valid LDT).
    pub(crate) fn desc_addr(&self, sel: u16) -> Option<u32> {
        let (base, limit) = if sel & 4 != 0 {
            let l = &self.s.ldtr;
            if l.attr & attr::P == 0 {
                return None;
            }
            (l.base, l.limit)
        } else {
            (self.s.gdtr.base, self.s.gdtr.limit)
        };
        let off = (sel & 0xFFF8) as u32;
        if off + 7 > limit {
            return None;
        }
        Some(base.wrapping_add(off))
    }

    /// Read the 8 bytes at a linear address as a descriptor.
    pub(crate) fn read_desc_at<B: CpuBus>(
        &mut self,
        bus: &mut B,
        addr: u32,
    ) -> Result<Desc, Fault> {
        let lo = self.read_sys(bus, addr, 4)?;
        let hi = self.read_sys(bus, addr.wrapping_add(4), 4)?;
        Ok(Desc { lo, hi, addr })
    }

    /// Fetch the descriptor of `sel`; outside its table → `vector`(sel | EXT).
    pub(crate) fn fetch_desc<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        vector: u8,
        ext: u16,
    ) -> Result<Desc, Fault> {
        match self.desc_addr(sel) {
            Some(a) => self.read_desc_at(bus, a),
            None => Err(sel_fault(vector, sel, ext)),
        }
    }

    /// Fetch a descriptor that must live in the GDT (TSS, LDT): TI set or outside → `vector`.
    pub(crate) fn fetch_gdt_desc<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        vector: u8,
        ext: u16,
    ) -> Result<Desc, Fault> {
        if sel & 4 != 0 {
            return Err(sel_fault(vector, sel, ext));
        }
        self.fetch_desc(bus, sel, vector, ext)
    }

    /// Set the accessed bit of a code/data descriptor in memory (if not already set).
    pub(crate) fn set_accessed<B: CpuBus>(&mut self, bus: &mut B, d: &Desc) -> Result<(), Fault> {
        if d.is_seg() && d.hi & (1 << 8) == 0 {
            let b = ((d.hi >> 8) as u8) | 1;
            self.write_sys(bus, d.addr.wrapping_add(5), 1, b as u32)?;
        }
        Ok(())
    }

    /// Set or clear the busy bit of the TSS descriptor for `sel` in the GDT.
    pub(crate) fn set_tss_busy<B: CpuBus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        busy: bool,
    ) -> Result<(), Fault> {
        let off = (sel & 0xFFF8) as u32;
        if is_null(sel) || sel & 4 != 0 || off + 7 > self.s.gdtr.limit {
            return Ok(());
        }
        let a = self.s.gdtr.base.wrapping_add(off + 5);
        let b = self.read_sys(bus, a, 1)?;
        let nb = if busy {
            b | sys::BUSY as u32
        } else {
            b & !(sys::BUSY as u32)
        };
        if nb != b {
            self.write_sys(bus, a, 1, nb)?;
        }
        Ok(())
    }
}
