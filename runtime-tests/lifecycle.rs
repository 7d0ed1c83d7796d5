//! The container lifecycle through the CLI: create, start, state, kill, delete, run, list, and
//! the small helpers the other test modules share (waiting for a condition, bundles that run a
//! shell script).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{cgroupfs, describe, pid_alive, spawn_started_after, TestEnv};

/// A path as &str (every test path is UTF-8).
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Polls `cond` until it holds; panics naming `what` after `limit`. Polling with a deadline,
/// not a sleep used as synchronisation: the test goes on as soon as the condition holds.
pub(crate) fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid in a state JSON.
pub(crate) fn state_pid(v: &Value) -> i32 {
    let pid = v["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {v}"));
    i32::try_from(pid).unwrap_or_else(|_| panic!("pid out of range in {v}"))
}

/// A bundle from `template` whose process is `sh -c script`, after `edit`.
pub(crate) fn sh_bundle(
    env: &TestEnv,
    template: &str,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> std::path::PathBuf {
    env.bundle(template, |spec| {
        spec["process"]["args"] = json!(["sh", "-c", script]);
        edit(spec)
    })
}

/// `podrun run` in the foreground of a hello-based bundle running `sh -c script`.
pub(crate) fn run_sh(
    env: &TestEnv,
    id: &str,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> Output {
    let bundle = sh_bundle(env, "hello", script, edit);
    env.podrun(&["run", "--bundle", s(&bundle), id])
}

/// Like `run_sh`, but asserts exit 0 and returns stdout.
pub(crate) fn run_sh_ok(
    env: &TestEnv,
    id: &str,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> String {
    let out = run_sh(env, id, script, edit);
    assert!(
        out.status.success(),
        "container script {script:?} failed: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates a sleeper container, returns its pid.
pub(crate) fn create_sleeper(env: &TestEnv, id: &str) -> i32 {
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["create", "--bundle", s(&bundle), id]);
    state_pid(&env.state(id))
}

/// Creates and starts a container of `bundle`, returns its pid.
pub(crate) fn start_bundle(env: &TestEnv, bundle: &Path, id: &str) -> i32 {
    env.run_ok(&["create", "--bundle", s(bundle), id]);
    env.run_ok(&["start", id]);
    state_pid(&env.state(id))
}

pub(crate) fn status_of(env: &TestEnv, id: &str) -> String {
    env.state(id)["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no status for {id}"))
        .to_string()
}

pub(crate) fn wait_status(env: &TestEnv, id: &str, want: &str) {
    wait_until(
        &format!("{id} to be {want}"),
        Duration::from_secs(10),
        || status_of(env, id) == want,
    );
}

fn ppid_of(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no PPid in /proc/{pid}/status"))
}

#[test]
fn create_start_kill_delete() {
    let env = TestEnv::new("life");
    let bundle = env.bundle("sleeper", |_| {});
    let pid_file = env.dir.join("pid");
    env.run_ok(&[
        "create",
        "--bundle",
        s(&bundle),
        "--pid-file",
        s(&pid_file),
        "life",
    ]);
    let st = env.state("life");
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], "life", "{st}");
    assert_eq!(st["bundle"], s(&bundle), "{st}");
    assert!(st["ociVersion"].is_string(), "{st}");
    let pid = state_pid(&st);
    assert!(pid_alive(pid), "created init {pid} is not alive");
    let text = std::fs::read_to_string(&pid_file).expect("pid file");
    assert!(
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
        "pid file must be digits only (no newline): {text:?}"
    );
    assert_eq!(text.parse::<i32>().expect("digits"), pid);
    // Blocked before exec: the init is not yet `sleep`.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_ne!(comm.trim(), "sleep", "the process ran before start");

    env.run_ok(&["start", "life"]);
    let st = env.state("life");
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(state_pid(&st), pid);
    wait_until("init to exec sleep", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });

    env.run_ok(&["kill", "life", "KILL"]);
    wait_status(&env, "life", "stopped");
    assert!(!pid_alive(pid));
    env.run_ok(&["delete", "life"]);
    assert!(!env.root.join("life").exists(), "state dir left behind");
    let err = env.run_fail(&["state", "life"]);
    assert!(err.contains("life"), "{err}");
    assert!(env.container_ids().is_empty());
}

#[test]
fn kill_default_is_sigterm() {
    let env = TestEnv::new("kill-term");
    let out = env.dir.join("out");
    std::fs::create_dir(&out).expect("mkdir out");
    // pid 1 of a pid namespace only receives signals it handles: trap TERM and record it.
    let bundle = sh_bundle(
        &env,
        "sleeper",
        "trap 'echo TERM > /out/sig; exit 0' TERM; echo ready > /out/ready; sleep 3600 & wait",
        |spec| {
            spec["mounts"].as_array_mut().expect("mounts").push(json!({
                "destination": "/out", "type": "bind", "source": s(&out), "options": ["rbind", "rw"]
            }));
        },
    );
    let pid = start_bundle(&env, &bundle, "kt");
    wait_until("the trap to be set", Duration::from_secs(10), || {
        out.join("ready").exists()
    });
    env.run_ok(&["kill", "kt"]);
    wait_status(&env, "kt", "stopped");
    assert!(!pid_alive(pid));
    let sig = std::fs::read_to_string(out.join("sig")).expect("the TERM trap did not run");
    assert_eq!(sig.trim(), "TERM");
    env.run_ok(&["delete", "kt"]);
}

#[test]
fn kill_by_number_and_by_name() {
    let env = TestEnv::new("kill-num");
    for (id, sig) in [
        ("by-num", "9"),
        ("by-name", "KILL"),
        ("by-sig-name", "SIGKILL"),
    ] {
        let pid = create_sleeper(&env, id);
        env.run_ok(&["start", id]);
        env.run_ok(&["kill", id, sig]);
        wait_status(&env, id, "stopped");
        assert!(!pid_alive(pid), "{id}: {pid} survived kill {sig}");
        env.run_ok(&["delete", id]);
    }
    let pid = create_sleeper(&env, "bad-sig");
    let err = env.run_fail(&["kill", "bad-sig", "NOSUCHSIG"]);
    assert!(err.contains("NOSUCHSIG"), "{err}");
    assert!(pid_alive(pid));
}

#[test]
fn run_returns_the_container_exit_code() {
    let env = TestEnv::new("run-exit");
    let out = run_sh(&env, "exit7", "echo out; exit 7", |_| {});
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(
        env.container_ids().is_empty(),
        "run left state: {:?}",
        env.container_ids()
    );
    let out = run_sh(&env, "exit0", "true", |_| {});
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn run_killed_by_signal_exits_128_plus_n() {
    let env = TestEnv::new("run-sig");
    let bundle = env.bundle("sleeper", |_| {});
    let mut child = env
        .podrun_cmd()
        .args(["run", "--bundle", s(&bundle), "sig"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn podrun run");
    wait_until("the container to run", Duration::from_secs(20), || {
        env.podrun(&["state", "sig"]).status.success() && status_of(&env, "sig") == "running"
    });
    env.run_ok(&["kill", "sig", "KILL"]);
    let status = child.wait().expect("wait podrun run");
    assert_eq!(status.code(), Some(128 + 9), "{status:?}");
}

#[test]
fn run_detached() {
    let env = TestEnv::new("run-d");
    let bundle = env.bundle("sleeper", |_| {});
    let pid_file = env.dir.join("pid");
    env.run_ok(&[
        "run",
        "-d",
        "--bundle",
        s(&bundle),
        "--pid-file",
        s(&pid_file),
        "det",
    ]);
    let st = env.state("det");
    assert_eq!(st["status"], "running", "{st}");
    let pid = state_pid(&st);
    assert!(pid_alive(pid));
    let text = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(text, pid.to_string());
    env.run_ok(&["delete", "--force", "det"]);
    assert!(!pid_alive(pid));
    assert!(env.container_ids().is_empty());
}

#[test]
fn list_table_json_quiet() {
    let env = TestEnv::new("list");
    // An empty root lists nothing (and the root need not exist).
    assert_eq!(env.run_ok(&["list", "--quiet"]), "");
    let pid_a = create_sleeper(&env, "list-a");
    create_sleeper(&env, "list-b");
    env.run_ok(&["start", "list-b"]);

    let quiet = env.run_ok(&["list", "--quiet"]);
    let mut ids: Vec<&str> = quiet.lines().collect();
    ids.sort();
    assert_eq!(ids, ["list-a", "list-b"], "{quiet}");

    let table = env.run_ok(&["list"]);
    let mut lines = table.lines();
    let header = lines.next().expect("header");
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED"] {
        assert!(header.contains(col), "header lacks {col}: {header}");
    }
    let row_a = table
        .lines()
        .find(|l| l.starts_with("list-a "))
        .unwrap_or_else(|| panic!("no list-a row: {table}"));
    let cols: Vec<&str> = row_a.split_whitespace().collect();
    assert_eq!(cols[1], pid_a.to_string(), "{row_a}");
    assert_eq!(cols[2], "created", "{row_a}");
    let row_b = table
        .lines()
        .find(|l| l.starts_with("list-b "))
        .unwrap_or_else(|| panic!("no list-b row: {table}"));
    assert_eq!(row_b.split_whitespace().nth(2), Some("running"), "{row_b}");

    let json: Value = serde_json::from_str(&env.run_ok(&["list", "--format", "json"]))
        .expect("list json is JSON");
    let arr = json.as_array().expect("an array");
    assert_eq!(arr.len(), 2, "{json}");
    let a = arr
        .iter()
        .find(|c| c["id"] == "list-a")
        .unwrap_or_else(|| panic!("no list-a: {json}"));
    assert_eq!(a["status"], "created");
    assert_eq!(state_pid(a), pid_a);
    let b = arr
        .iter()
        .find(|c| c["id"] == "list-b")
        .unwrap_or_else(|| panic!("no list-b: {json}"));
    assert_eq!(b["status"], "running");
}

#[test]
fn create_init_is_a_child_of_the_callers_subreaper() {
    let env = TestEnv::new("subreaper");
    let bundle = env.bundle("sleeper", |_| {});
    let pid_file = env.dir.join("pid");
    // A shell made a child subreaper runs `podrun create`; once podrun has exited, the init
    // must be the shell's child (re-parented), as containerd's shim expects.
    let script = format!(
        "{podrun} --root {root} create --bundle {bundle} --pid-file {pf} sub || exit 99; \
         echo sh=$$; grep PPid: /proc/$(cat {pf})/status",
        podrun = s(&crate::common::podrun_bin()),
        root = s(&env.root),
        bundle = s(&bundle),
        pf = s(&pid_file),
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(&script);
    // SAFETY: prctl is async-signal-safe and only changes the forked child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = env.output_via_files(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let sh_pid = text
        .lines()
        .find_map(|l| l.strip_prefix("sh="))
        .unwrap_or_else(|| panic!("{text}"));
    let ppid = text
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        ppid, sh_pid,
        "the init's parent is not the caller's subreaper: {text}"
    );
    // Now the shell is gone too; the init lives on and is not a podrun process's child.
    let pid = state_pid(&env.state("sub"));
    assert!(pid_alive(pid));
    let parent = ppid_of(pid);
    let exe = std::fs::read_link(format!("/proc/{parent}/exe")).unwrap_or_default();
    assert!(
        !exe.to_string_lossy().contains("podrun"),
        "init {pid} has a podrun parent {parent} ({})",
        exe.display()
    );
}

#[test]
fn delete_running_needs_force() {
    let env = TestEnv::new("del-force");
    let pid = create_sleeper(&env, "df");
    env.run_ok(&["start", "df"]);
    let err = env.run_fail(&["delete", "df"]);
    assert!(err.contains("df"), "{err}");
    assert!(
        pid_alive(pid),
        "delete without --force killed the container"
    );
    assert_eq!(status_of(&env, "df"), "running");
    env.run_ok(&["delete", "--force", "df"]);
    assert!(!pid_alive(pid), "delete --force left {pid} running");
    assert!(!env.root.join("df").exists());
    env.run_fail(&["state", "df"]);
}

#[test]
fn delete_force_of_created_container() {
    let env = TestEnv::new("del-created");
    let pid = create_sleeper(&env, "dc");
    env.run_ok(&["delete", "--force", "dc"]);
    assert!(!pid_alive(pid));
    assert!(env.container_ids().is_empty());
}

#[test]
fn delete_force_of_unknown_id_succeeds() {
    let env = TestEnv::new("del-unknown");
    env.run_ok(&["delete", "--force", "never-existed"]);
    // And twice, as containerd's shim does.
    create_sleeper(&env, "twice");
    env.run_ok(&["delete", "--force", "twice"]);
    env.run_ok(&["delete", "--force", "twice"]);
    let err = env.run_fail(&["delete", "never-existed"]);
    assert!(err.contains("never-existed"), "{err}");
}

#[test]
fn state_of_dead_process_is_stopped() {
    let env = TestEnv::new("state-dead");
    let pid = create_sleeper(&env, "dead");
    env.run_ok(&["start", "dead"]);
    // SAFETY: kill(2) on the pid this test's container reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_until("the init to die", Duration::from_secs(10), || {
        !pid_alive(pid)
    });
    wait_status(&env, "dead", "stopped");
    // A stopped container is deleted without --force.
    env.run_ok(&["delete", "dead"]);
}

#[test]
fn start_twice_fails() {
    let env = TestEnv::new("start-twice");
    let pid = create_sleeper(&env, "st2");
    env.run_ok(&["start", "st2"]);
    let err = env.run_fail(&["start", "st2"]);
    assert!(err.contains("st2"), "{err}");
    assert!(pid_alive(pid));
    assert_eq!(status_of(&env, "st2"), "running");
}

#[test]
fn start_of_unknown_fails() {
    let env = TestEnv::new("start-unknown");
    let err = env.run_fail(&["start", "nope"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn concurrent_creates_of_one_id() {
    let env = TestEnv::new("race");
    let bundle = env.bundle("sleeper", |_| {});
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| env.podrun(&["create", "--bundle", s(&bundle), "race"])))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "exactly one create must win: {:#?}",
        outputs.iter().map(describe).collect::<Vec<_>>()
    );
    for o in outputs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("already exists"), "{}", describe(o));
    }
    let st = env.state("race");
    assert_eq!(st["status"], "created", "{st}");
    let pid = state_pid(&st);
    assert!(pid_alive(pid));
    env.run_ok(&["start", "race"]);
    assert_eq!(status_of(&env, "race"), "running");
    env.run_ok(&["delete", "--force", "race"]);
    assert!(!pid_alive(pid));
}

#[test]
fn run_forwards_signals_to_the_container() {
    let env = TestEnv::new("run-fwd");
    let out = env.dir.join("out");
    std::fs::create_dir(&out).expect("mkdir out");
    let bundle = sh_bundle(
        &env,
        "sleeper",
        "trap 'exit 42' TERM; echo ready > /out/ready; sleep 3600 & wait",
        |spec| {
            spec["mounts"].as_array_mut().expect("mounts").push(json!({
                "destination": "/out", "type": "bind", "source": s(&out), "options": ["rbind", "rw"]
            }));
        },
    );
    let mut child = env
        .podrun_cmd()
        .args(["run", "--bundle", s(&bundle), "fwd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn podrun run");
    wait_until("the trap to be set", Duration::from_secs(20), || {
        out.join("ready").exists()
    });
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().expect("wait podrun run");
    assert_eq!(status.code(), Some(42), "{status:?}");
    assert!(env.container_ids().is_empty());
}

#[test]
fn kill_all_reaches_every_process() {
    let env = TestEnv::new("kill-all");
    // Without a pid namespace, killing the init would not take the others with it.
    let bundle = sh_bundle(&env, "sleeper", "sleep 3600 & sleep 3600 & wait", |spec| {
        spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|n| n["type"] != "pid");
    });
    let init = start_bundle(&env, &bundle, "ka");
    // The init's pids cgroup, wherever the host mounts it (v1, v2 or hybrid).
    let dir = cgroupfs::controller_dir(&crate::common::container_cgroup(&env.root, "ka"), "pids")
        .expect("a hierarchy with pids");
    let read_procs = || cgroupfs::procs(&dir);
    wait_until(
        "three processes in the cgroup",
        Duration::from_secs(10),
        || read_procs().len() == 3,
    );
    let procs = read_procs();
    assert!(procs.contains(&init), "{procs:?}");
    env.run_ok(&["kill", "--all", "ka", "KILL"]);
    wait_until("every process to die", Duration::from_secs(10), || {
        procs.iter().all(|p| !pid_alive(*p))
    });
    wait_status(&env, "ka", "stopped");
    env.run_ok(&["delete", "ka"]);
}

#[test]
fn reused_pid_is_never_signalled() {
    let env = TestEnv::new("pid-reuse");
    let pid = create_sleeper(&env, "reuse");
    env.run_ok(&["start", "reuse"]);
    // SAFETY: kill(2) on the pid this test's container reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_until("the init to die", Duration::from_secs(10), || {
        !pid_alive(pid)
    });
    // Simulate the pid being reused: point the recorded pid at an unrelated process (the
    // recorded start time stays the dead init's).
    let file = env.root.join("reuse/state.json");
    let mut st: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("state.json")).expect("json");
    assert!(st["pid"].is_i64(), "state.json has no pid: {st}");
    let init_start = st["startTime"]
        .as_u64()
        .unwrap_or_else(|| panic!("no startTime in {st}"));
    let mut bystander = spawn_started_after(init_start);
    let other = bystander.id() as i32;
    st["pid"] = json!(other);
    std::fs::write(&file, serde_json::to_vec(&st).expect("json")).expect("write state.json");

    assert_eq!(status_of(&env, "reuse"), "stopped");
    let _ = env.podrun(&["kill", "reuse", "KILL"]);
    env.run_ok(&["delete", "--force", "reuse"]);
    let alive = pid_alive(other);
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(
        alive,
        "podrun signalled an unrelated process with a reused pid"
    );
}
