//! Instruction dispatch: one decoded instruction → its semantics in `ops/`, `protected/` or
//! `x87/`, dispatched on the iced-x86 mnemonic.

use iced_x86::{Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::Cpu;

impl Cpu {
    pub(crate) fn execute<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let next = i.next_ip32();
        self.s.eip = if self.s.code32() { next } else { next & 0xFFFF };
        match i.mnemonic() {
            Mnemonic::Nop => Ok(()),
            Mnemonic::Hlt => {
                self.s.halted = true;
                Ok(())
            }
            _ => Err(Fault::ud()),
        }
    }
}
