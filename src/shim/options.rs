//! The options containerd passes with a task (CreateTaskRequest.options, an `Any`), read for
//! what podrun's shim honours: the systemd cgroup driver and no pivot_root.
//!
//! What arrives depends on the client (containerd 1.6):
//! - CRI decodes a runtime's `[...runtimes.<name>.options]` table into runc's Options only when
//!   `runtime_type` is `io.containerd.runc.v1/v2`; for any other type (ours) into
//!   `runtimeoptions.v1.Options`, whose only fields are `TypeUrl`, `ConfigPath` (and, from
//!   1.7, `ConfigBody`): a `SystemdCgroup = true` written in that table is dropped by
//!   containerd. The shim reads the TOML file `ConfigPath` names (or `ConfigBody`), with
//!   runc's key names (`SystemdCgroup`, `NoPivotRoot`), so a runc options table can be
//!   copied into it.
//! - `ctr run --runtime-config-path FILE` sends the same `runtimeoptions.v1.Options`;
//!   `--runc-systemd-cgroup` is refused by ctr for a runtime other than runc.v2.
//! - Go clients may send runc's own Options (`containerd.runc.v1.Options`), `ctr --no-pivot`
//!   sends `containerd.linux.runc.CreateOptions`: both are read too.
//!
//! The driver is also chosen by the cgroupsPath: CRI turns a kubelet cgroup parent ending in
//! `.slice` (kubelet's systemd driver) into `<slice>:cri-containerd:<id>`, a form that means
//! something only to systemd. An explicit `SystemdCgroup = false` keeps cgroupfs.

use std::path::Path;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::empty::Empty;
use containerd_shim::protos::protobuf::{Message, UnknownValueRef};
use containerd_shim::protos::shim::oci::Options as RuncOptions;
use oci_spec::runtime::Spec;
use podrun::ErrorKind;

use super::errors::Failure;

/// runc's Options (containerd's runc.v2 shim): `systemd_cgroup`, `no_pivot_root`.
pub const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";
/// CRI's options for a runtime type it does not know: `type_url`, `config_path`,
/// `config_body`.
pub const RUNTIME_OPTIONS: &str = "runtimeoptions.v1.Options";
/// The legacy linux runtime's create options (`ctr run --no-pivot` for a non-runc runtime).
pub const RUNC_CREATE_OPTIONS: &str = "containerd.linux.runc.CreateOptions";

/// What the shim takes from the options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShimOptions {
    /// `Some(true)`: the systemd driver; `Some(false)`: cgroupfs even for a `slice:prefix:name`
    /// path; `None`: decided by the cgroupsPath.
    pub systemd_cgroup: Option<bool>,
    pub no_pivot_root: bool,
}

/// How the shim creates one container (or the pod's pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launch {
    pub systemd_cgroup: bool,
    pub no_pivot: bool,
}

impl ShimOptions {
    /// The cgroup driver for a container (or the pod's pause) with this cgroupsPath.
    pub fn use_systemd(&self, cgroups_path: Option<&str>) -> bool {
        self.systemd_cgroup
            .unwrap_or_else(|| cgroups_path.is_some_and(is_systemd_form))
    }

    /// How to create the container of `spec`. The systemd driver where PID 1 is not systemd
    /// is refused before anything is made, as podrun's CLI refuses `--systemd-cgroup`.
    pub fn launch(&self, spec: &Spec) -> Result<Launch, Failure> {
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let systemd_cgroup = self.use_systemd(cgroups_path.as_deref());
        if systemd_cgroup && !podrun::cgroups::systemd_available() {
            let why = match self.systemd_cgroup {
                Some(true) => "SystemdCgroup = true in the runtime options".to_string(),
                _ => format!(
                    "linux.cgroupsPath {:?} is in the systemd form slice:prefix:name",
                    cgroups_path.unwrap_or_default()
                ),
            };
            return Err(invalid(format!(
                "systemd cgroup driver ({why}): systemd is not running on this host (PID 1 is not systemd); use cgroupfs"
            )));
        }
        Ok(Launch {
            systemd_cgroup,
            no_pivot: self.no_pivot_root,
        })
    }
}

/// A cgroupsPath of the form `<something>.slice:<prefix>:<name>` (what CRI makes of a
/// `.slice` parent): three parts, no `/`, the first a slice.
pub fn is_systemd_form(p: &str) -> bool {
    let parts: Vec<&str> = p.split(':').collect();
    matches!(parts.as_slice(), [slice, _, name]
        if slice.ends_with(".slice") && !name.is_empty() && !p.contains('/'))
}

fn invalid(msg: String) -> Failure {
    Failure::new(ErrorKind::InvalidConfig, msg)
}

/// Decodes the task's options by their type URL; no options (or an empty `Any`) are the
/// defaults. An unknown type or undecodable bytes are an invalid-argument error.
pub fn decode(any: Option<&Any>) -> Result<ShimOptions, Failure> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(ShimOptions::default());
    };
    // containerd's typeurl names a type by its proto name, others prefix a host.
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let bad = |e: &dyn std::fmt::Display| {
        invalid(format!(
            "runtime options of type {:?}: cannot decode: {e}",
            any.type_url
        ))
    };
    match name {
        RUNC_OPTIONS => {
            let o = RuncOptions::parse_from_bytes(&any.value).map_err(|e| bad(&e))?;
            Ok(ShimOptions {
                // proto3: false and unset are the same; false leaves it to the path.
                systemd_cgroup: o.systemd_cgroup.then_some(true),
                no_pivot_root: o.no_pivot_root,
            })
        }
        RUNC_CREATE_OPTIONS => {
            let f = fields(&any.value).map_err(|e| bad(&e))?;
            Ok(ShimOptions {
                systemd_cgroup: None,
                no_pivot_root: matches!(f.get(1), Some(UnknownValueRef::Varint(v)) if v != 0),
            })
        }
        RUNTIME_OPTIONS => {
            let f = fields(&any.value).map_err(|e| bad(&e))?;
            let text = |n: u32| match f.get(n) {
                Some(UnknownValueRef::LengthDelimited(b)) => Ok(b.to_vec()),
                None => Ok(Vec::new()),
                Some(_) => Err(bad(&format!("field {n} is not a string"))),
            };
            let body = text(3)?;
            let path = String::from_utf8(text(2)?).map_err(|e| bad(&e))?;
            if !body.is_empty() {
                let body = String::from_utf8(body).map_err(|e| bad(&e))?;
                parse_toml(&body).map_err(|e| invalid(format!("runtime options ConfigBody: {e}")))
            } else if !path.is_empty() {
                read_config(Path::new(&path))
            } else {
                Ok(ShimOptions::default())
            }
        }
        _ => Err(invalid(format!(
            "runtime options of type {:?} are not supported by podrun's shim (it reads {RUNC_OPTIONS}, {RUNTIME_OPTIONS} and {RUNC_CREATE_OPTIONS})",
            any.type_url
        ))),
    }
}

/// The fields of a message this crate has no type for, by number.
fn fields(bytes: &[u8]) -> containerd_shim::protos::protobuf::Result<Empty> {
    Empty::parse_from_bytes(bytes)
}

trait Get {
    fn get(&self, n: u32) -> Option<UnknownValueRef<'_>>;
}

impl Get for Empty {
    fn get(&self, n: u32) -> Option<UnknownValueRef<'_>> {
        self.special_fields.unknown_fields().get(n)
    }
}

/// The shim's TOML config file (`ConfigPath`).
pub fn read_config(path: &Path) -> Result<ShimOptions, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(format!(
            "runtime options ConfigPath {}: {e}",
            path.display()
        ))
    })?;
    parse_toml(&text).map_err(|e| {
        invalid(format!(
            "runtime options ConfigPath {}: {e}",
            path.display()
        ))
    })
}

/// The TOML subset of a runc options table: `Key = value` lines (booleans, strings,
/// integers), comments, blank lines; keys other than `SystemdCgroup` and `NoPivotRoot` are
/// accepted and ignored (runc's BinaryName, Root, ...). Tables and arrays are refused.
pub fn parse_toml(text: &str) -> Result<ShimOptions, String> {
    let mut o = ShimOptions::default();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("line {}: {raw:?}", i + 1);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{}: expected `Key = value`", at()))?;
        let key = key.trim().trim_matches('"');
        let value = value.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{}: bad key", at()));
        }
        let as_bool = match value {
            "true" => Some(true),
            "false" => Some(false),
            _ if is_string(value) || is_integer(value) => None,
            _ => return Err(format!("{}: expected a boolean, string or integer", at())),
        };
        match key {
            "SystemdCgroup" | "NoPivotRoot" => {
                let b = as_bool.ok_or_else(|| format!("{}: {key} must be true or false", at()))?;
                if key == "SystemdCgroup" {
                    o.systemd_cgroup = Some(b);
                } else {
                    o.no_pivot_root = b;
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

/// The line without a `#` comment (a `#` inside a basic string is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

fn is_string(v: &str) -> bool {
    v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"') && !v[1..v.len() - 1].contains('"'))
            || (v.starts_with('\'') && v.ends_with('\'') && !v[1..v.len() - 1].contains('\'')))
}

fn is_integer(v: &str) -> bool {
    let d = v.strip_prefix(['+', '-']).unwrap_or(v);
    !d.is_empty() && d.chars().all(|c| c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::{CodedOutputStream, Message};

    fn any(type_url: &str, value: Vec<u8>) -> Any {
        let mut a = Any::new();
        a.type_url = type_url.to_string();
        a.value = value;
        a
    }

    /// runtimeoptions.v1.Options as containerd marshals it (field 2 config_path, 3 body).
    fn runtime_options(path: &str, body: &str) -> Any {
        let mut v = Vec::new();
        {
            let mut os = CodedOutputStream::vec(&mut v);
            if !path.is_empty() {
                os.write_string(2, path).unwrap();
            }
            if !body.is_empty() {
                os.write_string(3, body).unwrap();
            }
            os.flush().unwrap();
        }
        any(RUNTIME_OPTIONS, v)
    }

    #[test]
    fn no_options_are_the_defaults() {
        assert_eq!(decode(None).unwrap(), ShimOptions::default());
        assert_eq!(decode(Some(&Any::new())).unwrap(), ShimOptions::default());
        let d = ShimOptions::default();
        assert!(!d.use_systemd(None));
        assert!(!d.use_systemd(Some("/podrun/x")));
        assert!(d.use_systemd(Some("kubepods-besteffort-pod1.slice:cri-containerd:abc")));
    }

    #[test]
    fn runc_options_systemd_and_no_pivot() {
        let mut o = RuncOptions::new();
        o.systemd_cgroup = true;
        o.no_pivot_root = true;
        o.binary_name = "runc".into();
        let got = decode(Some(&any(RUNC_OPTIONS, o.write_to_bytes().unwrap()))).unwrap();
        assert_eq!(
            got,
            ShimOptions {
                systemd_cgroup: Some(true),
                no_pivot_root: true
            }
        );
        assert!(got.use_systemd(Some("/plain/path")));
        // with a host prefix, as other typeurl registries write it
        let url = format!("type.googleapis.com/{RUNC_OPTIONS}");
        let got = decode(Some(&any(&url, o.write_to_bytes().unwrap()))).unwrap();
        assert_eq!(got.systemd_cgroup, Some(true));
        // false is proto3's unset: the path decides
        let got = decode(Some(&any(RUNC_OPTIONS, Vec::new()))).unwrap();
        assert_eq!(got, ShimOptions::default());
    }

    #[test]
    fn runtime_options_config_path_and_body() {
        let dir = std::env::temp_dir().join(format!("podrun-shim-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("shim.toml");
        std::fs::write(
            &f,
            "# podrun's shim\nBinaryName = \"\"\nIoGid = 0\nSystemdCgroup = true # kubelet's driver\nNoPivotRoot = false\n",
        )
        .unwrap();
        let got = decode(Some(&runtime_options(f.to_str().unwrap(), ""))).unwrap();
        assert_eq!(got.systemd_cgroup, Some(true));
        assert!(!got.no_pivot_root);
        // the body wins over the path
        let got = decode(Some(&runtime_options(
            f.to_str().unwrap(),
            "SystemdCgroup = false\nNoPivotRoot = true",
        )))
        .unwrap();
        assert_eq!(
            got,
            ShimOptions {
                systemd_cgroup: Some(false),
                no_pivot_root: true
            }
        );
        // explicit false: cgroupfs even for the systemd form
        assert!(!got.use_systemd(Some("a.slice:cri-containerd:x")));
        // neither: defaults
        assert_eq!(
            decode(Some(&runtime_options("", ""))).unwrap(),
            ShimOptions::default()
        );
        // a missing file: a clear error naming it
        let e = decode(Some(&runtime_options("/nonexistent/podrun-shim.toml", ""))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert!(e.msg.contains("/nonexistent/podrun-shim.toml"), "{}", e.msg);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_options_no_pivot() {
        let mut v = Vec::new();
        {
            let mut os = CodedOutputStream::vec(&mut v);
            os.write_bool(1, true).unwrap();
            os.flush().unwrap();
        }
        let got = decode(Some(&any(RUNC_CREATE_OPTIONS, v))).unwrap();
        assert_eq!(
            got,
            ShimOptions {
                systemd_cgroup: None,
                no_pivot_root: true
            }
        );
    }

    #[test]
    fn malformed_options_are_clear_errors() {
        // truncated bytes (a length-delimited field longer than the message)
        for t in [RUNC_OPTIONS, RUNTIME_OPTIONS, RUNC_CREATE_OPTIONS] {
            let e = decode(Some(&any(t, vec![0x12, 0x10, b'a']))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidConfig, "{t}");
            assert!(
                e.msg.contains("cannot decode") && e.msg.contains(t),
                "{}",
                e.msg
            );
        }
        // an unknown type
        let e = decode(Some(&any("example.com/other.Options", vec![]))).unwrap_err();
        assert!(e.msg.contains("not supported"), "{}", e.msg);
        // config_path given as a varint
        let e = decode(Some(&any(RUNTIME_OPTIONS, vec![0x10, 0x01]))).unwrap_err();
        assert!(e.msg.contains("field 2"), "{}", e.msg);
        // bad TOML in the body
        for body in [
            "SystemdCgroup = yes",
            "SystemdCgroup = \"true\"",
            "[plugins]",
            "SystemdCgroup",
            "Runtimes = [1, 2]",
        ] {
            let e = decode(Some(&runtime_options("", body))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidConfig, "{body}");
            assert!(
                e.msg.contains("ConfigBody") && e.msg.contains("line 1"),
                "{}",
                e.msg
            );
        }
    }

    #[test]
    fn launch_refuses_the_driver_without_systemd() {
        let spec = |p: &str| -> Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.0.2",
                "root": {"path": "rootfs"},
                "linux": {"cgroupsPath": p}
            }))
            .unwrap()
        };
        let plain = ShimOptions::default().launch(&spec("/k8s.io/abc")).unwrap();
        assert_eq!(
            plain,
            Launch {
                systemd_cgroup: false,
                no_pivot: false
            }
        );
        let on = ShimOptions {
            systemd_cgroup: Some(true),
            no_pivot_root: true,
        };
        let form = ShimOptions::default();
        let kube = spec("kubepods-besteffort-pod1.slice:cri-containerd:abc");
        if podrun::cgroups::systemd_available() {
            assert!(on.launch(&kube).unwrap().systemd_cgroup);
            assert!(form.launch(&kube).unwrap().systemd_cgroup);
        } else {
            let e = on.launch(&kube).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidConfig);
            assert!(
                e.msg.contains("SystemdCgroup = true") && e.msg.contains("PID 1 is not systemd"),
                "{}",
                e.msg
            );
            let e = form.launch(&kube).unwrap_err();
            assert!(
                e.msg
                    .contains("kubepods-besteffort-pod1.slice:cri-containerd:abc"),
                "{}",
                e.msg
            );
        }
    }

    #[test]
    fn systemd_form() {
        assert!(is_systemd_form("system.slice:docker:abc"));
        assert!(is_systemd_form(
            "kubepods-besteffort-pod1.slice:cri-containerd:abc"
        ));
        assert!(!is_systemd_form("/kubepods/besteffort/pod1/abc"));
        assert!(!is_systemd_form("system.slice:docker:"));
        assert!(!is_systemd_form("a:b:c"));
        assert!(!is_systemd_form("a.slice:b"));
        assert!(!is_systemd_form("/a.slice:b:c"));
    }
}
