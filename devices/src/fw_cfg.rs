//! QEMU's firmware configuration device ("fw_cfg"), traditional I/O port interface: selector
//! at port 0x510 (16-bit write), data at 0x511 (byte reads), as SeaBIOS and QEMU's option ROMs
//! (linuxboot) use it.
//!
//! References: QEMU docs/specs/fw_cfg.rst and hw/nvram/fw_cfg.c (port semantics: a 16-bit write
//! selects an item and rewinds it, byte reads at either port return the next data byte, reads
//! past the end and of unknown items return 0, byte writes are ignored); SeaBIOS src/fw/paravirt.c
//! (`qemu_cfg_init`, `qemu_cfg_legacy`, `qemu_cfg_e820`) for what the firmware reads.
//!
//! Items: signature "QEMU" (0x0000), ID = 1 (traditional interface only, no DMA), UUID, RAM size,
//! NOGRAPHIC, CPU counts, boot menu, the file directory (0x0019: BE32 count, then 64-byte
//! entries `size BE32, select BE16, reserved BE16, name[56]`, sorted by name) and named files
//! added by the machine ([`FwCfg::add_file`]: "etc/e820", "bootorder", "etc/boot-fail-wait",
//! "genroms/…"). File select keys are 0x0020 + insertion order and stay stable. The Linux boot
//! keys (0x07-0x0A, 0x11-0x18) are filled by [`FwCfg::set_linux_boot`] for `-kernel` the QEMU way.
//!
//! Known gaps: no DMA interface (0x514), no write channel, no MMIO variant; items are stored as
//! plain bytes (no read callbacks), so files whose contents depend on guest actions (ACPI
//! table-loader) are out of scope.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{all_ones, Ctx, IoDevice};

pub const SELECTOR_PORT: u16 = 0x510;
pub const DATA_PORT: u16 = 0x511;

/// Item selector keys.
pub mod key {
    pub const SIGNATURE: u16 = 0x00;
    pub const ID: u16 = 0x01;
    pub const UUID: u16 = 0x02;
    pub const RAM_SIZE: u16 = 0x03;
    pub const NOGRAPHIC: u16 = 0x04;
    pub const NB_CPUS: u16 = 0x05;
    pub const MACHINE_ID: u16 = 0x06;
    pub const KERNEL_ADDR: u16 = 0x07;
    pub const KERNEL_SIZE: u16 = 0x08;
    pub const KERNEL_CMDLINE: u16 = 0x09;
    pub const INITRD_ADDR: u16 = 0x0A;
    pub const INITRD_SIZE: u16 = 0x0B;
    pub const BOOT_DEVICE: u16 = 0x0C;
    pub const NUMA: u16 = 0x0D;
    pub const BOOT_MENU: u16 = 0x0E;
    pub const MAX_CPUS: u16 = 0x0F;
    pub const KERNEL_ENTRY: u16 = 0x10;
    pub const KERNEL_DATA: u16 = 0x11;
    pub const INITRD_DATA: u16 = 0x12;
    pub const CMDLINE_ADDR: u16 = 0x13;
    pub const CMDLINE_SIZE: u16 = 0x14;
    pub const CMDLINE_DATA: u16 = 0x15;
    pub const SETUP_ADDR: u16 = 0x16;
    pub const SETUP_SIZE: u16 = 0x17;
    pub const SETUP_DATA: u16 = 0x18;
    pub const FILE_DIR: u16 = 0x19;
    pub const FILE_FIRST: u16 = 0x20;
    pub const WRITE_CHANNEL: u16 = 0x4000;
    pub const ARCH_LOCAL: u16 = 0x8000;
    pub const ACPI_TABLES: u16 = ARCH_LOCAL;
    pub const SMBIOS_ENTRIES: u16 = ARCH_LOCAL + 1;
    pub const IRQ0_OVERRIDE: u16 = ARCH_LOCAL + 2;
    pub const E820_TABLE: u16 = ARCH_LOCAL + 3;
    pub const HPET: u16 = ARCH_LOCAL + 4;
}

/// Longest file name, without its terminating NUL.
pub const MAX_NAME: usize = 55;
const MAX_FILES: usize = (key::WRITE_CHANNEL - key::FILE_FIRST) as usize;

pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;
pub const E820_NVS: u32 = 4;

/// One entry of the "etc/e820" file: address LE64, length LE64, type LE32 (20 bytes, packed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct E820Entry {
    pub addr: u64,
    pub len: u64,
    pub kind: u32,
}

/// The "etc/e820" file contents for `entries`.
pub fn e820_bytes(entries: &[E820Entry]) -> Vec<u8> {
    let mut v = Vec::with_capacity(entries.len() * 20);
    for e in entries {
        v.extend_from_slice(&e.addr.to_le_bytes());
        v.extend_from_slice(&e.len.to_le_bytes());
        v.extend_from_slice(&e.kind.to_le_bytes());
    }
    v
}

/// Parse "etc/e820" contents (a trailing partial entry is ignored).
pub fn parse_e820(bytes: &[u8]) -> Vec<E820Entry> {
    bytes
        .chunks_exact(20)
        .map(|c| E820Entry {
            addr: u64::from_le_bytes(c[0..8].try_into().unwrap()),
            len: u64::from_le_bytes(c[8..16].try_into().unwrap()),
            kind: u32::from_le_bytes(c[16..20].try_into().unwrap()),
        })
        .collect()
}

/// What QEMU's x86 `-kernel` path hands to the linuxboot option ROM.
#[derive(Clone, Debug, Default)]
pub struct LinuxBoot {
    /// Where the real-mode setup code goes, and its bytes (with the patched boot header).
    pub setup_addr: u32,
    pub setup: Vec<u8>,
    /// Where the protected-mode kernel goes, and its bytes.
    pub kernel_addr: u32,
    pub kernel: Vec<u8>,
    pub initrd_addr: u32,
    pub initrd: Vec<u8>,
    pub cmdline_addr: u32,
    /// Without the terminating NUL (added here).
    pub cmdline: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct File {
    name: String,
    data: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FwCfg {
    items: BTreeMap<u16, Vec<u8>>,
    /// Files in insertion order: file `i` has select key `FILE_FIRST + i`.
    files: Vec<File>,
    selector: u16,
    offset: usize,
    #[serde(skip)]
    logged: HashSet<u8>,
}

impl Default for FwCfg {
    fn default() -> Self {
        Self::new()
    }
}

impl FwCfg {
    /// Signature, ID 1, zero UUID, one CPU, no RAM size, an empty file directory.
    pub fn new() -> Self {
        let mut f = FwCfg {
            items: BTreeMap::new(),
            files: Vec::new(),
            selector: 0,
            offset: 0,
            logged: HashSet::new(),
        };
        f.set_item(key::SIGNATURE, b"QEMU".to_vec());
        f.set_item(key::ID, 1u32.to_le_bytes().to_vec());
        f.set_uuid([0; 16]);
        f.set_ram_size(0);
        f.set_nographic(false);
        f.set_cpus(1, 1);
        f.set_boot_menu(false);
        f.rebuild_dir();
        f
    }

    /// Machine reset: select the signature again. Contents are kept.
    pub fn reset(&mut self) {
        self.selector = 0;
        self.offset = 0;
    }

    /// Set (or replace) a numbered item. Keys are taken without the write-channel bit; file
    /// keys and the directory belong to [`add_file`](Self::add_file).
    pub fn set_item(&mut self, key: u16, data: Vec<u8>) {
        self.items.insert(key & !key::WRITE_CHANNEL, data);
    }

    /// The current contents of item `key` (numbered item, file or directory).
    pub fn item(&self, key: u16) -> Option<&[u8]> {
        let key = key & !key::WRITE_CHANNEL;
        if (key::FILE_FIRST..key::WRITE_CHANNEL).contains(&key) {
            return self
                .files
                .get((key - key::FILE_FIRST) as usize)
                .map(|f| &f.data[..]);
        }
        self.items.get(&key).map(|v| &v[..])
    }

    pub fn set_ram_size(&mut self, bytes: u64) {
        self.set_item(key::RAM_SIZE, bytes.to_le_bytes().to_vec());
    }

    pub fn set_uuid(&mut self, uuid: [u8; 16]) {
        self.set_item(key::UUID, uuid.to_vec());
    }

    pub fn set_nographic(&mut self, on: bool) {
        self.set_item(key::NOGRAPHIC, (on as u16).to_le_bytes().to_vec());
    }

    /// CPUs present at boot and the maximum (hot-plug) count.
    pub fn set_cpus(&mut self, boot: u16, max: u16) {
        self.set_item(key::NB_CPUS, boot.to_le_bytes().to_vec());
        self.set_item(key::MAX_CPUS, max.max(boot).to_le_bytes().to_vec());
    }

    pub fn set_boot_menu(&mut self, on: bool) {
        self.set_item(key::BOOT_MENU, (on as u16).to_le_bytes().to_vec());
    }

    /// Add a named file (or replace the contents of one with that name, keeping its key) and
    /// return its select key. Names longer than [`MAX_NAME`] bytes are truncated; past the last
    /// file key the file is dropped and `None` returned.
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Option<u16> {
        let mut name = name.to_string();
        if name.len() > MAX_NAME {
            let mut cut = MAX_NAME;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            tracing::warn!("fw_cfg: file name {name:?} longer than {MAX_NAME} bytes, truncated");
            name.truncate(cut);
        }
        let idx = match self.files.iter().position(|f| f.name == name) {
            Some(i) => {
                self.files[i].data = data;
                i
            }
            None if self.files.len() < MAX_FILES => {
                self.files.push(File { name, data });
                self.files.len() - 1
            }
            None => {
                tracing::warn!("fw_cfg: no file slot left for {name:?}");
                return None;
            }
        };
        self.rebuild_dir();
        Some(key::FILE_FIRST + idx as u16)
    }

    /// A file's contents by name.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.data[..])
    }

    /// Fill the Linux boot keys as QEMU's x86 loader does (addresses and sizes LE32; the
    /// command line NUL-terminated, its size counting the NUL).
    pub fn set_linux_boot(&mut self, lb: &LinuxBoot) {
        let le32 = |v: u32| v.to_le_bytes().to_vec();
        let mut cmdline = lb.cmdline.as_bytes().to_vec();
        cmdline.push(0);
        self.set_item(key::SETUP_ADDR, le32(lb.setup_addr));
        self.set_item(key::SETUP_SIZE, le32(lb.setup.len() as u32));
        self.set_item(key::SETUP_DATA, lb.setup.clone());
        self.set_item(key::KERNEL_ADDR, le32(lb.kernel_addr));
        self.set_item(key::KERNEL_SIZE, le32(lb.kernel.len() as u32));
        self.set_item(key::KERNEL_DATA, lb.kernel.clone());
        self.set_item(key::INITRD_ADDR, le32(lb.initrd_addr));
        self.set_item(key::INITRD_SIZE, le32(lb.initrd.len() as u32));
        self.set_item(key::INITRD_DATA, lb.initrd.clone());
        self.set_item(key::KERNEL_CMDLINE, le32(lb.cmdline_addr));
        self.set_item(key::CMDLINE_ADDR, le32(lb.cmdline_addr));
        self.set_item(key::CMDLINE_SIZE, le32(cmdline.len() as u32));
        self.set_item(key::CMDLINE_DATA, cmdline);
    }

    fn rebuild_dir(&mut self) {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by(|&a, &b| self.files[a].name.cmp(&self.files[b].name));
        let mut dir = Vec::with_capacity(4 + 64 * order.len());
        dir.extend_from_slice(&(order.len() as u32).to_be_bytes());
        for i in order {
            let f = &self.files[i];
            dir.extend_from_slice(&(f.data.len() as u32).to_be_bytes());
            dir.extend_from_slice(&(key::FILE_FIRST + i as u16).to_be_bytes());
            dir.extend_from_slice(&[0, 0]);
            let mut name = [0u8; 56];
            name[..f.name.len()].copy_from_slice(f.name.as_bytes());
            dir.extend_from_slice(&name);
        }
        self.items.insert(key::FILE_DIR, dir);
    }

    fn select(&mut self, key: u16) {
        self.selector = key;
        self.offset = 0;
    }

    fn read_byte(&mut self) -> u8 {
        let off = self.offset;
        match self.item(self.selector).and_then(|d| d.get(off).copied()) {
            Some(b) => {
                self.offset += 1;
                b
            }
            None => 0,
        }
    }

    fn log_once(&mut self, what: u8, msg: &str) {
        if self.logged.insert(what) {
            tracing::warn!("fw_cfg: {msg}");
        }
    }
}

impl IoDevice for FwCfg {
    fn io_read(&mut self, port: u16, size: u8, _ctx: &mut Ctx) -> u32 {
        match (port, size) {
            (SELECTOR_PORT | DATA_PORT, 1) => self.read_byte() as u32,
            _ => {
                self.log_once(0, "wide or stray read (only byte reads are valid)");
                all_ones(size)
            }
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32, _ctx: &mut Ctx) {
        match (port, size) {
            (SELECTOR_PORT, 2 | 4) => self.select(value as u16),
            (SELECTOR_PORT | DATA_PORT, 1) => {
                self.log_once(1, "data write ignored (no write channel)");
            }
            _ => self.log_once(2, "stray write ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;

    fn select(f: &mut FwCfg, k: u16) {
        let mut irq = IrqLines::default();
        f.io_write(
            SELECTOR_PORT,
            2,
            k as u32,
            &mut Ctx {
                now: 0,
                irq: &mut irq,
            },
        );
    }
    fn read(f: &mut FwCfg, n: usize) -> Vec<u8> {
        let mut irq = IrqLines::default();
        (0..n)
            .map(|_| {
                f.io_read(
                    DATA_PORT,
                    1,
                    &mut Ctx {
                        now: 0,
                        irq: &mut irq,
                    },
                ) as u8
            })
            .collect()
    }
    fn read_entry(f: &mut FwCfg, k: u16, n: usize) -> Vec<u8> {
        select(f, k);
        read(f, n)
    }

    #[test]
    fn signature_id_and_scalars() {
        let mut f = FwCfg::new();
        assert_eq!(read_entry(&mut f, key::SIGNATURE, 5), b"QEMU\0");
        assert_eq!(read_entry(&mut f, key::ID, 4), [1, 0, 0, 0]);
        f.set_ram_size(128 << 20);
        f.set_cpus(2, 4);
        f.set_boot_menu(true);
        assert_eq!(
            read_entry(&mut f, key::RAM_SIZE, 8),
            (128u64 << 20).to_le_bytes()
        );
        assert_eq!(read_entry(&mut f, key::NB_CPUS, 2), [2, 0]);
        assert_eq!(read_entry(&mut f, key::MAX_CPUS, 2), [4, 0]);
        assert_eq!(read_entry(&mut f, key::BOOT_MENU, 2), [1, 0]);
        assert_eq!(read_entry(&mut f, key::UUID, 16), [0; 16]);
        // Items SeaBIOS probes that are absent read as zero (NUMA count, ACPI/SMBIOS counts).
        assert_eq!(read_entry(&mut f, key::NUMA, 8), [0; 8]);
        assert_eq!(read_entry(&mut f, key::E820_TABLE, 4), [0; 4]);
        // Byte reads of 0x510 read data too; wide reads float; selecting rewinds.
        let mut irq = IrqLines::default();
        let mut ctx = Ctx {
            now: 0,
            irq: &mut irq,
        };
        f.io_write(SELECTOR_PORT, 2, 0, &mut ctx);
        assert_eq!(f.io_read(SELECTOR_PORT, 1, &mut ctx), b'Q' as u32);
        assert_eq!(f.io_read(DATA_PORT, 2, &mut ctx), 0xFFFF);
        f.io_write(DATA_PORT, 1, 0x55, &mut ctx);
        assert_eq!(f.io_read(DATA_PORT, 1, &mut ctx), b'E' as u32);
        // The write-channel bit is ignored for reads.
        assert_eq!(
            read_entry(&mut f, key::SIGNATURE | key::WRITE_CHANNEL, 1),
            b"Q"
        );
    }

    #[test]
    fn file_directory_layout() {
        let mut f = FwCfg::new();
        assert_eq!(read_entry(&mut f, key::FILE_DIR, 4), [0, 0, 0, 0]);
        let k_e820 = f.add_file("etc/e820", vec![0; 40]).unwrap();
        let k_boot = f
            .add_file(
                "bootorder",
                b"/pci@i0cf8/ide@1,1/drive@0/disk@0\n\0".to_vec(),
            )
            .unwrap();
        let k_wait = f
            .add_file("etc/boot-fail-wait", 5u32.to_le_bytes().to_vec())
            .unwrap();
        assert_eq!((k_e820, k_boot, k_wait), (0x20, 0x21, 0x22));
        let dir = read_entry(&mut f, key::FILE_DIR, 4 + 3 * 64 + 1);
        assert_eq!(dir[..4], [0, 0, 0, 3]);
        assert_eq!(dir[4 + 3 * 64], 0, "reading past the end gives 0");
        let mut names = vec![];
        for e in dir[4..4 + 3 * 64].chunks_exact(64) {
            let size = u32::from_be_bytes(e[0..4].try_into().unwrap());
            let sel = u16::from_be_bytes(e[4..6].try_into().unwrap());
            assert_eq!(e[6..8], [0, 0]);
            let name = std::str::from_utf8(&e[8..])
                .unwrap()
                .trim_end_matches('\0')
                .to_string();
            assert_eq!(size as usize, f.file(&name).unwrap().len());
            assert_eq!(
                read_entry(&mut f, sel, size as usize),
                f.file(&name).unwrap()
            );
            names.push(name);
        }
        assert_eq!(names, ["bootorder", "etc/boot-fail-wait", "etc/e820"]);
        // Replacing keeps the key; the directory follows the new size.
        assert_eq!(f.add_file("etc/e820", vec![1; 20]), Some(0x20));
        let dir = read_entry(&mut f, key::FILE_DIR, 4 + 3 * 64);
        assert_eq!(dir[4 + 2 * 64..4 + 2 * 64 + 6], [0, 0, 0, 20, 0, 0x20]);
        // Long names are cut to 55 bytes, leaving the NUL.
        let long = "x".repeat(70);
        let k = f.add_file(&long, vec![]).unwrap();
        assert_eq!(f.file(&"x".repeat(55)), Some(&[][..]));
        let dir = read_entry(&mut f, key::FILE_DIR, 4 + 4 * 64);
        let e = &dir[4 + 3 * 64..];
        assert_eq!(u16::from_be_bytes([e[4], e[5]]), k);
        assert_eq!((e[8 + 54], e[8 + 55]), (b'x', 0));
    }

    #[test]
    fn e820_parse_back() {
        let mut f = FwCfg::new();
        let map = [
            E820Entry {
                addr: 0,
                len: 0x9FC00,
                kind: E820_RAM,
            },
            E820Entry {
                addr: 0x10_0000,
                len: 0x7F0_0000,
                kind: E820_RAM,
            },
            E820Entry {
                addr: 0xFFFC_0000,
                len: 0x4_0000,
                kind: E820_RESERVED,
            },
        ];
        let key = f.add_file("etc/e820", e820_bytes(&map)).unwrap();
        let bytes = read_entry(&mut f, key, 60);
        assert_eq!(bytes[20..28], 0x10_0000u64.to_le_bytes());
        assert_eq!(parse_e820(&bytes), map);
        assert_eq!(parse_e820(&bytes[..59]).len(), 2);
    }

    #[test]
    fn linux_boot_keys_and_snapshot() {
        let mut f = FwCfg::new();
        f.set_linux_boot(&LinuxBoot {
            setup_addr: 0x9_0000,
            setup: vec![0xEB; 0x800],
            kernel_addr: 0x10_0000,
            kernel: vec![0x90; 100],
            initrd_addr: 0x7F0_0000,
            initrd: vec![1, 2, 3],
            cmdline_addr: 0x2_0000,
            cmdline: "console=ttyS0".into(),
        });
        assert_eq!(
            read_entry(&mut f, key::KERNEL_SIZE, 4),
            100u32.to_le_bytes()
        );
        assert_eq!(
            read_entry(&mut f, key::SETUP_ADDR, 4),
            0x9_0000u32.to_le_bytes()
        );
        assert_eq!(read_entry(&mut f, key::INITRD_DATA, 4), [1, 2, 3, 0]);
        assert_eq!(
            read_entry(&mut f, key::CMDLINE_SIZE, 4),
            14u32.to_le_bytes()
        );
        assert_eq!(
            read_entry(&mut f, key::CMDLINE_DATA, 14),
            b"console=ttyS0\0"
        );
        f.add_file("bootorder", b"\0".to_vec());
        select(&mut f, key::KERNEL_DATA);
        read(&mut f, 10);
        let json = serde_json::to_string(&f).unwrap();
        let mut g: FwCfg = serde_json::from_str(&json).unwrap();
        assert_eq!(read(&mut g, 1), [0x90], "selector and offset survive");
        assert_eq!(g.file("bootorder"), Some(&b"\0"[..]));
        g.reset();
        assert_eq!(read(&mut g, 4), b"QEMU");
    }
}
