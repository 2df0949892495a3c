//! OpenAI chat completion answers → the events the client's writer needs (used for
//! Anthropic-form clients on OpenAI-compatible and Azure deployments).
//!
//! - Whole: `choices[0].message` (`content`, `tool_calls`), `finish_reason`, `usage`.
//! - Stream: `chat.completion.chunk` events (`delta.content`, `delta.tool_calls[]` with index,
//!   id and name on the first fragment), `finish_reason`, the usage chunk, `[DONE]`.

use serde_json::Value;

use super::error::openai_error;
use crate::providers::chat::{Ev, Finish, OutToolCall, Reply};
use crate::providers::error::ProviderError;
use crate::providers::translated::{feed_sse, Dialect, SseDialect, SseStream, Translated};
use crate::providers::{ResponseOptions, Target, Usage};

const NAME: &str = "The OpenAI-compatible deployment";

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    Translated::new(Box::new(OpenAiDialect::default()), &target.model, opts)
}

#[derive(Default)]
pub(crate) struct OpenAiDialect {
    sse: SseStream,
    started: bool,
    finished: bool,
}

fn finish_reason(r: &str) -> Finish {
    match r {
        "length" => Finish::Length,
        "tool_calls" | "function_call" => Finish::ToolCalls,
        "content_filter" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage { input_tokens: n("prompt_tokens"), output_tokens: n("completion_tokens") })
}

impl SseDialect for OpenAiDialect {
    fn sse(&mut self) -> &mut SseStream {
        &mut self.sse
    }

    fn event(&mut self, data: &str, out: &mut Vec<Ev>) {
        if data.trim() == "[DONE]" {
            out.push(Ev::End);
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(Ev::Error(ProviderError::bad_response(NAME, "a stream event is not JSON")));
            return;
        };
        if v.get("error").is_some() {
            out.push(Ev::Error(openai_error(500, data.as_bytes())));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(Ev::Start { id: None });
        }
        let choice = v.pointer("/choices/0");
        let delta = choice.and_then(|c| c.get("delta"));
        if let Some(t) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
            out.push(Ev::Text(t.to_owned()));
        }
        for call in delta.and_then(|d| d.get("tool_calls")).and_then(Value::as_array).into_iter().flatten() {
            let block = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let s = |p: &str| call.pointer(p).and_then(Value::as_str).map(str::to_owned);
            let args = s("/function/arguments").unwrap_or_default();
            match (s("/id"), s("/function/name")) {
                (None, None) => out.push(Ev::ToolArgs { block, fragment: args }),
                (id, name) => out.push(Ev::ToolStart {
                    block,
                    id: id.unwrap_or_default(),
                    name: name.unwrap_or_default(),
                    arguments: args,
                }),
            }
        }
        if let Some(r) = choice.and_then(|c| c.get("finish_reason")).and_then(Value::as_str) {
            self.finished = true;
            out.push(Ev::Finish(finish_reason(r)));
        }
        if let Some(u) = usage(&v) {
            out.push(Ev::Usage(u));
        }
    }
}

impl Dialect for OpenAiDialect {
    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        openai_error(status, body)
    }

    fn complete(&self, body: &[u8]) -> Result<Reply, ProviderError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| ProviderError::bad_response(NAME, e))?;
        let choice = v.pointer("/choices/0").ok_or_else(|| ProviderError::bad_response(NAME, "no 'choices'"))?;
        let message = choice.get("message");
        let text = message.and_then(|m| m.get("content")).and_then(Value::as_str).map(str::to_owned);
        let calls = message.and_then(|m| m.get("tool_calls")).and_then(Value::as_array);
        let tool_calls = calls
            .into_iter()
            .flatten()
            .map(|c| {
                let s = |p: &str| c.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
                OutToolCall { id: s("/id"), name: s("/function/name"), arguments: s("/function/arguments") }
            })
            .collect();
        let finish = finish_reason(choice.get("finish_reason").and_then(Value::as_str).unwrap_or(""));
        let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
        Ok(Reply { id, text, tool_calls, finish, usage: usage(&v) })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Ev>) {
        feed_sse(self, Some(chunk), out);
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        feed_sse(self, None, out);
    }
}
