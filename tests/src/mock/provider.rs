//! Which provider API a mock speaks, its credentials, and what one auth check found.

use serde_json::{json, Value};

/// The API a mock deployment speaks (`--provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// OpenAI-compatible (`/v1/chat/completions`, ...); `Authorization: Bearer` when a key is set.
    #[default]
    OpenAi,
    /// Azure OpenAI (`/openai/deployments/{d}/chat/completions?api-version=`, `api-key`).
    Azure,
    /// Bedrock Runtime Converse / ConverseStream, SigV4.
    Bedrock,
    /// Anthropic Messages (`/v1/messages`, `x-api-key`, `anthropic-version`).
    Anthropic,
    /// Vertex AI: Claude (`:rawPredict`/`:streamRawPredict`) and Gemini
    /// (`:generateContent`/`:streamGenerateContent`), OAuth2 bearer tokens.
    Vertex,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::Bedrock => "bedrock",
            Provider::Anthropic => "anthropic",
            Provider::Vertex => "vertex",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Some(match s {
            "openai" => Provider::OpenAi,
            "azure" => Provider::Azure,
            "bedrock" => Provider::Bedrock,
            "anthropic" => Provider::Anthropic,
            "vertex" | "vertex_ai" => Provider::Vertex,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::parse(s).ok_or_else(|| format!("unknown provider '{s}' (openai, azure, bedrock, anthropic, vertex)"))
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AWS credentials a Bedrock mock accepts (one identity, like one IAM user or role session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Required (as `x-amz-security-token`) when set; rejected when sent but not set.
    pub session_token: Option<String>,
}

/// The result of one request's authentication check (recorded in stats as `last_auth`).
#[derive(Debug, Clone, Default)]
pub struct AuthInfo {
    /// `sigv4`, `bearer`, `api-key`, `x-api-key`, or `none` (no auth required).
    pub scheme: &'static str,
    /// The credentials were accepted.
    pub verified: bool,
    /// Checked against a configured secret (`false`: presence only, no secret configured).
    pub against_secret: bool,
    /// SigV4: the credential scope's region (also when it is the wrong one).
    pub region: Option<String>,
    /// SigV4: the credential scope's service.
    pub service: Option<String>,
    /// SigV4: the access key id.
    pub access_key_id: Option<String>,
    /// SigV4: the `SignedHeaders` list.
    pub signed_headers: Option<Vec<String>>,
    /// SigV4: `x-amz-date`.
    pub date: Option<String>,
    /// SigV4: a session token was sent.
    pub session_token: bool,
    /// SigV4: `x-amz-content-sha256` was sent and was the body's hash.
    pub payload_hash_header: Option<bool>,
    /// Why the credentials were refused (precise; the response carries the provider's text).
    pub error: Option<String>,
}

impl AuthInfo {
    pub fn none() -> AuthInfo {
        AuthInfo { scheme: "none", verified: true, ..Default::default() }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "scheme": self.scheme,
            "verified": self.verified,
            "against_secret": self.against_secret,
            "region": self.region,
            "error": self.error,
        });
        if self.scheme == "sigv4" {
            v["service"] = json!(self.service);
            v["access_key_id"] = json!(self.access_key_id);
            v["signed_headers"] = json!(self.signed_headers);
            v["date"] = json!(self.date);
            v["session_token"] = json!(self.session_token);
            v["payload_hash_header"] = json!(self.payload_hash_header);
        }
        v
    }
}

/// Constant-time-ish equality for secrets (length leaks, contents do not).
pub fn secret_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

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
