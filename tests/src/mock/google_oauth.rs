//! Google's OAuth token endpoint for service accounts (`POST /token`, the JWT-bearer grant),
//! in process, checking what Google checks: the grant type, an RS256 signature by the
//! account's key (verified with the RustCrypto `rsa` crate, independent of the control
//! plane's signer), and the claims (`iss` is the account, `aud` is this endpoint, the
//! cloud-platform `scope`, `iat`/`exp` at most an hour apart around now).
//!
//! Each token it grants lives `token_lifetime` and is registered, before the answer goes
//! out, with every Vertex mock given (`POST {vertex}/_mock/tokens`), so those mocks accept
//! exactly the tokens this endpoint issued, until they expire.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;

use super::server::serve_on_thread;

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A fresh service account: its key file's JSON (as Google issues it) and its public key.
pub struct TestServiceAccount {
    pub client_email: String,
    pub key_json: String,
    pub public_key_pem: String,
}

impl TestServiceAccount {
    /// Generates a 2048-bit RSA key for `client_email`, whose key file names `token_uri`.
    pub fn generate(client_email: &str, token_uri: &str) -> TestServiceAccount {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("generate an RSA key");
        let private_pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
        let public_key_pem = RsaPublicKey::from(&key).to_public_key_pem(LineEnding::LF).expect("SPKI PEM");
        let key_json = json!({
            "type": "service_account",
            "project_id": "company-eu-project",
            "private_key_id": format!("{:x}", rand::random::<u64>()),
            "private_key": private_pem.as_str(),
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        })
        .to_string();
        TestServiceAccount { client_email: client_email.to_string(), key_json, public_key_pem }
    }
}

/// What the endpoint has done.
#[derive(Debug, Default, Clone)]
pub struct TokenStats {
    /// Tokens granted, oldest first: `(token, unix seconds granted)`.
    pub granted: Vec<(String, u64)>,
    /// Why each refused request was refused (`invalid_grant: ...`).
    pub refused: Vec<String>,
    /// Requests answered with an injected failure.
    pub failed: u64,
}

struct State {
    public_key: VerifyingKey<Sha256>,
    client_email: String,
    token_url: String,
    lifetime: Duration,
    vertex_mocks: Vec<String>,
    fail_status: Mutex<Option<u16>>,
    stats: Mutex<TokenStats>,
    client: reqwest::Client,
}

/// The running endpoint; stops on Drop.
pub struct MockTokenEndpoint {
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockTokenEndpoint {
    /// Listens on `127.0.0.1:port` (0 = any) and trusts `public_key_pem` for `client_email`.
    pub fn start(
        port: u16,
        client_email: &str,
        public_key_pem: &str,
        lifetime: Duration,
        vertex_mocks: &[String],
    ) -> MockTokenEndpoint {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the token endpoint");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let public_key = RsaPublicKey::from_public_key_pem(public_key_pem).expect("an SPKI public key");
        let state = Arc::new(State {
            public_key: VerifyingKey::new(public_key),
            client_email: client_email.to_string(),
            token_url: format!("http://{addr}/token"),
            lifetime,
            vertex_mocks: vertex_mocks.to_vec(),
            fail_status: Mutex::new(None),
            stats: Mutex::new(TokenStats::default()),
            client: reqwest::Client::builder().no_proxy().build().expect("client"),
        });
        let st = state.clone();
        let (tx, thread) = serve_on_thread("mock-google-oauth".into(), std_listener, move |l| serve(l, st))
            .expect("start the token endpoint");
        MockTokenEndpoint { state, shutdown: Some(tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT/token`: the `token_uri` to put in the key file.
    pub fn token_url(&self) -> String {
        self.state.token_url.clone()
    }

    /// From now on answer every request with `status` (Google's `internal_failure`), or
    /// normally again with `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        *self.state.fail_status.lock().unwrap() = status;
    }

    pub fn stats(&self) -> TokenStats {
        self.state.stats.lock().unwrap().clone()
    }
}

impl Drop for MockTokenEndpoint {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let st = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(handle(req, &st).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(status: u16, v: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("response")
}

async fn handle(req: Request<hyper::body::Incoming>, st: &State) -> Response<Full<Bytes>> {
    if req.method() != Method::POST || req.uri().path() != "/token" {
        return answer(404, &json!({"error": "not_found"}));
    }
    let form_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return answer(400, &json!({"error": "invalid_request"})),
    };
    if let Some(status) = *st.fail_status.lock().unwrap() {
        st.stats.lock().unwrap().failed += 1;
        return answer(status, &json!({"error": "internal_failure", "error_description": "Backend error"}));
    }
    let refuse = |error: &str, description: &str| {
        st.stats.lock().unwrap().refused.push(format!("{error}: {description}"));
        answer(400, &json!({"error": error, "error_description": description}))
    };
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return refuse("invalid_request", "Bad Request");
    }
    let form = parse_form(&body);
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if field("grant_type") != Some(GRANT_TYPE) {
        return refuse("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = field("assertion") else {
        return refuse("invalid_request", "Missing required parameter: assertion");
    };
    if let Err((error, description)) = check_assertion(st, assertion) {
        return refuse(error, &description);
    }
    let token = format!("ya29.mock-{:032x}", rand::random::<u128>());
    let lifetime_s = st.lifetime.as_secs();
    for vertex in &st.vertex_mocks {
        let ok = st
            .client
            .post(format!("{vertex}/_mock/tokens"))
            .json(&json!({"token": token, "expires_in_s": lifetime_s}))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if !ok {
            return answer(
                500,
                &json!({"error": "internal_failure", "error_description": format!("could not register the token with {vertex}")}),
            );
        }
    }
    st.stats.lock().unwrap().granted.push((token.clone(), unix_now()));
    answer(200, &json!({"access_token": token, "expires_in": lifetime_s, "token_type": "Bearer"}))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Google's checks of a JWT-bearer assertion, with its error texts.
fn check_assertion(st: &State, jwt: &str) -> Result<(), (&'static str, String)> {
    let invalid = |d: &str| ("invalid_grant", d.to_string());
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(invalid("Invalid JWT: malformed"));
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = b64
        .decode(parts[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("Invalid JWT: bad header"))?;
    if header["alg"] != "RS256" {
        return Err(invalid("Invalid JWT: alg must be RS256"));
    }
    let signature = b64
        .decode(parts[2])
        .ok()
        .and_then(|s| Signature::try_from(s.as_slice()).ok())
        .ok_or_else(|| invalid("Invalid JWT Signature."))?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    st.public_key.verify(signed.as_bytes(), &signature).map_err(|_| invalid("Invalid JWT Signature."))?;
    let claims: Value = b64
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("Invalid JWT: bad claims"))?;
    if claims["iss"] != st.client_email.as_str() {
        return Err(invalid("Invalid JWT: iss is not a known service account"));
    }
    if claims["aud"] != st.token_url.as_str() {
        return Err(invalid("Invalid JWT: aud must be the token endpoint's URL"));
    }
    let scopes = claims["scope"].as_str().unwrap_or("");
    if !scopes.split(' ').any(|s| s == SCOPE) {
        return Err(("invalid_scope", "Invalid OAuth scope or ID token audience provided.".to_string()));
    }
    let now = unix_now();
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(invalid("Invalid JWT: iat and exp are required"));
    };
    if iat > now + 60 || exp <= now || exp < iat || exp - iat > 3600 {
        return Err(invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    Ok(())
}
