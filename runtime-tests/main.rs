//! Black-box tests of the built podrun binary.

mod cgroups;
mod cli;
mod cni;
mod common;
mod console;
mod demo;
mod errors;
mod hooks;
mod lifecycle;
mod namespaces;
mod pod_members;
mod pods;
mod process;
mod reliability;
mod rootfs;
mod security;
mod spec;
