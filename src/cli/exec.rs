//! `podrun exec`: run another process in a running container (runc's flags).

use std::path::PathBuf;

use oci_spec::runtime::{Capability, Process, User};

use crate::cli::Global;
use crate::container::exec::{self, ExecOpts};
use crate::container::foreground;
use crate::state::ContainerState;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A process.json describing the process (instead of args and flags)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Return once the process runs
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=value), repeatable
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// uid[:gid]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids, repeatable
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability, repeatable
    #[arg(short = 'c', long)]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0, value_parser = crate::cli::preserve_fds_range())]
    pub preserve_fds: u32,
    /// SELinux label of the process (as runc)
    #[arg(long = "process-label", hide = true)]
    pub process_label: Option<String>,
    /// AppArmor profile of the process (as runc)
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    crate::sys::ensure_cloned_binary()?;
    let process = build_process(g, &a)?;
    let detach = a.detach;
    if !detach {
        foreground::block_signals()?;
    }
    let execed = exec::exec(
        &g.root,
        ExecOpts {
            id: a.id.clone(),
            process,
            console_socket: a.console_socket.clone(),
            pid_file: a.pid_file.clone(),
            preserve_fds: a.preserve_fds,
            detach,
            ignore_paused: a.ignore_paused,
        },
    )?;
    if detach {
        return Ok(0);
    }
    foreground::wait(execed.pid, execed.pty_master)
}

/// The process to run: process.json, or the container's own process with the flags applied.
fn build_process(g: &Global, a: &Args) -> Result<Process> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path).map_err(|e| Error::io("read process file", path, e))?;
        let p: Process = serde_json::from_slice(&data)
            .map_err(|e| Error::Spec(format!("{}: invalid process JSON: {e}", path.display())))?;
        if p.args().as_ref().is_none_or(|v| v.is_empty()) {
            return Err(Error::Spec(format!(
                "{}: args must not be empty",
                path.display()
            )));
        }
        crate::spec::validate_user(p.user(), &format!("{}: user", path.display()))?;
        return Ok(p);
    }
    if a.args.is_empty() {
        return Err(Error::Usage(
            "exec needs a command (or --process FILE)".into(),
        ));
    }
    let state = ContainerState::load(&g.root, &a.id)?;
    let mut p = state.process.clone().unwrap_or_default();
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &a.env {
            if !kv.contains('=') {
                return Err(Error::Usage(format!("--env {kv:?}: expected KEY=value")));
            }
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &a.user {
        p.set_user(parse_user(u, p.user())?);
    }
    if !a.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(u);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = if c.starts_with("CAP_") {
                c.clone()
            } else {
                format!("CAP_{c}")
            };
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::Usage(format!("--cap: unknown capability {name:?}")))?;
            let mut b = caps.bounding().clone().unwrap_or_default();
            b.insert(cap);
            caps.set_bounding(Some(b));
            let mut e = caps.effective().clone().unwrap_or_default();
            e.insert(cap);
            caps.set_effective(Some(e));
            let mut pm = caps.permitted().clone().unwrap_or_default();
            pm.insert(cap);
            caps.set_permitted(Some(pm));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    crate::spec::validate_user(p.user(), "exec --user/--additional-gids")?;
    // runc: --apparmor / --process-label replace the container's for this process.
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

fn parse_user(s: &str, base: &User) -> Result<User> {
    let mut u = base.clone();
    let (uid, gid) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    u.set_uid(
        uid.parse()
            .map_err(|_| Error::Usage(format!("--user {s:?}: uid must be a number")))?,
    );
    if let Some(g) = gid {
        u.set_gid(
            g.parse()
                .map_err(|_| Error::Usage(format!("--user {s:?}: gid must be a number")))?,
        );
    }
    Ok(u)
}
