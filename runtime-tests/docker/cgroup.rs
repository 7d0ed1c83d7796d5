//! A container's cgroup limits read back from the host, in one form whatever the host has:
//! cgroup v1 controllers, cgroup2 at /sys/fs/cgroup, or hybrid (v1 controllers plus a
//! controller-less cgroup2 at /sys/fs/cgroup/unified). Each value is looked up in every
//! hierarchy where the container's cgroup exists; the first file found wins (on a hybrid host
//! the v2 files of a limit are absent, its controller being bound to v1).

use crate::common::clients::cgroup_dirs_named;

/// v1 writes "no limit" as the largest page-aligned i64.
const V1_UNLIMITED: u64 = 9_223_372_036_854_771_712;

/// The first of `files` found in any hierarchy's `rel`: (file name, trimmed content).
pub fn read_any(rel: &str, files: &[&str]) -> Option<(String, String)> {
    let dirs = cgroup_dirs_named(rel);
    files.iter().find_map(|f| {
        dirs.iter().find_map(|d| {
            std::fs::read_to_string(d.join(f))
                .ok()
                .map(|s| (f.to_string(), s.trim().to_string()))
        })
    })
}

fn value(rel: &str, files: &[&str]) -> String {
    read_any(rel, files).map_or_else(|| "none".to_string(), |(_, v)| v)
}

/// The memory limit in bytes, or "max".
pub fn memory(rel: &str) -> String {
    match read_any(rel, &["memory.limit_in_bytes", "memory.max"]) {
        Some((_, v)) if v.parse::<u64>().is_ok_and(|n| n >= V1_UNLIMITED) => "max".into(),
        Some((_, v)) => v,
        None => "none".into(),
    }
}

/// The CPU quota and period ("QUOTA PERIOD", QUOTA "max" when unlimited), as cpu.max has it.
pub fn cpu(rel: &str) -> String {
    if let Some((_, quota)) = read_any(rel, &["cpu.cfs_quota_us"]) {
        let period = value(rel, &["cpu.cfs_period_us"]);
        let quota = if quota == "-1" { "max".into() } else { quota };
        return format!("{quota} {period}");
    }
    value(rel, &["cpu.max"])
}

/// The CPU weight, named by its file: "cpu.shares=N" (v1) or "cpu.weight=N" (v2).
pub fn shares(rel: &str) -> String {
    read_any(rel, &["cpu.shares", "cpu.weight"])
        .map_or_else(|| "none".into(), |(f, v)| format!("{f}={v}"))
}

/// What `shares` reads when nothing was set: the kernel's default of the file that exists.
pub fn default_shares(rel: &str) -> String {
    match read_any(rel, &["cpu.shares", "cpu.weight"]) {
        Some((f, _)) if f == "cpu.shares" => "cpu.shares=1024".into(),
        Some(_) => "cpu.weight=100".into(),
        None => "none".into(),
    }
}

/// What `shares` reads for docker's `--cpu-shares N`: N on v1; on v2 the weight runc's
/// conversion gives (1 + (N - 2) * 9999 / 262142).
pub fn shares_for(rel: &str, n: u64) -> String {
    match read_any(rel, &["cpu.shares", "cpu.weight"]) {
        Some((f, _)) if f == "cpu.shares" => format!("cpu.shares={n}"),
        Some(_) => format!("cpu.weight={}", 1 + (n - 2) * 9999 / 262_142),
        None => "none".into(),
    }
}

/// The pids limit, or "max".
pub fn pids(rel: &str) -> String {
    value(rel, &["pids.max"])
}

/// The CPUs of the container's cpuset.
pub fn cpuset(rel: &str) -> String {
    value(rel, &["cpuset.cpus"])
}

/// Whether the container's freezer says frozen (v1 freezer.state, or v2 cgroup.freeze where
/// no v1 freezer holds it).
pub fn frozen(rel: &str) -> String {
    match read_any(rel, &["freezer.state", "cgroup.freeze"]) {
        Some((f, v)) if f == "freezer.state" => (v == "FROZEN").to_string(),
        Some((_, v)) => (v == "1").to_string(),
        None => "no freezer file".into(),
    }
}

/// memory, cpu, pids and shares in one line.
pub fn limits(rel: &str) -> String {
    format!(
        "memory={} cpu={} pids={} {}",
        memory(rel),
        cpu(rel),
        pids(rel),
        shares(rel)
    )
}
