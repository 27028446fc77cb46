//! VGA with the Bochs VBE ("DISPI") extension: QEMU's `-vga std`, PCI function 1234:1111.
//!
//! References: IBM VGA XGA Technical Reference Manual; FreeVGA; QEMU `hw/display/vga.c`,
//! `vga_int.h` and `docs/specs/standard-vga.txt`; SeaBIOS `vgasrc/` (stdvga, bochsvga), whose
//! `vgabios-stdvga.bin` drives this device.
//!
//! Layout: 16 MiB of video RAM. The four VGA planes live interleaved at its start, the byte of
//! plane `p` at plane offset `o` being `vram[o * 4 + p]` (QEMU's layout). Chain-4 therefore makes
//! the 256-colour modes and the VBE modes linear in `vram`, which is also what the PCI BAR0
//! linear framebuffer shows. Plane offsets are "CRTC memory addresses" in every addressing mode
//! (byte, word and double-word), so the renderer never needs the word/dword rotations.
//!
//! Board wiring: [`IoDevice`] on [`IO_PORT_RANGES`]; [`Vga::mem_read`]/[`Vga::mem_write`] for
//! [`LEGACY_WINDOW`]; [`Vga::lfb_read`]/[`Vga::lfb_write`] for PCI BAR0 ([`pci`] has the
//! identity; the expansion ROM is SeaBIOS's `vgabios-stdvga.bin`). Display: [`Vga::set_time`],
//! [`Vga::generation`], [`Vga::render`] (0x00RRGGBB), [`Vga::text_snapshot`],
//! [`Vga::cursor_position`], [`Vga::vbe_mode`].
//!
//! Files: `regs.rs` (ports 0x3B0-0x3DF, retrace timing), `memory.rs` (the A0000-BFFFF window:
//! read/write modes, latches, chain-4, odd/even; the LFB), `text.rs` (text modes and
//! [`Vga::text_snapshot`]), `render.rs` (graphics and VBE modes), `vbe.rs` (DISPI registers).
//!
//! Known gaps: real chain-4 / odd-even address aliasing (CPU byte A of mode 13h lands at plane
//! offset A>>2 rather than A&!3, as in QEMU), the CRTC "count by 2/4" and "divide scan line
//! clock" bits, split-screen panning subtleties, text-mode pel panning and preset row scan,
//! the vertical retrace interrupt, the QEMU MMIO BAR2 (DISPI/VGA registers over MMIO) and EDID.

#[cfg(test)]
mod bios_tests;
mod memory;
mod regs;
mod render;
#[cfg(test)]
mod tests;
mod text;
mod vbe;

use crate::{all_ones, Ctx, IoDevice, Nanos};
use serde::{Deserialize, Deserializer, Serialize};

pub use vbe::{VBE_DISPI_MAX_BPP, VBE_DISPI_MAX_XRES, VBE_DISPI_MAX_YRES};

/// Total video memory (VGA planes + VBE framebuffer), the size of PCI BAR0.
pub const VRAM_SIZE: usize = 16 << 20;
const VRAM_MASK: usize = VRAM_SIZE - 1;
/// Bytes of the interleaved VGA plane area (4 planes x 64 KiB).
const VGA_PLANES_BYTES: usize = 4 << 16;

/// Largest picture [`Vga::render`] produces.
pub const MAX_WIDTH: u32 = 2560;
pub const MAX_HEIGHT: u32 = 1600;

/// I/O port ranges the machine registers for this device: the VGA block and the DISPI
/// index/data ports (0x1D0 is QEMU's second data port).
pub const IO_PORT_RANGES: [(u16, u16); 2] = [(0x3B0, 0x3DF), (0x1CE, 0x1D0)];
/// The legacy memory window (physical addresses) handled by [`Vga::mem_read`]/[`Vga::mem_write`].
pub const LEGACY_WINDOW: (u32, u32) = (0xA0000, 0xBFFFF);

/// PCI identity of QEMU's standard VGA function. The PCI bus is elsewhere; this is data.
pub mod pci {
    pub const VENDOR_ID: u16 = 0x1234;
    pub const DEVICE_ID: u16 = 0x1111;
    pub const REVISION: u8 = 0x02;
    /// Class 03 (display), subclass 00 (VGA-compatible), prog-if 00.
    pub const CLASS_CODE: u32 = 0x03_00_00;
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x1AF4;
    pub const SUBSYSTEM_ID: u16 = 0x1100;
    /// BAR0: 32-bit prefetchable memory, the linear framebuffer (all of VRAM).
    pub const BAR0_SIZE: u32 = super::VRAM_SIZE as u32;
    /// Low bits of BAR0: memory space, 32-bit, prefetchable.
    pub const BAR0_FLAGS: u32 = 0x8;
    /// Expansion ROM BAR size for an image of `len` bytes (power of two, at least 2 KiB).
    pub fn rom_bar_size(len: usize) -> u32 {
        (len.max(2048) as u32).next_power_of_two()
    }
    /// Type-0 configuration header as the function shows it at reset: identity, class,
    /// BAR0 flags (address 0), no interrupt pin, ROM BAR 0 (disabled).
    pub fn config_template() -> [u8; 256] {
        let mut c = [0u8; 256];
        c[0x00..0x02].copy_from_slice(&VENDOR_ID.to_le_bytes());
        c[0x02..0x04].copy_from_slice(&DEVICE_ID.to_le_bytes());
        c[0x08] = REVISION;
        c[0x09] = CLASS_CODE as u8;
        c[0x0A] = (CLASS_CODE >> 8) as u8;
        c[0x0B] = (CLASS_CODE >> 16) as u8;
        c[0x0E] = 0x00; // header type 0, single function
        c[0x10..0x14].copy_from_slice(&BAR0_FLAGS.to_le_bytes());
        c[0x2C..0x2E].copy_from_slice(&SUBSYSTEM_VENDOR_ID.to_le_bytes());
        c[0x2E..0x30].copy_from_slice(&SUBSYSTEM_ID.to_le_bytes());
        c
    }
}

fn de_vram<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let mut v = Vec::<u8>::deserialize(d)?;
    v.resize(VRAM_SIZE, 0);
    Ok(v)
}

fn de_palette<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let mut v = Vec::<u8>::deserialize(d)?;
    v.resize(768, 0);
    Ok(v)
}

/// The VGA + DISPI device. One instance answers the ports in [`IO_PORT_RANGES`], the legacy
/// window [`LEGACY_WINDOW`] and the PCI BAR0 framebuffer.
#[derive(Serialize, Deserialize)]
pub struct Vga {
    #[serde(deserialize_with = "de_vram")]
    vram: Vec<u8>,
    latch: [u8; 4],

    misc: u8,
    fcr: u8,
    sr_index: u8,
    sr: [u8; 8],
    gr_index: u8,
    gr: [u8; 16],
    cr_index: u8,
    cr: [u8; 0x19],
    ar_index: u8,
    ar_flip_flop: bool,
    ar: [u8; 0x15],

    dac_mask: u8,
    dac_read_index: u8,
    dac_write_index: u8,
    dac_sub_index: u8,
    dac_state: u8,
    dac_cache: [u8; 3],
    #[serde(deserialize_with = "de_palette")]
    palette: Vec<u8>,

    vbe: vbe::Vbe,

    /// Latest virtual time seen (I/O accesses, [`Vga::set_time`]).
    now: Nanos,
    /// Time added by status polls that saw a frozen clock, so that poll loops end anyway.
    status_skew: Nanos,
    last_status_now: Nanos,
    /// Text blink phase counter last reported through the generation.
    blink_epoch: u64,

    generation: u64,
    last_size: (u32, u32),
    /// Bit set of problems already logged (each is logged once).
    #[serde(skip)]
    logged: u32,
}

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    pub fn new() -> Self {
        let mut v = Vga {
            vram: vec![0; VRAM_SIZE],
            latch: [0; 4],
            misc: 0,
            fcr: 0,
            sr_index: 0,
            sr: [0; 8],
            gr_index: 0,
            gr: [0; 16],
            cr_index: 0,
            cr: [0; 0x19],
            ar_index: 0,
            ar_flip_flop: false,
            ar: [0; 0x15],
            dac_mask: 0xFF,
            dac_read_index: 0,
            dac_write_index: 0,
            dac_sub_index: 0,
            dac_state: 0,
            dac_cache: [0; 3],
            palette: vec![0; 768],
            vbe: vbe::Vbe::default(),
            now: 0,
            status_skew: 0,
            last_status_now: Nanos::MAX,
            blink_epoch: 0,
            generation: 1,
            last_size: (640, 480),
            logged: 0,
        };
        v.reset();
        v
    }

    /// Power-on / hard reset of the registers (video memory is kept, as on QEMU).
    pub fn reset(&mut self) {
        self.latch = [0; 4];
        self.misc = 0;
        self.fcr = 0;
        self.sr_index = 0;
        self.sr = [0; 8];
        self.gr_index = 0;
        self.gr = [0; 16];
        self.cr_index = 0;
        self.cr = [0; 0x19];
        self.ar_index = 0;
        self.ar_flip_flop = false;
        self.ar = [0; 0x15];
        self.dac_mask = 0xFF;
        self.dac_read_index = 0;
        self.dac_write_index = 0;
        self.dac_sub_index = 0;
        self.dac_state = 0;
        self.dac_cache = [0; 3];
        self.palette.iter_mut().for_each(|b| *b = 0);
        self.vbe = vbe::Vbe::default();
        self.generation += 1;
    }

    /// Increases whenever something that may change the picture changed (memory or register
    /// writes, text blink phases as time passes). A frontend renders only when it moved.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Force the next [`generation`](Self::generation) to differ (e.g. after writing VRAM
    /// through [`vram_mut`](Self::vram_mut)).
    pub fn mark_dirty(&mut self) {
        self.generation += 1;
    }

    /// Tell the device the current virtual time (for cursor / character blink). Call before
    /// [`render`](Self::render); I/O accesses also update it.
    pub fn set_time(&mut self, now: Nanos) {
        self.now = self.now.max(now);
        if self.is_text_mode() {
            let epoch = self.now / text::CURSOR_PHASE_NS;
            if epoch != self.blink_epoch {
                self.blink_epoch = epoch;
                self.generation += 1;
            }
        }
    }

    /// All of video memory (planes interleaved at the start, the VBE framebuffer linear).
    pub fn vram(&self) -> &[u8] {
        &self.vram
    }

    /// Mutable video memory for a machine that maps BAR0 directly; call
    /// [`mark_dirty`](Self::mark_dirty) after writing through it.
    pub fn vram_mut(&mut self) -> &mut [u8] {
        self.generation += 1;
        &mut self.vram
    }

    /// The DISPI mode when one is enabled: (xres, yres, bpp, linear framebuffer requested).
    pub fn vbe_mode(&self) -> Option<(u32, u32, u16, bool)> {
        self.vbe.enabled().then(|| {
            let lfb = self.vbe.regs[vbe::INDEX_ENABLE] & vbe::LFB_ENABLED != 0;
            (self.vbe.xres(), self.vbe.yres(), self.vbe.bpp(), lfb)
        })
    }

    /// True while the display shows a VGA text mode (not graphics, not a VBE mode).
    pub fn is_text_mode(&self) -> bool {
        !self.vbe.enabled() && self.gr[6] & 1 == 0
    }

    fn log_once(&mut self, bit: u32, msg: std::fmt::Arguments) {
        if self.logged & (1 << bit) == 0 {
            self.logged |= 1 << bit;
            tracing::warn!("vga: {msg}");
        }
    }

    fn byte_port_read(&mut self, port: u16, now: Nanos) -> u8 {
        match port {
            0x1CE..=0x1D0 => self.dispi_io_read(port) as u8,
            _ => self.read_port(port, now),
        }
    }
}

impl IoDevice for Vga {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32 {
        self.now = self.now.max(ctx.now);
        match port {
            0x1CE..=0x1D0 => match size {
                4 if port == 0x1CE => {
                    let lo = self.dispi_io_read(0x1CE);
                    let hi = self.dispi_io_read(0x1D0);
                    lo | (hi << 16)
                }
                _ => self.dispi_io_read(port) & all_ones(size.min(2)),
            },
            _ => {
                let n = match size {
                    1 | 2 | 4 => size as u16,
                    _ => return all_ones(size),
                };
                let mut v = 0u32;
                for i in 0..n {
                    let b = self.byte_port_read(port.wrapping_add(i), ctx.now);
                    v |= (b as u32) << (8 * i);
                }
                v
            }
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32, ctx: &mut Ctx) {
        self.now = self.now.max(ctx.now);
        self.generation += 1;
        match port {
            0x1CE..=0x1D0 => {
                if size == 4 && port == 0x1CE {
                    self.dispi_io_write(0x1CE, value & 0xFFFF);
                    self.dispi_io_write(0x1D0, value >> 16);
                } else {
                    self.dispi_io_write(port, value & all_ones(size.min(2)));
                }
            }
            _ => {
                let n = match size {
                    1 | 2 | 4 => size as u16,
                    _ => return,
                };
                for i in 0..n {
                    let p = port.wrapping_add(i);
                    let b = (value >> (8 * i)) as u8;
                    match p {
                        0x1CE..=0x1D0 => self.dispi_io_write(p, b as u32),
                        _ => self.write_port(p, b),
                    }
                }
            }
        }
    }
}
