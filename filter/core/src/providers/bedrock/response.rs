//! Bedrock Converse responses → OpenAI.
//!
//! - Whole: `{output.message.content[], stopReason, usage{inputTokens, outputTokens}}` →
//!   `chat.completion` (text joined, `toolUse` → `tool_calls` with JSON-string arguments).
//! - Stream: event-stream messages `messageStart`, `contentBlockStart` (toolUse id and name),
//!   `contentBlockDelta` (text, toolUse.input fragments), `contentBlockStop`, `messageStop`
//!   (stopReason), `metadata` (usage); an `exception` message becomes an OpenAI error event.
//! - Errors: `x-amzn-ErrorType` (or the body's `__type`) names the exception, which sets the
//!   status (see [`super::bedrock_exception_status`]).

use std::borrow::Cow;

use serde_json::Value;

use super::error::{
    bedrock_error, bedrock_error_name, bedrock_error_status, bedrock_exception_status, bedrock_stream_exception,
};
use crate::providers::chat::{Ev, Finish, OutToolCall, Reply};
use crate::providers::codec::eventstream::{EventStreamDecoder, Frame};
use crate::providers::error::ProviderError;
use crate::providers::translated::{Dialect, Translated};
use crate::providers::{header, ResponseOptions, Target, Usage};

const NAME: &str = "Bedrock";

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    Translated::new(Box::new(BedrockDialect::default()), &target.model, opts)
}

#[derive(Default)]
pub(crate) struct BedrockDialect {
    request_id: Option<String>,
    error_type: Option<String>,
    decoder: EventStreamDecoder,
}

pub(crate) fn finish_reason(stop: &str) -> Finish {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => Finish::Length,
        "tool_use" => Finish::ToolCalls,
        "content_filtered" | "guardrail_intervened" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

fn usage(u: &Value) -> Option<Usage> {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    u.is_object().then(|| Usage {
        // Saturating: the numbers are the provider's, and a wrapped sum would be a wrong bill.
        input_tokens: n("inputTokens")
            .saturating_add(n("cacheReadInputTokens"))
            .saturating_add(n("cacheWriteInputTokens")),
        output_tokens: n("outputTokens"),
    })
}

impl Dialect for BedrockDialect {
    fn on_headers(&mut self, headers: &[(String, String)]) {
        self.request_id = header(headers, "x-amzn-requestid").map(str::to_owned);
        self.error_type = header(headers, "x-amzn-errortype").map(str::to_owned);
    }

    fn error_status(&self, status: u16) -> u16 {
        bedrock_error_status(status, self.error_type.as_deref().map(bedrock_error_name))
    }

    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        let mut e = bedrock_error(status, self.error_type.as_deref(), body);
        e.status = self.error_status(status);
        e
    }

    fn complete(&self, body: &[u8]) -> Result<Reply, ProviderError> {
        // Typed and borrowed: Converse answers are read on every non-streaming request.
        #[derive(serde::Deserialize)]
        struct Answer<'a> {
            #[serde(borrow)]
            output: Option<Output<'a>>,
            #[serde(rename = "stopReason", borrow)]
            stop_reason: Option<Cow<'a, str>>,
            usage: Option<Value>,
        }
        #[derive(serde::Deserialize)]
        struct Output<'a> {
            #[serde(borrow)]
            message: Option<Message<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Message<'a> {
            #[serde(borrow)]
            content: Option<Vec<Block<'a>>>,
        }
        #[derive(serde::Deserialize)]
        struct Block<'a> {
            #[serde(borrow)]
            text: Option<Cow<'a, str>>,
            #[serde(rename = "toolUse")]
            tool_use: Option<Value>,
        }
        let v: Answer<'_> = serde_json::from_slice(body).map_err(|e| ProviderError::bad_response(NAME, e))?;
        let content = v.output.and_then(|o| o.message).and_then(|m| m.content);
        let content = content.ok_or_else(|| ProviderError::bad_response(NAME, "no output.message.content"))?;
        let mut text: Option<String> = None;
        let mut tool_calls = Vec::new();
        for block in content {
            if let Some(t) = block.text {
                text.get_or_insert_with(String::new).push_str(&t);
            } else if let Some(t) = block.tool_use {
                tool_calls.push(OutToolCall {
                    id: t.get("toolUseId").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    name: t.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    arguments: t.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                });
            }
        }
        let finish = finish_reason(v.stop_reason.as_deref().unwrap_or(""));
        let usage = v.usage.as_ref().and_then(usage);
        Ok(Reply { id: None, text, tool_calls, finish, usage })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Ev>) {
        self.decoder.feed(chunk);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => frame_events(&frame, out),
                Ok(None) => return,
                Err(e) => {
                    out.push(Ev::Error(ProviderError::bad_response(NAME, e)));
                    return;
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        if self.decoder.pending() > 0 {
            out.push(Ev::Error(ProviderError::truncated()));
        }
    }

    fn id(&self) -> Option<String> {
        self.request_id.as_ref().map(|r| format!("chatcmpl-{r}"))
    }
}

/// The OpenAI events of one event-stream message.
fn frame_events(frame: &Frame, out: &mut Vec<Ev>) {
    match frame.header_str(":message-type").unwrap_or("event") {
        "exception" => {
            let name = frame.header_str(":exception-type").unwrap_or("");
            out.push(Ev::Error(bedrock_stream_exception(name, &frame.payload)));
            return;
        }
        "error" => {
            let code = frame.header_str(":error-code").unwrap_or("InternalServerException");
            let msg = frame.header_str(":error-message").unwrap_or("error in Bedrock's stream");
            let status = bedrock_exception_status(code).unwrap_or(500);
            out.push(Ev::Error(ProviderError::new(status, Some(code.to_owned()), msg.to_owned())));
            return;
        }
        _ => {}
    }
    let Ok(p) = serde_json::from_slice::<Value>(&frame.payload) else {
        out.push(Ev::Error(ProviderError::bad_response(NAME, "an event payload is not JSON")));
        return;
    };
    let block = p.get("contentBlockIndex").and_then(Value::as_u64).unwrap_or(0);
    match frame.header_str(":event-type").unwrap_or("") {
        "messageStart" => out.push(Ev::Start { id: None }),
        "contentBlockStart" => {
            if let Some(t) = p.pointer("/start/toolUse") {
                let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                out.push(Ev::ToolStart { block, id: s("toolUseId"), name: s("name"), arguments: String::new() });
            }
        }
        "contentBlockDelta" => {
            let delta = p.get("delta");
            if let Some(t) = delta.and_then(|d| d.get("text")).and_then(Value::as_str) {
                out.push(Ev::Text(t.to_owned()));
            } else if let Some(f) = delta.and_then(|d| d.pointer("/toolUse/input")).and_then(Value::as_str) {
                out.push(Ev::ToolArgs { block, fragment: f.to_owned() });
            }
        }
        "messageStop" => {
            out.push(Ev::Finish(finish_reason(p.get("stopReason").and_then(Value::as_str).unwrap_or(""))));
        }
        "metadata" => {
            if let Some(u) = p.get("usage").and_then(usage) {
                out.push(Ev::Usage(u));
            }
            out.push(Ev::End);
        }
        _ => {}
    }
}
