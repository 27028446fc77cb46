//! Data accesses in translated code: segment checks and the host-pointer TLB inline, the
//! access helpers (which do every check of the interpreter and fill the TLB) on a miss, and
//! the exits a write needs when it hit translated code.

use super::*;

/// The inline part of a data access (`Lower::inline_check`): whether it may go inline
/// (`ok`), the host address, the linear address, the TLB address + 8 × slot (the slot's
/// 64-bit fields are at their array's offset from there), and for the cold path the tag
/// found, the tag wanted and the segment check.
pub(super) struct Check {
    pub(super) ok: Value,
    pub(super) host: Value,
    pub(super) lin: Value,
    pub(super) slot: Value,
    tag: Value,
    want: Value,
    seg_ok: Option<Value>,
}

impl Lower<'_, '_> {
    /// The inline checks of a data access: segment limit and type, host TLB hit, no page
    /// crossing (see `Check`).
    pub(super) fn inline_check(&mut self, seg: u32, off: Value, size: u32, write: bool) -> Check {
        let i64t = types::I64;
        // A flat segment (`MODE_FLAT`) needs no check: the linear address is the offset.
        let (seg_ok, lin) = if self.flat_seg(seg) {
            (None, off)
        } else {
            let lim_at = if write { CTX_SEG_WLIM } else { CTX_SEG_RLIM } + 8 * seg as i32;
            let lim = match self.regs.seg_lim[write as usize][seg as usize] {
                Some(v) => v,
                None => {
                    let v = self.ctx_load(i64t, lim_at);
                    self.regs.seg_lim[write as usize][seg as usize] = Some(v);
                    v
                }
            };
            let off64 = self.b.ins().uextend(i64t, off);
            let end = self.b.ins().iadd_imm_s(off64, size as i64 - 1);
            let seg_ok = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, end, lim);
            let base = match self.regs.seg_base[seg as usize] {
                Some(v) => v,
                None => {
                    let v = self.ctx_load(types::I32, CTX_SEG_BASE + 4 * seg as i32);
                    self.regs.seg_base[seg as usize] = Some(v);
                    v
                }
            };
            (Some(seg_ok), self.b.ins().iadd(base, off))
        };
        let pg = self.b.ins().ushr_imm_s(lin, 12);
        let slot = self.b.ins().band_imm_s(pg, tlb::SLOTS as i64 - 1);
        let slot = self.b.ins().uextend(i64t, slot);
        let tag_off = self.b.ins().ishl_imm_s(slot, 2);
        // (The TLB is inside the context: `Ctx::host_tlb`.)
        let tlbp = self.ctx();
        let tag_at = self.b.ins().iadd(tlbp, tag_off);
        let set = self.tlb_set();
        let tag = self.b.ins().load(
            types::I32,
            self.mf,
            tag_at,
            set + if write { TLB_WRITE } else { TLB_READ },
        );
        // The page of the access's last byte: a hit means the slot holds the page of its
        // first byte too, so the access does not cross a page (nor wrap).
        let last = self.plus_const(lin, size as i64 - 1);
        let want = self.b.ins().band_imm_s(last, 0xFFFF_F000u32 as i32 as i64);
        let tlb_ok = self.b.ins().icmp(IntCC::Equal, tag, want);
        let ok = match seg_ok {
            Some(s) => self.b.ins().band(s, tlb_ok),
            None => tlb_ok,
        };
        let add_off = self.b.ins().ishl_imm_s(slot, 3);
        let add_at = self.b.ins().iadd(tlbp, add_off);
        let addend = self.b.ins().load(i64t, self.mf, add_at, set + TLB_ADDEND);
        let lin64 = self.b.ins().uextend(i64t, lin);
        let host = self.b.ins().iadd(addend, lin64);
        Check {
            ok,
            host,
            lin,
            slot: add_at,
            tag,
            want,
            seg_ok,
        }
    }

    /// For a write tag (cold path): the slot holds the page with `tlb::CODE_TAG` (a page
    /// that holds code, whose bitmap the write must check) and the segment allows it.
    fn code_page_ok(&mut self, c: &Check) -> Value {
        let want = self.b.ins().bor_imm_s(c.want, tlb::CODE_TAG as i64);
        let hit = self.b.ins().icmp(IntCC::Equal, c.tag, want);
        match c.seg_ok {
            Some(s) => self.b.ins().band(s, hit),
            None => hit,
        }
    }

    /// The offset of the host TLB set of the region's privilege (`tlb::HostTlb::sets`).
    pub(super) fn tlb_set(&self) -> i32 {
        if self.user {
            TLB_SET
        } else {
            0
        }
    }

    /// Is `seg` one of the segments the region's mode says are flat (ES, SS, DS)?
    pub(super) fn flat_seg(&self, seg: u32) -> bool {
        self.mode & MODE_FLAT != 0 && matches!(seg, 0 | 2 | 3)
    }

    pub(super) fn mem_type(size: u32) -> types::Type {
        match size {
            1 => types::I8,
            2 => types::I16,
            _ => types::I32,
        }
    }

    pub(super) fn read_mem(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        rmw: bool,
        refund: i64,
    ) -> Value {
        if !self.inline_memory {
            return self.read_mem_helper(i, seg, off, size, rmw, refund);
        }
        if let Some(host) = self.grouped_host(seg, off, size, rmw) {
            let raw = self
                .b
                .ins()
                .load(Self::mem_type(size), MemFlagsData::new(), host, 0);
            return if size == 4 {
                raw
            } else {
                self.b.ins().uextend(types::I32, raw)
            };
        }
        let c = self.inline_check(seg, off, size, rmw);
        let host = c.host;
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let v = self.b.append_block_param(join, types::I32);
        self.b.set_cold_block(slow);
        if rmw {
            // (The read of a read-modify-write operand checks the write tag, which on a
            // page with code has `CODE_TAG`: the read itself may still go inline.)
            let code = self.b.create_block();
            self.b.set_cold_block(code);
            self.b.ins().brif(c.ok, fast, &[], code, &[]);
            self.b.switch_to_block(code);
            let k = self.code_page_ok(&c);
            self.b.ins().brif(k, fast, &[], slow, &[]);
        } else {
            self.b.ins().brif(c.ok, fast, &[], slow, &[]);
        }
        self.b.switch_to_block(fast);
        let raw = self
            .b
            .ins()
            .load(Self::mem_type(size), MemFlagsData::new(), host, 0);
        let fv = if size == 4 {
            raw
        } else {
            self.b.ins().uextend(types::I32, raw)
        };
        self.b.ins().jump(join, &[BlockArg::Value(fv)]);
        self.b.switch_to_block(slow);
        self.read_mem_helper_to(i, seg, off, size, rmw, refund, Some(join));
        self.b.switch_to_block(join);
        v
    }

    /// After an access helper: if `bad`, leave through the fault path of `i`, else go on
    /// to `to` (with the value `v`) or, without `to`, in a new block.
    fn fault_if(&mut self, bad: Value, i: &Instruction, refund: i64, to: Option<(Block, Value)>) {
        let (stub, args) = self.fault_target(i, refund);
        match to {
            Some((join, v)) => {
                // Back to `join` through a cold block of its own: Cranelift places the block
                // it splits a critical edge with as hot as the edge's target, in the middle
                // of the fast path (a taken jump per access).
                let back = self.b.create_block();
                self.b.set_cold_block(back);
                self.b.ins().brif(bad, stub, &args, back, &[]);
                self.b.switch_to_block(back);
                self.b.ins().jump(join, &[BlockArg::Value(v)]);
            }
            None => {
                let cont = self.b.create_block();
                self.b.ins().brif(bad, stub, &args, cont, &[]);
                self.b.switch_to_block(cont);
            }
        }
    }

    pub(super) fn write_mem(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        v: Value,
        refund: i64,
    ) -> Value {
        if !self.inline_memory {
            return self.write_mem_helper(i, seg, off, size, v, refund);
        }
        if self.grouped_write(seg, off, size, v) {
            return self.b.ins().iconst(types::I32, 0);
        }
        let join = self.b.create_block();
        let res = self.b.append_block_param(join, types::I32);
        let slow = self.write_inline(seg, off, size, v);
        let zero = self.b.ins().iconst(types::I32, 0);
        self.b.ins().jump(join, &[BlockArg::Value(zero)]);
        self.b.switch_to_block(slow);
        self.write_mem_helper_to(i, seg, off, size, v, refund, Some(join));
        self.b.switch_to_block(join);
        res
    }

    /// A write a checked stack group covers (`stack`), done; `false`: not covered.
    fn grouped_write(&mut self, seg: u32, off: Value, size: u32, v: Value) -> bool {
        let Some(host) = self.grouped_host(seg, off, size, true) else {
            return false;
        };
        let nv = if size == 4 {
            v
        } else {
            self.b.ins().ireduce(Self::mem_type(size), v)
        };
        self.b.ins().store(MemFlagsData::new(), nv, host, 0);
        true
    }

    /// The inline part of a write: the checks, then (on a page with code, if the bytes
    /// written hold none) the store; the builder is left after the store. Returns the cold
    /// block where the helper must take the write instead.
    fn write_inline(&mut self, seg: u32, off: Value, size: u32, v: Value) -> Block {
        let c = self.inline_check(seg, off, size, true);
        let host = c.host;
        let code = self.b.create_block();
        let slow = self.b.create_block();
        let store = self.b.create_block();
        let bitmap = self.b.create_block();
        // A page with code has its write tag marked (`tlb::CODE_TAG`), so the fast path
        // misses it; out of line, the bytes written must hold no code.
        self.b.set_cold_block(code);
        self.b.set_cold_block(slow);
        self.b.set_cold_block(bitmap);
        self.b.ins().brif(c.ok, store, &[], code, &[]);
        self.b.switch_to_block(code);
        let k = self.code_page_ok(&c);
        self.b.ins().brif(k, bitmap, &[], slow, &[]);
        self.b.switch_to_block(bitmap);
        let at = self.tlb_set() + TLB_CODE_BITS;
        let bits = self.b.ins().load(types::I64, self.mf, c.slot, at);
        let hit = self.code_bytes_hit(bits, c.lin, size);
        self.b.ins().brif(hit, slow, &[], store, &[]);
        self.b.switch_to_block(store);
        let nv = if size == 4 {
            v
        } else {
            self.b.ins().ireduce(Self::mem_type(size), v)
        };
        self.b.ins().store(MemFlagsData::new(), nv, host, 0);
        slow
    }

    /// A write that is the last thing its instruction does (MOV to memory): the state after
    /// the instruction is the state the fault path stores, so a write that hits translated
    /// code leaves through the same fault path (with `LEAVE_BIT` in the refund, for the next
    /// instruction), from the helper's cold path: the fast path has nothing to test after.
    pub(super) fn write_mem_last(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        v: Value,
        refund: i64,
    ) {
        if !self.inline_memory {
            let r = self.write_mem_helper(i, seg, off, size, v, refund);
            self.code_hit = Some(r);
            return;
        }
        if self.grouped_write(seg, off, size, v) {
            return;
        }
        let join = self.b.create_block();
        let slow = self.write_inline(seg, off, size, v);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        let r = self.call_write(seg, off, size, v);
        let special = self
            .b
            .ins()
            .band_imm_s(r, (WRITE_FAULT | WRITE_HIT_CODE) as i64);
        let (stub, fault_args) = self.fault_target(i, refund);
        let which = self.b.create_block();
        let back = self.b.create_block();
        self.b.set_cold_block(which);
        self.b.set_cold_block(back);
        self.b.ins().brif(special, which, &[], back, &[]);
        self.b.switch_to_block(which);
        let bad = self.b.ins().band_imm_s(r, WRITE_FAULT as i64);
        let nx = self.mask_next(i.next_ip32());
        let nx = self.b.ins().iconst(types::I32, nx as i64);
        let rf = self.b.ins().iconst(types::I64, refund | 1 << LEAVE_BIT);
        let leave_args = [BlockArg::Value(nx), BlockArg::Value(rf)];
        self.b.ins().brif(bad, stub, &fault_args, stub, &leave_args);
        self.b.switch_to_block(back);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
    }

    /// Non-zero if any of the `size` bytes at `lin` (not crossing its page) is marked in the
    /// code-byte bitmap at host address `bits` (bit `b % 8` of byte `b / 8`, little-endian
    /// words). The 16 bits from the byte holding the first one cover every size up to 8 (the
    /// bitmap ends with a zero word: `Cpu::code_bytes_map`).
    fn code_bytes_hit(&mut self, bits: Value, lin: Value, size: u32) -> Value {
        let b = self.b.ins().band_imm_s(lin, 0xFFF);
        let byte = self.b.ins().ushr_imm_s(b, 3);
        let byte = self.b.ins().uextend(types::I64, byte);
        let at = self.b.ins().iadd(bits, byte);
        let window = self.b.ins().uload16(types::I32, MemFlagsData::new(), at, 0);
        let sh = self.b.ins().band_imm_s(b, 7);
        let window = self.b.ins().ushr(window, sh);
        self.b.ins().band_imm_s(window, (1i64 << size) - 1)
    }

    pub(super) fn read_mem_helper(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        rmw: bool,
        refund: i64,
    ) -> Value {
        self.read_mem_helper_to(i, seg, off, size, rmw, refund, None)
    }

    /// `read_mem_helper`; with `to`, the block ends by going there with the value.
    #[allow(clippy::too_many_arguments)]
    fn read_mem_helper_to(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        rmw: bool,
        refund: i64,
        to: Option<Block>,
    ) -> Value {
        let segv = self.b.ins().iconst(types::I32, seg as i64);
        let sz = self
            .b
            .ins()
            .iconst(types::I32, (size | if rmw { 0x100 } else { 0 }) as i64);
        let args = [self.ctx(), segv, off, sz];
        let r = self.call_cold(self.sigs.read, self.h.read, &args, types::I64);
        let bad = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, r, READ_FAULT as i64);
        let v = self.b.ins().ireduce(types::I32, r);
        self.fault_if(bad, i, refund, to.map(|b| (b, v)));
        v
    }

    /// Write; on a fault leave through the fault path. Returns after the write; if it hit
    /// code, the caller's instruction must be the last one run (`leave_after_write`).
    pub(super) fn write_mem_helper(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        v: Value,
        refund: i64,
    ) -> Value {
        self.write_mem_helper_to(i, seg, off, size, v, refund, None)
    }

    /// `write_mem_helper`; with `to`, the block ends by going there with the result.
    #[allow(clippy::too_many_arguments)]
    fn write_mem_helper_to(
        &mut self,
        i: &Instruction,
        seg: u32,
        off: Value,
        size: u32,
        v: Value,
        refund: i64,
        to: Option<Block>,
    ) -> Value {
        let r = self.call_write(seg, off, size, v);
        let bad = self.b.ins().band_imm_s(r, WRITE_FAULT as i64);
        self.fault_if(bad, i, refund, to.map(|b| (b, r)));
        r
    }

    /// The write helper's call: its `WRITE_*` result bits.
    fn call_write(&mut self, seg: u32, off: Value, size: u32, v: Value) -> Value {
        let segv = self.b.ins().iconst(types::I32, seg as i64);
        let sz = self.b.ins().iconst(types::I32, size as i64);
        let args = [self.ctx(), segv, off, sz, v];
        self.call_cold(self.sigs.write, self.h.write, &args, types::I32)
    }

    /// After an instruction whose write returned `r`: if it hit translated code, leave with
    /// EIP at the next instruction.
    pub(super) fn leave_if_code_hit(&mut self, i: &Instruction, r: Value, refund: i64) {
        let nx = self.mask_next(i.next_ip32());
        self.leave_if_code_hit_to(r, refund, nx);
    }

    /// If the write result `r` says translated code was hit, leave for `nx`.
    pub(super) fn leave_if_code_hit_to(&mut self, r: Value, refund: i64, nx: u32) {
        if self.const_of(r) == Some(0) {
            return; // a write that cannot hit code (a stack group's)
        }
        let hit = self.b.ins().band_imm_s(r, WRITE_HIT_CODE as i64);
        let out = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(out);
        self.b.ins().brif(hit, out, &[], cont, &[]);
        self.b.switch_to_block(out);
        self.exit_const(Some(nx), EXIT_NONE, refund);
        self.b.switch_to_block(cont);
    }
}
