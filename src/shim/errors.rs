//! podrun's typed errors as ttrpc statuses, which containerd turns into its errdefs
//! (NotFound, AlreadyExists, FailedPrecondition, InvalidArgument, NotImplemented).

use containerd_shim::protos::ttrpc::{self, Code};
use podrun::ErrorKind;

/// A failure with the kind a caller acts on and the message a user reads.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub msg: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Failure {
        Failure {
            kind,
            msg: msg.into(),
        }
    }

    pub fn not_found(msg: impl Into<String>) -> Failure {
        Failure::new(ErrorKind::NotFound, msg)
    }

    pub fn system(msg: impl Into<String>) -> Failure {
        Failure::new(ErrorKind::System, msg)
    }

    /// The wire form a forked helper sends back: `<kind>\n<message>`.
    pub fn encode(&self) -> String {
        format!("{}\n{}", kind_code(self.kind), self.msg)
    }

    pub fn decode(s: &str) -> Failure {
        let (k, msg) = s.split_once('\n').unwrap_or(("system", s));
        Failure::new(kind_from_code(k), msg)
    }
}

impl From<podrun::Error> for Failure {
    fn from(e: podrun::Error) -> Failure {
        Failure::new(e.kind(), e.to_string())
    }
}

impl From<Failure> for ttrpc::Error {
    fn from(f: Failure) -> ttrpc::Error {
        let code = match f.kind {
            ErrorKind::NotFound => Code::NOT_FOUND,
            ErrorKind::AlreadyExists => Code::ALREADY_EXISTS,
            ErrorKind::WrongState => Code::FAILED_PRECONDITION,
            ErrorKind::InvalidConfig => Code::INVALID_ARGUMENT,
            ErrorKind::Unsupported => Code::UNIMPLEMENTED,
            // what runc.v2 answers for a runtime's failure (errdefs' unknown)
            ErrorKind::System => Code::UNKNOWN,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, f.msg))
    }
}

fn kind_code(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::NotFound => "notfound",
        ErrorKind::AlreadyExists => "exists",
        ErrorKind::WrongState => "state",
        ErrorKind::InvalidConfig => "invalid",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::System => "system",
    }
}

fn kind_from_code(s: &str) -> ErrorKind {
    match s {
        "notfound" => ErrorKind::NotFound,
        "exists" => ErrorKind::AlreadyExists,
        "state" => ErrorKind::WrongState,
        "invalid" => ErrorKind::InvalidConfig,
        "unsupported" => ErrorKind::Unsupported,
        _ => ErrorKind::System,
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_wire_form_keeps_the_kind() {
        for k in [
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::WrongState,
            ErrorKind::InvalidConfig,
            ErrorKind::Unsupported,
            ErrorKind::System,
        ] {
            let f = Failure::decode(&Failure::new(k, "a\nb").encode());
            assert_eq!(f.kind, k);
            assert_eq!(f.msg, "a\nb");
        }
    }
}
