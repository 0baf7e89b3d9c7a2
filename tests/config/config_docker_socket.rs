//! The config refuses a mount that hands an agent the Docker socket under any name: a symlink
//! to it, a hard link, the folder holding it or a folder holding a hard link to it — not only a
//! file called `docker.sock`.

use std::path::Path;

#[test]
fn a_renamed_or_linked_docker_socket_mount_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("engine.sock");
    let _daemon = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let link = run.join("innocent");
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    let hard = dir.path().join("also-innocent");
    std::fs::hard_link(&sock, &hard).unwrap();
    let plain = dir.path().join("work");
    std::fs::create_dir(&plain).unwrap();
    // A folder that holds a hard link to the socket, two levels down, under another name.
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(workspace.join("a/b")).unwrap();
    std::fs::write(workspace.join("a/notes.md"), "ordinary file").unwrap();
    std::fs::hard_link(&sock, workspace.join("a/b/cache")).unwrap();
    let config = |source: &Path| {
        format!(
            "[fleet]\nname = \"sock\"\ndocker_host = \"unix://{}\"\n[[roles]]\nname = \"w\"\nimage = \"img\"\nmounts = [{{ source = \"{}\", target = \"/x\" }}]\n",
            sock.display(),
            source.display()
        )
    };
    for source in [&link, &hard, &dir.path().to_path_buf(), &workspace] {
        let err = drover::config::parse(&config(source), Path::new("drover.toml"))
            .expect_err(&format!("{} must be refused", source.display()));
        assert!(
            err.to_string().contains("Docker socket"),
            "{}: {err}",
            source.display()
        );
    }
    drover::config::parse(&config(&plain), Path::new("drover.toml"))
        .expect("an ordinary folder is fine");
}
