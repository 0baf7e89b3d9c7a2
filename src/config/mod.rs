//! Fleet configuration: locating, parsing and validating the TOML file that describes one fleet.
//!
//! Invariant: a [`Config`] only exists once the file parsed *and* passed every semantic check, so
//! the rest of drover never re-validates. Every error is a [`Diagnostic`] naming file:line:column.

mod container;
mod diagnose;
mod loops;
pub mod schema;
mod schema_action;
mod schema_board;
pub mod schema_check;
pub mod schema_context;
pub mod schema_hosts;
mod schema_telemetry;
mod schema_transcript;
pub mod units;
mod validate;
mod validate_hosts;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use diagnose::Diagnostic;
use diagnose::SourceIndex;
pub use schema::*;
pub use units::{ByteSize, HumanDuration};
pub use validate::resolve;

use crate::secrets;
use crate::theme::Theme;

/// The example file, which doubles as the fully commented default configuration.
pub const EXAMPLE: &str = include_str!("../../config.example.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no config file found (looked at: {}) — pass --config PATH, set DROVER_CONFIG, or start from `drover config default > drover.toml` (new here? try `drover demo`)",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

fn render(diags: &[Diagnostic]) -> String {
    let mut s = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = write!(s, "{d}");
    }
    s
}

/// A validated fleet configuration plus the paths it resolved.
#[derive(Clone, Debug)]
pub struct Config {
    pub file: ConfigFile,
    /// The file it came from (relative paths inside it are resolved against its folder).
    pub path: PathBuf,
    pub data_dir: PathBuf,
    /// `<config dir>/themes`, where user themes override the built-ins.
    pub themes_dir: Option<PathBuf>,
}

/// drover's per-user config folder (`$XDG_CONFIG_HOME/drover`).
pub fn user_config_dir() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.config_dir().join("drover"))
}

fn user_data_dir() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.data_dir().join("drover"))
}

/// Finds the config file: `--config`, then `$DROVER_CONFIG`, `./drover.toml`, the user config dir.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("DROVER_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut searched = vec![PathBuf::from("drover.toml")];
    if let Some(dir) = user_config_dir() {
        searched.push(dir.join("config.toml"));
    }
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ConfigError::NotFound { searched })
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let (line, column) = diagnose::line_column(&lossy, offset);
        ConfigError::Invalid {
            diagnostics: vec![Diagnostic {
                file: path.to_path_buf(),
                line,
                column,
                message: "the file is not valid UTF-8 — save it as UTF-8 text".into(),
            }],
        }
    })?;
    parse(&text, path)
}

/// Parses and validates config `text` as if read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let index = SourceIndex::new(text, path);
    let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        diagnostics: vec![diagnose::from_toml_error(&index, &e)],
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let themes_dir = user_config_dir().map(|d| d.join("themes"));
    let theme_exists = |name: &str| Theme::exists(name, themes_dir.as_deref());
    let diagnostics = validate::validate(&file, &index, &base, &theme_exists);
    if !diagnostics.is_empty() {
        return Err(ConfigError::Invalid { diagnostics });
    }
    let data_dir = match &file.fleet.data_dir {
        Some(d) => resolve(&base, d),
        None => user_data_dir()
            .unwrap_or_else(|| PathBuf::from(".drover"))
            .join(&file.fleet.name),
    };
    Ok(Config {
        file,
        path: path.to_path_buf(),
        data_dir,
        themes_dir,
    })
}

/// The fleet name and data folder of the file at `path`, read leniently (only `[fleet]`), so
/// clients find a running daemon even while the file has an error elsewhere (a daemon keeps
/// its previous config when a reload fails). Falls back to the full check's diagnostics.
pub fn fleet_location(path: &Path) -> Result<(String, PathBuf), ConfigError> {
    #[derive(serde::Deserialize)]
    struct Only {
        fleet: FleetOnly,
    }
    #[derive(serde::Deserialize)]
    struct FleetOnly {
        name: String,
        data_dir: Option<PathBuf>,
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let Ok(only) = toml::from_str::<Only>(&text) else {
        let cfg = parse(&text, path)?;
        return Ok((cfg.file.fleet.name, cfg.data_dir));
    };
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let data_dir = match &only.fleet.data_dir {
        Some(d) => resolve(&base, d),
        None => user_data_dir()
            .unwrap_or_else(|| PathBuf::from(".drover"))
            .join(&only.fleet.name),
    };
    Ok((only.fleet.name, data_dir))
}

impl Config {
    /// Resolves a path from the file against the file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new("."));
        resolve(
            if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            },
            p,
        )
    }

    /// Every value drover must mask in what it writes or shows: each `pass_env` value found in
    /// drover's environment, each `env` value whose key looks secret (see [`secrets`]) and each
    /// `[telemetry.headers]` value.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self.file.telemetry.headers.values().cloned().collect();
        for r in &self.file.roles {
            for k in &r.pass_env {
                if let Ok(v) = std::env::var(k) {
                    out.push(v);
                }
            }
            for (k, v) in &r.env {
                if secrets::is_secret_key(k) {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    /// The masker for this config's secret values.
    pub fn masker(&self) -> secrets::Masker {
        secrets::Masker::new(self.secret_values())
    }

    /// Human summary of the resolved fleet for `drover check-config`: `env` shown by name with
    /// its value redacted unless `show_values`, `pass_env` by name and whether drover's
    /// environment has it (its value never).
    pub fn describe(&self, show_values: bool) -> String {
        let f = &self.file;
        let mut s = String::new();
        let _ = writeln!(s, "config   {}", self.path.display());
        let _ = writeln!(s, "fleet    {}", f.fleet.name);
        let _ = writeln!(s, "data     {}", self.data_dir.display());
        let docker = f
            .fleet
            .docker_host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        if f.hosts.is_empty() {
            let _ = writeln!(s, "docker   {docker}");
        }
        for h in &f.hosts {
            let tls = if h.tls_cert.is_some() { " (TLS)" } else { "" };
            let _ = writeln!(
                s,
                "host     {} {}{tls}, timeout {}",
                h.name, h.docker_host, h.request_timeout
            );
        }
        match &f.upstream {
            Some(u) => {
                let _ = writeln!(
                    s,
                    "upstream {} (branch {}, locks {}/, notes {}) mounted at {}",
                    self.resolve(&u.repo).display(),
                    u.branch.as_deref().unwrap_or("HEAD"),
                    u.locks_dir,
                    u.progress_file,
                    u.mount_target
                );
            }
            None => {
                let _ = writeln!(s, "upstream none");
            }
        }
        let _ = writeln!(s, "theme    {}", f.ui.theme);
        if let Some(endpoint) = &f.telemetry.otlp_endpoint {
            let headers: Vec<String> = f
                .telemetry
                .headers
                .iter()
                .map(|(k, v)| {
                    let shown = if show_values {
                        v.as_str()
                    } else {
                        secrets::REDACTED
                    };
                    format!("{k}={shown}")
                })
                .collect();
            let _ = writeln!(
                s,
                "otlp     {endpoint} as service {}{}",
                f.telemetry.service_name,
                if headers.is_empty() {
                    String::new()
                } else {
                    format!(", headers {}", headers.join(" "))
                }
            );
        }
        for r in &f.roles {
            let _ = writeln!(s, "\nrole {} × {}  image {}", r.name, r.replicas, r.image);
            if !f.hosts.is_empty() {
                let _ = writeln!(
                    s,
                    "  hosts    {} (replicas in turn)",
                    f.role_hosts(r).join(", ")
                );
            }
            if let Some(c) = &r.command {
                let _ = writeln!(s, "  command  {}", c.join(" "));
            }
            for (k, v) in &r.env {
                let shown = if show_values {
                    v.as_str()
                } else {
                    secrets::REDACTED
                };
                let _ = writeln!(s, "  env      {k}={shown}");
            }
            for k in &r.pass_env {
                let state = match std::env::var_os(k) {
                    Some(v) if !v.is_empty() => "set in drover's environment",
                    _ => "NOT SET in drover's environment",
                };
                let _ = writeln!(s, "  pass_env {k} ({state})");
            }
            for m in &r.mounts {
                let _ = writeln!(
                    s,
                    "  mount    {} -> {}{}",
                    self.resolve(&m.source).display(),
                    m.target,
                    if m.read_only { " (ro)" } else { "" }
                );
            }
            let l = &r.limits;
            let _ = writeln!(
                s,
                "  limits   memory {} cpus {} pids {}",
                l.memory, l.cpus, l.pids
            );
            let sec = &r.security;
            let _ = writeln!(
                s,
                "  security cap_drop [{}] no_new_privileges {} read_only_rootfs {}",
                sec.cap_drop.join(","),
                sec.no_new_privileges,
                sec.read_only_rootfs
            );
            let rs = &r.restart;
            let _ = writeln!(
                s,
                "  restart  {:?} backoff {}..{} ±{:.0}% reset after {}, block after {} in {}",
                rs.policy,
                rs.initial_backoff,
                rs.max_backoff,
                rs.jitter * 100.0,
                rs.reset_after,
                rs.max_restarts,
                rs.window
            );
            let c = &r.crash_loop;
            let _ = writeln!(
                s,
                "  crash    {} exits before {} within {}; block after {} identical failures",
                c.failures, c.min_uptime, c.window, c.identical_failures_to_block
            );
            let _ = writeln!(
                s,
                "  stall    {}   task timeout {}",
                r.stall_after, r.task_timeout
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("fleet.toml"))
    }

    fn first_error(text: &str) -> String {
        match parse_str(text) {
            Err(ConfigError::Invalid { diagnostics }) => diagnostics[0].to_string(),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn unknown_key_names_table_and_suggestion() {
        let text = "[fleet]\nname = \"x\"\n\n[[roles]]\nname = \"a\"\nimage = \"i\"\n\n[[roles]]\nname = \"b\"\nreplica = 2\nimage = \"i\"\n";
        assert_eq!(
            first_error(text),
            "fleet.toml:10:1: unknown key `replica` in [[roles]] 2 — did you mean `replicas`?"
        );
    }

    #[test]
    fn bad_duration_points_at_value() {
        let text = "[fleet]\nname = \"x\"\n[[roles]]\nname = \"a\"\nimage = \"i\"\nstall_after = \"soon\"\n";
        let e = first_error(text);
        assert!(e.starts_with("fleet.toml:6:15: "), "{e}");
        assert!(e.contains("invalid duration `soon`"), "{e}");
    }

    #[test]
    fn collects_all_semantic_errors() {
        let text = "[fleet]\nname = \"x\"\n[[roles]]\nname = \"a\"\nimage = \"i\"\nreplicas = 0\n[[roles]]\nname = \"a\"\nimage = \"i\"\n";
        match parse_str(text) {
            Err(ConfigError::Invalid { diagnostics }) => {
                assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
                assert!(
                    diagnostics[0]
                        .message
                        .contains("replicas must be at least 1")
                );
                assert_eq!(diagnostics[1].line, 8);
                assert!(diagnostics[1].message.contains("duplicate role name `a`"));
            }
            other => panic!("{other:?}"),
        }
    }
}
