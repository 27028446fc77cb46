//! `ironbox conformance`: CPU test vectors.

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ConformanceCmd {
    /// Placeholder.
    None,
}

pub fn main(_c: ConformanceCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented")
}
