//! Pre-classified fast paths for the most frequent instruction forms (register/immediate
//! moves and ALU operations, near jumps). A block stores each instruction's `Fast` form next to
//! it, so the hot loop skips the generic operand machinery; every other form runs through
//! `Cpu::execute`. The semantics are the generic ones (same flag helpers), only shorter.

use iced_x86::{ConditionCode, Instruction, Mnemonic, OpKind, Register};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::ops::alu::AluOp;
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
    },
    MovMR {
        s: u8,
        sz: u8,
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
    Jcc {
        cc: ConditionCode,
        target: u32,
    },
    Jmp {
        target: u32,
    },
    /// MOV r/m, imm with a memory destination (any size).
    MovMI {
        sz: u8,
        imm: u32,
    },
    /// MOVZX/MOVSX r16/32, r/m8 or r/m16 (register or memory source).
    Movx {
        d: u8,
        dsz: u8,
        ssz: u8,
        signed: bool,
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
    },
    /// CMP r, [mem] / CMP [mem], r / CMP [mem], imm (`rev`: memory is the first operand).
    CmpM {
        r: u8,
        sz: u8,
        imm: Option<u32>,
        rev: bool,
    },
    Lea {
        d: u8,
        sz: u8,
    },
    PushR {
        s: u8,
        sz: u8,
    },
    PopR {
        d: u8,
        sz: u8,
    },
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
    match m {
        Mnemonic::Mov
            if i.op0_kind() == OpKind::Memory
                && imm(i, 1).is_some()
                && matches!(msz, 1 | 2 | 4) =>
        {
            Fast::MovMI {
                sz: msz,
                imm: imm(i, 1).unwrap(),
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
                Some((d, dsz)) if src_ok && (i.op1_kind() == OpKind::Memory || ssz == 2) => {
                    Fast::Movx {
                        d,
                        dsz,
                        ssz,
                        signed: m == Mnemonic::Movsx,
                    }
                }
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
            Some((d, sz)) if i.op1_kind() == OpKind::Memory => Fast::Lea { d, sz },
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
                    imm: None,
                    rev: true,
                },
                (None, Some(v)) => Fast::CmpM {
                    r: 0,
                    sz: msz,
                    imm: Some(v),
                    rev: true,
                },
                _ => Fast::Generic,
            }
        }
        Mnemonic::Cmp if i.op_count() == 2 && i.op1_kind() == OpKind::Memory => match r0 {
            Some((d, sz)) => Fast::CmpM {
                r: d,
                sz,
                imm: None,
                rev: false,
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
            (OpKind::Register, OpKind::Memory, Some((d, sz)), None) => Fast::MovRM { d, sz },
            (OpKind::Memory, OpKind::Register, None, Some((s, sz))) => Fast::MovMR { s, sz },
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
            Fast::Jcc {
                cc: i.condition_code(),
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

    /// Execute an instruction by its fast form (EIP already advanced), or generically.
    #[inline(always)]
    pub(crate) fn execute_fast<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        f: Fast,
    ) -> Result<(), Fault> {
        match f {
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
            Fast::MovRM { d, sz } => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                let v = self.read_mem(bus, seg, off, sz as u32)?;
                self.gpr_set(d, sz, v);
                Ok(())
            }
            Fast::MovMR { s, sz } => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                let v = self.gpr_get(s, sz);
                self.write_mem(bus, seg, off, sz as u32, v)
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
            Fast::Jcc { cc, target } => {
                if self.cond(cc) {
                    self.jump_near(target)
                } else {
                    Ok(())
                }
            }
            Fast::Jmp { target } => self.jump_near(target),
            Fast::MovMI { sz, imm } => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                self.write_mem(bus, seg, off, sz as u32, imm)
            }
            Fast::Movx {
                d,
                dsz,
                ssz,
                signed,
            } => {
                let v = if i.op1_kind() == OpKind::Memory {
                    let seg = self.mem_seg(i);
                    let off = self.ea(i);
                    self.read_mem(bus, seg, off, ssz as u32)?
                } else {
                    self.reg(i.op1_register())
                };
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
                Ok(())
            }
            Fast::AluRM { op, d, sz } => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                let b = self.read_mem(bus, seg, off, sz as u32)?;
                let a = self.gpr_get(d, sz);
                let r = self.alu(OPS[op as usize], a, b, sz as u32);
                self.gpr_set(d, sz, r);
                Ok(())
            }
            Fast::CmpM { r, sz, imm, rev } => {
                let seg = self.mem_seg(i);
                let off = self.ea(i);
                let mv = self.read_mem(bus, seg, off, sz as u32)?;
                let other = match imm {
                    Some(v) => v,
                    None => self.gpr_get(r, sz),
                };
                if rev {
                    self.sub_flags(mv, other, 0, sz as u32);
                } else {
                    self.sub_flags(other, mv, 0, sz as u32);
                }
                Ok(())
            }
            Fast::Lea { d, sz } => {
                let a = self.ea(i);
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
        }
    }
}
