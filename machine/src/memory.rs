//! Guest physical memory of the minimal board: RAM in one anonymous `memmap2` mapping from
//! address 0, and a BIOS ROM mapped so that it ends at 0xFFFF_FFFF, with its last 128 KiB (or the
//! whole image if smaller) aliased to end at 0xF_FFFF, as on a PC. The alias shadows RAM; ROM is
//! read-only (writes are ignored); unmapped addresses read 0xFF.

use memmap2::MmapMut;

/// Smallest and largest BIOS image accepted, and the size unit (as QEMU: multiples of 64 KiB).
pub const ROM_MIN: usize = 64 * 1024;
pub const ROM_MAX: usize = 256 * 1024;
pub const ROM_UNIT: usize = 64 * 1024;
/// Largest part of the ROM that is aliased below 1 MiB.
pub const ROM_LOW_ALIAS_MAX: usize = 128 * 1024;
/// RAM limits (MiB): at least the first megabyte, at most 3 GiB (below the ROM and MMIO).
pub const RAM_MIN_MIB: u32 = 1;
pub const RAM_MAX_MIB: u32 = 3072;

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("BIOS image is empty")]
    RomEmpty,
    #[error("BIOS image is {0} bytes; it must be a multiple of 64 KiB")]
    RomOddSize(usize),
    #[error("BIOS image is {0} bytes; it must be between 64 KiB and 256 KiB")]
    RomSize(usize),
    #[error("memory size {0} MiB is out of range ({RAM_MIN_MIB}..={RAM_MAX_MIB} MiB)")]
    RamSize(u32),
    #[error("cannot map guest RAM: {0}")]
    Map(#[from] std::io::Error),
}

/// RAM plus the BIOS ROM.
pub struct Memory {
    ram: MmapMut,
    rom: Box<[u8]>,
    /// First address of the ROM at the top of 4 GiB.
    rom_base: u32,
    /// First address of the low alias (it ends at 0xF_FFFF).
    alias_base: u32,
    /// Offset into `rom` of the byte seen at `alias_base`.
    alias_off: usize,
}

impl Memory {
    /// Check a BIOS image's size.
    pub fn check_rom(rom: &[u8]) -> Result<(), MemoryError> {
        if rom.is_empty() {
            Err(MemoryError::RomEmpty)
        } else if rom.len() % ROM_UNIT != 0 {
            Err(MemoryError::RomOddSize(rom.len()))
        } else if !(ROM_MIN..=ROM_MAX).contains(&rom.len()) {
            Err(MemoryError::RomSize(rom.len()))
        } else {
            Ok(())
        }
    }

    pub fn new(ram_mib: u32, rom: Vec<u8>) -> Result<Memory, MemoryError> {
        Self::check_rom(&rom)?;
        if !(RAM_MIN_MIB..=RAM_MAX_MIB).contains(&ram_mib) {
            return Err(MemoryError::RamSize(ram_mib));
        }
        let ram = MmapMut::map_anon(ram_mib as usize * 1024 * 1024)?;
        let alias_len = rom.len().min(ROM_LOW_ALIAS_MAX);
        Ok(Memory {
            ram,
            rom_base: (0x1_0000_0000u64 - rom.len() as u64) as u32,
            alias_base: 0x10_0000 - alias_len as u32,
            alias_off: rom.len() - alias_len,
            rom: rom.into_boxed_slice(),
        })
    }

    pub fn ram_size(&self) -> u32 {
        self.ram.len() as u32
    }

    /// The RAM bytes (for loaders, the debugger, tests).
    pub fn ram(&self) -> &[u8] {
        &self.ram
    }
    pub fn ram_mut(&mut self) -> &mut [u8] {
        &mut self.ram
    }

    /// Is `[addr, addr+len)` plain RAM (not shadowed by the ROM alias)?
    #[inline]
    fn plain_ram(&self, addr: u32, len: u32) -> bool {
        let end = addr as u64 + len as u64;
        end <= self.ram.len() as u64 && (end <= self.alias_base as u64 || addr >= 0x10_0000)
    }

    #[inline]
    pub fn read8(&self, addr: u32) -> u8 {
        if addr >= self.alias_base && addr < 0x10_0000 {
            self.rom[self.alias_off + (addr - self.alias_base) as usize]
        } else if (addr as usize) < self.ram.len() {
            self.ram[addr as usize]
        } else if addr >= self.rom_base {
            self.rom[(addr - self.rom_base) as usize]
        } else {
            0xFF
        }
    }

    #[inline]
    pub fn write8(&mut self, addr: u32, v: u8) {
        if (addr as usize) < self.ram.len() && !(addr >= self.alias_base && addr < 0x10_0000) {
            self.ram[addr as usize] = v;
        }
    }

    #[inline]
    pub fn read16(&self, addr: u32) -> u16 {
        if self.plain_ram(addr, 2) {
            let a = addr as usize;
            u16::from_le_bytes([self.ram[a], self.ram[a + 1]])
        } else {
            u16::from_le_bytes([self.read8(addr), self.read8(addr.wrapping_add(1))])
        }
    }

    #[inline]
    pub fn read32(&self, addr: u32) -> u32 {
        if self.plain_ram(addr, 4) {
            let a = addr as usize;
            u32::from_le_bytes([
                self.ram[a],
                self.ram[a + 1],
                self.ram[a + 2],
                self.ram[a + 3],
            ])
        } else {
            (0..4).fold(0, |v, i| {
                v | (self.read8(addr.wrapping_add(i)) as u32) << (8 * i)
            })
        }
    }

    #[inline]
    pub fn write16(&mut self, addr: u32, v: u16) {
        if self.plain_ram(addr, 2) {
            self.ram[addr as usize..addr as usize + 2].copy_from_slice(&v.to_le_bytes());
        } else {
            self.write8(addr, v as u8);
            self.write8(addr.wrapping_add(1), (v >> 8) as u8);
        }
    }

    #[inline]
    pub fn write32(&mut self, addr: u32, v: u32) {
        if self.plain_ram(addr, 4) {
            self.ram[addr as usize..addr as usize + 4].copy_from_slice(&v.to_le_bytes());
        } else {
            for (i, b) in v.to_le_bytes().into_iter().enumerate() {
                self.write8(addr.wrapping_add(i as u32), b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rom(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i / 4096) as u8).collect()
    }

    #[test]
    fn rom_sizes() {
        assert!(matches!(Memory::check_rom(&[]), Err(MemoryError::RomEmpty)));
        assert!(matches!(
            Memory::check_rom(&[0; 1000]),
            Err(MemoryError::RomOddSize(1000))
        ));
        assert!(matches!(
            Memory::check_rom(&vec![0; 512 * 1024]),
            Err(MemoryError::RomSize(_))
        ));
        assert!(Memory::check_rom(&vec![0; 64 * 1024]).is_ok());
        assert!(Memory::check_rom(&vec![0; 256 * 1024]).is_ok());
        assert!(matches!(
            Memory::new(0, rom(65536)),
            Err(MemoryError::RamSize(0))
        ));
    }

    #[test]
    fn map_64k() {
        let mut m = Memory::new(2, rom(64 * 1024)).unwrap();
        // Top of 4 GiB and the low alias see the same bytes.
        assert_eq!(m.read8(0xFFFF_0000), 0);
        assert_eq!(m.read8(0xFFFF_FFFF), 15);
        assert_eq!(m.read8(0xF_0000), 0);
        assert_eq!(m.read8(0xF_FFFF), 15);
        assert_eq!(m.read32(0xF_FFFE), 0x0000_0F0F); // crosses from the alias into RAM
                                                     // ROM is read-only in both places.
        m.write8(0xF_1000, 0xAA);
        m.write32(0xFFFF_1000, 0xAAAA_AAAA);
        assert_eq!(m.read8(0xF_1000), 1);
        assert_eq!(m.read8(0xFFFF_1000), 1);
        // RAM below the alias, and above 1 MiB.
        m.write32(0xE_FFFE, 0x1234_5678);
        assert_eq!(m.read16(0xE_FFFE), 0x5678);
        assert_eq!(m.read8(0xF_0000), 0); // the upper half went to ROM and was ignored
        m.write16(0x1F_FFFE, 0xBEEF);
        assert_eq!(m.read16(0x1F_FFFE), 0xBEEF);
        // Unmapped: past RAM, below the ROM.
        assert_eq!(m.read8(0x20_0000), 0xFF);
        assert_eq!(m.read32(0x8000_0000), 0xFFFF_FFFF);
        assert_eq!(m.read8(0xFFFE_FFFF), 0xFF);
        m.write8(0x20_0000, 1); // ignored, no panic
    }

    #[test]
    fn map_256k_aliases_last_128k() {
        let m = Memory::new(1, rom(256 * 1024)).unwrap();
        assert_eq!(m.read8(0xFFFC_0000), 0);
        assert_eq!(m.read8(0xE_0000), 32); // ROM offset 128 KiB
        assert_eq!(m.read8(0xF_FFFF), 63);
        assert_eq!(m.read8(0xD_FFFF), 0); // RAM
    }
}
