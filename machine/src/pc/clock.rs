//! The board's one virtual clock. Deterministic mode derives time from retired instructions
//! (plus the time skipped while the CPU is halted), so the same guest and inputs give the same
//! output, instruction for instruction; host mode follows the host's monotonic clock.

use std::time::Instant;

use ironbox_devices::Nanos;

/// Virtual nanoseconds per retired instruction in deterministic mode (a 500 MIPS machine), and
/// per time-stamp counter tick in both modes (a 500 MHz TSC).
pub const NS_PER_INSTR: u64 = 2;

/// The time-stamp counter of a machine that keeps host time: host nanoseconds since `start`
/// at the same 500 MHz as in deterministic mode, whatever speed the guest code runs at (Linux
/// calibrates it once, against the PIT, and then keeps time with it).
pub fn host_tsc(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64 / NS_PER_INSTR
}

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

    /// When host time started, for a clock that follows the host.
    pub fn host_start(&self) -> Option<Instant> {
        match self {
            Clock::Host { start } => Some(*start),
            Clock::Deterministic { .. } => None,
        }
    }

    /// A halted CPU waits for `until`: skip there (deterministic) or sleep (host). Returns the
    /// virtual time skipped (deterministic; host time passes by itself).
    pub fn wait_until(&mut self, instret: u64, until: Nanos) -> Nanos {
        let now = self.now(instret);
        if until <= now {
            return 0;
        }
        match self {
            Clock::Deterministic { skipped } => {
                *skipped += until - now;
                until - now
            }
            Clock::Host { .. } => {
                std::thread::sleep(std::time::Duration::from_nanos(
                    (until - now).min(10_000_000),
                ));
                0
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tsc_counts_host_time_at_500_mhz() {
        let start = Instant::now();
        let t0 = host_tsc(start);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t1 = host_tsc(start);
        // At least 20 ms at 2 ns per tick (sleeping may take longer, never shorter).
        assert!(t1 - t0 >= 10_000_000, "{t0} -> {t1}");
        let halted = Clock::new(true).wait_until(0, 1_000);
        assert_eq!(halted, 1_000, "deterministic time skipped over a halt");
    }
}
