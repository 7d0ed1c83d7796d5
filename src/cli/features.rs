//! `podrun features`: the runtime-spec features document.

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {

}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Err(Error::other("podrun features: not implemented yet"))
}
