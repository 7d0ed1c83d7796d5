//! Container lifecycle: the one API that the CLI (and a shim) calls, one file per operation
//! (create, start/kill/delete in lifecycle, exec, state, pause/resume, update, stats, pids),
//! and the create handshake.

use crate::cgroups::Cgroup;
use crate::state::ContainerState;
use crate::{Error, Result};

pub mod create;
pub mod exec;
pub mod foreground;
pub mod lifecycle;
pub mod pause;
pub mod pids;
pub mod reap;
pub mod signal;
pub mod state;
pub mod stats;
pub mod update;

/// The create handshake moved below both `container/` and `process/` (`crate::channel`);
/// this path stays for callers that used it.
pub use crate::channel;
pub use create::create;
pub use exec::exec;
pub use lifecycle::{delete, delete_pod_member, force_delete, kill, start};
pub use pause::{pause, resume};
pub use pids::pids;
pub use reap::{become_subreaper, reap_exited, try_reap, Exit};
pub use state::state;
pub use stats::{stats, Stats};
pub use update::update;

/// The cgroup recorded for the container; a container without one cannot be managed.
pub(crate) fn cgroup_of(state: &ContainerState) -> Result<Cgroup> {
    match &state.cgroup_path {
        Some(p) => Ok(Cgroup::from_path(p)),
        None => Err(Error::BadState(format!(
            "container {} has no cgroup: it was created by a non-root user without a delegated cgroup v2 subtree (rootless containers without limits run without one), so it cannot be paused, resumed or updated",
            state.id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use oci_spec::runtime::LinuxResources;

    use super::*;
    use crate::ErrorKind;

    /// A state root of its own, removed at the end.
    struct Root(PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let p = std::env::temp_dir().join(format!("podrun-kinds-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Root(p)
        }

        fn path(&self) -> &Path {
            &self.0
        }

        /// A recorded container whose init is gone (a PID above any pid_max).
        fn stopped(&self, id: &str) {
            let dir = self.0.join(id);
            std::fs::create_dir_all(&dir).unwrap();
            let state = serde_json::json!({
                "ociVersion": "1.2.0",
                "id": id,
                "pid": 999_999_999,
                "startTime": 1,
                "bundle": "/nonexistent",
                "rootfs": "/nonexistent/rootfs",
                "created": "2026-01-01T00:00:00Z",
                "cgroupPath": format!("/podrun-kinds-test-{}-nonexistent", std::process::id()),
            });
            std::fs::write(
                ContainerState::path(&self.0, id),
                serde_json::to_vec(&state).unwrap(),
            )
            .unwrap();
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn kind<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn missing_container_is_not_found() {
        let root = Root::new("missing");
        let r = root.path();
        assert_eq!(kind(state(r, "nope")), ErrorKind::NotFound);
        assert_eq!(kind(start(r, "nope")), ErrorKind::NotFound);
        assert_eq!(kind(kill(r, "nope", 15, false)), ErrorKind::NotFound);
        assert_eq!(kind(delete(r, "nope", false)), ErrorKind::NotFound);
        assert_eq!(kind(pause(r, "nope")), ErrorKind::NotFound);
        assert_eq!(kind(resume(r, "nope")), ErrorKind::NotFound);
        let none = LinuxResources::default();
        assert_eq!(kind(update(r, "nope", none)), ErrorKind::NotFound);
        assert_eq!(kind(stats(r, "nope")), ErrorKind::NotFound);
        assert_eq!(kind(pids(r, "nope")), ErrorKind::NotFound);
    }

    #[test]
    fn stopped_container_is_wrong_state() {
        let root = Root::new("stopped");
        let r = root.path();
        root.stopped("gone");
        let (_, status) = state(r, "gone").unwrap();
        assert_eq!(status, crate::state::Status::Stopped);
        assert_eq!(kind(start(r, "gone")), ErrorKind::WrongState);
        assert_eq!(kind(kill(r, "gone", 15, false)), ErrorKind::WrongState);
        assert_eq!(kind(pause(r, "gone")), ErrorKind::WrongState);
        assert_eq!(kind(resume(r, "gone")), ErrorKind::WrongState);
        let none = LinuxResources::default();
        assert_eq!(kind(update(r, "gone", none)), ErrorKind::WrongState);
        assert_eq!(kind(stats(r, "gone")), ErrorKind::WrongState);
        assert_eq!(pids(r, "gone").unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn bad_input_is_invalid_config() {
        let root = Root::new("invalid");
        let r = root.path();
        assert_eq!(kind(state(r, "../etc")), ErrorKind::InvalidConfig);
        assert_eq!(kind(pause(r, "")), ErrorKind::InvalidConfig);
        let bad: LinuxResources = serde_json::from_str(r#"{"pids":{"limit":-9}}"#).unwrap();
        root.stopped("c");
        let e = update(r, "c", bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        assert!(e.to_string().contains("pids.limit -9"), "{e}");
    }

    #[test]
    fn taken_id_is_already_exists() {
        let root = Root::new("exists");
        let first = crate::state::StateDir::reserve(root.path(), "c").unwrap();
        let again = crate::state::StateDir::reserve(root.path(), "c");
        assert_eq!(kind(again), ErrorKind::AlreadyExists);
        drop(first);
    }
}
