//! The container's filesystem, in three steps run by the container's init process (a forked
//! child of podrun, single-threaded, already in its new mount namespace):
//!
//! 1. `prepare_rootfs` (before the createRuntime/createContainer hooks): propagation of `/`,
//!    the rootfs bound onto itself, every spec mount (resolved inside the rootfs), devices and
//!    /dev links.
//! 2. `enter_rootfs` (after the createContainer hooks): pivot_root (or MS_MOVE + chroot).
//! 3. `finish_rootfs` (inside the new root): readonly and masked paths, read-only tmpfs and
//!    /dev, read-only root, final propagation of `/`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{fstat, Mode, SFlag};

use super::devices;
use super::mounts::{self, MountCtx};
use super::paths::{self, Symlinks};
use crate::{Error, Result};

pub struct RootfsConfig<'a> {
    pub spec: &'a oci_spec::runtime::Spec,
    /// Absolute, canonical host path of the rootfs (bundle-relative root.path already resolved).
    pub rootfs: &'a std::path::Path,
    /// Absolute bundle directory (relative bind-mount sources are relative to it).
    pub bundle: &'a std::path::Path,
    /// runc --no-pivot: MS_MOVE the rootfs onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
}

/// Step 1: everything that happens while the host's filesystem is still visible.
pub fn prepare_rootfs(cfg: &RootfsConfig) -> Result<()> {
    if !cfg.rootfs.is_absolute() {
        return Err(Error::Spec(format!(
            "rootfs {} is not an absolute path",
            cfg.rootfs.display()
        )));
    }
    // Resolved fds are checked against this path, so it must be the kernel's spelling.
    let rootfs = std::fs::canonicalize(cfg.rootfs)
        .map_err(|e| Error::io("canonicalize rootfs", cfg.rootfs, e))?;
    // Without a mount namespace of its own the container's mounts are made in the runtime's
    // (as runc does): the propagation of the host's `/` and of the rootfs's parent mount is
    // left alone; everything hangs under the rootfs's self-bind, which `delete` detaches.
    if own_mount_namespace(cfg.spec) {
        let propagation = set_root_propagation(cfg.spec)?;
        // After a recursive slave or private change no mount is shared any more: no need to
        // look the parent mount up (a read of the whole mount table) to unshare it.
        if !(propagation.contains(MsFlags::MS_REC)
            && propagation.intersects(MsFlags::MS_SLAVE | MsFlags::MS_PRIVATE))
        {
            make_parent_mount_private(&rootfs)?;
        }
    }
    bind_rootfs_onto_itself(&rootfs)?;
    // Opened after the self-bind, so every lookup starts at the root of the new mount.
    let root = paths::open_dir(&rootfs)?;
    let ctx = MountCtx {
        root: root.as_fd(),
        rootfs: &rootfs,
        bundle: cfg.bundle,
        userns: in_user_namespace(cfg.spec),
        cgroupns: has_namespace(cfg.spec, oci_spec::runtime::LinuxNamespaceType::Cgroup),
    };
    for m in cfg.spec.mounts().as_deref().unwrap_or(&[]) {
        mounts::mount_entry(&ctx, m)?;
        tracing::debug!(dest = %m.destination().display(), "mounted");
    }
    if devices::needs_dev_setup(cfg.spec) {
        let nodes = devices::devices_for(cfg.spec)?;
        devices::create_devices(root.as_fd(), &nodes, ctx.userns)?;
        devices::setup_ptmx(root.as_fd())?;
        devices::setup_dev_symlinks(root.as_fd())?;
    }
    Ok(())
}

/// Step 2: switch the process's root to the rootfs and drop the host's mounts.
pub fn enter_rootfs(cfg: &RootfsConfig) -> Result<()> {
    if !own_mount_namespace(cfg.spec) {
        // pivot_root or MS_MOVE would change the runtime's own root: chroot only (runc).
        chroot_into(cfg.rootfs)?;
    } else if cfg.no_pivot {
        move_root(cfg.rootfs)?;
    } else {
        pivot_root(cfg.rootfs)?;
    }
    check_cwd_is_root()?;
    if devices::needs_dev_setup(cfg.spec) {
        reopen_dev_null()?;
    }
    Ok(())
}

/// Step 3: restrictions applied inside the new root.
pub fn finish_rootfs(cfg: &RootfsConfig) -> Result<()> {
    let root = paths::open_dir(Path::new("/"))?;
    let linux = cfg.spec.linux().as_ref();
    let mut dev_null = None;
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        readonly_path(root.as_fd(), Path::new(p))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[])
    {
        mask_path(root.as_fd(), Path::new(p), &mut dev_null)?;
    }
    remount_readonly_mounts(root.as_fd(), cfg.spec)?;
    if cfg
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_root_readonly()?;
    }
    if let Some(p) = root_propagation(cfg.spec)? {
        nix::mount::mount(None::<&str>, "/", None::<&str>, p, None::<&str>).map_err(|e| {
            Error::sys(format!("set propagation {p:?} of / (rootfsPropagation)"), e)
        })?;
    }
    Ok(())
}

/// `linux.rootfsPropagation` as MS_* flags, None when unset.
fn root_propagation(spec: &oci_spec::runtime::Spec) -> Result<Option<MsFlags>> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    else {
        return Ok(None);
    };
    let flags = match p.as_str() {
        "" => return Ok(None),
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        other => {
            return Err(Error::Spec(format!(
                "linux.rootfsPropagation: unknown value {other:?}"
            )))
        }
    };
    Ok(Some(flags))
}

/// Makes `/` rslave (runc's default) or what rootfsPropagation says, so that nothing done
/// here propagates back to the host. Returns the flags it applied.
fn set_root_propagation(spec: &oci_spec::runtime::Spec) -> Result<MsFlags> {
    let flags = root_propagation(spec)?.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    nix::mount::mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|e| Error::sys(format!("set propagation {flags:?} of /"), e))?;
    Ok(flags)
}

/// pivot_root refuses a shared parent mount, and a bind under a shared parent would
/// propagate to the host: make the mount that holds the rootfs private if it is shared.
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let infos = mounts::read_mountinfo()?;
    let parent = infos
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    let Some(parent) = parent else {
        return Err(Error::other(format!(
            "no mount holds the rootfs {}",
            rootfs.display()
        )));
    };
    if parent.optional.iter().any(|o| o.starts_with("shared:")) {
        nix::mount::mount(
            None::<&str>,
            &parent.mount_point,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| {
            Error::sys(
                format!("make parent mount {} private", parent.mount_point.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// The rootfs becomes a mount point of its own (pivot_root and MS_MOVE need one).
fn bind_rootfs_onto_itself(rootfs: &Path) -> Result<()> {
    nix::mount::mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind rootfs {} onto itself", rootfs.display()), e))
}

/// The container has a mount namespace (new or joined) rather than the runtime's.
fn own_mount_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    has_namespace(spec, oci_spec::runtime::LinuxNamespaceType::Mount)
}

fn chroot_into(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(|e| Error::sys(format!("chdir {}", rootfs.display()), e))?;
    nix::unistd::chroot(".").map_err(|e| Error::sys(format!("chroot {}", rootfs.display()), e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))
}

fn has_namespace(spec: &oci_spec::runtime::Spec, t: oci_spec::runtime::LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// True when the container has (or podrun already runs in) a user namespace: no mknod then.
fn in_user_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    if has_namespace(spec, oci_spec::runtime::LinuxNamespaceType::User) {
        return true;
    }
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

fn open_dir_rdonly(path: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open {}", path.display()), e))
}

/// pivot_root(".", ".") from inside the rootfs (no directory needed for the old root), then
/// the old root is made rslave (so the unmount cannot propagate to the host) and detached.
fn pivot_root(rootfs: &Path) -> Result<()> {
    let old_root = open_dir_rdonly(Path::new("/"))?;
    let new_root = open_dir_rdonly(rootfs)?;
    nix::unistd::fchdir(&new_root)
        .map_err(|e| Error::sys(format!("fchdir {}", rootfs.display()), e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| Error::sys(format!("pivot_root {}", rootfs.display()), e))?;
    nix::unistd::fchdir(&old_root).map_err(|e| Error::sys("fchdir old root", e))?;
    nix::mount::mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys("make old root rslave", e))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("detach old root", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// --no-pivot: hide the host's full proc/sysfs mounts (the kernel would otherwise allow fresh
/// procfs mounts from inside), MS_MOVE the rootfs onto `/` and chroot into it.
fn move_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(|e| Error::sys(format!("chdir {}", rootfs.display()), e))?;
    hide_host_proc_and_sysfs(rootfs)?;
    nix::mount::mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("move mount {} onto /", rootfs.display()), e))?;
    nix::unistd::chroot(".").map_err(|e| Error::sys(format!("chroot {}", rootfs.display()), e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))
}

fn hide_host_proc_and_sysfs(rootfs: &Path) -> Result<()> {
    let infos = mounts::read_mountinfo()?;
    let mut targets: Vec<PathBuf> = infos
        .into_iter()
        .filter(|m| m.root == Path::new("/") && (m.fstype == "proc" || m.fstype == "sysfs"))
        .filter(|m| !m.mount_point.starts_with(rootfs))
        .map(|m| m.mount_point)
        .collect();
    // Deepest first, so a parent's detach does not hide a child we still want to handle.
    targets.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in targets {
        match nix::mount::mount(
            None::<&str>,
            &p,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::sys(format!("make {} rslave", p.display()), e)),
        }
        match nix::mount::umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                nix::mount::mount(
                    Some("tmpfs"),
                    &p,
                    Some("tmpfs"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(|e| Error::sys(format!("cover {} with tmpfs", p.display()), e))?;
            }
            Err(e) => return Err(Error::sys(format!("unmount {}", p.display()), e)),
        }
    }
    Ok(())
}

fn check_cwd_is_root() -> Result<()> {
    let cwd =
        nix::unistd::getcwd().map_err(|e| Error::sys("getcwd after entering the rootfs", e))?;
    if cwd != Path::new("/") {
        return Err(Error::other(format!(
            "working directory after entering the rootfs is {}, not /",
            cwd.display()
        )));
    }
    Ok(())
}

/// std fds that are the host's /dev/null are pointed at the container's /dev/null (runc).
fn reopen_dev_null() -> Result<()> {
    let null = match nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
    {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys("open /dev/null in the container", e)),
    };
    let null_st = fstat(&null).map_err(|e| Error::sys("stat /dev/null", e))?;
    for fd in 0..3 {
        // SAFETY: fds 0..2 are borrowed only for fstat during this iteration.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(st) = fstat(b) else { continue };
        let is_chr = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFCHR;
        if is_chr && st.st_rdev == null_st.st_rdev {
            // SAFETY: dup3 onto a std fd the process owns; both fds are valid.
            if unsafe { libc::dup3(null.as_raw_fd(), fd, 0) } < 0 {
                return Err(Error::sys(
                    format!("dup3 /dev/null onto fd {fd}"),
                    Errno::last(),
                ));
            }
        }
    }
    Ok(())
}

/// A target usable by mount(2) for `fd`: its /proc/self/fd link when the container's /proc
/// is a procfs, else the in-root path itself (after pivot_root a path cannot leave the root).
fn mount_target(fd: BorrowedFd<'_>, path: &Path) -> PathBuf {
    let proc_ok = nix::sys::statfs::statfs("/proc/self/fd")
        .map(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        .unwrap_or(false);
    if proc_ok {
        paths::proc_fd_path(fd)
    } else {
        paths::clean(path)
    }
}

/// readonlyPaths: bind the path onto itself (recursively) and make the whole tree read-only.
fn readonly_path(root: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let op = |what: &str| format!("{what} readonly path {}", path.display());
    let fd = match paths::open_in_root(root, path, Symlinks::FollowInRoot) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(op("open"), e)),
    };
    let target = mount_target(fd.as_fd(), path);
    nix::mount::mount(
        Some(&target),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys(op("bind"), e))?;
    drop(fd);
    let fd = paths::open_in_root(root, path, Symlinks::FollowInRoot)
        .map_err(|e| Error::sys(op("reopen"), e))?;
    match mounts::mount_setattr(fd.as_fd(), true, 0x1, 0) {
        Ok(()) => Ok(()),
        Err(Errno::ENOSYS) => {
            let locked =
                mounts::locked_flags(fd.as_fd()).map_err(|e| Error::sys(op("statfs"), e))?;
            let keep = locked & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
            nix::mount::mount(
                None::<&str>,
                &mount_target(fd.as_fd(), path),
                None::<&str>,
                keep | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| Error::sys(op("remount read-only"), e))
        }
        Err(e) => Err(Error::sys(op("mount_setattr read-only"), e)),
    }
}

/// maskedPaths: /dev/null bound over files, an empty read-only tmpfs over directories;
/// paths that do not exist are skipped.
fn mask_path(root: BorrowedFd<'_>, path: &Path, dev_null: &mut Option<OwnedFd>) -> Result<()> {
    let op = |what: &str| format!("{what} masked path {}", path.display());
    let fd = match paths::open_in_root(root, path, Symlinks::FollowInRoot) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(op("open"), e)),
    };
    let st = fstat(&fd).map_err(|e| Error::sys(op("stat"), e))?;
    let target = mount_target(fd.as_fd(), path);
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFDIR {
        return nix::mount::mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| Error::sys(op("mount read-only tmpfs (type tmpfs) over"), e));
    }
    if dev_null.is_none() {
        *dev_null = Some(devices::open_dev_null(root)?);
    }
    let null = dev_null
        .as_ref()
        .map(|n| mount_target(n.as_fd(), Path::new("/dev/null")));
    nix::mount::mount(
        null.as_deref(),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(op("bind /dev/null (type bind) over"), e))
}

/// tmpfs mounts and /dev asked to be read-only were mounted read-write (to populate them);
/// remount them read-only now (runc's finalizeRootfs).
fn remount_readonly_mounts(root: BorrowedFd<'_>, spec: &oci_spec::runtime::Spec) -> Result<()> {
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        let typ = m.typ().as_deref().unwrap_or("");
        let opts = mounts::parse_options(typ, m.options().as_deref().unwrap_or(&[]))?;
        if !opts.flags.contains(MsFlags::MS_RDONLY) || opts.is_bind() {
            continue;
        }
        if typ != "tmpfs" && paths::clean(m.destination()) != Path::new("/dev") {
            continue;
        }
        let dest = m.destination();
        let fd = paths::open_in_root(root, dest, Symlinks::FollowInRoot).map_err(|e| {
            Error::sys(
                format!("open {} to remount it read-only", dest.display()),
                e,
            )
        })?;
        let flags = opts.flags - MsFlags::MS_REMOUNT;
        nix::mount::mount(
            None::<&str>,
            &mount_target(fd.as_fd(), dest),
            None::<&str>,
            flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            Error::sys(
                format!("remount {} (type {typ}) read-only", dest.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// root.readonly: MS_BIND|MS_REMOUNT|MS_RDONLY on `/`, keeping its locked flags on EPERM.
fn remount_root_readonly() -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    match nix::mount::mount(None::<&str>, "/", None::<&str>, flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let root = paths::open_dir(Path::new("/"))?;
            let locked =
                mounts::locked_flags(root.as_fd()).map_err(|e| Error::sys("statvfs /", e))?;
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                flags | locked,
                None::<&str>,
            )
            .map_err(|e| Error::sys("remount / read-only", e))
        }
        Err(e) => Err(Error::sys("remount / read-only", e)),
    }
}

/// Scaffolding for tests that need mounts: a forked child in its own mount namespace.
#[cfg(test)]
pub(crate) mod testutil {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::path::{Path, PathBuf};

    /// A temp directory removed (recursively) on drop. Mounts made by the tests live only in
    /// the forked children's mount namespaces, so the host sees plain directories.
    pub struct TempDir {
        pub path: PathBuf,
    }

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path =
                std::env::temp_dir().join(format!("podrun-test-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temp dir");
            TempDir { path }
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// A unique name for paths that must NOT appear on the host.
    pub fn unique(tag: &str) -> String {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("podrun-{tag}-{}-{n}", std::process::id())
    }

    /// Runs `f` in a forked child that first unshares its mount namespace and makes `/`
    /// rprivate; the child's Ok/Err string comes back over a pipe. Nothing leaks to the host.
    pub fn in_child<F: FnOnce() -> Result<String, String>>(f: F) -> Result<String, String> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        // SAFETY: the child only runs `f` and then _exit()s; glibc's malloc is fork-safe.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                drop(r);
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                        .map_err(|e| format!("unshare: {e}"))?;
                    nix::mount::mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                        None::<&str>,
                    )
                    .map_err(|e| format!("make / rprivate: {e}"))?;
                    f()
                }));
                let msg = match res {
                    Ok(Ok(s)) => format!("OK{s}"),
                    Ok(Err(s)) => format!("ER{s}"),
                    Err(_) => "ERchild panicked".to_string(),
                };
                let _ = nix::unistd::write(&w, msg.as_bytes());
                // SAFETY: _exit skips atexit handlers and the test harness's state in the child.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(w);
                let mut out = String::new();
                let mut file = std::fs::File::from(r);
                let _ = file.read_to_string(&mut out);
                let _ = nix::sys::wait::waitpid(child, None);
                let _ = file.as_raw_fd();
                match out.get(..2) {
                    Some("OK") => Ok(out[2..].to_string()),
                    Some("ER") => Err(out[2..].to_string()),
                    _ => Err(format!("child died without a report: {out:?}")),
                }
            }
        }
    }

    /// A spec from a JSON fragment (ociVersion added).
    pub fn spec(mut v: serde_json::Value) -> oci_spec::runtime::Spec {
        v["ociVersion"] = serde_json::json!("1.0.2");
        // The init runs in a mount namespace of its own unless a test says otherwise.
        if v.get("linux").is_none() {
            v["linux"] = serde_json::json!({});
        }
        if v["linux"].get("namespaces").is_none() {
            v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}]);
        }
        serde_json::from_value(v).expect("test spec")
    }

    /// A rootfs with the usual top-level directories and a marker file.
    pub fn make_rootfs(base: &Path) -> PathBuf {
        let root = base.join("rootfs");
        for d in ["proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir in rootfs");
        }
        std::fs::write(root.join("marker"), b"inside").expect("marker");
        root
    }

    /// errno of an io error as a short name, for assertions.
    pub fn errno_of(e: &std::io::Error) -> Option<nix::errno::Errno> {
        e.raw_os_error().map(nix::errno::Errno::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use serde_json::json;

    fn cfg<'a>(
        spec: &'a oci_spec::runtime::Spec,
        rootfs: &'a Path,
        bundle: &'a Path,
        no_pivot: bool,
    ) -> RootfsConfig<'a> {
        RootfsConfig {
            spec,
            rootfs,
            bundle,
            no_pivot,
        }
    }

    fn fs_magic(p: &Path) -> Result<nix::sys::statfs::FsType, String> {
        nix::sys::statfs::statfs(p)
            .map(|s| s.filesystem_type())
            .map_err(|e| format!("statfs {}: {e}", p.display()))
    }

    fn check(cond: bool, what: &str) -> Result<(), String> {
        if cond {
            Ok(())
        } else {
            Err(what.to_string())
        }
    }

    fn expect_erofs(p: &Path) -> Result<(), String> {
        match std::fs::write(p, b"x") {
            Err(e) if errno_of(&e) == Some(Errno::EROFS) => Ok(()),
            other => Err(format!(
                "write {}: expected EROFS, got {other:?}",
                p.display()
            )),
        }
    }

    #[test]
    fn bind_dir_file_and_readonly_bind() {
        let t = TempDir::new("bind");
        let rootfs = make_rootfs(&t.path);
        let src = t.path.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("hello"), b"hi").unwrap();
        let spec = spec(json!({"mounts": [
            {"destination": "/mnt/data", "type": "bind", "source": src, "options": ["rbind", "ro"]},
            {"destination": "/etc/conf", "type": "bind", "source": "src/hello", "options": ["bind"]},
            {"destination": "/mnt/rw", "type": "none", "source": src, "options": ["bind", "rw", "rprivate"]},
            {"destination": "/mnt/unb", "type": "bind", "source": src, "options": ["bind", "runbindable"]}
        ]}));
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            let got = std::fs::read(rootfs.join("mnt/data/hello")).map_err(|e| e.to_string())?;
            check(got == b"hi", "dir bind content")?;
            expect_erofs(&rootfs.join("mnt/data/new"))?;
            let got = std::fs::read(rootfs.join("etc/conf")).map_err(|e| e.to_string())?;
            check(got == b"hi", "file bind content")?;
            std::fs::write(rootfs.join("mnt/rw/written"), b"w")
                .map_err(|e| format!("rw bind: {e}"))?;
            let mi = mounts::read_mountinfo().map_err(|e| e.to_string())?;
            let unb = mi
                .iter()
                .find(|m| m.mount_point == rootfs.join("mnt/unb"))
                .ok_or("no /mnt/unb mount")?;
            check(
                unb.optional.iter().any(|o| o == "unbindable"),
                &format!("propagation {:?}", unb.optional),
            )?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
        assert!(src.join("written").exists());
        assert!(
            rootfs.join("etc/conf").is_file(),
            "file mount point created"
        );
    }

    #[test]
    fn tmpfs_mode_and_size() {
        let t = TempDir::new("tmpfs");
        let rootfs = make_rootfs(&t.path);
        let spec = spec(json!({"mounts": [
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=1m"]}
        ]}));
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            let p = rootfs.join("scratch");
            check(
                fs_magic(&p)? == nix::sys::statfs::TMPFS_MAGIC,
                "scratch is tmpfs",
            )?;
            let s = nix::sys::statfs::statfs(&p).map_err(|e| e.to_string())?;
            let bytes = s.blocks() * s.block_size() as u64;
            check(bytes == 1 << 20, &format!("size {bytes}"))?;
            let st = nix::sys::stat::stat(&p).map_err(|e| e.to_string())?;
            check(
                st.st_mode & 0o7777 == 0o1777,
                &format!("mode {:o}", st.st_mode & 0o7777),
            )?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
    }

    #[test]
    fn tmpcopyup_keeps_existing_files() {
        let t = TempDir::new("copyup");
        let rootfs = make_rootfs(&t.path);
        std::fs::create_dir_all(rootfs.join("etc/sub")).unwrap();
        std::fs::write(rootfs.join("etc/passwd"), b"root:x:0:0").unwrap();
        std::os::unix::fs::symlink("passwd", rootfs.join("etc/sub/link")).unwrap();
        let spec = spec(json!({"mounts": [
            {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}
        ]}));
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            check(
                fs_magic(&rootfs.join("etc"))? == nix::sys::statfs::TMPFS_MAGIC,
                "etc is tmpfs",
            )?;
            let got = std::fs::read(rootfs.join("etc/passwd")).map_err(|e| e.to_string())?;
            check(got == b"root:x:0:0", "copied content")?;
            let l = std::fs::read_link(rootfs.join("etc/sub/link")).map_err(|e| e.to_string())?;
            check(l == Path::new("passwd"), "copied symlink")?;
            std::fs::write(rootfs.join("etc/new"), b"n").map_err(|e| e.to_string())?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
        assert!(
            !rootfs.join("etc/new").exists(),
            "write went to the tmpfs, not the rootfs"
        );
    }

    fn standard_mounts() -> serde_json::Value {
        json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}
        ])
    }

    #[test]
    fn proc_dev_and_devices() {
        let t = TempDir::new("dev");
        let rootfs = make_rootfs(&t.path);
        let spec = spec(json!({"mounts": standard_mounts(), "linux": {"devices": [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 7, "gid": 8}
        ]}}));
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            check(
                fs_magic(&rootfs.join("proc"))? == nix::sys::statfs::PROC_SUPER_MAGIC,
                "proc is procfs",
            )?;
            let st = nix::sys::stat::lstat(&rootfs.join("dev/null")).map_err(|e| e.to_string())?;
            check(
                st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3),
                "dev/null 1:3",
            )?;
            check(
                st.st_mode & 0o777 == 0o666,
                &format!("dev/null mode {:o}", st.st_mode),
            )?;
            let st = nix::sys::stat::lstat(&rootfs.join("dev/fuse")).map_err(|e| e.to_string())?;
            check(
                st.st_rdev == libc::makedev(10, 229)
                    && st.st_mode & 0o777 == 0o600
                    && st.st_uid == 7
                    && st.st_gid == 8,
                "dev/fuse",
            )?;
            let l = std::fs::read_link(rootfs.join("dev/ptmx")).map_err(|e| e.to_string())?;
            check(l == Path::new("pts/ptmx"), "ptmx link")?;
            let l = std::fs::read_link(rootfs.join("dev/fd")).map_err(|e| e.to_string())?;
            check(l == Path::new("/proc/self/fd"), "fd link")?;
            check(rootfs.join("dev/pts/ptmx").exists(), "devpts mounted")?;
            check(
                fs_magic(&rootfs.join("dev/shm"))? == nix::sys::statfs::TMPFS_MAGIC,
                "shm",
            )?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
    }

    #[test]
    fn device_inside_proc_is_refused() {
        let t = TempDir::new("devproc");
        let rootfs = make_rootfs(&t.path);
        let spec = spec(json!({
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"devices": [{"path": "/proc/sys/vm/drop_caches", "type": "c", "major": 1, "minor": 3}]}
        }));
        let e = prepare_err(&spec, &rootfs, &t.path);
        assert!(
            e.contains("/proc/sys/vm/drop_caches") && e.contains("procfs"),
            "{e}"
        );
    }

    #[test]
    fn symlink_escape_lands_inside_rootfs() {
        let t = TempDir::new("escape");
        let rootfs = make_rootfs(&t.path);
        let host_dir = Path::new("/tmp").join(unique("esc"));
        assert!(!host_dir.exists());
        std::os::unix::fs::symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).unwrap();
        std::os::unix::fs::symlink(host_dir.join("bar"), rootfs.join("jump")).unwrap();
        std::fs::write(t.path.join("hosts.src"), b"127.0.0.1 x").unwrap();
        let spec = spec(json!({"mounts": [
            {"destination": "/etc/hosts", "type": "bind", "source": t.path.join("hosts.src"), "options": ["bind", "ro"]}
        ]}));
        let landed = rootfs
            .join(host_dir.strip_prefix("/").unwrap())
            .join("bar/baz/hosts");
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            let got = std::fs::read(&landed).map_err(|e| format!("{}: {e}", landed.display()))?;
            check(got == b"127.0.0.1 x", "bind landed inside")?;
            check(!host_dir.exists(), "host dir created")?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
        assert!(!host_dir.exists(), "something was created on the host");
        assert!(landed.is_file());
    }

    #[test]
    fn dotdot_destination_stays_inside() {
        let t = TempDir::new("dotdot");
        let rootfs = make_rootfs(&t.path);
        let name = unique("dotdot");
        let spec = spec(json!({"mounts": [
            {"destination": format!("../../../../../{name}"), "type": "tmpfs", "source": "tmpfs"}
        ]}));
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            check(
                fs_magic(&rootfs.join(&name))? == nix::sys::statfs::TMPFS_MAGIC,
                "tmpfs inside",
            )?;
            check(!Path::new("/").join(&name).exists(), "created at host /")?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
        assert!(!Path::new("/").join(&name).exists());
    }

    fn prepare_err(spec: &oci_spec::runtime::Spec, rootfs: &Path, bundle: &Path) -> String {
        in_child(|| match prepare_rootfs(&cfg(spec, rootfs, bundle, false)) {
            Ok(()) => Err("prepare_rootfs succeeded".into()),
            Err(e) => Ok(e.to_string()),
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn proc_symlink_is_refused() {
        let t = TempDir::new("procsym");
        let rootfs = make_rootfs(&t.path);
        std::fs::remove_dir(rootfs.join("proc")).unwrap();
        std::fs::create_dir_all(rootfs.join("fakeproc")).unwrap();
        std::os::unix::fs::symlink("/fakeproc", rootfs.join("proc")).unwrap();
        let spec =
            spec(json!({"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}));
        let e = prepare_err(&spec, &rootfs, &t.path);
        assert!(
            e.contains("symlink") && e.contains("/proc") && e.contains("proc"),
            "{e}"
        );
        // sysfs too.
        std::fs::remove_dir(rootfs.join("sys")).unwrap();
        std::os::unix::fs::symlink("/fakeproc", rootfs.join("sys")).unwrap();
        let spec2 = super::testutil::spec(
            json!({"mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs"}]}),
        );
        let e = prepare_err(&spec2, &rootfs, &t.path);
        assert!(e.contains("symlink") && e.contains("/sys"), "{e}");
    }

    #[test]
    fn mounts_inside_proc_are_refused_except_lxcfs_files() {
        let t = TempDir::new("procdest");
        let rootfs = make_rootfs(&t.path);
        std::fs::write(t.path.join("f"), b"fake").unwrap();
        let f = t.path.join("f");
        for bad in ["/proc/sys/kernel/core_pattern", "/proc/self/attr/exec"] {
            let spec = spec(json!({"mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": bad, "type": "bind", "source": f, "options": ["bind"]}
            ]}));
            let e = prepare_err(&spec, &rootfs, &t.path);
            assert!(e.contains(bad) && e.contains("/proc"), "{bad}: {e}");
        }
        // A symlink pointing into /proc is caught after resolution too.
        std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", rootfs.join("etc/cp")).unwrap();
        let spec1 = spec(json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/etc/cp", "type": "bind", "source": f, "options": ["bind"]}
        ]}));
        let e = prepare_err(&spec1, &rootfs, &t.path);
        assert!(e.contains("inside /proc"), "{e}");
        // Non-proc filesystems on /proc are refused.
        let spec2 =
            spec(json!({"mounts": [{"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}]}));
        let e = prepare_err(&spec2, &rootfs, &t.path);
        assert!(e.contains("inside /proc"), "{e}");
        let ok = spec(json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/proc/cpuinfo", "type": "bind", "source": f, "options": ["bind", "ro"]}
        ]}));
        let res = in_child(|| {
            prepare_rootfs(&cfg(&ok, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            let got = std::fs::read(rootfs.join("proc/cpuinfo")).map_err(|e| e.to_string())?;
            check(got == b"fake", "cpuinfo bind")?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
    }

    #[test]
    fn errors_name_the_mount_and_the_option() {
        let t = TempDir::new("errs");
        let rootfs = make_rootfs(&t.path);
        let spec1 = spec(
            json!({"mounts": [{"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["bogus"]}]}),
        );
        let e = prepare_err(&spec1, &rootfs, &t.path);
        assert!(
            e.contains("bogus") && e.contains("/x") && e.contains("tmpfs"),
            "{e}"
        );
        let spec2 = spec(
            json!({"mounts": [{"destination": "/y", "type": "bind", "source": "/nonexistent-podrun", "options": ["bind"]}]}),
        );
        let e = prepare_err(&spec2, &rootfs, &t.path);
        assert!(
            e.contains("/nonexistent-podrun on /y (type bind)") && e.contains("ENOENT"),
            "{e}"
        );
        let spec3 =
            spec(json!({"mounts": [{"destination": "/z", "type": "nosuchfs", "source": "none"}]}));
        let e = prepare_err(&spec3, &rootfs, &t.path);
        assert!(
            e.contains("mount none on /z (type nosuchfs)") && e.contains("ENODEV"),
            "{e}"
        );
    }

    #[test]
    fn cgroup_mount_on_this_host() {
        let t = TempDir::new("cgroup");
        let rootfs = make_rootfs(&t.path);
        let spec = spec(json!({"mounts": [
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ]}));
        // Every host hierarchy, but a hybrid host's cgroup2 (`unified`): runc leaves it out.
        let hybrid = fs_magic(Path::new("/sys/fs/cgroup")).ok()
            != Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        let host_entries: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                !hybrid || fs_magic(&e.path()).ok() != Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let res = in_child(|| {
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            let cg = rootfs.join("sys/fs/cgroup");
            check(
                fs_magic(&rootfs.join("sys"))? == nix::sys::statfs::SYSFS_MAGIC,
                "sysfs",
            )?;
            for name in &host_entries {
                let p = cg.join(name);
                let m = fs_magic(&p)?;
                check(
                    m == nix::sys::statfs::CGROUP_SUPER_MAGIC
                        || m == nix::sys::statfs::CGROUP2_SUPER_MAGIC,
                    &format!("{} is not a cgroup fs", p.display()),
                )?;
                check(
                    p.join("cgroup.procs").exists(),
                    &format!("{}/cgroup.procs", p.display()),
                )?;
            }
            expect_erofs(&cg.join("newfile"))?;
            Ok(host_entries.len().to_string())
        });
        assert!(res.is_ok(), "{res:?}");
    }

    #[test]
    fn cgroup_mount_with_cgroup_namespace() {
        let t = TempDir::new("cgroupns");
        let rootfs = make_rootfs(&t.path);
        let spec = spec(json!({
            "mounts": [
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "cgroup"}]}
        }));
        let res = in_child(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| format!("unshare cgroupns: {e}"))?;
            prepare_rootfs(&cfg(&spec, &rootfs, &t.path, false)).map_err(|e| e.to_string())?;
            let cg = rootfs.join("sys/fs/cgroup");
            let mi = mounts::read_mountinfo().map_err(|e| e.to_string())?;
            let mut n = 0;
            for m in mi
                .iter()
                .filter(|m| m.mount_point.parent() == Some(cg.as_path()))
            {
                check(
                    m.fstype == "cgroup" || m.fstype == "cgroup2",
                    &format!("{:?}", m),
                )?;
                check(
                    m.root == Path::new("/"),
                    &format!("fresh mount expected: {:?}", m),
                )?;
                n += 1;
            }
            check(n > 0, "no cgroup hierarchies mounted")?;
            expect_erofs(&cg.join("memory/x"))?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
    }

    /// The full sequence with masked/readonly paths and a read-only root; `no_pivot` picks
    /// pivot_root or MS_MOVE + chroot.
    fn full_sequence(no_pivot: bool) {
        let t = TempDir::new(if no_pivot { "nopivot" } else { "pivot" });
        let rootfs = make_rootfs(&t.path);
        let mut mounts = standard_mounts();
        let extra = [
            json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}),
            json!({"destination": "/data/sub", "type": "tmpfs", "source": "tmpfs"}),
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}),
            json!({"destination": "/rotmp", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
        ];
        mounts.as_array_mut().unwrap().extend(extra);
        let spec = spec(json!({
            "root": {"path": "rootfs", "readonly": true},
            "mounts": mounts,
            "linux": {
                "maskedPaths": ["/proc/timer_list", "/proc/fs", "/proc/does-not-exist"],
                "readonlyPaths": ["/data", "/proc/sys", "/nope"]
            }
        }));
        let host_path = rootfs.clone();
        let res = in_child(|| {
            let c = cfg(&spec, &rootfs, &t.path, no_pivot);
            prepare_rootfs(&c).map_err(|e| format!("prepare: {e}"))?;
            enter_rootfs(&c).map_err(|e| format!("enter: {e}"))?;
            finish_rootfs(&c).map_err(|e| format!("finish: {e}"))?;
            let marker = std::fs::read("/marker").map_err(|e| format!("/marker: {e}"))?;
            check(marker == b"inside", "marker")?;
            check(
                std::env::current_dir().ok().as_deref() == Some(Path::new("/")),
                "cwd /",
            )?;
            check(!host_path.exists(), "host path of rootfs visible inside")?;
            let mi = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
            if !no_pivot {
                check(
                    !mi.contains("/sys/fs/cgroup"),
                    "old root mounts still attached",
                )?;
            }
            let tl =
                std::fs::read("/proc/timer_list").map_err(|e| format!("read timer_list: {e}"))?;
            check(tl.is_empty(), "timer_list masked")?;
            let n = std::fs::read_dir("/proc/fs")
                .map_err(|e| e.to_string())?
                .count();
            check(n == 0, "proc/fs masked")?;
            check(
                fs_magic(Path::new("/proc/fs"))? == nix::sys::statfs::TMPFS_MAGIC,
                "proc/fs is a tmpfs",
            )?;
            expect_erofs(Path::new("/proc/fs/x"))?;
            expect_erofs(Path::new("/data/x"))?;
            expect_erofs(Path::new("/data/sub/x"))?;
            expect_erofs(Path::new("/proc/sys/vm/drop_caches"))?;
            expect_erofs(Path::new("/newfile"))?;
            expect_erofs(Path::new("/rotmp/x"))?;
            std::fs::write("/tmp/ok", b"w").map_err(|e| format!("/tmp writable: {e}"))?;
            std::fs::write("/dev/null", b"w").map_err(|e| format!("/dev/null writable: {e}"))?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
        assert!(!rootfs.join("newfile").exists());
    }

    /// oci-spec's default spec is runc's `runc spec` output: every mount, masked and readonly
    /// path of it must work on this host.
    #[test]
    fn runc_default_spec_full_sequence() {
        let t = TempDir::new("default");
        let rootfs = make_rootfs(&t.path);
        let mut spec = oci_spec::runtime::Spec::default();
        spec.set_hooks(None);
        let res = in_child(|| {
            let c = cfg(&spec, &rootfs, &t.path, false);
            prepare_rootfs(&c).map_err(|e| format!("prepare: {e}"))?;
            enter_rootfs(&c).map_err(|e| format!("enter: {e}"))?;
            finish_rootfs(&c).map_err(|e| format!("finish: {e}"))?;
            expect_erofs(Path::new("/newfile"))?;
            // Writing "x" would be rejected (EINVAL) even if the mount were writable: harmless.
            expect_erofs(Path::new("/proc/sys/vm/drop_caches"))?;
            expect_erofs(Path::new("/sys/fs/cgroup/x"))?;
            check(
                fs_magic(Path::new("/sys"))? == nix::sys::statfs::SYSFS_MAGIC,
                "sysfs",
            )?;
            std::fs::write("/dev/shm/x", b"x").map_err(|e| format!("/dev/shm: {e}"))?;
            let tl = std::fs::read("/proc/timer_list").map_err(|e| e.to_string())?;
            check(tl.is_empty(), "timer_list masked")?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
    }

    #[test]
    fn pivot_root_masked_readonly_and_readonly_root() {
        full_sequence(false);
    }

    #[test]
    fn no_pivot_masked_readonly_and_readonly_root() {
        full_sequence(true);
    }

    #[test]
    fn fake_dev_null_is_replaced_or_refused() {
        // No /dev mount: the rootfs's regular-file /dev/null is replaced by the real node.
        let t = TempDir::new("devnull");
        let rootfs = make_rootfs(&t.path);
        std::fs::write(rootfs.join("dev/null"), b"secret").unwrap();
        let spec1 = spec(json!({
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"maskedPaths": ["/proc/timer_list"]}
        }));
        let res = in_child(|| {
            let c = cfg(&spec1, &rootfs, &t.path, false);
            prepare_rootfs(&c).map_err(|e| e.to_string())?;
            enter_rootfs(&c).map_err(|e| e.to_string())?;
            finish_rootfs(&c).map_err(|e| e.to_string())?;
            let k = std::fs::read("/proc/timer_list").map_err(|e| e.to_string())?;
            check(k.is_empty(), "timer_list masked with the real null device")?;
            let st = nix::sys::stat::stat("/dev/null").map_err(|e| e.to_string())?;
            check(
                st.st_rdev == libc::makedev(1, 3),
                "/dev/null replaced by 1:3",
            )?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));

        // /dev bound from elsewhere (no device setup) with a symlinked null: refused.
        let t2 = TempDir::new("devnull2");
        let rootfs2 = make_rootfs(&t2.path);
        let devdir = t2.path.join("devsrc");
        std::fs::create_dir_all(&devdir).unwrap();
        std::fs::write(t2.path.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink("/marker", devdir.join("null")).unwrap();
        let spec2 = spec(json!({
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "bind", "source": devdir, "options": ["rbind"]}
            ],
            "linux": {"maskedPaths": ["/proc/timer_list"]}
        }));
        let res = in_child(|| {
            let c = cfg(&spec2, &rootfs2, &t2.path, false);
            prepare_rootfs(&c).map_err(|e| e.to_string())?;
            enter_rootfs(&c).map_err(|e| e.to_string())?;
            match finish_rootfs(&c) {
                Ok(()) => Err("masking with a symlinked /dev/null succeeded".into()),
                Err(e) => Ok(e.to_string()),
            }
        });
        let e = res.unwrap_or_else(|e| panic!("{e}"));
        assert!(e.contains("/dev/null"), "{e}");
    }

    #[test]
    fn rootfs_propagation_values() {
        let s = super::testutil::spec(json!({"linux": {"rootfsPropagation": "rshared"}}));
        assert_eq!(
            root_propagation(&s).unwrap(),
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
        let s = super::testutil::spec(json!({"linux": {"rootfsPropagation": "sideways"}}));
        assert!(root_propagation(&s)
            .unwrap_err()
            .to_string()
            .contains("sideways"));
        let s = super::testutil::spec(json!({}));
        assert_eq!(root_propagation(&s).unwrap(), None);
    }

    #[test]
    fn rshared_rootfs_propagation_pivots_and_ends_shared() {
        let t = TempDir::new("rshared");
        let rootfs = make_rootfs(&t.path);
        let spec = spec(json!({
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"rootfsPropagation": "rshared"}
        }));
        let res = in_child(|| {
            let c = cfg(&spec, &rootfs, &t.path, false);
            prepare_rootfs(&c).map_err(|e| format!("prepare: {e}"))?;
            enter_rootfs(&c).map_err(|e| format!("enter: {e}"))?;
            finish_rootfs(&c).map_err(|e| format!("finish: {e}"))?;
            let mi = mounts::read_mountinfo().map_err(|e| e.to_string())?;
            let root = mi
                .iter()
                .find(|m| m.mount_point == Path::new("/"))
                .ok_or("no / in mountinfo")?;
            check(
                root.optional.iter().any(|o| o.starts_with("shared:")),
                &format!("/ not shared: {:?}", root.optional),
            )?;
            Ok(String::new())
        });
        assert_eq!(res, Ok(String::new()));
    }
}
