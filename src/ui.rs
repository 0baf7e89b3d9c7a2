//! The face's wiring in the root package: the TUI itself is the `drover-tui` crate (its `ui`
//! module is re-exported here, so `drover::ui::…` paths keep working); this module implements
//! its read interface (`feed`) over the log ring, the log files, the store and the supervisor,
//! builds its options from the config, and runs it on the real terminal.
//!
//! Invariant: nothing here decides what the face shows; it only converts and forwards.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use ratatui::crossterm::event::EventStream;

pub use drover_tui::ui::*;

use crate::config::Config;
use crate::config::schema::RoleSection;
use crate::logs::files::log_path;
use crate::logs::logfile::{self, ReverseLogReader};
use crate::logs::ring::{self, LogHub};
use crate::store::{self, Store};
use crate::supervisor::SupervisorHandle;
use crate::theme::{Theme, ThemeError};

impl LogSource for LogHub {
    fn tail(&self, slot: &str, n: usize) -> Vec<feed::RingLine> {
        LogHub::tail(self, slot, n)
            .into_iter()
            .map(ring_line)
            .collect()
    }
    fn since(&self, slot: &str, from: u64) -> Vec<feed::RingLine> {
        LogHub::since(self, slot, from)
            .into_iter()
            .map(ring_line)
            .collect()
    }
}

fn ring_line(l: ring::RingLine) -> feed::RingLine {
    feed::RingLine {
        seq: l.seq,
        ts_ms: l.ts_ms,
        stderr: l.stderr,
        text: l.text,
    }
}

impl EventSource for Store {
    fn after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<feed::StoredEvent>, String>> {
        Box::pin(async move {
            self.events_after(after_id, limit)
                .await
                .map(|rows| rows.into_iter().map(stored_event).collect())
                .map_err(|e| e.to_string())
        })
    }
}

/// An event of the store as the face reads it.
pub fn stored_event(e: store::StoredEvent) -> feed::StoredEvent {
    feed::StoredEvent {
        id: e.id,
        ts_ms: e.ts_ms,
        slot: e.slot,
        kind: e.kind,
        who: e.who,
        payload: e.payload,
    }
}

/// Where a face on this host finds the containers' log files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFiles {
    pub data_dir: PathBuf,
    /// `[logs] max_line`: longer records are cut as the follower cuts them.
    pub max_line: usize,
}

impl LogFiles {
    /// The log files of the fleet `cfg` describes.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            data_dir: cfg.data_dir.clone(),
            max_line: usize::try_from(cfg.file.logs.max_line.0).unwrap_or(usize::MAX),
        }
    }
}

impl LogFileSource for LogFiles {
    fn open(&self, slot: &str, generation: u64) -> Box<dyn LogCursor> {
        let path = log_path(&self.data_dir, slot, generation);
        Box::new(ReverseLogReader::open(&path, self.max_line))
    }
}

impl LogCursor for ReverseLogReader {
    fn prev_line(&mut self) -> Result<Option<feed::FileLine>, String> {
        ReverseLogReader::prev_line(self)
            .map(|l| l.map(file_line))
            .map_err(|e| e.to_string())
    }
    fn at_start(&self) -> bool {
        ReverseLogReader::at_start(self)
    }
    fn oldest_ts_ms(&self) -> Option<u64> {
        ReverseLogReader::oldest_ts_ms(self)
    }
}

fn file_line(l: logfile::FileLine) -> feed::FileLine {
    feed::FileLine {
        ts_ms: l.ts_ms,
        stderr: l.stderr,
        text: l.text,
    }
}

/// The channels of a supervisor running in this process.
pub fn channels(handle: &SupervisorHandle) -> FaceChannels {
    FaceChannels {
        snapshot: handle.snapshot.clone(),
        progress: handle.progress.clone(),
        commands: handle.commands.clone(),
        logs: Arc::new(handle.hub.clone()),
        events: Arc::new(handle.store.clone()),
        log_files: Some(Arc::new(LogFiles::from_config(&handle.config))),
    }
}

/// Options from a loaded config: its theme (mono under `NO_COLOR`), keys, frame rate and
/// roles; `$TMUX` and `$USER` from the environment.
pub fn options(cfg: &Config, read_only: bool) -> Result<UiOptions, ThemeError> {
    let ui = &cfg.file.ui;
    Ok(UiOptions {
        theme: Theme::load_respecting_no_color(&ui.theme, cfg.themes_dir.as_deref())?,
        themes_dir: cfg.themes_dir.clone(),
        keys: ui.keys.clone(),
        read_only,
        max_fps: ui.max_fps,
        tmux: std::env::var_os("TMUX").is_some_and(|v| !v.is_empty()),
        who: os_user(),
        roles: cfg
            .file
            .roles
            .iter()
            .map(|r| (r.name.clone(), role_info(r)))
            .collect(),
        docker_host: cfg.file.fleet.docker_host.clone(),
        hosts: cfg
            .file
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.docker_host.clone()))
            .collect(),
        bell: cfg.file.notify.bell,
        desktop: cfg.file.notify.desktop,
    })
}

/// What the container tab shows about `r` (env values never copied).
pub fn role_info(r: &RoleSection) -> RoleInfo {
    let mut env_names: Vec<String> = r.env.keys().cloned().collect();
    env_names.extend(r.pass_env.iter().cloned());
    env_names.extend(r.required_env.iter().cloned());
    env_names.sort();
    env_names.dedup();
    let mut hardening = Vec::new();
    if r.security.no_new_privileges {
        hardening.push("no-new-privileges".to_string());
    }
    if !r.security.cap_drop.is_empty() {
        hardening.push(format!("cap-drop {}", r.security.cap_drop.join(",")));
    }
    if r.security.read_only_rootfs {
        hardening.push("read-only rootfs".into());
    }
    if r.security.allow_docker_socket {
        hardening.push("DOCKER SOCKET MOUNTED".into());
    }
    RoleInfo {
        image: r.image.clone(),
        command: r.command.as_ref().map(|c| c.join(" ")),
        memory: r.limits.memory.to_string(),
        cpus: format!("{}", r.limits.cpus),
        pids: r.limits.pids.to_string(),
        env_names,
        required_env: r.required_env.clone(),
        mounts: r
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{} → {}{}",
                    m.source.display(),
                    m.target,
                    if m.read_only { " (ro)" } else { "" }
                )
            })
            .collect(),
        hardening: hardening.join(", "),
    }
}

/// The OS user for audit records.
pub fn os_user() -> String {
    // From the effective uid, as the daemon names socket peers: `$USER` is only what the
    // environment claims.
    crate::peer::user_name(crate::peer::current_uid())
}

/// Runs the TUI on the real terminal until the operator quits.
pub async fn run(channels: FaceChannels, opts: UiOptions) -> anyhow::Result<()> {
    let mut face = Face::new(channels, opts)?;
    face.notify_to(Box::new(std::io::stdout()));
    let mut terminal = ratatui::try_init()?;
    let result = loop {
        // A new reader each round: none may exist while the shell owns stdin.
        match face.run_loop(&mut terminal, EventStream::new()).await {
            Ok(LoopExit::Quit) => break Ok(()),
            Ok(LoopExit::Shell { slot, container }) => {
                ratatui::try_restore()?;
                let (host, container) = face.opts.engine_for(&container);
                let r = shell::run_in_place(host.as_deref(), &container).await;
                terminal = shell::fresh_terminal()?;
                face.ui.after_shell(&slot, r);
            }
            Err(e) => break Err(e.into()),
        }
    };
    ratatui::try_restore()?;
    result
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::logs::files::rotated_part;
    use drover_tui::ui::logpages::{LogLine, OlderAsk, OlderPage, PAGE_BYTES, PAGE_LINES};

    /// The page before the pane's oldest line, as the face reads it.
    fn read(
        f: &LogFiles,
        ask: &OlderAsk,
        generation: u64,
        reader: Option<Box<dyn LogCursor>>,
    ) -> OlderPage {
        drover_tui::ui::logpages::read_older(f, ask, generation, reader)
    }

    const T0: u64 = 1_700_000_000_000;

    fn record(i: usize, text: &str) -> String {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(T0 + i as u64);
        format!("{} O {text}\n", humantime::format_rfc3339_nanos(at))
    }

    fn held(i: usize, text: &str) -> LogLine {
        LogLine {
            seq: i as i64,
            ts_ms: T0 + i as u64,
            stderr: false,
            text: text.into(),
        }
    }

    /// `<dir>/logs/s/1.log` with lines 0..n split over `parts` files (oldest in `.log.N`).
    fn write_log(dir: &std::path::Path, n: usize, parts: u32, text: impl Fn(usize) -> String) {
        let path = log_path(dir, "s", 1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let per = n.div_ceil(parts as usize);
        for p in 0..parts {
            let file = if p + 1 == parts {
                path.clone()
            } else {
                rotated_part(&path, parts - 1 - p)
            };
            let mut f = std::fs::File::create(file).unwrap();
            for i in (p as usize * per)..((p as usize + 1) * per).min(n) {
                f.write_all(record(i, &text(i)).as_bytes()).unwrap();
            }
        }
    }

    fn ask(boundary: Vec<LogLine>) -> OlderAsk {
        OlderAsk {
            slot: "s".into(),
            epoch: 7,
            boundary,
        }
    }

    fn files(dir: &std::path::Path) -> LogFiles {
        LogFiles {
            data_dir: dir.to_path_buf(),
            max_line: 4096,
        }
    }

    #[test]
    fn pages_go_back_from_the_held_lines_across_rotations_without_repeats() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 5000, 3, |i| format!("line {i}"));
        // The pane holds 4900..5000 (and the file has nothing newer).
        let boundary = (4900..4903)
            .map(|i| held(i, &format!("line {i}")))
            .collect();
        let f = files(dir.path());
        let page = read(&f, &ask(boundary), 1, None);
        assert_eq!((page.slot.as_str(), page.epoch), ("s", 7));
        let page = page.result.unwrap();
        let texts: Vec<&str> = page.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts.len(), PAGE_LINES);
        assert_eq!(texts.first(), Some(&"line 2900"));
        assert_eq!(
            texts.last(),
            Some(&"line 4899"),
            "ends right before the pane"
        );
        assert!(!page.at_start);
        // The next pages continue through the older parts, oldest part last.
        let page = read(&f, &ask(Vec::new()), 1, page.reader).result.unwrap();
        assert_eq!(page.lines.len(), 2000);
        assert_eq!(page.lines[0].text, "line 900");
        let page = read(&f, &ask(Vec::new()), 1, page.reader).result.unwrap();
        assert_eq!(page.lines.len(), 900);
        assert_eq!(page.lines[0].text, "line 0");
        assert!(page.at_start && page.reader.is_none());
    }

    #[test]
    fn the_boundary_is_found_by_several_lines_when_one_repeats() {
        let dir = tempfile::tempdir().unwrap();
        // Every line says "tick" with the same time: only the held run pins the position.
        let path = log_path(dir.path(), "s", 1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut body = String::new();
        for i in 0..10 {
            body.push_str(&record(0, if i == 6 { "tock" } else { "tick" }));
        }
        // Lines written after the pane last pulled are skipped too.
        body.push_str(&record(1, "later"));
        std::fs::write(&path, body).unwrap();
        let tick = |seq| LogLine {
            seq,
            ts_ms: T0,
            stderr: false,
            text: "tick".into(),
        };
        let tock = LogLine {
            text: "tock".into(),
            ..tick(6)
        };
        // The pane holds lines 5..: tick, tock, tick.
        let page = read(
            &files(dir.path()),
            &ask(vec![tick(5), tock, tick(7)]),
            1,
            None,
        )
        .result
        .unwrap();
        assert_eq!(page.lines.len(), 5, "lines 0..5 are older");
        assert!(page.at_start);
    }

    #[test]
    fn a_held_line_missing_from_the_file_falls_back_to_time() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 100, 1, |i| format!("line {i}"));
        let boundary = vec![held(50, "not in the file")];
        let page = read(&files(dir.path()), &ask(boundary), 1, None)
            .result
            .unwrap();
        assert_eq!(page.lines.len(), 50);
        assert_eq!(page.lines.last().unwrap().text, "line 49");
    }

    #[test]
    fn a_log_newer_than_the_pane_or_missing_has_nothing_older() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 10, 1, |i| format!("line {i}"));
        let mut before = held(0, "from an earlier container");
        before.ts_ms = T0 - 1;
        let page = read(&files(dir.path()), &ask(vec![before]), 1, None)
            .result
            .unwrap();
        assert!(page.lines.is_empty() && page.at_start);
        let page = read(&files(dir.path()), &ask(vec![held(3, "line 3")]), 2, None)
            .result
            .unwrap();
        assert!(
            page.lines.is_empty() && page.at_start,
            "no generation 2 file"
        );
    }

    #[test]
    fn hostile_lines_are_sanitised_and_pages_are_bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 3000, 1, |i| {
            if i == 5 {
                "\u{1b}[2J\u{1b}]0;owned\u{7}clear".into()
            } else {
                // Two bytes a char: 2000 kept chars are 4000 bytes, so bytes end the page.
                "é".repeat(3000)
            }
        });
        let f = files(dir.path());
        let page = read(&f, &ask(Vec::new()), 1, None).result.unwrap();
        // Each line is cut to the display cap (2000 chars and a note).
        let bytes: usize = page.lines.iter().map(|l| l.text.len()).sum();
        assert!(bytes <= PAGE_BYTES + 4096, "{bytes}");
        assert!(page.lines.len() < PAGE_LINES);
        let mut reader = page.reader;
        let mut all = page.lines;
        while let Some(r) = reader {
            let mut p = read(&f, &ask(Vec::new()), 1, Some(r)).result.unwrap();
            p.lines.append(&mut all);
            all = p.lines;
            reader = p.reader;
        }
        assert_eq!(all.len(), 3000);
        assert_eq!(all[5].text, "clear");
    }
}
