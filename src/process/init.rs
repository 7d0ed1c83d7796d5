//! The container's init before exec. Runs in the child podrun forks for `create` and `exec`
//! (single-threaded, in the new pid namespace if one was asked for). Stages, in order:
//!
//! 1. enter the cgroup (v1: write `0` to each `tasks`; v2: born there by CLONE_INTO_CGROUP),
//!    wait for `Go` (user namespace maps written)
//! 2. join namespaces by path (user first), create the rest with unshare
//! 3. create mode: rootfs step 1 (mounts, devices), parent hooks, createContainer hooks,
//!    pivot_root, sysctl, rootfs step 3 (masked/readonly paths), hostname
//! 4. terminal, rlimits, oom_score_adj, cwd, env (HOME from the container's /etc/passwd),
//!    fds made ready for the exec, (seccomp without no_new_privs), user, capabilities,
//!    resolve the executable
//! 5. `Ready`, then (create) block on the exec fifo until `podrun start`
//! 6. startContainer hooks, no_new_privs, (seccomp with no_new_privs), execve
//!
//! With a podrun-init stage (the usual create), the fds, the fifo fd for podrun-init and the
//! signals are set in step 4, before any filter; steps 5-6 become: no_new_privs, `Ready`,
//! (seccomp with no_new_privs), execveat(podrun-init), which waits on the exec fifo and
//! executes the process; `create` returns once that exec closed the channel.
//!
//! Nothing that a seccomp profile may plausibly refuse runs after the filter: without
//! no_new_privs it must be loaded while the init still has CAP_SYS_ADMIN, so the user and
//! capability changes follow it (as in runc); with no_new_privs only the execve does.
//!
//! Log lines go to podrun over the channel (podrun's log fd is closed here) while it listens.
//!
//! An error after `Ready` has no podrun left to report it (create has exited): it goes to
//! the container's stderr, which is where its caller (conmon, the shim) collects output.

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::channel::{Channel, Msg};
use crate::error::{Error, Result, SysContext};
use crate::process::{caps, console, namespaces, namespaces::JoinNs, rootfs, user};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the pty master of a `terminal: true` process goes.
#[derive(Debug, Clone, Copy)]
pub enum ConsoleTarget {
    /// No terminal.
    None,
    /// A connected `--console-socket`.
    Socket(RawFd),
    /// Back to the podrun parent over the channel (foreground run/exec).
    Parent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new container: rootfs, hooks, exec fifo.
    Create,
    /// A process joining a running container.
    Exec,
}

/// Everything the init needs, prepared by the parent before the fork.
pub struct InitConfig<'a> {
    pub mode: Mode,
    pub id: &'a str,
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    /// Namespaces to join (except pid, which the parent joined before the fork).
    pub joins: &'a [JoinNs],
    /// Namespaces to create with unshare after the joins (pid and user come from clone).
    pub unshare: CloneFlags,
    /// A new user namespace was made by clone: become its root after the maps are written.
    pub new_user: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// O_PATH fd of the exec fifo (create mode).
    pub fifo_fd: Option<RawFd>,
    pub console: ConsoleTarget,
    pub preserve_fds: u32,
    /// Ask the parent to run prestart/createRuntime hooks.
    pub parent_hooks: bool,
    /// The seccomp filter, compiled by the parent before the fork.
    pub seccomp: Option<crate::process::seccomp::Filter>,
    /// The container's cgroup, which the init enters by itself before anything else.
    pub cgroup: Option<&'a crate::cgroups::Entry>,
    /// A sealed memfd of podrun-init (src/bin/init.rs): once set up, the init sends `Ready`
    /// and becomes podrun-init, which waits for the start and executes the process (see
    /// `container::create::init_binary` for when). None: the init, itself running from a
    /// sealed copy of podrun, waits and executes the process itself.
    pub stage: Option<RawFd>,
}

/// The child's entry point: never returns. Errors go to the parent over the channel, and so
/// do log lines while the parent listens (podrun's log fd is closed here).
pub fn child_main(cfg: InitConfig, chan: Channel) -> ! {
    let sock = chan.raw();
    crate::logging::forward_lines(move |line| {
        // Once podrun stopped listening (after Ready), the line has nowhere to go.
        let _ = crate::channel::send_on(sock, &Msg::Log(line.to_string()), None);
    });
    let err = match run(cfg, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if chan.send(&Msg::error(&err)).is_err() {
        report_to_stderr(&err);
    }
    // SAFETY: _exit never returns and runs no atexit handlers (we are a forked child).
    unsafe { libc::_exit(1) }
}

enum Never {}

/// The last resort for an init error nobody listens for any more: one line on fd 2 (the
/// container's stderr), written with a single write(2).
fn report_to_stderr(err: &Error) {
    let line = format!("podrun: container init: {err}\n");
    // SAFETY: write(2) of a valid buffer to fd 2; a failure is ignored (nowhere else to go).
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

fn run(mut cfg: InitConfig, chan: &Channel) -> Result<Never> {
    // Until Ready, the init dies with podrun; other processes in the container cannot open
    // /proc/<init>/{exe,fd} while we are not dumpable.
    prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        "PR_SET_PDEATHSIG",
    )?;
    // With a new user namespace the parent writes our uid_map/gid_map (or has newuidmap do
    // it), which needs /proc/<pid> owned by the user: a non-dumpable process's belongs to
    // root. Made non-dumpable as soon as the maps are in (runc's nsexec does the same).
    if !cfg.new_user {
        prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")?;
    }
    if let Some(entry) = cfg.cgroup {
        entry.enter_self().map_err(|(path, e)| {
            Error::sys(format!("cgroup: move the init into {}", path.display()), e)
        })?;
    }
    close_inherited_fds(&cfg, chan)?;
    let hook_state = match chan.recv()? {
        Some((Msg::Go(state), _)) => state.into_bytes(),
        Some((m, _)) => {
            return Err(Error::other(format!(
                "container init: expected Go, got {m:?}"
            )))
        }
        // SAFETY: the parent is gone; _exit in a forked child.
        None => unsafe { libc::_exit(1) },
    };

    if cfg.new_user {
        prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")?;
        become_userns_root()?;
    }
    join_namespaces(&cfg)?;
    if !cfg.unshare.is_empty() {
        nix::sched::unshare(cfg.unshare).sys(|| format!("unshare {:?}", cfg.unshare))?;
        if cfg.unshare.contains(CloneFlags::CLONE_NEWNET) {
            namespaces::bring_up_loopback()?;
        }
    }
    if cfg.mode == Mode::Create && !cfg.no_new_keyring {
        join_session_keyring(cfg.id);
    }
    tracing::debug!(
        "container init: namespaces joined ({} by path), made: {:?}",
        cfg.joins.len(),
        cfg.unshare
    );

    if cfg.mode == Mode::Create {
        setup_container(&cfg, chan, &hook_state)?;
    }

    let process = cfg.process;
    let pty = match cfg.console {
        ConsoleTarget::None => None,
        target => Some(setup_terminal(process, target, chan, cfg.mode)?),
    };

    if let Some(rl) = process.rlimits() {
        user::set_rlimits(rl)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::io("write oom_score_adj to", "/proc/self/oom_score_adj", e))?;
    }
    change_dir(process.cwd())?;
    let env = process_env(process);
    super::lsm::apply_on_exec(process)?;

    let sets = caps::CapSets::from_spec(process.capabilities().as_ref())?;
    // The fds (and with podrun-init, the signals) are made ready for the exec before any
    // filter is loaded: a profile may refuse what that takes (close_range, from kernel 5.9,
    // is unknown to older allowlists).
    prepare_fds(cfg.preserve_fds)?;
    if cfg.stage.is_some() {
        // podrun-init opens the fifo through /proc/self/fd/N (and closes it): it must survive
        // the exec.
        if let Some(fd) = cfg.fifo_fd {
            crate::sys::clear_cloexec(fd)?;
        }
        reset_signals();
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while the init still
    // has every capability, before they are dropped (runc's order; podman and Docker ask for
    // seccomp without no_new_privs). With no_new_privs it is the last step before execve.
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if !no_new_privs {
        if let Some(filter) = cfg.seccomp.take() {
            tracing::debug!("container init: seccomp filter loaded before the user change");
            filter.load()?;
        }
    }
    caps::drop_bounding(&sets)?;
    user::set_keep_caps(true)?;
    user::switch_user(process.user(), !userns_setgroups_denied())?;
    user::set_keep_caps(false)?;
    caps::apply(&sets)?;
    if let Some(mask) = process.user().umask() {
        user::set_umask(mask);
    }

    let exe = resolve_executable(process, &env)?;
    tracing::debug!("container init: ready to execute {}", exe.to_string_lossy());

    // From here on the init must outlive podrun create.
    prctl(libc::PR_SET_PDEATHSIG, 0, "PR_SET_PDEATHSIG")?;
    if let Some(stage) = cfg.stage {
        drop(pty);
        return exec_stage(stage, &mut cfg, chan, &exe, &env, no_new_privs);
    }
    chan.send(&Msg::Ready)?;

    let mut started = None;
    if let Some(fifo) = cfg.fifo_fd {
        let start = wait_for_start(fifo)?;
        let ran = match cfg
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.start_container().clone())
        {
            Some(hooks) => crate::hooks::run_hooks(
                "startContainer",
                &hooks,
                &with_status(&hook_state, "created"),
            ),
            None => Ok(()),
        };
        // Held open (close-on-exec) until the execve: `start` waits for it to close.
        started = Some(report_start(
            start,
            ran.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        ));
        ran?;
    }
    drop(pty);

    if no_new_privs {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")?;
    }
    reset_signals();
    if let Some(filter) = cfg.seccomp.take() {
        filter.load()?;
    }
    let failed = exec(&exe, process, &env);
    drop(started);
    failed
}

/// The end of the init with a podrun-init stage: everything the process needs is in place
/// but the start (the wait on the exec fifo) and the exec, which podrun-init does. `create`
/// waits after `Ready` until this exec closes the channel, or for the error.
fn exec_stage(
    stage: RawFd,
    cfg: &mut InitConfig,
    chan: &Channel,
    exe: &CString,
    env: &[String],
    no_new_privs: bool,
) -> Result<Never> {
    if no_new_privs {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")?;
    }
    // The fifo fd was made to survive the exec before the filter (see `run`).
    let fifo_arg = match cfg.fifo_fd {
        Some(fd) => fd.to_string(),
        None => "-".to_string(),
    };
    let mut argv: Vec<CString> = vec![
        c"podrun-init".to_owned(),
        c_strings([fifo_arg.as_str()], "fifo fd")?.remove(0),
        exe.clone(),
    ];
    argv.extend(c_strings(
        cfg.process.args().iter().flatten(),
        "process.args",
    )?);
    let envs = c_strings(env, "process.env")?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    tracing::debug!("container init: executing podrun-init, which waits for the start");
    chan.send(&Msg::Ready)?;
    if let Some(filter) = cfg.seccomp.take() {
        filter.load()?;
    }
    // SAFETY: argv/envp are NULL-terminated arrays of C strings that outlive the call; the
    // memfd is ours. execveat returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            stage,
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(Error::sys(
        "exec podrun-init (sealed memfd)",
        nix::Error::last(),
    ))
}

/// C strings of `items` (args, env); a NUL byte in one is a spec error naming `what`.
fn c_strings<I: IntoIterator<Item = S>, S: AsRef<str>>(
    items: I,
    what: &str,
) -> Result<Vec<CString>> {
    items
        .into_iter()
        .map(|i| CString::new(i.as_ref().as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Spec(format!("{what} contains a NUL byte")))
}

fn prctl(op: libc::c_int, arg: libc::c_ulong, name: &str) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(op, arg, 0, 0, 0) } != 0 {
        return Err(Error::sys(format!("prctl {name}"), nix::Error::last()));
    }
    Ok(())
}

fn wait_for(chan: &Channel, want: Msg) -> Result<()> {
    match chan.recv()? {
        Some((m, _)) if m == want => Ok(()),
        Some((m, _)) => Err(Error::other(format!(
            "container init: expected {want:?}, got {m:?}"
        ))),
        // The parent is gone: nothing to report to.
        // SAFETY: _exit in a forked child.
        None => unsafe { libc::_exit(1) },
    }
}

fn become_userns_root() -> Result<()> {
    let root_g = nix::unistd::Gid::from_raw(0);
    let root_u = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g)
        .sys(|| "setresgid 0 in user namespace".into())?;
    nix::unistd::setresuid(root_u, root_u, root_u)
        .sys(|| "setresuid 0 in user namespace".into())?;
    Ok(())
}

fn join_namespaces(cfg: &InitConfig) -> Result<()> {
    for t in namespaces::JOIN_ORDER {
        for ns in cfg.joins.iter().filter(|n| n.typ == t) {
            namespaces::join(ns)?;
        }
    }
    Ok(())
}

/// A fresh session keyring per container (runc's default; `--no-new-keyring` keeps the caller's).
fn join_session_keyring(id: &str) {
    let Ok(name) = CString::new(format!("_ses.{id}")) else {
        return;
    };
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING (1) with a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
    if r < 0 {
        tracing::debug!("cannot join a new session keyring: {}", nix::Error::last());
    }
}

fn setup_container(cfg: &InitConfig, chan: &Channel, hook_state: &[u8]) -> Result<()> {
    let rcfg = rootfs::RootfsConfig {
        spec: cfg.spec,
        rootfs: cfg.rootfs,
        bundle: cfg.bundle,
        no_pivot: cfg.no_pivot,
    };
    rootfs::prepare_rootfs(&rcfg)?;
    if cfg.parent_hooks {
        chan.send(&Msg::RunHooks)?;
        wait_for(chan, Msg::HooksDone)?;
    }
    if let Some(hooks) = cfg
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().clone())
    {
        crate::hooks::run_hooks("createContainer", &hooks, hook_state)?;
    }
    rootfs::enter_rootfs(&rcfg)?;
    create_cwd(cfg.process.cwd())?;
    // Before the readonly paths: runc's default spec makes /proc/sys read-only (runc writes
    // the sysctls first too).
    set_sysctls(cfg.spec)?;
    rootfs::finish_rootfs(&rcfg)?;
    set_names(cfg)?;
    tracing::debug!("container init: root filesystem ready");
    Ok(())
}

fn has_own_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// hostname and domainname, set only in a uts namespace of the container's own: a joined one
/// (a pod's) keeps the name its owner gave it.
fn set_names(cfg: &InitConfig) -> Result<()> {
    let uts = has_own_ns(cfg.spec, LinuxNamespaceType::Uts);
    if cfg.joins.iter().any(|j| j.typ == LinuxNamespaceType::Uts) {
        tracing::debug!("uts namespace joined by path: hostname and domainname left as they are");
        return Ok(());
    }
    if let Some(h) = cfg.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !uts {
            return Err(Error::Spec(
                "hostname is set but there is no uts namespace".into(),
            ));
        }
        nix::unistd::sethostname(h).sys(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = cfg.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !uts {
            return Err(Error::Spec(
                "domainname is set but there is no uts namespace".into(),
            ));
        }
        // SAFETY: valid pointer and length.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(Error::sys(
                format!("setdomainname {d:?}"),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

fn set_sysctls(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (k, v) in sysctl {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v).map_err(|e| {
            Error::Spec(format!(
                "linux.sysctl {k}={v}: cannot write {}: {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

/// Makes the pty, sends its master away and makes the slave the process's stdio. Like runc,
/// the init keeps neither the master nor the console socket once the master is sent: the
/// receiver alone holds the terminal's master side. Returns the slave (closed before exec).
fn setup_terminal(
    process: &Process,
    target: ConsoleTarget,
    chan: &Channel,
    mode: Mode,
) -> Result<std::os::fd::OwnedFd> {
    let pty = console::open_pty()?;
    if mode == Mode::Create {
        console::mount_console(&pty.slave_path)?;
    }
    if let Some(sz) = process.console_size() {
        console::set_winsize(
            pty.master.as_raw_fd(),
            sz.height() as u16,
            sz.width() as u16,
        );
    }
    match target {
        ConsoleTarget::Socket(sock) => {
            console::send_fd(sock, pty.master.as_raw_fd(), "/dev/ptmx")?;
            // SAFETY: the console socket fd was handed to this process for this one send and
            // nothing else uses it afterwards.
            unsafe { libc::close(sock) };
        }
        ConsoleTarget::Parent => chan.send_with_fd(&Msg::Pty, Some(pty.master.as_raw_fd()))?,
        ConsoleTarget::None => {}
    }
    drop(pty.master);
    console::become_console(&pty.slave)?;
    Ok(pty.slave)
}

/// A missing process.cwd is created (0755, as runc does), inside the new root and before it
/// may become read-only.
fn create_cwd(cwd: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(|e| Error::io("create process.cwd", cwd, e))
}

/// chdir to the process cwd and make sure it is inside the container's root
/// (a cwd like /proc/self/fd/N must not lead to a host directory: CVE-2024-21626).
fn change_dir(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).map_err(|e| {
        Error::Spec(format!(
            "process.cwd {}: cannot change directory: {e}",
            cwd.display()
        ))
    })?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::Spec(format!(
            "process.cwd {} is outside the container's root",
            cwd.display()
        ))),
    }
}

fn userns_setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// The process's env, plus what runc adds when it is missing: PATH, HOME (from the
/// container's /etc/passwd for the process's uid, `/` without an entry) and, with a
/// terminal, TERM.
fn process_env(process: &Process) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    // runc replaces an empty HOME too.
    if !env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|h| !h.is_empty()))
    {
        let home = user::home_of(Path::new("/etc/passwd"), process.user().uid());
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={home}"));
    }
    if process.terminal().unwrap_or(false) && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

/// Finds args[0] the way execvp would, but with the container's PATH.
fn resolve_executable(process: &Process, env: &[String]) -> Result<CString> {
    let arg0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or_else(|| Error::Spec("process.args must not be empty".into()))?;
    if arg0.contains('/') {
        return executable_path(arg0);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let candidates: Vec<PathBuf> = path
        .split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
        .collect();
    for c in &candidates {
        let Ok(cs) = CString::new(c.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: valid C string.
        if unsafe { libc::access(cs.as_ptr(), libc::X_OK) } == 0 && !c.is_dir() {
            return Ok(cs);
        }
    }
    Err(Error::Spec(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// args[0] given as a path: in runc's words (which Docker and containerd map to exit codes
/// 127 and 126), "no such file or directory" when it is missing, "permission denied" when
/// it exists but cannot be executed (no x bit for the user, a directory).
fn executable_path(arg0: &str) -> Result<CString> {
    let cs = CString::new(arg0.as_bytes())
        .map_err(|_| Error::Spec("process.args contains a NUL byte".into()))?;
    match nix::sys::stat::stat(cs.as_c_str()) {
        Err(e) => Err(Error::Spec(format!(
            "exec: {arg0:?}: stat {arg0}: {}",
            go_words(e)
        ))),
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Err(Error::Spec(format!(
            "exec: {arg0:?}: {}",
            go_words(nix::Error::EACCES)
        ))),
        // SAFETY: valid C string.
        Ok(_) if unsafe { libc::access(cs.as_ptr(), libc::X_OK) } != 0 => Err(Error::Spec(
            format!("exec: {arg0:?}: {}", go_words(nix::Error::last())),
        )),
        Ok(_) => Ok(cs),
    }
}

/// An errno as Go (runc) prints it: strerror starting in lower case ("permission denied").
fn go_words(e: nix::Error) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// The hook state JSON with another `status` (startContainer hooks see `created`, as with runc;
/// the parent sent the state of the create, `creating`).
fn with_status(state: &[u8], status: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(state) {
        Ok(mut v) if v.is_object() => {
            v["status"] = serde_json::Value::from(status);
            serde_json::to_vec(&v).unwrap_or_else(|_| state.to_vec())
        }
        _ => state.to_vec(),
    }
}

/// Blocks until `podrun start` opens the exec fifo for reading; returns the fifo opened for
/// writing, on which [`report_start`] answers once the startContainer hooks have run.
fn wait_for_start(fifo: RawFd) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let path =
        CString::new(format!("/proc/self/fd/{fifo}")).map_err(|_| Error::other("fifo path"))?;
    let fd = loop {
        // SAFETY: valid C string; blocks until a reader opens the fifo.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            break fd;
        }
        let e = nix::Error::last();
        if e != nix::Error::EINTR {
            return Err(Error::sys(
                "open exec fifo (is /proc mounted in the container?)",
                e,
            ));
        }
    };
    // SAFETY: the O_PATH fifo fd is ours and nothing uses it after this; `fd` was just opened
    // and is owned by nothing else.
    unsafe {
        libc::close(fifo);
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// Tells `podrun start` how the start went: `0` (the process is about to be executed), or `1`
/// and the error (a failing startContainer hook), which `start` reports as its own failure.
/// One write of at most PIPE_BUF bytes, so the reader gets it whole. The fifo is returned:
/// `start` runs the poststart hooks once it is closed, by the execve (close-on-exec).
fn report_start(
    fifo: std::os::fd::OwnedFd,
    outcome: std::result::Result<(), String>,
) -> std::os::fd::OwnedFd {
    let msg: Vec<u8> = match outcome {
        Ok(()) => b"0".to_vec(),
        Err(e) => {
            let mut m = b"1".to_vec();
            m.extend(e.bytes().take(libc::PIPE_BUF - 1));
            m
        }
    };
    // SAFETY: writes from a valid buffer of msg.len() bytes to an fd we own.
    unsafe { libc::write(fifo.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
    fifo
}

/// Closes every fd the init does not need, right after the fork: podrun's own (the state-dir
/// lock, which would otherwise stay held by the init) and whatever the caller leaked to us.
fn close_inherited_fds(cfg: &InitConfig, chan: &Channel) -> Result<()> {
    let mut keep: Vec<RawFd> = vec![chan.raw()];
    keep.extend(cfg.fifo_fd);
    keep.extend(cfg.stage);
    if let ConsoleTarget::Socket(s) = cfg.console {
        keep.push(s);
    }
    keep.extend(cfg.joins.iter().map(|j| j.fd.as_raw_fd()));
    let first_free = 3 + cfg.preserve_fds as RawFd;
    keep.retain(|fd| *fd >= first_free);
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first_free as u32;
    for fd in keep
        .into_iter()
        .map(|f| f as u32)
        .chain(std::iter::once(u32::MAX))
    {
        if fd > lo {
            let hi = if fd == u32::MAX { u32::MAX } else { fd - 1 };
            // Fds of this (forked, single-threaded) process that nothing here uses.
            crate::sys::close_fds(lo, hi)?;
        }
        lo = fd.saturating_add(1);
    }
    Ok(())
}

/// Keeps 0, 1, 2 and the preserved fds 3..3+N across exec; everything else is close-on-exec.
fn prepare_fds(preserve: u32) -> Result<()> {
    for fd in 3..3 + preserve {
        crate::sys::clear_cloexec(fd as RawFd)?;
    }
    crate::sys::cloexec_from(3 + preserve)
}

/// The caller's blocked signals and ignored dispositions (Rust ignores SIGPIPE) must not
/// reach the container's process.
fn reset_signals() {
    // SAFETY: plain signal-mask and disposition resets in a single-threaded process.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn exec(exe: &CString, process: &Process, env: &[String]) -> Result<Never> {
    let args = c_strings(process.args().iter().flatten(), "process.args")?;
    let envs = c_strings(env, "process.env")?;
    let e = nix::unistd::execve(exe, &args, &envs).unwrap_err();
    Err(Error::sys(format!("exec {}", exe.to_string_lossy()), e))
}
