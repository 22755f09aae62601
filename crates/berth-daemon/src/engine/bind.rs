//! `HostConfig.Binds` entries (`-v /host:/ctr[:ro,rshared,z]`), parsed in one place: at
//! create, to refuse a bad one, and at start, to mount it.

use crate::error::{DaemonError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// `rprivate` unless the mode says otherwise.
    pub propagation: &'static str,
    /// The mode as given (`ro,rshared`), which inspect reports.
    pub mode: String,
}

const PROPAGATIONS: &[&str] = &[
    "rprivate", "private", "rslave", "slave", "rshared", "shared",
];

impl Bind {
    pub fn parse(spec: &str) -> Result<Self> {
        let invalid = |why: &str| {
            DaemonError::InvalidParameter(format!("invalid volume specification: '{spec}'{why}"))
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => return Err(invalid("")),
        };
        if src.is_empty() {
            return Err(invalid(""));
        }
        if !dst.starts_with('/') {
            return Err(invalid(&format!(
                ": invalid mount config: invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        if !src.starts_with('/') {
            return Err(invalid(": named volumes are not supported yet"));
        }
        let mut bind = Bind {
            source: src.to_string(),
            destination: dst.to_string(),
            read_only: false,
            propagation: "rprivate",
            mode: mode.to_string(),
        };
        for m in mode.split(',').filter(|m| !m.is_empty()) {
            match m {
                "ro" => bind.read_only = true,
                "rw" => bind.read_only = false,
                // SELinux relabelling: without SELinux on the host there is no label to
                // set, as with Docker on such a host.
                "z" | "Z" => {}
                p => match PROPAGATIONS.iter().find(|k| **k == p) {
                    Some(k) => bind.propagation = k,
                    None => {
                        return Err(DaemonError::InvalidParameter(format!("invalid mode: {m}")))
                    }
                },
            }
        }
        Ok(bind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds() {
        let b = Bind::parse("/a:/b:ro,rshared,z").unwrap();
        assert_eq!(
            b,
            Bind {
                source: "/a".into(),
                destination: "/b".into(),
                read_only: true,
                propagation: "rshared",
                mode: "ro,rshared,z".into(),
            }
        );
        assert!(!Bind::parse("/a:/b").unwrap().read_only);
        for bad in [
            "/a",
            "/a:rel",
            "/tmp:/x:bogus",
            ":/x",
            "name:/x",
            "/a:/b:ro:x",
        ] {
            assert!(Bind::parse(bad).is_err(), "{bad}");
        }
    }
}
