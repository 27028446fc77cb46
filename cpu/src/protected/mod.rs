//! Protected-mode mechanisms: descriptor loading and checks, far transfers through call gates,
//! task switches, IDT delivery (interrupt/trap/task gates, stack switches, V86 entry and exit)
//! and the descriptor-table system instructions.

use iced_x86::Instruction;

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::interrupt::IntKind;
use crate::state::SegReg;
use crate::Cpu;

impl Cpu {
    /// Load a data or stack segment register (not CS) in protected mode, with every check.
    pub(crate) fn pm_load_seg<B: CpuBus>(&mut self, _bus: &mut B, _seg: SegReg, _sel: u16) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// JMP FAR in protected mode (code segment, call gate, task gate or TSS).
    pub(crate) fn pm_far_jump<B: CpuBus>(&mut self, _bus: &mut B, _sel: u16, _off: u32, _op32: bool) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// CALL FAR in protected mode (code segment, call gate with privilege change, task gate, TSS).
    pub(crate) fn pm_far_call<B: CpuBus>(&mut self, _bus: &mut B, _sel: u16, _off: u32, _op32: bool) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// RETF [imm] in protected mode (same or outer privilege).
    pub(crate) fn pm_far_ret<B: CpuBus>(&mut self, _bus: &mut B, _op32: bool, _pop: u16) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// IRET in protected mode (same/outer privilege, to V86, nested task return) and in V86.
    pub(crate) fn pm_iret<B: CpuBus>(&mut self, _bus: &mut B, _op32: bool) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// Deliver an interrupt or exception through the IDT.
    pub(crate) fn pm_interrupt<B: CpuBus>(&mut self, _bus: &mut B, _vector: u8, _kind: IntKind, _error: Option<u32>) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// The TSS I/O permission bitmap check (CPL > IOPL or V86): #GP(0) when denied.
    pub(crate) fn io_allowed<B: CpuBus>(&mut self, _bus: &mut B, _port: u16, _size: u32) -> Result<(), Fault> {
        Err(Fault::gp0())
    }

    /// LLDT, LTR, SLDT, STR, LAR, LSL, VERR, VERW, ARPL.
    pub(crate) fn exec_descriptor_op<B: CpuBus>(&mut self, _bus: &mut B, _i: &Instruction) -> Result<(), Fault> {
        Err(Fault::ud())
    }
}
