//! Small file helpers for cgroupfs: one `write(2)` per value, errors that name file and value.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `value` to `dir/file` in one write. A file that this kernel does not have is an
/// error that says so (the value cannot be applied); any other failure names file and value.
pub(crate) fn set(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    match write_once(&path, value) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.is_dir() => {
            Err(Error::Spec(format!(
                "cgroup: {} does not exist on this host, so {value:?} cannot be applied",
                path.display()
            )))
        }
        Err(e) => Err(write_error(&path, value, e)),
    }
}

/// Like [`set`], but a file this kernel does not have is skipped (`Ok(false)`).
pub(crate) fn set_if_present(dir: &Path, file: &str, value: &str) -> Result<bool> {
    if !dir.join(file).exists() && dir.is_dir() {
        return Ok(false);
    }
    set(dir, file, value).map(|()| true)
}

/// Writes `value` to `dir/file`; a missing file is an error too.
pub(crate) fn set_strict(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_once(&path, value).map_err(|e| write_error(&path, value, e))
}

pub(crate) fn write_error(path: &Path, value: &str, e: std::io::Error) -> Error {
    Error::other(format!(
        "cgroup: write {value:?} to {}: {e}",
        path.display()
    ))
}

/// Opens an existing file write-only (never creates: cgroupfs files are made by the kernel).
pub(crate) fn write_once(path: &Path, value: &str) -> std::io::Result<()> {
    // std opens with O_CLOEXEC.
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Reads `dir/file` trimmed; `None` when it is missing or unreadable.
pub(crate) fn get(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Reads `dir/file` as a number; "max" reads as `u64::MAX`.
pub(crate) fn get_u64(dir: &Path, file: &str) -> Option<u64> {
    let s = get(dir, file)?;
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Parses "key value" lines (memory.stat, cpu.stat, cgroup.events ...).
pub(crate) fn get_keyed(dir: &Path, file: &str) -> Vec<(String, u64)> {
    let Some(s) = get(dir, file) else {
        return Vec::new();
    };
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

pub(crate) fn keyed(entries: &[(String, u64)], key: &str) -> Option<u64> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// Every directory from `root` (exclusive) down to `root/rel` (inclusive).
pub(crate) fn chain(root: &Path, rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        cur = cur.join(comp);
        out.push(cur.clone());
    }
    out
}

/// mkdir that accepts an existing directory.
pub(crate) fn mkdir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("create cgroup", dir, e)),
    }
}
