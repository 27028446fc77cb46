//! Intel 8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a PS/2 MF2
//! keyboard on its first port (IRQ 1) and a PS/2 / IntelliMouse on its auxiliary port (IRQ 12).
//!
//! References: IBM PS/2 Hardware Interface Technical Reference ("Keyboard/Auxiliary Device
//! Controller"), Adam Chapweske's "The PS/2 Keyboard Interface" / "The PS/2 Mouse Interface",
//! Microsoft's IntelliMouse protocol note, the OSDev "8042" and "PS/2 Keyboard" pages; behaviour
//! cross-checked against QEMU's hw/input/pckbd.c and ps2.c.
//!
//! Model: a controller output buffer of one byte fed, in priority order, by controller replies,
//! the keyboard's queue and the mouse's queue. A byte is handed over the moment the buffer is
//! free (no serial-line timing). Scancode set 2 is produced by the keyboard; command-byte bit 6
//! makes the controller translate it to set 1, as the real chip does.
//!
//! Host input (`key_event`, `mouse_event`) only queues; the machine then calls
//! [`Timed::advance_to`] (or any port access does it) to move bytes and update IRQ lines.
//!
//! Known gaps: scancode set 3 is accepted and reported but keys are sent in set 2; typematic
//! repeat is left to the host's key repeat; the mouse's 2:1 scaling and sample rate are stored but
//! not applied; poll-input-port commands (0xC1/0xC2), the password commands and the IBF/timeout/
//! parity status bits are not modelled.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::{all_ones, Ctx, IoDevice, Nanos, Timed};

pub const DATA_PORT: u16 = 0x60;
pub const STATUS_PORT: u16 = 0x64;
pub const KBD_IRQ: u8 = 1;
pub const AUX_IRQ: u8 = 12;

const STAT_OBF: u8 = 0x01;
const STAT_SYS: u8 = 0x04;
const STAT_CMD: u8 = 0x08;
const STAT_UNLOCKED: u8 = 0x10;
const STAT_AUXB: u8 = 0x20;

const CB_KBD_INT: u8 = 0x01;
const CB_AUX_INT: u8 = 0x02;
const CB_SYS: u8 = 0x04;
const CB_KBD_DIS: u8 = 0x10;
const CB_AUX_DIS: u8 = 0x20;
const CB_XLATE: u8 = 0x40;

const OUT_RESET: u8 = 0x01;
const OUT_A20: u8 = 0x02;
const OUT_KBD_OBF: u8 = 0x10;
const OUT_AUX_OBF: u8 = 0x20;

/// Bytes of host input (scancodes, mouse packets) a device holds; more is dropped (keyboard) or
/// held back as accumulated movement (mouse).
const QUEUE_MAX: usize = 16;
/// Command replies may go beyond `QUEUE_MAX` by this much.
const REPLY_HEADROOM: usize = 16;

const ACK: u8 = 0xFA;
const RESEND: u8 = 0xFE;

/// The 8042's set 2 → set 1 translation table (bytes 0x00-0x7F; above that only 0x83 (F7) and
/// 0x84 (SysRq) change, everything else passes through).
#[rustfmt::skip]
const XLATE: [u8; 128] = [
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
];

/// Translate one set 2 byte to set 1 (without the break bit).
pub fn translate_byte(b: u8) -> u8 {
    match b {
        0x00..=0x7F => XLATE[b as usize],
        0x83 => 0x41,
        0x84 => 0x54,
        _ => b,
    }
}

/// A key of a PC/AT MF2 keyboard, named by its scancode set 2 make code.
///
/// Examples: `A` = `Key::set2(0x1C)`, left Ctrl = `Key::set2(0x14)`, right Ctrl =
/// `Key::extended(0x14)`, cursor up = `Key::extended(0x75)`, F7 = `Key::set2(0x83)`.
/// A frontend with set 1 ("XT") tables can use [`Key::from_set1`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Key {
    /// Make code `code`, preceded by 0xE0 when `extended`.
    Code { code: u8, extended: bool },
    /// Print Screen (make E0 12 E0 7C, break E0 F0 7C E0 F0 12).
    PrintScreen,
    /// Pause (E1 14 77 E1 F0 14 F0 77 on press; nothing on release).
    Pause,
}

impl Key {
    pub const fn set2(code: u8) -> Key {
        Key::Code {
            code,
            extended: false,
        }
    }
    pub const fn extended(code: u8) -> Key {
        Key::Code {
            code,
            extended: true,
        }
    }
    /// The key whose set 1 make code is `code` (bit 7 ignored), E0-prefixed when `extended`.
    /// Print Screen is `(0x37, true)` (its set 1 make is E0 2A E0 37) and Pause `(0x45, true)`
    /// (set 1 E1 1D 45; E0 45 is no other key). `None` for codes no key produces.
    pub fn from_set1(code: u8, extended: bool) -> Option<Key> {
        let code = code & 0x7F;
        match (code, extended) {
            (0x37, true) => return Some(Key::PrintScreen),
            (0x45, true) => return Some(Key::Pause),
            (0x41, _) => {
                return Some(Key::Code {
                    code: 0x83,
                    extended,
                })
            }
            (0x54, _) => {
                return Some(Key::Code {
                    code: 0x84,
                    extended,
                })
            }
            _ => {}
        }
        (1u8..0x80)
            .find(|&i| XLATE[i as usize] == code)
            .map(|i| Key::Code { code: i, extended })
    }

    /// The set 2 byte sequence for a press or release.
    fn set2_bytes(self, pressed: bool) -> Vec<u8> {
        match (self, pressed) {
            (Key::Code { code, extended }, _) => {
                let mut v = Vec::with_capacity(3);
                if extended {
                    v.push(0xE0);
                }
                if !pressed {
                    v.push(0xF0);
                }
                v.push(code);
                v
            }
            (Key::PrintScreen, true) => vec![0xE0, 0x12, 0xE0, 0x7C],
            (Key::PrintScreen, false) => vec![0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12],
            (Key::Pause, true) => vec![0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77],
            (Key::Pause, false) => vec![],
        }
    }
}

/// Translate a set 2 sequence to set 1 the way the 8042 does (F0 sets the next byte's bit 7).
fn translate_seq(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut brk = false;
    for &b in bytes {
        if b == 0xF0 {
            brk = true;
        } else {
            out.push(translate_byte(b) | if std::mem::take(&mut brk) { 0x80 } else { 0 });
        }
    }
    out
}

/// Queue device replies (bounded, with headroom beyond the host-input limit).
fn push_reply(queue: &mut VecDeque<u8>, bytes: &[u8]) {
    for &b in bytes {
        if queue.len() < QUEUE_MAX + REPLY_HEADROOM {
            queue.push_back(b);
        }
    }
}

/// The PS/2 keyboard.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Keyboard {
    queue: VecDeque<u8>,
    /// A command waiting for its parameter byte.
    pending: Option<u8>,
    scanning: bool,
    set: u8,
    leds: u8,
    typematic: u8,
    last_sent: u8,
    overflowed: bool,
}

impl Keyboard {
    fn new() -> Self {
        Keyboard {
            scanning: true,
            set: 2,
            typematic: 0x2B,
            ..Default::default()
        }
    }

    fn defaults(&mut self) {
        self.set = 2;
        self.typematic = 0x2B;
        self.leds = 0;
    }

    /// A byte from the host (through port 0x60). Returns an unknown command, for logging.
    fn write(&mut self, b: u8) -> Option<u8> {
        let mut r = vec![ACK];
        // A command byte aborts a pending parameter, as on real keyboards (the scancode-set
        // parameter excepted).
        match self.pending.take() {
            Some(0xED) if b < 0xED => self.leds = b & 7,
            Some(0xF3) if b < 0xED => self.typematic = b & 0x7F,
            Some(0xF0) => match b {
                0 => r.push(self.set),
                1..=3 => self.set = b,
                _ => r = vec![RESEND],
            },
            _ => match b {
                0xED | 0xF0 | 0xF3 => self.pending = Some(b),
                0xEE => r = vec![0xEE],
                0xF2 => r.extend([0xAB, 0x83]),
                0xF4 => {
                    self.queue.clear();
                    self.scanning = true;
                }
                0xF5 | 0xF6 => {
                    self.defaults();
                    self.scanning = b == 0xF6;
                }
                0xF7..=0xFD => {} // set 3 key attributes: acknowledged, ignored
                0xFE => r = vec![self.last_sent],
                0xFF => {
                    self.defaults();
                    self.queue.clear();
                    self.scanning = true;
                    r.push(0xAA);
                }
                _ => {
                    push_reply(&mut self.queue, &[RESEND]);
                    return Some(b);
                }
            },
        }
        push_reply(&mut self.queue, &r);
        None
    }
}

/// The PS/2 mouse (IntelliMouse and IntelliMouse Explorer capable).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mouse {
    queue: VecDeque<u8>,
    pending: Option<u8>,
    reporting: bool,
    remote: bool,
    scaling21: bool,
    wrap: bool,
    resolution: u8,
    sample_rate: u8,
    /// Device ID: 0 plain PS/2, 3 wheel (IntelliMouse), 4 wheel + 5 buttons (Explorer).
    id: u8,
    /// The last three sample rates set, oldest first (magic knock detection).
    rates: [u8; 3],
    dx: i32,
    dy: i32,
    dz: i32,
    buttons: u8,
    dirty: bool,
    last_sent: u8,
}

impl Mouse {
    fn new() -> Self {
        Mouse {
            resolution: 2,
            sample_rate: 100,
            ..Default::default()
        }
    }

    fn clear_motion(&mut self) {
        (self.dx, self.dy, self.dz, self.dirty) = (0, 0, 0, false);
    }

    fn defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling21 = false;
        self.resolution = 2;
        self.sample_rate = 100;
        self.clear_motion();
    }

    fn packet_len(&self) -> usize {
        if self.id >= 3 {
            4
        } else {
            3
        }
    }

    /// Queue one movement packet from the accumulated counters.
    fn send_packet(&mut self) {
        let dx = self.dx.clamp(-256, 255);
        let dy = self.dy.clamp(-256, 255);
        let dz = match self.id {
            4 => self.dz.clamp(-8, 7),
            3 => self.dz.clamp(-128, 127),
            _ => 0,
        };
        let signs = if dx < 0 { 0x10 } else { 0 } | if dy < 0 { 0x20 } else { 0 };
        let mut p = vec![0x08 | (self.buttons & 7) | signs, dx as u8, dy as u8];
        match self.id {
            3 => p.push(dz as u8),
            4 => p.push((dz as u8 & 0x0F) | ((self.buttons & 0x18) << 1)),
            _ => {}
        }
        push_reply(&mut self.queue, &p);
        self.dx -= dx;
        self.dy -= dy;
        self.dz = if self.id >= 3 { self.dz - dz } else { 0 };
    }

    /// Stream mode: send what has accumulated while there is room for whole packets.
    fn flush(&mut self) {
        if self.remote || !self.reporting {
            return;
        }
        while self.dirty && self.queue.len() + self.packet_len() <= QUEUE_MAX {
            self.send_packet();
            self.dirty = self.dx != 0 || self.dy != 0 || self.dz != 0;
        }
    }

    fn write(&mut self, b: u8) -> Option<u8> {
        if self.wrap && b != 0xEC && b != 0xFF {
            push_reply(&mut self.queue, &[b]);
            return None;
        }
        let mut r = vec![ACK];
        match self.pending.take() {
            Some(0xE8) => self.resolution = b.min(3),
            Some(_) => {
                self.sample_rate = b;
                self.rates = [self.rates[1], self.rates[2], b];
                match self.rates {
                    [200, 100, 80] if self.id == 0 => self.id = 3,
                    [200, 200, 80] if self.id == 3 => self.id = 4,
                    _ => {}
                }
            }
            None => match b {
                0xE6 | 0xE7 => self.scaling21 = b == 0xE7,
                0xE8 | 0xF3 => self.pending = Some(b),
                0xE9 => {
                    let m = self.buttons;
                    let status = (self.remote as u8) << 6
                        | (self.reporting as u8) << 5
                        | (self.scaling21 as u8) << 4
                        | (m & 1) << 2
                        | (m & 4) >> 1
                        | (m & 2) >> 1;
                    r.extend([status, self.resolution, self.sample_rate]);
                }
                0xEA | 0xF0 => self.remote = b == 0xF0,
                0xEB => {
                    push_reply(&mut self.queue, &r);
                    self.send_packet();
                    self.dirty = false;
                    return None;
                }
                0xEC | 0xEE => self.wrap = b == 0xEE,
                0xF2 => r.push(self.id),
                0xF4 | 0xF5 => {
                    self.reporting = b == 0xF4;
                    self.clear_motion();
                }
                0xF6 => self.defaults(),
                0xFE => r = vec![self.last_sent],
                0xFF => {
                    self.defaults();
                    self.wrap = false;
                    self.id = 0;
                    self.queue.clear();
                    r.extend([0xAA, 0x00]);
                }
                _ => {
                    push_reply(&mut self.queue, &[RESEND]);
                    return Some(b);
                }
            },
        }
        push_reply(&mut self.queue, &r);
        None
    }
}

/// The keyboard controller with its two PS/2 devices.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct I8042 {
    /// Controller RAM; byte 0 is the command byte.
    ram: [u8; 32],
    output_port: u8,
    system_flag: bool,
    /// Last write went to port 0x64 (status bit 3).
    last_was_cmd: bool,
    /// A controller command waiting for its data byte on port 0x60.
    pending: Option<u8>,
    /// Controller replies, with "from the aux device" flags.
    replies: VecDeque<(u8, bool)>,
    /// The output buffer: a byte and whether it came from the aux device.
    obuf: Option<(u8, bool)>,
    last_read: u8,
    /// Translation saw an F0 prefix: the next keyboard byte gets bit 7.
    xlate_break: bool,
    reset_request: bool,
    kbd: Keyboard,
    mouse: Mouse,
    #[serde(skip)]
    logged: HashSet<u16>,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    pub fn new() -> Self {
        let mut ram = [0; 32];
        ram[0] = CB_KBD_INT | CB_AUX_INT | CB_XLATE;
        I8042 {
            ram,
            output_port: 0xCC | OUT_RESET | OUT_A20,
            system_flag: false,
            last_was_cmd: false,
            pending: None,
            replies: VecDeque::new(),
            obuf: None,
            last_read: 0,
            xlate_break: false,
            reset_request: false,
            kbd: Keyboard::new(),
            mouse: Mouse::new(),
            logged: HashSet::new(),
        }
    }

    /// Power-on / machine reset state (A20 enabled, as QEMU).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Gate A20 as driven by the output port (bit 1).
    pub fn a20_enabled(&self) -> bool {
        self.output_port & OUT_A20 != 0
    }

    /// Whether the guest asked for a CPU reset since the last call (output port bit 0 written or
    /// pulsed low).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// Keyboard LEDs last set by the guest: bit 0 Scroll Lock, bit 1 Num Lock, bit 2 Caps Lock.
    pub fn leds(&self) -> u8 {
        self.kbd.leds
    }

    /// A key went down or up. Dropped (with a log line) when the keyboard's buffer is full or
    /// scanning is disabled.
    pub fn key_event(&mut self, key: Key, pressed: bool) {
        if !self.kbd.scanning {
            return;
        }
        let mut bytes = key.set2_bytes(pressed);
        if self.kbd.set == 1 {
            bytes = translate_seq(&bytes);
        }
        if self.kbd.queue.len() + bytes.len() > QUEUE_MAX {
            if !self.kbd.overflowed {
                tracing::warn!("i8042: keyboard buffer full, dropping key input");
                self.kbd.overflowed = true;
            }
            return;
        }
        self.kbd.overflowed = false;
        self.kbd.queue.extend(bytes);
    }

    /// Mouse motion and buttons. `dx` right-positive, `dy` down-positive (screen convention),
    /// `dz` wheel clicks, positive = scrolled up / away from the user; `buttons` bit 0 left,
    /// 1 right, 2 middle, 3 side (4th), 4 extra (5th).
    pub fn mouse_event(&mut self, dx: i32, dy: i32, dz: i32, buttons: u8) {
        let m = &mut self.mouse;
        if !m.reporting && !m.remote {
            m.buttons = buttons & 0x1F;
            return;
        }
        m.dx = m.dx.saturating_add(dx);
        m.dy = m.dy.saturating_sub(dy);
        m.dz = m.dz.saturating_sub(dz);
        if m.id < 3 {
            m.dz = 0;
        }
        if dx != 0 || dy != 0 || (dz != 0 && m.id >= 3) || buttons & 0x1F != m.buttons {
            m.dirty = true;
        }
        m.buttons = buttons & 0x1F;
        m.flush();
    }

    fn log_once(&mut self, key: u16, msg: std::fmt::Arguments) {
        if self.logged.insert(key) {
            tracing::warn!("i8042: {msg}");
        }
    }

    fn command_byte(&self) -> u8 {
        self.ram[0]
    }

    fn reply(&mut self, b: u8) {
        if self.replies.len() < REPLY_HEADROOM {
            self.replies.push_back((b, false));
        }
    }

    fn status(&self) -> u8 {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        STAT_UNLOCKED
            | flag(self.obuf.is_some(), STAT_OBF)
            | flag(matches!(self.obuf, Some((_, true))), STAT_AUXB)
            | flag(self.system_flag, STAT_SYS)
            | flag(self.last_was_cmd, STAT_CMD)
    }

    fn write_output_port(&mut self, v: u8) {
        if v & OUT_RESET == 0 {
            self.reset_request = true;
        }
        self.output_port = v | OUT_RESET;
    }

    fn command(&mut self, c: u8) {
        match c {
            0x20..=0x3F => self.reply(self.ram[(c - 0x20) as usize]),
            0x60..=0x7F | 0xD1..=0xD4 => self.pending = Some(c),
            0xA4 => self.reply(0xF1), // no password installed
            0xA7 => self.ram[0] |= CB_AUX_DIS,
            0xA8 => self.ram[0] &= !CB_AUX_DIS,
            0xA9 | 0xAB => self.reply(0x00),
            0xAA => {
                self.system_flag = true;
                self.reply(0x55);
            }
            0xAD => self.ram[0] |= CB_KBD_DIS,
            0xAE => self.ram[0] &= !CB_KBD_DIS,
            0xC0 => self.reply(0x80), // keyboard not inhibited
            0xD0 => {
                let mut v = self.output_port & !(OUT_KBD_OBF | OUT_AUX_OBF);
                match self.obuf {
                    Some((_, false)) => v |= OUT_KBD_OBF,
                    Some((_, true)) => v |= OUT_AUX_OBF,
                    None => {}
                }
                self.reply(v);
            }
            0xDD => self.output_port &= !OUT_A20,
            0xDF => self.output_port |= OUT_A20,
            0xE0 => self.reply(0x00),
            0xF0..=0xFF => {
                if c & 1 == 0 {
                    self.reset_request = true;
                }
            }
            _ => self.log_once(
                c as u16,
                format_args!("unknown controller command {c:#04x}"),
            ),
        }
    }

    fn command_data(&mut self, c: u8, v: u8) {
        match c {
            0x60 => {
                self.ram[0] = v & 0x7F;
                self.system_flag = v & CB_SYS != 0;
            }
            0x61..=0x7F => self.ram[(c - 0x60) as usize] = v,
            0xD1 => self.write_output_port(v),
            0xD2 => self.replies.push_back((v, false)),
            0xD3 => self.replies.push_back((v, true)),
            _ => {
                if let Some(bad) = self.mouse.write(v) {
                    self.log_once(
                        0x200 | bad as u16,
                        format_args!("unknown mouse command {bad:#04x}"),
                    );
                }
            }
        }
    }

    /// The next byte for the output buffer, if any source has one and is enabled.
    fn next_byte(&mut self) -> Option<(u8, bool)> {
        if let Some(r) = self.replies.pop_front() {
            return Some(r);
        }
        let cb = self.command_byte();
        if cb & CB_KBD_DIS == 0 {
            while let Some(b) = self.kbd.queue.pop_front() {
                self.kbd.last_sent = b;
                if cb & CB_XLATE == 0 {
                    return Some((b, false));
                }
                if b == 0xF0 {
                    self.xlate_break = true;
                    continue;
                }
                let brk = if std::mem::take(&mut self.xlate_break) {
                    0x80
                } else {
                    0
                };
                return Some((translate_byte(b) | brk, false));
            }
        }
        if cb & CB_AUX_DIS == 0 {
            if let Some(b) = self.mouse.queue.pop_front() {
                self.mouse.last_sent = b;
                self.mouse.flush();
                return Some((b, true));
            }
        }
        None
    }

    /// Refill the output buffer and drive IRQ 1 / IRQ 12 from it.
    fn update(&mut self, ctx: &mut Ctx) {
        if self.obuf.is_none() {
            self.obuf = self.next_byte();
        }
        let cb = self.command_byte();
        let (kbd, aux) = match self.obuf {
            Some((_, false)) => (cb & CB_KBD_INT != 0, false),
            Some((_, true)) => (false, cb & CB_AUX_INT != 0),
            None => (false, false),
        };
        ctx.irq.set(KBD_IRQ, kbd);
        ctx.irq.set(AUX_IRQ, aux);
    }
}

impl IoDevice for I8042 {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32 {
        let v = match port {
            DATA_PORT => {
                if let Some((b, _)) = self.obuf.take() {
                    self.last_read = b;
                    // Reading empties the buffer: the line drops before the next byte raises it.
                    ctx.irq.set(KBD_IRQ, false);
                    ctx.irq.set(AUX_IRQ, false);
                }
                self.last_read
            }
            STATUS_PORT => self.status(),
            _ => return all_ones(size),
        };
        self.update(ctx);
        v as u32 | (all_ones(size) & !0xFF)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32, ctx: &mut Ctx) {
        let v = value as u8;
        match port {
            DATA_PORT => {
                self.last_was_cmd = false;
                if let Some(c) = self.pending.take() {
                    self.command_data(c, v);
                } else {
                    // Sending to the keyboard re-enables its interface.
                    self.ram[0] &= !CB_KBD_DIS;
                    if let Some(bad) = self.kbd.write(v) {
                        self.log_once(
                            0x100 | bad as u16,
                            format_args!("unknown keyboard command {bad:#04x}"),
                        );
                    }
                }
            }
            STATUS_PORT => {
                self.last_was_cmd = true;
                self.pending = None;
                self.command(v);
            }
            _ => return,
        }
        self.update(ctx);
    }
}

impl Timed for I8042 {
    /// Deliver queued host input; the 8042 keeps no timers.
    fn advance_to(&mut self, ctx: &mut Ctx) -> Option<Nanos> {
        self.update(ctx);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;

    #[derive(Default)]
    struct T {
        dev: I8042,
        irq: IrqLines,
    }

    impl T {
        fn io<R>(&mut self, f: impl FnOnce(&mut I8042, &mut Ctx) -> R) -> R {
            f(
                &mut self.dev,
                &mut Ctx {
                    now: 0,
                    irq: &mut self.irq,
                },
            )
        }
        fn out(&mut self, port: u16, v: u8) {
            self.io(|d, c| d.io_write(port, 1, v as u32, c));
        }
        fn inb(&mut self, port: u16) -> u8 {
            self.io(|d, c| d.io_read(port, 1, c) as u8)
        }
        fn sync(&mut self) {
            self.io(|d, c| d.advance_to(c));
        }
        /// Read every byte available, in order.
        fn drain(&mut self) -> Vec<u8> {
            let mut v = vec![];
            while self.inb(STATUS_PORT) & STAT_OBF != 0 {
                v.push(self.inb(DATA_PORT));
            }
            v
        }
        fn cmd(&mut self, c: u8) {
            self.out(STATUS_PORT, c);
        }
        fn set_cb(&mut self, cb: u8) {
            self.cmd(0x60);
            self.out(DATA_PORT, cb);
        }
        fn kbd(&mut self, bytes: &[u8]) -> Vec<u8> {
            bytes.iter().for_each(|&b| self.out(DATA_PORT, b));
            self.drain()
        }
        fn aux(&mut self, bytes: &[u8]) -> Vec<u8> {
            for &b in bytes {
                self.cmd(0xD4);
                self.out(DATA_PORT, b);
            }
            self.drain()
        }
        fn keys(&mut self, keys: &[(Key, bool)]) -> Vec<u8> {
            keys.iter().for_each(|&(k, p)| self.dev.key_event(k, p));
            self.sync();
            self.drain()
        }
        fn mouse(&mut self, dx: i32, dy: i32, dz: i32, b: u8) -> Vec<u8> {
            self.dev.mouse_event(dx, dy, dz, b);
            self.sync();
            self.drain()
        }
    }

    const A: Key = Key::set2(0x1C);
    const UP: Key = Key::extended(0x75);

    #[test]
    fn self_test_and_interface_tests() {
        let mut t = T::default();
        assert_eq!(t.inb(STATUS_PORT) & STAT_SYS, 0);
        t.cmd(0xAA);
        assert_eq!(
            t.inb(STATUS_PORT) & (STAT_OBF | STAT_CMD),
            STAT_OBF | STAT_CMD
        );
        assert_eq!(t.drain(), [0x55]);
        assert_ne!(t.inb(STATUS_PORT) & STAT_SYS, 0);
        t.cmd(0xAB);
        t.cmd(0xA9);
        assert_eq!(t.drain(), [0x00, 0x00]);
        t.cmd(0xC0);
        assert_eq!(t.drain(), [0x80]);
        t.cmd(0xC8); // unknown: ignored
        assert!(t.drain().is_empty());
    }

    #[test]
    fn command_byte_and_enables() {
        let mut t = T::default();
        t.cmd(0x20);
        assert_eq!(t.drain(), [0x43]);
        t.set_cb(0x65);
        t.cmd(0x20);
        assert_eq!(t.drain(), [0x65]);
        assert_ne!(t.inb(STATUS_PORT) & STAT_SYS, 0);
        [0xAE, 0xA7, 0x20].into_iter().for_each(|c| t.cmd(c));
        assert_eq!(t.drain(), [0x65]);
        [0xA8, 0xAD, 0x20].into_iter().for_each(|c| t.cmd(c));
        assert_eq!(t.drain(), [0x55]);
        // Keyboard disabled: keys wait in the keyboard until re-enabled.
        assert!(t.keys(&[(A, true)]).is_empty());
        t.cmd(0xAE);
        assert_eq!(t.drain(), [0x1E]);
        // Controller RAM beyond the command byte.
        t.cmd(0x65);
        t.out(DATA_PORT, 0x5A);
        t.cmd(0x25);
        assert_eq!(t.drain(), [0x5A]);
    }

    #[test]
    fn keyboard_reset_and_commands() {
        let mut t = T::default();
        t.set_cb(0x01); // untranslated
        assert_eq!(t.kbd(&[0xFF]), [0xFA, 0xAA]);
        assert_eq!(t.kbd(&[0xF2]), [0xFA, 0xAB, 0x83]);
        assert_eq!(t.kbd(&[0xEE]), [0xEE]);
        assert_eq!(t.kbd(&[0xED, 0x05]), [0xFA, 0xFA]);
        assert_eq!(t.dev.leds(), 5);
        assert_eq!(t.kbd(&[0xF0, 0x00]), [0xFA, 0xFA, 0x02]);
        assert_eq!(t.kbd(&[0xF3, 0x20]), [0xFA, 0xFA]);
        // A command byte where a parameter was expected is a command.
        assert_eq!(t.kbd(&[0xED, 0xEE]), [0xFA, 0xEE]);
        t.kbd(&[0xF5]);
        assert!(t.keys(&[(A, true)]).is_empty(), "scanning disabled");
        assert_eq!(t.kbd(&[0xF4]), [0xFA]);
        assert_eq!(t.kbd(&[0x42]), [0xFE]);
        // Translated, identify answers AB 41.
        t.set_cb(0x41);
        assert_eq!(t.kbd(&[0xF2]), [0xFA, 0xAB, 0x41]);
    }

    #[test]
    fn key_press_set2_and_translated_set1() {
        let mut t = T::default();
        t.set_cb(0x01);
        let got = t.keys(&[(A, true), (A, false), (UP, true), (UP, false)]);
        assert_eq!(got, [0x1C, 0xF0, 0x1C, 0xE0, 0x75, 0xE0, 0xF0, 0x75]);
        t.set_cb(0x41);
        let got = t.keys(&[(A, true), (A, false), (UP, false), (Key::set2(0x83), true)]);
        assert_eq!(got, [0x1E, 0x9E, 0xE0, 0xC8, 0x41]);
        let got = t.keys(&[(Key::Pause, true), (Key::Pause, false)]);
        assert_eq!(got, [0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]);
        assert_eq!(
            t.keys(&[(Key::PrintScreen, true)]),
            [0xE0, 0x2A, 0xE0, 0x37]
        );
        // Keyboard in set 1 itself, no controller translation.
        t.set_cb(0x01);
        assert_eq!(t.kbd(&[0xF0, 0x01]), [0xFA, 0xFA]);
        assert_eq!(t.keys(&[(Key::extended(0x14), false)]), [0xE0, 0x9D]);
        assert_eq!(Key::from_set1(0x1E, false), Some(A));
        assert_eq!(Key::from_set1(0x48, true), Some(UP));
        assert_eq!(Key::from_set1(0x41, false), Some(Key::set2(0x83)));
    }

    #[test]
    fn keyboard_buffer_bounded() {
        let mut t = T::default();
        assert_eq!(t.keys(&[(A, true); 40]).len(), QUEUE_MAX);
    }

    #[test]
    fn mouse_packets_and_wheel_detection() {
        let mut t = T::default();
        t.cmd(0xA8);
        t.cmd(0xD4);
        t.out(DATA_PORT, 0xFF);
        assert_eq!(t.inb(STATUS_PORT) & STAT_AUXB, STAT_AUXB);
        assert_eq!(t.drain(), [0xFA, 0xAA, 0x00]);
        assert_eq!(t.aux(&[0xF2]), [0xFA, 0x00]);
        assert!(t.mouse(5, 5, 0, 0).is_empty(), "reporting disabled");
        assert_eq!(t.aux(&[0xF4]), [0xFA]);
        assert_eq!(t.mouse(10, 3, 0, 1), [0x29, 10, (-3i8) as u8]);
        // Big motion splits into 9-bit packets.
        assert_eq!(
            t.mouse(-300, 0, 0, 1),
            [0x19, 0x00, 0, 0x19, (-44i8) as u8, 0]
        );
        let acks = t.aux(&[0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF2]);
        assert_eq!(acks, [0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0x03]);
        assert_eq!(t.mouse(0, 0, 1, 0), [0x08, 0, 0, 0xFF]);
        assert_eq!(t.aux(&[0xE9]), [0xFA, 0x20, 2, 80]);
        // Remote mode: only polls report.
        assert_eq!(t.aux(&[0xF0]), [0xFA]);
        assert!(t.mouse(4, 0, 0, 0).is_empty());
        assert_eq!(t.aux(&[0xEB]), [0xFA, 0x08, 4, 0, 0]);
        // Wrap mode echoes.
        assert_eq!(t.aux(&[0xEE, 0x12, 0xEC]), [0xFA, 0x12, 0xFA]);
        // Explorer knock: ID 4, buttons 4/5 in byte 3.
        t.aux(&[0xEA, 0xF3, 200, 0xF3, 200, 0xF3, 80]);
        assert_eq!(t.aux(&[0xF2]), [0xFA, 0x04]);
        assert_eq!(t.mouse(0, 0, 0, 0x10), [0x08, 0, 0, 0x20]);
    }

    #[test]
    fn irq_gating() {
        let mut t = T::default();
        t.set_cb(0x00);
        t.irq.take_edges();
        t.dev.key_event(A, true);
        t.sync();
        assert!(!t.irq.level(KBD_IRQ));
        t.set_cb(0x01); // enabling with a byte waiting raises IRQ 1
        assert!(t.irq.level(KBD_IRQ));
        assert_eq!(t.irq.take_edges(), 1 << KBD_IRQ);
        t.dev.key_event(A, false);
        t.sync();
        t.inb(DATA_PORT);
        // The next byte is a fresh edge.
        assert!(t.irq.level(KBD_IRQ));
        assert_eq!(t.irq.take_edges(), 1 << KBD_IRQ);
        t.drain();
        assert!(!t.irq.level(KBD_IRQ));
        // Aux byte: IRQ 12 only when enabled.
        t.cmd(0xD3);
        t.out(DATA_PORT, 0x5A);
        assert!(!t.irq.level(AUX_IRQ));
        assert_eq!(
            t.inb(STATUS_PORT) & (STAT_OBF | STAT_AUXB),
            STAT_OBF | STAT_AUXB
        );
        t.set_cb(0x03);
        assert!(t.irq.level(AUX_IRQ) && !t.irq.level(KBD_IRQ));
        assert_eq!(t.inb(DATA_PORT), 0x5A);
        assert!(!t.irq.level(AUX_IRQ));
        t.cmd(0xD2);
        t.out(DATA_PORT, 0x33);
        assert!(t.irq.level(KBD_IRQ) && !t.irq.level(AUX_IRQ));
        assert_eq!(t.drain(), [0x33]);
    }

    #[test]
    fn a20_and_reset_via_output_port() {
        let mut t = T::default();
        assert!(t.dev.a20_enabled());
        t.cmd(0xD1);
        t.out(DATA_PORT, 0xDD);
        assert!(!t.dev.a20_enabled());
        assert!(!t.dev.take_reset_request());
        t.cmd(0xD0);
        assert_eq!(t.drain(), [0xCD]);
        t.cmd(0xD1);
        t.out(DATA_PORT, 0xDF);
        assert!(t.dev.a20_enabled());
        t.cmd(0xDD);
        assert!(!t.dev.a20_enabled());
        t.cmd(0xDF);
        assert!(t.dev.a20_enabled());
        // Writing bit 0 = 0 resets.
        t.cmd(0xD1);
        t.out(DATA_PORT, 0xDE);
        assert!(t.dev.take_reset_request());
        assert!(!t.dev.take_reset_request());
        // Pulse: 0xFF does nothing, 0xFE resets.
        t.cmd(0xFF);
        assert!(!t.dev.take_reset_request());
        t.cmd(0xFE);
        assert!(t.dev.take_reset_request());
    }

    #[test]
    fn snapshot_round_trip() {
        let mut t = T::default();
        t.set_cb(0x01);
        t.dev.key_event(A, true);
        t.dev.key_event(A, false);
        t.sync();
        let json = serde_json::to_string(&t.dev).unwrap();
        t.dev = serde_json::from_str(&json).unwrap();
        assert_eq!(t.drain(), [0x1C, 0xF0, 0x1C]);
    }
}
