//! `slice:prefix:name` → unit name, parent slice and cgroup path, as runc's systemd driver
//! reads a cgroupsPath: the unit is the scope `<prefix>-<name>.scope` (or the slice `name`
//! itself when it ends in `.slice`), in the slice given (`system.slice` when empty); a slice
//! `a-b-c.slice` lives at `/a.slice/a-b.slice/a-b-c.slice` (systemd's naming), `-.slice` is
//! the root.

use crate::{Error, Result};

/// The slice a unit goes to when the cgroupsPath names none (runc's default).
pub const DEFAULT_SLICE: &str = "system.slice";
/// The prefix of the default cgroupsPath `system.slice:podrun:<id>` (runc's is `runc`).
pub const DEFAULT_PREFIX: &str = "podrun";

/// Where one container's (or pause's) unit lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice (`system.slice`, `kubepods-besteffort-pod1.slice`).
    pub slice: String,
    /// The unit: `<prefix>-<name>.scope`, or `name` when it is a slice.
    pub unit: String,
}

impl UnitPath {
    /// Parses a cgroupsPath of the systemd form; `None` gives `system.slice:podrun:<id>`.
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<UnitPath> {
        let p = match cgroups_path {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => format!("{DEFAULT_SLICE}:{DEFAULT_PREFIX}:{id}"),
        };
        let parts: Vec<&str> = p.split(':').collect();
        let [slice, prefix, name] = parts.as_slice() else {
            return Err(Error::Spec(format!(
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {p:?} instead"
            )));
        };
        if name.is_empty() {
            return Err(Error::Spec(format!(
                "linux.cgroupsPath {p:?}: the name part is empty"
            )));
        }
        for part in [slice, prefix, name] {
            if part.contains('/') {
                return Err(Error::Spec(format!(
                    "linux.cgroupsPath {p:?}: \"/\" is not allowed in slice:prefix:name"
                )));
            }
        }
        let slice = if slice.is_empty() {
            DEFAULT_SLICE.to_string()
        } else {
            slice.to_string()
        };
        expand_slice(&slice)?;
        let unit = unit_name(prefix, name);
        if unit.ends_with(".slice") {
            expand_slice(&unit)?;
        }
        Ok(UnitPath { slice, unit })
    }

    /// True when the unit is a slice (name ending in `.slice`), not a scope.
    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }

    /// The unit's cgroup, relative to the hierarchy root: the expanded parent slice plus the
    /// unit (for a slice unit: its own expansion, as systemd places it).
    pub fn cgroup_path(&self) -> String {
        if self.is_slice() {
            return expand_slice(&self.unit).unwrap_or_default();
        }
        let parent = expand_slice(&self.slice).unwrap_or_default();
        format!("{}/{}", parent.trim_end_matches('/'), self.unit)
    }

    /// Every slice on the way to the unit, outermost first (`-.slice` left out): those systemd
    /// creates on its own when they are not there yet.
    pub fn slices(&self) -> Vec<String> {
        let last = if self.is_slice() {
            &self.unit
        } else {
            &self.slice
        };
        let mut out = slice_chain(last);
        if self.is_slice() {
            out.pop(); // the unit itself is not a parent
        }
        out
    }
}

/// The unit name runc builds: `<prefix>-<name>.scope`, or `name` when it ends in `.slice`.
pub fn unit_name(prefix: &str, name: &str) -> String {
    if name.ends_with(".slice") {
        return name.to_string();
    }
    if prefix.is_empty() {
        return format!("{name}.scope");
    }
    format!("{prefix}-{name}.scope")
}

/// systemd's expansion of a slice name into its cgroup path: `a-b.slice` →
/// `/a.slice/a-b.slice`; `-.slice` → `/`. Errors as runc's ExpandSlice.
pub fn expand_slice(slice: &str) -> Result<String> {
    let invalid = || Error::Spec(format!("invalid slice name: {slice}"));
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(invalid());
    };
    if slice.contains('/') {
        return Err(invalid());
    }
    if base == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in base.split('-') {
        if component.is_empty() {
            return Err(invalid());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(component);
        path.push_str(".slice");
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

/// `a-b-c.slice` → [`a.slice`, `a-b.slice`, `a-b-c.slice`]; `-.slice` → [].
fn slice_chain(slice: &str) -> Vec<String> {
    match expand_slice(slice) {
        Ok(p) => p
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // runc's libcontainer/cgroups/systemd TestExpandSlice cases.
    #[test]
    fn expand_slice_as_runc() {
        let ok = [
            ("-.slice", "/"),
            ("test.slice", "/test.slice"),
            ("test-a.slice", "/test.slice/test-a.slice"),
            ("test-a-b.slice", "/test.slice/test-a.slice/test-a-b.slice"),
            (
                "kubepods-besteffort-pod1234.slice",
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice",
            ),
        ];
        for (input, want) in ok {
            assert_eq!(expand_slice(input).unwrap(), want, "{input}");
        }
        for bad in [
            "test-.slice",
            "-test.slice",
            "test--a.slice",
            "test",
            "test/a.slice",
            "",
            "a-.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn docker_podman_and_kubernetes_forms() {
        let d = UnitPath::parse(Some("system.slice:docker:abc"), "x").unwrap();
        assert_eq!(d.unit, "docker-abc.scope");
        assert_eq!(d.cgroup_path(), "/system.slice/docker-abc.scope");
        assert_eq!(d.slices(), ["system.slice"]);

        let p = UnitPath::parse(Some("machine.slice:libpod:abc"), "x").unwrap();
        assert_eq!(p.cgroup_path(), "/machine.slice/libpod-abc.scope");

        let k = UnitPath::parse(
            Some("kubepods-besteffort-pod11.slice:cri-containerd:abc"),
            "x",
        )
        .unwrap();
        assert_eq!(k.unit, "cri-containerd-abc.scope");
        assert_eq!(
            k.cgroup_path(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            k.slices(),
            [
                "kubepods.slice",
                "kubepods-besteffort.slice",
                "kubepods-besteffort-pod11.slice"
            ]
        );
    }

    #[test]
    fn defaults_and_slice_units() {
        let d = UnitPath::parse(None, "c1").unwrap();
        assert_eq!(d.slice, "system.slice");
        assert_eq!(d.unit, "podrun-c1.scope");
        assert_eq!(d.cgroup_path(), "/system.slice/podrun-c1.scope");
        let e = UnitPath::parse(Some(":docker:c2"), "c2").unwrap();
        assert_eq!(e.cgroup_path(), "/system.slice/docker-c2.scope");
        // A name ending in .slice is the unit itself (the prefix is not used).
        let s = UnitPath::parse(Some("kubepods.slice:x:kubepods-pod1.slice"), "c").unwrap();
        assert!(s.is_slice());
        assert_eq!(s.unit, "kubepods-pod1.slice");
        assert_eq!(s.cgroup_path(), "/kubepods.slice/kubepods-pod1.slice");
        assert_eq!(s.slices(), ["kubepods.slice"]);
        // The root slice as the parent.
        let r = UnitPath::parse(Some("-.slice:p:n"), "c").unwrap();
        assert_eq!(r.cgroup_path(), "/p-n.scope");
        assert!(r.slices().is_empty());
    }

    #[test]
    fn bad_paths_are_refused_in_runc_wording() {
        for bad in [
            "/a/b",
            "a:b",
            "a:b:c:d",
            "system.slice:docker:",
            "nosuffix:docker:x",
            "system.slice:do/cker:x",
            "a--b.slice:p:n",
        ] {
            let e = UnitPath::parse(Some(bad), "x").unwrap_err().to_string();
            assert!(
                e.contains("slice:prefix:name")
                    || e.contains("invalid slice name")
                    || e.contains("empty"),
                "{bad}: {e}"
            );
        }
    }
}
