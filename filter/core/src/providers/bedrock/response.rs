//! Bedrock Converse responses → OpenAI.
//!
//! - Whole: `{output.message.content[], stopReason, usage{inputTokens, outputTokens}}` →
//!   `chat.completion` (text joined, `toolUse` → `tool_calls` with JSON-string arguments).
//! - Stream: event-stream messages `messageStart`, `contentBlockStart` (toolUse id and name),
//!   `contentBlockDelta` (text, toolUse.input fragments), `contentBlockStop`, `messageStop`
//!   (stopReason), `metadata` (usage); an `exception` message becomes an OpenAI error event.
//! - Errors: `x-amzn-ErrorType` (or the body's `__type`) names the exception, which sets the
//!   status (see [`super::bedrock_exception_status`]).

use serde_json::value::RawValue;

use super::error::{
    bedrock_error, bedrock_error_name, bedrock_error_status, bedrock_exception_status, bedrock_stream_exception,
};
use crate::providers::chat::{Args, Calls, Ev, Finish, OutToolCall, Reply};
use crate::providers::codec::eventstream::{EventStreamDecoder, Frame};
use crate::providers::error::ProviderError;
use crate::providers::json::{self, Obj, Str, U64};
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

json::reader! {
    struct BedrockUsage {
        "inputTokens" => input_tokens: U64,
        "outputTokens" => output_tokens: U64,
        "cacheReadInputTokens" => cache_read_input_tokens: U64,
        "cacheWriteInputTokens" => cache_write_input_tokens: U64,
    }
}

fn usage(u: Obj<BedrockUsage>) -> Option<Usage> {
    let u = u.0?;
    Some(Usage {
        // Saturating: the numbers are the provider's, and a wrapped sum would be a wrong bill.
        input_tokens: u
            .input_tokens
            .0
            .unwrap_or(0)
            .saturating_add(u.cache_read_input_tokens.0.unwrap_or(0))
            .saturating_add(u.cache_write_input_tokens.0.unwrap_or(0)),
        output_tokens: u.output_tokens.0.unwrap_or(0),
    })
}

json::reader! {
    /// A Converse answer: what the gateway reads of it.
    struct Answer<'a> {
        "output" => output: Obj<Output<'a>>,
        "stopReason" => stop_reason: Str<'a>,
        "usage" => usage: Obj<BedrockUsage>,
    }
}

json::reader! {
    struct Output<'a> {
        "message" => message: Obj<Message<'a>>,
    }
}

json::reader! {
    struct Message<'a> {
        "content" => content: Option<&'a RawValue>,
    }
}

json::reader! {
    /// A content block of an answer (`text` or `toolUse`).
    struct Block<'a> {
        "text" => text: Option<&'a RawValue>,
        "toolUse" => tool_use: Obj<ToolUse<'a>>,
    }
}

json::reader! {
    struct ToolUse<'a> {
        "toolUseId" => tool_use_id: Str<'a>,
        "name" => name: Str<'a>,
        "input" => input: Option<&'a RawValue>,
    }
}

json::reader! {
    /// A ConverseStream event's payload, whatever its type: each type reads the fields it has.
    struct Payload<'a> {
        "contentBlockIndex" => content_block_index: U64,
        "start" => start: Obj<BlockStart<'a>>,
        "delta" => delta: Obj<BlockDelta<'a>>,
        "stopReason" => stop_reason: Str<'a>,
        "usage" => usage: Obj<BedrockUsage>,
    }
}

json::reader! {
    struct BlockStart<'a> {
        "toolUse" => tool_use: Obj<ToolUse<'a>>,
    }
}

json::reader! {
    struct BlockDelta<'a> {
        "text" => text: Str<'a>,
        "toolUse" => tool_use: Obj<InputFragment<'a>>,
    }
}

json::reader! {
    struct InputFragment<'a> {
        "input" => input: Str<'a>,
    }
}

fn tool_use(raw: &RawValue, _: usize) -> Option<OutToolCall<'_>> {
    let b: Block = json::fields_of(raw)?;
    if b.text.is_some() {
        return None;
    }
    let t = b.tool_use.0?;
    Some(OutToolCall {
        id: t.tool_use_id.0.unwrap_or_default(),
        name: t.name.0.unwrap_or_default(),
        arguments: Args::Json(t.input),
    })
}

impl Dialect for BedrockDialect {
    fn name(&self) -> &'static str {
        NAME
    }

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

    fn complete<'a>(&self, body: &'a [u8]) -> Result<Reply<'a>, ProviderError> {
        let v: Answer<'a> = json::document(body).map_err(|e| ProviderError::bad_response(NAME, e))?;
        let content = v.output.0.and_then(|o| o.message.0).and_then(|m| m.content);
        let content = content.filter(|c| c.get().starts_with('['));
        let content = content.ok_or_else(|| ProviderError::bad_response(NAME, "no output.message.content"))?;
        let mut text: Option<std::borrow::Cow<'a, str>> = None;
        let _ = json::each(content, &"content", &mut |_, raw| {
            let b: Block = json::fields_of(raw).unwrap_or_default();
            if let Some(t) = b.text {
                let t = json::str(t).unwrap_or_default();
                match text.as_mut() {
                    None => text = Some(t),
                    Some(all) => all.to_mut().push_str(&t),
                }
            }
            Ok(())
        });
        Ok(Reply {
            id: None,
            text,
            tool_calls: Calls { list: Some(content), read: tool_use },
            finish: finish_reason(v.stop_reason.as_deref().unwrap_or("")),
            usage: usage(v.usage),
        })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(Ev)) {
        self.decoder.feed(chunk);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => frame_events(&frame, out),
                Ok(None) => return,
                Err(e) => {
                    out(Ev::Error(ProviderError::bad_response(NAME, e)));
                    return;
                }
            }
        }
    }

    fn finish(&mut self, out: &mut dyn FnMut(Ev)) {
        if self.decoder.pending() > 0 {
            out(Ev::Error(ProviderError::truncated()));
        }
    }

    fn id(&self) -> Option<String> {
        self.request_id.as_ref().map(|r| format!("chatcmpl-{r}"))
    }
}

/// The OpenAI events of one event-stream message.
fn frame_events(frame: &Frame, out: &mut dyn FnMut(Ev)) {
    match frame.header_str(":message-type").unwrap_or("event") {
        "exception" => {
            let name = frame.header_str(":exception-type").unwrap_or("");
            out(Ev::Error(bedrock_stream_exception(name, &frame.payload)));
            return;
        }
        "error" => {
            let code = frame.header_str(":error-code").unwrap_or("InternalServerException");
            let msg = frame.header_str(":error-message").unwrap_or("error in Bedrock's stream");
            let status = bedrock_exception_status(code).unwrap_or(500);
            out(Ev::Error(ProviderError::new(status, Some(code.to_owned()), msg.to_owned())));
            return;
        }
        _ => {}
    }
    let Ok(p) = json::document::<Payload>(&frame.payload) else {
        out(Ev::Error(ProviderError::bad_response(NAME, "an event payload is not JSON")));
        return;
    };
    let block = p.content_block_index.0.unwrap_or(0);
    match frame.header_str(":event-type").unwrap_or("") {
        "messageStart" => out(Ev::Start { id: None }),
        "contentBlockStart" => {
            if let Some(t) = p.start.0.and_then(|s| s.tool_use.0) {
                out(Ev::ToolStart {
                    block,
                    id: t.tool_use_id.0.map(|i| i.into_owned()).unwrap_or_default(),
                    name: t.name.0.map(|n| n.into_owned()).unwrap_or_default(),
                    arguments: String::new(),
                });
            }
        }
        "contentBlockDelta" => {
            let delta = p.delta.0.unwrap_or_default();
            if let Some(t) = delta.text.0 {
                out(Ev::Text(t.into_owned()));
            } else if let Some(f) = delta.tool_use.0.and_then(|t| t.input.0) {
                out(Ev::ToolArgs { block, fragment: f.into_owned() });
            }
        }
        "messageStop" => out(Ev::Finish(finish_reason(p.stop_reason.as_deref().unwrap_or("")))),
        "metadata" => {
            if let Some(u) = usage(p.usage) {
                out(Ev::Usage(u));
            }
            out(Ev::End);
        }
        _ => {}
    }
}
