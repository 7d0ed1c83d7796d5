//! The outputs of the go-runc calls that the client suites (containerd.rs, podman.rs) do not
//! reach, side by side with runc on the same bundle: `state` and `list --format json` (go-runc
//! State/List), `ps --format json` and the `ps` table (Ps/Top), `events --stats` (Stats),
//! `update --resources -` (Update), `--version` (Version) and `features`. What go-runc parses
//! must have the same shape and values under both runtimes.

use serde_json::{json, Value};

use crate::common::clients::{remove_cgroup_trees, runtimes};
use crate::common::{describe, TestEnv};
use crate::lifecycle::s;

/// What one runtime showed, runtime-independent (pids and times taken out).
#[derive(Debug, PartialEq)]
struct Shapes {
    state_keys: Vec<String>,
    status_running: String,
    list: Vec<Vec<String>>,
    ps_json_is_init: bool,
    top_header: String,
    top_has_init: bool,
    stats_type_id: (String, String),
    stats_has: Vec<(String, bool)>,
    pids_current: Value,
    limits_after_update: (Value, Value),
    state_after_delete_fails: bool,
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn shapes(env: &TestEnv, name: &str, binary: &std::path::Path, cgroup_parent: &str) -> Shapes {
    let root = env.dir.join(format!("root-{name}"));
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = std::process::Command::new(binary);
        cmd.arg("--root").arg(&root).args(args);
        match stdin {
            None => env.output_via_files(&mut cmd),
            Some(text) => {
                let file = env.dir.join(format!("stdin-{name}"));
                std::fs::write(&file, text).expect("write stdin file");
                cmd.stdin(std::fs::File::open(&file).expect("open stdin file"));
                cmd.output().expect("run with stdin")
            }
        }
    };
    let ok = |args: &[&str], stdin: Option<&str>| -> String {
        let out = run(args, stdin);
        assert!(
            out.status.success(),
            "{name} {}: {}",
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let json = |args: &[&str]| -> Value {
        let text = ok(args, None);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} {args:?}: {e}: {text}"))
    };
    let id = "gorunc";
    let bundle = env.bundle("sleeper", |spec| {
        spec["linux"]["cgroupsPath"] = json!(format!("/{cgroup_parent}/{name}"));
    });
    ok(&["run", "-d", "--bundle", s(&bundle), id], None);
    let state = json(&["state", id]);
    let pid = state["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "{name}: {state}");
    let list = json(&["list", "--format", "json"]);
    let ps = json(&["ps", "--format", "json", id]);
    let top = ok(&["ps", id], None);
    let mut top_lines = top.lines();
    let top_header = top_lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let top_has_init = top_lines.any(|l| l.split_whitespace().nth(1) == Some(&pid.to_string()));
    let stats = json(&["events", "--stats", id]);
    let resources = r#"{"memory":{"limit":33554432},"pids":{"limit":100}}"#;
    ok(&["update", "--resources", "-", id], Some(resources));
    let after = json(&["events", "--stats", id]);
    ok(&["kill", id, "KILL"], None);
    crate::lifecycle::wait_until(
        &format!("{name} container to stop"),
        std::time::Duration::from_secs(10),
        || json(&["state", id])["status"] == "stopped",
    );
    ok(&["delete", id], None);
    let state_after_delete_fails = !run(&["state", id], None).status.success();
    Shapes {
        state_keys: keys(&state),
        status_running: state["status"].as_str().unwrap_or_default().to_string(),
        list: list
            .as_array()
            .map(|a| a.iter().map(keys).collect())
            .unwrap_or_default(),
        ps_json_is_init: ps == json!([pid]),
        top_header,
        top_has_init,
        stats_type_id: (
            stats["type"].as_str().unwrap_or_default().into(),
            stats["id"].as_str().unwrap_or_default().into(),
        ),
        stats_has: ["memory", "pids", "cpu", "blkio"]
            .iter()
            .map(|k| (k.to_string(), stats["data"][k].is_object()))
            .collect(),
        pids_current: stats["data"]["pids"]["current"].clone(),
        limits_after_update: (
            after["data"]["memory"]["usage"]["limit"].clone(),
            after["data"]["pids"]["limit"].clone(),
        ),
        state_after_delete_fails,
    }
}

#[test]
fn gorunc_outputs_match_runc() {
    let env = TestEnv::new("gorunc");
    let cgroup_parent = format!("podrun-test-gorunc-{}", std::process::id());
    struct Cg(String);
    impl Drop for Cg {
        fn drop(&mut self) {
            remove_cgroup_trees(&self.0);
        }
    }
    let _cg = Cg(cgroup_parent.clone());
    let mut all = Vec::new();
    for (name, binary) in runtimes() {
        all.push(shapes(&env, name, &binary, &cgroup_parent));
        // Version: runc's three lines. go-runc takes the version only from a first line
        // "runc version X": for podrun (as for crun) it gets empty fields, and no error.
        let out = env.output_via_files(std::process::Command::new(&binary).arg("--version"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.len() >= 3
                && lines[0].starts_with(&format!("{name} version "))
                && lines[1].starts_with("commit: ")
                && lines[2].starts_with("spec: "),
            "{name} --version: {text}"
        );
    }
    let (want, got) = (&all[0], &all[1]);
    assert_eq!(want.status_running, "running");
    assert!(want.ps_json_is_init && want.top_has_init, "{want:?}");
    assert_eq!(want.top_header, "UID PID PPID C STIME TTY TIME CMD");
    assert_eq!(
        want.limits_after_update,
        (json!(33554432), json!(100)),
        "{want:?}"
    );
    assert_eq!(got, want, "podrun's go-runc outputs differ from runc's");

    // features: every top-level section runc reports, podrun reports too.
    let features = |binary: &std::path::Path| -> Value {
        let out = env.output_via_files(std::process::Command::new(binary).arg("features"));
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice(&out.stdout).expect("features JSON")
    };
    let [(_, runc), (_, podrun)] = runtimes();
    let (fr, fp) = (features(&runc), features(&podrun));
    for k in keys(&fr) {
        assert!(fp.get(&k).is_some(), "podrun features lacks {k:?}: {fp}");
    }
}
