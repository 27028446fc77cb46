//! ironbox machine: the board that connects the CPU to memory and devices.
