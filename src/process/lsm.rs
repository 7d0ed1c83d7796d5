//! Linux security modules: AppArmor profiles and SELinux labels from the config.
//!
//! `check` runs in podrun (the parent) before anything is created: a property the host cannot
//! apply fails `create`/`exec` (runtime-spec: "MUST generate an error"), as runc does.
//! `apply_on_exec` runs in the container's init, just before the user's program is executed.

use std::io::Write;
use std::path::Path;

use oci_spec::runtime::Process;

use crate::{Error, Result};

/// AppArmor is enabled on this host (runc's test: securityfs entry + module parameter `Y`).
pub fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// SELinux is enabled: a selinuxfs is mounted (at /sys/fs/selinux, or anywhere else).
pub fn selinux_enabled() -> bool {
    const SELINUX_MAGIC: i64 = 0xf97c_ff8c;
    let at_default = nix::sys::statfs::statfs("/sys/fs/selinux")
        .is_ok_and(|s| s.filesystem_type().0 as i64 == SELINUX_MAGIC);
    at_default
        || std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|m| m.lines().any(|l| l.contains(" - selinuxfs ")))
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Refuses LSM properties this host cannot apply: `process.apparmorProfile` without AppArmor,
/// `process.selinuxLabel` / `linux.mountLabel` without SELinux. `mount_label` is None for exec.
pub fn check(process: &Process, mount_label: Option<&str>) -> Result<()> {
    if let Some(p) = non_empty(process.apparmor_profile()) {
        if !apparmor_enabled() {
            return Err(Error::Spec(format!(
                "process.apparmorProfile {p:?} is set, but apparmor is not enabled on this host"
            )));
        }
    }
    let selinux =
        non_empty(process.selinux_label()).is_some() || mount_label.is_some_and(|l| !l.is_empty());
    if selinux && !selinux_enabled() {
        let field = if non_empty(process.selinux_label()).is_some() {
            "process.selinuxLabel"
        } else {
            "linux.mountLabel"
        };
        return Err(Error::Spec(format!(
            "{field} is set, but selinux is disabled or not supported on this host"
        )));
    }
    Ok(())
}

/// Asks the kernel to confine the next execve: AppArmor `exec <profile>` (runc's
/// aa_change_onexec) and the SELinux exec context. A write that fails is an error.
pub fn apply_on_exec(process: &Process) -> Result<()> {
    if let Some(p) = non_empty(process.apparmor_profile()) {
        let new = Path::new("/proc/thread-self/attr/apparmor/exec");
        let path = if new.exists() {
            new
        } else {
            Path::new("/proc/thread-self/attr/exec")
        };
        write_attr(path, format!("exec {p}").as_bytes())
            .map_err(|e| Error::io("apparmor: apply profile: write", path, e))?;
    }
    if let Some(l) = non_empty(process.selinux_label()) {
        let path = Path::new("/proc/thread-self/attr/exec");
        write_attr(path, l.as_bytes())
            .map_err(|e| Error::io("selinux: set exec label: write", path, e))?;
    }
    Ok(())
}

/// One write(2) of the whole value, as the LSM attr files expect.
fn write_attr(path: &Path, value: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value)
}
