//! The chat plan: what stdin is for, where the prompt comes from, what the
//! body carries (SPEC §1, §2, §8, §10).

use super::{Env, FileArg, ModeKind, Net, OutputOptions, Ttys};
use crate::cli::Args;
use crate::exit::Failure;
use crate::request::{parse_option, BodyOptions, Dialect};
use crate::url::is_openrouter;
use std::path::PathBuf;

/// What stdin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinUse {
    /// Not read at all (a terminal, `--no-stdin`, or not needed).
    Ignore,
    /// Read as (part of) the prompt.
    Prompt,
    /// Read as the `--request` body or the `--from-sse` recording.
    Input,
    /// Read as bytes for `-a -`.
    Attachment,
}

/// `--each FILE`: the chat plan is every item's template.
#[derive(Debug)]
pub struct EachPlan {
    pub chat: ChatPlan,
    /// FILE (`-` = stdin).
    pub file: FileArg,
    /// `-P N`: items in flight at once.
    pub parallel: usize,
    /// `--max-cost USD`.
    pub max_cost: Option<f64>,
    /// `--resume RESULTS`.
    pub resume: Option<PathBuf>,
}

impl EachPlan {
    pub(super) fn from_args(
        args: Args,
        env: &Env,
        ttys: Ttys,
        stdin: StdinUse,
        net: &Net,
        output: &OutputOptions,
        file: FileArg,
    ) -> Result<EachPlan, Failure> {
        let parallel = args.parallel as usize;
        let max_cost = args.max_cost;
        let resume = args.resume.clone();
        let mut chat = ChatPlan::from_args(args, env, ttys, stdin, net, output)?;
        // stdin holds the items (with `--each -`) or is not read at all.
        chat.stdin = StdinUse::Ignore;
        chat.stdin_hint = false;
        Ok(EachPlan {
            chat,
            file,
            parallel,
            max_cost,
            resume,
        })
    }
}

/// Everything a chat request is made of, before anything is read.
#[derive(Debug)]
pub struct ChatPlan {
    pub stdin: StdinUse,
    /// Say after 3 s of silence on stdin what orstream waits for.
    pub stdin_hint: bool,
    /// The PROMPT words.
    pub words: Vec<String>,
    /// `--request FILE`.
    pub request: Option<FileArg>,
    /// `-a` arguments, as given, in order.
    pub attach: Vec<String>,
    /// `-c FILE`.
    pub conversation: Option<PathBuf>,
    pub body: BodyOptions,
}

impl ChatPlan {
    pub(super) fn from_args(
        args: Args,
        env: &Env,
        ttys: Ttys,
        stdin: StdinUse,
        net: &Net,
        output: &OutputOptions,
    ) -> Result<ChatPlan, Failure> {
        let body = body_options(&args, env, net, output)?;
        Ok(ChatPlan {
            stdin,
            stdin_hint: ttys.stderr && stdin != StdinUse::Ignore,
            words: args.prompt,
            request: args.request.as_deref().map(FileArg::from_arg),
            attach: args.attach,
            conversation: args.chat,
            body,
        })
    }
}

/// Decides what stdin is for, and refuses the combinations that leave a
/// run without a prompt or read stdin twice.
pub(super) fn stdin_use(args: &Args, kind: &ModeKind, ttys: Ttys) -> Result<StdinUse, Failure> {
    let request = args.request.as_deref().map(FileArg::from_arg);
    let attach_stdin = args.attach.iter().filter(|a| *a == "-").count();
    let stdin = match kind {
        ModeKind::Replay(FileArg::Stdin) | ModeKind::Each(FileArg::Stdin) => StdinUse::Input,
        ModeKind::Replay(_) | ModeKind::ListModels | ModeKind::Each(_) => StdinUse::Ignore,
        ModeKind::Chat if request == Some(FileArg::Stdin) => StdinUse::Input,
        ModeKind::Chat if attach_stdin > 0 => StdinUse::Attachment,
        ModeKind::Chat if args.no_stdin || ttys.stdin => StdinUse::Ignore,
        ModeKind::Chat => StdinUse::Prompt,
    };
    if args.no_stdin && request == Some(FileArg::Stdin) {
        return Err(Failure::usage(
            "--no-stdin conflicts with --request - (which reads stdin)",
        ));
    }
    // A `-` that reads stdin from a terminal would wait silently.
    let stdin_file = match kind {
        ModeKind::Replay(FileArg::Stdin) => Some(("--from-sse -", "a recording")),
        ModeKind::Each(FileArg::Stdin) => Some(("--each -", "the items")),
        ModeKind::Chat if request == Some(FileArg::Stdin) => Some(("--request -", "the body")),
        _ => None,
    };
    if let (Some((flag, what)), true) = (stdin_file, ttys.stdin) {
        return Err(Failure::usage(format!("{flag}: stdin is a terminal"))
            .with_hint(format!("pipe {what} in, or name a file instead of -")));
    }
    if let ModeKind::Each(_) = kind {
        refuse_each_stdin(attach_stdin, request.as_ref())?;
    }
    let other_mode = match kind {
        ModeKind::Chat | ModeKind::Each(_) => None,
        ModeKind::ListModels => Some("--list-models"),
        ModeKind::Replay(_) => Some("--from-sse"),
    };
    if let Some(flag) = other_mode {
        refuse_message_inputs(args, flag)?;
    }
    if attach_stdin > 0 {
        refuse_attach_stdin(args, attach_stdin, request.as_ref(), ttys)?;
    }
    if args.chat.as_deref().is_some_and(|c| c.as_os_str() == "-") {
        return Err(Failure::usage(
            "-c -: a conversation must be a file (it is rewritten after each answer)",
        ));
    }
    if *kind == ModeKind::Chat
        && stdin == StdinUse::Ignore
        && args.prompt.is_empty()
        && request.is_none()
        && args.attach.is_empty()
    {
        let hint = if let Some(file) = &args.chat {
            chat_without_prompt_hint(file)
        } else if ttys.stdin && !args.no_stdin {
            "give PROMPT words or pipe text on stdin; see 'orstream --help'".to_string()
        } else {
            "give PROMPT words (stdin is ignored with --no-stdin); see 'orstream --help'"
                .to_string()
        };
        return Err(Failure::usage("no prompt given").with_hint(hint));
    }
    Ok(stdin)
}

/// `--each` sends every item with the same attachments and template: none
/// of them can be read from stdin, which is read once.
fn refuse_each_stdin(attach_stdin: usize, request: Option<&FileArg>) -> Result<(), Failure> {
    let clash = if attach_stdin > 0 {
        Some("-a -")
    } else if request == Some(&FileArg::Stdin) {
        Some("--request -")
    } else {
        None
    };
    match clash {
        Some(flag) => Err(Failure::usage(format!(
            "--each conflicts with {flag}: every item is sent with it, and stdin is read once"
        ))
        .with_hint("name a file instead of -")),
        None => Ok(()),
    }
}

/// `-c FILE` with nothing to append: the way to send the conversation as
/// it stands is to replay it.
pub fn chat_without_prompt_hint(file: &std::path::Path) -> String {
    format!(
        "-c appends a prompt (words, stdin or -a); to send {} as it is: orstream --request {}",
        file.display(),
        file.display()
    )
}

/// `--list-models` and `--from-sse` send no message: PROMPT words and
/// attachments have nowhere to go.
fn refuse_message_inputs(args: &Args, flag: &str) -> Result<(), Failure> {
    if !args.prompt.is_empty() {
        return Err(Failure::usage(format!(
            "{flag} takes no PROMPT words (got '{}')",
            args.prompt.join(" ")
        ))
        .with_hint("see 'orstream --help'"));
    }
    if !args.attach.is_empty() {
        return Err(Failure::usage(format!("{flag} takes no attachments (-a)"))
            .with_hint("see 'orstream --help'"));
    }
    Ok(())
}

/// `-a -` reads stdin once, as bytes: not twice, not beside `--request -`,
/// not with `--no-stdin`, not from a terminal.
fn refuse_attach_stdin(
    args: &Args,
    count: usize,
    request: Option<&FileArg>,
    ttys: Ttys,
) -> Result<(), Failure> {
    let clash = if count > 1 {
        Some("-a - is given twice (stdin can be read once)")
    } else if request == Some(&FileArg::Stdin) {
        Some("-a - conflicts with --request - (both read stdin)")
    } else if args.no_stdin {
        Some("-a - conflicts with --no-stdin")
    } else if ttys.stdin {
        Some("-a -: stdin is a terminal")
    } else {
        None
    };
    match clash {
        Some(message) => {
            Err(Failure::usage(message).with_hint("pipe the file in: orstream -a - \"…\" < FILE"))
        }
        None => Ok(()),
    }
}

/// The body fields the flags and environment set (SPEC §2, §9).
fn body_options(
    args: &Args,
    env: &Env,
    net: &Net,
    output: &OutputOptions,
) -> Result<BodyOptions, Failure> {
    let mut fields = Vec::with_capacity(args.options.len());
    for o in &args.options {
        fields.push(parse_option(o)?);
    }
    let model_flag = match &args.model {
        Some(m) if m.split(',').all(|part| part.trim().is_empty()) => {
            return Err(Failure::usage(format!("-m '{m}': no model id given"))
                .with_hint("for example -m openai/gpt-4o,anthropic/claude-sonnet-4"));
        }
        m => m.clone(),
    };
    let response_format = output
        .check
        .schema()
        .map(|s| crate::schema::response_format(s.clone()));
    let openrouter = is_openrouter(&net.base_url);
    Ok(BodyOptions {
        dialect: if openrouter {
            Dialect::OpenRouter
        } else {
            Dialect::OpenAi
        },
        system: args.system.clone(),
        model_flag,
        model_env: env.get("OPENROUTER_MODEL").map(str::to_string),
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        top_p: args.top_p,
        seed: args.seed,
        stop: args.stop.clone(),
        reasoning_effort: args.reasoning_effort.map(|e| e.as_str()),
        // OpenRouter drops response_format for providers that lack it
        // unless told to route only to those that honour every parameter.
        require_parameters: response_format.is_some() && openrouter,
        response_format,
        fields,
        web: args.web,
        images: args.images.is_some(),
    })
}
