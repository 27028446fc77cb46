//! Text (alphanumeric) modes: character/attribute pairs in planes 0/1, the font in plane 2 (as
//! the BIOS loads it, 32 bytes a glyph, character maps A/B by sequencer register 3), 8/9-dot
//! cells with line-graphics duplication for 0xC0-0xDF, blink, underline and the CRTC cursor.

use super::{Vga, MAX_HEIGHT, MAX_WIDTH};
use crate::Nanos;

/// One frame at 70 Hz.
const FRAME_NS: Nanos = 14_268_000;
/// The cursor changes state every 8 frames, blinking characters every 16.
pub(super) const CURSOR_PHASE_NS: Nanos = 8 * FRAME_NS;
const BLINK_PHASE_NS: Nanos = 16 * FRAME_NS;

/// Shape of the text screen from the CRTC and sequencer.
#[derive(Clone, Copy, Debug)]
pub(super) struct TextGeometry {
    pub cols: u32,
    pub rows: u32,
    /// Dots per character cell (8 or 9) before doubling.
    pub cell_w: u32,
    pub cell_h: u32,
    /// Sequencer dot clock / 2: each dot shown twice.
    pub dot_double: bool,
    /// CRTC double scan: each scan line shown twice.
    pub line_double: bool,
}

impl TextGeometry {
    pub fn width(&self) -> u32 {
        (self.cols * self.cell_w) << self.dot_double as u32
    }
    pub fn height(&self) -> u32 {
        (self.rows * self.cell_h) << self.line_double as u32
    }
}

impl Vga {
    pub(super) fn text_geometry(&self) -> Option<TextGeometry> {
        let cell_h = (self.cr[9] & 0x1F) as u32 + 1;
        let line_double = self.cr[9] & 0x80 != 0;
        let cell_w = if self.sr[1] & 1 != 0 { 8 } else { 9 };
        let dot_double = self.sr[1] & 0x08 != 0;
        let mut cols = self.cr[1] as u32 + 1;
        let lines = self.vdisp_lines() >> line_double as u32;
        let mut rows = lines / cell_h;
        // Keep the picture within the supported size.
        let max_cols = MAX_WIDTH / (cell_w << dot_double as u32);
        let max_rows = MAX_HEIGHT / (cell_h << line_double as u32);
        cols = cols.min(max_cols);
        rows = rows.min(max_rows);
        if cols == 0 || rows == 0 {
            return None;
        }
        Some(TextGeometry {
            cols,
            rows,
            cell_w,
            cell_h,
            dot_double,
            line_double,
        })
    }

    /// CRTC memory address of the first character of text row `row`, applying line compare
    /// (the split screen restarts at address 0).
    fn text_row_address(&self, row: u32, cell_h: u32) -> u32 {
        let start = ((self.cr[0x0C] as u32) << 8) | self.cr[0x0D] as u32;
        let stride = self.cr[0x13] as u32 * 2;
        let lc = self.line_compare();
        let split_row = (lc + 1).div_ceil(cell_h);
        if lc < 0x3FF && row >= split_row && split_row > 0 {
            (row - split_row) * stride
        } else {
            start + row * stride
        }
    }

    /// Character and attribute at a CRTC memory address.
    fn text_cell(&self, ma: u32) -> (u8, u8) {
        let i = ((ma & 0xFFFF) as usize) * 4;
        (self.vram[i], self.vram[i + 1])
    }

    /// The visible text rows in a text mode (None in graphics/VBE modes), characters mapped
    /// from code page 437 to Unicode, trailing blanks removed.
    pub fn text_snapshot(&self) -> Option<Vec<String>> {
        if !self.is_text_mode() {
            return None;
        }
        let g = self.text_geometry()?;
        let mut rows = Vec::with_capacity(g.rows as usize);
        for row in 0..g.rows {
            let base = self.text_row_address(row, g.cell_h);
            let mut s = String::with_capacity(g.cols as usize);
            for col in 0..g.cols {
                s.push(cp437(self.text_cell(base + col).0));
            }
            let trimmed = s.trim_end_matches(' ').len();
            s.truncate(trimmed);
            rows.push(s);
        }
        Some(rows)
    }

    /// Text cursor as (column, row) when in a text mode with the cursor enabled and on screen.
    pub fn cursor_position(&self) -> Option<(u32, u32)> {
        if !self.is_text_mode() || self.cr[0x0A] & 0x20 != 0 {
            return None;
        }
        let g = self.text_geometry()?;
        let cursor = ((self.cr[0x0E] as u32) << 8) | self.cr[0x0F] as u32;
        (0..g.rows).find_map(|row| {
            let base = self.text_row_address(row, g.cell_h);
            let col = cursor.wrapping_sub(base);
            (col < g.cols).then_some((col, row))
        })
    }

    /// The 16 attribute palette entries as RGB (through the colour plane enable, the palette
    /// registers, colour select and the DAC).
    pub(super) fn attr_palette(&self) -> [u32; 16] {
        let mut out = [0; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.dac_rgb(self.attr_to_dac(i as u8));
        }
        out
    }

    /// DAC index for a 4-bit pixel value after the attribute controller.
    pub(super) fn attr_to_dac(&self, pixel: u8) -> u8 {
        let v = self.ar[(pixel & self.ar[0x12] & 0x0F) as usize];
        let cs = self.ar[0x14];
        let idx = if self.ar[0x10] & 0x80 != 0 {
            ((cs & 0x0F) << 4) | (v & 0x0F)
        } else {
            ((cs & 0x0C) << 4) | (v & 0x3F)
        };
        idx & self.dac_mask
    }

    /// Plane-2 byte offsets of character maps A and B (sequencer register 3).
    fn font_bases(&self) -> [usize; 2] {
        let v = self.sr[3] as usize;
        let a = ((v >> 2) & 3) * 0x4000 + ((v >> 5) & 1) * 0x2000;
        let b = (v & 3) * 0x4000 + ((v >> 4) & 1) * 0x2000;
        [a, b]
    }

    pub(super) fn render_text(&self, g: &TextGeometry, out: &mut [u32], width: usize) {
        let pal = self.attr_palette();
        let fonts = self.font_bases();
        let blink_enabled = self.ar[0x10] & 0x08 != 0;
        let line_graphics = self.ar[0x10] & 0x04 != 0;
        let blink_on = (self.now / BLINK_PHASE_NS) & 1 == 0;
        let cursor_on = (self.now / CURSOR_PHASE_NS) & 1 == 0;
        let cursor_ma = ((self.cr[0x0E] as u32) << 8) | self.cr[0x0F] as u32;
        let cur_start = (self.cr[0x0A] & 0x1F) as u32;
        let cur_end = (self.cr[0x0B] & 0x1F) as u32;
        let cursor_shown = cursor_on && self.cr[0x0A] & 0x20 == 0 && cur_start <= cur_end;
        let underline_line = (self.cr[0x14] & 0x1F) as u32;
        let dd = g.dot_double as usize;
        let cell_px = (g.cell_w as usize) << dd;

        let height = g.height() as usize;
        for y in 0..height {
            let ly = (y >> g.line_double as usize) as u32;
            let row = ly / g.cell_h;
            let line = ly % g.cell_h;
            let base = self.text_row_address(row, g.cell_h);
            let dst = &mut out[y * width..(y + 1) * width];
            for col in 0..g.cols {
                let ma = base + col;
                let (ch, attr) = self.text_cell(ma);
                let mut fg = pal[(attr & 0x0F) as usize];
                let bg = if blink_enabled {
                    let bg = pal[((attr >> 4) & 7) as usize];
                    if attr & 0x80 != 0 && !blink_on {
                        fg = bg;
                    }
                    bg
                } else {
                    pal[(attr >> 4) as usize]
                };
                let font = fonts[if attr & 0x08 != 0 { 0 } else { 1 }];
                let glyph_off = font + ch as usize * 32 + line as usize;
                let mut bits = self.vram[(glyph_off & 0xFFFF) * 4 + 2] as u32;
                if line == underline_line && attr & 0x77 == 0x01 {
                    bits = 0xFF;
                }
                let mut ninth =
                    g.cell_w == 9 && line_graphics && (0xC0..=0xDF).contains(&ch) && bits & 1 != 0;
                if cursor_shown && ma == cursor_ma && line >= cur_start && line <= cur_end {
                    bits = 0xFF;
                    ninth = true;
                }
                let x0 = col as usize * cell_px;
                let cell = &mut dst[x0..x0 + cell_px];
                for (dot, px) in cell.chunks_mut(1 << dd).enumerate() {
                    let on = if dot < 8 {
                        bits & (0x80 >> dot) != 0
                    } else {
                        ninth
                    };
                    px.fill(if on { fg } else { bg });
                }
            }
        }
    }
}

/// Code page 437 to Unicode (control range shown as the glyphs the VGA font draws).
fn cp437(b: u8) -> char {
    const LOW: [char; 32] = [
        ' ', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼', '►', '◄',
        '↕', '‼', '¶', '§', '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼',
    ];
    const HIGH: [char; 128] = [
        'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ',
        'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú',
        'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡',
        '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', '└', '┴', '┬', '├', '─', '┼', '╞', '╟',
        '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘',
        '┌', '█', '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ',
        '∞', 'φ', 'ε', '∩', '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²',
        '■', ' ',
    ];
    match b {
        0x00..=0x1F => LOW[b as usize],
        0x7F => '⌂',
        0x20..=0x7E => b as char,
        _ => HIGH[(b - 0x80) as usize],
    }
}
