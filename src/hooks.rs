//! Placeholder (replaced by the full hooks module): runs hooks without timeouts.
use std::io::Write;
use std::process::{Command, Stdio};

use oci_spec::runtime::Hook;

use crate::{Error, Result};

pub fn run_hooks(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for h in hooks {
        let mut cmd = Command::new(h.path());
        if let Some(args) = h.args() {
            cmd.args(args.iter().skip(1));
        }
        cmd.env_clear();
        for kv in h.env().iter().flatten() {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.stdin(Stdio::piped()).spawn()
            .map_err(|e| Error::other(format!("{kind} hook {}: {e}", h.path().display())))?;
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(state_json);
        }
        let st = child.wait().map_err(|e| Error::other(format!("{kind} hook: {e}")))?;
        if !st.success() {
            return Err(Error::other(format!("{kind} hook {} failed: {st}", h.path().display())));
        }
    }
    Ok(())
}

pub fn run_hooks_warn(kind: &str, hooks: &[Hook], state_json: &[u8]) {
    if let Err(e) = run_hooks(kind, hooks, state_json) {
        tracing::warn!("{e}");
    }
}
