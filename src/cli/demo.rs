//! `drover demo`: prepares a throwaway fleet (bare upstream repo, config, demo image built from
//! drover's own binary) and supervises it for real; a second `drover demo` resumes the previous
//! one (adopting its agents) or, with `--fresh` or when it cannot, replaces it — and says which;
//! `--clean` removes what the demo's marker names.
//!
//! Invariant: a demo that a running drover supervises is never cleaned or replaced under it.

use std::sync::Arc;

use anyhow::{Context, bail};

use super::DemoArgs;
use super::run::{self, FaceChoice};
use crate::demo::{self, DemoLayout, DemoOptions};
use crate::logging::LogFormat;
use crate::supervisor::SupervisorOptions;

pub async fn demo(args: DemoArgs, format: LogFormat, level: &str) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(demo::default_dir);
    // Hints name `--dir` only when the demo is not in the default folder.
    let dir_arg = match &args.dir {
        Some(d) => format!(" --dir {}", d.display()),
        None => String::new(),
    };
    let previous = demo::find_previous(&dir)?;
    if let Some(prev) = &previous {
        refuse_if_supervised(prev, &dir_arg)?;
    }
    if args.clean {
        let report = demo::clean(&dir).await?;
        print!("{report}");
        return Ok(());
    }
    let opts = DemoOptions {
        fleet: args.fleet.clone(),
        image: args.image.clone(),
        pace: args.pace,
        ..DemoOptions::default()
    };
    let resume = match &previous {
        None => None,
        Some(prev) => match replace_reason(prev, &opts, args.fresh) {
            None => Some(prev.clone()),
            Some(why) => {
                eprintln!(
                    "drover demo: replacing the previous demo in {} ({why})",
                    dir.display()
                );
                let report = demo::clean(&dir).await?;
                for line in report.to_string().lines() {
                    eprintln!("  {line}");
                }
                None
            }
        },
    };
    let tag = resume
        .as_ref()
        .map_or(opts.image.as_str(), |p| p.image.as_str());
    eprintln!("drover demo: building the demo image from this binary (no registry needed)…");
    let image = demo::ensure_demo_image(tag)
        .await
        .context("building the demo image")?;
    eprintln!("drover demo: image {} ready", image.tag);
    if !image.shell {
        eprintln!(
            "drover demo: take-over (`t`) cannot open a shell in this demo: the image has no /bin/sh because {} is missing on this host (apt-get install busybox-static, then `drover demo --fresh`)",
            demo::image::HOST_BUSYBOX
        );
    }
    let layout = match resume {
        Some(prev) => {
            eprintln!(
                "drover demo: resuming the demo in {} (fleet `{}`): agents still running are adopted, the rest restart; `drover demo --fresh{dir_arg}` starts a new one",
                prev.root.display(),
                prev.fleet
            );
            prev
        }
        None => {
            let layout = demo::prepare(&dir, &opts)?;
            eprintln!(
                "drover demo: new fleet `{}` in {} (upstream repo {})",
                layout.fleet,
                layout.root.display(),
                layout.upstream.display()
            );
            layout
        }
    };
    let cmd = super::hint::command();
    eprintln!(
        "drover demo: from another terminal, `{cmd} status`, `{cmd} events` and `{cmd} attach` find this demo while it runs (or pass --config {})",
        layout.config.display()
    );
    let cfg = crate::config::load(&layout.config)?;
    let face = if args.no_tui {
        FaceChoice::Headless
    } else {
        FaceChoice::Tui { read_only: false }
    };
    let _log = run::init_logging(&cfg, face, format, level)?;
    // The demo's missing-env agent must really miss its key, whatever this shell exports.
    let env: crate::supervisor::EnvLookup = Arc::new(|k: &str| {
        if k == demo::agent::DEMO_API_KEY {
            None
        } else {
            std::env::var(k).ok()
        }
    });
    let opts = SupervisorOptions {
        env,
        ..Default::default()
    };
    run::supervise(cfg, face, opts, args.duration).await?;
    eprint!("{}", exit_hint(&cmd, &layout, &dir_arg));
    Ok(())
}

/// Why a previous demo is replaced rather than resumed (`None`: resume it).
fn replace_reason(prev: &DemoLayout, opts: &DemoOptions, fresh: bool) -> Option<String> {
    if fresh {
        return Some("--fresh".into());
    }
    if prev.fleet != opts.fleet {
        return Some(format!(
            "it is fleet `{}`, this one is `{}`",
            prev.fleet, opts.fleet
        ));
    }
    if prev.fleet_id.is_empty() {
        return Some("it was made by an older drover".into());
    }
    if let Err(e) = crate::config::load(&prev.config) {
        return Some(format!("its config cannot be used: {e}"));
    }
    None
}

/// Fails when a drover is supervising `prev` right now (its control socket answers).
fn refuse_if_supervised(prev: &DemoLayout, dir_arg: &str) -> anyhow::Result<()> {
    let socket = crate::control::transport::recorded_socket(&prev.data_dir);
    if let Some(s) = socket
        && std::os::unix::net::UnixStream::connect(&s).is_ok()
    {
        bail!(
            "a drover is supervising the demo in {} right now — watch it with `{cmd} attach --config {}`, or quit it first (then `{cmd} demo{dir_arg}` resumes it)",
            prev.root.display(),
            prev.config.display(),
            cmd = super::hint::command()
        );
    }
    Ok(())
}

/// What the operator can do next, printed when the demo's TUI or time limit ends; `cmd` runs
/// drover in the user's situation (see [`super::hint`]).
fn exit_hint(cmd: &str, layout: &DemoLayout, dir_arg: &str) -> String {
    let cfg = layout.config.display();
    format!(
        "drover demo: stopped supervising; the agents keep running in their containers.\n\
         \x20 resume:          {cmd} demo{dir_arg}\n\
         \x20 while it runs:   {cmd} status, {cmd} attach, {cmd} events (another terminal, any folder)\n\
         \x20 history now:     {cmd} events --config {cfg}  (or {cmd} report --config …)\n\
         \x20 remove it all:   {cmd} demo --clean{dir_arg}\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_previous_demo_is_resumed_unless_it_cannot_be_or_fresh_is_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = DemoOptions::default();
        let prev = demo::prepare(&tmp.path().join("d"), &opts).unwrap();
        assert_eq!(replace_reason(&prev, &opts, false), None);
        assert_eq!(
            replace_reason(&prev, &opts, true).as_deref(),
            Some("--fresh")
        );
        let other = DemoOptions {
            fleet: "other".into(),
            ..DemoOptions::default()
        };
        assert!(
            replace_reason(&prev, &other, false)
                .unwrap()
                .contains("`other`")
        );
        let old = DemoLayout {
            fleet_id: String::new(),
            ..prev.clone()
        };
        assert!(
            replace_reason(&old, &opts, false)
                .unwrap()
                .contains("older drover")
        );
        std::fs::write(&prev.config, "[fleet\n").unwrap();
        assert!(
            replace_reason(&prev, &opts, false)
                .unwrap()
                .contains("config")
        );
    }

    #[test]
    fn the_exit_hint_names_the_folder_only_when_it_is_not_the_default() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = demo::prepare(&tmp.path().join("d"), &DemoOptions::default()).unwrap();
        let plain = exit_hint("drover", &layout, "");
        assert!(plain.contains("resume:          drover demo\n"), "{plain}");
        assert!(plain.contains("drover demo --clean\n"), "{plain}");
        let with = exit_hint("drover", &layout, " --dir /x");
        assert!(with.contains("drover demo --clean --dir /x"), "{with}");
        // Not installed: every line names the command that works.
        let cargo = exit_hint("cargo run --release --locked --", &layout, "");
        assert!(
            cargo.contains(
                "cargo run --release --locked -- status, cargo run --release --locked -- attach"
            ),
            "{cargo}"
        );
        assert!(!cargo.contains(" drover "), "{cargo}");
    }
}
