//! The Gemini request (`…/publishers/google/models/{m}:generateContent` or
//! `:streamGenerateContent?alt=sse`) from the neutral request: system messages →
//! `systemInstruction`; turns → `contents[{role: user|model, parts}]` (`text`, `inlineData` for
//! data: URLs, `fileData` for gs:// URLs, `functionCall`, tool messages → user
//! `functionResponse` named after the call they answer, a non-object result under `output`);
//! sampling and `stop`, `seed`, `top_k`, the penalties, `response_format` (json_object /
//! json_schema) → `generationConfig`; tools → `tools[{functionDeclarations}]` (schemas stripped
//! of the JSON Schema keys Vertex's OpenAPI subset refuses); `tool_choice` →
//! `toolConfig.functionCallingConfig`.

use serde_json::{json, Map, Value};

use crate::providers::chat::{self, push_turn, put, unsupported, ChatRequest, Image, Msg, Part, ToolChoice};
use crate::providers::client::parse_chat;
use crate::providers::vertex::model_path;
use crate::providers::{json_headers, ProviderKind, Target, UpstreamRequest};
use crate::RequestError;

const KIND: ProviderKind = ProviderKind::VertexGemini;

pub(crate) fn translate_request(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<UpstreamRequest, RequestError> {
    let (client_api, req) = parse_chat(target, client_path, body)?;
    let b = generate_body(&req)?;
    let verb = if req.stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
    Ok(UpstreamRequest {
        path: format!("{}:{verb}", model_path(target, "google")?),
        body: b.to_string().into_bytes(),
        set_headers: json_headers(Some(if req.stream { "text/event-stream" } else { "application/json" })),
        stream: req.stream,
        include_usage: req.include_usage,
        client_api,
    })
}

fn mime_from_extension(url: &str) -> Option<&'static str> {
    let ext = url.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
}

fn part(p: &Part) -> Result<Value, RequestError> {
    match p {
        Part::Text(t) => Ok(json!({"text": t})),
        Part::Image(Image::Inline { media_type, data }) => {
            Ok(json!({"inlineData": {"mimeType": media_type, "data": data}}))
        }
        Part::Image(Image::Url(url)) => match (url.starts_with("gs://"), mime_from_extension(url)) {
            (true, Some(mime)) => Ok(json!({"fileData": {"mimeType": mime, "fileUri": url}})),
            _ => {
                let shown: String = url.chars().take(80).collect();
                Err(unsupported(format!(
                    "image_url with the URL {shown} cannot be sent to Vertex AI (Gemini) deployments: use a data: URL or a gs:// image"
                )))
            }
        },
    }
}

/// JSON Schema keys Vertex's `Schema` (an OpenAPI subset) refuses, removed at every level.
const SCHEMA_DROP: &[&str] = &["$schema", "$id", "$comment", "additionalProperties", "strict"];

pub(crate) fn clean_schema(v: &Value) -> Result<Value, RequestError> {
    Ok(match v {
        Value::Object(o) => {
            if o.contains_key("$ref") || o.contains_key("$defs") || o.contains_key("definitions") {
                return Err(unsupported(
                    "a tool or response schema uses $ref/$defs, which Vertex AI (Gemini) schemas cannot express".into(),
                ));
            }
            let mut out = Map::new();
            for (k, v) in o {
                if !SCHEMA_DROP.contains(&k.as_str()) {
                    out.insert(k.clone(), clean_schema(v)?);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(clean_schema).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn generate_body(req: &ChatRequest) -> Result<Value, RequestError> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, parts) = match m {
            Msg::User(parts) => ("user", parts.iter().map(part).collect::<Result<Vec<_>, _>>()?),
            Msg::Assistant { text, tool_calls } => {
                let mut parts: Vec<Value> = text.iter().map(|t| json!({"text": t})).collect();
                for c in tool_calls {
                    parts.push(json!({"functionCall": {"name": c.name, "args": c.arguments}}));
                }
                ("model", parts)
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                let name = req.tool_name_for(tool_call_id).ok_or_else(|| {
                    RequestError::bad_request(
                        "invalid_request",
                        format!("a tool message answers tool call '{tool_call_id}', which no earlier assistant message made"),
                    )
                })?;
                // Vertex's FunctionResponse: the "output" key for a result, "error" for a failure.
                let response = match serde_json::from_str::<Value>(content) {
                    _ if *is_error => json!({"error": content}),
                    Ok(Value::Object(o)) => Value::Object(o),
                    _ => json!({"output": content}),
                };
                ("user", vec![json!({"functionResponse": {"name": name, "response": response}})])
            }
        };
        push_turn(&mut turns, role, parts);
    }
    let contents: Vec<Value> = turns.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect();

    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !req.system.is_empty() {
        let parts: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    let mut gen = Map::new();
    put(&mut gen, "maxOutputTokens", req.max_tokens);
    put(&mut gen, "temperature", req.temperature);
    put(&mut gen, "topP", req.top_p);
    put(&mut gen, "seed", req.seed);
    if !req.stop.is_empty() {
        gen.insert("stopSequences".into(), json!(req.stop));
    }
    let mut extras = req.extras.clone();
    for (from, to) in
        [("top_k", "topK"), ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")]
    {
        if let Some(v) = extras.remove(from) {
            if !v.is_number() {
                return Err(RequestError::bad_request("invalid_request", format!("'{from}' must be a number")));
            }
            gen.insert(to.into(), v);
        }
    }
    if let Some(rf) = extras.remove("response_format") {
        match rf.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                gen.insert("responseMimeType".into(), "application/json".into());
            }
            Some("json_schema") => {
                let schema = rf.pointer("/json_schema/schema").cloned().unwrap_or_else(|| json!({"type": "object"}));
                gen.insert("responseMimeType".into(), "application/json".into());
                gen.insert("responseSchema".into(), clean_schema(&schema)?);
            }
            _ => {
                extras.insert("response_format".into(), rf);
            }
        }
    }
    chat::reject_extras(&extras, KIND)?;
    if !gen.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gen));
    }
    tools(req, &mut body)?;
    Ok(Value::Object(body))
}

fn tools(req: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), RequestError> {
    if !req.has_tools()? {
        return Ok(());
    }
    let mut decls = Vec::with_capacity(req.tools.len());
    for t in &req.tools {
        let mut d = Map::new();
        d.insert("name".into(), t.name.clone().into());
        put(&mut d, "description", t.description.clone());
        d.insert("parameters".into(), clean_schema(&t.parameters)?);
        decls.push(Value::Object(d));
    }
    body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    let config = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
        Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
        Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
        Some(ToolChoice::Function(name)) => Some(json!({"mode": "ANY", "allowedFunctionNames": [name]})),
    };
    if let Some(c) = config {
        body.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<Value, RequestError> {
        generate_body(&crate::providers::client::openai::parse(json.as_bytes(), KIND)?)
    }

    #[test]
    fn path_for_stream_and_not() {
        let t = Target {
            vertex_project: Some("p".into()),
            vertex_location: Some("us-central1".into()),
            ..Target::new(KIND, "gemini-2.0-flash-001")
        };
        let b = br#"{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
        let r = translate_request(&t, "/v1/chat/completions", b).unwrap();
        assert_eq!(
            r.path,
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn function_calls_and_responses_by_name() {
        let b = body(
            r#"{"messages":[{"role":"user","content":"w?"},
            {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"{\"temp\":12}"},{"role":"tool","tool_call_id":"c1","content":"plain"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","additionalProperties":false,"properties":{"city":{"type":"string"}}}}}],
            "tool_choice":{"type":"function","function":{"name":"get_weather"}}}"#,
        )
        .unwrap();
        assert_eq!(
            b["contents"][1],
            json!({"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]})
        );
        assert_eq!(
            b["contents"][2]["parts"][0]["functionResponse"],
            json!({"name":"get_weather","response":{"temp":12}})
        );
        assert_eq!(b["contents"][2]["parts"][1]["functionResponse"]["response"], json!({"output":"plain"}));
        assert_eq!(b["tools"][0]["functionDeclarations"][0]["parameters"].get("additionalProperties"), None);
        assert_eq!(
            b["toolConfig"]["functionCallingConfig"],
            json!({"mode":"ANY","allowedFunctionNames":["get_weather"]})
        );
    }

    #[test]
    fn unknown_tool_call_id_is_refused() {
        let e = body(r#"{"messages":[{"role":"tool","tool_call_id":"zz","content":"x"}]}"#).unwrap_err();
        assert!(e.message.contains("zz"));
    }

    #[test]
    fn generation_config_takes_what_gemini_has() {
        let b = body(
            r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"q"}],"max_tokens":9,"temperature":0.2,
            "presence_penalty":0.5,"seed":4,"top_k":3,"response_format":{"type":"json_object"},"stop":["a","b"]}"#,
        )
        .unwrap();
        assert_eq!(b["systemInstruction"], json!({"parts":[{"text":"s"}]}));
        assert_eq!(
            b["generationConfig"],
            json!({"maxOutputTokens":9,"temperature":0.2,"presencePenalty":0.5,"seed":4,"topK":3,"responseMimeType":"application/json","stopSequences":["a","b"]})
        );
        assert!(body(r#"{"messages":[{"role":"user","content":"q"}],"n":3}"#).unwrap_err().message.contains("'n'"));
    }
}
