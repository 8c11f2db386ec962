//! `Config::from_args`: the validated run configuration, built once.
//!
//! All environment and terminal sniffing happens here, from values passed
//! in, so every rule (precedence, key, proxy, headers, stdin's role) is
//! unit-tested without a process. The raw arguments become three parts:
//! what the run does ([`Mode`], with its plan), how it reaches the server
//! ([`Net`]) and how the answer is written and judged ([`OutputOptions`]).

mod net;
mod output;
mod plan;

pub use net::Net;
pub use output::{Check, OutputOptions, SinkKind, Stderr};
pub use plan::{chat_without_prompt_hint, ChatPlan, EachPlan, StdinUse};

use crate::cli::Args;
use crate::exit::Failure;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A snapshot of the environment. Empty values count as unset.
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// Whether the variable is set, but to the empty string.
    pub fn is_empty(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| v.is_empty())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Which standard streams are terminals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ttys {
    pub stdin: bool,
    pub stderr: bool,
    /// stdout and stderr are one terminal (stderr lines must then not
    /// land inside a line of the answer).
    pub same_terminal: bool,
}

impl Ttys {
    /// Asks the process; `ORSTREAM_PRETEND_TTY=stderr` (a hidden test hook:
    /// a terminal is the one thing a test cannot hand a child through a
    /// pipe) makes stderr count as one.
    pub fn detect(env: &Env) -> Ttys {
        use is_terminal::is_terminal;
        let stderr = is_terminal(std::io::stderr());
        Ttys {
            stdin: is_terminal(std::io::stdin()),
            stderr: stderr || pretend_tty(env.get("ORSTREAM_PRETEND_TTY")),
            same_terminal: stderr && is_terminal(std::io::stdout()) && same_device(1, 2),
        }
    }
}

/// Whether two descriptors are the same device (one terminal).
fn same_device(a: i32, b: i32) -> bool {
    let rdev = |fd: i32| {
        // SAFETY: fstat fills a stat struct we own; any fd value is allowed.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st.st_rdev)
    };
    matches!((rdev(a), rdev(b)), (Some(x), Some(y)) if x == y)
}

/// Whether the hidden test hook asks for a pretend terminal on stderr.
fn pretend_tty(env_value: Option<&str>) -> bool {
    env_value.is_some_and(|v| v.split(',').any(|s| s.trim() == "stderr"))
}

/// A file argument, where `-` means stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileArg {
    Stdin,
    Path(PathBuf),
}

impl FileArg {
    fn from_arg(path: &Path) -> FileArg {
        if path.as_os_str() == "-" {
            FileArg::Stdin
        } else {
            FileArg::Path(path.to_path_buf())
        }
    }

    pub fn name(&self) -> String {
        match self {
            FileArg::Stdin => "-".to_string(),
            FileArg::Path(p) => p.display().to_string(),
        }
    }
}

/// What this run does.
#[derive(Debug)]
pub enum Mode {
    /// Send a chat request and stream the answer.
    Chat(Box<ChatPlan>),
    /// `GET {base}/models`.
    ListModels,
    /// `--from-sse`: replay a recording, no network.
    Replay(FileArg),
    /// `--each FILE`: the chat request once per item.
    Each(Box<EachPlan>),
}

/// Which mode the flags ask for, before its plan is built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModeKind {
    Chat,
    ListModels,
    Replay(FileArg),
    Each(FileArg),
}

impl ModeKind {
    fn of(args: &Args) -> ModeKind {
        match (&args.from_sse, args.list_models, &args.each) {
            (Some(path), _, _) => ModeKind::Replay(FileArg::from_arg(path)),
            (None, true, _) => ModeKind::ListModels,
            (None, false, Some(path)) => ModeKind::Each(FileArg::from_arg(path)),
            (None, false, None) => ModeKind::Chat,
        }
    }

    /// Sends chat requests (once, or once per item).
    fn chats(&self) -> bool {
        matches!(self, ModeKind::Chat | ModeKind::Each(_))
    }
}

/// Everything a run needs, validated.
#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    pub net: Net,
    pub output: OutputOptions,
}

impl Config {
    pub fn from_args(args: Args, env: &Env, ttys: Ttys) -> Result<Config, Failure> {
        let kind = ModeKind::of(&args);
        // What the run reads is settled first: a missing prompt is the
        // error a new user meets, whatever else is wrong.
        let stdin = plan::stdin_use(&args, &kind, ttys)?;
        let net = Net::from_args(&args, env, &kind)?;
        let output = OutputOptions::from_args(&args, env, ttys)?;
        let mode = match kind {
            ModeKind::Chat => {
                let plan = ChatPlan::from_args(args, env, ttys, stdin, &net, &output)?;
                Mode::Chat(Box::new(plan))
            }
            ModeKind::ListModels => Mode::ListModels,
            ModeKind::Replay(source) => Mode::Replay(source),
            ModeKind::Each(file) => {
                let each = EachPlan::from_args(args, env, ttys, stdin, &net, &output, file)?;
                Mode::Each(Box::new(each))
            }
        };
        Ok(Config { mode, net, output })
    }
}

#[cfg(test)]
mod tests;
