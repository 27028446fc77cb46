//! `ironbox run`: boot a guest on the PC board, in a window (`--display sdl`) or headless.
//!
//! Firmware: real SeaBIOS from Debian's `seabios` package by default, `--bios` to choose an
//! image, or none with `--kernel` (direct Linux boot). Exit status: the isa-debug-exit status
//! ((v << 1) | 1, truncated to 8 bits as by QEMU) when the guest wrote port 0xF4; 0 when the
//! guest reset with `--no-reboot` or halted for good; 3 on a triple fault with `--no-reboot` or
//! when `--max-instructions` ran out; 2 on bad input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use ironbox_cpu::CpuModel;
use ironbox_devices::block::{BlockBackend, FileBackend};
use ironbox_devices::rtc::BootDevice;
use ironbox_jit::EngineKind;
use ironbox_machine::pc::{KernelBoot, Pc, PcConfig, PcOutcome};

use crate::display::{self, RunEnd};

/// Where Debian's `seabios` package puts the BIOS and the std VGA's BIOS.
const SEABIOS: &str = "/usr/share/seabios/bios.bin";
const SEAVGABIOS: &str = "/usr/share/seabios/vgabios-stdvga.bin";

#[derive(clap::Args)]
pub struct RunArgs {
    /// BIOS image (a multiple of 64 KiB), mapped to end at 4 GiB [default: Debian's SeaBIOS].
    #[arg(long, value_name = "ROM")]
    bios: Option<PathBuf>,
    /// VGA BIOS image for the std VGA [default: Debian's vgabios-stdvga.bin].
    #[arg(long, value_name = "ROM")]
    vga_bios: Option<PathBuf>,
    /// Hard disk image, IDE primary master (written in place).
    #[arg(long, value_name = "IMAGE")]
    hda: Option<PathBuf>,
    /// Hard disk image, IDE primary slave (written in place).
    #[arg(long, value_name = "IMAGE")]
    hdb: Option<PathBuf>,
    /// CD-ROM image (ISO 9660), IDE secondary master (read-only).
    #[arg(long, value_name = "ISO")]
    cdrom: Option<PathBuf>,
    /// Floppy image for drive A (1.44 MB, 720 KB, ...; written in place).
    #[arg(long, value_name = "IMAGE")]
    fda: Option<PathBuf>,
    /// Linux kernel (bzImage) to boot directly, without firmware.
    #[arg(long, value_name = "BZIMAGE")]
    kernel: Option<PathBuf>,
    /// Initial ramdisk for --kernel.
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// Kernel command line for --kernel.
    #[arg(long, value_name = "CMDLINE", requires = "kernel", default_value = "")]
    append: String,
    /// Serial port COM1: `stdio`, `none` or `file:PATH`.
    #[arg(long, default_value = "stdio", value_name = "WHERE")]
    serial: String,
    /// Debug console on ports 0xE9 and 0x402: `stdio`, `none` or `file:PATH`.
    #[arg(long, default_value = "none", value_name = "WHERE")]
    debugcon: String,
    /// Decode isa-debug-exit at port 0xF4 (a write of v exits with status (v << 1) | 1).
    #[arg(long)]
    debug_exit: bool,
    /// End the run (status 0) when the guest resets, instead of rebooting.
    #[arg(long)]
    no_reboot: bool,
    /// Derive time from retired instructions: same input, same output, same instruction count.
    #[arg(long)]
    deterministic: bool,
    /// Boot order: `c` (hard disk), `d` (CD-ROM), `a` (floppy), in order of preference.
    #[arg(long, default_value = "cda")]
    boot: String,
    /// CPU model: 8086, 80286 or pentium2.
    #[arg(long, default_value = "pentium2")]
    cpu: String,
    /// Execution engine: `jit` (hot code translated with Cranelift, cold code interpreted),
    /// `interp` (the interpreter only) or `lockstep` (the JIT, with every translated run
    /// re-executed by the interpreter and compared; stops at the first difference).
    #[arg(long, default_value = "jit", value_name = "jit|interp|lockstep")]
    engine: String,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 128, value_name = "MiB")]
    memory: u32,
    /// Stop (with an error) after this many instructions.
    #[arg(long, value_name = "N")]
    max_instructions: Option<u64>,
    /// Print the instruction count and run time at the end (on stderr).
    #[arg(long)]
    stats: bool,

    // --- Display (issue 5: the SDL window; issue 3: screenshots) ---
    /// Display: `sdl` (a window), `none` (headless), or `auto`: a window when $DISPLAY or
    /// $WAYLAND_DISPLAY is set and SDL starts, else headless. Hotkeys: see below.
    #[arg(long, default_value = "auto", value_name = "sdl|none|auto")]
    display: String,
    /// Write a PNG of the screen (the guest's resolution) when the run ends; works headless.
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,
    /// Write the VGA text screen's rows (one a line) when the run ends.
    #[arg(long, value_name = "PATH")]
    dump_screen_text: Option<PathBuf>,
    // --- end display ---
    #[command(flatten)]
    debug: DebugArgs,
}

fn sink_or_file(what: &str, spec: &str) -> anyhow::Result<Option<Box<dyn Write + Send>>> {
    Ok(match spec {
        "none" => None,
        "stdio" => Some(Box::new(std::io::stdout())),
        _ => match spec.strip_prefix("file:") {
            Some(path) if !path.is_empty() => {
                let f = std::fs::File::create(path)
                    .with_context(|| format!("cannot create {what} file {path}"))?;
                Some(Box::new(std::io::BufWriter::new(f)))
            }
            _ => bail!("--{what} {spec:?}: expected stdio, none or file:PATH"),
        },
    })
}

fn read_file(what: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let data =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    if data.is_empty() {
        bail!("{what} {} is empty", path.display());
    }
    Ok(data)
}

/// Open a disk image, checking it is usable before the guest starts.
fn disk(what: &str, path: &Path, read_only: bool) -> anyhow::Result<Box<dyn BlockBackend>> {
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("{what} image {shown}"))?;
    if !meta.is_file() {
        bail!("{what} image {shown} is not a regular file");
    }
    if meta.len() == 0 {
        bail!("{what} image {shown} is empty");
    }
    if what != "cdrom" && meta.len() % 512 != 0 {
        bail!(
            "{what} image {shown} is {} bytes, not a whole number of 512-byte sectors (truncated?)",
            meta.len()
        );
    }
    if what == "cdrom" {
        // The first volume descriptor (sector 16): type, "CD001", ...; in a primary volume
        // descriptor the volume space size (blocks, both-endian) at 80, the block size at 128.
        let mut vd = [0u8; 132];
        let ok = std::fs::File::open(path).and_then(|mut f| {
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(0x8000))?;
            f.read_exact(&mut vd)
        });
        if ok.is_err() || &vd[1..6] != b"CD001" {
            bail!("cdrom image {shown} is not an ISO 9660 image (no CD001 volume descriptor at 32 KiB)");
        }
        let blocks = u32::from_le_bytes([vd[80], vd[81], vd[82], vd[83]]) as u64;
        let block = u16::from_le_bytes([vd[128], vd[129]]) as u64;
        if vd[0] == 1 && blocks * block > meta.len() {
            bail!(
                "cdrom image {shown} is truncated: {} bytes, its volume descriptor says {}",
                meta.len(),
                blocks * block
            );
        }
    }
    let b = FileBackend::open(path, read_only)
        .with_context(|| format!("cannot open {what} image {shown}"))?;
    Ok(Box::new(b))
}

/// QEMU's Multiboot module list: "file [args],file [args]" (",," is a literal comma).
fn multiboot_modules(spec: &str) -> anyhow::Result<Vec<ironbox_machine::multiboot::Module>> {
    let spec = spec.replace(",,", "\u{0}");
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|m| {
            let m = m.replace('\u{0}', ",");
            let path = m.split_whitespace().next().unwrap_or_default();
            Ok(ironbox_machine::multiboot::Module {
                data: read_file("module", Path::new(path))?,
                cmdline: m.trim().to_string(),
            })
        })
        .collect()
}

fn boot_order(spec: &str) -> anyhow::Result<Vec<BootDevice>> {
    spec.chars()
        .map(|c| match c {
            'a' => Ok(BootDevice::Floppy),
            'c' => Ok(BootDevice::HardDisk),
            'd' => Ok(BootDevice::CdRom),
            'n' => Ok(BootDevice::Network),
            _ => bail!("--boot {spec:?}: expected letters from a, c, d, n"),
        })
        .collect()
}

/// Bytes typed on stdin, for the guest's serial port. On a terminal, stdin is put in raw mode
/// (keys go to the guest as typed, Ctrl-C included; restored at exit) and Ctrl-A X quits.
fn stdin_reader() -> std::sync::mpsc::Receiver<Vec<u8>> {
    let raw = RawTerminal::enable();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        let mut ctrl_a = false;
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut out = Vec::with_capacity(n);
            for &b in &buf[..n] {
                match (ctrl_a, b) {
                    (true, b'x' | b'X') => {
                        restore_terminal();
                        eprintln!("\r\nironbox: quit (Ctrl-A X)");
                        std::process::exit(0);
                    }
                    (true, 0x01) => out.push(0x01), // Ctrl-A Ctrl-A sends one Ctrl-A
                    (true, _) => out.push(b),
                    (false, 0x01) if raw.active() => {}
                    (false, _) => out.push(b),
                }
                ctrl_a = !ctrl_a && b == 0x01 && raw.active();
            }
            if !out.is_empty() && tx.send(out).is_err() {
                break;
            }
        }
    });
    rx
}

/// The terminal's settings while stdin is in raw mode; restored when dropped or at exit.
struct RawTerminal(Option<libc::termios>);

static SAVED_TERMIOS: std::sync::Mutex<Option<libc::termios>> = std::sync::Mutex::new(None);

extern "C" fn restore_terminal() {
    if let Ok(saved) = SAVED_TERMIOS.lock() {
        if let Some(t) = *saved {
            // SAFETY: restoring settings read from the same descriptor.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

impl RawTerminal {
    fn enable() -> RawTerminal {
        // SAFETY: plain termios calls on stdin; failure (not a terminal) leaves it untouched.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawTerminal(None);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawTerminal(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            t.c_oflag |= libc::OPOST | libc::ONLCR; // keep "\n" -> "\r\n" for our own messages
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return RawTerminal(None);
            }
            *SAVED_TERMIOS.lock().unwrap() = Some(saved);
            libc::atexit(restore_terminal);
            RawTerminal(Some(saved))
        }
    }
    fn active(&self) -> bool {
        self.0.is_some()
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if self.0.is_some() {
            restore_terminal();
        }
    }
}

pub fn main(a: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(model) = CpuModel::parse(&a.cpu) else {
        bail!(
            "--cpu {:?}: unknown CPU model (expected 8086, 80286 or pentium2)",
            a.cpu
        );
    };
    let Some(engine) = EngineKind::parse(&a.engine) else {
        bail!(
            "--engine {:?}: unknown engine (expected jit, interp or lockstep)",
            a.engine
        );
    };
    let screen = display::choose(&a.display)?;
    let kernel = match &a.kernel {
        Some(k) => {
            let image = read_file("kernel", k)?;
            let multiboot = !ironbox_machine::linux::is_bzimage(&image)
                && ironbox_machine::multiboot::find_header(&image).is_some();
            let (initrd, modules) = match (&a.initrd, multiboot) {
                (Some(spec), true) => (None, multiboot_modules(&spec.to_string_lossy())?),
                (Some(p), false) => (Some(read_file("initrd", p)?), Vec::new()),
                (None, _) => (None, Vec::new()),
            };
            Some(KernelBoot {
                name: k.display().to_string(),
                kernel: image,
                initrd,
                modules,
                cmdline: a.append.clone(),
            })
        }
        None => None,
    };
    let bios = match (&a.bios, &kernel) {
        (Some(p), _) => Some(read_file("BIOS image", p)?),
        (None, Some(_)) => None,
        (None, None) => {
            let p = Path::new(SEABIOS);
            if !p.exists() {
                bail!("no BIOS image: {SEABIOS} is missing (install Debian's `seabios` package) or pass --bios ROM");
            }
            Some(read_file("BIOS image", p)?)
        }
    };
    let vga_bios = match &a.vga_bios {
        Some(p) => Some(read_file("VGA BIOS image", p)?),
        None if Path::new(SEAVGABIOS).exists() => {
            Some(read_file("VGA BIOS image", Path::new(SEAVGABIOS))?)
        }
        None => None,
    };
    let open = |what: &str, p: &Option<PathBuf>, ro: bool| {
        p.as_deref().map(|p| disk(what, p, ro)).transpose()
    };
    let (hda, hdb, cdrom, fda) = (
        open("hda", &a.hda, false)?,
        open("hdb", &a.hdb, false)?,
        open("cdrom", &a.cdrom, true)?,
        open("fda", &a.fda, false)?,
    );
    let serial = sink_or_file("serial", &a.serial)?;
    let serial_input = (a.serial == "stdio").then(stdin_reader);
    let debugcon = sink_or_file("debugcon", &a.debugcon)?;
    let cfg = PcConfig {
        model,
        memory_mib: a.memory,
        bios,
        vga_bios,
        kernel,
        hda,
        hdb,
        cdrom,
        fda,
        serial,
        serial_input,
        debugcon,
        debug_exit: a.debug_exit,
        no_reboot: a.no_reboot,
        deterministic: a.deterministic,
        host_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        boot_order: boot_order(&a.boot)?,
        engine,
    };
    let mut pc = Pc::new(cfg)?;
    let t0 = std::time::Instant::now();
    let (mut pc, end) = match run_debugged(&a, &mut pc)? {
        Debugged::Ended(o) => (pc, RunEnd::Guest(o)),
        Debugged::Killed => return Ok(ExitCode::SUCCESS),
        Debugged::No => match screen {
            display::Choice::Headless => {
                let outcome = pc.run(a.max_instructions)?;
                (pc, RunEnd::Guest(outcome))
            }
            display::Choice::Window(sdl) => display::run_windowed(pc, sdl, a.max_instructions)?,
        },
    };
    pc.bus.chip.flush_output();
    if let Some(path) = &a.screenshot {
        let now = pc.bus.now;
        let (w, h) = display::screenshot::save_vga_png(&mut pc.bus.chip.vga, now, path)?;
        if a.stats {
            eprintln!("ironbox: screenshot {w}x{h} saved to {}", path.display());
        }
    }
    if let Some(path) = &a.dump_screen_text {
        display::screenshot::save_text(&pc.bus.chip.vga, path)?;
    }
    if a.stats {
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "ironbox: {} instructions in {secs:.2} s ({:.1} MIPS)",
            pc.cpu.instret,
            pc.cpu.instret as f64 / secs / 1e6
        );
        if let Some(j) = pc.engine.stats() {
            eprintln!(
                "ironbox: jit: {} regions ({} guest instructions, {} KiB code) compiled in {:.2} s; {} of the instructions ran translated ({} entries from the dispatcher, {} of them after a jump-cache miss; {} stale, {} flushes); interpreted blocks: {} cold, {} waiting for compilation, {} not compilable; lockstep checked {}",
                j.regions_compiled,
                j.guest_instrs_compiled,
                j.code_bytes >> 10,
                j.compile_time.as_secs_f64(),
                j.instrs_in_regions,
                j.region_runs,
                j.chain_misses,
                j.stale_drops,
                j.flushes,
                j.cold_entries,
                j.pending_entries,
                j.failed_entries,
                pc.engine.lockstep_checked()
            );
        }
        let s = pc.cpu.s.clone();
        eprintln!(
            "ironbox: cs:eip={:04x}:{:08x} eflags={:08x} eax={:08x} ebx={:08x} ecx={:08x} edx={:08x} esi={:08x} edi={:08x} ebp={:08x} esp={:08x} cr0={:08x} cr3={:08x}",
            s.seg[1].selector, s.eip, s.eflags, s.gpr[0], s.gpr[3], s.gpr[1], s.gpr[2], s.gpr[6], s.gpr[7], s.gpr[5], s.gpr[4], s.cr0, s.cr3
        );
        let lin = s.seg[1].base.wrapping_add(s.eip);
        if let Some(code) = pc.cpu.read_linear(&mut pc.bus, lin.wrapping_sub(16), 48) {
            eprintln!("ironbox: code at eip-16: {code:02x?}");
        }
        // Frame-pointer chain (return addresses), for a first look at where a guest is stuck.
        let mut bp = s.gpr[5];
        let mut chain = Vec::new();
        for _ in 0..12 {
            let Some(f) = pc.cpu.read_linear(&mut pc.bus, bp, 8) else {
                break;
            };
            let next = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
            chain.push(u32::from_le_bytes([f[4], f[5], f[6], f[7]]));
            if next <= bp {
                break;
            }
            bp = next;
        }
        eprintln!("ironbox: return addresses: {chain:08x?}");
    }
    let outcome = match end {
        RunEnd::Guest(o) => o,
        RunEnd::Quit => return Ok(ExitCode::SUCCESS),
    };
    Ok(match outcome {
        PcOutcome::DebugExit(status) => ExitCode::from(status as u8),
        PcOutcome::Reset => ExitCode::SUCCESS,
        PcOutcome::Halted { cs, eip } => {
            eprintln!("ironbox: guest halted at {cs:04x}:{eip:08x} with nothing left to wake it");
            ExitCode::SUCCESS
        }
        PcOutcome::Shutdown { cs, eip } => {
            eprintln!("ironbox: guest shut down (triple fault) at {cs:04x}:{eip:08x}");
            ExitCode::from(3)
        }
        PcOutcome::InstructionLimit { cs, eip } => {
            eprintln!("ironbox: instruction limit reached at {cs:04x}:{eip:08x}");
            ExitCode::from(3)
        }
    })
}

// ---- Debugging: the GDB stub (`--gdb`, `--paused`) ------------------------------------------

#[derive(clap::Args)]
pub struct DebugArgs {
    /// GDB remote stub: `tcp:HOST:PORT` (`tcp::1234` listens on 127.0.0.1:1234). In gdb:
    /// `set architecture i386`, `target remote :1234`; addresses are linear (CS*16+IP in real
    /// mode); `monitor help` lists the extra commands.
    #[arg(long, value_name = "tcp:HOST:PORT")]
    gdb: Option<String>,
    /// Stay stopped at the reset vector, before the first instruction, until gdb attaches (and
    /// whenever it goes away).
    #[arg(long, requires = "gdb")]
    paused: bool,
}

enum Debugged {
    /// No debugger asked for: run as usual.
    No,
    Ended(PcOutcome),
    /// The debugger killed the guest.
    Killed,
}

fn run_debugged(a: &RunArgs, pc: &mut Pc) -> anyhow::Result<Debugged> {
    let Some(spec) = &a.debug.gdb else {
        return Ok(Debugged::No);
    };
    if a.max_instructions.is_some() {
        bail!("--max-instructions cannot be combined with --gdb");
    }
    let addr = crate::gdb::parse_addr(spec)?;
    Ok(match crate::gdb::serve(pc, addr, a.debug.paused)? {
        crate::gdb::GdbEnd::Exited(o) => Debugged::Ended(o),
        crate::gdb::GdbEnd::Killed => Debugged::Killed,
    })
}
