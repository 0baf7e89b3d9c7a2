//! Reading files out of a container (running or stopped) through Docker's archive API — the
//! same call `docker cp` makes — for JUnit XML results written inside the container.
//!
//! Invariants: memory is bounded: the tar stream is read up to [`MAX_ARCHIVE_BYTES`] and at
//! most [`MAX_FILES`] files of at most [`MAX_FILE_BYTES`] each are kept; bigger files are
//! listed without their content, so the caller can say why they were skipped.

use futures::StreamExt;

use super::{Docker, RuntimeError};

/// Bytes of one archive read at most (the rest of the stream is dropped).
pub const MAX_ARCHIVE_BYTES: usize = 64 * 1024 * 1024;
pub const MAX_FILES: usize = 500;
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub use crate::port::ArchivedFile;

impl Docker {
    /// The regular files under `path` in container `id`, whose names end with `suffix`.
    /// A missing folder is `Ok(empty)` (results may not exist yet).
    pub async fn read_folder(
        &self,
        id: &str,
        path: &str,
        suffix: &str,
    ) -> Result<Vec<ArchivedFile>, RuntimeError> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.api.download_from_container(id, Some(options));
        let mut tar_bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    let room = MAX_ARCHIVE_BYTES.saturating_sub(tar_bytes.len());
                    tar_bytes.extend_from_slice(bytes.get(..bytes.len().min(room)).unwrap_or(&[]));
                    if room <= bytes.len() {
                        break;
                    }
                }
                Err(e) => {
                    return match self.err(e) {
                        RuntimeError::NotFound(_) => Ok(Vec::new()),
                        other => Err(other),
                    };
                }
            }
        }
        Ok(files_in_tar(&tar_bytes, suffix))
    }
}

/// Regular files of a tar archive whose names end with `suffix`. A truncated or damaged archive
/// yields the files read before the damage.
pub fn files_in_tar(bytes: &[u8], suffix: &str) -> Vec<ArchivedFile> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    let Ok(entries) = archive.entries() else {
        return out;
    };
    for entry in entries {
        let Ok(mut entry) = entry else { break };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = match entry.path() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(_) => continue,
        };
        if !path.ends_with(suffix) {
            continue;
        }
        let size = entry.header().size().unwrap_or(0);
        let mtime = entry.header().mtime().unwrap_or(0);
        let content = if size <= MAX_FILE_BYTES {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry.read_to_end(&mut buf).ok().map(|_| buf)
        } else {
            None
        };
        out.push(ArchivedFile {
            path,
            size,
            mtime,
            content,
        });
        if out.len() >= MAX_FILES {
            break;
        }
    }
    out
}
