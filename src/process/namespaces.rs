//! Namespace types, opening namespace files safely, and joining/creating namespaces.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use crate::error::{Error, Result};
use crate::spec::ns_oci_name;

const NSFS_MAGIC: i64 = 0x6e73_6673;
/// ioctl NS_GET_NSTYPE = _IO(0xb7, 0x3).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The order in which namespaces are joined: user first (so later joins and creations are
/// owned by it), mount last (so the paths above resolve in the runtime's mount namespace).
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// A namespace to join: its type and an open fd of its nsfs file.
#[derive(Debug)]
pub struct JoinNs {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

/// Opens the namespace file at `path` and checks that it is a namespace of type `typ`.
pub fn open_namespace(path: &Path, typ: LinuxNamespaceType) -> Result<JoinNs> {
    let name = ns_oci_name(typ);
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
        Error::Spec(format!(
            "linux.namespaces: {name} path {}: cannot open: {e}",
            path.display()
        ))
    })?;
    // SAFETY: fstatfs into a zeroed struct on a valid fd.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sfs) } != 0 || sfs.f_type as i64 != NSFS_MAGIC {
        return Err(Error::Spec(format!(
            "linux.namespaces: {name} path {} is not a namespace file",
            path.display()
        )));
    }
    // SAFETY: ioctl with no argument on an nsfs fd.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if kind < 0 {
        return Err(Error::Spec(format!(
            "linux.namespaces: {name} path {}: cannot read namespace type: {}",
            path.display(),
            nix::Error::last()
        )));
    }
    let want = clone_flag(typ).bits();
    if kind != want {
        let actual = JOIN_ORDER
            .iter()
            .find(|t| clone_flag(**t).bits() == kind)
            .map(|t| ns_oci_name(*t))
            .unwrap_or("unknown");
        return Err(Error::Spec(format!(
            "linux.namespaces: {name} path {} is a {actual} namespace, not {name}",
            path.display()
        )));
    }
    Ok(JoinNs { typ, fd })
}

/// `setns` into an opened namespace.
pub fn join(ns: &JoinNs) -> Result<()> {
    nix::sched::setns(&ns.fd, clone_flag(ns.typ))
        .map_err(|e| Error::sys(format!("setns {}", ns_oci_name(ns.typ)), e))
}

/// The caller's pid namespace for children, set back when dropped (see
/// [`join_pid_for_children`]).
pub struct PidNsRestore {
    own: OwnedFd,
}

impl Drop for PidNsRestore {
    fn drop(&mut self) {
        if let Err(e) = nix::sched::setns(&self.own, CloneFlags::CLONE_NEWPID) {
            tracing::warn!("setns back to our own pid namespace: {e}");
        }
    }
}

/// Joins pid namespace `ns` for the children the calling thread forks from now on (setns
/// of a pid namespace never moves the caller itself), until the returned guard is dropped:
/// a long-lived caller (a shim creating and exec'ing in many containers) must not fork its
/// next container into this one's pid namespace. Drop the guard right after the fork.
pub fn join_pid_for_children(ns: &JoinNs) -> Result<PidNsRestore> {
    let own = open(
        "/proc/thread-self/ns/pid",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open /proc/thread-self/ns/pid", e))?;
    join(ns)?;
    Ok(PidNsRestore { own })
}

/// Rootless: the runtime itself enters the user namespace among `joins` (and drops it from
/// the list) before it joins a pid namespace or clones a new one, which only there has the
/// capabilities for that (setns order: user first). Its files and cgroups stay its own: the
/// kernel's ids do not change. Root joins everything in the child, as before.
pub fn enter_user_namespace_first(joins: &mut Vec<JoinNs>) -> Result<()> {
    if !crate::sys::rootless() {
        return Ok(());
    }
    if let Some(i) = joins.iter().position(|j| j.typ == LinuxNamespaceType::User) {
        let user = joins.remove(i);
        join(&user)?;
    }
    Ok(())
}

/// Brings `lo` up in the network namespace this process just created, as runc and crun do: a
/// new netns starts with `lo` down, and callers (podman's `--network none`, its pods, Docker's
/// `none` network) expect 127.0.0.1 to work. One ioctl pair on a throwaway socket: the init is
/// a forked single-threaded child, where no netlink runtime can run.
pub fn bring_up_loopback() -> Result<()> {
    // SAFETY: socket(2) with constant arguments; the fd is owned right below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::sys(
            "socket(AF_INET) to bring up lo",
            nix::Error::last(),
        ));
    }
    // SAFETY: `raw` is a new socket that nothing else owns.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all zeroes is a valid (empty) request.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, which lives across both calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(Error::sys("ioctl SIOCGIFFLAGS lo", nix::Error::last()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(Error::sys("ioctl SIOCSIFFLAGS lo up", nix::Error::last()));
        }
    }
    Ok(())
}

/// True when this process runs in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(s) => s.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode(p: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).expect(p).ino()
    }

    /// A shim forks many containers: joining one container's pid namespace for a fork must
    /// not leave the next fork in it.
    #[test]
    fn pid_namespace_for_children_is_restored() {
        // a pid namespace to join: a child made pid 1 of a new one, from a thread of its own
        let mut child = std::thread::spawn(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWPID).expect("unshare pid ns");
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep")
        })
        .join()
        .unwrap();
        let theirs = format!("/proc/{}/ns/pid", child.id());
        let res = std::thread::spawn(move || {
            let own = inode("/proc/thread-self/ns/pid_for_children");
            let ns = open_namespace(Path::new(&theirs), LinuxNamespaceType::Pid).unwrap();
            let guard = join_pid_for_children(&ns).unwrap();
            let during = inode("/proc/thread-self/ns/pid_for_children");
            drop(guard);
            let after = inode("/proc/thread-self/ns/pid_for_children");
            (own, inode(&theirs), during, after)
        })
        .join();
        let _ = child.kill();
        let _ = child.wait();
        let (own, theirs, during, after) = res.unwrap();
        assert_ne!(own, theirs);
        assert_eq!(during, theirs, "joined for the fork");
        assert_eq!(after, own, "back to our own pid namespace after it");
    }

    #[test]
    fn open_checks_type() {
        open_namespace(Path::new("/proc/self/ns/net"), LinuxNamespaceType::Network).unwrap();
        let e = open_namespace(Path::new("/proc/self/ns/ipc"), LinuxNamespaceType::Network)
            .unwrap_err();
        assert!(
            e.to_string().contains("is a ipc namespace, not network"),
            "{e}"
        );
        let e =
            open_namespace(Path::new("/etc/hostname"), LinuxNamespaceType::Network).unwrap_err();
        assert!(e.to_string().contains("not a namespace file"), "{e}");
        let e = open_namespace(Path::new("/nonexistent/ns"), LinuxNamespaceType::Uts).unwrap_err();
        assert!(e.to_string().contains("cannot open"), "{e}");
    }
}
