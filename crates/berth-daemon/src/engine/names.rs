//! Container IDs and names.

use crate::error::{DaemonError, Result};

const ADJECTIVES: &[&str] = &[
    "admiring", "brave", "calm", "clever", "eager", "elegant", "festive", "focused", "gallant",
    "happy", "jolly", "keen", "loving", "modest", "nifty", "quirky", "serene", "sharp", "stoic",
    "tender", "upbeat", "vibrant", "wizardly", "zealous",
];
const NOUNS: &[&str] = &[
    "albattani",
    "babbage",
    "curie",
    "darwin",
    "euclid",
    "feynman",
    "galileo",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "lovelace",
    "meitner",
    "newton",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yalow",
    "zhukovsky",
];

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    // getrandom only fails when the kernel has no entropy source at all.
    let _ = getrandom::getrandom(&mut b);
    b
}

pub fn new_id() -> String {
    hex::encode(random_bytes(32))
}

pub fn random_name() -> String {
    let b = random_bytes(2);
    format!(
        "{}_{}",
        ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
        NOUNS[b[1] as usize % NOUNS.len()]
    )
}

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading slash.
pub fn validate(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(DaemonError::InvalidParameter(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert!(validate("-x").is_err());
        assert!(validate("a b").is_err());
        assert!(validate("a").is_err());
        assert_eq!(new_id().len(), 64);
    }
}
