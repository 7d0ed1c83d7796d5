//! The runtime's state: `<root>/<id>/state.json` per container, locking, and the status
//! derived from the live process (never trusted from the file alone).
//!
//! Layout:
//! ```text
//! <root>/<id>/state.json   ContainerState (written atomically)
//! <root>/<id>/exec.fifo    present while the container is `created`; `start` consumes it
//! <root>/<id>/recovery     cgroup path, init pid + start time (for delete --force without state.json)
//! <root>/pods/<name>/      pod state (see crate::pod); the id "pods" is reserved
//! ```
//! `mkdir <root>/<id>` is the atomic reservation of an id; every mutating command holds an
//! exclusive `flock` on the container's directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::sys;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// `<cgroup path>\n<init pid> <init start time>\n`, written next to state.json by create so
/// that `delete --force` still finds the init and the cgroup when state.json is corrupt or gone.
pub const RECOVERY_FILE: &str = "recovery";
/// Directory names under the root that are not containers.
pub const RESERVED_IDS: &[&str] = &["pods"];

/// Checks a container id: `[A-Za-z0-9_.+-]+`, not `.` or `..`, at most 1024 bytes.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::InvalidName {
            kind: "container id",
            name: id.to_string(),
            why,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if id.len() > 1024 {
        return bad("is longer than 1024 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
    {
        return bad("may only contain [A-Za-z0-9_.+-]");
    }
    if RESERVED_IDS.contains(&id) {
        return bad("is reserved by podrun");
    }
    Ok(())
}

/// A container's state directory, held under an exclusive flock while this value lives.
#[derive(Debug)]
pub struct StateDir {
    pub dir: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Reserves `id`: creates `<root>/<id>` (atomically; an existing one means the container
    /// exists) and locks it.
    pub fn reserve(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        ensure_root(root)?;
        let dir = root.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::ContainerExists(id.to_string()))
            }
            Err(e) => return Err(Error::io("create state dir", &dir, e)),
        }
        match Self::lock_dir(dir.clone()) {
            Ok(s) => Ok(s),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Locks the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.is_dir() {
            return Err(Error::ContainerNotFound(id.to_string()));
        }
        Self::lock_dir(dir)
    }

    fn lock_dir(dir: PathBuf) -> Result<StateDir> {
        let f = File::open(&dir).io("open state dir", &dir)?;
        // SAFETY: flock on a valid fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io("lock", &dir, std::io::Error::last_os_error()));
        }
        Ok(StateDir { dir, _lock: f })
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove state dir", &self.dir, e)),
        }
    }
}

/// Creates the root directory (mode 0700) if missing.
pub fn ensure_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && sys::rootless() => {
            Err(Error::Usage(format!(
                "create root dir {}: {e} (running as a non-root user: set XDG_RUNTIME_DIR, whose podrun/ is the default state root then, or pass --root DIR)",
                root.display()
            )))
        }
        Err(e) => Err(Error::io("create root dir", root, e)),
    }
}

/// The user owning a container's state dir (runc's `list` OWNER): the name from the passwd
/// database, else the uid; empty when the dir is gone.
pub fn owner_of(root: &Path, id: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(root.join(id)) else {
        return String::new();
    };
    let uid = nix::unistd::Uid::from_raw(meta.uid());
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// The default state root: `/run/podrun` for root; for a non-root user
/// `$XDG_RUNTIME_DIR/podrun` when XDG_RUNTIME_DIR is set, else `/run/podrun` too (runc's
/// choice: `/run/user/<uid>/runc` or `/run/runc`; creating it then fails with a hint).
pub fn default_root() -> PathBuf {
    // runc too honours XDG_RUNTIME_DIR as uid 0 inside a user namespace (rootless podman
    // calls the runtime there, without --root).
    default_root_for(
        sys::rootless() || sys::in_user_namespace(),
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
}

fn default_root_for(rootless: bool, xdg: Option<std::ffi::OsString>) -> PathBuf {
    match xdg {
        Some(x) if rootless && !x.is_empty() => PathBuf::from(x).join("podrun"),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

/// The state root of root (and of a non-root user without XDG_RUNTIME_DIR).
pub const DEFAULT_ROOT: &str = "/run/podrun";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What podrun remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    /// Host PID of the container's init (0 before it exists).
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot): guards against PID reuse.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// True until `create` finished; a crashed create leaves it set.
    #[serde(default)]
    pub creating: bool,
    /// The container's cgroup path (relative to each hierarchy root), if it has one.
    #[serde(default)]
    pub cgroup_path: Option<String>,
    /// Hooks still to run after create (poststart, poststop).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The container's process, the defaults for `exec`.
    #[serde(default)]
    pub process: Option<oci_spec::runtime::Process>,
    /// Namespace types the container has (created or joined), which `exec` joins.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// The pod this container belongs to, if any.
    #[serde(default)]
    pub pod: Option<String>,
    /// Whether the container's rootfs was set up without pivot_root (for exec).
    #[serde(default)]
    pub no_pivot: bool,
    /// The container's seccomp profile, which `exec` applies too.
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

impl ContainerState {
    pub fn path(root: &Path, id: &str) -> PathBuf {
        root.join(id).join(STATE_FILE)
    }

    /// Loads the state of `id`; a missing container is `ContainerNotFound`.
    pub fn load(root: &Path, id: &str) -> Result<ContainerState> {
        validate_id(id)?;
        let path = Self::path(root, id);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::ContainerNotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::other(format!("corrupt state file {}: {e}", path.display())))
    }

    pub fn save(&self, dir: &StateDir) -> Result<()> {
        let data =
            serde_json::to_vec(self).map_err(|e| Error::other(format!("encode state: {e}")))?;
        sys::write_atomic(&dir.state_file(), &data)
    }

    /// True while the init process recorded here is alive (not a reused PID).
    pub fn init_alive(&self) -> bool {
        sys::process_matches(self.pid, self.start_time)
    }

    /// The status from the live system: the process, the exec fifo, the freezer.
    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.creating {
            return Status::Creating;
        }
        // a created container can be paused too (runc reports it paused)
        if self.is_frozen() {
            return Status::Paused;
        }
        if root.join(&self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        Status::Running
    }

    fn is_frozen(&self) -> bool {
        self.cgroup_path
            .as_deref()
            .is_some_and(|p| crate::cgroups::Cgroup::from_path(p).is_frozen())
    }

    /// The runtime-spec state object, with runc's extra `rootfs`, `created` and `owner`.
    pub fn oci_state(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": pid,
            "status": status.to_string(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }

    /// The state JSON given to hooks on stdin.
    pub fn hook_state(&self, status: Status) -> Vec<u8> {
        let mut v = self.oci_state(status);
        v["pid"] = serde_json::json!(self.pid);
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// A short stable hash of a state root (FNV-1a 32, 8 hex digits): host-wide names (cgroups,
/// IPAM owners) carry it so that two state roots never share one.
pub fn root_hash(root: &Path) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// A container's cgroup when config.json names none: `/podrun/<id>-<hash of the state root>`
/// (cgroup paths are host-wide; two roots may both have a container `x`).
pub fn default_cgroup_path(root: &Path, id: &str) -> String {
    format!("/podrun/{id}-{}", root_hash(root))
}

/// What `delete --force` needs when state.json is unreadable: the cgroup path and the init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// None: the container has no cgroup (rootless without a delegated one).
    pub cgroup_path: Option<String>,
    /// (pid, start time) once the init exists.
    pub init: Option<(i32, u64)>,
}

impl Recovery {
    pub fn save(&self, dir: &StateDir) -> Result<()> {
        let init = self
            .init
            .map(|(p, t)| format!("{p} {t}"))
            .unwrap_or_default();
        sys::write_atomic(
            &dir.dir.join(RECOVERY_FILE),
            format!(
                "{}\n{init}\n",
                self.cgroup_path.as_deref().unwrap_or_default()
            )
            .as_bytes(),
        )
    }

    /// The record in `dir`, if readable.
    pub fn load(dir: &Path) -> Option<Recovery> {
        let text = std::fs::read_to_string(dir.join(RECOVERY_FILE)).ok()?;
        let mut lines = text.lines();
        let cgroup_path = lines.next()?.trim().to_string();
        let cgroup_path = match cgroup_path.as_str() {
            "" => None,
            p if !p.starts_with('/') || p.contains("..") => return None,
            _ => Some(cgroup_path),
        };
        let init = lines.next().and_then(|l| {
            let (p, t) = l.trim().split_once(' ')?;
            Some((p.parse().ok()?, t.parse().ok()?))
        });
        Some(Recovery { cgroup_path, init })
    }
}

/// Ids of all containers under `root` (directories with a valid id), sorted.
pub fn list_ids(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| validate_id(id).is_ok())
        .collect();
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3+x", "A9"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "pods", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_id(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn default_root_follows_xdg_for_non_root_only() {
        let xdg = Some(std::ffi::OsString::from("/run/user/1000"));
        assert_eq!(
            default_root_for(true, xdg.clone()),
            PathBuf::from("/run/user/1000/podrun")
        );
        assert_eq!(default_root_for(false, xdg), PathBuf::from("/run/podrun"));
        assert_eq!(default_root_for(true, None), PathBuf::from("/run/podrun"));
        assert_eq!(
            default_root_for(true, Some("".into())),
            PathBuf::from("/run/podrun")
        );
    }

    #[test]
    fn reserve_is_exclusive() {
        let root = std::env::temp_dir().join(format!("podrun-state-test-{}", std::process::id()));
        let a = StateDir::reserve(&root, "c1").unwrap();
        match StateDir::reserve(&root, "c1") {
            Err(Error::ContainerExists(id)) => assert_eq!(id, "c1"),
            other => panic!("expected exists, got {other:?}"),
        }
        a.remove().unwrap();
        assert!(StateDir::reserve(&root, "c1").unwrap().remove().is_ok());
        assert!(matches!(
            StateDir::open(&root, "nope"),
            Err(Error::ContainerNotFound(_))
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
