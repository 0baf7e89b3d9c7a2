//! drover's own logs: a daily rolling file in the data dir (non-blocking writer), plus stderr
//! (human text or JSON lines) when running headless or as a one-shot command.
//!
//! Invariants: in TUI mode nothing is written to the terminal — a stray line would corrupt the
//! screen — so the TUI gets the file layer only; every record is masked (known secret values,
//! see [`crate::secrets`]) as it is written, whatever field or message carried the value.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// Lines of drover's own log queued for the file writer thread.
const LOG_QUEUE_LINES: usize = 8_192;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where log lines go besides the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSink {
    /// The terminal belongs to the TUI: file only.
    FileOnly,
    /// Headless daemon or one-shot command: stderr too.
    FileAndStderr(LogFormat),
    /// No data dir yet (e.g. a config error): stderr only.
    StderrOnly(LogFormat),
}

/// Keeps the file writer flushing; drop it last, at exit.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// The default level from `-v`/`-q` counts; `DROVER_LOG` (EnvFilter syntax) overrides it.
pub fn level_for(verbose: u8, quiet: u8) -> &'static str {
    match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    }
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_env("DROVER_LOG").unwrap_or_else(|_| {
        // Dependencies are noisy at debug; keep them at warn unless asked explicitly.
        EnvFilter::new(format!("warn,drover={level}"))
    })
}

/// Installs the global subscriber. Errors if the log folder cannot be created.
pub fn init(data_dir: Option<&Path>, sink: LogSink, level: &str) -> std::io::Result<LogGuard> {
    let (file_writer, guard) = match (data_dir, sink) {
        (Some(dir), LogSink::FileOnly | LogSink::FileAndStderr(_)) => {
            let logs = dir.join("logs");
            // The appender complains on stderr when the folder is missing; create it first.
            crate::store::private::create_private_dir_all(&logs)?;
            let appender = Builder::new()
                .rotation(Rotation::DAILY)
                .filename_prefix("drover")
                .filename_suffix("log")
                .max_log_files(7)
                .build(&logs)
                .map_err(std::io::Error::other)?;
            // The crate's default queue (128 000 lines) allocates and touches 4 MiB up front —
            // a sixth of drover's resident memory — for bursts a file write keeps up with;
            // 8 192 lines is 256 KiB. Full means lossy: a burst beyond it drops lines rather
            // than stall the supervisor.
            let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(LOG_QUEUE_LINES)
                .finish(appender);
            (Some(nb), Some(guard))
        }
        _ => (None, None),
    };
    let file_layer = file_writer.map(|w| fmt::layer().with_writer(Masked(w)).with_ansi(false));
    let stderr_format = match sink {
        LogSink::FileOnly => None,
        LogSink::FileAndStderr(f) | LogSink::StderrOnly(f) => Some(f),
    };
    use std::io::IsTerminal;
    let use_ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Under systemd, stderr goes to the journal: it stamps the time itself, and a `<N>` prefix
    // gives each line its priority (sd-daemon(3)), so `journalctl -p warning` works.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty());
    let journal_layer = (stderr_format == Some(LogFormat::Text) && journal).then(|| {
        fmt::layer()
            .with_writer(Masked(std::io::stderr))
            .with_ansi(false)
            .event_format(SyslogPriority(
                fmt::format().without_time().with_target(false),
            ))
    });
    let text_layer = (stderr_format == Some(LogFormat::Text) && !journal).then(|| {
        fmt::layer()
            .with_writer(Masked(std::io::stderr))
            .with_ansi(use_ansi)
            .with_target(false)
    });
    let json_layer = (stderr_format == Some(LogFormat::Json)).then(|| {
        fmt::layer()
            .json()
            .with_writer(Masked(std::io::stderr))
            .flatten_event(true)
    });
    let _ = tracing_subscriber::registry()
        .with(filter(level))
        .with(file_layer)
        .with(text_layer)
        .with(journal_layer)
        .with(json_layer)
        .try_init();
    Ok(LogGuard { _file: guard })
}

/// A writer factory whose writers mask known secret values. The fmt layer formats a whole
/// record into one buffer and writes it with one `write_all`, so a value is never split
/// between two writes.
#[derive(Clone)]
struct Masked<M>(M);

impl<'a, M: fmt::MakeWriter<'a>> fmt::MakeWriter<'a> for Masked<M> {
    type Writer = MaskedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        MaskedWriter(self.0.make_writer_for(meta))
    }
}

struct MaskedWriter<W>(W);

impl<W: std::io::Write> std::io::Write for MaskedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let masker = crate::secrets::masker();
        self.0.write_all(&masker.mask_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Prefixes each line with its syslog priority for the journal (`<3>` error … `<7>` debug).
struct SyslogPriority<F>(F);

impl<S, N, F> fmt::FormatEvent<S, N> for SyslogPriority<F>
where
    F: fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &fmt::FmtContext<'_, S, N>,
        mut writer: fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}
