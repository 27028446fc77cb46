//! Host-FPU oracle tests.
