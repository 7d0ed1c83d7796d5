//! A process's stdio as containerd names it: FIFO paths, `file:///path`, `binary:///path?args`
//! (a logger process gets the output on fds 3 and 4 and signals readiness on fd 5), and a
//! console: a pty whose master comes back over a console socket, copied to and from the FIFOs.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::errors::{Failure, Result};

/// What containerd asked for.
#[derive(Debug, Clone, Default)]
pub struct StdioSpec {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The fds a process is given (0, 1, 2) and what the shim keeps for it.
pub struct Prepared {
    /// Handed to the helper as the process's stdio; dropped once the process has them.
    pub child: [Option<OwnedFd>; 3],
    /// The write end of the process's stdin pipe, shared with the copier; CloseIO drops it.
    pub stdin: Arc<Mutex<Option<File>>>,
    /// A console socket to receive the pty master on (terminal only).
    pub console: Option<ConsoleSocket>,
}

impl Prepared {
    pub fn child_fds(&self) -> [Option<RawFd>; 3] {
        [0, 1, 2].map(|i| self.child[i].as_ref().map(AsRawFd::as_raw_fd))
    }
}

/// Opens the output targets and the stdin pipe for a process of container `id`.
pub fn prepare(spec: &StdioSpec, id: &str, namespace: &str, dir: &Path) -> Result<Prepared> {
    let stdin_slot = Arc::new(Mutex::new(None));
    if spec.terminal {
        let console = ConsoleSocket::new(dir, id)?;
        return Ok(Prepared {
            child: [None, None, None],
            stdin: stdin_slot,
            console: Some(console),
        });
    }
    let mut child: [Option<OwnedFd>; 3] = [None, None, None];
    if !spec.stdin.is_empty() {
        let (r, w) = pipe()?;
        child[0] = Some(r);
        *stdin_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(w));
        copy_stdin(spec.stdin.clone(), stdin_slot.clone());
    }
    let binary_stdout = spec.stdout.starts_with("binary://");
    if binary_stdout {
        let (o, e) = start_logger(&spec.stdout, id, namespace)?;
        child[1] = Some(o);
        child[2] = Some(e);
    } else {
        child[1] = open_output(&spec.stdout)?;
        child[2] = if spec.stderr == spec.stdout && !spec.stderr.is_empty() {
            child[1].as_ref().and_then(|f| f.try_clone().ok())
        } else {
            open_output(&spec.stderr)?
        };
    }
    Ok(Prepared {
        child,
        stdin: stdin_slot,
        console: None,
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a 2-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Failure::system(format!(
            "pipe2: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fresh fds, owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A FIFO (opened read-write: never blocks, whenever containerd opens its end), a
/// `file://` path (appended to), or nothing.
fn open_output(uri: &str) -> Result<Option<OwnedFd>> {
    if uri.is_empty() {
        return Ok(None);
    }
    let (path, fifo) = match uri.strip_prefix("file://") {
        Some(p) => (PathBuf::from(p), false),
        None => (
            PathBuf::from(uri.strip_prefix("fifo://").unwrap_or(uri)),
            true,
        ),
    };
    let mut o = std::fs::OpenOptions::new();
    if fifo {
        o.read(true).write(true);
    } else {
        if let Some(d) = path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        o.append(true).create(true).mode(0o640);
    }
    o.custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map(|f| Some(OwnedFd::from(f)))
        .map_err(|e| Failure::system(format!("open {}: {e}", path.display())))
}

/// Copies containerd's stdin FIFO into the process's stdin pipe until EOF or CloseIO.
fn copy_stdin(fifo: String, to: Arc<Mutex<Option<File>>>) {
    std::thread::spawn(move || {
        let Ok(mut src) = File::open(&fifo) else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut slot = to.lock().unwrap_or_else(|e| e.into_inner());
            let written = slot
                .as_mut()
                .is_some_and(|w| w.write_all(&buf[..n]).is_ok());
            if !written {
                break;
            }
        }
        to.lock().unwrap_or_else(|e| e.into_inner()).take();
    });
}

/// `binary:///path?k=v&arg`: starts the logger with the process's output on fds 3 and 4 and
/// waits until it closes fd 5 (ready). Returns the write ends for stdout and stderr.
fn start_logger(uri: &str, id: &str, namespace: &str) -> Result<(OwnedFd, OwnedFd)> {
    let rest = uri.trim_start_matches("binary://");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let args: Vec<String> = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !v.is_empty() => format!("{k}={v}"),
            Some((k, _)) => k.to_string(),
            None => kv.to_string(),
        })
        .collect();
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let inherit = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    let mut cmd = Command::new(path);
    cmd.args(&args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            for (i, fd) in inherit.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Failure::system(format!("start logger {path}: {e}")))?;
    drop((out_r, err_r, ready_w));
    // The logger is re-parented/reaped by the shim's subreaper thread; it must say ready.
    let mut b = [0u8; 1];
    let _ = File::from(ready_r).read(&mut b);
    drop(child);
    Ok((out_w, err_w))
}

/// A listening unix socket that the library's create/exec connects to and sends the pty
/// master over (one fd, SCM_RIGHTS, as runc's --console-socket).
pub struct ConsoleSocket {
    pub path: PathBuf,
    rx: mpsc::Receiver<std::io::Result<OwnedFd>>,
}

impl ConsoleSocket {
    fn new(dir: &Path, id: &str) -> Result<ConsoleSocket> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::system(format!("mkdir {}: {e}", dir.display())))?;
        let path = dir.join(format!(
            "console-{}-{}.sock",
            std::process::id(),
            unique(id)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| Failure::system(format!("bind {}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let r = listener.accept().and_then(|(s, _)| recv_fd(s.as_raw_fd()));
            let _ = tx.send(r);
        });
        Ok(ConsoleSocket { path, rx })
    }

    /// The pty master, once the process has been created.
    pub fn master(self) -> Result<OwnedFd> {
        let r = self.rx.recv_timeout(Duration::from_secs(10));
        let _ = std::fs::remove_file(&self.path);
        match r {
            Ok(Ok(fd)) => Ok(fd),
            Ok(Err(e)) => Err(Failure::system(format!("receive the console: {e}"))),
            Err(_) => Err(Failure::system("no console was sent")),
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn unique(id: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", &id[..id.len().min(12)])
}

fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(std::io::Error::from)?;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just gave us this fd.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(std::io::Error::other("no fd in the console message"))
}

/// Copies between a pty master and containerd's FIFOs. Returns a receiver that gets a
/// message when the output is drained (the process's side of the pty closed).
pub fn copy_console(
    master: &OwnedFd,
    spec: &StdioSpec,
    stdin: Arc<Mutex<Option<File>>>,
) -> Result<mpsc::Receiver<()>> {
    let (tx, rx) = mpsc::channel();
    let out = open_output(&spec.stdout)?;
    let mut reader = File::from(
        master
            .try_clone()
            .map_err(|e| Failure::system(format!("dup console: {e}")))?,
    );
    std::thread::spawn(move || {
        let mut out = out.map(File::from);
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(o) = out.as_mut() {
                        let _ = o.write_all(&buf[..n]);
                    }
                }
            }
        }
        let _ = tx.send(());
    });
    if !spec.stdin.is_empty() {
        let w = File::from(
            master
                .try_clone()
                .map_err(|e| Failure::system(format!("dup console: {e}")))?,
        );
        *stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
        copy_stdin(spec.stdin.clone(), stdin);
    }
    Ok(rx)
}

/// Sets the console's window size.
pub fn resize(master: &OwnedFd, width: u32, height: u32) {
    podrun::process::console::set_winsize(
        master.as_raw_fd(),
        height.min(u16::MAX as u32) as u16,
        width.min(u16::MAX as u32) as u16,
    );
}
