//! Intel 82441FX PMC (i440FX host bridge), PCI 00.0, 8086:1237.
//!
//! Reference: Intel 440FX PCIset 82441FX PMC / 82442FX DBX datasheet (PAM registers 0x59-0x5F,
//! SMRAM control 0x72); QEMU hw/pci-host/i440fx.c for defaults.
//!
//! The bridge itself only holds configuration registers; the machine's memory map applies
//! them: [`I440fx::pam_segments`] says, for each BIOS/option-ROM segment of 0xC0000-0xFFFFF,
//! whether reads and writes go to DRAM (shadow RAM) or to the ROM/PCI side, and
//! [`I440fx::take_memory_map_changed`] tells it when to look again.
//!
//! Known gaps: DRAM row boundaries, timing and error registers are plain storage; SMRAM
//! control only reports its register (the machine decides what open/closed SMRAM maps).

use super::{PciConfig, PciFunction};

/// First PAM register (0x59 covers 0xF0000-0xFFFFF in its high nibble).
pub const PAM0: u8 = 0x59;
/// SMRAM control register.
pub const SMRAM: u8 = 0x72;

const SMRAM_D_OPEN: u8 = 0x40;
const SMRAM_D_CLS: u8 = 0x20;
const SMRAM_D_LCK: u8 = 0x10;
const SMRAM_G_SMRAME: u8 = 0x08;

/// One shadowable segment and where its accesses go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PamSegment {
    pub base: u32,
    pub len: u32,
    /// Reads come from DRAM (else from ROM / PCI).
    pub read_dram: bool,
    /// Writes go to DRAM (else to ROM / PCI, i.e. are dropped for a ROM).
    pub write_dram: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct I440fx {
    config: PciConfig,
    changed: bool,
}

impl Default for I440fx {
    fn default() -> Self {
        Self::new()
    }
}

impl I440fx {
    pub fn new() -> Self {
        let mut config = PciConfig::new(0x8086, 0x1237, 0x06_00_00, 0x02, 0x00);
        config.set_u16(0x04, 0x0006);
        config.set_u16(0x06, 0x0280);
        config.set_writable_range(0x50..=0x58);
        config.set_wmask(PAM0, 0x30);
        for r in PAM0 + 1..=PAM0 + 6 {
            config.set_wmask(r, 0x33);
        }
        config.set_writable_range(0x60..=0x71);
        config.set_byte(SMRAM, 0x02);
        config.set_wmask(
            SMRAM,
            SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME,
        );
        config.set_writable_range(0x73..=0x7F);
        Self {
            config,
            changed: true,
        }
    }

    pub fn config(&self) -> &PciConfig {
        &self.config
    }

    /// The raw PAM registers 0x59-0x5F.
    pub fn pam_attributes(&self) -> [u8; 7] {
        std::array::from_fn(|i| self.config.byte(PAM0 + i as u8))
    }

    /// The 13 segments PAM controls: 0xF0000 (64 KiB) first, then 0xC0000..0xEC000 in 16 KiB
    /// steps.
    pub fn pam_segments(&self) -> [PamSegment; 13] {
        let pam = self.pam_attributes();
        std::array::from_fn(|i| {
            let (base, len, nibble) = if i == 0 {
                (0xF0000, 0x10000, pam[0] >> 4)
            } else {
                let k = i - 1;
                let byte = pam[1 + k / 2];
                let nib = if k % 2 == 0 { byte & 0xF } else { byte >> 4 };
                (0xC0000 + 0x4000 * k as u32, 0x4000, nib)
            };
            PamSegment {
                base,
                len,
                read_dram: nibble & 1 != 0,
                write_dram: nibble & 2 != 0,
            }
        })
    }

    /// Where an access to `addr` in 0xC0000-0xFFFFF goes; None outside that window.
    pub fn pam_segment_for(&self, addr: u32) -> Option<PamSegment> {
        self.pam_segments()
            .into_iter()
            .find(|s| addr >= s.base && addr - s.base < s.len)
    }

    /// The SMRAM control register.
    pub fn smram(&self) -> u8 {
        self.config.byte(SMRAM)
    }

    /// SMRAM (0xA0000-0xBFFFF) visible to non-SMM accesses: enabled and D_OPEN.
    pub fn smram_open(&self) -> bool {
        let s = self.smram();
        s & SMRAM_G_SMRAME != 0 && s & SMRAM_D_OPEN != 0
    }

    /// True once after PAM or SMRAM changed (and once after construction).
    pub fn take_memory_map_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

impl PciFunction for I440fx {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }

    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        let pam_before = self.pam_attributes();
        let smram_before = self.smram();
        self.config.write(offset, size, value);
        let mut smram = self.smram();
        if smram & SMRAM_D_LCK != 0 {
            // Locked: D_OPEN forced closed; only D_CLS stays writable until reset.
            smram &= !SMRAM_D_OPEN;
            self.config.set_byte(SMRAM, smram);
            self.config.set_wmask(SMRAM, SMRAM_D_CLS);
        }
        if self.pam_attributes() != pam_before || smram != smram_before {
            self.changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pam_writes_map_segments() {
        let mut b = I440fx::new();
        assert!(b.take_memory_map_changed());
        assert!(!b.take_memory_map_changed());
        assert!(b
            .pam_segments()
            .iter()
            .all(|s| !s.read_dram && !s.write_dram));
        // Dword write at 0x58 covers 0x59-0x5B: F-segment RW, C0000 read, C4000 write.
        b.config_write(0x58, 4, 0x21_30_30_00);
        b.config_write(0x5A, 1, 0x21);
        assert!(b.take_memory_map_changed());
        assert_eq!(b.pam_attributes()[0], 0x30);
        let f = b.pam_segment_for(0xF1234).unwrap();
        assert_eq!(
            (f.base, f.len, f.read_dram, f.write_dram),
            (0xF0000, 0x10000, true, true)
        );
        let c0 = b.pam_segment_for(0xC0000).unwrap();
        assert!(c0.read_dram && !c0.write_dram);
        let c4 = b.pam_segment_for(0xC7FFF).unwrap();
        assert_eq!(c4.base, 0xC4000);
        assert!(!c4.read_dram && c4.write_dram);
        assert!(b.pam_segment_for(0xB8000).is_none());
        // Reserved bits are not writable.
        b.config_write(0x5F, 1, 0xFF);
        assert_eq!(b.config_read(0x5F, 1), 0x33);
        let last = b.pam_segments()[12];
        assert_eq!(last.base, 0xEC000);
        assert!(last.read_dram && last.write_dram);
    }

    #[test]
    fn smram_lock() {
        let mut b = I440fx::new();
        assert_eq!(b.config_read(SMRAM, 1), 0x02);
        b.config_write(SMRAM, 1, 0x4A);
        assert!(b.smram_open());
        b.config_write(SMRAM, 1, 0x5A);
        assert!(!b.smram_open());
        assert_eq!(b.smram() & SMRAM_D_LCK, SMRAM_D_LCK);
        b.config_write(SMRAM, 1, 0x42);
        assert!(!b.smram_open());
        assert_eq!(b.smram() & 0x07, 0x02);
    }
}
