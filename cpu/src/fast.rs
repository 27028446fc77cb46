//! Pre-classified fast paths for the most frequent instruction forms (register/immediate
//! moves and ALU operations, near jumps). A block stores each instruction's `Fast` form next to
//! it, so the hot loop skips the generic operand machinery; every other form runs through
//! `Cpu::execute`. The semantics are the generic ones (same flag helpers), only shorter.

use iced_x86::{ConditionCode, Instruction, Mnemonic, OpKind, Register};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::operand::{addr32, seg_of};
use crate::ops::alu::AluOp;
use crate::state::SegReg;
use crate::Cpu;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Fast {
    Generic,
    MovRR {
        d: u8,
        s: u8,
        sz: u8,
    },
    MovRI {
        d: u8,
        sz: u8,
        imm: u32,
    },
    MovRM {
        d: u8,
        sz: u8,
        m: MemOp,
    },
    MovMR {
        s: u8,
        sz: u8,
        m: MemOp,
    },
    AluRR {
        op: u8,
        d: u8,
        s: u8,
        sz: u8,
    },
    AluRI {
        op: u8,
        d: u8,
        sz: u8,
        imm: u32,
    },
    CmpRR {
        d: u8,
        s: u8,
        sz: u8,
    },
    CmpRI {
        d: u8,
        sz: u8,
        imm: u32,
    },
    TestRR {
        d: u8,
        s: u8,
        sz: u8,
    },
    IncDec {
        d: u8,
        sz: u8,
        inc: bool,
    },
    /// Jcc: taken when `(flags' & mask != 0) != neg`, where flags' is EFLAGS with SF != OF
    /// in bit 31 (see `cond_flags`).
    Jcc {
        mask: u32,
        neg: bool,
        target: u32,
    },
    Jmp {
        target: u32,
    },
    /// MOV r/m, imm with a memory destination (any size).
    MovMI {
        sz: u8,
        imm: u32,
        m: MemOp,
    },
    /// MOVZX/MOVSX r16/32, r16 (register source).
    MovxR {
        d: u8,
        dsz: u8,
        s: u8,
        signed: bool,
    },
    /// MOVZX/MOVSX r16/32, m8 or m16.
    MovxM {
        d: u8,
        dsz: u8,
        ssz: u8,
        signed: bool,
        m: MemOp,
    },
    /// SHL/SHR/SAR/ROL/ROR r, imm8 or 1 (count already masked, nonzero).
    ShiftRI {
        kind: u8,
        d: u8,
        sz: u8,
        count: u8,
    },
    /// ALU r, [mem].
    AluRM {
        op: u8,
        d: u8,
        sz: u8,
        m: MemOp,
    },
    /// CMP r, [mem] / CMP [mem], r / CMP [mem], imm (`rev`: memory is the first operand;
    /// `has_imm`: compare with `imm`, not register `r`).
    CmpM {
        r: u8,
        sz: u8,
        has_imm: bool,
        rev: bool,
        imm: u32,
        m: MemOp,
    },
    Lea {
        d: u8,
        sz: u8,
        m: MemOp,
    },
    PushR {
        s: u8,
        sz: u8,
    },
    PopR {
        d: u8,
        sz: u8,
    },
    // The forms below are built only by `elide_dead_flags`: the same operation without its
    // status-flag results, which a later instruction of the block overwrites unread.
    /// AluRR computing only the result.
    AluRRNf {
        op: u8,
        d: u8,
        s: u8,
        sz: u8,
    },
    /// AluRI computing only the result.
    AluRINf {
        op: u8,
        d: u8,
        sz: u8,
        imm: u32,
    },
    /// AluRM computing only the result.
    AluRMNf {
        op: u8,
        d: u8,
        sz: u8,
        m: MemOp,
    },
    /// IncDec computing only the result.
    IncDecNf {
        d: u8,
        sz: u8,
        inc: bool,
    },
    /// ShiftRI computing only the result.
    ShiftRINf {
        kind: u8,
        d: u8,
        sz: u8,
        count: u8,
    },
    /// A register-only CMP/TEST whose flags are all dead: nothing to do.
    Nop,
    // Fused pairs, built only by `fuse_tail`: a register-only flag-writing instruction and the
    // Jcc ending the block, in one dispatch (two retired instructions).
    CmpRIJ {
        d: u8,
        sz: u8,
        imm: u32,
        j: JccOp,
    },
    CmpRRJ {
        d: u8,
        s: u8,
        sz: u8,
        j: JccOp,
    },
    TestRRJ {
        d: u8,
        s: u8,
        sz: u8,
        j: JccOp,
    },
    IncDecJ {
        d: u8,
        sz: u8,
        inc: bool,
        j: JccOp,
    },
    AluRIJ {
        op: u8,
        d: u8,
        sz: u8,
        imm: u32,
        j: JccOp,
    },
    AluRRJ {
        op: u8,
        d: u8,
        s: u8,
        sz: u8,
        j: JccOp,
    },
    ShiftRIJ {
        kind: u8,
        d: u8,
        sz: u8,
        count: u8,
        j: JccOp,
    },
}

/// The Jcc of a fused pair: taken as `Fast::Jcc`; `fall` is the EIP after it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JccOp {
    mask: u32,
    target: u32,
    fall: u32,
    neg: bool,
}

/// Fuse a block's last two forms when they are a register-only flag-writing form and a Jcc
/// (`fall`: EIP after the Jcc). Returns the Jcc's target if they were fused: the pair then
/// sits in the next-to-last form, runs as one (two instructions retired), and the block may
/// only run if that target is inside the CS limit (a Jcc past the limit faults; see
/// `Block::need_limit`) and only whole.
pub(crate) fn fuse_tail(forms: &mut [Fast], fall: u32) -> Option<u32> {
    let n = forms.len();
    if n < 2 {
        return None;
    }
    let Fast::Jcc { mask, neg, target } = forms[n - 1] else {
        return None;
    };
    let j = JccOp {
        mask,
        target,
        fall,
        neg,
    };
    forms[n - 2] = match forms[n - 2] {
        Fast::CmpRI { d, sz, imm } => Fast::CmpRIJ { d, sz, imm, j },
        Fast::CmpRR { d, s, sz } => Fast::CmpRRJ { d, s, sz, j },
        Fast::TestRR { d, s, sz } => Fast::TestRRJ { d, s, sz, j },
        Fast::IncDec { d, sz, inc } => Fast::IncDecJ { d, sz, inc, j },
        Fast::AluRI { op, d, sz, imm } => Fast::AluRIJ { op, d, sz, imm, j },
        Fast::AluRR { op, d, s, sz } => Fast::AluRRJ { op, d, s, sz, j },
        Fast::ShiftRI { kind, d, sz, count } => Fast::ShiftRIJ {
            kind,
            d,
            sz,
            count,
            j,
        },
        _ => return None,
    };
    Some(target)
}

impl Fast {
    /// (status flags read, status flags written, may fault or leave the block) of a form.
    /// Generic instructions count as reading everything and faulting.
    fn flag_effect(&self) -> (u32, u32, bool) {
        use crate::state::flags::*;
        let carry = |op: u8| {
            if matches!(OPS[op as usize], AluOp::Adc | AluOp::Sbb) {
                CF
            } else {
                0
            }
        };
        match *self {
            Fast::MovRR { .. } | Fast::MovRI { .. } | Fast::MovxR { .. } | Fast::Lea { .. } => {
                (0, 0, false)
            }
            Fast::AluRR { op, .. } | Fast::AluRI { op, .. } => (carry(op), STATUS, false),
            Fast::CmpRR { .. } | Fast::CmpRI { .. } | Fast::TestRR { .. } => (0, STATUS, false),
            Fast::AluRM { op, .. } => (carry(op), STATUS, true),
            Fast::IncDec { .. } => (0, STATUS & !CF, false),
            // ROL/ROR keep SF, ZF, PF and AF.
            Fast::ShiftRI { kind, .. } => (0, if kind >= 3 { CF | OF } else { STATUS }, false),
            _ => (STATUS, 0, true),
        }
    }

    /// The form without status-flag results (`self` if it has none).
    fn without_flags(self) -> Fast {
        match self {
            Fast::AluRR { op, d, s, sz } => Fast::AluRRNf { op, d, s, sz },
            Fast::AluRI { op, d, sz, imm } => Fast::AluRINf { op, d, sz, imm },
            Fast::AluRM { op, d, sz, m } => Fast::AluRMNf { op, d, sz, m },
            Fast::IncDec { d, sz, inc } => Fast::IncDecNf { d, sz, inc },
            Fast::ShiftRI { kind, d, sz, count } => Fast::ShiftRINf { kind, d, sz, count },
            Fast::CmpRR { .. } | Fast::CmpRI { .. } | Fast::TestRR { .. } => Fast::Nop,
            f => f,
        }
    }
}

/// Dead flag elimination over a block's fast forms: an instruction whose status-flag results
/// are all overwritten by later instructions of the block before anything reads them, and
/// before anything that may fault or leave the block (memory accesses, branches, generic
/// forms), gets its flag-less form. EFLAGS is therefore exact wherever an exception can be
/// delivered and at the block's end; a run that stops inside the block must not use these
/// forms (see `Block::elided`). Returns whether any form changed.
pub(crate) fn elide_dead_flags(forms: &mut [Fast]) -> bool {
    use crate::state::flags::STATUS;
    let mut live = STATUS; // at the end of the block
    let mut any = false;
    for f in forms.iter_mut().rev() {
        let (r, w, fault) = f.flag_effect();
        if w != 0 && live & w == 0 {
            *f = f.without_flags();
            any = true;
        }
        live = if fault { STATUS } else { (live & !w) | r };
    }
    any
}

/// a `op` b without flags (masked by `gpr_set`).
#[inline(always)]
fn alu_nf(op: u8, a: u32, b: u32, cf: u32) -> u32 {
    match OPS[op as usize] {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Adc => a.wrapping_add(b).wrapping_add(cf),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Sbb => a.wrapping_sub(b).wrapping_sub(cf),
        AluOp::And => a & b,
        AluOp::Or => a | b,
        AluOp::Xor => a ^ b,
    }
}

/// A memory operand taken apart once at block build time: EA = disp + base + (index << shift),
/// masked to 16 bits unless `a32`. `NO_REG` marks an absent base or index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemOp {
    disp: u32,
    base: u8,
    index: u8,
    shift: u8,
    a32: bool,
    seg: SegReg,
}

const NO_REG: u8 = 8;

impl MemOp {
    /// The memory operand of `i`, if its base and index are 16/32-bit general registers.
    fn of(i: &Instruction) -> Option<MemOp> {
        let reg = |r: Register| {
            if r == Register::None {
                Some(NO_REG)
            } else {
                gpr(r).map(|(n, _)| n)
            }
        };
        Some(MemOp {
            disp: i.memory_displacement32(),
            base: reg(i.memory_base())?,
            index: reg(i.memory_index())?,
            shift: i.memory_index_scale().trailing_zeros() as u8,
            a32: addr32(i),
            seg: seg_of(i.memory_segment()),
        })
    }
}

/// (mask, neg) of a condition code for `Fast::Jcc`.
fn cc_form(cc: ConditionCode) -> (u32, bool) {
    use crate::state::flags::*;
    const LT: u32 = 1 << 31;
    match cc {
        ConditionCode::o => (OF, false),
        ConditionCode::no => (OF, true),
        ConditionCode::b => (CF, false),
        ConditionCode::ae => (CF, true),
        ConditionCode::e => (ZF, false),
        ConditionCode::ne => (ZF, true),
        ConditionCode::be => (CF | ZF, false),
        ConditionCode::a => (CF | ZF, true),
        ConditionCode::s => (SF, false),
        ConditionCode::ns => (SF, true),
        ConditionCode::p => (PF, false),
        ConditionCode::np => (PF, true),
        ConditionCode::l => (LT, false),
        ConditionCode::ge => (LT, true),
        ConditionCode::le => (LT | ZF, false),
        ConditionCode::g => (LT | ZF, true),
        ConditionCode::None => (0, true),
    }
}

/// 16- or 32-bit general register → (index, size).
fn gpr(r: Register) -> Option<(u8, u8)> {
    let n = r as usize;
    if (Register::EAX as usize..=Register::EDI as usize).contains(&n) {
        Some(((n - Register::EAX as usize) as u8, 4))
    } else if (Register::AX as usize..=Register::DI as usize).contains(&n) {
        Some(((n - Register::AX as usize) as u8, 2))
    } else {
        None
    }
}

fn imm(i: &Instruction, n: u32) -> Option<u32> {
    match i.op_kind(n) {
        OpKind::Immediate8 => Some(i.immediate8() as u32),
        OpKind::Immediate16 => Some(i.immediate16() as u32),
        OpKind::Immediate32 => Some(i.immediate32()),
        OpKind::Immediate8to16 => Some(i.immediate8to16() as u16 as u32),
        OpKind::Immediate8to32 => Some(i.immediate8to32() as u32),
        _ => None,
    }
}

fn alu_op(m: Mnemonic) -> Option<AluOp> {
    Some(match m {
        Mnemonic::Add => AluOp::Add,
        Mnemonic::Adc => AluOp::Adc,
        Mnemonic::Sub => AluOp::Sub,
        Mnemonic::Sbb => AluOp::Sbb,
        Mnemonic::And => AluOp::And,
        Mnemonic::Or => AluOp::Or,
        Mnemonic::Xor => AluOp::Xor,
        _ => return None,
    })
}

const OPS: [AluOp; 7] = [
    AluOp::Add,
    AluOp::Adc,
    AluOp::Sub,
    AluOp::Sbb,
    AluOp::And,
    AluOp::Or,
    AluOp::Xor,
];

/// Pick the fast form of a decoded instruction (or `Generic`).
pub(crate) fn classify(i: &Instruction) -> Fast {
    if i.has_lock_prefix() || i.op_count() > 2 {
        return Fast::Generic;
    }
    let m = i.mnemonic();
    let r0 = if i.op0_kind() == OpKind::Register {
        gpr(i.op0_register())
    } else {
        None
    };
    let r1 = if i.op_count() > 1 && i.op1_kind() == OpKind::Register {
        gpr(i.op1_register())
    } else {
        None
    };
    let msz = i.memory_size().size() as u8;
    let has_mem =
        i.op0_kind() == OpKind::Memory || i.op_count() > 1 && i.op1_kind() == OpKind::Memory;
    let mo = if has_mem { MemOp::of(i) } else { None };
    if has_mem && mo.is_none() {
        return Fast::Generic;
    }
    let mo = mo.unwrap_or(MemOp {
        disp: 0,
        base: NO_REG,
        index: NO_REG,
        shift: 0,
        a32: true,
        seg: SegReg::Ds,
    });
    match m {
        Mnemonic::Mov
            if i.op0_kind() == OpKind::Memory
                && imm(i, 1).is_some()
                && matches!(msz, 1 | 2 | 4) =>
        {
            Fast::MovMI {
                sz: msz,
                imm: imm(i, 1).unwrap(),
                m: mo,
            }
        }
        Mnemonic::Movzx | Mnemonic::Movsx => {
            let ssz = if i.op1_kind() == OpKind::Register {
                i.op1_register().size() as u8
            } else {
                msz
            };
            let src_ok = i.op1_kind() == OpKind::Memory || matches!(i.op1_register().size(), 1 | 2);
            match r0 {
                // 8-bit register sources (AH..BH aliasing) stay generic.
                Some((d, dsz)) if src_ok && i.op1_kind() == OpKind::Memory => Fast::MovxM {
                    d,
                    dsz,
                    ssz,
                    signed: m == Mnemonic::Movsx,
                    m: mo,
                },
                Some((d, dsz)) if src_ok && ssz == 2 => match gpr(i.op1_register()) {
                    Some((s, _)) => Fast::MovxR {
                        d,
                        dsz,
                        s,
                        signed: m == Mnemonic::Movsx,
                    },
                    None => Fast::Generic,
                },
                _ => Fast::Generic,
            }
        }
        Mnemonic::Shl | Mnemonic::Shr | Mnemonic::Sar | Mnemonic::Rol | Mnemonic::Ror
            if r0.is_some() && i.op_count() == 2 =>
        {
            let count = match i.op1_kind() {
                OpKind::Immediate8 => i.immediate8() & 0x1F,
                _ => return Fast::Generic,
            };
            let (d, sz) = r0.unwrap();
            let kind = match m {
                Mnemonic::Shl => 0,
                Mnemonic::Shr => 1,
                Mnemonic::Sar => 2,
                Mnemonic::Rol => 3,
                _ => 4,
            };
            if count == 0 || count as u32 >= sz as u32 * 8 {
                Fast::Generic
            } else {
                Fast::ShiftRI { kind, d, sz, count }
            }
        }
        Mnemonic::Lea => match r0 {
            Some((d, sz)) if i.op1_kind() == OpKind::Memory => Fast::Lea { d, sz, m: mo },
            _ => Fast::Generic,
        },
        Mnemonic::Push if i.op0_kind() == OpKind::Register && r0.is_some_and(|(d, _)| d != 4) => {
            let (s, sz) = r0.unwrap();
            if i.stack_pointer_increment().unsigned_abs() == sz as u32 {
                Fast::PushR { s, sz }
            } else {
                Fast::Generic
            }
        }
        Mnemonic::Pop if i.op0_kind() == OpKind::Register && r0.is_some_and(|(d, _)| d != 4) => {
            let (d, sz) = r0.unwrap();
            if i.stack_pointer_increment().unsigned_abs() == sz as u32 {
                Fast::PopR { d, sz }
            } else {
                Fast::Generic
            }
        }
        Mnemonic::Cmp if i.op0_kind() == OpKind::Memory && matches!(msz, 2 | 4) => {
            match (r1, imm(i, 1)) {
                (Some((s, sz)), _) if sz == msz => Fast::CmpM {
                    r: s,
                    sz,
                    has_imm: false,
                    rev: true,
                    imm: 0,
                    m: mo,
                },
                (None, Some(v)) => Fast::CmpM {
                    r: 0,
                    sz: msz,
                    has_imm: true,
                    rev: true,
                    imm: v,
                    m: mo,
                },
                _ => Fast::Generic,
            }
        }
        Mnemonic::Cmp if i.op_count() == 2 && i.op1_kind() == OpKind::Memory => match r0 {
            Some((d, sz)) => Fast::CmpM {
                r: d,
                sz,
                has_imm: false,
                rev: false,
                imm: 0,
                m: mo,
            },
            None => Fast::Generic,
        },
        _ if alu_op(m).is_some()
            && i.op_count() == 2
            && i.op1_kind() == OpKind::Memory
            && r0.is_some() =>
        {
            let (d, sz) = r0.unwrap();
            Fast::AluRM {
                op: alu_op(m).unwrap() as u8,
                d,
                sz,
                m: mo,
            }
        }
        Mnemonic::Mov => match (i.op0_kind(), i.op1_kind(), r0, r1) {
            (OpKind::Register, OpKind::Register, Some((d, sz)), Some((s, sz2))) if sz == sz2 => {
                Fast::MovRR { d, s, sz }
            }
            (OpKind::Register, _, Some((d, sz)), None) if imm(i, 1).is_some() => Fast::MovRI {
                d,
                sz,
                imm: imm(i, 1).unwrap(),
            },
            (OpKind::Register, OpKind::Memory, Some((d, sz)), None) => Fast::MovRM { d, sz, m: mo },
            (OpKind::Memory, OpKind::Register, None, Some((s, sz))) => Fast::MovMR { s, sz, m: mo },
            _ => Fast::Generic,
        },
        Mnemonic::Cmp => match (r0, r1, imm(i, 1)) {
            (Some((d, sz)), Some((s, sz2)), _) if sz == sz2 => Fast::CmpRR { d, s, sz },
            (Some((d, sz)), None, Some(v)) => Fast::CmpRI { d, sz, imm: v },
            _ => Fast::Generic,
        },
        Mnemonic::Test => match (r0, r1) {
            (Some((d, sz)), Some((s, sz2))) if sz == sz2 => Fast::TestRR { d, s, sz },
            _ => Fast::Generic,
        },
        Mnemonic::Inc | Mnemonic::Dec => match r0 {
            Some((d, sz)) => Fast::IncDec {
                d,
                sz,
                inc: m == Mnemonic::Inc,
            },
            None => Fast::Generic,
        },
        Mnemonic::Jmp if matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32) => {
            Fast::Jmp {
                target: i.near_branch_target() as u32,
            }
        }
        _ if i.condition_code() != ConditionCode::None
            && matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32)
            && matches!(
                m,
                Mnemonic::Jo
                    | Mnemonic::Jno
                    | Mnemonic::Jb
                    | Mnemonic::Jae
                    | Mnemonic::Je
                    | Mnemonic::Jne
                    | Mnemonic::Jbe
                    | Mnemonic::Ja
                    | Mnemonic::Js
                    | Mnemonic::Jns
                    | Mnemonic::Jp
                    | Mnemonic::Jnp
                    | Mnemonic::Jl
                    | Mnemonic::Jge
                    | Mnemonic::Jle
                    | Mnemonic::Jg
            ) =>
        {
            let (mask, neg) = cc_form(i.condition_code());
            Fast::Jcc {
                mask,
                neg,
                target: i.near_branch_target() as u32,
            }
        }
        _ => match (alu_op(m), r0, r1, imm(i, 1)) {
            (Some(op), Some((d, sz)), Some((s, sz2)), _) if sz == sz2 => Fast::AluRR {
                op: op as u8,
                d,
                s,
                sz,
            },
            (Some(op), Some((d, sz)), None, Some(v)) => Fast::AluRI {
                op: op as u8,
                d,
                sz,
                imm: v,
            },
            _ => Fast::Generic,
        },
    }
}

impl Cpu {
    #[inline(always)]
    fn gpr_get(&self, r: u8, sz: u8) -> u32 {
        let v = self.s.gpr[r as usize & 7];
        if sz == 4 {
            v
        } else {
            v & 0xFFFF
        }
    }

    #[inline(always)]
    fn gpr_set(&mut self, r: u8, sz: u8, v: u32) {
        let g = &mut self.s.gpr[r as usize & 7];
        if sz == 4 {
            *g = v
        } else {
            *g = (*g & 0xFFFF_0000) | (v & 0xFFFF)
        }
    }

    /// Effective address of a pre-decoded memory operand (as `ea`).
    #[inline(always)]
    fn ea_m(&self, m: MemOp) -> u32 {
        // An absent register (NO_REG = 8) reads as 0: (8 >> 3) - 1 masks everything off.
        let b = self.s.gpr[m.base as usize & 7] & ((m.base >> 3) as u32).wrapping_sub(1);
        let x = self.s.gpr[m.index as usize & 7] & ((m.index >> 3) as u32).wrapping_sub(1);
        let a = m.disp.wrapping_add(b).wrapping_add(x << m.shift);
        if m.a32 {
            a
        } else {
            a & 0xFFFF
        }
    }

    /// EFLAGS with SF != OF in bit 31 (for `Fast::Jcc`'s masks).
    #[inline(always)]
    fn cond_flags(&self) -> u32 {
        use crate::state::flags::{OF, SF};
        let f = self.s.eflags;
        let lt = ((f & SF != 0) != (f & OF != 0)) as u32;
        (f & 0x7FFF_FFFF) | (lt << 31)
    }

    /// SHL/SHR/SAR/ROL/ROR r, imm (`Fast::ShiftRI`).
    #[inline(always)]
    fn shift_ri(&mut self, kind: u8, d: u8, sz: u8, count: u8) {
        let a = self.gpr_get(d, sz);
        let bits = sz as u32 * 8;
        let c = count as u32;
        let sb = if sz == 4 { 0x8000_0000 } else { 0x8000 };
        let m = if sz == 4 { 0xFFFF_FFFF } else { 0xFFFF };
        use crate::state::flags::*;
        let old = self.s.eflags;
        let (r, f) = match kind {
            0 => {
                let r = (a << c) & m;
                let cf = (a >> (bits - c)) & 1 != 0;
                let mut f = crate::ops::alu::szp(r, sz as u32) | if cf { CF } else { 0 };
                if (r & sb != 0) != cf {
                    f |= OF;
                }
                (r, f)
            }
            1 => {
                let r = a >> c;
                let cf = (a >> (c - 1)) & 1 != 0;
                let mut f = crate::ops::alu::szp(r, sz as u32) | if cf { CF } else { 0 };
                if c == 1 && a & sb != 0 {
                    f |= OF;
                }
                (r, f)
            }
            2 => {
                let sa = if sz == 4 {
                    a as i32 as i64
                } else {
                    a as u16 as i16 as i64
                };
                let r = (sa >> c) as u32 & m;
                let cf = (sa >> (c - 1)) & 1 != 0;
                (
                    r,
                    crate::ops::alu::szp(r, sz as u32) | if cf { CF } else { 0 },
                )
            }
            3 => {
                let r = ((a << c) | (a >> (bits - c))) & m;
                let cf = r & 1 != 0;
                let mut f = (old & (SF | ZF | PF | AF)) | if cf { CF } else { 0 };
                if (r & sb != 0) != cf {
                    f |= OF;
                }
                (r, f)
            }
            _ => {
                let r = ((a >> c) | (a << (bits - c))) & m;
                let cf = r & sb != 0;
                let mut f = (old & (SF | ZF | PF | AF)) | if cf { CF } else { 0 };
                if (r & sb != 0) != (r & (sb >> 1) != 0) {
                    f |= OF;
                }
                (r, f)
            }
        };
        self.set_status(f);
        self.gpr_set(d, sz, r);
    }

    /// The branch of a fused pair (`Fast::*J`): the target was checked against the CS limit
    /// when the block was found (`Block::need_limit`).
    #[inline(always)]
    fn jcc_fused(&mut self, j: JccOp) {
        self.s.eip = if (self.cond_flags() & j.mask != 0) != j.neg {
            j.target
        } else {
            j.fall
        };
    }

    /// Execute an instruction by its fast form (EIP already advanced), or generically.
    #[inline(always)]
    pub(crate) fn execute_fast<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        f: &Fast,
    ) -> Result<(), Fault> {
        match *f {
            Fast::Generic => self.execute(bus, i),
            Fast::MovRR { d, s, sz } => {
                let v = self.gpr_get(s, sz);
                self.gpr_set(d, sz, v);
                Ok(())
            }
            Fast::MovRI { d, sz, imm } => {
                self.gpr_set(d, sz, imm);
                Ok(())
            }
            Fast::MovRM { d, sz, m } => {
                let off = self.ea_m(m);
                let v = self.read_data(bus, m.seg, off, sz as u32)?;
                self.gpr_set(d, sz, v);
                Ok(())
            }
            Fast::MovMR { s, sz, m } => {
                let off = self.ea_m(m);
                let v = self.gpr_get(s, sz);
                self.write_data(bus, m.seg, off, sz as u32, v)
            }
            Fast::AluRR { op, d, s, sz } => {
                let a = self.gpr_get(d, sz);
                let b = self.gpr_get(s, sz);
                let r = self.alu(OPS[op as usize], a, b, sz as u32);
                self.gpr_set(d, sz, r);
                Ok(())
            }
            Fast::AluRI { op, d, sz, imm } => {
                let a = self.gpr_get(d, sz);
                let r = self.alu(OPS[op as usize], a, imm, sz as u32);
                self.gpr_set(d, sz, r);
                Ok(())
            }
            Fast::CmpRR { d, s, sz } => {
                let (a, b) = (self.gpr_get(d, sz), self.gpr_get(s, sz));
                self.sub_flags(a, b, 0, sz as u32);
                Ok(())
            }
            Fast::CmpRI { d, sz, imm } => {
                let a = self.gpr_get(d, sz);
                self.sub_flags(a, imm, 0, sz as u32);
                Ok(())
            }
            Fast::TestRR { d, s, sz } => {
                let (a, b) = (self.gpr_get(d, sz), self.gpr_get(s, sz));
                self.logic_flags(a & b, sz as u32);
                Ok(())
            }
            Fast::IncDec { d, sz, inc } => {
                let a = self.gpr_get(d, sz);
                let cf = self.s.eflags & crate::state::flags::CF;
                let r = if inc {
                    self.add_flags(a, 1, 0, sz as u32)
                } else {
                    self.sub_flags(a, 1, 0, sz as u32)
                };
                self.s.eflags = (self.s.eflags & !crate::state::flags::CF) | cf;
                self.gpr_set(d, sz, r);
                Ok(())
            }
            Fast::Jcc { mask, neg, target } => {
                if (self.cond_flags() & mask != 0) != neg {
                    self.jump_near(target)
                } else {
                    Ok(())
                }
            }
            Fast::Jmp { target } => self.jump_near(target),
            Fast::MovMI { sz, imm, m } => {
                let off = self.ea_m(m);
                self.write_data(bus, m.seg, off, sz as u32, imm)
            }
            Fast::MovxR { d, dsz, s, signed } => {
                let v = self.s.gpr[s as usize & 7];
                let v = if signed {
                    v as u16 as i16 as i32 as u32
                } else {
                    v & 0xFFFF
                };
                self.gpr_set(d, dsz, v);
                Ok(())
            }
            Fast::MovxM {
                d,
                dsz,
                ssz,
                signed,
                m,
            } => {
                let off = self.ea_m(m);
                let v = self.read_data(bus, m.seg, off, ssz as u32)?;
                let v = match (ssz, signed) {
                    (1, false) => v & 0xFF,
                    (1, true) => v as u8 as i8 as i32 as u32,
                    (_, false) => v & 0xFFFF,
                    (_, true) => v as u16 as i16 as i32 as u32,
                };
                self.gpr_set(d, dsz, v);
                Ok(())
            }
            Fast::ShiftRI { kind, d, sz, count } => {
                self.shift_ri(kind, d, sz, count);
                Ok(())
            }
            Fast::AluRM { op, d, sz, m } => {
                let off = self.ea_m(m);
                let b = self.read_data(bus, m.seg, off, sz as u32)?;
                let a = self.gpr_get(d, sz);
                let r = self.alu(OPS[op as usize], a, b, sz as u32);
                self.gpr_set(d, sz, r);
                Ok(())
            }
            Fast::CmpM {
                r,
                sz,
                has_imm,
                rev,
                imm,
                m,
            } => {
                let off = self.ea_m(m);
                let mv = self.read_data(bus, m.seg, off, sz as u32)?;
                let other = if has_imm { imm } else { self.gpr_get(r, sz) };
                if rev {
                    self.sub_flags(mv, other, 0, sz as u32);
                } else {
                    self.sub_flags(other, mv, 0, sz as u32);
                }
                Ok(())
            }
            Fast::Lea { d, sz, m } => {
                let a = self.ea_m(m);
                self.gpr_set(d, sz, a);
                Ok(())
            }
            Fast::PushR { s, sz } => {
                let v = self.gpr_get(s, sz);
                self.push(bus, v, sz as u32)
            }
            Fast::PopR { d, sz } => {
                let v = self.pop(bus, sz as u32)?;
                self.gpr_set(d, sz, v);
                Ok(())
            }
            Fast::AluRRNf { op, d, s, sz } => {
                let (a, b) = (self.gpr_get(d, sz), self.gpr_get(s, sz));
                let cf = self.s.eflags & crate::state::flags::CF;
                self.gpr_set(d, sz, alu_nf(op, a, b, cf));
                Ok(())
            }
            Fast::AluRINf { op, d, sz, imm } => {
                let a = self.gpr_get(d, sz);
                let cf = self.s.eflags & crate::state::flags::CF;
                self.gpr_set(d, sz, alu_nf(op, a, imm, cf));
                Ok(())
            }
            Fast::AluRMNf { op, d, sz, m } => {
                let off = self.ea_m(m);
                let b = self.read_data(bus, m.seg, off, sz as u32)?;
                let a = self.gpr_get(d, sz);
                let cf = self.s.eflags & crate::state::flags::CF;
                self.gpr_set(d, sz, alu_nf(op, a, b, cf));
                Ok(())
            }
            Fast::IncDecNf { d, sz, inc } => {
                let a = self.gpr_get(d, sz);
                let r = if inc {
                    a.wrapping_add(1)
                } else {
                    a.wrapping_sub(1)
                };
                self.gpr_set(d, sz, r);
                Ok(())
            }
            Fast::ShiftRINf { kind, d, sz, count } => {
                let a = self.gpr_get(d, sz);
                let bits = sz as u32 * 8;
                let c = count as u32;
                let m = if sz == 4 { 0xFFFF_FFFF } else { 0xFFFF };
                let r = match kind {
                    0 => a << c,
                    1 => a >> c,
                    2 => {
                        let sa = if sz == 4 {
                            a as i32
                        } else {
                            a as u16 as i16 as i32
                        };
                        (sa >> c) as u32
                    }
                    3 => (a << c) | (a >> (bits - c)),
                    _ => (a >> c) | (a << (bits - c)),
                };
                self.gpr_set(d, sz, r & m);
                Ok(())
            }
            Fast::Nop => Ok(()),
            Fast::CmpRIJ { d, sz, imm, j } => {
                let a = self.gpr_get(d, sz);
                self.sub_flags(a, imm, 0, sz as u32);
                self.jcc_fused(j);
                Ok(())
            }
            Fast::CmpRRJ { d, s, sz, j } => {
                let (a, b) = (self.gpr_get(d, sz), self.gpr_get(s, sz));
                self.sub_flags(a, b, 0, sz as u32);
                self.jcc_fused(j);
                Ok(())
            }
            Fast::TestRRJ { d, s, sz, j } => {
                let (a, b) = (self.gpr_get(d, sz), self.gpr_get(s, sz));
                self.logic_flags(a & b, sz as u32);
                self.jcc_fused(j);
                Ok(())
            }
            Fast::IncDecJ { d, sz, inc, j } => {
                let a = self.gpr_get(d, sz);
                let cf = self.s.eflags & crate::state::flags::CF;
                let r = if inc {
                    self.add_flags(a, 1, 0, sz as u32)
                } else {
                    self.sub_flags(a, 1, 0, sz as u32)
                };
                self.s.eflags = (self.s.eflags & !crate::state::flags::CF) | cf;
                self.gpr_set(d, sz, r);
                self.jcc_fused(j);
                Ok(())
            }
            Fast::AluRIJ { op, d, sz, imm, j } => {
                let a = self.gpr_get(d, sz);
                let r = self.alu(OPS[op as usize], a, imm, sz as u32);
                self.gpr_set(d, sz, r);
                self.jcc_fused(j);
                Ok(())
            }
            Fast::AluRRJ { op, d, s, sz, j } => {
                let a = self.gpr_get(d, sz);
                let b = self.gpr_get(s, sz);
                let r = self.alu(OPS[op as usize], a, b, sz as u32);
                self.gpr_set(d, sz, r);
                self.jcc_fused(j);
                Ok(())
            }
            Fast::ShiftRIJ {
                kind,
                d,
                sz,
                count,
                j,
            } => {
                self.shift_ri(kind, d, sz, count);
                self.jcc_fused(j);
                Ok(())
            }
        }
    }
}
