//! Reading and writing JSON without a tree in between: bodies are read in place (typed structs
//! that borrow, [`RawValue`] for the parts read later or passed on) and written straight into
//! bytes. A `serde_json::Value` costs from 30 to several hundred bytes per JSON value, so a body
//! of many tiny objects (`[{},{},...]`) would take a hundred times its size; read this way the
//! memory a body takes stays within a small multiple of its size, whatever its shape.
//!
//! - Reading: [`each`] walks an array element by element and [`each_field`] an object key by
//!   key, both handing out the raw elements; structs declared with [`reader!`] read an object's
//!   members into typed fields ([`Str`], [`U64`], [`Bool`], [`Obj`], [`First`], raw values), the
//!   way `Value::get` and `as_str` read a tree (a member of another type counts as absent).
//! - Writing: [`string`], [`ObjectWriter`], and [`minify`] for JSON passed on as text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::RequestError;

// --- Reading ---

/// A 400 for a request that is not well formed.
fn invalid(msg: String) -> RequestError {
    RequestError::bad_request("invalid_request", msg)
}

/// Walks an array for [`each`]; the callback's error is kept in `err` while serde unwinds with
/// a placeholder of its own.
struct Walk<'f, 'a> {
    f: &'f mut dyn FnMut(usize, &'a RawValue) -> Result<(), RequestError>,
    err: &'f mut Option<RequestError>,
}

impl<'de: 'a, 'a> Visitor<'de> for Walk<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            if let Err(e) = (self.f)(i, v) {
                *self.err = Some(e);
                return Err(de::Error::custom("stopped"));
            }
            i += 1;
        }
        Ok(())
    }
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Walk<'_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// Calls `f(index, element)` for each element of the JSON array `raw`, in order, stopping at
/// the first error (so a bad element is refused before the rest is read). `at` names the array
/// in errors (`messages[2].content`).
pub(crate) fn each<'a>(
    raw: &'a RawValue,
    at: &dyn fmt::Display,
    f: &mut dyn FnMut(usize, &'a RawValue) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    if !raw.get().starts_with('[') {
        return Err(invalid(format!("'{at}' must be an array")));
    }
    let mut err = None;
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let walk = Walk { f, err: &mut err };
    match (walk.deserialize(&mut de), err) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(invalid(format!("'{at}' is not valid JSON: {e}"))),
        (Ok(()), None) => Ok(()),
    }
}

/// The number of elements of the JSON array `raw` (0 when it is not an array).
pub(crate) fn count(raw: &RawValue) -> usize {
    let mut n = 0;
    let _ = each(raw, &"", &mut |_, _| {
        n += 1;
        Ok(())
    });
    n
}

struct Fields<'f, 'a> {
    f: &'f mut dyn FnMut(Cow<'a, str>, &'a RawValue) -> Result<(), RequestError>,
    err: &'f mut Option<RequestError>,
}

impl<'de: 'a, 'a> Visitor<'de> for Fields<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value = map.next_value::<&'de RawValue>()?;
            if let Err(e) = (self.f)(key, value) {
                *self.err = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// Calls `f(key, value)` for each member of the JSON object `text`, in order (a repeated key
/// comes twice). Anything but an object is a 400 that says what was wrong.
pub(crate) fn each_field<'a>(
    text: &'a str,
    f: &mut dyn FnMut(Cow<'a, str>, &'a RawValue) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    let mut err = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let r = de.deserialize_map(Fields { f, err: &mut err }).and_then(|()| de.end());
    match (r, err) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(invalid(format!("request body is not a JSON object: {e}"))),
        (Ok(()), None) => Ok(()),
    }
}

/// `raw` read as `T` when it is a JSON object; `at` names it in the error otherwise.
pub(crate) fn object<'a, T: Object<'a>>(raw: &'a RawValue, at: &dyn fmt::Display) -> Result<T, RequestError> {
    fields_of(raw).ok_or_else(|| invalid(format!("{at} must be an object")))
}

/// `raw` read as `T`, or `None` when it is not one (the value's type is the client's mistake,
/// named by the caller).
pub(crate) fn read<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// `raw` as a string (borrowed from the body unless it holds escapes), `None` when it is not one.
pub(crate) fn str(raw: &RawValue) -> Option<Cow<'_, str>> {
    read::<Str<'_>>(raw).and_then(|s| s.0)
}

/// `raw` read as `T` when it is a JSON object, `None` otherwise (a lookup through it finds
/// nothing, as with `Value::get`).
pub(crate) fn fields_of<'a, T: Object<'a>>(raw: &'a RawValue) -> Option<T> {
    raw.get().starts_with('{').then(|| T::read(raw))
}

/// Whether `raw` is JSON `null` (a key holding it counts as absent).
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// A field read like `Value::as_str`: a string, or `None` for any other value.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Str<'a>(pub Option<Cow<'a, str>>);

impl<'a> Str<'a> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A field read like `Value::as_u64`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct U64(pub Option<u64>);

/// A field read like `Value::as_bool`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Bool(pub Option<bool>);

/// What any JSON value holds of one scalar type; containers are skipped without being kept.
#[derive(Default)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    Bool(bool),
    #[default]
    Other,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::U64))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ScalarVisitor)? {
            Scalar::Str(s) => Str(Some(s)),
            _ => Str(None),
        })
    }
}

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ScalarVisitor)? {
            Scalar::U64(n) => U64(Some(n)),
            _ => U64(None),
        })
    }
}

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ScalarVisitor)? {
            Scalar::Bool(b) => Bool(Some(b)),
            _ => Bool(None),
        })
    }
}

/// A struct read from a JSON object member by member, as `Value::get` reads one: a missing
/// member, or one of another type, is the field's default. Declared with [`reader!`].
pub(crate) trait Object<'a>: Default {
    /// Reads `raw`, a JSON object (anything else reads as the default).
    fn read(raw: &'a RawValue) -> Self;
}

/// A field of a [`reader!`] struct: how one member's value is read.
pub(crate) trait Field<'a>: Sized {
    fn read_field(raw: &'a RawValue) -> Self;
}

/// Declares a struct read from a JSON object by [`Object::read`]: `"member" => field: Type`,
/// each type a [`Field`]. Written instead of `#[derive(Deserialize)]`: one non-generic loop over
/// the members serves every struct, where serde generates a visitor per struct (about 3 KB of
/// wasm each). A repeated member takes its last value.
macro_rules! reader {
    ($(#[$meta:meta])* $vis:vis struct $name:ident<$a:lifetime> { $($key:literal => $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Default)]
        $vis struct $name<$a> { $(pub(crate) $field: $ty,)* }

        impl<$a> $crate::providers::json::Object<$a> for $name<$a> {
            fn read(raw: &$a serde_json::value::RawValue) -> Self {
                let mut s = Self::default();
                $crate::providers::json::members(raw, &mut |key, value| match key {
                    $($key => s.$field = $crate::providers::json::Field::read_field(value),)*
                    _ => {}
                });
                s
            }
        }
    };
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($key:literal => $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Default)]
        $vis struct $name { $(pub(crate) $field: $ty,)* }

        impl<'a> $crate::providers::json::Object<'a> for $name {
            fn read(raw: &'a serde_json::value::RawValue) -> Self {
                let mut s = Self::default();
                $crate::providers::json::members(raw, &mut |key, value| match key {
                    $($key => s.$field = $crate::providers::json::Field::read_field(value),)*
                    _ => {}
                });
                s
            }
        }
    };
}
pub(crate) use reader;

/// Calls `f(key, value)` for each member of `raw` when it is a JSON object.
pub(crate) fn members<'a>(raw: &'a RawValue, f: &mut dyn FnMut(&str, &'a RawValue)) {
    if raw.get().starts_with('{') {
        let _ = each_field(raw.get(), &mut |k, v| {
            f(&k, v);
            Ok(())
        });
    }
}

impl<'a> Field<'a> for Str<'a> {
    fn read_field(raw: &'a RawValue) -> Self {
        Str(str(raw))
    }
}

impl<'a> Field<'a> for U64 {
    fn read_field(raw: &'a RawValue) -> Self {
        read::<U64>(raw).unwrap_or_default()
    }
}

impl<'a> Field<'a> for Bool {
    fn read_field(raw: &'a RawValue) -> Self {
        read::<Bool>(raw).unwrap_or_default()
    }
}

/// Any value, kept as it is (`null` is none).
impl<'a> Field<'a> for Option<&'a RawValue> {
    fn read_field(raw: &'a RawValue) -> Self {
        (!is_null(raw)).then_some(raw)
    }
}

/// A field read like `Value::get` on an object: `T` when it is an object, `None` for any other
/// value (as a lookup through a non-object finds nothing).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<'a, T: Object<'a>> Field<'a> for Obj<T> {
    fn read_field(raw: &'a RawValue) -> Self {
        Obj(fields_of(raw))
    }
}

/// A field read like `Value::pointer("/field/0")`: the first element of an array (the rest is
/// not read); `None` for an empty array or any other value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct First<T>(pub Option<T>);

impl<T> Default for First<T> {
    fn default() -> Self {
        First(None)
    }
}

impl<'a, T: Field<'a>> Field<'a> for First<T> {
    fn read_field(raw: &'a RawValue) -> Self {
        if !raw.get().starts_with('[') {
            return First(None);
        }
        let mut first = None;
        let _ = each(raw, &"", &mut |_, v| {
            first = Some(T::read_field(v));
            // Stop at once: the rest is not read.
            Err(invalid(String::new()))
        });
        First(first)
    }
}

/// A provider's JSON document read as the object `T`: a valid document of another type reads
/// as `T::default()` (a lookup in it finds nothing, as in a `Value`); invalid JSON is an error.
pub(crate) fn document<'a, T: Object<'a>>(body: &'a [u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(body).map_err(|_| de::Error::custom("the body is not UTF-8"))?;
    let raw: &RawValue = serde_json::from_str(text)?;
    Ok(fields_of(raw).unwrap_or_default())
}

/// A provider's JSON document as raw JSON, `None` when it is not JSON.
pub(crate) fn raw_document(body: &[u8]) -> Option<&RawValue> {
    serde_json::from_str(std::str::from_utf8(body).ok()?).ok()
}

/// The first element of an array (the rest is skipped), or the value itself when it is not an
/// array: Google answers errors either way.
pub(crate) fn first_or_self(raw: &RawValue) -> &RawValue {
    if !raw.get().starts_with('[') {
        return raw;
    }
    let mut first = None;
    let _ = each(raw, &"", &mut |_, v| {
        first = Some(v);
        // Stop at once: the rest is not read.
        Err(invalid(String::new()))
    });
    first.unwrap_or(raw)
}

// --- Writing ---

/// Appends `s` as a JSON string.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends a number as JSON (`null` for a float that is not finite).
pub(crate) fn number(out: &mut Vec<u8>, n: impl serde::Serialize) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &n);
}

/// Appends JSON text with its insignificant whitespace removed (answers' tool arguments are
/// passed on as the compact text OpenAI clients expect). `text` must be valid JSON.
pub(crate) fn minify(out: &mut Vec<u8>, text: &str) {
    minify_at_most(out, text, usize::MAX);
}

/// Appends JSON text, made compact as by [`minify`], as a JSON string holding it (in one pass,
/// without the compact text in between).
pub(crate) fn minify_as_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if !in_string && matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            in_string = b == b'"';
        }
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// [`minify`], stopping once `limit` bytes are written; true when all of `text` was.
fn minify_at_most(out: &mut Vec<u8>, text: &str, limit: usize) -> bool {
    let start = out.len();
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if out.len() - start >= limit {
            return false;
        }
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    true
}

/// JSON text for an error message: compact, cut at 60 bytes.
pub(crate) fn short(raw: &RawValue) -> String {
    let mut out = Vec::new();
    let whole = minify_at_most(&mut out, raw.get(), 61);
    if whole && out.len() <= 60 {
        return String::from_utf8_lossy(&out).into_owned();
    }
    let mut end = 57;
    while end > 0 && (out.get(end).is_some_and(|b| b & 0xC0 == 0x80)) {
        end -= 1;
    }
    format!("{}...", String::from_utf8_lossy(out.get(..end).unwrap_or_default()))
}

/// Writes one JSON object member by member: `{"a":1,"b":...}`.
pub(crate) struct ObjectWriter<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> ObjectWriter<'o> {
    pub fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, empty: true }
    }

    /// Starts the member `key`; its value is written next, into the returned buffer.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(self.out, key);
        self.out.push(b':');
        self.out
    }

    /// The body, to go on writing the last member's value.
    pub fn continued(&mut self) -> &mut Vec<u8> {
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) {
        string(self.key(key), value);
    }

    /// A member whose value is JSON text already.
    pub fn raw(&mut self, key: &str, json: &str) {
        self.key(key).extend_from_slice(json.as_bytes());
    }

    pub fn u64(&mut self, key: &str, value: u64) {
        number(self.key(key), value);
    }

    pub fn i64(&mut self, key: &str, value: i64) {
        number(self.key(key), value);
    }

    /// A number; `null` when it is not finite (JSON has no NaN or infinity).
    pub fn f64(&mut self, key: &str, value: f64) {
        number(self.key(key), value);
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }

    pub fn null(&mut self, key: &str) {
        self.raw(key, "null");
    }

    /// A member whose value is a string, or `null` when there is none.
    pub fn str_or_null(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// Starts the member `key` holding an object, written through the returned writer (close
    /// it before writing the next member).
    pub fn object(&mut self, key: &str) -> ObjectWriter<'_> {
        ObjectWriter::open(self.key(key))
    }

    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Where the object stands, to [`Self::rewind`] to when a member turns out to be empty.
    pub fn mark(&self) -> (usize, bool) {
        (self.out.len(), self.empty)
    }

    /// Takes back everything written since `mark`.
    pub fn rewind(&mut self, (len, empty): (usize, bool)) {
        self.out.truncate(len);
        self.empty = empty;
    }

    pub fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn each_stops_at_the_first_error_and_names_the_array() {
        let mut seen = Vec::new();
        let r = each(raw("[1, 2, 3, 4]"), &"xs", &mut |i, v| {
            seen.push(v.get().to_owned());
            if i == 1 {
                return Err(invalid("two".into()));
            }
            Ok(())
        });
        assert_eq!((r.unwrap_err().message, seen), ("two".to_owned(), vec!["1".to_owned(), "2".to_owned()]));
        assert!(each(raw("{}"), &"xs", &mut |_, _| Ok(())).unwrap_err().message.contains("'xs' must be an array"));
        assert_eq!(count(raw("[{},[],\"\"]")), 3);
    }

    #[test]
    fn fields_in_order_and_only_objects() {
        let mut keys = Vec::new();
        each_field(r#"{"b":1,"a\u0041":[2],"b":null}"#, &mut |k, v| {
            keys.push((k.into_owned(), v.get().to_owned()));
            Ok(())
        })
        .unwrap();
        assert_eq!(keys, [("b".into(), "1".into()), ("aA".into(), "[2]".into()), ("b".into(), "null".into())]);
        for bad in ["[1]", "{", "{} x", "\"s\""] {
            assert_eq!(each_field(bad, &mut |_, _| Ok(())).unwrap_err().status, 400, "{bad}");
        }
    }

    reader! {
        struct Outer<'a> {
            "s" => s: Str<'a>,
            "n" => n: U64,
            "b" => b: Bool,
            "o" => o: Obj<Inner>,
            "f" => f: First<Obj<Inner>>,
            "r" => r: Option<&'a RawValue>,
        }
    }

    reader! {
        #[derive(Debug, PartialEq)]
        struct Inner {
            "n" => n: U64,
        }
    }

    #[test]
    fn readers_read_like_value_accessors() {
        let t: Outer = document(br#"{"s":{"x":[1]},"n":-1,"b":"true","o":[{"n":1}],"f":{},"r":null}"#).unwrap();
        assert_eq!((t.s.0, t.n.0, t.b.0, t.r.is_none()), (None, None, None, true));
        assert_eq!((t.o.0, t.f.0), (None, None));
        let t: Outer = document(br#"{"s":"a\"b","n":7,"b":false,"o":{"n":2,"m":{}},"f":[{"n":3},5],"r":[1]}"#).unwrap();
        assert_eq!((t.s.as_deref(), t.n.0, t.b.0), (Some("a\"b"), Some(7), Some(false)));
        assert_eq!((t.o.0.and_then(|o| o.n.0), t.f.0.and_then(|f| f.0).and_then(|f| f.n.0)), (Some(2), Some(3)));
        assert_eq!(t.r.map(RawValue::get), Some("[1]"));
        // A repeated member takes its last value; a document of another type reads as empty.
        assert_eq!(document::<Inner>(br#"{"n":1,"n":2}"#).unwrap().n.0, Some(2));
        assert_eq!(document::<Inner>(b"[1]").unwrap().n.0, None);
        assert!(document::<Inner>(b"{").is_err() && document::<Inner>(b"\xff").is_err());
    }

    #[test]
    fn minify_as_a_string_is_minify_then_string() {
        for text in [r#"{ "a b" : [1, "\" x\\" ],\n"c":{} }"#, "\"é\\u0001\"", "[ ]"] {
            let mut compact = Vec::new();
            minify(&mut compact, text);
            let mut want = Vec::new();
            string(&mut want, std::str::from_utf8(&compact).unwrap());
            let mut got = Vec::new();
            minify_as_string(&mut got, text);
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        }
    }

    #[test]
    fn minify_and_short() {
        let mut out = Vec::new();
        minify(&mut out, "{ \"a b\" : [1, \"\\\" x\" ],\n\"c\":{} }");
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a b":[1,"\" x"],"c":{}}"#);
        assert_eq!(short(raw(r#"{ "type" : "json_object" }"#)), r#"{"type":"json_object"}"#);
        let long = format!("\"{}\"", "é".repeat(100));
        let s = short(raw(&long));
        assert!(s.ends_with("...") && s.len() <= 60, "{s}");
    }

    #[test]
    fn first_or_self_takes_googles_array_form() {
        assert_eq!(first_or_self(raw(r#"[{"a":1},{"b":2}]"#)).get(), r#"{"a":1}"#);
        assert_eq!(first_or_self(raw(r#"{"a":1}"#)).get(), r#"{"a":1}"#);
        assert_eq!(first_or_self(raw("[]")).get(), "[]");
    }

    #[test]
    fn object_writer() {
        let mut out = Vec::new();
        let mut o = ObjectWriter::open(&mut out);
        o.str("a", "x\"");
        o.raw("b", "[1]");
        let mut c = o.object("c");
        c.bool("d", true);
        c.null("e");
        c.close();
        o.u64("f", u64::MAX);
        o.i64("g", -1);
        o.f64("h", 0.5);
        o.f64("i", f64::NAN);
        o.str_or_null("j", None);
        o.close();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x\"","b":[1],"c":{"d":true,"e":null},"f":18446744073709551615,"g":-1,"h":0.5,"i":null,"j":null}"#
        );
    }
}
