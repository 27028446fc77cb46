//! Tests driving the IDE controller through its ports, as a guest driver would.

use super::*;
use crate::block::MemBackend;
use crate::pci::ide_pci::tests::{put_prd, FakeMem};
use crate::pci::ide_pci::{BM_STATUS_ACTIVE, BM_STATUS_INTR};
use ata::{ERROR_ABRT, ERROR_IDNF, ERROR_UNC, STATUS_DRDY, STATUS_DRQ, STATUS_ERR};
use atapi::{
    ASC_LBA_OUT_OF_RANGE, ASC_MEDIUM_CHANGED, SENSE_ILLEGAL_REQUEST, SENSE_UNIT_ATTENTION,
};

/// A backend that is very large and reads as a pattern of its offset (LBA48 tests).
struct HugeBackend(u64);
impl BlockBackend for HugeBackend {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = ((offset + i as u64) >> 9) as u8;
        }
        Ok(())
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn len(&self) -> u64 {
        self.0
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn read_only(&self) -> bool {
        false
    }
}

struct H {
    ide: IdeController,
    irq: IrqLines,
}

impl H {
    fn new() -> Self {
        Self {
            ide: IdeController::new(),
            irq: IrqLines::default(),
        }
    }
    fn rd(&mut self, port: u16, size: u8) -> u32 {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.irq,
        };
        self.ide.io_read(port, size, &mut ctx)
    }
    fn wr(&mut self, port: u16, size: u8, v: u32) {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.irq,
        };
        self.ide.io_write(port, size, v, &mut ctx)
    }
    fn wr_dma(&mut self, port: u16, size: u8, v: u32, mem: &mut FakeMem) {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.irq,
        };
        self.ide.io_write_dma(port, size, v, &mut ctx, mem)
    }
    fn status(&mut self) -> u8 {
        self.rd(0x1F7, 1) as u8
    }
    /// Program an LBA28 command on the primary channel.
    fn lba28(&mut self, dev: u8, lba: u32, count: u8, cmd: u8) {
        self.wr(0x1F6, 1, 0xE0 | (dev as u32) << 4 | (lba >> 24) & 0xF);
        self.wr(0x1F2, 1, count as u32);
        self.wr(0x1F3, 1, lba & 0xFF);
        self.wr(0x1F4, 1, (lba >> 8) & 0xFF);
        self.wr(0x1F5, 1, (lba >> 16) & 0xFF);
        self.wr(0x1F7, 1, cmd as u32);
    }
    fn read_words(&mut self, port: u16, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|_| (self.rd(port, 2) as u16).to_le_bytes())
            .collect()
    }
}

fn patterned_disk(sectors: usize) -> MemBackend {
    let mut d = vec![0u8; sectors * 512];
    for (i, b) in d.iter_mut().enumerate() {
        *b = (i / 512) as u8 ^ (i % 251) as u8;
    }
    MemBackend::new(d)
}

fn disk_harness(sectors: usize) -> H {
    let mut h = H::new();
    h.ide.attach_disk(0, 0, Box::new(patterned_disk(sectors)));
    h
}

#[test]
fn identify_device() {
    let mut h = disk_harness(20160); // 20 cylinders of 16*63
    assert_eq!(h.rd(0x1F4, 1), 0);
    assert_eq!(h.status() & (STATUS_DRDY | STATUS_BSY), STATUS_DRDY);
    h.wr(0x1F6, 1, 0xA0);
    h.wr(0x1F7, 1, 0xEC);
    assert!(h.irq.level(14));
    assert_eq!(h.rd(0x3F6, 1) as u8 & STATUS_DRQ, STATUS_DRQ);
    assert!(h.irq.level(14), "alt status does not acknowledge");
    assert_eq!(h.status() & STATUS_DRQ, STATUS_DRQ);
    assert!(!h.irq.level(14), "status read acknowledges");
    let id = h.read_words(0x1F0, 256);
    let w = |i: usize| u16::from_le_bytes([id[2 * i], id[2 * i + 1]]);
    assert_eq!(w(0), 0x0040);
    assert_eq!((w(1), w(3), w(6)), (20, 16, 63));
    assert_eq!(w(60) as u32 | (w(61) as u32) << 16, 20160);
    assert_eq!(w(100), 20160);
    assert_eq!(w(83) & (1 << 10), 1 << 10);
    assert_eq!(w(49) & 0x300, 0x300);
    // "IRONBOX HARDDISK": first word holds 'I' in its high byte.
    assert_eq!(&id[54..62], b"RINOOB X");
    assert_eq!(id[510], 0xA5);
    assert_eq!(id.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    assert_eq!(h.status() & (STATUS_DRQ | STATUS_ERR), 0);
    // Absent slave: status 0, commands ignored.
    h.wr(0x1F6, 1, 0xB0);
    assert_eq!(h.status(), 0);
    h.wr(0x1F7, 1, 0xEC);
    assert!(!h.irq.level(14));
    // Empty secondary channel floats to 0.
    assert_eq!(h.rd(0x177, 1), 0);
}

#[test]
fn pio_read_write_lba28_and_multiple() {
    let mut h = disk_harness(64);
    h.lba28(0, 3, 2, 0x20);
    assert!(h.irq.level(14));
    assert_eq!(h.status() & STATUS_DRQ, STATUS_DRQ);
    let first = h.read_words(0x1F0, 256);
    assert_eq!(first, patterned_disk(64).data()[3 * 512..4 * 512]);
    assert!(h.irq.level(14), "second block raises INTRQ again");
    assert_eq!(h.status() & STATUS_DRQ, STATUS_DRQ);
    // 32-bit reads for the second sector.
    let second: Vec<u8> = (0..128)
        .flat_map(|_| h.rd(0x1F0, 4).to_le_bytes())
        .collect();
    assert_eq!(second, patterned_disk(64).data()[4 * 512..5 * 512]);
    assert_eq!(h.status() & (STATUS_DRQ | STATUS_ERR), 0);
    assert_eq!(
        h.rd(0x1F3, 1),
        5,
        "address registers point past the transfer"
    );

    // WRITE SECTORS: DRQ without INTRQ, INTRQ after the data.
    h.lba28(0, 10, 1, 0x30);
    assert!(!h.irq.level(14));
    assert_eq!(h.status() & STATUS_DRQ, STATUS_DRQ);
    for i in 0..256u32 {
        h.wr(0x1F0, 2, i * 3);
    }
    assert!(h.irq.level(14));
    assert_eq!(h.status() & (STATUS_DRQ | STATUS_ERR), 0);
    h.lba28(0, 10, 1, 0x20);
    let back = h.read_words(0x1F0, 256);
    let expect: Vec<u8> = (0..256u32)
        .flat_map(|i| ((i * 3) as u16).to_le_bytes())
        .collect();
    assert_eq!(back, expect);

    // READ MULTIPLE needs SET MULTIPLE MODE; a bad block size aborts.
    h.lba28(0, 0, 3, 0xC6);
    assert_eq!(h.status() & STATUS_ERR, STATUS_ERR);
    assert_eq!(h.rd(0x1F1, 1) as u8, ERROR_ABRT);
    h.lba28(0, 0, 4, 0xC6);
    assert_eq!(h.status() & STATUS_ERR, 0);
    h.lba28(0, 0, 6, 0xC4);
    h.status();
    let _ = h.read_words(0x1F0, 256 * 4);
    assert!(h.irq.level(14), "one INTRQ per block of 4");
    h.status();
    let _ = h.read_words(0x1F0, 256 * 2);
    assert!(!h.irq.level(14));
    assert_eq!(h.status() & (STATUS_DRQ | STATUS_ERR), 0);
}

#[test]
fn lba48_and_out_of_range() {
    let mut h = H::new();
    h.ide
        .attach_disk(0, 0, Box::new(HugeBackend(0x2_0000_0000 * 512)));
    h.wr(0x1F7, 1, 0xEC);
    h.status();
    let id = h.read_words(0x1F0, 256);
    let w = |i: usize| u16::from_le_bytes([id[2 * i], id[2 * i + 1]]) as u64;
    assert_eq!(w(100) | w(101) << 16 | w(102) << 32, 0x2_0000_0000);
    assert_eq!(w(60) | w(61) << 16, 0x0FFF_FFFF);
    // READ SECTORS EXT at LBA 0x1_0000_0201, 1 sector: high bytes first.
    h.wr(0x1F6, 1, 0x40);
    for (port, hi, lo) in [
        (0x1F2, 0, 1),
        (0x1F3, 0, 0x01),
        (0x1F4, 1, 0x02),
        (0x1F5, 0, 0),
    ] {
        h.wr(port, 1, hi);
        h.wr(port, 1, lo);
    }
    h.wr(0x1F7, 1, 0x24);
    assert_eq!(h.status() & (STATUS_DRQ | STATUS_ERR), STATUS_DRQ);
    let data = h.read_words(0x1F0, 256);
    assert!(
        data.iter().all(|&b| b == 0x01),
        "sector 0x1_0000_0201 reads its low byte"
    );
    // HOB readback of the updated address.
    h.wr(0x3F6, 1, 0x80);
    assert_eq!(h.rd(0x1F4, 1), 1);
    h.wr(0x3F6, 1, 0x00);
    assert_eq!(h.rd(0x1F3, 1), 0x02);

    // Out of range: ERR + IDNF, with INTRQ.
    let mut h = disk_harness(64);
    h.lba28(0, 63, 2, 0x20);
    assert!(h.irq.level(14));
    assert_eq!(h.status() & (STATUS_ERR | STATUS_DRQ), STATUS_ERR);
    assert_eq!(h.rd(0x1F1, 1) as u8, ERROR_IDNF);
    // Unknown command: ABRT.
    h.wr(0x1F7, 1, 0x5C);
    assert_eq!(h.status() & STATUS_ERR, STATUS_ERR);
    assert_eq!(h.rd(0x1F1, 1) as u8, ERROR_ABRT);
}

#[test]
fn chs_addressing_and_io_error() {
    let mut h = disk_harness(2 * 16 * 63);
    // Cylinder 1, head 2, sector 5 -> LBA (1*16+2)*63 + 4 = 1138.
    h.wr(0x1F6, 1, 0xA2);
    h.wr(0x1F2, 1, 1);
    h.wr(0x1F3, 1, 5);
    h.wr(0x1F4, 1, 1);
    h.wr(0x1F5, 1, 0);
    h.wr(0x1F7, 1, 0x20);
    assert_eq!(h.status() & STATUS_DRQ, STATUS_DRQ);
    let d = h.read_words(0x1F0, 256);
    assert_eq!(
        d,
        patterned_disk(2 * 16 * 63).data()[1138 * 512..1139 * 512]
    );
    // Sector 0 is not a CHS sector.
    h.wr(0x1F3, 1, 0);
    h.wr(0x1F7, 1, 0x20);
    assert_eq!(h.rd(0x1F1, 1) as u8, ERROR_IDNF);

    let mut bad = patterned_disk(8);
    bad.fail = Some(std::io::ErrorKind::Other);
    let mut h = H::new();
    h.ide.attach_disk(0, 0, Box::new(bad));
    h.lba28(0, 1, 1, 0x20);
    assert!(h.irq.level(14));
    assert_eq!(h.status() & (STATUS_ERR | STATUS_DRQ), STATUS_ERR);
    assert_eq!(h.rd(0x1F1, 1) as u8, ERROR_UNC);
    assert_eq!(h.ide.drive(0, 0).unwrap().io_errors, 1);
}

#[test]
fn soft_reset_signature_and_nien() {
    let mut h = disk_harness(64);
    h.ide.attach_cdrom(0, 1, None);
    h.wr(0x3F6, 1, 0x06);
    assert_eq!(h.rd(0x3F6, 1) as u8 & STATUS_BSY, STATUS_BSY);
    h.wr(0x3F6, 1, 0x02);
    assert_eq!(h.status(), STATUS_DRDY | STATUS_DSC);
    assert_eq!(
        (
            h.rd(0x1F2, 1),
            h.rd(0x1F3, 1),
            h.rd(0x1F4, 1),
            h.rd(0x1F5, 1)
        ),
        (1, 1, 0, 0)
    );
    h.wr(0x1F6, 1, 0xB0);
    assert_eq!((h.rd(0x1F4, 1), h.rd(0x1F5, 1)), (0x14, 0xEB));
    assert_eq!(h.status(), 0);
    // nIEN masks the line.
    h.wr(0x1F6, 1, 0xA0);
    h.wr(0x1F7, 1, 0xE5);
    assert!(!h.irq.level(14));
    h.wr(0x3F6, 1, 0x00);
    assert!(h.irq.level(14));
    assert_eq!(h.rd(0x1F2, 1), 0xFF);
    // EXECUTE DEVICE DIAGNOSTIC: error register 1.
    h.wr(0x1F7, 1, 0x90);
    assert_eq!(h.rd(0x1F1, 1), 1);
}

fn enable_bm(h: &mut H) -> u16 {
    h.ide.config_write(0x20, 4, 0xC000);
    h.ide.config_write(0x04, 2, 0x0005);
    assert_eq!(h.ide.bm_base(), Some(0xC000));
    0xC000
}

#[test]
fn bus_master_dma_read_two_prds() {
    let mut h = disk_harness(64);
    let bm = enable_bm(&mut h);
    let mut mem = FakeMem(vec![0; 0x40000]);
    put_prd(&mut mem, 0x1000, 0x10000, 512, false);
    put_prd(&mut mem, 0x1008, 0x20000, 1024, true);
    h.wr(bm + 4, 4, 0x1000);
    h.wr(bm, 1, 0x08); // direction: to memory
    h.lba28(0, 5, 3, 0xC8);
    assert!(!h.irq.level(14));
    assert!(!h.ide.dma_pending());
    h.wr_dma(bm, 1, 0x09, &mut mem);
    assert!(h.irq.level(14));
    let bs = h.rd(bm + 2, 1) as u8;
    assert_eq!(bs & (BM_STATUS_ACTIVE | BM_STATUS_INTR), BM_STATUS_INTR);
    let disk = patterned_disk(64);
    assert_eq!(&mem.0[0x10000..0x10200], &disk.data()[5 * 512..6 * 512]);
    assert_eq!(&mem.0[0x20000..0x20400], &disk.data()[6 * 512..8 * 512]);
    assert_eq!(h.status() & (STATUS_DRQ | STATUS_ERR), 0);
    h.wr(bm + 2, 1, BM_STATUS_INTR as u32);
    assert_eq!(h.rd(bm + 2, 1) as u8 & BM_STATUS_INTR, 0);
    h.wr(bm, 1, 0x00);

    // WRITE DMA from memory, started before the command (plain io_write + service_dma).
    mem.0[0x30000..0x30200].fill(0x5A);
    put_prd(&mut mem, 0x1000, 0x30000, 512, true);
    h.wr(bm, 1, 0x01);
    h.lba28(0, 9, 1, 0xCA);
    assert!(h.ide.dma_pending());
    let mut ctx = Ctx {
        now: 0,
        irq: &mut h.irq,
    };
    h.ide.service_dma(&mut ctx, &mut mem);
    assert!(h.irq.level(14));
    h.lba28(0, 9, 1, 0x20);
    assert!(h.read_words(0x1F0, 256).iter().all(|&b| b == 0x5A));

    // A PRD table too short: active cleared, no interrupt.
    h.wr(bm, 1, 0x00);
    h.wr(bm + 2, 1, BM_STATUS_INTR as u32);
    put_prd(&mut mem, 0x1000, 0x10000, 512, true);
    h.wr(bm, 1, 0x08);
    h.lba28(0, 0, 2, 0xC8);
    h.wr_dma(bm, 1, 0x09, &mut mem);
    assert_eq!(
        h.rd(bm + 2, 1) as u8 & (BM_STATUS_ACTIVE | BM_STATUS_INTR),
        0
    );
}

// ---- ATAPI ----

fn iso(sectors: usize) -> MemBackend {
    let mut d = vec![0u8; sectors * 2048];
    for (i, b) in d.iter_mut().enumerate() {
        *b = (i / 2048) as u8;
    }
    MemBackend::read_only(d)
}

fn cd_harness() -> H {
    let mut h = H::new();
    h.ide.attach_cdrom(1, 0, Some(Box::new(iso(100))));
    h
}

impl H {
    /// Send a packet on the secondary master; PIO with the given byte count limit.
    fn packet(&mut self, cdb: &[u8], limit: u16, dma: bool) {
        self.wr(0x176, 1, 0xA0);
        self.wr(0x171, 1, dma as u32);
        self.wr(0x174, 1, limit as u32 & 0xFF);
        self.wr(0x175, 1, (limit >> 8) as u32);
        self.wr(0x177, 1, 0xA0);
        assert_eq!(self.rd(0x177, 1) as u8 & STATUS_DRQ, STATUS_DRQ);
        assert_eq!(self.rd(0x172, 1), 1, "interrupt reason: command out");
        let mut c = [0u8; 12];
        c[..cdb.len()].copy_from_slice(cdb);
        for i in 0..6 {
            self.wr(
                0x170,
                2,
                u16::from_le_bytes([c[2 * i], c[2 * i + 1]]) as u32,
            );
        }
    }
    /// Read all data of a PIO packet command; returns (data, chunk count).
    fn packet_data(&mut self) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut chunks = 0;
        loop {
            let st = self.rd(0x177, 1) as u8;
            if st & STATUS_DRQ == 0 {
                return (out, chunks);
            }
            assert_eq!(self.rd(0x172, 1), 2, "interrupt reason: data in");
            let n = self.rd(0x174, 1) as usize | (self.rd(0x175, 1) as usize) << 8;
            chunks += 1;
            for _ in 0..n.div_ceil(2) {
                out.extend_from_slice(&(self.rd(0x170, 2) as u16).to_le_bytes());
            }
            out.truncate(out.len() - (n % 2));
        }
    }
    fn sense(&mut self) -> (u8, u8) {
        self.packet(&[0x03, 0, 0, 0, 18], 18, false);
        let (d, _) = self.packet_data();
        (d[2], d[12])
    }
}

#[test]
fn atapi_identify_and_inquiry() {
    let mut h = cd_harness();
    h.wr(0x176, 1, 0xA0);
    assert_eq!((h.rd(0x174, 1), h.rd(0x175, 1)), (0x14, 0xEB));
    h.wr(0x177, 1, 0xEC);
    assert_eq!(h.rd(0x177, 1) as u8 & STATUS_ERR, STATUS_ERR);
    h.wr(0x177, 1, 0xA1);
    assert!(h.irq.level(15));
    let id = h.read_words(0x170, 256);
    assert_eq!(u16::from_le_bytes([id[0], id[1]]), 0x85C0);

    h.packet(&[0x12, 0, 0, 0, 36], 0xFFFE, false);
    assert!(h.irq.level(15));
    let (d, _) = h.packet_data();
    assert_eq!(d.len(), 36);
    assert_eq!(d[0], 0x05);
    assert_eq!(d[1], 0x80);
    assert_eq!(&d[8..15], b"IRONBOX");
    assert_eq!(h.rd(0x172, 1), 3, "interrupt reason: status");
    assert_eq!(h.rd(0x177, 1) as u8 & STATUS_ERR, 0);
}

#[test]
fn atapi_capacity_read10_and_sense() {
    let mut h = cd_harness();
    h.packet(&[0x25], 8, false);
    let (d, _) = h.packet_data();
    assert_eq!(d, [0, 0, 0, 99, 0, 0, 0x08, 0]);

    // READ(10) of 3 sectors from LBA 7 with a 4096-byte limit: 2 chunks.
    h.packet(&[0x28, 0, 0, 0, 0, 7, 0, 0, 3], 4096, false);
    let (d, chunks) = h.packet_data();
    assert_eq!(d.len(), 3 * 2048);
    assert_eq!((d[0], d[2048], d[4096]), (7, 8, 9));
    assert_eq!(chunks, 2);
    // An odd, small limit splits sectors into even chunks.
    h.packet(&[0x28, 0, 0, 0, 0, 1, 0, 0, 1], 1001, false);
    let (d, chunks) = h.packet_data();
    assert_eq!((d.len(), chunks), (2048, 3));
    assert!(d.iter().all(|&b| b == 1));

    // Out of range: CHECK CONDITION, then REQUEST SENSE tells why.
    h.packet(&[0x28, 0, 0, 0, 0, 99, 0, 0, 2], 0xFFFE, false);
    let st = h.rd(0x177, 1) as u8;
    assert_eq!(st & (STATUS_ERR | STATUS_DRQ), STATUS_ERR);
    assert_eq!(h.rd(0x171, 1) as u8 >> 4, SENSE_ILLEGAL_REQUEST);
    assert_eq!(h.sense(), (SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE));
    assert_eq!(h.sense(), (0, 0));
    // Unknown opcode.
    h.packet(&[0xD9], 0xFFFE, false);
    assert_eq!(h.sense(), (SENSE_ILLEGAL_REQUEST, 0x20));
}

#[test]
fn atapi_media_change_toc_and_dma() {
    let mut h = cd_harness();
    h.ide.drive_mut(1, 0).unwrap().change_medium(None);
    h.packet(&[0x00], 0, false);
    assert_eq!(h.sense(), (2, 0x3A));
    h.ide
        .drive_mut(1, 0)
        .unwrap()
        .change_medium(Some(Box::new(iso(300))));
    h.packet(&[0x00], 0, false);
    assert_eq!(h.sense(), (SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED));
    h.packet(&[0x00], 0, false);
    assert_eq!(h.rd(0x177, 1) as u8 & STATUS_ERR, 0);
    // GESN reports the new medium once.
    h.packet(&[0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8], 0xFFFE, false);
    let (d, _) = h.packet_data();
    assert_eq!(&d[2..8], &[0x04, 0x10, 2, 2, 0, 0]);
    // TOC format 0 in MSF: lead-out at 300 + 150 frames = 00:06:00.
    h.packet(&[0x43, 2, 0, 0, 0, 0, 0, 0, 20], 0xFFFE, false);
    let (d, _) = h.packet_data();
    assert_eq!(&d[..4], &[0, 18, 1, 1]);
    assert_eq!(&d[8..12], &[0, 0, 2, 0]);
    assert_eq!(&d[12..20], &[0, 0x14, 0xAA, 0, 0, 0, 6, 0]);
    // MODE SENSE(10) capabilities page.
    h.packet(&[0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 28], 0xFFFE, false);
    let (d, _) = h.packet_data();
    assert_eq!((d[8], d[9]), (0x2A, 18));

    // READ(12) by DMA.
    let bm = enable_bm(&mut h);
    let mut mem = FakeMem(vec![0; 0x40000]);
    put_prd(&mut mem, 0x100, 0x10000, 0, false); // 64 KiB
    put_prd(&mut mem, 0x108, 0x30000, 4096, true);
    h.wr(bm + 8 + 4, 4, 0x100);
    h.wr(bm + 8, 1, 0x08);
    h.packet(&[0xA8, 0, 0, 0, 0, 10, 0, 0, 0, 34], 0, true);
    h.wr_dma(bm + 8, 1, 0x09, &mut mem);
    assert!(h.irq.level(15));
    assert_eq!(
        h.rd(bm + 10, 1) as u8 & (BM_STATUS_ACTIVE | BM_STATUS_INTR),
        BM_STATUS_INTR
    );
    assert_eq!(
        (
            mem.0[0x10000],
            mem.0[0x1FFFF],
            mem.0[0x30000],
            mem.0[0x30FFF]
        ),
        (10, 41, 42, 43)
    );
    assert_eq!(h.rd(0x172, 1), 3);
    assert_eq!(h.rd(0x177, 1) as u8 & (STATUS_ERR | STATUS_DRQ), 0);
}

#[test]
fn snapshot_round_trip_keeps_state() {
    let mut h = disk_harness(64);
    h.lba28(0, 3, 2, 0x20);
    h.status();
    let first = h.read_words(0x1F0, 100);
    let json = serde_json::to_string(&h.ide).unwrap();
    let mut restored: IdeController = serde_json::from_str(&json).unwrap();
    restored
        .drive_mut(0, 0)
        .unwrap()
        .attach(Some(Box::new(patterned_disk(64))));
    h.ide = restored;
    let rest = h.read_words(0x1F0, 156);
    assert_eq!(
        [first, rest].concat(),
        patterned_disk(64).data()[3 * 512..4 * 512]
    );
    assert_eq!(h.status() & STATUS_DRQ, STATUS_DRQ, "second sector follows");
}
