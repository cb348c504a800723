//! Reading structs from JSON objects only: for the strict readings of the
//! OpenAI dialect (`translators/openai`), which decide whether an
//! upstream's bytes say exactly what the parsed value says (and so may be
//! forwarded as they came), and for the usage details that bill.
//!
//! serde reads a struct from a JSON array too, its fields by position
//! (`"delta":["assistant","hi"]` as `{"role":"assistant","content":"hi"}`).
//! A strict reading must not: the bytes forwarded would hold an array where
//! the parsed chunk, which bills, builds transcripts and feeds the other
//! protocols, holds an object. [`Object`] reads only a JSON object.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A `T` read from a JSON object only (see the module).
#[repr(transparent)]
pub(crate) struct Object<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnlyAMap<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyAMap<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        d.deserialize_map(OnlyAMap(PhantomData)).map(Object)
    }
}

/// A struct member read from an object only.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Object::deserialize(d).map(|o| o.0)
}

/// An optional struct member (`null` as missing) read from an object only.
pub(crate) fn object_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Object<T>>::deserialize(d)?.map(|o| o.0))
}

/// A list of structs, each read from an object only.
pub(crate) fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Vec::<Object<T>>::deserialize(d)?
        .into_iter()
        .map(|o| o.0)
        .collect())
}

/// An optional list (`null` as missing) of structs, each read from an
/// object only.
pub(crate) fn objects_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Ok(Option::<Vec<Object<T>>>::deserialize(d)?.map(|v| v.into_iter().map(|o| o.0).collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair<'a> {
        #[serde(borrow)]
        a: std::borrow::Cow<'a, str>,
        #[serde(default)]
        b: u8,
    }

    #[test]
    fn a_struct_reads_from_an_object_only() {
        // What plain serde does, and what `Object` refuses.
        assert!(serde_json::from_str::<Pair<'_>>(r#"["x",1]"#).is_ok());
        assert!(serde_json::from_str::<Object<Pair<'_>>>(r#"["x",1]"#).is_err());
        assert!(serde_json::from_str::<Object<Pair<'_>>>("null").is_err());
        let read: Object<Pair<'_>> = serde_json::from_str(r#"{"a":"x","b":1}"#).unwrap();
        assert_eq!(
            read.0,
            Pair {
                a: "x".into(),
                b: 1
            }
        );
        assert!(
            matches!(read.0.a, std::borrow::Cow::Borrowed(_)),
            "strings still borrowed"
        );
        // What the struct refuses, it still refuses.
        assert!(serde_json::from_str::<Object<Pair<'_>>>(r#"{"a":"x","c":1}"#).is_err());
        assert!(serde_json::from_str::<Object<Pair<'_>>>(r#"{"b":1}"#).is_err());
    }
}
