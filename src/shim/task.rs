//! The task service: containerd's task API over podrun's lifecycle library.
//!
//! A task is a container of this shim's group. The CRI sandbox container (annotation
//! `io.kubernetes.cri.container-type=sandbox`) becomes a podrun pod named after the sandbox id
//! (its pause is the task's process); the pod's other containers are created with
//! `--pod`'s path (`CreateOpts::pod`), joining its namespaces.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use containerd_shim::api::{self, Status as ApiStatus};
use containerd_shim::protos::events::task as ev;
use containerd_shim::protos::protobuf::{MessageDyn, MessageField};
use containerd_shim::protos::shim::shim as sh;
use containerd_shim::protos::topics;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, TtrpcContext, TtrpcResult};
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Spec};
use podrun::container::create::CreateOpts;
use podrun::container::exec::ExecOpts;
use podrun::ErrorKind;

use super::errors::{Failure, Result};
use super::events::Events;
use super::exits::{self, Early};
use super::io::{self, StdioSpec};
use super::proc::{Proc, Status};
use super::{helper, metrics, oom, options, CONTAINER_TYPE, SANDBOX_ID};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A container on its own (ctr, Docker) or a pod's member: the pod's name.
    Container { pod: Option<String> },
    /// The CRI sandbox: a podrun pod of this name (the task id).
    Sandbox,
}

struct Task {
    bundle: PathBuf,
    kind: Kind,
    init: Proc,
    execs: HashMap<String, Proc>,
    rootfs_mounted: bool,
    paused: bool,
    /// The cgroup's OOM kill count already told to containerd (one TaskOOM per rise).
    oom_seen: u64,
}

impl Task {
    /// The cgroup's OOM kill count is `kills`: true when it rose since last told.
    fn saw_oom(&mut self, kills: u64) -> bool {
        let rose = kills > self.oom_seen;
        self.oom_seen = self.oom_seen.max(kills);
        rose
    }

    /// The task's init (`exec_id` empty) or one of its execs.
    fn proc(&self, exec_id: &str) -> Result<&Proc> {
        if exec_id.is_empty() {
            Ok(&self.init)
        } else {
            self.execs
                .get(exec_id)
                .ok_or_else(|| Failure::not_found(exec_id.to_string()))
        }
    }
}

struct Inner {
    root: PathBuf,
    events: Events,
    exit: Arc<ExitSignal>,
    tasks: Mutex<HashMap<String, Task>>,
    changed: Condvar,
    early: Early,
    /// The socket served; removed when the shim shuts down.
    socket: PathBuf,
    /// Live OOM events of the containers' cgroups.
    oom: oom::Watcher,
}

pub struct Service(Arc<Inner>);

impl Service {
    pub fn new(
        root: PathBuf,
        namespace: &str,
        publisher: RemotePublisher,
        exit: Arc<ExitSignal>,
        socket: &str,
    ) -> Service {
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            Inner {
                root,
                events: Events::new(namespace, publisher),
                exit,
                tasks: Mutex::new(HashMap::new()),
                changed: Condvar::new(),
                early: Early::default(),
                socket: PathBuf::from(socket.trim_start_matches("unix://")),
                oom: oom::Watcher::new(Arc::new(move |id: &str, kills| {
                    if let Some(i) = weak.upgrade() {
                        i.on_oom(id, kills);
                    }
                })),
            }
        });
        let weak = Arc::downgrade(&inner);
        exits::watch(move |pid, code| {
            if let Some(i) = weak.upgrade() {
                i.on_exit(pid, code);
            }
        });
        Service(inner)
    }
}

fn ts_field(
    t: &Option<containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp>,
) -> MessageField<containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp> {
    MessageField::from_option(t.clone())
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Task>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, topic: &str, e: Box<dyn MessageDyn>) {
        self.events.publish(topic, e);
    }

    /// A child exited: record it on its process and tell containerd. A pid not (yet)
    /// announced is kept for `settle`.
    fn on_exit(&self, pid: i32, code: i32) {
        let mut tasks = self.lock();
        let found = tasks.iter_mut().find_map(|(id, t)| {
            if t.init.pid == pid && t.init.status != Status::Stopped {
                return Some((id.clone(), String::new()));
            }
            t.execs.iter().find_map(|(eid, p)| {
                (p.pid == pid && p.status != Status::Stopped).then(|| (id.clone(), eid.clone()))
            })
        });
        let Some((id, exec_id)) = found else {
            self.early.put(pid, code);
            return;
        };
        let drained = {
            let Some(t) = tasks.get_mut(&id) else { return };
            let p = if exec_id.is_empty() {
                &mut t.init
            } else {
                match t.execs.get_mut(&exec_id) {
                    Some(p) => p,
                    None => return,
                }
            };
            p.drained.take()
        };
        drop(tasks);
        // A console's last output is copied before the exit is told.
        if let Some(rx) = drained {
            let _ = rx.recv_timeout(Duration::from_secs(2));
        }
        let mut tasks = self.lock();
        let Some(t) = tasks.get_mut(&id) else { return };
        // An OOM kill not told yet (the watcher had not seen it): told before the exit.
        let oom = exec_id.is_empty()
            && matches!(t.kind, Kind::Container { .. })
            && t.saw_oom(oom_kills(&self.root, &id));
        let p = if exec_id.is_empty() {
            &mut t.init
        } else {
            match t.execs.get_mut(&exec_id) {
                Some(p) => p,
                None => return,
            }
        };
        p.exited(code);
        let e = ev::TaskExit {
            container_id: id.clone(),
            id: if exec_id.is_empty() {
                id.clone()
            } else {
                exec_id
            },
            pid: pid as u32,
            exit_status: p.exit_status,
            exited_at: ts_field(&p.exited_at),
            ..Default::default()
        };
        drop(tasks);
        self.changed.notify_all();
        if oom {
            self.publish(
                topics::TASK_OOM_EVENT_TOPIC,
                Box::new(ev::TaskOOM {
                    container_id: id,
                    ..Default::default()
                }),
            );
        }
        self.publish(topics::TASK_EXIT_EVENT_TOPIC, Box::new(e));
    }

    /// The OOM watcher read `kills` in container `id`'s cgroup: a rise is told at once,
    /// while the task runs (as runc.v2 does).
    fn on_oom(&self, id: &str, kills: u64) {
        let rose = self.lock().get_mut(id).is_some_and(|t| t.saw_oom(kills));
        if rose {
            self.publish(
                topics::TASK_OOM_EVENT_TOPIC,
                Box::new(ev::TaskOOM {
                    container_id: id.to_string(),
                    ..Default::default()
                }),
            );
        }
    }

    /// After a process was announced (TaskCreate/ExecStarted): an exit that came before.
    fn settle(&self, pid: i32) {
        if let Some(code) = self.early.take(pid) {
            self.on_exit(pid, code);
        }
    }

    fn with_proc<T>(
        &self,
        id: &str,
        exec_id: &str,
        f: impl FnOnce(&mut Task) -> Result<T>,
    ) -> Result<T> {
        let mut tasks = self.lock();
        let t = tasks
            .get_mut(id)
            .ok_or_else(|| Failure::not_found(format!("task {id} not found")))?;
        if !exec_id.is_empty() && !t.execs.contains_key(exec_id) {
            return Err(Failure::not_found(format!(
                "exec {exec_id} of task {id} not found"
            )));
        }
        f(t)
    }

    fn create(&self, req: &sh::CreateTaskRequest) -> Result<u32> {
        if !req.checkpoint.is_empty() {
            return Err(unsupported_checkpoint());
        }
        let id = req.id.clone();
        if self.lock().contains_key(&id) {
            return Err(Failure::new(
                ErrorKind::AlreadyExists,
                format!("task {id} already exists"),
            ));
        }
        let bundle = std::fs::canonicalize(&req.bundle).map_err(|e| {
            Failure::new(
                ErrorKind::InvalidConfig,
                format!("bundle {}: {e}", req.bundle),
            )
        })?;
        let spec = podrun::spec::load(&bundle)?;
        let launch = options::decode(req.options.as_ref())?.launch(&spec)?;
        let ann = spec.annotations().clone().unwrap_or_default();
        let kind = match ann.get(CONTAINER_TYPE).map(String::as_str) {
            Some("sandbox") => Kind::Sandbox,
            _ => Kind::Container {
                pod: ann
                    .get(SANDBOX_ID)
                    .filter(|s| !s.is_empty() && *s != &id)
                    .cloned(),
            },
        };
        let rootfs = bundle.join("rootfs");
        let mounted = mount_rootfs(&req.rootfs, &rootfs)?;
        let unmount = || {
            if mounted {
                umount(&rootfs);
            }
        };
        let stdio = StdioSpec {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let mut proc = Proc::new(stdio.clone());
        let r = self.create_process(&id, &bundle, &kind, &spec, launch, &mut proc);
        let pid = match r {
            Ok(p) => p,
            Err(e) => {
                unmount();
                return Err(runtime_failure(e));
            }
        };
        proc.pid = pid;
        // As runc.v2 does: tools (and the tests) find the task's process here.
        let _ = podrun::sys::write_atomic(&bundle.join("init.pid"), pid.to_string().as_bytes());
        if kind == Kind::Sandbox {
            proc.status = Status::Running;
        }
        let kind_of_new = kind.clone();
        self.lock().insert(
            id.clone(),
            Task {
                bundle: bundle.clone(),
                kind,
                init: proc,
                execs: HashMap::new(),
                rootfs_mounted: mounted,
                paused: false,
                oom_seen: 0,
            },
        );
        if matches!(kind_of_new, Kind::Container { .. }) {
            if let Some(cg) = container_cgroup(&self.root, &id) {
                self.oom.add(&id, cg);
            }
        }
        let mut tio = ev::TaskIO::new();
        tio.stdin = stdio.stdin;
        tio.stdout = stdio.stdout;
        tio.stderr = stdio.stderr;
        tio.terminal = stdio.terminal;
        self.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            Box::new(ev::TaskCreate {
                container_id: id.clone(),
                bundle: bundle.to_string_lossy().into_owned(),
                rootfs: req.rootfs.clone(),
                io: MessageField::some(tio),
                pid: pid as u32,
                ..Default::default()
            }),
        );
        self.settle(pid);
        Ok(pid as u32)
    }

    /// Creates the init (or the pod) in a forked helper, with the process's stdio.
    fn create_process(
        &self,
        id: &str,
        bundle: &Path,
        kind: &Kind,
        spec: &Spec,
        launch: options::Launch,
        proc: &mut Proc,
    ) -> Result<i32> {
        let prep = io::prepare(
            &proc.stdio,
            id,
            self.events_ns(),
            &self.root.join(".console"),
        )?;
        let console = prep.console.as_ref().map(|c| c.path.clone());
        let root = self.root.clone();
        std::fs::create_dir_all(&root)
            .map_err(|e| Failure::system(format!("mkdir {}: {e}", root.display())))?;
        let pid = helper::run_forked(prep.child_fds(), || match kind {
            Kind::Sandbox => create_pod(&root, id, spec, launch.systemd_cgroup),
            Kind::Container { pod } => {
                let opts = CreateOpts {
                    id: id.to_string(),
                    bundle: bundle.to_path_buf(),
                    console_socket: console.clone(),
                    pod: pod.clone(),
                    systemd_cgroup: launch.systemd_cgroup,
                    no_pivot: launch.no_pivot,
                    ..Default::default()
                };
                Ok(podrun::container::create(&root, &opts)?.state.pid)
            }
        })?;
        proc.stdin = prep.stdin.clone();
        if let Some(c) = prep.console {
            let master = c.master()?;
            proc.drained = Some(io::copy_console(&master, &proc.stdio, proc.stdin.clone())?);
            proc.console = Some(master);
        }
        Ok(pid)
    }

    fn events_ns(&self) -> &str {
        self.events.namespace()
    }

    fn start(&self, id: &str, exec_id: &str) -> Result<u32> {
        if exec_id.is_empty() {
            let (kind, pid) = self.with_proc(id, "", |t| {
                if t.init.status != Status::Created && t.kind != Kind::Sandbox {
                    return Err(Failure::new(
                        ErrorKind::WrongState,
                        format!("task {id} is not in created state"),
                    ));
                }
                Ok((t.kind.clone(), t.init.pid))
            })?;
            if kind != Kind::Sandbox {
                // The process itself failed (a missing binary, not executable): a runtime
                // failure, as runc.v2 says (errdefs' unknown), not a bad argument.
                podrun::container::start(&self.root, id).map_err(|e| runtime_failure(e.into()))?;
            }
            self.with_proc(id, "", |t| {
                if t.init.status == Status::Created {
                    t.init.status = Status::Running;
                }
                Ok(())
            })?;
            self.publish(
                topics::TASK_START_EVENT_TOPIC,
                Box::new(ev::TaskStart {
                    container_id: id.to_string(),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
            return Ok(pid as u32);
        }
        let (spec, stdio) = self.with_proc(id, exec_id, |t| {
            let p = t
                .execs
                .get_mut(exec_id)
                .ok_or_else(|| Failure::not_found(exec_id))?;
            if p.status != Status::Created {
                return Err(Failure::new(
                    ErrorKind::WrongState,
                    format!("exec {exec_id} was already started"),
                ));
            }
            let spec = p
                .exec_spec
                .take()
                .ok_or_else(|| Failure::system("exec without a process spec"))?;
            Ok((spec, p.stdio.clone()))
        })?;
        let mut proc = Proc::new(stdio);
        let prep = io::prepare(
            &proc.stdio,
            id,
            self.events_ns(),
            &self.root.join(".console"),
        )?;
        let console = prep.console.as_ref().map(|c| c.path.clone());
        let root = self.root.clone();
        let pid = helper::run_forked(prep.child_fds(), || {
            let opts = ExecOpts {
                id: id.to_string(),
                process: spec,
                console_socket: console.clone(),
                pid_file: None,
                preserve_fds: 0,
                detach: true,
                ignore_paused: false,
            };
            Ok(podrun::container::exec(&root, opts)?.pid)
        })
        .map_err(runtime_failure)?;
        proc.stdin = prep.stdin.clone();
        if let Some(c) = prep.console {
            let master = c.master()?;
            proc.drained = Some(io::copy_console(&master, &proc.stdio, proc.stdin.clone())?);
            proc.console = Some(master);
        }
        drop(prep.child);
        self.with_proc(id, exec_id, |t| {
            if let Some(p) = t.execs.get_mut(exec_id) {
                p.pid = pid;
                p.status = Status::Running;
                p.stdin = proc.stdin.clone();
                p.console = proc.console.take();
                p.drained = proc.drained.take();
            }
            Ok(())
        })?;
        self.publish(
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Box::new(ev::TaskExecStarted {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                pid: pid as u32,
                ..Default::default()
            }),
        );
        self.settle(pid);
        Ok(pid as u32)
    }

    fn delete(&self, id: &str, exec_id: &str) -> Result<sh::DeleteResponse> {
        let mut resp = sh::DeleteResponse::new();
        if !exec_id.is_empty() {
            let p = self.with_proc(id, exec_id, |t| {
                let p = t
                    .execs
                    .get(exec_id)
                    .ok_or_else(|| Failure::not_found(exec_id))?;
                if p.status == Status::Running {
                    return Err(Failure::new(
                        ErrorKind::WrongState,
                        format!("exec {exec_id} is still running"),
                    ));
                }
                Ok(t.execs.remove(exec_id))
            })?;
            if let Some(p) = p {
                resp.pid = p.pid as u32;
                resp.exit_status = p.exit_status;
                resp.exited_at = ts_field(&p.exited_at);
            }
            return Ok(resp);
        }
        let (kind, bundle, mounted) = self.with_proc(id, "", |t| {
            Ok((t.kind.clone(), t.bundle.clone(), t.rootfs_mounted))
        })?;
        self.oom.remove(id);
        match kind {
            Kind::Sandbox => {
                podrun::pod::delete(&self.root, id, true, &podrun::container::delete_pod_member)?
            }
            Kind::Container { .. } => podrun::container::delete(&self.root, id, true)?,
        }
        if mounted {
            umount(&bundle.join("rootfs"));
        }
        let t = self.lock().remove(id);
        if let Some(t) = t {
            resp.pid = t.init.pid as u32;
            resp.exit_status = t.init.exit_status;
            resp.exited_at = ts_field(&t.init.exited_at);
        }
        self.changed.notify_all();
        self.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            Box::new(ev::TaskDelete {
                container_id: id.to_string(),
                id: id.to_string(),
                pid: resp.pid,
                exit_status: resp.exit_status,
                exited_at: resp.exited_at.clone(),
                ..Default::default()
            }),
        );
        Ok(resp)
    }

    fn kill(&self, id: &str, exec_id: &str, sig: i32, all: bool) -> Result<()> {
        let (kind, pid, status) = self.with_proc(id, exec_id, |t| {
            let p = t.proc(exec_id)?;
            Ok((t.kind.clone(), p.pid, p.status))
        })?;
        if status == Status::Stopped {
            // containerd's delete kills with `all` first (WithProcessKill): nothing to do.
            return if all && exec_id.is_empty() && matches!(kind, Kind::Container { .. }) {
                podrun::container::kill(&self.root, id, sig, true).or(Ok(()))
            } else if all {
                Ok(())
            } else {
                Err(Failure::not_found("process already finished"))
            };
        }
        if exec_id.is_empty() && matches!(kind, Kind::Container { .. }) {
            return match podrun::container::kill(&self.root, id, sig, all) {
                Err(e) if e.kind() == ErrorKind::WrongState => {
                    Err(Failure::not_found("process already finished"))
                }
                r => r.map_err(Into::into),
            };
        }
        if pid <= 0 {
            return Err(Failure::new(ErrorKind::WrongState, "process not started"));
        }
        // An exit not reaped yet or just reaped: the process is finished either way.
        let gone = |_| Failure::not_found("process already finished");
        let fd = podrun::sys::pidfd_open(pid).map_err(gone)?;
        podrun::sys::pidfd_send_signal(&fd, sig).map_err(gone)?;
        Ok(())
    }

    fn state(&self, id: &str, exec_id: &str) -> Result<sh::StateResponse> {
        self.with_proc(id, exec_id, |t| {
            let paused = t.paused;
            let bundle = t.bundle.to_string_lossy().into_owned();
            let p = t.proc(exec_id)?;
            let mut r = sh::StateResponse::new();
            r.id = id.to_string();
            r.exec_id = exec_id.to_string();
            r.bundle = bundle;
            r.pid = p.pid.max(0) as u32;
            r.set_status(match p.status {
                Status::Created => ApiStatus::CREATED,
                Status::Running if paused => ApiStatus::PAUSED,
                Status::Running => ApiStatus::RUNNING,
                Status::Stopped => ApiStatus::STOPPED,
            });
            r.stdin = p.stdio.stdin.clone();
            r.stdout = p.stdio.stdout.clone();
            r.stderr = p.stdio.stderr.clone();
            r.terminal = p.stdio.terminal;
            r.exit_status = p.exit_status;
            r.exited_at = ts_field(&p.exited_at);
            Ok(r)
        })
    }

    fn pause(&self, id: &str, pause: bool) -> Result<()> {
        let kind = self.with_proc(id, "", |t| Ok(t.kind.clone()))?;
        match (&kind, pause) {
            (Kind::Sandbox, _) => {
                let st = podrun::pod::load(&self.root, id)?;
                let cg = podrun::cgroups::Cgroup::from_path(&st.cgroup_path);
                if pause {
                    cg.freeze()?
                } else {
                    cg.thaw()?
                }
            }
            (_, true) => podrun::container::pause(&self.root, id)?,
            (_, false) => podrun::container::resume(&self.root, id)?,
        }
        self.with_proc(id, "", |t| {
            t.paused = pause;
            Ok(())
        })?;
        if pause {
            self.publish(
                topics::TASK_PAUSED_EVENT_TOPIC,
                Box::new(ev::TaskPaused {
                    container_id: id.to_string(),
                    ..Default::default()
                }),
            );
        } else {
            self.publish(
                topics::TASK_RESUMED_EVENT_TOPIC,
                Box::new(ev::TaskResumed {
                    container_id: id.to_string(),
                    ..Default::default()
                }),
            );
        }
        Ok(())
    }

    fn wait(&self, id: &str, exec_id: &str) -> Result<sh::WaitResponse> {
        let mut tasks = self.lock();
        loop {
            let t = tasks
                .get(id)
                .ok_or_else(|| Failure::not_found(format!("task {id} not found")))?;
            let p = if exec_id.is_empty() {
                &t.init
            } else {
                t.execs
                    .get(exec_id)
                    .ok_or_else(|| Failure::not_found(exec_id.to_string()))?
            };
            if p.status == Status::Stopped {
                let mut r = sh::WaitResponse::new();
                r.exit_status = p.exit_status;
                r.exited_at = ts_field(&p.exited_at);
                return Ok(r);
            }
            tasks = self.changed.wait(tasks).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A container's process that cannot be created or started (a missing binary, one not
/// executable, a config the runtime refuses) is a runtime failure, as runc.v2 answers it
/// (errdefs' unknown, which CRI passes on), not a bad argument of the caller's.
fn runtime_failure(e: Failure) -> Failure {
    match e.kind {
        ErrorKind::InvalidConfig => Failure::system(e.msg),
        _ => e,
    }
}

fn unsupported_checkpoint() -> Failure {
    Failure::new(
        ErrorKind::Unsupported,
        "checkpoint is not supported by podrun (no checkpoint/restore)",
    )
}

/// Container `id`'s cgroup, from its podrun state.
fn container_cgroup(root: &Path, id: &str) -> Option<podrun::cgroups::Cgroup> {
    podrun::state::ContainerState::load(root, id)
        .ok()
        .and_then(|s| s.cgroup_path)
        .map(|p| podrun::cgroups::Cgroup::from_path(&p))
}

/// How often the OOM killer killed in container `id`'s cgroup (0 when unknown).
fn oom_kills(root: &Path, id: &str) -> u64 {
    container_cgroup(root, id)
        .and_then(|cg| cg.oom_record())
        .map_or(0, |r| r.oom_kills)
}

/// The pod of a CRI sandbox: a podrun pod named after the sandbox id, its pause from the
/// sealed memfd, run in the network namespace CRI/CNI gave in the spec (the host's when the
/// spec has none): the pause and the pod's containers share it, as with runc.
fn create_pod(root: &Path, name: &str, spec: &Spec, systemd: bool) -> Result<i32> {
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let net = nss.iter().find(|n| n.typ() == LinuxNamespaceType::Network);
    let netns = match net {
        Some(n) => n.path().clone(),
        None => Some(PathBuf::from("/proc/self/ns/net")),
    };
    let opts = podrun::pod::CreateOptions {
        name: name.to_string(),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        // Members join the pause's PID namespace through their own spec (CRI names it for
        // a pod-wide one), not by the pod's rule.
        share_pid: false,
        // A new PID namespace in the sandbox's spec: the pause is PID 1 in it, as with
        // runc (a host-PID pod's spec has none).
        pause_pid_ns: nss
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none()),
        pause_argv0: spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref()?.first().cloned()),
        network: None,
        fixed_ip: None,
        systemd_cgroup: systemd,
        // The pause's cgroup where the sandbox's spec puts it (kubelet's pod<uid> level).
        cgroups_path: spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .map(|p| p.to_string_lossy().into_owned()),
        netns,
    };
    let st = podrun::pod::create(root, &opts)?;
    Ok(st.pid)
}

/// Mounts the rootfs mounts containerd passes (e.g. overlay) on the bundle's rootfs.
fn mount_rootfs(
    mounts: &[containerd_shim::protos::types::mount::Mount],
    target: &Path,
) -> Result<bool> {
    for m in mounts {
        containerd_shim::mount::mount_rootfs(
            Some(m.type_.as_str()).filter(|s| !s.is_empty()),
            Some(m.source.as_str()).filter(|s| !s.is_empty()),
            &m.options,
            target,
        )
        .map_err(|e| {
            umount(target);
            Failure::system(format!(
                "mount rootfs ({} {}) on {}: {e}",
                m.type_,
                m.source,
                target.display()
            ))
        })?;
    }
    Ok(!mounts.is_empty())
}

fn umount(target: &Path) {
    while nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
}

/// `delete` after a shim died: kill and remove task `id` (a sandbox: the whole pod) and
/// unmount its rootfs. Tolerates everything being gone already.
pub fn cleanup_dead(root: &Path, id: &str, bundle: &Path) {
    if podrun::pod::pod_dir(root, id).is_dir() {
        if let Err(e) = podrun::pod::delete(root, id, true, &podrun::container::delete_pod_member) {
            log::warn!("delete pod {id}: {e}");
        }
    } else if let Err(e) = podrun::container::delete(root, id, true) {
        log::warn!("delete {id}: {e}");
    }
    umount(&bundle.join("rootfs"));
}

fn ok<T>(r: Result<T>) -> TtrpcResult<T> {
    r.map_err(Into::into)
}

impl containerd_shim::Task for Service {
    fn state(&self, _: &TtrpcContext, req: sh::StateRequest) -> TtrpcResult<sh::StateResponse> {
        ok(self.0.state(&req.id, &req.exec_id))
    }

    fn create(
        &self,
        _: &TtrpcContext,
        req: sh::CreateTaskRequest,
    ) -> TtrpcResult<sh::CreateTaskResponse> {
        let pid = ok(self.0.create(&req))?;
        Ok(sh::CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start(&self, _: &TtrpcContext, req: sh::StartRequest) -> TtrpcResult<sh::StartResponse> {
        let pid = ok(self.0.start(&req.id, &req.exec_id))?;
        Ok(sh::StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn delete(&self, _: &TtrpcContext, req: sh::DeleteRequest) -> TtrpcResult<sh::DeleteResponse> {
        ok(self.0.delete(&req.id, &req.exec_id))
    }

    fn pids(&self, _: &TtrpcContext, req: sh::PidsRequest) -> TtrpcResult<sh::PidsResponse> {
        let (kind, pid) = ok(self
            .0
            .with_proc(&req.id, "", |t| Ok((t.kind.clone(), t.init.pid))))?;
        let pids = match kind {
            Kind::Sandbox => vec![pid],
            Kind::Container { .. } => {
                ok(podrun::container::pids(&self.0.root, &req.id).map_err(Failure::from))?
            }
        };
        let mut r = sh::PidsResponse::new();
        r.processes = pids
            .into_iter()
            .map(|p| ProcessInfo {
                pid: p as u32,
                ..Default::default()
            })
            .collect();
        Ok(r)
    }

    fn pause(&self, _: &TtrpcContext, req: sh::PauseRequest) -> TtrpcResult<api::Empty> {
        ok(self.0.pause(&req.id, true))?;
        Ok(api::Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, req: sh::ResumeRequest) -> TtrpcResult<api::Empty> {
        ok(self.0.pause(&req.id, false))?;
        Ok(api::Empty::new())
    }

    fn checkpoint(
        &self,
        _: &TtrpcContext,
        _: sh::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        ok(Err(unsupported_checkpoint()))
    }

    fn kill(&self, _: &TtrpcContext, req: sh::KillRequest) -> TtrpcResult<api::Empty> {
        ok(self
            .0
            .kill(&req.id, &req.exec_id, req.signal as i32, req.all))?;
        Ok(api::Empty::new())
    }

    fn exec(&self, _: &TtrpcContext, req: sh::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let spec: oci_spec::runtime::Process = ok(serde_json::from_slice(&req.spec.value)
            .map_err(|e| {
                Failure::new(ErrorKind::InvalidConfig, format!("exec process spec: {e}"))
            }))?;
        let mut p = Proc::new(StdioSpec {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        });
        p.exec_spec = Some(spec);
        ok(self.0.with_proc(&req.id, "", |t| {
            if t.execs.contains_key(&req.exec_id) {
                return Err(Failure::new(
                    ErrorKind::AlreadyExists,
                    format!("exec {} already exists", req.exec_id),
                ));
            }
            t.execs.insert(req.exec_id.clone(), p);
            Ok(())
        }))?;
        self.0.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Box::new(ev::TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            }),
        );
        Ok(api::Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: sh::ResizePtyRequest) -> TtrpcResult<api::Empty> {
        ok(self.0.with_proc(&req.id, &req.exec_id, |t| {
            let p = t.proc(&req.exec_id)?;
            let m = p
                .console
                .as_ref()
                .ok_or_else(|| Failure::new(ErrorKind::WrongState, "the process has no console"))?;
            io::resize(m, req.width, req.height);
            Ok(())
        }))?;
        Ok(api::Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: sh::CloseIORequest) -> TtrpcResult<api::Empty> {
        ok(self.0.with_proc(&req.id, &req.exec_id, |t| {
            let p = t.proc(&req.exec_id)?;
            p.close_stdin();
            Ok(())
        }))?;
        Ok(api::Empty::new())
    }

    fn update(&self, _: &TtrpcContext, req: sh::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let kind = ok(self.0.with_proc(&req.id, "", |t| Ok(t.kind.clone())))?;
        if kind == Kind::Sandbox {
            return ok(Err(Failure::new(
                ErrorKind::Unsupported,
                "updating the resources of a pod sandbox is not supported",
            )));
        }
        let res: LinuxResources = ok(serde_json::from_slice(&req.resources.value).map_err(|e| {
            Failure::new(ErrorKind::InvalidConfig, format!("update resources: {e}"))
        }))?;
        ok(podrun::container::update(&self.0.root, &req.id, res).map_err(Failure::from))?;
        Ok(api::Empty::new())
    }

    fn wait(&self, _: &TtrpcContext, req: sh::WaitRequest) -> TtrpcResult<sh::WaitResponse> {
        ok(self.0.wait(&req.id, &req.exec_id))
    }

    fn stats(&self, _: &TtrpcContext, req: sh::StatsRequest) -> TtrpcResult<sh::StatsResponse> {
        let kind = ok(self.0.with_proc(&req.id, "", |t| Ok(t.kind.clone())))?;
        let stats = match kind {
            Kind::Sandbox => {
                let st = ok(podrun::pod::load(&self.0.root, &req.id).map_err(Failure::from))?;
                let cg = podrun::cgroups::Cgroup::from_path(&st.cgroup_path);
                ok(cg.stats().map_err(Failure::from))?
            }
            Kind::Container { .. } => {
                ok(podrun::container::stats(&self.0.root, &req.id).map_err(Failure::from))?
            }
        };
        let mut r = sh::StatsResponse::new();
        r.stats = MessageField::some(metrics::to_any(&stats));
        Ok(r)
    }

    fn connect(
        &self,
        _: &TtrpcContext,
        req: sh::ConnectRequest,
    ) -> TtrpcResult<sh::ConnectResponse> {
        let pid = self
            .0
            .with_proc(&req.id, "", |t| Ok(t.init.pid))
            .unwrap_or(0);
        Ok(sh::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: pid.max(0) as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _: &TtrpcContext, _: sh::ShutdownRequest) -> TtrpcResult<api::Empty> {
        if self.0.lock().is_empty() {
            // Gone before containerd's Shutdown returns (as with runc.v2): nobody connects to
            // a shim on its way out. The listener's fd serves until the exit.
            let _ = std::fs::remove_file(&self.0.socket);
            self.0.exit.signal();
        }
        Ok(api::Empty::new())
    }
}
