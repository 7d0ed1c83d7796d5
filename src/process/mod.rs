//! The in-container side: namespaces, rootfs, process setup, exec.

pub mod devices;
pub mod mounts;
pub mod paths;
pub mod rootfs;
