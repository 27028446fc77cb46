//! ironbox JIT: Cranelift dynamic binary translator (not yet built; the interpreter runs everything).
