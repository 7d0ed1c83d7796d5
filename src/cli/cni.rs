//! `podrun cni` (also: podrun run under the name `podrun-cni`): the CNI plugin protocol.
//! The command is `CNI_COMMAND`, the network config comes on stdin, the result or the CNI
//! error JSON goes to stdout. See `net::cni` and docs/cni.md.

use std::io::Read;

use crate::cli::Global;
use crate::net::cni;
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    Ok(run_plugin())
}

/// Reads the config from stdin, runs `CNI_COMMAND`, prints the outcome; the exit code.
pub fn run_plugin() -> i32 {
    let mut stdin = Vec::new();
    let env = cni::Env::from_process();
    if env.command != "VERSION" {
        if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
            let err = cni::CniError::new(
                cni::code::IO_FAILURE,
                "cannot read the network config from stdin",
                e.to_string(),
            );
            println!("{}", err.to_json("1.0.0"));
            return 1;
        }
    }
    cni::main_with(&env, &stdin, &mut std::io::stdout().lock())
}
