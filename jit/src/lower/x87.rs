//! x87 instructions (`Kind::X87`): a call to `h_x87`, which runs the interpreter's x87
//! semantics for the one instruction. Such an instruction reads no general register but its
//! memory operand's base and index and writes none (but AX for FNSTSW AX), nor EFLAGS
//! (`translator::x87_plain`), so only those registers are stored before the call (EAX for
//! FNSTSW AX, reloaded after it), the lazy flags stay pending, and nothing else is reloaded. A fault comes back undelivered and leaves through the shared
//! fault path (registers written back, flags settled, then delivered); a write that hit
//! translated code leaves after the instruction.

use super::*;
use crate::runtime::{X87_FAULT, X87_LEAVE};

impl Lower<'_, '_> {
    pub(super) fn x87(&mut self, i: &Instruction, refund: i64) {
        let mem = (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory);
        let ax = ironbox_cpu::translator::x87_writes_ax(i);
        if mem || ax {
            // The interpreter computes the address from the state's registers (and FNSTSW AX
            // changes half of EAX there).
            let mut stored = [false; 8];
            let addr = if mem {
                [i.memory_base(), i.memory_index()]
            } else {
                [Register::None; 2]
            };
            let eax = if ax { Register::EAX } else { Register::None };
            for r in [addr[0], addr[1], eax] {
                if let Some((n, _)) = gpr_index(r) {
                    if !std::mem::replace(&mut stored[n], true) {
                        let cpu = self.cpu_ptr();
                        let v = self.b.use_var(self.gpr[n]);
                        self.b.ins().store(self.mf, v, cpu, GPR + 4 * n as i32);
                    }
                }
            }
        }
        let bk = self.budget_at(refund);
        let ip = self
            .b
            .ins()
            .iconst(types::I64, i as *const Instruction as i64);
        let class = ironbox_cpu::x87::class::of(i.mnemonic());
        let f = self
            .b
            .ins()
            .iconst(types::I64, self.h.x87[class as usize] as i64);
        let call = self
            .b
            .ins()
            .call_indirect(self.sigs.exec, f, &[self.ctx, ip, bk]);
        let res = self.b.inst_results(call)[0];
        if ax {
            // (Unchanged in the state if it faulted.)
            let cpu = self.cpu_ptr();
            let v = self.b.ins().load(types::I32, self.mf, cpu, GPR);
            self.b.def_var(self.gpr[0], v);
        }
        let slow = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(slow);
        self.b.ins().brif(res, slow, &[], cont, &[]);
        self.b.switch_to_block(slow);
        let fault = self.b.create_block();
        let leave = self.b.create_block();
        self.b.set_cold_block(fault);
        self.b.set_cold_block(leave);
        let f = self.b.ins().band_imm_s(res, X87_FAULT as i64);
        self.b.ins().brif(f, fault, &[], leave, &[]);
        self.b.switch_to_block(fault);
        self.fault_exit(i, refund);
        self.b.switch_to_block(leave);
        debug_assert_eq!(X87_LEAVE & X87_FAULT, 0);
        let nx = self.mask_next(i.next_ip32());
        self.exit_const(Some(nx), EXIT_NONE, refund);
        self.b.switch_to_block(cont);
    }
}
