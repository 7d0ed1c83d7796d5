//! The systemd cgroup driver (`--systemd-cgroup`), as runc's: a container's cgroup is a
//! transient scope `<prefix>-<name>.scope` in the slice its cgroupsPath `slice:prefix:name`
//! names ([`path`]), started over D-Bus ([`dbus`]) with Delegate=yes, the init's PID and the
//! resource properties systemd knows ([`props`]); the rest is written to the scope's cgroup
//! files by the cgroupfs code afterwards (devices included: podrun's eBPF program on v2,
//! devices.* on v1), and every v1 hierarchy systemd does not manage gets the same path.
//! Everything else (freeze, stats, pids, kill) works on that cgroup path unchanged.
//!
//! What podrun started is recorded in a `systemd` file of the container's (or pod's) state
//! dir before the unit is started: the unit, and the slices on its way that were not active
//! before (systemd starts those on its own). `release` stops the unit, removes the cgroup
//! dirs left, and stops those slices once nothing else lives in them.

pub mod dbus;
pub mod path;
pub mod props;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use self::dbus::{Manager, Refusal};
use self::path::UnitPath;
use self::props::{Props, Value};
use super::{Cgroup, Layout};
use crate::{Error, Result};

/// The record's file name in a state dir.
pub const RECORD: &str = "systemd";

/// What podrun started through systemd for one container or pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub unit: String,
    /// Slices that were not active before the unit started, outermost first.
    pub slices: Vec<String>,
}

impl Record {
    fn file(dir: &Path) -> PathBuf {
        dir.join(RECORD)
    }

    /// Writes `unit NAME` and one `slice NAME` line per created slice (tmp + rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut text = format!("unit {}\n", self.unit);
        for s in &self.slices {
            text.push_str(&format!("slice {s}\n"));
        }
        let f = Record::file(dir);
        let tmp = dir.join(format!(".{RECORD}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &f).map_err(|e| Error::io("rename", &f, e))
    }

    /// The record in `dir`, if the container or pod was made by the systemd driver.
    pub fn load(dir: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(Record::file(dir)).ok()?;
        let mut unit = None;
        let mut slices = Vec::new();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("unit", u)) if valid_unit(u) => unit = Some(u.to_string()),
                Some(("slice", s)) if valid_unit(s) && s.ends_with(".slice") => {
                    slices.push(s.to_string())
                }
                _ => {}
            }
        }
        Some(Record {
            unit: unit?,
            slices,
        })
    }
}

fn valid_unit(u: &str) -> bool {
    !u.is_empty()
        && !u.contains('/')
        && (u.ends_with(".scope") || u.ends_with(".slice"))
        && !u.chars().any(char::is_whitespace)
}

/// True on the cgroup v2 layout (systemd's unified names); v1 and hybrid use the v1 names.
fn unified() -> bool {
    super::layout() == Layout::V2
}

/// The properties of a new unit: runc's set, then the resources'.
pub fn start_props(
    up: &UnitPath,
    pid: i32,
    description: &str,
    r: &LinuxResources,
) -> Result<Props> {
    let v2 = unified();
    let mut p: Props = vec![("Description".into(), Value::Str(description.into()))];
    if up.is_slice() {
        // A slice's parent follows from its name; runc adds it as Wants=.
        p.push(("Wants".into(), Value::Str(up.slice.clone())));
    } else {
        p.push(("Slice".into(), Value::Str(up.slice.clone())));
        p.push(("Delegate".into(), Value::Bool(true)));
        let pid =
            u32::try_from(pid).map_err(|_| Error::other(format!("systemd: bad pid {pid}")))?;
        p.push(("PIDs".into(), Value::U32s(vec![pid])));
    }
    p.extend(props::accounting(v2));
    p.push(("DefaultDependencies".into(), Value::Bool(false)));
    p.extend(props::resources(r, v2).map_err(Error::Spec)?);
    Ok(p)
}

/// Starts the unit for `up` holding `pid`, recording it (and the slices systemd will start
/// for it) in `record_dir` first; then the cgroup in every hierarchy systemd does not manage,
/// `pid` moved there too. Returns the unit's cgroup.
pub fn start(
    up: &UnitPath,
    pid: i32,
    description: &str,
    r: &LinuxResources,
    record_dir: &Path,
) -> Result<Cgroup> {
    let props = start_props(up, pid, description, r)?;
    let mut created = Vec::new();
    for s in up.slices() {
        if Manager::active_state(&s)? != "active" {
            created.push(s);
        }
    }
    Record {
        unit: up.unit.clone(),
        slices: created,
    }
    .save(record_dir)?;
    let mut retried = false;
    loop {
        match Manager::start_transient_unit(&up.unit, &props)? {
            Ok(()) => break,
            // runc: a unit of that name may be a leftover failed one: reset it, retry once.
            Err((Some(Refusal::UnitExists), _)) if !retried => {
                retried = true;
                Manager::reset_failed_unit(&up.unit)?;
            }
            Err((Some(Refusal::UnitExists), _)) if up.is_slice() => break,
            Err((Some(Refusal::UnitExists), _)) => {
                // Not ours: the record goes, so that the rollback does not stop it.
                let _ = std::fs::remove_file(Record::file(record_dir));
                return Err(Error::Usage(format!(
                    "systemd unit {} already exists (another container's?)",
                    up.unit
                )));
            }
            Err((_, e)) => {
                let _ = Manager::reset_failed_unit(&up.unit);
                return Err(Error::other(format!(
                    "systemd: start unit {}: {e}",
                    up.unit
                )));
            }
        }
    }
    let cg = Cgroup::from_path(&up.cgroup_path());
    // systemd made the cgroup where it manages controllers (all of v2; on v1 its own set):
    // the other v1 hierarchies get the same path, and the init joins them (as runc).
    if cg.layout() != Layout::V2 {
        cg.create()?;
    }
    cg.add_pid(pid)?;
    Ok(cg)
}

/// `update`: the properties systemd knows through SetUnitProperties (runtime); the caller
/// then writes the files as for cgroupfs.
pub fn update(record_dir: &Path, r: &LinuxResources) -> Result<()> {
    let Some(rec) = Record::load(record_dir) else {
        return Ok(());
    };
    let props = props::resources(r, unified()).map_err(Error::Usage)?;
    if props.is_empty() {
        return Ok(());
    }
    Manager::set_unit_properties(&rec.unit, &props)
}

/// Stops the recorded unit (waiting for the job), removes what is left of `cg` (v1
/// hierarchies systemd does not manage), then stops the slices podrun caused to be started,
/// innermost first, as long as no other cgroup lives in them; removes the record.
/// Without a record: `cg.destroy()` alone.
pub fn release(record_dir: &Path, cg: Option<&Cgroup>) -> Result<()> {
    let Some(rec) = Record::load(record_dir) else {
        return cg.map_or(Ok(()), Cgroup::destroy);
    };
    let mut first: Option<Error> = None;
    if let Err(e) = Manager::stop_unit(&rec.unit) {
        first.get_or_insert(e);
    }
    let _ = Manager::reset_failed_unit(&rec.unit);
    if let Some(cg) = cg {
        if let Err(e) = cg.destroy() {
            first.get_or_insert(e);
        }
    }
    // Innermost first. A slice that still holds a cgroup other than the slices stopped just
    // before it (another container's scope, a slice someone else made) is left, and so are
    // its parents. systemd may remove a stopped slice's directories a moment after the job
    // ends (on v1 in each hierarchy): those do not count, and are removed here too.
    let mut stopped: Vec<String> = Vec::new();
    for slice in rec.slices.iter().rev() {
        let Ok(p) = path::expand_slice(slice) else {
            continue;
        };
        let scg = Cgroup::from_path(&p);
        if scg.dirs.iter().any(|d| has_other_child_dir(d, &stopped)) {
            break;
        }
        if let Err(e) = Manager::stop_unit(slice) {
            first.get_or_insert(e);
            break;
        }
        let _ = Manager::reset_failed_unit(slice);
        remove_dirs_settling(&scg.dirs, &stopped);
        stopped.push(slice.clone());
    }
    let f = Record::file(record_dir);
    match std::fs::remove_file(&f) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            first.get_or_insert(Error::io("remove", &f, e));
        }
    }
    first.map_or(Ok(()), Err)
}

/// True when `d` has a subdirectory not named in `ignore`.
fn has_other_child_dir(d: &Path, ignore: &[String]) -> bool {
    std::fs::read_dir(d).is_ok_and(|it| {
        it.flatten().any(|e| {
            e.file_type().is_ok_and(|t| t.is_dir())
                && !ignore
                    .iter()
                    .any(|i| e.file_name().to_str() == Some(i.as_str()))
        })
    })
}

/// rmdir of each directory (and of what is left there of the slices `below`, already
/// stopped), retrying for a moment while systemd is still removing what it had below;
/// missing ones are fine.
fn remove_dirs_settling(dirs: &[PathBuf], below: &[String]) {
    for d in dirs {
        for _ in 0..40 {
            // what systemd's stop left of the slices below (already stopped)
            if let Ok(it) = std::fs::read_dir(d) {
                for e in it.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir())
                        && below
                            .iter()
                            .any(|b| e.file_name().to_str() == Some(b.as_str()))
                    {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                    std::thread::sleep(std::time::Duration::from_millis(25))
                }
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_bad_lines() {
        let dir = std::env::temp_dir().join(format!("podrun-sd-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(Record::load(&dir), None);
        let r = Record {
            unit: "docker-x.scope".into(),
            slices: vec!["kubepods.slice".into(), "kubepods-pod1.slice".into()],
        };
        r.save(&dir).unwrap();
        assert_eq!(Record::load(&dir), Some(r));
        std::fs::write(dir.join(RECORD), "unit ../../x.scope\nslice a.scope\n").unwrap();
        assert_eq!(Record::load(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_scope_gets_runcs_properties() {
        let up = UnitPath::parse(Some("system.slice:docker:abc"), "abc").unwrap();
        let p = start_props(&up, 42, "podrun container abc", &LinuxResources::default()).unwrap();
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "Description",
            "Slice",
            "Delegate",
            "PIDs",
            "MemoryAccounting",
            "TasksAccounting",
            "DefaultDependencies",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(p.contains(&("PIDs".into(), Value::U32s(vec![42]))));
        assert!(p.contains(&("Slice".into(), Value::Str("system.slice".into()))));
        assert!(p.contains(&("Delegate".into(), Value::Bool(true))));
        let s = UnitPath::parse(Some("kubepods.slice:x:kubepods-pod1.slice"), "c").unwrap();
        let p = start_props(&s, 42, "d", &LinuxResources::default()).unwrap();
        assert!(p.contains(&("Wants".into(), Value::Str("kubepods.slice".into()))));
        assert!(!p.iter().any(|(n, _)| n == "PIDs" || n == "Delegate"));
    }
}
