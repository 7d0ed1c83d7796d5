//! cgroups: find the container's cgroup in every hierarchy (v1, v2, hybrid), create it,
//! apply `linux.resources`, move processes in, freeze, read stats, remove.
//!
//! Own code rather than youki's `libcgroups`: that crate pins its own oci-spec and nix
//! versions (its resource types would not be ours), pulls procfs/dbus, and on a hybrid host
//! it drives only the v1 hierarchies, while here hugetlb exists only in the unified one.
//!
//! Layouts: **V1** every controller has its own (or a shared) v1 hierarchy; **V2** one
//! cgroup2 hierarchy; **Hybrid** v1 hierarchies plus a cgroup2 mount (usually
//! /sys/fs/cgroup/unified) whose `cgroup.controllers` lists what v1 did not take. Like runc,
//! a container joins the same relative path in every v1 hierarchy (name=systemd included)
//! and, on hybrid, in the unified hierarchy too. Each controller is driven in the hierarchy
//! that owns it.

mod bpf;
mod devices;
mod fs;
mod oom;
pub(crate) mod resources;
pub mod rootless;
mod stats;
pub mod systemd;
pub use oom::OomWatch;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How long freeze/thaw and destroy wait for the kernel before giving up.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// True when PID 1 is systemd (so `--systemd-cgroup` could work).
pub fn systemd_available() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// Which layout this host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
    Hybrid,
}

/// The layout of this host's cgroup mounts.
pub fn layout() -> Layout {
    layout_of(&hierarchies())
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// A v1 hierarchy and the controllers bound to it (`name=systemd` included).
    V1 {
        mount: PathBuf,
        controllers: Vec<String>,
    },
    /// The cgroup2 hierarchy.
    V2 { mount: PathBuf },
}

fn layout_of(hs: &[Hierarchy]) -> Layout {
    let v1 = hs.iter().any(|h| match h {
        Hierarchy::V1 { controllers, .. } => controllers.iter().any(|c| !c.starts_with("name=")),
        Hierarchy::V2 { .. } => false,
    });
    let v2 = hs.iter().any(|h| matches!(h, Hierarchy::V2 { .. }));
    match (v1, v2) {
        (true, true) => Layout::Hybrid,
        (false, true) => Layout::V2,
        _ => Layout::V1,
    }
}

/// The cgroup directory of one v1 hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct V1Dir {
    pub(crate) controllers: Vec<String>,
    pub(crate) mount: PathBuf,
    pub(crate) dir: PathBuf,
}

/// A container's cgroup: the same relative path in every mounted hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// Path relative to each hierarchy's root, starting with `/`.
    pub path: String,
    /// Absolute directories of this cgroup, one per hierarchy.
    pub dirs: Vec<PathBuf>,
    layout: Layout,
    v1: Vec<V1Dir>,
    /// (mount, dir) in the cgroup2 hierarchy.
    v2: Option<(PathBuf, PathBuf)>,
}

impl Cgroup {
    /// The cgroup for a container: `cgroups_path` as given (absolute, or relative to the
    /// hierarchy root — the spec leaves the base to the runtime), else `/podrun/<id>` (`create`
    /// always passes a path: config.json's, or `state::default_cgroup_path`).
    /// The systemd form `slice:prefix:name` is refused here: it needs `--systemd-cgroup`
    /// ([`systemd`]).
    pub fn for_container(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let path = match cgroups_path {
            Some(p) => {
                reject_systemd_form(p)?;
                if p.starts_with('/') {
                    p.to_string()
                } else {
                    format!("/{p}")
                }
            }
            None => format!("/podrun/{id}"),
        };
        validate_path(&path)?;
        Ok(Cgroup::from_path(&path))
    }

    /// The cgroup at `path` (relative to every hierarchy root) on this host's mounts.
    pub fn from_path(path: &str) -> Cgroup {
        Cgroup::with_hierarchies(path, &hierarchies())
    }

    pub(crate) fn with_hierarchies(path: &str, hs: &[Hierarchy]) -> Cgroup {
        let rel = path.trim_start_matches('/');
        let mut v1 = Vec::new();
        let mut v2 = None;
        for h in hs {
            match h {
                Hierarchy::V1 { mount, controllers } => v1.push(V1Dir {
                    controllers: controllers.clone(),
                    mount: mount.clone(),
                    dir: mount.join(rel),
                }),
                Hierarchy::V2 { mount } => {
                    if v2.is_none() {
                        v2 = Some((mount.clone(), mount.join(rel)));
                    }
                }
            }
        }
        let dirs = v1
            .iter()
            .map(|d| d.dir.clone())
            .chain(v2.iter().map(|(_, d)| d.clone()))
            .collect();
        Cgroup {
            path: format!("/{rel}"),
            dirs,
            layout: layout_of(hs),
            v1,
            v2,
        }
    }

    /// The layout this cgroup lives in.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The cgroup's directory in the v1 hierarchy that has `controller`.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.dir.as_path())
    }

    /// The cgroup's v2 directory.
    pub(crate) fn v2_dir(&self) -> Option<&Path> {
        self.v2.as_ref().map(|(_, d)| d.as_path())
    }

    /// True when the cgroup2 hierarchy offers `controller` (on hybrid: only what v1 left).
    pub(crate) fn v2_has(&self, controller: &str) -> bool {
        let Some((mount, _)) = &self.v2 else {
            return false;
        };
        fs::get(mount, "cgroup.controllers")
            .is_some_and(|s| s.split_whitespace().any(|c| c == controller))
    }

    /// Where `controller` is driven: its v1 directory, else the v2 directory when the v2
    /// hierarchy has it.
    pub(crate) fn controller_dir(&self, controller: &str) -> Option<Ctl<'_>> {
        if let Some(d) = self.v1_dir(controller) {
            return Some(Ctl::V1(d));
        }
        if self.v2_has(controller) {
            return self.v2_dir().map(Ctl::V2);
        }
        None
    }

    /// Creates the cgroup in every hierarchy (parents too). v1 cpuset: empty
    /// cpuset.cpus/mems are copied down from the parent (else joining fails with ENOSPC).
    /// Pure v2: every available controller is enabled in the parents' subtree_control.
    pub fn create(&self) -> Result<()> {
        let rel = self.path.trim_start_matches('/');
        for d in &self.v1 {
            let cpuset = d.controllers.iter().any(|c| c == "cpuset");
            let mut parent = d.mount.clone();
            for dir in fs::chain(&d.mount, rel) {
                fs::mkdir(&dir)?;
                if cpuset {
                    inherit_cpuset(&parent, &dir)?;
                }
                parent = dir;
            }
        }
        if let Some((mount, _)) = &self.v2 {
            if self.layout == Layout::V2 {
                let all = fs::get(mount, "cgroup.controllers").unwrap_or_default();
                let wanted: Vec<&str> = all.split_whitespace().collect();
                self.enable_v2_controllers(&wanted)?;
            }
            for d in fs::chain(mount, rel) {
                fs::mkdir(&d)?;
            }
        }
        Ok(())
    }

    /// Enables `controllers` in cgroup.subtree_control of every ancestor of this cgroup
    /// (creating the ancestors), like runc: all at once, else one by one (warning on each
    /// that the kernel refuses).
    pub(crate) fn enable_v2_controllers(&self, controllers: &[&str]) -> Result<()> {
        let Some((mount, _)) = &self.v2 else {
            return Ok(());
        };
        let rel = self.path.trim_start_matches('/');
        let mut ancestors = vec![mount.clone()];
        let chain = fs::chain(mount, rel);
        ancestors.extend(chain.iter().take(chain.len().saturating_sub(1)).cloned());
        for a in &ancestors {
            fs::mkdir(a)?;
            enable_in_subtree(a, controllers)?;
        }
        Ok(())
    }

    /// Moves a process into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        let value = pid.to_string();
        for d in &self.dirs {
            let f = d.join("cgroup.procs");
            if let Err(e) = fs::write_once(&f, &value) {
                let hint = if e.raw_os_error() == Some(libc::ENOSPC) {
                    " (empty cpuset.cpus/mems, or controllers enabled in this cgroup's subtree_control)"
                } else {
                    ""
                };
                return Err(Error::other(format!(
                    "cgroup: move pid {pid} into {}: {e}{hint}",
                    f.display()
                )));
            }
        }
        Ok(())
    }

    /// Every process in the cgroup (host PIDs), from all hierarchies, sorted, no repeats.
    pub fn pids(&self) -> Vec<i32> {
        let mut out: Vec<i32> = Vec::new();
        for d in &self.dirs {
            if let Some(s) = fs::get(d, "cgroup.procs") {
                out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Opens what a new process needs to enter this cgroup by itself (see [`Entry`]).
    /// The cgroup must exist ([`Cgroup::create`]).
    pub fn entry(&self) -> Result<Entry> {
        let mut tasks = Vec::with_capacity(self.v1.len());
        for d in &self.v1 {
            let path = d.dir.join("tasks");
            let fd = nix::fcntl::open(
                &path,
                nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::sys(format!("cgroup: open {}", path.display()), e))?;
            tasks.push((path, fd));
        }
        let v2_dir = match self.v2_dir() {
            Some(dir) => {
                let flags = nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC;
                let fd = nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty())
                    .map_err(|e| Error::sys(format!("cgroup: open {}", dir.display()), e))?;
                Some((dir.to_path_buf(), fd))
            }
            None => None,
        };
        Ok(Entry { tasks, v2_dir })
    }

    /// Moves `pid` into the cgroup's v2 directory only (after a clone that could not use
    /// CLONE_INTO_CGROUP); the v1 hierarchies are entered by the process itself.
    pub fn add_pid_v2(&self, pid: i32) -> Result<()> {
        let Some(d) = self.v2_dir() else {
            return Ok(());
        };
        let f = d.join("cgroup.procs");
        fs::write_once(&f, &pid.to_string())
            .map_err(|e| Error::other(format!("cgroup: move pid {pid} into {}: {e}", f.display())))
    }

    /// Applies `linux.resources`; see [`resources`] for the per-controller rules.
    pub fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        resources::apply(self, r)
    }

    /// Statistics now; they serialize to runc's `events --stats` shape.
    pub fn stats(&self) -> Result<Stats> {
        stats::collect(self)
    }

    /// Freezes every process: v1 freezer.state FROZEN, else v2 cgroup.freeze; returns once
    /// the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<()> {
        if let Some(d) = self.v1_dir("freezer") {
            return freeze_v1(d);
        }
        if let Some(d) = self.v2_dir() {
            return set_v2_frozen(d, true);
        }
        Err(Error::other(format!(
            "cgroup {}: no freezer (no v1 freezer, no cgroup2)",
            self.path
        )))
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<()> {
        if let Some(d) = self.v1_dir("freezer") {
            return fs::set_strict(d, "freezer.state", "THAWED");
        }
        if let Some(d) = self.v2_dir() {
            return set_v2_frozen(d, false);
        }
        Err(Error::other(format!(
            "cgroup {}: no freezer (no v1 freezer, no cgroup2)",
            self.path
        )))
    }

    /// True when the cgroup is (completely) frozen.
    pub fn is_frozen(&self) -> bool {
        if let Some(d) = self.v1_dir("freezer") {
            return fs::get(d, "freezer.state").as_deref() == Some("FROZEN");
        }
        match self.v2_dir() {
            Some(d) => fs::keyed(&fs::get_keyed(d, "cgroup.events"), "frozen") == Some(1),
            None => false,
        }
    }

    /// Sends `sig` to every process in the cgroup. For SIGKILL: cgroup.kill on pure v2,
    /// else freeze, signal every pid, thaw (runc's signalAllProcesses), so nothing forks
    /// out from under the loop.
    pub fn kill_all(&self, sig: i32) -> Result<()> {
        let signal = nix::sys::signal::Signal::try_from(sig)
            .map_err(|e| Error::sys(format!("signal number {sig}"), e))?;
        if signal != nix::sys::signal::Signal::SIGKILL {
            return signal_pids(&self.pids(), signal);
        }
        if self.layout == Layout::V2 {
            if let Some(d) = self.v2_dir() {
                if d.join("cgroup.kill").exists() {
                    return fs::set_strict(d, "cgroup.kill", "1");
                }
            }
        }
        let frozen = match self.freeze() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("kill_all: freeze {}: {e}", self.path);
                false
            }
        };
        let sent = signal_pids(&self.pids(), signal);
        // Frozen tasks take SIGKILL only once thawed.
        let thawed = if frozen { self.thaw() } else { Ok(()) };
        sent.and(thawed)
    }

    /// Removes the cgroup from every hierarchy. Processes still inside are killed
    /// (SIGKILL) and the removal retried until they are gone (bounded wait).
    pub fn destroy(&self) -> Result<()> {
        if self.remove_dirs().is_ok() {
            return Ok(());
        }
        tracing::debug!("cgroup {}: busy, killing what is left", self.path);
        self.kill_all(libc::SIGKILL)?;
        self.wait_empty()?;
        self.remove_dirs()
    }

    /// rmdir in every hierarchy; missing directories are fine. Tries all, returns the
    /// first error.
    fn remove_dirs(&self) -> Result<()> {
        let mut first = None;
        for d in &self.dirs {
            match std::fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first.get_or_insert(Error::io("remove cgroup", d, e));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Waits until no process is left: v2 cgroup.events `populated 0` (poll on the file),
    /// v1 re-reading cgroup.procs with a short bounded backoff.
    fn wait_empty(&self) -> Result<()> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let v2_busy = self.v2_dir().is_some_and(|d| {
                fs::keyed(&fs::get_keyed(d, "cgroup.events"), "populated") == Some(1)
            });
            if !v2_busy && self.pids().is_empty() {
                return Ok(());
            }
            let left = SETTLE_LIMIT.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(Error::other(format!(
                    "cgroup {}: processes {:?} still present after {}s",
                    self.path,
                    self.pids(),
                    SETTLE_LIMIT.as_secs()
                )));
            }
            match self.v2_dir() {
                Some(d) if v2_busy => wait_events_change(d, left.min(Duration::from_millis(100)))?,
                _ => {
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }
}

/// How a new process enters its cgroup without anyone writing its pid into `cgroup.procs`.
///
/// Writing a pid to `cgroup.procs` (v1 or v2) takes the kernel's global
/// `cgroup_threadgroup_rwsem` for writing, and the first writer after the machine was idle
/// waits for an RCU grace period (~14 ms here). Two moves skip that lock:
/// - v1: a thread writing `0` (itself) to a hierarchy's `tasks` file: the kernel needs no
///   threadgroup stability to move the caller alone, and a freshly forked init is
///   single-threaded, so moving the thread moves the process;
/// - v2: `clone3(CLONE_INTO_CGROUP)` with [`Entry::v2_fd`]: the child is born in the cgroup.
///
/// The fds are opened by the runtime before the fork (so the child needs no path lookups)
/// and are close-on-exec.
#[derive(Debug)]
pub struct Entry {
    /// `<dir>/tasks` of every v1 hierarchy, opened for writing.
    pub tasks: Vec<(PathBuf, OwnedFd)>,
    /// The v2 directory (O_PATH), for CLONE_INTO_CGROUP.
    pub v2_dir: Option<(PathBuf, OwnedFd)>,
}

impl Entry {
    /// The v2 directory fd for clone3, if there is a v2 hierarchy.
    pub fn v2_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.v2_dir.as_ref().map(|(_, fd)| fd.as_raw_fd())
    }

    /// Called by the new process itself: moves the calling thread (the whole process, when
    /// single-threaded) into every v1 hierarchy. Async-signal-safe on success: one `write`
    /// per hierarchy, no allocation. On failure: the `tasks` file and the errno.
    pub fn enter_self(&self) -> std::result::Result<(), (&Path, nix::errno::Errno)> {
        use std::os::fd::AsRawFd;
        for (path, fd) in &self.tasks {
            // SAFETY: write of a 1-byte static buffer to an fd we own.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err((path.as_path(), nix::errno::Errno::last()));
            }
        }
        Ok(())
    }
}

/// Where a controller lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ctl<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn reject_systemd_form(p: &str) -> Result<()> {
    let parts: Vec<&str> = p.split(':').collect();
    if parts.len() == 3 && !p.starts_with('/') && parts.iter().all(|s| !s.contains('/')) {
        let why = if systemd_available() {
            "--systemd-cgroup was not given (the cgroupfs driver takes a path)"
        } else {
            "systemd is not running on this host"
        };
        return Err(Error::Spec(format!(
            "linux.cgroupsPath {p:?} is in the systemd form slice:prefix:name, but {why}"
        )));
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<()> {
    if path.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::Spec(format!(
            "linux.cgroupsPath {path:?}: '.' and '..' are not allowed"
        )));
    }
    if path.trim_matches('/').is_empty() {
        return Err(Error::Spec(format!(
            "linux.cgroupsPath {path:?}: the root cgroup cannot be a container's"
        )));
    }
    Ok(())
}

/// Copies the parent's cpuset.cpus / cpuset.mems into `dir` when they are empty.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if fs::get(dir, file).is_some_and(|v| v.is_empty()) {
            let value = fs::get(parent, file).unwrap_or_default();
            fs::set_strict(dir, file, &value)?;
        }
    }
    Ok(())
}

/// Enables `controllers` (those the cgroup offers and has not enabled yet) in `dir`'s
/// subtree_control.
fn enable_in_subtree(dir: &Path, controllers: &[&str]) -> Result<()> {
    let offered = fs::get(dir, "cgroup.controllers").unwrap_or_default();
    let enabled = fs::get(dir, "cgroup.subtree_control").unwrap_or_default();
    let missing: Vec<&str> = controllers
        .iter()
        .copied()
        .filter(|c| offered.split_whitespace().any(|o| o == *c))
        .filter(|c| !enabled.split_whitespace().any(|o| o == *c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    let path = dir.join("cgroup.subtree_control");
    if fs::write_once(&path, &all.join(" ")).is_ok() {
        return Ok(());
    }
    for c in missing {
        if let Err(e) = fs::write_once(&path, &format!("+{c}")) {
            tracing::warn!("cgroup: enable {c} in {}: {e}", path.display());
        }
    }
    Ok(())
}

fn freeze_v1(dir: &Path) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        fs::set_strict(dir, "freezer.state", "FROZEN")?;
        match fs::get(dir, "freezer.state").as_deref() {
            Some("FROZEN") => return Ok(()),
            Some(_) if start.elapsed() < SETTLE_LIMIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            state => {
                let _ = fs::set_strict(dir, "freezer.state", "THAWED");
                return Err(Error::other(format!(
                    "cgroup: {} still {state:?} after {}s, thawed again",
                    dir.join("freezer.state").display(),
                    SETTLE_LIMIT.as_secs()
                )));
            }
        }
    }
}

/// Writes cgroup.freeze and waits for cgroup.events `frozen` to match.
fn set_v2_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let want = u64::from(frozen);
    fs::set_strict(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let start = Instant::now();
    loop {
        if fs::keyed(&fs::get_keyed(dir, "cgroup.events"), "frozen") == Some(want) {
            return Ok(());
        }
        let left = SETTLE_LIMIT.saturating_sub(start.elapsed());
        if left.is_zero() {
            if frozen {
                let _ = fs::set_strict(dir, "cgroup.freeze", "0");
            }
            return Err(Error::other(format!(
                "cgroup: {} did not report frozen {want} within {}s",
                dir.join("cgroup.events").display(),
                SETTLE_LIMIT.as_secs()
            )));
        }
        wait_events_change(dir, left.min(Duration::from_millis(100)))?;
    }
}

/// Blocks until cgroup.events changes (kernfs notifies pollers with POLLPRI) or `timeout`.
fn wait_events_change(dir: &Path, timeout: Duration) -> Result<()> {
    use std::os::fd::AsFd;
    let path = dir.join("cgroup.events");
    let file = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    // A poll on a kernfs file first reports the current state once it has been read.
    let _ = std::io::Read::read(&mut &file, &mut [0u8; 256]);
    let mut fds = [nix::poll::PollFd::new(
        file.as_fd(),
        nix::poll::PollFlags::POLLPRI,
    )];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(Error::sys(format!("poll {}", path.display()), e)),
    }
}

fn signal_pids(pids: &[i32], sig: nix::sys::signal::Signal) -> Result<()> {
    for &pid in pids {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(Error::sys(format!("kill({pid}, {sig})"), e)),
        }
    }
    Ok(())
}

/// One cgroup or cgroup2 mount of this process's mount table (a line of mountinfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    pub mount_point: PathBuf,
    /// Root of the mount inside its hierarchy (mountinfo field 4).
    pub root: PathBuf,
    /// A v1 mount's controllers, `name=systemd` included (sorted); None for cgroup2.
    pub v1_controllers: Option<Vec<String>>,
}

/// This host's cgroup mounts, read from /proc/self/mountinfo once per process (None: it
/// could not be read). Every later call is answered from memory, and so is a forked
/// container init that inherits it: the kernel writes out every mount of the table for each
/// read (~0.1 ms more per read once 100 pods hold their 300 namespace bind mounts), and one
/// `run` asked for them five times. podrun never mounts or unmounts a cgroup hierarchy of the
/// host, so the answer cannot go stale within one invocation.
pub(crate) fn cgroup_mounts() -> Option<&'static [CgroupMount]> {
    static MOUNTS: std::sync::OnceLock<Option<Vec<CgroupMount>>> = std::sync::OnceLock::new();
    MOUNTS
        .get_or_init(|| {
            std::fs::read_to_string("/proc/self/mountinfo")
                .ok()
                .map(|t| parse_cgroup_mounts(&t))
        })
        .as_deref()
}

/// The cgroup and cgroup2 lines of a mountinfo text; v1 mounts without a controller are left out.
fn parse_cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split_whitespace().collect();
        let right: Vec<&str> = right.split_whitespace().collect();
        let (Some(root), Some(mp), Some(fstype)) = (left.get(3), left.get(4), right.first()) else {
            continue;
        };
        let v1_controllers = match *fstype {
            "cgroup2" => None,
            "cgroup" => {
                let controllers = v1_controllers(right.get(2).copied().unwrap_or(""));
                if controllers.is_empty() {
                    continue;
                }
                Some(controllers)
            }
            _ => continue,
        };
        out.push(CgroupMount {
            mount_point: PathBuf::from(unescape_mountinfo(mp)),
            root: PathBuf::from(unescape_mountinfo(root)),
            v1_controllers,
        });
    }
    out
}

/// The mounted cgroup hierarchies, one per hierarchy (first mount wins, mounts of the
/// hierarchy root preferred).
pub(crate) fn hierarchies() -> Vec<Hierarchy> {
    hierarchies_of(cgroup_mounts().unwrap_or_default())
}

fn hierarchies_of(mounts: &[CgroupMount]) -> Vec<Hierarchy> {
    let mut found: Vec<(bool, Hierarchy)> = mounts
        .iter()
        .map(|m| {
            let mount = m.mount_point.clone();
            let h = match &m.v1_controllers {
                None => Hierarchy::V2 { mount },
                Some(controllers) => Hierarchy::V1 {
                    mount,
                    controllers: controllers.clone(),
                },
            };
            (m.root == Path::new("/"), h)
        })
        .collect();
    // Stable: root mounts first, then dedup by hierarchy identity.
    found.sort_by_key(|(is_root, _)| !*is_root);
    let mut out: Vec<Hierarchy> = Vec::new();
    for (_, h) in found {
        let dup = out.iter().any(|o| match (o, &h) {
            (Hierarchy::V2 { .. }, Hierarchy::V2 { .. }) => true,
            (Hierarchy::V1 { controllers: a, .. }, Hierarchy::V1 { controllers: b, .. }) => a == b,
            _ => false,
        });
        if !dup {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
fn parse_mountinfo(mountinfo: &str) -> Vec<Hierarchy> {
    hierarchies_of(&parse_cgroup_mounts(mountinfo))
}

/// Controller names in a v1 mount's super options (`rw,cpu,cpuacct`, `rw,name=systemd`).
fn v1_controllers(opts: &str) -> Vec<String> {
    const NOT_CONTROLLERS: &[&str] = &[
        "rw",
        "ro",
        "clone_children",
        "noprefix",
        "xattr",
        "cpuset_v2_mode",
        "favordynmods",
        "nofavordynmods",
    ];
    let mut c: Vec<String> = opts
        .split(',')
        .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent="))
        .map(str::to_string)
        .collect();
    c.sort();
    c
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
