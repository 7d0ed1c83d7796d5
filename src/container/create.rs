//! `create` on the podrun side (the parent): validate, reserve the id, fork the init into its
//! namespaces, answer the handshake, record the state. On any failure everything made so far
//! is undone by `Cleanup` (process, cgroup, state dir), so the id is reusable at once.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

use crate::cgroups::systemd::path::UnitPath;
use crate::cgroups::Cgroup;
use crate::channel::{self, Channel, Msg};
use crate::error::{Error, IoContext, Result, SysContext};
use crate::process::init::{self, ConsoleTarget, InitConfig, Mode as InitMode};
use crate::process::namespaces::{self, JoinNs};
use crate::state::{ContainerState, StateDir, Status};
use crate::{spec, sys};

#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Join this pod's namespaces.
    pub pod: Option<String>,
    /// `run` in the foreground: a terminal's pty master comes back to podrun.
    pub foreground: bool,
    /// `--systemd-cgroup`: the cgroup is a transient systemd scope (cgroupsPath
    /// `slice:prefix:name`).
    pub systemd_cgroup: bool,
}

/// A created container, blocked before exec.
pub struct Created {
    pub state: ContainerState,
    /// The pty master for a foreground terminal.
    pub pty_master: Option<OwnedFd>,
}

/// Undoes a half-made container when dropped while armed.
struct Cleanup {
    dir: Option<StateDir>,
    pid: Option<i32>,
    cgroup: Option<Cgroup>,
    /// The state dir holding the systemd driver's record (the unit podrun started).
    systemd: Option<PathBuf>,
    pod: Option<(PathBuf, String, String)>,
}

impl Cleanup {
    fn disarm(mut self) -> StateDir {
        self.pid = None;
        self.cgroup = None;
        self.systemd = None;
        self.pod = None;
        self.dir.take().expect("state dir present until disarmed")
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let p = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
        if let Some(dir) = self.systemd.take() {
            if let Err(e) = crate::cgroups::systemd::release(&dir, self.cgroup.take().as_ref()) {
                tracing::warn!("cleanup: {e}");
            }
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup: {e}");
            }
        }
        if let Some((root, pod, id)) = self.pod.take() {
            let _ = crate::pod::remove_member(&root, &pod, &id);
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.remove() {
                tracing::warn!("cleanup: {e}");
            }
        }
    }
}

/// The bundle directory: given, or the current directory; made absolute.
pub fn bundle_dir(b: Option<&Path>) -> Result<PathBuf> {
    let b = b
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::canonicalize(&b).map_err(|e| Error::Spec(format!("bundle {}: {e}", b.display())))
}

pub fn create(root: &Path, opts: &CreateOpts) -> Result<Created> {
    crate::state::validate_id(&opts.id)?;
    reserve_preserved_fds(opts.preserve_fds);
    let mut spec = spec::load(&opts.bundle)?;
    if let Some(pod) = &opts.pod {
        apply_pod(&mut spec, root, pod)?;
    }
    let rootfs = spec::rootfs_path(&spec, &opts.bundle)?;
    let mut plan = NamespacePlan::from_spec(&spec)?;
    let process = spec
        .process()
        .clone()
        .ok_or_else(|| Error::Spec("process is missing from config.json".into()))?;
    let stage = init_binary(&spec, &plan)?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => {
            // The filter is in force when the process is executed: a denied execve would
            // kill it (or fail) with no runtime left to say why.
            if let Some(a) = crate::process::seccomp::surely_denies(s, "execve") {
                return Err(Error::Spec(format!(
                    "linux.seccomp: the profile denies execve ({}): the container's process could never be started",
                    serde_json::to_value(a)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{a:?}"))
                )));
            }
            Some(crate::process::seccomp::compile(s)?)
        }
        None => None,
    };
    crate::process::lsm::check(
        &process,
        spec.linux()
            .as_ref()
            .and_then(|l| l.mount_label().as_deref()),
    )?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !opts.foreground {
        return Err(Error::Usage(
            "process.terminal is true: --console-socket is required (or use run in the foreground)"
                .into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Usage(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    let console_sock = match &opts.console_socket {
        Some(p) if terminal => {
            Some(UnixStream::connect(p).map_err(|e| Error::io("connect to console socket", p, e))?)
        }
        _ => None,
    };

    let dir = StateDir::reserve(root, &opts.id)?;
    let mut cleanup = Cleanup {
        dir: Some(dir),
        pid: None,
        cgroup: None,
        systemd: None,
        pod: None,
    };
    if let Some(pod) = &opts.pod {
        crate::pod::add_member(root, pod, &opts.id)?;
        cleanup.pod = Some((root.to_path_buf(), pod.clone(), opts.id.clone()));
    }
    let dir_path = cleanup
        .dir
        .as_ref()
        .map(|d| d.dir.clone())
        .unwrap_or_default();
    let fifo_path = dir_path.join(crate::state::EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .sys(|| format!("mkfifo {}", fifo_path.display()))?;
    // mkfifo's mode went through the umask (0622 -> 0600); an init that is not host root (a
    // user namespace) must still be able to open it for writing, as with runc.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &fifo_path,
        Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .sys(|| format!("chmod 0622 {}", fifo_path.display()))?;
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| format!("open {}", fifo_path.display()))?;

    let named_cgroup = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    // Rootless cgroups also for uid 0 of a user namespace that is not the initial one (rootless
    // podman runs the runtime there): as runc, its cgroup is the user's or none.
    let rootless = sys::rootless() || sys::in_user_namespace();
    // --systemd-cgroup: slice:prefix:name (runc's default system.slice:podrun:<id>) names a
    // transient scope, whose cgroup path follows from it.
    let unit = if opts.systemd_cgroup {
        Some(UnitPath::parse(named_cgroup.as_deref(), &opts.id)?)
    } else {
        None
    };
    let cg = match &unit {
        Some(u) => Cgroup::from_path(&u.cgroup_path()),
        None => {
            let default_cgroup = crate::state::default_cgroup_path(root, &opts.id);
            let cgroup_path = match &named_cgroup {
                _ if rootless => crate::cgroups::rootless::cgroup_path(
                    named_cgroup.as_deref(),
                    &default_cgroup,
                    &opts.id,
                ),
                Some(p) => p.clone(),
                None => default_cgroup,
            };
            Cgroup::for_container(Some(&cgroup_path), &opts.id)?
        }
    };
    // Never share a cgroup with live processes: they belong to someone else (another
    // container, another state root), and this container's delete would kill them.
    let occupants = cg.pids();
    if !occupants.is_empty() {
        return Err(Error::Usage(format!(
            "cgroup {} already has processes {occupants:?} (another container's?): refusing to share it",
            cg.path
        )));
    }
    // Rootless: whether there is a cgroup at all is known only once its creation was tried.
    let cg = if rootless {
        let res = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        crate::cgroups::rootless::create(&cg, &res, named_cgroup.is_some())?.map(|()| cg)
    } else {
        Some(cg)
    };
    let mut state = ContainerState {
        oci_version: spec.version().clone(),
        id: opts.id.clone(),
        pid: 0,
        start_time: 0,
        bundle: opts.bundle.clone(),
        rootfs: rootfs.clone(),
        created: crate::logging::rfc3339_now(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        creating: true,
        cgroup_path: cg.as_ref().map(|c| c.path.clone()),
        hooks: spec.hooks().clone(),
        process: Some(process.clone()),
        namespaces: plan
            .all_types
            .iter()
            .map(|t| spec::ns_oci_name(*t).to_string())
            .collect(),
        pod: opts.pod.clone(),
        no_pivot: opts.no_pivot,
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    };
    // Recorded before anything else exists, so that `delete --force` after a killed create
    // finds and removes the cgroup and the process.
    let mut recovery = crate::state::Recovery {
        cgroup_path: cg.as_ref().map(|c| c.path.clone()),
        init: None,
    };
    {
        let dir = cleanup
            .dir
            .as_ref()
            .ok_or_else(|| Error::other("state dir missing"))?;
        recovery.save(dir)?;
        state.save(dir)?;
    }
    cleanup.cgroup = cg.clone();
    // cgroupfs: the cgroup exists before the fork and the init enters it by itself; systemd:
    // the scope is started with the init's pid after the fork, before the init goes on.
    let entry = match (&unit, &cg) {
        (None, Some(cg)) => {
            setup_cgroup(&spec, cg, rootless)?;
            Some(cg.entry()?)
        }
        (Some(_), _) => {
            cleanup.systemd = Some(dir_path.clone());
            None
        }
        (None, None) => None,
    };

    namespaces::enter_user_namespace_first(&mut plan.joins)?;
    let (parent, child) = channel::pair()?;
    let console = match (&console_sock, terminal) {
        (Some(s), _) => ConsoleTarget::Socket(s.as_raw_fd()),
        (None, true) => ConsoleTarget::Parent,
        (None, false) => ConsoleTarget::None,
    };
    let parent_hooks = spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    let cfg = InitConfig {
        mode: InitMode::Create,
        id: &opts.id,
        spec: &spec,
        process: &process,
        bundle: &opts.bundle,
        rootfs: &rootfs,
        joins: &plan.joins,
        unshare: plan.unshare,
        new_user: plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        fifo_fd: Some(fifo.as_raw_fd()),
        console,
        preserve_fds: opts.preserve_fds,
        parent_hooks,
        seccomp,
        cgroup: entry.as_ref(),
        stage: stage.as_ref().map(|fd| fd.as_raw_fd()),
    };
    let pid_ns = plan
        .pid_join
        .as_ref()
        .map(namespaces::join_pid_for_children)
        .transpose()?;
    let v2_fd = entry.as_ref().and_then(crate::cgroups::Entry::v2_fd);
    let (pid, in_v2) = fork_init(plan.clone_flags, v2_fd, cfg, child)?;
    drop(pid_ns);
    cleanup.pid = Some(pid);
    drop(entry);
    state.pid = pid;

    // The init enters the v1 hierarchies itself, first thing; the v2 one it was born in
    // unless the kernel refused CLONE_INTO_CGROUP.
    if let Some(u) = &unit {
        let description = format!("podrun container {}", opts.id);
        let resources = resources_of(&spec, rootless);
        crate::cgroups::systemd::start(u, pid, &description, &resources, &dir_path)?;
        if let Some(cg) = &cg {
            apply_resources(&spec, cg, rootless)?;
        }
    } else if let (Some(cg), false) = (&cg, in_v2) {
        cg.add_pid_v2(pid)?;
    }
    if plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER) {
        crate::process::idmap::write_id_maps(&spec, pid)?;
    }
    let hook_state = String::from_utf8_lossy(&state.hook_state(Status::Creating)).into_owned();
    parent.send(&Msg::Go(hook_state))?;
    // Recorded while the init sets itself up (until Ready it dies with us: PDEATHSIG).
    state.start_time = sys::proc_start_time(pid).unwrap_or(0);
    let dir = cleanup
        .dir
        .as_ref()
        .ok_or_else(|| Error::other("state dir missing"))?;
    recovery.init = Some((pid, state.start_time));
    recovery.save(dir)?;
    state.save(dir)?;
    let pty_master = handshake(&parent, &spec, &state, pid, cg.as_ref())?;
    if stage.is_some() {
        wait_for_exec(&parent)?;
    }
    drop(stage);

    state.creating = false;
    state.save(dir)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    drop(fifo);
    let _dir = cleanup.disarm();
    Ok(Created { state, pty_master })
}

/// Answers the init until it is Ready; runs prestart + createRuntime hooks when asked.
fn handshake(
    chan: &Channel,
    spec: &Spec,
    state: &ContainerState,
    pid: i32,
    cg: Option<&Cgroup>,
) -> Result<Option<OwnedFd>> {
    let mut pty = None;
    loop {
        match chan.recv_from_init()? {
            Some((Msg::Ready, _)) => return Ok(pty),
            Some((Msg::Pty, fd)) => pty = fd,
            Some((Msg::RunHooks, _)) => {
                let st = state.hook_state(Status::Creating);
                if let Some(h) = spec.hooks() {
                    if let Some(v) = h.prestart() {
                        crate::hooks::run_hooks("prestart", v, &st)?;
                    }
                    if let Some(v) = h.create_runtime() {
                        crate::hooks::run_hooks("createRuntime", v, &st)?;
                    }
                }
                chan.send(&Msg::HooksDone)?;
            }
            Some((Msg::Error(e, kind), _)) => return Err(Msg::into_error(e, kind)),
            Some((m, _)) => {
                return Err(Error::other(format!(
                    "unexpected message from container init: {m:?}"
                )))
            }
            None => {
                let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                return Err(Error::other(init_death_message(status, cg)));
            }
        }
    }
}

/// Why the init died before it was Ready, in words: a SIGKILL from the memory controller's
/// OOM killer names the limit.
fn init_death_message(
    status: nix::Result<nix::sys::wait::WaitStatus>,
    cg: Option<&Cgroup>,
) -> String {
    use nix::sys::wait::WaitStatus;
    match status {
        Ok(WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)) => {
            match cg.and_then(Cgroup::oom_record) {
                Some(r) if r.oom_kills > 0 => {
                    let limit = r
                        .limit
                        .map_or_else(|| "?".to_string(), |l| format!("{l} bytes"));
                    format!(
                        "container init was killed by SIGKILL during setup: memory limit {limit} too low? (the cgroup's OOM killer killed {} process(es); raise linux.resources.memory.limit)",
                        r.oom_kills
                    )
                }
                _ => "container init was killed by SIGKILL during setup".to_string(),
            }
        }
        Ok(WaitStatus::Signaled(_, sig, _)) => {
            format!("container init was killed by {sig} during setup")
        }
        Ok(WaitStatus::Exited(_, code)) => {
            format!("container init exited with status {code} during setup")
        }
        other => format!("container init exited during setup: {other:?}"),
    }
}

/// The syscalls between the seccomp filter and the container's process: the init's
/// execveat of podrun-init, then podrun-init's own (src/bin/init.rs).
const STAGE_SYSCALLS: &[&str] = &["execveat", "openat", "write", "close", "execve"];

/// How the container's process comes to run without the host's podrun binary as its
/// /proc/self/exe (CVE-2019-5736).
///
/// Usually: the init podrun forks runs the on-disk binary only while nothing else can see it
/// (in its own new pid namespace, until it is Ready) and then executes a sealed memfd copy of
/// the few-KiB podrun-init, which waits for the start and executes the process; the copy is
/// returned here. Where that does not hold, podrun re-executes itself from a sealed memfd
/// copy of its whole binary first (what runc and crun always do) and None is returned:
/// - no new pid namespace: processes outside the container (or of other containers) would
///   see the init while it runs the on-disk binary;
/// - startContainer hooks: they run between the start and the exec, in podrun's init;
/// - a seccomp filter that may deny a syscall podrun-init needs ([`STAGE_SYSCALLS`]);
/// - podrun-init is missing beside podrun.
///
/// The extra exec leaves the capability sets as they were: exec of a file without file
/// capabilities keeps the inheritable and bounding sets and (being unprivileged) the ambient
/// set, and the container's process's exec computes its sets from those alone.
fn init_binary(spec: &Spec, plan: &NamespacePlan) -> Result<Option<OwnedFd>> {
    let why_not = if !plan.clone_flags.contains(CloneFlags::CLONE_NEWPID) {
        Some("the container has no new pid namespace of its own")
    } else if spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
        .is_some_and(|v| !v.is_empty())
    {
        Some("startContainer hooks run between start and exec")
    } else if spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .is_some_and(|s| !crate::process::seccomp::surely_allows(s, STAGE_SYSCALLS))
    {
        Some("the seccomp filter may deny a syscall podrun-init makes")
    } else {
        None
    };
    match why_not {
        Some(why) => tracing::debug!("{why}: re-executing from a sealed copy of podrun"),
        None => {
            match sys::sealed_memfd_copy(&sys::podrun_exe_dir().join("podrun-init"), "podrun-init")
            {
                Ok(fd) => return Ok(Some(fd)),
                Err(e) => tracing::debug!(
                    "podrun-init unusable ({e}): re-executing from a sealed copy of podrun"
                ),
            }
        }
    }
    sys::ensure_cloned_binary()?;
    Ok(None)
}

/// After `Ready` with a podrun-init stage (or an exec's process): the channel closes when the
/// init's execve succeeded (close-on-exec), or an error arrives.
pub(crate) fn wait_for_exec(chan: &Channel) -> Result<()> {
    match chan.recv_from_init()? {
        None => Ok(()),
        Some((Msg::Error(e, kind), _)) => Err(Msg::into_error(e, kind)),
        Some((m, _)) => Err(Error::other(format!(
            "unexpected message from container init: {m:?}"
        ))),
    }
}

/// Which namespaces to join (opened now, so a bad path fails before anything starts) and which
/// to create, split between clone flags (pid, user) and unshare (the rest).
pub struct NamespacePlan {
    pub joins: Vec<JoinNs>,
    pub pid_join: Option<JoinNs>,
    pub clone_flags: CloneFlags,
    pub unshare: CloneFlags,
    pub all_types: Vec<LinuxNamespaceType>,
}

impl NamespacePlan {
    pub fn from_spec(spec: &Spec) -> Result<NamespacePlan> {
        let list: Vec<LinuxNamespace> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let mut plan = NamespacePlan {
            joins: Vec::new(),
            pid_join: None,
            clone_flags: CloneFlags::empty(),
            unshare: CloneFlags::empty(),
            all_types: Vec::new(),
        };
        let joining_user = list
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        for ns in &list {
            plan.all_types.push(ns.typ());
            let flag = namespaces::clone_flag(ns.typ());
            match ns.path() {
                Some(p) => {
                    let j = namespaces::open_namespace(p, ns.typ())?;
                    if ns.typ() == LinuxNamespaceType::Pid {
                        plan.pid_join = Some(j);
                    } else {
                        plan.joins.push(j);
                    }
                }
                None => match ns.typ() {
                    LinuxNamespaceType::User => plan.clone_flags |= flag,
                    // A new pid namespace under a joined user namespace must be made after the
                    // join; rootless, podrun joins that user namespace itself before the fork.
                    LinuxNamespaceType::Pid if !joining_user || crate::sys::rootless() => {
                        plan.clone_flags |= flag
                    }
                    _ => plan.unshare |= flag,
                },
            }
        }
        if plan.unshare.contains(CloneFlags::CLONE_NEWPID) {
            return Err(Error::Unsupported(
                "a new pid namespace inside a joined user namespace is not supported".into(),
            ));
        }
        Ok(plan)
    }
}

/// Forks the init: clone with the pid/user flags, fork-like (the child runs on a copy of our
/// stack). podrun is single-threaded here, so the child may use the allocator. With a cgroup
/// v2 directory fd the child is born in that cgroup; returns (pid, in_v2_cgroup).
pub fn fork_init(
    flags: CloneFlags,
    v2_cgroup: Option<RawFd>,
    cfg: InitConfig,
    child_chan: Channel,
) -> Result<(i32, bool)> {
    // SAFETY: podrun is single-threaded here (no runtime threads exist outside net calls),
    // and the child runs init code that is written for a forked child.
    match unsafe { sys::fork_into_cgroup(flags.bits(), v2_cgroup)? } {
        sys::Forked::Child => init::child_main(cfg, child_chan),
        sys::Forked::Parent { pid, in_cgroup } => {
            drop(child_chan);
            Ok((pid, in_cgroup))
        }
    }
}

/// Creates the cgroup (a rootless one exists already) and applies the resources.
fn setup_cgroup(spec: &Spec, cg: &Cgroup, rootless: bool) -> Result<()> {
    if !rootless {
        cg.create()?;
    }
    apply_resources(spec, cg, rootless)
}

/// linux.resources, plus an allow rule for every device of linux.devices (as runc adds them).
/// Rootless: no device rules (see `cgroups::rootless`).
fn apply_resources(spec: &Spec, cg: &Cgroup, rootless: bool) -> Result<()> {
    if spec.linux().is_none() {
        return Ok(());
    }
    cg.apply(&resources_of(spec, rootless))
}

/// The resources a container's cgroup gets: linux.resources, with an allow rule for every
/// device of linux.devices.
fn resources_of(spec: &Spec, rootless: bool) -> oci_spec::runtime::LinuxResources {
    let Some(linux) = spec.linux() else {
        return oci_spec::runtime::LinuxResources::default();
    };
    if rootless {
        let mut res = linux.resources().clone().unwrap_or_default();
        res.set_devices(None);
        return res;
    }
    // Device rules are always applied, as runc does: no list means deny-all plus the
    // default allowances (and the devices of linux.devices below).
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut rules = res.devices().clone().unwrap_or_default();
    if let Some(devs) = linux.devices().as_ref() {
        for d in devs {
            let mut r = oci_spec::runtime::LinuxDeviceCgroup::default();
            r.set_allow(true);
            r.set_typ(Some(d.typ()));
            r.set_major(Some(d.major()));
            r.set_minor(Some(d.minor()));
            r.set_access(Some("rwm".into()));
            rules.push(r);
        }
    }
    res.set_devices(Some(rules));
    res
}

/// The pid file: digits only, no newline, written atomically (like runc).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().io("getcwd", ".")?.join(path)
    };
    sys::write_atomic(&abs, pid.to_string().as_bytes())
}

/// With `--preserve-fds N`, fds 3..3+N belong to the container. Any closed slot among them is
/// filled with /dev/null now, so that no fd podrun opens later can land there and leak.
fn reserve_preserved_fds(n: u32) {
    for fd in 3..3 + n as RawFd {
        // SAFETY: F_GETFD only queries.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: open then dup2 onto the free slot; the temporary fd is closed.
            unsafe {
                let tmp = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if tmp >= 0 && tmp != fd {
                    libc::dup2(tmp, fd);
                    libc::close(tmp);
                }
            }
        }
    }
}

/// Rewrites the spec's net/ipc/uts (and pid when shared) namespaces to the pod's.
fn apply_pod(spec: &mut Spec, root: &Path, pod: &str) -> Result<()> {
    let paths = crate::pod::join_paths(root, pod)?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut list: Vec<LinuxNamespace> = linux.namespaces().clone().unwrap_or_default();
    for (typ, path) in paths {
        list.retain(|n| n.typ() != typ);
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        ns.set_path(Some(path));
        list.push(ns);
    }
    linux.set_namespaces(Some(list));
    spec.set_linux(Some(linux));
    Ok(())
}
