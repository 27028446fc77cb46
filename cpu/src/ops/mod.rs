//! Instruction semantics, split by group (one file each).

pub(crate) mod alu;
mod bcd;
mod control;
mod data;
mod io;
mod muldiv;
mod shift;
mod stack;
mod string;
mod system;
