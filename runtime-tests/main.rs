//! Black-box tests of the built podrun binary.

mod common;
mod hooks;
mod pods;
mod reliability;
mod security;
mod spec;
