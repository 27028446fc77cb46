//! Steering a PC from a host front end that runs it in short slices on its own thread (the SDL
//! window): run until a host-time deadline, pause/resume with the virtual clock frozen, and host
//! input (keyboard, mouse) delivered between slices.
//!
//! Added for the desktop window (issue 5): [`Pc::run_until`], [`Pc::pause_clock`],
//! [`Pc::resume_clock`], [`Pc::host_input_changed`]. The only hook in [`Pc::run`] is the
//! `slice_over` check at the top of its loop.

use std::time::Instant;

use super::clock::Clock;
use super::{Pc, PcError, PcOutcome};

impl Pc {
    /// Run as [`Pc::run`] does, but give control back (`Ok(None)`) once host time reaches
    /// `until`, at the next slice boundary (a slice is at most 64 Ki instructions, or one
    /// halt wait of at most 10 ms). `Ok(Some(outcome))` when the run ended as `run` ends it.
    /// `max_instructions` counts from this call, as in `run`.
    pub fn run_until(
        &mut self,
        until: Instant,
        max_instructions: Option<u64>,
    ) -> Result<Option<PcOutcome>, PcError> {
        self.slice_end = Some(until);
        self.slice_expired = false;
        let r = self.run(max_instructions);
        self.slice_end = None;
        match r {
            Ok(PcOutcome::InstructionLimit { .. }) if std::mem::take(&mut self.slice_expired) => {
                Ok(None)
            }
            r => r.map(Some),
        }
    }

    /// Checked at the top of the run loop: the host-time slice of [`Pc::run_until`] is over.
    pub(super) fn slice_over(&mut self) -> bool {
        if self.slice_end.is_some_and(|t| Instant::now() >= t) {
            self.slice_expired = true;
            return true;
        }
        false
    }

    /// The machine is paused (not being run): stop the virtual clock, so that the guest does
    /// not see the pause as lost time. No effect in deterministic mode (time is instructions).
    pub fn pause_clock(&mut self) {
        if self.paused_at.is_none() {
            self.paused_at = Some(Instant::now());
        }
    }

    /// Resume after [`Pc::pause_clock`]: virtual time goes on from where it stopped.
    pub fn resume_clock(&mut self) {
        if let Some(t) = self.paused_at.take() {
            if let Clock::Host { start } = &mut self.clock {
                *start += t.elapsed();
            }
        }
    }

    /// Host input was queued into a device (`bus.chip.kbc.key_event` / `mouse_event`): move
    /// it into the controller's output buffer and raise its interrupt now, as `run` does for
    /// serial input.
    pub fn host_input_changed(&mut self) {
        let now = self.clock.now(self.cpu.instret);
        self.bus.now = now;
        self.next_deadline = self.bus.chip.advance_timers(now);
    }
}
/// The front end moves the PC onto its own thread.
const _: () = {
    const fn send<T: Send>() {}
    send::<Pc>();
};
