//! Pods: pause, namespaces, bridge/veth/IPAM, lifecycle, bad input, concurrency, rollback.
//! Run as root: `cargo test --test runtime pods::`. Each test has its own --root, store dir,
//! bridge `prt<n>` and subnet 10.244.<n>.0/24; a Drop guard removes everything it made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const PODRUN: &str = env!("CARGO_BIN_EXE_podrun");

// TODO: switch to runtime-tests/common once it lands on main.
fn busybox() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("oci-bundles/rootfs/bin/busybox");
    if built.exists() {
        built
    } else {
        PathBuf::from("/bin/busybox")
    }
}

/// One test's world: root dir, IPAM store, bridge and subnet. Drop deletes every pod,
/// the bridge (if still there) and the directories.
struct Env {
    n: u8,
    root: PathBuf,
    store: PathBuf,
}

impl Env {
    fn new(n: u8) -> Env {
        let base = std::env::temp_dir().join(format!("podrun-rt-pods{n}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let store = base.join("store");
        std::fs::create_dir_all(&root).unwrap();
        Env { n, root, store }
    }

    fn bridge(&self) -> String {
        format!("prt{}", self.n)
    }

    fn subnet(&self) -> String {
        format!("10.244.{}.0/24", self.n)
    }

    fn ip(&self, host: u8) -> String {
        format!("10.244.{}.{host}", self.n)
    }

    fn podrun(&self, args: &[&str]) -> Output {
        Command::new(PODRUN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    /// `pod create NAME` on this env's bridge/subnet/store plus `extra` flags.
    fn create(&self, name: &str, extra: &[&str]) -> Output {
        let (b, s) = (self.bridge(), self.subnet());
        let store = self.store.to_str().unwrap().to_string();
        let mut args = vec![
            "pod",
            "create",
            "--bridge",
            &b,
            "--subnet",
            &s,
            "--store-dir",
            &store,
        ];
        args.extend_from_slice(extra);
        args.push("--");
        args.push(name);
        self.podrun(&args)
    }

    fn create_ok(&self, name: &str, extra: &[&str]) -> Value {
        let out = self.create(name, extra);
        assert!(out.status.success(), "pod create {name}: {}", stderr(&out));
        self.state(name)
    }

    fn state(&self, name: &str) -> Value {
        let out = self.podrun(&["pod", "state", name]);
        assert!(out.status.success(), "pod state {name}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn delete(&self, name: &str) {
        let out = self.podrun(&["pod", "delete", "--force", name]);
        assert!(out.status.success(), "pod delete {name}: {}", stderr(&out));
    }

    fn ns(&self, pod: &str, kind: &str) -> PathBuf {
        self.root.join("pods").join(pod).join("ns").join(kind)
    }

    /// Runs busybox `args` inside the pod's netns.
    fn in_pod(&self, pod: &str, args: &[&str]) -> Output {
        let net = format!("--net={}", self.ns(pod, "net").display());
        Command::new("nsenter")
            .arg(net)
            .arg(busybox())
            .args(args)
            .output()
            .unwrap()
    }

    fn store_files(&self) -> Vec<String> {
        let dir = self.store.join(self.bridge());
        let mut v: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.root.join("pods")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let _ = Command::new(PODRUN)
                    .arg("--root")
                    .arg(&self.root)
                    .args(["pod", "delete", "--force", &name])
                    .output();
            }
        }
        if link_exists(&self.bridge()) {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge()])
                .status();
        }
        if let Some(base) = self.root.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn process_exists(pid: i64) -> bool {
    // a zombie (already dead, waiting for its reaper) does not count
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn mounted(path: &Path) -> bool {
    let p = path.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(p.as_str()))
}

/// Whether the pod's cgroup exists in any mounted hierarchy (v1, v2 or hybrid host).
fn pod_cgroup_exists(root: &Path, name: &str) -> bool {
    let path = format!("podrun/pods/{name}-{}", root_hash(root));
    !crate::common::cgroupfs::existing_dirs(&path).is_empty()
}

/// Everything a deleted pod leaves behind that the tests check.
fn assert_pod_gone(env: &Env, name: &str, st: &Value) {
    let pid = st["pid"].as_i64().unwrap();
    assert!(!process_exists(pid), "pause {pid} of {name} still runs");
    if let Some(veth) = st["network"]["hostVeth"].as_str() {
        assert!(!link_exists(veth), "veth {veth} of {name} left");
    }
    for kind in ["net", "ipc", "uts", "pid"] {
        assert!(
            !mounted(&env.ns(name, kind)),
            "ns/{kind} of {name} still mounted"
        );
    }
    assert!(
        !env.root.join("pods").join(name).exists(),
        "state dir of {name} left"
    );
    assert!(!pod_cgroup_exists(&env.root, name), "cgroup of {name} left");
    if let Some(ip) = st["ip"].as_str() {
        let ip = ip.split('/').next().unwrap();
        assert!(
            !env.store_files().contains(&ip.to_string()),
            "IP file {ip} of {name} left"
        );
    }
}

#[test]
fn pod_create_state_list_delete() {
    let env = Env::new(101);
    let st = env.create_ok("web", &["--hostname", "webhost"]);
    assert_eq!(st["name"], "web");
    assert_eq!(st["status"], "running");
    assert_eq!(st["ip"], format!("{}/24", env.ip(2)));
    assert_eq!(st["bridge"], env.bridge());
    assert_eq!(st["containers"], serde_json::json!([]));
    assert_eq!(st["hostname"], "webhost");
    let pid = st["pid"].as_i64().unwrap();
    // the pause runs from a sealed memfd, in its own namespaces and cgroup
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().starts_with("/memfd:podrun-pause"),
        "{exe:?}"
    );
    for kind in ["net", "ipc", "uts"] {
        let pod_ns = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        let mine = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert_ne!(pod_ns, mine, "{kind} namespace not new");
        assert!(mounted(&env.ns("web", kind)), "ns/{kind} not bind-mounted");
    }
    assert!(pod_cgroup_exists(&env.root, "web"));
    let uts = Command::new("nsenter")
        .arg(format!("--uts={}", env.ns("web", "uts").display()))
        .arg(busybox())
        .arg("hostname")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&uts.stdout).trim(), "webhost");
    // eth0 with the address and a default route via the gateway; the gateway answers
    let addr = env.in_pod("web", &["ip", "-4", "addr", "show", "eth0"]);
    assert!(String::from_utf8_lossy(&addr.stdout).contains(&format!("{}/24", env.ip(2))));
    let route = env.in_pod("web", &["ip", "route"]);
    assert!(String::from_utf8_lossy(&route.stdout).contains(&format!("default via {}", env.ip(1))));
    let ping = env.in_pod("web", &["ping", "-c", "1", "-W", "2", &env.ip(1)]);
    assert!(
        ping.status.success(),
        "ping gateway: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    // the IPAM file in host-local's format
    let owner = st["ownerId"].as_str().unwrap();
    let content = std::fs::read_to_string(env.store.join(env.bridge()).join(env.ip(2))).unwrap();
    assert_eq!(content, format!("{owner}\r\neth0"));

    let list = env.podrun(&["pod", "list", "--format", "json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "web");
    let table = String::from_utf8(env.podrun(&["pod", "list"]).stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("web"), "{table}");

    env.delete("web");
    assert_pod_gone(&env, "web", &st);
    assert!(
        !link_exists(&env.bridge()),
        "bridge made by podrun stays after the last pod"
    );
    let out = env.podrun(&["pod", "state", "web"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pod web does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pod_stopped_when_pause_dies() {
    let env = Env::new(102);
    let st = env.create_ok("p", &["--no-network"]);
    assert!(st["ip"].is_null());
    let pid = st["pid"].as_i64().unwrap();
    let k = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    // the pause exits 0 on TERM; wait until it is gone (reaped by whoever adopted it)
    let mut stopped = false;
    for _ in 0..2000 {
        if env.state("p")["status"] == "stopped" {
            stopped = true;
            break;
        }
        std::thread::yield_now();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(stopped, "pod not seen as stopped");
    env.delete("p");
    assert_pod_gone(&env, "p", &st);
}

#[test]
fn two_pods_reach_each_other_over_the_bridge() {
    let env = Env::new(103);
    let a = env.create_ok("a", &[]);
    let b = env.create_ok("b", &[]);
    let (ip_a, ip_b) = (env.ip(2), env.ip(3));
    assert_eq!(a["ip"], format!("{ip_a}/24"));
    assert_eq!(b["ip"], format!("{ip_b}/24"));
    let ino = |p: &str| {
        std::fs::metadata(env.ns(p, "net"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap()
    };
    assert_ne!(ino("a"), ino("b"), "two pods share a netns");
    for (from, to) in [("a", &ip_b), ("b", &ip_a)] {
        let ping = env.in_pod(from, &["ping", "-c", "1", "-W", "2", to]);
        assert!(
            ping.status.success(),
            "{from} -> {to}: {}",
            String::from_utf8_lossy(&ping.stdout)
        );
    }
    // TCP: nc server in b, client in a
    let net_b = format!("--net={}", env.ns("b", "net").display());
    let mut server = Command::new("nsenter")
        .arg(&net_b)
        .arg(busybox())
        .args(["nc", "-l", "-p", "7777"])
        // An open stdin pipe: on stdin EOF busybox nc shuts its sending half, and a client
        // that sees that EOF first exits without sending (the test's stdin may be /dev/null).
        // wait_with_output closes it, after the client is done.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sent = false;
    for _ in 0..200 {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo hello-from-a | nsenter --net={} {} nc -w 2 {ip_b} 7777",
                env.ns("a", "net").display(),
                busybox().display()
            ))
            .output()
            .unwrap();
        if out.status.success() {
            sent = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if !sent {
        let _ = server.kill();
    }
    let out = server.wait_with_output().unwrap();
    assert!(sent, "nc client never connected");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello-from-a"));
    env.delete("a");
    assert!(
        link_exists(&env.bridge()),
        "bridge removed while pod b uses it"
    );
    env.delete("b");
    assert_pod_gone(&env, "a", &a);
    assert_pod_gone(&env, "b", &b);
    assert!(!link_exists(&env.bridge()));
}

#[test]
fn share_pid_makes_the_pause_pid_1() {
    let env = Env::new(104);
    let st = env.create_ok("sp", &["--share-pid", "--no-network"]);
    assert_eq!(st["sharePid"], true);
    let pid = st["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.split_whitespace().last() == Some("1"), "{nspid}");
    assert!(mounted(&env.ns("sp", "pid")));
    env.delete("sp");
    assert_pod_gone(&env, "sp", &st);
}

#[test]
fn bad_input_is_refused_and_leaks_nothing() {
    let env = Env::new(105);
    for name in ["-bad", "a/b", "with space", &"x".repeat(65)] {
        let out = env.create(name, &[]);
        assert!(!out.status.success(), "{name} accepted");
        assert!(
            stderr(&out).contains("invalid pod name"),
            "{}",
            stderr(&out)
        );
    }
    for subnet in [
        "10.244.105.0",
        "nonsense/24",
        "10.244.105.0/33",
        "10.244.105.5/24",
        "10.244.105.0/31",
    ] {
        let store = env.store.to_str().unwrap();
        let out = env.podrun(&[
            "pod",
            "create",
            "--bridge",
            &env.bridge(),
            "--subnet",
            subnet,
            "--store-dir",
            store,
            "x",
        ]);
        assert!(!out.status.success(), "subnet {subnet} accepted");
        assert!(
            stderr(&out).contains("subnet") || stderr(&out).contains("CIDR"),
            "{}",
            stderr(&out)
        );
    }
    let out = env.create("x", &["--ip", "10.244.99.5"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not usable in subnet"),
        "{}",
        stderr(&out)
    );
    let out = env.create("x", &["--ip", &env.ip(1)]);
    assert!(!out.status.success(), "gateway given out");
    assert!(!env.root.join("pods/x").exists());
    assert!(!link_exists(&env.bridge()), "bridge made for refused input");

    let a = env.create_ok("a", &["--ip", &env.ip(50)]);
    assert_eq!(a["ip"], format!("{}/24", env.ip(50)));
    let out = env.create("a", &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pod a already exists"),
        "{}",
        stderr(&out)
    );
    let out = env.create("b", &["--ip", &env.ip(50)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already allocated"),
        "{}",
        stderr(&out)
    );
    let owner_b = a["ownerId"]
        .as_str()
        .unwrap()
        .replace("podrun-a-", "podrun-b-");
    assert!(
        !link_exists(&veth_name(&owner_b)),
        "veth of the refused pod left"
    );
    assert!(!env.root.join("pods/b").exists());
    assert_eq!(env.store_files(), vec![env.ip(50)]);
    env.delete("a");
    assert_pod_gone(&env, "a", &a);
}

#[test]
fn exhaustion_after_the_veth_rolls_everything_back() {
    let env = Env::new(106);
    let store = env.store.to_str().unwrap().to_string();
    let subnet = "10.244.106.0/30"; // gateway .1, one pod .2
    let create = |name: &str| {
        env.podrun(&[
            "pod",
            "create",
            "--bridge",
            &env.bridge(),
            "--subnet",
            subnet,
            "--store-dir",
            &store,
            name,
        ])
    };
    let out = create("first");
    assert!(out.status.success(), "{}", stderr(&out));
    let first = env.state("first");
    assert_eq!(first["ip"], "10.244.106.2/30");
    let out = create("second");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no IP addresses available in 10.244.106.0/30"),
        "{}",
        stderr(&out)
    );
    // the veth of "second" was made (before IPAM) and must be gone, with its pause
    let owner = first["ownerId"]
        .as_str()
        .unwrap()
        .replace("podrun-first-", "podrun-second-");
    let veth = veth_name(&owner);
    assert!(!link_exists(&veth), "veth {veth} left");
    assert_eq!(
        pauses_of(&env.root, "second"),
        0,
        "pause of the failed pod left"
    );
    assert!(!env.root.join("pods/second").exists());
    assert!(!pod_cgroup_exists(&env.root, "second"));
    assert_eq!(env.store_files(), vec!["10.244.106.2".to_string()]);
    env.delete("first");
    assert_pod_gone(&env, "first", &first);
    assert!(!link_exists(&env.bridge()));
}

/// The hash of the state root in a pod's cgroup name (`/podrun/pods/<name>-<hash>`), the same
/// FNV-1a 32 as podrun's `pod::owner_id`.
fn root_hash(root: &Path) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The same hash as podrun's `net::veth_name` (FNV-1a 32 of `owner\nifname\nnetwork`) for a
/// pod's attachment (`eth0` in network `podrun`).
fn veth_name(owner: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in format!("{owner}\neth0\npodrun").bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("veth{h:08x}")
}

/// Live pause processes in pod `name`'s cgroup (other tests' pauses run concurrently).
fn pauses_of(root: &Path, name: &str) -> usize {
    let cg = format!("/podrun/pods/{name}-{}\n", root_hash(root));
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let is_pause = std::fs::read_link(e.path().join("exe"))
                .map(|p| p.to_string_lossy().starts_with("/memfd:podrun-pause"))
                .unwrap_or(false);
            is_pause
                && std::fs::read_to_string(e.path().join("cgroup"))
                    .map(|c| c.contains(&cg))
                    .unwrap_or(false)
        })
        .count()
}

#[test]
fn twenty_concurrent_creates_share_one_bridge() {
    let env = Env::new(107);
    let names: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| s.spawn(|| env.create(n, &[])))
            .collect();
        for (h, n) in handles.into_iter().zip(&names) {
            let out = h.join().unwrap();
            assert!(out.status.success(), "create {n}: {}", stderr(&out));
        }
    });
    let states: Vec<Value> = names.iter().map(|n| env.state(n)).collect();
    let mut ips: Vec<String> = states
        .iter()
        .map(|s| s["ip"].as_str().unwrap().to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "duplicate IPs: {ips:?}");
    let created = states
        .iter()
        .filter(|s| s["network"]["bridgeCreated"] == true)
        .count();
    assert_eq!(created, 1, "the bridge was created {created} times");
    for n in &names {
        let ping = env.in_pod(n, &["ping", "-c", "1", "-W", "2", &env.ip(1)]);
        assert!(ping.status.success(), "{n} cannot reach the gateway");
    }
    std::thread::scope(|s| {
        for n in &names {
            let env = &env;
            s.spawn(move || env.delete(n));
        }
    });
    for (n, st) in names.iter().zip(&states) {
        assert_pod_gone(&env, n, st);
    }
    assert!(!link_exists(&env.bridge()));
    assert!(env.store_files().is_empty());
}

/// Live pause processes (any cgroup) whose UTS namespace has hostname `h`: finds a pause a
/// killed create started even before it was put in its cgroup.
fn pauses_with_hostname(h: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|p| p.to_string_lossy().starts_with("/memfd:podrun-pause"))
        })
        .filter(|pid| {
            Command::new("nsenter")
                .arg(format!("--uts=/proc/{pid}/ns/uts"))
                .args(["uname", "-n"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == h)
        })
        .collect()
}

/// Issue 7, item 9 for pods: `pod create` SIGKILLed at random moments (half inside one
/// create's duration, half anywhere in 0-300 ms); `pod delete --force` then removes the
/// pause, veth, IP, bind mounts, cgroup and state, and the name is reusable.
#[test]
fn sigkill_during_pod_create_then_delete_force_cleans_up() {
    let env = Env::new(108);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(7);
    eprintln!("pod sigkill trials seed {seed:#x}");
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t0 = std::time::Instant::now();
    env.create_ok("probe", &[]);
    let create_us = (t0.elapsed().as_micros() as u64).clamp(1000, 300_000);
    env.delete("probe");
    let owner_prefix = "podrun-";
    let (mut finished, mut killed) = (0, 0);
    for trial in 0..50u64 {
        let name = format!("k{trial}");
        let delay_us = if trial % 2 == 0 {
            rand() % create_us
        } else {
            rand() % 300_000
        };
        let (b, s) = (env.bridge(), env.subnet());
        let store = env.store.to_str().unwrap().to_string();
        let mut child = Command::new(PODRUN)
            .arg("--root")
            .arg(&env.root)
            .args([
                "pod",
                "create",
                "--bridge",
                &b,
                "--subnet",
                &s,
                "--store-dir",
                &store,
                &name,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(delay_us));
        let _ = child.kill();
        if child.wait().unwrap().success() {
            finished += 1;
        } else {
            killed += 1;
        }
        let what = format!("trial {trial} (kill after {} us)", delay_us);
        if env.root.join("pods").join(&name).exists() {
            let out = env.podrun(&["pod", "delete", "--force", &name]);
            assert!(
                out.status.success(),
                "{what}: pod delete --force: {}",
                stderr(&out)
            );
        }
        assert!(
            !env.root.join("pods").join(&name).exists(),
            "{what}: state left"
        );
        assert!(
            pauses_with_hostname(&name).is_empty(),
            "{what}: pause left running"
        );
        assert!(!pod_cgroup_exists(&env.root, &name), "{what}: cgroup left");
        for kind in ["net", "ipc", "uts", "pid"] {
            assert!(
                !mounted(&env.ns(&name, kind)),
                "{what}: ns/{kind} still mounted"
            );
        }
        assert!(
            env.store_files().is_empty(),
            "{what}: IP files left: {:?}",
            env.store_files()
        );
        let veths: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{b}/brif"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            veths.is_empty(),
            "{what}: veths left on the bridge: {veths:?}"
        );
        assert!(!link_exists(&b), "{what}: bridge left with no pod");
        // the name is reusable at once
        let st = env.create_ok(&name, &[]);
        assert!(
            st["ownerId"]
                .as_str()
                .is_some_and(|o| o.starts_with(owner_prefix)),
            "{st}"
        );
        env.delete(&name);
        assert_pod_gone(&env, &name, &st);
    }
    eprintln!("pod sigkill trials: {finished} finished before the kill, {killed} killed (one create ~{create_us} us)");
}

/// A bridge that existed before podrun (made here with `ip`, as an admin would) is used as it
/// is and stays after the last pod is deleted: podrun removes only bridges it made.
#[test]
fn an_existing_bridge_is_used_and_kept() {
    let env = Env::new(109);
    let made = Command::new("ip")
        .args(["link", "add", &env.bridge(), "type", "bridge"])
        .status()
        .unwrap();
    assert!(made.success(), "ip link add {}", env.bridge());
    let st = env.create_ok("on-existing", &[]);
    assert_eq!(st["network"]["bridgeCreated"], false, "{st}");
    let veth = st["network"]["hostVeth"].as_str().unwrap().to_string();
    let master = std::fs::read_link(format!("/sys/class/net/{veth}/master")).unwrap();
    assert!(
        master.ends_with(env.bridge()),
        "veth {veth} is on {master:?}"
    );
    let ping = env.in_pod("on-existing", &["ping", "-c", "1", "-W", "2", &env.ip(1)]);
    assert!(
        ping.status.success(),
        "gateway on the existing bridge: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    env.delete("on-existing");
    assert_pod_gone(&env, "on-existing", &st);
    assert!(
        link_exists(&env.bridge()),
        "podrun removed a bridge it did not make"
    );
    assert!(!env.store.join(env.bridge()).exists(), "IPAM store left");
    // Env's Drop removes the bridge this test made.
}

/// `--mtu` reaches the bridge podrun makes, both veth ends; the host's ip_forward is on; and
/// everything is done in-process over netlink: `pod create` executes no program but the pause.
#[test]
fn mtu_ip_forward_and_no_helper_programs() {
    let env = Env::new(110);
    let trace = env.root.parent().unwrap().join("execve.trace");
    let (b, s) = (env.bridge(), env.subnet());
    let store = env.store.to_str().unwrap().to_string();
    // strace -f follows the pause too, which never exits: once `pod create` itself has exited
    // (its "+++ exited" line), strace is killed, which detaches it from the pause.
    let strace = Command::new("strace")
        .args(["-f", "-q", "-e", "trace=execve,execveat", "-o"])
        .arg(&trace)
        .arg(PODRUN)
        .arg("--root")
        .arg(&env.root)
        .args([
            "pod",
            "create",
            "--bridge",
            &b,
            "--subnet",
            &s,
            "--store-dir",
            &store,
            "--mtu",
            "1400",
            "m",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    struct StopStrace(std::process::Child);
    impl Drop for StopStrace {
        fn drop(&mut self) {
            // strace blocks SIGTERM when it runs a program with -o; on SIGKILL the kernel
            // detaches its tracees, which run on. Our own child, by its pid.
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let strace_pid = strace.id();
    let guard = StopStrace(strace);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let exit_line = loop {
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        // the first traced pid is podrun's
        let first = text.split_whitespace().next().unwrap_or("").to_string();
        // strace pads the pid column: "537   +++ exited with 0 +++"
        let done = text
            .lines()
            .find(|l| {
                l.split_once(char::is_whitespace)
                    .is_some_and(|(pid, rest)| {
                        pid == first && rest.trim_start().starts_with("+++ exited")
                    })
            })
            .map(str::to_string);
        if let Some(l) = done {
            break l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pod create under strace (pid {strace_pid}) did not finish: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(guard);
    assert!(
        exit_line.ends_with("exited with 0 +++"),
        "pod create failed: {exit_line}"
    );
    let st = env.state("m");
    let text = std::fs::read_to_string(&trace).unwrap();
    // "<... execveat resumed>" lines finish a call strace split around another pid's
    // output; the call itself is on its "<unfinished ...>" line.
    let execs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("execve") && !l.contains(" resumed>"))
        .collect();
    for l in &execs {
        let ok = l.contains(&format!("execve(\"{PODRUN}\""))
            || l.contains("execveat(")
            || l.contains("execve(\"/proc/self/fd/");
        assert!(ok, "pod create executed a program: {l}\nall: {execs:#?}");
    }
    assert!(execs.len() >= 2, "no exec of the pause seen: {execs:#?}");
    let mtu = |path: String| {
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .trim()
            .to_string()
    };
    let veth = st["network"]["hostVeth"].as_str().unwrap();
    assert_eq!(mtu(format!("/sys/class/net/{veth}/mtu")), "1400");
    assert_eq!(mtu(format!("/sys/class/net/{b}/mtu")), "1400");
    let pod_side = env.in_pod("m", &["cat", "/sys/class/net/eth0/mtu"]);
    assert_eq!(
        String::from_utf8_lossy(&pod_side.stdout).trim(),
        "1400",
        "{}",
        stderr(&pod_side)
    );
    assert_eq!(
        mtu("/proc/sys/net/ipv4/ip_forward".into()),
        "1",
        "ip_forward is off"
    );
    env.delete("m");
    assert_pod_gone(&env, "m", &st);
}

/// A process that is a child subreaper and runs `argv`; it reports every descendant it reaps
/// as (pid, wait status) on a pipe. So the test sees the exit status of the pause, which
/// `pod create` leaves to the caller's subreaper as the pod's parent would be.
struct Reaper {
    pid: i32,
    reports: std::fs::File,
}

impl Reaper {
    fn spawn(argv: &[&str]) -> Reaper {
        use std::ffi::CString;
        use std::os::fd::FromRawFd;
        let args: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: O_CLOEXEC open of a constant path.
        let devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        assert!(devnull >= 0);
        // SAFETY: the test process has threads: the child only calls async-signal-safe
        // functions (prctl, fork, dup2, execv, waitpid, write, _exit) on data made before.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: see above; every pointer was prepared before the fork.
            unsafe {
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
                let cmd = libc::fork();
                if cmd == 0 {
                    libc::dup2(devnull, 0);
                    libc::dup2(devnull, 1);
                    libc::dup2(devnull, 2);
                    libc::execv(ptrs[0], ptrs.as_ptr());
                    libc::_exit(127);
                }
                loop {
                    let mut status = 0;
                    let p = libc::waitpid(-1, &mut status, 0);
                    if p < 0 {
                        if *libc::__errno_location() == libc::EINTR {
                            continue;
                        }
                        libc::_exit(0);
                    }
                    let rec = [p, status];
                    libc::write(fds[1], rec.as_ptr().cast(), std::mem::size_of_val(&rec));
                }
            }
        }
        // SAFETY: our copies of the write end and /dev/null; the read end becomes a File.
        unsafe {
            libc::close(fds[1]);
            libc::close(devnull);
            Reaper {
                pid,
                reports: std::fs::File::from_raw_fd(fds[0]),
            }
        }
    }

    /// The next (pid, wait status) reaped, waiting at most 20 s.
    fn next(&mut self) -> (i32, i32) {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.reports.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20_000) };
        assert_eq!(ready, 1, "the reaper reported nothing within 20 s");
        let mut buf = [0u8; 8];
        self.reports
            .read_exact(&mut buf)
            .expect("a report from the reaper");
        let pid = i32::from_ne_bytes(buf[..4].try_into().unwrap());
        let status = i32::from_ne_bytes(buf[4..].try_into().unwrap());
        (pid, status)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // SAFETY: kill and reap our own child by its recorded pid.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The pause exits with status 0 on SIGTERM and on SIGINT (what Kubernetes' pause.c does),
/// seen by the process it is left to (a subreaper here, containerd's shim or init elsewhere).
#[test]
fn pause_exits_0_on_sigterm_and_sigint() {
    let env = Env::new(111);
    for (name, sig) in [("term", libc::SIGTERM), ("int", libc::SIGINT)] {
        let root = env.root.to_str().unwrap();
        let mut reaper = Reaper::spawn(&[
            PODRUN,
            "--root",
            root,
            "pod",
            "create",
            "--no-network",
            name,
        ]);
        let (pid, status) = reaper.next();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "pod create {name} (pid {pid}) ended with status {status:#x}"
        );
        let st = env.state(name);
        let pause = st["pid"].as_i64().unwrap() as i32;
        assert!(process_exists(i64::from(pause)));
        // SAFETY: kill with the pid this test's pod recorded.
        assert_eq!(unsafe { libc::kill(pause, sig) }, 0);
        let (pid, status) = reaper.next();
        assert_eq!(pid, pause, "the reaper reaped another process");
        assert!(
            libc::WIFEXITED(status),
            "pause killed by signal {} instead of exiting",
            libc::WTERMSIG(status)
        );
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "pause exit status after signal {sig}"
        );
        assert_eq!(env.state(name)["status"], "stopped");
        env.delete(name);
        assert_pod_gone(&env, name, &st);
    }
}

/// The ports of bridge `br` (sorted).
fn bridge_ports(br: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new("/sys/class/net").join(br).join("brif"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn link_mac(name: &str) -> String {
    let p = Path::new("/sys/class/net").join(name).join("address");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// One TCP connection from `pod` to `listener` (on the gateway address), within `limit`:
/// true when the listener accepted it and got the line.
fn pod_reaches(
    env: &Env,
    pod: &str,
    listener: &std::net::TcpListener,
    limit: std::time::Duration,
) -> bool {
    use std::io::Read;
    let addr = listener.local_addr().unwrap();
    let mut client = Command::new("nsenter")
        .arg(format!("--net={}", env.ns(pod, "net").display()))
        .arg(busybox())
        .args([
            "nc",
            "-w",
            "2",
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if let Some(mut stdin) = client.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"hello-gateway\n");
    }
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + limit;
    let mut got = false;
    while std::time::Instant::now() < deadline {
        match listener.accept() {
            Ok((mut conn, _)) => {
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(limit)).unwrap();
                let mut buf = [0u8; 64];
                let n = conn.read(&mut buf).unwrap_or(0);
                got = String::from_utf8_lossy(&buf[..n]).contains("hello-gateway");
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    let _ = client.kill();
    let _ = client.wait();
    got
}

/// The bridge keeps its own MAC (set once the gateway address is on it, as the reference
/// bridge plugin does): deleting the pod whose veth has the lowest MAC — the one a bridge
/// without its own MAC takes — leaves the other pod's neighbour entry for the gateway right,
/// and it reaches the gateway at once (not after its ARP entry expires, 30-40 s).
#[test]
fn bridge_keeps_its_mac_when_a_pod_goes() {
    let env = Env::new(187);
    env.create_ok("a", &[]);
    let veth_a = bridge_ports(&env.bridge());
    assert_eq!(veth_a.len(), 1, "{veth_a:?}");
    env.create_ok("b", &[]);
    let veth_b: Vec<String> = bridge_ports(&env.bridge())
        .into_iter()
        .filter(|p| *p != veth_a[0])
        .collect();
    assert_eq!(veth_b.len(), 1, "{veth_b:?}");
    let bridge_mac = link_mac(&env.bridge());
    let (gone, stays) = if link_mac(&veth_a[0]) < link_mac(&veth_b[0]) {
        ("a", "b")
    } else {
        ("b", "a")
    };
    let port = 20000 + (std::process::id() % 20000) as u16;
    let listener = std::net::TcpListener::bind((env.ip(1).as_str(), port)).unwrap();
    let limit = std::time::Duration::from_secs(3);
    assert!(
        pod_reaches(&env, stays, &listener, limit),
        "{stays} cannot reach the gateway before anything changed"
    );
    env.delete(gone);
    assert!(
        pod_reaches(&env, stays, &listener, limit),
        "{stays} lost the gateway when {gone} was deleted (bridge MAC {bridge_mac} -> {})",
        link_mac(&env.bridge())
    );
    assert_eq!(
        link_mac(&env.bridge()),
        bridge_mac,
        "the bridge MAC changed"
    );
    env.delete(stays);
}

/// `ip netns add NAME`, deleted on drop (also when the test fails).
struct NamedNetns(String);

impl NamedNetns {
    fn new(name: String) -> NamedNetns {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        NamedNetns(name)
    }

    fn path(&self) -> PathBuf {
        // canonical (/var/run is usually a link to /run), as mountinfo names it
        let dir = std::fs::canonicalize("/var/run/netns").unwrap();
        dir.join(&self.0)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ns_inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// `pod create --netns PATH`: the pause runs in the given network namespace (not a new one),
/// the pod's ns/net is it, and `pod delete` leaves that namespace alone.
#[test]
fn pod_joins_an_existing_netns() {
    let env = Env::new(112);
    let netns = NamedNetns::new(format!("prt-pods112-{}", std::process::id()));
    let path = netns.path();
    let out = env.podrun(&[
        "pod",
        "create",
        "--netns",
        path.to_str().unwrap(),
        "--",
        "jn",
    ]);
    assert!(out.status.success(), "pod create --netns: {}", stderr(&out));
    let st = env.state("jn");
    assert!(st["ip"].is_null(), "{st}");
    let pid = st["pid"].as_i64().unwrap();
    let want = ns_inode(&path);
    let pause_net = ns_inode(Path::new(&format!("/proc/{pid}/ns/net")));
    assert_eq!(pause_net, want, "the pause is not in the given netns");
    assert_eq!(ns_inode(&env.ns("jn", "net")), want, "ns/net of the pod");
    // its other namespaces are still its own
    assert_ne!(
        ns_inode(Path::new(&format!("/proc/{pid}/ns/uts"))),
        ns_inode(Path::new("/proc/self/ns/uts"))
    );
    env.delete("jn");
    assert_pod_gone(&env, "jn", &st);
    assert!(mounted(&path), "pod delete removed the netns it joined");
    assert_eq!(ns_inode(&path), want);
    // a missing netns is refused, leaving nothing
    let out = env.podrun(&[
        "pod",
        "create",
        "--netns",
        "/nonexistent/netns",
        "--",
        "bad",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/netns"),
        "{}",
        stderr(&out)
    );
    assert!(
        !env.root.join("pods").join("bad").exists(),
        "state of bad left"
    );
}
