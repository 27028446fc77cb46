//! National Semiconductor / TI PC16550D UART ("16550A") with 16-byte FIFOs, as the PC's COM
//! ports: COM1 0x3F8/IRQ 4, COM2 0x2F8/IRQ 3, COM3 0x3E8/IRQ 4, COM4 0x2E8/IRQ 3.
//!
//! References: TI PC16550D datasheet (SNLS378), register and interrupt tables; Linux
//! drivers/tty/serial/8250/8250_port.c (autoconfig, THRE probing) for what guests test; QEMU
//! hw/char/serial.c.
//!
//! Host side: transmitted bytes go to an injected `Write` (stdio, file, sink); received bytes are
//! pushed by the machine with [`Uart16550::receive`] into a bounded host queue and move into the
//! receive FIFO as it has room (on [`Timed::advance_to`] and whenever the guest reads RBR), so
//! host input never overruns. Transmission is instantaneous: THR/TSR are empty again right after
//! a THR write, so THRE/TEMT always read 1 and a THR write re-arms the THRE interrupt.
//!
//! Interrupts follow the datasheet's priorities (line status, RX data / character timeout, THR
//! empty, modem status). The IRQ line is gated by MCR OUT2 as on PCs, and is off in loopback
//! mode (the OUT2 pin is forced inactive there).
//!
//! Known gaps: no baud-rate timing (the character timeout is signalled at once when the FIFO
//! holds fewer bytes than the trigger level); no parity/framing/break errors from the host side
//! (LSR bits 2-4 and 7 stay 0; break in loopback is not looped); the DMA mode bit is stored but
//! unused; the host modem lines are fixed at CTS, DSR and DCD asserted, RI clear.

use std::collections::{HashSet, VecDeque};
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::{all_ones, Ctx, IoDevice, Nanos, Timed};

/// (base port, IRQ) of COM1-COM4.
pub const COM_PORTS: [(u16, u8); 4] = [(0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3)];

/// Bytes of host input held before further input is dropped.
pub const HOST_QUEUE_MAX: usize = 64 * 1024;
const FIFO_SIZE: usize = 16;

const IER_RDA: u8 = 0x01;
const IER_THRE: u8 = 0x02;
const IER_RLS: u8 = 0x04;
const IER_MS: u8 = 0x08;

const IIR_NONE: u8 = 0x01;
const IIR_MS: u8 = 0x00;
const IIR_THRE: u8 = 0x02;
const IIR_RDA: u8 = 0x04;
const IIR_RLS: u8 = 0x06;
const IIR_TIMEOUT: u8 = 0x0C;
const IIR_FIFO: u8 = 0xC0;

const LCR_DLAB: u8 = 0x80;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;

const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

const FCR_ENABLE: u8 = 0x01;

/// Modem status inputs (MSR bits 4-7) of a host line that is always "connected".
const HOST_MODEM_LINES: u8 = 0xB0;

fn sink() -> Box<dyn Write + Send> {
    Box::new(std::io::sink())
}

#[derive(Serialize, Deserialize)]
pub struct Uart16550 {
    base: u16,
    irq: u8,
    ier: u8,
    lcr: u8,
    mcr: u8,
    /// Sticky LSR error bits (1-4).
    lsr_errors: u8,
    msr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    fcr: u8,
    rx: VecDeque<u8>,
    host_in: VecDeque<u8>,
    thre_pending: bool,
    #[serde(skip, default = "sink")]
    out: Box<dyn Write + Send>,
    #[serde(skip)]
    logged: HashSet<u8>,
}

impl std::fmt::Debug for Uart16550 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uart16550")
            .field("base", &format_args!("{:#x}", self.base))
            .field("irq", &self.irq)
            .field("ier", &self.ier)
            .field("lcr", &self.lcr)
            .field("mcr", &self.mcr)
            .field("rx", &self.rx.len())
            .field("host_in", &self.host_in.len())
            .finish_non_exhaustive()
    }
}

impl Uart16550 {
    /// A UART at `base` (8 ports) raising ISA line `irq`, transmitting into `out`.
    pub fn new(base: u16, irq: u8, out: Box<dyn Write + Send>) -> Self {
        Uart16550 {
            base,
            irq,
            ier: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr: HOST_MODEM_LINES,
            scr: 0,
            dll: 0x0C, // 9600 baud, a common firmware default
            dlm: 0,
            fcr: 0,
            rx: VecDeque::new(),
            host_in: VecDeque::new(),
            thre_pending: false,
            out,
            logged: HashSet::new(),
        }
    }

    /// COM`n` (1-4) at its standard base and IRQ.
    pub fn com(n: usize, out: Box<dyn Write + Send>) -> Self {
        let (base, irq) = COM_PORTS[(n.clamp(1, 4)) - 1];
        Self::new(base, irq, out)
    }

    pub fn base(&self) -> u16 {
        self.base
    }

    pub fn irq(&self) -> u8 {
        self.irq
    }

    /// Replace the host output (e.g. after restoring a snapshot, which restores a sink).
    /// Push buffered output to the host.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    pub fn set_output(&mut self, out: Box<dyn Write + Send>) {
        self.out = out;
    }

    /// Machine reset: registers to their power-on values; host output and pending host input
    /// are kept.
    pub fn reset(&mut self) {
        let out = std::mem::replace(&mut self.out, sink());
        let host_in = std::mem::take(&mut self.host_in);
        *self = Self::new(self.base, self.irq, out);
        self.host_in = host_in;
    }

    /// Bytes arriving from the host side of the line. They reach the guest on the next
    /// [`Timed::advance_to`] (or RBR read). Beyond [`HOST_QUEUE_MAX`] pending bytes, input is
    /// dropped with a log line.
    pub fn receive(&mut self, bytes: &[u8]) {
        let room = HOST_QUEUE_MAX - self.host_in.len();
        if bytes.len() > room {
            tracing::warn!(
                "uart {:#x}: host input queue full, dropping {} bytes",
                self.base,
                bytes.len() - room
            );
        }
        self.host_in.extend(&bytes[..bytes.len().min(room)]);
    }

    /// The programmed baud rate (115200 / divisor; 0 for divisor 0).
    pub fn baud(&self) -> u32 {
        let div = u16::from_le_bytes([self.dll, self.dlm]) as u32;
        115_200u32.checked_div(div).unwrap_or(0)
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_ENABLE != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn trigger(&self) -> usize {
        if !self.fifo_enabled() {
            return 1;
        }
        [1, 4, 8, 14][(self.fcr >> 6) as usize]
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    /// Move host input into the receive FIFO while it has room (not in loopback: the receiver
    /// is then disconnected from the line).
    fn pump(&mut self) {
        if self.loopback() {
            return;
        }
        while self.rx.len() < self.rx_capacity() {
            match self.host_in.pop_front() {
                Some(b) => self.rx.push_back(b),
                None => break,
            }
        }
    }

    /// A character completed in the receive shift register.
    fn rx_char(&mut self, b: u8) {
        if self.rx.len() >= self.rx_capacity() {
            self.lsr_errors |= LSR_OE;
            if !self.fifo_enabled() {
                // The holding register is overwritten.
                self.rx.pop_back();
                self.rx.push_back(b);
            }
        } else {
            self.rx.push_back(b);
        }
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx.is_empty() { 0 } else { LSR_DR };
        dr | self.lsr_errors | LSR_THRE | LSR_TEMT
    }

    /// The highest-priority pending interrupt, as IIR bits 0-3.
    fn source(&self) -> u8 {
        let n = self.rx.len();
        if self.ier & IER_RLS != 0 && self.lsr_errors != 0 {
            IIR_RLS
        } else if self.ier & IER_RDA != 0 && n >= self.trigger() {
            IIR_RDA
        } else if self.ier & IER_RDA != 0 && n > 0 {
            IIR_TIMEOUT
        } else if self.ier & IER_THRE != 0 && self.thre_pending {
            IIR_THRE
        } else if self.ier & IER_MS != 0 && self.msr & 0x0F != 0 {
            IIR_MS
        } else {
            IIR_NONE
        }
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let gate = self.mcr & MCR_OUT2 != 0 && !self.loopback();
        ctx.irq.set(self.irq, gate && self.source() != IIR_NONE);
    }

    /// Recompute MSR bits 4-7 from the line (or MCR in loopback), latching the delta bits.
    fn update_msr(&mut self) {
        let new = if self.loopback() {
            let m = self.mcr;
            (m & 2) << 3 | (m & 1) << 5 | (m & 4) << 4 | (m & 8) << 4
        } else {
            HOST_MODEM_LINES
        };
        let old = self.msr & 0xF0;
        let changed = old ^ new;
        let mut delta = self.msr & 0x0F;
        delta |= (changed & 0x10) >> 4 | (changed & 0x20) >> 4 | (changed & 0x80) >> 4;
        if old & 0x40 != 0 && new & 0x40 == 0 {
            delta |= 0x04;
        }
        self.msr = new | delta;
    }

    fn transmit(&mut self, b: u8) {
        if self.loopback() {
            self.rx_char(b);
        } else if let Err(e) = self.out.write_all(&[b]).and_then(|_| self.out.flush()) {
            if self.logged.insert(0) {
                tracing::warn!("uart {:#x}: host output failed: {e}", self.base);
            }
        }
        // The transmitter is instantly empty again.
        self.thre_pending = true;
    }

    fn read_reg(&mut self, off: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match off {
            0 if dlab => self.dll,
            0 => {
                let b = self.rx.pop_front().unwrap_or(0);
                self.pump();
                b
            }
            1 if dlab => self.dlm,
            1 => self.ier,
            2 => {
                let src = self.source();
                if src == IIR_THRE {
                    self.thre_pending = false;
                }
                src | if self.fifo_enabled() { IIR_FIFO } else { 0 }
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let v = self.lsr();
                self.lsr_errors = 0;
                v
            }
            6 => {
                let v = self.msr;
                self.msr &= 0xF0;
                v
            }
            _ => self.scr,
        }
    }

    fn write_reg(&mut self, off: u16, v: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match off {
            0 if dlab => self.dll = v,
            0 => self.transmit(v),
            1 if dlab => self.dlm = v,
            1 => {
                let changed = (self.ier ^ v) & IER_THRE;
                self.ier = v & 0x0F;
                if changed != 0 {
                    // Enabling THRI with THR empty raises the interrupt at once (drivers probe
                    // this); disabling it forgets a pending one.
                    self.thre_pending = self.ier & IER_THRE != 0;
                }
            }
            2 => {
                if (self.fcr ^ v) & FCR_ENABLE != 0 || v & 0x02 != 0 {
                    self.rx.clear();
                }
                self.fcr = v & 0xC9;
                self.pump();
            }
            3 => self.lcr = v,
            4 => {
                self.mcr = v & 0x1F;
                self.update_msr();
                self.pump();
            }
            5 => {
                if self.logged.insert(5) {
                    tracing::debug!("uart {:#x}: write to LSR (factory test) ignored", self.base);
                }
            }
            6 => {} // MSR is read-only
            _ => self.scr = v,
        }
    }
}

impl IoDevice for Uart16550 {
    fn io_read(&mut self, port: u16, size: u8, ctx: &mut Ctx) -> u32 {
        let off = port.wrapping_sub(self.base);
        if off >= 8 {
            return all_ones(size);
        }
        let v = self.read_reg(off);
        self.update_irq(ctx);
        v as u32 | (all_ones(size) & !0xFF)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32, ctx: &mut Ctx) {
        let off = port.wrapping_sub(self.base);
        if off >= 8 {
            return;
        }
        self.write_reg(off, value as u8);
        self.update_irq(ctx);
    }
}

impl Timed for Uart16550 {
    /// Deliver pending host input and refresh the IRQ line; the UART keeps no timers.
    fn advance_to(&mut self, ctx: &mut Ctx) -> Option<Nanos> {
        self.pump();
        self.update_irq(ctx);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct T {
        u: Uart16550,
        irq: IrqLines,
        cap: Capture,
    }

    impl T {
        fn new() -> Self {
            let cap = Capture::default();
            T {
                u: Uart16550::com(1, Box::new(cap.clone())),
                irq: IrqLines::default(),
                cap,
            }
        }
        fn out(&mut self, off: u16, v: u8) {
            let mut ctx = Ctx {
                now: 0,
                irq: &mut self.irq,
            };
            self.u.io_write(0x3F8 + off, 1, v as u32, &mut ctx);
        }
        fn inb(&mut self, off: u16) -> u8 {
            let mut ctx = Ctx {
                now: 0,
                irq: &mut self.irq,
            };
            self.u.io_read(0x3F8 + off, 1, &mut ctx) as u8
        }
        fn sync(&mut self) {
            let mut ctx = Ctx {
                now: 0,
                irq: &mut self.irq,
            };
            self.u.advance_to(&mut ctx);
        }
        fn line(&self) -> bool {
            self.irq.level(4)
        }
    }

    #[test]
    fn divisor_latch_and_registers() {
        let mut t = T::new();
        t.out(3, 0x80);
        t.out(0, 0x01);
        t.out(1, 0x00);
        assert_eq!((t.inb(0), t.inb(1)), (0x01, 0x00));
        assert_eq!(t.u.baud(), 115_200);
        t.out(0, 0x0C);
        assert_eq!(t.u.baud(), 9600);
        t.out(3, 0x03);
        assert_eq!(t.inb(3), 0x03);
        // DLAB clear: offset 1 is IER (upper nibble reads 0), offset 0 transmits.
        t.out(1, 0xFF);
        assert_eq!(t.inb(1), 0x0F);
        t.out(1, 0);
        t.out(0, b'A');
        assert_eq!(*t.cap.0.lock().unwrap(), b"A");
        t.out(7, 0x5A);
        assert_eq!(t.inb(7), 0x5A);
        assert_eq!(t.inb(5), LSR_THRE | LSR_TEMT);
        assert_eq!(t.inb(6), 0xB0);
        assert_eq!(t.inb(2), 0x01);
        // FIFO enabled: IIR reports it (16550A), bits 4-5 stay clear.
        t.out(2, 0x21);
        assert_eq!(t.inb(2), 0xC1);
        assert_eq!(
            t.u.io_read(
                0x400,
                1,
                &mut Ctx {
                    now: 0,
                    irq: &mut t.irq
                }
            ),
            0xFF
        );
    }

    #[test]
    fn fifo_trigger_and_timeout() {
        let mut t = T::new();
        t.out(4, MCR_OUT2);
        t.out(2, 0x81); // FIFO, trigger 8
        t.out(1, IER_RDA);
        assert!(!t.line());
        t.u.receive(b"hello");
        t.sync();
        assert!(t.line());
        assert_eq!(t.inb(2), 0xCC, "below trigger: character timeout");
        t.u.receive(b" world, long line");
        t.sync();
        assert_eq!(t.inb(2), 0xC4, "at or above trigger: data available");
        let mut got = vec![];
        while t.inb(5) & LSR_DR != 0 {
            got.push(t.inb(0));
        }
        assert_eq!(got, b"hello world, long line");
        assert_eq!(t.inb(2), 0xC1);
        assert!(!t.line());
        // Non-FIFO mode holds one byte and never overruns from the host side.
        t.out(2, 0x00);
        t.u.receive(b"xy");
        t.sync();
        assert_eq!(t.inb(2), 0x04);
        assert_eq!(t.inb(0), b'x');
        assert_eq!(t.inb(0), b'y');
        assert_eq!(t.inb(5) & (LSR_OE | LSR_DR), 0);
        // Clearing the RX FIFO drops what it holds.
        t.out(2, 0x01);
        t.u.receive(b"abc");
        t.sync();
        t.out(2, 0x03);
        assert_eq!(t.inb(5) & LSR_DR, 0);
    }

    #[test]
    fn thre_interrupt() {
        let mut t = T::new();
        t.out(4, MCR_OUT2);
        assert!(!t.line());
        t.out(1, IER_THRE);
        assert!(t.line(), "enabling THRI with THR empty interrupts");
        assert_eq!(t.inb(2), 0x02);
        assert_eq!(t.inb(2), 0x01, "reading IIR cleared it");
        assert!(!t.line());
        t.out(0, b'x');
        assert!(t.line(), "THR empties again after a write");
        // Toggling IER re-raises it (Linux's UART_BUG_THRE probe).
        t.out(1, 0);
        assert!(!t.line());
        t.out(1, IER_THRE);
        assert_eq!(t.inb(2), 0x02);
        // RX data outranks THRE.
        t.out(1, 0);
        t.out(1, IER_THRE | IER_RDA);
        t.u.receive(b"k");
        t.sync();
        assert_eq!(t.inb(2), 0x04);
        t.inb(0);
        assert_eq!(t.inb(2), 0x02);
        // OUT2 gates the line.
        t.out(1, 0);
        t.out(1, IER_THRE);
        t.out(4, 0);
        assert!(!t.line());
        t.out(4, MCR_OUT2);
        assert!(t.line());
        assert_eq!(*t.cap.0.lock().unwrap(), b"x");
    }

    #[test]
    fn loopback_and_modem_status() {
        let mut t = T::new();
        assert_eq!(t.inb(6), 0xB0);
        t.out(4, MCR_LOOP | 0x0A); // RTS, OUT2
        assert_eq!(t.inb(6) & 0xF0, 0x90);
        t.out(4, MCR_LOOP | 0x0F);
        assert_eq!(t.inb(6), 0xF0 | 0x02, "DSR appeared");
        t.out(4, MCR_LOOP | 0x0B); // OUT1 (RI) falls: trailing edge
        assert_eq!(t.inb(6), 0xB0 | 0x04);
        t.out(0, 0x55);
        assert_eq!(t.inb(5) & LSR_DR, LSR_DR);
        assert_eq!(t.inb(0), 0x55);
        assert!(t.cap.0.lock().unwrap().is_empty());
        // Host input waits while in loopback.
        t.u.receive(b"z");
        t.sync();
        assert_eq!(t.inb(5) & LSR_DR, 0);
        // Modem status interrupt (seen through IIR; the line is off in loopback).
        t.out(1, IER_MS);
        t.out(4, MCR_LOOP | 0x08);
        assert_eq!(t.inb(2), 0x00);
        assert!(!t.line());
        t.inb(6);
        assert_eq!(t.inb(2), 0x01);
        t.out(4, MCR_OUT2);
        t.sync();
        assert_eq!(t.inb(0), b'z');
    }

    #[test]
    fn overrun_and_line_status_interrupt() {
        let mut t = T::new();
        t.out(4, MCR_LOOP);
        t.out(1, IER_RLS | IER_RDA);
        t.out(0, 1);
        t.out(0, 2);
        assert_eq!(t.inb(2), 0x06);
        assert_eq!(t.inb(5), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
        assert_eq!(t.inb(5) & LSR_OE, 0, "reading LSR clears OE");
        assert_eq!(t.inb(2), 0x04);
        assert_eq!(t.inb(0), 2);
        // FIFO mode: the 17th byte is lost.
        t.out(2, 0x01);
        for i in 0..17 {
            t.out(0, i);
        }
        assert_eq!(t.inb(5) & LSR_OE, LSR_OE);
        let got: Vec<u8> = (0..16).map(|_| t.inb(0)).collect();
        assert_eq!(got, (0..16).collect::<Vec<u8>>());
    }

    #[test]
    fn host_queue_bounded_and_snapshot() {
        let mut t = T::new();
        t.u.receive(&vec![7u8; HOST_QUEUE_MAX + 10]);
        assert_eq!(t.u.host_in.len(), HOST_QUEUE_MAX);
        t.out(7, 0x42);
        let json = serde_json::to_string(&t.u).unwrap();
        let mut u: Uart16550 = serde_json::from_str(&json).unwrap();
        assert_eq!(u.scr, 0x42);
        assert_eq!(u.host_in.len(), HOST_QUEUE_MAX);
        u.reset();
        assert_eq!((u.scr, u.host_in.len()), (0, HOST_QUEUE_MAX));
    }
}
