//! IDT delivery, IRET, and V86 entry/exit.

use super::*;
use crate::interrupt::IntKind;
use crate::state::flags;

#[test]
fn ring3_to_ring0_and_iret_back() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.eip = 0x1234;
    cpu.s.eflags = 0x202 | flags::TF | flags::CF;
    cpu.pm_interrupt(&mut bus, 0x80, IntKind::Software, None)
        .unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CODE0, 0, 0x7200)
    );
    assert_eq!(sel(&cpu, SegReg::Ss), DATA0);
    let sp = ESP0 - 20;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    let frame: Vec<u32> = (0..5).map(|k| bus.read32(sp + 4 * k)).collect();
    assert_eq!(
        frame,
        vec![
            0x1234,
            CODE3 as u32,
            0x202 | flags::TF | flags::CF,
            ESP3,
            DATA3 as u32
        ]
    );
    // Interrupt gate: IF and TF cleared.
    assert!(!cpu.s.flag(flags::IF) && !cpu.s.flag(flags::TF) && cpu.s.flag(flags::CF));
    cpu.s.eflags &= !flags::CF;
    cpu.pm_iret(&mut bus, true).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CODE3, 3, 0x1234)
    );
    assert_eq!((sel(&cpu, SegReg::Ss), cpu.s.gpr[reg::ESP]), (DATA3, ESP3));
    assert_eq!(cpu.s.eflags, 0x202 | flags::TF | flags::CF);
    assert_eq!(sel(&cpu, SegReg::Ds), DATA3);
}

#[test]
fn iret_at_cpl3_cannot_change_iopl_or_if() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.gpr[reg::ESP] = ESP3 - 12;
    bus.write32(ESP3 - 12, 0x40);
    bus.write32(ESP3 - 8, CODE3 as u32);
    bus.write32(ESP3 - 4, flags::IOPL | 2 | flags::CF);
    cpu.pm_iret(&mut bus, true).unwrap();
    assert_eq!(cpu.s.eflags, 0x202 | flags::CF);
    assert_eq!((cpu.s.eip, cpu.s.gpr[reg::ESP]), (0x40, ESP3));
}

#[test]
fn trap_gate_same_privilege_with_error_code() {
    let (mut cpu, mut bus) = setup(0);
    cpu.s.eip = 0x99;
    cpu.pm_interrupt(&mut bus, 0x21, IntKind::Exception, Some(0x1234))
        .unwrap();
    assert_eq!(cpu.s.eip, 0x7100);
    assert!(cpu.s.flag(flags::IF));
    assert_eq!(cpu.s.gpr[reg::ESP], 0x8000 - 16);
    let frame: Vec<u32> = (0..4).map(|k| bus.read32(0x8000 - 16 + 4 * k)).collect();
    assert_eq!(frame, vec![0x1234, 0x99, CODE0 as u32, 0x202]);
}

#[test]
fn gate_16bit_pushes_words() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.eip = 0x5678;
    cpu.pm_interrupt(&mut bus, 0x24, IntKind::Software, None)
        .unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.eip, cpu.s.cpl),
        (CODE16, 0x100, 0)
    );
    let sp = ESP0 - 10;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    let frame: Vec<u16> = (0..5).map(|k| bus.read16(sp + 2 * k)).collect();
    assert_eq!(frame, vec![0x5678, CODE3, 0x202, ESP3 as u16, DATA3]);
    cpu.pm_iret(&mut bus, false).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.eip, cpu.s.gpr[reg::ESP]),
        (CODE3, 0x5678, ESP3)
    );
}

#[test]
fn delivery_faults() {
    let (mut cpu, mut bus) = setup(3);
    let before = cpu.s.clone();
    // Software INT through a DPL-0 gate from ring 3; external interrupts skip the check.
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x20, IntKind::Software, None),
        Err(gp(0x20 * 8 + 2))
    );
    // Not-present gate (EXT set for an external interrupt).
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x22, IntKind::External, None),
        Err(Fault::np(0x22 * 8 + 3))
    );
    // Beyond the IDT limit.
    cpu.s.idtr.limit = 0x1FF;
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x40, IntKind::Software, None),
        Err(gp(0x202))
    );
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x40, IntKind::Exception, None),
        Err(gp(0x203))
    );
    cpu.s.idtr.limit = 0x7FF;
    // Empty IDT slot (type 0).
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x30, IntKind::External, None),
        Err(gp(0x30 * 8 + 3))
    );
    // Bad ring-0 stack in the TSS: #TS with EXT.
    bus.write32(TSS_A + 8, DATA3 as u32);
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x20, IntKind::External, None),
        Err(Fault::ts(0x21))
    );
    bus.write32(TSS_A + 8, DATA0 as u32);
    // Gate pointing to a data segment.
    set_idt(&mut bus, 0x25, gate_desc(DATA0, 0, 0xEE, 0));
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x25, IntKind::Software, None),
        Err(gp(DATA0 as u32))
    );
    assert_eq!(cpu.s, before);
    cpu.pm_interrupt(&mut bus, 0x20, IntKind::External, None)
        .unwrap();
    assert_eq!(cpu.s.cpl, 0);
}

#[test]
fn v86_entry_by_iret_and_exit_by_interrupt() {
    let (mut cpu, mut bus) = setup(0);
    let frame = [
        0x0100,
        0x2000,
        flags::VM | flags::IF | 2,
        0xFFF0,
        0x3000,
        0x4000,
        0x5000,
        0x6000,
        0x7000,
    ];
    let sp = 0x8000 - 36;
    for (k, v) in frame.iter().enumerate() {
        bus.write32(sp + 4 * k as u32, *v);
    }
    cpu.s.gpr[reg::ESP] = sp;
    cpu.pm_iret(&mut bus, true).unwrap();
    assert!(cpu.s.v86());
    assert_eq!(cpu.s.cpl, 3);
    assert_eq!(
        (
            sel(&cpu, SegReg::Cs),
            cpu.s.seg[SegReg::Cs as usize].base,
            cpu.s.eip
        ),
        (0x2000, 0x20000, 0x100)
    );
    assert_eq!(
        (
            sel(&cpu, SegReg::Ss),
            cpu.s.seg[SegReg::Ss as usize].base,
            cpu.s.gpr[reg::ESP]
        ),
        (0x3000, 0x30000, 0xFFF0)
    );
    let got: Vec<u16> = [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs]
        .iter()
        .map(|r| sel(&cpu, *r))
        .collect();
    assert_eq!(got, vec![0x4000, 0x5000, 0x6000, 0x7000]);
    assert_eq!(cpu.s.seg[SegReg::Gs as usize].base, 0x70000);
    // V86 code runs; IRET with IOPL 0 faults #GP(0).
    cpu.s.eip = 0x105;
    assert_eq!(cpu.pm_iret(&mut bus, false), Err(Fault::gp0()));
    // The #GP goes to ring 0 with the V86 segments on the stack.
    cpu.pm_interrupt(&mut bus, 0x0D, IntKind::Exception, Some(0))
        .unwrap();
    assert!(!cpu.s.v86());
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CODE0, 0, 0x7300)
    );
    let sp = ESP0 - 40;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    let got: Vec<u32> = (0..10).map(|k| bus.read32(sp + 4 * k)).collect();
    assert_eq!(
        got,
        vec![
            0,
            0x105,
            0x2000,
            flags::VM | flags::IF | 2,
            0xFFF0,
            0x3000,
            0x4000,
            0x5000,
            0x6000,
            0x7000
        ]
    );
    for r in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
        assert_eq!(sel(&cpu, r), 0);
        assert!(!cpu.s.seg[r as usize].present());
    }
    // The monitor drops the error code and returns to V86 mode.
    cpu.s.gpr[reg::ESP] += 4;
    cpu.pm_iret(&mut bus, true).unwrap();
    assert!(cpu.s.v86());
    assert_eq!(
        (cpu.s.eip, sel(&cpu, SegReg::Ds), cpu.s.gpr[reg::ESP]),
        (0x105, 0x5000, 0xFFF0)
    );
}

#[test]
fn v86_with_iopl3() {
    let (mut cpu, mut bus) = setup(0);
    let frame = [
        0x0100,
        0x2000,
        flags::VM | flags::IOPL | 2,
        0x0100,
        0x3000,
        0,
        0,
        0,
        0,
    ];
    let sp = 0x8000 - 36;
    for (k, v) in frame.iter().enumerate() {
        bus.write32(sp + 4 * k as u32, *v);
    }
    cpu.s.gpr[reg::ESP] = sp;
    cpu.pm_iret(&mut bus, true).unwrap();
    // INT n goes to the IDT (ring 0), not the IVT.
    cpu.pm_interrupt(&mut bus, 0x80, IntKind::Software, None)
        .unwrap();
    assert_eq!((cpu.s.cpl, cpu.s.eip, cpu.s.v86()), (0, 0x7200, false));
    cpu.pm_iret(&mut bus, true).unwrap();
    assert!(cpu.s.v86());
    // IRET in V86 with IOPL 3 behaves like real mode: 16-bit frame IP, CS, FLAGS.
    cpu.s.gpr[reg::ESP] = 0xF0;
    bus.write16(0x30000 + 0xF0, 0x0200);
    bus.write16(0x30000 + 0xF2, 0x2100);
    bus.write16(0x30000 + 0xF4, (flags::CF | flags::IF) as u16 | 2);
    cpu.pm_iret(&mut bus, false).unwrap();
    assert_eq!(
        (
            cpu.s.eip,
            sel(&cpu, SegReg::Cs),
            cpu.s.seg[SegReg::Cs as usize].base
        ),
        (0x200, 0x2100, 0x21000)
    );
    assert_eq!(
        cpu.s.eflags,
        flags::VM | flags::IOPL | flags::CF | flags::IF | 2
    );
    assert_eq!(cpu.s.gpr[reg::ESP], 0xF6);
}

#[test]
fn outer_iret_nulls_inaccessible_data_segments() {
    let (mut cpu, mut bus) = setup(0);
    cpu.pm_load_seg(&mut bus, SegReg::Fs, CONF0).unwrap();
    cpu.pm_load_seg(&mut bus, SegReg::Gs, DATA0).unwrap();
    cpu.pm_load_seg(&mut bus, SegReg::Es, DATA3).unwrap();
    let sp = 0x8000 - 20;
    for (k, v) in [0x10, CODE3 as u32, 0x202, ESP3, DATA3 as u32]
        .iter()
        .enumerate()
    {
        bus.write32(sp + 4 * k as u32, *v);
    }
    cpu.s.gpr[reg::ESP] = sp;
    cpu.pm_iret(&mut bus, true).unwrap();
    assert_eq!(cpu.s.cpl, 3);
    // Conforming code stays, ring-0 data goes, ring-3 data stays.
    assert_eq!(
        (
            sel(&cpu, SegReg::Fs),
            sel(&cpu, SegReg::Gs),
            sel(&cpu, SegReg::Es)
        ),
        (CONF0, 0, DATA3)
    );
    assert_eq!(sel(&cpu, SegReg::Ds), 0);
}

#[test]
fn same_level_delivery_faults_carry_ext() {
    let (mut cpu, mut bus) = setup(0);
    // Gate to a not-present code segment.
    set_idt(&mut bus, 0x26, gate_desc(CODE0_NP, 0, 0x8E, 0));
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x26, IntKind::External, None),
        Err(Fault::np(CODE0_NP | 1))
    );
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x26, IntKind::Software, None),
        Err(Fault::np(CODE0_NP))
    );
    // Gate offset beyond the code segment limit.
    set_idt(&mut bus, 0x27, gate_desc(CODE16, 0x1_0000, 0x8E, 0));
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x27, IntKind::External, None),
        Err(gp(1))
    );
    // No room on the current (64 KiB) stack: #SS(EXT), nothing changed.
    set_gdt(&mut bus, DATA0, seg_desc(0, 0xFFFF, 0x92, 0x4));
    cpu.s.seg[SegReg::Ss as usize] = cache(&mut bus, DATA0);
    cpu.s.gpr[reg::ESP] = 8;
    let before = cpu.s.clone();
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x20, IntKind::External, None),
        Err(Fault::ss(1))
    );
    assert_eq!(
        cpu.pm_interrupt(&mut bus, 0x0D, IntKind::Exception, Some(0)),
        Err(Fault::ss(1))
    );
    assert_eq!(cpu.s, before);
}
