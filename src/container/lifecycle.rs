//! `start`, `kill`, `delete` on recorded state. Signals go through a pidfd opened before the
//! start-time check, so a reused PID is never signalled.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::pod::{self, PodLock};
use crate::state::{ContainerState, StateDir, Status};
use crate::sys;

/// How long `delete --force` waits for the container to die after SIGKILL.
const KILL_WAIT_MS: i32 = 10_000;

/// `podrun start`: lets a created container exec its process.
pub fn start(root: &Path, id: &str) -> Result<ContainerState> {
    let dir = StateDir::open(root, id)?;
    let state = ContainerState::load(root, id)?;
    match state.status(root) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::BadState(format!(
                "cannot start a container that has stopped: {id}"
            )))
        }
        Status::Creating => {
            return Err(Error::BadState(format!(
                "container {id} is still being created"
            )))
        }
        s => {
            return Err(Error::BadState(format!(
                "cannot start an already {s} container: {id}"
            )))
        }
    }
    let pidfd = sys::pidfd_for(state.pid, state.start_time).ok_or_else(|| {
        Error::BadState(format!("cannot start a container that has stopped: {id}"))
    })?;
    release_init(&dir, &pidfd, id)?;
    if let Some(h) = state.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        crate::hooks::run_hooks_warn("poststart", &h, &state.hook_state(Status::Running));
    }
    Ok(state)
}

/// Opens the exec fifo for reading, which unblocks the init, and waits for its byte; if the
/// init dies instead, says so. Then waits for the init's end of the fifo to close, which its
/// execve does (close-on-exec): the poststart hooks run after the container's program was
/// executed, as with runc. No polling loop: poll on the fifo and the init's pidfd together.
fn release_init(dir: &StateDir, pidfd: &OwnedFd, id: &str) -> Result<()> {
    let fifo_path = dir.fifo();
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open exec fifo {}", fifo_path.display()), e))?;
    let mut fds = [
        libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut released = false;
    loop {
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = nix::Error::last();
            if e == nix::Error::EINTR {
                continue;
            }
            return Err(Error::sys("poll exec fifo", e));
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            let mut b = [0u8; libc::PIPE_BUF];
            // SAFETY: read into a buffer of b.len() bytes.
            let n = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
            match (n, b.first(), released) {
                // The writer is gone after its `0`: the execve happened (or the init died).
                (0, _, true) => break,
                (1.., Some(b'0'), false) => released = true,
                // `1` + the init's error (a failing startContainer hook): the init exits.
                (1.., _, false) => {
                    let len = usize::try_from(n).unwrap_or(0).min(b.len());
                    let msg = String::from_utf8_lossy(&b[1..len]).into_owned();
                    let _ = std::fs::remove_file(&fifo_path);
                    return Err(Error::other(format!("container {id}: start failed: {msg}")));
                }
                _ => {}
            }
        }
        if fds[1].revents != 0 {
            if released {
                // Started, then exited: its end of the fifo is closed too.
                break;
            }
            return Err(Error::BadState(format!(
                "container {id}: init exited before start"
            )));
        }
        fds[0].revents = 0;
        fds[1].revents = 0;
    }
    let _ = std::fs::remove_file(&fifo_path);
    Ok(())
}

/// `podrun kill`: a signal to the init, or with `all` to every process of the container.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let state = ContainerState::load(root, id)?;
    let status = state.status(root);
    if status == Status::Stopped && !all {
        return Err(Error::BadState(format!("container {id} is not running")));
    }
    if all {
        match state.cgroup_path.as_deref().map(Cgroup::from_path) {
            Some(cg) => signal_cgroup(&cg, sig),
            None => signal_pids(&crate::container::pids::container_pids(&state), sig),
        }
    }
    if let Some(pidfd) = sys::pidfd_for(state.pid, state.start_time) {
        sys::pidfd_send_signal(&pidfd, sig)?;
    } else if !all {
        return Err(Error::BadState(format!("container {id} is not running")));
    }
    Ok(())
}

fn signal_cgroup(cg: &Cgroup, sig: i32) {
    signal_pids(&cg.pids(), sig);
}

fn signal_pids(pids: &[i32], sig: i32) {
    for &pid in pids {
        // SAFETY: kill with integer arguments; processes of the container's cgroup.
        unsafe { libc::kill(pid, sig) };
    }
}

/// `podrun delete`: removes a stopped (or created) container; with `force` kills it first.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    delete_with(root, id, force, None)
}

/// `delete`, for a caller that may hold the lock of the container's pod (`held`): the
/// member list is then updated through that guard instead of locking the pod again.
fn delete_with(root: &Path, id: &str, force: bool, held: Option<&PodLock>) -> Result<()> {
    let dir = match StateDir::open(root, id) {
        Ok(d) => d,
        Err(Error::ContainerNotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let state = match ContainerState::load(root, id) {
        Ok(s) => s,
        // No state.json (a create killed before it wrote it, or the file was lost) or a
        // corrupt one: the recovery record, else the default cgroup path, still leads to the
        // init and the cgroup.
        Err(_) if force => return destroy_without_state(root, id, dir),
        Err(Error::ContainerNotFound(_)) => {
            return Err(Error::BadState(format!(
                "container {id} has no state (an interrupted create?): use delete --force"
            )))
        }
        Err(e) => {
            return Err(Error::BadState(format!(
                "{e}: use delete --force to kill and remove what is left of container {id}"
            )))
        }
    };
    let status = state.status(root);
    match status {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        s => {
            return Err(Error::BadState(format!(
                "cannot delete container {id} that is not stopped: {s}"
            )))
        }
    }
    destroy(root, dir, &state, held)
}

/// Kills whatever is left of the container and removes all it had: processes, cgroup,
/// pod membership, state dir; runs poststop hooks.
fn destroy(
    root: &Path,
    dir: StateDir,
    state: &ContainerState,
    held: Option<&PodLock>,
) -> Result<()> {
    let cg = state.cgroup_path.as_deref().map(Cgroup::from_path);
    if let Some(pidfd) = sys::pidfd_for(state.pid, state.start_time) {
        let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
        if let Some(cg) = &cg {
            signal_cgroup(cg, libc::SIGKILL);
            thaw_to_let_kill_land(cg, &state.id);
        }
        if !sys::pidfd_wait_exit(&pidfd, KILL_WAIT_MS) {
            return Err(Error::other(format!(
                "container {}: init (pid {}) did not exit after SIGKILL",
                state.id, state.pid
            )));
        }
        reap_if_child(state.pid);
    } else if let Some(cg) = &cg {
        signal_cgroup(cg, libc::SIGKILL);
        thaw_to_let_kill_land(cg, &state.id);
    }
    // The systemd driver's unit (and the slices it caused) go first, then the dirs left.
    if let Err(e) = crate::cgroups::systemd::release(&dir.dir, cg.as_ref()) {
        tracing::warn!("delete {}: {e}", state.id);
    }
    if let Some(pod) = &state.pod {
        let removed = match held {
            Some(lock) if lock.pod() == pod => pod::remove_member_locked(root, lock, &state.id),
            _ => pod::remove_member(root, pod, &state.id),
        };
        if let Err(e) = removed {
            tracing::warn!("delete {}: {e}", state.id);
        }
    }
    if !state.namespaces.iter().any(|n| n == "mount") {
        detach_rootfs_mounts(state);
    }
    // runtime-spec: poststop hooks run after the container is deleted (runc removes the state
    // first too), before `delete` returns.
    dir.remove()?;
    if let Some(h) = state.hooks.as_ref().and_then(|h| h.poststop().clone()) {
        crate::hooks::run_hooks_warn("poststop", &h, &state.hook_state(Status::Stopped));
    }
    Ok(())
}

/// `delete --force` without a readable state.json: kills the init recorded in the recovery
/// file (only if it is still the same process: pid and start time) and every process of the
/// container's cgroup (the recorded one, else the default `/podrun/<id>-<root hash>`, which
/// no other container can share), removes the cgroup and the state dir.
fn destroy_without_state(root: &Path, id: &str, dir: StateDir) -> Result<()> {
    let rec = crate::state::Recovery::load(&dir.dir);
    let cgroup_path = rec.as_ref().map_or_else(
        || Some(crate::state::default_cgroup_path(root, id)),
        |r| r.cgroup_path.clone(),
    );
    let cg = cgroup_path.as_deref().map(Cgroup::from_path);
    let pidfd = rec
        .as_ref()
        .and_then(|r| r.init)
        .and_then(|(pid, start)| sys::pidfd_for(pid, start).map(|fd| (pid, fd)));
    if let Some((_, fd)) = &pidfd {
        let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
    }
    if let Some(cg) = &cg {
        signal_cgroup(cg, libc::SIGKILL);
        thaw_to_let_kill_land(cg, id);
    }
    if let Some((pid, fd)) = &pidfd {
        if !sys::pidfd_wait_exit(fd, KILL_WAIT_MS) {
            return Err(Error::other(format!(
                "container {id}: init (pid {pid}) did not exit after SIGKILL"
            )));
        }
        reap_if_child(*pid);
    }
    if let Err(e) = crate::cgroups::systemd::release(&dir.dir, cg.as_ref()) {
        tracing::warn!("delete {id}: {e}");
    }
    tracing::warn!(
        "delete {id}: state.json was missing or unreadable; removed what was found through cgroup {}",
        cgroup_path.as_deref().unwrap_or("(none)")
    );
    dir.remove()
}

/// A container without a mount namespace made its mounts in the runtime's, all under the
/// init's bind of the rootfs onto itself (the topmost mount there): detach it, so the host
/// keeps none of them (runc leaves them behind).
fn detach_rootfs_mounts(state: &ContainerState) {
    // mountinfo spells the path with its symlinks resolved
    let rootfs = std::fs::canonicalize(&state.rootfs).unwrap_or_else(|_| state.rootfs.clone());
    let on_rootfs = crate::process::mounts::read_mountinfo()
        .map(|m| m.iter().any(|m| m.mount_point == rootfs))
        .unwrap_or(false);
    if !on_rootfs {
        return;
    }
    if let Err(e) = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH) {
        tracing::warn!(
            "delete {}: detach the rootfs mount {}: {e}",
            state.id,
            rootfs.display()
        );
    }
}

/// A frozen (paused) container's processes take a SIGKILL only once thawed: the signal is
/// queued first, so nothing of the container runs user code after the thaw.
fn thaw_to_let_kill_land(cg: &Cgroup, id: &str) {
    if cg.is_frozen() {
        if let Err(e) = cg.thaw() {
            tracing::warn!("delete {id}: thaw the paused container: {e}");
        }
    }
}

/// Reaps the init if it happens to be our own child (foreground run).
fn reap_if_child(pid: i32) {
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
}

/// Kills and removes a container whatever its state.
pub fn force_delete(root: &Path, id: &str) -> Result<()> {
    delete(root, id, true)
}

/// Kills and removes a member container of a pod whose lock the caller holds (`held`, the
/// guard of `pod::delete`, which is passed this function): the member list is updated under
/// that lock, not by taking it again.
pub fn delete_pod_member(root: &Path, id: &str, held: &PodLock) -> Result<()> {
    delete_with(root, id, true, Some(held))
}
