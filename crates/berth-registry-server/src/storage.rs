//! The registry's storage: blobs in a content store shared by every repository, and per
//! repository the blobs it may serve (link files), its manifests and its tags.
//!
//! ```text
//! <root>/content/blobs/sha256/<hex>          blobs and manifests, by digest
//! <root>/repositories/<name>/_blobs/<hex>     this repository may serve that blob
//! <root>/repositories/<name>/_manifests/<hex> a manifest of this repository (its media type)
//! <root>/repositories/<name>/_tags/<tag>      the manifest digest a tag points at
//! <root>/repositories/<name>/_referrers/<subject-hex>/<hex>
//!                                             a manifest whose `subject` is that digest
//! <root>/uploads/<uuid>                       upload sessions in progress
//! ```

use berth_image::content::ContentStore;
use berth_image::Digest;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct Storage {
    root: PathBuf,
    pub content: ContentStore,
}

/// Repository names as the distribution spec allows them.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.as_bytes()[0].is_ascii_alphanumeric()
        })
}

pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// The digest in a manifest's `subject` field (OCI 1.1: what an artifact refers to).
pub fn subject_of(manifest: &[u8]) -> Option<Digest> {
    let v: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    v.get("subject")?.get("digest")?.as_str()?.parse().ok()
}

impl Storage {
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("repositories"))?;
        fs::create_dir_all(root.join("uploads"))?;
        let content = ContentStore::open(&root.join("content")).map_err(io::Error::other)?;
        Ok(Self {
            root: root.to_path_buf(),
            content,
        })
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    pub fn repo_exists(&self, name: &str) -> bool {
        self.repo(name).is_dir()
    }

    pub fn has_blob(&self, name: &str, d: &Digest) -> bool {
        self.repo(name).join("_blobs").join(d.hex()).exists() && self.content.exists(d)
    }

    pub fn link_blob(&self, name: &str, d: &Digest) -> io::Result<()> {
        let dir = self.repo(name).join("_blobs");
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(d.hex()), b"")
    }

    pub fn unlink_blob(&self, name: &str, d: &Digest) -> io::Result<bool> {
        match fs::remove_file(self.repo(name).join("_blobs").join(d.hex())) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Any repository that has this blob (for cross-repository mounts).
    pub fn blob_in(&self, from: &str, d: &Digest) -> bool {
        valid_name(from) && self.has_blob(from, d)
    }

    pub fn upload_path(&self, id: &str) -> Option<PathBuf> {
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.root.join("uploads").join(id))
    }

    pub fn new_upload(&self) -> io::Result<String> {
        let id = berth_image::atomic::random_hex(16)?;
        fs::File::create(self.root.join("uploads").join(&id))?;
        Ok(id)
    }

    pub fn append_upload(&self, id: &str, data: &[u8]) -> io::Result<u64> {
        let p = self
            .upload_path(id)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let mut f = fs::OpenOptions::new().append(true).open(&p)?;
        f.write_all(data)?;
        Ok(f.metadata()?.len())
    }

    pub fn upload_size(&self, id: &str) -> Option<u64> {
        fs::metadata(self.upload_path(id)?).ok().map(|m| m.len())
    }

    /// Verifies the upload against `expected` and moves it into the content store.
    pub fn finish_upload(&self, id: &str, expected: &Digest) -> Result<(), String> {
        let p = self.upload_path(id).ok_or("unknown upload")?;
        let f = fs::File::open(&p).map_err(|_| "unknown upload".to_string())?;
        let mut ing = self.content.ingest().map_err(|e| e.to_string())?;
        io::copy(&mut io::BufReader::new(f), &mut ing).map_err(|e| e.to_string())?;
        let _ = fs::remove_file(&p);
        ing.commit(Some(expected))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn cancel_upload(&self, id: &str) -> bool {
        self.upload_path(id)
            .is_some_and(|p| fs::remove_file(p).is_ok())
    }

    pub fn put_manifest(
        &self,
        name: &str,
        media_type: &str,
        body: &[u8],
        tag: Option<&str>,
        subject: Option<&Digest>,
    ) -> io::Result<Digest> {
        let d = self.content.write(body).map_err(io::Error::other)?;
        if let Some(subject) = subject {
            let dir = self.referrers_dir(name, subject);
            fs::create_dir_all(&dir)?;
            fs::write(dir.join(d.hex()), b"")?;
        }
        let dir = self.repo(name).join("_manifests");
        fs::create_dir_all(&dir)?;
        berth_image::atomic::write_file(&dir.join(d.hex()), media_type.as_bytes())?;
        if let Some(t) = tag {
            let tags = self.repo(name).join("_tags");
            fs::create_dir_all(&tags)?;
            berth_image::atomic::write_file(&tags.join(t), d.as_str().as_bytes())?;
        }
        Ok(d)
    }

    /// A manifest by tag or digest: (digest, media type, body).
    pub fn get_manifest(&self, name: &str, reference: &str) -> Option<(Digest, String, Vec<u8>)> {
        let d: Digest = match reference.parse() {
            Ok(d) => d,
            Err(_) if valid_tag(reference) => {
                fs::read_to_string(self.repo(name).join("_tags").join(reference))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?
            }
            Err(_) => return None,
        };
        let media = fs::read_to_string(self.repo(name).join("_manifests").join(d.hex())).ok()?;
        let body = self.content.read(&d).ok()?;
        Some((d, media, body))
    }

    /// Deletes a manifest by digest (and the tags pointing at it); false if unknown.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> io::Result<bool> {
        let m = self.repo(name).join("_manifests").join(d.hex());
        if !m.exists() {
            return Ok(false);
        }
        fs::remove_file(m)?;
        let subject = self.content.read(d).ok().and_then(|b| subject_of(&b));
        if let Some(subject) = subject {
            let _ = fs::remove_file(self.referrers_dir(name, &subject).join(d.hex()));
        }
        if let Ok(tags) = fs::read_dir(self.repo(name).join("_tags")) {
            for t in tags.flatten() {
                if fs::read_to_string(t.path())
                    .map(|s| s.trim() == d.as_str())
                    .unwrap_or(false)
                {
                    let _ = fs::remove_file(t.path());
                }
            }
        }
        Ok(true)
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo(name).join("_referrers").join(subject.hex())
    }

    /// The manifests of `name` whose `subject` is `subject`, sorted by digest.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<Digest> {
        let mut v: Vec<Digest> = fs::read_dir(self.referrers_dir(name, subject))
            .map(|r| {
                r.flatten()
                    .filter_map(|e| {
                        format!("sha256:{}", e.file_name().to_string_lossy())
                            .parse()
                            .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a: &Digest, b| a.as_str().cmp(b.as_str()));
        v
    }

    pub fn tags(&self, name: &str) -> Vec<String> {
        let mut t: Vec<String> = fs::read_dir(self.repo(name).join("_tags"))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        t.sort();
        t
    }

    /// Every repository name, sorted.
    pub fn catalog(&self) -> Vec<String> {
        let mut out = vec![];
        let base = self.root.join("repositories");
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('_') {
                    if name == "_manifests" || name == "_blobs" {
                        if let Ok(rel) = dir.strip_prefix(&base) {
                            let r = rel.to_string_lossy().into_owned();
                            if !out.contains(&r) {
                                out.push(r);
                            }
                        }
                    }
                } else if e.path().is_dir() {
                    stack.push(e.path());
                }
            }
        }
        out.sort();
        out
    }
}

/// What a garbage collection found (and, unless a dry run, removed).
#[derive(Debug, Default)]
pub struct Collected {
    pub blobs: Vec<Digest>,
    pub bytes: u64,
}

impl Storage {
    fn manifests_of(&self, name: &str) -> Vec<(Digest, String)> {
        fs::read_dir(self.repo(name).join("_manifests"))
            .map(|r| {
                r.flatten()
                    .filter_map(|e| {
                        let d = format!("sha256:{}", e.file_name().to_string_lossy())
                            .parse()
                            .ok()?;
                        Some((d, fs::read_to_string(e.path()).unwrap_or_default()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes every blob no manifest of any repository references (run it with the
    /// server stopped, as with Docker's registry). Manifests, tagged or not, are kept.
    pub fn garbage_collect(&self, dry_run: bool) -> io::Result<Collected> {
        let mut keep = std::collections::HashSet::new();
        for name in self.catalog() {
            for (d, media) in self.manifests_of(&name) {
                keep.insert(d.clone());
                let Ok(body) = self.content.read(&d) else {
                    continue;
                };
                match berth_registry::manifest::parse(&media, &body) {
                    Ok(berth_registry::manifest::Fetched::Manifest(m)) => {
                        keep.insert(m.config.digest);
                        keep.extend(m.layers.into_iter().map(|l| l.digest));
                    }
                    Ok(berth_registry::manifest::Fetched::Index(i)) => {
                        keep.extend(i.manifests.into_iter().map(|m| m.digest))
                    }
                    Err(_) => {}
                }
            }
        }
        let mut out = Collected::default();
        for d in self.content.list() {
            if keep.contains(&d) {
                continue;
            }
            out.bytes += self.content.size(&d).unwrap_or(0);
            if !dry_run {
                for name in self.catalog() {
                    self.unlink_blob(&name, &d)?;
                }
                self.content.delete(&d).map_err(io::Error::other)?;
            }
            out.blobs.push(d);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_collection_keeps_what_manifests_reference() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let blob = |data: &[u8]| {
            let id = s.new_upload().unwrap();
            s.append_upload(&id, data).unwrap();
            let d = Digest::of(data);
            s.finish_upload(&id, &d).unwrap();
            s.link_blob("r/x", &d).unwrap();
            d
        };
        let (config, layer, orphan) = (blob(b"config"), blob(b"layer"), blob(b"orphan"));
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"x","size":6,"digest":"{config}"}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":5,"digest":"{layer}"}}]}}"#
        );
        let md = s
            .put_manifest(
                "r/x",
                berth_registry::manifest::OCI_MANIFEST,
                m.as_bytes(),
                Some("1"),
                None,
            )
            .unwrap();
        let dry = s.garbage_collect(true).unwrap();
        assert_eq!(dry.blobs, vec![orphan.clone()]);
        assert!(s.content.exists(&orphan), "a dry run removes nothing");
        let done = s.garbage_collect(false).unwrap();
        assert_eq!(done.blobs, vec![orphan.clone()]);
        assert!(!s.content.exists(&orphan) && !s.has_blob("r/x", &orphan));
        assert!(s.has_blob("r/x", &config) && s.has_blob("r/x", &layer));
        // Without its manifest, the image's blobs go too.
        s.delete_manifest("r/x", &md).unwrap();
        assert_eq!(s.garbage_collect(false).unwrap().blobs.len(), 3);
        assert!(s.content.list().is_empty());
    }

    #[test]
    fn names_and_tags() {
        assert!(valid_name("library/busybox"));
        assert!(!valid_name("Upper/case"));
        assert!(!valid_name("a//b"));
        assert!(!valid_name("../x"));
        assert!(valid_tag("v1.2_3"));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag("a/b"));
    }

    #[test]
    fn uploads_verify_and_manifests_tag() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let id = s.new_upload().unwrap();
        s.append_upload(&id, b"hello").unwrap();
        let wrong = Digest::of(b"other");
        assert!(s.finish_upload(&id, &wrong).is_err());
        let id = s.new_upload().unwrap();
        s.append_upload(&id, b"hel").unwrap();
        s.append_upload(&id, b"lo").unwrap();
        s.finish_upload(&id, &Digest::of(b"hello")).unwrap();
        s.link_blob("a/b", &Digest::of(b"hello")).unwrap();
        assert!(s.has_blob("a/b", &Digest::of(b"hello")));
        assert!(!s.has_blob("c/d", &Digest::of(b"hello")));
        let d = s
            .put_manifest("a/b", "application/x", b"{}", Some("v1"), None)
            .unwrap();
        assert_eq!(s.get_manifest("a/b", "v1").unwrap().0, d);
        assert_eq!(s.tags("a/b"), vec!["v1"]);
        assert_eq!(s.catalog(), vec!["a/b"]);
        assert!(s.delete_manifest("a/b", &d).unwrap());
        assert!(s.get_manifest("a/b", "v1").is_none());
    }
}
