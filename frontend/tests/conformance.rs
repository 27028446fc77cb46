//! `ironbox conformance singlestep` end to end: a sample of every SingleStepTests file of each
//! suite (data in `../shared/conformance/`, beside the repository) under the interpreter, the
//! 80286 sample under the JIT in lockstep with the interpreter, and corrupt input.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Required pass rate (percent) of the `--limit 25` sample of each suite: the 99.5%
/// (full suites at this writing: 8086 100%, 80286 99.84%).
const MIN_PASS_RATE_8086: f64 = 99.5;
const MIN_PASS_RATE_80286: f64 = 99.5;

/// `../shared/conformance` beside the repository (`$IRONBOX_CONFORMANCE_DIR` overrides it). A git
/// worktree sits deeper than the main checkout, so further ancestors are tried too.
fn shared() -> PathBuf {
    if let Some(dir) = std::env::var_os("IRONBOX_CONFORMANCE_DIR") {
        return PathBuf::from(dir);
    }
    let beside = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance"
    ));
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(2)
        .map(|a| a.join("shared/conformance"))
        .find(|d| d.join("8086").is_dir());
    let Some(dir) = found else {
        panic!(
            "conformance data not found at {} (nor further up): the SingleStepTests suites must sit \
             beside the repository (../shared/conformance/8086 and ../shared/conformance/80286-real-mode; \
             CI always has them), or set IRONBOX_CONFORMANCE_DIR",
            beside.display()
        )
    };
    dir
}

fn ironbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(args)
        .output()
        .expect("run ironbox")
}

/// The `N passed, M failed[, K skipped]` line, which must be the last line of stdout.
fn summary(out: &Output) -> (usize, usize, usize) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let nums: Vec<usize> = last
        .split(", ")
        .filter_map(|p| p.split(' ').next()?.parse().ok())
        .collect();
    let words: Vec<&str> = last
        .split(", ")
        .filter_map(|p| p.split(' ').nth(1))
        .collect();
    assert!(
        (words == ["passed", "failed"] || words == ["passed", "failed", "skipped"])
            && nums.len() == words.len(),
        "no summary line at the end of stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (nums[0], nums[1], nums.get(2).copied().unwrap_or(0))
}

/// `ironbox conformance singlestep --engine ENGINE --limit N PATH`.
fn singlestep(engine: &str, limit: usize, path: &Path) -> Output {
    let limit = limit.to_string();
    let path = path.to_str().unwrap();
    ironbox(&[
        "conformance",
        "singlestep",
        "--engine",
        engine,
        "--limit",
        &limit,
        path,
    ])
}

/// The first `limit` tests of every file of `suite` under `engine`: they run, pass at
/// `min_rate` or better, and the exit status says whether any failed. Returns the output and
/// (passed, failed).
fn sample_suite(
    suite: &str,
    engine: &str,
    limit: usize,
    min_rate: f64,
    min_files: usize,
) -> (Output, usize, usize) {
    let out = singlestep(engine, limit, &shared().join(suite));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "crashed: {:?}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (passed, failed, skipped) = summary(&out);
    // Every file contributes up to `limit` tests.
    assert!(
        passed + failed + skipped >= min_files * limit - 8 * limit,
        "too few tests ran:\n{stdout}"
    );
    let rate = passed as f64 * 100.0 / (passed + failed).max(1) as f64;
    assert!(
        rate >= min_rate,
        "{suite} ({engine}): pass rate {rate:.2}% is below {min_rate}% ({passed} passed, {failed} failed)\n{stdout}"
    );
    assert_eq!(
        out.status.success(),
        failed == 0,
        "exit status must be 0 exactly when nothing failed"
    );
    (out, passed, failed)
}

#[test]
fn sample_8086() {
    sample_suite("8086", "interp", 25, MIN_PASS_RATE_8086, 322);
}

#[test]
fn sample_80286_real_mode() {
    sample_suite("80286-real-mode", "interp", 25, MIN_PASS_RATE_80286, 325);
}

/// `engine NAME: T of N tests ran their instruction as translated code (…)` → (T, N).
fn engine_line(out: &Output, name: &str) -> (usize, usize) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("engine {name}: ");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{prefix}…` line:\n{stdout}"));
    let nums: Vec<usize> = line
        .split(' ')
        .take(3)
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    (nums[0], nums[1])
}

/// The first 50 tests of every 80286 file under `--engine lockstep`: each instruction is
/// compiled into its own region, run as native code, re-run by the interpreter and compared
/// (a divergence fails the test), then compared with the hardware capture. The engine line
/// must show that nearly every test ran translated code — the ones that do not are encodings
/// that do not decode (`(bad)`: LES/LDS/LEA/BOUND with a register operand, MOV to/from
/// segment register 4) and instructions that wrap past offset FFFF, which the JIT leaves to
/// the interpreter.
#[test]
fn sample_80286_lockstep() {
    let (out, passed, failed) =
        sample_suite("80286-real-mode", "lockstep", 50, MIN_PASS_RATE_80286, 325);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let diverged: Vec<&str> = stdout.lines().filter(|l| l.contains("diverged")).collect();
    assert!(
        diverged.is_empty(),
        "translated code and the interpreter disagree:\n{}",
        diverged.join("\n")
    );
    let (translated, ran) = engine_line(&out, "lockstep");
    assert_eq!(ran, passed + failed, "{stdout}");
    assert!(
        translated * 100 >= ran * 98,
        "only {translated} of {ran} tests ran translated code:\n{stdout}"
    );
}

/// The 8086 model always single-steps through the interpreter: `--engine jit` runs, and says
/// that none of its tests ran translated code.
#[test]
fn engine_jit_on_the_8086_interprets() {
    let file = shared().join("8086/90.MOO.gz");
    let out = singlestep("jit", 5, &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(summary(&out), (5, 0, 0), "{stdout}");
    assert_eq!(engine_line(&out, "jit"), (0, 5), "{stdout}");
    assert!(
        stdout.contains("8086 model always single-steps"),
        "{stdout}"
    );
    let bad = singlestep("tcg", 5, &file);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--engine"));
}

#[test]
fn min_pass_rate_sets_the_exit_status() {
    let file = shared().join("80286-real-mode/90.MOO.gz");
    let file = file.to_str().unwrap();
    let all = ironbox(&[
        "conformance",
        "singlestep",
        "--limit",
        "5",
        "--min-pass-rate",
        "0",
        file,
    ]);
    assert!(all.status.success());
    let out = String::from_utf8_lossy(&all.stdout);
    assert!(out.lines().any(|l| l.starts_with("pass rate ")), "{out}");
    assert_eq!(summary(&all), (5, 0, 0), "{out}");
}

#[test]
fn corrupt_and_truncated_files_are_reported_not_fatal() {
    let src = shared().join("8086/90.MOO.gz");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-corrupt");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let gz = std::fs::read(&src).expect("read 90.MOO.gz");
    // A gzip stream cut in half, a file that is not gzip at all, and a good file after them.
    std::fs::write(tmp.join("90.MOO.gz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::write(tmp.join("91.MOO.gz"), b"this is not gzip").unwrap();
    // A plain .MOO whose second TEST chunk claims more bytes than remain.
    let mut moo = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut moo)
        .expect("decompress");
    let second = find(&moo, b"TEST", find(&moo, b"TEST", 0).unwrap() + 4).unwrap();
    moo[second + 4..second + 8].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    std::fs::write(tmp.join("92.MOO"), &moo).unwrap();
    std::fs::copy(&src, tmp.join("93.MOO.gz")).unwrap();

    let out = ironbox(&[
        "conformance",
        "singlestep",
        "--limit",
        "50",
        tmp.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("conformance-corrupt/{name}:")))
            .map(str::to_string)
    };
    let l90 =
        line("90.MOO.gz").unwrap_or_else(|| panic!("no line for the truncated file:\n{stdout}"));
    assert!(l90.contains("test #") && l90.contains("gzip"), "{l90}");
    let l91 =
        line("91.MOO.gz").unwrap_or_else(|| panic!("no line for the non-gzip file:\n{stdout}"));
    assert!(l91.contains("corrupt"), "{l91}");
    let l92 =
        line("92.MOO").unwrap_or_else(|| panic!("no line for the bad chunk length:\n{stdout}"));
    assert!(l92.contains("test #1") && l92.contains("overruns"), "{l92}");
    assert!(
        line("93.MOO.gz").is_none(),
        "the good file after the bad ones must run and pass:\n{stdout}"
    );
    let (passed, failed, _) = summary(&out);
    // 93 passes 50; 92 passes its first test; the truncated 90 passes the tests before the cut.
    assert!(passed >= 51 && failed >= 3, "{stdout}");
}

#[test]
fn missing_path_is_a_clear_error() {
    let out = ironbox(&["conformance", "singlestep", "/nonexistent/conformance"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/conformance"), "{stderr}");
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}
