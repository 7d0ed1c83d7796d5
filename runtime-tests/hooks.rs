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
