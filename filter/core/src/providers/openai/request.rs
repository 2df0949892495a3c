//! The request to an OpenAI-compatible server (or Azure, [`crate::providers::azure`]): an
//! OpenAI-form client's body with only `model` rewritten, or an Anthropic-form client's request
//! written as a chat completion request ([`chat_body`]).

use crate::providers::chat::{Blocks, ChatRequest, Content, Image, Msg, Part, ToolChoice};
use crate::providers::client::{parse_chat, split_client_path, ClientApi};
use crate::providers::json::{self, Bool, Obj, ObjectWriter};
use crate::providers::{ProviderKind, Target, UpstreamRequest};
use crate::{body, RequestError};

json::reader! {
    struct RequestFlags {
        "stream_options" => stream_options: Obj<StreamOptions>,
    }
}

json::reader! {
    struct StreamOptions {
        "include_usage" => include_usage: Bool,
    }
}

/// The upstream body and what the response side needs.
pub(crate) struct OpenAiBody {
    pub body: Vec<u8>,
    pub stream: bool,
    pub include_usage: bool,
    pub client_api: ClientApi,
    /// The provider is asked for a stream the client did not ask for.
    pub upstream_stream: bool,
}

/// An OpenAI-form body keeps every byte but `model` — unless the client wants one whole chat
/// answer, which is asked for as a stream (with usage) and assembled; an Anthropic-form one is
/// translated, asking for a stream either way. Where the deployment cannot stream with usage
/// ([`super::super::streams_whole_answers`]) a whole answer is asked for whole.
pub(crate) fn body_for(target: &Target, client_path: &str, body: &[u8]) -> Result<OpenAiBody, RequestError> {
    let can_stream = super::super::streams_whole_answers(target.kind, target.api_version.as_deref());
    if ClientApi::from_path(client_path) == ClientApi::Anthropic {
        let (client_api, req) = parse_chat(target, client_path, body)?;
        let upstream_stream = can_stream && !req.stream;
        let b = if upstream_stream {
            chat_body(&ChatRequest { stream: true, include_usage: true, ..req.clone() }, &target.model, body.len())?
        } else {
            chat_body(&req, &target.model, body.len())?
        };
        return Ok(OpenAiBody {
            body: b,
            stream: req.stream,
            include_usage: req.include_usage,
            client_api,
            upstream_stream,
        });
    }
    let facts = body::read_body(body)?;
    let flags = json::document::<RequestFlags>(body).unwrap_or_default();
    let include_usage = flags.stream_options.0.and_then(|s| s.include_usage.0).unwrap_or(false);
    let upstream_stream = can_stream && !facts.stream && super::super::assemblable(client_path, body);
    let b = if upstream_stream {
        super::super::streaming_copy(body, Some(&target.model), true)?
    } else {
        body::rewrite_model(body, &facts.model_span, &target.model)
    };
    Ok(OpenAiBody { body: b, stream: facts.stream, include_usage, client_api: ClientApi::OpenAi, upstream_stream })
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
    let b = body_for(target, client_path, body)?;
    let rest = if b.client_api == ClientApi::Anthropic { "/chat/completions" } else { rest };
    Ok(UpstreamRequest {
        path: format!("{}{rest}{query}", target.base_path),
        body: b.body,
        set_headers: passthrough_headers(),
        stream: b.stream,
        include_usage: b.include_usage,
        client_api: b.client_api,
        upstream_stream: b.upstream_stream,
    })
}

/// A user message's `content`: its text alone when it is one text part, else the parts.
fn content(out: &mut Vec<u8>, c: &Content<'_>) -> Result<(), RequestError> {
    let mut blocks = Blocks::open(out);
    c.parts(&mut |p| {
        match p {
            Part::Text(t) => blocks.text(out, true, &t),
            Part::Image(image) => {
                blocks.next(out);
                out.extend_from_slice(br#"{"type":"image_url","image_url":{"url":"#);
                match image {
                    Image::Inline { media_type, data } => {
                        json::string(out, &format!("data:{media_type};base64,{data}"))
                    }
                    Image::Url(url) => json::string(out, &url),
                }
                out.extend_from_slice(b"}}");
            }
        }
        Ok(())
    })?;
    blocks.close(out, true);
    Ok(())
}

/// An assistant message: its texts joined, and its tool calls with their arguments as JSON text.
fn assistant(out: &mut Vec<u8>, c: &Content<'_>) -> Result<(), RequestError> {
    let mut text: Option<String> = None;
    c.parts(&mut |p| {
        if let Part::Text(t) = p {
            text.get_or_insert_with(String::new).push_str(&t);
        }
        Ok(())
    })?;
    let mut m = ObjectWriter::open(out);
    m.str("role", "assistant");
    match &text {
        Some(t) => m.str("content", t),
        None => m.raw("content", "null"),
    }
    let mut calls = 0;
    let mut arguments = Vec::new();
    c.tool_calls(&mut |call| {
        let list = if calls == 0 { m.key("tool_calls") } else { m.continued() };
        list.push(if calls == 0 { b'[' } else { b',' });
        calls += 1;
        let mut o = ObjectWriter::open(list);
        o.str("id", &call.id);
        o.str("type", "function");
        let mut f = ObjectWriter::open(o.key("function"));
        f.str("name", &call.name);
        arguments.clear();
        json::minify(&mut arguments, &call.arguments);
        f.str("arguments", std::str::from_utf8(&arguments).unwrap_or("{}"));
        f.close();
        o.close();
        Ok(())
    })?;
    if calls > 0 {
        m.continued().push(b']');
    }
    m.close();
    Ok(())
}

/// A chat completion request from a parsed request (for Anthropic-form clients), written
/// straight into the body; `size_hint` is the client's body size.
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn chat_body(req: &ChatRequest<'_>, model: &str, size_hint: usize) -> Result<Vec<u8>, RequestError> {
    req.reject_extras(ProviderKind::OpenAi)?;
    let mut out = Vec::with_capacity(size_hint + 256);
    let mut b = ObjectWriter::open(&mut out);
    b.str("model", model);
    let messages = b.key("messages");
    messages.push(b'[');
    let mut first = true;
    let mut next = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    req.each_system(&mut |s| {
        next(messages);
        let mut m = ObjectWriter::open(messages);
        m.str("role", "system");
        m.str("content", s);
        m.close();
        Ok(())
    })?;
    req.each_message(&mut |m| {
        next(messages);
        match m {
            Msg::User(c) => {
                let mut m = ObjectWriter::open(messages);
                m.str("role", "user");
                content(m.key("content"), &c)?;
                m.close();
            }
            Msg::Assistant(c) => assistant(messages, &c)?,
            Msg::Tool { tool_call_id, content, .. } => {
                let mut m = ObjectWriter::open(messages);
                m.str("role", "tool");
                m.str("tool_call_id", &tool_call_id);
                m.str("content", &content);
                m.close();
            }
        }
        Ok(())
    })?;
    messages.push(b']');
    if let Some(n) = req.max_tokens {
        b.u64("max_tokens", n);
    }
    if let Some(t) = req.temperature {
        b.f64("temperature", t);
    }
    if let Some(p) = req.top_p {
        b.f64("top_p", p);
    }
    if let Some(u) = &req.user {
        b.str("user", u);
    }
    if let Some(s) = req.seed {
        b.i64("seed", s);
    }
    if let Some(stop) = req.stop_json() {
        b.raw("stop", &stop);
    }
    if req.tool_count > 0 {
        let tools = b.key("tools");
        tools.push(b'[');
        let mut n = 0;
        req.each_tool(&mut |t| {
            if n > 0 {
                tools.push(b',');
            }
            n += 1;
            let mut o = ObjectWriter::open(tools);
            o.str("type", "function");
            let mut f = ObjectWriter::open(o.key("function"));
            f.str("name", &t.name);
            if let Some(d) = &t.description {
                f.str("description", d);
            }
            f.raw("parameters", t.parameters);
            f.close();
            o.close();
            Ok(())
        })?;
        tools.push(b']');
        match &req.tool_choice {
            None => {}
            Some(ToolChoice::Auto) => b.str("tool_choice", "auto"),
            Some(ToolChoice::None) => b.str("tool_choice", "none"),
            Some(ToolChoice::Required) => b.str("tool_choice", "required"),
            Some(ToolChoice::Function(n)) => {
                let mut c = b.object("tool_choice");
                c.str("type", "function");
                let mut f = c.object("function");
                f.str("name", n);
                f.close();
                c.close();
            }
        }
        if req.parallel_tool_calls == Some(false) {
            b.bool("parallel_tool_calls", false);
        }
    }
    if req.stream {
        b.bool("stream", true);
        b.raw("stream_options", r#"{"include_usage":true}"#);
    }
    b.close();
    Ok(out)
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
        use serde_json::{json, Value};
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
