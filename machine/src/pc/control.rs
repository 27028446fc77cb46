//! Run control, shared by every front end that stops and starts the machine (the GDB stub, the
//! display window's pause/resume, a control socket):
//!
//! - [`Pc::run_for`] runs at most N instructions and says why it stopped ([`Stop`]): the guest
//!   ended the run, an emulator breakpoint or watchpoint was hit, a pause was requested, or the
//!   slice is done (N instructions, or the CPU idled in HLT). Callers loop over slices and look
//!   at their own inputs (a socket, a window's events) in between.
//! - [`Pc::step_instruction`] executes exactly one instruction (an interrupt taken first is
//!   delivered and the handler's first instruction executes).
//! - [`PauseHandle`] asks a `run_for` in progress (possibly on another thread) to stop at the
//!   next slice boundary of the board's run loop (a few hundred microseconds at most while the
//!   guest runs).
//! - Emulator breakpoints and watchpoints on linear addresses (kept by the CPU, never written
//!   into guest memory), and debugger memory access through the guest's current paging
//!   ([`Pc::read_linear_debug`], [`Pc::write_linear_debug`], [`Pc::translate_debug`]): these
//!   never set accessed/dirty bits, never fault and never fill the TLB.
//!
//! A run that stopped at a breakpoint resumes by executing that instruction (the breakpoint is
//! skipped once), as a debugger expects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ironbox_cpu::state::{cr0, cr4};
use ironbox_cpu::{CpuBus, DebugStop, SegReg, WatchKind};

use super::{Pc, PcError, PcOutcome};

/// Why [`Pc::run_for`] or [`Pc::step_instruction`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The guest ended the run (debug exit, reset with `no_reboot`, triple fault with
    /// `no_reboot`, halt with nothing left to wake it).
    Exited(PcOutcome),
    /// About to execute the instruction at this linear address (an emulator breakpoint).
    Breakpoint(u32),
    /// The instruction just executed accessed the watchpoint at `addr`.
    Watchpoint { addr: u32, kind: WatchKind },
    /// A pause was requested through a [`PauseHandle`].
    Paused,
    /// The slice's instructions ran (or, for `step_instruction`, the one instruction), or the
    /// CPU idled in HLT: nothing in particular happened.
    SliceDone,
}

/// Asks a running [`Pc::run_for`] to stop (with [`Stop::Paused`]); cheap to clone, `Send`.
#[derive(Clone, Debug, Default)]
pub struct PauseHandle(Arc<AtomicBool>);

impl PauseHandle {
    /// Request a pause: the current or next `run_for` returns `Stop::Paused`.
    pub fn pause(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Withdraw a request not yet acted on.
    pub fn cancel(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Is a pause requested (and not yet acted on)?
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn take(&self) -> bool {
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::Relaxed)
    }
}

/// The board's run-control state.
#[derive(Default)]
pub(crate) struct Control {
    pub(crate) pause: PauseHandle,
    /// Linear address of the breakpoint the last run stopped at (to step over it on resume).
    stopped_at: Option<u32>,
}

impl Pc {
    /// A handle to pause `run_for` from elsewhere (another thread, a signal handler's flag).
    pub fn pause_handle(&self) -> PauseHandle {
        self.control.pause.clone()
    }

    /// Run at most `max_instructions`, stopping early for the reasons in [`Stop`].
    pub fn run_for(&mut self, max_instructions: u64) -> Result<Stop, PcError> {
        if let Some(lin) = self.control.stopped_at.take() {
            if lin == self.pc_linear() {
                self.cpu.skip_breakpoint_once(lin);
            }
        }
        self.run_inner(max_instructions.max(1), true)
    }

    /// Execute one instruction (pause requests are ignored).
    pub fn step_instruction(&mut self) -> Result<Stop, PcError> {
        let pause = self.control.pause.take();
        let r = self.run_for(1);
        if pause {
            self.control.pause.pause();
        }
        r
    }

    pub(crate) fn debug_stopped(&mut self, stop: DebugStop) -> Stop {
        match stop {
            DebugStop::Breakpoint(lin) => {
                self.control.stopped_at = Some(lin);
                Stop::Breakpoint(lin)
            }
            DebugStop::Watchpoint { addr, kind } => Stop::Watchpoint { addr, kind },
        }
    }

    /// Linear address of the next instruction (CS.base + EIP).
    pub fn pc_linear(&self) -> u32 {
        self.cpu.s.seg[SegReg::Cs as usize]
            .base
            .wrapping_add(self.cpu.s.eip)
    }

    /// Stop before executing the instruction at linear address `lin`.
    pub fn add_breakpoint(&mut self, lin: u32) {
        self.cpu.add_breakpoint(lin);
    }

    pub fn remove_breakpoint(&mut self, lin: u32) -> bool {
        self.cpu.remove_breakpoint(lin)
    }

    /// Stop after the instruction that accesses linear `addr..addr+len` as `kind` says.
    pub fn add_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) {
        self.cpu.add_watchpoint(addr, len, kind);
    }

    pub fn remove_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> bool {
        self.cpu.remove_watchpoint(addr, len, kind)
    }

    /// Remove every breakpoint and watchpoint (a debugger went away).
    pub fn clear_debug(&mut self) {
        self.cpu.clear_debug();
        self.control.stopped_at = None;
    }

    /// Linear → physical through the current paging without side effects: `None` where the
    /// address is not mapped. With paging off, linear = physical (masked to the address bus).
    pub fn translate_debug(&mut self, lin: u32) -> Option<u32> {
        self.walk_debug(lin).map(|w| w.phys)
    }

    /// The page walk of `lin`, for a debugger's `translate` command.
    pub fn walk_debug(&mut self, lin: u32) -> Option<PageWalk> {
        let s = &self.cpu.s;
        let (cr0v, cr3v, cr4v, mask) = (s.cr0, s.cr3, s.cr4, s.model.address_mask());
        if cr0v & cr0::PG == 0 {
            return Some(PageWalk {
                phys: lin & mask,
                pde: None,
                pte: None,
            });
        }
        let pde_addr = (cr3v & 0xFFFF_F000) | ((lin >> 20) & 0xFFC);
        let pde = self.bus.read32(pde_addr);
        if pde & 1 == 0 {
            return None;
        }
        if pde & 0x80 != 0 && cr4v & cr4::PSE != 0 {
            return Some(PageWalk {
                phys: (pde & 0xFFC0_0000) | (lin & 0x003F_FFFF),
                pde: Some((pde_addr, pde)),
                pte: None,
            });
        }
        let pte_addr = (pde & 0xFFFF_F000) | ((lin >> 10) & 0xFFC);
        let pte = self.bus.read32(pte_addr);
        if pte & 1 == 0 {
            return None;
        }
        Some(PageWalk {
            phys: (pte & 0xFFFF_F000) | (lin & 0xFFF),
            pde: Some((pde_addr, pde)),
            pte: Some((pte_addr, pte)),
        })
    }

    /// Read guest memory at linear addresses for a debugger; stops at the first unmapped byte
    /// (the result is then shorter than `len`).
    pub fn read_linear_debug(&mut self, lin: u32, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut page = None;
        for k in 0..len as u32 {
            let a = lin.wrapping_add(k);
            if page.is_none() || a & 0xFFF == 0 {
                page = self.translate_debug(a & !0xFFF);
            }
            let Some(base) = page else { break };
            out.push(self.bus.read8((base & !0xFFF) | (a & 0xFFF)));
        }
        out
    }

    /// Write guest memory at linear addresses for a debugger (read-only pages are written
    /// too; ROM ignores writes). Returns how many bytes were written (fewer at an unmapped page).
    pub fn write_linear_debug(&mut self, lin: u32, data: &[u8]) -> usize {
        for (k, &b) in data.iter().enumerate() {
            let a = lin.wrapping_add(k as u32);
            let Some(p) = self.translate_debug(a) else {
                return k;
            };
            self.bus.write8(p, b);
            self.cpu.invalidate_phys(p, 1);
        }
        data.len()
    }
}

/// The result of a page walk: the physical address and the entries used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWalk {
    pub phys: u32,
    /// (address, value) of the page-directory entry, when paging is on.
    pub pde: Option<(u32, u32)>,
    /// (address, value) of the page-table entry (none for a 4 MiB page).
    pub pte: Option<(u32, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pc::PcConfig;
    use ironbox_cpu::CpuModel;

    /// A board whose 64 KiB "BIOS" runs, from the reset vector (linear 0xFFFFFFF0):
    /// mov ax,0x1234; mov [0x500],ax; mov bx,[0x500]; jmp $.
    fn board() -> Pc {
        let mut rom = vec![0xF4u8; 0x1_0000];
        let code = [
            0xB8, 0x34, 0x12, // fff0
            0xA3, 0x00, 0x05, // fff3
            0x8B, 0x1E, 0x00, 0x05, // fff6
            0xEB, 0xFE, // fffa
        ];
        rom[0xFFF0..0xFFF0 + code.len()].copy_from_slice(&code);
        Pc::new(PcConfig {
            model: CpuModel::Pentium2,
            memory_mib: 4,
            bios: Some(rom),
            vga_bios: None,
            kernel: None,
            hda: None,
            hdb: None,
            cdrom: None,
            fda: None,
            serial: None,
            serial_input: None,
            debugcon: None,
            debug_exit: true,
            no_reboot: true,
            deterministic: true,
            host_time: 0,
            boot_order: Vec::new(),
            engine: ironbox_jit::EngineKind::Jit,
        })
        .unwrap()
    }

    #[test]
    fn breakpoints_watchpoints_steps_and_pause() {
        let mut pc = board();
        assert_eq!(pc.pc_linear(), 0xFFFF_FFF0);
        // A breakpoint at the next instruction stops before it; resuming runs it.
        pc.add_breakpoint(0xFFFF_FFF0);
        pc.add_breakpoint(0xFFFF_FFF3);
        assert_eq!(pc.run_for(1000).unwrap(), Stop::Breakpoint(0xFFFF_FFF0));
        assert_eq!(pc.cpu.instret, 0);
        assert_eq!(pc.run_for(1000).unwrap(), Stop::Breakpoint(0xFFFF_FFF3));
        assert_eq!(pc.cpu.s.gpr[0] & 0xFFFF, 0x1234);
        assert_eq!(pc.read_linear_debug(0x500, 2), [0, 0]);
        // Resuming executes the instruction at the breakpoint; the write watchpoint stops
        // right after the store.
        pc.add_watchpoint(0x501, 1, WatchKind::Write);
        assert_eq!(
            pc.run_for(1000).unwrap(),
            Stop::Watchpoint {
                addr: 0x501,
                kind: WatchKind::Write
            }
        );
        assert_eq!(pc.cpu.s.eip, 0xFFF6);
        assert_eq!(pc.read_linear_debug(0x500, 2), [0x34, 0x12]);
        // A write watchpoint ignores the read; a read watchpoint sees it.
        pc.add_watchpoint(0x500, 2, WatchKind::Read);
        assert_eq!(
            pc.run_for(1000).unwrap(),
            Stop::Watchpoint {
                addr: 0x500,
                kind: WatchKind::Read
            }
        );
        assert_eq!(pc.cpu.s.eip, 0xFFFA);
        assert_eq!(pc.step_instruction().unwrap(), Stop::SliceDone);
        assert_eq!(pc.cpu.s.eip, 0xFFFA);
        // Pause from a handle.
        let h = pc.pause_handle();
        h.pause();
        assert_eq!(pc.run_for(1_000_000).unwrap(), Stop::Paused);
        assert!(!h.is_requested());
        // Debugger writes go through and drop decoded code.
        assert_eq!(pc.write_linear_debug(0x600, &[1, 2, 3]), 3);
        assert_eq!(pc.read_linear_debug(0x600, 3), [1, 2, 3]);
        pc.clear_debug();
        let before = pc.cpu.instret;
        assert_eq!(pc.run_for(500).unwrap(), Stop::SliceDone);
        assert_eq!(pc.cpu.instret - before, 500);
        // `run` ignores breakpoints.
        pc.add_breakpoint(0xFFFF_FFFA);
        assert!(matches!(
            pc.run(Some(100)).unwrap(),
            PcOutcome::InstructionLimit { .. }
        ));
    }
}
