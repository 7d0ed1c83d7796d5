//! `podrun node up|down|show`: this node's side of the pod network across nodes (flannel's
//! host-gw and vxlan backends) from a static peer list. See `net::node` and docs/nodes.md.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli::Global;
use crate::net::node;
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
    }
}
