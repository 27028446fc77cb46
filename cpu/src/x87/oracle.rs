//! Host-FPU oracle tests: the same x87 instruction runs on the host's FPU (inline asm) and on
//! the emulated FPU (`exec_x87` on decoded 16-bit code), and the results (both top stack slots,
//! the memory operand and the status word) must agree bit for bit, for many edge-case and
//! pseudo-random operands, in every rounding mode, precision control and (un)masked setting.
//!
//! The host is an x86-64 CPU (currently an AMD EPYC); where its x87 differs from a Pentium II
//! (transcendental last bits) the tests allow a 1-ulp difference and count it.

use iced_x86::{Decoder, DecoderOptions};

use crate::bus::FlatBus;
use crate::state::{attr, CpuModel, Segment};
use crate::Cpu;

// Emulator memory layout (16-bit real mode, DS = CS = 0).
const X: usize = 0x200;
const Y: usize = 0x210;
const O0: usize = 0x220;
const O1: usize = 0x230;
const CW: usize = 0x240;
const SW: usize = 0x250;
const M: usize = 0x260;
const CWM: usize = 0x270;
const CODE: usize = 0x1000;

/// One operation: its host asm (using `{m}` for the memory operand) and its bytes for the
/// emulator (memory operand at [0x260]).
pub struct Op {
    pub name: &'static str,
    pub host: unsafe fn(&mut Frame),
    pub emu: &'static [u8],
}

/// Inputs and outputs of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Frame {
    pub x: [u8; 16],
    pub y: [u8; 16],
    pub m: [u8; 16],
    pub o0: [u8; 16],
    pub o1: [u8; 16],
    pub cw: u16,
    pub cwm: u16,
    pub sw: u16,
}

macro_rules! host_ops {
    ($( $name:ident : $asm:literal => [$($b:literal),*] ; )*) => {
        $(
            #[allow(non_snake_case)]
            unsafe fn $name(f: &mut Frame) {
                let p = f as *mut Frame as *mut u8;
                core::arch::asm!(
                    "fninit",
                    "fldcw word ptr [{p} + 80]",
                    "fld tbyte ptr [{p} + 16]",
                    "fld tbyte ptr [{p}]",
                    $asm,
                    "fnstsw word ptr [{p} + 84]",
                    "fnclex",
                    "fldcw word ptr [{p} + 82]",
                    "fstp tbyte ptr [{p} + 48]",
                    "fstp tbyte ptr [{p} + 64]",
                    "fninit",
                    p = in(reg) p,
                    m = in(reg) p.add(32),
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                );
            }
        )*
        pub const OPS: &[Op] = &[ $( Op { name: stringify!($name), host: $name, emu: &[$($b),*] } ),* ];
    };
}

host_ops! {
    fadd: "fadd st(0), st(1) # {m}" => [0xD8, 0xC1];
    fsub: "fsub st(0), st(1) # {m}" => [0xD8, 0xE1];
    fsubr: "fsubr st(0), st(1) # {m}" => [0xD8, 0xE9];
    fmul: "fmul st(0), st(1) # {m}" => [0xD8, 0xC9];
    fdiv: "fdiv st(0), st(1) # {m}" => [0xD8, 0xF1];
    fdivr: "fdivr st(0), st(1) # {m}" => [0xD8, 0xF9];
    faddp: "faddp st(1), st(0) # {m}" => [0xDE, 0xC1];
    fsqrt: "fsqrt # {m}" => [0xD9, 0xFA];
    frndint: "frndint # {m}" => [0xD9, 0xFC];
    fprem: "fprem # {m}" => [0xD9, 0xF8];
    fprem1: "fprem1 # {m}" => [0xD9, 0xF5];
    fscale: "fscale # {m}" => [0xD9, 0xFD];
    fxtract: "fxtract # {m}" => [0xD9, 0xF4];
    fcom: "fcom st(1) # {m}" => [0xD8, 0xD1];
    fucomp: "fucomp st(1) # {m}" => [0xDD, 0xE9];
    fcompp: "fcompp # {m}" => [0xDE, 0xD9];
    ftst: "ftst # {m}" => [0xD9, 0xE4];
    fxam: "fxam # {m}" => [0xD9, 0xE5];
    fchs: "fchs # {m}" => [0xD9, 0xE0];
    fabs: "fabs # {m}" => [0xD9, 0xE1];
    fxch: "fxch st(1) # {m}" => [0xD9, 0xC9];
    fst_m32: "fst dword ptr [{m}]" => [0xD9, 0x16, 0x60, 0x02];
    fst_m64: "fst qword ptr [{m}]" => [0xDD, 0x16, 0x60, 0x02];
    fist_m16: "fist word ptr [{m}]" => [0xDF, 0x16, 0x60, 0x02];
    fist_m32: "fist dword ptr [{m}]" => [0xDB, 0x16, 0x60, 0x02];
    fistp_m64: "fistp qword ptr [{m}]" => [0xDF, 0x3E, 0x60, 0x02];
    fbstp: "fbstp tbyte ptr [{m}]" => [0xDF, 0x36, 0x60, 0x02];
    fld_m32: "fld dword ptr [{m}]" => [0xD9, 0x06, 0x60, 0x02];
    fld_m64: "fld qword ptr [{m}]" => [0xDD, 0x06, 0x60, 0x02];
    fadd_m32: "fadd dword ptr [{m}]" => [0xD8, 0x06, 0x60, 0x02];
    fdivr_m64: "fdivr qword ptr [{m}]" => [0xDC, 0x3E, 0x60, 0x02];
    fild_m16: "fild word ptr [{m}]" => [0xDF, 0x06, 0x60, 0x02];
    fimul_m32: "fimul dword ptr [{m}]" => [0xDA, 0x0E, 0x60, 0x02];
    fild_m64: "fild qword ptr [{m}]" => [0xDF, 0x2E, 0x60, 0x02];
    fbld: "fbld tbyte ptr [{m}]" => [0xDF, 0x26, 0x60, 0x02];
    ficom_m16: "ficom word ptr [{m}]" => [0xDE, 0x16, 0x60, 0x02];
    fld1: "fld1 # {m}" => [0xD9, 0xE8];
    fldl2t: "fldl2t # {m}" => [0xD9, 0xE9];
    fldl2e: "fldl2e # {m}" => [0xD9, 0xEA];
    fldpi: "fldpi # {m}" => [0xD9, 0xEB];
    fldlg2: "fldlg2 # {m}" => [0xD9, 0xEC];
    fldln2: "fldln2 # {m}" => [0xD9, 0xED];
    fldz: "fldz # {m}" => [0xD9, 0xEE];
    fsin: "fsin # {m}" => [0xD9, 0xFE];
    fcos: "fcos # {m}" => [0xD9, 0xFF];
    fsincos: "fsincos # {m}" => [0xD9, 0xFB];
    fptan: "fptan # {m}" => [0xD9, 0xF2];
    fpatan: "fpatan # {m}" => [0xD9, 0xF3];
    f2xm1: "f2xm1 # {m}" => [0xD9, 0xF0];
    fyl2x: "fyl2x # {m}" => [0xD9, 0xF1];
    fyl2xp1: "fyl2xp1 # {m}" => [0xD9, 0xF9];
}

pub fn op(name: &str) -> &'static Op {
    OPS.iter().find(|o| o.name == name).expect("unknown op")
}

/// Run on the host FPU.
pub fn run_host(op: &Op, f: &Frame) -> Frame {
    let mut g = *f;
    // SAFETY: the asm only touches the frame and the x87 stack, which it leaves initialised.
    unsafe { (op.host)(&mut g) };
    g
}

/// An emulated CPU ready to run the harness code.
pub struct Emu {
    pub cpu: Cpu,
    pub bus: FlatBus,
}

impl Emu {
    pub fn new() -> Emu {
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        cpu.s.seg[1] = Segment {
            selector: 0,
            base: 0,
            limit: 0xFFFF,
            attr: attr::REAL_CODE,
        };
        Emu {
            cpu,
            bus: FlatBus::new(1 << 16),
        }
    }

    /// Execute `code` (16-bit) at CODE through `exec_x87`/`exec_mmx`.
    pub fn exec(&mut self, code: &[u8]) -> Result<(), crate::Fault> {
        self.bus.mem[CODE..CODE + code.len()].copy_from_slice(code);
        let mut dec = Decoder::with_ip(16, code, CODE as u64, DecoderOptions::NONE);
        while dec.can_decode() {
            let i = dec.decode();
            self.cpu.start_eip = i.ip32();
            self.cpu.s.eip = i.next_ip32();
            let m = i.mnemonic();
            if super::is_x87(m) {
                self.cpu.exec_x87(&mut self.bus, &i)?;
            } else if super::is_mmx(m) {
                self.cpu.exec_mmx(&mut self.bus, &i)?;
            } else {
                panic!("harness: unexpected {:?}", m);
            }
        }
        Ok(())
    }

    pub fn run(&mut self, op: &Op, f: &Frame) -> Frame {
        let mem = &mut self.bus.mem;
        mem[X..X + 16].copy_from_slice(&f.x);
        mem[Y..Y + 16].copy_from_slice(&f.y);
        mem[M..M + 16].copy_from_slice(&f.m);
        mem[O0..O0 + 16].copy_from_slice(&f.o0);
        mem[O1..O1 + 16].copy_from_slice(&f.o1);
        mem[CW..CW + 2].copy_from_slice(&f.cw.to_le_bytes());
        mem[CWM..CWM + 2].copy_from_slice(&f.cwm.to_le_bytes());
        let mut code = vec![
            0xDB, 0xE3, // fninit
            0xD9, 0x2E, 0x40, 0x02, // fldcw [CW]
            0xDB, 0x2E, 0x10, 0x02, // fld tword [Y]
            0xDB, 0x2E, 0x00, 0x02, // fld tword [X]
        ];
        code.extend_from_slice(op.emu);
        code.extend_from_slice(&[
            0xDD, 0x3E, 0x50, 0x02, // fnstsw [SW]
            0xDB, 0xE2, // fnclex
            0xD9, 0x2E, 0x70, 0x02, // fldcw [CWM]
            0xDB, 0x3E, 0x20, 0x02, // fstp tword [O0]
            0xDB, 0x3E, 0x30, 0x02, // fstp tword [O1]
            0xDB, 0xE3, // fninit
        ]);
        self.exec(&code).expect("harness code faulted");
        let mem = &self.bus.mem;
        let mut g = *f;
        g.m.copy_from_slice(&mem[M..M + 16]);
        g.o0.copy_from_slice(&mem[O0..O0 + 16]);
        g.o1.copy_from_slice(&mem[O1..O1 + 16]);
        g.sw = u16::from_le_bytes([mem[SW], mem[SW + 1]]);
        g
    }
}

/// xorshift64* generator.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 80-bit encoding of (sign, exponent, significand).
pub fn f80b(sign: bool, exp: u16, mant: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&mant.to_le_bytes());
    b[8..10].copy_from_slice(&(((sign as u16) << 15) | exp).to_le_bytes());
    b
}

/// A random operand drawn from interesting classes.
pub fn rand_f80(r: &mut Rng, exp_center: u16, spread: u16) -> [u8; 16] {
    let sign = r.next() & 1 != 0;
    let k = r.below(100);
    let mant = match r.below(4) {
        0 => r.next() | (1 << 63),
        1 => (1 << 63) | (r.next() >> r.below(64)),
        2 => !0u64 << r.below(64),
        _ => (1 << 63) | (r.next() & 0xFFFF_FF00_0000_0000) | (r.below(4) << 38),
    };
    let exp = (exp_center as i32 + (r.below(2 * spread as u64 + 1) as i32 - spread as i32))
        .clamp(1, 0x7FFE) as u16;
    match k {
        0 => f80b(sign, 0, 0),
        1 => f80b(sign, 0x7FFF, 1 << 63),
        2 => f80b(sign, 0x7FFF, (3 << 62) | (r.next() >> 2 >> r.below(62))), // QNaN
        3 => f80b(sign, 0x7FFF, (1 << 63) | ((r.next() >> 2) | 1)),          // SNaN
        4 => f80b(sign, 0, r.next() >> 1 >> r.below(63)),                    // denormal
        5 => f80b(sign, 0, r.next() | (1 << 63)),                            // pseudo-denormal
        6 => f80b(sign, exp, r.next() >> 1),                                 // unnormal
        7 => f80b(sign, 0x7FFF, r.next() >> 1), // pseudo-NaN / pseudo-inf
        8..=11 => f80b(sign, r.below(0x7FFF) as u16, mant), // anywhere
        12..=15 => f80b(sign, (1 + r.below(70)) as u16, mant), // near underflow
        16..=19 => f80b(sign, (0x7FFE - r.below(70)) as u16, mant), // near overflow
        _ => f80b(sign, exp, mant),
    }
}

/// Control words to test: 4 RC × 3 PC, all masked; plus some with OE/UE/IE/ZE/DE unmasked.
pub fn control_words() -> Vec<u16> {
    let mut v = vec![];
    for rc in 0..4u16 {
        for pc in [0u16, 2, 3] {
            v.push(0x0040 | 0x3F | (pc << 8) | (rc << 10));
        }
    }
    for rc in 0..4u16 {
        v.push(0x0040 | 0x20 | (3 << 8) | (rc << 10)); // all but PE unmasked
        v.push(0x0040 | 0x27 | (3 << 8) | (rc << 10)); // OE, UE unmasked
    }
    v
}

pub fn fmt(b: &[u8]) -> String {
    let se = u16::from_le_bytes([b[8], b[9]]);
    let m = u64::from_le_bytes(b[..8].try_into().unwrap());
    format!("{:04X}:{:016X}", se, m)
}

/// Difference of two 80-bit results in ulps when they are finite with equal sign and exponent.
pub fn ulp_diff(a: &[u8], b: &[u8]) -> Option<u64> {
    if a[8..10] != b[8..10] {
        // Allow a carry across the exponent boundary.
        let ea = u16::from_le_bytes([a[8], a[9]]);
        let eb = u16::from_le_bytes([b[8], b[9]]);
        if ea.abs_diff(eb) != 1 {
            return None;
        }
        let ma = u64::from_le_bytes(a[..8].try_into().unwrap());
        let mb = u64::from_le_bytes(b[..8].try_into().unwrap());
        let (lo, hi) = if ea < eb { (ma, mb) } else { (mb, ma) };
        return if lo == u64::MAX && hi == 1 << 63 {
            Some(1)
        } else {
            None
        };
    }
    let ma = u64::from_le_bytes(a[..8].try_into().unwrap());
    let mb = u64::from_le_bytes(b[..8].try_into().unwrap());
    Some(ma.abs_diff(mb))
}

#[path = "oracle_cases.rs"]
mod cases;
#[path = "oracle_mmx.rs"]
mod mmx;
