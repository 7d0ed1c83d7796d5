//! The one error type of podrun. Every failure carries what was being done and on what.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed; `op` says what was attempted.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call failed; `op` names it and its argument.
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: nix::Error,
    },
    /// The bundle's config.json is unusable.
    #[error("{0}")]
    Spec(String),
    /// A container or pod name that the runtime does not accept.
    #[error("invalid {kind} {name:?}: {why}")]
    InvalidName {
        kind: &'static str,
        name: String,
        why: &'static str,
    },
    #[error("container {0} already exists")]
    ContainerExists(String),
    #[error("container {0} does not exist")]
    ContainerNotFound(String),
    /// An operation that the container's current status does not allow.
    #[error("{0}")]
    BadState(String),
    /// A command-line argument that parses but makes no sense.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            op: op.into(),
            source,
        }
    }

    pub fn other(msg: impl Into<String>) -> Self {
        Error::Other(msg.into())
    }

    /// Writing to stdout failed because its reader is gone (`podrun list | head -1`): not a
    /// failure of the command, which ends quietly (see [`crate::cli::print_out`]).
    pub fn is_stdout_closed(&self) -> bool {
        matches!(self, Error::Io { op: "write", path, source }
            if path.as_os_str() == "stdout" && source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Attaches the operation to a nix error: `mkdir(..).sys("mkdir /x")?`.
pub trait SysContext<T> {
    fn sys(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(op(), e))
    }
}

/// Attaches the operation and path to a std io error.
pub trait IoContext<T> {
    fn io(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
