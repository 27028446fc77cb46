//! Block fusion: a guest block with exactly one way in inside the region (one edge from one
//! other block, not the entry, not a return site) continues that block's compile-time state.
//! Its predecessor stores the registers it wrote but not the lazy flag record, and jumps to
//! it; it starts with the predecessor's register values, pointers and pending flags at hand
//! (they dominate it), as if the two were one block. Its predecessor's budget check usually
//! covers it: a block checks for its own instructions plus the most any chain of blocks
//! fused to it may run, up to `MAX_BLOCK` instructions (`budget_checks`; a region left at
//! its entry for want of budget must leave less than a block's worth, which the dispatcher
//! does not count as heat, or the blocks after the entry become regions of their own).
//! A block whose fused blocks branch back to it heads a loop that keeps its registers in
//! values around it, as a block that branches to itself does (`Lower::enter_self_loop`).

use super::*;
use crate::region::MAX_BLOCK;

/// What a fused block starts from: its predecessor's state at the jump (and the loop it is
/// part of, whose head it may branch back to).
#[derive(Clone)]
pub(super) struct Carried {
    state: BranchState,
    cpu: Option<Value>,
    ctxv: Option<Value>,
    self_loop: Option<SelfLoop>,
}

/// Per guest block of a region: whether it is fused, and to which block (what `fusable` and
/// `budget_checks` found), and how far lowering got with it.
#[derive(Default)]
pub(super) struct Fusion {
    /// The block it may be fused to (its one way in).
    pub(super) pred: Vec<Option<usize>>,
    /// The budget its check asks for; whether, fused, its predecessor's check covers it.
    pub(super) need: Vec<i64>,
    pub(super) covered: Vec<bool>,
    /// The state it was given once its predecessor jumped there.
    pub(super) carried: Vec<Option<Carried>>,
    /// Lowered from the stored state (so any block may jump to it).
    pub(super) fresh: Vec<bool>,
    /// Fused blocks given their state and not lowered yet; the block being lowered.
    pub(super) pending: Vec<usize>,
    pub(super) current: usize,
}

impl Fusion {
    pub(super) fn new(region: &Region, kinds: &[Vec<Kind>]) -> Fusion {
        let pred = fusable(region, kinds);
        let (need, covered) = budget_checks(region, kinds, &pred);
        let n = pred.len();
        Fusion {
            pred,
            need,
            covered,
            carried: vec![None; n],
            fresh: vec![false; n],
            pending: Vec::new(),
            current: 0,
        }
    }

    /// A jump to block `gi` may fuse it: it has one way in and was not lowered unfused.
    pub(super) fn may_fuse(&self, gi: usize) -> bool {
        self.pred.get(gi).is_some_and(|p| p.is_some()) && !self.fresh[gi]
    }
}

/// The region's blocks (by EIP) that the lowering of block `g` may jump to (`Lower::goto`),
/// one entry per edge. RET's returns to call sites are not listed (see `fusable`).
fn successors(g: &crate::region::GuestBlock, kinds: &[Kind], code32: bool) -> Vec<u32> {
    let (Some(i), Some(&k)) = (g.instrs.last(), kinds.last()) else {
        return Vec::new();
    };
    let nx = g.next_eip(code32);
    let target = has_near_target(i).then(|| i.near_branch_target() as u32);
    match k {
        Kind::Interp if i.flow_control() == FlowControl::Next => vec![nx],
        Kind::Interp => target.into_iter().chain([nx]).collect(),
        Kind::CallRel => target.into_iter().collect(),
        Kind::RetNear | Kind::JmpInd | Kind::CallInd => Vec::new(),
        Kind::Branch if i.mnemonic() == Mnemonic::Jmp => target.into_iter().collect(),
        Kind::Branch | Kind::Loop => target.into_iter().chain([nx]).collect(),
        _ => vec![nx],
    }
}

/// Per block of `region`: the other block of the region that is its single way in, so
/// that it may be fused to it. Counting more edges than the lowering makes only loses a
/// fusion; a jump from any other block finds it unfused or leaves the region
/// (`Lower::goto`).
pub(super) fn fusable(region: &Region, kinds: &[Vec<Kind>]) -> Vec<Option<usize>> {
    let n = region.blocks.len();
    let mut preds = vec![0u32; n];
    let mut from = vec![0usize; n];
    if region.straddles {
        return vec![None; n];
    }
    preds[region.index[&region.entry_eip]] += 2;
    for (gi, (g, k)) in region.blocks.iter().zip(kinds).enumerate() {
        for s in successors(g, k, region.code32) {
            if let Some(&t) = region.index.get(&s) {
                // (A block's edge to itself: its loop form, never fused.)
                preds[t] += if t == gi { 2 } else { 1 };
                from[t] = gi;
            }
        }
        if let Some(Kind::CallRel | Kind::CallInd) = k.last() {
            if let Some(&t) = region.index.get(&g.next_eip(region.code32)) {
                preds[t] += 2; // reached by RETs (`Lower::return_sites`)
            }
        }
    }
    preds
        .into_iter()
        .zip(from)
        .map(|(p, f)| (p == 1).then_some(f))
        .collect()
}

/// Per block: the instructions its budget check must allow for (its own and those of the
/// blocks fused to it that do not check), and whether, fused, it is covered by its
/// predecessor's check (and checks nothing). Not after a block that calls the interpreter:
/// a REP string instruction there uses what budget there is, beyond the check's count.
pub(super) fn budget_checks(
    region: &Region,
    kinds: &[Vec<Kind>],
    pred: &[Option<usize>],
) -> (Vec<i64>, Vec<bool>) {
    let n = region.blocks.len();
    let mut kids = vec![Vec::new(); n];
    for (b, p) in pred.iter().enumerate() {
        if let Some(p) = *p {
            if !kinds[p].contains(&Kind::Interp) {
                kids[p].push(b);
            }
        }
    }
    // (Fused blocks form trees under unfused roots; a cycle of them is unreachable.)
    fn need(b: usize, kids: &[Vec<usize>], region: &Region, memo: &mut [Option<i64>]) -> i64 {
        if let Some(v) = memo[b] {
            return v;
        }
        memo[b] = Some(0);
        let own = region.blocks[b].instrs.len() as i64;
        let most = kids[b]
            .iter()
            .map(|&k| need(k, kids, region, memo))
            .filter(|&v| own + v <= MAX_BLOCK as i64)
            .max()
            .unwrap_or(0);
        memo[b] = Some(own + most);
        own + most
    }
    let mut memo = vec![None; n];
    let need: Vec<i64> = (0..n).map(|b| need(b, &kids, region, &mut memo)).collect();
    let covered = (0..n)
        .map(|b| pred[b].is_some_and(|p| need[p] >= need[b] + region.blocks[p].instrs.len() as i64))
        .collect();
    (need, covered)
}

impl Lower<'_, '_> {
    /// At a jump to fusable block `gi`: keep the state for it if this is its one
    /// predecessor (whose budget check counted it). False if not, or if it was taken
    /// already (the caller leaves the region instead).
    pub(super) fn fuse_into(&mut self, gi: usize) -> bool {
        let f = &self.fuse;
        if f.carried[gi].is_some() || f.pred[gi] != Some(f.current) {
            return false;
        }
        // The registers are stored (their values stay at hand): the fused block's exits and
        // fault paths then store only what it writes itself (carrying them dirty made 5%
        // more code for no measurable gain). Not in a loop, whose registers stay in values
        // until it leaves.
        if self.self_loop.is_none() {
            self.writeback();
        }
        self.fuse.carried[gi] = Some(Carried {
            state: self.branch_state(),
            cpu: self.cpu,
            ctxv: self.ctxv,
            self_loop: self.self_loop.clone(),
        });
        self.fuse.pending.push(gi);
        true
    }

    /// The head of a fused block: its predecessor's state.
    pub(super) fn enter_fused(&mut self, c: Carried) {
        self.set_branch_state(c.state);
        self.cpu = c.cpu;
        self.ctxv = c.ctxv;
        self.self_loop = c.self_loop;
        self.fault_stub = None;
    }

    /// Block `gi` and the blocks that may be fused to it, directly or through one another
    /// (`gi` first): a loop's body if one of them branches back to `gi`.
    pub(super) fn loop_body(&self, gi: usize) -> Vec<usize> {
        let mut body = vec![gi];
        let mut k = 0;
        while k < body.len() {
            let p = body[k];
            for (b, f) in self.fuse.pred.iter().enumerate() {
                if *f == Some(p) && !body.contains(&b) {
                    body.push(b);
                }
            }
            k += 1;
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::GuestBlock;
    use iced_x86::{Decoder, DecoderOptions};

    /// A region of 32-bit code at 0x1000 cut into blocks at `starts` (its first block first).
    fn region(code: &[u8], starts: &[u32]) -> (Region, Vec<Vec<Kind>>) {
        let mut d = Decoder::with_ip(32, code, 0x1000, DecoderOptions::NONE);
        let all: Vec<Instruction> = d.iter().collect();
        let mut blocks = Vec::new();
        for (k, &s) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(u32::MAX);
            let instrs = all
                .iter()
                .filter(|i| i.ip32() >= s && i.ip32() < end)
                .copied()
                .collect();
            blocks.push(GuestBlock { eip: s, instrs });
        }
        let index = blocks.iter().enumerate().map(|(k, b)| (b.eip, k)).collect();
        let kinds = blocks
            .iter()
            .map(|b| b.instrs.iter().map(classify).collect())
            .collect();
        let r = Region {
            entry_eip: 0x1000,
            phys: 0x1000,
            code32: true,
            blocks,
            max_last: 0x1000 + code.len() as u32 - 1,
            index,
            straddles: false,
            foreign: Vec::new(),
            string_quirks: false,
        };
        (r, kinds)
    }

    #[test]
    fn arms_of_a_branch_fuse_and_their_join_does_not() {
        // 1000: test eax,eax / jz 1008 | 1004: inc eax / inc eax / jmp 100b
        // | 1008: dec eax / nop / nop (falls through) | 100b: ret (the join)
        let code = [
            0x85, 0xC0, 0x74, 0x04, 0x40, 0x40, 0xEB, 0x03, 0x48, 0x90, 0x90, 0xC3,
        ];
        let (r, kinds) = region(&code, &[0x1000, 0x1004, 0x1008, 0x100B]);
        let pred = fusable(&r, &kinds);
        assert_eq!(pred, vec![None, Some(0), Some(0), None]);
        let (need, covered) = budget_checks(&r, &kinds, &pred);
        // The entry checks for itself plus its longer arm; the arms are covered.
        assert_eq!(need[0], 2 + 3);
        assert_eq!(covered, vec![false, true, true, false]);
    }

    #[test]
    fn return_sites_and_self_loops_are_not_fused() {
        // 1000: call 1007 | 1005: nop / ret (return site) | 1007: dec ecx / jnz 1007 (self loop)
        // / ret
        let code = [
            0xE8, 0x02, 0x00, 0x00, 0x00, 0x90, 0xC3, 0x49, 0x75, 0xFD, 0xC3,
        ];
        let (r, kinds) = region(&code, &[0x1000, 0x1005, 0x1007, 0x100A]);
        let pred = fusable(&r, &kinds);
        // 1007 is the call's target but also its own loop's; 100a follows the loop only.
        assert_eq!(pred, vec![None, None, None, Some(2)]);
    }

    #[test]
    fn long_chains_check_again_past_a_block() {
        // 64 NOPs, JMP to 64 more NOPs and a RET: too many for one check.
        let mut code = vec![0x90; 64];
        code.extend([0xEB, 0x00]);
        code.extend([0x90; 64]);
        code.push(0xC3);
        let (r, kinds) = region(&code, &[0x1000, 0x1042]);
        let pred = fusable(&r, &kinds);
        assert_eq!(pred, vec![None, Some(0)]);
        let (need, covered) = budget_checks(&r, &kinds, &pred);
        assert_eq!(need, vec![65, 65]);
        assert_eq!(covered, vec![false, false]);
    }

    #[test]
    fn blocks_after_an_interpreter_call_check_their_own_budget() {
        // rep movsb / jmp 1004 | 1004: nop / ret: REP uses budget beyond its count.
        let code = [0xF3, 0xA4, 0xEB, 0x00, 0x90, 0xC3];
        let (r, kinds) = region(&code, &[0x1000, 0x1004]);
        assert_eq!(kinds[0][0], Kind::Interp);
        let pred = fusable(&r, &kinds);
        assert_eq!(pred, vec![None, Some(0)]);
        let (need, covered) = budget_checks(&r, &kinds, &pred);
        assert_eq!(need, vec![2, 2]);
        assert_eq!(covered, vec![false, false]);
    }
}
