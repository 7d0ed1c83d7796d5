//! `podrun update`: change resource limits of a running container.
//!
//! As runc: `--resources FILE|-` reads a `linux.resources` JSON document (go-runc's `Update`
//! pipes one on stdin) and then every other flag is ignored; otherwise the flags build one.
//! Memory values take docker's binary units (`512m`, `1g`, `1.5GiB`) or `-1` for unlimited;
//! `--pids-limit 0` means "unchanged", `-1` unlimited. Every value is checked before any cgroup
//! file is written, so a bad value leaves the container unchanged; applying them is
//! [`crate::container::update`] (which refuses a stopped container, "container not running").
//! Device rules in the document replace the container's (runc ignores them; here `update` can
//! change them).

use std::io::Read;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::cli::Global;
use crate::container::update::{
    check_cpu_list, check_resources as check_resources_of, unlimited_memory_means_unlimited_swap,
};
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to a JSON linux.resources document, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Memory limit: bytes, or with a unit (512m, 1g), or -1 for unlimited
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap; -1 for unlimited
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (runc spells it --cpu-share)
    #[arg(long = "cpu-shares", alias = "cpu-share", allow_hyphen_values = true)]
    pub cpu_shares: Option<String>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let resources = match &a.resources {
        Some(src) => {
            warn_ignored_flags(&a);
            resources_from_json(&read_resources(src)?, src)?
        }
        None => resources_from_flags(&a)?,
    };
    crate::container::update(&g.root, &a.id, resources)?;
    Ok(0)
}

fn warn_ignored_flags(a: &Args) {
    let flags = [
        ("memory", &a.memory),
        ("memory-reservation", &a.memory_reservation),
        ("memory-swap", &a.memory_swap),
        ("kernel-memory-tcp", &a.kernel_memory_tcp),
        ("cpu-shares", &a.cpu_shares),
        ("cpu-quota", &a.cpu_quota),
        ("cpu-period", &a.cpu_period),
        ("cpuset-cpus", &a.cpuset_cpus),
        ("cpuset-mems", &a.cpuset_mems),
        ("pids-limit", &a.pids_limit),
    ];
    for (name, v) in flags {
        if v.is_some() {
            tracing::warn!("update: --{name} is ignored when --resources is given");
        }
    }
}

/// The document named by `--resources`: a file, or stdin for `-`.
fn read_resources(src: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if src == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut data)
            .map_err(|e| Error::io("read --resources from", "stdin", e))?;
    } else {
        data = std::fs::read(src).map_err(|e| Error::io("read --resources", src, e))?;
    }
    Ok(data)
}

/// Parses and checks a `linux.resources` document. Device rules, when given, replace the
/// container's (deny-all first and the default allowances last, as at create; on cgroup v2 the
/// new program is attached before the old one is detached).
pub(crate) fn resources_from_json(data: &[u8], src: &str) -> Result<LinuxResources> {
    let r: LinuxResources = serde_json::from_slice(data).map_err(|e| {
        Error::Usage(format!(
            "--resources {src}: invalid linux.resources JSON: {e}"
        ))
    })?;
    check_resources(&r, src)?;
    Ok(unlimited_memory_means_unlimited_swap(r))
}

/// Values the kernel would refuse only after other files were already written.
fn check_resources(r: &LinuxResources, src: &str) -> Result<()> {
    check_resources_of(r).map_err(|why| Error::Usage(format!("--resources {src}: {why}")))
}

/// Builds `linux.resources` from the individual flags, checking every value.
pub(crate) fn resources_from_flags(a: &Args) -> Result<LinuxResources> {
    let mut memory = Map::new();
    let mut cpu = Map::new();
    let mut doc = Map::new();
    let byte_flags = [
        ("memory", &a.memory, "limit"),
        ("memory-reservation", &a.memory_reservation, "reservation"),
        ("memory-swap", &a.memory_swap, "swap"),
        ("kernel-memory-tcp", &a.kernel_memory_tcp, "kernelTCP"),
    ];
    for (flag, value, field) in byte_flags {
        if let Some(v) = value {
            memory.insert(field.into(), json!(parse_memory_flag(flag, v)?));
        }
    }
    for (flag, value, field) in [
        ("cpu-shares", &a.cpu_shares, "shares"),
        ("cpu-period", &a.cpu_period, "period"),
    ] {
        if let Some(v) = value {
            cpu.insert(field.into(), json!(parse_unsigned_flag(flag, v)?));
        }
    }
    if let Some(v) = &a.cpu_quota {
        cpu.insert("quota".into(), json!(parse_limit_flag("cpu-quota", v)?));
    }
    for (flag, value, field) in [
        ("cpuset-cpus", &a.cpuset_cpus, "cpus"),
        ("cpuset-mems", &a.cpuset_mems, "mems"),
    ] {
        match value.as_deref() {
            None | Some("") => {}
            Some(v) => {
                check_cpu_list(v).map_err(|why| {
                    Error::Usage(format!("invalid value for --{flag} {v:?}: {why}"))
                })?;
                cpu.insert(field.into(), json!(v));
            }
        }
    }
    if let Some(v) = &a.pids_limit {
        let limit = parse_limit_flag("pids-limit", v)?;
        if limit != 0 {
            doc.insert("pids".into(), json!({ "limit": limit }));
        }
    }
    if !memory.is_empty() {
        doc.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        doc.insert("cpu".into(), Value::Object(cpu));
    }
    let r: LinuxResources = serde_json::from_value(Value::Object(doc))
        .map_err(|e| Error::other(format!("update: build linux.resources: {e}")))?;
    Ok(unlimited_memory_means_unlimited_swap(r))
}

/// A byte size in docker's binary units, or `-1` for unlimited.
fn parse_memory_flag(flag: &str, v: &str) -> Result<i64> {
    if v == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(v).map_err(|why| Error::Usage(format!("invalid value for --{flag}: {why}")))
}

fn parse_unsigned_flag(flag: &str, v: &str) -> Result<u64> {
    v.parse::<u64>().map_err(|e| {
        Error::Usage(format!(
            "invalid value for --{flag}: {v:?}: {e} (a non-negative integer)"
        ))
    })
}

/// An integer that is either non-negative or -1 (unlimited).
fn parse_limit_flag(flag: &str, v: &str) -> Result<i64> {
    let n = v
        .parse::<i64>()
        .map_err(|e| Error::Usage(format!("invalid value for --{flag}: {v:?}: {e}")))?;
    if n < -1 {
        return Err(Error::Usage(format!(
            "invalid value for --{flag}: {n} (a non-negative integer, or -1 for unlimited)"
        )));
    }
    Ok(n)
}

/// docker/go-units `RAMInBytes`: `<number>[ ][kmgtp][i][b]`, case-insensitive, powers of
/// 1024; a fraction is allowed (`1.5g`) and truncated to whole bytes.
pub(crate) fn ram_in_bytes(s: &str) -> std::result::Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let num_len = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_len);
    if num.is_empty()
        || !num.starts_with(|c: char| c.is_ascii_digit())
        || num.ends_with('.')
        || num.matches('.').count() > 1
    {
        return Err(invalid());
    }
    let mut rest = rest.strip_prefix(' ').unwrap_or(rest).chars().peekable();
    let mut mul: f64 = 1.0;
    if let Some(exp) = rest
        .peek()
        .and_then(|c| "kmgtp".find(c.to_ascii_lowercase()))
    {
        mul = 1024f64.powi(exp as i32 + 1);
        rest.next();
    }
    if rest.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        rest.next();
    }
    if rest.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        rest.next();
    }
    if rest.next().is_some() {
        return Err(invalid());
    }
    let value = num.parse::<f64>().map_err(|_| invalid())? * mul;
    if !value.is_finite() || value >= i64::MAX as f64 {
        return Err(format!("invalid size: '{s}' (too large)"));
    }
    Ok(value as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut Args)) -> Args {
        let mut a = Args {
            resources: None,
            memory: None,
            memory_reservation: None,
            memory_swap: None,
            kernel_memory_tcp: None,
            cpu_shares: None,
            cpu_quota: None,
            cpu_period: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            pids_limit: None,
            id: "c".into(),
        };
        f(&mut a);
        a
    }

    #[test]
    fn units_like_go_units() {
        let cases = [
            ("0", 0),
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * 1024),
            ("32K", 32 * 1024),
            ("32kb", 32 * 1024),
            ("32Kib", 32 * 1024),
            ("32KIB", 32 * 1024),
            ("512m", 512 << 20),
            ("512 MiB", 512 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("1i", 1),
        ];
        for (s, want) in cases {
            assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn units_rejects_junk() {
        for s in [
            "", "-1", "-5m", "m", "1x", "1mm", " 1", "1.2.3", "1.", ".5", "1  m", "1mb ", "0x10",
            "9p9",
        ] {
            assert!(ram_in_bytes(s).is_err(), "{s:?} accepted");
        }
        assert!(ram_in_bytes("99999999p").unwrap_err().contains("too large"));
    }

    #[test]
    fn flags_build_resources() {
        let a = args(|a| {
            a.memory = Some("64m".into());
            a.memory_swap = Some("-1".into());
            a.memory_reservation = Some("32m".into());
            a.cpu_shares = Some("512".into());
            a.cpu_quota = Some("-1".into());
            a.cpu_period = Some("100000".into());
            a.cpuset_cpus = Some("0".into());
            a.pids_limit = Some("20".into());
        });
        let r = resources_from_flags(&a).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(m.swap(), Some(-1));
        assert_eq!(m.reservation(), Some(32 << 20));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.quota(), Some(-1));
        assert_eq!(c.period(), Some(100_000));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(c.mems(), &None);
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
    }

    #[test]
    fn flags_only_what_was_given() {
        let r = resources_from_flags(&args(|a| a.pids_limit = Some("0".into()))).unwrap();
        assert!(
            r.memory().is_none() && r.cpu().is_none() && r.pids().is_none(),
            "{r:?}"
        );
        let r = resources_from_flags(&args(|a| a.memory = Some("-1".into()))).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(
            (m.limit(), m.swap()),
            (Some(-1), Some(-1)),
            "unlimited memory means unlimited swap"
        );
    }

    #[test]
    fn flag_errors_name_the_flag() {
        type Edit = fn(&mut Args);
        let cases: [(Edit, &str); 7] = [
            (|a| a.memory = Some("lots".into()), "--memory"),
            (|a| a.memory_swap = Some("-2".into()), "--memory-swap"),
            (
                |a| a.memory_reservation = Some("-5m".into()),
                "--memory-reservation",
            ),
            (|a| a.cpu_shares = Some("-3".into()), "--cpu-shares"),
            (|a| a.cpu_quota = Some("-2".into()), "--cpu-quota"),
            (|a| a.cpuset_cpus = Some("2-1".into()), "--cpuset-cpus"),
            (|a| a.pids_limit = Some("ten".into()), "--pids-limit"),
        ];
        for (edit, flag) in cases {
            let e = resources_from_flags(&args(edit)).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{e:?}");
            assert!(e.to_string().contains(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn json_document() {
        let doc =
            br#"{"memory":{"limit":67108864},"cpu":{"shares":256,"cpus":"0"},"pids":{"limit":50},
            "devices":[{"allow":true,"access":"rwm"}]}"#;
        let r = resources_from_json(doc, "-").unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(256));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
        assert_eq!(
            r.devices().as_ref().map(Vec::len),
            Some(1),
            "device rules are kept"
        );
    }

    #[test]
    fn json_errors() {
        let e = resources_from_json(b"{not json", "f.json").unwrap_err();
        assert!(e.to_string().contains("--resources f.json"), "{e}");
        let e = resources_from_json(br#"{"memory":{"limit":-7}}"#, "-").unwrap_err();
        assert!(e.to_string().contains("memory.limit -7"), "{e}");
        let e = resources_from_json(br#"{"cpu":{"cpus":"x"}}"#, "-").unwrap_err();
        assert!(e.to_string().contains("cpu.cpus"), "{e}");
        let e = resources_from_json(br#"{"pids":{"limit":-9}}"#, "-").unwrap_err();
        assert!(e.to_string().contains("pids.limit"), "{e}");
    }
}
