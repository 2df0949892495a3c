//! Gemini `GenerateContentResponse` → OpenAI.
//!
//! - Whole: `candidates[0].content.parts` (`text`, `functionCall`; `thought` parts skipped) →
//!   `chat.completion`; `finishReason` STOP/MAX_TOKENS/SAFETY... → stop/length/content_filter
//!   (tool_calls when the answer calls functions); `usageMetadata` → usage (thinking tokens
//!   count as output, as Google bills them).
//! - Stream (`alt=sse`): each `data:` event is a partial `GenerateContentResponse`; function
//!   calls arrive whole, so each becomes one tool-call chunk with its arguments.
//! - Errors: Google's `{"error":{"code","message","status"}}`.

use serde_json::value::RawValue;

use crate::providers::chat::{Args, Calls, Ev, Finish, OutToolCall, Reply};
use crate::providers::codec::sse::SseDecoder;
use crate::providers::error::ProviderError;
use crate::providers::json::{self, Bool, Field, First, Obj, Str, U64};
use crate::providers::translated::{feed_sse, Dialect, SseDialect, Translated};
use crate::providers::vertex::google_error;
use crate::providers::{ResponseOptions, Target, Usage};

const NAME: &str = "Vertex AI (Gemini)";

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    Translated::new(Box::new(GeminiDialect::default()), &target.model, opts)
}

#[derive(Default)]
pub(crate) struct GeminiDialect {
    sse: SseDecoder,
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

json::reader! {
    /// A `GenerateContentResponse`, whole or one stream event: what the gateway reads of it.
    struct Response<'a> {
        "responseId" => response_id: Str<'a>,
        "candidates" => candidates: Option<&'a RawValue>,
        "promptFeedback" => prompt_feedback: Obj<PromptFeedback<'a>>,
        "usageMetadata" => usage_metadata: Obj<UsageMetadata>,
        "error" => error: Option<&'a RawValue>,
    }
}

json::reader! {
    struct Candidate<'a> {
        "content" => content: Obj<Content<'a>>,
        "finishReason" => finish_reason: Str<'a>,
    }
}

json::reader! {
    struct Content<'a> {
        "parts" => parts: Option<&'a RawValue>,
    }
}

json::reader! {
    struct PromptFeedback<'a> {
        "blockReason" => block_reason: Option<&'a RawValue>,
    }
}

json::reader! {
    struct UsageMetadata {
        "promptTokenCount" => prompt_token_count: U64,
        "candidatesTokenCount" => candidates_token_count: U64,
        "thoughtsTokenCount" => thoughts_token_count: U64,
    }
}

json::reader! {
    struct Part<'a> {
        "thought" => thought: Bool,
        "text" => text: Str<'a>,
        "functionCall" => function_call: Obj<FunctionCall<'a>>,
    }
}

json::reader! {
    struct FunctionCall<'a> {
        "name" => name: Str<'a>,
        "args" => args: Option<&'a RawValue>,
    }
}

impl<'a> Response<'a> {
    /// The first candidate: `None` when there is none, `Some(None)` when it is not an object.
    fn first(&self) -> Option<Option<Candidate<'a>>> {
        First::<Obj<Candidate<'a>>>::read_field(self.candidates?).0.map(|c| c.0)
    }

    fn candidate(&self) -> Option<Candidate<'a>> {
        self.first().flatten()
    }

    /// A prompt blocked before any candidate.
    fn blocked(&self) -> bool {
        let no_candidate = self.candidates.is_none() || self.first().is_none();
        self.prompt_feedback.0.as_ref().is_some_and(|f| f.block_reason.is_some()) && no_candidate
    }

    fn usage(&self) -> Option<Usage> {
        let u = self.usage_metadata.0.as_ref()?;
        let n = |c: U64| c.0.unwrap_or(0);
        Some(Usage {
            input_tokens: n(u.prompt_token_count),
            output_tokens: n(u.candidates_token_count).saturating_add(n(u.thoughts_token_count)),
        })
    }
}

/// A function call part, as a tool call named `call_{n}` (Gemini gives calls no id).
fn function_call(raw: &RawValue, n: usize) -> Option<OutToolCall<'_>> {
    let p: Part = json::fields_of(raw)?;
    if p.thought.0 == Some(true) || p.text.0.is_some() {
        return None;
    }
    let c = p.function_call.0?;
    Some(OutToolCall {
        id: format!("call_{n}").into(),
        name: c.name.0.unwrap_or_default(),
        arguments: Args::Json(c.args),
    })
}

/// The text of the first candidate's parts (thoughts left out), and its function calls.
fn parts(parts: Option<&RawValue>) -> (Option<std::borrow::Cow<'_, str>>, Calls<'_>) {
    let mut text: Option<std::borrow::Cow<'_, str>> = None;
    if let Some(list) = parts {
        let _ = json::each(list, &"parts", &mut |_, raw| {
            let p: Part = json::fields_of(raw).unwrap_or_default();
            if let (false, Some(t)) = (p.thought.0 == Some(true), p.text.0) {
                match text.as_mut() {
                    None => text = Some(t),
                    Some(all) => all.to_mut().push_str(&t),
                }
            }
            Ok(())
        });
    }
    (text, Calls { list: parts, read: function_call })
}

impl SseDialect for GeminiDialect {
    fn sse(&mut self) -> &mut SseDecoder {
        &mut self.sse
    }

    fn event(&mut self, data: &str, out: &mut dyn FnMut(Ev)) {
        let Ok(v) = json::document::<Response>(data.as_bytes()) else {
            out(Ev::Error(ProviderError::bad_response(NAME, "a stream event is not JSON")));
            return;
        };
        if let Some(e) = v.error {
            json::reader! {
                struct Code {
                    "code" => code: U64,
                }
            }
            let code = json::fields_of::<Code>(e).and_then(|c| c.code.0);
            let status = code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
            out(Ev::Error(google_error(status, data.as_bytes())));
            return;
        }
        if !self.started {
            self.started = true;
            out(Ev::Start { id: v.response_id.0.as_ref().map(|r| format!("chatcmpl-{r}")) });
        }
        let blocked = v.blocked();
        let candidate = v.candidate().unwrap_or_default();
        let (text, calls) = parts(candidate.content.0.and_then(|c| c.parts));
        if let Some(t) = text {
            out(Ev::Text(t.into_owned()));
        }
        calls.each(&mut |c| {
            let n = self.calls;
            self.calls += 1;
            out(Ev::ToolStart {
                block: n,
                id: format!("call_{n}"),
                name: c.name.into_owned(),
                arguments: c.arguments.to_text().into_owned(),
            });
            true
        });
        if let Some(u) = v.usage() {
            out(Ev::Usage(u));
        }
        if let Some(r) = candidate.finish_reason.0.filter(|r| r != "FINISH_REASON_UNSPECIFIED") {
            self.finished = true;
            out(Ev::Finish(finish_reason(&r, self.calls > 0)));
        } else if blocked {
            self.finished = true;
            out(Ev::Finish(Finish::ContentFilter));
        }
    }
}

impl Dialect for GeminiDialect {
    fn name(&self) -> &'static str {
        NAME
    }

    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        google_error(status, body)
    }

    fn complete<'a>(&self, body: &'a [u8]) -> Result<Reply<'a>, ProviderError> {
        let v: Response<'a> = json::document(body).map_err(|e| ProviderError::bad_response(NAME, e))?;
        let blocked = v.blocked();
        if v.candidates.is_none() && !blocked {
            return Err(ProviderError::bad_response(NAME, "no 'candidates'"));
        }
        let usage = v.usage();
        let id = v.response_id.0.as_ref().map(|r| format!("chatcmpl-{r}"));
        let candidate = v.candidate().unwrap_or_default();
        let (text, tool_calls) = parts(candidate.content.0.and_then(|c| c.parts));
        let finish = if blocked {
            Finish::ContentFilter
        } else {
            finish_reason(candidate.finish_reason.as_deref().unwrap_or("STOP"), !tool_calls.is_empty())
        };
        Ok(Reply { id, text, tool_calls, finish, usage })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(Ev)) {
        feed_sse(self, NAME, Some(chunk), out);
    }

    fn finish(&mut self, out: &mut dyn FnMut(Ev)) {
        feed_sse(self, NAME, None, out);
        // Gemini's last event carries both finishReason and the final usage.
        if self.finished {
            out(Ev::End);
        }
    }
}
