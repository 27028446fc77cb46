//! Protected-mode mechanisms: descriptor loading and checks, far transfers through call gates,
//! task switches, IDT delivery (interrupt/trap/task gates, stack switches, V86 entry and exit)
//! and the descriptor-table system instructions.
//!
//! Entry points for the interpreter (all `impl Cpu`):
//! - `pm_load_seg` (MOV/POP/LDS/.. to DS/ES/FS/GS/SS), `pm_far_jump`, `pm_far_call`,
//!   `pm_far_ret`, `pm_iret`, `pm_interrupt`, `exec_descriptor_op`;
//! - `io_allowed` (IN/OUT/INS/OUTS: IOPL and the TSS I/O permission bitmap);
//! - `lldt`, `ltr` (also usable by a loader or debugger).
//!
//! Files: `descriptor` (tables, descriptor fields, error codes), `segment` (data/stack loads,
//! the stack cursor), `far` (JMP/CALL/RETF, call gates), `gate` (IDT delivery), `iret`, `task`
//! (task switch, TSS stacks, I/O bitmap), `sysinstr` (LLDT..ARPL).

mod descriptor;
mod far;
mod gate;
mod iret;
mod segment;
mod sysinstr;
mod task;

#[cfg(test)]
mod tests;
