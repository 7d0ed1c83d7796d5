//! One process of a task (its init, or an exec): status, exit, stdio.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::{mpsc, Arc, Mutex};

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;

use super::io::StdioSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

pub struct Proc {
    pub pid: i32,
    pub status: Status,
    pub exit_status: u32,
    pub exited_at: Option<Timestamp>,
    pub stdio: StdioSpec,
    /// The write end of its stdin (pipe or console); CloseIO drops it.
    pub stdin: Arc<Mutex<Option<File>>>,
    pub console: Option<OwnedFd>,
    /// Signalled when the console output is drained.
    pub drained: Option<mpsc::Receiver<()>>,
    /// An exec's process spec, kept from Exec until Start.
    pub exec_spec: Option<oci_spec::runtime::Process>,
}

impl Proc {
    pub fn new(stdio: StdioSpec) -> Proc {
        Proc {
            pid: 0,
            status: Status::Created,
            exit_status: 0,
            exited_at: None,
            stdio,
            stdin: Arc::new(Mutex::new(None)),
            console: None,
            drained: None,
            exec_spec: None,
        }
    }

    /// Records the exit (once).
    pub fn exited(&mut self, code: i32) {
        if self.status == Status::Stopped {
            return;
        }
        self.status = Status::Stopped;
        self.exit_status = code as u32;
        self.exited_at = Some(containerd_shim::util::timestamp().unwrap_or_default());
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
