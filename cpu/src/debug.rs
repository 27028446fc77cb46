//! Debug registers DR0-DR7: instruction breakpoints (faults, suppressed for one instruction by
//! EFLAGS.RF), data breakpoints on writes or reads/writes (traps, reported in DR6 after the
//! instruction), and general detect (DR7.GD: #DB on any MOV to or from a debug register).
//! While any breakpoint is enabled the CPU single-steps (`Cpu::run` defers to `Cpu::step`).
//!
//! Beside the guest's own debug registers, an emulator-owned set of code breakpoints and
//! watchpoints ([`EmuDebug`], for a debugger such as the GDB stub): they are never written into
//! guest memory and the guest cannot see them. A code breakpoint stops `step` before the
//! instruction at that linear address executes; a watchpoint stops it after the instruction
//! that accessed the watched bytes. Either way `Cpu::run` returns [`crate::RunExit::Debug`] and
//! [`Cpu::take_debug_stop`] says why.

use std::collections::HashSet;

use crate::state::cr4;
use crate::Cpu;

/// What an emulator watchpoint watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    Write,
    Read,
    /// Reads and writes.
    Access,
}

/// Why the CPU stopped for the emulator's debugger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugStop {
    /// About to execute the instruction at this linear address (nothing of it ran).
    Breakpoint(u32),
    /// The instruction just executed accessed `addr` (the start of the watched range).
    Watchpoint { addr: u32, kind: WatchKind },
}

/// Emulator-owned breakpoints and watchpoints (linear addresses).
#[derive(Default)]
pub struct EmuDebug {
    breakpoints: HashSet<u32>,
    watchpoints: Vec<(u32, u32, WatchKind)>,
    /// Do not stop at a breakpoint at this address for the next instruction (resuming from it).
    skip_at: Option<u32>,
    /// A watchpoint hit by the current instruction, reported once it completes.
    pub(crate) watch_hit: Option<DebugStop>,
    pub(crate) stop: Option<DebugStop>,
}

/// DR7 condition of breakpoint `i`: 0 execute, 1 write, 2 I/O (CR4.DE), 3 read/write.
#[inline]
fn rw(dr7: u32, i: usize) -> u32 {
    (dr7 >> (16 + 4 * i)) & 3
}

/// DR7 length of breakpoint `i` in bytes.
#[inline]
fn len(dr7: u32, i: usize) -> u32 {
    match (dr7 >> (18 + 4 * i)) & 3 {
        0 => 1,
        1 => 2,
        2 => 8,
        _ => 4,
    }
}

#[inline]
fn enabled(dr7: u32, i: usize) -> bool {
    (dr7 >> (2 * i)) & 3 != 0
}

impl Cpu {
    /// Any breakpoint enabled in DR7, or any emulator breakpoint or watchpoint?
    #[inline]
    pub(crate) fn breakpoints_armed(&self) -> bool {
        self.s.dr[7] & 0xFF != 0 || self.emu_armed
    }

    /// Set an emulator breakpoint: stop before executing the instruction at linear `lin`.
    pub fn add_breakpoint(&mut self, lin: u32) {
        self.emu.breakpoints.insert(lin);
        self.update_breakpoints();
    }

    /// Remove an emulator breakpoint; false if there was none at `lin`.
    pub fn remove_breakpoint(&mut self, lin: u32) -> bool {
        let had = self.emu.breakpoints.remove(&lin);
        self.update_breakpoints();
        had
    }

    /// Set an emulator watchpoint on the linear range `addr..addr+len`.
    pub fn add_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) {
        self.emu.watchpoints.push((addr, len.max(1), kind));
        self.update_breakpoints();
    }

    /// Remove an emulator watchpoint; false if there was no such watchpoint.
    pub fn remove_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> bool {
        let w = (addr, len.max(1), kind);
        let had = match self.emu.watchpoints.iter().position(|x| *x == w) {
            Some(i) => {
                self.emu.watchpoints.remove(i);
                true
            }
            None => false,
        };
        self.update_breakpoints();
        had
    }

    /// Remove all emulator breakpoints and watchpoints.
    pub fn clear_debug(&mut self) {
        self.emu.breakpoints.clear();
        self.emu.watchpoints.clear();
        self.emu.skip_at = None;
        self.update_breakpoints();
    }

    /// The emulator breakpoints (linear addresses), in no particular order.
    pub fn breakpoints(&self) -> impl Iterator<Item = u32> + '_ {
        self.emu.breakpoints.iter().copied()
    }

    /// Resume from a breakpoint: the next instruction runs even if a breakpoint is set at
    /// linear `lin` (the next instruction's address).
    pub fn skip_breakpoint_once(&mut self, lin: u32) {
        self.emu.skip_at = Some(lin);
    }

    /// Why the last `run`/`step` stopped for the debugger (cleared by this call).
    pub fn take_debug_stop(&mut self) -> Option<DebugStop> {
        self.emu.stop.take()
    }

    /// Is there a stop for the debugger waiting to be taken?
    pub(crate) fn debug_stop_pending(&self) -> bool {
        self.emu.stop.is_some()
    }

    /// Emulator breakpoint at the next instruction (linear `lin`)? Records the stop.
    #[inline]
    pub(crate) fn emu_code_breakpoint(&mut self, lin: u32) -> bool {
        if !self.emu_armed {
            return false;
        }
        if self.emu.skip_at.take() == Some(lin) {
            return false;
        }
        if self.emu.breakpoints.contains(&lin) {
            self.emu.stop = Some(DebugStop::Breakpoint(lin));
            return true;
        }
        false
    }

    /// After an instruction: report (`completed`) or forget a watchpoint hit.
    #[inline]
    pub(crate) fn emu_watch_done(&mut self, completed: bool) {
        if let Some(hit) = self.emu.watch_hit.take() {
            if completed {
                self.emu.stop = Some(hit);
            }
        }
    }

    /// Instruction breakpoints matching the linear address of the next instruction (DR6 bits).
    pub(crate) fn code_breakpoint_hits(&self, lin: u32) -> u32 {
        let dr7 = self.s.dr[7];
        (0..4)
            .filter(|&i| enabled(dr7, i) && rw(dr7, i) == 0 && self.s.dr[i] == lin)
            .fold(0, |m, i| m | 1 << i)
    }

    /// Note a data access at `lin..lin+size` (`write` or read) against the data breakpoints.
    #[inline]
    pub(crate) fn note_data_access(&mut self, lin: u32, size: u32, write: bool) {
        if !self.data_breakpoints {
            return;
        }
        for &(addr, l, kind) in &self.emu.watchpoints {
            let hit = match kind {
                WatchKind::Write => write,
                WatchKind::Read => !write,
                WatchKind::Access => true,
            };
            let end = addr as u64 + l as u64;
            let overlaps = (lin as u64) < end && (addr as u64) < lin as u64 + size as u64;
            if hit && overlaps && self.emu.watch_hit.is_none() {
                self.emu.watch_hit = Some(DebugStop::Watchpoint { addr, kind });
            }
        }
        let dr7 = self.s.dr[7];
        for i in 0..4 {
            let cond = rw(dr7, i);
            if !enabled(dr7, i) || cond == 0 || cond == 2 || (cond == 1 && !write) {
                continue;
            }
            let l = len(dr7, i);
            let base = self.s.dr[i] & !(l - 1);
            let end = base as u64 + l as u64;
            if (lin as u64) < end && base as u64 <= lin as u64 + size as u64 - 1 {
                self.dbg_hits |= 1 << i;
            }
        }
    }

    /// Note a port access against I/O breakpoints (CR4.DE).
    pub(crate) fn note_io_access(&mut self, port: u16, size: u32) {
        if !self.data_breakpoints || self.s.cr4 & cr4::DE == 0 {
            return;
        }
        let dr7 = self.s.dr[7];
        for i in 0..4 {
            if enabled(dr7, i) && rw(dr7, i) == 2 {
                let l = len(dr7, i);
                let base = self.s.dr[i] & 0xFFFF & !(l - 1);
                if (port as u32) < base + l && base <= port as u32 + size - 1 {
                    self.dbg_hits |= 1 << i;
                }
            }
        }
    }

    /// Recompute the cached "data breakpoints armed" flag after DR7 or CR4 change.
    pub(crate) fn update_breakpoints(&mut self) {
        let dr7 = self.s.dr[7];
        self.data_breakpoints =
            (0..4).any(|i| enabled(dr7, i) && rw(dr7, i) != 0) || !self.emu.watchpoints.is_empty();
        self.emu_armed = !self.emu.breakpoints.is_empty() || !self.emu.watchpoints.is_empty();
        self.leave_block = true;
    }
}
