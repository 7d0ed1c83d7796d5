//! Pod networking over netlink: the node bridge, one veth pair per pod, and IPAM.
//!
//! Everything talks netlink in-process through `rtnetlink` (no `ip` processes). Each public
//! call builds a tokio **current-thread** runtime, runs its requests on the calling thread and
//! drops the runtime before returning, so no thread outlives the call (podrun forks later).
//!
//! What [`attach`] makes, in order (all rolled back if a later step fails):
//! 1. under the IPAM store's `flock`: the bridge `cfg.bridge` (created if missing, MTU
//!    `cfg.mtu`, up, holding `cfg.gateway/prefix`; when podrun creates it a `bridge_created`
//!    marker goes into the store dir so the last [`detach`] may remove it), then the veth pair
//!    in **one** RTM_NEWLINK: the host end `veth<hash8(owner id, ifname, network)>` on the bridge and
//!    up, the peer created directly inside the pod netns (by fd) as `cfg.ifname` (down); then the
//!    address from IPAM (fixed or round-robin, see [`ipam`]). The veth is made before the
//!    address (the CNI bridge plugin's order), so a full subnet fails after the veth exists.
//! 2. unlocked, through a netlink socket opened inside the pod netns (setns of the calling
//!    thread there and back): the address on `ifname`, `ifname` and `lo` up, default route
//!    via the gateway.
//! 3. when the bridge holds the gateway: `net.ipv4.ip_forward = 1` on the host (only written
//!    when it is not 1 already), as the CNI bridge plugin does for `isGateway`.
//!
//! [`detach`] deletes the host veth (the kernel deletes its peer), releases the owner's
//! addresses and, when asked and no address of the network is left, removes the bridge if
//! podrun created it. Everything already gone is fine. [`check`] verifies what `attach` made
//! (for CNI CHECK).

pub mod agent;
pub mod cidr;
pub mod cni;
pub mod ipam;
pub mod node;
pub mod subnet_env;

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteProtocol};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use serde::{Deserialize, Serialize};

pub use cidr::Ipv4Cidr;
use ipam::{Range, Store, StoreLock};

use crate::error::IoContext;
use crate::{Error, Result};

/// The file in the store dir that says podrun created the bridge (content: its name).
const BRIDGE_MARKER: &str = "bridge_created";

/// How a pod (or CNI container) is connected to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Name of the IPAM store under `store_dir` (`podrun`).
    pub network: String,
    /// The node bridge (`podrun0`).
    pub bridge: String,
    /// The node's pod subnet (`10.244.1.0/24`).
    pub subnet: Ipv4Cidr,
    /// The bridge's address and the pods' default gateway (first host of the subnet).
    pub gateway: Ipv4Addr,
    /// MTU of the bridge and both veth ends (1500).
    pub mtu: u32,
    /// IPAM store root (`/var/lib/podrun/networks`).
    pub store_dir: PathBuf,
    /// The interface name inside the pod (`eth0`).
    pub ifname: String,
    /// The bridge holds the gateway address (CNI `isGateway`; pods: always).
    pub gateway_on_bridge: bool,
    /// A default route via the gateway inside the pod (CNI `isDefaultGateway` or an ipam
    /// route to 0.0.0.0/0; pods: always).
    pub default_route: bool,
    /// First and last address handed out (CNI host-local `rangeStart`/`rangeEnd`); None: the
    /// whole subnet.
    pub range_start: Option<Ipv4Addr>,
    pub range_end: Option<Ipv4Addr>,
    /// More routes inside the pod (CNI ipam `routes` other than the default route, e.g.
    /// flannel's cluster network): destination via gateway, out of `ifname`.
    pub routes: Vec<(Ipv4Cidr, Ipv4Addr)>,
    /// Bring `lo` up inside the pod (pods: always; CNI: no, `lo` is the loopback plugin's, and
    /// the reference bridge plugin leaves it alone too).
    pub loopback_up: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        let subnet = Ipv4Cidr {
            addr: Ipv4Addr::new(10, 244, 1, 0),
            prefix: 24,
        };
        NetConfig {
            network: "podrun".into(),
            bridge: "podrun0".into(),
            subnet,
            gateway: subnet.first_host(),
            mtu: 1500,
            store_dir: PathBuf::from("/var/lib/podrun/networks"),
            ifname: "eth0".into(),
            gateway_on_bridge: true,
            default_route: true,
            range_start: None,
            range_end: None,
            routes: Vec::new(),
            loopback_up: true,
        }
    }
}

impl NetConfig {
    /// The IPAM range (checks the subnet is large enough and the gateway inside it).
    pub fn range(&self) -> Result<Range> {
        let mut r = Range::new(self.subnet, self.gateway)?;
        for (what, ip) in [
            ("rangeStart", self.range_start),
            ("rangeEnd", self.range_end),
        ] {
            if let Some(ip) = ip {
                if !self.subnet.contains(ip)
                    || ip == self.subnet.network()
                    || ip == self.subnet.broadcast()
                {
                    return Err(Error::Usage(format!(
                        "{what} {ip} is not a host address of subnet {}",
                        self.subnet
                    )));
                }
            }
        }
        r.start = self.range_start.unwrap_or(r.start);
        r.end = self.range_end.unwrap_or(r.end);
        if u32::from(r.start) > u32::from(r.end) {
            return Err(Error::Usage(format!(
                "rangeStart {} is after rangeEnd {}",
                r.start, r.end
            )));
        }
        Ok(r)
    }

    pub fn store(&self) -> Result<Store> {
        Store::open(&self.store_dir, &self.network)
    }

    /// Checks names and numbers before anything is made.
    pub fn validate(&self) -> Result<()> {
        check_ifname("bridge", &self.bridge)?;
        check_ifname("interface", &self.ifname)?;
        if !(68..=65535).contains(&self.mtu) {
            return Err(Error::Usage(format!(
                "mtu {} is out of range (68..65535)",
                self.mtu
            )));
        }
        self.range().map(|_| ())
    }
}

/// What [`attach`] made; stored in the pod state and handed back to [`detach`]/[`check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The pod's address with the subnet's prefix length.
    pub ip: Ipv4Cidr,
    pub gateway: Ipv4Addr,
    /// Host end of the veth pair (on the bridge).
    pub host_veth: String,
    /// MAC address of the pod's interface.
    pub mac: String,
    /// True when this attach created the bridge.
    pub bridge_created: bool,
    pub bridge: String,
    pub ifname: String,
    pub network: String,
    pub mtu: u32,
}

/// Connects the netns `netns` to the node bridge; see the module docs for every step.
pub fn attach(
    cfg: &NetConfig,
    netns: BorrowedFd,
    owner_id: &str,
    fixed_ip: Option<Ipv4Addr>,
) -> Result<Attachment> {
    cfg.validate()?;
    let range = cfg.range()?;
    if let Some(ip) = fixed_ip {
        // refuse impossible fixed addresses before anything is made
        if !range.subnet.contains(ip)
            || ip == range.gateway
            || ip == range.subnet.network()
            || ip == range.subnet.broadcast()
        {
            return Err(Error::Usage(format!(
                "requested IP address {ip} is not usable in subnet {} (outside it, or its network, broadcast or gateway address)",
                range.subnet
            )));
        }
    }
    let store = cfg.store()?;
    let host_veth = veth_name(owner_id, &cfg.ifname, &cfg.network);
    run(async {
        let h = connect()?;
        let lock = store.lock()?;
        if let Err(e) = claim_subnet(&h, cfg, &store).await {
            let _ = store.remove_if_unused(&lock);
            return Err(e);
        }
        let bridge = ensure_bridge(&h, cfg, &store).await?;
        let mut made = Made {
            host_veth: None,
            ip: None,
            bridge_created: bridge.created,
        };
        let result = attach_locked(
            &h,
            cfg,
            &store,
            &lock,
            &range,
            netns,
            owner_id,
            &host_veth,
            bridge.index,
            fixed_ip,
            &mut made,
        )
        .await;
        let ip = match result {
            Ok(ip) => ip,
            Err(e) => {
                rollback(&h, cfg, &store, &lock, owner_id, &made).await;
                return Err(e);
            }
        };
        drop(lock);
        match configure_pod_side(cfg, netns, ip).await {
            Ok(mac) => Ok(Attachment {
                ip: cfg.subnet.with_addr(ip),
                gateway: cfg.gateway,
                host_veth: host_veth.clone(),
                mac,
                bridge_created: bridge.created,
                bridge: cfg.bridge.clone(),
                ifname: cfg.ifname.clone(),
                network: cfg.network.clone(),
                mtu: cfg.mtu,
            }),
            Err(e) => {
                let lock = store.lock()?;
                rollback(&h, cfg, &store, &lock, owner_id, &made).await;
                Err(e)
            }
        }
    })?
    .and_then(|att| {
        // forwarding only for a bridge that is the pods' gateway, as the CNI bridge plugin
        if cfg.gateway_on_bridge {
            enable_ip_forward()?;
        }
        Ok(att)
    })
}

/// Removes what [`attach`] made; tolerant of any of it being gone already.
pub fn detach(
    cfg: &NetConfig,
    att: &Attachment,
    owner_id: &str,
    remove_bridge_if_unused: bool,
) -> Result<()> {
    let store = cfg.store()?;
    run(async {
        let h = connect()?;
        delete_link_by_name(&h, &att.host_veth).await?;
        let lock = store.lock()?;
        store.release_ip(&lock, att.ip.addr, owner_id)?;
        store.release_by_owner(&lock, owner_id, Some(&att.ifname))?;
        if remove_bridge_if_unused {
            remove_bridge_if_unused_locked(&h, cfg, &store, &lock).await?;
        }
        store.remove_if_unused(&lock)?;
        Ok(())
    })?
}

/// Undoes whatever an `attach` for `owner_id` made when its `Attachment` is not at hand (a
/// pod create killed halfway; a CNI DEL): the veth named after the owner, the owner's
/// addresses (only those on `ifname` when given) and, with `remove_unused`, the bridge and the
/// store if podrun made them and nothing else uses them. Whatever is gone already is fine.
pub fn detach_owner(
    cfg: &NetConfig,
    owner_id: &str,
    ifname: Option<&str>,
    remove_unused: bool,
) -> Result<()> {
    let store = cfg.store()?;
    run(async {
        let h = connect()?;
        delete_link_by_name(
            &h,
            &veth_name(owner_id, ifname.unwrap_or(&cfg.ifname), &cfg.network),
        )
        .await?;
        let lock = store.lock()?;
        store.release_by_owner(&lock, owner_id, ifname)?;
        if remove_unused {
            remove_bridge_if_unused_locked(&h, cfg, &store, &lock).await?;
            store.remove_if_unused(&lock)?;
        }
        Ok(())
    })?
}

/// The MAC addresses of links of the calling process's netns (None: no such link), asked over
/// netlink: sysfs shows the netns it was mounted in, which need not be ours (`nsenter --net`).
pub fn link_macs(names: &[&str]) -> Vec<Option<String>> {
    let found = run(async {
        let h = connect()?;
        let mut macs = Vec::with_capacity(names.len());
        for name in names {
            macs.push(get_link(&h, name).await?.as_ref().and_then(mac_of));
        }
        Ok::<_, Error>(macs)
    });
    match found {
        Ok(Ok(macs)) => macs,
        _ => vec![None; names.len()],
    }
}

/// Verifies an attachment: the host veth on the bridge, the pod interface with its address
/// and the default route via the gateway inside `netns`, and the IP still allocated.
pub fn check(cfg: &NetConfig, netns: BorrowedFd, att: &Attachment) -> Result<()> {
    let store = cfg.store()?;
    if store.owner_of(att.ip.addr).is_none() {
        return Err(Error::other(format!(
            "IP address {} is not allocated in network {}",
            att.ip.addr, cfg.network
        )));
    }
    run(async {
        let h = connect()?;
        let bridge = get_link(&h, &att.bridge)
            .await?
            .ok_or_else(|| Error::other(format!("bridge {} does not exist", att.bridge)))?;
        let veth = get_link(&h, &att.host_veth)
            .await?
            .ok_or_else(|| Error::other(format!("veth {} does not exist", att.host_veth)))?;
        if controller_of(&veth) != Some(bridge.header.index) {
            return Err(Error::other(format!(
                "veth {} is not on bridge {}",
                att.host_veth, att.bridge
            )));
        }
        let pod = connect_in(netns)?;
        let link = get_link(&pod, &att.ifname).await?.ok_or_else(|| {
            Error::other(format!(
                "interface {} does not exist in the pod netns",
                att.ifname
            ))
        })?;
        if !link.header.flags.contains(LinkFlags::Up) {
            return Err(Error::other(format!("interface {} is down", att.ifname)));
        }
        if mac_of(&link).as_deref() != Some(att.mac.as_str()) {
            return Err(Error::other(format!(
                "interface {} has MAC {:?}, expected {}",
                att.ifname,
                mac_of(&link),
                att.mac
            )));
        }
        let addrs = ipv4_addresses(&pod, link.header.index).await?;
        if !addrs.contains(&att.ip) {
            return Err(Error::other(format!(
                "interface {} lacks address {} (has {:?})",
                att.ifname, att.ip, addrs
            )));
        }
        if cfg.default_route
            && !has_route_via(
                &pod,
                Ipv4Cidr {
                    addr: Ipv4Addr::UNSPECIFIED,
                    prefix: 0,
                },
                att.gateway,
            )
            .await?
        {
            return Err(Error::other(format!(
                "no default route via {} in the pod netns",
                att.gateway
            )));
        }
        for (dst, gw) in &cfg.routes {
            if !has_route_via(&pod, *dst, *gw).await? {
                return Err(Error::other(format!(
                    "no route {dst} via {gw} in the pod netns"
                )));
            }
        }
        Ok(())
    })?
}

/// `veth` + 8 hex digits of a hash of the attachment (owner id, interface name inside the
/// netns, network name): stable, short enough for IFNAMSIZ, and different for a second
/// interface or a second network of the same container, so one attachment's ADD or DEL never
/// meets another's veth.
pub fn veth_name(owner_id: &str, ifname: &str, network: &str) -> String {
    // FNV-1a, 32 bits, over `owner\nifname\nnetwork` (none of them may hold a newline)
    let mut h: u32 = 0x811c_9dc5;
    for b in [owner_id, ifname, network].join("\n").bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("veth{h:08x}")
}

/// An interface name the kernel takes as it is (its `dev_valid_name`): 1-15 bytes, not `.` or
/// `..`, no `/`, `:` or whitespace; podrun also refuses `%`, which the kernel expands
/// (`sec%d` becomes `sec0`), and anything not printable ASCII.
pub fn check_ifname(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':' && b != b'%');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid {kind} name {name:?}: an interface name is 1-15 printable characters, not \".\" or \"..\", without '/', ':', '%' or whitespace"
        )))
    }
}

/// Refuses `cfg.subnet` when it overlaps a route of the host's main table that is not this
/// network's own bridge route (default routes aside: another network's bridge, a node route)
/// or another podrun network's subnet (recorded in the `subnet` file of each store under the
/// same store dir, while it has addresses allocated: a network on the same bridge); then
/// records this network's subnet. Called under the store lock.
async fn claim_subnet(h: &Handle, cfg: &NetConfig, store: &Store) -> Result<()> {
    let mine = cfg.subnet;
    let own_bridge = get_link(h, &cfg.bridge).await?.map(|l| l.header.index);
    let mut s = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(r) = s.try_next().await.map_err(|e| nl_err("list routes", e))? {
        if r.header.table != libc::RT_TABLE_MAIN || r.header.destination_prefix_length == 0 {
            continue;
        }
        let dst = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
            _ => None,
        });
        let Some(dst) = dst else { continue };
        let route = Ipv4Cidr {
            addr: dst,
            prefix: r.header.destination_prefix_length,
        };
        let oif = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        });
        if !mine.overlaps(&route) || (oif.is_some() && oif == own_bridge) {
            continue;
        }
        let dev = match oif {
            Some(i) => link_name(h, i)
                .await
                .unwrap_or_else(|| format!("index {i}")),
            None => "no device".into(),
        };
        return Err(Error::Usage(format!(
            "subnet {mine} overlaps the host route {route} (dev {dev}): pick a subnet no other network uses"
        )));
    }
    if let Ok(rd) = std::fs::read_dir(&cfg.store_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == cfg.network {
                continue;
            }
            let Some(other) = std::fs::read_to_string(e.path().join(ipam::SUBNET_FILE))
                .ok()
                .and_then(|s| s.trim().parse::<Ipv4Cidr>().ok())
            else {
                continue;
            };
            if mine.overlaps(&other) && ipam::has_allocations(&e.path()) {
                return Err(Error::Usage(format!(
                    "subnet {mine} overlaps subnet {other} of podrun network {name:?} (in {})",
                    cfg.store_dir.display()
                )));
            }
        }
    }
    crate::sys::write_atomic(
        &store.dir.join(ipam::SUBNET_FILE),
        mine.to_string().as_bytes(),
    )
}

/// The name of the link with index `index`.
async fn link_name(h: &Handle, index: u32) -> Option<String> {
    let mut req = h.link().get().match_index(index).execute();
    let link = req.try_next().await.ok()??;
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

/// What this attach made so far, for the rollback.
struct Made {
    host_veth: Option<String>,
    ip: Option<Ipv4Addr>,
    bridge_created: bool,
}

struct Bridge {
    index: u32,
    created: bool,
}

/// Under the store lock: the veth pair and the address.
#[allow(clippy::too_many_arguments)]
async fn attach_locked(
    h: &Handle,
    cfg: &NetConfig,
    store: &Store,
    lock: &StoreLock,
    range: &Range,
    netns: BorrowedFd<'_>,
    owner_id: &str,
    host_veth: &str,
    bridge_index: u32,
    fixed_ip: Option<Ipv4Addr>,
    made: &mut Made,
) -> Result<Ipv4Addr> {
    create_veth_pair(h, cfg, netns, host_veth, bridge_index).await?;
    made.host_veth = Some(host_veth.to_string());
    let ip = store.allocate(lock, range, owner_id, &cfg.ifname, fixed_ip)?;
    made.ip = Some(ip);
    Ok(ip)
}

/// Undoes a failed attach (best effort: the first error is the one reported).
async fn rollback(
    h: &Handle,
    cfg: &NetConfig,
    store: &Store,
    lock: &StoreLock,
    owner_id: &str,
    made: &Made,
) {
    if let Some(veth) = &made.host_veth {
        if let Err(e) = delete_link_by_name(h, veth).await {
            tracing::warn!("rollback: delete veth {veth}: {e}");
        }
    }
    if let Some(ip) = made.ip {
        if let Err(e) = store.release_ip(lock, ip, owner_id) {
            tracing::warn!("rollback: release {ip}: {e}");
        }
    }
    if made.bridge_created {
        if let Err(e) = remove_bridge_if_unused_locked(h, cfg, store, lock).await {
            tracing::warn!("rollback: remove bridge {}: {e}", cfg.bridge);
        }
    }
    if let Err(e) = store.remove_if_unused(lock) {
        tracing::warn!(
            "rollback: remove the empty IPAM store {}: {e}",
            store.dir.display()
        );
    }
}

/// Finds or creates the bridge; makes sure it is up and holds the gateway address.
async fn ensure_bridge(h: &Handle, cfg: &NetConfig, store: &Store) -> Result<Bridge> {
    let (index, created) = match get_link(h, &cfg.bridge).await? {
        Some(link) => {
            if !is_bridge(&link) {
                return Err(Error::other(format!(
                    "{} exists and is not a bridge",
                    cfg.bridge
                )));
            }
            if !link.header.flags.contains(LinkFlags::Up) {
                let msg = LinkUnspec::new_with_index(link.header.index).up().build();
                h.link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(|e| nl_err(format!("set bridge {} up", cfg.bridge), e))?;
            }
            (link.header.index, false)
        }
        None => {
            // the marker first: a create killed right after making the bridge still leaves
            // the record that podrun made it (and `pod delete --force` removes it)
            let marker = store.dir.join(BRIDGE_MARKER);
            // whole or not at all (tmp + rename): a truncated marker would make the last
            // detach keep a bridge podrun made
            crate::sys::write_atomic(&marker, cfg.bridge.as_bytes())?;
            let msg = LinkBridge::new(&cfg.bridge).mtu(cfg.mtu).build();
            if let Err(e) = h.link().add(msg).execute().await {
                let _ = std::fs::remove_file(&marker);
                return Err(nl_err(format!("create bridge {}", cfg.bridge), e));
            }
            let link = get_link(h, &cfg.bridge).await?.ok_or_else(|| {
                Error::other(format!("bridge {} vanished after creation", cfg.bridge))
            })?;
            (link.header.index, true)
        }
    };
    let add = h
        .address()
        .add(index, IpAddr::V4(cfg.gateway), cfg.subnet.prefix)
        .replace();
    if !cfg.gateway_on_bridge {
        return Ok(Bridge { index, created });
    }
    if let Err(e) = add.execute().await {
        let err = nl_err(
            format!(
                "add {}/{} to bridge {}",
                cfg.gateway, cfg.subnet.prefix, cfg.bridge
            ),
            e,
        );
        if created {
            let _ = delete_link_by_name(h, &cfg.bridge).await;
            let _ = std::fs::remove_file(store.dir.join(BRIDGE_MARKER));
        }
        return Err(err);
    }
    pin_bridge_mac(h, cfg, index).await?;
    Ok(Bridge { index, created })
}

/// Sets the bridge's MAC to the one it has, once the gateway address is on it (the reference
/// bridge plugin's way): an explicitly set address is the bridge's own, so the kernel stops
/// taking the lowest MAC of its ports, and deleting a pod no longer changes the gateway's MAC
/// under the other pods' neighbour entries (30-40 s without traffic until they expire).
async fn pin_bridge_mac(h: &Handle, cfg: &NetConfig, index: u32) -> Result<()> {
    let link = get_link(h, &cfg.bridge)
        .await?
        .ok_or_else(|| Error::other(format!("bridge {} vanished", cfg.bridge)))?;
    let Some(mac) = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) if b.len() == 6 => Some(b.clone()),
        _ => None,
    }) else {
        return Ok(());
    };
    let msg = LinkUnspec::new_with_index(index).address(mac).build();
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(|e| nl_err(format!("set the MAC of bridge {}", cfg.bridge), e))
}

/// Removes the bridge when podrun created it (marker) and no address of the network is allocated.
async fn remove_bridge_if_unused_locked(
    h: &Handle,
    cfg: &NetConfig,
    store: &Store,
    lock: &StoreLock,
) -> Result<()> {
    let marker = store.dir.join(BRIDGE_MARKER);
    let made_by_podrun = std::fs::read_to_string(&marker)
        .map(|s| s.trim() == cfg.bridge)
        .unwrap_or(false);
    if !made_by_podrun || !store.allocated(lock)?.is_empty() {
        return Ok(());
    }
    delete_link_by_name(h, &cfg.bridge).await?;
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &marker, e)),
        _ => Ok(()),
    }
}

/// One RTM_NEWLINK: host end on the bridge and up; peer created in the pod netns, named
/// `cfg.ifname` (down: the kernel refuses to open a veth end before its peer exists, ENOTCONN).
async fn create_veth_pair(
    h: &Handle,
    cfg: &NetConfig,
    netns: BorrowedFd<'_>,
    host: &str,
    bridge_index: u32,
) -> Result<()> {
    let peer = LinkUnspec::new_with_name(&cfg.ifname)
        .mtu(cfg.mtu)
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let msg = LinkVeth::new(host, &cfg.ifname)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .mtu(cfg.mtu)
        .controller(bridge_index)
        .up()
        .build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| nl_err(format!("create veth pair {host} / {}", cfg.ifname), e))
}

/// Inside the pod netns: address on the interface, lo up (for pods), default route. Returns
/// the MAC.
async fn configure_pod_side(
    cfg: &NetConfig,
    netns: BorrowedFd<'_>,
    ip: Ipv4Addr,
) -> Result<String> {
    let h = connect_in(netns)?;
    let link = get_link(&h, &cfg.ifname)
        .await?
        .ok_or_else(|| Error::other(format!("{} missing in the pod netns", cfg.ifname)))?;
    let index = link.header.index;
    let addr = h.address().add(index, IpAddr::V4(ip), cfg.subnet.prefix);
    addr.execute().await.map_err(|e| {
        nl_err(
            format!("add {ip}/{} to {}", cfg.subnet.prefix, cfg.ifname),
            e,
        )
    })?;
    let up = LinkUnspec::new_with_index(index).up().build();
    h.link()
        .set(up)
        .execute()
        .await
        .map_err(|e| nl_err(format!("set {} up", cfg.ifname), e))?;
    if cfg.loopback_up {
        let lo = LinkUnspec::new_with_name("lo").up().build();
        h.link()
            .set(lo)
            .execute()
            .await
            .map_err(|e| nl_err("set lo up", e))?;
    }
    if cfg.default_route {
        add_route_via(&h, None, cfg.gateway, index).await?;
    }
    for (dst, gw) in &cfg.routes {
        add_route_via(&h, Some(*dst), *gw, index).await?;
    }
    mac_of(&link).ok_or_else(|| Error::other(format!("{} has no MAC address", cfg.ifname)))
}

/// Adds a route (proto boot) via `gw` out of link `index`: to `dst`, or the default route.
async fn add_route_via(h: &Handle, dst: Option<Ipv4Cidr>, gw: Ipv4Addr, index: u32) -> Result<()> {
    let mut route = RouteMessageBuilder::<Ipv4Addr>::new().protocol(RouteProtocol::Boot);
    if let Some(dst) = dst {
        route = route.destination_prefix(dst.network(), dst.prefix);
    }
    let what = match dst {
        Some(dst) => format!("add route {dst} via {gw}"),
        None => format!("add default route via {gw}"),
    };
    h.route()
        .add(route.gateway(gw).output_interface(index).build())
        .execute()
        .await
        .map_err(|e| nl_err(what, e))
}

/// Runs `fut` on a fresh current-thread runtime, dropped before returning (no threads left).
fn run<F: Future>(fut: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::io("create tokio runtime", "", e))?;
    let out = rt.block_on(fut);
    drop(rt);
    Ok(out)
}

/// A netlink connection in the calling thread's netns (must run inside the runtime).
fn connect() -> Result<Handle> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| Error::io("open netlink socket", "", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// A netlink connection whose socket lives in `netns`: the thread enters it, opens the
/// socket and goes back (a socket stays in the netns it was opened in).
fn connect_in(netns: BorrowedFd) -> Result<Handle> {
    let here = "/proc/thread-self/ns/net";
    let host = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(here)
        .io("open", here)?;
    nix::sched::setns(netns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("setns into the pod netns", e))?;
    let handle = connect();
    back_to(&host)?;
    handle
}

fn back_to(host: &File) -> Result<()> {
    nix::sched::setns(host.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("setns back to the host netns", e))
}

/// The link named `name`, or None when there is none.
async fn get_link(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut req = h.link().get().match_name(name.to_string()).execute();
    match req.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if nl_errno(&e) == Some(Errno::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("get link {name}"), e)),
    }
}

/// Deletes a link by name; a missing link is fine.
async fn delete_link_by_name(h: &Handle, name: &str) -> Result<()> {
    let msg = LinkUnspec::new_with_name(name).build();
    match h.link().del_with_message(msg).execute().await {
        Ok(()) => Ok(()),
        Err(e) if nl_errno(&e) == Some(Errno::ENODEV) => Ok(()),
        Err(e) => Err(nl_err(format!("delete link {name}"), e)),
    }
}

async fn ipv4_addresses(h: &Handle, index: u32) -> Result<Vec<Ipv4Cidr>> {
    let mut out = Vec::new();
    let mut s = h.address().get().set_link_index_filter(index).execute();
    while let Some(msg) = s
        .try_next()
        .await
        .map_err(|e| nl_err("list addresses", e))?
    {
        for a in &msg.attributes {
            if let AddressAttribute::Address(IpAddr::V4(ip)) = a {
                out.push(Ipv4Cidr {
                    addr: *ip,
                    prefix: msg.header.prefix_len,
                });
            }
        }
    }
    Ok(out)
}

/// Whether the main table has a route to `dst` via `gateway`.
async fn has_route_via(h: &Handle, dst: Ipv4Cidr, gateway: Ipv4Addr) -> Result<bool> {
    let mut s = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(r) = s.try_next().await.map_err(|e| nl_err("list routes", e))? {
        if r.header.destination_prefix_length != dst.prefix {
            continue;
        }
        let r_dst = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
            _ => None,
        });
        if r_dst.unwrap_or(Ipv4Addr::UNSPECIFIED) != dst.network() {
            continue;
        }
        if r.attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Gateway(RouteAddress::Inet(g)) if *g == gateway))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_bridge(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
        _ => false,
    })
}

fn controller_of(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

fn mac_of(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) if b.len() == 6 => Some(
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        ),
        _ => None,
    })
}

fn nl_errno(e: &rtnetlink::Error) -> Option<Errno> {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => {
            Some(Errno::from_raw(-m.raw_code()))
        }
        _ => None,
    }
}

fn nl_err(op: impl Into<String>, e: rtnetlink::Error) -> Error {
    match nl_errno(&e) {
        Some(errno) => Error::sys(op, errno),
        None => Error::other(format!("{}: {e}", op.into())),
    }
}

/// `net.ipv4.ip_forward = 1` (the bridge is the pods' gateway); written only when needed.
fn enable_ip_forward() -> Result<()> {
    let path = Path::new("/proc/sys/net/ipv4/ip_forward");
    if std::fs::read_to_string(path)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        return Ok(());
    }
    std::fs::write(path, "1").io("write", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_stable_and_fit() {
        let a = veth_name("pod-a", "eth0", "n");
        assert_eq!(a, veth_name("pod-a", "eth0", "n"));
        assert_ne!(a, veth_name("pod-b", "eth0", "n"));
        assert_ne!(a, veth_name("pod-a", "eth1", "n"));
        assert_ne!(a, veth_name("pod-a", "eth0", "m"));
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("veth"));
    }

    #[test]
    fn config_validation() {
        let mut c = NetConfig::default();
        assert!(c.validate().is_ok());
        c.bridge = "a-very-long-bridge-name".into();
        assert!(c.validate().is_err());
        let c = NetConfig {
            mtu: 10,
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = NetConfig {
            subnet: Ipv4Cidr::parse_subnet("10.244.1.0/31").unwrap(),
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn attachment_serde_is_camel_case() {
        let a = Attachment {
            ip: "10.244.1.2/24".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 244, 1, 1),
            host_veth: "veth01234567".into(),
            mac: "0a:58:0a:f4:01:02".into(),
            bridge_created: true,
            bridge: "podrun0".into(),
            ifname: "eth0".into(),
            network: "podrun".into(),
            mtu: 1500,
        };
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(j["ip"], "10.244.1.2/24");
        assert_eq!(j["hostVeth"], "veth01234567");
        assert_eq!(serde_json::from_value::<Attachment>(j).unwrap(), a);
    }
}
