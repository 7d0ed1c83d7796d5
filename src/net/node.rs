//! Pods across nodes, the way flannel's backends connect node pod subnets, from a static
//! peer list (`podrun node up/down/show`):
//! - `host-gw`: one route per remote pod subnet via the remote node's address;
//! - `vxlan`: a VXLAN device (`podrun.1`, VNI 1, UDP 8472, MTU = uplink - 50, learning off)
//!   holding `<local subnet network>/32`, and per remote node a route
//!   `<subnet> via <subnet network> dev podrun.1 onlink`, a permanent neighbour entry
//!   (`<subnet network>` -> the remote VTEP MAC) and a permanent FDB entry (that MAC -> the
//!   remote node address).
//!
//! What `up` made is recorded in `<root>/node/state.json`; `down` removes exactly that. `up`
//! with the same config twice is a no-op.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::neighbour::NeighbourFlags;
use netlink_packet_route::route::RouteProtocol;
use rtnetlink::{Handle, LinkVxlan, RouteMessageBuilder};
use serde::{Deserialize, Serialize};

use super::{connect, delete_link_by_name, get_link, nl_err, run, Ipv4Cidr};
use crate::error::IoContext;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    HostGw,
    Vxlan,
}

/// The peer list file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerList {
    pub backend: Backend,
    #[serde(default = "default_vni")]
    pub vni: u32,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_device")]
    pub device: String,
    pub nodes: Vec<Node>,
}

fn default_vni() -> u32 {
    1
}
fn default_port() -> u16 {
    8472
}
fn default_device() -> String {
    "podrun.1".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    pub name: String,
    pub address: Ipv4Addr,
    pub subnet: Ipv4Cidr,
    /// The node's VTEP MAC; derived from the name when absent.
    #[serde(default)]
    pub vtep_mac: Option<String>,
}

impl Node {
    pub fn mac(&self) -> Result<[u8; 6]> {
        match &self.vtep_mac {
            Some(s) => parse_mac(s),
            None => Ok(derived_mac(&self.name)),
        }
    }
}

/// A locally administered unicast MAC from a hash of the node name (stable across runs).
pub fn derived_mac(name: &str) -> [u8; 6] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02, b[0], b[1], b[2], b[3], b[4]]
}

pub(crate) fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(Error::Usage(format!("invalid MAC address {s:?}")));
    }
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16)
            .map_err(|_| Error::Usage(format!("invalid MAC address {s:?}")))?;
    }
    if mac[0] & 1 == 1 {
        return Err(Error::Usage(format!("vtepMac {s} is a multicast address")));
    }
    Ok(mac)
}

pub(crate) fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl PeerList {
    pub fn load(path: &Path) -> Result<PeerList> {
        let text = std::fs::read_to_string(path).io("read", path)?;
        serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
    }

    /// The local node and the remote ones; every rule of a usable peer list is checked here.
    pub fn split(&self, local: &str) -> Result<(&Node, Vec<&Node>)> {
        super::check_ifname("device", &self.device)?;
        if self.vni == 0 || self.vni >= 1 << 24 {
            return Err(Error::Usage(format!(
                "vni {} is out of range (1..16777215)",
                self.vni
            )));
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for n in &self.nodes {
            if !names.insert(n.name.as_str()) {
                return Err(Error::Usage(format!("node {} is listed twice", n.name)));
            }
            if !addrs.insert(n.address) {
                return Err(Error::Usage(format!(
                    "address {} is given to two nodes",
                    n.address
                )));
            }
            if n.subnet.addr != n.subnet.network() {
                return Err(Error::Usage(format!(
                    "node {}: subnet {} is not a network address",
                    n.name, n.subnet
                )));
            }
            n.mac()?;
        }
        for (i, a) in self.nodes.iter().enumerate() {
            for b in &self.nodes[i + 1..] {
                if a.subnet.contains(b.subnet.network()) || b.subnet.contains(a.subnet.network()) {
                    return Err(Error::Usage(format!(
                        "the pod subnets of {} ({}) and {} ({}) overlap",
                        a.name, a.subnet, b.name, b.subnet
                    )));
                }
            }
        }
        let me = self
            .nodes
            .iter()
            .find(|n| n.name == local)
            .ok_or_else(|| Error::Usage(format!("node {local} is not in the peer list")))?;
        Ok((me, self.nodes.iter().filter(|n| n.name != local).collect()))
    }
}

/// What `up` made (`<root>/node/state.json`), written after every object it makes, so a
/// `node up` killed halfway leaves the record `node down` (or the next `up`) cleans up by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    pub local: String,
    pub peers: PeerList,
    /// host-gw: the routes added (`subnet via address`).
    pub routes: Vec<(Ipv4Cidr, Ipv4Addr)>,
    /// vxlan: the device made (routes, neighbours and FDB entries go with it).
    pub vxlan_device: Option<String>,
    /// False until `up` made everything.
    #[serde(default)]
    pub complete: bool,
}

fn node_dir(root: &Path) -> PathBuf {
    root.join("node")
}

fn state_path(root: &Path) -> PathBuf {
    node_dir(root).join("state.json")
}

/// The node's lock (`<root>/node/lock`): one `node up`/`down` at a time.
fn lock(root: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let dir = node_dir(root);
    std::fs::create_dir_all(&dir).io("mkdir", &dir)?;
    crate::lockfile::lock_exclusive(&dir.join("lock"))
}

pub fn load_state(root: &Path) -> Result<Option<NodeState>> {
    let path = state_path(root);
    match std::fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

fn save_state(root: &Path, st: &NodeState) -> Result<()> {
    let json = serde_json::to_vec_pretty(st)
        .map_err(|e| Error::other(format!("encode node state: {e}")))?;
    crate::sys::write_atomic(&state_path(root), &json)
}

/// Removes the state file, the lock and the node dir (what `down` leaves: nothing).
fn remove_state(root: &Path) -> Result<()> {
    let path = state_path(root);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("remove", &path, e))
        }
        _ => {}
    }
    let _ = std::fs::remove_file(node_dir(root).join("lock"));
    let _ = std::fs::remove_dir(node_dir(root));
    Ok(())
}

/// `node up`: true when something was made, false when the same config was already up.
pub fn up(root: &Path, peers: &PeerList, local: &str) -> Result<bool> {
    let (me, remotes) = peers.split(local)?;
    let _lock = lock(root)?;
    if let Some(st) = load_state(root)? {
        if !st.complete {
            // a `node up` that was killed halfway: undo its part, then do it all again
            undo_recorded(&st)?;
        } else if st.local == local && &st.peers == peers {
            return Ok(false);
        } else {
            return Err(Error::BadState(format!(
                "node {} is up with another peer list: run node down first",
                st.local
            )));
        }
    }
    let mut st = NodeState {
        local: local.to_string(),
        peers: peers.clone(),
        routes: Vec::new(),
        vxlan_device: None,
        complete: false,
    };
    save_state(root, &st)?;
    let made = run(async {
        let h = connect()?;
        let result = match peers.backend {
            Backend::HostGw => up_host_gw(&h, root, &remotes, &mut st).await,
            Backend::Vxlan => up_vxlan(&h, root, peers, me, &remotes, &mut st).await,
        };
        if result.is_err() {
            undo(&h, &st).await;
        }
        result
    })
    .and_then(|r| r);
    if let Err(e) = made {
        remove_state(root)?;
        return Err(e);
    }
    st.complete = true;
    save_state(root, &st)?;
    Ok(true)
}

async fn up_host_gw(h: &Handle, root: &Path, remotes: &[&Node], st: &mut NodeState) -> Result<()> {
    for n in remotes {
        add_host_gw_route(h, n.subnet, n.address, false)
            .await
            .map_err(|e| Error::other(format!("{e} ({})", n.name)))?;
        st.routes.push((n.subnet, n.address));
        save_state(root, st)?;
    }
    Ok(())
}

/// host-gw: `subnet via address` (proto boot); the route `node down` and the agent remove.
/// With `replace`, a route to `subnet` already there is replaced (the caller knows it is its
/// own); without, it is an error (EEXIST), so a route someone else made is never touched.
pub(crate) async fn add_host_gw_route(
    h: &Handle,
    subnet: Ipv4Cidr,
    via: Ipv4Addr,
    replace: bool,
) -> Result<()> {
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .protocol(RouteProtocol::Boot)
        .destination_prefix(subnet.network(), subnet.prefix)
        .gateway(via)
        .build();
    let mut req = h.route().add(route);
    if replace {
        req = req.replace();
    }
    req.execute()
        .await
        .map_err(|e| nl_err(format!("add route {subnet} via {via}"), e))
}

/// Removes what [`add_host_gw_route`] added; a route already gone is fine.
pub(crate) async fn del_host_gw_route(h: &Handle, subnet: Ipv4Cidr, via: Ipv4Addr) -> Result<()> {
    // the protocol must match the added route's, or the kernel finds nothing to delete
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .protocol(RouteProtocol::Boot)
        .destination_prefix(subnet.network(), subnet.prefix)
        .gateway(via)
        .build();
    match h.route().del(route).execute().await {
        Err(e) if super::nl_errno(&e) == Some(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(nl_err(format!("delete route {subnet} via {via}"), e)),
        Ok(()) => Ok(()),
    }
}

async fn up_vxlan(
    h: &Handle,
    root: &Path,
    peers: &PeerList,
    me: &Node,
    remotes: &[&Node],
    st: &mut NodeState,
) -> Result<()> {
    let (uplink, uplink_mtu) = link_holding(h, me.address).await?;
    if get_link(h, &peers.device).await?.is_some() {
        return Err(Error::BadState(format!(
            "device {} exists already (not made by this node up)",
            peers.device
        )));
    }
    let mac = me.mac()?;
    // recorded before it exists: a kill right after the create still leaves the record
    st.vxlan_device = Some(peers.device.clone());
    save_state(root, st)?;
    let dev = VxlanDevice {
        name: &peers.device,
        vni: peers.vni,
        port: peers.port,
        uplink,
        local: me.address,
        mtu: uplink_mtu.saturating_sub(50),
        mac,
    };
    let index = match create_vxlan_device(h, &dev).await {
        Ok(i) => i,
        Err(e) => {
            st.vxlan_device = None;
            return Err(e);
        }
    };
    h.address()
        .add(index, IpAddr::V4(me.subnet.network()), 32)
        .execute()
        .await
        .map_err(|e| {
            nl_err(
                format!("add {}/32 to {}", me.subnet.network(), peers.device),
                e,
            )
        })?;
    for n in remotes {
        add_vxlan_peer(h, index, n.subnet, &n.mac()?, n.address, false)
            .await
            .map_err(|e| Error::other(format!("{e} ({})", n.name)))?;
    }
    Ok(())
}

/// vxlan, per remote node: `subnet via <subnet network> dev <index> onlink`, the permanent
/// neighbour `<subnet network> lladdr mac` and the FDB entry `mac dst address`.
pub(crate) async fn add_vxlan_peer(
    h: &Handle,
    index: u32,
    subnet: Ipv4Cidr,
    mac: &[u8; 6],
    address: Ipv4Addr,
    replace: bool,
) -> Result<()> {
    let gw = subnet.network();
    // neighbour and FDB first: the route is usable the moment it exists
    h.neighbours()
        .add(index, IpAddr::V4(gw))
        .link_layer_address(mac)
        .replace()
        .execute()
        .await
        .map_err(|e| nl_err(format!("add neighbour {gw} {}", mac_string(mac)), e))?;
    h.neighbours()
        .add_bridge(index, mac)
        .flags(NeighbourFlags::Own)
        .destination(IpAddr::V4(address))
        .replace()
        .execute()
        .await
        .map_err(|e| nl_err(format!("add fdb {} dst {address}", mac_string(mac)), e))?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .protocol(RouteProtocol::Boot)
        .destination_prefix(gw, subnet.prefix)
        .gateway(gw)
        .output_interface(index)
        .onlink()
        .build();
    let mut req = h.route().add(route);
    if replace {
        req = req.replace();
    }
    req.execute()
        .await
        .map_err(|e| nl_err(format!("add route {subnet} via {gw} onlink"), e))
}

/// Removes what [`add_vxlan_peer`] added; anything already gone is fine.
pub(crate) async fn del_vxlan_peer(
    h: &Handle,
    index: u32,
    subnet: Ipv4Cidr,
    mac: &[u8; 6],
    address: Ipv4Addr,
) -> Result<()> {
    use nix::errno::Errno;
    let gone = |e: &rtnetlink::Error| {
        matches!(
            super::nl_errno(e),
            Some(Errno::ESRCH | Errno::ENOENT | Errno::ENODEV)
        )
    };
    let gw = subnet.network();
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .protocol(RouteProtocol::Boot)
        .destination_prefix(gw, subnet.prefix)
        .gateway(gw)
        .output_interface(index)
        .onlink()
        .build();
    match h.route().del(route).execute().await {
        Err(e) if !gone(&e) => return Err(nl_err(format!("delete route {subnet}"), e)),
        _ => {}
    }
    let mut neigh = h
        .neighbours()
        .add(index, IpAddr::V4(gw))
        .message_mut()
        .clone();
    neigh.header.state = netlink_packet_route::neighbour::NeighbourState::Permanent;
    match h.neighbours().del(neigh).execute().await {
        Err(e) if !gone(&e) => return Err(nl_err(format!("delete neighbour {gw}"), e)),
        _ => {}
    }
    let fdb = h
        .neighbours()
        .add_bridge(index, mac)
        .flags(NeighbourFlags::Own)
        .destination(IpAddr::V4(address))
        .message_mut()
        .clone();
    match h.neighbours().del(fdb).execute().await {
        Err(e) if !gone(&e) => {
            return Err(nl_err(
                format!("delete fdb {} dst {address}", mac_string(mac)),
                e,
            ))
        }
        _ => {}
    }
    Ok(())
}

/// A VXLAN device as flannel makes it: learning off, on the uplink, holding no address yet.
pub(crate) struct VxlanDevice<'a> {
    pub name: &'a str,
    pub vni: u32,
    pub port: u16,
    pub uplink: u32,
    pub local: Ipv4Addr,
    pub mtu: u32,
    pub mac: [u8; 6],
}

/// Creates the device (up) and returns its index.
pub(crate) async fn create_vxlan_device(h: &Handle, d: &VxlanDevice<'_>) -> Result<u32> {
    let msg = LinkVxlan::new(d.name, d.vni)
        .dev(d.uplink)
        .local(d.local)
        .port(d.port)
        .learning(false)
        .mtu(d.mtu)
        .address(d.mac.to_vec())
        .up()
        .build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| nl_err(format!("create vxlan device {}", d.name), e))?;
    Ok(get_link(h, d.name)
        .await?
        .ok_or_else(|| Error::other(format!("{} vanished after creation", d.name)))?
        .header
        .index)
}

/// The interface holding `addr` and its MTU (the VXLAN uplink).
pub(crate) async fn link_holding(h: &Handle, addr: Ipv4Addr) -> Result<(u32, u32)> {
    let mut s = h.address().get().execute();
    let mut index = None;
    while let Some(msg) = s
        .try_next()
        .await
        .map_err(|e| nl_err("list addresses", e))?
    {
        if msg
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(ip)) if *ip == addr))
        {
            index = Some(msg.header.index);
        }
    }
    let index = index
        .ok_or_else(|| Error::Usage(format!("no interface here holds the node address {addr}")))?;
    let mut links = h.link().get().match_index(index).execute();
    let link = links
        .try_next()
        .await
        .map_err(|e| nl_err("get uplink", e))?
        .ok_or_else(|| Error::other("uplink vanished"))?;
    let mtu = link
        .attributes
        .iter()
        .find_map(|a| match a {
            netlink_packet_route::link::LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        })
        .unwrap_or(1500);
    Ok((index, mtu))
}

/// Removes what `st` records (best effort; gone already is fine).
async fn undo(h: &Handle, st: &NodeState) {
    for (subnet, via) in &st.routes {
        if let Err(e) = del_host_gw_route(h, *subnet, *via).await {
            tracing::warn!("node down: {e}");
        }
    }
    if let Some(dev) = &st.vxlan_device {
        if let Err(e) = delete_link_by_name(h, dev).await {
            tracing::warn!("node down: delete {dev}: {e}");
        }
    }
}

/// [`undo`] on a connection of its own (outside `up`'s netlink session).
fn undo_recorded(st: &NodeState) -> Result<()> {
    run(async {
        let h = connect()?;
        undo(&h, st).await;
        Ok::<(), Error>(())
    })?
}

/// `node down`: removes what `up` made; false when the node was not up.
pub fn down(root: &Path) -> Result<bool> {
    if !node_dir(root).exists() {
        return Ok(false);
    }
    let _lock = lock(root)?;
    let Some(st) = load_state(root)? else {
        remove_state(root)?;
        return Ok(false);
    };
    undo_recorded(&st)?;
    remove_state(root)?;
    Ok(true)
}

/// `node show`: the recorded state plus what is live (device present, routes present).
pub fn show(root: &Path) -> Result<serde_json::Value> {
    let Some(st) = load_state(root)? else {
        return Ok(serde_json::json!({"up": false}));
    };
    let live_device = match &st.vxlan_device {
        Some(d) => run(async {
            let h = connect()?;
            Ok::<bool, Error>(get_link(&h, d).await?.is_some())
        })??,
        None => false,
    };
    let mut v =
        serde_json::to_value(&st).map_err(|e| Error::other(format!("encode node state: {e}")))?;
    v["up"] = serde_json::json!(true);
    v["vxlanDevicePresent"] = serde_json::json!(live_device);
    if let Some(me) = st.peers.nodes.iter().find(|n| n.name == st.local) {
        v["vtepMac"] = serde_json::json!(mac_string(&me.mac()?));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(json: &str) -> PeerList {
        serde_json::from_str(json).unwrap()
    }

    const TWO: &str = r#"{"backend":"vxlan","nodes":[
        {"name":"n1","address":"192.168.250.1","subnet":"10.244.1.0/24"},
        {"name":"n2","address":"192.168.250.2","subnet":"10.244.2.0/24","vtepMac":"02:00:00:00:00:02"}]}"#;

    #[test]
    fn defaults_and_split() {
        let p = peers(TWO);
        assert_eq!((p.vni, p.port, p.device.as_str()), (1, 8472, "podrun.1"));
        let (me, remotes) = p.split("n1").unwrap();
        assert_eq!(me.name, "n1");
        assert_eq!(remotes.len(), 1);
        assert_eq!(remotes[0].mac().unwrap(), [2, 0, 0, 0, 0, 2]);
        let m = derived_mac("n1");
        assert_eq!(m, derived_mac("n1"));
        assert_ne!(m, derived_mac("n2"));
        assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast");
    }

    #[test]
    fn bad_peer_lists_are_refused() {
        let err = |j: &str, local: &str| peers(j).split(local).unwrap_err().to_string();
        let twice = r#"{"backend":"host-gw","nodes":[{"name":"n1","address":"192.168.250.1","subnet":"10.244.1.0/24"},
            {"name":"n1","address":"192.168.250.3","subnet":"10.244.3.0/24"}]}"#;
        assert!(err(twice, "n1").contains("listed twice"));
        let overlap = r#"{"backend":"host-gw","nodes":[{"name":"n1","address":"192.168.250.1","subnet":"10.244.0.0/16"},
            {"name":"n2","address":"192.168.250.2","subnet":"10.244.2.0/24"}]}"#;
        assert!(err(overlap, "n1").contains("overlap"));
        assert!(err(TWO, "n9").contains("not in the peer list"));
        let same_addr = r#"{"backend":"host-gw","nodes":[{"name":"n1","address":"192.168.250.1","subnet":"10.244.1.0/24"},
            {"name":"n2","address":"192.168.250.1","subnet":"10.244.2.0/24"}]}"#;
        assert!(err(same_addr, "n1").contains("two nodes"));
        let mcast = TWO.replace("02:00:00:00:00:02", "01:00:00:00:00:02");
        assert!(err(&mcast, "n1").contains("multicast"));
        let vni = TWO.replace(
            r#""backend":"vxlan""#,
            r#""backend":"vxlan","vni":16777216"#,
        );
        assert!(err(&vni, "n1").contains("vni"));
        assert!(serde_json::from_str::<PeerList>(r#"{"backend":"ipsec","nodes":[]}"#).is_err());
    }
}
