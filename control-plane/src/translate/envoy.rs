//! Small Envoy JSON values every resource kind uses: addresses, durations, and merging one
//! object's fields into another (for the parts of a resource that depend on the mode).

use serde_json::{json, Value};

pub(super) fn socket_address(address: &str, port: u16) -> Value {
    json!({"socket_address": {"address": address, "port_value": port}})
}

/// Envoy's duration string ("1.5s").
pub(super) fn duration(seconds: f64) -> String {
    let ms = seconds_to_ms(seconds);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

pub(super) fn seconds_to_ms(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    }
}

/// Adds `extra`'s fields to the object `target`, after its own (the output keeps key order).
pub(super) fn extend_object(target: &mut Value, extra: &Value) {
    if let (Some(t), Some(extra)) = (target.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            t.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_envoy_strings() {
        assert_eq!(duration(30.0), "30s");
        assert_eq!(duration(0.3), "0.300s");
        assert_eq!(duration(1.25), "1.250s");
        assert_eq!(seconds_to_ms(-1.0), 0);
    }
}
