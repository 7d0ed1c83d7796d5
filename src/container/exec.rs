//! `exec` on the podrun side: a new process in every namespace and the cgroup of a running
//! container, set up by the same init code as `create` (mode Exec: no rootfs, no fifo).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::cgroups::Cgroup;
use crate::channel::{self, Msg};
use crate::container::create::{fork_init, wait_for_exec};
use crate::error::{Error, Result};
use crate::process::init::{ConsoleTarget, InitConfig, Mode as InitMode};
use crate::process::namespaces::{self, JoinNs, JOIN_ORDER};
use crate::state::{ContainerState, Status};
use crate::sys;

pub struct ExecOpts {
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub detach: bool,
    pub ignore_paused: bool,
}

/// A started exec process: its host pid and, in the foreground with a tty, the pty master.
pub struct Execed {
    pub pid: i32,
    pub pty_master: Option<OwnedFd>,
}

pub fn exec(root: &Path, opts: ExecOpts) -> Result<Execed> {
    let state = ContainerState::load(root, &opts.id)?;
    crate::process::lsm::check(&opts.process, None)?;
    let id = &opts.id;
    match state.status(root) {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(Error::BadState(format!(
                "cannot exec in a paused container: {id}"
            )))
        }
        s => {
            return Err(Error::BadState(format!(
                "cannot exec in a {s} container: {id}"
            )))
        }
    }
    // The pidfd pins the process while its namespaces are opened.
    let pidfd = sys::pidfd_for(state.pid, state.start_time)
        .ok_or_else(|| Error::BadState(format!("cannot exec in a stopped container: {id}")))?;
    let (mut joins, pid_join) = open_container_namespaces(&state)?;
    if !sys::process_matches(state.pid, state.start_time) {
        return Err(Error::BadState(format!(
            "cannot exec in a stopped container: {id}"
        )));
    }
    drop(pidfd);

    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.detach {
        return Err(Error::Usage(
            "--tty with --detach needs --console-socket".into(),
        ));
    }
    let console_sock = match &opts.console_socket {
        Some(p) if terminal => {
            Some(UnixStream::connect(p).map_err(|e| Error::io("connect to console socket", p, e))?)
        }
        _ => None,
    };
    let console = match (&console_sock, terminal) {
        (Some(s), _) => ConsoleTarget::Socket(s.as_raw_fd()),
        (None, true) => ConsoleTarget::Parent,
        (None, false) => ConsoleTarget::None,
    };
    let seccomp = match &state.seccomp {
        Some(s) => Some(crate::process::seccomp::compile(s)?),
        None => None,
    };
    namespaces::enter_user_namespace_first(&mut joins)?;
    let spec = Spec::default();
    let cg = state.cgroup_path.as_deref().map(Cgroup::from_path);
    let entry = cg.as_ref().map(Cgroup::entry).transpose()?;
    let (parent, child) = channel::pair()?;
    let cfg = InitConfig {
        mode: InitMode::Exec,
        id,
        spec: &spec,
        process: &opts.process,
        bundle: &state.bundle,
        rootfs: &state.rootfs,
        joins: &joins,
        unshare: CloneFlags::empty(),
        new_user: false,
        no_pivot: state.no_pivot,
        no_new_keyring: true,
        fifo_fd: None,
        stage: None,
        console,
        preserve_fds: opts.preserve_fds,
        parent_hooks: false,
        seccomp,
        cgroup: entry.as_ref(),
    };
    let pid_ns = pid_join
        .as_ref()
        .map(namespaces::join_pid_for_children)
        .transpose()?;
    let (pid, in_v2) = fork_init(
        CloneFlags::empty(),
        entry.as_ref().and_then(|e| e.v2_fd()),
        cfg,
        child,
    )?;
    drop(pid_ns);
    drop(entry);
    let kill_child = |e: Error| {
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    if let (Some(cg), false) = (&cg, in_v2) {
        cg.add_pid_v2(pid).map_err(kill_child)?;
    }
    parent.send(&Msg::Go(String::new())).map_err(kill_child)?;
    let mut pty = None;
    loop {
        match parent.recv_from_init().map_err(kill_child)? {
            Some((Msg::Ready, _)) => break,
            Some((Msg::Pty, fd)) => pty = fd,
            Some((Msg::Error(e, kind), _)) => return Err(kill_child(Msg::into_error(e, kind))),
            Some((m, _)) => {
                return Err(kill_child(Error::other(format!(
                    "unexpected message {m:?}"
                ))))
            }
            None => {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                return Err(Error::other("exec: the process exited during setup"));
            }
        }
    }
    // Like runc, return (and write the pid file) once the process runs the program, not while
    // the forked init is still on its way to execve: a caller that reaps it by pid (the
    // containerd shim is a subreaper) then sees only the program, and an exec error is ours.
    wait_for_exec(&parent).map_err(kill_child)?;
    if let Some(pf) = &opts.pid_file {
        crate::container::create::write_pid_file(pf, pid)?;
    }
    Ok(Execed {
        pid,
        pty_master: pty,
    })
}

/// Opens /proc/<init>/ns/* for every namespace type the container has; a namespace that is
/// the same as podrun's own (e.g. a user namespace shared with the host) is skipped.
fn open_container_namespaces(state: &ContainerState) -> Result<(Vec<JoinNs>, Option<JoinNs>)> {
    let mut joins = Vec::new();
    let mut pid_join = None;
    for t in JOIN_ORDER {
        if !state
            .namespaces
            .iter()
            .any(|n| n == crate::spec::ns_oci_name(t))
        {
            continue;
        }
        let name = crate::spec::ns_name(t);
        let theirs = PathBuf::from(format!("/proc/{}/ns/{name}", state.pid));
        let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
        if same_file(&theirs, &ours) {
            continue;
        }
        let j = namespaces::open_namespace(&theirs, t)?;
        if t == LinuxNamespaceType::Pid {
            pid_join = Some(j);
        } else {
            joins.push(j);
        }
    }
    Ok((joins, pid_join))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
