//! podrun as a CNI plugin (CNI spec 1.0.0; 0.3.x/0.4.0 configs accepted): the same netlink
//! code as `pod create`, driven by `CNI_*` variables and a network config on stdin, with the
//! config keys of the reference `bridge` + `host-local` plugins and host-local's store layout
//! (`<dataDir>/<network name>/<IP>` holding `CONTAINERID\r\nIFNAME`).
//!
//! - `ADD`: bridge (created if missing), veth pair, address from the range, routes; prints the
//!   result (interfaces: bridge, host veth, container interface; ips; routes; dns).
//! - `CHECK`: verifies `prevResult` against the kernel and the store.
//! - `DEL`: idempotent: the netns, the interface or the allocation may be gone already.
//! - `VERSION`, and the 1.1 `STATUS` (the store is usable) and `GC` (releases allocations
//!   whose container/interface is not in `cni.dev/valid-attachments`).
//!
//! Errors go to stdout as `{cniVersion, code, msg, details}` with the spec's codes, exit 1.
//!
//! Not supported, refused with code 7 rather than silently ignored: `ipMasq: true` (podrun
//! never adds NAT), `isGateway: false` together with `isDefaultGateway: true`, ipam routes
//! whose gateway is outside the subnet, IPv6 and more than one range, ipam types other than
//! host-local.

use std::collections::HashSet;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{attach, check, detach_owner, link_macs, veth_name, Attachment, Ipv4Cidr, NetConfig};

/// The versions whose configs and results this plugin speaks.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
/// host-local's default store.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// CNI error codes (spec section "Error codes").
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODING_FAILURE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// Plugin-specific: a netlink or IPAM step failed.
    pub const PLUGIN_FAILURE: u32 = 100;
}

/// A CNI error, printed as the spec's error JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    pub fn to_json(&self, version: &str) -> Value {
        json!({"cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details})
    }
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg, "")
}

fn plugin_failure(msg: &str, e: crate::Error) -> CniError {
    CniError::new(code::PLUGIN_FAILURE, msg, e.to_string())
}

/// The network configuration on stdin (the bridge + host-local keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfig {
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub typ: String,
    #[serde(default = "default_bridge")]
    pub bridge: String,
    #[serde(default)]
    pub is_gateway: bool,
    #[serde(default)]
    pub is_default_gateway: bool,
    #[serde(default)]
    pub ip_masq: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub hairpin_mode: bool,
    pub ipam: Option<IpamConfig>,
    #[serde(default)]
    pub prev_result: Option<Value>,
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<ValidAttachment>>,
    /// The node agent's subnet file (flannel's `subnetFile`), read when ipam names no subnet.
    #[serde(default)]
    pub subnet_file: Option<PathBuf>,
}

fn default_bridge() -> String {
    "cni0".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamConfig {
    #[serde(rename = "type")]
    pub typ: String,
    pub subnet: Option<String>,
    pub range_start: Option<Ipv4Addr>,
    pub range_end: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub ranges: Vec<Vec<RangeConfig>>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeConfig {
    pub subnet: String,
    pub range_start: Option<Ipv4Addr>,
    pub range_end: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RouteConfig {
    pub dst: String,
    pub gw: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct ValidAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// Parses and checks a network config; errors carry the spec's codes.
pub fn parse_config(bytes: &[u8]) -> Result<PluginConfig, CniError> {
    let conf: PluginConfig = serde_json::from_slice(bytes).map_err(|e| {
        CniError::new(
            code::DECODING_FAILURE,
            "failed to decode the network configuration",
            e.to_string(),
        )
    })?;
    if !SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
        return Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!("unsupported cniVersion {:?}", conf.cni_version),
            format!("supported: {}", SUPPORTED_VERSIONS.join(", ")),
        ));
    }
    if conf.name.is_empty() || conf.name.contains('/') || conf.name == "." || conf.name == ".." {
        return Err(invalid(format!("invalid network name {:?}", conf.name)));
    }
    if conf.ip_masq {
        return Err(invalid(
            "ipMasq is not supported: podrun never adds NAT or masquerading (set ipMasq to false)",
        ));
    }
    if conf.is_default_gateway && !conf.is_gateway {
        return Err(invalid(
            "isDefaultGateway needs isGateway (the bridge must hold the gateway address)",
        ));
    }
    net_config(&conf, "eth0")?;
    Ok(conf)
}

/// The NetConfig that `attach` takes, from a plugin config and the interface name.
pub fn net_config(conf: &PluginConfig, ifname: &str) -> Result<NetConfig, CniError> {
    let ipam = conf
        .ipam
        .as_ref()
        .ok_or_else(|| invalid("missing ipam section"))?;
    if ipam.typ != "host-local" {
        return Err(invalid(format!(
            "ipam type {:?} is not supported (only host-local)",
            ipam.typ
        )));
    }
    let range = match (&ipam.subnet, ipam.ranges.as_slice()) {
        (Some(subnet), []) => RangeConfig {
            subnet: subnet.clone(),
            range_start: ipam.range_start,
            range_end: ipam.range_end,
            gateway: ipam.gateway,
        },
        (None, [set]) if set.len() == 1 => set[0].clone(),
        (None, []) => return node_lease_config(conf, ifname),
        _ => {
            return Err(invalid(
                "only one IPv4 range is supported (ipam.subnet, or ranges with one range)",
            ))
        }
    };
    let subnet =
        Ipv4Cidr::parse_subnet(&range.subnet).map_err(|e| invalid(format!("ipam subnet: {e}")))?;
    let gateway = range.gateway.unwrap_or_else(|| subnet.first_host());
    // host-local's routes: each via its `gw`, else via the range's gateway (what the bridge
    // plugin configures); the default route via the gateway is the same as isDefaultGateway.
    let mut default_route = conf.is_default_gateway;
    let mut routes = Vec::new();
    for r in &ipam.routes {
        let dst: Ipv4Cidr = r
            .dst
            .parse()
            .map_err(|e| invalid(format!("ipam route {}: {e}", r.dst)))?;
        // host bits are dropped, as Go's ParseCIDR (the reference plugins) does
        let dst = Ipv4Cidr {
            addr: dst.network(),
            prefix: dst.prefix,
        };
        let gw = r.gw.unwrap_or(gateway);
        if !subnet.contains(gw) {
            return Err(invalid(format!(
                "ipam route {} via {gw}: the gateway is not in subnet {subnet}",
                r.dst
            )));
        }
        if dst.prefix == 0 && gw == gateway {
            default_route = true;
        } else if !routes.contains(&(dst, gw)) {
            routes.push((dst, gw));
        }
    }
    let cfg = NetConfig {
        network: conf.name.clone(),
        bridge: conf.bridge.clone(),
        subnet,
        gateway,
        mtu: conf.mtu.unwrap_or(1500),
        store_dir: ipam
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        ifname: ifname.to_string(),
        gateway_on_bridge: conf.is_gateway,
        default_route,
        range_start: range.range_start,
        range_end: range.range_end,
        routes,
        loopback_up: false,
    };
    cfg.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(cfg)
}

/// The NetConfig of a config whose ipam names no subnet: the node's lease from the node
/// agent's subnet file, as flannel's CNI plugin builds its bridge delegate from subnet.env
/// (the subnet, its MTU unless `mtu` is set, a route to the cluster network via the gateway).
fn node_lease_config(conf: &PluginConfig, ifname: &str) -> Result<NetConfig, CniError> {
    let path = conf
        .subnet_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(super::subnet_env::DEFAULT_PATH));
    let env = super::subnet_env::SubnetEnv::load(&path)
        .map_err(|e| invalid(e.to_string()))?
        .ok_or_else(|| {
            invalid(format!(
                "ipam needs a subnet or ranges, or the node agent's subnet file {} (podrun node join)",
                path.display()
            ))
        })?;
    let mut with_subnet = conf.clone();
    let ipam = with_subnet
        .ipam
        .as_mut()
        .ok_or_else(|| invalid("missing ipam section"))?;
    ipam.subnet = Some(env.subnet.to_string());
    let mut cfg = net_config(&with_subnet, ifname)?;
    cfg.mtu = conf.mtu.unwrap_or(env.mtu);
    if !cfg.default_route && !cfg.routes.iter().any(|(d, _)| *d == env.network) {
        cfg.routes.push((env.network, cfg.gateway));
    }
    cfg.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(cfg)
}

/// The `CNI_*` variables.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub command: String,
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    /// `CNI_ARGS`: `K=V;K=V` (e.g. Kubernetes' `IgnoreUnknown=1;K8S_POD_NAME=...`).
    pub args: String,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).unwrap_or_default();
        Env {
            command: get("CNI_COMMAND"),
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname: get("CNI_IFNAME"),
            args: get("CNI_ARGS"),
        }
    }

    /// The address asked for with `IP=` in `CNI_ARGS` (host-local's one argument). As in the
    /// reference plugins, another key is an error unless `IgnoreUnknown` is `1` or `true`.
    pub fn requested_ip(&self) -> Result<Option<Ipv4Addr>, CniError> {
        let bad =
            |msg: String| CniError::new(code::INVALID_ENV, msg, format!("CNI_ARGS={}", self.args));
        let mut pairs = Vec::new();
        for pair in self.args.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("CNI_ARGS: {pair:?} is not KEY=VALUE")))?;
            pairs.push((k, v));
        }
        let ignore_unknown = pairs
            .iter()
            .any(|(k, v)| *k == "IgnoreUnknown" && (*v == "1" || v.eq_ignore_ascii_case("true")));
        let mut ip = None;
        for (k, v) in pairs {
            match k {
                "IP" => {
                    ip = Some(
                        v.parse::<Ipv4Addr>()
                            .map_err(|_| bad(format!("CNI_ARGS: IP={v} is not an IPv4 address")))?,
                    )
                }
                "IgnoreUnknown" => {}
                _ if ignore_unknown => {}
                _ => {
                    return Err(bad(format!(
                        "CNI_ARGS: unknown argument {k:?} (and IgnoreUnknown is not set)"
                    )))
                }
            }
        }
        Ok(ip)
    }

    fn require(&self, name: &str, value: &str) -> Result<(), CniError> {
        if value.is_empty() {
            return Err(CniError::new(
                code::INVALID_ENV,
                format!("{name} is required for {}", self.command),
                "",
            ));
        }
        Ok(())
    }
}

/// Runs one CNI command; `Ok(Some(json))` is printed on stdout.
pub fn run_command(env: &Env, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    match env.command.as_str() {
        "VERSION" => Ok(Some(
            json!({"cniVersion": "1.0.0", "supportedVersions": SUPPORTED_VERSIONS}),
        )),
        "ADD" => cmd_add(env, &parse_config(stdin)?).map(Some),
        "DEL" => cmd_del(env, &parse_config(stdin)?).map(|()| None),
        "CHECK" => cmd_check(env, &parse_config(stdin)?).map(|()| None),
        "STATUS" => cmd_status(&parse_config(stdin)?).map(|()| None),
        "GC" => cmd_gc(&parse_config(stdin)?).map(|()| None),
        "" => Err(CniError::new(
            code::INVALID_ENV,
            "CNI_COMMAND is not set",
            "",
        )),
        other => Err(CniError::new(
            code::INVALID_ENV,
            format!("unknown CNI_COMMAND {other:?}"),
            "expected ADD, DEL, CHECK, VERSION, STATUS or GC",
        )),
    }
}

/// Opens `CNI_NETNS`; anything but a network namespace file is the CNI spec's "invalid
/// necessary environment variables" (code 4).
fn open_netns(path: &str) -> Result<File, CniError> {
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            CniError::new(
                code::INVALID_ENV,
                format!("cannot open CNI_NETNS {path}"),
                e.to_string(),
            )
        })?;
    // ioctl NS_GET_NSTYPE = _IO(0xb7, 0x3): fails (ENOTTY) on anything but an nsfs file.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without argument on an fd we own.
    let kind = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE) };
    if kind != libc::CLONE_NEWNET {
        return Err(CniError::new(
            code::INVALID_ENV,
            format!("CNI_NETNS {path} is not a network namespace"),
            "expected a network namespace file such as /var/run/netns/NAME or /proc/PID/ns/net",
        ));
    }
    Ok(f)
}

fn check_container_id(env: &Env) -> Result<(), CniError> {
    env.require("CNI_CONTAINERID", &env.container_id)?;
    if env.container_id.contains(['\r', '\n', '/']) {
        return Err(CniError::new(
            code::INVALID_ENV,
            "CNI_CONTAINERID has a forbidden character",
            "",
        ));
    }
    Ok(())
}

fn cmd_add(env: &Env, conf: &PluginConfig) -> Result<Value, CniError> {
    check_container_id(env)?;
    env.require("CNI_NETNS", &env.netns)?;
    env.require("CNI_IFNAME", &env.ifname)?;
    let cfg = net_config(conf, &env.ifname)?;
    let fixed_ip = env.requested_ip()?;
    let netns = open_netns(&env.netns)?;
    let att = attach(&cfg, netns.as_fd(), &env.container_id, fixed_ip)
        .map_err(|e| plugin_failure("ADD failed", e))?;
    if conf.hairpin_mode {
        let path = format!("/sys/class/net/{}/brport/hairpin_mode", att.host_veth);
        if let Err(e) = std::fs::write(&path, "1") {
            let _ = detach_owner(&cfg, &env.container_id, Some(&env.ifname), false);
            return Err(CniError::new(
                code::PLUGIN_FAILURE,
                "set hairpin mode",
                format!("{path}: {e}"),
            ));
        }
    }
    Ok(result_json(&conf.cni_version, &cfg, &att, &env.netns))
}

/// The ADD result in the config's version: interfaces (bridge, host veth, container side),
/// ips (0.3.x/0.4.0 also carry `version: "4"`), routes, dns.
pub fn result_json(version: &str, cfg: &NetConfig, att: &Attachment, netns: &str) -> Value {
    let mut ip =
        json!({"interface": 2, "address": att.ip.to_string(), "gateway": att.gateway.to_string()});
    if version.starts_with("0.") {
        ip["version"] = json!("4");
    }
    let default = cfg
        .default_route
        .then(|| json!({"dst": "0.0.0.0/0", "gw": att.gateway.to_string()}));
    let more = cfg.routes.iter().map(|(dst, gw)| json!({"dst": format!("{}/{}", dst.network(), dst.prefix), "gw": gw.to_string()}));
    // the reference plugins' order: ipam routes, then the default route of isDefaultGateway
    let routes: Vec<Value> = more.chain(default).collect();
    let macs = link_macs(&[&att.bridge, &att.host_veth]);
    let mac = |i: usize| macs.get(i).cloned().flatten().unwrap_or_default();
    json!({
        "cniVersion": version,
        "interfaces": [
            {"name": att.bridge, "mac": mac(0)},
            {"name": att.host_veth, "mac": mac(1)},
            {"name": att.ifname, "mac": att.mac, "sandbox": netns},
        ],
        "ips": [ip],
        "routes": routes,
        "dns": {},
    })
}

fn cmd_del(env: &Env, conf: &PluginConfig) -> Result<(), CniError> {
    check_container_id(env)?;
    env.require("CNI_IFNAME", &env.ifname)?;
    let cfg = net_config(conf, &env.ifname)?;
    // The netns may be gone: the host veth is found by name, the address by owner.
    detach_owner(&cfg, &env.container_id, Some(&env.ifname), false)
        .map_err(|e| plugin_failure("DEL failed", e))
}

fn cmd_check(env: &Env, conf: &PluginConfig) -> Result<(), CniError> {
    check_container_id(env)?;
    env.require("CNI_NETNS", &env.netns)?;
    env.require("CNI_IFNAME", &env.ifname)?;
    let cfg = net_config(conf, &env.ifname)?;
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| invalid("CHECK needs prevResult"))?;
    let att = attachment_from_result(prev, &cfg, &env.ifname)?;
    let want_veth = veth_name(&env.container_id, &env.ifname, &cfg.network);
    if att.host_veth != want_veth {
        return Err(CniError::new(
            code::PLUGIN_FAILURE,
            "CHECK failed",
            format!(
                "prevResult names host interface {}, expected {}",
                att.host_veth, want_veth
            ),
        ));
    }
    let netns = open_netns(&env.netns)?;
    check(&cfg, netns.as_fd(), &att).map_err(|e| plugin_failure("CHECK failed", e))
}

/// Rebuilds what ADD made from its result (prevResult).
pub fn attachment_from_result(
    prev: &Value,
    cfg: &NetConfig,
    ifname: &str,
) -> Result<Attachment, CniError> {
    let bad = |what: &str| invalid(format!("prevResult: {what}"));
    let ifaces = prev["interfaces"]
        .as_array()
        .ok_or_else(|| bad("no interfaces"))?;
    let pod_index = ifaces
        .iter()
        .position(|i| i["name"] == ifname && i["sandbox"].is_string())
        .ok_or_else(|| bad("no container interface"))?;
    let host = ifaces
        .iter()
        .find(|i| i["sandbox"].is_null() && i["name"] != cfg.bridge.as_str())
        .ok_or_else(|| bad("no host veth"))?;
    let ip = prev["ips"]
        .as_array()
        .and_then(|ips| {
            ips.iter()
                .find(|ip| ip["interface"].as_u64() == Some(pod_index as u64))
        })
        .ok_or_else(|| bad("no address on the container interface"))?;
    let address: Ipv4Cidr = ip["address"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| bad(&format!("address: {e}")))?;
    Ok(Attachment {
        ip: address,
        gateway: ip["gateway"]
            .as_str()
            .and_then(|g| g.parse().ok())
            .unwrap_or(cfg.gateway),
        host_veth: host["name"].as_str().unwrap_or_default().to_string(),
        mac: ifaces[pod_index]["mac"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        bridge_created: false,
        bridge: cfg.bridge.clone(),
        ifname: ifname.to_string(),
        network: cfg.network.clone(),
        mtu: cfg.mtu,
    })
}

fn cmd_status(conf: &PluginConfig) -> Result<(), CniError> {
    let cfg = net_config(conf, "eth0")?;
    let store = cfg.store().map_err(|e| plugin_failure("STATUS", e))?;
    let _lock = store
        .lock()
        .map_err(|e| CniError::new(50, "the IPAM store is not usable", e.to_string()))?;
    Ok(())
}

/// GC: releases allocations (and their host veths) whose container/interface is not listed.
fn cmd_gc(conf: &PluginConfig) -> Result<(), CniError> {
    let cfg = net_config(conf, "eth0")?;
    let valid: HashSet<(String, String)> = conf
        .valid_attachments
        .iter()
        .flatten()
        .map(|a| (a.container_id.clone(), a.ifname.clone()))
        .collect();
    let store = cfg.store().map_err(|e| plugin_failure("GC", e))?;
    let stale: Vec<(String, String)> = {
        let lock = store.lock().map_err(|e| plugin_failure("GC", e))?;
        let allocations = store
            .allocations(&lock)
            .map_err(|e| plugin_failure("GC", e))?;
        allocations
            .into_iter()
            .map(|(_, owner, ifname)| (owner, ifname.unwrap_or_default()))
            .filter(|key| !valid.contains(key))
            .collect()
    };
    for (owner, ifname) in stale {
        let mut c = cfg.clone();
        c.ifname = if ifname.is_empty() {
            c.ifname
        } else {
            ifname.clone()
        };
        detach_owner(
            &c,
            &owner,
            (!ifname.is_empty()).then_some(ifname.as_str()),
            false,
        )
        .map_err(|e| plugin_failure("GC", e))?;
    }
    Ok(())
}

/// The plugin's whole run: reads stdin, prints the result or the error JSON; the exit code.
pub fn main_with(env: &Env, stdin: &[u8], out: &mut impl std::io::Write) -> i32 {
    let version = serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(str::to_string))
        .unwrap_or_else(|| "1.0.0".into());
    match run_command(env, stdin) {
        Ok(Some(v)) => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
            0
        }
        Ok(None) => 0,
        Err(e) => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&e.to_json(&version)).unwrap_or_default()
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"br9","isGateway":true,
                "ipam":{{"type":"host-local","subnet":"10.244.9.0/24","dataDir":"/tmp/x"}}{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn reference_plugin_config_is_understood() {
        let c = parse_config(&conf(
            r#","isDefaultGateway":true,"mtu":1400,"hairpinMode":true"#,
        ))
        .unwrap();
        let n = net_config(&c, "eth1").unwrap();
        assert_eq!(
            (
                n.bridge.as_str(),
                n.network.as_str(),
                n.mtu,
                n.ifname.as_str()
            ),
            ("br9", "n", 1400, "eth1")
        );
        assert_eq!(n.gateway, Ipv4Addr::new(10, 244, 9, 1));
        assert!(n.gateway_on_bridge && n.default_route);
        assert_eq!(n.store_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn ranges_routes_and_0_4_0() {
        let c = parse_config(
            br#"{"cniVersion":"0.4.0","name":"n","type":"bridge","isGateway":true,"ipam":{"type":"host-local",
                "ranges":[[{"subnet":"10.244.8.0/24","rangeStart":"10.244.8.10","rangeEnd":"10.244.8.20","gateway":"10.244.8.254"}]],
                "routes":[{"dst":"0.0.0.0/0"}]}}"#,
        )
        .unwrap();
        let n = net_config(&c, "eth0").unwrap();
        assert_eq!(n.bridge, "cni0");
        assert_eq!(n.gateway, Ipv4Addr::new(10, 244, 8, 254));
        assert!(n.default_route);
        let r = n.range().unwrap();
        assert_eq!(
            (r.start, r.end),
            (Ipv4Addr::new(10, 244, 8, 10), Ipv4Addr::new(10, 244, 8, 20))
        );
        assert_eq!(n.store_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn cni_args() {
        let ip = |a: &str| {
            Env {
                args: a.into(),
                ..Env::default()
            }
            .requested_ip()
        };
        assert_eq!(ip(""), Ok(None));
        assert_eq!(ip("IP=10.244.1.7"), Ok(Some(Ipv4Addr::new(10, 244, 1, 7))));
        let k8s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;IP=10.244.1.9";
        assert_eq!(ip(k8s), Ok(Some(Ipv4Addr::new(10, 244, 1, 9))));
        assert_eq!(ip("K8S_POD_NAME=web").unwrap_err().code, code::INVALID_ENV);
        assert_eq!(ip("IP=nope").unwrap_err().code, code::INVALID_ENV);
        assert_eq!(ip("garbage").unwrap_err().code, code::INVALID_ENV);
    }

    #[test]
    fn flannel_delegate_routes() {
        // what flannel's CNI plugin hands its delegate: the node subnet and the cluster network
        let c = parse_config(
            br#"{"cniVersion":"1.0.0","name":"cbr0","type":"podrun-cni","isGateway":true,"isDefaultGateway":true,
                "ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]],
                "routes":[{"dst":"10.244.0.0/16"},{"dst":"10.96.7.1/12","gw":"10.244.1.254"},{"dst":"0.0.0.0/0"}]}}"#,
        )
        .unwrap();
        let n = net_config(&c, "eth0").unwrap();
        assert!(n.default_route);
        let cidr = |s: &str| s.parse::<Ipv4Cidr>().unwrap();
        assert_eq!(
            n.routes,
            vec![
                (cidr("10.244.0.0/16"), Ipv4Addr::new(10, 244, 1, 1)),
                (cidr("10.96.0.0/12"), Ipv4Addr::new(10, 244, 1, 254))
            ]
        );
        let att = Attachment {
            ip: cidr("10.244.1.2/24"),
            gateway: n.gateway,
            host_veth: "veth01234567".into(),
            mac: "0a:58:0a:f4:01:02".into(),
            bridge_created: false,
            bridge: "cni0".into(),
            ifname: "eth0".into(),
            network: "cbr0".into(),
            mtu: 1500,
        };
        let r = result_json("1.0.0", &n, &att, "/run/netns/x");
        assert_eq!(
            r["routes"],
            json!([{"dst": "10.244.0.0/16", "gw": "10.244.1.1"}, {"dst": "10.96.0.0/12", "gw": "10.244.1.254"}, {"dst": "0.0.0.0/0", "gw": "10.244.1.1"}])
        );
    }

    #[test]
    fn bad_configs_have_spec_codes() {
        let code_of = |b: &[u8]| parse_config(b).unwrap_err().code;
        assert_eq!(code_of(b"{not json"), code::DECODING_FAILURE);
        let v999 = String::from_utf8(conf(""))
            .unwrap()
            .replace("\"1.0.0\"", "\"9.9.9\"");
        assert_eq!(code_of(v999.as_bytes()), code::INCOMPATIBLE_VERSION);
        assert_eq!(code_of(&conf(r#","ipMasq":true"#)), code::INVALID_CONFIG);
        assert_eq!(
            code_of(br#"{"cniVersion":"1.0.0","name":"n","type":"bridge"}"#),
            code::INVALID_CONFIG
        );
        assert_eq!(
            code_of(br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"dhcp"}}"#),
            code::INVALID_CONFIG
        );
        assert_eq!(code_of(br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"host-local","subnet":"10.0.0.0/31"}}"#), code::INVALID_CONFIG);
        let no_gw = br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","isDefaultGateway":true,"ipam":{"type":"host-local","subnet":"10.0.0.0/24"}}"#;
        assert_eq!(code_of(no_gw), code::INVALID_CONFIG);
        let routes = br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"host-local","subnet":"10.0.0.0/24","routes":[{"dst":"10.1.0.0/16","gw":"10.9.0.1"}]}}"#;
        assert_eq!(code_of(routes), code::INVALID_CONFIG);
    }

    #[test]
    fn env_errors() {
        let mut out = Vec::new();
        let env = Env {
            command: "ADD".into(),
            container_id: "c1".into(),
            netns: String::new(),
            ifname: "eth0".into(),
            args: String::new(),
        };
        assert_eq!(main_with(&env, &conf(""), &mut out), 1);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["code"], code::INVALID_ENV);
        assert!(v["msg"].as_str().unwrap().contains("CNI_NETNS"));
        let env = Env {
            command: "BOGUS".into(),
            ..Env::default()
        };
        out.clear();
        assert_eq!(main_with(&env, &conf(""), &mut out), 1);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["code"], code::INVALID_ENV);
        let env = Env {
            command: "VERSION".into(),
            ..Env::default()
        };
        out.clear();
        assert_eq!(main_with(&env, b"{}", &mut out), 0);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "0.4.0"));
    }

    #[test]
    fn check_reads_the_add_result() {
        let c = parse_config(&conf("")).unwrap();
        let n = net_config(&c, "eth0").unwrap();
        let prev = json!({"cniVersion":"1.0.0","interfaces":[{"name":"br9","mac":"a"},{"name":"veth1234abcd","mac":"b"},{"name":"eth0","mac":"c","sandbox":"/run/netns/x"}],
            "ips":[{"interface":2,"address":"10.244.9.5/24","gateway":"10.244.9.1"}]});
        let a = attachment_from_result(&prev, &n, "eth0").unwrap();
        assert_eq!(
            (
                a.host_veth.as_str(),
                a.mac.as_str(),
                a.ip.to_string().as_str()
            ),
            ("veth1234abcd", "c", "10.244.9.5/24")
        );
        assert_eq!(
            attachment_from_result(&json!({}), &n, "eth0")
                .unwrap_err()
                .code,
            code::INVALID_CONFIG
        );
    }
}
