//! Guest exceptions as values: an instruction either completes or yields a `Fault`, which the
//! interpreter delivers through the IVT/IDT. Never a Rust panic.

/// An exception raised by an instruction (vector plus optional error code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error: Option<u32>,
}

pub const DE: u8 = 0;
pub const DB: u8 = 1;
pub const NMI: u8 = 2;
pub const BP: u8 = 3;
pub const OF: u8 = 4;
pub const BR: u8 = 5;
pub const UD: u8 = 6;
pub const NM: u8 = 7;
pub const DF: u8 = 8;
pub const TS: u8 = 10;
pub const NP: u8 = 11;
pub const SS: u8 = 12;
pub const GP: u8 = 13;
pub const PF: u8 = 14;
pub const MF: u8 = 16;
pub const AC: u8 = 17;
pub const MC: u8 = 18;

impl Fault {
    pub const fn new(vector: u8) -> Fault {
        Fault {
            vector,
            error: None,
        }
    }
    pub const fn with_error(vector: u8, error: u32) -> Fault {
        Fault {
            vector,
            error: Some(error),
        }
    }
    pub const fn de() -> Fault {
        Fault::new(DE)
    }
    pub const fn ud() -> Fault {
        Fault::new(UD)
    }
    pub const fn nm() -> Fault {
        Fault::new(NM)
    }
    pub const fn gp(sel: u16) -> Fault {
        Fault::with_error(GP, sel as u32)
    }
    pub const fn gp0() -> Fault {
        Fault::with_error(GP, 0)
    }
    pub const fn ss(sel: u16) -> Fault {
        Fault::with_error(SS, sel as u32)
    }
    pub const fn np(sel: u16) -> Fault {
        Fault::with_error(NP, sel as u32)
    }
    pub const fn ts(sel: u16) -> Fault {
        Fault::with_error(TS, sel as u32)
    }
    /// #PF with its error code (P, W/R, U/S bits); CR2 is set by whoever raises it.
    pub const fn pf(error: u32) -> Fault {
        Fault::with_error(PF, error)
    }
    /// Is this a fault (restart at the faulting instruction) rather than a trap?
    pub fn is_contributory(&self) -> bool {
        matches!(self.vector, DE | TS | NP | SS | GP)
    }
}

/// What one call to `Cpu::step` ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepEvent {
    /// An instruction retired (or an interrupt/exception was delivered).
    Executed,
    /// The CPU is halted (HLT) and no interrupt is pending.
    Halted,
    /// Triple fault: the processor shut down; the board decides (usually a reset).
    Shutdown,
}
