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
        return Vec::new();
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
