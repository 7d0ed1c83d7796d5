//! Safe path resolution inside a container rootfs (runs in the container's init, before and
//! after pivot_root).
//!
//! Every path that comes from the bundle is resolved relative to an fd of the rootfs with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: absolute symlinks and `..` stay inside
//! the root (CVE-2021-30465). Missing components are created one at a time relative to an
//! already opened parent directory fd, reading symlinks with `readlinkat` and resolving them
//! against the same root, so nothing is ever created outside the rootfs. Mounts then target
//! `/proc/self/fd/<fd>` instead of a path string a symlink could redirect.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};

use crate::{Error, Result};

/// Symlinks followed while resolving one path before giving up (the kernel's limit).
const MAX_SYMLINKS: usize = 40;
/// Retries when a component appears or disappears under us (EEXIST/ENOENT races, EAGAIN).
const MAX_RETRIES: usize = 32;

/// What to create when the last component of a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Do not create anything: a missing path is an error (ENOENT).
    Nothing,
    /// A directory with this mode (also used for every missing parent, with 0755).
    Dir(u32),
    /// An empty regular file with this mode (for file bind mounts and device binds).
    File(u32),
}

/// How strictly symlinks inside the rootfs are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Follow them, scoped to the root (RESOLVE_IN_ROOT semantics).
    FollowInRoot,
    /// Refuse any symlink in the path (used for /proc and /sys, CVE-2019-16884).
    Refuse,
}

/// Opens a host directory (the rootfs) as an `O_PATH` anchor for in-root resolution.
pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open {}", path.display()), e))
}

/// Raw `openat2(2)`. Retries EAGAIN (the kernel asks for a retry when a rename raced the
/// lookup) and EINTR.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut how: libc::open_how = unsafe_zeroed_open_how();
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    for _ in 0..MAX_RETRIES {
        // SAFETY: cpath is a valid NUL-terminated string, `how` is a properly initialised
        // open_how whose size we pass; dirfd is a live fd borrowed for the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                cpath.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if ret >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
    Err(Errno::EAGAIN)
}

fn unsafe_zeroed_open_how() -> libc::open_how {
    // SAFETY: open_how is a plain C struct of integers; all-zero is its documented default.
    unsafe { std::mem::zeroed() }
}

/// Resolve flags used for every in-root lookup.
fn resolve_flags(symlinks: Symlinks) -> u64 {
    match symlinks {
        Symlinks::FollowInRoot => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        Symlinks::Refuse => {
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_SYMLINKS
        }
    }
}

/// Opens `path` inside `root` as an `O_PATH` fd (nothing is created).
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, symlinks: Symlinks) -> nix::Result<OwnedFd> {
    openat2(root, path, libc::O_PATH, resolve_flags(symlinks))
}

/// Opens `path` inside `root`, creating what is missing (parents as 0755 directories, the
/// last component as `create` says). The returned `O_PATH` fd always comes from a final
/// `openat2(RESOLVE_IN_ROOT)`, so it is inside the root whatever the walk did.
pub fn ensure_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create,
    symlinks: Symlinks,
) -> Result<OwnedFd> {
    let op = || format!("resolve {} in rootfs", path.display());
    match open_in_root(root, path, symlinks) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create != Create::Nothing => {}
        Err(Errno::ELOOP) if symlinks == Symlinks::Refuse => {
            return Err(Error::other(format!(
                "{}: refusing a path with a symlink in it (must be an ordinary directory)",
                path.display()
            )))
        }
        Err(e) => return Err(Error::sys(op(), e)),
    }
    drop(create_path(root, path, create, symlinks)?);
    open_in_root(root, path, symlinks).map_err(|e| Error::sys(op(), e))
}

/// Walks `path` one component at a time below `root`, creating missing components.
/// `..` never climbs above `root`; a symlink's target is resolved against `root`
/// (absolute) or the current directory (relative). Returns an `O_PATH` fd of the result.
pub fn create_path(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create,
    symlinks: Symlinks,
) -> Result<OwnedFd> {
    let mut walk = Walk {
        root,
        stack: Vec::new(),
        todo: components(path),
        links: 0,
        retries: 0,
        path,
    };
    walk.run(create, symlinks)
}

/// The walker's state: `stack` holds the opened directories below the root.
struct Walk<'a> {
    root: BorrowedFd<'a>,
    stack: Vec<OwnedFd>,
    todo: VecDeque<OsString>,
    links: usize,
    retries: usize,
    path: &'a Path,
}

impl Walk<'_> {
    fn cur(&self) -> BorrowedFd<'_> {
        self.stack.last().map(|f| f.as_fd()).unwrap_or(self.root)
    }

    fn fail(&self, what: &str, e: Errno) -> Error {
        Error::sys(
            format!("{what} (resolving {} in rootfs)", self.path.display()),
            e,
        )
    }

    fn run(&mut self, create: Create, symlinks: Symlinks) -> Result<OwnedFd> {
        while let Some(name) = self.todo.pop_front() {
            if name == ".." {
                self.stack.pop();
                continue;
            }
            let last = self.todo.is_empty();
            match openat(
                self.cur(),
                name.as_os_str(),
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => {
                    if let Some(fd) = self.step_into(fd, &name, last, symlinks)? {
                        return Ok(fd);
                    }
                }
                Err(Errno::ENOENT) => {
                    if last && create == Create::Nothing {
                        return Err(self.fail(&format!("open {name:?}"), Errno::ENOENT));
                    }
                    self.create_component(&name, last, create)?;
                    self.todo.push_front(name);
                }
                Err(e) => return Err(self.fail(&format!("open {name:?}"), e)),
            }
        }
        // The path ended on a directory (or on the root itself).
        let cur = self.cur();
        openat(cur, ".", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| self.fail("reopen final directory", e))
    }

    /// Handles one opened component; returns the final fd when the walk is done.
    fn step_into(
        &mut self,
        fd: OwnedFd,
        name: &OsStr,
        last: bool,
        symlinks: Symlinks,
    ) -> Result<Option<OwnedFd>> {
        let st = fstat(&fd).map_err(|e| self.fail(&format!("fstat {name:?}"), e))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        if kind == SFlag::S_IFLNK {
            if symlinks == Symlinks::Refuse {
                return Err(Error::other(format!(
                    "{}: component {name:?} is a symlink; refusing (must be an ordinary directory)",
                    self.path.display()
                )));
            }
            self.links += 1;
            if self.links > MAX_SYMLINKS {
                return Err(self.fail("follow symlinks", Errno::ELOOP));
            }
            let target = nix::fcntl::readlinkat(&fd, "")
                .map_err(|e| self.fail(&format!("readlink {name:?}"), e))?;
            let target = PathBuf::from(target);
            if target.is_absolute() {
                self.stack.clear();
            }
            for c in components(&target).into_iter().rev() {
                self.todo.push_front(c);
            }
            return Ok(None);
        }
        if kind == SFlag::S_IFDIR {
            self.stack.push(fd);
            return Ok(None);
        }
        if last {
            return Ok(Some(fd));
        }
        Err(self.fail(&format!("walk through {name:?}"), Errno::ENOTDIR))
    }

    /// Creates one missing component relative to the current directory fd.
    fn create_component(&mut self, name: &OsStr, last: bool, create: Create) -> Result<()> {
        self.retries += 1;
        if self.retries > MAX_RETRIES {
            return Err(self.fail(&format!("create {name:?}"), Errno::EAGAIN));
        }
        let res = match (last, create) {
            (false, _) => mkdirat(self.cur(), name, Mode::from_bits_truncate(0o755)),
            (true, Create::Dir(mode)) => mkdirat(self.cur(), name, Mode::from_bits_truncate(mode)),
            (true, Create::File(mode)) => openat(
                self.cur(),
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(mode),
            )
            .map(drop),
            (true, Create::Nothing) => Err(Errno::ENOENT),
        };
        match res {
            // EEXIST: someone created it meanwhile; the retry looks it up again.
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(self.fail(&format!("create {name:?}"), e)),
        }
    }
}

/// Splits a path into the names to walk: `/`, `.` and empty parts dropped, `..` kept.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// The magic-link path through which the kernel reaches what `fd` refers to.
pub fn proc_fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Where `fd` is, as seen from this process's root (readlink of its /proc/self/fd entry).
pub fn fd_path(fd: BorrowedFd<'_>) -> Result<PathBuf> {
    let link = proc_fd_path(fd);
    nix::fcntl::readlink(&link)
        .map(PathBuf::from)
        .map_err(|e| Error::sys(format!("readlink {}", link.display()), e))
}

/// The path of `fd` relative to `rootfs` (as an absolute in-container path). Errors when the
/// fd is not below `rootfs`: defense in depth after an in-root resolution.
pub fn path_in_root(fd: BorrowedFd<'_>, rootfs: &Path) -> Result<PathBuf> {
    let host = fd_path(fd)?;
    let rel = host.strip_prefix(rootfs).map_err(|_| {
        Error::other(format!(
            "resolved path {} is outside the rootfs {}",
            host.display(),
            rootfs.display()
        ))
    })?;
    Ok(Path::new("/").join(rel))
}

/// Lexically cleans an absolute in-container path: `/a/./b/../c` -> `/a/c`, never above `/`.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in components(path) {
        if c == ".." {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A temp dir removed on drop (these tests need no mounts, so no fork).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "podrun-paths-{tag}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn clean_never_climbs_above_root() {
        assert_eq!(clean(Path::new("../../../etc/x")), PathBuf::from("/etc/x"));
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(clean(Path::new("/")), PathBuf::from("/"));
    }

    #[test]
    fn symlink_chain_is_created_inside_root() {
        let t = TempDir::new("chain");
        let root = t.0.join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let outside = t.0.join("outside");
        // /etc/hosts -> /jump/baz/hosts, /jump -> <absolute host path>/bar
        symlink("/jump/baz/hosts", root.join("etc/hosts")).unwrap();
        symlink(outside.join("bar"), root.join("jump")).unwrap();
        let rfd = open_dir(&root).unwrap();
        let fd = ensure_in_root(
            rfd.as_fd(),
            Path::new("/etc/hosts"),
            Create::File(0o644),
            Symlinks::FollowInRoot,
        )
        .unwrap();
        let inside = root
            .join(outside.strip_prefix("/").unwrap())
            .join("bar/baz/hosts");
        assert!(
            inside.is_file(),
            "expected {} to be created",
            inside.display()
        );
        assert!(!outside.exists(), "created something outside the root");
        assert_eq!(
            path_in_root(fd.as_fd(), &root).unwrap(),
            Path::new("/").join(inside.strip_prefix(&root).unwrap())
        );
    }

    #[test]
    fn dotdot_stays_inside_and_refuse_mode_rejects_symlinks() {
        let t = TempDir::new("dotdot");
        let root = t.0.join("rootfs");
        std::fs::create_dir_all(&root).unwrap();
        let rfd = open_dir(&root).unwrap();
        let fd = ensure_in_root(
            rfd.as_fd(),
            Path::new("../../../esc/x"),
            Create::Dir(0o755),
            Symlinks::FollowInRoot,
        )
        .unwrap();
        assert!(root.join("esc/x").is_dir());
        assert!(!t.0.join("esc").exists());
        assert_eq!(
            path_in_root(fd.as_fd(), &root).unwrap(),
            PathBuf::from("/esc/x")
        );

        symlink("/elsewhere", root.join("proc")).unwrap();
        let err = ensure_in_root(
            rfd.as_fd(),
            Path::new("/proc"),
            Create::Dir(0o555),
            Symlinks::Refuse,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("symlink"), "{err}");
        assert!(!root.join("elsewhere").exists());
    }

    #[test]
    fn missing_path_without_create_is_enoent_and_file_through_file_is_enotdir() {
        let t = TempDir::new("enoent");
        let rfd = open_dir(&t.0).unwrap();
        assert_eq!(
            open_in_root(rfd.as_fd(), Path::new("/nope"), Symlinks::FollowInRoot).unwrap_err(),
            Errno::ENOENT
        );
        std::fs::write(t.0.join("file"), b"x").unwrap();
        let err = ensure_in_root(
            rfd.as_fd(),
            Path::new("/file/below"),
            Create::Dir(0o755),
            Symlinks::FollowInRoot,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ENOTDIR"), "{err}");
    }

    #[test]
    fn symlink_loop_is_eloop() {
        let t = TempDir::new("loop");
        symlink("/b", t.0.join("a")).unwrap();
        symlink("/a", t.0.join("b")).unwrap();
        let rfd = open_dir(&t.0).unwrap();
        let err = create_path(
            rfd.as_fd(),
            Path::new("/a/x"),
            Create::Dir(0o755),
            Symlinks::FollowInRoot,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ELOOP"), "{err}");
    }
}
