//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS, with REP/REPE/REPNE.
//!
//! A repeated instruction runs a bounded batch of iterations per step and then restarts
//! itself (EIP stays on it), so interrupts are taken between batches and a fault in
//! iteration k keeps the progress of iterations 0..k.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::flags::*;
use crate::state::SegReg;
use crate::Cpu;

/// Iterations of a REP string instruction done per step before yielding.
const REP_BATCH: u32 = 256;

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
}
