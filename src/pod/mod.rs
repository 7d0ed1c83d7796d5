//! Pods: a pause process owning net, ipc and uts (and, with `share_pid`, pid) namespaces,
//! its namespaces bind-mounted under the pod's state dir, and a bundled network.
//!
//! State dir `<root>/pods/<NAME>/`:
//! - `state.json`: [`PodState`] (written with tmp + rename);
//! - `lock`: `flock`ed around every read-modify-write of the state (members, delete);
//! - `ns/{net,ipc,uts[,pid]}`: bind mounts of the pause's `/proc/<pid>/ns/*`, so joining
//!   never goes through a `/proc/<pid>` path that a recycled pid could redirect.
//!
//! The pause runs in cgroup `/podrun/pods/<NAME>-<hash of the state root>`; its pid and start time (field 22 of
//! `/proc/<pid>/stat`) are recorded and no signal is sent to a pid whose start time differs.
//! A pod is `running` while that process lives, else `stopped`.
//!
//! Network: unless `no_network`, [`crate::net::attach`] connects the pod netns to the node
//! bridge. The IPAM owner id is `podrun-<NAME>-<hash8(root)>` (unique per root), and the IPAM
//! network name is `podrun` for the default bridge, else the bridge's name (one store per
//! bridge, so pods on different bridges never share a store or a bridge marker).

pub mod pause;

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::LinuxNamespaceType;
use serde::{Deserialize, Serialize};

use crate::cgroups::systemd::path::UnitPath;
use crate::cgroups::Cgroup;
use crate::error::IoContext;
use crate::net::{self, Attachment, Ipv4Cidr, NetConfig};
use crate::{Error, Result};

/// Everything `pod create` can be asked for.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub name: String,
    pub hostname: Option<String>,
    pub share_pid: bool,
    /// The pause gets a PID namespace of its own (PID 1 there), which members join only
    /// when their spec names it (CRI's sandbox: a pod-wide PID namespace names the
    /// pause's `/proc/PID/ns/pid`). Implied by `share_pid`.
    pub pause_pid_ns: bool,
    /// The pause's argv[0], what `ps` and /proc/PID/cmdline show (default `podrun-pause`);
    /// CRI's sandbox: its spec's (the pause image's `/pause`), as with runc.
    pub pause_argv0: Option<String>,
    /// None: no network (the pod gets a netns with `lo` only).
    pub network: Option<NetConfig>,
    pub fixed_ip: Option<Ipv4Addr>,
    /// `--systemd-cgroup`: the pause's cgroup is a transient systemd scope.
    pub systemd_cgroup: bool,
    /// The pause's cgroupsPath: `slice:prefix:name` with the systemd driver (default
    /// `system.slice:podrun-pod:<name>-<hash of the root>`), else a cgroup path (default
    /// `/podrun/pods/<name>-<hash>`).
    pub cgroups_path: Option<String>,
    /// Join this existing network namespace (e.g. CNI's) instead of creating one: the pause
    /// runs in it and the pod's `ns/net` is it. `pod delete` only unbinds it.
    pub netns: Option<PathBuf>,
}

/// The network settings a pod was created with (what `detach` needs later).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodNet {
    pub network: String,
    pub bridge: String,
    pub subnet: Ipv4Cidr,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
    pub store_dir: PathBuf,
    pub ifname: String,
}

impl PodNet {
    fn from_config(c: &NetConfig) -> PodNet {
        PodNet {
            network: c.network.clone(),
            bridge: c.bridge.clone(),
            subnet: c.subnet,
            gateway: c.gateway,
            mtu: c.mtu,
            store_dir: c.store_dir.clone(),
            ifname: c.ifname.clone(),
        }
    }

    pub fn config(&self) -> NetConfig {
        NetConfig {
            network: self.network.clone(),
            bridge: self.bridge.clone(),
            subnet: self.subnet,
            gateway: self.gateway,
            mtu: self.mtu,
            store_dir: self.store_dir.clone(),
            ifname: self.ifname.clone(),
            ..NetConfig::default()
        }
    }
}

/// `state.json` of a pod (and what `pod state` prints, with `status` filled in live).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodState {
    pub name: String,
    /// `running` or `stopped`, computed from the pause process whenever the state is read.
    pub status: String,
    pub pid: i32,
    pub start_time: u64,
    /// The pod's address as a CIDR, or null without a network.
    pub ip: Option<String>,
    pub bridge: Option<String>,
    pub containers: Vec<String>,
    /// RFC 3339, UTC.
    pub created: String,
    pub hostname: String,
    pub share_pid: bool,
    pub owner_id: String,
    pub net: Option<PodNet>,
    pub network: Option<Attachment>,
    /// True until `pod create` finished: a create killed halfway leaves it set, and
    /// `pod delete --force` then cleans up by the recorded owner id and pause pid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// The pause's cgroup (relative to each hierarchy's root); empty for a rootless pod
    /// without a cgroup.
    #[serde(default)]
    pub cgroup_path: String,
    /// Rootless: the pause owns a user namespace that members join first, and its
    /// namespaces are joined through /proc/<pause>/ns (a user cannot bind-mount them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user_ns: bool,
    /// The existing network namespace the pod joined (`CreateOptions::netns`), not its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
}

pub fn pods_dir(root: &Path) -> PathBuf {
    root.join("pods")
}

pub fn pod_dir(root: &Path, name: &str) -> PathBuf {
    pods_dir(root).join(name)
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 characters.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::InvalidName {
            kind: "pod name",
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 64 {
        return bad("longer than 64 characters");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must start with a letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// The IPAM owner id of a pod: unique per (root, name).
pub fn owner_id(root: &Path, name: &str) -> String {
    format!("podrun-{name}-{}", crate::state::root_hash(root))
}

/// `/podrun/pods/<name>-<hash of the root>`: cgroup paths are host-wide, and two state roots
/// may both have a pod called `web`.
fn cgroup_path_of(root: &Path, name: &str) -> String {
    let owner = owner_id(root, name);
    format!(
        "/podrun/pods/{}",
        owner.strip_prefix("podrun-").unwrap_or(&owner)
    )
}

/// The pod's `lock` file, held (`flock`) for as long as this guard lives. Not re-entrant: a
/// function that runs under a held lock and must update the pod takes the guard (`&PodLock`)
/// as proof instead of locking again (a second `flock` on a new open file would wait for
/// ourselves forever). `pod delete --force` passes its guard down to the member deletes.
pub struct PodLock {
    _flock: Flock<File>,
    name: String,
}

impl PodLock {
    /// The pod this guard locks.
    pub fn pod(&self) -> &str {
        &self.name
    }
}

fn lock_pod(dir: &Path, name: &str) -> Result<PodLock> {
    let flock = crate::lockfile::lock_exclusive(&dir.join("lock"))?;
    Ok(PodLock {
        _flock: flock,
        name: name.to_string(),
    })
}

/// Reads a pod's state and fills in the live status.
pub fn load(root: &Path, name: &str) -> Result<PodState> {
    validate_name(name)?;
    let path = pod_dir(root, name).join("state.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::PodNotFound(name.to_string()));
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let mut st: PodState = serde_json::from_str(&text)
        .map_err(|e| Error::other(format!("parse {}: {e}", path.display())))?;
    st.status = status_of(&st).to_string();
    Ok(st)
}

fn status_of(st: &PodState) -> &'static str {
    if st.creating {
        "creating"
    } else if pause::is_alive(st.pid, st.start_time) {
        "running"
    } else {
        "stopped"
    }
}

fn save(root: &Path, st: &PodState) -> Result<()> {
    let dir = pod_dir(root, &st.name);
    let tmp = dir.join("state.json.tmp");
    let path = dir.join("state.json");
    let json = serde_json::to_vec_pretty(st)
        .map_err(|e| Error::other(format!("encode pod state: {e}")))?;
    std::fs::write(&tmp, json).io("write", &tmp)?;
    std::fs::rename(&tmp, &path).io("rename", &path)
}

/// Every pod under `root` (directories without a state.json, i.e. pods being created, are skipped).
pub fn list(root: &Path) -> Result<Vec<PodState>> {
    let dir = pods_dir(root);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.io("read", &dir)?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if validate_name(&name).is_err() || !entry.path().join("state.json").exists() {
            continue;
        }
        match load(root, &name) {
            Ok(st) => out.push(st),
            Err(e) => tracing::warn!("pod {name}: {e}"),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What a failed create has made so far; undone in reverse order on drop unless disarmed.
struct Rollback<'a> {
    root: &'a Path,
    name: &'a str,
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    /// The systemd driver started the pause's unit (recorded in the pod dir).
    systemd: bool,
    pause: Option<pause::Pause>,
    mounts: Vec<PathBuf>,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = unmount(m);
        }
        if let Some(p) = self.pause.take() {
            if let Err(e) = pause::stop(p.pid, p.start_time) {
                tracing::warn!("pod {}: rollback: stop pause {}: {e}", self.name, p.pid);
            }
            // we are still its parent: reap it
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p.pid), None);
        }
        if self.systemd {
            if let Some(d) = &self.dir {
                let cg = self.cgroup.take();
                if let Err(e) = crate::cgroups::systemd::release(d, cg.as_ref()) {
                    tracing::warn!("pod {}: rollback: {e}", self.name);
                }
            }
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = destroy_cgroup(&cg) {
                tracing::warn!("pod {}: rollback: {e}", self.name);
            }
        }
        if let Some(d) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                tracing::warn!("pod {}: rollback: remove {}: {e}", self.name, d.display());
            }
        }
        let _ = self.root;
    }
}

/// `pod create`: reserve the name, start the pause, bind-mount its namespaces, attach the
/// network, write the state. Any failure undoes all of it.
pub fn create(root: &Path, opts: &CreateOptions) -> Result<PodState> {
    let name = opts.name.as_str();
    validate_name(name)?;
    let rootless = crate::sys::rootless();
    if let Some(cfg) = &opts.network {
        if rootless {
            return Err(Error::Usage(format!(
                "pod create {name}: a pod with a network needs root (bridge, veth, addresses); as a non-root user use --no-network (the pod then has its own localhost)"
            )));
        }
        cfg.validate()?;
        if opts.netns.is_some() {
            return Err(Error::Usage(
                "a pod in an existing network namespace (--netns) takes no podrun network".into(),
            ));
        }
    }
    let hostname = opts.hostname.clone().unwrap_or_else(|| name.to_string());
    validate_hostname(&hostname)?;
    let mut rb = Rollback {
        root,
        name,
        dir: None,
        cgroup: None,
        systemd: false,
        pause: None,
        mounts: Vec::new(),
    };

    let dir = reserve(root, name)?;
    rb.dir = Some(dir.clone());
    let _lock = lock_pod(&dir, name)?;

    // Progress is saved as it is made (creating: true), so that if this process is killed
    // halfway, `pod delete --force` knows the pause and the network owner to clean up.
    let owner = owner_id(root, name);
    let mut st = PodState {
        name: name.to_string(),
        status: "creating".into(),
        pid: 0,
        start_time: 0,
        ip: None,
        bridge: None,
        containers: Vec::new(),
        created: rfc3339_now(),
        hostname,
        share_pid: opts.share_pid,
        owner_id: owner.clone(),
        net: opts.network.as_ref().map(PodNet::from_config),
        network: None,
        creating: true,
        cgroup_path: cgroup_path_of(root, name),
        user_ns: rootless,
        netns: opts.netns.clone(),
    };
    // The systemd driver: the pause's scope is started once the pause exists.
    let unit = if opts.systemd_cgroup {
        let default = format!(
            "system.slice:podrun-pod:{name}-{}",
            crate::state::root_hash(root)
        );
        let up = UnitPath::parse(Some(opts.cgroups_path.as_deref().unwrap_or(&default)), name)?;
        st.cgroup_path = up.cgroup_path();
        Some(up)
    } else {
        if let Some(p) = &opts.cgroups_path {
            st.cgroup_path = Cgroup::for_container(Some(p), name)?.path;
        }
        None
    };
    if rootless && unit.is_none() {
        st.cgroup_path =
            crate::cgroups::rootless::cgroup_path(None, &st.cgroup_path, &format!("pod-{name}"));
    }
    save(root, &st)?;

    let cg = Cgroup::from_path(&st.cgroup_path);
    let cg = if unit.is_some() {
        rb.systemd = true;
        Some(cg)
    } else if rootless {
        let none = oci_spec::runtime::LinuxResources::default();
        crate::cgroups::rootless::create(&cg, &none, false)?.map(|()| cg)
    } else {
        cg.create()?;
        Some(cg)
    };
    if cg.is_none() {
        st.cgroup_path.clear();
    }
    rb.cgroup = cg.clone();

    // With systemd the pause joins no cgroup by itself: the scope is started with its pid.
    let entry = match (&unit, &cg) {
        (None, Some(cg)) => Some(cg.entry()?),
        _ => None,
    };
    let (p, hold, in_v2) = pause::spawn(
        &pause::PauseSpec {
            hostname: &st.hostname,
            pid_ns: opts.share_pid || opts.pause_pid_ns,
            argv0: opts.pause_argv0.as_deref(),
            user_ns: rootless,
            netns: opts.netns.as_deref(),
        },
        entry.as_ref(),
    )?;
    drop(entry);
    rb.pause = Some(p);
    (st.pid, st.start_time) = (p.pid, p.start_time);
    save(root, &st)?;
    if let Some(up) = &unit {
        let description = format!("podrun pod {name}");
        crate::cgroups::systemd::start(up, p.pid, &description, &Default::default(), &dir)?;
    } else if let (Some(cg), false) = (&cg, in_v2) {
        cg.add_pid_v2(p.pid)?;
    }

    // A user cannot bind-mount: a rootless pod's namespaces are joined through the pause's
    // /proc/<pid>/ns (see join_paths).
    if !rootless {
        let ns_dir = dir.join("ns");
        std::fs::create_dir(&ns_dir).io("mkdir", &ns_dir)?;
        let mut kinds = vec!["net", "ipc", "uts"];
        if opts.share_pid {
            kinds.push("pid");
        }
        for kind in kinds {
            let target = ns_dir.join(kind);
            bind_namespace(p.pid, kind, &target)?;
            rb.mounts.push(target);
        }
    }

    let attachment = match &opts.network {
        Some(cfg) => {
            let netns_path = dir.join("ns").join("net");
            let netns = File::options()
                .read(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&netns_path)
                .io("open", &netns_path)?;
            Some(net::attach(cfg, netns.as_fd(), &owner, opts.fixed_ip)?)
        }
        None => None,
    };

    st.status = "running".into();
    st.ip = attachment.as_ref().map(|a| a.ip.to_string());
    st.bridge = attachment.as_ref().map(|a| a.bridge.clone());
    st.network = attachment.clone();
    st.creating = false;
    if let Err(e) = save(root, &st).and_then(|()| hold.release()) {
        if let (Some(cfg), Some(att)) = (&opts.network, &attachment) {
            let _ = net::detach(cfg, att, &owner, true);
        }
        return Err(e);
    }
    // success: keep everything
    rb.dir = None;
    rb.cgroup = None;
    rb.pause = None;
    rb.mounts.clear();
    Ok(st)
}

fn validate_hostname(h: &str) -> Result<()> {
    if h.is_empty()
        || h.len() > 64
        || !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(Error::Usage(format!(
            "invalid hostname {h:?} (1-64 letters, digits, '-' or '.')"
        )));
    }
    Ok(())
}

/// mkdir `<root>/pods/<name>`: EEXIST means the name is taken.
fn reserve(root: &Path, name: &str) -> Result<PathBuf> {
    let pods = pods_dir(root);
    std::fs::create_dir_all(&pods).io("mkdir", &pods)?;
    let dir = pod_dir(root, name);
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::PodExists(name.to_string()))
        }
        Err(e) => Err(Error::io("mkdir", &dir, e)),
    }
}

/// Bind-mounts `/proc/<pid>/ns/<kind>` onto a new empty file `target`.
fn bind_namespace(pid: i32, kind: &str, target: &Path) -> Result<()> {
    File::options()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .custom_flags(libc::O_CLOEXEC)
        .open(target)
        .io("create", target)?;
    let src = PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
    nix::mount::mount(
        Some(&src),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        Error::sys(
            format!("bind mount {} on {}", src.display(), target.display()),
            e,
        )
    })
}

/// Lazily unmounts a namespace bind mount and removes the file; both may be gone already.
fn unmount(target: &Path) -> Result<()> {
    match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("umount {}", target.display()), e)),
    }
    match std::fs::remove_file(target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", target, e)),
        _ => Ok(()),
    }
}

/// Removes the pod's cgroup (`Cgroup::destroy` kills and waits for stragglers).
fn destroy_cgroup(cg: &Cgroup) -> Result<()> {
    cg.destroy()
}

/// The namespace files a container of pod `name` joins: (type, path) for net, ipc, uts
/// (+ pid when the pod shares pid). Errors: no such pod; pod stopped.
pub fn join_paths(root: &Path, name: &str) -> Result<Vec<(LinuxNamespaceType, PathBuf)>> {
    let st = load(root, name)?;
    if st.status != "running" {
        return Err(Error::BadState(format!("pod {name} is not running")));
    }
    // Rootless: the live pause's own namespace files (checked alive by `load` just now, and
    // opened by the caller right away), its user namespace first.
    let ns = if st.user_ns {
        PathBuf::from(format!("/proc/{}/ns", st.pid))
    } else {
        pod_dir(root, name).join("ns")
    };
    let mut out = Vec::new();
    if st.user_ns {
        out.push((LinuxNamespaceType::User, ns.join("user")));
    }
    out.extend([
        (LinuxNamespaceType::Network, ns.join("net")),
        (LinuxNamespaceType::Ipc, ns.join("ipc")),
        (LinuxNamespaceType::Uts, ns.join("uts")),
    ]);
    if st.share_pid {
        out.push((LinuxNamespaceType::Pid, ns.join("pid")));
    }
    Ok(out)
}

/// Records a member container id in the pod state (under the pod's lock).
pub fn add_member(root: &Path, name: &str, id: &str) -> Result<()> {
    update_members(root, name, |m| {
        if !m.iter().any(|x| x == id) {
            m.push(id.to_string());
        }
    })
}

/// Removes a member container id from the pod state (under the pod's lock); absent is fine.
pub fn remove_member(root: &Path, name: &str, id: &str) -> Result<()> {
    update_members(root, name, |m| m.retain(|x| x != id))
}

/// [`remove_member`] for a caller that already holds the pod's lock (a member delete run by
/// `pod delete --force`): the guard names the pod.
pub fn remove_member_locked(root: &Path, held: &PodLock, id: &str) -> Result<()> {
    let mut st = load(root, held.pod())?;
    st.containers.retain(|x| x != id);
    save(root, &st)
}

fn update_members(root: &Path, name: &str, f: impl FnOnce(&mut Vec<String>)) -> Result<()> {
    validate_name(name)?;
    let dir = pod_dir(root, name);
    if !dir.join("state.json").exists() {
        return Err(Error::PodNotFound(name.to_string()));
    }
    let _lock = lock_pod(&dir, name)?;
    let mut st = load(root, name)?;
    f(&mut st.containers);
    save(root, &st)
}

/// True when a member container still has a state dir (`<root>/<id>`).
fn member_exists(root: &Path, id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && root.join(id).is_dir()
}

/// `pod delete`: refuses while member containers exist unless `force` (which deletes them
/// through `delete_member`), then stops the pause, detaches the network, unmounts the
/// namespaces, removes the cgroup and the state dir.
///
/// `delete_member(root, id, held)` kills and removes one member container whatever its state:
/// the caller passes the container layer's `container::delete_pod_member`, so `pod/`, which
/// `container/` builds on, does not import it back. `held` is this delete's guard of the pod
/// lock: the member's cleanup updates the pod through it rather than lock again.
pub fn delete(
    root: &Path,
    name: &str,
    force: bool,
    delete_member: &dyn Fn(&Path, &str, &PodLock) -> Result<()>,
) -> Result<()> {
    validate_name(name)?;
    let dir = pod_dir(root, name);
    if !dir.is_dir() {
        return Err(Error::PodNotFound(name.to_string()));
    }
    // a running create holds the lock until it is done: we wait for it, never race it
    let lock = lock_pod(&dir, name)?;
    let st = match load(root, name) {
        Ok(st) => st,
        // killed between reserving the name and the first save: nothing else was made
        Err(_) if force && !dir.join("state.json").exists() => {
            return remove_leftovers(&dir, &cgroup_path_of(root, name))
        }
        Err(e) => return Err(e),
    };
    if st.creating && !force {
        return Err(Error::BadState(format!(
            "pod {name} was not completely created (an interrupted pod create?): use pod delete --force"
        )));
    }
    let members: Vec<&String> = st
        .containers
        .iter()
        .filter(|id| member_exists(root, id))
        .collect();
    if !members.is_empty() && !force {
        let ids: Vec<&str> = members.iter().map(|s| s.as_str()).collect();
        return Err(Error::BadState(format!(
            "pod {name} has containers: {} (delete them first, or use --force)",
            ids.join(", ")
        )));
    }
    for id in members {
        delete_member(root, id, &lock)?;
    }
    pause::stop(st.pid, st.start_time)?;
    match (&st.net, &st.network) {
        (Some(n), Some(att)) => net::detach(&n.config(), att, &st.owner_id, true)?,
        // an interrupted create: whatever it attached carries the pod's owner id
        (Some(n), None) => net::detach_owner(&n.config(), &st.owner_id, None, true)?,
        _ => {}
    }
    let cg = if st.cgroup_path.is_empty() {
        cgroup_path_of(root, name)
    } else {
        st.cgroup_path.clone()
    };
    if st.user_ns {
        // no namespace bind mounts; a cgroup only where one was delegated
        if !st.cgroup_path.is_empty() {
            destroy_cgroup(&Cgroup::from_path(&cg))?;
        }
        return std::fs::remove_dir_all(&dir).io("remove", &dir);
    }
    remove_leftovers(&dir, &cg)
}

/// The namespace bind mounts, the cgroup (killing stragglers) and the state dir.
fn remove_leftovers(dir: &Path, cgroup_path: &str) -> Result<()> {
    for kind in ["net", "ipc", "uts", "pid"] {
        unmount(&dir.join("ns").join(kind))?;
    }
    // The systemd driver's unit and slices when the pod has its record, else the cgroup.
    crate::cgroups::systemd::release(dir, Some(&Cgroup::from_path(cgroup_path)))?;
    std::fs::remove_dir_all(dir).io("remove", dir)
}

/// Now as RFC 3339 UTC with nanoseconds.
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names() {
        for ok in ["web", "a", "A1_b.c-d", &"x".repeat(64)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20.000000000Z");
    }

    #[test]
    fn owner_ids_differ_by_root() {
        assert_ne!(
            owner_id(Path::new("/a"), "p"),
            owner_id(Path::new("/b"), "p")
        );
        assert!(owner_id(Path::new("/a"), "p").starts_with("podrun-p-"));
    }

    /// A state root of its own with one recorded pod `p` (members `a`, `b`), removed at the end.
    struct Root(PathBuf);

    impl Root {
        fn with_pod(tag: &str) -> Root {
            let r = std::env::temp_dir().join(format!("podrun-pod-{tag}-{}", std::process::id()));
            let dir = pod_dir(&r, "p");
            std::fs::create_dir_all(&dir).unwrap();
            let st = serde_json::json!({
                "name": "p", "status": "", "pid": 999_999_999, "startTime": 1, "ip": null,
                "bridge": null, "containers": ["a", "b"], "created": "", "hostname": "p",
                "sharePid": false, "ownerId": "podrun-p-test", "net": null, "network": null,
            });
            std::fs::write(dir.join("state.json"), st.to_string()).unwrap();
            Root(r)
        }

        fn members(&self) -> Vec<String> {
            load(&self.0, "p").unwrap().containers
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn member_update_under_a_held_lock() {
        let root = Root::with_pod("held");
        let lock = lock_pod(&pod_dir(&root.0, "p"), "p").unwrap();
        assert_eq!(lock.pod(), "p");
        // the holder updates through its guard: no second flock, no deadlock
        remove_member_locked(&root.0, &lock, "a").unwrap();
        assert_eq!(root.members(), ["b"]);
        // anyone else (another thread here) waits for the guard to go
        let (tx, rx) = std::sync::mpsc::channel();
        let r = root.0.clone();
        let t = std::thread::spawn(move || {
            let res = remove_member(&r, "p", "b");
            tx.send(()).unwrap();
            res
        });
        let waited = rx.recv_timeout(std::time::Duration::from_millis(300));
        assert!(
            waited.is_err(),
            "remove_member did not wait for the held lock"
        );
        drop(lock);
        t.join().unwrap().unwrap();
        assert!(root.members().is_empty());
    }

    #[test]
    fn delete_passes_its_lock_to_member_deletes() {
        let root = Root::with_pod("delete");
        for id in ["a", "b"] {
            std::fs::create_dir_all(root.0.join(id)).unwrap();
        }
        let seen = std::cell::RefCell::new(Vec::new());
        let member = |r: &Path, id: &str, held: &PodLock| -> Result<()> {
            remove_member_locked(r, held, id)?;
            std::fs::remove_dir(r.join(id)).unwrap();
            seen.borrow_mut()
                .push((id.to_string(), held.pod().to_string()));
            Ok(())
        };
        let e = delete(&root.0, "p", false, &member).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::WrongState, "{e}");
        assert!(seen.borrow().is_empty());
        delete(&root.0, "p", true, &member).unwrap();
        assert_eq!(
            *seen.borrow(),
            [
                ("a".to_string(), "p".to_string()),
                ("b".to_string(), "p".to_string())
            ]
        );
        assert!(!pod_dir(&root.0, "p").exists());
    }

    #[test]
    fn pod_error_kinds() {
        let root = Root::with_pod("kinds");
        let none = |_: &Path, _: &str, _: &PodLock| -> Result<()> { Ok(()) };
        assert_eq!(
            load(&root.0, "q").unwrap_err().kind(),
            crate::ErrorKind::NotFound
        );
        let e = delete(&root.0, "q", true, &none).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        assert_eq!(e.to_string(), "pod q does not exist");
        let e = add_member(&root.0, "q", "c").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        let e = reserve(&root.0, "p").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::AlreadyExists);
        assert_eq!(e.to_string(), "pod p already exists");
        let e = load(&root.0, "a/b").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig);
    }

    #[test]
    fn start_time_of_self() {
        let me = std::process::id() as i32;
        let t = pause::start_time(me).unwrap();
        assert!(pause::is_alive(me, t));
        assert!(!pause::is_alive(me, t + 1));
    }
}
