//! Bounded load loops: a fixed number of worker threads send the same request
//! until a request count or a deadline is reached, whichever comes first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{pooled_client, Req};

/// What a load loop saw.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Requests sent (responses + transport errors).
    pub sent: u64,
    /// Responses with a 2xx status.
    pub ok: u64,
    /// Non-2xx responses plus transport errors.
    pub failed: u64,
    /// Transport errors (no response).
    pub transport_errors: u64,
    /// Count per response status.
    pub statuses: BTreeMap<u16, u64>,
    /// Count per value of the region header (default `x-llm-region`) over all responses that had it.
    pub by_region: BTreeMap<String, u64>,
    /// 2xx responses without the region header.
    pub ok_without_region: u64,
    /// The first few failures (status + body excerpt, or transport error).
    pub errors: Vec<String>,
    pub elapsed: Duration,
    /// Latency percentiles over all completed requests (responses and errors).
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// A load loop's parameters; build with [`Load::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    /// Stop after this many requests have been started…
    pub max_requests: u64,
    /// …or once this much time has passed (requests in flight then still finish, bounded by `timeout`).
    pub max_duration: Duration,
    pub concurrency: usize,
    /// Per-request timeout (default 10 s).
    pub timeout: Duration,
    /// Response header counted into `by_region` (default `x-llm-region`).
    pub region_header: String,
    /// How many failure descriptions to keep (default 10).
    pub keep_errors: usize,
}

impl Load {
    pub fn new(url: &str, body: &Value) -> Load {
        Load {
            url: url.to_string(),
            body: body.clone(),
            headers: Vec::new(),
            max_requests: 100,
            max_duration: Duration::from_secs(10),
            concurrency: 4,
            timeout: Duration::from_secs(10),
            region_header: "x-llm-region".into(),
            keep_errors: 10,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Load {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Runs the loop (blocking) on `concurrency` threads sharing one keep-alive client.
    pub fn run(&self) -> LoadReport {
        assert!(self.concurrency > 0, "concurrency must be > 0");
        let client = pooled_client();
        let started = AtomicU64::new(0);
        let report = Mutex::new(LoadReport::default());
        let latencies = Mutex::new(Vec::<Duration>::new());
        let t0 = Instant::now();
        let deadline = t0 + self.max_duration;
        let mut req = Req::post(&self.url).json(&self.body).timeout(self.timeout);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        std::thread::scope(|s| {
            for _ in 0..self.concurrency {
                s.spawn(|| loop {
                    if Instant::now() >= deadline || started.fetch_add(1, Ordering::Relaxed) >= self.max_requests {
                        break;
                    }
                    let t = Instant::now();
                    let res = req.send_with(&client);
                    let lat = t.elapsed();
                    latencies.lock().unwrap().push(lat);
                    let mut r = report.lock().unwrap();
                    r.sent += 1;
                    match res {
                        Ok(resp) => {
                            *r.statuses.entry(resp.status).or_insert(0) += 1;
                            let region = resp.header(&self.region_header);
                            if let Some(reg) = &region {
                                *r.by_region.entry(reg.clone()).or_insert(0) += 1;
                            }
                            if (200..300).contains(&resp.status) {
                                r.ok += 1;
                                if region.is_none() {
                                    r.ok_without_region += 1;
                                }
                            } else {
                                r.failed += 1;
                                if r.errors.len() < self.keep_errors {
                                    let text = resp.text();
                                    let excerpt: String = text.chars().take(300).collect();
                                    r.errors.push(format!("status {}: {excerpt}", resp.status));
                                }
                            }
                        }
                        Err(e) => {
                            r.failed += 1;
                            r.transport_errors += 1;
                            if r.errors.len() < self.keep_errors {
                                r.errors.push(format!("transport: {e}"));
                            }
                        }
                    }
                });
            }
        });
        let mut r = report.into_inner().unwrap();
        r.elapsed = t0.elapsed();
        let mut l = latencies.into_inner().unwrap();
        l.sort();
        if !l.is_empty() {
            let pick = |q: f64| l[(((l.len() - 1) as f64) * q).round() as usize];
            r.p50 = pick(0.50);
            r.p99 = pick(0.99);
            r.max = *l.last().unwrap();
        }
        r
    }
}

/// POSTs `body` to `url` from `concurrency` threads until `max_requests` were sent
/// or `max_duration` passed. Counts regions from the `x-llm-region` response header.
/// Use [`Load`] for headers, timeouts or another region header.
pub fn load_loop(url: &str, body: &Value, max_requests: u64, max_duration: Duration, concurrency: usize) -> LoadReport {
    let mut l = Load::new(url, body);
    l.max_requests = max_requests;
    l.max_duration = max_duration;
    l.concurrency = concurrency;
    l.run()
}
