//! Resource statistics and OOM counts of a running container, from its cgroup, and a wait
//! for its init to exit: what `events` (and a shim's Stats) reads.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

pub use crate::cgroups::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};
use crate::cgroups::{Cgroup, Ctl};
use crate::container::cgroup_of;
use crate::state::{ContainerState, Status};
use crate::{sys, Error, Result};

/// A container being watched: its recorded state and its cgroup.
pub struct Watched {
    state: ContainerState,
    cg: Cgroup,
}

/// Opens container `id` for watching; a stopped container is refused (runc's wording).
pub fn watch(root: &Path, id: &str) -> Result<Watched> {
    let state = ContainerState::load(root, id)?;
    if state.status(root) == Status::Stopped {
        return Err(Error::BadState(format!(
            "container with id {id} is not running"
        )));
    }
    let cg = cgroup_of(&state)?;
    Ok(Watched { state, cg })
}

/// One set of statistics of container `id`: typed, and `serde_json::to_value` of it is
/// runc's `events --stats` data object.
pub fn stats(root: &Path, id: &str) -> Result<Stats> {
    watch(root, id)?.stats()
}

impl Watched {
    /// The cgroup statistics now.
    pub fn stats(&self) -> Result<Stats> {
        self.cg.stats()
    }

    /// A pidfd of the container's init, None when it has already exited.
    pub fn init_pidfd(&self) -> Option<OwnedFd> {
        sys::pidfd_for(self.state.pid, self.state.start_time)
    }

    /// How many times the OOM killer has killed in the cgroup (v1 memory.oom_control,
    /// v2 memory.events); 0 where the counter does not exist.
    pub fn oom_kills(&self) -> u64 {
        let path = match self.cg.controller_dir("memory") {
            Some(Ctl::V1(d)) => d.join("memory.oom_control"),
            Some(Ctl::V2(d)) => d.join("memory.events"),
            None => return 0,
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        keyed_value(&text, "oom_kill").unwrap_or(0)
    }
}

/// True when the process behind `pidfd` exited within `d`; waits in poll-sized pieces, at
/// least 1 ms.
pub fn wait_exit_for(pidfd: &OwnedFd, d: Duration) -> bool {
    let mut left_ms = d.as_millis().max(1);
    while left_ms > 0 {
        let step = left_ms.min(i32::MAX as u128);
        if sys::pidfd_wait_exit(pidfd, step as i32) {
            return true;
        }
        left_ms -= step;
    }
    false
}

fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counter_lines() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(v1, "oom_kill"), Some(3));
        let v2 = "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_value(v2, "oom_kill"), Some(1));
        assert_eq!(keyed_value("", "oom_kill"), None);
    }
}
