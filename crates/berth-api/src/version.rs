//! Engine API versions (`1.41`): parsed from a request path or a client's negotiation,
//! compared as numbers so that 1.9 < 1.10.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }

    /// The newest version berth speaks.
    pub const CURRENT: ApiVersion = ApiVersion::new(1, 55);
    /// The oldest version berth accepts.
    pub const MIN: ApiVersion = ApiVersion::new(1, 24);

    /// Whether this version is `other` or newer.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion::new(major, minor)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVersion(pub String);

impl fmt::Display for BadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid API version {:?}", self.0)
    }
}

impl std::error::Error for BadVersion {}

impl FromStr for ApiVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let (a, b) = s.split_once('.').ok_or_else(bad)?;
        let num = |x: &str| -> Result<u32, BadVersion> {
            if x.is_empty() || !x.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            x.parse().map_err(|_| bad())
        };
        Ok(ApiVersion::new(num(a)?, num(b)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        let v: ApiVersion = "1.9".parse().unwrap();
        let w: ApiVersion = "1.10".parse().unwrap();
        assert!(v < w);
        assert_eq!(w.to_string(), "1.10");
        assert!("1.55".parse::<ApiVersion>().unwrap().at_least(1, 52));
        assert!(!"1.51".parse::<ApiVersion>().unwrap().at_least(1, 52));
        for bad in ["", "1", "1.", ".1", "a.b", "1.2.3", "1.-2", "v1.2"] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn constants_match_the_strings() {
        assert_eq!(ApiVersion::CURRENT.to_string(), crate::API_VERSION);
        assert_eq!(ApiVersion::MIN.to_string(), crate::MIN_API_VERSION);
    }
}
