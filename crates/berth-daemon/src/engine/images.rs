//! Image operations that need the engine (containers using an image) or run long.

use super::Engine;
use crate::error::{DaemonError, Result};
use berth_api::container::Config;
use berth_api::image::{DeleteItem, HistoryItem, ImageInspect, ImageSummary, RootFs};
use berth_api::strslice::StrSlice;
use berth_image::config::RunConfig;
use berth_image::reference::Reference;
use berth_image::store::{Image, ImportOptions};
use berth_image::Digest;
use std::collections::HashMap;

fn unix_time(t: &Option<String>) -> i64 {
    t.as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// The image's run config in the Engine API's shape.
pub fn api_config(rc: &RunConfig) -> Config {
    Config {
        user: rc.user.clone(),
        exposed_ports: rc.exposed_ports.clone(),
        env: rc.env.clone(),
        cmd: rc.cmd.clone().map(StrSlice),
        entrypoint: rc.entrypoint.clone().map(StrSlice),
        volumes: rc.volumes.clone(),
        working_dir: rc.working_dir.clone(),
        labels: rc.labels.clone(),
        stop_signal: rc.stop_signal.clone(),
        shell: rc.shell.clone(),
        healthcheck: rc.healthcheck.clone(),
        on_build: rc.on_build.clone(),
        ..Default::default()
    }
}

/// `docker image ls --filter reference=`: glob on the familiar name, with or without tag.
fn reference_matches(pattern: &str, refs: &[String]) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..]))
            }
            (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    refs.iter().any(|r| {
        let repo = r.rsplit_once(':').map(|(a, _)| a).unwrap_or(r);
        glob(pattern.as_bytes(), r.as_bytes()) || glob(pattern.as_bytes(), repo.as_bytes())
    })
}

impl Engine {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&berth_image::ImageStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || f(&images))
            .await
            .map_err(DaemonError::system)?
    }

    /// `GET /images/json`; build steps' intermediate images only with `all`, as dockerd.
    pub async fn image_list(
        &self,
        filters: HashMap<String, Vec<String>>,
        all: bool,
    ) -> Result<Vec<ImageSummary>> {
        let intermediate = if all {
            Default::default()
        } else {
            self.build_cache.images()
        };
        for k in filters.keys() {
            if !["dangling", "reference", "label", "before", "since"].contains(&k.as_str()) {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        // before= and since= name an image; the others are compared by creation time.
        let created_of = |key: &str| -> Result<Option<i64>> {
            match filters.get(key).and_then(|v| v.first()) {
                None => Ok(None),
                Some(n) => {
                    let id = self
                        .images
                        .resolve(n)
                        .map_err(|_| DaemonError::NotFound(format!("No such image: {n}")))?;
                    Ok(Some(unix_time(&self.images.get(&id)?.config.created)))
                }
            }
        };
        let (before, since) = (created_of("before")?, created_of("since")?);
        let users: HashMap<String, i64> = self.all().iter().fold(HashMap::new(), |mut m, c| {
            *m.entry(c.record().image_id.clone()).or_default() += 1;
            m
        });
        self.blocking(move |s| {
            let mut out = vec![];
            for id in s.ids() {
                let Ok(img) = s.get(&id) else { continue };
                let created = unix_time(&img.config.created);
                if before.is_some_and(|b| created >= b) || since.is_some_and(|t| created <= t) {
                    continue;
                }
                let mut refs = s.references_of(&id);
                if refs.is_empty() && intermediate.contains(id.as_str()) {
                    continue;
                }
                if let Some(d) = filters.get("dangling").and_then(|v| v.first()) {
                    if (d == "true" || d == "1") != refs.is_empty() {
                        continue;
                    }
                }
                if let Some(pats) = filters.get("reference") {
                    // Like Docker, list only the tags that matched.
                    refs.retain(|r| {
                        pats.iter()
                            .any(|p| reference_matches(p, std::slice::from_ref(r)))
                    });
                    if refs.is_empty() {
                        continue;
                    }
                }
                let labels = img.config.config.labels.clone().unwrap_or_default();
                if !super::query::labels_match(
                    &Some(labels.clone()),
                    filters.get("label").map(|v| v.as_slice()).unwrap_or(&[]),
                ) {
                    continue;
                }
                out.push(ImageSummary {
                    id: id.to_string(),
                    parent_id: String::new(),
                    repo_tags: refs,
                    repo_digests: vec![],
                    created: unix_time(&img.config.created),
                    size: img.size as i64,
                    shared_size: -1,
                    virtual_size: img.size as i64,
                    labels,
                    containers: *users.get(id.as_str()).unwrap_or(&0),
                });
            }
            out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
            Ok(out)
        })
        .await
    }

    pub async fn image_get(&self, name: &str) -> Result<Image> {
        let name = name.to_string();
        self.blocking(move |s| {
            let id = s.resolve(&name)?;
            Ok(s.get(&id)?)
        })
        .await
    }

    pub async fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let img = self.image_get(name).await?;
        let refs = self.images.references_of(&img.id);
        let c = &img.config;
        Ok(ImageInspect {
            id: img.id.to_string(),
            repo_tags: refs,
            repo_digests: vec![],
            parent: String::new(),
            comment: c.comment.clone().unwrap_or_default(),
            created: c.created.clone().unwrap_or_default(),
            docker_version: c.docker_version.clone().unwrap_or_default(),
            author: c.author.clone().unwrap_or_default(),
            config: api_config(&c.config),
            architecture: c.architecture.clone(),
            os: c.os.clone(),
            size: img.size as i64,
            virtual_size: img.size as i64,
            graph_driver: serde_json::json!({
                "Name": "overlay2",
                "Data": {"LowerDir": self.images.layer_dirs(&img).iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")}
            }),
            root_f_s: RootFs {
                kind: "layers".into(),
                layers: c.rootfs.diff_ids.iter().map(|d| d.to_string()).collect(),
            },
            metadata: serde_json::json!({"LastTagTime": self.images.last_tag_time(&img.id).unwrap_or_else(|| "0001-01-01T00:00:00Z".into())}),
        })
    }

    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let img = self.image_get(name).await?;
        let mut sizes = img.chain.iter().map(|c| {
            self.images
                .layers
                .meta(c)
                .map(|m| m.unpacked_size() as i64)
                .unwrap_or(0)
        });
        let mut items: Vec<HistoryItem> = img
            .config
            .history
            .iter()
            .map(|h| HistoryItem {
                id: "<missing>".into(),
                created: unix_time(&h.created),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: vec![],
                size: if h.empty_layer {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect();
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = img.id.to_string();
            top.tags = self.images.references_of(&img.id);
        }
        Ok(items)
    }

    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_string(),
        };
        let r = Reference::parse_tagged(&target)?;
        if r.digest.is_some() {
            return Err(DaemonError::InvalidParameter(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let name = name.to_string();
        let familiar = r.familiar();
        let id = self
            .blocking(move |s| {
                let id = s.resolve(&name)?;
                s.tag_now(&id, &r)?;
                Ok(id)
            })
            .await?;
        self.image_event("tag", id.as_str(), &familiar);
        Ok(())
    }

    pub async fn image_delete(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>> {
        let id = {
            let n = name.to_string();
            self.blocking(move |s| Ok(s.resolve(&n)?)).await?
        };
        let refs = self.images.references_of(&id);
        let by_reference = Reference::parse_tagged(name)
            .ok()
            .filter(|r| refs.contains(&r.familiar()));
        let users = self.image_users(id.as_str());
        let running = users.iter().find(|c| c.is_running());
        let mut out = vec![];
        if let Some(r) = by_reference {
            if refs.len() > 1 || (!users.is_empty() && force) {
                self.images.untag(&r)?;
                self.image_event("untag", id.as_str(), &r.familiar());
                return Ok(vec![DeleteItem::Untagged(r.familiar())]);
            }
            if let Some(c) = users.first() {
                return Err(DaemonError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    &c.id[..12],
                    id.short()
                )));
            }
        } else {
            if let Some(c) = running {
                return Err(DaemonError::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    id.short(),
                    &c.id[..12]
                )));
            }
            if let Some(c) = users.first() {
                if !force {
                    return Err(DaemonError::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        id.short(),
                        &c.id[..12]
                    )));
                }
            }
            if refs.len() > 1 && !force {
                return Err(DaemonError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    id.short()
                )));
            }
        }
        for r in &refs {
            out.push(DeleteItem::Untagged(r.clone()));
        }
        let del = id.clone();
        self.blocking(move |s| Ok(s.delete(&del)?)).await?;
        for r in &refs {
            self.image_event("untag", id.as_str(), r);
        }
        self.image_event("delete", id.as_str(), id.as_str());
        out.push(DeleteItem::Deleted(id.to_string()));
        Ok(out)
    }

    /// Removes images no container uses: dangling ones, or every unused one with
    /// `dangling=false`; `until` and the label filters narrow that.
    pub async fn image_prune(
        &self,
        filter: &super::prune_filter::PruneFilter,
    ) -> Result<(Vec<DeleteItem>, u64)> {
        let mut deleted = vec![];
        let mut reclaimed = 0;
        for id in self.images.ids() {
            let refs = self.images.references_of(&id);
            if (filter.dangling_only && !refs.is_empty())
                || !self.image_users(id.as_str()).is_empty()
            {
                continue;
            }
            let Ok(img) = self.images.get(&id) else {
                continue;
            };
            let labels = img.config.config.labels.clone().unwrap_or_default();
            if !filter.matches(img.config.created.as_deref(), &labels) {
                continue;
            }
            let del = id.clone();
            // What deleting it really freed: layers shared with images that stay are not.
            if let Ok(freed) = self.blocking(move |s| Ok(s.delete(&del)?)).await {
                for r in &refs {
                    self.image_event("untag", id.as_str(), r);
                }
                self.image_event("delete", id.as_str(), id.as_str());
                deleted.extend(refs.into_iter().map(DeleteItem::Untagged));
                deleted.push(DeleteItem::Deleted(id.to_string()));
                reclaimed += freed;
            }
        }
        Ok((deleted, reclaimed))
    }

    /// `docker import`: the body is a rootfs tarball.
    pub async fn image_import(
        &self,
        body: impl std::io::Read + Send + 'static,
        repo: Option<&str>,
        tag: Option<&str>,
        message: Option<String>,
        changes: Vec<String>,
    ) -> Result<Digest> {
        let reference = match repo.filter(|r| !r.is_empty()) {
            Some(r) => {
                let full = match tag.filter(|t| !t.is_empty()) {
                    Some(t) => format!("{r}:{t}"),
                    None => r.to_string(),
                };
                Some(Reference::parse_tagged(&full)?)
            }
            None => None,
        };
        let mut rc = RunConfig::default();
        super::build::config::apply_changes(&mut rc, &changes)?;
        let name = reference.as_ref().map(|r| r.familiar()).unwrap_or_default();
        let id = self
            .blocking(move |s| {
                Ok(s.import(
                    body,
                    ImportOptions {
                        reference,
                        changes: rc,
                        message,
                        created_by: "berth import".into(),
                    },
                )?)
            })
            .await?;
        self.image_event("import", id.as_str(), &name);
        Ok(id)
    }

    /// What `docker save NAME...` writes: each image with the references that named it.
    pub async fn images_to_save(&self, names: &[String]) -> Result<Vec<(Digest, Vec<Reference>)>> {
        let mut out: Vec<(Digest, Vec<Reference>)> = vec![];
        for n in names {
            let id = {
                let n = n.clone();
                self.blocking(move |s| Ok(s.resolve(&n)?)).await?
            };
            let named_by = Reference::parse_tagged(n)
                .ok()
                .filter(|r| self.images.resolve(&r.to_string()).ok().as_ref() == Some(&id));
            let refs: Vec<Reference> = match named_by {
                Some(r) => vec![r],
                None => vec![],
            };
            match out.iter_mut().find(|(i, _)| *i == id) {
                Some((_, existing)) => existing.extend(refs),
                None => out.push((id, refs)),
            }
        }
        Ok(out)
    }

    pub async fn image_save(
        &self,
        images: Vec<(Digest, Vec<Reference>)>,
        out: impl std::io::Write + Send + 'static,
    ) -> Result<()> {
        let ids: Vec<String> = images.iter().map(|(id, _)| id.to_string()).collect();
        self.blocking(move |s| Ok(berth_image::archive::save(s, &images, out)?))
            .await?;
        for id in ids {
            self.image_event("save", &id, &id);
        }
        Ok(())
    }

    pub async fn image_load(
        &self,
        body: impl std::io::Read + Send + 'static,
    ) -> Result<berth_image::archive::Loaded> {
        let loaded = self
            .blocking(move |s| Ok(berth_image::archive::load(s, body)?))
            .await?;
        for tag in &loaded.tags {
            let id = self
                .images
                .resolve(tag)
                .map(|d| d.to_string())
                .unwrap_or_default();
            self.image_event("load", &id, tag);
        }
        for id in &loaded.untagged_ids {
            self.image_event("load", id.as_str(), id.as_str());
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_globs() {
        let refs = vec!["busybox:latest".to_string()];
        assert!(reference_matches("busybox", &refs));
        assert!(reference_matches("busy*", &refs));
        assert!(reference_matches("busybox:latest", &refs));
        assert!(!reference_matches("alpine", &refs));
    }
}
