//! The agent's [`Programmer`] over netlink, with net/node.rs's host-gw and vxlan steps.

use rtnetlink::Handle;

use super::model::Peer;
use super::sync::Programmer;
use crate::net::node::{add_host_gw_route, add_vxlan_peer, del_host_gw_route, del_vxlan_peer};
use crate::{Error, Result};

pub struct Netlink {
    pub h: Handle,
    /// vxlan: the device's index; None for host-gw.
    pub vxlan: Option<u32>,
}

fn vtep(p: &Peer) -> Result<[u8; 6]> {
    p.vtep_mac
        .ok_or_else(|| Error::other(format!("lease {}: no VtepMAC", p.subnet)))
}

impl Programmer for Netlink {
    async fn add(&mut self, p: &Peer, ours: bool) -> Result<()> {
        match self.vxlan {
            None => add_host_gw_route(&self.h, p.subnet, p.public_ip, ours).await,
            Some(index) => {
                add_vxlan_peer(&self.h, index, p.subnet, &vtep(p)?, p.public_ip, ours).await
            }
        }
    }

    async fn remove(&mut self, p: &Peer) -> Result<()> {
        match self.vxlan {
            None => del_host_gw_route(&self.h, p.subnet, p.public_ip).await,
            Some(index) => del_vxlan_peer(&self.h, index, p.subnet, &vtep(p)?, p.public_ip).await,
        }
    }
}
