//! The podrun shim's systemd cgroup driver on this host, where PID 1 is not systemd (the
//! driver itself is tested under a real systemd in vm_systemd.rs). Asked for by the runtime
//! options (`ctr run --runtime-config-path` sends CRI's runtimeoptions.v1.Options with a
//! ConfigPath; the TOML file says `SystemdCgroup = true`) or by a cgroupsPath of the form
//! `<slice>.slice:<prefix>:<name>` (what CRI makes of kubelet's systemd cgroup parents), the
//! create fails with podrun's CLI error ("systemd is not running on this host") and leaves
//! nothing: no podrun state, no mount, no cgroup, no shim. A malformed config file is an
//! error naming the file and the line.

use std::path::Path;

use crate::common::clients::cgroup_dirs_named;
use crate::common::{count_mounts_containing, describe, TestEnv};
use crate::containerd::check_nothing_left;
use crate::shim::{guard, shim_bin, SHIM_NAME};

#[test]
fn shim_systemd_driver_without_systemd_is_a_clear_error() {
    let env = TestEnv::new("shim-sysd");
    let mut guard = guard(&env);
    let c = &mut guard.containerd;
    let on = env.dir.join("shim-systemd.toml");
    std::fs::write(&on, "# podrun's shim\nSystemdCgroup = true\n").expect("write config");
    let bad = env.dir.join("shim-bad.toml");
    std::fs::write(&bad, "SystemdCgroup = yes\n").expect("write config");
    let (on, bad) = (path_str(&on), path_str(&bad));
    let slice = format!("kubepods-besteffort-pod{}.slice", std::process::id());
    let kube_path = format!("{slice}:cri-containerd:sd-form");
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "sd-option",
            vec!["--runtime-config-path", &on],
            "systemd is not running",
        ),
        (
            "sd-form",
            vec!["--cgroup", &kube_path],
            "systemd is not running",
        ),
        (
            "sd-malformed",
            vec!["--runtime-config-path", &bad],
            "line 1",
        ),
    ];
    let mut failures = Vec::new();
    for (id, extra, want) in &cases {
        let args = c.run_args(SHIM_NAME, &shim_bin(), extra, id, &["true"]);
        let out = c.ctr(&env, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{id}: ctr run succeeded: {}", describe(&out)));
        } else if !err.contains(want) {
            failures.push(format!("{id}: no {want:?} in: {}", describe(&out)));
        }
        if *id == "sd-malformed" && !err.contains(bad.as_str()) {
            failures.push(format!("{id}: the file is not named: {err}"));
        }
        let _ = c.ctr(&env, &["task", "delete", id]);
        let _ = c.ctr(&env, &["containers", "rm", id]);
        let state = c.runc_root(SHIM_NAME).join(&c.namespace).join(id);
        if state.exists() {
            failures.push(format!("{id}: podrun state left: {}", state.display()));
        }
        if count_mounts_containing(id) > 0 {
            failures.push(format!("{id}: a mount left"));
        }
        let dirs = cgroup_dirs_named(&format!("{}/{id}", c.namespace));
        if !dirs.is_empty() {
            failures.push(format!("{id}: cgroup dirs left: {dirs:?}"));
        }
    }
    for rel in [
        "kubepods.slice",
        "system.slice/podrun-sd-option.scope",
        &kube_path,
    ] {
        let dirs = cgroup_dirs_named(rel);
        if !dirs.is_empty() {
            failures.push(format!("cgroup dirs left: {dirs:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}\n{}", c.log());
    check_nothing_left(&env, c);
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf8 path").to_string()
}
