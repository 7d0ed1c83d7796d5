//! The bpf(2) calls that put a device program on a cgroup v2 directory: load, attach with
//! `BPF_F_ALLOW_MULTI`, query, detach. Nothing is pinned: an attached program is held by
//! the cgroup and goes away with it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::devices::insn::Insn;
use crate::{Error, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The license the kernel records for the program (device programs call no GPL-only helper).
const LICENSE: &[u8] = b"Apache\0";
const PROG_NAME: &[u8] = b"podrun_devices";

#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr, sizeof attr); the result or the errno.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::result::Result<i64, nix::errno::Errno> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] bpf_attr prefix of the size
    // passed; pointers inside it (set by the callers) point to buffers that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(r)
    }
}

fn fd_from(r: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this new fd (close-on-exec: bpf fds are made with
    // O_CLOEXEC) and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

/// Loads a cgroup device program; on refusal, loads it again with the verifier's log to say why.
pub(crate) fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut a = LoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: u32::try_from(prog.len()).unwrap_or(u32::MAX),
            insns: prog.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            ..Default::default()
        };
        a.prog_name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
        if let Some(buf) = log {
            a.log_level = 1;
            a.log_size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
            a.log_buf = buf.as_mut_ptr() as u64;
        }
        bpf(BPF_PROG_LOAD, &mut a)
    };
    match attempt(None) {
        Ok(fd) => Ok(fd_from(fd)),
        Err(e) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = attempt(Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let hint = if e == nix::errno::Errno::EPERM {
                " (needs CAP_SYS_ADMIN or CAP_BPF, and a kernel with BPF_PROG_TYPE_CGROUP_DEVICE)"
            } else {
                ""
            };
            Err(Error::other(format!(
                "cgroup: load the eBPF device program (BPF_PROG_LOAD, {} instructions): {e}{hint}{}",
                prog.len(),
                if text.trim().is_empty() {
                    String::new()
                } else {
                    format!("; verifier: {}", text.trim())
                }
            )))
        }
    }
}

/// The ids of the device programs attached to this cgroup itself (not its ancestors).
pub(crate) fn query(cgroup: &OwnedFd) -> std::result::Result<Vec<u32>, nix::errno::Errno> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut a = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut a) {
            Ok(_) => {
                ids.truncate(a.prog_cnt as usize);
                return Ok(ids);
            }
            // The array was too small; prog_cnt now says how many there are.
            Err(nix::errno::Errno::ENOSPC) if (a.prog_cnt as usize) > ids.len() => {
                ids = vec![0u32; a.prog_cnt as usize];
            }
            Err(e) => return Err(e),
        }
    }
}

fn attach(cgroup: &OwnedFd, prog: &OwnedFd) -> std::result::Result<(), nix::errno::Errno> {
    let mut a = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut a).map(drop)
}

fn detach_id(cgroup: &OwnedFd, id: u32) -> std::result::Result<(), nix::errno::Errno> {
    let mut g = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    let prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut g) {
        Ok(fd) => fd_from(fd),
        // Already gone.
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut a = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_DETACH, &mut a) {
        Ok(_) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("cgroup: open {}", dir.display()), e))
}

/// Puts `prog` on the cgroup `dir` in place of the device programs already there: the new
/// one is attached first, then the old ones are detached, so at every moment at least one
/// program guards the cgroup (while both are attached, a device must pass both).
pub(crate) fn replace_device_program(dir: &Path, prog: &[Insn]) -> Result<()> {
    let cg = open_dir(dir)?;
    let old = query(&cg).map_err(|e| {
        Error::sys(
            format!(
                "cgroup: list the eBPF device programs of {} (BPF_PROG_QUERY)",
                dir.display()
            ),
            e,
        )
    })?;
    let new = load(prog)?;
    attach(&cg, &new).map_err(|e| {
        Error::sys(
            format!(
                "cgroup: attach the eBPF device program to {} (BPF_PROG_ATTACH, BPF_F_ALLOW_MULTI)",
                dir.display()
            ),
            e,
        )
    })?;
    for id in old {
        detach_id(&cg, id).map_err(|e| {
            Error::sys(
                format!(
                    "cgroup: detach the old eBPF device program {id} from {} (BPF_PROG_DETACH)",
                    dir.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

/// The ids of the device programs on the cgroup `dir`.
#[cfg(test)]
pub(crate) fn attached(dir: &Path) -> Result<Vec<u32>> {
    let cg = open_dir(dir)?;
    query(&cg).map_err(|e| Error::sys(format!("cgroup: BPF_PROG_QUERY {}", dir.display()), e))
}
