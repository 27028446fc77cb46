//! The PC board end to end with real firmware: Debian's SeaBIOS and SeaVGABIOS POST on it,
//! find the devices, and with nothing bootable print SeaBIOS's own "No bootable device" and
//! reboot (which `--no-reboot` turns into the end of the run).

use std::process::Command;

fn need_seabios() {
    assert!(
        std::path::Path::new("/usr/share/seabios/bios.bin").exists(),
        "Debian's `seabios` package is not installed (scripts/setup-deps.sh installs it)"
    );
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// `ironbox run --deterministic --no-reboot --serial none ARGS` with SeaBIOS's debug console
/// in `NAME.log` and the VGA text screen in `NAME.screen`, up to SeaBIOS's reboot after
/// "No bootable device" (which ends the run, status 0). Returns the log and the screen.
fn post_until_reboot(name: &str, args: &[&str]) -> (String, String) {
    let log = tmp(&format!("{name}.log"));
    let screen = tmp(&format!("{name}.screen"));
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(["run", "--deterministic", "--no-reboot", "--serial", "none"])
        .args(["--max-instructions", "400000000"])
        .arg("--debugcon")
        .arg(format!("file:{}", log.display()))
        .arg("--dump-screen-text")
        .arg(&screen)
        .args(args)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}\nlog:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (text, std::fs::read_to_string(&screen).unwrap_or_default())
}

fn expect_in_log(text: &str, want: &str) {
    assert!(
        text.contains(want),
        "missing {want:?} in the POST log:\n{text}"
    );
}

#[test]
fn seabios_posts_and_reports_no_bootable_device() {
    need_seabios();
    let (text, _) = post_until_reboot("seabios-nodisk", &[]);
    for want in [
        "SeaBIOS (version 1.16",
        "Found QEMU fw_cfg",
        "PCI: init bdf=00:00.0 id=8086:1237",
        "PCI: init bdf=00:01.1 id=8086:7010",
        // PIRQA-D routed to IRQ 10, 10, 11, 11, both level-triggered (see pirq_routing_...).
        "PIIX3/PIIX4 init: elcr=00 0c",
        "PCI: Using 00:02.0 for primary VGA",
        "Start SeaVGABIOS",
        "VBE DISPI: lfb_addr=fd000000, size 16 MB",
        "PS2 keyboard initialized",
        "DVD/CD [ata1-0",
        "No bootable device.",
        "Rebooting.",
    ] {
        expect_in_log(&text, want);
    }
}

/// PCI interrupts after SeaBIOS's POST: SeaBIOS routes PIRQA-D (PIIX3 0x60-0x63) to IRQ 10,
/// 10, 11, 11 and makes those level-triggered in the ELCR; a PCI function's INTx then reaches
/// the PIC's request register on the IRQ its slot's PIRQ line is routed to (QEMU's i440FX
/// swizzle), and leaves it when deasserted.
#[test]
fn pirq_routing_after_seabios_post_reaches_the_pic() {
    use ironbox_machine::pc::{Pc, PcConfig, PcOutcome};
    need_seabios();
    let read = |p: &str| std::fs::read(p).unwrap();
    let mut cfg = PcConfig::with_bios(
        ironbox_cpu::CpuModel::Pentium2,
        32,
        read("/usr/share/seabios/bios.bin"),
    );
    cfg.vga_bios = Some(read("/usr/share/seabios/vgabios-stdvga.bin"));
    let mut pc = Pc::new(cfg).unwrap();
    // Nothing to boot: SeaBIOS asks for a reset after "No bootable device", which ends the
    // run (`no_reboot`) with the board as POST left it.
    let outcome = pc.run(Some(400_000_000)).unwrap();
    assert_eq!(outcome, PcOutcome::Reset);
    let chip = &mut pc.bus.chip;
    let routes: Vec<Option<u8>> = (0..4).map(|n| chip.pci.isa.pirq_route(n)).collect();
    assert_eq!(routes, [Some(10), Some(10), Some(11), Some(11)]);
    assert!(chip.pic.is_level_triggered(10) && chip.pic.is_level_triggered(11));
    let irr = |chip: &ironbox_machine::pc::chipset::Chipset| chip.pic.requests();
    let before = irr(chip);
    assert_eq!(before & 0x0C00, 0, "IRQ 10/11 requested before any INTx");
    // (slot, pin) -> ISA IRQ: slot 3 INTA -> PIRQC -> 11, slot 5 INTB -> PIRQB -> 10,
    // slot 2 INTD -> PIRQA -> 10, slot 4 INTA -> PIRQD -> 11.
    for (slot, pin, irq) in [(3, 1, 11), (5, 2, 10), (2, 4, 10), (4, 1, 11)] {
        chip.set_pci_intx(slot, pin, true);
        assert_eq!(
            irr(chip) & 0x0C00,
            1 << irq,
            "slot {slot} INT{} should request IRQ {irq}",
            (b'A' + pin - 1) as char
        );
        chip.set_pci_intx(slot, pin, false);
        assert_eq!(
            irr(chip) & 0x0C00,
            0,
            "level-triggered: the request follows the line"
        );
    }
}

#[test]
fn deterministic_post_log_is_identical_twice() {
    need_seabios();
    let run = |name: &str| {
        let log = tmp(name);
        let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
            .args([
                "run",
                "--deterministic",
                "--serial",
                "none",
                "--max-instructions",
                "30000000",
                "--stats",
            ])
            .arg("--debugcon")
            .arg(format!("file:{}", log.display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let state = stderr
            .lines()
            .find(|l| l.contains("cs:eip="))
            .unwrap_or("")
            .to_string();
        (std::fs::read(&log).unwrap(), state)
    };
    let (a, sa) = run("det-a.log");
    let (b, sb) = run("det-b.log");
    assert!(!a.is_empty());
    assert_eq!(
        a, b,
        "the debug console output differs between two deterministic runs"
    );
    assert_eq!(
        sa, sb,
        "the final CPU state differs between two deterministic runs"
    );
}

/// Issue 3, "bad input": a path that does not exist, a zero-byte or truncated image, an ISO
/// that is not one, an unknown flag: one clear line saying what and where, exit status 2,
/// before the guest starts (nothing reaches the serial port).
#[test]
fn bad_input_gives_one_clear_line() {
    let bin = env!("CARGO_BIN_EXE_ironbox");
    let empty = tmp("empty.img");
    std::fs::write(&empty, b"").unwrap();
    let odd = tmp("odd.img");
    std::fs::write(&odd, vec![0u8; 1000]).unwrap();
    let notiso = tmp("notiso.iso");
    std::fs::write(&notiso, vec![0u8; 64 * 1024]).unwrap();
    // An ISO cut short: its primary volume descriptor says 100 blocks of 2 KiB, the file
    // holds 20.
    let short_iso = tmp("short.iso");
    let mut iso = vec![0u8; 20 * 2048];
    iso[0x8000..0x8006].copy_from_slice(b"\x01CD001");
    iso[0x8050..0x8054].copy_from_slice(&100u32.to_le_bytes());
    iso[0x8080..0x8082].copy_from_slice(&2048u16.to_le_bytes());
    std::fs::write(&short_iso, iso).unwrap();
    let (empty, odd, notiso, short_iso) = (
        empty.display().to_string(),
        odd.display().to_string(),
        notiso.display().to_string(),
        short_iso.display().to_string(),
    );
    // (arguments, what the first line of stderr says)
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--hda", "/nonexistent/disk.img"], "hda image /nonexistent/disk.img: No such file".into()),
        (vec!["--cdrom", "/nonexistent/cd.iso"], "cdrom image /nonexistent/cd.iso: No such file".into()),
        (vec!["--kernel", "/nonexistent/vmlinuz"], "kernel /nonexistent/vmlinuz: No such file".into()),
        (vec!["--hda", &empty], format!("hda image {empty} is empty")),
        (vec!["--fda", &empty], format!("fda image {empty} is empty")),
        (vec!["--cdrom", &empty], format!("cdrom image {empty} is empty")),
        (vec!["--hda", &odd], format!("hda image {odd} is 1000 bytes, not a whole number of 512-byte sectors")),
        (vec!["--cdrom", &notiso], format!("cdrom image {notiso} is not an ISO 9660 image")),
        (vec!["--cdrom", &short_iso], format!("cdrom image {short_iso} is truncated: 40960 bytes, its volume descriptor says 204800")),
        (vec!["--kernel", &odd], format!("{odd}: truncated")),
        (vec!["--bios", &odd], "BIOS image is 1000 bytes; it must be a multiple of 64 KiB".into()),
        (vec!["--cpu", "z80"], "unknown CPU model".into()),
        (vec!["--memory", "1"], "out of range".into()),
        (vec!["--frobnicate"], "unexpected argument '--frobnicate'".into()),
        (vec!["--hda"], "a value is required for '--hda <IMAGE>'".into()),
    ];
    let serial = tmp("bad-input.serial");
    for (args, want) in cases {
        let _ = std::fs::remove_file(&serial);
        let out = Command::new(bin)
            .arg("run")
            .args(["--serial", &format!("file:{}", serial.display())])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        // The first line says it all (clap adds a usage hint below its line).
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.contains(&want),
            "{args:?}: expected {want:?} in the first line of {err:?}"
        );
        if !want.contains('\'') {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        }
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // The guest never ran: no serial output.
        let guest = std::fs::read(&serial).unwrap_or_default();
        assert!(guest.is_empty(), "{args:?}: the guest ran");
    }
}

/// Issue 3, "bad input": a disk that is not bootable (no 0x55AA boot signature) gets
/// SeaBIOS's own answer on the screen and console, not a crash: it says the disk is not
/// bootable, finds nothing else, prints "No bootable device." and reboots (the end of the run
/// with `--no-reboot`, status 0).
#[test]
fn non_bootable_disk_gets_seabios_no_bootable_device() {
    need_seabios();
    let disk = tmp("blank.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    let (text, shown) = post_until_reboot(
        "seabios-blank",
        &["--boot", "c", "--hda", disk.to_str().unwrap()],
    );
    for want in [
        "ata0-0: IRONBOX HARDDISK ATA-7 Hard-Disk (1 MiBytes)",
        "Booting from Hard Disk...",
        "Boot failed: not a bootable disk",
        "No bootable device.",
    ] {
        expect_in_log(&text, want);
    }
    assert!(
        shown.contains("Boot failed: not a bootable disk") && shown.contains("No bootable device."),
        "SeaBIOS's message is not on the screen:\n{shown}"
    );
}

/// Issue 3's "must show": SeaBIOS boots a disk image from IDE into 32-bit code that computes
/// the same checksum as the same code run natively (benches/workloads/intmix.inc).
#[test]
fn seabios_boots_ide_disk_into_32bit_code_with_native_checksum() {
    need_seabios();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wl = root.join("benches/workloads/");
    let nasm = |args: &[&str]| {
        let st = Command::new("nasm")
            .args(args)
            .status()
            .expect("nasm missing: install Debian's `nasm`");
        assert!(st.success(), "nasm {args:?} failed");
    };
    let disk = tmp("bootdisk.img");
    nasm(&[
        "-f",
        "bin",
        "-I",
        wl.to_str().unwrap(),
        "-o",
        disk.to_str().unwrap(),
        root.join("tests/guest/bootdisk.asm").to_str().unwrap(),
    ]);
    // Native: the same workload as a static 32-bit Linux program.
    let obj = tmp("intmix.o");
    let exe = tmp("intmix");
    nasm(&[
        "-f",
        "elf32",
        "-I",
        wl.to_str().unwrap(),
        "-o",
        obj.to_str().unwrap(),
        wl.join("intmix_native.asm").to_str().unwrap(),
    ]);
    let st = Command::new("ld")
        .args(["-m", "elf_i386", "-o"])
        .arg(&exe)
        .arg(&obj)
        .status()
        .expect("ld (binutils) missing");
    assert!(st.success());
    let native = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let native = native.trim();
    assert_eq!(native.len(), 8, "native output {native:?}");

    let log = tmp("bootdisk.log");
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args([
            "run",
            "--deterministic",
            "--debug-exit",
            "--serial",
            "none",
            "--max-instructions",
            "2000000000",
        ])
        .arg("--hda")
        .arg(&disk)
        .arg("--debugcon")
        .arg(format!("file:{}", log.display()))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("Booting from Hard Disk..."), "{text}");
    assert!(
        text.contains(&format!("intmix sum={native}")),
        "expected the native checksum {native}:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the guest exits through isa-debug-exit with 0 -> status 1"
    );
}

/// Multiboot (v1) kernels boot directly, ELF and a.out kludge alike, with modules and a
/// command line, and see the same Multiboot information as under qemu-system-i386.
#[test]
fn multiboot_kernels_see_what_qemu_gives_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = root.join("tests/guest/multiboot.asm");
    let aout = tmp("mb-aout.bin");
    let obj = tmp("mb.o");
    let elf = tmp("mb.elf");
    let run = |cmd: &mut Command| {
        assert!(cmd
            .status()
            .expect("nasm/ld missing (Debian `nasm`, `binutils`)")
            .success())
    };
    run(Command::new("nasm")
        .args(["-f", "bin", "-DAOUT", "-o"])
        .arg(&aout)
        .arg(&src));
    run(Command::new("nasm")
        .args(["-f", "elf32", "-o"])
        .arg(&obj)
        .arg(&src));
    run(Command::new("ld")
        .args(["-m", "elf_i386", "-Ttext", "0x100000", "-o"])
        .arg(&elf)
        .arg(&obj));
    let m1 = tmp("mod1.bin");
    let m2 = tmp("mod2.bin");
    std::fs::write(&m1, b"ABCDmodule-one-data").unwrap();
    std::fs::write(&m2, b"WXYZ2").unwrap();
    let modules = format!("{} first arg,{}", m1.display(), m2.display());
    for kernel in [&aout, &elf] {
        let ours = Command::new(env!("CARGO_BIN_EXE_ironbox"))
            .args([
                "run",
                "--debugcon",
                "stdio",
                "--debug-exit",
                "--serial",
                "none",
                "--append",
                "hello multiboot",
            ])
            .arg("--kernel")
            .arg(kernel)
            .arg("--initrd")
            .arg(&modules)
            .output()
            .unwrap();
        let theirs = Command::new("timeout")
            .args([
                "60",
                "qemu-system-i386",
                "-cpu",
                "pentium2",
                "-display",
                "none",
                "-nodefaults",
                "-debugcon",
                "stdio",
            ])
            .args([
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=4",
                "-append",
                "hello multiboot",
                "-kernel",
            ])
            .arg(kernel)
            .arg("-initrd")
            .arg(&modules)
            .output()
            .expect("qemu-system-i386 missing: install Debian's `qemu-system-x86`");
        let ours_text = String::from_utf8_lossy(&ours.stdout);
        assert!(
            ours_text.contains("magic=2BADB002"),
            "{ours_text}\n{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        assert!(
            ours_text.contains("module: ") && ours_text.contains("first=44434241 len=00000013"),
            "{ours_text}"
        );
        assert_eq!(
            ours_text,
            String::from_utf8_lossy(&theirs.stdout),
            "{} differs from qemu",
            kernel.display()
        );
        assert_eq!(ours.status.code(), Some(1));
    }
}
