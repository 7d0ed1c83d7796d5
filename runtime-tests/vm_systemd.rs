//! The systemd lane: scripts/vm-systemd.sh boots Debian's bookworm cloud kernel under qemu
//! (TCG) with systemd as PID 1 on a debootstrapped Debian root fs (pure cgroup v2) and runs
//! the cases of scripts/vm-systemd/cases.sh from a oneshot unit: the systemd cgroup driver
//! (`--systemd-cgroup`, Docker/podman/Kubernetes cgroupsPath forms, limits read back from the
//! scope's files and `systemctl show`, update, pause/resume, kill, delete leaving no unit, a
//! pod), each with podrun and with Debian's runc as the reference; and containerd (Debian's
//! 1.6) with podrun's shim (`ctr run --runtime io.containerd.podrun.v2`, SystemdCgroup from
//! its config file, or a Kubernetes `.slice` cgroupsPath) against runc.v2 + runc. The same cases run in two
//! boots: `v2` (pure cgroup v2) and `hybrid` (`systemd.unified_cgroup_hierarchy=0`: the v1
//! controllers, so the driver's v1 property names and per-hierarchy dirs). Each layout boots
//! once for all its tests (a OnceLock); each test asserts its case's `PODRUN-CASE <name>
//! PASS|FAIL <detail>` line, and a missing line is a failure.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// What the VM printed: the case results by name, and the whole console for failures.
struct Lane {
    cases: BTreeMap<String, (bool, String)>,
    finished: bool,
    errors: Vec<String>,
    log: String,
}

fn lane(layout: &str) -> &'static Lane {
    static V2: OnceLock<Lane> = OnceLock::new();
    static HYBRID: OnceLock<Lane> = OnceLock::new();
    match layout {
        "hybrid" => HYBRID.get_or_init(|| boot("hybrid")),
        _ => V2.get_or_init(|| boot("v2")),
    }
}

fn boot(layout: &str) -> Lane {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_podrun"))
        .parent()
        .expect("the binaries' dir");
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(repo.join("scripts/vm-systemd.sh"))
        .env("PODRUN_BIN_DIR", bin_dir)
        .env("PODRUN_VM_CGROUP", layout)
        .output()
        .expect("run scripts/vm-systemd.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let log = format!(
        "{stdout}\n--- vm-systemd.sh stderr ({:?}, {:.0} s) ---\n{stderr}",
        out.status,
        started.elapsed().as_secs_f64(),
    );
    // To stderr directly (the harness captures eprintln!): the lane's time shows in every log.
    let mut note = format!(
        "vm_systemd: the {layout} lane took {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
    for l in stderr
        .lines()
        .filter(|l| l.contains("qemu exit code") || l.contains("root fs cached"))
    {
        note.push_str(&format!("vm_systemd: {layout}: {l}\n"));
    }
    let _ = std::io::stderr().write_all(note.as_bytes());
    let mut cases = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("PODRUN-CASE ") {
            let mut it = rest.splitn(3, ' ');
            let (name, verdict, detail) = (
                it.next().unwrap_or(""),
                it.next().unwrap_or(""),
                it.next().unwrap_or(""),
            );
            cases.insert(name.to_string(), (verdict == "PASS", detail.to_string()));
        }
    }
    Lane {
        cases,
        finished: stdout.lines().any(|l| l.starts_with("PODRUN-VM-DONE")),
        errors: stdout
            .lines()
            .filter(|l| l.starts_with("PODRUN-VM-ERROR"))
            .map(str::to_string)
            .collect(),
        log,
    }
}

fn assert_case(layout: &str, name: &str) {
    let lane = lane(layout);
    match lane.cases.get(name) {
        Some((true, _)) => {}
        Some((false, detail)) => {
            panic!("case {name} FAILED in the systemd VM ({layout}): {detail}")
        }
        None => panic!(
            "case {name}: no result line from the systemd VM ({layout}, finished: {}); console:\n{}",
            lane.finished, lane.log
        ),
    }
}

/// The VM ran to its end with systemd as PID 1, and printed no case this file does not know.
fn finished_cleanly(layout: &str) {
    let lane = lane(layout);
    assert!(lane.finished, "the VM did not finish:\n{}", lane.log);
    assert!(lane.errors.is_empty(), "{:?}\n{}", lane.errors, lane.log);
    let unknown: Vec<&String> = lane
        .cases
        .keys()
        .filter(|k| !CASES.contains(&k.as_str()))
        .collect();
    assert!(unknown.is_empty(), "cases without a test: {unknown:?}");
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($name)),*];
        /// Pure cgroup v2 (systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all).
        mod v2 {
            #[test]
            fn lane_finished_cleanly() {
                super::finished_cleanly("v2");
            }
            $(
                #[test]
                fn $name() {
                    super::assert_case("v2", stringify!($name));
                }
            )*
        }
        /// systemd's hybrid layout: v1 controllers + its cgroup2 at /sys/fs/cgroup/unified.
        mod hybrid {
            #[test]
            fn lane_finished_cleanly() {
                super::finished_cleanly("hybrid");
            }
            $(
                #[test]
                fn $name() {
                    super::assert_case("hybrid", stringify!($name));
                }
            )*
        }
    };
}

cases!(
    run_default_path_podrun,
    run_default_path_runc,
    docker_form_podrun,
    docker_form_runc,
    podman_form_podrun,
    podman_form_runc,
    kubernetes_form_podrun,
    kubernetes_form_runc,
    slices_removed_podrun,
    limits_podrun,
    limits_runc,
    limits_same_as_runc,
    update_podrun,
    update_runc,
    update_same_as_runc,
    pause_resume_podrun,
    pause_resume_runc,
    kill_podrun,
    kill_runc,
    delete_leaves_no_unit_podrun,
    delete_leaves_no_unit_runc,
    pod_two_containers,
    pod_delete_leaves_nothing,
    unit_exists_refused,
    containerd_option_podrun,
    containerd_option_podrun_deleted,
    containerd_option_runc,
    containerd_option_runc_deleted,
    containerd_kubernetes_form_podrun,
    containerd_kubernetes_form_podrun_deleted,
    containerd_kubernetes_form_runc,
    containerd_kubernetes_form_runc_deleted,
    containerd_slices_removed_podrun,
    containerd_no_process_left,
    nothing_left,
);
