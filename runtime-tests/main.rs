//! Black-box tests of the built podrun binary.

mod common;
mod hooks;
mod reliability;
mod security;
mod spec;
