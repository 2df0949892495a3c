//! The ConverseStream request (`/model/{modelId}/converse-stream`, for every attempt) from the neutral
//! request: OpenAI messages → `system` blocks and `messages[{role, content[]}]` (tool messages
//! become user `toolResult` blocks; consecutive turns of one role are merged, as Converse
//! requires alternation); sampling → `inferenceConfig`; tools → `toolConfig`. Parameters with
//! no Converse equivalent are refused (see [`crate::providers::client::openai`] for the harmless
//! ones dropped): `parallel_tool_calls`, `user` and `seed` are dropped, as Converse has no such
//! field.

use crate::providers::chat::{unsupported, Blocks, ChatRequest, Image, Msg, Part, ToolChoice, Turns};
use crate::providers::client::parse_chat;
use crate::providers::json::{self, ObjectWriter};
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
    let converse = converse_body(&req, body.len())?;
    // Every attempt streams (ConverseStream), whether or not the client does: the stream's
    // first event is what tells a live region from a hung one (a whole answer assembled here).
    Ok(UpstreamRequest {
        path: format!("/model/{}/converse-stream", uri_encode(&target.model)),
        body: converse,
        set_headers: json_headers(Some("application/vnd.amazon.eventstream")),
        stream: req.stream,
        include_usage: req.include_usage,
        client_api,
        upstream_stream: true,
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

fn content_block(blocks: &mut Blocks, out: &mut Vec<u8>, part: Part<'_>) -> Result<(), RequestError> {
    match part {
        Part::Text(t) => blocks.text(out, false, &t),
        Part::Image(Image::Inline { media_type, data }) => {
            let format = image_format(&media_type).ok_or_else(|| {
                unsupported(format!(
                    "image_url of type '{media_type}' cannot be sent to Bedrock deployments (png, jpeg, gif, webp)"
                ))
            })?;
            blocks.next(out);
            out.extend_from_slice(br#"{"image":{"format":"#);
            json::string(out, format);
            out.extend_from_slice(br#","source":{"bytes":"#);
            json::string(out, &data);
            out.extend_from_slice(b"}}}");
        }
        Part::Image(Image::Url(url)) => {
            let shown: String = url.chars().take(80).collect();
            return Err(unsupported(format!(
                "image_url with a remote URL ({shown}) cannot be sent to Bedrock deployments: Converse takes inline images only (data: URLs)"
            )));
        }
    }
    Ok(())
}

/// The Converse request body, written straight from the request; `size_hint` is the client's
/// body size.
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn converse_body(req: &ChatRequest<'_>, size_hint: usize) -> Result<Vec<u8>, RequestError> {
    let mut buf = Vec::with_capacity(size_hint + 256);
    let mut body = ObjectWriter::open(&mut buf);
    let out = body.key("messages");
    let mut turns = Turns::open(out, "content", false);
    req.each_message(&mut |m| {
        match m {
            Msg::User(c) => {
                let blocks = turns.turn(out, "user");
                c.parts(&mut |p| content_block(blocks, out, p))?;
            }
            Msg::Assistant(c) => {
                let blocks = turns.turn(out, "assistant");
                c.parts(&mut |p| content_block(blocks, out, p))?;
                c.tool_calls(&mut |call| {
                    blocks.next(out);
                    out.extend_from_slice(br#"{"toolUse":"#);
                    let mut u = ObjectWriter::open(out);
                    u.str("toolUseId", &call.id);
                    u.str("name", &call.name);
                    u.raw("input", &call.arguments);
                    u.close();
                    out.push(b'}');
                    Ok(())
                })?;
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                turns.turn(out, "user").next(out);
                out.extend_from_slice(br#"{"toolResult":"#);
                let mut r = ObjectWriter::open(out);
                r.str("toolUseId", &tool_call_id);
                let list = r.key("content");
                list.extend_from_slice(br#"[{"text":"#);
                json::string(list, &content);
                list.extend_from_slice(b"}]");
                if is_error {
                    r.str("status", "error");
                }
                r.close();
                out.push(b'}');
            }
        }
        Ok(())
    })?;
    turns.close(out);
    if req.system_count > 0 {
        let list = body.key("system");
        let mut blocks = Blocks::open(list);
        req.each_system(&mut |s| {
            blocks.text(list, false, s);
            Ok(())
        })?;
        blocks.close(list, false);
    }
    let stop = req.stop_json();
    if req.max_tokens.is_some() || req.temperature.is_some() || req.top_p.is_some() || stop.is_some() {
        let mut inference = ObjectWriter::open(body.key("inferenceConfig"));
        if let Some(n) = req.max_tokens {
            inference.u64("maxTokens", n);
        }
        if let Some(t) = req.temperature {
            inference.f64("temperature", t);
        }
        if let Some(p) = req.top_p {
            inference.f64("topP", p);
        }
        if let Some(stop) = &stop {
            inference.raw("stopSequences", stop);
        }
        inference.close();
    }
    tool_config(req, &mut body)?;
    body.close();
    Ok(buf)
}

fn tool_config(req: &ChatRequest<'_>, body: &mut ObjectWriter<'_>) -> Result<(), RequestError> {
    if !req.has_tools()? {
        return Ok(());
    }
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::Required) => Some(None),
        Some(ToolChoice::Function(name)) => Some(Some(name)),
        Some(ToolChoice::None) => {
            if req.has_tool_history {
                // Converse needs toolConfig beside toolUse/toolResult blocks, and has no "none".
                return Err(RequestError::bad_request(
                    "unsupported_parameter",
                    "'tool_choice': \"none\" cannot be expressed for Bedrock deployments when the conversation holds tool calls",
                )
                .with_param("tool_choice"));
            }
            return Ok(());
        }
    };
    let mut tc = ObjectWriter::open(body.key("toolConfig"));
    let list = tc.key("tools");
    list.push(b'[');
    let mut n = 0;
    req.each_tool(&mut |t| {
        if n > 0 {
            list.push(b',');
        }
        n += 1;
        list.extend_from_slice(br#"{"toolSpec":"#);
        let mut spec = ObjectWriter::open(list);
        spec.str("name", &t.name);
        if let Some(d) = &t.description {
            spec.str("description", d);
        }
        let schema = spec.key("inputSchema");
        schema.extend_from_slice(br#"{"json":"#);
        schema.extend_from_slice(t.parameters.as_bytes());
        schema.push(b'}');
        spec.close();
        list.push(b'}');
        Ok(())
    })?;
    list.push(b']');
    // `{"any":{}}`, or `{"tool":{"name":...}}` for one tool.
    if let Some(tool) = choice {
        let mut c = tc.object("toolChoice");
        match tool {
            None => c.raw("any", "{}"),
            Some(name) => {
                let mut t = c.object("tool");
                t.str("name", name);
                t.close();
            }
        }
        c.close();
    }
    tc.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    fn body(json: &str) -> Result<Value, RequestError> {
        let b = converse_body(&crate::providers::client::openai::parse(json.as_bytes(), KIND)?, 0)?;
        Ok(serde_json::from_slice(&b).unwrap())
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
        assert_eq!(
            r.path, "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse-stream",
            "a whole answer is asked for as a stream too"
        );
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
