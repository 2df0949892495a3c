//! A generic xDS (ADS) server: it knows Envoy's discovery protocol, not the product.
//!
//! - [`encode`]: canonical JSON -> protobuf bytes through Envoy's descriptors ([`transcode`]
//!   writes them straight from the JSON; `prost-reflect` takes what it leaves aside).
//! - [`snapshot`]: immutable, content-hashed, consistency-checked resource sets.
//! - [`assemble`]: canonical JSON resources -> a snapshot, re-encoding only what changed.
//! - [`cache`]: the one writer, the readers, and what each proxy ACKed or NACKed.
//! - [`sotw`] and [`delta`]: one ADS stream as a sans-IO state machine each.
//! - [`server`]: the thin tonic glue (and optional mTLS).
//!
//! This module does not import `config` or `translate`: `translate` lays a config out as
//! JSON resources by type for [`assemble`], and the composition root (`serve`) hands the
//! [`snapshot::Snapshot`] to [`cache::SnapshotCache`].

pub mod assemble;
pub mod cache;
pub mod delta;
pub mod encode;
pub mod server;
pub mod snapshot;
pub mod sotw;
pub mod transcode;

/// What a client said about a response: the server logs it and counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ack {
        type_url: String,
        version: String,
    },
    /// `detail` is Envoy's `error_detail.message`.
    Nack {
        type_url: String,
        version: String,
        detail: String,
    },
}

/// Callbacks for metrics; the server calls them, `telemetry` implements them.
pub trait Observer: Send + Sync + 'static {
    fn connected(&self, _protocol: &'static str) {}
    fn disconnected(&self, _protocol: &'static str) {}
    fn pushed(&self, _type_url: &str, _resources: usize) {}
    fn acked(&self, _type_url: &str) {}
    fn nacked(&self, _type_url: &str) {}
}

/// An observer that records nothing.
#[derive(Debug, Default)]
pub struct NoObserver;
impl Observer for NoObserver {}

/// The last part of a type URL, for logs and metric labels (`Cluster`, `Listener`, ...).
pub fn short_type(type_url: &str) -> &str {
    type_url.rsplit('.').next().unwrap_or(type_url)
}
