//! The node's lease as the node agent writes it for pods, in flannel's `subnet.env` format
//! (what flannel's CNI plugin reads):
//!
//! ```text
//! FLANNEL_NETWORK=10.244.0.0/16
//! FLANNEL_SUBNET=10.244.3.1/24
//! FLANNEL_MTU=1450
//! FLANNEL_IPMASQ=false
//! ```
//!
//! `FLANNEL_SUBNET` is the node's pod subnet written with its first host address (the bridge's
//! gateway address), as flannel writes it. `pod create` and `podrun-cni` take the subnet and
//! the MTU from here when they are not given one.

use std::net::Ipv4Addr;
use std::path::Path;

use super::Ipv4Cidr;
use crate::{Error, Result};

/// Where flannel keeps it, and so where the agent, `pod create` and `podrun-cni` look by default.
pub const DEFAULT_PATH: &str = "/run/flannel/subnet.env";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetEnv {
    /// The cluster network (`FLANNEL_NETWORK`).
    pub network: Ipv4Cidr,
    /// The node's pod subnet, as a network address (`FLANNEL_SUBNET` minus its host part).
    pub subnet: Ipv4Cidr,
    /// The MTU for the bridge and the pods' interfaces (`FLANNEL_MTU`).
    pub mtu: u32,
}

impl SubnetEnv {
    /// The bridge's address and the pods' gateway: the subnet's first host.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.first_host()
    }

    pub fn render(&self) -> String {
        format!(
            "FLANNEL_NETWORK={}\nFLANNEL_SUBNET={}\nFLANNEL_MTU={}\nFLANNEL_IPMASQ=false\n",
            self.network,
            self.subnet.with_addr(self.gateway()),
            self.mtu
        )
    }

    pub fn parse(text: &str) -> Result<SubnetEnv> {
        let (mut network, mut subnet, mut mtu) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| Error::Usage(format!("{line:?} is not KEY=VALUE")))?;
            match k {
                "FLANNEL_NETWORK" => network = Some(v.parse::<Ipv4Cidr>()?),
                "FLANNEL_SUBNET" => {
                    let c: Ipv4Cidr = v.parse()?;
                    subnet = Some(Ipv4Cidr {
                        addr: c.network(),
                        prefix: c.prefix,
                    })
                }
                "FLANNEL_MTU" => {
                    mtu =
                        Some(v.parse::<u32>().map_err(|_| {
                            Error::Usage(format!("FLANNEL_MTU={v} is not a number"))
                        })?)
                }
                "FLANNEL_IPMASQ" if v == "true" => {
                    return Err(Error::Usage(
                        "FLANNEL_IPMASQ=true: podrun never adds NAT or masquerading".into(),
                    ))
                }
                _ => {}
            }
        }
        let missing = |k: &str| Error::Usage(format!("{k} is missing"));
        let env = SubnetEnv {
            network: network.ok_or_else(|| missing("FLANNEL_NETWORK"))?,
            subnet: subnet.ok_or_else(|| missing("FLANNEL_SUBNET"))?,
            mtu: mtu.ok_or_else(|| missing("FLANNEL_MTU"))?,
        };
        if !env.network.contains(env.subnet.network()) || env.subnet.prefix < env.network.prefix {
            return Err(Error::Usage(format!(
                "FLANNEL_SUBNET {} is not inside FLANNEL_NETWORK {}",
                env.subnet, env.network
            )));
        }
        Ok(env)
    }

    /// The file at `path`; None when there is none (no agent has joined on this node).
    pub fn load(path: &Path) -> Result<Option<SubnetEnv>> {
        match std::fs::read_to_string(path) {
            Ok(t) => SubnetEnv::parse(&t)
                .map(Some)
                .map_err(|e| Error::Usage(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Writes the file atomically (a reader never sees half of it).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("mkdir", dir, e))?;
        }
        crate::sys::write_atomic(path, self.render().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_flannels_format() {
        let env = SubnetEnv {
            network: "10.244.0.0/16".parse().unwrap(),
            subnet: "10.244.3.0/24".parse().unwrap(),
            mtu: 1450,
        };
        let text = env.render();
        assert_eq!(
            text,
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
        );
        assert_eq!(SubnetEnv::parse(&text).unwrap(), env);
        assert_eq!(env.gateway(), Ipv4Addr::new(10, 244, 3, 1));
    }

    #[test]
    fn bad_files_are_refused() {
        let err = |t: &str| SubnetEnv::parse(t).unwrap_err().to_string();
        assert!(err("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1500\n").contains("FLANNEL_SUBNET"));
        assert!(err(
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.245.1.1/24\nFLANNEL_MTU=1500\n"
        )
        .contains("not inside"));
        assert!(err(
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=x\n"
        )
        .contains("not a number"));
        assert!(err("FLANNEL_IPMASQ=true\n").contains("NAT"));
        assert!(err("garbage\n").contains("KEY=VALUE"));
    }
}
