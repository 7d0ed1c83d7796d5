//! `podrun spec`: write runc's default config.json.

use std::path::PathBuf;

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write config.json into
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Generate a config for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Err(Error::other("podrun spec: not implemented yet"))
}
