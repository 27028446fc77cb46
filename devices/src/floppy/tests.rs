//! Tests driving the floppy controller through its ports with a fake 8237.

use super::*;
use crate::block::MemBackend;
use crate::IrqLines;

struct FakeDma {
    mem: Vec<u8>,
    addr: usize,
    left: usize,
    masked: bool,
}

impl IsaDma for FakeDma {
    fn dma_transfer(&mut self, channel: u8, buf: &mut [u8], to_memory: bool) -> DmaTransfer {
        assert_eq!(channel, FDC_DMA_CHANNEL);
        if self.masked || self.left == 0 {
            return DmaTransfer::default();
        }
        let n = buf.len().min(self.left);
        let a = self.addr;
        if to_memory {
            self.mem[a..a + n].copy_from_slice(&buf[..n]);
        } else {
            buf[..n].copy_from_slice(&self.mem[a..a + n]);
        }
        self.addr += n;
        self.left -= n;
        DmaTransfer {
            moved: n,
            terminal_count: self.left == 0,
        }
    }
}

struct H {
    fdc: Floppy,
    irq: IrqLines,
    dma: FakeDma,
}

fn image(sectors: usize) -> MemBackend {
    MemBackend::new(
        (0..sectors * 512)
            .map(|i| (i / 512) as u8 ^ (i % 7) as u8)
            .collect(),
    )
}

impl H {
    fn new(img: MemBackend) -> Self {
        let mut fdc = Floppy::new();
        fdc.insert(0, Box::new(img)).unwrap();
        let dma = FakeDma {
            mem: vec![0; 0x10000],
            addr: 0,
            left: 0,
            masked: false,
        };
        let mut h = Self {
            fdc,
            irq: IrqLines::default(),
            dma,
        };
        // Reset through the DOR, then the four SENSE INTERRUPT STATUS.
        h.out(0x3F2, 0x00);
        h.out(0x3F2, 0x1C);
        assert!(h.irq.level(FDC_IRQ));
        for d in 0..4 {
            assert_eq!(h.cmd(&[0x08]), vec![0xC0 | d, 0]);
        }
        assert!(!h.irq.level(FDC_IRQ));
        h
    }
    fn out(&mut self, port: u16, v: u8) {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.irq,
        };
        self.fdc
            .io_write_dma(port, 1, v as u32, &mut ctx, &mut self.dma);
    }
    fn inb(&mut self, port: u16) -> u8 {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.irq,
        };
        self.fdc.io_read(port, 1, &mut ctx) as u8
    }
    /// Send a command and collect its result bytes.
    fn cmd(&mut self, bytes: &[u8]) -> Vec<u8> {
        for &b in bytes {
            assert_eq!(self.inb(0x3F4) & (MSR_RQM | MSR_DIO), MSR_RQM);
            self.out(0x3F5, b);
        }
        let mut r = Vec::new();
        while self.inb(0x3F4) & (MSR_RQM | MSR_DIO | MSR_NDMA) == MSR_RQM | MSR_DIO {
            r.push(self.inb(0x3F5));
        }
        r
    }
    fn dma(&mut self, addr: usize, len: usize) {
        self.dma.addr = addr;
        self.dma.left = len;
    }
}

#[test]
fn version_configure_dumpreg_lock() {
    let mut h = H::new(image(2880));
    assert_eq!(h.cmd(&[0x10]), vec![0x90]);
    assert_eq!(h.cmd(&[0x13, 0, 0x57, 0]), Vec::<u8>::new());
    assert_eq!(h.cmd(&[0x03, 0xAF, 0x02]), Vec::<u8>::new());
    assert_eq!(h.cmd(&[0x94]), vec![0x10]);
    let d = h.cmd(&[0x0E]);
    assert_eq!(d.len(), 10);
    assert_eq!((d[4], d[5], d[7] >> 7, d[8]), (0xAF, 0x02, 1, 0x57));
    assert_eq!(h.cmd(&[0x1F]), vec![0x80]);
    assert_eq!(h.cmd(&[0x08]), vec![0x80], "no interrupt pending");
}

#[test]
fn seek_sense_and_dma_read() {
    let mut h = H::new(image(2880));
    assert_eq!(
        h.inb(0x3F7) & 0x80,
        0x80,
        "disk change line after insertion"
    );
    assert_eq!(h.cmd(&[0x0F, 0x00, 1]), Vec::<u8>::new());
    assert!(h.irq.level(FDC_IRQ));
    assert_eq!(h.cmd(&[0x08]), vec![0x20, 1]);
    assert!(!h.irq.level(FDC_IRQ));
    assert_eq!(h.inb(0x3F7) & 0x80, 0, "seek clears disk change");
    // READ DATA C1 H0 R3..R4 (EOT 4), DMA count of two sectors.
    h.dma(0x1000, 1024);
    let r = h.cmd(&[0xE6, 0x00, 1, 0, 3, 2, 4, 0x1B, 0xFF]);
    assert_eq!(
        r,
        vec![0x04, 0, 0, 1, 1, 1, 2],
        "normal end at TC; MT: next is C1 H1 R1"
    );
    let lba = 18 * 2 + 2; // C1 H0 R3
    assert_eq!(
        &h.dma.mem[0x1000..0x1400],
        &image(2880).data()[lba * 512..(lba + 2) * 512]
    );
    // Multi-track: R18 on head 0 continues with R1 on head 1.
    h.dma(0x2000, 1024);
    let r = h.cmd(&[0xE6, 0x00, 1, 0, 18, 2, 18, 0x1B, 0xFF]);
    assert_eq!(r[..3], [0x04, 0, 0], "ST0 reports head 1");
    assert_eq!(&r[3..6], &[1, 1, 2]);
    assert_eq!(
        &h.dma.mem[0x2200..0x2400],
        &image(2880).data()[(18 * 3) * 512..(18 * 3 + 1) * 512]
    );
    // READ ID.
    let r = h.cmd(&[0x4A, 0x00]);
    assert_eq!((r[0] & 0xC0, r[3], r[6]), (0, 1, 2));
}

#[test]
fn read_errors() {
    let mut h = H::new(image(2880));
    h.dma(0, 512);
    // Sector 19 does not exist on a 1.44 MB track.
    let r = h.cmd(&[0xE6, 0x00, 0, 0, 19, 2, 19, 0x1B, 0xFF]);
    assert_eq!((r[0] & 0xC0, r[1], r[2]), (0x40, ST1_ND, 0));
    // Wrong cylinder (implied seek off): head is on track 0.
    let r = h.cmd(&[0xE6, 0x00, 5, 0, 1, 2, 18, 0x1B, 0xFF]);
    assert_eq!((r[0] & 0xC0, r[1], r[2]), (0x40, ST1_ND, ST2_WC));
    // Reaching EOT before TC: end of cylinder.
    h.dma(0, 4096);
    let r = h.cmd(&[0x46, 0x00, 0, 0, 17, 2, 18, 0x1B, 0xFF]);
    assert_eq!((r[0] & 0xC0, r[1]), (0x40, ST1_EN));
    assert_eq!(&r[3..6], &[1, 0, 1]);
    // EOT past the end of the track: the missing sector is not found.
    h.dma(0, 4096);
    let r = h.cmd(&[0x46, 0x00, 0, 0, 17, 2, 20, 0x1B, 0xFF]);
    assert_eq!((r[0] & 0xC0, r[1], r[5]), (0x40, ST1_ND, 19));
    // Wrong data rate (250 kbit/s for a 1.44 MB disk): missing address mark.
    h.out(0x3F7, 2);
    let r = h.cmd(&[0x4A, 0x00]);
    assert_eq!((r[0] & 0xC0, r[1]), (0x40, ST1_MA));
    // Empty drive 1: not ready.
    h.out(0x3F7, 0);
    let r = h.cmd(&[0xE6, 0x01, 0, 0, 1, 2, 18, 0x1B, 0xFF]);
    assert_eq!(r[0] & 0xCB, 0x40 | ST0_NOT_READY | 1);
    assert!(h.irq.level(FDC_IRQ) || r.len() == 7);
}

#[test]
fn dma_write_masked_channel_and_write_protect() {
    let mut h = H::new(image(1440));
    assert_eq!(h.fdc.cmos_drive_types(), 0x44);
    h.out(0x3F7, 2); // 720 KB at 250 kbit/s
    h.dma.mem[0x3000..0x3200].fill(0xA5);
    h.dma(0x3000, 512);
    h.dma.masked = true;
    for b in [0xC5, 0x04, 0, 1, 9, 2, 9, 0x1B, 0xFF] {
        h.out(0x3F5, b);
    }
    assert!(h.fdc.dma_pending());
    assert_eq!(h.inb(0x3F4) & MSR_RQM, 0, "busy in the execution phase");
    h.dma.masked = false;
    let mut ctx = Ctx {
        now: 0,
        irq: &mut h.irq,
    };
    h.fdc.service_dma(&mut ctx, &mut h.dma);
    assert!(h.irq.level(FDC_IRQ));
    let r = h.cmd(&[]);
    assert_eq!(
        r,
        vec![0, 0, 0, 1, 0, 1, 2],
        "MT end on head 1: C+1, H0, R1"
    );
    let back = h.fdc.eject(0).unwrap();
    let mut sec = [0u8; 512];
    let mut back = back;
    back.read_at(17 * 512, &mut sec).unwrap(); // C0 H1 R9
    let _ = back;
    assert!(sec.iter().all(|&b| b == 0xA5));

    let mut h = H::new(MemBackend::read_only(vec![0; 1474560]));
    h.dma(0, 512);
    let r = h.cmd(&[0xC5, 0x00, 0, 0, 1, 2, 1, 0x1B, 0xFF]);
    assert_eq!((r[0] & 0xC0, r[1]), (0x40, ST1_NW));
    assert_eq!(h.cmd(&[0x04, 0x00])[0] & 0x40, 0x40, "ST3 write protected");
}

#[test]
fn non_dma_read_and_format() {
    let mut h = H::new(image(2880));
    assert_eq!(h.cmd(&[0x03, 0xAF, 0x03]), Vec::<u8>::new()); // ND
    for b in [0x46, 0x00, 0, 0, 2, 2, 2, 0x1B, 0xFF] {
        h.out(0x3F5, b);
    }
    assert!(h.irq.level(FDC_IRQ));
    let mut data = Vec::new();
    while h.inb(0x3F4) & (MSR_RQM | MSR_NDMA | MSR_DIO) == MSR_RQM | MSR_NDMA | MSR_DIO {
        data.push(h.inb(0x3F5));
    }
    assert_eq!(data, image(2880).data()[512..1024]);
    let r = h.cmd(&[]);
    assert_eq!((r[0] & 0xC0, r[1]), (0x40, ST1_EN), "no TC without DMA");

    // FORMAT TRACK 0 head 1 by DMA: 18 IDs, filler 0xF6.
    assert_eq!(h.cmd(&[0x03, 0xAF, 0x02]), Vec::<u8>::new());
    for (i, r) in (1..=18u8).enumerate() {
        h.dma.mem[i * 4..i * 4 + 4].copy_from_slice(&[0, 1, r, 2]);
    }
    h.dma(0, 72);
    let r = h.cmd(&[0x4D, 0x04, 2, 18, 0x54, 0xF6]);
    assert_eq!(r[0] & 0xC0, 0);
    h.dma(0x8000, 512);
    let r = h.cmd(&[0x46, 0x04, 0, 1, 5, 2, 18, 0x1B, 0xFF]);
    assert_eq!(r[0] & 0xC0, 0);
    assert!(h.dma.mem[0x8000..0x8200].iter().all(|&b| b == 0xF6));
}

#[test]
fn formats_and_snapshot() {
    assert_eq!(format_for_size(737280).unwrap().0.spt, 9);
    assert_eq!(format_for_size(1228800).unwrap().1, FloppyType::M1_2);
    assert_eq!(format_for_size(2949120).unwrap().0.rate, 3);
    assert_eq!(
        format_for_size(1_000_000).unwrap().0.spt,
        15,
        "padded to 1.2 MB"
    );
    assert!(format_for_size(4_000_000).is_none());
    let mut f = Floppy::new();
    assert!(matches!(
        f.insert(0, Box::new(MemBackend::zeroed(4_000_000))),
        Err(FloppyError::TooLarge(_))
    ));
    f.insert(1, Box::new(MemBackend::zeroed(2949120))).unwrap();
    assert_eq!(f.cmos_drive_types(), 0x45);
    let json = serde_json::to_string(&f).unwrap();
    let mut g: Floppy = serde_json::from_str(&json).unwrap();
    g.reattach(1, Box::new(MemBackend::zeroed(2949120)))
        .unwrap();
    assert_eq!(g.cmos_drive_types(), 0x45);
}
