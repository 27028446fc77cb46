use super::*;

const T0: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC, a Tuesday
const SEC_NS: Nanos = 1_000_000_000;

struct Rig {
    rtc: Rtc,
    lines: IrqLines,
    now: Nanos,
}

impl Rig {
    fn new(secs: i64) -> Self {
        Rig {
            rtc: Rtc::new(secs),
            lines: IrqLines::default(),
            now: 0,
        }
    }
    fn read(&mut self, index: u8) -> u8 {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.lines,
        };
        self.rtc.io_write(0x70, 1, index.into(), &mut ctx);
        self.rtc.io_read(0x71, 1, &mut ctx) as u8
    }
    fn write(&mut self, index: u8, value: u8) {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.lines,
        };
        self.rtc.io_write(0x70, 1, index.into(), &mut ctx);
        self.rtc.io_write(0x71, 1, value.into(), &mut ctx);
    }
    /// Run to `ns`; returns (IRQ 8 rising edge seen, next deadline).
    fn at(&mut self, ns: Nanos) -> (bool, Option<Nanos>) {
        self.now = ns;
        let mut ctx = Ctx {
            now: ns,
            irq: &mut self.lines,
        };
        let next = self.rtc.advance_to(&mut ctx);
        (self.lines.take_edges() & (1 << 8) != 0, next)
    }
    fn clock(&mut self) -> [u8; 8] {
        [SEC, MIN, HOUR, DOW, DAY, MONTH, YEAR, CENTURY].map(|i| self.read(i))
    }
}

#[test]
fn calendar_conversions() {
    for days in [-800_000, -1, 0, 59, 10_956, 19_675, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(civil_from_days(19_782), (2024, 2, 29));
}

#[test]
fn bcd_binary_and_12_hour_formats() {
    let mut r = Rig::new(T0);
    assert_eq!(r.clock(), [0x20, 0x13, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20]);
    r.write(REG_B, 0x06); // binary, 24 h
    assert_eq!(r.clock(), [20, 13, 22, 3, 14, 11, 23, 20]);
    r.write(REG_B, 0x04); // binary, 12 h
    assert_eq!(r.read(HOUR), 0x80 | 10);
    r.write(REG_B, 0x00); // BCD, 12 h
    assert_eq!(r.read(HOUR), 0x80 | 0x10);
    let mut r = Rig::new(T0 - 22 * 3600); // midnight: 12 AM
    r.write(REG_B, 0x00);
    assert_eq!(r.read(HOUR), 0x12);
    assert_eq!(r.read(REG_D), 0x80);
}

#[test]
fn time_advances_with_virtual_time_only() {
    let mut r = Rig::new(946_684_798); // 1999-12-31 23:59:58
    assert_eq!(r.clock(), [0x58, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19]);
    r.now = 2 * SEC_NS;
    assert_eq!(r.clock(), [0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20]);
    r.now = 2 * SEC_NS + 86_400 * 60 * SEC_NS; // 2000 is a leap year: 60 days on is 1 March
    assert_eq!(r.read(MONTH), 0x03);
    assert_eq!(r.read(DAY), 0x01);
    assert_eq!(r.rtc.time(r.now), 946_684_800 + 86_400 * 60);
}

#[test]
fn set_bit_stops_and_restarts_the_clock() {
    let mut r = Rig::new(T0);
    r.now = SEC_NS / 2;
    r.write(REG_B, 0x82); // SET
    r.now = 10 * SEC_NS;
    assert_eq!(r.read(SEC), 0x20, "stopped");
    // Write 2024-02-29 12:00:00 in binary.
    r.write(REG_B, 0x86);
    for (i, v) in [
        (SEC, 0),
        (MIN, 0),
        (HOUR, 12),
        (DAY, 29),
        (MONTH, 2),
        (YEAR, 24),
        (CENTURY, 20),
    ] {
        r.write(i, v);
    }
    r.write(REG_B, 0x06);
    assert_eq!(r.rtc.time(r.now), 1_709_208_000);
    // The divider phase is kept: the next update is at 11 s.
    r.now = 11 * SEC_NS - 1;
    assert_eq!(r.read(SEC), 0);
    r.now = 11 * SEC_NS;
    assert_eq!(r.read(SEC), 1);
    assert_eq!(r.read(DOW), 5, "Thursday");
    // A write to a clock register while running moves the clock.
    r.write(MIN, 30);
    assert_eq!(r.rtc.time(r.now), 1_709_208_000 + 30 * 60 + 1);
}

#[test]
fn uip_window_before_each_update() {
    let mut r = Rig::new(T0);
    let uip = |r: &mut Rig| r.read(REG_A) & 0x80 != 0;
    r.now = ns_of_tick(RTC_HZ - UIP_TICKS) - 1;
    assert!(!uip(&mut r));
    r.now = ns_of_tick(RTC_HZ - UIP_TICKS);
    assert!(uip(&mut r));
    assert_eq!(r.read(REG_A), 0xA6);
    assert_eq!(r.read(SEC), 0x20, "not yet updated");
    r.now = SEC_NS;
    assert!(!uip(&mut r));
    assert_eq!(r.read(SEC), 0x21);
    r.now = SEC_NS + ns_of_tick(RTC_HZ - 4);
    assert!(uip(&mut r));
    r.write(REG_B, 0x82);
    assert!(!uip(&mut r), "no updates while SET");
}

#[test]
fn periodic_interrupt_at_1024_hz() {
    let mut r = Rig::new(T0);
    assert_eq!(r.at(0), (false, None), "nothing enabled");
    r.write(REG_B, 0x42); // PIE
    let (_, mut next) = r.at(0);
    assert_eq!(next, Some(ns_of_tick(32)));
    let mut irqs = 0;
    while let Some(t) = next {
        if t > SEC_NS {
            break;
        }
        let (edge, n) = r.at(t);
        assert!(edge);
        assert_eq!(n, None, "IRQF stays set until register C is read");
        assert_eq!(
            r.read(REG_C) & 0xE0,
            0xC0,
            "IRQF and PF (UF too at whole seconds)"
        );
        irqs += 1;
        next = r.at(t).1;
    }
    assert_eq!(irqs, 1024);
    // Rate select 15: 2 Hz; RS 0 stops it.
    r.write(REG_A, 0x2F);
    assert_eq!(r.at(r.now).1, Some(ns_of_tick(RTC_HZ + RTC_HZ / 2)));
    r.write(REG_A, 0x20);
    assert_eq!(r.at(r.now).1, None);
}

#[test]
fn register_c_clears_on_read_and_flags_without_enables() {
    let mut r = Rig::new(T0);
    r.now = 3 * SEC_NS;
    assert_eq!(
        r.read(REG_C),
        0x50,
        "PF and UF set, no IRQF without enables"
    );
    assert_eq!(r.read(REG_C), 0x00);
    r.write(REG_C, 0xFF);
    assert_eq!(r.read(REG_C), 0x00, "read-only");
    // Enabling an interrupt whose flag is already set raises IRQ 8 at once.
    r.now = 4 * SEC_NS;
    r.write(REG_B, 0x12);
    assert!(r.lines.level(8));
    assert_eq!(r.read(REG_C), 0xD0);
    assert!(!r.lines.level(8));
}

#[test]
fn update_ended_interrupt_each_second() {
    let mut r = Rig::new(T0);
    r.write(REG_A, 0x20); // no periodic flag, to keep register C simple
    r.write(REG_B, 0x12); // UIE
    let mut t = 0;
    for k in 1..=3 {
        let (_, next) = r.at(t);
        assert_eq!(next, Some(k * SEC_NS));
        t = next.unwrap();
        assert!(r.at(t).0);
        assert_eq!(r.read(REG_C), 0x90);
    }
    // A long gap: one update interrupt, not thousands.
    assert!(r.at(3 * SEC_NS + 3600 * SEC_NS + 1).0);
    assert_eq!(r.read(REG_C), 0x90);
    assert_eq!(r.read(REG_C), 0);
    // Setting SET clears UIE.
    r.write(REG_B, 0x92);
    assert_eq!(r.read(REG_B), 0x82);
}

#[test]
fn alarm_interrupt() {
    let mut r = Rig::new(T0); // 22:13:20
    r.write(REG_A, 0x20);
    r.write(SEC_ALARM, 0x25);
    r.write(MIN_ALARM, 0x13);
    r.write(HOUR_ALARM, 0x22);
    r.write(REG_B, 0x22); // AIE
    let (_, next) = r.at(0);
    assert_eq!(next, Some(5 * SEC_NS));
    assert!(!r.at(5 * SEC_NS - 1).0);
    assert!(r.at(5 * SEC_NS).0);
    assert_eq!(r.read(REG_C), 0xB0, "AF, UF and IRQF");
    // Same alarm is next due a day later.
    assert_eq!(r.at(r.now).1, Some((5 + 86_400) * SEC_NS));
    // Don't-care hour and minute: every minute at :25.
    r.write(HOUR_ALARM, 0xC0);
    r.write(MIN_ALARM, 0xFF);
    assert_eq!(r.at(r.now).1, Some(65 * SEC_NS));
    // Found across a long gap.
    r.at(3 * 3600 * SEC_NS);
    assert_eq!(r.read(REG_C) & 0x20, 0x20);
    // Don't-care everything: every second.
    r.write(SEC_ALARM, 0xC0);
    assert_eq!(r.at(r.now).1, Some(3 * 3600 * SEC_NS + SEC_NS));
    // An impossible alarm never fires.
    r.write(SEC_ALARM, 0x61);
    assert_eq!(r.at(r.now).1, None);
}

#[test]
fn divider_reset_delays_first_update_by_half_a_second() {
    let mut r = Rig::new(T0);
    r.now = SEC_NS / 4;
    r.write(REG_A, 0x76); // divider reset
    r.read(REG_C);
    r.now = 5 * SEC_NS;
    assert_eq!(r.read(SEC), 0x20);
    assert_eq!(r.read(REG_C), 0x00, "no updates or periodic flags in reset");
    r.write(REG_A, 0x26);
    r.now = 5 * SEC_NS + SEC_NS / 2 - 1;
    assert_eq!(r.read(SEC), 0x20);
    r.now = 5 * SEC_NS + SEC_NS / 2;
    assert_eq!(r.read(SEC), 0x21);
}

#[test]
fn index_port_and_nmi_mask() {
    let mut r = Rig::new(T0);
    let mut ctx = Ctx {
        now: 0,
        irq: &mut r.lines,
    };
    r.rtc.io_write(0x70, 1, 0x8F, &mut ctx);
    assert!(r.rtc.nmi_masked());
    r.rtc.io_write(0x71, 1, 0x5A, &mut ctx);
    assert_eq!(r.rtc.cmos(0x0F), 0x5A);
    assert_eq!(r.rtc.io_read(0x70, 1, &mut ctx), 0xFF);
    // A word write to 0x70 sets index and data.
    r.rtc.io_write(0x70, 2, 0x7734, &mut ctx);
    assert!(!r.rtc.nmi_masked());
    assert_eq!(r.rtc.cmos(0x34), 0x77);
    assert_eq!(r.rtc.io_read(0x72, 1, &mut ctx), 0xFF);
}

#[test]
fn cmos_contents_for_seabios() {
    let mut r = Rig::new(T0);
    r.rtc.set_memory(128 << 20, 0);
    assert_eq!(
        [r.rtc.cmos(0x15), r.rtc.cmos(0x16)],
        [0x80, 0x02],
        "640 KiB"
    );
    assert_eq!([r.rtc.cmos(0x17), r.rtc.cmos(0x18)], [0xFF, 0xFF], "capped");
    assert_eq!([r.rtc.cmos(0x30), r.rtc.cmos(0x31)], [0xFF, 0xFF]);
    assert_eq!(
        [r.rtc.cmos(0x34), r.rtc.cmos(0x35)],
        [0x00, 0x07],
        "112 MiB / 64 KiB"
    );
    r.rtc.set_memory(3 << 30, 5 << 30);
    assert_eq!(
        [r.rtc.cmos(0x5B), r.rtc.cmos(0x5C), r.rtc.cmos(0x5D)],
        [0x00, 0x40, 0x01],
        "5 GiB / 64 KiB"
    );
    r.rtc.set_memory(32 << 20, 0);
    assert_eq!([r.rtc.cmos(0x17), r.rtc.cmos(0x18)], [0x00, 0x7C], "31 MiB");

    r.rtc.set_equipment(true, true);
    r.rtc.set_floppies(FloppyType::Mb1_44, FloppyType::None);
    assert_eq!(r.rtc.cmos(0x10), 0x40);
    assert_eq!(r.rtc.cmos(0x14), 0x07);
    r.rtc.set_floppies(FloppyType::Mb1_44, FloppyType::Mb2_88);
    assert_eq!(r.rtc.cmos(0x14), 0x47);

    let g = DiskGeometry {
        cylinders: 1024,
        heads: 16,
        sectors: 63,
    };
    r.rtc.set_hard_disk(0, Some(g));
    assert_eq!(r.rtc.cmos(0x12), 0xF0);
    assert_eq!(r.rtc.cmos(0x19), 47);
    let block: Vec<u8> = (0x1B..0x24).map(|i| r.rtc.cmos(i)).collect();
    assert_eq!(block, [0x00, 0x04, 16, 0xFF, 0xFF, 0xC8, 0x00, 0x04, 63]);
    r.rtc.set_hard_disk(
        1,
        Some(DiskGeometry {
            cylinders: 20,
            heads: 4,
            sectors: 17,
        }),
    );
    assert_eq!(r.rtc.cmos(0x12), 0xFF);
    assert_eq!(r.rtc.cmos(0x1A), 47);
    assert_eq!(r.rtc.cmos(0x29), 0xC0);
    r.rtc.set_ata_translation(0, AtaTranslation::Lba);
    r.rtc.set_ata_translation(1, AtaTranslation::Large);
    assert_eq!(r.rtc.cmos(0x39), 0x09);

    r.rtc.set_boot_order(
        &[BootDevice::CdRom, BootDevice::HardDisk, BootDevice::Floppy],
        true,
    );
    assert_eq!(r.rtc.cmos(0x3D), 0x23);
    assert_eq!(r.rtc.cmos(0x38), 0x10);
    r.rtc.set_boot_order(&[BootDevice::HardDisk], false);
    assert_eq!([r.rtc.cmos(0x3D), r.rtc.cmos(0x38)], [0x02, 0x01]);
    r.rtc.set_cpu_count(1);
    assert_eq!(r.rtc.cmos(0x5F), 0);

    let sum: u16 = (0x10..=0x2D).map(|i| u16::from(r.rtc.cmos(i))).sum();
    assert_eq!(
        u16::from(r.rtc.cmos(0x2E)) << 8 | u16::from(r.rtc.cmos(0x2F)),
        sum
    );
    assert_eq!(r.read(0x2F), sum as u8, "visible through the ports");
    assert_eq!(r.read(CENTURY), 0x20);
}

#[test]
fn snapshot_round_trip() {
    let mut r = Rig::new(T0);
    r.rtc.set_memory(64 << 20, 0);
    r.write(REG_B, 0x52);
    r.at(3 * SEC_NS);
    let json = serde_json::to_string(&r.rtc).unwrap();
    let mut back: Rtc = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.rtc);
    let mut lines = IrqLines::default();
    let mut ctx = Ctx {
        now: 4 * SEC_NS,
        irq: &mut lines,
    };
    assert_eq!(back.advance_to(&mut ctx), r.at(4 * SEC_NS).1);
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["cmos"].as_array_mut().unwrap().pop();
    assert!(
        serde_json::from_value::<Rtc>(v).is_err(),
        "short CMOS image rejected"
    );
}
