//! System instructions: HLT, CLI/STI, CPUID, RDTSC, RDMSR/WRMSR, MOV to/from CRn and DRn,
//! CLTS, LMSW, SMSW, LGDT/LIDT/SGDT/SIDT, INVLPG, WBINVD/INVD, SYSENTER/SYSEXIT.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::state::flags::*;
use crate::state::{attr, cr0, cr4, msr, reg, SegReg, Segment};
use crate::Cpu;

/// CPUID leaf 1 EDX: FPU, PSE, TSC, MSR, CX8, SEP, CMOV, MMX.
const CPUID_1_EDX: u32 =
    (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 11) | (1 << 15) | (1 << 23);

impl Cpu {
    /// Instructions that need CPL 0 in protected mode (and #GP in V86 mode).
    #[inline]
    pub(crate) fn require_cpl0(&self) -> Result<(), Fault> {
        if self.s.protected() && (self.s.v86() || self.s.cpl != 0) {
            return Err(Fault::gp0());
        }
        Ok(())
    }

    pub(crate) fn op_hlt(&mut self) -> Result<(), Fault> {
        self.require_cpl0()?;
        self.s.halted = true;
        Ok(())
    }

    pub(crate) fn op_cli_sti(&mut self, i: &Instruction) -> Result<(), Fault> {
        if self.s.protected() && self.s.cpl > self.s.iopl() || self.s.v86() && self.s.iopl() < 3 {
            return Err(Fault::gp0());
        }
        if i.mnemonic() == Mnemonic::Cli {
            self.s.eflags &= !IF;
        } else {
            if self.s.eflags & IF == 0 {
                self.shadow_next = true;
            }
            self.s.eflags |= IF;
        }
        Ok(())
    }

    pub(crate) fn op_cpuid(&mut self) {
        let (a, b, c, d) = match self.s.gpr[reg::EAX] {
            0 => (
                2,
                u32::from_le_bytes(*b"Genu"),
                u32::from_le_bytes(*b"ntel"),
                u32::from_le_bytes(*b"ineI"),
            ),
            1 => (0x0633, 0, 0, CPUID_1_EDX),
            2 => (0x0302_0101, 0, 0, 0x0C04_0843),
            _ => (0, 0, 0, 0),
        };
        self.s.gpr[reg::EAX] = a;
        self.s.gpr[reg::EBX] = b;
        self.s.gpr[reg::ECX] = c;
        self.s.gpr[reg::EDX] = d;
    }

    pub(crate) fn op_rdtsc<B: CpuBus>(&mut self, bus: &mut B) -> Result<(), Fault> {
        if self.s.cr4 & cr4::TSD != 0 && self.s.protected() && self.s.cpl != 0 {
            return Err(Fault::gp0());
        }
        let tsc = self.read_tsc(bus);
        self.s.gpr[reg::EAX] = tsc as u32;
        self.s.gpr[reg::EDX] = (tsc >> 32) as u32;
        Ok(())
    }

    /// The time-stamp counter: the machine's host clock plus the offset the guest set with
    /// WRMSR when the machine keeps time by the host, else the count of retired instructions
    /// (which the machine advances over halted time).
    fn read_tsc<B: CpuBus>(&mut self, bus: &mut B) -> u64 {
        if let Some(host) = bus.host_tsc() {
            self.s.tsc = host.wrapping_add(self.s.tsc_offset);
        }
        self.s.tsc
    }

    pub(crate) fn op_msr<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        self.require_cpl0()?;
        let ecx = self.s.gpr[reg::ECX];
        if i.mnemonic() == Mnemonic::Rdmsr {
            let v: u64 = match ecx {
                msr::TSC => self.read_tsc(bus),
                msr::PLATFORM_ID | msr::EBL_CR_POWERON => 0,
                msr::BIOS_SIGN_ID => self.s.bios_sign_id,
                msr::PERFCTR0 | msr::PERFCTR1 => self.s.perfctr[(ecx - msr::PERFCTR0) as usize],
                msr::EVNTSEL0 | msr::EVNTSEL1 => {
                    self.s.evntsel[(ecx - msr::EVNTSEL0) as usize] as u64
                }
                msr::DEBUGCTL => self.s.debugctl as u64,
                msr::LASTBRANCH_FIRST..=msr::LASTBRANCH_LAST => 0,
                msr::SYSENTER_CS => self.s.sysenter_cs as u64,
                msr::SYSENTER_ESP => self.s.sysenter_esp as u64,
                msr::SYSENTER_EIP => self.s.sysenter_eip as u64,
                _ => return Err(Fault::gp0()),
            };
            self.s.gpr[reg::EAX] = v as u32;
            self.s.gpr[reg::EDX] = (v >> 32) as u32;
        } else {
            let v = (self.s.gpr[reg::EDX] as u64) << 32 | self.s.gpr[reg::EAX] as u64;
            match ecx {
                msr::TSC => {
                    let v = v & 0xFFFF_FFFF; // the P6 zero-extends EAX
                    self.s.tsc = v;
                    if let Some(host) = bus.host_tsc() {
                        self.s.tsc_offset = v.wrapping_sub(host);
                    }
                }
                msr::BIOS_UPDT_TRIG => {} // no microcode update to apply
                msr::BIOS_SIGN_ID => self.s.bios_sign_id = v,
                msr::PERFCTR0 | msr::PERFCTR1 => {
                    self.s.perfctr[(ecx - msr::PERFCTR0) as usize] = v & 0xFF_FFFF_FFFF
                }
                msr::EVNTSEL0 | msr::EVNTSEL1 => {
                    self.s.evntsel[(ecx - msr::EVNTSEL0) as usize] = v as u32
                }
                msr::DEBUGCTL => self.s.debugctl = v as u32 & 0x7F,
                msr::SYSENTER_CS => self.s.sysenter_cs = v as u32 & 0xFFFF,
                msr::SYSENTER_ESP => self.s.sysenter_esp = v as u32,
                msr::SYSENTER_EIP => self.s.sysenter_eip = v as u32,
                _ => return Err(Fault::gp0()),
            }
        }
        Ok(())
    }

    /// Write CR0 with the architectural checks; flushes the TLB when paging bits change.
    pub(crate) fn write_cr0(&mut self, v: u32) -> Result<(), Fault> {
        let v = v | cr0::ET;
        if v & cr0::PG != 0 && v & cr0::PE == 0 || v & cr0::NW != 0 && v & cr0::CD == 0 {
            return Err(Fault::gp0());
        }
        let old = self.s.cr0;
        self.s.cr0 = v
            & (cr0::PE
                | cr0::MP
                | cr0::EM
                | cr0::TS
                | cr0::ET
                | cr0::NE
                | cr0::WP
                | cr0::AM
                | cr0::NW
                | cr0::CD
                | cr0::PG);
        if (old ^ self.s.cr0) & (cr0::PG | cr0::WP | cr0::PE) != 0 {
            self.flush_tlb();
        }
        if self.s.cr0 & cr0::PE == 0 {
            self.s.cpl = 0;
        }
        Ok(())
    }

    pub(crate) fn op_mov_crdr<B: CpuBus>(
        &mut self,
        _bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        self.require_cpl0()?;
        let (dst, src) = (i.op0_register(), i.op1_register());
        if (dst.is_dr() || src.is_dr()) && self.s.dr[7] & (1 << 13) != 0 {
            // General detect: #DB before the access, with DR6.BD; GD is cleared for the handler.
            self.s.dr[6] |= 1 << 13;
            self.s.dr[7] &= !(1 << 13);
            return Err(Fault::new(crate::fault::DB));
        }
        if dst.is_cr() {
            let v = self.reg(src);
            match dst.number() {
                0 => self.write_cr0(v)?,
                2 => self.s.cr2 = v,
                3 => {
                    self.s.cr3 = v & 0xFFFF_F018;
                    self.flush_tlb();
                }
                4 => {
                    let allowed = cr4::VME | cr4::PVI | cr4::TSD | cr4::DE | cr4::PSE | cr4::PCE;
                    if v & !allowed != 0 {
                        return Err(Fault::gp0());
                    }
                    self.s.cr4 = v;
                    self.flush_tlb();
                }
                _ => return Err(Fault::ud()),
            }
        } else if src.is_cr() {
            let v = match src.number() {
                0 => self.s.cr0,
                2 => self.s.cr2,
                3 => self.s.cr3,
                4 => self.s.cr4,
                _ => return Err(Fault::ud()),
            };
            self.set_reg(dst, v);
        } else if dst.is_dr() {
            let n = self.dr_index(dst.number())?;
            let v = self.reg(src);
            self.s.dr[n] = match n {
                6 => v | 0xFFFF_0FF0,
                7 => (v | 0x400) & !0xD800,
                _ => v,
            };
            self.update_breakpoints();
        } else if src.is_dr() {
            let n = self.dr_index(src.number())?;
            let v = self.s.dr[n];
            self.set_reg(dst, v);
        } else {
            return Err(Fault::ud());
        }
        Ok(())
    }

    fn dr_index(&self, n: usize) -> Result<usize, Fault> {
        match n {
            4 | 5 if self.s.cr4 & cr4::DE != 0 => Err(Fault::ud()),
            4 | 5 => Ok(n + 2),
            0..=7 => Ok(n),
            _ => Err(Fault::ud()),
        }
    }

    pub(crate) fn op_clts(&mut self) -> Result<(), Fault> {
        self.require_cpl0()?;
        self.s.cr0 &= !cr0::TS;
        Ok(())
    }

    pub(crate) fn op_lmsw<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        self.require_cpl0()?;
        let v = self.read_op(bus, i, 0)? & 0xF;
        // LMSW cannot clear PE.
        let new = (self.s.cr0 & !0xE) | v | (self.s.cr0 & cr0::PE);
        self.write_cr0(new)
    }

    pub(crate) fn op_smsw<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let v = self.s.cr0;
        if i.op0_kind() == OpKind::Register {
            self.set_reg(i.op0_register(), v);
            Ok(())
        } else {
            self.write_op(bus, i, 0, v & 0xFFFF)
        }
    }

    /// LGDT, LIDT, SGDT, SIDT.
    pub(crate) fn op_desc_table<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        if i.op0_kind() != OpKind::Memory {
            return Err(Fault::ud());
        }
        let seg = self.mem_seg(i);
        let ea = self.ea(i);
        let op32 = matches!(
            i.code(),
            iced_x86::Code::Lgdt_m1632
                | iced_x86::Code::Lidt_m1632
                | iced_x86::Code::Sgdt_m1632
                | iced_x86::Code::Sidt_m1632
        );
        match i.mnemonic() {
            Mnemonic::Lgdt | Mnemonic::Lidt => {
                self.require_cpl0()?;
                let limit = self.read_mem(bus, seg, ea, 2)?;
                let mut base = self.read_mem(bus, seg, ea.wrapping_add(2), 4)?;
                if !op32 {
                    base &= 0x00FF_FFFF;
                }
                let t = if i.mnemonic() == Mnemonic::Lgdt {
                    &mut self.s.gdtr
                } else {
                    &mut self.s.idtr
                };
                t.base = base;
                t.limit = limit;
            }
            _ => {
                let t = if i.mnemonic() == Mnemonic::Sgdt {
                    self.s.gdtr
                } else {
                    self.s.idtr
                };
                let base = if op32 { t.base } else { t.base & 0x00FF_FFFF };
                // Check both parts before writing either.
                self.seg_lin(seg, ea, 6, true)?;
                self.write_mem(bus, seg, ea, 2, t.limit)?;
                self.write_mem(bus, seg, ea.wrapping_add(2), 4, base)?;
            }
        }
        Ok(())
    }

    pub(crate) fn op_invlpg(&mut self, i: &Instruction) -> Result<(), Fault> {
        self.require_cpl0()?;
        if i.op0_kind() != OpKind::Memory {
            return Err(Fault::ud());
        }
        let seg = self.mem_seg(i);
        let lin = self.s.seg[seg as usize].base.wrapping_add(self.ea(i));
        self.tlb.flush_page(lin);
        self.tlb_epoch += 1;
        self.invlpg_log.push(lin);
        self.leave_block = true;
        Ok(())
    }

    pub(crate) fn op_sysenter(&mut self) -> Result<(), Fault> {
        if !self.s.protected() || self.s.sysenter_cs & 0xFFFC == 0 {
            return Err(Fault::gp0());
        }
        let cs = self.s.sysenter_cs as u16 & 0xFFFC;
        self.s.eflags &= !(VM | IF | RF);
        self.s.seg[SegReg::Cs as usize] = flat(cs, attr::CODE | attr::RW | attr::ACCESSED, 0);
        self.s.seg[SegReg::Ss as usize] = flat(cs + 8, attr::RW | attr::ACCESSED, 0);
        self.s.cpl = 0;
        self.s.gpr[reg::ESP] = self.s.sysenter_esp;
        self.s.eip = self.s.sysenter_eip;
        Ok(())
    }

    pub(crate) fn op_sysexit(&mut self) -> Result<(), Fault> {
        if !self.s.protected()
            || self.s.v86()
            || self.s.cpl != 0
            || self.s.sysenter_cs & 0xFFFC == 0
        {
            return Err(Fault::gp0());
        }
        let cs = self.s.sysenter_cs as u16 & 0xFFFC;
        self.s.seg[SegReg::Cs as usize] =
            flat((cs + 16) | 3, attr::CODE | attr::RW | attr::ACCESSED, 3);
        self.s.seg[SegReg::Ss as usize] = flat((cs + 24) | 3, attr::RW | attr::ACCESSED, 3);
        self.s.cpl = 3;
        self.s.gpr[reg::ESP] = self.s.gpr[reg::ECX];
        self.s.eip = self.s.gpr[reg::EDX];
        Ok(())
    }
}

/// A flat 4 GiB 32-bit segment as SYSENTER/SYSEXIT load it.
fn flat(sel: u16, ty: u16, dpl: u16) -> Segment {
    Segment {
        selector: sel,
        attr: ty | attr::S | attr::P | attr::DB | attr::G | (dpl << attr::DPL_SHIFT),
        base: 0,
        limit: 0xFFFF_FFFF,
    }
}
