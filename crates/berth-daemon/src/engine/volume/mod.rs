//! Volumes: named and anonymous, the `local` driver with its options, filled from the
//! image on first use, and the volume API.

mod copy_up;
mod query;
pub mod store;

pub use store::Volumes;

use crate::engine::bind::Bind;
use crate::error::{DaemonError, Result};
use berth_api::container::HostConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One volume mounted in a container, as decided at create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
    pub read_only: bool,
    /// `volume-nocopy`: a new volume is not filled from the image.
    #[serde(default)]
    pub no_copy: bool,
    /// `volume-subpath`: only this directory of the volume.
    #[serde(default)]
    pub subpath: String,
    /// Made for this container (`-v /path`, an image's VOLUME): removed with `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
}

/// The volumes a new container mounts: `-v name:/path`, `--mount type=volume`, then an
/// anonymous volume for every other path in Config.Volumes (the image's VOLUMEs
/// included) that no bind or mount covers, then `--volumes-from`'s (given as `from`).
/// Also returns the names of those that did not exist before (for their events).
pub fn plan(
    volumes: &Volumes,
    hc: &HostConfig,
    declared: &[String],
    from: Vec<VolumeMount>,
) -> Result<(Vec<VolumeMount>, Vec<String>)> {
    let mut out: Vec<VolumeMount> = vec![];
    let mut covered: Vec<String> = vec![];
    for b in hc.binds.iter().flatten() {
        let bind = Bind::parse(b)?;
        covered.push(bind.destination.clone());
        if bind.volume {
            out.push(VolumeMount {
                name: bind.source.clone(),
                destination: bind.destination.clone(),
                read_only: bind.read_only,
                no_copy: bind.no_copy,
                subpath: String::new(),
                anonymous: false,
            });
        }
    }
    for m in hc.mounts.iter().flatten() {
        covered.push(m.target.clone());
        if m.kind != "volume" {
            continue;
        }
        let opts = m.volume_options.as_ref();
        let flag = |k: &str| {
            opts.and_then(|o| o.get(k))
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        };
        let text = |k: &str| {
            opts.and_then(|o| o.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let anonymous = m.source.is_empty();
        let name = if anonymous {
            crate::engine::names::new_id()
        } else {
            m.source.clone()
        };
        let subpath = text("Subpath");
        if subpath.starts_with('/') || subpath.split('/').any(|c| c == "..") {
            return Err(DaemonError::InvalidParameter(format!(
                "invalid volume subpath {subpath:?}: it must be relative and stay inside the volume"
            )));
        }
        out.push(VolumeMount {
            name,
            destination: m.target.clone(),
            read_only: m.read_only,
            no_copy: flag("NoCopy"),
            subpath,
            anonymous,
        });
    }
    for dest in declared {
        if covered.iter().any(|c| c == dest) {
            continue;
        }
        covered.push(dest.clone());
        out.push(VolumeMount {
            name: crate::engine::names::new_id(),
            destination: dest.clone(),
            read_only: false,
            no_copy: false,
            subpath: String::new(),
            anonymous: true,
        });
    }
    for v in from {
        if !covered.contains(&v.destination) {
            covered.push(v.destination.clone());
            out.push(VolumeMount {
                anonymous: false,
                ..v
            });
        }
    }
    // Every volume exists from create on, so that `volume ls` shows it.
    let mut created = vec![];
    for v in &out {
        if volumes.get(&v.name).is_err() {
            created.push(v.name.clone());
        }
        let labels = if v.anonymous {
            BTreeMap::from([(store::ANONYMOUS_LABEL.to_string(), String::new())])
        } else {
            BTreeMap::new()
        };
        volumes.create(Some(&v.name), labels, BTreeMap::new())?;
    }
    Ok((out, created))
}
