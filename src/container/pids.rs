//! The processes of a container: the host PIDs in its cgroup and the cgroups below it, as
//! runc's GetAllPids walks them. A stopped container (its cgroup gone) has none.

use std::path::Path;

use crate::cgroups::Cgroup;
use crate::state::ContainerState;
use crate::Result;

/// Host PIDs of container `id`, sorted; a missing container is `ContainerNotFound`.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let state = ContainerState::load(root, id)?;
    Ok(container_pids(&state))
}

/// Host PIDs in the container's cgroup tree, sorted; empty when the cgroup is gone.
pub(crate) fn container_pids(state: &ContainerState) -> Vec<i32> {
    let Some(path) = &state.cgroup_path else {
        return pids_without_cgroup(state);
    };
    let cg = Cgroup::from_path(path);
    let mut pids = Vec::new();
    for dir in &cg.dirs {
        collect_procs(dir, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// A container without a cgroup (rootless, none delegated): the processes in its init's pid
/// namespace when it has one of its own, else the init and its descendants. Empty when the
/// init is gone.
fn pids_without_cgroup(state: &ContainerState) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    if !crate::sys::process_matches(state.pid, state.start_time) {
        return Vec::new();
    }
    let ns_of = |pid: i32| {
        std::fs::metadata(format!("/proc/{pid}/ns/pid"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let all: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, parent_pid(pid)?)))
        .collect();
    let init_ns = ns_of(state.pid);
    let own_ns = init_ns.is_some() && init_ns != ns_of(std::process::id() as i32);
    let mut out = vec![state.pid];
    if own_ns {
        out.extend(
            all.iter()
                .map(|(p, _)| *p)
                .filter(|p| *p != state.pid && ns_of(*p) == init_ns),
        );
    } else {
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
            i += 1;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Field 4 of /proc/<pid>/stat.
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Reads `cgroup.procs` of `dir` and of every cgroup below it.
fn collect_procs(dir: &Path, out: &mut Vec<i32>) {
    let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&e.path(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_of_a_tree() {
        let dir = std::env::temp_dir().join(format!("podrun-ps-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        std::fs::write(dir.join("cgroup.procs"), "5\n3\n").unwrap();
        std::fs::write(dir.join("sub/cgroup.procs"), "9\n").unwrap();
        std::fs::write(dir.join("sub/deeper/cgroup.procs"), "3\n").unwrap();
        let mut out = Vec::new();
        collect_procs(&dir, &mut out);
        out.sort_unstable();
        out.dedup();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out, vec![3, 5, 9]);
    }
}
