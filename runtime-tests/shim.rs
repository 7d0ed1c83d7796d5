//! containerd-shim-podrun-v2 (runtime type `io.containerd.podrun.v2`): containerd 1.6 driving
//! podrun's library through podrun's own shim, one shim per pod. The private daemons of
//! containerd.rs and cri/ are reused, with the release dir on the daemon's PATH (containerd
//! finds the shim there) and PODRUN_SHIM_ROOT (the shim's podrun state root) in its
//! environment:
//! - `shim_ctr_scenario_like_runc`: containerd.rs's `ctr run` scenario (output, exit codes,
//!   exec, pause/resume, checkpoint refused, kill, memory limit, delete, a pod's netns) with
//!   `--runtime io.containerd.podrun.v2`, equal step by step to runc's; nothing left after;
//! - `shim_cri_like_runc`: every CRI case of cri.rs (net, stop, shared, errors) with a handler
//!   whose runtime_type is io.containerd.podrun.v2, equal to runc's, and the bridge case on
//!   the reference bridge plugin; one shim process per pod (the containers' inits and the
//!   pause have the same shim as parent);
//! - `shim_survives_containerd_restart`: tasks keep running while containerd restarts, the
//!   shim is the same process after, an exit while containerd was down and one after both
//!   reach containerd;
//! - `shim_sigkilled_is_cleaned_up`: the shim SIGKILLed, containerd's cleanup through the
//!   shim's `delete` leaves no process, podrun state, cgroup, rootfs mount;
//! - `shim_oom_event_while_running`: a child OOM-killed while the init runs on reaches
//!   containerd as /tasks/oom at once (as with runc.v2), and once only;
//! - `shim_task_metrics_like_runc`: the shim's Stats as containerd decodes them (`ctr task
//!   metrics`): the same metrics, limits and pids as runc.v2+runc's;
//! - `shim_twenty_pods_concurrently`: 20 pods with a container each started at once over CRI,
//!   each with its own shim, all removed cleanly.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_cri::v1::NamespaceMode;

use crate::common::clients::{build_image, kill_recorded, Step, BUSYBOX_IMAGE, RUNC};
use crate::common::{describe, pid_alive, podrun_bin, TestEnv};
use crate::containerd::{
    check_against_runc, check_nothing_left, memory_limit_on_host, scenario, step_text, Containerd,
    Guard,
};
use crate::cri::daemon::{CriDaemon, Plugin, Setup};
use crate::cri::{
    case_bridge, case_errors, case_net, case_shared, case_stop, check_bridge, compare_with_runc,
    container_pid, run_cases, Case, Pod,
};
use crate::lifecycle::wait_until;

/// The runtime name the harnesses give the podrun shim (handler, ctr run's state root).
pub(crate) const SHIM_NAME: &str = "podrunshim";
pub(crate) const RUNTIME_TYPE: &str = "io.containerd.podrun.v2";
/// The podrun shim again, on the reference bridge plugin's network (its own CNI conf dir).
const SHIM_BRIDGE: &str = "podrunshim-bridge";

/// Where the release binaries are (podrun, the shim, podrun-init, podrun-pause).
pub(crate) fn release_dir() -> PathBuf {
    podrun_bin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub(crate) fn shim_bin() -> PathBuf {
    release_dir().join("containerd-shim-podrun-v2")
}

/// The daemon's extra environment: the release dir first on PATH, the shim's state root.
fn daemon_env(state_root: &Path) -> Vec<(&'static str, OsString)> {
    let mut path = release_dir().into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    vec![
        ("PATH", path),
        ("PODRUN_SHIM_ROOT", state_root.as_os_str().to_owned()),
    ]
}

/// A private containerd whose podrun shim keeps its state where `scenario` looks
/// (`runc_root(SHIM_NAME)`), with the busybox image imported.
fn start_containerd(env: &TestEnv) -> Containerd {
    let root = env
        .dir
        .join("containerd")
        .join(format!("runc-root-{SHIM_NAME}"));
    let c = Containerd::start_with(env, &daemon_env(&root));
    let image = build_image(env, "busybox.tar", BUSYBOX_IMAGE, &[]);
    c.ctr_ok(
        env,
        &["images", "import", image.to_str().expect("utf8 path")],
    );
    c
}

/// The parent of a process (its shim, for a task's process).
fn ppid(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn shim_ctr_scenario_like_runc() {
    assert!(shim_bin().exists(), "{} not built", shim_bin().display());
    let env = TestEnv::new("shim-ctr");
    let bridge = format!("prsh{}", std::process::id() % 100_000);
    let store = env.dir.join("ipam");
    env.run_ok(&[
        "pod",
        "create",
        "--bridge",
        &bridge,
        "--subnet",
        "10.244.231.0/24",
        "--store-dir",
        store.to_str().expect("utf8 path"),
        "ctrpod",
    ]);
    let mut guard = Guard {
        env: &env,
        containerd: start_containerd(&env),
        bridge,
    };
    let c = &mut guard.containerd;
    let want = scenario(&env, c, "runc", Path::new(RUNC));
    let got = scenario(&env, c, SHIM_NAME, &shim_bin());
    for s in want.iter().chain(got.iter()) {
        println!("{s:?}");
    }
    check_against_runc(&want, &got, "10.244.231.2");
    check_nothing_left(&env, c);
}

#[test]
fn shim_cri_like_runc() {
    let env = TestEnv::new("shim-cri");
    let handlers = vec![
        ("runc", PathBuf::from(RUNC), None),
        (SHIM_NAME, podrun_bin(), None),
        (SHIM_BRIDGE, podrun_bin(), Some(1)),
    ];
    let d = CriDaemon::start(
        &env,
        &Setup {
            tag: "s",
            networks: &[(Plugin::PodrunCni, 239), (Plugin::ReferenceBridge, 243)],
            handlers: &handlers,
        },
    );
    let mut jobs: Vec<(&'static str, &'static str, Case)> = Vec::new();
    for handler in ["runc", SHIM_NAME] {
        jobs.push((handler, "net", case_net));
        jobs.push((handler, "stop", case_stop));
        jobs.push((handler, "shared", case_shared));
        jobs.push((handler, "errors", case_errors));
    }
    jobs.push((SHIM_BRIDGE, "bridge", case_bridge));
    let results = run_cases(&d, &jobs);
    let mut failures = Vec::new();
    for (name, r) in &results {
        match r {
            Ok(steps) => steps.iter().for_each(|s| println!("{name}: {s:?}")),
            Err(e) => failures.push(format!("{name} panicked: {e}")),
        }
    }
    let by_name: HashMap<&str, &Result<Vec<Step>, String>> =
        results.iter().map(|(n, r)| (n.as_str(), r)).collect();
    compare_with_runc(
        &by_name,
        SHIM_NAME,
        &["net", "stop", "shared", "errors"],
        &mut failures,
    );
    check_bridge(&by_name, &format!("{SHIM_BRIDGE}/bridge"), &mut failures);

    // One shim per pod: the pause and both containers are children of the same shim.
    let cri = d.client();
    let mut pod = Pod::run(&d, &cri, SHIM_NAME, "onepershim", NamespaceMode::Container);
    let a = pod.start("a", "exec sleep 1000", |_| {});
    let b = pod.start("b", "exec sleep 1000", |_| {});
    let shim = d.shim_pid(&pod.id).unwrap_or(0);
    let parents: Vec<(i32, String)> = [pod.pid(), container_pid(&cri, &a), container_pid(&cri, &b)]
        .iter()
        .map(|p| (ppid(*p), comm(ppid(*p))))
        .collect();
    if shim == 0 || parents.iter().any(|(p, _)| *p != shim) {
        failures.push(format!(
            "one shim per pod: shim {shim}, parents of pause and containers {parents:?}"
        ));
    }
    let mut steps = Vec::new();
    pod.teardown(&mut steps);
    for s in steps.iter().filter(|s| s.what.starts_with("left after")) {
        if !s.stdout.is_empty() {
            failures.push(format!("{}: {}", s.what, s.stdout));
        }
    }
    drop(cri);
    crate::cri::stop_daemon_checking(d, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Exit code `ctr task delete` reports, after waiting for the task to stop.
fn stopped_exit_code(env: &TestEnv, c: &Containerd, id: &str) -> i32 {
    c.wait_status(env, id, "STOPPED");
    c.delete_task(env, id)
}

#[test]
fn shim_survives_containerd_restart() {
    let env = TestEnv::new("shim-restart");
    let mut guard = guard(&env);
    let c = &mut guard.containerd;
    let mut ids = Vec::new();
    for id in ["rs-a", "rs-b"] {
        let args = c.run_args(
            SHIM_NAME,
            &shim_bin(),
            &["-d"],
            id,
            &["sh", "-c", "trap 'exit 9' TERM; sleep 1000 & wait"],
        );
        let out = c.ctr(&env, &args);
        assert!(out.status.success(), "ctr run {id}: {}", describe(&out));
        ids.push(id);
    }
    let (pid_a, _) = c.task(&env, "rs-a").expect("task rs-a");
    let (pid_b, _) = c.task(&env, "rs-b").expect("task rs-b");
    let shim_a = ppid(pid_a);
    let shim_b = ppid(pid_b);
    assert_eq!(comm(shim_a), "containerd-shim", "parent of rs-a's init");

    c.stop_daemon();
    assert!(pid_alive(shim_a), "the shim died with containerd");
    assert!(
        pid_alive(pid_a) && pid_alive(pid_b),
        "tasks died with containerd"
    );
    // An exit while containerd is down: the shim keeps it and tells containerd later.
    // SAFETY: kill of the task's recorded init pid (checked alive above).
    unsafe { libc::kill(pid_a, libc::SIGTERM) };
    wait_until("rs-a to exit", Duration::from_secs(10), || {
        !pid_alive(pid_a)
            || std::fs::read_to_string(format!("/proc/{pid_a}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
    });
    c.restart(&env);
    assert_eq!(ppid(pid_b), shim_b, "rs-b's shim changed");
    assert!(pid_alive(shim_a), "the shim is gone after the restart");
    assert_eq!(stopped_exit_code(&env, c, "rs-a"), 9, "rs-a's exit code");

    // An exit after the restart reaches containerd as an event.
    let events = EventLog::start(&env, c, "events.log");
    let out = c.ctr(&env, &["task", "kill", "rs-b"]);
    assert!(out.status.success(), "{}", describe(&out));
    wait_until("the exit event of rs-b", Duration::from_secs(15), || {
        events.count("/tasks/exit", "rs-b") > 0
    });
    drop(events);
    assert_eq!(stopped_exit_code(&env, c, "rs-b"), 9, "rs-b's exit code");
    for id in ids {
        c.ctr_ok(&env, &["containers", "rm", id]);
    }
    check_nothing_left(&env, c);
}

/// A private containerd (start_containerd) whose Drop removes what it made, also on failure.
pub(crate) fn guard(env: &TestEnv) -> Guard<'_> {
    Guard {
        env,
        containerd: start_containerd(env),
        // no bridge of its own: a name that does not exist
        bridge: format!("prnone{}", std::process::id() % 100_000),
    }
}

#[test]
fn shim_sigkilled_is_cleaned_up() {
    let env = TestEnv::new("shim-kill");
    let mut guard = guard(&env);
    let c = &mut guard.containerd;
    let id = "killed-shim";
    let args = c.run_args(
        SHIM_NAME,
        &shim_bin(),
        &["-d", "--memory-limit", "67108864"],
        id,
        &["sleep", "1000"],
    );
    let out = c.ctr(&env, &args);
    assert!(out.status.success(), "ctr run: {}", describe(&out));
    let (pid, _) = c.task(&env, id).expect("task");
    let shim = ppid(pid);
    assert!(
        memory_limit_on_host(&c.namespace, id).is_some(),
        "no cgroup of {id}"
    );
    assert!(
        kill_recorded(shim, "containerd-shim"),
        "SIGKILL the shim {shim}"
    );
    // containerd sees the shim's connection close and runs `shim delete` in the bundle.
    wait_until(
        "the task to be gone or stopped",
        Duration::from_secs(20),
        || matches!(c.task_status(&env, id).as_str(), "none" | "STOPPED"),
    );
    let _ = c.ctr(&env, &["task", "delete", id]);
    c.ctr_ok(&env, &["containers", "rm", id]);
    wait_until(
        "the container's process to be gone",
        Duration::from_secs(10),
        || !pid_alive(pid),
    );
    let state = c.runc_root(SHIM_NAME).join(&c.namespace).join(id);
    let mut left = Vec::new();
    if state.exists() {
        left.push(format!("podrun state {}", state.display()));
    }
    if memory_limit_on_host(&c.namespace, id).is_some() {
        left.push("cgroup".to_string());
    }
    if crate::common::count_mounts_containing(id) > 0 {
        left.push("a mount".to_string());
    }
    if c.shim_socket(&env, id).exists() {
        left.push("shim socket".to_string());
    }
    let steps = [step_text("left", &left.join("; "))];
    assert!(left.is_empty(), "{steps:?}\n{}", c.log());
    check_nothing_left(&env, c);
}

#[test]
fn shim_twenty_pods_concurrently() {
    let env = TestEnv::new("shim-20");
    let handlers = vec![(SHIM_NAME, podrun_bin(), None)];
    let d = CriDaemon::start(
        &env,
        &Setup {
            tag: "c",
            networks: &[(Plugin::PodrunCni, 240)],
            handlers: &handlers,
        },
    );
    let results: Vec<Result<Vec<Step>, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let d = &d;
                s.spawn(move || {
                    let cri = d.client();
                    let mut pod = Pod::run(
                        d,
                        &cri,
                        SHIM_NAME,
                        &format!("c{i}"),
                        NamespaceMode::Container,
                    );
                    let id = pod.start("sleep", "exec sleep 1000", |_| {});
                    let shim = d.shim_pid(&pod.id).unwrap_or(0);
                    let parent = ppid(container_pid(&cri, &id));
                    let mut steps = vec![step_text(
                        "own shim is the container's parent",
                        &(shim > 0 && parent == shim).to_string(),
                    )];
                    let sh = step_text("shim", &shim.to_string());
                    pod.teardown(&mut steps);
                    steps.push(sh);
                    steps
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().map_err(|_| "panicked".to_string()))
            .collect()
    });
    let mut failures = Vec::new();
    let mut shims = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match r {
            Err(e) => failures.push(format!("pod {i}: {e}")),
            Ok(steps) => {
                for s in steps {
                    if s.what == "shim" {
                        shims.push(s.stdout.clone());
                    } else if s.what == "own shim is the container's parent" && s.stdout != "true" {
                        failures.push(format!("pod {i}: {s:?}"));
                    } else if s.what.starts_with("left after") && !s.stdout.is_empty() {
                        failures.push(format!("pod {i}: {}: {}", s.what, s.stdout));
                    }
                }
            }
        }
    }
    shims.sort();
    shims.dedup();
    if shims.len() != 20 {
        failures.push(format!(
            "{} distinct shims for 20 pods: {shims:?}",
            shims.len()
        ));
    }
    let mut d = d;
    d.cleanup();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// CVE-2019-5736: no process of the shim's that a container can see runs the writable
/// on-disk shim binary. The shim daemon (whose forks become the containers' inits, execs and
/// pauses) runs from a sealed read-only overlay view of its binary, not a copy: opening its
/// /proc/PID/exe for writing fails with EROFS and no memfd is mapped in it. Inside a
/// container, a loop records every `/proc/PID/exe` it sees that is not busybox while execs
/// come and go: only the shim's view and the sealed memfds of podrun-init and the pause may
/// appear. (No write is attempted: the shim here is the real build output.)
#[test]
fn shim_never_exposes_its_binary() {
    let env = TestEnv::new("shim-exe");
    let mut guard = guard(&env);
    let c = &mut guard.containerd;
    let id = "exe-watch";
    let script = "while :; do for p in /proc/[0-9]*; do \
        case \"$(readlink $p/exe)\" in /bin/*|'') ;; *) readlink $p/exe >> /tmp/seen ;; esac; \
        done; done";
    let args = c.run_args(SHIM_NAME, &shim_bin(), &["-d"], id, &["sh", "-c", script]);
    let out = c.ctr(&env, &args);
    assert!(out.status.success(), "ctr run: {}", describe(&out));
    let (pid, _) = c.task(&env, id).expect("task");
    let shim = ppid(pid);
    let shim_exe = std::fs::read_link(format!("/proc/{shim}/exe")).unwrap_or_default();
    let mut bad = Vec::new();
    if let Err(e) = crate::common::check_sealed_view_exe(shim, "the shim") {
        bad.push(format!("{e} (it runs {})", shim_exe.display()));
    }
    for i in 0..15 {
        let e = format!("x{i}");
        let out = c.ctr(&env, &["task", "exec", "--exec-id", &e, id, "true"]);
        assert!(out.status.success(), "ctr task exec: {}", describe(&out));
    }
    let out = c.ctr(
        &env,
        &[
            "task",
            "exec",
            "--exec-id",
            "dump",
            id,
            "sh",
            "-c",
            "cat /tmp/seen 2>/dev/null; true",
        ],
    );
    assert!(out.status.success(), "ctr task exec: {}", describe(&out));
    let seen = String::from_utf8_lossy(&out.stdout).to_string();
    let view = shim_exe.to_string_lossy();
    for l in seen
        .lines()
        .filter(|l| !l.starts_with("/memfd:") && *l != view)
    {
        bad.push(format!("seen in the container: {l}"));
    }
    bad.dedup();
    let _ = c.ctr(&env, &["task", "kill", "-s", "SIGKILL", id]);
    let _ = stopped_exit_code(&env, c, id);
    c.ctr_ok(&env, &["containers", "rm", id]);
    check_nothing_left(&env, c);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// `ctr events` running into a file (killed by Drop, also when a check fails).
struct EventLog {
    path: PathBuf,
    child: std::process::Child,
}

impl EventLog {
    fn start(env: &TestEnv, c: &Containerd, name: &str) -> EventLog {
        let path = env.dir.join(name);
        let log = std::fs::File::create(&path).expect("create the events log");
        let child = std::process::Command::new("ctr")
            .arg("--address")
            .arg(&c.socket)
            .args(["events"])
            .stdout(log)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ctr events");
        // subscribed before anything happens
        std::thread::sleep(Duration::from_millis(300));
        EventLog { path, child }
    }

    /// How many events of `topic` name container `id`.
    fn count(&self, topic: &str, id: &str) -> usize {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(topic) && l.contains(&format!("\"{id}\"")))
            .count()
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What containerd heard of an OOM kill in a running task: the init (sh) runs on after its
/// child `tail /dev/zero` is OOM-killed under a 32 MiB limit. Returns (a /tasks/oom came while
/// the task was still running, /tasks/oom events of it once it exited).
fn oom_while_running(
    env: &TestEnv,
    c: &mut Containerd,
    runtime_name: &str,
    runtime: &Path,
    id: &str,
) -> (bool, usize) {
    let events = EventLog::start(env, c, &format!("events-{id}.log"));
    let args = c.run_args(
        runtime_name,
        runtime,
        &["-d", "--memory-limit", "33554432"],
        id,
        &["sh", "-c", "tail /dev/zero; exec sleep 1000"],
    );
    let out = c.ctr(env, &args);
    assert!(out.status.success(), "ctr run {id}: {}", describe(&out));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut live = false;
    while std::time::Instant::now() < deadline {
        if events.count("/tasks/oom", id) > 0 {
            live = c.task_status(env, id) == "RUNNING";
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.ctr(env, &["task", "kill", "-s", "SIGKILL", id]);
    wait_until(
        &format!("the exit event of {id}"),
        Duration::from_secs(15),
        || events.count("/tasks/exit", id) > 0,
    );
    // a TaskOOM the shim would add at the exit is published just before its TaskExit
    std::thread::sleep(Duration::from_millis(300));
    let n = events.count("/tasks/oom", id);
    let _ = stopped_exit_code(env, c, id);
    c.ctr_ok(env, &["containers", "rm", id]);
    (live, n)
}

/// Live OOM events, as containerd-shim-runc-v2 sends them: the shim publishes TaskOOM as soon
/// as the container's cgroup counts an OOM kill (v1 eventfd on memory.oom_control, v2
/// memory.events), while the task still runs, and not a second time when it exits.
#[test]
fn shim_oom_event_while_running() {
    let env = TestEnv::new("shim-oom");
    let mut guard = guard(&env);
    let c = &mut guard.containerd;
    let runc = oom_while_running(&env, c, "runc", Path::new(RUNC), "oom-runc");
    let got = oom_while_running(&env, c, SHIM_NAME, &shim_bin(), "oom-shim");
    println!("runc.v2+runc: {runc:?}, podrun shim: {got:?}");
    check_nothing_left(&env, c);
    assert_eq!(runc, (true, 1), "runc.v2's events (the reference)");
    assert_eq!(
        got,
        (true, 1),
        "podrun shim: (a /tasks/oom while running, /tasks/oom events in all)"
    );
}

/// `ctr task metrics ID` as METRIC -> VALUE (containerd decodes the shim's Stats: the cgroup v1
/// Metrics type on v1 and hybrid hosts, the v2 type on cgroup2).
fn task_metrics(
    env: &TestEnv,
    c: &Containerd,
    id: &str,
) -> std::collections::BTreeMap<String, String> {
    let out = c.ctr_ok(env, &["task", "metrics", id]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        // less the headers and the ID/TIMESTAMP row
        .filter(|(k, _)| k != "ID" && k != "METRIC" && k != id && !k.starts_with('-'))
        .collect()
}

/// The shim's Stats as containerd decodes them (`ctr task metrics`): the same metrics as
/// runc.v2+runc's, the same limits and pids, a memory and CPU usage.
#[test]
fn shim_task_metrics_like_runc() {
    let env = TestEnv::new("shim-metrics");
    let mut guard = guard(&env);
    let c = &mut guard.containerd;
    let mut got = Vec::new();
    for (name, runtime, id) in [
        ("runc", PathBuf::from(RUNC), "metrics-runc"),
        (SHIM_NAME, shim_bin(), "metrics-shim"),
    ] {
        let args = c.run_args(
            name,
            &runtime,
            &["-d", "--memory-limit", "67108864"],
            id,
            &[
                "sh",
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000",
            ],
        );
        let out = c.ctr(&env, &args);
        assert!(out.status.success(), "ctr run {id}: {}", describe(&out));
        // past the busy loop: the CPU usage is there and the pids settled
        wait_until(&format!("{id} to sleep"), Duration::from_secs(20), || {
            c.task(&env, id)
                .is_some_and(|(pid, _)| comm(pid) == "sleep")
        });
        got.push(task_metrics(&env, c, id));
        let _ = c.ctr(&env, &["task", "kill", "-s", "SIGKILL", id]);
        let _ = stopped_exit_code(&env, c, id);
        c.ctr_ok(&env, &["containers", "rm", id]);
    }
    check_nothing_left(&env, c);
    let (runc, shim) = (&got[0], &got[1]);
    println!("runc.v2+runc: {runc:?}\npodrun shim: {shim:?}");
    let names =
        |m: &std::collections::BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert!(!runc.is_empty(), "no metrics from runc.v2");
    assert_eq!(names(shim), names(runc), "the metrics containerd decoded");
    for k in ["memory.limit_in_bytes", "pids.current", "pids.limit"] {
        assert_eq!(shim.get(k), runc.get(k), "{k}");
    }
    for k in ["memory.usage_in_bytes", "cpuacct.usage", "cpu.usage_usec"] {
        if let Some(v) = shim.get(k) {
            assert!(v.parse::<u64>().is_ok_and(|v| v > 0), "{k} = {v}");
        }
    }
}
