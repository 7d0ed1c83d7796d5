//! Tests against the real cgroup mounts (root needed). Each test makes its own
//! /podrun-test-<pid>-<n> cgroup and a forked sleeping child, and removes both (Drop guards).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::LinuxResources;

use super::*;

static SEQ: AtomicUsize = AtomicUsize::new(0);
/// Tests that use the cgroup2 hierarchy change its root's subtree_control: one at a time.
static V2_LOCK: Mutex<()> = Mutex::new(());

fn test_path() -> String {
    format!(
        "/podrun-test-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Removes the test cgroup (and kills what is left in it) when dropped.
struct CgGuard(Cgroup);

impl Drop for CgGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.destroy() {
            eprintln!("cleanup of {}: {e}", self.0.path);
        }
    }
}

fn make(hs: Option<Vec<Hierarchy>>) -> CgGuard {
    let path = test_path();
    let cg = match hs {
        Some(hs) => Cgroup::with_hierarchies(&path, &hs),
        None => Cgroup::from_path(&path),
    };
    let g = CgGuard(cg);
    g.0.create().expect("create test cgroup");
    g
}

/// A forked child that sleeps in pause(); killed and reaped on drop.
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    fn spawn() -> Child {
        // SAFETY: the child only calls async-signal-safe functions (pause, _exit).
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            },
            ForkResult::Parent { child } => Child {
                pid: child,
                reaped: false,
            },
        }
    }

    fn raw(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Waits for the child to end and returns how.
    fn wait(&mut self) -> WaitStatus {
        let st = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        st
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("test resources json")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn host_v1_dir(cg: &Cgroup, controller: &str) -> std::path::PathBuf {
    cg.v1_dir(controller)
        .unwrap_or_else(|| panic!("this test host has a v1 {controller} hierarchy"))
        .to_path_buf()
}

fn v2_only() -> Vec<Hierarchy> {
    hierarchies()
        .into_iter()
        .filter(|h| matches!(h, Hierarchy::V2 { .. }))
        .collect()
}

fn v1_only() -> Vec<Hierarchy> {
    hierarchies()
        .into_iter()
        .filter(|h| matches!(h, Hierarchy::V1 { .. }))
        .collect()
}

/// Puts cgroup.subtree_control of the v2 root back as it was (tests enable hugetlb there).
struct V2RootGuard {
    root: std::path::PathBuf,
    before: String,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl V2RootGuard {
    fn new() -> V2RootGuard {
        let lock = V2_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let root = match v2_only().first() {
            Some(Hierarchy::V2 { mount }) => mount.clone(),
            _ => panic!("this test host has a cgroup2 mount"),
        };
        let before = read(&root, "cgroup.subtree_control");
        V2RootGuard {
            root,
            before,
            _lock: lock,
        }
    }
}

impl Drop for V2RootGuard {
    fn drop(&mut self) {
        let now =
            std::fs::read_to_string(self.root.join("cgroup.subtree_control")).unwrap_or_default();
        for c in now.split_whitespace() {
            if !self.before.split_whitespace().any(|b| b == c) {
                let _ = fs::write_once(&self.root.join("cgroup.subtree_control"), &format!("-{c}"));
            }
        }
    }
}

// ---- discovery ----

#[test]
fn mountinfo_layouts() {
    let hybrid = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                  40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    let hs = parse_mountinfo(hybrid);
    assert_eq!(layout_of(&hs), Layout::Hybrid);
    assert_eq!(
        hs[1],
        Hierarchy::V1 {
            mount: "/sys/fs/cgroup/systemd".into(),
            controllers: vec!["name=systemd".into()]
        }
    );
    let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n\
              99 23 0:26 /sub /mnt/x rw - cgroup2 cgroup2 rw\n";
    let hs = parse_mountinfo(v2);
    assert_eq!(layout_of(&hs), Layout::V2);
    assert_eq!(
        hs,
        vec![Hierarchy::V2 {
            mount: "/sys/fs/cgroup".into()
        }]
    );
    let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n";
    let hs = parse_mountinfo(v1);
    assert_eq!(layout_of(&hs), Layout::V1);
    assert_eq!(
        hs,
        vec![Hierarchy::V1 {
            mount: "/sys/fs/cgroup/cpu,cpuacct".into(),
            controllers: vec!["cpu".into(), "cpuacct".into()]
        }]
    );
}

#[test]
fn this_host_is_hybrid() {
    // machine-notes: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
    assert_eq!(layout(), Layout::Hybrid);
    let cg = Cgroup::from_path("/x");
    assert!(cg.v1_dir("name=systemd").is_some());
    assert_eq!(cg.v2_dir(), Some(Path::new("/sys/fs/cgroup/unified/x")));
    assert!(cg.v2_has("hugetlb"));
    assert!(!cg.v2_has("memory"));
}

#[test]
fn for_container_paths() {
    let cg = Cgroup::for_container(None, "abc").expect("default path");
    assert_eq!(cg.path, "/podrun/abc");
    let cg = Cgroup::for_container(Some("a/b"), "abc").expect("relative path");
    assert_eq!(cg.path, "/a/b");
    let err =
        Cgroup::for_container(Some("system.slice:podrun:abc"), "abc").expect_err("systemd form");
    assert!(err.to_string().contains("systemd"), "{err}");
    assert!(Cgroup::for_container(Some("/a/../b"), "abc").is_err());
    assert!(Cgroup::for_container(Some("/"), "abc").is_err());
}

// ---- host (hybrid) ----

#[test]
fn create_add_pids_destroy_kills_leftovers() {
    let g = make(None);
    let mut child = Child::spawn();
    g.0.add_pid(child.raw()).expect("add pid");
    assert_eq!(g.0.pids(), vec![child.raw()]);
    for d in &g.0.dirs {
        assert!(
            read(d, "cgroup.procs")
                .lines()
                .any(|l| l == child.raw().to_string()),
            "{}",
            d.display()
        );
    }
    g.0.destroy().expect("destroy with a live process");
    assert_eq!(
        child.wait(),
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    for d in &g.0.dirs {
        assert!(!d.exists(), "{} still there", d.display());
    }
    g.0.destroy().expect("destroy again is fine");
}

#[test]
fn memory_limit_and_swap_read_back() {
    let g = make(None);
    let r = res(
        r#"{"memory":{"limit":67108864,"swap":134217728,"reservation":33554432,"swappiness":10}}"#,
    );
    g.0.apply(&r).expect("apply memory");
    let d = host_v1_dir(&g.0, "memory");
    assert_eq!(read(&d, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&d, "memory.memsw.limit_in_bytes"), "134217728");
    assert_eq!(read(&d, "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(read(&d, "memory.swappiness"), "10");
    // Lowering both needs memory first, then memsw: the order logic must get it right.
    let r = res(r#"{"memory":{"limit":16777216,"swap":33554432}}"#);
    g.0.apply(&r).expect("lower memory");
    assert_eq!(read(&d, "memory.limit_in_bytes"), "16777216");
    assert_eq!(read(&d, "memory.memsw.limit_in_bytes"), "33554432");
}

#[test]
fn pids_limit() {
    let g = make(None);
    g.0.apply(&res(r#"{"pids":{"limit":10}}"#))
        .expect("apply pids");
    assert_eq!(read(&host_v1_dir(&g.0, "pids"), "pids.max"), "10");
    g.0.apply(&res(r#"{"pids":{"limit":-1}}"#))
        .expect("unlimit pids");
    assert_eq!(read(&host_v1_dir(&g.0, "pids"), "pids.max"), "max");
}

#[test]
fn cpu_shares_quota_period() {
    let g = make(None);
    g.0.apply(&res(
        r#"{"cpu":{"shares":512,"quota":50000,"period":200000}}"#,
    ))
    .expect("apply cpu");
    let d = host_v1_dir(&g.0, "cpu");
    assert_eq!(read(&d, "cpu.shares"), "512");
    assert_eq!(read(&d, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&d, "cpu.cfs_period_us"), "200000");
}

#[test]
fn cpuset_inherited_then_applied() {
    let g = make(None);
    let d = host_v1_dir(&g.0, "cpuset");
    let parent = d.parent().expect("parent").to_path_buf();
    assert_eq!(read(&d, "cpuset.cpus"), read(&parent, "cpuset.cpus"));
    assert_eq!(read(&d, "cpuset.mems"), read(&parent, "cpuset.mems"));
    g.0.apply(&res(r#"{"cpu":{"cpus":"0","mems":"0"}}"#))
        .expect("apply cpuset");
    assert_eq!(read(&d, "cpuset.cpus"), "0");
    let child = Child::spawn();
    g.0.add_pid(child.raw())
        .expect("join a cgroup with a cpuset");
    let err =
        g.0.apply(&res(r#"{"cpu":{"cpus":"999"}}"#))
            .expect_err("no cpu 999");
    let msg = err.to_string();
    assert!(msg.contains("cpuset.cpus") && msg.contains("999"), "{msg}");
}

#[test]
fn devices_rules_in_order() {
    let g = make(None);
    let r = res(r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                       {"allow":true,"type":"b","major":7,"minor":0,"access":"r"}]}"#);
    g.0.apply(&r).expect("apply devices");
    let list = read(&host_v1_dir(&g.0, "devices"), "devices.list");
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        !lines.contains(&"a *:* rwm"),
        "deny-all was not applied: {list}"
    );
    assert!(lines.contains(&"b 7:0 r"), "{list}");
    assert!(
        lines.contains(&"c 136:* rwm"),
        "default pts rule missing: {list}"
    );
    // /dev/null: the spec allowed rw, the default set adds rwm.
    assert!(lines.iter().any(|l| l.starts_with("c 1:3 ")), "{list}");
    assert!(!lines.iter().any(|l| l.starts_with("c 4:")), "{list}");
}

#[test]
fn freeze_and_thaw() {
    let g = make(None);
    let child = Child::spawn();
    g.0.add_pid(child.raw()).expect("add pid");
    g.0.freeze().expect("freeze");
    assert!(g.0.is_frozen());
    assert_eq!(
        read(&host_v1_dir(&g.0, "freezer"), "freezer.state"),
        "FROZEN"
    );
    g.0.thaw().expect("thaw");
    assert!(!g.0.is_frozen());
    assert_eq!(
        read(&host_v1_dir(&g.0, "freezer"), "freezer.state"),
        "THAWED"
    );
}

#[test]
fn kill_all_reaches_every_process() {
    let g = make(None);
    let mut a = Child::spawn();
    let mut b = Child::spawn();
    g.0.add_pid(a.raw()).expect("add a");
    g.0.add_pid(b.raw()).expect("add b");
    g.0.kill_all(libc::SIGTERM).expect("SIGTERM all");
    assert_eq!(
        a.wait(),
        WaitStatus::Signaled(a.pid, Signal::SIGTERM, false)
    );
    assert_eq!(
        b.wait(),
        WaitStatus::Signaled(b.pid, Signal::SIGTERM, false)
    );
    let mut c = Child::spawn();
    g.0.add_pid(c.raw()).expect("add c");
    g.0.kill_all(libc::SIGKILL).expect("SIGKILL all");
    assert_eq!(
        c.wait(),
        WaitStatus::Signaled(c.pid, Signal::SIGKILL, false)
    );
    assert!(!g.0.is_frozen(), "kill_all must thaw again");
}

#[test]
fn stats_have_runc_fields() {
    let g = make(None);
    let child = Child::spawn();
    g.0.add_pid(child.raw()).expect("add pid");
    g.0.apply(&res(r#"{"memory":{"limit":67108864},"pids":{"limit":20}}"#))
        .expect("apply");
    let typed = g.0.stats().expect("stats");
    assert_eq!(typed.memory.usage.limit, 67108864);
    assert_eq!((typed.pids.current, typed.pids.limit), (1, 20));
    let s = serde_json::to_value(&typed).expect("json");
    assert!(s["cpu"]["usage"]["total"].is_u64(), "{s}");
    assert!(s["cpu"]["usage"]["percpu"].is_array(), "{s}");
    assert!(s["cpu"]["throttling"]["periods"].is_u64(), "{s}");
    assert_eq!(s["memory"]["usage"]["limit"], 67108864, "{s}");
    assert!(s["memory"]["usage"]["usage"].is_u64(), "{s}");
    assert!(s["memory"]["raw"].is_object(), "{s}");
    assert_eq!(s["pids"]["current"], 1, "{s}");
    assert_eq!(s["pids"]["limit"], 20, "{s}");
    assert!(s["blkio"].is_object(), "{s}");
    assert!(s["hugetlb"]["2MB"]["usage"].is_u64(), "{s}");
}

#[test]
fn hybrid_hugetlb_goes_to_unified() {
    let _root = V2RootGuard::new();
    let g = make(None);
    g.0.apply(&res(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    ))
    .expect("hugetlb");
    let d = g.0.v2_dir().expect("unified dir");
    assert_eq!(read(d, "hugetlb.2MB.max"), "4194304");
    // unified keys go to the unified hierarchy; memory is bound to v1 here.
    g.0.apply(&res(r#"{"unified":{"hugetlb.2MB.max":"2097152"}}"#))
        .expect("unified hugetlb");
    assert_eq!(read(d, "hugetlb.2MB.max"), "2097152");
    let err =
        g.0.apply(&res(r#"{"unified":{"memory.max":"1000000"}}"#))
            .expect_err("memory is v1 here");
    assert!(err.to_string().contains("memory.max"), "{err}");
    let e = g.0.entry().expect("entry");
    assert!(
        e.v2_fd().is_some(),
        "hybrid: the unified part is entered with CLONE_INTO_CGROUP"
    );
    assert_eq!(
        e.tasks.len(),
        g.0.dirs.len() - 1,
        "one tasks file per v1 hierarchy"
    );
}

/// A value that cannot be applied is an error (runtime-spec: the container must not be
/// created), naming what is missing; zeros ("not set") need nothing and pass.
#[test]
fn missing_controllers_and_files_fail() {
    let g = make(None);
    // net_cls / net_prio / rdma are not mounted here (machine-notes).
    let err =
        g.0.apply(&res(r#"{"network":{"classID":1048577}}"#))
            .expect_err("no net_cls");
    assert!(err.to_string().contains("net_cls"), "{err}");
    let err =
        g.0.apply(&res(r#"{"rdma":{"mlx4_0":{"hcaHandles":2}}}"#))
            .expect_err("no rdma");
    assert!(err.to_string().contains("rdma"), "{err}");
    // hugetlb lives in the unified hierarchy here, and has 2MB and 1GB pages, no 3MB.
    {
        let _root = V2RootGuard::new();
        let err =
            g.0.apply(&res(
                r#"{"hugepageLimits":[{"pageSize":"3MB","limit":4194304}]}"#,
            ))
            .expect_err("no 3MB pages");
        assert!(err.to_string().contains("3MB"), "{err}");
    }
    // blkio has no blkio.leaf_weight here.
    let err =
        g.0.apply(&res(r#"{"blockIO":{"leafWeight":300}}"#))
            .expect_err("no leaf_weight file");
    assert!(err.to_string().contains("leaf_weight"), "{err}");
    // Zeros and the deprecated kernel limit ask for nothing.
    g.0.apply(&res(
        r#"{"network":{"classID":0},"blockIO":{"weight":0,"leafWeight":0},"memory":{"kernel":1000000}}"#,
    ))
    .expect("nothing to apply");
}

/// Docker's zeros: create with shares 0 keeps the default shares; `docker update` documents
/// change only what they name (v1 controllers of this host).
#[test]
fn zeros_leave_files_alone_v1() {
    let g = make(None);
    let cpu = host_v1_dir(&g.0, "cpu");
    let mem = host_v1_dir(&g.0, "memory");
    g.0.apply(&res(r#"{"cpu":{"shares":0,"quota":0,"period":0},"memory":{"limit":0,"reservation":0,"swap":0,"kernel":0,"kernelTCP":0},"blockIO":{"weight":0},"pids":{"limit":0}}"#))
        .expect("create with zeros");
    assert_eq!(read(&cpu, "cpu.shares"), "1024");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "-1");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    g.0.apply(&res(
        r#"{"cpu":{"shares":512,"quota":50000,"period":100000}}"#,
    ))
    .expect("set cpu");
    g.0.apply(&res(r#"{"memory":{"limit":67108864,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#))
        .expect("docker update --memory 64m");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    g.0.apply(&res(r#"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":150000,"period":100000},"blockIO":{"weight":0}}"#))
        .expect("docker update --cpus 1.5");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "150000");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
}

// ---- pure v1 view (the v1 hierarchies of this host without the unified one) ----

#[test]
fn v1_only_layout() {
    let g = make(Some(v1_only()));
    assert_eq!(g.0.layout(), Layout::V1);
    assert!(g.0.v2_dir().is_none());
    let mut child = Child::spawn();
    g.0.add_pid(child.raw()).expect("add pid");
    assert_eq!(g.0.pids(), vec![child.raw()]);
    let err =
        g.0.apply(&res(r#"{"unified":{"pids.max":"5"}}"#))
            .expect_err("no v2");
    assert!(err.to_string().contains("cgroup v2"), "{err}");
    g.0.kill_all(libc::SIGKILL).expect("kill");
    assert_eq!(
        child.wait(),
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
}

// ---- pure v2 view (the host's cgroup2 mount alone) ----

#[test]
fn v2_create_freeze_kill_destroy() {
    let _root = V2RootGuard::new();
    let g = make(Some(v2_only()));
    assert_eq!(g.0.layout(), Layout::V2);
    let d = g.0.v2_dir().expect("v2 dir").to_path_buf();
    // create() enabled every offered controller in the parent (the root here).
    let root = d.parent().expect("root");
    let offered = read(root, "cgroup.controllers");
    let enabled = read(root, "cgroup.subtree_control");
    for c in offered.split_whitespace() {
        assert!(
            enabled.split_whitespace().any(|e| e == c),
            "{c} not enabled: {enabled}"
        );
    }
    let mut child = Child::spawn();
    g.0.add_pid(child.raw()).expect("add pid");
    assert_eq!(g.0.pids(), vec![child.raw()]);
    let e = g.0.entry().expect("entry");
    assert!(e.v2_fd().is_some() && e.tasks.is_empty());

    g.0.freeze().expect("freeze");
    assert!(g.0.is_frozen());
    assert!(read(&d, "cgroup.events").lines().any(|l| l == "frozen 1"));
    g.0.thaw().expect("thaw");
    assert!(!g.0.is_frozen());

    // memory/pids belong to v1 on this host: not in this view, so an error, not a no-op.
    let err =
        g.0.apply(&res(r#"{"memory":{"limit":1000000}}"#))
            .expect_err("no memory controller in the v2 view");
    assert!(err.to_string().contains("memory"), "{err}");
    // ... but zeros ask for nothing.
    g.0.apply(&res(
        r#"{"memory":{"limit":0},"pids":{"limit":0},"cpu":{"shares":0}}"#,
    ))
    .expect("zeros need no controller");
    g.0.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#))
        .expect("v2 devices: an eBPF program");
    assert_eq!(bpf::attached(&d).expect("query").len(), 1);

    g.0.kill_all(libc::SIGKILL).expect("cgroup.kill");
    assert_eq!(
        child.wait(),
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    let s = g.0.stats().expect("stats");
    assert!(s.v2, "{s:?}");
    let s = serde_json::to_value(&s).expect("json");
    assert!(s["cpu"]["usage"]["total"].is_u64(), "{s}");
}

#[test]
fn v2_destroy_waits_for_populated() {
    let _root = V2RootGuard::new();
    let g = make(Some(v2_only()));
    let mut child = Child::spawn();
    g.0.add_pid(child.raw()).expect("add pid");
    g.0.destroy().expect("destroy kills and waits");
    assert!(!g.0.v2_dir().expect("dir").exists());
    assert_eq!(
        child.wait(),
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
}

/// A forked child enters the v1 hierarchies by itself (`0` into `tasks`) and is then listed
/// in every v1 hierarchy; the parent wrote no pid anywhere. The child reports over a pipe
/// once it has written to every hierarchy (it enters them one after another, so waiting
/// for the pid to show up in the first one raced with the later writes).
#[test]
fn entry_moves_the_calling_process_into_v1() {
    let g = make(Some(v1_only()));
    let entry = g.0.entry().expect("entry");
    let (done_r, done_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    // SAFETY: the child only calls async-signal-safe functions (write via enter_self and to
    // the pipe, pause, _exit).
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let status: &[u8] = if entry.enter_self().is_ok() {
                b"k"
            } else {
                b"e"
            };
            if nix::unistd::write(&done_w, status) != Ok(1) {
                // SAFETY: _exit in a forked child.
                unsafe { libc::_exit(3) };
            }
            loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            }
        }
        ForkResult::Parent { child } => Child {
            pid: child,
            reaped: false,
        },
    };
    drop(done_w);
    let mut status = [0u8; 1];
    assert_eq!(
        nix::unistd::read(&done_r, &mut status),
        Ok(1),
        "child's report"
    );
    assert_eq!(&status, b"k", "enter_self failed in the child");
    assert_eq!(g.0.pids(), vec![child.raw()]);
    for d in &g.0.dirs {
        assert_eq!(
            read(d, "cgroup.procs"),
            child.raw().to_string(),
            "{}",
            d.display()
        );
    }
}

// ---- devices on cgroup v2: the eBPF program, enforced by this kernel ----

/// A temporary directory with device nodes made by mknod (the nodes' devices need not exist:
/// the device cgroup decides before the driver is asked).
struct NodeDir(std::path::PathBuf);

impl NodeDir {
    fn new() -> NodeDir {
        let d = std::env::temp_dir().join(format!(
            "podrun-devtest-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir(&d).expect("mkdir node dir");
        let mk = |name: &str, kind: nix::sys::stat::SFlag, major: u64, minor: u64| {
            nix::sys::stat::mknod(
                &d.join(name),
                kind,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                nix::sys::stat::makedev(major, minor),
            )
            .expect("mknod");
        };
        mk("blk", nix::sys::stat::SFlag::S_IFBLK, 7, 0);
        mk("kmsg", nix::sys::stat::SFlag::S_IFCHR, 1, 11);
        NodeDir(d)
    }
}

impl Drop for NodeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How an open went: 'o' opened, 'p' EPERM (the device cgroup said no), 'x' another error.
/// Tried in a child that the parent first moves into `cg` (so the program applies to it).
fn opens_in(cg: &Cgroup, tries: &[(&Path, nix::fcntl::OFlag)]) -> String {
    let paths: Vec<std::ffi::CString> = tries
        .iter()
        .map(|(p, _)| {
            std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path without NUL")
        })
        .collect();
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let (res_r, res_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    // SAFETY: the child only calls async-signal-safe functions (read, open, close, write,
    // _exit) on memory prepared before the fork.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let mut b = [0u8; 1];
            if nix::unistd::read(&go_r, &mut b) != Ok(1) {
                // SAFETY: _exit in a forked child.
                unsafe { libc::_exit(2) };
            }
            for (i, (_, flags)) in tries.iter().enumerate() {
                // SAFETY: a NUL-terminated path made before the fork.
                let fd = unsafe { libc::open(paths[i].as_ptr(), flags.bits() | libc::O_CLOEXEC) };
                let c: u8 = if fd >= 0 {
                    // SAFETY: an fd this child just opened.
                    unsafe { libc::close(fd) };
                    b'o'
                } else if nix::errno::Errno::last() == nix::errno::Errno::EPERM {
                    b'p'
                } else {
                    b'x'
                };
                let _ = nix::unistd::write(&res_w, &[c]);
            }
            // SAFETY: _exit in a forked child.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => Child {
            pid: child,
            reaped: false,
        },
    };
    let mut child = child;
    drop(go_r);
    drop(res_w);
    cg.add_pid(child.raw()).expect("move the child in");
    assert_eq!(nix::unistd::write(&go_w, b"g"), Ok(1));
    let mut out = Vec::new();
    let mut buf = [0u8; 16];
    loop {
        match nix::unistd::read(&res_r, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => panic!("read results: {e}"),
        }
    }
    assert_eq!(child.wait(), WaitStatus::Exited(child.pid, 0));
    String::from_utf8(out).expect("ascii")
}

#[test]
fn v2_device_program_enforced_and_replaced() {
    use nix::fcntl::OFlag;
    let _root = V2RootGuard::new();
    let g = make(Some(v2_only()));
    let d = g.0.v2_dir().expect("v2 dir").to_path_buf();
    let nodes = NodeDir::new();
    let blk = nodes.0.join("blk");
    let kmsg = nodes.0.join("kmsg");
    let tries = [
        (Path::new("/dev/null"), OFlag::O_RDWR),
        (Path::new("/dev/zero"), OFlag::O_RDONLY),
        (Path::new("/dev/urandom"), OFlag::O_RDONLY),
        (Path::new("/dev/ptmx"), OFlag::O_RDWR | OFlag::O_NOCTTY),
        (blk.as_path(), OFlag::O_RDONLY),
        (blk.as_path(), OFlag::O_WRONLY),
        (kmsg.as_path(), OFlag::O_RDONLY),
    ];
    // Nothing attached yet: the block node is not refused by a device rule.
    assert_ne!(&opens_in(&g.0, &tries)[4..5], "p", "no rules yet");

    // Deny-all (and runc's default allowances): /dev/null etc. open, the others are EPERM.
    g.0.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#))
        .expect("deny-all program");
    assert_eq!(opens_in(&g.0, &tries), "ooooppp");
    let first = bpf::attached(&d).expect("query");
    assert_eq!(first.len(), 1, "one program: {first:?}");

    // Deny-all, then allow reading the block node and kmsg: the program is replaced.
    g.0.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"b","major":7,"minor":0,"access":"r"},
                       {"allow":true,"type":"c","major":1,"minor":11,"access":"rw"}]}"#))
        .expect("allow rules");
    let got = opens_in(&g.0, &tries);
    assert_eq!(&got[..4], "oooo", "{got}");
    assert_ne!(&got[4..5], "p", "read of b 7:0 is allowed: {got}");
    assert_eq!(&got[5..6], "p", "write of b 7:0 is not: {got}");
    assert_eq!(&got[6..7], "o", "kmsg read: {got}");
    let second = bpf::attached(&d).expect("query");
    assert_eq!(second.len(), 1, "the old program was detached: {second:?}");
    assert_ne!(first, second, "a new program");

    // Last match wins: a later deny takes the read of kmsg back.
    g.0.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":11,"access":"rw"},
                       {"allow":false,"type":"c","major":1,"minor":11,"access":"r"}]}"#))
        .expect("allow then deny");
    assert_eq!(&opens_in(&g.0, &tries)[6..7], "p");

    // Allow-all: nothing refused.
    g.0.apply(&res(r#"{"devices":[{"allow":true,"access":"rwm"}]}"#))
        .expect("allow-all");
    assert!(!opens_in(&g.0, &tries).contains('p'));
    assert_eq!(bpf::attached(&d).expect("query").len(), 1);
}

/// A rule list podrun cannot express fails before anything is attached.
#[test]
fn v2_bad_device_rules_fail() {
    let _root = V2RootGuard::new();
    let g = make(Some(v2_only()));
    let err =
        g.0.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":4,"access":"rw"},
                       {"allow":false,"type":"c","major":4,"minor":1,"access":"w"}]}"#))
            .expect_err("hole in a wildcard");
    assert!(err.to_string().contains("punch a hole"), "{err}");
    assert!(bpf::attached(g.0.v2_dir().expect("dir"))
        .expect("query")
        .is_empty());
}
