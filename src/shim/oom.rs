//! Live OOM events: one thread (started at the first container) waits in one epoll set on
//! every container's OOM source (src/cgroups/oom.rs: a v1 eventfd, or one inotify instance
//! for the v2 `memory.events` files) and tells the task service the cgroup's OOM kill count
//! whenever a source fires. The kernel tells of an OOM before its kill is counted, so a
//! container whose count did not rise yet is read again for a short while.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use podrun::cgroups::{Cgroup, OomWatch};

/// The epoll token of the inotify instance; eventfds get 1, 2, ...
const INOTIFY: u64 = 0;
/// How long a fired source's count is read again, and how often.
const RECHECK_FOR: Duration = Duration::from_secs(2);
const RECHECK_EVERY: Duration = Duration::from_millis(50);
/// The thread only waits and reads counters.
const STACK: usize = 64 * 1024;

/// Called with the container id and its cgroup's current OOM kill count.
pub type OnOom = Arc<dyn Fn(&str, u64) + Send + Sync>;

enum Source {
    Eventfd(OwnedFd),
    /// An inotify watch descriptor.
    Watch(i32),
}

struct Reg {
    id: String,
    cgroup: Cgroup,
    source: Source,
}

struct Shared {
    epoll: Epoll,
    inotify: OwnedFd,
    regs: Mutex<(u64, HashMap<u64, Reg>)>,
}

pub struct Watcher {
    shared: OnceLock<Option<Arc<Shared>>>,
    on_oom: OnOom,
}

impl Watcher {
    pub fn new(on_oom: OnOom) -> Watcher {
        Watcher {
            shared: OnceLock::new(),
            on_oom,
        }
    }

    /// The epoll set and its thread, made at the first use (None: they could not be made).
    fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared
            .get_or_init(|| match start(self.on_oom.clone()) {
                Ok(s) => Some(s),
                Err(e) => {
                    log::error!("OOM watcher: {e}");
                    None
                }
            })
            .as_ref()
    }

    /// Watches the cgroup of container `id` (no memory controller: nothing to watch).
    pub fn add(&self, id: &str, cgroup: Cgroup) {
        let watch = match cgroup.oom_watch() {
            Ok(Some(w)) => w,
            Ok(None) => return,
            Err(e) => {
                log::warn!("OOM events of {id}: {e}");
                return;
            }
        };
        let Some(s) = self.shared() else { return };
        let mut regs = s.regs.lock().unwrap_or_else(|e| e.into_inner());
        regs.0 += 1;
        let token = regs.0;
        let source = match watch {
            OomWatch::Eventfd(fd) => {
                if let Err(e) = s
                    .epoll
                    .add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, token))
                {
                    log::warn!("OOM events of {id}: epoll: {e}");
                    return;
                }
                Source::Eventfd(fd)
            }
            OomWatch::EventsFile(path) => {
                let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
                    return;
                };
                // SAFETY: a valid NUL-terminated path and our own inotify fd.
                let wd = unsafe {
                    libc::inotify_add_watch(s.inotify.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY)
                };
                if wd < 0 {
                    log::warn!(
                        "OOM events of {id}: inotify {}: {}",
                        path.display(),
                        std::io::Error::last_os_error()
                    );
                    return;
                }
                Source::Watch(wd)
            }
        };
        regs.1.insert(
            token,
            Reg {
                id: id.to_string(),
                cgroup,
                source,
            },
        );
    }

    /// Stops watching container `id`.
    pub fn remove(&self, id: &str) {
        let Some(Some(s)) = self.shared.get() else {
            return;
        };
        let mut regs = s.regs.lock().unwrap_or_else(|e| e.into_inner());
        let tokens: Vec<u64> = regs
            .1
            .iter()
            .filter(|(_, r)| r.id == id)
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            match regs.1.remove(&t).map(|r| r.source) {
                Some(Source::Eventfd(fd)) => {
                    let _ = s.epoll.delete(fd.as_fd());
                }
                Some(Source::Watch(wd)) => {
                    // SAFETY: our inotify fd and a watch descriptor it returned.
                    unsafe { libc::inotify_rm_watch(s.inotify.as_raw_fd(), wd) };
                }
                None => {}
            }
        }
    }
}

fn start(on_oom: OnOom) -> std::io::Result<Arc<Shared>> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    // SAFETY: inotify_init1 has no memory effects; a non-negative result is a new fd we own.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd owned by nothing else.
    let inotify = unsafe { OwnedFd::from_raw_fd(raw) };
    epoll.add(
        inotify.as_fd(),
        EpollEvent::new(EpollFlags::EPOLLIN, INOTIFY),
    )?;
    let shared = Arc::new(Shared {
        epoll,
        inotify,
        regs: Mutex::new((0, HashMap::new())),
    });
    let s = shared.clone();
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(STACK)
        .spawn(move || run(&s, &on_oom))?;
    Ok(shared)
}

/// The watcher's loop: waits for sources, reads the counts of the containers whose source
/// fired (and of those still waiting for their count to rise), tells `on_oom`.
fn run(s: &Shared, on_oom: &OnOom) {
    let mut events = [EpollEvent::empty(); 16];
    // token -> (count when the source fired, until when to read it again)
    let mut pending: HashMap<u64, (u64, Instant)> = HashMap::new();
    let mut last: HashMap<u64, u64> = HashMap::new();
    loop {
        let timeout = if pending.is_empty() {
            EpollTimeout::NONE
        } else {
            EpollTimeout::try_from(RECHECK_EVERY).unwrap_or(EpollTimeout::ZERO)
        };
        let n = match s.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log::error!("OOM watcher: epoll_wait: {e}");
                return;
            }
        };
        let mut fired: Vec<u64> = Vec::new();
        for ev in &events[..n] {
            match ev.data() {
                INOTIFY => fired.extend(inotify_tokens(s)),
                t => {
                    drain_eventfd(s, t);
                    fired.push(t);
                }
            }
        }
        let now = Instant::now();
        let regs = s.regs.lock().unwrap_or_else(|e| e.into_inner());
        last.retain(|t, _| regs.1.contains_key(t));
        pending.retain(|t, (_, until)| regs.1.contains_key(t) && *until > now);
        for t in fired {
            let base = last.get(&t).copied().unwrap_or(0);
            pending.insert(t, (base, now + RECHECK_FOR));
        }
        let mut told = Vec::new();
        for (t, (base, _)) in &pending {
            let Some(r) = regs.1.get(t) else { continue };
            let kills = r.cgroup.oom_record().map_or(0, |o| o.oom_kills);
            if kills > *base {
                told.push((*t, r.id.clone(), kills));
            }
        }
        drop(regs);
        for (t, id, kills) in told {
            pending.remove(&t);
            last.insert(t, kills);
            on_oom(&id, kills);
        }
    }
}

/// Reads the eventfd of `token` empty (it is non-blocking).
fn drain_eventfd(s: &Shared, token: u64) {
    let regs = s.regs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(Reg {
        source: Source::Eventfd(fd),
        ..
    }) = regs.1.get(&token)
    {
        let mut buf = [0u8; 8];
        // SAFETY: an 8-byte read into our own buffer from our own fd.
        unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

/// Reads every pending inotify event; the tokens of the watches they name.
fn inotify_tokens(s: &Shared) -> Vec<u64> {
    let mut wds = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: a read into our own buffer from our own (non-blocking) fd.
        let n = unsafe { libc::read(s.inotify.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else { break };
        if n == 0 {
            break;
        }
        let head = std::mem::size_of::<libc::inotify_event>();
        let mut off = 0;
        while off + head <= n {
            // SAFETY: the kernel wrote a whole inotify_event header at `off` (off + head <= n);
            // read_unaligned copes with the byte buffer's alignment.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
            wds.push(ev.wd);
            off += head + ev.len as usize;
        }
    }
    let regs = s.regs.lock().unwrap_or_else(|e| e.into_inner());
    regs.1
        .iter()
        .filter(|(_, r)| matches!(r.source, Source::Watch(wd) if wds.contains(&wd)))
        .map(|(t, _)| *t)
        .collect()
}
