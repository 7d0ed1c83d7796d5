//! A container's cgroup statistics (podrun's typed `cgroups::Stats`) as the Metrics type
//! containerd decodes: cgroups v1 `io.containerd.cgroups.v1.Metrics` when the figures came
//! from v1 files (v1 and hybrid hosts, as runc.v2 reports there), v2
//! `io.containerd.cgroups.v2.Metrics` when they came from cgroup2.

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageDyn;
use podrun::cgroups::Stats;

/// The statistics `s` as containerd's Metrics of their cgroup version, packed in an Any.
pub fn to_any(s: &Stats) -> Any {
    let msg: Box<dyn MessageDyn> = if s.v2 {
        Box::new(to_v2(s))
    } else {
        Box::new(to_v1(s))
    };
    containerd_shim::util::convert_to_any(msg).unwrap_or_default()
}

fn raw(s: &Stats, key: &str) -> u64 {
    s.memory.raw.get(key).copied().unwrap_or(0)
}

pub fn to_v1(s: &Stats) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    let mut pids = v1::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = Some(pids).into();
    let mut usage = v1::CPUUsage::new();
    usage.total = s.cpu.usage.total;
    usage.kernel = s.cpu.usage.kernel;
    usage.user = s.cpu.usage.user;
    usage.per_cpu = s.cpu.usage.percpu.clone().unwrap_or_default();
    let mut thr = v1::Throttle::new();
    thr.periods = s.cpu.throttling.periods;
    thr.throttled_periods = s.cpu.throttling.throttled_periods;
    thr.throttled_time = s.cpu.throttling.throttled_time;
    let mut cpu = v1::CPUStat::new();
    cpu.usage = Some(usage).into();
    cpu.throttling = Some(thr).into();
    m.cpu = Some(cpu).into();
    let entry = |e: &podrun::cgroups::MemoryEntry| {
        let mut x = v1::MemoryEntry::new();
        x.limit = e.limit;
        x.usage = e.usage;
        x.max = e.max;
        x.failcnt = e.failcnt;
        x
    };
    let mut mem = v1::MemoryStat::new();
    mem.cache = s.memory.cache;
    mem.rss = raw(s, "rss");
    mem.rss_huge = raw(s, "rss_huge");
    mem.mapped_file = raw(s, "mapped_file");
    mem.dirty = raw(s, "dirty");
    mem.writeback = raw(s, "writeback");
    mem.pg_fault = raw(s, "pgfault");
    mem.pg_maj_fault = raw(s, "pgmajfault");
    mem.inactive_anon = raw(s, "inactive_anon");
    mem.active_anon = raw(s, "active_anon");
    mem.inactive_file = raw(s, "inactive_file");
    mem.active_file = raw(s, "active_file");
    mem.unevictable = raw(s, "unevictable");
    mem.hierarchical_memory_limit = raw(s, "hierarchical_memory_limit");
    mem.total_cache = raw(s, "total_cache");
    mem.total_rss = raw(s, "total_rss");
    mem.total_mapped_file = raw(s, "total_mapped_file");
    // CRI's working set is usage - total_inactive_file
    mem.total_inactive_file = raw(s, "total_inactive_file");
    mem.total_active_file = raw(s, "total_active_file");
    mem.total_inactive_anon = raw(s, "total_inactive_anon");
    mem.total_active_anon = raw(s, "total_active_anon");
    mem.usage = Some(entry(&s.memory.usage)).into();
    mem.swap = Some(entry(&s.memory.swap)).into();
    mem.kernel = Some(entry(&s.memory.kernel)).into();
    mem.kernel_tcp = Some(entry(&s.memory.kernel_tcp)).into();
    m.memory = Some(mem).into();
    let mut oom = v1::MemoryOomControl::new();
    oom.oom_kill = s.oom_kills;
    m.memory_oom_control = Some(oom).into();
    m
}

pub fn to_v2(s: &Stats) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut pids = v2::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = Some(pids).into();
    let mut cpu = v2::CPUStat::new();
    cpu.usage_usec = s.cpu.usage.total / 1000;
    cpu.user_usec = s.cpu.usage.user / 1000;
    cpu.system_usec = s.cpu.usage.kernel / 1000;
    cpu.nr_periods = s.cpu.throttling.periods;
    cpu.nr_throttled = s.cpu.throttling.throttled_periods;
    cpu.throttled_usec = s.cpu.throttling.throttled_time / 1000;
    m.cpu = Some(cpu).into();
    let mut mem = v2::MemoryStat::new();
    mem.usage = s.memory.usage.usage;
    mem.usage_limit = s.memory.usage.limit;
    mem.max_usage = s.memory.usage.max;
    mem.anon = raw(s, "anon");
    mem.file = raw(s, "file");
    mem.kernel_stack = raw(s, "kernel_stack");
    mem.slab = raw(s, "slab");
    mem.sock = raw(s, "sock");
    mem.shmem = raw(s, "shmem");
    mem.file_mapped = raw(s, "file_mapped");
    // CRI's working set is usage - inactive_file
    mem.inactive_file = raw(s, "inactive_file");
    mem.active_file = raw(s, "active_file");
    mem.inactive_anon = raw(s, "inactive_anon");
    mem.active_anon = raw(s, "active_anon");
    mem.pgfault = raw(s, "pgfault");
    mem.pgmajfault = raw(s, "pgmajfault");
    m.memory = Some(mem).into();
    let mut ev = v2::MemoryEvents::new();
    let e = |k: &str| s.memory.events.get(k).copied().unwrap_or(0);
    ev.low = e("low");
    ev.high = e("high");
    ev.max = e("max");
    ev.oom = e("oom");
    ev.oom_kill = s.oom_kills.max(e("oom_kill"));
    m.memory_events = Some(ev).into();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v2: bool) -> Stats {
        let mut s = Stats::default();
        s.v2 = v2;
        s.pids.current = 2;
        s.pids.limit = 10;
        s.cpu.usage.total = 5000;
        s.cpu.usage.kernel = 1000;
        s.cpu.usage.user = 4000;
        s.cpu.usage.percpu = Some(vec![2000, 3000]);
        s.cpu.throttling.throttled_time = 7000;
        s.memory.usage.limit = 1048576;
        s.memory.usage.usage = 4096;
        s.memory.usage.failcnt = 2;
        s.memory.raw.insert("rss".into(), 12);
        s.memory.raw.insert("anon".into(), 13);
        s.memory.raw.insert("total_inactive_file".into(), 100);
        s.oom_kills = 1;
        s
    }

    #[test]
    fn v1_metrics_from_stats() {
        let a = to_v1(&sample(false));
        assert_eq!(a.pids.current, 2);
        assert_eq!(a.pids.limit, 10);
        assert_eq!(a.cpu.usage.total, 5000);
        assert_eq!(a.cpu.usage.per_cpu, vec![2000, 3000]);
        assert_eq!(a.cpu.throttling.throttled_time, 7000);
        assert_eq!(a.memory.usage.limit, 1048576);
        assert_eq!(a.memory.usage.failcnt, 2);
        assert_eq!(a.memory.rss, 12);
        assert_eq!(a.memory.total_inactive_file, 100);
        assert_eq!(a.memory_oom_control.oom_kill, 1);
    }

    #[test]
    fn v2_metrics_from_stats() {
        let b = to_v2(&sample(true));
        assert_eq!(b.cpu.usage_usec, 5);
        assert_eq!(b.memory.usage, 4096);
        assert_eq!(b.memory.usage_limit, 1048576);
        assert_eq!(b.memory.anon, 13);
        assert_eq!(b.memory_events.oom_kill, 1);
    }

    #[test]
    fn any_type_follows_the_cgroup_version() {
        assert_eq!(
            to_any(&sample(false)).type_url,
            "io.containerd.cgroups.v1.Metrics"
        );
        assert_eq!(
            to_any(&sample(true)).type_url,
            "io.containerd.cgroups.v2.Metrics"
        );
    }
}
