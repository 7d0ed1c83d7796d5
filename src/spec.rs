//! Load and validate an OCI bundle's config.json. Every error names the field and value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// The runtime-spec version podrun implements and writes.
pub const OCI_VERSION: &str = "1.2.0";

/// Reads `<bundle>/config.json` and validates it for `create`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Spec(format!(
                "JSON specification file {} not found",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let spec = parse(&data).map_err(|e| Error::Spec(format!("{}: {e}", path.display())))?;
    validate(&spec)?;
    Ok(spec)
}

/// Parses config.json text; errors carry serde's line and column.
pub fn parse(data: &[u8]) -> Result<Spec, String> {
    serde_json::from_slice::<Spec>(data).map_err(|e| format!("invalid config: {e}"))
}

/// The checks runc makes before creating anything.
pub fn validate(spec: &Spec) -> Result<()> {
    let bad = |m: String| Err(Error::Spec(m));
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" {
        return bad(format!(
            "ociVersion {:?} is not supported (podrun implements {OCI_VERSION})",
            spec.version()
        ));
    }
    let Some(root) = spec.root() else {
        return bad("root must be set: root.path names the container's rootfs".into());
    };
    if root.path().as_os_str().is_empty() {
        return bad("root.path must not be empty".into());
    }
    let Some(process) = spec.process() else {
        return bad("process is missing from config.json: create needs process.args".into());
    };
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => return bad("process.args must not be empty".into()),
    }
    if !process.cwd().is_absolute() {
        return bad(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd().display()
        ));
    }
    validate_user(process.user(), "process.user")?;
    if let Some(env) = process.env() {
        for e in env {
            if !e.contains('=') {
                return bad(format!(
                    "process.env entry {e:?} is not of the form KEY=value"
                ));
            }
        }
    }
    if let Some(rlimits) = process.rlimits() {
        let mut seen = HashSet::new();
        for r in rlimits {
            if !seen.insert(format!("{:?}", r.typ())) {
                return bad(format!("process.rlimits: duplicate rlimit {}", r.typ()));
            }
            if r.soft() > r.hard() {
                return bad(format!(
                    "process.rlimits: {} soft limit {} is greater than hard limit {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ));
            }
        }
    }
    if let Some(mounts) = spec.mounts() {
        for m in mounts {
            if !m.destination().is_absolute() {
                return bad(format!(
                    "mounts: destination {:?} must be an absolute path",
                    m.destination().display()
                ));
            }
        }
    }
    if let Some(hooks) = spec.hooks() {
        let all = [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ];
        for (kind, list) in all {
            for h in list.iter().flatten() {
                if !h.path().is_absolute() {
                    return bad(format!(
                        "hooks.{kind}: path {:?} must be an absolute path",
                        h.path().display()
                    ));
                }
                if let Some(t) = h.timeout() {
                    if t <= 0 {
                        return bad(format!("hooks.{kind}: timeout {t} must be positive"));
                    }
                }
            }
        }
    }
    validate_linux(spec)
}

fn validate_linux(spec: &Spec) -> Result<()> {
    let bad = |m: String| Err(Error::Spec(m));
    let Some(linux) = spec.linux() else {
        return bad("linux is missing from config.json".into());
    };
    let mut seen = HashSet::new();
    let mut new_user = false;
    let mut has_mount = false;
    for ns in linux.namespaces().iter().flatten() {
        if !seen.insert(ns.typ()) {
            return bad(format!(
                "linux.namespaces: duplicate namespace type {}",
                ns_name(ns.typ())
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return bad(format!(
                    "linux.namespaces: {} path {:?} must be an absolute path",
                    ns_oci_name(ns.typ()),
                    p.display()
                ));
            }
        }
        if ns.typ() == LinuxNamespaceType::User && ns.path().is_none() {
            new_user = true;
        }
        if ns.typ() == LinuxNamespaceType::Mount {
            has_mount = true;
        }
    }
    // Without a mount namespace the container runs in the runtime's (runtime-spec: a missing
    // type is inherited), chrooted into its rootfs, as with runc; which refuses masked and
    // readonly paths there (they would cover the host's /proc and /sys).
    let restricts = linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
        || linux
            .readonly_paths()
            .as_ref()
            .is_some_and(|p| !p.is_empty());
    if !has_mount && restricts {
        return bad(
            "linux.maskedPaths/readonlyPaths: unable to restrict sys entries without a private MNT namespace"
                .into(),
        );
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !has_maps {
        return bad(
            "linux.uidMappings and linux.gidMappings are required with a new user namespace".into(),
        );
    }
    if !new_user && has_maps && !seen.contains(&LinuxNamespaceType::User) {
        return bad(
            "linux.uidMappings are set but there is no user namespace in linux.namespaces".into(),
        );
    }
    if let Some(sysctl) = linux.sysctl() {
        for k in sysctl.keys() {
            if k.is_empty() || k.contains("..") || k.starts_with('/') || k.starts_with('.') {
                return bad(format!("linux.sysctl: invalid key {k:?}"));
            }
            check_sysctl_namespace(k, linux.namespaces().as_deref().unwrap_or(&[]))?;
        }
    }
    if let Some(p) = linux.cgroups_path() {
        if p.as_os_str().is_empty() {
            return bad("linux.cgroupsPath must not be empty when set".into());
        }
    }
    Ok(())
}

/// The ipc-namespaced sysctls outside the `fs.mqueue.` tree (the kernel's ipc_sysctls).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A sysctl may be set only when it belongs to a namespace the container has its own of, as
/// runc's validator rules: every other sysctl is host-wide, and writing it would change the
/// host. `kernel.msg*`, `kernel.sem`, `kernel.shm*` and `fs.mqueue.*` need an ipc namespace,
/// `net.*` a network namespace that is not the host's, `kernel.hostname`/`kernel.domainname`
/// a uts namespace.
fn check_sysctl_namespace(key: &str, namespaces: &[LinuxNamespace]) -> Result<()> {
    let k = key.replace('/', ".");
    let has = |t: LinuxNamespaceType| namespaces.iter().find(|n| n.typ() == t);
    let refuse = |why: &str| Err(Error::Spec(format!("linux.sysctl: sysctl {key:?} {why}")));
    if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        if has(LinuxNamespaceType::Ipc).is_none() {
            return refuse("is not allowed in the host's ipc namespace");
        }
        return Ok(());
    }
    if k.starts_with("net.") {
        let Some(ns) = has(LinuxNamespaceType::Network) else {
            return refuse("is not allowed in the host's network namespace");
        };
        if let Some(path) = ns.path() {
            if is_host_namespace(path, "net") {
                return refuse(&format!(
                    "is not allowed in the host's network namespace ({} is the host's)",
                    path.display()
                ));
            }
        }
        return Ok(());
    }
    if k == "kernel.hostname" || k == "kernel.domainname" {
        if has(LinuxNamespaceType::Uts).is_none() {
            return refuse("is not allowed in the host's uts namespace");
        }
        return Ok(());
    }
    refuse("is not in a separate kernel namespace: it would change the host's value")
}

/// True when `path` is the same namespace as the runtime's own (the host's) of `kind`.
fn is_host_namespace(path: &Path, kind: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let own = format!("/proc/self/ns/{kind}");
    match (std::fs::metadata(path), std::fs::metadata(own)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Ids the kernel can switch to: 0..=2147483647. (uid_t is unsigned, but -1 (4294967295)
/// means "leave unchanged" to setresuid, and the kernel refuses ids above INT_MAX in maps.)
pub const MAX_ID: u32 = i32::MAX as u32;

/// Refuses a uid, gid or additional gid outside 0..=2147483647. `what` names the source
/// (`process.user`, `--user`, a process.json path).
pub fn validate_user(user: &oci_spec::runtime::User, what: &str) -> Result<()> {
    let bad = |field: &str, v: u32| {
        Err(Error::Spec(format!(
            "{what}: {field} {v} is out of range: ids must be between 0 and {MAX_ID}"
        )))
    };
    if user.uid() > MAX_ID {
        return bad("uid", user.uid());
    }
    if user.gid() > MAX_ID {
        return bad("gid", user.gid());
    }
    for g in user.additional_gids().iter().flatten() {
        if *g > MAX_ID {
            return bad("additionalGids entry", *g);
        }
    }
    Ok(())
}

/// The short name of a namespace type as it appears under /proc/PID/ns.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The OCI name of a namespace type (`network`, `mount`, ...).
pub fn ns_oci_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Network => "network",
        other => ns_name(other),
    }
}

/// The rootfs of `spec`, resolved against the bundle and canonicalized; it must be a directory.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Spec("root must be set".into()))?;
    let p = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let canon = std::fs::canonicalize(&p).map_err(|e| {
        Error::Spec(format!(
            "root.path {}: rootfs does not exist or is unreadable: {e}",
            p.display()
        ))
    })?;
    if !canon.is_dir() {
        return Err(Error::Spec(format!(
            "root.path {} is not a directory",
            canon.display()
        )));
    }
    Ok(canon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        })
    }

    fn check(v: &serde_json::Value) -> Result<(), String> {
        let spec = parse(v.to_string().as_bytes())?;
        validate(&spec).map_err(|e| e.to_string())
    }

    #[test]
    fn valid_minimal() {
        check(&base()).unwrap();
    }

    #[test]
    fn sysctls_need_their_own_namespace() {
        let with = |ns: serde_json::Value, key: &str| {
            let mut v = base();
            v["linux"]["namespaces"] = ns;
            v["linux"]["sysctl"] = serde_json::json!({ key: "1" });
            check(&v)
        };
        let all =
            serde_json::json!([{"type":"mount"},{"type":"ipc"},{"type":"network"},{"type":"uts"}]);
        let mnt = serde_json::json!([{"type":"mount"}]);
        for key in [
            "kernel.shmmax",
            "kernel.msgmnb",
            "kernel.sem",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
            "kernel.hostname",
        ] {
            with(all.clone(), key).unwrap();
            let err = with(mnt.clone(), key).unwrap_err();
            assert!(err.contains("host's"), "{key}: {err}");
        }
        for key in [
            "vm.stat_interval",
            "kernel.pid_max",
            "fs.file-max",
            "kernel.shmfoo",
        ] {
            let err = with(all.clone(), key).unwrap_err();
            assert!(
                err.contains("not in a separate kernel namespace"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn ids_above_int_max_are_refused() {
        for user in [
            serde_json::json!({"uid": 4294967295u64, "gid": 0}),
            serde_json::json!({"uid": 0, "gid": 2147483648u64}),
            serde_json::json!({"uid": 0, "gid": 0, "additionalGids": [1, 4294967295u64]}),
        ] {
            let mut v = base();
            v["process"]["user"] = user;
            assert!(check(&v).unwrap_err().contains("out of range"));
        }
        let mut v = base();
        v["process"]["user"] = serde_json::json!({"uid": 2147483647, "gid": 2147483647});
        check(&v).unwrap();
    }

    #[test]
    fn bad_json_has_position() {
        let e = parse(b"{\n  \"ociVersion\": 1,,\n}").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn rejections_name_the_field() {
        let cases: Vec<(fn(&mut serde_json::Value), &str)> = vec![
            (
                |v| v["process"]["args"] = serde_json::json!([]),
                "process.args",
            ),
            (|v| v["process"]["cwd"] = "rel".into(), "process.cwd"),
            (
                |v| {
                    v.as_object_mut().unwrap().remove("process");
                },
                "process is missing",
            ),
            (
                |v| {
                    v.as_object_mut().unwrap().remove("root");
                },
                "root",
            ),
            (|v| v["ociVersion"] = "2.0.0".into(), "ociVersion"),
            (
                |v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type":"mount"},{"type":"mount"}])
                },
                "duplicate namespace",
            ),
            (
                |v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type":"mount"},{"type":"bogus"}])
                },
                "bogus",
            ),
            (
                |v| {
                    v["linux"]["namespaces"] =
                        serde_json::json!([{"type":"mount"},{"type":"network","path":"rel/x"}])
                },
                "absolute",
            ),
            (
                |v| {
                    v["linux"]["namespaces"] = serde_json::json!([{"type":"mount"},{"type":"user"}])
                },
                "uidMappings",
            ),
            (
                |v| {
                    v["process"]["rlimits"] =
                        serde_json::json!([{"type":"RLIMIT_BOGUS","soft":1,"hard":1}])
                },
                "RLIMIT_BOGUS",
            ),
            (
                |v| v["process"]["capabilities"] = serde_json::json!({"bounding":["CAP_BOGUS"]}),
                "CAP_BOGUS",
            ),
            (
                |v| {
                    v["mounts"] =
                        serde_json::json!([{"destination":"rel","type":"tmpfs","source":"tmpfs"}])
                },
                "destination",
            ),
            (
                |v| v["hooks"] = serde_json::json!({"prestart":[{"path":"rel"}]}),
                "hooks.prestart",
            ),
        ];
        for (edit, want) in cases {
            let mut v = base();
            edit(&mut v);
            let err = check(&v).expect_err(want);
            assert!(err.contains(want), "error {err:?} should mention {want:?}");
        }
    }
}
