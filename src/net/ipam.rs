//! IPAM with the CNI `host-local` plugin's semantics and on-disk layout, so the CNI mode and
//! `pod create` can share one store.
//!
//! Layout of `<store_dir>/<network>/`:
//! - `<IP>`: one file per allocated address, holding `<owner id>\r\n<ifname>`;
//! - `last_reserved_ip.0`: the last address handed out (allocation continues round-robin after it);
//! - `lock`: `flock`ed exclusively around every read-modify-write of the directory.
//!
//! The network address, the broadcast address and the gateway are never handed out.
//! Other files (like `bridge_created`, see `net`) are ignored, as host-local ignores them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

use super::Ipv4Cidr;
use crate::error::IoContext;
use crate::{Error, Result};

const LAST_RESERVED: &str = "last_reserved_ip.0";
/// The network's subnet, recorded by `net::attach` so that another network overlapping it is
/// refused (a podrun file; host-local ignores it).
pub const SUBNET_FILE: &str = "subnet";
const LINE_BREAK: &str = "\r\n";
/// Prefix of an IP file being written (see [`Store::reserve`]); never parsed as an address.
const TMP_PREFIX: &str = ".podrun-ip-";

/// The addresses a network hands out: `start..=end` inside `subnet`, minus the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub subnet: Ipv4Cidr,
    pub gateway: Ipv4Addr,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl Range {
    /// The whole subnet: network + 1 ..= broadcast - 1 (host-local's default range).
    /// Subnets smaller than a /30 have no room for a gateway and a pod, and are refused.
    pub fn new(subnet: Ipv4Cidr, gateway: Ipv4Addr) -> Result<Range> {
        if subnet.prefix > 30 {
            return Err(Error::Usage(format!(
                "subnet {subnet} is too small: it needs room for a gateway and a pod (/30 or larger)"
            )));
        }
        if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast()
        {
            return Err(Error::Usage(format!(
                "gateway {gateway} is not a host address of subnet {subnet}"
            )));
        }
        Ok(Range {
            subnet,
            gateway,
            start: Ipv4Addr::from(u32::from(subnet.network()) + 1),
            end: Ipv4Addr::from(u32::from(subnet.broadcast()) - 1),
        })
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        self.subnet.contains(ip) && v >= u32::from(self.start) && v <= u32::from(self.end)
    }

    /// Why `ip` can never be handed out, if it cannot.
    fn refuse(&self, ip: Ipv4Addr) -> Option<String> {
        let s = self.subnet;
        if !s.contains(ip) {
            return Some(format!("requested IP address {ip} is outside subnet {s}"));
        }
        if ip == s.network() || ip == s.broadcast() {
            return Some(format!(
                "requested IP address {ip} is the network or broadcast address of {s}"
            ));
        }
        if ip == self.gateway {
            return Some(format!("requested IP address {ip} is the gateway of {s}"));
        }
        if !self.in_range(ip) {
            return Some(format!(
                "requested IP address {ip} is outside the range {}-{}",
                self.start, self.end
            ));
        }
        None
    }
}

/// One network's directory in the store.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// Proof that the store's `lock` file is held; released on drop.
pub struct StoreLock {
    _flock: Flock<File>,
}

impl Store {
    /// `<store_dir>/<network>`, created if missing.
    pub fn open(store_dir: &Path, network: &str) -> Result<Store> {
        if network.is_empty() || network.contains('/') || network == "." || network == ".." {
            return Err(Error::Usage(format!("invalid network name {network:?}")));
        }
        let dir = store_dir.join(network);
        Ok(Store { dir })
    }

    /// Takes the store's exclusive `flock` (blocks until other allocators are done).
    /// The directory may have been removed by [`Store::remove_if_unused`] while we waited: then
    /// the lock we got is on an unlinked file, so the directory is recreated and locked again.
    pub fn lock(&self) -> Result<StoreLock> {
        use std::os::unix::fs::MetadataExt;
        let path = self.dir.join("lock");
        loop {
            std::fs::create_dir_all(&self.dir).io("create IPAM store", &self.dir)?;
            let flock = crate::lockfile::lock_exclusive(&path)?;
            let held = flock.metadata().io("stat lock", &path)?;
            match std::fs::metadata(&path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(StoreLock { _flock: flock })
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("stat lock", &path, e)),
            }
        }
    }

    /// Removes the network's directory when no address is allocated and no other file than
    /// the round-robin position and the lock is left in it, so a network whose last pod is
    /// gone leaves nothing behind. Returns whether it was removed.
    pub fn remove_if_unused(&self, lock: &StoreLock) -> Result<bool> {
        if !self.allocated(lock)?.is_empty() {
            return Ok(false);
        }
        let rd = std::fs::read_dir(&self.dir).io("read IPAM store", &self.dir)?;
        for entry in rd {
            let name = entry.io("read IPAM store", &self.dir)?.file_name();
            // dot files are temporary files of writers killed halfway (IP files, the bridge
            // marker): only lock holders write, so under the lock they are all stale
            let stale_or_position = name.to_str().is_some_and(|n| {
                n.starts_with("last_reserved_ip.") || n.starts_with('.') || n == SUBNET_FILE
            });
            if name != "lock" && !stale_or_position {
                return Ok(false);
            }
        }
        for entry in std::fs::read_dir(&self.dir).io("read IPAM store", &self.dir)? {
            let path = entry.io("read IPAM store", &self.dir)?.path();
            if path.file_name().is_some_and(|n| n != "lock") {
                std::fs::remove_file(&path).io("remove", &path)?;
            }
        }
        // the lock file goes last: a waiter that then wins the flock sees it unlinked and retries
        let lock_path = self.dir.join("lock");
        std::fs::remove_file(&lock_path).io("remove", &lock_path)?;
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::ENOENT)) => {
                Ok(false)
            }
            Err(e) => Err(Error::io("remove IPAM store", &self.dir, e)),
        }
    }

    /// Allocates `fixed` or the next free address after the last reserved one, recording
    /// `owner`/`ifname` in its file.
    pub fn allocate(
        &self,
        _lock: &StoreLock,
        range: &Range,
        owner: &str,
        ifname: &str,
        fixed: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        if let Some(ip) = fixed {
            if let Some(why) = range.refuse(ip) {
                return Err(Error::Usage(why));
            }
            return match self.reserve(ip, owner, ifname)? {
                true => Ok(ip),
                false => Err(Error::Usage(format!(
                    "requested IP address {ip} is already allocated (to {})",
                    self.owner_of(ip).unwrap_or_else(|| "?".into())
                ))),
            };
        }
        for ip in self.candidates(range) {
            if self.reserve(ip, owner, ifname)? {
                self.write_last_reserved(ip)?;
                return Ok(ip);
            }
        }
        Err(Error::Other(format!(
            "no IP addresses available in {}",
            range.subnet
        )))
    }

    /// Every address of the range once, starting after the last reserved one, gateway skipped.
    fn candidates(&self, range: &Range) -> impl Iterator<Item = Ipv4Addr> {
        // u64: a /0 or /1 range has close to 2^32 addresses, and offset + i must not wrap
        let start = u64::from(u32::from(range.start));
        let end = u64::from(u32::from(range.end));
        let first = match self.last_reserved() {
            Some(last) if range.in_range(last) && u64::from(u32::from(last)) < end => {
                u64::from(u32::from(last)) + 1
            }
            _ => start,
        };
        let count = end - start + 1;
        let gateway = range.gateway;
        (0..count)
            // start + (..) % count <= end < 2^32
            .map(move |i| Ipv4Addr::from((start + (first - start + i) % count) as u32))
            .filter(move |ip| *ip != gateway)
    }

    /// Creates the IP's file exclusively; false when another owner has it. The file appears
    /// whole: written under a temporary name, then renamed with RENAME_NOREPLACE, so an
    /// allocator killed halfway never leaves an IP file without an owner (which no release by
    /// owner would ever remove). Only lock holders write, so a temporary file seen here is a
    /// killed allocator's and is overwritten.
    fn reserve(&self, ip: Ipv4Addr, owner: &str, ifname: &str) -> Result<bool> {
        let path = self.dir.join(ip.to_string());
        if path.exists() {
            return Ok(false);
        }
        let tmp = self.dir.join(format!("{TMP_PREFIX}{ip}"));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)
            .io("create IP file", &tmp)?;
        let content = format!("{owner}{LINE_BREAK}{ifname}");
        if let Err(e) = f.write_all(content.as_bytes()) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io("write IP file", &tmp, e));
        }
        drop(f);
        match rename_noreplace(&tmp, &path) {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Ok(false)
                } else {
                    Err(Error::io("rename IP file into", &path, e))
                }
            }
        }
    }

    fn last_reserved(&self) -> Option<Ipv4Addr> {
        std::fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn write_last_reserved(&self, ip: Ipv4Addr) -> Result<()> {
        let path = self.dir.join(LAST_RESERVED);
        std::fs::write(&path, ip.to_string()).io("write", &path)
    }

    /// The owner id recorded for an allocated address.
    pub fn owner_of(&self, ip: Ipv4Addr) -> Option<String> {
        let s = std::fs::read_to_string(self.dir.join(ip.to_string())).ok()?;
        Some(parse_content(&s).0.to_string())
    }

    /// Every allocated address of this network.
    pub fn allocated(&self, _lock: &StoreLock) -> Result<Vec<Ipv4Addr>> {
        let rd = std::fs::read_dir(&self.dir).io("read IPAM store", &self.dir)?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.io("read IPAM store", &self.dir)?;
            if let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            {
                out.push(ip);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Releases one address if `owner` holds it (missing is fine). True when a file was removed.
    pub fn release_ip(&self, _lock: &StoreLock, ip: Ipv4Addr, owner: &str) -> Result<bool> {
        match self.owner_of(ip) {
            Some(o) if o == owner => {}
            _ => return Ok(false),
        }
        let path = self.dir.join(ip.to_string());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove IP file", &path, e)),
        }
    }

    /// Every allocation: (address, owner, interface when recorded).
    pub fn allocations(&self, lock: &StoreLock) -> Result<Vec<(Ipv4Addr, String, Option<String>)>> {
        let mut out = Vec::new();
        for ip in self.allocated(lock)? {
            let Ok(content) = std::fs::read_to_string(self.dir.join(ip.to_string())) else {
                continue;
            };
            let (owner, ifname) = parse_content(&content);
            out.push((ip, owner.to_string(), ifname.map(str::to_string)));
        }
        Ok(out)
    }

    /// Releases every address held by `owner` (and `ifname`, when given). Returns them.
    pub fn release_by_owner(
        &self,
        lock: &StoreLock,
        owner: &str,
        ifname: Option<&str>,
    ) -> Result<Vec<Ipv4Addr>> {
        let mut released = Vec::new();
        for ip in self.allocated(lock)? {
            let path = self.dir.join(ip.to_string());
            let Ok(content) = std::fs::read_to_string(&path) else {
                continue;
            };
            let (o, i) = parse_content(&content);
            if o != owner || ifname.is_some_and(|want| i.is_some_and(|have| have != want)) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => released.push(ip),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove IP file", &path, e)),
            }
        }
        Ok(released)
    }
}

/// Whether the store directory `dir` holds an IP file (read without its lock: a hint).
pub fn has_allocations(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<Ipv4Addr>().is_ok())
        })
    })
}

/// rename(2) that fails with EEXIST instead of replacing `to`.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths that outlive the call.
    if unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `owner\r\nifname` (or an old-style file with the owner only).
fn parse_content(s: &str) -> (&str, Option<&str>) {
    match s.split_once(LINE_BREAK) {
        Some((o, i)) => (o.trim(), Some(i.trim())),
        None => (s.trim(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("podrun-ipam-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn range(s: &str) -> Range {
        let c = Ipv4Cidr::parse_subnet(s).unwrap();
        Range::new(c, c.first_host()).unwrap()
    }

    #[test]
    fn allocates_round_robin_skipping_gateway_and_writes_host_local_layout() {
        let d = tmp("rr");
        let st = Store::open(&d, "net").unwrap();
        let r = range("10.244.9.0/29");
        let l = st.lock().unwrap();
        let a = st.allocate(&l, &r, "a", "eth0", None).unwrap();
        let b = st.allocate(&l, &r, "b", "eth0", None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 244, 9, 2));
        assert_eq!(b, Ipv4Addr::new(10, 244, 9, 3));
        assert_eq!(
            std::fs::read_to_string(d.join("net/10.244.9.2")).unwrap(),
            "a\r\neth0"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("net/last_reserved_ip.0")).unwrap(),
            "10.244.9.3"
        );
        // round robin: releasing .2 does not hand it out again before .4
        st.release_by_owner(&l, "a", None).unwrap();
        assert_eq!(
            st.allocate(&l, &r, "c", "eth0", None).unwrap(),
            Ipv4Addr::new(10, 244, 9, 4)
        );
        // .5 .6 then wrap to .2, never .1 (gateway) or .7 (broadcast)
        assert_eq!(
            st.allocate(&l, &r, "d", "eth0", None).unwrap(),
            Ipv4Addr::new(10, 244, 9, 5)
        );
        assert_eq!(
            st.allocate(&l, &r, "e", "eth0", None).unwrap(),
            Ipv4Addr::new(10, 244, 9, 6)
        );
        assert_eq!(
            st.allocate(&l, &r, "f", "eth0", None).unwrap(),
            Ipv4Addr::new(10, 244, 9, 2)
        );
        let e = st
            .allocate(&l, &r, "g", "eth0", None)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no IP addresses available in 10.244.9.0/29");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn slash_zero_wraps_round_robin_without_overflow() {
        // the fuzz input that overflowed u32 arithmetic in candidates()
        let d = tmp("slash0");
        let st = Store::open(&d, "net").unwrap();
        let r = range("0.0.0.0/0");
        let l = st.lock().unwrap();
        std::fs::create_dir_all(&st.dir).unwrap();
        std::fs::write(st.dir.join(LAST_RESERVED), "255.255.255.253").unwrap();
        std::fs::write(st.dir.join("255.255.255.254"), "x\r\neth0").unwrap();
        // .254 taken, .255 is broadcast, wrap: .0.0.1 is the gateway, so .0.0.2
        assert_eq!(
            st.allocate(&l, &r, "y", "eth0", None).unwrap(),
            Ipv4Addr::new(0, 0, 0, 2)
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn fixed_ip_rules() {
        let d = tmp("fixed");
        let st = Store::open(&d, "net").unwrap();
        let r = range("10.244.9.0/24");
        let l = st.lock().unwrap();
        let ip = Ipv4Addr::new(10, 244, 9, 50);
        assert_eq!(st.allocate(&l, &r, "a", "eth0", Some(ip)).unwrap(), ip);
        let e = st
            .allocate(&l, &r, "b", "eth0", Some(ip))
            .unwrap_err()
            .to_string();
        assert!(e.contains("already allocated (to a)"), "{e}");
        for bad in [
            [10, 244, 9, 0],
            [10, 244, 9, 1],
            [10, 244, 9, 255],
            [10, 244, 8, 5],
        ] {
            assert!(st
                .allocate(&l, &r, "b", "eth0", Some(Ipv4Addr::from(bad)))
                .is_err());
        }
        // a fixed allocation does not move the round-robin cursor
        assert_eq!(
            st.allocate(&l, &r, "c", "eth0", None).unwrap(),
            Ipv4Addr::new(10, 244, 9, 2)
        );
        // releasing needs the right owner
        assert!(!st.release_ip(&l, ip, "zzz").unwrap());
        assert!(st.release_ip(&l, ip, "a").unwrap());
        assert_eq!(
            st.allocated(&l).unwrap(),
            vec![Ipv4Addr::new(10, 244, 9, 2)]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn too_small_subnets_refused() {
        let c = Ipv4Cidr::parse_subnet("10.244.9.0/31").unwrap();
        assert!(Range::new(c, c.first_host()).is_err());
        let c = Ipv4Cidr::parse_subnet("10.244.9.0/30").unwrap();
        assert!(Range::new(c, c.first_host()).is_ok());
    }

    #[test]
    fn fifty_concurrent_allocations_on_a_slash_28() {
        let d = tmp("conc");
        let r = range("10.244.9.0/28");
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let d = d.clone();
                std::thread::spawn(move || {
                    let st = Store::open(&d, "net")?;
                    let l = st.lock()?;
                    st.allocate(&l, &r, &format!("owner{i}"), "eth0", None)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut ok: Vec<Ipv4Addr> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        let errs: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect();
        ok.sort();
        let n = ok.len();
        ok.dedup();
        assert_eq!(ok.len(), n, "duplicate addresses handed out");
        assert_eq!(
            n, 13,
            "a /28 has 13 addresses besides network, broadcast and gateway"
        );
        assert_eq!(errs.len(), 37);
        assert!(
            errs.iter()
                .all(|e| e == "no IP addresses available in 10.244.9.0/28"),
            "{errs:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_killed_allocators_leftover_never_blocks_or_leaks() {
        let d = tmp("killed");
        let r = range("10.244.8.0/29");
        let st = Store::open(&d, "net").unwrap();
        let l = st.lock().unwrap();
        // what an allocator killed between creating and renaming leaves: a partial temp file
        std::fs::write(st.dir.join(format!("{TMP_PREFIX}10.244.8.2")), "half").unwrap();
        let ip = st.allocate(&l, &r, "owner-a", "eth0", None).unwrap();
        assert_eq!(ip, "10.244.8.2".parse::<Ipv4Addr>().unwrap());
        assert_eq!(st.owner_of(ip).as_deref(), Some("owner-a"));
        assert!(
            !st.dir.join(format!("{TMP_PREFIX}10.244.8.2")).exists(),
            "temp file left after a reserve"
        );
        // a taken address is never replaced by a rename
        assert!(!st.reserve(ip, "owner-b", "eth0").unwrap());
        assert_eq!(st.owner_of(ip).as_deref(), Some("owner-a"));
        assert_eq!(st.release_by_owner(&l, "owner-a", None).unwrap(), vec![ip]);
        std::fs::write(st.dir.join(format!("{TMP_PREFIX}10.244.8.3")), "").unwrap();
        assert!(
            st.remove_if_unused(&l).unwrap(),
            "a stale temp file kept the empty store"
        );
        assert!(!d.join("net").exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
