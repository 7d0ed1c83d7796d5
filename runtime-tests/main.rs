//! Black-box tests of the built podrun binary.

mod attacks;
mod cgroups;
mod cli;
mod cni;
mod common;
mod console;
mod containerd;
mod demo;
mod docker;
mod errors;
mod gorunc;
mod hooks;
mod lifecycle;
mod like_runc;
mod namespaces;
mod node_agent;
mod nodes;
mod pod_members;
mod podman;
mod pods;
mod process;
mod reliability;
mod rootfs;
mod runc_compat;
mod security;
mod spec;
