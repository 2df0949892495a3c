//! The request to Anthropic's Messages API, and the Messages body Claude on Vertex sends too
//! ([`messages_body`], [`crate::providers::vertex::claude`]).
//!
//! From the neutral request: system messages → `system`; turns → `messages` with content blocks
//! (`text`, `image` base64 or URL, `tool_use`, user `tool_result`), consecutive turns of one role
//! merged; `max_tokens` always set (4096 when the client gives none); `stop` → `stop_sequences`;
//! `temperature`, `top_p`, `top_k`; `tools` → `{name, description, input_schema}`;
//! `tool_choice` auto/required/function/none → `auto`/`any`/`tool`/`none`;
//! `parallel_tool_calls: false` → `disable_parallel_tool_use`; `user` → `metadata.user_id`.
//!
//! An Anthropic-form client's own request (`/v1/messages`) goes as it is, with `model` set to
//! the deployment's.

use serde_json::{json, Map, Value};

use crate::providers::chat::{self, push_turn, put, unsupported, ChatRequest, Image, Msg, Part, ToolChoice};
use crate::providers::client::{openai, require_chat, ClientApi};
use crate::providers::{json_headers, ProviderKind, Target, UpstreamRequest};
use crate::{body, RequestError};

/// `max_tokens` when the client gives none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub(crate) fn translate_request(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<UpstreamRequest, RequestError> {
    let client_api = require_chat(target, client_path)?;
    let (body, stream, include_usage) = match client_api {
        ClientApi::Anthropic => {
            let facts = body::read_body(body)?;
            (body::rewrite_model(body, &facts.model_span, &target.model), facts.stream, true)
        }
        ClientApi::OpenAi => {
            let req = openai::parse(body, ProviderKind::Anthropic)?;
            let mut b = messages_body(&req, ProviderKind::Anthropic)?;
            b.insert("model".into(), target.model.clone().into());
            (Value::Object(b).to_string().into_bytes(), req.stream, req.include_usage)
        }
    };
    let mut set_headers = json_headers(Some(if stream { "text/event-stream" } else { "application/json" }));
    set_headers.push(("anthropic-version".into(), ANTHROPIC_VERSION.into()));
    Ok(UpstreamRequest { path: "/v1/messages".into(), body, set_headers, stream, include_usage, client_api })
}

fn block(part: &Part, kind: ProviderKind) -> Result<Value, RequestError> {
    match part {
        Part::Text(t) => Ok(json!({"type": "text", "text": t})),
        Part::Image(Image::Inline { media_type, data }) => {
            if !matches!(media_type.as_str(), "image/jpeg" | "image/png" | "image/gif" | "image/webp") {
                return Err(unsupported(format!(
                    "image_url of type '{media_type}' cannot be sent to {} deployments (jpeg, png, gif, webp)",
                    kind.display_name()
                )));
            }
            Ok(json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}))
        }
        Part::Image(Image::Url(url)) if kind == ProviderKind::Anthropic && url.starts_with("https://") => {
            Ok(json!({"type": "image", "source": {"type": "url", "url": url}}))
        }
        Part::Image(Image::Url(url)) => {
            let shown: String = url.chars().take(80).collect();
            Err(unsupported(format!(
                "image_url with the URL {shown} cannot be sent to {} deployments: use a data: URL",
                kind.display_name()
            )))
        }
    }
}

/// The Messages body without `model` (Vertex takes the model from the path).
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn messages_body(req: &ChatRequest, kind: ProviderKind) -> Result<Map<String, Value>, RequestError> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m {
            Msg::User(parts) => ("user", parts.iter().map(|p| block(p, kind)).collect::<Result<Vec<_>, _>>()?),
            Msg::Assistant { text, tool_calls } => {
                let mut blocks: Vec<Value> = text.iter().map(|t| json!({"type": "text", "text": t})).collect();
                for c in tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}));
                }
                ("assistant", blocks)
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                let mut r = json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content});
                if let (true, Some(o)) = (*is_error, r.as_object_mut()) {
                    o.insert("is_error".into(), true.into());
                }
                ("user", vec![r])
            }
        };
        push_turn(&mut turns, role, blocks);
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, mut content)| {
            // A lone text block is sent as the plain string form, as Anthropic's examples do.
            let single = content.len() == 1 && content.first().is_some_and(|b| b["type"] == "text");
            let content = match content.pop() {
                Some(b) if single => b["text"].clone(),
                Some(b) => {
                    content.push(b);
                    Value::Array(content)
                }
                None => Value::Array(Vec::new()),
            };
            json!({"role": role, "content": content})
        })
        .collect();

    let mut body = Map::new();
    body.insert("max_tokens".into(), req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).into());
    body.insert("messages".into(), Value::Array(messages));
    match req.system.as_slice() {
        [] => {}
        [one] => {
            body.insert("system".into(), one.clone().into());
        }
        many => {
            let blocks: Vec<Value> = many.iter().map(|t| json!({"type": "text", "text": t})).collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }
    put(&mut body, "temperature", req.temperature);
    put(&mut body, "top_p", req.top_p);
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if req.stream {
        body.insert("stream".into(), true.into());
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    let mut extras = req.extras.clone();
    if let Some(k) = extras.remove("top_k") {
        let k = k
            .as_u64()
            .ok_or_else(|| RequestError::bad_request("invalid_request", "'top_k' must be a positive integer"))?;
        body.insert("top_k".into(), k.into());
    }
    chat::reject_extras(&extras, kind)?;
    tools(req, &mut body)?;
    Ok(body)
}

fn tools(req: &ChatRequest, body: &mut Map<String, Value>) -> Result<(), RequestError> {
    if !req.has_tools()? {
        return Ok(());
    }
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut d = Map::new();
            d.insert("name".into(), t.name.clone().into());
            put(&mut d, "description", t.description.clone());
            d.insert("input_schema".into(), t.parameters.clone());
            Value::Object(d)
        })
        .collect();
    body.insert("tools".into(), Value::Array(tools));
    let mut choice = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::Function(name)) => Some(json!({"type": "tool", "name": name})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
    };
    if req.parallel_tool_calls == Some(false) && req.tool_choice != Some(ToolChoice::None) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if let Some(o) = c.as_object_mut() {
            o.insert("disable_parallel_tool_use".into(), true.into());
        }
    }
    put(body, "tool_choice", choice);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<Value, RequestError> {
        messages_body(&openai::parse(json.as_bytes(), ProviderKind::Anthropic)?, ProviderKind::Anthropic)
            .map(Value::Object)
    }

    #[test]
    fn max_tokens_default_and_system_apart() {
        let b =
            body(r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["messages"], json!([{"role":"user","content":"hi"}]));
    }

    #[test]
    fn tools_round_trip_shapes() {
        let b = body(
            r#"{"messages":[{"role":"user","content":"w?"},
            {"role":"assistant","content":"checking","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
            {"role":"tool","tool_call_id":"toolu_1","content":"12C"},{"role":"user","content":"thanks"}],
            "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
            "tool_choice":"required","parallel_tool_calls":false,"stop":["x"],"top_k":5,"user":"u1"}"#,
        )
        .unwrap();
        assert_eq!(
            b["messages"][1]["content"][1],
            json!({"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}})
        );
        assert_eq!(
            b["messages"][2]["content"],
            json!([{"type":"tool_result","tool_use_id":"toolu_1","content":"12C"},{"type":"text","text":"thanks"}])
        );
        assert_eq!(b["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
        assert_eq!(b["tool_choice"], json!({"type":"any","disable_parallel_tool_use":true}));
        assert_eq!((b["stop_sequences"].clone(), b["top_k"].clone()), (json!(["x"]), json!(5)));
        assert_eq!(b["metadata"], json!({"user_id":"u1"}));
    }

    #[test]
    fn remote_images_only_where_expressible() {
        let j = r#"{"messages":[{"role":"user","content":[{"type":"text","text":"?"},{"type":"image_url","image_url":{"url":"https://e.x/a.png"}}]}]}"#;
        assert_eq!(
            body(j).unwrap()["messages"][0]["content"][1]["source"],
            json!({"type":"url","url":"https://e.x/a.png"})
        );
        let req = openai::parse(j.as_bytes(), ProviderKind::VertexAnthropic).unwrap();
        let e = messages_body(&req, ProviderKind::VertexAnthropic).unwrap_err();
        assert!(e.message.contains("https://e.x/a.png") && e.message.contains("Vertex"), "{}", e.message);
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let e = body(r#"{"messages":[{"role":"user","content":"q"}],"presence_penalty":0.5}"#).unwrap_err();
        assert!(e.message.contains("presence_penalty") && e.message.contains("Anthropic"), "{}", e.message);
    }
}
