//! `podrun events [--stats] [--interval D] ID`: container events and cgroup statistics as
//! JSON, one object per line, in runc's shape: `{"type":"stats","id":ID,"data":{...}}`
//! (go-runc `Stats` reads one with `--stats`, `Events` reads the stream).
//!
//! `--stats` prints one stats event and exits. Without it, after every interval (a Go
//! duration: `5s`, `500ms`, `1m30s`) an `oom` event if the OOM killer struck since the last
//! one, then a stats event; the command exits 0 once the container's init has exited (waited
//! on through a pidfd, so the exit is seen at once, not at the next tick).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::cli::Global;
use crate::container;
use crate::container::stats::{wait_exit_for, Watched};
use crate::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print stats once and exit
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats (e.g. 5s)
    #[arg(long, default_value = "5s", allow_hyphen_values = true)]
    pub interval: String,
    pub id: String,
}

/// One line of output (field order as runc prints it).
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let interval = parse_interval(&a.interval)?;
    let watched = container::stats::watch(&g.root, &a.id)?;
    if a.stats {
        let stats = stats_json(watched.stats()?)?;
        print_event("stats", &a.id, Some(&stats))?;
        return Ok(0);
    }
    let Some(pidfd) = watched.init_pidfd() else {
        // It stopped between the status check and now: the stream is over.
        return Ok(0);
    };
    stream_events(&a.id, &watched, &pidfd, interval)
}

/// Prints oom/stats events every `interval` until the init behind `pidfd` exits.
fn stream_events(id: &str, w: &Watched, pidfd: &OwnedFd, interval: Duration) -> Result<i32> {
    let mut ooms = w.oom_kills();
    loop {
        if wait_exit_for(pidfd, interval) {
            return Ok(0);
        }
        let now = w.oom_kills();
        if now > ooms {
            print_event("oom", id, None)?;
        }
        ooms = now;
        match w.stats().and_then(stats_json) {
            Ok(stats) => print_event("stats", id, Some(&stats))?,
            // As runc: a failed read is logged, the stream goes on.
            Err(e) => tracing::error!("events {id}: stats: {e}"),
        }
    }
}

/// The typed stats as runc's JSON object (keys sorted, as the stats were printed before).
fn stats_json(s: container::stats::Stats) -> Result<Value> {
    serde_json::to_value(s).map_err(|e| Error::other(format!("encode stats: {e}")))
}

fn print_event(kind: &str, id: &str, data: Option<&Value>) -> Result<()> {
    let line = serde_json::to_string(&Event { kind, id, data })
        .map_err(|e| Error::other(format!("encode {kind} event: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write", "stdout", e))
}

/// `--interval`: a Go duration that must be greater than zero (runc's rule).
pub(crate) fn parse_interval(s: &str) -> Result<Duration> {
    let (negative, d) = parse_go_duration(s)
        .map_err(|why| Error::Usage(format!("invalid value {s:?} for --interval: {why}")))?;
    if negative || d.is_zero() {
        return Err(Error::Usage(
            "duration interval must be greater than 0".into(),
        ));
    }
    Ok(d)
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<number><unit>` (number with an
/// optional fraction; units ns, us, µs, ms, s, m, h), or a bare `0`. Returns (negative, size).
pub(crate) fn parse_go_duration(s: &str) -> std::result::Result<(bool, Duration), String> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = duration_term(rest)?;
        total += nanos;
        rest = after;
    }
    if total > i64::MAX as u128 {
        return Err("duration out of range".into());
    }
    Ok((negative, Duration::from_nanos(total as u64)))
}

/// One `<number><unit>` term: its length in nanoseconds and the text after it.
fn duration_term(s: &str) -> std::result::Result<(u128, &str), String> {
    let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (int, rest) = s.split_at(int_len);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            r.split_at(n)
        }
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(format!("expected a number at {s:?}"));
    }
    let unit_len = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_len);
    let unit_ns: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(format!("missing unit in {s:?} (ns, us, ms, s, m, h)")),
        u => return Err(format!("unknown unit {u:?} (ns, us, ms, s, m, h)")),
    };
    let too_big = || "duration out of range".to_string();
    let whole: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_big())?
    };
    let mut nanos = whole.checked_mul(unit_ns).ok_or_else(too_big)?;
    // Fractions beyond 1 ns of the largest unit (13 digits for h) change nothing.
    let frac = &frac[..frac.len().min(18)];
    if !frac.is_empty() {
        let digits: u128 = frac.parse().map_err(|_| too_big())?;
        nanos += digits * unit_ns / 10u128.pow(frac.len() as u32);
    }
    if nanos > i64::MAX as u128 {
        return Err(too_big());
    }
    Ok((nanos, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        let cases = [
            ("5s", ms(5000)),
            ("0", Duration::ZERO),
            ("1m30s", ms(90_000)),
            ("1.5h", ms(5_400_000)),
            ("500ms", ms(500)),
            ("2us", Duration::from_micros(2)),
            ("3µs", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", ms(500)),
            ("1.s", ms(1000)),
            ("+2s", ms(2000)),
            ("1h1m1s1ms", ms(3_661_001)),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s), Ok((false, want)), "{s}");
        }
        assert_eq!(parse_go_duration("-3s"), Ok((true, ms(3000))));
    }

    #[test]
    fn go_duration_errors() {
        for s in [
            "",
            "5",
            "s",
            "5x",
            "5 s",
            "1.2.3s",
            ".s",
            "-",
            "10000000000h",
            "5S",
        ] {
            assert!(parse_go_duration(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn interval_must_be_positive() {
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        for s in ["0", "0s", "-1s"] {
            let e = parse_interval(s).unwrap_err();
            assert!(e.to_string().contains("greater than 0"), "{s}: {e}");
        }
        let e = parse_interval("soon").unwrap_err();
        assert!(e.to_string().contains("--interval"), "{e}");
    }

    #[test]
    fn event_json_shape() {
        let data = serde_json::json!({"pids": {"current": 1}});
        let s = serde_json::to_string(&Event {
            kind: "stats",
            id: "c1",
            data: Some(&data),
        })
        .unwrap();
        assert_eq!(
            s,
            r#"{"type":"stats","id":"c1","data":{"pids":{"current":1}}}"#
        );
        let s = serde_json::to_string(&Event {
            kind: "oom",
            id: "c1",
            data: None,
        })
        .unwrap();
        assert_eq!(s, r#"{"type":"oom","id":"c1"}"#);
    }
}
