use super::*;
use crate::IrqLines;

struct Rig {
    pit: Pit,
    lines: IrqLines,
    now: Nanos,
}

impl Rig {
    fn new() -> Self {
        Rig {
            pit: Pit::new(),
            lines: IrqLines::default(),
            now: 0,
        }
    }
    fn out(&mut self, port: u16, v: u8) {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.lines,
        };
        self.pit.io_write(port, 1, v.into(), &mut ctx);
    }
    fn inb(&mut self, port: u16) -> u8 {
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.lines,
        };
        self.pit.io_read(port, 1, &mut ctx) as u8
    }
    /// Move to PIT tick `tick` (exactly), run the device; returns (IRQ 0 edge, deadline).
    fn at_tick(&mut self, tick: u64) -> (bool, Option<Nanos>) {
        self.at_ns(ns_of_tick(tick))
    }
    fn at_ns(&mut self, ns: Nanos) -> (bool, Option<Nanos>) {
        self.now = ns;
        let mut ctx = Ctx {
            now: self.now,
            irq: &mut self.lines,
        };
        let next = self.pit.advance_to(&mut ctx);
        (self.lines.take_edges() & 1 != 0, next)
    }
    fn program(&mut self, cw: u8, count: u16) {
        let port = 0x40 + u16::from(cw >> 6);
        self.out(0x43, cw);
        match (cw >> 4) & 3 {
            1 => self.out(port, count as u8),
            2 => self.out(port, (count >> 8) as u8),
            _ => {
                self.out(port, count as u8);
                self.out(port, (count >> 8) as u8);
            }
        }
    }
    fn read16(&mut self, port: u16) -> u16 {
        let lo = self.inb(port);
        let hi = self.inb(port);
        u16::from(lo) | u16::from(hi) << 8
    }
}

#[test]
fn tick_conversions_round_trip() {
    for t in [0, 1, 2, 1000, PIT_HZ, PIT_HZ * 3600 + 7] {
        assert_eq!(tick_at(ns_of_tick(t)), t);
        assert_eq!(
            tick_at(ns_of_tick(t).saturating_sub(1)),
            t.saturating_sub(1)
        );
    }
}

#[test]
fn mode0_one_shot_raises_irq0_once() {
    let mut r = Rig::new();
    r.program(0x30, 1000);
    let (edge, next) = r.at_tick(0);
    assert!(!edge);
    assert_eq!(next, Some(ns_of_tick(1000)));
    assert_eq!(r.at_tick(999), (false, Some(ns_of_tick(1000))));
    let (edge, next) = r.at_tick(1000);
    assert!(edge);
    assert_eq!(next, None);
    assert!(!r.at_tick(100_000).0);
    // The counter wraps after terminal count.
    r.out(0x43, 0x00);
    assert_eq!(r.read16(0x40), (1000 + 0x10000 - 100_000 % 0x10000) as u16);
}

#[test]
fn mode2_rate_generator_ticks_each_period() {
    let mut r = Rig::new();
    r.program(0x34, 11932); // ~100 Hz, as Linux programs it
    let mut edges = 0;
    for k in 1..=10u64 {
        assert!(!r.at_tick(k * 11932 - 1).0);
        let (edge, next) = r.at_tick(k * 11932);
        edges += u32::from(edge);
        assert_eq!(next, Some(ns_of_tick((k + 1) * 11932)));
    }
    assert_eq!(edges, 10);
    // Count reads N..1 within a period.
    r.at_tick(10 * 11932 + 32);
    r.out(0x43, 0x00);
    assert_eq!(r.read16(0x40), 11932 - 32);
}

#[test]
fn long_gap_queues_edges_without_duplicates() {
    let mut r = Rig::new();
    r.program(0x34, 1193); // ~1 kHz
    let (edge, mut next) = r.at_tick(1193 * 5 + 10);
    assert!(edge, "the first due edge is delivered at once");
    let mut delivered = 1;
    // Follow the deadlines: the queue drains early, then the regular edges follow.
    while let Some(t) = next {
        if t > ns_of_tick(1193 * 10) {
            break;
        }
        let (e, n) = r.at_ns(t);
        delivered += u32::from(e);
        next = n;
    }
    assert_eq!(delivered, 10, "ten periods, ten interrupts");
    assert_eq!(r.pit.backlog, 0);
}

#[test]
fn long_gap_catch_up_is_capped() {
    let mut r = Rig::new();
    r.program(0x34, 1193);
    r.at_tick(1193 * 100_000); // 100 s late
    assert!(r.pit.backlog <= MAX_BACKLOG);
    r.program(0x36, 0); // 18.2 Hz: one second is 18 periods
    assert_eq!(r.pit.backlog, 1, "reprogramming drops stale queued ticks");
    r.at_tick(1193 * 100_000 + 65536 * 100);
    assert!(r.pit.backlog <= MAX_BACKLOG);
}

#[test]
fn mode3_square_wave() {
    let mut r = Rig::new();
    r.program(0x36, 0); // SeaBIOS: 65536, 18.2 Hz
    let (_, next) = r.at_tick(1);
    assert_eq!(next, Some(ns_of_tick(65536)));
    let status = |r: &mut Rig| {
        r.out(0x43, 0xE2);
        r.inb(0x40)
    };
    assert_eq!(status(&mut r), 0x80 | 0x36, "OUT high in the first half");
    r.at_tick(32768);
    assert_eq!(status(&mut r), 0x36, "OUT low in the second half");
    assert!(r.at_tick(65536).0);
    assert_eq!(status(&mut r) & 0x80, 0x80);
    // Counts down by two in each half.
    r.at_tick(65536 + 100);
    r.out(0x43, 0x00);
    assert_eq!(r.read16(0x40), (65536 - 200) as u16);
}

#[test]
fn mode2_new_count_takes_effect_at_reload() {
    let mut r = Rig::new();
    r.program(0x34, 1000);
    r.at_tick(300);
    r.out(0x40, 0xF4);
    r.out(0x40, 0x01); // 500
    r.out(0x43, 0xE2);
    assert_eq!(r.inb(0x40) & 0x40, 0x40, "NULL COUNT until the reload");
    assert_eq!(r.at_tick(999), (false, Some(ns_of_tick(1000))));
    let (edge, next) = r.at_tick(1000);
    assert!(edge);
    assert_eq!(next, Some(ns_of_tick(1500)));
    assert!(r.at_tick(1500).0);
}

#[test]
fn mode4_software_strobe() {
    let mut r = Rig::new();
    r.program(0x38, 100); // Linux one-shot clockevent
    assert_eq!(r.at_tick(50), (false, Some(ns_of_tick(101))));
    r.out(0x43, 0xE2);
    assert_eq!(r.inb(0x40) & 0x80, 0x80);
    r.at_tick(100);
    r.out(0x43, 0xE2);
    assert_eq!(
        r.inb(0x40) & 0x80,
        0,
        "OUT low for one clock at terminal count"
    );
    assert_eq!(r.at_tick(101), (true, None));
}

#[test]
fn latch_freezes_the_read_value() {
    let mut r = Rig::new();
    r.program(0x34, 1000);
    r.at_tick(300);
    r.out(0x43, 0x00);
    r.at_tick(400);
    r.out(0x43, 0x00); // ignored: already latched
    assert_eq!(r.read16(0x40), 700);
    assert_eq!(r.read16(0x40), 600, "latch released after the MSB");
    // LSB-only and MSB-only access.
    r.program(0x90, 0x0012); // ch2, LSB only, mode 0
    assert_eq!(r.inb(0x42), 0x12);
    r.program(0xA0, 0x3400); // ch2, MSB only
    assert_eq!(r.inb(0x42), 0x34);
}

#[test]
fn read_back_status_and_count() {
    let mut r = Rig::new();
    r.program(0x34, 1000);
    r.out(0x43, 0xE2); // status only, ch0
    assert_eq!(
        r.inb(0x40),
        0x80 | 0x40 | 0x34,
        "OUT high, NULL COUNT before the first tick"
    );
    r.at_tick(10);
    r.out(0x43, 0xC2); // count and status
    r.at_tick(20);
    assert_eq!(r.inb(0x40), 0x80 | 0x34);
    assert_eq!(r.read16(0x40), 990);
    // Counts latched on several channels at once.
    r.program(0xB0, 5000);
    r.out(0x43, 0xDA); // count only, ch0 and ch2
    r.at_tick(500);
    assert_eq!(r.read16(0x40), 980, "latched at tick 20");
    assert_eq!(r.read16(0x42), 5000, "gate low: channel 2 has not started");
    assert_eq!(r.inb(0x43), 0xFF);
}

#[test]
fn bcd_counting() {
    let mut r = Rig::new();
    r.program(0x31, 0x1000); // mode 0, BCD 1000
    r.at_tick(1);
    r.out(0x43, 0x00);
    assert_eq!(r.read16(0x40), 0x0999);
    assert!(r.at_tick(1000).0);
    r.at_tick(1001);
    r.out(0x43, 0x00);
    assert_eq!(r.read16(0x40), 0x9999, "wraps modulo 10000");
    r.program(0x35, 0x0000); // mode 2, BCD 0 = 10000
    assert_eq!(r.at_tick(1002).1, Some(ns_of_tick(1001 + 10_000)));
}

#[test]
fn channel2_gate_and_out_via_port61() {
    let mut r = Rig::new();
    // SeaBIOS TSC calibration: gate on, speaker off, mode 0, poll bit 5.
    r.out(0x61, 0x01);
    r.program(0xB0, 1193);
    assert_eq!(r.inb(0x61) & 0x21, 0x01);
    r.at_tick(1192);
    assert_eq!(r.inb(0x61) & 0x20, 0);
    r.at_tick(1193);
    assert_eq!(r.inb(0x61) & 0x20, 0x20);
    // Gate low pauses mode 0.
    r.program(0xB0, 1000);
    r.at_tick(1193 + 400);
    r.out(0x61, 0x00);
    r.at_tick(1193 + 5000);
    r.out(0x43, 0x80);
    assert_eq!(r.read16(0x42), 600);
    r.out(0x61, 0x01);
    r.at_tick(1193 + 5000 + 599);
    assert_eq!(r.inb(0x61) & 0x20, 0);
    r.at_tick(1193 + 5000 + 600);
    assert_eq!(r.inb(0x61) & 0x20, 0x20);
    // Channel 2 never touches IRQ 0.
    assert_eq!(r.lines.take_edges() & 1, 0);
}

#[test]
fn gate_triggers_modes_1_and_5_and_restarts_mode_3() {
    let mut r = Rig::new();
    r.program(0xB2, 100); // mode 1
    r.at_tick(50);
    assert_eq!(r.inb(0x61) & 0x20, 0x20, "waits for a trigger, OUT high");
    r.out(0x61, 0x01);
    assert_eq!(r.inb(0x61) & 0x20, 0, "triggered: OUT low");
    r.at_tick(149);
    assert_eq!(r.inb(0x61) & 0x20, 0);
    r.at_tick(150);
    assert_eq!(r.inb(0x61) & 0x20, 0x20);
    r.out(0x61, 0x00);
    r.out(0x61, 0x01); // retrigger
    assert_eq!(r.inb(0x61) & 0x20, 0);

    r.out(0x61, 0x00);
    r.program(0xBA, 10); // mode 5
    r.at_tick(200);
    r.out(0x61, 0x01);
    r.at_tick(210);
    assert_eq!(r.inb(0x61) & 0x20, 0, "strobe");
    r.at_tick(211);
    assert_eq!(r.inb(0x61) & 0x20, 0x20);

    r.program(0xB6, 100); // mode 3
    r.at_tick(211 + 49);
    assert_eq!(r.inb(0x61) & 0x20, 0x20, "first half of the period");
    r.at_tick(211 + 50);
    assert_eq!(r.inb(0x61) & 0x20, 0, "second half of the period");
    r.out(0x61, 0x00);
    assert_eq!(r.inb(0x61) & 0x20, 0x20, "gate low forces OUT high");
    r.at_tick(300);
    r.out(0x61, 0x03);
    r.at_tick(349);
    assert_eq!(r.inb(0x61) & 0x20, 0x20, "restarted at the rising gate");
    assert_eq!(r.pit.speaker_tone(), Some((PIT_HZ / 100) as u32));
}

#[test]
fn refresh_toggle_follows_virtual_time() {
    let mut r = Rig::new();
    assert_eq!(r.inb(0x61) & 0x10, 0);
    r.now = 15_085;
    assert_eq!(r.inb(0x61) & 0x10, 0x10);
    r.now = 30_169;
    assert_eq!(r.inb(0x61) & 0x10, 0x10);
    r.now = 30_170;
    assert_eq!(r.inb(0x61) & 0x10, 0);
    r.out(0x61, 0x0E);
    assert_eq!(r.inb(0x61) & 0x0F, 0x0E);
}

#[test]
fn snapshot_round_trip() {
    let mut r = Rig::new();
    r.program(0x34, 1000);
    r.at_tick(300);
    r.out(0x43, 0x00);
    let json = serde_json::to_string(&r.pit).unwrap();
    let back: Pit = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.pit);
}
