//! The simulated coding agent that `drover agent-sim` runs inside a demo container. It
//! coordinates like a real agent of the fleet (DESIGN.md §1): claims tasks by pushing lock files
//! to the upstream bare repo, loses push races, prints tool calls and real-format test runs,
//! appends to PROGRESS.md and releases its lock — or misbehaves in one of the ways drover exists
//! to catch.
//!
//! Invariants: every line is flushed as it is written, so logs stream live; every choice comes
//! from a seeded RNG (seed defaults to a hash of the slot name), so a behaviour replays the same
//! way given the same upstream; no secret value is ever printed.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use fastrand::Rng;

use super::runner_output::{seed_of, suite_for};
use super::team_repo::{Edit, Task, TeamRepo, TipView, lock_path};

mod worker;
use worker::Style;

/// How the simulated agent behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// Claims open tasks, works, runs tests until they pass, notes progress, releases, repeats.
    Worker,
    /// Like `worker`, but its test runs alternate fail/pass on the same test.
    Flaky,
    /// Needs `DEMO_API_KEY`; without it prints the error and exits 1 (a worker with it).
    MissingEnv,
    /// Prints a couple of lines and a fixed FATAL line, exits 2 within a second, every time.
    Crasher,
    /// Claims a task, then prints the same block of 8 lines forever (ids and times vary).
    Looper,
    /// Claims a task, prints a few lines, then goes silent holding the lock.
    Staller,
    /// Claims the same task again and again: fails the same tests, releases, re-claims.
    Reclaimer,
    /// Needs no upstream repo: prints a varied agent-like line about once a second (× pace),
    /// forever. `drover bench fleet` runs it at scale.
    Chatter,
}

impl Behaviour {
    /// The name used on the command line (`missing-env`).
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// Options of `drover agent-sim` (a hidden subcommand; drover's demo image runs it).
#[derive(Clone, Debug, clap::Args)]
pub struct AgentOptions {
    /// What the agent does.
    #[arg(long, value_enum)]
    pub behaviour: Behaviour,
    /// The upstream bare repository the fleet coordinates through.
    #[arg(long, env = "DROVER_UPSTREAM", default_value = "/upstream")]
    pub upstream: PathBuf,
    /// This agent's slot name (drover sets DROVER_SLOT in every container it creates).
    #[arg(long, env = "DROVER_SLOT", default_value = "agent")]
    pub slot: String,
    /// Seed for every choice; default: a hash of the slot name.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiplier for the pauses between steps: 1 = demo pace, 0 = no pauses.
    #[arg(long, default_value_t = 1.0)]
    pub pace: f64,
    /// Stop (exit 0) after this many rounds: tasks handled, idle checks or repeated blocks.
    #[arg(long)]
    pub rounds: Option<u64>,
    /// Stop (exit 0) after this long, e.g. "30s".
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deadline: Option<Duration>,
}

impl AgentOptions {
    /// Options for `behaviour` with defaults (upstream `/upstream`, slot `agent`, demo pace).
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            upstream: PathBuf::from("/upstream"),
            slot: "agent".into(),
            seed: None,
            pace: 1.0,
            rounds: None,
            deadline: None,
        }
    }
}

/// Pushes of one claim before giving up on the task (each rejection means the tip moved).
const CLAIM_PUSH_ATTEMPTS: u32 = 5;

/// The variable the `missing-env` agent needs (the demo config lists it in `required_env`).
pub const DEMO_API_KEY: &str = "DEMO_API_KEY";

/// Runs the agent on stdout with the process environment; returns its exit code.
pub fn run_agent(opts: AgentOptions) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_agent_with(opts, &mut out, &|k| std::env::var(k).ok())
}

/// Runs the agent writing to `out` (flushed per line) and reading variables through `env`.
pub fn run_agent_with(
    opts: AgentOptions,
    out: &mut dyn Write,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<i32> {
    let seed = opts.seed.unwrap_or_else(|| seed_of(&opts.slot));
    let mut agent = Agent {
        rng: Rng::with_seed(seed),
        started: Instant::now(),
        rounds: 0,
        test_runs: 0,
        out,
        opts,
    };
    agent.say(format!(
        "drover agent-sim {}: slot {}, behaviour {}, seed {seed}, upstream {}",
        env!("CARGO_PKG_VERSION"),
        agent.opts.slot,
        agent.opts.behaviour.name(),
        agent.opts.upstream.display()
    ))?;
    match agent.opts.behaviour {
        Behaviour::Crasher => agent.crash(),
        Behaviour::Chatter => agent.chatter(),
        Behaviour::MissingEnv if env(DEMO_API_KEY).is_none_or(|v| v.trim().is_empty()) => {
            agent.say(format!(
                "ERROR: Missing environment variable: {DEMO_API_KEY}"
            ))?;
            Ok(1)
        }
        _ => {
            let repo = match TeamRepo::open(&agent.opts.upstream) {
                Ok(r) => r,
                Err(e) => {
                    agent.say(format!(
                        "ERROR: cannot open upstream repository {}: {}",
                        agent.opts.upstream.display(),
                        e.message()
                    ))?;
                    return Ok(1);
                }
            };
            match agent.opts.behaviour {
                Behaviour::Looper => agent.run_looper(&repo),
                Behaviour::Staller => agent.run_staller(&repo),
                Behaviour::MissingEnv => {
                    agent.say(format!("{DEMO_API_KEY} is set; starting work"))?;
                    agent.run_worker(&repo, Style::Steady)
                }
                Behaviour::Flaky => agent.run_worker(&repo, Style::Flaky),
                Behaviour::Reclaimer => agent.run_worker(&repo, Style::Reclaiming),
                Behaviour::Worker => agent.run_worker(&repo, Style::Steady),
                Behaviour::Crasher => agent.crash(),
                Behaviour::Chatter => agent.chatter(),
            }
        }
    }
}

enum Claim {
    Won,
    /// Someone pushed first; `holder` if they took this very task.
    Lost {
        holder: Option<String>,
    },
}

struct Agent<'a> {
    opts: AgentOptions,
    out: &'a mut dyn Write,
    rng: Rng,
    started: Instant,
    rounds: u64,
    test_runs: u64,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn short(oid: git2::Oid) -> String {
    oid.to_string().chars().take(7).collect()
}

impl Agent<'_> {
    fn say(&mut self, line: impl AsRef<str>) -> std::io::Result<()> {
        self.out.write_all(line.as_ref().as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn say_all(&mut self, lines: &[String]) -> std::io::Result<()> {
        for l in lines {
            self.say(l)?;
        }
        Ok(())
    }

    fn remaining(&self) -> Option<Duration> {
        self.opts
            .deadline
            .map(|d| d.saturating_sub(self.started.elapsed()))
    }

    /// True once the round cap or the deadline is reached.
    fn finished(&self) -> bool {
        self.opts.rounds.is_some_and(|r| self.rounds >= r)
            || self.remaining().is_some_and(|r| r.is_zero())
    }

    /// Sleeps about `secs` × pace (±25 %), never past the deadline.
    fn pause(&mut self, secs: f64) {
        let jitter = 0.75 + self.rng.f64() * 0.5;
        let want = (secs * self.opts.pace * jitter).max(0.0);
        if want <= 0.0 || !want.is_finite() {
            return;
        }
        let mut d = Duration::from_secs_f64(want.min(86_400.0));
        if let Some(r) = self.remaining() {
            d = d.min(r);
        }
        std::thread::sleep(d);
    }

    fn crash(&mut self) -> anyhow::Result<i32> {
        self.say("loading agent prompt from AGENT_PROMPT.md")?;
        self.say("connecting to model endpoint http://127.0.0.1:9/v1 ...")?;
        self.pause(0.3);
        self.say(
            "FATAL: cannot connect to model endpoint http://127.0.0.1:9/v1 (connection refused)",
        )?;
        Ok(2)
    }

    fn claim(&mut self, repo: &TeamRepo, tip: &TipView, task: &Task) -> anyhow::Result<Claim> {
        let open = tip.tasks.iter().filter(|t| !t.done).count();
        self.say("● Read(TASKS.md)")?;
        self.say(format!(
            "  ⎿  {open} open tasks, {} claimed",
            tip.locks.len()
        ))?;
        self.say(format!("Claiming {}: {}", task.id, task.title))?;
        let path = lock_path(&task.id);
        self.say(format!("● Write({path})"))?;
        let content = format!(
            "agent: {}\ntask: {}\nclaimed: {}\nnote: {}\n",
            self.opts.slot,
            task.id,
            now_rfc3339(),
            task.title
        );
        let branch = repo.branch_name().to_string();
        let message = format!("claim {}", task.id);
        self.say(format!(
            "● Bash(git add {path} && git commit -m \"{message}\" && git push origin HEAD:{branch})"
        ))?;
        let mut base = tip.commit;
        // Pushes rejected because *other* files changed are rebased and pushed again, as
        // `git pull --rebase && git push` would; only someone else's claim on this very task
        // (or it being finished meanwhile) loses the race.
        for _ in 0..CLAIM_PUSH_ATTEMPTS {
            let new = repo.commit_on(
                base,
                &self.opts.slot,
                &message,
                &[Edit::Write {
                    path: path.clone(),
                    content: content.clone().into_bytes(),
                }],
            )?;
            // The time between fetch and push is where real agents lose races.
            self.pause(1.2);
            self.say(format!("To {}", repo.path().display()))?;
            match repo.push(base, new, &message) {
                Ok(()) => {
                    self.say(format!(
                        "   {}..{}  HEAD -> {branch}",
                        short(base),
                        short(new)
                    ))?;
                    return Ok(Claim::Won);
                }
                Err(e) if e.is_rejection() => {
                    self.say(format!(
                        " ! [rejected]        HEAD -> {branch} (fetch first)"
                    ))?;
                    self.say(format!(
                        "error: failed to push some refs to '{}'",
                        repo.path().display()
                    ))?;
                    let now = repo.fetch()?;
                    if now.locks.contains_key(&task.id)
                        || now.tasks.iter().any(|t| t.id == task.id && t.done)
                    {
                        return Ok(Claim::Lost {
                            holder: now.holder(&task.id).map(str::to_string),
                        });
                    }
                    self.say(format!(
                        "● Bash(git pull --rebase && git push origin HEAD:{branch})"
                    ))?;
                    self.say(format!(
                        "Successfully rebased and updated refs/heads/{branch}."
                    ))?;
                    base = now.commit;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Claim::Lost { holder: None })
    }

    /// Claims one task (retrying until one is won), for agents that then misbehave with it.
    fn claim_any(&mut self, repo: &TeamRepo) -> anyhow::Result<Option<Task>> {
        while !self.finished() {
            let tip = repo.fetch()?;
            let open = tip.claimable();
            if open.is_empty() {
                return Ok(None);
            }
            let task = open[self.rng.usize(..open.len())].clone();
            if let Claim::Won = self.claim(repo, &tip, &task)? {
                return Ok(Some(task));
            }
            self.say("hint: lost the race — trying another task")?;
            self.pause(1.0);
        }
        Ok(None)
    }

    fn run_looper(&mut self, repo: &TeamRepo) -> anyhow::Result<i32> {
        let task = self.claim_any(repo)?;
        let file = match &task {
            Some(t) => Self::source_file(&suite_for(t)),
            None => "engine/src/buffer.rs".into(),
        };
        let mut attempt = 1u32;
        while !self.finished() {
            let block = [
                "● Bash(cargo build -p engine 2>&1 | tail -5)".to_string(),
                format!(
                    "  ⎿  error[E0502]: cannot borrow `self.buf` as mutable because it is also borrowed as immutable (req_{:08x})",
                    self.rng.u32(..)
                ),
                format!("● Read({file})"),
                format!("  ⎿  Read {} lines", 180 + attempt % 7),
                format!("● Update({file})"),
                format!("  ⎿  Updated {file} with 2 additions and 2 removals"),
                format!(
                    "[{}] Let me try a different approach to the borrow error (attempt {attempt}).",
                    now_rfc3339()
                ),
                format!(
                    "{{\"type\":\"assistant\",\"message\":{{\"id\":\"msg_{:016x}\",\"usage\":{{\"input_tokens\":{},\"output_tokens\":{}}}}}}}",
                    self.rng.u64(..),
                    self.rng.u32(4_000..6_000),
                    self.rng.u32(400..800)
                ),
            ];
            // A looping agent is a chatty one: about ten lines a second at demo pace.
            for line in &block {
                self.say(line)?;
                self.pause(0.1);
            }
            attempt += 1;
            self.rounds += 1;
        }
        Ok(0)
    }

    fn chatter(&mut self) -> anyhow::Result<i32> {
        const FILES: [&str; 6] = [
            "src/lib.rs",
            "src/parser.rs",
            "src/cache.rs",
            "tests/api.rs",
            "src/net/retry.rs",
            "README.md",
        ];
        while !self.finished() {
            let file = FILES[self.rng.usize(..FILES.len())];
            let line = match self.rounds % 4 {
                0 => format!("● Read({file})"),
                1 => format!("  ⎿  Read {} lines", self.rng.u32(20..900)),
                2 => format!(
                    "● Update({file})\n  ⎿  Updated {file} with {} additions and {} removals",
                    self.rng.u32(1..40),
                    self.rng.u32(0..20)
                ),
                _ => format!(
                    "I'll look at how {file} handles the edge case next (step {}).",
                    self.rounds
                ),
            };
            self.say(line)?;
            self.rounds += 1;
            self.pause(1.0);
        }
        Ok(0)
    }

    fn run_staller(&mut self, repo: &TeamRepo) -> anyhow::Result<i32> {
        if let Some(task) = self.claim_any(repo)? {
            let suite = suite_for(&task);
            self.say(format!("● Read({})", Self::source_file(&suite)))?;
            self.pause(1.0);
            self.say("● Bash(python -m pytest tests/integration -x --timeout=0)")?;
            self.say("  ⎿  waiting for database at db:5432 ...")?;
        }
        // Silent from here on, lock held: what a hung agent looks like from outside.
        loop {
            match self.remaining() {
                Some(r) if r.is_zero() => return Ok(0),
                Some(r) => std::thread::sleep(r),
                None => std::thread::sleep(Duration::from_secs(3600)),
            }
        }
    }
}
