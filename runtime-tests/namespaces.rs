//! Namespaces: joining by path (what pods are built on), refusing bad paths before anything
//! starts, hostname/domainname, and a user namespace with id mappings.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{count_mounts_containing, describe, pid_alive, TestEnv};
use crate::lifecycle::{create_sleeper, run_sh, run_sh_ok, s, wait_until};

/// Replaces the `typ` entry of linux.namespaces by one with `path`.
fn join_ns(spec: &mut Value, typ: &str, path: &str) {
    let list = spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    list.retain(|n| n["type"] != typ);
    list.push(json!({ "type": typ, "path": path }));
}

fn host_ns(pid: i32, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{name}: {e}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn join_network_namespace_by_path() {
    let env = TestEnv::new("ns-join");
    let a_pid = create_sleeper(&env, "ns-a");
    env.run_ok(&["start", "ns-a"]);
    let a_net = host_ns(a_pid, "net");
    assert_ne!(
        a_net,
        host_ns(std::process::id() as i32, "net"),
        "A has no own netns"
    );
    let from_exec = env.run_ok(&["exec", "ns-a", "readlink", "/proc/self/ns/net"]);
    assert_eq!(from_exec.trim(), a_net);

    let path = format!("/proc/{a_pid}/ns/net");
    let out = run_sh_ok(
        &env,
        "ns-b",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
        |spec| join_ns(spec, "network", &path),
    );
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(a_net.as_str()),
        "B is not in A's netns: {out}"
    );
    // Only the network namespace is shared: B's ipc namespace is its own.
    assert_ne!(
        lines.next(),
        Some(host_ns(a_pid, "ipc").as_str()),
        "B joined A's ipc ns too: {out}"
    );
}

#[test]
fn join_uts_namespace_sees_the_hostname() {
    let env = TestEnv::new("ns-uts");
    let bundle = env.bundle("sleeper", |spec| spec["hostname"] = json!("shared-host"));
    env.run_ok(&["create", "--bundle", s(&bundle), "uts-a"]);
    let pid = crate::lifecycle::state_pid(&env.state("uts-a"));
    let path = format!("/proc/{pid}/ns/uts");
    let out = run_sh_ok(&env, "uts-b", "hostname", |spec| {
        join_ns(spec, "uts", &path);
        spec.as_object_mut().expect("spec").remove("hostname");
    });
    assert_eq!(out.trim(), "shared-host");
}

/// A bad join path: create fails naming the path, and leaves no state, process or mount.
fn assert_bad_join(env: &TestEnv, id: &str, path: &str) {
    let mounts_before = count_mounts_containing(s(&env.dir));
    let bundle = env.bundle("sleeper", |spec| join_ns(spec, "network", path));
    let err = env.run_fail(&["create", "--bundle", s(&bundle), id]);
    assert!(err.contains(path), "the error does not name {path}: {err}");
    assert!(!env.root.join(id).exists(), "a state dir was left for {id}");
    assert_eq!(count_mounts_containing(s(&env.dir)), mounts_before);
    // The same id is free right after.
    let ok = env.bundle("sleeper", |_| {});
    env.run_ok(&["create", "--bundle", s(&ok), id]);
    env.run_ok(&["delete", "--force", id]);
}

#[test]
fn join_path_of_wrong_type_is_refused() {
    let env = TestEnv::new("ns-wrongtype");
    let a_pid = create_sleeper(&env, "holder");
    let path = format!("/proc/{a_pid}/ns/ipc");
    assert_bad_join(&env, "wrong-type", &path);
    let err = {
        let bundle = env.bundle("sleeper", |spec| join_ns(spec, "network", &path));
        env.run_fail(&["create", "--bundle", s(&bundle), "wrong-type2"])
    };
    assert!(
        err.contains("network") || err.contains("net"),
        "the error does not name the type: {err}"
    );
    assert!(pid_alive(a_pid), "the holder died");
}

#[test]
fn join_path_regular_file_is_refused() {
    let env = TestEnv::new("ns-file");
    let file = env.dir.join("not-a-namespace");
    std::fs::write(&file, "x").expect("write file");
    assert_bad_join(&env, "regular-file", s(&file));
}

#[test]
fn join_path_missing_is_refused() {
    let env = TestEnv::new("ns-missing");
    let missing = env.dir.join("no-such-ns");
    assert_bad_join(&env, "missing-ns", s(&missing));
}

#[test]
fn hostname_and_domainname() {
    let env = TestEnv::new("ns-hostname");
    let out = run_sh_ok(
        &env,
        "names",
        "hostname; cat /proc/sys/kernel/domainname",
        |spec| {
            spec["hostname"] = json!("box-one");
            spec["domainname"] = json!("example.test");
        },
    );
    assert_eq!(out, "box-one\nexample.test\n");
    let host = nix::unistd::gethostname().expect("gethostname");
    assert_ne!(host.to_string_lossy(), "box-one", "the host's name changed");
}

#[test]
fn hostname_without_uts_namespace_is_refused() {
    let env = TestEnv::new("ns-hostname-nouts");
    let out = run_sh(&env, "nouts", "hostname", |spec| {
        spec["hostname"] = json!("nope");
        spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|n| n["type"] != "uts");
    });
    assert!(!out.status.success(), "{}", describe(&out));
    let host = nix::unistd::gethostname().expect("gethostname");
    assert_ne!(host.to_string_lossy(), "nope", "the host's name changed");
    assert!(env.container_ids().is_empty());
}

fn add_user_ns(spec: &mut Value) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .push(json!({ "type": "user" }));
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    spec["linux"]["uidMappings"] = map.clone();
    spec["linux"]["gidMappings"] = map;
}

#[test]
fn user_namespace_with_mappings() {
    let env = TestEnv::new("ns-user");
    let out = run_sh_ok(
        &env,
        "userns",
        "id -u; id -g; cat /proc/self/uid_map",
        add_user_ns,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "{out}");
    assert_eq!(lines.get(1), Some(&"0"), "{out}");
    let map: Vec<&str> = lines
        .get(2)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(map, ["0", "100000", "65536"], "{out}");

    // From the host: the created init runs as host uid 100000 under the map.
    let bundle = env.bundle("sleeper", add_user_ns);
    env.run_ok(&["create", "--bundle", s(&bundle), "userns-d"]);
    let pid = crate::lifecycle::state_pid(&env.state("userns-d"));
    let host_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
    let fields: Vec<&str> = host_map.split_whitespace().collect();
    assert_eq!(fields, ["0", "100000", "65536"], "{host_map}");
    let gid_map = std::fs::read_to_string(format!("/proc/{pid}/gid_map")).expect("gid_map");
    assert_eq!(
        gid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    env.run_ok(&["start", "userns-d"]);
    wait_until("sleep to run", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "100000"),
        "{uid_line}"
    );
    env.run_ok(&["delete", "--force", "userns-d"]);
    assert!(!pid_alive(pid));
}

/// A new network namespace gets `lo` up, as runc and crun give it (podman's `--network none`
/// and its pods reach their own services on 127.0.0.1): same flags as under runc, and a TCP
/// connection over 127.0.0.1 works inside the container.
#[test]
fn new_network_namespace_has_loopback_up() {
    let env = TestEnv::new("ns-lo");
    let script = "cat /sys/class/net/lo/flags; \
                  httpd -p 127.0.0.1:8089 -h /etc && timeout 5 wget -q -O - http://127.0.0.1:8089/hostname";
    let out = run_sh_ok(&env, "lo-up", script, |_| {});
    assert_eq!(out, "0x9\npodrun\n", "lo is not up (IFF_UP = 0x1)");
    let bundle = crate::lifecycle::sh_bundle(&env, "hello", "cat /sys/class/net/lo/flags", |_| {});
    let mut runc = std::process::Command::new("/usr/sbin/runc");
    runc.arg("--root").arg(env.dir.join("runc-root"));
    runc.args(["run", "--bundle", s(&bundle), "lo-runc"]);
    let from_runc = env.output_via_files(&mut runc);
    assert!(from_runc.status.success(), "{}", describe(&from_runc));
    assert_eq!(String::from_utf8_lossy(&from_runc.stdout), "0x9\n");
}

const NS_KINDS: [&str; 7] = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"];

/// `readlink /proc/self/ns/<kind>` for every kind, from inside a container of `edit`'s spec.
fn container_namespaces(env: &TestEnv, id: &str, edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let script: String = NS_KINDS
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}; "))
        .collect();
    let out = run_sh_ok(env, id, &script, edit);
    let lines: Vec<String> = out.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), NS_KINDS.len(), "{out}");
    lines
}

/// Every namespace type listed without a path is new (pid, network, ipc, uts, mount, cgroup);
/// every type not listed is the runtime's own (here: user, and in the second run all but mount).
#[test]
fn listed_namespaces_are_new_and_the_others_are_shared() {
    let env = TestEnv::new("ns-new");
    let me = std::process::id() as i32;
    let host: Vec<String> = NS_KINDS.iter().map(|k| host_ns(me, k)).collect();
    let all = container_namespaces(&env, "ns-all", |spec| {
        spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "cgroup"}));
    });
    for ((kind, h), c) in NS_KINDS.iter().zip(&host).zip(&all) {
        if *kind == "user" {
            assert_eq!(c, h, "user namespace made although not asked for");
        } else {
            assert_ne!(c, h, "{kind}: the container has no namespace of its own");
        }
    }
    let only_mount = container_namespaces(&env, "ns-mnt-only", |spec| {
        spec["linux"]["namespaces"] = json!([{"type": "mount"}]);
        spec.as_object_mut().expect("spec").remove("hostname");
    });
    for ((kind, h), c) in NS_KINDS.iter().zip(&host).zip(&only_mount) {
        if *kind == "mnt" {
            assert_ne!(c, h, "no mount namespace of its own");
        } else {
            assert_eq!(c, h, "{kind}: a namespace was made although not listed");
        }
    }
}

/// linux.sysctl is written inside the container's namespaces: the container sees the values,
/// the host keeps its own.
#[test]
fn sysctl_is_applied_inside_the_container_only() {
    let env = TestEnv::new("ns-sysctl");
    let keys = [
        ("kernel.shm_rmid_forced", "/proc/sys/kernel/shm_rmid_forced"),
        (
            "net.ipv4.ip_unprivileged_port_start",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        ),
    ];
    let read_host = || -> Vec<String> {
        keys.iter()
            .map(|(_, p)| {
                std::fs::read_to_string(p)
                    .expect("host sysctl")
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let host_before = read_host();
    // values that differ from the host's
    let want: Vec<String> = host_before
        .iter()
        .zip(["1", "0"])
        .zip(["0", "80"])
        .map(|((h, a), b)| if h == a { b } else { a }.to_string())
        .collect();
    let out = run_sh_ok(
        &env,
        "sysctl",
        &format!("cat {}; cat {}", keys[0].1, keys[1].1),
        |spec| {
            spec["linux"]["sysctl"] = json!({ keys[0].0: want[0], keys[1].0: want[1] });
        },
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    assert_eq!(read_host(), host_before, "the host's sysctl changed");
}
