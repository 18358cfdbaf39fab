//! Logs go to stderr through tracing: pretty by default, JSON lines by config (`log.format`), in
//! colour only when stderr is a terminal. RUST_LOG overrides the level. Every line written while a
//! request is handled carries its request id (the `X-Request-Id` it is answered with): in the
//! pretty format in the `request{...}` span prefix, in JSON as a top-level `request_id` (and in
//! `span`, with the request's method and path). Each request ends with one `info` line (target
//! `bouncer::request`: method, path, status, latency_ms). Nothing logged anywhere carries a
//! password, token, hash or key: handlers never log bodies, spans carry the path without the
//! query, and domain types redact their Debug output.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::Config;

mod line;

/// Keeps the log writer's thread running; dropping it (at the end of `main`) writes out every
/// line still queued.
#[must_use = "dropping the guard stops the log writer"]
pub struct Guard {
    _writer: WorkerGuard,
}

/// Lines waiting for the writer's thread at most; past that, a thread that logs waits for room
/// (lines are never dropped: audit lines travel this way too).
const QUEUED_LINES: usize = 64 * 1024;

pub fn init(config: &Config) -> Guard {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    if config.audit.json_log {
        // Audit lines are asked for explicitly: whatever the level, they are written.
        if let Ok(d) = "bouncer::audit=info".parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour only for a person at a terminal: a redirected log holds no escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Lines are formatted where they are logged and written by one thread, in batches (one
    // write(2) for all the lines queued since its last): a request no longer waits for stderr.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    // Already initialized (tests): keep the first.
    if config.log.format == "json" {
        // The one span is the request's: `span` names it (method, path, id); a list of the
        // spans would only repeat it on every line.
        let json = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_span_list(false);
        let _ = builder
            .json()
            .event_format(WithRequestId(json))
            .finish()
            .with(KeepRequestId)
            .try_init();
    } else {
        let _ = builder
            .fmt_fields(line::Fields)
            .event_format(line::Line { ansi: colour })
            .try_init();
    }
    Guard { _writer: guard }
}

/// The request id of a `request` span (`bouncer_http`'s trace layer), kept in its extensions.
struct RequestId(String);

/// Keeps each `request` span's `request_id` where [`WithRequestId`] finds it.
struct KeepRequestId;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for KeepRequestId {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "request" {
            return;
        }
        let mut found = FindRequestId(None);
        attrs.record(&mut found);
        if let (Some(request_id), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }
}

struct FindRequestId(Option<String>);

impl Visit for FindRequestId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// A JSON event format that opens each line inside a request with its `request_id`, unless the
/// event names one itself (an audit line).
struct WithRequestId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let id = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|s| s.extensions().get::<RequestId>().map(|r| r.0.clone()))
        });
        let own = event.fields().any(|f| f.name() == "request_id");
        let Some(id) = id.filter(|_| !own) else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => {
                let sep = if rest.starts_with('}') { "" } else { "," };
                write!(
                    writer,
                    "{{\"request_id\":{}{sep}{rest}",
                    serde_json::Value::from(id)
                )
            }
            None => writer.write_str(&line),
        }
    }
}
