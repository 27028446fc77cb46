//! PIIX3 IDE controller: two legacy ATA channels with master/slave devices and bus-master DMA.
//!
//! Reference: ATA/ATAPI-6 (T13/1410D) for the register protocol; Intel 82371SB (PIIX3)
//! datasheet ch. 2.7 and SFF-8038i for bus-master IDE; QEMU hw/ide/core.c, hw/ide/pci.c.
//!
//! Ports: primary 0x1F0-0x1F7 + 0x3F6 (IRQ 14), secondary 0x170-0x177 + 0x376 (IRQ 15);
//! bus-master registers at the 16-byte I/O BAR4 of the PCI function (see
//! [`crate::pci::ide_pci`]), which this controller also answers for as a [`PciFunction`].
//! 0x3F7/0x377 (drive address) are not claimed: 0x3F7 belongs to the floppy controller.
//!
//! DMA: bus-master transfers run synchronously once both the command and the start bit are
//! there. With [`IdeController::io_write_dma`] (or [`IdeController::service_dma`] after a plain
//! [`IoDevice::io_write`]) the machine hands in guest memory; bus mastering must be enabled in
//! the PCI command register.
//!
//! INTRQ is a level: asserted on completion, cleared by reading the status register or
//! writing a command, masked by nIEN.
//!
//! Known gaps: no timing (commands complete at once, BSY is never seen), native-PCI mode
//! absent, simplex/overlapped operation absent.

pub mod ata;
pub mod atapi;
#[cfg(test)]
mod tests;

pub use ata::{Drive, DriveKind};

use crate::block::BlockBackend;
use crate::pci::ide_pci::{
    BmChannel, Piix3IdePci, PrdCursor, BM_CMD_START, BM_CMD_WRITE_TO_MEMORY, BM_STATUS_ACTIVE,
    BM_STATUS_INTR,
};
use crate::pci::PciFunction;
use crate::{all_ones, Ctx, DmaMemory, IoDevice, IrqLines};
use ata::{DmaEnd, Phase, STATUS_BSY, STATUS_DSC};

/// Command block base ports of the two channels.
pub const CHANNEL_BASE: [u16; 2] = [0x1F0, 0x170];
/// Device control / alternate status ports of the two channels.
pub const CHANNEL_CONTROL: [u16; 2] = [0x3F6, 0x376];
/// ISA IRQs of the two channels in legacy mode.
pub const CHANNEL_IRQ: [u8; 2] = [14, 15];

const CTRL_NIEN: u8 = 0x02;
const CTRL_SRST: u8 = 0x04;
const CTRL_HOB: u8 = 0x80;

/// One channel: two device positions sharing registers, a device control register, INTRQ
/// and the channel's bus-master engine.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct IdeChannel {
    drives: [Drive; 2],
    unit: usize,
    control: u8,
    intrq: bool,
    bm: BmChannel,
    prd: PrdCursor,
    irq_line: u8,
}

impl IdeChannel {
    fn new(irq_line: u8) -> Self {
        Self {
            drives: [Drive::absent(), Drive::absent()],
            unit: 0,
            control: 0,
            intrq: false,
            bm: BmChannel::default(),
            prd: PrdCursor::default(),
            irq_line,
        }
    }

    fn any_present(&self) -> bool {
        self.drives.iter().any(|d| d.present())
    }

    fn cur(&mut self) -> &mut Drive {
        &mut self.drives[self.unit]
    }

    fn read(&mut self, reg: u16, size: u8) -> u32 {
        let hob = self.control & CTRL_HOB != 0;
        if reg == 0 {
            return self.cur().read_data(size);
        }
        if !self.any_present() {
            return 0;
        }
        let unit = self.unit;
        let d = &self.drives[unit];
        match reg {
            1 if unit == 1 && !d.present() => 0,
            7 => {
                let s = if d.present() { d.status } else { 0 };
                self.intrq = false;
                s as u32
            }
            1..=6 => d.read_reg(reg, hob) as u32,
            _ => all_ones(size),
        }
    }

    fn alt_status(&self) -> u32 {
        if !self.any_present() {
            return 0;
        }
        let d = &self.drives[self.unit];
        if d.present() {
            d.status as u32
        } else {
            0
        }
    }

    fn write(&mut self, reg: u16, size: u8, value: u32) {
        let v = value as u8;
        match reg {
            0 => self.cur().write_data(size, value),
            1..=5 => {
                self.control &= !CTRL_HOB;
                for d in &mut self.drives {
                    d.write_reg(reg, v);
                }
            }
            6 => {
                self.control &= !CTRL_HOB;
                self.drives[0].select = (v & !0x10) | 0xA0;
                self.drives[1].select = v | 0x10 | 0xA0;
                self.unit = ((v >> 4) & 1) as usize;
            }
            7 => {
                self.control &= !CTRL_HOB;
                if !self.drives[self.unit].present() {
                    return;
                }
                self.intrq = false;
                if v == 0x90 {
                    for d in &mut self.drives {
                        d.reset();
                    }
                    self.drives[self.unit].irq = true;
                } else {
                    self.cur().command(v);
                }
            }
            _ => {}
        }
    }

    fn write_control(&mut self, v: u8) {
        let was_reset = self.control & CTRL_SRST != 0;
        if v & CTRL_SRST != 0 && !was_reset {
            for d in &mut self.drives {
                if d.present() {
                    d.reset();
                    d.status = STATUS_BSY | STATUS_DSC;
                }
            }
            self.intrq = false;
        } else if v & CTRL_SRST == 0 && was_reset {
            // Absent positions get their registers reset too (signature 0xFF/0xFF), as
            // Linux's post-reset wait reads them.
            for d in &mut self.drives {
                d.reset();
            }
            self.unit = 0;
        }
        self.control = v;
    }

    fn bm_write(&mut self, off: u16, size: u8, value: u32) {
        match off {
            0 => {
                let v = value as u8 & (BM_CMD_START | BM_CMD_WRITE_TO_MEMORY);
                let starting = v & BM_CMD_START != 0 && self.bm.cmd & BM_CMD_START == 0;
                let stopping = v & BM_CMD_START == 0 && self.bm.cmd & BM_CMD_START != 0;
                self.bm.cmd = v;
                if starting {
                    self.bm.status |= BM_STATUS_ACTIVE;
                    self.prd = PrdCursor::new(self.bm.prd_table);
                } else if stopping {
                    self.bm.status &= !BM_STATUS_ACTIVE;
                }
                if size >= 4 {
                    self.bm.write_status((value >> 16) as u8);
                }
            }
            2 => self.bm.write_status(value as u8),
            4..=7 => self.bm.write_prd(off, size, value),
            _ => {}
        }
    }

    fn dma_ready(&self) -> bool {
        self.bm.cmd & BM_CMD_START != 0
            && self.bm.status & BM_STATUS_ACTIVE != 0
            && self.drives[self.unit].phase == Phase::Dma
    }

    fn run_dma(&mut self, mem: &mut dyn DmaMemory) {
        let unit = self.unit;
        let end = self.drives[unit].run_dma(&mut self.prd, mem);
        match end {
            DmaEnd::Complete | DmaEnd::PrdShort => self.bm.status &= !BM_STATUS_ACTIVE,
        }
    }

    /// Collect device interrupt requests and drive the IRQ line.
    fn update_irq(&mut self, irq: &mut IrqLines) {
        for d in &mut self.drives {
            if std::mem::take(&mut d.irq) {
                self.intrq = true;
                self.bm.status |= BM_STATUS_INTR;
            }
        }
        irq.set(self.irq_line, self.intrq && self.control & CTRL_NIEN == 0);
    }
}

/// The PIIX3 IDE function: PCI face plus both channels.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct IdeController {
    pub pci: Piix3IdePci,
    channels: [IdeChannel; 2],
}

impl Default for IdeController {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a port lands.
enum Target {
    Reg(usize, u16),
    Control(usize),
    BusMaster(usize, u16),
}

impl IdeController {
    /// A controller with all four positions empty.
    pub fn new() -> Self {
        Self {
            pci: Piix3IdePci::new(),
            channels: [IdeChannel::new(14), IdeChannel::new(15)],
        }
    }

    /// Put `drive` at `channel` (0 primary, 1 secondary), `unit` (0 master, 1 slave).
    pub fn attach(&mut self, channel: usize, unit: usize, drive: Drive) {
        if let Some(c) = self.channels.get_mut(channel) {
            if unit < 2 {
                c.drives[unit] = drive;
            }
        }
    }

    /// Convenience: attach a hard disk over `backend`.
    pub fn attach_disk(&mut self, channel: usize, unit: usize, backend: Box<dyn BlockBackend>) {
        let serial = format!(
            "IB{:02}{:012}",
            channel * 2 + unit,
            0x1D35u32 + channel as u32 * 2 + unit as u32
        );
        self.attach(channel, unit, Drive::disk(backend, &serial));
    }

    /// Convenience: attach a CD-ROM drive with an optional disc.
    pub fn attach_cdrom(
        &mut self,
        channel: usize,
        unit: usize,
        medium: Option<Box<dyn BlockBackend>>,
    ) {
        let serial = format!("IBCD{:02}", channel * 2 + unit);
        self.attach(channel, unit, Drive::cdrom(medium, &serial));
    }

    pub fn drive(&self, channel: usize, unit: usize) -> Option<&Drive> {
        self.channels.get(channel).and_then(|c| c.drives.get(unit))
    }

    /// The device at a position, e.g. to change a CD ([`Drive::change_medium`]) or to re-attach
    /// a backend after restoring a snapshot ([`Drive::attach`]).
    pub fn drive_mut(&mut self, channel: usize, unit: usize) -> Option<&mut Drive> {
        self.channels
            .get_mut(channel)
            .and_then(|c| c.drives.get_mut(unit))
    }

    /// Base of the bus-master registers (BAR4), when decoded.
    pub fn bm_base(&self) -> Option<u16> {
        self.pci.bm_base()
    }

    /// The fixed legacy port ranges as (first port, count).
    pub fn legacy_ports() -> [(u16, u16); 4] {
        [(0x1F0, 8), (0x3F6, 1), (0x170, 8), (0x376, 1)]
    }

    fn target(&self, port: u16) -> Option<Target> {
        for ch in 0..2 {
            if (CHANNEL_BASE[ch]..CHANNEL_BASE[ch] + 8).contains(&port) {
                return Some(Target::Reg(ch, port - CHANNEL_BASE[ch]));
            }
            if port == CHANNEL_CONTROL[ch] {
                return Some(Target::Control(ch));
            }
        }
        let base = self.bm_base()?;
        let off = port.wrapping_sub(base);
        (off < 16).then_some(Target::BusMaster((off / 8) as usize, off % 8))
    }

    /// Does this controller answer `port` now (legacy ports, or BAR4 when decoded)?
    pub fn claims_port(&self, port: u16) -> bool {
        self.target(port).is_some()
    }

    /// A port write that may start a DMA transfer into or out of `mem`.
    pub fn io_write_dma(
        &mut self,
        port: u16,
        size: u8,
        value: u32,
        ctx: &mut Ctx,
        mem: &mut dyn DmaMemory,
    ) {
        self.io_write(port, size, value, ctx);
        self.service_dma(ctx, mem);
    }

    /// True when a channel has both a DMA command and a started bus master.
    pub fn dma_pending(&self) -> bool {
        self.pci.bus_master_enabled() && self.channels.iter().any(|c| c.dma_ready())
    }

    /// Run pending bus-master transfers.
    pub fn service_dma(&mut self, ctx: &mut Ctx, mem: &mut dyn DmaMemory) {
        if !self.pci.bus_master_enabled() {
            return;
        }
        for c in &mut self.channels {
            if c.dma_ready() {
                c.run_dma(mem);
                c.update_irq(ctx.irq);
            }
        }
    }

    /// Hardware reset of both channels (PCI configuration is left to the PCI reset).
    pub fn reset(&mut self, ctx: &mut Ctx) {
        for c in &mut self.channels {
            for d in &mut c.drives {
                d.reset();
            }
            c.unit = 0;
            c.control = 0;
            c.intrq = false;
            c.bm = BmChannel::default();
            c.update_irq(ctx.irq);
        }
    }
}

impl IoDevice for IdeController {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32 {
        let v = match self.target(port) {
            Some(Target::Reg(ch, reg)) => {
                let c = &mut self.channels[ch];
                let v = c.read(reg, size);
                c.update_irq(ctx.irq);
                return v;
            }
            Some(Target::Control(ch)) => self.channels[ch].alt_status(),
            Some(Target::BusMaster(ch, off)) => self.channels[ch].bm.read(off, size),
            None => all_ones(size),
        };
        if size == 1 {
            v & 0xFF
        } else {
            v
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32, ctx: &mut Ctx) {
        match self.target(port) {
            Some(Target::Reg(ch, reg)) => {
                let c = &mut self.channels[ch];
                c.write(reg, size, value);
                c.update_irq(ctx.irq);
            }
            Some(Target::Control(ch)) => {
                let c = &mut self.channels[ch];
                c.write_control(value as u8);
                c.update_irq(ctx.irq);
            }
            Some(Target::BusMaster(ch, off)) => self.channels[ch].bm_write(off, size, value),
            None => {}
        }
    }
}

impl PciFunction for IdeController {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.pci.config_read(offset, size)
    }
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.pci.config_write(offset, size, value)
    }
}
