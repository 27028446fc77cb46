//! Memory access from the CPU's side: segmentation checks (effective address → linear),
//! paging with a software TLB (linear → physical), and sized reads/writes that cross pages.

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::{attr, cr0, cr4, CpuModel, SegReg};
use crate::Cpu;

/// Kind of access, for paging permission checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

const TLB_SIZE: usize = 1024;
const TLB_VALID: u32 = 1;
const TLB_USER: u32 = 2;
const TLB_WRITE_USER: u32 = 4;
const TLB_WRITE_SUPER: u32 = 8;
const TLB_DIRTY: u32 = 16;

/// A direct-mapped software TLB of 4 KiB translations.
#[derive(Clone)]
pub struct Tlb {
    /// Linear page number (bits 12-31) | flags (bits 0-4).
    tag: Box<[u32; TLB_SIZE]>,
    phys: Box<[u32; TLB_SIZE]>,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            tag: Box::new([0; TLB_SIZE]),
            phys: Box::new([0; TLB_SIZE]),
        }
    }
}

impl Tlb {
    pub fn flush(&mut self) {
        self.tag.fill(0);
    }
    pub fn flush_page(&mut self, lin: u32) {
        let i = (lin >> 12) as usize % TLB_SIZE;
        self.tag[i] = 0;
    }
}

impl Cpu {
    /// Linear → physical for one access, walking the page tables on a TLB miss.
    /// `user` is the privilege of the access (CPL 3 and not an implicit system access).
    #[inline(always)]
    pub(crate) fn translate<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        acc: Access,
        user: bool,
    ) -> Result<u32, Fault> {
        if self.s.cr0 & cr0::PG == 0 {
            return Ok(lin & self.s.model.address_mask());
        }
        self.translate_paged(bus, lin, acc, user)
    }

    #[inline]
    fn translate_paged<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        acc: Access,
        user: bool,
    ) -> Result<u32, Fault> {
        let i = (lin >> 12) as usize % TLB_SIZE;
        let tag = self.tlb.tag[i];
        if tag & TLB_VALID != 0 && (tag ^ lin) & 0xFFFF_F000 == 0 {
            let ok = match acc {
                Access::Read | Access::Exec => !user || tag & TLB_USER != 0,
                Access::Write => {
                    tag & TLB_DIRTY != 0
                        && if user {
                            tag & TLB_WRITE_USER != 0
                        } else {
                            tag & TLB_WRITE_SUPER != 0
                        }
                }
            };
            if ok {
                return Ok(self.tlb.phys[i] | (lin & 0xFFF));
            }
        }
        self.walk(bus, lin, acc, user)
    }

    fn walk<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        acc: Access,
        user: bool,
    ) -> Result<u32, Fault> {
        let write = acc == Access::Write;
        let err_base = (if write { 2 } else { 0 }) | (if user { 4 } else { 0 });
        let pde_addr = (self.s.cr3 & 0xFFFF_F000) | ((lin >> 20) & 0xFFC);
        let pde = bus.read32(pde_addr);
        if pde & 1 == 0 {
            self.s.cr2 = lin;
            return Err(Fault::pf(err_base));
        }
        let wp = self.s.cr0 & cr0::WP != 0;
        let (frame, perm_user, perm_write, dirty);
        if pde & 0x80 != 0 && self.s.cr4 & cr4::PSE != 0 {
            perm_user = pde & 4 != 0;
            perm_write = pde & 2 != 0;
            check_perm(self, lin, perm_user, perm_write, user, write, wp, err_base)?;
            let mut new = pde | 0x20;
            if write {
                new |= 0x40;
            }
            if new != pde {
                bus.write32(pde_addr, new);
            }
            dirty = new & 0x40 != 0;
            frame = (pde & 0xFFC0_0000) | (lin & 0x003F_F000);
        } else {
            let pte_addr = (pde & 0xFFFF_F000) | ((lin >> 10) & 0xFFC);
            let pte = bus.read32(pte_addr);
            if pte & 1 == 0 {
                self.s.cr2 = lin;
                return Err(Fault::pf(err_base));
            }
            perm_user = pde & pte & 4 != 0;
            perm_write = pde & pte & 2 != 0;
            check_perm(self, lin, perm_user, perm_write, user, write, wp, err_base)?;
            if pde & 0x20 == 0 {
                bus.write32(pde_addr, pde | 0x20);
            }
            let mut new = pte | 0x20;
            if write {
                new |= 0x40;
            }
            if new != pte {
                bus.write32(pte_addr, new);
            }
            dirty = new & 0x40 != 0;
            frame = pte & 0xFFFF_F000;
        }
        let mut tag = (lin & 0xFFFF_F000) | TLB_VALID;
        if perm_user {
            tag |= TLB_USER;
        }
        if perm_user && perm_write {
            tag |= TLB_WRITE_USER;
        }
        if perm_write || !wp {
            tag |= TLB_WRITE_SUPER;
        }
        if dirty {
            tag |= TLB_DIRTY;
        }
        let i = (lin >> 12) as usize % TLB_SIZE;
        self.tlb.tag[i] = tag;
        self.tlb.phys[i] = frame;
        Ok(frame | (lin & 0xFFF))
    }

    #[inline]
    fn user_access(&self) -> bool {
        self.s.cpl == 3
    }

    // ---- linear accesses -------------------------------------------------------------------

    /// Read `size` (1, 2, 4) bytes at a linear address with the current privilege.
    #[inline]
    pub(crate) fn read_lin<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        let user = self.user_access();
        self.read_lin_as(bus, lin, size, user, Access::Read)
    }

    /// Read with an explicit privilege (`user == false` for descriptor tables and the TSS).
    #[inline(always)]
    pub(crate) fn read_lin_as<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        user: bool,
        acc: Access,
    ) -> Result<u32, Fault> {
        // Fast path: no data breakpoints armed, the access stays inside one page.
        if !self.data_breakpoints && (lin & 0xFFF) + size <= 0x1000 {
            return self.read_one_page(bus, lin, size, user, acc);
        }
        self.read_lin_slow(bus, lin, size, user, acc)
    }

    /// A read that stays inside one page.
    #[inline(always)]
    fn read_one_page<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        user: bool,
        acc: Access,
    ) -> Result<u32, Fault> {
        let p = self.translate(bus, lin, acc, user)?;
        Ok(match size {
            1 => bus.read8(p) as u32,
            2 => bus.read16(p) as u32,
            _ => bus.read32(p),
        })
    }

    #[inline(never)]
    fn read_lin_slow<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        user: bool,
        acc: Access,
    ) -> Result<u32, Fault> {
        if acc != Access::Exec {
            self.note_data_access(lin, size, false);
        }
        if (lin & 0xFFF) + size <= 0x1000 {
            self.read_one_page(bus, lin, size, user, acc)
        } else {
            let mut v = 0u32;
            // Translate every byte first so a fault leaves nothing half done.
            let mut phys = [0u32; 4];
            for k in 0..size {
                phys[k as usize] = self.translate(bus, lin.wrapping_add(k), acc, user)?;
            }
            for k in 0..size {
                v |= (bus.read8(phys[k as usize]) as u32) << (8 * k);
            }
            Ok(v)
        }
    }

    #[inline]
    pub(crate) fn write_lin<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        v: u32,
    ) -> Result<(), Fault> {
        let user = self.user_access();
        self.write_lin_as(bus, lin, size, v, user)
    }

    #[inline(always)]
    pub(crate) fn write_lin_as<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        v: u32,
        user: bool,
    ) -> Result<(), Fault> {
        if !self.data_breakpoints && (lin & 0xFFF) + size <= 0x1000 {
            return self.write_one_page(bus, lin, size, v, user);
        }
        self.write_lin_slow(bus, lin, size, v, user)
    }

    /// A write that stays inside one page.
    #[inline(always)]
    fn write_one_page<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        v: u32,
        user: bool,
    ) -> Result<(), Fault> {
        let p = self.translate(bus, lin, Access::Write, user)?;
        self.note_write(p, size);
        match size {
            1 => bus.write8(p, v as u8),
            2 => bus.write16(p, v as u16),
            _ => bus.write32(p, v),
        }
        Ok(())
    }

    #[inline(never)]
    fn write_lin_slow<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        v: u32,
        user: bool,
    ) -> Result<(), Fault> {
        self.note_data_access(lin, size, true);
        if (lin & 0xFFF) + size <= 0x1000 {
            self.write_one_page(bus, lin, size, v, user)?;
        } else {
            let mut phys = [0u32; 4];
            for k in 0..size {
                phys[k as usize] = self.translate(bus, lin.wrapping_add(k), Access::Write, user)?;
            }
            for k in 0..size {
                self.note_write(phys[k as usize], 1);
                bus.write8(phys[k as usize], (v >> (8 * k)) as u8);
            }
        }
        Ok(())
    }

    /// Check that a linear range is writable without writing it (for instructions that must
    /// not fault half-way, e.g. far calls pushing several words).
    pub(crate) fn probe_write<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
    ) -> Result<(), Fault> {
        let user = self.user_access();
        self.translate(bus, lin, Access::Write, user)?;
        if size > 1 {
            self.translate(bus, lin.wrapping_add(size - 1), Access::Write, user)?;
        }
        Ok(())
    }

    // ---- segmented accesses ----------------------------------------------------------------

    /// Segmentation: check an access of `size` bytes at `off` in `seg` and give its linear
    /// address.
    #[inline]
    pub(crate) fn seg_lin(
        &self,
        seg: SegReg,
        off: u32,
        size: u32,
        write: bool,
    ) -> Result<u32, Fault> {
        let sr = &self.s.seg[seg as usize];
        if self.s.model == CpuModel::I8086 {
            return Ok(sr.base.wrapping_add(off & 0xFFFF));
        }
        let a = sr.attr;
        if self.s.protected() && !self.s.v86() {
            if a & attr::P == 0 {
                return Err(seg_fault(seg, 0));
            }
            if a & attr::CODE != 0 {
                if write || a & attr::RW == 0 {
                    return Err(seg_fault(seg, 0));
                }
            } else if write && a & attr::RW == 0 {
                return Err(seg_fault(seg, 0));
            }
        }
        let last = off.wrapping_add(size - 1);
        let seg_fault = |seg, code| {
            if self.s.model == CpuModel::I80286 {
                Fault::gp(code)
            } else {
                seg_fault(seg, code)
            }
        };
        if a & (attr::CODE | attr::DC) == attr::DC {
            // Expand-down data: valid offsets are limit+1 ..= 0xFFFF or 0xFFFFFFFF.
            let upper = if a & attr::DB != 0 {
                0xFFFF_FFFF
            } else {
                0xFFFF
            };
            if off <= sr.limit || last > upper || last < off {
                return Err(seg_fault(seg, 0));
            }
        } else if last > sr.limit || last < off {
            return Err(seg_fault(seg, 0));
        }
        Ok(sr.base.wrapping_add(off))
    }

    /// Read `size` bytes at seg:off.
    #[inline]
    pub(crate) fn read_mem<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        if self.s.model == CpuModel::I8086 && (off & 0xFFFF) + size > 0x10000 {
            // The 8086 wraps each byte within the 64 KiB segment.
            let mut v = 0;
            for k in 0..size {
                let lin = self.seg_lin(seg, off.wrapping_add(k), 1, false)?;
                v |= self.read_lin(bus, lin, 1)? << (8 * k);
            }
            return Ok(v);
        }
        let lin = self.seg_lin(seg, off, size, false)?;
        self.check_align(lin, size)?;
        self.read_lin(bus, lin, size)
    }

    /// `read_mem` inlined into the interpreter's fast forms (same checks, same order).
    #[inline(always)]
    pub(crate) fn read_data<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        if self.s.model == CpuModel::I8086 {
            return self.read_mem(bus, seg, off, size);
        }
        let lin = self.seg_lin(seg, off, size, false)?;
        self.check_align(lin, size)?;
        self.read_lin(bus, lin, size)
    }

    /// `write_mem` inlined into the interpreter's fast forms (same checks, same order).
    #[inline(always)]
    pub(crate) fn write_data<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
        v: u32,
    ) -> Result<(), Fault> {
        if self.s.model == CpuModel::I8086 {
            return self.write_mem(bus, seg, off, size, v);
        }
        let lin = self.seg_lin(seg, off, size, true)?;
        self.check_align(lin, size)?;
        self.write_lin(bus, lin, size, v)
    }

    /// Read for a read-modify-write operand: checks write permission too.
    #[inline]
    pub(crate) fn read_mem_rmw<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        if self.s.model == CpuModel::I8086 {
            return self.read_mem(bus, seg, off, size);
        }
        let lin = self.seg_lin(seg, off, size, true)?;
        self.check_align(lin, size)?;
        let user = self.user_access();
        if self.s.cr0 & cr0::PG != 0 {
            self.translate(bus, lin, Access::Write, user)?;
            if (lin & 0xFFF) + size > 0x1000 {
                self.translate(bus, lin.wrapping_add(size - 1), Access::Write, user)?;
            }
        }
        self.read_lin_as(bus, lin, size, user, Access::Read)
    }

    #[inline]
    pub(crate) fn write_mem<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
        v: u32,
    ) -> Result<(), Fault> {
        if self.s.model == CpuModel::I8086 && (off & 0xFFFF) + size > 0x10000 {
            for k in 0..size {
                let lin = self.seg_lin(seg, off.wrapping_add(k), 1, true)?;
                self.write_lin(bus, lin, 1, v >> (8 * k))?;
            }
            return Ok(());
        }
        let lin = self.seg_lin(seg, off, size, true)?;
        self.check_align(lin, size)?;
        self.write_lin(bus, lin, size, v)
    }

    /// Alignment check (#AC) when CR0.AM, EFLAGS.AC and CPL 3.
    #[inline]
    fn check_align(&self, lin: u32, size: u32) -> Result<(), Fault> {
        if size > 1
            && lin & (size - 1) != 0
            && self.s.cpl == 3
            && self.s.eflags & crate::state::flags::AC != 0
            && self.s.cr0 & cr0::AM != 0
        {
            return Err(Fault::with_error(crate::fault::AC, 0));
        }
        Ok(())
    }

    /// Read from a system table (GDT, LDT, IDT, TSS) at a linear address: a supervisor access
    /// whatever the CPL.
    pub(crate) fn read_sys<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
    ) -> Result<u32, Fault> {
        self.read_lin_as(bus, lin, size, false, Access::Read)
    }

    pub(crate) fn write_sys<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u32,
        v: u32,
    ) -> Result<(), Fault> {
        self.write_lin_as(bus, lin, size, v, false)
    }
}

fn check_perm(
    cpu: &mut Cpu,
    lin: u32,
    perm_user: bool,
    perm_write: bool,
    user: bool,
    write: bool,
    wp: bool,
    err_base: u32,
) -> Result<(), Fault> {
    let ok = if user {
        perm_user && (!write || perm_write)
    } else {
        !write || perm_write || !wp
    };
    if ok {
        Ok(())
    } else {
        cpu.s.cr2 = lin;
        Err(Fault::pf(err_base | 1))
    }
}

/// #SS for the stack segment, #GP otherwise.
#[inline]
pub(crate) fn seg_fault(seg: SegReg, code: u16) -> Fault {
    if seg == SegReg::Ss {
        Fault::ss(code)
    } else {
        Fault::gp(code)
    }
}
