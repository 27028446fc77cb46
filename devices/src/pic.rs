//! Intel 8259A programmable interrupt controller pair, cascaded as on the PC/AT (master at
//! 0x20/0x21, slave at 0xA0/0xA1 on the master's IR2), plus the PIIX3 edge/level control
//! registers (ELCR) at 0x4D0/0x4D1.
//!
//! References: Intel 8259A datasheet (231468); Intel 82371SB PIIX3 datasheet, section 4.1.9
//! (ELCR); QEMU hw/intc/i8259.c for the behaviour firmware and operating systems rely on.
//!
//! Model: the machine samples the ISA lines with [`Pic::update_lines`] (edge inputs latch a
//! rising edge into IRR, level inputs (ELCR bit set) make IRR follow the line), asks
//! [`Pic::intr_pending`] for the INTR output and runs the INTA cycle with
//! [`Pic::acknowledge`], which returns the vector. The slave's INT output is latched into the
//! master's IR2 like an edge input, so a request that vanishes between sampling and INTA gives
//! the spurious vector (IR7 of the chip concerned) without setting ISR, as on hardware.
//!
//! Known gaps: ICW1 LTIM is ignored (the PIIX3 uses the ELCR instead); 8080/8085 mode,
//! buffered mode and single (non-cascaded) mode are accepted but not modelled; the slave
//! is always on master IR2 whatever ICW3 says; ISA line 2 is not redirected to IRQ 9; an
//! edge request whose line falls again before INTA still counts (devices pulse lines).

use crate::{all_ones, Ctx, IoDevice, IrqLines};
use serde::{Deserialize, Serialize};

macro_rules! warn_once {
    ($($arg:tt)*) => {{
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| tracing::warn!($($arg)*));
    }};
}

/// ELCR bits that may be set: IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge.
const ELCR_MASK: [u8; 2] = [0xF8, 0xDE];

/// Where a chip is in its ICW1..ICW4 initialisation sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Init {
    #[default]
    Ready,
    Icw2,
    Icw3,
    Icw4,
}

/// One 8259A.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Chip {
    irr: u8,
    isr: u8,
    imr: u8,
    /// Level-triggered inputs (ELCR), already masked by [`ELCR_MASK`].
    elcr: u8,
    /// Vector base from ICW2 (low three bits zero).
    base: u8,
    /// The IR with the highest priority (0 unless rotated).
    priority_add: u8,
    init: Init,
    icw4_needed: bool,
    single: bool,
    auto_eoi: bool,
    rotate_on_auto_eoi: bool,
    special_mask: bool,
    special_fully_nested: bool,
    read_isr: bool,
    poll: bool,
}

impl Chip {
    /// Priority level (0 = highest) of the highest-priority bit in `mask`, or 8 if none.
    fn priority(&self, mask: u8) -> u8 {
        // The first set bit counting from `priority_add` (8 if none).
        mask.rotate_right(self.priority_add as u32).trailing_zeros() as u8
    }

    /// The IR this chip would signal given request register `irr`, if any.
    fn highest(&self, irr: u8, is_master: bool) -> Option<u8> {
        let pending = self.priority(irr & !self.imr);
        if pending == 8 {
            return None;
        }
        let mut in_service = self.isr;
        if self.special_mask {
            in_service &= !self.imr;
        }
        if self.special_fully_nested && is_master {
            in_service &= !(1 << 2);
        }
        (pending < self.priority(in_service)).then_some((pending + self.priority_add) & 7)
    }

    /// The INTA (or poll) side effects for `irq`.
    fn ack(&mut self, irq: u8) {
        let bit = 1 << irq;
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.priority_add = (irq + 1) & 7;
            }
        } else {
            self.isr |= bit;
        }
        if self.elcr & bit == 0 {
            self.irr &= !bit;
        }
    }

    fn write_command(&mut self, value: u8) {
        if value & 0x10 != 0 {
            // ICW1: reset, then expect ICW2 (and ICW3/ICW4 as announced).
            if value & 0x08 != 0 {
                warn_once!("8259: ICW1 LTIM ignored (edge/level comes from the ELCR)");
            }
            *self = Chip {
                irr: self.irr & self.elcr,
                elcr: self.elcr,
                init: Init::Icw2,
                icw4_needed: value & 0x01 != 0,
                single: value & 0x02 != 0,
                ..Chip::default()
            };
        } else if value & 0x08 != 0 {
            // OCW3
            if value & 0x04 != 0 {
                self.poll = true;
            }
            if value & 0x02 != 0 {
                self.read_isr = value & 0x01 != 0;
            }
            if value & 0x40 != 0 {
                self.special_mask = value & 0x20 != 0;
            }
        } else {
            // OCW2
            let level = value & 7;
            match value >> 5 {
                0 => self.rotate_on_auto_eoi = false,
                4 => self.rotate_on_auto_eoi = true,
                cmd @ (1 | 5) => {
                    let p = self.priority(self.isr);
                    if p != 8 {
                        let irq = (p + self.priority_add) & 7;
                        self.isr &= !(1 << irq);
                        if cmd == 5 {
                            self.priority_add = (irq + 1) & 7;
                        }
                    }
                }
                3 => self.isr &= !(1 << level),
                6 => self.priority_add = (level + 1) & 7,
                7 => {
                    self.isr &= !(1 << level);
                    self.priority_add = (level + 1) & 7;
                }
                _ => {} // 2: no operation
            }
        }
    }

    fn write_data(&mut self, value: u8) {
        match self.init {
            Init::Ready => self.imr = value,
            Init::Icw2 => {
                self.base = value & 0xF8;
                self.init = match (self.single, self.icw4_needed) {
                    (false, _) => Init::Icw3,
                    (true, true) => Init::Icw4,
                    (true, false) => Init::Ready,
                };
                if self.single {
                    warn_once!("8259: single mode programmed; the cascade stays wired");
                }
            }
            Init::Icw3 => {
                self.init = if self.icw4_needed {
                    Init::Icw4
                } else {
                    Init::Ready
                };
            }
            Init::Icw4 => {
                if value & 0x01 == 0 {
                    warn_once!("8259: ICW4 selects 8080 mode; treated as x86 mode");
                }
                self.auto_eoi = value & 0x02 != 0;
                self.special_fully_nested = value & 0x10 != 0;
                self.init = Init::Ready;
            }
        }
    }
}

/// The two 8259As of a PC plus the PIIX3 ELCR pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pic {
    /// `[master, slave]`. The master's IRR bit 2 is the latched slave INT output.
    chips: [Chip; 2],
}

impl Pic {
    /// A pair at power-on: nothing masked, vectors 0-15, all inputs edge-triggered. Firmware
    /// reprograms both chips before unmasking anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sample the ISA lines: edge inputs latch the rising edges seen since the last call
    /// (consuming them), level inputs follow the line. Call this before
    /// [`Pic::intr_pending`] whenever a device may have touched the lines.
    pub fn update_lines(&mut self, lines: &mut IrqLines) {
        let cascade = self.chips[0].irr & (1 << 2);
        let edges = lines.take_edges();
        let levels = lines.levels();
        for (i, chip) in self.chips.iter_mut().enumerate() {
            let e = (edges >> (8 * i)) as u8;
            let l = (levels >> (8 * i)) as u8;
            let lvl = chip.elcr;
            chip.irr = (chip.irr & !lvl) | (e & !lvl) | (l & lvl);
        }
        // ISA line 2 is not a master input: IR2 is the cascade.
        self.chips[0].irr = (self.chips[0].irr & !(1 << 2)) | cascade;
        self.latch_cascade();
    }

    fn slave_output(&self) -> bool {
        self.chips[1].highest(self.chips[1].irr, false).is_some()
    }

    /// The slave's INT output sets the master's IR2 request (an edge input).
    fn latch_cascade(&mut self) {
        if self.slave_output() {
            self.chips[0].irr |= 1 << 2;
        }
    }

    /// The INTR output to the CPU.
    pub fn intr_pending(&self) -> bool {
        // (Asked before every block the CPU runs: most often nothing is requested at all.)
        if self.chips.iter().all(|c| c.irr & !c.imr == 0) {
            return false;
        }
        let mut irr = self.chips[0].irr;
        if self.slave_output() {
            irr |= 1 << 2;
        }
        self.chips[0].highest(irr, true).is_some()
    }

    /// The INTA cycle: returns the vector for the highest-priority request and moves it to
    /// ISR (unless auto-EOI). If the request went away, returns the spurious vector (IR7 of
    /// the master, or of the slave when the master had already latched the cascade) and sets
    /// no ISR bit on that chip.
    pub fn acknowledge(&mut self) -> u8 {
        self.latch_cascade();
        let vector = match self.chips[0].highest(self.chips[0].irr, true) {
            None => self.chips[0].base | 7,
            Some(2) => {
                self.chips[0].ack(2);
                match self.chips[1].highest(self.chips[1].irr, false) {
                    Some(irq) => {
                        self.chips[1].ack(irq);
                        self.chips[1].base | irq
                    }
                    None => self.chips[1].base | 7,
                }
            }
            Some(irq) => {
                self.chips[0].ack(irq);
                self.chips[0].base | irq
            }
        };
        self.latch_cascade();
        vector
    }

    /// Poll-mode read of one chip: an INTA without the vector.
    fn poll(&mut self, which: usize) -> u8 {
        self.chips[which].poll = false;
        if which == 0 {
            self.latch_cascade();
        }
        let chip = &mut self.chips[which];
        match chip.highest(chip.irr, which == 0) {
            Some(irq) => {
                chip.ack(irq);
                0x80 | irq
            }
            None => 0,
        }
    }

    fn read_byte(&mut self, port: u16) -> u8 {
        match port {
            0x20 | 0x21 | 0xA0 | 0xA1 => {
                let which = usize::from(port >= 0xA0);
                if self.chips[which].poll {
                    let v = self.poll(which);
                    self.latch_cascade();
                    return v;
                }
                let chip = &self.chips[which];
                if port & 1 == 1 {
                    chip.imr
                } else if chip.read_isr {
                    chip.isr
                } else {
                    chip.irr
                }
            }
            0x4D0 | 0x4D1 => self.chips[usize::from(port & 1)].elcr,
            _ => 0xFF,
        }
    }

    fn write_byte(&mut self, port: u16, value: u8) {
        match port {
            0x20 | 0x21 | 0xA0 | 0xA1 => {
                let chip = &mut self.chips[usize::from(port >= 0xA0)];
                if port & 1 == 0 {
                    chip.write_command(value);
                } else {
                    chip.write_data(value);
                }
            }
            0x4D0 | 0x4D1 => {
                let i = usize::from(port & 1);
                if value & !ELCR_MASK[i] != 0 {
                    warn_once!("ELCR: IRQ 0, 1, 2, 8 and 13 cannot be level-triggered");
                }
                self.chips[i].elcr = value & ELCR_MASK[i];
            }
            _ => {}
        }
        self.latch_cascade();
    }

    /// The interrupt request registers, master in the low byte, slave in the high byte.
    pub fn requests(&self) -> u16 {
        u16::from(self.chips[0].irr) | u16::from(self.chips[1].irr) << 8
    }

    /// ISA line `irq` is programmed level-triggered in the ELCR.
    pub fn is_level_triggered(&self, irq: u8) -> bool {
        let irq = irq & 15;
        self.chips[usize::from(irq >= 8)].elcr & (1 << (irq & 7)) != 0
    }
}

impl IoDevice for Pic {
    fn io_read(&mut self, port: u16, size: u8, _ctx: &mut Ctx) -> u32 {
        // Wider accesses split into byte cycles, as on the ISA bus.
        let bytes = size.clamp(1, 4);
        let value = (0..bytes).fold(0, |acc, i| {
            acc | u32::from(self.read_byte(port.wrapping_add(u16::from(i)))) << (8 * i)
        });
        value & all_ones(bytes)
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32, _ctx: &mut Ctx) {
        for i in 0..size.clamp(1, 4) {
            self.write_byte(port.wrapping_add(u16::from(i)), (value >> (8 * i)) as u8);
        }
    }
}

#[cfg(test)]
#[path = "pic_tests.rs"]
mod tests;
