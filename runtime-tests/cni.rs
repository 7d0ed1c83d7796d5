//! CNI plugin mode: the same ADD/CHECK/DEL sequence run with Debian's reference `bridge` +
//! `host-local` plugins and with `podrun-cni`, with equal outcomes; bad input gets the CNI
//! error JSON and makes nothing. Each implementation has its own bridge, subnet, netns names
//! and dataDir; a Drop guard removes all of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::common::{podrun_bin, require_root, rootfs_dir};

const REFERENCE: &str = "/usr/lib/cni/bridge";

/// One implementation's world: netns names, bridge, subnet, dataDir, plugin path.
struct Net {
    tag: String,
    plugin: PathBuf,
    bridge: String,
    subnet_third: u8,
    dir: PathBuf,
    netns: Vec<String>,
    /// Run the plugin inside this netns (one of `netns`) instead of the host's: its bridge and
    /// sysctls are then the test's own.
    host_netns: Option<String>,
}

impl Net {
    fn new(tag: &str, plugin: PathBuf, n: u8) -> Net {
        require_root();
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/podrun-test-cni-{tag}-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Net {
            tag: tag.into(),
            plugin,
            bridge: format!("prc{tag}{}", pid % 100_000),
            subnet_third: n,
            dir,
            netns: Vec::new(),
            host_netns: None,
        }
    }

    fn config(&self) -> Value {
        json!({
            "cniVersion": "1.0.0", "name": format!("prc-{}", self.tag), "type": "bridge",
            "bridge": self.bridge, "isGateway": true, "isDefaultGateway": true,
            // flannel's delegate shape: the node subnet plus a route to the cluster network
            "ipam": {"type": "host-local", "subnet": format!("10.244.{}.0/24", self.subnet_third), "dataDir": self.dir.join("ipam"),
                     "routes": [{"dst": "10.244.0.0/16", "gw": format!("10.244.{}.1", self.subnet_third)}]}
        })
    }

    fn add_netns(&mut self, name: &str) -> String {
        let full = format!("prc-{}-{name}-{}", self.tag, std::process::id());
        assert!(Command::new("ip")
            .args(["netns", "add", &full])
            .status()
            .unwrap()
            .success());
        self.netns.push(full.clone());
        full
    }

    fn plugin(&self, command: &str, container: &str, netns: &str, conf: &Value) -> (i32, Value) {
        self.plugin_with_args(command, container, netns, conf, "")
    }

    /// `plugin` with `CNI_ARGS`.
    fn plugin_with_args(
        &self,
        command: &str,
        container: &str,
        netns: &str,
        conf: &Value,
        args: &str,
    ) -> (i32, Value) {
        let mut cmd = match &self.host_netns {
            Some(host) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", host]).arg(&self.plugin);
                c
            }
            None => Command::new(&self.plugin),
        };
        let mut child = cmd
            .env("CNI_ARGS", args)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", container)
            .env(
                "CNI_NETNS",
                if netns.is_empty() {
                    String::new()
                } else {
                    format!("/run/netns/{netns}")
                },
            )
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/usr/lib/cni")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        let out: Output = child.wait_with_output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
    }

    fn in_netns(&self, netns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", netns])
            .args(args)
            .output()
            .unwrap()
    }

    fn ip_files(&self) -> Vec<String> {
        let dir = self.dir.join("ipam").join(format!("prc-{}", self.tag));
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn bridge_ports(&self) -> usize {
        std::fs::read_dir(format!("/sys/class/net/{}/brif", self.bridge))
            .map(|rd| rd.count())
            .unwrap_or(0)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self
            .netns
            .iter()
            .filter(|ns| Path::new("/run/netns").join(ns).exists())
        {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one run of the conformance sequence observed, comparable across implementations.
#[derive(Debug, PartialEq)]
struct Outcome {
    exit_codes: Vec<(String, i32)>,
    addresses: Vec<String>,
    routes_a: String,
    /// `lo` inside pod a is up (the bridge plugin leaves it to the loopback plugin).
    lo_up_a: bool,
    result_routes: String,
    ping: bool,
    ip_files_after_first_del: usize,
    bridge_ports_end: usize,
    ip_files_end: usize,
    bridge_left: bool,
}

fn conformance(net: &mut Net) -> Outcome {
    let conf = net.config();
    let (a, b) = (net.add_netns("a"), net.add_netns("b"));
    let mut codes = Vec::new();
    let (rc, add_a) = net.plugin("ADD", "ca", &a, &conf);
    codes.push(("ADD a".to_string(), rc));
    let (rc, add_b) = net.plugin("ADD", "cb", &b, &conf);
    codes.push(("ADD b".to_string(), rc));
    let third = net.subnet_third;
    // addresses as offsets in the subnet, from the results and from the kernel
    let offset = |r: &Value| {
        r["ips"][0]["address"]
            .as_str()
            .unwrap_or("")
            .replace(&format!("10.244.{third}."), "")
    };
    let kernel_addr = |ns: &str| {
        let o = net.in_netns(ns, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .nth(3)
            .unwrap_or("")
            .replace(&format!("10.244.{third}."), "")
    };
    let addresses = vec![
        offset(&add_a),
        offset(&add_b),
        kernel_addr(&a),
        kernel_addr(&b),
    ];
    let routes_a = String::from_utf8_lossy(&net.in_netns(&a, &["ip", "-4", "route"]).stdout)
        .replace(&format!("10.244.{third}."), "X.");
    let lo = String::from_utf8_lossy(
        &net.in_netns(&a, &["ip", "-o", "link", "show", "dev", "lo"])
            .stdout,
    )
    .into_owned();
    let lo_up_a = lo
        .split(['<', '>'])
        .nth(1)
        .unwrap_or_else(|| panic!("no flags for lo: {lo:?}"))
        .split(',')
        .any(|f| f == "UP");
    let result_routes = add_a["routes"]
        .to_string()
        .replace(&format!("10.244.{third}."), "X.");
    let mut check_conf = conf.clone();
    check_conf["prevResult"] = add_a.clone();
    codes.push((
        "CHECK a".to_string(),
        net.plugin("CHECK", "ca", &a, &check_conf).0,
    ));
    let ip_b = add_b["ips"][0]["address"]
        .as_str()
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let busybox = rootfs_dir().join("bin/busybox");
    let ping = net
        .in_netns(
            &a,
            &[
                busybox.to_str().unwrap(),
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                &ip_b,
            ],
        )
        .status
        .success();
    codes.push(("DEL a".to_string(), net.plugin("DEL", "ca", &a, &conf).0));
    codes.push((
        "DEL a again".to_string(),
        net.plugin("DEL", "ca", &a, &conf).0,
    ));
    let ip_files_after_first_del = net.ip_files().len();
    assert!(Command::new("ip")
        .args(["netns", "del", &b])
        .status()
        .unwrap()
        .success());
    codes.push((
        "DEL b after netns del".to_string(),
        net.plugin("DEL", "cb", &b, &conf).0,
    ));
    // The kernel tears a deleted netns down asynchronously: its veth leaves the bridge a little
    // later (podrun's DEL removes it at once, the reference plugin leaves it to the kernel).
    // Compare end states: wait until the bridge has no port, for at most 5 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let bridge_ports_end = loop {
        let n = net.bridge_ports();
        if n == 0 || std::time::Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Outcome {
        exit_codes: codes,
        addresses,
        routes_a,
        lo_up_a,
        result_routes,
        ping,
        ip_files_after_first_del,
        bridge_ports_end,
        ip_files_end: net.ip_files().len(),
        bridge_left: Path::new("/sys/class/net").join(&net.bridge).exists(),
    }
}

fn podrun_cni(dir: &Path) -> PathBuf {
    let link = dir.join("podrun-cni");
    std::os::unix::fs::symlink(podrun_bin(), &link).unwrap();
    link
}

#[test]
fn conformance_with_the_reference_bridge_and_host_local_plugins() {
    let mut reference = Net::new("r", PathBuf::from(REFERENCE), 212);
    let mut ours = Net::new("p", PathBuf::new(), 213);
    ours.plugin = podrun_cni(&ours.dir);
    let want = conformance(&mut reference);
    let got = conformance(&mut ours);
    assert!(
        want.ping,
        "the reference plugins' pods cannot ping each other: {want:?}"
    );
    assert!(want.exit_codes.iter().all(|(_, c)| *c == 0), "{want:?}");
    assert_eq!(got, want, "podrun-cni differs from bridge + host-local");
    // the separate podrun-cni executable (the CNI-only build) behaves the same
    let mut bin = Net::new("q", PathBuf::from(env!("CARGO_BIN_EXE_podrun-cni")), 217);
    let got_bin = conformance(&mut bin);
    assert_eq!(
        got_bin, want,
        "the podrun-cni executable differs from bridge + host-local"
    );
    assert_eq!(want.addresses, vec!["2/24", "3/24", "2/24", "3/24"]);
    assert!(
        want.routes_a.contains("10.244.0.0/16 via X.1 dev eth0"),
        "{}",
        want.routes_a
    );
    assert_eq!(got.ip_files_end, 0);
}

#[test]
fn podrun_cni_subcommand_and_version() {
    let net = Net::new("v", podrun_bin(), 214);
    let out = Command::new(podrun_bin())
        .arg("cni")
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "1.0.0"),
        "{v}"
    );
    drop(net);
}

#[test]
fn bad_input_gets_cni_errors_and_makes_nothing() {
    let mut net = Net::new("b", PathBuf::new(), 215);
    net.plugin = podrun_cni(&net.dir);
    let ns = net.add_netns("x");
    let conf = net.config();
    // invalid JSON: decoding failure (6)
    let (rc, err) = net.plugin("ADD", "c1", &ns, &json!("{not json"));
    assert_eq!((rc, err["code"].as_u64()), (1, Some(6)), "{err}");
    // missing CNI_NETNS on ADD: invalid environment (4)
    let (rc, err) = net.plugin("ADD", "c1", "", &conf);
    assert_eq!((rc, err["code"].as_u64()), (1, Some(4)), "{err}");
    assert!(err["msg"].as_str().unwrap().contains("CNI_NETNS"), "{err}");
    // unknown command (4)
    let (rc, err) = net.plugin("FROB", "c1", &ns, &conf);
    assert_eq!((rc, err["code"].as_u64()), (1, Some(4)), "{err}");
    // ipMasq asks for NAT: refused (7)
    let mut masq = conf.clone();
    masq["ipMasq"] = json!(true);
    let (rc, err) = net.plugin("ADD", "c1", &ns, &masq);
    assert_eq!((rc, err["code"].as_u64()), (1, Some(7)), "{err}");
    // a netns path that does not exist
    let (rc, err) = net.plugin("ADD", "c1", "no-such-netns", &conf);
    assert_eq!((rc, err["code"].as_u64()), (1, Some(4)), "{err}");
    assert!(
        !Path::new("/sys/class/net").join(&net.bridge).exists(),
        "a refused ADD made the bridge"
    );
    assert!(
        net.ip_files().is_empty(),
        "a refused ADD allocated an address"
    );
}

#[test]
fn cni_args_ip_picks_the_address_like_host_local() {
    let mut net = Net::new("a", PathBuf::new(), 216);
    net.plugin = podrun_cni(&net.dir);
    let conf = net.config();
    let (a, b) = (net.add_netns("a"), net.add_netns("b"));
    // Kubernetes' arguments plus IP=: the address asked for
    let k8s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;IP=10.244.216.77";
    let (rc, res) = net.plugin_with_args("ADD", "ca", &a, &conf, k8s);
    assert_eq!(rc, 0, "{res}");
    assert_eq!(res["ips"][0]["address"], "10.244.216.77/24", "{res}");
    // the same address again: refused, nothing made for the second container
    let (rc, err) = net.plugin_with_args("ADD", "cb", &b, &conf, "IP=10.244.216.77");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err["details"]
            .as_str()
            .unwrap_or("")
            .contains("10.244.216.77"),
        "{err}"
    );
    // an unknown argument without IgnoreUnknown: invalid environment
    let (rc, err) = net.plugin_with_args("ADD", "cb", &b, &conf, "K8S_POD_NAME=web");
    assert_eq!((rc, err["code"].as_u64()), (1, Some(4)), "{err}");
    assert_eq!(net.ip_files(), vec!["10.244.216.77".to_string()]);
    assert_eq!(
        net.bridge_ports(),
        1,
        "a refused ADD left a veth on the bridge"
    );
    assert_eq!(net.plugin("DEL", "ca", &a, &conf).0, 0);
    assert!(net.ip_files().is_empty());
}

/// `net.ipv4.ip_forward` of the plugin's own "host" netns after an ADD with `isGateway` false
/// and then after one with `isGateway` true (it starts at 0).
fn ip_forward_after_adds(tag: &str, plugin: Option<PathBuf>, third: u8) -> (String, String) {
    let mut net = Net::new(tag, plugin.clone().unwrap_or_default(), third);
    if plugin.is_none() {
        net.plugin = podrun_cni(&net.dir);
    }
    let host = net.add_netns("host");
    let forward = |net: &Net| {
        let out = net.in_netns(&host, &["cat", "/proc/sys/net/ipv4/ip_forward"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let off = net.in_netns(
        &host,
        &["sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"],
    );
    assert!(off.status.success(), "{off:?}");
    assert_eq!(forward(&net), "0");
    net.host_netns = Some(host.clone());
    let (a, b) = (net.add_netns("a"), net.add_netns("b"));
    let mut conf = json!({
        "cniVersion": "1.0.0", "name": format!("prc-{tag}"), "type": "bridge",
        "bridge": net.bridge, "isGateway": false,
        "ipam": {"type": "host-local", "subnet": format!("10.244.{third}.0/24"), "dataDir": net.dir.join("ipam")}
    });
    let (rc, res) = net.plugin("ADD", "ca", &a, &conf);
    assert_eq!(rc, 0, "{tag}: {res}");
    let without_gateway = forward(&net);
    conf["isGateway"] = json!(true);
    let (rc, res) = net.plugin("ADD", "cb", &b, &conf);
    assert_eq!(rc, 0, "{tag}: {res}");
    let with_gateway = forward(&net);
    for (c, ns) in [("ca", &a), ("cb", &b)] {
        assert_eq!(net.plugin("DEL", c, ns, &conf).0, 0, "{tag}: DEL {c}");
    }
    (without_gateway, with_gateway)
}

#[test]
fn ip_forward_is_turned_on_only_for_a_gateway_bridge_like_the_reference_plugin() {
    let want = ip_forward_after_adds("fr", Some(PathBuf::from(REFERENCE)), 218);
    assert_eq!(want, ("0".into(), "1".into()), "the reference plugin");
    let got = ip_forward_after_adds("fp", None, 219);
    assert_eq!(
        got, want,
        "podrun-cni differs from the reference bridge plugin"
    );
}

#[test]
fn podrun_cni_takes_subnet_and_mtu_from_the_node_agents_subnet_file() {
    let mut net = Net::new("s", PathBuf::new(), 220);
    net.plugin = podrun_cni(&net.dir);
    let file = net.dir.join("subnet.env");
    std::fs::write(
        &file,
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.220.1/24\nFLANNEL_MTU=1410\nFLANNEL_IPMASQ=false\n",
    )
    .unwrap();
    // flannel CNI's shape: no subnet in ipam, the node's lease from subnetFile
    let conf = json!({
        "cniVersion": "1.0.0", "name": "prc-s", "type": "podrun-cni", "bridge": net.bridge,
        "isGateway": true, "subnetFile": file,
        "ipam": {"type": "host-local", "dataDir": net.dir.join("ipam")}
    });
    let (a, b) = (net.add_netns("a"), net.add_netns("b"));
    let (rc, res) = net.plugin("ADD", "ca", &a, &conf);
    assert_eq!(rc, 0, "{res}");
    let addr = res["ips"][0]["address"].as_str().unwrap_or("");
    assert!(
        addr.starts_with("10.244.220.") && addr.ends_with("/24"),
        "{res}"
    );
    let link = String::from_utf8_lossy(&net.in_netns(&a, &["ip", "link", "show", "eth0"]).stdout)
        .into_owned();
    assert!(link.contains("mtu 1410"), "{link}");
    let routes =
        String::from_utf8_lossy(&net.in_netns(&a, &["ip", "route", "show"]).stdout).into_owned();
    assert!(
        routes.contains("10.244.0.0/16 via 10.244.220.1 dev eth0"),
        "{routes}"
    );
    // without the file: a clear config error, nothing made
    std::fs::remove_file(&file).unwrap();
    let (rc, err) = net.plugin("ADD", "cb", &b, &conf);
    assert_eq!((rc, err["code"].as_u64()), (1, Some(7)), "{err}");
    assert!(
        err["msg"].as_str().unwrap_or("").contains("subnet file"),
        "{err}"
    );
    // DEL reads the file too (as flannel's CNI needs its config): the agent keeps it
    std::fs::write(
        &file,
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.220.1/24\nFLANNEL_MTU=1410\nFLANNEL_IPMASQ=false\n",
    )
    .unwrap();
    assert_eq!(net.plugin("DEL", "ca", &a, &conf).0, 0);
    assert!(net.ip_files().is_empty());
}
