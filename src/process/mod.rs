//! The in-container side: namespaces, rootfs, process setup, exec.
pub mod seccomp;
