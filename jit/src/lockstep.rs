//! Lockstep checking: translated code runs against a `Recorder` that logs every bus write
//! (with the value it replaced) and every port access; the shadow interpreter then re-runs the
//! same instructions against a `Replay` that shows it memory as it was before the region, hands
//! it the logged port input, and compares each of its writes and port outputs with the log.
//!
//! Reading the replaced value of a write (and, outside plain RAM, the value after it: ROM
//! ignores writes) reads the bus again: harmless for RAM and ROM; for MMIO with read side
//! effects (VGA latches) lockstep can perturb the guest — it is a checking mode.

use std::collections::HashMap;

use ironbox_cpu::CpuBus;

/// One logged bus transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txn {
    /// `after`: what the address holds after the write (ROM ignores writes).
    Write {
        addr: u32,
        size: u8,
        old: u32,
        new: u32,
        after: u32,
    },
    In {
        port: u16,
        size: u8,
        val: u32,
    },
    Out {
        port: u16,
        size: u8,
        val: u32,
    },
    /// A read of the host-clocked time-stamp counter.
    Tsc {
        val: Option<u64>,
    },
}

/// A read of `size` bytes with the bus's own access of that width.
fn read_sized<B: CpuBus>(bus: &mut B, addr: u32, size: u8) -> u32 {
    match size {
        1 => bus.read8(addr) as u32,
        2 => bus.read16(addr) as u32,
        _ => bus.read32(addr),
    }
}

/// A pass-through bus that logs writes and port I/O.
pub struct Recorder<B> {
    inner: *mut B,
    log: Vec<Txn>,
}

impl<B: CpuBus> Recorder<B> {
    pub fn new(inner: &mut B) -> Recorder<B> {
        Recorder {
            inner,
            log: Vec::new(),
        }
    }
    pub fn into_log(self) -> Vec<Txn> {
        self.log
    }
    fn bus(&mut self) -> &mut B {
        // SAFETY: built from a `&mut B` that outlives the recorder (see `Lockstep`).
        unsafe { &mut *self.inner }
    }
    fn write(&mut self, addr: u32, size: u8, new: u32) {
        let old = read_sized(self.bus(), addr, size);
        match size {
            1 => self.bus().write8(addr, new as u8),
            2 => self.bus().write16(addr, new as u16),
            _ => self.bus().write32(addr, new),
        }
        // Plain RAM holds what was written; elsewhere (ROM, devices) read it back.
        let after = if self.bus().host_page(addr & !0xFFF).is_some() {
            new
        } else {
            read_sized(self.bus(), addr, size)
        };
        self.log.push(Txn::Write {
            addr,
            size,
            old,
            new,
            after,
        });
    }
}

impl<B: CpuBus> CpuBus for Recorder<B> {
    fn read8(&mut self, addr: u32) -> u8 {
        self.bus().read8(addr)
    }
    fn read16(&mut self, addr: u32) -> u16 {
        self.bus().read16(addr)
    }
    fn read32(&mut self, addr: u32) -> u32 {
        self.bus().read32(addr)
    }
    fn write8(&mut self, addr: u32, v: u8) {
        self.write(addr, 1, v as u32)
    }
    fn write16(&mut self, addr: u32, v: u16) {
        self.write(addr, 2, v as u32)
    }
    fn write32(&mut self, addr: u32, v: u32) {
        self.write(addr, 4, v)
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        let val = self.bus().io_in(port, size);
        self.log.push(Txn::In { port, size, val });
        val
    }
    fn io_out(&mut self, port: u16, size: u8, val: u32) {
        self.log.push(Txn::Out { port, size, val });
        self.bus().io_out(port, size, val)
    }
    fn host_tsc(&mut self) -> Option<u64> {
        let val = self.bus().host_tsc();
        self.log.push(Txn::Tsc { val });
        val
    }
    fn intr_pending(&mut self) -> bool {
        self.bus().intr_pending()
    }
    fn ack_intr(&mut self) -> Option<u8> {
        self.bus().ack_intr()
    }
    fn take_nmi(&mut self) -> bool {
        self.bus().take_nmi()
    }
    fn nmi_pending(&mut self) -> bool {
        self.bus().nmi_pending()
    }
    fn set_ferr(&mut self, asserted: bool) {
        self.bus().set_ferr(asserted)
    }
}

/// Memory as it was before the logged run, and the log to compare against.
pub struct Replay<'a, B> {
    inner: &'a mut B,
    log: &'a [Txn],
    pos: usize,
    overlay: HashMap<u32, u8>,
    problems: Vec<String>,
}

impl<'a, B: CpuBus> Replay<'a, B> {
    pub fn new(inner: &'a mut B, log: &'a [Txn]) -> Replay<'a, B> {
        let mut overlay = HashMap::new();
        for t in log {
            if let Txn::Write {
                addr, size, old, ..
            } = *t
            {
                for k in 0..size as u32 {
                    overlay
                        .entry(addr.wrapping_add(k))
                        .or_insert((old >> (8 * k)) as u8);
                }
            }
        }
        Replay {
            inner,
            log,
            pos: 0,
            overlay,
            problems: Vec::new(),
        }
    }

    /// What did not match (empty when the two runs agree).
    pub fn finish(mut self) -> Vec<String> {
        if self.pos < self.log.len() {
            let rest = &self.log[self.pos..];
            self.problems.push(format!(
                "translated code made {} more bus transactions, first {:x?}",
                rest.len(),
                rest[0]
            ));
        }
        self.problems
    }

    fn next(&mut self, want: &Txn) -> Option<Txn> {
        let got = self.log.get(self.pos).cloned();
        self.pos += 1;
        let same = match (&got, want) {
            (
                Some(Txn::Write {
                    addr, size, new, ..
                }),
                Txn::Write {
                    addr: a,
                    size: s,
                    new: n,
                    ..
                },
            ) => addr == a && size == s && new == n,
            (
                Some(Txn::In { port, size, .. }),
                Txn::In {
                    port: p, size: s, ..
                },
            ) => port == p && size == s,
            (Some(t @ Txn::Out { .. }), w @ Txn::Out { .. }) => t == w,
            (Some(Txn::Tsc { .. }), Txn::Tsc { .. }) => true,
            _ => false,
        };
        if !same && self.problems.len() < 8 {
            self.problems.push(format!(
                "transaction {}: interpreter {:x?}, translated code {:x?}",
                self.pos - 1,
                want,
                got
            ));
        }
        got
    }

    fn read(&mut self, addr: u32, size: u8) -> u32 {
        let hit = (0..size as u32).any(|k| self.overlay.contains_key(&addr.wrapping_add(k)));
        if !hit {
            return read_sized(self.inner, addr, size);
        }
        let mut v = 0;
        for k in 0..size as u32 {
            let a = addr.wrapping_add(k);
            let b = match self.overlay.get(&a) {
                Some(&b) => b,
                None => self.inner.read8(a),
            };
            v |= (b as u32) << (8 * k);
        }
        v
    }

    fn write(&mut self, addr: u32, size: u8, new: u32) {
        let after = match self.next(&Txn::Write {
            addr,
            size,
            old: 0,
            new,
            after: 0,
        }) {
            Some(Txn::Write {
                addr: a,
                size: s,
                new: n,
                after,
                ..
            }) if a == addr && s == size && n == new => after,
            _ => new,
        };
        for k in 0..size as u32 {
            self.overlay
                .insert(addr.wrapping_add(k), (after >> (8 * k)) as u8);
        }
    }
}

impl<B: CpuBus> CpuBus for Replay<'_, B> {
    fn read8(&mut self, addr: u32) -> u8 {
        self.read(addr, 1) as u8
    }
    fn read16(&mut self, addr: u32) -> u16 {
        self.read(addr, 2) as u16
    }
    fn read32(&mut self, addr: u32) -> u32 {
        self.read(addr, 4)
    }
    fn write8(&mut self, addr: u32, v: u8) {
        self.write(addr, 1, v as u32)
    }
    fn write16(&mut self, addr: u32, v: u16) {
        self.write(addr, 2, v as u32)
    }
    fn write32(&mut self, addr: u32, v: u32) {
        self.write(addr, 4, v)
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        match self.next(&Txn::In { port, size, val: 0 }) {
            Some(Txn::In { val, .. }) => val,
            _ => u32::MAX,
        }
    }
    fn io_out(&mut self, port: u16, size: u8, val: u32) {
        self.next(&Txn::Out { port, size, val });
    }
    fn host_tsc(&mut self) -> Option<u64> {
        match self.next(&Txn::Tsc { val: None }) {
            Some(Txn::Tsc { val }) => val,
            _ => None,
        }
    }
    // The region ran with no interrupt deliverable (it leaves when that could change).
}
