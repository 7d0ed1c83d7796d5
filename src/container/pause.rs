//! Pause and resume: freeze and thaw a container's cgroup.
//!
//! As runc: pause is allowed for a running or created container (else "container not
//! running") and fails when, once frozen, the cgroup holds no process; resume is allowed
//! only for a paused container (else "container not paused").

use std::path::Path;

use crate::cgroups::Cgroup;
use crate::container::cgroup_of;
use crate::state::{ContainerState, StateDir, Status};
use crate::{Error, Result};

/// Freezes every process of container `id`.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let _lock = StateDir::open(root, id)?;
    let state = ContainerState::load(root, id)?;
    let cg = cgroup_of(&state)?;
    match live_status(root, &state, &cg) {
        Status::Running | Status::Created => {}
        s => {
            tracing::debug!("pause {id}: status {s}");
            return Err(Error::BadState("container not running".into()));
        }
    }
    cg.freeze()?;
    if cg.pids().is_empty() {
        // The init exited between the status check and the freeze: do not leave a frozen,
        // empty cgroup behind a container that reports "paused".
        if let Err(e) = cg.thaw() {
            tracing::warn!("pause {id}: thaw empty cgroup: {e}");
        }
        return Err(Error::BadState("container process already exited".into()));
    }
    Ok(())
}

/// Thaws a paused container `id`.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let _lock = StateDir::open(root, id)?;
    let state = ContainerState::load(root, id)?;
    let cg = cgroup_of(&state)?;
    if !is_paused(root, &state, &cg) {
        return Err(Error::BadState("container not paused".into()));
    }
    cg.thaw()?;
    Ok(())
}

/// The container's status, with the freezer read through the cgroups module (which knows
/// where the freezer lives on v1, v2 and hybrid hosts).
pub(crate) fn live_status(root: &Path, state: &ContainerState, cg: &Cgroup) -> Status {
    match state.status(root) {
        Status::Running if cg.is_frozen() => Status::Paused,
        s => s,
    }
}

/// Paused: alive and frozen. A created container can be paused too (runc allows it); its
/// status still reads "created", so the freezer decides.
fn is_paused(root: &Path, state: &ContainerState, cg: &Cgroup) -> bool {
    match live_status(root, state, cg) {
        Status::Paused => true,
        Status::Created => cg.is_frozen(),
        _ => false,
    }
}
