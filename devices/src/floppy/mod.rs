//! Intel 82077AA floppy disk controller (PC-AT mode) at 0x3F0-0x3F5 and 0x3F7, IRQ 6, ISA DMA
//! channel 2, with up to four drives (two usually wired).
//!
//! Reference: Intel 82077AA CHMOS Single-Chip Floppy Disk Controller datasheet (1994): register
//! set (DOR, TDR, MSR/DSR, FIFO, DIR/CCR), command table, ST0-ST3 bits, result-phase C/H/R/N
//! rules; QEMU hw/block/fdc.c for the behaviour SeaBIOS and Linux are tested against (four
//! SENSE INTERRUPT STATUS after reset, disk-change line cleared by a seek).
//!
//! Media: raw images of 160K, 180K, 320K, 360K, 720K, 1.2M, 1.44M, 1.68M (DMF) and 2.88M; an
//! image of another size takes the smallest format that holds it (missing bytes read as zero).
//! Each format has its data rate, and a READ/WRITE/READ ID at the wrong rate fails with
//! "missing address mark", as BIOS media sensing expects.
//!
//! Data moves through the ISA DMA controller, which lives in another file: the machine
//! implements [`IsaDma`] over its 8237 and calls [`Floppy::io_write_dma`] (or
//! [`Floppy::service_dma`], e.g. after unmasking channel 2) so the transfer can run. The
//! 8237's terminal count ends a transfer normally; reaching the end of the track first ends it
//! with "end of cylinder" (ST0 abnormal termination, ST1 EN), as the chip does. Non-DMA mode
//! (SPECIFY ND bit) moves READ/WRITE data through the FIFO instead.
//!
//! Known gaps: no timing (seeks and transfers complete at once), READ TRACK, READ/WRITE
//! DELETED DATA, SCAN, VERIFY and RELATIVE SEEK are rejected as invalid commands; only 512-byte
//! sectors (N = 2); FORMAT TRACK only by DMA; no PS/2 status registers A/B beyond fixed values.

use crate::block::BlockBackend;
use crate::{Ctx, IoDevice};

/// The ISA DMA side of a transfer, implemented by the machine over the 8237.
pub trait IsaDma {
    /// Move up to `buf.len()` bytes on `channel`: into guest memory from `buf` when
    /// `to_memory` (a disk read), else from guest memory into `buf`. A masked channel moves
    /// nothing and does not report terminal count.
    fn dma_transfer(&mut self, channel: u8, buf: &mut [u8], to_memory: bool) -> DmaTransfer;
}

/// Outcome of one [`IsaDma::dma_transfer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaTransfer {
    /// Bytes moved.
    pub moved: usize,
    /// The channel's count ran out (TC): the floppy controller ends the command.
    pub terminal_count: bool,
}

pub const FDC_IRQ: u8 = 6;
pub const FDC_DMA_CHANNEL: u8 = 2;

pub use media::{format_for_size, FloppyError, FloppyType, Format};

mod media;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct FloppyDrive {
    kind: FloppyType,
    #[serde(skip)]
    backend: Option<Box<dyn BlockBackend>>,
    format: Option<Format>,
    read_only: bool,
    track: u8,
    head: u8,
    /// Sector under the head, for READ ID.
    sector: u8,
    /// Disk change line (DIR bit 7): set at power-on and by media changes, cleared by a seek
    /// with a disk present.
    changed: bool,
}

impl FloppyDrive {
    fn medium(&self) -> Option<Format> {
        self.backend.as_ref().and(self.format)
    }
}

/// An active READ DATA, WRITE DATA or FORMAT TRACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Transfer {
    kind: XferKind,
    drive: usize,
    cyl: u8,
    head: u8,
    sector: u8,
    eot: u8,
    multi_track: bool,
    dma: bool,
    /// Sectors left (FORMAT TRACK) and filler byte.
    format_left: u8,
    filler: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum XferKind {
    Read,
    Write,
    Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Phase {
    Command,
    Execution,
    Result,
}

const MSR_RQM: u8 = 0x80;
const MSR_DIO: u8 = 0x40;
const MSR_NDMA: u8 = 0x20;
const MSR_CB: u8 = 0x10;

const ST0_ABNORMAL: u8 = 0x40;
const ST0_INVALID: u8 = 0x80;
const ST0_SEEK_END: u8 = 0x20;
const ST0_EQUIP_CHECK: u8 = 0x10;
const ST0_NOT_READY: u8 = 0x08;
const ST1_EN: u8 = 0x80;
const ST1_ND: u8 = 0x04;
const ST1_NW: u8 = 0x02;
const ST1_MA: u8 = 0x01;
const ST2_WC: u8 = 0x10;

const DOR_NRESET: u8 = 0x04;
const DOR_DMA_IRQ: u8 = 0x08;
const CONFIG_EIS: u8 = 0x40;
const CONFIG_POLL_DISABLE: u8 = 0x10;

/// The 82077AA controller and its drives.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Floppy {
    drives: [FloppyDrive; 4],
    dor: u8,
    tdr: u8,
    rate: u8,
    phase: Phase,
    command: Vec<u8>,
    result: Vec<u8>,
    result_pos: usize,
    xfer: Option<Transfer>,
    /// Sector buffer of the transfer and the position in it.
    buf: Vec<u8>,
    buf_pos: usize,
    buf_loaded: bool,
    /// Interrupt output (before the DOR gate).
    irq: bool,
    /// SENSE INTERRUPT STATUS answers still owed after a reset.
    reset_sense: u8,
    /// ST0 of a finished SEEK/RECALIBRATE, owed to SENSE INTERRUPT STATUS.
    seek_st0: Option<u8>,
    specify: [u8; 2],
    config: u8,
    pretrk: u8,
    lock: bool,
    perpendicular: u8,
    last_eot: u8,
    logged: [u64; 4],
    /// Host I/O errors seen (each also logged).
    pub io_errors: u64,
}

impl Default for Floppy {
    fn default() -> Self {
        Self::new()
    }
}

fn command_length(cmd: u8) -> Option<usize> {
    Some(match cmd {
        0x03 => 3,
        0x04 | 0x07 | 0x12 => 2,
        0x08 | 0x0E | 0x10 | 0x14 | 0x94 => 1,
        0x0F => 3,
        0x13 => 4,
        _ => match cmd & 0x1F {
            0x05 | 0x06 => 9,
            0x0A => 2,
            0x0D => 6,
            _ => return None,
        },
    })
}

impl Floppy {
    /// A controller with drives 0 and 1 present as 1.44 MB drives, both empty.
    pub fn new() -> Self {
        let mut f = Self {
            drives: Default::default(),
            dor: DOR_NRESET | DOR_DMA_IRQ,
            tdr: 0,
            rate: 0,
            phase: Phase::Command,
            command: Vec::new(),
            result: Vec::new(),
            result_pos: 0,
            xfer: None,
            buf: vec![0; 512],
            buf_pos: 0,
            buf_loaded: false,
            irq: false,
            reset_sense: 0,
            seek_st0: None,
            specify: [0, 0],
            config: 0x20,
            pretrk: 0,
            lock: false,
            perpendicular: 0,
            last_eot: 0,
            logged: [0; 4],
            io_errors: 0,
        };
        for d in &mut f.drives[..2] {
            d.kind = FloppyType::M1_44;
            d.changed = true;
        }
        f
    }

    /// Insert an image. The drive type follows the medium unless it was set already.
    pub fn insert(
        &mut self,
        drive: usize,
        image: Box<dyn BlockBackend>,
    ) -> Result<(), FloppyError> {
        let d = self
            .drives
            .get_mut(drive)
            .ok_or(FloppyError::NoDrive(drive))?;
        let len = image.len();
        let (format, kind) = format_for_size(len).ok_or(FloppyError::TooLarge(len))?;
        if d.kind == FloppyType::None || (kind == FloppyType::M2_88 && d.kind == FloppyType::M1_44)
        {
            d.kind = kind;
        }
        d.read_only = image.read_only();
        d.backend = Some(image);
        d.format = Some(format);
        d.changed = true;
        Ok(())
    }

    /// Re-attach an image after restoring a snapshot (no disk-change signalled).
    pub fn reattach(
        &mut self,
        drive: usize,
        image: Box<dyn BlockBackend>,
    ) -> Result<(), FloppyError> {
        let changed = self
            .drives
            .get(drive)
            .ok_or(FloppyError::NoDrive(drive))?
            .changed;
        self.insert(drive, image)?;
        self.drives[drive].changed = changed;
        Ok(())
    }

    /// Remove the medium; returns its backend.
    pub fn eject(&mut self, drive: usize) -> Option<Box<dyn BlockBackend>> {
        let d = self.drives.get_mut(drive)?;
        d.changed = true;
        d.format = None;
        d.backend.take()
    }

    pub fn drive_type(&self, drive: usize) -> FloppyType {
        self.drives.get(drive).map_or(FloppyType::None, |d| d.kind)
    }

    /// Declare which drive is connected (FloppyType::None disconnects it).
    pub fn set_drive_type(&mut self, drive: usize, kind: FloppyType) {
        if let Some(d) = self.drives.get_mut(drive) {
            d.kind = kind;
        }
    }

    /// CMOS register 0x10: drive 0 type in the high nibble, drive 1 in the low nibble.
    pub fn cmos_drive_types(&self) -> u8 {
        self.drives[0].kind.cmos_code() << 4 | self.drives[1].kind.cmos_code()
    }

    fn log_once(&mut self, key: u8, msg: impl FnOnce() -> String) {
        let (i, bit) = ((key / 64) as usize, 1u64 << (key % 64));
        if self.logged[i] & bit == 0 {
            self.logged[i] |= bit;
            tracing::warn!("{}", msg());
        }
    }

    fn update_irq(&self, ctx: &mut Ctx) {
        ctx.irq
            .set(FDC_IRQ, self.irq && self.dor & DOR_DMA_IRQ != 0);
    }

    /// Controller reset (DOR bit 2 low, or DSR bit 7). Drive positions are kept.
    fn reset(&mut self) {
        self.phase = Phase::Command;
        self.command.clear();
        self.result.clear();
        self.xfer = None;
        self.seek_st0 = None;
        self.irq = false;
        if !self.lock {
            self.config = 0x20;
            self.pretrk = 0;
        }
        self.perpendicular &= 0x7F;
    }

    /// End of reset: interrupt, and four SENSE INTERRUPT STATUS owed when polling is on.
    fn reset_done(&mut self) {
        if self.config & CONFIG_POLL_DISABLE == 0 {
            self.reset_sense = 4;
        }
        self.irq = true;
    }

    fn msr(&self) -> u8 {
        if self.dor & DOR_NRESET == 0 {
            return 0;
        }
        match self.phase {
            Phase::Command if self.command.is_empty() => MSR_RQM,
            Phase::Command => MSR_RQM | MSR_CB,
            Phase::Result => MSR_RQM | MSR_DIO | MSR_CB,
            Phase::Execution => match self.xfer {
                Some(x) if !x.dma => {
                    let dio = if x.kind == XferKind::Read { MSR_DIO } else { 0 };
                    MSR_RQM | MSR_NDMA | MSR_CB | dio
                }
                _ => MSR_CB,
            },
        }
    }

    fn st0(&self, drive: usize, head: u8) -> u8 {
        (head & 1) << 2 | drive as u8
    }

    fn set_result(&mut self, bytes: &[u8]) {
        self.result.clear();
        self.result.extend_from_slice(bytes);
        self.result_pos = 0;
        self.phase = Phase::Result;
    }

    fn finish_transfer(&mut self, st0: u8, st1: u8, st2: u8) {
        let Some(x) = self.xfer.take() else { return };
        let st0 = st0 | self.st0(x.drive, x.head);
        self.set_result(&[st0, st1, st2, x.cyl, x.head, x.sector, 2]);
        self.irq = true;
    }

    /// Select the drive of a command byte and load its head (drive select bits 0-1, head 2).
    fn command_drive(&self, b: u8) -> (usize, u8) {
        ((b & 3) as usize, (b >> 2) & 1)
    }

    fn execute(&mut self) {
        let c = std::mem::take(&mut self.command);
        self.irq = false;
        match c[0] {
            0x03 => {
                self.specify = [c[1], c[2]];
                self.phase = Phase::Command;
            }
            0x04 => {
                let (drv, head) = self.command_drive(c[1]);
                let d = &self.drives[drv];
                let mut st3 = self.st0(drv, head) | 0x08;
                if d.kind != FloppyType::None {
                    st3 |= 0x20;
                }
                if d.track == 0 {
                    st3 |= 0x10;
                }
                if d.read_only || d.backend.is_none() {
                    st3 |= 0x40;
                }
                self.set_result(&[st3]);
            }
            0x07 | 0x0F => {
                let (drv, head) = self.command_drive(c[1]);
                let target = if c[0] == 0x07 { 0 } else { c[2] };
                let d = &mut self.drives[drv];
                let mut st0 = ST0_SEEK_END | (head << 2) | drv as u8;
                if d.kind == FloppyType::None {
                    st0 |= ST0_ABNORMAL | ST0_EQUIP_CHECK;
                } else {
                    d.track = target;
                    d.head = head;
                    if d.backend.is_some() {
                        d.changed = false;
                    }
                }
                self.seek_st0 = Some(st0);
                self.phase = Phase::Command;
                self.irq = true;
            }
            0x08 => {
                if self.reset_sense > 0 {
                    let drv = 4 - self.reset_sense as usize;
                    self.reset_sense -= 1;
                    let pcn = self.drives[drv].track;
                    self.set_result(&[0xC0 | drv as u8, pcn]);
                } else if let Some(st0) = self.seek_st0.take() {
                    let pcn = self.drives[(st0 & 3) as usize].track;
                    self.set_result(&[st0, pcn]);
                } else {
                    self.set_result(&[ST0_INVALID]);
                }
            }
            0x0E => {
                let p = [
                    self.drives[0].track,
                    self.drives[1].track,
                    self.drives[2].track,
                    self.drives[3].track,
                ];
                let r = [
                    p[0],
                    p[1],
                    p[2],
                    p[3],
                    self.specify[0],
                    self.specify[1],
                    self.last_eot,
                    (self.lock as u8) << 7 | (self.perpendicular & 0x7F),
                    self.config,
                    self.pretrk,
                ];
                self.set_result(&r);
            }
            0x10 => self.set_result(&[0x90]),
            0x12 => {
                if c[1] & 0x80 != 0 {
                    self.perpendicular = c[1] & 0x7F;
                }
                self.phase = Phase::Command;
            }
            0x13 => {
                self.config = c[2];
                self.pretrk = c[3];
                self.phase = Phase::Command;
            }
            0x14 | 0x94 => {
                self.lock = c[0] & 0x80 != 0;
                self.set_result(&[(self.lock as u8) << 4]);
            }
            cmd => match cmd & 0x1F {
                0x05 | 0x06 => self.start_rw(&c),
                0x0A => self.read_id(c[1]),
                0x0D => self.start_format(&c),
                _ => self.invalid(cmd),
            },
        }
    }

    fn invalid(&mut self, cmd: u8) {
        self.log_once(cmd, || format!("floppy: unsupported command {cmd:#04x}"));
        self.set_result(&[ST0_INVALID]);
    }

    /// Check the medium of `drv` can be accessed at `cyl` at the programmed data rate.
    fn check_medium(&self, drv: usize) -> Result<Format, (u8, u8, u8)> {
        let d = &self.drives[drv];
        match d.medium() {
            None => Err((ST0_ABNORMAL | ST0_NOT_READY, ST1_MA, 0)),
            Some(f) if f.rate != self.rate => Err((ST0_ABNORMAL, ST1_MA, 0)),
            Some(f) if d.track >= f.tracks => Err((ST0_ABNORMAL, ST1_MA, 0)),
            Some(f) => Ok(f),
        }
    }

    fn read_id(&mut self, b: u8) {
        let (drv, head) = self.command_drive(b);
        self.drives[drv].head = head;
        let st0 = self.st0(drv, head);
        let track = self.drives[drv].track;
        match self.check_medium(drv) {
            Ok(f) if head < f.heads => {
                let d = &mut self.drives[drv];
                d.sector = d.sector % f.spt + 1;
                let r = d.sector;
                self.set_result(&[st0, 0, 0, track, head, r, 2]);
            }
            Ok(_) => self.set_result(&[st0 | ST0_ABNORMAL, ST1_MA, 0, track, head, 1, 2]),
            Err((s0, s1, s2)) => self.set_result(&[st0 | s0, s1, s2, track, head, 1, 2]),
        }
        self.irq = true;
    }

    fn start_rw(&mut self, c: &[u8]) {
        let (drv, head) = self.command_drive(c[1]);
        let kind = if c[0] & 0x1F == 0x06 {
            XferKind::Read
        } else {
            XferKind::Write
        };
        self.last_eot = c[6];
        self.xfer = Some(Transfer {
            kind,
            drive: drv,
            cyl: c[2],
            head: c[3],
            sector: c[4],
            eot: c[6],
            multi_track: c[0] & 0x80 != 0,
            dma: self.specify[1] & 1 == 0,
            format_left: 0,
            filler: 0,
        });
        if self.config & CONFIG_EIS != 0 {
            self.drives[drv].track = c[2];
        }
        self.drives[drv].head = head;
        let format = match self.check_medium(drv) {
            Ok(f) => f,
            Err((s0, s1, s2)) => return self.finish_transfer(s0, s1, s2),
        };
        if self.drives[drv].track != c[2] {
            return self.finish_transfer(ST0_ABNORMAL, ST1_ND, ST2_WC);
        }
        if c[5] != 2 || c[3] != head || head >= format.heads || c[4] == 0 || c[4] > format.spt {
            self.log_once(0xFF, || {
                format!(
                    "floppy: no such sector C{} H{} R{} N{}",
                    c[2], c[3], c[4], c[5]
                )
            });
            return self.finish_transfer(ST0_ABNORMAL, ST1_ND, 0);
        }
        if kind == XferKind::Write && self.drives[drv].read_only {
            return self.finish_transfer(ST0_ABNORMAL, ST1_NW, 0);
        }
        self.phase = Phase::Execution;
        self.buf_pos = 0;
        self.buf_loaded = false;
        if !self.xfer.is_some_and(|x| x.dma) && kind == XferKind::Read {
            self.load_sector();
        }
        if !self.xfer.is_some_and(|x| x.dma) {
            // Non-DMA: the host is interrupted to move data through the FIFO.
            self.irq = true;
        }
    }

    fn start_format(&mut self, c: &[u8]) {
        let (drv, head) = self.command_drive(c[1]);
        self.drives[drv].head = head;
        let track = self.drives[drv].track;
        self.xfer = Some(Transfer {
            kind: XferKind::Format,
            drive: drv,
            cyl: track,
            head,
            sector: 1,
            eot: c[3],
            multi_track: false,
            dma: true,
            format_left: c[3],
            filler: c[5],
        });
        if let Err((s0, s1, s2)) = self.check_medium(drv) {
            return self.finish_transfer(s0, s1, s2);
        }
        if self.drives[drv].read_only {
            return self.finish_transfer(ST0_ABNORMAL, ST1_NW, 0);
        }
        if self.specify[1] & 1 != 0 {
            self.log_once(0x0D, || {
                "floppy: FORMAT TRACK in non-DMA mode unsupported".into()
            });
            return self.finish_transfer(ST0_ABNORMAL, ST1_ND, 0);
        }
        self.phase = Phase::Execution;
        self.buf_pos = 0;
    }

    fn image_offset(&self, x: &Transfer, f: Format) -> u64 {
        ((x.cyl as u64 * f.heads as u64 + x.head as u64) * f.spt as u64 + x.sector as u64 - 1) * 512
    }

    /// Read the current sector into `buf`; bytes past the image end read as zero.
    fn load_sector(&mut self) -> bool {
        let (Some(x), Some(f)) = (
            self.xfer,
            self.drives[self.xfer.map_or(0, |x| x.drive)].medium(),
        ) else {
            return false;
        };
        let off = self.image_offset(&x, f);
        let d = &mut self.drives[x.drive];
        let Some(b) = d.backend.as_mut() else {
            return false;
        };
        let avail = b.len().saturating_sub(off).min(512) as usize;
        self.buf.fill(0);
        if let Err(e) = b.read_at(off, &mut self.buf[..avail]) {
            self.io_errors += 1;
            tracing::error!("floppy: read error at offset {off:#x}: {e}");
            self.finish_transfer(ST0_ABNORMAL, 0x20, 0x20); // data error (CRC) in ID and data
            return false;
        }
        self.buf_pos = 0;
        self.buf_loaded = true;
        true
    }

    fn store_sector(&mut self) -> bool {
        let (Some(x), Some(f)) = (
            self.xfer,
            self.drives[self.xfer.map_or(0, |x| x.drive)].medium(),
        ) else {
            return false;
        };
        let off = self.image_offset(&x, f);
        let d = &mut self.drives[x.drive];
        let Some(b) = d.backend.as_mut() else {
            return false;
        };
        let avail = b.len().saturating_sub(off).min(512) as usize;
        if let Err(e) = b.write_at(off, &self.buf[..avail]) {
            self.io_errors += 1;
            tracing::error!("floppy: write error at offset {off:#x}: {e}");
            self.finish_transfer(ST0_ABNORMAL, 0x20, 0);
            return false;
        }
        true
    }

    /// Advance to the next sector after one completed. Returns false at the end of the
    /// cylinder (the transfer is then finished with EN).
    fn next_sector(&mut self, tc: bool) -> bool {
        let Some(mut x) = self.xfer else { return false };
        let heads = self.drives[x.drive].medium().map_or(1, |f| f.heads);
        let end_of_track = x.sector >= x.eot;
        if end_of_track {
            x.sector = 1;
            if x.multi_track && x.head == 0 && heads > 1 {
                x.head = 1;
                self.xfer = Some(x);
                self.drives[x.drive].head = 1;
                if tc {
                    self.finish_transfer(0, 0, 0);
                    return false;
                }
                return true;
            }
            if x.multi_track {
                x.head ^= 1;
            }
            x.cyl = x.cyl.wrapping_add(1);
            self.xfer = Some(x);
            if tc {
                self.finish_transfer(0, 0, 0);
            } else {
                self.finish_transfer(ST0_ABNORMAL, ST1_EN, 0);
            }
            return false;
        }
        x.sector += 1;
        self.xfer = Some(x);
        let spt = self.drives[x.drive].medium().map_or(0, |f| f.spt);
        if x.sector > spt && !tc {
            // EOT beyond the track: the next sector ID is never found.
            self.finish_transfer(ST0_ABNORMAL, ST1_ND, 0);
            return false;
        }
        if tc {
            self.finish_transfer(0, 0, 0);
            return false;
        }
        true
    }

    /// True when a DMA-mode transfer is waiting for the DMA controller.
    pub fn dma_pending(&self) -> bool {
        self.phase == Phase::Execution && self.xfer.is_some_and(|x| x.dma)
    }

    /// Run the pending DMA transfer as far as the DMA controller lets it.
    pub fn service_dma(&mut self, ctx: &mut Ctx, dma: &mut dyn IsaDma) {
        while self.dma_pending() {
            let Some(x) = self.xfer else { break };
            match x.kind {
                XferKind::Read => {
                    if !self.buf_loaded && !self.load_sector() {
                        break;
                    }
                    let pos = self.buf_pos;
                    let r = dma.dma_transfer(FDC_DMA_CHANNEL, &mut self.buf[pos..], true);
                    self.buf_pos += r.moved.min(512 - pos);
                    if r.moved == 0 && !r.terminal_count {
                        break; // channel masked: wait
                    }
                    if self.buf_pos >= 512 || r.terminal_count {
                        self.buf_loaded = false;
                        if !self.next_sector(r.terminal_count) {
                            break;
                        }
                    }
                }
                XferKind::Write => {
                    let pos = self.buf_pos;
                    let r = dma.dma_transfer(FDC_DMA_CHANNEL, &mut self.buf[pos..], false);
                    self.buf_pos += r.moved.min(512 - pos);
                    if r.moved == 0 && !r.terminal_count {
                        break;
                    }
                    if self.buf_pos >= 512 || r.terminal_count {
                        // TC inside a sector: the chip pads the rest with zeros.
                        let p = self.buf_pos;
                        self.buf[p..].fill(0);
                        self.buf_pos = 0;
                        if !self.store_sector() || !self.next_sector(r.terminal_count) {
                            break;
                        }
                    }
                }
                XferKind::Format => {
                    let pos = self.buf_pos;
                    let mut id = [0u8; 4];
                    id[..pos].copy_from_slice(&self.buf[..pos]);
                    let r = dma.dma_transfer(FDC_DMA_CHANNEL, &mut id[pos..], false);
                    let n = r.moved.min(4 - pos);
                    self.buf[..pos + n].copy_from_slice(&id[..pos + n]);
                    self.buf_pos += n;
                    if n == 0 && !r.terminal_count {
                        break;
                    }
                    if self.buf_pos >= 4 {
                        self.format_sector(id);
                    }
                    if r.terminal_count && self.xfer.is_some() {
                        self.finish_transfer(0, 0, 0);
                    }
                }
            }
        }
        self.update_irq(ctx);
    }

    /// Write the filler over sector R (from the ID bytes C, H, R, N) of the current track.
    fn format_sector(&mut self, id: [u8; 4]) {
        self.buf_pos = 0;
        let Some(mut x) = self.xfer else { return };
        let f = match self.drives[x.drive].medium() {
            Some(f) => f,
            None => return self.finish_transfer(ST0_ABNORMAL | ST0_NOT_READY, ST1_MA, 0),
        };
        let r = id[2];
        if r >= 1 && r <= f.spt && id[3] == 2 {
            x.sector = r;
            let off = self.image_offset(&x, f);
            self.buf.fill(x.filler);
            self.xfer = Some(x);
            let d = &mut self.drives[x.drive];
            if let Some(b) = d.backend.as_mut() {
                let avail = b.len().saturating_sub(off).min(512) as usize;
                if let Err(e) = b.write_at(off, &self.buf[..avail]) {
                    self.io_errors += 1;
                    tracing::error!("floppy: format write error at {off:#x}: {e}");
                    return self.finish_transfer(ST0_ABNORMAL, 0x20, 0);
                }
            }
        } else {
            self.log_once(0xFE, || {
                format!("floppy: FORMAT sector ID {id:?} not in the medium's format")
            });
        }
        x.format_left = x.format_left.saturating_sub(1);
        self.xfer = Some(x);
        if x.format_left == 0 {
            self.finish_transfer(0, 0, 0);
        }
    }

    fn fifo_read(&mut self) -> u8 {
        match self.phase {
            Phase::Result => {
                self.irq = false;
                let v = self.result.get(self.result_pos).copied().unwrap_or(0xFF);
                self.result_pos += 1;
                if self.result_pos >= self.result.len() {
                    self.phase = Phase::Command;
                    self.result.clear();
                }
                v
            }
            Phase::Execution
                if self
                    .xfer
                    .is_some_and(|x| !x.dma && x.kind == XferKind::Read) =>
            {
                self.irq = false;
                if !self.buf_loaded && !self.load_sector() {
                    return 0xFF;
                }
                let v = self.buf[self.buf_pos];
                self.buf_pos += 1;
                if self.buf_pos >= 512 {
                    self.buf_loaded = false;
                    if self.next_sector(false) {
                        self.irq = true;
                    }
                }
                v
            }
            _ => 0xFF,
        }
    }

    fn fifo_write(&mut self, v: u8) {
        match self.phase {
            Phase::Command => {
                self.irq = false;
                self.command.push(v);
                match command_length(self.command[0]) {
                    Some(n) if self.command.len() >= n => self.execute(),
                    Some(_) => {}
                    None => {
                        self.command.clear();
                        self.invalid(v);
                    }
                }
            }
            Phase::Execution
                if self
                    .xfer
                    .is_some_and(|x| !x.dma && x.kind == XferKind::Write) =>
            {
                self.irq = false;
                self.buf[self.buf_pos] = v;
                self.buf_pos += 1;
                if self.buf_pos >= 512 {
                    self.buf_pos = 0;
                    if self.store_sector() && self.next_sector(false) {
                        self.irq = true;
                    }
                }
            }
            _ => self.log_once(0xFD, || {
                "floppy: FIFO write outside the command phase".into()
            }),
        }
    }

    /// A port write that may start a DMA transfer.
    pub fn io_write_dma(
        &mut self,
        port: u16,
        size: u8,
        value: u32,
        ctx: &mut Ctx,
        dma: &mut dyn IsaDma,
    ) {
        self.io_write(port, size, value, ctx);
        if self.dma_pending() {
            self.service_dma(ctx, dma);
        }
    }
}

impl IoDevice for Floppy {
    fn io_read(&mut self, port: u16, _size: u8, ctx: &mut Ctx) -> u32 {
        let v = match port & 7 {
            0 => 0xFF,
            1 => 0xFF,
            2 => self.dor,
            3 => self.tdr,
            4 => self.msr(),
            5 => {
                let v = self.fifo_read();
                self.update_irq(ctx);
                v
            }
            7 => {
                let drv = (self.dor & 3) as usize;
                (self.drives[drv].changed as u8) << 7
            }
            _ => 0xFF,
        };
        v as u32
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32, ctx: &mut Ctx) {
        let v = value as u8;
        match port & 7 {
            2 => {
                let was_reset = self.dor & DOR_NRESET == 0;
                self.dor = v;
                if v & DOR_NRESET == 0 {
                    self.reset();
                } else if was_reset {
                    self.reset_done();
                }
            }
            3 => self.tdr = v & 3,
            4 => {
                self.rate = v & 3;
                if v & 0x80 != 0 {
                    self.reset();
                    self.reset_done();
                }
            }
            5 if self.dor & DOR_NRESET != 0 => self.fifo_write(v),
            7 => self.rate = v & 3,
            _ => {}
        }
        self.update_irq(ctx);
    }
}

#[cfg(test)]
mod tests;
