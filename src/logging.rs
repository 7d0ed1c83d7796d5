//! Log output in runc's formats: `text` (logrus-like `time=.. level=.. msg=..`) or `json`
//! (one object per line with `level`, `msg`, `time`), to `--log FILE` or stderr.
//! containerd's shim reads the last `error` line of the json log as the failure.
//!
//! The container's init (a forked podrun) does not write to the log file: it closes every
//! fd it inherited. It formats its lines as usual and hands them to [`forward_lines`]'s
//! sender (the create/exec channel); podrun writes them with [`write_line`].

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

enum Sink {
    Stderr,
    File(File),
    /// Each line goes to this function (the forked init sends it to podrun).
    Forward(Box<dyn Fn(&str) + Send>),
}

/// Where the lines go: set by [`init`], replaced in the forked init by [`forward_lines`].
static SINK: Mutex<Sink> = Mutex::new(Sink::Stderr);

/// The global subscriber: each event becomes one line. podrun opens no spans, so span calls are
/// accepted and forgotten (tracing-subscriber's span registry costs 32 KiB of heap at every
/// start, for nothing here).
struct LineSubscriber {
    format: LogFormat,
    max: Level,
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            self.extra.push((field.name(), value.to_string()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            self.extra.push((field.name(), format!("{value:?}")));
        }
    }
}

impl Subscriber for LineSubscriber {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() > self.max {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = level_name(*event.metadata().level());
        let line = format_line(self.format, level, &fields.msg, &fields.extra);
        write_line(&line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// One log line, newline-terminated.
pub fn format_line(format: LogFormat, level: &str, msg: &str, extra: &[(&str, String)]) -> String {
    let time = rfc3339_now();
    match format {
        LogFormat::Json => {
            let mut obj = serde_json::Map::new();
            obj.insert("level".into(), level.into());
            obj.insert("msg".into(), msg.into());
            obj.insert("time".into(), time.into());
            for (k, v) in extra {
                obj.insert((*k).into(), v.clone().into());
            }
            let mut s = serde_json::Value::Object(obj).to_string();
            s.push('\n');
            s
        }
        LogFormat::Text => {
            let mut s = format!("time=\"{time}\" level={level} msg={msg:?}");
            for (k, v) in extra {
                let _ = write!(s, " {k}={v:?}");
            }
            s.push('\n');
            s
        }
    }
}

/// Writes one formatted line (with its newline) where podrun's log goes: a line of the
/// container's init arrives here through the channel.
pub fn write_line(line: &str) {
    if let Ok(mut sink) = SINK.lock() {
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File(f) => f.write_all(line.as_bytes()),
            Sink::Forward(send) => {
                send(line);
                Ok(())
            }
        };
    }
}

/// In the forked init, before it closes its inherited fds: log lines no longer go to the log
/// file (whose fd is about to be closed, and may then be reused) but to `send`. A log on
/// stderr stays there: that fd stays open.
pub fn forward_lines(send: impl Fn(&str) + Send + 'static) {
    if let Ok(mut sink) = SINK.lock() {
        if matches!(*sink, Sink::File(_)) {
            *sink = Sink::Forward(Box::new(send));
        }
    }
}

/// Installs the global subscriber. With no log file, warnings and errors go to stderr.
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let (sink, max) = match log {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)?;
            (
                Sink::File(f),
                if debug { Level::DEBUG } else { Level::INFO },
            )
        }
        None => (Sink::Stderr, if debug { Level::DEBUG } else { Level::WARN }),
    };
    if let Ok(mut s) = SINK.lock() {
        *s = sink;
    }
    let subscriber = LineSubscriber { format, max };
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

/// The current UTC time as RFC 3339 with nanoseconds, e.g. `2026-11-22T08:10:34.123456789Z`.
pub fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_335_034, 5), "2026-11-22T08:10:34.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn json_line_has_level_msg_time() {
        let line = format_line(LogFormat::Json, "error", "boom \"x\"", &[]);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
