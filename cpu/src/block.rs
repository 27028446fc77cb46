//! Straight-line blocks of decoded instructions and the interpreter's run loop over them.
//!
//! `Cpu::run` looks a block up once (by physical address and code size), then executes its
//! instructions back to back; it leaves a block at any branch, at anything that changes how
//! the following bytes decode or translate (CR writes, TLB flushes, writes to cached code), at
//! I/O (so the board can react), and whenever single-instruction semantics matter (TF, the
//! interrupt shadow, HLT). Everything unusual goes through `Cpu::step`, the oracle.

use std::sync::atomic::{AtomicUsize, Ordering};

use iced_x86::{FlowControl, Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fast::{classify, elide_dead_flags, fuse_tail, Fast};
use crate::fault::StepEvent;
use crate::memory::Access;
use crate::state::{flags, CpuModel, SegReg};
use crate::Cpu;

/// `run_watched`'s news counter for runs without one.
static NO_NEWS_COUNTER: AtomicUsize = AtomicUsize::new(0);
const NO_NEWS: (&AtomicUsize, usize) = (&NO_NEWS_COUNTER, 0);

/// Most instructions in one block.
const MAX_BLOCK: usize = 64;
const SLOTS: usize = 32768;

/// A decoded run of instructions inside one physical page.
pub(crate) struct Block {
    phys: u32,
    key: u32,
    gen: u32,
    /// Offset (EIP) of the first instruction, and the last byte of the block.
    eip: u32,
    last: u32,
    /// The decoded instructions (read by generic forms only) and, apart, what the hot loop
    /// reads: each one's fast form and the EIP after it.
    instrs: Vec<Instruction>,
    forms: Vec<Form>,
    /// Some instruction skips its dead flags (`elide_dead_flags`), or the tail is a fused
    /// pair: the block must run whole.
    whole: bool,
    /// The last two instructions run as one fused form (`fuse_tail`), the next-to-last entry.
    fused: bool,
    /// The block runs only where CS.limit >= this: its last byte, or a fused Jcc's target.
    need_limit: u32,
    /// Only fast forms: running the block changes no segment, mode, CPL or translation.
    pure: bool,
    /// Runs left before a watched run (`Cpu::run_watched`) stops here again for its caller
    /// (0: stop before running it; a new block starts at 0), and what it was set to.
    watch: u32,
    watch_set: u32,
}

/// An instruction's fast form and the EIP after it (masked to the block's code size).
#[derive(Clone, Copy)]
struct Form {
    fast: Fast,
    next: u32,
}

/// Direct-mapped table of blocks.
pub struct BlockTable {
    slots: Vec<Option<Block>>,
}

impl Default for BlockTable {
    fn default() -> Self {
        BlockTable {
            slots: (0..SLOTS).map(|_| None).collect(),
        }
    }
}

impl BlockTable {
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }
}

#[inline]
fn slot(phys: u32, key: u32) -> usize {
    ((phys ^ (phys >> 12) ^ (key << 11)) as usize) & (SLOTS - 1)
}

/// Why `Cpu::run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction budget is used up.
    Budget,
    /// An I/O instruction ran: the board should look at its devices.
    Io,
    /// The CPU halted (HLT, waiting for an interrupt).
    Halted,
    /// Triple fault.
    Shutdown,
    /// An emulator breakpoint or watchpoint stopped the run (see `Cpu::take_debug_stop`).
    Debug,
    /// The lockstep checker found translated code and the interpreter disagreeing (never
    /// returned by the interpreter itself; see the `jit` crate).
    Diverged,
}

/// How a block run ended: go on (with `run`'s checks), or return from `run_once`.
enum BlockEnd {
    Next,
    Exit(Option<RunExit>),
}

impl Cpu {
    /// Run up to `budget` instructions (interrupt deliveries count as one). Returns why it
    /// stopped and how many were executed.
    pub fn run<B: CpuBus>(&mut self, bus: &mut B, budget: u64) -> (RunExit, u64) {
        let mut done = 0u64;
        while done < budget {
            // Blocks chain into each other here (see `run_block`): the same decisions as
            // calling `run_once` in a loop, without the round trips.
            let (n, exit) =
                self.run_round::<B, true, false>(bus, budget - done, 0, &mut 0, NO_NEWS);
            done += n;
            if let Some(e) = exit {
                return (e, done);
            }
        }
        (RunExit::Budget, done)
    }

    /// Would `run` execute the next instruction alone through `step` (interrupt shadow,
    /// halt, TF/RF, armed breakpoints, the 8086, a pending interrupt or NMI)? Blocks — and
    /// translated regions — run only when this is false.
    #[inline]
    pub fn needs_step<B: CpuBus>(&mut self, bus: &mut B) -> bool {
        self.s.int_shadow
            || self.s.halted
            || self.s.eflags & (flags::TF | flags::RF) != 0
            || self.breakpoints_armed()
            || self.s.model == CpuModel::I8086
            || (self.s.eflags & flags::IF != 0 && bus.intr_pending())
            || bus.nmi_pending()
    }

    /// One round of `run`: one instruction through `step`, or one block (`budget` > 0).
    /// Returns how many instructions ran and, if `run` should return, why.
    pub fn run_once<B: CpuBus>(&mut self, bus: &mut B, budget: u64) -> (u64, Option<RunExit>) {
        self.run_round::<B, false, false>(bus, budget, 0, &mut 0, NO_NEWS)
    }

    /// `run_once`, going on into the blocks after it as `run` would, but only into blocks
    /// with runs left on their watch count (each run takes one); a block at 0 is left to the
    /// caller, which decides whether it runs here. The first block's count is set to
    /// `*watch`, and `*watch` becomes the runs it had since its count was last set (0 if no
    /// block ran first). This is how a dispatcher with translations of hot code (the JIT)
    /// keeps interpreting cold code without a round trip per block: it sees a block again
    /// after that many more runs, or once it calls `unwatch` (a translation starts there).
    /// The run also ends at a block boundary once `news.0` no longer holds `news.1` (another
    /// thread has something for the caller: compiled code to install).
    pub fn run_watched<B: CpuBus>(
        &mut self,
        bus: &mut B,
        budget: u64,
        watch: &mut u32,
        news: (&AtomicUsize, usize),
    ) -> (u64, Option<RunExit>) {
        let set = std::mem::take(watch);
        self.run_round::<B, true, true>(bus, budget, set, watch, news)
    }

    /// Stop watched runs (`run_watched`) before the block at physical address `phys` and
    /// EIP `eip`, if there is one.
    pub fn unwatch(&mut self, phys: u32, eip: u32) {
        for key in [0, 1] {
            if let Some(b) = &mut self.icache.blocks.slots[slot(phys, key)] {
                if b.phys == phys && b.eip == eip {
                    b.watch = 0;
                    b.watch_set = 0;
                }
            }
        }
    }

    /// Stop watched runs before every block.
    pub fn unwatch_all(&mut self) {
        for b in self.icache.blocks.slots.iter_mut().flatten() {
            b.watch = 0;
            b.watch_set = 0;
        }
    }

    /// `run_once`, or with `CHAIN` as many blocks in a row as `run` would run one by one
    /// (with `WATCH`, only into blocks with runs left: `run_watched`).
    #[inline(always)]
    fn run_round<B: CpuBus, const CHAIN: bool, const WATCH: bool>(
        &mut self,
        bus: &mut B,
        budget: u64,
        watch: u32,
        runs: &mut u32,
        news: (&AtomicUsize, usize),
    ) -> (u64, Option<RunExit>) {
        if !self.needs_step(bus) {
            match self.run_block::<B, CHAIN, WATCH>(bus, budget, watch, runs, news) {
                Ok((n, exit)) => return (n, exit),
                // No block here (fetch fault, unsupported opcode...; or a block that must
                // run whole and does not fit the budget): `step` takes the instruction.
                Err(()) => {}
            }
        }
        let mut done = 1;
        match self.step(bus) {
            StepEvent::Executed => {
                if self.debug_stop_pending() {
                    // A breakpoint stop executed nothing.
                    if matches!(self.emu.stop, Some(crate::DebugStop::Breakpoint(_))) {
                        done -= 1;
                    }
                    self.io_done = false;
                    return (done, Some(RunExit::Debug));
                }
                if self.io_done {
                    self.io_done = false;
                    return (done, Some(RunExit::Io));
                }
                (done, None)
            }
            StepEvent::Halted => (done, Some(RunExit::Halted)),
            StepEvent::Shutdown => (done, Some(RunExit::Shutdown)),
        }
    }

    /// Find or build the block at CS:EIP and run it; with `CHAIN`, go on with the next block
    /// while `run` would (budget left, `needs_step` false). `Err` when no block can start
    /// here and nothing ran.
    fn run_block<B: CpuBus, const CHAIN: bool, const WATCH: bool>(
        &mut self,
        bus: &mut B,
        budget: u64,
        watch: u32,
        runs: &mut u32,
        news: (&AtomicUsize, usize),
    ) -> Result<(u64, Option<RunExit>), ()> {
        let mut executed = 0u64;
        let mut again: Option<usize> = None;
        let mut first = true;
        loop {
            let si = match again.take() {
                Some(si) => si,
                None => {
                    let Some(si) = self.find_block(bus) else {
                        return if executed == 0 {
                            Err(())
                        } else {
                            Ok((executed, None))
                        };
                    };
                    si
                }
            };
            {
                // A block with elided flags runs whole or not at all: what is left of the
                // budget goes instruction by instruction through `step`.
                let b = self.icache.blocks.slots[si].as_mut().unwrap();
                if b.whole && b.forms.len() as u64 > budget - executed {
                    return if executed == 0 {
                        Err(())
                    } else {
                        Ok((executed, None))
                    };
                }
                if WATCH {
                    if first {
                        *runs = b.watch_set - b.watch;
                        b.watch = watch;
                        b.watch_set = watch;
                    } else if b.watch == 0 || news.0.load(Ordering::Relaxed) != news.1 {
                        return Ok((executed, None));
                    } else {
                        b.watch -= 1;
                    }
                }
                first = false;
            }
            match self.exec_block(bus, si, budget - executed) {
                (n, BlockEnd::Next) => {
                    executed += n;
                    if !CHAIN || executed >= budget || self.needs_step(bus) {
                        return Ok((executed, None));
                    }
                    // A pure block that jumped back to its own start, with paging off and no
                    // cached code written, is what `find_block` would find again.
                    let b = self.icache.blocks.slots[si].as_ref().unwrap();
                    if b.pure
                        && self.s.eip == b.eip
                        && !self.icache.code_written
                        && self.s.cr0 & crate::state::cr0::PG == 0
                    {
                        again = Some(si);
                    }
                }
                (n, BlockEnd::Exit(e)) => return Ok((executed + n, e)),
            }
        }
    }

    /// The slot of a valid block at CS:EIP (built if need be), or `None` where no block can
    /// start (fetch fault, unsupported opcode, CS limit: `step`'s business).
    #[inline(always)]
    fn find_block<B: CpuBus>(&mut self, bus: &mut B) -> Option<usize> {
        let eip = self.s.eip;
        let cs = &self.s.seg[SegReg::Cs as usize];
        let (base, limit) = (cs.base, cs.limit);
        let key = self.s.code32() as u32;
        let user = self.s.cpl == 3;
        let lin = base.wrapping_add(eip);
        let phys = self.translate(bus, lin, Access::Exec, user).ok()?;
        let si = slot(phys, key);
        let page = phys >> 12;
        let valid = match &self.icache.blocks.slots[si] {
            Some(b) => {
                b.phys == phys
                    && b.key == key
                    && b.eip == eip
                    && self.icache.page_gen(page) == Some(b.gen)
            }
            None => false,
        };
        if !valid {
            let b = self.build_block(bus, eip, phys, key)?;
            self.icache.blocks.slots[si] = Some(b);
        }
        let (last, need) = self.icache.blocks.slots[si]
            .as_ref()
            .map_or((0, 0), |b| (b.last, b.need_limit));
        if need > limit || last < eip {
            return None; // the limit check is `step`'s business
        }
        Some(si)
    }

    /// Run up to `budget` (> 0) instructions of the block in slot `si`, which starts at EIP.
    #[inline(always)]
    fn exec_block<B: CpuBus>(&mut self, bus: &mut B, si: usize, budget: u64) -> (u64, BlockEnd) {
        let (instrs, forms, len, fused) = {
            let b = self.icache.blocks.slots[si].as_ref().unwrap();
            (b.instrs.as_ptr(), b.forms.as_ptr(), b.forms.len(), b.fused)
        };
        let entry_flags = self.s.eflags & (flags::IF | flags::TF);
        self.icache.code_written = false;
        self.leave_block = false;
        // A fused tail pair runs as its first entry (and such blocks run whole: `run_block`).
        let n = (len - fused as usize).min(budget as usize);
        let mut completed = true;
        let entry_eip = self.s.eip;
        // Instructions of this run already added to the retired-instruction and TSC counts,
        // and instructions completed when the loop ends.
        let mut synced = 0u64;
        let mut done = n;
        // The block's instructions stay put while it runs: nothing below replaces a slot of
        // the block table (only `find_block` does), and invalidation only bumps a page
        // generation.
        for k in 0..n {
            // SAFETY: k < len of the live block's vectors (see above).
            let (instr, form) = unsafe { (&*instrs.add(k), &*forms.add(k)) };
            let fast = &form.fast;
            let generic = matches!(fast, Fast::Generic);
            if generic {
                // Retired-instruction and TSC counts are kept up to date before anything that
                // may read them (RDTSC, RDMSR, exception delivery).
                let pending = k as u64 - synced;
                self.instret += pending;
                self.s.tsc = self.s.tsc.wrapping_add(pending);
                synced = k as u64;
                // Fast forms change no register or flag before they can fault, and never
                // branch except as the last instruction of a block.
                self.start_eip = self.s.eip;
                self.saved_gpr = self.s.gpr;
                self.saved_flags = self.s.eflags;
            }
            let next = form.next;
            self.s.eip = next;
            if let Err(f) = self.execute_fast(bus, instr, fast) {
                // The instructions before this one ran straight on (no branch mid-block).
                let here = if k == 0 {
                    entry_eip
                } else {
                    // SAFETY: k - 1 < len.
                    unsafe { (*forms.add(k - 1)).next }
                };
                if generic {
                    self.s.gpr = self.saved_gpr;
                    self.s.eflags = self.saved_flags;
                }
                self.start_eip = here;
                self.s.eip = here;
                self.shadow_next = false;
                let pending = k as u64 - synced;
                self.instret += pending;
                self.s.tsc = self.s.tsc.wrapping_add(pending);
                let e = match self.deliver_exception(bus, f) {
                    StepEvent::Shutdown => Some(RunExit::Shutdown),
                    _ => None,
                };
                return (k as u64 + 1, BlockEnd::Exit(e));
            }
            if !generic {
                continue;
            }
            // Only generic instructions can branch mid-block, halt, do I/O, open an interrupt
            // shadow, write code or change translations and flags that matter here.
            if self.shadow_next {
                self.shadow_next = false;
                self.s.int_shadow = true;
                completed = false;
                done = k + 1;
                break;
            }
            if self.io_done {
                self.io_done = false;
                let pending = k as u64 + 1 - synced;
                self.instret += pending;
                self.s.tsc = self.s.tsc.wrapping_add(pending);
                return (k as u64 + 1, BlockEnd::Exit(Some(RunExit::Io)));
            }
            if self.s.eip != next
                || self.s.halted
                || self.icache.code_written
                || self.leave_block
                || self.s.eflags & (flags::IF | flags::TF) != entry_flags
            {
                completed = false;
                done = k + 1;
                break;
            }
        }
        // A fused pair's second instruction cannot fault (see `need_limit`).
        let executed = done as u64 + (fused && completed) as u64;
        let pending = executed - synced;
        self.instret += pending;
        self.s.tsc = self.s.tsc.wrapping_add(pending);
        (executed, BlockEnd::Next)
    }

    fn build_block<B: CpuBus>(
        &mut self,
        bus: &mut B,
        eip: u32,
        phys: u32,
        key: u32,
    ) -> Option<Block> {
        let gen = self.icache.claim_page(phys >> 12);
        let mut instrs = Vec::new();
        let mut at = eip;
        let page_left = 0x1000 - (phys & 0xFFF);
        let mut used = 0u32;
        while instrs.len() < MAX_BLOCK {
            let Ok(i) = self.decode_at(bus, at) else {
                break;
            };
            let len = i.len() as u32;
            if used + len > page_left {
                break;
            }
            used += len;
            // HLT ends a block too: what follows it is often data, not code.
            let end = i.flow_control() != FlowControl::Next || i.mnemonic() == Mnemonic::Hlt;
            instrs.push(i);
            if end {
                break;
            }
            at = if key == 1 {
                at.wrapping_add(len)
            } else {
                at.wrapping_add(len) & 0xFFFF
            };
            if key == 0 && at < eip {
                break; // IP wrapped
            }
        }
        if instrs.is_empty() {
            return None;
        }
        let mut fasts: Vec<Fast> = instrs.iter().map(classify).collect();
        let fasts_pure = fasts.iter().all(|f| !matches!(f, Fast::Generic));
        let elided = elide_dead_flags(&mut fasts);
        let ipmask = if key == 1 { u32::MAX } else { 0xFFFF };
        let fall = instrs[instrs.len() - 1].next_ip32() & ipmask;
        let last = eip.wrapping_add(used - 1);
        let fused_target = fuse_tail(&mut fasts, fall);
        let forms = instrs
            .iter()
            .zip(fasts)
            .map(|(i, fast)| Form {
                fast,
                next: i.next_ip32() & ipmask,
            })
            .collect();
        let pure = fasts_pure;
        Some(Block {
            pure,
            watch: 0,
            watch_set: 0,
            whole: elided || fused_target.is_some(),
            fused: fused_target.is_some(),
            need_limit: fused_target.map_or(last, |t| t.max(last)),
            phys,
            key,
            gen,
            eip,
            last,
            instrs,
            forms,
        })
    }
}
