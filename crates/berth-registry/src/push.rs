//! A push: every blob the registry lacks (checked with HEAD), uploaded monolithically
//! from the content store as a stream, then the manifest last.

use crate::auth::Credentials;
use crate::client::{bytes, read_limited, Body, Client, Session};
use crate::error::{RegistryError, Result};
use crate::manifest::{DOCKER_MANIFEST, OCI_MANIFEST};
use crate::pull::Progress;
use berth_image::reference::Reference;
use berth_image::{Digest, ImageStore};
use bytes::Bytes;
use http::{Method, StatusCode};
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Blobs larger than this are uploaded in chunks of this size.
const CHUNK: u64 = 32 << 20;

pub struct PushRequest {
    /// The local image to push.
    pub image: Digest,
    /// Where to: repository and tag.
    pub reference: Reference,
    pub creds: Option<Credentials>,
}

/// A request body read from a file on a blocking thread.
struct FileBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::io::Result<http_body::Frame<Bytes>>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }
}

fn file_body(mut file: std::fs::File, sent: Arc<AtomicU64>) -> Body {
    use http_body_util::BodyExt;
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || loop {
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                sent.fetch_add(n as u64, Ordering::Relaxed);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    FileBody { rx }.boxed()
}

/// The media type a stored layer blob is pushed as, from its first bytes.
fn layer_media_type(store: &ImageStore, blob: &Digest, oci: bool) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let n = store.content.open_blob(blob)?.read(&mut head).unwrap_or(0);
    let gz = n >= 2 && head[..2] == [0x1f, 0x8b];
    let zstd = n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd];
    Ok(match (oci, gz, zstd) {
        (_, _, true) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (true, true, _) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (true, false, _) => "application/vnd.oci.image.layer.v1.tar",
        (false, true, _) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        (false, false, _) => "application/vnd.docker.image.rootfs.diff.tar",
    })
}

/// Uploads one blob unless the registry has it; `id` names it in progress lines.
async fn upload(
    session: &Session,
    store: &ImageStore,
    digest: &Digest,
    id: Option<String>,
    progress: &mpsc::Sender<Progress>,
) -> Result<()> {
    let report = |status: &'static str, current: Option<u64>, total: Option<u64>| {
        id.clone().map(|id| Progress::Layer {
            id,
            status,
            current,
            total,
        })
    };
    let head = session
        .request(
            Method::HEAD,
            &format!("blobs/{digest}"),
            &[],
            crate::client::empty(),
        )
        .await?;
    if head.status().is_success() {
        if let Some(p) = report("Layer already exists", None, None) {
            let _ = progress.send(p).await;
        }
        return Ok(());
    }
    // A blob pulled from another repository of this registry is mounted, not uploaded.
    let prefix = format!("{}/", session.registry);
    for source in store.content.sources(digest) {
        let Some(from) = source.strip_prefix(&prefix) else {
            continue;
        };
        if from == session.repository {
            continue;
        }
        let url = format!("blobs/uploads/?mount={digest}&from={from}");
        let resp = session
            .request(Method::POST, &url, &[], crate::client::empty())
            .await?;
        if resp.status() == StatusCode::CREATED {
            if let Some(p) = report("Mounted from", None, None) {
                let _ = progress.send(p).await;
            }
            return Ok(());
        }
        // Not mountable (202 opens an ordinary upload, which is dropped): upload it.
        if resp.status() == StatusCode::ACCEPTED {
            if let Some(loc) = resp.headers().get("Location").and_then(|v| v.to_str().ok()) {
                let _ = session
                    .request(Method::DELETE, loc, &[], crate::client::empty())
                    .await;
            }
        }
    }
    let started = session
        .request(Method::POST, "blobs/uploads/", &[], crate::client::empty())
        .await?;
    if started.status() != StatusCode::ACCEPTED {
        session.check(started, "blobs/uploads/").await?;
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            message: "the registry did not start an upload".into(),
            status: None,
        });
    }
    let location = started
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Protocol {
            registry: session.registry.clone(),
            message: "upload without a Location".into(),
            status: None,
        })?
        .to_string();
    let size = store
        .content
        .size(digest)
        .ok_or_else(|| berth_image::ImageError::NotFound(digest.to_string()))?;
    // Large blobs go up in chunks (PATCH with Content-Range each), small ones in one PUT.
    let mut location = location;
    let sent = Arc::new(AtomicU64::new(0));
    let body = if size > CHUNK {
        let mut file = store.content.open_blob(digest)?;
        let mut offset = 0u64;
        while offset < size {
            let len = CHUNK.min(size - offset);
            let mut chunk = vec![0u8; len as usize];
            file.read_exact(&mut chunk).map_err(|e| {
                RegistryError::Image(berth_image::ImageError::io("reading blob", e))
            })?;
            let headers = [
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Length", len.to_string()),
                ("Content-Range", format!("{offset}-{}", offset + len - 1)),
            ];
            let resp = session
                .request(Method::PATCH, &location, &headers, bytes(chunk))
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                session.check(resp, "blobs/uploads/").await?;
                return Err(RegistryError::Protocol {
                    registry: session.registry.clone(),
                    message: format!(
                        "chunk {offset}-{} of {digest} was not accepted",
                        offset + len - 1
                    ),
                    status: None,
                });
            }
            if let Some(l) = resp.headers().get("Location").and_then(|v| v.to_str().ok()) {
                location = l.to_string();
            }
            offset += len;
            sent.store(offset, Ordering::Relaxed);
            if let Some(p) = report("Pushing", Some(offset), Some(size)) {
                let _ = progress.send(p).await;
            }
        }
        crate::client::empty()
    } else {
        file_body(store.content.open_blob(digest)?, sent.clone())
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={digest}");
    let body_len = if size > CHUNK { 0 } else { size };
    let headers = [
        ("Content-Type", "application/octet-stream".to_string()),
        ("Content-Length", body_len.to_string()),
    ];
    let put = session.request(Method::PUT, &url, &headers, body);
    tokio::pin!(put);
    let resp = loop {
        tokio::select! {
            r = &mut put => break r?,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                if let Some(p) = report("Pushing", Some(sent.load(Ordering::Relaxed)), Some(size)) {
                    let _ = progress.send(p).await;
                }
            }
        }
    };
    if resp.status() != StatusCode::CREATED {
        session.check(resp, &format!("blobs/{digest}")).await?;
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            message: format!("upload of {digest} was not accepted"),
            status: None,
        });
    }
    if let Some(p) = report("Pushed", None, None) {
        let _ = progress.send(p).await;
    }
    Ok(())
}

/// Pushes a local image; returns the manifest's digest.
pub async fn push(
    client: &Client,
    store: Arc<ImageStore>,
    req: PushRequest,
    progress: mpsc::Sender<Progress>,
) -> Result<Digest> {
    let r = &req.reference;
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let mut session = client
        .session(&r.domain, &r.path, req.creds.clone())
        .await?;
    session.push = true;
    session.authenticate().await?;
    let _ = progress
        .send(Progress::Status {
            id: None,
            status: format!("The push refers to repository [{}]", r.repository()),
        })
        .await;
    let image = store.get(&req.image)?;
    let mut blobs = vec![];
    for chain in &image.chain {
        let meta = store.layers.meta(chain)?;
        let blob = meta.blob.ok_or_else(|| {
            RegistryError::InvalidManifest(format!(
                "layer {} has no stored blob to push",
                meta.diff_id
            ))
        })?;
        blobs.push(blob);
    }
    // Docker schema2 as docker push sends it, unless a layer is zstd (OCI only).
    let any_zstd = blobs
        .iter()
        .map(|b| layer_media_type(&store, b, true))
        .collect::<Result<Vec<_>>>()?
        .iter()
        .any(|m| m.ends_with("zstd"));
    let oci = any_zstd;
    for b in &blobs {
        let _ = progress
            .send(Progress::Layer {
                id: b.short().to_string(),
                status: "Preparing",
                current: None,
                total: None,
            })
            .await;
    }
    let mut layers = vec![];
    for b in &blobs {
        upload(&session, &store, b, Some(b.short().to_string()), &progress).await?;
        let size = store.content.size(b).unwrap_or(0);
        layers.push(serde_json::json!({"mediaType": layer_media_type(&store, b, oci)?, "size": size, "digest": b}));
    }
    upload(&session, &store, &req.image, None, &progress).await?;
    let config_size = store.content.size(&req.image).unwrap_or(0);
    let (media, config_media) = if oci {
        (OCI_MANIFEST, "application/vnd.oci.image.config.v1+json")
    } else {
        (
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
        )
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media,
        "config": {"mediaType": config_media, "size": config_size, "digest": req.image},
        "layers": layers,
    }))
    .map_err(|e| RegistryError::InvalidManifest(e.to_string()))?;
    let digest = Digest::of(&manifest);
    let len = manifest.len();
    let resp = session
        .request(
            Method::PUT,
            &format!("manifests/{tag}"),
            &[("Content-Type", media.to_string())],
            bytes(manifest),
        )
        .await?;
    if resp.status() != StatusCode::CREATED {
        let status = resp.status();
        let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            message: format!(
                "manifest refused ({status}): {}",
                String::from_utf8_lossy(&body).trim()
            ),
            status: Some(status.as_u16()),
        });
    }
    let _ = progress
        .send(Progress::Status {
            id: None,
            status: format!("{tag}: digest: {digest} size: {len}"),
        })
        .await;
    Ok(digest)
}
