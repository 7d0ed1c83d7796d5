//! `podrun features`: the runtime-spec features document (what this build understands,
//! not what this host offers).

use std::collections::HashMap;

use oci_spec::runtime::{
    ApparmorBuilder, Arch, CgroupBuilder, Features, FeaturesBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, LinuxNamespaceType, SeccompBuilder, SelinuxBuilder,
};

use crate::cli::Global;
use crate::process::seccomp;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_g: &Global, _a: Args) -> Result<i32> {
    let doc = features()?;
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::other(format!("features: encode JSON: {e}")))?;
    crate::cli::print_out(&format!("{text}\n"))?;
    Ok(0)
}

/// Hooks podrun runs.
const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options podrun maps to mount flags or propagation (as runc's list, without the
/// recursive `r*` attribute forms).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// Architectures libseccomp can add to a filter (oci-spec spelling).
const ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn build_err(what: &str) -> impl Fn(oci_spec::OciSpecError) -> Error + '_ {
    move |e| Error::other(format!("features: build {what}: {e}"))
}

fn archs() -> Vec<Arch> {
    ARCHES
        .iter()
        .filter_map(|a| serde_json::from_value(serde_json::Value::String(a.to_string())).ok())
        .collect()
}

fn capabilities() -> Vec<String> {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    caps
}

pub fn features() -> Result<Features> {
    use LinuxNamespaceType::*;
    let (known_flags, supported_flags) = seccomp::known_flags();
    let seccomp = SeccompBuilder::default()
        .enabled(true)
        .actions(seccomp::known_actions())
        .operators(seccomp::known_operators())
        .archs(archs())
        .known_flags(known_flags)
        .supported_flags(supported_flags)
        .build()
        .map_err(build_err("seccomp"))?;
    let cgroup = CgroupBuilder::default()
        .v1(true)
        .v2(true)
        // --systemd-cgroup (issue 20); not for rootless (the user's manager)
        .systemd(true)
        .systemd_user(false)
        .rdma(false)
        .build()
        .map_err(build_err("cgroup"))?;
    let linux = LinuxFeatureBuilder::default()
        .namespaces(vec![Cgroup, Ipc, Mount, Network, Pid, User, Uts])
        .capabilities(capabilities())
        .cgroup(cgroup)
        .seccomp(seccomp)
        .apparmor(
            ApparmorBuilder::default()
                .enabled(false)
                .build()
                .map_err(build_err("apparmor"))?,
        )
        .selinux(
            SelinuxBuilder::default()
                .enabled(false)
                .build()
                .map_err(build_err("selinux"))?,
        )
        .intel_rdt(
            IntelRdtBuilder::default()
                .enabled(false)
                .build()
                .map_err(build_err("intelRdt"))?,
        )
        .build()
        .map_err(build_err("linux"))?;
    let annotations = HashMap::from([
        (
            "io.github.podrun.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "io.github.podrun.libseccomp.version".to_string(),
            libseccomp::ScmpVersion::current()
                .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
                .unwrap_or_else(|_| "unknown".into()),
        ),
    ]);
    FeaturesBuilder::default()
        .oci_version_min("1.0.0")
        .oci_version_max(oci_spec::runtime::VERSION)
        .hooks(strings(HOOKS))
        .mount_options(strings(MOUNT_OPTIONS))
        .linux(linux)
        .annotations(annotations)
        .build()
        .map_err(build_err("features"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_has_the_spec_fields() {
        let doc = serde_json::to_value(super::features().expect("features")).expect("json");
        assert_eq!(doc["ociVersionMin"], "1.0.0");
        assert!(
            doc["ociVersionMax"]
                .as_str()
                .is_some_and(|v| v.starts_with("1.")),
            "{doc}"
        );
        assert!(doc["hooks"]
            .as_array()
            .is_some_and(|h| h.iter().any(|x| x == "createRuntime")));
        let linux = &doc["linux"];
        assert!(
            linux["namespaces"]
                .as_array()
                .is_some_and(|n| n.iter().any(|x| x == "network")),
            "{linux}"
        );
        assert!(linux["capabilities"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "CAP_SYS_ADMIN")));
        assert_eq!(linux["cgroup"]["v1"], true);
        assert_eq!(linux["cgroup"]["systemd"], true);
        assert_eq!(linux["cgroup"]["systemdUser"], false);
        assert_eq!(linux["seccomp"]["enabled"], true);
        assert!(linux["seccomp"]["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "SCMP_ACT_ERRNO")));
        assert!(linux["seccomp"]["archs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "SCMP_ARCH_X86_64")));
        assert_eq!(linux["apparmor"]["enabled"], false);
        assert_eq!(linux["intelRdt"]["enabled"], false);
    }
}
