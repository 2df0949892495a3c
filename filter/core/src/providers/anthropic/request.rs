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

use crate::providers::chat::{unsupported, Blocks, ChatRequest, Image, Msg, Part, ToolChoice, Turns};
use crate::providers::client::{openai, require_chat, ClientApi};
use crate::providers::json::{self, ObjectWriter};
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
    // A client that wants one whole answer gets it assembled from a stream (see
    // `streams_whole_answers`), unless it asks for what the assembler does not carry.
    let (body, stream, include_usage, upstream_stream) = match client_api {
        ClientApi::Anthropic => {
            let facts = body::read_body(body)?;
            if !facts.stream && super::super::assemblable(client_path, body) {
                (super::super::streaming_copy(body, Some(&target.model), false)?, false, true, true)
            } else {
                (body::rewrite_model(body, &facts.model_span, &target.model), facts.stream, true, false)
            }
        }
        ClientApi::OpenAi => {
            let req = openai::parse(body, ProviderKind::Anthropic)?;
            let upstream = ChatRequest { stream: true, ..req.clone() };
            let b = messages_body(&upstream, ProviderKind::Anthropic, ("model", &target.model), body.len())?;
            (b, req.stream, req.include_usage, !req.stream)
        }
    };
    let accept = if stream || upstream_stream { "text/event-stream" } else { "application/json" };
    let mut set_headers = json_headers(Some(accept));
    set_headers.push(("anthropic-version".into(), ANTHROPIC_VERSION.into()));
    Ok(UpstreamRequest {
        path: "/v1/messages".into(),
        body,
        set_headers,
        stream,
        include_usage,
        client_api,
        upstream_stream,
    })
}

fn block(blocks: &mut Blocks, out: &mut Vec<u8>, part: Part<'_>, kind: ProviderKind) -> Result<(), RequestError> {
    match part {
        Part::Text(t) => blocks.text(out, true, &t),
        Part::Image(Image::Inline { media_type, data }) => {
            if !matches!(media_type.as_str(), "image/jpeg" | "image/png" | "image/gif" | "image/webp") {
                return Err(unsupported(format!(
                    "image_url of type '{media_type}' cannot be sent to {} deployments (jpeg, png, gif, webp)",
                    kind.display_name()
                )));
            }
            blocks.next(out);
            let mut b = ObjectWriter::open(out);
            b.str("type", "image");
            let mut s = ObjectWriter::open(b.key("source"));
            s.str("type", "base64");
            s.str("media_type", &media_type);
            s.str("data", &data);
            s.close();
            b.close();
        }
        Part::Image(Image::Url(url)) if kind == ProviderKind::Anthropic && url.starts_with("https://") => {
            blocks.next(out);
            let mut b = ObjectWriter::open(out);
            b.str("type", "image");
            let mut s = ObjectWriter::open(b.key("source"));
            s.str("type", "url");
            s.str("url", &url);
            s.close();
            b.close();
        }
        Part::Image(Image::Url(url)) => {
            let shown: String = url.chars().take(80).collect();
            return Err(unsupported(format!(
                "image_url with the URL {shown} cannot be sent to {} deployments: use a data: URL",
                kind.display_name()
            )));
        }
    }
    Ok(())
}

/// The Messages body, written straight from the request; `first` is its first member (`model`,
/// or Vertex's `anthropic_version`, which takes the model from the path), `size_hint` the
/// client's body size.
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn messages_body(
    req: &ChatRequest<'_>,
    kind: ProviderKind,
    first: (&str, &str),
    size_hint: usize,
) -> Result<Vec<u8>, RequestError> {
    let mut buf = Vec::with_capacity(size_hint + 256);
    let mut body = ObjectWriter::open(&mut buf);
    body.str(first.0, first.1);
    body.u64("max_tokens", req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
    let out = body.key("messages");
    let mut turns = Turns::open(out, "content", true);
    req.each_message(&mut |m| {
        match m {
            Msg::User(c) => {
                let blocks = turns.turn(out, "user");
                c.parts(&mut |p| block(blocks, out, p, kind))?;
            }
            Msg::Assistant(c) => {
                let blocks = turns.turn(out, "assistant");
                c.parts(&mut |p| block(blocks, out, p, kind))?;
                c.tool_calls(&mut |call| {
                    blocks.next(out);
                    let mut b = ObjectWriter::open(out);
                    b.str("type", "tool_use");
                    b.str("id", &call.id);
                    b.str("name", &call.name);
                    b.raw("input", &call.arguments);
                    b.close();
                    Ok(())
                })?;
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                turns.turn(out, "user").next(out);
                let mut b = ObjectWriter::open(out);
                b.str("type", "tool_result");
                b.str("tool_use_id", &tool_call_id);
                b.str("content", &content);
                if is_error {
                    b.bool("is_error", true);
                }
                b.close();
            }
        }
        Ok(())
    })?;
    turns.close(out);
    match req.system_count {
        0 => {}
        1 => req.each_system(&mut |s| {
            body.str("system", s);
            Ok(())
        })?,
        _ => {
            let list = body.key("system");
            let mut blocks = Blocks::open(list);
            req.each_system(&mut |s| {
                blocks.text(list, true, s);
                Ok(())
            })?;
            blocks.close(list, false);
        }
    }
    if let Some(t) = req.temperature {
        body.f64("temperature", t);
    }
    if let Some(p) = req.top_p {
        body.f64("top_p", p);
    }
    if let Some(stop) = req.stop_json() {
        body.raw("stop_sequences", &stop);
    }
    if req.stream {
        body.bool("stream", true);
    }
    if let Some(user) = &req.user {
        let mut metadata = body.object("metadata");
        metadata.str("user_id", user);
        metadata.close();
    }
    let mut extras = req.extras.clone();
    if let Some(k) = extras.take("top_k") {
        let k = json::read::<u64>(k)
            .ok_or_else(|| RequestError::bad_request("invalid_request", "'top_k' must be a positive integer"))?;
        body.u64("top_k", k);
    }
    extras.reject(kind)?;
    tools(req, &mut body)?;
    body.close();
    Ok(buf)
}

fn tools(req: &ChatRequest<'_>, body: &mut ObjectWriter<'_>) -> Result<(), RequestError> {
    if !req.has_tools()? {
        return Ok(());
    }
    let list = body.key("tools");
    list.push(b'[');
    let mut n = 0;
    req.each_tool(&mut |t| {
        if n > 0 {
            list.push(b',');
        }
        n += 1;
        let mut d = ObjectWriter::open(list);
        d.str("name", &t.name);
        if let Some(desc) = &t.description {
            d.str("description", desc);
        }
        d.raw("input_schema", t.parameters);
        d.close();
        Ok(())
    })?;
    list.push(b']');
    let no_parallel = req.parallel_tool_calls == Some(false) && req.tool_choice != Some(ToolChoice::None);
    let (kind, name) = match &req.tool_choice {
        None if no_parallel => ("auto", None),
        None => return Ok(()),
        Some(ToolChoice::Auto) => ("auto", None),
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Function(name)) => ("tool", Some(name)),
        Some(ToolChoice::None) => ("none", None),
    };
    let mut c = body.object("tool_choice");
    c.str("type", kind);
    if let Some(name) = name {
        c.str("name", name);
    }
    if no_parallel {
        c.bool("disable_parallel_tool_use", true);
    }
    c.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    fn body(json: &str) -> Result<Value, RequestError> {
        let req = openai::parse(json.as_bytes(), ProviderKind::Anthropic)?;
        let b = messages_body(&req, ProviderKind::Anthropic, ("model", "m"), 0)?;
        Ok(serde_json::from_slice(&b).unwrap())
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
        let e = messages_body(&req, ProviderKind::VertexAnthropic, ("model", "m"), 0).unwrap_err();
        assert!(e.message.contains("https://e.x/a.png") && e.message.contains("Vertex"), "{}", e.message);
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let e = body(r#"{"messages":[{"role":"user","content":"q"}],"presence_penalty":0.5}"#).unwrap_err();
        assert!(e.message.contains("presence_penalty") && e.message.contains("Anthropic"), "{}", e.message);
    }
}
