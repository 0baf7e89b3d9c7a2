//! The demo agent image, built locally with no registry: drover's own binary plus the shared
//! libraries it links (as `ldd` lists them) and, when the host has it, a static busybox as
//! `/bin/sh` (so take-over opens a shell) in an otherwise empty rootfs, imported with
//! `docker import`. Its command runs `drover agent-sim`.
//!
//! Invariant: the image carries the hash of everything copied into it (label
//! [`LABEL_DEMO_HASH`]), so an unchanged binary reuses the image and a rebuilt binary never runs
//! stale agent code. Only images with that label are ever removed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};

use drover_runtime::docker::Docker;

/// Tag `drover demo` uses unless told otherwise.
pub const DEFAULT_IMAGE_TAG: &str = "drover-demo:latest";
/// Label holding the content hash of the image's files.
pub const LABEL_DEMO_HASH: &str = "io.drover.demo-hash";
/// Where drover's binary lives inside the image (on `PATH`).
pub const IMAGE_BINARY: &str = "/usr/local/bin/drover";

/// Bumped when the rootfs layout changes, so old images are rebuilt.
const LAYOUT_VERSION: &str = "drover-demo-rootfs v2";

/// Debian's `busybox-static`: one static file that is a whole shell toolbox.
pub const HOST_BUSYBOX: &str = "/bin/busybox";
/// The busybox applets linked in the image (enough to look around a workspace).
const APPLETS: &[&str] = &[
    "sh", "ash", "ls", "cat", "head", "tail", "less", "grep", "find", "ps", "env", "pwd", "echo",
    "vi", "wc", "du", "df", "id", "mkdir", "rm", "cp", "mv", "touch", "sleep", "kill", "top",
];

/// The outcome of [`ensure_demo_image`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoImage {
    pub tag: String,
    /// Hash of the binary, its libraries and the layout.
    pub hash: String,
    /// False when an image with the same hash already existed.
    pub built: bool,
    /// Whether the image has `/bin/sh` (busybox), which take-over needs.
    pub shell: bool,
}

/// Builds the demo image from the running executable unless `tag` already holds this build.
pub async fn ensure_demo_image(tag: &str) -> anyhow::Result<DemoImage> {
    let exe = std::env::current_exe().context("cannot locate drover's own executable")?;
    ensure_demo_image_from(tag, &exe).await
}

/// Builds the demo image from `exe` (which must understand `agent-sim`) unless `tag` already
/// holds an image with the same content hash.
pub async fn ensure_demo_image_from(tag: &str, exe: &Path) -> anyhow::Result<DemoImage> {
    let exe = exe
        .canonicalize()
        .with_context(|| format!("cannot read {}", exe.display()))?;
    let libs = shared_libraries(&exe).await?;
    let busybox = Path::new(HOST_BUSYBOX);
    let shell = busybox.is_file() && is_static(busybox).await;
    let files: Vec<(PathBuf, PathBuf)> =
        std::iter::once((exe.clone(), PathBuf::from(IMAGE_BINARY)))
            .chain(libs.into_iter().map(|l| (l.clone(), l)))
            .chain(shell.then(|| (busybox.to_path_buf(), PathBuf::from("/bin/busybox"))))
            .collect();
    let hash = {
        let files = files.clone();
        tokio::task::spawn_blocking(move || content_hash(&files)).await??
    };
    let docker = Docker::connect(None).await?;
    let existing = image_labels(&docker, tag).await?;
    if let Some((_, labels_hash)) = &existing
        && labels_hash.as_deref() == Some(hash.as_str())
    {
        return Ok(DemoImage {
            tag: tag.to_string(),
            hash,
            built: false,
            shell,
        });
    }
    let staging = tempfile::Builder::new()
        .prefix("drover-demo-rootfs-")
        .tempdir()
        .context("cannot create a staging dir for the demo image")?;
    {
        let root = staging.path().to_path_buf();
        let files = files.clone();
        tokio::task::spawn_blocking(move || stage_rootfs(&root, &files, shell)).await??;
    }
    import(staging.path(), tag, &hash).await?;
    // The previous build lost its tag; drop it unless a container still uses it.
    if let Some((old_id, _)) = existing
        && let Some(new) = image_labels(&docker, tag).await?
        && new.0 != old_id
    {
        let _ = docker.remove_image(&old_id, false).await;
    }
    Ok(DemoImage {
        tag: tag.to_string(),
        hash,
        built: true,
        shell,
    })
}

/// Whether `exe` is statically linked (a dynamic busybox would need its libraries too).
async fn is_static(exe: &Path) -> bool {
    matches!(shared_libraries(exe).await, Ok(libs) if libs.is_empty())
}

/// Removes `tag` if it is a demo image (carries [`LABEL_DEMO_HASH`]); false if there was none.
pub async fn remove_demo_image(docker: &Docker, tag: &str) -> anyhow::Result<bool> {
    match image_labels(docker, tag).await? {
        Some((_, Some(_))) => {
            docker
                .remove_image(tag, true)
                .await
                .with_context(|| format!("cannot remove image {tag}"))?;
            Ok(true)
        }
        Some((_, None)) => bail!("image {tag} is not a drover demo image; leaving it alone"),
        None => Ok(false),
    }
}

/// (image id, demo hash label) of `tag`, or `None` if no such image.
async fn image_labels(
    docker: &Docker,
    tag: &str,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    let facts = docker
        .image_facts(tag)
        .await
        .with_context(|| format!("cannot inspect image {tag}"))?;
    Ok(facts.map(|mut img| (img.id, img.labels.remove(LABEL_DEMO_HASH))))
}

/// The shared libraries and loader `exe` needs, as absolute host paths (none if static).
async fn shared_libraries(exe: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = tokio::process::Command::new("ldd")
        .arg(exe)
        .output()
        .await
        .context("cannot run ldd to list drover's shared libraries (is it installed?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if text.contains("not a dynamic executable")
        || text.contains("statically linked")
        || err.contains("not a dynamic executable")
    {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        bail!("ldd {} failed: {}", exe.display(), err.trim());
    }
    parse_ldd(&text)
}

/// Paths from `ldd` output; a library reported "not found" is an error (the image would not run).
pub fn parse_ldd(text: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!("shared library {} not found (ldd)", name.trim());
                }
                rest
            }
            None => line,
        };
        if let Some(path) = target
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            let p = PathBuf::from(path);
            if !libs.contains(&p) {
                libs.push(p);
            }
        }
    }
    Ok(libs)
}

/// Git blob ids of every file plus their image paths: cheap (libgit2's SHA-1) and stable.
fn content_hash(files: &[(PathBuf, PathBuf)]) -> anyhow::Result<String> {
    let mut manifest = String::from(LAYOUT_VERSION);
    manifest.push('\n');
    for (host, image) in files {
        let id = git2::Oid::hash_file(git2::ObjectType::Blob, host)
            .with_context(|| format!("cannot hash {}", host.display()))?;
        let _ = writeln!(manifest, "{id} {}", image.display());
    }
    let id = git2::Oid::hash_object(git2::ObjectType::Blob, manifest.as_bytes())?;
    Ok(id.to_string())
}

/// Lays out the rootfs under `root`: files at their image paths, `/tmp`, `/etc/passwd`, and
/// with `shell` the busybox applet links in `/bin`.
fn stage_rootfs(root: &Path, files: &[(PathBuf, PathBuf)], shell: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (host, image) in files {
        let rel = image.strip_prefix("/").unwrap_or(image);
        let dest = root.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // copy follows symlinks: the loader path and sonames become real files.
        std::fs::copy(host, &dest)
            .with_context(|| format!("cannot copy {} into the image", host.display()))?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
    }
    for dir in ["tmp", "upstream", "workspace"] {
        let d = root.join(dir);
        std::fs::create_dir_all(&d)?;
        // Agents run as the host user's uid, which the image does not know: world-writable.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777))?;
    }
    if shell {
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
        }
    }
    std::fs::create_dir_all(root.join("etc"))?;
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/tmp:/sbin/nologin\nagent:x:1000:1000:agent:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/sbin/nologin\n",
    )?;
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n",
    )?;
    Ok(())
}

/// `tar -c root | docker import` with the command, environment and hash label set.
async fn import(root: &Path, tag: &str, hash: &str) -> anyhow::Result<()> {
    let mut tar = tokio::process::Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
        ])
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run tar to pack the demo image")?;
    let tar_out: Stdio = tar
        .stdout
        .take()
        .context("tar has no stdout")?
        .try_into()
        .context("cannot pipe tar into docker import")?;
    let changes = [
        format!("LABEL {LABEL_DEMO_HASH}={hash}"),
        "ENV PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
        "ENV HOME=/tmp".to_string(),
        "WORKDIR /workspace".to_string(),
        format!("CMD [\"{IMAGE_BINARY}\", \"agent-sim\", \"--behaviour\", \"worker\"]"),
    ];
    let mut cmd = tokio::process::Command::new("docker");
    cmd.arg("import");
    for c in &changes {
        cmd.args(["--change", c]);
    }
    let out = cmd
        .args(["-", tag])
        .stdin(tar_out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("cannot run `docker import` (is the docker CLI installed?)")?;
    let tar_status = tar.wait_with_output().await?;
    if !tar_status.status.success() {
        bail!(
            "tar of the demo rootfs failed: {}",
            String::from_utf8_lossy(&tar_status.stderr).trim()
        );
    }
    if !out.status.success() {
        bail!(
            "docker import {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ff9a873d000)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007ff9a870c000)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007ff9a773e000)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007ff9a873f000)\n";
        let libs = parse_ldd(text).unwrap();
        assert_eq!(
            libs,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_missing_library_is_an_error() {
        let text = "\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
        let e = parse_ldd(text).unwrap_err().to_string();
        assert!(e.contains("libfoo.so.1"), "{e}");
    }

    #[test]
    fn hash_changes_with_content() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bin");
        std::fs::write(&f, b"one").unwrap();
        let files = vec![(f.clone(), PathBuf::from(IMAGE_BINARY))];
        let a = content_hash(&files).unwrap();
        assert_eq!(a, content_hash(&files).unwrap());
        std::fs::write(&f, b"two").unwrap();
        assert_ne!(a, content_hash(&files).unwrap());
    }
}
