//! Issue 3, part 5 (b)–(f): real guests from Debian's packages, booted end to end.
//!
//! `scripts/build-images.sh NAME` assembles each image (cached under `target/images/`, never
//! committed): a SYSLINUX hard disk, a GRUB El Torito CD, a SYSLINUX floppy, memtest86+ on a
//! SYSLINUX floppy and the i386 netboot installer on a SYSLINUX hard disk. Each test boots one
//! headless and deterministic (the same instruction count and output on every run), under
//! SeaBIOS and SeaVGABIOS, and checks fixed text: (b)–(d) on the serial port (the guests are
//! told to use it), with `--max-instructions` as the safety cap; (e) and (f) on the VGA text
//! screen, which they draw, read from the machine built in-process between slices of the run
//! (the test stops as soon as the screen is there).
//!
//! Instruction counts and wall times are in each test's comment (wall time on the 2-core dev
//! machine, where the interpreter runs at ~60–80 MIPS when the machine is otherwise idle).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ironbox_cpu::CpuModel;
use ironbox_devices::block::{BlockBackend, FileBackend};
use ironbox_devices::rtc::BootDevice;
use ironbox_machine::pc::{Pc, PcConfig, PcOutcome};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn need_seabios() {
    assert!(
        Path::new("/usr/share/seabios/bios.bin").exists(),
        "Debian's `seabios` package is not installed (scripts/setup-deps.sh installs it)"
    );
}

/// Build (or find cached) the image(s) called `name`; returns the paths the script prints.
fn images(name: &str) -> Vec<PathBuf> {
    let out = Command::new(root().join("scripts/build-images.sh"))
        .arg(name)
        .current_dir(root())
        .output()
        .expect("run scripts/build-images.sh");
    assert!(
        out.status.success(),
        "scripts/build-images.sh {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    for p in &paths {
        assert!(
            p.is_file(),
            "scripts/build-images.sh {name}: {} missing",
            p.display()
        );
    }
    paths
}

/// A private copy of a writable disk image, so that a guest's writes never reach the cache.
fn scratch_copy(image: &Path, name: &str) -> PathBuf {
    let copy = tmp(name);
    std::fs::copy(image, &copy).expect("copy the disk image");
    copy
}

/// A deterministic PC with Debian's SeaBIOS and SeaVGABIOS, `memory` MiB, IDE hard disks
/// `disks` (primary master, slave) and floppy `fda`, booting from the floppy if there is one,
/// else the hard disk. Built in-process, so that the tests can look at the VGA screen.
fn board(memory: u32, disks: &[&Path], fda: Option<&Path>) -> Pc {
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let mut cfg = PcConfig::with_bios(
        CpuModel::Pentium2,
        memory,
        read("/usr/share/seabios/bios.bin"),
    );
    cfg.vga_bios = Some(read("/usr/share/seabios/vgabios-stdvga.bin"));
    let open = |p: &Path| -> Box<dyn BlockBackend> {
        Box::new(FileBackend::open(p, false).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    };
    cfg.hda = disks.first().map(|p| open(p));
    cfg.hdb = disks.get(1).map(|p| open(p));
    cfg.fda = fda.map(open);
    cfg.boot_order = if fda.is_some() {
        vec![BootDevice::Floppy]
    } else {
        vec![BootDevice::HardDisk]
    };
    Pc::new(cfg).expect("build the PC")
}

/// Run `pc` in slices, reading the VGA text screen between them, until `done(screen)` holds;
/// returns that screen. Fails if the guest stops or `cap` instructions pass first.
fn run_until_screen(pc: &mut Pc, what: &str, cap: u64, done: impl Fn(&str) -> bool) -> String {
    // Short slices (25 M to 100 M instructions, ~0.5-2 s): a finished screen is seen soon
    // after it is drawn; reading the text buffer between slices costs next to nothing.
    let slice = (cap / 200).clamp(25_000_000, 100_000_000);
    let t0 = std::time::Instant::now();
    let mut text = String::new();
    while pc.cpu.instret < cap {
        let outcome = pc.run(Some(slice)).expect("run the PC");
        let now = pc.screen_text().unwrap_or_default().join("\n");
        if now != text {
            let lines: Vec<&str> = now.lines().filter(|l| !l.trim().is_empty()).collect();
            eprintln!(
                "{what}: {} M instructions, text mode {}, {} lines: {:?}",
                pc.cpu.instret / 1_000_000,
                pc.bus.chip.vga.is_text_mode(),
                lines.len(),
                &lines[lines.len().saturating_sub(3)..]
            );
        }
        text = now;
        if done(&text) {
            eprintln!(
                "{what}: screen reached after {} instructions in {:.1} s",
                pc.cpu.instret,
                t0.elapsed().as_secs_f64()
            );
            eprintln!("{text}");
            return text;
        }
        assert!(
            matches!(outcome, PcOutcome::InstructionLimit { .. }),
            "{what}: the run ended ({outcome:?}) after {} instructions; screen:\n{text}",
            pc.cpu.instret
        );
    }
    panic!(
        "{what}: the expected screen is not there after {} instructions ({:.1} s); screen:\n{text}",
        pc.cpu.instret,
        t0.elapsed().as_secs_f64()
    );
}

struct Run {
    out: Output,
    serial: String,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// The serial output's last lines, for failure messages.
    fn tail(&self) -> String {
        let lines: Vec<&str> = self.serial.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn expect(&self, wants: &[&str]) {
        for want in wants {
            assert!(
                self.serial.contains(want),
                "missing {want:?} on the serial port; status {:?}, stderr:\n{}\nserial (tail):\n{}",
                self.out.status,
                self.stderr(),
                self.tail()
            );
        }
    }
}

/// `ironbox run --deterministic --no-reboot --serial file:... --stats --max-instructions CAP ARGS`.
fn boot(log: &str, cap: u64, args: &[&str]) -> Run {
    let serial_path = tmp(log);
    let _ = std::fs::remove_file(&serial_path);
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(["run", "--deterministic", "--no-reboot", "--stats"])
        .arg("--max-instructions")
        .arg(cap.to_string())
        .arg("--serial")
        .arg(format!("file:{}", serial_path.display()))
        .args(args)
        .output()
        .expect("run ironbox");
    let serial =
        String::from_utf8_lossy(&std::fs::read(&serial_path).unwrap_or_default()).into_owned();
    // The instruction count and wall time, for whoever reads the test log.
    eprintln!("{log}: {}", String::from_utf8_lossy(&out.stderr));
    Run { out, serial }
}

/// What an 80x25 VT100 terminal shows after `bytes` (cursor addressing, erase, newline and
/// carriage return; attributes and character sets are ignored). Programs that draw a full
/// screen on the serial port (memtest86+, SYSLINUX's menu) are read through this.
fn screen(bytes: &str) -> Vec<String> {
    const W: usize = 80;
    const H: usize = 25;
    let mut grid = vec![vec![' '; W]; H];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = bytes.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut fin = ' ';
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() || c == '@' || c == '`' {
                            fin = c;
                            break;
                        }
                        params.push(c);
                    }
                    let private = params.starts_with('?');
                    let nums: Vec<usize> = params
                        .trim_start_matches('?')
                        .split(';')
                        .map(|n| n.parse().unwrap_or(0))
                        .collect();
                    let n = |i: usize, default: usize| match nums.get(i) {
                        Some(&v) if v != 0 => v,
                        _ => default,
                    };
                    match fin {
                        _ if private => {}
                        'H' | 'f' => {
                            row = (n(0, 1) - 1).min(H - 1);
                            col = (n(1, 1) - 1).min(W - 1);
                        }
                        'A' => row = row.saturating_sub(n(0, 1)),
                        'B' => row = (row + n(0, 1)).min(H - 1),
                        'C' => col = (col + n(0, 1)).min(W - 1),
                        'D' => col = col.saturating_sub(n(0, 1)),
                        'J' => match nums.first() {
                            Some(2) => grid.iter_mut().for_each(|r| r.fill(' ')),
                            Some(1) => {}
                            _ => {
                                grid[row][col..].fill(' ');
                                grid[row + 1..].iter_mut().for_each(|r| r.fill(' '));
                            }
                        },
                        'K' => grid[row][col..].fill(' '),
                        _ => {}
                    }
                }
                // Character set designations take one more character.
                Some('(' | ')' | '%') => {
                    chars.next();
                }
                _ => {}
            },
            '\r' => col = 0,
            '\n' => {
                if row == H - 1 {
                    grid.remove(0);
                    grid.push(vec![' '; W]);
                } else {
                    row += 1;
                }
            }
            '\x08' => col = col.saturating_sub(1),
            c if (c as u32) < 0x20 => {}
            c => {
                if col == W {
                    col = 0;
                    if row == H - 1 {
                        grid.remove(0);
                        grid.push(vec![' '; W]);
                    } else {
                        row += 1;
                    }
                }
                grid[row][col] = c;
                col += 1;
            }
        }
    }
    grid.into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .collect()
}

#[test]
fn screen_renders_cursor_addressing() {
    let s = screen("\x1b[2J\x1b[1;1Hab\x1b[2;3Hcd\x1b[0;1;36mef\x1b[1;2Hz\r\nxy\x1b[K");
    assert_eq!(s[0], "az");
    assert_eq!(s[1], "xy");
    assert!(s[2].is_empty());
}

/// (d) A 1.44 MB FAT12 floppy with SYSLINUX, booted by SeaBIOS from drive A: SYSLINUX's banner
/// on the serial port (its `SERIAL` directive), then its COM32 menu (`menu.c32` with
/// `libutil.c32` and `libcom32.c32`) draws its title, counts its 0.5 s timeout down, and runs
/// `reboot.c32`, whose reset ends the run (`--no-reboot`).
/// 124.5 M instructions, ~3.5 s.
#[test]
fn floppy_syslinux_menu_runs_reboot_c32() {
    need_seabios();
    let img = images("floppy-syslinux").remove(0);
    let fda = scratch_copy(&img, "floppy-syslinux.img");
    let run = boot(
        "floppy-syslinux.serial",
        500_000_000,
        &["--boot", "a", "--fda", fda.to_str().unwrap()],
    );
    run.expect(&[
        "SYSLINUX 6.04 20210613 Copyright (C) 1994-2015 H. Peter Anvin et al",
        "ironbox floppy boot ok",
        "Reboot (reboot.c32)",
        "Automatic boot in",
    ]);
    let shown = screen(&run.serial);
    assert!(
        shown.iter().any(|l| l.contains("ironbox floppy boot ok")),
        "the menu title is not on the screen:\n{}",
        shown.join("\n")
    );
    // reboot.c32 reset the machine: the run ended by itself, status 0.
    assert!(
        run.out.status.success(),
        "reboot.c32 did not reset the machine: {:?}\n{}",
        run.out.status,
        run.stderr()
    );
}

/// (e) memtest86+ 6.10's 32-bit image from Debian's `memtest86+` package on a SYSLINUX floppy
/// (`LINUX memtest`, `APPEND nobench nopause`: no start-up benchmark), booted by SeaBIOS with
/// SeaVGABIOS in text mode 3. memtest86+ draws its screen in the VGA text buffer, which the
/// test reads between 25 M-instruction slices: the banner, the CPU and memory found, a test
/// running with its progress bar grown (at 100 M instructions: test #2 at 50%), then the
/// progress moving on (175 M). ~2.5 s idle, 4-12 s with the machine shared.
#[test]
fn memtest86plus_reports_progress_on_screen() {
    need_seabios();
    let img = images("memtest-floppy").remove(0);
    let mut pc = board(32, &[], Some(&img));
    let wants = [
        "Memtest86+ v6.10",
        "│ Pentium II",
        "Memory  :   32MB",
        "CPU: 1 Cores 1 Threads    SMP: Disabled",
        "Status: Testing",
        "Errors: 0",
        "│ Test #",
        "│ Testing: ",
    ];
    // The progress area: the pass bar, the current test's bar ("Test  NN% ###") and name.
    let progress = |text: &str| -> String {
        text.lines()
            .filter_map(|l| l.split_once('│').map(|(_, right)| right))
            .filter(|r| r.starts_with(" Pass") || r.starts_with(" Test"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let first = run_until_screen(&mut pc, "memtest86+", 1_500_000_000, |text| {
        wants.iter().all(|w| text.contains(w))
            && text
                .lines()
                .any(|l| l.contains("│ Test ") && l.contains("% #"))
    });
    // ... and it moves on.
    let cap = pc.cpu.instret + 500_000_000;
    run_until_screen(&mut pc, "memtest86+ progress", cap, |text| {
        text.contains("Status: Testing") && progress(text) != progress(&first)
    });
}

/// (b) An MBR hard disk (SYSLINUX's mbr.bin, one active FAT16 partition at 1 MiB) with
/// SYSLINUX loading the default guest (Debian's i386 kernel and the busybox initramfs) with
/// `console=ttyS0`: SeaBIOS → mbr.bin → SYSLINUX, which loads the kernel and initramfs through
/// INT 13h and hands over the command line; Linux starts on the serial console.
/// Boots to the busybox shell (the default guest's banner), within 10 G instructions.
#[test]
fn hd_syslinux_boots_linux() {
    need_seabios();
    let img = images("hd-syslinux").remove(0);
    let hda = scratch_copy(&img, "hd-syslinux.img");
    let run = boot(
        "hd-syslinux.serial",
        10_000_000_000,
        &["--boot", "c", "--hda", hda.to_str().unwrap()],
    );
    run.expect(&[
        "SYSLINUX 6.04 20210613 Copyright (C) 1994-2015 H. Peter Anvin et al",
        "Loading vmlinuz... ok",
        "Loading initrd.img...ok",
        "Linux version 6.1.0-",
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "Kernel command line: BOOT_IMAGE=vmlinuz console=ttyS0 initrd=initrd.img",
        "RAMDISK: [mem ",
        "ironbox guest: Linux 6.1.0-50-686 with BusyBox",
    ]);
}

/// (c) A GRUB 2 CD made by `grub-mkrescue` (i386-pc, El Torito, ISO 9660), booted by SeaBIOS
/// from the ATAPI drive: GRUB's core reads its grub.cfg and modules from the CD, switches its
/// terminal to the serial port, runs the menu entry (timeout 0) and loads the default guest's
/// kernel and initramfs, and Linux starts with GRUB's command line (within 4 G instructions).
#[test]
fn cd_grub_loads_linux() {
    need_seabios();
    let iso = images("cd-grub").remove(0);
    let run = boot(
        "cd-grub.serial",
        4_000_000_000,
        &["--boot", "d", "--cdrom", iso.to_str().unwrap()],
    );
    run.expect(&[
        "Booting `ironbox default guest'",
        "ironbox: GRUB loading Linux",
        "ironbox: GRUB loading the initramfs",
        "Kernel command line: BOOT_IMAGE=/boot/vmlinuz console=ttyS0",
    ]);
}

/// (f) Debian 12's i386 netboot installer (`debian-installer-12-netboot-i386`, text frontend)
/// on a SYSLINUX hard disk, booted by SeaBIOS: SYSLINUX loads the kernel and the 30 MB initrd
/// through INT 13h, the kernel (`vga=normal nomodeset quiet`: vgacon, no bochs-drm) unpacks
/// the initrd, and d-i's newt UI draws its first question, "Select a language", on the VGA
/// text console, where the test reads it between 100 M-instruction slices. 512 MiB: with less
/// than 273 MB the installer stops first at "Insufficient memory".
/// The question is on the screen at 12.7 G instructions: 5.5 min with the 2-core machine
/// shared (~4.5 min idle). The longest of these tests.
#[test]
fn debian_installer_asks_for_a_language() {
    need_seabios();
    let img = images("netboot-hd").remove(0);
    let hda = scratch_copy(&img, "netboot-hd.img");
    let mut pc = board(512, &[hda.as_path()], None);
    let shown = run_until_screen(&mut pc, "netboot", 20_000_000_000, |text| {
        text.contains("Choose the language to be used for the installation process")
            && text.contains("English")
    });
    for want in ["[!!] Select a language", "Language:", "<Go Back>"] {
        assert!(
            shown.contains(want),
            "missing {want:?} on the installer's screen:\n{shown}"
        );
    }
    assert!(
        !shown.contains("Insufficient memory"),
        "the installer found too little memory:\n{shown}"
    );
}
