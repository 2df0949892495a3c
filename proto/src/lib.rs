//! The filter configuration schema (`filter_config.proto`), shared by the control plane,
//! which encodes it into the wasm plugin configuration, and the filter, which decodes it.

/// Bumped when a change to the schema is not backward compatible; the filter refuses
/// a configuration whose `schema_version` it does not know.
pub const SCHEMA_VERSION: u32 = 1;

include!(concat!(env!("OUT_DIR"), "/llmrouter.v1.rs"));
