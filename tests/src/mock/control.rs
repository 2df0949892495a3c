//! The JSON control API under `/_mock/` (mode, stats, reset, tokens, stream times), which
//! tests use to steer a running mock and read what it saw.

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};

use super::fault_mode::Mode;
use super::now_secs;
use super::response::{json_resp, Body, LAST_STREAM_TIMES};
use super::server::read_body;
use super::state::{MockState, Token};

pub(super) async fn control(state: &MockState, ctl: &str, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(()) => return json_resp(413, &json!({"error": "body too large"})),
    };
    match (method, ctl) {
        (Method::GET, "stats") => json_resp(200, &state.stats_json()),
        (Method::GET, "stream_times") => json_resp(200, &json!({"times_ns": *LAST_STREAM_TIMES.lock().unwrap()})),
        (Method::GET, "mode") => json_resp(200, &state.peek_mode().to_json()),
        (Method::POST, "mode") => {
            let v: Value = if body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => return json_resp(400, &json!({"error": format!("invalid JSON: {e}")})),
                }
            };
            match Mode::from_json(&v, &state.cfg) {
                Ok(m) => {
                    let out = m.to_json();
                    state.set_mode(m);
                    json_resp(200, &out)
                }
                Err(e) => json_resp(400, &json!({"error": e})),
            }
        }
        (Method::POST, "reset") => {
            state.reset();
            json_resp(200, &state.stats_json())
        }
        (Method::GET, "tokens") => json_resp(200, &tokens_json(state)),
        (Method::POST, "tokens") => {
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return json_resp(400, &json!({"error": format!("invalid JSON: {e}")})),
            };
            let Some(token) = v.get("token").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                return json_resp(400, &json!({"error": "'token' (a non-empty string) is required"}));
            };
            let expires = match (v.get("expires_in_s"), v.get("expires_at")) {
                (Some(n), _) if !n.is_null() => match n.as_u64() {
                    Some(n) => Some(now_secs() + n),
                    None => return json_resp(400, &json!({"error": "'expires_in_s' must be a non-negative integer"})),
                },
                (_, Some(n)) if !n.is_null() => match n.as_u64() {
                    Some(n) => Some(n),
                    None => return json_resp(400, &json!({"error": "'expires_at' must be Unix seconds"})),
                },
                _ => None,
            };
            let replace = v.get("replace").and_then(Value::as_bool).unwrap_or(false);
            state.add_token(Token { token: token.to_string(), expires }, replace);
            json_resp(200, &tokens_json(state))
        }
        (m, other) => json_resp(404, &json!({"error": format!("unknown control endpoint {m} /_mock/{other}")})),
    }
}

fn tokens_json(state: &MockState) -> Value {
    let list: Vec<Value> = state.tokens().iter().map(|t| json!({"token": t.token, "expires_at": t.expires})).collect();
    json!({ "tokens": list })
}
