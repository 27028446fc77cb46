//! The helper for x87 instructions from translated code (`lower::x87`): the interpreter's x87
//! semantics without the generic `exec_one` dispatch, for instructions that touch no general
//! register or EFLAGS but their memory operand's address (`translator::x87_plain`), so the
//! translation need not write its registers back before the call nor reload them after.

use iced_x86::Instruction;
use ironbox_cpu::x87::class;
use ironbox_cpu::CpuBus;

use super::{parts, Ctx};

/// `h_x87` result: the instruction faulted; the fault is in the context and not delivered
/// (the translation writes its registers back and leaves through its fault path).
pub const X87_FAULT: u32 = 1;
/// `h_x87` result: the instruction retired and wrote cached code (leave the region).
pub const X87_LEAVE: u32 = 2;

/// Execute the x87 instruction `i` (`bk`: the budget as of its start; the base and index
/// registers of its memory operand are in the CPU state). Returns 0, `X87_FAULT` or
/// `X87_LEAVE`.
/// `C`: the instruction's class (`x87::class`), one helper per class (see `helpers`).
pub extern "C" fn h_x87<B: CpuBus, const C: u8>(
    ctx: *mut Ctx,
    i: *const Instruction,
    bk: i64,
) -> u32 {
    // SAFETY: as for `h_exec`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.sync(cpu, bk);
    match cpu.exec_x87_translated::<B, C>(bus, unsafe { &*i }) {
        Ok(hit) => {
            c.synced += 1;
            if hit {
                X87_LEAVE
            } else {
                0
            }
        }
        Err(f) => {
            c.set_fault(f);
            X87_FAULT
        }
    }
}

/// `h_x87` for each class, indexed by class.
pub fn helpers<B: CpuBus>() -> [usize; class::COUNT] {
    use class::*;
    let mut h = [0; COUNT];
    h[GENERIC as usize] = h_x87::<B, GENERIC> as *const () as usize;
    h[ADD as usize] = h_x87::<B, ADD> as *const () as usize;
    h[SUB as usize] = h_x87::<B, SUB> as *const () as usize;
    h[SUBR as usize] = h_x87::<B, SUBR> as *const () as usize;
    h[MUL as usize] = h_x87::<B, MUL> as *const () as usize;
    h[DIV as usize] = h_x87::<B, DIV> as *const () as usize;
    h[DIVR as usize] = h_x87::<B, DIVR> as *const () as usize;
    h[CMP as usize] = h_x87::<B, CMP> as *const () as usize;
    h[LOAD as usize] = h_x87::<B, LOAD> as *const () as usize;
    h[STORE as usize] = h_x87::<B, STORE> as *const () as usize;
    h[XCH as usize] = h_x87::<B, XCH> as *const () as usize;
    debug_assert!(h.iter().all(|&a| a != 0));
    h
}

/// Register-operand arithmetic or compare `code` (`x87::rr_code`) at `ip`, called directly
/// from translated code with its CPU (`x87_fast_rr`): `Cpu::x87_rr`, which cannot fault and
/// retires nothing (the translation counts the instruction as done inline). Returns 1 if
/// done, 0 if the caller must take `h_x87` instead (nothing changed).
pub extern "C" fn h_x87_rr(cpu: *mut ironbox_cpu::Cpu, code: u64, ip: u64) -> u32 {
    // SAFETY: the translation passes its CPU, which nothing else touches during the call.
    let cpu = unsafe { &mut *cpu };
    cpu.x87_rr(code as u32, ip as u32) as u32
}
