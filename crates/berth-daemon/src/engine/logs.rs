//! The json-file log driver's options (`--log-opt max-size=10m max-file=3 compress=true`),
//! merged with the daemon's defaults. Unlike Docker, whose default never rotates and fills
//! disks (moby#40207), berth rotates by default: 5 files of 20 MB.

use crate::error::{DaemonError, Result};
use std::collections::{BTreeMap, HashMap};

pub const DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;
pub const DEFAULT_MAX_FILE: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Bytes a log file may reach before it is rotated; None: never rotated.
    pub max_size: Option<u64>,
    /// Files kept, the live one included.
    pub max_file: u32,
    /// Rotated files are gzipped.
    pub compress: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_size: Some(DEFAULT_MAX_SIZE),
            max_file: DEFAULT_MAX_FILE,
            compress: false,
        }
    }
}

/// `10m`, `1g`, `512k`, `100` (bytes), as Docker's units.RAMInBytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

impl LogOptions {
    /// The container's `LogConfig.Config` over the daemon's `--log-opt` defaults. Options
    /// the driver does not know are refused, as dockerd refuses them.
    pub fn parse(
        container: Option<&HashMap<String, String>>,
        daemon: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut merged: BTreeMap<&str, &str> = daemon
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (k, v) in container.into_iter().flatten() {
            merged.insert(k, v);
        }
        let mut o = Self::default();
        let bad = |k: &str, v: &str| {
            DaemonError::InvalidParameter(format!("invalid value for log option {k}: {v:?}"))
        };
        for (k, v) in &merged {
            match *k {
                "max-size" => {
                    o.max_size = match *v {
                        "-1" => None,
                        v => Some(parse_size(v).filter(|n| *n > 0).ok_or_else(|| bad(k, v))?),
                    }
                }
                "max-file" => {
                    o.max_file = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad(k, v))?
                }
                "compress" => o.compress = v.parse().map_err(|_| bad(k, v))?,
                other => {
                    return Err(DaemonError::InvalidParameter(format!(
                        "unknown log opt '{other}' for json-file log driver"
                    )))
                }
            }
        }
        if o.max_size.is_none() {
            if merged.contains_key("max-file") && o.max_file > 1 {
                return Err(DaemonError::InvalidParameter(
                    "max-file cannot be set without max-size".into(),
                ));
            }
            o.max_file = 1;
        }
        Ok(o)
    }

    /// As inspect shows them (`LogConfig.Config`).
    pub fn to_config(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert(
            "max-size".into(),
            self.max_size.map_or("-1".into(), |s| s.to_string()),
        );
        // Without a size limit there is one file, whatever max-file says.
        if self.max_size.is_some() {
            m.insert("max-file".into(), self.max_file.to_string());
        }
        m.insert("compress".into(), self.compress.to_string());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_merge_and_are_checked() {
        let daemon: BTreeMap<String, String> = [("max-size".to_string(), "1m".to_string())].into();
        let o = LogOptions::parse(None, &daemon).unwrap();
        assert_eq!((o.max_size, o.max_file), (Some(1 << 20), DEFAULT_MAX_FILE));
        let c: HashMap<String, String> = [
            ("max-size".to_string(), "10k".to_string()),
            ("max-file".to_string(), "3".to_string()),
            ("compress".to_string(), "true".to_string()),
        ]
        .into();
        let o = LogOptions::parse(Some(&c), &daemon).unwrap();
        assert_eq!(
            (o.max_size, o.max_file, o.compress),
            (Some(10 << 10), 3, true)
        );
        let bad: HashMap<String, String> = [("max-size".to_string(), "lots".to_string())].into();
        assert!(LogOptions::parse(Some(&bad), &Default::default()).is_err());
        let unknown: HashMap<String, String> = [("labels".to_string(), "x".to_string())].into();
        assert!(LogOptions::parse(Some(&unknown), &Default::default()).is_err());
        assert_eq!(
            LogOptions::parse(None, &Default::default()).unwrap(),
            LogOptions::default()
        );
    }
}
