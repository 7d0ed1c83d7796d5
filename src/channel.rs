//! The create handshake: typed messages over a SOCK_SEQPACKET socketpair between podrun (the
//! parent, `container/`) and the container's init (the child, `process/`). One message per
//! packet; an fd may ride along. It lives below both so neither imports the other.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result, SysContext};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// parent -> init: maps written, cgroup joined; go on. Carries the state JSON for the
    /// hooks the init runs itself.
    Go(String),
    /// init -> parent: mounts are ready; run prestart/createRuntime hooks now.
    RunHooks,
    /// parent -> init: hooks done.
    HooksDone,
    /// init -> parent: the pty master rides along (foreground run with a terminal).
    Pty,
    /// init -> parent: set up, blocked before exec.
    Ready,
    /// init -> parent: setup failed: the message and its kind (see [`Msg::error`]).
    Error(String, ErrorKind),
    /// init -> parent: one formatted log line, for podrun's log (the init has no log fd).
    Log(String),
}

impl Msg {
    /// The init's failure as a message: its text and kind cross the socket.
    pub fn error(e: &Error) -> Msg {
        Msg::Error(e.to_string(), e.kind())
    }

    /// The parent's side of [`Msg::error`]: an error of the same text and kind.
    pub fn into_error(message: String, kind: ErrorKind) -> Error {
        Error::Reported { message, kind }
    }
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair (parent end, child end), both close-on-exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .sys(|| "socketpair".into())?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

/// Sends one message (and an fd) on a channel's raw fd: also where no `Channel` is at hand
/// (the init's log forwarding).
pub fn send_on(sock: RawFd, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
    let data = serde_json::to_vec(msg).map_err(|e| Error::other(format!("encode message: {e}")))?;
    let iov = [IoSlice::new(&data)];
    let fds;
    let cmsg: Vec<ControlMessage> = match fd {
        Some(f) => {
            fds = [f];
            vec![ControlMessage::ScmRights(&fds)]
        }
        None => Vec::new(),
    };
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .sys(|| format!("send {msg:?}"))?;
    Ok(())
}

impl Channel {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        send_on(self.fd.as_raw_fd(), msg, fd)
    }

    /// Like [`Channel::recv`], on the parent's side: the init's log lines on the way are
    /// written to podrun's log, and the next other message is returned.
    pub fn recv_from_init(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        loop {
            match self.recv()? {
                Some((Msg::Log(line), _)) => crate::logging::write_line(&line),
                other => return Ok(other),
            }
        }
    }

    /// The size of the next packet (0: the other end is gone), without taking it: a buffer of
    /// the packet's own size, not a 64 KiB one the allocator zeroes at every receive.
    fn next_len(&self) -> Result<usize> {
        loop {
            // MSG_TRUNC on a SEQPACKET socket returns the packet's whole length; MSG_PEEK
            // leaves it (and any fd riding along) queued.
            match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut [],
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
            ) {
                Ok(n) => return Ok(n),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::sys("receive from container init", e)),
            }
        }
    }

    /// The next message, or None when the other end is gone.
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; self.next_len()?];
        let mut cbuf = nix::cmsg_space!([RawFd; 1]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let m = match r {
                Ok(m) => m,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::sys("receive from container init", e)),
            };
            let mut fd = None;
            for c in m.cmsgs().map_err(|e| Error::sys("control message", e))? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for f in fds {
                        // SAFETY: the kernel installed this fd for us.
                        let owned = unsafe { OwnedFd::from_raw_fd(f) };
                        if fd.is_none() {
                            fd = Some(owned);
                        }
                    }
                }
            }
            let n = m.bytes;
            if n == 0 {
                return Ok(None);
            }
            let msg = serde_json::from_slice(&buf[..n])
                .map_err(|e| Error::other(format!("bad message from container init: {e}")))?;
            return Ok(Some((msg, fd)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_any_size_and_fds_arrive_whole_then_eof() {
        let (a, b) = pair().unwrap();
        let big = "x".repeat(200_000);
        a.send(&Msg::Go(big.clone())).unwrap();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        a.send_with_fd(&Msg::Pty, Some(file.as_raw_fd())).unwrap();
        a.send(&Msg::Ready).unwrap();
        drop(a);
        assert_eq!(
            b.recv().unwrap().map(|(m, fd)| (m, fd.is_some())),
            Some((Msg::Go(big), false))
        );
        let (m, fd) = b.recv().unwrap().unwrap();
        assert_eq!(m, Msg::Pty);
        let fd = fd.expect("the fd rode along");
        assert_eq!(
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap(),
            std::fs::read_link("/proc/self/exe").unwrap()
        );
        assert_eq!(b.recv().unwrap().map(|(m, _)| m), Some(Msg::Ready));
        assert!(b.recv().unwrap().is_none(), "EOF once the sender is gone");
    }

    /// A failure of the init keeps its kind on the parent's side: a bad process.args is
    /// invalid config there too, not a system error.
    #[test]
    fn init_errors_keep_their_kind() {
        let (a, b) = pair().unwrap();
        let cases = [
            Error::Spec("exec: \"nope\": executable file not found in $PATH".into()),
            Error::Unsupported("idmapped mounts".into()),
            Error::sys("mount /proc", nix::Error::EPERM),
        ];
        for e in &cases {
            a.send(&Msg::error(e)).unwrap();
        }
        for e in &cases {
            let Some((Msg::Error(text, kind), None)) = b.recv().unwrap() else {
                panic!("not an error message");
            };
            let got = Msg::into_error(text, kind);
            assert_eq!(got.kind(), e.kind(), "{e}");
            assert_eq!(got.to_string(), e.to_string());
        }
    }
}
