//! The demo's throwaway world: a bare upstream repo seeded with a task list and notes, a
//! `drover.toml` for a small fleet of simulated agents, and a data dir — all inside one folder —
//! and the clean-up that removes them with the fleet's containers and the demo image.
//!
//! Invariants: the written config passes drover's own validation before `prepare` returns; the
//! demo folder is created 0700 by drover itself, and a folder that already exists is used only
//! when it is a real directory owned by the user running drover (never through a symlink); the
//! marker file names everything a demo created, so `--clean` (see [`super::clean`]) removes
//! exactly that.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use git2::{Repository, RepositoryInitOptions, Signature};
use serde::{Deserialize, Serialize};

use super::image::DEFAULT_IMAGE_TAG;
use super::team_repo::{LOCKS_DIR, PROGRESS_FILE, TASKS_FILE};

/// Fleet name `drover demo` uses unless told otherwise.
pub const DEFAULT_FLEET: &str = "demo";
/// Marker file naming what a demo folder holds; `clean` requires it.
pub const MARKER_FILE: &str = "drover-demo.json";

/// Choices for [`prepare`].
#[derive(Clone, Debug, PartialEq)]
pub struct DemoOptions {
    pub fleet: String,
    /// Image the agents run (see [`super::image::ensure_demo_image`]).
    pub image: String,
    /// Pace of the simulated agents: 1 = demo pace; smaller is faster.
    pub pace: f64,
    /// Add a `reclaimer` slot (re-claims one failing task forever); one more container.
    pub with_reclaimer: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            fleet: DEFAULT_FLEET.into(),
            image: DEFAULT_IMAGE_TAG.into(),
            pace: 1.0,
            with_reclaimer: false,
        }
    }
}

/// Where a prepared demo lives; also the content of its marker file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLayout {
    pub root: PathBuf,
    pub fleet: String,
    /// Random id of this demo, written at creation (markers of older demos have none).
    #[serde(default)]
    pub fleet_id: String,
    pub image: String,
    /// The bare repo the agents push to (mounted at `/upstream`).
    pub upstream: PathBuf,
    /// The fleet's `drover.toml`.
    pub config: PathBuf,
    /// drover's database and container logs for the demo.
    pub data_dir: PathBuf,
}

/// The demo folder used when none is given: `<user data dir>/drover-demo` (a folder of the
/// user's own, not a predictable name in a shared temp dir; beside `drover/`, where fleets'
/// default data dirs live, so it can never be the data dir of a fleet named `demo`).
pub fn default_dir() -> PathBuf {
    use etcetera::BaseStrategy;
    match etcetera::choose_base_strategy() {
        Ok(s) => s.data_dir().join("drover-demo"),
        Err(_) => std::env::temp_dir().join(format!("drover-demo-{}", euid().unwrap_or(0))),
    }
}

/// The effective uid of this process (from `/proc/self/status`; drover runs on Linux).
pub fn euid() -> anyhow::Result<u32> {
    let text = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status to learn who drover runs as")?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("no effective uid in /proc/self/status")
}

/// Fails unless `dir` is a real directory (not a symlink) owned by the user drover runs as.
pub fn check_owned(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if meta.file_type().is_symlink() {
        bail!(
            "{} is a symbolic link; give the demo a real folder of your own",
            dir.display()
        );
    }
    if !meta.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let me = euid()?;
    if meta.uid() != me {
        bail!(
            "{} belongs to uid {}, not to you (uid {me}); the demo uses only folders of your own",
            dir.display(),
            meta.uid()
        );
    }
    Ok(())
}

/// A fresh random id for a demo (64 bits, hex).
fn new_fleet_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The demo roles: (role, replicas, behaviour, what it shows).
const ROLES: &[(&str, u32, &str, &str)] = &[
    (
        "worker",
        3,
        "worker",
        "claims tasks via real pushes (and loses races), runs tests until they pass, notes progress, releases",
    ),
    (
        "flaky",
        1,
        "flaky",
        "a worker whose test runs alternate fail/pass on the same test",
    ),
    (
        "missing-env",
        1,
        "missing-env",
        "needs DEMO_API_KEY, which the demo leaves unset: preflight blocks it before any start",
    ),
    (
        "crasher",
        1,
        "crasher",
        "cannot reach its model endpoint: exits 2 within a second with the same line, every time",
    ),
    (
        "looper",
        1,
        "looper",
        "claims a task, then prints the same block of output forever",
    ),
    (
        "staller",
        1,
        "staller",
        "claims a task, then goes silent holding the lock",
    ),
];

const RECLAIMER: (&str, u32, &str, &str) = (
    "reclaimer",
    1,
    "reclaimer",
    "fails the same task, releases it and claims it again, over and over",
);

const TASKS: &[(&str, &str)] = &[
    (
        "tokenizer-unicode",
        "handle multi-byte identifiers in the tokenizer (rust)",
    ),
    (
        "parser-nested-lists",
        "parse nested list literals without a recursion limit (rust)",
    ),
    (
        "lexer-spans",
        "keep byte spans accurate across CRLF line endings (rust)",
    ),
    (
        "resolver-cycles",
        "report import cycles with the full path (rust)",
    ),
    (
        "cache-eviction",
        "evict least-recently-used entries when the cache is full (rust)",
    ),
    (
        "formatter-comments",
        "keep trailing comments when formatting (rust)",
    ),
    (
        "pagination-cursor",
        "cursor-based pagination for GET /items (python)",
    ),
    (
        "auth-refresh",
        "refresh expired session tokens transparently (python)",
    ),
    ("export-csv", "export a project's records as CSV (python)"),
    (
        "search-filters",
        "filter search results by owner and date (python)",
    ),
    (
        "migrations-v4",
        "schema migration adding email verification (python)",
    ),
    (
        "notifications-digest",
        "daily digest of unread notifications (python)",
    ),
];

/// TASKS.md as seeded: the open task list.
pub fn tasks_md() -> String {
    let mut s = String::from(
        "# Tasks\n\nClaim a task by committing `current_tasks/<task>.txt` (first line `agent: <your slot>`)\nand pushing; if the push is rejected, fetch and pick another. When done, tick it off\nhere, add a line to PROGRESS.md and remove your lock file.\n\n",
    );
    for (id, title) in TASKS {
        s.push_str(&format!("- [ ] {id}: {title}\n"));
    }
    s
}

fn progress_md() -> String {
    format!(
        "# Progress\n\nRunning notes of the team: one line per finished or failed task, newest last.\n\n- {} lead: repository seeded with {} tasks\n",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        TASKS.len()
    )
}

const AGENT_PROMPT: &str = "You are one of several agents working on this repository in parallel.\n\
Pick an open task from TASKS.md, claim it with a lock file under current_tasks/, work on it,\n\
run the tests until they pass, note what you did in PROGRESS.md and release the lock.\n";

/// A TOML string literal for `s` (quotes and escapes handled by the toml crate).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn utf8(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("the demo folder {} is not valid UTF-8", p.display()))
}

/// The fleet's drover.toml. `user` is `uid:gid` of the folder's owner, so agents can push to
/// the bare repo even with every capability dropped.
pub fn config_text(layout: &DemoLayout, user: &str, opts: &DemoOptions) -> anyhow::Result<String> {
    let mut s = format!(
        "# drover demo fleet: simulated agents in real containers, coordinating through a real\n\
         # bare git repo. Generated by `drover demo`; `drover demo --clean` removes it all.\n\
         # Agents run as your uid:gid so they can push to the repo with every capability dropped.\n\n\
         [fleet]\nname = {}\ndata_dir = {}\n\n\
         [upstream]\nrepo = {}\nmount_target = \"/upstream\"\n",
        toml_str(&layout.fleet),
        toml_str(utf8(&layout.data_dir)?),
        toml_str(utf8(&layout.upstream)?),
    );
    let mut roles: Vec<(&str, u32, &str, &str)> = ROLES.to_vec();
    if opts.with_reclaimer {
        roles.insert(2, RECLAIMER);
    }
    for (name, replicas, behaviour, about) in roles {
        let mut command = vec!["drover", "agent-sim", "--behaviour", behaviour];
        let pace = opts.pace.to_string();
        if (opts.pace - 1.0).abs() > f64::EPSILON {
            command.extend(["--pace", pace.as_str()]);
        }
        let command: Vec<String> = command.iter().map(|c| toml_str(c)).collect();
        s.push_str(&format!(
            "\n# {about}\n[[roles]]\nname = {}\nreplicas = {replicas}\nimage = {}\ncommand = [{}]\nuser = {}\n",
            toml_str(name),
            toml_str(&layout.image),
            command.join(", "),
            toml_str(user),
        ));
        if behaviour == "missing-env" {
            s.push_str("pass_env = [\"DEMO_API_KEY\"]\nrequired_env = [\"DEMO_API_KEY\"]\n");
        }
        // Short thresholds so a five-minute demo shows stalls and overdue locks.
        s.push_str("stall_after = \"1m\"\ntask_timeout = \"3m\"\n");
        s.push_str("[roles.limits]\nmemory = \"64m\"\ncpus = 0.25\npids = 64\n");
        if behaviour == "staller" {
            // A hung session is stopped, not waited on: after the stall and overdue-lock
            // alerts, the run limit ends the silent run and the policy starts a fresh one.
            s.push_str("run_timeout = \"4m\"\n");
        }
    }
    Ok(s)
}

/// Creates the demo world in `dir`: created 0700 if missing; an existing folder must be an
/// empty real folder owned by the user (it is tightened to 0700).
pub fn prepare(dir: &Path, opts: &DemoOptions) -> anyhow::Result<DemoLayout> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {
            check_owned(dir)?;
            let mut entries =
                std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
            if entries.next().is_some() {
                if dir.join(MARKER_FILE).is_file() {
                    bail!(
                        "{} holds a previous demo — `drover demo` resumes it, `drover demo --fresh` replaces it",
                        dir.display()
                    );
                }
                bail!(
                    "{} is not empty; choose an empty or new folder for the demo",
                    dir.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", dir.display())));
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let layout = DemoLayout {
        upstream: root.join("upstream.git"),
        config: root.join("drover.toml"),
        data_dir: root.join("data"),
        fleet: opts.fleet.clone(),
        fleet_id: new_fleet_id(),
        image: opts.image.clone(),
        root: root.clone(),
    };
    // Written first, so `clean` can remove a half-prepared demo too.
    std::fs::write(
        root.join(MARKER_FILE),
        serde_json::to_string_pretty(&layout)?,
    )?;
    seed_upstream(&layout.upstream)?;
    std::fs::create_dir_all(&layout.data_dir)?;
    let user = {
        use std::os::unix::fs::MetadataExt;
        // check_owned/create made sure the folder is ours, so its uid is who drover runs as.
        let m = std::fs::metadata(&root)?;
        format!("{}:{}", m.uid(), m.gid())
    };
    let text = config_text(&layout, &user, opts)?;
    crate::config::parse(&text, &layout.config)
        .map_err(|e| anyhow::anyhow!("the generated demo config is invalid:\n{e}"))?;
    std::fs::write(&layout.config, text)?;
    Ok(layout)
}

/// Creates the bare repo with HEAD on `main` and the seed commit.
fn seed_upstream(path: &Path) -> anyhow::Result<()> {
    let mut init = RepositoryInitOptions::new();
    init.bare(true).initial_head("main");
    let repo = Repository::init_opts(path, &init)
        .with_context(|| format!("cannot create the upstream repo {}", path.display()))?;
    let keep = format!("{LOCKS_DIR}/.keep");
    let files: [(&str, String); 4] = [
        (TASKS_FILE, tasks_md()),
        (PROGRESS_FILE, progress_md()),
        ("AGENT_PROMPT.md", AGENT_PROMPT.to_string()),
        (keep.as_str(), String::new()),
    ];
    let mut builder = git2::build::TreeUpdateBuilder::new();
    for (p, content) in &files {
        let blob = repo.blob(content.as_bytes())?;
        builder.upsert(*p, blob, git2::FileMode::Blob);
    }
    let empty = repo.treebuilder(None)?.write()?;
    let tree_id = builder.create_updated(&repo, &repo.find_tree(empty)?)?;
    let tree = repo.find_tree(tree_id)?;
    let sig = Signature::now("lead", "lead@agents.drover-demo")?;
    repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        "Seed the task list and notes",
        &tree,
        &[],
    )?;
    Ok(())
}

/// Reads the marker of a demo in `dir`, if there is one. A marker is trusted only in a folder
/// owned by the user (see [`check_owned`]).
pub fn find_previous(dir: &Path) -> anyhow::Result<Option<DemoLayout>> {
    let marker = dir.join(MARKER_FILE);
    if !marker.is_file() {
        return Ok(None);
    }
    check_owned(dir)?;
    match std::fs::read_to_string(&marker) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("cannot read the demo marker {}", marker.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", marker.display()))),
    }
}
