//! What to watch to learn, while a container runs, that the OOM killer acted in its cgroup.
//! The count itself is always read with [`Cgroup::oom_record`]; this only says when to read it.
//!
//! - v1 (and hybrid, where memory is a v1 controller): an eventfd registered on
//!   `memory.oom_control` through `cgroup.event_control`; the kernel signals it at each OOM
//!   of the cgroup (before its kill is counted) and when the cgroup is removed.
//! - v2: `memory.events`, which the kernel marks modified (inotify `IN_MODIFY`) at each
//!   event it counts, `oom` and then `oom_kill` among them.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::{fs, Cgroup, Ctl};
use crate::error::IoContext;
use crate::{Error, Result};

/// The thing to wait on for OOM events of one cgroup.
#[derive(Debug)]
pub enum OomWatch {
    /// v1: readable at each OOM event (non-blocking, close-on-exec).
    Eventfd(OwnedFd),
    /// v2: the `memory.events` file to watch for modification.
    EventsFile(PathBuf),
}

impl Cgroup {
    /// What tells of the OOM events of this cgroup; None without a memory controller.
    pub fn oom_watch(&self) -> Result<Option<OomWatch>> {
        match self.controller_dir("memory") {
            None => Ok(None),
            Some(Ctl::V2(d)) => Ok(Some(OomWatch::EventsFile(d.join("memory.events")))),
            Some(Ctl::V1(d)) => {
                let control = d.join("memory.oom_control");
                // std opens with O_CLOEXEC
                let cfd = std::fs::File::open(&control).io("open", &control)?;
                let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                    .map_err(|e| Error::sys("eventfd", e))?;
                // The kernel keeps what it needs of both fds: `cfd` may close after this.
                fs::set_strict(
                    d,
                    "cgroup.event_control",
                    &format!("{} {}", efd.as_raw_fd(), cfd.as_raw_fd()),
                )?;
                Ok(Some(OomWatch::Eventfd(efd.into())))
            }
        }
    }
}
