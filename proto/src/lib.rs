//! The filter configuration schema (`filter_config.proto`), shared by the control plane,
//! which encodes it into the wasm plugin configuration, and the filter, which decodes it.

/// Bumped when a change to the schema is not backward compatible; the filter refuses
/// a configuration whose `schema_version` it does not know.
/// 2: the master key is salted (`MasterKey`), and `unavailable` is a code (`Unavailable`).
pub const SCHEMA_VERSION: u32 = 2;

include!(concat!(env!("OUT_DIR"), "/llmrouter.v1.rs"));
