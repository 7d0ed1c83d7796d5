//! Device nodes and /dev links in the container's rootfs (runs in the container's init, before
//! pivot_root, after the spec mounts — so /dev is normally the spec's fresh tmpfs).
//!
//! Like runc: the default devices (null zero full random urandom tty) plus `linux.devices`
//! are mknod'ed, or bind-mounted from the host's nodes in a user namespace (where mknod is
//! not allowed) and when mknod says EPERM. /dev/ptmx becomes a symlink to pts/ptmx, and
//! fd/stdin/stdout/stderr/core point into /proc.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, major, makedev, minor, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use super::paths::{self, Create, Symlinks};
use crate::{Error, Result};

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute in-container path.
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    /// Permission bits (0o666 when the spec gives none).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl DeviceNode {
    fn char(path: &str, major: u64, minor: u64) -> DeviceNode {
        DeviceNode {
            path: PathBuf::from(path),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    fn rdev(&self) -> libc::dev_t {
        makedev(self.major, self.minor)
    }
}

/// The devices every container gets (OCI runtime spec, "Default Devices").
pub fn default_devices() -> Vec<DeviceNode> {
    vec![
        DeviceNode::char("/dev/null", 1, 3),
        DeviceNode::char("/dev/zero", 1, 5),
        DeviceNode::char("/dev/full", 1, 7),
        DeviceNode::char("/dev/random", 1, 8),
        DeviceNode::char("/dev/urandom", 1, 9),
        DeviceNode::char("/dev/tty", 5, 0),
    ]
}

/// The default devices plus `linux.devices` (a spec entry replaces a default with the same
/// path). /dev/ptmx is left out: it becomes a symlink to pts/ptmx.
pub fn devices_for(spec: &oci_spec::runtime::Spec) -> Result<Vec<DeviceNode>> {
    let mut out = default_devices();
    let spec_devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for d in &spec_devices {
        let node = device_from_spec(d)?;
        out.retain(|n| paths::clean(&n.path) != paths::clean(&node.path));
        out.push(node);
    }
    out.retain(|n| paths::clean(&n.path) != Path::new("/dev/ptmx"));
    Ok(out)
}

fn device_from_spec(d: &oci_spec::runtime::LinuxDevice) -> Result<DeviceNode> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let kind = match d.typ() {
        T::C | T::U => SFlag::S_IFCHR,
        T::B => SFlag::S_IFBLK,
        T::P => SFlag::S_IFIFO,
        T::A => {
            return Err(Error::Spec(format!(
                "linux.devices: {} has type \"a\", which is not a device node type",
                d.path().display()
            )))
        }
    };
    let num = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| {
            Error::Spec(format!(
                "linux.devices: {} has a negative {what} number",
                d.path().display()
            ))
        })
    };
    if !d.path().is_absolute() {
        return Err(Error::Spec(format!(
            "linux.devices: path {} is not absolute",
            d.path().display()
        )));
    }
    Ok(DeviceNode {
        path: d.path().clone(),
        kind,
        major: num(d.major(), "major")?,
        minor: num(d.minor(), "minor")?,
        mode: d.file_mode().map(|m| m & 0o7777).unwrap_or(0o666),
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// runc sets up /dev only when no bind mount covers /dev.
pub fn needs_dev_setup(spec: &oci_spec::runtime::Spec) -> bool {
    let mounts = spec.mounts().clone().unwrap_or_default();
    !mounts.iter().any(|m| {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"));
        bind && paths::clean(m.destination()) == Path::new("/dev")
    })
}

/// Creates every node: mknod, or a bind of the host node when `bind` (user namespace) or
/// when mknod is not permitted.
pub fn create_devices(root: BorrowedFd<'_>, devices: &[DeviceNode], bind: bool) -> Result<()> {
    let old = nix::sys::stat::umask(Mode::empty());
    let res = devices
        .iter()
        .try_for_each(|d| create_device(root, d, bind));
    nix::sys::stat::umask(old);
    res
}

fn create_device(root: BorrowedFd<'_>, d: &DeviceNode, bind: bool) -> Result<()> {
    let clean = paths::clean(&d.path);
    let (parent, name) = match (clean.parent(), clean.file_name()) {
        (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
        _ => {
            return Err(Error::Spec(format!(
                "device path {} has no file name",
                d.path.display()
            )))
        }
    };
    let dir = paths::ensure_in_root(root, &parent, Create::Dir(0o755), Symlinks::FollowInRoot)?;
    refuse_pseudo_fs(dir.as_fd(), d)?;
    if bind {
        return bind_device(dir.as_fd(), &name, d);
    }
    match mknod_device(dir.as_fd(), &name, d) {
        Err(Errno::EPERM) => bind_device(dir.as_fd(), &name, d),
        Err(e) => Err(Error::sys(
            format!("mknod {} ({}:{})", d.path.display(), d.major, d.minor),
            e,
        )),
        Ok(()) => Ok(()),
    }
}

/// A device node never goes into procfs or sysfs (a bind over /proc/sys/... would be a
/// way to tamper with the kernel's knobs).
fn refuse_pseudo_fs(dir: BorrowedFd<'_>, d: &DeviceNode) -> Result<()> {
    use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
    let fs = fstatfs(dir)
        .map_err(|e| Error::sys(format!("statfs parent of {}", d.path.display()), e))?;
    if fs.filesystem_type() == PROC_SUPER_MAGIC || fs.filesystem_type() == SYSFS_MAGIC {
        return Err(Error::other(format!(
            "device {} would be created inside procfs/sysfs; refusing",
            d.path.display()
        )));
    }
    Ok(())
}

/// mknodat in the parent dirfd; an existing entry that is not exactly this node (a symlink,
/// a file, another device) is replaced, so /dev/null really is 1:3 afterwards.
fn mknod_device(dir: BorrowedFd<'_>, name: &std::ffi::OsStr, d: &DeviceNode) -> nix::Result<()> {
    let perm = Mode::from_bits_truncate(d.mode);
    match nix::sys::stat::mknodat(dir, name, d.kind, perm, d.rdev()) {
        Err(Errno::EEXIST) => {
            let st = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == d.kind
                && st.st_rdev == d.rdev()
            {
                // Already right; fall through to fix owner and mode.
            } else {
                nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
                nix::sys::stat::mknodat(dir, name, d.kind, perm, d.rdev())?;
            }
        }
        other => other?,
    }
    let fd = openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    nix::unistd::fchownat(
        &fd,
        "",
        Some(nix::unistd::Uid::from_raw(d.uid)),
        Some(nix::unistd::Gid::from_raw(d.gid)),
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )?;
    // Owner changes can clear set-id bits; the mode is set last through the fd's magic link.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &paths::proc_fd_path(fd.as_fd()),
        perm,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// Bind-mounts the host's node over an empty file created in `dir`. The host node must be
/// the same kind of device with the same numbers.
fn bind_device(dir: BorrowedFd<'_>, name: &std::ffi::OsStr, d: &DeviceNode) -> Result<()> {
    let op = |what: &str| format!("{what} {} (bind of the host device)", d.path.display());
    let host = nix::fcntl::open(&d.path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(op("open host"), e))?;
    let st = fstat(&host).map_err(|e| Error::sys(op("stat host"), e))?;
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != d.kind || st.st_rdev != d.rdev() {
        return Err(Error::other(format!(
            "{}: host node is {}:{}, not the requested {}:{}",
            d.path.display(),
            major(st.st_rdev),
            minor(st.st_rdev),
            d.major,
            d.minor
        )));
    }
    let target = open_or_create_plain_file(dir, name)
        .map_err(|e| Error::sys(op("create mount point for"), e))?;
    nix::mount::mount(
        Some(&paths::proc_fd_path(host.as_fd())),
        &paths::proc_fd_path(target.as_fd()),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(op("mount"), e))
}

/// An O_PATH fd of `name` in `dir` that is not a symlink (a symlink is replaced by a file).
fn open_or_create_plain_file(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> nix::Result<OwnedFd> {
    for _ in 0..8 {
        match openat(
            dir,
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(fd) => drop(fd),
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let fd = openat(
            dir,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFLNK {
            return Ok(fd);
        }
        nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
    }
    Err(Errno::EAGAIN)
}

/// /dev/ptmx -> pts/ptmx (the devpts instance mounted at /dev/pts with newinstance).
pub fn setup_ptmx(root: BorrowedFd<'_>) -> Result<()> {
    let dev = paths::ensure_in_root(
        root,
        Path::new("/dev"),
        Create::Dir(0o755),
        Symlinks::FollowInRoot,
    )?;
    match nix::unistd::unlinkat(&dev, "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys("unlink /dev/ptmx", e)),
    }
    nix::unistd::symlinkat("pts/ptmx", &dev, "ptmx")
        .map_err(|e| Error::sys("symlink /dev/ptmx -> pts/ptmx", e))
}

/// /dev/fd, /dev/std{in,out,err} and (when the kernel has it) /dev/core, as runc.
pub fn setup_dev_symlinks(root: BorrowedFd<'_>) -> Result<()> {
    let dev = paths::ensure_in_root(
        root,
        Path::new("/dev"),
        Create::Dir(0o755),
        Symlinks::FollowInRoot,
    )?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name} -> {target}"), e)),
        }
    }
    Ok(())
}

/// An O_PATH fd of the rootfs's /dev/null, refused unless it is a real char device 1:3
/// reached without any symlink (used as the source of masked-path binds).
pub fn open_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let fd = paths::open_in_root(root, Path::new("/dev/null"), Symlinks::Refuse).map_err(|e| {
        Error::sys(
            "open /dev/null in the container (no symlinks allowed) for masking",
            e,
        )
    })?;
    let st = fstat(&fd).map_err(|e| Error::sys("stat /dev/null in the container", e))?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFCHR;
    if !is_chr || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        return Err(Error::other(format!(
            "/dev/null in the container is not the null device (mode {:o}, {}:{}); refusing to mask paths with it",
            st.st_mode,
            major(st.st_rdev),
            minor(st.st_rdev)
        )));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_override_defaults_and_ptmx_is_skipped() {
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"devices": [
                {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 5, "gid": 6},
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2},
                {"path": "/dev/loopx", "type": "b", "major": 7, "minor": 0}
            ]}
        }))
        .unwrap();
        let d = devices_for(&spec).unwrap();
        let null: Vec<_> = d
            .iter()
            .filter(|n| n.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(null.len(), 1);
        assert_eq!((null[0].mode, null[0].uid, null[0].gid), (0o660, 5, 6));
        assert!(d
            .iter()
            .any(|n| n.path == Path::new("/dev/fuse") && n.mode == 0o666));
        assert!(d
            .iter()
            .any(|n| n.path == Path::new("/dev/loopx") && n.kind == SFlag::S_IFBLK));
        assert!(!d.iter().any(|n| n.path == Path::new("/dev/ptmx")));
        assert_eq!(d.len(), 8);
    }

    #[test]
    fn devices_bound_from_host_in_user_namespace_mode() {
        use crate::process::rootfs::testutil::{in_child, TempDir};
        let t = TempDir::new("devbind");
        let dev = t.path.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        // A symlink where the node goes is replaced, never followed.
        std::os::unix::fs::symlink("/etc/passwd", dev.join("zero")).unwrap();
        let res = in_child(|| {
            let root = paths::open_dir(&t.path).map_err(|e| e.to_string())?;
            create_devices(root.as_fd(), &default_devices(), true).map_err(|e| e.to_string())?;
            for d in default_devices() {
                let p = t.path.join(d.path.strip_prefix("/").unwrap());
                let st = nix::sys::stat::lstat(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != d.rdev() {
                    return Err(format!("{} is not {}:{}", p.display(), d.major, d.minor));
                }
            }
            // Wrong numbers for a host node are refused.
            let mut bad = DeviceNode::char("/dev/null", 1, 5);
            bad.path = PathBuf::from("/dev/null");
            match create_devices(root.as_fd(), &[bad], true) {
                Ok(()) => Err("binding /dev/null as 1:5 succeeded".into()),
                Err(e) => Ok(e.to_string()),
            }
        });
        let e = res.unwrap_or_else(|e| panic!("{e}"));
        assert!(e.contains("1:5"), "{e}");
        // Outside the child nothing is mounted: the mount points are plain files.
        assert!(std::fs::metadata(dev.join("null")).unwrap().is_file());
    }

    #[test]
    fn type_a_device_is_refused() {
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"devices": [{"path": "/dev/x", "type": "a"}]}
        }))
        .unwrap();
        let e = devices_for(&spec).unwrap_err().to_string();
        assert!(e.contains("/dev/x"), "{e}");
    }

    #[test]
    fn dev_bind_mount_skips_setup() {
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/dev/", "type": "bind", "source": "/dev", "options": ["rbind"]}]
        }))
        .unwrap();
        assert!(!needs_dev_setup(&spec));
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}]
        }))
        .unwrap();
        assert!(needs_dev_setup(&spec));
    }
}
