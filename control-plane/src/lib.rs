//! llm-router control plane: LiteLLM YAML -> validated config -> Envoy resources.
//!
//! - [`config`]: reads both YAML dialects, reports problems as `FILE:LINE:COL: message`.
//! - [`translate`]: pure `Config -> Envoy resources`, behind `render` (and later `serve`).
pub mod config;
pub mod translate;
