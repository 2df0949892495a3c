//! The behaviour switches of a mock (`POST /_mock/mode`): [`Fault`] (ok, error, rate_limit,
//! hang, reset) and the whole [`Mode`] (status, latency, chunking, how many requests).
//! Parsed and printed here; applied by the server (`server.rs`) and the provider dispatch.

use serde_json::{json, Value};

use super::config::MockConfig;

/// The behaviour selected by `POST /_mock/mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Ok,
    Error,
    RateLimit,
    Hang,
    Reset,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Error => "error",
            Fault::RateLimit => "rate_limit",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "ok" => Fault::Ok,
            "error" => Fault::Error,
            "rate_limit" => Fault::RateLimit,
            "hang" => Fault::Hang,
            "reset" => Fault::Reset,
            _ => return None,
        })
    }
}

/// A complete mode (what `POST /_mock/mode` sets).
#[derive(Debug, Clone)]
pub struct Mode {
    pub fault: Fault,
    pub status: u16,
    pub latency_ms: u64,
    pub chunk_delay_ms: u64,
    pub chunks: u32,
    /// Remaining LLM requests this mode applies to (`None` = until changed).
    pub count: Option<u64>,
}

impl Mode {
    pub fn default_for(cfg: &MockConfig) -> Mode {
        Mode {
            fault: Fault::Ok,
            status: 503,
            latency_ms: 0,
            chunk_delay_ms: cfg.chunk_delay_ms,
            chunks: cfg.chunks,
            count: None,
        }
    }

    /// Parses a `/_mock/mode` body; omitted fields take the defaults.
    pub fn from_json(v: &Value, cfg: &MockConfig) -> Result<Mode, String> {
        let obj = v.as_object().ok_or("mode body must be a JSON object")?;
        let mut m = Mode::default_for(cfg);
        for (k, val) in obj {
            let num = || val.as_u64().ok_or_else(|| format!("'{k}' must be a non-negative integer"));
            match k.as_str() {
                "mode" => {
                    let s = val.as_str().ok_or("'mode' must be a string")?;
                    m.fault = Fault::parse(s)
                        .ok_or_else(|| format!("unknown mode '{s}' (ok, error, rate_limit, hang, reset)"))?;
                }
                "status" => {
                    let s = num()?;
                    if !(100..=599).contains(&s) {
                        return Err(format!("status {s} out of range"));
                    }
                    m.status = s as u16;
                }
                "latency_ms" => m.latency_ms = num()?,
                "chunk_delay_ms" => m.chunk_delay_ms = num()?,
                "chunks" => m.chunks = num()?.min(100_000) as u32,
                "count" => m.count = if val.is_null() { None } else { Some(num()?) },
                other => return Err(format!("unknown mode field '{other}'")),
            }
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "mode": self.fault.as_str(),
            "status": self.status,
            "latency_ms": self.latency_ms,
            "chunk_delay_ms": self.chunk_delay_ms,
            "chunks": self.chunks,
            "count": self.count,
        })
    }
}
