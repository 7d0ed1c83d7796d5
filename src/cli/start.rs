//! `podrun start`: let a created container run its process.
use crate::cli::Global;
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    crate::container::start(&g.root, &a.id)?;
    Ok(0)
}
