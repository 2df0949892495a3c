//! Gemini `GenerateContentResponse` → OpenAI.
//!
//! - Whole: `candidates[0].content.parts` (`text`, `functionCall`; `thought` parts skipped) →
//!   `chat.completion`; `finishReason` STOP/MAX_TOKENS/SAFETY... → stop/length/content_filter
//!   (tool_calls when the answer calls functions); `usageMetadata` → usage (thinking tokens
//!   count as output, as Google bills them).
//! - Stream (`alt=sse`): each `data:` event is a partial `GenerateContentResponse`; function
//!   calls arrive whole, so each becomes one tool-call chunk with its arguments.
//! - Errors: Google's `{"error":{"code","message","status"}}`.

use serde_json::Value;

use crate::providers::chat::{Ev, Finish, OutToolCall, Reply};
use crate::providers::error::ProviderError;
use crate::providers::translated::{feed_sse, Dialect, SseDialect, SseStream, Translated};
use crate::providers::vertex::google_error;
use crate::providers::{ResponseOptions, Target, Usage};

const NAME: &str = "Vertex AI (Gemini)";

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    Translated::new(Box::new(GeminiDialect::default()), &target.model, opts)
}

#[derive(Default)]
pub(crate) struct GeminiDialect {
    sse: SseStream,
    started: bool,
    calls: u64,
    finished: bool,
}

pub(crate) fn finish_reason(reason: &str, called: bool) -> Finish {
    match reason {
        "MAX_TOKENS" => Finish::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => Finish::ContentFilter,
        _ if called => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usageMetadata")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: n("promptTokenCount"),
        output_tokens: n("candidatesTokenCount").saturating_add(n("thoughtsTokenCount")),
    })
}

/// `(text, function calls as (name, args JSON))` of the first candidate.
fn parts(v: &Value) -> (Option<String>, Vec<(String, String)>) {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    let list = v.pointer("/candidates/0/content/parts").and_then(Value::as_array);
    for p in list.into_iter().flatten() {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            text.get_or_insert_with(String::new).push_str(t);
        } else if let Some(c) = p.get("functionCall") {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let args = c.get("args").map_or_else(|| "{}".to_owned(), Value::to_string);
            calls.push((name, args));
        }
    }
    (text, calls)
}

fn blocked(v: &Value) -> bool {
    v.pointer("/promptFeedback/blockReason").is_some() && v.pointer("/candidates/0").is_none()
}

impl SseDialect for GeminiDialect {
    fn sse(&mut self) -> &mut SseStream {
        &mut self.sse
    }

    fn event(&mut self, data: &str, out: &mut Vec<Ev>) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.push(Ev::Error(ProviderError::bad_response(NAME, "a stream event is not JSON")));
            return;
        };
        if let Some(e) = v.get("error") {
            let status = e.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
            out.push(Ev::Error(google_error(status, data.as_bytes())));
            return;
        }
        if !self.started {
            self.started = true;
            let id = v.get("responseId").and_then(Value::as_str).map(|r| format!("chatcmpl-{r}"));
            out.push(Ev::Start { id });
        }
        let (text, calls) = parts(&v);
        out.extend(text.map(Ev::Text));
        for (name, arguments) in calls {
            let n = self.calls;
            self.calls += 1;
            out.push(Ev::ToolStart { block: n, id: format!("call_{n}"), name, arguments });
        }
        if let Some(u) = usage(&v) {
            out.push(Ev::Usage(u));
        }
        let reason = v.pointer("/candidates/0/finishReason").and_then(Value::as_str);
        if let Some(r) = reason.filter(|r| *r != "FINISH_REASON_UNSPECIFIED") {
            self.finished = true;
            out.push(Ev::Finish(finish_reason(r, self.calls > 0)));
        } else if blocked(&v) {
            self.finished = true;
            out.push(Ev::Finish(Finish::ContentFilter));
        }
    }
}

impl Dialect for GeminiDialect {
    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        google_error(status, body)
    }

    fn complete(&self, body: &[u8]) -> Result<Reply, ProviderError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| ProviderError::bad_response(NAME, e))?;
        if v.get("candidates").is_none() && !blocked(&v) {
            return Err(ProviderError::bad_response(NAME, "no 'candidates'"));
        }
        let (text, calls) = parts(&v);
        let tool_calls: Vec<OutToolCall> = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| OutToolCall { id: format!("call_{i}"), name, arguments })
            .collect();
        let finish = if blocked(&v) {
            Finish::ContentFilter
        } else {
            let r = v.pointer("/candidates/0/finishReason").and_then(Value::as_str).unwrap_or("STOP");
            finish_reason(r, !tool_calls.is_empty())
        };
        let id = v.get("responseId").and_then(Value::as_str).map(|r| format!("chatcmpl-{r}"));
        Ok(Reply { id, text, tool_calls, finish, usage: usage(&v) })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Ev>) {
        feed_sse(self, Some(chunk), out);
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        feed_sse(self, None, out);
        // Gemini's last event carries both finishReason and the final usage.
        if self.finished {
            out.push(Ev::End);
        }
    }
}
