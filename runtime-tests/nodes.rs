//! Pods across nodes: two "nodes" simulated as network namespaces joined by a veth underlay
//! (10.244.200.0/24, test-only), each running podrun with its own --root, IPAM store, bridge
//! and pod subnet (10.244.1.0/24, 10.244.2.0/24). A pod on node 1 fetches from a pod on node 2
//! by IP, first with `podrun node up` in host-gw mode, then in vxlan mode (the VXLAN device's
//! packet counters prove it carried the traffic), and the server sees the client pod's own
//! address (no NAT). Nothing here is in the host's netns: the nodes' links die with their
//! namespaces, and a Drop guard deletes pods, `node down`s and removes the namespaces.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::common::{describe, pid_alive, podrun_bin, TestEnv};

const UNDERLAY: &str = "10.244.200";

/// One simulated node: a netns, its podrun state root and IPAM store, its bridge and subnet.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) env: TestEnv,
    pub(crate) subnet_third: u8,
    pub(crate) index: u8,
}

impl Node {
    fn address(&self) -> String {
        format!("{UNDERLAY}.{}", self.index)
    }

    fn subnet(&self) -> String {
        format!("10.244.{}.0/24", self.subnet_third)
    }

    fn store(&self) -> PathBuf {
        self.env.dir.join("ipam")
    }

    /// `podrun --root <node root> ARGS` run inside the node's netns.
    pub(crate) fn podrun(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(podrun_bin())
            .arg("--root")
            .arg(&self.env.root)
            .args(args);
        self.env.output_via_files(&mut cmd)
    }

    pub(crate) fn podrun_ok(&self, args: &[&str]) -> String {
        let out = self.podrun(args);
        assert!(
            out.status.success(),
            "{}: podrun {}: {}",
            self.name,
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n <node netns> ARGS`, stdout.
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.netns)
            .args(args)
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip -n {} {}: {}",
            self.netns,
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A pod on this node's bridge; returns its address (no prefix).
    fn pod(&self, name: &str) -> String {
        let (subnet, store) = (self.subnet(), self.store());
        self.podrun_ok(&[
            "pod",
            "create",
            "--bridge",
            "prnodebr",
            "--subnet",
            &subnet,
            "--mtu",
            "1450",
            "--store-dir",
            store.to_str().expect("utf8"),
            name,
        ]);
        let state: Value =
            serde_json::from_str(&self.podrun_ok(&["pod", "state", name])).expect("pod state JSON");
        let ip = state["ip"].as_str().expect("pod ip").to_string();
        ip.split('/').next().expect("cidr").to_string()
    }

    fn node_up(&self, peers: &Path) -> String {
        let out = self.podrun(&[
            "node",
            "up",
            "--config",
            peers.to_str().expect("utf8"),
            "--node",
            &self.name,
        ]);
        assert!(
            out.status.success(),
            "{}: node up: {}",
            self.name,
            describe(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub(crate) fn vxlan_packets(&self, dir: &str) -> u64 {
        self.vxlan_packets_of("podrun.1", dir)
    }

    pub(crate) fn vxlan_packets_of(&self, dev: &str, dir: &str) -> u64 {
        let v: Value =
            serde_json::from_str(&self.ip(&["-j", "-s", "link", "show", dev])).expect("ip -j");
        v[0]["stats64"][dir]["packets"]
            .as_u64()
            .expect("packet counter")
    }
}

/// The nodes of one test, torn down in Drop (pods, node routes/devices, namespaces).
struct Cluster {
    nodes: Vec<Node>,
    tag: String,
}

impl Cluster {
    /// `count` nodes in one underlay: node 1 and 2 are joined by a veth pair (`ul0`).
    fn new(test: &str, count: u8) -> Cluster {
        let tag = format!("{}", std::process::id());
        let mut c = Cluster {
            nodes: Vec::new(),
            tag,
        };
        for i in 1..=count {
            let netns = format!("prnode-{test}-{}-n{i}", c.tag);
            let st = Command::new("ip")
                .args(["netns", "add", &netns])
                .status()
                .expect("ip netns add");
            assert!(st.success(), "ip netns add {netns}");
            c.nodes.push(Node {
                name: format!("n{i}"),
                netns,
                env: TestEnv::new(&format!("node-{test}-n{i}")),
                subnet_third: i,
                index: i,
            });
            c.nodes[usize::from(i - 1)].ip(&["link", "set", "lo", "up"]);
        }
        if count >= 2 {
            let (a, b) = (&c.nodes[0], &c.nodes[1]);
            a.ip(&[
                "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", &b.netns,
            ]);
            for n in [a, b] {
                n.ip(&["addr", "add", &format!("{}/24", n.address()), "dev", "ul0"]);
                n.ip(&["link", "set", "ul0", "up"]);
            }
        }
        c
    }

    fn peers(&self, backend: &str) -> PathBuf {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| json!({"name": n.name, "address": n.address(), "subnet": n.subnet()}))
            .collect();
        let path = self.nodes[0].env.dir.join(format!("peers-{backend}.json"));
        std::fs::write(
            &path,
            json!({"backend": backend, "nodes": nodes}).to_string(),
        )
        .expect("write peers");
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &self.nodes {
            if let Ok(rd) = std::fs::read_dir(n.env.root.join("pods")) {
                for pod in rd
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                {
                    let out = n.podrun(&["pod", "delete", "--force", &pod]);
                    if !out.status.success() {
                        eprintln!("cleanup: {}: pod delete {pod}: {}", n.name, describe(&out));
                    }
                }
            }
            let _ = n.podrun(&["node", "down"]);
            let _ = Command::new("ip").args(["netns", "del", &n.netns]).status();
        }
    }
}

/// A busybox httpd in a container of `pod` whose CGI `/cgi-bin/ip` answers the client's
/// address (REMOTE_ADDR); returns the container id.
pub(crate) fn serve_remote_addr(node: &Node, pod: &str) -> String {
    let www = node.env.dir.join(format!("www-{pod}"));
    std::fs::create_dir_all(www.join("cgi-bin")).expect("mkdir www");
    let cgi = www.join("cgi-bin/ip");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$REMOTE_ADDR\"\n",
    )
    .expect("write cgi");
    std::fs::set_permissions(&cgi, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod cgi");
    let bundle = node.env.bundle("sleeper", |spec| {
        spec["process"]["args"] = json!(["httpd", "-f", "-p", "8080", "-h", "/var"]);
        spec["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/var", "type": "bind", "source": www, "options": ["rbind", "ro"]
        }));
    });
    let id = format!("srv-{pod}");
    node.podrun_ok(&[
        "run",
        "-d",
        "--pod",
        pod,
        "--bundle",
        bundle.to_str().expect("utf8"),
        &id,
    ]);
    id
}

/// From a container of `pod` on `node`: GET http://<ip>:8080/cgi-bin/ip. The body, or None
/// when the fetch failed.
pub(crate) fn fetch(node: &Node, pod: &str, ip: &str, n: usize) -> Option<String> {
    let url = format!("http://{ip}:8080/cgi-bin/ip");
    let bundle = node.env.bundle("hello", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", format!("timeout 5 wget -qO- {url}")]);
    });
    let id = format!("client-{pod}-{n}");
    let out = node.podrun(&[
        "run",
        "--pod",
        pod,
        "--bundle",
        bundle.to_str().expect("utf8"),
        &id,
    ]);
    // busybox httpd listens on tcp6: an IPv4 client shows as [::ffff:a.b.c.d]
    let body = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("[::ffff:")
        .trim_end_matches(']')
        .to_string();
    out.status.success().then_some(body)
}

/// Waits (bounded) until `fetch` succeeds: the server container needs a moment to listen.
pub(crate) fn fetch_when_listening(
    node: &Node,
    pod: &str,
    ip: &str,
    n: &mut usize,
) -> Option<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        *n += 1;
        if let Some(body) = fetch(node, pod, ip, *n) {
            return Some(body);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn nodes_pods_reach_each_other_with_host_gw_then_vxlan() {
    let cluster = Cluster::new("route", 2);
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let tag = &cluster.tag;
    let (p1, p2) = (format!("prn1-{tag}"), format!("prn2-{tag}"));
    let ip1 = n1.pod(&p1);
    let ip2 = n2.pod(&p2);
    assert!(
        ip1.starts_with("10.244.1.") && ip2.starts_with("10.244.2."),
        "{ip1} {ip2}"
    );
    serve_remote_addr(n1, &p1);
    serve_remote_addr(n2, &p2);
    let mut n = 0;
    // each server is reachable inside its own node (the pod's own address, over its bridge)
    assert_eq!(
        fetch_when_listening(n2, &p2, &ip2, &mut n).as_deref(),
        Some(ip2.as_str())
    );
    assert_eq!(
        fetch_when_listening(n1, &p1, &ip1, &mut n).as_deref(),
        Some(ip1.as_str())
    );
    // no node routes yet: node 2's pods are unreachable from node 1
    n += 1;
    assert_eq!(
        fetch(n1, &p1, &ip2, n),
        None,
        "reached another node's pod without node routes"
    );

    // host-gw: a route per remote pod subnet via the remote node's address
    let hostgw = cluster.peers("host-gw");
    n1.node_up(&hostgw);
    n2.node_up(&hostgw);
    let route = n1.ip(&["-d", "route", "show", "10.244.2.0/24"]);
    assert!(
        route.contains(&format!("via {UNDERLAY}.2 dev ul0")) && route.contains("proto boot"),
        "{route}"
    );
    n += 1;
    assert_eq!(
        fetch(n1, &p1, &ip2, n).as_deref(),
        Some(ip1.as_str()),
        "host-gw: pod 1 -> pod 2 (source kept)"
    );
    n += 1;
    assert_eq!(
        fetch(n2, &p2, &ip1, n).as_deref(),
        Some(ip2.as_str()),
        "host-gw: pod 2 -> pod 1 (source kept)"
    );
    // up again with the same list: a no-op
    let routes_before = n1.ip(&["route", "show"]);
    assert!(n1.node_up(&hostgw).contains("already up"));
    assert_eq!(n1.ip(&["route", "show"]), routes_before);
    let show: Value =
        serde_json::from_str(&n1.podrun_ok(&["node", "show"])).expect("node show JSON");
    assert_eq!(show["up"], true, "{show}");
    assert_eq!(
        show["routes"],
        json!([["10.244.2.0/24", format!("{UNDERLAY}.2")]]),
        "{show}"
    );
    // another list while up is refused
    let vxlan = cluster.peers("vxlan");
    let out = n1.podrun(&[
        "node",
        "up",
        "--config",
        vxlan.to_str().expect("utf8"),
        "--node",
        "n1",
    ]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("node down first"),
        "{}",
        describe(&out)
    );
    // down removes exactly the routes
    for node in [n1, n2] {
        node.podrun_ok(&["node", "down"]);
    }
    assert_eq!(n1.ip(&["route", "show", "10.244.2.0/24"]), "");
    assert!(
        !n1.env.root.join("node").exists(),
        "node down left its state"
    );
    n += 1;
    assert_eq!(
        fetch(n1, &p1, &ip2, n),
        None,
        "reached node 2's pod after node down"
    );

    // vxlan: podrun.1 with the node subnet's address, onlink routes, neighbour and FDB entries
    n1.node_up(&vxlan);
    n2.node_up(&vxlan);
    let dev = n1.ip(&["-d", "link", "show", "podrun.1"]);
    assert!(
        dev.contains("vxlan id 1") && dev.contains("dstport 8472") && dev.contains("mtu 1450"),
        "{dev}"
    );
    assert!(
        dev.contains(&format!("local {UNDERLAY}.1")) && dev.contains("nolearning"),
        "{dev}"
    );
    let route = n1.ip(&["route", "show", "10.244.2.0/24"]);
    assert!(
        route.contains("via 10.244.2.0 dev podrun.1") && route.contains("onlink"),
        "{route}"
    );
    let show2: Value =
        serde_json::from_str(&n2.podrun_ok(&["node", "show"])).expect("node show JSON");
    let mac2 = show2["vtepMac"].as_str().expect("vtepMac").to_string();
    assert!(n2.ip(&["link", "show", "podrun.1"]).contains(&mac2));
    let neigh = n1.ip(&["neigh", "show", "dev", "podrun.1"]);
    assert!(
        neigh.contains(&format!("10.244.2.0 lladdr {mac2} PERMANENT")),
        "{neigh}"
    );
    let fdb = String::from_utf8_lossy(
        &Command::new("bridge")
            .args(["-n", &n1.netns, "fdb", "show", "dev", "podrun.1"])
            .output()
            .expect("bridge fdb")
            .stdout,
    )
    .into_owned();
    assert!(
        fdb.contains(&format!("{mac2} dst {UNDERLAY}.2")) && fdb.contains("permanent"),
        "{fdb}"
    );
    let (tx1, rx2) = (n1.vxlan_packets("tx"), n2.vxlan_packets("rx"));
    n += 1;
    assert_eq!(
        fetch(n1, &p1, &ip2, n).as_deref(),
        Some(ip1.as_str()),
        "vxlan: pod 1 -> pod 2 (source kept)"
    );
    n += 1;
    assert_eq!(
        fetch(n2, &p2, &ip1, n).as_deref(),
        Some(ip2.as_str()),
        "vxlan: pod 2 -> pod 1 (source kept)"
    );
    let (tx1_after, rx2_after) = (n1.vxlan_packets("tx"), n2.vxlan_packets("rx"));
    assert!(
        tx1_after >= tx1 + 3 && rx2_after >= rx2 + 3,
        "VXLAN did not carry the traffic: tx {tx1}->{tx1_after}, rx {rx2}->{rx2_after}"
    );
    for node in [n1, n2] {
        node.podrun_ok(&["node", "down"]);
        assert!(
            !node.ip(&["link", "show"]).contains("podrun.1"),
            "{}: podrun.1 left after node down",
            node.name
        );
        assert_eq!(node.ip(&["route", "show", "10.244.0.0/16"]), "");
    }
    // down when not up: fine
    assert!(n1.podrun_ok(&["node", "down"]).is_empty());

    // the pods are removed and their pause processes are gone
    let pauses: Vec<i32> = [(n1, &p1), (n2, &p2)]
        .iter()
        .map(|(node, pod)| {
            let v: Value =
                serde_json::from_str(&node.podrun_ok(&["pod", "state", pod])).expect("pod state");
            v["pid"].as_i64().expect("pid") as i32
        })
        .collect();
    n1.podrun_ok(&["pod", "delete", "--force", &p1]);
    n2.podrun_ok(&["pod", "delete", "--force", &p2]);
    for pid in pauses {
        assert!(!pid_alive(pid), "pause {pid} survived pod delete");
    }
    assert_eq!(
        n1.ip(&["link", "show", "type", "veth"])
            .lines()
            .filter(|l| l.contains("veth"))
            .count(),
        0
    );
}

#[test]
fn nodes_bad_peer_lists_make_nothing() {
    let cluster = Cluster::new("bad", 2);
    let n1 = &cluster.nodes[0];
    let links = n1.ip(&["link", "show"]);
    let routes = n1.ip(&["route", "show"]);
    let write = |name: &str, text: &str| {
        let p = n1.env.dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let node = |name: &str, addr: &str, subnet: &str| json!({"name": name, "address": addr, "subnet": subnet});
    let cases = vec![
        ("not json", write("a.json", "{\"backend\": "), "a.json"),
        (
            "named twice",
            write(
                "b.json",
                &json!({"backend": "host-gw", "nodes": [node("n1", "10.244.200.1", "10.244.1.0/24"), node("n1", "10.244.200.3", "10.244.3.0/24")]})
                    .to_string(),
            ),
            "listed twice",
        ),
        (
            "overlap",
            write(
                "c.json",
                &json!({"backend": "host-gw", "nodes": [node("n1", "10.244.200.1", "10.244.0.0/16"), node("n2", "10.244.200.2", "10.244.2.0/24")]})
                    .to_string(),
            ),
            "overlap",
        ),
        (
            "not listed",
            write("d.json", &json!({"backend": "host-gw", "nodes": [node("n2", "10.244.200.2", "10.244.2.0/24")]}).to_string()),
            "not in the peer list",
        ),
        (
            "unknown backend",
            write("e.json", &json!({"backend": "ipsec", "nodes": [node("n1", "10.244.200.1", "10.244.1.0/24")]}).to_string()),
            "ipsec",
        ),
        (
            // the second route cannot be added (its gateway is on no link): the first goes too
            "unreachable peer",
            write(
                "f.json",
                &json!({"backend": "host-gw", "nodes": [node("n1", "10.244.200.1", "10.244.1.0/24"),
                    node("n2", "10.244.200.2", "10.244.2.0/24"), node("n3", "10.244.201.3", "10.244.3.0/24")]})
                .to_string(),
            ),
            "10.244.3.0/24 via 10.244.201.3",
        ),
        (
            "vxlan without the node address",
            write(
                "g.json",
                &json!({"backend": "vxlan", "nodes": [node("n1", "10.244.202.1", "10.244.1.0/24"), node("n2", "10.244.200.2", "10.244.2.0/24")]})
                    .to_string(),
            ),
            "no interface here holds the node address 10.244.202.1",
        ),
    ];
    for (what, path, want) in cases {
        let out = n1.podrun(&[
            "node",
            "up",
            "--config",
            path.to_str().expect("utf8"),
            "--node",
            "n1",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{what}: node up succeeded: {}",
            describe(&out)
        );
        assert!(
            err.contains(want),
            "{what}: the error does not say {want:?}: {err}"
        );
        assert_eq!(n1.ip(&["link", "show"]), links, "{what}: links changed");
        assert_eq!(n1.ip(&["route", "show"]), routes, "{what}: routes changed");
        assert!(
            !n1.env.root.join("node/state.json").exists(),
            "{what}: state left"
        );
    }
}
