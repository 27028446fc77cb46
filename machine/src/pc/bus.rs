//! The PC's physical address space and port space as the CPU sees them (`CpuBus`): RAM in one
//! `memmap2` mapping, the VGA window at 0xA0000, the 0xC0000–0xFFFFF shadow area under the
//! i440FX PAM registers (BIOS ROM or RAM, per 16/64 KiB segment), the BIOS ROM at the top of
//! 4 GiB, and A20 gating; ports go to the `Chipset`.

use ironbox_cpu::CpuBus;
use ironbox_devices::{DmaMemory, Nanos};
use memmap2::MmapMut;

use super::chipset::Chipset;

/// How much of the BIOS image appears below 1 MiB (ending at 0xFFFFF).
const BIOS_LOW_MAX: usize = 128 * 1024;

/// Guest RAM as bus-master and ISA DMA see it; DMA writes are remembered so the CPU can drop
/// stale decoded code.
pub struct DmaRam {
    pub ram: MmapMut,
    pub dirty: Vec<(u32, u32)>,
}

impl DmaMemory for DmaRam {
    fn dma_read(&mut self, addr: u32, buf: &mut [u8]) {
        for (k, b) in buf.iter_mut().enumerate() {
            *b = self.ram.get(addr as usize + k).copied().unwrap_or(0xFF);
        }
    }
    fn dma_write(&mut self, addr: u32, buf: &[u8]) {
        let len = self.ram.len();
        let start = (addr as usize).min(len);
        let end = (addr as usize).saturating_add(buf.len()).min(len);
        if end > start {
            self.ram[start..end].copy_from_slice(&buf[..end - start]);
            self.dirty.push((start as u32, (end - start) as u32));
        }
    }
}

pub struct PcBus {
    pub mem: DmaRam,
    /// RAM below the PCI hole (bytes).
    pub ram_size: u32,
    pub bios: Box<[u8]>,
    /// i440FX PAM0-PAM6 (config registers 0x59-0x5F).
    pub pam: [u8; 7],
    pub chip: Chipset,
    /// Virtual time for device accesses (set by the run loop before each slice).
    pub now: Nanos,
    /// When virtual time started, if it follows the host's clock: the time-stamp counter then
    /// counts host time (else the CPU counts retired instructions).
    pub host_clock: Option<std::time::Instant>,
}

/// Read/write enables of the PAM segment holding `addr` (0xC0000..=0xFFFFF): (RE, WE).
#[inline]
fn pam_rw(pam: &[u8; 7], addr: u32) -> (bool, bool) {
    let nib = if addr >= 0xF_0000 {
        pam[0] >> 4
    } else {
        let seg = ((addr - 0xC_0000) >> 14) as usize; // 16 KiB segments from C0000
        let v = pam[1 + seg / 2];
        if seg % 2 == 0 {
            v & 0xF
        } else {
            v >> 4
        }
    };
    (nib & 1 != 0, nib & 2 != 0)
}

impl PcBus {
    #[inline(always)]
    fn a20(&self, addr: u32) -> u32 {
        if self.chip.a20 {
            addr
        } else {
            addr & !(1 << 20)
        }
    }

    /// A byte of the BIOS as it appears at `addr`, if the BIOS is mapped there.
    fn bios_byte(&self, addr: u32) -> Option<u8> {
        let len = self.bios.len() as u32;
        if addr >= 0u32.wrapping_sub(len) && len > 0 {
            return Some(self.bios[(addr - 0u32.wrapping_sub(len)) as usize]);
        }
        let low = self.bios.len().min(BIOS_LOW_MAX) as u32;
        if addr < 0x10_0000 && addr >= 0x10_0000 - low {
            return Some(self.bios[self.bios.len() - (0x10_0000 - addr) as usize]);
        }
        None
    }

    fn slow_read8(&mut self, addr: u32) -> u8 {
        match addr {
            0xA_0000..=0xB_FFFF => self.chip.vga.mem_read(addr, 1) as u8,
            0xC_0000..=0xF_FFFF => {
                if pam_rw(&self.pam, addr).0 {
                    self.mem.ram[addr as usize]
                } else {
                    self.bios_byte(addr).unwrap_or(0xFF)
                }
            }
            _ if addr < self.ram_size => self.mem.ram[addr as usize],
            _ => self
                .pci_read8(addr)
                .or_else(|| self.bios_byte(addr))
                .unwrap_or(0xFF),
        }
    }

    /// Memory BARs in the PCI hole: the VGA framebuffer and its expansion ROM.
    fn pci_read8(&mut self, addr: u32) -> Option<u8> {
        let vga = &self.chip.pci.vga;
        if let Some((base, len)) = vga.lfb() {
            if addr >= base && addr - base < len {
                return Some(self.chip.vga.lfb_read(addr - base, 1) as u8);
            }
        }
        if let Some((base, len)) = vga.rom_window() {
            if addr >= base && addr - base < len {
                return Some(vga.rom.get((addr - base) as usize).copied().unwrap_or(0xFF));
            }
        }
        None
    }

    fn pci_write8(&mut self, addr: u32, v: u8) {
        if let Some((base, len)) = self.chip.pci.vga.lfb() {
            if addr >= base && addr - base < len {
                self.chip.vga.lfb_write(addr - base, 1, v as u32);
            }
        }
    }

    fn slow_write8(&mut self, addr: u32, v: u8) {
        match addr {
            0xA_0000..=0xB_FFFF => self.chip.vga.mem_write(addr, 1, v as u32),
            0xC_0000..=0xF_FFFF => {
                if pam_rw(&self.pam, addr).1 {
                    self.mem.ram[addr as usize] = v;
                }
            }
            _ if addr < self.ram_size => self.mem.ram[addr as usize] = v,
            _ => self.pci_write8(addr, v),
        }
    }

    /// Plain RAM that a multi-byte access may touch directly.
    #[inline(always)]
    fn plain(&self, addr: u32, len: u32) -> bool {
        let end = addr.wrapping_add(len - 1);
        end < self.ram_size && end >= addr && (end < 0xA_0000 || addr >= 0x10_0000)
    }
}

impl CpuBus for PcBus {
    fn host_tsc(&mut self) -> Option<u64> {
        self.host_clock.map(super::clock::host_tsc)
    }
    #[inline(always)]
    fn read8(&mut self, addr: u32) -> u8 {
        let a = self.a20(addr);
        if self.plain(a, 1) {
            self.mem.ram[a as usize]
        } else {
            self.slow_read8(a)
        }
    }
    #[inline(always)]
    fn write8(&mut self, addr: u32, v: u8) {
        let a = self.a20(addr);
        if self.plain(a, 1) {
            self.mem.ram[a as usize] = v
        } else {
            self.slow_write8(a, v)
        }
    }
    #[inline(always)]
    fn read16(&mut self, addr: u32) -> u16 {
        let a = self.a20(addr);
        if self.plain(a, 2) {
            u16::from_le_bytes([self.mem.ram[a as usize], self.mem.ram[a as usize + 1]])
        } else {
            u16::from_le_bytes([self.read8(addr), self.read8(addr.wrapping_add(1))])
        }
    }
    #[inline(always)]
    fn read32(&mut self, addr: u32) -> u32 {
        let a = self.a20(addr);
        if self.plain(a, 4) {
            let i = a as usize;
            u32::from_le_bytes([
                self.mem.ram[i],
                self.mem.ram[i + 1],
                self.mem.ram[i + 2],
                self.mem.ram[i + 3],
            ])
        } else {
            (0..4).fold(0, |v, k| {
                v | (self.read8(addr.wrapping_add(k)) as u32) << (8 * k)
            })
        }
    }
    #[inline(always)]
    fn write16(&mut self, addr: u32, v: u16) {
        let a = self.a20(addr);
        if self.plain(a, 2) {
            self.mem.ram[a as usize..a as usize + 2].copy_from_slice(&v.to_le_bytes());
        } else {
            self.write8(addr, v as u8);
            self.write8(addr.wrapping_add(1), (v >> 8) as u8);
        }
    }
    #[inline(always)]
    fn write32(&mut self, addr: u32, v: u32) {
        let a = self.a20(addr);
        if self.plain(a, 4) {
            self.mem.ram[a as usize..a as usize + 4].copy_from_slice(&v.to_le_bytes());
        } else {
            for k in 0..4 {
                self.write8(addr.wrapping_add(k), (v >> (8 * k)) as u8);
            }
        }
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        self.chip.io_read(port, size, self.now)
    }
    fn host_page(&mut self, page_addr: u32) -> Option<*mut u8> {
        let a = self.a20(page_addr & !0xFFF);
        if self.plain(a, 0x1000) {
            Some(self.mem.ram[a as usize..].as_mut_ptr())
        } else {
            None
        }
    }
    fn host_page_read(&mut self, page_addr: u32) -> Option<*const u8> {
        let a = self.a20(page_addr & !0xFFF);
        if self.plain(a, 0x1000) {
            return Some(self.mem.ram[a as usize..].as_ptr());
        }
        if !(0xC_0000..0x10_0000).contains(&a) {
            return None;
        }
        if pam_rw(&self.pam, a).0 {
            return (a < self.ram_size).then(|| self.mem.ram[a as usize..].as_ptr());
        }
        // The BIOS image's alias below 1 MiB (reads of shadowed segments that read ROM).
        let low = self.bios.len().min(BIOS_LOW_MAX) as u32;
        (a >= 0x10_0000 - low)
            .then(|| self.bios[self.bios.len() - (0x10_0000 - a) as usize..].as_ptr())
    }
    fn map_epoch(&self) -> u64 {
        // A20 and the PAM registers decide what `host_page_read` answers.
        let mut pam = [0u8; 8];
        pam[..7].copy_from_slice(&self.pam);
        u64::from_le_bytes(pam) << 1 | self.chip.a20 as u64
    }
    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        self.chip
            .io_write(port, size, value, self.now, &mut self.mem);
        if port >= 0xCF8 && port <= 0xCFF && self.chip.pci.host.take_memory_map_changed() {
            self.pam = self.chip.pci.host.pam_attributes();
        }
        if (port & 0xFFF0 == 0x00 || port & 0xFFF0 == 0xC0 || port & 0xFFF0 == 0xD0)
            && port != 0xCF9
        {
            // An 8237 register changed: a waiting floppy transfer may now run.
            self.chip.service_dma(self.now, &mut self.mem);
        }
    }
    #[inline]
    fn intr_pending(&mut self) -> bool {
        self.chip.pic.intr_pending()
    }
    fn ack_intr(&mut self) -> Option<u8> {
        let v = self.chip.pic.acknowledge();
        self.chip.pic.update_lines(&mut self.chip.irq);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pam_segments() {
        let mut pam = [0u8; 7];
        assert_eq!(pam_rw(&pam, 0xF_0000), (false, false));
        pam[0] = 0x30;
        assert_eq!(pam_rw(&pam, 0xF_FFFF), (true, true));
        pam[1] = 0x12; // C0000: WE only; C4000: RE only
        assert_eq!(pam_rw(&pam, 0xC_0000), (false, true));
        assert_eq!(pam_rw(&pam, 0xC_4000), (true, false));
        pam[6] = 0x30; // EC000: RE|WE
        assert_eq!(pam_rw(&pam, 0xE_C000), (true, true));
        assert_eq!(pam_rw(&pam, 0xE_8000), (false, false));
    }
}
