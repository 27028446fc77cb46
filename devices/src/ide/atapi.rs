//! ATAPI CD-ROM: the PACKET protocol and the MMC/SCSI commands guests use.
//!
//! Reference: ATA/ATAPI-6 ch. 9.10 (PACKET protocol, interrupt reason, byte count limit);
//! INF-8090 / MMC-3 (READ TOC, GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, capabilities
//! mode page 0x2A); SPC-2 (INQUIRY, REQUEST SENSE); QEMU hw/ide/atapi.c for the exact answers
//! SeaBIOS, GRUB and Linux have been tested against.
//!
//! Commands: TEST UNIT READY, REQUEST SENSE, INQUIRY, START STOP UNIT, PREVENT/ALLOW MEDIUM
//! REMOVAL, READ CAPACITY, READ(10), READ(12), READ CD (user data only), SEEK(10), READ TOC
//! (formats 0 and 1, LBA and MSF), GET CONFIGURATION (profile list, core, removable medium),
//! GET EVENT STATUS NOTIFICATION (media class, polled), READ DISC INFORMATION, MODE SENSE(10)
//! (pages 0x01, 0x2A, 0x3F), SET CD SPEED, MECHANISM STATUS. Data goes by PIO (chunked by the
//! byte count limit) or by bus-master DMA (feature bit 0 of PACKET).
//!
//! Errors: CHECK CONDITION with sense NOT READY/3A (no medium), UNIT ATTENTION/28 after a
//! media change, ILLEGAL REQUEST/20 (unknown opcode), /21 (LBA out of range), /24 (bad field),
//! MEDIUM ERROR/11 on a host read error.
//!
//! Known gaps: no audio, no raw (2352-byte) sectors, no DVD structures, no MODE SELECT, no
//! multi-session discs, the image is always read-only.

use super::ata::{
    identify_bytes, log_once, DmaEnd, Drive, Phase, ERROR_ABRT, STATUS_DRDY, STATUS_DRQ,
    STATUS_DSC, STATUS_ERR,
};
use crate::block::BlockBackend;
use crate::pci::ide_pci::PrdCursor;
use crate::DmaMemory;

pub const SENSE_NONE: u8 = 0;
pub const SENSE_NOT_READY: u8 = 2;
pub const SENSE_MEDIUM_ERROR: u8 = 3;
pub const SENSE_ILLEGAL_REQUEST: u8 = 5;
pub const SENSE_UNIT_ATTENTION: u8 = 6;

pub const ASC_INVALID_OPCODE: u8 = 0x20;
pub const ASC_LBA_OUT_OF_RANGE: u8 = 0x21;
pub const ASC_INVALID_FIELD: u8 = 0x24;
pub const ASC_MEDIUM_CHANGED: u8 = 0x28;
pub const ASC_SAVING_NOT_SUPPORTED: u8 = 0x39;
pub const ASC_NO_MEDIUM: u8 = 0x3A;
pub const ASC_READ_ERROR: u8 = 0x11;
pub const ASC_REMOVAL_PREVENTED: u8 = 0x53;

const CD_SECTOR: usize = 2048;
/// Sectors read per PIO chunk at most (also per DMA chunk).
const MAX_CHUNK_SECTORS: u64 = 32;

/// Interrupt reason (sector count register) bits.
const IR_COD: u8 = 0x01;
const IR_IO: u8 = 0x02;

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct AtapiState {
    pub sense_key: u8,
    pub asc: u8,
    pub ascq: u8,
    pub unit_attention: bool,
    pub tray_locked: bool,
    pub tray_open: bool,
    /// Pending media event for GET EVENT STATUS NOTIFICATION (0 none, 2 new, 3 removal).
    pub media_event: u8,
    pub byte_limit: u16,
    pub dma: bool,
    /// The reply is read from the disc (`lba`, `remaining`) rather than held in `buf`.
    pub from_disc: bool,
    pub logged: [u64; 4],
}

fn be16(b: &[u8]) -> u32 {
    (b[0] as u32) << 8 | b[1] as u32
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn put_be16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes());
}
fn put_be32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes());
}

/// Address field of a TOC entry: LBA, or MSF (0, M, S, F) with the 150-frame lead-in.
fn put_addr(b: &mut [u8], lba: u32, msf: bool) {
    if msf {
        let f = lba + 150;
        b[..4].copy_from_slice(&[
            0,
            (f / (75 * 60)) as u8,
            (f / 75 % 60) as u8,
            (f % 75) as u8,
        ]);
    } else {
        put_be32(b, lba);
    }
}

/// INQUIRY-style fixed-width, space-padded ASCII.
fn put_padded(b: &mut [u8], s: &str) {
    b.fill(b' ');
    for (d, c) in b.iter_mut().zip(s.bytes()) {
        *d = c;
    }
}

impl Drive {
    pub(crate) fn medium_present(&self) -> bool {
        self.backend.is_some() && !self.atapi.tray_open
    }

    /// Insert (Some) or remove (None) the disc. A new disc raises a unit attention and a
    /// media event, as a real drive does after the tray closes on it.
    pub fn change_medium(&mut self, medium: Option<Box<dyn BlockBackend>>) {
        let inserted = medium.is_some();
        self.attach(medium);
        self.atapi.tray_open = false;
        self.atapi.media_event = if inserted { 2 } else { 3 };
        if inserted {
            self.atapi.unit_attention = true;
        }
    }

    /// Is the tray locked by PREVENT MEDIUM REMOVAL (the front end should refuse to eject)?
    pub fn medium_locked(&self) -> bool {
        self.atapi.tray_locked
    }

    /// ATA commands addressed to the packet device.
    pub(crate) fn atapi_ata_command(&mut self, cmd: u8) {
        match cmd {
            0xA0 => {
                if self.feature & 0x02 != 0 {
                    return self.abort();
                }
                self.error = 0;
                self.atapi.dma = self.feature & 1 != 0;
                self.atapi.byte_limit = (self.hcyl as u16) << 8 | self.lcyl as u16;
                self.buf.clear();
                self.buf.resize(12, 0);
                self.phase = Phase::Packet;
                self.pos = 0;
                self.end = 12;
                self.nsector = IR_COD;
                self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
            }
            0xA1 => self.identify_packet(),
            0x08 => {
                self.reset();
                self.error = 0x01;
                self.status = 0;
            }
            0xEF => self.set_features(),
            0xE5 | 0x98 => {
                self.nsector = 0xFF;
                self.finish_ok();
            }
            0xE0..=0xE3 | 0xE6 | 0x94..=0x97 | 0x99 => self.finish_ok(),
            0xEC | 0x20 | 0x21 | 0x24 | 0xC4 | 0x29 => {
                // Linux and SeaBIOS probe with these: abort and show the packet signature.
                self.set_signature();
                self.abort();
            }
            _ => {
                self.log_once(cmd, || format!("atapi: unsupported ATA command {cmd:#04x}"));
                self.abort();
            }
        }
    }

    fn identify_packet(&mut self) {
        let mut w = [0u16; 256];
        w[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5);
        self.put_ids(&mut w);
        w[48] = 1;
        w[49] = (1 << 9) | (1 << 8);
        w[53] = 7;
        (w[62], w[63], w[88]) = self.dma_mode_words();
        w[64] = 3;
        w[65] = 0xB4;
        w[66] = 0xB4;
        w[67] = 0x12C;
        w[68] = 0xB4;
        w[71] = 30;
        w[72] = 30;
        w[80] = 0x1E;
        w[82] = 1 << 4 | 1 << 14; // PACKET, NOP
        w[83] = 1 << 14;
        w[84] = 1 << 14;
        w[85] = 1 << 4 | 1 << 14;
        w[87] = 1 << 14;
        w[93] = 1 | (1 << 14) | 0x2000;
        self.buf = identify_bytes(&mut w);
        self.start_data_in(Phase::DataIn, 512);
    }

    // ---- completion ----

    fn atapi_ok(&mut self) {
        self.atapi.sense_key = SENSE_NONE;
        self.atapi.asc = 0;
        self.atapi.ascq = 0;
        self.error = 0;
        self.phase = Phase::Idle;
        self.nsector = IR_IO | IR_COD;
        self.status = STATUS_DRDY | STATUS_DSC;
        self.irq = true;
    }

    /// CHECK CONDITION with the given sense.
    pub(crate) fn check_condition(&mut self, key: u8, asc: u8, ascq: u8) {
        self.atapi.sense_key = key;
        self.atapi.asc = asc;
        self.atapi.ascq = ascq;
        self.error = key << 4
            | if key == SENSE_ILLEGAL_REQUEST {
                ERROR_ABRT
            } else {
                0
            };
        self.phase = Phase::Idle;
        self.nsector = IR_IO | IR_COD;
        self.status = STATUS_DRDY | STATUS_ERR;
        self.irq = true;
    }

    fn illegal(&mut self, asc: u8) {
        self.check_condition(SENSE_ILLEGAL_REQUEST, asc, 0);
    }

    /// Send `data` (cut to `alloc` bytes) to the host.
    fn reply(&mut self, mut data: Vec<u8>, alloc: usize) {
        data.truncate(alloc);
        if data.is_empty() {
            return self.atapi_ok();
        }
        self.buf = data;
        self.pos = 0;
        self.atapi.from_disc = false;
        self.start_atapi_data();
    }

    fn start_disc_read(&mut self, lba: u64, count: u64) {
        if count == 0 {
            return self.atapi_ok();
        }
        if lba + count > self.total {
            return self.illegal(ASC_LBA_OUT_OF_RANGE);
        }
        self.lba = lba;
        self.remaining = count;
        self.buf.clear();
        self.pos = 0;
        self.atapi.from_disc = true;
        self.start_atapi_data();
    }

    fn start_atapi_data(&mut self) {
        if self.atapi.dma {
            self.phase = Phase::Dma;
            self.dma_write = false;
            self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        } else {
            self.next_chunk();
        }
    }

    /// Read up to `max` sectors from the disc into `buf`; false after a CHECK CONDITION.
    fn load_sectors(&mut self, max: u64) -> bool {
        let n = self.remaining.min(max).max(1);
        let len = n as usize * CD_SECTOR;
        self.buf.resize(len, 0);
        let res = match self.backend.as_mut() {
            Some(b) => b.read_at(self.lba * CD_SECTOR as u64, &mut self.buf[..len]),
            None => Err(std::io::Error::other("no medium")),
        };
        if let Err(e) = res {
            self.io_errors += 1;
            tracing::error!("atapi: read error at sector {}: {}", self.lba, e);
            self.check_condition(SENSE_MEDIUM_ERROR, ASC_READ_ERROR, 0);
            return false;
        }
        self.lba += n;
        self.remaining -= n;
        self.pos = 0;
        true
    }

    /// Present the next PIO chunk (byte count in the cylinder registers, INTRQ).
    fn next_chunk(&mut self) {
        let limit = match self.atapi.byte_limit {
            0 | 0xFFFF => 0xFFFE,
            l => l as usize,
        };
        if self.atapi.from_disc && self.pos >= self.buf.len() {
            let per_chunk = (limit / CD_SECTOR).max(1) as u64;
            if !self.load_sectors(per_chunk.min(MAX_CHUNK_SECTORS)) {
                return;
            }
        }
        let avail = self.buf.len() - self.pos;
        let n = if avail <= limit {
            avail
        } else {
            (limit & !1).max(2)
        };
        self.end = self.pos + n;
        self.lcyl = n as u8;
        self.hcyl = (n >> 8) as u8;
        self.nsector = IR_IO;
        self.phase = Phase::AtapiIn;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.irq = true;
    }

    /// The host has read a whole chunk.
    pub(crate) fn atapi_chunk_done(&mut self) {
        if self.pos < self.buf.len() || (self.atapi.from_disc && self.remaining > 0) {
            self.next_chunk();
        } else {
            self.atapi_ok();
        }
    }

    pub(crate) fn atapi_run_dma(&mut self, prd: &mut PrdCursor, mem: &mut dyn DmaMemory) -> DmaEnd {
        loop {
            if self.pos >= self.buf.len() {
                if !(self.atapi.from_disc && self.remaining > 0) {
                    break;
                }
                if !self.load_sectors(MAX_CHUNK_SECTORS) {
                    return DmaEnd::Complete;
                }
            }
            let put = prd.to_memory(mem, &self.buf[self.pos..]);
            self.pos += put;
            if self.pos < self.buf.len() {
                return self.prd_short();
            }
        }
        self.atapi_ok();
        DmaEnd::Complete
    }

    // ---- packet commands ----

    pub(crate) fn packet_received(&mut self) {
        let mut cdb = [0u8; 12];
        cdb.copy_from_slice(&self.buf[..12]);
        let op = cdb[0];
        self.status &= !STATUS_DRQ;
        if self.atapi.unit_attention && !matches!(op, 0x03 | 0x12 | 0x46 | 0x4A) {
            self.atapi.unit_attention = false;
            return self.check_condition(SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        }
        let needs_medium = matches!(op, 0x00 | 0x25 | 0x28 | 0xA8 | 0xBE | 0x2B | 0x43 | 0x51);
        if needs_medium && !self.medium_present() {
            return self.check_condition(SENSE_NOT_READY, ASC_NO_MEDIUM, 0);
        }
        match op {
            0x00 | 0xBB => self.atapi_ok(),
            0x03 => {
                let mut d = vec![0u8; 18];
                d[0] = 0x70 | 0x80;
                d[2] = self.atapi.sense_key;
                d[7] = 10;
                d[12] = self.atapi.asc;
                d[13] = self.atapi.ascq;
                self.atapi.sense_key = SENSE_NONE;
                self.atapi.asc = 0;
                self.atapi.ascq = 0;
                self.reply(d, cdb[4] as usize);
            }
            0x12 => {
                if cdb[1] & 1 != 0 {
                    return self.illegal(ASC_INVALID_FIELD);
                }
                let mut d = vec![0u8; 36];
                d[0] = 0x05;
                d[1] = 0x80;
                d[2] = 0x00;
                d[3] = 0x21;
                d[4] = 31;
                put_padded(&mut d[8..16], "IRONBOX");
                put_padded(&mut d[16..32], "IRONBOX DVD-ROM");
                put_padded(&mut d[32..36], "1.0");
                self.reply(d, be16(&cdb[3..]) as usize);
            }
            0x1B => {
                let (start, loej) = (cdb[4] & 1 != 0, cdb[4] & 2 != 0);
                if loej {
                    if !start {
                        if self.atapi.tray_locked && self.backend.is_some() {
                            return self.check_condition(SENSE_NOT_READY, ASC_REMOVAL_PREVENTED, 2);
                        }
                        self.atapi.tray_open = true;
                        self.atapi.media_event = 3;
                    } else if self.atapi.tray_open {
                        self.atapi.tray_open = false;
                        if self.backend.is_some() {
                            self.atapi.media_event = 2;
                        }
                    }
                }
                self.atapi_ok();
            }
            0x1E => {
                self.atapi.tray_locked = cdb[4] & 1 != 0;
                self.atapi_ok();
            }
            0x25 => {
                let mut d = vec![0u8; 8];
                put_be32(
                    &mut d,
                    self.total.saturating_sub(1).min(u32::MAX as u64) as u32,
                );
                put_be32(&mut d[4..], CD_SECTOR as u32);
                self.reply(d, 8);
            }
            0x28 => self.start_disc_read(be32(&cdb[2..]) as u64, be16(&cdb[7..]) as u64),
            0xA8 => self.start_disc_read(be32(&cdb[2..]) as u64, be32(&cdb[6..]) as u64),
            0xBE => {
                let count = (cdb[6] as u64) << 16 | (cdb[7] as u64) << 8 | cdb[8] as u64;
                match cdb[9] & 0xF8 {
                    0 => self.atapi_ok(),
                    0x10 => self.start_disc_read(be32(&cdb[2..]) as u64, count),
                    _ => self.illegal(ASC_INVALID_FIELD),
                }
            }
            0x2B => {
                if be32(&cdb[2..]) as u64 >= self.total {
                    return self.illegal(ASC_LBA_OUT_OF_RANGE);
                }
                self.atapi_ok();
            }
            0x43 => self.read_toc(&cdb),
            0x46 => self.get_configuration(&cdb),
            0x4A => self.event_status(&cdb),
            0x51 => {
                if cdb[1] & 7 != 0 {
                    return self.illegal(ASC_INVALID_FIELD);
                }
                let mut d = vec![0u8; 34];
                d[1] = 32;
                d[2] = 0x0E;
                d[3] = 1;
                d[4] = 1;
                d[5] = 1;
                d[6] = 1;
                d[7] = 0x20;
                self.reply(d, be16(&cdb[7..]) as usize);
            }
            0x5A => self.mode_sense(&cdb),
            0xBD => {
                let mut d = vec![0u8; 8];
                d[5] = 1;
                self.reply(d, be16(&cdb[8..]) as usize);
            }
            _ => {
                log_once(&mut self.atapi.logged, op, || {
                    format!("atapi: unsupported packet command {op:#04x}")
                });
                self.illegal(ASC_INVALID_OPCODE);
            }
        }
    }

    fn read_toc(&mut self, cdb: &[u8; 12]) {
        let msf = cdb[1] & 2 != 0;
        let format = if cdb[2] & 0x0F != 0 {
            cdb[2] & 0x0F
        } else {
            cdb[9] >> 6
        };
        let alloc = be16(&cdb[7..]) as usize;
        let total = self.total.min(u32::MAX as u64 - 150) as u32;
        match format {
            0 => {
                let start = cdb[6];
                if start > 1 && start != 0xAA {
                    return self.illegal(ASC_INVALID_FIELD);
                }
                let mut d = vec![0u8, 0, 1, 1];
                if start <= 1 {
                    let mut e = [0u8, 0x14, 1, 0, 0, 0, 0, 0];
                    put_addr(&mut e[4..], 0, msf);
                    d.extend_from_slice(&e);
                }
                let mut e = [0u8, 0x14, 0xAA, 0, 0, 0, 0, 0];
                put_addr(&mut e[4..], total, msf);
                d.extend_from_slice(&e);
                let len = d.len() as u16 - 2;
                put_be16(&mut d, len);
                self.reply(d, alloc);
            }
            1 => {
                let mut d = vec![0u8, 0x0A, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0];
                put_addr(&mut d[8..], 0, msf);
                self.reply(d, alloc);
            }
            _ => self.illegal(ASC_INVALID_FIELD),
        }
    }

    fn get_configuration(&mut self, cdb: &[u8; 12]) {
        let alloc = be16(&cdb[7..]) as usize;
        let is_dvd = self.medium_present() && self.total > 1_440_000;
        let current: u16 = match (self.medium_present(), is_dvd) {
            (false, _) => 0,
            (true, true) => 0x0010,
            (true, false) => 0x0008,
        };
        let mut d = vec![0u8; 8];
        put_be16(&mut d[6..], current);
        // Feature 0: profile list (DVD-ROM, CD-ROM).
        d.extend_from_slice(&[0, 0, 0x03, 8]);
        d.extend_from_slice(&[0, 0x10, (current == 0x10) as u8, 0]);
        d.extend_from_slice(&[0, 0x08, (current == 0x08) as u8, 0]);
        // Feature 1: core (ATAPI interface, version 1, persistent + current).
        d.extend_from_slice(&[0, 0x01, 0x07, 8, 0, 0, 0, 2, 0, 0, 0, 0]);
        // Feature 3: removable medium (tray, eject, lock).
        d.extend_from_slice(&[0, 0x03, 0x03, 4, 0x29, 0, 0, 0]);
        let len = d.len() as u32 - 4;
        put_be32(&mut d, len);
        self.reply(d, alloc);
    }

    fn event_status(&mut self, cdb: &[u8; 12]) {
        if cdb[1] & 1 == 0 {
            // Asynchronous notification is not supported.
            return self.illegal(ASC_INVALID_FIELD);
        }
        let alloc = be16(&cdb[7..]) as usize;
        let mut d = vec![0u8; 4];
        d[3] = 0x10; // supported classes: media
        if cdb[4] & 0x10 != 0 {
            d[1] = 4;
            d[2] = 0x04;
            let status = if self.atapi.tray_open {
                1
            } else if self.backend.is_some() {
                2
            } else {
                0
            };
            d.extend_from_slice(&[std::mem::take(&mut self.atapi.media_event), status, 0, 0]);
        } else {
            d[2] = 0x80; // no event available
        }
        self.reply(d, alloc);
    }

    fn mode_sense(&mut self, cdb: &[u8; 12]) {
        let alloc = be16(&cdb[7..]) as usize;
        let page = cdb[2] & 0x3F;
        if cdb[2] >> 6 == 3 {
            return self.check_condition(SENSE_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
        }
        let error_page = [0x01u8, 0x06, 0x00, 0x05, 0, 0, 0, 0];
        let mut caps = [0u8; 20];
        caps[0] = 0x2A;
        caps[1] = 18;
        caps[2] = 0x3B;
        caps[4] = 0x71;
        caps[5] = 3 << 5;
        caps[6] = 1 | (1 << 3) | (1 << 5) | if self.atapi.tray_locked { 2 } else { 0 };
        put_be16(&mut caps[8..], 704);
        caps[11] = 2;
        put_be16(&mut caps[12..], 512);
        put_be16(&mut caps[14..], 704);
        let mut d = vec![0u8; 8];
        d[2] = 0x70;
        match page {
            0x01 => d.extend_from_slice(&error_page),
            0x2A => d.extend_from_slice(&caps),
            0x3F => {
                d.extend_from_slice(&error_page);
                d.extend_from_slice(&caps);
            }
            _ => return self.illegal(ASC_INVALID_FIELD),
        }
        let len = d.len() as u16 - 2;
        put_be16(&mut d, len);
        self.reply(d, alloc);
    }
}
