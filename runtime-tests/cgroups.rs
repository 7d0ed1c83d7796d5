//! The cgroup-facing commands through the CLI: `ps`, `pause`/`resume`, `update`, `events`, on a
//! detached `sleep 100` container, read back from the host's cgroup files. The container's cgroup
//! is the default `/podrun/<id>-<root hash>` in every hierarchy, so ids carry the test process id (parallel
//! runs on one host must not share a cgroup).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{cgroup_dirs, cgroupfs, describe, pid_alive, TestEnv};

/// Upper bound for waits on something that must happen (a hang guard, not a timing check).
const HANG_GUARD: Duration = Duration::from_secs(30);

struct Sleeper {
    id: String,
    pid: i32,
}

/// `podrun run -d --pid-file F` of `sleep 100`; returns its id and the PID from the pid file.
fn start_sleeper(env: &TestEnv, name: &str) -> Sleeper {
    start_sleeper_with(env, name, |_| {})
}

/// Like `start_sleeper`, with `edit` applied to the config.
fn start_sleeper_with(env: &TestEnv, name: &str, edit: impl FnOnce(&mut Value)) -> Sleeper {
    let id = format!("{name}-{}", std::process::id());
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["sleep", "100"]);
        edit(spec)
    });
    let pid_file = env.dir.join(format!("{id}.pid"));
    env.run_ok(&[
        "run",
        "-d",
        "--bundle",
        path_str(&bundle),
        "--pid-file",
        path_str(&pid_file),
        &id,
    ]);
    let text = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", pid_file.display()));
    let pid: i32 = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file {text:?}: {e}"));
    assert!(pid_alive(pid), "the container's init {pid} is not running");
    Sleeper { id, pid }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn stdout_json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Whether a v1 hierarchy holds `controller` (else the unified hierarchy does): found from
/// mountinfo, so v1, v2 and hybrid hosts alike.
fn on_v1(controller: &str) -> bool {
    cgroupfs::hierarchies()
        .iter()
        .any(|h| !h.v2 && h.has(controller))
}

/// A file of the container's cgroup: `v1_file` in the v1 hierarchy of `controller`, or
/// `v2_file` in the unified hierarchy when no v1 hierarchy has that controller.
fn cgroup_file(id: &str, controller: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    cgroup_file_at(
        &format!("/{}", crate::common::cgroup_rel(id)),
        controller,
        v1_file,
        v2_file,
    )
}

/// As cgroup_file, for the cgroup at `path` (absolute, from the hierarchies' root).
fn cgroup_file_at(path: &str, controller: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    let hs = cgroupfs::hierarchies();
    let (h, file) = match hs.iter().find(|h| !h.v2 && h.has(controller)) {
        Some(h) => (Some(h), v1_file),
        None => (hs.iter().find(|h| h.v2), v2_file),
    };
    let dir = h
        .and_then(|h| h.dir_of(path))
        .unwrap_or_else(|| panic!("no mounted hierarchy holds {controller} ({hs:?})"));
    dir.join(file)
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

fn memory_limit(id: &str) -> String {
    read_trimmed(&cgroup_file(
        id,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
    ))
}

fn pids_max(id: &str) -> String {
    read_trimmed(&cgroup_file(id, "pids", "pids.max", "pids.max"))
}

/// The kernel's view: v1 freezer.state is FROZEN, v2 cgroup.events says `frozen 1`.
fn kernel_frozen(id: &str) -> bool {
    if !on_v1("freezer") {
        let events = read_trimmed(&cgroup_file(id, "freezer", "", "cgroup.events"));
        events.lines().any(|l| l == "frozen 1")
    } else {
        read_trimmed(&cgroup_file(id, "freezer", "freezer.state", "")) == "FROZEN"
    }
}

/// Thaws the container's cgroup when dropped, so that a failing test does not leave a frozen
/// container behind for the env's `delete --force`. Declare it after the `TestEnv`.
struct ThawOnDrop(String);

impl Drop for ThawOnDrop {
    fn drop(&mut self) {
        let (file, value) = if !on_v1("freezer") {
            (cgroup_file(&self.0, "freezer", "", "cgroup.freeze"), "0")
        } else {
            (
                cgroup_file(&self.0, "freezer", "freezer.state", ""),
                "THAWED",
            )
        };
        if file.exists() {
            if let Err(e) = std::fs::write(&file, value) {
                eprintln!("ThawOnDrop: write {value} to {}: {e}", file.display());
            }
        }
    }
}

/// A child process killed (by its own handle) and reaped when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits until `cond` holds; panics with `what` after HANG_GUARD.
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    crate::lifecycle::wait_until(what, HANG_GUARD, cond);
}

/// Kills the container's init with SIGKILL and waits until it is gone.
fn stop(env: &TestEnv, c: &Sleeper) {
    env.run_ok(&["kill", &c.id, "KILL"]);
    wait_until("the container's init to exit", || !pid_alive(c.pid));
}

#[test]
fn ps_lists_the_container_processes() {
    let env = TestEnv::new("cg-ps");
    let c = start_sleeper(&env, "cg-ps");
    let pids = stdout_json(&env.run_ok(&["ps", "--format", "json", &c.id]));
    assert_eq!(pids, json!([c.pid]), "ps --format json");

    let table = env.run_ok(&["ps", &c.id]);
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.split_whitespace().any(|f| f == "PID"),
        "no header: {table}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "one process expected: {table}");
    assert!(
        rows[0].split_whitespace().any(|f| f == c.pid.to_string()),
        "{table}"
    );
    assert!(rows[0].contains("sleep 100"), "{table}");

    let custom = env.run_ok(&["ps", &c.id, "-o", "pid,comm"]);
    let rows: Vec<Vec<&str>> = custom
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![vec!["PID", "COMMAND"], vec![&c.pid.to_string(), "sleep"]],
        "ps args are passed to ps: {custom}"
    );

    let stderr = env.run_fail(&["ps", "--format", "yaml", &c.id]);
    assert!(stderr.contains("invalid format"), "{stderr}");
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn ps_of_a_missing_container_fails() {
    let env = TestEnv::new("cg-ps-missing");
    let stderr = env.run_fail(&["ps", "--format", "json", "cg-no-such-container"]);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let env = TestEnv::new("cg-pause");
    let c = start_sleeper(&env, "cg-pause");
    let _thaw = ThawOnDrop(c.id.clone());

    env.run_ok(&["pause", &c.id]);
    assert_eq!(env.state(&c.id)["status"], "paused");
    assert!(kernel_frozen(&c.id), "the cgroup is not frozen after pause");
    let stderr = env.run_fail(&["pause", &c.id]);
    assert!(
        stderr.contains("container not running"),
        "pause of paused: {stderr}"
    );
    // Still listed while frozen.
    assert_eq!(
        stdout_json(&env.run_ok(&["ps", "--format", "json", &c.id])),
        json!([c.pid])
    );

    env.run_ok(&["resume", &c.id]);
    assert_eq!(env.state(&c.id)["status"], "running");
    assert!(
        !kernel_frozen(&c.id),
        "the cgroup is still frozen after resume"
    );
    let stderr = env.run_fail(&["resume", &c.id]);
    assert!(
        stderr.contains("container not paused"),
        "resume of running: {stderr}"
    );
    assert!(pid_alive(c.pid));
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn update_memory_and_pids() {
    let env = TestEnv::new("cg-update");
    let c = start_sleeper(&env, "cg-update");

    env.run_ok(&["update", "--memory", "64m", &c.id]);
    let want = (64u64 << 20).to_string();
    assert_eq!(memory_limit(&c.id), want);

    for bad in ["64x", "-5", "lots", "1.2.3m"] {
        let stderr = env.run_fail(&["update", "--memory", bad, &c.id]);
        assert!(
            stderr.contains("--memory"),
            "error does not name the flag: {stderr}"
        );
        assert_eq!(
            memory_limit(&c.id),
            want,
            "--memory {bad} changed the limit"
        );
    }
    // A bad value anywhere means nothing is written, not even the good values before it.
    let stderr = env.run_fail(&["update", "--memory", "32m", "--pids-limit", "-7", &c.id]);
    assert!(stderr.contains("--pids-limit"), "{stderr}");
    assert_eq!(memory_limit(&c.id), want, "a failed update changed memory");

    env.run_ok(&["update", "--pids-limit", "20", &c.id]);
    assert_eq!(pids_max(&c.id), "20");
    let stderr = env.run_fail(&["update", "--pids-limit", "ten", &c.id]);
    assert!(stderr.contains("--pids-limit"), "{stderr}");
    assert_eq!(pids_max(&c.id), "20");
    env.run_ok(&["update", "--pids-limit", "-1", &c.id]);
    assert_eq!(pids_max(&c.id), "max");
    assert!(pid_alive(c.pid), "the container died during updates");
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn update_from_a_resources_document() {
    let env = TestEnv::new("cg-update-json");
    let c = start_sleeper(&env, "cg-update-json");
    let doc = env.dir.join("resources.json");
    std::fs::write(&doc, r#"{"memory":{"limit":33554432},"pids":{"limit":30}}"#)
        .expect("write doc");
    env.run_ok(&["update", "--resources", path_str(&doc), &c.id]);
    assert_eq!(memory_limit(&c.id), "33554432");
    assert_eq!(pids_max(&c.id), "30");

    // go-runc's Update: the document on stdin.
    std::fs::write(&doc, r#"{"memory":{"limit":50331648},"pids":{"limit":40}}"#)
        .expect("write doc");
    let out = env
        .podrun_cmd()
        .args(["update", "--resources", "-", &c.id])
        .stdin(File::open(&doc).expect("open doc"))
        .output()
        .expect("run podrun update");
    assert!(out.status.success(), "update -r -: {}", describe(&out));
    assert_eq!(memory_limit(&c.id), "50331648");
    assert_eq!(pids_max(&c.id), "40");

    std::fs::write(&doc, r#"{"memory":{"limit":-9}}"#).expect("write doc");
    let stderr = env.run_fail(&["update", "-r", path_str(&doc), &c.id]);
    assert!(stderr.contains("memory.limit"), "{stderr}");
    assert_eq!(memory_limit(&c.id), "50331648");
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn events_stats_reports_memory_and_pids() {
    let env = TestEnv::new("cg-stats");
    let c = start_sleeper(&env, "cg-stats");
    env.run_ok(&["update", "--pids-limit", "25", &c.id]);
    let text = env.run_ok(&["events", "--stats", &c.id]);
    assert_eq!(text.lines().count(), 1, "one event expected: {text}");
    let ev = stdout_json(&text);
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], c.id.as_str(), "{ev}");
    let data = &ev["data"];
    assert!(
        data["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0),
        "{ev}"
    );
    assert_eq!(data["pids"]["current"], 1, "{ev}");
    assert_eq!(data["pids"]["limit"], 25, "{ev}");
    assert!(data["cpu"]["usage"]["total"].is_u64(), "{ev}");
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn events_stream_ends_when_the_container_stops() {
    let env = TestEnv::new("cg-events");
    let c = start_sleeper(&env, "cg-events");
    let out_path = env.dir.join("events.out");
    let err_path = env.dir.join("events.err");
    let child = env
        .podrun_cmd()
        .args(["events", "--interval", "50ms", &c.id])
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create events.out"))
        .stderr(File::create(&err_path).expect("create events.err"))
        .spawn()
        .expect("spawn podrun events");
    let mut child = ChildGuard(child);
    let lines = || std::fs::read_to_string(&out_path).unwrap_or_default();
    wait_until("a first stats event", || lines().lines().count() >= 2);

    stop(&env, &c);
    let mut status = None;
    wait_until("podrun events to exit after the container stopped", || {
        status = child.0.try_wait().expect("try_wait");
        status.is_some()
    });
    let status = status.expect("exited");
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "events exited with {status}: {stderr}");
    let text = lines();
    for line in text.lines() {
        let ev = stdout_json(line);
        assert_eq!(ev["type"], "stats", "{line}");
        assert_eq!(ev["id"], c.id.as_str(), "{line}");
        assert!(ev["data"]["pids"].is_object(), "{line}");
    }
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn events_bad_input_fails() {
    let env = TestEnv::new("cg-events-bad");
    let stderr = env.run_fail(&["events", "--stats", "cg-no-such-container"]);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let stderr = env.run_fail(&["events", "cg-no-such-container"]);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let c = start_sleeper(&env, "cg-events-bad");
    let stderr = env.run_fail(&["events", "--interval", "0s", &c.id]);
    assert!(stderr.contains("greater than 0"), "{stderr}");
    let stderr = env.run_fail(&["events", "--interval", "soon", &c.id]);
    assert!(stderr.contains("--interval"), "{stderr}");
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn stopped_container_refuses_pause_update_events() {
    let env = TestEnv::new("cg-stopped");
    let c = start_sleeper(&env, "cg-stopped");
    env.run_ok(&["update", "--memory", "64m", &c.id]);
    stop(&env, &c);
    assert_eq!(env.state(&c.id)["status"], "stopped");

    let stderr = env.run_fail(&["pause", &c.id]);
    assert!(stderr.contains("container not running"), "{stderr}");
    let stderr = env.run_fail(&["resume", &c.id]);
    assert!(stderr.contains("container not paused"), "{stderr}");
    let stderr = env.run_fail(&["update", "--memory", "32m", &c.id]);
    assert!(stderr.contains("container not running"), "{stderr}");
    let stderr = env.run_fail(&["events", "--stats", &c.id]);
    assert!(stderr.contains("is not running"), "{stderr}");
    assert_eq!(
        stdout_json(&env.run_ok(&["ps", "--format", "json", &c.id])),
        json!([])
    );
    assert_eq!(env.state(&c.id)["status"], "stopped");
    env.run_ok(&["delete", &c.id]);
    let stderr = env.run_fail(&["pause", &c.id]);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

/// go-runc's `Ps` decodes the output of `ps --format json` as `[]int`: a bare array, one line.
#[test]
fn ps_json_is_a_plain_int_array() {
    let env = TestEnv::new("cg-ps-shape");
    let c = start_sleeper(&env, "cg-ps-shape");
    let text = env.run_ok(&["ps", "-f", "json", &c.id]);
    assert_eq!(
        text,
        format!("[{}]\n", c.pid),
        "exact bytes go-runc decodes"
    );
    env.run_ok(&["delete", "--force", &c.id]);
}

#[test]
fn created_container_can_be_paused_and_updated() {
    let env = TestEnv::new("cg-created");
    let id = format!("cg-created-{}", std::process::id());
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["create", "--bundle", path_str(&bundle), &id]);
    let _thaw = ThawOnDrop(id.clone());
    // runc allows pausing a created container (its status is Running or Created).
    env.run_ok(&["pause", &id]);
    assert!(
        kernel_frozen(&id),
        "pause of a created container did not freeze it"
    );
    env.run_ok(&["resume", &id]);
    assert!(!kernel_frozen(&id), "resume did not thaw");
    env.run_ok(&["update", "--pids-limit", "15", &id]);
    assert_eq!(pids_max(&id), "15");
    assert_eq!(env.state(&id)["status"], "created");
    env.run_ok(&["delete", "--force", &id]);
}

#[test]
fn delete_force_removes_a_paused_container() {
    let env = TestEnv::new("cg-paused-delete");
    let c = start_sleeper(&env, "cg-paused-delete");
    let _thaw = ThawOnDrop(c.id.clone());
    env.run_ok(&["pause", &c.id]);
    env.run_ok(&["delete", "--force", &c.id]);
    assert!(!pid_alive(c.pid), "init {} survived delete --force", c.pid);
    let left = cgroup_dirs(&c.id);
    assert!(left.is_empty(), "the cgroup is left behind: {left:?}");
}

#[test]
fn exec_in_a_paused_or_stopped_container_is_refused() {
    let env = TestEnv::new("cg-exec-refused");
    let c = start_sleeper(&env, "cg-exec-refused");
    let _thaw = ThawOnDrop(c.id.clone());
    env.run_ok(&["pause", &c.id]);
    let err = env.run_fail(&["exec", &c.id, "true"]);
    assert!(err.contains("cannot exec in a paused container"), "{err}");
    assert_eq!(
        env.state(&c.id)["status"],
        "paused",
        "a refused exec changed the container"
    );
    env.run_ok(&["resume", &c.id]);
    stop(&env, &c);
    let err = env.run_fail(&["exec", &c.id, "true"]);
    assert!(err.contains("cannot exec in a stopped container"), "{err}");
    assert_eq!(env.state(&c.id)["status"], "stopped");
    env.run_ok(&["delete", &c.id]);
}

/// cpu shares as the kernel holds them: v1 cpu.shares, v2 cpu.weight.
fn cpu_weight(id: &str) -> String {
    read_trimmed(&cgroup_file(id, "cpu", "cpu.shares", "cpu.weight"))
}

/// The cfs quota: v1 cpu.cfs_quota_us, v2 the first field of cpu.max.
fn cpu_quota(id: &str) -> String {
    let text = read_trimmed(&cgroup_file(id, "cpu", "cpu.cfs_quota_us", "cpu.max"));
    text.split_whitespace().next().unwrap_or("").to_string()
}

fn update_stdin(env: &TestEnv, id: &str, doc: &str) {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = env.dir.join(format!("update-{n}.json"));
    std::fs::write(&path, doc).expect("write doc");
    let out = env
        .podrun_cmd()
        .args(["update", "--resources", "-", id])
        .stdin(File::open(&path).expect("open doc"))
        .output()
        .expect("run podrun update");
    assert!(
        out.status.success(),
        "update -r - {doc}: {}",
        describe(&out)
    );
}

/// Docker sends a 0 for every resource it does not set: create with `"shares":0` gets the
/// kernel's default weight (1024 on v1, 100 on v2 — what runc gives), and `docker update
/// --memory 64m` / `--cpus 1.5` (their documents captured from Docker) change only memory,
/// only the quota.
#[test]
fn docker_zero_values_mean_unset() {
    let env = TestEnv::new("cg-zeros");
    let c = start_sleeper_with(&env, "cg-zeros", |spec| {
        spec["linux"]["resources"]["cpu"] = json!({"shares": 0, "quota": 0, "period": 0});
        spec["linux"]["resources"]["memory"] =
            json!({"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0});
        spec["linux"]["resources"]["blockIO"] = json!({"weight": 0});
        spec["linux"]["resources"]["pids"] = json!({"limit": 0});
    });
    let v2 = !on_v1("cpu");
    let default_weight = if v2 { "100" } else { "1024" };
    assert_eq!(cpu_weight(&c.id), default_weight, "shares 0 is the default");
    assert_eq!(cpu_quota(&c.id), if v2 { "max" } else { "-1" });

    env.run_ok(&[
        "update",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "50000",
        &c.id,
    ]);
    let weight = cpu_weight(&c.id);
    update_stdin(
        &env,
        &c.id,
        r#"{"memory":{"limit":67108864,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#,
    );
    assert_eq!(memory_limit(&c.id), (64u64 << 20).to_string());
    assert_eq!(cpu_weight(&c.id), weight, "cpu shares untouched");
    assert_eq!(cpu_quota(&c.id), "50000", "cfs quota untouched");
    update_stdin(
        &env,
        &c.id,
        r#"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":150000,"period":100000},"blockIO":{"weight":0}}"#,
    );
    assert_eq!(cpu_quota(&c.id), "150000");
    assert_eq!(
        memory_limit(&c.id),
        (64u64 << 20).to_string(),
        "memory untouched"
    );
    assert_eq!(cpu_weight(&c.id), weight);
    assert!(pid_alive(c.pid), "the container died during updates");
    env.run_ok(&["delete", "--force", &c.id]);
}

/// runc, same `"shares":0` config: the same default (this host's layout, whatever it is).
#[test]
fn zero_shares_match_runc() {
    let runc = Path::new(crate::common::clients::RUNC);
    if !runc.exists() {
        panic!("{} is needed for this comparison", runc.display());
    }
    let env = TestEnv::new("cg-zeros-runc");
    let id = format!("cg-zeros-runc-{}", std::process::id());
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["sleep", "100"]);
        spec["linux"]["resources"]["cpu"] = json!({"shares": 0});
    });
    let root = env.dir.join("runc-root");
    struct RuncGuard<'a>(&'a Path, &'a Path, &'a str);
    impl Drop for RuncGuard<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new(self.0)
                .arg("--root")
                .arg(self.1)
                .args(["delete", "--force", self.2])
                .output();
        }
    }
    let _guard = RuncGuard(runc, &root, &id);
    // The detached container keeps runc's stdio: a file, not a pipe (a pipe would be held
    // open until the sleep ends).
    let log = env.dir.join("runc-run.err");
    let status = std::process::Command::new(runc)
        .arg("--root")
        .arg(&root)
        .args(["run", "-d", "--bundle", path_str(&bundle), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("create log"))
        .status()
        .expect("run runc");
    assert!(
        status.success(),
        "runc run: {status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // runc's default cgroup path for a container without cgroupsPath is /<id>.
    let runc_weight = read_trimmed(&cgroup_file_at(
        &format!("/{id}"),
        "cpu",
        "cpu.shares",
        "cpu.weight",
    ));
    let c = start_sleeper_with(&env, "cg-zeros-podrun", |spec| {
        spec["linux"]["resources"]["cpu"] = json!({"shares": 0});
    });
    assert_eq!(cpu_weight(&c.id), runc_weight);
    env.run_ok(&["delete", "--force", &c.id]);
}

/// Device rules are enforced whether the config lists them or not (runc: deny-all plus the
/// default allowances): a block device made with mknod cannot be read; /dev/null can.
#[test]
fn block_devices_are_refused_with_and_without_rules() {
    for (name, has_rules) in [("cg-dev-rules", true), ("cg-dev-norules", false)] {
        let env = TestEnv::new(name);
        let c = start_sleeper_with(&env, name, |spec| {
            if !has_rules {
                spec["linux"]["resources"]
                    .as_object_mut()
                    .expect("resources")
                    .remove("devices");
            }
            for set in ["bounding", "effective", "permitted"] {
                spec["process"]["capabilities"][set]
                    .as_array_mut()
                    .expect("caps")
                    .push(json!("CAP_MKNOD"));
            }
            spec["mounts"].as_array_mut().expect("mounts").push(json!({
                "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "mode=1777"]
            }));
        });
        let out = env.podrun(&[
            "exec",
            &c.id,
            "sh",
            "-c",
            "mknod /tmp/r b 7 0 && head -c 1 /tmp/r; echo rc=$?; head -c 1 /dev/null && echo null-ok",
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Operation not permitted") && text.contains("rc=1"),
            "{name}: reading a block device was not refused: {text}"
        );
        assert!(text.contains("null-ok"), "{name}: /dev/null: {text}");
        env.run_ok(&["delete", "--force", &c.id]);
    }
}

/// Every directory of container `id`'s default cgroup that exists, on v1, v2 and hybrid.
fn any_cgroup_dir(id: &str) -> Vec<PathBuf> {
    cgroup_dirs(id)
}

/// runtime-spec: a property that cannot be applied fails create and leaves nothing. A 3MB
/// hugepage size does not exist; net_cls is not mounted here (and has no v2 form).
#[test]
fn unappliable_resources_fail_create_and_leave_nothing() {
    let env = TestEnv::new("cg-unappliable");
    let cases: [(&str, Value, &str); 2] = [
        (
            "hugepageLimits",
            json!([{"pageSize": "3MB", "limit": 4194304}]),
            "3MB",
        ),
        ("network", json!({"classID": 1048577}), "net_cls"),
    ];
    for (n, (field, value, want)) in cases.into_iter().enumerate() {
        if field == "network" && on_v1("net_cls") {
            continue;
        }
        let id = format!("cg-unappliable-{n}-{}", std::process::id());
        let bundle = env.bundle("sleeper", |spec| {
            spec["linux"]["resources"][field] = value;
        });
        let stderr = env.run_fail(&["run", "-d", "--bundle", path_str(&bundle), &id]);
        assert!(stderr.contains(want), "{field}: {stderr}");
        assert!(
            any_cgroup_dir(&id).is_empty(),
            "{field}: cgroup left behind: {:?}",
            any_cgroup_dir(&id)
        );
        let state = env.podrun(&["state", &id]);
        assert!(!state.status.success(), "{field}: the container exists");
    }
}

/// `update --resources` with device rules replaces the container's: a block device that was
/// refused can be read after an allow rule, and is refused again after the next update.
#[test]
fn update_changes_device_rules() {
    let env = TestEnv::new("cg-dev-update");
    let c = start_sleeper_with(&env, "cg-dev-update", |spec| {
        for set in ["bounding", "effective", "permitted"] {
            spec["process"]["capabilities"][set]
                .as_array_mut()
                .expect("caps")
                .push(json!("CAP_MKNOD"));
        }
        spec["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "mode=1777"]
        }));
    });
    let try_read = || {
        let out = env.podrun(&[
            "exec",
            &c.id,
            "sh",
            "-c",
            "[ -e /tmp/r ] || mknod /tmp/r b 7 0; head -c 1 /tmp/r >/dev/null; head -c 1 /dev/zero >/dev/null && echo zero-ok",
        ]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let before = try_read();
    assert!(before.contains("Operation not permitted"), "{before}");
    update_stdin(
        &env,
        &c.id,
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"minor":0,"access":"r"}]}"#,
    );
    let allowed = try_read();
    assert!(
        !allowed.contains("Operation not permitted") && allowed.contains("zero-ok"),
        "{allowed}"
    );
    update_stdin(
        &env,
        &c.id,
        r#"{"devices":[{"allow":false,"access":"rwm"}]}"#,
    );
    let again = try_read();
    assert!(
        again.contains("Operation not permitted") && again.contains("zero-ok"),
        "{again}"
    );
    assert!(pid_alive(c.pid));
    env.run_ok(&["delete", "--force", &c.id]);
}
