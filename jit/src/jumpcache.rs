//! Chaining between translations: a direct-mapped cache from linear EIP (CS base + EIP) to
//! the translation that runs there, which translated code consults when it leaves for a known
//! or computed address, and then tail-calls the next translation instead of returning to the
//! dispatcher. Entries are filled by the dispatcher.
//!
//! An entry names the physical page its translation was made for, and a small code TLB
//! (linear page → physical page, filled by the dispatcher from the CPU's instruction-fetch
//! translation) says where each linear page maps now: translated code chains only when the two
//! agree. So a TLB flush (a CR3 write, every context switch) empties only the code TLB, and the
//! entries come back into use as soon as their page is entered once through the dispatcher.
//! Entries are all dropped when the memory map or any cached code changes (the dispatcher
//! checks at every entry; inside a chain those changes always leave through the dispatcher).

use ironbox_cpu::{Cpu, CpuBus};

/// (16,384: the Linux benchmark installs ~5,000 translations; with 4,096 slots a third of its
/// dispatcher entries followed an exit whose slot held another address.)
pub const SLOTS: usize = 16384;
/// Code TLB slots (linear pages).
pub const PAGES: usize = 1024;
/// Exit links (see [`JumpCache::links`]): enough for every exit of the ~6,000 regions the
/// Linux benchmark compiles; when they run out, further exits go through the cache only.
pub const LINKS: usize = 1 << 18;
/// An exit link: the translation (0: none), and the linear EIP and physical page it was
/// made for (`LINK_F`, `LINK_LIN`, `LINK_PHYS`: byte offsets).
pub const LINK_BYTES: usize = 16;
pub const LINK_F: i32 = 0;
pub const LINK_LIN: i32 = 8;
pub const LINK_PHYS: i32 = 12;
pub const VALID: u32 = 1;
/// The two words of a code TLB slot (`JumpCache::pages`).
pub const PAGE_TAG: usize = 0;
pub const PAGE_PHYS: usize = 1;
pub const USER: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct JumpEntry {
    pub lin: u32,
    /// Mode key the translation was made for (`u32::MAX`: empty).
    pub mode: u32,
    /// Highest EIP of the translation's code (must be within the CS limit).
    pub max_last: u32,
    /// Physical page (address) of the translation's entry.
    pub phys: u32,
    pub f: u64,
}

pub const EMPTY: JumpEntry = JumpEntry {
    lin: 0,
    mode: u32::MAX,
    max_last: 0,
    phys: 0,
    f: 0,
};

#[repr(C)]
pub struct JumpCache {
    pub e: [JumpEntry; SLOTS],
    /// Code TLB: per slot, `linear page | VALID | USER (filled at CPL 3)` and the physical
    /// page, side by side (`PAGE_TAG`, `PAGE_PHYS`: one cache line for both).
    pub pages: [[u32; 2]; PAGES],
    epochs: (u64, u64),
    flush_epoch: u64,
    invlpg_seen: u64,
    /// Times everything / the code TLB was dropped (diagnostics).
    pub clears: (u64, u64),
    /// Exit links: one slot (`LINK_BYTES`) per chaining exit of a translation in a flat mode
    /// (`MODE_FLAT`), naming the translation it went to last. The exit tail-calls it without
    /// looking at the cache when it still applies: always for a fixed EIP on the exit's own
    /// page (then the target's physical page and mode are those of the exit's region); when
    /// the code TLB maps the target's page where the slot says for another page; and also
    /// when the EIP is the slot's for a computed target (RET, indirect jumps). Filled by the
    /// exit's chaining through the cache; emptied with the cache (any code change, a flush).
    /// Each exit has its own indirect jump, which the host predicts per exit.
    pub links: Box<[u64]>,
    /// Exit links handed out to translations so far (the others are all empty).
    pub links_handed_out: usize,
}

/// Multiplicative (Fibonacci) hashing: entry points are aligned and clustered, so their low
/// bits alone collide (measured on the Linux benchmark: 1,024 slots indexed by `lin ^ lin >>
/// 10` missed on 18 M of 18.7 M dispatcher entries).
pub const HASH: u32 = 0x9E37_79B1;
pub const SLOT_SHIFT: u32 = 32 - SLOTS.trailing_zeros();

pub fn slot(lin: u32) -> usize {
    (lin.wrapping_mul(HASH) >> SLOT_SHIFT) as usize
}

pub fn page_slot(lin: u32) -> usize {
    (lin >> 12) as usize & (PAGES - 1)
}

impl JumpCache {
    pub fn new() -> Box<JumpCache> {
        Box::new(JumpCache {
            e: [EMPTY; SLOTS],
            pages: [[0; 2]; PAGES],
            epochs: (u64::MAX, u64::MAX),
            flush_epoch: u64::MAX,
            invlpg_seen: 0,
            clears: (0, 0),
            links: vec![0; LINKS * LINK_BYTES / 8].into_boxed_slice(),
            links_handed_out: 0,
        })
    }

    pub fn clear(&mut self) {
        self.e.fill(EMPTY);
        self.pages.fill([0; 2]);
        // (Only what was handed out: the table is 4 MiB, and code changes empty it often.)
        let used = (self.links_handed_out * LINK_BYTES / 8).min(self.links.len());
        self.links[..used].fill(0);
    }

    /// Drop everything if the memory map or any cached code changed; after a TLB flush only
    /// the code TLB, and after INVLPGs alone only its entries for their pages.
    pub fn sync<B: CpuBus>(&mut self, cpu: &Cpu, bus: &B) {
        let now = (bus.map_epoch(), cpu.code_gen_epoch());
        let (f, n) = (cpu.tlb_flush_epoch(), cpu.invlpg_count());
        if now != self.epochs {
            self.clear();
            self.clears.0 += 1;
        } else if f != self.flush_epoch {
            self.pages.fill([0; 2]);
            self.clears.1 += 1;
        } else if n != self.invlpg_seen {
            match cpu.invlpg_since(self.invlpg_seen) {
                Some(pages) => {
                    for p in pages {
                        let i = page_slot(p);
                        if self.pages[i][PAGE_TAG] & !0xFFF == p {
                            self.pages[i][PAGE_TAG] = 0;
                        }
                    }
                }
                None => self.pages.fill([0; 2]),
            }
        }
        (self.epochs, self.flush_epoch, self.invlpg_seen) = (now, f, n);
    }

    /// The translation `f` runs at linear `lin` (physical `phys`) in `mode`, entered just now
    /// by the dispatcher with privilege `user`: so `lin`'s page maps to `phys`'s now.
    pub fn insert(&mut self, lin: u32, mode: u32, max_last: u32, phys: u32, user: bool, f: u64) {
        let page = phys & !0xFFF;
        self.e[slot(lin)] = JumpEntry {
            lin,
            mode,
            max_last,
            phys: page,
            f,
        };
        self.note_page(lin, phys, user);
    }

    /// `lin`'s page maps to `phys`'s now, for code run with privilege `user`.
    pub fn note_page(&mut self, lin: u32, phys: u32, user: bool) {
        self.pages[page_slot(lin)] = [
            lin & !0xFFF | VALID | if user { USER } else { 0 },
            phys & !0xFFF,
        ];
    }
}
