//! `drover demo --clean`: removes exactly what one demo's marker names — its containers, its
//! image and its folder — and nothing else.
//!
//! Invariants: nothing is removed without a marker written by `prepare` in a folder owned by
//! the user running drover. A container is this demo's only when its name is
//! `drover-<fleet>-<slot>`, its labels name the marker's fleet and slot, **and** it mounts the
//! marker's own upstream repo (a path inside the demo folder, so no other fleet can share it);
//! anything else wearing the fleet's labels is left alone and named in the report. The image is
//! removed only when it carries the demo label and no container outside this demo uses it.

use std::fmt;
use std::path::Path;

use anyhow::Context;

use super::fleet::{DemoLayout, MARKER_FILE, check_owned, find_previous};
use super::image::remove_demo_image;
use drover_runtime::docker::Docker;
use drover_runtime::spec::{LABEL_FLEET, LABEL_SLOT, container_name, fleet_filter};

/// What [`clean`] removed, and what it left alone with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Names of the removed containers.
    pub containers_removed: Vec<String>,
    /// The removed image's tag.
    pub image_removed: Option<String>,
    pub dir_removed: Option<std::path::PathBuf>,
    /// Things left alone, with why.
    pub notes: Vec<String>,
}

impl fmt::Display for CleanReport {
    /// Plain words for the terminal, one line per fact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.containers_removed.len();
        if n == 0 && self.image_removed.is_none() && self.dir_removed.is_none() {
            writeln!(f, "nothing removed")?;
            for note in &self.notes {
                writeln!(f, "  {note}")?;
            }
            return Ok(());
        }
        if n == 0 {
            writeln!(f, "no demo container to remove")?;
        } else {
            writeln!(
                f,
                "removed {n} container{}: {}",
                if n == 1 { "" } else { "s" },
                self.containers_removed.join(", ")
            )?;
        }
        match &self.image_removed {
            Some(tag) => writeln!(f, "removed image {tag}")?,
            None => writeln!(f, "no demo image removed")?,
        }
        match &self.dir_removed {
            Some(d) => writeln!(f, "removed folder {}", d.display())?,
            None => writeln!(f, "no demo folder removed")?,
        }
        for note in &self.notes {
            writeln!(f, "left alone: {note}")?;
        }
        Ok(())
    }
}

/// Removes the demo whose marker is in `dir`. Without a marker nothing is touched (the report
/// says so). Safe to repeat.
pub async fn clean(dir: &Path) -> anyhow::Result<CleanReport> {
    let mut report = CleanReport::default();
    let Some(layout) = find_previous(dir)? else {
        if dir.exists() {
            report.notes.push(format!(
                "{} has no {MARKER_FILE}, so no demo created it",
                dir.display()
            ));
        } else {
            report
                .notes
                .push(format!("there is no demo in {}", dir.display()));
        }
        return Ok(report);
    };
    check_owned(dir)?;
    let docker = Docker::connect(None).await?;
    let (ours, foreign) = demo_containers(&docker, &layout).await?;
    for (id, name) in ours {
        docker
            .remove(&id)
            .await
            .with_context(|| format!("cannot remove container {name}"))?;
        report.containers_removed.push(name);
    }
    for name in foreign {
        report.notes.push(format!(
            "container {name} wears the labels of fleet `{}` but does not use this demo's repo",
            layout.fleet
        ));
    }
    let users = containers_using(&docker, &layout.image).await?;
    if users.is_empty() {
        match remove_demo_image(&docker, &layout.image).await {
            Ok(true) => report.image_removed = Some(layout.image.clone()),
            Ok(false) => {}
            Err(e) => report.notes.push(format!("{e:#}")),
        }
    } else {
        report.notes.push(format!(
            "image {} is still used by {}",
            layout.image,
            users.join(", ")
        ));
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    report.dir_removed = Some(layout.root.clone());
    Ok(report)
}

/// (id, name) of the containers that are this demo's, and the names of those that only wear
/// its fleet label.
async fn demo_containers(
    docker: &Docker,
    layout: &DemoLayout,
) -> anyhow::Result<(Vec<(String, String)>, Vec<String>)> {
    let filter = fleet_filter(&layout.fleet);
    let list = docker
        .containers_labelled(&filter)
        .await
        .context("cannot list the demo's containers")?;
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for c in list {
        if is_this_demos(layout, &c.name, &c.labels, &c.mount_sources) {
            ours.push((c.id, c.name));
        } else {
            foreign.push(c.name);
        }
    }
    Ok((ours, foreign))
}

/// The identity test of the module invariant (pure, so it is tested without Docker).
pub fn is_this_demos(
    layout: &DemoLayout,
    name: &str,
    labels: &std::collections::HashMap<String, String>,
    mount_sources: &[String],
) -> bool {
    let Some(slot) = labels.get(LABEL_SLOT) else {
        return false;
    };
    labels.get(LABEL_FLEET) == Some(&layout.fleet)
        && name == container_name(&layout.fleet, slot)
        && mount_sources
            .iter()
            .any(|s| Path::new(s) == layout.upstream.as_path())
}

/// Names of the containers (any fleet, any state) created from `image`.
async fn containers_using(docker: &Docker, image: &str) -> anyhow::Result<Vec<String>> {
    docker
        .containers_from_image(image)
        .await
        .context("cannot list containers")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn layout() -> DemoLayout {
        DemoLayout {
            root: "/d".into(),
            fleet: "demo".into(),
            fleet_id: "f00d".into(),
            image: "drover-demo:latest".into(),
            upstream: PathBuf::from("/d/upstream.git"),
            config: "/d/drover.toml".into(),
            data_dir: "/d/data".into(),
        }
    }

    fn labels(fleet: &str, slot: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_FLEET.to_string(), fleet.to_string()),
            (LABEL_SLOT.to_string(), slot.to_string()),
        ])
    }

    #[test]
    fn only_containers_named_labelled_and_mounting_this_demos_repo_are_its() {
        let l = layout();
        let up = vec!["/d/upstream.git".to_string()];
        assert!(is_this_demos(
            &l,
            "drover-demo-worker-1",
            &labels("demo", "worker-1"),
            &up
        ));
        // Another demo folder with the same fleet name.
        assert!(!is_this_demos(
            &l,
            "drover-demo-worker-1",
            &labels("demo", "worker-1"),
            &["/other/upstream.git".to_string()]
        ));
        // Forged labels on a container of another name.
        assert!(!is_this_demos(
            &l,
            "my-database",
            &labels("demo", "worker-1"),
            &up
        ));
        assert!(!is_this_demos(
            &l,
            "drover-demo-worker-1",
            &labels("prod", "worker-1"),
            &up
        ));
        assert!(!is_this_demos(
            &l,
            "drover-demo-worker-1",
            &HashMap::new(),
            &up
        ));
    }

    #[test]
    fn the_report_reads_as_words() {
        let r = CleanReport {
            containers_removed: vec!["drover-demo-worker-1".into()],
            image_removed: Some("drover-demo:latest".into()),
            dir_removed: Some("/d".into()),
            notes: vec!["container x wears …".into()],
        };
        let text = r.to_string();
        assert!(text.contains("removed 1 container: drover-demo-worker-1"));
        assert!(text.contains("removed image drover-demo:latest"));
        assert!(text.contains("removed folder /d"));
        assert!(text.contains("left alone: container x"));
        assert!(!text.contains("CleanReport"));
        let nothing = CleanReport {
            notes: vec!["there is no demo in /d".into()],
            ..CleanReport::default()
        };
        assert_eq!(
            nothing.to_string(),
            "nothing removed\n  there is no demo in /d\n"
        );
    }
}
