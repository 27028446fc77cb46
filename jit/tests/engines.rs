//! The JIT and lockstep engines against the interpreter on small guest programs (assembled
//! with nasm): the same final state, memory and retired count, with translated code
//! actually running.

use std::path::PathBuf;
use std::process::Command;

use ironbox_cpu::state::{attr, cr0};
use ironbox_cpu::{Cpu, CpuModel, FlatBus, RunExit, SegReg, Segment};
use ironbox_jit::{Engine, EngineKind};

fn assemble(name: &str) -> Vec<u8> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/asm")
        .join(name);
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name.replace(".asm", ".bin"));
    let st = Command::new("nasm")
        .args(["-f", "bin", "-i"])
        .arg(src.parent().unwrap())
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("nasm runs (scripts/setup-deps.sh installs it)");
    assert!(st.success(), "nasm failed on {name}");
    std::fs::read(out).unwrap()
}

fn flat32(cpu: &mut Cpu) {
    let s = &mut cpu.s;
    s.cr0 |= cr0::PE;
    let seg = |sel: u16, ty: u16| Segment {
        selector: sel,
        attr: ty | attr::S | attr::P | attr::DB | attr::G | attr::ACCESSED,
        base: 0,
        limit: 0xFFFF_FFFF,
    };
    s.seg[SegReg::Cs as usize] = seg(8, attr::CODE | attr::RW);
    for r in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        s.seg[r as usize] = seg(16, attr::RW);
    }
    s.cpl = 0;
    s.eflags = 2;
    s.eip = 0x1000;
}

fn real16(cpu: &mut Cpu) {
    cpu.s.seg[SegReg::Cs as usize] = Segment::real(0);
    cpu.s.eip = 0x1000;
    cpu.s.eflags = 2;
}

struct Outcome {
    state: ironbox_cpu::CpuState,
    instret: u64,
    mem: Vec<u8>,
    in_regions: u64,
    stale: u64,
}

/// `background`: the JIT compiles on its worker thread, and the guest pauses 2 ms after
/// each slice (as a slower guest would) so that compiled code gets installed and runs.
/// `flush`: every 7th slice drops all translations (and their code memory) first.
fn run(
    kind: EngineKind,
    threshold: u32,
    prog: &[u8],
    setup: fn(&mut Cpu),
    slice: u64,
    background: bool,
    flush: bool,
) -> Outcome {
    let mut bus = FlatBus::new(1 << 20);
    bus.mem[0x1000..0x1000 + prog.len()].copy_from_slice(prog);
    let mut cpu = Cpu::new(CpuModel::Pentium2);
    setup(&mut cpu);
    let mut eng: Engine<FlatBus> = Engine::with_threshold(kind, &cpu, threshold);
    if background {
        eng.compile_in_background();
    }
    let mut total = 0;
    for k in 1.. {
        if flush && k % 7 == 0 {
            eng.flush();
        }
        let (e, n) = eng.run(&mut cpu, &mut bus, slice);
        total += n;
        if background {
            // Until something runs translated, give the worker more time (a loaded host may
            // not schedule it before a short program ends).
            let none_yet = eng.stats().is_some_and(|s| s.instrs_in_regions == 0);
            let ms = if none_yet { 20 } else { 2 };
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        match e {
            RunExit::Halted => break,
            RunExit::Diverged => panic!("{}", eng.divergence.unwrap()),
            RunExit::Shutdown => panic!("triple fault at {:#x}", cpu.s.eip),
            _ => {}
        }
        assert!(total < 50_000_000, "runaway guest at {:#x}", cpu.s.eip);
    }
    Outcome {
        state: cpu.s.clone(),
        instret: cpu.instret,
        mem: bus.mem,
        in_regions: eng.stats().map_or(0, |s| s.instrs_in_regions),
        stale: eng.stats().map_or(0, |s| s.stale_drops),
    }
}

fn check(prog: &str, setup: fn(&mut Cpu)) -> u64 {
    let mut stale = 0;
    let code = assemble(prog);
    let want = run(EngineKind::Interp, 1, &code, setup, 1000, false, false);
    assert!(
        want.instret > 20_000,
        "{prog}: the program ran ({} instructions)",
        want.instret
    );
    for (kind, threshold, slice, background, flush) in [
        (EngineKind::Jit, 1, 1000, false, false),
        (EngineKind::Jit, 5, 777, false, false),
        (EngineKind::Jit, 1, 1 << 40, false, false),
        (EngineKind::Lockstep, 1, 1000, false, false),
        (EngineKind::Jit, 1, 1000, true, false),
        (EngineKind::Jit, 1, 1000, false, true),
    ] {
        let got = run(kind, threshold, &code, setup, slice, background, flush);
        let what = format!(
            "{prog} under {kind:?} (threshold {threshold}, slices of {slice}, background \
             {background}, flushes {flush})"
        );
        assert_eq!(got.state, want.state, "{what}: final state");
        assert_eq!(got.instret, want.instret, "{what}: retired count");
        assert!(got.mem == want.mem, "{what}: memory differs");
        // (In the background, how much runs translated depends on the host's timing.)
        let least = if background { 1 } else { want.instret / 2 };
        assert!(
            got.in_regions >= least,
            "{what}: only {} of {} instructions ran in translated code",
            got.in_regions,
            want.instret
        );
        eprintln!("{what}: {} of {} translated", got.in_regions, want.instret);
        stale += got.stale;
    }
    stale
}

#[test]
fn flat_32bit_mix_agrees_with_the_interpreter() {
    check("mix32.asm", flat32);
}

#[test]
fn real_mode_16bit_mix_agrees_with_the_interpreter() {
    check("mix16.asm", real16);
}

/// Data written next to code on the same page throws no translation away.
#[test]
fn data_next_to_code_keeps_translations() {
    let stale = check("shared32.asm", flat32);
    assert_eq!(
        stale, 0,
        "translations dropped by writes to data beside them"
    );
}

/// A stack on the page of the code, beside the code bytes: pushes, calls and frame accesses
/// agree, and run translated (the engines' check wants half the instructions translated).
#[test]
fn a_stack_beside_code_on_its_page_agrees_and_runs_translated() {
    check("stackpage32.asm", flat32);
}

/// Stack groups across a page boundary into a page mapped elsewhere, with ESP aligned and
/// 2 bytes off (pushes that straddle both pages).
#[test]
fn stack_groups_across_pages_mapped_apart_agree_with_the_interpreter() {
    check("stackcross32.asm", flat32);
}

/// Leaf functions on other pages, taken into the translations that call them: a remap of
/// one's page and a rewrite of the other's code show at once.
#[test]
fn leaf_functions_on_other_pages_agree_when_remapped_and_rewritten() {
    check("leaf32.asm", flat32);
}

/// Writes beside code bytes at a bitmap word boundary stay inline; the rare ones that reach
/// code bytes change what runs next.
#[test]
fn writes_beside_code_bytes_agree_with_the_interpreter() {
    check("codebytes32.asm", flat32);
}

/// Instructions with their own lowering beyond the basic set (shifts by CL, bit operations,
/// SETcc/CMOVcc, exchanges, LOOP, branches out of the region, ...).
#[test]
fn flat_32bit_lowered_instructions_agree_with_the_interpreter() {
    check("lowered32.asm", flat32);
}

#[test]
fn real_mode_16bit_lowered_instructions_agree_with_the_interpreter() {
    check("lowered16.asm", real16);
}

/// String instructions (REP MOVS/STOS forward and backward, overlapping, zero counts, faults
/// midway with partial progress, REP MOVSB onto the code page) in paged flat mode.
#[test]
fn flat_32bit_string_instructions_agree_with_the_interpreter() {
    check("strings32.asm", flat32);
}

/// String instructions with 16-bit offsets wrapping at 0xFFFF and overrunning the segment.
#[test]
fn real_mode_16bit_string_instructions_agree_with_the_interpreter() {
    check("strings16.asm", real16);
}

/// Status flags pending at a chained exit (RET, indirect JMP) read, or seen by a fault, at
/// the start of the next translation.
#[test]
fn flags_across_chained_exits_agree_with_the_interpreter() {
    check("flagchain32.asm", flat32);
}

/// x87 instructions run from translated code without writing the registers back (memory
/// operands with every addressing form, flags pending across them, #NM/#MF/#GP faults, an
/// FIST into the code).
#[test]
fn flat_32bit_x87_agrees_with_the_interpreter() {
    check("x87flat32.asm", flat32);
}

/// Runs of x87 register instructions, which translated code does inline as one piece with
/// the quick arithmetic case: rounding ties and carries, zero results, far exponents,
/// overflow and underflow, special and empty operands, a full stack, other control words.
#[test]
fn flat_32bit_x87_runs_agree_with_the_interpreter() {
    check("x87run32.asm", flat32);
}

/// x87 instructions in real mode: 16-bit addressing forms, segment overrides, #NM.
#[test]
fn real_mode_16bit_x87_agrees_with_the_interpreter() {
    check("x87real16.asm", real16);
}
