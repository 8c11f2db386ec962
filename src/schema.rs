//! `--schema`: SCHEMA → JSON Schema, the `response_format` around it, and
//! the answer check behind exit 8 (SPEC §9). Pure: a SCHEMA file is read by `config`.
//!
//! Every object is built key by key: serde_json keeps insertion order, and
//! the order a schema lists its properties in steers the model's answer.

use crate::exit::Failure;
use serde::Deserialize;
use serde_json::{json, Map, Value};

const FIELD_HINT: &str = "write fields as 'NAME [TYPE][: DESCRIPTION]' with TYPE str, int, float or bool, e.g. 'name, age int: in years'";

/// A JSON object schema from text; `what` names it in errors (`--schema` or
/// `--schema FILE`). Errors carry the parser's line and column.
pub fn from_json(text: &str, what: &str) -> Result<Map<String, Value>, Failure> {
    serde_json::from_str(text).map_err(|e: serde_json::Error| {
        let why = if e.is_syntax() || e.is_eof() {
            "invalid JSON"
        } else {
            "not a JSON object"
        };
        Failure::usage(format!("{what}: {why}: {e}"))
    })
}

/// The concise syntax → S: `name, age int: in years` (pure).
pub fn concise(text: &str, flag: &str) -> Result<Map<String, Value>, Failure> {
    let fields: Vec<&str> = if text.contains('\n') {
        text.split('\n').filter(|f| !f.trim().is_empty()).collect()
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        text.split(',').collect()
    };
    if fields.is_empty() {
        return Err(Failure::usage(format!("{flag}: no fields given")).with_hint(FIELD_HINT));
    }
    let mut properties = Map::new();
    for field in fields {
        let bad = |why: String| {
            Failure::usage(format!("{flag}: bad field '{}': {why}", field.trim()))
                .with_hint(FIELD_HINT)
        };
        let (head, description) = match field.split_once(':') {
            Some((head, d)) => (head, Some(d.trim()).filter(|d| !d.is_empty())),
            None => (field, None),
        };
        let words: Vec<&str> = head.split_whitespace().collect();
        let (name, kind) = match words[..] {
            [] => return Err(bad("no name".to_string())),
            [name] => (name, "str"),
            [name, kind] => (name, kind),
            _ => return Err(bad("more than a name and a type before ':'".to_string())),
        };
        if !is_name(name) {
            return Err(bad(format!(
                "bad name '{name}' (use letters, digits and '_', not first a digit)"
            )));
        }
        let json_type = match kind {
            "str" => "string",
            "int" => "integer",
            "float" => "number",
            "bool" => "boolean",
            _ => {
                return Err(bad(format!(
                    "unknown type '{kind}' (use str, int, float or bool)"
                )))
            }
        };
        if properties.contains_key(name) {
            return Err(bad(format!("'{name}' is given twice")));
        }
        let mut property = Map::new();
        property.insert("type".to_string(), json_type.into());
        if let Some(d) = description {
            property.insert("description".to_string(), d.into());
        }
        properties.insert(name.to_string(), Value::Object(property));
    }
    let required: Vec<Value> = properties.keys().map(|k| k.as_str().into()).collect();
    let mut s = Map::new();
    s.insert("type".to_string(), "object".into());
    s.insert("properties".to_string(), Value::Object(properties));
    s.insert("required".to_string(), Value::Array(required));
    s.insert("additionalProperties".to_string(), false.into());
    Ok(s)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `--schema-multi`: S wrapped as a list under `items`.
pub fn wrap_multi(s: Map<String, Value>) -> Map<String, Value> {
    let mut list = Map::new();
    list.insert("type".to_string(), "array".into());
    list.insert("items".to_string(), Value::Object(s));
    let mut properties = Map::new();
    properties.insert("items".to_string(), Value::Object(list));
    let mut wrapped = Map::new();
    wrapped.insert("type".to_string(), "object".into());
    wrapped.insert("properties".to_string(), Value::Object(properties));
    wrapped.insert("required".to_string(), json!(["items"]));
    wrapped.insert("additionalProperties".to_string(), false.into());
    wrapped
}

/// The body's `response_format` for S.
pub fn response_format(s: Map<String, Value>) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {"name": "answer", "strict": true, "schema": s}
    })
}

/// The answer check after a completed stream: Ok, or the why of
/// "the answer is not valid JSON for --schema: <why>". Only the shape the
/// caller relies on is checked (one JSON value, the required keys), not the
/// whole schema: the provider enforces that, and a second validator here
/// would only disagree with it at the margins.
pub fn check(answer: &str, s: &Map<String, Value>) -> Result<(), String> {
    if answer.trim().is_empty() {
        return Err("the answer is empty".to_string());
    }
    let mut de = serde_json::Deserializer::from_str(answer);
    let value = Value::deserialize(&mut de).map_err(|e| e.to_string())?;
    // Trailing whitespace is fine; anything else (prose, a second value) is not.
    de.end().map_err(|e| e.to_string())?;
    let Some(Value::Array(required)) = s.get("required") else {
        return Ok(());
    };
    let Value::Object(object) = &value else {
        return Err(format!("expected an object, got {}", a_kind(&value)));
    };
    for key in required.iter().filter_map(Value::as_str) {
        if !object.contains_key(key) {
            return Err(format!("missing key {}", Value::from(key)));
        }
    }
    Ok(())
}

fn a_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &Map<String, Value>) -> String {
        serde_json::to_string(s).unwrap()
    }

    fn concise_ok(arg: &str) -> String {
        text(&concise(arg, "--schema").unwrap())
    }

    fn concise_err(arg: &str) -> String {
        let e = concise(arg, "--schema").unwrap_err();
        assert_eq!(e.kind.code(), 2, "{}", e.message);
        e.message
    }

    #[test]
    fn concise_types_and_order() {
        assert_eq!(
            concise_ok("name, age int, height float, ok bool, note str"),
            concat!(
                r#"{"type":"object","properties":{"#,
                r#""name":{"type":"string"},"age":{"type":"integer"},"#,
                r#""height":{"type":"number"},"ok":{"type":"boolean"},"#,
                r#""note":{"type":"string"}},"#,
                r#""required":["name","age","height","ok","note"],"additionalProperties":false}"#
            )
        );
        // Property order is as written, not sorted.
        assert_eq!(
            concise_ok("zeta,alpha"),
            concat!(
                r#"{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"}},"#,
                r#""required":["zeta","alpha"],"additionalProperties":false}"#
            )
        );
    }

    #[test]
    fn concise_descriptions() {
        assert_eq!(
            concise_ok("title: the title,  year int :  when it came out  , _x:"),
            concat!(
                r#"{"type":"object","properties":{"#,
                r#""title":{"type":"string","description":"the title"},"#,
                r#""year":{"type":"integer","description":"when it came out"},"#,
                r#""_x":{"type":"string"}},"#,
                r#""required":["title","year","_x"],"additionalProperties":false}"#
            )
        );
        // Only the first colon splits.
        assert_eq!(
            concise_ok("t: at 10:30"),
            r#"{"type":"object","properties":{"t":{"type":"string","description":"at 10:30"}},"required":["t"],"additionalProperties":false}"#
        );
    }

    #[test]
    fn concise_newlines() {
        // With a newline, commas belong to descriptions and blank lines are skipped.
        assert_eq!(
            concise_ok("\n  name : full name, as written\r\n\n \t\nage\tint\n"),
            concat!(
                r#"{"type":"object","properties":{"#,
                r#""name":{"type":"string","description":"full name, as written"},"#,
                r#""age":{"type":"integer"}},"#,
                r#""required":["name","age"],"additionalProperties":false}"#
            )
        );
    }

    #[test]
    fn concise_bad_fields() {
        assert_eq!(
            concise_err("name, age integer"),
            "--schema: bad field 'age integer': unknown type 'integer' (use str, int, float or bool)"
        );
        assert_eq!(
            concise_err("a Int"),
            "--schema: bad field 'a Int': unknown type 'Int' (use str, int, float or bool)"
        );
        assert_eq!(concise_err("a,,b"), "--schema: bad field '': no name");
        assert_eq!(concise_err("a,"), "--schema: bad field '': no name");
        assert_eq!(
            concise_err("a, : described"),
            "--schema: bad field ': described': no name"
        );
        assert!(concise_err("1st").starts_with("--schema: bad field '1st': bad name '1st'"));
        assert!(concise_err("first-name").contains("bad name 'first-name'"));
        assert!(concise_err("né").contains("bad name 'né'"));
        assert_eq!(
            concise_err("full name str"),
            "--schema: bad field 'full name str': more than a name and a type before ':'"
        );
        assert_eq!(
            concise_err("a, b int, a bool"),
            "--schema: bad field 'a bool': 'a' is given twice"
        );
        assert_eq!(
            concise_err("a\nb\na"),
            "--schema: bad field 'a': 'a' is given twice"
        );
        let e = concise("x y z", "--schema-multi").unwrap_err();
        assert!(e.message.starts_with("--schema-multi: bad field"));
        assert!(e.hint.is_some());
    }

    #[test]
    fn concise_no_fields() {
        assert_eq!(concise_err(""), "--schema: no fields given");
        assert_eq!(concise_err("   "), "--schema: no fields given");
        assert_eq!(concise_err("\n \n"), "--schema: no fields given");
    }

    #[test]
    fn multi_wraps_s() {
        let s = concise("a", "--schema-multi").unwrap();
        assert_eq!(
            text(&wrap_multi(s)),
            concat!(
                r#"{"type":"object","properties":{"items":{"type":"array","items":"#,
                r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}"#,
                r#"}},"required":["items"],"additionalProperties":false}"#
            )
        );
    }

    #[test]
    fn response_format_shape() {
        let s = from_json(r#"{"type":"object","b":1,"a":2}"#, "--schema").unwrap();
        assert_eq!(
            response_format(s).to_string(),
            r#"{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","b":1,"a":2}}}"#
        );
    }

    #[test]
    fn check_answers() {
        let s = concise("name, age int", "--schema").unwrap();
        assert_eq!(check(r#"{"name":"Ada","age":36}"#, &s), Ok(()));
        assert_eq!(
            check("\n  {\"age\":1,\"name\":\"x\",\"extra\":0} \r\n\t", &s),
            Ok(())
        );
        assert_eq!(
            check(r#"{"name":"Ada"}"#, &s),
            Err(r#"missing key "age""#.to_string())
        );
        assert_eq!(
            check("[1]", &s),
            Err("expected an object, got an array".to_string())
        );
        assert_eq!(
            check("\"x\"", &s),
            Err("expected an object, got a string".to_string())
        );
        assert_eq!(
            check("null", &s),
            Err("expected an object, got null".to_string())
        );
        assert_eq!(check("", &s), Err("the answer is empty".to_string()));
        assert_eq!(check(" \n", &s), Err("the answer is empty".to_string()));

        let prose = check("Sure! {\"name\":1}", &s).unwrap_err();
        assert!(
            prose.contains("expected value at line 1 column 1"),
            "{prose}"
        );
        let trailing = check("{\"name\":1,\"age\":2} thanks", &s).unwrap_err();
        assert!(
            trailing.contains("trailing characters at line 1 column"),
            "{trailing}"
        );
        let two = check("{\"name\":1,\"age\":2}\n{\"name\":1,\"age\":2}", &s).unwrap_err();
        assert!(
            two.contains("trailing characters at line 2 column 1"),
            "{two}"
        );
        let cut = check("{\"name\":", &s).unwrap_err();
        assert!(cut.contains("EOF while parsing"), "{cut}");
    }

    #[test]
    fn check_without_required_takes_any_value() {
        let s = from_json(r#"{"type":"array"}"#, "--schema").unwrap();
        for answer in ["[1,2]", "3", "\"s\"", "null", "{}", " true "] {
            assert_eq!(check(answer, &s), Ok(()), "{answer}");
        }
        assert!(check("1 2", &s).is_err());
    }

    #[test]
    fn check_multi_requires_items() {
        let s = wrap_multi(concise("a", "--schema-multi").unwrap());
        assert_eq!(check(r#"{"items":[{"a":"x"}]}"#, &s), Ok(()));
        assert_eq!(check(r#"{"items":[]}"#, &s), Ok(()));
        assert_eq!(
            check(r#"[{"a":"x"}]"#, &s),
            Err("expected an object, got an array".to_string())
        );
        assert_eq!(
            check(r#"{"a":"x"}"#, &s),
            Err(r#"missing key "items""#.to_string())
        );
    }
}
