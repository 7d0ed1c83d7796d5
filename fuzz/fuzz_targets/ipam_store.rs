//! The IPAM store as found on disk (host-local's layout, which other tools may have written):
//! input text is
//!   line 1: a subnet ("10.244.1.0/28"), line 2: the content of `last_reserved_ip.0`,
//!   then `<file name> <content>` lines, each an entry of the store dir (`\r` and `\n` in the
//!   content written as `\\r`/`\\n`).
//! The subnet goes through `Ipv4Cidr` parsing and `Range::new`; the store through allocate
//! (round-robin and fixed), owner_of, allocated and release_by_owner. No input may panic.
#![no_main]

use std::net::Ipv4Addr;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use podrun::net::cidr::Ipv4Cidr;
use podrun::net::ipam::{Range, Store};

fn store_root() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("podrun-fuzz-ipam-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let subnet_text = lines.next().unwrap_or("");
    let _ = subnet_text.parse::<Ipv4Cidr>();
    let Ok(subnet) = Ipv4Cidr::parse_subnet(subnet_text) else {
        return;
    };
    let _ = (subnet.mask(), subnet.network(), subnet.broadcast());
    let Ok(range) = Range::new(subnet, subnet.first_host()) else {
        return;
    };
    let last = lines.next().unwrap_or("");

    let root = store_root();
    let _ = std::fs::remove_dir_all(&root);
    let Ok(store) = Store::open(&root, "fuzz") else {
        return;
    };
    let _ = std::fs::write(store.dir.join("last_reserved_ip.0"), last);
    let mut fixed: Option<Ipv4Addr> = None;
    let mut owner = String::from("fuzz-owner");
    for line in lines.take(64) {
        let (name, content) = line.split_once(' ').unwrap_or((line, ""));
        if name.is_empty() || name.contains('/') || name == "." || name == ".." || name == "lock" {
            continue;
        }
        let content = content.replace("\\r", "\r").replace("\\n", "\n");
        if let Ok(ip) = name.parse::<Ipv4Addr>() {
            fixed.get_or_insert(ip);
            if let Some((o, _)) = content.split_once("\r\n") {
                owner = o.trim().to_string();
            }
        }
        let _ = std::fs::write(store.dir.join(name), content);
    }
    let Ok(lock) = store.lock() else {
        return;
    };
    let _ = store.allocate(&lock, &range, "fuzz-a", "eth0", None);
    let _ = store.allocate(&lock, &range, "fuzz-b", "eth0", fixed);
    if let Some(ip) = fixed {
        let _ = store.owner_of(ip);
        let _ = store.release_ip(&lock, ip, &owner);
    }
    let _ = store.allocated(&lock);
    let _ = store.release_by_owner(&lock, &owner, Some("eth0"));
    let _ = store.release_by_owner(&lock, "fuzz-a", None);
    drop(lock);
    let _ = std::fs::remove_dir_all(&root);
});
