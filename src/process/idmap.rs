//! The uid_map and gid_map of a container's new user namespace, written by podrun (the
//! parent) while the init waits for `Go`.
//!
//! Root writes every mapping itself. A non-root user may write only one line mapping its own
//! uid (and, after `deny` went to `setgroups`, its own gid), as runc and crun do; any other
//! mapping (the ranges of /etc/subuid and /etc/subgid) goes through the setuid helpers
//! `newuidmap` / `newgidmap` (Debian's `uidmap`), which check those files.

use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Error, Result};

/// Which map: the file name, the spec field, the helper.
#[derive(Clone, Copy)]
enum Kind {
    Uid,
    Gid,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }
    fn field(self) -> &'static str {
        match self {
            Kind::Uid => "linux.uidMappings",
            Kind::Gid => "linux.gidMappings",
        }
    }
    fn helper(self) -> &'static str {
        match self {
            Kind::Uid => "newuidmap",
            Kind::Gid => "newgidmap",
        }
    }
    fn own_id(self) -> u32 {
        match self {
            Kind::Uid => nix::unistd::geteuid().as_raw(),
            Kind::Gid => nix::unistd::getegid().as_raw(),
        }
    }
}

/// Writes the maps of `pid`'s user namespace from the spec.
pub fn write_id_maps(spec: &Spec, pid: i32) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    let rootless = crate::sys::rootless();
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if rootless && only_own_id(&gids, Kind::Gid) {
        // The kernel takes a gid_map from an unprivileged writer only once setgroups(2) is
        // denied in the namespace for good.
        std::fs::write(proc_dir.join("setgroups"), "deny")
            .map_err(|e| Error::io("write deny to", proc_dir.join("setgroups"), e))?;
    }
    write_map(&proc_dir, pid, &uids, Kind::Uid, rootless)?;
    write_map(&proc_dir, pid, &gids, Kind::Gid, rootless)
}

/// One line mapping exactly the user's own id: what an unprivileged writer may write.
fn only_own_id(maps: &[LinuxIdMapping], kind: Kind) -> bool {
    matches!(maps, [m] if m.host_id() == kind.own_id() && m.size() == 1)
}

fn write_map(
    proc_dir: &Path,
    pid: i32,
    maps: &[LinuxIdMapping],
    kind: Kind,
    rootless: bool,
) -> Result<()> {
    if rootless && !maps.is_empty() && !only_own_id(maps, kind) {
        return run_helper(pid, maps, kind);
    }
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    std::fs::write(proc_dir.join(kind.file()), &text).map_err(|e| {
        Error::Spec(format!(
            "{} {text:?}: cannot write {}: {e}",
            kind.field(),
            kind.file()
        ))
    })
}

/// `newuidmap PID ID HOSTID SIZE...` (or newgidmap): the helper checks /etc/subuid
/// (/etc/subgid) and writes the map.
fn run_helper(pid: i32, maps: &[LinuxIdMapping], kind: Kind) -> Result<()> {
    let helper = find_helper(kind.helper()).ok_or_else(|| {
        Error::Spec(format!(
            "{}: a non-root user's mapping other than its own id needs {} (package uidmap), which is not installed",
            kind.field(),
            kind.helper()
        ))
    })?;
    let mut cmd = Command::new(&helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.arg(m.container_id().to_string())
            .arg(m.host_id().to_string())
            .arg(m.size().to_string());
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::io("run", &helper, e))?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Error::Spec(format!(
        "{}: {} failed ({}): {why} (are the ranges in /etc/sub{}id for uid {}?)",
        kind.field(),
        helper.display(),
        out.status,
        match kind {
            Kind::Uid => "u",
            Kind::Gid => "g",
        },
        nix::unistd::getuid()
    )))
}

/// The helper in PATH, else in the usual places (a caller may give podrun a minimal PATH).
fn find_helper(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(json: &str) -> Vec<LinuxIdMapping> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn own_id_is_one_line_of_size_one() {
        let me = nix::unistd::geteuid().as_raw();
        let one = maps(&format!(r#"[{{"containerID":0,"hostID":{me},"size":1}}]"#));
        assert!(only_own_id(&one, Kind::Uid));
        let other = maps(&format!(
            r#"[{{"containerID":0,"hostID":{},"size":1}}]"#,
            me + 1
        ));
        assert!(!only_own_id(&other, Kind::Uid));
        let ranges = maps(&format!(
            r#"[{{"containerID":0,"hostID":{me},"size":1}},{{"containerID":1,"hostID":100000,"size":65536}}]"#
        ));
        assert!(!only_own_id(&ranges, Kind::Uid));
        assert!(!only_own_id(&[], Kind::Uid));
    }
}
