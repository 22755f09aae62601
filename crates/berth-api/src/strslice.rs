//! Docker's `StrSlice`: a field that may be a string, a list of strings, or null.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrSlice(pub Vec<String>);

impl Serialize for StrSlice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        match Either::deserialize(d) {
            Ok(Either::One(s)) => Ok(StrSlice(vec![s])),
            Ok(Either::Many(v)) => Ok(StrSlice(v)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string or an array of strings",
            )),
        }
    }
}

impl StrSlice {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_string_and_list() {
        let one: StrSlice = serde_json::from_str("\"sh\"").unwrap();
        assert_eq!(one.0, vec!["sh"]);
        let many: StrSlice = serde_json::from_str("[\"a\",\"b\"]").unwrap();
        assert_eq!(many.0, vec!["a", "b"]);
        assert!(serde_json::from_str::<StrSlice>("5").is_err());
        let none: Option<StrSlice> = serde_json::from_str("null").unwrap();
        assert!(none.is_none());
    }
}
