//! The result object of `--result` (SPEC §11), and of each item of
//! `--each` (§12): one compact JSON line, keys in the SPEC's order (pure).

use crate::answer::{Answer, Image};
use crate::secret::redact;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What the run adds to the answer.
#[derive(Debug, Default)]
pub struct Run<'a> {
    /// The exit status about to be returned.
    pub exit: u8,
    /// The message of the `orstream: error:` line (`None` on exit 0).
    pub error: Option<&'a str>,
    pub warnings: &'a [String],
    /// Milliseconds from the start to the first byte of answer text.
    pub ttft_ms: Option<u64>,
    pub elapsed_ms: u64,
    /// `--reasoning`: the reasoning and its structured form are reported.
    pub reasoning: bool,
    /// `--schema`: the parsed answer (`Some(None)`: it did not parse).
    pub json: Option<Option<Value>>,
    /// `-x`: the extracted block (`Some(None)`: there was none).
    pub code: Option<Option<&'a str>>,
}

/// `--each`: which item of FILE the object is for.
#[derive(Debug, Serialize)]
pub struct Item<'a> {
    pub line: u64,
    pub id: &'a Value,
}

#[derive(Serialize)]
struct Object<'a> {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    item: Option<&'a Item<'a>>,
    text: &'a str,
    finish_reason: Option<&'a str>,
    exit: u8,
    error: Option<&'a str>,
    warnings: &'a [String],
    model: Option<&'a str>,
    provider: Option<&'a str>,
    generation_id: Option<&'a str>,
    usage: Option<&'a RawValue>,
    citations: Vec<CitationOut<'a>>,
    images: Vec<ImageOut<'a>>,
    tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_details: Option<&'a [Map<String, Value>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    json: Option<&'a Option<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<Option<&'a str>>,
    ttft_ms: Option<u64>,
    elapsed_ms: u64,
}

#[derive(Serialize)]
struct CitationOut<'a> {
    url: &'a str,
    title: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ImageOut<'a> {
    Data {
        path: Option<&'a str>,
        #[serde(rename = "type")]
        mime: &'a str,
        bytes: u64,
    },
    Link {
        url: &'a str,
    },
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: Option<&'a str>,
    arguments: &'a str,
}

/// The object as one line (no line end), the key masked.
pub fn line(answer: &Answer, run: &Run<'_>, item: Option<&Item<'_>>) -> String {
    let details = answer.reasoning_details();
    let object = Object {
        item,
        text: answer.text().unwrap_or_default(),
        finish_reason: answer.finish_reason.as_deref(),
        exit: run.exit,
        error: run.error,
        warnings: run.warnings,
        model: answer.model.as_deref(),
        provider: answer.provider.as_deref(),
        generation_id: answer.id.as_deref(),
        usage: answer.usage_raw(),
        citations: answer
            .citations()
            .iter()
            .map(|c| CitationOut {
                url: &c.url,
                title: c.title.as_deref(),
            })
            .collect(),
        images: answer.images().iter().map(image_out).collect(),
        tool_calls: answer
            .tool_calls()
            .into_iter()
            .map(|c| ToolCallOut {
                id: c.id.as_deref(),
                kind: c.kind.as_deref().unwrap_or("function"),
                function: FunctionOut {
                    name: c.name.as_deref(),
                    arguments: &c.arguments,
                },
            })
            .collect(),
        reasoning: run.reasoning.then(|| answer.reasoning()),
        reasoning_details: (run.reasoning && !details.is_empty()).then_some(details),
        json: run.json.as_ref(),
        code: run.code,
        ttft_ms: run.ttft_ms,
        elapsed_ms: run.elapsed_ms,
    };
    // Serialising borrowed strings and numbers cannot fail.
    let text = serde_json::to_string(&object).unwrap_or_default();
    redact(&text)
}

fn image_out(image: &Image) -> ImageOut<'_> {
    match image {
        Image::Data { path, mime, bytes } => ImageOut::Data {
            path: path.as_deref(),
            mime,
            bytes: *bytes,
        },
        Image::Link(url) => ImageOut::Link { url },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Carrier, Keep, Wants};
    use crate::chunk::Chunk;

    fn answer(chunks: &[&str], wants: Wants) -> Answer {
        let mut a = Answer::new(wants);
        for c in chunks {
            a.apply(&Chunk::parse(c).unwrap(), Carrier::Delta);
        }
        a
    }

    #[test]
    fn an_empty_run_has_every_key_in_order() {
        let a = Answer::new(Wants::text(Keep::All));
        let run = Run {
            exit: 7,
            error: Some("could not connect"),
            elapsed_ms: 12,
            ..Run::default()
        };
        assert_eq!(
            line(&a, &run, None),
            concat!(
                r#"{"text":"","finish_reason":null,"exit":7,"error":"could not connect","warnings":[],"#,
                r#""model":null,"provider":null,"generation_id":null,"usage":null,"citations":[],"#,
                r#""images":[],"tool_calls":[],"ttft_ms":null,"elapsed_ms":12}"#
            )
        );
    }

    #[test]
    fn a_full_answer() {
        let wants = Wants {
            text: Keep::All,
            reasoning: true,
            details: true,
        };
        let mut a = answer(
            &[
                r#"{"id":"g","model":"m","provider":"P","choices":[{"delta":{"content":"{\"a\":1}","reasoning":"r","reasoning_details":[{"type":"reasoning.text","text":"r","index":0}],"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}],"annotations":[{"type":"url_citation","url_citation":{"url":"u","title":"T"}}]},"finish_reason":"stop"}]}"#,
                r#"{"choices":[],"usage":{"cost":1.50,"prompt_tokens":2}}"#,
            ],
            wants,
        );
        a.push_image(Image::Data {
            path: Some("out/image-1.png".into()),
            mime: "image/png",
            bytes: 9,
        });
        a.push_image(Image::Link("https://x/y.png".into()));
        let warnings = vec!["w".to_string()];
        let run = Run {
            exit: 0,
            warnings: &warnings,
            ttft_ms: Some(3),
            elapsed_ms: 5,
            reasoning: true,
            json: Some(Some(serde_json::json!({"a": 1}))),
            code: Some(None),
            ..Run::default()
        };
        let id = Value::from("r1");
        let item = Item { line: 4, id: &id };
        assert_eq!(
            line(&a, &run, Some(&item)),
            concat!(
                r#"{"line":4,"id":"r1","text":"{\"a\":1}","finish_reason":"stop","exit":0,"error":null,"#,
                r#""warnings":["w"],"model":"m","provider":"P","generation_id":"g","#,
                r#""usage":{"cost":1.50,"prompt_tokens":2},"citations":[{"url":"u","title":"T"}],"#,
                r#""images":[{"path":"out/image-1.png","type":"image/png","bytes":9},{"url":"https://x/y.png"}],"#,
                r#""tool_calls":[{"id":null,"type":"function","function":{"name":"f","arguments":"{}"}}],"#,
                r#""reasoning":"r","reasoning_details":[{"type":"reasoning.text","text":"r","index":0}],"#,
                r#""json":{"a":1},"code":null,"ttft_ms":3,"elapsed_ms":5}"#
            )
        );
    }

    #[test]
    fn reasoning_details_only_when_sent() {
        let wants = Wants {
            text: Keep::All,
            reasoning: true,
            details: true,
        };
        let a = answer(&[r#"{"choices":[{"delta":{"content":"x"}}]}"#], wants);
        let run = Run {
            reasoning: true,
            json: Some(None),
            code: Some(Some("c")),
            ..Run::default()
        };
        let l = line(&a, &run, None);
        assert!(
            l.contains(r#""reasoning":"","json":null,"code":"c","#),
            "{l}"
        );
        assert!(!l.contains("reasoning_details"), "{l}");
    }
}
