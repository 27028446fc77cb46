//! Exchanges: XCHG (register or memory; its implicit LOCK is only atomicity, which one CPU
//! has anyway), XADD, CMPXCHG, CMPXCHG8B. As in the interpreter (`cpu/src/ops/data.rs`) the memory
//! operand is written before any register, and the flags change last.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn xchg(&mut self, i: &Instruction, refund: i64) {
        let size = op_size(i, 0);
        let r1 = i.op1_register();
        let b = self.get_reg(r1);
        let a = self.read_op(i, 0, size, true, refund);
        self.write_op0(i, b, size, refund);
        self.set_reg(r1, a);
    }

    pub(super) fn xadd(&mut self, i: &Instruction, refund: i64) {
        let size = op_size(i, 0);
        let dst = self.read_op(i, 0, size, true, refund);
        let src = self.get_reg(i.op1_register());
        let (sum, rec) = self.add(dst, src, None, size, STATUS);
        self.write_op1_then_op0(i, dst, sum, size, refund);
        self.write_flags(rec);
    }

    /// CMPXCHG: compare the accumulator with the destination; equal: destination = source,
    /// else the destination is written back unchanged and loaded into the accumulator.
    pub(super) fn cmpxchg(&mut self, i: &Instruction, refund: i64) {
        let size = op_size(i, 0);
        let acc_reg = match size {
            1 => Register::AL,
            2 => Register::AX,
            _ => Register::EAX,
        };
        let dst = self.read_op(i, 0, size, true, refund);
        let src = self.get_reg(i.op1_register());
        let acc = self.get_reg(acc_reg);
        let (_, rec) = self.sub(acc, dst, None, size, STATUS);
        let eq = self.b.ins().icmp(IntCC::Equal, acc, dst);
        let v = self.b.ins().select(eq, src, dst);
        self.write_op0(i, v, size, refund);
        // (the destination may be the accumulator itself)
        let cur = self.get_reg(acc_reg);
        let na = self.b.ins().select(eq, cur, dst);
        self.set_reg(acc_reg, na);
        self.write_flags(rec);
    }

    /// CMPXCHG8B m64: EDX:EAX against the quadword; equal: it becomes ECX:EBX and ZF = 1,
    /// else it is written back unchanged, loaded into EDX:EAX, and ZF = 0.
    pub(super) fn cmpxchg8b(&mut self, i: &Instruction, refund: i64) {
        let seg = seg_index(i.memory_segment());
        let off = self.ea(i);
        let off_hi = self.b.ins().iadd_imm_s(off, 4);
        let lo = self.read_mem(i, seg, off, 4, true, refund);
        let hi = self.read_mem(i, seg, off_hi, 4, true, refund);
        let [eax, ecx, edx, ebx] = [0, 1, 2, 3].map(|r| self.gpr_get(r));
        let eq_lo = self.b.ins().icmp(IntCC::Equal, lo, eax);
        let eq_hi = self.b.ins().icmp(IntCC::Equal, hi, edx);
        let eq = self.b.ins().band(eq_lo, eq_hi);
        let new_lo = self.b.ins().select(eq, ebx, lo);
        let new_hi = self.b.ins().select(eq, ecx, hi);
        let r_lo = self.write_mem(i, seg, off, 4, new_lo, refund);
        let r_hi = self.write_mem(i, seg, off_hi, 4, new_hi, refund);
        self.code_hit = Some(self.b.ins().bor(r_lo, r_hi));
        let na = self.b.ins().select(eq, eax, lo);
        let nd = self.b.ins().select(eq, edx, hi);
        self.gpr_set(0, na);
        self.gpr_set(2, nd);
        let z = self.b.ins().uextend(types::I32, eq);
        let z = self.at(z, fl::ZF);
        self.set_bits(fl::ZF, z);
    }

    /// XADD's writes in the interpreter's order (register operand 1, then operand 0, which
    /// wins if both are the same register), with a memory operand 0 written first (its
    /// address may use operand 1; a fault must leave the registers unchanged).
    fn write_op1_then_op0(
        &mut self,
        i: &Instruction,
        v1: Value,
        v0: Value,
        size: u32,
        refund: i64,
    ) {
        if i.op0_kind() == OpKind::Memory {
            self.write_op0(i, v0, size, refund);
            self.set_reg(i.op1_register(), v1);
        } else {
            self.set_reg(i.op1_register(), v1);
            self.write_op0(i, v0, size, refund);
        }
    }
}
