//! Exit statuses of the shim's children. The crate's SIGCHLD thread reaps every child (the
//! shim is a subreaper: inits, execs and pauses come to it when the library's helper
//! exits) and tells the monitor; one thread here turns each into a call of the task
//! service. An exit can come before the process is registered (a short-lived process):
//! it is kept until `register` asks for it.

use std::collections::HashMap;
use std::sync::Mutex;

use containerd_shim::monitor::{Subject, Topic};
use containerd_shim::synchronous::monitor::monitor_subscribe;

/// Exits of pids nobody has claimed yet (bounded: unclaimed ones are other children).
#[derive(Default)]
pub struct Early(Mutex<HashMap<i32, i32>>);

const EARLY_MAX: usize = 1024;

impl Early {
    pub fn put(&self, pid: i32, code: i32) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= EARLY_MAX {
            m.clear();
        }
        m.insert(pid, code);
    }

    pub fn take(&self, pid: i32) -> Option<i32> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid)
    }
}

/// Starts the thread that calls `on_exit(pid, code)` for every reaped child.
pub fn watch(on_exit: impl Fn(i32, i32) + Send + 'static) {
    let sub = match monitor_subscribe(Topic::Pid) {
        Ok(s) => s,
        Err(e) => {
            log::error!("subscribe to exits: {e}");
            return;
        }
    };
    std::thread::spawn(move || {
        while let Ok(ev) = sub.rx.recv() {
            if let Subject::Pid(pid) = ev.subject {
                on_exit(pid, ev.exit_code);
            }
        }
    });
}
