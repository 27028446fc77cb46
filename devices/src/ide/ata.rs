//! One device on an IDE channel: task-file registers, PIO/DMA data phases and the ATA command
//! set of a hard disk (ATAPI packet commands are in `atapi.rs`).
//!
//! Reference: ATA/ATAPI-6 (T13/1410D rev 3b) for commands, IDENTIFY DEVICE words and the
//! status/error protocol; QEMU hw/ide/core.c for the details SeaBIOS and Linux rely on
//! (signatures, which commands raise INTRQ, register values after reset).
//!
//! Commands: IDENTIFY DEVICE, READ/WRITE SECTOR(S) (+EXT), READ/WRITE MULTIPLE (+EXT),
//! SET MULTIPLE MODE, READ/WRITE DMA (+EXT), READ VERIFY (+EXT), SEEK, RECALIBRATE,
//! SET FEATURES (transfer mode, caches), INITIALIZE DEVICE PARAMETERS, IDLE/STANDBY/SLEEP,
//! CHECK POWER MODE, FLUSH CACHE (+EXT), READ NATIVE MAX ADDRESS (+EXT), EXECUTE DEVICE
//! DIAGNOSTIC (channel level, in `mod.rs`). Unknown commands abort (ERR+ABRT).
//!
//! Errors: an out-of-range or invalid CHS/LBA → ERR + IDNF; a host I/O error → ERR + UNC,
//! logged with `tracing::error!` and counted in [`Drive::io_errors`].
//!
//! Known gaps: commands complete synchronously (BSY is never observed); no SMART, no security
//! or HPA commands, no write-cache emulation (writes go straight to the backend), no TRIM.

use super::atapi::AtapiState;
use crate::block::BlockBackend;
use crate::pci::ide_pci::PrdCursor;
use crate::DmaMemory;

pub const STATUS_BSY: u8 = 0x80;
pub const STATUS_DRDY: u8 = 0x40;
pub const STATUS_DF: u8 = 0x20;
pub const STATUS_DSC: u8 = 0x10;
pub const STATUS_DRQ: u8 = 0x08;
pub const STATUS_ERR: u8 = 0x01;

pub const ERROR_ABRT: u8 = 0x04;
pub const ERROR_IDNF: u8 = 0x10;
pub const ERROR_UNC: u8 = 0x40;

/// Sectors per block of READ/WRITE MULTIPLE this device accepts at most.
pub const MAX_MULT_SECTORS: u8 = 16;
/// Sectors moved per chunk of a DMA transfer.
const DMA_CHUNK_SECTORS: u64 = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DriveKind {
    Absent,
    Disk,
    Cdrom,
}

/// What the data register is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Phase {
    Idle,
    /// One buffer to the host (IDENTIFY), then done.
    DataIn,
    /// Disk sectors to the host, block by block.
    SectorsIn,
    /// Disk sectors from the host, block by block.
    SectorsOut,
    /// Receiving a 12-byte ATAPI command packet.
    Packet,
    /// ATAPI data to the host in byte-count-limited chunks.
    AtapiIn,
    /// Waiting for (or in) a bus-master transfer.
    Dma,
}

/// How a bus-master transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DmaEnd {
    /// The command finished (successfully or with an error status); INTRQ was requested.
    Complete,
    /// The PRD table ran out before the device's data did.
    PrdShort,
}

/// A device (or an empty position) on an IDE channel.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Drive {
    pub(crate) kind: DriveKind,
    /// The medium; not part of snapshots (re-attach with [`Drive::attach`]).
    #[serde(skip)]
    pub(crate) backend: Option<Box<dyn BlockBackend>>,
    /// Capacity in sectors (512 bytes for disks, 2048 for CD-ROMs).
    pub(crate) total: u64,
    cylinders: u16,
    heads: u8,
    spt: u8,
    cur_heads: u8,
    cur_spt: u8,
    serial: String,
    model: String,

    pub(crate) feature: u8,
    pub(crate) hob_feature: u8,
    pub(crate) nsector: u8,
    pub(crate) hob_nsector: u8,
    pub(crate) sector: u8,
    pub(crate) hob_sector: u8,
    pub(crate) lcyl: u8,
    pub(crate) hob_lcyl: u8,
    pub(crate) hcyl: u8,
    pub(crate) hob_hcyl: u8,
    pub(crate) select: u8,
    pub(crate) status: u8,
    pub(crate) error: u8,

    pub(crate) phase: Phase,
    pub(crate) buf: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) end: usize,
    pub(crate) lba: u64,
    pub(crate) remaining: u64,
    block: u64,
    lba48: bool,
    pub(crate) dma_write: bool,
    mult_sectors: u8,
    xfer_mode: u8,
    /// Set when the device wants INTRQ asserted; taken by the channel.
    pub(crate) irq: bool,
    pub(crate) atapi: AtapiState,
    logged: [u64; 4],
    /// Host I/O errors seen (each also logged).
    pub io_errors: u64,
}

/// Log a message the first time `key` is seen in `set`.
pub(crate) fn log_once(set: &mut [u64; 4], key: u8, msg: impl FnOnce() -> String) {
    let (i, bit) = ((key / 64) as usize, 1u64 << (key % 64));
    if set[i] & bit == 0 {
        set[i] |= bit;
        tracing::warn!("{}", msg());
    }
}

/// Put an ATA string (space padded, two characters per word, first in the high byte).
fn put_string(words: &mut [u16], s: &str) {
    let mut bytes: Vec<u8> = s.bytes().take(words.len() * 2).collect();
    bytes.resize(words.len() * 2, b' ');
    for (i, w) in words.iter_mut().enumerate() {
        *w = (bytes[2 * i] as u16) << 8 | bytes[2 * i + 1] as u16;
    }
}

/// Turn 256 IDENTIFY words into bytes, with the integrity word (255) filled in.
pub(crate) fn identify_bytes(w: &mut [u16; 256]) -> Vec<u8> {
    w[255] = 0x00A5;
    let mut bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
    let sum = bytes[..511].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    bytes[511] = 0u8.wrapping_sub(sum);
    bytes
}

impl Drive {
    fn blank(kind: DriveKind, backend: Option<Box<dyn BlockBackend>>, serial: &str) -> Self {
        let mut d = Self {
            kind,
            backend: None,
            total: 0,
            cylinders: 0,
            heads: 16,
            spt: 63,
            cur_heads: 16,
            cur_spt: 63,
            serial: serial.to_string(),
            model: match kind {
                DriveKind::Cdrom => "IRONBOX DVD-ROM".to_string(),
                _ => "IRONBOX HARDDISK".to_string(),
            },
            feature: 0,
            hob_feature: 0,
            nsector: 0,
            hob_nsector: 0,
            sector: 0,
            hob_sector: 0,
            lcyl: 0,
            hob_lcyl: 0,
            hcyl: 0,
            hob_hcyl: 0,
            select: 0xA0,
            status: 0,
            error: 0,
            phase: Phase::Idle,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            lba: 0,
            remaining: 0,
            block: 1,
            lba48: false,
            dma_write: false,
            mult_sectors: MAX_MULT_SECTORS,
            xfer_mode: 0x22,
            irq: false,
            atapi: AtapiState::default(),
            logged: [0; 4],
            io_errors: 0,
        };
        d.attach(backend);
        d.reset();
        d
    }

    /// No device at this position.
    pub fn absent() -> Self {
        Self::blank(DriveKind::Absent, None, "")
    }

    /// A hard disk over `backend` (its length is rounded down to whole 512-byte sectors).
    pub fn disk(backend: Box<dyn BlockBackend>, serial: &str) -> Self {
        Self::blank(DriveKind::Disk, Some(backend), serial)
    }

    /// An ATAPI CD-ROM drive, with or without a disc (2048-byte sectors).
    pub fn cdrom(medium: Option<Box<dyn BlockBackend>>, serial: &str) -> Self {
        let mut d = Self::blank(DriveKind::Cdrom, medium, serial);
        d.atapi.unit_attention = false;
        d
    }

    pub fn kind(&self) -> DriveKind {
        self.kind
    }

    pub fn present(&self) -> bool {
        self.kind != DriveKind::Absent
    }

    /// Attach (or, after restoring a snapshot, re-attach) the medium. For a disk this also sets
    /// the geometry: 16 heads, 63 sectors, up to 16383 cylinders.
    pub fn attach(&mut self, backend: Option<Box<dyn BlockBackend>>) {
        let len = backend.as_ref().map_or(0, |b| b.len());
        self.backend = backend;
        match self.kind {
            DriveKind::Disk => {
                self.total = len / 512;
                self.heads = 16;
                self.spt = 63;
                self.cylinders = (self.total / (16 * 63)).clamp(1, 16383) as u16;
            }
            DriveKind::Cdrom => self.total = len / 2048,
            DriveKind::Absent => self.total = 0,
        }
    }

    /// Power-on / software reset: abort any command and present the signature.
    pub(crate) fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.buf.clear();
        self.pos = 0;
        self.end = 0;
        self.irq = false;
        self.feature = 0;
        self.hob_feature = 0;
        self.hob_nsector = 0;
        self.hob_sector = 0;
        self.hob_lcyl = 0;
        self.hob_hcyl = 0;
        self.mult_sectors = MAX_MULT_SECTORS;
        self.cur_heads = self.heads;
        self.cur_spt = self.spt;
        self.set_signature();
        self.error = 0x01;
        self.status = match self.kind {
            DriveKind::Disk => STATUS_DRDY | STATUS_DSC,
            _ => 0,
        };
    }

    pub(crate) fn set_signature(&mut self) {
        self.select &= 0xF0;
        self.nsector = 1;
        self.sector = 1;
        (self.lcyl, self.hcyl) = match (self.kind, self.backend.is_some()) {
            (DriveKind::Cdrom, _) => (0x14, 0xEB),
            (DriveKind::Disk, _) => (0, 0),
            (DriveKind::Absent, _) => (0xFF, 0xFF),
        };
    }

    pub(crate) fn log_once(&mut self, key: u8, msg: impl FnOnce() -> String) {
        log_once(&mut self.logged, key, msg)
    }

    // ---- status helpers ----

    pub(crate) fn finish_ok(&mut self) {
        self.phase = Phase::Idle;
        self.status = STATUS_DRDY | STATUS_DSC;
        self.irq = true;
    }

    pub(crate) fn fail(&mut self, error: u8) {
        self.phase = Phase::Idle;
        self.error = error;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_ERR;
        self.irq = true;
    }

    pub(crate) fn abort(&mut self) {
        self.phase = Phase::Idle;
        self.error = ERROR_ABRT;
        self.status = STATUS_DRDY | STATUS_ERR;
        self.irq = true;
    }

    fn io_error(&mut self, what: &str, e: std::io::Error) {
        self.io_errors += 1;
        tracing::error!("ide: {} error at sector {}: {}", what, self.lba, e);
        self.fail(ERROR_UNC);
    }

    /// Start a PIO data-in phase from `buf[0..len]`.
    pub(crate) fn start_data_in(&mut self, phase: Phase, len: usize) {
        self.phase = phase;
        self.pos = 0;
        self.end = len;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.irq = true;
    }

    // ---- addressing ----

    fn lba_mode(&self) -> bool {
        self.select & 0x40 != 0
    }

    fn current_lba(&self, lba48: bool) -> Option<u64> {
        if self.lba_mode() {
            let lo = (self.hcyl as u64) << 16 | (self.lcyl as u64) << 8 | self.sector as u64;
            Some(if lba48 {
                (self.hob_hcyl as u64) << 40
                    | (self.hob_lcyl as u64) << 32
                    | (self.hob_sector as u64) << 24
                    | lo
            } else {
                ((self.select & 0x0F) as u64) << 24 | lo
            })
        } else {
            let cyl = (self.hcyl as u64) << 8 | self.lcyl as u64;
            let head = (self.select & 0x0F) as u64;
            let sec = self.sector as u64;
            if sec == 0 || sec > self.cur_spt as u64 || head >= self.cur_heads as u64 {
                return None;
            }
            Some((cyl * self.cur_heads as u64 + head) * self.cur_spt as u64 + sec - 1)
        }
    }

    fn sector_count(&self, lba48: bool) -> u64 {
        if lba48 {
            match (self.hob_nsector as u64) << 8 | self.nsector as u64 {
                0 => 65536,
                n => n,
            }
        } else {
            match self.nsector {
                0 => 256,
                n => n as u64,
            }
        }
    }

    /// Write `lba` back into the address registers, in the addressing mode of the command.
    fn set_lba(&mut self, lba: u64) {
        if self.lba_mode() {
            self.sector = lba as u8;
            self.lcyl = (lba >> 8) as u8;
            self.hcyl = (lba >> 16) as u8;
            if self.lba48 {
                self.hob_sector = (lba >> 24) as u8;
                self.hob_lcyl = (lba >> 32) as u8;
                self.hob_hcyl = (lba >> 40) as u8;
            } else {
                self.select = (self.select & 0xF0) | ((lba >> 24) as u8 & 0x0F);
            }
        } else {
            let per_cyl = self.cur_heads as u64 * self.cur_spt as u64;
            if per_cyl == 0 {
                return;
            }
            let cyl = lba / per_cyl;
            let rest = lba % per_cyl;
            self.lcyl = cyl as u8;
            self.hcyl = (cyl >> 8) as u8;
            self.select = (self.select & 0xF0) | (rest / self.cur_spt as u64) as u8 & 0x0F;
            self.sector = (rest % self.cur_spt as u64 + 1) as u8;
        }
    }

    // ---- sector transfers ----

    /// Validate the command's address range; on success leaves it in `lba`/`remaining`.
    fn begin_range(&mut self, lba48: bool) -> bool {
        self.lba48 = lba48;
        let count = self.sector_count(lba48);
        match self.current_lba(lba48) {
            Some(lba) if lba.checked_add(count).is_some_and(|e| e <= self.total) => {
                self.lba = lba;
                self.remaining = count;
                true
            }
            other => {
                let total = self.total;
                self.log_once(0xFF, || {
                    format!(
                        "ide: sector address out of range ({other:?}+{count}, disk has {total})"
                    )
                });
                self.fail(ERROR_IDNF);
                false
            }
        }
    }

    fn read_pio(&mut self, lba48: bool, block: u64) {
        if self.begin_range(lba48) {
            self.block = block;
            self.load_read_block();
        }
    }

    fn load_read_block(&mut self) {
        let n = self.remaining.min(self.block);
        let len = n as usize * 512;
        self.buf.resize(len, 0);
        let res = match self.backend.as_mut() {
            Some(b) => b.read_at(self.lba * 512, &mut self.buf[..len]),
            None => Err(std::io::Error::other("no medium")),
        };
        match res {
            Ok(()) => {
                self.lba += n;
                self.remaining -= n;
                self.set_lba(self.lba);
                self.start_data_in(Phase::SectorsIn, len);
            }
            Err(e) => self.io_error("read", e),
        }
    }

    fn write_pio(&mut self, lba48: bool, block: u64) {
        if self.begin_range(lba48) {
            self.block = block;
            self.start_write_block();
        }
    }

    fn start_write_block(&mut self) {
        let len = self.remaining.min(self.block) as usize * 512;
        self.buf.clear();
        self.buf.resize(len, 0);
        self.phase = Phase::SectorsOut;
        self.pos = 0;
        self.end = len;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
    }

    fn store_write_block(&mut self) {
        let n = (self.end / 512) as u64;
        let res = match self.backend.as_mut() {
            Some(b) => b.write_at(self.lba * 512, &self.buf[..self.end]),
            None => Err(std::io::Error::other("no medium")),
        };
        if let Err(e) = res {
            return self.io_error("write", e);
        }
        self.lba += n;
        self.remaining -= n;
        self.set_lba(self.lba);
        if self.remaining > 0 {
            self.start_write_block();
            self.irq = true;
        } else {
            self.finish_ok();
        }
    }

    fn start_dma(&mut self, lba48: bool, write: bool) {
        if self.begin_range(lba48) {
            self.dma_write = write;
            self.phase = Phase::Dma;
            self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        }
    }

    /// Run the pending bus-master transfer through `prd`.
    pub(crate) fn run_dma(&mut self, prd: &mut PrdCursor, mem: &mut dyn DmaMemory) -> DmaEnd {
        if self.kind == DriveKind::Cdrom {
            return self.atapi_run_dma(prd, mem);
        }
        while self.remaining > 0 {
            let n = self.remaining.min(DMA_CHUNK_SECTORS);
            let len = n as usize * 512;
            self.buf.resize(len, 0);
            let Some(backend) = self.backend.as_mut() else {
                self.abort();
                return DmaEnd::Complete;
            };
            if self.dma_write {
                let got = prd.from_memory(mem, &mut self.buf[..len]);
                let whole = got / 512 * 512;
                if whole > 0 {
                    if let Err(e) = backend.write_at(self.lba * 512, &self.buf[..whole]) {
                        self.io_error("DMA write", e);
                        return DmaEnd::Complete;
                    }
                }
                self.lba += (whole / 512) as u64;
                self.remaining -= (whole / 512) as u64;
                if got < len {
                    return self.prd_short();
                }
            } else {
                if let Err(e) = backend.read_at(self.lba * 512, &mut self.buf[..len]) {
                    self.io_error("DMA read", e);
                    return DmaEnd::Complete;
                }
                let put = prd.to_memory(mem, &self.buf[..len]);
                self.lba += (put / 512) as u64;
                self.remaining -= (put / 512) as u64;
                if put < len {
                    return self.prd_short();
                }
            }
        }
        self.set_lba(self.lba);
        self.finish_ok();
        DmaEnd::Complete
    }

    pub(crate) fn prd_short(&mut self) -> DmaEnd {
        self.log_once(0xFE, || {
            "ide: PRD table shorter than the transfer".to_string()
        });
        self.phase = Phase::Idle;
        self.status = STATUS_DRDY | STATUS_DSC;
        DmaEnd::PrdShort
    }

    // ---- data register ----

    /// Read `size` bytes from the data register.
    pub(crate) fn read_data(&mut self, size: u8) -> u32 {
        if !matches!(
            self.phase,
            Phase::DataIn | Phase::SectorsIn | Phase::AtapiIn
        ) || self.status & STATUS_DRQ == 0
        {
            return crate::all_ones(size);
        }
        let mut v = 0u32;
        for i in 0..size.min(4) as usize {
            if self.pos < self.end {
                v |= (self.buf[self.pos] as u32) << (8 * i);
                self.pos += 1;
            }
        }
        if self.pos >= self.end {
            self.data_in_drained();
        }
        v
    }

    fn data_in_drained(&mut self) {
        match self.phase {
            Phase::SectorsIn if self.remaining > 0 => self.load_read_block(),
            Phase::AtapiIn => self.atapi_chunk_done(),
            _ => {
                self.phase = Phase::Idle;
                self.status &= !STATUS_DRQ;
            }
        }
    }

    /// Write `size` bytes to the data register.
    pub(crate) fn write_data(&mut self, size: u8, value: u32) {
        if !matches!(self.phase, Phase::SectorsOut | Phase::Packet) || self.status & STATUS_DRQ == 0
        {
            return;
        }
        for i in 0..size.min(4) as usize {
            if self.pos < self.end {
                self.buf[self.pos] = (value >> (8 * i)) as u8;
                self.pos += 1;
            }
        }
        if self.pos >= self.end {
            match self.phase {
                Phase::SectorsOut => self.store_write_block(),
                _ => self.packet_received(),
            }
        }
    }

    // ---- commands ----

    /// Execute an ATA command written to the command register of this (selected) device.
    pub(crate) fn command(&mut self, cmd: u8) {
        self.irq = false;
        if self.kind == DriveKind::Cdrom {
            return self.atapi_ata_command(cmd);
        }
        self.error = 0;
        let mult = self.mult_sectors as u64;
        match cmd {
            0xEC => self.identify(),
            0x20 | 0x21 => self.read_pio(false, 1),
            0x24 => self.read_pio(true, 1),
            0xC4 | 0x29 if mult == 0 => self.abort(),
            0xC4 => self.read_pio(false, mult),
            0x29 => self.read_pio(true, mult),
            0x30 | 0x31 => self.write_pio(false, 1),
            0x34 => self.write_pio(true, 1),
            0xC5 | 0x39 if mult == 0 => self.abort(),
            0xC5 => self.write_pio(false, mult),
            0x39 => self.write_pio(true, mult),
            0xC8 | 0xC9 => self.start_dma(false, false),
            0x25 => self.start_dma(true, false),
            0xCA | 0xCB => self.start_dma(false, true),
            0x35 => self.start_dma(true, true),
            0x40..=0x42 => {
                if self.begin_range(cmd == 0x42) {
                    self.set_lba(self.lba + self.remaining - 1);
                    self.finish_ok();
                }
            }
            0x70..=0x7F => {
                self.lba48 = false;
                match self.current_lba(false) {
                    Some(l) if l < self.total => self.finish_ok(),
                    _ => self.fail(ERROR_IDNF),
                }
            }
            0x10..=0x1F => {
                self.lcyl = 0;
                self.hcyl = 0;
                self.finish_ok();
            }
            0x91 => {
                let spt = self.nsector;
                if spt == 0 {
                    return self.abort();
                }
                self.cur_heads = (self.select & 0x0F) + 1;
                self.cur_spt = spt;
                self.finish_ok();
            }
            0xC6 => {
                let n = self.nsector;
                if n > MAX_MULT_SECTORS || (n != 0 && !n.is_power_of_two()) {
                    return self.abort();
                }
                self.mult_sectors = n;
                self.finish_ok();
            }
            0xEF => self.set_features(),
            0xE5 | 0x98 => {
                self.nsector = 0xFF;
                self.finish_ok();
            }
            0xE0..=0xE3 | 0xE6 | 0x94..=0x97 | 0x99 => self.finish_ok(),
            0xE7 | 0xEA => {
                let res = self.backend.as_mut().map_or(Ok(()), |b| b.flush());
                match res {
                    Ok(()) => self.finish_ok(),
                    Err(e) => self.io_error("flush", e),
                }
            }
            0xF8 | 0x27 => {
                self.lba48 = cmd == 0x27;
                self.set_lba(self.total.saturating_sub(1));
                self.finish_ok();
            }
            _ => {
                self.log_once(cmd, || format!("ide: unsupported ATA command {cmd:#04x}"));
                self.abort();
            }
        }
    }

    pub(crate) fn set_features(&mut self) {
        match self.feature {
            0x03 => {
                let mode = self.nsector;
                let ok = match mode >> 3 {
                    0 | 1 => mode & 7 <= 4,
                    4 => mode & 7 <= 2,
                    8 => mode & 7 <= 5,
                    _ => false,
                };
                if !ok {
                    return self.abort();
                }
                self.xfer_mode = mode;
                self.finish_ok();
            }
            0x02 | 0x82 | 0xAA | 0x55 | 0xCC | 0x66 | 0x05 | 0x85 | 0x42 | 0xC2 | 0x69 | 0x67
            | 0x96 | 0x9A => self.finish_ok(),
            f => {
                self.log_once(0xEF, || {
                    format!("ide: unsupported SET FEATURES subcommand {f:#04x}")
                });
                self.abort();
            }
        }
    }

    /// IDENTIFY words 62, 63 and 88: supported modes with the selected one.
    pub(crate) fn dma_mode_words(&self) -> (u16, u16, u16) {
        let sel = 1u16 << (self.xfer_mode & 7) << 8;
        match self.xfer_mode >> 3 {
            4 => (0x0007, 0x0007 | sel, 0x003F),
            8 => (0x0007, 0x0007, 0x003F | sel),
            _ => (0x0007, 0x0007, 0x003F),
        }
    }

    pub(crate) fn put_ids(&self, w: &mut [u16; 256]) {
        put_string(&mut w[10..20], &self.serial);
        put_string(&mut w[23..27], "1.0");
        put_string(&mut w[27..47], &self.model);
    }

    fn identify(&mut self) {
        let mut w = [0u16; 256];
        let total = self.total;
        let cur_cyls =
            (total / (self.cur_heads as u64 * self.cur_spt as u64).max(1)).min(65535) as u16;
        let cur_cap = cur_cyls as u32 * self.cur_heads as u32 * self.cur_spt as u32;
        let lba28 = total.min(0x0FFF_FFFF) as u32;
        w[0] = 0x0040;
        w[1] = self.cylinders;
        w[3] = self.heads as u16;
        w[4] = 512 * self.spt as u16;
        w[5] = 512;
        w[6] = self.spt as u16;
        self.put_ids(&mut w);
        w[20] = 3;
        w[21] = 512;
        w[22] = 4;
        w[47] = 0x8000 | MAX_MULT_SECTORS as u16;
        w[48] = 1;
        w[49] = (1 << 11) | (1 << 9) | (1 << 8);
        w[51] = 0x200;
        w[52] = 0x200;
        w[53] = 1 | 2 | 4;
        w[54] = cur_cyls;
        w[55] = self.cur_heads as u16;
        w[56] = self.cur_spt as u16;
        w[57] = cur_cap as u16;
        w[58] = (cur_cap >> 16) as u16;
        if self.mult_sectors != 0 {
            w[59] = 0x100 | self.mult_sectors as u16;
        }
        w[60] = lba28 as u16;
        w[61] = (lba28 >> 16) as u16;
        (w[62], w[63], w[88]) = self.dma_mode_words();
        w[64] = 0x03;
        w[65] = 120;
        w[66] = 120;
        w[67] = 120;
        w[68] = 120;
        w[80] = 0x00F0; // ATA-4 to ATA-7
        w[81] = 0x0016;
        w[82] = (1 << 14) | (1 << 5); // NOP, write cache
        w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10); // FLUSH EXT, FLUSH, LBA48
        w[84] = 1 << 14;
        w[85] = (1 << 14) | (1 << 5);
        w[86] = (1 << 13) | (1 << 12) | (1 << 10);
        w[87] = 1 << 14;
        w[93] = 1 | (1 << 14) | 0x2000;
        for i in 0..4 {
            w[100 + i] = (total >> (16 * i)) as u16;
        }
        self.buf = identify_bytes(&mut w);
        self.start_data_in(Phase::DataIn, 512);
    }

    // ---- task file ----

    /// A write to a command block register (1-5). The previous value becomes the HOB byte.
    pub(crate) fn write_reg(&mut self, reg: u16, v: u8) {
        let (cur, hob) = match reg {
            1 => (&mut self.feature, &mut self.hob_feature),
            2 => (&mut self.nsector, &mut self.hob_nsector),
            3 => (&mut self.sector, &mut self.hob_sector),
            4 => (&mut self.lcyl, &mut self.hob_lcyl),
            5 => (&mut self.hcyl, &mut self.hob_hcyl),
            _ => return,
        };
        *hob = *cur;
        *cur = v;
    }

    /// A read of register 1-6; `hob` selects the previous bytes (device control bit 7).
    pub(crate) fn read_reg(&self, reg: u16, hob: bool) -> u8 {
        match (reg, hob) {
            (1, false) => self.error,
            (1, true) => self.hob_feature,
            (2, false) => self.nsector,
            (2, true) => self.hob_nsector,
            (3, false) => self.sector,
            (3, true) => self.hob_sector,
            (4, false) => self.lcyl,
            (4, true) => self.hob_lcyl,
            (5, false) => self.hcyl,
            (5, true) => self.hob_hcyl,
            _ => self.select,
        }
    }
}
