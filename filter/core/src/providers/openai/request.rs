//! The request to an OpenAI-compatible server (or Azure, [`crate::providers::azure`]): an
//! OpenAI-form client's body with only `model` rewritten, or an Anthropic-form client's request
//! written as a chat completion request ([`chat_body`]).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::providers::chat::{put, ChatRequest, Image, Msg, Part, ToolChoice};
use crate::providers::client::{parse_chat, split_client_path, ClientApi};
use crate::providers::{ProviderKind, Target, UpstreamRequest};
use crate::{body, RequestError};

#[derive(Deserialize)]
struct RequestFlags {
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// The upstream body and what the response side needs: `(body, stream, include_usage, api)`.
/// An OpenAI-form body keeps every byte but `model`; an Anthropic-form one is translated.
pub(crate) fn body_for(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<(Vec<u8>, bool, bool, ClientApi), RequestError> {
    if ClientApi::from_path(client_path) == ClientApi::Anthropic {
        let (api, req) = parse_chat(target, client_path, body)?;
        let b = chat_body(&req, &target.model)?;
        return Ok((b.to_string().into_bytes(), req.stream, req.include_usage, api));
    }
    let facts = body::read_body(body)?;
    let flags: Option<RequestFlags> = serde_json::from_slice(body).ok();
    let include_usage = flags.and_then(|f| f.stream_options).and_then(|s| s.include_usage).unwrap_or(false);
    Ok((body::rewrite_model(body, &facts.model_span, &target.model), facts.stream, include_usage, ClientApi::OpenAi))
}

/// The request headers of an OpenAI-shaped upstream whose answer passes through: the body is
/// read on the side for usage, so it must not come back compressed.
pub(crate) fn passthrough_headers() -> Vec<(String, String)> {
    vec![("accept-encoding".into(), "identity".into()), ("content-type".into(), "application/json".into())]
}

pub(crate) fn translate_request(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<UpstreamRequest, RequestError> {
    let (_, rest, query) = split_client_path(client_path);
    let (body, stream, include_usage, client_api) = body_for(target, client_path, body)?;
    let rest = if client_api == ClientApi::Anthropic { "/chat/completions" } else { rest };
    Ok(UpstreamRequest {
        path: format!("{}{rest}{query}", target.base_path),
        body,
        set_headers: passthrough_headers(),
        stream,
        include_usage,
        client_api,
    })
}

fn content(parts: &[Part]) -> Value {
    if let [Part::Text(t)] = parts {
        return Value::String(t.clone());
    }
    let list: Vec<Value> = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => json!({"type": "text", "text": t}),
            Part::Image(Image::Inline { media_type, data }) => {
                json!({"type": "image_url", "image_url": {"url": format!("data:{media_type};base64,{data}")}})
            }
            Part::Image(Image::Url(url)) => json!({"type": "image_url", "image_url": {"url": url}}),
        })
        .collect();
    Value::Array(list)
}

/// A chat completion request from a parsed request (for Anthropic-form clients).
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn chat_body(req: &ChatRequest, model: &str) -> Result<Value, RequestError> {
    req.reject_extras(ProviderKind::OpenAi)?;
    let mut messages: Vec<Value> = req.system.iter().map(|s| json!({"role": "system", "content": s})).collect();
    for m in &req.messages {
        messages.push(match m {
            Msg::User(parts) => json!({"role": "user", "content": content(parts)}),
            Msg::Assistant { text, tool_calls } => {
                let mut a = Map::new();
                a.insert("role".into(), "assistant".into());
                a.insert("content".into(), if text.is_empty() { Value::Null } else { text.concat().into() });
                if !tool_calls.is_empty() {
                    let calls: Vec<Value> = tool_calls
                        .iter()
                        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
                        .collect();
                    a.insert("tool_calls".into(), Value::Array(calls));
                }
                Value::Object(a)
            }
            Msg::Tool { tool_call_id, content, .. } => json!({"role": "tool", "tool_call_id": tool_call_id, "content": content}),
        });
    }
    let mut b = Map::new();
    b.insert("model".into(), model.into());
    b.insert("messages".into(), Value::Array(messages));
    put(&mut b, "max_tokens", req.max_tokens);
    put(&mut b, "temperature", req.temperature);
    put(&mut b, "top_p", req.top_p);
    put(&mut b, "user", req.user.clone());
    put(&mut b, "seed", req.seed);
    if !req.stop.is_empty() {
        b.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = Map::new();
                f.insert("name".into(), t.name.clone().into());
                put(&mut f, "description", t.description.clone());
                f.insert("parameters".into(), t.parameters.clone());
                json!({"type": "function", "function": f})
            })
            .collect();
        b.insert("tools".into(), Value::Array(tools));
        let choice = match &req.tool_choice {
            None => None,
            Some(ToolChoice::Auto) => Some(json!("auto")),
            Some(ToolChoice::None) => Some(json!("none")),
            Some(ToolChoice::Required) => Some(json!("required")),
            Some(ToolChoice::Function(n)) => Some(json!({"type": "function", "function": {"name": n}})),
        };
        put(&mut b, "tool_choice", choice);
        put(&mut b, "parallel_tool_calls", req.parallel_tool_calls.filter(|p| !p));
    }
    if req.stream {
        b.insert("stream".into(), true.into());
        b.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keeps_query_and_body_keeps_bytes() {
        let t = Target { base_path: "/openai/v1".into(), ..Target::new(ProviderKind::OpenAi, "gpt-4o") };
        let b = br#"{"model":"g", "n" :2,"stream":true,"stream_options":{"include_usage":true}}"#;
        let r = translate_request(&t, "/v1/chat/completions?x=1", b).unwrap();
        assert_eq!(r.path, "/openai/v1/chat/completions?x=1");
        assert_eq!(r.body, br#"{"model":"gpt-4o", "n" :2,"stream":true,"stream_options":{"include_usage":true}}"#);
        assert!(r.stream && r.include_usage);
        let r = translate_request(&t, "/embeddings", br#"{"model":"g","input":"x"}"#).unwrap();
        assert_eq!(r.path, "/openai/v1/embeddings");
    }

    #[test]
    fn an_anthropic_request_becomes_a_chat_completion_request() {
        let t = Target { base_path: "/v1".into(), ..Target::new(ProviderKind::OpenAi, "gpt-4o") };
        let b = br#"{"model":"c","max_tokens":50,"system":"s","stream":true,"messages":[{"role":"user","content":"q"},
            {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r"}]}],
            "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}"#;
        let r = translate_request(&t, "/v1/messages", b).unwrap();
        assert_eq!((r.path.as_str(), r.client_api), ("/v1/chat/completions", ClientApi::Anthropic));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["messages"][0], json!({"role":"system","content":"s"}));
        assert_eq!(v["messages"][2]["tool_calls"][0]["function"], json!({"name":"f","arguments":"{\"a\":1}"}));
        assert_eq!(v["messages"][3], json!({"role":"tool","tool_call_id":"t","content":"r"}));
        assert_eq!(
            (v["parallel_tool_calls"].clone(), v["stream_options"].clone()),
            (json!(false), json!({"include_usage":true}))
        );
        assert_eq!(v["max_tokens"], 50);
    }
}
