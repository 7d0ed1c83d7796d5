//! `podrun pause` / `podrun resume`: freeze and thaw a container's cgroup.

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    pub id: String,
}

pub fn run_pause(_g: &Global, _a: PauseArgs) -> Result<i32> {
    Err(Error::other("podrun pause: not implemented yet"))
}

pub fn run_resume(_g: &Global, _a: ResumeArgs) -> Result<i32> {
    Err(Error::other("podrun resume: not implemented yet"))
}
