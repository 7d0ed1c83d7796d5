//! `podrun exec`.
use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Err(Error::other("not implemented yet"))
}
