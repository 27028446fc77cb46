//! Guest registers in translated code: the per-block cache of register values (`RegCache`),
//! stored back wherever code outside the block may look, and the loop form of a block that
//! branches to itself, which carries its registers around the loop in SSA values.

use super::*;

/// Guest registers live in the CPU state. Within a guest block, a register read or written
/// there is kept as an SSA value (`vals`); written ones (`dirty`) are stored back before
/// anything outside the block may look: at the jump to another block, at every exit, fault
/// path or interpreter call (`sync_regs`). Values therefore never live across blocks,
/// which keeps register allocation local and cheap.
#[derive(Clone, Copy, Default)]
pub(super) struct RegCache {
    pub(super) vals: [Option<Value>; 8],
    pub(super) dirty: u8,
    /// Loaded from the context within the block (they change only when the interpreter
    /// runs): segment bases, read and write limits.
    pub(super) seg_base: [Option<Value>; 6],
    pub(super) seg_lim: [[Option<Value>; 6]; 2],
}

/// A loop's back edges to its head (see `Lower::enter_self_loop`): the block that checks the
/// budget and takes the written registers (`regs`, in order) as parameters.
#[derive(Clone)]
pub(super) struct SelfLoop {
    pub(super) eip: u32,
    pub(super) check: Block,
    pub(super) regs: Vec<usize>,
}

impl Lower<'_, '_> {
    /// After a call with the host's C convention: the pointers a block keeps at hand are
    /// taken afresh, so no value lives across the call (in a callee-saved register the
    /// translation would have to save in its prologue).
    pub(super) fn after_call(&mut self) {
        self.ctxv = None;
        self.cpu = None;
        let c = self.ctx();
        self.ctxv = Some(c);
        let p = self.cpu_ptr();
        self.cpu = Some(p);
        self.fault_stub = None;
    }

    /// Forget the cached registers (the interpreter may have changed them).
    pub(super) fn reload(&mut self) {
        self.regs = RegCache::default();
    }

    /// Store the written registers back to the CPU state (code only; the cache stays
    /// as it is: for paths that leave).
    pub(super) fn sync_regs(&mut self) {
        for r in 0..8 {
            if self.regs.dirty & 1 << r != 0 {
                let v = self.regs.vals[r].expect("a dirty register has a value");
                let cpu = self.cpu_ptr();
                self.b.ins().store(self.mf, v, cpu, GPR + 4 * r as i32);
            }
        }
    }

    /// Store the written registers back; they are clean from here on.
    pub(super) fn writeback(&mut self) {
        self.sync_regs();
        self.regs.dirty = 0;
    }

    /// Guest register `n` (32 bits).
    pub(super) fn gpr_get(&mut self, n: usize) -> Value {
        if let Some(v) = self.regs.vals[n] {
            return v;
        }
        let cpu = self.cpu_ptr();
        let v = self
            .b
            .ins()
            .load(types::I32, self.mf, cpu, GPR + 4 * n as i32);
        self.regs.vals[n] = Some(v);
        v
    }

    pub(super) fn gpr_set(&mut self, n: usize, v: Value) {
        self.regs.vals[n] = Some(v);
        self.regs.dirty |= 1 << n;
    }

    /// A loop (`body`: its head, a block that branches to itself or is branched back to by a
    /// block fused to it, then those fused blocks, see `fuse`) keeps the registers it uses in
    /// SSA values across its back edges: its head loads them (and the segment tables its
    /// accesses use) once; the back edges pass the written ones to a `check` block (the
    /// budget check), whose exits store them. The registers it only reads stay loaded.
    pub(super) fn enter_self_loop(&mut self, body: &[usize], reads: u8, writes: u8) {
        let region = self.region;
        let eip = region.blocks[body[0]].eip;
        let mut cache = RegCache::default();
        for r in 0..8 {
            if (reads | writes) & 1 << r != 0 {
                cache.vals[r] = Some(self.gpr_get(r));
            }
        }
        self.regs = RegCache::default();
        for i in body.iter().flat_map(|&b| &region.blocks[b].instrs) {
            if let Some(seg) = (0..i.op_count())
                .any(|n| i.op_kind(n) == OpKind::Memory)
                .then(|| seg_index(i.memory_segment()))
            {
                let s = seg as usize;
                if cache.seg_base[s].is_none() && !self.flat_seg(seg) {
                    cache.seg_base[s] =
                        Some(self.ctx_load(types::I32, CTX_SEG_BASE + 4 * seg as i32));
                    for w in [false, true] {
                        let at = if w { CTX_SEG_WLIM } else { CTX_SEG_RLIM } + 8 * seg as i32;
                        cache.seg_lim[w as usize][s] = Some(self.ctx_load(types::I64, at));
                    }
                }
            }
        }
        let check = self.b.create_block();
        let mut args = Vec::new();
        let mut order = Vec::new();
        for r in 0..8 {
            if writes & 1 << r != 0 {
                let p = self.b.append_block_param(check, types::I32);
                args.push(BlockArg::Value(cache.vals[r].expect("loaded above")));
                cache.vals[r] = Some(p);
                order.push(r);
            }
        }
        self.b.ins().jump(check, &args);
        self.b.switch_to_block(check);
        cache.dirty = writes;
        self.regs = cache;
        self.self_loop = Some(SelfLoop {
            eip,
            check,
            regs: order,
        });
    }
}
