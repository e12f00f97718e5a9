//! Changes to the inventory as library functions, free of HTTP.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// JSON text as a value, refusing a key repeated in any object: the error (a data error, see
/// [`serde_json::Error::is_data`]) names it by its path, as in `properties.name: duplicate key`.
pub fn parse_json(text: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = Strict {
        path: String::new(),
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] as serde_json does, but with the path of the value being read (`a.b.` or
/// `a[0].`), to name a repeated key.
struct Strict {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        let base = self.path.strip_suffix('.').unwrap_or(&self.path);
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{base}[{}].", out.len()),
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{}{key}: duplicate key",
                    self.path
                )));
            }
            let path = format!("{}{key}.", self.path);
            let value = map.next_value_seed(Strict { path })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_serde_json_does_and_names_repeated_keys() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": {"d": 1e300}}"#;
        assert_eq!(
            parse_json(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        let err = |t: &str| parse_json(t.as_bytes()).unwrap_err();
        let e = err(r#"{"properties": {"name": "a", "name": "b"}}"#);
        assert!(e.is_data(), "{e}");
        assert!(
            e.to_string().starts_with("properties.name: duplicate key"),
            "{e}"
        );
        let e = err(r#"{"a": [{"x": 1}, {"y": 1, "y": 2}]}"#);
        assert!(e.to_string().starts_with("a[1].y: duplicate key"), "{e}");
        assert!(err(r#"{"a": 1,}"#).is_syntax());
        assert!(err(r#"{"a": 1} 2"#).is_syntax());
    }
}
