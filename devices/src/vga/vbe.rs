//! Bochs VBE "DISPI" interface: index port 0x1CE, data port 0x1CF (and 0x1D0). Registers as in
//! QEMU's `vga.c` (`vbe_ioport_*`, `vbe_fixup_regs`): out-of-range values are clamped to the
//! nearest valid ones, since the interface cannot report errors.

use super::{Vga, VRAM_SIZE};
use serde::{Deserialize, Serialize};

pub const VBE_DISPI_MAX_XRES: u16 = 2560;
pub const VBE_DISPI_MAX_YRES: u16 = 1600;
pub const VBE_DISPI_MAX_BPP: u16 = 32;

pub(super) const INDEX_ID: usize = 0;
pub(super) const INDEX_XRES: usize = 1;
pub(super) const INDEX_YRES: usize = 2;
pub(super) const INDEX_BPP: usize = 3;
pub(super) const INDEX_ENABLE: usize = 4;
pub(super) const INDEX_BANK: usize = 5;
pub(super) const INDEX_VIRT_WIDTH: usize = 6;
pub(super) const INDEX_VIRT_HEIGHT: usize = 7;
pub(super) const INDEX_X_OFFSET: usize = 8;
pub(super) const INDEX_Y_OFFSET: usize = 9;
const INDEX_NB: usize = 10;
const INDEX_VIDEO_MEMORY_64K: u16 = 0x0A;

pub(super) const ID0: u16 = 0xB0C0;
pub(super) const ID5: u16 = 0xB0C5;

pub(super) const ENABLED: u16 = 0x01;
pub(super) const GETCAPS: u16 = 0x02;
pub(super) const DAC_8BIT: u16 = 0x20;
pub(super) const LFB_ENABLED: u16 = 0x40;
pub(super) const NOCLEARMEM: u16 = 0x80;

const BANK_MASK: u16 = ((VRAM_SIZE >> 16) - 1) as u16;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Vbe {
    pub index: u16,
    pub regs: [u16; INDEX_NB],
    /// Byte offset the A0000 64 KiB window starts at (BANK << 16).
    pub bank_offset: u32,
    /// Bytes per scan line of the current mode.
    pub line_offset: u32,
    /// Byte offset of the top left visible pixel.
    pub start_addr: u32,
}

impl Default for Vbe {
    fn default() -> Self {
        let mut regs = [0; INDEX_NB];
        regs[INDEX_ID] = ID5;
        Vbe {
            index: 0,
            regs,
            bank_offset: 0,
            line_offset: 0,
            start_addr: 0,
        }
    }
}

impl Vbe {
    pub fn enabled(&self) -> bool {
        self.regs[INDEX_ENABLE] & ENABLED != 0
    }
    pub fn dac_8bit(&self) -> bool {
        self.regs[INDEX_ENABLE] & DAC_8BIT != 0
    }
    /// Bits per pixel of the enabled mode (15 is 16 in memory).
    pub fn bpp(&self) -> u16 {
        self.regs[INDEX_BPP]
    }
    pub fn xres(&self) -> u32 {
        self.regs[INDEX_XRES] as u32
    }
    pub fn yres(&self) -> u32 {
        self.regs[INDEX_YRES] as u32
    }

    /// Clamp the registers to a mode that fits in VRAM (QEMU's `vbe_fixup_regs`).
    fn fixup(&mut self) -> bool {
        let r = &mut self.regs;
        if r[INDEX_ENABLE] & ENABLED == 0 {
            return false;
        }
        let mut clamped = false;
        let bits: u32 = match r[INDEX_BPP] {
            4 | 8 | 16 | 24 | 32 => r[INDEX_BPP] as u32,
            15 => 16,
            _ => {
                r[INDEX_BPP] = 8;
                clamped = true;
                8
            }
        };
        r[INDEX_XRES] &= !7;
        if r[INDEX_XRES] == 0 {
            r[INDEX_XRES] = 8;
        }
        if r[INDEX_XRES] > VBE_DISPI_MAX_XRES {
            r[INDEX_XRES] = VBE_DISPI_MAX_XRES;
            clamped = true;
        }
        r[INDEX_VIRT_WIDTH] &= !7;
        if r[INDEX_VIRT_WIDTH] > VBE_DISPI_MAX_XRES {
            r[INDEX_VIRT_WIDTH] = VBE_DISPI_MAX_XRES;
        }
        if r[INDEX_VIRT_WIDTH] < r[INDEX_XRES] {
            r[INDEX_VIRT_WIDTH] = r[INDEX_XRES];
        }
        let line = r[INDEX_VIRT_WIDTH] as u32 * bits / 8;
        let maxy = VRAM_SIZE as u32 / line;
        if r[INDEX_YRES] == 0 {
            r[INDEX_YRES] = 1;
        }
        if r[INDEX_YRES] > VBE_DISPI_MAX_YRES {
            r[INDEX_YRES] = VBE_DISPI_MAX_YRES;
            clamped = true;
        }
        if r[INDEX_YRES] as u32 > maxy {
            r[INDEX_YRES] = maxy as u16;
            clamped = true;
        }
        if r[INDEX_X_OFFSET] > VBE_DISPI_MAX_XRES {
            r[INDEX_X_OFFSET] = VBE_DISPI_MAX_XRES;
        }
        if r[INDEX_Y_OFFSET] > VBE_DISPI_MAX_YRES {
            r[INDEX_Y_OFFSET] = VBE_DISPI_MAX_YRES;
        }
        let mut offset = r[INDEX_X_OFFSET] as u32 * bits / 8 + r[INDEX_Y_OFFSET] as u32 * line;
        let size = VRAM_SIZE as u32;
        if offset + r[INDEX_YRES] as u32 * line > size {
            r[INDEX_Y_OFFSET] = 0;
            offset = r[INDEX_X_OFFSET] as u32 * bits / 8;
            if offset + r[INDEX_YRES] as u32 * line > size {
                r[INDEX_X_OFFSET] = 0;
                offset = 0;
            }
        }
        r[INDEX_VIRT_HEIGHT] = maxy.min(0xFFFF) as u16;
        self.line_offset = line;
        // Planar (4 bpp) modes address whole plane-offset units of 4 bytes.
        self.start_addr = if bits == 4 { offset & !3 } else { offset };
        clamped
    }
}

impl Vga {
    /// 16-bit read of a DISPI port.
    pub(super) fn dispi_io_read(&mut self, port: u16) -> u32 {
        if port == 0x1CE {
            return self.vbe.index as u32;
        }
        let vbe = &self.vbe;
        let idx = vbe.index as usize;
        let v = if idx < INDEX_NB {
            if vbe.regs[INDEX_ENABLE] & GETCAPS != 0 {
                match idx {
                    INDEX_XRES => VBE_DISPI_MAX_XRES,
                    INDEX_YRES => VBE_DISPI_MAX_YRES,
                    INDEX_BPP => VBE_DISPI_MAX_BPP,
                    _ => vbe.regs[idx],
                }
            } else {
                vbe.regs[idx]
            }
        } else if vbe.index == INDEX_VIDEO_MEMORY_64K {
            (VRAM_SIZE >> 16) as u16
        } else {
            0
        };
        v as u32
    }

    /// 16-bit write of a DISPI port.
    pub(super) fn dispi_io_write(&mut self, port: u16, val: u32) {
        let val = val as u16;
        if port == 0x1CE {
            self.vbe.index = val;
            return;
        }
        let idx = self.vbe.index as usize;
        match idx {
            INDEX_ID if (ID0..=ID5).contains(&val) => self.vbe.regs[INDEX_ID] = val,
            INDEX_XRES | INDEX_YRES | INDEX_BPP | INDEX_VIRT_WIDTH | INDEX_X_OFFSET
            | INDEX_Y_OFFSET => {
                self.vbe.regs[idx] = val;
                if self.vbe.fixup() {
                    self.log_clamped();
                }
            }
            INDEX_BANK => {
                let mask = if self.vbe.bpp() == 4 {
                    BANK_MASK >> 2
                } else {
                    BANK_MASK
                };
                let v = val & mask;
                self.vbe.regs[INDEX_BANK] = v;
                self.vbe.bank_offset = (v as u32) << 16;
            }
            INDEX_ENABLE => self.dispi_enable_write(val),
            _ => {}
        }
    }

    fn log_clamped(&mut self) {
        let r = self.vbe.regs;
        self.log_once(
            1,
            format_args!(
                "DISPI mode clamped to {}x{}x{} (limits {VBE_DISPI_MAX_XRES}x{VBE_DISPI_MAX_YRES}, {} MiB)",
                r[INDEX_XRES],
                r[INDEX_YRES],
                r[INDEX_BPP],
                VRAM_SIZE >> 20
            ),
        );
    }

    fn dispi_enable_write(&mut self, val: u16) {
        if val & ENABLED != 0 && !self.vbe.enabled() {
            let r = &mut self.vbe.regs;
            r[INDEX_VIRT_WIDTH] = 0;
            r[INDEX_X_OFFSET] = 0;
            r[INDEX_Y_OFFSET] = 0;
            r[INDEX_ENABLE] |= ENABLED;
            if self.vbe.fixup() {
                self.log_clamped();
            }
            if val & NOCLEARMEM == 0 {
                let n = (self.vbe.yres() * self.vbe.line_offset) as usize;
                self.vram[..n.min(VRAM_SIZE)].fill(0);
            }
            self.setup_vga_regs_for_vbe();
        } else if val & ENABLED == 0 {
            self.vbe.bank_offset = 0;
        }
        self.vbe.regs[INDEX_ENABLE] = val;
    }

    /// Program the VGA registers the way a VBE mode needs them (QEMU does the same): graphics
    /// mode, A0000/64K window, chain-4 for packed pixels, sizes for software that reads them.
    fn setup_vga_regs_for_vbe(&mut self) {
        let xres = self.vbe.xres();
        let h = self.vbe.yres().saturating_sub(1);
        self.gr[6] = (self.gr[6] & !0x0C) | 0x04 | 0x01;
        self.cr[0x17] |= 3;
        self.cr[0x13] = (self.vbe.line_offset >> 3) as u8;
        self.cr[0x01] = ((xres >> 3) as u8).wrapping_sub(1);
        self.cr[0x12] = h as u8;
        self.cr[0x07] = (self.cr[0x07] & !0x42) | ((h >> 7) as u8 & 0x02) | ((h >> 3) as u8 & 0x40);
        self.cr[0x18] = 0xFF;
        self.cr[0x07] |= 0x10;
        self.cr[0x09] |= 0x40;
        let shift_control;
        if self.vbe.bpp() == 4 {
            shift_control = 0;
            self.sr[1] &= !0x08;
        } else {
            shift_control = 2;
            self.sr[4] |= 0x08;
            self.sr[2] |= 0x0F;
        }
        self.gr[5] = (self.gr[5] & !0x60) | (shift_control << 5);
        self.cr[0x09] &= !0x9F;
    }
}
