//! cgroups for a non-root user (rootless), as runc does them with its cgroupfs driver:
//!
//! - on a pure cgroup v2 host, a subtree the user was delegated (systemd's `Delegate=`:
//!   the directory and its `cgroup.procs`, `cgroup.subtree_control`, `cgroup.threads`
//!   chowned to the user) holds the container's cgroup: the parent of podrun's own cgroup
//!   (the own one holds podrun itself, and a cgroup with processes cannot hand controllers to
//!   children), else the own one; a relative `linux.cgroupsPath` is taken below it;
//! - where the cgroup cannot be made (no delegation; v1 and hybrid hosts), a container that
//!   asks for no limits and names no cgroup runs without one; one that does gets a clear
//!   error (runc: "rootless needs no limits + no cgrouppath when no permission is granted
//!   for cgroups").
//!
//! Device rules are not a limit here: a rootless container's devices are bind mounts of the
//! host's nodes, which the user's own permissions already guard, and the v2 device program
//! needs privileges a user does not have (runc skips them in a user namespace too).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{hierarchies, Cgroup, Hierarchy, Layout};
use crate::{Error, Result};

/// The cgroup2 directory the user may make cgroups in, relative to the hierarchy root
/// (`/user.slice/user-1000.slice/user@1000.service`); None on v1/hybrid hosts or without
/// a delegation.
pub fn delegated_base() -> Option<String> {
    let hs = hierarchies();
    if super::layout_of(&hs) != Layout::V2 {
        return None;
    }
    let mount = hs.iter().find_map(|h| match h {
        Hierarchy::V2 { mount } => Some(mount.clone()),
        Hierarchy::V1 { .. } => None,
    })?;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own_v2_path(&text)?;
    let parent = Path::new(&own).parent().map(Path::to_path_buf);
    [parent, Some(PathBuf::from(&own))]
        .into_iter()
        .flatten()
        .find(|rel| writable(&mount.join(rel.strip_prefix("/").unwrap_or(rel))))
        .map(|p| p.to_string_lossy().into_owned())
}

/// The `0::/path` line of /proc/self/cgroup.
fn own_v2_path(proc_cgroup: &str) -> Option<String> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
        .filter(|p| p.starts_with('/'))
}

/// The user can make cgroups in `dir` and move processes into them.
fn writable(dir: &Path) -> bool {
    use nix::unistd::{access, AccessFlags};
    let w = AccessFlags::W_OK;
    access(dir, w | AccessFlags::X_OK).is_ok() && access(&dir.join("cgroup.procs"), w).is_ok()
}

/// The path of a rootless container's cgroup: below the delegated subtree when there is one
/// (`linux.cgroupsPath` relative to it, absolute as given, default `podrun-<id>`); else the
/// path a root container would get (its creation will tell whether the user may).
pub fn cgroup_path(cgroups_path: Option<&str>, default: &str, id: &str) -> String {
    match (delegated_base(), cgroups_path) {
        (_, Some(p)) if p.starts_with('/') => p.to_string(),
        (Some(base), Some(p)) => format!("{}/{p}", base.trim_end_matches('/')),
        (Some(base), None) => format!("{}/podrun-{id}", base.trim_end_matches('/')),
        (None, Some(p)) => format!("/{p}"),
        (None, None) => default.to_string(),
    }
}

/// Creates a rootless container's cgroup. Ok(None): it could not be made and the container
/// may go on without one (no limits asked, no cgroup named); nothing is left behind then.
pub fn create(cg: &Cgroup, res: &LinuxResources, named: bool) -> Result<Option<()>> {
    let err = match cg.create() {
        Ok(()) => return Ok(Some(())),
        Err(e) => e,
    };
    let _ = cg.destroy();
    let limits = asks_for_limits(res);
    if !limits && !named {
        tracing::debug!(
            "rootless: no cgroup ({err}); the container asks for no limits: going on without one"
        );
        return Ok(None);
    }
    let what = if limits {
        "linux.resources asks for limits"
    } else {
        "linux.cgroupsPath names a cgroup"
    };
    Err(Error::Usage(format!(
        "rootless: {what}, but cgroup {} cannot be created by uid {} ({err}): a rootless container needs no limits and no cgroupsPath unless a cgroup v2 subtree is delegated to the user",
        cg.path,
        nix::unistd::geteuid()
    )))
}

/// True when `res` asks for anything but device rules (zeros count as unset, as in runc).
pub fn asks_for_limits(res: &LinuxResources) -> bool {
    let mut r = super::resources::without_unset(res);
    r.set_devices(None);
    serde_json::to_value(&r).is_ok_and(|v| has_value(&v))
}

fn has_value(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Object(m) => m.values().any(has_value),
        Value::Array(a) => a.iter().any(has_value),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn limits_are_what_is_set_besides_devices() {
        assert!(!asks_for_limits(&res("{}")));
        assert!(!asks_for_limits(&res(
            r#"{"devices":[{"allow":false,"access":"rwm"}]}"#
        )));
        // Docker's zeros for every unset field are no limits.
        assert!(!asks_for_limits(&res(
            r#"{"memory":{"limit":0,"swap":0},"cpu":{"shares":0,"cpus":""},"pids":{"limit":0}}"#
        )));
        assert!(asks_for_limits(&res(r#"{"memory":{"limit":10000000}}"#)));
        assert!(asks_for_limits(&res(r#"{"pids":{"limit":20}}"#)));
        assert!(asks_for_limits(&res(r#"{"unified":{"memory.high":"1G"}}"#)));
    }

    #[test]
    fn own_cgroup_is_the_v2_line() {
        assert_eq!(
            own_v2_path("12:pids:/a\n0::/user.slice/x.scope\n").as_deref(),
            Some("/user.slice/x.scope")
        );
        assert_eq!(own_v2_path("12:pids:/a\n"), None);
    }
}
