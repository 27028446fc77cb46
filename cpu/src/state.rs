//! Architectural state of the emulated CPU: one `#[repr(C)]` struct, the source of truth for the
//! interpreter, the JIT (fields reached by `offset_of!`) and snapshots.

use crate::x87::FpuState;

/// Which CPU the interpreter behaves as. Only observable differences are modelled.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuModel {
    /// Intel 8086: FLAGS 12-15 read as 1, unmasked shift counts, no #UD, 1 MiB wrap.
    I8086 = 0,
    /// Intel 80286 (real-mode behaviour): #UD, 16 MiB wrap, FLAGS 12-15 clear in real mode.
    I80286 = 1,
    /// Pentium II class (family 6), the default.
    Pentium2 = 2,
}

impl CpuModel {
    pub fn parse(s: &str) -> Option<CpuModel> {
        match s.to_ascii_lowercase().as_str() {
            "8086" | "i8086" => Some(CpuModel::I8086),
            "80286" | "286" | "i286" => Some(CpuModel::I80286),
            "pentium2" | "p2" | "i686" | "pentium-ii" => Some(CpuModel::Pentium2),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CpuModel::I8086 => "8086",
            CpuModel::I80286 => "80286",
            CpuModel::Pentium2 => "pentium2",
        }
    }
    /// Physical address mask applied to every access (address lines of the chip).
    pub fn address_mask(self) -> u32 {
        match self {
            CpuModel::I8086 => 0x000F_FFFF,
            CpuModel::I80286 => 0x00FF_FFFF,
            CpuModel::Pentium2 => 0xFFFF_FFFF,
        }
    }
    pub fn is_386_plus(self) -> bool {
        self == CpuModel::Pentium2
    }
}

/// General purpose register indices, in x86 encoding order.
pub mod reg {
    pub const EAX: usize = 0;
    pub const ECX: usize = 1;
    pub const EDX: usize = 2;
    pub const EBX: usize = 3;
    pub const ESP: usize = 4;
    pub const EBP: usize = 5;
    pub const ESI: usize = 6;
    pub const EDI: usize = 7;
}

/// Segment register indices, in x86 encoding order.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];
    pub fn from_index(i: usize) -> SegReg {
        Self::ALL[i]
    }
}

/// EFLAGS bits.
pub mod flags {
    pub const CF: u32 = 1 << 0;
    pub const RESERVED1: u32 = 1 << 1;
    pub const PF: u32 = 1 << 2;
    pub const AF: u32 = 1 << 4;
    pub const ZF: u32 = 1 << 6;
    pub const SF: u32 = 1 << 7;
    pub const TF: u32 = 1 << 8;
    pub const IF: u32 = 1 << 9;
    pub const DF: u32 = 1 << 10;
    pub const OF: u32 = 1 << 11;
    pub const IOPL: u32 = 3 << 12;
    pub const NT: u32 = 1 << 14;
    pub const RF: u32 = 1 << 16;
    pub const VM: u32 = 1 << 17;
    pub const AC: u32 = 1 << 18;
    pub const VIF: u32 = 1 << 19;
    pub const VIP: u32 = 1 << 20;
    pub const ID: u32 = 1 << 21;
    /// The arithmetic status flags.
    pub const STATUS: u32 = CF | PF | AF | ZF | SF | OF;
}

/// CR0 bits.
pub mod cr0 {
    pub const PE: u32 = 1 << 0;
    pub const MP: u32 = 1 << 1;
    pub const EM: u32 = 1 << 2;
    pub const TS: u32 = 1 << 3;
    pub const ET: u32 = 1 << 4;
    pub const NE: u32 = 1 << 5;
    pub const WP: u32 = 1 << 16;
    pub const AM: u32 = 1 << 18;
    pub const NW: u32 = 1 << 29;
    pub const CD: u32 = 1 << 30;
    pub const PG: u32 = 1 << 31;
}

/// CR4 bits.
pub mod cr4 {
    pub const VME: u32 = 1 << 0;
    pub const PVI: u32 = 1 << 1;
    pub const TSD: u32 = 1 << 2;
    pub const DE: u32 = 1 << 3;
    pub const PSE: u32 = 1 << 4;
    pub const PGE: u32 = 1 << 7;
    pub const PCE: u32 = 1 << 8;
    pub const OSFXSR: u32 = 1 << 9;
}

/// Attribute bits of a cached segment descriptor (`Segment::attr`), laid out like bytes 5-6 of a
/// descriptor: type (0-3), S (4), DPL (5-6), P (7), AVL (12), D/B (14), G (15).
pub mod attr {
    pub const TYPE_MASK: u16 = 0x000F;
    pub const ACCESSED: u16 = 0x0001;
    /// Data: writable. Code: readable.
    pub const RW: u16 = 0x0002;
    /// Data: expand-down. Code: conforming.
    pub const DC: u16 = 0x0004;
    pub const CODE: u16 = 0x0008;
    pub const S: u16 = 0x0010;
    pub const DPL_SHIFT: u16 = 5;
    pub const DPL_MASK: u16 = 0x0060;
    pub const P: u16 = 0x0080;
    pub const AVL: u16 = 0x1000;
    pub const DB: u16 = 0x4000;
    pub const G: u16 = 0x8000;
    /// What real mode and V86 mode give every data segment: present, DPL 0 (3 in V86), RW data.
    pub const REAL_DATA: u16 = P | S | RW | ACCESSED;
    pub const REAL_CODE: u16 = P | S | CODE | RW | ACCESSED;
}

/// A segment register with its hidden descriptor cache.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    pub attr: u16,
    pub base: u32,
    /// Byte-granular limit (already scaled by G).
    pub limit: u32,
}

impl Segment {
    pub fn real(selector: u16) -> Segment {
        Segment {
            selector,
            attr: attr::REAL_DATA,
            base: (selector as u32) << 4,
            limit: 0xFFFF,
        }
    }
    pub fn dpl(&self) -> u8 {
        ((self.attr & attr::DPL_MASK) >> attr::DPL_SHIFT) as u8
    }
    pub fn present(&self) -> bool {
        self.attr & attr::P != 0
    }
    pub fn is_code(&self) -> bool {
        self.attr & attr::S != 0 && self.attr & attr::CODE != 0
    }
    pub fn big(&self) -> bool {
        self.attr & attr::DB != 0
    }
}

/// GDTR / IDTR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DescTable {
    pub base: u32,
    pub limit: u32,
}

/// MSR numbers that exist on this CPU.
pub mod msr {
    pub const TSC: u32 = 0x10;
    pub const PLATFORM_ID: u32 = 0x17;
    pub const EBL_CR_POWERON: u32 = 0x2A;
    pub const BIOS_UPDT_TRIG: u32 = 0x79;
    pub const BIOS_SIGN_ID: u32 = 0x8B;
    pub const PERFCTR0: u32 = 0xC1;
    pub const PERFCTR1: u32 = 0xC2;
    pub const EVNTSEL0: u32 = 0x186;
    pub const EVNTSEL1: u32 = 0x187;
    pub const DEBUGCTL: u32 = 0x1D9;
    pub const LASTBRANCH_FIRST: u32 = 0x1DB;
    pub const LASTBRANCH_LAST: u32 = 0x1DE;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
}

/// All architectural state.
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct CpuState {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub gpr: [u32; 8],
    pub eip: u32,
    pub eflags: u32,
    /// ES, CS, SS, DS, FS, GS.
    pub seg: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: DescTable,
    pub idtr: DescTable,
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    pub dr: [u32; 8],
    /// The time-stamp counter (as last read, when the machine keeps time by the host).
    pub tsc: u64,
    /// What the guest's WRMSR added to the host clock's count (host time only).
    pub tsc_offset: u64,
    pub sysenter_cs: u32,
    pub sysenter_esp: u32,
    pub sysenter_eip: u32,
    /// Performance counters and event selects (PERFCTR0/1, EVNTSEL0/1): stored, not counting.
    pub perfctr: [u64; 2],
    pub evntsel: [u32; 2],
    /// BIOS_SIGN_ID (microcode revision in the high half; the BIOS writes 0 before CPUID).
    pub bios_sign_id: u64,
    pub debugctl: u32,
    /// Current privilege level (CS.RPL in protected mode, 3 in V86, 0 in real mode).
    pub cpl: u8,
    pub model: CpuModel,
    /// Stopped by HLT until an interrupt arrives.
    pub halted: bool,
    /// Interrupts are inhibited for one instruction (after STI, MOV SS, POP SS).
    pub int_shadow: bool,
    /// NMI being handled (blocks further NMIs until IRET).
    pub nmi_blocked: bool,
    pub fpu: FpuState,
}

impl CpuState {
    /// State after a RESET (Intel SDM vol. 3, table 9-1), for the given model.
    pub fn reset(model: CpuModel) -> CpuState {
        let mut s = CpuState {
            gpr: [0; 8],
            eip: 0xFFF0,
            eflags: flags::RESERVED1,
            seg: [Segment::real(0); 6],
            ldtr: Segment {
                selector: 0,
                attr: attr::P | 0x2,
                base: 0,
                limit: 0xFFFF,
            },
            tr: Segment {
                selector: 0,
                attr: attr::P | 0xB,
                base: 0,
                limit: 0xFFFF,
            },
            gdtr: DescTable {
                base: 0,
                limit: 0xFFFF,
            },
            idtr: DescTable {
                base: 0,
                limit: 0x3FF,
            },
            cr0: 0x6000_0010,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0, 0, 0, 0, 0xFFFF_0FF0, 0x400, 0xFFFF_0FF0, 0x400],
            tsc: 0,
            tsc_offset: 0,
            sysenter_cs: 0,
            sysenter_esp: 0,
            sysenter_eip: 0,
            perfctr: [0; 2],
            evntsel: [0; 2],
            bios_sign_id: 0,
            debugctl: 0,
            cpl: 0,
            model,
            halted: false,
            int_shadow: false,
            nmi_blocked: false,
            fpu: FpuState::default(),
        };
        // CS: selector F000, base FFFF0000 on 386+ (the top 4 GiB alias), F0000 on earlier CPUs.
        s.seg[SegReg::Cs as usize] = Segment {
            selector: 0xF000,
            attr: attr::REAL_CODE,
            base: if model.is_386_plus() {
                0xFFFF_0000
            } else {
                0xF_0000
            },
            limit: 0xFFFF,
        };
        if model.is_386_plus() {
            s.gpr[reg::EDX] = 0x0000_0633; // family 6, model 3, stepping 3 (Pentium II Klamath)
        } else {
            s.cr0 = 0;
        }
        if model == CpuModel::I8086 {
            s.eflags = 0xF002;
        }
        s
    }

    #[inline]
    pub fn protected(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }
    #[inline]
    pub fn v86(&self) -> bool {
        self.eflags & flags::VM != 0
    }
    #[inline]
    pub fn paging(&self) -> bool {
        self.cr0 & cr0::PG != 0
    }
    #[inline]
    pub fn iopl(&self) -> u8 {
        ((self.eflags >> 12) & 3) as u8
    }
    #[inline]
    pub fn code32(&self) -> bool {
        self.seg[SegReg::Cs as usize].big() && self.protected() && !self.v86()
    }
    #[inline]
    pub fn stack32(&self) -> bool {
        self.seg[SegReg::Ss as usize].big() && self.protected() && !self.v86()
    }
    #[inline]
    pub fn cs(&self) -> &Segment {
        &self.seg[SegReg::Cs as usize]
    }
    #[inline]
    pub fn flag(&self, f: u32) -> bool {
        self.eflags & f != 0
    }
    #[inline]
    pub fn set_flag(&mut self, f: u32, on: bool) {
        if on {
            self.eflags |= f
        } else {
            self.eflags &= !f
        }
    }

    // 8/16/32-bit register views.
    #[inline]
    pub fn reg8(&self, r: usize) -> u8 {
        if r < 4 {
            self.gpr[r] as u8
        } else {
            (self.gpr[r - 4] >> 8) as u8
        }
    }
    #[inline]
    pub fn set_reg8(&mut self, r: usize, v: u8) {
        if r < 4 {
            self.gpr[r] = (self.gpr[r] & !0xFF) | v as u32
        } else {
            self.gpr[r - 4] = (self.gpr[r - 4] & !0xFF00) | ((v as u32) << 8)
        }
    }
    #[inline]
    pub fn reg16(&self, r: usize) -> u16 {
        self.gpr[r] as u16
    }
    #[inline]
    pub fn set_reg16(&mut self, r: usize, v: u16) {
        self.gpr[r] = (self.gpr[r] & !0xFFFF) | v as u32
    }
}
