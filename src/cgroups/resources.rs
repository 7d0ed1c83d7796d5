//! `linux.resources` → cgroup files. Each controller is written in the hierarchy that owns
//! it (v1 directory, else the v2 one).
//!
//! As runc: a zero in a field where 0 cannot be a sensible limit means "not set" and leaves
//! the file alone ([`without_unset`]), so Docker's all-zero documents change only what they
//! name. A value that is set but cannot be applied — its controller is not on this host, or
//! the kernel lacks the file (a hugepage size it does not have) — is an error naming both,
//! never a silent no-op (runtime-spec: the container must not be created).

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxPids, LinuxRdma,
    LinuxResources, LinuxThrottleDevice,
};

use super::devices::{v1_transition, DeviceSet};
use super::fs::{set, set_strict};
use super::{Cgroup, Ctl};
use crate::{Error, Result};

pub(super) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    let r = &without_unset(r);
    // Device rules are checked before anything is written.
    let devices = r
        .devices()
        .as_deref()
        .map(DeviceSet::for_container)
        .transpose()?;
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
    if let Some(set) = &devices {
        apply_devices(cg, set)?;
    }
    if let Some(n) = r.network() {
        apply_network(cg, n)?;
    }
    if let Some(rdma) = r.rdma() {
        apply_rdma(cg, rdma)?;
    }
    if let Some(u) = r.unified() {
        apply_unified(cg, u)?;
    }
    Ok(())
}

/// `r` with every "0 = not set" field (runc's reading) turned into `None`: cpu shares, quota,
/// period, realtime runtime/period; memory limit, reservation, swap, kernel, kernelTCP;
/// swappiness -1 (u64::MAX, Docker's "unset"); blockIO weight and leafWeight (per-device
/// weights of 0 are skipped where they are written); pids limit 0; network classID 0; empty cpuset strings.
pub(crate) fn without_unset(r: &LinuxResources) -> LinuxResources {
    fn nz_i(v: Option<i64>) -> Option<i64> {
        v.filter(|v| *v != 0)
    }
    fn nz_u(v: Option<u64>) -> Option<u64> {
        v.filter(|v| *v != 0)
    }
    let mut r = r.clone();
    if let Some(m) = r.memory_mut() {
        m.set_limit(nz_i(m.limit()));
        m.set_reservation(nz_i(m.reservation()));
        m.set_swap(nz_i(m.swap()));
        m.set_kernel(nz_i(m.kernel()));
        m.set_kernel_tcp(nz_i(m.kernel_tcp()));
        m.set_swappiness(m.swappiness().filter(|s| *s != u64::MAX));
    }
    if let Some(c) = r.cpu_mut() {
        c.set_shares(nz_u(c.shares()));
        c.set_quota(nz_i(c.quota()));
        c.set_period(nz_u(c.period()));
        c.set_realtime_runtime(nz_i(c.realtime_runtime()));
        c.set_realtime_period(nz_u(c.realtime_period()));
        let cpus = c.cpus().clone().filter(|s| !s.is_empty());
        c.set_cpus(cpus);
        let mems = c.mems().clone().filter(|s| !s.is_empty());
        c.set_mems(mems);
    }
    if let Some(b) = r.block_io_mut() {
        b.set_weight(b.weight().filter(|w| *w != 0));
        b.set_leaf_weight(b.leaf_weight().filter(|w| *w != 0));
    }
    if r.pids().as_ref().is_some_and(|p| p.limit() == 0) {
        r.set_pids(None);
    }
    if let Some(n) = r.network_mut() {
        n.set_class_id(n.class_id().filter(|c| *c != 0));
    }
    r
}

/// The controller's directory, enabling it in the v2 parents first when it lives there.
fn ctl<'a>(cg: &'a Cgroup, controller: &str) -> Result<Option<Ctl<'a>>> {
    let c = cg.controller_dir(controller);
    if let Some(Ctl::V2(_)) = c {
        cg.enable_v2_controllers(&[controller])?;
    }
    Ok(c)
}

/// The error for a value whose controller this host does not have.
fn missing(cg: &Cgroup, controller: &str, what: &str) -> Error {
    let hybrid = if cg.layout == super::Layout::Hybrid {
        " (neither as a v1 hierarchy nor in the cgroup v2 one)"
    } else {
        ""
    };
    Error::Spec(format!(
        "linux.resources.{what} cannot be applied to cgroup {}: this host has no {controller} controller{hybrid}",
        cg.path
    ))
}

// ---- memory ----

fn apply_memory(cg: &Cgroup, m: &LinuxMemory) -> Result<()> {
    let wanted = m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true);
    if !wanted {
        if m.kernel().is_some() {
            tracing::warn!(
                "cgroup: linux.resources.memory.kernel is deprecated and ignored (as runc does)"
            );
        }
        return Ok(());
    }
    match ctl(cg, "memory")? {
        Some(Ctl::V1(d)) => memory_v1(d, m),
        Some(Ctl::V2(d)) => memory_v2(d, m),
        None => Err(missing(cg, "memory", "memory")),
    }
}

fn memory_v1(d: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit();
    // Like runc: unlimited memory without an explicit swap means unlimited swap too (when
    // this kernel accounts swap at all).
    let swap = match (limit, m.swap()) {
        (Some(-1), None) if d.join("memory.memsw.limit_in_bytes").exists() => Some(-1),
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
        // Without swap accounting there is no memory.swap.max: "max" and "0" ask for
        // nothing it could change (runc skips them too); a real swap limit is an error.
        if swap == "max" || swap == "0" {
            super::fs::set_if_present(d, "memory.swap.max", &swap)?;
        } else {
            set(d, "memory.swap.max", &swap)?;
        }
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
        // Unlimited memory with no swap value: unlimited swap too, as on v1.
        (Some(-1), None) => Ok(Some("max".into())),
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
        None => Err(missing(cg, "cpu", "cpu")),
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
        return Err(Error::Spec(
            "linux.resources.cpu.realtimeRuntime/realtimePeriod cannot be applied: cgroup v2 has no realtime cpu limits".into(),
        ));
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
        None => return Err(missing(cg, "cpuset", "cpu.cpus/mems")),
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
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => set(d, "pids.max", &value),
        None => Err(missing(cg, "pids", "pids.limit")),
    }
}

// ---- block io ----

fn apply_block_io(cg: &Cgroup, b: &LinuxBlockIo) -> Result<()> {
    let wanted = b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().iter().flatten().any(|wd| {
            wd.weight().is_some_and(|w| w != 0) || wd.leaf_weight().is_some_and(|w| w != 0)
        })
        || [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
    if !wanted {
        return Ok(());
    }
    if let Some(d) = cg.v1_dir("blkio") {
        return blkio_v1(d, b);
    }
    match ctl(cg, "io")? {
        Some(Ctl::V2(d)) | Some(Ctl::V1(d)) => io_v2(d, b),
        None => Err(missing(cg, "blkio/io", "blockIO")),
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
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let file = weight_file(d, "blkio.weight_device", "blkio.bfq.weight_device");
            set(d, &file, &format!("{}:{} {w}", wd.major(), wd.minor()))?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
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
    let leaf = b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|wd| wd.leaf_weight().is_some_and(|w| w != 0));
    if leaf {
        return Err(Error::Spec(
            "linux.resources.blockIO.leafWeight cannot be applied: cgroup v2 has no leaf weights"
                .into(),
        ));
    }
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
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
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
    let dir = match ctl(cg, "hugetlb")? {
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => d,
        None => return Err(missing(cg, "hugetlb", "hugepageLimits")),
    };
    for l in limits {
        let size = l.page_size();
        if !dir.join(format!("hugetlb.{size}.max")).exists()
            && !dir.join(format!("hugetlb.{size}.limit_in_bytes")).exists()
        {
            return Err(Error::Spec(format!(
                "linux.resources.hugepageLimits: page size {size:?} is not supported by this kernel (no hugetlb.{size}.* in {})",
                dir.display()
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
        None => return Err(missing(cg, "hugetlb", "hugepageLimits")),
    }
    Ok(())
}

// ---- devices ----

/// Device rules: the list folded into one [`DeviceSet`] (deny-all first, runc's default
/// allowances last), then written to the v1 devices controller, or on cgroup v2 compiled into
/// an eBPF program that replaces the cgroup's old one. Never left unenforced: a host with
/// neither is an error.
fn apply_devices(cg: &Cgroup, set: &DeviceSet) -> Result<()> {
    if let Some(d) = cg.v1_dir("devices") {
        let current = super::fs::get(d, "devices.list").unwrap_or_default();
        for (file, rule) in v1_transition(&current, set)? {
            set_strict(d, file, &rule)?;
        }
        return Ok(());
    }
    match cg.v2_dir() {
        Some(d) => super::bpf::replace_device_program(d, &super::devices::program(set)),
        None => Err(Error::other(format!(
            "cgroup {}: linux.resources.devices cannot be enforced: no v1 devices controller and no cgroup v2 hierarchy",
            cg.path
        ))),
    }
}

// ---- network (net_cls / net_prio, v1 only) ----

fn apply_network(cg: &Cgroup, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        let d = cg
            .v1_dir("net_cls")
            .ok_or_else(|| missing(cg, "net_cls", "network.classID"))?;
        set(d, "net_cls.classid", &id.to_string())?;
    }
    for p in n.priorities().iter().flatten() {
        let d = cg
            .v1_dir("net_prio")
            .ok_or_else(|| missing(cg, "net_prio", "network.priorities"))?;
        set(
            d,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

// ---- rdma ----

fn apply_rdma(cg: &Cgroup, rdma: &std::collections::HashMap<String, LinuxRdma>) -> Result<()> {
    if rdma.is_empty() {
        return Ok(());
    }
    let d = match ctl(cg, "rdma")? {
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => d,
        None => return Err(missing(cg, "rdma", "rdma")),
    };
    let mut names: Vec<&String> = rdma.keys().collect();
    names.sort();
    for name in names {
        if let Some(line) = rdma_line(name, &rdma[name]) {
            set(d, "rdma.max", &line)?;
        }
    }
    Ok(())
}

/// One rdma.max line ("mlx4_0 hca_handle=2 hca_object=2000"); None when it sets nothing.
fn rdma_line(device: &str, r: &LinuxRdma) -> Option<String> {
    let mut parts = vec![device.to_string()];
    if let Some(h) = r.hca_handles() {
        parts.push(format!("hca_handle={h}"));
    }
    if let Some(o) = r.hca_objects() {
        parts.push(format!("hca_object={o}"));
    }
    (parts.len() > 1).then(|| parts.join(" "))
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

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("test resources json")
    }

    #[test]
    fn zero_means_unset() {
        // What Docker sends for `docker update --memory 64m` (captured).
        let r = without_unset(&res(
            r#"{"memory":{"limit":67108864,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#,
        ));
        let m = r.memory().as_ref().expect("memory");
        assert_eq!(
            (m.limit(), m.reservation(), m.kernel()),
            (Some(67_108_864), None, None)
        );
        let c = r.cpu().as_ref().expect("cpu");
        assert_eq!((c.shares(), c.quota(), c.period()), (None, None, None));
        assert_eq!(r.block_io().as_ref().expect("blkio").weight(), None);
        // ... and for `--cpus 1.5`.
        let r = without_unset(&res(
            r#"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":150000,"period":100000},"blockIO":{"weight":0}}"#,
        ));
        assert_eq!(r.memory().as_ref().expect("memory").limit(), None);
        let c = r.cpu().as_ref().expect("cpu");
        assert_eq!((c.quota(), c.period()), (Some(150_000), Some(100_000)));
        // Values that mean something stay: -1, swappiness 0, idle 0, pids -1.
        let r = without_unset(&res(
            r#"{"memory":{"limit":-1,"swappiness":0},"cpu":{"quota":-1,"idle":0,"cpus":""},"pids":{"limit":-1},"network":{"classID":0}}"#,
        ));
        let m = r.memory().as_ref().expect("memory");
        assert_eq!((m.limit(), m.swappiness()), (Some(-1), Some(0)));
        let c = r.cpu().as_ref().expect("cpu");
        assert_eq!(
            (c.quota(), c.idle(), c.cpus().clone()),
            (Some(-1), Some(0), None)
        );
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(-1));
        assert_eq!(r.network().as_ref().expect("net").class_id(), None);
        // pids 0 and swappiness -1 (as u64) are "not set".
        let r = without_unset(&res(
            r#"{"pids":{"limit":0},"memory":{"swappiness":18446744073709551615}}"#,
        ));
        assert!(r.pids().is_none());
        assert_eq!(r.memory().as_ref().expect("memory").swappiness(), None);
    }

    #[test]
    fn unlimited_memory_means_unlimited_swap_v2() {
        assert_eq!(
            swap_v2(Some(-1), None).ok().flatten().as_deref(),
            Some("max")
        );
        // swap == limit: no swap at all.
        assert_eq!(
            swap_v2(Some(100), Some(100)).ok().flatten().as_deref(),
            Some("0")
        );
    }

    #[test]
    fn rdma_lines() {
        let r: LinuxRdma =
            serde_json::from_str(r#"{"hcaHandles":2,"hcaObjects":2000}"#).expect("static json");
        assert_eq!(
            rdma_line("mlx4_0", &r).as_deref(),
            Some("mlx4_0 hca_handle=2 hca_object=2000")
        );
        let r: LinuxRdma = serde_json::from_str(r#"{}"#).expect("static json");
        assert_eq!(rdma_line("mlx4_0", &r), None);
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 1 + 490 * 9999 / 990);
    }
}
