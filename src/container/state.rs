//! State: what is recorded about a container and its status on the live system.

use std::path::Path;

use crate::state::{ContainerState, Status};
use crate::Result;

/// The recorded state of container `id` and its live status; a missing container is
/// `ContainerNotFound`.
pub fn state(root: &Path, id: &str) -> Result<(ContainerState, Status)> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    Ok((st, status))
}
