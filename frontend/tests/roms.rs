//! Differential tests: each NASM test ROM in `roms/` is assembled, run under
//! `qemu-system-i386 -cpu pentium2` and under `ironbox run`, and the two debug-console dumps
//! (and exit statuses) must match. `seglimit` is compared with a hand-written expected dump
//! instead, because QEMU TCG does not check segment limits on memory accesses.
//!
//! Needs `nasm` and `qemu-system-i386` (Debian packages `nasm` and `qemu-system-x86`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Far more than any ROM needs; stops a runaway guest under ironbox.
const MAX_INSTRUCTIONS: &str = "20000000";

fn roms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../roms")
}

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("roms");
    std::fs::create_dir_all(&d).expect("create target tmpdir");
    d
}

fn require(tool: &str, package: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "`{tool}` not found: install the Debian package `{package}` (apt-get install {package})"
    );
}

/// Assemble `roms/NAME.asm` into the target directory.
fn assemble(name: &str) -> PathBuf {
    let bin = out_dir().join(format!("{name}.bin"));
    nasm(&roms_dir().join(format!("{name}.asm")), &bin, &[]);
    bin
}

/// Assemble `src` into `bin` (`roms/` on the include path, then `args`).
fn nasm(src: &Path, bin: &Path, args: &[&str]) {
    require("nasm", "nasm");
    let out = Command::new("nasm")
        .args(["-f", "bin", "-w-number-overflow", "-I"])
        .arg(format!("{}/", roms_dir().display()))
        .args(args)
        .arg("-o")
        .arg(bin)
        .arg(src)
        .output()
        .expect("run nasm");
    assert!(
        out.status.success(),
        "nasm {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a command with a timeout (killing it if it hangs); its exit code.
fn run_with_timeout(mut cmd: Command, what: &str) -> Option<i32> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code();
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {TIMEOUT:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn qemu(rom: &Path, name: &str) -> (String, Option<i32>) {
    require("qemu-system-i386", "qemu-system-x86");
    let out = out_dir().join(format!("{name}.qemu.txt"));
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new("qemu-system-i386");
    cmd.args([
        "-cpu",
        "pentium2",
        "-display",
        "none",
        "-nodefaults",
        "-m",
        "32",
        "-no-reboot",
    ])
    .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
    .arg("-bios")
    .arg(rom)
    .arg("-debugcon")
    .arg(format!("file:{}", out.display()));
    let code = run_with_timeout(cmd, "qemu-system-i386");
    (std::fs::read_to_string(&out).unwrap_or_default(), code)
}

fn ironbox(rom: &Path, name: &str) -> (String, Option<i32>) {
    let out = out_dir().join(format!("{name}.ironbox.txt"));
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ironbox"));
    cmd.arg("run")
        .arg("--bios")
        .arg(rom)
        .arg("--debugcon")
        .arg(format!("file:{}", out.display()))
        .args(["--debug-exit", "--max-instructions", MAX_INSTRUCTIONS]);
    let code = run_with_timeout(cmd, "ironbox");
    (std::fs::read_to_string(&out).unwrap_or_default(), code)
}

/// A line diff of expected vs actual (common prefix/suffix trimmed), for the failure message.
fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut s = format!("@@ line {} @@\n", pre + 1);
    for l in &a[pre.saturating_sub(2)..pre] {
        s += &format!("  {l}\n");
    }
    for l in &a[pre..a.len() - suf] {
        s += &format!("- {l}\n");
    }
    for l in &b[pre..b.len() - suf] {
        s += &format!("+ {l}\n");
    }
    s
}

fn check(
    name: &str,
    want: &str,
    want_code: Option<i32>,
    got: &str,
    got_code: Option<i32>,
    oracle: &str,
) {
    if want != got || want_code != got_code {
        panic!(
            "ROM {name}: ironbox differs from {oracle} (- {oracle}, + ironbox; exit {want_code:?} vs {got_code:?}):\n{}",
            diff(want, got)
        );
    }
}

/// Differential test of one ROM against QEMU.
fn differential(name: &str) {
    let rom = assemble(name);
    let (want, want_code) = qemu(&rom, name);
    assert!(
        want.ends_with("end\n"),
        "ROM {name} did not finish under QEMU (exit {want_code:?}):\n{want}"
    );
    let (got, got_code) = ironbox(&rom, name);
    check(name, &want, want_code, &got, got_code, "qemu");
}

#[test]
fn rom_except() {
    differential("except");
}

#[test]
fn rom_pmode() {
    differential("pmode");
}

#[test]
fn rom_paging() {
    differential("paging");
}

/// Not differential: QEMU TCG skips segment limit/type checks on memory accesses.
#[test]
fn rom_seglimit() {
    let rom = assemble("seglimit");
    let want = std::fs::read_to_string(roms_dir().join("seglimit.expected"))
        .expect("roms/seglimit.expected");
    let (got, got_code) = ironbox(&rom, "seglimit");
    check(
        "seglimit",
        &want,
        Some(1),
        &got,
        got_code,
        "seglimit.expected",
    );
}

#[test]
fn rom_intops() {
    differential("intops");
}

#[test]
fn rom_x87() {
    differential("x87");
}

#[test]
fn rom_mmx() {
    differential("mmx");
}

#[test]
fn rom_v86() {
    differential("v86");
}

#[test]
fn rom_tasks() {
    differential("tasks");
}

/// One ROM run with `engine` (translating every block at its first execution), in
/// deterministic mode: the debug-console dump, exit code, retired count and the JIT summary.
fn ironbox_engine(rom: &Path, name: &str, engine: &str) -> (String, Option<i32>, String, String) {
    let out = out_dir().join(format!("{name}.{engine}.txt"));
    let _ = std::fs::remove_file(&out);
    let res = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .env("IRONBOX_JIT_THRESHOLD", "1")
        .arg("run")
        .arg("--bios")
        .arg(rom)
        .arg("--debugcon")
        .arg(format!("file:{}", out.display()))
        .args([
            "--debug-exit",
            "--deterministic",
            "--stats",
            "--display",
            "none",
        ])
        .args(["--max-instructions", MAX_INSTRUCTIONS, "--engine", engine])
        .output()
        .expect("run ironbox");
    let err = String::from_utf8_lossy(&res.stderr).to_string();
    assert!(
        !err.contains("lockstep:"),
        "ROM {name} under {engine}:\n{err}"
    );
    let count = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("ironbox: ")?
                .split(" instructions in")
                .next()
                .filter(|_| l.contains(" instructions in"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let jit = err
        .lines()
        .find(|l| l.contains("jit:"))
        .unwrap_or("")
        .to_string();
    (
        std::fs::read_to_string(&out).unwrap_or_default(),
        res.status.code(),
        count,
        jit,
    )
}

/// Every ROM under the JIT and under lockstep (each translated run re-executed by the
/// interpreter and compared), translating every block at once: the same output, exit status
/// and retired instruction count as the interpreter.
#[test]
fn roms_agree_under_every_engine() {
    for name in [
        "except", "pmode", "seglimit", "paging", "tasks", "v86", "intops", "x87", "mmx",
    ] {
        let rom = assemble(name);
        let (want, want_code, want_n, _) = ironbox_engine(&rom, name, "interp");
        assert!(
            want.ends_with("end\n"),
            "ROM {name} did not finish:\n{want}"
        );
        for engine in ["jit", "lockstep"] {
            let (got, code, n, jit) = ironbox_engine(&rom, name, engine);
            check(name, &want, want_code, &got, code, "the interpreter");
            assert_eq!(n, want_n, "ROM {name} under {engine}: retired count");
            assert!(
                jit.contains("regions") && !jit.contains(" 0 regions"),
                "ROM {name} under {engine}: nothing was translated ({jit})"
            );
        }
    }
}

/// The x87 benchmark's workload (`benches/workloads/x87.inc`: its loops are runs of x87
/// register instructions, which translated code does inline as one piece) under lockstep for
/// its first `MAX_INSTRUCTIONS` instructions: no divergence, and the same retired count and
/// output as the interpreter.
#[test]
fn x87_benchmark_workload_agrees_under_lockstep() {
    let wl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/workloads");
    let rom = out_dir().join("x87bench.bin");
    let inc = format!("-I{}/", wl.display());
    nasm(
        &wl.join("rom.asm"),
        &rom,
        &[&inc, "-DWORKLOAD=\"x87.inc\"", "-DROUNDS=1"],
    );
    let (want, want_code, want_n, _) = ironbox_engine(&rom, "x87bench", "interp");
    assert!(!want_n.is_empty(), "the interpreter ran the workload");
    let (got, code, n, jit) = ironbox_engine(&rom, "x87bench", "lockstep");
    assert_eq!(n, want_n, "x87 benchmark under lockstep: retired count");
    assert_eq!(
        (got, code),
        (want, want_code),
        "x87 benchmark under lockstep: output"
    );
    assert!(
        jit.contains("regions") && !jit.contains(" 0 regions"),
        "x87 benchmark under lockstep: nothing was translated ({jit})"
    );
}
