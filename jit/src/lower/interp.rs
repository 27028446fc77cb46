//! Instructions run by the interpreter from translated code (`Kind::Interp`, and cold paths
//! that need its exact behaviour): the call, what its result says (leave, branched, I/O,
//! shutdown), and where the block goes on.

use super::*;

impl Lower<'_, '_> {
    /// Call the interpreter for `i`.
    pub(super) fn interp(&mut self, i: &Instruction, refund: i64, last: bool) {
        self.materialize_all();
        self.writeback();
        let r = self.budget_at(refund);
        let ip = self
            .b
            .ins()
            .iconst(types::I64, i as *const Instruction as i64);
        // (A region that crosses pages decodes its instruction afresh.)
        let helper = if self.region.straddles {
            self.h.step
        } else if ironbox_cpu::translator::keeps_segments(i) {
            self.h.exec_plain
        } else {
            self.h.exec
        };
        let res = if rep_string(i) && !self.region.straddles {
            // Its batches run on while the budget allows (see `h_rep`).
            let f = self.b.ins().iconst(types::I64, self.h.rep as i64);
            let bud = self.bud_get();
            let cx = self.ctx();
            let call = self
                .b
                .ins()
                .call_indirect(self.sigs.rep, f, &[cx, ip, r, bud]);
            let res = self.b.inst_results(call)[0];
            let extra = self.b.ins().ushr_imm_s(res, 32);
            let bud = self.b.ins().isub(bud, extra);
            self.bud_set(bud);
            self.b.ins().ireduce(types::I32, res)
        } else {
            let f = self.b.ins().iconst(types::I64, helper as i64);
            let cx = self.ctx();
            let call = self.b.ins().call_indirect(self.sigs.exec, f, &[cx, ip, r]);
            self.b.inst_results(call)[0]
        };
        self.after_call();
        self.reload();
        self.lazy_reset();
        // Mid-block, any change of control flow (a REP instruction that stopped early, a
        // branch) leaves; the last instruction of a block may follow a known target below.
        let branch = i.flow_control() != FlowControl::Next;
        let mask = if last && branch {
            xr::LEAVE
        } else {
            xr::LEAVE | xr::BRANCHED
        };
        let leave = self.b.ins().band_imm_s(res, mask as i64);
        let out = self.b.create_block();
        let cont = self.b.create_block();
        self.b.ins().brif(leave, out, &[], cont, &[]);
        // Leave: the interpreter set EIP and everything else.
        self.b.switch_to_block(out);
        let c = self.exit_code(res);
        self.exit(None, c, refund, false);
        self.b.switch_to_block(cont);
        if !last {
            return;
        }
        if self.region.straddles {
            // Its length and target are known only to the interpreter: go where it went.
            self.exit_to(None);
            return;
        }
        // The last instruction of a block: follow it inside the region if it can.
        let nx = self.mask_next(i.next_ip32());
        if !branch {
            // Not branched (that left above): on to the next instruction.
            self.goto(nx);
            return;
        }
        let target = has_near_target(i).then(|| i.near_branch_target() as u32);
        let branched = self.b.ins().band_imm_s(res, xr::BRANCHED as i64);
        let yes = self.b.create_block();
        let no = self.b.create_block();
        self.b.ins().brif(branched, yes, &[], no, &[]);
        self.b.switch_to_block(yes);
        match target {
            Some(t) if self.heads.contains_key(&t) => self.goto(t),
            // Near branches keep the mode: the next translation may be entered directly.
            _ if near_branch(i) => self.exit_to(None),
            _ => self.exit_const(None, EXIT_NONE, 0),
        }
        self.b.switch_to_block(no);
        self.goto(nx);
    }

    /// The exit code for the interpreter's result `res`.
    pub(super) fn exit_code(&mut self, res: Value) -> Value {
        let io = self.b.ins().band_imm_s(res, xr::IO as i64);
        let sd = self.b.ins().band_imm_s(res, xr::SHUTDOWN as i64);
        let c_none = self.b.ins().iconst(types::I32, EXIT_NONE as i64);
        let c_io = self.b.ins().iconst(types::I32, EXIT_IO as i64);
        let c_sd = self.b.ins().iconst(types::I32, EXIT_SHUTDOWN as i64);
        let c = self.b.ins().select(io, c_io, c_none);
        self.b.ins().select(sd, c_sd, c)
    }

    /// Run `i` in the interpreter and leave (a cold path where the interpreter's exact
    /// behaviour is needed, e.g. a jump beyond the CS limit raising #GP): one shared block
    /// per region, so the rare case costs little code.
    pub(super) fn interp_exit(&mut self, i: &Instruction, refund: i64) {
        let ib = self.interp_block();
        self.flush_lazy();
        self.sync_regs();
        let ip = self
            .b
            .ins()
            .iconst(types::I64, i as *const Instruction as i64);
        let rf = self.b.ins().iconst(types::I64, refund);
        self.b
            .ins()
            .jump(ib, &[BlockArg::Value(ip), BlockArg::Value(rf)]);
    }

    /// The region's shared block that runs one instruction with the interpreter and leaves
    /// (parameters: the instruction's address, the refund), emitted by `finish_exits`.
    pub(super) fn interp_block(&mut self) -> Block {
        if let Some(b) = self.interp_blk {
            return b;
        }
        let b = self.b.create_block();
        for t in [types::I64, types::I64] {
            self.b.append_block_param(b, t);
        }
        self.b.set_cold_block(b);
        self.interp_blk = Some(b);
        b
    }
}
