//! docker-archive tarballs: `docker save` / `docker load`.
//!
//! Save writes the layout Docker 25+ writes (an OCI image layout plus Docker's
//! `manifest.json`); load reads that and the older `<id>/layer.tar` layout.

use crate::config::ImageConfig;
use crate::digest::{chain_id, Digest};
use crate::error::{ImageError, Result};
use crate::layer::decompress;
use crate::reference::Reference;
use crate::store::ImageStore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path};

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Largest manifest.json or config accepted from an archive.
const MAX_JSON: u64 = 8 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What a load brought in, for the "Loaded image" lines.
#[derive(Debug, Default)]
pub struct Loaded {
    pub tags: Vec<String>,
    pub untagged_ids: Vec<Digest>,
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, path, data)
        .map_err(|e| ImageError::io("writing archive", e))
}

/// Writes the images (each with the references asked for) as one docker-archive.
pub fn save<W: Write>(
    store: &ImageStore,
    images: &[(Digest, Vec<Reference>)],
    out: W,
) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    for (id, refs) in images {
        let img = store.get(id)?;
        let config_bytes = store.content.read(id)?;
        if written.insert(id.clone()) {
            append_bytes(
                &mut tar,
                &format!("blobs/sha256/{}", id.hex()),
                &config_bytes,
            )?;
        }
        let mut layer_descs = Vec::new();
        let mut layer_paths = Vec::new();
        for chain in &img.chain {
            let meta = store.layers.meta(chain)?;
            let path = format!("blobs/sha256/{}", meta.diff_id.hex());
            layer_descs.push(serde_json::json!({
                "mediaType": MEDIA_LAYER, "digest": meta.diff_id, "size": meta.size,
            }));
            layer_paths.push(path.clone());
            if !written.insert(meta.diff_id.clone()) {
                continue;
            }
            let blob = meta.blob.ok_or_else(|| {
                ImageError::InvalidArchive(format!("layer {} has no stored tarball", meta.diff_id))
            })?;
            let reader = decompress(store.content.open_blob(&blob)?)
                .map_err(|e| ImageError::io("reading layer", e))?;
            let mut h = tar::Header::new_ustar();
            h.set_size(meta.size);
            h.set_mode(0o644);
            h.set_mtime(0);
            tar.append_data(&mut h, &path, reader)
                .map_err(|e| ImageError::io("writing archive", e))?;
        }
        let oci_manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": id, "size": config_bytes.len()},
            "layers": layer_descs,
        }))
        .map_err(|e| ImageError::json("manifest", e))?;
        let mdigest = Digest::of(&oci_manifest);
        if written.insert(mdigest.clone()) {
            append_bytes(
                &mut tar,
                &format!("blobs/sha256/{}", mdigest.hex()),
                &oci_manifest,
            )?;
        }
        let mut desc = serde_json::json!({
            "mediaType": MEDIA_MANIFEST, "digest": mdigest, "size": oci_manifest.len(),
        });
        if let Some(r) = refs.first() {
            desc["annotations"] = serde_json::json!({
                "io.containerd.image.name": r.to_string(),
                "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
            });
        }
        index.push(desc);
        manifest.push(ManifestEntry {
            config: format!("blobs/sha256/{}", id.hex()),
            repo_tags: Some(refs.iter().map(|r| r.familiar()).collect()),
            layers: layer_paths,
        });
    }
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| ImageError::json("manifest.json", e))?;
    append_bytes(&mut tar, "manifest.json", &manifest_json)?;
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index_json = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": index,
    }))
    .map_err(|e| ImageError::json("index.json", e))?;
    append_bytes(&mut tar, "index.json", &index_json)?;
    tar.finish()
        .map_err(|e| ImageError::io("writing archive", e))?;
    Ok(())
}

/// A path named inside the archive, checked to stay inside it.
fn inside(root: &Path, name: &str) -> Result<std::path::PathBuf> {
    let p = Path::new(name);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ImageError::InvalidArchive(format!(
            "archive names a path outside itself: {name}"
        )));
    }
    Ok(root.join(p))
}

fn read_json_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    let f = fs::File::open(path)
        .map_err(|e| ImageError::InvalidArchive(format!("invalid archive: {what} missing: {e}")))?;
    let mut data = Vec::new();
    f.take(MAX_JSON + 1)
        .read_to_end(&mut data)
        .map_err(|e| ImageError::io(what.to_string(), e))?;
    if data.len() as u64 > MAX_JSON {
        return Err(ImageError::InvalidArchive(format!("{what} is too large")));
    }
    Ok(data)
}

/// An error with its causes: "failed to unpack `x`: the archive expands to ...".
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Reads a docker-archive and adds its images and tags to the store.
pub fn load(store: &ImageStore, input: impl Read) -> Result<Loaded> {
    let scratch = store.scratch_dir()?;
    let dir = scratch.path();
    // Bounded as a layer is: a small archive must not write gigabytes before it fails.
    let input = crate::layer::bounded_decompress(input, store.layers.bomb_limit())
        .map_err(|e| ImageError::io("reading archive", e))?;
    let mut ar = tar::Archive::new(input);
    for entry in ar
        .entries()
        .map_err(|e| ImageError::InvalidArchive(format!("invalid tar archive: {e}")))?
    {
        let mut entry =
            entry.map_err(|e| ImageError::InvalidArchive(format!("invalid tar archive: {e}")))?;
        let kind = entry.header().entry_type();
        // Only plain files and dirs matter; links inside an archive are never followed.
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        entry.unpack_in(dir).map_err(|e| {
            ImageError::InvalidArchive(format!("invalid tar archive: {}", causes(&e)))
        })?;
    }
    let manifest_bytes = read_json_file(&dir.join("manifest.json"), "manifest.json")?;
    let manifest: Vec<ManifestEntry> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ImageError::InvalidArchive(format!("invalid manifest.json: {e}")))?;
    let mut loaded = Loaded::default();
    for entry in manifest {
        let config_bytes = read_json_file(&inside(dir, &entry.config)?, &entry.config)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| ImageError::InvalidArchive(format!("invalid image config: {e}")))?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(ImageError::InvalidArchive(format!(
                "image config lists {} layers but the manifest has {}",
                config.rootfs.diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut parent: Option<Digest> = None;
        for (layer_path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let chain = chain_id(parent.as_ref(), diff_id);
            if !store.layers.exists(&chain) {
                let path = inside(dir, layer_path)?;
                let f = fs::File::open(&path).map_err(|e| {
                    ImageError::InvalidArchive(format!("layer {layer_path} missing: {e}"))
                })?;
                let (blob, _) = crate::content::ingest_reader(&store.content, f)?;
                let f = store.content.open_blob(&blob)?;
                if let Err(e) =
                    store
                        .layers
                        .apply(parent.as_ref(), f, Some(diff_id), Some(blob.clone()))
                {
                    let _ = store.content.delete(&blob);
                    return Err(e);
                }
            }
            parent = Some(chain);
        }
        let id = store.create_raw(&config_bytes)?;
        let tags = entry.repo_tags.unwrap_or_default();
        if tags.is_empty() {
            loaded.untagged_ids.push(id.clone());
        }
        for t in tags {
            let r = Reference::parse_tagged(&t)?;
            store.tag(&id, &r)?;
            loaded.tags.push(r.familiar());
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ImportOptions;

    #[test]
    fn save_load_round_trip() {
        let a = tempfile::tempdir().unwrap();
        let s = ImageStore::open(a.path()).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/x", &b"hi"[..]).unwrap();
        let rootfs = b.into_inner().unwrap();
        let r = Reference::parse_tagged("rt:1").unwrap();
        let id = s
            .import(
                &rootfs[..],
                ImportOptions {
                    reference: Some(r.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        let mut archive = Vec::new();
        save(&s, &[(id.clone(), vec![r])], &mut archive).unwrap();

        let b = tempfile::tempdir().unwrap();
        let s2 = ImageStore::open(b.path()).unwrap();
        let loaded = load(&s2, &archive[..]).unwrap();
        assert_eq!(loaded.tags, vec!["rt:1"]);
        assert_eq!(s2.resolve("rt:1").unwrap(), id);
        let img = s2.get(&id).unwrap();
        assert!(s2.layer_dirs(&img)[0].join("etc/x").exists());
    }

    #[test]
    fn load_rejects_garbage_and_escapes() {
        let a = tempfile::tempdir().unwrap();
        let s = ImageStore::open(a.path()).unwrap();
        assert!(load(&s, &b"garbage"[..]).is_err());
        let mut b = tar::Builder::new(Vec::new());
        append_bytes(
            &mut b,
            "manifest.json",
            br#"[{"Config":"../../etc/passwd","RepoTags":["x:1"],"Layers":[]}]"#,
        )
        .unwrap();
        let data = b.into_inner().unwrap();
        let err = load(&s, &data[..]).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(s.ids().is_empty());
    }

    #[test]
    fn a_small_archive_cannot_write_gigabytes() {
        let a = tempfile::tempdir().unwrap();
        let mut s = ImageStore::open(a.path()).unwrap();
        let bomb = crate::layer::BombLimit {
            ratio: 10,
            floor: 1 << 20,
        };
        s.layers = crate::layer::LayerStore::open(&a.path().join("layers"))
            .unwrap()
            .with_bomb_limit(bomb);
        // 16 MiB of zeros in a gzipped archive of ~16 KiB.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(16 << 20);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, "big", std::io::repeat(0).take(16 << 20))
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::copy(&mut &b.into_inner().unwrap()[..], &mut gz).unwrap();
        let data = gz.finish().unwrap();
        let err = load(&s, &data[..]).unwrap_err();
        assert!(err.to_string().contains("decompression bomb"), "{err}");
        assert!(s.ids().is_empty());
    }
}
