//! `ironbox run`: boot a guest on the minimal board (BIOS ROM, RAM, debug console, debug exit).
//!
//! Exit status: the isa-debug-exit status ((v << 1) | 1, truncated to 8 bits as by QEMU) when the
//! guest wrote port 0xF4; 0 when the guest halted for good; 3 on shutdown (triple fault) or when
//! `--max-instructions` ran out; 2 on bad input.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use ironbox_cpu::CpuModel;
use ironbox_machine::{Machine, MachineConfig, RunOutcome};

#[derive(clap::Args)]
pub struct RunArgs {
    /// BIOS ROM image (64 KiB to 256 KiB, a multiple of 64 KiB), mapped to end at 4 GiB.
    #[arg(long, value_name = "ROM")]
    bios: PathBuf,
    /// Debug console on port 0xE9: `stdio`, `none` or `file:PATH`.
    #[arg(long, default_value = "none", value_name = "WHERE")]
    debugcon: String,
    /// Decode isa-debug-exit at port 0xF4 (a write of v exits with status (v << 1) | 1).
    #[arg(long)]
    debug_exit: bool,
    /// CPU model: 8086, 80286 or pentium2.
    #[arg(long, default_value = "pentium2")]
    cpu: String,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 32, value_name = "MiB")]
    memory: u32,
    /// Stop (with an error) after this many instructions.
    #[arg(long, value_name = "N")]
    max_instructions: Option<u64>,
}

fn debugcon(spec: &str) -> anyhow::Result<Option<Box<dyn Write>>> {
    Ok(match spec {
        "none" => None,
        "stdio" => Some(Box::new(std::io::stdout())),
        _ => match spec.strip_prefix("file:") {
            Some(path) if !path.is_empty() => {
                let f = std::fs::File::create(path).with_context(|| format!("cannot create debug console file {path}"))?;
                Some(Box::new(std::io::BufWriter::new(f)))
            }
            _ => bail!("--debugcon {spec:?}: expected stdio, none or file:PATH"),
        },
    })
}

pub fn main(a: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(model) = CpuModel::parse(&a.cpu) else {
        bail!("--cpu {:?}: unknown CPU model (expected 8086, 80286 or pentium2)", a.cpu);
    };
    let path = a.bios.display();
    let bios = std::fs::read(&a.bios).with_context(|| format!("cannot read BIOS image {path}"))?;
    ironbox_machine::Memory::check_rom(&bios).with_context(|| format!("bad BIOS image {path}"))?;
    let cfg = MachineConfig {
        model,
        memory_mib: a.memory,
        bios,
        debugcon: debugcon(&a.debugcon)?,
        debug_exit: a.debug_exit,
    };
    let mut m = Machine::new(cfg)?;
    Ok(match m.run(a.max_instructions) {
        RunOutcome::DebugExit(status) => ExitCode::from(status as u8),
        RunOutcome::Halted { cs, eip, interrupts_enabled } => {
            let why = if interrupts_enabled { "with no interrupt source" } else { "with interrupts disabled" };
            eprintln!("ironbox: guest halted at {cs:04x}:{eip:08x} {why}");
            ExitCode::SUCCESS
        }
        RunOutcome::Shutdown { cs, eip } => {
            eprintln!("ironbox: guest shut down (triple fault) at {cs:04x}:{eip:08x}");
            ExitCode::from(3)
        }
        RunOutcome::InstructionLimit { cs, eip } => {
            eprintln!("ironbox: instruction limit reached at {cs:04x}:{eip:08x}");
            ExitCode::from(3)
        }
    })
}
