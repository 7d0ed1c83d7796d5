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
    /// The slave's path (`/dev/pts/N`).
    pub slave_path: std::ffi::CString,
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
    // SAFETY: ptsname_r NUL-terminated the buffer.
    let slave_path = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_owned();
    Ok(Pty {
        master,
        slave,
        slave_path,
    })
}

/// Binds the pty slave over `/dev/console` of the (new) root, as the runtime-spec asks for a
/// container with `terminal: true` and as runc does: the file is created (0600) when missing;
/// a symlink there is refused (O_NOFOLLOW), and the bind goes through the opened fd so it
/// cannot be redirected.
pub fn mount_console(slave_path: &std::ffi::CStr) -> Result<()> {
    // SAFETY: open of a constant path; the fd is owned below.
    let fd = unsafe {
        libc::open(
            c"/dev/console".as_ptr(),
            libc::O_RDONLY | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Error::sys(
            "create /dev/console for the terminal",
            nix::Error::last(),
        ));
    }
    // SAFETY: fresh fd.
    let target = unsafe { OwnedFd::from_raw_fd(fd) };
    let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", target.as_raw_fd()))
        .map_err(|_| Error::other("fd path"))?;
    // SAFETY: valid NUL-terminated paths; null fstype and data for a bind mount.
    let rc = unsafe {
        libc::mount(
            slave_path.as_ptr(),
            proc_path.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Error::sys(
            format!("bind {} over /dev/console", slave_path.to_string_lossy()),
            nix::Error::last(),
        ));
    }
    Ok(())
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
