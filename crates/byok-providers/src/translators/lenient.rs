//! Lenient decoding of provider JSON into typed events.
//!
//! The translators read upstream events into private `#[derive(Deserialize)]`
//! types, parsed once per event. Upstreams are not always tidy, so a field of
//! the wrong JSON type reads as absent (as `Value::get(..).and_then(as_str)`
//! would), never as an error: the field helpers here ([`str`], [`u64`],
//! [`i64`], [`bool`], [`obj`], [`some_obj`], [`list`], [`first`],
//! [`present`]) accept any JSON value, and [`from_str`] reads a whole
//! document that way. [`tagged`] parses a `#[serde(tag = "type")]` event
//! whose `type` may be missing (the SSE `event:` name then names it).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::error::Category;

/// The first byte of a JSON object.
const OBJECT_START: u8 = 0x7B;

/// Where a tagged event's kind came from.
#[derive(Debug, PartialEq)]
pub(crate) enum Tag {
    /// The data's own string `type`.
    Own,
    /// The SSE event name; holds the data's `type` if it had a non-string one.
    Named(Option<Value>),
}

/// Parses one tagged event from `data`.
///
/// Only the top level may be a tagged enum: nested objects are structs with
/// a [`str`] `type` field (serde would take an integer as a nested tag).
///
/// The fast path is one typed parse. When that fails on the JSON's shape (no
/// string `type`, or a nested object without its tag), the event is read
/// again as a `Value` (rare, malformed input only): its kind is the `type`
/// string, else the SSE event `name`; an event that still does not fit is
/// `E::default()` (the `Unknown` catch-all, ignored by the translators).
///
/// # Errors
/// Invalid or truncated JSON.
pub(crate) fn tagged<'a, E>(
    data: &'a str,
    name: Option<&str>,
) -> Result<(E, Tag), serde_json::Error>
where
    E: Deserialize<'a> + Default,
{
    // Serde would also take `["kind", ...]` for a tagged enum: only objects
    // take the fast path.
    let object = data.trim_start().as_bytes().first() == Some(&OBJECT_START);
    match object.then(|| serde_json::from_str(data)) {
        Some(Ok(event)) => Ok((event, Tag::Own)),
        Some(Err(e)) if e.classify() != Category::Data => Err(e),
        _ => {
            let mut value: Value = serde_json::from_str(data)?;
            let (kind, tag) = match value.get("type") {
                Some(Value::String(own)) => (own.clone(), Tag::Own),
                other => (name.unwrap_or("").to_owned(), Tag::Named(other.cloned())),
            };
            match &mut value {
                Value::Object(map) => {
                    map.insert("type".into(), Value::String(kind));
                }
                other => *other = serde_json::json!({ "type": kind }),
            }
            // Read back through serde_json's own reader (strings owned), not
            // the `Value` deserializer, which would take numbers as tags.
            let text = value.to_string();
            let mut reader = serde_json::Deserializer::from_reader(text.as_bytes());
            Ok((E::deserialize(&mut reader).unwrap_or_default(), tag))
        }
    }
}

/// What a lenient field keeps of each JSON type (everything else: `None`).
trait Pick<'de>: Sized {
    fn borrowed_str(_: &'de str) -> Option<Self> {
        None
    }
    fn owned_str(_: &str) -> Option<Self> {
        None
    }
    fn unsigned(_: u64) -> Option<Self> {
        None
    }
    fn signed(_: i64) -> Option<Self> {
        None
    }
    fn boolean(_: bool) -> Option<Self> {
        None
    }
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

struct PickVisitor<T>(PhantomData<T>);

impl<'de, T: Pick<'de>> Visitor<'de> for PickVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::boolean(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(T::signed(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(T::unsigned(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(T::borrowed_str(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::owned_str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::seq(seq)
    }
}

impl<'de> Pick<'de> for Cow<'de, str> {
    fn borrowed_str(v: &'de str) -> Option<Self> {
        Some(Cow::Borrowed(v))
    }
    fn owned_str(v: &str) -> Option<Self> {
        Some(Cow::Owned(v.to_owned()))
    }
}

impl Pick<'_> for u64 {
    fn unsigned(v: u64) -> Option<Self> {
        Some(v)
    }
    fn signed(v: i64) -> Option<Self> {
        Self::try_from(v).ok()
    }
}

impl Pick<'_> for i64 {
    fn unsigned(v: u64) -> Option<Self> {
        Self::try_from(v).ok()
    }
    fn signed(v: i64) -> Option<Self> {
        Some(v)
    }
}

impl Pick<'_> for bool {
    fn boolean(v: bool) -> Option<Self> {
        Some(v)
    }
}

/// An object read as `T`; any other JSON value reads as absent.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Pick<'de> for Obj<T> {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Some(Obj(t)))
    }
}

/// An array of objects read as `T`s (other elements skipped).
struct List<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Pick<'de> for List<T> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Lenient<Obj<T>>>()? {
            if let Some(Obj(t)) = item.0 {
                out.push(t);
            }
        }
        Ok(Some(List(out)))
    }
}

/// The first element of an array, read as `T` if it is an object.
struct First<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Pick<'de> for First<T> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let first = seq.next_element::<Lenient<Obj<T>>>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(First(first.and_then(|l| l.0).map(|Obj(t)| t))))
    }
}

struct Lenient<T>(Option<T>);

impl<'de, T: Pick<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PickVisitor(PhantomData)).map(Lenient)
    }
}

fn pick<'de, D: Deserializer<'de>, T: Pick<'de>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_any(PickVisitor(PhantomData))
}

/// A string (borrowed when it has no escapes), else `None`.
pub(crate) fn str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    pick(d)
}

/// A non-negative integer, else `None` (like `Value::as_u64`).
pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    pick(d)
}

/// An integer that fits `i64`, else `None` (like `Value::as_i64`).
pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    pick(d)
}

/// A boolean, else `None`.
pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    pick(d)
}

/// An object read as `T`, else `None`.
pub(crate) fn obj<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    pick::<D, Obj<T>>(d).map(|o| o.map(|Obj(t)| t))
}

/// Present: an object read as `T`, any other value (`null` included) as
/// `T::default()`; use with `#[serde(default)]` so that absent is `None`.
pub(crate) fn some_obj<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    pick::<D, Obj<T>>(d).map(|o| Some(o.map(|Obj(t)| t).unwrap_or_default()))
}

/// The objects of an array, read as `T`s; anything else is empty.
pub(crate) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    pick::<D, List<T>>(d).map(|l| l.map(|List(v)| v).unwrap_or_default())
}

/// The first element of an array, if it is an object, read as `T`.
pub(crate) fn first<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    pick::<D, First<T>>(d).map(|f| f.and_then(|First(t)| t))
}

/// A whole document, buffered the way `Value` parses it (serde_json's
/// skipping of unknown fields reports some truncations differently).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Document<T> {
    Any(Lenient<Obj<T>>),
}

impl<T: Default> Document<T> {
    fn into_inner(self) -> T {
        let Document::Any(Lenient(value)) = self;
        value.map(|Obj(t)| t).unwrap_or_default()
    }
}

/// A whole document read as `T` when it is an object, else `T::default()`.
///
/// # Errors
/// Invalid or truncated JSON.
pub(crate) fn from_str<'a, T: Deserialize<'a> + Default>(
    data: &'a str,
) -> Result<T, serde_json::Error> {
    serde_json::from_str::<Document<T>>(data).map(Document::into_inner)
}

/// [`from_str`] over bytes.
///
/// # Errors
/// Invalid or truncated JSON.
pub(crate) fn from_slice<'a, T: Deserialize<'a> + Default>(
    data: &'a [u8],
) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<Document<T>>(data).map(Document::into_inner)
}

/// Any JSON value, `null` included (`Some(Value::Null)`): for fields whose
/// mere presence matters. Use with `#[serde(default)]`.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Inner<'a> {
        #[serde(default, borrow, deserialize_with = "str")]
        name: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Probe<'a> {
        #[serde(default, borrow, deserialize_with = "str")]
        s: Option<Cow<'a, str>>,
        #[serde(default, deserialize_with = "u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "bool")]
        b: Option<bool>,
        #[serde(default, borrow, deserialize_with = "obj")]
        o: Option<Inner<'a>>,
        #[serde(default, borrow, deserialize_with = "list")]
        l: Vec<Inner<'a>>,
        #[serde(default, deserialize_with = "present")]
        p: Option<Value>,
    }

    #[test]
    fn wrong_types_read_as_absent() {
        let p: Probe<'_> = serde_json::from_str(
            r#"{"s": 1, "n": -1, "i": 1.5, "b": "x", "o": [1], "l": {"a": 1}, "p": null}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Probe {
                p: Some(Value::Null),
                ..Probe::default()
            }
        );
        let p: Probe<'_> = serde_json::from_str(
            r#"{"s": "a\"b", "n": 7, "i": -7, "b": true, "o": {"name": "x"}, "l": [1, {"name": "y"}, {}]}"#,
        )
        .unwrap();
        assert_eq!(p.s.as_deref(), Some("a\"b"));
        assert_eq!((p.n, p.i, p.b), (Some(7), Some(-7), Some(true)));
        assert_eq!(p.o.unwrap().name.as_deref(), Some("x"));
        assert_eq!(p.l.len(), 2);
        assert!(p.p.is_none());
        let p: Probe<'_> = serde_json::from_str(r#"{"s": "plain"}"#).unwrap();
        assert!(matches!(p.s, Some(Cow::Borrowed("plain"))));
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Ev<'a> {
        Hello {
            #[serde(default, borrow, deserialize_with = "str")]
            who: Option<Cow<'a, str>>,
        },
        #[default]
        #[serde(other)]
        Unknown,
    }

    #[test]
    fn tagged_falls_back_to_the_event_name() {
        let e: (Ev<'_>, _) = tagged(r#"{"type":"hello","who":"a"}"#, None).unwrap();
        assert_eq!(
            e,
            (
                Ev::Hello {
                    who: Some("a".into())
                },
                Tag::Own
            )
        );
        let e: (Ev<'_>, _) = tagged(r#"{"who":"b"}"#, Some("hello")).unwrap();
        assert_eq!(
            e,
            (
                Ev::Hello {
                    who: Some("b".into())
                },
                Tag::Named(None)
            )
        );
        let e: (Ev<'_>, _) = tagged(r#"{"type":5,"who":"c"}"#, Some("hello")).unwrap();
        assert_eq!(
            e,
            (
                Ev::Hello {
                    who: Some("c".into())
                },
                Tag::Named(Some(5.into()))
            )
        );
        let e: (Ev<'_>, _) = tagged(r#"["hello", "x"]"#, None).unwrap();
        assert_eq!(e, (Ev::Unknown, Tag::Named(None)));
        let e: (Ev<'_>, _) = tagged("7", Some("hello")).unwrap();
        assert_eq!(e, (Ev::Hello { who: None }, Tag::Named(None)));
        let e: (Ev<'_>, _) = tagged(r#"{"type":"later"}"#, None).unwrap();
        assert_eq!(e, (Ev::Unknown, Tag::Own));
        let e: (Ev<'_>, _) = tagged(r#"{"x":1}"#, None).unwrap();
        assert_eq!(e, (Ev::Unknown, Tag::Named(None)));
        let err = tagged::<Ev<'_>>(r#"{"type":5,"#, None).unwrap_err();
        assert_eq!(err.classify(), Category::Eof);
        let err = tagged::<Ev<'_>>(r#"{"type":"hello"} x"#, None).unwrap_err();
        assert_eq!(err.classify(), Category::Syntax);
    }
}
