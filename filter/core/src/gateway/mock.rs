//! An in-memory [`Host`] for tests: headers, bodies, shared data with compare-and-swap, metrics
//! and the response the gateway sent, all inspectable. Used by the gateway's unit tests and by
//! anyone who wants to drive the gateway's behaviour without Envoy.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use super::{Host, SharedWrite};

#[derive(Debug, Default, Clone)]
pub struct MockHost {
    pub now_ms: u64,
    /// Request headers (lower-case names, in order).
    pub request_headers: Vec<(String, Vec<u8>)>,
    /// Dynamic metadata: (namespace, key) -> string value.
    pub metadata: HashMap<(String, String), Vec<u8>>,
    /// Calls that replaced the whole request header map.
    pub header_map_writes: u32,
    pub request_body: Vec<u8>,
    pub response_headers: Vec<(String, Vec<u8>)>,
    pub response_body: Vec<u8>,
    /// Whether the response came from an upstream (`response.code_details == via_upstream`).
    pub from_upstream: bool,
    /// The response the gateway answered with itself: (status, body), and its extra headers.
    pub sent: Option<(u32, Vec<u8>)>,
    pub sent_headers: Vec<(String, String)>,
    /// gRPC calls started: (cluster, service/method, message, timeout ms); the token of the
    /// n-th is n + 1.
    pub grpc_calls: Vec<(String, String, Vec<u8>, u64)>,
    /// Calls cannot be started (as when the cluster does not exist).
    pub grpc_refused: bool,
    /// Times a paused request was resumed.
    pub resumed: u32,

    /// The response was reset ([`Host::reset_response`]).
    pub reset: bool,
    /// Shared data: key -> (value, cas).
    pub shared: HashMap<String, (Vec<u8>, u32)>,
    /// Compare-and-swap writes that fail as if another worker wrote first.
    pub cas_conflicts: u32,
    pub counters: HashMap<String, u64>,
    pub histograms: HashMap<String, Vec<u64>>,
    pub gauges: HashMap<String, u64>,
    pub warnings: Vec<String>,
    /// Host calls made, by name (what each would cost in Envoy: a wasm-to-host crossing).
    pub calls: RefCell<BTreeMap<&'static str, u32>>,
}

fn get(headers: &[(String, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn set(headers: &mut Vec<(String, Vec<u8>)>, name: &str, value: Option<&str>) {
    headers.retain(|(k, _)| k != name);
    if let Some(v) = value {
        headers.push((name.to_owned(), v.as_bytes().to_vec()));
    }
}

impl MockHost {
    pub fn at(now_ms: u64) -> Self {
        MockHost { now_ms, ..MockHost::default() }
    }

    pub fn with_request(mut self, headers: &[(&str, &str)], body: &[u8]) -> Self {
        for (k, v) in headers {
            self.request_headers.push((k.to_ascii_lowercase(), v.as_bytes().to_vec()));
        }
        self.request_body = body.to_vec();
        self
    }

    pub fn request_header_str(&self, name: &str) -> Option<String> {
        get(&self.request_headers, name).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    pub fn response_header_str(&self, name: &str) -> Option<String> {
        get(&self.response_headers, name).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Replaces the response (as an upstream or Envoy would send it).
    pub fn respond(&mut self, headers: &[(&str, &str)], body: &[u8], from_upstream: bool) {
        self.response_headers = headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        self.response_body = body.to_vec();
        self.from_upstream = from_upstream;
    }

    /// Moves the client headers every attempt needs into dynamic metadata, as Envoy's
    /// header-to-metadata filter does before the router.
    pub fn carry_client_headers(&mut self) {
        for name in crate::CARRIED_REQUEST_HEADERS {
            if let Some(v) = get(&self.request_headers, name) {
                self.metadata.insert((crate::CLIENT_METADATA_NAMESPACE.to_owned(), (*name).to_owned()), v);
                set(&mut self.request_headers, name, None);
            }
        }
    }

    pub fn counter(&self, stat: &str) -> u64 {
        self.counters.get(stat).copied().unwrap_or(0)
    }

    fn call(&self, name: &'static str) {
        *self.calls.borrow_mut().entry(name).or_insert(0) += 1;
    }

    /// Host calls made so far, all kinds together.
    pub fn host_calls(&self) -> u32 {
        self.calls.borrow().values().sum()
    }
}

impl Host for MockHost {
    fn now_ms(&self) -> u64 {
        self.call("now_ms");
        self.now_ms
    }

    fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        self.call("request_header");
        get(&self.request_headers, name)
    }

    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        self.call("request_headers");
        self.request_headers.clone()
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        self.call("set_request_header");
        set(&mut self.request_headers, name, value);
    }

    fn set_request_headers(&mut self, headers: &[(String, Vec<u8>)]) {
        self.call("set_request_headers");
        self.request_headers = headers.to_vec();
        self.header_map_writes += 1;
    }

    fn request_metadata(&self, namespace: &str, key: &str) -> Option<Vec<u8>> {
        self.call("request_metadata");
        self.metadata.get(&(namespace.to_owned(), key.to_owned())).cloned()
    }

    fn request_body(&self, size: usize) -> Vec<u8> {
        self.call("request_body");
        self.request_body[..size.min(self.request_body.len())].to_vec()
    }

    fn replace_request_body(&mut self, size: usize, body: &[u8]) {
        self.call("replace_request_body");
        let size = size.min(self.request_body.len());
        self.request_body.splice(..size, body.iter().copied());
    }

    fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        self.call("response_header");
        get(&self.response_headers, name)
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        self.call("response_headers");
        self.response_headers.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect()
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        self.call("set_response_header");
        set(&mut self.response_headers, name, value);
    }

    fn response_body(&self, size: usize) -> Vec<u8> {
        self.call("response_body");
        self.response_body[..size.min(self.response_body.len())].to_vec()
    }

    fn replace_response_body(&mut self, size: usize, body: &[u8]) {
        self.call("replace_response_body");
        let size = size.min(self.response_body.len());
        self.response_body.splice(..size, body.iter().copied());
    }

    fn response_from_upstream(&self) -> bool {
        self.call("response_from_upstream");
        self.from_upstream
    }

    fn reset_response(&mut self) {
        self.call("reset_response");
        self.reset = true;
    }

    fn send_json_response_with_headers(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.call("send_json_response_with_headers");
        self.sent = Some((status, body.to_vec()));
        self.sent_headers = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    }

    fn grpc_call(
        &mut self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Option<u32> {
        self.call("grpc_call");
        if self.grpc_refused {
            return None;
        }
        self.grpc_calls.push((cluster.to_owned(), format!("{service}/{method}"), message.to_vec(), timeout_ms));
        u32::try_from(self.grpc_calls.len()).ok()
    }

    fn resume_request(&mut self) {
        self.call("resume_request");
        self.resumed += 1;
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.call("shared_get");
        match self.shared.get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> SharedWrite {
        self.call("shared_set");
        let current = self.shared.get(key).map(|(_, c)| *c);
        if self.cas_conflicts > 0 {
            // Another worker's write lands first.
            self.cas_conflicts -= 1;
            let (v, c) = self.shared.get(key).cloned().unwrap_or_default();
            self.shared.insert(key.to_owned(), (v, c + 1));
            return SharedWrite::CasMismatch;
        }
        if cas.is_some() && cas != current {
            return SharedWrite::CasMismatch;
        }
        self.shared.insert(key.to_owned(), (value.to_vec(), current.unwrap_or(0) + 1));
        SharedWrite::Written
    }

    fn define_counter(&mut self, stat: &str) {
        self.call("define_counter");
        self.counters.entry(stat.to_owned()).or_insert(0);
    }

    fn add_counter(&mut self, stat: &str, n: u64) {
        self.call("add_counter");
        *self.counters.entry(stat.to_owned()).or_insert(0) += n;
    }

    fn record_histogram(&mut self, stat: &str, value: u64) {
        self.call("record_histogram");
        self.histograms.entry(stat.to_owned()).or_default().push(value);
    }

    fn set_gauge(&mut self, stat: &str, value: u64) {
        self.call("set_gauge");
        self.gauges.insert(stat.to_owned(), value);
    }

    fn log_warn(&mut self, message: &str) {
        self.call("log_warn");
        self.warnings.push(message.to_owned());
    }
}
