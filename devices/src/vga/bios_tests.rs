//! SeaBIOS's VGA BIOS (`vgabios-stdvga.bin`, Debian package `seabios`, pulled in by
//! `qemu-system-x86`) run on this device under the reference interpreter: POST, INT 10h mode
//! sets (text, CGA, planar, 256-colour, VBE with and without the LFB), teletype output.
//! Skipped, with a note, when the ROM is not installed.

use super::Vga;
use crate::{all_ones, Ctx, IoDevice, IrqLines};
use ironbox_cpu::state::{attr, reg, SegReg, Segment};
use ironbox_cpu::{Cpu, CpuBus, CpuModel, StepEvent};

const ROM: &str = "/usr/share/seabios/vgabios-stdvga.bin";
const LFB: u32 = 0xE000_0000;

struct Board {
    ram: Vec<u8>,
    vga: Vga,
    irq: IrqLines,
    now: u64,
    debug: String,
}

impl CpuBus for Board {
    fn read8(&mut self, a: u32) -> u8 {
        match a {
            0xA0000..=0xBFFFF => self.vga.mem_read(a, 1) as u8,
            _ if a.wrapping_sub(LFB) < super::VRAM_SIZE as u32 => {
                self.vga.lfb_read(a - LFB, 1) as u8
            }
            _ => self.ram.get(a as usize).copied().unwrap_or(0xFF),
        }
    }
    fn write8(&mut self, a: u32, v: u8) {
        match a {
            0xA0000..=0xBFFFF => self.vga.mem_write(a, 1, v as u32),
            _ if a.wrapping_sub(LFB) < super::VRAM_SIZE as u32 => {
                self.vga.lfb_write(a - LFB, 1, v as u32)
            }
            _ => {
                if let Some(b) = self.ram.get_mut(a as usize) {
                    *b = v;
                }
            }
        }
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        match port {
            0x3B0..=0x3DF | 0x1CE..=0x1D0 => {
                let mut ctx = Ctx {
                    now: self.now,
                    irq: &mut self.irq,
                };
                self.vga.io_read(port, size, &mut ctx)
            }
            _ => all_ones(size),
        }
    }
    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        match port {
            0x3B0..=0x3DF | 0x1CE..=0x1D0 => {
                let mut ctx = Ctx {
                    now: self.now,
                    irq: &mut self.irq,
                };
                self.vga.io_write(port, size, value, &mut ctx)
            }
            0x402 | 0x403 => self.debug.push(value as u8 as char),
            _ => {}
        }
    }
}

struct Machine {
    cpu: Cpu,
    b: Board,
}

impl Machine {
    fn new(rom: &[u8]) -> Machine {
        let mut ram = vec![0u8; 1 << 20];
        ram[0xC0000..0xC0000 + rom.len()].copy_from_slice(rom);
        for v in 0..256 {
            ram[v * 4..v * 4 + 4].copy_from_slice(&[0x53, 0xFF, 0x00, 0xF0]); // F000:FF53
        }
        ram[0xFFF53] = 0xCF; // IRET
        ram[0x500] = 0xF4; // HLT: where far calls return
        ram[0x600..0x603].copy_from_slice(&[0xCD, 0x10, 0xCB]); // INT 10h; RETF
        ram[0x413..0x415].copy_from_slice(&639u16.to_le_bytes());
        ram[0x40E..0x410].copy_from_slice(&0x9FC0u16.to_le_bytes());
        let b = Board {
            ram,
            vga: Vga::new(),
            irq: IrqLines::default(),
            now: 0,
            debug: String::new(),
        };
        Machine {
            cpu: Cpu::new(CpuModel::Pentium2),
            b,
        }
    }

    /// Far call cs:ip with a return address pointing at HLT; run until halted.
    fn far_call(&mut self, cs: u16, ip: u16) {
        let s = &mut self.cpu.s;
        s.seg[SegReg::Ss as usize] = Segment::real(0);
        s.gpr[reg::ESP] = 0x7000 - 4;
        self.b.ram[0x6FFC..0x7000].copy_from_slice(&[0x00, 0x05, 0x00, 0x00]);
        s.seg[SegReg::Cs as usize] = Segment {
            selector: cs,
            attr: attr::REAL_CODE,
            base: (cs as u32) << 4,
            limit: 0xFFFF,
        };
        s.eip = ip as u32;
        s.halted = false;
        for _ in 0..50_000_000u64 {
            self.b.now = self.cpu.instret * 10;
            match self.cpu.step(&mut self.b) {
                StepEvent::Executed => {}
                StepEvent::Halted => return,
                StepEvent::Shutdown => panic!("triple fault"),
            }
        }
        panic!(
            "BIOS call did not return: {:x}:{:x}",
            self.cpu.s.seg[SegReg::Cs as usize].selector,
            self.cpu.s.eip
        );
    }

    /// INT 10h with AX, BX, CX, DX; ES:DI = 0000:8000. Returns AX.
    fn int10(&mut self, ax: u16, bx: u16, cx: u16, dx: u16) -> u16 {
        let s = &mut self.cpu.s;
        for (r, v) in [
            (reg::EAX, ax),
            (reg::EBX, bx),
            (reg::ECX, cx),
            (reg::EDX, dx),
            (reg::EDI, 0x8000),
        ] {
            s.gpr[r] = v as u32;
        }
        for sr in [SegReg::Es, SegReg::Ds] {
            s.seg[sr as usize] = Segment::real(0);
        }
        self.far_call(0, 0x600);
        self.cpu.s.gpr[reg::EAX] as u16
    }

    fn print(&mut self, text: &str, color: u16) {
        for ch in text.bytes() {
            self.int10(0x0E00 | ch as u16, color, 0, 0);
        }
    }

    fn render(&mut self) -> (Vec<u32>, u32, u32) {
        let mut out = Vec::new();
        let (w, h) = self.b.vga.render(&mut out);
        (out, w, h)
    }
}

#[test]
fn seabios_vgabios_runs() {
    let Ok(rom) = std::fs::read(ROM) else {
        eprintln!("note: {ROM} not installed (Debian package seabios); SeaVGABIOS test skipped");
        return;
    };
    let mut m = Machine::new(&rom);
    // Option ROM init: AX = PCI bus/devfn (none here, so the LFB is the DISPI default).
    m.cpu.s.gpr[reg::EAX] = 0xFFFF;
    m.far_call(0xC000, 0x0003);
    assert!(
        m.b.debug
            .contains("VBE DISPI: lfb_addr=e0000000, size 16 MB"),
        "{}",
        m.b.debug
    );

    // Text mode 3 and teletype output.
    m.int10(0x0003, 0, 0, 0);
    m.print("Hello from SeaVGABIOS\r\nline 2", 0x07);
    let rows = m.b.vga.text_snapshot().expect("text mode");
    assert_eq!(
        (rows.len(), rows[0].as_str(), rows[1].as_str()),
        (25, "Hello from SeaVGABIOS", "line 2")
    );
    assert_eq!(m.b.vga.cursor_position(), Some((6, 1)));
    let (px, w, h) = m.render();
    assert_eq!((w, h), (720, 400));
    // 'H' (BIOS 8x16 font) has lit pixels in its first cell, grey on black.
    assert!(px[..16 * 720].contains(&0xAAAAAA));

    // VBE controller info: "VESA", 256 x 64 KiB.
    assert_eq!(m.int10(0x4F00, 0, 0, 0), 0x004F);
    assert_eq!(&m.b.ram[0x8000..0x8004], b"VESA");
    assert_eq!(u16::from_le_bytes([m.b.ram[0x8012], m.b.ram[0x8013]]), 256);

    // 800x600x32 with the linear framebuffer.
    assert_eq!(m.int10(0x4F02, 0x4143, 0, 0), 0x004F);
    assert_eq!(m.b.vga.vbe_mode(), Some((800, 600, 32, true)));
    for x in 0..800u32 {
        m.b.write8(LFB + (300 * 800 + x) * 4 + 2, 0xFF);
    }
    let (px, w, h) = m.render();
    assert_eq!(
        (w, h, px[300 * 800 + 10], px[299 * 800 + 10]),
        (800, 600, 0xFF0000, 0)
    );

    // 1024x768x8 banked: bank 1 through the A0000 window is row 64.
    assert_eq!(m.int10(0x4F02, 0x0105, 0, 0), 0x004F);
    assert_eq!(m.int10(0x4F05, 0, 0, 1), 0x004F);
    for i in 0..1024 {
        m.b.write8(0xA0000 + i, 0x28); // packed palette entry 40: red
    }
    let (px, w, _) = m.render();
    assert_eq!(
        (px[64 * w as usize + 5], px[63 * w as usize + 5]),
        (0xFF0000, 0)
    );

    // 800x600x16 planar, pixels through INT 10h AH=0Ch.
    assert_eq!(m.int10(0x4F02, 0x0102, 0, 0), 0x004F);
    for x in 100..120 {
        m.int10(0x0C0C, 0, x, 500);
    }
    let (px, w, h) = m.render();
    assert_eq!(
        (w, h, px[500 * 800 + 110], px[499 * 800 + 110]),
        (800, 600, 0xFF5555, 0)
    );

    // Mode 13h.
    m.int10(0x0013, 0, 0, 0);
    assert_eq!(m.b.vga.text_snapshot(), None);
    m.int10(0x0C28, 0, 20, 50);
    let (px, w, h) = m.render();
    assert_eq!(
        (w, h, px[100 * 640 + 40], px[101 * 640 + 41]),
        (640, 400, 0xFF0000, 0xFF0000)
    );

    // Mode 12h and CGA mode 4 with BIOS text drawn into the bitmap.
    m.int10(0x0012, 0, 0, 0);
    m.print("Mode 12h", 0x0E);
    let (px, w, h) = m.render();
    assert_eq!((w, h), (640, 480));
    assert!(
        px[..16 * 640].contains(&0xFFFF55),
        "yellow text in mode 12h"
    );
    m.int10(0x0004, 0, 0, 0);
    m.print("CGA", 0x03);
    let (px, w, h) = m.render();
    assert_eq!((w, h), (640, 400));
    assert!(px[..16 * 640].contains(&0xFFFFFF), "white text in mode 4");

    // Back to text, then the 8x8 font: 50 rows.
    m.int10(0x0003, 0, 0, 0);
    m.print("Back in text", 0x07);
    m.int10(0x1112, 0, 0, 0);
    let rows = m.b.vga.text_snapshot().expect("text mode");
    assert_eq!((rows.len(), rows[0].as_str()), (50, "Back in text"));
}
