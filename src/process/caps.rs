//! Capabilities: drop the bounding set, then set permitted/effective/inheritable/ambient
//! after the switch to the container's user.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

use crate::error::{Error, Result};

/// Converts OCI capability names to the caps crate's set; an unknown name is an error naming it.
pub fn to_set(list: Option<&HashSet<oci_spec::runtime::Capability>>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in list.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{name}")
        };
        let cap = Capability::from_str(&name)
            .map_err(|_| Error::Spec(format!("unknown capability {name:?}")))?;
        out.insert(cap);
    }
    Ok(out)
}

/// The five sets of a process, resolved.
#[derive(Debug, Default, Clone)]
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapSets {
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Result<CapSets> {
        let Some(c) = c else {
            return Ok(CapSets::default());
        };
        Ok(CapSets {
            bounding: to_set(c.bounding().as_ref())?,
            effective: to_set(c.effective().as_ref())?,
            permitted: to_set(c.permitted().as_ref())?,
            inheritable: to_set(c.inheritable().as_ref())?,
            ambient: to_set(c.ambient().as_ref())?,
        })
    }
}

/// Drops every capability outside `bounding` from the bounding set (needs CAP_SETPCAP, so this
/// runs before the user switch).
pub fn drop_bounding(sets: &CapSets) -> Result<()> {
    for cap in caps::all() {
        if !sets.bounding.contains(&cap) {
            match caps::drop(None, CapSet::Bounding, cap) {
                Ok(()) => {}
                // A capability this kernel does not know cannot be in the set anyway.
                Err(_) if !caps::runtime::thread_all_supported().contains(&cap) => {}
                Err(e) => return Err(Error::other(format!("drop {cap} from bounding set: {e}"))),
            }
        }
    }
    Ok(())
}

/// Sets permitted, inheritable, effective and ambient (in an order the kernel accepts).
pub fn apply(sets: &CapSets) -> Result<()> {
    let err = |what: &str, e: caps::errors::CapsError| {
        Error::other(format!("set {what} capabilities: {e}"))
    };
    // Effective must stay a subset of permitted while we shrink permitted.
    caps::set(
        None,
        CapSet::Effective,
        &sets
            .effective
            .intersection(&sets.permitted)
            .copied()
            .collect(),
    )
    .map_err(|e| err("effective", e))?;
    caps::set(None, CapSet::Permitted, &sets.permitted).map_err(|e| err("permitted", e))?;
    caps::set(None, CapSet::Inheritable, &sets.inheritable).map_err(|e| err("inheritable", e))?;
    caps::set(None, CapSet::Effective, &sets.effective).map_err(|e| err("effective", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
    for cap in &sets.ambient {
        if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
            // Like runc: an ambient capability outside permitted+inheritable is skipped.
            tracing::debug!("cannot raise ambient capability {cap}: {e}");
        }
    }
    Ok(())
}
