//! Debug registers DR0-DR7: instruction breakpoints (faults, suppressed for one instruction by
//! EFLAGS.RF), data breakpoints on writes or reads/writes (traps, reported in DR6 after the
//! instruction), and general detect (DR7.GD: #DB on any MOV to or from a debug register).
//! While any breakpoint is enabled the CPU single-steps (`Cpu::run` defers to `Cpu::step`).

use crate::state::cr4;
use crate::Cpu;

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
    /// Any breakpoint enabled in DR7?
    #[inline]
    pub(crate) fn breakpoints_armed(&self) -> bool {
        self.s.dr[7] & 0xFF != 0
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
        self.data_breakpoints = (0..4).any(|i| enabled(dr7, i) && rw(dr7, i) != 0);
        self.leave_block = true;
    }
}
