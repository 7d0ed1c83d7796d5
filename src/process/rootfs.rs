//! Placeholder rootfs setup (replaced by the full implementation): bind the rootfs, plain
//! mounts, /dev nodes by bind, pivot_root.
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result, SysContext};

pub struct RootfsConfig<'a> {
    pub spec: &'a oci_spec::runtime::Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub no_pivot: bool,
}

fn flags_of(opts: &[String]) -> (MsFlags, String) {
    let mut f = MsFlags::empty();
    let mut data = Vec::new();
    for o in opts {
        match o.as_str() {
            "ro" => f |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => f |= MsFlags::MS_NOSUID,
            "nodev" => f |= MsFlags::MS_NODEV,
            "noexec" => f |= MsFlags::MS_NOEXEC,
            "bind" => f |= MsFlags::MS_BIND,
            "rbind" => f |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "relatime" => f |= MsFlags::MS_RELATIME,
            "strictatime" => f |= MsFlags::MS_STRICTATIME,
            "private" | "rprivate" | "slave" | "rslave" => {}
            other => data.push(other.to_string()),
        }
    }
    (f, data.join(","))
}

pub fn prepare_rootfs(cfg: &RootfsConfig) -> Result<()> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>)
        .sys(|| "make / rslave".into())?;
    mount(Some(cfg.rootfs), cfg.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .sys(|| "bind rootfs".into())?;
    for m in cfg.spec.mounts().iter().flatten() {
        let dest = cfg.rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
        let (flags, data) = flags_of(m.options().as_deref().unwrap_or(&[]));
        let src = m.source().clone().unwrap_or_default();
        let src = if flags.contains(MsFlags::MS_BIND) && src.is_relative() { cfg.bundle.join(src) } else { src };
        if flags.contains(MsFlags::MS_BIND) && src.is_file() {
            if !dest.exists() {
                std::fs::create_dir_all(dest.parent().unwrap_or(Path::new("/"))).ok();
                std::fs::write(&dest, b"").ok();
            }
        } else {
            std::fs::create_dir_all(&dest).ok();
        }
        let typ = m.typ().clone().filter(|t| t != "bind");
        mount(Some(&src), &dest, typ.as_deref(), flags & !MsFlags::MS_RDONLY, Some(data.as_str()))
            .map_err(|e| Error::sys(format!("mount {} on {}", src.display(), m.destination().display()), e))?;
        if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
            mount(None::<&str>, &dest, None::<&str>, flags | MsFlags::MS_REMOUNT, None::<&str>)
                .sys(|| format!("remount {} read-only", dest.display()))?;
        }
    }
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        let d = cfg.rootfs.join("dev").join(dev);
        if !d.exists() {
            std::fs::write(&d, b"").ok();
        }
        mount(Some(&Path::new("/dev").join(dev)), &d, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .sys(|| format!("bind /dev/{dev}"))?;
    }
    let _ = std::os::unix::fs::symlink("pts/ptmx", cfg.rootfs.join("dev/ptmx"));
    let _ = std::os::unix::fs::symlink("/proc/self/fd", cfg.rootfs.join("dev/fd"));
    Ok(())
}

pub fn enter_rootfs(cfg: &RootfsConfig) -> Result<()> {
    nix::unistd::chdir(cfg.rootfs).sys(|| "chdir rootfs".into())?;
    nix::unistd::pivot_root(".", ".").sys(|| "pivot_root".into())?;
    umount2(".", MntFlags::MNT_DETACH).sys(|| "detach old root".into())?;
    nix::unistd::chdir("/").sys(|| "chdir /".into())?;
    Ok(())
}

pub fn finish_rootfs(cfg: &RootfsConfig) -> Result<()> {
    if cfg.spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>)
            .sys(|| "remount / read-only".into())?;
    }
    Ok(())
}
