//! Completions and the man page are generated from the clap definition and
//! committed; this test fails when they are stale.
//! Regenerate with `ORSTREAM_REGENERATE=1 cargo test --test it generated`.

use clap_complete::Shell;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `content` with the committed file, or rewrites it on request.
fn check(path: &Path, content: &[u8]) -> Option<String> {
    if std::env::var_os("ORSTREAM_REGENERATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        return None;
    }
    match std::fs::read(path) {
        Ok(committed) if committed == content => None,
        Ok(_) => Some(format!("{} is stale", path.display())),
        Err(e) => Some(format!("{}: {e}", path.display())),
    }
}

#[test]
fn completions_and_man_page_are_fresh() {
    let mut stale = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "orstream.bash"),
        (Shell::Zsh, "_orstream"),
        (Shell::Fish, "orstream.fish"),
        (Shell::Elvish, "orstream.elv"),
        (Shell::PowerShell, "_orstream.ps1"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut orstream::command(), "orstream", &mut buf);
        stale.extend(check(&root().join("completions").join(file), &buf));
    }
    let mut man = Vec::new();
    clap_mangen::Man::new(orstream::command())
        .render(&mut man)
        .unwrap();
    stale.extend(check(&root().join("man/orstream.1"), &man));
    assert!(
        stale.is_empty(),
        "{}\nregenerate with: ORSTREAM_REGENERATE=1 cargo test --test it generated",
        stale.join("\n")
    );
}

#[test]
fn man_page_has_the_sections_users_need() {
    let mut man = Vec::new();
    clap_mangen::Man::new(orstream::command())
        .render(&mut man)
        .unwrap();
    let man = String::from_utf8(man).unwrap();
    for needle in [
        "Exit status",
        "OPENROUTER_API_KEY",
        "Examples",
        "Cancellation",
        "141",
    ] {
        assert!(man.contains(needle), "man page lacks {needle:?}");
    }
}
