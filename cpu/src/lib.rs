//! ironbox CPU: the architectural state of an x86 processor (8086 to Pentium II) and the
//! reference interpreter that executes exactly one instruction per `Cpu::step`.
//!
//! The CPU sees the world only through [`CpuBus`]. Guest exceptions are [`Fault`] values,
//! delivered through the IVT/IDT by the interpreter; a triple fault ends a step with
//! [`StepEvent::Shutdown`].

mod block;
pub mod bus;
mod debug;
mod decode;
mod exec;
mod fast;
pub mod fault;
mod interrupt;
pub mod memory;
mod operand;
mod protected;
pub mod state;
pub mod translator;
pub mod x87;

mod ops;

pub use block::RunExit;
pub use bus::{CpuBus, FlatBus};
pub use debug::{DebugStop, EmuDebug, WatchKind};
pub use fault::{Fault, StepEvent};
pub use state::{CpuModel, CpuState, SegReg, Segment};

use decode::DecodeCache;
use memory::Tlb;

/// One x86 processor: its state plus the interpreter's caches.
pub struct Cpu {
    pub s: CpuState,
    pub(crate) tlb: Tlb,
    pub(crate) icache: DecodeCache,
    /// Instructions retired since reset.
    pub instret: u64,
    /// EIP of the instruction being executed (faults restart there).
    pub(crate) start_eip: u32,
    /// GPRs at instruction start, restored when an instruction faults.
    pub(crate) saved_gpr: [u32; 8],
    /// EFLAGS at instruction start, restored when an instruction faults.
    pub(crate) saved_flags: u32,
    /// Set by instructions that open an interrupt shadow (STI, MOV SS, POP SS).
    pub(crate) shadow_next: bool,
    /// Set by port I/O, so `run` hands control back to the board.
    pub(crate) io_done: bool,
    /// Set when something a running block assumed changed (TLB flush, debug registers).
    pub(crate) leave_block: bool,
    /// Some DR7 data/I/O breakpoint is enabled (checked on every access).
    pub(crate) data_breakpoints: bool,
    /// Data breakpoints hit by the current instruction (DR6 B0-B3), reported after it.
    pub(crate) dbg_hits: u32,
    /// Emulator-owned breakpoints and watchpoints (a debugger's; never in guest memory).
    pub(crate) emu: debug::EmuDebug,
    /// Some emulator breakpoint or watchpoint is set (forces the single-step path).
    pub(crate) emu_armed: bool,
    /// Bumped by every TLB flush and INVLPG (see `tlb_epoch`).
    pub(crate) tlb_epoch: u64,
    /// Bumped by full TLB flushes only; INVLPGs go to `invlpg_log` (see `tlb_flush_epoch`).
    pub(crate) tlb_flush_epoch: u64,
    pub(crate) invlpg_log: translator::InvlpgLog,
    /// Diagnostics: print every exception delivered (vector, error code, CS:EIP) on stderr.
    pub trace_exceptions: bool,
}

impl Cpu {
    pub fn new(model: CpuModel) -> Cpu {
        Cpu {
            s: CpuState::reset(model),
            tlb: Tlb::default(),
            icache: DecodeCache::default(),
            instret: 0,
            start_eip: 0,
            saved_gpr: [0; 8],
            saved_flags: 0,
            shadow_next: false,
            io_done: false,
            leave_block: false,
            data_breakpoints: false,
            dbg_hits: 0,
            emu: debug::EmuDebug::default(),
            emu_armed: false,
            tlb_epoch: 0,
            tlb_flush_epoch: 0,
            invlpg_log: translator::InvlpgLog::default(),
            trace_exceptions: false,
        }
    }

    /// Processor RESET (INIT keeps the x87 state and some MSRs; we treat both the same).
    pub fn reset(&mut self) {
        let model = self.s.model;
        self.s = CpuState::reset(model);
        self.update_breakpoints();
        self.flush_tlb();
        self.icache.clear();
    }

    /// Forget all cached translations (after CR0/CR3/CR4 changes).
    pub fn flush_tlb(&mut self) {
        self.leave_block = true;
        self.tlb_epoch += 1;
        self.tlb_flush_epoch += 1;
        self.tlb.flush();
    }

    /// Changes whenever cached linear-to-physical translations may have changed (a TLB flush
    /// or INVLPG): translators caching host pointers by linear address drop them.
    pub fn tlb_epoch(&self) -> u64 {
        self.tlb_epoch
    }

    /// Tell the CPU that physical memory was written behind its back (DMA, the debugger), so
    /// cached decodes of it are dropped.
    pub fn invalidate_phys(&mut self, addr: u32, len: u32) {
        self.icache.invalidate_range(addr, len);
    }

    /// Read guest memory at a linear address through the current paging (for debuggers and
    /// diagnostics): `None` where a page is not mapped. Sets accessed bits like a real walk.
    pub fn read_linear<B: CpuBus>(&mut self, bus: &mut B, lin: u32, len: usize) -> Option<Vec<u8>> {
        (0..len as u32)
            .map(|k| {
                let a = lin.wrapping_add(k);
                let cr2 = self.s.cr2;
                let p = self.translate(bus, a, memory::Access::Read, false);
                self.s.cr2 = cr2;
                p.ok().map(|p| bus.read8(p))
            })
            .collect()
    }

    /// Execute one instruction (or deliver one pending interrupt), then return.
    pub fn step<B: CpuBus>(&mut self, bus: &mut B) -> StepEvent {
        // External events are recognised between instructions.
        if !self.s.int_shadow {
            if bus.take_nmi() {
                self.s.halted = false;
                return self.deliver_external(bus, fault::NMI, true);
            }
            if self.s.flag(state::flags::IF) && bus.intr_pending() {
                if let Some(v) = bus.ack_intr() {
                    self.s.halted = false;
                    return self.deliver_external(bus, v, false);
                }
            }
        }
        self.s.int_shadow = false;
        if self.s.halted {
            return StepEvent::Halted;
        }
        self.start_eip = self.s.eip;
        self.saved_gpr = self.s.gpr;
        self.saved_flags = self.s.eflags;
        let trap = self.s.flag(state::flags::TF);
        if self.emu_armed {
            let lin = self.s.seg[SegReg::Cs as usize]
                .base
                .wrapping_add(self.s.eip);
            if self.emu_code_breakpoint(lin) {
                // Stop before the instruction: nothing of it ran (see `take_debug_stop`).
                return StepEvent::Executed;
            }
        }
        if self.breakpoints_armed() && !self.s.flag(state::flags::RF) {
            let lin = self.s.seg[SegReg::Cs as usize]
                .base
                .wrapping_add(self.s.eip);
            let hits = self.code_breakpoint_hits(lin);
            if hits != 0 {
                // An instruction breakpoint is a fault: nothing of the instruction ran.
                self.s.dr[6] = (self.s.dr[6] & !0xF) | hits;
                return self.deliver_exception(bus, Fault::new(fault::DB));
            }
        }
        self.dbg_hits = 0;
        self.emu.watch_hit = None;
        let result = match self.fetch_decode(bus) {
            Ok(instr) => self.execute(bus, &instr),
            Err(f) => Err(f),
        };
        match result {
            Ok(()) => {
                self.instret += 1;
                self.s.tsc = self.s.tsc.wrapping_add(1);
                // RF suppresses instruction breakpoints for exactly one instruction.
                self.s.eflags &= !state::flags::RF;
                if self.shadow_next {
                    self.shadow_next = false;
                    self.s.int_shadow = true;
                }
                self.emu_watch_done(true);
                let hits = std::mem::take(&mut self.dbg_hits);
                if trap || hits != 0 {
                    let bs = if trap { 0x4000 } else { 0 };
                    self.s.dr[6] = (self.s.dr[6] & !0xF) | hits | bs;
                    return self.deliver_exception(bus, Fault::new(fault::DB));
                }
                StepEvent::Executed
            }
            Err(f) => {
                self.emu_watch_done(false);
                // Faults restart the instruction: undo register side effects.
                self.s.gpr = self.saved_gpr;
                self.s.eflags = self.saved_flags;
                self.s.eip = self.start_eip;
                self.shadow_next = false;
                self.deliver_exception(bus, f)
            }
        }
    }
}
