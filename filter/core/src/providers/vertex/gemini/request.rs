//! The Gemini request (`…/publishers/google/models/{m}:generateContent` or
//! `:streamGenerateContent?alt=sse`) from the neutral request: system messages →
//! `systemInstruction`; turns → `contents[{role: user|model, parts}]` (`text`, `inlineData` for
//! data: URLs, `fileData` for gs:// URLs, `functionCall`, tool messages → user
//! `functionResponse` named after the call they answer, a non-object result under `output`);
//! sampling and `stop`, `seed`, `top_k`, the penalties, `response_format` (json_object /
//! json_schema) → `generationConfig`; tools → `tools[{functionDeclarations}]` (schemas stripped
//! of the JSON Schema keys Vertex's OpenAPI subset refuses); `tool_choice` →
//! `toolConfig.functionCallingConfig`.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::providers::chat::{unsupported, Blocks, ChatRequest, Image, Msg, Part, ToolChoice, Turns};
use crate::providers::client::{parse_chat, ToolNames};
use crate::providers::json::{self, Obj, ObjectWriter, Str};
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
    let b = generate_body(&req, body.len())?;
    // Every attempt streams, whether or not the client does: the stream's first event is what
    // tells a live region from a hung one (a whole answer is assembled here).
    Ok(UpstreamRequest {
        path: format!("{}:streamGenerateContent?alt=sse", gemini_model_path(target)?),
        body: b,
        set_headers: json_headers(Some("text/event-stream")),
        stream: req.stream,
        include_usage: req.include_usage,
        client_api,
        upstream_stream: true,
    })
}

/// The model's path: Vertex's project and location path, or Google AI Studio's
/// `/v1beta/models/{model}` under the `api_base` path (empty for Google's own host).
fn gemini_model_path(target: &Target) -> Result<String, RequestError> {
    match target.kind {
        ProviderKind::GeminiAiStudio => {
            Ok(format!("{}/v1beta/models/{}", target.base_path.trim_end_matches('/'), target.model))
        }
        _ => model_path(target, "google"),
    }
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

fn part(blocks: &mut Blocks, out: &mut Vec<u8>, p: Part<'_>) -> Result<(), RequestError> {
    let (key, mime, value_key, value) = match p {
        Part::Text(t) => {
            blocks.text(out, false, &t);
            return Ok(());
        }
        Part::Image(Image::Inline { media_type, data }) => ("inlineData", Cow::Owned(media_type), "data", data),
        Part::Image(Image::Url(url)) => match (url.starts_with("gs://"), mime_from_extension(&url)) {
            (true, Some(mime)) => ("fileData", Cow::Borrowed(mime), "fileUri", url),
            _ => {
                let shown: String = url.chars().take(80).collect();
                return Err(unsupported(format!(
                    "image_url with the URL {shown} cannot be sent to Vertex AI (Gemini) deployments: use a data: URL or a gs:// image"
                )));
            }
        },
    };
    blocks.next(out);
    let mut o = ObjectWriter::open(out);
    let mut d = ObjectWriter::open(o.key(key));
    d.str("mimeType", &mime);
    d.str(value_key, &value);
    d.close();
    o.close();
    Ok(())
}

/// JSON Schema keys Vertex's `Schema` (an OpenAPI subset) refuses, removed at every level.
const SCHEMA_DROP: &[&str] = &["$schema", "$id", "$comment", "additionalProperties", "strict"];

/// Copies a JSON schema as it is read, without the keys of [`SCHEMA_DROP`] at any level; a
/// `$ref`, `$defs` or `definitions` anywhere is refused.
struct CleanSchema<'o> {
    out: &'o mut Vec<u8>,
    refused: &'o mut bool,
}

impl<'de> DeserializeSeed<'de> for CleanSchema<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CleanSchema<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON schema")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        let _ = serde_json::to_writer(&mut *self.out, &v);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        json::string(self.out, v);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let at = self.out.len();
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            let element = CleanSchema { out: &mut *self.out, refused: &mut *self.refused };
            if seq.next_element_seed(element)?.is_none() {
                self.out.truncate(at);
                break;
            }
        }
        self.out.push(b']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let mut first = true;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if matches!(key.as_ref(), "$ref" | "$defs" | "definitions") {
                *self.refused = true;
                return Err(de::Error::custom("$ref"));
            }
            if SCHEMA_DROP.contains(&key.as_ref()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            json::string(self.out, &key);
            self.out.push(b':');
            map.next_value_seed(CleanSchema { out: &mut *self.out, refused: &mut *self.refused })?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// Writes the schema `text` (checked JSON) as Vertex takes it ([`CleanSchema`]).
pub(crate) fn clean_schema(out: &mut Vec<u8>, text: &str) -> Result<(), RequestError> {
    let mut refused = false;
    let mut de = serde_json::Deserializer::from_str(text);
    match (CleanSchema { out, refused: &mut refused }).deserialize(&mut de) {
        Ok(()) => Ok(()),
        Err(_) if refused => Err(unsupported(
            "a tool or response schema uses $ref/$defs, which Vertex AI (Gemini) schemas cannot express".into(),
        )),
        Err(e) => Err(RequestError::bad_request("invalid_request", format!("a tool or response schema: {e}"))),
    }
}

/// A tool's answer as Vertex's FunctionResponse `response`: the "output" key for a result (a
/// JSON object stays as it is), "error" for a failure.
fn function_response(out: &mut Vec<u8>, content: &str, is_error: bool) {
    let object = serde_json::from_str::<&RawValue>(content).ok().filter(|r| r.get().starts_with('{'));
    match object {
        Some(o) if !is_error => out.extend_from_slice(o.get().as_bytes()),
        _ => {
            out.extend_from_slice(if is_error { br#"{"error":"# } else { br#"{"output":"# });
            json::string(out, content);
            out.push(b'}');
        }
    }
}

/// The `GenerateContentRequest`, written straight from the request; `size_hint` is the
/// client's body size.
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn generate_body(req: &ChatRequest<'_>, size_hint: usize) -> Result<Vec<u8>, RequestError> {
    let names = if req.has_tool_history { req.tool_names()? } else { ToolNames::default() };
    let mut buf = Vec::with_capacity(size_hint + 256);
    let mut body = ObjectWriter::open(&mut buf);
    let out = body.key("contents");
    let mut turns = Turns::open(out, "parts", false);
    req.each_message(&mut |m| {
        match m {
            Msg::User(c) => {
                let blocks = turns.turn(out, "user");
                c.parts(&mut |p| part(blocks, out, p))?;
            }
            Msg::Assistant(c) => {
                let blocks = turns.turn(out, "model");
                c.parts(&mut |p| part(blocks, out, p))?;
                c.tool_calls(&mut |call| {
                    blocks.next(out);
                    out.extend_from_slice(br#"{"functionCall":"#);
                    let mut f = ObjectWriter::open(out);
                    f.str("name", &call.name);
                    f.raw("args", &call.arguments);
                    f.close();
                    out.push(b'}');
                    Ok(())
                })?;
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                let name = names.get(&tool_call_id).ok_or_else(|| {
                    RequestError::bad_request(
                        "invalid_request",
                        format!("a tool message answers tool call '{tool_call_id}', which no assistant message made"),
                    )
                })?;
                turns.turn(out, "user").next(out);
                out.extend_from_slice(br#"{"functionResponse":"#);
                let mut f = ObjectWriter::open(out);
                f.str("name", name);
                function_response(f.key("response"), &content, is_error);
                f.close();
                out.push(b'}');
            }
        }
        Ok(())
    })?;
    turns.close(out);
    drop(names);
    if req.system_count > 0 {
        let si = body.key("systemInstruction");
        si.extend_from_slice(br#"{"parts":"#);
        let mut blocks = Blocks::open(si);
        req.each_system(&mut |s| {
            blocks.text(si, false, s);
            Ok(())
        })?;
        blocks.close(si, false);
        si.push(b'}');
    }
    generation_config(req, &mut body)?;
    tools(req, &mut body)?;
    body.close();
    Ok(buf)
}

fn generation_config(req: &ChatRequest<'_>, body: &mut ObjectWriter<'_>) -> Result<(), RequestError> {
    json::reader! {
        struct ResponseFormat<'a> {
            "type" => ty: Str<'a>,
            "json_schema" => json_schema: Obj<JsonSchema<'a>>,
        }
    }
    json::reader! {
        struct JsonSchema<'a> {
            "schema" => schema: Option<&'a RawValue>,
        }
    }
    let mark = body.mark();
    let mut g = ObjectWriter::open(body.key("generationConfig"));
    if let Some(n) = req.max_tokens {
        g.u64("maxOutputTokens", n);
    }
    if let Some(t) = req.temperature {
        g.f64("temperature", t);
    }
    if let Some(p) = req.top_p {
        g.f64("topP", p);
    }
    if let Some(s) = req.seed {
        g.i64("seed", s);
    }
    if let Some(stop) = req.stop_json() {
        g.raw("stopSequences", &stop);
    }
    let mut extras = req.extras.clone();
    for (from, to) in
        [("top_k", "topK"), ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")]
    {
        if let Some(v) = extras.take(from) {
            if json::read::<f64>(v).is_none() {
                return Err(RequestError::bad_request("invalid_request", format!("'{from}' must be a number")));
            }
            g.raw(to, v.get());
        }
    }
    if let Some(rf) = extras.take("response_format") {
        let format: ResponseFormat = json::fields_of(rf).unwrap_or_default();
        match format.ty.as_deref() {
            Some("json_object") => g.str("responseMimeType", "application/json"),
            Some("json_schema") => {
                let schema = format.json_schema.0.and_then(|j| j.schema);
                g.str("responseMimeType", "application/json");
                clean_schema(g.key("responseSchema"), schema.map_or(r#"{"type":"object"}"#, RawValue::get))?;
            }
            _ => extras.put_back("response_format", rf),
        }
    }
    extras.reject(KIND)?;
    if g.is_empty() {
        body.rewind(mark);
    } else {
        g.close();
    }
    Ok(())
}

fn tools(req: &ChatRequest<'_>, body: &mut ObjectWriter<'_>) -> Result<(), RequestError> {
    if !req.has_tools()? {
        return Ok(());
    }
    let list = body.key("tools");
    list.extend_from_slice(br#"[{"functionDeclarations":["#);
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
        clean_schema(d.key("parameters"), t.parameters)?;
        d.close();
        Ok(())
    })?;
    list.extend_from_slice(b"]}]");
    let (mode, name) = match &req.tool_choice {
        None => return Ok(()),
        Some(ToolChoice::Auto) => ("AUTO", None),
        Some(ToolChoice::None) => ("NONE", None),
        Some(ToolChoice::Required) => ("ANY", None),
        Some(ToolChoice::Function(name)) => ("ANY", Some(name)),
    };
    let mut config = body.object("toolConfig");
    let mut c = config.object("functionCallingConfig");
    c.str("mode", mode);
    if let Some(name) = name {
        let list = c.key("allowedFunctionNames");
        list.push(b'[');
        json::string(list, name);
        list.push(b']');
    }
    c.close();
    config.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    fn body(json: &str) -> Result<Value, RequestError> {
        let b = generate_body(&crate::providers::client::openai::parse(json.as_bytes(), KIND)?, 0)?;
        Ok(serde_json::from_slice(&b).unwrap())
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
        // Google AI Studio: the same body, at its own path (under api_base's path, if any).
        let studio = Target::new(ProviderKind::GeminiAiStudio, "gemini-2.0-flash");
        let r = translate_request(&studio, "/v1/chat/completions", b).unwrap();
        assert_eq!(r.path, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
        assert_eq!(r.body, translate_request(&t, "/v1/chat/completions", b).unwrap().body);
        let proxied = Target { base_path: "/google/".into(), ..studio };
        let r = translate_request(&proxied, "/v1/chat/completions", b).unwrap();
        assert_eq!(r.path, "/google/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
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
