//! Run control: the one machinery by which every front end stops and starts the machine (the
//! display window's Ctrl+Alt+P, the GDB stub's Ctrl-C / `stepi` / `continue`, later a control
//! socket).
//!
//! The machine is either running or paused, and [`PauseHandle`] holds which: any thread may
//! [`pause`](PauseHandle::pause) or [`resume`](PauseHandle::resume) it. The thread that owns
//! the [`Pc`] drives it with:
//!
//! - [`Pc::run_slice`]: run at most N instructions and, optionally, until a host-time deadline;
//!   it says why it stopped ([`Stop`]): the guest ended the run, an emulator breakpoint or
//!   watchpoint was hit, the machine is paused, or the slice is done. Callers loop over slices
//!   and look at their own inputs (a socket, a window's events) in between. A pause requested
//!   while a slice runs takes effect at the next boundary of the board's run loop (at most
//!   64 Ki instructions or a 10 ms halt wait: milliseconds); while paused, `run_slice`
//!   returns [`Stop::Paused`] at once, without running anything.
//! - [`Pc::step_instruction`]: execute exactly one instruction (an interrupt taken first is
//!   delivered and the handler's first instruction executes), then stay paused.
//! - A breakpoint or watchpoint stop pauses the machine too: it stays stopped until resumed.
//!
//! Virtual time does not pass while the machine is paused: in host-time mode the clock is
//! frozen from the moment a slice stops for a pause (or a breakpoint, watchpoint or step) until
//! the next slice runs, so the guest does not see the pause as elapsed time; in deterministic
//! mode time is instructions anyway.
//!
//! Also here: emulator breakpoints and watchpoints on linear addresses (kept by the CPU, never
//! written into guest memory), debugger memory access through the guest's current paging
//! ([`Pc::read_linear_debug`], [`Pc::write_linear_debug`], [`Pc::translate_debug`]: these
//! never set accessed/dirty bits, never fault and never fill the TLB), and
//! [`Pc::host_input_changed`] for input queued into devices between slices.
//!
//! A run that stopped at a breakpoint resumes by executing that instruction (the breakpoint is
//! skipped once), as a debugger expects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ironbox_cpu::state::{cr0, cr4};
use ironbox_cpu::{CpuBus, DebugStop, SegReg, WatchKind};
use ironbox_devices::Nanos;

use super::clock::Clock;
use super::{Pc, PcError, PcOutcome};

/// Why [`Pc::run_slice`] or [`Pc::step_instruction`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The guest ended the run (debug exit, reset with `no_reboot`, triple fault with
    /// `no_reboot`, halt with nothing left to wake it).
    Exited(PcOutcome),
    /// About to execute the instruction at this linear address (an emulator breakpoint).
    /// The machine is now paused.
    Breakpoint(u32),
    /// The instruction just executed accessed the watchpoint at `addr`. The machine is now
    /// paused.
    Watchpoint { addr: u32, kind: WatchKind },
    /// The machine is paused ([`PauseHandle::pause`]).
    Paused,
    /// The slice's instructions ran (or, for `step_instruction`, the one instruction), its
    /// deadline passed, or (without a deadline) the CPU idled in HLT: nothing in particular
    /// happened.
    SliceDone,
}

/// Whether the machine is paused; shared by the machine and every thread that steers it.
/// Cheap to clone, `Send`.
#[derive(Clone, Debug, Default)]
pub struct PauseHandle(Arc<AtomicBool>);

impl PauseHandle {
    /// Pause: a slice in progress stops at its next run-loop boundary with [`Stop::Paused`],
    /// and further slices run nothing until [`PauseHandle::resume`].
    pub fn pause(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Let the machine run again (the next slice runs).
    pub fn resume(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Pause if running, resume if paused; returns whether the machine is now paused.
    pub fn toggle(&self) -> bool {
        !self.0.fetch_xor(true, Ordering::Relaxed)
    }

    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The board's run-control state.
#[derive(Default)]
pub(crate) struct Control {
    pub(crate) pause: PauseHandle,
    /// Linear address of the breakpoint the last run stopped at (to step over it on resume).
    stopped_at: Option<u32>,
    /// Host time at which the current slice ends, and whether it did.
    slice_end: Option<Instant>,
    slice_expired: bool,
    /// When the machine stopped (the virtual clock is frozen from then until the next run).
    frozen_at: Option<Instant>,
}

impl Pc {
    /// A handle to pause and resume the machine from anywhere (another thread included).
    pub fn pause_handle(&self) -> PauseHandle {
        self.control.pause.clone()
    }

    /// Pause now: as [`PauseHandle::pause`], and the virtual clock stops at once.
    pub fn pause(&mut self) {
        self.control.pause.pause();
        self.freeze_clock();
    }

    /// Resume: as [`PauseHandle::resume`] (the clock goes on when the next slice runs).
    pub fn resume(&mut self) {
        self.control.pause.resume();
    }

    pub fn is_paused(&self) -> bool {
        self.control.pause.is_paused()
    }

    /// Run at most `max_instructions` and, with `until`, at most until that host time (at the
    /// next run-loop boundary after it); stop early for the reasons in [`Stop`]. Without
    /// `until`, a CPU idling in HLT also ends the slice (so the caller gets control back while
    /// the guest waits for an interrupt).
    pub fn run_slice(
        &mut self,
        max_instructions: u64,
        until: Option<Instant>,
    ) -> Result<Stop, PcError> {
        if self.is_paused() {
            self.freeze_clock();
            return Ok(Stop::Paused);
        }
        self.thaw_clock();
        if let Some(lin) = self.control.stopped_at.take() {
            if lin == self.pc_linear() {
                self.cpu.skip_breakpoint_once(lin);
            }
        }
        let limit = max_instructions.max(1);
        let start = self.cpu.instret;
        self.control.slice_end = until;
        self.control.slice_expired = false;
        let r = loop {
            let done = self.cpu.instret - start;
            if done >= limit {
                break Ok(Stop::SliceDone);
            }
            match self.run_inner(limit - done, true) {
                Ok(Stop::SliceDone) if until.is_some() && !self.control.slice_expired => {}
                r => break r,
            }
        };
        self.control.slice_end = None;
        self.control.slice_expired = false;
        if matches!(
            r,
            Ok(Stop::Paused | Stop::Breakpoint(_) | Stop::Watchpoint { .. })
        ) {
            self.pause();
        }
        r
    }

    /// Execute exactly one instruction, whether paused or not; the machine is paused after it.
    pub fn step_instruction(&mut self) -> Result<Stop, PcError> {
        self.control.pause.resume();
        let r = self.run_slice(1, None);
        self.pause();
        r
    }

    /// Checked at the top of the run loop: the host-time slice of [`Pc::run_slice`] is over.
    pub(super) fn slice_over(&mut self) -> bool {
        if self.control.slice_end.is_some_and(|t| Instant::now() >= t) {
            self.control.slice_expired = true;
            return true;
        }
        false
    }

    /// The machine stopped: virtual time stops with it (host-time mode; in deterministic mode
    /// time is instructions and nothing changes).
    fn freeze_clock(&mut self) {
        if self.control.frozen_at.is_none() {
            self.control.frozen_at = Some(Instant::now());
        }
    }

    /// The machine runs again: virtual time goes on from where it stopped.
    pub(super) fn thaw_clock(&mut self) {
        if let Some(t) = self.control.frozen_at.take() {
            if let Clock::Host { start } = &mut self.clock {
                *start += t.elapsed();
            }
            self.bus.host_clock = self.clock.host_start();
        }
    }

    /// Host input was queued into a device (`bus.chip.kbc.key_event` / `mouse_event`) between
    /// slices: move it into the controller's output buffer and raise its interrupt now, as the
    /// run loop does for serial input.
    pub fn host_input_changed(&mut self) {
        let now = self.virtual_now();
        self.bus.now = now;
        self.next_deadline = self.bus.chip.advance_timers(now);
    }

    /// Virtual time now; while the machine is paused, the time at which it stopped.
    pub fn virtual_now(&self) -> Nanos {
        match (&self.clock, self.control.frozen_at) {
            (Clock::Host { start }, Some(t)) => {
                t.saturating_duration_since(*start).as_nanos() as Nanos
            }
            _ => self.clock.now(self.cpu.instret),
        }
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

/// The front ends move the PC onto its own thread.
const _: () = {
    const fn send<T: Send>() {}
    send::<Pc>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pc::PcConfig;
    use ironbox_cpu::CpuModel;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A board whose 64 KiB "BIOS" runs, from the reset vector (linear 0xFFFFFFF0):
    /// mov ax,0x1234; mov [0x500],ax; mov bx,[0x500]; jmp $.
    fn board(deterministic: bool) -> Pc {
        let mut rom = vec![0xF4u8; 0x1_0000];
        let code = [
            0xB8, 0x34, 0x12, // fff0
            0xA3, 0x00, 0x05, // fff3
            0x8B, 0x1E, 0x00, 0x05, // fff6
            0xEB, 0xFE, // fffa
        ];
        rom[0xFFF0..0xFFF0 + code.len()].copy_from_slice(&code);
        Pc::new(PcConfig {
            deterministic,
            ..PcConfig::with_bios(CpuModel::Pentium2, 4, rom)
        })
        .unwrap()
    }

    #[test]
    fn breakpoints_watchpoints_steps_and_pause() {
        let mut pc = board(true);
        assert_eq!(pc.pc_linear(), 0xFFFF_FFF0);
        // A breakpoint at the next instruction stops before it and pauses the machine;
        // resuming runs it.
        pc.add_breakpoint(0xFFFF_FFF0);
        pc.add_breakpoint(0xFFFF_FFF3);
        assert_eq!(
            pc.run_slice(1000, None).unwrap(),
            Stop::Breakpoint(0xFFFF_FFF0)
        );
        assert_eq!(pc.cpu.instret, 0);
        assert!(pc.is_paused());
        assert_eq!(pc.run_slice(1000, None).unwrap(), Stop::Paused);
        assert_eq!(pc.cpu.instret, 0);
        pc.resume();
        assert_eq!(
            pc.run_slice(1000, None).unwrap(),
            Stop::Breakpoint(0xFFFF_FFF3)
        );
        assert_eq!(pc.cpu.s.gpr[0] & 0xFFFF, 0x1234);
        assert_eq!(pc.read_linear_debug(0x500, 2), [0, 0]);
        // Resuming executes the instruction at the breakpoint; the write watchpoint stops
        // right after the store.
        pc.add_watchpoint(0x501, 1, WatchKind::Write);
        pc.resume();
        assert_eq!(
            pc.run_slice(1000, None).unwrap(),
            Stop::Watchpoint {
                addr: 0x501,
                kind: WatchKind::Write
            }
        );
        assert_eq!(pc.cpu.s.eip, 0xFFF6);
        assert_eq!(pc.read_linear_debug(0x500, 2), [0x34, 0x12]);
        // A write watchpoint ignores the read; a read watchpoint sees it.
        pc.add_watchpoint(0x500, 2, WatchKind::Read);
        pc.resume();
        assert_eq!(
            pc.run_slice(1000, None).unwrap(),
            Stop::Watchpoint {
                addr: 0x500,
                kind: WatchKind::Read
            }
        );
        assert_eq!(pc.cpu.s.eip, 0xFFFA);
        // A step runs one instruction although paused, and stays paused.
        assert_eq!(pc.step_instruction().unwrap(), Stop::SliceDone);
        assert_eq!(pc.cpu.s.eip, 0xFFFA);
        assert!(pc.is_paused());
        // Debugger writes go through and drop decoded code.
        assert_eq!(pc.write_linear_debug(0x600, &[1, 2, 3]), 3);
        assert_eq!(pc.read_linear_debug(0x600, 3), [1, 2, 3]);
        pc.clear_debug();
        pc.resume();
        let before = pc.cpu.instret;
        assert_eq!(pc.run_slice(500, None).unwrap(), Stop::SliceDone);
        assert_eq!(pc.cpu.instret - before, 500);
        // Pause from a handle.
        let h = pc.pause_handle();
        assert!(h.toggle());
        assert_eq!(pc.run_slice(1_000_000, None).unwrap(), Stop::Paused);
        assert!(h.is_paused() && !h.toggle() && !pc.is_paused());
        // `run` ignores breakpoints and pauses.
        pc.add_breakpoint(0xFFFF_FFFA);
        h.pause();
        assert!(matches!(
            pc.run(Some(100)).unwrap(),
            PcOutcome::InstructionLimit { .. }
        ));
    }

    #[test]
    fn run_slice_gives_control_back_at_the_deadline_and_keeps_the_limit() {
        let mut pc = board(true);
        let t = Instant::now() + Duration::from_millis(20);
        assert_eq!(pc.run_slice(u64::MAX, Some(t)).unwrap(), Stop::SliceDone);
        assert!(Instant::now() >= t && pc.cpu.instret > 0);
        let far = Instant::now() + Duration::from_secs(60);
        let at = pc.cpu.instret;
        assert_eq!(pc.run_slice(1000, Some(far)).unwrap(), Stop::SliceDone);
        assert_eq!(pc.cpu.instret, at + 1000);
        // The slice deadline does not outlive the call.
        assert!(matches!(
            pc.run(Some(10)).unwrap(),
            PcOutcome::InstructionLimit { .. }
        ));
    }

    /// The machine runs slices on its own thread (as the window's machine thread does); another
    /// thread pauses it through the handle, in the middle of a long slice: instret stops, a
    /// single step runs exactly one instruction, resuming runs again, and the virtual clock
    /// (host-time mode) did not count the paused time.
    #[test]
    fn pause_from_another_thread_step_and_resume() {
        let pc = Arc::new(Mutex::new(board(false)));
        let h = pc.lock().unwrap().pause_handle();
        let quit = Arc::new(AtomicBool::new(false));
        let machine = {
            let (pc, quit) = (pc.clone(), quit.clone());
            std::thread::spawn(move || {
                while !quit.load(Ordering::Relaxed) {
                    let stop = {
                        let mut pc = pc.lock().unwrap();
                        // A long slice: only the pause can cut it short.
                        let until = Instant::now() + Duration::from_secs(30);
                        pc.run_slice(u64::MAX, Some(until)).unwrap()
                    };
                    if stop == Stop::Paused {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        };
        let instret = |pc: &Mutex<Pc>| pc.lock().unwrap().cpu.instret;
        std::thread::sleep(Duration::from_millis(100));
        let t0 = Instant::now();
        h.pause();
        // The slice stops at its next run-loop boundary: the lock comes free at once.
        let (i0, v0) = {
            let pc = pc.lock().unwrap();
            assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
            (pc.cpu.instret, pc.virtual_now())
        };
        assert!(i0 > 0, "the guest ran before the pause");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(instret(&pc), i0, "instret advanced while paused");
        {
            let mut pc = pc.lock().unwrap();
            assert_eq!(pc.step_instruction().unwrap(), Stop::SliceDone);
            assert_eq!(pc.cpu.instret, i0 + 1, "one instruction per step");
            assert!(pc.is_paused());
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(instret(&pc), i0 + 1, "still paused after the step");
        h.resume();
        std::thread::sleep(Duration::from_millis(100));
        h.pause();
        let (i1, v1, t1) = {
            let pc = pc.lock().unwrap();
            (pc.cpu.instret, pc.virtual_now(), Instant::now())
        };
        quit.store(true, Ordering::Relaxed);
        machine.join().unwrap();
        assert!(i1 > i0 + 1000, "resumed: {i0} -> {i1}");
        // About 100 ms ran; the 350 ms of pause are not guest time (nor is the time since the
        // second pause).
        let host = (t1 - t0).as_nanos() as u64;
        let guest = v1 - v0;
        assert!(guest > 50_000_000, "guest time ran: {guest} ns");
        assert!(
            host - guest >= 300_000_000,
            "host {host} ns, guest {guest} ns: paused time counted"
        );
    }

    /// Deterministic mode: a pause changes nothing the guest can see, time included.
    #[test]
    fn deterministic_pause_is_invisible() {
        let mut a = board(true);
        let mut b = board(true);
        assert_eq!(a.run_slice(10_000, None).unwrap(), Stop::SliceDone);
        assert_eq!(b.run_slice(4_000, None).unwrap(), Stop::SliceDone);
        b.pause();
        assert_eq!(b.run_slice(1_000, None).unwrap(), Stop::Paused);
        std::thread::sleep(Duration::from_millis(20));
        b.step_instruction().unwrap();
        b.resume();
        assert_eq!(b.run_slice(5_999, None).unwrap(), Stop::SliceDone);
        assert_eq!(a.cpu.instret, b.cpu.instret);
        assert_eq!(a.cpu.s.eip, b.cpu.s.eip);
        assert_eq!(a.clock.now(a.cpu.instret), b.clock.now(b.cpu.instret));
    }

    #[test]
    fn host_input_while_paused_does_not_move_device_time_past_the_pause() {
        let mut pc = board(false);
        pc.run_slice(10_000, None).unwrap();
        pc.pause();
        let at = pc.virtual_now();
        std::thread::sleep(Duration::from_millis(100));
        assert!(pc.virtual_now() - at < 1_000_000);
        pc.host_input_changed();
        assert!(pc.bus.now - at < 1_000_000, "{} ns", pc.bus.now - at);
        // Running again, time goes on from there.
        pc.resume();
        pc.run_slice(10_000, None).unwrap();
        assert!(pc.bus.now - at < 50_000_000, "{} ns", pc.bus.now - at);
    }
}
