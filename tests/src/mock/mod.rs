//! The mock regional LLM deployment (`mock-region`), usable in-process too.
//!
//! One server speaks one provider's API ([`MockConfig::provider`], `--provider`), checking
//! requests as that service does (auth, paths, bodies) and answering in its shapes:
//!
//! * `openai` (default): `/v1/chat/completions`, `/chat/completions`, `/v1/completions`,
//!   `/completions`, `/v1/embeddings`, `/embeddings`, `GET /v1/models`; with an API key
//!   configured, `Authorization: Bearer KEY` (401 `invalid_api_key` otherwise).
//! * `azure`: [`azure`] — `/openai/deployments/{d}/chat/completions?api-version=`, `api-key`.
//! * `bedrock`: [`bedrock`] — Converse / ConverseStream with SigV4 verified by [`sigv4`].
//! * `anthropic`: [`anthropic`] — `/v1/messages`, `x-api-key`, `anthropic-version`.
//! * `vertex`: [`vertex`] — Claude `:rawPredict`/`:streamRawPredict` and Gemini
//!   `:generateContent`/`:streamGenerateContent`, OAuth2 bearer tokens.
//!
//! Every provider answers health (`GET /`, `GET /health`, never authenticated) and a JSON
//! control API under `/_mock/`:
//!
//! * `POST /_mock/mode` — body `{"mode": "ok"|"error"|"rate_limit"|"hang"|"reset"|
//!   "stall_after_headers"|"error_before_content"|"stall_after_content"|"error_after_content"|
//!   "slow_stream",
//!   "status": 503, "latency_ms": 0, "chunk_delay_ms": 0, "chunks": 5, "count": null,
//!   "error": null, "stall_ms": null, "first_token_ms": 100, "total_ms": 4000}` (`error`:
//!   Bedrock's exception for a 403, or its in-stream exception for `error_before_content`,
//!   see below and `fault_mode.rs`; `"whole_answers": true`: the OpenAI-compatible API answers
//!   every chat request whole, whatever its `stream` says, as a canned server would).
//!   The body **replaces** the whole mode: omitted fields take their defaults
//!   (`chunks`/`chunk_delay_ms` default to the server's CLI values). `count: N` applies
//!   the mode to the next N LLM requests only, after which the server is back to `ok`
//!   with default settings. Answers the new mode. `GET /_mock/mode` answers the current one.
//! * `GET /_mock/stats` — `{"region","name","provider","requests","served_ok","health_checks",
//!   "by_path","by_op","last_path","last_op","last_model","last_headers","last_body",
//!   "last_status","last_auth","auth_ok","auth_failed","recent","mode"}`. `last_op` is the
//!   provider operation (`bedrock.converse-stream`, `azure.chat.completions`,
//!   `vertex.streamRawPredict`, ...), `last_model` the model the request named (URL or body),
//!   `last_auth` `{scheme, verified, against_secret, region, error, ...}` (SigV4 adds
//!   `service, access_key_id, signed_headers, date, session_token, payload_hash_header`),
//!   `recent` the last 64 requests `{id, path, op, model, auth, status, fault, at_ms}`
//!   (oldest first; `fault` the mode that request got, `at_ms` its arrival in Unix ms, so a
//!   test can count and order the attempts each region saw).
//! * `POST /_mock/reset` — counters to 0, mode to `ok` (tokens added at run time stay).
//! * `POST /_mock/tokens` — `{"token": "...", "expires_in_s": 60}` (or `"expires_at"`, Unix
//!   seconds; neither = never expires; `"replace": true` forgets the others): a bearer token
//!   the Vertex mock accepts until it expires. `GET /_mock/tokens` lists them (values shown:
//!   it is a test tool).
//!
//! Fault modes: `error` answers `status` with the provider's error body (OpenAI's;
//! Bedrock's `ThrottlingException` 429 / `ServiceUnavailableException` 503 / ...; Anthropic's
//! `overloaded_error` 529 / `api_error`; Google's `UNAVAILABLE` / `RESOURCE_EXHAUSTED`);
//! 401/403 are each provider's refusal of the caller's credentials or access: OpenAI 401
//! `invalid_api_key` / 403 `unsupported_country_region_territory`, Azure 401 / 403
//! `PermissionDenied`, Bedrock 403 `AccessDeniedException` (or the `error` named:
//! `UnrecognizedClientException`, `ExpiredTokenException`), Anthropic 401
//! `authentication_error` / 403 `permission_error`, Google 401 `UNAUTHENTICATED` / 403
//! `PERMISSION_DENIED`. OpenAI's answers carry `openai-organization` and `openai-project`,
//! Anthropic's `anthropic-organization-id`, as the real services name the caller's account;
//! `rate_limit` answers 429 (with `retry-after: 1` for OpenAI, Azure and Anthropic, as they
//! do; Bedrock `ThrottlingException`, Vertex `RESOURCE_EXHAUSTED`); credentials are checked
//! before `error`/`rate_limit` apply, as the real front doors do; `hang` reads the request and never answers;
//! `reset` closes the TCP connection with an RST and no response. The streaming faults
//! (`stall_after_headers`, `error_before_content`, `stall_after_content`, `slow_stream`)
//! answer 200 with the provider's streaming headers and then misbehave inside the stream:
//! no body for `stall_ms` (absent: until the client goes away), the provider's own in-stream
//! error before any content, a stall after the first content, or a slow but complete stream
//! (first content at `first_token_ms`, last event at `total_ms`); `fault_mode.rs` says
//! exactly what each sends per provider, and what a request that does not stream gets
//! (credentials and the request are checked first, as for every mode). `latency_ms`
//! delays the response headers of every LLM request (any mode, also before
//! `hang`/`reset`). Health follows the mode: `error` → `status` if ≥ 500 else 503,
//! `hang` hangs, `reset` resets, `rate_limit`, `ok` and the streaming faults → 200 (a
//! throttled or slow deployment is up); `latency_ms` does not apply to health.
//!
//! A mode is snapshotted when a request's headers arrive: changes apply to
//! requests that arrive after the change. Every LLM request (everything that is
//! neither `/_mock/*` nor health) is counted in `requests` before fault handling;
//! `served_ok` counts LLM responses with status 200 in modes `ok` and `slow_stream` (a
//! stalled or broken stream is not a served answer). Every response (LLM or
//! health) carries `x-mock-region` and `x-mock-name`.
//!
//! # Files
//!
//! * The server: `server.rs` (accept loop, one request's path through the mock, health, TCP
//!   resets, [`MockServer`]), `control.rs` (the `/_mock/` API), `state.rs` (mode, stats,
//!   tokens: [`MockState`]), `fault_mode.rs` (what `POST /_mock/mode` switches), `config.rs`
//!   ([`MockConfig`], [`Provider`], [`AwsCredentials`]), `response.rs` (JSON and streamed bodies).
//! * Between the server and the providers: `dispatch.rs` (the one switch on the provider:
//!   operation, answer, fault shape) and `auth.rs` (each provider's credential check).
//! * Wire formats, one file per provider: `openai.rs`, `azure.rs`, `bedrock.rs` (with
//!   `eventstream.rs`, AWS's stream framing), `anthropic.rs`, `vertex.rs`; `fake_content.rs`
//!   is the made-up content they share; `sigv4.rs` verifies (and, for tests, makes) AWS
//!   signatures.
//! * `google_oauth.rs`: a separate in-process server, Google's OAuth token endpoint, which
//!   hands the Vertex mocks the tokens it issues.

pub mod anthropic;
pub mod auth;
pub mod azure;
pub mod bedrock;
pub mod config;
mod control;
mod dispatch;
pub mod eventstream;
pub mod fake_content;
pub mod fault_mode;
pub mod google_oauth;
pub mod openai;
pub mod response;
pub mod server;
pub mod sigv4;
pub mod state;
pub mod vertex;

pub use config::{AwsCredentials, MockConfig, Provider};
pub use server::{serve, MockServer};
pub use state::MockState;

use std::time::{SystemTime, UNIX_EPOCH};

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
