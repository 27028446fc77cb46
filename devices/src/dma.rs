//! Intel 8237A DMA controller pair as wired in the PC/AT: controller 1 (channels 0-3, 8-bit,
//! ports 0x00-0x0F), controller 2 (channels 4-7, 16-bit, ports 0xC0-0xDF at even addresses,
//! channel 4 cascading controller 1) and the 74LS612 page registers (ports 0x80-0x8F).
//!
//! References: Intel 8237A High Performance Programmable DMA Controller datasheet; IBM PC/AT
//! Technical Reference (DMA, page register map); Intel 82371SB PIIX3 datasheet (DMA registers);
//! QEMU hw/dma/i8257.c for the behaviour guests rely on.
//!
//! ISA devices pull data with [`Dma8237::transfer`]: it moves bytes between the device's buffer
//! and guest memory at the channel's current address, honouring direction (write = device →
//! memory, read = memory → device, verify), address increment/decrement, the page register, the
//! 64 KiB (8-bit) / 128 KiB (16-bit) wrap inside the page, terminal count (status bit, mask on
//! TC unless auto-initialising) and auto-init reload. 16-bit channels count words and drive
//! A1-A16 from the address register and A17-A23 from page bits 1-7.
//!
//! Known gaps: memory-to-memory transfers (command bit 0), DREQ/DACK timing and priorities
//! (transfers happen when the device calls), block/demand mode differences (all run as one
//! burst up to TC or the end of the device buffer), the EISA/PIIX high page registers
//! (0x480-0x48F); the cascade mask of channel 4 is not enforced (as QEMU). Port 0x80 is a plain
//! latch here (it is also the POST code port).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{all_ones, Ctx, DmaMemory, IoDevice};

/// Page register (offset from 0x80) of each channel.
const PAGE_INDEX: [usize; 8] = [0x7, 0x3, 0x1, 0x2, 0xF, 0xB, 0x9, 0xA];

const MODE_AUTOINIT: u8 = 0x10;
const MODE_DECREMENT: u8 = 0x20;
const CMD_DISABLE: u8 = 0x04;

/// What a channel's mode register says the next transfer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Counts run, nothing moves.
    Verify,
    /// "DMA write": device → memory (disk read, sound capture).
    ToMemory,
    /// "DMA read": memory → device (disk write, sound playback).
    FromMemory,
    /// Transfer type 11, illegal on the 8237.
    Illegal,
}

/// The outcome of a [`Dma8237::transfer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transferred {
    /// Bytes moved (or verified).
    pub bytes: usize,
    /// The channel reached terminal count during this call (the transfer stopped there).
    pub tc: bool,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Channel {
    base_addr: u16,
    base_count: u16,
    addr: u16,
    count: u16,
    mode: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Controller {
    ch: [Channel; 4],
    flip_flop: bool,
    command: u8,
    /// Bits 0-3 terminal count reached, bits 4-7 software requests.
    status: u8,
    mask: u8,
}

impl Controller {
    fn new() -> Self {
        Controller {
            ch: [Channel::default(); 4],
            flip_flop: false,
            command: 0,
            status: 0,
            mask: 0xF,
        }
    }

    fn read(&mut self, reg: u8) -> u8 {
        match reg {
            0..=7 => {
                let c = &self.ch[(reg >> 1) as usize];
                let v = if reg & 1 == 0 { c.addr } else { c.count };
                let hi = self.flip_flop;
                self.flip_flop = !hi;
                (if hi { v >> 8 } else { v }) as u8
            }
            8 => {
                let s = self.status;
                self.status &= 0xF0;
                s
            }
            0xD => 0, // temporary register (memory-to-memory only)
            0xF => self.mask | 0xF0,
            _ => 0xFF,
        }
    }

    fn write(&mut self, reg: u8, v: u8) {
        match reg {
            0..=7 => {
                let c = &mut self.ch[(reg >> 1) as usize];
                let hi = self.flip_flop;
                self.flip_flop = !hi;
                let (base, cur) = if reg & 1 == 0 {
                    (&mut c.base_addr, &mut c.addr)
                } else {
                    (&mut c.base_count, &mut c.count)
                };
                *base = if hi {
                    (*base & 0x00FF) | (v as u16) << 8
                } else {
                    (*base & 0xFF00) | v as u16
                };
                *cur = *base;
            }
            8 => self.command = v,
            9 => {
                let bit = 0x10 << (v & 3);
                if v & 4 != 0 {
                    self.status |= bit;
                } else {
                    self.status &= !bit;
                }
            }
            0xA => {
                if v & 4 != 0 {
                    self.mask |= 1 << (v & 3);
                } else {
                    self.mask &= !(1 << (v & 3));
                }
            }
            0xB => self.ch[(v & 3) as usize].mode = v,
            0xC => self.flip_flop = false,
            0xD => {
                self.command = 0;
                self.status = 0;
                self.flip_flop = false;
                self.mask = 0xF;
            }
            0xE => self.mask = 0,
            0xF => self.mask = v & 0xF,
            _ => {}
        }
    }
}

/// Both 8237s and the page registers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dma8237 {
    ctrl: [Controller; 2],
    page: [u8; 16],
    #[serde(skip)]
    logged: HashSet<u8>,
}

impl Default for Dma8237 {
    fn default() -> Self {
        Self::new()
    }
}

impl Dma8237 {
    pub fn new() -> Self {
        Dma8237 {
            ctrl: [Controller::new(), Controller::new()],
            page: [0; 16],
            logged: HashSet::new(),
        }
    }

    pub fn reset(&mut self) {
        *self = Self::new();
    }

    fn chan(&self, ch: usize) -> &Channel {
        &self.ctrl[ch / 4].ch[ch % 4]
    }

    /// The channel's mode says what a transfer would do.
    pub fn direction(&self, ch: usize) -> Direction {
        match (self.chan(ch & 7).mode >> 2) & 3 {
            0 => Direction::Verify,
            1 => Direction::ToMemory,
            2 => Direction::FromMemory,
            _ => Direction::Illegal,
        }
    }

    /// Whether a transfer on `ch` can run now: the channel is unmasked, its controller enabled
    /// and it is not the cascade channel.
    pub fn channel_ready(&self, ch: usize) -> bool {
        if ch >= 8 || ch == 4 {
            return false;
        }
        let c = &self.ctrl[ch / 4];
        c.mask & (1 << (ch % 4)) == 0 && c.command & CMD_DISABLE == 0 && c.ch[ch % 4].mode >> 6 != 3
    }

    /// Bytes left before terminal count.
    pub fn remaining_bytes(&self, ch: usize) -> usize {
        let unit = if ch >= 4 { 2 } else { 1 };
        (self.chan(ch & 7).count as usize + 1) * unit
    }

    /// Guest physical address the channel's current address register points at.
    pub fn current_address(&self, ch: usize) -> u32 {
        let ch = ch & 7;
        self.phys(ch, self.chan(ch).addr)
    }

    fn phys(&self, ch: usize, addr: u16) -> u32 {
        let page = self.page[PAGE_INDEX[ch]] as u32;
        if ch >= 4 {
            ((page & 0xFE) << 16) | ((addr as u32) << 1)
        } else {
            (page << 16) | addr as u32
        }
    }

    /// Move data for the device on channel `ch` (0-3 8-bit, 5-7 16-bit): from `buf` into guest
    /// memory for a write transfer, from guest memory into `buf` for a read transfer, nothing for
    /// verify. Runs until `buf` is used up (whole transfer units only) or terminal count.
    pub fn transfer(&mut self, ch: usize, mem: &mut dyn DmaMemory, buf: &mut [u8]) -> Transferred {
        let mut out = Transferred::default();
        if !self.channel_ready(ch) {
            return out;
        }
        let dir = self.direction(ch);
        if dir == Direction::Illegal {
            if self.logged.insert(ch as u8) {
                tracing::warn!("dma: channel {ch} programmed with the illegal transfer type 11");
            }
            return out;
        }
        let unit = if ch >= 4 { 2 } else { 1 };
        let mode = self.chan(ch).mode;
        while out.bytes + unit <= buf.len() {
            let c = *self.chan(ch);
            let left = c.count as usize + 1;
            let room = (buf.len() - out.bytes) / unit;
            let n = if mode & MODE_DECREMENT != 0 {
                1
            } else {
                left.min(room).min(0x10000 - c.addr as usize)
            };
            let bytes = n * unit;
            let phys = self.phys(ch, c.addr);
            let chunk = &mut buf[out.bytes..out.bytes + bytes];
            match dir {
                Direction::ToMemory => mem.dma_write(phys, chunk),
                Direction::FromMemory => mem.dma_read(phys, chunk),
                _ => {}
            }
            out.bytes += bytes;
            let ctrl = &mut self.ctrl[ch / 4];
            let cc = &mut ctrl.ch[ch % 4];
            cc.addr = if mode & MODE_DECREMENT != 0 {
                cc.addr.wrapping_sub(n as u16)
            } else {
                cc.addr.wrapping_add(n as u16)
            };
            if n == left {
                out.tc = true;
                ctrl.status |= 1 << (ch % 4);
                if mode & MODE_AUTOINIT != 0 {
                    cc.addr = cc.base_addr;
                    cc.count = cc.base_count;
                } else {
                    cc.count = 0xFFFF;
                    ctrl.mask |= 1 << (ch % 4);
                }
                break;
            }
            cc.count -= n as u16;
        }
        out
    }

    fn read8(&mut self, port: u16) -> u8 {
        match port {
            0x00..=0x0F => self.ctrl[0].read(port as u8),
            0x80..=0x8F => self.page[(port - 0x80) as usize],
            0xC0..=0xDF => self.ctrl[1].read(((port - 0xC0) >> 1) as u8),
            _ => 0xFF,
        }
    }

    fn write8(&mut self, port: u16, v: u8) {
        match port {
            0x00..=0x0F => self.ctrl[0].write(port as u8, v),
            0x80..=0x8F => self.page[(port - 0x80) as usize] = v,
            0xC0..=0xDF => self.ctrl[1].write(((port - 0xC0) >> 1) as u8, v),
            _ => {}
        }
    }
}

impl IoDevice for Dma8237 {
    /// 8-bit registers; a wider access reads the low byte, upper bytes float high.
    fn io_read(&mut self, port: u16, size: u8, _ctx: &mut Ctx) -> u32 {
        self.read8(port) as u32 | (all_ones(size) & !0xFF)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32, _ctx: &mut Ctx) {
        self.write8(port, value as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(Vec<u8>);
    impl DmaMemory for Mem {
        fn dma_read(&mut self, addr: u32, buf: &mut [u8]) {
            buf.copy_from_slice(&self.0[addr as usize..addr as usize + buf.len()]);
        }
        fn dma_write(&mut self, addr: u32, buf: &[u8]) {
            self.0[addr as usize..addr as usize + buf.len()].copy_from_slice(buf);
        }
    }

    fn mem() -> Mem {
        Mem(vec![0; 0x20_0000])
    }

    /// Program a channel the way BIOSes and drivers do.
    fn program(d: &mut Dma8237, ch: usize, mode: u8, page: u8, addr: u16, count: u16) {
        let (base, stride, regs): (u16, u16, u16) = if ch < 4 {
            (0x00, 1, 0x00)
        } else {
            (0xC0, 2, 0xC0)
        };
        let c = (ch % 4) as u16;
        d.write8(regs + 0xA * stride, 4 | c as u8);
        d.write8(regs + 0xC * stride, 0);
        d.write8(regs + 0xB * stride, mode | c as u8);
        d.write8(base + 2 * c * stride, addr as u8);
        d.write8(base + 2 * c * stride, (addr >> 8) as u8);
        d.write8(base + (2 * c + 1) * stride, count as u8);
        d.write8(base + (2 * c + 1) * stride, (count >> 8) as u8);
        d.write8(0x80 + PAGE_INDEX[ch] as u16, page);
        d.write8(regs + 0xA * stride, c as u8);
    }

    #[test]
    fn write_transfer_with_page_and_tc() {
        let mut d = Dma8237::new();
        let mut m = mem();
        assert!(!d.channel_ready(2));
        // Single mode, write (device → memory), channel 2, 512 bytes at 0x12_3400.
        program(&mut d, 2, 0x44, 0x12, 0x3400, 511);
        assert!(d.channel_ready(2));
        assert_eq!(d.direction(2), Direction::ToMemory);
        assert_eq!(d.current_address(2), 0x12_3400);
        let mut buf: Vec<u8> = (0..600).map(|i| i as u8).collect();
        let r = d.transfer(2, &mut m, &mut buf[..300]);
        assert_eq!(
            r,
            Transferred {
                bytes: 300,
                tc: false
            }
        );
        assert_eq!(d.remaining_bytes(2), 212);
        let r = d.transfer(2, &mut m, &mut buf[300..]);
        assert_eq!(
            r,
            Transferred {
                bytes: 212,
                tc: true
            }
        );
        assert_eq!(&m.0[0x12_3400..0x12_3600], &buf[..512]);
        assert_eq!(m.0[0x12_3600], 0);
        // Current address/count read back through the flip-flop.
        d.write8(0x0C, 0);
        assert_eq!([d.read8(0x04), d.read8(0x04)], [0x00, 0x36]);
        assert_eq!([d.read8(0x05), d.read8(0x05)], [0xFF, 0xFF]);
        // TC: status bit (cleared by reading), channel masked.
        assert_eq!(d.read8(0x08) & 0x0F, 0x04);
        assert_eq!(d.read8(0x08) & 0x0F, 0x00);
        assert!(!d.channel_ready(2));
        assert_eq!(d.transfer(2, &mut m, &mut buf).bytes, 0);
        assert_eq!(d.read8(0x0F) & 0x0F, 0x0F);
    }

    #[test]
    fn read_transfer_autoinit_and_wrap() {
        let mut d = Dma8237::new();
        let mut m = mem();
        m.0[0x5_FFFE] = 1;
        m.0[0x5_FFFF] = 2;
        m.0[0x5_0000] = 3;
        m.0[0x5_0001] = 4;
        // Auto-init, read (memory → device), channel 1, 4 bytes wrapping inside page 5.
        program(&mut d, 1, 0x58, 0x05, 0xFFFE, 3);
        let mut buf = [0u8; 6];
        let r = d.transfer(1, &mut m, &mut buf);
        assert_eq!(r, Transferred { bytes: 4, tc: true });
        assert_eq!(buf[..4], [1, 2, 3, 4]);
        // Reloaded and still unmasked.
        assert!(d.channel_ready(1));
        assert_eq!(d.current_address(1), 0x5_FFFE);
        assert_eq!(d.remaining_bytes(1), 4);
        let r = d.transfer(1, &mut m, &mut buf[..2]);
        assert_eq!(
            r,
            Transferred {
                bytes: 2,
                tc: false
            }
        );
        assert_eq!(buf[..2], [1, 2]);
    }

    #[test]
    fn sixteen_bit_channel() {
        let mut d = Dma8237::new();
        let mut m = mem();
        // Channel 5, word address 0x8000, page 0x13 (bit 0 ignored):
        // ((0x13 & 0xFE) << 16) | (0x8000 << 1) = 0x13_0000.
        program(&mut d, 5, 0x44, 0x13, 0x8000, 1);
        assert_eq!(d.current_address(5), 0x13_0000);
        assert_eq!(d.remaining_bytes(5), 4);
        let mut buf = [9u8, 8, 7, 6, 5, 4];
        let r = d.transfer(5, &mut m, &mut buf);
        assert_eq!(r, Transferred { bytes: 4, tc: true });
        assert_eq!(m.0[0x13_0000..0x13_0005], [9, 8, 7, 6, 0]);
        assert_eq!(d.read8(0xD0) & 0x0F, 0x02);
        // Channel 4 is the cascade: never transfers.
        assert!(!d.channel_ready(4));
    }

    #[test]
    fn decrement_verify_and_master_clear() {
        let mut d = Dma8237::new();
        let mut m = mem();
        // Decrement, write, channel 3.
        program(&mut d, 3, 0x64, 0x00, 0x1002, 2);
        let mut buf = [1u8, 2, 3];
        assert_eq!(d.transfer(3, &mut m, &mut buf).bytes, 3);
        assert_eq!(m.0[0x1000..0x1003], [3, 2, 1]);
        // Verify moves nothing but counts.
        program(&mut d, 0, 0x40, 0x00, 0x2000, 1);
        let mut buf = [0xAAu8; 2];
        assert_eq!(
            d.transfer(0, &mut m, &mut buf),
            Transferred { bytes: 2, tc: true }
        );
        assert_eq!(m.0[0x2000..0x2002], [0, 0]);
        // Clear mask unmasks all; master clear masks all; disable bit stops transfers.
        d.write8(0x0E, 0);
        assert!(d.channel_ready(0) && d.channel_ready(3));
        d.write8(0x08, CMD_DISABLE);
        assert!(!d.channel_ready(0));
        d.write8(0x0D, 0);
        assert!(!d.channel_ready(0));
        assert_eq!(d.read8(0x0F) & 0xF, 0xF);
        d.write8(0x0F, 0x0);
        assert!(d.channel_ready(2));
    }

    #[test]
    fn page_registers_and_snapshot() {
        let mut d = Dma8237::new();
        for p in 0x80..=0x8F {
            d.write8(p, p as u8 ^ 0x5A);
        }
        let json = serde_json::to_string(&d).unwrap();
        let mut d: Dma8237 = serde_json::from_str(&json).unwrap();
        for p in 0x80..=0x8F {
            assert_eq!(d.read8(p), p as u8 ^ 0x5A);
        }
        assert_eq!(d.read8(0x10), 0xFF);
    }
}
