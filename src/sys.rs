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
    Parent { pid: i32, in_cgroup: bool },
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
        let pid = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
        match pid {
            0 => return Ok(Forked::Child),
            p if p > 0 => return Ok(Forked::Parent { pid: p as i32, in_cgroup: true }),
            _ => tracing::debug!("clone3 CLONE_INTO_CGROUP: {}; falling back to clone", nix::Error::last()),
        }
    }
    // SAFETY: clone without CLONE_VM and with a NULL stack behaves like fork (see above).
    let pid = unsafe { libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize) };
    match pid {
        0 => Ok(Forked::Child),
        p if p > 0 => Ok(Forked::Parent { pid: p as i32, in_cgroup: false }),
        _ => Err(Error::sys(format!("clone (flags {flags:#x})"), nix::Error::last())),
    }
}

/// Writes `data` to `path` atomically: a temp file in the same directory, then rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
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

/// Marks every fd from `first` up close-on-exec (close_range with CLOSE_RANGE_CLOEXEC).
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range only changes fd flags here.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if r < 0 {
        return Err(Error::sys("close_range", nix::Error::last()));
    }
    Ok(())
}

/// Clears FD_CLOEXEC on `fd` so it survives exec (preserved fds, the console).
pub fn clear_cloexec(fd: RawFd) -> Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd just fails with EBADF.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    if r < 0 {
        return Err(Error::sys(format!("fcntl F_SETFD fd {fd}"), nix::Error::last()));
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

const SEALS: libc::c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

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
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
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
            libc::sendfile(out.as_raw_fd(), input.as_raw_fd(), std::ptr::null_mut(), (len - copied) as usize)
        };
        if n < 0 {
            return Err(Error::sys(format!("sendfile {}", src.display()), nix::Error::last()));
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

/// Environment variable naming the mount id of the sealed overlay podrun re-executed from.
pub const SEAL_ENV: &str = "_PODRUN_SEALED_MNT";
/// The empty directory under the state root that serves as the overlay's second (dummy)
/// lower layer: overlayfs needs two lower layers to run without an upper one.
pub const SEAL_DIR: &str = ".exe-seal";

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// The mount id of the file behind `fd` (statx STATX_MNT_ID).
fn mount_id(fd: RawFd) -> Option<u64> {
    // SAFETY: statx into a zeroed struct on a valid fd with AT_EMPTY_PATH.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: see above; the empty path is a valid C string.
    let r = unsafe { libc::statx(fd, c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_MNT_ID, &mut stx) };
    (r == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}

/// True when `fd` (our /proc/self/exe) is the file on the read-only, lower-layers-only
/// overlay that [`sealed_overlay`] made before re-executing us: an overlayfs, read-only,
/// with the mount id we put in [`SEAL_ENV`]. Nothing can be written through such a file.
fn is_sealed_overlay(fd: RawFd) -> bool {
    let Some(want) = std::env::var_os(SEAL_ENV).and_then(|v| v.to_str()?.parse::<u64>().ok()) else {
        return false;
    };
    // SAFETY: fstatfs into a zeroed struct on a valid fd.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::fstatfs(fd, &mut sfs) } != 0 || sfs.f_type != libc::OVERLAYFS_SUPER_MAGIC {
        return false;
    }
    // SAFETY: fstatvfs into a zeroed struct on a valid fd.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::fstatvfs(fd, &mut vfs) } != 0 {
        return false;
    }
    (vfs.f_flag & libc::ST_RDONLY) != 0 && mount_id(fd) == Some(want)
}

/// overlayfs lowerdir syntax: `:` separates layers, `\` escapes.
fn escape_lowerdir(p: &Path) -> Result<String> {
    let s = p.to_str().ok_or_else(|| Error::other(format!("{}: not UTF-8", p.display())))?;
    Ok(s.replace('\\', "\\\\").replace(':', "\\:"))
}

fn fsconfig_string(fsfd: RawFd, key: &std::ffi::CStr, value: &str) -> Result<()> {
    let v = CString::new(value).map_err(|_| Error::other("overlay option has a NUL byte"))?;
    // SAFETY: fsconfig with valid C strings on our fs context fd.
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, key.as_ptr(), v.as_ptr(), 0) };
    if r < 0 {
        return Err(Error::sys(format!("fsconfig overlay {}={value}", key.to_string_lossy()), nix::Error::last()));
    }
    Ok(())
}

/// An O_PATH fd of `exe` seen through a new, detached, read-only overlayfs whose lower
/// layers are `exe`'s directory (on top) and the empty `dummy` dir, with no upper layer
/// (runc's zero-copy seal), and that mount's id. The file is not the on-disk inode (other
/// st_dev), writes through it fail (EROFS: an overlay without an upper layer cannot be
/// written at all), and the mount is in no mount namespace, so nothing can reach it by path.
/// Costs one mount instead of a copy of the binary.
pub fn sealed_overlay(exe: &Path, dummy: &Path) -> Result<(OwnedFd, u64)> {
    let dir = exe.parent().ok_or_else(|| Error::other(format!("{} has no directory", exe.display())))?;
    let name = exe.file_name().ok_or_else(|| Error::other(format!("{} has no file name", exe.display())))?;
    // SAFETY: fsopen with a valid C string; the result is checked and owned.
    let fsfd = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    if fsfd < 0 {
        return Err(Error::sys("fsopen overlay", nix::Error::last()));
    }
    // SAFETY: a fresh fd from the kernel.
    let fsfd = unsafe { OwnedFd::from_raw_fd(fsfd as RawFd) };
    let lower = format!("{}:{}", escape_lowerdir(dir)?, escape_lowerdir(dummy)?);
    fsconfig_string(fsfd.as_raw_fd(), c"lowerdir", &lower)?;
    // xino only matters for inode numbers across layers; off avoids dmesg noise.
    let _ = fsconfig_string(fsfd.as_raw_fd(), c"xino", "off");
    // SAFETY: fsconfig CMD_CREATE on our fs context fd (no key/value).
    if unsafe { libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), FSCONFIG_CMD_CREATE, 0usize, 0usize, 0) } < 0 {
        return Err(Error::sys(format!("create overlay lowerdir={lower}"), nix::Error::last()));
    }
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    // SAFETY: fsmount on a created fs context; the result is checked and owned.
    let mfd = unsafe { libc::syscall(libc::SYS_fsmount, fsfd.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if mfd < 0 {
        return Err(Error::sys("fsmount overlay", nix::Error::last()));
    }
    // SAFETY: a fresh fd from the kernel.
    let mfd = unsafe { OwnedFd::from_raw_fd(mfd as RawFd) };
    let cname = CString::new(name.as_bytes()).map_err(|_| Error::other("binary name has a NUL byte"))?;
    // SAFETY: openat relative to the mount fd with a valid C string.
    let fd = unsafe { libc::openat(mfd.as_raw_fd(), cname.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys(format!("open {} in the sealing overlay", name.to_string_lossy()), nix::Error::last()));
    }
    // SAFETY: a fresh fd from the kernel.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let id = mount_id(fd.as_raw_fd()).ok_or_else(|| Error::other("statx mount id of the sealed binary"))?;
    Ok((fd, id))
}

/// Makes sure podrun runs from a sealed binary, so that no process podrun starts inside a
/// container has the on-disk binary as /proc/PID/exe (CVE-2019-5736): re-executes itself
/// from a read-only overlayfs view of its own file ([`sealed_overlay`]; `root` holds the
/// overlay's empty dummy layer), or, where overlayfs cannot be used, from a sealed memfd
/// copy. Returns only when already running from one of the two.
pub fn ensure_cloned_binary(root: &Path) -> Result<()> {
    let exe = File::open("/proc/self/exe").io("open", "/proc/self/exe")?;
    if is_sealed_memfd(exe.as_raw_fd()) || is_sealed_overlay(exe.as_raw_fd()) {
        return Ok(());
    }
    drop(exe);
    let orig = std::fs::read_link("/proc/self/exe").io("readlink", "/proc/self/exe")?;
    let dummy = root.join(SEAL_DIR);
    let overlay = crate::state::ensure_root(root)
        .and_then(|()| match std::fs::create_dir(&dummy) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(Error::io("mkdir", &dummy, e)),
            _ => Ok(()),
        })
        .and_then(|()| sealed_overlay(&orig, &dummy));
    let sealed = match overlay {
        // The overlay is trusted after the exec only with this marker (is_sealed_overlay); a
        // marker already present means that did not hold: copy instead of looping.
        Ok((fd, id)) if std::env::var_os(SEAL_ENV).is_none() => {
            std::env::set_var(SEAL_ENV, id.to_string());
            fd
        }
        other => {
            if let Err(e) = other {
                tracing::debug!("sealing by overlayfs: {e}; copying the binary into a memfd");
            }
            std::env::remove_var(SEAL_ENV);
            sealed_memfd_copy(&orig, "podrun")?
        }
    };
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
    Err(Error::sys("execveat sealed podrun", nix::Error::last()))
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
    fn overlay_seal_is_another_inode_and_read_only() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("podrun-seal-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("dummy")).unwrap();
        let exe = dir.join("bin/tool");
        std::fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let (fd, id) = sealed_overlay(&exe, &dir.join("dummy")).expect("overlay seal (root needed)");
        assert!(id > 0);
        let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let (a, b) = (std::fs::metadata(&via).unwrap(), std::fs::metadata(&exe).unwrap());
        assert_ne!((a.dev(), a.ino()), (b.dev(), b.ino()), "the sealed file is the on-disk inode");
        let e = File::options().write(true).open(&via).expect_err("writable through the seal");
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
        assert_eq!(std::fs::read(&exe).unwrap(), b"#!/bin/sh\n");
        drop(fd);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn memfd_copy_is_sealed() {
        let fd = sealed_memfd_copy(Path::new("/proc/self/exe"), "t").unwrap();
        assert!(is_sealed_memfd(fd.as_raw_fd()));
    }
}
