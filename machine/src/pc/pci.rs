//! The PC's PCI bus 0: the i440FX host bridge (00.0), the PIIX3 ISA bridge (01.0) and IDE
//! controller (01.1), and the Bochs/QEMU "std VGA" display function 1234:1111 (02.0) whose BAR0
//! is the linear framebuffer and whose expansion ROM is the VGA BIOS.

use ironbox_devices::ide::IdeController;
use ironbox_devices::pci::host_bridge::I440fx;
use ironbox_devices::pci::piix3::Piix3Isa;
use ironbox_devices::pci::{BarKind, PciConfig, PciFunction, PciFunctions};
use ironbox_devices::vga;

/// The std VGA's configuration space (the device itself lives in the chipset).
pub struct VgaPci {
    pub config: PciConfig,
    /// The VGA BIOS image shown through the expansion ROM BAR.
    pub rom: Vec<u8>,
}

impl VgaPci {
    pub fn new(rom: Vec<u8>) -> VgaPci {
        let t = vga::pci::config_template();
        let mut config = PciConfig::new(
            vga::pci::VENDOR_ID,
            vga::pci::DEVICE_ID,
            vga::pci::CLASS_CODE,
            vga::pci::REVISION,
            0,
        );
        for off in [0x2Cu8, 0x2D, 0x2E, 0x2F] {
            config.set_byte(off, t[off as usize]);
        }
        config.set_bar(
            0,
            BarKind::Mem32 { prefetchable: true },
            vga::pci::BAR0_SIZE,
        );
        if !rom.is_empty() {
            config.set_rom(vga::pci::rom_bar_size(rom.len()));
        }
        VgaPci { config, rom }
    }

    /// Memory decoding on and BAR0 placed: the framebuffer's physical address range.
    pub fn lfb(&self) -> Option<(u32, u32)> {
        if self.config.command() & ironbox_devices::pci::CMD_MEMORY == 0 {
            return None;
        }
        self.config
            .bar_address(0)
            .filter(|&a| a != 0)
            .map(|a| (a, vga::pci::BAR0_SIZE))
    }

    /// The ROM BAR's physical address range, when enabled.
    pub fn rom_window(&self) -> Option<(u32, u32)> {
        if self.config.command() & ironbox_devices::pci::CMD_MEMORY == 0 || self.rom.is_empty() {
            return None;
        }
        self.config
            .rom_address()
            .filter(|&a| a != 0)
            .map(|a| (a, vga::pci::rom_bar_size(self.rom.len())))
    }
}

impl PciFunction for VgaPci {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.config.write(offset, size, value)
    }
}

/// The functions of bus 0.
pub struct PciDevices {
    pub host: I440fx,
    pub isa: Piix3Isa,
    pub ide: IdeController,
    pub vga: VgaPci,
}

impl PciFunctions for PciDevices {
    fn function(&mut self, device: u8, function: u8) -> Option<&mut dyn PciFunction> {
        match (device, function) {
            (0, 0) => Some(&mut self.host),
            (1, 0) => Some(&mut self.isa),
            (1, 1) => Some(&mut self.ide),
            (2, 0) => Some(&mut self.vga),
            _ => None,
        }
    }
}
