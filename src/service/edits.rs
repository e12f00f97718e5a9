//! Changes to the inventory as library functions, free of HTTP.

use crate::store::{Role, TokenRecord};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// How the history shows `actor` to a reader without a token: a token's holder is not named, only
/// the role and, for an editor, the countries of the token (`editor (KGZ, TJK)`, `admin`); the
/// store's own actors (`seed`, `migration`) stay as they are; a command-line import (`cli:$USER`
/// or `--actor NAME`, which may name a person) shows as `cli`.
pub fn public_actor(actor: &str, tokens: &[TokenRecord]) -> String {
    if let Some(token_id) = token_of(actor) {
        return match tokens.iter().find(|t| t.token_id == token_id) {
            Some(t) if t.role == Role::Editor => format!("editor ({})", t.countries.join(", ")),
            Some(t) => t.role.as_str().to_owned(),
            None => "token".to_owned(),
        };
    }
    match actor {
        "seed" | "migration" => actor.to_owned(),
        _ => "cli".to_owned(),
    }
}

/// The token id of an actor recorded for a token (`Ainura (token 1a2b3c4d5e6f)`).
fn token_of(actor: &str) -> Option<&str> {
    let (_, id) = actor.strip_suffix(')')?.rsplit_once(" (token ")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

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
    fn public_actors_name_no_person() {
        let token = |id: &str, role: Role, countries: &[&str]| TokenRecord {
            token_id: id.into(),
            name: "Ainura (MChS)".into(),
            role,
            countries: countries.iter().map(|c| c.to_string()).collect(),
            hash: String::new(),
            created_at: String::new(),
            revoked_at: None,
        };
        let tokens = [
            token("0a1b", Role::Editor, &["KGZ", "TJK"]),
            token("ffff", Role::Admin, &[]),
        ];
        let shown = |a: &str| public_actor(a, &tokens);
        assert_eq!(shown("Ainura (MChS) (token 0a1b)"), "editor (KGZ, TJK)");
        assert_eq!(shown("Basin secretariat (token ffff)"), "admin");
        assert_eq!(shown("Gone (token 1234)"), "token");
        assert_eq!(shown("seed"), "seed");
        assert_eq!(shown("migration"), "migration");
        assert_eq!(shown("cli:alice"), "cli");
        assert_eq!(shown("Bakyt Asanov"), "cli");
    }

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
