//! System control ports: System Control Port A (port 0x92, "fast A20 and reset", IBM PS/2 and
//! every PC chipset since) and the PIIX/PIIX3 Reset Control Register (port 0xCF9).
//!
//! References: IBM PS/2 Hardware Interface Technical Reference (System Control Port A);
//! Intel 82371SB PIIX3 datasheet §4.1.5 "RC — Reset Control Register"; QEMU hw/i386/pc.c
//! (port92) and hw/isa/piix.c (rcr).
//!
//! Port 0x92: bit 1 drives A20, a 0→1 transition of bit 0 requests a CPU reset; reads return
//! the last value written. Port 0xCF9: bit 1 selects a hard (1) or soft (0) reset, writing bit 2
//! set requests the reset; reads return bit 1.
//!
//! 0xCF9 sits inside the PCI configuration mechanism #1 window (0xCF8-0xCFF): the machine routes
//! byte accesses to 0xCF9 here and 32-bit accesses at 0xCF8 to the PCI host bridge.
//!
//! Known gaps: the other Port A bits (watchdog, security lock, activity LEDs) read back as
//! written and do nothing; hard and soft resets are both reported as one reset request (see
//! [`SysCtl::last_reset_was_hard`]); Port B (0x61) belongs to the PIT/speaker.

use serde::{Deserialize, Serialize};

use crate::{all_ones, Ctx, IoDevice};

pub const PORT_A: u16 = 0x92;
pub const RESET_CONTROL: u16 = 0xCF9;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SysCtl {
    port_a: u8,
    rcr: u8,
    reset_request: bool,
    hard_reset: bool,
}

impl SysCtl {
    /// Power-on state: A20 (as far as port 0x92 is concerned) disabled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Machine reset. The reset bit of port 0x92 clears; A20 is kept as the chipset does.
    pub fn reset(&mut self) {
        self.port_a &= !1;
        self.rcr = 0;
        self.reset_request = false;
    }

    /// A20 as driven by port 0x92 bit 1. The machine combines it with the 8042's output port
    /// (typically OR: either source enables A20).
    pub fn a20_enabled(&self) -> bool {
        self.port_a & 2 != 0
    }

    /// Whether the guest requested a reset since the last call.
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// Whether the last reset requested through 0xCF9 asked for a hard (full system) reset.
    pub fn last_reset_was_hard(&self) -> bool {
        self.hard_reset
    }
}

impl IoDevice for SysCtl {
    fn io_read(&mut self, port: u16, size: u8, _ctx: &mut Ctx) -> u32 {
        let v = match port {
            PORT_A => self.port_a,
            RESET_CONTROL => self.rcr,
            _ => return all_ones(size),
        };
        v as u32 | (all_ones(size) & !0xFF)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32, _ctx: &mut Ctx) {
        let v = value as u8;
        match port {
            PORT_A => {
                if v & 1 != 0 && self.port_a & 1 == 0 {
                    self.reset_request = true;
                    self.hard_reset = false;
                }
                self.port_a = v;
            }
            RESET_CONTROL => {
                if v & 4 != 0 {
                    self.reset_request = true;
                    self.hard_reset = v & 2 != 0;
                }
                self.rcr = v & 2;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;

    fn out(d: &mut SysCtl, port: u16, v: u8) {
        let mut irq = IrqLines::default();
        d.io_write(
            port,
            1,
            v as u32,
            &mut Ctx {
                now: 0,
                irq: &mut irq,
            },
        );
    }
    fn inb(d: &mut SysCtl, port: u16) -> u8 {
        let mut irq = IrqLines::default();
        d.io_read(
            port,
            1,
            &mut Ctx {
                now: 0,
                irq: &mut irq,
            },
        ) as u8
    }

    #[test]
    fn fast_a20_and_reset() {
        let mut d = SysCtl::new();
        assert!(!d.a20_enabled());
        out(&mut d, PORT_A, 0x02);
        assert!(d.a20_enabled());
        assert_eq!(inb(&mut d, PORT_A), 0x02);
        assert!(!d.take_reset_request());
        out(&mut d, PORT_A, 0x03);
        assert!(d.take_reset_request());
        // Bit 0 staying set is no new transition.
        out(&mut d, PORT_A, 0x03);
        assert!(!d.take_reset_request());
        d.reset();
        assert!(d.a20_enabled());
        assert_eq!(inb(&mut d, PORT_A), 0x02);
        out(&mut d, PORT_A, 0x00);
        assert!(!d.a20_enabled());
    }

    #[test]
    fn piix_reset_control() {
        let mut d = SysCtl::new();
        out(&mut d, RESET_CONTROL, 0x02);
        assert!(!d.take_reset_request());
        assert_eq!(inb(&mut d, RESET_CONTROL), 0x02);
        out(&mut d, RESET_CONTROL, 0x06);
        assert!(d.take_reset_request());
        assert!(d.last_reset_was_hard());
        out(&mut d, RESET_CONTROL, 0x04);
        assert!(d.take_reset_request());
        assert!(!d.last_reset_was_hard());
        assert_eq!(inb(&mut d, 0x93), 0xFF);
    }
}
