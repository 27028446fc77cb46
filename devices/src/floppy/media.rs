//! Floppy media formats and drive types: geometry, data rate and the CMOS drive-type codes.
//!
//! Reference: IBM PC/AT BIOS technical reference (CMOS byte 0x10); 82077AA datasheet data
//! rate table; QEMU hw/block/fdc.c format table.

#[derive(Debug, thiserror::Error)]
pub enum FloppyError {
    #[error("floppy image of {0} bytes is larger than any floppy format (2.88 MB at most)")]
    TooLarge(u64),
    #[error("no floppy drive {0} (drives are 0-3)")]
    NoDrive(usize),
}

/// Drive types as the RTC's CMOS byte 0x10 encodes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FloppyType {
    #[default]
    None,
    K360,
    M1_2,
    K720,
    M1_44,
    M2_88,
}

impl FloppyType {
    pub fn cmos_code(self) -> u8 {
        match self {
            FloppyType::None => 0,
            FloppyType::K360 => 1,
            FloppyType::M1_2 => 2,
            FloppyType::K720 => 3,
            FloppyType::M1_44 => 4,
            FloppyType::M2_88 => 5,
        }
    }
}

/// Geometry and data rate of a medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Format {
    pub tracks: u8,
    pub heads: u8,
    pub spt: u8,
    /// Data rate code as programmed in CCR/DSR: 0 = 500, 1 = 300, 2 = 250, 3 = 1000 kbit/s.
    pub rate: u8,
}

impl Format {
    pub fn bytes(&self) -> u64 {
        self.tracks as u64 * self.heads as u64 * self.spt as u64 * 512
    }
}

const FORMATS: [(Format, FloppyType); 9] = [
    (
        Format {
            tracks: 40,
            heads: 1,
            spt: 8,
            rate: 2,
        },
        FloppyType::K360,
    ),
    (
        Format {
            tracks: 40,
            heads: 1,
            spt: 9,
            rate: 2,
        },
        FloppyType::K360,
    ),
    (
        Format {
            tracks: 40,
            heads: 2,
            spt: 8,
            rate: 2,
        },
        FloppyType::K360,
    ),
    (
        Format {
            tracks: 40,
            heads: 2,
            spt: 9,
            rate: 2,
        },
        FloppyType::K360,
    ),
    (
        Format {
            tracks: 80,
            heads: 2,
            spt: 9,
            rate: 2,
        },
        FloppyType::M1_44,
    ),
    (
        Format {
            tracks: 80,
            heads: 2,
            spt: 15,
            rate: 0,
        },
        FloppyType::M1_2,
    ),
    (
        Format {
            tracks: 80,
            heads: 2,
            spt: 18,
            rate: 0,
        },
        FloppyType::M1_44,
    ),
    (
        Format {
            tracks: 80,
            heads: 2,
            spt: 21,
            rate: 0,
        },
        FloppyType::M1_44,
    ),
    (
        Format {
            tracks: 80,
            heads: 2,
            spt: 36,
            rate: 3,
        },
        FloppyType::M2_88,
    ),
];

/// The format of an image of `len` bytes: exact match, else the smallest that holds it.
pub fn format_for_size(len: u64) -> Option<(Format, FloppyType)> {
    FORMATS
        .iter()
        .find(|(f, _)| f.bytes() == len)
        .or_else(|| {
            FORMATS
                .iter()
                .filter(|(f, _)| f.bytes() >= len)
                .min_by_key(|(f, _)| f.bytes())
        })
        .copied()
}
