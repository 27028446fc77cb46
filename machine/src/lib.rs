//! ironbox machine: the board that connects the CPU to memory and devices.
//!
//! For now this is the minimal test board: RAM, a BIOS ROM at the top of 4 GiB (aliased below
//! 1 MiB), a port bus, QEMU's debug console (port 0xE9) and isa-debug-exit (port 0xF4). It grows
//! into the full PC chipset later.

pub mod board;
pub mod debug;
pub mod linux;
pub mod memory;
pub mod pc;
pub mod ports;

pub use board::{Machine, MachineConfig, MachineError, RunOutcome};
pub use memory::{Memory, MemoryError};
pub use ports::{PortBus, PortDevice, PortError};
