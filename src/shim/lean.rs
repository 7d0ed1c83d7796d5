//! Gives back what the shim's start-up touched and the daemon never needs again, once its
//! server is up: one shim runs per pod, for the pod's whole life.
//!
//! Measured (cri_bench, /proc/PID/smaps): of a shim's ~5.6 MB RSS, 4.6 MB were pages of its
//! static binary's read-only mappings (text, rodata), mapped at start-up (argument parsing,
//! the re-exec, logger and server set-up) in whole page-cache folios; the task API's work runs
//! in forked helpers (src/shim/helper.rs), whose page faults are theirs. Unmapping the clean,
//! read-only file mappings (MADV_DONTNEED) changes nothing for the process: any page it runs
//! again faults back in from the page cache, shared with every other shim, exactly as after
//! reclaim. glibc's free heap pages go back too (malloc_trim).

use std::io::{BufRead, BufReader};

/// One mapping of /proc/self/smaps: its range, whether it may be dropped.
struct Mapping {
    start: usize,
    end: usize,
    /// read-only (no `w`), backed by a file (a path, not `[heap]`-like), private
    clean_ro_file: bool,
    /// pages of it that are anonymous (COW copies, e.g. relocated RELRO) or dirty: keep it
    private_changes: u64,
}

/// Parses smaps text into mappings.
fn parse_smaps(text: impl BufRead) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines().map_while(Result::ok) {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                let perms = f.next().unwrap_or("");
                let path = f.nth(3).unwrap_or("");
                out.push(Mapping {
                    start,
                    end,
                    clean_ro_file: perms.starts_with('r')
                        && !perms.contains('w')
                        && perms.ends_with('p')
                        && path.starts_with('/'),
                    private_changes: 0,
                });
                continue;
            }
        }
        if matches!(first, "Anonymous:" | "Private_Dirty:") {
            let kib: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            if let Some(m) = out.last_mut() {
                m.private_changes += kib;
            }
        }
    }
    out
}

/// Drops the page-table entries of the clean read-only file mappings and trims the heap.
/// Returns the KiB of address range dropped. Best effort: errors only skip.
pub fn release_startup_memory() -> usize {
    let Ok(file) = std::fs::File::open("/proc/self/smaps") else {
        return 0;
    };
    let mut dropped = 0;
    for m in parse_smaps(BufReader::new(file)) {
        if !m.clean_ro_file || m.private_changes != 0 {
            continue;
        }
        // SAFETY: a whole mapping of our own address space that is private, read-only,
        // file-backed and has no private (anonymous or dirty) pages: MADV_DONTNEED only
        // removes its page-table entries; its content is refaulted from the file.
        if unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        } == 0
        {
            dropped += (m.end - m.start) / 1024;
        }
    }
    // SAFETY: glibc's malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_qualify() {
        let smaps = "\
00200000-003fc000 r--p 00000000 fd:00 42 /usr/bin/shim
Rss:                1044 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
003fc000-00811000 r-xp 001fb000 fd:00 42 /usr/bin/shim
Anonymous:             0 kB
Private_Dirty:         0 kB
00811000-00816000 r--p 0060f000 fd:00 42 /usr/bin/shim
Anonymous:             8 kB
Private_Dirty:         8 kB
00816000-0081d000 rw-p 00613000 fd:00 42 /usr/bin/shim
Anonymous:            28 kB
01000000-01100000 rw-p 00000000 00:00 0 [heap]
7ffd0000-7ffd1000 r-xp 00000000 00:00 0 [vdso]
";
        let m = parse_smaps(smaps.as_bytes());
        let ok: Vec<bool> = m
            .iter()
            .map(|m| m.clean_ro_file && m.private_changes == 0)
            .collect();
        assert_eq!(ok, [true, true, false, false, false, false]);
    }

    /// Rss of the mapping that starts at `addr`, KiB.
    fn rss_of(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        lines.next().expect("mapping listed");
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    /// A clean read-only private file mapping loses its resident pages and reads the same
    /// after; a read-only mapping holding a private change (as the RELRO of a static binary
    /// after its relocations) keeps it.
    #[test]
    fn releasing_drops_clean_mappings_and_keeps_changed_ones() {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let len = 64 * 1024;
        let map = |prot| {
            // SAFETY: a fresh private mapping of our own file, checked below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_PRIVATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            p as *mut u8
        };
        let clean = map(libc::PROT_READ);
        let changed = map(libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: both mappings are len bytes long; `changed` is writable until mprotect.
        let (first, _) = unsafe {
            let first = std::ptr::read_volatile(clean);
            let _ = std::ptr::read_volatile(clean.add(len - 1));
            *changed = first.wrapping_add(1);
            assert_eq!(libc::mprotect(changed.cast(), len, libc::PROT_READ), 0);
            (first, ())
        };
        assert!(rss_of(clean as usize) > 0);
        release_startup_memory();
        assert_eq!(
            rss_of(clean as usize),
            0,
            "the clean mapping is still resident"
        );
        // SAFETY: reads within the mappings.
        unsafe {
            assert_eq!(std::ptr::read_volatile(clean), first);
            assert_eq!(std::ptr::read_volatile(changed), first.wrapping_add(1));
            libc::munmap(clean.cast(), len);
            libc::munmap(changed.cast(), len);
        }
    }
}
