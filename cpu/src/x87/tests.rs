//! Instruction-level tests of the x87/MMX layer.
