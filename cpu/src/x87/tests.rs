//! Instruction-level tests of the x87/MMX layer: #NM/#UD/#MF and FERR#, stack faults, tag word
//! and TOP handling, FSAVE/FRSTOR/FSTENV images, FCOMI flags, MMX aliasing, FSIN range limit.
//! Code is 16-bit real-mode machine code run instruction by instruction through
//! `exec_x87`/`exec_mmx`.

use iced_x86::{Decoder, DecoderOptions};

use super::f80::{IE, SF, ZE};
use super::F80;
use crate::bus::{CpuBus, FlatBus};
use crate::fault::{self, Fault};
use crate::state::{attr, cr0, flags, CpuModel, Segment};
use crate::Cpu;

/// A flat bus that remembers the FERR# line.
struct Bus {
    mem: FlatBus,
    ferr: bool,
}

impl CpuBus for Bus {
    fn read8(&mut self, a: u32) -> u8 {
        self.mem.read8(a)
    }
    fn write8(&mut self, a: u32, v: u8) {
        self.mem.write8(a, v)
    }
    fn io_in(&mut self, p: u16, s: u8) -> u32 {
        self.mem.io_in(p, s)
    }
    fn io_out(&mut self, p: u16, s: u8, v: u32) {
        self.mem.io_out(p, s, v)
    }
    fn set_ferr(&mut self, on: bool) {
        self.ferr = on;
    }
}

fn setup() -> (Cpu, Bus) {
    let mut cpu = Cpu::new(CpuModel::Pentium2);
    cpu.s.seg[1] = Segment {
        selector: 0,
        base: 0,
        limit: 0xFFFF,
        attr: attr::REAL_CODE,
    };
    (
        cpu,
        Bus {
            mem: FlatBus::new(1 << 16),
            ferr: false,
        },
    )
}

/// Run 16-bit code at 0x1000; stops at the first fault and returns it.
fn run(cpu: &mut Cpu, bus: &mut Bus, code: &[u8]) -> Result<(), Fault> {
    bus.mem.mem[0x1000..0x1000 + code.len()].copy_from_slice(code);
    let mut dec = Decoder::with_ip(16, code, 0x1000, DecoderOptions::NONE);
    while dec.can_decode() {
        let i = dec.decode();
        cpu.start_eip = i.ip32();
        cpu.s.eip = i.next_ip32();
        let m = i.mnemonic();
        if super::is_x87(m) {
            cpu.exec_x87(bus, &i)?;
        } else if super::is_mmx(m) {
            cpu.exec_mmx(bus, &i)?;
        } else {
            panic!("unexpected {m:?}");
        }
    }
    Ok(())
}

const FLD1: [u8; 2] = [0xD9, 0xE8];
const FLDZ: [u8; 2] = [0xD9, 0xEE];

#[test]
fn nm_and_ud() {
    let (mut cpu, mut bus) = setup();
    cpu.s.cr0 |= cr0::EM;
    assert_eq!(run(&mut cpu, &mut bus, &FLD1), Err(Fault::new(fault::NM)));
    assert_eq!(run(&mut cpu, &mut bus, &[0x9B]), Ok(()), "WAIT ignores EM");
    assert_eq!(
        run(&mut cpu, &mut bus, &[0x0F, 0x77]),
        Err(Fault::ud()),
        "EMMS with EM"
    );
    cpu.s.cr0 = (cpu.s.cr0 & !cr0::EM) | cr0::TS;
    assert_eq!(run(&mut cpu, &mut bus, &FLD1), Err(Fault::new(fault::NM)));
    assert_eq!(
        run(&mut cpu, &mut bus, &[0x0F, 0x77]),
        Err(Fault::new(fault::NM))
    );
    assert_eq!(
        run(&mut cpu, &mut bus, &[0x9B]),
        Ok(()),
        "WAIT needs TS and MP"
    );
    cpu.s.cr0 |= cr0::MP;
    assert_eq!(run(&mut cpu, &mut bus, &[0x9B]), Err(Fault::new(fault::NM)));
}

#[test]
fn unmasked_exception_is_deferred() {
    for ne in [true, false] {
        let (mut cpu, mut bus) = setup();
        if ne {
            cpu.s.cr0 |= cr0::NE;
        }
        bus.mem.mem[0x300..0x302].copy_from_slice(&0x037Bu16.to_le_bytes()); // ZE unmasked
        let mut code = vec![0xD9, 0x2E, 0x00, 0x03]; // fldcw [0x300]
        code.extend_from_slice(&FLD1);
        code.extend_from_slice(&FLDZ);
        code.extend_from_slice(&[0xDE, 0xF9]); // fdivp st(1), st(0): 1/0
        code.extend_from_slice(&[0xDF, 0xE0]); // fnstsw ax (no wait)
        assert_eq!(run(&mut cpu, &mut bus, &code), Ok(()));
        let sw = cpu.s.gpr[0] as u16;
        assert_eq!(
            sw & 0x80FF,
            0x8000 | 0x80 | ZE,
            "ZE, ES and B set: {sw:04X}"
        );
        assert_eq!(cpu.s.fpu.top, 6, "no pop on an unmasked ZE");
        assert!(!bus.ferr);
        let r = run(&mut cpu, &mut bus, &FLD1);
        if ne {
            assert_eq!(r, Err(Fault::new(fault::MF)));
            assert_eq!(
                run(&mut cpu, &mut bus, &[0x9B]),
                Err(Fault::new(fault::MF)),
                "FWAIT too"
            );
        } else {
            assert_eq!(r, Ok(()));
            assert!(bus.ferr, "FERR# asserted");
        }
        assert_eq!(
            run(&mut cpu, &mut bus, &[0xDB, 0xE2]),
            Ok(()),
            "FNCLEX never waits"
        );
        assert!(!bus.ferr);
        assert_eq!(run(&mut cpu, &mut bus, &FLD1), Ok(()));
        assert_eq!(
            cpu.s.fpu.fip, 0x1000,
            "FIP of the last non-control instruction"
        );
    }
}

#[test]
fn stack_overflow_and_underflow() {
    let (mut cpu, mut bus) = setup();
    let code: Vec<u8> = std::iter::repeat(FLD1).take(9).flatten().collect();
    run(&mut cpu, &mut bus, &code).unwrap();
    let f = &cpu.s.fpu;
    assert_eq!(f.sw & 0x7F, IE | SF);
    assert_ne!(f.sw & 0x200, 0, "C1 = 1 on overflow");
    assert_eq!(f.st(0), F80::INDEFINITE);
    assert_eq!((f.top, f.tw), (7, 0x8000), "all valid, ST0 (R7) special");

    let (mut cpu, mut bus) = setup();
    run(&mut cpu, &mut bus, &[0xD8, 0xC1]).unwrap(); // fadd st0, st1 on an empty stack
    let f = &cpu.s.fpu;
    assert_eq!(f.sw & 0x27F, IE | SF, "C1 = 0 on underflow");
    assert_eq!(f.st(0), F80::INDEFINITE);
}

#[test]
fn fsave_frstor_roundtrip_and_fstenv_layout() {
    let (mut cpu, mut bus) = setup();
    let mut code = vec![];
    code.extend_from_slice(&FLD1);
    code.extend_from_slice(&[0xD9, 0xEB]); // fldpi
    code.extend_from_slice(&FLDZ);
    code.extend_from_slice(&[0xD9, 0xFA]); // fsqrt (0 → 0)
    run(&mut cpu, &mut bus, &code).unwrap();
    let before = cpu.s.fpu;
    run(&mut cpu, &mut bus, &[0xDD, 0x36, 0x00, 0x04]).unwrap(); // fnsave [0x400] (94 bytes)
    assert_eq!(cpu.s.fpu.tw, 0xFFFF);
    assert_eq!(cpu.s.fpu.cw, 0x037F);
    let img = &bus.mem.mem[0x400..0x400 + 94];
    assert_eq!(u16::from_le_bytes([img[0], img[1]]), 0x037F);
    // Tags: R5 = zero (01), R6 = pi and R7 = 1 valid (00), R0-R4 empty.
    assert_eq!(u16::from_le_bytes([img[4], img[5]]), 0x07FF);
    // ST0 image at offset 14 is +0.
    assert_eq!(&img[14..24], &[0u8; 10]);
    run(&mut cpu, &mut bus, &[0xDD, 0x26, 0x00, 0x04]).unwrap(); // frstor [0x400]
    let after = cpu.s.fpu;
    assert_eq!(
        (after.regs, after.cw, after.top, after.tw),
        (before.regs, before.cw, before.top, before.tw)
    );
    assert_eq!(after.status(), before.status());
    assert_eq!(after.fop, before.fop);
    assert_eq!((after.fip, after.fdp), (before.fip, before.fdp));

    // FNSTENV masks all exceptions; FLDENV reloads.
    bus.mem.mem[0x300..0x302].copy_from_slice(&0x0360u16.to_le_bytes());
    run(
        &mut cpu,
        &mut bus,
        &[0xD9, 0x2E, 0x00, 0x03, 0xD9, 0x36, 0x00, 0x05],
    )
    .unwrap(); // fldcw; fnstenv [0x500]
    assert_eq!(cpu.s.fpu.cw, 0x037F);
    assert_eq!(
        u16::from_le_bytes([bus.mem.mem[0x500], bus.mem.mem[0x501]]),
        0x0360
    );
    run(&mut cpu, &mut bus, &[0xD9, 0x26, 0x00, 0x05]).unwrap(); // fldenv [0x500]
    assert_eq!(cpu.s.fpu.cw, 0x0360);
}

#[test]
fn fcomi_sets_eflags() {
    let (mut cpu, mut bus) = setup();
    let mut code = vec![];
    code.extend_from_slice(&FLDZ);
    code.extend_from_slice(&FLD1);
    code.extend_from_slice(&[0xDB, 0xF1]); // fcomi st0, st1: 1 > 0
    run(&mut cpu, &mut bus, &code).unwrap();
    assert_eq!(cpu.s.eflags & (flags::ZF | flags::PF | flags::CF), 0);
    run(&mut cpu, &mut bus, &[0xD9, 0xC9, 0xDB, 0xF1]).unwrap(); // fxch; fcomi: 0 < 1
    assert_eq!(
        cpu.s.eflags & (flags::ZF | flags::PF | flags::CF),
        flags::CF
    );
    run(&mut cpu, &mut bus, &[0xDF, 0xE9]).unwrap(); // fucomip st0, st1
    assert_eq!(
        cpu.s.eflags & (flags::ZF | flags::PF | flags::CF),
        flags::CF
    );
    assert_eq!(cpu.s.fpu.top, 7);
}

#[test]
fn fxam_empty_and_fsin_out_of_range() {
    let (mut cpu, mut bus) = setup();
    run(&mut cpu, &mut bus, &[0xD9, 0xE5]).unwrap(); // fxam on empty
    assert_eq!(cpu.s.fpu.sw & 0x4500, 0x4100, "C3=1 C2=0 C0=1");
    // 2^63: out of range for FSIN → C2 = 1, operand unchanged.
    let big = F80::new(false, 0x3FFF + 63, 1 << 63);
    bus.mem.mem[0x300..0x308].copy_from_slice(&big.mant.to_le_bytes());
    bus.mem.mem[0x308..0x30A].copy_from_slice(&big.se.to_le_bytes());
    run(&mut cpu, &mut bus, &[0xDB, 0x2E, 0x00, 0x03, 0xD9, 0xFE]).unwrap(); // fld tword; fsin
    assert_ne!(cpu.s.fpu.sw & 0x400, 0);
    assert_eq!(cpu.s.fpu.st(0), big);
}

#[test]
fn mmx_aliasing_and_emms() {
    let (mut cpu, mut bus) = setup();
    bus.mem.mem[0x300..0x308].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
    run(&mut cpu, &mut bus, &FLD1).unwrap();
    assert_eq!(cpu.s.fpu.top, 7);
    run(&mut cpu, &mut bus, &[0x0F, 0x6F, 0x0E, 0x00, 0x03]).unwrap(); // movq mm1, [0x300]
    let f = &cpu.s.fpu;
    assert_eq!((f.top, f.tw), (0, 0));
    assert_eq!(
        f.regs[1],
        F80 {
            mant: 0x0102_0304_0506_0708,
            se: 0xFFFF
        }
    );
    run(&mut cpu, &mut bus, &[0x0F, 0xFC, 0xC9, 0x0F, 0x7E, 0xC8]).unwrap(); // paddb mm1, mm1; movd eax, mm1
    assert_eq!(cpu.s.gpr[0], 0x0A0C_0E10);
    run(&mut cpu, &mut bus, &[0x0F, 0x77]).unwrap(); // emms
    assert_eq!(cpu.s.fpu.tw, 0xFFFF);
    // XMM forms (SSE2) are #UD on a Pentium II.
    assert_eq!(
        run(&mut cpu, &mut bus, &[0x66, 0x0F, 0xFC, 0xC9]),
        Err(Fault::ud())
    );
}

/// The FOP the decoder keeps in an x87 instruction (`stash_fop`) is the one read back from
/// its bytes: escape opcode low bits and ModR/M, past prefixes, SIB bytes and displacements.
#[test]
fn stashed_fop_matches_bytes() {
    // (16-bit code bytes, FOP)
    let cases: &[(&[u8], u16)] = &[
        (&[0xD9, 0xE8], 0x1E8),                         // fld1
        (&[0xD8, 0xC1], 0x0C1),                         // fadd st0, st1
        (&[0xDE, 0xE9], 0x6E9),                         // fsubrp
        (&[0xDD, 0x06, 0x00, 0x20], 0x506),             // fld qword [0x2000]
        (&[0x26, 0xDD, 0x46, 0x10], 0x546),             // fld qword es:[bp+0x10]
        (&[0x67, 0xDB, 0x04, 0x24], 0x304),             // fild dword [esp] (SIB)
        (&[0x67, 0xDB, 0x00], 0x300),                   // fild dword [eax]
        (&[0x66, 0x67, 0xD8, 0x44, 0x20, 0x08], 0x044), // fadd dword [eax+0x08] (SIB, no index)
        (&[0x67, 0xDA, 0x0D, 0, 0x20, 0, 0], 0x20D),    // fimul dword [0x2000]
        (&[0xDF, 0x3E, 0x00, 0x20], 0x73E),             // fistp qword [0x2000]
    ];
    for &(code, fop) in cases {
        let mut i = Decoder::with_ip(16, code, 0x1000, DecoderOptions::NONE).decode();
        assert_eq!(i.len(), code.len(), "{code:02X?}");
        super::stash_fop(&mut i, code);
        assert_eq!(super::stashed_fop(&i), Some(fop), "{code:02X?}");
        // Executed with and without the stash: the same FOP.
        for stash in [false, true] {
            let (mut cpu, mut bus) = setup();
            run(&mut cpu, &mut bus, &FLD1).unwrap();
            run(&mut cpu, &mut bus, &FLD1).unwrap();
            bus.mem.mem[0x1000..0x1000 + code.len()].copy_from_slice(code);
            let mut i = Decoder::with_ip(16, code, 0x1000, DecoderOptions::NONE).decode();
            if stash {
                super::stash_fop(&mut i, code);
            }
            cpu.start_eip = 0x1000;
            cpu.s.eip = i.next_ip32();
            cpu.exec_x87(&mut bus, &i).unwrap();
            assert_eq!(cpu.s.fpu.fop, fop, "{code:02X?} stash {stash}");
        }
    }
    // Not x87, or WAIT: nothing kept.
    let mut i = Decoder::with_ip(16, &[0x9B], 0, DecoderOptions::NONE).decode();
    super::stash_fop(&mut i, &[0x9B]);
    assert_eq!(super::stashed_fop(&i), None);
}

/// `round_f80`'s fast path (full precision, exponent well in range) gives what the general
/// `round` gives: value, flags and C1, for every rounding mode, near the range's edges too.
#[test]
fn round_f80_fast_path_matches_round() {
    use super::f80::{round, round_f80, Ctx, EXT};
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let exps = [
        -16500, -16447, -16383, -16382, -16381, -16300, -1, 0, 1, 77, 16382, 16383, 16384,
    ];
    for n in 0..200_000u32 {
        let hi = next();
        let lo = match n % 4 {
            0 => next(),
            1 => 1 << 63,       // a tie
            2 => 0,             // exact
            _ => next() & 0xFF, // barely inexact
        };
        let hi = match n % 5 {
            0 => u64::MAX,            // carries into the exponent
            1 => hi >> (next() % 64), // not normalized
            _ => hi | 1 << 63,
        };
        let sig = (hi as u128) << 64 | lo as u128;
        let exp = exps[(next() % exps.len() as u64) as usize] + (next() % 3) as i32 - 1;
        let sign = next() & 1 != 0;
        for cw in [0x037F, 0x077F, 0x0B7F, 0x0F7F, 0x0340, 0x0B40] {
            let mut a = Ctx::from_cw(cw);
            let mut b = Ctx::from_cw(cw);
            let fa = round_f80(&mut a, sign, exp, sig, 64);
            let fb = round(&mut b, sign, exp, sig, EXT, 64).to_f80();
            assert_eq!(
                (fa, a.exc, a.up),
                (fb, b.exc, b.up),
                "sign {sign} exp {exp} sig {sig:#x} cw {cw:#x}"
            );
        }
    }
}

/// The addend alignment of `add` on 64-bit halves is `shr_jam` of the 128-bit value.
#[test]
fn align_addend_matches_shr_jam() {
    use super::f80::shr_jam;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for n in 0..20_000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let m = match n % 3 {
            0 => seed | 1 << 63,
            1 => (1 << 63) | (seed & 0xFF),
            _ => 1 << 63,
        };
        for d in 0..200 {
            assert_eq!(
                super::arith::align_addend(m, d),
                shr_jam((m as u128) << 63, d),
                "m {m:#x} d {d}"
            );
        }
    }
}
