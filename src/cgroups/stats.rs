//! Statistics of a cgroup as typed structs ([`Stats`]) that serialize to the layout of
//! runc's `events --stats` ("data" of a "stats" event, from runc types/events.go): cpu,
//! memory, pids, blkio, hugetlb. Controllers that this host lacks leave their section at
//! zero. Fields marked "not in runc's JSON" carry what a containerd shim also needs for its
//! cgroup v1/v2 `Metrics` (the OOM kill count, memory.events, which version was read); the
//! raw `memory.stat` keys are in [`Memory::raw`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::fs::{get, get_keyed, get_u64, keyed};
use super::{Cgroup, Ctl};
use crate::Result;

/// One set of statistics of a cgroup. `serde_json::to_value` of it is runc's stats object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    /// By page size in cgroup file form ("2MB", "1GB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// OOM kills in the cgroup (v1 memory.oom_control, v2 memory.events `oom_kill`); not in
    /// runc's JSON (its `events` reports them as "oom" events).
    #[serde(skip)]
    pub oom_kills: u64,
    /// True when the memory figures (without a memory controller: the cpu ones) came from
    /// cgroup2 files, i.e. a shim should answer with containerd's v2 `Metrics`; not in
    /// runc's JSON.
    #[serde(skip)]
    pub v2: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// CPU time in nanoseconds. The per-CPU lists exist on v1 (cpuacct) only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuUsage {
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_kernel: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_user: Option<Vec<u64>>,
    /// System (kernel) time.
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

/// Bytes (and a failure count) of one memory counter; 0 where the file does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Page cache: v1 `cache`, v2 `file` of memory.stat.
    pub cache: u64,
    pub usage: MemoryEntry,
    /// Memory + swap, as runc reports it on v1 (memsw) and v2 alike (swap alone on v2:
    /// `swap.usage - usage.usage`).
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every key of memory.stat as the kernel names it (v1: rss, cache, total_*, ...;
    /// v2: anon, file, kernel_stack, pgfault, ...).
    pub raw: BTreeMap<String, u64>,
    /// v2 only: memory.events (low, high, max, oom, oom_kill); not in runc's JSON.
    #[serde(skip)]
    pub events: BTreeMap<String, u64>,
}

impl Memory {
    /// Resident anonymous memory: v1 `rss`, v2 `anon`.
    pub fn rss(&self) -> u64 {
        self.raw
            .get("rss")
            .or_else(|| self.raw.get("anon"))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pids {
    pub current: u64,
    /// 0 when unlimited (runc's convention).
    pub limit: u64,
}

/// Block I/O by device. None (left out of the JSON) without a blkio/io controller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
}

/// One "major:minor op value" (v2 io.stat rbytes/wbytes/rios/wios become Read/Write).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hugetlb {
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

pub(super) fn collect(cg: &Cgroup) -> Result<Stats> {
    let v2 = match cg.controller_dir("memory") {
        Some(Ctl::V2(_)) => true,
        Some(Ctl::V1(_)) => false,
        None => cg.v1_dir("cpuacct").is_none() && cg.v2_dir().is_some(),
    };
    Ok(Stats {
        cpu: cpu(cg),
        memory: memory(cg),
        pids: pids(cg),
        blkio: blkio(cg),
        hugetlb: hugetlb(cg),
        oom_kills: cg.oom_record().map_or(0, |r| r.oom_kills),
        v2,
    })
}

/// The memory controller's OOM record: the limit and how many processes its OOM killer
/// killed (v1 `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill`), for telling
/// why a process died of SIGKILL. None without a memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomRecord {
    /// The limit in bytes (None: unlimited or unreadable).
    pub limit: Option<u64>,
    pub oom_kills: u64,
}

impl Cgroup {
    pub fn oom_record(&self) -> Option<OomRecord> {
        let (limit, events) = match self.controller_dir("memory")? {
            Ctl::V1(d) => (
                get_u64(d, "memory.limit_in_bytes"),
                get_keyed(d, "memory.oom_control"),
            ),
            Ctl::V2(d) => (get_u64(d, "memory.max"), get_keyed(d, "memory.events")),
        };
        Some(OomRecord {
            // v1 "unlimited" is a huge page-rounded number
            limit: limit.filter(|l| *l < (1 << 62)),
            oom_kills: keyed(&events, "oom_kill").unwrap_or(0),
        })
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects; a failure returns -1.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

fn numbers(s: Option<String>) -> Vec<u64> {
    s.map(|s| {
        s.split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

fn cpu(cg: &Cgroup) -> Cpu {
    let mut usage = CpuUsage::default();
    let mut throttling = Throttling::default();
    if let Some(acct) = cg.v1_dir("cpuacct") {
        let ns_per_tick = 1_000_000_000 / clock_ticks();
        let stat = get_keyed(acct, "cpuacct.stat");
        usage = CpuUsage {
            total: get_u64(acct, "cpuacct.usage").unwrap_or(0),
            percpu: Some(numbers(get(acct, "cpuacct.usage_percpu"))),
            percpu_kernel: Some(numbers(get(acct, "cpuacct.usage_percpu_sys"))),
            percpu_user: Some(numbers(get(acct, "cpuacct.usage_percpu_user"))),
            kernel: keyed(&stat, "system").unwrap_or(0) * ns_per_tick,
            user: keyed(&stat, "user").unwrap_or(0) * ns_per_tick,
        };
    } else if let Some(d) = cg.v2_dir() {
        // cpu.stat usage is core in v2 (no controller needed).
        let stat = get_keyed(d, "cpu.stat");
        usage = CpuUsage {
            total: keyed(&stat, "usage_usec").unwrap_or(0) * 1000,
            kernel: keyed(&stat, "system_usec").unwrap_or(0) * 1000,
            user: keyed(&stat, "user_usec").unwrap_or(0) * 1000,
            ..CpuUsage::default()
        };
    }
    match cg.controller_dir("cpu") {
        Some(Ctl::V1(d)) => {
            let stat = get_keyed(d, "cpu.stat");
            throttling = Throttling {
                periods: keyed(&stat, "nr_periods").unwrap_or(0),
                throttled_periods: keyed(&stat, "nr_throttled").unwrap_or(0),
                throttled_time: keyed(&stat, "throttled_time").unwrap_or(0),
            };
        }
        Some(Ctl::V2(d)) => {
            let stat = get_keyed(d, "cpu.stat");
            throttling = Throttling {
                periods: keyed(&stat, "nr_periods").unwrap_or(0),
                throttled_periods: keyed(&stat, "nr_throttled").unwrap_or(0),
                throttled_time: keyed(&stat, "throttled_usec").unwrap_or(0) * 1000,
            };
        }
        None => {}
    }
    Cpu { usage, throttling }
}

fn entry(d: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: get_u64(d, &format!("{prefix}.limit_in_bytes")).unwrap_or(0),
        usage: get_u64(d, &format!("{prefix}.usage_in_bytes")).unwrap_or(0),
        max: get_u64(d, &format!("{prefix}.max_usage_in_bytes")).unwrap_or(0),
        failcnt: get_u64(d, &format!("{prefix}.failcnt")).unwrap_or(0),
    }
}

fn keyed_map(d: &Path, file: &str) -> BTreeMap<String, u64> {
    get_keyed(d, file).into_iter().collect()
}

fn memory(cg: &Cgroup) -> Memory {
    match cg.controller_dir("memory") {
        Some(Ctl::V1(d)) => {
            let raw = keyed_map(d, "memory.stat");
            Memory {
                cache: raw.get("cache").copied().unwrap_or(0),
                usage: entry(d, "memory"),
                swap: entry(d, "memory.memsw"),
                kernel: entry(d, "memory.kmem"),
                kernel_tcp: entry(d, "memory.kmem.tcp"),
                raw,
                events: BTreeMap::new(),
            }
        }
        Some(Ctl::V2(d)) => {
            let raw = keyed_map(d, "memory.stat");
            let events = keyed_map(d, "memory.events");
            let usage = get_u64(d, "memory.current").unwrap_or(0);
            let limit = get_u64(d, "memory.max").unwrap_or(0);
            let swap = get_u64(d, "memory.swap.current").unwrap_or(0);
            let swap_max = get_u64(d, "memory.swap.max").unwrap_or(0);
            Memory {
                cache: raw.get("file").copied().unwrap_or(0),
                usage: MemoryEntry {
                    limit,
                    usage,
                    max: get_u64(d, "memory.peak").unwrap_or(0),
                    failcnt: events.get("max").copied().unwrap_or(0),
                },
                // runc reports v2 swap as memory+swap, like v1 memsw.
                swap: MemoryEntry {
                    limit: limit.saturating_add(swap_max),
                    usage: usage.saturating_add(swap),
                    max: 0,
                    failcnt: 0,
                },
                kernel: MemoryEntry::default(),
                kernel_tcp: MemoryEntry::default(),
                raw,
                events,
            }
        }
        None => Memory::default(),
    }
}

fn pids(cg: &Cgroup) -> Pids {
    match cg.controller_dir("pids") {
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => {
            // "max" (no limit) is reported as 0, like runc.
            let limit = get_u64(d, "pids.max")
                .filter(|l| *l != u64::MAX)
                .unwrap_or(0);
            Pids {
                current: get_u64(d, "pids.current").unwrap_or(0),
                limit,
            }
        }
        None => Pids {
            current: cg.pids().len() as u64,
            limit: 0,
        },
    }
}

/// v1 "maj:min Op value" lines (the "Total" line is dropped).
fn blkio_v1_entries(d: &Path, file: &str) -> Vec<BlkioEntry> {
    let Some(s) = get(d, file) else {
        return Vec::new();
    };
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (maj, min) = it.next()?.split_once(':')?;
            let op = it.next()?;
            let value: u64 = it.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

fn blkio(cg: &Cgroup) -> Blkio {
    match cg
        .controller_dir("blkio")
        .or_else(|| cg.controller_dir("io"))
    {
        Some(Ctl::V1(d)) => {
            let pick = |cfq: &str, throttle: &str| {
                let e = blkio_v1_entries(d, cfq);
                if e.is_empty() {
                    blkio_v1_entries(d, throttle)
                } else {
                    e
                }
            };
            Blkio {
                io_service_bytes_recursive: Some(pick(
                    "blkio.io_service_bytes_recursive",
                    "blkio.throttle.io_service_bytes_recursive",
                )),
                io_serviced_recursive: Some(pick(
                    "blkio.io_serviced_recursive",
                    "blkio.throttle.io_serviced_recursive",
                )),
            }
        }
        Some(Ctl::V2(d)) => io_v2(&get(d, "io.stat").unwrap_or_default()),
        None => Blkio::default(),
    }
}

/// io.stat "maj:min rbytes=.. wbytes=.. rios=.. wios=.." → runc's Read/Write entries.
fn io_v2(text: &str) -> Blkio {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|m| m.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let e = |op: &str| BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            };
            match k {
                "rbytes" => bytes.push(e("Read")),
                "wbytes" => bytes.push(e("Write")),
                "rios" => ios.push(e("Read")),
                "wios" => ios.push(e("Write")),
                _ => {}
            }
        }
    }
    Blkio {
        io_service_bytes_recursive: Some(bytes),
        io_serviced_recursive: Some(ios),
    }
}

/// Huge page sizes of this kernel in cgroup file form: hugepages-2048kB → "2MB".
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(size_name(kb))
        })
        .collect();
    out.sort();
    out
}

fn size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

fn hugetlb(cg: &Cgroup) -> BTreeMap<String, Hugetlb> {
    let mut out = BTreeMap::new();
    let Some(dir) = cg.controller_dir("hugetlb") else {
        return out;
    };
    for size in hugepage_sizes() {
        let v = match dir {
            Ctl::V1(d) => Hugetlb {
                usage: get_u64(d, &format!("hugetlb.{size}.usage_in_bytes")).unwrap_or(0),
                max: get_u64(d, &format!("hugetlb.{size}.max_usage_in_bytes")).unwrap_or(0),
                failcnt: get_u64(d, &format!("hugetlb.{size}.failcnt")).unwrap_or(0),
            },
            Ctl::V2(d) => Hugetlb {
                usage: get_u64(d, &format!("hugetlb.{size}.current")).unwrap_or(0),
                max: 0,
                failcnt: keyed(&get_keyed(d, &format!("hugetlb.{size}.events")), "max")
                    .unwrap_or(0),
            },
        };
        out.insert(size, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugepage_size_names() {
        assert_eq!(super::size_name(2048), "2MB");
        assert_eq!(super::size_name(1_048_576), "1GB");
        assert_eq!(super::size_name(64), "64KB");
    }

    /// The typed stats serialize to runc's `events --stats` data object, key for key (the
    /// shape the CLI printed from a hand-built JSON value before).
    #[test]
    fn typed_stats_are_runc_json() {
        let mut s = Stats::default();
        s.cpu.usage = CpuUsage {
            total: 9,
            percpu: Some(vec![4, 5]),
            percpu_kernel: Some(vec![1, 1]),
            percpu_user: Some(vec![3, 4]),
            kernel: 2,
            user: 7,
        };
        s.cpu.throttling.throttled_periods = 3;
        s.memory.raw.insert("cache".into(), 11);
        s.memory.cache = 11;
        s.memory.kernel_tcp.limit = 5;
        s.memory.events.insert("oom_kill".into(), 1);
        s.pids = Pids {
            current: 2,
            limit: 20,
        };
        s.blkio = io_v2("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0\n");
        s.hugetlb.insert("2MB".into(), Hugetlb::default());
        s.oom_kills = 1;
        s.v2 = true;
        let e = |op: &str, value: u64| serde_json::json!({"major": 8, "minor": 0, "op": op, "value": value});
        let zero = serde_json::json!({"limit": 0, "usage": 0, "max": 0, "failcnt": 0});
        let want = serde_json::json!({
            "cpu": {
                "usage": {"total": 9, "percpu": [4, 5], "percpu_kernel": [1, 1],
                          "percpu_user": [3, 4], "kernel": 2, "user": 7},
                "throttling": {"periods": 0, "throttledPeriods": 3, "throttledTime": 0},
            },
            "memory": {
                "cache": 11, "usage": zero, "swap": zero, "kernel": zero,
                "kernelTCP": {"limit": 5, "usage": 0, "max": 0, "failcnt": 0},
                "raw": {"cache": 11},
            },
            "pids": {"current": 2, "limit": 20},
            "blkio": {
                "ioServiceBytesRecursive": [e("Read", 10), e("Write", 20)],
                "ioServicedRecursive": [e("Read", 1), e("Write", 2)],
            },
            "hugetlb": {"2MB": {"usage": 0, "max": 0, "failcnt": 0}},
        });
        assert_eq!(serde_json::to_value(&s).unwrap(), want);
        // v2 usage has no per-CPU lists; without a blkio controller, no blkio keys
        let none = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(
            none["cpu"]["usage"],
            serde_json::json!({"total": 0, "kernel": 0, "user": 0})
        );
        assert_eq!(none["blkio"], serde_json::json!({}));
        assert_eq!(none["memory"]["raw"], serde_json::json!({}));
    }

    #[test]
    fn rss_from_either_version() {
        let mut m = Memory::default();
        m.raw.insert("anon".into(), 7);
        assert_eq!(m.rss(), 7);
        m.raw.insert("rss".into(), 3);
        assert_eq!(m.rss(), 3);
    }
}
