//! x87 instruction semantics: #NM/#MF checks, the register stack (TOP, tags, stack faults),
//! exception bookkeeping (status word, ES/B, C1, masked vs. unmasked responses, FERR#) and the
//! dispatch of every FPU mnemonic. Memory images (FSTENV/FSAVE) live in `env.rs`.

use iced_x86::{Instruction, MemorySize, Mnemonic, OpKind, Register};

use super::arith::{self, Ord3};
use super::conv::{self, Const};
use super::f80::{Ctx, DE, IE, OE, PE, SF, UE, ZE};
use super::quick;
use super::trans::{self, Trig};
use super::{FpuState, F80};
use crate::bus::CpuBus;
use crate::fault::{self, Fault};
use crate::state::{cr0, flags};
use crate::Cpu;

pub const C0: u16 = 0x0100;
pub const C1: u16 = 0x0200;
pub const C2: u16 = 0x0400;
pub const C3: u16 = 0x4000;
pub const ES: u16 = 0x0080;
pub const BUSY: u16 = 0x8000;

impl FpuState {
    #[inline]
    pub fn phys(&self, i: usize) -> usize {
        (self.top as usize + i) & 7
    }
    #[inline]
    pub fn tag_phys(&self, p: usize) -> u16 {
        (self.tw >> (2 * p)) & 3
    }
    #[inline]
    pub fn set_tag_phys(&mut self, p: usize, t: u16) {
        self.tw = (self.tw & !(3 << (2 * p))) | ((t & 3) << (2 * p));
    }
    #[inline]
    pub fn empty(&self, i: usize) -> bool {
        self.tag_phys(self.phys(i)) == 3
    }
    #[inline]
    pub fn st(&self, i: usize) -> F80 {
        self.regs[self.phys(i)]
    }
    /// Write ST(i) and its tag.
    pub fn set_st(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.set_tag_phys(p, v.tag());
    }
    /// Decrement TOP and write the new ST(0).
    pub fn push(&mut self, v: F80) {
        self.top = (self.top.wrapping_sub(1)) & 7;
        self.set_st(0, v);
    }
    pub fn pop(&mut self) {
        let p = self.phys(0);
        self.set_tag_phys(p, 3);
        self.top = (self.top + 1) & 7;
    }
    /// The status word as software sees it (TOP merged in).
    pub fn status(&self) -> u16 {
        (self.sw & !0x3800) | ((self.top as u16 & 7) << 11)
    }
    /// Recompute ES and B from the exception flags and masks.
    pub fn update_es(&mut self) {
        if self.sw & 0x3F & !(self.cw & 0x3F) != 0 {
            self.sw |= ES | BUSY;
        } else {
            self.sw &= !(ES | BUSY);
        }
    }
    /// Set the condition codes C3, C2, C1, C0 (in that order of arguments).
    pub fn set_cc(&mut self, c3: bool, c2: bool, c1: bool, c0: bool) {
        self.sw &= !(C0 | C1 | C2 | C3);
        self.sw |= if c3 { C3 } else { 0 }
            | if c2 { C2 } else { 0 }
            | if c1 { C1 } else { 0 }
            | if c0 { C0 } else { 0 };
    }
    pub fn set_c1(&mut self, on: bool) {
        self.sw = (self.sw & !C1) | if on { C1 } else { 0 };
    }
    /// FNINIT (registers keep their contents).
    pub fn init(&mut self) {
        let regs = self.regs;
        *self = FpuState {
            regs,
            ..FpuState::default()
        };
    }
    /// The full tag word with the non-empty tags recomputed from the register contents.
    pub fn tag_word(&self) -> u16 {
        let mut tw = 0;
        for p in 0..8 {
            let t = if self.tag_phys(p) == 3 {
                3
            } else {
                self.regs[p].tag()
            };
            tw |= t << (2 * p);
        }
        tw
    }
}

/// ST(i) index of an iced x87 register operand.
#[inline]
pub(super) fn sti(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::ST0 as usize) & 7
}

/// Classes of x87 instructions with their own entry (`Cpu::exec_x87_class`): each groups the
/// mnemonics `x87_dispatch` sends to one routine.
pub mod class {
    use iced_x86::Mnemonic::{self, *};

    /// Anything (dispatched on the mnemonic at run time).
    pub const GENERIC: u8 = 0;
    pub const ADD: u8 = 1;
    pub const SUB: u8 = 2;
    pub const SUBR: u8 = 3;
    pub const MUL: u8 = 4;
    pub const DIV: u8 = 5;
    pub const DIVR: u8 = 6;
    pub const CMP: u8 = 7;
    pub const LOAD: u8 = 8;
    pub const STORE: u8 = 9;
    pub const XCH: u8 = 10;
    /// Number of classes.
    pub const COUNT: usize = 11;

    /// The class of an x87 mnemonic (`GENERIC` for those without their own entry).
    pub fn of(m: Mnemonic) -> u8 {
        match m {
            Fadd | Faddp | Fiadd => ADD,
            Fsub | Fsubp | Fisub => SUB,
            Fsubr | Fsubrp | Fisubr => SUBR,
            Fmul | Fmulp | Fimul => MUL,
            Fdiv | Fdivp | Fidiv => DIV,
            Fdivr | Fdivrp | Fidivr => DIVR,
            Fcom | Fcomp | Fcompp | Fucom | Fucomp | Fucompp | Ficom | Ficomp | Ftst | Fcomi
            | Fcomip | Fucomi | Fucomip => CMP,
            Fld | Fild | Fbld => LOAD,
            Fst | Fstp | Fist | Fistp | Fbstp => STORE,
            Fxch => XCH,
            _ => GENERIC,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bin {
    Add,
    Sub,
    SubR,
    Mul,
    Div,
    DivR,
}

impl Cpu {
    /// Rounding/exception context from the control word.
    pub(super) fn fctx(&self) -> Ctx {
        Ctx::from_cw(self.s.fpu.cw)
    }

    /// Merge an operation's exceptions into the status word (C1 from rounding or the stack
    /// fault). Returns false when an unmasked IE/DE/ZE suppresses the result.
    pub(super) fn ffinish(&mut self, ctx: &Ctx) -> bool {
        let f = &mut self.s.fpu;
        f.set_c1(ctx.up && ctx.exc & (PE | SF) as u32 != 0);
        f.sw |= (ctx.exc & 0x7F) as u16;
        f.update_es();
        !ctx.blocked()
    }

    /// A pending unmasked exception at a waiting instruction: #MF, or FERR# when CR0.NE = 0.
    pub(super) fn fpu_pending<B: CpuBus>(&mut self, bus: &mut B) -> Result<(), Fault> {
        if self.s.fpu.sw & ES != 0 {
            if self.s.cr0 & cr0::NE != 0 {
                return Err(Fault::new(fault::MF));
            }
            bus.set_ferr(true);
        }
        Ok(())
    }

    /// FERR# follows ES after instructions that may clear it.
    fn fpu_sync_ferr<B: CpuBus>(&mut self, bus: &mut B) {
        if self.s.fpu.sw & ES == 0 {
            bus.set_ferr(false);
        }
    }

    /// The 11-bit FOP of the current instruction from its bytes (0 if unreadable), for an
    /// instruction decoded without `stash_fop`.
    fn fpu_opcode<B: CpuBus>(&mut self, bus: &mut B) -> u16 {
        let base = self.s.cs().base.wrapping_add(self.start_eip);
        for k in 0..14 {
            let b = match self.read_lin(bus, base.wrapping_add(k), 1) {
                Ok(b) => b as u16,
                Err(_) => return 0,
            };
            if (0xD8..=0xDF).contains(&b) {
                let modrm = self.read_lin(bus, base.wrapping_add(k + 1), 1).unwrap_or(0) as u16;
                return ((b & 7) << 8) | modrm;
            }
        }
        0
    }

    /// Execute one x87 instruction (any FPU mnemonic: FLD..., FWAIT/WAIT included).
    pub(crate) fn exec_x87<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        self.exec_x87_class::<B, { class::GENERIC }>(bus, i)
    }

    /// `exec_x87` for an instruction of class `C` (`class::of`): the dispatch on the mnemonic
    /// is resolved at compile time for all but `class::GENERIC`, so that a translator calling
    /// one entry per class has no indirect branch to mispredict here.
    #[inline(always)]
    pub(crate) fn exec_x87_class<B: CpuBus, const C: u8>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        use Mnemonic::*;
        let m = i.mnemonic();
        let c0 = self.s.cr0;
        if C == class::GENERIC && m == Wait {
            if c0 & (cr0::TS | cr0::MP) == cr0::TS | cr0::MP {
                return Err(Fault::nm());
            }
            return self.fpu_pending(bus);
        }
        if c0 & (cr0::EM | cr0::TS) != 0 {
            return Err(Fault::nm());
        }
        let no_wait = C == class::GENERIC
            && matches!(
                m,
                Fninit | Fnclex | Fnstsw | Fnstcw | Fnstenv | Fnsave | Fneni | Fndisi | Fnsetpm
            );
        if !no_wait {
            self.fpu_pending(bus)?;
        }
        let control = C == class::GENERIC
            && matches!(
                m,
                Fninit
                    | Finit
                    | Fnclex
                    | Fclex
                    | Fldcw
                    | Fnstcw
                    | Fstcw
                    | Fnstsw
                    | Fstsw
                    | Fnstenv
                    | Fstenv
                    | Fldenv
                    | Fnsave
                    | Fsave
                    | Frstor
                    | Fneni
                    | Feni
                    | Fndisi
                    | Fdisi
                    | Fnsetpm
                    | Fsetpm
            );
        match C {
            class::ADD => self.f_bin(bus, i, Bin::Add)?,
            class::SUB => self.f_bin(bus, i, Bin::Sub)?,
            class::SUBR => self.f_bin(bus, i, Bin::SubR)?,
            class::MUL => self.f_bin(bus, i, Bin::Mul)?,
            class::DIV => self.f_bin(bus, i, Bin::Div)?,
            class::DIVR => self.f_bin(bus, i, Bin::DivR)?,
            class::CMP => self.f_cmp(bus, i, m)?,
            class::LOAD => self.f_load(bus, i)?,
            class::STORE => self.f_store(bus, i, m)?,
            class::XCH => self.f_xch(i),
            _ => self.x87_dispatch(bus, i, m)?,
        }
        if !control {
            let fop = match super::stashed_fop(i) {
                Some(f) => f,
                None => self.fpu_opcode(bus),
            };
            let f = &mut self.s.fpu;
            f.fip = self.start_eip;
            f.fcs = self.s.seg[crate::state::SegReg::Cs as usize].selector;
            f.fop = fop & 0x7FF;
            if i.op_count() > 0 && i.op0_kind() == OpKind::Memory {
                let off = self.ea(i);
                let seg = self.mem_seg(i);
                let f = &mut self.s.fpu;
                f.fdp = off;
                f.fds = self.s.seg[seg as usize].selector;
            }
        }
        Ok(())
    }

    fn f_xch(&mut self, i: &Instruction) {
        let k = match i.op_count() {
            2 => sti(i.op1_register()),
            1 => sti(i.op0_register()),
            _ => 1,
        };
        let mut ctx = self.fctx();
        let f = &self.s.fpu;
        let (mut a, mut b) = (f.st(0), f.st(k));
        if f.empty(0) || f.empty(k) {
            ctx.raise(IE | SF);
            if f.empty(0) {
                a = F80::INDEFINITE;
            }
            if f.empty(k) {
                b = F80::INDEFINITE;
            }
        }
        if self.ffinish(&ctx) {
            self.s.fpu.set_st(0, b);
            self.s.fpu.set_st(k, a);
        }
    }

    fn x87_dispatch<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        m: Mnemonic,
    ) -> Result<(), Fault> {
        use Mnemonic::*;
        match m {
            Fadd | Faddp | Fiadd => self.f_bin(bus, i, Bin::Add),
            Fsub | Fsubp | Fisub => self.f_bin(bus, i, Bin::Sub),
            Fsubr | Fsubrp | Fisubr => self.f_bin(bus, i, Bin::SubR),
            Fmul | Fmulp | Fimul => self.f_bin(bus, i, Bin::Mul),
            Fdiv | Fdivp | Fidiv => self.f_bin(bus, i, Bin::Div),
            Fdivr | Fdivrp | Fidivr => self.f_bin(bus, i, Bin::DivR),
            Fcom | Fcomp | Fcompp | Fucom | Fucomp | Fucompp | Ficom | Ficomp | Ftst | Fcomi
            | Fcomip | Fucomi | Fucomip => self.f_cmp(bus, i, m),
            Fld | Fild | Fbld => self.f_load(bus, i),
            Fld1 | Fldl2t | Fldl2e | Fldpi | Fldlg2 | Fldln2 | Fldz => {
                let c = match m {
                    Fld1 => Const::One,
                    Fldl2t => Const::L2T,
                    Fldl2e => Const::L2E,
                    Fldpi => Const::Pi,
                    Fldlg2 => Const::Lg2,
                    Fldln2 => Const::Ln2,
                    _ => Const::Zero,
                };
                let v = conv::constant(c, ((self.s.fpu.cw >> 10) & 3) as u8);
                self.f_push(v, Ctx::from_cw(self.s.fpu.cw));
                Ok(())
            }
            Fst | Fstp | Fist | Fistp | Fbstp => self.f_store(bus, i, m),
            Fxch => {
                self.f_xch(i);
                Ok(())
            }
            Fcmovb | Fcmovbe | Fcmove | Fcmovnb | Fcmovnbe | Fcmovne | Fcmovnu | Fcmovu => {
                let fl = self.s.eflags;
                let (cf, zf, pf) = (
                    fl & flags::CF != 0,
                    fl & flags::ZF != 0,
                    fl & flags::PF != 0,
                );
                let cond = match m {
                    Fcmovb => cf,
                    Fcmovnb => !cf,
                    Fcmove => zf,
                    Fcmovne => !zf,
                    Fcmovbe => cf || zf,
                    Fcmovnbe => !(cf || zf),
                    Fcmovu => pf,
                    _ => !pf,
                };
                let k = sti(i.op1_register());
                let mut ctx = self.fctx();
                let f = &self.s.fpu;
                if f.empty(0) || f.empty(k) {
                    ctx.raise(IE | SF);
                    if self.ffinish(&ctx) {
                        self.s.fpu.set_st(0, F80::INDEFINITE);
                    }
                } else {
                    let v = f.st(k);
                    self.s.fpu.set_c1(false);
                    if cond {
                        self.s.fpu.set_st(0, v);
                    }
                }
                Ok(())
            }
            Fchs | Fabs => {
                self.f_unary(|_, a| if m == Fchs { a.neg() } else { a.abs() });
                Ok(())
            }
            Fsqrt => {
                self.f_unary(arith::sqrt);
                Ok(())
            }
            Frndint => {
                self.f_unary(arith::rndint);
                Ok(())
            }
            F2xm1 => {
                self.f_unary(trans::f2xm1);
                Ok(())
            }
            Fsin | Fcos | Fsincos | Fptan => {
                self.f_trig(m);
                Ok(())
            }
            Fscale => {
                self.f_st0_st1(|c, a, b| arith::scale(c, a, b), false);
                Ok(())
            }
            Fpatan => {
                self.f_st0_st1(|c, x, y| trans::fpatan(c, y, x), true);
                Ok(())
            }
            Fyl2x => {
                self.f_st0_st1(|c, x, y| trans::fyl2x(c, y, x), true);
                Ok(())
            }
            Fyl2xp1 => {
                self.f_st0_st1(|c, x, y| trans::fyl2xp1(c, y, x), true);
                Ok(())
            }
            Fprem | Fprem1 => {
                self.f_prem(m == Fprem1);
                Ok(())
            }
            Fxtract => {
                self.f_xtract();
                Ok(())
            }
            Fxam => {
                let f = &mut self.s.fpu;
                let v = f.st(0);
                let sign = v.sign();
                use super::f80::Class;
                let (c3, c2, c0) = if f.empty(0) {
                    (true, false, true)
                } else {
                    match v.class() {
                        Class::Unsupported => (false, false, false),
                        Class::QNaN | Class::SNaN => (false, false, true),
                        Class::Normal => (false, true, false),
                        Class::Inf => (false, true, true),
                        Class::Zero => (true, false, false),
                        Class::Denormal | Class::PseudoDenormal => (true, true, false),
                    }
                };
                f.set_cc(c3, c2, sign, c0);
                Ok(())
            }
            Ffree | Ffreep => {
                let k = sti(i.op0_register());
                let f = &mut self.s.fpu;
                let p = f.phys(k);
                f.set_tag_phys(p, 3);
                if m == Ffreep {
                    f.pop();
                }
                Ok(())
            }
            Fincstp | Fdecstp => {
                let f = &mut self.s.fpu;
                f.top = if m == Fincstp {
                    f.top + 1
                } else {
                    f.top.wrapping_sub(1)
                } & 7;
                f.set_c1(false);
                Ok(())
            }
            Fnop | Fneni | Feni | Fndisi | Fdisi | Fnsetpm | Fsetpm => Ok(()),
            Fninit | Finit => {
                self.s.fpu.init();
                self.fpu_sync_ferr(bus);
                Ok(())
            }
            Fnclex | Fclex => {
                self.s.fpu.sw &= !(0x7F | ES | BUSY);
                self.fpu_sync_ferr(bus);
                Ok(())
            }
            Fldcw => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                let v = self.read_mem(bus, seg, off, 2)? as u16;
                let f = &mut self.s.fpu;
                f.cw = (v & 0x1F7F) | 0x40;
                f.update_es();
                self.fpu_sync_ferr(bus);
                Ok(())
            }
            Fnstcw | Fstcw => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                self.write_mem(bus, seg, off, 2, self.s.fpu.cw as u32)
            }
            Fnstsw | Fstsw => {
                let sw = self.s.fpu.status() as u32;
                if i.op0_kind() == OpKind::Register {
                    self.set_reg(Register::AX, sw);
                    Ok(())
                } else {
                    let seg = self.mem_seg(i);
                    let off = self.ea(i);
                    self.write_mem(bus, seg, off, 2, sw)
                }
            }
            Fnstenv | Fstenv => self.f_stenv(bus, i),
            Fldenv => {
                self.f_ldenv(bus, i)?;
                self.fpu_sync_ferr(bus);
                Ok(())
            }
            Fnsave | Fsave => self.f_save(bus, i),
            Frstor => {
                self.f_rstor(bus, i)?;
                self.fpu_sync_ferr(bus);
                Ok(())
            }
            _ => Err(Fault::ud()),
        }
    }

    /// Push `v` (stack overflow check: ST(7) must be empty). Exceptions already in `ctx`.
    #[inline]
    pub(super) fn f_push(&mut self, v: F80, mut ctx: Ctx) {
        let mut v = v;
        if !self.s.fpu.empty(7) {
            ctx.raise(IE | SF);
            ctx.up = true;
            v = F80::INDEFINITE;
        }
        // Loads complete despite an unmasked DE (measured); only IE suppresses them.
        let ok = self.ffinish(&ctx);
        if ok || ctx.exc & IE as u32 & !ctx.mask == 0 {
            self.s.fpu.push(v);
        }
    }

    /// Read the memory operand of an arithmetic/load instruction and convert it.
    fn f_read_operand<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        ctx: &mut Ctx,
    ) -> Result<F80, Fault> {
        let seg = self.mem_seg(i);
        let off = self.ea(i);
        Ok(match i.memory_size() {
            MemorySize::Float32 => conv::from_f32(ctx, self.read_mem(bus, seg, off, 4)?),
            MemorySize::Float64 => conv::from_f64(ctx, self.read_u64(bus, seg, off)?),
            MemorySize::Float80 => {
                let b = self.read_bytes::<B, 10>(bus, seg, off)?;
                F80 {
                    mant: u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
                    se: u16::from_le_bytes([b[8], b[9]]),
                }
            }
            MemorySize::Int16 => {
                conv::from_i64(self.read_mem(bus, seg, off, 2)? as u16 as i16 as i64)
            }
            MemorySize::Int32 => conv::from_i64(self.read_mem(bus, seg, off, 4)? as i32 as i64),
            MemorySize::Int64 => conv::from_i64(self.read_u64(bus, seg, off)? as i64),
            MemorySize::Bcd => conv::from_bcd(&self.read_bytes::<B, 10>(bus, seg, off)?),
            _ => return Err(Fault::ud()),
        })
    }

    #[inline(always)]
    fn f_bin<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction, op: Bin) -> Result<(), Fault> {
        let mut ctx = self.fctx();
        let pop = matches!(
            i.mnemonic(),
            Mnemonic::Faddp
                | Mnemonic::Fsubp
                | Mnemonic::Fsubrp
                | Mnemonic::Fmulp
                | Mnemonic::Fdivp
                | Mnemonic::Fdivrp
        );
        let (dst, a, b, empty) = if i.op_count() == 1 && i.op0_kind() == OpKind::Memory {
            let b = self.f_read_operand(bus, i, &mut ctx)?;
            let f = &self.s.fpu;
            (0, f.st(0), b, f.empty(0))
        } else {
            let (d, s) = if i.op_count() >= 2 {
                (sti(i.op0_register()), sti(i.op1_register()))
            } else {
                (1, 0)
            };
            let f = &self.s.fpu;
            (d, f.st(d), f.st(s), f.empty(d) || f.empty(s))
        };
        self.f_bin_vals(ctx, op, dst, a, b, empty, pop);
        Ok(())
    }

    /// `f_bin` once its operands are read: `a` op `b` into ST(`dst`), popping if `pop`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn f_bin_vals(
        &mut self,
        mut ctx: Ctx,
        op: Bin,
        dst: usize,
        a: F80,
        b: F80,
        empty: bool,
        pop: bool,
    ) {
        let r = if empty {
            ctx.exc = (IE | SF) as u32;
            ctx.up = false;
            F80::INDEFINITE
        } else {
            match op {
                Bin::Add => arith::add(&mut ctx, a, b),
                Bin::Sub => arith::sub(&mut ctx, a, b),
                Bin::SubR => arith::sub(&mut ctx, b, a),
                Bin::Mul => arith::mul(&mut ctx, a, b),
                Bin::Div => arith::div(&mut ctx, a, b),
                Bin::DivR => arith::div(&mut ctx, b, a),
            }
        };
        if self.ffinish(&ctx) {
            self.s.fpu.set_st(dst, r);
            if pop {
                self.s.fpu.pop();
            }
        }
    }

    fn f_cmp<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction, m: Mnemonic) -> Result<(), Fault> {
        use Mnemonic::*;
        let mut ctx = self.fctx();
        let quiet = matches!(m, Fucom | Fucomp | Fucompp | Fucomi | Fucomip);
        let pops = match m {
            Fcomp | Fucomp | Ficomp | Fcomip | Fucomip => 1,
            Fcompp | Fucompp => 2,
            _ => 0,
        };
        let (b, b_empty) = if m == Ftst {
            (F80::ZERO, false)
        } else if i.op_count() >= 1 && i.op0_kind() == OpKind::Memory {
            (self.f_read_operand(bus, i, &mut ctx)?, false)
        } else {
            let k = match i.op_count() {
                0 => 1,
                1 => sti(i.op0_register()),
                _ => sti(i.op1_register()),
            };
            (self.s.fpu.st(k), self.s.fpu.empty(k))
        };
        self.f_cmp_vals(
            ctx,
            quiet,
            pops,
            matches!(m, Fcomi | Fcomip | Fucomi | Fucomip),
            b,
            b_empty,
        );
        Ok(())
    }

    /// `f_cmp` once its operand `b` is read: ST(0) against it, into C0/C2/C3 (EFLAGS if
    /// `to_eflags`), then `pops` pops.
    #[inline(always)]
    fn f_cmp_vals(
        &mut self,
        mut ctx: Ctx,
        quiet: bool,
        pops: u32,
        to_eflags: bool,
        b: F80,
        b_empty: bool,
    ) {
        let a = self.s.fpu.st(0);
        let ord = if b_empty || self.s.fpu.empty(0) {
            ctx.exc = (IE | SF) as u32;
            ctx.up = false;
            Ord3::Unordered
        } else {
            ctx.up = false;
            arith::compare(&mut ctx, a, b, quiet)
        };
        let (z, p, c) = match ord {
            Ord3::Greater => (false, false, false),
            Ord3::Less => (false, false, true),
            Ord3::Equal => (true, false, false),
            Ord3::Unordered => (true, true, true),
        };
        let ok = self.ffinish(&ctx);
        if to_eflags {
            if ok {
                let fl = &mut self.s.eflags;
                *fl &= !(flags::OF | flags::SF | flags::AF | flags::ZF | flags::PF | flags::CF);
                *fl |= if z { flags::ZF } else { 0 }
                    | if p { flags::PF } else { 0 }
                    | if c { flags::CF } else { 0 };
            }
        } else {
            let c1 = self.s.fpu.sw & C1 != 0;
            self.s.fpu.set_cc(z, p, c1, c);
        }
        if ok {
            for _ in 0..pops {
                self.s.fpu.pop();
            }
        }
    }

    #[inline]
    fn f_load<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let mut ctx = self.fctx();
        ctx.up = false;
        let v = if i.op0_kind() == OpKind::Memory {
            let v = self.f_read_operand(bus, i, &mut ctx)?;
            if ctx.den {
                ctx.raise(DE);
            }
            if v.class() == super::f80::Class::SNaN && i.memory_size() != MemorySize::Float80 {
                ctx.raise(IE);
                v.quiet()
            } else {
                v
            }
        } else {
            let k = sti(i.op0_register());
            if self.s.fpu.empty(k) {
                ctx.raise(IE | SF);
                F80::INDEFINITE
            } else {
                self.s.fpu.st(k)
            }
        };
        self.f_push(v, ctx);
        Ok(())
    }

    fn f_store<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        m: Mnemonic,
    ) -> Result<(), Fault> {
        use Mnemonic::*;
        let pop = matches!(m, Fstp | Fistp | Fbstp);
        let mut ctx = self.fctx();
        ctx.up = false;
        let empty = self.s.fpu.empty(0);
        let v = self.s.fpu.st(0);
        if i.op0_kind() == OpKind::Register {
            let k = sti(i.op0_register());
            let v = if empty {
                ctx.raise(IE | SF);
                F80::INDEFINITE
            } else {
                v
            };
            if self.ffinish(&ctx) {
                self.s.fpu.set_st(k, v);
                if pop {
                    self.s.fpu.pop();
                }
            }
            return Ok(());
        }
        if empty {
            ctx.raise(IE | SF);
        }
        let seg = self.mem_seg(i);
        let off = self.ea(i);
        let ms = i.memory_size();
        // The memory image (no allocation: this runs for every FST/FIST to memory).
        let mut buf = [0u8; 10];
        let mut put = |b: &[u8]| {
            buf[..b.len()].copy_from_slice(b);
            b.len()
        };
        let len = match ms {
            MemorySize::Float32 => {
                let r = if empty {
                    0xFFC0_0000
                } else {
                    conv::to_f32(&mut ctx, v)
                };
                put(&r.to_le_bytes())
            }
            MemorySize::Float64 => {
                let r = if empty {
                    0xFFF8_0000_0000_0000
                } else {
                    conv::to_f64(&mut ctx, v)
                };
                put(&r.to_le_bytes())
            }
            MemorySize::Float80 => {
                let r = if empty { F80::INDEFINITE } else { v };
                put(&r.mant.to_le_bytes());
                buf[8..10].copy_from_slice(&r.se.to_le_bytes());
                10
            }
            MemorySize::Int16 | MemorySize::Int32 | MemorySize::Int64 => {
                let bits = ms.size() as u32 * 8;
                let r = if empty {
                    None
                } else {
                    conv::to_int(&mut ctx, v, bits)
                };
                let r = r.unwrap_or(i64::MIN >> (64 - bits)) as u64;
                put(&r.to_le_bytes()[..ms.size()])
            }
            MemorySize::Bcd => {
                let r = if empty {
                    None
                } else {
                    conv::to_bcd(&mut ctx, v)
                };
                put(&r.unwrap_or([0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF]))
            }
            _ => return Err(Fault::ud()),
        };
        let bytes = &buf[..len];
        let unmasked = ctx.exc & (IE | OE | UE | DE | ZE) as u32 & !ctx.mask != 0;
        if !unmasked {
            // Store first (it may fault, leaving the FPU untouched), then commit the status.
            self.write_bytes(bus, seg, off, bytes)?;
        }
        self.ffinish(&ctx);
        if !unmasked && pop {
            self.s.fpu.pop();
        }
        Ok(())
    }

    /// ST(0) = f(ST(0)) with the usual underflow handling.
    fn f_unary(&mut self, op: impl FnOnce(&mut Ctx, F80) -> F80) {
        let mut ctx = self.fctx();
        ctx.up = false;
        let r = if self.s.fpu.empty(0) {
            ctx.raise(IE | SF);
            F80::INDEFINITE
        } else {
            op(&mut ctx, self.s.fpu.st(0))
        };
        if self.ffinish(&ctx) {
            self.s.fpu.set_st(0, r);
        }
    }

    /// ST(0) = f(ST(0), ST(1)) (FSCALE), or ST(1) = f(ST(0), ST(1)) and pop (FPATAN, FYL2X…).
    fn f_st0_st1(&mut self, op: impl FnOnce(&mut Ctx, F80, F80) -> F80, into_st1: bool) {
        let mut ctx = self.fctx();
        ctx.up = false;
        let f = &self.s.fpu;
        let r = if f.empty(0) || f.empty(1) {
            ctx.raise(IE | SF);
            F80::INDEFINITE
        } else {
            op(&mut ctx, f.st(0), f.st(1))
        };
        if self.ffinish(&ctx) {
            if into_st1 {
                self.s.fpu.set_st(1, r);
                self.s.fpu.pop();
            } else {
                self.s.fpu.set_st(0, r);
            }
        }
    }

    fn f_prem(&mut self, ieee: bool) {
        let mut ctx = self.fctx().full();
        ctx.up = false;
        let f = &self.s.fpu;
        if f.empty(0) || f.empty(1) {
            ctx.raise(IE | SF);
            if self.ffinish(&ctx) {
                self.s.fpu.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        let r = arith::rem(&mut ctx, f.st(0), f.st(1), ieee);
        let ok = self.ffinish(&ctx);
        if ok {
            let f = &mut self.s.fpu;
            f.set_st(0, r.val);
            if r.incomplete {
                let sw = f.sw;
                f.set_cc(sw & C3 != 0, true, sw & C1 != 0, sw & C0 != 0);
            } else {
                f.set_cc(r.q & 2 != 0, false, r.q & 1 != 0, r.q & 4 != 0);
            }
        }
    }

    fn f_xtract(&mut self) {
        let mut ctx = self.fctx();
        ctx.up = false;
        let f = &self.s.fpu;
        if f.empty(0) {
            ctx.raise(IE | SF);
            if self.ffinish(&ctx) {
                self.s.fpu.set_st(0, F80::INDEFINITE);
                self.s.fpu.push(F80::INDEFINITE);
            }
            return;
        }
        if !f.empty(7) {
            ctx.raise(IE | SF);
            ctx.up = true;
            if self.ffinish(&ctx) {
                self.s.fpu.set_st(0, F80::INDEFINITE);
                self.s.fpu.push(F80::INDEFINITE);
            }
            return;
        }
        let (e, s) = arith::xtract(&mut ctx, f.st(0));
        if self.ffinish(&ctx) {
            self.s.fpu.set_st(0, e);
            self.s.fpu.push(s);
        }
    }

    fn f_trig(&mut self, m: Mnemonic) {
        let mut ctx = self.fctx().full();
        ctx.up = false;
        let pushes = matches!(m, Mnemonic::Fsincos | Mnemonic::Fptan);
        let f = &self.s.fpu;
        if f.empty(0) || (pushes && !f.empty(7)) {
            let over = !f.empty(0);
            ctx.raise(IE | SF);
            ctx.up = over;
            if self.ffinish(&ctx) {
                self.s.fpu.set_st(0, F80::INDEFINITE);
                if pushes {
                    self.s.fpu.push(F80::INDEFINITE);
                }
            }
            self.s.fpu.sw &= !C2;
            return;
        }
        let a = f.st(0);
        let r = match m {
            Mnemonic::Fsin => trans::fsin(&mut ctx, a),
            Mnemonic::Fcos => trans::fcos(&mut ctx, a),
            Mnemonic::Fsincos => trans::fsincos(&mut ctx, a),
            _ => trans::fptan(&mut ctx, a),
        };
        match r {
            Trig::OutOfRange => {
                self.s.fpu.sw |= C2;
            }
            Trig::Done(v, second) => {
                if self.ffinish(&ctx) {
                    self.s.fpu.set_st(0, v);
                    if let Some(s2) = second {
                        self.s.fpu.push(s2);
                    }
                }
                self.s.fpu.sw &= !C2;
            }
        }
    }
}

/// Register-operand arithmetic and compares for translated code without the per-instruction
/// dispatch: [`rr_code`] packs, at translation time, what `f_bin` / `f_cmp` take from the
/// instruction, and [`Cpu::x87_rr`] runs it.
pub mod rr {
    /// Operation (bits 0-2): the `f_bin` operations in order, then a compare.
    pub const CMP: u32 = 6;
    /// Bit 3: an unordered compare (FUCOM*).
    pub const QUIET: u32 = 1 << 3;
}

/// The packed form of a register-operand FADD/FSUB(R)/FMUL/FDIV(R)(P) or FCOM(P)(P) /
/// FUCOM(P)(P) for [`Cpu::x87_rr`], if `i` is one (and `stash_fop` kept its FOP): operation
/// and QUIET (bits 0-3), destination ST index (4-6), source ST index (8-10), pops (12-13),
/// FOP (16-26).
pub fn rr_code(i: &Instruction) -> Option<u32> {
    use Mnemonic::*;
    let fop = super::stashed_fop(i)? as u32 & 0x7FF;
    let m = i.mnemonic();
    let regs = (0..i.op_count()).all(|n| i.op_kind(n) == OpKind::Register);
    if !regs {
        return None;
    }
    let (op, pops) = match m {
        Fadd | Faddp => (0, (m == Faddp) as u32),
        Fsub | Fsubp => (1, (m == Fsubp) as u32),
        Fsubr | Fsubrp => (2, (m == Fsubrp) as u32),
        Fmul | Fmulp => (3, (m == Fmulp) as u32),
        Fdiv | Fdivp => (4, (m == Fdivp) as u32),
        Fdivr | Fdivrp => (5, (m == Fdivrp) as u32),
        Fcom | Fucom => (rr::CMP, 0),
        Fcomp | Fucomp => (rr::CMP, 1),
        Fcompp | Fucompp => (rr::CMP, 2),
        _ => return None,
    };
    let quiet = if matches!(m, Fucom | Fucomp | Fucompp) {
        rr::QUIET
    } else {
        0
    };
    let (d, s) = if op == rr::CMP {
        // (`f_cmp`: the operand is the last one, ST(1) if none.)
        let k = match i.op_count() {
            0 => 1,
            1 => sti(i.op0_register()),
            _ => sti(i.op1_register()),
        };
        (0, k)
    } else {
        match i.op_count() {
            0 => (1, 0),
            2 => (sti(i.op0_register()), sti(i.op1_register())),
            _ => return None,
        }
    };
    Some(op | quiet | (d as u32) << 4 | (s as u32) << 8 | pops << 12 | fop << 16)
}

/// The control word bits `x87_rr_quick` needs (precision control, rounding control and the
/// exception masks) and their values there: 64-bit precision, nearest, all masked.
const QUICK_CW_MASK: u16 = 0x0F3F;
const QUICK_CW: u16 = 0x033F;

impl Cpu {
    /// Execute the instruction `code` (`rr_code`) at `ip` as `exec_x87_translated` would,
    /// but for retiring it and moving EIP (the caller does both), when that cannot fault:
    /// CR0.EM/TS clear, no pending exception (ES clear) and an x87 fitted. Returns false
    /// (having changed nothing) otherwise.
    pub fn x87_rr(&mut self, code: u32, ip: u32) -> bool {
        if self.s.cr0 & (cr0::EM | cr0::TS) != 0
            || self.s.fpu.sw & ES != 0
            || !self.s.model.is_386_plus()
        {
            return false;
        }
        if self.s.fpu.cw & QUICK_CW_MASK == QUICK_CW && self.x87_rr_quick(code) {
            self.x87_rr_note(code, ip);
            return true;
        }
        let ctx = self.fctx();
        let (d, s) = (((code >> 4) & 7) as usize, ((code >> 8) & 7) as usize);
        let pops = (code >> 12) & 3;
        let op = match code & 7 {
            0 => Bin::Add,
            1 => Bin::Sub,
            2 => Bin::SubR,
            3 => Bin::Mul,
            4 => Bin::Div,
            5 => Bin::DivR,
            _ => {
                let f = &self.s.fpu;
                let (b, b_empty) = (f.st(s), f.empty(s));
                self.f_cmp_vals(ctx, code & rr::QUIET != 0, pops, false, b, b_empty);
                self.x87_rr_note(code, ip);
                return true;
            }
        };
        let f = &self.s.fpu;
        let (a, b, empty) = (f.st(d), f.st(s), f.empty(d) || f.empty(s));
        self.f_bin_vals(ctx, op, d, a, b, empty, pops != 0);
        self.x87_rr_note(code, ip);
        true
    }

    /// `x87_rr` in the common case (`quick`), under a control word of 64-bit precision,
    /// round to nearest and every exception masked: ADD, SUB(R), MUL and compares of two
    /// normal operands with a result inside the exponent range. Returns false (having changed
    /// nothing) otherwise.
    #[inline(always)]
    fn x87_rr_quick(&mut self, code: u32) -> bool {
        let f = &mut self.s.fpu;
        let (pd, ps) = (
            f.phys(((code >> 4) & 7) as usize),
            f.phys(((code >> 8) & 7) as usize),
        );
        let (a, b) = (f.regs[pd], f.regs[ps]);
        if f.tag_phys(pd) == 3 || f.tag_phys(ps) == 3 || !a.is_normal() || !b.is_normal() {
            return false;
        }
        let pops = (code >> 12) & 3;
        let q = match code & 7 {
            0 => quick::add(a, b),
            1 => quick::add(a, b.neg()),
            2 => quick::add(b, a.neg()),
            3 => quick::mul(a, b),
            rr::CMP => {
                // ST(0) (pd) against ST(k): C3 C2 C0 from the ordering, C1 clear.
                let (z, c) = match quick::cmp(a, b) {
                    0 => (true, false),
                    o => (false, o < 0),
                };
                f.set_cc(z, false, false, c);
                f.sw &= !(ES | BUSY);
                for _ in 0..pops {
                    f.pop();
                }
                return true;
            }
            _ => None,
        };
        let Some(q) = q else {
            return false;
        };
        // As `ffinish` (every exception masked: ES and B clear), `set_st` and `pop`.
        f.set_c1(q.up);
        f.sw |= if q.pe { PE } else { 0 };
        f.sw &= !(ES | BUSY);
        f.regs[pd] = q.v;
        f.set_tag_phys(pd, q.v.tag());
        if pops != 0 {
            f.pop();
        }
        true
    }

    /// FIP, FCS and FOP after `x87_rr` (as `exec_x87_class`; no memory operand: FDP stays).
    fn x87_rr_note(&mut self, code: u32, ip: u32) {
        let cs = self.s.seg[crate::state::SegReg::Cs as usize].selector;
        let f = &mut self.s.fpu;
        f.fip = ip;
        f.fcs = cs;
        f.fop = (code >> 16) as u16 & 0x7FF;
    }
}
