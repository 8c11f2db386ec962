//! `--schema` on any text (SPEC §9): the concise syntax and the JSON form
//! never panic, and a concise schema that parses is the object the SPEC
//! describes, `required` naming every property in order. The answer check
//! (after a NUL byte, the answer) never panics; an answer made to fit the
//! schema passes it, `{}` and non-JSON do not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{concise, from_json, Schema};
use serde_json::Value;

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fuzz_target!(|input: &[u8]| {
    let (input, answer) = match input.iter().position(|&b| b == 0) {
        Some(at) => (&input[..at], Some(String::from_utf8_lossy(&input[at + 1..]))),
        None => (input, None),
    };
    let text = String::from_utf8_lossy(input);
    if let Ok(s) = from_json(&text, "--schema") {
        if let (Ok(schema), Some(answer)) = (Schema::new(s, "--schema"), &answer) {
            let _ = schema.check(answer);
        }
    }
    let Ok(s) = concise(&text, "--schema") else {
        return;
    };
    check_answers(&s, answer.as_deref());
    let keys: Vec<&str> = s.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["type", "properties", "required", "additionalProperties"]
    );
    assert_eq!(s["type"], "object");
    assert_eq!(s["additionalProperties"], false);
    let Value::Object(properties) = &s["properties"] else {
        panic!("properties is not an object: {s:?}");
    };
    let required: Vec<&str> = match &s["required"] {
        Value::Array(names) => names.iter().map(|n| n.as_str().unwrap()).collect(),
        other => panic!("required is not an array: {other:?}"),
    };
    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
    assert_eq!(required, names, "required is every property, in order");
    assert!(!names.is_empty(), "no fields parsed as a schema");

    let fields = if text.contains('\n') {
        text.split('\n').filter(|f| !f.trim().is_empty()).count()
    } else {
        text.split(',').count()
    };
    assert_eq!(names.len(), fields, "one property per field");
    for (name, property) in properties {
        assert!(is_name(name), "bad name {name:?}");
        let Value::Object(property) = property else {
            panic!("{name}: not an object");
        };
        let t = property["type"].as_str().unwrap();
        assert!(["string", "integer", "number", "boolean"].contains(&t));
        if let Some(d) = property.get("description") {
            let d = d.as_str().unwrap();
            assert!(!d.is_empty() && d.trim() == d, "{name}: description {d:?}");
            assert_eq!(property.len(), 2);
        } else {
            assert_eq!(property.len(), 1);
        }
    }
});

/// The concise schema `s` checks answers: any answer without a panic, one
/// made of a value of each property's type passes, `{}` and non-JSON fail.
fn check_answers(s: &serde_json::Map<String, Value>, answer: Option<&str>) {
    let schema = Schema::new(s.clone(), "--schema").expect("a concise schema compiles");
    if let Some(answer) = answer {
        let _ = schema.check(answer);
    }
    let fitting: serde_json::Map<String, Value> = s["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, p)| {
            let value = match p["type"].as_str().unwrap() {
                "string" => Value::from("x"),
                "integer" => Value::from(1),
                "number" => Value::from(1.5),
                _ => Value::from(true),
            };
            (name.clone(), value)
        })
        .collect();
    let fitting = Value::Object(fitting).to_string();
    if let Err(e) = schema.check(&fitting) {
        panic!("{fitting} does not fit: {}", e.message);
    }
    assert!(schema.check("{}").is_err(), "{{}} has no required key");
    assert!(schema.check("not json").is_err());
}
