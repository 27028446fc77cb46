//! Which lowering each guest instruction gets (`Kind`), from its mnemonic, encoding and
//! operands; anything not listed is an interpreter call.

use super::*;

/// How an instruction is lowered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// Call the interpreter.
    Interp,
    Mov,
    Alu,
    /// CMP / TEST (flags only).
    Cmp,
    IncDec,
    Neg,
    Not,
    Lea,
    Movx,
    Push,
    Pop,
    Xchg,
    Nop,
    /// SHL/SHR/SAR by an immediate count in 1..bits; ROL/ROR (32-bit) by 1..31.
    Shift,
    /// MUL / one-operand IMUL, 32-bit (EDX:EAX = EAX * r/m32).
    MulWide,
    /// Two- and three-operand IMUL (16/32-bit).
    Imul,
    /// DIV / IDIV r/m32 (a divide error goes to the interpreter, which raises #DE).
    Div,
    /// Jcc / JMP rel to a block of the region.
    Branch,
    /// Near CALL rel (push the return address, continue at the target).
    CallRel,
    /// Near RET / RET imm16 (pop EIP, leave for it, chaining).
    RetNear,
    /// Near JMP / CALL through a register or memory (leave for the target, chaining).
    JmpInd,
    CallInd,
    /// SETcc r/m8, CMOVcc r, r/m (see `cond`).
    Setcc,
    Cmov,
    /// SHL/SHR/SAR/ROL/ROR by CL or by an immediate `Shift` does not take; SHLD/SHRD.
    ShiftVar,
    DoubleShift,
    /// BT/BTS/BTR/BTC; BSF/BSR (and TZCNT/LZCNT, which this CPU runs as BSF/BSR); BSWAP.
    BitTest,
    BitScan,
    Bswap,
    /// XADD, CMPXCHG, CMPXCHG8B (LOCK is only atomicity, which one CPU has anyway).
    Xadd,
    Cmpxchg,
    Cmpxchg8b,
    Leave,
    /// CBW/CWDE/CWD/CDQ.
    Convert,
    /// CLC/STC/CMC/CLD/STD, SAHF/LAHF.
    FlagOp,
    /// LOOP/LOOPE/LOOPNE/JCXZ/JECXZ (the last instruction of a block).
    Loop,
    /// MOVS/STOS/LODS without a repeat prefix.
    Str,
    /// An x87 instruction that touches no GPR or EFLAGS but its address (see `x87`).
    X87,
}

pub(super) fn is_gpr(r: Register) -> bool {
    matches!(r.size(), 1 | 2 | 4) && r.is_gpr() && gpr_index(r).is_some()
}

/// (index, is the high byte) of an 8/16/32-bit general register.
pub(super) fn gpr_index(r: Register) -> Option<(usize, bool)> {
    use Register::*;
    Some(match r {
        AL | AX | EAX => (0, false),
        CL | CX | ECX => (1, false),
        DL | DX | EDX => (2, false),
        BL | BX | EBX => (3, false),
        SP | ESP => (4, false),
        BP | EBP => (5, false),
        SI | ESI => (6, false),
        DI | EDI => (7, false),
        AH => (0, true),
        CH => (1, true),
        DH => (2, true),
        BH => (3, true),
        _ => return Option::None,
    })
}

pub(super) fn is_imm(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
    )
}

pub(super) fn simple_operand(i: &Instruction, n: u32) -> bool {
    match i.op_kind(n) {
        OpKind::Register => is_gpr(i.op_register(n)),
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32 => true,
        OpKind::Memory => simple_address(i) && i.memory_size().size() <= 4,
        _ => false,
    }
}

/// The memory operand's address uses general registers only.
pub(super) fn simple_address(i: &Instruction) -> bool {
    let b = i.memory_base();
    let x = i.memory_index();
    (b == Register::None || gpr_index(b).is_some())
        && (x == Register::None || gpr_index(x).is_some())
}

pub(super) fn classify(i: &Instruction) -> Kind {
    let ops = |n: u32| (0..n).all(|k| simple_operand(i, k)) && i.op_count() == n;
    let mem0 = i.op_count() > 0 && i.op0_kind() == OpKind::Memory;
    let mem1 = i.op_count() > 1 && i.op1_kind() == OpKind::Memory;
    // REP BSF/BSR decode as TZCNT/LZCNT, which this CPU runs as BSF/BSR (see the interpreter).
    if matches!(i.mnemonic(), Mnemonic::Tzcnt | Mnemonic::Lzcnt) && ops(2) {
        return Kind::BitScan;
    }
    if i.mnemonic() == Mnemonic::Cmpxchg8b && mem0 && simple_address(i) {
        return Kind::Cmpxchg8b; // with or without LOCK
    }
    if i.has_lock_prefix() && mem0 && ops(2) {
        match i.mnemonic() {
            Mnemonic::Xadd => return Kind::Xadd,
            Mnemonic::Cmpxchg => return Kind::Cmpxchg,
            Mnemonic::Xchg => return Kind::Xchg,
            _ => {}
        }
    }
    if i.mnemonic() == Mnemonic::Pause {
        return Kind::Nop; // (F3 90)
    }
    if i.has_lock_prefix() || i.has_rep_prefix() || i.has_repne_prefix() {
        return Kind::Interp;
    }
    if ironbox_cpu::translator::x87_plain(i) {
        return Kind::X87;
    }
    match i.mnemonic() {
        Mnemonic::Mov if ops(2) && !(mem0 && mem1) => Kind::Mov,
        Mnemonic::Add
        | Mnemonic::Or
        | Mnemonic::Adc
        | Mnemonic::Sbb
        | Mnemonic::And
        | Mnemonic::Sub
        | Mnemonic::Xor
            if ops(2) =>
        {
            Kind::Alu
        }
        Mnemonic::Cmp | Mnemonic::Test if ops(2) => Kind::Cmp,
        Mnemonic::Inc | Mnemonic::Dec if ops(1) => Kind::IncDec,
        Mnemonic::Neg if ops(1) => Kind::Neg,
        Mnemonic::Not if ops(1) => Kind::Not,
        Mnemonic::Lea if ops(2) && i.op0_register().size() >= 2 => Kind::Lea,
        Mnemonic::Movzx | Mnemonic::Movsx if ops(2) => Kind::Movx,
        Mnemonic::Push
            if i.op_count() == 1
                && simple_operand(i, 0)
                && !(i.op0_kind() == OpKind::Register && i.op0_register().size() == 1) =>
        {
            Kind::Push
        }
        Mnemonic::Pop
            if i.op_count() == 1
                && i.op0_kind() == OpKind::Register
                && is_gpr(i.op0_register())
                && i.op0_register().size() >= 2 =>
        {
            Kind::Pop
        }
        Mnemonic::Xchg if ops(2) && !mem1 => Kind::Xchg,
        Mnemonic::Nop if !mem0 => Kind::Nop,
        Mnemonic::Shl
        | Mnemonic::Sal
        | Mnemonic::Shr
        | Mnemonic::Sar
        | Mnemonic::Rol
        | Mnemonic::Ror
            if ops(2) && is_imm(i.op1_kind()) =>
        {
            let bits = op_size(i, 0) * 8;
            let c = i.immediate(1) as u32 & 0x1F;
            let rot = matches!(i.mnemonic(), Mnemonic::Rol | Mnemonic::Ror);
            if c == 0 || c >= bits || (rot && bits != 32) {
                Kind::ShiftVar
            } else {
                Kind::Shift
            }
        }
        Mnemonic::Shl
        | Mnemonic::Sal
        | Mnemonic::Shr
        | Mnemonic::Sar
        | Mnemonic::Rol
        | Mnemonic::Ror
            if ops(2) && i.op1_register() == Register::CL =>
        {
            Kind::ShiftVar
        }
        Mnemonic::Shld | Mnemonic::Shrd
            if ops(3) && (is_imm(i.op2_kind()) || i.op2_register() == Register::CL) =>
        {
            Kind::DoubleShift
        }
        Mnemonic::Bt | Mnemonic::Bts | Mnemonic::Btr | Mnemonic::Btc if ops(2) => Kind::BitTest,
        Mnemonic::Bsf | Mnemonic::Bsr if ops(2) => Kind::BitScan,
        Mnemonic::Bswap if ops(1) => Kind::Bswap,
        Mnemonic::Xadd if ops(2) => Kind::Xadd,
        Mnemonic::Cmpxchg if ops(2) => Kind::Cmpxchg,
        // SETcc r/m8 and CMOVcc r, r/m: a condition code, no branch (FCMOVcc has no GPRs).
        _ if i.condition_code() != ConditionCode::None
            && i.flow_control() == FlowControl::Next
            && ops(i.op_count()) =>
        {
            if i.op_count() == 1 {
                Kind::Setcc
            } else {
                Kind::Cmov
            }
        }
        Mnemonic::Leave => Kind::Leave,
        Mnemonic::Movsb
        | Mnemonic::Movsw
        | Mnemonic::Movsd
        | Mnemonic::Stosb
        | Mnemonic::Stosw
        | Mnemonic::Stosd
        | Mnemonic::Lodsb
        | Mnemonic::Lodsw
        | Mnemonic::Lodsd
            if i.is_string_instruction() =>
        {
            Kind::Str
        }
        Mnemonic::Cbw | Mnemonic::Cwde | Mnemonic::Cwd | Mnemonic::Cdq => Kind::Convert,
        Mnemonic::Clc
        | Mnemonic::Stc
        | Mnemonic::Cmc
        | Mnemonic::Cld
        | Mnemonic::Std
        | Mnemonic::Sahf
        | Mnemonic::Lahf => Kind::FlagOp,
        Mnemonic::Loop | Mnemonic::Loope | Mnemonic::Loopne | Mnemonic::Jcxz | Mnemonic::Jecxz => {
            Kind::Loop
        }
        Mnemonic::Mul | Mnemonic::Imul if ops(1) && op_size(i, 0) == 4 => Kind::MulWide,
        Mnemonic::Div | Mnemonic::Idiv if ops(1) && op_size(i, 0) == 4 => Kind::Div,
        Mnemonic::Imul
            if (ops(2) || ops(3))
                && i.op0_kind() == OpKind::Register
                && op_size(i, 0) >= 2
                && !(i.op_count() == 3 && !is_imm(i.op2_kind())) =>
        {
            Kind::Imul
        }
        Mnemonic::Call
            if matches!(
                i.code(),
                iced_x86::Code::Call_rel16 | iced_x86::Code::Call_rel32_32
            ) =>
        {
            Kind::CallRel
        }
        Mnemonic::Jmp
            if matches!(
                i.code(),
                iced_x86::Code::Jmp_rm16 | iced_x86::Code::Jmp_rm32
            ) && simple_operand(i, 0) =>
        {
            Kind::JmpInd
        }
        Mnemonic::Call
            if matches!(
                i.code(),
                iced_x86::Code::Call_rm16 | iced_x86::Code::Call_rm32
            ) && simple_operand(i, 0) =>
        {
            Kind::CallInd
        }
        Mnemonic::Ret
            if matches!(
                i.code(),
                iced_x86::Code::Retnw
                    | iced_x86::Code::Retnd
                    | iced_x86::Code::Retnw_imm16
                    | iced_x86::Code::Retnd_imm16
            ) =>
        {
            Kind::RetNear
        }
        // Jcc and near JMP rel (LOOPcc/JCXZ are `Loop`).
        _ if has_near_target(i) && (i.is_jcc_short_or_near() || i.is_jmp_short_or_near()) => {
            Kind::Branch
        }
        _ => Kind::Interp,
    }
}

/// A string instruction with a REP/REPE/REPNE prefix (`h_rep` runs its batches; INS/OUTS
/// leave after the first for their I/O anyway).
pub(super) fn rep_string(i: &Instruction) -> bool {
    (i.has_rep_prefix() || i.has_repe_prefix() || i.has_repne_prefix()) && i.is_string_instruction()
}

/// For a loop of blocks that never call the interpreter (`body`: the loop's head first, then
/// the blocks fused to it, see `fuse`), where some block of it branches back to the head:
/// the registers they read and write (bit n: GPR n), as iced-x86 reports them (implicit
/// ones too). `None` if no block branches back to the head.
pub(super) fn loop_registers(body: &[(&crate::region::GuestBlock, &[Kind])]) -> Option<(u8, u8)> {
    use iced_x86::{InstructionInfoFactory, OpAccess};
    let head = body.first()?.0.eip;
    let back = body.iter().any(|(g, kinds)| {
        g.instrs.last().is_some_and(|last| {
            matches!(kinds.last(), Some(Kind::Branch | Kind::Loop))
                && has_near_target(last)
                && last.near_branch_target() as u32 == head
        })
    });
    let calls = body
        .iter()
        .any(|(_, kinds)| kinds.iter().any(|k| matches!(k, Kind::Interp | Kind::Div)));
    if !back || calls {
        return None;
    }
    let mut f = InstructionInfoFactory::new();
    let (mut reads, mut writes) = (0u8, 0u8);
    for i in body.iter().flat_map(|(g, _)| &g.instrs) {
        for u in f.info(i).used_registers() {
            let Some((n, _)) = gpr_index(u.register().full_register32()) else {
                continue;
            };
            match u.access() {
                OpAccess::Read | OpAccess::CondRead => reads |= 1 << n,
                OpAccess::None | OpAccess::NoMemAccess => {}
                _ => writes |= 1 << n,
            }
        }
    }
    Some((reads & !writes, writes))
}
