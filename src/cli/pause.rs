//! `podrun pause` / `podrun resume`: freeze and thaw a container's cgroup (the logic is in
//! [`crate::container::pause`]).

use crate::cli::Global;
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    pub id: String,
}

pub fn run_pause(g: &Global, a: PauseArgs) -> Result<i32> {
    crate::container::pause(&g.root, &a.id)?;
    Ok(0)
}

pub fn run_resume(g: &Global, a: ResumeArgs) -> Result<i32> {
    crate::container::resume(&g.root, &a.id)?;
    Ok(0)
}
