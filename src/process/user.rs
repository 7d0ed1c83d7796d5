//! The process's user, groups, umask and resource limits.

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType, User};

use crate::error::{Error, Result, SysContext};

/// Switches to the spec's uid/gid/additionalGids; with `keep_caps` the permitted set survives.
pub fn switch_user(user: &User, set_groups: bool) -> Result<()> {
    if set_groups {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).sys(|| format!("setgroups {groups:?}"))?;
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).sys(|| format!("setresgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).sys(|| format!("setresuid {uid}"))?;
    verify_ids(user.uid(), user.gid())
}

/// After the switch every real/effective/saved id must be the one asked for: an id the kernel
/// treats as "unchanged" (-1) would otherwise leave the process running as root.
fn verify_ids(uid: u32, gid: u32) -> Result<()> {
    let u = nix::unistd::getresuid().sys(|| "getresuid".into())?;
    let g = nix::unistd::getresgid().sys(|| "getresgid".into())?;
    let uids = [u.real.as_raw(), u.effective.as_raw(), u.saved.as_raw()];
    let gids = [g.real.as_raw(), g.effective.as_raw(), g.saved.as_raw()];
    if uids.iter().any(|x| *x != uid) || gids.iter().any(|x| *x != gid) {
        return Err(Error::other(format!(
            "user switch did not take: asked for uid {uid} gid {gid}, running as uids {uids:?} gids {gids:?}"
        )));
    }
    Ok(())
}

/// The home directory of `uid` in a passwd file (the first entry with that uid, as runc
/// looks it up), or `/` when the file or the entry is missing.
pub fn home_of(passwd: &std::path::Path, uid: u32) -> String {
    let Ok(text) = std::fs::read_to_string(passwd) else {
        return "/".into();
    };
    home_in(&text, uid).unwrap_or_else(|| "/".into())
}

/// name:password:uid:gid:gecos:home:shell
fn home_in(passwd: &str, uid: u32) -> Option<String> {
    passwd
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2)?.parse::<u32>().ok()? == uid).then(|| f.get(5).copied().unwrap_or_default())
        })
        .map(str::to_string)
}

/// PR_SET_KEEPCAPS: keep permitted capabilities across the uid change.
pub fn set_keep_caps(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Error::sys("prctl PR_SET_KEEPCAPS", nix::Error::last()));
    }
    Ok(())
}

pub fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies each rlimit; raising a hard limit above the runtime's own needs CAP_SYS_RESOURCE.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            return Err(Error::sys(
                format!(
                    "process.rlimits: setrlimit {} soft {} hard {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

pub fn set_umask(mask: u32) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_by_uid_first_entry_wins() {
        let pw = "# comment\nroot:x:0:0:root:/root:/bin/sh\n\nnobody:x:65534:65534::/nonexistent:/bin/false\ndup:x:0:0::/other:/bin/sh\nbad:x:zz:0::/bad:\n";
        assert_eq!(home_in(pw, 0).as_deref(), Some("/root"));
        assert_eq!(home_in(pw, 65534).as_deref(), Some("/nonexistent"));
        assert_eq!(home_in(pw, 4321), None);
        assert_eq!(home_of(std::path::Path::new("/no/such/passwd"), 0), "/");
    }
}
