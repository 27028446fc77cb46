//! VGA / DISPI unit tests, driven through the port and memory interfaces the way SeaBIOS's
//! VGA BIOS drives them (register tables from SeaBIOS's stdvgamodes.c).

use super::*;
use crate::{IrqLines, Nanos};

struct Bus {
    vga: Vga,
    irq: IrqLines,
    now: Nanos,
}

impl Bus {
    fn new() -> Self {
        Bus {
            vga: Vga::new(),
            irq: IrqLines::default(),
            now: 0,
        }
    }
    fn out8(&mut self, port: u16, v: u8) {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.irq,
        };
        self.vga.io_write(port, 1, v as u32, &mut ctx);
    }
    fn out16(&mut self, port: u16, v: u16) {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.irq,
        };
        self.vga.io_write(port, 2, v as u32, &mut ctx);
    }
    fn in8(&mut self, port: u16) -> u8 {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.irq,
        };
        self.vga.io_read(port, 1, &mut ctx) as u8
    }
    fn in16(&mut self, port: u16) -> u16 {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.irq,
        };
        self.vga.io_read(port, 2, &mut ctx) as u16
    }
    fn dispi_write(&mut self, index: u16, v: u16) {
        self.out16(0x1CE, index);
        self.out16(0x1CF, v);
    }
    fn dispi_read(&mut self, index: u16) -> u16 {
        self.out16(0x1CE, index);
        self.in16(0x1CF)
    }
    fn dac_set(&mut self, index: u8, rgb: [u8; 3]) {
        self.out8(0x3C8, index);
        for c in rgb {
            self.out8(0x3C9, c);
        }
    }
    fn gr(&mut self, i: u8, v: u8) {
        self.out16(0x3CE, (v as u16) << 8 | i as u16);
    }
    fn sr(&mut self, i: u8, v: u8) {
        self.out16(0x3C4, (v as u16) << 8 | i as u16);
    }
    fn cr(&mut self, i: u8, v: u8) {
        self.out8(0x3D4, i);
        self.out8(0x3D5, v);
    }
    fn render(&mut self) -> (Vec<u32>, u32, u32) {
        let mut out = Vec::new();
        let (w, h) = self.vga.render(&mut out);
        assert_eq!(out.len(), (w * h) as usize);
        (out, w, h)
    }
}

struct Mode {
    sequ: [u8; 4],
    misc: u8,
    crtc: [u8; 25],
    actl: [u8; 20],
    grdc: [u8; 9],
}

const MODE_03: Mode = Mode {
    sequ: [0x00, 0x03, 0x00, 0x02],
    misc: 0x67,
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00,
        0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
    ],
    actl: [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e,
        0x3f, 0x0c, 0x00, 0x0f, 0x08,
    ],
    grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x0f, 0xff],
};

const MODE_12: Mode = Mode {
    sequ: [0x01, 0x0f, 0x00, 0x06],
    misc: 0xe3,
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff,
    ],
    actl: [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e,
        0x3f, 0x01, 0x00, 0x0f, 0x00,
    ],
    grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff],
};

const MODE_13: Mode = Mode {
    sequ: [0x01, 0x0f, 0x00, 0x0e],
    misc: 0x63,
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff,
    ],
    actl: [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f, 0x41, 0x00, 0x0f, 0x00,
    ],
    grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff],
};

const MODE_04: Mode = Mode {
    sequ: [0x09, 0x03, 0x00, 0x02],
    misc: 0x63,
    crtc: [
        0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x9c, 0x8e, 0x8f, 0x14, 0x00, 0x96, 0xb9, 0xa2, 0xff,
    ],
    actl: [
        0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
        0x17, 0x01, 0x00, 0x03, 0x00,
    ],
    grdc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0f, 0x0f, 0xff],
};

/// The register sequence of SeaBIOS's stdvga_setup + stdvga_set_mode (palette aside).
fn set_mode(b: &mut Bus, m: &Mode) {
    b.out8(0x3C2, 0xC3);
    for (i, &v) in m.actl.iter().enumerate() {
        b.in8(0x3DA);
        b.out8(0x3C0, i as u8);
        b.out8(0x3C0, v);
    }
    b.in8(0x3DA);
    b.out8(0x3C0, 0x14);
    b.out8(0x3C0, 0x00);
    b.sr(0, 0x03);
    for (i, &v) in m.sequ.iter().enumerate() {
        b.sr(i as u8 + 1, v);
    }
    for (i, &v) in m.grdc.iter().enumerate() {
        b.gr(i as u8, v);
    }
    b.cr(0x11, 0x00);
    for (i, &v) in m.crtc.iter().enumerate() {
        b.cr(i as u8, v);
    }
    b.out8(0x3C2, m.misc);
    b.in8(0x3DA);
    b.out8(0x3C0, 0x20);
}

/// SeaBIOS's get_font_access / release_font_access around writing glyphs into plane 2.
fn load_glyph(b: &mut Bus, ch: u8, rows: &[u8]) {
    for w in [0x0100, 0x0402, 0x0704, 0x0300] {
        b.out16(0x3C4, w);
    }
    for w in [0x0204, 0x0005, 0x0406] {
        b.out16(0x3CE, w);
    }
    for (i, &r) in rows.iter().enumerate() {
        b.vga
            .mem_write(0xA0000 + ch as u32 * 32 + i as u32, 1, r as u32);
    }
    for w in [0x0100, 0x0302, 0x0304, 0x0300] {
        b.out16(0x3C4, w);
    }
    for w in [0x0004, 0x1005, 0x0E06] {
        b.out16(0x3CE, w);
    }
}

const GLYPH_A: [u8; 16] = [
    0x00, 0x00, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe, 0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00,
];

fn text_setup() -> Bus {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_03);
    b.dac_set(0x00, [0, 0, 0]);
    b.dac_set(0x01, [0, 0, 0x2a]);
    b.dac_set(0x07, [0x2a, 0x2a, 0x2a]);
    b.dac_set(0x3F, [0x3f, 0x3f, 0x3f]);
    load_glyph(&mut b, b'A', &GLYPH_A);
    load_glyph(
        &mut b,
        0xC4,
        &[0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    b.cr(0x0A, 0x20); // cursor off unless a test turns it on
    b
}

const WHITE: u32 = 0xFFFFFF;
const BLUE: u32 = 0x0000AA;

#[test]
fn text_mode_snapshot_and_pixels() {
    let mut b = text_setup();
    // 'A' white on blue at row 0, column 0; "Hi" at row 1.
    b.vga.mem_write(0xB8000, 2, 0x1F41);
    b.vga.mem_write(0xB8000 + 160, 1, b'H' as u32);
    b.vga.mem_write(0xB8000 + 162, 1, b'i' as u32);
    b.vga.mem_write(0xB8000 + 4, 2, 0x07C4); // line-drawing character at column 2
    assert_eq!(b.vga.mem_read(0xB8000, 2), 0x1F41);
    let rows = b.vga.text_snapshot().expect("text mode");
    assert_eq!(rows.len(), 25);
    assert_eq!(rows[0], "A ─");
    assert_eq!(rows[1], "Hi");
    assert_eq!(rows[2], "");

    let (px, w, h) = b.render();
    assert_eq!((w, h), (720, 400));
    let at = |x: u32, y: u32| px[(y * w + x) as usize];
    // Line 2 of 'A' is 0x10: dot 3 set.
    assert_eq!(at(3, 2), WHITE);
    assert_eq!(at(2, 2), BLUE);
    assert_eq!(at(0, 0), BLUE);
    // Line 7 is 0xfe: dots 0-6 set, dot 7 clear; the 9th column of 'A' is background.
    assert_eq!(at(0, 7), WHITE);
    assert_eq!(at(7, 7), BLUE);
    assert_eq!(at(8, 7), BLUE);
    // 0xC4 duplicates its 8th dot into the 9th (line graphics enable), so column 2's cell
    // joins column 3's; grey on black.
    let grey = 0xAAAAAA;
    assert_eq!(at(18 + 7, 7), grey);
    assert_eq!(at(18 + 8, 7), grey);
    assert_eq!(at(18 + 8, 6), 0);
}

#[test]
fn text_cursor_and_blink() {
    let mut b = text_setup();
    // Blinking 'A': white on blue, attribute bit 7 set (blink enabled by mode 3).
    b.vga.mem_write(0xB8000, 2, 0x9F41);
    // Cursor at column 1 of row 0, scan lines 14-15.
    b.cr(0x0E, 0);
    b.cr(0x0F, 1);
    b.cr(0x0A, 14);
    b.cr(0x0B, 15);
    b.vga.mem_write(0xB8002, 2, 0x0720);
    b.vga.set_time(0);
    let (px, w, _) = b.render();
    let at = |px: &[u32], x: u32, y: u32| px[(y * w + x) as usize];
    assert_eq!(at(&px, 3, 2), WHITE, "blink phase on shows the glyph");
    assert_eq!(
        at(&px, 9 + 4, 14),
        0xAAAAAA,
        "cursor drawn in the foreground colour"
    );
    assert_eq!(
        at(&px, 9 + 4, 13),
        0,
        "above the cursor lines is background"
    );

    let g0 = b.vga.generation();
    b.vga.set_time(text::CURSOR_PHASE_NS * 2 + 1); // blink phase off, cursor phase on
    assert_ne!(b.vga.generation(), g0, "blink phase changes the generation");
    let (px, _, _) = b.render();
    assert_eq!(at(&px, 3, 2), BLUE, "blinking character hidden");
    assert_eq!(at(&px, 9 + 4, 14), 0xAAAAAA);
    b.vga.set_time(text::CURSOR_PHASE_NS * 3 + 1); // cursor phase off
    let (px, _, _) = b.render();
    assert_eq!(at(&px, 9 + 4, 14), 0, "cursor blinked off");
}

#[test]
fn mode13_chain4_write_read_render() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_13);
    b.dac_set(5, [0x3f, 0, 0]);
    b.dac_set(6, [0, 0x3f, 0x10]);
    let a = 0xA0000 + 320 * 10 + 20;
    b.vga.mem_write(a, 1, 5);
    b.vga.mem_write(a + 1, 2, 0x0605);
    assert_eq!(b.vga.mem_read(a, 1), 5);
    assert_eq!(b.vga.mem_read(a + 1, 2), 0x0605);
    assert_eq!(b.vga.text_snapshot(), None);
    let (px, w, h) = b.render();
    assert_eq!((w, h), (640, 400));
    let at = |x: u32, y: u32| px[(y * w + x) as usize];
    // Each pixel is 2x2.
    for (x, y) in [(40, 20), (41, 20), (40, 21), (41, 21), (42, 20)] {
        assert_eq!(at(x, y), 0xFF0000, "({x},{y})");
    }
    assert_eq!(at(44, 21), 0x00FF41);
    assert_eq!(at(39, 20), 0);
    assert_eq!(at(40, 22), 0);
}

#[test]
fn planar_write_modes_and_color_compare() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_12);
    b.dac_set(0x3C, [0x3f, 0x15, 0x15]); // attribute 12 -> DAC 0x3C
    b.dac_set(0x01, [0, 0, 0x2a]);
    // Write mode 2, bit mask 0x80: pixel 0 gets colour 12.
    b.gr(5, 0x02);
    b.gr(8, 0x80);
    b.vga.mem_read(0xA0000, 1); // load latches
    b.vga.mem_write(0xA0000, 1, 0x0C);
    // Write mode 0 with set/reset: colour 1 into pixels 4-7 via bit mask.
    b.gr(5, 0x00);
    b.gr(0, 0x01);
    b.gr(1, 0x0F);
    b.gr(8, 0x0F);
    b.vga.mem_read(0xA0000, 1);
    b.vga.mem_write(0xA0000, 1, 0xFF);
    b.gr(1, 0x00);
    b.gr(8, 0xFF);
    // Read mode 0 returns planes.
    b.gr(4, 2);
    assert_eq!(b.vga.mem_read(0xA0000, 1), 0x80);
    b.gr(4, 0);
    assert_eq!(b.vga.mem_read(0xA0000, 1), 0x0F);
    // Read mode 1: compare with colour 12 -> only pixel 0 matches.
    b.gr(5, 0x08);
    b.gr(2, 0x0C);
    b.gr(7, 0x0F);
    assert_eq!(b.vga.mem_read(0xA0000, 1), 0x80);
    b.gr(2, 0x01);
    assert_eq!(b.vga.mem_read(0xA0000, 1), 0x0F);
    b.gr(7, 0x00); // all "don't care": every pixel matches
    assert_eq!(b.vga.mem_read(0xA0000, 1), 0xFF);
    b.gr(5, 0x00);
    // Write mode 1 copies latches: duplicate byte 0 to byte 1.
    b.gr(5, 0x01);
    b.vga.mem_read(0xA0000, 1);
    b.vga.mem_write(0xA0001, 1, 0);
    b.gr(5, 0x00);
    // XOR logical op on plane 3 only via map mask.
    b.sr(2, 0x08);
    b.gr(3, 0x18);
    b.vga.mem_read(0xA0000 + 80, 1);
    b.vga.mem_write(0xA0000 + 80, 1, 0x01);
    b.gr(3, 0x00);
    b.sr(2, 0x0F);

    let (px, w, h) = b.render();
    assert_eq!((w, h), (640, 480));
    let at = |x: u32, y: u32| px[(y * w + x) as usize];
    assert_eq!(at(0, 0), 0xFF5555);
    assert_eq!(at(1, 0), 0);
    assert_eq!(at(4, 0), 0x0000AA);
    assert_eq!(at(8, 0), 0xFF5555, "write mode 1 copied the latches");
    assert_eq!(at(12, 0), 0x0000AA);
    // Pixel 7 of line 1 is colour 8 (plane 3): attribute 8 -> DAC 0x38 (black here).
    b.gr(4, 3);
    assert_eq!(b.vga.mem_read(0xA0000 + 80, 1), 0x01);
}

#[test]
fn mode_x_unchained() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_13);
    // Unchain: memory mode 0x06, no double-word, byte mode.
    b.sr(4, 0x06);
    b.cr(0x14, 0x00);
    b.cr(0x17, 0xE3);
    b.dac_set(9, [0x3f, 0x3f, 0]);
    b.dac_set(3, [0, 0, 0x3f]);
    // Clear all planes, then plot pixel (x=6, y=2) with colour 9.
    b.sr(2, 0x0F);
    for i in 0..80 * 4 {
        b.vga.mem_write(0xA0000 + i, 1, 0);
    }
    let (x, y) = (6u32, 2u32);
    b.sr(2, 1 << (x & 3));
    b.vga.mem_write(0xA0000 + y * 80 + x / 4, 1, 9);
    // Four pixels at once with all planes enabled.
    b.sr(2, 0x0F);
    b.vga.mem_write(0xA0000 + 5, 1, 3);
    // Read back through read map select.
    b.gr(4, x as u8 & 3);
    assert_eq!(b.vga.mem_read(0xA0000 + y * 80 + x / 4, 1), 9);
    let (px, w, _) = b.render();
    let at = |x: u32, y: u32| px[(y * w + x) as usize];
    // Pixel (6,2): 2x2 dots at (12,4).
    assert_eq!(at(12, 4), 0xFFFF00);
    assert_eq!(at(13, 5), 0xFFFF00);
    assert_eq!(at(10, 4), 0);
    for px_x in 20..24 {
        assert_eq!(at(px_x * 2, 0), 0x0000FF, "pixel {px_x}");
    }
    assert_eq!(at(24 * 2, 0), 0);
}

#[test]
fn cga_mode4_interleave_and_banks() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_04);
    b.dac_set(0x13, [0, 0x2a, 0x2a]);
    b.dac_set(0x17, [0x2a, 0x2a, 0x2a]);
    // Row 0: pixel 0 = colour 3, pixel 1 = colour 1; row 1 (odd bank): pixel 0 = 3.
    b.vga.mem_write(0xB8000, 1, 0b1101_0000);
    b.vga.mem_write(0xBA000, 1, 0b1100_0000);
    let (px, w, h) = b.render();
    assert_eq!((w, h), (640, 400));
    let at = |x: u32, y: u32| px[(y * w + x) as usize];
    assert_eq!(at(0, 0), 0xAAAAAA);
    assert_eq!(at(1, 1), 0xAAAAAA);
    assert_eq!(at(2, 0), 0x00AAAA);
    assert_eq!(at(4, 0), 0);
    assert_eq!(at(0, 2), 0xAAAAAA, "odd CGA line from the 0x2000 bank");
    assert_eq!(at(2, 2), 0);
    assert_eq!(at(0, 4), 0);
}

#[test]
fn dispi_800x600x32_lfb() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_03);
    b.dispi_write(0, 0xB0C0);
    assert_eq!(b.dispi_read(0), 0xB0C0);
    b.dispi_write(0, 0xB0C5);
    assert_eq!(b.dispi_read(0), 0xB0C5);
    b.dispi_write(0, 0x1234); // not an ID: ignored
    assert_eq!(b.dispi_read(0), 0xB0C5);
    assert_eq!(b.dispi_read(0x0A), 256, "16 MiB in 64 KiB units");
    b.dispi_write(4, 0x02); // GETCAPS
    assert_eq!(b.dispi_read(1), VBE_DISPI_MAX_XRES);
    assert_eq!(b.dispi_read(2), VBE_DISPI_MAX_YRES);
    assert_eq!(b.dispi_read(3), 32);
    b.dispi_write(4, 0);

    b.dispi_write(3, 32);
    b.dispi_write(1, 800);
    b.dispi_write(2, 600);
    b.dispi_write(5, 0);
    b.dispi_write(4, 0x41);
    assert_eq!(b.vga.vbe_mode(), Some((800, 600, 32, true)));
    assert_eq!(b.dispi_read(6), 800, "virtual width follows xres");
    assert_eq!(b.dispi_read(7) as usize, VRAM_SIZE / 3200);
    assert_eq!(b.vga.text_snapshot(), None);
    b.out8(0x3C0, 0x20);

    let (x, y) = (123u32, 456u32);
    b.vga.lfb_write((y * 800 + x) * 4, 4, 0x00FF8040);
    assert_eq!(b.vga.lfb_read((y * 800 + x) * 4, 4), 0x00FF8040);
    // Banked window: bank 1 shows LFB offset 0x10000.
    b.dispi_write(5, 1);
    assert_eq!(b.dispi_read(5), 1);
    b.vga.mem_write(0xA0000, 4, 0x0011_2233);
    assert_eq!(b.vga.lfb_read(0x10000, 4), 0x0011_2233);
    assert_eq!(b.vga.mem_read(0xA0000, 4), 0x0011_2233);

    let g = b.vga.generation();
    let (px, w, h) = b.render();
    assert_eq!((w, h), (800, 600));
    assert_eq!(px[(y * 800 + x) as usize], 0xFF8040);
    assert_eq!(px[0x10000 / 4], 0x112233);
    assert_eq!(px[0], 0);
    b.vga.lfb_write(0, 1, 1);
    assert_ne!(b.vga.generation(), g);

    // Panning via the Y offset.
    b.dispi_write(9, 1);
    let (px, _, _) = b.render();
    assert_eq!(px[((y - 1) * 800 + x) as usize], 0xFF8040);

    // Disabling hands the display back to the VGA registers (the BIOS then sets a mode).
    b.dispi_write(4, 0);
    assert_eq!(b.vga.vbe_mode(), None);
    set_mode(&mut b, &MODE_03);
    assert!(b.vga.is_text_mode());
}

#[test]
fn dispi_other_depths_and_clamping() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_03);
    b.dac_set(7, [0x3f, 0, 0x3f]);
    for (bpp, bytes) in [(8u16, 1u32), (15, 2), (16, 2), (24, 3)] {
        b.dispi_write(4, 0);
        b.dispi_write(3, bpp);
        b.dispi_write(1, 64);
        b.dispi_write(2, 48);
        b.dispi_write(4, 0x41);
        let value = match bpp {
            8 => 7,
            15 => 0x7C00,
            16 => 0x07E0,
            _ => 0x0000FF,
        };
        for k in 0..bytes {
            b.vga.lfb_write(bytes * 3 + k, 1, (value >> (8 * k)) & 0xFF);
        }
        let (px, w, h) = b.render();
        assert_eq!((w, h), (64, 48));
        let want = match bpp {
            8 => 0xFF00FF,
            15 => 0xFF0000,
            16 => 0x00FF00,
            _ => 0x0000FF,
        };
        assert_eq!(px[3], want, "bpp {bpp}");
    }
    // Hostile values are clamped, never a panic.
    b.dispi_write(4, 0);
    b.dispi_write(3, 13);
    b.dispi_write(1, 0xFFFF);
    b.dispi_write(2, 0xFFFF);
    b.dispi_write(4, 0x41);
    assert_eq!(b.vga.vbe_mode(), Some((2560, 1600, 8, true)));
    b.dispi_write(3, 32);
    assert_eq!(b.vga.vbe_mode(), Some((2560, 1600, 32, true)));
    b.dispi_write(9, 0xFFFF);
    b.dispi_write(8, 0xFFFF);
    b.dispi_write(5, 0xFFFF);
    assert_eq!(b.dispi_read(5), 255);
    let (_, w, h) = b.render();
    assert_eq!((w, h), (2560, 1600));
}

#[test]
fn retrace_follows_virtual_time() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_03);
    let mut saw = [false; 4];
    // Sample 1.5 frames at 10 us steps.
    for step in 0..2100u64 {
        b.now = 1_000_000 + step * 10_000;
        let s = b.in8(0x3DA);
        saw[(s >> 3 & 1) as usize] = true;
        saw[2 + (s & 1) as usize] = true;
    }
    assert_eq!(
        saw, [true; 4],
        "vertical retrace and display enable both toggle"
    );
    // About one retrace per ~14.3 ms frame: count rising edges over 100 ms.
    let mut edges = 0;
    let mut prev = false;
    for step in 0..10_000u64 {
        b.now = 50_000_000 + step * 10_000;
        let vr = b.in8(0x3DA) & 8 != 0;
        if vr && !prev {
            edges += 1;
        }
        prev = vr;
    }
    assert!((6..=8).contains(&edges), "{edges} retraces in 100 ms");
    // A poll loop that sees a frozen clock still ends.
    b.now = 123_456_789;
    let mut n = 0;
    while b.in8(0x3DA) & 8 == 0 {
        n += 1;
        assert!(n < 100_000, "retrace poll never ended");
    }
    // Mono status port is dead in colour mode.
    assert_eq!(b.in8(0x3BA), 0xFF);
}

#[test]
fn register_access_details() {
    let mut b = Bus::new();
    set_mode(&mut b, &MODE_03);
    // Word write to index/data pairs; readback.
    b.out16(0x3CE, 0x0A08);
    b.out8(0x3CE, 8);
    assert_eq!(b.in8(0x3CF), 0x0A);
    assert_eq!(b.in16(0x3C4) & 0xFF, b.in8(0x3C4) as u16);
    // CRTC write protection of CR0-7 (except CR7 bit 4).
    b.cr(0x11, 0x80 | 0x0e);
    b.cr(0x01, 0x11);
    b.cr(0x07, 0x00);
    b.out8(0x3D4, 0x01);
    assert_eq!(b.in8(0x3D5), 0x4f);
    b.out8(0x3D4, 0x07);
    assert_eq!(b.in8(0x3D5), 0x0f);
    b.cr(0x11, 0x0e);
    // Attribute flip-flop: reading status 1 resets to index state.
    b.in8(0x3DA);
    b.out8(0x3C0, 0x31); // index 0x11 with PAS
    b.out8(0x3C0, 0x2A);
    assert_eq!(b.in8(0x3C1), 0x2A);
    b.out8(0x3C0, 0x05); // data state: this is data for 0x11, not an index
    assert_eq!(b.in8(0x3C1), 0x05);
    b.in8(0x3DA);
    b.out8(0x3C0, 0x20);
    assert_eq!(b.in8(0x3C0), 0x20);
    // DAC: 6-bit components, read index auto-increments after three reads.
    b.dac_set(10, [0x3f, 0xff, 0x01]);
    b.dac_set(11, [1, 2, 3]);
    b.out8(0x3C7, 10);
    assert_eq!(b.in8(0x3C7), 3);
    let got: Vec<u8> = (0..6).map(|_| b.in8(0x3C9)).collect();
    assert_eq!(got, [0x3f, 0x3f, 0x01, 1, 2, 3]);
    b.out8(0x3C8, 4);
    assert_eq!(b.in8(0x3C7), 0);
    assert_eq!(b.in8(0x3C8), 4);
    // Misc output read back at 0x3CC; mono ports disabled in colour mode.
    assert_eq!(b.in8(0x3CC), 0x67);
    b.out8(0x3B4, 0x0E);
    assert_eq!(b.in8(0x3D4), 0x11, "0x3B4 write ignored in colour mode");
    // Memory map 3 (B8000): A0000 reads as all ones.
    assert_eq!(b.vga.mem_read(0xA0000, 2), 0xFFFF);
    assert_eq!(b.vga.mem_read(0xC0000, 1), 0xFF);
}

#[test]
fn hostile_input_never_panics() {
    let mut b = Bus::new();
    let mut seed = 0x1234_5678u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut out = Vec::new();
    for i in 0..60_000 {
        let r = rnd();
        match r % 8 {
            0..=3 => {
                let port = 0x3B0 + (rnd() % 0x30) as u16;
                b.out8(port, rnd() as u8);
            }
            4 => {
                let port = 0x1CE + (rnd() % 3) as u16;
                b.out16(
                    port,
                    rnd() as u16 & if rnd() % 2 == 0 { 0x0F } else { 0xFFFF },
                );
            }
            5 => {
                let port = 0x3B0 + (rnd() % 0x30) as u16;
                b.in8(port);
                b.in16(0x1CF);
            }
            6 => b.vga.mem_write(
                0xA0000 + rnd() % 0x20000,
                [1, 2, 4][(rnd() % 3) as usize],
                rnd(),
            ),
            _ => {
                b.vga.mem_read(0x9FFFF + rnd() % 0x20002, 4);
                b.vga.lfb_write(rnd(), 4, rnd());
                b.vga.lfb_read(rnd() % (VRAM_SIZE as u32 + 8), 4);
            }
        }
        if i % 3000 == 0 {
            b.now += 1_000_000;
            b.vga.set_time(b.now);
            let (w, h) = b.vga.render(&mut out);
            assert!(w <= MAX_WIDTH && h <= MAX_HEIGHT && out.len() == (w * h) as usize);
            b.vga.text_snapshot();
        }
    }
}

#[test]
fn pci_identity() {
    let c = pci::config_template();
    assert_eq!(u16::from_le_bytes([c[0], c[1]]), 0x1234);
    assert_eq!(u16::from_le_bytes([c[2], c[3]]), 0x1111);
    assert_eq!(&c[9..12], &[0x00, 0x00, 0x03]);
    assert_eq!(c[0x10] & 0x0F, 0x08);
    assert_eq!(pci::BAR0_SIZE as usize, VRAM_SIZE);
    assert_eq!(pci::rom_bar_size(38_912), 0x10000);
}
