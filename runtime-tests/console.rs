//! Terminals: the pty master sent over --console-socket (one fd in one message, as runc), the
//! error without a socket, and `run` in the foreground with a pty.

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::common::{describe, pid_alive, TestEnv};
use crate::lifecycle::{s, state_pid, wait_status};

/// Accepts one connection on `listener` and returns every fd received in its first message,
/// and the connection (to check later that nothing else comes).
pub(crate) fn receive_fds(listener: &UnixListener) -> (Vec<OwnedFd>, UnixStream) {
    let (conn, _) = listener.accept().expect("accept console connection");
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 8]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg on the console socket");
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(list) = cmsg {
            // SAFETY: SCM_RIGHTS fds are new fds owned by this process from now on.
            fds.extend(
                list.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    (fds, conn)
}

/// Reads from `fd` until what was read contains `needle`; panics after `limit`.
pub(crate) fn read_until(fd: &OwnedFd, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no {needle:?} from the terminal; got {:?}",
            String::from_utf8_lossy(&seen)
        );
        let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        if poll(&mut pfd, PollTimeout::from(ms)).expect("poll pty master") == 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => panic!(
                "the terminal closed before {needle:?}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read pty master: {e}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn console_socket_receives_the_pty_master() {
    let env = TestEnv::new("console-socket");
    let sock = env.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let bundle = env.bundle("shell", |_| {});
    let receiver = std::thread::spawn(move || receive_fds(&listener));
    env.run_ok(&[
        "create",
        "--console-socket",
        s(&sock),
        "--bundle",
        s(&bundle),
        "tty",
    ]);
    let (mut fds, conn) = receiver.join().expect("receiver thread");
    assert_eq!(fds.len(), 1, "expected exactly one fd in the message");
    let master = fds.pop().expect("one fd");
    // It is a pty master: ptsname works on it.
    let link = std::fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd()))
        .expect("readlink master");
    assert!(
        link.to_string_lossy().contains("ptmx"),
        "{}",
        link.display()
    );

    let pid = state_pid(&env.state("tty"));
    // Like runc, the created init keeps neither the pty master nor the console socket.
    let held: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the init's fds")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.contains("ptmx"))
        .collect();
    assert!(
        held.is_empty(),
        "the created init still holds the pty master: {held:?}"
    );
    env.run_ok(&["start", "tty"]);
    let mut writer = std::fs::File::from(master.try_clone().expect("dup master"));
    writer
        .write_all(b"echo h\"\"i; tty\n")
        .expect("write to the terminal");
    let seen = read_until(&master, "hi\r\n/dev/pts/", Duration::from_secs(20));
    assert!(seen.contains("hi"), "{seen}");
    // The shell runs (the init has exec'd): the socket is closed, nothing else was sent.
    let mut rest = [0u8; 16];
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("socket timeout");
    let more = nix::unistd::read(&conn, &mut rest);
    assert!(
        matches!(more, Ok(0)),
        "more on the console socket: {more:?}"
    );
    writer.write_all(b"exit 3\n").expect("write exit");
    wait_status(&env, "tty", "stopped");
    assert!(!pid_alive(pid));
}

#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    let env = TestEnv::new("console-missing");
    let bundle = env.bundle("shell", |_| {});
    let err = env.run_fail(&["create", "--bundle", s(&bundle), "noconsole"]);
    assert!(err.contains("console-socket"), "{err}");
    assert!(env.container_ids().is_empty());
    // And a console socket for a non-terminal process is refused too.
    let sock = env.dir.join("unused.sock");
    let _listener = UnixListener::bind(&sock).expect("bind");
    let plain = env.bundle("sleeper", |_| {});
    let err = env.run_fail(&[
        "create",
        "--console-socket",
        s(&sock),
        "--bundle",
        s(&plain),
        "noterm",
    ]);
    assert!(err.contains("terminal"), "{err}");
    assert!(env.container_ids().is_empty());
}

#[test]
fn run_foreground_with_a_pty() {
    let env = TestEnv::new("console-run");
    let bundle = env.bundle("shell", |_| {});
    let out_path = env.dir.join("run.out");
    let err_path = env.dir.join("run.err");
    let mut child = env
        .podrun_cmd()
        .args(["run", "--bundle", s(&bundle), "fg-tty"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path).expect("out file"))
        .stderr(std::fs::File::create(&err_path).expect("err file"))
        .spawn()
        .expect("spawn podrun run");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"[ -t 0 ] && echo on-a-tty; echo h\"\"i; exit 3\n")
            .expect("write script");
    }
    let status = child.wait().expect("wait podrun run");
    let out = std::process::Output {
        status,
        stdout: std::fs::read(&out_path).expect("read out"),
        stderr: std::fs::read(&err_path).expect("read err"),
    };
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("on-a-tty"), "{text}");
    assert!(text.contains("hi\r\n") || text.contains("hi\n"), "{text}");
    assert!(env.container_ids().is_empty());
}
