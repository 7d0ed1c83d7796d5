//! `podrun pod create|list|state|delete`.

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Subcommand, Debug)]
pub enum PodCommand {
    /// Start a pause process owning new net/ipc/uts namespaces, and give it an eth0
    Create(CreateArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    pub name: String,
}

pub fn run(_g: &Global, _c: PodCommand) -> Result<i32> {
    Err(Error::other("podrun pod: not implemented yet"))
}
