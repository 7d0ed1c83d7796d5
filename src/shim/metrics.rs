//! A container's cgroup statistics (podrun's `events --stats` object) as the Metrics type
//! containerd decodes: cgroups v1 `io.containerd.cgroups.v1.Metrics` on v1 and hybrid hosts
//! (as runc.v2 reports there), v2 `io.containerd.cgroups.v2.Metrics` on a pure v2 host.

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageDyn;
use serde_json::Value;

/// True on a host whose only cgroup hierarchy is cgroup2 at /sys/fs/cgroup.
pub fn unified_host() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

/// The statistics `s` as containerd's Metrics for this host, packed in an Any.
pub fn to_any(s: &Value, oom_kills: u64) -> Any {
    let msg: Box<dyn MessageDyn> = if unified_host() {
        Box::new(to_v2(s, oom_kills))
    } else {
        Box::new(to_v1(s))
    };
    containerd_shim::util::convert_to_any(msg).unwrap_or_default()
}

pub fn to_v1(s: &Value) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    let mut pids = v1::PidsStat::new();
    pids.current = n(s, "/pids/current");
    pids.limit = n(s, "/pids/limit");
    m.pids = Some(pids).into();
    let mut usage = v1::CPUUsage::new();
    usage.total = n(s, "/cpu/usage/total");
    usage.kernel = n(s, "/cpu/usage/kernel");
    usage.user = n(s, "/cpu/usage/user");
    usage.per_cpu = s
        .pointer("/cpu/usage/percpu")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut thr = v1::Throttle::new();
    thr.periods = n(s, "/cpu/throttling/periods");
    thr.throttled_periods = n(s, "/cpu/throttling/throttledPeriods");
    thr.throttled_time = n(s, "/cpu/throttling/throttledTime");
    let mut cpu = v1::CPUStat::new();
    cpu.usage = Some(usage).into();
    cpu.throttling = Some(thr).into();
    m.cpu = Some(cpu).into();
    let entry = |p: &str| {
        let mut e = v1::MemoryEntry::new();
        e.limit = n(s, &format!("/memory/{p}/limit"));
        e.usage = n(s, &format!("/memory/{p}/usage"));
        e.max = n(s, &format!("/memory/{p}/max"));
        e.failcnt = n(s, &format!("/memory/{p}/failcnt"));
        e
    };
    let mut mem = v1::MemoryStat::new();
    mem.cache = n(s, "/memory/cache");
    mem.rss = n(s, "/memory/raw/rss");
    mem.total_rss = n(s, "/memory/raw/total_rss");
    mem.total_cache = n(s, "/memory/raw/total_cache");
    mem.mapped_file = n(s, "/memory/raw/mapped_file");
    mem.inactive_file = n(s, "/memory/raw/inactive_file");
    mem.active_file = n(s, "/memory/raw/active_file");
    mem.inactive_anon = n(s, "/memory/raw/inactive_anon");
    mem.active_anon = n(s, "/memory/raw/active_anon");
    mem.pg_fault = n(s, "/memory/raw/pgfault");
    mem.pg_maj_fault = n(s, "/memory/raw/pgmajfault");
    mem.hierarchical_memory_limit = n(s, "/memory/raw/hierarchical_memory_limit");
    // CRI's working set is usage - total_inactive_file
    mem.total_inactive_file = n(s, "/memory/raw/total_inactive_file");
    mem.total_active_file = n(s, "/memory/raw/total_active_file");
    mem.total_inactive_anon = n(s, "/memory/raw/total_inactive_anon");
    mem.total_active_anon = n(s, "/memory/raw/total_active_anon");
    mem.usage = Some(entry("usage")).into();
    mem.swap = Some(entry("swap")).into();
    mem.kernel = Some(entry("kernel")).into();
    m.memory = Some(mem).into();
    m
}

pub fn to_v2(s: &Value, oom_kills: u64) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut pids = v2::PidsStat::new();
    pids.current = n(s, "/pids/current");
    pids.limit = n(s, "/pids/limit");
    m.pids = Some(pids).into();
    let mut cpu = v2::CPUStat::new();
    cpu.usage_usec = n(s, "/cpu/usage/total") / 1000;
    cpu.user_usec = n(s, "/cpu/usage/user") / 1000;
    cpu.system_usec = n(s, "/cpu/usage/kernel") / 1000;
    cpu.nr_periods = n(s, "/cpu/throttling/periods");
    cpu.nr_throttled = n(s, "/cpu/throttling/throttledPeriods");
    cpu.throttled_usec = n(s, "/cpu/throttling/throttledTime") / 1000;
    m.cpu = Some(cpu).into();
    let mut mem = v2::MemoryStat::new();
    mem.usage = n(s, "/memory/usage/usage");
    mem.usage_limit = n(s, "/memory/usage/limit");
    mem.max_usage = n(s, "/memory/usage/max");
    mem.file = n(s, "/memory/raw/file");
    mem.anon = n(s, "/memory/raw/anon");
    // CRI's working set is usage - inactive_file
    mem.inactive_file = n(s, "/memory/raw/inactive_file");
    mem.active_file = n(s, "/memory/raw/active_file");
    mem.inactive_anon = n(s, "/memory/raw/inactive_anon");
    mem.active_anon = n(s, "/memory/raw/active_anon");
    mem.pgfault = n(s, "/memory/raw/pgfault");
    mem.pgmajfault = n(s, "/memory/raw/pgmajfault");
    m.memory = Some(mem).into();
    let mut ev = v2::MemoryEvents::new();
    ev.oom_kill = oom_kills;
    m.memory_events = Some(ev).into();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_object_to_metrics() {
        let s = serde_json::json!({
            "cpu": {"usage": {"total": 5000, "kernel": 1000, "user": 4000, "percpu": [2000, 3000]},
                    "throttling": {"periods": 3, "throttledPeriods": 1, "throttledTime": 7000}},
            "memory": {"cache": 11, "usage": {"limit": 1048576, "usage": 4096, "max": 8192, "failcnt": 2},
                       "raw": {"rss": 12, "anon": 13, "file": 14}},
            "pids": {"current": 2, "limit": 10}
        });
        let a = to_v1(&s);
        assert_eq!(a.pids.current, 2);
        assert_eq!(a.pids.limit, 10);
        assert_eq!(a.cpu.usage.total, 5000);
        assert_eq!(a.cpu.usage.per_cpu, vec![2000, 3000]);
        assert_eq!(a.cpu.throttling.throttled_time, 7000);
        assert_eq!(a.memory.usage.limit, 1048576);
        assert_eq!(a.memory.usage.failcnt, 2);
        assert_eq!(a.memory.rss, 12);
        let b = to_v2(&s, 1);
        assert_eq!(b.cpu.usage_usec, 5);
        assert_eq!(b.memory.usage, 4096);
        assert_eq!(b.memory.usage_limit, 1048576);
        assert_eq!(b.memory.anon, 13);
        assert_eq!(b.memory_events.oom_kill, 1);
    }
}
