//! The JSON request body: the one parser of `--request` and `-c` files,
//! `-o KEY=VALUE` parsing, and the body builder (pure).
//!
//! Precedence for every field: command-line flag > `--request` file >
//! environment (`OPENROUTER_MODEL`) > built-in default.

use crate::exit::Failure;
use serde_json::{json, Map, Value};

/// The model sent to OpenRouter when none is named: its own router.
pub const DEFAULT_MODEL: &str = "openrouter/auto";

/// Which server's spelling of the body the flags use (SPEC §2).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// openrouter.ai: `openrouter/auto` by default, `"reasoning": {"effort": …}`.
    #[default]
    OpenRouter,
    /// Any other server (OpenAI, vLLM, llama.cpp…): no default model, a
    /// top-level `"reasoning_effort"`.
    OpenAi,
}

/// Everything the command line and environment say about the body.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BodyOptions {
    pub dialect: Dialect,
    pub system: Option<String>,
    /// `-m`, possibly a comma-separated list.
    pub model_flag: Option<String>,
    /// `OPENROUTER_MODEL`, used only when neither `-m` nor the file names a model.
    pub model_env: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub stop: Vec<String>,
    pub reasoning_effort: Option<&'static str>,
    /// `--schema`: the `response_format` shortcut (`-o response_format=…` wins).
    pub response_format: Option<Value>,
    /// Merge `provider.require_parameters: true` (OpenRouter, with a schema).
    pub require_parameters: bool,
    /// `-o KEY=VALUE`, in order.
    pub fields: Vec<(String, Value)>,
    /// `--web`: OpenRouter's web search tool is appended to `tools`.
    pub web: bool,
    /// `--images`: `"modalities": ["image", "text"]` unless the body has them.
    pub images: bool,
}

/// Parses one `-o KEY=VALUE`: VALUE is JSON when it parses, else a string.
pub fn parse_option(arg: &str) -> Result<(String, Value), Failure> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(Failure::usage(format!("-o '{arg}': expected KEY=VALUE"))
            .with_hint("for example -o top_k=40 or -o provider='{\"order\":[\"openai\"]}'"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(Failure::usage(format!("-o '{arg}': the KEY is empty")));
    }
    if key == "stream" {
        return Err(
            Failure::usage(format!("-o '{arg}': orstream always streams"))
                .with_hint("for the whole answer at once, read it from orstream's output"),
        );
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.to_string(), value))
}

/// Parses a request body (a `--request` or `-c` file): a JSON object with
/// a `messages` array. `what` names it in errors (`--request FILE`, `-c
/// FILE`), which carry the parser's line and column, in the user's terms
/// (an array, a string) rather than serde's (a sequence, a map).
pub fn parse_body(text: &str, what: &str) -> Result<Map<String, Value>, Failure> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        messages: Vec<serde::de::IgnoredAny>,
    }
    let bad = |why: String| {
        Failure::usage(format!("{what}: {why}"))
            .with_hint("the body must be a JSON object with a \"messages\" array")
    };
    // Editors on Windows start files with a BOM; jq accepts it, so do we.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Value = serde_json::from_str(text).map_err(|e| bad(syntax_error(&e)))?;
    // Deserialized only for where it fails; what failed is said from `value`.
    let Err(e) = serde_json::from_str::<Shape>(text) else {
        match value {
            Value::Object(map) => return Ok(map),
            _ => unreachable!("a body with a messages array is an object"),
        }
    };
    let (why, (line, column)) = match &value {
        Value::Object(map) => match map.get("messages") {
            None => (
                "there is no \"messages\" array".to_string(),
                (e.line(), e.column()),
            ),
            Some(m) => (
                format!("\"messages\" is {}, not an array", a_json_type(m)),
                (e.line(), e.column()),
            ),
        },
        // serde would point inside it, where it tried to read a field.
        other => (
            format!("the body is {}, not an object", a_json_type(other)),
            start_of(text),
        ),
    };
    Err(bad(format!(
        "not a chat request: {why} at line {line} column {column}"
    )))
}

/// The line and column (1-based) of the first character that is not
/// whitespace.
fn start_of(text: &str) -> (usize, usize) {
    let skipped = &text[..text.len() - text.trim_start().len()];
    let line = 1 + skipped.matches('\n').count();
    let column = 1 + skipped.rsplit('\n').next().map_or(0, |l| l.chars().count());
    (line, column)
}

/// A JSON syntax error, with its line and column.
fn syntax_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // "EOF while parsing a list at line 3 column 0"
    match text.strip_prefix("EOF while parsing ") {
        Some(rest) => format!("invalid JSON: the text ends inside {rest}"),
        None => format!("invalid JSON: {text}"),
    }
}

/// `an array`, `a string`…: a JSON value's type as a user would say it.
fn a_json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds the body: the `--request` object (or an empty one), then the
/// user content (a string, or an array of parts) as the final user message,
/// then the flags on top.
pub fn build_body(
    base: Option<Map<String, Value>>,
    user_content: Option<Value>,
    opts: &BodyOptions,
) -> Map<String, Value> {
    let mut body = base.unwrap_or_default();
    add_messages(&mut body, opts.system.as_deref(), user_content);
    set_model(&mut body, opts);
    set_shortcuts(&mut body, opts);
    for (key, value) in &opts.fields {
        body.insert(key.clone(), value.clone());
    }
    if opts.web {
        add_web_search(&mut body);
    }
    if opts.images && !body.contains_key("modalities") {
        body.insert("modalities".into(), json!(["image", "text"]));
    }
    if opts.require_parameters {
        require_parameters(&mut body);
    }
    force_streaming(&mut body);
    body
}

/// `-s` replaces a leading system message or inserts one first; the user
/// content is appended last.
fn add_messages(body: &mut Map<String, Value>, system: Option<&str>, user: Option<Value>) {
    if !matches!(body.get("messages"), Some(Value::Array(_))) {
        body.insert("messages".into(), Value::Array(Vec::new()));
    }
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    if let Some(system) = system {
        let first_is_system = messages
            .first()
            .and_then(|m| m.get("role"))
            .is_some_and(|r| r == "system");
        let msg = json!({"role": "system", "content": system});
        if first_is_system {
            messages[0] = msg;
        } else {
            messages.insert(0, msg);
        }
    }
    if let Some(content) = user {
        messages.push(json!({"role": "user", "content": content}));
    }
}

/// `model` (and `models` for a list): flag > file > environment > default;
/// the default only on OpenRouter (another server would not know its
/// router, and most serve one model anyway).
fn set_model(body: &mut Map<String, Value>, opts: &BodyOptions) {
    // A file that names a `model` or a `models` list has chosen: the
    // environment and the default only fill in when it has not.
    let file_chose = body.contains_key("model") || body.contains_key("models");
    let default = match opts.dialect {
        Dialect::OpenRouter => Some(DEFAULT_MODEL),
        Dialect::OpenAi => None,
    };
    let model = match (&opts.model_flag, file_chose) {
        (Some(flag), _) => flag.as_str(),
        (None, true) => return,
        (None, false) => match opts.model_env.as_deref().or(default) {
            Some(model) => model,
            None => return,
        },
    };
    let list: Vec<&str> = model
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    let first = list.first().copied().unwrap_or(model);
    body.insert("model".into(), Value::String(first.to_string()));
    if list.len() > 1 {
        body.insert("models".into(), json!(list));
    } else {
        // A single model named here replaces a fallback list from the file.
        body.shift_remove("models");
    }
}

/// `-t`, `--max-tokens`, `--top-p`, `--seed`, `--stop`, `--reasoning-effort`
/// and `--schema`'s `response_format`.
fn set_shortcuts(body: &mut Map<String, Value>, opts: &BodyOptions) {
    if let Some(t) = opts.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(n) = opts.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(p) = opts.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(s) = opts.seed {
        body.insert("seed".into(), json!(s));
    }
    if !opts.stop.is_empty() {
        body.insert("stop".into(), json!(opts.stop));
    }
    if let Some(effort) = opts.reasoning_effort {
        set_reasoning_effort(body, effort, opts.dialect);
    }
    if let Some(format) = &opts.response_format {
        body.insert("response_format".into(), format.clone());
    }
}

/// `--web`: `{"type": "openrouter:web_search"}` appended to `tools`
/// (created when absent; a `tools` that is not a list is replaced).
fn add_web_search(body: &mut Map<String, Value>) {
    let tool = json!({"type": "openrouter:web_search"});
    match body.get_mut("tools") {
        Some(Value::Array(tools)) => tools.push(tool),
        _ => {
            body.insert("tools".into(), Value::Array(vec![tool]));
        }
    }
}

/// `--reasoning-effort`, in the server's dialect. The flag's level is the
/// one effort sent: the other dialect's spelling from a request file is
/// taken out, so a server never sees two efforts that disagree.
fn set_reasoning_effort(body: &mut Map<String, Value>, effort: &str, dialect: Dialect) {
    match dialect {
        Dialect::OpenRouter => {
            body.shift_remove("reasoning_effort");
            // Merge, so `exclude` or `max_tokens` from a request file survive.
            match body.get_mut("reasoning") {
                Some(Value::Object(r)) => {
                    r.insert("effort".into(), json!(effort));
                }
                _ => {
                    body.insert("reasoning".into(), json!({"effort": effort}));
                }
            }
        }
        Dialect::OpenAi => {
            if let Some(Value::Object(r)) = body.get_mut("reasoning") {
                r.shift_remove("effort");
                if r.is_empty() {
                    body.shift_remove("reasoning");
                }
            }
            body.insert("reasoning_effort".into(), json!(effort));
        }
    }
}

/// `provider.require_parameters: true`, merged into any provider object;
/// an explicit setting wins.
fn require_parameters(body: &mut Map<String, Value>) {
    match body.get_mut("provider") {
        Some(Value::Object(p)) => {
            if !p.contains_key("require_parameters") {
                p.insert("require_parameters".into(), Value::Bool(true));
            }
        }
        Some(_) => {}
        None => {
            body.insert("provider".into(), json!({"require_parameters": true}));
        }
    }
}

/// Forced last: this tool only streams, and OpenAI-compatible servers send
/// token counts only when asked.
fn force_streaming(body: &mut Map<String, Value>) {
    body.insert("stream".into(), Value::Bool(true));
    match body.get_mut("stream_options") {
        Some(Value::Object(o)) => {
            o.insert("include_usage".into(), Value::Bool(true));
        }
        _ => {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn minimal_body() {
        let body = build_body(None, Some("hi".into()), &BodyOptions::default());
        assert_eq!(
            Value::Object(body),
            json!({
                "messages": [{"role": "user", "content": "hi"}],
                "model": "openrouter/auto",
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn system_comes_first() {
        let opts = BodyOptions {
            system: Some("be brief".into()),
            ..Default::default()
        };
        let body = build_body(None, Some("hi".into()), &opts);
        assert_eq!(
            body["messages"],
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
        );
    }

    #[test]
    fn model_list_and_precedence() {
        let opts = BodyOptions {
            model_flag: Some("a/x, b/y".into()),
            model_env: Some("env/m".into()),
            ..Default::default()
        };
        let body = build_body(None, Some("q".into()), &opts);
        assert_eq!(body["model"], "a/x");
        assert_eq!(body["models"], json!(["a/x", "b/y"]));

        let env_only = BodyOptions {
            model_env: Some("env/m".into()),
            ..Default::default()
        };
        assert_eq!(
            build_body(None, Some("q".into()), &env_only)["model"],
            "env/m"
        );

        let file = obj(json!({"model": "file/m", "models": ["file/m", "f/2"], "messages": []}));
        let body = build_body(Some(file.clone()), None, &env_only);
        assert_eq!(body["model"], "file/m", "the file beats the environment");
        assert_eq!(body["models"], json!(["file/m", "f/2"]));

        let list_only = obj(json!({"models": ["l/1", "l/2"], "messages": []}));
        let body = build_body(Some(list_only), None, &env_only);
        assert_eq!(
            body["models"],
            json!(["l/1", "l/2"]),
            "a file's fallback list is kept"
        );
        assert!(
            !body.contains_key("model"),
            "no model is invented beside it"
        );

        let flag = BodyOptions {
            model_flag: Some("flag/m".into()),
            ..Default::default()
        };
        let body = build_body(Some(file), None, &flag);
        assert_eq!(body["model"], "flag/m", "the flag beats the file");
        assert!(!body.contains_key("models"));
    }

    #[test]
    fn request_file_merges() {
        let file = obj(json!({
            "messages": [{"role": "system", "content": "old"}, {"role": "user", "content": "turn 1"}],
            "temperature": 0.1,
            "stream": false,
            "reasoning": {"exclude": true},
            "stream_options": {"foo": 1},
            "tools": [{"type": "function"}]
        }));
        let opts = BodyOptions {
            system: Some("new".into()),
            temperature: Some(0.7),
            reasoning_effort: Some("high"),
            ..Default::default()
        };
        let body = build_body(Some(file), Some("turn 2".into()), &opts);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "new"},
                {"role": "user", "content": "turn 1"},
                {"role": "user", "content": "turn 2"}
            ])
        );
        assert_eq!(body["temperature"], 0.7);
        assert_eq!(body["stream"], true);
        assert_eq!(
            body["reasoning"],
            json!({"exclude": true, "effort": "high"})
        );
        assert_eq!(
            body["stream_options"],
            json!({"foo": 1, "include_usage": true})
        );
        assert_eq!(body["tools"], json!([{"type": "function"}]));
    }

    #[test]
    fn shortcuts() {
        let opts = BodyOptions {
            max_tokens: Some(100),
            top_p: Some(0.9),
            seed: Some(-3),
            stop: vec!["END".into()],
            reasoning_effort: Some("low"),
            ..Default::default()
        };
        let body = build_body(None, Some("q".into()), &opts);
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["top_p"], 0.9);
        assert_eq!(body["seed"], -3);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["reasoning"], json!({"effort": "low"}));
        assert!(
            !body.contains_key("usage"),
            "the deprecated usage field is never sent"
        );
    }

    #[test]
    fn other_servers_get_no_default_model() {
        let other = BodyOptions {
            dialect: Dialect::OpenAi,
            ..Default::default()
        };
        let body = build_body(None, Some("q".into()), &other);
        assert!(!body.contains_key("model"), "{body:?}");
        let env = BodyOptions {
            model_env: Some("env/m".into()),
            ..other.clone()
        };
        assert_eq!(build_body(None, Some("q".into()), &env)["model"], "env/m");
        let flag = BodyOptions {
            model_flag: Some("llama3".into()),
            ..other
        };
        assert_eq!(build_body(None, Some("q".into()), &flag)["model"], "llama3");
    }

    #[test]
    fn reasoning_effort_in_each_dialect() {
        let openai = BodyOptions {
            dialect: Dialect::OpenAi,
            reasoning_effort: Some("high"),
            ..Default::default()
        };
        let body = build_body(None, Some("q".into()), &openai);
        assert_eq!(body["reasoning_effort"], "high");
        assert!(!body.contains_key("reasoning"), "{body:?}");

        // A file's other spelling gives way to the flag; the rest stays.
        let file = obj(json!({"messages": [], "reasoning": {"effort": "low", "exclude": true}}));
        let body = build_body(Some(file), None, &openai);
        assert_eq!(body["reasoning"], json!({"exclude": true}));
        assert_eq!(body["reasoning_effort"], "high");
        let file = obj(json!({"messages": [], "reasoning": {"effort": "low"}}));
        let body = build_body(Some(file), None, &openai);
        assert!(!body.contains_key("reasoning"), "{body:?}");

        let openrouter = BodyOptions {
            reasoning_effort: Some("high"),
            ..Default::default()
        };
        let file = obj(json!({"messages": [], "reasoning_effort": "low"}));
        let body = build_body(Some(file), None, &openrouter);
        assert_eq!(body["reasoning"], json!({"effort": "high"}));
        assert!(!body.contains_key("reasoning_effort"), "{body:?}");

        // Without the flag a file is sent as written, in either dialect.
        let file = obj(json!({"messages": [], "reasoning": {"effort": "low"}}));
        let other = BodyOptions {
            dialect: Dialect::OpenAi,
            ..Default::default()
        };
        let body = build_body(Some(file), None, &other);
        assert_eq!(body["reasoning"], json!({"effort": "low"}));
        assert!(!body.contains_key("reasoning_effort"));
    }

    #[test]
    fn options_parse_json_or_string() {
        assert_eq!(
            parse_option("top_k=40").unwrap(),
            ("top_k".into(), json!(40))
        );
        assert_eq!(
            parse_option("transforms=[]").unwrap(),
            ("transforms".into(), json!([]))
        );
        assert_eq!(
            parse_option(r#"provider={"order":["openai"]}"#).unwrap(),
            ("provider".into(), json!({"order": ["openai"]}))
        );
        assert_eq!(
            parse_option("user=alice").unwrap(),
            ("user".into(), json!("alice"))
        );
        assert_eq!(
            parse_option("note=a=b").unwrap(),
            ("note".into(), json!("a=b"))
        );
        assert_eq!(parse_option("empty=").unwrap(), ("empty".into(), json!("")));
        assert_eq!(parse_option("novalue").unwrap_err().kind.code(), 2);
        assert_eq!(parse_option("=1").unwrap_err().kind.code(), 2);
    }

    #[test]
    fn options_override_shortcuts_but_not_stream() {
        let opts = BodyOptions {
            temperature: Some(0.5),
            fields: vec![
                ("temperature".into(), json!(1.0)),
                ("stream".into(), json!(false)),
            ],
            ..Default::default()
        };
        let body = build_body(None, Some("q".into()), &opts);
        assert_eq!(body["temperature"], 1.0);
        assert_eq!(body["stream"], true);
    }
    #[test]
    fn schema_shortcut_and_provider_merge() {
        let format = json!({"type": "json_schema"});
        let opts = BodyOptions {
            response_format: Some(format.clone()),
            require_parameters: true,
            ..Default::default()
        };
        let body = build_body(None, Some("q".into()), &opts);
        assert_eq!(body["response_format"], format);
        assert_eq!(body["provider"], json!({"require_parameters": true}));

        let opts = BodyOptions {
            fields: vec![
                ("response_format".into(), json!({"type": "json_object"})),
                ("provider".into(), json!({"order": ["a"]})),
            ],
            ..opts
        };
        let body = build_body(None, Some("q".into()), &opts);
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object"}),
            "-o wins over --schema"
        );
        assert_eq!(
            serde_json::to_string(&body["provider"]).unwrap(),
            r#"{"order":["a"],"require_parameters":true}"#,
            "merged into the user's provider object, after its keys"
        );

        let file = obj(json!({"messages": [], "provider": {"require_parameters": false}}));
        let opts = BodyOptions {
            require_parameters: true,
            ..Default::default()
        };
        let body = build_body(Some(file), None, &opts);
        assert_eq!(
            body["provider"],
            json!({"require_parameters": false}),
            "an explicit setting wins"
        );
    }

    #[test]
    fn web_and_images() {
        let opts = BodyOptions {
            web: true,
            images: true,
            ..BodyOptions::default()
        };
        let body = build_body(None, Some(json!("q")), &opts);
        assert_eq!(body["tools"], json!([{"type": "openrouter:web_search"}]));
        assert_eq!(body["modalities"], json!(["image", "text"]));
        let base =
            obj(json!({"messages": [], "tools": [{"type": "function"}], "modalities": ["text"]}));
        let body = build_body(Some(base), None, &opts);
        assert_eq!(
            body["tools"],
            json!([{"type": "function"}, {"type": "openrouter:web_search"}])
        );
        assert_eq!(body["modalities"], json!(["text"]), "the file wins");
        let opts = BodyOptions {
            images: true,
            fields: vec![("modalities".into(), json!(["image"]))],
            ..BodyOptions::default()
        };
        let body = build_body(None, Some(json!("q")), &opts);
        assert_eq!(body["modalities"], json!(["image"]), "-o wins");
    }

    #[test]
    fn user_content_may_be_an_array_of_parts() {
        let parts = json!([{"type": "text", "text": "q"}]);
        let body = build_body(None, Some(parts.clone()), &BodyOptions::default());
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": parts}])
        );
    }

    #[test]
    fn request_shapes() {
        assert!(parse_body(
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            "--request r.json"
        )
        .is_ok());
        let e = parse_body("{\n  \"messages\": [\n", "--request r.json").unwrap_err();
        assert!(
            e.message.contains("--request r.json: invalid JSON"),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 3 column 0"), "{}", e.message);
        assert!(
            e.message.contains("the text ends inside a list"),
            "{}",
            e.message
        );
        assert!(parse_body("\u{feff}{\"messages\":[]}", "--request bom.json").is_ok());
        for (text, want) in [
            (
                r#"{"model":"x"}"#,
                "--request r.json: not a chat request: there is no \"messages\" array at line 1 column 13",
            ),
            (
                "[1]",
                "--request r.json: not a chat request: the body is an array, not an object at line 1 column 1",
            ),
            (
                r#"{"messages":"hi"}"#,
                "--request r.json: not a chat request: \"messages\" is a string, not an array at line 1 column 16",
            ),
            (
                r#"{"messages":{}}"#,
                "--request r.json: not a chat request: \"messages\" is an object, not an array at line 1 column 12",
            ),
            (
                "\n  \"hi\"",
                "--request r.json: not a chat request: the body is a string, not an object at line 2 column 3",
            ),
        ] {
            let e = parse_body(text, "--request r.json").unwrap_err();
            assert_eq!(e.message, want);
            // serde's words are not the user's.
            for serde in ["sequence", "map", "missing field", "invalid type"] {
                assert!(!e.message.contains(serde), "{}", e.message);
            }
        }
    }
}
