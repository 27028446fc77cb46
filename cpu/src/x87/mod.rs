//! x87 FPU: register stack with 80-bit extended precision, control/status/tag words, and the
//! instruction semantics (loads/stores in every format, arithmetic, transcendentals).

/// An 80-bit extended-precision value as stored in the register file: 64-bit significand with
/// explicit integer bit, 15-bit exponent and sign.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F80 {
    pub mant: u64,
    /// Sign (bit 15) and biased exponent (bits 0-14).
    pub se: u16,
}

/// x87 (and MMX) architectural state.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpuState {
    /// Physical registers R0-R7 (ST(i) is R[(top+i)&7]). MMX register MMi aliases R[i].mant.
    pub regs: [F80; 8],
    pub cw: u16,
    /// Status word without TOP (bits 11-13 are kept in `top`).
    pub sw: u16,
    pub top: u8,
    /// Full tag word (2 bits per physical register: 0 valid, 1 zero, 2 special, 3 empty).
    pub tw: u16,
    pub fop: u16,
    pub fip: u32,
    pub fcs: u16,
    pub fdp: u32,
    pub fds: u16,
}

impl Default for FpuState {
    /// The state after FNINIT.
    fn default() -> Self {
        FpuState { regs: [F80::default(); 8], cw: 0x037F, sw: 0, top: 0, tw: 0xFFFF, fop: 0, fip: 0, fcs: 0, fdp: 0, fds: 0 }
    }
}
