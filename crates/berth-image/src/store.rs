//! The image store: image configs (in the content store), the set of images, references.

use crate::config::{History, ImageConfig, RootFs, RunConfig};
use crate::content::{ingest_reader, ContentStore};
use crate::digest::{chain_id, Digest};
use crate::error::{ImageError, Result};
use crate::layer::LayerStore;
use crate::reference::Reference;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One image as the store knows it.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: Digest,
    pub config: ImageConfig,
    /// Chain IDs of its layers, bottom first.
    pub chain: Vec<Digest>,
    /// Bytes of all its unpacked layers.
    pub size: u64,
}

pub struct ImageStore {
    images_dir: PathBuf,
    scratch_root: PathBuf,
    refs_path: PathBuf,
    pub content: ContentStore,
    pub layers: LayerStore,
    /// Full reference (`docker.io/library/busybox:latest`) → image ID. Every change is
    /// written through to `repositories.json` while this lock is held.
    refs: Mutex<BTreeMap<String, Digest>>,
}

mod tempfile_dir {
    use crate::error::{ImageError, Result};
    use std::path::{Path, PathBuf};

    /// A directory removed with everything in it when dropped.
    pub struct ScratchDir(PathBuf);

    impl ScratchDir {
        pub fn new(root: &Path) -> Result<Self> {
            let rnd = crate::atomic::random_hex(8).map_err(|e| ImageError::io("random", e))?;
            let p = root.join(rnd);
            std::fs::create_dir_all(&p).map_err(|e| ImageError::io("creating scratch dir", e))?;
            Ok(Self(p))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What the store keeps about an image beside its config (in its marker file, empty
/// for an image never tagged by `tag_now`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ImageMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_tag_time: Option<String>,
}

/// What `import` is asked to record.
#[derive(Debug, Default)]
pub struct ImportOptions {
    pub reference: Option<Reference>,
    pub changes: RunConfig,
    pub message: Option<String>,
    pub created_by: String,
}

impl ImageStore {
    /// A scratch dir on the store's filesystem, for unpacking archives.
    pub fn scratch_dir(&self) -> Result<tempfile_dir::ScratchDir> {
        tempfile_dir::ScratchDir::new(&self.scratch_root)
    }

    pub fn open(root: &Path) -> Result<Self> {
        let scratch_root = root.join("tmp");
        let _ = fs::remove_dir_all(&scratch_root);
        fs::create_dir_all(&scratch_root).map_err(|e| ImageError::io("creating tmp dir", e))?;
        let images_dir = root.join("images");
        fs::create_dir_all(&images_dir).map_err(|e| ImageError::io("creating image dir", e))?;
        let refs_path = root.join("repositories.json");
        let refs = match fs::read(&refs_path) {
            Ok(d) => serde_json::from_slice(&d)
                .map_err(|e| ImageError::json(refs_path.display().to_string(), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ImageError::io("reading references", e)),
        };
        Ok(Self {
            content: ContentStore::open(&root.join("content"))?,
            layers: LayerStore::open(&root.join("layers"))?,
            images_dir,
            refs_path,
            scratch_root,
            refs: Mutex::new(refs),
        })
    }

    fn refs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Digest>> {
        self.refs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<()> {
        let data = serde_json::to_vec_pretty(refs).map_err(|e| ImageError::json("refs", e))?;
        crate::atomic::write_file(&self.refs_path, &data)
            .map_err(|e| ImageError::io("writing references", e))
    }

    pub fn ids(&self) -> Vec<Digest> {
        let Ok(entries) = fs::read_dir(&self.images_dir) else {
            return vec![];
        };
        entries
            .flatten()
            .filter_map(|e| {
                format!("sha256:{}", e.file_name().to_string_lossy())
                    .parse()
                    .ok()
            })
            .collect()
    }

    pub fn exists(&self, id: &Digest) -> bool {
        self.images_dir.join(id.hex()).exists()
    }

    /// Records an image whose layers are already unpacked. Returns its ID.
    pub fn create(&self, config: &ImageConfig) -> Result<Digest> {
        // Through a Value, whose maps are sorted: the same config always gives the same
        // bytes, and so the same image ID (HashMaps would not).
        let value =
            serde_json::to_value(config).map_err(|e| ImageError::json("image config", e))?;
        let json = serde_json::to_vec(&value).map_err(|e| ImageError::json("image config", e))?;
        self.create_raw(&json)
    }

    /// Records an image from its config bytes as given: the ID is their digest.
    pub fn create_raw(&self, json: &[u8]) -> Result<Digest> {
        let config: ImageConfig =
            serde_json::from_slice(json).map_err(|e| ImageError::json("image config", e))?;
        let mut parent: Option<Digest> = None;
        for diff in &config.rootfs.diff_ids {
            let c = chain_id(parent.as_ref(), diff);
            if !self.layers.exists(&c) {
                return Err(ImageError::InvalidArchive(format!(
                    "layer {diff} of the image is missing"
                )));
            }
            parent = Some(c);
        }
        let id = self.content.write(json)?;
        let marker = self.images_dir.join(id.hex());
        // An image made again keeps what is known about it (its tag time).
        if !marker.exists() {
            crate::atomic::write_file(&marker, b"")
                .map_err(|e| ImageError::io("recording image", e))?;
        }
        Ok(id)
    }

    pub fn get(&self, id: &Digest) -> Result<Image> {
        if !self.exists(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        let data = self.content.read(id)?;
        let config: ImageConfig =
            serde_json::from_slice(&data).map_err(|e| ImageError::json("image config", e))?;
        let mut chain = Vec::new();
        let mut size = 0;
        let mut parent: Option<Digest> = None;
        for diff in &config.rootfs.diff_ids {
            let c = chain_id(parent.as_ref(), diff);
            size += self.layers.meta(&c).map(|m| m.unpacked_size()).unwrap_or(0);
            chain.push(c.clone());
            parent = Some(c);
        }
        Ok(Image {
            id: id.clone(),
            config,
            chain,
            size,
        })
    }

    /// Layer dirs for overlay's lowerdir, top layer first.
    pub fn layer_dirs(&self, image: &Image) -> Vec<PathBuf> {
        image
            .chain
            .iter()
            .rev()
            .map(|c| self.layers.diff_dir(c))
            .collect()
    }

    /// Finds an image by reference, full ID, or unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        if let Ok(d) = name.parse::<Digest>() {
            if self.exists(&d) {
                return Ok(d);
            }
        }
        if let Ok(r) = Reference::parse_tagged(name) {
            if let Some(id) = self.refs().get(&r.to_string()) {
                return Ok(id.clone());
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            let matches: Vec<_> = self
                .ids()
                .into_iter()
                .filter(|id| id.hex().starts_with(prefix))
                .collect();
            match matches.len() {
                1 => return Ok(matches[0].clone()),
                0 => {}
                _ => return Err(ImageError::Ambiguous(name.to_string())),
            }
        }
        // A name that is neither a reference nor an ID is a malformed request.
        let shown = Reference::parse_tagged(name)?.familiar();
        Err(ImageError::NotFound(shown))
    }

    pub fn tag(&self, id: &Digest, r: &Reference) -> Result<()> {
        if !self.exists(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        // A name without tag or digest means `:latest`, as everywhere in Docker.
        let mut r = r.clone();
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(crate::reference::DEFAULT_TAG.to_string());
        }
        let mut refs = self.refs();
        refs.insert(r.to_string(), id.clone());
        self.save_refs(&refs)
    }

    /// `tag`, remembering when, as dockerd does for a tag, build, commit or import (a pull
    /// or load tags without it): inspect's `Metadata.LastTagTime`.
    pub fn tag_now(&self, id: &Digest, r: &Reference) -> Result<()> {
        self.tag(id, r)?;
        let meta = ImageMeta {
            last_tag_time: Some(
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            ),
        };
        let data = serde_json::to_vec(&meta).map_err(|e| ImageError::json("image meta", e))?;
        crate::atomic::write_file(&self.images_dir.join(id.hex()), &data)
            .map_err(|e| ImageError::io("recording tag time", e))
    }

    /// When the image was last tagged by `tag_now`, RFC 3339.
    pub fn last_tag_time(&self, id: &Digest) -> Option<String> {
        let data = fs::read(self.images_dir.join(id.hex())).ok()?;
        serde_json::from_slice::<ImageMeta>(&data)
            .ok()?
            .last_tag_time
    }

    /// Removes one reference; returns the image it pointed at.
    pub fn untag(&self, r: &Reference) -> Result<Digest> {
        let mut refs = self.refs();
        let id = refs
            .remove(&r.to_string())
            .ok_or_else(|| ImageError::NotFound(r.familiar()))?;
        self.save_refs(&refs)?;
        Ok(id)
    }

    /// References of an image, in familiar form (`busybox:latest`).
    pub fn references_of(&self, id: &Digest) -> Vec<String> {
        self.refs()
            .iter()
            .filter(|(_, v)| *v == id)
            .filter_map(|(k, _)| Reference::parse(k).ok().map(|r| r.familiar()))
            .collect()
    }

    pub fn all_references(&self) -> Vec<(Reference, Digest)> {
        self.refs()
            .iter()
            .filter_map(|(k, v)| Reference::parse(k).ok().map(|r| (r, v.clone())))
            .collect()
    }

    /// Deletes an image record, its references, and every layer and blob nothing else uses.
    /// Deletes the image and what only it used; returns the bytes that freed on disk
    /// (layers and blobs no other image shares).
    pub fn delete(&self, id: &Digest) -> Result<u64> {
        {
            let mut refs = self.refs();
            refs.retain(|_, v| v != id);
            self.save_refs(&refs)?;
        }
        match fs::remove_file(self.images_dir.join(id.hex())) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("deleting image", e)),
        }
        self.collect_garbage()
    }

    /// Removes layers and blobs that no image references; returns the bytes freed.
    pub fn collect_garbage(&self) -> Result<u64> {
        let mut freed = 0;
        let mut keep_layers = HashSet::new();
        let mut keep_blobs = HashSet::new();
        for id in self.ids() {
            if let Ok(img) = self.get(&id) {
                for c in &img.chain {
                    if let Ok(m) = self.layers.meta(c) {
                        if let Some(b) = m.blob {
                            keep_blobs.insert(b);
                        }
                    }
                    keep_layers.insert(c.clone());
                }
                keep_blobs.insert(id);
            }
        }
        for c in self.layers.list() {
            if !keep_layers.contains(&c) {
                freed += crate::usage::disk_usage(&self.layers.dir(&c));
                self.layers.remove(&c)?;
            }
        }
        for b in self.content.list() {
            if !keep_blobs.contains(&b) {
                freed += self.content.size(&b).unwrap_or(0);
                self.content.delete(&b)?;
            }
        }
        Ok(freed)
    }

    /// `docker import`: one layer from a (possibly compressed) rootfs tarball.
    pub fn import(&self, body: impl Read, opts: ImportOptions) -> Result<Digest> {
        let (blob, _) = ingest_reader(&self.content, body)?;
        let meta = {
            let f = self.content.open_blob(&blob)?;
            self.layers.apply(None, f, None, Some(blob.clone()))
        };
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                let _ = self.content.delete(&blob);
                return Err(e);
            }
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            created: Some(now.clone()),
            author: None,
            comment: Some(
                opts.message
                    .clone()
                    .unwrap_or_else(|| "Imported from -".into()),
            ),
            docker_version: None,
            config: opts.changes,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![meta.diff_id],
            },
            history: vec![History {
                created: Some(now),
                created_by: Some(opts.created_by),
                comment: Some(opts.message.unwrap_or_else(|| "Imported from -".into())),
                ..Default::default()
            }],
        };
        let id = self.create(&config)?;
        if let Some(r) = opts.reference {
            self.tag_now(&id, &r)?;
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(5);
        h.set_mode(0o755);
        b.append_data(&mut h, "bin/hello", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn import_tag_resolve_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        let r = Reference::parse_tagged("test/img").unwrap();
        let id = s
            .import(
                &rootfs_tar()[..],
                ImportOptions {
                    reference: Some(r.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(s.resolve("test/img").unwrap(), id);
        assert_eq!(s.resolve("test/img:latest").unwrap(), id);
        assert_eq!(s.resolve(&id.hex()[..6]).unwrap(), id);
        assert!(matches!(s.resolve("nope"), Err(ImageError::NotFound(_))));
        let img = s.get(&id).unwrap();
        assert_eq!(img.chain.len(), 1);
        assert!(s.layer_dirs(&img)[0].join("bin/hello").exists());
        assert_eq!(s.references_of(&id), vec!["test/img:latest"]);
        // Reopen: references persisted.
        drop(s);
        let s = ImageStore::open(dir.path()).unwrap();
        assert_eq!(s.resolve("test/img").unwrap(), id);
        s.delete(&id).unwrap();
        assert!(s.layers.list().is_empty());
        assert!(s.content.list().is_empty());
    }

    #[test]
    fn bad_import_leaves_store_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        assert!(s
            .import(
                &b"not a tarball at all, definitely"[..],
                ImportOptions::default()
            )
            .is_err());
        assert!(s.ids().is_empty());
        assert!(s.content.list().is_empty());
    }
}
