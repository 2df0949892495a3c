//! OpenAI chat completion answers → the events the client's writer needs (used for
//! Anthropic-form clients on OpenAI-compatible and Azure deployments).
//!
//! - Whole: `choices[0].message` (`content`, `tool_calls`), `finish_reason`, `usage`.
//! - Stream: `chat.completion.chunk` events (`delta.content`, `delta.tool_calls[]` with index,
//!   id and name on the first fragment), `finish_reason`, the usage chunk, `[DONE]`.

use serde_json::value::RawValue;

use super::error::openai_error;
use crate::providers::chat::{Args, Calls, Ev, Finish, OutToolCall, Reply};
use crate::providers::codec::sse::SseDecoder;
use crate::providers::error::ProviderError;
use crate::providers::json::{self, First, Obj, Str, U64};
use crate::providers::translated::{feed_sse, Dialect, SseDialect, Translated};
use crate::providers::{ResponseOptions, Target, Usage};

const NAME: &str = "The OpenAI-compatible deployment";

pub(crate) fn response_translator(target: &Target, opts: ResponseOptions) -> Translated {
    Translated::new(Box::new(OpenAiDialect::default()), &target.model, opts)
}

#[derive(Default)]
pub(crate) struct OpenAiDialect {
    sse: SseDecoder,
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

json::reader! {
    /// A `chat.completion` or a `chat.completion.chunk`: what the gateway reads of either.
    struct Completion<'a> {
        "id" => id: Str<'a>,
        "choices" => choices: First<Obj<Choice<'a>>>,
        "usage" => usage: Obj<OpenAiUsage>,
        "error" => error: Option<&'a RawValue>,
    }
}

json::reader! {
    struct Choice<'a> {
        "message" => message: Obj<Message<'a>>,
        "delta" => delta: Obj<Message<'a>>,
        "finish_reason" => finish_reason: Str<'a>,
    }
}

json::reader! {
    struct Message<'a> {
        "content" => content: Str<'a>,
        "tool_calls" => tool_calls: Option<&'a RawValue>,
    }
}

json::reader! {
    struct OpenAiUsage {
        "prompt_tokens" => prompt_tokens: U64,
        "completion_tokens" => completion_tokens: U64,
    }
}

json::reader! {
    /// One element of `tool_calls`, whole or a stream fragment.
    struct Call<'a> {
        "index" => index: U64,
        "id" => id: Str<'a>,
        "function" => function: Obj<Function<'a>>,
    }
}

json::reader! {
    struct Function<'a> {
        "name" => name: Str<'a>,
        "arguments" => arguments: Str<'a>,
    }
}

fn usage(u: Obj<OpenAiUsage>) -> Option<Usage> {
    let u = u.0?;
    Some(Usage { input_tokens: u.prompt_tokens.0.unwrap_or(0), output_tokens: u.completion_tokens.0.unwrap_or(0) })
}

fn tool_call(raw: &RawValue, _: usize) -> Option<OutToolCall<'_>> {
    let c: Call = json::fields_of(raw).unwrap_or_default();
    let f = c.function.0.unwrap_or_default();
    Some(OutToolCall {
        id: c.id.0.unwrap_or_default(),
        name: f.name.0.unwrap_or_default(),
        arguments: Args::Text(f.arguments.0.unwrap_or_default()),
    })
}

impl SseDialect for OpenAiDialect {
    fn sse(&mut self) -> &mut SseDecoder {
        &mut self.sse
    }

    fn event(&mut self, data: &str, out: &mut dyn FnMut(Ev)) {
        if data.trim() == "[DONE]" {
            out(Ev::End);
            return;
        }
        let Ok(v) = json::document::<Completion>(data.as_bytes()) else {
            out(Ev::Error(ProviderError::bad_response(NAME, "a stream event is not JSON")));
            return;
        };
        if v.error.is_some() {
            out(Ev::Error(openai_error(500, data.as_bytes())));
            return;
        }
        if !self.started {
            self.started = true;
            // The provider's id, so an answer assembled from its stream keeps it as a whole
            // answer does.
            out(Ev::Start { id: v.id.0.filter(|i| !i.is_empty()).map(|i| i.into_owned()) });
        }
        let choice = v.choices.0.and_then(|c| c.0).unwrap_or_default();
        let delta = choice.delta.0.unwrap_or_default();
        if let Some(t) = delta.content.0 {
            out(Ev::Text(t.into_owned()));
        }
        if let Some(calls) = delta.tool_calls {
            let _ = json::each(calls, &"tool_calls", &mut |_, raw| {
                let call: Call = json::fields_of(raw).unwrap_or_default();
                let block = call.index.0.unwrap_or(0);
                let f = call.function.0.unwrap_or_default();
                let args = f.arguments.0.map(|a| a.into_owned()).unwrap_or_default();
                match (call.id.0, f.name.0) {
                    (None, None) => out(Ev::ToolArgs { block, fragment: args }),
                    (id, name) => out(Ev::ToolStart {
                        block,
                        id: id.map(|i| i.into_owned()).unwrap_or_default(),
                        name: name.map(|n| n.into_owned()).unwrap_or_default(),
                        arguments: args,
                    }),
                }
                Ok(())
            });
        }
        if let Some(r) = choice.finish_reason.0 {
            self.finished = true;
            out(Ev::Finish(finish_reason(&r)));
        }
        if let Some(u) = usage(v.usage) {
            out(Ev::Usage(u));
        }
    }
}

impl Dialect for OpenAiDialect {
    fn name(&self) -> &'static str {
        NAME
    }

    fn error(&self, status: u16, body: &[u8]) -> ProviderError {
        openai_error(status, body)
    }

    fn complete<'a>(&self, body: &'a [u8]) -> Result<Reply<'a>, ProviderError> {
        let v: Completion<'a> = json::document(body).map_err(|e| ProviderError::bad_response(NAME, e))?;
        let choice = v.choices.0.ok_or_else(|| ProviderError::bad_response(NAME, "no 'choices'"))?;
        let choice = choice.0.unwrap_or_default();
        let message = choice.message.0.unwrap_or_default();
        Ok(Reply {
            id: v.id.0.map(|i| i.into_owned()),
            text: message.content.0,
            tool_calls: Calls { list: message.tool_calls, read: tool_call },
            finish: finish_reason(choice.finish_reason.as_deref().unwrap_or("")),
            usage: usage(v.usage),
        })
    }

    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(Ev)) {
        feed_sse(self, NAME, Some(chunk), out);
    }

    fn finish(&mut self, out: &mut dyn FnMut(Ev)) {
        feed_sse(self, NAME, None, out);
    }
}
