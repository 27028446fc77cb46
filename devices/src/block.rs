//! Block backends: where a disk device's sectors live on the host.
//!
//! Reference: none (host side). Modelled on QEMU's raw format: a disk image is a flat file,
//! guest writes go to the file in place. Two backends: [`FileBackend`] (read-write or
//! read-only) and [`MemBackend`] (for tests and scratch disks).
//!
//! Rules: every host I/O error is returned to the caller (the disk device turns it into an
//! ATA/ATAPI error status), never swallowed; a write is one `write_all` at its offset, so a
//! sector is never left half-written by this layer.
//!
//! Known gaps: no copy-on-write overlay (snapshots of a disk's contents are the machine's job),
//! no sparse/qcow formats, no asynchronous I/O.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A byte-addressed store of fixed length.
pub trait BlockBackend: Send {
    /// Fill `buf` from `offset`. Reading past the end is an error (`UnexpectedEof`).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Write `buf` at `offset` as a single write. Past the end, or on a read-only backend,
    /// is an error.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Length in bytes.
    fn len(&self) -> u64;
    /// True when the backend holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Push written data to stable storage.
    fn flush(&mut self) -> io::Result<()>;
    /// True when writes are refused.
    fn read_only(&self) -> bool;
}

fn check_range(offset: u64, n: usize, len: u64) -> io::Result<()> {
    match offset.checked_add(n as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("access at {offset:#x}+{n:#x} beyond end of image ({len:#x} bytes)"),
        )),
    }
}

fn read_only_error() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "image is read-only")
}

/// A disk image file, accessed in place.
#[derive(Debug)]
pub struct FileBackend {
    file: File,
    len: u64,
    read_only: bool,
}

impl FileBackend {
    /// Open an image; `read_only` opens it without write access.
    pub fn open(path: impl AsRef<Path>, read_only: bool) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        Self::from_file(file, read_only)
    }

    /// Wrap an already open file.
    pub fn from_file(file: File, read_only: bool) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            len,
            read_only,
        })
    }
}

impl BlockBackend for FileBackend {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(offset, buf.len(), self.len)?;
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        check_range(offset, buf.len(), self.len)?;
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(buf)
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data()
    }

    fn read_only(&self) -> bool {
        self.read_only
    }
}

/// An image held in memory.
#[derive(Clone, Debug, Default)]
pub struct MemBackend {
    data: Vec<u8>,
    read_only: bool,
    /// When set, every access fails with this error kind (to test error paths).
    pub fail: Option<io::ErrorKind>,
}

impl MemBackend {
    pub fn new(data: Vec<u8>) -> Self {
        Self {
            data,
            read_only: false,
            fail: None,
        }
    }
    /// A zero-filled image of `len` bytes.
    pub fn zeroed(len: usize) -> Self {
        Self::new(vec![0; len])
    }
    pub fn read_only(data: Vec<u8>) -> Self {
        Self {
            data,
            read_only: true,
            fail: None,
        }
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    fn check_fail(&self) -> io::Result<()> {
        match self.fail {
            Some(kind) => Err(io::Error::new(kind, "injected I/O error")),
            None => Ok(()),
        }
    }
}

impl BlockBackend for MemBackend {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check_fail()?;
        check_range(offset, buf.len(), self.data.len() as u64)?;
        let o = offset as usize;
        buf.copy_from_slice(&self.data[o..o + buf.len()]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.check_fail()?;
        if self.read_only {
            return Err(read_only_error());
        }
        check_range(offset, buf.len(), self.data.len() as u64)?;
        let o = offset as usize;
        self.data[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_fail()
    }

    fn read_only(&self) -> bool {
        self.read_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_backend_bounds_and_read_only() {
        let mut m = MemBackend::zeroed(1024);
        m.write_at(512, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 3];
        m.read_at(512, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
        assert!(m.read_at(1023, &mut b).is_err());
        assert!(m.write_at(u64::MAX, &b).is_err());
        let mut ro = MemBackend::read_only(vec![0; 512]);
        assert!(ro.write_at(0, &b).is_err());
        m.fail = Some(io::ErrorKind::Other);
        assert!(m.read_at(0, &mut b).is_err());
    }

    #[test]
    fn file_backend_in_place() {
        let path = std::env::temp_dir().join(format!("ironbox-block-{}.img", std::process::id()));
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        {
            let mut f = FileBackend::open(&path, false).unwrap();
            assert_eq!(f.len(), 4096);
            f.write_at(1024, &[0xAA; 512]).unwrap();
            f.flush().unwrap();
            assert!(f.write_at(4000, &[0; 512]).is_err());
        }
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data.len(), 4096);
        assert!(data[1024..1536].iter().all(|&b| b == 0xAA));
        let mut ro = FileBackend::open(&path, true).unwrap();
        assert!(ro.read_only());
        assert!(ro.write_at(0, &[1]).is_err());
        let mut b = [0u8; 4];
        ro.read_at(1024, &mut b).unwrap();
        assert_eq!(b, [0xAA; 4]);
        std::fs::remove_file(&path).unwrap();
    }
}
