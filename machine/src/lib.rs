//! ironbox machine: the PC board that connects the CPU to memory and the chipset devices
//! (`pc`), and the direct Linux boot loader (`linux`).

pub mod linux;
pub mod multiboot;
pub mod pc;
