//! Smoke tests: small real-mode and 32-bit programs assembled with iced's code_asm, run on the
//! interpreter over a flat bus.

use iced_x86::code_asm::*;
use ironbox_cpu::state::attr;
use ironbox_cpu::{Cpu, CpuModel, FlatBus, Segment, StepEvent};

/// 16-bit code assembled at 0x1000, followed by HLT, on a 1 MiB flat bus.
fn load16(build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> FlatBus {
    let mut a = CodeAssembler::new(16).unwrap();
    build(&mut a).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x1000).unwrap();
    let mut bus = FlatBus::new(1 << 20);
    bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
    bus
}

/// A real-mode CPU about to run the code of `load16` (SP 0x8000).
fn real_mode_cpu() -> Cpu {
    let mut cpu = Cpu::new(CpuModel::Pentium2);
    cpu.s.seg[1] = Segment {
        selector: 0,
        attr: attr::REAL_CODE,
        base: 0,
        limit: 0xFFFF,
    };
    cpu.s.eip = 0x1000;
    cpu.s.gpr[4] = 0x8000;
    cpu
}

/// Assemble 16-bit code at 0x1000, run it in real mode until HLT, return the CPU and bus.
fn run16(build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> (Cpu, FlatBus) {
    let mut bus = load16(build);
    let mut cpu = real_mode_cpu();
    for _ in 0..100_000 {
        if cpu.step(&mut bus) == StepEvent::Halted || cpu.s.halted {
            return (cpu, bus);
        }
    }
    panic!("did not halt; eip={:x}", cpu.s.eip);
}

#[test]
fn arithmetic_and_flags() {
    let (cpu, _) = run16(|a| {
        a.mov(ax, 0x7fffu32)?;
        a.add(ax, 1u32)?;
        a.pushf()?;
        a.pop(bx)?;
        a.mov(cx, 10u32)?;
        a.mov(dx, 0u32)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.add(dx, cx)?;
        a.loop_(l)?;
        Ok(())
    });
    assert_eq!(cpu.s.gpr[0] & 0xFFFF, 0x8000);
    assert_eq!(
        cpu.s.gpr[3] & 0x0891,
        0x0890,
        "OF, SF, AF set, CF clear: {:x}",
        cpu.s.gpr[3]
    );
    assert_eq!(cpu.s.gpr[2] & 0xFFFF, 55);
}

#[test]
fn rep_movsb_and_string_compare() {
    let (cpu, bus) = run16(|a| {
        a.cld()?;
        a.mov(si, 0x2000u32)?;
        a.mov(di, 0x3000u32)?;
        a.mov(cx, 600u32)?;
        a.rep().movsb()?;
        a.mov(si, 0x2000u32)?;
        a.mov(di, 0x3000u32)?;
        a.mov(cx, 600u32)?;
        a.repe().cmpsb()?;
        Ok(())
    });
    assert_eq!(cpu.s.gpr[1] & 0xFFFF, 0);
    assert_eq!(cpu.s.gpr[6] & 0xFFFF, 0x2000 + 600);
    assert_eq!(
        &bus.mem[0x3000..0x3000 + 600],
        &bus.mem[0x2000..0x2000 + 600]
    );
}

#[test]
fn call_ret_and_divide() {
    let (cpu, _) = run16(|a| {
        let mut f = a.create_label();
        let mut end = a.create_label();
        a.mov(ax, 1000u32)?;
        a.call(f)?;
        a.jmp(end)?;
        a.set_label(&mut f)?;
        a.mov(dx, 0u32)?;
        a.mov(bx, 7u32)?;
        a.div(bx)?;
        a.ret()?;
        a.set_label(&mut end)?;
        a.nop()?;
        Ok(())
    });
    assert_eq!(cpu.s.gpr[0] & 0xFFFF, 142);
    assert_eq!(cpu.s.gpr[2] & 0xFFFF, 6);
    assert_eq!(cpu.s.gpr[4] & 0xFFFF, 0x8000);
}

#[test]
fn divide_by_zero_vectors_through_ivt() {
    // IVT entry 0 -> 0000:0500, where a HLT sits.
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(bl, 0u32).unwrap();
    a.div(bl).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x1000).unwrap();
    let mut bus = FlatBus::new(1 << 20);
    bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
    bus.mem[0] = 0x00;
    bus.mem[1] = 0x05;
    bus.mem[0x500] = 0xF4;
    let mut cpu = Cpu::new(CpuModel::Pentium2);
    cpu.s.seg[1] = Segment {
        selector: 0,
        attr: attr::REAL_CODE,
        base: 0,
        limit: 0xFFFF,
    };
    cpu.s.eip = 0x1000;
    cpu.s.gpr[4] = 0x8000;
    for _ in 0..10 {
        cpu.step(&mut bus);
    }
    assert!(cpu.s.halted);
    assert_eq!(cpu.s.eip, 0x501);
    // Pushed IP is the faulting DIV (2 bytes after the MOV at 0x1000).
    assert_eq!(
        u16::from_le_bytes([bus.mem[0x7FFA], bus.mem[0x7FFB]]),
        0x1002
    );
}

/// `Cpu::run` (block execution) and `Cpu::step` (one instruction at a time) reach the same
/// state with the same instruction count, including through a self-modifying store.
#[test]
fn run_blocks_match_single_steps() {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut top = a.create_label();
    let mut patch = a.create_label();
    a.mov(cx, 300u32).unwrap();
    a.xor(ax, ax).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(ax, cx).unwrap();
    a.rol(ax, 3u32).unwrap();
    a.set_label(&mut patch).unwrap();
    a.xor(ax, 0x1234u32).unwrap(); // its immediate is rewritten below
    a.mov(word_ptr(0x2000), ax).unwrap();
    a.mov(bx, word_ptr(0x2000)).unwrap();
    a.mov(word_ptr(0x1000 + 10), bx).unwrap(); // patch our own code
    a.loop_(top).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x1000).unwrap();
    let setup = || {
        let mut bus = FlatBus::new(1 << 20);
        bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        cpu.s.seg[1] = Segment {
            selector: 0,
            attr: attr::REAL_CODE,
            base: 0,
            limit: 0xFFFF,
        };
        cpu.s.eip = 0x1000;
        cpu.s.gpr[4] = 0x8000;
        (cpu, bus)
    };
    let (mut c1, mut b1) = setup();
    while !c1.s.halted {
        c1.step(&mut b1);
    }
    let (mut c2, mut b2) = setup();
    let mut total = 0;
    loop {
        let (exit, n) = c2.run(&mut b2, 7);
        total += n;
        if exit == ironbox_cpu::RunExit::Halted || c2.s.halted {
            break;
        }
    }
    assert_eq!(c1.s, c2.s);
    assert_eq!(c1.instret, c2.instret);
    assert_eq!(b1.mem, b2.mem);
    assert!(total >= c2.instret);
}

/// DR0 execute breakpoint (a fault before the instruction) and DR1 write breakpoint (a trap
/// after it), both reported in DR6; the #DB handler at 0000:0600 logs IP and DR6 to 0x3000+
/// and disarms the breakpoint it hit.
#[test]
fn debug_register_breakpoints() {
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(eax, 0x1000u32 + 0x40).unwrap(); // the breakpointed instruction's address
    a.mov(dr0, eax).unwrap();
    a.mov(eax, 0x2000u32).unwrap();
    a.mov(dr1, eax).unwrap();
    a.mov(eax, 0x0010_0005u32).unwrap(); // L0 (execute), L1 with RW1=01 (write), LEN 1
    a.mov(dr7, eax).unwrap();
    a.mov(word_ptr(0x2000), bx).unwrap(); // data breakpoint: trap after this
    a.nop().unwrap();
    let mut code = a.assemble(0x1000).unwrap();
    code.resize(0x40, 0x90);
    // NOPs up to 0x1040: the execute-breakpointed instruction, then HLT.
    code.extend_from_slice(&[0xB1, 0x07, 0xF4]); // mov cl, 7; hlt
                                                 // Handler at 0x600: log IP (from the stack) and DR6, disarm what hit, IRET.
    let mut h = CodeAssembler::new(16).unwrap();
    h.push(bp).unwrap();
    h.mov(bp, sp).unwrap();
    h.mov(si, word_ptr(0x3100)).unwrap();
    h.mov(ax, word_ptr(bp + 2)).unwrap();
    h.mov(word_ptr(si + 0x3000), ax).unwrap();
    h.mov(eax, dr6).unwrap();
    h.mov(word_ptr(si + 0x3002), ax).unwrap();
    h.add(word_ptr(0x3100), 4u32).unwrap();
    h.and(eax, 3u32).unwrap(); // bits of the breakpoints that hit
    h.shl(eax, 1u32).unwrap(); // -> their L bits... (L0 = bit 0, L1 = bit 2)
    h.mov(ebx, dr7).unwrap();
    h.test(eax, 2u32).unwrap(); // B0 -> clear L0
    let mut skip = h.create_label();
    h.jz(skip).unwrap();
    h.and(ebx, !1u32).unwrap();
    h.set_label(&mut skip).unwrap();
    h.mov(dr7, ebx).unwrap();
    h.xor(eax, eax).unwrap();
    h.mov(dr6, eax).unwrap();
    h.pop(bp).unwrap();
    h.iret().unwrap();
    let handler = h.assemble(0x600).unwrap();
    let mut bus = FlatBus::new(1 << 20);
    bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
    bus.mem[0x600..0x600 + handler.len()].copy_from_slice(&handler);
    bus.mem[4] = 0x00; // IVT[1] = 0000:0600
    bus.mem[5] = 0x06;
    let mut cpu = Cpu::new(CpuModel::Pentium2);
    cpu.s.seg[1] = Segment {
        selector: 0,
        attr: attr::REAL_CODE,
        base: 0,
        limit: 0xFFFF,
    };
    cpu.s.eip = 0x1000;
    cpu.s.gpr[4] = 0x8000;
    for _ in 0..1000 {
        if cpu.s.halted {
            break;
        }
        cpu.run(&mut bus, 100);
    }
    assert!(cpu.s.halted, "eip {:x}", cpu.s.eip);
    let log: Vec<u16> = (0..4)
        .map(|k| u16::from_le_bytes([bus.mem[0x3000 + 2 * k], bus.mem[0x3001 + 2 * k]]))
        .collect();
    let store_next = log[0];
    assert_eq!(
        log[1] & 0x4003,
        0x0002,
        "write breakpoint: B1 set, BS clear: {log:04x?}"
    );
    assert!(
        store_next > 0x1000 && store_next < 0x1040,
        "trap reports the next instruction: {log:04x?}"
    );
    assert_eq!(
        log[2], 0x1040,
        "execute breakpoint reports the instruction itself: {log:04x?}"
    );
    assert_eq!(log[3] & 0x4003, 0x0001, "{log:04x?}");
    assert_eq!(
        cpu.s.reg8(1),
        7,
        "the breakpointed instruction ran after the handler"
    );
}

/// Dead flag elimination inside blocks: flags pushed by an exception raised in the middle of a
/// block (here #GP from a word read at DS:FFFF) are those of the instruction before it, even
/// when a later instruction of the block overwrites them; and `run` with any budget ends in the
/// same state as `step` alone (the oracle).
#[test]
fn block_flags_exact_at_faults_and_budgets() {
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(ax, 0x7fffu32).unwrap();
    a.mov(si, 0xffffu32).unwrap();
    a.mov(bx, 0x1234u32).unwrap();
    a.shl(bx, 3u32).unwrap(); // flags overwritten by the ADD: dead
    a.inc(di).unwrap(); // dead too (ADD writes all)
    a.add(ax, 1u32).unwrap(); // OF, SF, AF: live, the next instruction faults
    a.mov(cx, word_ptr(si)).unwrap(); // #GP: the word crosses the segment limit
    a.cmp(dx, dx).unwrap(); // would overwrite everything
    a.hlt().unwrap();
    let code = a.assemble(0x1000).unwrap();
    // #GP handler at 0000:0600: store the pushed FLAGS at 0x3000 and halt.
    let mut h = CodeAssembler::new(16).unwrap();
    h.mov(bp, sp).unwrap();
    h.mov(ax, word_ptr(bp + 4)).unwrap();
    h.mov(word_ptr(0x3000), ax).unwrap();
    h.xor(ax, ax).unwrap();
    h.sub(bx, 0x10u32).unwrap();
    h.add(cx, dx).unwrap();
    h.hlt().unwrap();
    let handler = h.assemble(0x600).unwrap();
    let setup = || {
        let mut bus = FlatBus::new(1 << 20);
        bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
        bus.mem[0x600..0x600 + handler.len()].copy_from_slice(&handler);
        bus.mem[13 * 4] = 0x00; // IVT[13] = 0000:0600
        bus.mem[13 * 4 + 1] = 0x06;
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        cpu.s.seg[1] = Segment {
            selector: 0,
            attr: attr::REAL_CODE,
            base: 0,
            limit: 0xFFFF,
        };
        cpu.s.eip = 0x1000;
        cpu.s.gpr[4] = 0x8000;
        (cpu, bus)
    };
    let (mut c1, mut b1) = setup();
    while !c1.s.halted {
        c1.step(&mut b1);
    }
    let pushed = u16::from_le_bytes([b1.mem[0x3000], b1.mem[0x3001]]);
    assert_eq!(
        pushed & 0x08D5,
        0x0894,
        "ADD 7FFF+1: OF SF AF PF, no ZF CF: {pushed:04x}"
    );
    for budget in [1, 2, 3, 4, 5, 7, 100] {
        let (mut c2, mut b2) = setup();
        for _ in 0..1000 {
            if c2.s.halted {
                break;
            }
            c2.run(&mut b2, budget);
        }
        assert!(c2.s.halted, "budget {budget}");
        assert_eq!(c1.s, c2.s, "budget {budget}");
        assert_eq!(c1.instret, c2.instret, "budget {budget}");
        assert_eq!(b1.mem, b2.mem, "budget {budget}");
    }
}

/// 32-bit operations in a loop whose blocks have dead flags elided (ADC reading a ROL's CF,
/// a memory write as a barrier): every budget ends in the stepped state.
#[test]
fn block_dead_flags_match_step() {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut top = a.create_label();
    a.mov(ecx, 50u32).unwrap();
    a.mov(eax, 0x8000_0001u32).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(eax, ecx).unwrap(); // dead
    a.rol(eax, 5u32).unwrap(); // CF/OF dead; SF/ZF/PF/AF of the ADD... overwritten by SUB
    a.adc(edx, eax).unwrap(); // reads the ROL's CF
    a.sub(ebx, edx).unwrap();
    a.shr(edx, 1u32).unwrap();
    a.mov(word_ptr(0x2000), dx).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.pushfd().unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x1000).unwrap();
    let setup = || {
        let mut bus = FlatBus::new(1 << 20);
        bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        cpu.s.seg[1] = Segment {
            selector: 0,
            attr: attr::REAL_CODE,
            base: 0,
            limit: 0xFFFF,
        };
        cpu.s.eip = 0x1000;
        cpu.s.gpr[4] = 0x8000;
        (cpu, bus)
    };
    let (mut c1, mut b1) = setup();
    while !c1.s.halted {
        c1.step(&mut b1);
    }
    for budget in [1, 2, 3, 5, 6, 8, 13, 1000] {
        let (mut c2, mut b2) = setup();
        for _ in 0..10_000 {
            if c2.s.halted {
                break;
            }
            c2.run(&mut b2, budget);
        }
        assert_eq!(c1.s, c2.s, "budget {budget}");
        assert_eq!(c1.instret, c2.instret, "budget {budget}");
        assert_eq!(b1.mem, b2.mem, "budget {budget}");
    }
}

/// A fused CMP+Jcc tail whose target lies past the CS limit: the CMP retires, the Jcc raises
/// #GP with the CMP's flags, exactly as under `step`.
#[test]
fn fused_jcc_past_cs_limit_faults_exactly() {
    // inc bx; cmp ax, ax; jz +0x200 (0x1007 + 0x200 > limit 0x10FF)
    let code = [0x43, 0x39, 0xC0, 0x0F, 0x84, 0x00, 0x02, 0xF4];
    let mut h = CodeAssembler::new(16).unwrap();
    h.mov(bp, sp).unwrap();
    h.mov(ax, word_ptr(bp + 4)).unwrap();
    h.mov(word_ptr(0x3000), ax).unwrap();
    h.hlt().unwrap();
    let handler = h.assemble(0x600).unwrap();
    let setup = || {
        let mut bus = FlatBus::new(1 << 20);
        bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
        bus.mem[0x600..0x600 + handler.len()].copy_from_slice(&handler);
        bus.mem[13 * 4] = 0x00;
        bus.mem[13 * 4 + 1] = 0x06;
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        cpu.s.seg[1] = Segment {
            selector: 0,
            attr: attr::REAL_CODE,
            base: 0,
            limit: 0x10FF,
        };
        cpu.s.eip = 0x1000;
        cpu.s.gpr[0] = 5;
        cpu.s.gpr[4] = 0x8000;
        (cpu, bus)
    };
    let (mut c1, mut b1) = setup();
    while !c1.s.halted {
        c1.step(&mut b1);
    }
    let pushed = u16::from_le_bytes([b1.mem[0x3000], b1.mem[0x3001]]);
    assert_eq!(pushed & 0x40, 0x40, "ZF from the CMP: {pushed:04x}");
    for budget in [1, 2, 3, 100] {
        let (mut c2, mut b2) = setup();
        for _ in 0..100 {
            if c2.s.halted {
                break;
            }
            c2.run(&mut b2, budget);
        }
        assert_eq!(c1.s, c2.s, "budget {budget}");
        assert_eq!(c1.instret, c2.instret, "budget {budget}");
        assert_eq!(b1.mem, b2.mem, "budget {budget}");
    }
}

/// A flat bus whose time-stamp counter is a host clock the test sets.
struct ClockedBus {
    flat: FlatBus,
    host: u64,
}

impl ironbox_cpu::CpuBus for ClockedBus {
    fn read8(&mut self, addr: u32) -> u8 {
        self.flat.read8(addr)
    }
    fn write8(&mut self, addr: u32, value: u8) {
        self.flat.write8(addr, value)
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        self.flat.io_in(port, size)
    }
    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        self.flat.io_out(port, size, value)
    }
    fn host_tsc(&mut self) -> Option<u64> {
        Some(self.host)
    }
}

#[test]
fn tsc_follows_the_host_clock_and_wrmsr_offsets_it() {
    // rdtsc; mov ebx,eax; wrmsr(TSC := 0x1000); rdtsc; hlt
    let flat = load16(|a| {
        a.rdtsc()?;
        a.mov(ebx, eax)?;
        a.mov(ecx, 0x10u32)?;
        a.mov(eax, 0x1000u32)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.rdtsc()
    });
    let mut bus = ClockedBus {
        flat,
        host: 5_000_000,
    };
    let mut cpu = real_mode_cpu();
    for _ in 0..100 {
        if cpu.s.halted || cpu.step(&mut bus) == StepEvent::Halted {
            break;
        }
        bus.host += 250; // host time passes between instructions, whatever their count
    }
    assert!(cpu.s.halted);
    assert_eq!(
        cpu.s.gpr[3], 5_000_000,
        "the first RDTSC reads the host clock"
    );
    // WRMSR ran 5 steps later (host 5_001_250) and the second RDTSC one step after it.
    assert_eq!(
        cpu.s.gpr[0],
        0x1000 + 250,
        "RDTSC after WRMSR: the value written plus host time since"
    );
    assert_eq!(cpu.s.gpr[2], 0);
}

/// An instruction whose bytes cross into the next page (`mov eax, imm32` at 0x1FFD, called in
/// a loop, paging on): its cached decode follows a write to its bytes on the second page and
/// a remap of that page, run as blocks and stepped alike.
#[test]
fn an_instruction_across_pages_follows_writes_and_remaps_of_its_second_page() {
    use ironbox_cpu::state::cr0;
    const PD: usize = 0x80000;
    const PT: usize = 0x81000;
    let mut code = vec![0xB9, 3, 0, 0, 0]; // mov ecx, 3
    let call = |code: &mut Vec<u8>| {
        let next = 0x1000 + code.len() as i32 + 5;
        code.push(0xE8); // call 0x1FFD
        code.extend_from_slice(&(0x1FFD - next).to_le_bytes());
        code.extend_from_slice(&[0x01, 0xC3]); // add ebx, eax
    };
    let top = code.len();
    call(&mut code);
    code.extend_from_slice(&[0xFE, 0x05, 0x01, 0x20, 0, 0]); // inc byte [0x2001]
    code.push(0x49); // dec ecx
    code.extend_from_slice(&[0x75, (top as i32 - code.len() as i32 - 2) as u8]); // jnz top
                                                                                 // mov dword [PT + 2 * 4], 0x3003 (linear 0x2000 -> physical 0x3000); invlpg [0x2000]
    code.extend_from_slice(&[0xC7, 0x05]);
    code.extend_from_slice(&(PT as u32 + 8).to_le_bytes());
    code.extend_from_slice(&0x3003u32.to_le_bytes());
    code.extend_from_slice(&[0x0F, 0x01, 0x3D, 0x00, 0x20, 0, 0]);
    call(&mut code);
    code.push(0xF4); // hlt
    for stepped in [false, true] {
        let mut bus = FlatBus::new(1 << 20);
        bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(&code);
        bus.mem[0x1FFD..0x2003].copy_from_slice(&[0xB8, 0x11, 0x22, 0x33, 0x44, 0xC3]);
        bus.mem[0x3000..0x3003].copy_from_slice(&[0x55, 0x66, 0xC3]);
        for p in 0..256u32 {
            bus.mem[PT + 4 * p as usize..][..4].copy_from_slice(&(p << 12 | 3).to_le_bytes());
        }
        bus.mem[PD..PD + 4].copy_from_slice(&(PT as u32 | 3).to_le_bytes());
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        let seg = |sel: u16, ty: u16| Segment {
            selector: sel,
            attr: ty | attr::S | attr::P | attr::DB | attr::G | attr::ACCESSED,
            base: 0,
            limit: 0xFFFF_FFFF,
        };
        cpu.s.seg[1] = seg(8, attr::CODE | attr::RW);
        for r in [0, 2, 3, 4, 5] {
            cpu.s.seg[r] = seg(16, attr::RW);
        }
        cpu.s.cr3 = PD as u32;
        cpu.s.cr0 |= cr0::PE | cr0::PG;
        cpu.s.eip = 0x1000;
        cpu.s.gpr[4] = 0x9000;
        for _ in 0..1000 {
            if stepped {
                cpu.step(&mut bus);
            } else {
                cpu.run(&mut bus, 1000);
            }
            if cpu.s.halted {
                break;
            }
        }
        assert!(cpu.s.halted, "did not halt; eip={:x}", cpu.s.eip);
        let want = [0x4433_2211u32, 0x4533_2211, 0x4633_2211, 0x6655_2211]
            .iter()
            .fold(0u32, |a, v| a.wrapping_add(*v));
        assert_eq!(cpu.s.gpr[3], want, "stepped: {stepped}");
    }
}
