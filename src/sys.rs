//! Small system helpers: pidfds, process start times, atomic writes, fd hygiene, and the
//! sealed-memfd re-exec that keeps the on-disk podrun binary out of containers (CVE-2019-5736).

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Environment variable holding the path of the original podrun binary after a memfd re-exec.
pub const ORIG_EXE_ENV: &str = "_PODRUN_ORIG_EXE";

/// The process start time (clock ticks since boot, field 22 of /proc/PID/stat), which together
/// with the PID identifies a process across PID reuse. None when the process is gone.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_field(&stat, 22)
}

/// The process state letter (field 3 of /proc/PID/stat): R, S, D, Z, T, ...
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// Field `n` (1-based, as in proc(5)) of a /proc/PID/stat line; the comm field may hold spaces
/// and parentheses, so fields are counted from the last ')'.
pub fn parse_stat_field(stat: &str, n: usize) -> Option<u64> {
    if n < 3 {
        return None;
    }
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n - 3)?.parse().ok()
}

/// True when `pid` is alive, is not a zombie, and has the recorded start time.
pub fn process_matches(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match (proc_start_time(pid), proc_state(pid)) {
        (Some(st), Some(state)) => st == start_time && state != 'Z' && state != 'X',
        _ => false,
    }
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; the returned fd is owned by us.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::sys(format!("pidfd_open {pid}"), nix::Error::last()));
    }
    // SAFETY: fd is a fresh descriptor returned by the kernel (pidfds are always CLOEXEC).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A pidfd for `pid` only if it still is the process that started at `start_time`:
/// opening the pidfd first and checking afterwards closes the PID-reuse race.
pub fn pidfd_for(pid: i32, start_time: u64) -> Option<OwnedFd> {
    let fd = pidfd_open(pid).ok()?;
    process_matches(pid, start_time).then_some(fd)
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> Result<()> {
    // SAFETY: valid pidfd, null siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Error::sys(format!("signal {sig}"), nix::Error::last()));
    }
    Ok(())
}

/// Waits until the process behind `pidfd` has exited, or `timeout_ms` passed. True if it exited.
pub fn pidfd_wait_exit(pidfd: &OwnedFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 && nix::Error::last() == nix::Error::EINTR {
            continue;
        }
        return r > 0;
    }
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The two sides of [`fork_into_cgroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Child,
    /// `in_cgroup`: the child was born in the requested v2 cgroup (CLONE_INTO_CGROUP);
    /// false when the kernel refused that and a plain clone was made instead.
    Parent {
        pid: i32,
        in_cgroup: bool,
    },
}

/// A fork-like clone (no CLONE_VM, the child runs on a copy of our stack) with the
/// namespace `flags`; with `cgroup` (an O_PATH fd of a cgroup2 directory) the child starts
/// in that cgroup (clone3 + CLONE_INTO_CGROUP), so nobody has to write its pid into
/// `cgroup.procs` (a write that may wait for an RCU grace period). If clone3 or
/// CLONE_INTO_CGROUP is refused (old kernel, seccomp, a cgroup that cannot take processes),
/// falls back to clone(2) and says so; the caller then moves the child itself.
///
/// # Safety
/// The caller must be single-threaded, and the child must only do what is safe after a
/// fork (it runs on a copy of the parent's memory; in a single-threaded parent no lock is
/// held by another thread, so allocation is fine).
pub unsafe fn fork_into_cgroup(flags: libc::c_int, cgroup: Option<RawFd>) -> Result<Forked> {
    if let Some(cg) = cgroup {
        let args = CloneArgs {
            flags: (flags as u32 as u64) | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cg as u64,
            ..CloneArgs::default()
        };
        // SAFETY: a valid clone_args of the size passed; stack 0 means fork-like, which the
        // caller's contract covers.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        match pid {
            0 => return Ok(Forked::Child),
            p if p > 0 => {
                return Ok(Forked::Parent {
                    pid: p as i32,
                    in_cgroup: true,
                })
            }
            _ => tracing::debug!(
                "clone3 CLONE_INTO_CGROUP: {}; falling back to clone",
                nix::Error::last()
            ),
        }
    }
    // SAFETY: clone without CLONE_VM and with a NULL stack behaves like fork (see above).
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        0 => Ok(Forked::Child),
        p if p > 0 => Ok(Forked::Parent {
            pid: p as i32,
            in_cgroup: false,
        }),
        _ => Err(Error::sys(
            format!("clone (flags {flags:#x})"),
            nix::Error::last(),
        )),
    }
}

/// Writes `data` to `path` atomically: a temp file in the same directory, then rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .io("create", &tmp)?;
        f.write_all(data).io("write", &tmp)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("rename into", path, e)
    })
}

/// Marks every fd from `first` up close-on-exec: close_range with CLOSE_RANGE_CLOEXEC, or,
/// where that is refused (a seccomp profile older than the syscall, an old kernel), each
/// open fd with fcntl.
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range only changes fd flags here.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = nix::Error::last();
    if !close_range_refused(e) {
        return Err(Error::sys("close_range", e));
    }
    for fd in open_fds_from(first as RawFd)? {
        // SAFETY: fcntl on an integer fd; one closed meanwhile just fails with EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // SAFETY: as above; only the close-on-exec flag is added.
        if flags >= 0 && unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(Error::sys(
                format!("fcntl F_SETFD FD_CLOEXEC fd {fd}"),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

/// Closes every fd in `lo..=hi`: close_range, or where that is refused, each open one.
pub fn close_fds(lo: u32, hi: u32) -> Result<()> {
    // SAFETY: closes fds of this process; the caller says none of them is in use.
    if unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) } == 0 {
        return Ok(());
    }
    let e = nix::Error::last();
    if !close_range_refused(e) {
        return Err(Error::sys("close_range", e));
    }
    for fd in open_fds_from(lo as RawFd)?
        .into_iter()
        .filter(|fd| *fd as u32 <= hi)
    {
        // SAFETY: as above, one fd at a time.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// close_range refused by a seccomp filter (EPERM, or ENOSYS from a profile that predates
/// it) or unknown to the kernel (ENOSYS, EINVAL for CLOSE_RANGE_CLOEXEC before 5.11).
fn close_range_refused(e: nix::Error) -> bool {
    matches!(
        e,
        nix::Error::EPERM | nix::Error::ENOSYS | nix::Error::EINVAL | nix::Error::EACCES
    )
}

/// The open fds from `first` up: from /proc/self/fd, or, without /proc, every fd below the
/// fd limit that fcntl finds open.
fn open_fds_from(first: RawFd) -> Result<Vec<RawFd>> {
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        // The directory's own fd is listed too; it is closed by the time the caller looks.
        return Ok(rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
            .filter(|fd| *fd >= first)
            .collect());
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(Error::sys("getrlimit RLIMIT_NOFILE", nix::Error::last()));
    }
    let max = RawFd::try_from(lim.rlim_cur.min(1 << 20)).unwrap_or(1 << 20);
    // SAFETY: F_GETFD only queries.
    Ok((first..max)
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } >= 0)
        .collect())
}

/// Clears FD_CLOEXEC on `fd` so it survives exec (preserved fds, the console).
pub fn clear_cloexec(fd: RawFd) -> Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd just fails with EBADF.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    if r < 0 {
        return Err(Error::sys(
            format!("fcntl F_SETFD fd {fd}"),
            nix::Error::last(),
        ));
    }
    Ok(())
}

/// The directory of the podrun binary on disk, also after a memfd re-exec
/// (where helper binaries like `podrun-pause` live).
pub fn podrun_exe_dir() -> PathBuf {
    podrun_exe()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin"))
}

/// The on-disk podrun binary, also after a memfd re-exec.
pub fn podrun_exe() -> PathBuf {
    if let Some(p) = std::env::var_os(ORIG_EXE_ENV) {
        return PathBuf::from(p);
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/local/bin/podrun"))
}

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// True when `fd` is a memfd carrying our write seals.
fn is_sealed_memfd(fd: RawFd) -> bool {
    // SAFETY: fcntl on a valid fd.
    let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    seals >= 0 && (seals & SEALS) == SEALS
}

/// Copies the file at `src` into a new sealed memfd.
pub fn sealed_memfd_copy(src: &Path, name: &str) -> Result<OwnedFd> {
    let mut input = File::open(src).io("open", src)?;
    let cname = CString::new(name).map_err(|_| Error::other("memfd name has a NUL byte"))?;
    // SAFETY: valid C string, flags are constants.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(Error::sys("memfd_create", nix::Error::last()));
    }
    // SAFETY: fresh fd from the kernel, owned from here on.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut out = File::from(memfd);
    let len = input.metadata().io("stat", src)?.len();
    let mut copied = 0u64;
    while copied < len {
        // SAFETY: both fds valid; sendfile copies in the kernel.
        let n = unsafe {
            libc::sendfile(
                out.as_raw_fd(),
                input.as_raw_fd(),
                std::ptr::null_mut(),
                (len - copied) as usize,
            )
        };
        if n < 0 {
            return Err(Error::sys(
                format!("sendfile {}", src.display()),
                nix::Error::last(),
            ));
        }
        if n == 0 {
            break;
        }
        copied += n as u64;
    }
    if copied < len {
        // sendfile stopped early (should not happen): finish with plain reads.
        let mut rest = Vec::new();
        input.read_to_end(&mut rest).io("read", src)?;
        out.write_all(&rest).io("write memfd copy of", src)?;
    }
    // SAFETY: fcntl on our memfd.
    if unsafe { libc::fcntl(out.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(Error::sys("memfd F_ADD_SEALS", nix::Error::last()));
    }
    Ok(OwnedFd::from(out))
}

/// Where an empty directory for the second lower layer of the sealed overlay view lives
/// (overlayfs without an upper layer wants at least two lower ones; its content never shows:
/// the binary's directory is the top layer). Not under a state root, where it would look like
/// a container.
pub const EXE_SEAL_DUMMY_DIR: &str = "/run/podrun-exe-seal";

// The new mount API's constants (linux/mount.h), not in the libc crate's stable surface.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// A file descriptor of the syscall's result, or the error.
fn fd_result(r: libc::c_long, what: &str) -> Result<OwnedFd> {
    if r < 0 {
        return Err(Error::sys(what.to_string(), nix::Error::last()));
    }
    // SAFETY: a fresh fd returned by the kernel, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Escapes a path for overlayfs' `lowerdir` list (`:` separates layers, `\` escapes).
fn escape_lowerdir(p: &Path) -> Result<CString> {
    let mut out = Vec::new();
    for &b in p.as_os_str().as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    CString::new(out).map_err(|_| Error::other("overlay lowerdir has a NUL byte"))
}

/// Opens `bin` read-only through a private overlayfs mount that is never attached to any
/// mount tree, made of lower layers only (the binary's directory on top of an empty one):
/// exec'ing the result shares the on-disk binary's page cache (no copy), and nobody can write
/// to it through /proc/PID/exe (EROFS), nor reach a writable path from it (the mount is
/// detached; the overlay has no upper layer, its superblock is read-only). runc ≥ 1.2 does
/// the same. `want`: the metadata of the binary actually meant (the running one for our own
/// exe): the opened file must be that inode, the same size and mtime, or this fails.
/// Needs CAP_SYS_ADMIN (fsopen of overlay) and Linux ≥ 5.2; only the `lowerdir` string
/// (not 6.8's `lowerdir+`) is used, so 6.1 works.
fn overlay_view(bin: &Path, want: &std::fs::Metadata) -> Result<OwnedFd> {
    use std::os::unix::fs::MetadataExt;
    let (dir, name) = match (bin.parent(), bin.file_name()) {
        (Some(d), Some(n)) if d.is_absolute() => (d, n),
        _ => {
            return Err(Error::other(format!(
                "{}: not an absolute file path",
                bin.display()
            )))
        }
    };
    // SAFETY: a constant NUL-terminated fs name and flags.
    let ctx = fd_result(
        unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen overlay",
    )?;
    std::fs::create_dir(EXE_SEAL_DUMMY_DIR)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })
        .io("mkdir", EXE_SEAL_DUMMY_DIR)?;
    let mut lower = escape_lowerdir(dir)?.into_bytes();
    lower.push(b':');
    lower.extend(escape_lowerdir(Path::new(EXE_SEAL_DUMMY_DIR))?.into_bytes());
    let lower = CString::new(lower).map_err(|_| Error::other("overlay lowerdir has a NUL byte"))?;
    let set = |key: &std::ffi::CStr, value: &std::ffi::CStr| {
        // SAFETY: ctx is an fs context fd; key and value are NUL-terminated strings.
        unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        }
    };
    if set(c"lowerdir", &lower) < 0 {
        return Err(Error::sys(
            format!("fsconfig overlay lowerdir={}", lower.to_string_lossy()),
            nix::Error::last(),
        ));
    }
    // xino would remap inode numbers (and log to dmesg when the layers are on different
    // filesystems): off, so the inode check below sees the real number. Kernels without the
    // option (< 4.17) never remap.
    let _ = set(c"xino", c"off");
    // SAFETY: ctx is an fs context fd; the CREATE command takes no key/value.
    if unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    } < 0
    {
        return Err(Error::sys(
            format!("create overlay lowerdir={}", lower.to_string_lossy()),
            nix::Error::last(),
        ));
    }
    // SAFETY: ctx is a created fs context fd; flags are constants.
    let mnt = fd_result(
        unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                ctx.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            )
        },
        "fsmount overlay",
    )?;
    let cname = CString::new(name.as_bytes()).map_err(|_| Error::other("binary name has a NUL"))?;
    // SAFETY: mnt is the overlay's root fd; cname a NUL-terminated relative name.
    let fd = unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            cname.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    let file = File::from(fd_result(
        fd as libc::c_long,
        "open the binary on the overlay",
    )?);
    // the open file keeps the detached mount alive; its fd (mnt) closes on return
    let got = file.metadata().io("stat", bin)?;
    if !got.is_file()
        || (got.ino(), got.size(), got.mtime(), got.mtime_nsec())
            != (want.ino(), want.size(), want.mtime(), want.mtime_nsec())
    {
        return Err(Error::other(format!(
            "{} on the overlay is not the binary meant (inode {} vs {})",
            bin.display(),
            got.ino(),
            want.ino()
        )));
    }
    Ok(OwnedFd::from(file))
}

/// True when `fd` is one of our overlay views: on overlayfs, read-only, and (where statx
/// reports mount ids, Linux ≥ 5.8) on a mount absent from our mount table (never attached).
fn is_overlay_view(fd: RawFd) -> bool {
    // SAFETY: zeroed statfs is a valid out-parameter; fd is valid.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes into sfs.
    if unsafe { libc::fstatfs(fd, &mut sfs) } < 0 || sfs.f_type != libc::OVERLAYFS_SUPER_MAGIC {
        return false;
    }
    // SAFETY: zeroed statvfs is a valid out-parameter; fd is valid.
    let mut svfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatvfs writes into svfs.
    if unsafe { libc::fstatvfs(fd, &mut svfs) } < 0 || (svfs.f_flag & libc::ST_RDONLY) == 0 {
        return false;
    }
    // SAFETY: zeroed statx is a valid out-parameter.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: fd valid, empty path with AT_EMPTY_PATH, stx writable.
    let r = unsafe {
        libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if r < 0 || stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return true;
    }
    let id = stx.stx_mnt_id.to_string();
    match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(table) => !table
            .lines()
            .any(|l| l.split(' ').next() == Some(id.as_str())),
        Err(_) => true,
    }
}

/// True when the open file `fd` is a sealed executable of ours (overlay view or memfd copy).
pub fn is_sealed_exe(fd: RawFd) -> bool {
    is_sealed_memfd(fd) || is_overlay_view(fd)
}

/// Re-executes podrun from a sealed view of itself ([`overlay_view`], else a sealed memfd
/// copy) unless it already runs from one, so that no process podrun starts inside a container
/// has the on-disk binary as /proc/PID/exe (CVE-2019-5736). Returns only when already running
/// from a sealed view.
pub fn ensure_cloned_binary() -> Result<()> {
    let exe = File::open("/proc/self/exe").io("open", "/proc/self/exe")?;
    if is_sealed_exe(exe.as_raw_fd()) {
        return Ok(());
    }
    let orig = std::fs::read_link("/proc/self/exe").io("readlink", "/proc/self/exe")?;
    let running = exe.metadata().io("stat", "/proc/self/exe")?;
    let sealed = match overlay_view(&orig, &running) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!("sealed overlay view unusable ({e}): copying podrun to a memfd");
            // copy what runs (the path may have been replaced meanwhile)
            sealed_memfd_copy(Path::new("/proc/self/exe"), "podrun")?
        }
    };
    drop(exe);
    std::env::set_var(ORIG_EXE_ENV, &orig);
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv/envp are NULL-terminated arrays of valid C strings that outlive the call;
    // execveat only returns on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            sealed.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(Error::sys(
        "execveat sealed podrun view",
        nix::Error::last(),
    ))
}

/// True when podrun runs as a non-root user (rootless mode: a new user namespace of its own
/// mappings, no cgroup unless a delegated one is writable, no network of its own making).
pub fn rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Whether this process runs in a user namespace other than the initial one (its uid_map is
/// not the identity of all ids), as rootless podman runs the runtime: uid 0 there is not root.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_with_odd_comm() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(parse_stat_field(line, 4), Some(1));
        assert_eq!(parse_stat_field(line, 22), Some(12345));
        assert_eq!(parse_stat_field(line, 2), None);
    }

    #[test]
    fn own_process_matches_its_start_time() {
        let me = std::process::id() as i32;
        let st = proc_start_time(me).expect("own stat");
        assert!(process_matches(me, st));
        assert!(!process_matches(me, st + 1));
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(format!("podrun-sys-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pid");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"22").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "22");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn memfd_copy_is_sealed() {
        let fd = sealed_memfd_copy(Path::new("/proc/self/exe"), "t").unwrap();
        assert!(is_sealed_memfd(fd.as_raw_fd()));
        assert!(is_sealed_exe(fd.as_raw_fd()));
    }

    #[test]
    fn lowerdir_escaping() {
        let e = escape_lowerdir(Path::new("/a:b\\c")).unwrap();
        assert_eq!(e.to_bytes(), b"/a\\:b\\\\c");
    }

    /// As root (CAP_SYS_ADMIN, overlayfs): the view is the same inode, not writable (EROFS),
    /// recognised as sealed; a view of another file than the one meant is refused.
    #[test]
    fn overlay_view_is_a_read_only_view_of_the_same_file() {
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::read_link("/proc/self/exe").unwrap();
        let disk = std::fs::metadata(&me).unwrap();
        let fd = match overlay_view(&me, &disk) {
            Ok(fd) => fd,
            Err(e) if !nix::unistd::geteuid().is_root() => {
                eprintln!("no overlay view here ({e}): the memfd copy is the fallback");
                return;
            }
            Err(e) => panic!("overlay view as root: {e}"),
        };
        assert!(is_sealed_exe(fd.as_raw_fd()));
        let other = std::fs::metadata("/proc/self/stat").unwrap();
        assert!(
            overlay_view(&me, &other).is_err(),
            "a view of the wrong inode"
        );
        let f = File::from(fd);
        assert_eq!(f.metadata().unwrap().ino(), disk.ino());
        let path = format!("/proc/self/fd/{}", f.as_raw_fd());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        // the on-disk file itself is not sealed
        let disk_f = File::open(&me).unwrap();
        assert!(!is_sealed_exe(disk_f.as_raw_fd()));
    }
}
