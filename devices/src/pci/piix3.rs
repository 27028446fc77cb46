//! Intel 82371SB PIIX3 PCI-to-ISA bridge, PCI 01.0, 8086:7000 (function 0 of a multi-function
//! device whose function 1 is the IDE controller, see `ide_pci.rs`).
//!
//! Reference: Intel 82371FB/82371SB (PIIX/PIIX3) datasheet, ch. 2.2 (PCI configuration
//! registers: PIRQRC 0x60-0x63, TOM 0x69, MBIRQ 0x70-0x71, ...); QEMU hw/isa/piix.c for the
//! reset values SeaBIOS expects.
//!
//! PCI interrupt routing: a PCI function's INTx pin drives one of the four PIRQ lines, rotated
//! by slot as on QEMU's i440FX board ([`slot_pirq`]). The machine reports each function's INTx
//! level with [`Piix3Isa::set_intx`]; PIRQRC\[A-D\] (0x60-0x63: bit 7 = routing disabled, bits
//! 3:0 = ISA IRQ) steer each PIRQ line onto an ISA IRQ input, and [`Piix3Isa::isa_levels`] is
//! the resulting set of ISA IRQ lines held high (PIRQ lines are shared, active while any
//! function drives them; several PIRQs may share one IRQ). The machine ORs that into the ISA
//! lines ([`crate::IrqLines::set_routed`]); firmware programs those IRQs level-triggered in
//! the ELCR (SeaBIOS: PIRQA-D to IRQ 10, 10, 11, 11, ELCR 0x0C00).
//!
//! Known gaps: the ISA-side devices (PIC, PIT, DMA, RTC, ELCR at 0x4D0) are separate chips in
//! other files; APIC chip select, SMI and motherboard DMA registers are plain storage;
//! the reset control register at 0xCF9 lives in [`super::PciHost`].

use super::{PciConfig, PciFunction};

pub const PIRQRC: u8 = 0x60;
/// Top of memory register.
pub const TOM: u8 = 0x69;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Piix3Isa {
    config: PciConfig,
    changed: bool,
    /// INTx pins held asserted: bit `4 * device + pin - 1` (device 0-31, pin 1-4).
    #[serde(default)]
    intx: u128,
}

impl Default for Piix3Isa {
    fn default() -> Self {
        Self::new()
    }
}

/// The PIRQ line (0-3 = PIRQA-D) a device's INTx pin (1 = INTA .. 4 = INTD) drives on the
/// i440FX/PIIX3 board, as QEMU and SeaBIOS wire it: rotated by slot.
pub fn slot_pirq(device: u8, pin: u8) -> u8 {
    (pin.wrapping_sub(1).wrapping_add(device).wrapping_sub(1)) & 3
}

impl Piix3Isa {
    pub fn new() -> Self {
        let mut c = PciConfig::new(0x8086, 0x7000, 0x06_01_00, 0x00, 0x80);
        c.set_u16(0x04, 0x0007);
        c.set_u16(0x06, 0x0200);
        let defaults: &[(u8, u8)] = &[
            (0x4C, 0x4D),
            (0x4E, 0x03),
            (0x60, 0x80),
            (0x61, 0x80),
            (0x62, 0x80),
            (0x63, 0x80),
            (0x69, 0x02),
            (0x70, 0x80),
            (0x71, 0x80),
            (0x76, 0x0C),
            (0x77, 0x0C),
            (0x78, 0x02),
            (0xA0, 0x08),
            (0xA8, 0x0F),
        ];
        for &(o, v) in defaults {
            c.set_byte(o, v);
        }
        c.set_writable_range(0x4C..=0x4F);
        c.set_wmask(0x60, 0x8F);
        c.set_wmask(0x61, 0x8F);
        c.set_wmask(0x62, 0x8F);
        c.set_wmask(0x63, 0x8F);
        c.set_writable_range(0x69..=0x6A);
        c.set_writable_range(0x70..=0x71);
        c.set_writable_range(0x76..=0x78);
        c.set_writable_range(0x80..=0x82);
        c.set_writable_range(0xA0..=0xAE);
        Self {
            config: c,
            changed: true,
            intx: 0,
        }
    }

    pub fn config(&self) -> &PciConfig {
        &self.config
    }

    /// The ISA IRQ PIRQ line `n` (0-3 = A-D) is routed to, or None if routing is disabled
    /// (bit 7) or names a reserved IRQ (0-2, 8, 13).
    pub fn pirq_route(&self, n: u8) -> Option<u8> {
        if n > 3 {
            return None;
        }
        let r = self.config.byte(PIRQRC + n);
        let irq = r & 0x0F;
        (r & 0x80 == 0 && !matches!(irq, 0..=2 | 8 | 13)).then_some(irq)
    }

    /// The ISA IRQ of `device`'s INTx `pin` (1-4), after PIRQ routing.
    pub fn irq_for(&self, device: u8, pin: u8) -> Option<u8> {
        if !(1..=4).contains(&pin) {
            return None;
        }
        self.pirq_route(slot_pirq(device, pin))
    }

    /// PCI `device`'s (0-31) INTx `pin` (1 = INTA .. 4 = INTD) is now at `asserted`.
    /// Out-of-range device or pin numbers are ignored.
    pub fn set_intx(&mut self, device: u8, pin: u8, asserted: bool) {
        if device > 31 || !(1..=4).contains(&pin) {
            return;
        }
        let bit = 1u128 << (4 * device as u32 + pin as u32 - 1);
        if asserted {
            self.intx |= bit;
        } else {
            self.intx &= !bit;
        }
    }

    /// PIRQA-D (bits 0-3) driven by at least one asserted INTx pin.
    pub fn pirq_levels(&self) -> u8 {
        let mut levels = 0;
        let mut rest = self.intx;
        while rest != 0 {
            let k = rest.trailing_zeros() as u8;
            rest &= rest - 1;
            levels |= 1 << slot_pirq(k / 4, k % 4 + 1);
        }
        levels
    }

    /// The ISA IRQ lines (bit n = IRQ n) that the asserted PIRQ lines drive through PIRQRC.
    pub fn isa_levels(&self) -> u16 {
        let pirqs = self.pirq_levels();
        (0..4u8)
            .filter(|&n| pirqs & (1 << n) != 0)
            .filter_map(|n| self.pirq_route(n))
            .fold(0, |m, irq| m | 1 << irq)
    }

    /// Top of memory register 0x69 (bits 7:4 = top of memory in MiB - 1 for ISA forwarding).
    pub fn top_of_memory(&self) -> u8 {
        self.config.byte(TOM)
    }

    /// True once after a PIRQ route changed (and once after construction).
    pub fn take_routing_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

impl PciFunction for Piix3Isa {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        let before: [u8; 4] = std::array::from_fn(|i| self.config.byte(PIRQRC + i as u8));
        self.config.write(offset, size, value);
        let after: [u8; 4] = std::array::from_fn(|i| self.config.byte(PIRQRC + i as u8));
        if before != after {
            self.changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pirq_routing() {
        let mut p = Piix3Isa::new();
        assert!(p.take_routing_changed());
        assert_eq!(p.config_read(0x60, 4), 0x8080_8080);
        assert_eq!(p.pirq_route(0), None);
        // SeaBIOS routes PIRQA-D to 10, 10, 11, 11.
        p.config_write(0x60, 4, 0x0B0B_0A0A);
        assert!(p.take_routing_changed());
        assert_eq!(p.pirq_route(0), Some(10));
        assert_eq!(p.pirq_route(3), Some(11));
        p.config_write(0x62, 1, 0x8B);
        assert_eq!(p.pirq_route(2), None);
        p.config_write(0x61, 1, 0x02);
        assert_eq!(p.pirq_route(1), None);
        assert_eq!(p.pirq_route(7), None);
        // Slot 3 INTA -> PIRQC.
        assert_eq!(slot_pirq(3, 1), 2);
        assert_eq!(slot_pirq(1, 1), 0);
        assert_eq!(p.irq_for(4, 1), Some(11));
        assert_eq!(p.irq_for(4, 0), None);
        assert_eq!(p.top_of_memory(), 0x02);
    }

    #[test]
    fn intx_reaches_the_routed_isa_irq() {
        let mut p = Piix3Isa::new();
        // Routing disabled at reset: an asserted pin drives no ISA line.
        p.set_intx(3, 1, true);
        assert_eq!(p.pirq_levels(), 0b0100);
        assert_eq!(p.isa_levels(), 0);
        p.config_write(0x60, 4, 0x0B0B_0A0A);
        // Slot 3 INTA -> PIRQC -> IRQ 11.
        assert_eq!(p.isa_levels(), 1 << 11);
        // Slot 4 INTA -> PIRQD, also IRQ 11: the line is shared, high while either drives it.
        p.set_intx(4, 1, true);
        p.set_intx(3, 1, false);
        assert_eq!(p.pirq_levels(), 0b1000);
        assert_eq!(p.isa_levels(), 1 << 11);
        p.set_intx(4, 1, false);
        assert_eq!(p.isa_levels(), 0);
        // Slot 5 INTB -> PIRQB -> IRQ 10; slot 2 INTD -> PIRQA -> IRQ 10.
        p.set_intx(5, 2, true);
        assert_eq!(p.isa_levels(), 1 << 10);
        p.set_intx(2, 4, true);
        p.set_intx(5, 2, false);
        assert_eq!(p.isa_levels(), 1 << 10);
        // Reprogramming the route moves the line; disabling it (bit 7) drops it.
        p.config_write(PIRQRC, 1, 0x05);
        assert_eq!(p.isa_levels(), 1 << 5);
        p.config_write(PIRQRC, 1, 0x85);
        assert_eq!(p.isa_levels(), 0);
        // Nonsense from the machine is ignored.
        p.set_intx(32, 1, true);
        p.set_intx(1, 0, true);
        p.set_intx(1, 5, true);
        assert_eq!(p.pirq_levels(), 0b0001);
    }
}
