//! Bad input: every failing `create` names the problem, exits non-zero and leaves nothing
//! behind (no state dir, no process, no cgroup, no mount), and the id is free again at once.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{cgroup_dirs, count_mounts_containing, pid_alive, TestEnv};
use crate::lifecycle::{create_sleeper, s, state_pid, status_of};

/// Pids of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter(|pid| pid_alive(*pid))
        .collect()
}

/// Asserts that a failed create of `id` from `bundle` left nothing behind.
fn assert_nothing_left(env: &TestEnv, id: &str, bundle: &Path, mounts_before: usize) {
    assert!(!env.root.join(id).exists(), "a state dir was left for {id}");
    assert!(
        env.container_ids().is_empty(),
        "containers left: {:?}",
        env.container_ids()
    );
    assert_eq!(
        processes_mentioning(s(bundle)),
        Vec::<i32>::new(),
        "processes of the failed create are left"
    );
    assert_eq!(
        cgroup_dirs(id),
        Vec::<PathBuf>::new(),
        "cgroup dirs are left"
    );
    assert_eq!(
        count_mounts_containing(s(&env.dir)),
        mounts_before,
        "new mounts are left"
    );
}

/// Creates `id` from a good sleeper bundle, checks it, and deletes it.
fn assert_id_reusable(env: &TestEnv, id: &str) {
    let good = env.bundle("sleeper", |_| {});
    env.run_ok(&["create", "--bundle", s(&good), id]);
    let pid = state_pid(&env.state(id));
    assert!(pid_alive(pid));
    env.run_ok(&["delete", "--force", id]);
    assert!(!pid_alive(pid));
}

/// `create` of `bundle` must fail with every one of `needles` in the message, leave nothing,
/// and the id must be usable right after. Returns the message.
fn create_fails(env: &TestEnv, id: &str, bundle: &Path, needles: &[&str]) -> String {
    let mounts_before = count_mounts_containing(s(&env.dir));
    let err = env.run_fail(&["create", "--bundle", s(bundle), id]);
    for n in needles {
        assert!(err.contains(n), "the error lacks {n:?}: {err}");
    }
    assert_nothing_left(env, id, bundle, mounts_before);
    assert_id_reusable(env, id);
    err
}

fn write_config(env: &TestEnv, text: &str) -> PathBuf {
    let bundle = env.bundle("hello", |_| {});
    std::fs::write(bundle.join("config.json"), text).expect("write config.json");
    bundle
}

#[test]
fn bad_json_names_line_and_column() {
    let env = TestEnv::new("err-json");
    let bundle = write_config(
        &env,
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": ,\n}\n",
    );
    let err = create_fails(
        &env,
        "badjson",
        &bundle,
        &["config.json", "line 3", "column"],
    );
    assert!(!err.is_empty());
}

#[test]
fn missing_config_json() {
    let env = TestEnv::new("err-noconfig");
    let bundle = env.bundle("hello", |_| {});
    std::fs::remove_file(bundle.join("config.json")).expect("rm config.json");
    create_fails(&env, "noconfig", &bundle, &["config.json"]);
    // A bundle dir that does not exist at all.
    let missing = env.dir.join("no-such-bundle");
    let err = env.run_fail(&["create", "--bundle", s(&missing), "nobundle"]);
    assert!(err.contains("no-such-bundle"), "{err}");
    assert!(env.container_ids().is_empty());
}

#[test]
fn missing_rootfs() {
    let env = TestEnv::new("err-norootfs");
    let gone = env.dir.join("no-rootfs-here");
    let bundle = env.bundle("sleeper", |spec| spec["root"]["path"] = json!(s(&gone)));
    create_fails(&env, "norootfs", &bundle, &["no-rootfs-here"]);
}

#[test]
fn missing_process() {
    let env = TestEnv::new("err-noprocess");
    let bundle = env.bundle("sleeper", |spec| {
        spec.as_object_mut().expect("spec").remove("process");
    });
    create_fails(&env, "noprocess", &bundle, &["process"]);
}

#[test]
fn empty_args() {
    let env = TestEnv::new("err-emptyargs");
    let bundle = env.bundle("sleeper", |spec| spec["process"]["args"] = json!([]));
    create_fails(&env, "emptyargs", &bundle, &["args"]);
}

#[test]
fn relative_cwd() {
    let env = TestEnv::new("err-relcwd");
    let bundle = env.bundle("sleeper", |spec| spec["process"]["cwd"] = json!("tmp"));
    create_fails(&env, "relcwd", &bundle, &["cwd", "tmp"]);
}

#[test]
fn relative_paths_where_absolute_are_required() {
    let env = TestEnv::new("err-relpaths");
    let bundle = env.bundle("sleeper", |spec| {
        spec["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"destination": "rel/dest", "type": "tmpfs", "source": "tmpfs"}));
    });
    create_fails(
        &env,
        "relmount",
        &bundle,
        &["mounts", "rel/dest", "absolute"],
    );
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({"prestart": [{"path": "bin/true"}]});
    });
    create_fails(
        &env,
        "relhook",
        &bundle,
        &["prestart", "bin/true", "absolute"],
    );
    let bundle = env.bundle("sleeper", |spec| {
        let list = spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        list.retain(|n| n["type"] != "network");
        list.push(json!({"type": "network", "path": "proc/1/ns/net"}));
    });
    create_fails(
        &env,
        "relns",
        &bundle,
        &["network", "proc/1/ns/net", "absolute"],
    );
}

#[test]
fn bad_sysctl_is_named() {
    let env = TestEnv::new("err-sysctl");
    let bundle = env.bundle("sleeper", |spec| {
        spec["linux"]["sysctl"] = json!({"net.ipv4.no_such_sysctl_podrun": "1"});
    });
    create_fails(
        &env,
        "badsysctl",
        &bundle,
        &["linux.sysctl", "net.ipv4.no_such_sysctl_podrun"],
    );
    let bundle = env.bundle("sleeper", |spec| {
        spec["linux"]["sysctl"] = json!({"../../../etc/passwd": "x"});
    });
    create_fails(&env, "badsysctl", &bundle, &["linux.sysctl", "invalid key"]);
}

#[test]
fn unknown_namespace_type() {
    let env = TestEnv::new("err-nstype");
    let bundle = env.bundle("sleeper", |spec| {
        spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({ "type": "bogusns" }));
    });
    create_fails(&env, "nstype", &bundle, &["bogusns"]);
}

#[test]
fn missing_executable() {
    let env = TestEnv::new("err-noexe");
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["no-such-command", "x"])
    });
    create_fails(
        &env,
        "noexe",
        &bundle,
        &["no-such-command", "executable file not found"],
    );
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["/bin/no-such-file"])
    });
    create_fails(&env, "noexe", &bundle, &["/bin/no-such-file"]);
}

#[test]
fn rlimit_above_the_hard_maximum() {
    let env = TestEnv::new("err-rlimit");
    // This machine cannot raise nofile above 20000 (no CAP_SYS_RESOURCE).
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["rlimits"] =
            json!([{ "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1048576 }]);
    });
    let err = create_fails(&env, "rlimit", &bundle, &["RLIMIT_NOFILE"]);
    assert!(
        err.contains("EPERM") || err.contains("Operation not permitted"),
        "{err}"
    );
}

#[test]
fn invalid_ids_are_refused() {
    let env = TestEnv::new("err-ids");
    let bundle = env.bundle("sleeper", |_| {});
    for id in ["a/b", "..", ".", "x y", "", "a\nb", "pods", "../escape"] {
        let out = env.podrun(&["create", "--bundle", s(&bundle), id]);
        assert!(
            !out.status.success(),
            "create {id:?} succeeded: {}",
            crate::common::describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "no message for id {id:?}");
        if !id.is_empty() {
            assert!(
                err.contains("id"),
                "the error for {id:?} does not say id: {err}"
            );
        }
    }
    assert!(
        processes_mentioning(s(&bundle)).is_empty(),
        "a process was started"
    );
    assert!(env.container_ids().is_empty(), "{:?}", env.container_ids());
    assert!(!env.dir.join("escape").exists());
    // The valid characters are accepted.
    assert_id_reusable(&env, "Ok_id.1+2-3");
}

#[test]
fn existing_id_is_refused_and_untouched() {
    let env = TestEnv::new("err-exists");
    let pid = create_sleeper(&env, "taken");
    let before = env.state("taken");
    let other = env.bundle("hello", |_| {});
    let err = env.run_fail(&["create", "--bundle", s(&other), "taken"]);
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("taken"), "{err}");
    assert_eq!(env.state("taken"), before, "the existing container changed");
    assert!(pid_alive(pid));
    // `run` of the same id too, and the existing one still starts.
    let err = env.run_fail(&["run", "--bundle", s(&other), "taken"]);
    assert!(err.contains("already exists"), "{err}");
    assert!(pid_alive(pid));
    env.run_ok(&["start", "taken"]);
    assert_eq!(status_of(&env, "taken"), "running");
}

#[test]
fn failing_create_runtime_hook() {
    let env = TestEnv::new("err-hook");
    let bundle = env.bundle("sleeper", |spec| {
        spec["hooks"] = json!({ "createRuntime": [
            { "path": "/bin/sh", "args": ["sh", "-c", "exit 9"] }
        ]});
    });
    create_fails(&env, "hookfail", &bundle, &["createRuntime"]);
}

#[test]
fn json_log_carries_the_error() {
    let env = TestEnv::new("err-log");
    let log = env.dir.join("log.json");
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["no-such-command"])
    });
    let out = env.podrun(&[
        "--log",
        s(&log),
        "--log-format",
        "json",
        "create",
        "--bundle",
        s(&bundle),
        "logged",
    ]);
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).expect("the log file");
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("empty log"));
    let entry: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last log line not JSON ({e}): {last}"));
    assert_eq!(entry["level"], "error", "{entry}");
    let msg = entry["msg"]
        .as_str()
        .unwrap_or_else(|| panic!("no msg: {entry}"));
    assert!(msg.contains("no-such-command"), "{entry}");
    assert!(entry["time"].is_string(), "{entry}");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("log line not JSON ({e}): {line}"));
    }
    assert!(env.container_ids().is_empty());
}

/// checkpoint/restore (CRIU) are not supported: runc's command lines get a clear error, also
/// in the JSON log where containerd's shim looks for it, and nothing is touched.
#[test]
fn checkpoint_and_restore_are_refused_clearly() {
    let env = TestEnv::new("err-criu");
    let pid = crate::lifecycle::create_sleeper(&env, "criu");
    let log = env.dir.join("log.json");
    for args in [
        &[
            "checkpoint",
            "--image-path",
            "/tmp/none",
            "--leave-running",
            "criu",
        ][..],
        &[
            "restore",
            "--image-path",
            "/tmp/none",
            "--bundle",
            "/tmp",
            "criu",
        ][..],
    ] {
        let mut all = vec!["--log", s(&log), "--log-format", "json"];
        all.extend_from_slice(args);
        let out = env.podrun(&all);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            crate::common::describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{} is not supported", args[0])),
            "{err}"
        );
        assert!(err.contains("CRIU"), "{err}");
        let text = std::fs::read_to_string(&log).expect("the log file");
        let last: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("last log line not JSON ({e}): {text}"));
        assert_eq!(last["level"], "error", "{last}");
        assert!(
            last["msg"]
                .as_str()
                .is_some_and(|m| m.contains("not supported")),
            "{last}"
        );
    }
    assert_eq!(env.state("criu")["status"], "created");
    assert!(crate::common::pid_alive(pid));
}
