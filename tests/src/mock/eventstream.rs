//! The AWS event-stream wire format (`application/vnd.amazon.eventstream`), encoder side.
//!
//! A message: prelude (total length u32 BE, headers length u32 BE, CRC32 of those 8 bytes),
//! headers (name length u8, name, value type u8, value; type 7 = string with a u16 BE
//! length), payload, then the CRC32 of everything before it. Written from the format's
//! description; the tests decode it with `aws-smithy-eventstream`, an independent reader.

/// Header value type 7: a UTF-8 string.
const TYPE_STRING: u8 = 7;

/// Encodes one message with string-valued headers.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        assert!(name.len() <= u8::MAX as usize, "header name too long");
        assert!(value.len() <= u16::MAX as usize, "header value too long");
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(TYPE_STRING);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[..8]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An event message as Bedrock sends it (`:event-type`, `:content-type`, `:message-type`).
pub fn event(event_type: &str, payload: &serde_json::Value) -> Vec<u8> {
    encode_message(
        &[(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        &serde_json::to_vec(payload).expect("JSON"),
    )
}

/// An exception message (a modeled error inside the stream, e.g. `throttlingException`).
pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    encode_message(
        &[(":exception-type", exception_type), (":content-type", "application/json"), (":message-type", "exception")],
        &serde_json::to_vec(&serde_json::json!({ "message": message })).expect("JSON"),
    )
}

/// Cuts the concatenation of `frames` into writes whose boundaries all fall inside a frame:
/// each write is the tail of one frame plus the head of the next (the first is a head alone,
/// the last a tail alone), so a reader always sees frames split across reads, a prelude
/// split in two included.
pub fn split_writes(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut writes = Vec::with_capacity(frames.len() + 1);
    let mut current = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        // Vary the cut: inside the prelude (byte 3..11), inside the headers, or mid-payload.
        let cut = match i % 3 {
            0 => 3 + i % 8,
            1 => 12 + (f.len() - 16) / 3,
            _ => f.len() / 2,
        }
        .clamp(1, f.len() - 1);
        current.extend_from_slice(&f[..cut]);
        writes.push(std::mem::take(&mut current));
        current.extend_from_slice(&f[cut..]);
    }
    if !current.is_empty() {
        writes.push(current);
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_concatenate_to_frames() {
        let frames: Vec<Vec<u8>> = (0..7).map(|i| event("contentBlockDelta", &serde_json::json!({"i": i}))).collect();
        let writes = split_writes(&frames);
        assert_eq!(writes.len(), frames.len() + 1);
        assert_eq!(writes.concat(), frames.concat());
    }
}
