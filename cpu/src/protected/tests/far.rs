//! Far JMP, CALL and RETF: direct, through call gates, conforming segments.

use super::*;

#[test]
fn far_jump_direct() {
    let (mut cpu, mut bus) = setup(0);
    cpu.pm_far_jump(&mut bus, CODE0, 0x1234, true).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.eip, cpu.s.cpl),
        (CODE0, 0x1234, 0)
    );
    // 16-bit code segment, 16-bit offset.
    cpu.pm_far_jump(&mut bus, CODE16, 0x1_0010, false).unwrap();
    assert_eq!((sel(&cpu, SegReg::Cs), cpu.s.eip), (CODE16, 0x10));
    assert!(!cpu.s.code32());
    // Offset beyond the limit.
    assert_eq!(
        cpu.pm_far_jump(&mut bus, CODE16, 0x1_0000, true),
        Err(Fault::gp0())
    );
    // RPL > CPL to non-conforming code, data segment, not present, null.
    assert_eq!(
        cpu.pm_far_jump(&mut bus, CODE0 | 3, 0, true),
        Err(gp(CODE0 as u32))
    );
    assert_eq!(
        cpu.pm_far_jump(&mut bus, DATA0, 0, true),
        Err(gp(DATA0 as u32))
    );
    assert_eq!(
        cpu.pm_far_jump(&mut bus, CODE0_NP, 0, true),
        Err(Fault::np(CODE0_NP))
    );
    assert_eq!(cpu.pm_far_jump(&mut bus, 0, 0, true), Err(Fault::gp0()));
    assert_eq!((sel(&cpu, SegReg::Cs), cpu.s.eip), (CODE16, 0x10));
}

#[test]
fn far_jump_privilege() {
    let (mut cpu, mut bus) = setup(3);
    // Non-conforming ring-0 code from ring 3.
    assert_eq!(
        cpu.pm_far_jump(&mut bus, CODE0, 0, true),
        Err(gp(CODE0 as u32))
    );
    // Conforming ring-0 code: CPL stays 3, CS.RPL becomes 3.
    cpu.pm_far_jump(&mut bus, CONF0, 0x42, true).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CONF0 | 3, 3, 0x42)
    );
    // JMP through a call gate never changes privilege: ring-0 non-conforming target → #GP.
    assert_eq!(
        cpu.pm_far_jump(&mut bus, CGATE32 | 3, 0, true),
        Err(gp(CODE0 as u32))
    );
    // Gate DPL 0 < CPL 3.
    assert_eq!(
        cpu.pm_far_jump(&mut bus, CGATE_DPL0, 0, true),
        Err(gp(CGATE_DPL0 as u32))
    );
    // At CPL 0 the jump through the gate works and takes the gate's offset.
    let (mut cpu, mut bus) = setup(0);
    cpu.pm_far_jump(&mut bus, CGATE32, 0xDEAD, true).unwrap();
    assert_eq!((sel(&cpu, SegReg::Cs), cpu.s.eip), (CODE0, 0x5000));
}

#[test]
fn far_call_and_return_same_level() {
    let (mut cpu, mut bus) = setup(0);
    cpu.s.eip = 0x1005;
    cpu.pm_far_call(&mut bus, CODE16, 0x20, true).unwrap();
    assert_eq!(cpu.s.gpr[reg::ESP], 0x8000 - 8);
    assert_eq!(bus.read32(0x7FF8), 0x1005);
    assert_eq!(bus.read32(0x7FFC), CODE0 as u32);
    assert_eq!((sel(&cpu, SegReg::Cs), cpu.s.eip), (CODE16, 0x20));
    // RETF 4 (32-bit) back.
    cpu.pm_far_ret(&mut bus, true, 4).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.eip, cpu.s.gpr[reg::ESP]),
        (CODE0, 0x1005, 0x8004)
    );
    // 16-bit call pushes words.
    cpu.pm_far_call(&mut bus, CODE0, 0x3000, false).unwrap();
    assert_eq!(cpu.s.gpr[reg::ESP], 0x8000);
    assert_eq!(bus.read16(0x8002), CODE0);
    assert_eq!(bus.read16(0x8000), 0x1005);
}

#[test]
fn call_gate_inner_privilege_with_parameters_and_return() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.gpr[reg::ESP] = ESP3 - 8;
    bus.write32(ESP3 - 8, 0xAAAA_1111);
    bus.write32(ESP3 - 4, 0xBBBB_2222);
    cpu.s.eip = 0x2222;
    cpu.pm_far_call(&mut bus, CGATE32 | 3, 0xFFFF_FFFF, true)
        .unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CODE0, 0, 0x5000)
    );
    assert_eq!(sel(&cpu, SegReg::Ss), DATA0);
    let sp = ESP0 - 24;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    let frame: Vec<u32> = (0..6).map(|k| bus.read32(sp + 4 * k)).collect();
    assert_eq!(
        frame,
        vec![
            0x2222,
            CODE3 as u32,
            0xAAAA_1111,
            0xBBBB_2222,
            ESP3 - 8,
            DATA3 as u32
        ]
    );
    // The callee loads a ring-0 data segment into DS; ES keeps the ring-3 one.
    cpu.pm_load_seg(&mut bus, SegReg::Ds, DATA0).unwrap();
    // RETF 8 to ring 3 releases the parameters from both stacks.
    cpu.pm_far_ret(&mut bus, true, 8).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CODE3, 3, 0x2222)
    );
    assert_eq!((sel(&cpu, SegReg::Ss), cpu.s.gpr[reg::ESP]), (DATA3, ESP3));
    assert_eq!(sel(&cpu, SegReg::Ds), 0);
    assert!(!cpu.s.seg[SegReg::Ds as usize].present());
    assert_eq!(sel(&cpu, SegReg::Es), DATA3);
}

#[test]
fn call_gate_16bit_copies_words() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.gpr[reg::ESP] = ESP3 - 2;
    bus.write16(ESP3 - 2, 0x7777);
    cpu.s.eip = 0x1234;
    cpu.pm_far_call(&mut bus, CGATE16 | 3, 0, false).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.cpl, cpu.s.eip),
        (CODE16, 0, 0x6000)
    );
    let sp = ESP0 - 10;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    let frame: Vec<u16> = (0..5).map(|k| bus.read16(sp + 2 * k)).collect();
    assert_eq!(frame, vec![0x1234, CODE3, 0x7777, (ESP3 - 2) as u16, DATA3]);
    cpu.pm_far_ret(&mut bus, false, 2).unwrap();
    assert_eq!(
        (sel(&cpu, SegReg::Cs), cpu.s.eip, cpu.s.gpr[reg::ESP]),
        (CODE3, 0x1234, ESP3)
    );
}

#[test]
fn call_gate_faults_leave_state_intact() {
    let (mut cpu, mut bus) = setup(3);
    let before = cpu.s.clone();
    assert_eq!(
        cpu.pm_far_call(&mut bus, CGATE_DPL0 | 3, 0, true),
        Err(gp(CGATE_DPL0 as u32))
    );
    // Bad ring-0 stacks in the TSS: null → #TS(0); RPL mismatch → #TS(sel); not present → #SS(sel).
    bus.write32(TSS_A + 8, 0);
    assert_eq!(
        cpu.pm_far_call(&mut bus, CGATE32 | 3, 0, true),
        Err(Fault::ts(0))
    );
    bus.write32(TSS_A + 8, DATA3 as u32);
    assert_eq!(
        cpu.pm_far_call(&mut bus, CGATE32 | 3, 0, true),
        Err(Fault::ts(DATA3 & !3))
    );
    bus.write32(TSS_A + 8, DATA0_NP as u32);
    assert_eq!(
        cpu.pm_far_call(&mut bus, CGATE32 | 3, 0, true),
        Err(Fault::ss(DATA0_NP))
    );
    // New stack too small: ESP0 = 8 leaves no room for the frame → #SS(new SS).
    bus.write32(TSS_A + 8, DATA0 as u32);
    set_gdt(&mut bus, DATA0, seg_desc(0, 0xFFFF, 0x92, 0x4));
    bus.write32(TSS_A + 4, 0x10);
    assert_eq!(
        cpu.pm_far_call(&mut bus, CGATE32 | 3, 0, true),
        Err(Fault::ss(DATA0))
    );
    // TSS too short for the ring-0 stack.
    cpu.s.tr.limit = 8;
    assert_eq!(
        cpu.pm_far_call(&mut bus, CGATE32 | 3, 0, true),
        Err(Fault::ts(TSSA_SEL))
    );
    cpu.s.tr = before.tr;
    assert_eq!(cpu.s, before);
}

#[test]
fn far_return_checks() {
    let (mut cpu, mut bus) = setup(3);
    // Return to ring 0 from ring 3: RPL < CPL.
    cpu.s.gpr[reg::ESP] = ESP3 - 8;
    bus.write32(ESP3 - 8, 0x100);
    bus.write32(ESP3 - 4, CODE0 as u32);
    assert_eq!(cpu.pm_far_ret(&mut bus, true, 0), Err(gp(CODE0 as u32)));
    // Outer return with SS.RPL != CS.RPL.
    let (mut cpu, mut bus) = setup(0);
    cpu.s.gpr[reg::ESP] = 0x7000;
    for (k, v) in [0x100, CODE3 as u32, 0x5000, DATA0 as u32]
        .iter()
        .enumerate()
    {
        bus.write32(0x7000 + 4 * k as u32, *v);
    }
    assert_eq!(cpu.pm_far_ret(&mut bus, true, 0), Err(gp(DATA0 as u32)));
    // Null SS.
    bus.write32(0x700C, 0);
    assert_eq!(cpu.pm_far_ret(&mut bus, true, 0), Err(gp(0)));
    // Stack underflow past the limit of a 64 KiB stack → #SS(0).
    set_gdt(&mut bus, DATA0, seg_desc(0, 0xFFFF, 0x92, 0x4));
    cpu.s.seg[SegReg::Ss as usize] = cache(&mut bus, DATA0);
    cpu.s.gpr[reg::ESP] = 0xFFFC;
    assert_eq!(cpu.pm_far_ret(&mut bus, true, 0), Err(Fault::ss(0)));
    assert_eq!((sel(&cpu, SegReg::Cs), cpu.s.cpl), (CODE0, 0));
}
