//! Anthropic Messages responses (also Claude on Vertex) → OpenAI.
//!
//! - Whole: `{id, content[text | tool_use], stop_reason, usage}` → `chat.completion`.
//! - Stream (SSE): `message_start` (id, input tokens), `content_block_start` (tool_use id and
//!   name), `content_block_delta` (`text_delta`, `input_json_delta`), `content_block_stop`,
//!   `message_delta` (stop_reason, output tokens), `message_stop`, `ping`, `error`.
//! - Errors: Anthropic's `{"type":"error","error":{...}}`; on Vertex, Google's shape too.

use serde_json::Value;

use super::error::{anthropic_error, anthropic_error_value};
use crate::providers::chat::{Ev, Finish, OutToolCall, Reply};
use crate::providers::error::ProviderError;
use crate::providers::translated::{feed_sse, Dialect, SseDialect, SseStream, Translated};
use crate::providers::vertex::google_error;
use crate::providers::{ProviderKind, ResponseOptions, Target, Usage};

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    let d = AnthropicDialect { kind: target.kind, sse: SseStream::default(), usage: Usage::default() };
    Translated::new(Box::new(d), &target.model, opts)
}

pub(crate) struct AnthropicDialect {
    kind: ProviderKind,
    sse: SseStream,
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

/// Input tokens count cached ones too, as OpenAI's `prompt_tokens` does.
pub(crate) fn input_tokens(u: &Value) -> Option<u64> {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let base = n("input_tokens")?;
    // Saturating: the numbers are the provider's, and a wrapped sum would be a wrong bill.
    Some(
        base.saturating_add(n("cache_creation_input_tokens").unwrap_or(0))
            .saturating_add(n("cache_read_input_tokens").unwrap_or(0)),
    )
}

impl AnthropicDialect {
    fn name(&self) -> &'static str {
        self.kind.display_name()
    }
}

impl SseDialect for AnthropicDialect {
    fn sse(&mut self) -> &mut SseStream {
        &mut self.sse
    }

    fn event(&mut self, data: &str, out: &mut Vec<Ev>) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(Ev::Error(ProviderError::bad_response(self.name(), "a stream event is not JSON")));
            return;
        };
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let m = v.get("message");
                let id = m.and_then(|m| m.get("id")).and_then(Value::as_str).map(str::to_owned);
                if let Some(u) = m.and_then(|m| m.get("usage")) {
                    self.usage.input_tokens = input_tokens(u).unwrap_or(0);
                    self.usage.output_tokens = u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
                    out.push(Ev::Usage(self.usage));
                }
                out.push(Ev::Start { id });
            }
            "content_block_start" => {
                let b = v.get("content_block");
                match b.and_then(|b| b.get("type")).and_then(Value::as_str) {
                    Some("tool_use") => {
                        let s =
                            |k: &str| b.and_then(|b| b.get(k)).and_then(Value::as_str).unwrap_or_default().to_owned();
                        out.push(Ev::ToolStart {
                            block: index,
                            id: s("id"),
                            name: s("name"),
                            arguments: String::new(),
                        });
                    }
                    Some("text") => {
                        if let Some(t) = b.and_then(|b| b.get("text")).and_then(Value::as_str).filter(|t| !t.is_empty())
                        {
                            out.push(Ev::Text(t.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = v.get("delta");
                let s = |k: &str| d.and_then(|d| d.get(k)).and_then(Value::as_str).map(str::to_owned);
                match d.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => out.extend(s("text").map(Ev::Text)),
                    Some("input_json_delta") => {
                        out.extend(s("partial_json").map(|fragment| Ev::ToolArgs { block: index, fragment }))
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
                        self.usage.output_tokens = o;
                    }
                    if let Some(i) = input_tokens(u) {
                        self.usage.input_tokens = i;
                    }
                    out.push(Ev::Usage(self.usage));
                }
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push(Ev::Finish(finish_reason(r)));
                }
            }
            "message_stop" => out.push(Ev::End),
            "error" => {
                let e = anthropic_error_value(200, &v)
                    .unwrap_or_else(|| ProviderError::new(500, None, "error event in the provider's stream".into()));
                out.push(Ev::Error(e));
            }
            _ => {}
        }
    }
}

impl Dialect for AnthropicDialect {
    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        // Vertex answers its own failures (quota, auth) in Google's shape.
        let google = v.is_array() || (v.get("type").is_none() && v.pointer("/error/status").is_some());
        if google {
            google_error(status, body)
        } else {
            anthropic_error(status, body)
        }
    }

    fn complete(&self, body: &[u8]) -> Result<Reply, ProviderError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| ProviderError::bad_response(self.name(), e))?;
        let content = v.get("content").and_then(Value::as_array);
        let content = content.ok_or_else(|| ProviderError::bad_response(self.name(), "no 'content'"))?;
        let mut text: Option<String> = None;
        let mut tool_calls = Vec::new();
        for b in content {
            let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            match b.get("type").and_then(Value::as_str) {
                Some("text") => text.get_or_insert_with(String::new).push_str(&s("text")),
                Some("tool_use") => tool_calls.push(OutToolCall {
                    id: s("id"),
                    name: s("name"),
                    arguments: b.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                }),
                _ => {}
            }
        }
        let finish = finish_reason(v.get("stop_reason").and_then(Value::as_str).unwrap_or(""));
        let usage = v.get("usage").map(|u| Usage {
            input_tokens: input_tokens(u).unwrap_or(0),
            output_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
        });
        let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
        Ok(Reply { id, text, tool_calls, finish, usage })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Ev>) {
        feed_sse(self, Some(chunk), out);
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        feed_sse(self, None, out);
    }
}
