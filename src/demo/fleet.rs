//! The demo's throwaway world: a bare upstream repo seeded with a task list and notes, a
//! `drover.toml` for a small fleet of simulated agents, and a data dir — all inside one folder —
//! and the clean-up that removes them with the fleet's containers and the demo image.
//!
//! Invariants: the written config passes drover's own validation before `prepare` returns;
//! `clean` deletes a folder only when it holds the demo marker file, so it can never remove a
//! folder the demo did not create; containers are found by the fleet label, not by name.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use git2::{Repository, RepositoryInitOptions, Signature};
use serde::{Deserialize, Serialize};

use super::image::{DEFAULT_IMAGE_TAG, remove_demo_image};
use super::team_repo::{LOCKS_DIR, PROGRESS_FILE, TASKS_FILE};
use crate::docker::Docker;

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
    pub image: String,
    /// The bare repo the agents push to (mounted at `/upstream`).
    pub upstream: PathBuf,
    /// The fleet's `drover.toml`.
    pub config: PathBuf,
    /// drover's database and container logs for the demo.
    pub data_dir: PathBuf,
}

/// The demo folder used when none is given: `<tmp>/drover-demo-<user>`.
pub fn default_dir() -> PathBuf {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_else(|| "user".into());
    std::env::temp_dir().join(format!("drover-demo-{user}"))
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
    }
    Ok(s)
}

/// Creates the demo world in `dir` (created if missing; must be empty otherwise).
pub fn prepare(dir: &Path, opts: &DemoOptions) -> anyhow::Result<DemoLayout> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            if dir.join(MARKER_FILE).is_file() {
                bail!(
                    "{} holds a previous demo — remove it first with `drover demo --clean`",
                    dir.display()
                );
            }
            bail!(
                "{} is not empty; choose an empty or new folder for the demo",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let layout = DemoLayout {
        upstream: root.join("upstream.git"),
        config: root.join("drover.toml"),
        data_dir: root.join("data"),
        fleet: opts.fleet.clone(),
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
        // The folder was just created by this process, so its owner is who drover runs as.
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

/// Reads the marker of a demo in `dir`, if there is one.
pub fn find_previous(dir: &Path) -> anyhow::Result<Option<DemoLayout>> {
    let marker = dir.join(MARKER_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("cannot read the demo marker {}", marker.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", marker.display()))),
    }
}

/// What [`clean`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    pub containers_removed: usize,
    pub image_removed: bool,
    pub dir_removed: bool,
    /// Things left alone, with why.
    pub notes: Vec<String>,
}

/// Removes the fleet's containers (by label), the demo image and the demo folder (only if it
/// holds the marker). The image is the one the marker names, else `image` (callers that know
/// no image pass `None`, so a clean never removes an image some other demo uses). Safe to
/// repeat.
pub async fn clean(dir: &Path, fleet: &str, image: Option<&str>) -> anyhow::Result<CleanReport> {
    let layout = find_previous(dir)?;
    let mut report = CleanReport::default();
    let docker = Docker::connect(None).await?;
    let mut fleets = vec![fleet.to_string()];
    if let Some(l) = &layout
        && l.fleet != fleet
    {
        fleets.push(l.fleet.clone());
    }
    for f in &fleets {
        for c in docker.list_fleet(f).await? {
            docker
                .remove(&c.id)
                .await
                .with_context(|| format!("cannot remove container {}", c.name))?;
            report.containers_removed += 1;
        }
    }
    let image = layout.as_ref().map(|l| l.image.as_str()).or(image);
    if let Some(image) = image {
        match remove_demo_image(&docker, image).await {
            Ok(removed) => report.image_removed = removed,
            Err(e) => report.notes.push(format!("{e:#}")),
        }
    }
    if layout.is_some() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        report.dir_removed = true;
    } else if dir.exists() {
        report.notes.push(format!(
            "left {} in place: it has no {MARKER_FILE}, so the demo did not create it",
            dir.display()
        ));
    }
    Ok(report)
}
