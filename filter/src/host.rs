//! `Host` over proxy-wasm host calls: the only place the gateway's behaviour meets Envoy.
//! Client-controlled bytes are read with the `_bytes` host calls and handed over undecoded,
//! never with the convenience getters that unwrap UTF-8 (a panic would take down the worker's
//! VM).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use llm_router_core::gateway::{Host, SharedWrite};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};

/// The calling stream's host. Stateless: proxy-wasm host calls act on the current context.
pub struct EnvoyHost;

thread_local! {
    // The VM is single-threaded; a metric id is defined once per kind and stat name. Looked up
    // by `&str`, so a hit (every request after the first) allocates nothing.
    static METRIC_IDS: RefCell<[HashMap<String, u32>; 3]> = RefCell::new(Default::default());
}

fn metric_id(kind: MetricType, stat: &str) -> Option<u32> {
    // proxy-wasm's kinds are 0 (counter), 1 (gauge), 2 (histogram): one map each.
    let slot = kind as usize;
    METRIC_IDS.with(|ids| {
        if let Some(id) = ids.borrow().get(slot)?.get(stat) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, stat).ok()?;
        ids.borrow_mut().get_mut(slot)?.insert(stat.to_owned(), id);
        Some(id)
    })
}

pub fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn map_value(map: MapType, name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(map, name).ok().flatten()
}

fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(kind, 0, size).ok().flatten().unwrap_or_default()
}

impl Host for EnvoyHost {
    fn now_ms(&self) -> u64 {
        now_nanos() / 1_000_000
    }

    fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        map_value(MapType::HttpRequestHeaders, name)
    }

    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        // Header names are HTTP tokens (Envoy's codecs reject others), so proxy-wasm's UTF-8
        // decoding of names cannot fail; values stay bytes.
        hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default()
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value);
    }

    fn set_request_headers(&mut self, headers: &[(String, Vec<u8>)]) {
        let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        let _ = hostcalls::set_map_bytes(MapType::HttpRequestHeaders, pairs);
    }

    fn request_metadata(&self, namespace: &str, key: &str) -> Option<Vec<u8>> {
        // Envoy serialises a string leaf of the dynamic metadata as its bytes.
        hostcalls::get_property(vec!["metadata", "filter_metadata", namespace, key]).ok().flatten()
    }

    fn request_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpRequestBody, size)
    }

    fn replace_request_body(&mut self, size: usize, body: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, body);
    }

    fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        map_value(MapType::HttpResponseHeaders, name)
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        hostcalls::get_map_bytes(MapType::HttpResponseHeaders)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value);
    }

    fn response_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpResponseBody, size)
    }

    fn replace_response_body(&mut self, size: usize, body: &[u8]) {
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, body);
    }

    fn response_from_upstream(&self) -> bool {
        hostcalls::get_property(vec!["response", "code_details"]).ok().flatten().is_some_and(|d| d == b"via_upstream")
    }

    fn reset_response(&mut self) {
        let _ = hostcalls::reset_http_response();
    }

    fn send_json_response_with_headers(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let _ = hostcalls::send_http_response(status, all, Some(body));
    }

    fn grpc_call(
        &mut self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Option<u32> {
        // Registers the token with the SDK's dispatcher, which brings the answer back to the
        // calling context (`on_grpc_call_response`).
        hostcalls::dispatch_grpc_call(
            cluster,
            service,
            method,
            Vec::new(),
            Some(message),
            std::time::Duration::from_millis(timeout_ms),
        )
        .ok()
    }

    fn resume_request(&mut self) {
        let _ = hostcalls::resume_http_request();
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> SharedWrite {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => SharedWrite::Written,
            Err(Status::CasMismatch) => SharedWrite::CasMismatch,
            Err(_) => SharedWrite::Failed,
        }
    }

    fn define_counter(&mut self, stat: &str) {
        let _ = metric_id(MetricType::Counter, stat);
    }

    fn add_counter(&mut self, stat: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(id) = metric_id(MetricType::Counter, stat) {
            let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    fn record_histogram(&mut self, stat: &str, value: u64) {
        if let Some(id) = metric_id(MetricType::Histogram, stat) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn set_gauge(&mut self, stat: &str, value: u64) {
        if let Some(id) = metric_id(MetricType::Gauge, stat) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn log_warn(&mut self, message: &str) {
        log::warn!("{message}");
    }
}
