//! `ironbox conformance`: CPU conformance test vectors.
//!
//! `singlestep PATH...` runs SingleStepTests MOO files (see `moo.rs` for the format and
//! `runner.rs` for how a test is run and compared) under the interpreter, the JIT or both in
//! lockstep (`--engine`) and prints one line per failing opcode file, under `jit`/`lockstep` a
//! line saying how many tests ran translated code, then `N passed, M failed, K skipped`.

mod moo;
mod runner;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use ironbox_jit::EngineKind;

use ironbox_cpu::CpuModel;
use runner::{FileReport, RunOpts, Suite, Worker};

#[derive(clap::Subcommand)]
pub enum ConformanceCmd {
    /// Run SingleStepTests MOO files (`XX.MOO.gz`, `XX.R.MOO.gz`, `.MOO`) or folders of them.
    Singlestep(SinglestepArgs),
}

#[derive(clap::Args)]
pub struct SinglestepArgs {
    /// Files, or folders searched recursively for `*.MOO.gz` / `*.MOO`.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Run only the first N tests of each file.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only files whose name starts with HEX (e.g. `F6`, `F6.7`, `0FA2`); repeatable.
    #[arg(long, value_name = "HEX")]
    filter: Vec<String>,
    /// Print an expected-vs-got diff for the first failing test of each file.
    #[arg(long, short)]
    verbose: bool,
    /// Exit 0 when at least PCT percent of the run tests pass (default: all must pass).
    #[arg(long, value_name = "PCT")]
    min_pass_rate: Option<f64>,
    /// Worker threads.
    #[arg(long, value_name = "N", default_value_t = 2)]
    jobs: usize,
    /// Execution engine: `interp` (the reference interpreter), `jit` (every instruction
    /// translated with Cranelift into a one-instruction region and run as native code) or
    /// `lockstep` (the JIT, each region re-run by the interpreter and compared; a divergence
    /// fails the test). The 8086 model always runs in the interpreter.
    #[arg(long, value_name = "ENGINE", default_value = "interp")]
    engine: String,
}

pub fn main(c: ConformanceCmd) -> anyhow::Result<ExitCode> {
    match c {
        ConformanceCmd::Singlestep(a) => singlestep(a),
    }
}

fn singlestep(a: SinglestepArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = a.min_pass_rate {
        if !(0.0..=100.0).contains(&p) {
            bail!("--min-pass-rate must be a percentage between 0 and 100, not {p}");
        }
    }
    let Some(engine) = EngineKind::parse(&a.engine) else {
        bail!(
            "--engine {:?}: unknown engine (expected interp, jit or lockstep)",
            a.engine
        );
    };
    let mut files = Vec::new();
    for p in &a.paths {
        collect(p, &mut files).with_context(|| format!("{}", p.display()))?;
    }
    let filters: Vec<String> = a.filter.iter().map(|f| f.to_ascii_uppercase()).collect();
    files.retain(|f| {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_uppercase())
            .unwrap_or_default();
        filters.is_empty() || filters.iter().any(|x| name.starts_with(x.as_str()))
    });
    if files.is_empty() {
        bail!("no .MOO/.MOO.gz files found (check the paths and --filter)");
    }

    // One Suite (metadata + revocation list) per folder, loaded once.
    let mut suites: HashMap<PathBuf, Arc<Suite>> = HashMap::new();
    for f in &files {
        let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
        suites.entry(dir.clone()).or_insert_with(|| {
            let s = Suite::load(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &dir
            });
            s.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
            Arc::new(s)
        });
    }

    let started = Instant::now();
    let opts = RunOpts {
        limit: a.limit,
        engine,
    };
    let reports = run_all(&files, &suites, opts, a.jobs.max(1));

    let (mut passed, mut failed) = (0usize, 0usize);
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reports {
        passed += r.passed;
        failed += r.failed;
        for (k, n) in &r.skipped {
            *skipped.entry(k.clone()).or_default() += n;
        }
        if let Some(e) = &r.error {
            println!("{}: {e}", r.name);
        }
        if let Some(f) = &r.first_failure {
            let ran = r.passed + r.failed;
            println!(
                "{}: {} of {ran} failed, first #{} {:?} ({})",
                r.name, r.failed, f.ordinal, f.name, f.summary
            );
            if a.verbose {
                print!("{}", f.detail);
            }
        }
    }
    if engine != EngineKind::Interp {
        println!("{}", engine_line(engine, &reports));
    }
    let n_skipped: usize = skipped.values().sum();
    if n_skipped > 0 {
        let parts: Vec<String> = skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("skipped: {}", parts.join(", "));
    }
    let rate = if passed + failed == 0 {
        100.0
    } else {
        passed as f64 * 100.0 / (passed + failed) as f64
    };
    eprintln!(
        "{} files in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(min) = a.min_pass_rate {
        println!("pass rate {rate:.2}% (required {min}%)");
    }
    println!("{passed} passed, {failed} failed, {n_skipped} skipped");
    let ok = failed == 0 || a.min_pass_rate.is_some_and(|min| rate >= min);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `engine jit: T of N tests ran their instruction as translated code (…)`.
fn engine_line(engine: EngineKind, reports: &[FileReport]) -> String {
    let (mut ran, mut translated, mut i8086) = (0, 0, 0);
    let (mut regions, mut checked, mut compile) = (0, 0, std::time::Duration::ZERO);
    for r in reports {
        ran += r.passed + r.failed;
        translated += r.translated;
        if r.model == Some(CpuModel::I8086) {
            i8086 += r.passed + r.failed;
        }
        regions += r.regions_compiled;
        checked += r.lockstep_checked;
        compile += r.compile_time;
    }
    let name = if engine == EngineKind::Jit {
        "jit"
    } else {
        "lockstep"
    };
    let mut notes = vec![format!(
        "{regions} regions compiled in {:.1} s",
        compile.as_secs_f64()
    )];
    if engine == EngineKind::Lockstep {
        notes.push(format!(
            "{checked} region runs checked against the interpreter"
        ));
    }
    if i8086 > 0 {
        notes.push(format!(
            "{i8086} 8086 tests ran in the interpreter: the 8086 model always single-steps"
        ));
    }
    format!(
        "engine {name}: {translated} of {ran} tests ran their instruction as translated code ({})",
        notes.join("; ")
    )
}

/// Files given directly are taken as they are; folders are searched recursively, sorted by name.
fn collect(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(p)?;
    if !meta.is_dir() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let name = e
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_uppercase())
            .unwrap_or_default();
        if e.is_dir() {
            collect(&e, out)?;
        } else if name.ends_with(".MOO.GZ") || name.ends_with(".MOO") {
            out.push(e);
        }
    }
    Ok(())
}

/// Run every file on `jobs` threads; reports come back in file order.
fn run_all(
    files: &[PathBuf],
    suites: &HashMap<PathBuf, Arc<Suite>>,
    opts: RunOpts,
    jobs: usize,
) -> Vec<FileReport> {
    // Interpreter panics are caught per test and reported; keep them off stderr.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        runner::LAST_PANIC.with(|l| *l.borrow_mut() = Some(msg));
    }));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(files.len()) {
            s.spawn(|| {
                let mut w = Worker::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    let empty = Suite::default();
                    let suite = suites.get(&dir).map_or(&empty, |s| &**s);
                    let r = w.run_file(path, display_name(path), suite, opts);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    std::panic::set_hook(default_hook);
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results
        .into_iter()
        .zip(files)
        .map(|(r, f)| {
            r.unwrap_or_else(|| FileReport {
                name: display_name(f),
                failed: 1,
                error: Some("runner thread died".into()),
                ..FileReport::default()
            })
        })
        .collect()
}

/// `folder/file` (the folder tells the suites apart).
fn display_name(p: &Path) -> String {
    let file = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match p.parent().and_then(|d| d.file_name()) {
        Some(d) => format!("{}/{file}", d.to_string_lossy()),
        None => file,
    }
}
