//! One record of a JSON listing, kept only at the keys its field map reads. The other keys are
//! skipped while parsing, and no map of the record's keys is built: building a `Value` map per
//! record was a sixth of a no-change pass at 10k people (docs/BENCHMARKS.md), and real PMS
//! records carry many keys no field is mapped to.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::value::{kind, step};

/// The top-level keys a record is read at: the first segment of each mapped field's path.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    heads: Vec<String>,
}

/// A record as read through a [`Picker`].
#[derive(Debug, Clone, PartialEq)]
pub enum Picked {
    /// An object: the values at the picker's keys, in its order (`None` where absent).
    Object(Vec<Option<Value>>),
    /// Anything but an object, by its kind ("a string", "null"…), for the reason to skip it.
    Other(&'static str),
}

impl Picker {
    /// Reads records at the keys the dotted `paths` start with ("" maps nothing).
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Picker {
        let mut heads: Vec<String> = Vec::new();
        for path in paths {
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let head = head(path).0;
            if !heads.iter().any(|h| h == head) {
                heads.push(head.to_string());
            }
        }
        Picker { heads }
    }

    fn slot(&self, key: &str) -> Option<usize> {
        self.heads.iter().position(|h| h == key)
    }

    /// `path` found in this picker once, to read it from every record without looking its
    /// first key up again (doing that per record and field was a tenth of a 10k pass, by
    /// callgrind).
    pub fn path(&self, path: &str) -> PickPath {
        let trimmed = path.trim();
        let (slot, rest) = if trimmed.is_empty() {
            (None, Vec::new())
        } else {
            let (first, rest) = head(trimmed);
            let rest = rest.map(|r| r.split('.').map(String::from).collect());
            (self.slot(first), rest.unwrap_or_default())
        };
        PickPath {
            text: path.to_string(),
            slot,
            rest,
        }
    }
}

/// A dotted path found in a [`Picker`]: its first key's slot and the keys after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickPath {
    /// As configured, for messages.
    pub text: String,
    /// `None` for "" (nothing mapped).
    slot: Option<usize>,
    rest: Vec<String>,
}

impl PickPath {
    /// The value at this path of `record`, read as [`super::value::lookup`] reads it from the
    /// whole record; `None` for "".
    pub fn get<'r>(&self, record: &'r Picked) -> Option<&'r Value> {
        let Picked::Object(values) = record else {
            return None;
        };
        let value = values.get(self.slot?)?.as_ref()?;
        self.rest.iter().try_fold(value, |v, key| step(v, key))
    }
}

impl Picked {
    pub fn is_object(&self) -> bool {
        matches!(self, Picked::Object(_))
    }

    /// "an object", "a string"… for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Picked::Object(_) => "an object",
            Picked::Other(kind) => kind,
        }
    }
}

/// A path's first key, and the rest of the path after its dot.
fn head(path: &str) -> (&str, Option<&str>) {
    match path.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    }
}

impl<'de> DeserializeSeed<'de> for &Picker {
    type Value = Picked;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Picked, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &Picker {
    type Value = Picked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Picked, E> {
        Ok(Picked::Other(kind(&Value::Bool(false))))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Picked, E> {
        Ok(Picked::Other(kind(&Value::from(0))))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Picked, E> {
        Ok(Picked::Other(kind(&Value::from(0))))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Picked, E> {
        Ok(Picked::Other(kind(&Value::from(0))))
    }

    fn visit_str<E>(self, _: &str) -> Result<Picked, E> {
        Ok(Picked::Other(kind(&Value::String(String::new()))))
    }

    fn visit_unit<E>(self) -> Result<Picked, E> {
        Ok(Picked::Other(kind(&Value::Null)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Picked, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Picked::Other(kind(&Value::Array(Vec::new()))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked, A::Error> {
        let mut values = vec![None; self.heads.len()];
        while let Some(slot) = map.next_key_seed(Key(self))? {
            match slot {
                // A key given twice keeps its last value, as serde_json's own map does.
                Some(i) => values[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Picked::Object(values))
    }
}

/// Reads a record's key as its picker slot, without allocating it.
struct Key<'p>(&'p Picker);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.slot(key))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sources::value::lookup;

    const PATHS: [&str; 5] = ["id", "name.first", "name.last", " unit ", ""];

    fn pick(text: &str) -> Picked {
        let picker = Picker::new(PATHS);
        picker
            .deserialize(&mut serde_json::Deserializer::from_str(text))
            .expect("parses")
    }

    #[test]
    fn a_picked_record_reads_as_the_whole_record_reads_at_every_mapped_path() {
        let text = r#"{"id":7,"name":{"first":"Ana","last":null},"unit":"101","notes":[1,{"a":2}],"extra":{"x":"y"}}"#;
        let whole: Value = serde_json::from_str(text).expect("json");
        let picked = pick(text);
        let picker = Picker::new(PATHS);
        for path in [
            "id",
            "name.first",
            "name.last",
            " unit ",
            "name.middle",
            "name",
        ] {
            assert_eq!(
                picker.path(path).get(&picked),
                lookup(&whole, path),
                "{path}"
            );
        }
        // Keys no field maps are not kept.
        assert_eq!(picker.path("notes").get(&picked), None);
        assert_eq!(picker.path("").get(&picked), None);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_serde_json_does() {
        let picker = Picker::new(PATHS);
        let picked = pick(r#"{"id":1,"id":"R-2"}"#);
        assert_eq!(picker.path("id").get(&picked), Some(&json!("R-2")));
    }

    #[test]
    fn anything_but_an_object_is_told_by_its_kind() {
        for (text, kind) in [
            ("[1,{\"id\":2}]", "an array"),
            ("\"R-1\"", "a string"),
            ("3.5", "a number"),
            ("-3", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
            ("{}", "an object"),
        ] {
            let picked = pick(text);
            assert_eq!(picked.kind(), kind, "{text}");
            assert_eq!(picked.is_object(), kind == "an object", "{text}");
        }
    }

    #[test]
    fn broken_json_inside_a_skipped_key_is_still_an_error() {
        let picker = Picker::new(PATHS);
        let e = picker
            .deserialize(&mut serde_json::Deserializer::from_str(
                r#"{"id":1,"notes":[1,}"#,
            ))
            .expect_err("an error");
        assert!(e.to_string().contains("expected value"), "{e}");
    }
}
