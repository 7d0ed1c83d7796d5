//! Statistics in the layout of runc's `events --stats` ("data" of a "stats" event, from
//! runc types/events.go): cpu, memory, pids, blkio, hugetlb. Controllers that this host
//! lacks leave their section at zero.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::fs::{get, get_keyed, get_u64, keyed};
use super::{Cgroup, Ctl};
use crate::Result;

pub(super) fn collect(cg: &Cgroup) -> Result<Value> {
    Ok(json!({
        "cpu": cpu(cg),
        "memory": memory(cg),
        "pids": pids(cg),
        "blkio": blkio(cg),
        "hugetlb": hugetlb(cg),
    }))
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

fn cpu(cg: &Cgroup) -> Value {
    let mut usage = json!({"total": 0, "kernel": 0, "user": 0});
    let mut throttling = json!({"periods": 0, "throttledPeriods": 0, "throttledTime": 0});
    if let Some(acct) = cg.v1_dir("cpuacct") {
        let ns_per_tick = 1_000_000_000 / clock_ticks();
        let stat = get_keyed(acct, "cpuacct.stat");
        usage = json!({
            "total": get_u64(acct, "cpuacct.usage").unwrap_or(0),
            "percpu": numbers(get(acct, "cpuacct.usage_percpu")),
            "percpu_kernel": numbers(get(acct, "cpuacct.usage_percpu_sys")),
            "percpu_user": numbers(get(acct, "cpuacct.usage_percpu_user")),
            "kernel": keyed(&stat, "system").unwrap_or(0) * ns_per_tick,
            "user": keyed(&stat, "user").unwrap_or(0) * ns_per_tick,
        });
    } else if let Some(d) = cg.v2_dir() {
        // cpu.stat usage is core in v2 (no controller needed).
        let stat = get_keyed(d, "cpu.stat");
        usage = json!({
            "total": keyed(&stat, "usage_usec").unwrap_or(0) * 1000,
            "kernel": keyed(&stat, "system_usec").unwrap_or(0) * 1000,
            "user": keyed(&stat, "user_usec").unwrap_or(0) * 1000,
        });
    }
    match cg.controller_dir("cpu") {
        Some(Ctl::V1(d)) => {
            let stat = get_keyed(d, "cpu.stat");
            throttling = json!({
                "periods": keyed(&stat, "nr_periods").unwrap_or(0),
                "throttledPeriods": keyed(&stat, "nr_throttled").unwrap_or(0),
                "throttledTime": keyed(&stat, "throttled_time").unwrap_or(0),
            });
        }
        Some(Ctl::V2(d)) => {
            let stat = get_keyed(d, "cpu.stat");
            throttling = json!({
                "periods": keyed(&stat, "nr_periods").unwrap_or(0),
                "throttledPeriods": keyed(&stat, "nr_throttled").unwrap_or(0),
                "throttledTime": keyed(&stat, "throttled_usec").unwrap_or(0) * 1000,
            });
        }
        None => {}
    }
    json!({"usage": usage, "throttling": throttling})
}

fn entry(d: &Path, prefix: &str) -> Value {
    json!({
        "limit": get_u64(d, &format!("{prefix}.limit_in_bytes")).unwrap_or(0),
        "usage": get_u64(d, &format!("{prefix}.usage_in_bytes")).unwrap_or(0),
        "max": get_u64(d, &format!("{prefix}.max_usage_in_bytes")).unwrap_or(0),
        "failcnt": get_u64(d, &format!("{prefix}.failcnt")).unwrap_or(0),
    })
}

fn raw(d: &Path, file: &str) -> Map<String, Value> {
    get_keyed(d, file)
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect()
}

fn memory(cg: &Cgroup) -> Value {
    let empty = json!({"limit": 0, "usage": 0, "max": 0, "failcnt": 0});
    match cg.controller_dir("memory") {
        Some(Ctl::V1(d)) => {
            let raw = raw(d, "memory.stat");
            json!({
                "cache": raw.get("cache").cloned().unwrap_or(Value::from(0)),
                "usage": entry(d, "memory"),
                "swap": entry(d, "memory.memsw"),
                "kernel": entry(d, "memory.kmem"),
                "kernelTCP": entry(d, "memory.kmem.tcp"),
                "raw": raw,
            })
        }
        Some(Ctl::V2(d)) => {
            let raw = raw(d, "memory.stat");
            let events = get_keyed(d, "memory.events");
            let usage = get_u64(d, "memory.current").unwrap_or(0);
            let limit = get_u64(d, "memory.max").unwrap_or(0);
            let swap = get_u64(d, "memory.swap.current").unwrap_or(0);
            let swap_max = get_u64(d, "memory.swap.max").unwrap_or(0);
            json!({
                "cache": raw.get("file").cloned().unwrap_or(Value::from(0)),
                "usage": {
                    "limit": limit,
                    "usage": usage,
                    "max": get_u64(d, "memory.peak").unwrap_or(0),
                    "failcnt": keyed(&events, "max").unwrap_or(0),
                },
                // runc reports v2 swap as memory+swap, like v1 memsw.
                "swap": {
                    "limit": limit.saturating_add(swap_max),
                    "usage": usage.saturating_add(swap),
                    "max": 0,
                    "failcnt": 0,
                },
                "kernel": empty,
                "kernelTCP": empty,
                "raw": raw,
            })
        }
        None => {
            json!({"cache": 0, "usage": empty, "swap": empty, "kernel": empty, "kernelTCP": empty, "raw": {}})
        }
    }
}

fn pids(cg: &Cgroup) -> Value {
    match cg.controller_dir("pids") {
        Some(Ctl::V1(d)) | Some(Ctl::V2(d)) => {
            // "max" (no limit) is reported as 0, like runc.
            let limit = get_u64(d, "pids.max")
                .filter(|l| *l != u64::MAX)
                .unwrap_or(0);
            json!({"current": get_u64(d, "pids.current").unwrap_or(0), "limit": limit})
        }
        None => json!({"current": cg.pids().len(), "limit": 0}),
    }
}

/// v1 "maj:min Op value" lines (the "Total" line is dropped).
fn blkio_v1_entries(d: &Path, file: &str) -> Vec<Value> {
    let Some(s) = get(d, file) else {
        return Vec::new();
    };
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (maj, min) = it.next()?.split_once(':')?;
            let op = it.next()?;
            let value: u64 = it.next()?.parse().ok()?;
            Some(json!({"major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?, "op": op, "value": value}))
        })
        .collect()
}

fn blkio(cg: &Cgroup) -> Value {
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
            json!({
                "ioServiceBytesRecursive": pick("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive"),
                "ioServicedRecursive": pick("blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive"),
            })
        }
        Some(Ctl::V2(d)) => io_v2(d),
        None => json!({}),
    }
}

/// io.stat "maj:min rbytes=.. wbytes=.. rios=.. wios=.." → runc's Read/Write entries.
fn io_v2(d: &Path) -> Value {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in get(d, "io.stat").unwrap_or_default().lines() {
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
            let e = |op: &str| json!({"major": major, "minor": minor, "op": op, "value": value});
            match k {
                "rbytes" => bytes.push(e("Read")),
                "wbytes" => bytes.push(e("Write")),
                "rios" => ios.push(e("Read")),
                "wios" => ios.push(e("Write")),
                _ => {}
            }
        }
    }
    json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
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

fn hugetlb(cg: &Cgroup) -> Value {
    let mut out = Map::new();
    let Some(dir) = cg.controller_dir("hugetlb") else {
        return Value::Object(out);
    };
    for size in hugepage_sizes() {
        let v = match dir {
            Ctl::V1(d) => json!({
                "usage": get_u64(d, &format!("hugetlb.{size}.usage_in_bytes")).unwrap_or(0),
                "max": get_u64(d, &format!("hugetlb.{size}.max_usage_in_bytes")).unwrap_or(0),
                "failcnt": get_u64(d, &format!("hugetlb.{size}.failcnt")).unwrap_or(0),
            }),
            Ctl::V2(d) => json!({
                "usage": get_u64(d, &format!("hugetlb.{size}.current")).unwrap_or(0),
                "max": 0,
                "failcnt": keyed(&get_keyed(d, &format!("hugetlb.{size}.events")), "max").unwrap_or(0),
            }),
        };
        out.insert(size, v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hugepage_size_names() {
        assert_eq!(super::size_name(2048), "2MB");
        assert_eq!(super::size_name(1_048_576), "1GB");
        assert_eq!(super::size_name(64), "64KB");
    }
}
