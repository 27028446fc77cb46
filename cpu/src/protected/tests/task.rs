//! Task switches and the I/O permission bitmap.

use super::*;
use crate::interrupt::IntKind;
use crate::state::{cr0, flags};

const B_GPR: [u32; 8] = [0x55, 1, 2, 3, 0x6000, 5, 6, 7];

/// TSS B: ring-0 task at EIP 0x4444 with the LDT.
fn task_b(bus: &mut FlatBus) {
    write_tss32(
        bus,
        TSS_B,
        0x4444,
        0x2 | flags::CF,
        B_GPR,
        [DATA0, CODE0, DATA0, DATA0, 0, 0x14],
        LDT_SEL,
        0,
    );
}

fn busy(bus: &mut FlatBus, sel: u16) -> bool {
    gdt_access(bus, sel) & 2 != 0
}

#[test]
fn jmp_to_tss() {
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    cpu.s.gpr[reg::EAX] = 0xA0A0;
    cpu.s.eip = 0x1111;
    cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true).unwrap();
    assert_eq!(cpu.s.tr.selector, TSSB_SEL);
    assert!(!busy(&mut bus, TSSA_SEL) && busy(&mut bus, TSSB_SEL));
    assert_ne!(cpu.s.cr0 & cr0::TS, 0);
    assert_eq!(
        (cpu.s.eip, cpu.s.gpr, cpu.s.eflags),
        (0x4444, B_GPR, 0x2 | flags::CF)
    );
    assert_eq!(
        (
            sel(&cpu, SegReg::Cs),
            sel(&cpu, SegReg::Ss),
            sel(&cpu, SegReg::Fs)
        ),
        (CODE0, DATA0, 0)
    );
    assert!(!cpu.s.seg[SegReg::Fs as usize].present());
    // GS came from the LDT (entry 2).
    assert_eq!(cpu.s.ldtr.selector, LDT_SEL);
    assert_eq!(cpu.s.seg[SegReg::Gs as usize].limit, 0xFFFF_FFFF);
    // The old task's state is in TSS A; no back link for JMP.
    assert_eq!(bus.read32(TSS_A + 0x20), 0x1111);
    assert_eq!(bus.read32(TSS_A + 0x28), 0xA0A0);
    assert_eq!(bus.read16(TSS_A + 0x4C), CODE0);
    assert_eq!(bus.read16(TSS_B), 0);
    // Jumping to the busy current task faults.
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(gp(TSSB_SEL as u32))
    );
    // And back to A.
    cpu.pm_far_jump(&mut bus, TSSA_SEL, 0, true).unwrap();
    assert_eq!(
        (cpu.s.eip, cpu.s.gpr[reg::EAX], cpu.s.tr.selector),
        (0x1111, 0xA0A0, TSSA_SEL)
    );
    assert!(busy(&mut bus, TSSA_SEL) && !busy(&mut bus, TSSB_SEL));
}

#[test]
fn call_through_task_gate_and_iret_back() {
    let (mut cpu, mut bus) = setup(3);
    task_b(&mut bus);
    cpu.s.eip = 0x2345;
    cpu.pm_far_call(&mut bus, TGATE | 3, 0, true).unwrap();
    assert_eq!(
        (cpu.s.tr.selector, cpu.s.cpl, cpu.s.eip),
        (TSSB_SEL, 0, 0x4444)
    );
    assert!(cpu.s.flag(flags::NT));
    assert_eq!(bus.read16(TSS_B), TSSA_SEL);
    assert!(busy(&mut bus, TSSA_SEL) && busy(&mut bus, TSSB_SEL));
    // The nested task returns.
    cpu.s.eip = 0x4450;
    cpu.pm_iret(&mut bus, true).unwrap();
    assert_eq!(
        (cpu.s.tr.selector, cpu.s.cpl, cpu.s.eip),
        (TSSA_SEL, 3, 0x2345)
    );
    assert_eq!(
        (
            sel(&cpu, SegReg::Cs),
            sel(&cpu, SegReg::Ss),
            cpu.s.gpr[reg::ESP]
        ),
        (CODE3, DATA3, ESP3)
    );
    assert!(busy(&mut bus, TSSA_SEL) && !busy(&mut bus, TSSB_SEL));
    // B's saved image has NT clear and the EIP it returned from.
    assert_eq!(bus.read32(TSS_B + 0x24) & flags::NT, 0);
    assert_eq!(bus.read32(TSS_B + 0x20), 0x4450);
    assert!(!cpu.s.flag(flags::NT));
}

#[test]
fn interrupt_through_task_gate_pushes_error_code() {
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    cpu.pm_interrupt(&mut bus, 0x23, IntKind::Exception, Some(0xE0))
        .unwrap();
    assert_eq!((cpu.s.tr.selector, cpu.s.eip), (TSSB_SEL, 0x4444));
    assert_eq!(cpu.s.gpr[reg::ESP], 0x6000 - 4);
    assert_eq!(bus.read32(0x6000 - 4), 0xE0);
    assert!(cpu.s.flag(flags::NT));
    assert_eq!(bus.read16(TSS_B), TSSA_SEL);
    // Task gate DPL 0 blocks INT n from ring 3.
    let (mut cpu, mut bus) = setup(3);
    task_b(&mut bus);
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x23, IntKind::Software, None),
        Err(gp(0x23 * 8 + 2))
    );
}

#[test]
fn task_switch_faults() {
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    // TSS limit below 0x67.
    set_gdt(&mut bus, TSSB_SEL, seg_desc(TSS_B, 0x60, 0x89, 0));
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(Fault::ts(TSSB_SEL))
    );
    // Not present.
    set_gdt(&mut bus, TSSB_SEL, seg_desc(TSS_B, 0x67, 0x09, 0));
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(Fault::np(TSSB_SEL))
    );
    assert_eq!(cpu.s.tr.selector, TSSA_SEL);
    // A task gate naming a non-TSS.
    set_gdt(&mut bus, TGATE, gate_desc(DATA0, 0, 0xE5, 0));
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TGATE, 0, true),
        Err(gp(DATA0 as u32))
    );
    // IRET with NT whose back link is not a busy TSS.
    set_gdt(&mut bus, TSSB_SEL, seg_desc(TSS_B, 0x67, 0x89, 0));
    bus.write16(TSS_A, TSSB_SEL);
    cpu.s.eflags |= flags::NT;
    assert_eq!(cpu.pm_iret(&mut bus, true), Err(Fault::ts(TSSB_SEL)));
}

#[test]
fn bad_segment_in_new_task_faults_in_new_context() {
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    // CS of the new task is a data segment.
    bus.write32(TSS_B + 0x4C, DATA0 as u32);
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(Fault::ts(DATA0))
    );
    // The switch happened: the fault belongs to task B.
    assert_eq!(
        (cpu.s.tr.selector, cpu.s.eip, cpu.start_eip),
        (TSSB_SEL, 0x4444, 0x4444)
    );
    assert_eq!(cpu.saved_gpr, B_GPR);
    assert_eq!(cpu.saved_flags, 0x2 | flags::CF);
    assert!(busy(&mut bus, TSSB_SEL));
    // SS with the wrong privilege.
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    bus.write32(TSS_B + 0x50, DATA3 as u32);
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(Fault::ts(DATA3 & !3))
    );
    // Bad LDT selector (not an LDT descriptor).
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    bus.write32(TSS_B + 0x60, DATA0 as u32);
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(Fault::ts(DATA0))
    );
    // A not-present data segment → #NP.
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    bus.write32(TSS_B + 0x54, DATA0_NP as u32);
    assert_eq!(
        cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true),
        Err(Fault::np(DATA0_NP))
    );
}

#[test]
fn task_switch_loads_cr3_with_paging() {
    let (mut cpu, mut bus) = setup(0);
    task_b(&mut bus);
    // Two identical page directories of 4 MiB pages mapping the first 16 MiB.
    for pd in [0x50000u32, 0x60000] {
        for k in 0..4u32 {
            bus.write32(pd + 4 * k, (k << 22) | 0x83);
        }
    }
    bus.write32(TSS_B + 0x1C, 0x60000);
    cpu.s.cr4 |= crate::state::cr4::PSE;
    cpu.s.cr3 = 0x50000;
    cpu.s.cr0 |= cr0::PG;
    cpu.flush_tlb();
    cpu.pm_far_jump(&mut bus, TSSB_SEL, 0, true).unwrap();
    assert_eq!(cpu.s.cr3, 0x60000);
    // A's TSS gets A's CR3 only from software; the switch back loads what A's TSS holds.
    bus.write32(TSS_A + 0x1C, 0x50000);
    cpu.pm_far_jump(&mut bus, TSSA_SEL, 0, true).unwrap();
    assert_eq!(cpu.s.cr3, 0x50000);
}

#[test]
fn tss16_switch() {
    let (mut cpu, mut bus) = setup(0);
    bus.write16(TSS16 + 0x0E, 0x0123); // IP
    bus.write16(TSS16 + 0x10, 0x0003); // FLAGS (CF)
    for k in 0..8u32 {
        bus.write16(TSS16 + 0x12 + 2 * k, 0x100 + k as u16);
    }
    for (k, s) in [DATA0, CODE16, DATA0, DATA0].iter().enumerate() {
        bus.write16(TSS16 + 0x22 + 2 * k as u32, *s);
    }
    cpu.pm_far_call(&mut bus, TSS16_SEL, 0, true).unwrap();
    assert_eq!(
        (cpu.s.eip, cpu.s.gpr[reg::EAX], cpu.s.gpr[reg::EDI]),
        (0x123, 0xFFFF_0100, 0xFFFF_0107)
    );
    assert_eq!(sel(&cpu, SegReg::Cs), CODE16);
    assert!(cpu.s.flag(flags::NT) && cpu.s.flag(flags::CF));
    assert_eq!(bus.read16(TSS16), TSSA_SEL);
    assert!(busy(&mut bus, TSS16_SEL));
    cpu.pm_iret(&mut bus, false).unwrap();
    assert_eq!((cpu.s.tr.selector, cpu.s.eip), (TSSA_SEL, 0x1000));
    assert_eq!(bus.read16(TSS16 + 0x0E), 0x0123);
}

#[test]
fn io_permission_bitmap() {
    let (mut cpu, mut bus) = setup(3);
    // Port 0x61 denied; 0x68 denied (second byte of a word access from 0x67).
    bus.write8(TSS_A + 0x68 + 0x0C, 0x02);
    bus.write8(TSS_A + 0x68 + 0x0D, 0x01);
    assert_eq!(cpu.io_allowed(&mut bus, 0x60, 1), Ok(()));
    assert_eq!(cpu.io_allowed(&mut bus, 0x61, 1), Err(Fault::gp0()));
    assert_eq!(cpu.io_allowed(&mut bus, 0x60, 2), Err(Fault::gp0()));
    assert_eq!(cpu.io_allowed(&mut bus, 0x66, 2), Ok(()));
    assert_eq!(cpu.io_allowed(&mut bus, 0x67, 2), Err(Fault::gp0()));
    assert_eq!(cpu.io_allowed(&mut bus, 0x64, 4), Ok(()));
    assert_eq!(cpu.io_allowed(&mut bus, 0xFFFF, 1), Ok(()));
    // CPL <= IOPL: no check.
    cpu.s.eflags |= flags::IOPL;
    assert_eq!(cpu.io_allowed(&mut bus, 0x61, 1), Ok(()));
    // V86 always checks, whatever IOPL.
    cpu.s.eflags |= flags::VM;
    assert_eq!(cpu.io_allowed(&mut bus, 0x61, 1), Err(Fault::gp0()));
    cpu.s.eflags &= !(flags::VM | flags::IOPL);
    // Bitmap beyond the TSS limit.
    bus.write16(TSS_A + 0x66, 0x3000);
    assert_eq!(cpu.io_allowed(&mut bus, 0x60, 1), Err(Fault::gp0()));
    // A 16-bit TSS has no bitmap.
    cpu.s.tr = cache(&mut bus, TSS16_SEL);
    assert_eq!(cpu.io_allowed(&mut bus, 0x60, 1), Err(Fault::gp0()));
}
