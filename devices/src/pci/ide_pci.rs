//! Intel 82371SB PIIX3 IDE function, PCI 01.1, 8086:7010: its configuration space and the
//! bus-master IDE registers (BAR4) with the PRD (physical region descriptor) walker.
//!
//! Reference: Intel 82371FB/82371SB datasheet, ch. 2.3 (IDE configuration) and 2.7
//! (bus master IDE registers, PRD format); "Programming Interface for Bus Master IDE
//! Controller" rev 1.0 (SFF-8038i); QEMU hw/ide/piix.c and hw/ide/pci.c.
//!
//! Both channels run in legacy (compatibility) mode: programming interface 0x80, BAR0-3 unused,
//! ports 0x1F0/0x3F6 (IRQ 14) and 0x170/0x376 (IRQ 15). BAR4 is a 16-byte I/O window: per
//! channel (primary at +0, secondary at +8) a command byte (+0), a status byte (+2) and the PRD
//! table pointer (+4, dword aligned).
//!
//! Known gaps: IDE timing registers (0x40-0x44) are plain storage; native-PCI mode is not
//! offered; a PRD table is walked for at most 8192 entries (64 KiB), then treated as exhausted.

use super::{BarKind, PciConfig, PciFunction, CMD_BUS_MASTER, CMD_IO};
use crate::DmaMemory;

/// Bus-master command register: start/stop.
pub const BM_CMD_START: u8 = 0x01;
/// Bus-master command register: 1 = bus master writes to memory (device-to-host transfer).
pub const BM_CMD_WRITE_TO_MEMORY: u8 = 0x08;
/// Bus-master status: DMA active.
pub const BM_STATUS_ACTIVE: u8 = 0x01;
/// Bus-master status: DMA error (write one to clear).
pub const BM_STATUS_ERROR: u8 = 0x02;
/// Bus-master status: the device raised its interrupt (write one to clear).
pub const BM_STATUS_INTR: u8 = 0x04;
/// Bus-master status: drive 0 / drive 1 DMA capable (software-set).
pub const BM_STATUS_DRV0_DMA: u8 = 0x20;
pub const BM_STATUS_DRV1_DMA: u8 = 0x40;

/// The PCI face of the PIIX3 IDE function.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Piix3IdePci {
    config: PciConfig,
}

impl Default for Piix3IdePci {
    fn default() -> Self {
        Self::new()
    }
}

impl Piix3IdePci {
    pub fn new() -> Self {
        let mut c = PciConfig::new(0x8086, 0x7010, 0x01_01_80, 0x00, 0x00);
        c.set_u16(0x06, 0x0280);
        c.set_bar(4, BarKind::Io, 16);
        // IDETIM (primary, secondary) and SIDETIM.
        c.set_writable_range(0x40..=0x44);
        Self { config: c }
    }

    pub fn config(&self) -> &PciConfig {
        &self.config
    }

    /// Base port of the bus-master registers, if BAR4 is programmed and I/O decoding is on.
    pub fn bm_base(&self) -> Option<u16> {
        self.config.bar_address(4).map(|a| a as u16)
    }

    /// Bus mastering enabled in the command register.
    pub fn bus_master_enabled(&self) -> bool {
        self.config.command() & CMD_BUS_MASTER != 0
    }

    /// I/O decoding enabled in the command register.
    pub fn io_enabled(&self) -> bool {
        self.config.command() & CMD_IO != 0
    }
}

impl PciFunction for Piix3IdePci {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.config.write(offset, size, value)
    }
}

/// One channel's bus-master registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BmChannel {
    pub cmd: u8,
    pub status: u8,
    pub prd_table: u32,
}

impl BmChannel {
    /// Read a register at `offset` (0-7) within the channel's block.
    pub fn read(&self, offset: u16, size: u8) -> u32 {
        match (offset, size) {
            (0, 1) => self.cmd as u32,
            (2, 1) => self.status as u32,
            (0, 2) => self.cmd as u32,
            (2, 2) => self.status as u32,
            (0, 4) => self.cmd as u32 | (self.status as u32) << 16,
            (4, 4) => self.prd_table,
            (4..=7, _) => {
                let shift = 8 * (offset - 4) as u32;
                let v = self.prd_table >> shift;
                match size {
                    1 => v & 0xFF,
                    2 => v & 0xFFFF,
                    _ => v,
                }
            }
            (1 | 3, 1) => 0,
            _ => crate::all_ones(size),
        }
    }

    /// Write the status register: drive-capable bits are stored, ERROR/INTR clear on one.
    pub fn write_status(&mut self, v: u8) {
        self.status = (self.status & !(BM_STATUS_DRV0_DMA | BM_STATUS_DRV1_DMA))
            | (v & (BM_STATUS_DRV0_DMA | BM_STATUS_DRV1_DMA));
        self.status &= !(v & (BM_STATUS_ERROR | BM_STATUS_INTR));
    }

    /// Write (part of) the PRD table pointer.
    pub fn write_prd(&mut self, offset: u16, size: u8, v: u32) {
        let shift = 8 * (offset.saturating_sub(4)) as u32;
        let mask: u32 = match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        };
        let m = mask.checked_shl(shift).unwrap_or(0);
        self.prd_table = ((self.prd_table & !m) | (v.checked_shl(shift).unwrap_or(0) & m)) & !3;
    }
}

/// Maximum PRD entries walked per transfer (a table may not cross a 64 KiB boundary).
const MAX_PRD_ENTRIES: u32 = 8192;

/// A position in a PRD table during one transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrdCursor {
    next_entry: u32,
    addr: u32,
    left: u32,
    last: bool,
    entries: u32,
}

impl PrdCursor {
    pub fn new(table: u32) -> Self {
        Self {
            next_entry: table & !3,
            ..Self::default()
        }
    }

    /// True once the last region (EOT) has been used up.
    pub fn exhausted(&self) -> bool {
        self.left == 0 && (self.last || self.entries >= MAX_PRD_ENTRIES)
    }

    fn load(&mut self, mem: &mut dyn DmaMemory) -> bool {
        while self.left == 0 {
            if self.last || self.entries >= MAX_PRD_ENTRIES {
                return false;
            }
            let mut e = [0u8; 8];
            mem.dma_read(self.next_entry, &mut e);
            self.next_entry = self.next_entry.wrapping_add(8);
            self.entries += 1;
            self.addr = u32::from_le_bytes([e[0], e[1], e[2], e[3]]) & !1;
            let count = u16::from_le_bytes([e[4], e[5]]) as u32 & !1;
            self.left = if count == 0 { 0x10000 } else { count };
            self.last = e[7] & 0x80 != 0;
        }
        true
    }

    /// Copy `data` into guest memory along the table; returns the bytes placed.
    pub fn to_memory(&mut self, mem: &mut dyn DmaMemory, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() && self.load(mem) {
            let n = (self.left as usize).min(data.len() - done);
            mem.dma_write(self.addr, &data[done..done + n]);
            self.addr = self.addr.wrapping_add(n as u32);
            self.left -= n as u32;
            done += n;
        }
        done
    }

    /// Fill `buf` from guest memory along the table; returns the bytes fetched.
    pub fn from_memory(&mut self, mem: &mut dyn DmaMemory, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() && self.load(mem) {
            let n = (self.left as usize).min(buf.len() - done);
            mem.dma_read(self.addr, &mut buf[done..done + n]);
            self.addr = self.addr.wrapping_add(n as u32);
            self.left -= n as u32;
            done += n;
        }
        done
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A flat guest memory for DMA tests; out-of-range accesses read ones / are dropped.
    pub(crate) struct FakeMem(pub Vec<u8>);

    impl DmaMemory for FakeMem {
        fn dma_read(&mut self, addr: u32, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = self.0.get(addr as usize + i).copied().unwrap_or(0xFF);
            }
        }
        fn dma_write(&mut self, addr: u32, buf: &[u8]) {
            for (i, b) in buf.iter().enumerate() {
                if let Some(d) = self.0.get_mut(addr as usize + i) {
                    *d = *b;
                }
            }
        }
    }

    pub(crate) fn put_prd(mem: &mut FakeMem, at: usize, addr: u32, count: u16, eot: bool) {
        mem.0[at..at + 4].copy_from_slice(&addr.to_le_bytes());
        mem.0[at + 4..at + 6].copy_from_slice(&count.to_le_bytes());
        mem.0[at + 6] = 0;
        mem.0[at + 7] = if eot { 0x80 } else { 0 };
    }

    #[test]
    fn prd_walk_two_entries() {
        let mut mem = FakeMem(vec![0; 0x10000]);
        put_prd(&mut mem, 0x100, 0x1000, 6, false);
        put_prd(&mut mem, 0x108, 0x2000, 0x10, true);
        let mut c = PrdCursor::new(0x100);
        let data: Vec<u8> = (1..=30).collect();
        assert_eq!(c.to_memory(&mut mem, &data), 22);
        assert!(c.exhausted());
        assert_eq!(&mem.0[0x1000..0x1006], &data[..6]);
        assert_eq!(&mem.0[0x2000..0x2010], &data[6..22]);
    }

    #[test]
    fn bm_registers() {
        let mut b = BmChannel {
            status: BM_STATUS_INTR | BM_STATUS_ERROR,
            ..Default::default()
        };
        b.write_status(0x60 | BM_STATUS_INTR);
        assert_eq!(b.status, 0x60 | BM_STATUS_ERROR);
        b.write_prd(4, 4, 0x1234_5677);
        assert_eq!(b.read(4, 4), 0x1234_5674);
        b.write_prd(6, 2, 0xABCD);
        assert_eq!(b.read(4, 4), 0xABCD_5674);
        assert_eq!(b.read(6, 2), 0xABCD);
        let mut p = Piix3IdePci::new();
        assert_eq!(p.bm_base(), None);
        p.config_write(0x20, 4, 0xC000);
        p.config_write(0x04, 2, 0x0005);
        assert_eq!(p.bm_base(), Some(0xC000));
        assert!(p.bus_master_enabled());
    }
}
