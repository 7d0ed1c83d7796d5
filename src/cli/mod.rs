//! The command line: global flags (the runc set) and one file per command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;
use crate::Result;

pub mod cni;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod node;
pub mod pause;
pub mod pod;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod unsupported;
pub mod update;

pub const DEFAULT_ROOT: &str = "/run/podrun";

#[derive(Parser, Debug)]
#[command(name = "podrun", about = "An OCI container runtime that knows about pods", disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Print the version (runc's format: version, commit, spec lines)
    #[arg(short = 'v', long = "version", global = false)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags that every command accepts, as runc names them.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Root directory for container state (should be on tmpfs)
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not available on hosts without systemd)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility: auto, true or false
    #[arg(long, hide = true)]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility (checkpointing is not supported)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (blocked before its process runs until `start`)
    Create(create::Args),
    /// Start the process of a created container
    Start(start::Args),
    /// Print the state of a container as JSON
    State(state::Args),
    /// Send a signal to the container's init (or to all its processes)
    Kill(kill::Args),
    /// Delete a container and everything the runtime made for it
    Delete(delete::Args),
    /// Create and start a container, and by default wait for it
    Run(run::Args),
    /// Run another process in a running container
    Exec(exec::Args),
    /// List the processes of a container
    Ps(ps::Args),
    /// List containers
    List(list::Args),
    /// Write a default config.json
    Spec(spec::Args),
    /// Print what this runtime supports (runtime-spec features JSON)
    Features(features::Args),
    /// Act as a CNI plugin (CNI_COMMAND and the network config on stdin; also as `podrun-cni`)
    Cni(cni::Args),
    /// This node's side of the pod network across nodes (host-gw or vxlan)
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Freeze all processes of a container
    Pause(pause::PauseArgs),
    /// Thaw a paused container
    Resume(pause::ResumeArgs),
    /// Change a container's resource limits
    Update(update::Args),
    /// Print container events and resource statistics
    Events(events::Args),
    /// Not supported (no CRIU): fails with a clear error, for runc's callers
    Checkpoint(unsupported::Args),
    /// Not supported (no CRIU): fails with a clear error, for runc's callers
    Restore(unsupported::Args),
    /// Pods: a pause process owning shared namespaces and a network
    #[command(subcommand)]
    Pod(pod::PodCommand),
}

/// `--preserve-fds N` passes fds 3..3+N: N is bounded by the kernel's largest fd table
/// (fs.nr_open, 1048576 by default), so that 3+N can never overflow.
pub fn preserve_fds_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=1_048_573)
}

pub fn print_version() {
    println!("podrun version {}", env!("CARGO_PKG_VERSION"));
    println!("commit: {}", option_env!("PODRUN_COMMIT").unwrap_or("unknown"));
    println!("spec: {}", crate::spec::OCI_VERSION);
}

/// Runs one parsed command; the returned number is the process exit code.
pub fn dispatch(g: &Global, cmd: Command) -> Result<i32> {
    // Only the commands that make cgroups refuse: containerd passes the same global flags to
    // `delete --force` after a failed create, and that (and state, list, spec, ...) must work.
    let makes_cgroups = matches!(cmd, Command::Create(_) | Command::Run(_) | Command::Pod(pod::PodCommand::Create(_)));
    if g.systemd_cgroup && makes_cgroups && !crate::cgroups::systemd_available() {
        return Err(crate::Error::Usage(
            "--systemd-cgroup: systemd is not running on this host (PID 1 is not systemd); use cgroupfs (omit --systemd-cgroup)".into(),
        ));
    }
    match cmd {
        Command::Create(a) => create::run(g, a),
        Command::Start(a) => start::run(g, a),
        Command::State(a) => state::run(g, a),
        Command::Kill(a) => kill::run(g, a),
        Command::Delete(a) => delete::run(g, a),
        Command::Run(a) => run::run(g, a),
        Command::Exec(a) => exec::run(g, a),
        Command::Ps(a) => ps::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::Spec(a) => spec::run(g, a),
        Command::Features(a) => features::run(g, a),
        Command::Cni(a) => cni::run(g, a),
        Command::Node(c) => node::run(g, c),
        Command::Pause(a) => pause::run_pause(g, a),
        Command::Resume(a) => pause::run_resume(g, a),
        Command::Update(a) => update::run(g, a),
        Command::Events(a) => events::run(g, a),
        Command::Checkpoint(a) => unsupported::run(g, "checkpoint", a),
        Command::Restore(a) => unsupported::run(g, "restore", a),
        Command::Pod(c) => pod::run(g, c),
    }
}
