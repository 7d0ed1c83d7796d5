//! Black-box tests of the built podrun binary.

mod cgroups;
mod cli;
mod cni;
mod common;
mod console;
mod containerd;
mod demo;
mod errors;
mod gorunc;
mod hooks;
mod lifecycle;
mod namespaces;
mod nodes;
mod pod_members;
mod podman;
mod pods;
mod process;
mod reliability;
mod rootfs;
mod security;
mod spec;
mod vm_v2;
