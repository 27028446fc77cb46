//! Rendering to a 0x00RRGGBB frame: blanking, text modes (text.rs), VGA graphics (planar
//! 16-colour, CGA 2/4-colour shift interleave, 256-colour chained or unchained) with the
//! CRTC's sizes, double scanning, maximum scan line, CGA bank addressing, offset, start
//! address, line compare and pel panning; and the VBE modes at 4/8/15/16/24/32 bpp.

use super::{Vga, MAX_HEIGHT, MAX_WIDTH, VGA_PLANES_BYTES, VRAM_MASK};

/// How the attribute controller builds pixels from the four plane bytes of one address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shift {
    /// 16 colours, one bit from each plane.
    Planar,
    /// CGA 4 colours: 2-bit pixels from planes 0/1 (and 2/3), even then odd plane.
    Interleave,
    /// 256 colours: each plane byte one pixel, two dots wide.
    Packed,
}

impl Vga {
    /// Draw the current picture into `out` (resized to width * height, pixels 0x00RRGGBB,
    /// row-major) and return (width, height). A blanked screen is black at the last size.
    pub fn render(&mut self, out: &mut Vec<u32>) -> (u32, u32) {
        let size = self.render_inner(out);
        self.last_size = size;
        size
    }

    fn render_inner(&self, out: &mut Vec<u32>) -> (u32, u32) {
        let blank = self.ar_index & 0x20 == 0 || self.sr[1] & 0x20 != 0;
        if blank {
            return self.render_blank(out, self.last_size);
        }
        if self.vbe.enabled() {
            return self.render_vbe(out);
        }
        if self.gr[6] & 1 == 0 {
            let Some(g) = self.text_geometry() else {
                return self.render_blank(out, self.last_size);
            };
            let (w, h) = (g.width(), g.height());
            prepare(out, w, h);
            self.render_text(&g, out, w as usize);
            return (w, h);
        }
        self.render_graphics(out)
    }

    fn render_blank(&self, out: &mut Vec<u32>, (w, h): (u32, u32)) -> (u32, u32) {
        let (w, h) = (w.clamp(1, MAX_WIDTH), h.clamp(1, MAX_HEIGHT));
        prepare(out, w, h);
        (w, h)
    }

    fn render_graphics(&self, out: &mut Vec<u32>) -> (u32, u32) {
        let shift = if self.gr[5] & 0x40 != 0 {
            Shift::Packed
        } else if self.gr[5] & 0x20 != 0 {
            Shift::Interleave
        } else {
            Shift::Planar
        };
        let dot_double = self.sr[1] & 0x08 != 0;
        let chars = self.cr[1] as u32 + 1;
        let width = ((chars * 8) << dot_double as u32).min(MAX_WIDTH);
        let height = self.vdisp_lines().min(MAX_HEIGHT);
        prepare(out, width, height);

        let lut: [u32; 256] = match shift {
            Shift::Packed => std::array::from_fn(|i| self.dac_rgb(i as u8 & self.dac_mask)),
            _ => std::array::from_fn(|i| self.dac_rgb(self.attr_to_dac(i as u8 & 0x0F))),
        };
        // Address bits substituted by the row scan counter for CGA banks (CR17 bits 0/1):
        // memory address bits 13/14, which are plane-offset bits 13/14 in byte mode, 12/13 in
        // word mode and 11/12 in double-word mode; times 4 for our byte index.
        let addr_shift = if self.cr[0x14] & 0x40 != 0 {
            2
        } else if self.cr[0x17] & 0x40 != 0 {
            0
        } else {
            1
        };
        let bank0_bit = 15 - addr_shift;
        let bank1_bit = 16 - addr_shift;
        let start = (((self.cr[0x0C] as u32) << 8) | self.cr[0x0D] as u32) as usize * 4;
        let offset = self.cr[0x13] as usize * 8;
        let max_scan = (self.cr[9] & 0x1F) as u32;
        let double_scan = self.cr[9] & 0x80 != 0;
        let line_compare = self.line_compare();
        let mut pan = (self.ar[0x13] & 0x0F) as usize;
        pan = if pan > 7 { 0 } else { pan };
        if shift == Shift::Packed {
            pan &= 6;
        }

        let mut dots = vec![0u8; (chars as usize + 1) * 8];
        let mut row_addr = start;
        let mut rs = 0u32;
        let mut sub = false;
        let w = width as usize;
        for y in 0..height {
            let mut addr = row_addr;
            if self.cr[0x17] & 1 == 0 {
                addr = (addr & !(1 << bank0_bit)) | (((rs & 1) as usize) << bank0_bit);
            }
            if self.cr[0x17] & 2 == 0 {
                addr = (addr & !(1 << bank1_bit)) | ((((rs >> 1) & 1) as usize) << bank1_bit);
            }
            self.graphics_line(shift, addr, &mut dots);
            let dst = &mut out[y as usize * w..(y as usize + 1) * w];
            let src = &dots[pan..];
            if dot_double {
                for (i, px) in dst.iter_mut().enumerate() {
                    *px = lut[src[i >> 1] as usize];
                }
            } else {
                for (px, &d) in dst.iter_mut().zip(src) {
                    *px = lut[d as usize];
                }
            }
            // Advance the CRTC: scan line, row scan counter, memory address.
            if y == line_compare {
                row_addr = 0;
                rs = 0;
                sub = false;
                if self.ar[0x10] & 0x20 != 0 {
                    pan = 0;
                }
                continue;
            }
            if double_scan && !sub {
                sub = true;
                continue;
            }
            sub = false;
            if rs >= max_scan {
                rs = 0;
                row_addr += offset;
            } else {
                rs += 1;
            }
        }
        (width, height)
    }

    /// Pixel values (palette indices) of one scan line, 8 dots per character clock, starting
    /// at byte index `addr` of the interleaved planes.
    fn graphics_line(&self, shift: Shift, addr: usize, dots: &mut [u8]) {
        let planes = &self.vram[..VGA_PLANES_BYTES];
        for (c, cell) in dots.chunks_exact_mut(8).enumerate() {
            let a = ((addr + c * 4) & !3) % VGA_PLANES_BYTES;
            let p = [planes[a], planes[a + 1], planes[a + 2], planes[a + 3]];
            match shift {
                Shift::Planar => {
                    for (i, d) in cell.iter_mut().enumerate() {
                        let bit = 7 - i;
                        *d = ((p[0] >> bit) & 1)
                            | (((p[1] >> bit) & 1) << 1)
                            | (((p[2] >> bit) & 1) << 2)
                            | (((p[3] >> bit) & 1) << 3);
                    }
                }
                Shift::Interleave => {
                    for (i, d) in cell.iter_mut().enumerate() {
                        let (lo, hi) = if i < 4 { (p[0], p[2]) } else { (p[1], p[3]) };
                        let bit = 6 - 2 * (i & 3);
                        *d = ((lo >> bit) & 3) | (((hi >> bit) & 3) << 2);
                    }
                }
                Shift::Packed => {
                    for (i, d) in cell.iter_mut().enumerate() {
                        *d = p[i >> 1];
                    }
                }
            }
        }
    }

    fn render_vbe(&self, out: &mut Vec<u32>) -> (u32, u32) {
        let (w, h) = (self.vbe.xres(), self.vbe.yres());
        let (w, h) = (w.clamp(1, MAX_WIDTH), h.clamp(1, MAX_HEIGHT));
        prepare(out, w, h);
        let line = self.vbe.line_offset as usize;
        let start = self.vbe.start_addr as usize;
        let vram = &self.vram;
        let byte = |i: usize| vram[i & VRAM_MASK] as u32;
        let wu = w as usize;
        match self.vbe.bpp() {
            4 => {
                let lut: [u32; 16] = self.attr_palette();
                let mut dots = vec![0u8; wu.div_ceil(8) * 8];
                for y in 0..h as usize {
                    let addr = (start + y * line) & VRAM_MASK;
                    for (c, cell) in dots.chunks_exact_mut(8).enumerate() {
                        let a = addr + c * 4;
                        let p = [byte(a), byte(a + 1), byte(a + 2), byte(a + 3)];
                        for (i, d) in cell.iter_mut().enumerate() {
                            let bit = 7 - i;
                            *d = (((p[0] >> bit) & 1)
                                | (((p[1] >> bit) & 1) << 1)
                                | (((p[2] >> bit) & 1) << 2)
                                | (((p[3] >> bit) & 1) << 3))
                                as u8;
                        }
                    }
                    let dst = &mut out[y * wu..(y + 1) * wu];
                    for (px, &d) in dst.iter_mut().zip(&dots) {
                        *px = lut[d as usize];
                    }
                }
            }
            bpp => {
                let lut: [u32; 256] = std::array::from_fn(|i| self.dac_rgb(i as u8));
                let bytes_pp = match bpp {
                    8 => 1,
                    15 | 16 => 2,
                    24 => 3,
                    _ => 4,
                };
                for y in 0..h as usize {
                    let row = start + y * line;
                    let dst = &mut out[y * wu..(y + 1) * wu];
                    for (x, px) in dst.iter_mut().enumerate() {
                        let a = row + x * bytes_pp;
                        *px = match bpp {
                            8 => lut[byte(a) as usize],
                            15 => {
                                let v = byte(a) | (byte(a + 1) << 8);
                                rgb(expand5(v >> 10), expand5(v >> 5), expand5(v))
                            }
                            16 => {
                                let v = byte(a) | (byte(a + 1) << 8);
                                rgb(expand5(v >> 11), expand6(v >> 5), expand5(v))
                            }
                            _ => rgb(byte(a + 2), byte(a + 1), byte(a)),
                        };
                    }
                }
            }
        }
        (w, h)
    }
}

fn prepare(out: &mut Vec<u32>, w: u32, h: u32) {
    out.clear();
    out.resize(w as usize * h as usize, 0);
}

fn rgb(r: u32, g: u32, b: u32) -> u32 {
    (r << 16) | (g << 8) | b
}

fn expand5(v: u32) -> u32 {
    let v = v & 0x1F;
    (v << 3) | (v >> 2)
}

fn expand6(v: u32) -> u32 {
    let v = v & 0x3F;
    (v << 2) | (v >> 4)
}
