//! flannel's data model in etcd, so the layout is the one operators know:
//! - `<prefix>/config`: `{"Network": "10.244.0.0/16", "SubnetLen": 24, "SubnetMin": ...,
//!   "SubnetMax": ..., "Backend": {"Type": "vxlan" | "host-gw", "VNI": 1, "Port": 8472}}`
//! - `<prefix>/subnets/10.244.3.0-24`: one node's lease, `{"PublicIP": "192.0.2.3",
//!   "BackendType": "vxlan", "BackendData": {"VtepMAC": "02:..."}}`, attached to an etcd lease
//!   with a TTL that its agent keeps alive.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::net::node::{mac_string, parse_mac, Backend};
use crate::net::Ipv4Cidr;
use crate::{Error, Result};

/// `<prefix>/config` as flannel spells it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigJson {
    network: String,
    subnet_len: Option<u8>,
    subnet_min: Option<Ipv4Addr>,
    subnet_max: Option<Ipv4Addr>,
    backend: Option<BackendJson>,
}

#[derive(Debug, Clone, Deserialize)]
struct BackendJson {
    #[serde(rename = "Type")]
    typ: String,
    #[serde(rename = "VNI")]
    vni: Option<u32>,
    #[serde(rename = "Port")]
    port: Option<u16>,
}

/// The checked network config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub network: Ipv4Cidr,
    pub subnet_len: u8,
    /// First and last subnet handed out (network addresses).
    pub subnet_min: Ipv4Addr,
    pub subnet_max: Ipv4Addr,
    pub backend: Backend,
    pub vni: u32,
    pub port: u16,
}

impl Network {
    /// Parses and checks `<prefix>/config`. Defaults are flannel's: SubnetLen 24, SubnetMin the
    /// second subnet (the first, with the network's own address, is skipped), SubnetMax the
    /// last; VNI 1, Port 8472; a missing Backend is vxlan (flannel's udp is not supported).
    pub fn parse(text: &str) -> Result<Network> {
        let bad = |m: String| Error::Usage(format!("network config: {m}"));
        let c: ConfigJson = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let network = Ipv4Cidr::parse_subnet(&c.network).map_err(|e| bad(e.to_string()))?;
        let subnet_len = c.subnet_len.unwrap_or(24);
        if subnet_len <= network.prefix || subnet_len > 30 {
            return Err(bad(format!(
                "SubnetLen {subnet_len} must be longer than the network's /{} and at most 30",
                network.prefix
            )));
        }
        let size = 1u32 << (32 - u32::from(subnet_len));
        let first = u32::from(network.network());
        let last = u32::from(network.broadcast()) - (size - 1);
        let subnet_min = c.subnet_min.unwrap_or_else(|| Ipv4Addr::from(first + size));
        let subnet_max = c.subnet_max.unwrap_or_else(|| Ipv4Addr::from(last));
        for (what, a) in [("SubnetMin", subnet_min), ("SubnetMax", subnet_max)] {
            if !network.contains(a) || u32::from(a) % size != 0 {
                return Err(bad(format!(
                    "{what} {a} is not the start of a /{subnet_len} inside {network}"
                )));
            }
        }
        if u32::from(subnet_min) > u32::from(subnet_max) {
            return Err(bad(format!(
                "SubnetMin {subnet_min} is after SubnetMax {subnet_max}"
            )));
        }
        let (backend, vni, port) = match &c.backend {
            None => (Backend::Vxlan, 1, 8472),
            Some(b) => {
                let backend = match b.typ.as_str() {
                    "vxlan" => Backend::Vxlan,
                    "host-gw" => Backend::HostGw,
                    other => {
                        return Err(bad(format!(
                            "backend type {other:?} is not supported (vxlan or host-gw)"
                        )))
                    }
                };
                (backend, b.vni.unwrap_or(1), b.port.unwrap_or(8472))
            }
        };
        if vni == 0 || vni >= 1 << 24 {
            return Err(bad(format!("VNI {vni} is out of range (1..16777215)")));
        }
        Ok(Network {
            network,
            subnet_len,
            subnet_min,
            subnet_max,
            backend,
            vni,
            port,
        })
    }

    /// Every subnet that may be leased, in order.
    pub fn subnets(&self) -> impl Iterator<Item = Ipv4Cidr> + '_ {
        let size = 1u32 << (32 - u32::from(self.subnet_len));
        let (lo, hi) = (u32::from(self.subnet_min), u32::from(self.subnet_max));
        (0..=(hi - lo) / size).map(move |i| Ipv4Cidr {
            addr: Ipv4Addr::from(lo + i * size),
            prefix: self.subnet_len,
        })
    }

    /// Whether `s` is one of [`Network::subnets`].
    pub fn owns(&self, s: Ipv4Cidr) -> bool {
        let size = 1u32 << (32 - u32::from(self.subnet_len));
        let a = u32::from(s.addr);
        s.prefix == self.subnet_len
            && a % size == 0
            && a >= u32::from(self.subnet_min)
            && a <= u32::from(self.subnet_max)
    }
}

pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Vxlan => "vxlan",
        Backend::HostGw => "host-gw",
    }
}

/// The value of one lease key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeaseAttrs {
    #[serde(rename = "PublicIP")]
    pub public_ip: Ipv4Addr,
    pub backend_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_data: Option<BackendData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendData {
    #[serde(rename = "VtepMAC")]
    pub vtep_mac: String,
}

impl LeaseAttrs {
    pub fn new(public_ip: Ipv4Addr, backend: Backend, vtep_mac: Option<[u8; 6]>) -> LeaseAttrs {
        LeaseAttrs {
            public_ip,
            backend_type: backend_name(backend).into(),
            backend_data: vtep_mac.map(|m| BackendData {
                vtep_mac: mac_string(&m),
            }),
        }
    }

    pub fn to_json(&self) -> String {
        // a struct of strings and addresses always serialises
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A remote node as the routes need it: parsed and checked from its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    pub subnet: Ipv4Cidr,
    pub public_ip: Ipv4Addr,
    /// vxlan: the remote VTEP's MAC.
    pub vtep_mac: Option<[u8; 6]>,
}

impl Peer {
    /// The peer a lease describes for a node of `backend`; None (with the reason) when the
    /// lease is unusable here: another backend, or vxlan without a unicast VtepMAC.
    pub fn from_lease(
        subnet: Ipv4Cidr,
        value: &[u8],
        backend: Backend,
    ) -> std::result::Result<Peer, String> {
        let attrs: LeaseAttrs =
            serde_json::from_slice(value).map_err(|e| format!("lease {subnet}: {e}"))?;
        if attrs.backend_type != backend_name(backend) {
            return Err(format!(
                "lease {subnet}: backend {} is not this network's {}",
                attrs.backend_type,
                backend_name(backend)
            ));
        }
        let vtep_mac = match backend {
            Backend::HostGw => None,
            Backend::Vxlan => {
                let data = attrs
                    .backend_data
                    .as_ref()
                    .ok_or_else(|| format!("lease {subnet}: no BackendData.VtepMAC"))?;
                Some(parse_mac(&data.vtep_mac).map_err(|e| format!("lease {subnet}: {e}"))?)
            }
        };
        Ok(Peer {
            subnet,
            public_ip: attrs.public_ip,
            vtep_mac,
        })
    }
}

/// `<prefix>/subnets/`
pub fn subnets_prefix(prefix: &str) -> String {
    format!("{}/subnets/", prefix.trim_end_matches('/'))
}

pub fn config_key(prefix: &str) -> String {
    format!("{}/config", prefix.trim_end_matches('/'))
}

/// `<prefix>/subnets/10.244.3.0-24`
pub fn lease_key(prefix: &str, subnet: Ipv4Cidr) -> String {
    format!(
        "{}{}-{}",
        subnets_prefix(prefix),
        subnet.addr,
        subnet.prefix
    )
}

/// The subnet a lease key names; None for a key that is not one.
pub fn parse_lease_key(prefix: &str, key: &[u8]) -> Option<Ipv4Cidr> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(&subnets_prefix(prefix))?;
    let (a, p) = rest.split_once('-')?;
    let c = Ipv4Cidr::parse_subnet(&format!("{a}/{p}")).ok()?;
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_are_flannels() {
        let n = Network::parse(r#"{"Network": "10.244.0.0/16"}"#).unwrap();
        assert_eq!(n.subnet_len, 24);
        assert_eq!(n.subnet_min, Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(n.subnet_max, Ipv4Addr::new(10, 244, 255, 0));
        assert_eq!((n.backend, n.vni, n.port), (Backend::Vxlan, 1, 8472));
        assert_eq!(n.subnets().count(), 255);
        let h = Network::parse(
            r#"{"Network": "10.244.0.0/16", "SubnetMin": "10.244.5.0", "SubnetMax": "10.244.7.0",
                "Backend": {"Type": "host-gw"}}"#,
        )
        .unwrap();
        assert_eq!(h.backend, Backend::HostGw);
        let all: Vec<String> = h.subnets().map(|s| s.to_string()).collect();
        assert_eq!(all, ["10.244.5.0/24", "10.244.6.0/24", "10.244.7.0/24"]);
        assert!(h.owns("10.244.6.0/24".parse().unwrap()));
        assert!(!h.owns("10.244.8.0/24".parse().unwrap()));
        assert!(!h.owns("10.244.6.0/25".parse().unwrap()));
    }

    #[test]
    fn bad_configs_say_why() {
        let err = |t: &str| Network::parse(t).unwrap_err().to_string();
        assert!(err(r#"{"Network": "10.244.0.1/16"}"#).contains("host bits"));
        assert!(err(r#"{"Network": "10.244.0.0/16", "SubnetLen": 16}"#).contains("SubnetLen"));
        assert!(
            err(r#"{"Network": "10.244.0.0/16", "Backend": {"Type": "udp"}}"#)
                .contains("\"udp\" is not supported")
        );
        assert!(
            err(r#"{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 0}}"#)
                .contains("VNI")
        );
        assert!(
            err(r#"{"Network": "10.244.0.0/16", "SubnetMin": "10.245.0.0"}"#).contains("SubnetMin")
        );
        assert!(err(r#"{"Net": 1}"#).contains("network config"));
    }

    #[test]
    fn keys_and_leases_round_trip() {
        let s: Ipv4Cidr = "10.244.3.0/24".parse().unwrap();
        let k = lease_key("/coreos.com/network/", s);
        assert_eq!(k, "/coreos.com/network/subnets/10.244.3.0-24");
        assert_eq!(
            parse_lease_key("/coreos.com/network", k.as_bytes()),
            Some(s)
        );
        assert_eq!(
            parse_lease_key("/coreos.com/network", b"/coreos.com/network/config"),
            None
        );
        let a = LeaseAttrs::new(
            Ipv4Addr::new(192, 0, 2, 3),
            Backend::Vxlan,
            Some([2, 0, 0, 0, 0, 3]),
        );
        let json = a.to_json();
        assert_eq!(
            json,
            r#"{"PublicIP":"192.0.2.3","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:03"}}"#
        );
        let p = Peer::from_lease(s, json.as_bytes(), Backend::Vxlan).unwrap();
        assert_eq!(p.vtep_mac, Some([2, 0, 0, 0, 0, 3]));
        assert!(Peer::from_lease(s, json.as_bytes(), Backend::HostGw)
            .unwrap_err()
            .contains("backend vxlan"));
        let hg = LeaseAttrs::new(Ipv4Addr::new(192, 0, 2, 4), Backend::HostGw, None).to_json();
        assert!(Peer::from_lease(s, hg.as_bytes(), Backend::Vxlan)
            .unwrap_err()
            .contains("backend"));
        assert!(Peer::from_lease(s, b"{}", Backend::HostGw).is_err());
    }
}
