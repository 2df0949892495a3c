//! What the client gets back, in OpenAI's shapes: `chat.completion`, `chat.completion.chunk`
//! SSE events, `data: [DONE]`, and errors.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Usage;

/// OpenAI's `finish_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter => "content_filter",
        }
    }
}

pub(crate) fn usage_json(u: Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
    })
}

/// A tool call in an answer; `arguments` is the JSON text OpenAI clients expect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A whole answer, from a provider's non-streaming response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub id: Option<String>,
    pub text: Option<String>,
    pub tool_calls: Vec<OutToolCall>,
    pub finish: Finish,
    pub usage: Option<Usage>,
}

/// Identity of the answer's OpenAI objects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ident {
    pub id: String,
    pub model: String,
    pub created: u64,
}

/// `chat.completion`, written straight from typed fields: it is on every translated answer's
/// path, and building a `serde_json::Value` first cost more than the rest of the translation.
pub(crate) fn completion_json(ident: &Ident, r: &Reply) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Completion<'a> {
        id: &'a str,
        object: &'static str,
        created: u64,
        model: &'a str,
        choices: [Choice<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<UsageOut>,
    }
    #[derive(serde::Serialize)]
    struct Choice<'a> {
        index: u32,
        message: Message<'a>,
        finish_reason: &'static str,
        logprobs: Option<()>,
    }
    #[derive(serde::Serialize)]
    struct Message<'a> {
        role: &'static str,
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    }
    #[derive(serde::Serialize)]
    struct CallOut<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        function: FunctionOut<'a>,
    }
    #[derive(serde::Serialize)]
    struct FunctionOut<'a> {
        name: &'a str,
        arguments: &'a str,
    }
    #[derive(serde::Serialize)]
    struct UsageOut {
        prompt_tokens: u64,
        completion_tokens: u64,
        total_tokens: u64,
    }
    let completion = Completion {
        id: r.id.as_deref().unwrap_or(&ident.id),
        object: "chat.completion",
        created: ident.created,
        model: &ident.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: r.text.as_deref(),
                tool_calls: r
                    .tool_calls
                    .iter()
                    .map(|c| CallOut {
                        id: &c.id,
                        kind: "function",
                        function: FunctionOut { name: &c.name, arguments: &c.arguments },
                    })
                    .collect(),
            },
            finish_reason: r.finish.as_str(),
            logprobs: None,
        }],
        usage: r.usage.map(|u| UsageOut {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        }),
    };
    serde_json::to_vec(&completion).unwrap_or_default()
}

/// What a provider's stream decoder found, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ev {
    /// The answer started; the provider's message id when it gives one.
    Start {
        id: Option<String>,
    },
    Text(String),
    /// A tool call starts in the provider's content block `block`; `arguments` may hold the
    /// whole JSON already (Gemini) or be empty (the deltas follow).
    ToolStart {
        block: u64,
        id: String,
        name: String,
        arguments: String,
    },
    ToolArgs {
        block: u64,
        fragment: String,
    },
    Finish(Finish),
    /// Usage so far (later ones replace earlier ones).
    Usage(Usage),
    /// The provider said the answer is complete (usage is final).
    End,
    Error(super::errors::ProviderError),
}

/// Turns [`Ev`]s into `chat.completion.chunk` SSE events.
pub(crate) struct ChunkWriter {
    ident: Ident,
    include_usage: bool,
    started: bool,
    finished: bool,
    usage: Option<Usage>,
    usage_sent: bool,
    failed: bool,
    /// Provider block → OpenAI tool call index.
    tools: BTreeMap<u64, u64>,
}

impl ChunkWriter {
    pub fn new(ident: Ident, include_usage: bool) -> Self {
        ChunkWriter {
            ident,
            include_usage,
            started: false,
            finished: false,
            usage: None,
            usage_sent: false,
            failed: false,
            tools: BTreeMap::new(),
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<Finish>) {
        let c = json!({
            "id": self.ident.id,
            "object": "chat.completion.chunk",
            "created": self.ident.created,
            "model": self.ident.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish.map(Finish::as_str), "logprobs": null}],
        });
        data(out, &c);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.chunk(out, json!({"role": "assistant", "content": ""}), None);
        }
    }

    pub fn event(&mut self, out: &mut Vec<u8>, ev: Ev) {
        if self.failed {
            return;
        }
        match ev {
            Ev::Start { id } => {
                if let Some(id) = id.filter(|_| !self.started) {
                    self.ident.id = id;
                }
                self.start(out);
            }
            Ev::Text(t) => {
                self.start(out);
                if !t.is_empty() {
                    self.chunk(out, json!({"content": t}), None);
                }
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.start(out);
                let index = self.tools.len() as u64;
                self.tools.insert(block, index);
                let call = json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}});
                self.chunk(out, json!({"tool_calls": [call]}), None);
            }
            Ev::ToolArgs { block, fragment } => {
                if let Some(&index) = self.tools.get(&block) {
                    if !fragment.is_empty() {
                        let call = json!({"index": index, "function": {"arguments": fragment}});
                        self.chunk(out, json!({"tool_calls": [call]}), None);
                    }
                }
            }
            Ev::Finish(f) => {
                if !self.finished {
                    self.start(out);
                    self.finished = true;
                    self.chunk(out, json!({}), Some(f));
                }
            }
            Ev::Usage(u) => self.usage = Some(u),
            Ev::End => self.send_usage(out),
            Ev::Error(e) => {
                self.failed = true;
                data(out, &e.openai_json());
            }
        }
    }

    fn send_usage(&mut self, out: &mut Vec<u8>) {
        if let (true, false, Some(u)) = (self.include_usage, self.usage_sent, self.usage) {
            self.usage_sent = true;
            let c = json!({
                "id": self.ident.id,
                "object": "chat.completion.chunk",
                "created": self.ident.created,
                "model": self.ident.model,
                "choices": [],
                "usage": usage_json(u),
            });
            data(out, &c);
        }
    }

    /// The provider's body ended: the usage chunk if still owed, then `[DONE]`; a stream that
    /// stopped before the provider finished gets an error event instead, so the client knows.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.failed {
            return;
        }
        if !self.finished {
            let e = super::errors::ProviderError::truncated();
            self.event(out, Ev::Error(e));
            return;
        }
        self.send_usage(out);
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

fn data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}
