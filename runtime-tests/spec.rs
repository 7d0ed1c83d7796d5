//! `podrun spec` against `runc spec` (runc 1.1, /usr/bin/runc): same bytes, same JSON.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{describe, TestEnv};

const RUNC: &str = "/usr/bin/runc";

fn read_json(path: &Path) -> (Vec<u8>, Value) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    (bytes, value)
}

/// Writes a config with `runc spec [extra]` and with `podrun spec [extra]` into two fresh dirs
/// and returns both, each as (bytes, parsed).
fn both_specs(env: &TestEnv, extra: &[&str]) -> ((Vec<u8>, Value), (Vec<u8>, Value)) {
    let runc_dir = env.dir.join("runc");
    let podrun_dir = env.dir.join("podrun");
    for d in [&runc_dir, &podrun_dir] {
        std::fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    let out = env.output_via_files(
        Command::new(RUNC)
            .arg("spec")
            .args(extra)
            .current_dir(&runc_dir),
    );
    assert!(
        out.status.success(),
        "runc spec {extra:?}: {}",
        describe(&out)
    );
    let bundle = podrun_dir.to_str().expect("utf8 path");
    let mut args = vec!["spec", "--bundle", bundle];
    args.extend_from_slice(extra);
    let stdout = env.run_ok(&args);
    assert_eq!(stdout, "", "podrun spec prints nothing");
    (
        read_json(&runc_dir.join("config.json")),
        read_json(&podrun_dir.join("config.json")),
    )
}

/// Field-by-field comparison first (a readable failure), then the bytes.
fn assert_same_spec(runc: &(Vec<u8>, Value), podrun: &(Vec<u8>, Value)) {
    let (runc_obj, podrun_obj) = (
        runc.1.as_object().expect("object"),
        podrun.1.as_object().expect("object"),
    );
    for (key, value) in runc_obj {
        assert_eq!(
            podrun_obj.get(key),
            Some(value),
            "field {key:?} differs from runc's"
        );
    }
    for key in podrun_obj.keys() {
        assert!(
            runc_obj.contains_key(key),
            "podrun writes {key:?}, runc does not"
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&podrun.0),
        String::from_utf8_lossy(&runc.0),
        "same JSON but not the same bytes (order or formatting)"
    );
}

#[test]
fn spec_matches_runc_spec() {
    let env = TestEnv::new("spec");
    let (runc, podrun) = both_specs(&env, &[]);
    assert_same_spec(&runc, &podrun);
    assert_eq!(podrun.1["ociVersion"], "1.0.2-dev");
}

#[test]
fn spec_rootless_matches_runc_spec_rootless() {
    let env = TestEnv::new("spec-rootless");
    let (runc, podrun) = both_specs(&env, &["--rootless"]);
    assert_same_spec(&runc, &podrun);
    let namespaces = podrun.1["linux"]["namespaces"].to_string();
    assert!(
        namespaces.contains("\"user\"") && !namespaces.contains("\"network\""),
        "{namespaces}"
    );
}

#[test]
fn spec_refuses_to_overwrite_like_runc() {
    let env = TestEnv::new("spec-exists");
    let config = env.dir.join("config.json");
    std::fs::write(&config, "keep me").expect("write config.json");
    let dir = env.dir.to_str().expect("utf8 path");
    let stderr = env.run_fail(&["spec", "--bundle", dir]);
    assert!(
        stderr.contains("File config.json exists. Remove it first"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config).expect("read"), "keep me");
    // runc refuses the same way.
    let out = env.output_via_files(Command::new(RUNC).arg("spec").current_dir(&env.dir));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("File config.json exists. Remove it first")
    );
}

#[test]
fn spec_writes_into_the_current_directory_by_default() {
    let env = TestEnv::new("spec-cwd");
    let out = env.output_via_files(env.podrun_cmd().arg("spec").current_dir(&env.dir));
    assert!(out.status.success(), "{}", describe(&out));
    let (_, spec) = read_json(&env.dir.join("config.json"));
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]));
}
