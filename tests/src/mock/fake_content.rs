//! Made-up content the provider mocks answer with, shared by the wire formats: tool
//! arguments invented from a tool's JSON schema, and rough token counts.

use serde_json::{json, Value};

/// A made-up argument object for a tool, from its JSON schema: every required property
/// (or the first property when none is required) with a value of its type.
pub fn tool_input_from_schema(schema: &Value) -> Value {
    fn value_for(schema: &Value, name: &str, depth: u32) -> Value {
        if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|a| a.first()) {
            return first.clone();
        }
        // Gemini's schemas spell types in capitals (`STRING`, `OBJECT`).
        let ty = match schema.get("type") {
            Some(Value::String(s)) => s.to_ascii_lowercase(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .find(|t| t != "null")
                .unwrap_or_else(|| "string".into()),
            _ => {
                if schema.get("properties").is_some() {
                    "object".into()
                } else {
                    "string".into()
                }
            }
        };
        match ty.as_str() {
            "integer" | "number" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "null" => Value::Null,
            "object" if depth < 4 => object_for(schema, depth + 1),
            "object" => json!({}),
            _ => json!(format!("mock-{name}")),
        }
    }
    fn object_for(schema: &Value, depth: u32) -> Value {
        let mut out = serde_json::Map::new();
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return Value::Object(out);
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let names: Vec<&str> =
            if required.is_empty() { props.keys().take(1).map(String::as_str).collect() } else { required };
        for n in names {
            let s = props.get(n).cloned().unwrap_or(Value::Null);
            out.insert(n.to_string(), value_for(&s, n, depth));
        }
        Value::Object(out)
    }
    object_for(schema, 0)
}

/// Rough token count of some text (4 characters a token, at least 1).
pub fn tokens_of(chars: u64) -> u64 {
    (chars / 4).max(1)
}
