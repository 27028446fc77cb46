//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS, with REP/REPE/REPNE.
//!
//! A repeated instruction runs a bounded batch of iterations per step and then restarts
//! itself (EIP stays on it), so interrupts are taken between batches and a fault in
//! iteration k keeps the progress of iterations 0..k.
//!
//! REP MOVS/STOS copy runs that stay inside one source and one destination page of plain
//! RAM (no cached code on the destination page, no data breakpoints, no alignment checks)
//! element by element through host pointers (`bulk`): the same order, the same result and
//! the same register updates as the per-element path, which does everything else.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::flags::*;
use crate::state::SegReg;
use crate::Cpu;

/// Iterations of a REP string instruction done per step before yielding.
pub const REP_BATCH: u32 = 256;

impl Cpu {
    /// The 286 quirk: when a string access overruns its segment (#GP), the index registers of
    /// the accesses begun so far have already been stepped, and a repeated instruction has
    /// already counted one iteration down for a faulting read, two for a faulting write
    /// (hardware-captured behaviour).
    fn overrun_286(
        &mut self,
        f: Fault,
        regs: &[(usize, u32)],
        rep_dec: u32,
        delta: u32,
        amask: u32,
    ) -> Fault {
        if self.s.model == crate::state::CpuModel::I80286 && f.vector == crate::fault::GP {
            for &(r, v) in regs {
                let nv = v.wrapping_add(delta) & amask;
                self.saved_gpr[r] = (self.saved_gpr[r] & !amask) | nv;
            }
            if rep_dec != 0 {
                let c = self.saved_gpr[1].wrapping_sub(rep_dec) & amask;
                self.saved_gpr[1] = (self.saved_gpr[1] & !amask) | c;
            }
        }
        f
    }

    pub(crate) fn op_string<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let m = i.mnemonic();
        let a32 = (0..i.op_count()).any(|n| {
            matches!(
                i.op_kind(n),
                OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI
            )
        });
        let amask: u32 = if a32 { 0xFFFF_FFFF } else { 0xFFFF };
        use Mnemonic as M;
        let size: u32 = match m {
            M::Movsb | M::Cmpsb | M::Scasb | M::Lodsb | M::Stosb | M::Insb | M::Outsb => 1,
            M::Movsw | M::Cmpsw | M::Scasw | M::Lodsw | M::Stosw | M::Insw | M::Outsw => 2,
            _ => 4,
        };
        let is_in = matches!(m, M::Insb | M::Insw | M::Insd);
        let is_out = matches!(m, M::Outsb | M::Outsw | M::Outsd);
        let rep = i.has_rep_prefix() || i.has_repe_prefix() || i.has_repne_prefix();
        let cmp = matches!(
            m,
            Mnemonic::Cmpsb
                | Mnemonic::Cmpsw
                | Mnemonic::Cmpsd
                | Mnemonic::Scasb
                | Mnemonic::Scasw
                | Mnemonic::Scasd
        );
        let delta = if self.s.eflags & DF != 0 {
            size.wrapping_neg()
        } else {
            size
        };
        let src_seg = self.mem_seg(i);
        let bulk = match m {
            _ if !rep
                || self.s.model == crate::state::CpuModel::I8086
                || self.data_breakpoints
                || (self.s.cpl == 3
                    && self.s.eflags & AC != 0
                    && self.s.cr0 & crate::state::cr0::AM != 0) =>
            {
                None
            }
            M::Movsb | M::Movsw | M::Movsd => Some(Bulk::Movs),
            M::Stosb | M::Stosw | M::Stosd => Some(Bulk::Stos),
            M::Cmpsb | M::Cmpsw | M::Cmpsd => Some(Bulk::Cmps(i.has_repe_prefix())),
            M::Scasb | M::Scasw | M::Scasd => Some(Bulk::Scas(i.has_repe_prefix())),
            _ => None,
        };
        if is_in || is_out {
            let port = self.s.gpr[2] as u16;
            self.check_io(bus, port, size)?;
            self.io_done = true;
        }
        let mut n = 0;
        loop {
            if rep && self.s.gpr[1] & amask == 0 {
                return Ok(());
            }
            let si = self.s.gpr[6] & amask;
            let di = self.s.gpr[7] & amask;
            if let Some(op) = bulk {
                let want = (self.s.gpr[1] & amask).min(REP_BATCH - n);
                let k = self.bulk(bus, op, src_seg, si, di, size, delta, amask, want);
                if k > 0 {
                    let d = delta.wrapping_mul(k);
                    if matches!(op, Bulk::Movs | Bulk::Cmps(_)) {
                        self.s.gpr[6] = (self.s.gpr[6] & !amask) | (si.wrapping_add(d) & amask);
                    }
                    self.s.gpr[7] = (self.s.gpr[7] & !amask) | (di.wrapping_add(d) & amask);
                    let c = self.s.gpr[1].wrapping_sub(k) & amask;
                    self.s.gpr[1] = (self.s.gpr[1] & !amask) | c;
                    self.saved_gpr = self.s.gpr;
                    self.saved_flags = self.s.eflags;
                    if c == 0 {
                        return Ok(());
                    }
                    if let Bulk::Cmps(e) | Bulk::Scas(e) = op {
                        if e != (self.s.eflags & ZF != 0) {
                            return Ok(());
                        }
                    }
                    n += k;
                    if n >= REP_BATCH {
                        self.s.eip = self.start_eip;
                        return Ok(());
                    }
                    continue;
                }
            }
            let mut advance_si = false;
            let mut advance_di = false;
            match m {
                Mnemonic::Movsb | Mnemonic::Movsw | Mnemonic::Movsd => {
                    let v = self
                        .read_mem(bus, src_seg, si, size)
                        .map_err(|f| self.overrun_286(f, &[(6, si)], rep as u32, delta, amask))?;
                    self.write_mem(bus, SegReg::Es, di, size, v).map_err(|f| {
                        self.overrun_286(f, &[(6, si), (7, di)], 2 * rep as u32, delta, amask)
                    })?;
                    advance_si = true;
                    advance_di = true;
                }
                Mnemonic::Cmpsb | Mnemonic::Cmpsw | Mnemonic::Cmpsd => {
                    // (The 286 reads ES:DI first: its overrun fault comes before DS:SI's.)
                    let b = self
                        .read_mem(bus, SegReg::Es, di, size)
                        .map_err(|f| self.overrun_286(f, &[(7, di)], 0, delta, amask))?;
                    let a = self.read_mem(bus, src_seg, si, size).map_err(|f| {
                        self.overrun_286(f, &[(7, di), (6, si)], rep as u32, delta, amask)
                    })?;
                    self.sub_flags(a, b, 0, size);
                    advance_si = true;
                    advance_di = true;
                }
                Mnemonic::Scasb | Mnemonic::Scasw | Mnemonic::Scasd => {
                    let b = self
                        .read_mem(bus, SegReg::Es, di, size)
                        .map_err(|f| self.overrun_286(f, &[(7, di)], rep as u32, delta, amask))?;
                    let a = self.s.gpr[0];
                    self.sub_flags(a, b, 0, size);
                    advance_di = true;
                }
                Mnemonic::Lodsb | Mnemonic::Lodsw | Mnemonic::Lodsd => {
                    let v = self
                        .read_mem(bus, src_seg, si, size)
                        .map_err(|f| self.overrun_286(f, &[(6, si)], rep as u32, delta, amask))?;
                    match size {
                        1 => self.s.set_reg8(0, v as u8),
                        2 => self.s.set_reg16(0, v as u16),
                        _ => self.s.gpr[0] = v,
                    }
                    advance_si = true;
                }
                Mnemonic::Stosb | Mnemonic::Stosw | Mnemonic::Stosd => {
                    let v = self.s.gpr[0];
                    self.write_mem(bus, SegReg::Es, di, size, v).map_err(|f| {
                        self.overrun_286(f, &[(7, di)], 2 * rep as u32, delta, amask)
                    })?;
                    advance_di = true;
                }
                _ if is_in => {
                    // Check the destination before the port read has side effects.
                    let lin = self.seg_lin(SegReg::Es, di, size, true).map_err(|f| {
                        self.overrun_286(f, &[(7, di)], 2 * rep as u32, delta, amask)
                    })?;
                    self.probe_write(bus, lin, size)?;
                    let v = bus.io_in(self.s.gpr[2] as u16, size as u8);
                    self.write_mem(bus, SegReg::Es, di, size, v).map_err(|f| {
                        self.overrun_286(f, &[(7, di)], 2 * rep as u32, delta, amask)
                    })?;
                    advance_di = true;
                }
                _ => {
                    // OUTS
                    let v = self
                        .read_mem(bus, src_seg, si, size)
                        .map_err(|f| self.overrun_286(f, &[(6, si)], rep as u32, delta, amask))?;
                    bus.io_out(self.s.gpr[2] as u16, size as u8, v);
                    advance_si = true;
                }
            }
            if advance_si {
                self.s.gpr[6] = (self.s.gpr[6] & !amask) | (si.wrapping_add(delta) & amask);
            }
            if advance_di {
                self.s.gpr[7] = (self.s.gpr[7] & !amask) | (di.wrapping_add(delta) & amask);
            }
            if !rep {
                return Ok(());
            }
            let c = self.s.gpr[1].wrapping_sub(1) & amask;
            self.s.gpr[1] = (self.s.gpr[1] & !amask) | c;
            // Progress so far survives a fault in a later iteration.
            self.saved_gpr = self.s.gpr;
            self.saved_flags = self.s.eflags;
            if c == 0 {
                return Ok(());
            }
            if cmp {
                let zf = self.s.eflags & ZF != 0;
                if (i.has_repe_prefix() && !zf) || (i.has_repne_prefix() && zf) {
                    return Ok(());
                }
            }
            n += 1;
            if n >= REP_BATCH {
                // Come back for the rest (interrupts may be taken in between).
                self.s.eip = self.start_eip;
                return Ok(());
            }
        }
    }

    /// Up to `want` iterations of `op` (sources at `seg`:`si` and ES:`di`) done through host
    /// pointers, if they all stay inside one page of plain RAM per operand (without cached
    /// code for a destination), inside the segment limits and without wrapping the offsets;
    /// a compare stops after the element that ends the repetition and sets the flags from
    /// it. Returns how many iterations were done (0: take the checked path).
    #[allow(clippy::too_many_arguments)]
    fn bulk<B: CpuBus>(
        &mut self,
        bus: &mut B,
        op: Bulk,
        seg: SegReg,
        si: u32,
        di: u32,
        size: u32,
        delta: u32,
        amask: u32,
        want: u32,
    ) -> u32 {
        use crate::memory::Access;
        let back = delta & 0x8000_0000 != 0;
        // Iterations from `off` (element at `lin`) before leaving the page or wrapping.
        let room = |off: u32, lin: u32| -> u32 {
            let o = lin & 0xFFF;
            if o + size > 0x1000 || off.wrapping_add(size - 1) > amask {
                return 0;
            }
            if back {
                (o / size + 1).min(off / size + 1)
            } else {
                ((0x1000 - o) / size).min((amask - off - (size - 1)) / size + 1)
            }
        };
        let uses_si = matches!(op, Bulk::Movs | Bulk::Cmps(_));
        let write_di = matches!(op, Bulk::Movs | Bulk::Stos);
        let Ok(dlin) = self.seg_lin(SegReg::Es, di, size, write_di) else {
            return 0;
        };
        let mut k = want.min(room(di, dlin));
        let mut slin = 0;
        if uses_si {
            let Ok(l) = self.seg_lin(seg, si, size, false) else {
                return 0;
            };
            slin = l;
            k = k.min(room(si, slin));
        }
        if k < 2 {
            return 0;
        }
        // The last element must pass the segment checks too (the range is contiguous).
        let span = delta.wrapping_mul(k - 1);
        if self
            .seg_lin(SegReg::Es, di.wrapping_add(span), size, write_di)
            .is_err()
            || (uses_si
                && self
                    .seg_lin(seg, si.wrapping_add(span), size, false)
                    .is_err())
        {
            return 0;
        }
        let user = self.s.cpl == 3;
        let cr2 = self.s.cr2;
        let mut sp: *const u8 = std::ptr::null();
        if uses_si {
            let Ok(p) = self.translate(bus, slin, Access::Read, user) else {
                self.s.cr2 = cr2;
                return 0;
            };
            let Some(h) = bus.host_page_read(p & !0xFFF) else {
                return 0;
            };
            // SAFETY: inside the 4 KiB page `h` points to.
            sp = unsafe { h.add((p & 0xFFF) as usize) };
        }
        let acc = if write_di {
            Access::Write
        } else {
            Access::Read
        };
        let Ok(p) = self.translate(bus, dlin, acc, user) else {
            self.s.cr2 = cr2;
            return 0;
        };
        let h = if write_di {
            if self.icache.is_code_page(p >> 12) {
                return 0;
            }
            bus.host_page(p & !0xFFF).map(|h| h as *const u8)
        } else {
            bus.host_page_read(p & !0xFFF)
        };
        let Some(h) = h else {
            return 0;
        };
        // SAFETY: as above.
        let mut dp = unsafe { h.add((p & 0xFFF) as usize) } as *mut u8;
        let step = delta as i32 as isize;
        let v = self.s.gpr[0];
        // SAFETY (all accesses below): `room` kept all `k` elements inside both pages.
        let load = |p: *const u8| unsafe {
            match size {
                1 => *p as u32,
                2 => (p as *const u16).read_unaligned() as u32,
                _ => (p as *const u32).read_unaligned(),
            }
        };
        let store = |p: *mut u8, x: u32| unsafe {
            match size {
                1 => *p = x as u8,
                2 => (p as *mut u16).write_unaligned(x as u16),
                _ => (p as *mut u32).write_unaligned(x),
            }
        };
        // Element by element, in the interpreter's order (overlapping moves repeat bytes
        // exactly as it does).
        match op {
            Bulk::Movs => {
                for _ in 0..k {
                    store(dp, load(sp));
                    dp = dp.wrapping_offset(step);
                    sp = sp.wrapping_offset(step);
                }
            }
            Bulk::Stos => {
                for _ in 0..k {
                    store(dp, v);
                    dp = dp.wrapping_offset(step);
                }
            }
            Bulk::Cmps(e) | Bulk::Scas(e) => {
                let m = if size == 4 {
                    u32::MAX
                } else {
                    (1 << (8 * size)) - 1
                };
                let scas = matches!(op, Bulk::Scas(_));
                let mut j = 0;
                let (a, b) = loop {
                    let b = load(dp);
                    let a = if scas { v & m } else { load(sp) };
                    j += 1;
                    if j == k || (a == b) != e {
                        break (a, b);
                    }
                    dp = dp.wrapping_offset(step);
                    sp = sp.wrapping_offset(step);
                };
                self.sub_flags(a, b, 0, size);
                return j;
            }
        }
        k
    }
}

/// String operations with a bulk path (the bool: REPE rather than REPNE).
#[derive(Clone, Copy)]
enum Bulk {
    Movs,
    Stos,
    Cmps(bool),
    Scas(bool),
}
