//! Failure cleanup, interrupted creates, concurrency, lost state and hook timeouts (issue 7,
//! items 8–12). Pod-specific variants (`pod create` killed, concurrent pods, IPAM) are in the
//! pod and net tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::common::{
    cgroup_dirs, count_mounts_containing, describe, pid_alive, spawn_started_after, TestEnv,
};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// A container (or pod) id unique to this test process: the cgroup path /podrun/<id> is
/// host-wide, and other test runs (other worktrees, the lead's) may run at the same time.
fn cid(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// A tag put in the environment of every podrun a test starts; the container's init is a fork
/// of podrun and keeps it until it execs, so a leftover init can be found by it.
fn tag_for(env: &TestEnv) -> String {
    format!(
        "PODRUN_TEST_TAG={}",
        env.dir.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    )
}

fn tagged(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = env.podrun_cmd();
    let tag = tag_for(env);
    let (k, v) = tag.split_once('=').unwrap_or(("PODRUN_TEST_TAG", "x"));
    cmd.env(k, v).args(args);
    cmd
}

fn podrun_tagged(env: &TestEnv, args: &[&str]) -> Output {
    env.output_via_files(&mut tagged(env, args))
}

/// Live processes whose environment holds the test's tag (except podrun commands of ours that
/// are still running: callers only ask when none is).
fn tagged_processes(env: &TestEnv) -> Vec<i32> {
    let tag = tag_for(env);
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|kv| kv == tag.as_bytes()) && pid_alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Nothing of container `id` is left: state dir, cgroup, process, mount.
fn assert_nothing_left(env: &TestEnv, id: &str, what: &str) {
    assert!(
        !env.root.join(id).exists(),
        "{what}: state dir {} left",
        env.root.join(id).display()
    );
    assert_eq!(
        cgroup_dirs(id),
        Vec::<PathBuf>::new(),
        "{what}: cgroup left"
    );
    assert_eq!(
        tagged_processes(env),
        Vec::<i32>::new(),
        "{what}: a process of the container is alive"
    );
    assert_eq!(
        count_mounts_containing(s(&env.dir)),
        0,
        "{what}: a mount under the test dir is left"
    );
}

/// `id` can be created (and is deleted again) right after.
fn assert_id_reusable(env: &TestEnv, id: &str, what: &str) {
    let bundle = env.bundle("sleeper", |_| {});
    let out = podrun_tagged(env, &["create", "--bundle", s(&bundle), id]);
    assert!(
        out.status.success(),
        "{what}: {id} is not creatable again: {}",
        describe(&out)
    );
    env.run_ok(&["delete", "--force", id]);
    assert_nothing_left(env, id, &format!("{what} (after re-create + delete)"));
}

// ---------------------------------------------------------------------------------------------
// 8. Every failure of create cleans up
// ---------------------------------------------------------------------------------------------

fn sh_hook(script: &str, timeout: Option<u64>) -> Value {
    let mut h = json!({"path": "/bin/sh", "args": ["sh", "-c", script]});
    if let Some(t) = timeout {
        h["timeout"] = json!(t);
    }
    h
}

#[test]
fn rel_create_failures_leave_nothing() {
    let env = TestEnv::new("rel-failures");
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "missing-rootfs",
            "rootfs",
            Box::new(|s| s["root"]["path"] = json!("/nonexistent-podrun-rootfs")),
        ),
        (
            "missing-binary",
            "no-such-binary",
            Box::new(|s| s["process"]["args"] = json!(["/no-such-binary"])),
        ),
        (
            "bad-rlimit",
            "RLIMIT_NOFILE",
            Box::new(|s| {
                s["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "hard": 99_000_000u64, "soft": 99_000_000u64}])
            }),
        ),
        (
            "bad-uid-map",
            "uidMappings",
            Box::new(|s| {
                s["linux"]["namespaces"]
                    .as_array_mut()
                    .expect("ns")
                    .push(json!({"type": "user"}));
                // Overlapping ranges: the kernel refuses the map.
                s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}, {"containerID": 5, "hostID": 200000, "size": 10}]);
                s["linux"]["gidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
            }),
        ),
        (
            "failing-hook",
            "createRuntime",
            Box::new(|s| s["hooks"] = json!({"createRuntime": [sh_hook("exit 3", None)]})),
        ),
        (
            "hook-timeout",
            "createRuntime",
            Box::new(|s| s["hooks"] = json!({"createRuntime": [sh_hook("sleep 10", Some(1))]})),
        ),
    ];
    // Bad JSON first: no edit can express it.
    {
        let id = "bad-json";
        let bundle = env.bundle("sleeper", |_| {});
        std::fs::write(
            bundle.join("config.json"),
            "{\"ociVersion\": \"1.0.2\", \"process\": ",
        )
        .expect("write");
        let out = podrun_tagged(&env, &["create", "--bundle", s(&bundle), id]);
        assert!(!out.status.success(), "bad JSON: create succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("config.json") || err.contains("JSON") || err.contains("invalid"),
            "bad JSON: unclear message: {err}"
        );
        assert_nothing_left(&env, id, "bad JSON");
        assert_id_reusable(&env, id, "bad JSON");
    }
    for (name, keyword, edit) in &cases {
        let id = &cid(name);
        let bundle = env.bundle("sleeper", |spec| edit(spec));
        let out = podrun_tagged(&env, &["create", "--bundle", s(&bundle), id]);
        assert!(
            !out.status.success(),
            "{id}: create succeeded: {}",
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("{id}: {}", err.trim());
        assert!(
            err.contains(keyword),
            "{id}: the message does not mention {keyword:?}: {}",
            describe(&out)
        );
        assert_nothing_left(&env, id, id);
        assert_id_reusable(&env, id, id);
    }
}

// ---------------------------------------------------------------------------------------------
// 9. podrun SIGKILLed in the middle of create
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift), seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const KILL_TRIALS: usize = 50;

#[test]
fn rel_sigkill_during_create_then_delete_force_cleans_up() {
    let env = TestEnv::new("rel-sigkill");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(0x9e37_79b9);
    eprintln!("sigkill trials seed {seed:#x}");
    let mut rng = Rng(seed);
    let bundle = env.bundle("sleeper", |_| {});
    // How long one create takes here: half of the kills land inside that window (where the
    // interesting states are), the other half anywhere in 0-300 ms.
    let t0 = std::time::Instant::now();
    let out = podrun_tagged(
        &env,
        &["create", "--bundle", s(&bundle), &cid("probe-duration")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let create_us = (t0.elapsed().as_micros() as u64).clamp(1000, 300_000);
    env.run_ok(&["delete", "--force", &cid("probe-duration")]);
    let mut outcomes = (0, 0);
    for trial in 0..KILL_TRIALS {
        let id = cid(&format!("killed-{trial}"));
        let delay_us = if trial % 2 == 0 {
            rng.next() % create_us
        } else {
            rng.next() % 300_000
        };
        let delay_ms = delay_us as f64 / 1000.0;
        let mut child = tagged(&env, &["create", "--bundle", s(&bundle), &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn podrun create");
        std::thread::sleep(std::time::Duration::from_micros(delay_us));
        let _ = child.kill();
        let status = child.wait().expect("wait podrun");
        if status.success() {
            outcomes.0 += 1;
        } else {
            outcomes.1 += 1;
        }
        let out = env.podrun(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "trial {trial} ({delay_ms} ms): delete --force failed: {}",
            describe(&out)
        );
        assert_nothing_left(&env, &id, &format!("trial {trial} ({delay_ms} ms)"));
        assert_id_reusable(&env, &id, &format!("trial {trial} ({delay_ms} ms)"));
    }
    eprintln!(
        "sigkill trials: {} finished before the kill, {} killed (one create takes ~{create_us} us)",
        outcomes.0, outcomes.1
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Concurrent creates of one id
// ---------------------------------------------------------------------------------------------

#[test]
fn rel_concurrent_create_one_wins() {
    let env = TestEnv::new("rel-concurrent");
    let bundle = env.bundle("sleeper", |_| {});
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    podrun_tagged(&env, &["create", "--bundle", s(&bundle), &cid("same-id")])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "{winners} creates succeeded");
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("already exists"),
            "a loser failed otherwise: {}",
            describe(o)
        );
    }
    assert_eq!(env.state(&cid("same-id"))["status"], "created");
    env.run_ok(&["delete", "--force", &cid("same-id")]);
    assert_nothing_left(&env, &cid("same-id"), "concurrent create");
}

// ---------------------------------------------------------------------------------------------
// 11. Lost state
// ---------------------------------------------------------------------------------------------

fn state_pid(v: &Value) -> i32 {
    v["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid in {v}"))
}

/// Kills `pid` (a process this test started through podrun) and waits until it is gone.
fn kill_and_wait(pid: i32) {
    // SAFETY: kill with integer arguments on a pid recorded by this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 {
        let mut p = libc::pollfd {
            fd: fd as i32,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; waits until the process exits.
        unsafe {
            libc::poll(&mut p, 1, -1);
            libc::close(fd as i32);
        }
    }
    while pid_alive(pid) {
        std::thread::yield_now();
    }
}

/// Removes the cgroup dirs of `id` (after its processes are gone).
fn remove_cgroups(id: &str) {
    for d in cgroup_dirs(id) {
        let _ = std::fs::remove_dir(&d);
    }
}

#[test]
fn rel_lost_root_dir() {
    let env = TestEnv::new("rel-lost-root");
    let bundle = env.bundle("sleeper", |_| {});
    let out = podrun_tagged(&env, &["create", "--bundle", s(&bundle), &cid("lost")]);
    assert!(out.status.success(), "{}", describe(&out));
    let pid = state_pid(&env.state(&cid("lost")));
    struct Reap(i32, String);
    impl Drop for Reap {
        fn drop(&mut self) {
            kill_and_wait(self.0);
            remove_cgroups(&self.1);
        }
    }
    let _reap = Reap(pid, cid("lost"));
    std::fs::remove_dir_all(&env.root).expect("remove root");
    let listed = env.run_ok(&["list", "-q"]);
    assert_eq!(
        listed.trim(),
        "",
        "list shows containers without a root dir"
    );
    let _ = env.run_fail(&["state", &cid("lost")]);
    let out = env.podrun(&["delete", "--force", &cid("lost")]);
    assert!(
        out.status.success(),
        "delete --force of a lost container: {}",
        describe(&out)
    );
}

#[test]
fn rel_dead_pid_reads_stopped() {
    let env = TestEnv::new("rel-dead-pid");
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("dead")]);
    let pid = state_pid(&env.state(&cid("dead")));
    kill_and_wait(pid);
    assert_eq!(env.state(&cid("dead"))["status"], "stopped");
    env.run_ok(&["delete", &cid("dead")]);
    assert!(
        cgroup_dirs(&cid("dead")).is_empty(),
        "cgroup left after delete"
    );
}

#[test]
fn rel_reused_pid_is_never_signalled() {
    let env = TestEnv::new("rel-reused-pid");
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("reused")]);
    let pid = state_pid(&env.state(&cid("reused")));
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            kill_and_wait(self.0);
        }
    }
    let _reap = Reap(pid);
    // Pretend the recorded process is another one that happens to have the same PID.
    let file = env.root.join(cid("reused")).join("state.json");
    let mut st: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read state")).expect("json");
    let real = st["startTime"]
        .as_u64()
        .unwrap_or_else(|| panic!("no startTime in {st}"));
    st["startTime"] = json!(real + 12345);
    std::fs::write(&file, serde_json::to_vec(&st).expect("ser")).expect("write state");
    assert_eq!(env.state(&cid("reused"))["status"], "stopped");
    for sig in ["KILL", "TERM"] {
        let _ = env.podrun(&["kill", &cid("reused"), sig]);
        assert!(
            pid_alive(pid),
            "kill {sig} signalled a process with another start time"
        );
    }

    // A truly reused PID belongs to a process outside the container (and its cgroup): point the
    // state at one of ours. Neither kill nor delete may signal it (delete still empties the
    // container's cgroup, which kills the real init: that is the container's own cleanup).
    // It must have another start time than the init: started within the same clock tick
    // (10 ms; a fast run -d + kill + kill fits in one) the two are the same process to anyone
    // who reads /proc, podrun included.
    let mut stranger = spawn_started_after(real);
    let stranger_pid = stranger.id() as i32;
    struct KillChild<'a>(&'a mut std::process::Child);
    impl Drop for KillChild<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _stranger_guard = KillChild(&mut stranger);
    st["pid"] = json!(stranger_pid);
    st["startTime"] = json!(real);
    std::fs::write(&file, serde_json::to_vec(&st).expect("ser")).expect("write state");
    assert_eq!(env.state(&cid("reused"))["status"], "stopped");
    let _ = env.podrun(&["kill", &cid("reused"), "KILL"]);
    let _ = env.podrun(&["kill", "--all", &cid("reused"), "KILL"]);
    assert!(
        pid_alive(stranger_pid),
        "kill signalled the process that reused the pid"
    );
    env.run_ok(&["delete", &cid("reused")]);
    assert!(
        pid_alive(stranger_pid),
        "delete signalled the process that reused the pid"
    );
    assert!(
        cgroup_dirs(&cid("reused")).is_empty(),
        "cgroup left after delete"
    );
}

// ---------------------------------------------------------------------------------------------
// 12. Hooks: timeout and failing poststop
// ---------------------------------------------------------------------------------------------

#[test]
fn rel_prestart_timeout_kills_the_hook() {
    let env = TestEnv::new("rel-hook-timeout");
    let pids = env.dir.join("hook-pids");
    let done = env.dir.join("hook-done");
    let script = format!(
        "echo $$ > {p}; sleep 10 & echo $! >> {p}; wait; touch {d}",
        p = s(&pids),
        d = s(&done)
    );
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({"prestart": [sh_hook(&script, Some(1))]})
    });
    let out = podrun_tagged(
        &env,
        &["create", "--bundle", s(&bundle), &cid(&cid("hook-timeout"))],
    );
    assert!(
        !out.status.success(),
        "create with a timed-out prestart hook succeeded"
    );
    assert!(
        !done.exists(),
        "create waited for the hook to finish instead of timing it out"
    );
    let text = std::fs::read_to_string(&pids).expect("the hook wrote its pids");
    for pid in text
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        assert!(!pid_alive(pid), "hook process {pid} is still alive");
    }
    assert_nothing_left(&env, &cid(&cid("hook-timeout")), "prestart timeout");
}

#[test]
fn rel_failing_poststop_only_warns() {
    let env = TestEnv::new("rel-poststop");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({"poststop": [sh_hook("exit 7", None)]})
    });
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("poststop")]);
    let out = env.podrun(&["delete", "--force", &cid("poststop")]);
    assert!(
        out.status.success(),
        "a failing poststop hook failed delete: {}",
        describe(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "no warning about the failing poststop hook"
    );
    assert!(!env.root.join(cid("poststop")).exists(), "state dir left");
    assert!(cgroup_dirs(&cid("poststop")).is_empty(), "cgroup left");
}
