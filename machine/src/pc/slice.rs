//! Steering a PC from a host front end that runs it in short slices on its own thread (the SDL
//! window): run until a host-time deadline, pause/resume with the virtual clock frozen, and host
//! input (keyboard, mouse) delivered between slices.
//!
//! Added for the desktop window (issue 5): [`Pc::run_until`], [`Pc::pause_clock`],
//! [`Pc::resume_clock`], [`Pc::host_input_changed`]. The only hook in the run loop is the
//! `slice_over` check at the top of it. (Breakpoints and pause requests: `control`.)

use std::time::Instant;

use super::clock::Clock;
use super::control::Stop;
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
        let limit = max_instructions.unwrap_or(u64::MAX);
        let start = self.cpu.instret;
        let r = loop {
            let done = self.cpu.instret - start;
            if done >= limit {
                let (cs, eip) = self.where_();
                break Ok(Some(PcOutcome::InstructionLimit { cs, eip }));
            }
            match self.run_inner(limit - done, false) {
                Err(e) => break Err(e),
                Ok(Stop::Exited(outcome)) => break Ok(Some(outcome)),
                Ok(_) if self.slice_expired => break Ok(None),
                Ok(_) => {}
            }
        };
        self.slice_end = None;
        self.slice_expired = false;
        r
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pc::PcConfig;
    use ironbox_cpu::CpuModel;
    use std::time::Duration;

    fn spinning_pc(deterministic: bool) -> Pc {
        let mut bios = vec![0x90u8; 0x10000];
        bios[0xFFF0..0xFFF2].copy_from_slice(&[0xEB, 0xFE]); // jmp $
        Pc::new(PcConfig {
            deterministic,
            ..PcConfig::with_bios(CpuModel::Pentium2, 4, bios)
        })
        .unwrap()
    }

    #[test]
    fn run_until_gives_control_back_and_keeps_the_limit() {
        let mut pc = spinning_pc(true);
        let t = Instant::now() + Duration::from_millis(20);
        assert_eq!(pc.run_until(t, None).unwrap(), None);
        assert!(Instant::now() >= t && pc.cpu.instret > 0);
        let far = Instant::now() + Duration::from_secs(60);
        let at = pc.cpu.instret;
        assert!(matches!(
            pc.run_until(far, Some(1000)).unwrap(),
            Some(PcOutcome::InstructionLimit { .. })
        ));
        assert_eq!(pc.cpu.instret, at + 1000);
        // The slice deadline does not outlive the call.
        assert!(matches!(
            pc.run(Some(10)).unwrap(),
            PcOutcome::InstructionLimit { .. }
        ));
    }

    #[test]
    fn paused_time_is_not_guest_time() {
        let mut pc = spinning_pc(false);
        let before = pc.clock.now(pc.cpu.instret);
        pc.pause_clock();
        std::thread::sleep(Duration::from_millis(200));
        pc.resume_clock();
        let after = pc.clock.now(pc.cpu.instret);
        assert!(after - before < 150_000_000, "{} ns passed", after - before);
    }
}
