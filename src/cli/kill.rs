//! `podrun kill [--all] ID [SIGNAL]`.
use crate::cli::Global;
use crate::container::signal::parse_signal;
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Send the signal to every process of the container
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// Signal name or number (default SIGTERM)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let sig = parse_signal(&a.signal)?;
    crate::container::kill(&g.root, &a.id, sig, a.all)?;
    Ok(0)
}
