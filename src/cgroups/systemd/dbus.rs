//! systemd's manager over D-Bus (the system bus): StartTransientUnit, SetUnitProperties,
//! StopUnit, ResetFailedUnit and a unit's ActiveState. Starting and stopping wait for the
//! job's `JobRemoved` signal (subscribed before the call, so it cannot be missed) and fail
//! unless its result is "done".
//!
//! zbus runs on tokio here: each [`Manager`] call drives its own current-thread runtime that
//! is dropped before the call returns, so no thread is left behind (podrun forks).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value as ZValue};

use super::props::{Props, Value};
use crate::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long a start or stop job may take (runc waits 30 s).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Why systemd refused, as a caller can match on it.
#[derive(Debug)]
pub enum Refusal {
    /// org.freedesktop.systemd1.UnitExists
    UnitExists,
    /// org.freedesktop.systemd1.NoSuchUnit
    NoSuchUnit,
    Other(String),
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::other(format!("systemd: {what}: {e}"))
}

/// Runs `f` on a fresh current-thread tokio runtime.
fn block_on<F: Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err("start the D-Bus runtime", e))?;
    Ok(rt.block_on(f))
}

fn refusal(e: &zbus::Error) -> Refusal {
    match e {
        zbus::Error::MethodError(name, msg, _) => match name.as_str() {
            "org.freedesktop.systemd1.UnitExists" => Refusal::UnitExists,
            "org.freedesktop.systemd1.NoSuchUnit" => Refusal::NoSuchUnit,
            other => Refusal::Other(format!("{other}: {}", msg.as_deref().unwrap_or(""))),
        },
        other => Refusal::Other(other.to_string()),
    }
}

/// The D-Bus form of a property value.
fn zvalue(v: &Value) -> ZValue<'static> {
    match v {
        Value::Bool(b) => ZValue::from(*b),
        Value::U64(n) => ZValue::from(*n),
        Value::Str(s) => ZValue::from(s.clone()),
        Value::U32s(l) => ZValue::from(l.clone()),
        Value::Bytes(b) => ZValue::from(b.clone()),
        Value::Pairs(l) => ZValue::from(l.clone()),
        Value::PathValues(l) => ZValue::from(l.clone()),
    }
}

fn zprops(props: &Props) -> Vec<(String, ZValue<'static>)> {
    props.iter().map(|(n, v)| (n.clone(), zvalue(v))).collect()
}

/// One connection's worth of systemd calls.
pub struct Manager;

async fn manager(conn: &zbus::Connection) -> zbus::Result<zbus::Proxy<'static>> {
    zbus::proxy::Builder::new(conn)
        .destination(DEST)?
        .path(PATH)?
        .interface(MANAGER)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

/// Calls `method` (which returns a job path) and waits for the job's JobRemoved; the job's
/// result unless it is "done".
async fn run_job<B>(method: &str, body: &B) -> std::result::Result<(), (Option<Refusal>, String)>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    let fail = |e: zbus::Error| (Some(refusal(&e)), e.to_string());
    let conn = zbus::Connection::system().await.map_err(fail)?;
    let proxy = manager(&conn).await.map_err(fail)?;
    // Signals reach only subscribed clients; the subscription ends with the connection.
    let _: () = proxy.call("Subscribe", &()).await.map_err(fail)?;
    let mut removed = proxy.receive_signal("JobRemoved").await.map_err(fail)?;
    let job: OwnedObjectPath = proxy.call(method, body).await.map_err(fail)?;
    let wait = async {
        while let Some(msg) = removed.next().await {
            let Ok((_, path, _, result)) = msg
                .body()
                .deserialize::<(u32, OwnedObjectPath, String, String)>()
            else {
                continue;
            };
            if path == job {
                return Some(result);
            }
        }
        None
    };
    match tokio::time::timeout(JOB_TIMEOUT, wait).await {
        Ok(Some(r)) if r == "done" => Ok(()),
        Ok(Some(r)) => Err((
            None,
            format!("job {} ended with result {r:?}", job.as_str()),
        )),
        Ok(None) => Err((
            None,
            "the bus connection closed before the job ended".into(),
        )),
        Err(_) => Err((
            None,
            format!(
                "timed out after {}s waiting for the job",
                JOB_TIMEOUT.as_secs()
            ),
        )),
    }
}

impl Manager {
    /// StartTransientUnit(name, "replace", props, []) and wait for its job. A refusal comes
    /// back as such, so that the caller can handle "unit already exists".
    pub fn start_transient_unit(
        name: &str,
        props: &Props,
    ) -> Result<std::result::Result<(), (Option<Refusal>, String)>> {
        let aux: Vec<(String, Vec<(String, ZValue<'static>)>)> = Vec::new();
        let body = (name, "replace", zprops(props), aux);
        block_on(run_job("StartTransientUnit", &body))
    }

    /// StopUnit(name, "replace") and wait for its job; a unit that is not loaded is fine.
    pub fn stop_unit(name: &str) -> Result<()> {
        match block_on(run_job("StopUnit", &(name, "replace")))? {
            Ok(()) | Err((Some(Refusal::NoSuchUnit), _)) => Ok(()),
            Err((_, e)) => Err(err(&format!("stop {name}"), e)),
        }
    }

    /// SetUnitProperties(name, runtime=true, props).
    pub fn set_unit_properties(name: &str, props: &Props) -> Result<()> {
        let props = zprops(props);
        block_on(async {
            let conn = zbus::Connection::system().await?;
            let proxy = manager(&conn).await?;
            proxy
                .call::<_, _, ()>("SetUnitProperties", &(name, true, props))
                .await
        })?
        .map_err(|e| err(&format!("set properties of {name}"), e))
    }

    /// ResetFailedUnit(name); a unit that is not loaded is fine.
    pub fn reset_failed_unit(name: &str) -> Result<()> {
        let r = block_on(async {
            let conn = zbus::Connection::system().await?;
            let proxy = manager(&conn).await?;
            proxy.call::<_, _, ()>("ResetFailedUnit", &(name,)).await
        })?;
        match r {
            Ok(()) => Ok(()),
            Err(e) if matches!(refusal(&e), Refusal::NoSuchUnit) => Ok(()),
            Err(e) => Err(err(&format!("reset-failed {name}"), e)),
        }
    }

    /// The unit's ActiveState ("active", "inactive", ...); "inactive" when not loaded.
    pub fn active_state(name: &str) -> Result<String> {
        let r = block_on(async {
            let conn = zbus::Connection::system().await?;
            let proxy = manager(&conn).await?;
            let unit: OwnedObjectPath = match proxy.call("GetUnit", &(name,)).await {
                Ok(p) => p,
                Err(e) if matches!(refusal(&e), Refusal::NoSuchUnit) => {
                    return Ok("inactive".to_string())
                }
                Err(e) => return Err(e),
            };
            let reply = conn
                .call_method(
                    Some(DEST),
                    unit.as_str(),
                    Some("org.freedesktop.DBus.Properties"),
                    "Get",
                    &("org.freedesktop.systemd1.Unit", "ActiveState"),
                )
                .await?;
            let v: OwnedValue = reply.body().deserialize()?;
            Ok(String::try_from(v).unwrap_or_default())
        })?;
        r.map_err(|e| err(&format!("state of {name}"), e))
    }
}
