//! LLDT, LTR, SLDT, STR, LAR, LSL, VERR, VERW, ARPL.

use iced_x86::{Decoder, DecoderOptions, Instruction};

use super::*;
use crate::state::flags;

fn dec(bytes: &[u8]) -> Instruction {
    Decoder::with_ip(32, bytes, 0, DecoderOptions::NONE).decode()
}

const LAR_EAX_ECX: &[u8] = &[0x0F, 0x02, 0xC1];
const LSL_EAX_ECX: &[u8] = &[0x0F, 0x03, 0xC1];
const LSL_AX_CX: &[u8] = &[0x66, 0x0F, 0x03, 0xC1];
const VERR_CX: &[u8] = &[0x0F, 0x00, 0xE1];
const VERW_CX: &[u8] = &[0x0F, 0x00, 0xE9];
const LLDT_AX: &[u8] = &[0x0F, 0x00, 0xD0];
const LTR_AX: &[u8] = &[0x0F, 0x00, 0xD8];
const SLDT_EAX: &[u8] = &[0x0F, 0x00, 0xC0];
const STR_MEM: &[u8] = &[0x0F, 0x00, 0x0D, 0x00, 0x50, 0x00, 0x00]; // str [0x5000]
const ARPL_AX_CX: &[u8] = &[0x63, 0xC8];

fn run(cpu: &mut Cpu, bus: &mut FlatBus, code: &[u8]) -> Result<(), Fault> {
    let i = dec(code);
    cpu.exec_descriptor_op(bus, &i)
}

fn zf(cpu: &Cpu) -> bool {
    cpu.s.flag(flags::ZF)
}

#[test]
fn lar_lsl() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.gpr[reg::ECX] = DATA3 as u32;
    run(&mut cpu, &mut bus, LAR_EAX_ECX).unwrap();
    assert!(zf(&cpu));
    assert_eq!(cpu.s.gpr[reg::EAX], 0x00C0_F200); // limit bits 16-19 read as 0
    run(&mut cpu, &mut bus, LSL_EAX_ECX).unwrap();
    assert_eq!((zf(&cpu), cpu.s.gpr[reg::EAX]), (true, 0xFFFF_FFFF));
    cpu.s.gpr[reg::EAX] = 0x1234_0000;
    run(&mut cpu, &mut bus, LSL_AX_CX).unwrap();
    assert_eq!(cpu.s.gpr[reg::EAX], 0x1234_FFFF);
    // Ring-0 data is invisible at CPL 3: ZF clear, destination untouched.
    cpu.s.gpr[reg::ECX] = DATA0 as u32;
    cpu.s.gpr[reg::EAX] = 7;
    run(&mut cpu, &mut bus, LAR_EAX_ECX).unwrap();
    assert_eq!((zf(&cpu), cpu.s.gpr[reg::EAX]), (false, 7));
    // Conforming code is visible.
    cpu.s.gpr[reg::ECX] = CONF0 as u32;
    run(&mut cpu, &mut bus, LAR_EAX_ECX).unwrap();
    assert!(zf(&cpu));
    // Null and out-of-table selectors.
    for s in [0u32, 0xFFF8, 0x3C] {
        cpu.s.gpr[reg::ECX] = s;
        run(&mut cpu, &mut bus, LAR_EAX_ECX).unwrap();
        assert!(!zf(&cpu));
    }
    // Call gate (DPL 3): LAR yes, LSL no. TSS (DPL 0) invisible at CPL 3.
    cpu.s.gpr[reg::ECX] = CGATE32 as u32 | 3;
    run(&mut cpu, &mut bus, LAR_EAX_ECX).unwrap();
    assert_eq!((zf(&cpu), cpu.s.gpr[reg::EAX]), (true, 0x0000_EC00));
    run(&mut cpu, &mut bus, LSL_EAX_ECX).unwrap();
    assert!(!zf(&cpu));
    let (mut cpu, mut bus) = setup(0);
    cpu.s.gpr[reg::ECX] = TSSB_SEL as u32;
    run(&mut cpu, &mut bus, LSL_EAX_ECX).unwrap();
    assert_eq!((zf(&cpu), cpu.s.gpr[reg::EAX]), (true, 0x67));
    // Interrupt gates are never valid for LAR.
    set_gdt(&mut bus, 0x98, gate_desc(CODE0, 0, 0x8E, 0));
    cpu.s.gdtr.limit += 8;
    cpu.s.gpr[reg::ECX] = 0x98;
    run(&mut cpu, &mut bus, LAR_EAX_ECX).unwrap();
    assert!(!zf(&cpu));
}

#[test]
fn verr_verw() {
    let (mut cpu, mut bus) = setup(3);
    let cases = [
        (DATA3, true, true),
        (DATA0, false, false),
        (CODE3, true, false),
        (CONF0, true, false),
        (0, false, false),
        (TSSB_SEL, false, false),
        (0x0F, true, true), // LDT ring-3 data
    ];
    for (s, r, w) in cases {
        cpu.s.gpr[reg::ECX] = s as u32;
        run(&mut cpu, &mut bus, VERR_CX).unwrap();
        assert_eq!(zf(&cpu), r, "verr {s:#x}");
        run(&mut cpu, &mut bus, VERW_CX).unwrap();
        assert_eq!(zf(&cpu), w, "verw {s:#x}");
    }
    // Execute-only code is not readable.
    let (mut cpu, mut bus) = setup(0);
    cpu.s.gpr[reg::ECX] = XCODE0 as u32;
    run(&mut cpu, &mut bus, VERR_CX).unwrap();
    assert!(!zf(&cpu));
}

#[test]
fn lldt_ltr_sldt_str() {
    let (mut cpu, mut bus) = setup(0);
    cpu.s.gpr[reg::EAX] = 0;
    run(&mut cpu, &mut bus, LLDT_AX).unwrap();
    assert_eq!(cpu.s.ldtr.selector, 0);
    cpu.s.gpr[reg::EAX] = LDT_SEL as u32;
    run(&mut cpu, &mut bus, LLDT_AX).unwrap();
    assert_eq!((cpu.s.ldtr.base, cpu.s.ldtr.limit), (LDT, 0x17));
    cpu.s.gpr[reg::EAX] = 0xFFFF_FFFF;
    run(&mut cpu, &mut bus, SLDT_EAX).unwrap();
    assert_eq!(cpu.s.gpr[reg::EAX], LDT_SEL as u32);
    // Not an LDT; LDT selector with TI set.
    cpu.s.gpr[reg::EAX] = DATA0 as u32;
    assert_eq!(run(&mut cpu, &mut bus, LLDT_AX), Err(gp(DATA0 as u32)));
    cpu.s.gpr[reg::EAX] = LDT_SEL as u32 | 4;
    assert_eq!(
        run(&mut cpu, &mut bus, LLDT_AX),
        Err(gp(LDT_SEL as u32 | 4))
    );

    // LTR marks the TSS busy; a busy TSS cannot be loaded again.
    cpu.s.gpr[reg::EAX] = TSSB_SEL as u32;
    run(&mut cpu, &mut bus, LTR_AX).unwrap();
    assert_eq!(gdt_access(&mut bus, TSSB_SEL), 0x8B);
    assert_eq!(
        (cpu.s.tr.selector, cpu.s.tr.base, cpu.s.tr.limit),
        (TSSB_SEL, TSS_B, 0x67)
    );
    assert_eq!(run(&mut cpu, &mut bus, LTR_AX), Err(gp(TSSB_SEL as u32)));
    cpu.s.gpr[reg::EAX] = 0;
    assert_eq!(run(&mut cpu, &mut bus, LTR_AX), Err(gp(0)));
    set_gdt(&mut bus, TSS16_SEL, seg_desc(TSS16, 0x2B, 0x01, 0));
    cpu.s.gpr[reg::EAX] = TSS16_SEL as u32;
    assert_eq!(run(&mut cpu, &mut bus, LTR_AX), Err(Fault::np(TSS16_SEL)));
    run(&mut cpu, &mut bus, STR_MEM).unwrap();
    assert_eq!(bus.read16(0x5000), TSSB_SEL);

    // Privileged at CPL 3; #UD in real and V86 mode.
    let (mut cpu, mut bus) = setup(3);
    assert_eq!(run(&mut cpu, &mut bus, LLDT_AX), Err(Fault::gp0()));
    assert_eq!(run(&mut cpu, &mut bus, LTR_AX), Err(Fault::gp0()));
    run(&mut cpu, &mut bus, SLDT_EAX).unwrap();
    cpu.s.eflags |= flags::VM;
    assert_eq!(run(&mut cpu, &mut bus, SLDT_EAX), Err(Fault::ud()));
    assert_eq!(run(&mut cpu, &mut bus, ARPL_AX_CX), Err(Fault::ud()));
    cpu.s.eflags &= !flags::VM;
    cpu.s.cr0 &= !1;
    assert_eq!(run(&mut cpu, &mut bus, LAR_EAX_ECX), Err(Fault::ud()));
}

#[test]
fn arpl() {
    let (mut cpu, mut bus) = setup(3);
    cpu.s.gpr[reg::EAX] = 0xABCD_0010;
    cpu.s.gpr[reg::ECX] = 0x0003;
    run(&mut cpu, &mut bus, ARPL_AX_CX).unwrap();
    assert_eq!((cpu.s.gpr[reg::EAX], zf(&cpu)), (0xABCD_0013, true));
    cpu.s.gpr[reg::ECX] = 0x0001;
    run(&mut cpu, &mut bus, ARPL_AX_CX).unwrap();
    assert_eq!((cpu.s.gpr[reg::EAX], zf(&cpu)), (0xABCD_0013, false));
}
