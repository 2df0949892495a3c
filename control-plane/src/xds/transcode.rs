//! Canonical JSON straight to protobuf bytes, walking the Envoy API descriptors.
//!
//! `prost-reflect` turns JSON into protobuf by building a `DynamicMessage` tree first (a map
//! per message, a boxed value per field) and encoding that; for 10,000 clusters the trees cost
//! more time than the translation itself, and their allocations set the memory peak. This
//! writes the bytes while it walks the JSON instead (hand-written because no crate does that
//! over runtime descriptors).
//!
//! It covers the JSON the translation writes: objects for messages (fields by their proto or
//! JSON name), arrays, enums by name or number, numbers for numeric fields, base64 bytes, and
//! the well-known types `Any`, `Duration`, `Struct`/`Value`/`ListValue` and the wrappers. For
//! anything else — another well-known type, an unknown field, a value of the wrong shape, a
//! null, a number written as a string — it returns [`Unsupported`] and the caller encodes the
//! resource through `prost-reflect` as before, so what is accepted, what is refused and every
//! error message stay `prost-reflect`'s.
//!
//! The output is what `prost-reflect` writes: fields in field-number order, defaults of fields
//! without presence left out, packed repeated scalars. Map entries follow the JSON's order
//! (`prost-reflect`'s follow a hash map's), so the bytes are deterministic.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

/// The JSON uses something this fast path leaves to `prost-reflect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

type Result<T = ()> = std::result::Result<T, Unsupported>;

/// The protobuf bytes of `json` as a `desc` message.
pub fn to_protobuf(desc: &MessageDescriptor, json: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    message(desc, json, &mut out)?;
    Ok(out)
}

/// Writes `json` as the fields of a `desc` message (no tag, no length).
fn message(desc: &MessageDescriptor, json: &Value, out: &mut Vec<u8>) -> Result {
    let name = desc.full_name();
    if let Some(wkt) = name.strip_prefix("google.protobuf.") {
        return well_known(desc, wkt, json, out);
    }
    let Value::Object(map) = json else { return Err(Unsupported) };
    fields(desc, map, None, out)
}

/// The fields of `map` (but `skip`, the `@type` of an `Any`) in field-number order.
fn fields(desc: &MessageDescriptor, map: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) -> Result {
    let mut set: Vec<(FieldDescriptor, &Value)> = Vec::with_capacity(map.len());
    for (key, value) in map {
        if skip == Some(key.as_str()) {
            continue;
        }
        // Proto names first: the translation writes those (a JSON name cannot be another
        // field's proto name, so the order does not change which field is found).
        let field = desc.get_field_by_name(key).or_else(|| desc.get_field_by_json_name(key)).ok_or(Unsupported)?;
        if value.is_null() {
            // Null is "not set", except where it is a value (`Value`, `NullValue`).
            match field.kind() {
                Kind::Message(m) if m.full_name() == "google.protobuf.Value" => return Err(Unsupported),
                Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => return Err(Unsupported),
                _ => continue,
            }
        }
        if let Some(oneof) = field.containing_oneof() {
            if set.iter().any(|(f, _)| f.containing_oneof().is_some_and(|o| o == oneof)) {
                return Err(Unsupported); // prost-reflect names the oneof in its error
            }
        }
        set.push((field, value));
    }
    set.sort_unstable_by_key(|(f, _)| f.number());
    if set.windows(2).any(|w| w[0].0.number() == w[1].0.number()) {
        return Err(Unsupported); // one field under its proto and its JSON name
    }
    for (field, value) in set {
        self::field(&field, value, out)?;
    }
    Ok(())
}

fn field(field: &FieldDescriptor, json: &Value, out: &mut Vec<u8>) -> Result {
    if field.is_group() {
        return Err(Unsupported);
    }
    let kind = field.kind();
    let number = field.number();
    if field.is_map() {
        let Value::Object(map) = json else { return Err(Unsupported) };
        let Kind::Message(entry) = &kind else { return Err(Unsupported) };
        let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        if key_field.kind() != Kind::String {
            return Err(Unsupported);
        }
        for (key, value) in map {
            encode_key(number, WireType::LengthDelimited, out);
            nested(out, |out| {
                string(1, key, !key_field.supports_presence(), out);
                single(&value_field, &value_field.kind(), value, out)
            })?;
        }
        return Ok(());
    }
    if field.is_list() {
        let Value::Array(items) = json else { return Err(Unsupported) };
        if items.is_empty() {
            return Ok(());
        }
        if field.is_packed() {
            encode_key(number, WireType::LengthDelimited, out);
            return nested(out, |out| items.iter().try_for_each(|item| packed(&kind, item, out)));
        }
        return items.iter().try_for_each(|item| single(field, &kind, item, out));
    }
    single(field, &kind, json, out)
}

/// One value of `field` (a singular field, a list element or a map value) with its tag.
fn single(field: &FieldDescriptor, kind: &Kind, json: &Value, out: &mut Vec<u8>) -> Result {
    if json.is_null() {
        return Err(Unsupported);
    }
    match kind {
        Kind::Message(desc) => {
            encode_key(field.number(), WireType::LengthDelimited, out);
            nested(out, |out| message(desc, json, out))
        }
        _ => scalar(field.number(), kind, json, !field.supports_presence(), out),
    }
}

/// A scalar or enum field; its default is left out when `skip_default` (no presence).
fn scalar(number: u32, kind: &Kind, json: &Value, skip_default: bool, out: &mut Vec<u8>) -> Result {
    match kind {
        Kind::String => string(number, json.as_str().ok_or(Unsupported)?, skip_default, out),
        Kind::Bytes => {
            let bytes = base64_bytes(json)?;
            if !(skip_default && bytes.is_empty()) {
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(bytes.len() as u64, out);
                out.extend_from_slice(&bytes);
            }
        }
        Kind::Message(_) => return Err(Unsupported),
        _ => {
            let word = Word::of(kind, json)?;
            if !(skip_default && word.is_default(kind)) {
                encode_key(number, word.wire_type(), out);
                word.write(out);
            }
        }
    }
    Ok(())
}

/// A string field; the empty string is left out when `skip_default`.
fn string(number: u32, s: &str, skip_default: bool, out: &mut Vec<u8>) {
    if !(skip_default && s.is_empty()) {
        encode_key(number, WireType::LengthDelimited, out);
        encode_varint(s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    }
}

/// One element of a packed list (no tag).
fn packed(kind: &Kind, json: &Value, out: &mut Vec<u8>) -> Result {
    Word::of(kind, json)?.write(out);
    Ok(())
}

/// A numeric, boolean or enum value as it goes on the wire.
#[derive(Clone, Copy)]
enum Word {
    Varint(u64),
    Fixed32(u32),
    Fixed64(u64),
}

impl Word {
    fn of(kind: &Kind, json: &Value) -> Result<Word> {
        let int = |min: i64, max: i64| json.as_i64().filter(|v| (min..=max).contains(v)).ok_or(Unsupported);
        let uint = |max: u64| json.as_u64().filter(|v| *v <= max).ok_or(Unsupported);
        Ok(match kind {
            Kind::Bool => Word::Varint(json.as_bool().ok_or(Unsupported)? as u64),
            // int32 is sign-extended to 64 bits on the wire, as prost writes it.
            Kind::Int32 => Word::Varint(int(i32::MIN.into(), i32::MAX.into())? as u64),
            Kind::Int64 => Word::Varint(int(i64::MIN, i64::MAX)? as u64),
            Kind::Uint32 => Word::Varint(uint(u32::MAX.into())?),
            Kind::Uint64 => Word::Varint(uint(u64::MAX)?),
            Kind::Sint32 => {
                let v = int(i32::MIN.into(), i32::MAX.into())? as i32;
                Word::Varint(((v << 1) ^ (v >> 31)) as u32 as u64)
            }
            Kind::Sint64 => {
                let v = int(i64::MIN, i64::MAX)?;
                Word::Varint(((v << 1) ^ (v >> 63)) as u64)
            }
            Kind::Fixed32 => Word::Fixed32(uint(u32::MAX.into())? as u32),
            Kind::Sfixed32 => Word::Fixed32(int(i32::MIN.into(), i32::MAX.into())? as i32 as u32),
            Kind::Fixed64 => Word::Fixed64(uint(u64::MAX)?),
            Kind::Sfixed64 => Word::Fixed64(int(i64::MIN, i64::MAX)? as u64),
            Kind::Double => Word::Fixed64(json.as_f64().ok_or(Unsupported)?.to_bits()),
            Kind::Float => {
                let v = json.as_f64().ok_or(Unsupported)?;
                if !(f32::MIN as f64..=f32::MAX as f64).contains(&v) {
                    return Err(Unsupported);
                }
                Word::Fixed32((v as f32).to_bits())
            }
            Kind::Enum(e) => {
                let n = match json {
                    Value::String(name) => e.get_value_by_name(name).ok_or(Unsupported)?.number(),
                    _ => int(i32::MIN.into(), i32::MAX.into())? as i32,
                };
                Word::Varint(n as i64 as u64)
            }
            Kind::String | Kind::Bytes | Kind::Message(_) => return Err(Unsupported),
        })
    }

    /// Whether this is the field's default, which a field without presence leaves out
    /// (-0.0 counts as 0.0, as prost-reflect compares them).
    fn is_default(&self, kind: &Kind) -> bool {
        match (*self, kind) {
            (Word::Fixed64(v), Kind::Double) => f64::from_bits(v) == 0.0,
            (Word::Fixed32(v), Kind::Float) => f32::from_bits(v) == 0.0,
            (Word::Varint(v) | Word::Fixed64(v), _) => v == 0,
            (Word::Fixed32(v), _) => v == 0,
        }
    }

    fn wire_type(&self) -> WireType {
        match self {
            Word::Varint(_) => WireType::Varint,
            Word::Fixed32(_) => WireType::ThirtyTwoBit,
            Word::Fixed64(_) => WireType::SixtyFourBit,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Word::Varint(v) => encode_varint(v, out),
            Word::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Word::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// Standard base64, as the translation writes bytes (other spellings go to prost-reflect).
fn base64_bytes(json: &Value) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let text = json.as_str().ok_or(Unsupported)?;
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| Unsupported)
}

/// Writes what `body` writes, preceded by its length (the length of a nested message is
/// known only once it is written: one byte is reserved and widened when needed).
fn nested(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>) -> Result) -> Result {
    let at = out.len();
    out.push(0);
    body(out)?;
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(encoded_len_varint(len as u64));
        encode_varint(len as u64, &mut prefix);
        out.splice(at..at + 1, prefix);
    }
    Ok(())
}

/// The well-known types whose JSON is not an object of their fields.
fn well_known(desc: &MessageDescriptor, wkt: &str, json: &Value, out: &mut Vec<u8>) -> Result {
    match wkt {
        "Any" => any(desc, json, out),
        "Duration" => duration(json, out),
        "Struct" => {
            let Value::Object(map) = json else { return Err(Unsupported) };
            struct_fields(map, out)
        }
        "Value" => struct_value(json, out),
        "ListValue" => {
            let Value::Array(items) = json else { return Err(Unsupported) };
            list_values(items, out)
        }
        "DoubleValue" | "FloatValue" | "Int64Value" | "UInt64Value" | "Int32Value" | "UInt32Value" | "BoolValue"
        | "StringValue" | "BytesValue" => {
            let value = desc.get_field(1).ok_or(Unsupported)?;
            scalar(1, &value.kind(), json, true, out)
        }
        "Timestamp" | "FieldMask" => Err(Unsupported),
        // Empty and the descriptor messages are plain objects.
        _ => {
            let Value::Object(map) = json else { return Err(Unsupported) };
            fields(desc, map, None, out)
        }
    }
}

/// `{"@type": URL, ...fields}`, or `{"@type": URL, "value": JSON}` for a well-known type.
fn any(desc: &MessageDescriptor, json: &Value, out: &mut Vec<u8>) -> Result {
    let Value::Object(map) = json else { return Err(Unsupported) };
    let type_url = map.get("@type").and_then(Value::as_str).ok_or(Unsupported)?;
    let name = type_url.rsplit_once('/').map(|(_, n)| n).filter(|n| !n.is_empty()).ok_or(Unsupported)?;
    let inner = desc.parent_pool().get_message_by_name(name).ok_or(Unsupported)?;
    string(1, type_url, true, out);
    let at = out.len();
    encode_key(2, WireType::LengthDelimited, out);
    nested(out, |out| {
        if is_well_known_type(name) {
            if map.len() != 2 {
                return Err(Unsupported);
            }
            message(&inner, map.get("value").ok_or(Unsupported)?, out)
        } else {
            fields(&inner, map, Some("@type"), out)
        }
    })?;
    // An empty payload is the default of `value`: left out, as prost-reflect does.
    if out.len() == at + 2 {
        out.truncate(at);
    }
    Ok(())
}

fn is_well_known_type(name: &str) -> bool {
    matches!(
        name.strip_prefix("google.protobuf."),
        Some(
            "Any"
                | "Timestamp"
                | "Duration"
                | "Struct"
                | "FloatValue"
                | "DoubleValue"
                | "Int32Value"
                | "Int64Value"
                | "UInt32Value"
                | "UInt64Value"
                | "BoolValue"
                | "StringValue"
                | "BytesValue"
                | "FieldMask"
                | "ListValue"
                | "Value"
                | "Empty"
        )
    )
}

/// `"1.5s"`, parsed by prost-types as prost-reflect does; range checked as it does.
fn duration(json: &Value, out: &mut Vec<u8>) -> Result {
    const MAX_SECONDS: i64 = 315_576_000_000;
    let d: prost_types::Duration = json.as_str().ok_or(Unsupported)?.parse().map_err(|_| Unsupported)?;
    if !(0..=MAX_SECONDS).contains(&d.seconds) || !(0..1_000_000_000).contains(&d.nanos) {
        return Err(Unsupported); // negative or out of range: prost-reflect decides
    }
    if d.seconds != 0 {
        encode_key(1, WireType::Varint, out);
        encode_varint(d.seconds as u64, out);
    }
    if d.nanos != 0 {
        encode_key(2, WireType::Varint, out);
        encode_varint(d.nanos as u64, out);
    }
    Ok(())
}

/// A `google.protobuf.Value`: the member of its `kind` oneof that the JSON's type names
/// (written even when it is zero: a oneof member has presence).
fn struct_value(json: &Value, out: &mut Vec<u8>) -> Result {
    match json {
        Value::Null => {
            encode_key(1, WireType::Varint, out);
            encode_varint(0, out);
        }
        Value::Number(n) => {
            encode_key(2, WireType::SixtyFourBit, out);
            out.extend_from_slice(&n.as_f64().ok_or(Unsupported)?.to_bits().to_le_bytes());
        }
        Value::String(s) => string(3, s, false, out),
        Value::Bool(b) => {
            encode_key(4, WireType::Varint, out);
            encode_varint(*b as u64, out);
        }
        Value::Object(map) => {
            encode_key(5, WireType::LengthDelimited, out);
            nested(out, |out| struct_fields(map, out))?;
        }
        Value::Array(items) => {
            encode_key(6, WireType::LengthDelimited, out);
            nested(out, |out| list_values(items, out))?;
        }
    }
    Ok(())
}

/// A `google.protobuf.Struct`'s fields: map entries of a name and a `Value`.
fn struct_fields(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result {
    for (key, value) in map {
        encode_key(1, WireType::LengthDelimited, out);
        nested(out, |out| {
            string(1, key, true, out);
            encode_key(2, WireType::LengthDelimited, out);
            nested(out, |out| struct_value(value, out))
        })?;
    }
    Ok(())
}

fn list_values(items: &[Value], out: &mut Vec<u8>) -> Result {
    for item in items {
        encode_key(1, WireType::LengthDelimited, out);
        nested(out, |out| struct_value(item, out))?;
    }
    Ok(())
}
