//! Typed reads from a JSON record, each failing with a reason fit for a
//! [`SkippedRecord`](super::SkippedRecord) ("FirstName: expected a string, found a number").

use serde_json::Value;

/// Follows a dotted path of object keys (or array indexes); "" is the value itself.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path.is_empty() {
        return Some(value);
    }
    // Most paths are one key, and every field of every record is looked up each pass.
    if !path.contains('.') {
        return step(value, path);
    }
    path.split('.').try_fold(value, step)
}

/// One segment of a dotted path: an object key or an array index.
pub fn step<'a>(current: &'a Value, segment: &str) -> Option<&'a Value> {
    match current {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// "a string", "an object"… for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field: absent or null → `None`; anything but a string is an error naming `key`.
pub fn text(item: &Value, key: &str) -> Result<Option<String>, String> {
    match lookup(item, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key}: expected a string, found {}", kind(other))),
    }
}

/// An id read leniently: a string or a number, as text; absent or null → `None`.
pub fn id(item: &Value, key: &str) -> Result<Option<String>, String> {
    match lookup(item, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "{key}: expected a string or a number, found {}",
            kind(other)
        )),
    }
}

/// A boolean field (also `0`/`1` and `"true"`/`"false"`); absent or null → `false`.
pub fn flag(item: &Value, key: &str) -> Result<bool, String> {
    match lookup(item, key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
        Some(other) => Err(format!("{key}: expected a boolean, found {}", kind(other))),
    }
}

/// An array field: absent or null → empty; anything else but an array is an error.
pub fn array<'a>(item: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match lookup(item, key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!("{key}: expected an array, found {}", kind(other))),
    }
}

/// A double-wrapped collection such as Entrata's `phones.phone[]`: the array at `outer.inner`,
/// where a lone object stands for a one-element array and an absent, null or empty wrapper for
/// none.
pub fn wrapped<'a>(item: &'a Value, outer: &str, inner: &str) -> Result<Vec<&'a Value>, String> {
    let wrapper = match lookup(item, outer) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::Array(a)) if a.is_empty() => return Ok(Vec::new()),
        Some(w @ Value::Object(_)) => w,
        Some(other) => {
            return Err(format!(
                "{outer}: expected an object holding {inner}, found {}",
                kind(other)
            ));
        }
    };
    match wrapper.get(inner) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        Some(one @ Value::Object(_)) => Ok(vec![one]),
        Some(other) => Err(format!(
            "{outer}.{inner}: expected an array, found {}",
            kind(other)
        )),
    }
}

/// The date part of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS…` (Buildium and AppFolio send both).
pub fn date_part(text: &str) -> &str {
    let t = text.trim();
    match t.find('T') {
        Some(10) => &t[..10],
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_with_reasons() {
        let v = json!({"a": "x", "n": 5, "o": {"p": ["q"]}, "b": 1, "w": {"phone": {"k": 1}}});
        assert_eq!(text(&v, "a"), Ok(Some("x".into())));
        assert_eq!(text(&v, "missing"), Ok(None));
        assert_eq!(
            text(&v, "n"),
            Err("n: expected a string, found a number".into())
        );
        assert_eq!(id(&v, "n"), Ok(Some("5".into())));
        assert_eq!(id(&v, "a"), Ok(Some("x".into())));
        assert!(id(&v, "o").is_err());
        assert_eq!(flag(&v, "b"), Ok(true));
        assert_eq!(array(&v, "o.p").map(<[Value]>::len), Ok(1));
        assert_eq!(wrapped(&v, "w", "phone").map(|w| w.len()), Ok(1));
        assert_eq!(wrapped(&v, "none", "phone").map(|w| w.len()), Ok(0));
        assert!(wrapped(&v, "a", "phone").is_err());
        assert_eq!(date_part("2025-08-01T00:00:00"), "2025-08-01");
        assert_eq!(date_part("08/01/2025"), "08/01/2025");
    }
}
