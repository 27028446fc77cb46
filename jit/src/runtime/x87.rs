//! The helper for x87 instructions from translated code (`lower::x87`): the interpreter's x87
//! semantics without the generic `exec_one` dispatch, for instructions that touch no general
//! register or EFLAGS but their memory operand's address (`translator::x87_plain`), so the
//! translation need not write its registers back before the call nor reload them after.

use iced_x86::Instruction;
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
pub extern "C" fn h_x87<B: CpuBus>(ctx: *mut Ctx, i: *const Instruction, bk: i64) -> u32 {
    // SAFETY: as for `h_exec`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.sync(cpu, bk);
    match cpu.exec_x87_translated(bus, unsafe { &*i }) {
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
