//! OCI hooks through the CLI: what a hook receives, and what a failing or hanging hook does to
//! the container's lifecycle (runtime-spec "Lifecycle" and "POSIX-platform Hooks").

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{pid_alive, TestEnv};

/// A `/bin/sh -c script` hook (runs in the runtime namespace) with `OUT=<out>` in its env.
fn sh_hook(script: &str, out: &Path, timeout: Option<u64>) -> Value {
    let mut hook = json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script],
        "env": [format!("OUT={}", out.display())],
    });
    if let Some(t) = timeout {
        hook["timeout"] = json!(t);
    }
    hook
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hook did not write {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text:?}", path.display()))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn json_pid(v: &Value) -> i32 {
    let pid = v["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {v}"));
    i32::try_from(pid).unwrap_or_else(|_| panic!("pid out of range in {v}"))
}

#[test]
fn prestart_hook_receives_the_creating_state() {
    let env = TestEnv::new("hook-prestart");
    let out = env.dir.join("prestart-state.json");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({ "prestart": [sh_hook("cat > \"$OUT\"", &out, Some(30))] });
    });
    env.run_ok(&["create", "--bundle", path_str(&bundle), "hook-prestart"]);
    let seen = read_json(&out);
    assert_eq!(seen["id"], "hook-prestart", "{seen}");
    // runtime-spec: prestart, createRuntime and createContainer hooks see status "creating".
    assert_eq!(seen["status"], "creating", "{seen}");
    assert_eq!(seen["bundle"], path_str(&bundle), "{seen}");
    assert!(seen["ociVersion"].is_string(), "{seen}");
    let pid = json_pid(&seen);
    assert!(pid_alive(pid), "the container's init {pid} is not running");
    let state = env.state("hook-prestart");
    assert_eq!(state["status"], "created");
    assert_eq!(
        json_pid(&state),
        pid,
        "the hook saw another pid than `state` reports"
    );
    env.run_ok(&["delete", "--force", "hook-prestart"]);
    assert!(
        !pid_alive(pid),
        "init {pid} still runs after delete --force"
    );
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let env = TestEnv::new("hook-createruntime");
    let out = env.dir.join("state.json");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({ "createRuntime": [sh_hook("cat > \"$OUT\"; exit 7", &out, None)] });
    });
    let stderr = env.run_fail(&["create", "--bundle", path_str(&bundle), "hook-cr"]);
    assert!(
        stderr.contains("createRuntime hook /bin/sh"),
        "error does not name the hook: {stderr}"
    );
    assert!(
        stderr.contains("exited with status 7"),
        "error does not give the status: {stderr}"
    );
    let pid = json_pid(&read_json(&out));
    assert!(
        !pid_alive(pid),
        "the init {pid} of the failed container still runs"
    );
    assert!(!env.root.join("hook-cr").exists(), "state dir left behind");
    assert_eq!(env.container_ids(), Vec::<String>::new());
    env.run_fail(&["state", "hook-cr"]);
}

#[test]
fn prestart_hook_timeout_fails_create_and_kills_the_hook() {
    let env = TestEnv::new("hook-timeout");
    let out = env.dir.join("hook.pid");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({ "prestart": [sh_hook("echo $$ > \"$OUT\"; exec sleep 10", &out, Some(1))] });
    });
    let stderr = env.run_fail(&["create", "--bundle", path_str(&bundle), "hook-timeout"]);
    assert!(
        stderr.contains("prestart hook /bin/sh"),
        "error does not name the hook: {stderr}"
    );
    assert!(
        stderr.contains("timed out after 1s"),
        "error does not say it timed out: {stderr}"
    );
    let text = std::fs::read_to_string(&out).expect("hook pid file");
    let hook_pid: i32 = text.trim().parse().expect("hook pid");
    assert!(
        !pid_alive(hook_pid),
        "the timed-out hook {hook_pid} still runs"
    );
    assert_eq!(
        env.container_ids(),
        Vec::<String>::new(),
        "state left behind"
    );
}

#[test]
fn failing_poststop_hook_only_warns() {
    let env = TestEnv::new("hook-poststop");
    let out = env.dir.join("poststop-state.json");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({ "poststop": [
            sh_hook("exit 1", &out, None),
            sh_hook("cat > \"$OUT\"", &out, Some(30)),
        ] });
    });
    env.run_ok(&["create", "--bundle", path_str(&bundle), "hook-poststop"]);
    let pid = json_pid(&env.state("hook-poststop"));
    let output = env.podrun(&["delete", "--force", "hook-poststop"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "delete failed because of a poststop hook: {stderr}"
    );
    assert!(
        stderr.contains("poststop hook /bin/sh: exited with status 1"),
        "no warning logged: {stderr}"
    );
    // The hook after the failing one still ran, after the container was gone.
    let seen = read_json(&out);
    assert_eq!(seen["id"], "hook-poststop", "{seen}");
    assert!(
        !pid_alive(pid),
        "init {pid} still runs after delete --force"
    );
    assert_eq!(
        env.container_ids(),
        Vec::<String>::new(),
        "state left behind"
    );
}

/// A hook that records, under `dir` (a path as the hook sees it), in `<kind>.*` files: its
/// network and mount namespaces, the state JSON from stdin, whether `probe` exists (a host
/// path: visible until pivot_root), whether the state dir `state_dir` still exists, and the
/// command of PID 1 as the hook sees it.
fn recording_hook(kind: &str, dir: &str, probe: &Path, state_dir: &Path) -> Value {
    let script = format!(
        "d={dir}/{kind}; readlink /proc/self/ns/net > $d.net; readlink /proc/self/ns/mnt > $d.mnt; \
         cat > $d.state; if [ -e {probe} ]; then echo host > $d.root; else echo container > $d.root; fi; \
         if [ -e {state} ]; then echo present > $d.statedir; else echo gone > $d.statedir; fi; \
         cat /proc/1/comm > $d.pid1",
        probe = path_str(probe),
        state = path_str(state_dir),
    );
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "timeout": 30,
    })
}

fn recorded(dir: &Path, kind: &str, what: &str) -> String {
    let file = dir.join(format!("{kind}.{what}"));
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("the {kind} hook did not write {}: {e}", file.display()))
        .trim()
        .to_string()
}

fn ns_of(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// runtime-spec "Lifecycle" and "POSIX-platform Hooks": prestart and createRuntime run during
/// `create` in the runtime's namespaces; createContainer during `create` in the container's
/// namespaces before pivot_root (the host's files still visible); startContainer during `start`
/// in the container's namespaces after pivot_root, before the user process runs; poststart in
/// the runtime's namespaces before `start` returns; poststop in the runtime's namespaces after
/// the container is deleted, before `delete` returns.
#[test]
fn hooks_run_in_their_namespaces_at_their_moments() {
    let env = TestEnv::new("hook-moments");
    let out = env.dir.join("hooks");
    std::fs::create_dir(&out).expect("mkdir hooks");
    let probe = env.dir.join("host-only-probe");
    std::fs::write(&probe, "host").expect("write probe");
    let id = "hook-moments";
    let state_dir = env.root.join(id);
    let host = path_str(&out).to_string();
    let bundle = env.bundle("sleeper", |spec| {
        spec["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/hooks", "type": "bind", "source": path_str(&out), "options": ["rbind", "rw"]
        }));
        spec["hooks"] = json!({
            "prestart": [recording_hook("prestart", &host, &probe, &state_dir)],
            "createRuntime": [recording_hook("createRuntime", &host, &probe, &state_dir)],
            "createContainer": [recording_hook("createContainer", &host, &probe, &state_dir)],
            // resolved and run inside the container: its view of the bind mount
            "startContainer": [recording_hook("startContainer", "/hooks", &probe, &state_dir)],
            "poststart": [recording_hook("poststart", &host, &probe, &state_dir)],
            "poststop": [recording_hook("poststop", &host, &probe, &state_dir)],
        });
    });
    let runtime_net = ns_of("self", "net");
    let runtime_mnt = ns_of("self", "mnt");

    env.run_ok(&["create", "--bundle", path_str(&bundle), id]);
    let pid = json_pid(&env.state(id));
    let (container_net, container_mnt) = (
        ns_of(&pid.to_string(), "net"),
        ns_of(&pid.to_string(), "mnt"),
    );
    assert_ne!(
        container_net, runtime_net,
        "the container has no netns of its own"
    );
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let st = read_json(&out.join(format!("{kind}.state")));
        assert_eq!(st["status"], "creating", "{kind}: {st}");
        assert_eq!(json_pid(&st), pid, "{kind}: {st}");
        assert_eq!(
            recorded(&out, kind, "root"),
            "host",
            "{kind} ran after pivot_root"
        );
    }
    for kind in ["prestart", "createRuntime"] {
        assert_eq!(
            recorded(&out, kind, "net"),
            runtime_net,
            "{kind} not in the runtime netns"
        );
        assert_eq!(
            recorded(&out, kind, "mnt"),
            runtime_mnt,
            "{kind} not in the runtime mount ns"
        );
    }
    assert_eq!(
        recorded(&out, "createContainer", "net"),
        container_net,
        "createContainer not in the container's netns"
    );
    assert_eq!(
        recorded(&out, "createContainer", "mnt"),
        container_mnt,
        "createContainer not in the container's mount ns"
    );
    for kind in ["startContainer", "poststart", "poststop"] {
        assert!(
            !out.join(format!("{kind}.state")).exists(),
            "{kind} ran during create"
        );
    }

    env.run_ok(&["start", id]);
    // startContainer: inside the container, after pivot_root, before the user process (PID 1
    // is still podrun's init, not yet `sleep`).
    let st = read_json(&out.join("startContainer.state"));
    assert_eq!(st["id"], id, "{st}");
    assert_eq!(
        st["status"], "created",
        "startContainer sees the created state (as with runc): {st}"
    );
    assert_eq!(
        recorded(&out, "startContainer", "root"),
        "container",
        "startContainer ran before pivot_root"
    );
    assert_eq!(recorded(&out, "startContainer", "net"), container_net);
    assert_eq!(recorded(&out, "startContainer", "mnt"), container_mnt);
    assert_ne!(
        recorded(&out, "startContainer", "pid1"),
        "sleep",
        "startContainer ran after the user process started"
    );
    // poststart: before `start` returned, in the runtime's namespaces.
    let st = read_json(&out.join("poststart.state"));
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(json_pid(&st), pid, "{st}");
    assert_eq!(recorded(&out, "poststart", "net"), runtime_net);
    assert_eq!(recorded(&out, "poststart", "mnt"), runtime_mnt);
    assert!(
        !out.join("poststop.state").exists(),
        "poststop ran before delete"
    );

    env.run_ok(&["delete", "--force", id]);
    let st = read_json(&out.join("poststop.state"));
    assert_eq!(st["id"], id, "{st}");
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(recorded(&out, "poststop", "net"), runtime_net);
    assert_eq!(recorded(&out, "poststop", "mnt"), runtime_mnt);
    assert_eq!(
        recorded(&out, "poststop", "statedir"),
        "gone",
        "poststop ran before the container was deleted"
    );
    assert!(
        !pid_alive(pid),
        "init {pid} still runs after delete --force"
    );
}

/// A failing createContainer hook (run by the init, in the container) fails `create`, names
/// the hook, and leaves no process or state; a failing startContainer hook fails `start` with
/// the hook's error, the container stops and its process never runs.
#[test]
fn failing_create_container_and_start_container_hooks() {
    let env = TestEnv::new("hook-cc-sc");
    let out = env.dir.join("cc.json");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] =
            json!({ "createContainer": [sh_hook("cat > \"$OUT\"; exit 5", &out, Some(30))] });
    });
    let stderr = env.run_fail(&["create", "--bundle", path_str(&bundle), "hook-cc"]);
    assert!(
        stderr.contains("createContainer hook /bin/sh"),
        "error does not name the hook: {stderr}"
    );
    assert!(stderr.contains("exited with status 5"), "{stderr}");
    let pid = json_pid(&read_json(&out));
    assert!(
        !pid_alive(pid),
        "the init {pid} of the failed container still runs"
    );
    assert_eq!(
        env.container_ids(),
        Vec::<String>::new(),
        "state left behind"
    );

    let marker = env.dir.join("ran");
    std::fs::create_dir(&marker).expect("mkdir ran");
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", "echo ran > /ran/user-process; exec sleep 3600"]);
        spec["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/ran", "type": "bind", "source": path_str(&marker), "options": ["rbind", "rw"]
        }));
        spec["hooks"] = json!({ "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 6"]}] });
    });
    env.run_ok(&["create", "--bundle", path_str(&bundle), "hook-sc"]);
    let pid = json_pid(&env.state("hook-sc"));
    let stderr = env.run_fail(&["start", "hook-sc"]);
    assert!(
        stderr.contains("startContainer hook /bin/sh"),
        "start does not name the failing hook: {stderr}"
    );
    assert!(stderr.contains("exited with status 6"), "{stderr}");
    crate::lifecycle::wait_until(
        "the init to die",
        std::time::Duration::from_secs(10),
        || !pid_alive(pid),
    );
    assert!(
        !marker.join("user-process").exists(),
        "the user process ran after a failing startContainer hook"
    );
    assert_eq!(crate::lifecycle::status_of(&env, "hook-sc"), "stopped");
    env.run_ok(&["delete", "hook-sc"]);
}
