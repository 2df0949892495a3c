//! Request verification at each provider's front door: what one check found
//! ([`AuthInfo`], recorded as `last_auth`), and the per-provider credential checks
//! (bearer key, `api-key`, `x-api-key`, SigV4 via [`super::sigv4`], Vertex OAuth tokens),
//! refusing in the provider's own error shape.

use std::time::SystemTime;

use hyper::Response;
use serde_json::{json, Value};

use super::anthropic::AnthropicError;
use super::azure;
use super::bedrock::AwsError;
use super::config::Provider;
use super::dispatch::{header, Call};
use super::now_secs;
use super::openai::ApiError;
use super::response::{json_resp, Body};
use super::sigv4::{self, SigV4Error};
use super::state::MockState;
use super::vertex::{self, GoogleError};

/// The result of one request's authentication check (recorded in stats as `last_auth`).
#[derive(Debug, Clone, Default)]
pub struct AuthInfo {
    /// `sigv4`, `bearer`, `api-key`, `x-api-key`, or `none` (no auth required).
    pub scheme: &'static str,
    /// The credentials were accepted.
    pub verified: bool,
    /// Checked against a configured secret (`false`: presence only, no secret configured).
    pub against_secret: bool,
    /// SigV4: the credential scope's region (also when it is the wrong one).
    pub region: Option<String>,
    /// SigV4: the credential scope's service.
    pub service: Option<String>,
    /// SigV4: the access key id.
    pub access_key_id: Option<String>,
    /// SigV4: the `SignedHeaders` list.
    pub signed_headers: Option<Vec<String>>,
    /// SigV4: `x-amz-date`.
    pub date: Option<String>,
    /// SigV4: a session token was sent.
    pub session_token: bool,
    /// SigV4: `x-amz-content-sha256` was sent and was the body's hash.
    pub payload_hash_header: Option<bool>,
    /// Why the credentials were refused (precise; the response carries the provider's text).
    pub error: Option<String>,
}

impl AuthInfo {
    pub fn none() -> AuthInfo {
        AuthInfo { scheme: "none", verified: true, ..Default::default() }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "scheme": self.scheme,
            "verified": self.verified,
            "against_secret": self.against_secret,
            "region": self.region,
            "error": self.error,
        });
        if self.scheme == "sigv4" {
            v["service"] = json!(self.service);
            v["access_key_id"] = json!(self.access_key_id);
            v["signed_headers"] = json!(self.signed_headers);
            v["date"] = json!(self.date);
            v["session_token"] = json!(self.session_token);
            v["payload_hash_header"] = json!(self.payload_hash_header);
        }
        v
    }
}

/// Constant-time-ish equality for secrets (length leaks, contents do not).
pub fn secret_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the request's credentials as the provider's front door does. `Some(response)`
/// is the refusal.
pub(super) fn authenticate(state: &MockState, c: &Call<'_>, now: SystemTime) -> (AuthInfo, Option<Response<Body>>) {
    let cfg = &state.cfg;
    match cfg.provider {
        Provider::OpenAi => {
            let Some(key) = cfg.api_key.as_deref() else {
                return (AuthInfo::none(), None);
            };
            let mut info = AuthInfo { scheme: "bearer", against_secret: true, ..Default::default() };
            let got = header(c.headers, "authorization").and_then(|a| a.strip_prefix("Bearer "));
            let err = match got {
                None => Some(ApiError {
                    status: 401,
                    message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.".into(),
                    kind: "invalid_request_error",
                    param: None,
                    code: None,
                }),
                Some(k) if secret_eq(k.trim(), key) => None,
                Some(k) => Some(ApiError {
                    status: 401,
                    message: format!(
                        "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                        redact(k)
                    ),
                    kind: "invalid_request_error",
                    param: None,
                    code: Some("invalid_api_key".into()),
                }),
            };
            finish(
                info_with(&mut info, err.as_ref().map(|e| e.message.clone())),
                err.map(|e| json_resp(e.status, &e.body())),
            )
        }
        Provider::Azure => {
            let mut info = AuthInfo { scheme: "api-key", against_secret: cfg.api_key.is_some(), ..Default::default() };
            let ok = match (header(c.headers, "api-key"), cfg.api_key.as_deref()) {
                (None, _) => false,
                (Some(got), Some(want)) => secret_eq(got, want),
                (Some(got), None) => !got.is_empty(),
            };
            let err = (!ok).then(|| "missing or wrong api-key".to_string());
            finish(info_with(&mut info, err.clone()), err.map(|_| azure::unauthorized()))
        }
        Provider::Anthropic => {
            let mut info =
                AuthInfo { scheme: "x-api-key", against_secret: cfg.api_key.is_some(), ..Default::default() };
            let err = match (header(c.headers, "x-api-key"), cfg.api_key.as_deref()) {
                (None, _) => Some("x-api-key header is required"),
                (Some(got), Some(want)) if !secret_eq(got, want) => Some("invalid x-api-key"),
                (Some(""), None) => Some("invalid x-api-key"),
                _ => None,
            };
            finish(
                info_with(&mut info, err.map(str::to_string)),
                err.map(|m| AnthropicError::new(401, "authentication_error", m).response(c.seq)),
            )
        }
        Provider::Bedrock if cfg.skip_signature_check => (AuthInfo { scheme: "none", ..Default::default() }, None),
        Provider::Bedrock => {
            let req = sigv4::Incoming {
                method: c.method.as_str(),
                path_and_query: c.path_and_query,
                authority: c.authority,
                headers: c.headers,
                body: c.body,
            };
            let (info, res) = sigv4::verify(&req, cfg.aws.as_ref(), &cfg.region, "bedrock", now);
            let err = res.err().map(|e: SigV4Error| AwsError::auth(e.error_type(), e.message()).response(c.seq));
            (info, err)
        }
        Provider::Vertex if vertex::route(c.path).is_some_and(|r| r.is_ai_studio()) => {
            // Google AI Studio: an API key in x-goog-api-key, as Google answers a missing or
            // wrong one.
            let mut info =
                AuthInfo { scheme: "x-goog-api-key", against_secret: cfg.api_key.is_some(), ..Default::default() };
            let err = match (header(c.headers, "x-goog-api-key"), cfg.api_key.as_deref()) {
                (None, _) | (Some(""), _) => Some(GoogleError::new(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")),
                (Some(got), Some(want)) if !secret_eq(got, want) => {
                    Some(GoogleError::invalid("API key not valid. Please pass a valid API key."))
                }
                _ => None,
            };
            finish(info_with(&mut info, err.as_ref().map(|e| e.message.clone())), err.map(|e| e.response()))
        }
        Provider::Vertex => {
            let mut info = AuthInfo { scheme: "bearer", ..Default::default() };
            let tokens = state.tokens();
            info.against_secret = !tokens.is_empty();
            let got = header(c.headers, "authorization")
                .and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")));
            let reason = match got.map(str::trim) {
                None | Some("") => Some("CREDENTIALS_MISSING"),
                Some(_) if tokens.is_empty() => None,
                Some(t) => match tokens.iter().find(|k| secret_eq(&k.token, t)) {
                    None => Some("ACCESS_TOKEN_TYPE_UNSUPPORTED"),
                    Some(k) if k.expires.is_some_and(|e| e <= now_secs()) => Some("ACCESS_TOKEN_EXPIRED"),
                    Some(_) => None,
                },
            };
            finish(
                info_with(&mut info, reason.map(str::to_string)),
                reason.map(|r| GoogleError::unauthenticated(r).response()),
            )
        }
    }
}

fn info_with(info: &mut AuthInfo, err: Option<String>) -> AuthInfo {
    info.verified = err.is_none();
    info.error = err;
    info.clone()
}

fn finish(info: AuthInfo, err: Option<Response<Body>>) -> (AuthInfo, Option<Response<Body>>) {
    (info, err)
}

/// `sk-ab***...***yz` as OpenAI shows a wrong key.
fn redact(k: &str) -> String {
    let chars: Vec<char> = k.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}
