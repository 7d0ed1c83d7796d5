//! Starting and stopping the pod's pause process.
//!
//! `spawn` copies the `podrun-pause` binary (found next to the podrun executable) into a
//! sealed memfd, clones a child into fresh namespaces, and the child execs the memfd with
//! `execveat(fd, "", AT_EMPTY_PATH)`: nothing inside the pod can see or write the binary that
//! runs there (the CVE-2019-5736 lesson). The handshake is a CLOEXEC pipe: EOF means the exec
//! happened; four bytes are the errno of the step that failed in the child.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::error::IoContext;
use crate::{Error, Result};

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// What the child does after the clone.
pub struct PauseSpec<'a> {
    pub hostname: &'a str,
    /// A new PID namespace: the pause is its PID 1.
    pub pid_ns: bool,
    /// argv[0] of the pause (None: `podrun-pause`).
    pub argv0: Option<&'a str>,
    /// Rootless: the pause owns a new user namespace (the user's own ids mapped to 0),
    /// with the other namespaces inside it, and brings `lo` up itself.
    pub user_ns: bool,
    /// Join this existing network namespace (e.g. one CNI made) instead of creating one.
    pub netns: Option<&'a std::path::Path>,
}

/// A started pause process.
#[derive(Debug, Clone, Copy)]
pub struct Pause {
    pub pid: i32,
    pub start_time: u64,
}

/// The write end of the pause's hold pipe (its fd 3). The pause blocks until `release` sends
/// it a byte; if this end closes first (the create failed, or podrun was killed), the pause
/// reads EOF and exits on its own, so no untracked pause outlives a broken create.
#[derive(Debug)]
pub struct Hold(OwnedFd);

impl Hold {
    /// The pod is recorded: let the pause go on.
    pub fn release(self) -> Result<()> {
        let n =
            nix::unistd::write(&self.0, b"1").map_err(|e| Error::sys("release the pause", e))?;
        if n != 1 {
            return Err(Error::other("release the pause: short write"));
        }
        Ok(())
    }
}

pub fn pause_binary() -> Result<PathBuf> {
    Ok(crate::sys::podrun_exe_dir().join("podrun-pause"))
}

/// Clones the pause into new net, ipc, uts (and pid) namespaces and waits for its exec.
/// The caller must be single-threaded (no runtime threads alive).
/// `cgroup`: the pod's cgroup; the child enters its v1 hierarchies itself and is born in
/// the v2 one (the returned bool: false when CLONE_INTO_CGROUP was refused and the caller
/// must add the pid to the v2 cgroup).
pub fn spawn(
    spec: &PauseSpec,
    cgroup: Option<&crate::cgroups::Entry>,
) -> Result<(Pause, Hold, bool)> {
    let memfd = crate::sys::sealed_memfd_copy(&pause_binary()?, "podrun-pause")?;
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/null")
        .io("open", "/dev/null")?;
    let hostname = spec.hostname.as_bytes().to_vec();
    let argv0 = CString::new(spec.argv0.unwrap_or("podrun-pause"))
        .map_err(|_| Error::Spec("the pause's argv[0] contains a NUL byte".into()))?;
    let argv = [argv0.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
    let (hold_rd, hold_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;

    // an existing netns is opened here and joined by the child (setns) instead of CLONE_NEWNET
    let netns = match spec.netns {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(p)
                .io("open network namespace", p)?,
        ),
        None => None,
    };
    let mut flags = CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS;
    if netns.is_none() {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if spec.pid_ns {
        flags |= CloneFlags::CLONE_NEWPID;
    }
    if spec.user_ns {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    // SAFETY: the process is single-threaded (fork_into_cgroup's contract), and the child
    // only makes async-signal-safe calls on memory prepared before the clone, then execs or
    // _exits.
    let (pid, in_v2) =
        match unsafe { crate::sys::fork_into_cgroup(flags.bits(), cgroup.and_then(|c| c.v2_fd())) }
        {
            Ok(crate::sys::Forked::Child) => child(
                cgroup,
                &hostname,
                spec.user_ns,
                devnull.as_raw_fd(),
                memfd.as_raw_fd(),
                wr.as_raw_fd(),
                hold_rd.as_raw_fd(),
                netns.as_ref().map_or(-1, |f| f.as_raw_fd()),
                &argv,
                &envp,
            ),
            Ok(crate::sys::Forked::Parent { pid, in_cgroup }) => (pid, in_cgroup),
            Err(e) => return Err(Error::other(format!("clone pause ({flags:?}): {e}"))),
        };
    drop(wr);
    drop(hold_rd);
    if spec.user_ns {
        if let Err(e) = write_own_id_maps(pid) {
            kill_and_reap(pid);
            return Err(e);
        }
    }
    let start_time = start_time(pid);
    match read_child_errno(rd) {
        Ok(None) => {}
        Ok(Some((step, errno))) => {
            reap(pid);
            return Err(Error::sys(format!("pause: {step}"), errno));
        }
        Err(e) => {
            kill_and_reap(pid);
            return Err(e);
        }
    }
    let start_time = start_time.ok_or_else(|| {
        reap(pid);
        Error::other(format!("pause {pid} died right after exec"))
    })?;
    Ok((Pause { pid, start_time }, Hold(hold_wr), in_v2))
}

/// The steps of the child, each failure reported as (step number, errno) over the pipe.
#[allow(clippy::too_many_arguments)]
fn child(
    cgroup: Option<&crate::cgroups::Entry>,
    hostname: &[u8],
    lo_up: bool,
    devnull: i32,
    memfd: i32,
    report: i32,
    hold: i32,
    netns: i32,
    argv: &[*const libc::c_char; 2],
    envp: &[*const libc::c_char; 1],
) -> ! {
    // fd 3 is about to become the hold pipe: move the report pipe and the memfd above it first
    // SAFETY: fcntl F_DUPFD_CLOEXEC on fds we own; _exit is async-signal-safe.
    let (report, memfd) = unsafe {
        let r = libc::fcntl(report, libc::F_DUPFD_CLOEXEC, 4);
        let m = libc::fcntl(memfd, libc::F_DUPFD_CLOEXEC, 4);
        if r < 0 || m < 0 {
            libc::_exit(127)
        }
        (r, m)
    };
    let fail = |step: u8| -> ! {
        let msg = [step, 0, 0, 0];
        let e = Errno::last_raw().to_ne_bytes();
        let buf = [msg[0], e[0], e[1], e[2], e[3]];
        // SAFETY: write and _exit are async-signal-safe; the buffer is on our stack.
        unsafe {
            libc::write(report, buf.as_ptr().cast(), buf.len());
            libc::_exit(127)
        }
    };
    // first, before any fd is moved: the cgroup's v1 `tasks` fds may be among the low ones
    if cgroup.is_some_and(|c| c.enter_self().is_err()) {
        fail(7);
    }
    // SAFETY (whole block): async-signal-safe calls on memory prepared before the clone.
    unsafe {
        if netns >= 0 && libc::setns(netns, libc::CLONE_NEWNET) != 0 {
            fail(9);
        }
        if libc::sethostname(hostname.as_ptr().cast(), hostname.len()) != 0 {
            fail(1);
        }
        if libc::setsid() < 0 {
            fail(2);
        }
        if lo_up && !bring_up_lo() {
            fail(8);
        }
        for target in 0..3 {
            if libc::dup2(devnull, target) < 0 {
                fail(3);
            }
        }
        // every inherited descriptor above 2 closes at exec (ours are CLOEXEC already)
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
            fail(4);
        }
        // the hold pipe's read end becomes the pause's fd 3, kept open across the exec
        let kept = if hold == 3 {
            libc::fcntl(3, libc::F_SETFD, 0)
        } else {
            libc::dup2(hold, 3)
        };
        if kept < 0 {
            fail(6);
        }
        let empty = c"";
        libc::syscall(
            libc::SYS_execveat,
            memfd,
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        fail(5)
    }
}

/// `lo` up in the pod's new network namespace (a rootless pod has no network of podrun's
/// making, but its members share localhost): SIOCGIFFLAGS/SIOCSIFFLAGS on a throwaway socket.
/// Async-signal-safe: the forked child calls it.
fn bring_up_lo() -> bool {
    // SAFETY: socket/ioctl/close on a stack ifreq; nothing allocates.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return false;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut ok = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req) == 0;
        if ok {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            ok = libc::ioctl(s, libc::SIOCSIFFLAGS, &req) == 0;
        }
        libc::close(s);
        ok
    }
}

/// The rootless pause's user namespace: the user's own uid and gid as 0 (the one mapping an
/// unprivileged user may write; setgroups denied first, as the kernel requires).
fn write_own_id_maps(pid: i32) -> Result<()> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    for (file, text) in [
        ("setgroups", "deny".to_string()),
        ("uid_map", format!("0 {uid} 1\n")),
        ("gid_map", format!("0 {gid} 1\n")),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).io("write", &path)?;
    }
    Ok(())
}

fn step_name(step: u8) -> &'static str {
    match step {
        1 => "sethostname",
        2 => "setsid",
        3 => "dup2 /dev/null onto stdio",
        4 => "close_range",
        5 => "execveat of the sealed podrun-pause memfd",
        6 => "dup2 of the hold pipe onto fd 3",
        7 => "enter the pod cgroup (write 0 to tasks)",
        8 => "bring up lo",
        9 => "setns into the network namespace",
        _ => "unknown step",
    }
}

/// None when the pipe closed without a report (the exec succeeded).
fn read_child_errno(rd: OwnedFd) -> Result<Option<(&'static str, Errno)>> {
    let mut f = File::from(rd);
    let mut buf = Vec::with_capacity(5);
    f.read_to_end(&mut buf).io("read pause handshake", "pipe")?;
    match buf.len() {
        0 => Ok(None),
        5 => Ok(Some((
            step_name(buf[0]),
            Errno::from_raw(i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]])),
        ))),
        n => Err(Error::other(format!(
            "pause handshake: {n} bytes, expected 0 or 5"
        ))),
    }
}

fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

fn kill_and_reap(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    reap(pid);
}

/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); None if gone or a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state)
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// True when `pid` is alive and is the process that started at `start`.
pub fn is_alive(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}

/// Kills the pause (SIGKILL through a pidfd, so a recycled pid is never hit) and waits until
/// it is gone. Already gone is fine.
pub fn stop(pid: i32, start: u64) -> Result<()> {
    if pid <= 0 {
        return Ok(());
    }
    // SAFETY: pidfd_open with a pid and no flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return match Errno::last() {
            Errno::ESRCH => Ok(()),
            e => Err(Error::sys(format!("pidfd_open {pid}"), e)),
        };
    }
    // SAFETY: the kernel just returned this fd (pidfds are always CLOEXEC).
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // the pidfd pins the process: checking the start time now rules out pid reuse
    if !is_alive(pid, start) {
        return Ok(());
    }
    // SAFETY: pidfd_send_signal on a valid pidfd, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            0usize,
            0u32,
        )
    };
    if r < 0 && Errno::last() != Errno::ESRCH {
        return Err(Error::sys(format!("kill pause {pid}"), Errno::last()));
    }
    wait_exit(&pidfd, pid)
}

/// Blocks until the pidfd says the process exited (works for processes we did not fork).
fn wait_exit(pidfd: &OwnedFd, pid: i32) -> Result<()> {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd; no timeout.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        if r >= 0 {
            return Ok(());
        }
        if Errno::last() != Errno::EINTR {
            return Err(Error::sys(
                format!("wait for pause {pid} to exit"),
                Errno::last(),
            ));
        }
    }
}
