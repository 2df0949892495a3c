//! llm-router control plane: LiteLLM YAML -> validated config -> Envoy resources.
//!
//! - [`config`]: reads both YAML dialects, reports problems as `FILE:LINE:COL: message`.
//! - [`translate`]: pure `Config -> Envoy resources`, behind `render` and `serve`; also
//!   provider credentials in Envoy ([`translate::upstream_auth`]).
//! - [`servable`]: whether a config can be served, asked by `render`, `serve` and reloads.
//! - [`bootstrap`]: the Envoy bootstrap that points an Envoy at `serve`.
//! - [`drift`]: differences between regional configs that should agree.
//! - [`xds`]: a generic ADS server (snapshots, sans-IO connections, tonic glue).
//! - [`reload`]: watch the YAML, keep the last good config serving.
//! - [`ratelimit`]: the fleet-wide rpm/tpm counter (Envoy's rate limit service on limitador).
//! - [`telemetry`]: metrics, health and status endpoints, logs.
//! - [`vertex_tokens`]: Vertex OAuth tokens, kept fresh (the plain parts are in
//!   [`config::vertex_credentials`]).
//! - [`serve`] and [`up`]: the `serve` and `up` commands.
pub mod bootstrap;
pub mod config;
pub mod drift;
pub mod ratelimit;
pub mod reload;
pub mod servable;
pub mod serve;
pub mod telemetry;
pub mod translate;
pub mod up;
pub mod vertex_tokens;
pub mod xds;
