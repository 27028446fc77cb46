//! ironbox devices: the PC chipset, one file per chip.
//!
//! A device is a plain state machine. It sees the rest of the board only through the narrow
//! [`Ctx`] it is handed on each access: the virtual clock and the ISA interrupt lines (plus,
//! for DMA-capable devices, a [`DmaMemory`] passed to the calls that need it). Host effects
//! (serial output, disk images, the wall clock) are injected, so every device can be driven
//! alone and deterministically by its unit tests. Device state derives serde's traits so the
//! machine can snapshot it.

pub mod block;
pub mod floppy;
pub mod ide;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod rtc;

/// Nanoseconds of virtual time.
pub type Nanos = u64;

pub mod vga;

/// What a device may touch while handling an access or advancing its clock.
pub struct Ctx<'a> {
    /// Current virtual time.
    pub now: Nanos,
    /// ISA interrupt request lines 0-15.
    pub irq: &'a mut IrqLines,
}

/// The 16 ISA IRQ lines as levels, plus the rising edges seen since the interrupt controller
/// last sampled them (so a device may pulse a line within one call).
///
/// Each line is the OR of what the ISA devices drive on it ([`IrqLines::set`]) and what the
/// PCI interrupt router drives on it ([`IrqLines::set_routed`]: PCI INTx through the PIIX3's
/// PIRQ routing), as on the board, where PCI interrupts are steered onto ISA IRQ inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IrqLines {
    levels: u16,
    edges: u16,
    /// Lines driven high by the PCI interrupt router.
    #[serde(default)]
    routed: u16,
}

impl IrqLines {
    /// Drive line `irq` (0-15) high or low.
    pub fn set(&mut self, irq: u8, high: bool) {
        let bit = 1u16 << (irq & 15);
        if high {
            self.edges |= bit & !self.levels();
            self.levels |= bit;
        } else {
            self.levels &= !bit;
        }
    }
    /// Raise then lower a line: one edge for edge-triggered inputs.
    pub fn pulse(&mut self, irq: u8) {
        self.set(irq, true);
        self.set(irq, false);
    }
    /// The lines the PCI interrupt router drives high (one bit per ISA IRQ); the others it
    /// leaves to the ISA devices.
    pub fn set_routed(&mut self, mask: u16) {
        self.edges |= mask & !self.levels();
        self.routed = mask;
    }
    pub fn level(&self, irq: u8) -> bool {
        self.levels() & (1 << (irq & 15)) != 0
    }
    pub fn levels(&self) -> u16 {
        self.levels | self.routed
    }
    /// Rising edges since the last call, cleared by reading.
    pub fn take_edges(&mut self) -> u16 {
        std::mem::take(&mut self.edges)
    }
}

#[cfg(test)]
mod irq_lines_tests {
    use super::IrqLines;

    #[test]
    fn routed_lines_or_with_isa_lines() {
        let mut l = IrqLines::default();
        l.set_routed(1 << 10);
        assert!(l.level(10));
        assert_eq!(l.take_edges(), 1 << 10);
        // An ISA device on the same line neither makes a new edge nor pulls the line low.
        l.set(10, true);
        l.set(10, false);
        assert!(l.level(10));
        assert_eq!(l.take_edges(), 0);
        l.set_routed(0);
        assert!(!l.level(10));
        l.set(10, true);
        assert_eq!(l.take_edges(), 1 << 10);
        // Still high from the ISA side: routing it too is no new edge.
        l.set_routed(1 << 10);
        assert_eq!(l.take_edges(), 0);
    }
}

/// A device on I/O ports. `size` is 1, 2 or 4 bytes; `port` is the absolute port number.
/// Registers a device does not implement read as all ones and ignore writes.
pub trait IoDevice {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32;
    fn io_write(&mut self, port: u16, size: u8, value: u32, ctx: &mut Ctx);
}

/// A device that keeps time: bring it up to `ctx.now`, raising interrupts that fell due, and
/// say when it next needs to run (absolute virtual time), if ever.
pub trait Timed {
    fn advance_to(&mut self, ctx: &mut Ctx) -> Option<Nanos>;
}

/// Guest physical memory as bus-master DMA sees it.
pub trait DmaMemory {
    fn dma_read(&mut self, addr: u32, buf: &mut [u8]);
    fn dma_write(&mut self, addr: u32, buf: &[u8]);
}

/// The value an unclaimed or unimplemented register reads as.
pub fn all_ones(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

pub mod dma;
pub mod fw_cfg;
pub mod i8042;
pub mod sysctl;
pub mod uart;
