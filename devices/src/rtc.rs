//! Motorola MC146818A real-time clock with 128 bytes of CMOS RAM (index port 0x70, whose
//! bit 7 masks NMI, and data port 0x71), interrupting on IRQ 8, plus the CMOS contents a
//! PC BIOS expects (the layout QEMU's `pc_cmos_init` writes for SeaBIOS).
//!
//! References: Motorola MC146818A datasheet; QEMU hw/rtc/mc146818rtc.c and hw/i386/pc.c
//! (`pc_cmos_init`); SeaBIOS src/hw/rtc.c and src/fw/paravirt.c (what it reads).
//!
//! Model: the clock is "seconds since the Unix epoch at a reference tick" of the 32.768 kHz
//! time base, both derived from `ctx.now`; the host clock is never read (the machine passes
//! the initial date-time to [`Rtc::new`]). While running, the time registers are computed
//! from that count in the format register B selects; while stopped (SET, or divider in
//! reset) they are plain bytes the guest may rewrite, parsed again when the clock restarts.
//! Register C's flags are computed for the elapsed interval on every access, so long gaps
//! cost nothing; IRQ 8 follows IRQF as a level (the PIC sees the edge).
//!
//! Known gaps: day of week is derived from the date (a value written by the guest is not
//! kept); switching DM or 12/24 h while running converts the registers instead of leaving
//! them to be misread; the update cycle is instantaneous at the end of the 244 us UIP
//! window; daylight saving (DSE), the square-wave output and the extended bank at
//! 0x72/0x73 are not implemented; DV values other than 010 run like 010 (as in QEMU).

use crate::{all_ones, Ctx, IoDevice, IrqLines, Nanos, Timed};
use serde::{Deserialize, Serialize};

macro_rules! warn_once {
    ($($arg:tt)*) => {{
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| tracing::warn!($($arg)*));
    }};
}

/// The time base: 32.768 kHz.
const RTC_HZ: i64 = 32_768;
/// UIP rises 244 us (8 ticks) before each update.
const UIP_TICKS: i64 = 8;
/// The IRQ line of the RTC.
pub const RTC_IRQ: u8 = 8;

const SEC: u8 = 0x00;
const SEC_ALARM: u8 = 0x01;
const MIN: u8 = 0x02;
const MIN_ALARM: u8 = 0x03;
const HOUR: u8 = 0x04;
const HOUR_ALARM: u8 = 0x05;
const DOW: u8 = 0x06;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const REG_A: u8 = 0x0A;
const REG_B: u8 = 0x0B;
const REG_C: u8 = 0x0C;
const REG_D: u8 = 0x0D;
const CENTURY: u8 = 0x32;

const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
const C_IRQF: u8 = 0x80;
const C_PF: u8 = 0x40;
const C_AF: u8 = 0x20;
const C_UF: u8 = 0x10;

fn tick_at(ns: Nanos) -> i64 {
    (u128::from(ns) * RTC_HZ as u128 / 1_000_000_000) as i64
}

fn ns_of_tick(tick: i64) -> Nanos {
    let ns = (tick.max(0) as u128 * 1_000_000_000).div_ceil(RTC_HZ as u128);
    ns.min(u128::from(u64::MAX)) as u64
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Floppy drive types of CMOS byte 0x10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloppyType {
    None = 0,
    Kb360 = 1,
    Mb1_2 = 2,
    Kb720 = 3,
    Mb1_44 = 4,
    Mb2_88 = 5,
}

/// Boot devices of CMOS bytes 0x3D/0x38 (QEMU's `boot_device2nibble`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootDevice {
    Floppy = 1,
    HardDisk = 2,
    CdRom = 3,
    Network = 4,
}

/// BIOS CHS translation of CMOS byte 0x39 (two bits per ATA drive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtaTranslation {
    None = 0,
    Lba = 1,
    Large = 2,
    Rechs = 3,
}

/// A hard disk's BIOS geometry for CMOS (type 47, user-defined).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskGeometry {
    pub cylinders: u16,
    pub heads: u8,
    pub sectors: u8,
}

/// Serde for the CMOS array (serde derives arrays only up to 32 elements).
mod cmos_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 128], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(bytes.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 128], D::Error> {
        let v = Vec::<u8>::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::custom(format!("CMOS image has {len} bytes, not 128")))
    }
}

/// The MC146818A and its CMOS RAM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rtc {
    /// CMOS RAM. The clock bytes (0x00-0x09, 0x32) are live only while the clock is stopped;
    /// register A bit 7, C and D are computed.
    #[serde(with = "cmos_bytes")]
    cmos: [u8; 128],
    index: u8,
    nmi_masked: bool,
    /// The time, in seconds since the epoch, that began at `ref_tick`.
    ref_secs: i64,
    /// 32 kHz tick of an update (the divider phase: updates and periodic interrupts are
    /// multiples of their period from here).
    ref_tick: i64,
    /// Register C's PF, AF and UF.
    flags: u8,
    /// 32 kHz tick up to which the flags have been computed.
    last_tick: i64,
}

impl Rtc {
    /// An RTC whose clock reads `unix_secs` (UTC) at virtual time 0, with register A 0x26
    /// (32.768 kHz, 1024 Hz periodic rate), B 0x02 (24 h, BCD), D 0x80, the rest zero.
    pub fn new(unix_secs: i64) -> Self {
        let mut rtc = Rtc {
            cmos: [0; 128],
            index: 0,
            nmi_masked: false,
            ref_secs: unix_secs,
            ref_tick: 0,
            flags: 0,
            last_tick: 0,
        };
        rtc.cmos[REG_A as usize] = 0x26;
        rtc.cmos[REG_B as usize] = B_24H;
        rtc.cmos[REG_D as usize] = 0x80;
        rtc.freeze(0);
        rtc
    }

    /// Set the clock to `unix_secs` at virtual time `now` (e.g. on a machine reset).
    pub fn set_time(&mut self, unix_secs: i64, now: Nanos) {
        let tick = tick_at(now);
        self.sync(tick);
        self.ref_secs = unix_secs;
        self.ref_tick = tick;
        self.freeze(tick);
    }

    /// The clock as seconds since the epoch at `now` (the registers, if it is stopped).
    pub fn time(&self, now: Nanos) -> i64 {
        if self.running() {
            self.secs_at(tick_at(now))
        } else {
            self.parse_clock()
        }
    }

    /// Port 0x70 bit 7 as last written: NMI is masked.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    /// A CMOS byte as stored (the clock registers are live only through the ports).
    pub fn cmos(&self, index: u8) -> u8 {
        self.cmos[usize::from(index & 0x7F)]
    }

    /// Store a CMOS byte, keeping the checksum at 0x2E/0x2F right when 0x10-0x2D change.
    pub fn set_cmos(&mut self, index: u8, value: u8) {
        let index = index & 0x7F;
        self.cmos[usize::from(index)] = value;
        if (0x10..=0x2D).contains(&index) {
            self.update_checksum();
        }
    }

    /// Store the checksum of 0x10-0x2D at 0x2E (high byte) and 0x2F (low byte).
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.cmos[0x10..=0x2D].iter().map(|&b| u16::from(b)).sum();
        self.cmos[0x2E] = (sum >> 8) as u8;
        self.cmos[0x2F] = sum as u8;
    }

    fn set16(&mut self, index: u8, value: u16) {
        self.set_cmos(index, value as u8);
        self.set_cmos(index + 1, (value >> 8) as u8);
    }

    /// Memory sizes as QEMU reports them: base memory in KiB (0x15/0x16), memory from 1 MiB in
    /// KiB (0x17/0x18 and 0x30/0x31, at most 65535), memory from 16 MiB to 4 GiB in 64 KiB
    /// units (0x34/0x35) and above 4 GiB in 64 KiB units (0x5B-0x5D).
    pub fn set_memory(&mut self, below_4g: u64, above_4g: u64) {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        self.set16(0x15, (below_4g / KIB).min(640) as u16);
        let ext = (below_4g.saturating_sub(MIB) / KIB).min(0xFFFF) as u16;
        self.set16(0x17, ext);
        self.set16(0x30, ext);
        self.set16(
            0x34,
            (below_4g.saturating_sub(16 * MIB) / (64 * KIB)).min(0xFFFF) as u16,
        );
        let high = (above_4g / (64 * KIB)).min(0xFF_FFFF) as u32;
        self.set16(0x5B, high as u16);
        self.set_cmos(0x5D, (high >> 16) as u8);
    }

    /// Floppy drive types (0x10) and the floppy bits of the equipment byte (0x14).
    pub fn set_floppies(&mut self, a: FloppyType, b: FloppyType) {
        self.set_cmos(0x10, (a as u8) << 4 | b as u8);
        let drives = u8::from(a != FloppyType::None) + u8::from(b != FloppyType::None);
        let bits = match drives {
            0 => 0,
            1 => 0x01,
            _ => 0x41,
        };
        self.set_cmos(0x14, (self.cmos[0x14] & !0xC1) | bits);
    }

    /// Equipment byte (0x14) bits 1 (maths coprocessor) and 2 (PS/2 mouse), as QEMU sets.
    pub fn set_equipment(&mut self, fpu: bool, ps2_mouse: bool) {
        let bits = u8::from(fpu) << 1 | u8::from(ps2_mouse) << 2;
        self.set_cmos(0x14, (self.cmos[0x14] & !0x06) | bits);
    }

    /// Hard disk `drive` (0 or 1): presence in 0x12, type 47 in 0x19/0x1A and the geometry
    /// block at 0x1B/0x24, as QEMU's `cmos_init_hd` writes them.
    pub fn set_hard_disk(&mut self, drive: u8, geometry: Option<DiskGeometry>) {
        let drive = drive & 1;
        let nibble = if drive == 0 { 0xF0 } else { 0x0F };
        let info = if drive == 0 { 0x1B } else { 0x24 };
        let present = self.cmos[0x12] & !nibble | if geometry.is_some() { nibble } else { 0 };
        self.set_cmos(0x12, present);
        let block = match geometry {
            Some(g) => {
                let [cl, ch] = g.cylinders.to_le_bytes();
                self.set_cmos(0x19 + drive, 47);
                [
                    cl,
                    ch,
                    g.heads,
                    0xFF,
                    0xFF,
                    0xC0 | u8::from(g.heads > 8) << 3,
                    cl,
                    ch,
                    g.sectors,
                ]
            }
            None => {
                self.set_cmos(0x19 + drive, 0);
                [0; 9]
            }
        };
        for (i, b) in block.into_iter().enumerate() {
            self.set_cmos(info + i as u8, b);
        }
    }

    /// BIOS translation of ATA drive 0-3 (0x39, two bits each; SeaBIOS reads it).
    pub fn set_ata_translation(&mut self, drive: u8, translation: AtaTranslation) {
        let shift = 2 * (drive & 3);
        let v = self.cmos[0x39] & !(3 << shift) | (translation as u8) << shift;
        self.set_cmos(0x39, v);
    }

    /// Boot order (up to three devices) in 0x3D and 0x38, and 0x38 bit 0 = skip the floppy
    /// boot signature check, as QEMU's `set_boot_dev`.
    pub fn set_boot_order(&mut self, order: &[BootDevice], floppy_sig_check: bool) {
        let nib = |i: usize| order.get(i).map_or(0, |&d| d as u8);
        self.set_cmos(0x3D, nib(1) << 4 | nib(0));
        self.set_cmos(0x38, nib(2) << 4 | u8::from(!floppy_sig_check));
    }

    /// Number of CPUs minus one at 0x5F (SeaBIOS's fallback CPU count).
    pub fn set_cpu_count(&mut self, cpus: u8) {
        self.set_cmos(0x5F, cpus.saturating_sub(1));
    }

    fn running(&self) -> bool {
        self.cmos[REG_B as usize] & B_SET == 0 && self.cmos[REG_A as usize] & 0x70 <= 0x20
    }

    fn divider_reset(&self) -> bool {
        self.cmos[REG_A as usize] & 0x60 == 0x60
    }

    /// Period of the periodic interrupt in 32 kHz ticks, if enabled by RS and the divider.
    fn period(&self) -> Option<i64> {
        let rs = self.cmos[REG_A as usize] & 0x0F;
        if rs == 0 || self.divider_reset() {
            return None;
        }
        Some(1 << if rs <= 2 { rs + 6 } else { rs - 1 })
    }

    fn secs_at(&self, tick: i64) -> i64 {
        self.ref_secs + (tick - self.ref_tick).div_euclid(RTC_HZ)
    }

    fn binary(&self) -> bool {
        self.cmos[REG_B as usize] & B_BINARY != 0
    }

    fn enc(&self, v: u32) -> u8 {
        if self.binary() {
            v as u8
        } else {
            (((v / 10 % 10) << 4) | (v % 10)) as u8
        }
    }

    fn dec(&self, b: u8) -> u32 {
        if self.binary() {
            u32::from(b)
        } else {
            u32::from(b >> 4) * 10 + u32::from(b & 0x0F)
        }
    }

    fn enc_hour(&self, h: u32) -> u8 {
        if self.cmos[REG_B as usize] & B_24H != 0 {
            self.enc(h)
        } else {
            let h12 = if h.is_multiple_of(12) { 12 } else { h % 12 };
            self.enc(h12) | if h >= 12 { 0x80 } else { 0 }
        }
    }

    fn dec_hour(&self, b: u8) -> u32 {
        if self.cmos[REG_B as usize] & B_24H != 0 {
            self.dec(b)
        } else {
            self.dec(b & 0x7F) % 12 + if b & 0x80 != 0 { 12 } else { 0 }
        }
    }

    /// Clock register `index` showing `secs`, in the current format.
    fn clock_reg(&self, index: u8, secs: i64) -> u8 {
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let year = year.rem_euclid(10_000) as u32;
        match index {
            SEC => self.enc(tod % 60),
            MIN => self.enc(tod / 60 % 60),
            HOUR => self.enc_hour(tod / 3600),
            DOW => self.enc((days + 4).rem_euclid(7) as u32 + 1),
            DAY => self.enc(day),
            MONTH => self.enc(month),
            YEAR => self.enc(year % 100),
            _ => self.enc(year / 100),
        }
    }

    /// Write the running clock into the CMOS bytes (before it stops).
    fn freeze(&mut self, tick: i64) {
        let secs = self.secs_at(tick);
        for index in [SEC, MIN, HOUR, DOW, DAY, MONTH, YEAR, CENTURY] {
            self.cmos[usize::from(index)] = self.clock_reg(index, secs);
        }
    }

    /// The time the clock bytes hold.
    fn parse_clock(&self) -> i64 {
        let r = |i: u8| self.cmos[usize::from(i)];
        let (sec, min, hour) = (self.dec(r(SEC)), self.dec(r(MIN)), self.dec_hour(r(HOUR)));
        let (day, month) = (self.dec(r(DAY)), self.dec(r(MONTH)));
        let year = i64::from(self.dec(r(CENTURY)).min(99) * 100 + self.dec(r(YEAR)).min(99));
        if sec > 59
            || min > 59
            || hour > 23
            || !(1..=31).contains(&day)
            || !(1..=12).contains(&month)
        {
            warn_once!("MC146818: invalid date/time in the clock registers; clamped");
        }
        days_from_civil(year, month.clamp(1, 12), day.clamp(1, 31)) * 86_400
            + i64::from(hour.min(23) * 3600 + min.min(59) * 60 + sec.min(59))
    }

    /// Restart from the clock bytes, keeping the divider's phase.
    fn rebase(&mut self, tick: i64) {
        self.ref_secs = self.parse_clock();
        self.ref_tick = tick - (tick - self.ref_tick).rem_euclid(RTC_HZ);
    }

    /// The first second after `secs` at which the alarm registers match, if any.
    fn next_alarm_after(&self, secs: i64) -> Option<i64> {
        let alarm = |i: u8| self.cmos[usize::from(i)];
        let hit = |a: u8, v: u8| a >= 0xC0 || a == v;
        let hour_ok = |h: i64| hit(alarm(HOUR_ALARM), self.enc_hour(h as u32));
        let min_ok = |m: i64| hit(alarm(MIN_ALARM), self.enc(m as u32));
        let sec_ok = |s: i64| hit(alarm(SEC_ALARM), self.enc(s as u32));
        let first_from = |start: i64| {
            let (sh, sm, ss) = (start / 3600, start / 60 % 60, start % 60);
            for h in (sh..24).filter(|&h| hour_ok(h)) {
                let m0 = if h == sh { sm } else { 0 };
                for m in (m0..60).filter(|&m| min_ok(m)) {
                    let s0 = if h == sh && m == sm { ss } else { 0 };
                    if let Some(s) = (s0..60).find(|&s| sec_ok(s)) {
                        return Some(h * 3600 + m * 60 + s);
                    }
                }
            }
            None
        };
        let next = secs + 1;
        let day = next.div_euclid(86_400) * 86_400;
        first_from(next - day)
            .map(|tod| day + tod)
            .or_else(|| first_from(0).map(|tod| day + 86_400 + tod))
    }

    /// Raise register C's flags for the updates and periodic ticks up to `tick`.
    fn sync(&mut self, tick: i64) {
        if tick <= self.last_tick {
            return;
        }
        let prev = self.last_tick;
        if let Some(p) = self.period() {
            if (tick - self.ref_tick).div_euclid(p) > (prev - self.ref_tick).div_euclid(p) {
                self.flags |= C_PF;
            }
        }
        if self.running() {
            let (s0, s1) = (self.secs_at(prev), self.secs_at(tick));
            if s1 > s0 {
                self.flags |= C_UF;
                if self.next_alarm_after(s0).is_some_and(|s| s <= s1) {
                    self.flags |= C_AF;
                }
            }
        }
        self.last_tick = tick;
    }

    fn irqf(&self) -> bool {
        // PF, AF, UF sit at the bit positions of PIE, AIE, UIE.
        self.flags & self.cmos[REG_B as usize] & (B_PIE | B_AIE | B_UIE) != 0
    }

    fn update_irq(&self, irq: &mut IrqLines) {
        irq.set(RTC_IRQ, self.irqf());
    }

    /// The next tick at which an enabled interrupt source fires, while IRQF is clear.
    fn next_event(&self, tick: i64) -> Option<i64> {
        if self.irqf() {
            return None;
        }
        let b = self.cmos[REG_B as usize];
        let next_multiple = |p: i64| self.ref_tick + ((tick - self.ref_tick).div_euclid(p) + 1) * p;
        let periodic = self.period().filter(|_| b & B_PIE != 0).map(next_multiple);
        let running = self.running();
        let update = (running && b & B_UIE != 0).then(|| next_multiple(RTC_HZ));
        let alarm = (running && b & B_AIE != 0)
            .then(|| self.next_alarm_after(self.secs_at(tick)))
            .flatten()
            .map(|s| self.ref_tick + (s - self.ref_secs) * RTC_HZ);
        [periodic, update, alarm].into_iter().flatten().min()
    }

    fn read_reg(&mut self, index: u8, tick: i64, irq: &mut IrqLines) -> u8 {
        match index {
            SEC | MIN | HOUR | DOW | DAY | MONTH | YEAR | CENTURY if self.running() => {
                self.clock_reg(index, self.secs_at(tick))
            }
            REG_A => {
                let phase = (tick - self.ref_tick).rem_euclid(RTC_HZ);
                let uip = self.running() && phase >= RTC_HZ - UIP_TICKS;
                self.cmos[REG_A as usize] & 0x7F | u8::from(uip) << 7
            }
            REG_C => {
                let value = self.flags | if self.irqf() { C_IRQF } else { 0 };
                self.flags = 0;
                self.update_irq(irq);
                value
            }
            REG_D => 0x80,
            _ => self.cmos[usize::from(index)],
        }
    }

    fn write_reg(&mut self, index: u8, value: u8, tick: i64) {
        let was_running = self.running();
        match index {
            SEC | MIN | HOUR | DOW | DAY | MONTH | YEAR | CENTURY => {
                if was_running {
                    self.freeze(tick);
                    self.cmos[usize::from(index)] = value;
                    self.rebase(tick);
                } else {
                    self.cmos[usize::from(index)] = value;
                }
            }
            REG_A | REG_B => {
                let was_reset = self.divider_reset();
                if was_running {
                    self.freeze(tick);
                }
                let value = match index {
                    REG_A => value & 0x7F,
                    // Setting SET clears UIE.
                    _ if value & B_SET != 0 => value & !B_UIE,
                    _ => value,
                };
                self.cmos[usize::from(index)] = value;
                if was_reset && !self.divider_reset() {
                    // The first update comes half a second after the divider starts.
                    self.ref_secs = self.parse_clock();
                    self.ref_tick = tick - RTC_HZ / 2;
                } else if self.running() && !was_running {
                    self.rebase(tick);
                }
            }
            REG_C | REG_D => warn_once!("MC146818: write to read-only register {index:#04x}"),
            _ => self.cmos[usize::from(index)] = value,
        }
    }
}

impl Rtc {
    fn read_byte(&mut self, port: u16, tick: i64, irq: &mut IrqLines) -> u8 {
        match port {
            0x71 => self.read_reg(self.index, tick, irq),
            0x70 => 0xFF, // write-only
            _ => {
                warn_once!("MC146818: read of unimplemented port {port:#x}");
                0xFF
            }
        }
    }

    fn write_byte(&mut self, port: u16, value: u8, tick: i64) {
        match port {
            0x70 => {
                self.index = value & 0x7F;
                self.nmi_masked = value & 0x80 != 0;
            }
            0x71 => self.write_reg(self.index, value, tick),
            _ => warn_once!("MC146818: write to unimplemented port {port:#x}"),
        }
    }
}

impl IoDevice for Rtc {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32 {
        let tick = tick_at(ctx.now);
        self.sync(tick);
        let bytes = size.clamp(1, 4);
        let value = (0..bytes).fold(0, |acc, i| {
            let port = port.wrapping_add(u16::from(i));
            acc | u32::from(self.read_byte(port, tick, ctx.irq)) << (8 * i)
        });
        self.update_irq(ctx.irq);
        value & all_ones(bytes)
    }

    /// A word write to 0x70 (index, then data) is split into byte cycles as on the ISA bus.
    fn io_write(&mut self, port: u16, size: u8, value: u32, ctx: &mut Ctx) {
        let tick = tick_at(ctx.now);
        self.sync(tick);
        for i in 0..size.clamp(1, 4) {
            self.write_byte(
                port.wrapping_add(u16::from(i)),
                (value >> (8 * i)) as u8,
                tick,
            );
        }
        self.update_irq(ctx.irq);
    }
}

impl Timed for Rtc {
    fn advance_to(&mut self, ctx: &mut Ctx) -> Option<Nanos> {
        let tick = tick_at(ctx.now);
        self.sync(tick);
        self.update_irq(ctx.irq);
        self.next_event(tick.max(self.last_tick)).map(ns_of_tick)
    }
}

#[cfg(test)]
#[path = "rtc_tests.rs"]
mod tests;
