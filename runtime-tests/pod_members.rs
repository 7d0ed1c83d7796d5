//! Containers in pods: `--pod NAME` (and plain OCI namespace paths) join the pause's
//! namespaces. localhost and the pod IP shared, IPC shared within a pod only, a shared PID
//! namespace whose pause reaps orphans, `pod delete --force` with members, and bad joins.
//! Each test has its own --root, store dir, bridge `prm<n>` and subnet 10.244.<n>.0/24.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{cgroupfs, describe, pid_alive, TestEnv};

/// A TestEnv plus this test's bridge, subnet and IPAM store. TestEnv's Drop deletes the
/// containers and pods (with --force); this Drop then removes a bridge left by a failure.
struct PodEnv {
    env: TestEnv,
    n: u8,
}

impl PodEnv {
    fn new(name: &str, n: u8) -> PodEnv {
        PodEnv {
            env: TestEnv::new(name),
            n,
        }
    }

    fn bridge(&self) -> String {
        format!("prm{}", self.n)
    }

    fn store(&self) -> PathBuf {
        self.env.dir.join("ipam")
    }

    fn pod_create(&self, name: &str, extra: &[&str]) -> Value {
        let (bridge, subnet, store) = (
            self.bridge(),
            format!("10.244.{}.0/24", self.n),
            self.store(),
        );
        let mut args = vec!["pod", "create", "--bridge", &bridge, "--subnet", &subnet];
        args.extend(["--store-dir", store.to_str().unwrap()]);
        args.extend_from_slice(extra);
        args.push(name);
        self.env.run_ok(&args);
        self.pod_state(name)
    }

    fn pod_state(&self, name: &str) -> Value {
        let text = self.env.run_ok(&["pod", "state", name]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("pod state {name}: {e}: {text}"))
    }

    fn ns(&self, pod: &str, kind: &str) -> PathBuf {
        self.env.root.join("pods").join(pod).join("ns").join(kind)
    }

    /// A busybox bundle running `sh -c script`.
    fn sh_bundle(&self, script: &str) -> PathBuf {
        self.env.bundle("sleeper", |spec| {
            spec["process"]["args"] = json!(["sh", "-c", script]);
        })
    }

    /// `run -d --pod POD` of `sh -c script`; returns the container's host PID.
    fn run_detached(&self, pod: &str, id: &str, script: &str) -> i32 {
        let bundle = self.sh_bundle(script);
        self.env.run_ok(&[
            "run",
            "-d",
            "--pod",
            pod,
            "--bundle",
            bundle.to_str().unwrap(),
            id,
        ]);
        self.env.state(id)["pid"].as_i64().unwrap() as i32
    }

    /// Foreground `run [--pod POD]` of `sh -c script`; returns stdout (asserting exit 0).
    fn run_fg(&self, pod: Option<&str>, id: &str, script: &str) -> String {
        let bundle = self.sh_bundle(script);
        let mut args = vec!["run", "--bundle", bundle.to_str().unwrap()];
        if let Some(p) = pod {
            args.extend(["--pod", p]);
        }
        args.push(id);
        self.env.run_ok(&args)
    }
}

impl Drop for PodEnv {
    fn drop(&mut self) {
        let bridge = self.bridge();
        if Path::new("/sys/class/net").join(&bridge).exists() {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &bridge])
                .status();
        }
    }
}

fn ino(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display())),
    )
}

/// `net:[4026532...]` of a namespace file, as `readlink /proc/self/ns/net` prints it.
fn ns_link(kind: &str, path: &Path) -> String {
    format!("{kind}:[{}]", ino(path))
}

#[test]
fn same_pod_containers_share_localhost_the_pod_ip_and_hostname() {
    let pe = PodEnv::new("podm-localhost", 120);
    let pod = pe.pod_create("web", &["--hostname", "web-pod"]);
    let ip = pod["ip"].as_str().unwrap().to_string();
    let server_pid = pe.run_detached("web", "srv", "exec httpd -f -p 127.0.0.1:8080 -h /etc");
    let out = pe.run_fg(
        Some("web"),
        "cli",
        "for i in $(seq 100); do wget -q -O - http://127.0.0.1:8080/group 2>/dev/null && break; usleep 50000; done; \
         echo NET=$(readlink /proc/self/ns/net); echo HOST=$(hostname); \
         echo ADDR=$(ip -o -4 addr show dev eth0 | awk '{print $4}')",
    );
    assert!(
        out.contains("root:x:0:"),
        "the client did not get /etc/group from the server over localhost: {out}"
    );
    let netns = ns_link("net", &pe.ns("web", "net"));
    assert!(
        out.contains(&format!("NET={netns}")),
        "client is not in the pod netns {netns}: {out}"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{server_pid}/ns/net"))
            .unwrap()
            .to_string_lossy(),
        netns,
        "server is not in the pod netns"
    );
    assert!(
        out.contains("HOST=web-pod\n"),
        "client hostname is not the pod's: {out}"
    );
    assert!(
        out.contains(&format!("ADDR={ip}\n")),
        "client eth0 is not the pod IP {ip}: {out}"
    );
    // the server sees the same uts and eth0 (exec into it)
    let seen = pe.env.run_ok(&[
        "exec",
        "srv",
        "sh",
        "-c",
        "hostname; ip -o -4 addr show dev eth0",
    ]);
    assert!(
        seen.starts_with("web-pod\n") && seen.contains(&ip),
        "server view: {seen}"
    );
    // the foreground client was deleted when it exited: only the server is still a member
    assert_eq!(pe.pod_state("web")["containers"], json!(["srv"]));
}

#[test]
fn oci_namespace_paths_join_the_pod_like_pod_flag() {
    let pe = PodEnv::new("podm-paths", 121);
    pe.pod_create("p", &["--no-network"]);
    let (net, ipc, uts) = (pe.ns("p", "net"), pe.ns("p", "ipc"), pe.ns("p", "uts"));
    let bundle = pe.env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!([
            "sh",
            "-c",
            "for k in net ipc uts; do readlink /proc/self/ns/$k; done; hostname"
        ]);
        let nss = spec["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| !matches!(n["type"].as_str(), Some("network" | "ipc" | "uts")));
        nss.push(json!({"type": "network", "path": net}));
        nss.push(json!({"type": "ipc", "path": ipc}));
        nss.push(json!({"type": "uts", "path": uts}));
        spec["hostname"] = json!("ignored-when-joined");
    });
    let out = pe
        .env
        .run_ok(&["run", "--bundle", bundle.to_str().unwrap(), "bypath"]);
    let want = format!(
        "{}\n{}\n{}\np\n",
        ns_link("net", &net),
        ns_link("ipc", &ipc),
        ns_link("uts", &uts)
    );
    assert_eq!(out, want);
}

#[test]
fn pod_flag_wins_over_a_namespace_path_in_the_config() {
    let pe = PodEnv::new("podm-precedence", 122);
    pe.pod_create("p", &["--no-network"]);
    // the config asks for the host's netns; --pod must put the container in the pod's
    let bundle = pe.env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["readlink", "/proc/self/ns/net"]);
        let nss = spec["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "network");
        nss.push(json!({"type": "network", "path": "/proc/1/ns/net"}));
    });
    let out = pe.env.run_ok(&[
        "run",
        "--pod",
        "p",
        "--bundle",
        bundle.to_str().unwrap(),
        "prec",
    ]);
    assert_eq!(out.trim(), ns_link("net", &pe.ns("p", "net")));
    assert_ne!(
        out.trim(),
        std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .to_string_lossy()
    );
}

/// Creates a SysV shared-memory segment inside the IPC namespace at `ns` (from a helper thread
/// that joins it) and returns its id.
fn shm_in_namespace(ns: &Path, key: i32) -> i32 {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&ns).unwrap();
        // SAFETY: setns on a valid fd; only this short-lived thread changes namespace.
        assert_eq!(
            unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWIPC) },
            0,
            "setns ipc"
        );
        // SAFETY: shmget with plain integer arguments.
        let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        id
    })
    .join()
    .unwrap()
}

#[test]
fn ipc_is_shared_within_a_pod_only() {
    let pe = PodEnv::new("podm-ipc", 123);
    pe.pod_create("a", &["--no-network"]);
    pe.pod_create("b", &["--no-network"]);
    let holder = pe.run_detached("a", "a1", "exec sleep 3600");
    // the segment is made in container a1's IPC namespace
    let key = 0x5044_0000 | (std::process::id() as i32 & 0xffff);
    shm_in_namespace(Path::new(&format!("/proc/{holder}/ns/ipc")), key);
    // /proc/sysvipc/shm lists the segments of the reader's IPC namespace (key in decimal)
    let has_key = |out: &str| {
        out.lines()
            .any(|l| l.split_whitespace().next() == Some(&key.to_string()))
    };
    let list = "cat /proc/sysvipc/shm";
    let same = pe.run_fg(Some("a"), "a2", list);
    assert!(
        has_key(&same),
        "a container of the same pod does not see segment {key}: {same}"
    );
    let other = pe.run_fg(Some("b"), "b1", list);
    assert!(
        !has_key(&other),
        "a container of another pod sees segment {key}: {other}"
    );
    let alone = pe.run_fg(None, "solo", list);
    assert!(
        !has_key(&alone),
        "a container outside pods sees segment {key}: {alone}"
    );
}

#[test]
fn shared_pid_namespace_shows_members_and_the_pause_reaps_orphans() {
    let pe = PodEnv::new("podm-pid", 124);
    let pod = pe.pod_create("sp", &["--share-pid", "--no-network"]);
    pe.run_detached("sp", "a", "exec sleep 3600");
    // b makes an orphan (the subshell exits, its sleep is reparented to PID 1 = the pause),
    // waits for it to die, then lists every process and its state.
    let out = pe.run_fg(
        Some("sp"),
        "b",
        "(sleep 0.3 &) ; sleep 1; for f in /proc/[0-9]*/stat; do read -r s < $f && echo \"$s\"; done",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("1 (")),
        "no PID 1 in the pod: {out}"
    );
    assert!(
        lines.iter().any(|l| l.contains("(sleep) S")),
        "b does not see a's sleep: {out}"
    );
    let zombies: Vec<&&str> = lines.iter().filter(|l| l.contains(") Z ")).collect();
    assert!(
        zombies.is_empty(),
        "the pause left zombies: {zombies:?}\n{out}"
    );
    // PID 1 is the pod's pause
    let pause = pod["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pause}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
        "{status}"
    );
}

#[test]
fn pod_delete_refuses_members_unless_forced_then_leaves_nothing() {
    let pe = PodEnv::new("podm-delete", 125);
    let pod = pe.pod_create("d", &[]);
    let pids = [
        pe.run_detached("d", "m1", "exec sleep 3600"),
        pe.run_detached("d", "m2", "exec sleep 3600"),
    ];
    let err = pe.env.run_fail(&["pod", "delete", "d"]);
    assert!(
        err.contains("has containers") && err.contains("m1") && err.contains("m2"),
        "{err}"
    );
    assert!(
        pids.iter().all(|p| pid_alive(*p)),
        "a refused delete killed members"
    );

    let veth = pod["network"]["hostVeth"].as_str().map(str::to_string);
    let ip = pod["ip"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let pause = pod["pid"].as_i64().unwrap() as i32;
    assert!(
        pe.store().join(pe.bridge()).join(&ip).exists(),
        "IP file missing while the pod lives"
    );
    pe.env.run_ok(&["pod", "delete", "--force", "d"]);

    for p in pids.iter().chain([&pause]) {
        assert!(!pid_alive(*p), "process {p} survived pod delete --force");
    }
    assert!(
        pe.env.container_ids().is_empty(),
        "member state left: {:?}",
        pe.env.container_ids()
    );
    assert!(!pe.env.root.join("pods/d").exists(), "pod state dir left");
    if let Some(v) = veth {
        assert!(!Path::new("/sys/class/net").join(v).exists(), "veth left");
    }
    assert!(
        !Path::new("/sys/class/net").join(pe.bridge()).exists(),
        "bridge made by podrun left"
    );
    assert!(!pe.store().join(pe.bridge()).exists(), "IPAM store left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(pe.env.root.to_str().unwrap()),
        "namespace bind mounts left"
    );
    let pod_cg = pod["cgroupPath"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    assert!(pod_cg.starts_with("podrun/pods/d-"), "{pod_cg}");
    let members = ["m1", "m2"].map(|m| crate::common::container_cgroup(&pe.env.root, m));
    for cg in [pod_cg.as_str(), members[0].as_str(), members[1].as_str()] {
        let left = cgroupfs::existing_dirs(cg);
        assert!(left.is_empty(), "cgroup {cg} left: {left:?}");
    }
}

#[test]
fn joining_a_missing_or_stopped_pod_is_refused_and_leaks_nothing() {
    let pe = PodEnv::new("podm-badjoin", 126);
    let bundle = pe.sh_bundle("true");
    let b = bundle.to_str().unwrap();
    let err = pe
        .env
        .run_fail(&["create", "--pod", "nope", "--bundle", b, "j1"]);
    assert!(err.contains("nope"), "{err}");
    assert!(
        pe.env.container_ids().is_empty(),
        "state left after a refused join"
    );

    let pod = pe.pod_create("s", &["--no-network"]);
    let pause = pod["pid"].as_i64().unwrap() as i32;
    // SAFETY: kill with the PID this test's pod create recorded.
    assert_eq!(unsafe { libc::kill(pause, libc::SIGKILL) }, 0);
    for _ in 0..200 {
        if pe.pod_state("s")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(pe.pod_state("s")["status"], "stopped");
    let out = pe.env.podrun(&["run", "--pod", "s", "--bundle", b, "j2"]);
    assert!(
        !out.status.success(),
        "joined a stopped pod: {}",
        describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stopped") || err.contains("not running"),
        "{err}"
    );
    assert!(
        pe.env.container_ids().is_empty(),
        "state left after a refused join"
    );
    let left = cgroupfs::existing_dirs(&crate::common::container_cgroup(&pe.env.root, "j2"));
    assert!(left.is_empty(), "cgroup left: {left:?}");
    assert_eq!(pe.pod_state("s")["containers"], json!([]));
    // A join by the OCI path of the bind-mounted netns (what containerd passes) after the pause
    // died: the bind mount still names the pod's netns, so the container lands there (or is
    // refused), never in the host's netns.
    let net = pe.ns("s", "net");
    let bundle = pe.env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["readlink", "/proc/self/ns/net"]);
        let nss = spec["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "network");
        nss.push(json!({"type": "network", "path": net}));
    });
    let out = pe
        .env
        .podrun(&["run", "--bundle", bundle.to_str().unwrap(), "j3"]);
    let host_net = std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let seen = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_ne!(
        seen, host_net,
        "a join of a dead pod's netns landed in the host's netns"
    );
    if out.status.success() {
        assert_eq!(seen, ns_link("net", &net), "{}", describe(&out));
    }
    assert!(
        pe.env.container_ids().is_empty(),
        "state left: {:?}",
        pe.env.container_ids()
    );
}
