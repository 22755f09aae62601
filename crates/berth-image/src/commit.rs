//! New images on top of existing ones: a directory of changes packed as a layer (or no
//! layer at all), the run config, and a history entry. `commit` and the builder's steps
//! go through here.

use crate::config::{History, ImageConfig, RunConfig};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::store::{Image, ImageStore};
use std::path::Path;

/// What the new image records beside its layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub config: RunConfig,
    pub author: Option<String>,
    /// The commit message (`-m`), the image's and its history entry's comment.
    pub comment: Option<String>,
    /// The history entry's `created_by` (`/bin/sh -c #(nop) ENV ...` for a build step).
    pub created_by: String,
    /// The image's and the history entry's creation time; now when unset.
    pub created: Option<String>,
    pub reference: Option<Reference>,
    /// The engine's version, recorded as the image's `docker_version`.
    pub docker_version: Option<String>,
}

impl ImageStore {
    /// Packs `changes` (an overlay upper dir) as a gzip layer blob, unpacks it into the
    /// layer store on top of `parent`'s layers, and records the new image. Without
    /// `changes` the image gets no layer, and its history entry says so.
    pub fn commit(
        &self,
        parent: Option<&Image>,
        changes: Option<&Path>,
        opts: CommitOptions,
    ) -> Result<Digest> {
        let mut config = match parent {
            Some(p) => p.config.clone(),
            None => ImageConfig {
                architecture: "amd64".into(),
                os: "linux".into(),
                created: None,
                author: None,
                comment: None,
                docker_version: None,
                config: RunConfig::default(),
                rootfs: crate::config::RootFs {
                    kind: "layers".into(),
                    diff_ids: vec![],
                },
                history: vec![],
            },
        };
        let created = opts.created.clone().unwrap_or_else(|| {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        });
        if let Some(dir) = changes {
            let blob = self.pack_layer(dir)?;
            let top = parent.and_then(|p| p.chain.last());
            let meta = {
                let f = self.content.open_blob(&blob)?;
                self.layers.apply(top, f, None, Some(blob.clone()))
            };
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    let _ = self.content.delete(&blob);
                    return Err(e);
                }
            };
            config.rootfs.diff_ids.push(meta.diff_id);
        }
        config.created = Some(created.clone());
        config.author = opts.author.clone();
        config.comment = opts.comment.clone();
        config.docker_version = opts.docker_version.clone();
        config.config = opts.config;
        config.history.push(History {
            created: Some(created),
            created_by: Some(opts.created_by),
            author: opts.author,
            comment: opts.comment,
            empty_layer: changes.is_none(),
        });
        let id = self.create(&config)?;
        if let Some(r) = opts.reference {
            self.tag_now(&id, &r)?;
        }
        Ok(id)
    }

    /// `dir` as a gzip layer tarball in the content store: its blob digest.
    fn pack_layer(&self, dir: &Path) -> Result<Digest> {
        let mut ingest = self.content.ingest()?;
        // Fast compression: the layer is made on the path of a build step; a push sends
        // this blob as it is.
        let gz = flate2::write::GzEncoder::new(&mut ingest, flate2::Compression::fast());
        let gz =
            crate::pack::pack_dir(dir, gz).map_err(|e| ImageError::io("packing the layer", e))?;
        gz.finish()
            .map_err(|e| ImageError::io("compressing the layer", e))?;
        ingest.commit(None)
    }
}
