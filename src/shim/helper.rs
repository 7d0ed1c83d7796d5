//! Calls into the podrun library that fork a container's init (create, exec, pod create)
//! run in a forked child of the shim. The library forks with a raw clone and lets the child
//! allocate, which is only sound in a single-threaded process; the shim has ttrpc and
//! signal threads. glibc's fork() (which resets the allocator's locks) gives a
//! single-threaded copy; it calls the library, writes back the pid (or the failure) and
//! exits, and the container's process is re-parented to the shim, its subreaper.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::errors::{Failure, Result};

/// Runs `f` in a forked child whose stdin/stdout/stderr are `stdio` (/dev/null where None);
/// returns the pid `f` returned.
pub fn run_forked(stdio: [Option<RawFd>; 3], f: impl FnOnce() -> Result<i32>) -> Result<i32> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a 2-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Failure::system(format!(
            "pipe2: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fresh fds from pipe2, owned here.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: glibc's fork; the child only calls the podrun library (written for a
    // single-threaded process) and _exits, never returning into the shim's threads' code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Failure::system(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(r);
        child(stdio, w, f);
    }
    drop(w);
    let mut out = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut out);
    // The SIGCHLD thread may have reaped it already (ECHILD): either way it is gone.
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    // The request's buffers are freed by now: give glibc's free heap pages back (measured:
    // ~0.5 MB of a shim's heap stayed resident after a pod's Create/Start).
    // SAFETY: glibc's malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    match out.strip_prefix("ok ") {
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| Failure::system(format!("helper answered {out:?}"))),
        None if out.is_empty() => Err(Failure::system("the shim's helper process died")),
        None => Err(Failure::decode(&out)),
    }
}

fn child(stdio: [Option<RawFd>; 3], w: OwnedFd, f: impl FnOnce() -> Result<i32>) -> ! {
    // SAFETY: open of a constant C string.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    for (i, fd) in stdio.iter().enumerate() {
        let src = fd.unwrap_or(null);
        // SAFETY: dup2 onto 0..2; the source fds are open in this child.
        unsafe { libc::dup2(src, i as RawFd) };
    }
    // The shim's signal handlers write to its signal thread's pipe: not ours to use.
    for sig in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGPIPE] {
        // SAFETY: resetting a handler to the default.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let msg = match f() {
        Ok(pid) => format!("ok {pid}"),
        Err(e) => e.encode(),
    };
    // SAFETY: write of a buffer to our pipe, then _exit without running the shim's atexit.
    unsafe {
        libc::write(w.as_raw_fd(), msg.as_ptr().cast(), msg.len());
        libc::_exit(0)
    }
}
