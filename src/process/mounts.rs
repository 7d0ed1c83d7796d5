//! Spec mounts: option parsing and one function per mount kind (runs in the container's init,
//! inside its new mount namespace, before pivot_root; the host /proc is still visible).
//!
//! Every destination is resolved inside the rootfs (see `paths`) and every mount targets
//! `/proc/self/fd/<fd>` of the resolved destination. Follow-up operations on the new mount
//! (remount, propagation, verification) reopen the destination, because the fd opened before
//! the mount refers to the directory underneath it.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statfs::fstatfs;

use super::paths::{self, Create, Symlinks};
use crate::{Error, Result};

/// nosuid, nodev, noexec: runc's defaults for the tmpfs under a v1 cgroup mount.
const DEFAULT_MOUNT_FLAGS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Mount points under /proc that may be bind-mounted over (lxcfs-style emulation), as runc.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

// mount_setattr(2) attributes (linux/mount.h); libc has no `mount_attr` yet.
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A spec mount's `options`, sorted into what each syscall needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags to set (MS_BIND/MS_REC included for bind/rbind).
    pub flags: MsFlags,
    /// MS_* flags explicitly cleared (rw, suid, dev, exec, ...).
    pub cleared: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// Filesystem data options (`mode=755`, `size=64m`, ...), joined with commas.
    pub data: Vec<String>,
    /// runc's `tmpcopyup` extension: copy the underlying directory into the new tmpfs.
    pub copyup: bool,
    /// Recursive attributes (`rro`, `rnosuid`, ...) applied with mount_setattr(AT_RECURSIVE).
    pub rec_attr_set: u64,
    pub rec_attr_clr: u64,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            copyup: false,
            rec_attr_set: 0,
            rec_attr_clr: 0,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// One flag option: (name, set it?, flag).
const FLAG_OPTIONS: &[(&str, bool, MsFlags)] = &[
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nodev", true, MsFlags::MS_NODEV),
    ("dev", false, MsFlags::MS_NODEV),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", true, MsFlags::MS_DIRSYNC),
    ("remount", true, MsFlags::MS_REMOUNT),
    ("mand", true, MsFlags::MS_MANDLOCK),
    ("nomand", false, MsFlags::MS_MANDLOCK),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("atime", false, MsFlags::MS_NOATIME),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("diratime", false, MsFlags::MS_NODIRATIME),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("norelatime", false, MsFlags::MS_RELATIME),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("nostrictatime", false, MsFlags::MS_STRICTATIME),
    ("iversion", true, MsFlags::MS_I_VERSION),
    ("noiversion", false, MsFlags::MS_I_VERSION),
    ("lazytime", true, MsFlags::MS_LAZYTIME),
    ("nolazytime", false, MsFlags::MS_LAZYTIME),
    ("silent", true, MsFlags::MS_SILENT),
    ("loud", false, MsFlags::MS_SILENT),
    (
        "nosymfollow",
        true,
        MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
    ),
    (
        "symfollow",
        false,
        MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
    ),
];

const PROPAGATION_OPTIONS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Recursive attributes: (name, set?, attribute).
const REC_ATTR_OPTIONS: &[(&str, bool, u64)] = &[
    ("rro", true, MOUNT_ATTR_RDONLY),
    ("rrw", false, MOUNT_ATTR_RDONLY),
    ("rnosuid", true, MOUNT_ATTR_NOSUID),
    ("rsuid", false, MOUNT_ATTR_NOSUID),
    ("rnodev", true, MOUNT_ATTR_NODEV),
    ("rdev", false, MOUNT_ATTR_NODEV),
    ("rnoexec", true, MOUNT_ATTR_NOEXEC),
    ("rexec", false, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
];

/// Data options each known filesystem accepts (key before any `=`). Filesystems not listed
/// (overlay, fuse, ...) get their unknown options passed through as data.
fn known_data_keys(fstype: &str) -> Option<&'static [&'static str]> {
    Some(match fstype {
        "tmpfs" => &[
            "size",
            "nr_blocks",
            "nr_inodes",
            "mode",
            "uid",
            "gid",
            "huge",
            "mpol",
            "inode32",
            "inode64",
            "noswap",
            "quota",
            "usrquota",
            "grpquota",
            "usrquota_block_hardlimit",
            "usrquota_inode_hardlimit",
            "grpquota_block_hardlimit",
            "grpquota_inode_hardlimit",
        ],
        "devpts" => &["newinstance", "ptmxmode", "mode", "gid", "uid", "max"],
        "proc" => &["hidepid", "gid", "subset"],
        "sysfs" | "mqueue" => &[],
        "bind" | "rbind" | "none" | "" => &[],
        _ => return None,
    })
}

/// Sorts the `options` of a mount of type `fstype` (empty for a bare bind). An option that
/// is neither a known flag nor valid data for `fstype` is an error naming it.
pub fn parse_options(fstype: &str, options: &[String]) -> Result<MountOptions> {
    let mut o = MountOptions::default();
    if fstype == "bind" || fstype == "rbind" {
        o.flags |= MsFlags::MS_BIND;
    }
    if fstype == "rbind" {
        o.flags |= MsFlags::MS_REC;
    }
    for opt in options {
        let opt = opt.as_str();
        if let Some((_, set, flag)) = FLAG_OPTIONS.iter().find(|(n, _, _)| *n == opt) {
            if *set {
                o.flags |= *flag;
                o.cleared &= !*flag;
            } else {
                o.flags &= !*flag;
                o.cleared |= *flag;
            }
        } else if let Some((_, p)) = PROPAGATION_OPTIONS.iter().find(|(n, _)| *n == opt) {
            o.propagation.push(*p);
        } else if let Some((_, set, attr)) = REC_ATTR_OPTIONS.iter().find(|(n, _, _)| *n == opt) {
            if *set {
                o.rec_attr_set |= attr;
            } else {
                o.rec_attr_clr |= attr;
            }
        } else if let Some(a) = rec_atime_option(opt) {
            o.rec_attr_clr |= MOUNT_ATTR_ATIME;
            o.rec_attr_set |= a;
        } else {
            match opt {
                "defaults" => {}
                "bind" => o.flags |= MsFlags::MS_BIND,
                "rbind" => o.flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
                "tmpcopyup" => o.copyup = true,
                "idmap" | "ridmap" => {
                    return Err(Error::Unsupported(format!(
                        "mount option {opt:?} (id-mapped mounts) is not supported"
                    )))
                }
                // Userspace-only options of mount(8) (x-systemd.*, ...) are ignored like mount does.
                _ if opt.starts_with("x-") => {}
                _ => o.data.push(opt.to_string()),
            }
        }
    }
    // runc passes what is not a flag on as data, and the kernel ignores data on a bind
    // (`mode=755` on a volume): accepted there; other filesystems check their keys.
    if !o.is_bind() {
        check_data_keys(fstype, &o.data)?;
    }
    Ok(o)
}

fn rec_atime_option(opt: &str) -> Option<u64> {
    match opt {
        "rrelatime" => Some(MOUNT_ATTR_RELATIME),
        "rnoatime" => Some(MOUNT_ATTR_NOATIME),
        "rstrictatime" => Some(MOUNT_ATTR_STRICTATIME),
        _ => None,
    }
}

fn check_data_keys(fstype: &str, data: &[String]) -> Result<()> {
    let Some(keys) = known_data_keys(fstype) else {
        return Ok(());
    };
    for opt in data {
        let key = opt.split('=').next().unwrap_or(opt);
        if !keys.contains(&key) {
            return Err(Error::Spec(format!(
                "unknown mount option {opt:?} for a {} mount",
                if fstype.is_empty() { "bind" } else { fstype }
            )));
        }
    }
    Ok(())
}

/// What every mount function needs: the rootfs fd (opened after the rootfs was bound onto
/// itself) and how the container is namespaced.
pub struct MountCtx<'a> {
    pub root: BorrowedFd<'a>,
    /// Host path of the rootfs (for checking where resolved fds landed).
    pub rootfs: &'a Path,
    /// Base for relative bind sources.
    pub bundle: &'a Path,
    /// The container has its own user namespace (no mknod, no sysfs without netns, ...).
    pub userns: bool,
    /// The container has its own cgroup namespace (cgroup filesystems can be mounted fresh).
    pub cgroupns: bool,
}

/// A spec mount in the words every error uses: `mount SRC on DEST (type T)`.
struct Desc {
    src: String,
    dest: PathBuf,
    typ: String,
}

impl Desc {
    fn op(&self, what: &str) -> String {
        format!(
            "{what} {} on {} (type {})",
            self.src,
            self.dest.display(),
            if self.typ.is_empty() {
                "bind"
            } else {
                &self.typ
            }
        )
    }
    fn err(&self, what: &str, e: Errno) -> Error {
        Error::sys(self.op(what), e)
    }
    fn wrap(&self, e: Error) -> Error {
        Error::other(format!("{}: {e}", self.op("mount")))
    }
}

/// Mounts one spec mount into the rootfs.
pub fn mount_entry(ctx: &MountCtx, m: &oci_spec::runtime::Mount) -> Result<()> {
    let typ = m.typ().clone().unwrap_or_default();
    let desc = Desc {
        src: m
            .source()
            .as_ref()
            .map(|s| s.display().to_string())
            .unwrap_or_else(|| {
                if typ.is_empty() {
                    "none".into()
                } else {
                    typ.clone()
                }
            }),
        dest: m.destination().clone(),
        typ: typ.clone(),
    };
    let opts =
        parse_options(&typ, m.options().as_deref().unwrap_or(&[])).map_err(|e| desc.wrap(e))?;
    tracing::debug!(src = %desc.src, dest = %desc.dest.display(), typ = %typ, "mount");
    if opts.is_bind() {
        return mount_bind(ctx, m, &opts, &desc);
    }
    match typ.as_str() {
        "proc" | "sysfs" => mount_proc_or_sysfs(ctx, &opts, &desc),
        "tmpfs" => mount_tmpfs(ctx, &opts, &desc),
        "cgroup" => mount_cgroup(ctx, &opts, &desc),
        "" | "none" => Err(desc.wrap(Error::Spec(
            "mount has no type and is not a bind mount".into(),
        ))),
        _ => mount_generic(ctx, &opts, &desc),
    }
}

/// mount(2) onto the destination fd, through its /proc/self/fd magic link.
fn mount_onto(
    src: Option<&Path>,
    target: BorrowedFd<'_>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(src, &paths::proc_fd_path(target), fstype, flags, data)
}

/// Resolves a destination inside the rootfs, creating it as `create` says.
fn resolve_dest(
    ctx: &MountCtx,
    desc: &Desc,
    create: Create,
    symlinks: Symlinks,
) -> Result<OwnedFd> {
    paths::ensure_in_root(ctx.root, &desc.dest, create, symlinks).map_err(|e| desc.wrap(e))
}

/// Reopens the destination (now the root of the new mount) for follow-up operations.
fn reopen_dest(ctx: &MountCtx, desc: &Desc) -> Result<OwnedFd> {
    paths::open_in_root(ctx.root, &desc.dest, Symlinks::FollowInRoot)
        .map_err(|e| desc.err("reopen destination after", e))
}

/// Refuses destinations inside a procfs (CVE-2019-16884, CVE-2023-27561): only procfs itself
/// on /proc and binds onto the few lxcfs-style files runc allows.
fn check_proc_dest(
    ctx: &MountCtx,
    desc: &Desc,
    target: BorrowedFd<'_>,
    proc_source: bool,
) -> Result<()> {
    let in_root = paths::path_in_root(target, ctx.rootfs).map_err(|e| desc.wrap(e))?;
    let on_procfs = is_fs(target, nix::sys::statfs::PROC_SUPER_MAGIC);
    if !on_procfs && !in_root.starts_with("/proc") {
        return Ok(());
    }
    if in_root == Path::new("/proc") && (desc.typ == "proc" || proc_source) {
        return Ok(());
    }
    if PROC_ALLOWED.iter().any(|p| in_root == Path::new(p)) {
        return Ok(());
    }
    Err(desc.wrap(Error::other(format!(
        "destination resolves to {} which is inside /proc; refusing",
        in_root.display()
    ))))
}

fn is_fs(fd: BorrowedFd<'_>, magic: nix::sys::statfs::FsType) -> bool {
    fstatfs(fd)
        .map(|s| s.filesystem_type() == magic)
        .unwrap_or(false)
}

/// Applies the propagation options of a mount to the (reopened) destination.
fn apply_propagation(ctx: &MountCtx, desc: &Desc, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() {
        return Ok(());
    }
    let fd = reopen_dest(ctx, desc)?;
    for p in &opts.propagation {
        mount_onto(None, fd.as_fd(), None, *p, None)
            .map_err(|e| desc.err(&format!("set propagation {p:?} of"), e))?;
    }
    Ok(())
}

/// Applies `rro`-style recursive attributes with mount_setattr(AT_RECURSIVE).
fn apply_rec_attrs(ctx: &MountCtx, desc: &Desc, opts: &MountOptions) -> Result<()> {
    if opts.rec_attr_set == 0 && opts.rec_attr_clr == 0 {
        return Ok(());
    }
    let fd = reopen_dest(ctx, desc)?;
    mount_setattr(fd.as_fd(), true, opts.rec_attr_set, opts.rec_attr_clr)
        .map_err(|e| desc.err("mount_setattr (recursive options) of", e))
}

/// mount_setattr(2) on an fd (AT_EMPTY_PATH), optionally AT_RECURSIVE.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64, clr: u64) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a valid empty C string, `attr` is a live repr(C) mount_attr whose
    // size we pass, and fd is borrowed for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Per-mount flags a remount may not drop in a user namespace (the kernel's MNT_LOCK_*),
/// read back from statfs as MS_* flags.
pub fn locked_flags(fd: BorrowedFd<'_>) -> nix::Result<MsFlags> {
    let mut st: libc::statvfs = unsafe_zeroed_statvfs();
    // SAFETY: st is a valid, writable statvfs buffer and fd is live for the call.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(Errno::last());
    }
    let f = st.f_flag;
    let map: &[(u64, MsFlags)] = &[
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (libc::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    Ok(map
        .iter()
        .filter(|(st, _)| f & st == *st)
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

/// The per-mount flags a bind remount sets: MS_RDONLY, the MNT_LOCK_* ones and nosymfollow.
const PER_MOUNT_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(ATIME_FLAGS)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW));

/// The atime mode: one of these, or none (relatime is the kernel's default).
const ATIME_FLAGS: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

/// A mount's per-mount flags as MS_* flags (statvfs f_flag). Strict atime has no ST_* bit: it
/// is the mode when neither noatime nor relatime is set, and a remount must say so.
pub fn mount_flags(fd: BorrowedFd<'_>) -> nix::Result<MsFlags> {
    let mut st: libc::statvfs = unsafe_zeroed_statvfs();
    // SAFETY: st is a valid, writable statvfs buffer and fd is live for the call.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(Errno::last());
    }
    const ST_NOSYMFOLLOW: u64 = 0x2000;
    let mut flags = locked_flags(fd)?;
    if st.f_flag & ST_NOSYMFOLLOW != 0 {
        flags |= MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    }
    if !flags.intersects(ATIME_FLAGS) {
        flags |= MsFlags::MS_STRICTATIME;
    }
    Ok(flags)
}

/// The flags a bind mount ends with: the source's (`current`, so a remount keeps its nosuid,
/// nodev, noexec, ro and atime mode: a plain `rw` bind of a noexec tmpfs stays noexec), with
/// the options' flags set and their cleared ones (`exec`, `rw`, ...) removed. An atime option
/// replaces the source's atime mode.
pub fn bind_flags(current: MsFlags, opts: &MountOptions) -> MsFlags {
    let set = opts.flags & PER_MOUNT_FLAGS;
    let mut keep = current & PER_MOUNT_FLAGS;
    if set.intersects(ATIME_FLAGS) {
        keep -= ATIME_FLAGS;
    }
    let mut wanted = (keep | set) - opts.cleared;
    if !wanted.intersects(ATIME_FLAGS) {
        // `norelatime` / `nostrictatime` cleared the mode: the kernel's default
        wanted |= MsFlags::MS_RELATIME;
    }
    wanted
}

fn unsafe_zeroed_statvfs() -> libc::statvfs {
    // SAFETY: statvfs is a plain C struct of integers; zero is a valid value for each field.
    unsafe { std::mem::zeroed() }
}

/// `MS_BIND|MS_REMOUNT` with `flags` on a mount: tries exactly the requested flags, then
/// (EPERM, locked flags in a user namespace) again with the locked flags kept, unless the
/// caller explicitly asked to clear one of them.
pub fn remount_bind(fd: BorrowedFd<'_>, flags: MsFlags, cleared: MsFlags) -> nix::Result<()> {
    let flags = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    let first = mount_onto(None, fd, None, flags, None);
    if first != Err(Errno::EPERM) {
        return first;
    }
    let locked = locked_flags(fd)?;
    if locked.intersects(cleared) {
        return first;
    }
    mount_onto(None, fd, None, flags | locked, None)
}

/// bind / rbind of a host directory or file; ro and other flags need a second remount.
fn mount_bind(
    ctx: &MountCtx,
    m: &oci_spec::runtime::Mount,
    opts: &MountOptions,
    desc: &Desc,
) -> Result<()> {
    let source = bind_source(ctx, m, desc)?;
    let src_fd = nix::fcntl::open(&source, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| desc.err("open source of", e))?;
    let src_stat = fstat(&src_fd).map_err(|e| desc.err("stat source of", e))?;
    let src_is_dir = SFlag::from_bits_truncate(src_stat.st_mode & libc::S_IFMT) == SFlag::S_IFDIR;
    let create = if src_is_dir {
        Create::Dir(0o755)
    } else {
        Create::File(0o644)
    };
    let dest = resolve_dest(ctx, desc, create, Symlinks::FollowInRoot)?;
    let src_is_proc = is_fs(src_fd.as_fd(), nix::sys::statfs::PROC_SUPER_MAGIC);
    check_proc_dest(ctx, desc, dest.as_fd(), src_is_proc)?;
    let bind = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    nix::mount::mount(
        Some(&paths::proc_fd_path(src_fd.as_fd())),
        &paths::proc_fd_path(dest.as_fd()),
        None::<&str>,
        bind,
        None::<&str>,
    )
    .map_err(|e| desc.err("mount", e))?;
    drop(dest);
    let fd = reopen_dest(ctx, desc)?;
    let current = mount_flags(fd.as_fd()).map_err(|e| desc.err("statvfs", e))?;
    let wanted = bind_flags(current, opts);
    if wanted != current {
        mount_onto(
            None,
            fd.as_fd(),
            None,
            wanted | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
            None,
        )
        .map_err(|e| desc.err(&format!("remount ({wanted:?})"), e))?;
    }
    apply_propagation(ctx, desc, opts)?;
    apply_rec_attrs(ctx, desc, opts)
}

/// The host path of a bind source: relative sources are relative to the bundle.
fn bind_source(ctx: &MountCtx, m: &oci_spec::runtime::Mount, desc: &Desc) -> Result<PathBuf> {
    let src = m
        .source()
        .as_ref()
        .ok_or_else(|| desc.wrap(Error::Spec("bind mount without a source".into())))?;
    Ok(if src.is_absolute() {
        src.clone()
    } else {
        ctx.bundle.join(src)
    })
}

/// proc and sysfs: the destination must be an ordinary directory (no symlink anywhere on the
/// way, CVE-2019-16884), and after mounting it must really be procfs/sysfs.
fn mount_proc_or_sysfs(ctx: &MountCtx, opts: &MountOptions, desc: &Desc) -> Result<()> {
    let dest = resolve_dest(ctx, desc, Create::Dir(0o755), Symlinks::Refuse)?;
    let st = fstat(&dest).map_err(|e| desc.err("stat destination of", e))?;
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFDIR {
        return Err(desc.wrap(Error::other(format!(
            "{} must be mounted on an ordinary directory",
            desc.typ
        ))));
    }
    check_proc_dest(ctx, desc, dest.as_fd(), false)?;
    let data = opts.data_string();
    let res = mount_onto(
        Some(Path::new(&desc.typ)),
        dest.as_fd(),
        Some(&desc.typ),
        opts.flags,
        data.as_deref(),
    );
    match res {
        Ok(()) => {}
        // In a user namespace without its own network namespace sysfs cannot be mounted:
        // bind the host's /sys instead (runc does the same).
        Err(Errno::EPERM) if desc.typ == "sysfs" && ctx.userns => {
            nix::mount::mount(
                Some("/sys"),
                &paths::proc_fd_path(dest.as_fd()),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| desc.err("bind /sys (sysfs fallback) for", e))?;
            let fd = reopen_dest(ctx, desc)?;
            remount_bind(fd.as_fd(), opts.flags, opts.cleared)
                .map_err(|e| desc.err("remount sysfs fallback", e))?;
        }
        Err(e) => return Err(desc.err("mount", e)),
    }
    drop(dest);
    let fd = paths::open_in_root(ctx.root, &desc.dest, Symlinks::Refuse)
        .map_err(|e| desc.err("reopen destination after", e))?;
    let magic = if desc.typ == "proc" {
        nix::sys::statfs::PROC_SUPER_MAGIC
    } else {
        nix::sys::statfs::SYSFS_MAGIC
    };
    if !is_fs(fd.as_fd(), magic) {
        return Err(desc.wrap(Error::other(format!(
            "after mounting, {} is not a {} filesystem; refusing",
            desc.dest.display(),
            desc.typ
        ))));
    }
    apply_propagation(ctx, desc, opts)?;
    apply_rec_attrs(ctx, desc, opts)
}

/// tmpfs: keeps the mode of an existing destination (runc), mounted read-write (a read-only
/// tmpfs is remounted read-only by `finish_rootfs`, after /dev is populated), optional copy-up.
fn mount_tmpfs(ctx: &MountCtx, opts: &MountOptions, desc: &Desc) -> Result<()> {
    let existed = paths::open_in_root(ctx.root, &desc.dest, Symlinks::FollowInRoot).ok();
    let mut data = Vec::new();
    let dest = match existed {
        Some(fd) => {
            // runc: an existing directory lends its mode (an explicit `mode=` comes later
            // and wins); a mount point podrun creates keeps tmpfs's own 1777.
            let st = fstat(&fd).map_err(|e| desc.err("stat destination of", e))?;
            data.push(format!("mode={:04o}", st.st_mode & 0o7777));
            fd
        }
        None => resolve_dest(ctx, desc, Create::Dir(0o755), Symlinks::FollowInRoot)?,
    };
    check_proc_dest(ctx, desc, dest.as_fd(), false)?;
    data.extend(opts.data.iter().cloned());
    let old = if opts.copyup {
        Some(
            openat(
                dest.as_fd(),
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| desc.err("open (tmpcopyup) underlying directory of", e))?,
        )
    } else {
        None
    };
    // The source is the config's (`shm` for /dev/shm), shown in mountinfo as runc shows it.
    let src = if desc.src.is_empty() {
        "tmpfs"
    } else {
        desc.src.as_str()
    };
    mount_onto(
        Some(Path::new(src)),
        dest.as_fd(),
        Some("tmpfs"),
        opts.flags - MsFlags::MS_RDONLY,
        Some(&data.join(",")),
    )
    .map_err(|e| desc.err("mount", e))?;
    drop(dest);
    if let Some(old) = old {
        let new = paths::openat2(
            ctx.root,
            &desc.dest,
            libc::O_RDONLY | libc::O_DIRECTORY,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(|e| desc.err("reopen (tmpcopyup)", e))?;
        copy_tree(old.as_fd(), new.as_fd()).map_err(|e| desc.wrap(e))?;
    }
    apply_propagation(ctx, desc, opts)?;
    apply_rec_attrs(ctx, desc, opts)
}

/// devpts, mqueue, overlay and any other filesystem: plain mount on a directory. A
/// read-only /dev is mounted read-write first and remounted by `finish_rootfs`.
fn mount_generic(ctx: &MountCtx, opts: &MountOptions, desc: &Desc) -> Result<()> {
    let dest = resolve_dest(ctx, desc, Create::Dir(0o755), Symlinks::FollowInRoot)?;
    check_proc_dest(ctx, desc, dest.as_fd(), false)?;
    let mut flags = opts.flags;
    if paths::clean(&desc.dest) == Path::new("/dev") {
        flags -= MsFlags::MS_RDONLY;
    }
    let data = opts.data_string();
    let src = if desc.src.is_empty() {
        desc.typ.clone()
    } else {
        desc.src.clone()
    };
    mount_onto(
        Some(Path::new(&src)),
        dest.as_fd(),
        Some(&desc.typ),
        flags,
        data.as_deref(),
    )
    .map_err(|e| desc.err("mount", e))?;
    drop(dest);
    apply_propagation(ctx, desc, opts)?;
    apply_rec_attrs(ctx, desc, opts)
}

/// True when the host's /sys/fs/cgroup is a cgroup2 mount (pure v2 host).
fn host_is_unified() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// The cgroup mount. Pure v2 host: a cgroup2 mount (or a bind of the host's when that is
/// refused). v1/hybrid host (this machine): runc's way — a tmpfs with one entry per host v1
/// hierarchy under /sys/fs/cgroup (not a hybrid host's `unified`): a bind of its own cgroup
/// directory, or with a cgroup namespace a fresh mount of that hierarchy.
fn mount_cgroup(ctx: &MountCtx, opts: &MountOptions, desc: &Desc) -> Result<()> {
    if host_is_unified() {
        return mount_cgroup2(ctx, opts, desc);
    }
    let tmpfs = MountOptions {
        flags: DEFAULT_MOUNT_FLAGS,
        data: vec!["mode=755".into()],
        ..Default::default()
    };
    let tdesc = Desc {
        src: "tmpfs".into(),
        dest: desc.dest.clone(),
        typ: "tmpfs".into(),
    };
    mount_tmpfs(ctx, &tmpfs, &tdesc)?;
    // runc mounts the v1 hierarchies only: a hybrid host's cgroup2 (`unified`) is not asked
    // for by the config and does not appear in the container.
    let hierarchies = host_cgroup_hierarchies()?;
    let own = own_cgroups()?;
    for h in hierarchies.iter().filter(|h| h.fstype == "cgroup") {
        mount_cgroup_hierarchy(ctx, opts, desc, h, &own)?;
    }
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    if ro {
        let fd = reopen_dest(ctx, desc)?;
        remount_bind(
            fd.as_fd(),
            DEFAULT_MOUNT_FLAGS | MsFlags::MS_RDONLY,
            MsFlags::empty(),
        )
        .map_err(|e| desc.err("remount read-only", e))?;
    }
    apply_propagation(ctx, desc, opts)
}

fn mount_cgroup2(ctx: &MountCtx, opts: &MountOptions, desc: &Desc) -> Result<()> {
    let dest = resolve_dest(ctx, desc, Create::Dir(0o755), Symlinks::FollowInRoot)?;
    check_proc_dest(ctx, desc, dest.as_fd(), false)?;
    let data = opts.data_string();
    match mount_onto(
        Some(Path::new("cgroup2")),
        dest.as_fd(),
        Some("cgroup2"),
        opts.flags,
        data.as_deref(),
    ) {
        Ok(()) => {}
        Err(Errno::EPERM | Errno::EBUSY) => {
            nix::mount::mount(
                Some("/sys/fs/cgroup"),
                &paths::proc_fd_path(dest.as_fd()),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| desc.err("bind /sys/fs/cgroup (cgroup2 fallback) for", e))?;
            let fd = reopen_dest(ctx, desc)?;
            remount_bind(fd.as_fd(), opts.flags, opts.cleared)
                .map_err(|e| desc.err("remount", e))?;
        }
        Err(e) => return Err(desc.err("mount", e)),
    }
    apply_propagation(ctx, desc, opts)
}

/// One host cgroup hierarchy directly under /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory name under /sys/fs/cgroup (`cpu,cpuacct`, `systemd`, `unified`).
    pub name: String,
    pub mount_point: PathBuf,
    /// Root of the mount inside the hierarchy (mountinfo field 4).
    pub root: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Controllers/names from the super options (`cpu`, `name=systemd`), empty for cgroup2.
    pub controllers: Vec<String>,
}

/// The host's hierarchies mounted directly under /sys/fs/cgroup, from the cgroup mounts
/// podrun's parent already read before the fork (`cgroups::cgroup_mounts`).
fn host_cgroup_hierarchies() -> Result<Vec<Hierarchy>> {
    let mounts = crate::cgroups::cgroup_mounts()
        .ok_or_else(|| Error::other("read /proc/self/mountinfo: failed"))?;
    Ok(mounts
        .iter()
        .filter(|m| m.mount_point.parent() == Some(Path::new("/sys/fs/cgroup")))
        .filter_map(|m| {
            let name = m.mount_point.file_name()?.to_string_lossy().into_owned();
            Some(Hierarchy {
                name,
                mount_point: m.mount_point.clone(),
                root: m.root.clone(),
                fstype: if m.v1_controllers.is_some() {
                    "cgroup"
                } else {
                    "cgroup2"
                }
                .to_string(),
                controllers: m.v1_controllers.clone().unwrap_or_default(),
            })
        })
        .collect())
}

/// /proc/self/cgroup as (controllers, path); cgroup2 is the entry with no controllers.
fn own_cgroups() -> Result<Vec<(Vec<String>, PathBuf)>> {
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::io("read", "/proc/self/cgroup", e))?;
    Ok(parse_proc_cgroup(&text))
}

pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, PathBuf)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let path = parts.next()?;
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctrls, PathBuf::from(path)))
        })
        .collect()
}

/// Where this process's cgroup of hierarchy `h` is on the host (mount point + own path
/// relative to the mount's root).
fn own_cgroup_dir(h: &Hierarchy, own: &[(Vec<String>, PathBuf)]) -> PathBuf {
    let path = own.iter().find(|(ctrls, _)| {
        if h.fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.iter().all(|c| h.controllers.contains(c))
        }
    });
    match path.and_then(|(_, p)| p.strip_prefix(&h.root).ok()) {
        Some(rel) => h.mount_point.join(rel),
        None => h.mount_point.clone(),
    }
}

fn mount_cgroup_hierarchy(
    ctx: &MountCtx,
    opts: &MountOptions,
    desc: &Desc,
    h: &Hierarchy,
    own: &[(Vec<String>, PathBuf)],
) -> Result<()> {
    let sub = Desc {
        src: String::new(),
        dest: desc.dest.join(&h.name),
        typ: h.fstype.clone(),
    };
    let dest = resolve_dest(ctx, &sub, Create::Dir(0o755), Symlinks::FollowInRoot)?;
    let flags = DEFAULT_MOUNT_FLAGS | (opts.flags & MsFlags::MS_RDONLY);
    if ctx.cgroupns {
        let data = (h.fstype == "cgroup").then(|| h.controllers.join(","));
        let sub = Desc {
            src: h.fstype.clone(),
            ..sub
        };
        return mount_onto(
            Some(Path::new(&h.fstype)),
            dest.as_fd(),
            Some(&h.fstype),
            flags,
            data.as_deref(),
        )
        .map_err(|e| sub.err("mount", e));
    }
    let source = own_cgroup_dir(h, own);
    let sub = Desc {
        src: source.display().to_string(),
        ..sub
    };
    nix::mount::mount(
        Some(&source),
        &paths::proc_fd_path(dest.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sub.err("mount", e))?;
    drop(dest);
    let fd = paths::open_in_root(ctx.root, &sub.dest, Symlinks::FollowInRoot)
        .map_err(|e| sub.err("reopen destination after", e))?;
    remount_bind(fd.as_fd(), flags, MsFlags::empty()).map_err(|e| sub.err("remount", e))?;
    // A co-mounted hierarchy (`cpu,cpuacct`) also gets one symlink per controller.
    if h.name.contains(',') {
        let parent = paths::open_in_root(ctx.root, &desc.dest, Symlinks::FollowInRoot)
            .map_err(|e| desc.err("reopen destination after", e))?;
        for c in h.name.split(',') {
            match nix::unistd::symlinkat(h.name.as_str(), parent.as_fd(), c) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sub.err(&format!("symlink {c} ->"), e)),
            }
        }
    }
    Ok(())
}

/// One line of /proc/self/mountinfo (the fields podrun uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

pub fn read_mountinfo() -> Result<Vec<MountInfo>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    Ok(parse_mountinfo(&text))
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    if fields.len() < 6 {
        return None;
    }
    let mut r = right.split(' ');
    Some(MountInfo {
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        optional: fields[6..].iter().map(|s| s.to_string()).collect(),
        fstype: r.next()?.to_string(),
        source: r.next().unwrap_or("").to_string(),
        super_options: r.next().unwrap_or("").to_string(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// Copies a directory tree (tmpcopyup): regular files, directories, symlinks and device/fifo
/// nodes, with mode and owner. Everything is opened relative to the two directory fds with
/// O_NOFOLLOW.
fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
    let dup = nix::fcntl::fcntl(from, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(0))
        .map(|fd| {
            // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .map_err(|e| Error::sys("dup (tmpcopyup)", e))?;
    let mut dir = nix::dir::Dir::from_fd(dup).map_err(|e| Error::sys("opendir (tmpcopyup)", e))?;
    let names: Vec<std::ffi::CString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        copy_entry(from, to, &name)?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<()> {
    let op = |what: &str| format!("tmpcopyup: {what} {name:?}");
    let st = nix::sys::stat::fstatat(from, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| Error::sys(op("stat"), e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    if kind == SFlag::S_IFDIR {
        nix::sys::stat::mkdirat(to, name, Mode::from_bits_truncate(0o700))
            .map_err(|e| Error::sys(op("mkdir"), e))?;
        let src = openat(
            from,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
            Mode::empty(),
        )
        .map_err(|e| Error::sys(op("open"), e))?;
        let dst = openat(
            to,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
            Mode::empty(),
        )
        .map_err(|e| Error::sys(op("open copy of"), e))?;
        copy_tree(src.as_fd(), dst.as_fd())?;
        nix::sys::stat::fchmod(&dst, perm).map_err(|e| Error::sys(op("chmod"), e))?;
    } else if kind == SFlag::S_IFREG {
        let src = openat(from, name, OFlag::O_RDONLY | nofollow, Mode::empty())
            .map_err(|e| Error::sys(op("open"), e))?;
        let dst = openat(
            to,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
            perm,
        )
        .map_err(|e| Error::sys(op("create copy of"), e))?;
        let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
        std::io::copy(&mut src, &mut dst).map_err(|e| {
            Error::io(
                "tmpcopyup: copy",
                PathBuf::from(OsStr::from_bytes(name.to_bytes())),
                e,
            )
        })?;
        nix::sys::stat::fchmod(&dst, perm).map_err(|e| Error::sys(op("chmod"), e))?;
    } else if kind == SFlag::S_IFLNK {
        let target =
            nix::fcntl::readlinkat(from, name).map_err(|e| Error::sys(op("readlink"), e))?;
        nix::unistd::symlinkat(target.as_os_str(), to, name)
            .map_err(|e| Error::sys(op("symlink"), e))?;
    } else {
        nix::sys::stat::mknodat(to, name, kind, perm, st.st_rdev)
            .map_err(|e| Error::sys(op("mknod"), e))?;
    }
    nix::unistd::fchownat(
        to,
        name,
        Some(nix::unistd::Uid::from_raw(st.st_uid)),
        Some(nix::unistd::Gid::from_raw(st.st_gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::sys(op("chown"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runc_default_options_parse() {
        let o = parse_options(
            "tmpfs",
            &opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        )
        .unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        let o = parse_options(
            "devpts",
            &opts(&[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ]),
        )
        .unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(
            o.data,
            opts(&["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        );
        let o = parse_options(
            "cgroup",
            &opts(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
        )
        .unwrap();
        assert!(o.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_RELATIME));
    }

    #[test]
    fn bind_options_and_propagation() {
        let o = parse_options("bind", &opts(&["rbind", "ro", "rprivate", "tmpcopyup"])).unwrap();
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert!(o.copyup);
        let o = parse_options("", &opts(&["bind", "rw", "rro", "rnoatime"])).unwrap();
        assert!(o.is_bind());
        assert_eq!(o.cleared, MsFlags::MS_RDONLY);
        assert_eq!(o.rec_attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOATIME);
        assert_eq!(o.rec_attr_clr, MOUNT_ATTR_ATIME);
    }

    #[test]
    fn bind_flags_keep_the_sources_unless_cleared() {
        let shm = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let rel = MsFlags::MS_RELATIME;
        // CRI's /dev/shm: rw changes nothing on an rw source
        let o = parse_options("bind", &opts(&["rbind", "rprivate", "rw"])).unwrap();
        assert_eq!(bind_flags(shm | rel, &o), shm | rel);
        // ro adds to the source's flags
        let o = parse_options("bind", &opts(&["bind", "ro"])).unwrap();
        assert_eq!(
            bind_flags(MsFlags::MS_NOSUID | rel, &o),
            MsFlags::MS_NOSUID | MsFlags::MS_RDONLY | rel
        );
        // explicit exec/suid clear; an atime option replaces the source's mode
        let o = parse_options("bind", &opts(&["bind", "exec", "suid", "noatime"])).unwrap();
        assert_eq!(
            bind_flags(shm | rel, &o),
            MsFlags::MS_NODEV | MsFlags::MS_NOATIME
        );
        // a cleared atime mode falls back to the kernel's default
        let o = parse_options("bind", &opts(&["bind", "nostrictatime"])).unwrap();
        assert_eq!(bind_flags(MsFlags::MS_STRICTATIME, &o), rel);
    }

    #[test]
    fn unknown_options_are_named() {
        // A bind takes anything else as data (runc passes it on; the kernel ignores it).
        let o = parse_options("bind", &opts(&["rbind", "mode=755", "frobnicate"])).unwrap();
        assert_eq!(o.data, opts(&["mode=755", "frobnicate"]));
        let o = parse_options("none", &opts(&["mode=755", "bind"])).unwrap();
        assert!(o.is_bind());
        let e = parse_options("tmpfs", &opts(&["sizee=1m"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sizee=1m") && e.contains("tmpfs"), "{e}");
        let e = parse_options("none", &opts(&["bind", "idmap"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("idmap"), "{e}");
        // Unknown filesystems get their options as data.
        let o = parse_options("overlay", &opts(&["lowerdir=/a", "upperdir=/b"])).unwrap();
        assert_eq!(o.data.len(), 2);
    }

    #[test]
    fn mountinfo_and_proc_cgroup_parse() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime shared:5 - tmpfs tmpfs rw,mode=755\n\
                    32 31 0:29 /sub /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpu,cpuacct\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].optional, vec!["shared:5".to_string()]);
        assert_eq!(m[1].mount_point, PathBuf::from("/sys/fs/cgroup/cpu x"));
        assert_eq!(m[1].root, PathBuf::from("/sub"));
        assert_eq!(m[1].super_options, "rw,cpu,cpuacct");
        let own = parse_proc_cgroup("4:cpu,cpuacct:/sub/ctr\n0::/ctr2\n");
        let h = Hierarchy {
            name: "cpu,cpuacct".into(),
            mount_point: "/sys/fs/cgroup/cpu,cpuacct".into(),
            root: "/sub".into(),
            fstype: "cgroup".into(),
            controllers: vec!["cpu".into(), "cpuacct".into()],
        };
        assert_eq!(
            own_cgroup_dir(&h, &own),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/ctr")
        );
        let h2 = Hierarchy {
            name: "unified".into(),
            mount_point: "/sys/fs/cgroup/unified".into(),
            root: "/".into(),
            fstype: "cgroup2".into(),
            controllers: vec![],
        };
        assert_eq!(
            own_cgroup_dir(&h2, &own),
            PathBuf::from("/sys/fs/cgroup/unified/ctr2")
        );
    }
}
