//! Follows one container's output for its whole life: bytes → bounded lines → the slot's log
//! file and ring, and each line to a [`LineSink`] (the signal parsers). One follower per
//! container id; the caller keeps the map that guarantees it.
//!
//! Invariants: a line is written to disk before anything else sees it; a re-attach after a
//! dropped stream resumes from the last timestamp seen and skips lines already written, so
//! nothing is duplicated in the file.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::files::{LineSplitter, RotatingFile, SplitLine};
use super::ring::LogHub;
use drover_runtime::Runtime;

/// Times the tail is read again after a follow stream ended (see `follow_container`).
const MAX_TAIL_REREADS: u32 = 4;

/// Receives every line of a container's output, in order.
pub trait LineSink: Send + 'static {
    fn line(&mut self, ts_ms: u64, stderr: bool, text: &str);
    /// The container's output ended (it stopped or was removed).
    fn end(&mut self) {}
}

/// Where and how much to keep.
#[derive(Clone, Debug)]
pub struct FollowLimits {
    pub max_line: usize,
    pub file_max: u64,
    pub keep_files: u32,
    /// All of the slot's log files together; older generations are pruned past it.
    pub slot_max: u64,
}

/// One container's output to follow, and where it goes.
#[derive(Clone)]
pub struct Follow {
    pub docker: Runtime,
    pub id: String,
    pub slot: String,
    pub file: PathBuf,
    pub limits: FollowLimits,
    pub hub: LogHub,
}

/// Follows the container until its output ends or `cancel` fires.
pub async fn follow_container(
    target: Follow,
    mut sink: Box<dyn LineSink>,
    cancel: CancellationToken,
) {
    let Follow {
        docker,
        id,
        slot,
        file,
        limits,
        hub,
    } = target;
    match super::files::prune_slot_logs(&file, limits.slot_max) {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(slot, generations = ?removed, "pruned older container logs to the slot's size limit");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(slot, error = %e, "could not prune older container logs"),
    }
    let mut out = match RotatingFile::open(file.clone(), limits.file_max, limits.keep_files) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::error!(slot, path = %file.display(), error = %e, "cannot open container log file; lines are kept in memory only");
            None
        }
    };
    // Resume point: the last Docker timestamp delivered and how many messages carried it (the
    // partial messages of one long line all share their line's timestamp). The mark file
    // beside the log keeps it exactly, whatever the line lengths; a log written before marks
    // existed falls back to the log's own last timestamp.
    let mut mark = ResumeMark::open(&file);
    let (mut last_ts, mut same_ts_delivered) = match ResumeMark::read(&file) {
        Some(p) => p,
        None => resume_point(&file),
    };
    let mut ts_ms = last_ts.as_deref().and_then(ts_millis).unwrap_or(0);
    let mut cur_ts = last_ts.clone().unwrap_or_default();
    let mut attempts = 0u32;
    let mut rereads = 0u32;
    loop {
        let mut delivered = 0usize;
        let since = last_ts.as_deref().and_then(ts_seconds);
        let mut stream = Box::pin(docker.logs(&id, true, since));
        let mut out_split = LineSplitter::new(limits.max_line);
        let mut err_split = LineSplitter::new(limits.max_line);
        let mut ended_cleanly = false;
        let mut lines = Vec::new();
        let mut previous: Vec<u8> = Vec::new();
        // After a resume, `since` (whole seconds) replays messages already delivered.
        let mut replayed_equal = if last_ts.is_some() {
            same_ts_delivered
        } else {
            0
        };
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return,
                n = stream.next() => n,
            };
            let chunk = match next {
                None => {
                    ended_cleanly = true;
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!(slot, error = %e, "log stream broke");
                    break;
                }
                Some(Ok(chunk)) => chunk,
            };
            attempts = 0;
            // Each frame is one log message (a long line arrives as several partial messages)
            // and Docker puts its timestamp in front of every message.
            let (ts, body) = split_timestamp(&chunk.bytes);
            if let Some(ts) = ts {
                // RFC 3339 with fixed-width nanoseconds sorts as text.
                match last_ts.as_deref().map(|last| ts.cmp(last)) {
                    Some(std::cmp::Ordering::Less) => continue,
                    Some(std::cmp::Ordering::Equal) if replayed_equal > 0 => {
                        replayed_equal -= 1;
                        continue;
                    }
                    // Docker 20.10 sometimes sends the last line of an exiting container
                    // twice; partial messages share a timestamp too, but never end a line.
                    Some(std::cmp::Ordering::Equal)
                        if chunk.bytes.ends_with(b"\n") && chunk.bytes == previous =>
                    {
                        continue;
                    }
                    Some(std::cmp::Ordering::Equal) => same_ts_delivered += 1,
                    _ => {
                        last_ts = Some(ts.to_string());
                        same_ts_delivered = 1;
                        replayed_equal = 0;
                    }
                }
                ts_ms = ts_millis(ts).unwrap_or(ts_ms);
                if cur_ts != ts {
                    cur_ts.clear();
                    cur_ts.push_str(ts);
                }
            }
            previous.clear();
            previous.extend_from_slice(&chunk.bytes);
            let splitter = if chunk.stderr {
                &mut err_split
            } else {
                &mut out_split
            };
            splitter.feed(body, &mut |l| lines.push(l));
            delivered += lines.len();
            for l in lines.drain(..) {
                deliver(
                    &slot,
                    chunk.stderr,
                    (ts_ms, &cur_ts),
                    l,
                    &mut out,
                    &hub,
                    sink.as_mut(),
                );
            }
            // Everything received is in the file: this is a point a resume can start from.
            if out_split.at_line_start() && err_split.at_line_start() {
                mark.write(last_ts.as_deref(), same_ts_delivered);
            }
        }
        for (stderr, splitter) in [(false, &mut out_split), (true, &mut err_split)] {
            splitter.finish(&mut |l| lines.push(l));
            for l in lines.drain(..) {
                deliver(
                    &slot,
                    stderr,
                    (ts_ms, &cur_ts),
                    l,
                    &mut out,
                    &hub,
                    sink.as_mut(),
                );
            }
        }
        mark.write(last_ts.as_deref(), same_ts_delivered);
        if ended_cleanly {
            // Docker can end a follow stream before the container's output ends (seen after a
            // 10 MB line): the tail is read again from the last position before the end is
            // reported, since the exit is judged on the last lines. A pass that brings nothing
            // new is the real end.
            if rereads < MAX_TAIL_REREADS && (rereads == 0 || delivered > 0) {
                rereads += 1;
                continue;
            }
            break;
        }
        // The stream broke (daemon restart, network): retry with backoff from where we were.
        attempts += 1;
        if attempts > 8 {
            tracing::warn!(slot, "giving up following logs after repeated failures");
            break;
        }
        let delay = Duration::from_millis(200 * 2u64.pow(attempts.min(6)));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    sink.end();
}

fn deliver(
    slot: &str,
    stderr: bool,
    (ts_ms, ts_text): (u64, &str),
    line: SplitLine,
    file: &mut Option<RotatingFile>,
    hub: &LogHub,
    sink: &mut dyn LineSink,
) {
    // With a TTY the stream is raw, so timestamps sit at line starts instead of frame starts.
    let (_, body) = split_timestamp(&line.bytes);
    let mut text = String::from_utf8_lossy(body).into_owned();
    if line.dropped > 0 {
        text.push_str(&super::files::cut_note(line.dropped));
    }
    // The one place agent output enters drover: masked here, a secret value it prints reaches
    // no file, parser, reason, ring or client.
    crate::secrets::masker().mask_shown(&mut text);
    if let Some(f) = file.as_mut() {
        let stream = if stderr { 'E' } else { 'O' };
        // Docker's own timestamp (nanoseconds) is kept, so a later follower can resume exactly.
        let record = if ts_text.is_empty() {
            let at = std::time::UNIX_EPOCH + Duration::from_millis(ts_ms);
            format!("{} {stream} {text}\n", humantime::format_rfc3339_millis(at))
        } else {
            format!("{ts_text} {stream} {text}\n")
        };
        if let Err(e) = f.write(record.as_bytes()) {
            tracing::warn!(slot, error = %e, "container log file write failed");
        }
    }
    sink.line(ts_ms, stderr, &text);
    hub.push(slot, ts_ms, stderr, &text);
}

/// Where a container's delivered output ends, kept beside its log (`<gen>.log.pos`): the last
/// Docker timestamp at a line boundary and how many messages with that timestamp were
/// delivered. Rewritten in place (one fixed-size record, no fsync) after each message that ends
/// a line; losing it to a crash at worst repeats the lines of the last message.
struct ResumeMark {
    file: Option<std::fs::File>,
    written: Option<(String, usize)>,
}

/// Room for an RFC 3339 nanosecond timestamp, a count and padding.
const MARK_LEN: usize = 64;

impl ResumeMark {
    fn path(log: &std::path::Path) -> PathBuf {
        let mut name = log.as_os_str().to_os_string();
        name.push(".pos");
        PathBuf::from(name)
    }

    fn open(log: &std::path::Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(crate::store::private::FILE_MODE)
            .open(Self::path(log))
            .inspect_err(|e| tracing::warn!(path = %log.display(), error = %e, "cannot keep the log resume mark; a restart may repeat lines"))
            .ok();
        Self {
            file,
            written: None,
        }
    }

    fn read(log: &std::path::Path) -> Option<(Option<String>, usize)> {
        let text = std::fs::read_to_string(Self::path(log)).ok()?;
        let mut words = text.split_whitespace();
        let ts = words.next()?;
        let count = words.next()?.parse().ok()?;
        split_timestamp(format!("{ts} ").as_bytes()).0?;
        Some((Some(ts.to_string()), count))
    }

    fn write(&mut self, ts: Option<&str>, count: usize) {
        use std::os::unix::fs::FileExt;
        let (Some(file), Some(ts)) = (self.file.as_ref(), ts) else {
            return;
        };
        if self
            .written
            .as_ref()
            .is_some_and(|(t, c)| t == ts && *c == count)
        {
            return;
        }
        let mut record = format!("{ts} {count}");
        if record.len() >= MARK_LEN {
            return;
        }
        // Fixed size, so an overwrite never leaves a longer old record's tail behind.
        record.extend(std::iter::repeat_n(' ', MARK_LEN - 1 - record.len()));
        record.push('\n');
        match file.write_all_at(record.as_bytes(), 0) {
            Ok(()) => self.written = Some((ts.to_string(), count)),
            Err(e) => tracing::debug!(error = %e, "log resume mark write failed"),
        }
    }
}

/// The last Docker timestamp in an existing log file and how many trailing lines carry it.
fn resume_point(path: &std::path::Path) -> (Option<String>, usize) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return (None, 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut tail = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut tail).is_err() {
        return (None, 0);
    }
    let mut last: Option<&str> = None;
    let mut same = 0;
    for line in tail.split(|b| *b == b'\n') {
        if let (Some(ts), _) = split_timestamp(line) {
            if last == Some(ts) {
                same += 1;
            } else {
                last = Some(ts);
                same = 1;
            }
        }
    }
    (last.map(str::to_string), same)
}

/// Splits Docker's `2026-11-22T05:28:05.123456789Z ` prefix off a line.
fn split_timestamp(line: &[u8]) -> (Option<&str>, &[u8]) {
    let Some(space) = line.iter().take(40).position(|b| *b == b' ') else {
        return (None, line);
    };
    match std::str::from_utf8(&line[..space]) {
        Ok(ts) if ts.len() >= 20 && ts.as_bytes().get(4) == Some(&b'-') && ts.contains('T') => {
            (Some(ts), &line[space + 1..])
        }
        _ => (None, line),
    }
}

fn ts_seconds(ts: &str) -> Option<i32> {
    ts_millis(ts).and_then(|ms| i32::try_from(ms / 1000).ok())
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp (`…Z`).
pub fn ts_millis(ts: &str) -> Option<u64> {
    humantime::parse_rfc3339(ts)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_are_split_off() {
        let (ts, body) = split_timestamp(b"2026-11-22T05:28:05.123456789Z hello world");
        assert_eq!(ts, Some("2026-11-22T05:28:05.123456789Z"));
        assert_eq!(body, b"hello world");
        assert_eq!(
            ts_millis("2026-11-22T05:28:05.123456789Z").map(|m| m % 1000),
            Some(123)
        );
        let (ts, body) = split_timestamp(b"no timestamp here");
        assert_eq!(ts, None);
        assert_eq!(body, b"no timestamp here");
    }
}
