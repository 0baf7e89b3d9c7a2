//! The log pane reads lines older than the in-memory ring back from the slot's log file,
//! through the real event loop: the ring holds the newest 100 lines, the file all 5000; `g`
//! at the top loads page after page up to the start of the log, search finds a line only the
//! file had, and nothing is held twice. Every frame drawn is sent to the test, which waits for
//! the one it expects (bounded by a timeout) instead of sleeping.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use drover::core::SlotState;
use drover::logs::files::log_path;
use drover::logs::ring::LogHub;
use drover::theme::Theme;
use drover::ui::sample::{slot, snapshot};
use drover::ui::{Face, LogFiles, LoopExit, NoEvents, UiOptions, face_channels};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Size};
use tokio::sync::mpsc;

const T0: u64 = 1_700_000_000_000;
const FILE_LINES: usize = 5000;
const RING_LINES: usize = 100;
const NEEDLE: usize = 3000;

fn text(i: usize) -> String {
    if i == NEEDLE {
        "needle only in the file".into()
    } else {
        format!("line {i:04}")
    }
}

/// A test terminal that sends the text of every frame it flushes.
struct Recording {
    inner: TestBackend,
    frames: mpsc::UnboundedSender<String>,
}

/// The screen as text; the cell after a double-width character is skipped.
fn text_of(buf: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            s.push_str(sym);
        }
        s.push('\n');
    }
    s
}

impl Backend for Recording {
    type Error = Infallible;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()?;
        let _ = self.frames.send(text_of(self.inner.buffer()));
        Ok(())
    }
}

/// Waits for the first frame showing every one of `wanted`.
async fn frame_with(frames: &mut mpsc::UnboundedReceiver<String>, wanted: &[&str]) -> String {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        let mut last = String::new();
        while let Some(f) = frames.recv().await {
            if wanted.iter().all(|w| f.contains(w)) {
                return Ok(f);
            }
            last = f;
        }
        Err(last)
    })
    .await;
    match found {
        Ok(Ok(f)) => f,
        Ok(Err(last)) => panic!("the face stopped before showing {wanted:?}; last frame:\n{last}"),
        Err(_) => panic!("no frame showed {wanted:?} within 30s"),
    }
}

fn key(c: KeyCode) -> std::io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

#[tokio::test]
async fn scrolling_up_reads_older_lines_from_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    // The follower's format: `<RFC 3339 time> <O|E> <text>`, generation 1 of the slot.
    let path = log_path(dir.path(), "implementer-1", 1);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let at = |i: usize| T0 + i as u64;
    for i in 0..FILE_LINES {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(at(i));
        writeln!(file, "{} O {}", humantime::format_rfc3339_nanos(t), text(i)).unwrap();
    }
    file.flush().unwrap();
    drop(file);
    let hub = LogHub::new(RING_LINES, 1 << 20);
    for i in FILE_LINES - RING_LINES..FILE_LINES {
        hub.push("implementer-1", at(i), false, text(i));
    }
    let snap = snapshot(vec![
        slot("implementer-1", SlotState::Running),
        slot("implementer-2", SlotState::Running),
    ]);
    let (mut channels, _feed) = face_channels(snap, Arc::new(hub), Arc::new(NoEvents));
    channels.log_files = Some(Arc::new(LogFiles {
        data_dir: dir.path().to_path_buf(),
        max_line: 64 * 1024,
    }));
    let mut face = Face::new(
        channels,
        UiOptions::plain(Theme::load("dark", None).unwrap()),
    )
    .unwrap();
    let (frames_tx, mut frames) = mpsc::unbounded_channel();
    let (input, rx) = futures::channel::mpsc::unbounded();
    let task = tokio::spawn(async move {
        let backend = Recording {
            inner: TestBackend::new(160, 40),
            frames: frames_tx,
        };
        let mut term = Terminal::new(backend).unwrap();
        let exit = face.run_loop(&mut term, rx).await.unwrap();
        (exit, face)
    });

    frame_with(&mut frames, &["line 4999"]).await;
    input.unbounded_send(key(KeyCode::Enter)).unwrap();
    // `g` goes to the top of the ring and asks for the page before it, shown from its top.
    input.unbounded_send(key(KeyCode::Char('g'))).unwrap();
    let screen = frame_with(&mut frames, &["line 2900"]).await;
    assert!(
        !screen.contains("line 2899"),
        "one page of 2000 lines:\n{screen}"
    );
    assert!(!screen.contains("start of log"), "{screen}");
    input.unbounded_send(key(KeyCode::Char('g'))).unwrap();
    frame_with(&mut frames, &["line 0900"]).await;
    input.unbounded_send(key(KeyCode::Char('g'))).unwrap();
    let screen = frame_with(&mut frames, &["line 0000", "start of log"]).await;
    assert!(screen.contains("line 0001"), "{screen}");

    // The line only the file had is found by search and shown.
    input.unbounded_send(key(KeyCode::Char('/'))).unwrap();
    for c in "needle".chars() {
        input.unbounded_send(key(KeyCode::Char(c))).unwrap();
    }
    input.unbounded_send(key(KeyCode::Enter)).unwrap();
    let screen = frame_with(&mut frames, &["needle only in the file", "/needle 1/1"]).await;
    assert!(screen.contains("line 2999"), "{screen}");

    input.unbounded_send(key(KeyCode::Char('q'))).unwrap();
    let (exit, face) = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the face quits")
        .unwrap();
    assert_eq!(exit, LoopExit::Quit);
    // Ring and file joined: every line once, in order.
    let held: Vec<String> = face
        .ui
        .logs
        .lines()
        .iter()
        .map(|l| l.text.clone())
        .collect();
    let expected: Vec<String> = (0..FILE_LINES).map(text).collect();
    assert_eq!(held.len(), expected.len());
    assert!(
        held == expected,
        "lines are missing, repeated or out of order"
    );
    let seqs: Vec<i64> = face.ui.logs.lines().iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}
