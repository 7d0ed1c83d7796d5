//! The node agent (`podrun node join`): flannel's job on etcd v3. It leases this node a pod
//! subnet of the cluster network (an etcd transaction, see [`alloc`]), keeps the lease alive,
//! writes the node's subnet and MTU to the subnet file ([`crate::net::subnet_env`]) for
//! `pod create` and `podrun-cni`, and watches the other nodes' leases, adding and removing
//! their host-gw routes or VXLAN routes + neighbour + FDB entries ([`sync`], programmed with
//! net/node.rs's steps). After an etcd outage it reconnects, lists everything again, watches
//! from that revision and converges. SIGTERM/SIGINT (`podrun node leave`) revokes the lease
//! and removes what the agent made.
//!
//! What it made is recorded in `<state dir>/agent.json` (the peers it programmed, its vxlan
//! device), so an agent killed with SIGKILL and started again adopts its own routes and
//! removes only those; its pid is in `<state dir>/agent.pid` under `<state dir>/agent.lock`.

pub mod alloc;
pub mod etcd;
pub mod model;
pub mod routes;
pub mod sync;

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Client, EventType, WatchOptions};
use futures::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};
use serde::{Deserialize, Serialize};

use self::model::{config_key, parse_lease_key, subnets_prefix, LeaseAttrs, Network, Peer};
use self::sync::{reconcile, Peers};
use super::node::{self, Backend};
use super::subnet_env::SubnetEnv;
use super::{connect, get_link, ipv4_addresses, nl_err, Ipv4Cidr};
use crate::error::IoContext;
use crate::{Error, Result};

/// `podrun node join`'s options.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    pub endpoints: Vec<String>,
    pub prefix: String,
    pub public_ip: Option<Ipv4Addr>,
    pub iface: Option<String>,
    /// Seconds; the lease expires this long after the agent stops renewing it.
    pub lease_ttl: i64,
    pub subnet_file: PathBuf,
    /// `<root>/node-agent`
    pub state_dir: PathBuf,
}

pub fn state_dir(root: &Path) -> PathBuf {
    root.join("node-agent")
}

pub fn pid_path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent.pid")
}

/// What the agent made (`agent.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    subnet: Option<Ipv4Cidr>,
    installed: Vec<Peer>,
    vxlan_device: Option<String>,
}

impl Record {
    fn path(dir: &Path) -> PathBuf {
        dir.join("agent.json")
    }

    fn load(dir: &Path) -> Result<Record> {
        let path = Record::path(dir);
        match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| Error::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| Error::other(format!("encode: {e}")))?;
        crate::sys::write_atomic(&Record::path(dir), &json)
    }
}

/// Runs the agent until SIGTERM/SIGINT (then leaves) or a fatal error.
pub fn join(o: &JoinOptions) -> Result<()> {
    std::fs::create_dir_all(&o.state_dir).io("mkdir", &o.state_dir)?;
    let lock_path = o.state_dir.join("agent.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&lock_path)
        .io("open", &lock_path)?;
    let _lock =
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
            let pid = std::fs::read_to_string(pid_path(&o.state_dir)).unwrap_or_default();
            Error::BadState(format!(
                "a node agent is already running here (pid {}); run `podrun node leave` first",
                pid.trim()
            ))
        })?;
    if node::load_state(o.state_dir.parent().unwrap_or(Path::new("/")))?.is_some() {
        return Err(Error::BadState(
            "this node is up with a static peer list (node up): run node down first".into(),
        ));
    }
    crate::sys::write_atomic(
        &pid_path(&o.state_dir),
        std::process::id().to_string().as_bytes(),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("create tokio runtime", "", e))?;
    let result = rt.block_on(agent(o));
    let _ = std::fs::remove_file(pid_path(&o.state_dir));
    result
}

/// The agent's state across reconnects.
struct Agent<'a> {
    o: &'a JoinOptions,
    h: Handle,
    net: Network,
    public_ip: Ipv4Addr,
    attrs: LeaseAttrs,
    subnet: Ipv4Cidr,
    lease: i64,
    prog: routes::Netlink,
    rec: Record,
    desired: Peers,
    /// Reconcile steps that failed and wait for a retry.
    failed: usize,
}

async fn agent(o: &JoinOptions) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::io("signal", "", e))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::io("signal", "", e))?;
    let stop = async {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    tokio::pin!(stop);
    let mut a = tokio::select! {
        a = setup(o) => a?,
        _ = &mut stop => return Ok(()),
    };
    eprintln!(
        "node agent: joined: subnet {} ({}, public IP {}), written to {}",
        a.subnet,
        model::backend_name(a.net.backend),
        a.public_ip,
        o.subnet_file.display()
    );
    let err = tokio::select! {
        e = a.run() => Some(e),
        _ = &mut stop => None,
    };
    a.leave().await;
    match err {
        Some(e) => Err(e),
        None => {
            eprintln!("node agent: left (lease {} released)", a.subnet);
            Ok(())
        }
    }
}

/// Waits (with backoff) until etcd answers.
async fn connect_etcd(o: &JoinOptions) -> Client {
    let mut delay = Duration::from_millis(100);
    let mut first = true;
    loop {
        let e = match etcd::connect(&o.endpoints).await {
            Ok(mut c) => match c.get(config_key(&o.prefix), None).await {
                Ok(_) => return c,
                Err(e) => etcd::err("get the network config", e),
            },
            Err(e) => e,
        };
        // one line per outage; the retries only with --debug
        if first {
            eprintln!("node agent: {e}; retrying");
            first = false;
        } else {
            tracing::debug!("node agent: {e}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

async fn read_config(c: &mut Client, prefix: &str) -> Result<Network> {
    let key = config_key(prefix);
    let r = c
        .get(key.clone(), None)
        .await
        .map_err(|e| etcd::err(&format!("get {key}"), e))?;
    let kv = r.kvs().first().ok_or_else(|| {
        Error::Usage(format!(
            "no network config at {key} in etcd (put one, e.g. etcdctl put {key} '{{\"Network\": \"10.244.0.0/16\", \"Backend\": {{\"Type\": \"vxlan\"}}}}')"
        ))
    })?;
    Network::parse(&String::from_utf8_lossy(kv.value()))
}

async fn setup(o: &JoinOptions) -> Result<Agent<'_>> {
    let h = connect()?;
    let (public_ip, uplink, uplink_mtu) = public_address(&h, o).await?;
    let mut rec = Record::load(&o.state_dir)?;
    let mut client = connect_etcd(o).await;
    let net = read_config(&mut client, &o.prefix).await?;
    // the vxlan device: adopted when this agent made it before, else created
    let dev_name = format!("podrun.{}", net.vni);
    let (vxlan, mac, mtu) = match net.backend {
        Backend::HostGw => {
            if let Some(d) = rec.vxlan_device.take() {
                super::delete_link_by_name(&h, &d).await?;
                rec.installed.clear();
            }
            (None, None, uplink_mtu)
        }
        Backend::Vxlan => {
            let existing = get_link(&h, &dev_name).await?;
            let (index, mac) = match existing {
                Some(l) if rec.vxlan_device.as_deref() == Some(dev_name.as_str()) => {
                    let mac = l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::Address(b) if b.len() == 6 => {
                            let mut m = [0u8; 6];
                            m.copy_from_slice(b);
                            Some(m)
                        }
                        _ => None,
                    });
                    (l.header.index, mac.unwrap_or_else(|| vtep_mac(public_ip)))
                }
                Some(_) => {
                    return Err(Error::BadState(format!(
                        "device {dev_name} exists already and this agent did not make it (a static node up? run node down)"
                    )))
                }
                None => {
                    rec.installed.clear();
                    rec.vxlan_device = Some(dev_name.clone());
                    rec.save(&o.state_dir)?;
                    let dev = node::VxlanDevice {
                        name: &dev_name,
                        vni: net.vni,
                        port: net.port,
                        uplink,
                        local: public_ip,
                        mtu: uplink_mtu.saturating_sub(50),
                        mac: vtep_mac(public_ip),
                    };
                    (node::create_vxlan_device(&h, &dev).await?, dev.mac)
                }
            };
            (Some(index), Some(mac), uplink_mtu.saturating_sub(50))
        }
    };
    let attrs = LeaseAttrs::new(public_ip, net.backend, mac);
    let previous = SubnetEnv::load(&o.subnet_file)
        .ok()
        .flatten()
        .map(|e| e.subnet)
        .or(rec.subnet);
    let lease = grant(&mut client, o.lease_ttl).await?;
    let subnet = alloc::acquire(
        &mut etcd::EtcdStore {
            client: &mut client,
            prefix: &o.prefix,
            lease,
        },
        &net,
        &attrs,
        previous,
    )
    .await?;
    rec.subnet = Some(subnet);
    rec.save(&o.state_dir)?;
    if let Some(index) = vxlan {
        set_vtep_address(&h, index, subnet).await?;
    }
    SubnetEnv {
        network: net.network,
        subnet,
        mtu,
    }
    .save(&o.subnet_file)?;
    drop(client);
    let installed = rec
        .installed
        .iter()
        .map(|p| (p.subnet, *p))
        .collect::<Peers>();
    Ok(Agent {
        o,
        prog: routes::Netlink {
            h: h.clone(),
            vxlan,
        },
        h,
        net,
        public_ip,
        attrs,
        subnet,
        lease,
        desired: installed.clone(),
        rec,
        failed: 0,
    })
}

/// The node's VTEP MAC: locally administered, derived from its address (stable across
/// restarts, so the peers' FDB entries stay right).
fn vtep_mac(ip: Ipv4Addr) -> [u8; 6] {
    node::derived_mac(&ip.to_string())
}

async fn grant(c: &mut Client, ttl: i64) -> Result<i64> {
    Ok(c.lease_grant(ttl, None)
        .await
        .map_err(|e| etcd::err("grant a lease", e))?
        .id())
}

/// The device holds exactly `<subnet network>/32` (flannel's layout).
async fn set_vtep_address(h: &Handle, index: u32, subnet: Ipv4Cidr) -> Result<()> {
    let want = Ipv4Cidr {
        addr: subnet.network(),
        prefix: 32,
    };
    let mut have = false;
    for a in ipv4_addresses(h, index).await? {
        if a == want {
            have = true;
            continue;
        }
        let mut s = h.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = s
            .try_next()
            .await
            .map_err(|e| nl_err("list addresses", e))?
        {
            if msg.header.prefix_len == a.prefix
                && msg.attributes.iter().any(|x| {
                    matches!(x, netlink_packet_route::address::AddressAttribute::Address(IpAddr::V4(ip)) if *ip == a.addr)
                })
            {
                h.address()
                    .del(msg)
                    .execute()
                    .await
                    .map_err(|e| nl_err(format!("remove old address {a}"), e))?;
                break;
            }
        }
    }
    if !have {
        h.address()
            .add(index, IpAddr::V4(want.addr), 32)
            .execute()
            .await
            .map_err(|e| nl_err(format!("add {want} to the vxlan device"), e))?;
    }
    Ok(())
}

/// The node's address on the underlay, the index of the link holding it and its MTU: from
/// `--public-ip`, `--iface`, or the link of the default route (flannel's rule).
async fn public_address(h: &Handle, o: &JoinOptions) -> Result<(Ipv4Addr, u32, u32)> {
    let link_mtu = |l: &netlink_packet_route::link::LinkMessage| {
        l.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(1500)
    };
    if let Some(ip) = o.public_ip {
        let (index, mtu) = node::link_holding(h, ip).await?;
        return Ok((ip, index, mtu));
    }
    let index = match &o.iface {
        Some(name) => {
            get_link(h, name)
                .await?
                .ok_or_else(|| Error::Usage(format!("--iface {name}: no such interface")))?
                .header
                .index
        }
        None => default_route_link(h).await?.ok_or_else(|| {
            Error::Usage(
                "no --public-ip or --iface given, and no default route to find this node's interface by".into(),
            )
        })?,
    };
    let addr = ipv4_addresses(h, index)
        .await?
        .first()
        .map(|c| c.addr)
        .ok_or_else(|| Error::Usage(format!("interface {index} has no IPv4 address")))?;
    let mut links = h.link().get().match_index(index).execute();
    let link = links
        .try_next()
        .await
        .map_err(|e| nl_err("get uplink", e))?
        .ok_or_else(|| Error::other("uplink vanished"))?;
    Ok((addr, index, link_mtu(&link)))
}

async fn default_route_link(h: &Handle) -> Result<Option<u32>> {
    let mut s = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(r) = s.try_next().await.map_err(|e| nl_err("list routes", e))? {
        if r.header.destination_prefix_length != 0 {
            continue;
        }
        let dst = r.attributes.iter().any(|a| {
            matches!(a, RouteAttribute::Destination(RouteAddress::Inet(d)) if !d.is_unspecified())
        });
        if dst {
            continue;
        }
        if let Some(oif) = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        }) {
            return Ok(Some(oif));
        }
    }
    Ok(None)
}

impl Agent<'_> {
    /// Sessions with etcd until a fatal error; each ends when etcd goes away.
    async fn run(&mut self) -> Error {
        loop {
            let mut client = connect_etcd(self.o).await;
            match self.session(&mut client).await {
                Err(e @ (Error::BadState(_) | Error::Usage(_))) => return e,
                Err(e) => eprintln!("node agent: {e}; reconnecting"),
                Ok(()) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes sure our lease and key exist (after an outage the lease may have expired).
    async fn renew(
        &mut self,
        client: &mut Client,
    ) -> Result<(etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)> {
        match client.lease_keep_alive(self.lease).await {
            Ok(k) => return Ok(k),
            Err(etcd_client::Error::LeaseKeepAliveError(_)) => {}
            Err(e) => return Err(etcd::err("keep the lease alive", e)),
        }
        // expired while we were cut off: a new lease, and our subnet again if still free
        tracing::warn!("node agent: lease expired; leasing {} again", self.subnet);
        self.lease = grant(client, self.o.lease_ttl).await?;
        let got = alloc::acquire(
            &mut etcd::EtcdStore {
                client,
                prefix: &self.o.prefix,
                lease: self.lease,
            },
            &self.net,
            &self.attrs,
            Some(self.subnet),
        )
        .await?;
        if got != self.subnet {
            return Err(Error::BadState(format!(
                "subnet {} was leased to another node while this one was cut off from etcd; restart the agent",
                self.subnet
            )));
        }
        client
            .lease_keep_alive(self.lease)
            .await
            .map_err(|e| etcd::err("keep the lease alive", e))
    }

    async fn session(&mut self, client: &mut Client) -> Result<()> {
        let (mut keeper, mut kstream) = self.renew(client).await?;
        let (leases, rev) = etcd::list(client, &self.o.prefix).await?;
        self.desired = leases
            .iter()
            .filter_map(|(s, v)| self.peer(*s, v))
            .map(|p| (p.subnet, p))
            .collect();
        self.sync().await?;
        let mut watch = client
            .watch(
                subnets_prefix(&self.o.prefix),
                Some(
                    WatchOptions::new()
                        .with_prefix()
                        .with_start_revision(rev + 1),
                ),
            )
            .await
            .map_err(|e| etcd::err("watch", e))?;
        let period = Duration::from_millis((self.o.lease_ttl.max(1) as u64 * 1000 / 3).max(200));
        let mut keep = tokio::time::interval(period);
        let mut retry = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                msg = watch.message() => {
                    let resp = msg.map_err(|e| etcd::err("watch", e))?
                        .ok_or_else(|| Error::other("etcd: the watch ended"))?;
                    if resp.canceled() {
                        return Err(Error::other(format!("etcd: watch cancelled ({})", resp.cancel_reason())));
                    }
                    for ev in resp.events() {
                        let Some(kv) = ev.kv() else { continue };
                        let Some(s) = parse_lease_key(&self.o.prefix, kv.key()) else { continue };
                        match ev.event_type() {
                            EventType::Put => match self.peer(s, kv.value()) {
                                Some(p) => { self.desired.insert(s, p); }
                                None => { self.desired.remove(&s); }
                            },
                            EventType::Delete => { self.desired.remove(&s); }
                        }
                    }
                    self.sync().await?;
                }
                _ = keep.tick() => {
                    keeper.keep_alive().await.map_err(|e| etcd::err("keep the lease alive", e))?;
                }
                ka = kstream.message() => {
                    let r = ka.map_err(|e| etcd::err("keep the lease alive", e))?
                        .ok_or_else(|| Error::other("etcd: the keep-alive stream ended"))?;
                    if r.ttl() <= 0 {
                        return Err(Error::other("etcd: our lease expired"));
                    }
                }
                _ = retry.tick(), if self.failed > 0 => {
                    self.sync().await?;
                }
            }
        }
    }

    /// The peer a lease describes; None for our own subnet and for unusable leases.
    fn peer(&self, s: Ipv4Cidr, value: &[u8]) -> Option<Peer> {
        if s == self.subnet {
            return None;
        }
        match Peer::from_lease(s, value, self.net.backend) {
            Ok(p) if p.public_ip != self.public_ip => Some(p),
            Ok(_) => None,
            Err(why) => {
                tracing::warn!("node agent: ignoring {why}");
                None
            }
        }
    }

    async fn sync(&mut self) -> Result<()> {
        let mut installed: Peers = self.rec.installed.iter().map(|p| (p.subnet, *p)).collect();
        self.failed = reconcile(&mut self.prog, &mut installed, &self.desired).await;
        let now: Vec<Peer> = installed.into_values().collect();
        if now != self.rec.installed {
            self.rec.installed = now;
            self.rec.save(&self.o.state_dir)?;
        }
        Ok(())
    }

    /// Releases the lease (the others remove our routes) and removes what this agent made.
    async fn leave(&mut self) {
        let revoke = async {
            let mut c = etcd::connect(&self.o.endpoints).await?;
            c.lease_revoke(self.lease)
                .await
                .map_err(|e| etcd::err("revoke the lease", e))
        };
        match tokio::time::timeout(Duration::from_secs(3), revoke).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("node agent: {e} (it expires after its TTL)"),
            Err(_) => eprintln!("node agent: etcd did not answer; the lease expires after its TTL"),
        }
        self.desired.clear();
        let _ = self.sync().await;
        if let Some(d) = self.rec.vxlan_device.take() {
            if let Err(e) = super::delete_link_by_name(&self.h, &d).await {
                eprintln!("node agent: {e}");
            }
        }
        let _ = std::fs::remove_file(Record::path(&self.o.state_dir));
    }
}
