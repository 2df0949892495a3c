//! Answers in Anthropic's shapes for Anthropic-form clients: a `message` object, or the
//! Messages SSE flow (`message_start`, `content_block_start/delta/stop`, `message_delta`,
//! `message_stop`, `error`), written from the same provider events as OpenAI's chunks.

use serde_json::{json, Map, Value};

use super::errors::ProviderError;
use super::openai_out::{Ev, Finish, Ident, Reply};
use super::Usage;

pub(crate) fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

fn usage_json(u: Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens})
}

/// Tool arguments as Anthropic's `input` object (`{}` when they are not JSON).
fn input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments).ok().filter(Value::is_object).unwrap_or_else(|| Value::Object(Map::new()))
}

pub(crate) fn message_json(ident: &Ident, r: &Reply) -> Vec<u8> {
    let mut content = Vec::new();
    if let Some(t) = r.text.as_ref().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for c in &r.tool_calls {
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input(&c.arguments)}));
    }
    json!({
        "id": r.id.clone().unwrap_or_else(|| ident.id.clone()),
        "type": "message",
        "role": "assistant",
        "model": ident.model,
        "content": content,
        "stop_reason": stop_reason(r.finish),
        "stop_sequence": null,
        "usage": usage_json(r.usage.unwrap_or_default()),
    })
    .to_string()
    .into_bytes()
}

#[derive(Clone, Copy, PartialEq)]
enum Open {
    Text(u64),
    /// A tool_use block: its index and the provider's block it stands for (a fragment for a
    /// block already closed cannot be sent, as Anthropic's blocks do not interleave).
    Tool(u64, u64),
}

/// Turns [`Ev`]s into Anthropic's Messages SSE events.
pub(crate) struct MessageWriter {
    ident: Ident,
    started: bool,
    open: Option<Open>,
    next_index: u64,
    finish: Option<Finish>,
    usage: Option<Usage>,
    done: bool,
    failed: bool,
}

fn sse(out: &mut Vec<u8>, event: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

impl MessageWriter {
    pub fn new(ident: Ident) -> Self {
        MessageWriter {
            ident,
            started: false,
            open: None,
            next_index: 0,
            finish: None,
            usage: None,
            done: false,
            failed: false,
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let input = self.usage.map_or(0, |u| u.input_tokens);
        let message = json!({
            "id": self.ident.id, "type": "message", "role": "assistant", "model": self.ident.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": 0},
        });
        sse(out, "message_start", &json!({"type": "message_start", "message": message}));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            let (Open::Text(index) | Open::Tool(index, _)) = open;
            sse(out, "content_block_stop", &json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn open_block(&mut self, out: &mut Vec<u8>, block: Value, open: impl FnOnce(u64) -> Open) -> u64 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(open(index));
        sse(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    fn delta(out: &mut Vec<u8>, index: u64, delta: Value) {
        sse(out, "content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}));
    }

    pub fn event(&mut self, out: &mut Vec<u8>, ev: Ev) {
        if self.failed || self.done {
            return;
        }
        match ev {
            Ev::Start { id } => {
                if let Some(id) = id.filter(|_| !self.started) {
                    self.ident.id = id;
                }
                self.start(out);
            }
            // An empty text block would come back from the client as one Anthropic refuses.
            Ev::Text(t) if t.is_empty() => self.start(out),
            Ev::Text(t) => {
                self.start(out);
                let index = match self.open {
                    Some(Open::Text(i)) => i,
                    _ => self.open_block(out, json!({"type": "text", "text": ""}), Open::Text),
                };
                Self::delta(out, index, json!({"type": "text_delta", "text": t}));
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.start(out);
                let b = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let index = self.open_block(out, b, |i| Open::Tool(i, block));
                if !arguments.is_empty() {
                    Self::delta(out, index, json!({"type": "input_json_delta", "partial_json": arguments}));
                }
            }
            Ev::ToolArgs { block, fragment } => {
                if let Some(Open::Tool(index, b)) = self.open {
                    if b == block && !fragment.is_empty() {
                        Self::delta(out, index, json!({"type": "input_json_delta", "partial_json": fragment}));
                    }
                }
            }
            Ev::Finish(f) => {
                self.start(out);
                self.close(out);
                self.finish.get_or_insert(f);
            }
            Ev::Usage(u) => self.usage = Some(u),
            Ev::End => self.stop(out),
            Ev::Error(e) => self.error(out, &e),
        }
    }

    fn error(&mut self, out: &mut Vec<u8>, e: &ProviderError) {
        self.failed = true;
        sse(out, "error", &e.anthropic_json());
    }

    /// `message_delta` (stop reason, usage) and `message_stop`, once the answer is complete.
    fn stop(&mut self, out: &mut Vec<u8>) {
        let Some(f) = self.finish else { return };
        self.close(out);
        self.done = true;
        let u = self.usage.unwrap_or_default();
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(f), "stop_sequence": null},
            "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens},
        });
        sse(out, "message_delta", &delta);
        sse(out, "message_stop", &json!({"type": "message_stop"}));
    }

    /// The provider's body ended: the message is closed, or an error says it was cut short.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.failed || self.done {
            return;
        }
        if self.finish.is_some() {
            self.stop(out);
        } else {
            self.error(out, &ProviderError::truncated());
        }
    }
}
