//! Memory for translated code: one contiguous mapping per code-cache generation, readable,
//! writable and executable, asked to be backed by huge pages, and filled back to back.
//!
//! Cranelift's default provider maps every function on pages of its own and changes their
//! protection once it is written: thousands of small mappings, each translation on a page
//! (and an instruction-TLB entry) of its own, which a guest that runs a lot of code (a Linux
//! userland) pays for at every jump between translations. As QEMU does with its code
//! buffer, the translations here share one mapping that never changes protection (so
//! nothing is split and no TLB shootdown follows an install), and the kernel may back it
//! with 2 MiB pages (`MADV_HUGEPAGE`). x86 keeps instruction fetch coherent with stores, so
//! code is runnable once written.

use std::io;

use cranelift_jit::{BranchProtection, JITMemoryKind, JITMemoryProvider};
use cranelift_module::ModuleResult;

/// A reserved range of address space, committed as it is touched.
pub struct CodeArena {
    base: *mut u8,
    size: usize,
    used: usize,
}

// SAFETY: the arena is a plain range of memory owned by one module at a time.
unsafe impl Send for CodeArena {}

impl CodeArena {
    /// Reserve `size` bytes (rounded up to 2 MiB) of address space for code.
    pub fn new(size: usize) -> io::Result<CodeArena> {
        let size = size.next_multiple_of(2 << 20);
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // (Advice only: without transparent huge pages the arena works with small ones.)
        // SAFETY: the range was just mapped.
        unsafe { libc::madvise(p, size, libc::MADV_HUGEPAGE) };
        Ok(CodeArena {
            base: p.cast(),
            size,
            used: 0,
        })
    }

    fn unmap(&mut self) {
        if !self.base.is_null() {
            // SAFETY: the range mapped by `new`; no translation in it runs any more (the
            // module that owns it is being freed or dropped).
            unsafe { libc::munmap(self.base.cast(), self.size) };
            self.base = std::ptr::null_mut();
        }
    }
}

impl JITMemoryProvider for CodeArena {
    fn allocate(&mut self, size: usize, align: u64, _kind: JITMemoryKind) -> io::Result<*mut u8> {
        let align = usize::try_from(align)
            .ok()
            .filter(|a| a.is_power_of_two())
            .ok_or_else(|| io::Error::other("bad code alignment"))?;
        let at = self.used.next_multiple_of(align);
        if self.base.is_null() || at + size > self.size {
            return Err(io::Error::other("code arena full"));
        }
        self.used = at + size;
        // SAFETY: `at + size` is within the mapping.
        Ok(unsafe { self.base.add(at) })
    }

    unsafe fn free_memory(&mut self) {
        self.unmap();
    }

    fn finalize(&mut self, _branch_protection: BranchProtection) -> ModuleResult<()> {
        Ok(())
    }
}

impl Drop for CodeArena {
    fn drop(&mut self) {
        self.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_back_to_back_aligned_and_bounded() {
        let mut a = CodeArena::new(1).expect("a 2 MiB arena");
        assert_eq!(a.size, 2 << 20);
        let p = a.allocate(100, 16, JITMemoryKind::Executable).unwrap();
        let q = a.allocate(5, 16, JITMemoryKind::Executable).unwrap();
        let r = a.allocate(3, 1, JITMemoryKind::ReadOnly).unwrap();
        assert_eq!(p as usize % 16, 0);
        assert_eq!(
            q as usize - p as usize,
            112,
            "next 16-byte boundary after 100 bytes"
        );
        assert_eq!(r as usize - q as usize, 5);
        // The memory is writable as soon as it is handed out.
        unsafe { r.write_bytes(0xC3, 3) };
        assert!(a.allocate(2 << 20, 1, JITMemoryKind::Executable).is_err());
        assert!(
            a.allocate(8, 3, JITMemoryKind::Executable).is_err(),
            "alignment 3"
        );
        unsafe { a.free_memory() };
        assert!(
            a.allocate(1, 1, JITMemoryKind::Executable).is_err(),
            "freed"
        );
    }
}
