//! The I/O port bus: devices register port ranges (overlaps rejected); an access goes to the
//! device owning its first port. Unknown ports read all ones; writes to them are ignored.

/// A device reached through I/O ports. `size` is 1, 2 or 4 bytes.
pub trait PortDevice {
    fn read(&mut self, port: u16, size: u8) -> u32;
    fn write(&mut self, port: u16, size: u8, v: u32);
    /// Push buffered host output out (end of run).
    fn flush(&mut self) {}
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("port range {start:#06x}..={end:#06x} for {name} overlaps {other}")]
    Overlap {
        start: u16,
        end: u16,
        name: String,
        other: String,
    },
    #[error("empty or wrapping port range at {start:#06x} (len {len}) for {name}")]
    BadRange { start: u16, len: u32, name: String },
}

struct Entry {
    start: u16,
    end: u16,
    name: String,
    dev: Box<dyn PortDevice>,
}

/// Port → device table.
pub struct PortBus {
    devs: Vec<Entry>,
    /// For each port, 1 + index into `devs`, or 0 if unclaimed.
    map: Box<[u8; 65536]>,
}

impl Default for PortBus {
    fn default() -> Self {
        PortBus {
            devs: Vec::new(),
            map: Box::new([0; 65536]),
        }
    }
}

pub fn all_ones(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

impl PortBus {
    pub fn new() -> PortBus {
        PortBus::default()
    }

    /// Give ports `start .. start+len` to `dev`.
    pub fn register(
        &mut self,
        start: u16,
        len: u32,
        name: &str,
        dev: Box<dyn PortDevice>,
    ) -> Result<(), PortError> {
        let end = start as u32 + len;
        if len == 0 || end > 0x1_0000 || self.devs.len() >= 255 {
            return Err(PortError::BadRange {
                start,
                len,
                name: name.into(),
            });
        }
        let end = (end - 1) as u16;
        if let Some(e) = self.devs.iter().find(|e| start <= e.end && e.start <= end) {
            return Err(PortError::Overlap {
                start,
                end,
                name: name.into(),
                other: e.name.clone(),
            });
        }
        self.devs.push(Entry {
            start,
            end,
            name: name.into(),
            dev,
        });
        let idx = self.devs.len() as u8;
        self.map[start as usize..=end as usize].fill(idx);
        Ok(())
    }

    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        match self.map[port as usize] {
            0 => all_ones(size),
            i => self.devs[i as usize - 1].dev.read(port, size),
        }
    }

    pub fn write(&mut self, port: u16, size: u8, v: u32) {
        if let i @ 1.. = self.map[port as usize] {
            self.devs[i as usize - 1].dev.write(port, size, v);
        }
    }

    pub fn flush(&mut self) {
        for e in &mut self.devs {
            e.dev.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Reg(u32);
    impl PortDevice for Reg {
        fn read(&mut self, port: u16, _size: u8) -> u32 {
            self.0 + port as u32
        }
        fn write(&mut self, _port: u16, _size: u8, v: u32) {
            self.0 = v;
        }
    }

    #[test]
    fn overlap_rejected() {
        let mut b = PortBus::new();
        b.register(0x60, 1, "kbd", Box::new(Reg(0))).unwrap();
        b.register(0x40, 4, "pit", Box::new(Reg(0))).unwrap();
        let e = b.register(0x43, 2, "x", Box::new(Reg(0))).unwrap_err();
        assert!(matches!(e, PortError::Overlap { ref other, .. } if other == "pit"));
        assert!(b.register(0x3F, 2, "y", Box::new(Reg(0))).is_err());
        assert!(b.register(0x44, 1, "z", Box::new(Reg(0))).is_ok());
        assert!(b.register(0xFFFF, 2, "wrap", Box::new(Reg(0))).is_err());
        assert!(b.register(0x100, 0, "empty", Box::new(Reg(0))).is_err());
        assert!(b.register(0xFFFF, 1, "last", Box::new(Reg(0))).is_ok());
    }

    #[test]
    fn dispatch_and_unknown() {
        let mut b = PortBus::new();
        b.register(0x70, 2, "rtc", Box::new(Reg(0x100))).unwrap();
        assert_eq!(b.read(0x71, 1), 0x171);
        b.write(0x70, 1, 5);
        assert_eq!(b.read(0x70, 1), 0x75);
        assert_eq!(b.read(0x80, 1), 0xFF);
        assert_eq!(b.read(0x80, 2), 0xFFFF);
        assert_eq!(b.read(0x80, 4), 0xFFFF_FFFF);
        b.write(0x80, 1, 1); // ignored
    }
}
