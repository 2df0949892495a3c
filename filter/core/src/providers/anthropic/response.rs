//! Anthropic Messages responses (also Claude on Vertex) → OpenAI.
//!
//! - Whole: `{id, content[text | tool_use], stop_reason, usage}` → `chat.completion`.
//! - Stream (SSE): `message_start` (id, input tokens), `content_block_start` (tool_use id and
//!   name), `content_block_delta` (`text_delta`, `input_json_delta`), `content_block_stop`,
//!   `message_delta` (stop_reason, output tokens), `message_stop`, `ping`, `error`.
//! - Errors: Anthropic's `{"type":"error","error":{...}}`; on Vertex, Google's shape too.

use serde_json::value::RawValue;

use super::error::{anthropic_error, anthropic_error_value, ErrorDoc, ErrorObject};
use crate::providers::chat::{Args, Calls, Ev, Finish, OutToolCall, Reply};
use crate::providers::codec::sse::SseDecoder;
use crate::providers::error::ProviderError;
use crate::providers::json::{self, Obj, Str, U64};
use crate::providers::translated::{feed_sse, Dialect, SseDialect, Translated};
use crate::providers::vertex::google_error;
use crate::providers::{ProviderKind, ResponseOptions, Target, Usage};

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    let d = AnthropicDialect { kind: target.kind, sse: SseDecoder::default(), usage: Usage::default() };
    Translated::new(Box::new(d), &target.model, opts)
}

pub(crate) struct AnthropicDialect {
    kind: ProviderKind,
    sse: SseDecoder,
    usage: Usage,
}

pub(crate) fn finish_reason(stop: &str) -> Finish {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => Finish::Length,
        "tool_use" => Finish::ToolCalls,
        "refusal" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

json::reader! {
    /// Anthropic's `usage`, in a message, `message_start` or `message_delta`.
    #[derive(Clone, Copy)]
    pub(crate) struct AnthropicUsage {
        "input_tokens" => input_tokens: U64,
        "output_tokens" => output_tokens: U64,
        "cache_creation_input_tokens" => cache_creation_input_tokens: U64,
        "cache_read_input_tokens" => cache_read_input_tokens: U64,
    }
}

impl AnthropicUsage {
    /// Input tokens count cached ones too, as OpenAI's `prompt_tokens` does.
    pub fn input_tokens(&self) -> Option<u64> {
        let base = self.input_tokens.0?;
        // Saturating: the numbers are the provider's, and a wrapped sum would be a wrong bill.
        Some(
            base.saturating_add(self.cache_creation_input_tokens.0.unwrap_or(0))
                .saturating_add(self.cache_read_input_tokens.0.unwrap_or(0)),
        )
    }
}

json::reader! {
    /// A content block of a message or of `content_block_start`.
    struct Block<'a> {
        "type" => ty: Str<'a>,
        "text" => text: Str<'a>,
        "id" => id: Str<'a>,
        "name" => name: Str<'a>,
        "input" => input: Option<&'a RawValue>,
    }
}

json::reader! {
    /// A stream event, whatever its type: each type reads the fields it has.
    struct Event<'a> {
        "type" => ty: Str<'a>,
        "index" => index: U64,
        "message" => message: Obj<Message<'a>>,
        "content_block" => content_block: Obj<Block<'a>>,
        "delta" => delta: Obj<Delta<'a>>,
        "usage" => usage: Obj<AnthropicUsage>,
        "error" => error: Obj<ErrorObject<'a>>,
    }
}

json::reader! {
    struct Delta<'a> {
        "type" => ty: Str<'a>,
        "text" => text: Str<'a>,
        "partial_json" => partial_json: Str<'a>,
        "stop_reason" => stop_reason: Str<'a>,
    }
}

json::reader! {
    /// A whole message, or the one `message_start` opens.
    struct Message<'a> {
        "id" => id: Str<'a>,
        "content" => content: Option<&'a RawValue>,
        "stop_reason" => stop_reason: Str<'a>,
        "usage" => usage: Obj<AnthropicUsage>,
    }
}

fn tool_use(raw: &RawValue, _: usize) -> Option<OutToolCall<'_>> {
    let b: Block = json::fields_of(raw)?;
    (b.ty.as_deref() == Some("tool_use")).then(|| OutToolCall {
        id: b.id.0.unwrap_or_default(),
        name: b.name.0.unwrap_or_default(),
        arguments: Args::Json(b.input),
    })
}

impl SseDialect for AnthropicDialect {
    fn sse(&mut self) -> &mut SseDecoder {
        &mut self.sse
    }

    fn event(&mut self, data: &str, out: &mut dyn FnMut(Ev)) {
        let Ok(v) = json::document::<Event>(data.as_bytes()) else {
            out(Ev::Error(ProviderError::bad_response(self.kind.display_name(), "a stream event is not JSON")));
            return;
        };
        let index = v.index.0.unwrap_or(0);
        match v.ty.as_deref().unwrap_or("") {
            "message_start" => {
                let m = v.message.0.unwrap_or_default();
                if let Some(u) = m.usage.0 {
                    self.usage.input_tokens = u.input_tokens().unwrap_or(0);
                    self.usage.output_tokens = u.output_tokens.0.unwrap_or(0);
                    out(Ev::Usage(self.usage));
                }
                out(Ev::Start { id: m.id.0.map(|i| i.into_owned()) });
            }
            "content_block_start" => {
                let b = v.content_block.0.unwrap_or_default();
                match b.ty.as_deref() {
                    Some("tool_use") => out(Ev::ToolStart {
                        block: index,
                        id: b.id.0.map(|i| i.into_owned()).unwrap_or_default(),
                        name: b.name.0.map(|n| n.into_owned()).unwrap_or_default(),
                        arguments: String::new(),
                    }),
                    Some("text") => {
                        if let Some(t) = b.text.0.filter(|t| !t.is_empty()) {
                            out(Ev::Text(t.into_owned()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = v.delta.0.unwrap_or_default();
                match d.ty.as_deref() {
                    Some("text_delta") => {
                        if let Some(t) = d.text.0 {
                            out(Ev::Text(t.into_owned()));
                        }
                    }
                    Some("input_json_delta") => {
                        if let Some(f) = d.partial_json.0 {
                            out(Ev::ToolArgs { block: index, fragment: f.into_owned() });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(u) = v.usage.0 {
                    if let Some(o) = u.output_tokens.0 {
                        self.usage.output_tokens = o;
                    }
                    if let Some(i) = u.input_tokens() {
                        self.usage.input_tokens = i;
                    }
                    out(Ev::Usage(self.usage));
                }
                if let Some(r) = v.delta.0.and_then(|d| d.stop_reason.0) {
                    out(Ev::Finish(finish_reason(&r)));
                }
            }
            "message_stop" => out(Ev::End),
            "error" => {
                let e = anthropic_error_value(200, v.error.0)
                    .unwrap_or_else(|| ProviderError::new(500, None, "error event in the provider's stream".into()));
                out(Ev::Error(e));
            }
            _ => {}
        }
    }
}

impl Dialect for AnthropicDialect {
    fn name(&self) -> &'static str {
        self.kind.display_name()
    }

    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        let doc = json::document::<ErrorDoc>(body).unwrap_or_default();
        // Vertex answers its own failures (quota, auth) in Google's shape.
        if doc.is_google(body) {
            google_error(status, body)
        } else {
            anthropic_error(status, body)
        }
    }

    fn complete<'a>(&self, body: &'a [u8]) -> Result<Reply<'a>, ProviderError> {
        let v: Message<'a> = json::document(body).map_err(|e| ProviderError::bad_response(self.name(), e))?;
        let content = v.content.filter(|c| c.get().starts_with('['));
        let content = content.ok_or_else(|| ProviderError::bad_response(self.name(), "no 'content'"))?;
        let mut text: Option<std::borrow::Cow<'a, str>> = None;
        let _ = json::each(content, &"content", &mut |_, raw| {
            let b: Block = json::fields_of(raw).unwrap_or_default();
            if b.ty.as_deref() == Some("text") {
                let t = b.text.0.unwrap_or_default();
                match text.as_mut() {
                    None => text = Some(t),
                    Some(all) => all.to_mut().push_str(&t),
                }
            }
            Ok(())
        });
        let usage = v.usage.0.map(|u| Usage {
            input_tokens: u.input_tokens().unwrap_or(0),
            output_tokens: u.output_tokens.0.unwrap_or(0),
        });
        Ok(Reply {
            id: v.id.0.map(|i| i.into_owned()),
            text,
            tool_calls: Calls { list: Some(content), read: tool_use },
            finish: finish_reason(v.stop_reason.as_deref().unwrap_or("")),
            usage,
        })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(Ev)) {
        feed_sse(self, self.kind.display_name(), Some(chunk), out);
    }

    fn finish(&mut self, out: &mut dyn FnMut(Ev)) {
        feed_sse(self, self.kind.display_name(), None, out);
    }
}
