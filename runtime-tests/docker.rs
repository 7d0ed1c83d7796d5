//! Docker 20.10 (Debian's docker.io) driving podrun as an OCI runtime (`--add-runtime`), next
//! to runc (docker's built-in `runc`, Debian's /usr/sbin/runc). The test starts a private
//! daemon pair with everything under its directory: a containerd of its own (private root,
//! state, sockets, opt dir; config version 2, CRI off) and a dockerd using it (`--containerd`)
//! with its own --data-root, --exec-root, --pidfile, socket, config file and key file;
//! `--bridge=none` and no iptables/forwarding/masquerade (no docker0, no NAT), cgroupfs under a
//! cgroup parent named after the test. The busybox image is `docker load`ed from a
//! docker-archive built by scripts/oci-image.sh; nothing is pulled. The client is
//! /usr/bin/docker (the docker.io one), with its own DOCKER_CONFIG.
//!
//! The containerd is the test's own, not the one dockerd would supervise: that one (config
//! version 1, written by dockerd) keeps its opt dir at /opt/containerd, and dockerd uses the
//! system's containerd instead whenever /run/containerd/containerd.sock exists. The names the
//! two runtimes have in docker: `runc` (the built-in one, found through the daemons' PATH:
//! /usr/sbin/runc) and `podrun` (the release binary, `--add-runtime podrun=PATH`).
//!
//! Every case (docker/cases.rs) runs once with `--runtime runc` and once with `--runtime podrun`;
//! the cases run in parallel worker threads against the one daemon. runc's observations must be
//! the expected ones where the case states them, and podrun's must equal runc's. All failures
//! are collected and reported together, per case.
//!
//! Teardown (also after a failure or a panic, from Drop): `docker rm -f` of every container,
//! dockerd and containerd stopped by their PIDs (SIGTERM, SIGKILL after 20 s), shims left
//! behind killed by their recorded shim.pid, container processes left in the test's cgroup
//! parent killed, the runtimes' leftover state deleted, the cgroup trees removed, and the
//! system directories the daemons insist on (/run/containerd/s for shim sockets,
//! /run/docker/plugins) removed when this test created them and they are empty. TestEnv then
//! detaches what is still mounted under the test directory.

mod cases;
mod cgroup;

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::clients::{
    build_image, kill_recorded, pids_in_cgroup_trees, private_containerd_config,
    processes_mentioning, read_pid_file, remove_cgroup_trees, runtimes, stop_daemon_child,
    BUSYBOX_IMAGE,
};
use crate::common::{describe, podrun_bin, TestEnv};

/// Debian's docker.io client; /usr/local/bin/docker may be some other, newer client.
const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const CONTAINERD: &str = "/usr/bin/containerd";
/// The daemons run with only this in their environment: they find runc, the shim and
/// docker-init through it (Debian's), and no DOCKER_* variable of the caller reaches them.
const DAEMON_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// The containerd namespace dockerd uses.
const NAMESPACE: &str = "moby";
/// How long one docker command may take before it is killed and counted as hung.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Cases run in this many threads at once (the daemon serializes little).
const WORKERS: usize = 6;

/// Directories outside the test dir that containerd 1.6 and dockerd 20.10 create whatever
/// they are told: the shim sockets' /run/containerd/s (the socket names hash the containerd
/// address, so they never collide with another daemon's) and dockerd's plugin socket dir.
/// Parents before children; removed children first, and only when this test created them.
const SYSTEM_DIRS: [&str; 4] = [
    "/run/containerd",
    "/run/containerd/s",
    "/run/docker",
    "/run/docker/plugins",
];

/// The private containerd + dockerd pair.
pub struct Docker {
    dir: PathBuf,
    socket: PathBuf,
    containerd_socket: PathBuf,
    cgroup_parent: String,
    containerd: Option<Child>,
    dockerd: Option<Child>,
    created_system_dirs: Vec<PathBuf>,
    counter: AtomicUsize,
}

impl Docker {
    /// The directories and names; no daemon yet (`start` starts them, once a guard holds this
    /// value, so that a daemon started before a failure is stopped too).
    fn new(env: &TestEnv) -> Docker {
        // Short: unix socket paths are limited to 108 bytes.
        let dir = env.dir.join("d");
        for sub in ["containerd", "client", "io"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("mkdir {sub}: {e}"));
        }
        let created_system_dirs = SYSTEM_DIRS
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        Docker {
            socket: dir.join("docker.sock"),
            containerd_socket: dir.join("containerd/c.sock"),
            cgroup_parent: format!("podrun-test-docker-{}", std::process::id()),
            containerd: None,
            dockerd: None,
            created_system_dirs,
            counter: AtomicUsize::new(0),
            dir,
        }
    }

    fn start(&mut self) {
        self.start_containerd();
        self.start_dockerd();
    }

    fn log_file(&self, name: &str) -> (File, File) {
        let log =
            File::create(self.dir.join(name)).unwrap_or_else(|e| panic!("create {name}: {e}"));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("dup {name}: {e}"));
        (log, log2)
    }

    fn start_containerd(&mut self) {
        let d = self.dir.join("containerd");
        let config = d.join("config.toml");
        let toml = private_containerd_config(&d, &self.containerd_socket);
        std::fs::write(&config, toml).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        let (log, log2) = self.log_file("containerd.log");
        let child = Command::new(CONTAINERD)
            .arg("--config")
            .arg(&config)
            .env_clear()
            .env("PATH", DAEMON_PATH)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("start containerd: {e}"));
        self.containerd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&self.containerd_socket).is_err() {
            if let Some(Ok(Some(status))) = self.containerd.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "containerd exited ({status}) at start:\n{}",
                    self.log("containerd.log")
                );
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not listen within 30 s:\n{}",
                self.log("containerd.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_dockerd(&mut self) {
        let d = &self.dir;
        // The daemon's identity key: /etc/docker/key.json unless the config file says
        // otherwise (20.10 has no flag for it).
        let config = serde_json::json!({ "deprecated-key-path": d.join("key.json") });
        std::fs::write(d.join("daemon.json"), config.to_string())
            .unwrap_or_else(|e| panic!("write daemon.json: {e}"));
        let (log, log2) = self.log_file("dockerd.log");
        let mut cmd = Command::new(DOCKERD);
        cmd.arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--containerd")
            .arg(&self.containerd_socket)
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.cgroup_parent))
            .arg("--add-runtime")
            .arg(format!("podrun={}", podrun_bin().display()))
            .env_clear()
            .env("PATH", DAEMON_PATH)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start dockerd: {e}"));
        self.dockerd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.docker(&["version"]).status.success() {
                return;
            }
            if let Some(Ok(Some(status))) = self.dockerd.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "dockerd exited ({status}) at start:\n{}",
                    self.log("dockerd.log")
                );
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s:\n{}",
                self.log("dockerd.log")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// A /usr/bin/docker command talking to this daemon only.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        cmd
    }

    /// Runs `docker ARGS...` (stdin /dev/null, outputs through files) and returns its output;
    /// a command still running after COMMAND_TIMEOUT is killed (by its PID: our child) and
    /// reported as exit code 124, like timeout(1).
    pub fn docker<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = self.cmd();
        cmd.args(args);
        self.output(&mut cmd)
    }

    /// Runs `cmd` with stdout/stderr in files and a deadline.
    pub fn output(&self, cmd: &mut Command) -> Output {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let out_path = self.dir.join(format!("io/{n}.out"));
        let err_path = self.dir.join(format!("io/{n}.err"));
        let create =
            |p: &Path| File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(create(&out_path))
            .stderr(create(&err_path))
            .spawn()
            .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = writeln!(
                        std::fs::OpenOptions::new()
                            .append(true)
                            .open(&err_path)
                            .unwrap_or_else(|e| panic!("open {}: {e}", err_path.display())),
                        "(killed after {COMMAND_TIMEOUT:?})"
                    );
                    break timed_out_status();
                }
            }
        };
        let read =
            |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        let output = Output {
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        };
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        output
    }

    /// `docker ARGS` that must succeed; its stdout, trimmed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `docker inspect -f FORMAT NAME`, trimmed ("" when it fails).
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.docker(&["inspect", "-f", format, name]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The cgroup path (relative to a hierarchy's root) of container `name`.
    pub fn cgroup_of(&self, name: &str) -> String {
        let id = self.inspect(name, "{{.Id}}");
        assert!(!id.is_empty(), "no container {name}");
        format!("{}/{id}", self.cgroup_parent)
    }

    /// A directory under the test dir for a case's host files (created).
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join("host").join(name);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        p
    }

    fn runtime_state_root(&self, runtime: &str) -> PathBuf {
        self.dir
            .join("exec")
            .join(format!("runtime-{runtime}"))
            .join(NAMESPACE)
    }

    fn shim_dirs(&self) -> Vec<PathBuf> {
        let tasks = self
            .dir
            .join("containerd/state/io.containerd.runtime.v2.task")
            .join(NAMESPACE);
        std::fs::read_dir(tasks)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Stops dockerd, then containerd (each by its PID).
    fn stop_daemons(&mut self) {
        stop_daemon_child(&mut self.dockerd, "dockerd");
        stop_daemon_child(&mut self.containerd, "containerd");
    }

    /// Removes everything the daemons and the cases made (see the module comment).
    fn cleanup(&mut self, env: &TestEnv) {
        if self.dockerd.is_some() {
            let out = self.docker(&["ps", "-a", "-q"]);
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm".to_string(), "-f".into()];
                args.extend(ids);
                let out = self.docker(&args);
                if !out.status.success() {
                    eprintln!("docker cleanup: docker rm -f: {}", describe(&out));
                }
            }
        }
        self.stop_daemons();
        for dir in self.shim_dirs() {
            if let Some(pid) = read_pid_file(&dir.join("shim.pid")) {
                if kill_recorded(pid, "containerd-shim") {
                    eprintln!("docker cleanup: killed shim {pid} of {}", dir.display());
                }
            }
        }
        for (name, binary) in runtimes() {
            let root = self.runtime_state_root(name);
            for id in subdirs(&root) {
                let mut cmd = Command::new(&binary);
                cmd.arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", &id]);
                let out = env.output_via_files(&mut cmd);
                eprintln!(
                    "docker cleanup: {name} delete --force {id}: {}",
                    describe(&out)
                );
            }
        }
        for pid in pids_in_cgroup_trees(&self.cgroup_parent) {
            eprintln!(
                "docker cleanup: SIGKILL {pid} (left in {})",
                self.cgroup_parent
            );
            // SAFETY: kill(2) on a process in this test's own cgroup tree.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pids_in_cgroup_trees(&self.cgroup_parent).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_cgroup_trees(&self.cgroup_parent);
        for dir in self.created_system_dirs.iter().rev() {
            // Only when empty: another test's daemon may have sockets there by now.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn timed_out_status() -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus::from_raw(124 << 8)
}

pub fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Stops the daemons and removes what they made before TestEnv removes the directory.
struct Guard<'a> {
    env: &'a TestEnv,
    docker: Docker,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.docker.cleanup(self.env);
    }
}

/// One thing a case observed. Runs are compared by `got`; `want`, when given, is what runc
/// must show (the case is wrong, or the host differs, if it does not); `detail` (stderr, say)
/// is only shown.
#[derive(Debug, Clone)]
pub struct Obs {
    pub what: String,
    pub got: String,
    pub want: Option<String>,
    pub detail: String,
}

/// What one case run saw, in order.
#[derive(Default)]
pub struct Rec {
    pub obs: Vec<Obs>,
}

/// `exit N | stdout` — the form in which command outputs are compared.
pub fn show(code: Option<i32>, stdout: &str) -> String {
    let code = code.map_or_else(|| "signal".to_string(), |c| c.to_string());
    format!("exit {code} | {stdout}")
}

impl Rec {
    /// A command's exit code and stdout; `want` = (code, stdout).
    pub fn out(&mut self, what: &str, out: &Output, want: Option<(i32, &str)>) {
        self.obs.push(Obs {
            what: what.to_string(),
            got: show(out.status.code(), &String::from_utf8_lossy(&out.stdout)),
            want: want.map(|(c, s)| show(Some(c), s)),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }

    /// A command's exit code only (its stdout varies: an id).
    pub fn code(&mut self, what: &str, out: &Output, want: Option<i32>) {
        self.obs.push(Obs {
            what: what.to_string(),
            got: show(out.status.code(), ""),
            want: want.map(|c| show(Some(c), "")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }

    /// A value.
    pub fn text(&mut self, what: &str, got: impl Into<String>, want: Option<&str>) {
        self.obs.push(Obs {
            what: what.to_string(),
            got: got.into(),
            want: want.map(String::from),
            detail: String::new(),
        });
    }

    /// A value, with something shown only when it differs.
    pub fn text_detail(
        &mut self,
        what: &str,
        got: impl Into<String>,
        want: Option<&str>,
        detail: impl Into<String>,
    ) {
        self.obs.push(Obs {
            what: what.to_string(),
            got: got.into(),
            want: want.map(String::from),
            detail: detail.into(),
        });
    }
}

/// What a case gets: the daemon, the runtime (docker's name for it) and a name prefix unique
/// to this case and runtime.
pub struct Ctx<'a> {
    pub d: &'a Docker,
    pub rt: &'a str,
    pub case: &'a str,
}

impl Ctx<'_> {
    /// A container name unique to this case, runtime and `what`.
    pub fn name(&self, what: &str) -> String {
        format!("dk-{}-{}-{what}", self.case, self.rt)
    }

    /// `docker run --pull never --runtime RT [--network none] OPTS IMAGE CMD...`; the network
    /// is none unless OPTS name one.
    pub fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        let label = self.label();
        let mut args = vec![
            "run",
            "--pull",
            "never",
            "--runtime",
            self.rt,
            "--label",
            &label,
        ];
        if !opts.iter().any(|o| *o == "--network") {
            args.extend(["--network", "none"]);
        }
        args.extend_from_slice(opts);
        args.push(BUSYBOX_IMAGE);
        args.extend_from_slice(cmd);
        self.d.docker(&args)
    }

    /// A detached container named `name(what)`; panics if it does not start.
    pub fn run_d(&self, what: &str, opts: &[&str], cmd: &[&str]) -> String {
        let name = self.name(what);
        let mut all = vec!["-d", "--name", &name];
        all.extend_from_slice(opts);
        let out = self.run(&all, cmd);
        assert!(
            out.status.success(),
            "docker run -d {name} ({}): {}",
            self.rt,
            describe(&out)
        );
        name
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.d.docker(args)
    }

    /// The label every container of this case and runtime has.
    fn label(&self) -> String {
        format!("podrun-test-case={}-{}", self.case, self.rt)
    }

    /// `docker ps -a -q` of this case's and runtime's containers.
    pub fn left(&self) -> Output {
        let filter = format!("label={}", self.label());
        self.d.docker(&["ps", "-a", "-q", "--filter", &filter])
    }

    /// `docker rm -f NAME...`, whose outcome is not an observation.
    pub fn rm(&self, names: &[&str]) {
        let mut args = vec!["rm", "-f"];
        args.extend_from_slice(names);
        let out = self.d.docker(&args);
        assert!(out.status.success(), "docker rm -f: {}", describe(&out));
    }

    /// The container's init PID on the host.
    pub fn pid(&self, name: &str) -> i32 {
        let pid = self.d.inspect(name, "{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|e| panic!("pid of {name}: {pid:?}: {e}"))
    }
}

/// Polls `cond` every 20 ms until it holds (true) or `limit` passes (false).
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Compares the two runs of each case; returns the failures, described.
fn judge(case: &str, runs: &[(&str, Result<Vec<Obs>, String>)]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut by_rt = Vec::new();
    for (rt, run) in runs {
        match run {
            Ok(obs) => by_rt.push((*rt, obs)),
            Err(panic) => failures.push(format!("{case} [{rt}]: the case panicked: {panic}")),
        }
    }
    if let Some((_, want)) = by_rt.iter().find(|(rt, _)| *rt == "runc") {
        for o in want.iter() {
            if let Some(w) = &o.want {
                if *w != o.got {
                    failures.push(format!(
                        "{case} [runc]: {}: expected {w:?}, got {:?} ({})",
                        o.what, o.got, o.detail
                    ));
                }
            }
        }
        if let Some((_, got)) = by_rt.iter().find(|(rt, _)| *rt == "podrun") {
            for (w, g) in want.iter().zip(got.iter()) {
                if w.what != g.what {
                    failures.push(format!(
                        "{case}: the runs went differently: runc saw {:?} where podrun saw {:?}",
                        w.what, g.what
                    ));
                    break;
                }
                if w.got != g.got {
                    failures.push(format!(
                        "{case}: podrun differs from runc at {:?}:\n    runc:   {:?}\n    podrun: {:?}\n    \
                         runc detail:   {}\n    podrun detail: {}",
                        w.what, w.got, g.got, w.detail, g.detail
                    ));
                }
            }
            if want.len() != got.len() {
                failures.push(format!(
                    "{case}: runc made {} observations, podrun {}",
                    want.len(),
                    got.len()
                ));
            }
        }
    }
    failures
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

#[test]
fn docker_runs_podrun_like_runc() {
    let started = Instant::now();
    let env = TestEnv::new("docker");
    let image = build_image(
        &env,
        "busybox-docker.tar",
        BUSYBOX_IMAGE,
        &["--docker-archive"],
    );
    let mut guard = Guard {
        env: &env,
        docker: Docker::new(&env),
    };
    guard.docker.start();
    let d = &guard.docker;
    let loaded = d.docker_ok(&["load", "-i", image.to_str().expect("utf8 path")]);
    assert!(loaded.contains(BUSYBOX_IMAGE), "docker load: {loaded}");
    let known = d.docker_ok(&[
        "info",
        "--format",
        "{{range $k, $v := .Runtimes}}{{$k}}={{$v.Path}} {{end}}",
    ]);
    assert!(
        known.contains(&format!("podrun={}", podrun_bin().display())),
        "docker info: runtimes {known}"
    );
    println!("daemon up after {:?}", started.elapsed());

    // PODRUN_DOCKER_CASES=a,b runs only those cases (when working on one).
    let only: Option<Vec<String>> = std::env::var("PODRUN_DOCKER_CASES")
        .ok()
        .map(|v| v.split(',').map(String::from).collect());
    let all = cases::all();
    let selected: Vec<&cases::Case> = all
        .iter()
        .filter(|c| only.as_ref().is_none_or(|o| o.iter().any(|n| n == c.name)))
        .collect();
    let queue: Mutex<VecDeque<(usize, &str)>> = Mutex::new(
        selected
            .iter()
            .enumerate()
            .flat_map(|(i, _)| runtimes().map(|(rt, _)| (i, rt)))
            .collect(),
    );
    type Runs<'r> = Vec<(&'r str, Result<Vec<Obs>, String>)>;
    let results: Mutex<Vec<Runs>> = Mutex::new(vec![Vec::new(); selected.len()]);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let Some((i, rt)) = queue.lock().expect("queue").pop_front() else {
                    return;
                };
                let case = selected[i];
                let t = Instant::now();
                let ctx = Ctx {
                    d,
                    rt,
                    case: case.name,
                };
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut rec = Rec::default();
                    (case.run)(&ctx, &mut rec);
                    rec.obs
                }))
                .map_err(|p| panic_text(&*p));
                println!("case {} [{rt}]: {:?}", case.name, t.elapsed());
                results.lock().expect("results")[i].push((rt, run));
            });
        }
    });
    let results = results.into_inner().expect("results");
    let mut failures = Vec::new();
    for (case, runs) in selected.iter().zip(results.iter()) {
        let mut runs: Vec<_> = runs.iter().map(|(rt, r)| (*rt, r.clone())).collect();
        runs.sort_by_key(|(rt, _)| *rt != "runc");
        for (rt, run) in &runs {
            if let Ok(obs) = run {
                for o in obs {
                    println!("{} [{rt}] {}: {:?}", case.name, o.what, o.got);
                }
            }
        }
        failures.extend(judge(case.name, &runs));
    }

    // Nothing of the cases is left: no container, no runtime state, no container cgroup.
    let left = d.docker_ok(&["ps", "-a", "-q"]);
    if !left.is_empty() {
        failures.push(format!("containers left: {left}"));
    }
    for (rt, _) in runtimes() {
        let state = subdirs(&d.runtime_state_root(rt));
        if !state.is_empty() {
            failures.push(format!("{rt}: runtime state left: {state:?}"));
        }
    }
    let cgroups_left: Vec<String> = crate::common::clients::cgroup_dirs_named(&d.cgroup_parent)
        .iter()
        .flat_map(|p| subdirs(p))
        .collect();
    if !cgroups_left.is_empty() {
        failures.push(format!("container cgroups left: {cgroups_left:?}"));
    }
    let dir = d.dir.to_str().expect("utf8 path").to_string();
    guard.docker.stop_daemons();
    let procs = processes_mentioning(&dir);
    if !procs.is_empty() {
        failures.push(format!(
            "processes left after the daemons stopped: {procs:?}"
        ));
    }
    println!("docker suite: {:?} in all", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
