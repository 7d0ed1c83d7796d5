//! The pure cgroup v2 lane: scripts/vm-v2.sh boots Debian's bookworm cloud kernel under qemu
//! (TCG) with cgroup2 alone at /sys/fs/cgroup and every controller enabled, and runs the cases
//! of scripts/vm-v2/cases.sh there with the release binaries (and Debian's runc as the
//! reference). The VM boots once for all tests here (a OnceLock: the first test boots it, the
//! others wait); each test asserts its case's `PODRUN-CASE <name> PASS|FAIL <detail>` line,
//! and a missing line is a failure.

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

fn lane() -> &'static Lane {
    static LANE: OnceLock<Lane> = OnceLock::new();
    LANE.get_or_init(boot)
}

fn boot() -> Lane {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_podrun"))
        .parent()
        .expect("the binaries' dir");
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(repo.join("scripts/vm-v2.sh"))
        .env("PODRUN_BIN_DIR", bin_dir)
        .output()
        .expect("run scripts/vm-v2.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = format!(
        "{stdout}\n--- vm-v2.sh stderr ({:?}, {:.0} s) ---\n{}",
        out.status,
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    // Written to stderr directly (not eprintln!, which the test harness captures), so the
    // lane's time and the benchmark figure show in every run's log.
    let mut note = format!(
        "vm_v2: the lane took {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
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
        if line.starts_with("PODRUN-BENCH ") {
            note.push_str(&format!("vm_v2: {line}\n"));
        }
    }
    let _ = std::io::stderr().write_all(note.as_bytes());
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

fn assert_case(name: &str) {
    let lane = lane();
    match lane.cases.get(name) {
        Some((true, _)) => {}
        Some((false, detail)) => panic!("case {name} FAILED in the v2 VM: {detail}"),
        None => panic!(
            "case {name}: no result line from the v2 VM (finished: {}); console:\n{}",
            lane.finished, lane.log
        ),
    }
}

/// The VM ran to its end, with no setup error, and printed no case this file does not know.
#[test]
fn lane_finished_cleanly() {
    let lane = lane();
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
        $(
            #[test]
            fn $name() {
                assert_case(stringify!($name));
            }
        )*
    };
}

cases!(
    dev_block_denied_podrun,
    dev_block_denied_runc,
    dev_update_keeps_rules_podrun,
    dev_update_keeps_rules_runc,
    dev_update_changes_rules,
    exe_sealed_view,
    dev_allowed,
    dev_allow_rule,
    resources_written,
    resources_same_as_runc,
    events_stats,
    events_stats_same_as_runc,
    zero_create_is_default,
    zero_create_same_as_runc,
    zero_update_memory,
    zero_update_memory_same_as_runc,
    zero_update_cpus,
    zero_update_cpus_same_as_runc,
    pause_resume,
    kill_all_podrun,
    oom_event,
    delete_removes_cgroup_podrun,
    pod_two_members,
    bench_run,
    rootless_delegated_podrun,
    rootless_delegated_same_as_runc,
);
