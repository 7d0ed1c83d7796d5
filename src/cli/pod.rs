//! `podrun pod create|list|state|delete`.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::cli::Global;
use crate::net::{Ipv4Cidr, NetConfig};
use crate::pod::{self, CreateOptions, PodState};
use crate::{Error, Result};

#[derive(clap::Subcommand, Debug)]
pub enum PodCommand {
    /// Start a pause process owning new net/ipc/uts namespaces, and give it an eth0
    Create(CreateArgs),
    /// List pods
    List(ListArgs),
    /// Print the state of a pod as JSON
    State(NameArgs),
    /// Stop a pod's pause and remove its network, namespaces, cgroup and state
    Delete(DeleteArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    pub name: String,
    /// The node's pod subnet (the bridge holds its first address as the gateway); default:
    /// the node's lease from --subnet-file when that exists (`node join`), else 10.244.1.0/24
    #[arg(long)]
    pub subnet: Option<String>,
    /// The node agent's subnet file (flannel's subnet.env), read when --subnet is not given
    #[arg(long = "subnet-file", default_value = crate::net::subnet_env::DEFAULT_PATH)]
    pub subnet_file: PathBuf,
    /// The node bridge (created if missing; removed with the last pod if podrun made it)
    #[arg(long, default_value = "podrun0")]
    pub bridge: String,
    /// A fixed address for the pod (must be free and inside the subnet)
    #[arg(long)]
    pub ip: Option<Ipv4Addr>,
    /// Also give the pod a PID namespace whose init is the pause
    #[arg(long = "share-pid")]
    pub share_pid: bool,
    /// No network: the pod's netns has only `lo`
    #[arg(long = "no-network")]
    pub no_network: bool,
    /// The pod's hostname (default: the pod name)
    #[arg(long)]
    pub hostname: Option<String>,
    /// MTU of the bridge and the pod's interface (default: the subnet file's when the subnet
    /// comes from it, else 1500)
    #[arg(long)]
    pub mtu: Option<u32>,
    /// IPAM store (host-local layout)
    #[arg(long = "store-dir", default_value = "/var/lib/podrun/networks")]
    pub store_dir: PathBuf,
    /// The pause's cgroup: slice:prefix:name with --systemd-cgroup (default
    /// system.slice:podrun-pod:<name>-<hash>), else a cgroup path
    #[arg(long = "cgroups-path")]
    pub cgroups_path: Option<String>,
    /// Join this existing network namespace (e.g. /var/run/netns/NAME) instead of creating
    /// one; the pod gets no podrun network, and `pod delete` leaves the namespace alone
    #[arg(long, conflicts_with_all = ["subnet", "ip"])]
    pub netns: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[arg(long, short = 'f', value_parser = ["table", "json"], default_value = "table")]
    pub format: String,
    /// Print only the names
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct NameArgs {
    pub name: String,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// Also delete the pod's containers
    #[arg(long, short = 'f')]
    pub force: bool,
    pub name: String,
}

pub fn run(g: &Global, c: PodCommand) -> Result<i32> {
    match c {
        PodCommand::Create(a) => create(g, a),
        PodCommand::List(a) => list(g, a),
        PodCommand::State(a) => state(g, a),
        PodCommand::Delete(a) => {
            pod::delete(
                &g.root,
                &a.name,
                a.force,
                &crate::container::delete_pod_member,
            )?;
            Ok(0)
        }
    }
}

fn create(g: &Global, a: CreateArgs) -> Result<i32> {
    let network = if a.no_network || a.netns.is_some() {
        None
    } else {
        Some(net_config(&a)?)
    };
    let opts = CreateOptions {
        name: a.name,
        hostname: a.hostname,
        share_pid: a.share_pid,
        pause_pid_ns: false,
        pause_argv0: None,
        network,
        fixed_ip: a.ip,
        systemd_cgroup: g.systemd_cgroup,
        cgroups_path: a.cgroups_path,
        netns: a.netns,
    };
    pod::create(&g.root, &opts)?;
    Ok(0)
}

fn net_config(a: &CreateArgs) -> Result<NetConfig> {
    let (subnet, mtu) = match &a.subnet {
        Some(s) => (
            Ipv4Cidr::parse_subnet(s).map_err(|e| Error::Usage(format!("--subnet: {e}")))?,
            a.mtu.unwrap_or(1500),
        ),
        None => match crate::net::subnet_env::SubnetEnv::load(&a.subnet_file)? {
            // the node's lease: its /24 and the backend's MTU (vxlan: uplink - 50)
            Some(env) => (env.subnet, a.mtu.unwrap_or(env.mtu)),
            None => (
                Ipv4Cidr::parse_subnet("10.244.1.0/24")?,
                a.mtu.unwrap_or(1500),
            ),
        },
    };
    let defaults = NetConfig::default();
    let network = if a.bridge == defaults.bridge {
        defaults.network.clone()
    } else {
        a.bridge.clone()
    };
    let cfg = NetConfig {
        network,
        bridge: a.bridge.clone(),
        subnet,
        gateway: subnet.first_host(),
        mtu,
        store_dir: a.store_dir.clone(),
        ifname: defaults.ifname.clone(),
        ..defaults
    };
    cfg.validate()?;
    Ok(cfg)
}

fn list(g: &Global, a: ListArgs) -> Result<i32> {
    let pods = pod::list(&g.root)?;
    let text = if a.quiet {
        pods.iter().map(|p| format!("{}\n", p.name)).collect()
    } else if a.format == "json" {
        format!("{}\n", to_json(&pods)?)
    } else {
        table(&pods)
    };
    crate::cli::print_out(&text)?;
    Ok(0)
}

fn state(g: &Global, a: NameArgs) -> Result<i32> {
    let st = pod::load(&g.root, &a.name)?;
    crate::cli::print_out(&format!("{}\n", to_json(&st)?))?;
    Ok(0)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::other(format!("encode JSON: {e}")))
}

fn table(pods: &[PodState]) -> String {
    let mut rows = vec![["NAME", "STATUS", "PID", "IP", "CONTAINERS", "CREATED"]
        .map(String::from)
        .to_vec()];
    for p in pods {
        rows.push(vec![
            p.name.clone(),
            p.status.clone(),
            p.pid.to_string(),
            p.ip.clone().unwrap_or_else(|| "-".into()),
            p.containers.len().to_string(),
            p.created.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}
