//! `drover demo`: prepares a throwaway fleet (bare upstream repo, config, demo image built from
//! drover's own binary) and supervises it for real; `--clean` removes what a demo created.

use std::sync::Arc;

use anyhow::Context;

use super::DemoArgs;
use super::run::{self, Face};
use crate::demo::{self, DemoOptions};
use crate::logging::LogFormat;
use crate::supervisor::SupervisorOptions;

pub async fn demo(args: DemoArgs, format: LogFormat, level: &str) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(demo::default_dir);
    if args.clean {
        let report = demo::clean(
            &dir,
            demo::fleet::DEFAULT_FLEET,
            Some(demo::DEFAULT_IMAGE_TAG),
        )
        .await?;
        println!("removed: {report:?}");
        return Ok(());
    }
    let opts = DemoOptions {
        fleet: args.fleet.clone(),
        pace: args.pace,
        ..DemoOptions::default()
    };
    eprintln!("drover demo: building the demo image from this binary (no registry needed)…");
    let image = demo::ensure_demo_image(&opts.image)
        .await
        .context("building the demo image")?;
    eprintln!("drover demo: image {} ready", image.tag);
    let layout = demo::prepare(&dir, &opts)?;
    eprintln!(
        "drover demo: fleet `{}` in {} (upstream repo {}); clean up with `drover demo --clean`",
        layout.fleet,
        layout.root.display(),
        layout.upstream.display()
    );
    let cfg = crate::config::load(&layout.config)?;
    let face = if args.no_tui {
        Face::Headless
    } else {
        Face::Tui { read_only: false }
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
    run::supervise(cfg, face, opts, args.duration).await
}
