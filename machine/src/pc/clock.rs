//! The board's one virtual clock. Deterministic mode derives time from retired instructions
//! (plus the time skipped while the CPU is halted), so the same guest and inputs give the same
//! output, instruction for instruction; host mode follows the host's monotonic clock.

use std::time::Instant;

use ironbox_devices::Nanos;

/// Virtual nanoseconds per retired instruction in deterministic mode (a 500 MIPS machine).
pub const NS_PER_INSTR: u64 = 2;

pub enum Clock {
    Deterministic { skipped: Nanos },
    Host { start: Instant },
}

impl Clock {
    pub fn new(deterministic: bool) -> Clock {
        if deterministic {
            Clock::Deterministic { skipped: 0 }
        } else {
            Clock::Host {
                start: Instant::now(),
            }
        }
    }

    pub fn deterministic(&self) -> bool {
        matches!(self, Clock::Deterministic { .. })
    }

    /// Current virtual time, given the instructions retired so far.
    pub fn now(&self, instret: u64) -> Nanos {
        match self {
            Clock::Deterministic { skipped } => instret * NS_PER_INSTR + skipped,
            Clock::Host { start } => start.elapsed().as_nanos() as Nanos,
        }
    }

    /// A halted CPU waits for `until`: skip there (deterministic) or sleep (host).
    pub fn wait_until(&mut self, instret: u64, until: Nanos) {
        let now = self.now(instret);
        if until <= now {
            return;
        }
        match self {
            Clock::Deterministic { skipped } => *skipped += until - now,
            Clock::Host { .. } => std::thread::sleep(std::time::Duration::from_nanos(
                (until - now).min(10_000_000),
            )),
        }
    }

    /// How many instructions to run before the next deadline.
    pub fn budget(&self, now: Nanos, deadline: Option<Nanos>) -> u64 {
        const SLICE: u64 = 1 << 16;
        match (self, deadline) {
            (Clock::Deterministic { .. }, Some(d)) => {
                (d.saturating_sub(now) / NS_PER_INSTR).clamp(1, SLICE)
            }
            _ => SLICE,
        }
    }
}
