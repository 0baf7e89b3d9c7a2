//! What a slot's container looks like: deterministic name, drover's labels, and the create body
//! (image, command, env, mounts, limits, hardening) built from a role's config.
//!
//! Invariants: the name is a pure function of (fleet, slot), so Docker itself refuses a
//! duplicate; the spec hash covers everything that defines the container except secret *values*
//! (pass_env contributes names only), so changing the config marks old containers stale without
//! ever deriving anything from a secret.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use serde::Serialize;

use crate::config::{Config, RoleSection};

pub use crate::runtime::identity::{
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
    /// Resolves role `role` of `cfg`, adding the upstream repo mount if configured.
    pub fn from_config(cfg: &Config, role: &RoleSection) -> Self {
        let mut mounts: Vec<BindMount> = Vec::new();
        if let Some(up) = &cfg.file.upstream {
            mounts.push(BindMount {
                source: absolute(cfg.resolve(&up.repo)),
                target: up.mount_target.clone(),
                read_only: up.read_only,
            });
        }
        mounts.extend(role.mounts.iter().map(|m| BindMount {
            source: absolute(cfg.resolve(&m.source)),
            target: m.target.clone(),
            read_only: m.read_only,
        }));
        Self {
            fleet: cfg.file.fleet.name.clone(),
            role: role.name.clone(),
            image: role.image.clone(),
            command: role.command.clone(),
            workdir: role.workdir.clone(),
            user: role.user.clone(),
            env: role
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            pass_env: role.pass_env.clone(),
            required_env: role.required_env.clone(),
            mounts,
            memory: i64::try_from(role.limits.memory.0).unwrap_or(i64::MAX),
            nano_cpus: (role.limits.cpus * 1e9) as i64,
            pids: role.limits.pids,
            cap_drop: role.security.cap_drop.clone(),
            cap_add: role.security.cap_add.clone(),
            no_new_privileges: role.security.no_new_privileges,
            read_only_rootfs: role.security.read_only_rootfs,
            preflight: role.preflight.as_ref().map(|p| p.command.clone()),
            probe_exec: role.probe.as_ref().and_then(|p| p.exec.clone()),
            hostname: cfg.file.fleet.hostname.clone(),
        }
    }

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
        let labels = crate::runtime::identity::labels(
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
/// inode, which also catches symlinks and hard links — or a folder holding it (`/run`, `/var`),
/// or any socket named `docker.sock`.
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
        return daemon
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .any(|sock| sock.starts_with(&dir));
    }
    false
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec() -> ContainerSpec {
        let text = "[fleet]\nname = \"t\"\n[[roles]]\nname = \"impl\"\nimage = \"img\"\nenv = { OPENAI_API_KEY = \"sk-1\", MODE = \"x\" }\npass_env = [\"GH_TOKEN\"]\n";
        let cfg = crate::config::parse(text, Path::new("f.toml")).unwrap();
        ContainerSpec::from_config(&cfg, &cfg.file.roles[0])
    }

    #[test]
    fn the_docker_socket_is_caught_under_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let host = format!("unix://{}", sock.display());
        let link = dir.path().join("innocent");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        let hard = dir.path().join("also-innocent");
        std::fs::hard_link(&sock, &hard).unwrap();
        let plain = dir.path().join("notes.txt");
        std::fs::write(&plain, "x").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for p in [&sock, &link, &hard, &dir.path().to_path_buf()] {
            assert!(exposes_docker_socket(p, Some(&host)), "{}", p.display());
        }
        for p in [&plain, &sub] {
            assert!(!exposes_docker_socket(p, Some(&host)), "{}", p.display());
        }
        // A missing path is judged by its name.
        assert!(exposes_docker_socket(
            Path::new("/nonexistent/docker.sock"),
            None
        ));
    }

    #[test]
    fn hardening_is_applied_by_default() {
        let s = spec();
        let body = s.create_body("impl-1", 3, "h", &|_| None);
        let hc = body.host_config.unwrap();
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            hc.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        assert_eq!(hc.memory, Some(2 << 30));
        assert_eq!(hc.nano_cpus, Some(1_000_000_000));
        assert_eq!(hc.pids_limit, Some(512));
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_GENERATION], "3");
        assert_eq!(labels[LABEL_SLOT], "impl-1");
    }

    #[test]
    fn pass_env_values_come_from_lookup_and_stay_out_of_the_hash() {
        let s = spec();
        let body = s.create_body("impl-1", 1, "h", &|k| {
            (k == "GH_TOKEN").then(|| "ghp_x".into())
        });
        assert!(body.env.unwrap().contains(&"GH_TOKEN=ghp_x".to_string()));
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("sk-1"), "secret value serialised: {json}");
        let h1 = s.spec_hash();
        let mut changed = s.clone();
        changed.env[0].1 = "other".into();
        assert_ne!(h1, changed.spec_hash(), "literal env must change the hash");
        assert_eq!(h1, s.spec_hash(), "hash is stable");
    }

    #[test]
    fn containers_know_their_slot_fleet_generation_and_hostname() {
        let s = spec();
        let body = s.create_body("impl-1", 3, "h", &|_| None);
        let env = body.env.unwrap();
        for want in ["DROVER_SLOT=impl-1", "DROVER_GENERATION=3"] {
            assert!(env.contains(&want.to_string()), "{want} in {env:?}");
        }
        assert!(env.iter().any(|e| e.starts_with("DROVER_FLEET=")));
        assert_eq!(body.hostname.as_deref(), Some("impl-1"));
        // The default template leaves the hash as it was before hostnames existed.
        let mut templated = s.clone();
        templated.hostname = Some(DEFAULT_HOSTNAME.into());
        assert_eq!(s.spec_hash(), templated.spec_hash());
        templated.hostname = Some("{fleet}-{slot}".into());
        assert_ne!(s.spec_hash(), templated.spec_hash());
        let body = templated.create_body("impl-1", 1, "h", &|_| None);
        assert_eq!(body.hostname, Some(format!("{}-impl-1", templated.fleet)));
        assert_eq!(container_hostname(Some(""), "f", "impl-1"), None);
    }
}
