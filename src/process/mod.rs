//! The in-container side: namespaces, rootfs, process setup, exec.
//! Everything here runs in a forked child of podrun (single-threaded) unless said otherwise.

pub mod caps;
pub mod console;
pub mod devices;
pub mod idmap;
pub mod init;
pub mod lsm;
pub mod mounts;
pub mod namespaces;
pub mod paths;
pub mod rootfs;
pub mod seccomp;
pub mod user;
