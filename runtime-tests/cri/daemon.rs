//! A private containerd 1.6 with its CRI plugin on, everything under the test's directory:
//! root, state (the pods' netns mounts too: `netns_mounts_under_state_dir`), sockets, the CNI
//! conf and bin dirs, the runtime handlers' state roots. The handlers are runc v2 shims with
//! `BinaryName` = runc or podrun; a handler may have its own CNI conf dir (the reference
//! `bridge` conflist). The sandbox image has podrun-pause as /pause; it and busybox are built
//! locally (scripts/oci-image.sh) and imported into the `k8s.io` namespace: nothing is pulled.
//!
//! `cleanup` (also run by Drop, so also when a case panicked) removes the pods through CRI
//! while the daemon runs, stops the daemon by its PID, kills shims left by their recorded
//! shim.pid, force-deletes what a runtime still has in its root, detaches netns mounts, and
//! removes the shim sockets, the bridges and the test's cgroup parent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::Cri;
use crate::common::clients::{
    build_image, kill_recorded, read_pid_file, remove_cgroup_trees, stop_daemon_child,
    BUSYBOX_IMAGE, RUNC,
};
use crate::common::{describe, pause_bin, podrun_bin, TestEnv};

/// The locally built sandbox image (podrun-pause as /pause).
pub const PAUSE_IMAGE: &str = "localhost/podrun-pause:cri";
/// containerd's namespace for everything CRI makes.
pub const K8S_NAMESPACE: &str = "k8s.io";
/// containerd-shim-runc-v2 puts its socket here whatever the state dir.
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

/// One CNI network: a conflist in its own conf dir, on its own bridge and /24.
pub struct Network {
    /// The conflist's name (also the host-local store's subdirectory).
    pub name: String,
    pub bridge: String,
    /// The third octet of 10.244.X.0/24.
    pub third: u8,
    pub conf_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Network {
    pub fn subnet_prefix(&self) -> String {
        format!("10.244.{}.", self.third)
    }

    /// Addresses host-local/podrun-cni hold for this network (files named by the IP).
    pub fn reserved_ips(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.data_dir.join(&self.name))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Which CNI plugin a network's conflist names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// podrun-cni (isGateway true, no default route, no ipMasq).
    PodrunCni,
    /// The reference /usr/lib/cni bridge + host-local (isGateway false: no ip_forward, no NAT).
    ReferenceBridge,
}

/// A runtime handler as kubelet names it in RunPodSandbox.
pub struct Handler {
    pub name: &'static str,
    pub binary: PathBuf,
    /// The runc v2 options' Root: the shim runs the binary with `--root <it>/k8s.io`.
    pub root: PathBuf,
    /// The handler's own CNI network (else the daemon's default one).
    pub network: Option<usize>,
}

pub struct CriDaemon {
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// The cgroup parent every pod of this daemon lives under (one tree to check and remove).
    pub cgroup_parent: String,
    pub handlers: Vec<Handler>,
    pub networks: Vec<Network>,
    daemon: Option<Child>,
    /// Sandbox ids ever made (their shim sockets are checked and removed).
    sandboxes: Mutex<Vec<String>>,
    /// Their shims' PIDs, recorded while the pods ran (killed at cleanup if still alive).
    shims: Mutex<Vec<i32>>,
    created_run_containerd: bool,
    created_socket_dir: bool,
}

/// What a daemon should have: its networks (the first is the default) and handlers
/// (name, binary, index of a network of its own).
pub struct Setup<'a> {
    pub tag: &'a str,
    pub networks: &'a [(Plugin, u8)],
    pub handlers: &'a [(&'static str, PathBuf, Option<usize>)],
}

/// The handlers runc and podrun on the default network: the comparison every case makes.
pub fn runc_and_podrun() -> Vec<(&'static str, PathBuf, Option<usize>)> {
    vec![
        ("runc", PathBuf::from(RUNC), None),
        ("podrun", podrun_bin(), None),
    ]
}

impl CriDaemon {
    pub fn start(env: &TestEnv, setup: &Setup) -> CriDaemon {
        let dir = env.dir.join("cri");
        let pid = std::process::id();
        let mk = |p: &Path| {
            std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()))
        };
        mk(&dir);
        let bin_dir = dir.join("cni-bin");
        mk(&bin_dir);
        let cni_bin = PathBuf::from(env!("CARGO_BIN_EXE_podrun-cni"));
        for (name, target) in [
            ("podrun-cni", cni_bin.as_path()),
            ("loopback", Path::new("/usr/lib/cni/loopback")),
            ("bridge", Path::new("/usr/lib/cni/bridge")),
            ("host-local", Path::new("/usr/lib/cni/host-local")),
        ] {
            std::os::unix::fs::symlink(target, bin_dir.join(name))
                .unwrap_or_else(|e| panic!("symlink {name}: {e}"));
        }
        let mut networks = Vec::new();
        for (i, (plugin, third)) in setup.networks.iter().enumerate() {
            let net = Network {
                name: format!("prcri-{}-{i}", setup.tag),
                bridge: format!("prcri{}{i}{}", setup.tag, pid % 100_000),
                third: *third,
                conf_dir: dir.join(format!("cni-conf-{i}")),
                data_dir: dir.join("cni-ipam"),
            };
            mk(&net.conf_dir);
            write_conflist(&net, *plugin);
            networks.push(net);
        }
        let handlers: Vec<Handler> = setup
            .handlers
            .iter()
            .map(|(name, binary, network)| Handler {
                name,
                binary: binary.clone(),
                // every podrun shim handler has the one state root of the daemon's shims
                root: dir.join(format!(
                    "root-{}",
                    if is_shim(name) {
                        crate::shim::SHIM_NAME
                    } else {
                        name
                    }
                )),
                network: *network,
            })
            .collect();

        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            config_toml(&dir, &socket, &bin_dir, &networks, &handlers),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));

        let created_run_containerd = !Path::new("/run/containerd").exists();
        let created_socket_dir = !Path::new(SHIM_SOCKET_DIR).exists();
        let log = std::fs::File::create(dir.join("containerd.log"))
            .unwrap_or_else(|e| panic!("create containerd.log: {e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("dup log: {e}"));
        // The podrun shim handler: containerd finds containerd-shim-podrun-v2 on PATH, and the
        // shim keeps podrun's state under the handler's root (PODRUN_SHIM_ROOT/k8s.io).
        let mut path = crate::shim::release_dir().into_os_string();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut shim_env = vec![("PATH".to_string(), path)];
        if let Some(h) = handlers.iter().find(|h| is_shim(h.name)) {
            shim_env.push(("PODRUN_SHIM_ROOT".into(), h.root.clone().into_os_string()));
        }
        let daemon = Command::new("containerd")
            .envs(shim_env)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("start containerd: {e}"));
        let mut d = CriDaemon {
            dir,
            socket,
            cgroup_parent: format!("podrun-cri-{}-{pid}", setup.tag),
            handlers,
            networks,
            daemon: Some(daemon),
            sandboxes: Mutex::new(Vec::new()),
            shims: Mutex::new(Vec::new()),
            created_run_containerd,
            created_socket_dir,
        };
        d.wait_ready();
        d.import_images(env);
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn client(&self) -> Cri {
        Cri::connect(&self.socket)
    }

    pub fn handler(&self, name: &str) -> &Handler {
        self.handlers
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no handler {name}"))
    }

    /// The network a handler's pods are attached to.
    pub fn network_of(&self, handler: &str) -> &Network {
        &self.networks[self.handler(handler).network.unwrap_or(0)]
    }

    /// Remembers a sandbox id and its shim's PID for the checks and the cleanup.
    pub fn record_sandbox(&self, id: &str) {
        if let Ok(mut v) = self.sandboxes.lock() {
            v.push(id.to_string());
        }
        if let (Some(pid), Ok(mut v)) = (self.shim_pid(id), self.shims.lock()) {
            v.push(pid);
        }
    }

    /// The shim of a sandbox: the parent of its pause (the shim is the subreaper that the
    /// runtime's init is reparented to; this shim writes no shim.pid), named containerd-shim.
    pub fn shim_pid(&self, id: &str) -> Option<i32> {
        let init = read_pid_file(&self.task_state_dir().join(id).join("init.pid"))?;
        let status = std::fs::read_to_string(format!("/proc/{init}/status")).ok()?;
        let ppid: i32 = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))?
            .trim()
            .parse()
            .ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
        (comm.trim() == "containerd-shim").then_some(ppid)
    }

    pub fn task_state_dir(&self) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(K8S_NAMESPACE)
    }

    /// The CRI plugin's own state (sandboxes' shm, containers' io) and the netns mounts.
    pub fn cri_state_dir(&self) -> PathBuf {
        self.dir.join("state/io.containerd.grpc.v1.cri")
    }

    /// The shim's socket of a sandbox: /run/containerd/s/<sha256 of ADDRESS/NS/ID>.
    pub fn shim_socket(&self, sandbox: &str) -> Option<PathBuf> {
        let key = format!("{}/{K8S_NAMESPACE}/{sandbox}", self.socket.display());
        let out = Command::new("sh")
            .args(["-c", "printf %s \"$1\" | sha256sum", "sh", &key])
            .stderr(Stdio::inherit())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let hex = text.split_whitespace().next()?;
        Some(Path::new(SHIM_SOCKET_DIR).join(hex))
    }

    /// Waits for the socket, then for CRI's Status to say RuntimeReady and NetworkReady.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        loop {
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|d| d.try_wait()) {
                panic!("containerd exited ({status}) at start:\n{}", self.log());
            }
            if self.socket.exists() {
                let cri = self.client();
                match cri.status() {
                    Ok(s) => {
                        let conds = s.status.map(|s| s.conditions).unwrap_or_default();
                        if conds.len() >= 2 && conds.iter().all(|c| c.status) {
                            return;
                        }
                        last = format!("{conds:?}");
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            assert!(
                Instant::now() < deadline,
                "containerd's CRI was not ready within 30 s ({last}):\n{}",
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ctr(&self, env: &TestEnv, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(K8S_NAMESPACE)
            .args(args);
        env.output_via_files(&mut cmd)
    }

    /// Builds and imports the pause and busybox images; waits until CRI sees both.
    fn import_images(&self, env: &TestEnv) {
        let pause_root = self.dir.join("pause-rootfs");
        std::fs::create_dir_all(&pause_root)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", pause_root.display()));
        std::fs::copy(pause_bin(), pause_root.join("pause"))
            .unwrap_or_else(|e| panic!("copy podrun-pause: {e}"));
        let pause_root_arg = pause_root.to_str().expect("utf8 path").to_string();
        let pause = build_image(
            env,
            "pause.tar",
            PAUSE_IMAGE,
            &[
                "--rootfs",
                &pause_root_arg,
                "--entrypoint",
                r#"["/pause"]"#,
                "--cmd",
                "null",
            ],
        );
        let busybox = build_image(env, "busybox.tar", BUSYBOX_IMAGE, &[]);
        for tar in [pause, busybox] {
            let out = self.ctr(env, &["images", "import", tar.to_str().expect("utf8 path")]);
            assert!(
                out.status.success(),
                "ctr images import: {}",
                describe(&out)
            );
        }
        let cri = self.client();
        for image in [PAUSE_IMAGE, BUSYBOX_IMAGE] {
            crate::lifecycle::wait_until(
                &format!("CRI to list image {image}"),
                Duration::from_secs(15),
                || cri.image_status(image).is_ok_and(|r| r.image.is_some()),
            );
        }
    }

    /// Stops the daemon: SIGTERM to its PID, SIGKILL after 20 s.
    pub fn stop_daemon(&mut self) {
        stop_daemon_child(&mut self.daemon, "containerd");
    }

    /// Removes everything the daemon and its pods made (see the module doc). Idempotent.
    pub fn cleanup(&mut self) {
        let running = self
            .daemon
            .as_mut()
            .is_some_and(|d| matches!(d.try_wait(), Ok(None)));
        let cri = if running {
            Cri::try_connect(&self.socket)
                .map_err(|e| eprintln!("cri cleanup: no CRI connection: {e}"))
                .ok()
        } else {
            None
        };
        if let Some(cri) = cri {
            for pod in cri.list_pod_sandbox(Default::default()).unwrap_or_default() {
                if let Err(e) = cri.stop_pod_sandbox(&pod.id) {
                    eprintln!("cri cleanup: StopPodSandbox {}: {e}", pod.id);
                }
                if let Err(e) = cri.remove_pod_sandbox(&pod.id) {
                    eprintln!("cri cleanup: RemovePodSandbox {}: {e}", pod.id);
                }
            }
        }
        self.stop_daemon();
        // Shims of pods still there (from their pause), and every shim recorded.
        let mut shims = self.shims.lock().map(|v| v.clone()).unwrap_or_default();
        shims.extend(
            subdirs(&self.task_state_dir())
                .iter()
                .filter_map(|id| self.shim_pid(id)),
        );
        for pid in shims {
            if kill_recorded(pid, "containerd-shim") {
                eprintln!("cri cleanup: killed shim {pid}");
            }
        }
        for h in &self.handlers {
            let root = h.root.join(K8S_NAMESPACE);
            // (`pods` holds the podrun shim's pods, below)
            for id in subdirs(&root).into_iter().filter(|id| id != "pods") {
                let out = Command::new(&h.binary)
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", &id])
                    .stdin(Stdio::null())
                    .output();
                eprintln!("cri cleanup: {} delete --force {id}: {out:?}", h.name);
            }
            // The podrun shim's pods (one per sandbox), under the same root.
            for pod in subdirs(&root.join("pods")) {
                let out = Command::new(&h.binary)
                    .arg("--root")
                    .arg(&root)
                    .args(["pod", "delete", "--force", &pod])
                    .stdin(Stdio::null())
                    .output();
                eprintln!("cri cleanup: {} pod delete --force {pod}: {out:?}", h.name);
            }
        }
        for ns in files(&self.cri_state_dir().join("netns")) {
            detach(&ns);
            let _ = std::fs::remove_file(&ns);
            eprintln!("cri cleanup: netns {} was left", ns.display());
        }
        let ids = self.sandboxes.lock().map(|v| v.clone()).unwrap_or_default();
        for id in ids {
            if let Some(sock) = self.shim_socket(&id).filter(|s| s.exists()) {
                let _ = std::fs::remove_file(&sock);
            }
        }
        if self.created_socket_dir {
            let _ = std::fs::remove_dir(SHIM_SOCKET_DIR);
        }
        if self.created_run_containerd {
            let _ = std::fs::remove_dir("/run/containerd");
        }
        for net in &self.networks {
            if Path::new("/sys/class/net").join(&net.bridge).exists() {
                let _ = Command::new("ip")
                    .args(["link", "del", &net.bridge])
                    .status();
            }
        }
        remove_cgroup_trees(&self.cgroup_parent);
    }
}

impl Drop for CriDaemon {
    fn drop(&mut self) {
        // A panic here while a case's panic unwinds would abort and leave everything behind.
        let this = std::panic::AssertUnwindSafe(&mut *self);
        if std::panic::catch_unwind(move || {
            let this = this;
            this.0.cleanup()
        })
        .is_err()
        {
            eprintln!("cri cleanup: panicked; leftovers are possible");
        }
    }
}

fn write_conflist(net: &Network, plugin: Plugin) {
    let third = net.third;
    let ipam = json!({
        "type": "host-local",
        "subnet": format!("10.244.{third}.0/24"),
        "dataDir": net.data_dir,
    });
    let conf = match plugin {
        Plugin::PodrunCni => json!({
            "type": "podrun-cni", "bridge": net.bridge, "isGateway": true, "ipMasq": false,
            "ipam": ipam,
        }),
        Plugin::ReferenceBridge => json!({
            "type": "bridge", "bridge": net.bridge, "isGateway": false, "ipMasq": false,
            "ipam": ipam,
        }),
    };
    let list = json!({"cniVersion": "1.0.0", "name": net.name, "plugins": [conf]});
    let path = net.conf_dir.join("10-podrun-test.conflist");
    std::fs::write(&path, list.to_string())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn config_toml(
    dir: &Path,
    socket: &Path,
    bin_dir: &Path,
    networks: &[Network],
    handlers: &[Handler],
) -> String {
    let d = dir.display();
    let s = socket.display();
    let mut toml = format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]
[grpc]
  address = "{s}"
[ttrpc]
  address = "{s}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # root lacks CAP_SYS_RESOURCE here: the sandbox's oom_score_adj -998 would be refused
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  stats_collect_period = 1
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{bin}"
  conf_dir = "{conf}"
  max_conf_num = 1
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "{default}"
"#,
        bin = bin_dir.display(),
        conf = networks[0].conf_dir.display(),
        default = handlers[0].name,
    );
    for h in handlers {
        let table = format!(
            r#"plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{}"#,
            h.name
        );
        let shim = is_shim(h.name);
        let runtime_type = if shim {
            crate::shim::RUNTIME_TYPE
        } else {
            "io.containerd.runc.v2"
        };
        toml.push_str(&format!("[{table}]\n  runtime_type = \"{runtime_type}\"\n"));
        if let Some(i) = h.network {
            toml.push_str(&format!(
                "  cni_conf_dir = \"{}\"\n  cni_max_conf_num = 1\n",
                networks[i].conf_dir.display()
            ));
        }
        if shim {
            continue;
        }
        toml.push_str(&format!(
            "[{table}.options]\n  BinaryName = \"{}\"\n  Root = \"{}\"\n",
            h.binary.display(),
            h.root.display()
        ));
    }
    toml
}

/// A handler of the podrun shim (io.containerd.podrun.v2): SHIM_NAME, or SHIM_NAME-<network>.
pub fn is_shim(name: &str) -> bool {
    name.strip_prefix(crate::shim::SHIM_NAME)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

pub fn subdirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn detach(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: c is a valid NUL-terminated path that outlives the call.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
}
