//! Video memory access: the legacy window 0xA0000-0xBFFFF as graphics register 6 maps it
//! (with the VBE bank in the 64 KiB A0000 mapping), the sequencer's chain-4 / odd-even /
//! planar addressing, the graphics controller's write modes 0-3 (rotate, set/reset, logical
//! operation, bit mask, map mask) and read modes 0-1 (latches, colour compare), and the linear
//! framebuffer of PCI BAR0.

use super::{Vga, VRAM_MASK, VRAM_SIZE};

/// Where a CPU byte of the window lands.
struct Target {
    /// Plane offset (the CRTC memory address); the four plane bytes are at `offset * 4`.
    offset: usize,
    /// Planes a write may touch.
    write_planes: u8,
    /// Plane a read-mode-0 read returns.
    read_plane: usize,
}

impl Vga {
    /// Offset into the VGA address space for a physical address in the window, or None when
    /// graphics register 6 leaves it unmapped.
    fn window_offset(&self, addr: u32) -> Option<u32> {
        let a = addr.wrapping_sub(0xA0000);
        if a >= 0x20000 {
            return None;
        }
        match (self.gr[6] >> 2) & 3 {
            0 => Some(a),
            1 => (a < 0x10000).then(|| a + self.vbe.bank_offset),
            2 => (0x10000..0x18000).contains(&a).then(|| a - 0x10000),
            _ => (0x18000..0x20000).contains(&a).then(|| a - 0x18000),
        }
    }

    fn target(&self, a: u32, for_write: bool) -> Target {
        let a = a as usize;
        // Plane offsets wrap at 64 KiB on a VGA; VBE banks reach all of VRAM.
        let limit = if self.vbe.enabled() {
            VRAM_SIZE / 4 - 1
        } else {
            0xFFFF
        };
        let map_mask = self.sr[2] & 0x0F;
        if self.sr[4] & 0x08 != 0 {
            // Chain-4: address bits 0-1 pick the plane.
            let plane = a & 3;
            Target {
                offset: (a >> 2) & limit,
                write_planes: map_mask & (1 << plane),
                read_plane: plane,
            }
        } else {
            let odd_even_write = self.sr[4] & 0x04 == 0;
            let odd_even_read = self.gr[5] & 0x10 != 0;
            let odd_even = if for_write {
                odd_even_write
            } else {
                odd_even_read
            };
            if odd_even {
                // Even addresses reach planes 0 and 2, odd ones planes 1 and 3.
                let planes = if a & 1 == 0 { 0b0101 } else { 0b1010 };
                let read_plane = ((self.gr[4] & 2) as usize) | (a & 1);
                Target {
                    offset: (a >> 1) & limit,
                    write_planes: map_mask & planes,
                    read_plane,
                }
            } else {
                Target {
                    offset: a & limit,
                    write_planes: map_mask,
                    read_plane: (self.gr[4] & 3) as usize,
                }
            }
        }
    }

    /// Read one byte of the window at VGA address `a`.
    fn vga_read_byte(&mut self, a: u32) -> u8 {
        let t = self.target(a, false);
        let base = (t.offset * 4) & VRAM_MASK;
        self.latch.copy_from_slice(&self.vram[base..base + 4]);
        if self.gr[5] & 0x08 == 0 {
            self.latch[t.read_plane]
        } else {
            // Read mode 1: colour compare over the planes not marked "don't care".
            let care = self.gr[7];
            let cmp = self.gr[2];
            let mut diff = 0u8;
            for p in 0..4 {
                if care & (1 << p) != 0 {
                    let want = if cmp & (1 << p) != 0 { 0xFF } else { 0x00 };
                    diff |= self.latch[p] ^ want;
                }
            }
            !diff
        }
    }

    /// Write one byte of the window at VGA address `a`.
    fn vga_write_byte(&mut self, a: u32, val: u8) {
        let t = self.target(a, true);
        if t.write_planes == 0 {
            return;
        }
        let rotate = (self.gr[3] & 7) as u32;
        let func = (self.gr[3] >> 3) & 3;
        let sr_value = self.gr[0];
        let expand = |bit: bool| if bit { 0xFFu8 } else { 0x00 };
        let mut data = [0u8; 4];
        let mut bit_mask = self.gr[8];
        match self.gr[5] & 3 {
            0 => {
                let v = val.rotate_right(rotate);
                let sr_enable = self.gr[1];
                for (p, d) in data.iter_mut().enumerate() {
                    *d = if sr_enable & (1 << p) != 0 {
                        expand(sr_value & (1 << p) != 0)
                    } else {
                        v
                    };
                }
            }
            1 => {
                // Latches straight to memory; no logical operation, no bit mask.
                data = self.latch;
                bit_mask = 0xFF;
            }
            2 => {
                for (p, d) in data.iter_mut().enumerate() {
                    *d = expand(val & (1 << p) != 0);
                }
            }
            _ => {
                let v = val.rotate_right(rotate);
                bit_mask &= v;
                for (p, d) in data.iter_mut().enumerate() {
                    *d = expand(sr_value & (1 << p) != 0);
                }
            }
        }
        let write_mode_1 = self.gr[5] & 3 == 1;
        let base = (t.offset * 4) & VRAM_MASK;
        for (p, &d) in data.iter().enumerate() {
            if t.write_planes & (1 << p) == 0 {
                continue;
            }
            let latch = self.latch[p];
            let v = if write_mode_1 {
                d
            } else {
                let alu = match func {
                    0 => d,
                    1 => d & latch,
                    2 => d | latch,
                    _ => d ^ latch,
                };
                (alu & bit_mask) | (latch & !bit_mask)
            };
            self.vram[base + p] = v;
        }
    }

    /// Read `size` (1, 2 or 4) bytes of the legacy window at physical address `addr`
    /// (0xA0000..=0xBFFFF); bytes graphics register 6 leaves unmapped read as 0xFF.
    pub fn mem_read(&mut self, addr: u32, size: u8) -> u32 {
        let n = match size {
            1 | 2 | 4 => size as u32,
            _ => return crate::all_ones(size),
        };
        let mut v = 0u32;
        for i in 0..n {
            let b = match self.window_offset(addr.wrapping_add(i)) {
                Some(a) => self.vga_read_byte(a),
                None => 0xFF,
            };
            v |= (b as u32) << (8 * i);
        }
        v
    }

    /// Write `size` (1, 2 or 4) bytes (little-endian) to the legacy window; bytes outside the
    /// mapping graphics register 6 selects are dropped.
    pub fn mem_write(&mut self, addr: u32, size: u8, value: u32) {
        let n = match size {
            1 | 2 | 4 => size as u32,
            _ => return,
        };
        self.generation += 1;
        for i in 0..n {
            if let Some(a) = self.window_offset(addr.wrapping_add(i)) {
                self.vga_write_byte(a, (value >> (8 * i)) as u8);
            }
        }
    }

    /// Read from the linear framebuffer (PCI BAR0) at `offset` from its base.
    pub fn lfb_read(&self, offset: u32, size: u8) -> u32 {
        let n = match size {
            1 | 2 | 4 => size as usize,
            _ => return crate::all_ones(size),
        };
        let mut v = 0u32;
        for i in 0..n {
            let b = self.vram.get(offset as usize + i).copied().unwrap_or(0xFF);
            v |= (b as u32) << (8 * i);
        }
        v
    }

    /// Write to the linear framebuffer (PCI BAR0) at `offset` from its base.
    pub fn lfb_write(&mut self, offset: u32, size: u8, value: u32) {
        let n = match size {
            1 | 2 | 4 => size as usize,
            _ => return,
        };
        self.generation += 1;
        for i in 0..n {
            if let Some(b) = self.vram.get_mut(offset as usize + i) {
                *b = (value >> (8 * i)) as u8;
            }
        }
    }
}
