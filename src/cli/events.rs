//! `podrun events`: container events and cgroup statistics as JSON.

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print stats once and exit
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats (e.g. 5s)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Err(Error::other("podrun events: not implemented yet"))
}
