//! Black-box tests of the built podrun binary.

mod cgroups;
mod common;
mod hooks;
mod pods;
mod spec;
