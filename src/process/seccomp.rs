//! seccomp: the OCI `linux.seccomp` profile compiled by libseccomp into a BPF program
//! (in the runtime, before the fork that makes the init), loaded by the init with one
//! `seccomp(2)` call: as its last step before execve when the process has no_new_privs, and
//! before the capabilities are dropped when it has not (then the load needs CAP_SYS_ADMIN).
//!
//! The program is exported to plain memory at compile time so that `load` allocates
//! nothing and calls no library: it is safe in a freshly forked child.

use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::{Error, Result};

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

/// Builds the filter from the OCI profile. Unknown syscall names are skipped with a
/// warning; NOTIFY and listenerPath are refused.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    if s.listener_path().is_some() {
        return Err(Error::Unsupported(
            "linux.seccomp.listenerPath: seccomp user notification is not supported by podrun"
                .into(),
        ));
    }
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| seccomp_err("create filter", e))?;
    add_architectures(&mut ctx, s)?;
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        add_syscall_rule(&mut ctx, rule, default, i)?;
    }
    let flags = filter_flags(s.flags().as_deref().unwrap_or(&[]))?;
    let prog = export_program(&ctx)?;
    Ok(Filter { prog, flags })
}

impl Filter {
    /// Loads the filter into the current process. Without no_new_privs this needs
    /// CAP_SYS_ADMIN, so the init calls it before dropping capabilities in that case.
    pub fn load(self) -> Result<()> {
        let len = u16::try_from(self.prog.len()).map_err(|_| {
            Error::other(format!(
                "seccomp: program of {} instructions is too long",
                self.prog.len()
            ))
        })?;
        let fprog = libc::sock_fprog {
            len,
            filter: self.prog.as_ptr().cast_mut(),
        };
        // SAFETY: fprog points at `self.prog`, which outlives the call; the kernel copies
        // the program and does not keep the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            let errno = nix::errno::Errno::last();
            return Err(Error::sys(
                format!("seccomp(SET_MODE_FILTER, flags {:#x})", self.flags),
                errno,
            ));
        }
        Ok(())
    }

    /// Number of BPF instructions (for logs and tests).
    pub fn len(&self) -> usize {
        self.prog.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }
}

/// True when the filter of `s` certainly lets every syscall in `names` through, whatever its
/// arguments: with an allowing default action, no rule names them with another action; with a
/// denying default, each has an argument-less allow (or log) rule and no other rule. Anything
/// less plain counts as "may deny".
pub fn surely_allows(s: &LinuxSeccomp, names: &[&str]) -> bool {
    let allows = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    let rules = s.syscalls().as_deref().unwrap_or_default();
    names.iter().all(|name| {
        let mut naming = rules
            .iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .peekable();
        let default_allows = allows(s.default_action());
        if naming.peek().is_none() {
            return default_allows;
        }
        let mut plain_allow = false;
        for r in naming {
            if !allows(r.action()) {
                return false;
            }
            plain_allow |= r.args().as_ref().is_none_or(|a| a.is_empty());
        }
        default_allows || plain_allow
    })
}

/// The action the filter of `s` certainly takes on `name` whatever its arguments, when that
/// action is not allow/log: an argument-less rule naming it, or (no rule names it) the
/// default action. None when it may be allowed.
pub fn surely_denies(s: &LinuxSeccomp, name: &str) -> Option<LinuxSeccompAction> {
    let allows = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    let rules = s.syscalls().as_deref().unwrap_or_default();
    let naming: Vec<_> = rules
        .iter()
        .filter(|r| r.names().iter().any(|n| n == name))
        .collect();
    if naming.is_empty() {
        return (!allows(s.default_action())).then(|| s.default_action());
    }
    if naming.iter().any(|r| allows(r.action())) {
        return None;
    }
    naming
        .iter()
        .find(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
        .map(|r| r.action())
}

fn seccomp_err(op: &str, e: libseccomp::error::SeccompError) -> Error {
    Error::other(format!("seccomp: {op}: {e}"))
}

/// OCI action (+ errnoRet) → libseccomp action. ERRNO/TRACE default to EPERM like runc.
fn action(a: LinuxSeccompAction, errno_ret: Option<u32>, field: &str) -> Result<ScmpAction> {
    let ret = errno_ret.unwrap_or(libc::EPERM as u32);
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(
            i32::try_from(ret)
                .map_err(|_| Error::Spec(format!("{field}: errnoRet {ret} out of range")))?,
        ),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(ret)
                .map_err(|_| Error::Spec(format!("{field}: errnoRet {ret} out of range")))?,
        ),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Unsupported(format!(
                "{field}: SCMP_ACT_NOTIFY is not supported by podrun"
            )))
        }
    })
}

/// The serde (spec) spelling of an oci-spec enum value, e.g. "SCMP_ARCH_X86_64".
fn spec_name<T: serde::Serialize + std::fmt::Debug>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{v:?}"),
    }
}

fn add_architectures(ctx: &mut ScmpFilterContext, s: &LinuxSeccomp) -> Result<()> {
    for arch in s.architectures().iter().flatten() {
        let name = spec_name(arch);
        let a = ScmpArch::from_str(&name)
            .map_err(|e| Error::Spec(format!("linux.seccomp.architectures: {name}: {e}")))?;
        let present = ctx
            .is_arch_present(a)
            .map_err(|e| seccomp_err(&format!("arch {name}"), e))?;
        if !present {
            ctx.add_arch(a)
                .map_err(|e| seccomp_err(&format!("add arch {name}"), e))?;
        }
    }
    Ok(())
}

fn add_syscall_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
    i: usize,
) -> Result<()> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    let act = action(rule.action(), rule.errno_ret(), &field)?;
    if act == default {
        // libseccomp refuses rules equal to the default action; they change nothing.
        return Ok(());
    }
    let comparisons = arg_comparisons(rule.args().as_deref().unwrap_or(&[]), &field)?;
    for name in rule.names() {
        let Ok(sc) = ScmpSyscall::from_name(name) else {
            tracing::warn!("seccomp: unknown syscall {name:?} in {field}, skipped");
            continue;
        };
        for cmp in &comparisons {
            let added = if cmp.is_empty() {
                ctx.add_rule(act, sc)
            } else {
                ctx.add_rule_conditional(act, sc, cmp)
            };
            added.map_err(|e| seccomp_err(&format!("{field}: add rule for {name}"), e))?;
        }
    }
    Ok(())
}

/// The comparisons of one rule. Several conditions on the same argument cannot be ANDed
/// by libseccomp; like runc, they become one rule each (OR). Otherwise one rule (AND).
fn arg_comparisons(args: &[LinuxSeccompArg], field: &str) -> Result<Vec<Vec<ScmpArgCompare>>> {
    let cmps: Vec<ScmpArgCompare> = args
        .iter()
        .map(|a| arg_compare(a, field))
        .collect::<Result<_>>()?;
    if cmps.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let same_index = args.len() > 1 && args.iter().all(|a| a.index() == args[0].index());
    if same_index {
        Ok(cmps.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![cmps])
    }
}

fn arg_compare(a: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare> {
    let index = u32::try_from(a.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| Error::Spec(format!("{field}.args: index {} is not 0..5", a.index())))?;
    let (op, datum) = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
        // OCI: value is the mask, valueTwo the value compared with.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(index, op, datum))
}

/// OCI filter flags → seccomp(2) flags; flags this kernel does not know are dropped with
/// a warning.
fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong> {
    let mut out = 0;
    for f in flags {
        let bit = match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(Error::Spec(
                    "linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs notify, which podrun does not support".into(),
                ))
            }
        };
        if flag_supported(bit) {
            out |= bit;
        } else {
            tracing::warn!(
                "seccomp: flag {} is not supported by this kernel, ignored",
                spec_name(f)
            );
        }
    }
    Ok(out)
}

/// Asks the kernel: a known flag with a NULL program fails with EFAULT, an unknown one
/// with EINVAL (libseccomp probes the same way).
pub fn flag_supported(flag: libc::c_ulong) -> bool {
    // SAFETY: a NULL program is never dereferenced successfully; the kernel returns an
    // error either way and installs nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flag,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    rc == -1 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}

/// Exports the BPF program through a memfd (libseccomp 2.5 has no export to memory).
fn export_program(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    // SAFETY: the name is a valid NUL-terminated string; the fd returned is owned below.
    let fd = unsafe { libc::memfd_create(c"podrun-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys(
            "memfd_create(podrun-seccomp)",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    ctx.export_bpf(&owned)
        .map_err(|e| seccomp_err("export BPF", e))?;
    let mut file = std::fs::File::from(owned);
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Error::io("read exported BPF from", "memfd:podrun-seccomp", e))?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % size != 0 {
        return Err(Error::other(format!(
            "seccomp: exported BPF has {} bytes, not a multiple of {size}",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// What `podrun features` reports: every action, operator and architecture podrun maps.
pub fn known_actions() -> Vec<LinuxSeccompAction> {
    use LinuxSeccompAction::*;
    vec![
        ScmpActAllow,
        ScmpActErrno,
        ScmpActKill,
        ScmpActKillProcess,
        ScmpActKillThread,
        ScmpActLog,
        ScmpActTrace,
        ScmpActTrap,
    ]
}

pub fn known_operators() -> Vec<String> {
    use LinuxSeccompOperator::*;
    [
        ScmpCmpEq,
        ScmpCmpGe,
        ScmpCmpGt,
        ScmpCmpLe,
        ScmpCmpLt,
        ScmpCmpMaskedEq,
        ScmpCmpNe,
    ]
    .iter()
    .map(spec_name)
    .collect()
}

/// Known flag names and the subset this kernel supports.
pub fn known_flags() -> (Vec<String>, Vec<String>) {
    let all = [
        ("SECCOMP_FILTER_FLAG_TSYNC", libc::SECCOMP_FILTER_FLAG_TSYNC),
        ("SECCOMP_FILTER_FLAG_LOG", libc::SECCOMP_FILTER_FLAG_LOG),
        (
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        ),
    ];
    let known = all.iter().map(|(n, _)| n.to_string()).collect();
    let supported = all
        .iter()
        .filter(|(_, f)| flag_supported(*f))
        .map(|(n, _)| n.to_string())
        .collect();
    (known, supported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("test profile json")
    }

    /// Runs `body` in a forked child after loading `f`; returns how the child ended.
    fn in_child(f: Filter, body: fn() -> i32) -> WaitStatus {
        // SAFETY: the child loads the prebuilt filter and runs raw syscalls, then _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: plain setrlimit/_exit calls on valid arguments.
                unsafe {
                    libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                    if f.load().is_err() {
                        libc::_exit(100);
                    }
                    libc::_exit(body());
                }
            }
            ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
        }
    }

    #[test]
    fn surely_allows_reads_default_and_rules() {
        let names = ["openat", "execve"];
        let allow_all = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert!(surely_allows(&allow_all, &names));
        let deny_mkdir = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(surely_allows(&deny_mkdir, &names));
        let deny_openat = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["openat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(!surely_allows(&deny_openat, &names));
        // an allow-list (Docker's style) that names both without conditions
        let list = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["openat","execve","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(surely_allows(&list, &names));
        let short_list = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["openat"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(!surely_allows(&short_list, &names));
        // allowed only for some arguments: not surely
        let cond = profile(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["openat","execve"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(!surely_allows(&cond, &names));
    }

    fn errno() -> i32 {
        nix::errno::Errno::last_raw()
    }

    /// Issue 15 item 1: a profile older than close_range (or one refusing it) must not stop
    /// the fds from being made close-on-exec or closed: /proc/self/fd + fcntl instead.
    #[test]
    fn fds_are_handled_when_close_range_is_refused() {
        let f = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_AARCH64"],
                "syscalls":[{"names":["close_range"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        ))
        .expect("compile");
        let st = in_child(f, || {
            // SAFETY: fd juggling in the forked child: a dup of stdin without FD_CLOEXEC.
            unsafe {
                if libc::syscall(libc::SYS_close_range, 1000, 1000, 0) != -1
                    || errno() != libc::EPERM
                {
                    return 1;
                }
                let a = libc::fcntl(0, libc::F_DUPFD, 10);
                let b = libc::fcntl(0, libc::F_DUPFD, 20);
                if a < 0 || b < 0 || libc::fcntl(a, libc::F_GETFD) != 0 {
                    return 2;
                }
                if crate::sys::cloexec_from(10).is_err() {
                    return 3;
                }
                if libc::fcntl(a, libc::F_GETFD) & libc::FD_CLOEXEC == 0
                    || libc::fcntl(b, libc::F_GETFD) & libc::FD_CLOEXEC == 0
                    || libc::fcntl(0, libc::F_GETFD) & libc::FD_CLOEXEC != 0
                {
                    return 4;
                }
                if crate::sys::close_fds(15, u32::MAX).is_err() {
                    return 5;
                }
                if libc::fcntl(a, libc::F_GETFD) < 0 || libc::fcntl(b, libc::F_GETFD) >= 0 {
                    return 6;
                }
            }
            0
        });
        assert_eq!(st, WaitStatus::Exited(st.pid().expect("pid"), 0), "{st:?}");
    }

    #[test]
    fn mkdir_gets_eperm_other_syscalls_work() {
        let f = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        ))
        .expect("compile");
        assert!(!f.is_empty());
        let st = in_child(f, || {
            let path = c"/tmp/podrun-seccomp-test-never-created";
            // SAFETY: raw syscalls with a valid NUL-terminated path.
            unsafe {
                if libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o700) != -1
                    || errno() != libc::EPERM
                {
                    return 1;
                }
                if libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), 0o700) != -1
                    || errno() != libc::EPERM
                {
                    return 2;
                }
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    return 3;
                }
                let mut buf = [0u8; 8];
                if libc::syscall(libc::SYS_getrandom, buf.as_mut_ptr(), 8usize, 0) != 8 {
                    return 4;
                }
            }
            0
        });
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");
        assert!(!std::path::Path::new("/tmp/podrun-seccomp-test-never-created").exists());
    }

    #[test]
    fn default_errno_and_args() {
        // getpgid(1) -> ENOENT by rule (arg0 == 1), getpgid(0) allowed.
        let f = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":2,
                             "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        ))
        .expect("compile");
        let st = in_child(f, || {
            // SAFETY: getpgid has no pointer arguments.
            unsafe {
                if libc::syscall(libc::SYS_getpgid, 1) != -1 || errno() != libc::ENOENT {
                    return 1;
                }
                if libc::syscall(libc::SYS_getpgid, 0) < 0 {
                    return 2;
                }
            }
            0
        });
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");
    }

    #[test]
    fn allowlist_with_errno_default() {
        // The usual profile shape: default ERRNO(ENOSYS), a list of allowed syscalls.
        let f = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
                "syscalls":[{"names":["getpid","exit_group","exit"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .expect("compile");
        let st = in_child(f, || {
            // SAFETY: raw syscalls without pointer arguments.
            unsafe {
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    return 1;
                }
                if libc::syscall(libc::SYS_getppid) != -1 || errno() != libc::ENOSYS {
                    return 2;
                }
            }
            0
        });
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");
    }

    #[test]
    fn unknown_syscall_is_skipped() {
        let f = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["no_such_syscall_xyz","getppid"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("unknown names are warnings");
        // The known name of the same rule is still enforced (EPERM by default).
        let st = in_child(f, || {
            // SAFETY: getppid has no arguments.
            if unsafe { libc::syscall(libc::SYS_getppid) } != -1 || errno() != libc::EPERM {
                return 1;
            }
            0
        });
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");
    }

    #[test]
    fn kill_action_kills_with_sigsys() {
        for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS"] {
            let f = compile(&profile(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getppid"],"action":"{action}"}}]}}"#
            )))
            .expect("compile");
            let st = in_child(f, || {
                // SAFETY: getppid has no arguments.
                unsafe { libc::syscall(libc::SYS_getppid) };
                0
            });
            assert!(
                matches!(st, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
                "{action}: {st:?}"
            );
        }
    }

    #[test]
    fn notify_and_listener_are_refused() {
        let e = compile(&profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)).expect_err("notify");
        assert!(e.to_string().contains("NOTIFY"), "{e}");
        let e = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock"}"#,
        ))
        .expect_err("listener");
        assert!(e.to_string().contains("listenerPath"), "{e}");
    }

    #[test]
    fn flags_probe_and_names() {
        assert!(flag_supported(libc::SECCOMP_FILTER_FLAG_TSYNC));
        assert!(!flag_supported(1 << 30), "an undefined flag bit");
        let f = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"]}"#,
        ))
        .expect("compile with flags");
        assert_eq!(
            f.flags,
            libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_TSYNC
        );
        assert!(known_operators().contains(&"SCMP_CMP_MASKED_EQ".to_string()));
    }
}
