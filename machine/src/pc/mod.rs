//! The PC: a Pentium II class CPU on an i440FX/PIIX3-style board with the legacy chipset
//! (`chipset`), its memory map (`bus`), one virtual clock (`clock`), and the run loop that
//! interleaves CPU slices with device deadlines, resets and host input. Firmware is real
//! SeaBIOS (or any BIOS image), or no firmware at all for a direct Linux boot.

pub mod bus;
pub mod chipset;
pub mod clock;
pub mod control;
pub mod pci;

use std::io::Write;
use std::sync::mpsc::Receiver;

use ironbox_cpu::state::flags;
use ironbox_cpu::{Cpu, CpuModel, RunExit, SegReg};
use ironbox_devices::block::BlockBackend;
use ironbox_devices::floppy::Floppy;
use ironbox_devices::fw_cfg::{e820_bytes, E820Entry, FwCfg};
use ironbox_devices::ide::IdeController;
use ironbox_devices::rtc::{BootDevice, DiskGeometry, FloppyType, Rtc};
use ironbox_devices::uart::Uart16550;
use ironbox_jit::{Engine, EngineKind};
use memmap2::MmapMut;

use crate::linux::{self, LinuxError};
use bus::{DmaRam, PcBus};
use chipset::{Chipset, PortClash};
use clock::Clock;
use control::{Control, Stop};

/// A kernel to boot directly (no firmware), as QEMU's `-kernel/-initrd/-append`.
pub struct KernelBoot {
    pub name: String,
    pub kernel: Vec<u8>,
    /// Linux initrd.
    pub initrd: Option<Vec<u8>>,
    /// Multiboot modules (QEMU's `-initrd "file args,file2"` for Multiboot kernels).
    pub modules: Vec<crate::multiboot::Module>,
    pub cmdline: String,
}

/// Everything the board is built from.
pub struct PcConfig {
    pub model: CpuModel,
    pub memory_mib: u32,
    /// The BIOS image (mapped at the top of 4 GiB, its last 128 KiB below 1 MiB).
    pub bios: Option<Vec<u8>>,
    /// The VGA BIOS image (the std VGA's expansion ROM).
    pub vga_bios: Option<Vec<u8>>,
    /// Direct kernel boot instead of running the BIOS.
    pub kernel: Option<KernelBoot>,
    /// IDE primary master and slave (hard disks), secondary master (CD-ROM).
    pub hda: Option<Box<dyn BlockBackend>>,
    pub hdb: Option<Box<dyn BlockBackend>>,
    pub cdrom: Option<Box<dyn BlockBackend>>,
    /// Floppy drive A.
    pub fda: Option<Box<dyn BlockBackend>>,
    /// COM1 output.
    pub serial: Option<Box<dyn Write + Send>>,
    /// COM1 input (bytes from the host).
    pub serial_input: Option<Receiver<Vec<u8>>>,
    /// Port 0xE9/0x402 debug console output.
    pub debugcon: Option<Box<dyn Write + Send>>,
    pub debug_exit: bool,
    /// A guest reset ends the run (status 0) instead of rebooting.
    pub no_reboot: bool,
    pub deterministic: bool,
    /// Wall-clock date for the RTC (seconds since the Unix epoch); ignored when deterministic.
    pub host_time: i64,
    pub boot_order: Vec<BootDevice>,
    /// What executes guest code: the JIT (default), the interpreter, or lockstep checking.
    pub engine: EngineKind,
}

impl PcConfig {
    /// A board with just a BIOS image: no disks, no serial or debug output, deterministic
    /// time, `--no-reboot`. The starting point for tests and embedders.
    pub fn with_bios(model: CpuModel, memory_mib: u32, bios: Vec<u8>) -> PcConfig {
        PcConfig {
            model,
            memory_mib,
            bios: Some(bios),
            vga_bios: None,
            kernel: None,
            hda: None,
            hdb: None,
            cdrom: None,
            fda: None,
            serial: None,
            serial_input: None,
            debugcon: None,
            debug_exit: false,
            no_reboot: true,
            deterministic: true,
            host_time: 0,
            boot_order: vec![],
            engine: EngineKind::Jit,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PcError {
    #[error("memory size {0} MiB is out of range (2..=3072 MiB)")]
    Memory(u32),
    #[error("cannot map guest RAM: {0}")]
    Map(#[from] std::io::Error),
    #[error("BIOS image is {0} bytes; it must be a multiple of 64 KiB, at most 2 MiB")]
    BiosSize(usize),
    #[error(transparent)]
    Linux(#[from] LinuxError),
    #[error(transparent)]
    Multiboot(#[from] crate::multiboot::MultibootError),
    #[error(transparent)]
    Ports(#[from] PortClash),
    #[error("nothing to run: no BIOS image and no kernel")]
    NothingToRun,
    #[error("floppy image: {0}")]
    Floppy(String),
    #[error("{0}")]
    Diverged(String),
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcOutcome {
    /// The guest wrote to isa-debug-exit.
    DebugExit(u32),
    /// The guest reset the machine and `no_reboot` was set.
    Reset,
    /// Triple fault with `no_reboot` set.
    Shutdown { cs: u16, eip: u32 },
    /// The CPU halted with interrupts disabled (or with nothing left that could wake it).
    Halted { cs: u16, eip: u32 },
    /// The instruction limit was reached.
    InstructionLimit { cs: u16, eip: u32 },
}

/// Fixed date of the RTC in deterministic mode: 2024-01-01 00:00:00 UTC.
pub const DETERMINISTIC_DATE: i64 = 1_704_067_200;

pub struct Pc {
    pub cpu: Cpu,
    pub bus: PcBus,
    /// Runs guest code (see `ironbox_jit::Engine`).
    pub engine: Engine<PcBus>,
    clock: Clock,
    kernel: Option<KernelBoot>,
    serial_input: Option<Receiver<Vec<u8>>>,
    no_reboot: bool,
    next_deadline: Option<u64>,
    /// Pause, slices and debugger state (see `control`).
    control: Control,
}

impl Pc {
    pub fn new(cfg: PcConfig) -> Result<Pc, PcError> {
        if !(2..=3072).contains(&cfg.memory_mib) {
            return Err(PcError::Memory(cfg.memory_mib));
        }
        let bios = cfg.bios.unwrap_or_default();
        if bios.len() % 0x1_0000 != 0 || bios.len() > 2 << 20 {
            return Err(PcError::BiosSize(bios.len()));
        }
        if bios.is_empty() && cfg.kernel.is_none() {
            return Err(PcError::NothingToRun);
        }
        let ram_size = cfg.memory_mib << 20;
        let ram = MmapMut::map_anon(ram_size as usize)?;
        let mut ide = IdeController::new();
        let hd_geometry = |b: &dyn BlockBackend| {
            let sectors = b.len() / 512;
            let cyl = (sectors / (16 * 63)).clamp(1, 16383) as u16;
            DiskGeometry {
                cylinders: cyl,
                heads: 16,
                sectors: 63,
            }
        };
        let geo0 = cfg.hda.as_deref().map(hd_geometry);
        let geo1 = cfg.hdb.as_deref().map(hd_geometry);
        if let Some(d) = cfg.hda {
            ide.attach_disk(0, 0, d);
        }
        if let Some(d) = cfg.hdb {
            ide.attach_disk(0, 1, d);
        }
        ide.attach_cdrom(1, 0, cfg.cdrom);
        let mut floppy = Floppy::new();
        if let Some(f) = cfg.fda {
            floppy
                .insert(0, f)
                .map_err(|e| PcError::Floppy(e.to_string()))?;
        }

        let mut rtc = Rtc::new(if cfg.deterministic {
            DETERMINISTIC_DATE
        } else {
            cfg.host_time
        });
        rtc.set_memory(ram_size as u64, 0);
        rtc.set_equipment(true, true);
        let ft = floppy.cmos_drive_types();
        let kind = |code: u8| match code {
            1 => FloppyType::Kb360,
            2 => FloppyType::Mb1_2,
            3 => FloppyType::Kb720,
            4 => FloppyType::Mb1_44,
            5 => FloppyType::Mb2_88,
            _ => FloppyType::None,
        };
        rtc.set_floppies(kind(ft >> 4), kind(ft & 0xF));
        rtc.set_hard_disk(0, geo0);
        rtc.set_hard_disk(1, geo1);
        rtc.set_boot_order(&cfg.boot_order, false);
        rtc.set_cpu_count(1);
        let mut fw = FwCfg::new();
        fw.set_ram_size(ram_size as u64);
        fw.set_cpus(1, 1);
        let e820: Vec<E820Entry> = linux::e820_map(ram_size)
            .iter()
            .map(|e| E820Entry {
                addr: e.addr,
                len: e.size,
                kind: e.kind,
            })
            .collect();
        // As QEMU: one RAM entry from 0; SeaBIOS carves out the EBDA and BIOS areas itself.
        let _ = e820;
        let ram_entry = E820Entry {
            addr: 0,
            len: ram_size as u64,
            kind: 1,
        };
        fw.add_file("etc/e820", e820_bytes(&[ram_entry]));
        let mut uarts = Vec::new();
        let com1_out: Box<dyn Write + Send> =
            cfg.serial.unwrap_or_else(|| Box::new(std::io::sink()));
        uarts.push(Uart16550::com(1, com1_out));
        for n in 2..=4 {
            uarts.push(Uart16550::com(n, Box::new(std::io::sink())));
        }
        let chip = Chipset::new(
            rtc,
            fw,
            uarts,
            ide,
            floppy,
            cfg.vga_bios.unwrap_or_default(),
            cfg.debugcon,
            cfg.debug_exit,
        )?;
        let bus = PcBus {
            mem: DmaRam {
                ram,
                dirty: Vec::new(),
            },
            ram_size,
            bios: bios.into_boxed_slice(),
            pam: [0; 7],
            chip,
            now: 0,
            host_clock: None,
        };
        let cpu = {
            let mut c = Cpu::new(cfg.model);
            c.trace_exceptions = std::env::var_os("IRONBOX_TRACE_EXCEPTIONS").is_some();
            c
        };
        let mut pc = Pc {
            // Deterministic runs also translate the same code every time.
            engine: Engine::new(cfg.engine, &cpu, !cfg.deterministic),
            cpu,
            bus,
            clock: Clock::new(cfg.deterministic),
            kernel: cfg.kernel,
            serial_input: cfg.serial_input,
            no_reboot: cfg.no_reboot,
            next_deadline: None,
            control: Control::default(),
        };
        pc.bus.host_clock = pc.clock.host_start();
        pc.power_on()?;
        Ok(pc)
    }

    /// Reset the CPU and devices and (for a direct boot) load the kernel again.
    fn power_on(&mut self) -> Result<(), PcError> {
        self.cpu.reset();
        self.bus.chip.reset();
        self.bus.pam = [0; 7];
        if let Some(k) = &self.kernel {
            let ram = &mut self.bus.mem.ram;
            let multiboot = !linux::is_bzimage(&k.kernel)
                && crate::multiboot::load(
                    ram,
                    &mut self.cpu.s,
                    &k.name,
                    &k.kernel,
                    &k.modules,
                    &k.cmdline,
                )?;
            if !multiboot {
                linux::load(
                    ram,
                    &mut self.cpu.s,
                    &k.name,
                    &k.kernel,
                    k.initrd.as_deref(),
                    &k.cmdline,
                )?;
            }
            self.cpu.flush_tlb();
            self.cpu.invalidate_phys(0, self.bus.ram_size);
        }
        let now = self.clock.now(self.cpu.instret);
        self.next_deadline = self.bus.chip.advance_timers(now);
        Ok(())
    }

    /// CS selector and EIP of the next instruction.
    pub fn where_(&self) -> (u16, u32) {
        (self.cpu.s.seg[SegReg::Cs as usize].selector, self.cpu.s.eip)
    }

    /// Feed host input (serial) into the devices.
    fn pump_input(&mut self) -> bool {
        let mut got = false;
        if let Some(rx) = &self.serial_input {
            while let Ok(bytes) = rx.try_recv() {
                self.bus.chip.uarts[0].receive(&bytes);
                got = true;
            }
        }
        got
    }

    /// Run until the guest ends the run (debug exit, reset with `no_reboot`, halt with
    /// interrupts off) or `max_instructions` retire. Pause requests, breakpoints and
    /// watchpoints are not looked at: `run_slice` (in `control`) is the run that stops for them.
    pub fn run(&mut self, max_instructions: Option<u64>) -> Result<PcOutcome, PcError> {
        self.thaw_clock();
        let limit = max_instructions.unwrap_or(u64::MAX);
        let start = self.cpu.instret;
        loop {
            let done = self.cpu.instret - start;
            if done >= limit {
                let (cs, eip) = self.where_();
                return Ok(PcOutcome::InstructionLimit { cs, eip });
            }
            if let Stop::Exited(outcome) = self.run_inner(limit - done, false)? {
                return Ok(outcome);
            }
        }
    }

    /// The run loop: at most `limit` instructions; returns early when the guest ends the run,
    /// when the CPU idled (halted, waiting for an interrupt), and, if `stoppable`, on a pause
    /// request or an emulator breakpoint or watchpoint.
    fn run_inner(&mut self, limit: u64, stoppable: bool) -> Result<Stop, PcError> {
        let start = self.cpu.instret;
        // Debugging aid: IRONBOX_TRACE_FROM=N prints CS:EIP of every instruction after N.
        let trace_from: u64 = std::env::var("IRONBOX_TRACE_FROM")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        let mut last_pump = 0u64;
        loop {
            let done = self.cpu.instret - start;
            if done >= limit || self.slice_over() {
                return Ok(Stop::SliceDone);
            }
            if stoppable && self.control.pause.is_paused() {
                return Ok(Stop::Paused);
            }
            let now = self.clock.now(self.cpu.instret);
            self.bus.now = now;
            if self.cpu.instret.wrapping_sub(last_pump) > 1 << 18
                || self.serial_input.is_some() && done == 0
            {
                last_pump = self.cpu.instret;
                if self.pump_input() {
                    self.next_deadline = self.bus.chip.advance_timers(now);
                }
            }
            if self.next_deadline.is_some_and(|d| now >= d) {
                self.next_deadline = self.bus.chip.advance_timers(now);
            }
            let mut budget = self.clock.budget(now, self.next_deadline).min(limit - done);
            if self.cpu.instret < trace_from {
                budget = budget.min(trace_from - self.cpu.instret);
            } else {
                budget = 1;
                let (cs, eip) = self.where_();
                eprintln!("trace {} {cs:04x}:{eip:08x} eax={:08x} ebx={:08x} ecx={:08x} edx={:08x} esp={:08x}", self.cpu.instret, self.cpu.s.gpr[0], self.cpu.s.gpr[3], self.cpu.s.gpr[1], self.cpu.s.gpr[2], self.cpu.s.gpr[4]);
            }
            let (exit, _) = self.engine.run(&mut self.cpu, &mut self.bus, budget);
            // DMA may have written over decoded code.
            for (addr, len) in self.bus.mem.dirty.drain(..) {
                self.cpu.invalidate_phys(addr, len);
            }
            // Device accesses in the slice may have moved the deadlines.
            self.next_deadline = self.bus.chip.next_deadline();
            if let Some(status) = self.bus.chip.exit_status {
                return Ok(Stop::Exited(PcOutcome::DebugExit(status)));
            }
            let reset = std::mem::take(&mut self.bus.chip.reset_requested);
            match exit {
                RunExit::Shutdown => {
                    if self.no_reboot {
                        let (cs, eip) = self.where_();
                        return Ok(Stop::Exited(PcOutcome::Shutdown { cs, eip }));
                    }
                    self.power_on()?;
                    continue;
                }
                RunExit::Halted => {
                    let can_wake = self.cpu.s.eflags & flags::IF != 0;
                    if !can_wake && self.serial_input.is_none() {
                        let (cs, eip) = self.where_();
                        return Ok(Stop::Exited(PcOutcome::Halted { cs, eip }));
                    }
                    match self.next_deadline {
                        Some(d) => {
                            let skipped = self.clock.wait_until(self.cpu.instret, d);
                            // The time-stamp counter goes on while the CPU is halted.
                            self.cpu.s.tsc =
                                self.cpu.s.tsc.wrapping_add(skipped / clock::NS_PER_INSTR);
                        }
                        None if self.clock.deterministic() && self.serial_input.is_none() => {
                            let (cs, eip) = self.where_();
                            return Ok(Stop::Exited(PcOutcome::Halted { cs, eip }));
                        }
                        None => std::thread::sleep(std::time::Duration::from_millis(5)),
                    }
                    if self.pump_input() {
                        let now = self.clock.now(self.cpu.instret);
                        self.next_deadline = self.bus.chip.advance_timers(now);
                    }
                    // Time passed without instructions: let the caller look around.
                    if !reset {
                        return Ok(Stop::SliceDone);
                    }
                }
                RunExit::Diverged => {
                    let report = self.engine.divergence.take().unwrap_or_default();
                    return Err(PcError::Diverged(report));
                }
                RunExit::Io | RunExit::Budget | RunExit::Debug => {}
            }
            if reset {
                if self.no_reboot {
                    return Ok(Stop::Exited(PcOutcome::Reset));
                }
                self.power_on()?;
            }
            if let Some(stop) = self.cpu.take_debug_stop() {
                if stoppable {
                    return Ok(self.debug_stopped(stop));
                }
                if let ironbox_cpu::DebugStop::Breakpoint(lin) = stop {
                    self.cpu.skip_breakpoint_once(lin);
                }
            }
        }
    }

    /// The VGA text screen, if it is in a text mode.
    pub fn screen_text(&self) -> Option<Vec<String>> {
        self.bus.chip.vga.text_snapshot()
    }
}
