//! What a binary translator (the `jit` crate) needs from the interpreter: the mode bits a
//! translation is keyed on, side-effect-free decoding of guest code, code-page generations,
//! data accesses with every check, one instruction executed exactly as `run`'s blocks execute
//! it (the fallback for anything without a hand-written lowering), and exception delivery.
//!
//! Everything here keeps the interpreter's bookkeeping (retired count, TSC, interrupt shadow,
//! "leave the block" conditions) identical, so that translated code and the interpreter agree
//! instruction for instruction.

use iced_x86::Instruction;

use crate::bus::CpuBus;
use crate::fault::{Fault, StepEvent};
use crate::memory::Access;
use crate::state::{cr0, flags, CpuModel, SegReg};
use crate::Cpu;

/// Bits returned by [`Cpu::exec_one`].
pub mod exec_result {
    /// Leave the translated region after this instruction (state already in `CpuState`).
    pub const LEAVE: u32 = 1;
    /// The instruction changed EIP to something other than the next instruction.
    pub const BRANCHED: u32 = 2;
    /// Port I/O ran: the board must look at its devices (`RunExit::Io`).
    pub const IO: u32 = 4;
    /// A triple fault (`RunExit::Shutdown`).
    pub const SHUTDOWN: u32 = 8;
    /// The instruction faulted (delivered); it does not count as retired.
    pub const FAULTED: u32 = 16;
}

/// Mode bits that change how code decodes and runs: CS.D, SS.B, CPL, PE, VM, PG, and
/// [`MODE_FLAT`]. A translation is only valid under the key it was made for; an instruction
/// that changes the key makes translated code leave ([`exec_result::LEAVE`]).
pub fn mode_key(cpu: &Cpu) -> u32 {
    let s = &cpu.s;
    (s.code32() as u32)
        | (s.stack32() as u32) << 1
        | (s.cpl as u32 & 3) << 2
        | (s.protected() as u32) << 4
        | (s.v86() as u32) << 5
        | (s.paging() as u32) << 6
        | if flat_data(cpu) { MODE_FLAT } else { 0 }
}

/// Mode bit: CS has base 0 and limit 4 GiB, ES, SS and DS are flat (base 0, limit 4 GiB,
/// present, writable, expand-up data) and alignment checks are off. So a data access through
/// ES, SS or DS needs no segment check (its linear address is its offset), and an EIP's linear
/// page is its own page.
pub const MODE_FLAT: u32 = 1 << 7;

fn flat_data(cpu: &Cpu) -> bool {
    use crate::state::attr;
    let flat = |sr: SegReg| {
        let g = &cpu.s.seg[sr as usize];
        g.base == 0
            && g.limit == u32::MAX
            && g.attr & (attr::P | attr::S | attr::CODE | attr::RW | attr::DC)
                == attr::P | attr::S | attr::RW
    };
    let cs = &cpu.s.seg[SegReg::Cs as usize];
    cs.base == 0
        && cs.limit == u32::MAX
        && flat(SegReg::Es)
        && flat(SegReg::Ss)
        && flat(SegReg::Ds)
        && cpu.alignment_checks_off()
}

impl Cpu {
    /// Physical address of CS:`eip` for instruction fetch, without raising anything (CR2 is
    /// left as it was).
    pub fn code_phys<B: CpuBus>(&mut self, bus: &mut B, eip: u32) -> Option<u32> {
        let lin = self.s.seg[SegReg::Cs as usize].base.wrapping_add(eip);
        let cr2 = self.s.cr2;
        let user = self.s.cpl == 3;
        let p = self.translate(bus, lin, Access::Exec, user).ok();
        self.s.cr2 = cr2;
        p
    }

    /// Decode the instruction at CS:`eip` for translation: `None` if it cannot be fetched
    /// without a fault or does not lie wholly inside one page. The page is marked as holding
    /// code, so writes to it bump its generation.
    pub fn decode_for_translation<B: CpuBus>(
        &mut self,
        bus: &mut B,
        eip: u32,
    ) -> Option<(Instruction, u32)> {
        let phys = self.code_phys(bus, eip)?;
        let cr2 = self.s.cr2;
        let r = self.decode_at(bus, eip);
        self.s.cr2 = cr2;
        let i = r.ok()?;
        if (phys & 0xFFF) + i.len() as u32 > 0x1000 {
            return None;
        }
        self.icache.claim_page(phys >> 12);
        Some((i, phys))
    }

    /// The instruction at CS:`eip` if it decodes but crosses into the next page (translations
    /// run it with `exec_fresh`, which decodes it again: the second page is not tracked).
    pub fn decode_straddling<B: CpuBus>(&mut self, bus: &mut B, eip: u32) -> Option<Instruction> {
        let phys = self.code_phys(bus, eip)?;
        let cr2 = self.s.cr2;
        let r = self.decode_at(bus, eip);
        self.s.cr2 = cr2;
        let i = r.ok()?;
        ((phys & 0xFFF) + i.len() as u32 > 0x1000).then_some(i)
    }

    /// Fetch, decode and execute the instruction at CS:EIP as `exec_one` does (a fetch fault is
    /// delivered). For code whose bytes translations cannot track.
    pub fn exec_fresh<B: CpuBus>(&mut self, bus: &mut B, entry_flags: u32) -> u32 {
        let here = self.s.eip;
        match self.decode_at(bus, here) {
            Ok(i) => self.exec_one(bus, &i, entry_flags),
            Err(f) => {
                self.start_eip = here;
                self.saved_gpr = self.s.gpr;
                self.saved_flags = self.s.eflags;
                let shutdown = self.raise_at(bus, f, here);
                exec_result::LEAVE
                    | exec_result::FAULTED
                    | if shutdown { exec_result::SHUTDOWN } else { 0 }
            }
        }
    }

    /// Current generation of a physical page that holds code (`None` if never claimed).
    pub fn code_page_gen(&self, page: u32) -> Option<u32> {
        self.icache.page_gen(page)
    }

    /// Mark `phys..phys+len` (inside one page) as holding code that a translation took in
    /// without decoding it through the cache (`decode_clean`): writes to it bump the page's
    /// generation.
    pub fn claim_code_bytes(&mut self, phys: u32, len: u32) {
        self.icache.claim_page(phys >> 12);
        self.icache.mark_bytes(phys, len);
    }

    /// Mark a physical page as holding code and return its generation.
    pub fn claim_code_page(&mut self, page: u32) -> u32 {
        self.icache.claim_page(page)
    }

    /// Count `n` instructions as retired (the retired count and the TSC).
    #[inline]
    pub fn retire(&mut self, n: u64) {
        self.instret += n;
        self.s.tsc = self.s.tsc.wrapping_add(n);
    }

    /// Read `size` bytes of data at seg:off with every check (segmentation, alignment,
    /// paging); `rmw` also checks that the operand is writable (read-modify-write).
    #[inline]
    pub fn data_read<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
        rmw: bool,
    ) -> Result<u32, Fault> {
        if rmw {
            self.read_mem_rmw(bus, seg, off, size)
        } else {
            self.read_mem(bus, seg, off, size)
        }
    }

    /// Write `size` bytes of data at seg:off with every check. Returns whether the write
    /// hit cached code (the running translation may be stale: leave it).
    #[inline]
    pub fn data_write<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        size: u32,
        v: u32,
    ) -> Result<bool, Fault> {
        self.icache.code_written = false;
        self.write_mem(bus, seg, off, size, v)?;
        Ok(std::mem::take(&mut self.icache.code_written))
    }

    /// Deliver `f` raised by the instruction at `eip` (registers must hold their values at
    /// that instruction's start). Returns true on a triple fault.
    pub fn raise_at<B: CpuBus>(&mut self, bus: &mut B, f: Fault, eip: u32) -> bool {
        self.start_eip = eip;
        self.s.eip = eip;
        self.shadow_next = false;
        matches!(self.deliver_exception(bus, f), StepEvent::Shutdown)
    }

    /// Execute the decoded instruction `i` (at `i.ip32()`) exactly as a block of `run` does,
    /// including fault delivery. `entry_flags` are EFLAGS.IF|TF|RF when the region was
    /// entered: a change of TF or RF asks to leave, and so does IF becoming set when it was
    /// clear at entry (an interrupt held back then may now be taken). IF cleared, or set again
    /// after it was set at entry, needs no check: no interrupt was pending at entry with IF
    /// set, and one only becomes pending at an exit (I/O, the budget), never inside a region.
    /// Returns [`exec_result`] bits.
    pub fn exec_one<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction, entry_flags: u32) -> u32 {
        use exec_result::*;
        let here = i.ip32();
        let code32 = self.s.code32();
        self.s.eip = here;
        self.start_eip = here;
        self.saved_gpr = self.s.gpr;
        self.saved_flags = self.s.eflags;
        self.icache.code_written = false;
        self.leave_block = false;
        let mode = mode_key(self);
        let next = if code32 {
            i.next_ip32()
        } else {
            i.next_ip32() & 0xFFFF
        };
        self.s.eip = next;
        if let Err(f) = self.execute(bus, i) {
            self.s.gpr = self.saved_gpr;
            self.s.eflags = self.saved_flags;
            let shutdown = self.raise_at(bus, f, here);
            return LEAVE | FAULTED | if shutdown { SHUTDOWN } else { 0 };
        }
        self.retire(1);
        let mut r = 0;
        if self.s.eip != next {
            r |= BRANCHED;
        }
        if self.shadow_next {
            self.shadow_next = false;
            self.s.int_shadow = true;
            return r | LEAVE;
        }
        if self.io_done {
            self.io_done = false;
            return r | LEAVE | IO;
        }
        if self.s.halted
            || self.icache.code_written
            || self.leave_block
            || mode_key(self) != mode
            || (self.s.eflags ^ entry_flags) & (flags::TF | flags::RF) != 0
            || self.s.eflags & !entry_flags & flags::IF != 0
        {
            r |= LEAVE;
        }
        r
    }

    /// Execute the x87 instruction `i` (at `i.ip32()`) for translated code that did not write
    /// its registers back: as `exec_one` would, for an instruction that reads no general
    /// register but its memory operand's base and index (which the caller has stored) and
    /// writes none, nor EFLAGS (see [`x87_plain`]). A fault is returned, not delivered: the
    /// caller writes its registers back and delivers it with [`Cpu::raise_at`]; nothing the
    /// interpreter would have restored has changed. `Ok(true)`: the instruction wrote cached
    /// code (leave). EIP is left at the next instruction. The 8086 and 286 models (no x87
    /// fitted) retire it as a no-op, as `execute` does.
    ///
    /// `C` is the instruction's class (`x87::class::of` its mnemonic, or `GENERIC`).
    #[inline]
    pub fn exec_x87_translated<B: CpuBus, const C: u8>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<bool, Fault> {
        let here = i.ip32();
        let next = if self.s.code32() {
            i.next_ip32()
        } else {
            i.next_ip32() & 0xFFFF
        };
        self.start_eip = here;
        self.s.eip = next;
        if self.s.model.is_386_plus() {
            self.icache.code_written = false;
            self.exec_x87_class::<B, C>(bus, i)?;
        }
        self.retire(1);
        Ok(std::mem::take(&mut self.icache.code_written))
    }

    /// Can translated code assume that alignment checks are off (CR0.AM or EFLAGS.AC clear,
    /// or CPL < 3)?
    pub fn alignment_checks_off(&self) -> bool {
        self.s.cpl != 3 || self.s.cr0 & cr0::AM == 0 || self.s.eflags & flags::AC == 0
    }

    /// Make this CPU a copy of `other`'s architectural state, retired count and TLB (the
    /// lockstep checker's shadow interpreter starts each comparison this way).
    pub fn copy_state_from(&mut self, other: &mut Cpu) {
        self.s = other.s.clone();
        self.instret = other.instret;
        self.tlb = other.tlb.clone();
        self.data_breakpoints = other.data_breakpoints;
        self.icache.follow_generations(&mut other.icache);
    }

    /// Changes on full TLB flushes (CR0/CR3/CR4 writes, task switches), not on INVLPG: a
    /// translator that keeps this and `invlpg_count` drops only the pages INVLPG named
    /// (`invlpg_since`) when only the latter moved.
    pub fn tlb_flush_epoch(&self) -> u64 {
        self.tlb_flush_epoch
    }

    /// INVLPGs executed so far.
    pub fn invlpg_count(&self) -> u64 {
        self.invlpg_log.count
    }

    /// The linear pages (addresses & !0xFFF) invalidated by the INVLPGs after the first
    /// `seen`; `None` if the log no longer holds them all (drop everything then).
    pub fn invlpg_since(&self, seen: u64) -> Option<impl Iterator<Item = u32> + '_> {
        let l = &self.invlpg_log;
        (l.count.wrapping_sub(seen) <= InvlpgLog::LEN as u64)
            .then(|| (seen..l.count).map(|n| l.pages[n as usize % InvlpgLog::LEN]))
    }

    /// Bumped whenever a physical page starts holding cached code.
    pub fn code_epoch(&self) -> u64 {
        self.icache.code_epoch
    }

    /// Bumped whenever cached code anywhere was dropped (a page generation changed).
    pub fn code_gen_epoch(&self) -> u64 {
        self.icache.gen_epoch
    }

    /// Host address of the bitmap of the bytes of a code page that hold cached instructions
    /// (bit `b % 64` of word `b / 64` for byte `b`): writes that touch none of them change no
    /// cached code. One more zero word follows the page's 64 (so a 16-bit read at any byte's
    /// bit stays inside). Valid until `code_gen_epoch` changes; `None` if the page has none (a
    /// page claimed as a whole counts as all code).
    pub fn code_bytes_map(&self, page: u32) -> Option<*const u64> {
        self.icache.code_bytes_of(page).map(|b| b.as_ptr())
    }

    /// Does the physical page hold cached code (so writes to it must go through the CPU)?
    pub fn is_code_page(&self, page: u32) -> bool {
        self.icache.is_code_page(page)
    }

    /// Physical address of a data access at linear `lin` with the current privilege that just
    /// succeeded (for filling a translator's host-pointer cache); `None` if it would fault.
    pub fn data_phys<B: CpuBus>(&mut self, bus: &mut B, lin: u32, write: bool) -> Option<u32> {
        let cr2 = self.s.cr2;
        let acc = if write { Access::Write } else { Access::Read };
        let user = self.s.cpl == 3;
        let p = self.translate(bus, lin, acc, user).ok();
        self.s.cr2 = cr2;
        p
    }

    /// `data_phys` for an access that has not happened (yet): only where translating needs no
    /// accessed or dirty bit set in the page tables (the walk would write them), so looking
    /// changes nothing the guest can see. `None` also where `data_phys` is `None`.
    pub fn data_phys_clean<B: CpuBus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        write: bool,
    ) -> Option<u32> {
        if !self.walk_is_clean(bus, lin, write) {
            return None;
        }
        self.data_phys(bus, lin, write)
    }

    /// Whether translating `lin` for an access needs no accessed (or, for a `write`, dirty)
    /// bit set in the page tables: true without paging.
    fn walk_is_clean<B: CpuBus>(&self, bus: &mut B, lin: u32, write: bool) -> bool {
        if self.s.cr0 & cr0::PG == 0 {
            return true;
        }
        const P: u32 = 1;
        const A: u32 = 0x20;
        const D: u32 = 0x40;
        let pde = bus.read32((self.s.cr3 & 0xFFFF_F000) | ((lin >> 20) & 0xFFC));
        let need = P | A | if write { D } else { 0 };
        if pde & 0x80 != 0 && self.s.cr4 & crate::state::cr4::PSE != 0 {
            return pde & need == need;
        }
        if pde & (P | A) != P | A {
            return false;
        }
        let pte = bus.read32((pde & 0xFFFF_F000) | ((lin >> 10) & 0xFFC));
        pte & need == need
    }

    /// The instruction at CS:`eip` and its physical address, for code that has not run (yet):
    /// only where fetching it needs no accessed bit set in the page tables and it lies wholly
    /// inside its page, so looking changes nothing the guest can see. Unlike
    /// `decode_for_translation`, the page is not claimed as code.
    pub fn decode_clean<B: CpuBus>(&mut self, bus: &mut B, eip: u32) -> Option<(Instruction, u32)> {
        let lin = self.s.seg[SegReg::Cs as usize].base.wrapping_add(eip);
        if self.s.model == CpuModel::I8086 || !self.walk_is_clean(bus, lin, false) {
            return None;
        }
        let phys = self.code_phys(bus, eip)?;
        let mut buf = [0u8; 15];
        let n = (0x1000 - (phys & 0xFFF) as usize).min(15);
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = bus.read8(phys + k as u32);
        }
        let bitness = if self.s.code32() { 32 } else { 16 };
        let mut dec = iced_x86::Decoder::with_ip(
            bitness,
            &buf[..n],
            eip as u64,
            iced_x86::DecoderOptions::NONE,
        );
        let mut i = Instruction::default();
        dec.decode_out(&mut i);
        let last = eip.wrapping_add(i.len() as u32).wrapping_sub(1);
        let fits = last >= eip && last <= self.s.seg[SegReg::Cs as usize].limit;
        if i.is_invalid() || !fits || !crate::exec::supported(self.s.model, &i) {
            return None;
        }
        if self.s.model == CpuModel::I80286 && i.len() > 10 {
            return None;
        }
        crate::x87::stash_fop(&mut i, &buf[..n]);
        Some((i, phys))
    }

    /// Is this the 8086 model (which always single-steps)?
    pub fn is_8086(&self) -> bool {
        self.s.model == CpuModel::I8086
    }
}

/// Does `i` leave the segment registers, EFLAGS.AC, CR0 and the privilege level alone when it
/// completes without a fault? (Then translated code need not recompute its segment checks after
/// running it through the interpreter.) A conservative list: x87/MMX and plain data
/// instructions; a fault changes everything, but it also ends the translated run.
pub fn keeps_segments(i: &Instruction) -> bool {
    use iced_x86::Mnemonic::*;
    let m = i.mnemonic();
    crate::x87::is_x87(m)
        || matches!(
            m,
            Movsb
                | Movsw
                | Movsd
                | Stosb
                | Stosw
                | Stosd
                | Lodsb
                | Lodsw
                | Lodsd
                | Cmpsb
                | Cmpsw
                | Cmpsd
                | Scasb
                | Scasw
                | Scasd
                | Cpuid
                | Rdtsc
                | Bswap
                | Cmpxchg
                | Cmpxchg8b
                | Xadd
                | Xchg
                | Bt
                | Bts
                | Btr
                | Btc
                | Bsf
                | Bsr
                | Shld
                | Shrd
                | Shl
                | Shr
                | Sar
                | Rol
                | Ror
                | Rcl
                | Rcr
                | Cdq
                | Cwde
                | Cbw
                | Cwd
                | Leave
                | Lahf
                | Sahf
                | Mul
                | Imul
                | Div
                | Idiv
                | Aaa
                | Aas
                | Aad
                | Aam
                | Daa
                | Das
                | Cmovo
                | Cmovno
                | Cmovb
                | Cmovae
                | Cmove
                | Cmovne
                | Cmovbe
                | Cmova
                | Cmovs
                | Cmovns
                | Cmovp
                | Cmovnp
                | Cmovl
                | Cmovge
                | Cmovle
                | Cmovg
                | Seto
                | Setno
                | Setb
                | Setae
                | Sete
                | Setne
                | Setbe
                | Seta
                | Sets
                | Setns
                | Setp
                | Setnp
                | Setl
                | Setge
                | Setle
                | Setg
                | Clc
                | Stc
                | Cmc
                | Cld
                | Std
                | Xlatb
                | Pushfd
                | Pushf
                | Movzx
                | Movsx
                | Mov
                | Add
                | Adc
                | Sub
                | Sbb
                | And
                | Or
                | Xor
                | Cmp
                | Test
                | Inc
                | Dec
                | Neg
                | Not
                | Lea
                | Nop
        ) && !(m == Mov && {
            let r = i.op0_register();
            r.is_segment_register() || r.is_cr() || r.is_dr() || r.is_tr()
        })
}

/// Is `i` an x87 instruction that reads no general register or EFLAGS except for its memory
/// operand's address, and writes neither, except AX for FNSTSW/FSTSW AX ([`x87_writes_ax`])?
/// Translated code may run it with [`Cpu::exec_x87_translated`] without writing back or
/// reloading its registers (but those). Not FCOMI/FUCOMI(P) (EFLAGS), FCMOVcc (reads
/// EFLAGS), nor the environment and state loads/stores (rare; they stay with the generic path).
pub fn x87_plain(i: &Instruction) -> bool {
    use iced_x86::Mnemonic::*;
    let m = i.mnemonic();
    crate::x87::is_x87(m)
        && !matches!(
            m,
            Fcomi
                | Fcomip
                | Fucomi
                | Fucomip
                | Fcmovb
                | Fcmovbe
                | Fcmove
                | Fcmovnb
                | Fcmovnbe
                | Fcmovne
                | Fcmovnu
                | Fcmovu
                | Fnstenv
                | Fstenv
                | Fldenv
                | Fnsave
                | Fsave
                | Frstor
        )
}

/// FNSTSW AX / FSTSW AX: the one `x87_plain` instruction that writes a general register (the
/// low half of EAX; EAX must be in the state before, and is changed there).
pub fn x87_writes_ax(i: &Instruction) -> bool {
    use iced_x86::Mnemonic::*;
    matches!(i.mnemonic(), Fnstsw | Fstsw) && i.op0_kind() == iced_x86::OpKind::Register
}

/// The most recent INVLPG'd linear pages, for translators that cache by linear page.
#[derive(Clone, Default)]
pub(crate) struct InvlpgLog {
    count: u64,
    pages: [u32; InvlpgLog::LEN],
}

impl InvlpgLog {
    const LEN: usize = 16;

    pub(crate) fn push(&mut self, lin: u32) {
        self.pages[self.count as usize % Self::LEN] = lin & !0xFFF;
        self.count += 1;
    }
}
