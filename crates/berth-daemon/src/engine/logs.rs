//! The json-file log driver's options (`--log-opt max-size=10m max-file=3 compress=true`),
//! merged with the daemon's defaults. Unlike Docker, whose default never rotates and fills
//! disks (moby#40207), berth rotates by default: 5 files of 20 MB.

use crate::error::{DaemonError, Result};
use std::collections::{BTreeMap, HashMap};

pub const DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;
pub const DEFAULT_MAX_FILE: u32 = 5;

/// The log drivers berth has: Docker's `json-file` (the default), `local` (rotated and
/// compressed by default; berth keeps its lines in the json-file format, which only the
/// daemon reads) and `none` (nothing kept, `docker logs` refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    JsonFile,
    Local,
    None,
}

impl Driver {
    pub fn parse(kind: &str) -> Result<Self> {
        match kind {
            "" | "json-file" => Ok(Self::JsonFile),
            "local" => Ok(Self::Local),
            "none" => Ok(Self::None),
            other => Err(DaemonError::InvalidParameter(format!(
                "HostConfig.LogConfig.Type: logging driver \"{other}\" is not supported by berth (json-file, local, none)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::JsonFile => "json-file",
            Self::Local => "local",
            Self::None => "none",
        }
    }

    /// What `docker logs` of a container with this driver gets instead of its log.
    pub fn readable(self) -> Result<()> {
        match self {
            Self::None => Err(DaemonError::NotImplemented(
                "configured logging driver does not support reading".into(),
            )),
            _ => Ok(()),
        }
    }
}

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
        Self::parse_for(Driver::JsonFile, container, daemon)
    }

    /// As `parse`, for `driver`: the daemon's `--log-opt` are the default driver's
    /// (json-file) only; `local` compresses by default; `none` takes no option.
    pub fn parse_for(
        driver: Driver,
        container: Option<&HashMap<String, String>>,
        daemon: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut merged: BTreeMap<&str, &str> = BTreeMap::new();
        if driver == Driver::JsonFile {
            merged.extend(daemon.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        for (k, v) in container.into_iter().flatten() {
            merged.insert(k, v);
        }
        let mut o = Self {
            compress: driver == Driver::Local,
            ..Self::default()
        };
        if driver == Driver::None {
            if let Some(k) = merged.keys().next() {
                return Err(DaemonError::InvalidParameter(format!(
                    "unknown log opt '{k}' for none log driver"
                )));
            }
            return Ok(Self {
                max_size: None,
                max_file: 1,
                compress: false,
            });
        }
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
                        "unknown log opt '{other}' for {} log driver",
                        driver.name()
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

    /// As inspect shows them (`LogConfig.Config`); none for the `none` driver.
    pub fn to_config_for(&self, driver: Driver) -> HashMap<String, String> {
        if driver == Driver::None {
            return HashMap::new();
        }
        self.to_config()
    }

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
        // local compresses by default and ignores the daemon's json-file options; none
        // takes no option.
        let local = LogOptions::parse_for(Driver::Local, None, &daemon).unwrap();
        assert_eq!(
            (local.max_size, local.compress),
            (Some(DEFAULT_MAX_SIZE), true)
        );
        assert!(LogOptions::parse_for(Driver::None, None, &daemon).is_ok());
        assert!(LogOptions::parse_for(Driver::None, Some(&c), &daemon).is_err());
        assert!(Driver::parse("syslog").is_err());
        assert!(Driver::None.readable().is_err());
    }
}
