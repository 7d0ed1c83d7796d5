//! The container's terminal: a pty made inside the container (its /dev/pts), whose master
//! goes to the caller over `--console-socket` (one fd in one SCM_RIGHTS message, like runc)
//! or back to podrun for `run` in the foreground.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::{Error, Result, SysContext};

/// A new pty pair; the slave is opened by path under /dev/pts of the current mount namespace.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

pub fn open_pty() -> Result<Pty> {
    // SAFETY: open of a constant path; the fd is owned below.
    let m = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if m < 0 {
        return Err(Error::sys("open /dev/ptmx", nix::Error::last()));
    }
    // SAFETY: fresh fd.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: unlockpt/ptsname_r on a valid master fd.
    if unsafe { libc::unlockpt(master.as_raw_fd()) } != 0 {
        return Err(Error::sys("unlockpt", nix::Error::last()));
    }
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buffer and length are valid.
    if unsafe { libc::ptsname_r(master.as_raw_fd(), buf.as_mut_ptr(), buf.len()) } != 0 {
        return Err(Error::sys("ptsname", nix::Error::last()));
    }
    // SAFETY: ptsname_r NUL-terminated the buffer.
    let s = unsafe {
        libc::open(
            buf.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(Error::sys("open pty slave", nix::Error::last()));
    }
    // SAFETY: fresh fd.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    Ok(Pty { master, slave })
}

/// Sets the window size of a terminal.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid struct.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Sends one fd over a unix socket with `name` as the message data (runc sends the pty name).
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).sys(|| "send console fd".into())?;
    Ok(())
}

/// Makes the slave the controlling terminal and stdio of this process (after setsid).
pub fn become_console(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().sys(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY on a valid tty fd.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::sys("ioctl TIOCSCTTY", nix::Error::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard fds.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(Error::sys(
                format!("dup2 console to fd {target}"),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}
