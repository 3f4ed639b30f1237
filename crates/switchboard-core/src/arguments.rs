//! Tool arguments: parsed from JSON text or a protobuf Struct, bounded in size, validated
//! against the tool's input schema (the error names the field path and the rule), and digested
//! canonically so the same arguments always give the same digest.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Parses arguments given as JSON text (`field` names it in errors). Must be a JSON object.
pub fn parse_json(text: &str, max_bytes: usize, field: &str) -> Result<Value> {
    if text.len() > max_bytes {
        return Err(Error::invalid(
            crate::reason::ARGUMENTS_TOO_LARGE,
            field,
            format!("is {} bytes; at most {max_bytes} are allowed", text.len()),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            crate::reason::MALFORMED_JSON,
            field,
            format!(
                "is not valid JSON: {} at line {} column {}",
                e_class(&e),
                e.line(),
                e.column()
            ),
        )
    })?;
    if !value.is_object() {
        return Err(Error::invalid(
            crate::reason::NOT_AN_OBJECT,
            field,
            "must be a JSON object",
        ));
    }
    Ok(value)
}

fn e_class(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid data",
        serde_json::error::Category::Io => "read error",
    }
}

/// Checks `arguments` against a tool's compiled input schema. The error's field is
/// `arguments.<path>` (e.g. `arguments.labels[0]`) and its message names the rule.
pub fn validate(validator: &jsonschema::Validator, arguments: &Value) -> Result<()> {
    let Some(err) = validator.iter_errors(arguments).next() else {
        return Ok(());
    };
    let mut field = String::from("arguments");
    for segment in err.instance_path().as_str().split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
            field.push_str(&format!("[{segment}]"));
        } else {
            field.push('.');
            field.push_str(&segment);
        }
    }
    let rule = err
        .schema_path()
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or("schema")
        .to_owned();
    // `masked` leaves the offending value out of the message: it may be sensitive.
    Err(Error::invalid(
        crate::reason::ARGUMENTS_INVALID,
        field,
        format!("{} (rule: {rule})", err.masked()),
    ))
}

/// SHA-256 (hex) of the arguments in canonical form: object keys sorted at every level.
pub fn digest(arguments: &Value) -> String {
    let canonical = canonicalize(arguments).to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonicalize(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn validator() -> jsonschema::Validator {
        jsonschema::validator_for(&json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["title"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn errors_name_the_field_and_rule() {
        let v = validator();
        assert!(validate(&v, &json!({"title": "x"})).is_ok());
        let err = validate(&v, &json!({"title": 5})).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, message, .. } if field == "arguments.title" && message.contains("rule: type")),
            "{err:?}"
        );
        let err = validate(&v, &json!({"title": "x", "labels": ["a", 2]})).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, .. } if field == "arguments.labels[1]"),
            "{err:?}"
        );
        let err = validate(&v, &json!({})).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, message, .. } if field == "arguments" && message.contains("required")),
            "{err:?}"
        );
    }

    #[test]
    fn parsing_refuses_bad_json_large_input_and_non_objects() {
        assert_eq!(
            parse_json("{\"a\":", 100, "arguments_json")
                .unwrap_err()
                .reason(),
            "MALFORMED_JSON"
        );
        assert_eq!(
            parse_json("[1]", 100, "arguments_json")
                .unwrap_err()
                .reason(),
            "NOT_AN_OBJECT"
        );
        assert_eq!(
            parse_json(
                &format!("{{\"a\":\"{}\"}}", "x".repeat(200)),
                100,
                "arguments_json"
            )
            .unwrap_err()
            .reason(),
            "ARGUMENTS_TOO_LARGE"
        );
    }

    #[test]
    fn digest_ignores_key_order() {
        assert_eq!(
            digest(&json!({"a": 1, "b": {"c": 2, "d": 3}})),
            digest(&json!({"b": {"d": 3, "c": 2}, "a": 1}))
        );
        assert_ne!(digest(&json!({"a": 1})), digest(&json!({"a": 2})));
    }
}
