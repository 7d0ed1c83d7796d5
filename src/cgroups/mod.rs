//! cgroups: find the container's cgroup in every hierarchy (v1, v2, hybrid), create it,
//! apply `linux.resources`, move processes in, freeze, read stats, remove.

use std::path::PathBuf;

use crate::Result;

/// True when PID 1 is systemd (so `--systemd-cgroup` could work).
pub fn systemd_available() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// A container's cgroup: the same relative path in every mounted hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// Path relative to each hierarchy's root, starting with `/`.
    pub path: String,
    /// Absolute directories of this cgroup, one per hierarchy.
    pub dirs: Vec<PathBuf>,
}

impl Cgroup {
    /// The cgroup for a container: `cgroups_path` as given (absolute, or relative to the
    /// runtime's own cgroup root), else `/podrun/<id>`.
    pub fn for_container(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let path = match cgroups_path {
            Some(p) if p.starts_with('/') => p.to_string(),
            Some(p) => format!("/{p}"),
            None => format!("/podrun/{id}"),
        };
        Ok(Cgroup::from_path(&path))
    }

    pub fn from_path(path: &str) -> Cgroup {
        let dirs = hierarchies()
            .into_iter()
            .map(|root| root.join(path.trim_start_matches('/')))
            .collect();
        Cgroup {
            path: path.to_string(),
            dirs,
        }
    }

    /// Creates the cgroup directories (parents too).
    pub fn create(&self) -> Result<()> {
        for d in &self.dirs {
            std::fs::create_dir_all(d).map_err(|e| crate::Error::io("create cgroup", d, e))?;
        }
        Ok(())
    }

    /// Moves a process into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for d in &self.dirs {
            let f = d.join("cgroup.procs");
            std::fs::write(&f, pid.to_string()).map_err(|e| crate::Error::io("write", &f, e))?;
        }
        Ok(())
    }

    /// Every process in the cgroup (host PIDs), from the first hierarchy that has any.
    pub fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for d in &self.dirs {
            if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
                out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
                if !out.is_empty() {
                    break;
                }
            }
        }
        out
    }

    /// Removes the cgroup directories; missing ones are fine.
    pub fn destroy(&self) -> Result<()> {
        for d in &self.dirs {
            match std::fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::Error::io("remove cgroup", d, e)),
            }
        }
        Ok(())
    }
}

/// The mounted cgroup hierarchies this runtime uses (v1 controllers and the v2 mount).
fn hierarchies() -> Vec<PathBuf> {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in mounts.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = left.split_whitespace().nth(4) {
            out.push(PathBuf::from(mp));
        }
    }
    out
}
