//! QEMU's debug devices: the Bochs/QEMU debug console (`-debugcon`, port 0xE9: every byte
//! written goes to a host `Write`; reads return 0xE9) and isa-debug-exit (`-device
//! isa-debug-exit,iobase=0xf4,iosize=0x04`: a write of v ends the run with exit status
//! (v << 1) | 1).

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use crate::ports::PortDevice;

pub const DEBUGCON_PORT: u16 = 0xE9;
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Port 0xE9 console. Host write errors are reported once and further output is dropped.
pub struct DebugCon {
    out: Box<dyn Write>,
    failed: bool,
}

impl DebugCon {
    pub fn new(out: Box<dyn Write>) -> DebugCon {
        DebugCon { out, failed: false }
    }
}

impl PortDevice for DebugCon {
    fn read(&mut self, _port: u16, _size: u8) -> u32 {
        0xE9
    }
    fn write(&mut self, _port: u16, _size: u8, v: u32) {
        if !self.failed {
            if let Err(e) = self.out.write_all(&[v as u8]) {
                tracing::warn!("debug console output failed: {e}");
                self.failed = true;
            }
        }
    }
    fn flush(&mut self) {
        if !self.failed {
            let _ = self.out.flush();
        }
    }
}

/// isa-debug-exit: the status the guest asked for lands in a shared cell the board polls.
pub struct DebugExit {
    pub status: Rc<Cell<Option<u32>>>,
}

impl PortDevice for DebugExit {
    fn read(&mut self, _port: u16, _size: u8) -> u32 {
        0
    }
    fn write(&mut self, _port: u16, _size: u8, v: u32) {
        self.status.set(Some((v << 1) | 1));
    }
}
