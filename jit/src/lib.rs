//! ironbox JIT: a Cranelift dynamic binary translator with a block cache.
//!
//! Cold code runs in the interpreter; a block entry seen often enough is compiled with the
//! blocks reachable from it on its page into one native function (`region`, `lower`), kept
//! in a cache keyed by physical address and mode bits (`cache`), and run by the dispatcher
//! (`engine`) whenever the interpreter would run a block there. Anything without a
//! hand-written lowering calls the interpreter for that one instruction (`runtime`), so the
//! translated code and the interpreter agree instruction for instruction; `lockstep` checks
//! exactly that.

mod cache;
#[cfg(all(unix, target_arch = "x86_64"))]
mod codemem;
mod compiler;
mod engine;
mod jumpcache;
mod lockstep;
mod lower;
mod region;
mod runtime;
mod thunks;
mod tlb;
mod worker;

pub use cache::JitStats;
pub use engine::{Engine, EngineKind, DEFAULT_THRESHOLD};

/// One instruction in Intel syntax (for reports).
pub fn disasm(i: &iced_x86::Instruction) -> String {
    use iced_x86::Formatter;
    let mut out = String::new();
    iced_x86::IntelFormatter::new().format(i, &mut out);
    out
}
