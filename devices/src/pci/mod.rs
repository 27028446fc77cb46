//! PCI: configuration mechanism #1 and the configuration space of a function.
//!
//! Reference: PCI Local Bus Specification 2.1/3.0 (ch. 3.2.2.3.2 "Configuration Mechanism #1",
//! ch. 6 "Configuration Space"); Intel 82371SB PIIX3 datasheet (reset control at 0xCF9);
//! QEMU hw/pci/pci.c and hw/pci-host/i440fx.c for the values guests have been tested against.
//!
//! Shape: [`PciHost`] decodes ports 0xCF8 (address, dword only) and 0xCFC-0xCFF (data, byte,
//! word or dword at any offset) plus the PIIX3 reset control register at 0xCF9 (byte), and
//! forwards configuration accesses to functions found through [`PciFunctions`], which the machine
//! implements over the devices it owns (so each device stays a concrete, snapshot-able field).
//! [`PciBus`] is a ready-made owner of boxed functions for tests and simple boards.
//! [`PciConfig`] is the 256-byte type-0 configuration space with writable / write-one-to-clear
//! masks, BAR size probing (write all ones, read back the size mask) and the expansion ROM BAR.
//!
//! Known gaps: bus 0 only (no PCI-PCI bridges), no capabilities lists, no MSI, no 64-bit BARs,
//! no configuration mechanism #2. BAR placement changes are reported by polling
//! ([`PciConfig::bar_address`]) rather than by callbacks.

pub mod host_bridge;
pub mod ide_pci;
pub mod piix3;

use crate::{all_ones, Ctx, IoDevice};

/// One function's view of configuration space accesses.
/// `offset + size` never crosses a dword boundary (the host splits nothing: PCI cannot).
pub trait PciFunction {
    fn config_read(&mut self, offset: u8, size: u8) -> u32;
    fn config_write(&mut self, offset: u8, size: u8, value: u32);
}

/// The functions on bus 0, looked up by device (0-31) and function (0-7) number.
pub trait PciFunctions {
    fn function(&mut self, device: u8, function: u8) -> Option<&mut dyn PciFunction>;
}

/// A decoded configuration address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
    pub register: u8,
}

/// The host side of configuration mechanism #1 (ports 0xCF8-0xCFF).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PciHost {
    address: u32,
    reset_control: u8,
    reset_requested: bool,
}

/// First port of the configuration address register.
pub const PCI_CONFIG_ADDRESS: u16 = 0xCF8;
/// First port of the configuration data window.
pub const PCI_CONFIG_DATA: u16 = 0xCFC;
/// PIIX3 reset control register (byte at 0xCF9).
pub const PCI_RESET_CONTROL: u16 = 0xCF9;

impl PciHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// The latched address register (0xCF8).
    pub fn address_register(&self) -> u32 {
        self.address
    }

    /// True once after the guest asked for a system reset through 0xCF9 (bit 2 set).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }

    fn decode(&self, port: u16) -> Option<PciAddress> {
        if self.address & 0x8000_0000 == 0 {
            return None;
        }
        Some(PciAddress {
            bus: (self.address >> 16) as u8,
            device: ((self.address >> 11) & 0x1F) as u8,
            function: ((self.address >> 8) & 7) as u8,
            register: (self.address as u8 & 0xFC) | (port & 3) as u8,
        })
    }

    /// Clamp an access so it stays within its dword.
    fn clamp_size(register: u8, size: u8) -> u8 {
        let room = 4 - (register & 3);
        size.min(room)
    }

    pub fn io_read(&mut self, port: u16, size: u8, funcs: &mut dyn PciFunctions) -> u32 {
        match port {
            0xCF8..=0xCFB => {
                if port == 0xCF8 && size == 4 {
                    self.address
                } else if port == PCI_RESET_CONTROL && size == 1 {
                    self.reset_control as u32
                } else {
                    all_ones(size)
                }
            }
            0xCFC..=0xCFF => {
                let Some(a) = self.decode(port) else {
                    return all_ones(size);
                };
                if a.bus != 0 {
                    return all_ones(size);
                }
                let s = Self::clamp_size(a.register, size);
                match funcs.function(a.device, a.function) {
                    Some(f) => {
                        let v = f.config_read(a.register, s);
                        // Bytes of the access beyond the dword read as ones.
                        let keep = if s >= 4 {
                            u32::MAX
                        } else {
                            (1u32 << (8 * s)) - 1
                        };
                        (v & keep) | (all_ones(size) & !keep)
                    }
                    None => all_ones(size),
                }
            }
            _ => all_ones(size),
        }
    }

    pub fn io_write(&mut self, port: u16, size: u8, value: u32, funcs: &mut dyn PciFunctions) {
        match port {
            0xCF8..=0xCFB => {
                if port == 0xCF8 && size == 4 {
                    self.address = value & 0x80FF_FFFC;
                } else if port == PCI_RESET_CONTROL && size == 1 {
                    // Bit 2 (RCPU) starts the reset; bit 1 selects hard reset.
                    if value & 0x04 != 0 {
                        self.reset_requested = true;
                    }
                    self.reset_control = value as u8 & 0x02;
                }
            }
            0xCFC..=0xCFF => {
                let Some(a) = self.decode(port) else { return };
                if a.bus != 0 {
                    return;
                }
                let s = Self::clamp_size(a.register, size);
                if let Some(f) = funcs.function(a.device, a.function) {
                    f.config_write(a.register, s, value);
                }
            }
            _ => {}
        }
    }
}

/// A simple owner of boxed functions on bus 0 (tests, simple boards).
#[derive(Default)]
pub struct PciBus {
    functions: Vec<(u8, u8, Box<dyn PciFunction + Send>)>,
}

impl PciBus {
    pub fn new() -> Self {
        Self::default()
    }
    /// Place a function at `device.function`; returns false (and does nothing) if taken.
    pub fn add(&mut self, device: u8, function: u8, f: Box<dyn PciFunction + Send>) -> bool {
        if self
            .functions
            .iter()
            .any(|(d, fnum, _)| *d == device && *fnum == function)
        {
            return false;
        }
        self.functions.push((device & 31, function & 7, f));
        true
    }
}

impl PciFunctions for PciBus {
    fn function(&mut self, device: u8, function: u8) -> Option<&mut dyn PciFunction> {
        self.functions
            .iter_mut()
            .find(|(d, f, _)| *d == device && *f == function)
            .map(|(_, _, b)| &mut **b as &mut dyn PciFunction)
    }
}

/// Host bridge plus an owned bus, as one I/O device for 0xCF8-0xCFF.
#[derive(Default)]
pub struct PciRoot {
    pub host: PciHost,
    pub bus: PciBus,
}

impl IoDevice for PciRoot {
    fn io_read(&mut self, port: u16, size: u8, _ctx: &mut Ctx) -> u32 {
        self.host.io_read(port, size, &mut self.bus)
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32, _ctx: &mut Ctx) {
        self.host.io_write(port, size, value, &mut self.bus)
    }
}

/// What a base address register decodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BarKind {
    #[default]
    Unused,
    Io,
    Mem32 {
        prefetchable: bool,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bar {
    pub kind: BarKind,
    /// Size in bytes, a power of two.
    pub size: u32,
}

/// Register offsets of the type-0 header.
pub mod reg {
    pub const VENDOR_ID: u8 = 0x00;
    pub const DEVICE_ID: u8 = 0x02;
    pub const COMMAND: u8 = 0x04;
    pub const STATUS: u8 = 0x06;
    pub const REVISION: u8 = 0x08;
    pub const CLASS_PROG: u8 = 0x09;
    pub const HEADER_TYPE: u8 = 0x0E;
    pub const BAR0: u8 = 0x10;
    pub const SUBSYSTEM_VENDOR_ID: u8 = 0x2C;
    pub const ROM_ADDRESS: u8 = 0x30;
    pub const INTERRUPT_LINE: u8 = 0x3C;
    pub const INTERRUPT_PIN: u8 = 0x3D;
}

/// Command register bits.
pub const CMD_IO: u16 = 0x0001;
pub const CMD_MEMORY: u16 = 0x0002;
pub const CMD_BUS_MASTER: u16 = 0x0004;
/// Interrupt disable: the function's INTx output stays deasserted.
pub const CMD_INTX_DISABLE: u16 = 0x0400;
/// Status register bit: the function has an interrupt pending (whatever the disable bit says).
pub const STATUS_INTERRUPT: u16 = 0x0008;

/// A 256-byte type-0 configuration space with write masks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PciConfig {
    data: Vec<u8>,
    wmask: Vec<u8>,
    w1cmask: Vec<u8>,
    bars: [Bar; 6],
    rom_size: u32,
}

impl PciConfig {
    /// `class` is (base class << 16) | (subclass << 8) | programming interface.
    pub fn new(vendor: u16, device: u16, class: u32, revision: u8, header_type: u8) -> Self {
        let mut c = Self {
            data: vec![0; 256],
            wmask: vec![0; 256],
            w1cmask: vec![0; 256],
            bars: [Bar::default(); 6],
            rom_size: 0,
        };
        c.set_u16(reg::VENDOR_ID, vendor);
        c.set_u16(reg::DEVICE_ID, device);
        c.data[reg::REVISION as usize] = revision;
        c.data[0x09] = class as u8;
        c.data[0x0A] = (class >> 8) as u8;
        c.data[0x0B] = (class >> 16) as u8;
        c.data[reg::HEADER_TYPE as usize] = header_type;
        // Command: I/O, memory, bus master, parity, SERR, INTx disable.
        c.set_wmask_u16(reg::COMMAND, 0x0547);
        // Status: error bits are write-one-to-clear.
        c.w1cmask[0x07] = 0xF9;
        c.wmask[0x0C] = 0xFF; // cache line size
        c.wmask[0x0D] = 0xFF; // latency timer
        c.wmask[reg::INTERRUPT_LINE as usize] = 0xFF;
        c
    }

    /// Declare BAR `index` (0-5). Sizes are rounded up to a power of two (I/O at least 4,
    /// memory at least 16 bytes).
    pub fn set_bar(&mut self, index: usize, kind: BarKind, size: u32) {
        let Some(bar) = self.bars.get_mut(index) else {
            return;
        };
        let off = reg::BAR0 as usize + 4 * index;
        let (min, low_bits) = match kind {
            BarKind::Unused => (0, 0u32),
            BarKind::Io => (4, 0x1),
            BarKind::Mem32 { prefetchable } => (16, if prefetchable { 0x8 } else { 0 }),
        };
        let size = if kind == BarKind::Unused {
            0
        } else {
            size.max(min).next_power_of_two()
        };
        *bar = Bar { kind, size };
        let mask = if size == 0 { 0 } else { !(size - 1) };
        self.data[off..off + 4].copy_from_slice(&low_bits.to_le_bytes());
        self.wmask[off..off + 4].copy_from_slice(&mask.to_le_bytes());
    }

    /// Declare an expansion ROM of `size` bytes (0 = none).
    pub fn set_rom(&mut self, size: u32) {
        let off = reg::ROM_ADDRESS as usize;
        self.rom_size = if size == 0 {
            0
        } else {
            size.max(2048).next_power_of_two()
        };
        let mask = if self.rom_size == 0 {
            0
        } else {
            !(self.rom_size - 1) | 1
        };
        self.data[off..off + 4].fill(0);
        self.wmask[off..off + 4].copy_from_slice(&mask.to_le_bytes());
    }

    pub fn bar(&self, index: usize) -> Option<Bar> {
        self.bars.get(index).copied()
    }

    /// The address BAR `index` decodes at, if its kind of decoding is enabled in the command
    /// register and the BAR holds a real address (neither zero nor a size probe).
    pub fn bar_address(&self, index: usize) -> Option<u32> {
        let bar = self.bar(index)?;
        let raw = self.get_u32(reg::BAR0 + 4 * index as u8);
        let (enabled, addr) = match bar.kind {
            BarKind::Unused => return None,
            BarKind::Io => (self.command() & CMD_IO != 0, raw & !0x3),
            BarKind::Mem32 { .. } => (self.command() & CMD_MEMORY != 0, raw & !0xF),
        };
        let probe = !(bar.size - 1) & if bar.kind == BarKind::Io { !0x3 } else { !0xF };
        (enabled && addr != 0 && addr != probe).then_some(addr)
    }

    /// The expansion ROM address if enabled (ROM BAR bit 0 and memory decoding on).
    pub fn rom_address(&self) -> Option<u32> {
        let raw = self.get_u32(reg::ROM_ADDRESS);
        (self.rom_size != 0 && raw & 1 != 0 && self.command() & CMD_MEMORY != 0)
            .then_some(raw & !0x7FF)
    }

    pub fn command(&self) -> u16 {
        self.get_u16(reg::COMMAND)
    }

    pub fn interrupt_line(&self) -> u8 {
        self.data[reg::INTERRUPT_LINE as usize]
    }

    pub fn set_interrupt_pin(&mut self, pin: u8) {
        self.data[reg::INTERRUPT_PIN as usize] = pin;
    }

    /// The INTx pin the function uses (1 = INTA .. 4 = INTD; 0 = none).
    pub fn interrupt_pin(&self) -> u8 {
        self.data[reg::INTERRUPT_PIN as usize]
    }

    /// The function's interrupt condition is `pending`: record it in the status register's
    /// interrupt bit and return the INTx pin's level (low, i.e. `false`, while the command
    /// register's interrupt disable bit is set or the function has no pin).
    pub fn intx_output(&mut self, pending: bool) -> bool {
        let status = self.get_u16(reg::STATUS) & !STATUS_INTERRUPT;
        let bit = if pending { STATUS_INTERRUPT } else { 0 };
        self.set_u16(reg::STATUS, status | bit);
        pending && self.command() & CMD_INTX_DISABLE == 0 && self.interrupt_pin() != 0
    }

    /// Make the bits of `mask` in byte `offset` guest-writable.
    pub fn set_wmask(&mut self, offset: u8, mask: u8) {
        self.wmask[offset as usize] = mask;
    }

    pub fn set_wmask_u16(&mut self, offset: u8, mask: u16) {
        let o = offset as usize;
        self.wmask[o..o + 2].copy_from_slice(&mask.to_le_bytes());
    }

    /// Make a range of bytes fully guest-writable.
    pub fn set_writable_range(&mut self, offsets: std::ops::RangeInclusive<u8>) {
        for o in offsets {
            self.wmask[o as usize] = 0xFF;
        }
    }

    /// Make the bits of `mask` in byte `offset` write-one-to-clear.
    pub fn set_w1cmask(&mut self, offset: u8, mask: u8) {
        self.w1cmask[offset as usize] = mask;
    }

    pub fn byte(&self, offset: u8) -> u8 {
        self.data[offset as usize]
    }
    /// Set a byte directly (device side; ignores masks).
    pub fn set_byte(&mut self, offset: u8, value: u8) {
        self.data[offset as usize] = value;
    }
    pub fn get_u16(&self, offset: u8) -> u16 {
        self.read(offset, 2) as u16
    }
    pub fn get_u32(&self, offset: u8) -> u32 {
        self.read(offset, 4)
    }
    pub fn set_u16(&mut self, offset: u8, v: u16) {
        let o = offset as usize;
        self.data[o..o + 2].copy_from_slice(&v.to_le_bytes());
    }

    /// Guest read of `size` bytes; bytes beyond 0xFF read as ones.
    pub fn read(&self, offset: u8, size: u8) -> u32 {
        let mut v = 0u32;
        for i in 0..size.min(4) as usize {
            let b = self.data.get(offset as usize + i).copied().unwrap_or(0xFF);
            v |= (b as u32) << (8 * i);
        }
        v
    }

    /// Guest write of `size` bytes through the masks.
    pub fn write(&mut self, offset: u8, size: u8, value: u32) {
        for i in 0..size.min(4) as usize {
            let o = offset as usize + i;
            if o >= 256 {
                break;
            }
            let b = (value >> (8 * i)) as u8;
            let wm = self.wmask[o];
            let mut d = (self.data[o] & !wm) | (b & wm);
            d &= !(b & self.w1cmask[o]);
            self.data[o] = d;
        }
    }
}

impl PciFunction for PciConfig {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.read(offset, size)
    }
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.write(offset, size, value)
    }
}

#[cfg(test)]
mod tests {
    use super::host_bridge::I440fx;
    use super::ide_pci::Piix3IdePci;
    use super::piix3::Piix3Isa;
    use super::*;

    fn addr(dev: u8, func: u8, reg: u8) -> u32 {
        0x8000_0000 | (dev as u32) << 11 | (func as u32) << 8 | reg as u32
    }

    fn board() -> (PciHost, PciBus) {
        let mut bus = PciBus::new();
        assert!(bus.add(0, 0, Box::new(I440fx::new())));
        assert!(bus.add(1, 0, Box::new(Piix3Isa::new())));
        assert!(bus.add(1, 1, Box::new(Piix3IdePci::new())));
        assert!(!bus.add(1, 1, Box::new(Piix3IdePci::new())));
        (PciHost::new(), bus)
    }

    fn rd(h: &mut PciHost, b: &mut PciBus, a: u32, port_off: u16, size: u8) -> u32 {
        h.io_write(0xCF8, 4, a, b);
        h.io_read(0xCFC + port_off, size, b)
    }

    fn wr(h: &mut PciHost, b: &mut PciBus, a: u32, port_off: u16, size: u8, v: u32) {
        h.io_write(0xCF8, 4, a, b);
        h.io_write(0xCFC + port_off, size, v, b);
    }

    #[test]
    fn ids_of_the_three_functions() {
        let (mut h, mut b) = board();
        assert_eq!(rd(&mut h, &mut b, addr(0, 0, 0), 0, 4), 0x1237_8086);
        assert_eq!(rd(&mut h, &mut b, addr(1, 0, 0), 0, 4), 0x7000_8086);
        assert_eq!(rd(&mut h, &mut b, addr(1, 1, 0), 0, 4), 0x7010_8086);
        // Class codes: host bridge, ISA bridge, IDE (legacy, bus master).
        assert_eq!(rd(&mut h, &mut b, addr(0, 0, 8), 0, 4) >> 8, 0x06_00_00);
        assert_eq!(rd(&mut h, &mut b, addr(1, 0, 8), 0, 4) >> 8, 0x06_01_00);
        assert_eq!(rd(&mut h, &mut b, addr(1, 1, 8), 0, 4) >> 8, 0x01_01_80);
        // Multi-function header on PIIX3 function 0.
        assert_eq!(rd(&mut h, &mut b, addr(1, 0, 0x0C), 2, 1), 0x80);
        // Word and byte reads at odd offsets of the data window.
        assert_eq!(rd(&mut h, &mut b, addr(0, 0, 0), 2, 2), 0x1237);
        assert_eq!(rd(&mut h, &mut b, addr(0, 0, 0), 1, 1), 0x80);
        assert_eq!(rd(&mut h, &mut b, addr(0, 0, 0), 3, 2), 0xFF12);
        // Absent device, absent bus, disabled address.
        assert_eq!(rd(&mut h, &mut b, addr(5, 0, 0), 0, 2), 0xFFFF);
        assert_eq!(
            rd(&mut h, &mut b, addr(0, 0, 0) | 1 << 16, 0, 4),
            0xFFFF_FFFF
        );
        assert_eq!(rd(&mut h, &mut b, 0x0000_0000, 0, 4), 0xFFFF_FFFF);
        // Address register reads back.
        h.io_write(0xCF8, 4, 0x8000_0803, &mut b);
        assert_eq!(h.io_read(0xCF8, 4, &mut b), 0x8000_0800);
    }

    #[test]
    fn bar_sizing_and_decoding() {
        let (mut h, mut b) = board();
        let bar4 = addr(1, 1, 0x20);
        assert_eq!(rd(&mut h, &mut b, bar4, 0, 4), 0x1);
        wr(&mut h, &mut b, bar4, 0, 4, 0xFFFF_FFFF);
        assert_eq!(rd(&mut h, &mut b, bar4, 0, 4), 0xFFFF_FFF1);
        wr(&mut h, &mut b, bar4, 0, 4, 0xC001);
        assert_eq!(rd(&mut h, &mut b, bar4, 0, 4), 0xC001);
        // Unused BAR0 of the IDE function stays zero.
        wr(&mut h, &mut b, addr(1, 1, 0x10), 0, 4, 0xFFFF_FFFF);
        assert_eq!(rd(&mut h, &mut b, addr(1, 1, 0x10), 0, 4), 0);
        // Read-only vendor ID.
        wr(&mut h, &mut b, addr(0, 0, 0), 0, 2, 0x1234);
        assert_eq!(rd(&mut h, &mut b, addr(0, 0, 0), 0, 2), 0x8086);

        let mut c = PciConfig::new(0x1234, 0x1111, 0x030000, 0, 0);
        c.set_bar(0, BarKind::Mem32 { prefetchable: true }, 16 << 20);
        c.set_bar(1, BarKind::Io, 32);
        c.set_rom(64 * 1024);
        c.write(0x10, 4, 0xFFFF_FFFF);
        assert_eq!(c.read(0x10, 4), 0xFF00_0008);
        c.write(0x30, 4, 0xFFFF_FFFF);
        assert_eq!(c.read(0x30, 4), 0xFFFF_0001);
        c.write(0x10, 4, 0xE000_0000);
        c.write(0x14, 4, 0xD000);
        assert_eq!(c.bar_address(0), None); // memory decoding off
        c.write(0x04, 2, 0x0003);
        assert_eq!(c.bar_address(0), Some(0xE000_0000));
        assert_eq!(c.bar_address(1), Some(0xD000));
        assert_eq!(c.rom_address(), Some(0xFFFF_0000));
        // Status error bits clear on writing one.
        c.set_byte(0x07, 0x20 | 0x80);
        c.write(0x06, 2, 0x8000);
        assert_eq!(c.byte(0x07), 0x20);
    }

    #[test]
    fn reset_control_register() {
        let (mut h, mut b) = board();
        h.io_write(0xCF9, 1, 0x02, &mut b);
        assert!(!h.take_reset_request());
        assert_eq!(h.io_read(0xCF9, 1, &mut b), 0x02);
        h.io_write(0xCF9, 1, 0x06, &mut b);
        assert!(h.take_reset_request());
        assert!(!h.take_reset_request());
    }

    #[test]
    fn intx_output_follows_status_and_interrupt_disable() {
        let mut c = PciConfig::new(0x1234, 0x5678, 0x02_00_00, 0, 0);
        // No pin: the condition shows in the status register only.
        assert!(!c.intx_output(true));
        assert_eq!(
            c.read(reg::STATUS, 2) as u16 & STATUS_INTERRUPT,
            STATUS_INTERRUPT
        );
        c.set_interrupt_pin(1);
        assert_eq!(c.interrupt_pin(), 1);
        assert!(c.intx_output(true));
        // The guest sets interrupt disable: the pin drops, the status bit stays.
        c.write(reg::COMMAND, 2, CMD_INTX_DISABLE as u32);
        assert!(!c.intx_output(true));
        assert_ne!(c.read(reg::STATUS, 2) as u16 & STATUS_INTERRUPT, 0);
        c.write(reg::COMMAND, 2, 0);
        assert!(c.intx_output(true));
        assert!(!c.intx_output(false));
        assert_eq!(c.read(reg::STATUS, 2) as u16 & STATUS_INTERRUPT, 0);
        // The status bit is read-only to the guest.
        c.write(reg::STATUS, 2, 0xFFFF);
        assert_eq!(c.read(reg::STATUS, 2) as u16 & STATUS_INTERRUPT, 0);
    }
}
