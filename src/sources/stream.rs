//! Reads a JSON document whose records array is handed out one record at a time, so that a
//! large single-page export never exists as one `Value` tree: the tree of 100k residents costs
//! about three times the body, on top of the body and the records made from it.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `body`, calling `on_record` for each element of the array at the dotted `path` ("" is
/// the document itself), in order, as `record` reads it. Returns the rest of the document: there
/// the array stands empty, or, when `path` holds something else, that value as it is, so the
/// caller reports it. A key on the path that appears twice is an error, since its records would
/// be read twice.
pub fn parse_records<R, T>(
    body: &[u8],
    path: &str,
    record: R,
    on_record: &mut dyn FnMut(T),
) -> Result<Value, serde_json::Error>
where
    R: Copy + for<'de> DeserializeSeed<'de, Value = T>,
{
    let path = path.trim();
    let segments: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').collect()
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let document = Node {
        path: &segments,
        record,
        on_record,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(document)
}

/// One value of the document, with the part of the records path still ahead of it.
struct Node<'p, 'f, R, T> {
    path: &'p [&'p str],
    record: R,
    on_record: &'f mut dyn FnMut(T),
}

impl<'de, R, T> DeserializeSeed<'de> for Node<'_, '_, R, T>
where
    R: Copy + for<'r> DeserializeSeed<'r, Value = T>,
{
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R, T> Visitor<'de> for Node<'_, '_, R, T>
where
    R: Copy + for<'r> DeserializeSeed<'r, Value = T>,
{
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some((head, rest)) = self.path.split_first() else {
            while let Some(record) = seq.next_element_seed(self.record)? {
                (self.on_record)(record);
            }
            return Ok(Value::Array(Vec::new()));
        };
        let index = head.parse::<usize>().ok();
        let mut items = Vec::new();
        loop {
            let item = if index == Some(items.len()) {
                seq.next_element_seed(Node {
                    path: rest,
                    record: self.record,
                    on_record: &mut *self.on_record,
                })?
            } else {
                seq.next_element::<Value>()?
            };
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match self.path.split_first() {
                Some((head, rest)) if *head == key => {
                    if object.contains_key(&key) {
                        return Err(A::Error::custom(format!(
                            "key {key:?} on the records path appears twice"
                        )));
                    }
                    map.next_value_seed(Node {
                        path: rest,
                        record: self.record,
                        on_record: &mut *self.on_record,
                    })?
                }
                _ => map.next_value::<Value>()?,
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use std::marker::PhantomData;

    use serde_json::json;

    use super::*;

    fn records(body: &str, path: &str) -> Result<(Vec<Value>, Value), String> {
        let mut seen = Vec::new();
        let rest = parse_records(body.as_bytes(), path, PhantomData::<Value>, &mut |r| {
            seen.push(r)
        })
        .map_err(|e| e.to_string())?;
        Ok((seen, rest))
    }

    #[test]
    fn records_at_a_nested_path_are_handed_out_in_order_and_the_rest_is_kept() {
        let body =
            r#"{"meta":{"total":2,"next":"p2"},"data":{"items":[{"id":1},{"id":"b"}],"x":[1]}}"#;
        let (seen, rest) = records(body, "data.items").expect("parses");
        assert_eq!(seen, vec![json!({"id": 1}), json!({"id": "b"})]);
        assert_eq!(
            rest,
            json!({"meta": {"total": 2, "next": "p2"}, "data": {"items": [], "x": [1]}})
        );
    }

    #[test]
    fn the_document_itself_and_an_array_index_can_be_the_path() {
        let (seen, rest) = records(r#"[{"id":1},2.5,null,true]"#, "").expect("parses");
        assert_eq!(
            seen,
            vec![json!({"id": 1}), json!(2.5), Value::Null, json!(true)]
        );
        assert_eq!(rest, json!([]));
        let (seen, rest) = records(r#"{"pages":[[9],[{"id":7}]]}"#, "pages.1").expect("parses");
        assert_eq!(seen, vec![json!({"id": 7})]);
        assert_eq!(rest, json!({"pages": [[9], []]}));
    }

    #[test]
    fn a_path_that_holds_no_array_or_is_missing_is_left_for_the_caller_to_report() {
        let (seen, rest) = records(r#"{"data":{"id":1}}"#, "data").expect("parses");
        assert!(seen.is_empty());
        assert_eq!(rest, json!({"data": {"id": 1}}));
        let (seen, rest) = records(r#"{"other":[1]}"#, "data").expect("parses");
        assert!(seen.is_empty());
        assert_eq!(rest, json!({"other": [1]}));
    }

    #[test]
    fn a_repeated_records_key_and_broken_json_are_errors() {
        let e = records(r#"{"data":[1],"data":[2]}"#, "data").expect_err("an error");
        assert!(
            e.contains("key \"data\" on the records path appears twice"),
            "{e}"
        );
        let e = records(r#"{"data":[{"id":1},{"id""#, "data").expect_err("an error");
        assert!(e.contains("EOF while parsing"), "{e}");
        let e = records(r#"{"data":[]} x"#, "data").expect_err("an error");
        assert!(e.contains("trailing characters"), "{e}");
    }

    #[test]
    fn the_document_reads_as_serde_json_reads_it_when_nothing_is_on_the_path() {
        let body = r#"{"a":[1,-2,3.5e3,"s",{"b":null}],"c":{"d":false},"e":18446744073709551615}"#;
        let (_, rest) = records(body, "missing").expect("parses");
        assert_eq!(
            rest,
            serde_json::from_str::<Value>(body).expect("serde_json parses it")
        );
    }
}
