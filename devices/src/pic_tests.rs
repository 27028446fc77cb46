use super::*;

struct Rig {
    pic: Pic,
    lines: IrqLines,
}

impl Rig {
    /// Both chips programmed the way SeaBIOS and Linux do: ICW1 0x11, vectors 0x20/0x28,
    /// cascade on IR2, ICW4 x86 mode, everything unmasked.
    fn new() -> Self {
        let mut r = Rig {
            pic: Pic::new(),
            lines: IrqLines::default(),
        };
        for (cmd, data, base, icw3) in [(0x20, 0x21, 0x20, 0x04), (0xA0, 0xA1, 0x28, 0x02)] {
            r.out(cmd, 0x11);
            r.out(data, base);
            r.out(data, icw3);
            r.out(data, 0x01);
            r.out(data, 0x00);
        }
        r
    }
    fn out(&mut self, port: u16, v: u8) {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.lines,
        };
        self.pic.io_write(port, 1, v.into(), &mut ctx);
    }
    fn inb(&mut self, port: u16) -> u8 {
        let mut ctx = Ctx {
            now: 0,
            irq: &mut self.lines,
        };
        self.pic.io_read(port, 1, &mut ctx) as u8
    }
    fn pulse(&mut self, irq: u8) {
        self.lines.pulse(irq);
        self.pic.update_lines(&mut self.lines);
    }
    fn set(&mut self, irq: u8, high: bool) {
        self.lines.set(irq, high);
        self.pic.update_lines(&mut self.lines);
    }
    fn isr(&mut self, cmd: u16) -> u8 {
        self.out(cmd, 0x0B);
        let v = self.inb(cmd);
        self.out(cmd, 0x0A);
        v
    }
    /// Take the pending interrupt, if any.
    fn intack(&mut self) -> Option<u8> {
        self.pic.intr_pending().then(|| self.pic.acknowledge())
    }
}

#[test]
fn init_sequence_sets_vectors_and_mask() {
    let mut r = Rig::new();
    assert_eq!(r.inb(0x21), 0);
    r.out(0x21, 0xFB);
    assert_eq!(r.inb(0x21), 0xFB);
    r.out(0x21, 0x00);
    assert!(!r.pic.intr_pending());
    r.pulse(1);
    assert_eq!(r.inb(0x20), 0x02, "IRR read by default");
    assert_eq!(r.intack(), Some(0x21));
    assert_eq!(r.isr(0x20), 0x02);
    assert_eq!(r.inb(0x20), 0x00, "edge request cleared by INTA");
    r.out(0x20, 0x20);
    assert_eq!(r.isr(0x20), 0);
    assert!(!r.pic.intr_pending());
}

#[test]
fn icw1_resets_mask_and_edge_requests() {
    let mut r = Rig::new();
    r.out(0x21, 0xFF);
    r.pulse(4);
    assert_eq!(r.inb(0x20), 0x10);
    r.out(0x20, 0x11);
    assert_eq!(
        r.inb(0x21),
        0,
        "ICW1 clears IMR... but the next data write is ICW2"
    );
    r.out(0x21, 0x08);
    r.out(0x21, 0x04);
    r.out(0x21, 0x01);
    assert_eq!(r.inb(0x20), 0, "ICW1 resets the edge sense");
    r.pulse(0);
    assert_eq!(r.intack(), Some(0x08));
}

#[test]
fn icw4_optional_and_single_mode() {
    let mut r = Rig::new();
    // ICW1 without IC4, cascaded: ICW2, ICW3, then ready.
    r.out(0x20, 0x10);
    r.out(0x21, 0x40);
    r.out(0x21, 0x04);
    r.out(0x21, 0xFE);
    assert_eq!(r.inb(0x21), 0xFE, "fourth write is OCW1");
    // Single mode with IC4: ICW2, ICW4, then ready.
    r.out(0x20, 0x13);
    r.out(0x21, 0x50);
    r.out(0x21, 0x01);
    r.out(0x21, 0x7F);
    assert_eq!(r.inb(0x21), 0x7F);
}

#[test]
fn priority_and_nesting() {
    let mut r = Rig::new();
    r.pulse(3);
    r.pulse(1);
    assert_eq!(r.intack(), Some(0x21));
    assert!(!r.pic.intr_pending(), "IR3 is below IR1 in service");
    r.pulse(0);
    assert_eq!(r.intack(), Some(0x20), "IR0 nests above IR1");
    assert_eq!(r.isr(0x20), 0x03);
    r.out(0x20, 0x20); // non-specific EOI clears the highest: IR0
    assert_eq!(r.isr(0x20), 0x02);
    assert!(!r.pic.intr_pending());
    r.out(0x20, 0x20);
    assert_eq!(r.intack(), Some(0x23));
}

#[test]
fn masking_holds_requests() {
    let mut r = Rig::new();
    r.out(0x21, 0x20);
    r.pulse(5);
    assert!(!r.pic.intr_pending());
    r.out(0x21, 0x00);
    assert_eq!(r.intack(), Some(0x25));
}

#[test]
fn specific_eoi_and_rotation() {
    let mut r = Rig::new();
    r.pulse(1);
    r.pulse(6);
    assert_eq!(r.intack(), Some(0x21));
    r.out(0x20, 0x61); // specific EOI IR1
    assert_eq!(r.isr(0x20), 0);
    assert_eq!(r.intack(), Some(0x26));
    // Rotate on non-specific EOI: IR6 becomes lowest, IR7 highest.
    r.out(0x20, 0xA0);
    r.pulse(0);
    r.pulse(7);
    assert_eq!(r.intack(), Some(0x27));
    r.out(0x20, 0x20);
    assert_eq!(r.intack(), Some(0x20));
    r.out(0x20, 0x20);
    // Set priority: IR4 lowest, so IR5 beats IR0.
    r.out(0x20, 0xC4);
    r.pulse(0);
    r.pulse(5);
    assert_eq!(r.intack(), Some(0x25));
    // Rotate on specific EOI (IR5 lowest): IR6 highest, then IR0.
    r.out(0x20, 0xE5);
    r.pulse(6);
    assert_eq!(r.intack(), Some(0x26));
}

#[test]
fn cascade_through_ir2() {
    let mut r = Rig::new();
    r.pulse(10);
    assert!(r.pic.intr_pending());
    assert_eq!(r.intack(), Some(0x2A));
    assert_eq!(r.isr(0x20), 0x04);
    assert_eq!(r.isr(0xA0), 0x04);
    // Slave requests wait for the master's EOI (no special fully nested mode).
    r.pulse(8);
    assert!(!r.pic.intr_pending());
    r.out(0xA0, 0x20);
    r.out(0x20, 0x20);
    assert_eq!(r.intack(), Some(0x28));
    r.out(0xA0, 0x20);
    r.out(0x20, 0x20);
    // Slave mask hides the request from the master too.
    r.out(0xA1, 0x80);
    r.pulse(15);
    assert!(!r.pic.intr_pending());
    r.out(0xA1, 0x00);
    assert_eq!(r.intack(), Some(0x2F));
    // Master IR1 beats slave IRQ 12 (IR2 priority).
    r.out(0xA0, 0x20);
    r.out(0x20, 0x20);
    r.pulse(12);
    r.pulse(1);
    assert_eq!(r.intack(), Some(0x21));
}

#[test]
fn special_fully_nested_lets_slave_nest() {
    let mut r = Rig::new();
    r.out(0x20, 0x11);
    r.out(0x21, 0x20);
    r.out(0x21, 0x04);
    r.out(0x21, 0x11); // SFNM
    r.out(0x21, 0x00);
    r.pulse(12);
    assert_eq!(r.intack(), Some(0x2C));
    r.pulse(9);
    assert_eq!(r.intack(), Some(0x29), "higher slave request nests");
}

#[test]
fn elcr_level_mode() {
    let mut r = Rig::new();
    r.out(0x04, 0); // not ours: ignored
    let mut ctx = Ctx {
        now: 0,
        irq: &mut r.lines,
    };
    r.pic.io_write(0x4D0, 2, 0xFFFF, &mut ctx);
    assert_eq!(
        r.pic.io_read(0x4D0, 2, &mut ctx),
        0xDEF8,
        "IRQ 0-2, 8, 13 stay edge"
    );
    r.out(0x4D0, 0x00);
    r.out(0x4D1, 0x08); // IRQ 11 level
    assert!(r.pic.is_level_triggered(11));
    assert!(!r.pic.is_level_triggered(10));
    r.set(11, true);
    assert_eq!(r.intack(), Some(0x2B));
    assert!(!r.pic.intr_pending(), "in service");
    r.out(0xA0, 0x20);
    r.out(0x20, 0x20);
    assert_eq!(
        r.intack(),
        Some(0x2B),
        "line still high: requests again after EOI"
    );
    r.set(11, false);
    r.out(0xA0, 0x20);
    r.out(0x20, 0x20);
    assert!(!r.pic.intr_pending(), "line dropped before the EOIs");
    // A pulse on a level input is not a request.
    r.pulse(11);
    assert!(!r.pic.intr_pending());
    // Edge input, by contrast, latches.
    r.pulse(10);
    assert_eq!(r.intack(), Some(0x2A));
}

#[test]
fn spurious_master_and_slave() {
    let mut r = Rig::new();
    r.out(0x4D0, 0x20); // IRQ 5 level
    r.set(5, true);
    assert!(r.pic.intr_pending());
    r.set(5, false);
    assert_eq!(r.pic.acknowledge(), 0x27);
    assert_eq!(r.isr(0x20), 0, "spurious IR7 sets no ISR bit");

    r.out(0x4D1, 0x04); // IRQ 10 level
    r.set(10, true);
    assert!(r.pic.intr_pending());
    r.set(10, false);
    assert_eq!(r.pic.acknowledge(), 0x2F);
    assert_eq!(r.isr(0xA0), 0);
    assert_eq!(r.isr(0x20), 0x04, "master acknowledged the cascade");
    r.out(0x20, 0x20);
    assert!(!r.pic.intr_pending());

    // Masked between INTR and INTA: spurious too.
    r.pulse(3);
    assert!(r.pic.intr_pending());
    r.out(0x21, 0x08);
    assert_eq!(r.pic.acknowledge(), 0x27);
}

#[test]
fn auto_eoi() {
    let mut r = Rig::new();
    r.out(0x20, 0x11);
    r.out(0x21, 0x20);
    r.out(0x21, 0x04);
    r.out(0x21, 0x03);
    r.out(0x21, 0x00);
    r.pulse(4);
    assert_eq!(r.intack(), Some(0x24));
    assert_eq!(r.isr(0x20), 0);
    r.pulse(6);
    assert_eq!(r.intack(), Some(0x26), "no ISR blocks lower priorities");
    // Rotate in auto-EOI mode: IR6 just served becomes lowest.
    r.out(0x20, 0x80);
    r.pulse(6);
    assert_eq!(r.intack(), Some(0x26));
    r.pulse(7);
    r.pulse(6);
    assert_eq!(r.intack(), Some(0x27));
}

#[test]
fn poll_mode() {
    let mut r = Rig::new();
    r.out(0x20, 0x0C);
    assert_eq!(r.inb(0x20), 0x00, "nothing pending");
    r.pulse(3);
    r.out(0x20, 0x0C);
    assert_eq!(r.inb(0x20), 0x83);
    assert_eq!(r.isr(0x20), 0x08, "poll acknowledges");
    assert_eq!(r.inb(0x21), 0x00, "poll is one read only");
}

#[test]
fn special_mask_mode() {
    let mut r = Rig::new();
    r.pulse(1);
    assert_eq!(r.intack(), Some(0x21));
    r.pulse(3);
    assert!(!r.pic.intr_pending());
    r.out(0x21, 0x02); // mask the level in service
    r.out(0x20, 0x68); // set special mask
    assert_eq!(r.intack(), Some(0x23));
    r.out(0x20, 0x48); // reset special mask
    r.out(0x20, 0x63);
    r.out(0x21, 0x00);
    r.pulse(5);
    assert!(!r.pic.intr_pending(), "IR1 still in service");
}

#[test]
fn snapshot_round_trip() {
    let mut r = Rig::new();
    r.out(0x4D1, 0x08);
    r.pulse(1);
    r.pulse(9);
    let json = serde_json::to_string(&r.pic).unwrap();
    let mut back: Pic = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.pic);
    assert_eq!(back.acknowledge(), r.pic.acknowledge());
}
