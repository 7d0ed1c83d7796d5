//! What the real-client suites (containerd.rs, podman.rs, docker.rs, cri/) share: the runtimes they compare,
//! the locally built OCI images, command output as comparable values, readiness probes on
//! real conditions, and removal of the cgroup trees and processes a test made.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use super::{describe, podrun_bin, repo_dir, TestEnv};
use crate::lifecycle::wait_until;

/// Debian's runc, the reference every client suite compares podrun with.
pub const RUNC: &str = "/usr/sbin/runc";

/// The two runtimes a suite runs its scenario with: (short name, binary).
pub fn runtimes() -> [(&'static str, PathBuf); 2] {
    [("runc", PathBuf::from(RUNC)), ("podrun", podrun_bin())]
}

/// The busybox image: localhost/podrun-busybox:latest, Cmd ["/bin/sh"].
pub const BUSYBOX_IMAGE: &str = "localhost/podrun-busybox:latest";

/// Builds `scripts/oci-image.sh [extra] OUT NAME` into `env.dir/FILE` and returns its path.
pub fn build_image(env: &TestEnv, file: &str, name: &str, extra: &[&str]) -> PathBuf {
    let out = env.dir.join(file);
    let mut cmd = Command::new("bash");
    cmd.arg(repo_dir().join("scripts/oci-image.sh"))
        .args(extra)
        .arg(&out)
        .arg(name);
    let o = env.output_via_files(&mut cmd);
    assert!(o.status.success(), "oci-image.sh {name}: {}", describe(&o));
    out
}

/// A rootfs with only /catatonit (static, from Debian's catatonit), made into an image whose
/// entrypoint is `/catatonit -P`: what podman's own pause image is, built without a registry.
pub fn build_catatonit_image(env: &TestEnv, name: &str) -> PathBuf {
    let rootfs = env.dir.join("infra-rootfs");
    std::fs::create_dir_all(&rootfs).unwrap_or_else(|e| panic!("mkdir {}: {e}", rootfs.display()));
    std::fs::copy("/usr/bin/catatonit", rootfs.join("catatonit"))
        .unwrap_or_else(|e| panic!("copy /usr/bin/catatonit: {e}"));
    let rootfs_arg = rootfs.to_str().expect("utf8 path").to_string();
    build_image(
        env,
        "infra.tar",
        name,
        &[
            "--rootfs",
            &rootfs_arg,
            "--entrypoint",
            r#"["/catatonit","-P"]"#,
            "--cmd",
            "null",
        ],
    )
}

/// What one client command did, in a form two runtimes can be compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
}

impl Step {
    pub fn new(what: &str, out: &Output) -> Step {
        Step {
            what: what.to_string(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }
}

/// Whether a process of the network namespace of `pid` listens on TCP `port` (IPv4 or IPv6),
/// from /proc/PID/net/tcp{,6}: state 0A is LISTEN.
pub fn tcp_listening(pid: i32, port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["tcp", "tcp6"].iter().any(|f| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
            })
        })
    })
}

/// Waits until `pid`'s network namespace has a listener on `port`.
pub fn wait_listening(pid: i32, port: u16, what: &str) {
    wait_until(what, Duration::from_secs(15), || tcp_listening(pid, port));
}

/// The cgroup directories named `rel` (relative to a hierarchy root) that exist, in every
/// mounted hierarchy: v1 controllers, and cgroup2 whether at the root or at `unified`.
pub fn cgroup_dirs_named(rel: &str) -> Vec<PathBuf> {
    super::cgroupfs::existing_dirs(rel)
}

/// The PIDs in the cgroup trees named `rel` (a test-made parent: only its own processes).
pub fn pids_in_cgroup_trees(rel: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in cgroup_dirs_named(rel) {
        collect_procs(&dir, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect_procs(dir: &Path, pids: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&e.path(), pids);
            }
        }
    }
}

/// Removes the (empty) cgroup trees named `rel` in every hierarchy, deepest first; says what
/// could not be removed. Only ever called with the unique parent a test gave its client.
pub fn remove_cgroup_trees(rel: &str) {
    for dir in cgroup_dirs_named(rel) {
        remove_cgroup_dir(&dir);
    }
}

fn remove_cgroup_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_dir(&e.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("client cleanup: rmdir {}: {e}", dir.display());
    }
}

/// SIGKILLs `pid` if it is alive and its command name is `comm` (a recorded PID that a reused
/// number cannot turn into some other program). Returns whether a signal was sent.
pub fn kill_recorded(pid: i32, comm: &str) -> bool {
    if pid <= 0 || !super::pid_alive(pid) {
        return false;
    }
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if name.trim() != comm {
        return false;
    }
    // SAFETY: kill(2) with integer arguments, on a process this test started (recorded PID).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    true
}

/// The PID in a pid file (runc and podrun write digits without a newline).
pub fn read_pid_file(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Processes whose command line contains `needle` (a path unique to this test): for checking
/// that nothing of the test is left, never for choosing what to kill.
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    let me = std::process::id() as i32;
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || !super::pid_alive(pid) {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Stops a daemon the test spawned (`what` names it in the log): SIGTERM to its PID, wait, and
/// SIGKILL after 20 s. Nothing to do when it was never started or is already stopped.
pub fn stop_daemon_child(child: &mut Option<Child>, what: &str) {
    let Some(mut c) = child.take() else {
        return;
    };
    // SAFETY: kill(2) with integer arguments on a daemon this test spawned (its PID).
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                eprintln!("cleanup: {what} did not stop on SIGTERM: SIGKILL");
                let _ = c.kill();
                let _ = c.wait();
                return;
            }
        }
    }
}

/// The config of a private containerd with everything under `dir` (root, state, opt) and its
/// own gRPC and ttrpc sockets at `socket`; the CRI plugin and the snapshotters this host cannot
/// use are disabled.
pub fn private_containerd_config(dir: &Path, socket: &Path) -> String {
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]
[grpc]
  address = "{s}"
[ttrpc]
  address = "{s}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
        d = dir.display(),
        s = socket.display()
    )
}
