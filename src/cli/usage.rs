//! Argument errors as one `orstream: error:` line and one hint (SPEC §5),
//! instead of clap's multi-line default: the similar flag when clap found
//! one, the valid values of a choice, else a pointer to `--help`.

use crate::exit::Failure;
use clap::error::{ContextKind, ContextValue, ErrorKind};

const SEE_HELP: &str = "see 'orstream --help'";

/// The failure for an argument error (not help or version).
pub fn usage_failure(e: &clap::Error, cmd: &clap::Command) -> Failure {
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let arg = text(ContextKind::InvalidArg).unwrap_or("");
    let value = text(ContextKind::InvalidValue).unwrap_or("");
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let failure = Failure::usage(format!("unknown flag '{arg}'"));
            if let Some(similar) = text(ContextKind::SuggestedArg) {
                failure.with_hint(format!("did you mean '{similar}'? {SEE_HELP}"))
            } else if looks_like_number(arg) {
                failure.with_hint(format!(
                    "PROMPT words that start with '-' go after '--': orstream -- {arg}"
                ))
            } else {
                failure.with_hint(SEE_HELP)
            }
        }
        ErrorKind::InvalidValue => {
            let failure = Failure::usage(format!(
                "invalid value '{value}' for {}",
                flag_name(arg, cmd)
            ));
            let valid = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(v)) => v.join(", "),
                _ => String::new(),
            };
            match (text(ContextKind::SuggestedValue), valid.is_empty()) {
                (Some(similar), false) => failure.with_hint(format!(
                    "did you mean '{similar}'? the values are {valid}; {SEE_HELP}"
                )),
                (None, false) => failure.with_hint(format!("the values are {valid}; {SEE_HELP}")),
                _ => failure.with_hint(SEE_HELP),
            }
        }
        ErrorKind::ValueValidation => {
            // The reason is our value parser's own words.
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "not a valid value".to_string());
            Failure::usage(format!(
                "invalid value '{value}' for {}: {why}",
                flag_name(arg, cmd)
            ))
            .with_hint(SEE_HELP)
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            Failure::usage(message).with_hint(SEE_HELP)
        }
    }
}

/// `-5`, `-0.5`: a negative number where no flag takes it.
fn looks_like_number(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|n| n.parse::<f64>().is_ok())
}

/// `-t/--temperature` for clap's `--temperature <T>`: the flag as a user
/// may have typed it, without the value name.
fn flag_name(arg: &str, cmd: &clap::Command) -> String {
    let word = arg.split(' ').next().unwrap_or(arg);
    let long = word.strip_prefix("--");
    let found = cmd
        .get_arguments()
        .find(|a| long.is_some() && a.get_long() == long);
    match found.and_then(|a| a.get_short()) {
        Some(short) => format!("-{short}/{word}"),
        None => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args;
    use clap::CommandFactory;

    fn failure(args: &[&str]) -> Failure {
        let cmd = Args::command();
        let e = cmd
            .clone()
            .try_get_matches_from(std::iter::once("orstream").chain(args.iter().copied()))
            .unwrap_err();
        usage_failure(&e, &cmd)
    }

    #[test]
    fn a_similar_flag_is_the_hint() {
        let f = failure(&["--jsn", "hi"]);
        assert_eq!(f.message, "unknown flag '--jsn'");
        assert_eq!(
            f.hint.as_deref(),
            Some("did you mean '--json'? see 'orstream --help'")
        );
        let f = failure(&["--bogus", "hi"]);
        assert_eq!(f.hint.as_deref(), Some(SEE_HELP));
        let f = failure(&["-5"]);
        assert!(f.hint.unwrap().contains("orstream -- -5"));
    }

    #[test]
    fn numbers_out_of_place_name_the_flag() {
        for (args, want) in [
            (
                &["--max-tokens", "-5"][..],
                "invalid value '-5' for --max-tokens: expected a whole number, 0 or more",
            ),
            (
                &["--retries", "x"],
                "invalid value 'x' for --retries: expected a whole number, 0 or more",
            ),
            (
                &["-t", "abc"],
                "invalid value 'abc' for -t/--temperature: expected a number, 0 or more",
            ),
            (
                &["-t", "-1"],
                "invalid value '-1' for -t/--temperature: expected a number, 0 or more",
            ),
            (
                &["--top-p", "1.5"],
                "invalid value '1.5' for --top-p: expected a number from 0 to 1",
            ),
            (
                &["--seed", "1.5"],
                "invalid value '1.5' for --seed: expected a whole number",
            ),
            (
                &["--idle-timeout", "-3"],
                "invalid value '-3' for --idle-timeout: expected a positive number of seconds",
            ),
        ] {
            let f = failure(args);
            assert_eq!(f.message, want, "{args:?}");
            assert_eq!(f.kind.code(), 2);
        }
    }

    #[test]
    fn a_bad_choice_lists_the_values() {
        let f = failure(&["--reasoning-effort", "hihg"]);
        assert_eq!(f.message, "invalid value 'hihg' for --reasoning-effort");
        let hint = f.hint.unwrap();
        assert!(hint.starts_with("did you mean 'high'?"), "{hint}");
        assert!(
            hint.contains("none, minimal, low, medium, high, xhigh, max"),
            "{hint}"
        );
    }

    #[test]
    fn other_errors_keep_clap_first_line() {
        let f = failure(&["-x", "--json", "hi"]);
        assert!(f.message.contains("cannot be used with"), "{}", f.message);
        assert!(!f.message.starts_with("error"), "{}", f.message);
        assert_eq!(f.hint.as_deref(), Some(SEE_HELP));
    }
}
