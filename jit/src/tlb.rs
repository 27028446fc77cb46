//! The translator's host-pointer TLB: linear page → host address of plain guest RAM (or, for
//! reads, of ROM), for the loads and stores that translated code does inline. Two sets, one
//! filled at CPL 3 and one at the other privilege levels, so that a region looks in the set of
//! its own privilege and a tag is just the linear page (an empty tag, `EMPTY`, is not page
//! aligned and matches nothing): the inline check is one compare. In a set, separate read and
//! write tags share one addend per slot. A write entry for a page with cached code carries the
//! page's code-byte bitmap and a marked tag (`CODE_TAG`): translated code checks the bitmap out
//! of line, and a write that touches code bytes goes through the CPU (data sharing a page with
//! code is written inline). Filled by the
//! access helpers after an access succeeded; emptied when the CPU's TLB is flushed, the bus's
//! memory map changes, or (write tags only) a page starts holding code.

use ironbox_cpu::{Cpu, CpuBus};

pub const SLOTS: usize = 1024;
/// The tag of an empty slot (not page aligned: no access's page equals it).
pub const EMPTY: u32 = 1;
/// Added to the write tag of a page that holds code: the inline compare misses it, and the
/// cold path checks the page's code-byte bitmap before it writes inline.
pub const CODE_TAG: u32 = 2;

/// The entries filled at one privilege (CPL 3, or CPL 0-2).
#[repr(C)]
pub struct TlbSet {
    pub read_tag: [u32; SLOTS],
    pub write_tag: [u32; SLOTS],
    /// Host address of the page minus its linear address.
    pub addend: [u64; SLOTS],
    /// For a write entry on a page that holds code: the host address of the page's code-byte
    /// bitmap (`Cpu::code_bytes_map`; a write touching a marked byte takes the helper), else 0.
    pub code_bits: [u64; SLOTS],
}

#[repr(C)]
pub struct HostTlb {
    /// `[CPL 0-2, CPL 3]`.
    pub sets: [TlbSet; 2],
    flush_epoch: u64,
    invlpg_seen: u64,
    map_epoch: u64,
    code_epoch: u64,
    gen_epoch: u64,
}

impl TlbSet {
    const fn new() -> TlbSet {
        TlbSet {
            read_tag: [EMPTY; SLOTS],
            write_tag: [EMPTY; SLOTS],
            addend: [0; SLOTS],
            code_bits: [0; SLOTS],
        }
    }
}

impl HostTlb {
    pub fn new() -> HostTlb {
        HostTlb {
            sets: [TlbSet::new(), TlbSet::new()],
            flush_epoch: u64::MAX,
            invlpg_seen: 0,
            map_epoch: u64::MAX,
            code_epoch: u64::MAX,
            gen_epoch: u64::MAX,
        }
    }

    /// Drop what the CPU or the bus invalidated since the last call (at region entry: nothing
    /// inside a region changes translations without leaving it). An INVLPG drops its page.
    pub fn sync<B: CpuBus>(&mut self, cpu: &Cpu, bus: &B) {
        let (f, n, m, c) = (
            cpu.tlb_flush_epoch(),
            cpu.invlpg_count(),
            bus.map_epoch(),
            cpu.code_epoch(),
        );
        let mut all = f != self.flush_epoch || m != self.map_epoch;
        if !all && n != self.invlpg_seen {
            match cpu.invlpg_since(self.invlpg_seen) {
                Some(pages) => pages.for_each(|p| self.drop_page(p)),
                None => all = true,
            }
        }
        let g = cpu.code_gen_epoch();
        for set in &mut self.sets {
            if all {
                set.read_tag.fill(EMPTY);
                set.write_tag.fill(EMPTY);
            } else if c != self.code_epoch {
                set.write_tag.fill(EMPTY);
            } else if g != self.gen_epoch {
                // Code was dropped somewhere: bitmaps may have gone with it.
                for (t, b) in set.write_tag.iter_mut().zip(&set.code_bits) {
                    if *b != 0 {
                        *t = EMPTY;
                    }
                }
            }
        }
        (self.code_epoch, self.gen_epoch) = (c, g);
        (self.flush_epoch, self.invlpg_seen, self.map_epoch) = (f, n, m);
    }

    fn drop_page(&mut self, page: u32) {
        let i = (page >> 12) as usize % SLOTS;
        for set in &mut self.sets {
            if set.read_tag[i] == page {
                set.read_tag[i] = EMPTY;
            }
            if set.write_tag[i] & !CODE_TAG == page {
                set.write_tag[i] = EMPTY;
            }
        }
    }

    /// After an access of `size` bytes at `lin` succeeded through the CPU: remember the page's
    /// host address if it is plain RAM.
    pub fn fill<B: CpuBus>(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        lin: u32,
        size: u32,
        write: bool,
    ) {
        if (lin & 0xFFF) + size > 0x1000 {
            return;
        }
        let Some(phys) = cpu.data_phys(bus, lin, write) else {
            return;
        };
        self.fill_phys(cpu, bus, lin, phys, write);
    }

    /// For translated code about to make accesses in `lo..=hi` (at most two pages; `write`: of
    /// any kind, else reads only): whether the set of the current privilege maps both pages
    /// for them (plain RAM; for writes to a page with code, none of the range's bytes on it
    /// may be code), filling what is missing where the CPU can translate without touching the
    /// page tables (`Cpu::data_phys_clean`). `false` leaves the accesses to the CPU.
    pub fn group<B: CpuBus>(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        lo: u32,
        hi: u32,
        write: bool,
    ) -> bool {
        let set = (cpu.s.cpl == 3) as usize;
        let tag = |t: &TlbSet, i: usize| if write { t.write_tag[i] } else { t.read_tag[i] };
        for lin in [lo, hi] {
            let page = lin & !0xFFF;
            let i = (lin >> 12) as usize % SLOTS;
            if tag(&self.sets[set], i) & !CODE_TAG != page {
                let Some(phys) = cpu.data_phys_clean(bus, lin, write) else {
                    return false;
                };
                self.fill_phys(cpu, bus, lin, phys, write);
            }
            let t = &self.sets[set];
            if tag(t, i) == page | CODE_TAG {
                // The range's bytes on this page (it may wrap past 4 GiB onto the next).
                let from = if lo & !0xFFF == page { lo & 0xFFF } else { 0 };
                let to = if hi & !0xFFF == page {
                    hi & 0xFFF
                } else {
                    0xFFF
                };
                // SAFETY: a CODE_TAG entry's bitmap is live until the code generation
                // changes, which empties such entries (`sync`); it has 4,096 bits.
                let bits = unsafe { std::slice::from_raw_parts(t.code_bits[i] as *const u64, 64) };
                if (from..=to).any(|b| bits[b as usize / 64] >> (b % 64) & 1 != 0) {
                    return false;
                }
            } else if tag(t, i) != page {
                return false;
            }
        }
        // (Two pages in one slot: the second fill took the slot from the first.)
        let i = (lo >> 12) as usize % SLOTS;
        tag(&self.sets[set], i) & !CODE_TAG == lo & !0xFFF
    }

    /// Remember that linear `lin` is at `phys` now for accesses of this kind, if plain RAM.
    fn fill_phys<B: CpuBus>(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        lin: u32,
        phys: u32,
        write: bool,
    ) {
        let mut bits = 0;
        if write && cpu.is_code_page(phys >> 12) {
            let Some(b) = cpu.code_bytes_map(phys >> 12) else {
                return;
            };
            bits = b as u64;
        }
        let host = if write {
            bus.host_page(phys & !0xFFF).map(|p| p as *const u8)
        } else {
            bus.host_page_read(phys & !0xFFF)
        };
        let Some(host) = host else {
            return;
        };
        let page = lin & !0xFFF;
        let set = &mut self.sets[(cpu.s.cpl == 3) as usize];
        let i = (lin >> 12) as usize % SLOTS;
        let addend = (host as u64).wrapping_sub(page as u64);
        if set.addend[i] != addend {
            // The slot's other tag belongs to another page (or another host address).
            set.read_tag[i] = EMPTY;
            set.write_tag[i] = EMPTY;
            set.addend[i] = addend;
        }
        if write {
            set.write_tag[i] = page | if bits != 0 { CODE_TAG } else { 0 };
            set.code_bits[i] = bits;
        } else {
            set.read_tag[i] = page;
        }
    }
}
