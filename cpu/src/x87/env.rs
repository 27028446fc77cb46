//! FPU environment and state images (FSTENV/FLDENV, FSAVE/FRSTOR) in their 14-byte (16-bit)
//! and 28-byte (32-bit) forms, real-mode and protected-mode layouts (Intel SDM vol. 1 §8.1.10,
//! figures 8-9 to 8-12), plus multi-part memory helpers (8/10/28/108-byte accesses that check
//! every part before writing any).

use iced_x86::{Instruction, MemorySize};

use super::F80;
use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::SegReg;
use crate::Cpu;

impl Cpu {
    /// Read `N` bytes at seg:off (in 4-byte parts; nothing is changed if any part faults).
    pub(super) fn read_bytes<B: CpuBus, const N: usize>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
    ) -> Result<[u8; N], Fault> {
        let mut out = [0u8; N];
        let mut k = 0;
        while k < N {
            let n = (N - k).min(4);
            let n = if n == 3 { 2 } else { n };
            let v = self.read_mem(bus, seg, off.wrapping_add(k as u32), n as u32)?;
            out[k..k + n].copy_from_slice(&v.to_le_bytes()[..n]);
            k += n;
        }
        Ok(out)
    }

    pub(super) fn read_u64<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
    ) -> Result<u64, Fault> {
        Ok(u64::from_le_bytes(self.read_bytes::<B, 8>(bus, seg, off)?))
    }

    /// Write `data` at seg:off after checking that the whole range is writable.
    pub(super) fn write_bytes<B: CpuBus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        off: u32,
        data: &[u8],
    ) -> Result<(), Fault> {
        let len = data.len() as u32;
        let lin = self.seg_lin(seg, off, len, true)?;
        self.probe_write(bus, lin, len)?;
        let mut k = 0usize;
        while k < data.len() {
            let n = (data.len() - k).min(4);
            let n = if n == 3 { 2 } else { n };
            let mut w = [0u8; 4];
            w[..n].copy_from_slice(&data[k..k + n]);
            self.write_mem(
                bus,
                seg,
                off.wrapping_add(k as u32),
                n as u32,
                u32::from_le_bytes(w),
            )?;
            k += n;
        }
        Ok(())
    }

    /// Is the environment image in protected-mode layout?
    fn env_protected(&self) -> bool {
        self.s.protected() && !self.s.v86()
    }

    /// Build the 14- or 28-byte environment image.
    fn env_image(&self, big: bool) -> Vec<u8> {
        let f = &self.s.fpu;
        let (cw, sw, tw) = (f.cw as u32, f.status() as u32, f.tag_word() as u32);
        let fop = f.fop as u32 & 0x7FF;
        let mut v: Vec<u32> = Vec::with_capacity(7);
        if self.env_protected() {
            if big {
                v.extend([
                    cw | 0xFFFF_0000,
                    sw | 0xFFFF_0000,
                    tw | 0xFFFF_0000,
                    f.fip,
                    f.fcs as u32 | (fop << 16),
                    f.fdp,
                    f.fds as u32 | 0xFFFF_0000,
                ]);
            } else {
                v.extend([
                    cw,
                    sw,
                    tw,
                    f.fip & 0xFFFF,
                    f.fcs as u32,
                    f.fdp & 0xFFFF,
                    f.fds as u32,
                ]);
            }
        } else {
            let ip = ((f.fcs as u32) << 4).wrapping_add(f.fip);
            let dp = ((f.fds as u32) << 4).wrapping_add(f.fdp);
            if big {
                v.extend([
                    cw | 0xFFFF_0000,
                    sw | 0xFFFF_0000,
                    tw | 0xFFFF_0000,
                    (ip & 0xFFFF) | 0xFFFF_0000,
                    ((ip >> 16) << 12) | fop,
                    (dp & 0xFFFF) | 0xFFFF_0000,
                    (dp >> 16) << 12,
                ]);
            } else {
                v.extend([
                    cw,
                    sw,
                    tw,
                    ip & 0xFFFF,
                    (((ip >> 16) & 0xF) << 12) | fop,
                    dp & 0xFFFF,
                    ((dp >> 16) & 0xF) << 12,
                ]);
            }
        }
        if big {
            v.iter().flat_map(|w| w.to_le_bytes()).collect()
        } else {
            v.iter().flat_map(|w| (*w as u16).to_le_bytes()).collect()
        }
    }

    /// Load an environment image (tags are taken as empty/non-empty and recomputed).
    fn env_load(&mut self, img: &[u8], big: bool) {
        let word = |k: usize| -> u32 {
            if big {
                u32::from_le_bytes([img[4 * k], img[4 * k + 1], img[4 * k + 2], img[4 * k + 3]])
            } else {
                u16::from_le_bytes([img[2 * k], img[2 * k + 1]]) as u32
            }
        };
        let prot = self.env_protected();
        let f = &mut self.s.fpu;
        f.cw = (word(0) as u16 & 0x1F7F) | 0x40;
        let sw = word(1) as u16;
        f.top = ((sw >> 11) & 7) as u8;
        f.sw = sw & !0x3800;
        f.tw = word(2) as u16;
        if prot {
            f.fip = if big { word(3) } else { word(3) & 0xFFFF };
            f.fcs = word(4) as u16;
            f.fop = if big {
                ((word(4) >> 16) & 0x7FF) as u16
            } else {
                0
            };
            f.fdp = if big { word(5) } else { word(5) & 0xFFFF };
            f.fds = word(6) as u16;
        } else {
            let (ipw, dpw) = if big {
                (word(4) >> 12, word(6) >> 12)
            } else {
                ((word(4) >> 12) & 0xF, (word(6) >> 12) & 0xF)
            };
            f.fip = (word(3) & 0xFFFF) | (ipw << 16);
            f.fcs = 0;
            f.fop = (word(4) & 0x7FF) as u16;
            f.fdp = (word(5) & 0xFFFF) | (dpw << 16);
            f.fds = 0;
        }
    }

    /// Recompute the non-empty tags from the register contents.
    fn retag(&mut self) {
        let f = &mut self.s.fpu;
        for p in 0..8 {
            if f.tag_phys(p) != 3 {
                let t = f.regs[p].tag();
                f.set_tag_phys(p, t);
            }
        }
        f.update_es();
    }

    fn env_big(i: &Instruction) -> bool {
        matches!(
            i.memory_size(),
            MemorySize::FpuEnv28 | MemorySize::FpuState108
        )
    }

    pub(super) fn f_stenv<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let img = self.env_image(Self::env_big(i));
        let (seg, off) = (self.mem_seg(i), self.ea(i));
        self.write_bytes(bus, seg, off, &img)?;
        self.s.fpu.cw |= 0x3F;
        Ok(())
    }

    pub(super) fn f_ldenv<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let big = Self::env_big(i);
        let (seg, off) = (self.mem_seg(i), self.ea(i));
        let img = self.read_bytes::<B, 28>(bus, seg, off);
        let img = match img {
            Ok(b) => b,
            Err(e) if big => return Err(e),
            Err(_) => {
                let mut b = [0u8; 28];
                b[..14].copy_from_slice(&self.read_bytes::<B, 14>(bus, seg, off)?);
                b
            }
        };
        self.env_load(&img, big);
        self.retag();
        Ok(())
    }

    pub(super) fn f_save<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let big = Self::env_big(i);
        let mut img = self.env_image(big);
        for k in 0..8 {
            let r = self.s.fpu.st(k);
            img.extend_from_slice(&r.mant.to_le_bytes());
            img.extend_from_slice(&r.se.to_le_bytes());
        }
        let (seg, off) = (self.mem_seg(i), self.ea(i));
        self.write_bytes(bus, seg, off, &img)?;
        self.s.fpu.init();
        Ok(())
    }

    pub(super) fn f_rstor<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let big = Self::env_big(i);
        let (seg, off) = (self.mem_seg(i), self.ea(i));
        let env_len = if big { 28 } else { 14 };
        let regs = self.read_bytes::<B, 80>(bus, seg, off.wrapping_add(env_len))?;
        let mut img = [0u8; 28];
        if big {
            img = self.read_bytes::<B, 28>(bus, seg, off)?;
        } else {
            img[..14].copy_from_slice(&self.read_bytes::<B, 14>(bus, seg, off)?);
        }
        self.env_load(&img, big);
        for k in 0..8 {
            let b = &regs[10 * k..10 * k + 10];
            let mut m = [0u8; 8];
            m.copy_from_slice(&b[..8]);
            let v = F80 {
                mant: u64::from_le_bytes(m),
                se: u16::from_le_bytes([b[8], b[9]]),
            };
            let p = self.s.fpu.phys(k);
            self.s.fpu.regs[p] = v;
        }
        self.retag();
        Ok(())
    }
}
