//! Instruction semantics, split by group (one file each).

pub(crate) mod alu;
