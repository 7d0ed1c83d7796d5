//! `podrun ps`: the processes of a container (host PIDs from its cgroup).

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// ps options (table format only)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Err(Error::other("podrun ps: not implemented yet"))
}
