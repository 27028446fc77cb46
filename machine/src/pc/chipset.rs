//! The PC's chipset as the CPU's port space sees it: every device of the board, a port → device
//! table (overlaps rejected when it is built), the ISA IRQ lines into the PIC, A20 and reset
//! requests, and the timed devices' deadlines.

use std::io::Write;

use ironbox_devices::dma::Dma8237;
use ironbox_devices::floppy::{DmaTransfer, Floppy, IsaDma};
use ironbox_devices::fw_cfg::FwCfg;
use ironbox_devices::i8042::I8042;
use ironbox_devices::ide::IdeController;
use ironbox_devices::pci::host_bridge::I440fx;
use ironbox_devices::pci::piix3::Piix3Isa;
use ironbox_devices::pci::PciHost;
use ironbox_devices::pic::Pic;
use ironbox_devices::pit::Pit;
use ironbox_devices::rtc::Rtc;
use ironbox_devices::sysctl::SysCtl;
use ironbox_devices::uart::Uart16550;
use ironbox_devices::vga::Vga;
use ironbox_devices::{all_ones, Ctx, DmaMemory, IoDevice, IrqLines, Nanos, Timed};

use super::pci::{PciDevices, VgaPci};

/// Which device owns a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Dev {
    None,
    Pic,
    Pit,
    Rtc,
    Kbc,
    SysCtl,
    Dma,
    Uart0,
    Uart1,
    Uart2,
    Uart3,
    FwCfg,
    Vga,
    DebugCon,
    DebugExit,
    Pci,
    Ide,
    Floppy,
}

#[derive(Debug, thiserror::Error)]
#[error("port {port:#06x} claimed by both {a:?} and {b:?}")]
pub struct PortClash {
    port: u16,
    a: String,
    b: String,
}

/// All devices of the board that live on ports.
pub struct Chipset {
    pub pic: Pic,
    pub pit: Pit,
    pub rtc: Rtc,
    pub kbc: I8042,
    pub sysctl: SysCtl,
    pub dma: Dma8237,
    pub uarts: Vec<Uart16550>,
    pub fw_cfg: FwCfg,
    pub vga: Vga,
    pub pci_host: PciHost,
    pub pci: PciDevices,
    pub floppy: Floppy,
    pub debugcon: Option<Box<dyn Write + Send>>,
    pub debug_exit_enabled: bool,
    /// Status the guest asked for through isa-debug-exit.
    pub exit_status: Option<u32>,
    pub irq: IrqLines,
    map: Box<[Dev; 65536]>,
    /// Next deadline of the PIT and the RTC.
    deadlines: [Option<Nanos>; 2],
    /// A port write asked for a CPU reset (8042 pulse, port 0x92, 0xCF9).
    pub reset_requested: bool,
    pub a20: bool,
}

impl Chipset {
    pub fn new(
        rtc: Rtc,
        fw_cfg: FwCfg,
        uarts: Vec<Uart16550>,
        ide: IdeController,
        floppy: Floppy,
        vga_bios: Vec<u8>,
        debugcon: Option<Box<dyn Write + Send>>,
        debug_exit: bool,
    ) -> Result<Chipset, PortClash> {
        let mut c = Chipset {
            pci_host: PciHost::new(),
            pci: PciDevices {
                host: I440fx::new(),
                isa: Piix3Isa::new(),
                ide,
                vga: VgaPci::new(vga_bios),
            },
            floppy,
            pic: Pic::new(),
            pit: Pit::new(),
            rtc,
            kbc: I8042::new(),
            sysctl: SysCtl::new(),
            dma: Dma8237::new(),
            uarts,
            fw_cfg,
            vga: Vga::new(),
            debugcon,
            debug_exit_enabled: debug_exit,
            exit_status: None,
            irq: IrqLines::default(),
            map: Box::new([Dev::None; 65536]),
            deadlines: [None; 2],
            reset_requested: false,
            a20: true,
        };
        c.claim(0x20, 0x21, Dev::Pic)?;
        c.claim(0xA0, 0xA1, Dev::Pic)?;
        c.claim(0x4D0, 0x4D1, Dev::Pic)?;
        c.claim(0x40, 0x43, Dev::Pit)?;
        c.claim(0x61, 0x61, Dev::Pit)?;
        c.claim(0x70, 0x71, Dev::Rtc)?;
        c.claim(0x60, 0x60, Dev::Kbc)?;
        c.claim(0x64, 0x64, Dev::Kbc)?;
        c.claim(0x92, 0x92, Dev::SysCtl)?;
        c.claim(0x00, 0x0F, Dev::Dma)?;
        c.claim(0x80, 0x8F, Dev::Dma)?;
        c.claim(0xC0, 0xDF, Dev::Dma)?;
        let uart_devs = [Dev::Uart0, Dev::Uart1, Dev::Uart2, Dev::Uart3];
        for k in 0..c.uarts.len().min(4) {
            let base = c.uarts[k].base();
            c.claim(base, base + 7, uart_devs[k])?;
        }
        c.claim(0x510, 0x511, Dev::FwCfg)?;
        for (a, b) in ironbox_devices::vga::IO_PORT_RANGES {
            c.claim(a, b, Dev::Vga)?;
        }
        c.claim(0xCF8, 0xCFF, Dev::Pci)?;
        for (a, b) in IdeController::legacy_ports() {
            c.claim(a, b, Dev::Ide)?;
        }
        c.claim(0x3F0, 0x3F5, Dev::Floppy)?;
        c.claim(0x3F7, 0x3F7, Dev::Floppy)?;
        if c.debugcon.is_some() {
            c.claim(0xE9, 0xE9, Dev::DebugCon)?;
            c.claim(0x402, 0x402, Dev::DebugCon)?;
        }
        if debug_exit {
            c.claim(0xF4, 0xF7, Dev::DebugExit)?;
        }
        Ok(c)
    }

    fn claim(&mut self, first: u16, last: u16, dev: Dev) -> Result<(), PortClash> {
        for p in first..=last {
            if self.map[p as usize] != Dev::None {
                return Err(PortClash {
                    port: p,
                    a: format!("{:?}", self.map[p as usize]),
                    b: format!("{dev:?}"),
                });
            }
            self.map[p as usize] = dev;
        }
        Ok(())
    }

    /// Push buffered host output (debug console, serial) out.
    pub fn flush_output(&mut self) {
        if let Some(out) = &mut self.debugcon {
            let _ = out.flush();
        }
        for u in &mut self.uarts {
            u.flush();
        }
    }

    /// Reset every device to its power-on state (keeps host connections and CMOS).
    pub fn reset(&mut self) {
        self.pic = Pic::new();
        self.pit = Pit::new();
        self.kbc.reset();
        self.sysctl.reset();
        self.dma.reset();
        for u in &mut self.uarts {
            u.reset();
        }
        self.fw_cfg.reset();
        self.vga.reset();
        self.pci_host = PciHost::new();
        self.pci.host = I440fx::new();
        self.pci.isa = Piix3Isa::new();
        self.pci.vga = VgaPci::new(std::mem::take(&mut self.pci.vga.rom));
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.irq,
        };
        self.pci.ide.reset(&mut ctx);
        self.irq = IrqLines::default();
        self.deadlines = [None; 2];
        self.reset_requested = false;
        self.a20 = true;
    }

    /// The device owning a port (fixed map, then ranges the guest programmed: IDE bus master).
    #[inline]
    fn owner(&self, port: u16) -> Dev {
        match self.map[port as usize] {
            Dev::None if self.pci.ide.claims_port(port) => Dev::Ide,
            d => d,
        }
    }

    pub fn io_read(&mut self, port: u16, size: u8, now: Nanos) -> u32 {
        let dev = self.owner(port);
        let mut ctx = Ctx {
            now,
            irq: &mut self.irq,
        };
        let v = match dev {
            Dev::None => all_ones(size),
            Dev::Pic => self.pic.io_read(port, size, &mut ctx),
            Dev::Pit => self.pit.io_read(port, size, &mut ctx),
            Dev::Rtc => self.rtc.io_read(port, size, &mut ctx),
            Dev::Kbc => self.kbc.io_read(port, size, &mut ctx),
            Dev::SysCtl => self.sysctl.io_read(port, size, &mut ctx),
            Dev::Dma => self.dma.io_read(port, size, &mut ctx),
            Dev::Uart0 | Dev::Uart1 | Dev::Uart2 | Dev::Uart3 => {
                let k = dev as usize - Dev::Uart0 as usize;
                self.uarts[k].io_read(port, size, &mut ctx)
            }
            Dev::FwCfg => self.fw_cfg.io_read(port, size, &mut ctx),
            Dev::Vga => {
                self.vga.set_time(now);
                self.vga.io_read(port, size, &mut ctx)
            }
            Dev::DebugCon => 0xE9,
            Dev::DebugExit => 0,
            Dev::Pci => self.pci_host.io_read(port, size, &mut self.pci),
            Dev::Ide => self.pci.ide.io_read(port, size, &mut ctx),
            Dev::Floppy => self.floppy.io_read(port, size, &mut ctx),
        };
        self.after_access(dev, now);
        if std::env::var_os("IRONBOX_IO_TRACE").is_some() {
            eprintln!("in  {port:04x} -> {v:x} ({size}) {dev:?}");
        }
        v
    }

    pub fn io_write(
        &mut self,
        port: u16,
        size: u8,
        value: u32,
        now: Nanos,
        mem: &mut dyn DmaMemory,
    ) {
        // 0xCF9 (PIIX reset control) sits inside the PCI configuration window.
        if port == 0xCF9 && size == 1 {
            let mut ctx = Ctx {
                now,
                irq: &mut self.irq,
            };
            self.sysctl.io_write(port, size, value, &mut ctx);
            self.after_access(Dev::SysCtl, now);
            return;
        }
        let dev = self.owner(port);
        if std::env::var_os("IRONBOX_IO_TRACE").is_some() {
            eprintln!("out {port:04x} {value:x} ({size}) {dev:?}");
        }
        let mut ctx = Ctx {
            now,
            irq: &mut self.irq,
        };
        match dev {
            Dev::None => {}
            Dev::Pic => self.pic.io_write(port, size, value, &mut ctx),
            Dev::Pit => self.pit.io_write(port, size, value, &mut ctx),
            Dev::Rtc => self.rtc.io_write(port, size, value, &mut ctx),
            Dev::Kbc => self.kbc.io_write(port, size, value, &mut ctx),
            Dev::SysCtl => self.sysctl.io_write(port, size, value, &mut ctx),
            Dev::Dma => self.dma.io_write(port, size, value, &mut ctx),
            Dev::Uart0 | Dev::Uart1 | Dev::Uart2 | Dev::Uart3 => {
                let k = dev as usize - Dev::Uart0 as usize;
                self.uarts[k].io_write(port, size, value, &mut ctx)
            }
            Dev::FwCfg => self.fw_cfg.io_write(port, size, value, &mut ctx),
            Dev::Vga => self.vga.io_write(port, size, value, &mut ctx),
            Dev::DebugCon => {
                if let Some(out) = &mut self.debugcon {
                    if out.write_all(&[value as u8]).is_err() {
                        self.debugcon = None;
                    }
                }
            }
            Dev::DebugExit => self.exit_status = Some((value << 1) | 1),
            Dev::Pci => {
                self.pci_host.io_write(port, size, value, &mut self.pci);
                if self.pci_host.take_reset_request() {
                    self.reset_requested = true;
                }
                if self.pci.isa.take_routing_changed() {
                    self.irq.set_routed(self.pci.isa.isa_levels());
                }
            }
            Dev::Ide => self.pci.ide.io_write_dma(port, size, value, &mut ctx, mem),
            Dev::Floppy => {
                let mut isa = IsaDmaPort {
                    dma: &mut self.dma,
                    mem,
                };
                self.floppy
                    .io_write_dma(port, size, value, &mut ctx, &mut isa)
            }
        }
        self.after_access(dev, now);
    }

    /// After a device access: refresh its deadline, A20 and reset lines, and the PIC inputs.
    fn after_access(&mut self, dev: Dev, now: Nanos) {
        match dev {
            Dev::Pit | Dev::Rtc => {
                self.advance_timers(now);
            }
            Dev::Kbc | Dev::SysCtl => {
                self.a20 = self.kbc.a20_enabled() || self.sysctl.a20_enabled();
                if self.kbc.take_reset_request() | self.sysctl.take_reset_request() {
                    self.reset_requested = true;
                }
            }
            _ => {}
        }
        self.pic.update_lines(&mut self.irq);
    }

    /// PCI `device`'s INTx `pin` (1-4) is now at `asserted`: through the PIIX3's PIRQ routing
    /// onto the ISA IRQ lines and into the PIC. A PCI function's owner calls this with the
    /// level its config space gives ([`ironbox_devices::pci::PciConfig::intx_output`]).
    pub fn set_pci_intx(&mut self, device: u8, pin: u8, asserted: bool) {
        self.pci.isa.set_intx(device, pin, asserted);
        self.irq.set_routed(self.pci.isa.isa_levels());
        self.pic.update_lines(&mut self.irq);
    }

    /// Run DMA that became possible after a port access elsewhere (an unmasked 8237 channel).
    pub fn service_dma(&mut self, now: Nanos, mem: &mut dyn DmaMemory) {
        let mut ctx = Ctx {
            now,
            irq: &mut self.irq,
        };
        if self.pci.ide.dma_pending() {
            self.pci.ide.service_dma(&mut ctx, mem);
        }
        let mut isa = IsaDmaPort {
            dma: &mut self.dma,
            mem,
        };
        self.floppy.service_dma(&mut ctx, &mut isa);
        self.pic.update_lines(&mut self.irq);
    }

    /// Bring the timed devices up to `now`; returns the earliest next deadline.
    pub fn advance_timers(&mut self, now: Nanos) -> Option<Nanos> {
        let mut ctx = Ctx {
            now,
            irq: &mut self.irq,
        };
        self.deadlines[0] = self.pit.advance_to(&mut ctx);
        self.deadlines[1] = self.rtc.advance_to(&mut ctx);
        let mut ctx = Ctx {
            now,
            irq: &mut self.irq,
        };
        // Host input queued since the last look (serial, keyboard) raises its interrupts here.
        for u in &mut self.uarts {
            u.advance_to(&mut ctx);
        }
        self.kbc.advance_to(&mut ctx);
        self.pic.update_lines(&mut self.irq);
        self.next_deadline()
    }

    pub fn next_deadline(&self) -> Option<Nanos> {
        self.deadlines.iter().flatten().copied().min()
    }
}

/// The floppy controller's view of the 8237 and guest memory.
struct IsaDmaPort<'a> {
    dma: &'a mut Dma8237,
    mem: &'a mut dyn DmaMemory,
}

impl IsaDma for IsaDmaPort<'_> {
    fn dma_transfer(&mut self, channel: u8, buf: &mut [u8], _to_memory: bool) -> DmaTransfer {
        // The 8237's mode register decides the direction.
        let t = self.dma.transfer(channel as usize, self.mem, buf);
        DmaTransfer {
            moved: t.bytes,
            terminal_count: t.tc,
        }
    }
}
