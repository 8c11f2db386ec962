//! `--schema` on any text (SPEC §9): the concise syntax and the JSON form
//! never panic, and a concise schema that parses is the object the SPEC
//! describes, `required` naming every property in order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{concise, from_json};
use serde_json::Value;

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let _ = from_json(&text, "--schema");
    let Ok(s) = concise(&text, "--schema") else {
        return;
    };
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
