//! Direct boot of Multiboot (v1) kernels, as QEMU's `-kernel` does for them: the header's
//! a.out-kludge load addresses or the ELF32 program headers place the image, modules (from
//! `--initrd`, comma separated, each "path [args]") follow it page-aligned, and the Multiboot
//! information structure (memory sizes, command line, modules, memory map, loader name)
//! goes below 640 KiB. The CPU starts in flat 32-bit protected mode with EAX = 0x2BADB002 and
//! EBX = the information structure.

use ironbox_cpu::CpuState;

use crate::linux::e820_map;

const MAGIC: u32 = 0x1BAD_B002;
const BOOT_MAGIC: u32 = 0x2BAD_B002;
const GDT_ADDR: u32 = 0x6000;
const INFO_ADDR: u32 = 0x9000;
/// Strings and tables the information structure points to.
const DATA_ADDR: u32 = 0xA000;

#[derive(Debug, thiserror::Error)]
pub enum MultibootError {
    #[error("{0}: the Multiboot header's checksum is wrong")]
    Checksum(String),
    #[error("{0}: the Multiboot header asks for features ironbox does not provide (flags {1:#x})")]
    Unsupported(String, u32),
    #[error("{0}: not an ELF32 i386 image and no a.out-kludge addresses in its Multiboot header")]
    NotElf(String),
    #[error("{0}: a segment at {1:#x} (+{2:#x}) does not fit in guest memory")]
    DoesNotFit(String, u32, u32),
    #[error("{0}: truncated")]
    Truncated(String),
}

fn le32(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn le16(b: &[u8], o: usize) -> Option<u16> {
    b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

/// Offset of a Multiboot header in the first 8 KiB, if the image has one.
pub fn find_header(image: &[u8]) -> Option<usize> {
    (0..image.len().min(8192).saturating_sub(12))
        .step_by(4)
        .find(|&o| le32(image, o) == Some(MAGIC))
}

/// A module: its bytes and command line.
pub struct Module {
    pub data: Vec<u8>,
    pub cmdline: String,
}

fn put(ram: &mut [u8], name: &str, at: u32, bytes: &[u8]) -> Result<(), MultibootError> {
    let end = at as usize + bytes.len();
    if end > ram.len() {
        return Err(MultibootError::DoesNotFit(
            name.into(),
            at,
            bytes.len() as u32,
        ));
    }
    ram[at as usize..end].copy_from_slice(bytes);
    Ok(())
}

/// Load a Multiboot kernel; returns Ok(false) when the image has no Multiboot header.
pub fn load(
    ram: &mut [u8],
    cpu: &mut CpuState,
    name: &str,
    image: &[u8],
    modules: &[Module],
    cmdline: &str,
) -> Result<bool, MultibootError> {
    let Some(h) = find_header(image) else {
        return Ok(false);
    };
    let trunc = || MultibootError::Truncated(name.into());
    let flags = le32(image, h + 4).ok_or_else(trunc)?;
    let sum = le32(image, h + 8).ok_or_else(trunc)?;
    if MAGIC.wrapping_add(flags).wrapping_add(sum) != 0 {
        return Err(MultibootError::Checksum(name.into()));
    }
    // Bits 0-2 (page-aligned modules, memory info, video mode: we stay in text mode, as QEMU
    // does) are honoured or harmless; bits 3-15 are requirements we do not know.
    if flags & 0xFFF8 != 0 {
        return Err(MultibootError::Unsupported(name.into(), flags));
    }
    let mut kernel_end: u32;
    let entry: u32;
    if flags & 0x1_0000 != 0 {
        // a.out kludge: the header gives the addresses.
        let header_addr = le32(image, h + 12).ok_or_else(trunc)?;
        let load_addr = le32(image, h + 16).ok_or_else(trunc)?;
        let load_end = le32(image, h + 20).ok_or_else(trunc)?;
        let bss_end = le32(image, h + 24).ok_or_else(trunc)?;
        entry = le32(image, h + 28).ok_or_else(trunc)?;
        let file_off = (h as u32).wrapping_sub(header_addr.wrapping_sub(load_addr)) as usize;
        let len = if load_end == 0 {
            image.len() - file_off
        } else {
            load_end.wrapping_sub(load_addr) as usize
        };
        let bytes = image.get(file_off..file_off + len).ok_or_else(trunc)?;
        put(ram, name, load_addr, bytes)?;
        kernel_end = load_addr + len as u32;
        if bss_end > kernel_end {
            let z = vec![0u8; (bss_end - kernel_end) as usize];
            put(ram, name, kernel_end, &z)?;
            kernel_end = bss_end;
        }
    } else {
        if image.get(0..4) != Some(b"\x7FELF")
            || image.get(4) != Some(&1)
            || le16(image, 18) != Some(3)
        {
            return Err(MultibootError::NotElf(name.into()));
        }
        entry = le32(image, 24).ok_or_else(trunc)?;
        let phoff = le32(image, 28).ok_or_else(trunc)? as usize;
        let phentsize = le16(image, 42).ok_or_else(trunc)? as usize;
        let phnum = le16(image, 44).ok_or_else(trunc)? as usize;
        kernel_end = 0;
        for k in 0..phnum {
            let p = phoff + k * phentsize;
            if le32(image, p).ok_or_else(trunc)? != 1 {
                continue; // not PT_LOAD
            }
            let off = le32(image, p + 4).ok_or_else(trunc)? as usize;
            let paddr = le32(image, p + 12).ok_or_else(trunc)?;
            let filesz = le32(image, p + 16).ok_or_else(trunc)? as usize;
            let memsz = le32(image, p + 20).ok_or_else(trunc)?;
            let bytes = image.get(off..off + filesz).ok_or_else(trunc)?;
            put(ram, name, paddr, bytes)?;
            if memsz as usize > filesz {
                put(
                    ram,
                    name,
                    paddr + filesz as u32,
                    &vec![0u8; memsz as usize - filesz],
                )?;
            }
            kernel_end = kernel_end.max(paddr + memsz);
        }
    }

    // Strings, module list and memory map in the data area; modules after the kernel.
    let mut data = Vec::new();
    let string = |data: &mut Vec<u8>, s: &str| -> u32 {
        let at = DATA_ADDR + data.len() as u32;
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        at
    };
    let cmd_at = string(&mut data, &format!("{name} {cmdline}").trim().to_string());
    let loader_at = string(&mut data, "ironbox");
    let mut mod_at = (kernel_end + 0xFFF) & !0xFFF;
    let mut mods = Vec::new();
    for m in modules {
        put(ram, name, mod_at, &m.data)?;
        let c = string(&mut data, &m.cmdline);
        mods.push([mod_at, mod_at + m.data.len() as u32, c, 0]);
        mod_at = (mod_at + m.data.len() as u32 + 0xFFF) & !0xFFF;
    }
    while data.len() % 4 != 0 {
        data.push(0);
    }
    let mods_at = DATA_ADDR + data.len() as u32;
    for m in &mods {
        for v in m {
            data.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mmap_at = DATA_ADDR + data.len() as u32;
    let ram_size = ram.len() as u32;
    for e in e820_map(ram_size) {
        data.extend_from_slice(&20u32.to_le_bytes());
        data.extend_from_slice(&e.addr.to_le_bytes());
        data.extend_from_slice(&e.size.to_le_bytes());
        data.extend_from_slice(&e.kind.to_le_bytes());
    }
    let mmap_len = DATA_ADDR + data.len() as u32 - mmap_at;
    put(ram, name, DATA_ADDR, &data)?;

    let mut info = [0u32; 22];
    info[0] = 1 | 2 | 4 | 8 | 64 | 512; // MEM, BOOTDEV, CMDLINE, MODS, MMAP, LOADER_NAME
    info[1] = 0x9_FC00 / 1024; // conventional memory below the EBDA
    info[3] = 0x8000_FFFF; // boot device: first hard disk, no partition (as QEMU)
    info[2] = (ram_size - 0x10_0000) / 1024;
    info[4] = cmd_at;
    info[5] = mods.len() as u32;
    info[6] = mods_at;
    info[11] = mmap_len;
    info[12] = mmap_at;
    info[16] = loader_at;
    let bytes: Vec<u8> = info.iter().flat_map(|v| v.to_le_bytes()).collect();
    put(ram, name, INFO_ADDR, &bytes)?;

    // Flat 32-bit protected mode, paging off, interrupts off.
    crate::linux::flat_protected_mode(ram, cpu, GDT_ADDR, 0x08);
    cpu.gpr[0] = BOOT_MAGIC;
    cpu.gpr[3] = INFO_ADDR;
    cpu.eip = entry;
    Ok(true)
}
