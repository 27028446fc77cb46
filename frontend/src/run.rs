//! `ironbox run`: boot a guest.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {}

pub fn main(_a: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented")
}
