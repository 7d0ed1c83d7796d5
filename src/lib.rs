//! podrun: an OCI container runtime that knows about pods.
//!
//! The binary (`src/main.rs`) parses the command line and dispatches to `cli`;
//! everything else lives in this library so the pieces can be unit-tested and
//! fuzzed on their own.

pub mod cgroups;
pub mod channel;
pub mod cli;
pub mod container;
pub mod error;
pub mod hooks;
pub mod lockfile;
pub mod logging;
pub mod net;
pub mod pod;
pub mod process;
pub mod spec;
pub mod state;
pub mod sys;

#[cfg(test)]
mod layering;

pub use error::{Error, ErrorKind, Result};
