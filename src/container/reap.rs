//! Exit statuses for a caller that stays around: who reaps what.
//!
//! - `create` forks the container's init from the calling process: the init is the caller's
//!   child ([`crate::container::create::Created`] `.state.pid`). The podrun CLI exits right
//!   after, so the init is re-parented to the caller's subreaper (containerd's shim), which
//!   reaps it. A long-lived caller (a shim calling the library) is that parent itself and
//!   reaps the init with [`reap_exited`].
//! - `exec` forks the exec'd process from the caller too and returns its pid
//!   ([`crate::container::exec::Execed`] `.pid`) once it runs the program, without waiting
//!   for it: the caller reaps it the same way. (`podrun exec` in the foreground waits with
//!   [`crate::container::foreground::wait`]; with `--detach` it exits and leaves the process
//!   to its own subreaper.)
//! - Processes of a container without its own pid namespace that outlive their parent are
//!   re-parented to the nearest subreaper: a caller that wants their exits (and to keep
//!   zombies from piling up) calls [`become_subreaper`] first, as `podrun run` does.
//! - `delete` and `kill` never reap a process that is not the caller's child; `delete`
//!   reaps the init only when it is the caller's child and already dead (WNOHANG), so a
//!   caller that missed its exit status loses nothing it was waiting for.
//!
//! A shim's loop: block SIGCHLD (or read it from a signalfd), and on each SIGCHLD call
//! [`reap_exited`], matching each pid against its inits and exec'd processes.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// One reaped child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub pid: i32,
    /// The exit code, or for a process killed by a signal 128 + the signal (the shell's and
    /// runc's convention; containerd's TaskExit carries this number).
    pub status: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

impl Exit {
    /// An exit from a wait status; None for a status that is not an exit (stopped, ...).
    pub fn from_wait_status(ws: WaitStatus) -> Option<Exit> {
        match ws {
            WaitStatus::Exited(pid, code) => Some(Exit {
                pid: pid.as_raw(),
                status: code,
                signal: None,
            }),
            WaitStatus::Signaled(pid, sig, _) => Some(Exit {
                pid: pid.as_raw(),
                status: 128 + sig as i32,
                signal: Some(sig as i32),
            }),
            _ => None,
        }
    }
}

/// Makes the calling process the subreaper of its descendants (`PR_SET_CHILD_SUBREAPER`):
/// orphans of the containers it starts are re-parented to it, not to the host's init.
pub fn become_subreaper() -> Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        return Err(Error::sys(
            "prctl(PR_SET_CHILD_SUBREAPER)",
            nix::Error::last(),
        ));
    }
    Ok(())
}

/// Reaps every child that has exited, without blocking: `waitpid(-1, WNOHANG)` until none is
/// left. Returns them in the order reaped; an empty list when no child has exited (or the
/// caller has no children).
pub fn reap_exited() -> Vec<Exit> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(ws) => out.extend(Exit::from_wait_status(ws)),
        }
    }
}

/// Reaps child `pid` if it has exited, without blocking; None while it runs. An error when
/// `pid` is not a child of the caller (or was reaped already).
pub fn try_reap(pid: i32) -> Result<Option<Exit>> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => Ok(None),
        Ok(ws) => Ok(Exit::from_wait_status(ws)),
        Err(e) => Err(Error::sys(format!("waitpid {pid}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(script: &str) -> i32 {
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn sh");
        child.id() as i32
    }

    /// Blocks until `pid` is a zombie (its exit is reapable), without reaping it.
    fn wait_zombie(pid: i32) {
        let id = nix::sys::wait::Id::Pid(Pid::from_raw(pid));
        let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
        nix::sys::wait::waitid(id, flags).expect("waitid");
    }

    /// `reap_exited` reaps any child, also those of other tests running beside it: the test
    /// body runs in a process of its own (this test binary again, one test).
    #[test]
    fn exits_and_signals_are_reaped_without_blocking() {
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args(["--exact", "container::reap::tests::reap_in_own_process"])
            .args(["--ignored", "--test-threads=1", "--nocapture"])
            .env("PODRUN_REAP_TEST_CHILD", "1")
            .output()
            .expect("run the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run in a process of its own by exits_and_signals_are_reaped_without_blocking"]
    fn reap_in_own_process() {
        if std::env::var_os("PODRUN_REAP_TEST_CHILD").is_none() {
            return;
        }
        let code = spawn("exit 7");
        let killed = spawn("kill -TERM $$");
        let running = spawn("exec sleep 30");
        assert_eq!(
            try_reap(running).unwrap(),
            None,
            "a running child is not waited for"
        );
        wait_zombie(code);
        wait_zombie(killed);
        let mut got = reap_exited();
        got.sort_by_key(|e| e.pid != code);
        assert_eq!(
            got,
            [
                Exit {
                    pid: code,
                    status: 7,
                    signal: None
                },
                Exit {
                    pid: killed,
                    status: 128 + libc::SIGTERM,
                    signal: Some(libc::SIGTERM)
                },
            ]
        );
        // SAFETY: kill of our own child.
        unsafe { libc::kill(running, libc::SIGKILL) };
        wait_zombie(running);
        let e = try_reap(running).unwrap().expect("exited");
        assert_eq!(e.signal, Some(libc::SIGKILL));
        assert!(try_reap(running).is_err(), "reaped twice");
    }
}
