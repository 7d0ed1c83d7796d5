//! `podrun delete [--force] ID`.
use crate::cli::Global;
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill the container first if it is running
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    crate::container::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
