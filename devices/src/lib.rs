//! ironbox devices: the PC chipset, one file per chip.
