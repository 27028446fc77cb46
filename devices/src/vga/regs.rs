//! VGA registers on ports 0x3B0-0x3DF: misc output, input status, sequencer, CRTC, graphics
//! controller, attribute controller, DAC, feature control; and the retrace timing that input
//! status 1 reports (derived from the CRTC timings and the virtual clock).

use super::Vga;
use crate::Nanos;

/// Writable bits of the sequencer registers (QEMU's `sr_mask`).
const SR_MASK: [u8; 8] = [0x03, 0x3D, 0x0F, 0x3F, 0x0E, 0x00, 0x00, 0xFF];
/// Writable bits of the graphics controller registers (QEMU's `gr_mask`).
const GR_MASK: [u8; 16] = [
    0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF, 0, 0, 0, 0, 0, 0, 0,
];

/// Input status 1 bits.
const ST01_DISP_DISABLED: u8 = 0x01;
const ST01_V_RETRACE: u8 = 0x08;

/// Virtual time a status read adds when the clock did not move since the previous one.
const FROZEN_POLL_STEP_NS: Nanos = 5_000;

/// Frame timing as the CRTC programs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Timing {
    pub frame_ns: u64,
    pub vtotal: u32,
    pub vdisp: u32,
    pub vrs: u32,
    pub vr_len: u32,
    /// Displayed fraction of a scan line, in 1/256.
    pub hdisp_256: u32,
}

/// 70 Hz, 449 lines: the timing of the 400-line modes.
const DEFAULT_TIMING: Timing = Timing {
    frame_ns: 14_268_000,
    vtotal: 449,
    vdisp: 400,
    vrs: 412,
    vr_len: 2,
    hdisp_256: 204,
};

impl Vga {
    /// In colour mode (misc bit 0) the 0x3Bx ports are dead, in mono mode the 0x3Dx ones.
    fn port_disabled(&self, port: u16) -> bool {
        if self.misc & 1 != 0 {
            (0x3B0..=0x3BF).contains(&port)
        } else {
            (0x3D0..=0x3DF).contains(&port)
        }
    }

    pub(super) fn read_port(&mut self, port: u16, now: Nanos) -> u8 {
        if self.port_disabled(port) {
            return 0xFF;
        }
        match port {
            0x3C0 => self.ar_index,
            0x3C1 => self
                .ar
                .get((self.ar_index & 0x1F) as usize)
                .copied()
                .unwrap_or(0),
            0x3C2 => 0x00, // input status 0: no retrace interrupt, switch sense 0
            0x3C3 => 0x01, // VGA enable
            0x3C4 => self.sr_index,
            0x3C5 => self.sr[(self.sr_index & 7) as usize],
            0x3C6 => self.dac_mask,
            0x3C7 => self.dac_state,
            0x3C8 => self.dac_write_index,
            0x3C9 => {
                let i = self.dac_read_index as usize * 3 + self.dac_sub_index as usize;
                let v = self.palette[i] & self.dac_component_mask();
                self.dac_sub_index += 1;
                if self.dac_sub_index == 3 {
                    self.dac_sub_index = 0;
                    self.dac_read_index = self.dac_read_index.wrapping_add(1);
                }
                v
            }
            0x3CA => self.fcr,
            0x3CC => self.misc,
            0x3CE => self.gr_index,
            0x3CF => self.gr[(self.gr_index & 0x0F) as usize],
            0x3B4 | 0x3D4 => self.cr_index,
            0x3B5 | 0x3D5 => self.cr.get(self.cr_index as usize).copied().unwrap_or(0),
            0x3BA | 0x3DA => {
                self.ar_flip_flop = false;
                self.input_status_1(now)
            }
            _ => 0xFF,
        }
    }

    pub(super) fn write_port(&mut self, port: u16, val: u8) {
        if self.port_disabled(port) {
            return;
        }
        match port {
            0x3C0 => self.attr_write(val),
            0x3C2 => self.misc = val & !0x10,
            0x3C4 => self.sr_index = val & 7,
            0x3C5 => {
                let i = (self.sr_index & 7) as usize;
                self.sr[i] = val & SR_MASK[i];
            }
            0x3C6 => self.dac_mask = val,
            0x3C7 => {
                self.dac_read_index = val;
                self.dac_sub_index = 0;
                self.dac_state = 3;
            }
            0x3C8 => {
                self.dac_write_index = val;
                self.dac_sub_index = 0;
                self.dac_state = 0;
            }
            0x3C9 => {
                let sub = self.dac_sub_index as usize;
                self.dac_cache[sub] = val & self.dac_component_mask();
                self.dac_sub_index += 1;
                if self.dac_sub_index == 3 {
                    let i = self.dac_write_index as usize * 3;
                    self.palette[i..i + 3].copy_from_slice(&self.dac_cache);
                    self.dac_sub_index = 0;
                    self.dac_write_index = self.dac_write_index.wrapping_add(1);
                }
            }
            0x3CE => self.gr_index = val & 0x0F,
            0x3CF => {
                let i = (self.gr_index & 0x0F) as usize;
                self.gr[i] = val & GR_MASK[i];
            }
            0x3B4 | 0x3D4 => self.cr_index = val,
            0x3B5 | 0x3D5 => self.crtc_write(val),
            0x3BA | 0x3DA => self.fcr = val,
            _ => {} // 0x3C1 writes, CGA/MDA mode ports, 0x3C3: ignored
        }
    }

    fn attr_write(&mut self, val: u8) {
        if !self.ar_flip_flop {
            self.ar_index = val & 0x3F;
        } else {
            let i = (self.ar_index & 0x1F) as usize;
            match i {
                0x00..=0x0F => self.ar[i] = val & 0x3F,
                0x10 => self.ar[i] = val & !0x10,
                0x11 => self.ar[i] = val,
                0x12 => self.ar[i] = val & 0x3F,
                0x13 | 0x14 => self.ar[i] = val & 0x0F,
                _ => {}
            }
        }
        self.ar_flip_flop = !self.ar_flip_flop;
    }

    fn crtc_write(&mut self, val: u8) {
        let i = self.cr_index as usize;
        if i > 0x18 {
            self.log_once(0, format_args!("write to CRTC index {i:#x} ignored"));
            return;
        }
        // CR11 bit 7 protects CR0-CR7, except the line compare bit 4 of CR7.
        if self.cr[0x11] & 0x80 != 0 && i <= 7 {
            if i == 7 {
                self.cr[7] = (self.cr[7] & !0x10) | (val & 0x10);
            }
            return;
        }
        self.cr[i] = val;
    }

    /// 6-bit DAC components unless the VBE 8-bit DAC is on.
    pub(super) fn dac_component_mask(&self) -> u8 {
        if self.vbe.dac_8bit() {
            0xFF
        } else {
            0x3F
        }
    }

    /// DAC entry `i` as 0x00RRGGBB.
    pub(super) fn dac_rgb(&self, i: u8) -> u32 {
        let p = &self.palette[i as usize * 3..i as usize * 3 + 3];
        let c = |v: u8| -> u32 {
            if self.vbe.dac_8bit() {
                v as u32
            } else {
                let v = (v & 0x3F) as u32;
                (v << 2) | (v >> 4)
            }
        };
        (c(p[0]) << 16) | (c(p[1]) << 8) | c(p[2])
    }

    /// Vertical display end (lines) from CR12 and the overflow bits.
    pub(super) fn vdisp_lines(&self) -> u32 {
        let cr7 = self.cr[7] as u32;
        (self.cr[0x12] as u32 | ((cr7 & 0x02) << 7) | ((cr7 & 0x40) << 3)) + 1
    }

    /// Line compare (split screen) from CR18, CR7 bit 4 and CR9 bit 6.
    pub(super) fn line_compare(&self) -> u32 {
        self.cr[0x18] as u32 | ((self.cr[7] as u32 & 0x10) << 4) | ((self.cr[9] as u32 & 0x40) << 3)
    }

    /// The frame timing from the CRTC, or 70 Hz / 449 lines when it is not sane.
    pub(super) fn timing(&self) -> Timing {
        let cr = &self.cr;
        let cr7 = cr[7] as u32;
        let htotal = cr[0] as u32 + 5;
        let hdisp = cr[1] as u32 + 1;
        let vtotal = (cr[6] as u32 | ((cr7 & 0x01) << 8) | ((cr7 & 0x20) << 4)) + 2;
        let vrs = cr[0x10] as u32 | ((cr7 & 0x04) << 6) | ((cr7 & 0x80) << 2);
        let vr_len = match (cr[0x11] as u32).wrapping_sub(vrs) & 0x0F {
            0 => 16,
            n => n,
        };
        let vdisp = self.vdisp_lines();
        let dots: u64 = if self.sr[1] & 1 != 0 { 8 } else { 9 };
        let clock: u64 = if (self.misc >> 2) & 3 == 1 {
            28_322_000
        } else {
            25_175_000
        };
        let div: u64 = if self.sr[1] & 0x08 != 0 { 2 } else { 1 };
        let frame_ns = htotal as u64 * dots * div * vtotal as u64 * 1_000_000_000 / clock;
        let sane = vtotal >= 16
            && htotal > hdisp
            && vrs < vtotal
            && (5_000_000..=50_000_000).contains(&frame_ns);
        if !sane || self.vbe.enabled() {
            return DEFAULT_TIMING;
        }
        Timing {
            frame_ns,
            vtotal,
            vdisp,
            vrs,
            vr_len,
            hdisp_256: hdisp * 256 / htotal,
        }
    }

    /// Input status 1: vertical retrace (bit 3) and "display disabled" (bit 0, horizontal or
    /// vertical blanking) follow virtual time.
    fn input_status_1(&mut self, now: Nanos) -> u8 {
        if now == self.last_status_now {
            self.status_skew = self.status_skew.wrapping_add(FROZEN_POLL_STEP_NS);
        }
        self.last_status_now = now;
        let t = self.timing();
        let time = now.wrapping_add(self.status_skew) % t.frame_ns;
        // Position in lines with 8 fractional bits.
        let pos = (time as u128 * t.vtotal as u128 * 256 / t.frame_ns as u128) as u64;
        let line = (pos >> 8) as u32;
        let frac = (pos & 0xFF) as u32;
        let mut v = 0;
        if line >= t.vrs && line < t.vrs + t.vr_len {
            v |= ST01_V_RETRACE;
        }
        if line >= t.vdisp || frac >= t.hdisp_256 || v & ST01_V_RETRACE != 0 {
            v |= ST01_DISP_DISABLED;
        }
        v
    }
}
