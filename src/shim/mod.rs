//! The shim process: the `start` (grouping) and `delete` (cleanup after a dead shim)
//! commands, and the task service that containerd talks to over ttrpc.
//!
//! Modules: `task` (the task API), `proc` (one process: init or exec), `io` (FIFOs, console,
//! log URIs), `exits` (exit statuses from the subreaper), `events` (publishing),
//! `helper` (a forked single-threaded child that calls the podrun library), `oom` (live OOM
//! events of the containers' cgroups, one thread for all), `metrics` (cgroup statistics as
//! containerd's Metrics), `errors` (podrun errors as ttrpc statuses), `options` (the task's
//! runtime options: the systemd cgroup driver, no pivot_root).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::{
    api::DeleteResponse, publisher::RemotePublisher, synchronous::util, Config, ExitSignal, Flags,
    StartOpts,
};

mod errors;
mod events;
mod exits;
mod helper;
mod io;
mod lean;
mod metrics;
mod oom;
mod options;
mod proc;
mod task;

pub const RUNTIME_ID: &str = "io.containerd.podrun.v2";

/// The annotation CRI puts on every container of a pod (the sandbox's id).
pub const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
/// `sandbox` on the pod's sandbox (pause) container, `container` on the others.
pub const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";

/// podrun's state root for the containers of every shim: `PODRUN_SHIM_ROOT` from containerd's
/// environment (tests give each private containerd its own), else /run/podrun-shim.
pub fn state_root(namespace: &str) -> PathBuf {
    let base = std::env::var_os("PODRUN_SHIM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/podrun-shim"));
    base.join(namespace)
}

pub struct Shim {
    namespace: String,
    id: String,
    /// containerd's address (the shim sockets' names derive from it).
    address: String,
    /// The socket this shim serves on (the server action).
    socket: String,
    exit: Arc<ExitSignal>,
}

impl containerd_shim::Shim for Shim {
    type T = task::Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Shim {
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            address: args.address.clone(),
            socket: args.socket.clone(),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    /// One shim per group: the sandbox id of a CRI container, else the container's own id.
    /// A shim already serving the group is reused (its socket answers).
    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let grouping = group_of(Path::new("."), &opts.id);
        let address = containerd_shim::socket_address(&opts.address, &opts.namespace, &grouping);
        let path = address.trim_start_matches("unix://");
        if Path::new(path).exists()
            && containerd_shim::protos::ttrpc::Client::connect(&address).is_ok()
        {
            util::write_address(&address)?;
            return Ok(address);
        }
        let (_pid, address) = containerd_shim::spawn(opts, &grouping, Vec::new())?;
        util::write_address(&address)?;
        Ok(address)
    }

    /// `delete`: containerd's cleanup after the shim of this task died. Runs in the bundle:
    /// kills and removes what podrun still has of the task (a sandbox: the whole pod),
    /// unmounts the rootfs.
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let root = state_root(&self.namespace);
        let bundle = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        task::cleanup_dead(&root, &self.id, &bundle);
        // The dead shim's socket (its address is in the bundle), when nobody answers on it.
        let address = util::read_address().unwrap_or_else(|_| {
            containerd_shim::socket_address(&self.address, &self.namespace, &self.id)
        });
        let path = address.trim().trim_start_matches("unix://");
        if Path::new(path).exists()
            && containerd_shim::protos::ttrpc::Client::connect(&address).is_err()
        {
            let _ = std::fs::remove_file(path);
        }
        let mut resp = DeleteResponse::new();
        resp.set_exit_status(128 + libc::SIGKILL as u32);
        resp.set_exited_at(containerd_shim::util::timestamp()?);
        Ok(resp)
    }

    /// Called once the server is up: start-up is over (see `lean`).
    fn wait(&mut self) {
        // logged first: the logger's own code would be faulted back in right after
        log::debug!("start-up over: releasing its memory");
        lean::release_startup_memory();
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> task::Service {
        task::Service::new(
            state_root(&self.namespace),
            &self.namespace,
            publisher,
            self.exit.clone(),
            &self.socket,
        )
    }
}

/// The group of the container in `bundle`: its `io.kubernetes.cri.sandbox-id`, else `id`.
fn group_of(bundle: &Path, id: &str) -> String {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.pointer("/annotations")
                .and_then(|a| a.get(SANDBOX_ID))
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| id.to_string())
}
