//! What a chunk means: content, reasoning, finish, usage, error (pure).
//!
//! Every field is optional and unknown fields are ignored: servers differ, and
//! OpenRouter's own chunks changed shape over the years. Strings borrow from
//! the event data when they hold no escapes.

mod fast;
mod lenient;

pub use fast::{check_against_full_parse, FastPath, Template};

use crate::text::one_line;
use lenient::{error, object, objects, owned, raw_object, raw_objects, text, texts};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A JSON string that borrows when it can. (`#[serde(borrow)]` on an
/// `Option<Cow<str>>` is silently ignored; a newtype makes it work.)
#[derive(Debug, Deserialize, PartialEq, Eq, Clone)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One streamed chunk, or a whole non-streamed completion.
#[derive(Debug, Default, Deserialize)]
pub struct Chunk<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub id: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub model: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub provider: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "objects")]
    pub choices: Option<Vec<Choice<'a>>>,
    /// Reported as received (`--result`), read as [`Usage`] for `-u`.
    #[serde(default, borrow, deserialize_with = "raw_object")]
    pub usage: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "error")]
    pub error: Option<ApiError<'a>>,
    /// Sources as bare URLs (Perplexity and others).
    #[serde(default, borrow, deserialize_with = "texts")]
    pub citations: Option<Vec<Text<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Choice<'a> {
    #[serde(default, borrow, deserialize_with = "object")]
    pub delta: Option<Delta<'a>>,
    /// A non-streamed completion carries `message` instead of `delta`.
    #[serde(default, borrow, deserialize_with = "object")]
    pub message: Option<Delta<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub finish_reason: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub native_finish_reason: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Delta<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub content: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub reasoning: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub reasoning_content: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "objects")]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
    #[serde(default, borrow, deserialize_with = "objects")]
    pub images: Option<Vec<ImagePart<'a>>>,
    #[serde(default, borrow, deserialize_with = "objects")]
    pub annotations: Option<Vec<Annotation<'a>>>,
    #[serde(default, borrow, deserialize_with = "raw_objects")]
    pub reasoning_details: Option<Vec<&'a RawValue>>,
}

/// A fragment of a tool call: fragments with the same `index` are one call.
#[derive(Debug, Default, Deserialize)]
pub struct ToolCallDelta<'a> {
    #[serde(default, deserialize_with = "owned")]
    pub index: Option<u64>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub id: Option<Text<'a>>,
    #[serde(default, borrow, rename = "type", deserialize_with = "text")]
    pub kind: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "object")]
    pub function: Option<FunctionDelta<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FunctionDelta<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub arguments: Option<Text<'a>>,
}

/// `{"type":"image_url","image_url":{"url":…}}`: a data URL or a link.
#[derive(Debug, Default, Deserialize)]
pub struct ImagePart<'a> {
    #[serde(default, borrow, deserialize_with = "object")]
    pub image_url: Option<ImageUrl<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ImageUrl<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub url: Option<Text<'a>>,
}

/// `{"type":"url_citation","url_citation":{"url":…,"title":…}}`.
#[derive(Debug, Default, Deserialize)]
pub struct Annotation<'a> {
    #[serde(default, borrow, rename = "type", deserialize_with = "text")]
    pub kind: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "object")]
    pub url_citation: Option<UrlCitation<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UrlCitation<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub url: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub title: Option<Text<'a>>,
}

/// The usage figures `-u` prints; every one optional.
#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
pub struct Usage {
    #[serde(default, deserialize_with = "owned")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "owned")]
    pub completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "owned")]
    pub total_tokens: Option<u64>,
    #[serde(default, deserialize_with = "owned")]
    pub cost: Option<f64>,
    #[serde(default, deserialize_with = "object")]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default, deserialize_with = "object")]
    pub completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
pub struct PromptDetails {
    #[serde(default, deserialize_with = "owned")]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
pub struct CompletionDetails {
    #[serde(default, deserialize_with = "owned")]
    pub reasoning_tokens: Option<u64>,
}

/// The `error` object of an error body or a mid-stream error chunk.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError<'a> {
    /// An HTTP-style number from OpenRouter, a string from others.
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub message: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "object")]
    pub metadata: Option<ErrorMetadata<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorMetadata<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub provider_name: Option<Text<'a>>,
    /// The upstream body: usually a string, sometimes an object.
    #[serde(default)]
    pub raw: Option<serde_json::Value>,
}

/// An error body: `{"error": {…}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody<'a> {
    #[serde(default, borrow, deserialize_with = "error")]
    pub error: Option<ApiError<'a>>,
}

impl Usage {
    /// The figures of a usage object as received; `None` when it has none
    /// of the expected shape.
    pub fn read(raw: &RawValue) -> Option<Usage> {
        serde_json::from_str(raw.get()).ok()
    }
}

impl<'a> Chunk<'a> {
    pub fn parse(data: &'a str) -> serde_json::Result<Chunk<'a>> {
        serde_json::from_str(data)
    }

    pub fn first_choice(&self) -> Option<&Choice<'a>> {
        self.choices.as_ref().and_then(|c| c.first())
    }

    /// A choice that ended with `finish_reason: "error"`, if any.
    pub fn errored_choice(&self) -> Option<&Choice<'a>> {
        self.choices.iter().flatten().find(|c| {
            c.finish_reason
                .as_ref()
                .is_some_and(|f| f.as_str() == "error")
        })
    }
}

impl<'a> Delta<'a> {
    /// Answer text, skipping `null` and `""`.
    pub fn text(&self) -> Option<&str> {
        self.content
            .as_ref()
            .map(Text::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Reasoning text: OpenRouter's `reasoning`, or `reasoning_content` from others.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning
            .as_ref()
            .or(self.reasoning_content.as_ref())
            .map(Text::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn has_tool_calls(&self) -> bool {
        self.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
    }
}

impl ApiError<'_> {
    /// `provider: message: raw`, each part only when present, on one line.
    pub fn describe(&self, fallback_provider: Option<&str>) -> String {
        let provider = self
            .metadata
            .as_ref()
            .and_then(|m| m.provider_name.as_ref())
            .map(Text::as_str)
            .or(fallback_provider)
            .filter(|p| !p.is_empty());
        let message = match (&self.message, &self.code) {
            (Some(m), _) if !m.as_str().is_empty() => m.as_str().to_string(),
            (_, Some(code)) => format!("error code {}", value_text(code)),
            _ => "unknown error".to_string(),
        };
        let raw = self
            .metadata
            .as_ref()
            .and_then(|m| m.raw.as_ref())
            .map(value_text);
        let mut out = String::new();
        if let Some(p) = provider {
            out.push_str(p);
            out.push_str(": ");
        }
        out.push_str(&message);
        if let Some(raw) = raw.filter(|r| !r.is_empty() && *r != message) {
            out.push_str(": ");
            out.push_str(&raw);
        }
        one_line(&out, 500)
    }
}

/// A string value as itself, anything else as compact JSON.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Text of an HTTP error body: the JSON `error` when there is one, else the
/// body itself cut to 200 characters.
pub fn error_body_message(body: &str) -> String {
    if let Ok(ErrorBody { error: Some(err) }) = serde_json::from_str::<ErrorBody>(body) {
        return err.describe(None);
    }
    one_line(body, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_chunk() {
        let c = Chunk::parse(
            r#"{"id":"gen-1","model":"m","provider":"P","choices":[{"index":0,"delta":{"content":"Hi \"there\"\n","role":"assistant"},"finish_reason":null}]}"#,
        )
        .unwrap();
        let d = c.first_choice().unwrap().delta.as_ref().unwrap();
        assert_eq!(d.text(), Some("Hi \"there\"\n"));
        assert_eq!(c.provider.unwrap().as_str(), "P");
    }

    #[test]
    fn borrowed_when_no_escapes() {
        let c = Chunk::parse(r#"{"choices":[{"delta":{"content":"plain"}}]}"#).unwrap();
        let d = c.first_choice().unwrap().delta.as_ref().unwrap();
        assert!(matches!(d.content.as_ref().unwrap().0, Cow::Borrowed(_)));
    }

    #[test]
    fn lenient_shapes() {
        for data in [
            r#"{}"#,
            r#"{"choices":[]}"#,
            r#"{"choices":null}"#,
            r#"{"choices":[{"delta":{"content":null}}]}"#,
            r#"{"choices":[{"delta":{"content":""}}]}"#,
            r#"{"choices":[{}]}"#,
            r#"{"choices":[{"delta":null,"finish_reason":null}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens_details":null}}"#,
            r#"{"unknown":{"deep":[1,2,3]},"choices":[{"delta":{"x":1}}]}"#,
        ] {
            let c = Chunk::parse(data).unwrap_or_else(|e| panic!("{data}: {e}"));
            let text = c
                .first_choice()
                .and_then(|ch| ch.delta.as_ref())
                .and_then(Delta::text);
            assert_eq!(text, None, "{data}");
        }
    }

    #[test]
    fn wrong_types_read_as_absent_and_keep_the_text() {
        for data in [
            r#"{"id":12,"choices":[{"delta":{"content":"A"}}]}"#,
            r#"{"provider":{"name":"x"},"choices":[{"delta":{"content":"A"}}]}"#,
            r#"{"usage":{"prompt_tokens":1.5,"cost":"0.1"},"choices":[{"delta":{"content":"A"}}]}"#,
            r#"{"usage":"none","choices":[{"delta":{"content":"A"},"finish_reason":1}]}"#,
            r#"{"choices":[7,{"delta":{"content":"A","reasoning":["x"],"tool_calls":"no"}}]}"#,
            r#"{"model":null,"choices":[{"delta":{"content":"A"},"message":"m"}]}"#,
        ] {
            let c = Chunk::parse(data).unwrap_or_else(|e| panic!("{data}: {e}"));
            let text = c
                .first_choice()
                .and_then(|ch| ch.delta.as_ref())
                .and_then(Delta::text);
            assert_eq!(text, Some("A"), "{data}");
        }
        let c = Chunk::parse(r#"{"content":["x"],"choices":{"a":1}}"#).unwrap();
        assert!(c.choices.is_none());
    }

    #[test]
    fn error_of_any_shape_is_an_error() {
        let c = Chunk::parse(r#"{"error":"overloaded"}"#).unwrap();
        assert_eq!(c.error.unwrap().describe(None), "overloaded");
        let c = Chunk::parse(r#"{"error":{"message":5,"code":"x"}}"#).unwrap();
        assert_eq!(c.error.unwrap().describe(None), "error code x");
        assert!(Chunk::parse(r#"{"error":null}"#).unwrap().error.is_none());
    }

    #[test]
    fn error_code_number_or_string() {
        let a = Chunk::parse(r#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#).unwrap();
        assert_eq!(
            a.error.unwrap().describe(Some("OpenAI")),
            "OpenAI: Rate limit exceeded"
        );
        let b = Chunk::parse(
            r#"{"error":{"code":"server_error","message":"Provider disconnected"},"provider":"openai"}"#,
        )
        .unwrap();
        assert_eq!(b.error.unwrap().describe(None), "Provider disconnected");
        let c = Chunk::parse(r#"{"error":{"code":502}}"#).unwrap();
        assert_eq!(c.error.unwrap().describe(None), "error code 502");
    }

    #[test]
    fn errored_choice_any_index() {
        let c = Chunk::parse(
            r#"{"choices":[{"finish_reason":null},{"delta":{},"finish_reason":"error","native_finish_reason":"MALFORMED_FUNCTION_CALL"}]}"#,
        )
        .unwrap();
        let e = c.errored_choice().unwrap();
        assert_eq!(
            e.native_finish_reason.as_ref().unwrap().as_str(),
            "MALFORMED_FUNCTION_CALL"
        );
    }

    #[test]
    fn the_first_errored_choice_is_reported() {
        let c = Chunk::parse(
            r#"{"choices":[{"delta":{"content":"A"}},{"finish_reason":"stop"},{"finish_reason":"error","native_finish_reason":"third"},{"finish_reason":"error","native_finish_reason":"fourth"}]}"#,
        )
        .unwrap();
        let first = c.first_choice().unwrap();
        assert_eq!(first.delta.as_ref().and_then(Delta::text), Some("A"));
        let e = c.errored_choice().unwrap();
        assert_eq!(e.native_finish_reason.as_ref().unwrap().as_str(), "third");
    }

    #[test]
    fn reasoning_and_tools() {
        let c = Chunk::parse(
            r#"{"choices":[{"delta":{"reasoning_content":"hmm","tool_calls":[{"index":0}]}}]}"#,
        )
        .unwrap();
        let d = c.first_choice().unwrap().delta.as_ref().unwrap();
        assert_eq!(d.reasoning_text(), Some("hmm"));
        assert!(d.has_tool_calls());
    }

    #[test]
    fn usage_fields() {
        let c = Chunk::parse(
            r#"{"choices":[],"usage":{"prompt_tokens":15,"completion_tokens":9,"total_tokens":24,"cost":0.00006,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
        )
        .unwrap();
        let u = Usage::read(c.usage.unwrap()).unwrap();
        assert_eq!(u.prompt_tokens, Some(15));
        assert_eq!(u.cost, Some(0.00006));
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(3));
        assert_eq!(
            u.completion_tokens_details.unwrap().reasoning_tokens,
            Some(2)
        );
    }

    #[test]
    fn usage_is_kept_as_received_and_only_an_object() {
        let c = Chunk::parse(r#"{"usage":{"cost":1.50,"z":[1,{"a":null}]}}"#).unwrap();
        assert_eq!(
            c.usage.unwrap().get(),
            r#"{"cost":1.50,"z":[1,{"a":null}]}"#
        );
        for data in [r#"{"usage":[1]}"#, r#"{"usage":"x"}"#, r#"{"usage":null}"#] {
            assert!(Chunk::parse(data).unwrap().usage.is_none(), "{data}");
        }
    }

    #[test]
    fn the_whole_answer_fields() {
        let c = Chunk::parse(
            r#"{"citations":["u1",5,"u2"],"choices":[{"delta":{"images":[{"type":"image_url","image_url":{"url":"data:x"}},3],"annotations":[{"type":"url_citation","url_citation":{"url":"a","title":"t"}}],"reasoning_details":[{"index":0},"x",{"index":1}],"tool_calls":[{"index":2,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        )
        .unwrap();
        let cited: Vec<&str> = c.citations.iter().flatten().map(Text::as_str).collect();
        assert_eq!(cited, ["u1", "u2"]);
        let d = c.first_choice().unwrap().delta.as_ref().unwrap();
        let image = d.images.as_ref().unwrap()[0].image_url.as_ref().unwrap();
        assert_eq!(image.url.as_ref().unwrap().as_str(), "data:x");
        assert_eq!(d.images.as_ref().unwrap().len(), 1);
        let a = &d.annotations.as_ref().unwrap()[0];
        assert_eq!(
            a.url_citation
                .as_ref()
                .unwrap()
                .title
                .as_ref()
                .unwrap()
                .as_str(),
            "t"
        );
        let details: Vec<&str> = d
            .reasoning_details
            .iter()
            .flatten()
            .map(|r| r.get())
            .collect();
        assert_eq!(details, [r#"{"index":0}"#, r#"{"index":1}"#]);
        let call = &d.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.index, Some(2));
        assert_eq!(call.kind.as_ref().unwrap().as_str(), "function");
        // Wrong types read as absent, the text kept.
        let c = Chunk::parse(
            r#"{"citations":{"a":1},"choices":[{"delta":{"content":"A","images":"x","annotations":{},"reasoning_details":"r","tool_calls":[1]}}]}"#,
        )
        .unwrap();
        assert!(c.citations.is_none());
        let d = c.first_choice().unwrap().delta.as_ref().unwrap();
        assert_eq!(d.text(), Some("A"));
        assert!(d.images.is_none() && d.annotations.is_none() && d.reasoning_details.is_none());
        assert!(!d.has_tool_calls());
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_body_message(
                r#"{"error":{"message":"Missing Authentication header","code":401}}"#
            ),
            "Missing Authentication header"
        );
        assert_eq!(
            error_body_message(
                r#"{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"x is rate-limited\nupstream","provider_name":"Chutes"}},"user_id":"u"}"#
            ),
            "Chutes: Provider returned error: x is rate-limited upstream"
        );
        assert_eq!(
            error_body_message("<html>\n<b>Bad</b> gateway</html>"),
            "<html> <b>Bad</b> gateway</html>"
        );
        let long = "x".repeat(500);
        assert_eq!(error_body_message(&long).chars().count(), 201);
    }
}
