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
    #[error("pod {0} already exists")]
    PodExists(String),
    #[error("pod {0} does not exist")]
    PodNotFound(String),
    /// An operation that the container's current status does not allow.
    #[error("{0}")]
    BadState(String),
    /// A command-line argument that parses but makes no sense.
    #[error("{0}")]
    Usage(String),
    /// A feature podrun does not have (checkpoint/restore, seccomp notify, id-mapped mounts).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
    /// A failure reported by another process (the container's init, over the create
    /// channel) with the kind it had there.
    #[error("{message}")]
    Reported { message: String, kind: ErrorKind },
}

/// What kind of failure an [`Error`] is, for a caller that acts on it rather than print it
/// (a shim maps it to a ttrpc status code: NotFound, AlreadyExists, FailedPrecondition, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// No container (or pod) of that id.
    NotFound,
    /// The id is taken.
    AlreadyExists,
    /// The container's status does not allow the operation (not running, not paused, ...).
    WrongState,
    /// The input is unusable: config.json, an id, a resource value, an argument.
    InvalidConfig,
    /// Something podrun does not implement.
    Unsupported,
    /// The system refused: a file, a system call, a child process.
    System,
}

impl Error {
    /// The kind of this failure (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::ContainerNotFound(_) | Error::PodNotFound(_) => ErrorKind::NotFound,
            Error::ContainerExists(_) | Error::PodExists(_) => ErrorKind::AlreadyExists,
            Error::BadState(_) => ErrorKind::WrongState,
            Error::Spec(_) | Error::InvalidName { .. } | Error::Usage(_) => {
                ErrorKind::InvalidConfig
            }
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Io { .. } | Error::Sys { .. } | Error::Other(_) => ErrorKind::System,
            Error::Reported { kind, .. } => *kind,
        }
    }

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
    /// failure of the command, which ends quietly (the CLI's `print_out`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_variants() {
        let cases = [
            (Error::ContainerNotFound("c".into()), ErrorKind::NotFound),
            (Error::ContainerExists("c".into()), ErrorKind::AlreadyExists),
            (Error::PodNotFound("p".into()), ErrorKind::NotFound),
            (Error::PodExists("p".into()), ErrorKind::AlreadyExists),
            (Error::BadState("x".into()), ErrorKind::WrongState),
            (Error::Spec("x".into()), ErrorKind::InvalidConfig),
            (Error::Usage("x".into()), ErrorKind::InvalidConfig),
            (Error::Unsupported("x".into()), ErrorKind::Unsupported),
            (Error::other("x"), ErrorKind::System),
            (Error::sys("kill", nix::Error::EPERM), ErrorKind::System),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e:?}");
        }
    }
}
