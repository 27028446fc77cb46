//! The desktop display: an SDL2 window on the main thread, the machine on its own thread.
//!
//! Threading: the machine thread owns the [`Pc`] and runs it in slices of about 10 ms of host
//! time ([`Pc::run_slice`]). Between slices it drains [`ToMachine`] messages (keys and mouse into
//! the 8042, then [`Pc::host_input_changed`] so the IRQ is raised at once; quit) and, at most 60
//! times a second and only when the VGA's `generation()` moved, renders a frame and offers it to
//! the window with `try_send` on a small bounded channel: a slow window drops frames, it never
//! stalls the guest. Pixel buffers go back to the machine thread for reuse. The window thread
//! (`sdl.rs`) never touches the machine; it only draws frames and turns SDL events into
//! messages.
//!
//! Pause (Ctrl+Alt+P) is the machine's own run control (`ironbox_machine::pc::control`): the
//! window flips the machine's `PauseHandle` and the slice running stops within
//! milliseconds, the virtual clock frozen; the machine thread then idles until something
//! resumes the machine, and the window's title follows the handle, whoever paused.
//!
//! `keymap.rs` maps SDL scancodes to PC keys; `screenshot.rs` writes PNGs and text dumps (also
//! used headless by `--screenshot` / `--dump-screen-text`).

pub mod keymap;
pub mod screenshot;
mod sdl;

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use ironbox_devices::i8042::Key;
use ironbox_machine::pc::control::Stop;
use ironbox_machine::pc::{Pc, PcOutcome};

pub use sdl::Sdl;

/// Hotkeys of the window, for `--help` and the README.
pub const HOTKEYS_HELP: &str = "\
Window hotkeys (--display sdl), all with Ctrl+Alt held:
  Ctrl+Alt+P       pause / resume the machine (the title shows which, and guest MIPS)
  Ctrl+Alt+S       screenshot: ironbox-N.png in the current directory
  Ctrl+Alt+End     send Ctrl+Alt+Del to the guest
  Ctrl+Alt+G       release the mouse (click into the window to grab it)
  Ctrl+Alt+F       toggle full screen
  Ctrl+Alt+Q       quit (closing the window quits too)
The mouse is also released when the window loses focus or the machine pauses.";

/// Window → machine.
#[derive(Debug)]
pub enum ToMachine {
    Key(Key, bool),
    /// Relative motion (right/down positive), wheel clicks (up positive), buttons now held.
    Mouse {
        dx: i32,
        dy: i32,
        dz: i32,
        buttons: u8,
    },
    Quit,
}

/// One rendered picture, 0x00RRGGBB row-major.
pub struct Frame {
    pub w: u32,
    pub h: u32,
    pub pixels: Vec<u32>,
}

/// Machine → window.
pub enum ToWindow {
    Frame(Frame),
    Stats {
        mips: f64,
    },
    /// The machine thread is done (the guest ended the run, or a quit was asked for).
    Finished,
}

/// How a windowed run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    Guest(PcOutcome),
    /// The user quit (window closed or hotkey).
    Quit,
}

/// `--display`: which display to use.
pub enum Choice {
    Headless,
    Window(Sdl),
}

/// Resolve `--display`: `none`, `sdl` (a window, or an error saying why not) or `auto` (a
/// window when `$DISPLAY` / `$WAYLAND_DISPLAY` is set and SDL starts, else headless).
pub fn choose(spec: &str) -> anyhow::Result<Choice> {
    match spec {
        "none" => Ok(Choice::Headless),
        "sdl" => match Sdl::init() {
            Ok(s) => Ok(Choice::Window(s)),
            Err(e) => anyhow::bail!(
                "--display sdl: cannot open a window: {e} (is $DISPLAY or $WAYLAND_DISPLAY set? \
                 use --display none to run headless)"
            ),
        },
        "auto" => {
            let have = |v| std::env::var_os(v).is_some_and(|s| !s.is_empty());
            if !have("DISPLAY") && !have("WAYLAND_DISPLAY") {
                return Ok(Choice::Headless);
            }
            match Sdl::init() {
                Ok(s) => Ok(Choice::Window(s)),
                Err(e) => {
                    eprintln!("ironbox: no window ({e}); running headless");
                    Ok(Choice::Headless)
                }
            }
        }
        _ => anyhow::bail!("--display {spec:?}: expected sdl, none or auto"),
    }
}

/// Run `pc` on a machine thread with the window on this one. Returns the machine (for the
/// end-of-run screenshot and stats) and how the run ended.
pub fn run_windowed(
    pc: Pc,
    sdl: Sdl,
    max_instructions: Option<u64>,
) -> anyhow::Result<(Pc, RunEnd)> {
    let (to_machine, from_window) = crossbeam_channel::unbounded();
    let (to_window, from_machine) = crossbeam_channel::bounded(4);
    let (recycle_tx, recycle_rx) = crossbeam_channel::unbounded();
    let pause = pc.pause_handle();
    let machine = std::thread::Builder::new()
        .name("machine".into())
        .spawn(move || {
            let mut pc = pc;
            let r = machine_loop(
                &mut pc,
                max_instructions,
                &from_window,
                &to_window,
                &recycle_rx,
            );
            let _ = to_window.send(ToWindow::Finished);
            (pc, r)
        })?;
    let window = sdl.run(from_machine, to_machine, recycle_tx, pause);
    let (pc, r) = machine
        .join()
        .map_err(|_| anyhow::anyhow!("the machine thread panicked"))?;
    window?;
    Ok((pc, r?))
}

/// Host time between frames offered to the window.
const FRAME_INTERVAL: Duration = Duration::from_micros(16_667);
/// Host time the machine runs between looks at its input.
const SLICE: Duration = Duration::from_millis(10);
const STATS_INTERVAL: Duration = Duration::from_millis(500);
/// While paused, how often the machine thread looks whether it was resumed.
const PAUSED_POLL: Duration = Duration::from_millis(20);

/// Apply one window message to the machine. `false` on quit.
fn apply(pc: &mut Pc, msg: ToMachine, input: &mut bool) -> bool {
    match msg {
        ToMachine::Key(k, down) => {
            pc.bus.chip.kbc.key_event(k, down);
            *input = true;
        }
        ToMachine::Mouse {
            dx,
            dy,
            dz,
            buttons,
        } => {
            pc.bus.chip.kbc.mouse_event(dx, dy, dz, buttons);
            *input = true;
        }
        ToMachine::Quit => return false,
    }
    true
}

/// Render the VGA if its picture changed since `last_gen`.
fn render(pc: &mut Pc, last_gen: &mut u64, buf: Vec<u32>) -> Option<Frame> {
    let vga = &mut pc.bus.chip.vga;
    vga.set_time(pc.bus.now);
    if vga.generation() == *last_gen {
        return None;
    }
    *last_gen = vga.generation();
    let mut pixels = buf;
    let (w, h) = vga.render(&mut pixels);
    Some(Frame { w, h, pixels })
}

fn machine_loop(
    pc: &mut Pc,
    max_instructions: Option<u64>,
    rx: &Receiver<ToMachine>,
    tx: &Sender<ToWindow>,
    recycle: &Receiver<Vec<u32>>,
) -> anyhow::Result<RunEnd> {
    let start = pc.cpu.instret;
    let mut was_paused = false;
    let mut last_gen = u64::MAX;
    let mut last_frame: Option<Instant> = None;
    let mut stats_at = Instant::now();
    let mut stats_instret = pc.cpu.instret;
    loop {
        // Input and commands from the window. While paused, wait for them here.
        let mut input = false;
        let mut next = match rx.try_recv() {
            Ok(m) => Some(m),
            Err(TryRecvError::Empty) if pc.is_paused() => match rx.recv_timeout(PAUSED_POLL) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(RunEnd::Quit),
            },
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => return Ok(RunEnd::Quit),
        };
        while let Some(m) = next {
            if !apply(pc, m, &mut input) {
                return Ok(RunEnd::Quit);
            }
            next = rx.try_recv().ok();
        }
        if input {
            pc.host_input_changed();
        }

        let done = pc.cpu.instret - start;
        let remaining = max_instructions.map_or(u64::MAX, |m| m.saturating_sub(done));
        let outcome = if remaining == 0 {
            let (cs, eip) = pc.where_();
            Some(PcOutcome::InstructionLimit { cs, eip })
        } else {
            match pc.run_slice(remaining, Some(Instant::now() + SLICE))? {
                Stop::Exited(o) => Some(o),
                _ => None,
            }
        };
        if let Some(outcome) = outcome {
            // Show the last picture before going.
            if let Some(f) = render(pc, &mut last_gen, Vec::new()) {
                let _ = tx.send(ToWindow::Frame(f));
            }
            return Ok(RunEnd::Guest(outcome));
        }
        let paused = pc.is_paused();
        if paused && !was_paused {
            // Everything the guest wrote so far is out while it stands still.
            pc.bus.chip.flush_output();
        }

        let now = Instant::now();
        if last_frame.is_none_or(|t| now - t >= FRAME_INTERVAL) {
            let buf = recycle.try_recv().unwrap_or_default();
            if let Some(f) = render(pc, &mut last_gen, buf) {
                last_frame = Some(now);
                if let Err(e) = tx.try_send(ToWindow::Frame(f)) {
                    // The window is behind: drop this frame and offer a new one next time.
                    last_gen = u64::MAX;
                    if e.is_disconnected() {
                        return Ok(RunEnd::Quit);
                    }
                }
            }
        }
        if now - stats_at >= STATS_INTERVAL || paused != was_paused {
            let secs = (now - stats_at).as_secs_f64().max(1e-6);
            let mips = (pc.cpu.instret - stats_instret) as f64 / secs / 1e6;
            if tx.try_send(ToWindow::Stats { mips }).is_ok() {
                stats_at = now;
                stats_instret = pc.cpu.instret;
            }
        }
        was_paused = paused;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironbox_cpu::CpuModel;
    use ironbox_machine::pc::PcConfig;

    /// A 64 KiB "BIOS" whose reset vector spins: enough to build a board.
    fn tiny_pc() -> Pc {
        let mut bios = vec![0x90u8; 0x10000];
        // F000:FFF0: jmp $ (EB FE)
        bios[0xFFF0] = 0xEB;
        bios[0xFFF1] = 0xFE;
        Pc::new(PcConfig::with_bios(CpuModel::Pentium2, 4, bios)).unwrap()
    }

    #[test]
    fn key_from_the_window_reaches_port_60_and_raises_irq1() {
        let mut pc = tiny_pc();
        let mut input = false;
        // The keyboard must be scanning: reset leaves it enabled.
        assert!(apply(
            &mut pc,
            ToMachine::Key(keymap::pc_key(sdl2::keyboard::Scancode::A).unwrap(), true),
            &mut input
        ));
        assert!(input);
        pc.host_input_changed();
        assert!(pc.bus.chip.irq.level(1), "IRQ 1 raised");
        let status = pc.bus.chip.io_read(0x64, 1, 0);
        assert_eq!(status & 1, 1, "output buffer full");
        // Translation is on after reset: set 2 0x1C arrives as set 1 0x1E.
        assert_eq!(pc.bus.chip.io_read(0x60, 1, 0), 0x1E);
    }

    /// The machine thread's loop, paused and resumed from another thread through the handle
    /// (as the window's Ctrl+Alt+P does): the guest stops and goes on; quit ends the loop.
    #[test]
    fn pause_from_the_window_thread_stops_the_machine_loop() {
        let pc = tiny_pc();
        let pause = pc.pause_handle();
        let (to_m, rx) = crossbeam_channel::unbounded();
        let (tx, from_m) = crossbeam_channel::bounded(1024);
        let (_rtx, rrx) = crossbeam_channel::unbounded();
        let machine = std::thread::spawn(move || {
            let mut pc = pc;
            let end = machine_loop(&mut pc, None, &rx, &tx, &rrx);
            (end.unwrap(), pc)
        });
        let stats = || {
            from_m
                .try_iter()
                .filter_map(|m| match m {
                    ToWindow::Stats { mips } => Some(mips),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        std::thread::sleep(Duration::from_millis(600));
        assert!(stats().iter().any(|&m| m > 0.0), "the guest runs");
        assert!(pause.toggle());
        std::thread::sleep(Duration::from_millis(100));
        let _ = stats();
        std::thread::sleep(Duration::from_millis(1100));
        let paused = stats();
        assert!(
            !paused.is_empty() && paused.iter().all(|&m| m == 0.0),
            "no instructions while paused: {paused:?}"
        );
        assert!(!pause.toggle());
        std::thread::sleep(Duration::from_millis(600));
        assert!(stats().iter().any(|&m| m > 0.0), "the guest runs again");
        to_m.send(ToMachine::Quit).unwrap();
        let (end, pc) = machine.join().unwrap();
        assert_eq!(end, RunEnd::Quit);
        assert!(!pc.is_paused());
    }

    #[test]
    fn machine_loop_runs_slices_sends_frames_and_stops_at_the_limit() {
        let mut pc = tiny_pc();
        let (_to_m, rx) = crossbeam_channel::unbounded();
        let (tx, from_m) = crossbeam_channel::bounded(64);
        let (_rtx, rrx) = crossbeam_channel::unbounded();
        let end = machine_loop(&mut pc, Some(3_000_000), &rx, &tx, &rrx).unwrap();
        assert!(matches!(
            end,
            RunEnd::Guest(PcOutcome::InstructionLimit { .. })
        ));
        assert_eq!(pc.cpu.instret, 3_000_000);
        let frames = from_m
            .try_iter()
            .filter(|m| matches!(m, ToWindow::Frame(_)))
            .count();
        assert!(frames >= 1, "at least the final frame");
    }

    #[test]
    fn quit_from_the_window_ends_the_loop() {
        let mut pc = tiny_pc();
        let (to_m, rx) = crossbeam_channel::unbounded();
        let (tx, _from_m) = crossbeam_channel::bounded(4);
        let (_rtx, rrx) = crossbeam_channel::unbounded();
        pc.pause_handle().pause();
        to_m.send(ToMachine::Quit).unwrap();
        let end = machine_loop(&mut pc, None, &rx, &tx, &rrx).unwrap();
        assert_eq!(end, RunEnd::Quit);
    }
}
