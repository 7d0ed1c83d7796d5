//! The lease store on etcd v3 (the `etcd-client` crate, gRPC): lists, the create-if-absent
//! and compare-and-swap transactions the allocator needs, bound to the agent's etcd lease.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp};

use super::alloc::LeaseStore;
use super::model::{lease_key, parse_lease_key, subnets_prefix};
use crate::net::Ipv4Cidr;
use crate::{Error, Result};

pub fn err(op: &str, e: etcd_client::Error) -> Error {
    Error::other(format!("etcd: {op}: {e}"))
}

/// A client of `endpoints`; the first call fails fast when none answers.
pub async fn connect(endpoints: &[String]) -> Result<Client> {
    let opts = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
    Client::connect(endpoints, Some(opts))
        .await
        .map_err(|e| err(&format!("connect to {}", endpoints.join(",")), e))
}

/// The subnet leases under `prefix` and the revision they were read at.
pub async fn list(client: &mut Client, prefix: &str) -> Result<(BTreeMap<Ipv4Cidr, Vec<u8>>, i64)> {
    let resp = client
        .get(
            subnets_prefix(prefix),
            Some(GetOptions::new().with_prefix()),
        )
        .await
        .map_err(|e| err("list leases", e))?;
    let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
    let mut out = BTreeMap::new();
    for kv in resp.kvs() {
        if let Some(s) = parse_lease_key(prefix, kv.key()) {
            out.insert(s, kv.value().to_vec());
        }
    }
    Ok((out, rev))
}

/// The allocator's store: `client` with the agent's lease `lease`.
pub struct EtcdStore<'a> {
    pub client: &'a mut Client,
    pub prefix: &'a str,
    pub lease: i64,
}

impl EtcdStore<'_> {
    /// One transaction: put `value` at `key` on the agent's lease if `cond` holds; whether it
    /// held (`what` names the step in errors).
    async fn put_if(
        &mut self,
        key: String,
        cond: Compare,
        value: &[u8],
        what: &str,
    ) -> Result<bool> {
        let put = TxnOp::put(
            key.clone(),
            value.to_vec(),
            Some(PutOptions::new().with_lease(self.lease)),
        );
        let txn = Txn::new().when([cond]).and_then([put]);
        let r = self
            .client
            .txn(txn)
            .await
            .map_err(|e| err(&format!("{what} {key}"), e))?;
        Ok(r.succeeded())
    }
}

impl LeaseStore for EtcdStore<'_> {
    async fn leases(&mut self) -> Result<BTreeMap<Ipv4Cidr, Vec<u8>>> {
        Ok(list(self.client, self.prefix).await?.0)
    }

    async fn create(&mut self, subnet: Ipv4Cidr, value: &[u8]) -> Result<bool> {
        let key = lease_key(self.prefix, subnet);
        let absent = Compare::create_revision(key.clone(), CompareOp::Equal, 0);
        self.put_if(key, absent, value, "create").await
    }

    async fn take_over(&mut self, subnet: Ipv4Cidr, old: &[u8], value: &[u8]) -> Result<bool> {
        let key = lease_key(self.prefix, subnet);
        let unchanged = Compare::value(key.clone(), CompareOp::Equal, old.to_vec());
        self.put_if(key, unchanged, value, "take over").await
    }
}
