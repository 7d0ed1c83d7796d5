//! `podrun list [--format table|json] [--quiet]`.
use std::io::Write;

use crate::cli::Global;
use crate::state::{list_ids, ContainerState};
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Only ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let states: Vec<(ContainerState, String)> = list_ids(&g.root)
        .into_iter()
        .filter_map(|id| ContainerState::load(&g.root, &id).ok())
        .map(|s| {
            let st = s.status(&g.root).to_string();
            (s, st)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for (s, _) in &states {
            let _ = writeln!(out, "{}", s.id);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let arr: Vec<serde_json::Value> = states
                .iter()
                .map(|(s, st)| {
                    let mut v = s.oci_state(s.status(&g.root));
                    v["status"] = st.clone().into();
                    v
                })
                .collect();
            let _ = writeln!(out, "{}", serde_json::Value::Array(arr));
        }
        "table" => {
            let _ = writeln!(
                out,
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for (s, st) in &states {
                let pid = if st == "stopped" { 0 } else { s.pid };
                let _ = writeln!(
                    out,
                    "{:<20} {:<8} {:<10} {:<40} {:<32} root",
                    s.id,
                    pid,
                    st,
                    s.bundle.display(),
                    s.created
                );
            }
        }
        f => {
            return Err(Error::Usage(format!(
                "invalid format {f:?}: use table or json"
            )))
        }
    }
    Ok(0)
}
