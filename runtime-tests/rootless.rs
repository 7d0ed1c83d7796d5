//! Rootless podrun: containers and pods run by an unprivileged user that the test creates
//! (common::rootless), side by side with runc run the same way. Each test ends with nothing
//! left: no entry in the user's state root, no process of the user, no mount under the test
//! dir, no cgroup of the container.

use serde_json::Value;

use crate::common::cgroupfs;
use crate::common::rootless::{TestUser, UserGuard};
use crate::common::{self, describe, TestEnv};

/// What a rootless container sees of itself: ids, maps, setgroups, devices, a device write,
/// the read-only /sys, mqueue.
const PROBE: &str = "id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
     ls /dev; echo x > /dev/null && echo null-ok; touch /sys/x 2>/dev/null || echo sys-ro; \
     grep -c mqueue /proc/self/mountinfo; hostname";

fn assert_nothing_left(env: &TestEnv, user: &TestUser, ids: &[&str]) {
    let left = TestUser::entries(&user.podrun_root());
    assert!(
        left.is_empty()
            || left == ["pods"] && TestUser::entries(&user.podrun_root().join("pods")).is_empty(),
        "left in the user's state root: {left:?}"
    );
    assert_eq!(
        user.wait_no_processes(),
        Vec::<i32>::new(),
        "processes of {} left",
        user.name
    );
    let mounts: Vec<_> = common::mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&env.dir))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    for id in ids {
        let dirs = cgroupfs::existing_dirs(&common::container_cgroup(&user.podrun_root(), id));
        assert!(dirs.is_empty(), "cgroups left for {id}: {dirs:?}");
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rootless_run_matches_runc() {
    let env = TestEnv::new("rootless-run");
    let user = UserGuard::new(&env, "r");
    let bundle = user.bundle(&env, |s| {
        s["process"]["args"] = serde_json::json!(["sh", "-c", PROBE]);
    });
    let b = bundle.to_string_lossy().into_owned();
    let ours = user.podrun_ok(&env, &["run", "--bundle", &b, "c1"]);
    let theirs = user.runc_ok(&env, &["run", "--bundle", &b, "c1"]);
    assert_eq!(
        ours, theirs,
        "podrun (left) and runc (right) see different things"
    );
    assert!(ours.contains("uid=0(root) gid=0(root)"), "{ours}");
    let own_map = format!("{:>10} {:>10} {:>10}", 0, user.uid, 1);
    assert!(ours.contains(&own_map), "{ours}");
    assert!(
        ours.contains("deny"),
        "setgroups must be denied with a single mapping: {ours}"
    );
    assert!(
        ours.contains("null-ok") && ours.contains("sys-ro"),
        "{ours}"
    );
    // The state root is the user's $XDG_RUNTIME_DIR/podrun, and run leaves it empty.
    assert!(
        user.podrun_root().is_dir(),
        "no {}",
        user.podrun_root().display()
    );
    assert_nothing_left(&env, &user, &["c1"]);
}

#[test]
fn rootless_lifecycle_with_subid_ranges_matches_runc() {
    let env = TestEnv::new("rootless-life");
    let user = UserGuard::new(&env, "l");
    let (uid, gid) = (user.uid, user.gid);
    let bundle = user.bundle(&env, |s| {
        s["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        s["linux"]["uidMappings"] = user.subid_mappings(uid);
        s["linux"]["gidMappings"] = user.subid_mappings(gid);
    });
    let b = bundle.to_string_lossy().into_owned();
    // (`id -u`/`id -g`: runc's exec also adds the groups /etc/group lists for the user,
    // which podrun does not do for root either; not a rootless matter.)
    let probe = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
                 touch /dev/shm/f && stat -c %u:%g /dev/shm/f";
    let mut seen = Vec::new();
    for runtime in ["podrun", "runc"] {
        let run = |args: &[&str]| match runtime {
            "podrun" => user.podrun(&env, args),
            _ => user.runc(&env, args),
        };
        let ok = |args: &[&str]| {
            let out = run(args);
            assert!(
                out.status.success(),
                "{runtime} {args:?}: {}",
                describe(&out)
            );
            stdout(&out)
        };
        ok(&["create", "--bundle", &b, "c2"]);
        let st: Value = serde_json::from_str(&ok(&["state", "c2"])).expect("state JSON");
        assert_eq!(st["status"], "created", "{runtime}: {st}");
        ok(&["start", "c2"]);
        let st: Value = serde_json::from_str(&ok(&["state", "c2"])).expect("state JSON");
        assert_eq!(st["status"], "running", "{runtime}: {st}");
        let pid = st["pid"].as_i64().expect("pid") as i32;
        assert!(common::pid_alive(pid));
        let exec = ok(&["exec", "c2", "sh", "-c", probe]);
        // runc's ps needs a cgroup ("unable to get all container pids"); podrun lists the
        // processes of the container's pid namespace without one.
        if runtime == "podrun" {
            let ps = ok(&["ps", "c2"]);
            assert!(ps.contains(&pid.to_string()), "{runtime} ps: {ps}");
        }
        let list = ok(&["list"]);
        assert!(
            list.contains("c2") && list.contains("running") && list.contains(&user.name),
            "{runtime} list (OWNER is the user): {list}"
        );
        ok(&["kill", "c2", "KILL"]);
        for _ in 0..100 {
            if !common::pid_alive(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let st: Value = serde_json::from_str(&ok(&["state", "c2"])).expect("state JSON");
        assert_eq!(st["status"], "stopped", "{runtime}: {st}");
        ok(&["delete", "c2"]);
        seen.push(exec);
    }
    assert_eq!(
        seen[0], seen[1],
        "exec in podrun's (left) and runc's (right) container differ"
    );
    assert!(
        seen[0].contains(&format!("{}", user.subid_start)) && seen[0].contains("0:0"),
        "the subordinate range must be mapped (newuidmap/newgidmap): {}",
        seen[0]
    );
    assert!(
        seen[0].contains("allow"),
        "setgroups stays allowed with newgidmap: {}",
        seen[0]
    );
    assert_nothing_left(&env, &user, &["c2"]);
}

#[test]
fn rootless_without_cgroup_says_why_pause_and_update_fail() {
    let env = TestEnv::new("rootless-nocg");
    let user = UserGuard::new(&env, "n");
    let bundle = user.bundle(&env, |s| {
        s["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    let b = bundle.to_string_lossy().into_owned();
    user.podrun_ok(&env, &["run", "-d", "--bundle", &b, "c3"]);
    for args in [
        vec!["pause", "c3"],
        vec!["update", "--pids-limit", "10", "c3"],
    ] {
        let out = user.podrun(&env, &args);
        assert!(
            !out.status.success(),
            "{args:?} should fail: {}",
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("has no cgroup") && err.contains("non-root"),
            "{args:?}: {err}"
        );
    }
    // kill --all reaches the processes without a cgroup too.
    user.podrun_ok(&env, &["exec", "-d", "c3", "sleep", "1001"]);
    user.podrun_ok(&env, &["kill", "--all", "c3", "KILL"]);
    assert_eq!(user.wait_no_processes(), Vec::<i32>::new());
    user.podrun_ok(&env, &["delete", "c3"]);
    assert_nothing_left(&env, &user, &["c3"]);
}

#[test]
fn rootless_limits_without_delegated_cgroup_fail_cleanly() {
    let env = TestEnv::new("rootless-limits");
    let user = UserGuard::new(&env, "m");
    // The test runs as root in root's cgroup, so the user's own cgroup is not its own: no
    // delegation, whatever the host (the delegated case is in the VM lane, vm_v2.rs).
    let bundle = user.bundle(&env, |s| {
        s["process"]["args"] = serde_json::json!(["true"]);
        s["linux"]["resources"] =
            serde_json::json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}});
    });
    let b = bundle.to_string_lossy().into_owned();
    let out = user.podrun(&env, &["run", "--bundle", &b, "c4"]);
    assert!(
        !out.status.success(),
        "limits without a writable cgroup must fail: {}",
        describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rootless") && err.contains("limits"), "{err}");
    let theirs = user.runc(&env, &["run", "--bundle", &b, "c4"]);
    assert!(
        !theirs.status.success(),
        "runc fails as well: {}",
        describe(&theirs)
    );
    assert_nothing_left(&env, &user, &["c4"]);
}

#[test]
fn rootless_state_root_needs_xdg_runtime_dir_or_root() {
    let env = TestEnv::new("rootless-xdg");
    let user = UserGuard::new(&env, "x");
    // runc's rule: no XDG_RUNTIME_DIR means /run/<runtime>, which a user cannot create.
    let bundle = user.bundle(&env, |s| s["process"]["args"] = serde_json::json!(["true"]));
    let mut cmd = user.cmd(common::podrun_bin());
    cmd.env_remove("XDG_RUNTIME_DIR")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg("c5");
    let out = env.output_via_files(&mut cmd);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/run/podrun") && err.contains("XDG_RUNTIME_DIR") && err.contains("--root"),
        "{err}"
    );
    // An explicit --root works without it.
    let root = user.home.join("own-root");
    let mut cmd = user.cmd(common::podrun_bin());
    cmd.env_remove("XDG_RUNTIME_DIR")
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg("c5");
    let out = env.output_via_files(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(TestUser::entries(&root).is_empty());
    assert_nothing_left(&env, &user, &["c5"]);
}

#[test]
fn rootless_pod_members_share_localhost_hostname_and_ipc() {
    let env = TestEnv::new("rootless-pod");
    let user = UserGuard::new(&env, "p");
    // A pod with a network stays root's: a clear error, nothing made.
    let out = user.podrun(&env, &["pod", "create", "rlnet"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs root") && err.contains("--no-network"),
        "{err}"
    );
    assert!(TestUser::entries(&user.podrun_root().join("pods")).is_empty());

    user.podrun_ok(
        &env,
        &["pod", "create", "--no-network", "--hostname", "rlpod", "p1"],
    );
    let st: Value =
        serde_json::from_str(&user.podrun_ok(&env, &["pod", "state", "p1"])).expect("pod state");
    let pause = st["pid"].as_i64().expect("pause pid");
    let server = user.bundle(&env, |s| {
        s["process"]["args"] =
            serde_json::json!(["httpd", "-f", "-p", "127.0.0.1:18080", "-h", "/"]);
    });
    let client = user.bundle(&env, |s| {
        s["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    user.podrun_ok(
        &env,
        &[
            "run",
            "-d",
            "--pod",
            "p1",
            "--bundle",
            &server.to_string_lossy(),
            "m1",
        ],
    );
    user.podrun_ok(
        &env,
        &[
            "run",
            "-d",
            "--pod",
            "p1",
            "--bundle",
            &client.to_string_lossy(),
            "m2",
        ],
    );
    let ns = "for n in user net ipc uts; do readlink /proc/self/ns/$n; done; hostname";
    let a = user.podrun_ok(&env, &["exec", "m1", "sh", "-c", ns]);
    let b = user.podrun_ok(&env, &["exec", "m2", "sh", "-c", ns]);
    assert_eq!(a, b, "members must share user, net, ipc and uts namespaces");
    assert!(a.ends_with("rlpod\n"), "{a}");
    for n in ["user", "net", "ipc", "uts"] {
        let link = std::fs::read_link(format!("/proc/{pause}/ns/{n}")).expect("pause ns");
        assert!(
            a.contains(&link.to_string_lossy().into_owned()),
            "{n}: the pause's {link:?} not in {a}"
        );
    }
    let fetch = "for i in $(seq 100); do wget -q -O- http://127.0.0.1:18080/etc/passwd 2>/dev/null && exit 0; sleep 0.05; done; exit 1";
    let got = user.podrun_ok(&env, &["exec", "m2", "sh", "-c", fetch]);
    assert!(got.starts_with("root:"), "localhost is shared: {got}");
    // SysV IPC: a segment made in one member is seen from the other.
    let shm = user.podrun_ok(&env, &["exec", "m2", "cat", "/proc/sysvipc/shm"]);
    let shm1 = user.podrun_ok(&env, &["exec", "m1", "cat", "/proc/sysvipc/shm"]);
    assert_eq!(shm, shm1);
    let out = user.podrun(&env, &["pod", "delete", "p1"]);
    assert!(
        !out.status.success(),
        "a pod with members is not deleted without --force"
    );
    user.podrun_ok(&env, &["pod", "delete", "--force", "p1"]);
    assert_nothing_left(&env, &user, &["m1", "m2"]);
}
