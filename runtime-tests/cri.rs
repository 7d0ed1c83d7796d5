//! Kubernetes' path to a runtime: kubelet → CRI v1 (gRPC) → containerd 1.6's CRI plugin →
//! containerd-shim-runc-v2 → runc or podrun. A private containerd (cri/daemon.rs) has two
//! runtime handlers, `runc` and `podrun`, on one podrun-cni network (10.244.236.0/24), and a
//! third, `podrun-bridge`, whose CNI conf dir holds the reference `bridge` + `host-local`
//! conflist (10.244.237.0/24). The test calls what kubelet calls (cri/client.rs) and runs the
//! same cases with both handlers at once; runc's results are checked against the expected
//! values and podrun's must equal runc's, step by step:
//! - net: RunPodSandbox (IP from the conflist's subnet, reserved in its store), ListPodSandbox;
//!   an httpd and a client container in one pod over 127.0.0.1, their net/ipc/uts namespaces
//!   the sandbox's; a second pod fetching from the first pod's IP; ExecSync (output, exit
//!   code, a missing binary, timeout); ContainerStatus, ListContainers, ContainerStats,
//!   ListContainerStats; UpdateContainerResources (read back from the host's cgroup files);
//!   ReopenContainerLog; the /dev/shm mount's nosuid,nodev,noexec;
//! - stop: StopContainer with a timeout, TERM trapped (exit 0) and TERM ignored (137);
//! - shared: a pod-wide PID namespace (the pause is PID 1 for the containers), an OOM kill
//!   reported as OOMKilled, a read-only rootfs with a non-root user;
//! - every pod: Stop/RemovePodSandbox leave no veth, IP reservation, netns, mount, cgroup,
//!   runtime or containerd state, shim or shim socket;
//! - bridge: two pods on the reference bridge plugin with podrun as the runtime.
//!
//! `cri_bench_sandbox_and_container` (#[ignore]d, run by scripts/bench.sh) prints the medians of
//! RunPodSandbox and CreateContainer+StartContainer for both handlers.

pub(crate) mod client;
pub(crate) mod daemon;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_cri::v1::*;
use serde_json::Value;

use crate::common::clients::{cgroup_dirs_named, tcp_listening, Step, BUSYBOX_IMAGE};
use crate::common::{count_mounts_containing, pid_alive, podrun_bin, TestEnv};
use client::{image_spec, Cri, CriResult};
use daemon::{CriDaemon, Plugin, Setup, K8S_NAMESPACE};

/// The podrun-cni network of the runc and podrun handlers, and the reference bridge's.
const NET_THIRD: u8 = 236;
const BRIDGE_THIRD: u8 = 237;
const BENCH_THIRD: u8 = 238;
const MIB: i64 = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(30);

/// One pod of a case: its config (CreateContainer sends it again, as kubelet does), its id
/// and what its teardown check needs.
pub(crate) struct Pod<'a> {
    pub(crate) d: &'a CriDaemon,
    pub(crate) cri: &'a Cri,
    handler: &'static str,
    config: PodSandboxConfig,
    pub(crate) id: String,
    /// The pod's cgroup parent (kubelet's pod<uid> level), relative to the hierarchy roots.
    cgroup_parent: String,
    pub(crate) containers: Vec<String>,
}

impl<'a> Pod<'a> {
    /// RunPodSandbox with kubelet's config shape; `pid` is the pod's PID namespace mode.
    pub(crate) fn run(
        d: &'a CriDaemon,
        cri: &'a Cri,
        handler: &'static str,
        name: &str,
        pid: NamespaceMode,
    ) -> Pod<'a> {
        let full = format!("{handler}-{name}");
        let log_dir = d.dir.join("logs").join(&full);
        std::fs::create_dir_all(&log_dir).unwrap_or_else(|e| panic!("mkdir logs: {e}"));
        let cgroup_parent = format!("{}/{full}", d.cgroup_parent);
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: full.clone(),
                uid: format!("uid-{full}"),
                namespace: "podrun-test".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: log_dir.to_str().expect("utf8 path").into(),
            labels: HashMap::from([("podrun-test-pod".to_string(), full.clone())]),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: format!("/{cgroup_parent}"),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(namespaces(pid)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = cri.run_pod_sandbox(&config, handler).unwrap_or_else(|e| {
            panic!("RunPodSandbox {full} ({handler}): {e}\n{}", d.log_tail(30))
        });
        d.record_sandbox(&id);
        Pod {
            d,
            cri,
            handler,
            config,
            id,
            cgroup_parent,
            containers: Vec::new(),
        }
    }

    fn label(&self) -> String {
        self.config.labels["podrun-test-pod"].clone()
    }

    fn status(&self) -> PodSandboxStatusResponse {
        self.cri
            .pod_sandbox_status(&self.id)
            .unwrap_or_else(|e| panic!("PodSandboxStatus {}: {e}", self.label()))
    }

    /// The sandbox's `info` (containerd's verbose JSON: pid, runtimeSpec, cniResult...).
    pub(crate) fn info(&self) -> Value {
        info_json(&self.status().info)
    }

    fn ip(&self) -> String {
        self.status()
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> i32 {
        self.info()["pid"].as_i64().unwrap_or(0) as i32
    }

    /// CreateContainer + StartContainer of busybox running `sh -c SCRIPT`.
    pub(crate) fn start(
        &mut self,
        name: &str,
        script: &str,
        edit: impl FnOnce(&mut ContainerConfig),
    ) -> String {
        let (id, started) = self.try_start(name, script, edit);
        started.unwrap_or_else(|e| {
            panic!(
                "StartContainer {name} in {}: {e}\n{}",
                self.label(),
                self.d.log_tail(30)
            )
        });
        id
    }

    /// CreateContainer (which must succeed) and the result of StartContainer.
    fn try_start(
        &mut self,
        name: &str,
        script: &str,
        edit: impl FnOnce(&mut ContainerConfig),
    ) -> (String, CriResult<()>) {
        let pid_mode = self.pid_mode();
        let mut config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(image_spec(BUSYBOX_IMAGE)),
            command: vec!["sh".into(), "-c".into(), script.into()],
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                // what kubelet gives a BestEffort container
                resources: Some(LinuxContainerResources {
                    cpu_period: 100_000,
                    cpu_shares: 2,
                    oom_score_adj: 1000,
                    ..Default::default()
                }),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces(pid_mode)),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        edit(&mut config);
        let id = self
            .cri
            .create_container(&self.id, config, &self.config)
            .unwrap_or_else(|e| {
                panic!(
                    "CreateContainer {name} in {}: {e}\n{}",
                    self.label(),
                    self.d.log_tail(30)
                )
            });
        self.containers.push(id.clone());
        let started = self.cri.start_container(&id);
        (id, started)
    }

    fn pid_mode(&self) -> NamespaceMode {
        let pid = self
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref())
            .map(|n| n.pid)
            .unwrap_or(0);
        NamespaceMode::try_from(pid).unwrap_or(NamespaceMode::Pod)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        Path::new(&self.config.log_directory).join(format!("{name}.log"))
    }

    /// The content of container `name`'s CRI log (stdout and stderr lines, in order).
    pub(crate) fn log(&self, name: &str) -> String {
        read_cri_log(&self.log_path(name))
    }

    pub(crate) fn wait_log(&self, name: &str, needle: &str) {
        crate::lifecycle::wait_until(
            &format!("{needle:?} in the log of {name} ({})", self.label()),
            WAIT,
            || self.log(name).contains(needle),
        );
    }

    /// StopPodSandbox + RemovePodSandbox, then what is left of it, as steps.
    pub(crate) fn teardown(self, steps: &mut Vec<Step>) {
        let label = self.label();
        let info = self.info();
        let ip = self.ip();
        let netns = netns_path(&info);
        let veths = host_veths(&info, &self.d.network_of(self.handler).bridge);
        let shim = self.d.shim_pid(&self.id).unwrap_or(0);
        let pause = self.pid();
        steps.push(text(
            "before teardown: netns, host veth, shim, pause known",
            &format!(
                "{} {} {} {}",
                netns.is_some(),
                veths.len(),
                shim > 0,
                pause > 0
            ),
        ));
        steps.push(result(
            "StopPodSandbox",
            self.cri.stop_pod_sandbox(&self.id),
        ));
        steps.push(result(
            "RemovePodSandbox",
            self.cri.remove_pod_sandbox(&self.id),
        ));
        let net = self.d.network_of(self.handler);
        let mut left = Vec::new();
        if !ip.is_empty() && net.reserved_ips().contains(&ip) {
            left.push(format!("IP reservation {ip}"));
        }
        for v in &veths {
            if Path::new("/sys/class/net").join(v).exists() {
                left.push(format!("veth {v}"));
            }
        }
        if let Some(ns) = &netns {
            if Path::new(ns).exists() {
                left.push(format!("netns {ns}"));
            }
            if count_mounts_containing(ns) > 0 {
                left.push(format!("netns mount {ns}"));
            }
        }
        let all_ids: Vec<&String> = std::iter::once(&self.id)
            .chain(self.containers.iter())
            .collect();
        for id in &all_ids {
            if count_mounts_containing(id) > 0 {
                left.push(format!("a mount of {id}"));
            }
            let cg = cgroup_dirs_named(&format!("{}/{id}", self.cgroup_parent));
            if !cg.is_empty() {
                left.push(format!("cgroup {cg:?}"));
            }
            let root = self
                .d
                .handler(self.handler)
                .root
                .join(K8S_NAMESPACE)
                .join(id);
            if root.exists() {
                left.push(format!("runtime state {}", root.display()));
            }
            let task = self.d.task_state_dir().join(id);
            if task.exists() {
                left.push(format!("containerd task dir {}", task.display()));
            }
        }
        for dir in ["sandboxes", "containers"] {
            for id in &all_ids {
                let p = self.d.cri_state_dir().join(dir).join(id);
                if p.exists() {
                    left.push(format!("CRI state {}", p.display()));
                }
            }
        }
        if shim > 0 && pid_alive(shim) {
            left.push(format!("shim {shim}"));
        }
        if pause > 0 && pid_alive(pause) {
            left.push(format!("pause {pause}"));
        }
        match self.d.shim_socket(&self.id) {
            Some(sock) if sock.exists() => left.push(format!("shim socket {}", sock.display())),
            Some(_) => {}
            None => left.push("shim socket: its name could not be computed".into()),
        }
        let listed = self
            .cri
            .list_pod_sandbox(PodSandboxFilter {
                label_selector: HashMap::from([("podrun-test-pod".to_string(), label.clone())]),
                ..Default::default()
            })
            .map(|v| v.len())
            .map_err(|e| e.code());
        if listed != Ok(0) {
            left.push(format!("ListPodSandbox: {listed:?}"));
        }
        steps.push(text(
            &format!("left after removing pod {}", strip_handler(&label)),
            &left.join("; "),
        ));
    }
}

fn namespaces(pid: NamespaceMode) -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Pod as i32,
        pid: pid as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn strip_handler(label: &str) -> &str {
    label.split_once('-').map(|(_, rest)| rest).unwrap_or(label)
}

fn info_json(info: &HashMap<String, String>) -> Value {
    info.get("info")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// The sandbox's netns path from its runtime spec.
fn netns_path(info: &Value) -> Option<String> {
    info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?["path"]
        .as_str()
        .map(str::to_string)
}

/// The host ends of the pod's veths: the CNI result's interfaces outside the pod, less the
/// bridge (containerd's cniResult: {"Interfaces": {name: {"Sandbox": ...}}}).
fn host_veths(info: &Value, bridge: &str) -> Vec<String> {
    info["cniResult"]["Interfaces"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(name, v)| {
                    *name != bridge
                        && *name != "lo"
                        && v["Sandbox"].as_str().unwrap_or("").is_empty()
                })
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The message lines of a CRI log file ("TIME STREAM F|P MESSAGE"), joined.
fn read_cri_log(path: &Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    for line in raw.lines() {
        let mut parts = line.splitn(4, ' ');
        let (_, _, tag, msg) = (parts.next(), parts.next(), parts.next(), parts.next());
        out.push_str(msg.unwrap_or(""));
        if tag != Some("P") {
            out.push('\n');
        }
    }
    out
}

fn text(what: &str, s: &str) -> Step {
    Step {
        what: what.into(),
        code: None,
        stdout: s.into(),
    }
}

/// A call that returns nothing: "ok", or its gRPC code.
fn result<T>(what: &str, r: CriResult<T>) -> Step {
    match r {
        Ok(_) => text(what, "ok"),
        Err(e) => text(what, &format!("error {:?}: {}", e.code(), e.message())),
    }
}

fn exec_step(what: &str, r: CriResult<ExecSyncResponse>) -> Step {
    match r {
        Ok(r) => Step {
            what: what.into(),
            code: Some(r.exit_code),
            stdout: format!(
                "{}|{}",
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            ),
        },
        Err(e) => text(what, &error_kind(&e)),
    }
}

/// A gRPC error as its code and what the message says went wrong (the runtime's own words
/// differ; the cause must reach the client).
fn error_kind(e: &tonic::Status) -> String {
    let msg = e.message().to_lowercase();
    let cause = ["no such file or directory", "permission denied", "timeout"]
        .into_iter()
        .find(|c| msg.contains(c))
        .unwrap_or("other");
    format!("error {:?}: {cause}", e.code())
}

fn ns_link(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("({e})"))
}

fn container_info(cri: &Cri, id: &str) -> (ContainerStatus, Value) {
    let r = cri
        .container_status(id)
        .unwrap_or_else(|e| panic!("ContainerStatus {id}: {e}"));
    (r.status.unwrap_or_default(), info_json(&r.info))
}

pub(crate) fn container_pid(cri: &Cri, id: &str) -> i32 {
    container_info(cri, id).1["pid"].as_i64().unwrap_or(0) as i32
}

fn state_name(state: i32) -> &'static str {
    ContainerState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("?")
}

/// Waits until the container has exited; returns its status.
fn wait_exited(cri: &Cri, id: &str) -> ContainerStatus {
    let mut last = ContainerStatus::default();
    crate::lifecycle::wait_until(&format!("container {id} to exit"), WAIT, || {
        last = container_info(cri, id).0;
        last.state == ContainerState::ContainerExited as i32
    });
    last
}

fn exit_step(what: &str, s: &ContainerStatus) -> Step {
    Step {
        what: what.into(),
        code: Some(s.exit_code),
        stdout: format!("{} {}", state_name(s.state), s.reason),
    }
}

/// The value of a cgroup file of the cgroup `rel`, from whichever hierarchy has it.
fn cgroup_value(rel: &str, files: &[&str]) -> String {
    for dir in cgroup_dirs_named(rel) {
        for f in files {
            if let Ok(s) = std::fs::read_to_string(dir.join(f)) {
                return s.trim().to_string();
            }
        }
    }
    "no cgroup file".into()
}

/// Memory limit and CPU quota of a container's cgroup (v1 files, or v2's memory.max, cpu.max).
fn limits_on_host(pod: &Pod, id: &str) -> String {
    let rel = format!("{}/{id}", pod.cgroup_parent);
    let mem = cgroup_value(&rel, &["memory.limit_in_bytes", "memory.max"]);
    let quota = cgroup_value(&rel, &["cpu.cfs_quota_us", "cpu.max"]);
    let mem = match mem.parse::<u64>() {
        Ok(n) if n >= 1 << 62 => "unlimited".into(),
        _ if mem == "max" => "unlimited".into(),
        _ => mem,
    };
    let quota = match quota.split_whitespace().next().unwrap_or("") {
        "-1" | "max" => "none".to_string(),
        q => q.to_string(),
    };
    let shares = cgroup_value(&rel, &["cpu.shares"]);
    let shares = if shares == "no cgroup file" {
        format!("weight {}", cgroup_value(&rel, &["cpu.weight"]))
    } else {
        format!("shares {shares}")
    };
    format!("memory {mem} quota {quota} {shares}")
}

/// A process's cgroup in the hierarchy that has the memory controller (v1 `N:memory:PATH`,
/// else the v2 line `0::PATH`), from /proc/PID/cgroup.
fn memory_cgroup_of(pid: i32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let line = |want: &dyn Fn(&str) -> bool| {
        text.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            want(ctrls).then(|| path.to_string())
        })
    };
    line(&|c| c.split(',').any(|c| c == "memory"))
        .or_else(|| line(&|c| c.is_empty()))
        .unwrap_or_default()
}

/// How a host shows CRI's cpu_shares: v1 cpu.shares, or v2 cpu.weight converted as runc does.
fn shares_on_host(shares: u64) -> String {
    if cgroup_dirs_named("")
        .iter()
        .any(|d| d.join("cpu.shares").exists())
    {
        format!("shares {shares}")
    } else {
        format!("weight {}", 1 + (shares - 2) * 9999 / 262_142)
    }
}

// --- the cases -----------------------------------------------------------------------------

/// Two pods: httpd + a client over 127.0.0.1 in one, a client of its IP in the other; the
/// calls kubelet makes on a running container.
pub(crate) fn case_net(d: &CriDaemon, handler: &'static str) -> Vec<Step> {
    let cri = d.client();
    let mut steps = Vec::new();
    let net = d.network_of(handler);
    let mut web = Pod::run(d, &cri, handler, "web", NamespaceMode::Container);
    let ip = web.ip();
    steps.push(text(
        "RunPodSandbox: IP from the conflist's subnet, reserved",
        &format!(
            "{} {}",
            ip.starts_with(&net.subnet_prefix()),
            net.reserved_ips().contains(&ip)
        ),
    ));
    let st = web.status().status.unwrap_or_default();
    steps.push(text(
        "PodSandboxStatus: state, handler",
        &format!("{} {}", st.state, st.runtime_handler == handler),
    ));
    let listed = cri
        .list_pod_sandbox(PodSandboxFilter {
            label_selector: HashMap::from([("podrun-test-pod".to_string(), web.label())]),
            ..Default::default()
        })
        .unwrap_or_default();
    steps.push(text(
        "ListPodSandbox by label",
        &listed
            .iter()
            .map(|p| format!("{} {}", p.state, p.runtime_handler == handler))
            .collect::<Vec<_>>()
            .join(","),
    ));

    let httpd = web.start(
        "httpd",
        "mkdir -p /www && echo hello-cri > /www/index.html && trap 'exit 0' TERM; \
         httpd -f -p 8080 -h /www & wait",
        |c| {
            let r = c
                .linux
                .as_mut()
                .and_then(|l| l.resources.as_mut())
                .expect("resources");
            r.memory_limit_in_bytes = 128 * MIB;
            r.cpu_quota = 50_000;
            r.cpu_shares = 512;
            r.oom_score_adj = 999;
        },
    );
    let httpd_pid = container_pid(&cri, &httpd);
    crate::lifecycle::wait_until("httpd to listen", WAIT, || tcp_listening(httpd_pid, 8080));
    let sandbox_pid = web.pid();
    for kind in ["net", "ipc", "uts", "pid", "mnt"] {
        steps.push(text(
            &format!("httpd's {kind} namespace is the sandbox's"),
            &(ns_link(httpd_pid, kind) == ns_link(sandbox_pid, kind)).to_string(),
        ));
    }

    let client = web.start(
        "client",
        "timeout 5 wget -q -O - http://127.0.0.1:8080/; echo wget=$?; \
         for n in net ipc uts; do readlink /proc/self/ns/$n; done",
        |_| {},
    );
    let st = wait_exited(&cri, &client);
    steps.push(exit_step("client over 127.0.0.1: exit", &st));
    let log = web.log("client");
    let lines: Vec<&str> = log.lines().collect();
    steps.push(text(
        "client over 127.0.0.1: output",
        &lines.iter().take(2).cloned().collect::<Vec<_>>().join("\n"),
    ));
    let want_ns: Vec<String> = ["net", "ipc", "uts"]
        .iter()
        .map(|k| ns_link(sandbox_pid, k))
        .collect();
    steps.push(text(
        "client's net/ipc/uts are the sandbox's",
        &(lines.get(2..5).map(|l| l.to_vec())
            == Some(want_ns.iter().map(String::as_str).collect()))
        .to_string(),
    ));

    // a second pod fetching from the first pod's IP
    let mut peer = Pod::run(d, &cri, handler, "peer", NamespaceMode::Container);
    let peer_ip = peer.ip();
    steps.push(text(
        "second pod: own IP in the subnet",
        &(peer_ip != ip && peer_ip.starts_with(&net.subnet_prefix())).to_string(),
    ));
    let fetch = peer.start(
        "fetch",
        &format!("timeout 5 wget -q -O - http://{ip}:8080/; echo wget=$?"),
        |_| {},
    );
    let st = wait_exited(&cri, &fetch);
    steps.push(exit_step(
        "second pod fetches from the first pod's IP: exit",
        &st,
    ));
    steps.push(text(
        "second pod fetches from the first pod's IP: output",
        &peer.log("fetch"),
    ));

    // ExecSync
    steps.push(exec_step(
        "ExecSync: output and exit code",
        cri.exec_sync(&httpd, &["sh", "-c", "echo out; echo err >&2; exit 3"], 0),
    ));
    steps.push(exec_step(
        "ExecSync: as in the container (cwd, hostname, user)",
        cri.exec_sync(
            &httpd,
            &["sh", "-c", "pwd; hostname; id -u; echo \"HOME=$HOME\""],
            5,
        ),
    ));
    steps.push(exec_step(
        "ExecSync: a missing binary",
        cri.exec_sync(&httpd, &["/no/such/binary"], 5),
    ));
    let t0 = Instant::now();
    let r = cri.exec_sync(&httpd, &["sleep", "10"], 1);
    let took = t0.elapsed();
    steps.push(text(
        "ExecSync: timeout 1 s on sleep 10",
        &match r {
            Ok(r) => format!("no error (exit {})", r.exit_code),
            Err(e) => format!(
                "error {:?}, says timeout: {}",
                e.code(),
                e.message().contains("timeout")
            ),
        },
    ));
    steps.push(text(
        "ExecSync: the timed out exec was ended before its 10 s",
        &(took < Duration::from_secs(9)).to_string(),
    ));

    // ContainerStatus, List*, stats
    let (st, info) = container_info(&cri, &httpd);
    steps.push(text(
        "ContainerStatus httpd",
        &format!(
            "{} exit={} reason={:?} started={} image={} log={} pid={}",
            state_name(st.state),
            st.exit_code,
            st.reason,
            st.started_at > 0,
            st.image.map(|i| i.image).unwrap_or_default(),
            st.log_path.ends_with("httpd.log"),
            info["pid"].as_i64().unwrap_or(0) > 0
        ),
    ));
    let mut listed: Vec<String> = cri
        .list_containers(ContainerFilter {
            pod_sandbox_id: web.id.clone(),
            ..Default::default()
        })
        .unwrap_or_default()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c.metadata.as_ref().map(|m| m.name.as_str()).unwrap_or(""),
                state_name(c.state)
            )
        })
        .collect();
    listed.sort();
    steps.push(text("ListContainers of the pod", &listed.join(",")));
    let running = cri
        .list_containers(ContainerFilter {
            state: Some(ContainerStateValue {
                state: ContainerState::ContainerRunning as i32,
            }),
            pod_sandbox_id: web.id.clone(),
            ..Default::default()
        })
        .map(|v| v.iter().map(|c| c.id == httpd).collect::<Vec<_>>());
    steps.push(text("ListContainers: running", &format!("{running:?}")));
    steps.push(text(
        "ContainerStats httpd",
        &match cri.container_stats(&httpd) {
            Ok(s) => format!(
                "id={} cpu>0={} working_set>0={} writable_layer={}",
                s.attributes.map(|a| a.id == httpd).unwrap_or(false),
                s.cpu
                    .and_then(|c| c.usage_core_nano_seconds)
                    .is_some_and(|v| v.value > 0),
                s.memory
                    .and_then(|m| m.working_set_bytes)
                    .is_some_and(|v| v.value > 0),
                s.writable_layer.is_some()
            ),
            Err(e) => format!("error {:?}", e.code()),
        },
    ));
    steps.push(text(
        "ListContainerStats of the pod",
        &match cri.list_container_stats(ContainerStatsFilter {
            pod_sandbox_id: web.id.clone(),
            ..Default::default()
        }) {
            Ok(v) => {
                let mut ids: Vec<&str> = v
                    .iter()
                    .filter_map(|s| s.attributes.as_ref())
                    .filter_map(|a| a.metadata.as_ref())
                    .map(|m| m.name.as_str())
                    .collect();
                ids.sort();
                ids.join(",")
            }
            Err(e) => format!("error {:?}", e.code()),
        },
    ));

    // UpdateContainerResources, read back from the host
    steps.push(text(
        "limits on the host at create",
        &limits_on_host(&web, &httpd),
    ));
    steps.push(result(
        "UpdateContainerResources",
        cri.update_container_resources(
            &httpd,
            LinuxContainerResources {
                cpu_period: 100_000,
                cpu_quota: 30_000,
                cpu_shares: 512,
                memory_limit_in_bytes: 96 * MIB,
                oom_score_adj: 999,
                ..Default::default()
            },
        ),
    ));
    steps.push(text(
        "limits on the host after the update",
        &limits_on_host(&web, &httpd),
    ));
    steps.push(result(
        "UpdateContainerResources: memory only",
        cri.update_container_resources(
            &httpd,
            LinuxContainerResources {
                memory_limit_in_bytes: 64 * MIB,
                ..Default::default()
            },
        ),
    ));
    steps.push(text(
        "limits on the host after the memory-only update",
        &limits_on_host(&web, &httpd),
    ));

    // ReopenContainerLog: the log is rotated away, reopened, then written to
    let log_path = web.log_path("httpd");
    let rotated = log_path.with_extension("log.1");
    std::fs::rename(&log_path, &rotated).unwrap_or_else(|e| panic!("rotate the log: {e}"));
    steps.push(result(
        "ReopenContainerLog",
        cri.reopen_container_log(&httpd),
    ));
    steps.push(exec_step(
        "ExecSync: write to the container's stdout",
        cri.exec_sync(&httpd, &["sh", "-c", "echo after-reopen > /proc/1/fd/1"], 5),
    ));
    let reopened = Instant::now() + Duration::from_secs(10);
    while !web.log("httpd").contains("after-reopen") && Instant::now() < reopened {
        std::thread::sleep(Duration::from_millis(20));
    }
    steps.push(text(
        "the line is in the reopened log, not the rotated one",
        &format!(
            "{} {}",
            web.log("httpd").contains("after-reopen"),
            read_cri_log(&rotated).contains("after-reopen")
        ),
    ));

    // /dev/shm: the sandbox's shm, bind-mounted with its nosuid,nodev,noexec
    let shm = cri.exec_sync(
        &httpd,
        &["sh", "-c", "grep ' /dev/shm ' /proc/self/mounts"],
        5,
    );
    let flags = shm
        .as_ref()
        .map(|r| String::from_utf8_lossy(&r.stdout).into_owned())
        .unwrap_or_default();
    let opts: Vec<&str> = flags
        .split_whitespace()
        .nth(3)
        .unwrap_or("")
        .split(',')
        .collect();
    steps.push(text(
        "/dev/shm mount flags (nosuid,nodev,noexec)",
        &["nosuid", "nodev", "noexec"]
            .iter()
            .map(|f| format!("{f}={}", opts.contains(f)))
            .collect::<Vec<_>>()
            .join(" "),
    ));

    // kubelet's order: stop and remove the containers, then the sandbox
    steps.push(result(
        "StopContainer httpd (TERM trapped)",
        cri.stop_container(&httpd, 10),
    ));
    steps.push(exit_step(
        "httpd after StopContainer",
        &container_info(&cri, &httpd).0,
    ));
    for id in [&httpd, &client] {
        steps.push(result("RemoveContainer", cri.remove_container(id)));
    }
    steps.push(text(
        "ContainerStatus after RemoveContainer",
        &match cri.container_status(&client) {
            Ok(_) => "still there".into(),
            Err(e) => format!("error {:?}", e.code()),
        },
    ));
    web.teardown(&mut steps);
    peer.teardown(&mut steps);
    steps
}

/// StopContainer with a timeout: TERM trapped (exit 0 at once), TERM ignored (SIGKILL after
/// the timeout: 137).
pub(crate) fn case_stop(d: &CriDaemon, handler: &'static str) -> Vec<Step> {
    let cri = d.client();
    let mut steps = Vec::new();
    let mut pod = Pod::run(d, &cri, handler, "stop", NamespaceMode::Container);
    let trapper = pod.start(
        "trapper",
        "trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        |_| {},
    );
    let stubborn = pod.start(
        "stubborn",
        "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        |_| {},
    );
    pod.wait_log("trapper", "ready");
    pod.wait_log("stubborn", "ready");
    let stop = |id: &str, timeout: i64| {
        let c = d.client();
        let t0 = Instant::now();
        let r = c.stop_container(id, timeout);
        (r.map_err(|e| e.to_string()), t0.elapsed())
    };
    let stop = &stop;
    let (trap_took, ignore_took) = std::thread::scope(|s| {
        let a = s.spawn(|| stop(&trapper, 10));
        let b = s.spawn(|| stop(&stubborn, 1));
        (
            a.join().expect("stop trapper"),
            b.join().expect("stop stubborn"),
        )
    });
    steps.push(text(
        "StopContainer (TERM trapped, timeout 10)",
        &format!("{:?}", trap_took.0),
    ));
    steps.push(exit_step(
        "trapped: exit",
        &container_info(&cri, &trapper).0,
    ));
    steps.push(text(
        "trapped: the trap ran and the stop did not wait for the timeout",
        &format!(
            "{} {}",
            pod.log("trapper").contains("got-TERM"),
            trap_took.1 < Duration::from_secs(8)
        ),
    ));
    steps.push(text(
        "StopContainer (TERM ignored, timeout 1)",
        &format!("{:?}", ignore_took.0),
    ));
    steps.push(exit_step(
        "ignored: exit",
        &container_info(&cri, &stubborn).0,
    ));
    steps.push(text(
        "ignored: killed only after the timeout",
        &(ignore_took.1 >= Duration::from_secs(1)).to_string(),
    ));
    pod.teardown(&mut steps);
    steps
}

/// A pod-wide PID namespace, an OOM kill, a read-only rootfs with a non-root user.
pub(crate) fn case_shared(d: &CriDaemon, handler: &'static str) -> Vec<Step> {
    let cri = d.client();
    let mut steps = Vec::new();
    let mut pod = Pod::run(d, &cri, handler, "shared", NamespaceMode::Pod);
    let sleeper = pod.start("sleeper", "echo up; exec sleep 1000", |_| {});
    pod.wait_log("sleeper", "up");
    let pid = container_pid(&cri, &sleeper);
    steps.push(text(
        "pod-wide PID namespace: the container's is the sandbox's",
        &(ns_link(pid, "pid") == ns_link(pod.pid(), "pid")).to_string(),
    ));
    steps.push(exec_step(
        "pod-wide PID namespace: PID 1 is the pause, the sleeper is seen",
        cri.exec_sync(
            &sleeper,
            &[
                "sh",
                "-c",
                "cat /proc/1/cmdline; echo; ps -o comm | grep -c '^sleep$'",
            ],
            5,
        ),
    ));

    steps.push(text(
        "the pause's cgroup is the sandbox spec's cgroupsPath",
        &memory_cgroup_of(pod.pid())
            .ends_with(&format!("/{}/{}", pod.cgroup_parent, pod.id))
            .to_string(),
    ));
    steps.push(text(
        "limits on the host of a BestEffort container",
        &limits_on_host(&pod, &sleeper),
    ));
    let hog = pod.start("hog", "echo start; tail /dev/zero", |c| {
        let r = c
            .linux
            .as_mut()
            .and_then(|l| l.resources.as_mut())
            .expect("resources");
        r.memory_limit_in_bytes = 32 * MIB;
        r.memory_swap_limit_in_bytes = 32 * MIB;
    });
    let ro = pod.start(
        "ro",
        "id -u; id -g; echo \"HOME=$HOME\"; touch /etc/x 2>&1 || echo etc-refused; touch /dev/shm/x && echo shm-ok; \
         touch /tmp/x 2>/dev/null || echo tmp-refused",
        |c| {
            let sc = c
                .linux
                .as_mut()
                .and_then(|l| l.security_context.as_mut())
                .expect("security context");
            sc.readonly_rootfs = true;
            sc.run_as_user = Some(Int64Value { value: 1000 });
            sc.run_as_group = Some(Int64Value { value: 1000 });
        },
    );
    let st = wait_exited(&cri, &hog);
    steps.push(exit_step("OOM: the hog's status", &st));
    let st = wait_exited(&cri, &ro);
    steps.push(exit_step("read-only rootfs, user 1000: exit", &st));
    steps.push(text("read-only rootfs, user 1000: output", &pod.log("ro")));
    pod.teardown(&mut steps);
    steps
}

/// Containers that cannot start: the cause reaches the client (StartContainer's error and
/// ContainerStatus), as kubelet shows it.
pub(crate) fn case_errors(d: &CriDaemon, handler: &'static str) -> Vec<Step> {
    let cri = d.client();
    let mut steps = Vec::new();
    let mut pod = Pod::run(d, &cri, handler, "errors", NamespaceMode::Container);
    for (name, command) in [("missing", "/no/such/binary"), ("notexec", "/etc/hostname")] {
        let (id, started) = pod.try_start(name, "", |c| c.command = vec![command.into()]);
        steps.push(text(
            &format!("StartContainer {command}"),
            &match started {
                Ok(()) => "ok".into(),
                Err(e) => error_kind(&e),
            },
        ));
        let st = container_info(&cri, &id).0;
        steps.push(exit_step(&format!("ContainerStatus of {command}"), &st));
    }
    pod.teardown(&mut steps);
    steps
}

/// The reference bridge plugin with podrun as the runtime: two pods, one fetches from the other.
pub(crate) fn case_bridge(d: &CriDaemon, handler: &'static str) -> Vec<Step> {
    let cri = d.client();
    let mut steps = Vec::new();
    let net = d.network_of(handler);
    let mut a = Pod::run(d, &cri, handler, "a", NamespaceMode::Container);
    let ip = a.ip();
    steps.push(text(
        "RunPodSandbox: IP from the bridge conflist's subnet, reserved",
        &format!(
            "{} {}",
            ip.starts_with(&net.subnet_prefix()),
            net.reserved_ips().contains(&ip)
        ),
    ));
    let httpd = a.start(
        "httpd",
        "mkdir -p /www && echo hello-bridge > /www/index.html && httpd -f -p 8080 -h /www",
        |_| {},
    );
    let pid = container_pid(&cri, &httpd);
    crate::lifecycle::wait_until("httpd to listen", WAIT, || tcp_listening(pid, 8080));
    let mut b = Pod::run(d, &cri, handler, "b", NamespaceMode::Container);
    let fetch = b.start(
        "fetch",
        &format!("timeout 5 wget -q -O - http://{ip}:8080/; echo wget=$?; ip -4 -o addr show dev eth0 | awk '{{print $4}}'"),
        |_| {},
    );
    let st = wait_exited(&cri, &fetch);
    steps.push(exit_step("fetch from the other pod: exit", &st));
    let log = b.log("fetch");
    let mut lines = log.lines();
    steps.push(text(
        "fetch from the other pod: output, own address",
        &format!(
            "{} {} {}",
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
            lines
                .next()
                .is_some_and(|a| a.starts_with(&net.subnet_prefix()) && a.ends_with("/24"))
        ),
    ));
    a.teardown(&mut steps);
    b.teardown(&mut steps);
    steps
}

// --- the test ------------------------------------------------------------------------------

pub(crate) type Case = fn(&CriDaemon, &'static str) -> Vec<Step>;

/// What a case's thread gave: its steps, or the panic message.
pub(crate) fn run_cases(
    d: &CriDaemon,
    jobs: &[(&'static str, &'static str, Case)],
) -> Vec<(String, Result<Vec<Step>, String>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(handler, name, case)| {
                let (handler, case) = (*handler, *case);
                let h = s.spawn(move || case(d, handler));
                (format!("{handler}/{name}"), h)
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| {
                let r = h.join().map_err(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".into())
                });
                (name, r)
            })
            .collect()
    })
}

fn find<'s>(steps: &'s [Step], what: &str) -> &'s Step {
    steps
        .iter()
        .find(|s| s.what == what)
        .unwrap_or_else(|| panic!("no step {what:?}"))
}

/// runc's results that must hold: the comparison with podrun is against a known-good run.
pub(crate) fn check_runc(case: &str, steps: &[Step]) {
    let want = |what: &str, code: Option<i32>, out: &str| {
        let s = find(steps, what);
        assert_eq!(
            (s.code, s.stdout.as_str()),
            (code, out),
            "runc/{case}: {what}"
        );
    };
    for s in steps
        .iter()
        .filter(|s| s.what.starts_with("left after removing pod"))
    {
        assert_eq!(s.stdout, "", "runc/{case}: {}", s.what);
    }
    match case {
        "net" => {
            want(
                "RunPodSandbox: IP from the conflist's subnet, reserved",
                None,
                "true true",
            );
            want("httpd's net namespace is the sandbox's", None, "true");
            want("httpd's ipc namespace is the sandbox's", None, "true");
            want("httpd's uts namespace is the sandbox's", None, "true");
            want("httpd's pid namespace is the sandbox's", None, "false");
            want(
                "client over 127.0.0.1: exit",
                Some(0),
                "CONTAINER_EXITED Completed",
            );
            want("client over 127.0.0.1: output", None, "hello-cri\nwget=0");
            want("client's net/ipc/uts are the sandbox's", None, "true");
            want("second pod: own IP in the subnet", None, "true");
            want(
                "second pod fetches from the first pod's IP: output",
                None,
                "hello-cri\nwget=0\n",
            );
            want("ExecSync: output and exit code", Some(3), "out\n|err\n");
            want(
                "ExecSync: as in the container (cwd, hostname, user)",
                Some(0),
                "/\nweb\n0\nHOME=/root\n|",
            );
            want(
                "ExecSync: a missing binary",
                None,
                "error Unknown: no such file or directory",
            );
            want(
                "ExecSync: timeout 1 s on sleep 10",
                None,
                "error DeadlineExceeded, says timeout: true",
            );
            want(
                "ExecSync: the timed out exec was ended before its 10 s",
                None,
                "true",
            );
            want(
                "limits on the host at create",
                None,
                &format!("memory {} quota 50000 {}", 128 * MIB, shares_on_host(512)),
            );
            want("UpdateContainerResources", None, "ok");
            want(
                "limits on the host after the update",
                None,
                &format!("memory {} quota 30000 {}", 96 * MIB, shares_on_host(512)),
            );
            want(
                "limits on the host after the memory-only update",
                None,
                &format!("memory {} quota 30000 {}", 64 * MIB, shares_on_host(512)),
            );
            want("ReopenContainerLog", None, "ok");
            want(
                "the line is in the reopened log, not the rotated one",
                None,
                "true false",
            );
            want(
                "/dev/shm mount flags (nosuid,nodev,noexec)",
                None,
                "nosuid=true nodev=true noexec=true",
            );
            want(
                "httpd after StopContainer",
                Some(0),
                "CONTAINER_EXITED Completed",
            );
        }
        "stop" => {
            want("trapped: exit", Some(0), "CONTAINER_EXITED Completed");
            want(
                "trapped: the trap ran and the stop did not wait for the timeout",
                None,
                "true true",
            );
            want("ignored: exit", Some(137), "CONTAINER_EXITED Error");
            want("ignored: killed only after the timeout", None, "true");
        }
        "shared" => {
            want(
                "pod-wide PID namespace: the container's is the sandbox's",
                None,
                "true",
            );
            want(
                "pod-wide PID namespace: PID 1 is the pause, the sleeper is seen",
                Some(0),
                "/pause\u{0}\n1\n|",
            );
            want(
                "the pause's cgroup is the sandbox spec's cgroupsPath",
                None,
                "true",
            );
            want(
                "limits on the host of a BestEffort container",
                None,
                &format!("memory unlimited quota none {}", shares_on_host(2)),
            );
            want(
                "OOM: the hog's status",
                Some(137),
                "CONTAINER_EXITED OOMKilled",
            );
            want(
                "read-only rootfs, user 1000: exit",
                Some(0),
                "CONTAINER_EXITED Completed",
            );
            want(
                "read-only rootfs, user 1000: output",
                None,
                "1000\n1000\nHOME=/\ntouch: /etc/x: Read-only file system\netc-refused\nshm-ok\ntmp-refused\n",
            );
        }
        "errors" => {
            want(
                "StartContainer /no/such/binary",
                None,
                "error Unknown: no such file or directory",
            );
            want(
                "ContainerStatus of /no/such/binary",
                Some(128),
                "CONTAINER_EXITED StartError",
            );
            want(
                "StartContainer /etc/hostname",
                None,
                "error Unknown: permission denied",
            );
            want(
                "ContainerStatus of /etc/hostname",
                Some(128),
                "CONTAINER_EXITED StartError",
            );
        }
        _ => {}
    }
}

#[test]
fn cri_runs_podrun_like_runc() {
    let env = TestEnv::new("cri");
    let started = Instant::now();
    let mut handlers = daemon::runc_and_podrun();
    handlers.push(("podrun-bridge", podrun_bin(), Some(1)));
    let d = CriDaemon::start(
        &env,
        &Setup {
            tag: "t",
            networks: &[
                (Plugin::PodrunCni, NET_THIRD),
                (Plugin::ReferenceBridge, BRIDGE_THIRD),
            ],
            handlers: &handlers,
        },
    );
    let cri = d.client();
    let v = cri.version().expect("CRI Version");
    println!(
        "CRI: {} {} (API {})",
        v.runtime_name, v.runtime_version, v.runtime_api_version
    );
    let ready = Instant::now();

    let mut jobs: Vec<(&'static str, &'static str, Case)> = Vec::new();
    for handler in ["runc", "podrun"] {
        jobs.push((handler, "net", case_net));
        jobs.push((handler, "stop", case_stop));
        jobs.push((handler, "shared", case_shared));
        jobs.push((handler, "errors", case_errors));
    }
    jobs.push(("podrun-bridge", "bridge", case_bridge));
    let results = run_cases(&d, &jobs);
    println!(
        "cri: daemon ready in {:?}, cases in {:?}",
        ready - started,
        ready.elapsed()
    );

    let mut failures = Vec::new();
    let by_name: HashMap<&str, &Result<Vec<Step>, String>> =
        results.iter().map(|(n, r)| (n.as_str(), r)).collect();
    for (name, r) in &results {
        match r {
            Ok(steps) => {
                for s in steps {
                    println!("{name}: {s:?}");
                }
            }
            Err(e) => failures.push(format!("{name} panicked: {e}")),
        }
    }
    compare_with_runc(
        &by_name,
        "podrun",
        &["net", "stop", "shared", "errors"],
        &mut failures,
    );
    check_bridge(&by_name, "podrun-bridge/bridge", &mut failures);

    // The daemon and its shims go; nothing of them is left.
    drop(cri);
    stop_daemon_checking(d, &mut failures);
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The bridge case's expected values (no runc run to compare with: runc's handler has the
/// podrun-cni network); adds the failures.
pub(crate) fn check_bridge(
    by_name: &HashMap<&str, &Result<Vec<Step>, String>>,
    name: &str,
    failures: &mut Vec<String>,
) {
    if let Some(Ok(steps)) = by_name.get(name) {
        let want = [
            (
                "RunPodSandbox: IP from the bridge conflist's subnet, reserved",
                None,
                "true true",
            ),
            (
                "fetch from the other pod: exit",
                Some(0),
                "CONTAINER_EXITED Completed",
            ),
            (
                "fetch from the other pod: output, own address",
                None,
                "hello-bridge wget=0 true",
            ),
        ];
        for (what, code, out) in want {
            let s = find(steps, what);
            if (s.code, s.stdout.as_str()) != (code, out) {
                failures.push(format!("{name}: {what}: {s:?}"));
            }
        }
        for s in steps
            .iter()
            .filter(|s| s.what.starts_with("left after removing pod"))
        {
            if !s.stdout.is_empty() {
                failures.push(format!("{name}: {}: {}", s.what, s.stdout));
            }
        }
    }
}

/// Stops the daemon (and its shims); a process still naming its socket is a failure.
pub(crate) fn stop_daemon_checking(mut d: CriDaemon, failures: &mut Vec<String>) {
    d.cleanup();
    let left = crate::common::clients::processes_mentioning(d.socket.to_str().expect("utf8 path"));
    if !left.is_empty() {
        failures.push(format!("processes left after the daemon stopped: {left:?}"));
    }
}

/// Checks runc's steps of each case and that `handler`'s equal them; adds the failures.
pub(crate) fn compare_with_runc(
    by_name: &HashMap<&str, &Result<Vec<Step>, String>>,
    handler: &str,
    cases: &[&str],
    failures: &mut Vec<String>,
) {
    for case in cases {
        let case = *case;
        let (Ok(want), Ok(got)) = (
            by_name[format!("runc/{case}").as_str()],
            by_name[format!("{handler}/{case}").as_str()],
        ) else {
            continue;
        };
        if let Err(p) = std::panic::catch_unwind(|| check_runc(case, want)) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "runc check failed".into());
            failures.push(msg);
        }
        for (w, g) in want.iter().zip(got.iter()) {
            if w != g {
                failures.push(format!(
                    "{case}: {handler} differs from runc at {:?}:\n  runc:   {:?} {:?}\n  {handler}: {:?} {:?}",
                    w.what, w.code, w.stdout, g.code, g.stdout
                ));
            }
        }
        if want.len() != got.len() {
            failures.push(format!(
                "{case}: {} steps with runc, {} with {handler}",
                want.len(),
                got.len()
            ));
        }
    }
}

/// The CRI figure of scripts/bench.sh: medians of RunPodSandbox and of CreateContainer +
/// StartContainer, podrun vs runc handlers, alternating (PODRUN_CRI_BENCH_RUNS each, default 20).
#[test]
#[ignore = "a benchmark: scripts/bench.sh runs it with --ignored"]
fn cri_bench_sandbox_and_container() {
    let runs: usize = std::env::var("PODRUN_CRI_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let env = TestEnv::new("cri-bench");
    let mut handlers = daemon::runc_and_podrun();
    // containerd-shim-podrun-v2 (issue 18): podrun's own shim, no runc.v2 shim in between.
    let shim = crate::shim::SHIM_NAME;
    handlers.push((shim, podrun_bin(), None));
    let d = CriDaemon::start(
        &env,
        &Setup {
            tag: "b",
            networks: &[(Plugin::PodrunCni, BENCH_THIRD)],
            handlers: &handlers,
        },
    );
    let cri = d.client();
    let mut times: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    for i in 0..runs + 1 {
        let order = match i % 3 {
            0 => ["podrun", "runc", shim],
            1 => ["runc", shim, "podrun"],
            _ => [shim, "podrun", "runc"],
        };
        for handler in order {
            let t0 = Instant::now();
            let mut pod = Pod::run(
                &d,
                &cri,
                handler,
                &format!("bench{i}"),
                NamespaceMode::Container,
            );
            let t1 = Instant::now();
            pod.start("sleep", "exec sleep 1000", |_| {});
            let t2 = Instant::now();
            // the first round is a warm-up
            if i > 0 {
                times
                    .entry((handler, "sandbox"))
                    .or_default()
                    .push((t1 - t0).as_secs_f64() * 1e3);
                times
                    .entry((handler, "container"))
                    .or_default()
                    .push((t2 - t1).as_secs_f64() * 1e3);
                times
                    .entry((handler, "total"))
                    .or_default()
                    .push((t2 - t0).as_secs_f64() * 1e3);
                // The pod's shim (the pause's parent) while the pod and its container run.
                if let Some(pid) = d.shim_pid(&pod.id) {
                    let (rss, pss) = rss_pss_kib(pid);
                    times.entry((handler, "rss")).or_default().push(rss);
                    times.entry((handler, "pss")).or_default().push(pss);
                }
            }
            let _ = cri.stop_pod_sandbox(&pod.id);
            let _ = cri.remove_pod_sandbox(&pod.id);
        }
    }
    // 20 pods at once per handler: the shims' RSS and PSS (PSS shares the pages the shims
    // have in common, e.g. the binary's page cache: what a node with 20 pods pays per pod).
    const MANY: usize = 20;
    for (hi, handler) in [shim, "runc", "podrun"].into_iter().enumerate() {
        let mut pods = Vec::new();
        for k in 0..MANY {
            let mut pod = Pod::run(
                &d,
                &cri,
                handler,
                &format!("many{hi}-{k}"),
                NamespaceMode::Container,
            );
            pod.start("sleep", "exec sleep 1000", |_| {});
            pods.push(pod);
        }
        for pod in &pods {
            if let Some(pid) = d.shim_pid(&pod.id) {
                let (rss, pss) = rss_pss_kib(pid);
                times.entry((handler, "rss20")).or_default().push(rss);
                times.entry((handler, "pss20")).or_default().push(pss);
            }
        }
        for pod in &pods {
            let _ = cri.stop_pod_sandbox(&pod.id);
            let _ = cri.remove_pod_sandbox(&pod.id);
        }
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    for (fig, label) in [
        ("sandbox", "RunPodSandbox"),
        ("container", "CreateContainer+StartContainer"),
    ] {
        println!(
            "cri-bench: {label} ms: podrun={:.2} runc={:.2} runs={runs}",
            median(&times[&("podrun", fig)]),
            median(&times[&("runc", fig)])
        );
    }
    // The podrun shim vs containerd-shim-runc-v2 with runc and with podrun: one line each,
    // `cri-shim-bench: LABEL | podrun-shim | runc.v2+runc | runc.v2+podrun`.
    for (fig, label) in [
        ("total", "RunPodSandbox+CreateContainer+StartContainer, ms"),
        ("sandbox", "RunPodSandbox, ms"),
        ("container", "CreateContainer+StartContainer, ms"),
        ("rss", "shim RSS per pod, KiB"),
        ("pss", "shim PSS per pod, KiB"),
        ("rss20", "shim RSS per pod with 20 pods, KiB"),
        ("pss20", "shim PSS per pod with 20 pods, KiB"),
    ] {
        let m = |h: &str| times.get(&(h, fig)).map_or(f64::NAN, median);
        println!(
            "cri-shim-bench: {label} | {:.2} | {:.2} | {:.2}",
            m(shim),
            m("runc"),
            m("podrun")
        );
    }
}

/// VmRSS (status) and Pss (smaps_rollup) of a process, KiB.
fn rss_pss_kib(pid: i32) -> (f64, f64) {
    let field = |file: &str, key: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(f64::NAN)
    };
    (field("status", "VmRSS:"), field("smaps_rollup", "Pss:"))
}
