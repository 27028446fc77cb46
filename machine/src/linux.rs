//! Direct Linux boot (as QEMU's `-kernel` with `-initrd` and `-append`), through the 32-bit
//! boot protocol (Documentation/arch/x86/boot.rst): the protected-mode kernel goes to 1 MiB, the
//! "zero page" (`struct boot_params`) gets the setup header, the command line, the initrd and
//! an e820 memory map, and the CPU starts at `code32_start` in flat 32-bit protected mode with
//! ESI pointing at the zero page. No BIOS runs.

use ironbox_cpu::state::{attr, cr0, SegReg, Segment};
use ironbox_cpu::CpuState;

/// Where the loader puts things (all below 640 KiB except the kernel and initrd).
const GDT_ADDR: u32 = 0x6000;
const ZERO_PAGE: u32 = 0x7000;
const CMDLINE_ADDR: u32 = 0x20000;
const CMDLINE_MAX: usize = 0x1_0000;
const KERNEL_ADDR: u32 = 0x10_0000;

#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    #[error("{0}: not a Linux bzImage (no \"HdrS\" boot header)")]
    NotBzImage(String),
    #[error("{0}: boot protocol {1}.{2:02} is too old (2.04 or newer needed)")]
    OldProtocol(String, u8, u8),
    #[error("{0}: the kernel is not loadable high (LOADED_HIGH clear)")]
    NotHigh(String),
    #[error("{0}: truncated ({1} bytes)")]
    Truncated(String, usize),
    #[error("guest memory ({ram} MiB) is too small for the kernel ({need} bytes) and initrd ({initrd} bytes)")]
    TooSmall {
        ram: u32,
        need: usize,
        initrd: usize,
    },
    #[error("kernel command line is {0} bytes; at most {1}")]
    CmdlineTooLong(usize, usize),
}

/// One e820 entry (type 1 = RAM, 2 = reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820 {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

/// The PC memory map for `ram` bytes of RAM: conventional memory, the EBDA/BIOS holes,
/// extended memory.
pub fn e820_map(ram: u32) -> Vec<E820> {
    vec![
        E820 {
            addr: 0,
            size: 0x9_FC00,
            kind: 1,
        },
        E820 {
            addr: 0x9_FC00,
            size: 0x400,
            kind: 2,
        },
        E820 {
            addr: 0xF_0000,
            size: 0x1_0000,
            kind: 2,
        },
        E820 {
            addr: 0x10_0000,
            size: ram as u64 - 0x10_0000,
            kind: 1,
        },
    ]
}

/// Does the image carry the Linux boot protocol header?
pub fn is_bzimage(kernel: &[u8]) -> bool {
    kernel.len() >= 0x206 && &kernel[0x202..0x206] == b"HdrS"
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Load `kernel` (a bzImage), an optional initrd and the command line into `ram`, and set up
/// `cpu` to enter the kernel. `name` is used in error messages.
pub fn load(
    ram: &mut [u8],
    cpu: &mut CpuState,
    name: &str,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
) -> Result<(), LinuxError> {
    if kernel.len() < 0x1000 {
        return Err(LinuxError::Truncated(name.into(), kernel.len()));
    }
    if &kernel[0x202..0x206] != b"HdrS" || le16(kernel, 0x1FE) != 0xAA55 {
        return Err(LinuxError::NotBzImage(name.into()));
    }
    let version = le16(kernel, 0x206);
    if version < 0x0204 {
        return Err(LinuxError::OldProtocol(
            name.into(),
            (version >> 8) as u8,
            version as u8,
        ));
    }
    if kernel[0x211] & 1 == 0 {
        return Err(LinuxError::NotHigh(name.into()));
    }
    let setup_sects = match kernel[0x1F1] {
        0 => 4,
        n => n as usize,
    };
    let pm_off = (setup_sects + 1) * 512;
    if pm_off >= kernel.len() {
        return Err(LinuxError::Truncated(name.into(), kernel.len()));
    }
    let pm = &kernel[pm_off..];
    let cmdline_max = if version >= 0x0206 {
        le32(kernel, 0x238) as usize
    } else {
        255
    };
    if cmdline.len() > cmdline_max.min(CMDLINE_MAX - 1) {
        return Err(LinuxError::CmdlineTooLong(
            cmdline.len(),
            cmdline_max.min(CMDLINE_MAX - 1),
        ));
    }
    let ram_size = ram.len() as u32;
    // The kernel decompresses in place: it needs init_size bytes from its load address.
    let init_size = if version >= 0x020A {
        le32(kernel, 0x260) as usize
    } else {
        pm.len() * 4
    };
    let kernel_end = KERNEL_ADDR as usize + init_size.max(pm.len());
    let initrd_len = initrd.map_or(0, |i| i.len());
    if kernel_end + initrd_len + 0x10_0000 > ram.len() {
        return Err(LinuxError::TooSmall {
            ram: ram_size >> 20,
            need: init_size.max(pm.len()),
            initrd: initrd_len,
        });
    }
    ram[KERNEL_ADDR as usize..KERNEL_ADDR as usize + pm.len()].copy_from_slice(pm);

    // The zero page: zeroed, with the setup header copied to its offset.
    let zp = ZERO_PAGE as usize;
    ram[zp..zp + 0x1000].fill(0);
    let hdr_end = (0x202 + kernel[0x201] as usize)
        .min(0x1000)
        .min(kernel.len());
    ram[zp + 0x1F1..zp + hdr_end].copy_from_slice(&kernel[0x1F1..hdr_end]);
    ram[zp + 0x210] = 0xFF; // type_of_loader: undefined
    ram[zp + 0x211] |= 0x80; // CAN_USE_HEAP
    ram[zp + 0x224..zp + 0x226].copy_from_slice(&0xFE00u16.to_le_bytes()); // heap_end_ptr
                                                                           // Command line.
    let c = CMDLINE_ADDR as usize;
    ram[c..c + cmdline.len()].copy_from_slice(cmdline.as_bytes());
    ram[c + cmdline.len()] = 0;
    ram[zp + 0x228..zp + 0x22C].copy_from_slice(&CMDLINE_ADDR.to_le_bytes());
    // Initrd: as high as allowed, page aligned.
    if let Some(rd) = initrd {
        let max = if version >= 0x0203 {
            le32(kernel, 0x22C)
        } else {
            0x37FF_FFFF
        };
        let top = (ram_size.min(max.saturating_add(1))) as usize;
        let at = (top - rd.len()) & !0xFFF;
        if at < kernel_end {
            return Err(LinuxError::TooSmall {
                ram: ram_size >> 20,
                need: init_size.max(pm.len()),
                initrd: rd.len(),
            });
        }
        ram[at..at + rd.len()].copy_from_slice(rd);
        ram[zp + 0x218..zp + 0x21C].copy_from_slice(&(at as u32).to_le_bytes());
        ram[zp + 0x21C..zp + 0x220].copy_from_slice(&(rd.len() as u32).to_le_bytes());
    }
    // e820 map: count at 0x1E8, entries (20 bytes each) at 0x2D0.
    let map = e820_map(ram_size);
    ram[zp + 0x1E8] = map.len() as u8;
    for (k, e) in map.iter().enumerate() {
        let o = zp + 0x2D0 + 20 * k;
        ram[o..o + 8].copy_from_slice(&e.addr.to_le_bytes());
        ram[o + 8..o + 16].copy_from_slice(&e.size.to_le_bytes());
        ram[o + 16..o + 20].copy_from_slice(&e.kind.to_le_bytes());
    }
    // Screen: no VGA text console described (the kernel uses the serial console or probes).
    ram[zp + 0x0F] = 0; // orig_video_isVGA
                        // ext_mem_k / alt_mem_k for old kernels.
    let ext_k = (ram_size - 0x10_0000) / 1024;
    ram[zp + 0x2..zp + 0x4].copy_from_slice(&(ext_k.min(0xFFFF) as u16).to_le_bytes());
    ram[zp + 0x1E0..zp + 0x1E4].copy_from_slice(&ext_k.to_le_bytes());

    // CPU: flat 32-bit protected mode with the boot protocol's selectors (0x10 code, 0x18
    // data), interrupts off, ESI = zero page.
    let code32_start = le32(kernel, 0x214);
    flat_protected_mode(ram, cpu, GDT_ADDR, 0x10);
    cpu.eip = if code32_start != 0 {
        code32_start
    } else {
        KERNEL_ADDR
    };
    cpu.gpr[6] = ZERO_PAGE; // ESI
    Ok(())
}

/// Put the CPU in flat 32-bit protected mode, paging and interrupts off, with a GDT at
/// `gdt` holding a flat code descriptor at selector `code` and flat data at `code + 8`; all
/// general registers zero. Used by the direct kernel loaders.
pub(crate) fn flat_protected_mode(ram: &mut [u8], cpu: &mut CpuState, gdt: u32, code: u16) {
    let g = gdt as usize;
    let c = g + code as usize;
    ram[g..c + 16].fill(0);
    ram[c..c + 8].copy_from_slice(&0x00CF_9A00_0000_FFFFu64.to_le_bytes());
    ram[c + 8..c + 16].copy_from_slice(&0x00CF_9200_0000_FFFFu64.to_le_bytes());
    cpu.gdtr.base = gdt;
    cpu.gdtr.limit = code as u32 + 15;
    cpu.cr0 |= cr0::PE;
    let flat = |sel: u16, ty: u16| Segment {
        selector: sel,
        attr: ty | attr::S | attr::P | attr::DB | attr::G | attr::ACCESSED,
        base: 0,
        limit: 0xFFFF_FFFF,
    };
    cpu.seg[SegReg::Cs as usize] = flat(code, attr::CODE | attr::RW);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        cpu.seg[s as usize] = flat(code + 8, attr::RW);
    }
    cpu.cpl = 0;
    cpu.eflags = 2;
    cpu.gpr = [0; 8];
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironbox_cpu::CpuModel;

    fn fake_bzimage(version: u16) -> Vec<u8> {
        let mut k = vec![0u8; 0x4000];
        k[0x1F1] = 4; // setup_sects
        k[0x1FE] = 0x55;
        k[0x1FF] = 0xAA;
        k[0x201] = 0x6A; // header length - 0x202 + ...
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x206..0x208].copy_from_slice(&version.to_le_bytes());
        k[0x211] = 1; // LOADED_HIGH
        k[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
        k[0x22C..0x230].copy_from_slice(&0x37FF_FFFFu32.to_le_bytes());
        k[0x238..0x23C].copy_from_slice(&2048u32.to_le_bytes());
        k[0x260..0x264].copy_from_slice(&0x8000u32.to_le_bytes());
        k[0xA00] = 0xF4; // first byte of the protected-mode kernel
        k
    }

    #[test]
    fn loads_kernel_initrd_cmdline_and_e820() {
        let mut ram = vec![0u8; 16 << 20];
        let mut cpu = CpuState::reset(CpuModel::Pentium2);
        let k = fake_bzimage(0x020F);
        load(
            &mut ram,
            &mut cpu,
            "k",
            &k,
            Some(&[1, 2, 3]),
            "console=ttyS0",
        )
        .unwrap();
        assert_eq!(ram[0x10_0000], 0xF4);
        assert_eq!(cpu.eip, 0x10_0000);
        assert_eq!(cpu.gpr[6], ZERO_PAGE);
        let zp = ZERO_PAGE as usize;
        assert_eq!(&ram[0x20000..0x2000D], b"console=ttyS0");
        assert_eq!(le32(&ram, zp + 0x228), CMDLINE_ADDR);
        let rd = le32(&ram, zp + 0x218) as usize;
        assert_eq!(le32(&ram, zp + 0x21C), 3);
        assert_eq!(&ram[rd..rd + 3], &[1, 2, 3]);
        assert_eq!(rd % 4096, 0);
        assert_eq!(ram[zp + 0x1E8], 4);
        assert_eq!(ram[zp + 0x210], 0xFF);
        assert!(cpu.cr0 & cr0::PE != 0);
    }

    #[test]
    fn rejects_bad_images() {
        let mut ram = vec![0u8; 16 << 20];
        let mut cpu = CpuState::reset(CpuModel::Pentium2);
        assert!(matches!(
            load(&mut ram, &mut cpu, "x", &[0u8; 100], None, ""),
            Err(LinuxError::Truncated(..))
        ));
        assert!(matches!(
            load(&mut ram, &mut cpu, "x", &vec![0u8; 0x4000], None, ""),
            Err(LinuxError::NotBzImage(..))
        ));
        assert!(matches!(
            load(&mut ram, &mut cpu, "x", &fake_bzimage(0x0202), None, ""),
            Err(LinuxError::OldProtocol(..))
        ));
        let long = "x".repeat(5000);
        assert!(matches!(
            load(&mut ram, &mut cpu, "x", &fake_bzimage(0x020F), None, &long),
            Err(LinuxError::CmdlineTooLong(..))
        ));
        let mut small = vec![0u8; 1 << 20];
        assert!(matches!(
            load(&mut small, &mut cpu, "x", &fake_bzimage(0x020F), None, ""),
            Err(LinuxError::TooSmall { .. })
        ));
    }
}
