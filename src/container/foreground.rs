//! `run`/`exec` in the foreground: podrun stays the parent of the container's process,
//! forwards the signals it gets, relays a terminal, and returns the process's exit code.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};

/// Blocks every signal in podrun (the child unblocks before exec), so they can be read from a
/// signalfd and forwarded. Call before forking the container's process.
pub fn block_signals() -> Result<()> {
    SigSet::all()
        .thread_set_mask()
        .sys(|| "block signals".into())?;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
    Ok(())
}

/// Restores the caller's terminal mode when dropped.
struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: stdin stays open for podrun's lifetime.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}

fn make_raw(fd: RawFd) -> Option<RawMode> {
    // SAFETY: borrowing a standard fd for the duration of the call.
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let saved = termios::tcgetattr(b).ok()?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(b, SetArg::TCSANOW, &raw).ok()?;
    Some(RawMode { fd, saved })
}

fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid struct; failures are harmless.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Waits for `pid`, forwarding signals and relaying the pty; returns its exit code.
pub fn wait(pid: i32, pty: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(
        &SigSet::all(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .sys(|| "signalfd".into())?;
    let _raw = pty.as_ref().and_then(|_| make_raw(0));
    if let Some(m) = &pty {
        copy_winsize(0, m.as_raw_fd());
    }
    let mut stdin_open = pty.is_some();
    let mut pty_open = pty.is_some();
    let mut code: Option<i32> = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(c) = code {
            if !pty_open {
                return Ok(c);
            }
        }
        let mut fds = vec![libc::pollfd {
            fd: sfd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let (Some(m), true) = (&pty, pty_open) {
            fds.push(libc::pollfd {
                fd: m.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            if stdin_open {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        // With the process gone, drain the pty without blocking forever.
        let timeout = if code.is_some() { 100 } else { -1 };
        // SAFETY: valid pollfd array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 {
            let e = nix::Error::last();
            if e == nix::Error::EINTR {
                continue;
            }
            return Err(Error::sys("poll", e));
        }
        if r == 0 && code.is_some() {
            pty_open = false;
            continue;
        }
        if fds[0].revents != 0 {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    code = reap(pid).or(code);
                } else if sig == libc::SIGWINCH {
                    if let Some(m) = &pty {
                        copy_winsize(0, m.as_raw_fd());
                    }
                } else {
                    // SAFETY: forwarding a signal to our own child.
                    unsafe { libc::kill(pid, sig) };
                }
            }
        }
        if let Some(m) = &pty {
            for p in fds.iter().skip(1) {
                if p.revents == 0 {
                    continue;
                }
                if p.fd == m.as_raw_fd() {
                    // SAFETY: read into our buffer from the master.
                    let n = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        pty_open = false;
                    } else {
                        write_all(1, &buf[..n as usize]);
                    }
                } else {
                    // SAFETY: read from stdin into our buffer.
                    let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        stdin_open = false;
                    } else {
                        write_all(m.as_raw_fd(), &buf[..n as usize]);
                    }
                }
            }
        }
        if code.is_none() {
            code = reap(pid);
        }
    }
}

/// Reaps every exited child; returns the exit code if `pid` was among them.
fn reap(pid: i32) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(ws) => {
                if ws.pid() == Some(Pid::from_raw(pid)) {
                    result = exit_code(ws);
                }
            }
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: write from a valid slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && nix::Error::last() == nix::Error::EINTR {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}
