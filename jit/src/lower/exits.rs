//! Leaving translated code: the region's shared exit blocks (registers and flags written
//! back, EIP and budget settled), chaining into the next translation through an exit's own
//! link (`JumpCache::links`) or the jump cache and its code TLB, and the shared fault block.
//! The shared blocks' code is compiled once, as `ExitStub` functions the blocks tail-call
//! (`lower_stub`), except the jump-cache lookup of regions with indirect JMPs or CALLs.

use super::*;

/// The code every region shares for leaving, compiled once as functions of its own that a
/// region tail-calls (so no region carries a copy): the exit (`Chain`: EIP and budget settled,
/// then chaining to the next translation or back to the dispatcher; `Plain`: straight back),
/// the interpreter fallback (`Interp`) and fault delivery (`Fault`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExitStub {
    Chain,
    Plain,
    Interp,
    Fault,
}

impl ExitStub {
    pub const ALL: [ExitStub; 4] = [
        ExitStub::Chain,
        ExitStub::Plain,
        ExitStub::Interp,
        ExitStub::Fault,
    ];

    /// Parameters: (eip, set, code, refund, link, mode | user << 16) for the exits,
    /// (instruction, refund) for `Interp`, (eip, refund, budget) for `Fault`. The context
    /// stays in the pinned register. (At most six, all in registers: a tail call with
    /// arguments on the stack would make every region's prologue and epilogue move its
    /// return address.)
    fn params(self) -> &'static [types::Type] {
        use types::{I32, I64};
        match self {
            ExitStub::Chain | ExitStub::Plain => &[I32, I32, I32, I64, I64, I32],
            ExitStub::Interp => &[I64, I64],
            ExitStub::Fault => &[I32, I64, I64],
        }
    }

    fn sig_index(self) -> usize {
        match self {
            ExitStub::Chain | ExitStub::Plain => 0,
            ExitStub::Interp => 1,
            ExitStub::Fault => 2,
        }
    }

    pub fn signature(self) -> Signature {
        let mut sig = Signature::new(CallConv::Tail);
        sig.params
            .extend(self.params().iter().map(|&t| AbiParam::new(t)));
        sig.returns.push(AbiParam::new(types::I32));
        sig
    }
}

/// Emit the function of the shared exit code `kind` (see `ExitStub`) into `b`: the same
/// blocks a region would have, entered with the function's parameters.
pub fn lower_stub(b: &mut FunctionBuilder, kind: ExitStub, h: Helpers, call_conv: CallConv) {
    let sigs = import_sigs(b, h, call_conv);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    // (The context is in the pinned register, as the region that tail-called left it.)
    let p = b.block_params(entry).to_vec();
    let region = Region {
        entry_eip: 0,
        phys: 0,
        code32: true,
        blocks: Vec::new(),
        max_last: 0,
        index: HashMap::new(),
        straddles: false,
        foreign: Vec::new(),
        string_quirks: false,
    };
    let mut l = Lower::new(b, &region, h, sigs, true, false, 0, LowerOptions::default());
    l.in_stub = true;
    let (blk, args) = match kind {
        ExitStub::Chain | ExitStub::Plain => {
            let mu = p[5];
            let mode = l.b.ins().band_imm_s(mu, 0xFFFF);
            let user = l.b.ins().ushr_imm_s(mu, 16);
            l.dyn_mode = Some((mode, user));
            (l.exit_block(kind == ExitStub::Chain), &p[0..5])
        }
        ExitStub::Interp => {
            let b = l.interp_block();
            (b, &p[0..2])
        }
        ExitStub::Fault => {
            let b = l.fault_block();
            (b, &p[0..3])
        }
    };
    let args: Vec<BlockArg> = args.iter().map(|&v| BlockArg::Value(v)).collect();
    l.b.ins().jump(blk, &args);
    l.finish_exits();
    l.b.seal_all_blocks();
}

/// Where a linked exit goes (see `Lower::try_link`).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum LinkTo {
    /// A fixed EIP on the region's own page: the slot's translation was made for the region's
    /// physical page, whatever maps it.
    OwnPage,
    /// A fixed EIP on another page: the code TLB must map its page where the slot says.
    Page(u32),
    /// A computed EIP: the slot must name it, and the code TLB map its page as the slot says.
    Computed,
}

impl Lower<'_, '_> {
    /// The privilege bit of the region's jump-cache tags.
    fn jc_user(&self) -> u32 {
        if self.user {
            jumpcache::USER
        } else {
            0
        }
    }

    /// Jumps to one of the region's two shared exit blocks (with or without writing the
    /// registers back), which are emitted by `finish_exits`.
    pub(super) fn exit(&mut self, eip: Option<u32>, code: Value, refund: i64, regs: bool) {
        self.exit_chain(eip, code, refund, regs, false)
    }

    /// `chain`: the exit continues at a known or computed EIP with nothing else to report,
    /// so the next translation may be entered directly (see `jumpcache`).
    pub(super) fn exit_chain(
        &mut self,
        eip: Option<u32>,
        code: Value,
        refund: i64,
        regs: bool,
        chain: bool,
    ) {
        self.flush_lazy();
        self.sync_regs();
        let slot = match eip {
            Some(_) if chain && regs && refund == 0 => self.link_slot(),
            _ => None,
        };
        let e = self.b.ins().iconst(types::I32, eip.unwrap_or(0) as i64);
        if let (Some(slot), Some(t)) = (slot, eip) {
            let to = if (t ^ self.region.entry_eip) >> 12 == 0 {
                LinkTo::OwnPage
            } else {
                LinkTo::Page(t)
            };
            self.try_link(slot, e, to);
        }
        let blk = self.exit_block(regs);
        let set = self
            .b
            .ins()
            .iconst(types::I32, eip.is_some() as i64 | (chain as i64) << 1);
        let rf = self.b.ins().iconst(types::I64, refund);
        let link = self.b.ins().iconst(types::I64, slot.unwrap_or(0) as i64);
        let args = [e, set, code, rf, link].map(BlockArg::Value);
        self.b.ins().jump(blk, &args);
    }

    /// An exit-link slot for a chaining exit (see `JumpCache::links`), in a flat mode (CS
    /// base 0: an EIP is its linear address), while the region's slots last.
    pub(super) fn link_slot(&mut self) -> Option<u64> {
        if self.mode & MODE_FLAT == 0
            || self.links.table == 0
            || self.links_used >= self.links.count
        {
            return None;
        }
        let i = (self.links.first + self.links_used) as u64;
        self.links_used += 1;
        Some(self.links.table + jumpcache::LINK_BYTES as u64 * i)
    }

    /// Tail-call the translation held by the exit-link `slot` for the exit to EIP `e`, if it
    /// is valid here (see `LinkTo`); else fall through (registers and flags are stored).
    pub(super) fn try_link(&mut self, slot: u64, e: Value, to: LinkTo) {
        let i32t = types::I32;
        let at = self.b.ins().iconst(types::I64, slot as i64);
        let f = self
            .b
            .ins()
            .load(types::I64, self.mf, at, jumpcache::LINK_F);
        let mut ok = self.b.ins().icmp_imm_s(IntCC::NotEqual, f, 0);
        if to != LinkTo::OwnPage {
            let user = self.jc_user();
            let sphys = self.b.ins().load(i32t, self.mf, at, jumpcache::LINK_PHYS);
            let both = if let LinkTo::Page(t) = to {
                self.code_tlb_maps(t, sphys)
            } else {
                let lin = self.b.ins().load(i32t, self.mf, at, jumpcache::LINK_LIN);
                let same = self.b.ins().icmp(IntCC::Equal, lin, e);
                ok = self.b.ins().band(ok, same);
                let ps = self.b.ins().ushr_imm_s(e, 12);
                let ps = self.b.ins().band_imm_s(ps, jumpcache::PAGES as i64 - 1);
                let ps = self.b.ins().uextend(types::I64, ps);
                let ps = self.b.ins().ishl_imm_s(ps, 3);
                let base = self.b.ins().iconst(types::I64, self.links.jc as i64);
                let tag_at = self.b.ins().iadd(base, ps);
                let page = self.b.ins().band_imm_s(e, 0xFFFF_F000u32 as i32 as i64);
                let want = self
                    .b
                    .ins()
                    .bor_imm_s(page, (jumpcache::VALID | user) as i64);
                let tag = self.b.ins().load(i32t, self.mf, tag_at, JC_PAGE_TAG);
                let mapped = self.b.ins().icmp(IntCC::Equal, tag, want);
                let phys = self.b.ins().load(i32t, self.mf, tag_at, JC_PAGE_PHYS);
                let there = self.b.ins().icmp(IntCC::Equal, phys, sphys);
                self.b.ins().band(mapped, there)
            };
            ok = self.b.ins().band(ok, both);
        }
        let go = self.b.create_block();
        let miss = self.b.create_block();
        self.b.ins().brif(ok, go, &[], miss, &[]);
        self.b.switch_to_block(go);
        let cpu = self.cpu_ptr();
        self.b.ins().store(self.mf, e, cpu, EIP);
        let cx = self.ctx();
        self.b
            .ins()
            .return_call_indirect(self.sigs.region, f, &[cpu, cx]);
        self.b.switch_to_block(miss);
    }

    /// Whether the code TLB maps the (fixed) EIP `t`'s page to the physical page `phys` (an
    /// address on it) for the region's privilege. Needs `links.jc`.
    fn code_tlb_maps(&mut self, t: u32, phys: Value) -> Value {
        let i32t = types::I32;
        let off = 8 * jumpcache::page_slot(t) as i64;
        let tag_at = self.b.ins().iconst(types::I64, self.links.jc as i64 + off);
        let want = (t & !0xFFF) | jumpcache::VALID | self.jc_user();
        let tag = self.b.ins().load(i32t, self.mf, tag_at, JC_PAGE_TAG);
        let mapped = self.b.ins().icmp_imm_s(IntCC::Equal, tag, want as i64);
        let page = self.b.ins().load(i32t, self.mf, tag_at, JC_PAGE_PHYS);
        let phys = self.b.ins().band_imm_s(phys, 0xFFFF_F000u32 as i32 as i64);
        let there = self.b.ins().icmp(IntCC::Equal, page, phys);
        self.b.ins().band(mapped, there)
    }

    /// Before a CALL enters the region's block at `t` on another page (see
    /// `region::Foreign`): leave for `t` unless the code TLB maps `t` where the block's code
    /// came from.
    pub(super) fn check_foreign(&mut self, t: u32) {
        let Some(f) = self.region.foreign.iter().find(|f| f.eip == t).copied() else {
            return;
        };
        let go = self.b.create_block();
        let out = self.b.create_block();
        self.b.set_cold_block(out);
        if self.links.jc == 0 {
            self.b.ins().jump(out, &[]);
        } else {
            let phys = self.b.ins().iconst(types::I32, f.phys as i64);
            let ok = self.code_tlb_maps(t, phys);
            self.b.ins().brif(ok, go, &[], out, &[]);
        }
        self.b.switch_to_block(out);
        self.leave_before(t);
        self.b.switch_to_block(go);
    }

    pub(super) fn exit_block(&mut self, regs: bool) -> Block {
        let slot = &mut self.exits[regs as usize];
        if let Some(b) = *slot {
            return b;
        }
        let b = self.b.create_block();
        for t in [types::I32, types::I32, types::I32, types::I64, types::I64] {
            self.b.append_block_param(b, t);
        }
        self.b.set_cold_block(b);
        self.exits[regs as usize] = Some(b);
        b
    }

    /// Enter the translation cached for the new EIP `e` with a tail call if the exit allows
    /// it (`set` bit 1) and the jump cache has one for this mode within the CS limit; else
    /// return `code` to the dispatcher.
    pub(super) fn chain(&mut self, set: Value, e: Value, cpu: Value, code: Value, link: Value) {
        let i64t = types::I64;
        let ret = self.b.create_block();
        let look = self.b.create_block();
        let go = self.b.create_block();
        let want = self.b.ins().band_imm_s(set, 2);
        let jc = self.ctx_load(i64t, CTX_JC);
        let have = self.b.ins().icmp_imm_s(IntCC::NotEqual, jc, 0);
        let both = self.b.ins().icmp_imm_s(IntCC::NotEqual, want, 0);
        let ok = self.b.ins().band(have, both);
        self.b.ins().brif(ok, look, &[], ret, &[]);
        self.b.switch_to_block(look);
        // In a flat mode (the region's, which an entry must have too) CS has base 0 and
        // limit 4 GiB: the EIP is the linear address and any translation fits the limit.
        let flat = self.dyn_mode.is_none() && self.mode & MODE_FLAT != 0;
        let lin = if flat {
            e
        } else {
            let base = self.b.ins().load(types::I32, self.mf, cpu, CS_BASE);
            self.b.ins().iadd(e, base)
        };
        let h = self.b.ins().imul_imm_s(lin, jumpcache::HASH as i32 as i64);
        let idx = self.b.ins().ushr_imm_s(h, jumpcache::SLOT_SHIFT as i64);
        let idx = self.b.ins().uextend(i64t, idx);
        let off = self
            .b
            .ins()
            .imul_imm_s(idx, std::mem::size_of::<jumpcache::JumpEntry>() as i64);
        let ent = self.b.ins().iadd(jc, off);
        let elin = self.b.ins().load(types::I32, self.mf, ent, JE_LIN);
        let emode = self.b.ins().load(types::I32, self.mf, ent, JE_MODE);
        let m1 = self.b.ins().icmp(IntCC::Equal, elin, lin);
        let m2 = match self.dyn_mode {
            Some((mode, _)) => self.b.ins().icmp(IntCC::Equal, emode, mode),
            None => self
                .b
                .ins()
                .icmp_imm_s(IntCC::Equal, emode, self.mode as i64),
        };
        let m3 = if flat {
            None
        } else {
            let elast = self.b.ins().load(types::I32, self.mf, ent, JE_LAST);
            let limit = self.b.ins().load(types::I32, self.mf, cpu, CS_LIMIT);
            Some(
                self.b
                    .ins()
                    .icmp(IntCC::UnsignedLessThanOrEqual, elast, limit),
            )
        };
        // The linear page must map where it did when the entry was made (code TLB).
        let pslot = self.b.ins().ushr_imm_s(lin, 12);
        let pslot = self.b.ins().band_imm_s(pslot, jumpcache::PAGES as i64 - 1);
        let pslot = self.b.ins().uextend(i64t, pslot);
        let pslot = self.b.ins().ishl_imm_s(pslot, 3);
        let pat = self.b.ins().iadd(jc, pslot);
        let ptag = self.b.ins().load(types::I32, self.mf, pat, JC_PAGE_TAG);
        let pphys = self.b.ins().load(types::I32, self.mf, pat, JC_PAGE_PHYS);
        let page = self.b.ins().band_imm_s(lin, 0xFFFF_F000u32 as i32 as i64);
        let tag = match self.dyn_mode {
            Some((_, user)) => {
                let t = self.b.ins().bor_imm_s(page, jumpcache::VALID as i64);
                self.b.ins().bor(t, user)
            }
            None => {
                let user = self.jc_user();
                self.b
                    .ins()
                    .bor_imm_s(page, (jumpcache::VALID | user) as i64)
            }
        };
        let m4 = self.b.ins().icmp(IntCC::Equal, ptag, tag);
        let ephys = self.b.ins().load(types::I32, self.mf, ent, JE_PHYS);
        let m5 = self.b.ins().icmp(IntCC::Equal, pphys, ephys);
        let mut m = self.b.ins().band(m1, m2);
        if let Some(m3) = m3 {
            m = self.b.ins().band(m, m3);
        }
        let m = self.b.ins().band(m, m4);
        let m = self.b.ins().band(m, m5);
        self.b.ins().brif(m, go, &[], ret, &[]);
        self.b.switch_to_block(go);
        // The next translation takes over the lazy flag record in the context (EFLAGS in
        // the state may hold stale status bits until it settles them).
        let f = self.b.ins().load(i64t, self.mf, ent, JE_F);
        // An exit with a link slot links itself to what it found (see `exit_chain`).
        let fill = self.b.create_block();
        let call = self.b.create_block();
        self.b.ins().brif(link, fill, &[], call, &[]);
        self.b.switch_to_block(fill);
        self.b.ins().store(self.mf, f, link, jumpcache::LINK_F);
        self.b.ins().store(self.mf, lin, link, jumpcache::LINK_LIN);
        self.b
            .ins()
            .store(self.mf, ephys, link, jumpcache::LINK_PHYS);
        self.b.ins().jump(call, &[]);
        self.b.switch_to_block(call);
        let cx = self.ctx();
        self.b
            .ins()
            .return_call_indirect(self.sigs.region, f, &[cpu, cx]);
        self.b.switch_to_block(ret);
        self.ctx_store(want, CTX_CHAIN_MISS);
        // Back to the dispatcher: EFLAGS exact.
        self.materialize_exit();
        self.b.ins().return_(&[code]);
    }

    /// In a shared exit: EFLAGS exact from the lazy record in the context (every path into
    /// a shared exit stored its record there: `flush_lazy`).
    pub(super) fn materialize_exit(&mut self) {
        let f = self.get_flags();
        let m = self.lazy_mask();
        let nf = self.call_h_flags(f, m);
        self.set_flags(nf);
    }

    /// Emit the shared exit and fault blocks (after all guest blocks).
    pub(super) fn finish_exits(&mut self) {
        // (Every path into these blocks stored its registers and lazy record.)
        self.regs = RegCache::default();
        self.cpu = None;
        self.ctxv = None;
        if !self.in_stub && self.h.stubs.iter().all(|&s| s != 0) {
            self.finish_exits_with_stubs();
            return;
        }
        if let Some(ib) = self.interp_blk {
            self.b.switch_to_block(ib);
            let p = self.b.block_params(ib).to_vec();
            let (ip, refund) = (p[0], p[1]);
            self.materialize_exit();
            // (The budget is settled before the call: nothing but the context lives across
            // a call, so translations need no callee-saved registers for it.)
            let bud = self.bud_get();
            let bud = self.b.ins().iadd(bud, refund);
            self.bud_set(bud);
            let r = self.b.ins().iadd_imm_s(bud, 1);
            let f = self.b.ins().iconst(types::I64, self.h.exec as i64);
            let cx = self.ctx();
            let call = self.b.ins().call_indirect(self.sigs.exec, f, &[cx, ip, r]);
            let res = self.b.inst_results(call)[0];
            let c = self.exit_code(res);
            let blk = self.exit_block(false);
            let zero32 = self.b.ins().iconst(types::I32, 0);
            let zero64 = self.b.ins().iconst(types::I64, 0);
            let args = [zero32, zero32, c, zero64, zero64].map(BlockArg::Value);
            self.b.ins().jump(blk, &args);
        }
        if let Some(fb) = self.fault_blk {
            self.b.switch_to_block(fb);
            let p = self.b.block_params(fb).to_vec();
            let (eip, refund, bk) = (p[0], p[1], p[2]);
            // (A leave through a fault path: `Lower::write_mem_last`.)
            let leave = self.b.ins().ushr_imm_s(refund, LEAVE_BIT as i64);
            let leave = self.b.ins().ireduce(types::I32, leave);
            let refund = self.b.ins().band_imm_s(refund, (1i64 << LEAVE_BIT) - 1);
            self.materialize_exit();
            let bud = self.bud_get();
            let bud = self.b.ins().iadd(bud, refund);
            self.bud_set(bud);
            let f = self.b.ins().iconst(types::I64, self.h.raise as i64);
            let cx = self.ctx();
            let call = self
                .b
                .ins()
                .call_indirect(self.sigs.raise, f, &[cx, eip, bk, leave]);
            let res = self.b.inst_results(call)[0];
            let sd = self.b.ins().band_imm_s(res, xr::SHUTDOWN as i64);
            let c_none = self.b.ins().iconst(types::I32, EXIT_NONE as i64);
            let c_sd = self.b.ins().iconst(types::I32, EXIT_SHUTDOWN as i64);
            let c = self.b.ins().select(sd, c_sd, c_none);
            let blk = self.exit_block(false);
            let zero32 = self.b.ins().iconst(types::I32, 0);
            let zero64 = self.b.ins().iconst(types::I64, 0);
            let args = [zero32, zero32, c, zero64, zero64].map(BlockArg::Value);
            self.b.ins().jump(blk, &args);
        }
        for regs in [true, false] {
            self.emit_exit_block(regs);
        }
    }

    /// The code of the shared exit block (`exit_block`), if the region has it.
    fn emit_exit_block(&mut self, regs: bool) {
        let Some(b) = self.exits[regs as usize] else {
            return;
        };
        self.b.switch_to_block(b);
        let p = self.b.block_params(b).to_vec();
        let (eip, set, code, refund, link) = (p[0], p[1], p[2], p[3], p[4]);
        let cpu = self.cpu_ptr();
        let cur = self.b.ins().load(types::I32, self.mf, cpu, EIP);
        let has = self.b.ins().band_imm_s(set, 1);
        let e = self.b.ins().select(has, eip, cur);
        self.b.ins().store(self.mf, e, cpu, EIP);
        let bud = self.bud_get();
        let bud = self.b.ins().iadd(bud, refund);
        self.ctx_store(bud, CTX_BUDGET);
        if regs {
            self.chain(set, e, cpu, code, link);
        } else {
            self.b.ins().return_(&[code]);
        }
    }

    /// `finish_exits` when the shared exit code is in `ExitStub` functions: each shared
    /// block tail-calls its function with its parameters (but see `indirect_exit`).
    fn finish_exits_with_stubs(&mut self) {
        let call = |l: &mut Self, blk: Block, kind: ExitStub, extra: Option<i64>| {
            l.b.switch_to_block(blk);
            let mut args = l.b.block_params(blk).to_vec();
            args.extend(extra.map(|x| l.b.ins().iconst(types::I32, x)));
            let f =
                l.b.ins()
                    .iconst(types::I64, l.h.stubs[kind as usize] as i64);
            l.b.ins()
                .return_call_indirect(l.sigs.stub[kind.sig_index()], f, &args);
        };
        if let Some(ib) = self.interp_blk {
            call(self, ib, ExitStub::Interp, None);
        }
        if let Some(fb) = self.fault_blk {
            call(self, fb, ExitStub::Fault, None);
        }
        for (regs, kind) in [(true, ExitStub::Chain), (false, ExitStub::Plain)] {
            if regs && self.indirect_exit {
                // Indirect jumps and calls often miss their exit link: their lookup in the
                // jump cache stays in the region, one tail call fewer. (Not for RETs alone:
                // most go back to a return site in the region or to their link, and the
                // lookup's copy in every region with a RET made 4% more code and compile
                // time for a 1% faster call benchmark.)
                self.emit_exit_block(true);
                continue;
            }
            if let Some(b) = self.exits[regs as usize] {
                let user = self.jc_user();
                call(self, b, kind, Some((self.mode | user << 16) as i64));
            }
        }
    }

    pub(super) fn exit_const(&mut self, eip: Option<u32>, code: i32, refund: i64) {
        let c = self.b.ins().iconst(types::I32, code as i64);
        self.exit(eip, c, refund, true);
    }

    /// Leave for `eip` (or the EIP in the state), chaining to its translation if cached.
    pub(super) fn exit_to(&mut self, eip: Option<u32>) {
        let c = self.b.ins().iconst(types::I32, EXIT_NONE as i64);
        self.exit_chain(eip, c, 0, true, true);
    }

    /// Continue at guest `eip`: a jump to its block if the region has it, else an exit.
    pub(super) fn goto(&mut self, eip: u32) {
        if let Some(l) = self.self_loop.as_ref().filter(|l| l.eip == eip) {
            // The back edge of a block to itself: the written registers go along.
            let (check, regs) = (l.check, l.regs.clone());
            let gi = self.region.index[&eip];
            self.materialize(self.need[gi]);
            self.flush_lazy();
            let args: Vec<BlockArg> = regs
                .into_iter()
                .map(|r| BlockArg::Value(self.gpr_get(r)))
                .collect();
            self.b.ins().jump(check, &args);
        } else if let Some(&h) = self.heads.get(&eip) {
            let gi = self.region.index[&eip];
            self.materialize(self.need[gi]);
            if self.fuse.may_fuse(gi) {
                if self.fuse_into(gi) {
                    self.b.ins().jump(h, &[]);
                } else {
                    // (More ways in than `fuse::fusable` counted: leave instead.)
                    self.exit_to(Some(eip));
                }
                return;
            }
            self.flush_lazy();
            self.sync_regs();
            self.b.ins().jump(h, &[]);
        } else {
            self.exit_to(Some(eip));
        }
    }
}
