//! The event loop of one face: selects over terminal input, snapshot and PROGRESS.md changes,
//! command replies, event-log reads, older log pages and clock/log ticks; draws only when
//! something visible changed, at most `max_fps` times a second.
//!
//! Invariants: the loop never awaits I/O itself (store reads and command replies run in
//! spawned tasks, log files are read in blocking tasks, and all come back as messages);
//! closed channels disable their branch instead of waking the loop again and again.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event;
use tokio::sync::{mpsc, oneshot};

use crate::core::{Command, CommandReply, CommandRequest, Snapshot};
use crate::theme::Theme;

use super::feed::{LogCursor, StoredEvent};
use super::key_handling::Outcome;
use super::logpages::{OlderPage, read_older};
use super::palette::View;
use super::state::{self, UiState};
use super::{CommandEnvelope, FaceChannels, UiError, UiOptions, render, shell};
use crate::keys::Keymap;

/// Results of background work, delivered to the loop.
enum Notice {
    Reply(Command, Result<CommandReply, String>),
    Error(String),
}

/// A log file position kept between pages: valid while the pane's oldest line is the one the
/// reader stopped before (same slot and epoch).
struct OlderReader {
    slot: String,
    epoch: u64,
    reader: Box<dyn LogCursor>,
}

/// Why the event loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("reading the terminal failed: {0}")]
    Terminal(std::io::Error),
}

/// Why the event loop returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopExit {
    Quit,
    /// Suspend and run the take-over shell for `slot` in `container`.
    Shell {
        slot: String,
        container: String,
    },
}

/// The TUI's state and channels, independent of the terminal it draws on (tests drive it with
/// a `TestBackend` and a stream of synthetic events).
pub struct Face {
    pub ui: UiState,
    pub theme: Theme,
    pub opts: UiOptions,
    channels: FaceChannels,
    snap: Arc<Snapshot>,
    /// Frames drawn so far (for tests of the idle behaviour).
    pub draws: u64,
    notices_tx: mpsc::UnboundedSender<Notice>,
    notices_rx: mpsc::UnboundedReceiver<Notice>,
    events_tx: mpsc::Sender<Result<Vec<StoredEvent>, String>>,
    events_rx: mpsc::Receiver<Result<Vec<StoredEvent>, String>>,
    fetching_events: bool,
    older_tx: mpsc::Sender<OlderPage>,
    older_rx: mpsc::Receiver<OlderPage>,
    /// Where the next older page of the log pane starts, for the pane's slot and epoch.
    older_reader: Option<OlderReader>,
    snapshot_open: bool,
    progress_open: bool,
    notifier: Option<super::desktop_notice::TerminalNotifier>,
}

/// Milliseconds since the epoch, from the wall clock.
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether moving the clock from `prev` to `now` changes any age the screen shows (ages are
/// shown in seconds below a minute, minutes below a day, hours above).
pub fn ages_changed(snap: &Snapshot, prev: u64, now: u64) -> bool {
    fn bucket(ms: u64) -> u64 {
        let s = ms / 1000;
        if s < 60 {
            s
        } else if s < 86_400 {
            1_000_000 + s / 60
        } else {
            2_000_000_000 + s / 3600
        }
    }
    let differs = |t: u64| bucket(prev.saturating_sub(t)) != bucket(now.saturating_sub(t));
    let slots = snap.slots.iter().any(|s| {
        [
            s.started_at,
            s.last_activity,
            s.task.as_ref().map(|t| t.claimed_at),
            s.last_exit.as_ref().map(|e| e.at),
            s.last_test.as_ref().map(|t| t.at),
        ]
        .into_iter()
        .flatten()
        .any(differs)
    });
    slots
        || snap
            .alerts
            .iter()
            .any(|a| differs(a.first_seen) || differs(a.last_seen))
        || snap.locks.iter().any(|l| differs(l.claimed_at))
        || snap.open_incidents.iter().any(|i| differs(i.opened_at))
        || matches!(&snap.docker, crate::core::DockerStatus::Down { since, .. } if differs(*since))
}

impl Face {
    pub fn new(channels: FaceChannels, opts: UiOptions) -> Result<Self, UiError> {
        let keymap = Keymap::with_overrides(&opts.keys).map_err(UiError::Keys)?;
        let mut ui = UiState::new(keymap, opts.read_only);
        ui.tmux = opts.tmux;
        ui.roles = opts.roles.clone();
        ui.now_ms = wall_ms();
        ui.logs.set_file_source(channels.log_files.is_some());
        let snap = channels.snapshot.borrow().clone();
        ui.on_snapshot(&snap);
        let doc = channels.progress.borrow().clone();
        ui.progress.set_doc(doc, &opts.theme);
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(4);
        let (older_tx, older_rx) = mpsc::channel(2);
        Ok(Self {
            ui,
            theme: opts.theme.clone(),
            opts,
            channels,
            snap,
            draws: 0,
            notices_tx,
            notices_rx,
            events_tx,
            events_rx,
            fetching_events: false,
            older_tx,
            older_rx,
            older_reader: None,
            snapshot_open: true,
            progress_open: true,
            notifier: None,
        })
    }

    /// Sends bell and desktop notifications (as `[notify]` says) to `out` for alerts that
    /// become active from now on.
    pub fn notify_to(&mut self, out: Box<dyn std::io::Write + Send>) {
        let mut n = super::desktop_notice::TerminalNotifier::new(
            self.opts.bell,
            self.opts.desktop,
            self.opts.tmux,
            out,
        );
        n.on_snapshot(&self.snap);
        self.notifier = Some(n);
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// Draws one frame now.
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> Result<(), FaceError> {
        let (snap, ui, theme) = (&self.snap, &self.ui, &self.theme);
        terminal
            .draw(|f| render(f, snap, ui, theme))
            .map_err(|e| FaceError::Draw(e.to_string()))?;
        self.draws += 1;
        Ok(())
    }

    /// Runs until quit or a take-over shell is due. `input` is the terminal's event stream
    /// (or a test's); it is dropped on return.
    pub async fn run_loop<B, S>(
        &mut self,
        terminal: &mut Terminal<B>,
        mut input: S,
    ) -> Result<LoopExit, FaceError>
    where
        B: Backend,
        S: Stream<Item = std::io::Result<Event>> + Unpin,
    {
        let min_frame = Duration::from_millis(1000 / u64::from(self.opts.max_fps.clamp(1, 120)));
        if let Ok(size) = terminal.size() {
            self.ui.size = (size.width, size.height);
        }
        let mut dirty = true;
        // Activity-only snapshots not drawn yet (drawn on the next clock tick).
        let mut activity_pending = false;
        let mut last_draw: Option<Instant> = None;
        let mut clock = tokio::time::interval(Duration::from_secs(1));
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut log_poll = tokio::time::interval(Duration::from_millis(100));
        log_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        if self.ui.view == View::Events {
            self.fetch_events();
        }
        if self.ui.logs_visible() {
            self.ui.sync_logs(&*self.channels.logs);
        }
        loop {
            let mut redraw_at = None;
            if dirty {
                let due = last_draw.map(|t| t + min_frame);
                match due {
                    Some(d) if d > Instant::now() => redraw_at = Some(d),
                    _ => {
                        self.draw(terminal)?;
                        dirty = false;
                        last_draw = Some(Instant::now());
                    }
                }
            }
            let redraw_sleep = tokio::time::sleep_until(
                redraw_at.map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std),
            );
            tokio::select! {
                ev = input.next() => match ev {
                    None => return Ok(LoopExit::Quit),
                    Some(Err(e)) => return Err(FaceError::Terminal(e)),
                    Some(Ok(ev)) => {
                        dirty |= self.on_terminal_event(&ev);
                        if let Event::Key(key) = ev {
                            let outcomes = self.ui.handle_key(&self.snap, key);
                            if let Some(exit) = self.perform(outcomes) {
                                return Ok(exit);
                            }
                            if self.ui.logs_visible() {
                                self.ui.sync_logs(&*self.channels.logs);
                                self.load_older_lines();
                            }
                            dirty = true;
                        }
                    }
                },
                changed = self.channels.snapshot.changed(), if self.snapshot_open => {
                    if changed.is_err() {
                        self.snapshot_open = false;
                        self.ui.error("the supervisor has stopped — the screen no longer updates (q quits)");
                        dirty = true;
                    } else {
                        let snap = self.channels.snapshot.borrow_and_update().clone();
                        // The core bumps `version` whenever anything visible changed; when only
                        // last-activity times moved (`state_version` unchanged), the next
                        // once-a-second clock tick draws them, so busy agents cost one frame a
                        // second instead of one per output line.
                        if snap.version != self.snap.version {
                            let only_activity = snap.state_version == self.snap.state_version;
                            self.snap = snap;
                            self.ui.on_snapshot(&self.snap);
                            if let Some(n) = self.notifier.as_mut() {
                                n.on_snapshot(&self.snap);
                            }
                            if self.ui.logs_visible() {
                                self.ui.sync_logs(&*self.channels.logs);
                            }
                            if only_activity {
                                activity_pending = true;
                            } else {
                                dirty = true;
                            }
                        }
                    }
                },
                changed = self.channels.progress.changed(), if self.progress_open => {
                    if changed.is_err() {
                        self.progress_open = false;
                    } else {
                        let doc = self.channels.progress.borrow_and_update().clone();
                        self.ui.progress.set_doc(doc, &self.theme);
                        dirty = true;
                    }
                },
                Some(notice) = self.notices_rx.recv() => {
                    match notice {
                        Notice::Reply(intent, reply) => {
                            let outcomes = self.ui.on_reply(&self.snap, &intent, reply);
                            if let Some(exit) = self.perform(outcomes) {
                                return Ok(exit);
                            }
                        }
                        Notice::Error(e) => self.ui.error(e),
                    }
                    dirty = true;
                },
                Some(result) = self.events_rx.recv() => {
                    self.fetching_events = false;
                    match result {
                        Ok(rows) => {
                            self.ui.events.error = None;
                            dirty |= self.ui.events.extend(rows) || !self.ui.events.loaded;
                        }
                        Err(e) => {
                            self.ui.events.error = Some(e);
                            self.ui.events.loaded = true;
                        }
                    }
                    dirty |= self.ui.view == View::Events;
                },
                Some(page) = self.older_rx.recv() => {
                    dirty |= self.on_older_page(page);
                },
                _ = clock.tick() => {
                    let now = wall_ms();
                    dirty |= std::mem::take(&mut activity_pending);
                    dirty |= ages_changed(&self.snap, self.ui.now_ms, now);
                    self.ui.now_ms = now;
                    if self.ui.view == View::Events {
                        self.fetch_events();
                    }
                },
                _ = log_poll.tick(), if self.ui.logs_visible() => {
                    dirty |= self.ui.sync_logs(&*self.channels.logs);
                    self.load_older_lines();
                },
                _ = redraw_sleep, if redraw_at.is_some() => {},
            }
        }
    }

    /// Resize and paste; true when a redraw is needed.
    fn on_terminal_event(&mut self, ev: &Event) -> bool {
        match ev {
            Event::Resize(w, h) => {
                self.ui.size = (*w, *h);
                true
            }
            Event::Paste(text) => {
                self.ui.handle_paste(&self.snap, text);
                true
            }
            _ => false,
        }
    }

    /// Starts reading the page before the log pane's oldest line if the operator scrolled up
    /// to it; the file is read in a blocking task and the page comes back as a message.
    fn load_older_lines(&mut self) {
        // Open parts of a log the pane moved away from would keep rotated-away files on disk.
        if self
            .older_reader
            .as_ref()
            .is_some_and(|r| r.epoch != self.ui.logs.epoch())
        {
            self.older_reader = None;
        }
        let Some(files) = self.channels.log_files.clone() else {
            return;
        };
        let Some(ask) = self.ui.logs.request_older() else {
            return;
        };
        let generation = self.snap.slot(&ask.slot).map_or(0, |s| s.generation);
        // A reader for another oldest line would skip or repeat lines: start over instead.
        let reader = self
            .older_reader
            .take()
            .filter(|r| r.slot == ask.slot && r.epoch == ask.epoch)
            .map(|r| r.reader);
        let tx = self.older_tx.clone();
        tokio::spawn(async move {
            let (slot, epoch) = (ask.slot.clone(), ask.epoch);
            let read =
                tokio::task::spawn_blocking(move || read_older(&*files, &ask, generation, reader));
            let page = read.await.unwrap_or_else(|e| OlderPage {
                slot,
                epoch,
                result: Err(format!("reading the log file stopped: {e}")),
            });
            let _ = tx.send(page).await;
        });
    }

    /// Merges an older page into the log pane; true when the pane changed.
    fn on_older_page(&mut self, page: OlderPage) -> bool {
        let OlderPage {
            slot,
            epoch,
            result,
        } = page;
        match result {
            Ok(p) => {
                if !self.ui.logs.merge_older(&slot, epoch, p.lines, p.at_start) {
                    return false;
                }
                // Merging keeps the epoch, so the reader stays valid for the next page.
                self.older_reader = p.reader.map(|reader| OlderReader {
                    slot,
                    epoch,
                    reader,
                });
                true
            }
            Err(why) => {
                self.ui.logs.older_failed(&slot, epoch, why);
                true
            }
        }
    }

    fn fetch_events(&mut self) {
        if self.fetching_events {
            return;
        }
        self.fetching_events = true;
        let src = self.channels.events.clone();
        let tx = self.events_tx.clone();
        let after = self.ui.events.last_id;
        tokio::spawn(async move {
            let r = src.after(after, state::EVENT_CAP).await;
            let _ = tx.send(r).await;
        });
    }

    /// Carries out what a key or reply asked for; `Some` when the loop must return.
    fn perform(&mut self, outcomes: Vec<Outcome>) -> Option<LoopExit> {
        for o in outcomes {
            match o {
                Outcome::Quit => return Some(LoopExit::Quit),
                Outcome::Send { intent, why } => self.send(intent, why),
                Outcome::SetTheme(name) => self.set_theme(&name),
                Outcome::RefreshEvents => self.fetch_events(),
                Outcome::OpenShell {
                    slot,
                    container,
                    tmux_window: false,
                } => return Some(LoopExit::Shell { slot, container }),
                Outcome::OpenShell {
                    slot,
                    container,
                    tmux_window: true,
                } => {
                    let (host, container) = self.opts.engine_for(&container);
                    let tx = self.notices_tx.clone();
                    self.ui.info(format!(
                        "opening a tmux window for {slot} — hand it back here when done"
                    ));
                    tokio::spawn(async move {
                        if let Err(e) =
                            shell::open_tmux_window(host.as_deref(), &slot, &container).await
                        {
                            let _ = tx.send(Notice::Error(format!("{slot}: {e}")));
                        }
                    });
                }
            }
        }
        None
    }

    fn send(&mut self, intent: Command, why: Option<String>) {
        if self.ui.read_only {
            self.ui.error(format!("read-only: cannot {intent}"));
            return;
        }
        let req = CommandRequest {
            command: intent.clone(),
            who: self.opts.who.clone(),
            why,
        };
        let (tx, rx) = oneshot::channel();
        let envelope = CommandEnvelope {
            request: req,
            reply: tx,
        };
        match self.channels.commands.try_send(envelope) {
            Ok(()) => {
                self.ui.in_flight += 1;
                self.ui.info(format!("{intent}…"));
                let notices = self.notices_tx.clone();
                tokio::spawn(async move {
                    let reply = match tokio::time::timeout(Duration::from_secs(15), rx).await {
                        Ok(Ok(r)) => Ok(r),
                        Ok(Err(_)) => Err("the supervisor dropped the command".to_string()),
                        Err(_) => Err("no answer from the supervisor within 15s".to_string()),
                    };
                    let _ = notices.send(Notice::Reply(intent, reply));
                });
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.ui
                    .error(format!("{intent}: the supervisor is busy — try again"));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.ui
                    .error(format!("{intent}: the supervisor is not running"));
            }
        }
    }

    fn set_theme(&mut self, name: &str) {
        match Theme::load_respecting_no_color(name, self.opts.themes_dir.as_deref()) {
            Ok(t) => {
                let note = if t.name != name {
                    format!("NO_COLOR is set: staying with the {} theme", t.name)
                } else {
                    format!("theme {name}")
                };
                self.theme = t;
                let doc = self.ui.progress.doc.clone();
                self.ui.progress.set_doc(doc, &self.theme);
                self.ui.info(note);
            }
            Err(e) => self.ui.error(e.to_string()),
        }
    }
}
