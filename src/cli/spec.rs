//! `podrun spec`: write runc's default config.json.
//!
//! The output is byte for byte what `runc spec` (runc 1.1) writes: the same fields in the same
//! order, tab-indented, no trailing newline. That includes runc's `"ociVersion": "1.0.2-dev"` and
//! `"hostname": "runc"`, so bundles made with either tool are interchangeable and a test can
//! compare the two outputs exactly. `--rootless` applies runc's rootless conversion.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::Global;
use crate::error::IoContext;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write config.json into
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Generate a config for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

/// The `ociVersion` that runc 1.1's `runc spec` writes (runtime-spec 1.0.2-dev). podrun reads
/// configs of any 1.x version; writing runc's value keeps the two outputs identical.
pub const RUNC_SPEC_OCI_VERSION: &str = "1.0.2-dev";

const SPEC_CONFIG: &str = "config.json";

pub fn run(_g: &Global, a: Args) -> Result<i32> {
    let spec = if a.rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        rootless_spec(uid, gid)
    } else {
        default_spec()
    };
    let bundle = a.bundle.unwrap_or_else(|| PathBuf::from("."));
    write_new_config(&bundle, &to_runc_json(&spec)?)?;
    Ok(0)
}

// The structs below hold exactly the fields `runc spec` prints, in runtime-spec's (Go) field
// order, which is the order serde writes them in.

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DefaultSpec {
    oci_version: &'static str,
    process: Process,
    root: Root,
    hostname: &'static str,
    mounts: Vec<Mount>,
    linux: Linux,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Process {
    terminal: bool,
    user: User,
    args: Vec<&'static str>,
    env: Vec<&'static str>,
    cwd: &'static str,
    capabilities: Capabilities,
    rlimits: Vec<Rlimit>,
    no_new_privileges: bool,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct User {
    uid: u32,
    gid: u32,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Capabilities {
    bounding: Vec<&'static str>,
    effective: Vec<&'static str>,
    permitted: Vec<&'static str>,
    ambient: Vec<&'static str>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Rlimit {
    #[serde(rename = "type")]
    kind: &'static str,
    hard: u64,
    soft: u64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Root {
    path: &'static str,
    readonly: bool,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Mount {
    destination: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<&'static str>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Linux {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Resources>,
    namespaces: Vec<Namespace>,
    masked_paths: Vec<&'static str>,
    readonly_paths: Vec<&'static str>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct IdMapping {
    #[serde(rename = "containerID")]
    container_id: u32,
    #[serde(rename = "hostID")]
    host_id: u32,
    size: u32,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Resources {
    devices: Vec<DeviceRule>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct DeviceRule {
    allow: bool,
    access: &'static str,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Namespace {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// runc's default capability set: every one of the four sets holds these three.
const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

fn mount(
    destination: &'static str,
    kind: &'static str,
    source: &'static str,
    options: &[&'static str],
) -> Mount {
    Mount {
        destination,
        kind,
        source,
        options: options.to_vec(),
    }
}

/// The spec `runc spec` prints.
pub fn default_spec() -> DefaultSpec {
    DefaultSpec {
        oci_version: RUNC_SPEC_OCI_VERSION,
        process: Process {
            terminal: true,
            user: User { uid: 0, gid: 0 },
            args: vec!["sh"],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            cwd: "/",
            capabilities: Capabilities {
                bounding: DEFAULT_CAPS.to_vec(),
                effective: DEFAULT_CAPS.to_vec(),
                permitted: DEFAULT_CAPS.to_vec(),
                ambient: DEFAULT_CAPS.to_vec(),
            },
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NOFILE",
                hard: 1024,
                soft: 1024,
            }],
            no_new_privileges: true,
        },
        root: Root {
            path: "rootfs",
            readonly: true,
        },
        hostname: "runc",
        mounts: vec![
            mount("/proc", "proc", "proc", &[]),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", "ro"],
            ),
        ],
        linux: Linux {
            uid_mappings: None,
            gid_mappings: None,
            resources: Some(Resources {
                devices: vec![DeviceRule {
                    allow: false,
                    access: "rwm",
                }],
            }),
            namespaces: ["pid", "network", "ipc", "uts", "mount"]
                .into_iter()
                .map(|kind| Namespace { kind })
                .collect(),
            masked_paths: vec![
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            readonly_paths: vec![
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }
}

/// The spec `runc spec --rootless` prints for a caller with effective ids `uid`/`gid`: runc's
/// conversion of the default spec (its `specconv.ToRootless`).
pub fn rootless_spec(uid: u32, gid: u32) -> DefaultSpec {
    let mut spec = default_spec();
    let linux = &mut spec.linux;
    // A user namespace (appended last), and no network namespace: an unprivileged user could
    // not configure one.
    linux
        .namespaces
        .retain(|ns| ns.kind != "network" && ns.kind != "user");
    linux.namespaces.push(Namespace { kind: "user" });
    linux.uid_mappings = Some(vec![IdMapping {
        container_id: 0,
        host_id: uid,
        size: 1,
    }]);
    linux.gid_mappings = Some(vec![IdMapping {
        container_id: 0,
        host_id: gid,
        size: 1,
    }]);
    // No cgroup settings: an unprivileged user cannot apply them.
    linux.resources = None;
    for m in &mut spec.mounts {
        if m.destination == "/sys" {
            // sysfs cannot be mounted in a user namespace without a network namespace.
            *m = mount(
                "/sys",
                "none",
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            );
        } else {
            // Only the one mapped id exists in the container.
            m.options
                .retain(|o| !o.starts_with("gid=") && !o.starts_with("uid="));
        }
    }
    spec
}

/// Serializes like Go's `json.MarshalIndent(spec, "", "\t")`, which is what runc writes.
pub fn to_runc_json(spec: &DefaultSpec) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    spec.serialize(&mut ser)
        .map_err(|e| Error::other(format!("serialize default spec: {e}")))?;
    Ok(out)
}

/// Creates `<bundle>/config.json` with `json`; an existing file (or symlink) is never replaced.
fn write_new_config(bundle: &Path, json: &[u8]) -> Result<()> {
    let path = bundle.join(SPEC_CONFIG);
    // create_new is O_CREAT|O_EXCL: no race with another writer, and a symlink is not followed.
    // std opens with O_CLOEXEC; the mode is 0666 minus the umask, as runc's.
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(Error::Usage(format!(
                "File {SPEC_CONFIG} exists. Remove it first"
            )))
        }
        Err(e) => return Err(Error::io("create", path, e)),
    };
    file.write_all(json).io("write", &path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn as_value(spec: &DefaultSpec) -> Value {
        let bytes = to_runc_json(spec).expect("serialize");
        serde_json::from_slice(&bytes).expect("parse")
    }

    fn namespace_types(v: &Value) -> Vec<&str> {
        v["linux"]["namespaces"]
            .as_array()
            .expect("namespaces array")
            .iter()
            .map(|ns| ns["type"].as_str().expect("type string"))
            .collect()
    }

    #[test]
    fn default_spec_has_runc_fields_in_runc_order() {
        let text =
            String::from_utf8(to_runc_json(&default_spec()).expect("serialize")).expect("utf8");
        assert!(text.starts_with(
            "{\n\t\"ociVersion\": \"1.0.2-dev\",\n\t\"process\": {\n\t\t\"terminal\": true,"
        ));
        assert!(
            text.ends_with("\n}"),
            "no trailing newline, as runc: {text}"
        );
        let v: Value = serde_json::from_str(&text).expect("parse");
        let mut keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "hostname",
                "linux",
                "mounts",
                "ociVersion",
                "process",
                "root"
            ]
        );
        assert_eq!(v["root"], json!({"path": "rootfs", "readonly": true}));
        assert_eq!(v["hostname"], "runc");
        assert_eq!(v["process"]["args"], json!(["sh"]));
        assert_eq!(v["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(
            v["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        );
        for set in ["bounding", "effective", "permitted", "ambient"] {
            assert_eq!(
                v["process"]["capabilities"][set],
                json!(DEFAULT_CAPS),
                "{set}"
            );
        }
        assert_eq!(
            namespace_types(&v),
            ["pid", "network", "ipc", "uts", "mount"]
        );
        assert_eq!(
            v["linux"]["resources"],
            json!({"devices": [{"allow": false, "access": "rwm"}]})
        );
        assert!(v["linux"].get("uidMappings").is_none());
        let mounts = v["mounts"].as_array().expect("mounts");
        assert_eq!(mounts.len(), 7);
        assert!(
            mounts[0].get("options").is_none(),
            "proc has no options: {}",
            mounts[0]
        );
        assert_eq!(mounts[2]["options"][5], "gid=5");
        assert_eq!(v["linux"]["maskedPaths"].as_array().map(Vec::len), Some(10));
        assert_eq!(
            v["linux"]["readonlyPaths"].as_array().map(Vec::len),
            Some(5)
        );
    }

    #[test]
    fn default_spec_is_a_valid_oci_spec() {
        let bytes = to_runc_json(&default_spec()).expect("serialize");
        let spec: oci_spec::runtime::Spec =
            serde_json::from_slice(&bytes).expect("oci-spec parses it");
        assert_eq!(spec.hostname().as_deref(), Some("runc"));
        let bytes = to_runc_json(&rootless_spec(1000, 1000)).expect("serialize");
        let _: oci_spec::runtime::Spec =
            serde_json::from_slice(&bytes).expect("oci-spec parses rootless");
    }

    #[test]
    fn rootless_spec_is_runcs_conversion() {
        let v = as_value(&rootless_spec(1234, 5678));
        assert_eq!(namespace_types(&v), ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(
            v["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": 1234, "size": 1}])
        );
        assert_eq!(
            v["linux"]["gidMappings"],
            json!([{"containerID": 0, "hostID": 5678, "size": 1}])
        );
        assert!(v["linux"].get("resources").is_none());
        let sys = v["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["destination"] == "/sys")
            .expect("a /sys mount");
        assert_eq!(
            *sys,
            json!({"destination": "/sys", "type": "none", "source": "/sys",
                   "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        );
        let text = serde_json::to_string(&v["mounts"]).expect("serialize");
        assert!(!text.contains("gid=") && !text.contains("uid="), "{text}");
        // Everything else is the default spec's.
        let d = as_value(&default_spec());
        assert_eq!(v["process"], d["process"]);
        assert_eq!(v["linux"]["maskedPaths"], d["linux"]["maskedPaths"]);
        assert_eq!(v["mounts"][1], d["mounts"][1]);
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("podrun-unit-spec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir scratch");
        dir
    }

    #[test]
    fn config_is_written_once_and_never_overwritten() {
        let dir = scratch_dir("overwrite");
        write_new_config(&dir, b"first").expect("first write");
        let err = write_new_config(&dir, b"second").expect_err("second write must fail");
        assert_eq!(err.to_string(), "File config.json exists. Remove it first");
        assert_eq!(
            std::fs::read(dir.join(SPEC_CONFIG)).expect("read"),
            b"first"
        );
        let missing = dir.join("no-such-bundle");
        let err = write_new_config(&missing, b"x").expect_err("missing bundle dir");
        assert!(err.to_string().contains("no-such-bundle"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
