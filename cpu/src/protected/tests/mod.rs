//! Unit tests of the protected-mode mechanisms: GDT/IDT/TSS structures built in a `FlatBus`,
//! the CPU put in protected mode by hand, the entry points called directly.

mod e2e;
mod far;
mod int;
mod seg;
mod sys;
mod task;

use crate::bus::{CpuBus, FlatBus};
use crate::fault::{self, Fault};
use crate::state::{reg, DescTable, SegReg, Segment};
use crate::{Cpu, CpuModel};

use super::descriptor::Desc;

pub const GDT: u32 = 0x1000;
pub const IDT: u32 = 0x2000;
pub const LDT: u32 = 0x3000;
pub const TSS16: u32 = 0x3800;
pub const TSS_A: u32 = 0x10000;
pub const TSS_B: u32 = 0x20000;
/// Ring-0 stack top in TSS A.
pub const ESP0: u32 = 0x9000;
/// Ring-3 stack top used by tests that start at CPL 3.
pub const ESP3: u32 = 0xC000;

pub const CODE0: u16 = 0x08;
pub const DATA0: u16 = 0x10;
pub const CODE3: u16 = 0x1B;
pub const DATA3: u16 = 0x23;
pub const TSSA_SEL: u16 = 0x28;
pub const TSSB_SEL: u16 = 0x30;
pub const CGATE32: u16 = 0x38;
pub const DATA0_NP: u16 = 0x40;
pub const XCODE0: u16 = 0x48;
pub const CONF0: u16 = 0x50;
pub const LDT_SEL: u16 = 0x58;
pub const TGATE: u16 = 0x60;
pub const CODE16: u16 = 0x68;
pub const TSS16_SEL: u16 = 0x70;
pub const DATA2: u16 = 0x78;
pub const CGATE16: u16 = 0x80;
pub const CODE0_NP: u16 = 0x88;
pub const CGATE_DPL0: u16 = 0x90;
pub const GDT_ENTRIES: u32 = 19;

/// A code/data/system descriptor: `access` is byte 5 (P, DPL, S, type), `fl` the G, D/B, L,
/// AVL nibble.
pub fn seg_desc(base: u32, limit: u32, access: u8, fl: u8) -> u64 {
    let lo = (limit & 0xFFFF) | (base << 16);
    let hi = ((base >> 16) & 0xFF)
        | ((access as u32) << 8)
        | (limit & 0xF_0000)
        | ((fl as u32 & 0xF) << 20)
        | (base & 0xFF00_0000);
    ((hi as u64) << 32) | lo as u64
}

/// A gate descriptor.
pub fn gate_desc(sel: u16, off: u32, access: u8, count: u8) -> u64 {
    let lo = (off & 0xFFFF) | ((sel as u32) << 16);
    let hi = (off & 0xFFFF_0000) | ((access as u32) << 8) | (count as u32 & 0x1F);
    ((hi as u64) << 32) | lo as u64
}

pub fn put64(bus: &mut FlatBus, addr: u32, v: u64) {
    bus.write32(addr, v as u32);
    bus.write32(addr + 4, (v >> 32) as u32);
}

pub fn set_gdt(bus: &mut FlatBus, sel: u16, v: u64) {
    put64(bus, GDT + (sel as u32 & !7), v);
}

pub fn set_idt(bus: &mut FlatBus, vector: u8, v: u64) {
    put64(bus, IDT + vector as u32 * 8, v);
}

/// Byte 5 (access byte) of a GDT entry.
pub fn gdt_access(bus: &mut FlatBus, sel: u16) -> u8 {
    bus.read8(GDT + (sel as u32 & !7) + 5)
}

/// The descriptor cache a selector of the test GDT/LDT would load.
pub fn cache(bus: &mut FlatBus, sel: u16) -> Segment {
    let base = if sel & 4 != 0 { LDT } else { GDT };
    let a = base + (sel as u32 & !7);
    Desc {
        lo: bus.read32(a),
        hi: bus.read32(a + 4),
        addr: a,
    }
    .to_segment(sel)
}

/// Write a 32-bit TSS: EIP, EFLAGS, GPRs, ES..GS selectors, LDT, CR3, ring-0 stack, I/O map
/// base (0x68).
#[allow(clippy::too_many_arguments)]
pub fn write_tss32(
    bus: &mut FlatBus,
    base: u32,
    eip: u32,
    eflags: u32,
    gpr: [u32; 8],
    segs: [u16; 6],
    ldt: u16,
    cr3: u32,
) {
    bus.write32(base + 0x1C, cr3);
    bus.write32(base + 0x20, eip);
    bus.write32(base + 0x24, eflags);
    for (k, v) in gpr.iter().enumerate() {
        bus.write32(base + 0x28 + 4 * k as u32, *v);
    }
    for (k, v) in segs.iter().enumerate() {
        bus.write32(base + 0x48 + 4 * k as u32, *v as u32);
    }
    bus.write32(base + 0x60, ldt as u32);
    bus.write16(base + 0x66, 0x68);
}

/// A machine in protected mode at privilege `cpl` (0 or 3) with the test GDT, IDT, LDT and
/// TSS A as the current task (busy).
pub fn setup(cpl: u8) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(16 << 20);
    let mut cpu = Cpu::new(CpuModel::Pentium2);
    let flat = 0xF_FFFF;
    let entries: [(u16, u64); GDT_ENTRIES as usize - 1] = [
        (CODE0, seg_desc(0, flat, 0x9A, 0xC)),
        (DATA0, seg_desc(0, flat, 0x92, 0xC)),
        (CODE3, seg_desc(0, flat, 0xFA, 0xC)),
        (DATA3, seg_desc(0, flat, 0xF2, 0xC)),
        (TSSA_SEL, seg_desc(TSS_A, 0x68 + 0x2000, 0x8B, 0)),
        (TSSB_SEL, seg_desc(TSS_B, 0x67, 0x89, 0)),
        (CGATE32, gate_desc(CODE0, 0x5000, 0xEC, 2)),
        (DATA0_NP, seg_desc(0, flat, 0x12, 0xC)),
        (XCODE0, seg_desc(0, flat, 0x98, 0xC)),
        (CONF0, seg_desc(0, flat, 0x9E, 0xC)),
        (LDT_SEL, seg_desc(LDT, 0x17, 0x82, 0)),
        (TGATE, gate_desc(TSSB_SEL, 0, 0xE5, 0)),
        (CODE16, seg_desc(0x40000, 0xFFFF, 0x9A, 0)),
        (TSS16_SEL, seg_desc(TSS16, 0x2B, 0x81, 0)),
        (DATA2, seg_desc(0, flat, 0xD2, 0xC)),
        (CGATE16, gate_desc(CODE16, 0x6000, 0xE4, 1)),
        (CODE0_NP, seg_desc(0, flat, 0x1A, 0xC)),
        (CGATE_DPL0, gate_desc(CODE0, 0x5000, 0x8C, 0)),
    ];
    for (sel, d) in entries {
        set_gdt(&mut bus, sel, d);
    }
    // LDT: entry 1 ring-3 data at 1 MiB, entry 2 ring-0 data.
    put64(&mut bus, LDT + 8, seg_desc(0x10_0000, 0xFFFF, 0xF2, 0x4));
    put64(&mut bus, LDT + 16, seg_desc(0, flat, 0x92, 0xC));
    // IDT.
    set_idt(&mut bus, 0x0D, gate_desc(CODE0, 0x7300, 0x8E, 0));
    set_idt(&mut bus, 0x20, gate_desc(CODE0, 0x7000, 0x8E, 0));
    set_idt(&mut bus, 0x21, gate_desc(CODE0, 0x7100, 0xEF, 0));
    set_idt(&mut bus, 0x22, gate_desc(CODE0, 0x7000, 0x0E, 0));
    set_idt(&mut bus, 0x23, gate_desc(TSSB_SEL, 0, 0x85, 0));
    set_idt(&mut bus, 0x24, gate_desc(CODE16, 0x0100, 0xE6, 0));
    set_idt(&mut bus, 0x80, gate_desc(CODE0, 0x7200, 0xEE, 0));
    // TSS A: ring-0 stack, I/O bitmap at 0x68 (all ports allowed, terminated by 0xFF).
    bus.write32(TSS_A + 4, ESP0);
    bus.write32(TSS_A + 8, DATA0 as u32);
    bus.write16(TSS_A + 0x66, 0x68);
    bus.write8(TSS_A + 0x68 + 0x2000, 0xFF);

    cpu.s.cr0 |= 1;
    cpu.s.gdtr = DescTable {
        base: GDT,
        limit: GDT_ENTRIES * 8 - 1,
    };
    cpu.s.idtr = DescTable {
        base: IDT,
        limit: 0x7FF,
    };
    cpu.s.ldtr = cache(&mut bus, LDT_SEL);
    cpu.s.tr = cache(&mut bus, TSSA_SEL);
    let (cs, ds, esp) = if cpl == 3 {
        (CODE3, DATA3, ESP3)
    } else {
        (CODE0, DATA0, 0x8000)
    };
    cpu.s.seg[SegReg::Cs as usize] = cache(&mut bus, cs);
    for r in [SegReg::Ss, SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        cpu.s.seg[r as usize] = cache(&mut bus, ds);
    }
    cpu.s.cpl = cpl;
    cpu.s.gpr[reg::ESP] = esp;
    cpu.s.eip = 0x1000;
    cpu.s.eflags = 0x202;
    (cpu, bus)
}

pub fn gp(e: u32) -> Fault {
    Fault::with_error(fault::GP, e)
}

pub fn sel(cpu: &Cpu, r: SegReg) -> u16 {
    cpu.s.seg[r as usize].selector
}
