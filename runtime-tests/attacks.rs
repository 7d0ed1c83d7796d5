//! Issue 16: the attacks that once got through, each run against the release binary (and,
//! where runc defends too, against Debian's runc on the same input): host sysctls, ids that
//! the kernel reads as "unchanged", two state roots sharing a cgroup, CNI attachments of one
//! container clobbering each other, overlapping subnets, interface names the kernel rewrites,
//! a missing /dev/console, errors without words, and lost state that left its container
//! running. Every name (ids, bridges, netns, subnets 10.244.180-189) is unique to this test
//! process, and every test removes what it made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{cgroup_dirs, describe, pid_alive, podrun_bin, TestEnv};
use crate::lifecycle::{s, state_pid, wait_until};

const RUNC: &str = "/usr/sbin/runc";

fn uid() -> u32 {
    std::process::id() % 100_000
}

/// An id unique to this test process (default cgroups are host-wide).
fn cid(name: &str) -> String {
    format!("atk-{name}-{}", std::process::id())
}

/// `runc --root <env>/runc run --bundle B ID` (foreground, stdin from /dev/null).
fn runc_run(env: &TestEnv, bundle: &Path, id: &str) -> Output {
    let mut cmd = Command::new(RUNC);
    cmd.arg("--root")
        .arg(env.dir.join("runc"))
        .args(["run", "--bundle", s(bundle), id]);
    let out = env.output_via_files(&mut cmd);
    // whatever happened, leave nothing of runc's behind
    let _ = Command::new(RUNC)
        .arg("--root")
        .arg(env.dir.join("runc"))
        .args(["delete", "--force", id])
        .stderr(Stdio::null())
        .status();
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read_trimmed(p: &str) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {p}: {e}"))
        .trim()
        .to_string()
}

/// `podrun run` of `bundle` must fail naming every one of `needles`, leaving nothing behind.
fn podrun_run_refused(env: &TestEnv, bundle: &Path, id: &str, needles: &[&str]) -> String {
    let out = env.podrun(&["run", "--bundle", s(bundle), id]);
    assert!(
        !out.status.success(),
        "podrun accepted it: {}",
        describe(&out)
    );
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "podrun's error lacks {n:?}: {err}");
    }
    assert!(
        env.container_ids().is_empty(),
        "state left: {:?}",
        env.container_ids()
    );
    assert_eq!(cgroup_dirs(id), Vec::<PathBuf>::new(), "cgroup left");
    err
}

// ---------------------------------------------------------------------------------------
// 1. sysctls

/// Host-wide sysctls, and namespaced ones without their own namespace, are refused by
/// podrun as by runc, and the host's values stay.
#[test]
fn atk_host_sysctls_are_refused_like_runc() {
    let env = TestEnv::new("atk-sysctl");
    let id = cid("sysctl");
    let without = |t: &'static str| {
        move |spec: &mut Value| {
            spec["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .retain(|n| n["type"] != t);
        }
    };
    let watched = [
        "/proc/sys/vm/stat_interval",
        "/proc/sys/net/ipv4/tcp_keepalive_probes",
        "/proc/sys/kernel/shm_rmid_forced",
    ];
    let before: Vec<String> = watched.iter().map(|p| read_trimmed(p)).collect();
    let flip = |p: &str, a: &str, b: &str| if read_trimmed(p) == a { b } else { a }.to_string();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, String, Edit, &str)> = vec![
        (
            "vm.stat_interval",
            flip(watched[0], "3", "4"),
            Box::new(|_: &mut Value| {}),
            "not in a separate kernel namespace",
        ),
        (
            "net.ipv4.tcp_keepalive_probes",
            flip(watched[1], "8", "7"),
            Box::new(without("network")),
            "host's network namespace",
        ),
        (
            "net.ipv4.tcp_keepalive_probes",
            flip(watched[1], "8", "7"),
            Box::new(|spec: &mut Value| {
                for n in spec["linux"]["namespaces"].as_array_mut().expect("ns") {
                    if n["type"] == "network" {
                        // the test's own netns: the host's
                        n["path"] = json!(format!("/proc/{}/ns/net", std::process::id()));
                    }
                }
            }),
            "host's network namespace",
        ),
        (
            "kernel.shm_rmid_forced",
            flip(watched[2], "1", "0"),
            Box::new(without("ipc")),
            "host's ipc namespace",
        ),
        (
            "kernel.domainname",
            "atk".into(),
            Box::new(without("uts")),
            "host's uts namespace",
        ),
    ];
    for (key, value, edit, why) in cases {
        let bundle = env.bundle("hello", |spec| {
            spec["linux"]["sysctl"] = json!({ key: value });
            if spec["hostname"].is_string() {
                spec.as_object_mut().expect("spec").remove("hostname");
            }
            edit(spec);
        });
        podrun_run_refused(&env, &bundle, &id, &["linux.sysctl", key, why]);
        let runc = runc_run(&env, &bundle, &id);
        assert!(
            !runc.status.success(),
            "runc accepted {key}: {}",
            describe(&runc)
        );
        let now: Vec<String> = watched.iter().map(|p| read_trimmed(p)).collect();
        assert_eq!(now, before, "{key}: a host sysctl changed");
    }
    // With its own namespaces, the same keys are still allowed.
    let bundle = env.bundle("hello", |spec| {
        spec["linux"]["sysctl"] = json!({
            "net.ipv4.tcp_keepalive_probes": "5",
            "kernel.shm_rmid_forced": "1",
        });
        spec["process"]["args"] = json!([
            "sh",
            "-c",
            "cat /proc/sys/net/ipv4/tcp_keepalive_probes /proc/sys/kernel/shm_rmid_forced"
        ]);
    });
    let out = env.run_ok(&["run", "--bundle", s(&bundle), &id]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["5", "1"]);
}

// ---------------------------------------------------------------------------------------
// 2. uid/gid -1

/// uid, gid or an additional gid of 4294967295 (-1: "unchanged" to setresuid) is refused in
/// config.json (as runc does) and by `exec --user/--additional-gids/--process`, instead of the
/// process running as root.
#[test]
fn atk_uid_minus_one_never_runs_as_root() {
    let env = TestEnv::new("atk-uid");
    let id = cid("uid");
    let big = 4_294_967_295u64;
    let edits: Vec<(&str, Value)> = vec![
        ("uid", json!({"uid": big, "gid": 0})),
        ("gid", json!({"uid": 1000, "gid": big})),
        (
            "additionalGids",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [big]}),
        ),
    ];
    for (what, user) in edits {
        let bundle = env.bundle("hello", |spec| {
            spec["process"]["user"] = user.clone();
            spec["process"]["args"] = json!(["id"]);
        });
        podrun_run_refused(&env, &bundle, &id, &[what, "out of range"]);
        let runc = runc_run(&env, &bundle, &id);
        assert!(
            !runc.status.success(),
            "runc accepted {what}: {}",
            describe(&runc)
        );
        assert!(
            !String::from_utf8_lossy(&runc.stdout).contains("uid=0"),
            "runc ran it as root"
        );
    }
    // exec into a running container
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &id]);
    let process = env.dir.join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["id"], "cwd": "/", "user": {"uid": big, "gid": big},
               "env": ["PATH=/bin:/usr/bin"]})
        .to_string(),
    )
    .expect("write process.json");
    let attempts: Vec<Vec<&str>> = vec![
        vec!["exec", "--user", "4294967295:4294967295", &id, "id"],
        vec!["exec", "--user", "4294967295", &id, "id"],
        vec!["exec", "--user", "1000:4294967295", &id, "id"],
        vec![
            "exec",
            "--user",
            "1000:1000",
            "--additional-gids",
            "4294967295",
            &id,
            "id",
        ],
        vec!["exec", "--process", s(&process), &id],
    ];
    for args in attempts {
        let out = env.podrun(&args);
        assert!(
            !out.status.success(),
            "podrun {args:?} ran: {}",
            describe(&out)
        );
        assert!(
            stderr(&out).contains("out of range"),
            "{args:?}: {}",
            describe(&out)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("uid=0"));
    }
    // the largest valid ids still work, and are the ones the process has
    let out = env.run_ok(&["exec", "--user", "2147483647:2147483647", &id, "id"]);
    assert!(out.contains("uid=2147483647"), "{out}");
    assert!(out.contains("gid=2147483647"), "{out}");
    env.run_ok(&["delete", "--force", &id]);
}

// ---------------------------------------------------------------------------------------
// 3. two state roots, one cgroup

/// The same id in two state roots gets two cgroups; one root's `delete --force` leaves the
/// other's container alone; a cgroup that already holds another container's processes is
/// refused.
#[test]
fn atk_two_roots_never_share_a_cgroup() {
    let a = TestEnv::new("atk-root-a");
    let b = TestEnv::new("atk-root-b");
    let id = cid("x");
    let bundle_a = a.bundle("sleeper", |_| {});
    let bundle_b = b.bundle("sleeper", |_| {});
    a.run_ok(&["run", "-d", "--bundle", s(&bundle_a), &id]);
    b.run_ok(&["run", "-d", "--bundle", s(&bundle_b), &id]);
    let pid_a = state_pid(&a.state(&id));
    let pid_b = state_pid(&b.state(&id));
    let cgroup_of = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/PID/cgroup")
    };
    assert_ne!(cgroup_of(pid_a), cgroup_of(pid_b), "both in one cgroup");
    a.run_ok(&["delete", "--force", &id]);
    assert!(!pid_alive(pid_a));
    assert!(
        pid_alive(pid_b),
        "root A's delete killed root B's container"
    );
    assert_eq!(b.state(&id)["status"], "running");
    assert!(
        cgroup_of(pid_b).contains(&crate::common::container_cgroup(&b.root, &id)),
        "{}",
        cgroup_of(pid_b)
    );
    // An explicit cgroupsPath that another container's processes are in: refused, and the
    // refused create's cleanup kills nothing.
    let shared = format!("/{}/shared", cid("cg"));
    let bundle_a = a.bundle("sleeper", |spec| {
        spec["linux"]["cgroupsPath"] = json!(shared)
    });
    let bundle_b = b.bundle("sleeper", |spec| {
        spec["linux"]["cgroupsPath"] = json!(shared)
    });
    let other = cid("y");
    a.run_ok(&["run", "-d", "--bundle", s(&bundle_a), &other]);
    let pid_owner = state_pid(&a.state(&other));
    let out = b.podrun(&["run", "-d", "--bundle", s(&bundle_b), &other]);
    assert!(!out.status.success(), "joined: {}", describe(&out));
    assert!(
        stderr(&out).contains("already has processes"),
        "{}",
        describe(&out)
    );
    assert!(pid_alive(pid_owner), "the refused create killed the owner");
    assert!(b.root.join(&id).exists() && !b.root.join(&other).exists());
    a.run_ok(&["delete", "--force", &other]);
    b.run_ok(&["delete", "--force", &id]);
    assert!(!pid_alive(pid_b));
    // the parent of the explicit cgroup is left by podrun (as by runc): remove it
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir(e.path().join(shared.trim_start_matches('/')));
            let _ = std::fs::remove_dir(e.path().join(cid("cg")));
        }
    }
}

// ---------------------------------------------------------------------------------------
// CNI helpers (items 4, 5, 6, 8)

/// A private CNI world: netns, bridges and a dataDir, all removed on drop.
struct Cni {
    dir: PathBuf,
    plugin: PathBuf,
    netns: Vec<String>,
    bridges: Vec<String>,
}

impl Cni {
    fn new(tag: &str) -> Cni {
        crate::common::require_root();
        let dir = PathBuf::from(format!("/tmp/podrun-test-atk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let plugin = dir.join("podrun-cni");
        std::os::unix::fs::symlink(podrun_bin(), &plugin).expect("symlink podrun-cni");
        Cni {
            dir,
            plugin,
            netns: Vec::new(),
            bridges: Vec::new(),
        }
    }

    fn bridge(&mut self, n: u8) -> String {
        let b = format!("atk{n}b{}", uid());
        self.bridges.push(b.clone());
        b
    }

    fn add_netns(&mut self, name: &str) -> String {
        let full = format!("atk-{name}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &full])
            .status()
            .expect("ip netns add")
            .success();
        assert!(ok, "ip netns add {full}");
        self.netns.push(full.clone());
        full
    }

    fn config(&self, network: &str, bridge: &str, subnet: &str) -> Value {
        json!({
            "cniVersion": "1.0.0", "name": network, "type": "bridge", "bridge": bridge,
            "isGateway": true,
            "ipam": {"type": "host-local", "subnet": subnet, "dataDir": self.dir.join("ipam")}
        })
    }

    /// Runs the plugin; returns (exit code, stdout JSON).
    fn plugin(&self, cmd: &str, id: &str, netns: &str, ifname: &str, conf: &Value) -> (i32, Value) {
        let mut child = Command::new(&self.plugin)
            .env("CNI_COMMAND", cmd)
            .env("CNI_CONTAINERID", id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", "/usr/lib/cni")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn podrun-cni");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(conf.to_string().as_bytes())
            .expect("write config");
        let out = child.wait_with_output().expect("wait podrun-cni");
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
    }

    fn links_in(&self, netns: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", netns, "ip", "-o", "link"])
            .output()
            .expect("ip link");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cni {
    fn drop(&mut self) {
        for n in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        for b in &self.bridges {
            if Path::new("/sys/class/net").join(b).exists() {
                let _ = Command::new("ip").args(["link", "del", b]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

// ---------------------------------------------------------------------------------------
// 4. two attachments of one container

/// A second attachment of the same container (another ifname, another network) gets its
/// own host veth; DEL of one leaves the other's veth, interface and address alone; the IP
/// file records `CONTAINERID\r\nIFNAME`.
#[test]
fn atk_cni_attachments_of_one_container_are_separate() {
    let mut cni = Cni::new("attach");
    let br = cni.bridge(180);
    let br2 = cni.bridge(181);
    let ns = cni.add_netns("attach");
    let netns = format!("/run/netns/{ns}");
    let id = cid("c");
    let n1 = cni.config("atk-n1", &br, "10.244.180.0/24");
    let n2 = cni.config("atk-n2", &br2, "10.244.181.0/24");
    let (code, r0) = cni.plugin("ADD", &id, &netns, "eth0", &n1);
    assert_eq!(code, 0, "{r0}");
    let (code, r1) = cni.plugin("ADD", &id, &netns, "eth1", &n1);
    assert_eq!(code, 0, "second ifname refused: {r1}");
    let (code, r2) = cni.plugin("ADD", &id, &netns, "eth2", &n2);
    assert_eq!(code, 0, "second network refused: {r2}");
    let host_veth = |r: &Value| {
        r["interfaces"][1]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("no host veth in {r}"))
            .to_string()
    };
    let veths = [host_veth(&r0), host_veth(&r1), host_veth(&r2)];
    assert_ne!(veths[0], veths[1]);
    assert_ne!(veths[0], veths[2]);
    assert_ne!(veths[1], veths[2]);
    let ip_file = |r: &Value, net: &str| {
        let ip = r["ips"][0]["address"].as_str().expect("address");
        let ip = ip.split('/').next().expect("ip");
        cni.dir.join("ipam").join(net).join(ip)
    };
    assert_eq!(
        std::fs::read_to_string(ip_file(&r1, "atk-n1")).expect("IP file"),
        format!("{id}\r\neth1")
    );
    // DEL eth1: only eth1's veth, interface and address go
    let (code, out) = cni.plugin("DEL", &id, &netns, "eth1", &n1);
    assert_eq!(code, 0, "{out}");
    assert!(!link_exists(&veths[1]));
    assert!(link_exists(&veths[0]), "DEL eth1 removed eth0's veth");
    assert!(link_exists(&veths[2]), "DEL eth1 removed eth2's veth");
    let links = cni.links_in(&ns);
    assert!(
        links.contains(" eth0@") && links.contains(" eth2@") && !links.contains(" eth1@"),
        "{links}"
    );
    assert!(
        ip_file(&r0, "atk-n1").exists(),
        "eth0's address was released"
    );
    assert!(!ip_file(&r1, "atk-n1").exists(), "eth1's address was kept");
    // An older IP file with the owner only is still released by its owner's DEL
    let (code, _) = cni.plugin("DEL", &id, &netns, "eth2", &n2);
    assert_eq!(code, 0);
    std::fs::write(ip_file(&r0, "atk-n1"), &id).expect("rewrite as an old file");
    let (code, out) = cni.plugin("DEL", &id, &netns, "eth0", &n1);
    assert_eq!(code, 0, "{out}");
    assert!(
        !ip_file(&r0, "atk-n1").exists(),
        "old-style file not released"
    );
    assert!(!link_exists(&veths[0]) && !link_exists(&veths[2]));
}

// ---------------------------------------------------------------------------------------
// 5. overlapping subnets

/// A subnet overlapping another podrun network's (same store) or a route on the host is
/// refused, naming what it collides with; nothing is made.
#[test]
fn atk_overlapping_subnets_are_refused() {
    let mut cni = Cni::new("overlap");
    let br = cni.bridge(182);
    let br2 = cni.bridge(183);
    let ns = cni.add_netns("overlap");
    let netns = format!("/run/netns/{ns}");
    let first = cni.config("atk-o1", &br, "10.244.182.0/24");
    let (code, r) = cni.plugin("ADD", &cid("a"), &netns, "eth0", &first);
    assert_eq!(code, 0, "{r}");
    // the same /24 on another bridge, and a /25 inside it: the host route of the first
    for subnet in ["10.244.182.0/24", "10.244.182.128/25"] {
        let conf = cni.config("atk-o2", &br2, subnet);
        let (code, err) = cni.plugin("ADD", &cid("b"), &netns, "eth1", &conf);
        assert_ne!(code, 0, "{subnet} accepted: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("overlaps") && msg.contains("10.244.182.0/24") && msg.contains(&br),
            "{subnet}: {msg}"
        );
        assert!(!link_exists(&br2), "{subnet}: bridge made");
        assert!(
            !cni.dir.join("ipam/atk-o2").exists(),
            "{subnet}: store left"
        );
    }
    // another podrun network on the same bridge with an overlapping subnet
    let conf = cni.config("atk-o3", &br, "10.244.182.0/25");
    let (code, err) = cni.plugin("ADD", &cid("c"), &netns, "eth2", &conf);
    assert_ne!(code, 0, "accepted: {err}");
    assert!(err.to_string().contains("atk-o1"), "{err}");
    // a subnet next to it is fine
    let conf = cni.config("atk-o2", &br2, "10.244.183.0/24");
    let (code, r) = cni.plugin("ADD", &cid("b"), &netns, "eth1", &conf);
    assert_eq!(code, 0, "{r}");
    let (code, _) = cni.plugin("DEL", &cid("b"), &netns, "eth1", &conf);
    assert_eq!(code, 0);
    let (code, _) = cni.plugin("DEL", &cid("a"), &netns, "eth0", &first);
    assert_eq!(code, 0);
}

/// `pod create` with a subnet on another bridge that overlaps a live pod network is refused.
#[test]
fn atk_pod_subnet_overlapping_another_bridge_is_refused() {
    let env = TestEnv::new("atk-pod-overlap");
    let store = env.dir.join("store");
    let b1 = format!("atk184b{}", uid());
    let b2 = format!("atk185b{}", uid());
    let create = |name: &str, bridge: &str, subnet: &str| {
        env.podrun(&[
            "pod",
            "create",
            "--bridge",
            bridge,
            "--subnet",
            subnet,
            "--store-dir",
            s(&store),
            name,
        ])
    };
    let out = create("p1", &b1, "10.244.184.0/24");
    assert!(out.status.success(), "{}", describe(&out));
    let out = create("p2", &b2, "10.244.184.0/25");
    assert!(!out.status.success(), "accepted: {}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("overlaps") && err.contains(&b1), "{err}");
    assert!(!link_exists(&b2), "bridge of the refused pod made");
    assert!(!env.root.join("pods/p2").exists());
    env.run_ok(&["pod", "delete", "--force", "p1"]);
    assert!(!link_exists(&b1));
}

// ---------------------------------------------------------------------------------------
// 6. interface names

/// Names the kernel would rewrite or refuse (`%d`, '/', whitespace, '.', '..', 16 bytes)
/// are refused for `--bridge`, CNI "bridge" and CNI_IFNAME; nothing is made.
#[test]
fn atk_interface_names_are_checked_like_the_kernel() {
    let env = TestEnv::new("atk-ifname");
    let store = env.dir.join("store");
    let bad = [
        format!("atk{}%d", uid()),
        "a b".to_string(),
        ".".to_string(),
        "..".to_string(),
        "a/b".to_string(),
        "abcdefghijklmnop".to_string(),
    ];
    let leftover_bridge = || {
        std::fs::read_dir("/sys/class/net")
            .expect("list links")
            .flatten()
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("atk{}", uid()))
            })
    };
    for name in &bad {
        let out = env.podrun(&[
            "pod",
            "create",
            "--bridge",
            name,
            "--subnet",
            "10.244.186.0/24",
            "--store-dir",
            s(&store),
            "p",
        ]);
        assert!(!out.status.success(), "{name:?} accepted");
        assert!(
            stderr(&out).contains("invalid bridge name"),
            "{name:?}: {}",
            describe(&out)
        );
        assert!(!leftover_bridge(), "{name:?}: a bridge was made");
        assert!(!env.root.join("pods/p").exists());
        assert!(!store.join("podrun").exists(), "{name:?}: store dir left");
    }
    let mut cni = Cni::new("ifname");
    let ns = cni.add_netns("ifname");
    let netns = format!("/run/netns/{ns}");
    for name in &bad {
        let conf = cni.config("atk-if", name, "10.244.187.0/24");
        let (code, err) = cni.plugin("ADD", &cid("c"), &netns, "eth0", &conf);
        assert_ne!(code, 0, "bridge {name:?} accepted");
        assert_eq!(err["code"], 7, "{name:?}: {err}");
        assert!(!leftover_bridge(), "{name:?}: a bridge was made");
        let good = cni.config("atk-if", &format!("atk{}ok", uid()), "10.244.187.0/24");
        let (code, err) = cni.plugin("ADD", &cid("c"), &netns, name, &good);
        assert_ne!(code, 0, "ifname {name:?} accepted");
        assert!(
            err["msg"].to_string().contains("invalid interface name"),
            "{err}"
        );
        assert!(!link_exists(&format!("atk{}ok", uid())));
    }
    assert!(!cni.dir.join("ipam/atk-if").exists(), "store left");
}

// ---------------------------------------------------------------------------------------
// 7. /dev/console

/// With `terminal: true`, /dev/console is the pty (foreground run), as with runc.
#[test]
fn atk_dev_console_is_the_pty() {
    let env = TestEnv::new("atk-console");
    let script = b"stat -c 'console %t:%T' /dev/console; stat -L -c 'console %t:%T' /proc/self/fd/0; exit 0\n";
    let bundle = env.bundle("shell", |_| {});
    let run = |bin: &Path, root: &Path, id: &str| -> String {
        let mut child = Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["run", "--bundle", s(&bundle), id])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn run");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(script).expect("write script");
        }
        let out = child.wait_with_output().expect("wait run");
        assert!(out.status.success(), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("console "))
            .map(|l| l.trim().to_string())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], lines[1], "/dev/console is not the pty: {text}");
        lines[0].clone()
    };
    let ours = run(&podrun_bin(), &env.root, &cid("tty"));
    // a pty slave (major 136 = 0x88)
    assert!(ours.starts_with("console 88:"), "{ours}");
    // runc's foreground terminal wants a terminal on its own stdin: run it under script(1)
    let runc_bundle = env.bundle("shell", |spec| {
        spec["process"]["args"] = json!([
            "sh",
            "-c",
            "stat -c 'console %t:%T' /dev/console; stat -L -c 'console %t:%T' /proc/self/fd/0"
        ]);
    });
    let runc_cmd = format!(
        "{RUNC} --root {} run --bundle {} {}",
        s(&env.dir.join("runc")),
        s(&runc_bundle),
        cid("tty")
    );
    let out = env.output_via_files(Command::new("script").args(["-qec", &runc_cmd, "/dev/null"]));
    assert!(out.status.success(), "runc: {}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.find("console ").map(|i| l[i..].trim()))
        .collect();
    assert_eq!(lines.len(), 2, "runc: {text}");
    assert_eq!(
        lines[0], lines[1],
        "runc: /dev/console is not the pty: {text}"
    );
    assert!(lines[0].starts_with("console 88:"), "runc: {text}");
}

/// With `--console-socket`, /dev/console is the pty whose master went over the socket.
#[test]
fn atk_dev_console_with_console_socket() {
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    let env = TestEnv::new("atk-console-sock");
    let id = cid("ttys");
    let sock = env.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let bundle = env.bundle("shell", |_| {});
    let receiver = std::thread::spawn(move || crate::console::receive_fds(&listener));
    env.run_ok(&[
        "create",
        "--console-socket",
        s(&sock),
        "--bundle",
        s(&bundle),
        &id,
    ]);
    let (mut fds, _conn) = receiver.join().expect("receiver thread");
    let master = fds.pop().expect("the pty master");
    env.run_ok(&["start", &id]);
    let mut w = std::fs::File::from(master.try_clone().expect("dup"));
    w.write_all(b"[ /dev/console -ef $(tty) ] && echo con''sole-is-the-pty; exit 0\n")
        .expect("write");
    let seen = crate::console::read_until(&master, "console-is-the-pty", Duration::from_secs(20));
    assert!(seen.contains("console-is-the-pty"), "{seen}");
    wait_until("the shell to exit", Duration::from_secs(10), || {
        env.state(&id)["status"] == "stopped"
    });
    env.run_ok(&["delete", &id]);
}

// ---------------------------------------------------------------------------------------
// 8. clear errors

/// CNI_NETNS that is not a network namespace: CNI error code 4 and words, nothing made.
#[test]
fn atk_cni_netns_that_is_not_a_netns() {
    let mut cni = Cni::new("netns");
    let br = cni.bridge(188);
    let plain = cni.dir.join("plain-file");
    std::fs::write(&plain, "").expect("write");
    let conf = cni.config("atk-nn", &br, "10.244.188.0/24");
    for path in [s(&plain), "/proc/self/ns/ipc"] {
        let (code, err) = cni.plugin("ADD", &cid("n"), path, "eth0", &conf);
        assert_ne!(code, 0);
        assert_eq!(err["code"], 4, "{path}: {err}");
        assert!(
            err["msg"]
                .to_string()
                .contains("is not a network namespace"),
            "{path}: {err}"
        );
        assert!(!link_exists(&br), "bridge made");
        assert!(!cni.dir.join("ipam/atk-nn").exists(), "store made");
    }
}

/// A memory limit too small for the process to start: the run says why, not just 137.
#[test]
fn atk_too_small_memory_limit_is_explained() {
    let env = TestEnv::new("atk-oom");
    let id = cid("oom");
    let bundle = env.bundle("hello", |spec| {
        spec["linux"]["resources"] = json!({"memory": {"limit": 262_144}});
    });
    let out = env.podrun(&["run", "--bundle", s(&bundle), &id]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("SIGKILL") && err.contains("memory limit 262144") && err.contains("too low"),
        "{}",
        describe(&out)
    );
    assert!(env.container_ids().is_empty());
    assert_eq!(cgroup_dirs(&id), Vec::<PathBuf>::new());
    // runc refuses it too
    let runc = runc_run(&env, &bundle, &id);
    assert!(!runc.status.success(), "{}", describe(&runc));
}

/// A seccomp profile that kills execve: create refuses it with words (runc hangs on it; it
/// is not run here), instead of a silent exit 159.
#[test]
fn atk_seccomp_forbidding_execve_is_explained() {
    let env = TestEnv::new("atk-seccomp");
    let id = cid("sc");
    for (default, rules) in [
        (
            "SCMP_ACT_ALLOW",
            json!([{"names": ["execve"], "action": "SCMP_ACT_KILL"}]),
        ),
        (
            "SCMP_ACT_KILL_PROCESS",
            json!([{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]),
        ),
    ] {
        let bundle = env.bundle("hello", |spec| {
            spec["linux"]["seccomp"] = json!({"defaultAction": default, "syscalls": rules});
        });
        podrun_run_refused(&env, &bundle, &id, &["linux.seccomp", "denies execve"]);
    }
}

// ---------------------------------------------------------------------------------------
// 9. lost state

/// A container whose state.json is corrupt is listed as such, and `delete --force` still
/// kills its init and removes its cgroup; the same when state.json is gone.
#[test]
fn atk_lost_state_is_listed_and_cleaned_up() {
    let env = TestEnv::new("atk-lost");
    for (name, damage) in [("corrupt", true), ("missing", false)] {
        let id = cid(name);
        let bundle = env.bundle("sleeper", |_| {});
        env.run_ok(&["run", "-d", "--bundle", s(&bundle), &id]);
        let pid = state_pid(&env.state(&id));
        assert!(!cgroup_dirs(&id).is_empty());
        let state_file = env.root.join(&id).join("state.json");
        if damage {
            std::fs::write(&state_file, "{\"ociVersion\": \"1.0.2\", \"id\": ").expect("damage");
            let table = env.run_ok(&["list"]);
            let row = table
                .lines()
                .find(|l| l.starts_with(&id))
                .unwrap_or_else(|| panic!("{id} not listed: {table}"));
            assert!(row.contains("corrupt"), "{row}");
            let listed: Value =
                serde_json::from_str(&env.run_ok(&["list", "--format", "json"])).expect("json");
            let entry = listed
                .as_array()
                .expect("array")
                .iter()
                .find(|c| c["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{id} not in {listed}"))
                .clone();
            assert_eq!(entry["status"], "corrupt", "{entry}");
            assert!(entry["error"].as_str().is_some_and(|e| !e.is_empty()));
            // without --force: refused, pointing at --force, nothing touched
            let err = env.run_fail(&["delete", &id]);
            assert!(err.contains("--force"), "{err}");
            assert!(pid_alive(pid));
        } else {
            std::fs::remove_file(&state_file).expect("remove state.json");
        }
        env.run_ok(&["delete", "--force", &id]);
        assert!(!pid_alive(pid), "{name}: the init survived delete --force");
        assert_eq!(
            cgroup_dirs(&id),
            Vec::<PathBuf>::new(),
            "{name}: cgroup left"
        );
        assert!(!env.root.join(&id).exists(), "{name}: state dir left");
    }
}
