//! `linux.resources` → cgroup files. Each controller is written in the hierarchy that owns
//! it (v1 directory, else the v2 one). Files this kernel lacks: warning, not failure.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxPids, LinuxResources, LinuxThrottleDevice,
};

use super::devices::{v1_transition, DeviceSet};
use super::fs::{set, set_strict};
use super::{Cgroup, Ctl};
use crate::{Error, Result};

pub(super) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        apply_memory(cg, m)?;
    }
    if let Some(c) = r.cpu() {
        apply_cpu(cg, c)?;
        apply_cpuset(cg, c)?;
    }
    if let Some(p) = r.pids() {
        apply_pids(cg, p)?;
    }
    if let Some(b) = r.block_io() {
        apply_block_io(cg, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        apply_hugetlb(cg, h)?;
    }
    if let Some(d) = r.devices() {
        apply_devices(cg, d)?;
    }
    if let Some(n) = r.network() {
        apply_network(cg, n)?;
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        tracing::warn!(
            "cgroup {}: linux.resources.rdma is not supported, ignored",
            cg.path
        );
    }
    if let Some(u) = r.unified() {
        apply_unified(cg, u)?;
    }
    Ok(())
}

/// The controller's directory, enabling it in the v2 parents first when it lives there.
fn ctl<'a>(cg: &'a Cgroup, controller: &str) -> Result<Option<Ctl<'a>>> {
    let c = cg.controller_dir(controller);
    if let Some(Ctl::V2(_)) = c {
        cg.enable_v2_controllers(&[controller])?;
    }
    Ok(c)
}

fn missing(cg: &Cgroup, controller: &str, what: &str) {
    tracing::warn!(
        "cgroup {}: no {controller} controller on this host, {what} not applied",
        cg.path
    );
}

// ---- memory ----

fn apply_memory(cg: &Cgroup, m: &LinuxMemory) -> Result<()> {
    match ctl(cg, "memory")? {
        Some(Ctl::V1(d)) => memory_v1(d, m),
        Some(Ctl::V2(d)) => memory_v2(d, m),
        None => {
            missing(cg, "memory", "linux.resources.memory");
            Ok(())
        }
    }
}

fn memory_v1(d: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit();
    // Like runc: unlimited memory without an explicit swap means unlimited swap too.
    let swap = match (limit, m.swap()) {
        (Some(-1), None) => Some(-1),
        (_, s) => s,
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel wants memory <= memsw at every step: pick the order that keeps it.
            let cur =
                super::fs::get(d, "memory.limit_in_bytes").and_then(|v| v.parse::<i64>().ok());
            if s == -1 || cur.is_some_and(|c| c < s) {
                set(d, "memory.memsw.limit_in_bytes", &s.to_string())?;
                set(d, "memory.limit_in_bytes", &l.to_string())?;
            } else {
                set(d, "memory.limit_in_bytes", &l.to_string())?;
                set(d, "memory.memsw.limit_in_bytes", &s.to_string())?;
            }
        }
        (Some(l), None) => {
            set(d, "memory.limit_in_bytes", &l.to_string())?;
        }
        (None, Some(s)) => {
            set(d, "memory.memsw.limit_in_bytes", &s.to_string())?;
        }
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        set(d, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if m.kernel().is_some() {
        tracing::warn!(
            "cgroup: linux.resources.memory.kernel is deprecated and ignored (as runc does)"
        );
    }
    if let Some(k) = m.kernel_tcp() {
        set(d, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::Spec(format!(
                "linux.resources.memory.swappiness {s}: must be between 0 and 100"
            )));
        }
        set(d, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        set(d, "memory.oom_control", "1")?;
    }
    Ok(())
}

fn memory_v2(d: &Path, m: &LinuxMemory) -> Result<()> {
    if let Some(swap) = swap_v2(m.limit(), m.swap())? {
        set(d, "memory.swap.max", &swap)?;
    }
    if let Some(l) = m.limit() {
        set(d, "memory.max", &max_or(l))?;
    }
    if let Some(r) = m.reservation() {
        set(d, "memory.low", &max_or(r))?;
    }
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        tracing::warn!("cgroup: memory.kernel/kernelTCP have no cgroup v2 equivalent, ignored");
    }
    if m.swappiness().is_some() {
        tracing::warn!("cgroup: memory.swappiness has no cgroup v2 equivalent, ignored");
    }
    if m.disable_oom_killer() == Some(true) {
        tracing::warn!("cgroup: memory.disableOOMKiller has no cgroup v2 equivalent, ignored");
    }
    Ok(())
}

/// OCI swap is memory+swap; cgroup v2 memory.swap.max is swap alone (runc's conversion).
fn swap_v2(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>> {
    match (limit, swap) {
        (_, None) | (_, Some(0)) => Ok(None),
        (_, Some(-1)) => Ok(Some("max".into())),
        (None, Some(_)) | (Some(0), Some(_)) | (Some(-1), Some(_)) => Err(Error::Spec(
            "linux.resources.memory.swap: a swap limit needs a memory limit on cgroup v2".into(),
        )),
        (Some(l), Some(s)) if s < l => Err(Error::Spec(format!(
            "linux.resources.memory.swap {s} is below memory.limit {l} (swap counts memory+swap)"
        ))),
        (Some(l), Some(s)) => Ok(Some((s - l).to_string())),
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

// ---- cpu ----

fn apply_cpu(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    let wanted = c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some()
        || c.idle().is_some()
        || c.burst().is_some();
    if !wanted {
        return Ok(());
    }
    match ctl(cg, "cpu")? {
        Some(Ctl::V1(d)) => cpu_v1(d, c),
        Some(Ctl::V2(d)) => cpu_v2(d, c),
        None => {
            missing(cg, "cpu", "linux.resources.cpu");
            Ok(())
        }
    }
}

fn cpu_v1(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        set(d, "cpu.shares", &s.to_string())?;
    }
    cfs_v1(d, c.period(), c.quota())?;
    if let Some(b) = c.burst() {
        set(d, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(p) = c.realtime_period() {
        set(d, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime() {
        set(d, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(i) = c.idle() {
        set(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

/// Period then quota; when the kernel refuses the period against the old quota, the
/// other order (runc does the same).
fn cfs_v1(d: &Path, period: Option<u64>, quota: Option<i64>) -> Result<()> {
    let (Some(p), Some(q)) = (period, quota) else {
        if let Some(p) = period {
            set(d, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(q) = quota {
            set(d, "cpu.cfs_quota_us", &q.to_string())?;
        }
        return Ok(());
    };
    if set(d, "cpu.cfs_period_us", &p.to_string()).is_err() {
        set(d, "cpu.cfs_quota_us", &q.to_string())?;
        set(d, "cpu.cfs_period_us", &p.to_string())?;
        return Ok(());
    }
    set(d, "cpu.cfs_quota_us", &q.to_string())?;
    Ok(())
}

fn cpu_v2(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        set(d, "cpu.weight", &shares_to_weight(s).to_string())?;
    }
    if let Some(i) = c.idle() {
        set(d, "cpu.idle", &i.to_string())?;
    }
    if let Some(max) = cpu_max(c.quota(), c.period()) {
        set(d, "cpu.max", &max)?;
    }
    if let Some(b) = c.burst() {
        set(d, "cpu.max.burst", &b.to_string())?;
    }
    if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
        tracing::warn!(
            "cgroup: cpu.realtimeRuntime/realtimePeriod are not available on cgroup v2, ignored"
        );
    }
    Ok(())
}

/// runc's shares (2..262144) → weight (1..10000) mapping.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// cpu.max: "<quota|max> [period]".
fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let q = quota.unwrap_or(0);
    let p = period.unwrap_or(0);
    if q == 0 && p == 0 {
        return None;
    }
    let mut s = if q > 0 {
        q.to_string()
    } else {
        "max".to_string()
    };
    if p != 0 {
        s.push_str(&format!(" {p}"));
    }
    Some(s)
}

fn apply_cpuset(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    if c.cpus().is_none() && c.mems().is_none() {
        return Ok(());
    }
    let d = match ctl(cg, "cpuset")? {
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => d,
        None => {
            missing(cg, "cpuset", "cpu.cpus/cpu.mems");
            return Ok(());
        }
    };
    if let Some(m) = c.mems() {
        set(d, "cpuset.mems", m)?;
    }
    if let Some(cpus) = c.cpus() {
        set(d, "cpuset.cpus", cpus)?;
    }
    Ok(())
}

// ---- pids ----

fn apply_pids(cg: &Cgroup, p: &LinuxPids) -> Result<()> {
    let limit = p.limit();
    if limit == 0 {
        return Ok(());
    }
    let value = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    match ctl(cg, "pids")? {
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => set(d, "pids.max", &value).map(drop),
        None => {
            missing(cg, "pids", "pids.limit");
            Ok(())
        }
    }
}

// ---- block io ----

fn apply_block_io(cg: &Cgroup, b: &LinuxBlockIo) -> Result<()> {
    if let Some(d) = cg.v1_dir("blkio") {
        return blkio_v1(d, b);
    }
    match ctl(cg, "io")? {
        Some(Ctl::V2(d)) | Some(Ctl::V1(d)) => io_v2(d, b),
        None => {
            missing(cg, "blkio/io", "linux.resources.blockIO");
            Ok(())
        }
    }
}

/// blkio.weight without CFQ is blkio.bfq.weight (when BFQ is built); else a warning.
fn weight_file(d: &Path, plain: &str, bfq: &str) -> String {
    if !d.join(plain).exists() && d.join(bfq).exists() {
        bfq.to_string()
    } else {
        plain.to_string()
    }
}

fn blkio_v1(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight() {
        set(
            d,
            &weight_file(d, "blkio.weight", "blkio.bfq.weight"),
            &w.to_string(),
        )?;
    }
    if let Some(w) = b.leaf_weight() {
        set(d, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let file = weight_file(d, "blkio.weight_device", "blkio.bfq.weight_device");
            set(d, &file, &format!("{}:{} {w}", wd.major(), wd.minor()))?;
        }
        if let Some(w) = wd.leaf_weight() {
            set(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (list, file) in throttles {
        for t in list.iter().flatten() {
            set(
                d,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// runc's blkio weight (10..1000) → io.weight (1..10000).
fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

fn io_v2(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = d.join("io.bfq.weight").exists();
    if let Some(w) = b.weight() {
        if bfq {
            set(d, "io.bfq.weight", &w.to_string())?;
        } else {
            set(
                d,
                "io.weight",
                &format!("default {}", blkio_to_io_weight(w)),
            )?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let (file, v) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", blkio_to_io_weight(w))
            };
            set(d, file, &format!("{}:{} {v}", wd.major(), wd.minor()))?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    for (list, key) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            set(
                d,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

// ---- hugetlb ----

fn apply_hugetlb(cg: &Cgroup, limits: &[LinuxHugepageLimit]) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    for l in limits {
        let size = l.page_size();
        if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::Spec(format!(
                "linux.resources.hugepageLimits: bad pageSize {size:?}"
            )));
        }
    }
    match ctl(cg, "hugetlb")? {
        Some(Ctl::V1(d)) => {
            for l in limits {
                set(
                    d,
                    &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
                    &l.limit().to_string(),
                )?;
            }
        }
        Some(Ctl::V2(d)) => {
            for l in limits {
                set(
                    d,
                    &format!("hugetlb.{}.max", l.page_size()),
                    &max_or(l.limit()),
                )?;
            }
        }
        None => missing(cg, "hugetlb", "linux.resources.hugepageLimits"),
    }
    Ok(())
}

// ---- devices ----

/// Device rules: the list folded into one [`DeviceSet`] (deny-all first, runc's default
/// allowances last), then written to the v1 devices controller, or on cgroup v2 compiled into
/// an eBPF program that replaces the cgroup's old one. Never left unenforced: a host with
/// neither is an error.
fn apply_devices(cg: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let set = DeviceSet::for_container(rules)?;
    if let Some(d) = cg.v1_dir("devices") {
        let current = super::fs::get(d, "devices.list").unwrap_or_default();
        for (file, rule) in v1_transition(&current, &set)? {
            set_strict(d, file, &rule)?;
        }
        return Ok(());
    }
    match cg.v2_dir() {
        Some(d) => super::bpf::replace_device_program(d, &super::devices::program(&set)),
        None => Err(Error::other(format!(
            "cgroup {}: linux.resources.devices cannot be enforced: no v1 devices controller and no cgroup v2 hierarchy",
            cg.path
        ))),
    }
}

// ---- network (net_cls / net_prio, v1 only) ----

fn apply_network(cg: &Cgroup, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        match cg.v1_dir("net_cls") {
            Some(d) => {
                set(d, "net_cls.classid", &id.to_string())?;
            }
            None => missing(cg, "net_cls", "network.classID"),
        }
    }
    for p in n.priorities().iter().flatten() {
        match cg.v1_dir("net_prio") {
            Some(d) => {
                set(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
            None => missing(cg, "net_prio", "network.priorities"),
        }
    }
    Ok(())
}

// ---- unified ----

fn apply_unified(cg: &Cgroup, u: &std::collections::HashMap<String, String>) -> Result<()> {
    if u.is_empty() {
        return Ok(());
    }
    let Some(d) = cg.v2_dir() else {
        return Err(Error::Spec(
            "linux.resources.unified needs cgroup v2, and this host has only cgroup v1".into(),
        ));
    };
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for key in keys {
        let value = &u[key];
        if key.contains('/') || key.starts_with('.') || !key.contains('.') {
            return Err(Error::Spec(format!(
                "linux.resources.unified: bad key {key:?}"
            )));
        }
        let controller = key.split('.').next().unwrap_or("");
        if controller != "cgroup" {
            if !cg.v2_has(controller) {
                return Err(Error::Spec(format!(
                    "linux.resources.unified {key:?}: controller {controller:?} is not available in the cgroup v2 hierarchy{}",
                    if cg.layout == super::Layout::Hybrid { " (hybrid host: it is bound to v1)" } else { "" }
                )));
            }
            cg.enable_v2_controllers(&[controller])?;
        }
        set_strict(d, key, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_to_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
        assert_eq!(cpu_max(None, Some(20_000)).as_deref(), Some("max 20000"));
    }

    #[test]
    fn swap_conversion_v2() {
        assert_eq!(
            swap_v2(Some(100), Some(300)).ok().flatten().as_deref(),
            Some("200")
        );
        assert_eq!(
            swap_v2(Some(100), Some(-1)).ok().flatten().as_deref(),
            Some("max")
        );
        assert!(swap_v2(Some(300), Some(100)).is_err());
        assert!(swap_v2(None, Some(100)).is_err());
        assert_eq!(swap_v2(Some(100), None).ok().flatten(), None);
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 1 + 490 * 9999 / 990);
    }
}
