//! The command hints print: what runs this same drover from the user's shell. `drover` when
//! the `drover` found on `PATH` is this binary; `cargo run --release --locked --` when this is
//! the checkout's release build and the shell is in that checkout (the README's way to run it
//! without installing); else this binary's path, which works from any folder.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The command for this process's situation.
pub fn command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "drover".into();
    };
    choose(
        &exe,
        std::env::var_os("PATH").as_deref(),
        std::env::current_dir().ok().as_deref(),
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// [`command`] for the binary `exe`, the `PATH` value `path` and the shell's folder `cwd`.
pub fn choose(exe: &Path, path: Option<&OsStr>, cwd: Option<&Path>) -> String {
    let on_path: Option<PathBuf> = path.and_then(|p| {
        std::env::split_paths(p)
            .map(|d| d.join("drover"))
            .find(|c| c.is_file())
    });
    if on_path.is_some_and(|p| same_file(&p, exe)) {
        return "drover".into();
    }
    // <checkout>/target/release/drover, run from <checkout>.
    let checkout = exe
        .parent()
        .filter(|d| d.file_name() == Some(OsStr::new("release")))
        .and_then(Path::parent)
        .filter(|d| d.file_name() == Some(OsStr::new("target")))
        .and_then(Path::parent);
    if let (Some(checkout), Some(cwd)) = (checkout, cwd)
        && checkout.join("Cargo.toml").is_file()
        && same_file(checkout, cwd)
    {
        return "cargo run --release --locked --".into();
    }
    let shown = exe.display().to_string();
    if shown.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
        format!("'{}'", shown.replace('\'', r"'\''"))
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "bin").unwrap();
    }

    #[test]
    fn hints_name_the_command_that_runs_this_drover() {
        let tmp = tempfile::tempdir().unwrap();
        let checkout = tmp.path().join("drover");
        let exe = checkout.join("target/release/drover");
        file(&exe);
        file(&checkout.join("Cargo.toml"));
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();

        // Not installed, in the checkout: the README's cargo command.
        let empty = std::env::join_paths([&bin]).unwrap();
        assert_eq!(
            choose(&exe, Some(&empty), Some(&checkout)),
            "cargo run --release --locked --"
        );
        // Not installed, elsewhere: the binary's path.
        assert_eq!(
            choose(&exe, Some(&empty), Some(tmp.path())),
            exe.display().to_string()
        );
        // Another drover on PATH is not this one: still the path.
        file(&bin.join("drover"));
        assert_eq!(
            choose(&exe, Some(&empty), Some(tmp.path())),
            exe.display().to_string()
        );
        // This very binary on PATH (a symlink to it): `drover`.
        std::fs::remove_file(bin.join("drover")).unwrap();
        std::os::unix::fs::symlink(&exe, bin.join("drover")).unwrap();
        assert_eq!(choose(&exe, Some(&empty), Some(&checkout)), "drover");
        // A path with a space is quoted for the shell.
        let spaced = tmp.path().join("my tools/drover");
        file(&spaced);
        assert_eq!(
            choose(&spaced, None, None),
            format!("'{}'", spaced.display())
        );
    }
}
