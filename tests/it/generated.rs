//! Completions and the man page are generated from the clap definition and
//! committed; this test fails when they are stale.
//! Regenerate with `ORSTREAM_REGENERATE=1 cargo test --test it generated`.
//!
//! The man page is clap_mangen's NAME, DESCRIPTION and option sections,
//! with a SYNOPSIS that names every value, and orstream's reference
//! sections (environment, exit status, attachments, schema syntax,
//! conversations, cancellation) and examples after them.

use clap::{ArgAction, ValueHint};
use clap_complete::Shell;
use roff::{bold, italic, roman, Inline, Roff};
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

fn completion(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut orstream::command(), "orstream", &mut buf);
    buf
}

/// `orstream [-s TEXT] [--request FILE] ... [-a PATH|URL|-]... [PROMPT]...`:
/// every option with its value name, `...` when it may be repeated.
fn synopsis(cmd: &clap::Command) -> Roff {
    let mut line: Vec<Inline> = vec![bold("orstream")];
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), _) => format!("-{short}"),
            (None, Some(long)) => format!("--{long}"),
            (None, None) => continue,
        };
        line.push(roman(" ["));
        line.push(bold(flag));
        if arg.get_action().takes_values() {
            let names = arg.get_value_names().map(|n| n.join(" "));
            line.push(roman(" "));
            line.push(italic(names.unwrap_or_else(|| arg.get_id().to_string())));
        }
        line.push(roman("]"));
        if matches!(arg.get_action(), ArgAction::Append) {
            line.push(roman("..."));
        }
    }
    for arg in cmd.get_positionals() {
        let name = arg.get_value_names().map(|n| n.join(" "));
        line.push(roman(" ["));
        line.push(italic(name.unwrap_or_else(|| arg.get_id().to_string())));
        line.push(roman("]..."));
    }
    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]).text(line);
    roff
}

/// The reference sections and the examples, in roff.
fn reference() -> Roff {
    let mut roff = Roff::new();
    for section in orstream::reference() {
        roff.control("SH", [section.title.to_uppercase().as_str()]);
        for paragraph in section.before {
            roff.control("PP", []).text([roman(*paragraph)]);
        }
        for (term, text) in section.entries {
            roff.control("TP", [])
                .text([bold(*term)])
                .text([roman(*text)]);
        }
        for paragraph in section.after {
            roff.control("PP", []).text([roman(*paragraph)]);
        }
    }
    roff.control("SH", ["EXAMPLES"]).control("nf", []);
    for example in orstream::examples() {
        roff.text([roman(example)]);
    }
    roff.control("fi", []);
    roff
}

fn man_page() -> Vec<u8> {
    let mut cmd = orstream::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    type Piece<'a> = Box<dyn Fn(&mut Vec<u8>) -> std::io::Result<()> + 'a>;
    let pieces: [Piece; 7] = [
        Box::new(|w| man.render_title(w)),
        Box::new(|w| man.render_name_section(w)),
        Box::new(|w| synopsis(&cmd).to_writer(w)),
        Box::new(|w| man.render_description_section(w)),
        Box::new(|w| man.render_options_section(w)),
        Box::new(|w| reference().to_writer(w)),
        Box::new(|w| man.render_version_section(w)),
    ];
    let mut out = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let mut buf = Vec::new();
        piece(&mut buf).unwrap();
        // Each piece starts with the same two-line preamble; once will do.
        let text = String::from_utf8(buf).unwrap();
        let body = match i {
            0 => text.as_str(),
            _ => text.splitn(3, '\n').nth(2).unwrap_or(""),
        };
        out.extend_from_slice(body.as_bytes());
    }
    out
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
        stale.extend(check(
            &root().join("completions").join(file),
            &completion(shell),
        ));
    }
    stale.extend(check(&root().join("man/orstream.1"), &man_page()));
    assert!(
        stale.is_empty(),
        "{}\nregenerate with: ORSTREAM_REGENERATE=1 cargo test --test it generated",
        stale.join("\n")
    );
}

#[test]
fn man_page_is_a_reference() {
    let man = String::from_utf8(man_page()).unwrap();
    for needle in [
        // A synopsis that names the values.
        "[\\fB\\-m\\fR \\fIMODEL\\fR]",
        "[\\fB\\-a\\fR \\fIPATH|URL|\\-\\fR]...",
        "[\\fIPROMPT\\fR]...",
        ".SH ENVIRONMENT",
        "OPENROUTER_MODEL",
        ".SH \"EXIT STATUS\"",
        ".SH ATTACHMENTS",
        "WAV, MP3, AAC, FLAC, OGG, AIFF, M4A",
        ".SH \"SCHEMA SYNTAX\"",
        "NAME [TYPE][: DESCRIPTION]",
        ".SH CONVERSATIONS",
        "use \\-\\-request FILE",
        ".SH CANCELLATION",
        ".SH EXAMPLES",
        "jq \\-j",
    ] {
        assert!(man.contains(needle), "man page lacks {needle:?}\n{man}");
    }
    for code in ["0", "2", "8", "9", "130", "141"] {
        assert!(
            man.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "EXIT STATUS lacks {code}"
        );
    }
    // groff drops or mangles other characters (a plus-minus sign came out
    // as "(25 %)"), and Markdown backticks would be printed as they are.
    let odd: Vec<&str> = man
        .lines()
        .filter(|l| !l.is_ascii() || l.contains('`'))
        .collect();
    assert!(odd.is_empty(), "non-ASCII or backticks: {odd:#?}");
}

#[test]
fn bash_completes_file_names_only_for_file_options() {
    let bash = String::from_utf8(completion(Shell::Bash)).unwrap();
    let mut cmd = orstream::command();
    cmd.build();
    for arg in cmd
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
    {
        let Some(long) = arg.get_long() else { continue };
        let case = format!("\n                --{long})\n");
        let start = bash
            .find(&case)
            .unwrap_or_else(|| panic!("no completion case for --{long}"));
        let block = &bash[start..start + bash[start..].find(";;").unwrap()];
        let offers_files = block.contains("compgen -f");
        match arg.get_value_hint() {
            ValueHint::FilePath => assert!(offers_files, "--{long}: {block}"),
            ValueHint::DirPath => assert!(block.contains("plusdirs"), "--{long}: {block}"),
            // clap_complete's bash script has no URL completion: it falls
            // back to file names (zsh and fish complete URLs).
            ValueHint::Url => {}
            hint if arg.get_possible_values().is_empty() => {
                assert_eq!(hint, ValueHint::Other, "--{long} needs a value hint");
                assert!(!offers_files, "--{long} offers files: {block}");
            }
            _ => assert!(!offers_files, "--{long}: {block}"),
        }
    }
}
