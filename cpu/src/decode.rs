//! Instruction fetch and decode: bytes at CS:EIP through segmentation and paging, decoded by
//! iced-x86 in the current code size, with the 8086's opcode aliases mapped onto their 186+
//! equivalents. Decoded instructions are cached per physical page and dropped when the page
//! is written.

use iced_x86::{Decoder, DecoderOptions, Instruction};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::memory::Access;
use crate::state::{CpuModel, SegReg};
use crate::Cpu;

/// Cached decodes: a direct-mapped table keyed by physical address and code size. A write to
/// a page that holds cached code bumps that page's generation, which invalidates its entries
/// without searching for them. Only instructions wholly inside one page are cached.
/// Words of a code page's byte bitmap: 64 for its 4096 bytes, and one more that stays zero,
/// so that translated code may read a 16-bit window at any byte's bit without a bound check.
pub(crate) const CODE_BYTES_WORDS: usize = 65;
type CodeBytes = [u64; CODE_BYTES_WORDS];

pub struct DecodeCache {
    entries: Vec<Entry>,
    /// Generation of each 4 KiB physical page (grown on demand).
    page_gen: Vec<u32>,
    /// One bit per physical page that holds cached decodes of the current generation.
    code_pages: Vec<u64>,
    /// Set when a write invalidated cached code (the block being run may be stale).
    pub(crate) code_written: bool,
    /// Bumped whenever a page starts holding cached code (writes to it must now be seen).
    pub(crate) code_epoch: u64,
    /// Bumped whenever any page generation changes (cached code somewhere was dropped).
    pub(crate) gen_epoch: u64,
    /// Which bytes of each code page hold cached instructions: writes elsewhere on the page
    /// (data sharing a page with code) drop nothing.
    code_bytes: Vec<Option<Box<CodeBytes>>>,
    /// Pages whose generation changed (for `follow_generations`; bounded).
    bump_log: Vec<u32>,
    bump_overflow: bool,
    /// Decoded straight-line blocks (see `block`).
    pub(crate) blocks: crate::block::BlockTable,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Physical address of the first byte.
    tag: u32,
    /// Decode key (code size) | `VALID`.
    key: u32,
    /// EIP the instruction was decoded at: IP-relative fields (next IP, branch targets) depend
    /// on it, and the same physical bytes may run at another address (before and after paging
    /// is enabled, or under another CS base).
    eip: u32,
    gen: u32,
    /// For an instruction that crosses into the next page: that page's physical address and
    /// its generation (`NO_TAIL`: none).
    tail: (u32, u32),
    instr: Instruction,
}

const NO_TAIL: (u32, u32) = (u32::MAX, 0);

const ENTRIES: usize = 1 << 14;
const VALID: u32 = 1 << 31;

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache {
            entries: vec![
                Entry {
                    tag: 0,
                    key: 0,
                    eip: 0,
                    gen: 0,
                    tail: NO_TAIL,
                    instr: Instruction::default()
                };
                ENTRIES
            ],
            page_gen: Vec::new(),
            code_pages: Vec::new(),
            code_written: false,
            code_epoch: 0,
            gen_epoch: 0,
            code_bytes: Vec::new(),
            bump_log: Vec::new(),
            bump_overflow: false,
            blocks: crate::block::BlockTable::default(),
        }
    }
}

#[inline]
fn slot(phys: u32, key: u32) -> usize {
    // Sequential code maps to sequential slots (cache-friendly); the code size picks a half.
    ((phys as usize) ^ ((key as usize) << 13)) & (ENTRIES - 1)
}

impl DecodeCache {
    /// Take over the page generations another cache bumped since the last call (a shadow
    /// CPU that must see the writes made through the main one): its cached decodes of those
    /// pages go.
    pub(crate) fn follow_generations(&mut self, other: &mut DecodeCache) {
        if other.bump_overflow {
            // Too many to have kept: drop everything.
            other.bump_overflow = false;
            other.bump_log.clear();
            self.clear();
            return;
        }
        for page in other.bump_log.drain(..) {
            self.invalidate_page(page);
            if let Some(g) = self.page_gen.get_mut(page as usize) {
                *g = g.wrapping_add(1);
            }
        }
    }

    fn log_bump(&mut self, page: u32) {
        if self.bump_log.len() < 4096 {
            self.bump_log.push(page);
        } else {
            self.bump_overflow = true;
        }
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.entries.iter_mut().for_each(|e| e.key = 0);
        // Everything keyed on a page generation (blocks here, translations in the JIT) goes.
        self.bump_overflow = true;
        self.gen_epoch += 1;
        self.code_bytes.clear();
        for (w, bits) in self.code_pages.iter_mut().enumerate() {
            let mut b = std::mem::take(bits);
            while b != 0 {
                let page = w * 64 + b.trailing_zeros() as usize;
                self.page_gen[page] = self.page_gen[page].wrapping_add(1);
                b &= b - 1;
            }
        }
    }

    #[inline]
    pub(crate) fn is_code_page(&self, page: u32) -> bool {
        let w = (page >> 6) as usize;
        w < self.code_pages.len() && self.code_pages[w] & (1 << (page & 63)) != 0
    }

    #[inline]
    /// The cached decode at `phys` and, if it crosses into the next page, that page and
    /// generation it needs (see `Entry::tail`).
    fn lookup(&self, phys: u32, key: u32, eip: u32) -> Option<(&Instruction, (u32, u32))> {
        let e = &self.entries[slot(phys, key)];
        if e.tag == phys
            && e.key == key | VALID
            && e.eip == eip
            && self.page_gen.get((phys >> 12) as usize) == Some(&e.gen)
        {
            Some((&e.instr, e.tail))
        } else {
            None
        }
    }

    /// Current generation of a physical page, marking it as holding cached code.
    pub(crate) fn claim_page(&mut self, page: u32) -> u32 {
        let w = (page >> 6) as usize;
        if self.code_pages.len() <= w {
            self.code_pages.resize(w + 1, 0);
        }
        if self.page_gen.len() <= page as usize {
            self.page_gen.resize(page as usize + 1, 0);
        }
        if self.code_pages[w] & (1 << (page & 63)) == 0 {
            self.code_pages[w] |= 1 << (page & 63);
            self.code_epoch += 1;
        }
        self.page_gen[page as usize]
    }

    #[inline]
    pub(crate) fn page_gen(&self, page: u32) -> Option<u32> {
        self.page_gen.get(page as usize).copied()
    }

    /// Cache an instruction whose bytes cross from `phys`'s page into the page at `next`
    /// (physical, page-aligned): both pages' bytes count as code.
    fn insert_crossing(&mut self, phys: u32, next: u32, key: u32, eip: u32, instr: Instruction) {
        let head = 0x1000 - (phys & 0xFFF);
        let gen = self.claim_page(next >> 12);
        self.mark_bytes(next, instr.len() as u32 - head);
        self.insert(phys, key, eip, instr);
        self.entries[slot(phys, key)].tail = (next, gen);
    }

    fn insert(&mut self, phys: u32, key: u32, eip: u32, instr: Instruction) {
        let page = phys >> 12;
        let w = (page >> 6) as usize;
        if self.code_pages.len() <= w {
            self.code_pages.resize(w + 1, 0);
        }
        if self.page_gen.len() <= page as usize {
            self.page_gen.resize(page as usize + 1, 0);
        }
        if self.code_pages[w] & (1 << (page & 63)) == 0 {
            self.code_pages[w] |= 1 << (page & 63);
            self.code_epoch += 1;
        }
        let gen = self.page_gen[page as usize];
        self.mark_bytes(phys, instr.len() as u32);
        self.entries[slot(phys, key)] = Entry {
            tag: phys,
            key: key | VALID,
            eip,
            gen,
            tail: NO_TAIL,
            instr,
        };
    }

    /// Remember that `phys..phys+len` (inside one page) holds a cached instruction.
    pub(crate) fn mark_bytes(&mut self, phys: u32, len: u32) {
        let page = (phys >> 12) as usize;
        if self.code_bytes.len() <= page {
            self.code_bytes.resize_with(page + 1, || None);
        }
        let bits = self.code_bytes[page].get_or_insert_with(|| Box::new([0; CODE_BYTES_WORDS]));
        for b in (phys & 0xFFF)..((phys & 0xFFF) + len).min(0x1000) {
            bits[(b >> 6) as usize] |= 1 << (b & 63);
        }
    }

    /// The bitmap of a code page's instruction bytes (bit `b` of word `b / 64` for byte
    /// offset `b`), if the page has one. It lives until the page's generation changes.
    pub(crate) fn code_bytes_of(&self, page: u32) -> Option<&CodeBytes> {
        self.code_bytes.get(page as usize)?.as_deref()
    }

    /// Does `phys..phys+len` (inside one page) touch bytes of cached instructions? Pages
    /// claimed as a whole (without byte marks) count as all code.
    fn touches_code(&self, phys: u32, len: u32) -> bool {
        let Some(Some(bits)) = self.code_bytes.get((phys >> 12) as usize) else {
            return true;
        };
        let start = phys & 0xFFF;
        let end = (start + len).min(0x1000);
        (start..end).any(|b| bits[(b >> 6) as usize] & (1 << (b & 63)) != 0)
    }

    /// A write hit `phys..phys+len`: drop the decodes of the pages it touches, if it wrote
    /// bytes that hold cached instructions.
    #[inline]
    pub fn invalidate_range(&mut self, phys: u32, len: u32) {
        let len = len.max(1);
        let first = phys >> 12;
        let last = phys.wrapping_add(len - 1) >> 12;
        if last == first {
            if self.is_code_page(first) && self.touches_code(phys, len) {
                self.invalidate_page(first);
            }
            return;
        }
        // Crossing pages (DMA, page-crossing writes): whole pages, conservatively.
        let mut p = first;
        loop {
            self.invalidate_page(p);
            if p == last {
                break;
            }
            p = p.wrapping_add(1);
        }
    }

    #[inline]
    fn invalidate_page(&mut self, page: u32) {
        if self.is_code_page(page) {
            self.code_written = true;
            self.gen_epoch += 1;
            self.log_bump(page);
            self.page_gen[page as usize] = self.page_gen[page as usize].wrapping_add(1);
            let w = (page >> 6) as usize;
            self.code_pages[w] &= !(1 << (page & 63));
            if let Some(b) = self.code_bytes.get_mut(page as usize) {
                *b = None;
            }
        }
    }
}

/// An 8086 opcode alias: the byte the 8086 decodes as something a 186+ decodes differently.
fn remap_8086(bytes: &mut [u8]) {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF2 | 0xF3 => i += 1,
            0xF1 => {
                bytes[i] = 0xF0; // F1 is a second LOCK prefix on the 8086
                i += 1
            }
            _ => break,
        }
    }
    if i >= bytes.len() {
        return;
    }
    let op = bytes[i];
    match op {
        0x60..=0x6F => bytes[i] = op + 0x10,
        0x0F => bytes[i] = 0xF1, // POP CS: decoded as INT1 and executed as POP CS
        0xC0 => bytes[i] = 0xC2,
        0xC1 => bytes[i] = 0xC3,
        0xC8 => bytes[i] = 0xCA,
        0xC9 => bytes[i] = 0xCB,
        0x8C | 0x8E => {
            if let Some(m) = bytes.get_mut(i + 1) {
                *m &= !0x20; // the 8086 decodes only two bits of the segment register field
            }
        }
        0xFF => {
            if let Some(m) = bytes.get_mut(i + 1) {
                if *m & 0x38 == 0x38 {
                    *m &= !0x08; // FF /7 is PUSH r/m on the 8086
                }
            }
        }
        _ => {}
    }
}

impl Cpu {
    /// Fetch and decode the instruction at CS:EIP.
    #[inline]
    pub(crate) fn fetch_decode<B: CpuBus>(&mut self, bus: &mut B) -> Result<Instruction, Fault> {
        self.decode_at(bus, self.s.eip)
    }

    /// Fetch and decode the instruction at CS:`eip`.
    pub(crate) fn decode_at<B: CpuBus>(
        &mut self,
        bus: &mut B,
        eip: u32,
    ) -> Result<Instruction, Fault> {
        let code32 = self.s.code32();
        let cs = self.s.seg[SegReg::Cs as usize];
        let key = code32 as u32;
        let user = self.s.cpl == 3;
        let model = self.s.model;
        // Fast path: the first byte's physical address finds a cached decode.
        let lin0 = cs.base.wrapping_add(eip);
        let phys0 = if model == CpuModel::I8086 {
            lin0 & 0xF_FFFF
        } else {
            self.translate(bus, lin0, Access::Exec, user)?
        };
        if let Some((instr, tail)) = self.icache.lookup(phys0, key, eip) {
            let instr = *instr;
            let last = eip.wrapping_add(instr.len() as u32 - 1);
            let fits = model == CpuModel::I8086
                || (last <= cs.limit && last >= eip)
                || !code32 && cs.limit >= 0xFFFF;
            if fits && tail == NO_TAIL {
                return Ok(instr);
            }
            // Crossing into the next page (32-bit code, no wrap: see `insert_crossing`):
            // valid while that page maps where it did and its code is unchanged.
            if fits && tail != NO_TAIL {
                let lin1 = (lin0 | 0xFFF).wrapping_add(1);
                if let Ok(p) = self.translate(bus, lin1, Access::Exec, user) {
                    if (p, self.icache.page_gen(p >> 12)) == (tail.0, Some(tail.1)) {
                        return Ok(instr);
                    }
                }
            }
        }
        // Slow path: fetch up to 15 bytes, stopping at the first that cannot be fetched.
        let mut buf = [0u8; 15];
        let mut n = 0usize;
        let mut pending: Option<Fault> = None;
        let (mut last_lin, mut last_phys) = (0u32, 0u32);
        // Physical address of the next page's first byte, if the bytes fetched reach it.
        let mut next_page: Option<u32> = None;
        while n < 15 {
            let off = if code32 {
                eip.wrapping_add(n as u32)
            } else {
                eip.wrapping_add(n as u32) & 0xFFFF
            };
            if model != CpuModel::I8086 && off > cs.limit {
                pending = Some(Fault::gp0());
                break;
            }
            let off = if model == CpuModel::I8086 {
                off & 0xFFFF
            } else {
                off
            };
            let lin = cs.base.wrapping_add(off);
            let phys = if model == CpuModel::I8086 {
                lin & 0xF_FFFF
            } else if n > 0 && lin & 0xFFF != 0 && lin == last_lin.wrapping_add(1) {
                last_phys + 1 // the same page as the byte before
            } else {
                match self.translate(bus, lin, Access::Exec, user) {
                    Ok(p) => {
                        if n > 0 && lin & 0xFFF == 0 {
                            next_page = Some(p);
                        }
                        p
                    }
                    Err(f) => {
                        pending = Some(f);
                        break;
                    }
                }
            };
            (last_lin, last_phys) = (lin, phys);
            buf[n] = bus.read8(phys);
            n += 1;
        }
        if model == CpuModel::I8086 {
            remap_8086(&mut buf[..n]);
        }
        let bitness = if code32 { 32 } else { 16 };
        // The 8086 and 286 accept LOCK on any instruction.
        let options = if model.is_386_plus() {
            DecoderOptions::NONE
        } else {
            DecoderOptions::NO_INVALID_CHECK
        };
        let mut dec = Decoder::with_ip(bitness, &buf[..n], eip as u64, options);
        let mut instr = Instruction::default();
        dec.decode_out(&mut instr);
        if instr.is_invalid() {
            if dec.last_error() == iced_x86::DecoderError::NoMoreBytes {
                if let Some(f) = pending {
                    return Err(f);
                }
            }
            return Err(Fault::ud());
        }
        if !crate::exec::supported(model, &instr) {
            return Err(Fault::ud());
        }
        if model == CpuModel::I80286 && instr.len() > 10 {
            return Err(Fault::gp0()); // the 286 limits instructions to 10 bytes
        }
        crate::x87::stash_fop(&mut instr, &buf[..n]);
        let len = instr.len() as u32;
        let page_end = 0x1000 - (lin0 & 0xFFF);
        if len <= page_end && (code32 || eip.wrapping_add(len) <= 0x10000) {
            self.icache.insert(phys0, key, eip, instr);
        } else if let (true, Some(next)) = (code32 && eip.wrapping_add(len) > eip, next_page) {
            if model != CpuModel::I8086 && next & 0xFFF == 0 {
                self.icache.insert_crossing(phys0, next, key, eip, instr);
            }
        }
        Ok(instr)
    }

    /// Hook for every CPU write: drop cached decodes of a written code page.
    #[inline]
    pub(crate) fn note_write(&mut self, phys: u32, len: u32) {
        self.icache.invalidate_range(phys, len);
    }
}
