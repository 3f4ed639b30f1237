//! OpenAPI schema objects (2.0, 3.0, 3.1) to plain JSON Schema: local `$ref`s inlined, `allOf`
//! merged where its parts are object schemas, one-alternative `oneOf`/`anyOf` unwrapped,
//! `nullable` turned into a type union, 3.0's boolean `exclusiveMinimum` into 2020-12's number.
//!
//! A description is hostile input, so conversion is bounded three ways: a reference already
//! being expanded (recursion) becomes `{"type": "object"}`; nesting deeper than the caller's
//! depth becomes a bare `{"type": …}`; and every top-level conversion has a node budget, after
//! which what is left becomes `{}`. A schema `$ref` that points nowhere becomes `{}` (any
//! value) and is listed in [`Converter::dangling`] for the report. Keywords the catalog's validator could trip on (`pattern`,
//! whose regex dialect varies, `discriminator`, `xml`, vendor extensions) are left out.

use serde_json::{Map, Value};

use crate::ImportError;

/// Schema nodes one top-level conversion may produce before the rest becomes `{}`.
const NODE_BUDGET: usize = 4_000;

/// The JSON Schema type names; anything else in a description's `type` is dropped.
const TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// Converts schemas of one document.
pub(crate) struct Converter<'d> {
    root: &'d Value,
    /// References being expanded, outermost first.
    stack: Vec<String>,
    budget: usize,
    /// `(location, reference)` of each schema `$ref` that points nowhere, first seen.
    pub(crate) dangling: Vec<(String, String)>,
}

impl<'d> Converter<'d> {
    pub(crate) fn new(root: &'d Value) -> Converter<'d> {
        Converter {
            root,
            stack: Vec::new(),
            budget: NODE_BUDGET,
            dangling: Vec::new(),
        }
    }

    /// Converts the schema at `loc` (a JSON pointer, for errors), nesting at most `max_depth`
    /// levels of properties/items.
    pub(crate) fn convert(
        &mut self,
        schema: &Value,
        loc: &str,
        max_depth: usize,
    ) -> Result<Value, ImportError> {
        self.stack.clear();
        self.budget = NODE_BUDGET;
        self.schema(schema, loc, max_depth)
    }

    /// Follows a local `$ref` (`#/components/schemas/X`); `None` when it points nowhere.
    pub(crate) fn resolve(&self, reference: &str) -> Option<&'d Value> {
        resolve(self.root, reference)
    }

    fn schema(&mut self, s: &Value, loc: &str, depth: usize) -> Result<Value, ImportError> {
        let obj = match s {
            Value::Object(obj) => obj,
            Value::Bool(_) => return Ok(s.clone()),
            _ => return Err(invalid(loc, "a schema must be an object")),
        };
        if self.budget == 0 {
            return Ok(Value::Object(Map::new()));
        }
        self.budget -= 1;
        if let Some(reference) = obj.get("$ref") {
            return self.reference(obj, reference, loc, depth);
        }
        let mut out = Map::new();
        if let Some(parts) = obj.get("allOf") {
            let parts = parts
                .as_array()
                .ok_or_else(|| invalid(&format!("{loc}/allOf"), "allOf must be an array"))?;
            let mut kept = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let part = self.schema(part, &format!("{loc}/allOf/{i}"), depth)?;
                if !merge_object(&mut out, &part) {
                    kept.push(part);
                }
            }
            if !kept.is_empty() {
                out.insert("allOf".into(), Value::Array(kept));
            }
        }
        if let Some(t) = obj.get("type") {
            let types = types_of(t);
            match types.len() {
                0 => {}
                1 => {
                    out.insert("type".into(), Value::String(types[0].clone()));
                }
                _ => {
                    out.insert(
                        "type".into(),
                        Value::Array(types.into_iter().map(Value::String).collect()),
                    );
                }
            }
            if t.as_str() == Some("file") {
                out.insert("format".into(), Value::String("binary".into()));
            }
        }
        for key in ["description", "format"] {
            if let Some(Value::String(text)) = obj.get(key) {
                out.insert(key.into(), Value::String(text.clone()));
            }
        }
        for key in ["default", "const"] {
            if let Some(value) = obj.get(key) {
                out.insert(key.into(), value.clone());
            }
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            out.insert("enum".into(), Value::Array(values.clone()));
        }
        for key in ["minimum", "maximum"] {
            if let Some(n @ Value::Number(_)) = obj.get(key) {
                out.insert(key.into(), n.clone());
            }
        }
        for (exclusive, bound) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            match obj.get(exclusive) {
                Some(n @ Value::Number(_)) => {
                    out.insert(exclusive.into(), n.clone());
                }
                // 2.0/3.0: a flag on `minimum`/`maximum`; 2020-12: the bound itself.
                Some(Value::Bool(true)) => {
                    if let Some(n) = out.remove(bound) {
                        out.insert(exclusive.into(), n);
                    }
                }
                _ => {}
            }
        }
        for key in ["minLength", "maxLength", "minItems", "maxItems"] {
            if let Some(n) = obj.get(key).and_then(Value::as_u64) {
                out.insert(key.into(), n.into());
            }
        }
        for key in ["uniqueItems", "readOnly", "writeOnly"] {
            if let Some(b @ Value::Bool(_)) = obj.get(key) {
                out.insert(key.into(), b.clone());
            }
        }
        self.children(obj, &mut out, loc, depth)?;
        self.alternatives(obj, &mut out, loc, depth)?;
        if obj.get("nullable") == Some(&Value::Bool(true)) {
            make_nullable(&mut out);
        }
        Ok(Value::Object(out))
    }

    /// `properties`, `required`, `items`, `additionalProperties`: one level deeper.
    fn children(
        &mut self,
        obj: &Map<String, Value>,
        out: &mut Map<String, Value>,
        loc: &str,
        depth: usize,
    ) -> Result<(), ImportError> {
        let nested = ["properties", "items", "additionalProperties"]
            .iter()
            .any(|k| obj.get(*k).is_some_and(|v| !v.is_boolean()));
        if nested && depth == 0 {
            // Too deep: keep the shape's kind, not its content.
            if !out.contains_key("type") {
                let kind = if obj.contains_key("items") {
                    "array"
                } else {
                    "object"
                };
                out.insert("type".into(), Value::String(kind.into()));
            }
            return Ok(());
        }
        if let Some(props) = obj.get("properties") {
            let props = props.as_object().ok_or_else(|| {
                invalid(&format!("{loc}/properties"), "properties must be an object")
            })?;
            let mut converted = match out.remove("properties") {
                Some(Value::Object(merged)) => merged,
                _ => Map::new(),
            };
            for (name, prop) in props {
                let at = format!("{loc}/properties/{}", escape(name));
                converted.insert(name.clone(), self.schema(prop, &at, depth - 1)?);
            }
            out.insert("properties".into(), Value::Object(converted));
        }
        if let Some(Value::Array(names)) = obj.get("required") {
            let mut required: Vec<Value> = match out.remove("required") {
                Some(Value::Array(merged)) => merged,
                _ => Vec::new(),
            };
            for name in names.iter().filter(|n| n.is_string()) {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
            out.insert("required".into(), Value::Array(required));
        }
        match obj.get("items") {
            Some(items @ Value::Object(_)) => {
                let items = self.schema(items, &format!("{loc}/items"), depth - 1)?;
                out.insert("items".into(), items);
            }
            Some(Value::Bool(b)) => {
                out.insert("items".into(), Value::Bool(*b));
            }
            _ => {}
        }
        match obj.get("additionalProperties") {
            Some(extra @ Value::Object(_)) => {
                let at = format!("{loc}/additionalProperties");
                let extra = self.schema(extra, &at, depth - 1)?;
                out.insert("additionalProperties".into(), extra);
            }
            Some(Value::Bool(b)) => {
                out.insert("additionalProperties".into(), Value::Bool(*b));
            }
            _ => {}
        }
        Ok(())
    }

    /// `oneOf`/`anyOf`: each alternative converted; `X | null` becomes a nullable `X`, and a
    /// single alternative is merged into its parent.
    fn alternatives(
        &mut self,
        obj: &Map<String, Value>,
        out: &mut Map<String, Value>,
        loc: &str,
        depth: usize,
    ) -> Result<(), ImportError> {
        for key in ["oneOf", "anyOf"] {
            let Some(alternatives) = obj.get(key) else {
                continue;
            };
            let alternatives = alternatives
                .as_array()
                .ok_or_else(|| invalid(&format!("{loc}/{key}"), "must be an array"))?;
            let mut converted = Vec::with_capacity(alternatives.len());
            let mut null = false;
            for (i, alternative) in alternatives.iter().enumerate() {
                let at = format!("{loc}/{key}/{i}");
                let alternative = self.schema(alternative, &at, depth.saturating_sub(1))?;
                if alternative.get("type").and_then(Value::as_str) == Some("null") {
                    null = true;
                } else {
                    converted.push(alternative);
                }
            }
            if converted.len() == 1 && merge_object(out, &converted[0]) {
                if null {
                    make_nullable(out);
                }
                continue;
            }
            if null {
                converted.push(serde_json::json!({"type": "null"}));
            }
            if !converted.is_empty() {
                out.insert(key.into(), Value::Array(converted));
            }
        }
        Ok(())
    }

    fn reference(
        &mut self,
        obj: &Map<String, Value>,
        reference: &Value,
        loc: &str,
        depth: usize,
    ) -> Result<Value, ImportError> {
        let at = format!("{loc}/$ref");
        let reference = reference
            .as_str()
            .ok_or_else(|| invalid(&at, "$ref must be a string"))?;
        let mut out = if !reference.starts_with('#') {
            // Another document (Square's shared definitions): not read, so any value.
            Map::new()
        } else if self.stack.iter().any(|r| r == reference) {
            // Recursion: cut here.
            let mut cut = Map::new();
            cut.insert("type".into(), Value::String("object".into()));
            cut
        } else {
            let Some(target) = self.resolve(reference) else {
                // A dangling reference inside a schema (Square has some): the value is left
                // unconstrained and the report says where.
                if !self.dangling.iter().any(|(_, r)| r == reference) {
                    self.dangling.push((at, reference.to_owned()));
                }
                return Ok(Value::Object(Map::new()));
            };
            self.stack.push(reference.to_owned());
            let converted = self.schema(target, pointer_of(reference), depth);
            self.stack.pop();
            match converted? {
                Value::Object(map) => map,
                other => return Ok(other),
            }
        };
        // Siblings of `$ref` (3.1; tolerated in 3.0): a description, `nullable`.
        if let Some(Value::String(text)) = obj.get("description") {
            out.insert("description".into(), Value::String(text.clone()));
        }
        if obj.get("nullable") == Some(&Value::Bool(true)) {
            make_nullable(&mut out);
        }
        Ok(Value::Object(out))
    }
}

/// Merges an object-like schema (no type, or `object`, without `items`/alternatives) into
/// `out`; false when `part` is not one and was left alone.
fn merge_object(out: &mut Map<String, Value>, part: &Value) -> bool {
    let Some(part) = part.as_object() else {
        return false;
    };
    let object_like = match part.get("type") {
        None => true,
        Some(Value::String(t)) => t == "object",
        Some(_) => false,
    } && !["items", "oneOf", "anyOf", "allOf", "enum", "const"]
        .iter()
        .any(|k| part.contains_key(*k));
    let out_type = out.get("type").and_then(Value::as_str);
    if !object_like || out_type.is_some_and(|t| t != "object") {
        return false;
    }
    for (key, value) in part {
        match (key.as_str(), value) {
            ("properties", Value::Object(props)) => {
                let entry = out
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(merged) = entry {
                    for (name, prop) in props {
                        merged.insert(name.clone(), prop.clone());
                    }
                }
            }
            ("required", Value::Array(names)) => {
                let entry = out
                    .entry("required")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(merged) = entry {
                    for name in names {
                        if !merged.contains(name) {
                            merged.push(name.clone());
                        }
                    }
                }
            }
            // Each part's `additionalProperties: false` would refuse the others' properties.
            ("additionalProperties", _) => {}
            _ => {
                out.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
    }
    true
}

/// Adds `null` to the schema's type (and enum).
pub(crate) fn make_nullable(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            out.insert("type".into(), serde_json::json!([t, "null"]));
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(Value::String("null".into()));
        }
        _ => {}
    }
    if let Some(Value::Array(values)) = out.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
}

/// The valid JSON Schema type names in a `type` (a name or a 3.1 list); 2.0 `file` is a string.
fn types_of(t: &Value) -> Vec<String> {
    let names: Vec<&str> = match t {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = if name == "file" { "string" } else { name };
        if TYPES.contains(&name) && !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    out
}

/// Follows a local reference `#/a/b~1c` in `root`.
pub(crate) fn resolve<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    // `pointer` unescapes `~1` and `~0` itself; percent-encoded pointers (`%7B`) are rare and
    // not decoded.
    root.pointer(pointer)
}

/// The JSON pointer of a local reference, for error locations.
fn pointer_of(reference: &str) -> &str {
    reference.strip_prefix('#').unwrap_or(reference)
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

pub(crate) fn invalid(location: &str, message: &str) -> ImportError {
    ImportError::Invalid {
        location: if location.is_empty() {
            "/".into()
        } else {
            location.to_owned()
        },
        message: message.to_owned(),
    }
}
