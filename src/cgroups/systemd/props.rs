//! `linux.resources` → the unit properties systemd knows, named and converted as runc's
//! systemd drivers do: on cgroup v2 MemoryMax, MemoryLow (reservation), MemorySwapMax (swap
//! minus memory), CPUWeight (shares converted), CPUQuotaPerSecUSec (+CPUQuotaPeriodUSec),
//! TasksMax, AllowedCPUs/AllowedMemoryNodes (bitmasks), IOWeight and IO*BandwidthMax/IOPSMax;
//! on v1/hybrid MemoryLimit, CPUShares, BlockIOWeight and the same CPU quota, TasksMax and
//! cpusets. Device rules become DevicePolicy=strict + DeviceAllow. What has no property
//! (swappiness, hugetlb, rdma, net_cls, unified keys, v1 swap...) is written to the files
//! afterwards by the cgroupfs code, which also writes podrun's own device program/files.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::cgroups::resources::{shares_to_weight, without_unset};

/// A property value, as the D-Bus signature it goes out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `t`
    U64(u64),
    /// `s`
    Str(String),
    /// `au`
    U32s(Vec<u32>),
    /// `ay`
    Bytes(Vec<u8>),
    /// `a(ss)`
    Pairs(Vec<(String, String)>),
    /// `a(st)`
    PathValues(Vec<(String, u64)>),
}

pub type Props = Vec<(String, Value)>;

/// systemd's "infinity" for limits (USEC_INFINITY, CGROUP_LIMIT_MAX).
pub const INFINITY: u64 = u64::MAX;
/// The CFS period when a quota comes without one.
const DEFAULT_PERIOD: u64 = 100_000;

fn prop(name: &str, v: Value) -> (String, Value) {
    (name.to_string(), v)
}

/// runc: -1 is infinity, everything else as is.
fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v.unsigned_abs()
    }
}

/// The accounting properties runc always turns on.
pub fn accounting(v2: bool) -> Props {
    let io = if v2 {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    ["MemoryAccounting", "CPUAccounting", io, "TasksAccounting"]
        .iter()
        .map(|n| prop(n, Value::Bool(true)))
        .collect()
}

/// The resource properties for `r` (unset fields give none). `v2`: the unified names.
/// Errors are those runc gives (swap without a memory limit, a bad cpu list).
pub fn resources(r: &LinuxResources, v2: bool) -> std::result::Result<Props, String> {
    let r = without_unset(r);
    let mut out = Props::new();
    if let Some(m) = r.memory() {
        if v2 {
            if let Some(l) = m.limit() {
                out.push(prop("MemoryMax", Value::U64(limit(l))));
            }
            if let Some(l) = m.reservation() {
                out.push(prop("MemoryLow", Value::U64(limit(l))));
            }
            if let Some(s) = swap_v2(m.swap(), m.limit())? {
                out.push(prop("MemorySwapMax", Value::U64(s)));
            }
        } else if let Some(l) = m.limit() {
            out.push(prop("MemoryLimit", Value::U64(limit(l))));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            if v2 {
                out.push(prop("CPUWeight", Value::U64(shares_to_weight(s))));
            } else {
                out.push(prop("CPUShares", Value::U64(s)));
            }
        }
        out.extend(cpu_quota(c.quota(), c.period()));
        if let Some(cpus) = c.cpus() {
            out.push(prop("AllowedCPUs", Value::Bytes(bitmask(cpus)?)));
        }
        if let Some(mems) = c.mems() {
            out.push(prop("AllowedMemoryNodes", Value::Bytes(bitmask(mems)?)));
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() > 0 || p.limit() == -1 {
            out.push(prop("TasksMax", Value::U64(limit(p.limit()))));
        }
    }
    if let Some(b) = r.block_io() {
        if let Some(w) = b.weight() {
            if v2 {
                out.push(prop("IOWeight", Value::U64(blkio_to_io_weight(w))));
            } else {
                out.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
            }
        }
        if v2 {
            let lists = [
                ("IOReadBandwidthMax", b.throttle_read_bps_device()),
                ("IOWriteBandwidthMax", b.throttle_write_bps_device()),
                ("IOReadIOPSMax", b.throttle_read_iops_device()),
                ("IOWriteIOPSMax", b.throttle_write_iops_device()),
            ];
            for (name, list) in lists {
                let entries: Vec<(String, u64)> = list
                    .iter()
                    .flatten()
                    .map(|t| (format!("/dev/block/{}:{}", t.major(), t.minor()), t.rate()))
                    .collect();
                if !entries.is_empty() {
                    out.push(prop(name, Value::PathValues(entries)));
                }
            }
        }
    }
    if let Some(rules) = r.devices() {
        out.extend(devices(rules, &proc_devices()));
    }
    Ok(out)
}

/// runc's ConvertMemorySwapToCgroupV2Value: swap is memory+swap in the spec, swap alone in
/// MemorySwapMax.
fn swap_v2(swap: Option<i64>, memory: Option<i64>) -> std::result::Result<Option<u64>, String> {
    let Some(swap) = swap else {
        return Ok(None);
    };
    if swap == -1 {
        return Ok(Some(INFINITY));
    }
    match memory {
        None => Err("unable to set swap limit without memory limit".into()),
        Some(-1) => Err(format!(
            "invalid swap value: {swap} (memory limit is unlimited)"
        )),
        Some(m) if m > swap => Err(format!(
            "memory+swap limit ({swap}) should be greater than memory limit ({m})"
        )),
        Some(m) => Ok(Some((swap - m).unsigned_abs())),
    }
}

/// runc's addCpuQuota: microseconds per CPU second, rounded up to the next 10 ms (systemd
/// keeps a percentage); infinity for an unlimited quota; the period when one is given.
fn cpu_quota(quota: Option<i64>, period: Option<u64>) -> Props {
    let q = quota.unwrap_or(0);
    let p = period.unwrap_or(0);
    let mut out = Props::new();
    if q == 0 && p == 0 {
        return out;
    }
    let mut per_sec = INFINITY;
    if q > 0 {
        let period = if p == 0 { DEFAULT_PERIOD } else { p };
        per_sec = q.unsigned_abs().saturating_mul(1_000_000) / period;
        if per_sec % 10_000 != 0 {
            per_sec = (per_sec / 10_000 + 1) * 10_000;
        }
    }
    out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    if p != 0 {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
    }
    out
}

/// runc's ConvertBlkIOToIOWeightValue: blkio weight 10..1000 → io weight 1..10000.
fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// A cpu/node list (`0-3,7`) as systemd's bitmask: byte i holds CPUs 8i..8i+7, lowest bit
/// first.
pub fn bitmask(list: &str) -> std::result::Result<Vec<u8>, String> {
    let mut bytes: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("invalid cpu/node list {list:?}"))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi || hi >= 8192 {
            return Err(format!("invalid cpu/node list {list:?}"));
        }
        for bit in lo..=hi {
            if bytes.len() <= bit / 8 {
                bytes.resize(bit / 8 + 1, 0);
            }
            bytes[bit / 8] |= 1 << (bit % 8);
        }
    }
    if bytes.is_empty() {
        return Err(format!("invalid cpu/node list {list:?}"));
    }
    Ok(bytes)
}

/// The character/block device groups of /proc/devices: (type, major, name).
fn proc_devices() -> Vec<(char, i64, String)> {
    let text = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    parse_proc_devices(&text)
}

fn parse_proc_devices(text: &str) -> Vec<(char, i64, String)> {
    let mut out = Vec::new();
    let mut kind = ' ';
    for line in text.lines() {
        match line.trim() {
            "Character devices:" => kind = 'c',
            "Block devices:" => kind = 'b',
            l => {
                if let Some((major, name)) = l.split_once(' ') {
                    if let Ok(m) = major.trim().parse::<i64>() {
                        out.push((kind, m, name.trim().to_string()));
                    }
                }
            }
        }
    }
    out
}

/// Device rules → DevicePolicy/DeviceAllow, as runc's systemd device properties: a list that
/// ends up allowing everything gives `auto` and no entries; otherwise `strict` with one entry
/// per allow rule after the last deny-all (`/dev/char/M:m`, `char-<group>` for a whole
/// major, `char-*` for every major). systemd cannot express a deny of one device: those are
/// left to podrun's own program (v2) or devices.deny (v1), written after the unit starts.
pub fn devices(rules: &[LinuxDeviceCgroup], groups: &[(char, i64, String)]) -> Props {
    let is_all = |r: &LinuxDeviceCgroup| {
        matches!(r.typ(), None | Some(LinuxDeviceType::A))
            && r.major().is_none()
            && r.minor().is_none()
    };
    // The rules that decide: everything after the last rule about all devices.
    let start = rules.iter().rposition(is_all);
    let default_allow = match start {
        Some(i) => rules[i].allow(),
        None => true, // no rule about everything: the kernel's default, allow
    };
    if default_allow {
        return vec![
            prop("DevicePolicy", Value::Str("auto".into())),
            prop("DeviceAllow", Value::Pairs(Vec::new())),
        ];
    }
    let mut allow = Vec::new();
    for r in rules.iter().skip(start.map_or(0, |i| i + 1)) {
        if !r.allow() {
            continue;
        }
        let access: String = r
            .access()
            .as_deref()
            .unwrap_or("rwm")
            .chars()
            .filter(|c| matches!(c, 'r' | 'w' | 'm'))
            .collect();
        let access = if access.is_empty() {
            "rwm".to_string()
        } else {
            access
        };
        let kinds: &[(char, &str)] = match r.typ() {
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => &[('c', "char")],
            Some(LinuxDeviceType::B) => &[('b', "block")],
            _ => &[('c', "char"), ('b', "block")],
        };
        for &(k, word) in kinds {
            let entry = match (r.major(), r.minor()) {
                (None, _) => Some(format!("{word}-*")),
                (Some(maj), None) => groups
                    .iter()
                    .find(|(t, m, _)| *t == k && *m == maj)
                    .map(|(_, _, name)| format!("{word}-{name}")),
                (Some(maj), Some(min)) => Some(format!("/dev/{word}/{maj}:{min}")),
            };
            match entry {
                Some(e) => allow.push((e, access.clone())),
                None => tracing::warn!(
                    "systemd: no device group for {word} major {:?} in /proc/devices; left to podrun's device rules",
                    r.major()
                ),
            }
        }
    }
    vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Pairs(allow)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
        LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    fn get<'a>(p: &'a Props, name: &str) -> Option<&'a Value> {
        p.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn v2_names_and_conversions_as_runc() {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .reservation(32 << 20)
                    .swap(96 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .cpus("0-3,9")
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(42).build().unwrap())
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(500u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let p = resources(&r, true).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(64 << 20)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(32 << 20)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(32 << 20)));
        // runc: 1 + ((1024 - 2) * 9999) / 262142 = 39
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(42)));
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(&Value::Bytes(vec![0x0f, 0x02]))
        );
        assert_eq!(
            get(&p, "AllowedMemoryNodes"),
            Some(&Value::Bytes(vec![0x01]))
        );
        // runc: 1 + (500 - 10) * 9999 / 990 = 4950
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(4950)));
        assert!(get(&p, "MemoryLimit").is_none() && get(&p, "CPUShares").is_none());
    }

    #[test]
    fn v1_names_as_runc_v1_driver() {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(LinuxCpuBuilder::default().shares(512u64).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(300u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let p = resources(&r, false).unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(64 << 20)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(INFINITY)));
        assert!(get(&p, "MemoryMax").is_none() && get(&p, "CPUWeight").is_none());
        assert_eq!(
            accounting(false)
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            [
                "MemoryAccounting",
                "CPUAccounting",
                "BlockIOAccounting",
                "TasksAccounting"
            ]
        );
    }

    #[test]
    fn quota_rounds_up_to_10ms_and_unlimited_is_infinity() {
        // runc's TestAddCpuQuota-like cases.
        assert_eq!(
            cpu_quota(Some(123_456), Some(100_000)),
            vec![
                prop("CPUQuotaPerSecUSec", Value::U64(1_240_000)),
                prop("CPUQuotaPeriodUSec", Value::U64(100_000))
            ]
        );
        assert_eq!(
            cpu_quota(Some(5_000), None),
            vec![prop("CPUQuotaPerSecUSec", Value::U64(50_000))]
        );
        assert_eq!(
            cpu_quota(Some(-1), None),
            vec![prop("CPUQuotaPerSecUSec", Value::U64(INFINITY))]
        );
        assert!(cpu_quota(None, None).is_empty());
    }

    #[test]
    fn zeros_set_nothing_and_swap_needs_memory() {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(0)
                    .swap(0)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(0u64)
                    .quota(0i64)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(0).build().unwrap())
            .build()
            .unwrap();
        assert!(resources(&r, true).unwrap().is_empty());
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().swap(1 << 20).build().unwrap())
            .build()
            .unwrap();
        assert!(resources(&r, true)
            .unwrap_err()
            .contains("without memory limit"));
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(-1)
                    .swap(-1)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let p = resources(&r, true).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(INFINITY)));
    }

    #[test]
    fn bitmasks() {
        assert_eq!(bitmask("0-3").unwrap(), vec![0x0f]);
        assert_eq!(bitmask("1,9").unwrap(), vec![0x02, 0x02]);
        assert_eq!(bitmask("0-7,16").unwrap(), vec![0xff, 0x00, 0x01]);
        assert!(bitmask("3-1").is_err());
        assert!(bitmask("x").is_err());
    }

    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn device_rules_as_strict_allow_list() {
        let groups = parse_proc_devices(
            "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n",
        );
        let rules = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, None, None, "m"),
            rule(true, LinuxDeviceType::B, None, None, "m"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::C, Some(136), None, "rwm"),
            rule(false, LinuxDeviceType::C, Some(1), Some(5), "rwm"),
        ];
        let p = devices(&rules, &groups);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
        let want: Vec<(String, String)> = [
            ("char-*", "m"),
            ("block-*", "m"),
            ("/dev/char/1:3", "rwm"),
            ("char-pts", "rwm"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(get(&p, "DeviceAllow"), Some(&Value::Pairs(want)));
        // allow-all last (a privileged container): no restriction from systemd
        let mut all = rules.clone();
        all.push(rule(true, LinuxDeviceType::A, None, None, "rwm"));
        assert_eq!(
            get(&devices(&all, &groups), "DevicePolicy"),
            Some(&Value::Str("auto".into()))
        );
    }
}
