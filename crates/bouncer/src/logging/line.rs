//! The pretty format's line, written straight into the line buffer: the same text as
//! tracing-subscriber's default ("full") format,
//!
//! ```text
//! 2026-12-02T17:38:33.123456Z  INFO request{request_id="1f0c.." method=GET path="/users/me"}: bouncer::request: request method=GET path="/users/me" status=200 latency_ms=0.117
//! ```
//!
//! at a fraction of its cost: every request writes one, and the default format (a fresh RFC 3339
//! date each line, and styling wrappers around each part even with colour off) cost more than
//! answering `/users/me` itself. The date is formatted once a second per thread; strings are
//! written as Rust string literals (quoted, control characters escaped), so a value cannot start
//! a forged line; the level is coloured only at a terminal.

use std::cell::RefCell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format (see the module's documentation).
pub(crate) struct Line {
    /// Colour the level (stderr is a terminal).
    pub(crate) ansi: bool,
}

/// The fields format, for spans and events alike: `name=value` separated by spaces, the message
/// first and bare.
pub(crate) struct Fields;

impl<'w> FormatFields<'w> for Fields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = Visitor {
            w: writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct Visitor<'w> {
    w: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// Writes the separator and `name=` (nothing for the message); `false` when the field is
    /// skipped or writing already failed.
    fn name(&mut self, field: &Field) -> bool {
        let name = field.name();
        // What the `log` bridge adds (its own target and module): not a field of the line.
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = self.w.write_str(sep);
        if name != "message" {
            self.result = self
                .result
                .and_then(|()| self.w.write_str(name))
                .and_then(|()| self.w.write_char('='));
        }
        self.result.is_ok()
    }

    fn value(&mut self, value: fmt::Arguments<'_>) {
        self.result = self.w.write_fmt(value);
    }

    fn text(&mut self, value: &str) {
        self.result = self.w.write_str(value);
    }
}

/// Whether `s` reads the same as its Rust string literal's inside (printable ASCII, no quote or
/// backslash): then it is written as it is, between quotes, without the escaper's walk.
fn plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.name(field) {
            return;
        }
        if field.name() == "message" {
            self.text(value);
        } else if plain(value) {
            self.result = self
                .w
                .write_char('"')
                .and_then(|()| self.w.write_str(value))
                .and_then(|()| self.w.write_char('"'));
        } else {
            self.value(format_args!("{value:?}"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.name(field) {
            self.text(itoa::Buffer::new().format(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            self.text(itoa::Buffer::new().format(value));
        }
    }

    /// The shortest text that reads back as `value`, as `{:?}` writes it (`0.117`, `3.0`, `1e-7`).
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.name(field) {
            self.text(ryu::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.name(field) {
            self.text(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.name(field) {
            self.value(format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name(field) {
            self.value(format_args!("{value:?}"));
        }
    }
}

thread_local! {
    /// This thread's last second and its date text (`2026-12-02T17:38:33`).
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `2026-12-02T17:38:33.123456Z` (UTC, microseconds): RFC 3339, as the default format writes it.
fn timestamp(w: &mut Writer<'_>, now: SystemTime) -> fmt::Result {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            let date = i64::try_from(secs)
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
                .unwrap_or_else(|| "1970-01-01T00:00:00".into());
            *d = (secs, date);
        }
        w.write_str(&d.1)
    })?;
    let micros = since.subsec_micros();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(micros);
    w.write_char('.')?;
    w.write_str(&"000000"[digits.len()..])?;
    w.write_str(digits)?;
    w.write_char('Z')
}

fn level(w: &mut Writer<'_>, level: &Level, ansi: bool) -> fmt::Result {
    let (text, colour) = match *level {
        Level::TRACE => ("TRACE", "35"),
        Level::DEBUG => ("DEBUG", "34"),
        Level::INFO => (" INFO", "32"),
        Level::WARN => (" WARN", "33"),
        Level::ERROR => ("ERROR", "31"),
    };
    if ansi {
        write!(w, "\x1b[{colour}m{text}\x1b[0m")
    } else {
        w.write_str(text)
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        timestamp(&mut w, SystemTime::now())?;
        w.write_char(' ')?;
        level(&mut w, meta.level(), self.ansi)?;
        w.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut any = false;
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    w.write_char('{')?;
                    w.write_str(fields)?;
                    w.write_char('}')?;
                }
                w.write_char(':')?;
                any = true;
            }
            if any {
                w.write_char(' ')?;
            }
        }
        w.write_str(meta.target())?;
        w.write_str(": ")?;
        ctx.format_fields(w.by_ref(), event)?;
        w.write_char('\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(t: SystemTime) -> String {
        let mut s = String::new();
        timestamp(&mut Writer::new(&mut s), t).unwrap();
        s
    }

    #[test]
    fn the_timestamp_is_rfc_3339_in_utc_with_microseconds() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_796_232_513, 4_560_000);
        assert_eq!(stamp(t), "2026-12-02T17:28:33.004560Z");
        // The same second again (from the thread's cache), then the next one.
        let t = UNIX_EPOCH + std::time::Duration::new(1_796_232_513, 999_999_000);
        assert_eq!(stamp(t), "2026-12-02T17:28:33.999999Z");
        let t = UNIX_EPOCH + std::time::Duration::new(1_796_232_514, 0);
        assert_eq!(stamp(t), "2026-12-02T17:28:34.000000Z");
    }

    /// What a subscriber writes for a few events inside a request span, without the timestamps.
    fn lines(subscriber: impl Subscriber + Send + Sync + 'static) -> Vec<String> {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "abc-1",
                method = %"GET",
                path = "/users/me",
            );
            span.in_scope(|| {
                tracing::info!(
                    target: "bouncer::request",
                    method = %"GET",
                    path = "/users/me",
                    status = 200u16,
                    latency_ms = 0.117,
                    "request"
                );
                tracing::info!(
                    whole = 3.0,
                    tiny = 1e-7,
                    huge = 1e16,
                    small = 0.0001,
                    nan = f64::NAN,
                    "floats"
                );
                tracing::warn!(
                    user = "line\nbreak \"quoted\"",
                    ok = true,
                    n = -3i64,
                    "odd input"
                );
            });
            tracing::error!(error = %std::io::Error::other("disk full"), "outside any request");
        });
        CAPTURED
            .with(|c| std::mem::take(&mut *c.borrow_mut()))
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
            .collect()
    }

    thread_local! {
        static CAPTURED: RefCell<String> = const { RefCell::new(String::new()) };
    }

    struct Capture;

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            CAPTURED.with(|c| c.borrow_mut().push_str(&String::from_utf8_lossy(buf)));
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lean format writes what tracing-subscriber's default format writes without colour,
    /// byte for byte after the timestamp, and no line break of a value starts a line.
    #[test]
    fn lines_read_as_the_default_format_does() {
        let default = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .with_writer(|| Capture)
            .finish();
        let lean = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .with_writer(|| Capture)
            .fmt_fields(Fields)
            .event_format(Line { ansi: false })
            .finish();
        let (expected, got) = (lines(default), lines(lean));
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got, expected);
        assert_eq!(
            got[0],
            " INFO request{request_id=\"abc-1\" method=GET path=\"/users/me\"}: bouncer::request: \
             request method=GET path=\"/users/me\" status=200 latency_ms=0.117"
        );
        assert!(
            got[1].ends_with("floats whole=3.0 tiny=1e-7 huge=1e16 small=0.0001 nan=NaN"),
            "{}",
            got[1]
        );
        assert!(
            got[2].contains(r#"user="line\nbreak \"quoted\"""#),
            "{}",
            got[2]
        );
    }
}
