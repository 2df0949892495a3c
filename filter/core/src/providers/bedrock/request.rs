//! The Converse request (`/model/{modelId}/converse` or `/converse-stream`) from the neutral
//! request: OpenAI messages → `system` blocks and `messages[{role, content[]}]` (tool messages
//! become user `toolResult` blocks; consecutive turns of one role are merged, as Converse
//! requires alternation); sampling → `inferenceConfig`; tools → `toolConfig`. Parameters with
//! no Converse equivalent are refused (see [`crate::providers::client::openai`] for the harmless
//! ones dropped): `parallel_tool_calls`, `user` and `seed` are dropped, as Converse has no such
//! field.

use serde_json::{json, Map, Value};

use crate::providers::chat::{push_turn, put, unsupported, ChatRequest, Image, Msg, Part, ToolChoice};
use crate::providers::client::parse_chat;
use crate::providers::{json_headers, uri_encode, ProviderKind, Target, UpstreamRequest};
use crate::RequestError;

const KIND: ProviderKind = ProviderKind::Bedrock;

pub(crate) fn translate_request(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<UpstreamRequest, RequestError> {
    let (client_api, req) = parse_chat(target, client_path, body)?;
    req.reject_extras(KIND)?;
    let converse = converse_body(&req)?;
    let op = if req.stream { "converse-stream" } else { "converse" };
    let accept = if req.stream { "application/vnd.amazon.eventstream" } else { "application/json" };
    Ok(UpstreamRequest {
        path: format!("/model/{}/{op}", uri_encode(&target.model)),
        body: converse.to_string().into_bytes(),
        set_headers: json_headers(Some(accept)),
        stream: req.stream,
        include_usage: req.include_usage,
        client_api,
    })
}

/// Converse's image formats, from a media type.
fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

fn content_block(part: &Part) -> Result<Value, RequestError> {
    match part {
        Part::Text(t) => Ok(json!({"text": t})),
        Part::Image(Image::Inline { media_type, data }) => {
            let format = image_format(media_type).ok_or_else(|| {
                unsupported(format!(
                    "image_url of type '{media_type}' cannot be sent to Bedrock deployments (png, jpeg, gif, webp)"
                ))
            })?;
            Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        Part::Image(Image::Url(url)) => {
            let shown: String = url.chars().take(80).collect();
            Err(unsupported(format!(
                "image_url with a remote URL ({shown}) cannot be sent to Bedrock deployments: Converse takes inline images only (data: URLs)"
            )))
        }
    }
}

/// The Converse request body.
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn converse_body(req: &ChatRequest) -> Result<Value, RequestError> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m {
            Msg::User(parts) => ("user", parts.iter().map(content_block).collect::<Result<Vec<_>, _>>()?),
            Msg::Assistant { text, tool_calls } => {
                let mut blocks: Vec<Value> = text.iter().map(|t| json!({"text": t})).collect();
                for c in tool_calls {
                    blocks.push(json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}}));
                }
                ("assistant", blocks)
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                let mut r = json!({"toolUseId": tool_call_id, "content": [{"text": content}]});
                if let (true, Some(o)) = (*is_error, r.as_object_mut()) {
                    o.insert("status".into(), "error".into());
                }
                ("user", vec![json!({"toolResult": r})])
            }
        };
        push_turn(&mut turns, role, blocks);
    }
    let messages: Vec<Value> =
        turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect();

    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !req.system.is_empty() {
        let system: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
        body.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    put(&mut inference, "maxTokens", req.max_tokens);
    put(&mut inference, "temperature", req.temperature);
    put(&mut inference, "topP", req.top_p);
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(tc) = tool_config(req)? {
        body.insert("toolConfig".into(), tc);
    }
    Ok(Value::Object(body))
}

fn tool_config(req: &ChatRequest) -> Result<Option<Value>, RequestError> {
    if !req.has_tools()? {
        return Ok(None);
    }
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Function(name)) => Some(json!({"tool": {"name": name}})),
        Some(ToolChoice::None) => {
            if req.has_tool_history() {
                // Converse needs toolConfig beside toolUse/toolResult blocks, and has no "none".
                return Err(RequestError::bad_request(
                    "unsupported_parameter",
                    "'tool_choice': \"none\" cannot be expressed for Bedrock deployments when the conversation holds tool calls",
                )
                .with_param("tool_choice"));
            }
            return Ok(None);
        }
    };
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut spec = Map::new();
            spec.insert("name".into(), t.name.clone().into());
            put(&mut spec, "description", t.description.clone());
            spec.insert("inputSchema".into(), json!({"json": t.parameters}));
            json!({"toolSpec": spec})
        })
        .collect();
    let mut tc = Map::new();
    tc.insert("tools".into(), Value::Array(tools));
    put(&mut tc, "toolChoice", choice);
    Ok(Some(Value::Object(tc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<Value, RequestError> {
        converse_body(&crate::providers::client::openai::parse(json.as_bytes(), KIND)?)
    }

    #[test]
    fn model_id_is_uri_encoded_in_the_path() {
        let t = Target::new(KIND, "anthropic.claude-3-5-sonnet-20240620-v1:0");
        let r = translate_request(
            &t,
            "/v1/chat/completions",
            br#"{"model":"x","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .unwrap();
        assert_eq!(r.path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
        let arn = Target::new(KIND, "arn:aws:bedrock:us-east-1:1:inference-profile/us.x");
        let r = translate_request(
            &arn,
            "/chat/completions",
            br#"{"model":"x","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(r.path, "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse");
    }

    #[test]
    fn consecutive_roles_merge_and_tool_results_join_the_user_turn() {
        let b = body(
            r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
                                                             {"id":"t2","type":"function","function":{"name":"f","arguments":""}}]},
            {"role":"tool","tool_call_id":"t1","content":"r1"},{"role":"tool","tool_call_id":"t2","content":"r2"},{"role":"user","content":"c"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#,
        )
        .unwrap();
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["content"], json!([{"text":"a"},{"text":"b"}]));
        assert_eq!(m[1]["content"][0]["toolUse"], json!({"toolUseId":"t1","name":"f","input":{"x":1}}));
        assert_eq!(m[1]["content"][1]["toolUse"]["input"], json!({}));
        assert_eq!(m[2]["content"].as_array().unwrap().len(), 3);
        assert_eq!(m[2]["content"][1]["toolResult"], json!({"toolUseId":"t2","content":[{"text":"r2"}]}));
    }

    #[test]
    fn tool_choice_forms() {
        let tools = r#""tools":[{"type":"function","function":{"name":"f"}}]"#;
        let with =
            |tc: &str| body(&format!(r#"{{"messages":[{{"role":"user","content":"q"}}],{tools},"tool_choice":{tc}}}"#));
        assert_eq!(with(r#""required""#).unwrap()["toolConfig"]["toolChoice"], json!({"any":{}}));
        assert_eq!(with(r#""auto""#).unwrap()["toolConfig"].get("toolChoice"), None);
        assert_eq!(
            with(r#"{"type":"function","function":{"name":"f"}}"#).unwrap()["toolConfig"]["toolChoice"],
            json!({"tool":{"name":"f"}})
        );
        assert_eq!(with(r#""none""#).unwrap().get("toolConfig"), None);
        assert_eq!(
            with(r#""auto""#).unwrap()["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
            json!({"type":"object","properties":{}})
        );
    }

    #[test]
    fn tool_choice_none_with_tool_history_is_refused() {
        let e = body(
            r#"{"messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"t","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("none"), "{}", e.message);
    }

    #[test]
    fn unsupported_parts_and_params_name_themselves() {
        let e =
            body(r#"{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#).unwrap_err();
        assert!(e.message.contains("input_audio") && e.message.contains("Bedrock"), "{}", e.message);
        let e = body(
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("https://x/y.png"), "{}", e.message);
        let e = body(r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AA"}}]}]}"#)
            .unwrap_err();
        assert!(e.message.contains("image/tiff"), "{}", e.message);
        let t = Target::new(KIND, "m");
        for (key, val) in
            [("n", "2"), ("logprobs", "true"), ("response_format", r#"{"type":"json_object"}"#), ("functions", "[]")]
        {
            let b = format!(r#"{{"messages":[{{"role":"user","content":"q"}}],"{key}":{val}}}"#);
            let e = translate_request(&t, "/v1/chat/completions", b.as_bytes()).unwrap_err();
            assert!(e.message.contains(key) && e.status == 400, "{}", e.message);
        }
        let b = r#"{"messages":[{"role":"user","content":"q"}],"n":1,"user":"u","seed":3,"logprobs":false,"stream_options":null,"store":false}"#;
        assert!(translate_request(&t, "/v1/chat/completions", b.as_bytes()).is_ok());
    }

    #[test]
    fn embeddings_are_refused_with_the_reason() {
        let e = translate_request(&Target::new(KIND, "m"), "/v1/embeddings", b"{}").unwrap_err();
        assert!(e.message.contains("/v1/embeddings") && e.message.contains("Bedrock"), "{}", e.message);
    }

    #[test]
    fn inference_config_and_system() {
        let b = body(
            r#"{"messages":[{"role":"system","content":"s1"},{"role":"developer","content":[{"type":"text","text":"s2"}]},{"role":"user","content":"q"}],
            "max_tokens":5,"max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"stop":"END"}"#,
        )
        .unwrap();
        assert_eq!(b["system"], json!([{"text":"s1"},{"text":"s2"}]));
        assert_eq!(b["inferenceConfig"], json!({"maxTokens":7,"temperature":0.5,"topP":0.9,"stopSequences":["END"]}));
    }
}
