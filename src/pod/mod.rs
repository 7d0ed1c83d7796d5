//! Pods: a pause process owning net, ipc and uts (and, with `share_pid`, pid) namespaces,
//! its namespaces bind-mounted under the pod's state dir, and a bundled network.
//!
//! State dir `<root>/pods/<NAME>/`:
//! - `state.json`: [`PodState`] (written with tmp + rename);
//! - `lock`: `flock`ed around every read-modify-write of the state (members, delete);
//! - `ns/{net,ipc,uts[,pid]}`: bind mounts of the pause's `/proc/<pid>/ns/*`, so joining
//!   never goes through a `/proc/<pid>` path that a recycled pid could redirect.
//!
//! The pause runs in cgroup `/podrun/pods/<NAME>`; its pid and start time (field 22 of
//! `/proc/<pid>/stat`) are recorded and no signal is sent to a pid whose start time differs.
//! A pod is `running` while that process lives, else `stopped`.
//!
//! Network: unless `no_network`, [`crate::net::attach`] connects the pod netns to the node
//! bridge. The IPAM owner id is `podrun-<NAME>-<hash8(root)>` (unique per root), and the IPAM
//! network name is `podrun` for the default bridge, else the bridge's name (one store per
//! bridge, so pods on different bridges never share a store or a bridge marker).

pub mod pause;

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::LinuxNamespaceType;
use serde::{Deserialize, Serialize};

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
    /// None: no network (the pod gets a netns with `lo` only).
    pub network: Option<NetConfig>,
    pub fixed_ip: Option<Ipv4Addr>,
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
}

pub fn pods_dir(root: &Path) -> PathBuf {
    root.join("pods")
}

pub fn pod_dir(root: &Path, name: &str) -> PathBuf {
    pods_dir(root).join(name)
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 characters.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why| Err(Error::InvalidName { kind: "pod name", name: name.to_string(), why });
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 64 {
        return bad("longer than 64 characters");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must start with a letter or digit");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// The IPAM owner id of a pod: unique per (root, name).
pub fn owner_id(root: &Path, name: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("podrun-{name}-{h:08x}")
}

fn cgroup_of(name: &str) -> Cgroup {
    Cgroup::from_path(&format!("/podrun/pods/{name}"))
}

/// Holds the pod's `lock` file.
struct PodLock {
    _flock: Flock<File>,
}

fn lock_pod(dir: &Path) -> Result<PodLock> {
    let path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .io("open lock", &path)?;
    let flock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::sys(format!("flock {}", path.display()), e))?;
    Ok(PodLock { _flock: flock })
}

/// Reads a pod's state and fills in the live status.
pub fn load(root: &Path, name: &str) -> Result<PodState> {
    validate_name(name)?;
    let path = pod_dir(root, name).join("state.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Other(format!("pod {name} does not exist")));
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let mut st: PodState = serde_json::from_str(&text).map_err(|e| Error::other(format!("parse {}: {e}", path.display())))?;
    st.status = status_of(&st).to_string();
    Ok(st)
}

fn status_of(st: &PodState) -> &'static str {
    if pause::is_alive(st.pid, st.start_time) {
        "running"
    } else {
        "stopped"
    }
}

fn save(root: &Path, st: &PodState) -> Result<()> {
    let dir = pod_dir(root, &st.name);
    let tmp = dir.join("state.json.tmp");
    let path = dir.join("state.json");
    let json = serde_json::to_vec_pretty(st).map_err(|e| Error::other(format!("encode pod state: {e}")))?;
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
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
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
    if let Some(cfg) = &opts.network {
        cfg.validate()?;
    }
    let hostname = opts.hostname.clone().unwrap_or_else(|| name.to_string());
    validate_hostname(&hostname)?;
    let mut rb = Rollback { root, name, dir: None, cgroup: None, pause: None, mounts: Vec::new() };

    let dir = reserve(root, name)?;
    rb.dir = Some(dir.clone());
    let _lock = lock_pod(&dir)?;

    let cg = cgroup_of(name);
    cg.create()?;
    rb.cgroup = Some(cg.clone());

    let p = pause::spawn(&pause::PauseSpec { hostname: &hostname, share_pid: opts.share_pid })?;
    rb.pause = Some(p);
    cg.add_pid(p.pid)?;

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

    let owner = owner_id(root, name);
    let attachment = match &opts.network {
        Some(cfg) => {
            let netns_path = ns_dir.join("net");
            let netns = File::options().read(true).custom_flags(libc::O_CLOEXEC).open(&netns_path).io("open", &netns_path)?;
            Some(net::attach(cfg, netns.as_fd(), &owner, opts.fixed_ip)?)
        }
        None => None,
    };

    let st = PodState {
        name: name.to_string(),
        status: "running".into(),
        pid: p.pid,
        start_time: p.start_time,
        ip: attachment.as_ref().map(|a| a.ip.to_string()),
        bridge: attachment.as_ref().map(|a| a.bridge.clone()),
        containers: Vec::new(),
        created: rfc3339_now(),
        hostname,
        share_pid: opts.share_pid,
        owner_id: owner.clone(),
        net: opts.network.as_ref().map(PodNet::from_config),
        network: attachment.clone(),
    };
    if let Err(e) = save(root, &st) {
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
    if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(Error::Usage(format!("invalid hostname {h:?} (1-64 letters, digits, '-' or '.')")));
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Other(format!("pod {name} already exists"))),
        Err(e) => Err(Error::io("mkdir", &dir, e)),
    }
}

/// Bind-mounts `/proc/<pid>/ns/<kind>` onto a new empty file `target`.
fn bind_namespace(pid: i32, kind: &str, target: &Path) -> Result<()> {
    File::options().write(true).create_new(true).mode(0o444).custom_flags(libc::O_CLOEXEC).open(target).io("create", target)?;
    let src = PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
    nix::mount::mount(Some(&src), target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| Error::sys(format!("bind mount {} on {}", src.display(), target.display()), e))
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
    let ns = pod_dir(root, name).join("ns");
    let mut out = vec![
        (LinuxNamespaceType::Network, ns.join("net")),
        (LinuxNamespaceType::Ipc, ns.join("ipc")),
        (LinuxNamespaceType::Uts, ns.join("uts")),
    ];
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

fn update_members(root: &Path, name: &str, f: impl FnOnce(&mut Vec<String>)) -> Result<()> {
    validate_name(name)?;
    let dir = pod_dir(root, name);
    if !dir.join("state.json").exists() {
        return Err(Error::Other(format!("pod {name} does not exist")));
    }
    let _lock = lock_pod(&dir)?;
    let mut st = load(root, name)?;
    f(&mut st.containers);
    save(root, &st)
}

/// True when a member container still has a state dir (`<root>/<id>`).
fn member_exists(root: &Path, id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && root.join(id).is_dir()
}

/// `pod delete`: refuses while member containers exist unless `force` (which deletes them),
/// then stops the pause, detaches the network, unmounts the namespaces, removes the cgroup
/// and the state dir.
pub fn delete(root: &Path, name: &str, force: bool) -> Result<()> {
    validate_name(name)?;
    let dir = pod_dir(root, name);
    if !dir.is_dir() {
        return Err(Error::Other(format!("pod {name} does not exist")));
    }
    let _lock = lock_pod(&dir)?;
    let st = load(root, name)?;
    let members: Vec<&String> = st.containers.iter().filter(|id| member_exists(root, id)).collect();
    if !members.is_empty() && !force {
        let ids: Vec<&str> = members.iter().map(|s| s.as_str()).collect();
        return Err(Error::BadState(format!(
            "pod {name} has containers: {} (delete them first, or use --force)",
            ids.join(", ")
        )));
    }
    for id in members {
        force_delete_container(root, id)?;
    }
    pause::stop(st.pid, st.start_time)?;
    if let (Some(n), Some(att)) = (&st.net, &st.network) {
        net::detach(&n.config(), att, &st.owner_id, true)?;
    }
    for kind in ["net", "ipc", "uts", "pid"] {
        unmount(&dir.join("ns").join(kind))?;
    }
    destroy_cgroup(&cgroup_of(name))?;
    std::fs::remove_dir_all(&dir).io("remove", &dir)
}

fn force_delete_container(root: &Path, id: &str) -> Result<()> {
    crate::container::force_delete(root, id)
}

/// Now as RFC 3339 UTC with nanoseconds.
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
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
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", sod / 3600, sod % 3600 / 60, sod % 60)
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
        assert_ne!(owner_id(Path::new("/a"), "p"), owner_id(Path::new("/b"), "p"));
        assert!(owner_id(Path::new("/a"), "p").starts_with("podrun-p-"));
    }

    #[test]
    fn start_time_of_self() {
        let me = std::process::id() as i32;
        let t = pause::start_time(me).unwrap();
        assert!(pause::is_alive(me, t));
        assert!(!pause::is_alive(me, t + 1));
    }
}
