//! `podrun checkpoint` / `podrun restore`: runc's CRIU commands, which podrun does not
//! implement. They exist so that a caller (containerd's shim, podman) gets a clear error in
//! the `--log` file instead of a usage error that the log never sees.
use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// runc's flags and the container id; ignored
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub rest: Vec<String>,
}

pub fn run(_g: &Global, what: &str, _a: Args) -> Result<i32> {
    Err(Error::Unsupported(format!(
        "{what} is not supported: podrun has no checkpoint/restore (CRIU) support"
    )))
}
