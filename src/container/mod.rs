//! Container lifecycle: the one API that the CLI (and a shim) calls, one file per operation
//! (create, start/kill/delete in lifecycle, exec, state, pause/resume, update, stats, pids),
//! and the create handshake.

use crate::cgroups::Cgroup;
use crate::state::ContainerState;
use crate::{Error, Result};

pub mod channel;
pub mod create;
pub mod exec;
pub mod foreground;
pub mod lifecycle;
pub mod pause;
pub mod pids;
pub mod signal;
pub mod state;
pub mod stats;
pub mod update;

pub use create::create;
pub use exec::exec;
pub use lifecycle::{delete, force_delete, kill, start};
pub use pause::{pause, resume};
pub use pids::pids;
pub use state::state;
pub use stats::stats;
pub use update::update;

/// The cgroup recorded for the container; a container without one cannot be managed.
pub(crate) fn cgroup_of(state: &ContainerState) -> Result<Cgroup> {
    match &state.cgroup_path {
        Some(p) => Ok(Cgroup::from_path(p)),
        None => Err(Error::BadState(format!(
            "container {} has no cgroup recorded in its state",
            state.id
        ))),
    }
}
