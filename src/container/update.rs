//! Update: change the resource limits of a live container.
//!
//! Every value is checked before any cgroup file is written, so a bad value leaves the
//! container unchanged. A stopped container is refused ("container not running"). As runc, a
//! 0 in a field where 0 is no limit (Docker sends one for every field it does not change)
//! leaves that file alone, and an unlimited memory limit without a swap value makes swap
//! unlimited too. Device rules replace the container's (deny-all first and the default
//! allowances last, as at create; on cgroup v2 the new program is attached before the old
//! one is detached).

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::cgroups::{Cgroup, Ctl};
use crate::container::cgroup_of;
use crate::state::{ContainerState, StateDir, Status};
use crate::{Error, Result};

/// Applies `resources` to container `id`.
pub fn update(root: &Path, id: &str, resources: LinuxResources) -> Result<()> {
    check_resources(&resources).map_err(Error::Usage)?;
    let mut resources = unlimited_memory_means_unlimited_swap(resources);
    let lock = StateDir::open(root, id)?;
    let state = ContainerState::load(root, id)?;
    if matches!(state.status(root), Status::Stopped) {
        return Err(Error::BadState("container not running".into()));
    }
    let cg = cgroup_of(&state)?;
    // The systemd driver: what systemd has properties for goes through SetUnitProperties
    // (so that systemd keeps it), then every file as with cgroupfs.
    crate::cgroups::systemd::update(&lock.dir, &resources)?;
    complete_from_current(&cg, &mut resources);
    cg.apply(&resources)?;
    Ok(())
}

/// runc: an unlimited memory limit without an explicit swap value makes swap unlimited too.
pub fn unlimited_memory_means_unlimited_swap(mut r: LinuxResources) -> LinuxResources {
    if let Some(m) = r.memory_mut() {
        if m.limit() == Some(-1) && m.swap().is_none() {
            m.set_swap(Some(-1));
        }
    }
    r
}

/// Values the kernel would refuse only after other files were already written; the error
/// names the field and the value.
pub fn check_resources(r: &LinuxResources) -> std::result::Result<(), String> {
    let bad = |field: &str, v: i64| {
        format!("{field} {v} is not allowed (a non-negative value, or -1 for unlimited)")
    };
    if let Some(m) = r.memory() {
        let fields = [
            ("memory.limit", m.limit()),
            ("memory.reservation", m.reservation()),
            ("memory.swap", m.swap()),
            ("memory.kernelTCP", m.kernel_tcp()),
        ];
        for (name, v) in fields {
            if let Some(v) = v.filter(|v| *v < -1) {
                return Err(bad(name, v));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(q) = c.quota().filter(|q| *q < -1) {
            return Err(bad("cpu.quota", q));
        }
        for (name, list) in [("cpu.cpus", c.cpus()), ("cpu.mems", c.mems())] {
            if let Some(l) = list.as_deref().filter(|l| !l.is_empty()) {
                check_cpu_list(l).map_err(|why| format!("{name} {l:?}: {why}"))?;
            }
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() < -1 {
            return Err(bad("pids.limit", p.limit()));
        }
    }
    Ok(())
}

/// A cpuset list as the kernel takes it: `N` or `N-M` (N <= M) items separated by commas.
pub fn check_cpu_list(s: &str) -> std::result::Result<(), String> {
    for item in s.split(',') {
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        let num = |t: &str| {
            t.parse::<u32>()
                .map_err(|_| format!("{item:?} is not a number or a range N-M"))
        };
        if num(lo)? > num(hi)? {
            return Err(format!("range {item:?} goes backwards"));
        }
    }
    Ok(())
}

/// On cgroup v2 some values only make sense together (cpu.max holds quota and period;
/// memory.swap.max is derived from the memory limit): fill the missing half from the cgroup,
/// as runc does from its saved config.
fn complete_from_current(cg: &Cgroup, r: &mut LinuxResources) {
    // A 0 is "not given" here too (Docker sends one for every field it leaves alone).
    if let (Some(Ctl::V2(d)), Some(m)) = (cg.controller_dir("memory"), r.memory_mut()) {
        if m.swap().unwrap_or(0) != 0 && m.limit().unwrap_or(0) == 0 {
            m.set_limit(read_v2_value(&d.join("memory.max")));
        }
    }
    if let (Some(Ctl::V2(d)), Some(c)) = (cg.controller_dir("cpu"), r.cpu_mut()) {
        if c.period().unwrap_or(0) != 0 && c.quota().unwrap_or(0) == 0 {
            c.set_quota(read_v2_value(&d.join("cpu.max")));
        }
    }
}

/// The first field of a v2 limit file: a number, or `max` as -1.
fn read_v2_value(path: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.split_whitespace().next()? {
        "max" => Some(-1),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        for ok in ["0", "0-1", "0,2", "0-3,5,7-8"] {
            assert!(check_cpu_list(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "1-", "-1", "3-1", "0,,1", "0-1-2", " 0"] {
            assert!(check_cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn v2_values() {
        let dir = std::env::temp_dir().join(format!("podrun-update-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cpu.max"), "max 100000\n").unwrap();
        std::fs::write(dir.join("memory.max"), "1048576\n").unwrap();
        let cpu = read_v2_value(&dir.join("cpu.max"));
        let mem = read_v2_value(&dir.join("memory.max"));
        let missing = read_v2_value(&dir.join("nope"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((cpu, mem, missing), (Some(-1), Some(1_048_576), None));
    }
}
