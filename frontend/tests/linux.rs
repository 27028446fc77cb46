//! Issue 3 (a): Debian's i386 kernel with a busybox initramfs, booted directly (`--kernel`),
//! runs commands and prints their output on the serial console; the userland output must be
//! exactly what the same kernel and initramfs print under `qemu-system-i386`.
//!
//! The images are assembled from Debian's packages by `scripts/build-guest.sh` (cached under
//! `target/guest/`). A boot is ~6.5 G instructions (2.4 G of them decompressing the XZ
//! kernel), about two minutes on the interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build the kernel and the smoke-test initramfs; returns (kernel, initrd).
fn images() -> (PathBuf, PathBuf) {
    let out = Command::new(root().join("scripts/build-guest.sh"))
        .env("GUEST_INIT", "script:tests/guest/linux-smoke.sh")
        .current_dir(root())
        .output()
        .expect("run scripts/build-guest.sh");
    assert!(
        out.status.success(),
        "scripts/build-guest.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = root().join("target/guest");
    (g.join("vmlinuz"), g.join("initrd-linux-smoke.img"))
}

/// The lines between the markers the guest prints.
fn userland(serial: &str) -> Vec<String> {
    let mut on = false;
    let mut lines = Vec::new();
    for l in serial.lines() {
        let l = l.trim_end_matches('\r');
        if l == "IRONBOX-BEGIN" {
            on = true;
        } else if l == "IRONBOX-END" {
            return lines;
        } else if on && !l.starts_with('[') {
            lines.push(l.to_string());
        }
    }
    panic!("the guest's output ended before IRONBOX-END:\n{serial}");
}

#[test]
fn debian_kernel_runs_busybox_commands_like_qemu() {
    let (kernel, initrd) = images();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let ours = tmp.join("linux-ironbox.txt");
    let append = "console=ttyS0 quiet";
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args([
            "run",
            "--deterministic",
            "--no-reboot",
            "--stats",
            "--max-instructions",
            "20000000000",
        ])
        .arg("--kernel")
        .arg(&kernel)
        .arg("--initrd")
        .arg(&initrd)
        .args(["--append", append])
        .arg("--serial")
        .arg(format!("file:{}", ours.display()))
        .output()
        .unwrap();
    let serial = std::fs::read_to_string(&ours).unwrap_or_default();
    assert!(
        out.status.success(),
        "ironbox: {:?}\n{}\nserial:\n{serial}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let got = userland(&serial);
    for want in [
        "sum: 500500",
        "arith: 42 1048576 39",
        "tmpfile: data",
        "fs: proc ok sys ok",
    ] {
        assert!(
            got.iter().any(|l| l == want),
            "missing {want:?} in {got:#?}"
        );
    }

    // The same images under QEMU (TCG).
    let qemu = which("qemu-system-i386")
        .expect("qemu-system-i386 missing: install Debian's `qemu-system-x86`");
    let theirs = tmp.join("linux-qemu.txt");
    let status = Command::new("timeout")
        .arg("300")
        .arg(qemu)
        .args([
            "-cpu",
            "pentium2",
            "-m",
            "128",
            "-display",
            "none",
            "-nodefaults",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", append])
        .arg("-serial")
        .arg(format!("file:{}", theirs.display()))
        .status()
        .unwrap();
    assert!(status.success(), "qemu-system-i386 failed: {status:?}");
    let expected = userland(&std::fs::read_to_string(&theirs).unwrap());
    assert_eq!(
        got, expected,
        "userland output differs from qemu-system-i386's"
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}
