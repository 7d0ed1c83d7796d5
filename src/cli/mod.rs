//! The command line: global flags (the runc set) and one file per command.

use std::path::PathBuf;

use std::ffi::OsString;

use clap::{Args as _, FromArgMatches, Parser, Subcommand};

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

pub const DEFAULT_ROOT: &str = crate::state::DEFAULT_ROOT;

#[derive(Parser, Debug)]
#[command(
    name = "podrun",
    about = "An OCI container runtime that knows about pods",
    disable_version_flag = true
)]
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
    /// Root directory for container state (should be on tmpfs; a non-root user's default
    /// is $XDG_RUNTIME_DIR/podrun)
    #[arg(long, global = true, default_value_os_t = crate::state::default_root())]
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

/// Parses the command line like `Cli::parse()` (same errors, same exit codes), but when the
/// command is named up front it builds only that command's definition: clap's full tree
/// costs every invocation ~250 KB of heap and ~1M instructions, mostly copying the global
/// flags into each of the ~20 commands. `--help`, `--version` and anything not recognised
/// take the full tree, so help and suggestions are unchanged.
pub fn parse() -> Cli {
    try_parse_from(std::env::args_os().collect()).unwrap_or_else(|e| e.exit())
}

fn try_parse_from(args: Vec<OsString>) -> std::result::Result<Cli, clap::Error> {
    let Some(sub) = named_command(&args).and_then(command_definition) else {
        return Cli::try_parse_from(args);
    };
    let m = Global::augment_args(clap::Command::new("podrun").disable_version_flag(true))
        .subcommand(sub)
        .try_get_matches_from(args)?;
    Ok(Cli {
        global: Global::from_arg_matches(&m)?,
        version: false,
        command: Some(Command::from_arg_matches(&m)?),
    })
}

/// The command an argument vector names, when only global flags come before it and no help
/// is asked for anywhere.
fn named_command(args: &[OsString]) -> Option<&str> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return None;
    }
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_str()?;
        match a {
            "--root" | "--log" | "--log-format" | "--criu" | "--rootless" => {
                it.next()?;
            }
            "--debug" | "--systemd-cgroup" => {}
            _ if a.starts_with("--root=")
                || a.starts_with("--log=")
                || a.starts_with("--log-format=") => {}
            _ if a.starts_with('-') => return None,
            _ => return Some(a),
        }
    }
    None
}

/// One command's clap definition exactly as `#[derive(Subcommand)]` on `Command` builds it,
/// without its about text (help takes the full tree); `tests::fast_definitions_match_the_derived_ones`
/// compares every one with the derived tree.
fn command_definition(name: &str) -> Option<clap::Command> {
    fn leaf<A: clap::Args>(name: &'static str) -> clap::Command {
        A::augment_args(clap::Command::new(name))
    }
    fn nested<S: clap::Subcommand>(name: &'static str) -> clap::Command {
        S::augment_subcommands(
            clap::Command::new(name)
                .subcommand_required(true)
                .arg_required_else_help(true),
        )
    }
    Some(match name {
        "create" => leaf::<create::Args>("create"),
        "start" => leaf::<start::Args>("start"),
        "state" => leaf::<state::Args>("state"),
        "kill" => leaf::<kill::Args>("kill"),
        "delete" => leaf::<delete::Args>("delete"),
        "run" => leaf::<run::Args>("run"),
        "exec" => leaf::<exec::Args>("exec"),
        "ps" => leaf::<ps::Args>("ps"),
        "list" => leaf::<list::Args>("list"),
        "spec" => leaf::<spec::Args>("spec"),
        "features" => leaf::<features::Args>("features"),
        "cni" => leaf::<cni::Args>("cni"),
        "node" => nested::<node::NodeCommand>("node"),
        "pause" => leaf::<pause::PauseArgs>("pause"),
        "resume" => leaf::<pause::ResumeArgs>("resume"),
        "update" => leaf::<update::Args>("update"),
        "events" => leaf::<events::Args>("events"),
        "checkpoint" => leaf::<unsupported::Args>("checkpoint"),
        "restore" => leaf::<unsupported::Args>("restore"),
        "pod" => nested::<pod::PodCommand>("pod"),
        _ => return None,
    })
}

/// `--preserve-fds N` passes fds 3..3+N: N is bounded by the kernel's largest fd table
/// (fs.nr_open, 1048576 by default), so that 3+N can never overflow.
pub fn preserve_fds_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=1_048_573)
}

pub fn print_version() -> Result<()> {
    print_out(&format!(
        "podrun version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("PODRUN_COMMIT").unwrap_or("unknown"),
        crate::spec::OCI_VERSION
    ))
}

/// Writes `text` to stdout (println! would panic on a closed pipe). When the reader is gone
/// the error says so ([`crate::Error::is_stdout_closed`]) and podrun exits 0 without a word,
/// as `podrun --version | head -1` expects.
pub fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| crate::Error::io("write", "stdout", e))
}

/// Runs one parsed command; the returned number is the process exit code.
pub fn dispatch(g: &Global, cmd: Command) -> Result<i32> {
    // Only the commands that make cgroups refuse: containerd passes the same global flags to
    // `delete --force` after a failed create, and that (and state, list, spec, ...) must work.
    let makes_cgroups = matches!(
        cmd,
        Command::Create(_) | Command::Run(_) | Command::Pod(pod::PodCommand::Create(_))
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("podrun")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn fast_definitions_match_the_derived_ones() {
        let full = Cli::command();
        let mut names = Vec::new();
        for derived in full.get_subcommands() {
            let name = derived.get_name();
            names.push(name.to_string());
            let fast =
                command_definition(name).unwrap_or_else(|| panic!("no fast definition of {name}"));
            // about and display order only show in help, which the full tree prints
            let mut fast = fast.display_order(derived.get_display_order());
            if let Some(about) = derived.get_about() {
                fast = fast.about(about.clone());
            }
            if let Some(about) = derived.get_long_about() {
                fast = fast.long_about(about.clone());
            }
            assert_eq!(
                format!("{fast:?}"),
                format!("{derived:?}"),
                "definition of `{name}`"
            );
        }
        assert!(
            names.len() >= 20 && names.iter().any(|n| n == "run"),
            "{names:?}"
        );
        assert!(command_definition("bogus").is_none());
    }

    #[test]
    fn the_fast_parse_gives_what_the_full_tree_gives() {
        let lines = [
            "run -b /b x",
            "--root /r --log /l --log-format json run --bundle /b --pid-file /p -d x",
            "--root=/r --debug create --bundle /b --console-socket /s --preserve-fds 2 x",
            "create x --root /r --systemd-cgroup",
            "start x",
            "delete --force x",
            "kill x KILL",
            "kill --all x 9",
            "state x",
            "exec --process /p.json -t x",
            "exec x sh -c true",
            "ps x -- -ef",
            "pod create p1 --net",
            "pod delete p1",
            "node up --help-not-a-flag",
            "list -q",
            "run",
            "run --bogus x",
            "kill x a b c",
            "create --preserve-fds -1 x",
            "--log-format yaml run x",
        ];
        for line in lines {
            let fast = try_parse_from(argv(line));
            let full = Cli::try_parse_from(argv(line));
            match (fast, full) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "`{line}`"),
                (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "`{line}`: {a} vs {b}"),
                (a, b) => panic!("`{line}`: fast {a:?} but full {b:?}"),
            }
        }
        assert!(named_command(&argv("run --help x")).is_none());
        assert!(named_command(&argv("-v")).is_none());
        assert_eq!(named_command(&argv("--root /r --debug run x")), Some("run"));
    }
}
