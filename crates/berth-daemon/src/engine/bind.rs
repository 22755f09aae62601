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
    /// The source is a volume's name, not a host path.
    pub volume: bool,
    /// `nocopy`: a new volume is not filled from the image.
    pub no_copy: bool,
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
        let volume = !src.starts_with('/');
        if volume && !super::volume::store::valid_name(src) {
            return Err(DaemonError::InvalidParameter(format!(
                "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let mut bind = Bind {
            source: src.to_string(),
            destination: dst.to_string(),
            read_only: false,
            propagation: "rprivate",
            mode: mode.to_string(),
            volume,
            no_copy: false,
        };
        for m in mode.split(',').filter(|m| !m.is_empty()) {
            match m {
                "ro" => bind.read_only = true,
                "rw" => bind.read_only = false,
                "nocopy" if volume => bind.no_copy = true,
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
                volume: false,
                no_copy: false,
            }
        );
        assert!(!Bind::parse("/a:/b").unwrap().read_only);
        let v = Bind::parse("data:/srv:ro,nocopy").unwrap();
        assert!(v.volume && v.no_copy && v.read_only);
        for bad in [
            "/a",
            "/a:rel",
            "/tmp:/x:bogus",
            ":/x",
            "x/y:/x",
            "/a:/b:ro:x",
            "/a:/b:nocopy",
        ] {
            assert!(Bind::parse(bad).is_err(), "{bad}");
        }
    }
}
