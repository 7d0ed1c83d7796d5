//! containerd 1.6 (Debian's) driving podrun through `containerd-shim-runc-v2`, the way it
//! drives runc: the test starts its own daemon (private root, state, socket, config version 2
//! with the CRI plugin off), imports the busybox image built by scripts/oci-image.sh, and runs
//! one scenario with `ctr run --runc-binary /usr/sbin/runc` and again with podrun. Both runs
//! must give the same outputs and exit codes, and runc's must be the expected ones:
//! - a short container: stdout and exit code;
//! - a detached task: `ctr task ls/exec/ps/pause/resume/kill/delete` (exec as another user,
//!   exec refused while paused, the exit code of a TERM trap), the runtime's state gone after;
//! - a memory limit (`--memory-limit`) in the host's cgroup file, and the cgroup gone after;
//! - two containers joining a podrun pod's network namespace (`--with-ns network:PATH`):
//!   busybox httpd on 127.0.0.1 and a wget client over localhost, seeing the pod's eth0.
//!
//! A Drop guard deletes the tasks, stops the daemon by its PID, kills shims left behind by
//! their recorded shim.pid, removes the shim sockets under /run/containerd/s, the cgroup
//! parent (named after the namespace) and the bridge; TestEnv's Drop removes the pod and
//! detaches any mount left under the test's directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::clients::{
    build_image, kill_recorded, private_containerd_config, processes_mentioning, read_pid_file,
    remove_cgroup_trees, runtimes, stop_daemon_child, wait_listening, Step, BUSYBOX_IMAGE,
};
use crate::common::{cgroupfs, describe, TestEnv};
use crate::lifecycle::wait_until;

const SHIM_SOCKET_DIR: &str = "/run/containerd/s";
const MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
const POD_SUBNET: &str = "10.244.230.0/24";

/// A private containerd daemon and everything the test made through it.
pub(crate) struct Containerd {
    pub(crate) dir: PathBuf,
    pub(crate) socket: PathBuf,
    pub(crate) namespace: String,
    pub(crate) daemon: Option<Child>,
    /// The --runc-root of each runtime: the shim passes `--root <it>/<namespace>`.
    pub(crate) runc_roots: Vec<(PathBuf, PathBuf)>,
    /// Container ids ever created, for the socket and state checks.
    pub(crate) ids: Vec<String>,
    created_run_containerd: bool,
    created_socket_dir: bool,
    /// Added to the daemon's environment (kept for a restart).
    extra_env: Vec<(String, OsString)>,
}

impl Containerd {
    pub(crate) fn start(env: &TestEnv) -> Containerd {
        Containerd::start_with(env, &[])
    }

    /// Starts the daemon with `extra_env` added to its environment (what its shims inherit).
    pub(crate) fn start_with(env: &TestEnv, extra_env: &[(&str, OsString)]) -> Containerd {
        let dir = env.dir.join("containerd");
        std::fs::create_dir_all(dir.join("fifo")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let socket = dir.join("c.sock");
        // The test's own (the directory's name, unique per test): two tests' daemons in one
        // test process must not share a namespace, as containerd's default cgroupsPath
        // /<namespace>/<id> would then be one cgroup for both tests' containers.
        let namespace = env
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("podrun-test")
            .to_string();
        let config = dir.join("config.toml");
        let toml = private_containerd_config(&dir, &socket);
        std::fs::write(&config, toml).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        let created_run_containerd = !Path::new("/run/containerd").exists();
        let created_socket_dir = !Path::new(SHIM_SOCKET_DIR).exists();
        let log = std::fs::File::create(dir.join("containerd.log"))
            .unwrap_or_else(|e| panic!("create containerd.log: {e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("dup log: {e}"));
        let daemon = Command::new("containerd")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("start containerd: {e}"));
        let mut c = Containerd {
            extra_env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            dir,
            socket,
            namespace,
            daemon: Some(daemon),
            runc_roots: Vec::new(),
            ids: Vec::new(),
            created_run_containerd,
            created_socket_dir,
        };
        c.wait_ready(env);
        c
    }

    /// Stops the daemon and starts it again with the same config and environment (its
    /// shims keep running).
    pub(crate) fn restart(&mut self, env: &TestEnv) {
        self.stop_daemon();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("containerd.log"))
            .unwrap_or_else(|e| panic!("open containerd.log: {e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("dup log: {e}"));
        let daemon = Command::new("containerd")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("restart containerd: {e}"));
        self.daemon = Some(daemon);
        self.wait_ready(env);
    }

    /// Polls `ctr version` (which needs the daemon's gRPC server) until it answers.
    pub(crate) fn wait_ready(&mut self, env: &TestEnv) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.ctr(env, &["version"]).status.success() {
                return;
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|d| d.try_wait()) {
                panic!("containerd exited ({status}) at start:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    fn ctr_cmd(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(&self.namespace);
        cmd
    }

    pub(crate) fn ctr<S: AsRef<std::ffi::OsStr>>(&self, env: &TestEnv, args: &[S]) -> Output {
        let mut cmd = self.ctr_cmd();
        cmd.args(args);
        env.output_via_files(&mut cmd)
    }

    pub(crate) fn ctr_ok<S: AsRef<std::ffi::OsStr>>(&self, env: &TestEnv, args: &[S]) -> Output {
        let out = self.ctr(env, args);
        if !out.status.success() {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            panic!(
                "ctr {} failed: {}\n--- containerd log tail ---\n{}",
                shown.join(" "),
                describe(&out),
                tail(&self.log(), 30)
            );
        }
        out
    }

    pub(crate) fn fifo_dir(&self) -> PathBuf {
        self.dir.join("fifo")
    }

    pub(crate) fn runc_root(&self, runtime_name: &str) -> PathBuf {
        self.dir.join(format!("runc-root-{runtime_name}"))
    }

    /// `ctr run` with the runc v2 shim, `runtime` as its runc binary, and `extra` flags; then
    /// IMAGE ID ARGS...
    pub(crate) fn run_args(
        &mut self,
        runtime_name: &str,
        runtime: &Path,
        extra: &[&str],
        id: &str,
        args: &[&str],
    ) -> Vec<OsString> {
        let root = self.runc_root(runtime_name);
        let shim = runtime_name == crate::shim::SHIM_NAME;
        if !self.runc_roots.iter().any(|(_, r)| *r == root) {
            // The podrun shim keeps podrun's own state: podrun cleans it up.
            let cleaner = if shim {
                crate::common::podrun_bin()
            } else {
                runtime.to_path_buf()
            };
            self.runc_roots.push((cleaner, root.clone()));
        }
        self.ids.push(id.to_string());
        if shim {
            // The podrun shim: its state root is PODRUN_SHIM_ROOT (= this runc_root) from the
            // daemon's environment, set by crate::shim.
            let mut v: Vec<OsString> = ["run", "--runtime", crate::shim::RUNTIME_TYPE]
                .iter()
                .map(OsString::from)
                .collect();
            v.push("--fifo-dir".into());
            v.push(self.fifo_dir().into());
            v.extend(extra.iter().map(OsString::from));
            v.push(BUSYBOX_IMAGE.into());
            v.push(id.into());
            v.extend(args.iter().map(OsString::from));
            return v;
        }
        let mut v: Vec<OsString> = ["run", "--runtime", "io.containerd.runc.v2", "--runc-binary"]
            .iter()
            .map(OsString::from)
            .collect();
        v.push(runtime.into());
        v.push("--runc-root".into());
        v.push(root.into());
        v.push("--fifo-dir".into());
        v.push(self.fifo_dir().into());
        v.extend(extra.iter().map(OsString::from));
        v.push(BUSYBOX_IMAGE.into());
        v.push(id.into());
        v.extend(args.iter().map(OsString::from));
        v
    }

    /// (pid, status) of task `id` from `ctr task ls`.
    pub(crate) fn task(&self, env: &TestEnv, id: &str) -> Option<(i32, String)> {
        let out = self.ctr_ok(env, &["task", "ls"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .find_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                match cols.as_slice() {
                    [tid, pid, status] if *tid == id => {
                        Some((pid.parse().ok()?, status.to_string()))
                    }
                    _ => None,
                }
            })
    }

    pub(crate) fn task_status(&self, env: &TestEnv, id: &str) -> String {
        self.task(env, id)
            .map(|(_, s)| s)
            .unwrap_or_else(|| "none".into())
    }

    pub(crate) fn wait_status(&self, env: &TestEnv, id: &str, want: &str) {
        wait_until(
            &format!("task {id} to be {want}"),
            Duration::from_secs(15),
            || self.task_status(env, id) == want,
        );
    }

    /// `ctr task delete ID`: it exits 0 whatever the task's exit code and only logs
    /// "exit code N" (N != 0); returns N (0 when nothing was logged).
    pub(crate) fn delete_task(&self, env: &TestEnv, id: &str) -> i32 {
        let out = self.ctr_ok(env, &["task", "delete", id]);
        let err = String::from_utf8_lossy(&out.stderr);
        err.split("exit code ")
            .nth(1)
            .and_then(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// The shim's socket for container `id`: /run/containerd/s/<sha256 of ADDRESS/NS/ID>.
    pub(crate) fn shim_socket(&self, env: &TestEnv, id: &str) -> PathBuf {
        let key = format!("{}/{}/{id}", self.socket.display(), self.namespace);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf %s \"$1\" | sha256sum", "sh", &key]);
        let out = env.output_via_files(&mut cmd);
        assert!(out.status.success(), "sha256sum: {}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let hex = text.split_whitespace().next().unwrap_or_default();
        Path::new(SHIM_SOCKET_DIR).join(hex)
    }

    pub(crate) fn task_state_dir(&self) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.namespace)
    }

    /// Stops the daemon: SIGTERM to its PID, wait (SIGKILL after 20 s).
    pub(crate) fn stop_daemon(&mut self) {
        stop_daemon_child(&mut self.daemon, "containerd");
    }

    /// Everything still there after a failure: tasks and containers (through ctr while the
    /// daemon runs), then shims and container processes by their recorded pid files, the
    /// runtimes' state (`delete --force`), shim sockets, cgroups.
    pub(crate) fn cleanup(&mut self, env: &TestEnv) {
        if self.daemon.is_some() {
            let out = self.ctr(env, &["containers", "ls", "-q"]);
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.ctr(env, &["task", "delete", "--force", id]);
                let _ = self.ctr(env, &["containers", "rm", id]);
            }
        }
        self.stop_daemon();
        if let Ok(entries) = std::fs::read_dir(self.task_state_dir()) {
            for e in entries.flatten() {
                if let Some(pid) = read_pid_file(&e.path().join("shim.pid")) {
                    if kill_recorded(pid, "containerd-shim") {
                        eprintln!(
                            "containerd cleanup: killed shim {pid} of {:?}",
                            e.file_name()
                        );
                    }
                }
            }
        }
        for (runtime, root) in &self.runc_roots {
            let root = root.join(&self.namespace);
            for id in subdirs(&root) {
                let mut cmd = Command::new(runtime);
                cmd.arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", &id]);
                let out = env.output_via_files(&mut cmd);
                eprintln!(
                    "containerd cleanup: {} delete --force {id}: {}",
                    runtime.display(),
                    describe(&out)
                );
            }
        }
        for id in self.ids.clone() {
            let sock = self.shim_socket(env, &id);
            if sock.exists() {
                let _ = std::fs::remove_file(&sock);
            }
        }
        if self.created_socket_dir {
            let _ = std::fs::remove_dir(SHIM_SOCKET_DIR);
        }
        if self.created_run_containerd {
            let _ = std::fs::remove_dir("/run/containerd");
        }
        remove_cgroup_trees(&self.namespace);
    }
}

pub(crate) fn subdirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Drops the daemon guard before TestEnv (which deletes the pod and unmounts leftovers).
pub(crate) struct Guard<'a> {
    pub(crate) env: &'a TestEnv,
    pub(crate) containerd: Containerd,
    pub(crate) bridge: String,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.containerd.cleanup(self.env);
        let out = self.env.podrun(&["pod", "delete", "--force", "ctrpod"]);
        if !out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("does not exist")
        {
            eprintln!("containerd cleanup: pod delete: {}", describe(&out));
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status();
        }
    }
}

/// The memory limit the host's cgroup of container `id` has (v1 memory.limit_in_bytes, or
/// v2 memory.max), with containerd's default cgroupsPath /<namespace>/<id>; the hierarchy
/// holding `memory` is found from mountinfo (v1, v2 and hybrid hosts).
pub(crate) fn memory_limit_on_host(namespace: &str, id: &str) -> Option<String> {
    let path = format!("/{namespace}/{id}");
    cgroupfs::hierarchies()
        .iter()
        .filter(|h| h.has("memory"))
        .find_map(|h| {
            let file = if h.v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            std::fs::read_to_string(h.dir_of(&path)?.join(file)).ok()
        })
        .map(|s| s.trim().to_string())
}

/// Whether the container's freezer says frozen (v1 freezer.state where a v1 freezer is
/// mounted, else v2 cgroup.freeze).
fn frozen_on_host(namespace: &str, id: &str) -> bool {
    let path = format!("/{namespace}/{id}");
    let hs = cgroupfs::hierarchies();
    if let Some(h) = hs.iter().find(|h| !h.v2 && h.has("freezer")) {
        return h.dir_of(&path).is_some_and(|d| {
            std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
        });
    }
    hs.iter().filter(|h| h.v2).any(|h| {
        h.dir_of(&path).is_some_and(|d| {
            std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
        })
    })
}

fn any_cgroup_dir(namespace: &str, id: &str) -> bool {
    !crate::common::clients::cgroup_dirs_named(&format!("{namespace}/{id}")).is_empty()
}

/// Runs the whole scenario with one runtime; returns what a runtime-independent observer sees.
pub(crate) fn scenario(env: &TestEnv, c: &mut Containerd, name: &str, runtime: &Path) -> Vec<Step> {
    let mut steps = Vec::new();
    let state_root = c.runc_root(name).join(&c.namespace);

    // 1. A short container: output and exit code.
    let id = format!("{name}-short");
    let args = c.run_args(
        name,
        runtime,
        &["--rm"],
        &id,
        &["sh", "-c", "echo hello from ctr; id; exit 3"],
    );
    steps.push(Step::new("run --rm", &c.ctr(env, &args)));

    // 2. A detached task: ls, exec, ps, pause, resume, kill, delete.
    let id = format!("{name}-task");
    let args = c.run_args(
        name,
        runtime,
        &["-d"],
        &id,
        &["sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"],
    );
    steps.push(Step::new("run -d", &c.ctr(env, &args)));
    let (pid, status) = c.task(env, &id).unwrap_or_else(|| panic!("no task {id}"));
    steps.push(step_text("task ls", &status));
    assert!(
        c.shim_socket(env, &id).exists(),
        "the shim socket of {id} is not where containerd 1.6 puts it: {}",
        c.shim_socket(env, &id).display()
    );
    let fifo = c.fifo_dir();
    let exec = |user: Option<&str>, exec_id: &str, args: &[&str]| {
        let mut v: Vec<OsString> = vec!["task".into(), "exec".into(), "--fifo-dir".into()];
        v.push(fifo.clone().into());
        if let Some(u) = user {
            v.push("--user".into());
            v.push(u.into());
        }
        v.extend(["--exec-id", exec_id, &id].iter().map(OsString::from));
        v.extend(args.iter().map(OsString::from));
        c.ctr(env, &v)
    };
    let out = exec(
        None,
        "e1",
        &[
            "sh",
            "-c",
            "echo from exec; cat /proc/1/cmdline | tr '\\0' ' '; exit 5",
        ],
    );
    steps.push(Step::new("task exec", &out));
    steps.push(Step::new(
        "task exec --user 65534",
        &exec(Some("65534"), "e2", &["id"]),
    ));
    let ps = c.ctr_ok(env, &["task", "ps", &id]);
    let ps_text = String::from_utf8_lossy(&ps.stdout).into_owned();
    let pids: Vec<&str> = ps_text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        pids.contains(&pid.to_string().as_str()),
        "task ps without the init {pid}: {ps_text}"
    );
    steps.push(step_text("task ps: processes", &pids.len().to_string()));
    steps.push(Step::new(
        "task pause",
        &c.ctr(env, &["task", "pause", &id]),
    ));
    steps.push(step_text("task ls after pause", &c.task_status(env, &id)));
    steps.push(step_text(
        "host freezer after pause",
        &frozen_on_host(&c.namespace, &id).to_string(),
    ));
    let paused_exec = exec(None, "e3", &["true"]);
    steps.push(step_text(
        "task exec while paused fails",
        &(!paused_exec.status.success()).to_string(),
    ));
    steps.push(Step::new(
        "task resume",
        &c.ctr(env, &["task", "resume", &id]),
    ));
    steps.push(step_text("task ls after resume", &c.task_status(env, &id)));
    steps.push(step_text(
        "host freezer after resume",
        &frozen_on_host(&c.namespace, &id).to_string(),
    ));
    // No CRIU here (and none in podrun): checkpoint fails, the task keeps running.
    let out = c.ctr(env, &["task", "checkpoint", &id]);
    steps.push(step_text(
        "task checkpoint fails",
        &(!out.status.success()).to_string(),
    ));
    if runtime == crate::common::podrun_bin() || name == crate::shim::SHIM_NAME {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("checkpoint is not supported"),
            "{}",
            describe(&out)
        );
    }
    steps.push(step_text(
        "task ls after checkpoint",
        &c.task_status(env, &id),
    ));
    steps.push(Step::new(
        "task kill (TERM)",
        &c.ctr(env, &["task", "kill", &id]),
    ));
    c.wait_status(env, &id, "STOPPED");
    steps.push(step_text(
        "task delete: exit code",
        &c.delete_task(env, &id).to_string(),
    ));
    steps.push(Step::new(
        "containers rm",
        &c.ctr(env, &["containers", "rm", &id]),
    ));
    steps.push(step_text(
        "runtime state of the task left",
        &state_root.join(&id).exists().to_string(),
    ));
    steps.push(step_text(
        "shim socket left",
        &c.shim_socket(env, &id).exists().to_string(),
    ));

    // 3. A memory limit, seen in the host's cgroup; the cgroup goes with the container.
    let id = format!("{name}-mem");
    let limit = MEMORY_LIMIT.to_string();
    let args = c.run_args(
        name,
        runtime,
        &["-d", "--memory-limit", &limit],
        &id,
        &["sleep", "1000"],
    );
    steps.push(Step::new("run -d --memory-limit", &c.ctr(env, &args)));
    steps.push(step_text(
        "memory limit on the host",
        &memory_limit_on_host(&c.namespace, &id).unwrap_or_else(|| "no cgroup file".into()),
    ));
    steps.push(Step::new(
        "task kill -s SIGKILL",
        &c.ctr(env, &["task", "kill", "-s", "SIGKILL", &id]),
    ));
    c.wait_status(env, &id, "STOPPED");
    steps.push(step_text(
        "task delete: exit code",
        &c.delete_task(env, &id).to_string(),
    ));
    steps.push(Step::new(
        "containers rm",
        &c.ctr(env, &["containers", "rm", &id]),
    ));
    steps.push(step_text(
        "cgroup left",
        &any_cgroup_dir(&c.namespace, &id).to_string(),
    ));

    // 4. Two containers in a podrun pod's network namespace, talking over 127.0.0.1.
    let netns = env.root.join("pods/ctrpod/ns/net");
    let with_ns = format!("network:{}", netns.display());
    let srv = format!("{name}-srv");
    let args = c.run_args(
        name,
        runtime,
        &["-d", "--with-ns", &with_ns],
        &srv,
        &[
            "sh",
            "-c",
            "mkdir -p /www && echo hello-pod > /www/index.html && trap 'exit 0' TERM; \
             httpd -f -p 127.0.0.1:8080 -h /www & wait",
        ],
    );
    steps.push(Step::new(
        "run -d httpd in the pod netns",
        &c.ctr(env, &args),
    ));
    let (srv_pid, _) = c.task(env, &srv).unwrap_or_else(|| panic!("no task {srv}"));
    wait_listening(srv_pid, 8080, &format!("httpd of {srv} to listen"));
    let pod_ns_inode = std::fs::metadata(&netns).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    let cli = format!("{name}-cli");
    let args = c.run_args(
        name,
        runtime,
        &["--rm", "--with-ns", &with_ns],
        &cli,
        &[
            "sh",
            "-c",
            "timeout 5 wget -q -O - http://127.0.0.1:8080/; echo \"wget=$?\"; \
             ip -4 -o addr show dev eth0 | awk '{print $4}'; readlink /proc/self/ns/net",
        ],
    );
    let out = c.ctr(env, &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let inode = pod_ns_inode.unwrap_or_else(|e| panic!("stat {}: {e}", netns.display()));
    let in_pod = text.contains(&format!("net:[{inode}]"));
    steps.push(Step {
        what: "wget over localhost in the pod".into(),
        code: out.status.code(),
        stdout: text.lines().take(3).collect::<Vec<_>>().join("\n"),
    });
    steps.push(step_text("client in the pod's netns", &in_pod.to_string()));
    steps.push(Step::new(
        "task kill httpd",
        &c.ctr(env, &["task", "kill", &srv]),
    ));
    c.wait_status(env, &srv, "STOPPED");
    steps.push(step_text(
        "task delete: exit code",
        &c.delete_task(env, &srv).to_string(),
    ));
    steps.push(Step::new(
        "containers rm",
        &c.ctr(env, &["containers", "rm", &srv]),
    ));
    steps.push(step_text(
        "runtime state left",
        &subdirs(&state_root).join(",").to_string(),
    ));
    steps
}

pub(crate) fn step_text(what: &str, text: &str) -> Step {
    Step {
        what: what.to_string(),
        code: None,
        stdout: text.to_string(),
    }
}

#[test]
fn containerd_runs_podrun_like_runc() {
    let env = TestEnv::new("containerd");
    let image = build_image(&env, "busybox.tar", BUSYBOX_IMAGE, &[]);
    let bridge = format!("prcd{}", std::process::id() % 100_000);
    let store = env.dir.join("ipam");
    env.run_ok(&[
        "pod",
        "create",
        "--bridge",
        &bridge,
        "--subnet",
        POD_SUBNET,
        "--store-dir",
        store.to_str().expect("utf8 path"),
        "ctrpod",
    ]);
    let mut guard = Guard {
        env: &env,
        containerd: Containerd::start(&env),
        bridge,
    };
    let c = &mut guard.containerd;
    let image_arg = image.to_str().expect("utf8 path");
    let out = c.ctr_ok(&env, &["images", "import", image_arg]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(BUSYBOX_IMAGE),
        "{}",
        describe(&out)
    );

    let mut results = Vec::new();
    for (name, runtime) in runtimes() {
        let steps = scenario(&env, c, name, &runtime);
        // Shown when the test fails (cargo captures it otherwise).
        for step in &steps {
            println!("{name}: {step:?}");
        }
        results.push((name, steps));
    }
    let (_, want) = &results[0];
    let (_, got) = &results[1];
    check_against_runc(want, got, "10.244.230.2");

    // Teardown leaves nothing: no shim or container process of this daemon, no shim socket.
    check_nothing_left(&env, c);
}

/// runc's results are the expected ones, and `got` (another runtime's) equals them.
pub(crate) fn check_against_runc(want: &[Step], got: &[Step], pod_ip: &str) {
    // runc's results are the expected ones: the comparison below is against a known-good run.
    let find = |steps: &[Step], what: &str| -> Step {
        steps
            .iter()
            .find(|s| s.what == what)
            .cloned()
            .unwrap_or_else(|| panic!("no step {what}"))
    };
    let short = find(want, "run --rm");
    assert_eq!(short.code, Some(3), "{short:?}");
    assert!(
        short.stdout.starts_with("hello from ctr\nuid=0(root)"),
        "{short:?}"
    );
    assert_eq!(find(want, "task exec").code, Some(5));
    assert_eq!(find(want, "task ls after pause").stdout, "PAUSED");
    assert_eq!(find(want, "host freezer after pause").stdout, "true");
    assert_eq!(
        find(want, "memory limit on the host").stdout,
        MEMORY_LIMIT.to_string()
    );
    let wget = find(want, "wget over localhost in the pod");
    assert_eq!(
        wget.stdout,
        format!("hello-pod\nwget=0\n{pod_ip}/24"),
        "{wget:?}"
    );
    assert_eq!(find(want, "client in the pod's netns").stdout, "true");

    for (w, g) in want.iter().zip(got.iter()) {
        assert_eq!(g, w, "podrun differs from runc at step {:?}", w.what);
    }
    assert_eq!(got.len(), want.len());
}

/// Stops the daemon; then no shim or container process of it and no shim socket is left.
pub(crate) fn check_nothing_left(env: &TestEnv, c: &mut Containerd) {
    c.stop_daemon();
    let left = processes_mentioning(c.socket.to_str().expect("utf8 path"));
    assert!(
        left.is_empty(),
        "processes left after the daemon stopped: {left:?}"
    );
    for id in c.ids.clone() {
        let sock = c.shim_socket(env, &id);
        assert!(
            !sock.exists(),
            "shim socket of {id} left: {}",
            sock.display()
        );
    }
}
