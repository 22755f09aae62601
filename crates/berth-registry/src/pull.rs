//! A pull: manifest (index → platform) → config → every layer at once, each streamed
//! once through its digest check, the content store and decompression into its layer
//! dir. Nothing is visible until verified; the reference is written last.

use crate::auth::Credentials;
use crate::client::{read_limited, Client, Session};
use crate::error::{RegistryError, Result};
use crate::manifest::{self, Descriptor, Fetched, ImageManifest, Platform};
use berth_image::config::ImageConfig;
use berth_image::digest::chain_id;
use berth_image::reference::Reference;
use berth_image::{Digest, ImageStore};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Semaphore};

/// Layers downloaded at once.
const PARALLEL_LAYERS: usize = 6;
/// Extra attempts for a layer whose download or unpack failed for a passing reason.
const MAX_RETRIES: u32 = 2;
/// Times one download that broke off goes on from where it stopped (a Range request).
const MAX_RESUMES: u32 = 3;
/// Largest image config accepted.
const MAX_CONFIG: usize = 8 << 20;

/// What a pull reports, in Docker's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A line about the whole pull, optionally under an id (the tag).
    Status { id: Option<String>, status: String },
    /// A line about one layer, by its short digest.
    Layer {
        id: String,
        status: &'static str,
        current: Option<u64>,
        total: Option<u64>,
    },
}

pub struct PullRequest {
    pub reference: Reference,
    pub platform: Platform,
    pub creds: Option<Credentials>,
}

fn short(d: &Digest) -> String {
    d.short().to_string()
}

/// A status-only line about one layer.
async fn layer_event(p: &mpsc::Sender<Progress>, id: impl Into<String>, status: &'static str) {
    send(
        p,
        Progress::Layer {
            id: id.into(),
            status,
            current: None,
            total: None,
        },
    )
    .await;
}

async fn send(p: &mpsc::Sender<Progress>, msg: Progress) {
    let _ = p.send(msg).await;
}

/// What to ask `manifests/` for: the reference's digest, else its tag, else `latest`.
pub(crate) fn manifest_reference(r: &Reference) -> String {
    match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".to_string(),
    }
}

/// A manifest or index by tag or digest: its body, media type header and digest (checked
/// against the reference when that is a digest).
pub(crate) async fn fetch_manifest(
    s: &Session,
    reference: &str,
) -> Result<(Bytes, String, Digest)> {
    let resp = s
        .get(&format!("manifests/{reference}"), Some(manifest::ACCEPT))
        .await?;
    let ct = resp
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = read_limited(resp, manifest::MAX_MANIFEST).await?;
    let digest = Digest::of(&body);
    if let Ok(asked) = reference.parse::<Digest>() {
        if asked != digest {
            return Err(RegistryError::Image(
                berth_image::ImageError::DigestMismatch {
                    expected: asked.to_string(),
                    actual: digest.to_string(),
                },
            ));
        }
    }
    Ok((body, ct, digest))
}

/// An image config blob, bounded and checked against its digest.
pub(crate) async fn fetch_config(s: &Session, config: &Descriptor) -> Result<Bytes> {
    let resp = s.get(&format!("blobs/{}", config.digest), None).await?;
    let bytes = read_limited(resp, MAX_CONFIG).await?;
    let actual = Digest::of(&bytes);
    if actual != config.digest {
        return Err(RegistryError::Image(
            berth_image::ImageError::DigestMismatch {
                expected: config.digest.to_string(),
                actual: actual.to_string(),
            },
        ));
    }
    Ok(bytes)
}

/// Resolves the reference to one image manifest for the platform; returns it and the
/// digest of what the reference named (the index or the manifest).
async fn resolve(
    s: &Session,
    reference: &str,
    platform: &Platform,
) -> Result<(ImageManifest, Digest)> {
    let (body, ct, digest) = fetch_manifest(s, reference).await?;
    match manifest::parse(&ct, &body)? {
        Fetched::Manifest(m) => Ok((m, digest)),
        Fetched::Index(idx) => {
            let entry = manifest::select(&idx, platform).ok_or_else(|| {
                RegistryError::NoPlatform(format!(
                    "{}/{}{}",
                    platform.os,
                    platform.architecture,
                    platform
                        .variant
                        .as_ref()
                        .map(|v| format!("/{v}"))
                        .unwrap_or_default()
                ))
            })?;
            let (body, ct, _) = fetch_manifest(s, entry.digest.as_str()).await?;
            match manifest::parse(&ct, &body)? {
                Fetched::Manifest(m) => Ok((m, digest)),
                Fetched::Index(_) => Err(RegistryError::InvalidManifest(
                    "an index points at another index".into(),
                )),
            }
        }
    }
}

/// Hashes and stores every compressed byte on its way to the decompressor.
struct TeeReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
    ingest: Arc<Mutex<Option<berth_image::content::Ingest>>>,
    seen: u64,
    limit: u64,
    /// Compressed bytes the unpack has taken so far, for "Extracting" progress.
    consumed: Arc<std::sync::atomic::AtomicU64>,
    /// The bytes an earlier, broken-off download left in the ingest: read first, and not
    /// written again.
    resumed: Option<Box<dyn Read + Send>>,
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(r) = self.resumed.as_mut() {
            match r.read(buf)? {
                0 => self.resumed = None,
                n => {
                    self.seen += n as u64;
                    self.consumed
                        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    return Ok(n);
                }
            }
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    self.seen += b.len() as u64;
                    if self.seen > self.limit {
                        return Err(std::io::Error::other(
                            "the layer is larger than its descriptor says",
                        ));
                    }
                    if let Some(i) = self
                        .ingest
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_mut()
                    {
                        i.write_all(&b)?;
                    }
                    self.current = b;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        self.consumed
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Asks for a blob again from byte `from` on. Returns the response and how many bytes of
/// its body to drop (all of `from` when the registry answered 200 to the Range request).
async fn resume(
    session: &Session,
    path: &str,
    from: u64,
) -> std::result::Result<(hyper::Response<hyper::body::Incoming>, u64), String> {
    let resp = session
        .get_from(path, None, from)
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != http::StatusCode::PARTIAL_CONTENT {
        return Ok((resp, from));
    }
    let range = resp
        .headers()
        .get("Content-Range")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !range.starts_with(&format!("bytes {from}-")) {
        return Err(format!(
            "asked for bytes {from}- and got a range of {range:?}"
        ));
    }
    Ok((resp, 0))
}

/// Downloads one layer and unpacks it as it arrives.
async fn fetch_layer(
    session: Arc<Session>,
    store: Arc<ImageStore>,
    layer: Descriptor,
    parent: Option<Digest>,
    diff_id: Digest,
    progress: mpsc::Sender<Progress>,
) -> Result<()> {
    let id = short(&layer.digest);
    let path = format!("blobs/{}", layer.digest);
    // Go on from what an earlier download of this blob left, if anything.
    let mut ing = store.content.resumable_ingest(&layer.digest)?;
    if ing.resumed() > layer.size {
        ing.discard();
        ing = store.content.resumable_ingest(&layer.digest)?;
    }
    let resumed = ing.resumed();
    let resumed_bytes: Option<Box<dyn Read + Send>> = match resumed {
        0 => None,
        _ => Some(Box::new(ing.resumed_bytes()?)),
    };
    // The body to read, and how many of its first bytes to drop.
    let (mut body, mut skip) = if resumed == layer.size {
        (None, 0) // every byte is here already
    } else if resumed > 0 {
        layer_event(&progress, id.clone(), "Resuming download").await;
        match resume(&session, &path, resumed).await {
            Ok((resp, skip)) => (Some(resp.into_body()), skip),
            Err(e) => {
                ing.suspend(); // the registry may answer next time
                return Err(RegistryError::DownloadInterrupted(e));
            }
        }
    } else {
        (Some(session.get(&path, None).await?.into_body()), 0)
    };
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
    let ingest = Arc::new(Mutex::new(Some(ing)));
    let blob = layer.digest.clone();
    let consumed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut unpack = {
        let store = store.clone();
        let ingest = ingest.clone();
        let consumed = consumed.clone();
        let blob = blob.clone();
        let size = layer.size;
        tokio::task::spawn_blocking(move || -> Result<()> {
            let tee = TeeReader {
                rx,
                current: Bytes::new(),
                ingest: ingest.clone(),
                seen: 0,
                limit: size,
                consumed,
                resumed: resumed_bytes,
            };
            store.layers.apply_checked(
                parent.as_ref(),
                tee,
                Some(&diff_id),
                Some(blob.clone()),
                || {
                    // Every compressed byte has passed: the blob must be what the manifest says.
                    let ing = ingest.lock().unwrap_or_else(|p| p.into_inner()).take();
                    match ing {
                        Some(i) if i.size() == size => i.commit(Some(&blob)).map(|_| ()),
                        Some(i) => Err(berth_image::ImageError::InvalidArchive(format!(
                            "layer {blob} is {} bytes, the manifest says {size}",
                            i.size()
                        ))),
                        None => Ok(()),
                    }
                },
            )?;
            Ok(())
        })
    };
    let mut download_error: Option<String> = None;
    let mut current = resumed;
    let mut last_report = resumed;
    let mut resumes = 0u32;
    while let Some(b) = body.as_mut() {
        let broke = match b.frame().await {
            None if current >= layer.size => break,
            None => format!("the body ended after {current} of {} bytes", layer.size),
            Some(Err(e)) => e.to_string(),
            Some(Ok(frame)) => {
                let Ok(mut data) = frame.into_data() else {
                    continue;
                };
                if skip > 0 {
                    let n = skip.min(data.len() as u64);
                    data = data.slice(n as usize..);
                    skip -= n;
                }
                if data.is_empty() {
                    continue;
                }
                current += data.len() as u64;
                if tx.send(Ok(data)).await.is_err() {
                    break; // the unpack failed; its error is reported below
                }
                if current - last_report >= 512 * 1024 {
                    last_report = current;
                    send(
                        &progress,
                        Progress::Layer {
                            id: id.clone(),
                            status: "Downloading",
                            current: Some(current),
                            total: Some(layer.size),
                        },
                    )
                    .await;
                }
                continue;
            }
        };
        // The download broke off: go on from where it stopped, into the same unpack.
        let resumed = if resumes < MAX_RESUMES {
            resumes += 1;
            layer_event(&progress, id.clone(), "Resuming download").await;
            resume(&session, &path, current).await
        } else {
            Err(broke)
        };
        match resumed {
            Ok((next, to_skip)) => {
                body = Some(next.into_body());
                skip = to_skip;
            }
            Err(why) => {
                let msg = format!("download of {blob} failed: {why}");
                let _ = tx.send(Err(std::io::Error::other(msg.clone()))).await;
                download_error = Some(msg);
                break;
            }
        }
    }
    drop(tx);
    layer_event(&progress, id.clone(), "Download complete").await;
    // Decompression and extraction ran along with the download; report what is left.
    let extracting = |current: u64| Progress::Layer {
        id: id.clone(),
        status: "Extracting",
        current: Some(current),
        total: Some(layer.size),
    };
    let unpacked = loop {
        send(
            &progress,
            extracting(consumed.load(std::sync::atomic::Ordering::Relaxed)),
        )
        .await;
        tokio::select! {
            done = &mut unpack => break done,
            _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
        }
    };
    let unpacked = unpacked.map_err(|e| RegistryError::Task(format!("unpack task: {e}")))?;
    // A download that broke off is worth another try, whatever the unpack made of it; the
    // bytes so far stay for that try (or the next pull) to go on from.
    if let Some(msg) = download_error {
        let partial = ingest.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(i) = partial {
            i.suspend();
        }
        return Err(RegistryError::DownloadInterrupted(msg));
    }
    match unpacked {
        // The kept bytes may be what failed (a power loss can leave garbage at the end of
        // a file): they are gone now, so one more try starts from nothing.
        Err(e) if resumed > 0 => {
            return Err(RegistryError::ResumeFailed(format!(
                "going on from the {resumed} bytes an earlier download left failed ({e}); starting over"
            )))
        }
        r => r?,
    }
    // Where it came from, for cross-repository mounts on a later push.
    let _ = store.content.add_source(
        &blob,
        &format!("{}/{}", session.registry, session.repository),
    );
    layer_event(&progress, id, "Pull complete").await;
    Ok(())
}

/// Pulls an image and tags it; returns its ID.
pub async fn pull(
    client: &Client,
    store: Arc<ImageStore>,
    req: PullRequest,
    progress: mpsc::Sender<Progress>,
) -> Result<Digest> {
    let r = &req.reference;
    let wanted = manifest_reference(r);
    let shown = r.tag.clone().unwrap_or_else(|| wanted.clone());
    // The registry's mirrors first, in order; the first that has the image serves the
    // whole pull. One that is down or lacks it passes to the next, then to the registry.
    let mut found = None;
    for mirror in client.mirror_sessions(&r.domain, &r.path) {
        if let Ok(resolved) = resolve(&mirror, &wanted, &req.platform).await {
            found = Some((Arc::new(mirror), resolved));
            break;
        }
    }
    let (session, (m, named_digest)) = match found {
        Some(f) => f,
        None => {
            let session = client
                .session(&r.domain, &r.path, req.creds.clone())
                .await?;
            // Resolved before anything is reported, as dockerd does: a pull of an image
            // that does not exist is then an HTTP error, not a stream that ends in one.
            let resolved = resolve(&session, &wanted, &req.platform).await?;
            (Arc::new(session), resolved)
        }
    };
    send(
        &progress,
        Progress::Status {
            id: Some(shown),
            status: format!("Pulling from {}", r.familiar_repository()),
        },
    )
    .await;

    let config_bytes = fetch_config(&session, &m.config).await?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| RegistryError::InvalidManifest(format!("invalid image config: {e}")))?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(RegistryError::InvalidManifest(format!(
            "the manifest has {} layers but the config {}",
            m.layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    let already = store.exists(&m.config.digest);

    // Chain IDs are known from the config, so every layer can unpack at once.
    let limit = Arc::new(Semaphore::new(PARALLEL_LAYERS));
    let mut tasks = tokio::task::JoinSet::new();
    let mut parent: Option<Digest> = None;
    for (layer, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
        let chain = chain_id(parent.as_ref(), diff_id);
        if store.layers.exists(&chain) {
            layer_event(&progress, short(&layer.digest), "Already exists").await;
        } else {
            layer_event(&progress, short(&layer.digest), "Pulling fs layer").await;
            let (session, store, layer, parent, diff_id, progress, limit) = (
                session.clone(),
                store.clone(),
                layer.clone(),
                parent.clone(),
                diff_id.clone(),
                progress.clone(),
                limit.clone(),
            );
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let mut attempt = 0u32;
                loop {
                    let r = fetch_layer(
                        session.clone(),
                        store.clone(),
                        layer.clone(),
                        parent.clone(),
                        diff_id.clone(),
                        progress.clone(),
                    )
                    .await;
                    match r {
                        Err(e) if attempt < MAX_RETRIES && e.is_transient() => {
                            attempt += 1;
                            let id = short(&layer.digest);
                            layer_event(&progress, id, "Retrying").await;
                            tokio::time::sleep(std::time::Duration::from_millis(
                                500 * u64::from(attempt),
                            ))
                            .await;
                        }
                        other => break other,
                    }
                }
            });
        }
        parent = Some(chain);
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(e);
            }
            Err(e) => {
                tasks.abort_all();
                return Err(RegistryError::Task(format!("layer task: {e}")));
            }
        }
    }
    // Verified and unpacked: now the image, and its name last.
    let id = store.create_raw(&config_bytes)?;
    if r.digest.is_none() {
        store.tag(&id, r)?;
    }
    send(
        &progress,
        Progress::Status {
            id: None,
            status: format!("Digest: {named_digest}"),
        },
    )
    .await;
    let status = if already {
        "Image is up to date for"
    } else {
        "Downloaded newer image for"
    };
    send(
        &progress,
        Progress::Status {
            id: None,
            status: format!("Status: {status} {}", r.familiar()),
        },
    )
    .await;
    Ok(id)
}
