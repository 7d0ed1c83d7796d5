//! `podrun update`: change resource limits of a running container.

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to a JSON linux.resources document, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory-tcp")]
    pub kernel_memory_tcp: Option<String>,
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<String>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<String>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<String>,
    pub id: String,
}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Err(Error::other("podrun update: not implemented yet"))
}
