//! `podrun ps [--format table|json] ID [ps options]`: the processes of a container, i.e. the
//! host PIDs in its cgroup (and the cgroups below it; [`crate::container::pids`] finds them).
//!
//! As runc: `json` prints the PIDs as one JSON array (go-runc `Ps` decodes it into `[]int`);
//! `table` runs the host `ps` (default `-ef`) and keeps its header plus the lines whose PID
//! column is one of the container's. A stopped container lists nothing.

use std::io::Write;
use std::process::Command;

use crate::cli::Global;
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// ps options (table format only)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let pids = crate::container::pids(&g.root, &a.id)?;
    match a.format.as_str() {
        "json" => print_json(&pids)?,
        "table" => print_table(&pids, &a.ps_args)?,
        other => {
            return Err(Error::Usage(format!(
                "invalid format option {other:?}: use table or json"
            )))
        }
    }
    Ok(0)
}

fn print_json(pids: &[i32]) -> Result<()> {
    let text =
        serde_json::to_string(pids).map_err(|e| Error::other(format!("encode pids: {e}")))?;
    write_stdout(&format!("{text}\n"))
}

/// Runs the host `ps` and prints its header and the lines of the container's processes.
fn print_table(pids: &[i32], ps_args: &[String]) -> Result<()> {
    let output = run_host_ps(ps_args)?;
    let table = filter_ps_table(&output, pids)?;
    write_stdout(&table)
}

fn run_host_ps(ps_args: &[String]) -> Result<String> {
    let default = ["-ef".to_string()];
    let args = if ps_args.is_empty() {
        &default[..]
    } else {
        ps_args
    };
    let out = Command::new("ps")
        .args(args)
        .output()
        .map_err(|e| Error::io("run", "ps", e))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        return Err(Error::other(format!(
            "ps {}: {}: {}",
            args.join(" "),
            out.status,
            text.trim_end()
        )));
    }
    Ok(text)
}

/// The header line plus every line whose PID column is in `pids`.
pub(crate) fn filter_ps_table(output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = output.split('\n');
    let header = lines.next().unwrap_or_default();
    let pid_index = pid_column(header)?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let field = line.split_whitespace().nth(pid_index).unwrap_or_default();
        let pid: i32 = field.parse().map_err(|_| {
            Error::other(format!(
                "ps: unable to parse pid {field:?} in line {line:?}"
            ))
        })?;
        if pids.contains(&pid) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

fn pid_column(header: &str) -> Result<usize> {
    header
        .split_whitespace()
        .position(|t| t == "PID")
        .ok_or_else(|| {
            Error::other(format!(
                "couldn't find PID field in ps output (header {header:?})"
            ))
        })
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write", "stdout", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
root           1       0  0 08:00 ?        00:00:01 /sbin/init\n\
root         412       1  0 08:01 ?        00:00:00 sleep 100\n\
root        4120     412  0 08:01 ?        00:00:00 sh -c echo 412\n";

    #[test]
    fn table_keeps_header_and_container_lines() {
        let t = filter_ps_table(PS_EF, &[412]).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("UID          PID"));
        assert!(lines[1].contains("sleep 100"));
    }

    #[test]
    fn table_matches_the_pid_column_not_substrings() {
        let t = filter_ps_table(PS_EF, &[4120]).unwrap();
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.contains("sh -c echo 412"));
        let none = filter_ps_table(PS_EF, &[]).unwrap();
        assert_eq!(none.lines().count(), 1, "{none}");
    }

    #[test]
    fn table_pid_column_anywhere() {
        let aux = "USER PID %CPU\nroot 7 0.0\nroot 8 0.0\n";
        assert_eq!(
            filter_ps_table(aux, &[8]).unwrap(),
            "USER PID %CPU\nroot 8 0.0\n"
        );
    }

    #[test]
    fn table_without_pid_column_fails() {
        let e = filter_ps_table("USER CMD\nroot sh\n", &[1]).unwrap_err();
        assert!(e.to_string().contains("PID field"), "{e}");
    }

    #[test]
    fn table_unparsable_pid_fails() {
        let e = filter_ps_table("USER PID\nroot x\n", &[1]).unwrap_err();
        assert!(e.to_string().contains("unable to parse pid"), "{e}");
    }
}
