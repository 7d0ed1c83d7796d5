//! Subnet allocation over a lease store: atomic (create-if-absent), a restarted agent gets its
//! own subnet back, and a full network says so. Written against [`LeaseStore`], so it is
//! tested with an in-memory store; the etcd one is in `etcd.rs`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::model::{LeaseAttrs, Network};
use crate::net::Ipv4Cidr;
use crate::{Error, Result};

/// The lease keys as the allocator needs them.
#[allow(async_fn_in_trait)]
pub trait LeaseStore {
    /// Every lease: subnet -> raw value (keys that are not leases are left out).
    async fn leases(&mut self) -> Result<BTreeMap<Ipv4Cidr, Vec<u8>>>;
    /// Writes `value` at `subnet`'s key, bound to this agent's lease, only if the key does not
    /// exist (one transaction); false when another node has it.
    async fn create(&mut self, subnet: Ipv4Cidr, value: &[u8]) -> Result<bool>;
    /// Replaces the value at `subnet`'s key, bound to this agent's lease, only if it is still
    /// `old` (one transaction); false when it changed or vanished.
    async fn take_over(&mut self, subnet: Ipv4Cidr, old: &[u8], value: &[u8]) -> Result<bool>;
}

/// How many times a lost race is retried before giving up.
const ATTEMPTS: usize = 64;

/// Leases a subnet for the node at `me`: `previous` (the one in the node's subnet file) when
/// it is free or still this node's, else a lease of this node's address left from before
/// (flannel's rule), else a free one. Returns the subnet; its key holds `attrs`.
pub async fn acquire<S: LeaseStore>(
    store: &mut S,
    net: &Network,
    attrs: &LeaseAttrs,
    previous: Option<Ipv4Cidr>,
) -> Result<Ipv4Cidr> {
    let value = attrs.to_json().into_bytes();
    let mine = |v: &[u8]| {
        serde_json::from_slice::<LeaseAttrs>(v).is_ok_and(|a| a.public_ip == attrs.public_ip)
    };
    for _ in 0..ATTEMPTS {
        let leases = store.leases().await?;
        if let Some(prev) = previous.filter(|p| net.owns(*p)) {
            match leases.get(&prev) {
                None => {
                    if store.create(prev, &value).await? {
                        return Ok(prev);
                    }
                    continue;
                }
                Some(old) if mine(old) => {
                    if store.take_over(prev, old, &value).await? {
                        return Ok(prev);
                    }
                    continue;
                }
                Some(_) => {} // another node has it now: lease a new one
            }
        }
        if let Some((s, old)) = leases.iter().find(|(s, v)| net.owns(**s) && mine(v)) {
            if store.take_over(*s, old, &value).await? {
                return Ok(*s);
            }
            continue;
        }
        let free: Vec<Ipv4Cidr> = net.subnets().filter(|s| !leases.contains_key(s)).collect();
        if free.is_empty() {
            return Err(Error::BadState(format!(
                "network {} is full: all {} subnets /{} from {} to {} are leased",
                net.network,
                net.subnets().count(),
                net.subnet_len,
                net.subnet_min,
                net.subnet_max
            )));
        }
        // nodes joining at once start at different free subnets, so few races are lost
        let pick = free[spread(attrs.public_ip) % free.len()];
        if store.create(pick, &value).await? {
            return Ok(pick);
        }
    }
    Err(Error::other(format!(
        "could not lease a subnet of {} after {ATTEMPTS} attempts (every try lost a race)",
        net.network
    )))
}

fn spread(ip: Ipv4Addr) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in ip.octets() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::net::node::Backend;
    use futures::executor::block_on;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// An in-memory store shared by several "agents" (each a handle on the same map).
    #[derive(Clone, Default)]
    pub(crate) struct FakeStore {
        pub map: Rc<RefCell<BTreeMap<Ipv4Cidr, Vec<u8>>>>,
        /// Before the next create/take_over, this entry appears (another node won a race).
        pub race: Rc<RefCell<Option<(Ipv4Cidr, Vec<u8>)>>>,
    }

    impl FakeStore {
        fn race_now(&self) {
            if let Some((s, v)) = self.race.borrow_mut().take() {
                self.map.borrow_mut().insert(s, v);
            }
        }
    }

    impl LeaseStore for FakeStore {
        async fn leases(&mut self) -> Result<BTreeMap<Ipv4Cidr, Vec<u8>>> {
            Ok(self.map.borrow().clone())
        }
        async fn create(&mut self, subnet: Ipv4Cidr, value: &[u8]) -> Result<bool> {
            self.race_now();
            let mut m = self.map.borrow_mut();
            if m.contains_key(&subnet) {
                return Ok(false);
            }
            m.insert(subnet, value.to_vec());
            Ok(true)
        }
        async fn take_over(&mut self, subnet: Ipv4Cidr, old: &[u8], value: &[u8]) -> Result<bool> {
            self.race_now();
            let mut m = self.map.borrow_mut();
            if m.get(&subnet).map(Vec::as_slice) != Some(old) {
                return Ok(false);
            }
            m.insert(subnet, value.to_vec());
            Ok(true)
        }
    }

    fn net(json: &str) -> Network {
        Network::parse(json).unwrap()
    }

    fn attrs(last: u8) -> LeaseAttrs {
        LeaseAttrs::new(Ipv4Addr::new(192, 0, 2, last), Backend::HostGw, None)
    }

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn nodes_get_distinct_subnets_and_a_full_network_says_so() {
        let n = net(r#"{"Network": "10.244.0.0/16", "SubnetMax": "10.244.10.0"}"#);
        let store = FakeStore::default();
        let mut got = std::collections::HashSet::new();
        for i in 1..=10 {
            let s = block_on(acquire(&mut store.clone(), &n, &attrs(i), None)).unwrap();
            assert!(n.owns(s), "{s}");
            assert!(got.insert(s), "{s} handed out twice");
        }
        let err = block_on(acquire(&mut store.clone(), &n, &attrs(11), None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network 10.244.0.0/16 is full: all 10 subnets /24 from 10.244.1.0 to 10.244.10.0 are leased"
        );
    }

    #[test]
    fn a_lost_race_picks_another_subnet() {
        let n = net(r#"{"Network": "10.244.0.0/16", "SubnetMax": "10.244.2.0"}"#);
        let store = FakeStore::default();
        let first = block_on(acquire(&mut store.clone(), &n, &attrs(1), None)).unwrap();
        // the one free subnet is taken by another node between our list and our create
        let other = n.subnets().find(|s| *s != first).unwrap();
        *store.race.borrow_mut() = Some((other, attrs(9).to_json().into_bytes()));
        let err = block_on(acquire(&mut store.clone(), &n, &attrs(2), None)).unwrap_err();
        assert!(err.to_string().contains("is full"), "{err}");
        assert_eq!(
            store.map.borrow().get(&other).unwrap(),
            &attrs(9).to_json().into_bytes(),
            "the winner's lease was overwritten"
        );
    }

    #[test]
    fn a_restarted_node_gets_its_subnet_back() {
        let n = net(r#"{"Network": "10.244.0.0/16"}"#);
        let store = FakeStore::default();
        // from its subnet file, the key gone (lease expired)
        let s = block_on(acquire(
            &mut store.clone(),
            &n,
            &attrs(1),
            Some(cidr("10.244.77.0/24")),
        ))
        .unwrap();
        assert_eq!(s, cidr("10.244.77.0/24"));
        // from its subnet file, the key still there (restarted within the TTL)
        let s = block_on(acquire(
            &mut store.clone(),
            &n,
            &attrs(1),
            Some(cidr("10.244.77.0/24")),
        ))
        .unwrap();
        assert_eq!(s, cidr("10.244.77.0/24"));
        assert_eq!(store.map.borrow().len(), 1);
        // without the file: found by its address
        let s = block_on(acquire(&mut store.clone(), &n, &attrs(1), None)).unwrap();
        assert_eq!(s, cidr("10.244.77.0/24"));
        // another node's subnet in a stale file is not taken
        let s2 = block_on(acquire(
            &mut store.clone(),
            &n,
            &attrs(2),
            Some(cidr("10.244.77.0/24")),
        ))
        .unwrap();
        assert_ne!(s2, cidr("10.244.77.0/24"));
        // a file naming a subnet outside the network is ignored
        let s3 = block_on(acquire(
            &mut store.clone(),
            &n,
            &attrs(3),
            Some(cidr("10.9.0.0/24")),
        ))
        .unwrap();
        assert!(n.owns(s3));
    }
}
