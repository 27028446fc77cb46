//! `ironbox`: command-line front end.

use clap::{Parser, Subcommand};

mod conformance;
mod display;
mod gdb;
mod run;

#[derive(Parser)]
#[command(name = "ironbox", version, about = "A full-system x86 PC emulator")]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a guest.
    #[command(after_help = display::HOTKEYS_HELP)]
    Run(Box<run::RunArgs>),
    /// Run CPU conformance test vectors.
    #[command(subcommand)]
    Conformance(conformance::ConformanceCmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Command::Run(a) => run::main(*a),
        Command::Conformance(c) => conformance::main(c),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ironbox: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
