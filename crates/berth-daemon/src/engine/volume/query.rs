//! The volume API (create, inspect, list, remove, prune) and volumes at a container's
//! start and exit.

use super::store::{VolumeRecord, ANONYMOUS_LABEL};
use super::VolumeMount;
use crate::engine::container::Record;
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

impl Engine {
    /// Docker's view of a volume.
    fn volume_view(&self, v: &VolumeRecord) -> serde_json::Value {
        serde_json::json!({
            "Name": v.name,
            "Driver": "local",
            "Mountpoint": self.volumes.data_dir(&v.name),
            "CreatedAt": v.created,
            "Labels": v.labels,
            "Scope": "local",
            "Options": if v.options.is_empty() { serde_json::Value::Null } else { serde_json::json!(v.options) },
        })
    }

    pub fn volume_create(
        &self,
        name: Option<&str>,
        driver: &str,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<serde_json::Value> {
        if !matches!(driver, "" | "local") {
            return Err(DaemonError::NotFound(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let v = self.volumes.create(name, labels, options)?;
        self.volume_event("create", &v.name, &[]);
        Ok(self.volume_view(&v))
    }

    pub fn volume_inspect(&self, name: &str) -> Result<serde_json::Value> {
        Ok(self.volume_view(&self.volumes.get(name)?))
    }

    /// The containers (running or not) that mount a volume.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| c.record().volumes.iter().any(|v| v.name == name))
            .map(|c| c.id.clone())
            .collect()
    }

    pub fn volume_list(&self, filters: &HashMap<String, Vec<String>>) -> Result<serde_json::Value> {
        for k in filters.keys() {
            if !matches!(k.as_str(), "name" | "dangling" | "driver" | "label") {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        let mut out = vec![];
        for v in self.volumes.all() {
            let any = |key: &str, f: &dyn Fn(&str) -> bool| {
                filters
                    .get(key)
                    .is_none_or(|vals| vals.iter().any(|x| f(x)))
            };
            let dangling = self.volume_users(&v.name).is_empty();
            let keep = any("name", &|x| v.name.contains(x))
                && any("driver", &|x| x == "local")
                && any("dangling", &|x| {
                    matches!((x, dangling), ("true" | "1", true) | ("false" | "0", false))
                })
                && filters.get("label").is_none_or(|ls| {
                    ls.iter().all(|l| match l.split_once('=') {
                        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
                        None => v.labels.contains_key(l),
                    })
                });
            if keep {
                out.push(self.volume_view(&v));
            }
        }
        Ok(serde_json::json!({"Volumes": out, "Warnings": []}))
    }

    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let v = match self.volumes.get(name) {
            Ok(v) => v,
            Err(_) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let users = self.volume_users(&v.name);
        if !users.is_empty() {
            return Err(DaemonError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volumes.remove(&v.name)?;
        self.volume_event("destroy", &v.name, &[]);
        Ok(())
    }

    /// Removes unused volumes: anonymous ones, or with `all` named ones too (Docker's
    /// default since API 1.42); returns names and bytes reclaimed.
    pub fn volume_prune(
        self: &Arc<Self>,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<(Vec<String>, u64)> {
        use crate::engine::prune_filter::{PruneFilter, Target};
        let filter = PruneFilter::parse(Target::Volumes, filters)?;
        let all = filter.all;
        let mut removed = vec![];
        let mut bytes = 0;
        for v in self.volumes.all() {
            if !(all || v.labels.contains_key(ANONYMOUS_LABEL)) {
                continue;
            }
            if !filter.matches(None, &v.labels) {
                continue;
            }
            if !self.volume_users(&v.name).is_empty() {
                continue;
            }
            let size = self.volumes.size(&v.name);
            if self.volumes.remove(&v.name).is_ok() {
                self.volume_event("destroy", &v.name, &[]);
                bytes += size;
                removed.push(v.name);
            }
        }
        Ok((removed, bytes))
    }

    /// At start: each volume mounted (a `local` filesystem on first use), a new one
    /// filled from the image, and where each comes from on the host.
    pub(crate) fn prepare_volumes(
        &self,
        rec: &Record,
        lower: &[PathBuf],
    ) -> Result<Vec<(PathBuf, VolumeMount)>> {
        let mut out: Vec<(PathBuf, VolumeMount)> = vec![];
        let result = (|| -> Result<()> {
            for v in &rec.volumes {
                let data = self.volumes.acquire(&rec.id, &v.name)?;
                out.push((data.clone(), v.clone()));
                let empty = std::fs::read_dir(&data)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if empty && !v.no_copy && v.subpath.is_empty() {
                    let scratch = self
                        .cfg
                        .exec_root
                        .join("copyup")
                        .join(crate::engine::names::new_id());
                    super::copy_up::fill(lower, &v.destination, &scratch, &data)?;
                }
                if !v.subpath.is_empty() {
                    // Resolved beneath the volume: a link a container left there must
                    // not lead the mount out of it.
                    let root = berth_runtime::root::Root::open(&data)?;
                    let fd = root
                        .lookup(std::path::Path::new(&v.subpath), false)
                        .map_err(|e| {
                            DaemonError::InvalidParameter(format!(
                                "cannot access volume subpath {:?}: {e}",
                                v.subpath
                            ))
                        })?;
                    let real = std::fs::read_link(berth_runtime::root::fd_path(&fd))?;
                    if let Some(last) = out.last_mut() {
                        last.0 = real;
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.volumes.release_all(&rec.id);
            return Err(e);
        }
        Ok(out)
    }

    /// At exit (or a failed start): volumes with a filesystem of their own are unmounted
    /// when unused.
    pub(crate) fn release_volumes(&self, id: &str) {
        self.volumes.release_all(id);
    }

    /// `rm -v` (and `--rm`): the container's anonymous volumes go with it.
    pub(crate) fn remove_anonymous_volumes(&self, rec: &Record) {
        for v in rec.volumes.iter().filter(|v| v.anonymous) {
            if self.volume_users(&v.name).is_empty() && self.volumes.remove(&v.name).is_ok() {
                self.volume_event("destroy", &v.name, &[]);
            }
        }
    }
}
