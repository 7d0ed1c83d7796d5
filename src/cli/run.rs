//! `podrun run`: create + start, and in the foreground wait and return the exit code.
use crate::cli::create::CommonArgs;
use crate::cli::Global;
use crate::container::{create, foreground};
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Detach: return once the container runs
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground only)
    #[arg(long)]
    pub keep: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let mut opts = a.common.opts(!a.detach)?;
    opts.systemd_cgroup = g.systemd_cgroup;
    if a.detach {
        let created = create::create(&g.root, &opts)?;
        return start_or_remove(g, &opts.id, created.state.cgroup_path.as_deref()).map(|_| 0);
    }
    crate::container::become_subreaper()?;
    foreground::block_signals()?;
    let created = create::create(&g.root, &opts)?;
    let cgroup_path = created.state.cgroup_path.as_deref();
    start_or_remove(g, &opts.id, cgroup_path)?;
    let code = foreground::wait(created.state.pid, created.pty_master)?;
    if code == 128 + libc::SIGKILL {
        if let Some(why) = oom_note(cgroup_path) {
            tracing::error!("container {} was killed by SIGKILL: {why}", opts.id);
        }
    }
    if !a.keep {
        crate::container::delete(&g.root, &opts.id, true)?;
    }
    Ok(code)
}

/// When the container's cgroup's OOM killer fired, why a SIGKILL came (runc's own init is
/// in the cgroup when the limit is set and fails with "unable to set memory limit"; here the
/// limit is set first, and the process dies when it starts).
fn oom_note(cgroup_path: Option<&str>) -> Option<String> {
    let rec = crate::cgroups::Cgroup::from_path(cgroup_path?).oom_record()?;
    if rec.oom_kills == 0 {
        return None;
    }
    let limit = rec
        .limit
        .map_or_else(|| "?".to_string(), |l| format!("{l} bytes"));
    Some(format!(
        "the cgroup's OOM killer fired {} time(s): memory limit {limit} too low?",
        rec.oom_kills
    ))
}

fn start_or_remove(g: &Global, id: &str, cgroup_path: Option<&str>) -> Result<()> {
    if let Err(e) = crate::container::start(&g.root, id) {
        let why = oom_note(cgroup_path);
        let _ = crate::container::delete(&g.root, id, true);
        return Err(match why {
            Some(why) => crate::Error::other(format!(
                "{e}: container init was killed by SIGKILL during setup: {why}"
            )),
            None => e,
        });
    }
    Ok(())
}
