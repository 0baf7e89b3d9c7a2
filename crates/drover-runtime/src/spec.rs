//! What a slot's container looks like: deterministic name, drover's labels, and the create body
//! (image, command, env, mounts, limits, hardening) built from a role's config
//! (resolved by the config, which depends on this crate, never the reverse).
//!
//! Invariants: the name is a pure function of (fleet, slot), so Docker itself refuses a
//! duplicate; the spec hash covers everything that defines the container except secret *values*
//! (pass_env contributes names only), so changing the config marks old containers stale without
//! ever deriving anything from a secret.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use serde::Serialize;

pub use crate::identity::{
    LABEL_FLEET, LABEL_FLEET_ID, LABEL_GENERATION, LABEL_ROLE, LABEL_SLOT, LABEL_SPEC_HASH,
    container_name, fleet_filter, fleet_id_filter,
};

/// Default hostname template of agent containers.
pub const DEFAULT_HOSTNAME: &str = "{slot}";

/// The hostname a slot's containers get from `template` (default [`DEFAULT_HOSTNAME`]);
/// `None` when the template is empty (Docker then uses the short container id).
pub fn container_hostname(template: Option<&str>, fleet: &str, slot: &str) -> Option<String> {
    let t = template.unwrap_or(DEFAULT_HOSTNAME);
    if t.trim().is_empty() {
        return None;
    }
    Some(t.replace("{slot}", slot).replace("{fleet}", fleet))
}

fn is_default_hostname(t: &Option<String>) -> bool {
    t.as_deref().is_none_or(|t| t == DEFAULT_HOSTNAME)
}

/// A bind mount as drover applies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BindMount {
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

/// Everything that defines a role's containers, resolved from config (paths absolute).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContainerSpec {
    pub fleet: String,
    pub role: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Literal env from the config (values may be secrets: never log this struct's env).
    #[serde(skip)]
    pub env: Vec<(String, String)>,
    /// Names only; values are read from drover's environment at create time.
    pub pass_env: Vec<String>,
    pub required_env: Vec<String>,
    pub mounts: Vec<BindMount>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub no_new_privileges: bool,
    pub read_only_rootfs: bool,
    pub preflight: Option<Vec<String>>,
    pub probe_exec: Option<Vec<String>>,
    /// Hostname template (see [`container_hostname`]); left out of the hash when default so
    /// containers created before it existed are not marked stale.
    #[serde(skip_serializing_if = "is_default_hostname")]
    pub hostname: Option<String>,
}

impl ContainerSpec {
    /// A stable 64-bit FNV-1a hash (hex) of the spec. Literal env values count (they define the
    /// container) but are folded in as hashes of `key=value`, never stored.
    pub fn spec_hash(&self) -> String {
        let mut h = Fnv64::new();
        h.write(serde_json::to_string(self).unwrap_or_default().as_bytes());
        let mut env: Vec<&(String, String)> = self.env.iter().collect();
        env.sort();
        for (k, v) in env {
            h.write(k.as_bytes());
            h.write(b"=");
            h.write(v.as_bytes());
            h.write(b"\0");
        }
        format!("{:016x}", h.finish())
    }

    /// The Docker create body for `slot` at `generation`. `lookup` reads drover's environment
    /// (injected so tests control it); values go straight into the request and nowhere else.
    pub fn create_body(
        &self,
        slot: &str,
        generation: u64,
        spec_hash: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> ContainerCreateBody {
        self.create_body_for(slot, generation, spec_hash, "", lookup)
    }

    /// [`Self::create_body`] with the fleet's identity label (`fleet_id`, from the store).
    pub fn create_body_for(
        &self,
        slot: &str,
        generation: u64,
        spec_hash: &str,
        fleet_id: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> ContainerCreateBody {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for name in &self.pass_env {
            if let Some(v) = lookup(name) {
                env.push(format!("{name}={v}"));
            }
        }
        env.push(format!("DROVER_SLOT={slot}"));
        env.push(format!("DROVER_ROLE={}", self.role));
        env.push(format!("DROVER_FLEET={}", self.fleet));
        env.push(format!("DROVER_GENERATION={generation}"));
        // An empty fleet id (preflight containers) leaves the identity label out.
        let labels = crate::identity::labels(
            &self.fleet,
            fleet_id,
            slot,
            &self.role,
            generation,
            spec_hash,
        )
        .into_iter()
        .filter(|(k, v)| *k != LABEL_FLEET_ID || !v.is_empty())
        .map(|(k, v)| (k.to_string(), v))
        .collect::<HashMap<_, _>>();
        let mut security_opt = Vec::new();
        if self.no_new_privileges {
            security_opt.push("no-new-privileges:true".to_string());
        }
        let mounts = self
            .mounts
            .iter()
            .map(|m| Mount {
                typ: Some(MountType::BIND),
                source: Some(m.source.display().to_string()),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect();
        let mut tmpfs = HashMap::new();
        if self.read_only_rootfs {
            // A read-only root still needs somewhere to write scratch files.
            tmpfs.insert("/tmp".to_string(), "rw,nosuid,size=256m".to_string());
        }
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: self.command.clone(),
            env: Some(env),
            labels: Some(labels),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: container_hostname(self.hostname.as_deref(), &self.fleet, slot),
            host_config: Some(HostConfig {
                memory: Some(self.memory),
                memory_swap: Some(self.memory),
                nano_cpus: Some(self.nano_cpus),
                pids_limit: Some(self.pids),
                cap_drop: Some(self.cap_drop.clone()),
                cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
                security_opt: Some(security_opt),
                readonly_rootfs: Some(self.read_only_rootfs),
                mounts: Some(mounts),
                tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// True if any mount would hand the Docker socket to the agent (see
    /// [`exposes_docker_socket`]).
    pub fn mounts_docker_socket(&self, docker_host: Option<&str>) -> bool {
        self.mounts
            .iter()
            .any(|m| exposes_docker_socket(&m.source, docker_host))
    }
}

/// Where the Docker daemon's socket may be on this host: the configured `unix://` host,
/// `$DOCKER_HOST` and the default path.
fn daemon_socket_paths(docker_host: Option<&str>) -> Vec<PathBuf> {
    let env = std::env::var("DOCKER_HOST").ok();
    [
        docker_host,
        env.as_deref(),
        Some("unix:///var/run/docker.sock"),
    ]
    .into_iter()
    .flatten()
    .filter_map(|h| h.strip_prefix("unix://"))
    .map(PathBuf::from)
    .collect()
}

/// True if bind-mounting `source` hands the agent the Docker daemon's socket, whatever the
/// path is called: the path (links resolved) is the daemon's socket file — same device and
/// inode, which also catches symlinks and hard links — or a folder holding it (`/run`, `/var`)
/// or a hard link to it, or any socket named `docker.sock`.
pub fn exposes_docker_socket(source: &std::path::Path, docker_host: Option<&str>) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let named = source.file_name().is_some_and(|n| n == "docker.sock");
    let Ok(meta) = std::fs::metadata(source) else {
        // Nothing there yet (validation reports a missing source): judge by the name.
        return named;
    };
    if meta.file_type().is_socket() && named {
        return true;
    }
    let daemon = daemon_socket_paths(docker_host);
    let same_file = daemon
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|d| d.file_type().is_socket())
        .any(|d| d.dev() == meta.dev() && d.ino() == meta.ino());
    if same_file {
        return true;
    }
    if meta.is_dir() {
        let Ok(dir) = std::fs::canonicalize(source) else {
            return false;
        };
        if daemon
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .any(|sock| sock.starts_with(&dir))
        {
            return true;
        }
        let sockets: Vec<(u64, u64)> = daemon
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .filter(|d| d.file_type().is_socket())
            .map(|d| (d.dev(), d.ino()))
            .collect();
        return !sockets.is_empty() && holds_socket_link(&dir, &sockets);
    }
    false
}

/// How many folder entries [`holds_socket_link`] reads before it stops: a mounted workspace
/// can be huge (`node_modules`, `target`), and config validation must stay quick. A link
/// hidden deeper than this is not found; the name and symlink checks above still hold.
const SOCKET_SEARCH_ENTRIES: usize = 20_000;

/// True if a socket under `dir` (not following symlinks, at most [`SOCKET_SEARCH_ENTRIES`]
/// entries) is one of `sockets` (device, inode): a hard link to the daemon's socket inside
/// a mounted folder hands the agent the engine as surely as the socket itself.
fn holds_socket_link(dir: &std::path::Path, sockets: &[(u64, u64)]) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SOCKET_SEARCH_ENTRIES {
                return false;
            }
            // The entry's own type (lstat-like): symlinks are not followed, so a loop of
            // links cannot keep the walk going.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_socket()
                && let Ok(m) = entry.metadata()
                && sockets.contains(&(m.dev(), m.ino()))
            {
                return true;
            }
        }
    }
    false
}

/// FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`), enough for change
/// detection.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
