//! Exclusive `flock`s on lock files (a pod's `lock`, an IPAM store's `lock`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::IoContext;
use crate::{Error, Result};

/// Opens (creating, mode 0600, close-on-exec) `path` and takes an exclusive `flock` on it,
/// blocking until other holders are done. The lock is released when the result is dropped.
pub fn lock_exclusive(path: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .io("open lock", path)?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("flock {}", path.display()), e))
}
