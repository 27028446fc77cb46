//! Region discovery: starting at a hot entry, decode the straight-line blocks reachable through
//! direct branches that stay on the entry's physical page (at the same EIP-to-physical offset,
//! so the region is valid whatever CS base maps it there). Loops inside a page therefore run
//! inside one compiled function. A branch to a block that has never run (`Seen::Never`: no
//! dispatcher visit yet) is left out, so it leaves the region if it is ever taken: error
//! paths and the like cost no compile time (on the Linux smoke boot: 13% fewer guest
//! instructions compiled, 12% less compile time). Except a loop's way out, which has not run
//! yet while the loop first runs hot.
//!
//! Nor does a region take in a block where another translation of `SHARED_MIN` or more
//! instructions starts (compiled or being compiled: `Seen::Entry`), unless that block is on a
//! loop of the region: it leaves for that translation there (an exit link) instead of
//! compiling its code a second time. On the Linux smoke boot: 19% fewer guest instructions
//! compiled (34,389 instead of 42,663), for 12% more region entries (80 M instead of 71 M).
//!
//! One kind of code on other pages comes in: a leaf function that a CALL of the region enters
//! (a few instructions straight to RET, such as the `__x86.get_pc_thunk.bx` that every
//! function of position-independent i386 code calls first). The region runs it and goes on at
//! the return site instead of leaving twice (for the function, then for its return site);
//! see `Foreign` for what keeps it valid.

use std::collections::HashMap;

use iced_x86::{FlowControl, Instruction};
use ironbox_cpu::translator::{mode_key, MODE_FLAT};
use ironbox_cpu::{Cpu, CpuBus};

/// Most instructions in one guest block, and most blocks in one region. (8 blocks: on the
/// Linux benchmark, 16 compiled 1.8x the guest instructions for ~1.4x the worker's time,
/// and the background compiler is what holds its boot back.)
pub const MAX_BLOCK: usize = 64;
pub const MAX_BLOCKS: usize = 8;

/// A translation of this many guest instructions or more is not compiled again as part of
/// another region: that region leaves for it (see `Seen::Entry`). Shorter ones are (a short
/// tail compiled twice costs less than the extra transition, and leaving at every other
/// entry, small or queued, made the call and indirect-jump benchmarks 1.3x and 1.7x slower).
pub const SHARED_MIN: usize = 16;

/// Region size limits (one-instruction regions let instruction tests exercise translations).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub block_instrs: usize,
    pub blocks: usize,
    /// Take in leaf functions of other pages (see `Foreign`).
    pub leaves: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            block_instrs: MAX_BLOCK,
            blocks: std::env::var("IRONBOX_JIT_BLOCKS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(MAX_BLOCKS),
            leaves: true,
        }
    }
}

/// A straight-line run of guest instructions.
pub struct GuestBlock {
    pub eip: u32,
    pub instrs: Vec<Instruction>,
}

impl GuestBlock {
    /// EIP after the last instruction (masked to 16 bits for 16-bit code).
    pub fn next_eip(&self, code32: bool) -> u32 {
        let n = self.instrs.last().map_or(self.eip, |i| i.next_ip32());
        if code32 {
            n
        } else {
            n & 0xFFFF
        }
    }
}

/// The blocks of one region; `blocks[0]` starts at the entry.
pub struct Region {
    pub entry_eip: u32,
    /// Physical address of the entry.
    #[allow(dead_code)]
    pub phys: u32,
    pub code32: bool,
    pub blocks: Vec<GuestBlock>,
    /// Highest EIP of any byte of the region (checked against the CS limit at entry).
    pub max_last: u32,
    pub index: HashMap<u32, usize>,
    /// The region is one instruction that crosses into the next page: its code decodes and
    /// runs it afresh each time (the next page's bytes are not tracked), then leaves.
    pub straddles: bool,
    /// The CPU model has string-instruction quirks on faults (8086, 80286: see the
    /// interpreter's `overrun_286`): plain string instructions stay interpreted.
    pub string_quirks: bool,
    /// Blocks on other pages than the entry's: leaf functions a CALL of the region enters
    /// (see `leaf_at`).
    pub foreign: Vec<Foreign>,
}

/// A block of a region on another page than the region's entry: a short leaf function
/// (straight-line code ending in RET, such as the `__x86.get_pc_thunk` of position-independent
/// code) that a CALL of the region enters. Its code holds while its linear page maps to the
/// physical page it was decoded from (the CALL checks the code TLB, else leaves for it), and
/// while that page's generation stays `gen` (the dispatcher checks, as for the entry's page).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Foreign {
    pub eip: u32,
    /// Physical address of `eip`.
    pub phys: u32,
    /// The page's generation when decoded (set by the cache when it takes the region).
    pub gen: u32,
}

/// Most instructions of a leaf function a region takes in from another page (RET included).
pub const MAX_LEAF: usize = 8;

impl Region {
    pub fn instr_count(&self) -> usize {
        self.blocks.iter().map(|b| b.instrs.len()).sum()
    }
}

/// What the dispatcher knows of a block head (an EIP and its physical address).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// Never run.
    Never,
    /// Run (interpreted).
    Ran,
    /// Another translation of at least `SHARED_MIN` instructions starts there (compiled,
    /// or queued for compilation).
    Entry,
}

/// Decode the region at CS:`eip` (physical `phys`), following direct branches to the
/// blocks that ran, except those where another translation starts (see `Seen`) and that are
/// on no loop of the region (a loop stays in one translation). `None` if not even one
/// instruction can be decoded there.
pub fn discover<B: CpuBus>(
    cpu: &mut Cpu,
    bus: &mut B,
    eip: u32,
    phys: u32,
    limits: Limits,
    seen: &dyn Fn(u32, u32) -> Seen,
) -> Option<Region> {
    let phys_of = |s: u32| phys.wrapping_add(s.wrapping_sub(eip));
    // First with every block that ran, then without the other translations' entries that
    // are on no loop (and what only they reach).
    let ran = |s: u32, self_loop: bool| match seen(s, phys_of(s)) {
        Seen::Never => self_loop,
        Seen::Ran | Seen::Entry => true,
    };
    let (region, succs) = walk(cpu, bus, eip, phys, limits, &ran)?;
    let skip: Vec<u32> = region
        .blocks
        .iter()
        .map(|b| b.eip)
        .filter(|&b| b != eip && seen(b, phys_of(b)) == Seen::Entry && !on_loop(b, &succs))
        .collect();
    if skip.is_empty() {
        return Some(region);
    }
    let take = |s: u32, self_loop: bool| !skip.contains(&s) && ran(s, self_loop);
    walk(cpu, bus, eip, phys, limits, &take).map(|(r, _)| r)
}

/// Whether block `b` can reach itself through the region's edges `succs`.
fn on_loop(b: u32, succs: &HashMap<u32, Vec<u32>>) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut work = succs.get(&b).cloned().unwrap_or_default();
    while let Some(s) = work.pop() {
        if s == b {
            return true;
        }
        if seen.insert(s) {
            work.extend(succs.get(&s).into_iter().flatten().copied());
        }
    }
    false
}

/// Region discovery with `take(eip, self_loop)` saying which branch targets to follow
/// (`self_loop`: the branch goes back to its own block's start): the region and, per block,
/// the targets it followed.
fn walk<B: CpuBus>(
    cpu: &mut Cpu,
    bus: &mut B,
    eip: u32,
    phys: u32,
    limits: Limits,
    take: &dyn Fn(u32, bool) -> bool,
) -> Option<(Region, HashMap<u32, Vec<u32>>)> {
    let mut succs = HashMap::new();
    let code32 = cpu.s.code32();
    let page = phys >> 12;
    let mut region = Region {
        entry_eip: eip,
        phys,
        code32,
        blocks: Vec::new(),
        max_last: eip,
        index: HashMap::new(),
        straddles: false,
        string_quirks: matches!(
            cpu.s.model,
            ironbox_cpu::CpuModel::I8086 | ironbox_cpu::CpuModel::I80286
        ),
        foreign: Vec::new(),
    };
    // (Flat: the EIPs of other pages are their linear addresses, which the code TLB maps.)
    let flat = mode_key(cpu) & MODE_FLAT != 0 && code32 && limits.leaves;
    let mut work = vec![eip];
    while let Some(start) = work.pop() {
        if region.index.contains_key(&start) || region.blocks.len() >= limits.blocks {
            continue;
        }
        let mut instrs = Vec::new();
        let mut at = start;
        let mut succ = Vec::new();
        let mut callee: Option<GuestBlock> = None;
        loop {
            // Same page, same offset from the entry.
            let want = phys.wrapping_add(at.wrapping_sub(eip));
            if want >> 12 != page {
                break;
            }
            let Some((i, p)) = cpu.decode_for_translation(bus, at) else {
                break;
            };
            if p != want {
                break;
            }
            let len = i.len() as u32;
            let last = at.wrapping_add(len - 1);
            if last < at || (!code32 && last > 0xFFFF) {
                break; // wraps
            }
            region.max_last = region.max_last.max(last);
            let flow = i.flow_control();
            instrs.push(i);
            if i.mnemonic() == iced_x86::Mnemonic::Hlt {
                break; // what follows is often data; the region leaves at HLT anyway
            }
            if flow != FlowControl::Next {
                // (A loop's way out has not run while the loop first runs hot: it stays.)
                let self_loop = has_near_target(&i) && i.near_branch_target() as u32 == start;
                // A call's return site is reached inside the region only by a RET of a callee
                // inside it: not when the callee is on another page (then it is dead code
                // here, taking a block of the region's few), unless the callee is a leaf
                // function the region takes in (with room for it and the return site).
                let callee_here = || {
                    let t = i.near_branch_target() as u32;
                    phys.wrapping_add(t.wrapping_sub(eip)) >> 12 == page
                };
                let leaf = flat
                    && i.code() == iced_x86::Code::Call_rel32_32
                    && !callee_here()
                    && region.blocks.len() + 2 < limits.blocks
                    && {
                        let t = i.near_branch_target() as u32;
                        region.foreign.iter().any(|f| f.eip == t)
                            || leaf_at(cpu, bus, t).is_some_and(|(b, p)| {
                                region.foreign.push(Foreign {
                                    eip: t,
                                    phys: p,
                                    gen: 0,
                                });
                                callee = Some(b);
                                true
                            })
                    };
                if leaf {
                    succ.push(i.near_branch_target() as u32);
                }
                let mut follow = |s: u32| {
                    if take(s, self_loop) {
                        succ.push(s);
                    }
                };
                if !leaf
                    && matches!(
                        flow,
                        FlowControl::ConditionalBranch
                            | FlowControl::UnconditionalBranch
                            | FlowControl::Call
                    )
                    && has_near_target(&i)
                {
                    follow(i.near_branch_target() as u32);
                }
                if flow == FlowControl::ConditionalBranch
                    || (flow == FlowControl::Call && has_near_target(&i) && callee_here())
                    || leaf
                {
                    follow(next(at, len, code32));
                }
                break;
            }
            at = next(at, len, code32);
            if instrs.len() >= limits.block_instrs {
                succ.push(at);
                break;
            }
        }
        if instrs.is_empty() {
            if start != eip {
                continue;
            }
            // An entry whose instruction crosses a page still chains through a translation.
            let i = cpu.decode_straddling(bus, eip)?;
            region.max_last = eip.wrapping_add(i.len() as u32 - 1);
            if region.max_last < eip || (!code32 && region.max_last > 0xFFFF) {
                return None;
            }
            region.straddles = true;
            region.index.insert(eip, 0);
            region.blocks.push(GuestBlock {
                eip,
                instrs: vec![i],
            });
            return Some((region, succs));
        }
        region.index.insert(start, region.blocks.len());
        region.blocks.push(GuestBlock { eip: start, instrs });
        if let Some(b) = callee {
            // The leaf's only way on is its RET, to the return site the call followed.
            let ret = succ.get(1).copied();
            let leaf_last = b.instrs.last().map_or(b.eip, |i| i.next_ip32() - 1);
            region.max_last = region.max_last.max(leaf_last);
            succs.insert(b.eip, ret.into_iter().collect());
            region.index.insert(b.eip, region.blocks.len());
            region.blocks.push(b);
        }
        for &s in succ.iter().rev() {
            work.push(s);
        }
        succs.insert(start, succ);
    }
    Some((region, succs))
}

/// The leaf function at `t` a region may take in from another page (see `Foreign`): at most
/// `MAX_LEAF` instructions on one page that run straight to a near RET (of 32 bits, releasing
/// nothing). The block and its physical address. Looking at code that has not run yet
/// changes nothing the guest sees (`Cpu::decode_clean`); a leaf's page is claimed as code.
fn leaf_at<B: CpuBus>(cpu: &mut Cpu, bus: &mut B, t: u32) -> Option<(GuestBlock, u32)> {
    let mut instrs = Vec::new();
    let mut at = t;
    let mut first = None;
    while instrs.len() < MAX_LEAF {
        let (i, p) = cpu.decode_clean(bus, at)?;
        let start = *first.get_or_insert(p);
        if p.wrapping_sub(start) != at.wrapping_sub(t) || at < t {
            return None; // another page, or wrapped
        }
        at = at.wrapping_add(i.len() as u32);
        instrs.push(i);
        match i.flow_control() {
            FlowControl::Next if i.mnemonic() != iced_x86::Mnemonic::Hlt => {}
            FlowControl::Return if i.code() == iced_x86::Code::Retnd => {
                for i in &instrs {
                    cpu.claim_code_bytes(start + (i.ip32() - t), i.len() as u32);
                }
                return Some((GuestBlock { eip: t, instrs }, start));
            }
            _ => return None,
        }
    }
    None
}

fn next(at: u32, len: u32, code32: bool) -> u32 {
    let n = at.wrapping_add(len);
    if code32 {
        n
    } else {
        n & 0xFFFF
    }
}

/// A direct near branch (Jcc, JMP rel, CALL rel, LOOP, JCXZ): it has an immediate target.
pub fn has_near_target(i: &Instruction) -> bool {
    use iced_x86::OpKind;
    matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironbox_cpu::bus::FlatBus;
    use ironbox_cpu::state::{SegReg, Segment};
    use ironbox_cpu::CpuModel;

    /// 16-bit code at 0x1000: `jz 0x1006 / nop / nop / nop / nop / loop: dec cx / jnz loop /
    /// hlt`.
    fn region_with(seen: &dyn Fn(u32, u32) -> Seen) -> Region {
        region_of(
            &[0x74, 0x04, 0x90, 0x90, 0x90, 0x90, 0x49, 0x75, 0xFD, 0xF4],
            seen,
        )
    }

    fn region_of(code: &[u8], seen: &dyn Fn(u32, u32) -> Seen) -> Region {
        let mut bus = FlatBus::new(1 << 20);
        bus.mem[0x1000..0x1000 + code.len()].copy_from_slice(code);
        let mut cpu = Cpu::new(CpuModel::Pentium2);
        cpu.s.seg[SegReg::Cs as usize] = Segment::real(0);
        cpu.s.eip = 0x1000;
        discover(&mut cpu, &mut bus, 0x1000, 0x1000, Limits::default(), seen).unwrap()
    }

    fn heads(r: &Region) -> Vec<u32> {
        let mut h: Vec<u32> = r.blocks.iter().map(|b| b.eip).collect();
        h.sort();
        h
    }

    #[test]
    fn blocks_that_never_ran_stay_out_but_a_loops_way_out_stays_in() {
        let all = region_with(&|_, _| Seen::Ran);
        assert_eq!(heads(&all), [0x1000, 0x1002, 0x1006, 0x1009]);
        // Only the entry and the loop ran: the `jz` fall-through stays out; the loop's way
        // out (the HLT) stays in.
        let some = region_with(&|eip, phys| {
            assert_eq!(eip, phys);
            if eip == 0x1006 {
                Seen::Ran
            } else {
                Seen::Never
            }
        });
        assert_eq!(heads(&some), [0x1000, 0x1006, 0x1009]);
    }

    #[test]
    fn blocks_where_another_translation_starts_stay_out_unless_on_a_loop() {
        // The `jz` fall-through (0x1002) has a translation of its own and is on no loop: the
        // region leaves for it. The loop (0x1006) has one too, but stays: a loop is not split
        // between translations.
        let r = region_with(&|eip, _| match eip {
            0x1002 | 0x1006 => Seen::Entry,
            _ => Seen::Ran,
        });
        assert_eq!(heads(&r), [0x1000, 0x1006, 0x1009]);
        // A loop through the region's entry and a block where another translation starts
        // stays whole; the way out, also another translation's entry, stays out.
        // (`l: dec cx / jz out / nop / jmp l / out: hlt`)
        let r = region_of(&[0x49, 0x74, 0x03, 0x90, 0xEB, 0xFA, 0xF4], &|eip, _| {
            if eip == 0x1000 {
                Seen::Ran
            } else {
                Seen::Entry
            }
        });
        assert_eq!(heads(&r), [0x1000, 0x1003]);
        // A branch back to the region's own entry stays inside, whatever the cache says of
        // it. (`l: nop / dec cx / jnz l / hlt`)
        let r = region_of(&[0x90, 0x49, 0x75, 0xFC, 0xF4], &|_, _| Seen::Entry);
        assert_eq!(heads(&r), [0x1000]);
        let r = region_of(&[0x90, 0x49, 0x75, 0xFC, 0xF4], &|_, _| Seen::Ran);
        assert_eq!(heads(&r), [0x1000, 0x1004]);
    }

    #[test]
    fn return_sites_of_calls_to_other_pages_stay_out() {
        // call 0x1006 (this page) / call 0x3000 (another page) / nop / ret (at 0x1006)
        let near = [0xE8, 0x03, 0x00, 0xE8, 0xFA, 0x1F, 0x90, 0xC3];
        let r = region_of(&near, &|_, _| Seen::Ran);
        // The first call's target and return site (the second call) are in; the second
        // call's return site (0x1006 again, as the callee) is in through the first call only.
        assert_eq!(heads(&r), [0x1000, 0x1003, 0x1006]);
        // A call to another page alone: its return site stays out.
        let far = [0xE8, 0xFD, 0x1F, 0x90, 0xC3];
        let r = region_of(&far, &|_, _| Seen::Ran);
        assert_eq!(heads(&r), [0x1000]);
    }
}
