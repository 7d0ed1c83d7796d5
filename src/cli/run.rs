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
    let opts = a.common.opts(!a.detach)?;
    if a.detach {
        create::create(&g.root, &opts)?;
        return start_or_remove(g, &opts.id).map(|_| 0);
    }
    foreground::become_subreaper();
    foreground::block_signals()?;
    let created = create::create(&g.root, &opts)?;
    start_or_remove(g, &opts.id)?;
    let code = foreground::wait(created.state.pid, created.pty_master)?;
    if !a.keep {
        crate::container::delete(&g.root, &opts.id, true)?;
    }
    Ok(code)
}

fn start_or_remove(g: &Global, id: &str) -> Result<()> {
    if let Err(e) = crate::container::start(&g.root, id) {
        let _ = crate::container::delete(&g.root, id, true);
        return Err(e);
    }
    Ok(())
}
