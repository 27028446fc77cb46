//! Chaining between translations: a direct-mapped cache from linear EIP (CS base + EIP) to
//! the translation that runs there, which translated code consults when it leaves for a known
//! or computed address, and then tail-calls the next translation instead of returning to the
//! dispatcher. Entries are filled by the dispatcher and all dropped when linear-to-physical
//! translations, the memory map or any cached code change (the dispatcher checks at every
//! entry; inside a chain those changes always leave through the dispatcher).

use ironbox_cpu::{Cpu, CpuBus};

pub const SLOTS: usize = 1024;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct JumpEntry {
    pub lin: u32,
    /// Mode key the translation was made for (`u32::MAX`: empty).
    pub mode: u32,
    /// Highest EIP of the translation's code (must be within the CS limit).
    pub max_last: u32,
    pub _pad: u32,
    pub f: u64,
}

pub const EMPTY: JumpEntry = JumpEntry {
    lin: 0,
    mode: u32::MAX,
    max_last: 0,
    _pad: 0,
    f: 0,
};

#[repr(C)]
pub struct JumpCache {
    pub e: [JumpEntry; SLOTS],
    epochs: (u64, u64, u64),
    invlpg_seen: u64,
}

pub fn slot(lin: u32) -> usize {
    ((lin ^ (lin >> 10)) as usize) & (SLOTS - 1)
}

impl JumpCache {
    pub fn new() -> Box<JumpCache> {
        Box::new(JumpCache {
            e: [EMPTY; SLOTS],
            epochs: (u64::MAX, u64::MAX, u64::MAX),
            invlpg_seen: 0,
        })
    }

    pub fn clear(&mut self) {
        self.e.fill(EMPTY);
    }

    /// Drop everything if the TLB was flushed, the memory map or any cached code changed;
    /// after INVLPGs alone, only the entries on their pages.
    pub fn sync<B: CpuBus>(&mut self, cpu: &Cpu, bus: &B) {
        let now = (cpu.tlb_flush_epoch(), bus.map_epoch(), cpu.code_gen_epoch());
        let n = cpu.invlpg_count();
        let mut all = now != self.epochs;
        if !all && n != self.invlpg_seen {
            match cpu.invlpg_since(self.invlpg_seen) {
                Some(pages) => {
                    for p in pages {
                        for e in self.e.iter_mut().filter(|e| e.lin & !0xFFF == p) {
                            *e = EMPTY;
                        }
                    }
                }
                None => all = true,
            }
        }
        if all {
            self.clear();
        }
        (self.epochs, self.invlpg_seen) = (now, n);
    }

    pub fn insert(&mut self, lin: u32, mode: u32, max_last: u32, f: u64) {
        self.e[slot(lin)] = JumpEntry {
            lin,
            mode,
            max_last,
            _pad: 0,
            f,
        };
    }
}
