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

/// One row: a loaded state with its live status, or a state that cannot be read.
enum Row {
    Ok(Box<ContainerState>, String),
    /// id and why (status `corrupt`): `delete --force` removes what is left of it.
    Corrupt(String, String),
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let rows: Vec<Row> = list_ids(&g.root)
        .into_iter()
        .filter_map(|id| match ContainerState::load(&g.root, &id) {
            Ok(s) => {
                let st = s.status(&g.root).to_string();
                Some(Row::Ok(Box::new(s), st))
            }
            // a create in progress (or killed before it wrote its state): not listed
            Err(Error::ContainerNotFound(_)) => None,
            Err(e) => Some(Row::Corrupt(id, e.to_string())),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &rows {
            let id = match r {
                Row::Ok(s, _) => &s.id,
                Row::Corrupt(id, _) => id,
            };
            let _ = writeln!(out, "{id}");
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let arr: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| match r {
                    Row::Ok(s, st) => {
                        let mut v = s.oci_state(s.status(&g.root));
                        v["status"] = st.clone().into();
                        v["owner"] = crate::state::owner_of(&g.root, &s.id).into();
                        v
                    }
                    Row::Corrupt(id, why) => serde_json::json!({
                        "id": id, "pid": 0, "status": "corrupt", "error": why,
                    }),
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
            for r in &rows {
                match r {
                    Row::Ok(s, st) => {
                        let pid = if st == "stopped" { 0 } else { s.pid };
                        let _ = writeln!(
                            out,
                            "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                            s.id,
                            pid,
                            st,
                            s.bundle.display(),
                            s.created,
                            crate::state::owner_of(&g.root, &s.id)
                        );
                    }
                    Row::Corrupt(id, why) => {
                        let _ = writeln!(out, "{id:<20} {:<8} {:<10} {why}", 0, "corrupt");
                    }
                }
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
