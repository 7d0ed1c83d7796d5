//! The node agent (`podrun node join`) against a real etcd: nodes simulated as network
//! namespaces on one underlay (a bridge in the test's own "underlay" netns, 10.244.200.0/24,
//! test-only), one agent each running inside its node's netns. etcd (Debian's etcd-server)
//! runs inside the underlay netns with its own data dir, listening on its 127.0.0.1 and on the
//! underlay bridge's 10.244.200.254 (where the agents reach it); the test starts, restarts and
//! stops it by its PID. Pods take their subnet and MTU from their node agent's subnet file.
//! Everything (agents, etcd, pods, namespaces) is removed by Drop guards, also on failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{describe, TestEnv};
use crate::nodes::{fetch, fetch_when_listening, serve_remote_addr, Node};

const UL: &str = "10.244.200";
const PREFIX: &str = "/coreos.com/network";
const TTL: &str = "2";

fn unique_tag(test: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{test}{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (bounded) until `cond` holds; false on timeout.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// etcd inside the underlay netns, stopped by its PID.
struct Etcd {
    netns: String,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Etcd {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("etcd log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(&self.data)
            .args([
                "--listen-client-urls",
                &format!("http://{UL}.254:2379,http://127.0.0.1:2379"),
                "--advertise-client-urls",
                &format!("http://{UL}.254:2379"),
                "--listen-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-cluster",
                "t=http://127.0.0.1:2380",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("start etcd (Debian etcd-server: scripts/setup.sh)");
        self.child = Some(child);
        assert!(
            wait_until(Duration::from_secs(20), || self
                .etcdctl(&["endpoint", "health"])
                .status
                .success()),
            "etcd did not come up: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM to the recorded PID
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.netns, "etcdctl"])
            .args([
                "--endpoints",
                "http://127.0.0.1:2379",
                "--dial-timeout",
                "1s",
            ])
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl (Debian etcd-client)")
    }

    fn put(&self, key: &str, value: &str) {
        let out = self.etcdctl(&["put", key, value]);
        assert!(out.status.success(), "etcdctl put: {}", describe(&out));
    }

    /// subnet key -> value
    fn leases(&self) -> Vec<(String, Value)> {
        let out = self.etcdctl(&["get", "--prefix", &format!("{PREFIX}/subnets/")]);
        assert!(out.status.success(), "etcdctl get: {}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .map(|kv| {
                (
                    kv[0].to_string(),
                    serde_json::from_str(kv[1]).expect("lease JSON"),
                )
            })
            .collect()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A node with its agent.
struct AgentNode {
    node: Node,
    agent: Option<Child>,
    starts: usize,
}

impl AgentNode {
    fn subnet_file(&self) -> PathBuf {
        self.node.env.dir.join("subnet.env")
    }

    fn address(&self) -> String {
        format!("{UL}.{}", self.node.index)
    }

    fn agent_log(&self) -> PathBuf {
        self.node.env.dir.join(format!("agent-{}.log", self.starts))
    }

    /// Starts `podrun node join` inside the node's netns (not waiting for it).
    fn spawn_agent(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.agent_log()).expect("agent log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.node.netns))
            .arg(crate::common::podrun_bin())
            .arg("--root")
            .arg(&self.node.env.root)
            .args([
                "node",
                "join",
                "--etcd-endpoints",
                &format!("http://{UL}.254:2379"),
                "--public-ip",
                &self.address(),
                "--lease-ttl",
                TTL,
                "--subnet-file",
            ])
            .arg(self.subnet_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn node join");
        self.agent = Some(child);
    }

    /// Waits until this start of the agent says it joined; its subnet.
    fn wait_joined(&mut self) -> String {
        let joined = wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(self.agent_log())
                .unwrap_or_default()
                .contains("joined: subnet")
        });
        let log = std::fs::read_to_string(self.agent_log()).unwrap_or_default();
        if !joined {
            let status = self
                .agent
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            panic!("{}: agent did not join ({status:?}): {log}", self.node.name);
        }
        self.subnet()
    }

    fn join(&mut self) -> String {
        self.spawn_agent();
        self.wait_joined()
    }

    /// The node's subnet from its subnet file ("10.244.N.0/24").
    fn subnet(&self) -> String {
        let text = std::fs::read_to_string(self.subnet_file()).expect("subnet file");
        let sub = text
            .lines()
            .find_map(|l| l.strip_prefix("FLANNEL_SUBNET="))
            .expect("FLANNEL_SUBNET");
        let (ip, prefix) = sub.split_once('/').expect("cidr");
        let mut o: Vec<u8> = ip.split('.').map(|x| x.parse().expect("octet")).collect();
        o[3] = 0;
        format!("{}.{}.{}.0/{prefix}", o[0], o[1], o[2])
    }

    fn mtu(&self) -> String {
        std::fs::read_to_string(self.subnet_file())
            .expect("subnet file")
            .lines()
            .find_map(|l| l.strip_prefix("FLANNEL_MTU=").map(str::to_string))
            .expect("FLANNEL_MTU")
    }

    fn leave(&mut self) {
        let out = self.node.podrun(&["node", "leave"]);
        assert!(out.status.success(), "node leave: {}", describe(&out));
        let mut c = self.agent.take().expect("agent running");
        let st = c.wait().expect("wait agent");
        assert!(st.success(), "agent exit after leave: {st:?}");
        let log = std::fs::read_to_string(self.agent_log()).unwrap_or_default();
        assert!(log.contains("left (lease"), "{log}");
    }

    fn kill9(&mut self) {
        let mut c = self.agent.take().expect("agent running");
        c.kill().expect("SIGKILL the agent");
        let _ = c.wait();
    }

    /// The node's routes via somewhere (what the agent adds), sorted.
    fn routes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .node
            .ip(&["route", "show"])
            .lines()
            .filter(|l| l.contains(" via "))
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v
    }

    fn has_route_to(&self, subnet: &str) -> bool {
        self.routes()
            .iter()
            .any(|r| r.starts_with(&format!("{subnet} ")))
    }

    /// A pod on this node with no --subnet and no --mtu: both from the subnet file.
    fn pod(&self, name: &str) -> String {
        let store = self.node.env.dir.join("ipam");
        self.node.podrun_ok(&[
            "pod",
            "create",
            "--bridge",
            "pranbr",
            "--subnet-file",
            self.subnet_file().to_str().expect("utf8"),
            "--store-dir",
            store.to_str().expect("utf8"),
            name,
        ]);
        let state: Value = serde_json::from_str(&self.node.podrun_ok(&["pod", "state", name]))
            .expect("pod state JSON");
        let ip = state["ip"].as_str().expect("pod ip").to_string();
        ip.split('/').next().expect("cidr").to_string()
    }
}

struct Cluster {
    tag: String,
    ul: String,
    env: TestEnv,
    etcd: Etcd,
    nodes: Vec<AgentNode>,
}

impl Cluster {
    fn new(test: &str, count: u8, config: &str) -> Cluster {
        let tag = unique_tag(test);
        let ul = format!("pra-{tag}-ul");
        let env = TestEnv::new(&format!("agent-{test}"));
        sh(&["ip", "netns", "add", &ul]);
        let mut c = Cluster {
            etcd: Etcd {
                netns: ul.clone(),
                data: env.dir.join("etcd-data"),
                log: env.dir.join("etcd.log"),
                child: None,
            },
            tag,
            ul: ul.clone(),
            env,
            nodes: Vec::new(),
        };
        sh(&["ip", "-n", &ul, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", &ul, "link", "add", "ulbr", "type", "bridge"]);
        sh(&[
            "ip",
            "-n",
            &ul,
            "addr",
            "add",
            &format!("{UL}.254/24"),
            "dev",
            "ulbr",
        ]);
        sh(&["ip", "-n", &ul, "link", "set", "ulbr", "up"]);
        for i in 1..=count {
            c.add_node(i);
        }
        c.etcd.start();
        c.etcd.put(&format!("{PREFIX}/config"), config);
        c
    }

    fn add_node(&mut self, i: u8) {
        let netns = format!("pra-{}-n{i}", self.tag);
        sh(&["ip", "netns", "add", &netns]);
        let node = Node {
            name: format!("n{i}"),
            netns: netns.clone(),
            env: TestEnv::new(&format!("agent-{}-n{i}", self.tag)),
            subnet_third: 0,
            index: i,
        };
        self.nodes.push(AgentNode {
            node,
            agent: None,
            starts: 0,
        });
        sh(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "-n",
            &self.ul,
            "link",
            "add",
            &format!("ul{i}"),
            "type",
            "veth",
            "peer",
            "name",
            "ul0",
            "netns",
            &netns,
        ]);
        sh(&[
            "ip",
            "-n",
            &self.ul,
            "link",
            "set",
            &format!("ul{i}"),
            "master",
            "ulbr",
            "up",
        ]);
        sh(&[
            "ip",
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{UL}.{i}/24"),
            "dev",
            "ul0",
        ]);
        sh(&["ip", "-n", &netns, "link", "set", "ul0", "up"]);
    }

    fn pod_name(&self, n: usize) -> String {
        format!("pra{n}-{}", std::process::id())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.agent.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if let Ok(rd) = std::fs::read_dir(n.node.env.root.join("pods")) {
                for pod in rd
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                {
                    let out = n.node.podrun(&["pod", "delete", "--force", &pod]);
                    if !out.status.success() {
                        eprintln!("cleanup: pod delete {pod}: {}", describe(&out));
                    }
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &n.node.netns])
                .status();
        }
        self.etcd.stop();
        let _ = Command::new("ip").args(["netns", "del", &self.ul]).status();
        let _ = &self.env;
    }
}

const WAIT: Duration = Duration::from_secs(10);

fn host_gw_config() -> String {
    r#"{"Network": "10.244.0.0/16", "SubnetMin": "10.244.1.0", "SubnetMax": "10.244.99.0", "Backend": {"Type": "host-gw"}}"#.into()
}

#[test]
fn node_agent_host_gw_join_leave_expire_and_etcd_restart() {
    let mut c = Cluster::new("hg", 3, &host_gw_config());
    let s1 = c.nodes[0].join();
    let s2 = c.nodes[1].join();
    assert_ne!(s1, s2);
    // flannel's layout in etcd
    let leases = c.etcd.leases();
    assert_eq!(leases.len(), 2, "{leases:?}");
    let key1 = format!("{PREFIX}/subnets/{}", s1.replace('/', "-"));
    let l1 = &leases
        .iter()
        .find(|(k, _)| *k == key1)
        .expect("node 1's lease key")
        .1;
    assert_eq!(l1["PublicIP"], format!("{UL}.1"));
    assert_eq!(l1["BackendType"], "host-gw");
    // each learns the other's subnet through etcd alone
    assert!(
        wait_until(WAIT, || c.nodes[0].has_route_to(&s2)
            && c.nodes[1].has_route_to(&s1)),
        "routes: {:?} / {:?}",
        c.nodes[0].routes(),
        c.nodes[1].routes()
    );
    assert_eq!(c.nodes[0].routes(), [format!("{s2} via {UL}.2 dev ul0")]);
    // pods take the node's /24 from the subnet file
    let (p1, p2, p3) = (c.pod_name(1), c.pod_name(2), c.pod_name(3));
    let ip1 = c.nodes[0].pod(&p1);
    let ip2 = c.nodes[1].pod(&p2);
    assert!(ip1.starts_with(&s1[..s1.len() - 4]), "{ip1} not in {s1}");
    assert!(ip2.starts_with(&s2[..s2.len() - 4]), "{ip2} not in {s2}");
    serve_remote_addr(&c.nodes[1].node, &p2);
    serve_remote_addr(&c.nodes[0].node, &p1);
    let mut n = 0;
    assert_eq!(
        fetch_when_listening(&c.nodes[0].node, &p1, &ip2, &mut n).as_deref(),
        Some(ip1.as_str()),
        "pod 1 -> pod 2, the client's own address seen (no NAT)"
    );
    assert_eq!(
        fetch_when_listening(&c.nodes[1].node, &p2, &ip1, &mut n).as_deref(),
        Some(ip2.as_str())
    );

    // node 3 joins: nodes 1 and 2 reach its pod with nothing done there
    let s3 = c.nodes[2].join();
    let ip3 = c.nodes[2].pod(&p3);
    serve_remote_addr(&c.nodes[2].node, &p3);
    assert!(wait_until(WAIT, || c.nodes[0].has_route_to(&s3)
        && c.nodes[1].has_route_to(&s3)));
    assert_eq!(
        fetch_when_listening(&c.nodes[0].node, &p1, &ip3, &mut n).as_deref(),
        Some(ip1.as_str())
    );
    assert_eq!(
        fetch_when_listening(&c.nodes[1].node, &p2, &ip3, &mut n).as_deref(),
        Some(ip2.as_str())
    );

    // node 2 leaves: its routes vanish on 1 and 3, and its own routes go too
    c.nodes[1].leave();
    assert!(
        wait_until(WAIT, || !c.nodes[0].has_route_to(&s2)
            && !c.nodes[2].has_route_to(&s2)),
        "{:?} {:?}",
        c.nodes[0].routes(),
        c.nodes[2].routes()
    );
    assert_eq!(c.nodes[1].routes(), Vec::<String>::new());
    assert_eq!(c.etcd.leases().len(), 2);
    n += 1;
    assert_eq!(fetch(&c.nodes[0].node, &p1, &ip2, n), None, "node 2 left");

    // node 3's agent dies: its lease expires after the TTL and its routes go everywhere
    c.nodes[2].kill9();
    assert!(
        wait_until(WAIT, || !c.nodes[0].has_route_to(&s3)),
        "{:?}",
        c.nodes[0].routes()
    );
    assert_eq!(c.nodes[0].routes(), Vec::<String>::new());
    // its pid file is stale now: leave signals nothing and says so
    let out = c.nodes[2].node.podrun(&["node", "leave"]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("stale pid file"),
        "{}",
        describe(&out)
    );

    // etcd restarted while node 1's agent runs; node 2 rejoins while etcd is down
    c.etcd.stop();
    c.nodes[1].spawn_agent();
    std::thread::sleep(Duration::from_millis(500));
    c.etcd.start();
    let s2b = c.nodes[1].wait_joined();
    assert_eq!(
        s2b, s2,
        "a rejoining node gets its subnet back (its subnet file)"
    );
    assert!(
        wait_until(WAIT, || c.nodes[0].has_route_to(&s2)
            && c.nodes[1].has_route_to(&s1)),
        "{:?} {:?}",
        c.nodes[0].routes(),
        c.nodes[1].routes()
    );
    // converged: exactly one route each, nothing left from node 3
    assert_eq!(c.nodes[0].routes(), [format!("{s2} via {UL}.2 dev ul0")]);
    assert_eq!(c.nodes[1].routes(), [format!("{s1} via {UL}.1 dev ul0")]);
    assert_eq!(
        fetch_when_listening(&c.nodes[0].node, &p1, &ip2, &mut n).as_deref(),
        Some(ip1.as_str()),
        "pod 2 reachable again after the rejoin"
    );
    // a second agent on the same node is refused
    let out = c.nodes[0].node.podrun(&[
        "node",
        "join",
        "--etcd-endpoints",
        &format!("http://{UL}.254:2379"),
        "--subnet-file",
        c.nodes[0].subnet_file().to_str().expect("utf8"),
    ]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("already running"),
        "{}",
        describe(&out)
    );
    c.nodes[0].leave();
    c.nodes[1].leave();
    assert_eq!(c.etcd.leases().len(), 0);
}

#[test]
fn node_agent_vxlan_three_nodes() {
    let mut c = Cluster::new(
        "vx",
        3,
        r#"{"Network": "10.244.0.0/16", "SubnetMin": "10.244.1.0", "SubnetMax": "10.244.99.0", "Backend": {"Type": "vxlan", "VNI": 7}}"#,
    );
    let s1 = c.nodes[0].join();
    let s2 = c.nodes[1].join();
    // the bridge MTU follows the backend: the uplink's 1500 - 50
    assert_eq!(c.nodes[0].mtu(), "1450");
    let lease2 = c.etcd.leases();
    let mac2 = lease2
        .iter()
        .find(|(_, v)| v["PublicIP"] == format!("{UL}.2"))
        .map(|(_, v)| {
            v["BackendData"]["VtepMAC"]
                .as_str()
                .expect("VtepMAC")
                .to_string()
        })
        .expect("node 2's lease");
    assert!(c.nodes[1]
        .node
        .ip(&["link", "show", "podrun.7"])
        .contains(&mac2));
    assert!(wait_until(WAIT, || c.nodes[0].has_route_to(&s2)
        && c.nodes[1].has_route_to(&s1)));
    let net2 = &s2[..s2.len() - 3];
    let route = c.nodes[0].node.ip(&["route", "show", &s2]);
    assert!(
        route.contains(&format!("via {net2} dev podrun.7")) && route.contains("onlink"),
        "{route}"
    );
    let neigh = c.nodes[0].node.ip(&["neigh", "show", "dev", "podrun.7"]);
    assert!(
        neigh.contains(&format!("{net2} lladdr {mac2} PERMANENT")),
        "{neigh}"
    );
    let fdb = sh(&[
        "bridge",
        "-n",
        &c.nodes[0].node.netns,
        "fdb",
        "show",
        "dev",
        "podrun.7",
    ]);
    assert!(fdb.contains(&format!("{mac2} dst {UL}.2")), "{fdb}");
    let (p1, p2, p3) = (c.pod_name(1), c.pod_name(2), c.pod_name(3));
    let ip1 = c.nodes[0].pod(&p1);
    let ip2 = c.nodes[1].pod(&p2);
    let eth0 = c.nodes[0].node.ip(&["link", "show", "pranbr"]);
    assert!(
        eth0.contains("mtu 1450"),
        "the bridge MTU is not the vxlan one: {eth0}"
    );
    serve_remote_addr(&c.nodes[1].node, &p2);
    let tx = c.nodes[0].node.vxlan_packets_of("podrun.7", "tx");
    let mut n = 0;
    assert_eq!(
        fetch_when_listening(&c.nodes[0].node, &p1, &ip2, &mut n).as_deref(),
        Some(ip1.as_str()),
        "vxlan: pod 1 -> pod 2 (source kept)"
    );
    assert!(c.nodes[0].node.vxlan_packets_of("podrun.7", "tx") >= tx + 3);
    let s3 = c.nodes[2].join();
    let ip3 = c.nodes[2].pod(&p3);
    serve_remote_addr(&c.nodes[2].node, &p3);
    assert!(wait_until(WAIT, || c.nodes[0].has_route_to(&s3)
        && c.nodes[1].has_route_to(&s3)));
    assert_eq!(
        fetch_when_listening(&c.nodes[0].node, &p1, &ip3, &mut n).as_deref(),
        Some(ip1.as_str())
    );
    assert_eq!(
        fetch_when_listening(&c.nodes[1].node, &p2, &ip3, &mut n).as_deref(),
        Some(ip2.as_str())
    );
    // node 2 leaves: route, neighbour and FDB entry vanish on 1 and 3; its device goes
    c.nodes[1].leave();
    assert!(wait_until(WAIT, || !c.nodes[0].has_route_to(&s2)
        && !c.nodes[2].has_route_to(&s2)));
    assert!(wait_until(WAIT, || !c.nodes[0]
        .node
        .ip(&["neigh", "show", "dev", "podrun.7"])
        .contains(net2)));
    let fdb = sh(&[
        "bridge",
        "-n",
        &c.nodes[0].node.netns,
        "fdb",
        "show",
        "dev",
        "podrun.7",
    ]);
    assert!(!fdb.contains(&mac2), "{fdb}");
    assert!(!c.nodes[1].node.ip(&["link", "show"]).contains("podrun.7"));
    // node 3's agent is killed and restarted within the TTL: it adopts its own device and
    // routes (no duplicates) and keeps its subnet
    c.nodes[2].kill9();
    assert_eq!(c.nodes[2].join(), s3);
    assert!(wait_until(WAIT, || c.nodes[2].has_route_to(&s1)));
    assert_eq!(c.nodes[2].routes().len(), 1, "{:?}", c.nodes[2].routes());
    assert_eq!(
        fetch_when_listening(&c.nodes[0].node, &p1, &ip3, &mut n).as_deref(),
        Some(ip1.as_str())
    );
    c.nodes[0].leave();
    c.nodes[2].leave();
}

#[test]
fn node_agent_ten_join_at_once_and_a_full_network_says_so() {
    let mut c = Cluster::new(
        "ten",
        11,
        r#"{"Network": "10.244.0.0/16", "SubnetMin": "10.244.1.0", "SubnetMax": "10.244.10.0", "Backend": {"Type": "host-gw"}}"#,
    );
    for n in c.nodes.iter_mut().take(10) {
        n.spawn_agent();
    }
    let mut subnets: Vec<String> = c
        .nodes
        .iter_mut()
        .take(10)
        .map(|n| n.wait_joined())
        .collect();
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), 10, "{subnets:?}");
    assert_eq!(c.etcd.leases().len(), 10);
    // every node routes to the nine others
    assert!(
        wait_until(Duration::from_secs(20), || c
            .nodes
            .iter()
            .take(10)
            .all(|n| n.routes().len() == 9)),
        "{:?}",
        c.nodes.iter().map(|n| n.routes().len()).collect::<Vec<_>>()
    );
    // an eleventh node: the network is full, and it says so
    let last = &mut c.nodes[10];
    last.spawn_agent();
    let st = last.agent.take().expect("agent").wait().expect("wait");
    let log = std::fs::read_to_string(last.agent_log()).unwrap_or_default();
    assert!(!st.success(), "{log}");
    assert!(
        log.contains("network 10.244.0.0/16 is full: all 10 subnets /24 from 10.244.1.0 to 10.244.10.0 are leased"),
        "{log}"
    );
    assert_eq!(last.routes(), Vec::<String>::new());
}

#[test]
fn node_agent_errors_are_clear() {
    let c = Cluster::new("err", 1, "{\"Network\": \"10.244.0.0/16\"}");
    let n = &c.nodes[0];
    let join = |node: &AgentNode, prefix: &str| {
        node.node.podrun(&[
            "node",
            "join",
            "--etcd-endpoints",
            &format!("http://{UL}.254:2379"),
            "--prefix",
            prefix,
            "--public-ip",
            &node.address(),
            "--subnet-file",
            node.subnet_file().to_str().expect("utf8"),
        ])
    };
    // no network config under that prefix
    let out = join(n, "/other.example/network");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no network config at /other.example/network/config"),
        "{}",
        describe(&out)
    );
    // a bad config
    c.etcd.put(
        "/bad/network/config",
        r#"{"Network": "10.244.0.0/16", "Backend": {"Type": "udp"}}"#,
    );
    let out = join(n, "/bad/network");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("backend type \"udp\" is not supported"),
        "{}",
        describe(&out)
    );
    // a public address no interface holds
    let out = n.node.podrun(&[
        "node",
        "join",
        "--etcd-endpoints",
        &format!("http://{UL}.254:2379"),
        "--public-ip",
        "10.244.201.9",
        "--subnet-file",
        n.subnet_file().to_str().expect("utf8"),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no interface here holds the node address 10.244.201.9"),
        "{}",
        describe(&out)
    );
    assert!(
        !n.subnet_file().exists(),
        "a failed join wrote a subnet file"
    );
    assert_eq!(c.etcd.leases().len(), 0);
    // podrun-node missing next to podrun
    let lonely = c.env.dir.join("bin");
    std::fs::create_dir_all(&lonely).expect("mkdir");
    std::fs::copy(crate::common::podrun_bin(), lonely.join("podrun")).expect("copy podrun");
    let out = Command::new(lonely.join("podrun"))
        .args(["--root"])
        .arg(c.env.dir.join("r"))
        .args(["node", "join", "--etcd-endpoints", "http://127.0.0.1:1"])
        .output()
        .expect("run podrun");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("podrun-node") && err.contains("next to podrun"),
        "{}",
        describe(&out)
    );
    // leave without an agent: fine
    assert!(n.node.podrun(&["node", "leave"]).status.success());
}
