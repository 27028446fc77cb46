//! The CPU's only window on the world: physical memory, I/O ports and the interrupt lines.
//! The machine implements it; the CPU never owns devices.

/// Physical memory, port I/O and interrupt lines as the CPU sees them.
///
/// Addresses are physical (after segmentation and paging, and after the CPU model's address
/// lines); A20 gating and the memory map are the implementor's business.
pub trait CpuBus {
    fn read8(&mut self, addr: u32) -> u8;
    fn write8(&mut self, addr: u32, value: u8);
    fn read16(&mut self, addr: u32) -> u16 {
        u16::from_le_bytes([self.read8(addr), self.read8(addr.wrapping_add(1))])
    }
    fn read32(&mut self, addr: u32) -> u32 {
        let lo = self.read16(addr) as u32;
        let hi = self.read16(addr.wrapping_add(2)) as u32;
        lo | (hi << 16)
    }
    fn write16(&mut self, addr: u32, value: u16) {
        let b = value.to_le_bytes();
        self.write8(addr, b[0]);
        self.write8(addr.wrapping_add(1), b[1]);
    }
    fn write32(&mut self, addr: u32, value: u32) {
        self.write16(addr, value as u16);
        self.write16(addr.wrapping_add(2), (value >> 16) as u16);
    }
    /// Port input of `size` bytes (1, 2 or 4).
    fn io_in(&mut self, port: u16, size: u8) -> u32;
    /// Port output of `size` bytes (1, 2 or 4).
    fn io_out(&mut self, port: u16, size: u8, value: u32);
    /// The time-stamp counter's count from the host clock, when the machine keeps time by the
    /// host; `None` (the default) makes the CPU count retired instructions instead.
    fn host_tsc(&mut self) -> Option<u64> {
        None
    }
    /// Is the INTR line raised (a maskable interrupt waiting)?
    fn intr_pending(&mut self) -> bool {
        false
    }
    /// Interrupt acknowledge cycle: the vector of the pending maskable interrupt, if any is
    /// still pending.
    fn ack_intr(&mut self) -> Option<u8> {
        None
    }
    /// Take a pending NMI edge, if any.
    fn take_nmi(&mut self) -> bool {
        false
    }
    /// Is an NMI edge pending (without taking it)?
    fn nmi_pending(&mut self) -> bool {
        false
    }
    /// The x87 FERR# output changed (the PC routes it to IRQ13).
    fn set_ferr(&mut self, _asserted: bool) {}
    /// Host address of the 4 KiB physical page at `page_addr` if it is plain RAM that reads
    /// and writes may touch directly (no device, ROM or shadow logic), else `None`. A
    /// translator caches these; see `map_epoch`.
    fn host_page(&mut self, _page_addr: u32) -> Option<*mut u8> {
        None
    }
    /// Host address of the 4 KiB physical page at `page_addr` if reads may load from it
    /// directly (plain RAM, or ROM that reads have no side effects on), else `None`.
    fn host_page_read(&mut self, page_addr: u32) -> Option<*const u8> {
        self.host_page(page_addr).map(|p| p as *const u8)
    }
    /// Changes whenever the answer of `host_page` or `host_page_read` may change (A20,
    /// memory map).
    fn map_epoch(&self) -> u64 {
        0
    }
}

/// A flat memory bus for tests and the conformance runner: `size` bytes of RAM wrapping at the
/// end, ports that read as all ones and log writes.
pub struct FlatBus {
    pub mem: Vec<u8>,
    pub io_writes: Vec<(u16, u8, u32)>,
}

impl FlatBus {
    pub fn new(size: usize) -> FlatBus {
        assert!(size.is_power_of_two());
        FlatBus {
            mem: vec![0; size],
            io_writes: Vec::new(),
        }
    }
}

impl CpuBus for FlatBus {
    #[inline]
    fn read8(&mut self, addr: u32) -> u8 {
        let m = self.mem.len() - 1;
        self.mem[addr as usize & m]
    }
    #[inline]
    fn write8(&mut self, addr: u32, value: u8) {
        let m = self.mem.len() - 1;
        self.mem[addr as usize & m] = value;
    }
    fn io_in(&mut self, _port: u16, size: u8) -> u32 {
        match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        self.io_writes.push((port, size, value));
    }
    fn host_page(&mut self, page_addr: u32) -> Option<*mut u8> {
        if self.mem.len() < 0x1000 {
            return None;
        }
        let m = self.mem.len() - 1;
        let i = (page_addr as usize & m) & !0xFFF;
        Some(self.mem[i..].as_mut_ptr())
    }
}
