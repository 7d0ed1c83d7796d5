//! `podrun node up|down|show`: this node's side of the pod network across nodes (flannel's
//! host-gw and vxlan backends) from a static peer list; `podrun node join|leave`: the same
//! from etcd, by the node agent. See `net::node`, `net::agent` and docs/nodes.md.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Subcommand;

use crate::cli::Global;
use crate::logging::LogFormat;
use crate::net::{agent, node, subnet_env};
use crate::{Error, Result};

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Add the routes (host-gw) or the VXLAN device, routes, neighbours and FDB entries (vxlan)
    Up {
        /// The peer list (JSON: backend, nodes with name, address, subnet[, vtepMac])
        #[arg(long)]
        config: PathBuf,
        /// This node's name in the peer list
        #[arg(long)]
        node: String,
    },
    /// Remove exactly what `node up` made
    Down,
    /// Print what `node up` made (JSON)
    Show,
    /// Run the node agent: lease a pod subnet in etcd and keep every other node's routes
    Join(JoinArgs),
    /// Stop the node agent: it releases its lease and removes the routes it made
    Leave,
}

#[derive(clap::Args, Debug, Clone)]
pub struct JoinArgs {
    /// etcd v3 endpoints (comma separated), e.g. http://127.0.0.1:2379
    #[arg(long = "etcd-endpoints", value_delimiter = ',', required = true)]
    pub etcd_endpoints: Vec<String>,
    /// The etcd key prefix of the network (flannel's)
    #[arg(long, default_value = "/coreos.com/network")]
    pub prefix: String,
    /// This node's address on the underlay (default: the address of --iface, else of the
    /// default route's interface)
    #[arg(long = "public-ip", conflicts_with = "iface")]
    pub public_ip: Option<Ipv4Addr>,
    /// The interface whose address is this node's public address
    #[arg(long)]
    pub iface: Option<String>,
    /// Seconds until the lease expires once the agent stops renewing it
    #[arg(long = "lease-ttl", default_value_t = 60, value_parser = clap::value_parser!(i64).range(2..=86400))]
    pub lease_ttl: i64,
    /// Where the node's subnet and MTU are written (flannel's subnet.env format)
    #[arg(long = "subnet-file", default_value = subnet_env::DEFAULT_PATH)]
    pub subnet_file: PathBuf,
}

pub fn run(g: &Global, cmd: NodeCommand) -> Result<i32> {
    match cmd {
        NodeCommand::Up { config, node: name } => {
            let peers = node::PeerList::load(&config)?;
            if node::up(&g.root, &peers, &name)? {
                eprintln!("node {name}: up ({:?})", peers.backend);
            } else {
                eprintln!("node {name}: already up with this peer list");
            }
            Ok(0)
        }
        NodeCommand::Down => {
            if !node::down(&g.root)? {
                eprintln!("node: not up");
            }
            Ok(0)
        }
        NodeCommand::Show => {
            let v = node::show(&g.root)?;
            let text = serde_json::to_string_pretty(&v)
                .map_err(|e| Error::other(format!("encode: {e}")))?;
            crate::cli::print_out(&format!("{text}\n"))?;
            Ok(0)
        }
        NodeCommand::Join(a) => join(g, a),
        NodeCommand::Leave => leave(g),
    }
}

/// `podrun-node`'s command line: the global flags it needs and `node join`'s.
#[derive(clap::Parser, Debug)]
#[command(
    name = "podrun-node",
    about = "podrun's node agent (started by `podrun node join`)"
)]
pub struct AgentCli {
    #[arg(long, default_value = crate::cli::DEFAULT_ROOT)]
    pub root: PathBuf,
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[arg(long)]
    pub debug: bool,
    #[command(flatten)]
    pub join: JoinArgs,
}

/// `podrun-node`'s main: runs the agent; the exit code.
pub fn agent_main() -> i32 {
    let cli = <AgentCli as clap::Parser>::parse();
    if let Err(e) = crate::logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("podrun-node: cannot open log file: {e}");
        return 1;
    }
    let a = cli.join;
    let o = agent::JoinOptions {
        endpoints: a.etcd_endpoints,
        prefix: a.prefix,
        public_ip: a.public_ip,
        iface: a.iface,
        lease_ttl: a.lease_ttl,
        subnet_file: a.subnet_file,
        state_dir: agent::state_dir(&cli.root),
    };
    match agent::join(&o) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("podrun node join: {e}");
            1
        }
    }
}

/// The agent is its own executable, `podrun-node`, next to podrun: its etcd client (gRPC:
/// tonic, hyper, prost) would add 1.1 MB to podrun, and podrun's RSS at every `run` follows
/// its size (3004 -> 3316 KiB measured). `node join` execs it with the same arguments.
fn join(g: &Global, a: JoinArgs) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Error::io("find own executable", "", e))?;
    let bin = exe
        .parent()
        .unwrap_or(std::path::Path::new("/"))
        .join("podrun-node");
    if !bin.exists() {
        return Err(Error::Usage(format!(
            "node join needs the node agent executable {} (built with podrun as podrun-node; install it next to podrun)",
            bin.display()
        )));
    }
    let mut cmd = std::process::Command::new(&bin);
    cmd.arg("--root").arg(&g.root);
    if let Some(log) = &g.log {
        cmd.arg("--log").arg(log);
    }
    if g.log_format == LogFormat::Json {
        cmd.arg("--log-format=json");
    }
    if g.debug {
        cmd.arg("--debug");
    }
    cmd.arg("--etcd-endpoints")
        .arg(a.etcd_endpoints.join(","))
        .arg("--prefix")
        .arg(&a.prefix)
        .arg("--lease-ttl")
        .arg(a.lease_ttl.to_string())
        .arg("--subnet-file")
        .arg(&a.subnet_file);
    if let Some(ip) = a.public_ip {
        cmd.arg("--public-ip").arg(ip.to_string());
    }
    if let Some(i) = &a.iface {
        cmd.arg("--iface").arg(i);
    }
    let e = cmd.exec();
    Err(Error::io("exec", bin, e))
}

/// SIGTERM to the agent of this root, then waits (bounded) until it has left.
fn leave(g: &Global) -> Result<i32> {
    let dir = agent::state_dir(&g.root);
    let path = agent::pid_path(&dir);
    let pid = match std::fs::read_to_string(&path) {
        Ok(t) => t
            .trim()
            .parse::<i32>()
            .map_err(|_| Error::other(format!("{}: not a pid", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("node: no agent running");
            return Ok(0);
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    // a running agent holds agent.lock: when it can be taken, the pid file is stale (the
    // agent was killed) and its pid may be another process's by now
    let lock_path = dir.join("agent.lock");
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&lock_path) {
        if nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok() {
            eprintln!("node: no agent running (stale pid file)");
            let _ = std::fs::remove_file(&path);
            return Ok(0);
        }
    }
    if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_err() {
        eprintln!("node: no agent running (stale pid file)");
        let _ = std::fs::remove_file(&path);
        return Ok(0);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while path.exists() {
        if std::time::Instant::now() > deadline {
            return Err(Error::other(format!(
                "the node agent (pid {pid}) did not leave within 15 s"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(0)
}
