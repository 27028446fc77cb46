//! Conditional instructions: SETcc, CMOVcc, and the branches — Jcc/JMP rel (to a block of the
//! region or, after the CS limit check, out of it with chaining) and LOOP/LOOPcc/JCXZ.
//! A branch target beyond the CS limit goes to the interpreter, which raises #GP exactly.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn setcc(&mut self, i: &Instruction, refund: i64) {
        let c = self.cond(i.condition_code());
        let v = self.b.ins().uextend(types::I32, c);
        self.write_op0(i, v, 1, refund);
    }

    /// CMOVcc: the source is read (and may fault) whether or not the condition holds.
    pub(super) fn cmov(&mut self, i: &Instruction, refund: i64) {
        let size = op_size(i, 0);
        let v = self.read_op(i, 1, size, false, refund);
        let c = self.cond(i.condition_code());
        let old = self.get_reg(i.op0_register());
        let r = self.b.ins().select(c, v, old);
        self.set_reg(i.op0_register(), r);
    }

    /// Jcc / JMP rel: the last instruction of its block.
    pub(super) fn branch(&mut self, i: &Instruction) {
        let c = (i.mnemonic() != Mnemonic::Jmp).then(|| self.cond(i.condition_code()));
        self.jump_if(i, c, None);
    }

    /// LOOP/LOOPE/LOOPNE (count down CX or ECX, by the address size) and JCXZ/JECXZ.
    pub(super) fn loop_branch(&mut self, i: &Instruction) {
        use iced_x86::Code as C;
        let ecx_sized = matches!(
            i.code(),
            C::Loop_rel8_16_ECX
                | C::Loop_rel8_32_ECX
                | C::Loope_rel8_16_ECX
                | C::Loope_rel8_32_ECX
                | C::Loopne_rel8_16_ECX
                | C::Loopne_rel8_32_ECX
                | C::Jecxz_rel8_16
                | C::Jecxz_rel8_32
        );
        let size = if ecx_sized { 4 } else { 2 };
        let ecx = self.gpr_get(1);
        let m = i.mnemonic();
        if matches!(m, Mnemonic::Jcxz | Mnemonic::Jecxz) {
            let c = self.mask_to(ecx, size);
            let z = self.b.ins().icmp_imm_s(IntCC::Equal, c, 0);
            self.jump_if(i, Some(z), None);
            return;
        }
        let dec = self.b.ins().iadd_imm_s(ecx, -1);
        let c = self.mask_to(dec, size);
        let new = if size == 4 {
            dec
        } else {
            let hi = self.b.ins().band_imm_s(ecx, 0xFFFF_0000u32 as i32 as i64);
            self.b.ins().bor(hi, c)
        };
        let mut go = self.b.ins().icmp_imm_s(IntCC::NotEqual, c, 0);
        if m != Mnemonic::Loop {
            let cc = if m == Mnemonic::Loope {
                ConditionCode::e
            } else {
                ConditionCode::ne
            };
            let zf = self.cond(cc);
            go = self.b.ins().band(go, zf);
        }
        self.jump_if(i, Some(go), Some(new));
    }

    /// Continue at the branch target of `i` if `c` (always if `None`), else at the next
    /// instruction; `ecx`: the new ECX of a LOOP, set on both ways (unless the jump faults).
    fn jump_if(&mut self, i: &Instruction, c: Option<Value>, ecx: Option<Value>) {
        let target = i.near_branch_target() as u32;
        let Some(c) = c else {
            self.branch_to(i, target, ecx);
            return;
        };
        let taken = self.b.create_block();
        let not = self.b.create_block();
        // A way out of the region when the other way stays in it goes out of line (after
        // the region's code), so that the code that stays is dense in the instruction cache.
        let nx = self.mask_next(i.next_ip32());
        let (t_in, n_in) = (
            self.heads.contains_key(&target),
            self.heads.contains_key(&nx),
        );
        if n_in && !t_in {
            self.b.set_cold_block(taken);
        } else if t_in && !n_in {
            self.b.set_cold_block(not);
        }
        self.b.ins().brif(c, taken, &[], not, &[]);
        let saved = self.branch_state();
        self.b.switch_to_block(taken);
        self.branch_to(i, target, ecx);
        self.set_branch_state(saved);
        self.b.switch_to_block(not);
        if let Some(v) = ecx {
            self.gpr_set(1, v);
        }
        self.goto(nx);
    }

    /// Jump to `target`: a block of the region, or out of it after the CS limit check
    /// (not needed up to the region's last byte, checked against the limit at entry).
    fn branch_to(&mut self, i: &Instruction, target: u32, ecx: Option<Value>) {
        if !self.heads.contains_key(&target) && target > self.region.max_last {
            let cpu = self.cpu_ptr();
            let limit = self.b.ins().load(types::I32, self.mf, cpu, CS_LIMIT);
            let fits =
                self.b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, limit, target as i64);
            let ok = self.b.create_block();
            let bad = self.b.create_block();
            self.b.set_cold_block(bad);
            self.b.ins().brif(fits, ok, &[], bad, &[]);
            self.b.switch_to_block(bad);
            self.interp_exit(i, 0);
            self.b.switch_to_block(ok);
        }
        if let Some(v) = ecx {
            self.gpr_set(1, v);
        }
        self.goto(target);
    }
}
