//! Intel 8254 programmable interval timer (ports 0x40-0x43) and the PC/AT "port B" at 0x61
//! (channel 2 gate, speaker enable, refresh toggle, channel 2 output).
//!
//! References: Intel 82C54 datasheet (23124406); IBM PC/AT technical reference (port 0x61);
//! QEMU hw/timer/i8254.c and hw/audio/pcspk.c for what firmware and kernels rely on.
//!
//! Model: each counter is computed from virtual time (`ctx.now`), never ticked. A counter
//! remembers the PIT clock tick at which its count was loaded and derives its value and OUT
//! from the elapsed ticks; rising edges of channel 0's OUT pulse IRQ 0. Edges that fall due
//! while the machine is late are queued (capped at about one second's worth, at most 1000)
//! and delivered a quarter period apart, so long gaps neither lose nor duplicate ticks
//! within the cap; a new control word for channel 0 drops all but one queued tick.
//!
//! Known gaps: the count is loaded on the write rather than on the next CLK (so mode 0's
//! OUT rises after N rather than N+1 clocks); in mode 3 a new count takes effect at the end
//! of the period rather than of the half-period, and odd counts read back approximately;
//! channel 1 (DRAM refresh) is modelled but drives nothing; port 0x61 bits 6-7 (IOCHK,
//! parity/SERR) always read 0; the speaker is reported by [`Pit::speaker_tone`], not played.

use crate::{all_ones, Ctx, IoDevice, Nanos, Timed};
use serde::{Deserialize, Serialize};

macro_rules! warn_once {
    ($($arg:tt)*) => {{
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| tracing::warn!($($arg)*));
    }};
}

/// Input clock of all three counters, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// Port 0x61 bit 4 flips this often (ns): the 15.085 us DRAM refresh request.
const REFRESH_NS: Nanos = 15_085;
/// Upper bound of queued IRQ 0 edges.
const MAX_BACKLOG: u64 = 1000;

/// PIT clock ticks elapsed at virtual time `ns`.
fn tick_at(ns: Nanos) -> u64 {
    (u128::from(ns) * u128::from(PIT_HZ) / 1_000_000_000) as u64
}

/// The first virtual time at which `tick_at` reaches `tick`.
fn ns_of_tick(tick: u64) -> Nanos {
    let ns = (u128::from(tick) * 1_000_000_000).div_ceil(u128::from(PIT_HZ));
    ns.min(u128::from(u64::MAX)) as u64
}

fn bcd_to_bin(raw: u16) -> u32 {
    if (0..4).any(|i| (raw >> (4 * i)) & 0xF > 9) {
        warn_once!("8254: invalid BCD count {raw:#06x}");
    }
    let v = (0..4).fold(0u32, |acc, i| {
        acc * 10 + u32::from((raw >> (12 - 4 * i)) & 0xF)
    });
    v.min(10_000)
}

fn bin_to_bcd(v: u32) -> u16 {
    let v = v % 10_000;
    ((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | (v % 10)) as u16
}

/// One of the three counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Channel {
    /// Mode bits as programmed (0-7; 6 and 7 alias 2 and 3).
    raw_mode: u8,
    bcd: bool,
    /// Read/write access: 1 = LSB only, 2 = MSB only, 3 = LSB then MSB.
    access: u8,
    /// The initial count in effect, in counts (1..=65536, or 1..=10000 in BCD).
    count: u32,
    /// A count written while counting, taken at the next reload (modes 1, 2, 3, 5).
    pending: Option<u32>,
    /// For modes 2 and 3: the tick at which `pending` takes effect.
    boundary: u64,
    write_msb_next: bool,
    write_lsb: u8,
    read_msb_next: bool,
    latch: Option<u16>,
    status: Option<u8>,
    /// A count has been written since the control word.
    loaded: bool,
    /// Modes 1 and 5: a gate trigger started the count.
    triggered: bool,
    gate: bool,
    /// PIT tick at which the current count started.
    load_tick: u64,
    /// Elapsed ticks while counting is suspended (gate low, or waiting for it).
    frozen: Option<u64>,
    /// Tick of the last count write (NULL COUNT until the next tick).
    write_tick: u64,
}

impl Channel {
    fn new(gate: bool) -> Self {
        Channel {
            raw_mode: 0,
            bcd: false,
            access: 3,
            count: 0x1_0000,
            pending: None,
            boundary: 0,
            write_msb_next: false,
            write_lsb: 0,
            read_msb_next: false,
            latch: None,
            status: None,
            loaded: false,
            triggered: false,
            gate,
            load_tick: 0,
            frozen: None,
            write_tick: 0,
        }
    }

    fn mode(&self) -> u8 {
        if self.raw_mode >= 6 {
            self.raw_mode - 4
        } else {
            self.raw_mode
        }
    }

    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x1_0000
        }
    }

    /// The period in ticks (modes 2 and 3 need at least 2).
    fn n(&self) -> u64 {
        let n = u64::from(self.count);
        if matches!(self.mode(), 2 | 3) {
            n.max(2)
        } else {
            n
        }
    }

    fn counting(&self) -> bool {
        self.loaded && (!matches!(self.mode(), 1 | 5) || self.triggered)
    }

    fn elapsed(&self, tick: u64) -> u64 {
        self.frozen
            .unwrap_or_else(|| tick.saturating_sub(self.load_tick))
    }

    fn out(&self, tick: u64) -> bool {
        if !self.loaded {
            return self.mode() != 0;
        }
        let (d, n) = (self.elapsed(tick), self.n());
        match self.mode() {
            0 => d >= n,
            1 => !self.triggered || d >= n,
            2 => !self.gate || d % n != n - 1,
            3 => !self.gate || d % n < n.div_ceil(2),
            4 => d != n,
            _ => !self.triggered || d != n,
        }
    }

    /// Rising edges of OUT for elapsed counts in (d0, d1], the state being constant.
    fn rising_edges(&self, d0: u64, d1: u64) -> u64 {
        if !self.counting() || d1 <= d0 {
            return 0;
        }
        let n = self.n();
        match self.mode() {
            0 | 1 => u64::from(d0 < n && n <= d1),
            2 | 3 => d1 / n - d0 / n,
            _ => u64::from(d0 <= n && n < d1),
        }
    }

    /// The absolute tick of the next rising edge of OUT after `tick`.
    fn next_edge(&self, tick: u64) -> Option<u64> {
        if !self.counting() || self.frozen.is_some() {
            return None;
        }
        let (d, n) = (self.elapsed(tick), self.n());
        let e = match self.mode() {
            0 | 1 => (d < n).then_some(n)?,
            2 | 3 => (d / n + 1) * n,
            _ => (d <= n).then_some(n + 1)?,
        };
        Some(self.load_tick + e)
    }

    /// Run from tick `from` to `to`; returns OUT's rising edges on the way.
    fn advance(&mut self, from: u64, to: u64) -> u64 {
        let mut edges = 0;
        let mut from = from;
        if matches!(self.mode(), 2 | 3) && self.frozen.is_none() && self.boundary <= to {
            if let Some(count) = self.pending.take() {
                let b = self.boundary.max(from);
                edges += self.rising_edges(self.elapsed(from), self.elapsed(b));
                self.count = count;
                self.load_tick = b;
                from = b;
            }
        }
        edges + self.rising_edges(self.elapsed(from), self.elapsed(to))
    }

    /// The counting element as the guest reads it (BCD-encoded in BCD mode).
    fn current(&self, tick: u64) -> u16 {
        let m = self.modulus();
        let n = u64::from(self.count);
        let v = if !self.counting() {
            n
        } else {
            let d = self.elapsed(tick);
            match self.mode() {
                2 => self.n() - d % self.n(),
                3 => {
                    let n = self.n();
                    let p = d % n;
                    let hi = n.div_ceil(2);
                    let pos = if p < hi { p } else { p - hi };
                    (n & !1).saturating_sub(2 * pos)
                }
                _ => (n % m + m - d % m) % m,
            }
        } % m;
        if self.bcd {
            bin_to_bcd(v as u32)
        } else {
            v as u16
        }
    }

    fn control(&mut self, cw: u8) {
        self.access = (cw >> 4) & 3;
        self.raw_mode = (cw >> 1) & 7;
        self.bcd = cw & 1 != 0;
        self.loaded = false;
        self.triggered = false;
        self.pending = None;
        self.frozen = None;
        self.write_msb_next = false;
        self.read_msb_next = false;
        self.latch = None;
        self.status = None;
    }

    fn write(&mut self, value: u8, tick: u64) {
        let raw = match self.access {
            1 => u16::from(value),
            2 => u16::from(value) << 8,
            _ if !self.write_msb_next => {
                self.write_msb_next = true;
                self.write_lsb = value;
                if self.mode() == 0 {
                    // Writing the first byte stops the count and drives OUT low.
                    self.loaded = false;
                }
                return;
            }
            _ => {
                self.write_msb_next = false;
                u16::from(self.write_lsb) | u16::from(value) << 8
            }
        };
        let n = if self.bcd {
            bcd_to_bin(raw)
        } else {
            u32::from(raw)
        };
        self.load(if n == 0 { self.modulus() as u32 } else { n }, tick);
    }

    fn load(&mut self, n: u32, tick: u64) {
        self.write_tick = tick;
        let start = |c: &mut Channel| {
            c.count = n;
            c.loaded = true;
            c.load_tick = tick;
            c.frozen = if c.gate { None } else { Some(0) };
        };
        match self.mode() {
            0 | 4 => start(self),
            1 | 5 if self.triggered => self.pending = Some(n),
            1 | 5 => {
                self.count = n;
                self.loaded = true;
            }
            _ if !self.loaded => start(self),
            _ if self.frozen.is_some() => self.count = n,
            _ => {
                let d = self.elapsed(tick);
                self.boundary = self.load_tick + (d / self.n() + 1) * self.n();
                self.pending = Some(n);
            }
        }
    }

    fn set_gate(&mut self, gate: bool, tick: u64) {
        if gate == self.gate {
            return;
        }
        self.gate = gate;
        if !self.loaded {
            return;
        }
        match (self.mode(), gate) {
            (0 | 4 | 2 | 3, false) => self.frozen = Some(self.elapsed(tick)),
            (0 | 4, true) => {
                if let Some(d) = self.frozen.take() {
                    self.load_tick = tick.saturating_sub(d);
                }
            }
            (1 | 5 | 2 | 3, true) => {
                // Rising gate: (re)trigger in modes 1 and 5, reload in modes 2 and 3.
                if let Some(count) = self.pending.take() {
                    self.count = count;
                }
                self.triggered = true;
                self.frozen = None;
                self.load_tick = tick;
            }
            _ => {}
        }
    }

    fn status_byte(&self, tick: u64) -> u8 {
        let null = !self.loaded
            || self.pending.is_some()
            || (matches!(self.mode(), 1 | 5) && !self.triggered)
            || tick <= self.write_tick;
        u8::from(self.out(tick)) << 7
            | u8::from(null) << 6
            | self.access << 4
            | self.raw_mode << 1
            | u8::from(self.bcd)
    }

    fn read(&mut self, tick: u64) -> u8 {
        if let Some(status) = self.status.take() {
            return status;
        }
        let value = self.latch.unwrap_or_else(|| self.current(tick));
        let (byte, done) = match self.access {
            1 => (value as u8, true),
            2 => ((value >> 8) as u8, true),
            _ if !self.read_msb_next => {
                self.read_msb_next = true;
                (value as u8, false)
            }
            _ => {
                self.read_msb_next = false;
                ((value >> 8) as u8, true)
            }
        };
        if done {
            self.latch = None;
        }
        byte
    }
}

/// The 8254 with port 0x61.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pit {
    channels: [Channel; 3],
    /// PIT tick up to which the counters have been run.
    last_tick: u64,
    /// IRQ 0 edges due but not yet delivered.
    backlog: u64,
    /// Earliest virtual time for delivering the next queued edge.
    next_delivery: Nanos,
    /// Port 0x61 bits 0-3 as written.
    port61: u8,
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit {
    /// A PIT at power-on: no counter programmed, channel 2's gate low.
    pub fn new() -> Self {
        Pit {
            channels: [Channel::new(true), Channel::new(true), Channel::new(false)],
            last_tick: 0,
            backlog: 0,
            next_delivery: 0,
            port61: 0,
        }
    }

    /// The speaker's frequency in Hz while it sounds a tone: port 0x61 bits 0 and 1 set
    /// and channel 2 running a square wave.
    pub fn speaker_tone(&self) -> Option<u32> {
        let ch = &self.channels[2];
        (self.port61 & 3 == 3 && ch.loaded && ch.mode() == 3).then(|| (PIT_HZ / ch.n()) as u32)
    }

    /// Bring the counters up to `ctx.now` and deliver any IRQ 0 edge that is due.
    fn sync(&mut self, ctx: &mut Ctx) -> u64 {
        let tick = tick_at(ctx.now);
        if tick > self.last_tick {
            let edges = self.channels[0].advance(self.last_tick, tick);
            self.channels[1].advance(self.last_tick, tick);
            self.channels[2].advance(self.last_tick, tick);
            let ch0 = &self.channels[0];
            let cap = if matches!(ch0.mode(), 2 | 3) {
                (PIT_HZ / ch0.n()).clamp(1, MAX_BACKLOG)
            } else {
                1
            };
            self.backlog = (self.backlog + edges).min(cap.max(self.backlog));
            self.last_tick = tick;
        }
        if self.backlog > 0 && ctx.now >= self.next_delivery {
            ctx.irq.pulse(0);
            self.backlog -= 1;
            let ch0 = &self.channels[0];
            let spacing = if ch0.counting() { ch0.n() / 4 } else { 0 };
            self.next_delivery = ctx.now + ns_of_tick(spacing).max(1);
        }
        self.last_tick
    }

    fn read_byte(&mut self, port: u16, ctx: &mut Ctx) -> u8 {
        let tick = self.sync(ctx);
        match port {
            0x40..=0x42 => self.channels[usize::from(port - 0x40)].read(tick),
            0x43 => {
                warn_once!("8254: read of the write-only control port 0x43");
                0xFF
            }
            0x61 => {
                let refresh = (ctx.now / REFRESH_NS) & 1 == 1;
                self.port61 | u8::from(refresh) << 4 | u8::from(self.channels[2].out(tick)) << 5
            }
            _ => 0xFF,
        }
    }

    fn write_byte(&mut self, port: u16, value: u8, ctx: &mut Ctx) {
        let tick = self.sync(ctx);
        match port {
            0x40..=0x42 => self.channels[usize::from(port - 0x40)].write(value, tick),
            0x43 => {
                let sel = usize::from(value >> 6);
                if sel == 3 {
                    // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
                    for (i, ch) in self.channels.iter_mut().enumerate() {
                        if value & (2 << i) == 0 {
                            continue;
                        }
                        if value & 0x20 == 0 && ch.latch.is_none() {
                            ch.latch = Some(ch.current(tick));
                        }
                        if value & 0x10 == 0 && ch.status.is_none() {
                            ch.status = Some(ch.status_byte(tick));
                        }
                    }
                } else if value & 0x30 == 0 {
                    let ch = &mut self.channels[sel];
                    if ch.latch.is_none() {
                        ch.latch = Some(ch.current(tick));
                    }
                } else {
                    self.channels[sel].control(value);
                    if sel == 0 {
                        // Queued ticks of the old programming: keep at most the one a
                        // real PIC would already hold in IRR.
                        self.backlog = self.backlog.min(1);
                    }
                }
            }
            0x61 => {
                self.port61 = value & 0x0F;
                self.channels[2].set_gate(value & 1 != 0, tick);
            }
            _ => {}
        }
    }
}

impl IoDevice for Pit {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32 {
        let bytes = size.clamp(1, 4);
        let value = (0..bytes).fold(0, |acc, i| {
            acc | u32::from(self.read_byte(port.wrapping_add(u16::from(i)), ctx)) << (8 * i)
        });
        value & all_ones(bytes)
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32, ctx: &mut Ctx) {
        for i in 0..size.clamp(1, 4) {
            self.write_byte(
                port.wrapping_add(u16::from(i)),
                (value >> (8 * i)) as u8,
                ctx,
            );
        }
    }
}

impl Timed for Pit {
    fn advance_to(&mut self, ctx: &mut Ctx) -> Option<Nanos> {
        let tick = self.sync(ctx);
        let edge = self.channels[0].next_edge(tick).map(ns_of_tick);
        let queued = (self.backlog > 0).then(|| self.next_delivery.max(ctx.now + 1));
        match (edge, queued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
#[path = "pit_tests.rs"]
mod tests;
