//! Bit-level instructions with run-time counts or positions: SHL/SHR/SAR/ROL/ROR by CL (and
//! the immediate counts `Shift` leaves: 0, ≥ the operand width, 8/16-bit rotates), SHLD/SHRD,
//! BT/BTS/BTR/BTC, BSF/BSR, BSWAP — with the interpreter's formulas (`cpu/src/ops/shift.rs`,
//! `data.rs`). A count of 0 changes nothing, so these compute EFLAGS in place (after
//! `materialize_all`) rather than as a lazy record.

use super::*;

impl Lower<'_, '_> {
    /// `n - v` (`v`'s type).
    fn rsub(&mut self, n: i64, v: Value) -> Value {
        let t = self.b.func.dfg.value_type(v);
        let k = self.b.ins().iconst(t, n);
        self.b.ins().isub(k, v)
    }

    /// The count operand `n` (CL or an immediate), masked to 5 bits.
    fn count(&mut self, i: &Instruction, n: u32) -> Value {
        let c = match i.op_kind(n) {
            OpKind::Register => self.get_reg(i.op_register(n)),
            _ => self.b.ins().iconst(types::I32, i.immediate(n) as i64),
        };
        self.b.ins().band_imm_s(c, 0x1F)
    }

    /// Read-modify-write of operand 0 by a count: `op(a, count)` gives (result, status
    /// bits, status mask written), run only for a non-zero count (a count of 0 still checks
    /// the operand for writing, and writes nothing).
    fn counted_rmw(
        &mut self,
        i: &Instruction,
        count_op: u32,
        refund: i64,
        op: impl FnOnce(&mut Self, Value, Value) -> (Value, Value, u32),
    ) {
        let size = op_size(i, 0);
        let c = self.count(i, count_op);
        let a = self.read_op(i, 0, size, true, refund);
        self.materialize_all();
        let doit = self.b.create_block();
        let join = self.b.create_block();
        // Both paths store their registers before they meet again.
        self.writeback();
        self.b.ins().brif(c, doit, &[], join, &[]);
        self.b.switch_to_block(doit);
        let (r, f, w) = op(self, a, c);
        self.write_op0(i, r, size, refund);
        let old = self.get_flags();
        let keep = self.b.ins().band_imm_s(old, !(w as i64));
        let nf = self.b.ins().bor(keep, f);
        self.set_flags(nf);
        if let Some(hit) = self.code_hit.take() {
            self.leave_if_code_hit(i, hit, refund);
        }
        self.writeback();
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
        self.reload();
        self.forget_writer();
    }

    /// SHL/SHR/SAR/ROL/ROR r/m, CL (or imm8).
    pub(super) fn shift_var(&mut self, i: &Instruction, refund: i64) {
        let m = i.mnemonic();
        let size = op_size(i, 0);
        let bits = size * 8;
        self.counted_rmw(i, 1, refund, |me, a, c| {
            let top = |me: &mut Self, v: Value| me.bit(v, bits - 1);
            let c1 = me.b.ins().iadd_imm_s(c, -1);
            match m {
                Mnemonic::Rol | Mnemonic::Ror => {
                    let r = if size == 4 {
                        if m == Mnemonic::Rol {
                            me.b.ins().rotl(a, c)
                        } else {
                            me.b.ins().rotr(a, c)
                        }
                    } else {
                        // by count mod width, as shifts of the masked value
                        let k = me.b.ins().band_imm_s(c, bits as i64 - 1);
                        let l = if m == Mnemonic::Rol {
                            k
                        } else {
                            me.rsub(bits as i64, k)
                        };
                        let rk = me.rsub(bits as i64, l);
                        let hi = me.b.ins().ishl(a, l);
                        let lo = me.b.ins().ushr(a, rk);
                        let x = me.b.ins().bor(hi, lo);
                        me.mask_to(x, size)
                    };
                    let msb = top(me, r);
                    let (cf, of) = if m == Mnemonic::Rol {
                        let cf = me.b.ins().band_imm_s(r, 1);
                        (cf, me.b.ins().bxor(msb, cf))
                    } else {
                        let next = me.bit(r, bits - 2);
                        (msb, me.b.ins().bxor(msb, next))
                    };
                    let of = me.at(of, fl::OF);
                    let f = me.b.ins().bor(cf, of);
                    (r, f, fl::CF | fl::OF)
                }
                Mnemonic::Shr => {
                    let r = me.b.ins().ushr(a, c);
                    let cf = me.b.ins().ushr(a, c1);
                    let cf = me.b.ins().band_imm_s(cf, 1);
                    let one = me.b.ins().icmp_imm_s(IntCC::Equal, c, 1);
                    let one = me.b.ins().uextend(types::I32, one);
                    let sa = top(me, a);
                    let of = me.b.ins().band(one, sa);
                    let of = me.at(of, fl::OF);
                    let f = me.szp(r, size);
                    let f = me.b.ins().bor(f, cf);
                    (r, me.b.ins().bor(f, of), STATUS)
                }
                Mnemonic::Sar => {
                    let sa = me.sext64(a, size);
                    let sa = me.b.ins().ireduce(types::I32, sa);
                    let sr = me.b.ins().sshr(sa, c);
                    let r = me.mask_to(sr, size);
                    let cf = me.b.ins().sshr(sa, c1);
                    let cf = me.b.ins().band_imm_s(cf, 1);
                    let f = me.szp(r, size);
                    (r, me.b.ins().bor(f, cf), STATUS)
                }
                _ => {
                    // SHL/SAL: through 64 bits, CF is the last bit shifted out.
                    let a64 = me.b.ins().uextend(types::I64, a);
                    let c64 = me.b.ins().uextend(types::I64, c);
                    let wide = me.b.ins().ishl(a64, c64);
                    let r = me.b.ins().ireduce(types::I32, wide);
                    let r = me.mask_to(r, size);
                    let out = me.b.ins().ushr_imm_s(wide, bits as i64);
                    let out = me.b.ins().ireduce(types::I32, out);
                    let cf = me.b.ins().band_imm_s(out, 1);
                    let msb = top(me, r);
                    let of = me.b.ins().bxor(msb, cf);
                    let of = me.at(of, fl::OF);
                    let f = me.szp(r, size);
                    let f = me.b.ins().bor(f, cf);
                    (r, me.b.ins().bor(f, of), STATUS)
                }
            }
        });
    }

    /// SHLD/SHRD r/m, r, CL/imm8 (16-bit forms shift through src:dst:src like the P6).
    pub(super) fn double_shift(&mut self, i: &Instruction, refund: i64) {
        let size = op_size(i, 0);
        let bits = size as i64 * 8;
        let left = i.mnemonic() == Mnemonic::Shld;
        let src = self.get_reg(i.op1_register());
        self.counted_rmw(i, 2, refund, |me, dst, c| {
            let i64t = types::I64;
            let (hi, lo) = if left { (dst, src) } else { (src, dst) };
            let hi = me.b.ins().uextend(i64t, hi);
            let lo = me.b.ins().uextend(i64t, lo);
            let mut wide = me.b.ins().ishl_imm_s(hi, 32);
            if size == 2 {
                let mid = me.b.ins().ishl_imm_s(lo, 16);
                wide = me.b.ins().bor(wide, mid);
                wide = me.b.ins().bor(wide, hi);
            } else {
                wide = me.b.ins().bor(wide, lo);
            }
            let c64 = me.b.ins().uextend(i64t, c);
            let (r, out) = if left {
                // r = wide << c >> 32; CF = bit (top - c) of wide
                let top = if size == 2 { 48 } else { 64 };
                let s = me.b.ins().ishl(wide, c64);
                let r = me.b.ins().ushr_imm_s(s, 32);
                let at = me.rsub(top, c64);
                (r, me.b.ins().ushr(wide, at))
            } else {
                // r = wide >> (base + c); CF = bit (base + c - 1)
                let base = if size == 2 { 16 } else { 0 };
                let at = me.b.ins().iadd_imm_s(c64, base);
                let r = me.b.ins().ushr(wide, at);
                let at1 = me.b.ins().iadd_imm_s(at, -1);
                (r, me.b.ins().ushr(wide, at1))
            };
            let r = me.b.ins().ireduce(types::I32, r);
            let r = me.mask_to(r, size);
            let out = me.b.ins().ireduce(types::I32, out);
            let cf = me.b.ins().band_imm_s(out, 1);
            let x = me.b.ins().bxor(r, dst);
            let of = me.bit(x, bits as u32 - 1);
            let of = me.at(of, fl::OF);
            let f = me.szp(r, size);
            let f = me.b.ins().bor(f, cf);
            (r, me.b.ins().bor(f, of), STATUS)
        });
    }

    /// BT/BTS/BTR/BTC: CF = the bit; a register offset into a memory operand reaches
    /// beyond it (signed, in operand-sized steps).
    pub(super) fn bit_test(&mut self, i: &Instruction, refund: i64) {
        let m = i.mnemonic();
        let size = op_size(i, 0);
        let bits = size * 8;
        let off = self.read_op(i, 1, size, false, refund);
        let (val, bit, mem) = if i.op0_kind() == OpKind::Memory {
            let seg = seg_index(i.memory_segment());
            let mut ea = self.ea(i);
            if i.op1_kind() == OpKind::Register {
                let soff = self.sext64(off, size);
                let soff = self.b.ins().ireduce(types::I32, soff);
                let steps = self.b.ins().sshr_imm_s(soff, if size == 2 { 4 } else { 5 });
                let disp = self.b.ins().imul_imm_s(steps, size as i64);
                ea = self.b.ins().iadd(ea, disp);
                if !addr32(i) {
                    ea = self.b.ins().band_imm_s(ea, 0xFFFF);
                }
            }
            let v = self.read_mem(i, seg, ea, size, m != Mnemonic::Bt, refund);
            (v, off, Some((seg, ea)))
        } else {
            (self.get_reg(i.op0_register()), off, None)
        };
        let bit = self.b.ins().band_imm_s(bit, bits as i64 - 1);
        let old = self.b.ins().ushr(val, bit);
        let old = self.b.ins().band_imm_s(old, 1);
        if m != Mnemonic::Bt {
            let one = self.b.ins().iconst(types::I32, 1);
            let mb = self.b.ins().ishl(one, bit);
            let nv = match m {
                Mnemonic::Bts => self.b.ins().bor(val, mb),
                Mnemonic::Btr => self.b.ins().band_not(val, mb),
                _ => self.b.ins().bxor(val, mb),
            };
            match mem {
                Some((seg, ea)) => {
                    let r = self.write_mem(i, seg, ea, size, nv, refund);
                    self.code_hit = Some(r);
                }
                None => self.set_reg(i.op0_register(), nv),
            }
        }
        self.set_bits(fl::CF, old);
    }

    /// BSF/BSR (TZCNT/LZCNT run as these): a zero source sets ZF and keeps the destination
    /// and the other flags; else ZF = 0, SF/PF from the index, CF/OF/AF kept.
    pub(super) fn bit_scan(&mut self, i: &Instruction, refund: i64) {
        let size = op_size(i, 0);
        let v = self.read_op(i, 1, size, false, refund);
        self.materialize_all();
        let idx = if matches!(i.mnemonic(), Mnemonic::Bsf | Mnemonic::Tzcnt) {
            self.b.ins().ctz(v)
        } else {
            let lz = self.b.ins().clz(v);
            self.rsub(31, lz)
        };
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, v, 0);
        let f = self.get_flags();
        let f_zero = self.b.ins().bor_imm_s(f, fl::ZF as i64);
        let keep = self
            .b
            .ins()
            .band_imm_s(f, !((fl::ZF | fl::SF | fl::PF) as i64));
        let sp = self.szp(idx, size);
        let sp = self.b.ins().band_imm_s(sp, (fl::SF | fl::PF) as i64);
        let f_found = self.b.ins().bor(keep, sp);
        let nf = self.b.ins().select(zero, f_zero, f_found);
        self.set_flags(nf);
        self.forget_writer();
        let old = self.get_reg(i.op0_register());
        let r = self.b.ins().select(zero, old, idx);
        self.set_reg(i.op0_register(), r);
    }

    /// BSWAP r32 (BSWAP r16 is undefined; the P6 clears the register).
    pub(super) fn bswap(&mut self, i: &Instruction) {
        let r = i.op0_register();
        let v = if r.size() == 4 {
            let v = self.get_reg(r);
            self.b.ins().bswap(v)
        } else {
            self.b.ins().iconst(types::I32, 0)
        };
        self.set_reg(r, v);
    }
}
