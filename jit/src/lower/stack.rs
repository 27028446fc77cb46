//! Stack-frame access groups: a guest block's accesses relative to ESP or EBP as they were at
//! the block's start (pushes, pops, CALL/RET, LEAVE, `[ebp-8]`, `[esp+4]`) are checked once,
//! at the block's start, instead of one by one. `plan` estimates each group's range from the
//! instructions; at the block's start (`enter_stack_groups`) the host TLB must map the
//! range's first and last pages (plain RAM, and writable without code for a group with
//! writes), or the `h_group` helper fills them where the CPU can translate without setting
//! accessed or dirty bits (and lets writes to a page with code through if the range holds none
//! of it: a stack on a boot sector's page); failing that, the block is left before it starts
//! (the interpreter runs it). An access then goes straight to its page's `addend + address`
//! if its address is provably in the range (`grouped_host`: the same SSA base plus a constant
//! inside it), however the estimate went; any other access keeps its own checks. A range
//! across two pages (which may be mapped anywhere) needs a 4-aligned base, and only accesses
//! that cross no 4-byte boundary from it are grouped: so none crosses from page to page.

use super::*;

/// A planned group: accesses at `lo..=hi` bytes from GPR `reg` as it was at the block start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Planned {
    pub(super) reg: usize,
    pub(super) lo: i64,
    pub(super) hi: i64,
    pub(super) write: bool,
    count: u32,
}

/// A checked group, for the rest of the guest block: accesses at `root + lo..=root + hi`
/// (32-bit wrapping) reach host memory at `addend + address`.
#[derive(Clone, Copy)]
pub(super) struct Active {
    root: Value,
    lo: i64,
    hi: i64,
    write: bool,
    /// The page offset of `root + lo` (i32), and the addends of the first and last pages.
    lo_off: Value,
    addends: [Value; 2],
}

const ESP: usize = 4;
const EBP: usize = 5;

/// Where ESP or EBP points: (block-start register, offset), or unknown.
type Ptr = Option<(usize, i64)>;

/// Estimate the groups of a block's instructions (32-bit flat code only: the caller checks).
/// Stops at the first instruction run by the interpreter (after it nothing is known); x87
/// instructions are passed over.
pub(super) fn plan(instrs: &[Instruction], kinds: &[Kind]) -> Vec<Planned> {
    let mut esp: Ptr = Some((ESP, 0));
    let mut ebp: Ptr = Some((EBP, 0));
    let mut groups: Vec<Planned> = Vec::new();
    let mut add = |p: Ptr, size: i64, write: bool| {
        let Some((reg, off)) = p else {
            return;
        };
        match groups.iter_mut().find(|g| g.reg == reg) {
            Some(g) => {
                g.lo = g.lo.min(off);
                g.hi = g.hi.max(off + size - 1);
                g.write |= write;
                g.count += 1;
            }
            None => groups.push(Planned {
                reg,
                lo: off,
                hi: off + size - 1,
                write,
                count: 1,
            }),
        }
    };
    let at = |p: Ptr, d: i64| p.map(|(r, o)| (r, o + d));
    for (i, &kind) in instrs.iter().zip(kinds) {
        if kind == Kind::Interp {
            break;
        }
        if kind == Kind::X87 {
            continue; // (ESP and EBP stay; its accesses go through the x87 helpers)
        }
        // An explicit memory operand based on ESP or EBP alone.
        if i.op_count() > 0
            && (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory)
            && !matches!(kind, Kind::Lea | Kind::Nop)
            && i.memory_index() == Register::None
            && addr32(i)
        {
            let base = match i.memory_base() {
                Register::ESP => esp,
                Register::EBP => ebp,
                _ => None,
            };
            let size = i.memory_size().size() as i64;
            let written = i.op0_kind() == OpKind::Memory && !matches!(kind, Kind::Cmp | Kind::Push);
            if (1..=4).contains(&size) {
                add(
                    at(base, i.memory_displacement32() as i32 as i64),
                    size,
                    written,
                );
            }
        }
        let reg0 = (i.op_count() > 0 && i.op0_kind() == OpKind::Register)
            .then(|| gpr_index(i.op0_register()))
            .flatten()
            .map(|(n, _)| n);
        match kind {
            Kind::Push | Kind::CallRel | Kind::CallInd => {
                let size = -i.stack_pointer_increment() as i64;
                esp = at(esp, -size);
                add(esp, size, true);
            }
            Kind::Pop => {
                let size = i.stack_pointer_increment() as i64;
                add(esp, size, false);
                esp = at(esp, size);
            }
            Kind::RetNear => add(esp, 4, false),
            Kind::Leave => {
                add(ebp, 4, false);
                esp = at(ebp, 4);
                ebp = None;
                continue;
            }
            Kind::Mov if reg0.is_some() && i.op1_kind() == OpKind::Register => {
                let from = match i.op1_register() {
                    Register::ESP => esp,
                    Register::EBP => ebp,
                    _ => None,
                };
                match i.op0_register() {
                    Register::ESP => esp = from,
                    Register::EBP => ebp = from,
                    _ => {}
                }
                continue;
            }
            Kind::Alu
                if i.op0_register() == Register::ESP
                    && matches!(i.op1_kind(), OpKind::Immediate8to32 | OpKind::Immediate32) =>
            {
                let v = i.immediate(1) as i32 as i64;
                esp = match i.mnemonic() {
                    Mnemonic::Add => at(esp, v),
                    Mnemonic::Sub => at(esp, -v),
                    _ => None,
                };
                continue;
            }
            _ => {}
        }
        // Anything else that writes ESP or EBP as its first operand (XCHG also its second).
        let mut clobber = |r: Option<usize>| match r {
            Some(ESP) => esp = None,
            Some(EBP) => ebp = None,
            _ => {}
        };
        if !matches!(kind, Kind::Cmp | Kind::Push | Kind::Nop) {
            clobber(reg0);
        }
        if matches!(kind, Kind::Xchg | Kind::Xadd | Kind::Cmpxchg)
            && i.op_count() > 1
            && i.op1_kind() == OpKind::Register
        {
            clobber(gpr_index(i.op1_register()).map(|(n, _)| n));
        }
    }
    groups.retain(|g| g.count >= 2 && g.hi - g.lo < 0x1000);
    groups
}

impl Lower<'_, '_> {
    /// `v` as (root, constant): through additions of constants (as `ea`, `plus_const` and
    /// `push` build addresses).
    fn decompose(&self, mut v: Value) -> (Value, i64) {
        let mut k = 0i64;
        while let Some((x, c)) = self.split_const(v) {
            k += c as i64;
            v = x;
        }
        (v, k)
    }

    /// At the start of guest block `gi` (before its budget is taken): check the planned
    /// groups (see the module), leaving before the block where they cannot be made to hold.
    pub(super) fn enter_stack_groups(&mut self, gi: usize) {
        self.stack.clear();
        if !self.inline_memory
            || self.no_stack_groups
            || !self.stack32
            || self.mode & MODE_FLAT == 0
        {
            return;
        }
        let g = &self.region.blocks[gi];
        for p in plan(&g.instrs, &self.kinds[gi]) {
            let base = self.gpr_get(p.reg);
            let (root, k) = self.decompose(base);
            let lo = self.b.ins().iadd_imm_s(base, p.lo);
            let lo_off = self.b.ins().band_imm_s(lo, 0xFFF);
            // A range across two pages needs a 4-aligned root: then no grouped access (none
            // crosses a 4-byte boundary from it: `grouped_host`) crosses from one page into
            // the other, which may be mapped elsewhere. (Else the block runs interpreted.)
            let crosses = self.b.ins().icmp_imm_u(
                IntCC::UnsignedGreaterThanOrEqual,
                lo_off,
                0x1000 - (p.hi - p.lo),
            );
            let mis = self.b.ins().band_imm_s(root, 3);
            let mis = self.b.ins().icmp_imm_s(IntCC::NotEqual, mis, 0);
            let bad = self.b.ins().band(crosses, mis);
            let cont = self.b.create_block();
            let slow = self.b.create_block();
            let out = self.b.create_block();
            let fine = self.b.create_block();
            self.b.set_cold_block(slow);
            self.b.set_cold_block(out);
            self.b.ins().brif(bad, out, &[], fine, &[]);
            self.b.switch_to_block(fine);
            let hi = self.b.ins().iadd_imm_s(base, p.hi);
            let tag_at = self.tlb_set() + if p.write { TLB_WRITE } else { TLB_READ };
            let add_at = self.tlb_set() + TLB_ADDEND;
            let mut ok = None;
            let mut slots = Vec::new();
            for lin in [lo, hi] {
                let pg = self.b.ins().ushr_imm_s(lin, 12);
                let slot = self.b.ins().band_imm_s(pg, tlb::SLOTS as i64 - 1);
                let slot = self.b.ins().uextend(types::I64, slot);
                let ctx = self.ctx();
                let t4 = self.b.ins().ishl_imm_s(slot, 2);
                let t4 = self.b.ins().iadd(ctx, t4);
                let tag = self.b.ins().load(types::I32, self.mf, t4, tag_at);
                let want = self.b.ins().band_imm_s(lin, 0xFFFF_F000u32 as i32 as i64);
                let hit = self.b.ins().icmp(IntCC::Equal, tag, want);
                slots.push((slot, want));
                ok = Some(match ok {
                    Some(o) => self.b.ins().band(o, hit),
                    None => hit,
                });
            }
            self.b
                .ins()
                .brif(ok.expect("two pages"), cont, &[], slow, &[]);
            // A miss: the helper fills the pages (or, on a page with code, checks the range
            // holds none), or the block is left.
            self.b.switch_to_block(slow);
            let w = self.b.ins().iconst(types::I32, p.write as i64);
            let args = [self.ctx(), lo, hi, w];
            let r = self.call_cold(self.sigs.group, self.h.group, &args, types::I64);
            self.b.ins().brif(r, cont, &[], out, &[]);
            self.b.switch_to_block(out);
            self.leave_before(g.eip);
            self.b.switch_to_block(cont);
            let mut addends = Vec::new();
            for &(slot, _) in &slots {
                let ctx = self.ctx();
                let a8 = self.b.ins().ishl_imm_s(slot, 3);
                let a8 = self.b.ins().iadd(ctx, a8);
                addends.push(self.b.ins().load(types::I64, self.mf, a8, add_at));
            }
            self.stack.push(Active {
                root,
                lo: k + p.lo,
                hi: k + p.hi,
                write: p.write,
                lo_off,
                addends: [addends[0], addends[1]],
            });
        }
    }

    /// The host address of an access of `size` bytes at offset `off` in segment `seg`, if a
    /// checked group covers it (see the module).
    pub(super) fn grouped_host(
        &mut self,
        seg: u32,
        off: Value,
        size: u32,
        write: bool,
    ) -> Option<Value> {
        if self.stack.is_empty() || !self.flat_seg(seg) {
            return None;
        }
        let (root, k) = self.decompose(off);
        // (Not crossing a 4-byte boundary from the 4-aligned root: so not a page boundary.)
        if k.rem_euclid(4) + size as i64 > 4 {
            return None;
        }
        let g = *self.stack.iter().find(|g| {
            g.root == root && g.lo <= k && k + size as i64 - 1 <= g.hi && (g.write || !write)
        })?;
        // The range may cross into a second page, mapped elsewhere: the access is on the
        // first page if `lo_off + (k - lo)` is below 0x1000.
        let first = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, g.lo_off, 0x1000 - (k - g.lo));
        let addend = self.b.ins().select(first, g.addends[0], g.addends[1]);
        let lin = self.b.ins().uextend(types::I64, off);
        Some(self.b.ins().iadd(addend, lin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn planned(code: &[u8]) -> Vec<(usize, i64, i64, bool)> {
        let instrs: Vec<Instruction> = Decoder::with_ip(32, code, 0x1000, DecoderOptions::NONE)
            .iter()
            .collect();
        let kinds: Vec<Kind> = instrs.iter().map(classify).collect();
        plan(&instrs, &kinds)
            .iter()
            .map(|g| (g.reg, g.lo, g.hi, g.write))
            .collect()
    }

    #[test]
    fn a_prologue_and_frame_accesses_are_one_group_from_esp() {
        // push ebp; mov ebp,esp; push ebx; sub esp,8; mov eax,[ebp+8]; mov [ebp-0Ch],eax;
        // add esp,8; pop ebx; leave; ret
        let code = [
            0x55, 0x89, 0xE5, 0x53, 0x83, 0xEC, 0x08, 0x8B, 0x45, 0x08, 0x89, 0x45, 0xF4, 0x83,
            0xC4, 0x08, 0x5B, 0xC9, 0xC3,
        ];
        // EBP = ESP0 - 4 after the first push: [ebp+8] is ESP0+4..+7, [ebp-0Ch] ESP0-16..-13,
        // LEAVE's pop reads ESP0-4 and RET ESP0+0..+3.
        assert_eq!(planned(&code), vec![(ESP, -16, 7, true)]);
    }

    #[test]
    fn reads_alone_make_a_read_group_and_single_accesses_none() {
        // mov eax,[ebp+8]; mov edx,[ebp+0Ch]; add eax,[esp+4]
        let code = [0x8B, 0x45, 0x08, 0x8B, 0x55, 0x0C, 0x03, 0x44, 0x24, 0x04];
        assert_eq!(planned(&code), vec![(EBP, 8, 15, false)]);
    }

    #[test]
    fn a_new_ebp_or_an_interpreted_instruction_ends_what_is_known() {
        // mov ebp,[eax]; mov ecx,[ebp+4]; mov edx,[ebp+8]: EBP unknown from the first on.
        assert_eq!(
            planned(&[0x8B, 0x28, 0x8B, 0x4D, 0x04, 0x8B, 0x55, 0x08]),
            vec![]
        );
        // push eax; cpuid (interpreted); push ebx: the second push is not planned.
        assert_eq!(planned(&[0x50, 0x0F, 0xA2, 0x53]), vec![]);
    }
}
