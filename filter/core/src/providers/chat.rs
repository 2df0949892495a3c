//! The neutral chat exchange every translating provider works from, whichever API the client
//! speaks: the request parsed once by [`super::client`] ([`ChatRequest`]), and the answer each
//! provider's response side reads back ([`Reply`] whole, [`Ev`] events when streamed), which the
//! client's writers turn into its shapes.
//!
//! It sits apart from both sides because neither owns it: the client modules fill and write it,
//! the provider modules read and produce it.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::client::ClientApi;
use super::error::ProviderError;
use super::json::{self, Str};
use super::{ProviderKind, Usage};
use crate::RequestError;

// --- The request ---

/// A chat request, from OpenAI's or Anthropic's form, read once whole by the client's parser
/// (which refuses what is malformed) and kept in the client's body: its lists (messages and
/// their parts, tools, stop sequences) are read again one element at a time by the provider's
/// writer ([`Self::each_message`], [`Self::each_tool`], ...), so a request costs no more memory
/// than its body and the body the provider gets, whatever its shape (the reading methods are in
/// `client`, next to the two forms' parsers).
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest<'a> {
    /// The form the body is in.
    pub api: ClientApi,
    /// The deployment's API, named in errors.
    pub kind: ProviderKind,
    /// `messages`: a non-empty array, every element checked.
    pub(crate) messages: Option<&'a RawValue>,
    /// Anthropic's top-level `system`, as text.
    pub(crate) system: Option<Cow<'a, str>>,
    /// How many system texts there are: OpenAI's `system` and `developer` messages, or
    /// Anthropic's `system`.
    pub system_count: usize,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// `stop` / `stop_sequences`: a string or an array of strings.
    pub(crate) stop: Option<&'a RawValue>,
    /// `tools`: an array, every element checked.
    pub(crate) tools: Option<&'a RawValue>,
    pub tool_count: usize,
    pub tool_choice: Option<ToolChoice<'a>>,
    pub parallel_tool_calls: Option<bool>,
    pub user: Option<Cow<'a, str>>,
    pub seed: Option<i64>,
    pub stream: bool,
    pub include_usage: bool,
    /// A tool call or a tool result somewhere in the conversation.
    pub has_tool_history: bool,
    /// Keys with an effect that only some providers can express.
    pub extras: Extras<'a>,
}

impl<'a> ChatRequest<'a> {
    /// An empty request in the `api` form (the parsers fill it).
    pub fn new(api: ClientApi, kind: ProviderKind) -> Self {
        ChatRequest {
            api,
            kind,
            messages: None,
            system: None,
            system_count: 0,
            max_tokens: None,
            temperature: None,
            top_p: None,
            stop: None,
            tools: None,
            tool_count: 0,
            tool_choice: None,
            parallel_tool_calls: None,
            user: None,
            seed: None,
            stream: false,
            include_usage: false,
            has_tool_history: false,
            extras: Extras::default(),
        }
    }
}

/// One turn of the conversation (system messages are read apart, [`ChatRequest::each_system`]).
#[derive(Debug, Clone)]
pub(crate) enum Msg<'a> {
    User(Content<'a>),
    Assistant(Content<'a>),
    /// A tool's answer; `is_error` from Anthropic clients' `tool_result.is_error`.
    Tool {
        tool_call_id: Cow<'a, str>,
        content: Cow<'a, str>,
        is_error: bool,
    },
}

/// A user or assistant message's content, still in the client's body: its parts and tool calls
/// are read by [`Content::parts`] and [`Content::tool_calls`] (in `client`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Content<'a> {
    pub(crate) api: ClientApi,
    pub(crate) kind: ProviderKind,
    /// The message's index in `messages`, for errors.
    pub(crate) index: usize,
    pub(crate) assistant: bool,
    /// A string or an array of parts (OpenAI) or blocks (Anthropic).
    pub(crate) content: Option<&'a RawValue>,
    /// OpenAI's `tool_calls`.
    pub(crate) tool_calls: Option<&'a RawValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part<'a> {
    Text(Cow<'a, str>),
    Image(Image<'a>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Image<'a> {
    /// A `data:` URL: media type (lower case) and base64 data, as sent.
    Inline { media_type: String, data: Cow<'a, str> },
    /// A remote URL (http, https, gs).
    Url(Cow<'a, str>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall<'a> {
    pub id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// The arguments as JSON text (checked; OpenAI's `""` is `{}`).
    pub arguments: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolDef<'a> {
    pub name: Cow<'a, str>,
    pub description: Option<Cow<'a, str>>,
    /// JSON schema of the arguments, as JSON text (a default object schema when absent).
    pub parameters: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolChoice<'a> {
    Auto,
    None,
    Required,
    Function(Cow<'a, str>),
}

/// Parameters a provider may take, that the neutral request has no field for. Only the keys
/// some provider takes are kept by name; of the others, which every provider refuses, only the
/// first in name order is kept, to be named in the 400 (a body of a million unknown keys costs
/// nothing to refuse).
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras<'a> {
    taken: Vec<(&'static str, &'a RawValue)>,
    other: Option<(Cow<'a, str>, &'a RawValue)>,
}

/// The parameters without a neutral field that some provider expresses.
const TAKEABLE: &[&str] = &["frequency_penalty", "presence_penalty", "response_format", "top_k"];

impl<'a> Extras<'a> {
    pub fn insert(&mut self, key: Cow<'a, str>, value: &'a RawValue) {
        if let Some(&name) = TAKEABLE.iter().find(|&&t| t == key) {
            self.taken.retain(|(k, _)| *k != name);
            self.taken.push((name, value));
        } else if self.other.as_ref().is_none_or(|(k, _)| key <= *k) {
            self.other = Some((key, value));
        }
    }

    /// Takes the parameter `name` (one of the keys some provider expresses) out.
    pub fn take(&mut self, name: &str) -> Option<&'a RawValue> {
        let i = self.taken.iter().position(|(k, _)| *k == name)?;
        Some(self.taken.remove(i).1)
    }

    /// Puts back a parameter taken out but found inexpressible after all.
    pub fn put_back(&mut self, name: &'static str, value: &'a RawValue) {
        self.taken.push((name, value));
    }

    /// 400 naming the first key left (in name order) for a `kind` deployment.
    pub fn reject(&self, kind: ProviderKind) -> Result<(), RequestError> {
        let taken = self.taken.iter().map(|(k, v)| (*k, *v));
        let other = self.other.iter().map(|(k, v)| (k.as_ref(), *v));
        match taken.chain(other).min_by(|a, b| a.0.cmp(b.0)) {
            None => Ok(()),
            Some((k, v)) => Err(bad(
                "unsupported_parameter",
                format!(
                    "parameter '{k}' (value {}) cannot be expressed for {} deployments",
                    json::short(v),
                    kind.display_name()
                ),
            )),
        }
    }
}

impl ChatRequest<'_> {
    /// Answers 400 naming the first key in `extras` (the provider took those it can express).
    pub fn reject_extras(&self, kind: ProviderKind) -> Result<(), RequestError> {
        self.extras.reject(kind)
    }

    /// Whether there are tools to send; without them, a `tool_choice` that demands one is a 400.
    pub fn has_tools(&self) -> Result<bool, RequestError> {
        if self.tool_count > 0 {
            return Ok(true);
        }
        if matches!(self.tool_choice, Some(ToolChoice::Required | ToolChoice::Function(_))) {
            return Err(RequestError::bad_request("invalid_request", "'tool_choice' requires 'tools'")
                .with_param("tool_choice"));
        }
        Ok(false)
    }
}

/// A 400 with `code`.
pub(crate) fn bad(code: &'static str, msg: String) -> RequestError {
    RequestError::bad_request(code, msg)
}

/// 400 for a request that is not well formed.
pub(crate) fn invalid(msg: String) -> RequestError {
    bad("invalid_request", msg)
}

/// 400 for content or a parameter the provider cannot express.
pub(crate) fn unsupported(msg: String) -> RequestError {
    bad("unsupported_content", msg)
}

// --- Helpers for the provider writers that build their body from a `ChatRequest` ---

/// Writes a JSON array of content blocks; with `lone_text`, a list of one text block is written
/// as the text alone (the plain string form OpenAI and Anthropic take).
pub(crate) struct Blocks {
    count: usize,
    /// Where the list starts in the body, and the first block's text when it is a text block.
    start: usize,
    lone: Option<std::ops::Range<usize>>,
}

impl Blocks {
    pub fn open(out: &mut Vec<u8>) -> Self {
        let start = out.len();
        out.push(b'[');
        Blocks { count: 0, start, lone: None }
    }

    /// Starts the next block (the caller writes it).
    pub fn next(&mut self, out: &mut Vec<u8>) {
        if self.count > 0 {
            out.push(b',');
        }
        self.count += 1;
    }

    /// A text block: `{"type":"text","text":...}` when `typed`, else `{"text":...}`.
    pub fn text(&mut self, out: &mut Vec<u8>, typed: bool, text: &str) {
        self.next(out);
        out.extend_from_slice(if typed { b"{\"type\":\"text\",\"text\":" } else { b"{\"text\":" });
        let at = out.len();
        json::string(out, text);
        if self.count == 1 {
            self.lone = Some(at..out.len());
        }
        out.push(b'}');
    }

    pub fn close(self, out: &mut Vec<u8>, lone_text: bool) {
        match self.lone {
            Some(text) if lone_text && self.count == 1 => {
                let len = text.len();
                out.copy_within(text, self.start);
                out.truncate(self.start + len);
            }
            _ => out.push(b']'),
        }
    }
}

/// Writes the provider's turns (`[{"role":...,"content":[...]},...]`): a message of the same role
/// as the turn before it joins that turn, so that roles alternate (consecutive tool results make
/// one user turn).
pub(crate) struct Turns {
    /// The content list's key (`content`, Gemini's `parts`).
    key: &'static str,
    lone_text: bool,
    open: Option<(&'static str, Blocks)>,
    any: bool,
}

impl Turns {
    pub fn open(out: &mut Vec<u8>, key: &'static str, lone_text: bool) -> Self {
        out.push(b'[');
        Turns { key, lone_text, open: None, any: false }
    }

    /// The content of the turn of `role`: the open one when it is of that role, else a new one.
    pub fn turn(&mut self, out: &mut Vec<u8>, role: &'static str) -> &mut Blocks {
        if self.open.as_ref().is_some_and(|(r, _)| *r != role) {
            self.close_turn(out);
        }
        let (key, any) = (self.key, self.any);
        let (_, blocks) = self.open.get_or_insert_with(|| {
            if any {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"role\":");
            json::string(out, role);
            out.push(b',');
            json::string(out, key);
            out.push(b':');
            (role, Blocks::open(out))
        });
        self.any = true;
        blocks
    }

    fn close_turn(&mut self, out: &mut Vec<u8>) {
        if let Some((_, blocks)) = self.open.take() {
            blocks.close(out, self.lone_text);
            out.push(b'}');
        }
    }

    pub fn close(mut self, out: &mut Vec<u8>) {
        self.close_turn(out);
        out.push(b']');
    }
}

// --- The answer ---

/// Why the answer ended; the variants are OpenAI's `finish_reason` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl Finish {
    /// OpenAI's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter => "content_filter",
        }
    }
}

/// A tool call in an answer.
#[derive(Debug, Clone)]
pub(crate) struct OutToolCall<'a> {
    pub id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub arguments: Args<'a>,
}

/// A tool call's arguments in an answer, as the provider gave them: JSON text inside a string
/// (OpenAI's `arguments`), or JSON of their own (Anthropic's `input`, Bedrock's, Gemini's
/// `args`; absent is `{}`), written compact in whichever form the client takes.
#[derive(Debug, Clone)]
pub(crate) enum Args<'a> {
    Text(Cow<'a, str>),
    Json(Option<&'a RawValue>),
}

impl<'a> Args<'a> {
    /// The arguments as JSON text (OpenAI's chunks carry them so).
    pub fn to_text(&self) -> Cow<'a, str> {
        match self {
            Args::Text(t) => t.clone(),
            Args::Json(None) => Cow::Borrowed("{}"),
            Args::Json(Some(raw)) => {
                let mut out = Vec::with_capacity(raw.get().len());
                json::minify(&mut out, raw.get());
                Cow::Owned(String::from_utf8_lossy(&out).into_owned())
            }
        }
    }

    /// Appends them as a JSON string of compact JSON text (OpenAI's `function.arguments`).
    pub fn write_string(&self, out: &mut Vec<u8>) {
        match self {
            Args::Text(t) => json::string(out, t),
            Args::Json(None) => json::string(out, "{}"),
            Args::Json(Some(raw)) => json::minify_as_string(out, raw.get()),
        }
    }

    /// Appends them as a JSON object (Anthropic's `input`): `{}` when they are not one.
    pub fn write_object(&self, out: &mut Vec<u8>) {
        let raw = match self {
            Args::Text(t) => serde_json::from_str::<&RawValue>(t).ok(),
            Args::Json(raw) => *raw,
        };
        match raw.filter(|r| r.get().starts_with('{')) {
            Some(r) => json::minify(out, r.get()),
            None => out.extend_from_slice(b"{}"),
        }
    }
}

/// The tool calls of a whole answer, still in the provider's body: read one at a time as they
/// are written, so an answer of a million tiny calls holds none of them at once.
#[derive(Clone, Copy)]
pub(crate) struct Calls<'a> {
    /// The provider's list that holds them (among other blocks or parts).
    pub list: Option<&'a RawValue>,
    /// The tool call an element of `list` is, if any; `n` calls came before it.
    pub read: fn(&'a RawValue, usize) -> Option<OutToolCall<'a>>,
}

impl<'a> Calls<'a> {
    /// Calls `f` with each tool call in order; stops when `f` says so (false).
    pub fn each(&self, f: &mut dyn FnMut(OutToolCall<'a>) -> bool) {
        let Some(list) = self.list else { return };
        let mut n = 0;
        let read = self.read;
        let _ = json::each(list, &"", &mut |_, raw| {
            if let Some(call) = read(raw, n) {
                n += 1;
                if !f(call) {
                    return Err(invalid(String::new()));
                }
            }
            Ok(())
        });
    }

    pub fn is_empty(&self) -> bool {
        let mut any = false;
        self.each(&mut |_| {
            any = true;
            false
        });
        !any
    }
}

impl std::fmt::Debug for Calls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        self.each(&mut |c| {
            list.entry(&c);
            true
        });
        list.finish()
    }
}

/// A whole answer, from a provider's non-streaming response body (which it borrows).
#[derive(Debug, Clone)]
pub(crate) struct Reply<'a> {
    pub id: Option<String>,
    pub text: Option<Cow<'a, str>>,
    pub tool_calls: Calls<'a>,
    pub finish: Finish,
    pub usage: Option<Usage>,
}

/// A whole answer gathered from a provider's stream ([`Ev`]s), for a client that asked for one
/// answer: the text and the tool calls are held, at most `cap` bytes of them; the rest is the
/// stream's last word (its first id and finish, its last usage). Errors are the caller's.
pub(crate) struct Gathered {
    cap: usize,
    /// Text and tool calls outgrew `cap`: nothing more is taken.
    over: bool,
    id: Option<String>,
    text: String,
    /// The tool calls as the JSON array [`gathered_call`] reads back,
    /// `[{"id":..,"name":..,"input":<JSON>},...]`, held as they come (a few bytes per call, where
    /// one struct of strings each would take a hundred); the last call is open: its object and
    /// the array are closed by [`Self::close_call`] and [`Self::reply`].
    calls: Vec<u8>,
    /// The open call: the provider's block it came in, where its `"input":` member starts in
    /// `calls`, and where the arguments themselves do.
    open: Option<(u64, usize, usize)>,
    finish: Option<Finish>,
    usage: Option<Usage>,
}

impl Gathered {
    pub fn new(cap: usize) -> Self {
        Gathered {
            cap,
            over: false,
            id: None,
            text: String::new(),
            calls: Vec::new(),
            open: None,
            finish: None,
            usage: None,
        }
    }

    /// Takes one event; false once the text and tool calls are over the cap.
    pub fn add(&mut self, ev: Ev) -> bool {
        if self.over {
            return false;
        }
        match ev {
            Ev::Start { id } => {
                if self.id.is_none() {
                    self.id = id;
                }
            }
            Ev::Text(t) => self.text.push_str(&t),
            // The call already open, named again (servers that repeat a call's id and name on
            // each fragment): its arguments go on.
            Ev::ToolStart { block, arguments, .. } if self.open.is_some_and(|(b, ..)| b == block) => {
                self.calls.extend_from_slice(arguments.as_bytes());
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.close_call();
                self.calls.push(if self.calls.is_empty() { b'[' } else { b',' });
                let mut call = json::ObjectWriter::open(&mut self.calls);
                call.str("id", &id);
                call.str("name", &name);
                let input = self.calls.len() + 1;
                self.calls.extend_from_slice(b",\"input\":");
                self.open = Some((block, input, self.calls.len()));
                self.calls.extend_from_slice(arguments.as_bytes());
            }
            // Fragments of a call that is not the open one are dropped, as the Anthropic
            // stream writer drops them (providers finish one call before the next starts).
            Ev::ToolArgs { block, fragment } => {
                if self.open.is_some_and(|(b, ..)| b == block) {
                    self.calls.extend_from_slice(fragment.as_bytes());
                }
            }
            Ev::Finish(f) => {
                self.finish.get_or_insert(f);
            }
            Ev::Usage(u) => self.usage = Some(u),
            Ev::End | Ev::Error(_) => {}
        }
        // (`close_call` may have found the last call's arguments too long to hold.)
        self.over |= self.len() > self.cap;
        !self.over
    }

    /// How the provider said the answer finished, if it did.
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }

    /// The last usage read.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// How many bytes of text and tool calls are held.
    pub fn len(&self) -> usize {
        self.text.len() + self.calls.len()
    }

    /// Closes the open call's object: arguments that are JSON stay as they are (written
    /// compact like a whole answer's), none are `{}`, and any other text becomes the string
    /// member `arguments` (passed on as the provider gave it).
    fn close_call(&mut self) {
        let Some((_, input, args)) = self.open.take() else { return };
        let text = self.calls.get(args..).unwrap_or_default();
        if text.iter().all(u8::is_ascii_whitespace) {
            self.calls.truncate(args);
            self.calls.extend_from_slice(b"{}");
        } else if json::raw_document(text).is_none() {
            // Escaped, it is at most six bytes a byte (`\u001f`): counted before it is written.
            let escaped: usize =
                text.iter().map(|&b| if b < 0x20 { 6 } else { 1 + usize::from(matches!(b, b'"' | b'\\')) }).sum();
            if self.text.len() + input + escaped + 16 > self.cap {
                self.over = true;
                self.calls.truncate(args);
                self.calls.extend_from_slice(b"{}");
            } else {
                let text = String::from_utf8_lossy(text).into_owned();
                self.calls.truncate(input);
                self.calls.extend_from_slice(b"\"arguments\":");
                json::string(&mut self.calls, &text);
            }
        }
        self.calls.push(b'}');
    }

    /// The whole answer, at the end of the stream; `None` when it is over the cap.
    pub fn reply(&mut self) -> Option<Reply<'_>> {
        self.close_call();
        if !self.calls.is_empty() {
            self.calls.push(b']');
        }
        if self.over || self.len() > self.cap {
            return None;
        }
        let list = json::raw_document(&self.calls);
        // OpenAI's answers that only call tools have no content.
        let text = (!self.text.is_empty() || list.is_none()).then_some(Cow::Borrowed(self.text.as_str()));
        Some(Reply {
            id: self.id.clone(),
            text,
            tool_calls: Calls { list, read: gathered_call },
            finish: self.finish.unwrap_or(Finish::Stop),
            usage: self.usage,
        })
    }
}

json::reader! {
    /// A tool call as [`Gathered`] holds it.
    struct GatheredCall<'a> {
        "id" => id: Str<'a>,
        "name" => name: Str<'a>,
        "input" => input: Option<&'a RawValue>,
        "arguments" => arguments: Str<'a>,
    }
}

/// One tool call of [`Gathered::calls`].
fn gathered_call(raw: &RawValue, _: usize) -> Option<OutToolCall<'_>> {
    let c: GatheredCall = json::fields_of(raw)?;
    Some(OutToolCall {
        id: c.id.0.unwrap_or_default(),
        name: c.name.0.unwrap_or_default(),
        arguments: match c.arguments.0 {
            Some(text) => Args::Text(text),
            None => Args::Json(c.input),
        },
    })
}

/// Identity of the answer the client gets: its id, model and creation time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ident {
    pub id: String,
    pub model: String,
    pub created: u64,
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
    Error(ProviderError),
}
