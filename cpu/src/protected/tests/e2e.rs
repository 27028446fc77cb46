//! End-to-end: guest code run by `Cpu::step` through the interpreter into the protected-mode
//! mechanisms (INT/IRET, faults delivered through the IDT, task switches, the I/O bitmap).

use super::*;
use crate::fault::StepEvent;
use crate::state::flags;

const USER_CODE: u32 = 0x20_0000;

fn load(bus: &mut FlatBus, addr: u32, code: &[u8]) {
    for (k, b) in code.iter().enumerate() {
        bus.write8(addr + k as u32, *b);
    }
}

fn steps(cpu: &mut Cpu, bus: &mut FlatBus, n: usize) {
    for _ in 0..n {
        assert_eq!(cpu.step(bus), StepEvent::Executed);
    }
}

#[test]
fn syscall_by_int_and_iret() {
    let (mut cpu, mut bus) = setup(3);
    load(&mut bus, USER_CODE, &[0xCD, 0x80, 0x89, 0xC3, 0xEB, 0xFE]); // int 0x80; mov ebx,eax; jmp $
    load(&mut bus, 0x7200, &[0xB8, 0x42, 0, 0, 0, 0xCF]); // mov eax,0x42; iretd
    cpu.s.eip = USER_CODE;
    steps(&mut cpu, &mut bus, 1);
    assert_eq!(
        (cpu.s.cpl, cpu.s.eip, cpu.s.gpr[reg::ESP]),
        (0, 0x7200, ESP0 - 20)
    );
    steps(&mut cpu, &mut bus, 3);
    assert_eq!(
        (cpu.s.cpl, cpu.s.eip, cpu.s.gpr[reg::EBX]),
        (3, USER_CODE + 4, 0x42)
    );
    assert_eq!((sel(&cpu, SegReg::Ss), cpu.s.gpr[reg::ESP]), (DATA3, ESP3));
}

#[test]
fn protection_fault_reaches_ring0_handler_with_error_code() {
    let (mut cpu, mut bus) = setup(3);
    // mov ax,0x10; mov ds,ax
    load(&mut bus, USER_CODE, &[0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8]);
    cpu.s.eip = USER_CODE;
    steps(&mut cpu, &mut bus, 2);
    assert_eq!((cpu.s.cpl, cpu.s.eip), (0, 0x7300));
    let sp = ESP0 - 24;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    let frame: Vec<u32> = (0..6).map(|k| bus.read32(sp + 4 * k)).collect();
    assert_eq!(
        frame,
        vec![
            DATA0 as u32,
            USER_CODE + 4,
            CODE3 as u32,
            0x202,
            ESP3,
            DATA3 as u32
        ]
    );
    assert_eq!(sel(&cpu, SegReg::Ds), DATA3);
}

#[test]
fn io_bitmap_denial_faults() {
    let (mut cpu, mut bus) = setup(3);
    bus.write8(TSS_A + 0x68 + 0x0C, 0x02); // port 0x61
                                           // in al,0x60; in al,0x61
    load(&mut bus, USER_CODE, &[0xE4, 0x60, 0xE4, 0x61]);
    cpu.s.eip = USER_CODE;
    steps(&mut cpu, &mut bus, 1);
    assert_eq!(cpu.s.cpl, 3);
    steps(&mut cpu, &mut bus, 1);
    assert_eq!((cpu.s.cpl, cpu.s.eip), (0, 0x7300));
    assert_eq!(bus.read32(ESP0 - 20), USER_CODE + 2);
}

#[test]
fn task_call_and_return_by_iret() {
    let (mut cpu, mut bus) = setup(0);
    write_tss32(
        &mut bus,
        TSS_B,
        0x4444,
        2,
        [0x77, 0, 0, 0, 0x6000, 0, 0, 0],
        [DATA0, CODE0, DATA0, DATA0, DATA0, DATA0],
        0,
        0,
    );
    // call far 0x30:0; mov ebx,eax
    load(
        &mut bus,
        USER_CODE,
        &[0x9A, 0, 0, 0, 0, 0x30, 0x00, 0x89, 0xC3],
    );
    load(&mut bus, 0x4444, &[0xB8, 0x99, 0, 0, 0, 0xCF]); // mov eax,0x99; iretd
    cpu.s.eip = USER_CODE;
    cpu.s.gpr[reg::EAX] = 0x11;
    steps(&mut cpu, &mut bus, 1);
    assert_eq!(
        (cpu.s.tr.selector, cpu.s.eip, cpu.s.gpr[reg::EAX]),
        (TSSB_SEL, 0x4444, 0x77)
    );
    assert!(cpu.s.flag(flags::NT));
    steps(&mut cpu, &mut bus, 2);
    assert_eq!(
        (cpu.s.tr.selector, cpu.s.eip, cpu.s.gpr[reg::EAX]),
        (TSSA_SEL, USER_CODE + 7, 0x11)
    );
    steps(&mut cpu, &mut bus, 1);
    assert_eq!(cpu.s.gpr[reg::EBX], 0x11);
    // Task B's saved EAX.
    assert_eq!(bus.read32(TSS_B + 0x28), 0x99);
}

#[test]
fn v86_int_with_iopl0_goes_to_monitor() {
    let (mut cpu, mut bus) = setup(0);
    // V86 code at 0x2000:0x0100: int 0x21.
    load(&mut bus, 0x20100, &[0xCD, 0x21]);
    let frame = [
        0x0100,
        0x2000,
        flags::VM | flags::IF | 2,
        0xFFF0,
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
    load(&mut bus, USER_CODE, &[0xCF]); // iretd
    cpu.s.eip = USER_CODE;
    steps(&mut cpu, &mut bus, 1);
    assert!(cpu.s.v86());
    steps(&mut cpu, &mut bus, 1);
    // #GP(0) to the ring-0 handler, with the V86 frame.
    assert_eq!((cpu.s.v86(), cpu.s.cpl, cpu.s.eip), (false, 0, 0x7300));
    let sp = ESP0 - 40;
    assert_eq!(cpu.s.gpr[reg::ESP], sp);
    assert_eq!(bus.read32(sp), 0);
    assert_eq!(bus.read32(sp + 4), 0x100);
    assert_eq!(bus.read32(sp + 8), 0x2000);
}
