//! A role's container spec resolved from the config: the config depends on the runtime's
//! `ContainerSpec`, never the reverse, so the spec (and its `exposes_docker_socket` rule) lives
//! beside the port and the config only fills it in (paths made absolute).

use std::path::PathBuf;

use drover_runtime::spec::{BindMount, ContainerSpec};

use super::Config;
use super::schema::RoleSection;

impl Config {
    /// Resolves role `role` of this config into its container spec, adding the upstream repo
    /// mount if configured.
    pub fn container_spec(&self, role: &RoleSection) -> ContainerSpec {
        let cfg = self;
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
        ContainerSpec {
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
}

impl Config {
    /// The container spec of the shared branch's check: `check`'s image, command and limits,
    /// the checkout at `checkout` mounted (writable: it is a throwaway copy) at its
    /// `mount_target`, which is also the working directory; hardened as a role is by default.
    pub fn check_spec(
        &self,
        check: &super::schema_check::CheckSection,
        checkout: &std::path::Path,
    ) -> ContainerSpec {
        let security = super::schema::SecuritySection::default();
        ContainerSpec {
            fleet: self.file.fleet.name.clone(),
            role: "check".into(),
            image: check.image.clone(),
            command: Some(check.command.clone()),
            workdir: Some(check.mount_target.clone()),
            user: None,
            env: Vec::new(),
            pass_env: Vec::new(),
            required_env: Vec::new(),
            mounts: vec![BindMount {
                source: absolute(checkout.to_path_buf()),
                target: check.mount_target.clone(),
                read_only: false,
            }],
            memory: i64::try_from(check.limits.memory.0).unwrap_or(i64::MAX),
            nano_cpus: (check.limits.cpus * 1e9) as i64,
            pids: check.limits.pids,
            cap_drop: security.cap_drop,
            cap_add: security.cap_add,
            no_new_privileges: security.no_new_privileges,
            read_only_rootfs: false,
            preflight: None,
            probe_exec: None,
            hostname: None,
        }
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_runtime::spec::{
        DEFAULT_HOSTNAME, LABEL_GENERATION, LABEL_SLOT, container_hostname, exposes_docker_socket,
    };
    use std::path::Path;

    fn spec() -> ContainerSpec {
        let text = "[fleet]\nname = \"t\"\n[[roles]]\nname = \"impl\"\nimage = \"img\"\nenv = { OPENAI_API_KEY = \"sk-1\", MODE = \"x\" }\npass_env = [\"GH_TOKEN\"]\n";
        let cfg = crate::config::parse(text, Path::new("f.toml")).unwrap();
        cfg.container_spec(&cfg.file.roles[0])
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
    fn the_check_runs_hardened_on_its_checkout() {
        let text = "[fleet]\nname = \"t\"\n[upstream]\nrepo = \".\"\n[upstream.check]\nimage = \"rust:1\"\ncommand = [\"cargo\", \"test\"]\nlimits = { memory = \"1g\", cpus = 2.0, pids = 64 }\n[[roles]]\nname = \"impl\"\nimage = \"img\"\n";
        let cfg = crate::config::parse(text, Path::new("f.toml")).unwrap();
        let check = cfg.file.upstream.clone().unwrap().check.unwrap();
        let spec = cfg.check_spec(&check, Path::new("/data/checks/abc-1"));
        assert_eq!(spec.image, "rust:1");
        assert_eq!(spec.workdir.as_deref(), Some("/src"));
        assert_eq!(
            spec.mounts.len(),
            1,
            "the checkout only, not the upstream repo"
        );
        assert_eq!(spec.mounts[0].source, Path::new("/data/checks/abc-1"));
        assert_eq!(spec.mounts[0].target, "/src");
        let hc = spec
            .create_body("check", 0, "check", &|_| None)
            .host_config
            .unwrap();
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            hc.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        assert_eq!(hc.memory, Some(1 << 30));
        assert_eq!(hc.nano_cpus, Some(2_000_000_000));
        assert_eq!(hc.pids_limit, Some(64));
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

    // The preflight's local checks over a spec resolved from config.
    fn preflight_spec(extra: &str) -> ContainerSpec {
        let text =
            format!("[fleet]\nname = \"t\"\n[[roles]]\nname = \"r\"\nimage = \"i\"\n{extra}");
        let cfg = crate::config::parse(&text, Path::new("f.toml")).unwrap();
        cfg.container_spec(&cfg.file.roles[0])
    }

    #[test]
    fn missing_required_env_is_named() {
        let s = preflight_spec(
            "pass_env = [\"OPENAI_API_KEY\"]\nrequired_env = [\"OPENAI_API_KEY\"]\n",
        );
        let err = drover_runtime::preflight::local_checks(&s, &|_| None).unwrap_err();
        assert_eq!(
            err,
            "required environment variable OPENAI_API_KEY missing or empty in drover's environment"
        );
        assert!(
            drover_runtime::preflight::local_checks(&s, &|_| Some("  ".into())).is_err(),
            "blank counts as missing"
        );
        assert!(drover_runtime::preflight::local_checks(&s, &|_| Some("sk-x".into())).is_ok());
    }

    #[test]
    fn literal_env_satisfies_required_env() {
        let s = preflight_spec("env = { MODE = \"fast\" }\nrequired_env = [\"MODE\"]\n");
        assert!(drover_runtime::preflight::local_checks(&s, &|_| None).is_ok());
    }
}
