//! Route sync: the peers the leases describe (desired) against the peers this agent has
//! programmed (installed). Pure bookkeeping over a [`Programmer`]: the netlink one is in
//! `routes.rs`, the tests use a fake. Only what is in `installed` is ever removed, so routes
//! the agent did not make are never touched; a failed add stays out of `installed` and is
//! tried again at the next reconcile.

use std::collections::BTreeMap;

use super::model::Peer;
use crate::net::Ipv4Cidr;
use crate::Result;

pub type Peers = BTreeMap<Ipv4Cidr, Peer>;

#[allow(async_fn_in_trait)]
pub trait Programmer {
    /// Adds the routes (and vxlan neighbour/FDB entries) for `p`. `ours`: a route to the
    /// subnet may be there already and is this agent's (replace it).
    async fn add(&mut self, p: &Peer, ours: bool) -> Result<()>;
    /// Removes what `add` made for `p`; anything already gone is fine.
    async fn remove(&mut self, p: &Peer) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Remove(Peer),
    /// `ours`: replace what is there (a changed peer, or one from before a restart).
    Add(Peer, bool),
}

/// What turns `installed` into `desired`: removals first (a changed peer is removed and added
/// again), then additions.
pub fn plan(installed: &Peers, desired: &Peers) -> Vec<Op> {
    let mut ops = Vec::new();
    for (s, p) in installed {
        if desired.get(s) != Some(p) {
            ops.push(Op::Remove(*p));
        }
    }
    for (s, p) in desired {
        if installed.get(s) != Some(p) {
            ops.push(Op::Add(*p, installed.contains_key(s)));
        }
    }
    ops
}

/// Applies [`plan`]; `installed` follows every step that succeeded. Returns the number of
/// steps that failed (they are retried by the next call).
pub async fn reconcile<P: Programmer>(
    prog: &mut P,
    installed: &mut Peers,
    desired: &Peers,
) -> usize {
    let mut failed = 0;
    for op in plan(installed, desired) {
        match op {
            Op::Remove(p) => match prog.remove(&p).await {
                Ok(()) => {
                    installed.remove(&p.subnet);
                    eprintln!(
                        "node agent: removed the routes to {} ({})",
                        p.subnet, p.public_ip
                    );
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("node agent: {e} (retried)");
                }
            },
            Op::Add(p, ours) => match prog.add(&p, ours).await {
                Ok(()) => {
                    installed.insert(p.subnet, p);
                    eprintln!("node agent: routes to {} via {}", p.subnet, p.public_ip);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("node agent: {e} (retried)");
                }
            },
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::net::Ipv4Addr;

    /// The "kernel": subnet -> peer, and a log of what was done.
    #[derive(Default)]
    struct Fake {
        routes: BTreeMap<Ipv4Cidr, Peer>,
        log: Vec<String>,
        fail_next_add: bool,
    }

    impl Programmer for Fake {
        async fn add(&mut self, p: &Peer, ours: bool) -> Result<()> {
            if self.fail_next_add {
                self.fail_next_add = false;
                return Err(crate::Error::other("add failed"));
            }
            if self.routes.contains_key(&p.subnet) && !ours {
                return Err(crate::Error::other("EEXIST"));
            }
            self.routes.insert(p.subnet, *p);
            self.log.push(format!("add {}", p.subnet));
            Ok(())
        }
        async fn remove(&mut self, p: &Peer) -> Result<()> {
            self.routes.remove(&p.subnet);
            self.log.push(format!("del {}", p.subnet));
            Ok(())
        }
    }

    fn peer(third: u8, ip: u8) -> Peer {
        Peer {
            subnet: Ipv4Cidr {
                addr: Ipv4Addr::new(10, 244, third, 0),
                prefix: 24,
            },
            public_ip: Ipv4Addr::new(192, 0, 2, ip),
            vtep_mac: None,
        }
    }

    fn peers(list: &[Peer]) -> Peers {
        list.iter().map(|p| (p.subnet, *p)).collect()
    }

    #[test]
    fn joins_leaves_and_changes_converge() {
        let mut k = Fake::default();
        let mut installed = Peers::new();
        let d1 = peers(&[peer(1, 1), peer(2, 2)]);
        assert_eq!(block_on(reconcile(&mut k, &mut installed, &d1)), 0);
        assert_eq!(k.routes, d1);
        // the same desired set again: nothing done
        k.log.clear();
        block_on(reconcile(&mut k, &mut installed, &d1));
        assert!(k.log.is_empty(), "{:?}", k.log);
        // node 2 leaves, node 3 joins, node 1 moves to another address
        let d2 = peers(&[peer(1, 9), peer(3, 3)]);
        block_on(reconcile(&mut k, &mut installed, &d2));
        assert_eq!(k.routes, d2);
        assert_eq!(installed, d2);
        assert_eq!(
            k.log,
            [
                "del 10.244.1.0/24",
                "del 10.244.2.0/24",
                "add 10.244.1.0/24",
                "add 10.244.3.0/24"
            ]
        );
    }

    #[test]
    fn routes_it_did_not_make_are_left_alone_and_failures_retried() {
        let mut k = Fake::default();
        // someone else's route to 10.244.5.0/24
        k.routes.insert(peer(5, 50).subnet, peer(5, 50));
        let mut installed = Peers::new();
        let d = peers(&[peer(5, 5), peer(6, 6)]);
        k.fail_next_add = false;
        assert_eq!(block_on(reconcile(&mut k, &mut installed, &d)), 1);
        assert_eq!(
            k.routes[&peer(5, 5).subnet],
            peer(5, 50),
            "replaced a foreign route"
        );
        assert!(!installed.contains_key(&peer(5, 5).subnet));
        // everything gone from etcd: only our own route is removed
        block_on(reconcile(&mut k, &mut installed, &Peers::new()));
        assert_eq!(k.routes, peers(&[peer(5, 50)]));
        // a transient failure is retried by the next reconcile
        k.fail_next_add = true;
        let d = peers(&[peer(7, 7)]);
        assert_eq!(block_on(reconcile(&mut k, &mut installed, &d)), 1);
        assert_eq!(block_on(reconcile(&mut k, &mut installed, &d)), 0);
        assert!(k.routes.contains_key(&peer(7, 7).subnet));
    }

    #[test]
    fn after_a_restart_the_recorded_routes_are_adopted_without_duplicates() {
        // the agent was killed: the kernel and its record still hold 1 and 2; etcd now has 2, 3
        let mut k = Fake::default();
        let mut installed = peers(&[peer(1, 1), peer(2, 2)]);
        k.routes = installed.clone();
        let d = peers(&[peer(2, 2), peer(3, 3)]);
        block_on(reconcile(&mut k, &mut installed, &d));
        assert_eq!(k.routes, d);
        assert_eq!(k.log, ["del 10.244.1.0/24", "add 10.244.3.0/24"]);
    }
}
