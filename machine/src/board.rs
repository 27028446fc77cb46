//! The minimal test board: one CPU, RAM + BIOS ROM, the port bus with the debug console and
//! isa-debug-exit. `Machine::run` steps the CPU until the guest asks to exit, shuts down (triple
//! fault), halts for good, or runs out of its instruction budget.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use ironbox_cpu::{state::flags, Cpu, CpuBus, CpuModel, RunExit, SegReg};

use crate::debug::{DebugCon, DebugExit, DEBUGCON_PORT, DEBUG_EXIT_PORT};
use crate::memory::{Memory, MemoryError};
use crate::ports::{PortBus, PortError};

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Ports(#[from] PortError),
}

/// What the board is built from.
pub struct MachineConfig {
    pub model: CpuModel,
    pub memory_mib: u32,
    /// The BIOS image (64 KiB to 256 KiB, a multiple of 64 KiB).
    pub bios: Vec<u8>,
    /// Where port 0xE9 output goes (`None`: the port is not decoded).
    pub debugcon: Option<Box<dyn Write>>,
    /// Decode isa-debug-exit at port 0xF4.
    pub debug_exit: bool,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The guest wrote to isa-debug-exit; the process exit status it asked for.
    DebugExit(u32),
    /// Triple fault (this board has no reset logic, so the run ends).
    Shutdown { cs: u16, eip: u32 },
    /// HLT with nothing that could wake the CPU (this board has no interrupt sources).
    Halted {
        cs: u16,
        eip: u32,
        interrupts_enabled: bool,
    },
    /// The instruction budget ran out.
    InstructionLimit { cs: u16, eip: u32 },
}

/// Everything but the CPU: what the CPU sees through `CpuBus`.
pub struct Bus {
    pub mem: Memory,
    pub ports: PortBus,
}

impl CpuBus for Bus {
    #[inline]
    fn read8(&mut self, addr: u32) -> u8 {
        self.mem.read8(addr)
    }
    #[inline]
    fn write8(&mut self, addr: u32, value: u8) {
        self.mem.write8(addr, value)
    }
    #[inline]
    fn read16(&mut self, addr: u32) -> u16 {
        self.mem.read16(addr)
    }
    #[inline]
    fn read32(&mut self, addr: u32) -> u32 {
        self.mem.read32(addr)
    }
    #[inline]
    fn write16(&mut self, addr: u32, value: u16) {
        self.mem.write16(addr, value)
    }
    #[inline]
    fn write32(&mut self, addr: u32, value: u32) {
        self.mem.write32(addr, value)
    }
    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        self.ports.read(port, size)
    }
    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        self.ports.write(port, size, value)
    }
}

/// The board.
pub struct Machine {
    pub cpu: Cpu,
    pub bus: Bus,
    exit: Rc<Cell<Option<u32>>>,
}

impl Machine {
    pub fn new(cfg: MachineConfig) -> Result<Machine, MachineError> {
        let mem = Memory::new(cfg.memory_mib, cfg.bios)?;
        let mut ports = PortBus::new();
        let exit = Rc::new(Cell::new(None));
        if let Some(out) = cfg.debugcon {
            ports.register(DEBUGCON_PORT, 1, "debugcon", Box::new(DebugCon::new(out)))?;
        }
        if cfg.debug_exit {
            ports.register(
                DEBUG_EXIT_PORT,
                4,
                "isa-debug-exit",
                Box::new(DebugExit {
                    status: exit.clone(),
                }),
            )?;
        }
        Ok(Machine {
            cpu: Cpu::new(cfg.model),
            bus: Bus { mem, ports },
            exit,
        })
    }

    fn where_(&self) -> (u16, u32) {
        (self.cpu.s.seg[SegReg::Cs as usize].selector, self.cpu.s.eip)
    }

    /// Run until the guest exits, shuts down or halts for good, or `max_instructions` steps
    /// (instructions or interrupt deliveries) have been taken. Output is flushed at the end.
    pub fn run(&mut self, max_instructions: Option<u64>) -> RunOutcome {
        let limit = max_instructions.unwrap_or(u64::MAX);
        let mut n = 0u64;
        let outcome = loop {
            if n >= limit {
                let (cs, eip) = self.where_();
                break RunOutcome::InstructionLimit { cs, eip };
            }
            let (exit, done) = self.cpu.run(&mut self.bus, (limit - n).min(1 << 20));
            n += done;
            if let Some(status) = self.exit.get() {
                break RunOutcome::DebugExit(status);
            }
            match exit {
                RunExit::Budget | RunExit::Io | RunExit::Debug => {}
                RunExit::Halted => {
                    // No device on this board raises interrupts: a halt is forever.
                    let (cs, eip) = self.where_();
                    break RunOutcome::Halted {
                        cs,
                        eip,
                        interrupts_enabled: self.cpu.s.flag(flags::IF),
                    };
                }
                RunExit::Shutdown => {
                    let (cs, eip) = self.where_();
                    break RunOutcome::Shutdown { cs, eip };
                }
            }
        };
        self.bus.ports.flush();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ROM whose reset vector holds `code`.
    fn rom_with(code: &[u8]) -> Vec<u8> {
        let mut rom = vec![0xF4; 65536]; // HLT everywhere
        rom[0xFFF0..0xFFF0 + code.len()].copy_from_slice(code);
        rom
    }

    fn machine(code: &[u8]) -> Machine {
        Machine::new(MachineConfig {
            model: CpuModel::Pentium2,
            memory_mib: 1,
            bios: rom_with(code),
            debugcon: None,
            debug_exit: true,
        })
        .unwrap()
    }

    #[test]
    fn halt_ends_run() {
        let mut m = machine(&[0x90, 0xF4]); // NOP; HLT
        let out = m.run(Some(100));
        assert!(
            matches!(
                out,
                RunOutcome::Halted {
                    cs: 0xF000,
                    interrupts_enabled: false,
                    ..
                }
            ),
            "{out:?}"
        );
    }

    #[test]
    fn instruction_limit() {
        let mut m = machine(&[0x90; 16]);
        assert!(matches!(
            m.run(Some(3)),
            RunOutcome::InstructionLimit {
                cs: 0xF000,
                eip: 0xFFF3
            }
        ));
    }

    #[test]
    fn debug_exit_port_registered_once() {
        let m = machine(&[0xF4]);
        let mut ports = m.bus.ports;
        let r = ports.register(
            0xF6,
            1,
            "clash",
            Box::new(DebugExit {
                status: Rc::new(Cell::new(None)),
            }),
        );
        assert!(matches!(r, Err(PortError::Overlap { .. })));
    }
}
