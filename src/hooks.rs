//! OCI hooks: run each with the state JSON on stdin, enforcing its timeout.
//!
//! Runs in the runtime process (the caller of `podrun create/start/delete`, or a forked child of
//! it). No threads are used: the hook is spawned (its own process group), then one `poll` waits
//! on the hook's pidfd, the stdin pipe (the state is fed without blocking, so a hook that does not
//! read it cannot stall us) and the hook's deadline.
//!
//! SIGPIPE: a hook that exits without reading its stdin makes our write fail with EPIPE, which is
//! ignored (as runc does). Rust binaries start with SIGPIPE ignored, so the write returns EPIPE
//! instead of killing podrun.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

use crate::{Error, Result};

/// Runs `hooks` in order with `state_json` on each one's stdin; the first failure stops and returns
/// an error naming the hook kind (e.g. "createRuntime"), its path and exit status or the timeout.
pub fn run_hooks(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for hook in hooks {
        run_hook(kind, hook, state_json)?;
    }
    Ok(())
}

/// Same, but failures are only logged as warnings (poststop, poststart).
pub fn run_hooks_warn(kind: &str, hooks: &[Hook], state_json: &[u8]) {
    // The runtime-spec: a failing poststart/poststop hook is logged, and the remaining hooks and
    // the lifecycle continue as if it had succeeded.
    for hook in hooks {
        if let Err(e) = run_hook(kind, hook, state_json) {
            tracing::warn!("{e}");
        }
    }
}

/// Runs one hook to completion (or to its timeout).
fn run_hook(kind: &str, hook: &Hook, state_json: &[u8]) -> Result<()> {
    let fail =
        |what: String| Error::other(format!("{kind} hook {}: {what}", hook.path().display()));
    if !hook.path().is_absolute() {
        return Err(fail("path is not absolute".into()));
    }
    let timeout = hook_timeout(hook).map_err(fail)?;
    let mut command = hook_command(hook).map_err(fail)?;
    tracing::debug!("running {kind} hook {}", hook.path().display());
    let child = command.spawn().map_err(|e| fail(format!("spawn: {e}")))?;
    let mut process = HookProcess::new(child).map_err(fail)?;
    match process
        .wait_feeding_stdin(state_json, timeout)
        .map_err(fail)?
    {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(fail(describe_status(status))),
        None => {
            process.kill_and_reap();
            Err(fail(format!(
                "timed out after {}s",
                timeout.map_or(0, |t| t.as_secs())
            )))
        }
    }
}

/// The hook's timeout; the runtime-spec requires it to be greater than zero when set.
fn hook_timeout(hook: &Hook) -> std::result::Result<Option<Duration>, String> {
    match hook.timeout() {
        None => Ok(None),
        Some(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs as u64))),
        Some(secs) => Err(format!("timeout must be greater than zero, got {secs}")),
    }
}

/// path, argv (args[0] is argv0), only the hook's env, state on a pipe, podrun's stdout/stderr,
/// and its own process group so that a timeout kills everything it started.
fn hook_command(hook: &Hook) -> std::result::Result<Command, String> {
    let mut command = Command::new(hook.path());
    if let Some((argv0, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in hook.env().as_deref().unwrap_or_default() {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| format!("env entry {entry:?} is not KEY=VALUE"))?;
        command.env(key, value);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0);
    Ok(command)
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => format!("ended with {status}"),
    }
}

/// A spawned hook. Dropping it before it was reaped kills its process group and reaps it, so no
/// error path leaves a hook running.
struct HookProcess {
    child: Child,
    pidfd: OwnedFd,
    reaped: bool,
}

impl HookProcess {
    fn new(mut child: Child) -> std::result::Result<Self, String> {
        match pidfd_open(child.id()) {
            Ok(pidfd) => Ok(HookProcess {
                child,
                pidfd,
                reaped: false,
            }),
            Err(e) => {
                kill_group(child.id());
                let _ = child.wait();
                Err(format!("pidfd_open: {e}"))
            }
        }
    }

    /// Feeds `state` to the hook's stdin (closing it when done) while waiting for the hook to
    /// exit. Returns its status, or None when `timeout` expired first.
    fn wait_feeding_stdin(
        &mut self,
        state: &[u8],
        timeout: Option<Duration>,
    ) -> std::result::Result<Option<ExitStatus>, String> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut stdin = self.child.stdin.take();
        if let Some(pipe) = &stdin {
            set_nonblocking(pipe)?;
        }
        let mut pending = state;
        loop {
            if pending.is_empty() {
                stdin = None; // EOF for the hook
            }
            let wait = match poll_timeout_until(deadline) {
                Some(wait) => wait,
                None => return Ok(None),
            };
            let (exited, writable) = self.poll_once(stdin.as_ref(), wait)?;
            if writable {
                if let Some(pipe) = stdin.as_mut() {
                    match feed(pipe, pending) {
                        Some(n) => pending = &pending[n..],
                        None => pending = &[], // the hook closed its stdin
                    }
                }
            }
            if exited {
                let status = self.child.wait().map_err(|e| format!("wait: {e}"))?;
                self.reaped = true;
                return Ok(Some(status));
            }
        }
    }

    /// One poll on the pidfd and (while there is state left to write) the stdin pipe.
    /// Returns (hook exited, stdin ready); both false on timeout or EINTR.
    fn poll_once(
        &self,
        stdin: Option<&ChildStdin>,
        wait: PollTimeout,
    ) -> std::result::Result<(bool, bool), String> {
        let mut fds = vec![PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(pipe) = stdin {
            fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLOUT));
        }
        match poll(&mut fds, wait) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok((false, false)),
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        Ok((ready(&fds[0]), fds.get(1).is_some_and(ready)))
    }

    fn kill_and_reap(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for HookProcess {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_and_reap();
        }
    }
}

/// Writes what the pipe takes now. Returns the number of bytes written, or None when the hook
/// can no longer receive anything (it closed its end, or the pipe failed).
fn feed(pipe: &mut ChildStdin, data: &[u8]) -> Option<usize> {
    match pipe.write(data) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
            Some(0)
        }
        Err(e) if e.kind() == ErrorKind::BrokenPipe => None,
        Err(e) => {
            tracing::debug!("writing the state to a hook's stdin: {e}");
            None
        }
    }
}

/// The poll timeout left until `deadline` (rounded up to whole ms), None once it has passed.
fn poll_timeout_until(deadline: Option<Instant>) -> Option<PollTimeout> {
    let Some(deadline) = deadline else {
        return Some(PollTimeout::NONE);
    };
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())?;
    let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128);
    Some(PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX))
}

fn set_nonblocking(pipe: &ChildStdin) -> std::result::Result<(), String> {
    let flags =
        fcntl(pipe, FcntlArg::F_GETFL).map_err(|e| format!("fcntl F_GETFL on stdin pipe: {e}"))?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(pipe, FcntlArg::F_SETFL(flags))
        .map_err(|e| format!("fcntl F_SETFL on stdin pipe: {e}"))?;
    Ok(())
}

/// A pidfd for our child `pid` (the kernel sets O_CLOEXEC on it). It becomes readable when the
/// process exits; the child is not reaped yet, so the pid cannot have been reused.
fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// SIGKILL to the hook's process group (it is the leader) and to the hook itself, in case it
/// moved to another group. Errors (ESRCH: already gone) do not matter.
fn kill_group(pid: u32) {
    let pid = Pid::from_raw(pid as libc::pid_t);
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = kill(pid, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch dir removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "podrun-unit-hooks-{name}-{}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir scratch");
            Scratch(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A `/bin/sh -c script` hook with `OUT=<out>` in its env.
    fn sh_hook(script: &str, out: &Path, timeout: Option<i64>) -> Hook {
        let mut builder = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
            .env(vec![format!("OUT={}", out.display())]);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        builder.build().expect("hook")
    }

    /// Waits (bounded, so a bug fails instead of hanging) until `pid`, which is not our child,
    /// has exited. ESRCH from pidfd_open means it is already gone and reaped.
    fn assert_exits(pid: i32) {
        let fd = match pidfd_open(pid as u32) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return,
            Err(e) => panic!("pidfd_open {pid}: {e}"),
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll");
        if n != 1 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL); // leave nothing behind
            panic!("process {pid} still runs after the hook timed out");
        }
    }

    #[test]
    fn successful_hooks_run_in_order() {
        let s = Scratch::new("ok");
        let out = s.file("out");
        let hooks = [
            sh_hook("echo one >> \"$OUT\"", &out, None),
            sh_hook("echo two >> \"$OUT\"", &out, Some(30)),
        ];
        run_hooks("createRuntime", &hooks, b"{}").expect("hooks succeed");
        assert_eq!(std::fs::read_to_string(&out).expect("out"), "one\ntwo\n");
    }

    #[test]
    fn nonzero_exit_fails_with_kind_path_and_status_and_stops() {
        let s = Scratch::new("fail");
        let out = s.file("out");
        let hooks = [
            sh_hook("exit 3", &out, None),
            sh_hook("echo ran > \"$OUT\"", &out, None),
        ];
        let err = run_hooks("createRuntime", &hooks, b"{}").expect_err("hook fails");
        assert_eq!(
            err.to_string(),
            "createRuntime hook /bin/sh: exited with status 3"
        );
        assert!(!out.exists(), "the hook after the failing one must not run");
    }

    #[test]
    fn killed_hook_reports_the_signal() {
        let s = Scratch::new("sig");
        let hooks = [sh_hook("kill -TERM $$", &s.file("out"), None)];
        let err = run_hooks("prestart", &hooks, b"{}").expect_err("hook killed");
        assert_eq!(
            err.to_string(),
            "prestart hook /bin/sh: killed by signal SIGTERM"
        );
    }

    #[test]
    fn warn_variant_continues_after_a_failure() {
        let s = Scratch::new("warn");
        let out = s.file("out");
        let hooks = [
            sh_hook("exit 1", &out, None),
            sh_hook("echo ran > \"$OUT\"", &out, None),
        ];
        run_hooks_warn("poststop", &hooks, b"{}");
        assert_eq!(
            std::fs::read_to_string(&out).expect("second hook ran"),
            "ran\n"
        );
    }

    #[test]
    fn timeout_kills_the_hook_and_its_process_group() {
        let s = Scratch::new("timeout");
        let out = s.file("pids");
        // The shell starts a background sleep (same process group), records both pids, waits.
        let script = "sleep 1000 >/dev/null 2>&1 & echo $$ > \"$OUT\"; echo $! >> \"$OUT\"; wait";
        let hooks = [sh_hook(script, &out, Some(1))];
        let err = run_hooks("prestart", &hooks, b"{}").expect_err("hook times out");
        assert_eq!(err.to_string(), "prestart hook /bin/sh: timed out after 1s");
        let text = std::fs::read_to_string(&out).expect("pids written");
        let pids: Vec<i32> = text
            .lines()
            .map(|l| l.trim().parse().expect("pid"))
            .collect();
        assert_eq!(pids.len(), 2, "{text:?}");
        // The hook itself was reaped by run_hooks: its pid no longer exists.
        assert_eq!(
            kill(Pid::from_raw(pids[0]), None),
            Err(nix::errno::Errno::ESRCH)
        );
        assert_exits(pids[1]);
    }

    #[test]
    fn stdin_receives_the_state() {
        let s = Scratch::new("stdin");
        let out = s.file("state");
        let state =
            br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
        run_hooks(
            "createRuntime",
            &[sh_hook("cat > \"$OUT\"", &out, Some(30))],
            state,
        )
        .expect("hook");
        assert_eq!(std::fs::read(&out).expect("state file"), state);
    }

    #[test]
    fn a_large_state_is_fed_without_blocking() {
        let s = Scratch::new("large");
        let out = s.file("state");
        // Several times a pipe's capacity: needs more than one write.
        let state: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        run_hooks(
            "createRuntime",
            &[sh_hook("cat > \"$OUT\"", &out, Some(60))],
            &state,
        )
        .expect("hook");
        assert_eq!(std::fs::read(&out).expect("state file"), state);
    }

    #[test]
    fn a_hook_that_ignores_stdin_still_succeeds() {
        let s = Scratch::new("nostdin");
        let state = vec![b'x'; 1_000_000];
        run_hooks(
            "poststart",
            &[sh_hook("exec 0<&-; exit 0", &s.file("out"), Some(60))],
            &state,
        )
        .expect("hook");
    }

    #[test]
    fn only_the_hooks_env_is_passed() {
        let s = Scratch::new("env");
        let out = s.file("env");
        let hook = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "sh".to_string(),
                "-c".to_string(),
                "env > \"$OUT\"".to_string(),
            ])
            .env(vec![
                "FOO=bar=baz".to_string(),
                format!("OUT={}", out.display()),
            ])
            .build()
            .expect("hook");
        run_hooks("createContainer", &[hook], b"{}").expect("hook");
        let text = std::fs::read_to_string(&out).expect("env file");
        assert!(text.lines().any(|l| l == "FOO=bar=baz"), "{text}");
        for line in text.lines() {
            let key = line.split('=').next().unwrap_or_default();
            // PWD is exported by the shell itself.
            assert!(
                ["FOO", "OUT", "PWD"].contains(&key),
                "unexpected variable {line:?} in {text}"
            );
        }
    }

    #[test]
    fn args0_is_the_hooks_argv0() {
        let s = Scratch::new("argv0");
        let out = s.file("argv0");
        let hook = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "my-hook-name".to_string(),
                "-c".to_string(),
                "echo \"$0\" > \"$OUT\"".to_string(),
            ])
            .env(vec![format!("OUT={}", out.display())])
            .build()
            .expect("hook");
        run_hooks("poststart", &[hook], b"{}").expect("hook");
        assert_eq!(
            std::fs::read_to_string(&out).expect("argv0 file"),
            "my-hook-name\n"
        );
    }

    #[test]
    fn invalid_hooks_are_refused_before_running() {
        let s = Scratch::new("invalid");
        let out = s.file("out");
        let relative = HookBuilder::default().path("bin/sh").build().expect("hook");
        let err = run_hooks("prestart", &[relative], b"{}").expect_err("relative path");
        assert_eq!(
            err.to_string(),
            "prestart hook bin/sh: path is not absolute"
        );
        let zero = sh_hook("echo ran > \"$OUT\"", &out, Some(0));
        let err = run_hooks("prestart", &[zero], b"{}").expect_err("zero timeout");
        assert!(
            err.to_string()
                .contains("timeout must be greater than zero"),
            "{err}"
        );
        let missing = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .expect("hook");
        let err = run_hooks("poststop", &[missing], b"{}").expect_err("missing binary");
        assert!(
            err.to_string()
                .starts_with("poststop hook /nonexistent/hook: spawn:"),
            "{err}"
        );
        assert!(!out.exists());
    }
}
