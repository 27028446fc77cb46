//! Port I/O: IN, OUT (INS/OUTS live in `string`), with the IOPL and TSS I/O bitmap checks.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::Cpu;

impl Cpu {
    /// Protected mode with CPL > IOPL, or V86 mode: consult the TSS I/O permission bitmap.
    pub(crate) fn check_io<B: CpuBus>(
        &mut self,
        bus: &mut B,
        port: u16,
        size: u32,
    ) -> Result<(), Fault> {
        if self.s.protected() && (self.s.v86() || self.s.cpl > self.s.iopl()) {
            return self.io_allowed(bus, port, size);
        }
        Ok(())
    }

    pub(crate) fn op_inout<B: CpuBus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let (port_op, data_op) = if i.mnemonic() == Mnemonic::In {
            (1, 0)
        } else {
            (0, 1)
        };
        let port = match i.op_kind(port_op) {
            OpKind::Immediate8 => i.immediate8() as u16,
            _ => self.s.gpr[2] as u16,
        };
        let size = i.op_register(data_op).size() as u32;
        self.check_io(bus, port, size)?;
        self.io_done = true;
        self.note_io_access(port, size);
        if i.mnemonic() == Mnemonic::In {
            let v = bus.io_in(port, size as u8);
            self.set_reg(i.op0_register(), v);
        } else {
            let v = self.reg(i.op1_register());
            bus.io_out(port, size as u8, v);
        }
        Ok(())
    }
}
