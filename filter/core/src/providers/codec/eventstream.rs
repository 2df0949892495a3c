//! The AWS event stream (`application/vnd.amazon.eventstream`) that Bedrock's ConverseStream
//! answers with: binary messages of
//!
//! ```text
//! total length u32 | headers length u32 | prelude CRC32 u32 | headers | payload | message CRC32 u32
//! ```
//!
//! each header being `name length u8 | name | type u8 | value` (type 7, string: `u16 length |
//! bytes`). Both CRCs are checked. A message split anywhere across reads waits in the decoder
//! for its remaining bytes.
//!
//! CRC32 (IEEE) is computed here with a 1 KiB table built at compile time rather than taken
//! from a crate: fifteen lines, no dependency, and fast enough for a stream of a few KB/s
//! (crc32fast's SIMD paths would add code to the wasm for speed the filter does not need).

/// Largest message accepted (AWS's event stream limit is 16 MiB of payload, 128 KiB of headers).
pub const MAX_MESSAGE: u32 = 16 * 1024 * 1024 + 128 * 1024 + 16;

const PRELUDE: usize = 12;

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32 (IEEE 802.3, as zlib and the event stream use it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A string header's value (`:event-type`, `:message-type`, `:exception-type`, ...).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The total length is below 16 bytes, above [`MAX_MESSAGE`], or smaller than its headers.
    Length(u32),
    PreludeCrc,
    MessageCrc,
    /// A header that runs past its section or has an unknown type.
    Headers,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Length(n) => write!(f, "event stream message with an impossible length ({n} bytes)"),
            DecodeError::PreludeCrc => f.write_str("event stream prelude CRC mismatch"),
            DecodeError::MessageCrc => f.write_str("event stream message CRC mismatch"),
            DecodeError::Headers => f.write_str("malformed event stream headers"),
        }
    }
}

/// Keeps a partial message across reads. After an error it stays failed: the stream's
/// boundaries can no longer be trusted.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf` (compacted when a read leaves it past half).
    start: usize,
    failed: Option<DecodeError>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        EventStreamDecoder::default()
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            if self.start > 0 && self.start * 2 >= self.buf.len() {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.decode();
        if let Err(e) = r {
            self.failed = Some(e);
            self.buf = Vec::new();
            self.start = 0;
        }
        r
    }

    /// Bytes of a message not yet complete.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start.min(self.buf.len())
    }

    fn decode(&mut self) -> Result<Option<Frame>, DecodeError> {
        let b = self.buf.get(self.start..).unwrap_or_default();
        if b.len() < PRELUDE {
            return Ok(None);
        }
        let total = be32(b, 0);
        let headers_len = be32(b, 4);
        if crc32(b.get(..8).unwrap_or_default()) != be32(b, 8) {
            return Err(DecodeError::PreludeCrc);
        }
        if !(16..=MAX_MESSAGE).contains(&total) || u64::from(headers_len) + 16 > u64::from(total) {
            return Err(DecodeError::Length(total));
        }
        let total = total as usize;
        let Some(msg) = b.get(..total) else { return Ok(None) };
        if crc32(msg.get(..total - 4).unwrap_or_default()) != be32(msg, total - 4) {
            return Err(DecodeError::MessageCrc);
        }
        let headers_end = PRELUDE + headers_len as usize;
        let headers = parse_headers(msg.get(PRELUDE..headers_end).unwrap_or_default())?;
        let payload = msg.get(headers_end..total - 4).unwrap_or_default().to_vec();
        self.start += total;
        Ok(Some(Frame { headers, payload }))
    }
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    let head = b.get(..n).ok_or(DecodeError::Headers)?;
    *b = b.get(n..).unwrap_or_default();
    Ok(head)
}

fn fixed<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(b, N)?);
    Ok(out)
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, DecodeError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let [name_len] = fixed::<1>(&mut b)?;
        let name = String::from_utf8_lossy(take(&mut b, name_len as usize)?).into_owned();
        let [ty] = fixed::<1>(&mut b)?;
        let value = match ty {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(fixed(&mut b)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(fixed(&mut b)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(fixed(&mut b)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(fixed(&mut b)?)),
            6 | 7 => {
                let len = u16::from_be_bytes(fixed(&mut b)?) as usize;
                let bytes = take(&mut b, len)?;
                if ty == 6 {
                    HeaderValue::Bytes(bytes.to_vec())
                } else {
                    HeaderValue::String(String::from_utf8_lossy(bytes).into_owned())
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed(&mut b)?)),
            9 => HeaderValue::Uuid(fixed(&mut b)?),
            _ => return Err(DecodeError::Headers),
        };
        out.push((name, value));
    }
    Ok(out)
}

/// Encodes a message with string headers: for tests and mock Bedrock servers.
pub fn encode_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        let name = name.as_bytes().get(..255).unwrap_or(name.as_bytes());
        let value = value.as_bytes().get(..65535).unwrap_or(value.as_bytes());
        h.push(name.len() as u8);
        h.extend_from_slice(name);
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value);
    }
    let total = (PRELUDE + h.len() + payload.len() + 4) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A Bedrock event message (`:message-type: event`).
pub fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_frame(
        &[(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip_and_all_header_types() {
        let f = encode_event("messageStart", br#"{"role":"assistant"}"#);
        let mut d = EventStreamDecoder::new();
        d.feed(&f);
        let frame = d.next_frame().unwrap().unwrap();
        assert_eq!(frame.header_str(":event-type"), Some("messageStart"));
        assert_eq!(frame.payload, br#"{"role":"assistant"}"#);
        assert_eq!(d.next_frame(), Ok(None));
        let mut h = Vec::new();
        for (ty, val) in [
            (0u8, &[][..]),
            (1, &[]),
            (2, &[1]),
            (3, &[0, 2]),
            (4, &[0, 0, 0, 3]),
            (5, &[0; 8]),
            (8, &[0; 8]),
            (9, &[7; 16]),
        ] {
            h.extend_from_slice(&[1, b'x', ty]);
            h.extend_from_slice(val);
        }
        h.extend_from_slice(&[1, b'b', 6, 0, 2, 0xff, 0]);
        let parsed = parse_headers(&h).unwrap();
        assert_eq!(parsed.len(), 9);
        assert_eq!(parsed[8].1, HeaderValue::Bytes(vec![0xff, 0]));
        assert_eq!(parse_headers(&[1, b'x', 10]), Err(DecodeError::Headers));
        assert_eq!(parse_headers(&[1, b'x', 7, 0, 9, b'a']), Err(DecodeError::Headers));
    }

    #[test]
    fn impossible_lengths_are_errors_not_waits() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&u32::MAX.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let mut d = EventStreamDecoder::new();
        d.feed(&prelude);
        assert_eq!(d.next_frame(), Err(DecodeError::Length(u32::MAX)));
        // Failed stays failed.
        d.feed(&encode_event("x", b"{}"));
        assert!(d.next_frame().is_err());
    }
}
