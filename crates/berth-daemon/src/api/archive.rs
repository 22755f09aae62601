//! `/containers/{id}/archive`: HEAD, GET and PUT, as `docker cp` uses them; and
//! `/containers/{id}/export`, the whole filesystem.

use super::body::{self, Query, Resp};
use crate::engine::archive::{PathStat, PutOptions};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::Arc;

fn stat_header(st: &PathStat) -> Result<String> {
    let json = serde_json::to_vec(st)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(json))
}

fn path_param(q: &Query) -> Result<&str> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| DaemonError::InvalidParameter("path is required".into()))
}

pub async fn head(engine: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp> {
    let st = engine.archive_stat(id, path_param(q)?).await?;
    let mut r = body::with_status(200, None, body::empty());
    if let Ok(v) = http::HeaderValue::from_str(&stat_header(&st)?) {
        r.headers_mut().insert("X-Docker-Container-Path-Stat", v);
    }
    Ok(r)
}

pub async fn get(engine: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp> {
    let (tx, body) = body::channel_body(16);
    // Large writes are split by the tar builder into its own buffers; 64 KiB chunks.
    let out = std::io::BufWriter::with_capacity(64 * 1024, body::BlockingWriter(tx));
    let (st, _task) = engine.archive_get(id, path_param(q)?, out).await?;
    let mut r = body::with_status(200, Some("application/x-tar"), body);
    if let Ok(v) = http::HeaderValue::from_str(&stat_header(&st)?) {
        r.headers_mut().insert("X-Docker-Container-Path-Stat", v);
    }
    Ok(r)
}

/// `docker export`: the whole filesystem as a tar stream.
pub async fn export(engine: &Arc<Engine>, id: &str) -> Result<Resp> {
    let (tx, body) = body::channel_body(16);
    let out = std::io::BufWriter::with_capacity(64 * 1024, body::BlockingWriter(tx));
    let _task = engine.export(id, out).await?;
    Ok(body::with_status(200, Some("application/x-tar"), body))
}

/// A blocking `Read` over the request body, fed by the runtime.
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

pub async fn put(
    engine: &Arc<Engine>,
    id: &str,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Resp> {
    let path = path_param(q)?.to_string();
    let opts = PutOptions {
        no_overwrite_dir_non_dir: q.flag("noOverwriteDirNonDir", false),
        copy_uid_gid: q.flag("copyUIDGID", false),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut incoming = req.into_body();
    tokio::spawn(async move {
        while let Some(frame) = incoming.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                if tx.send(data).await.is_err() {
                    break;
                }
            }
        }
    });
    let reader = BodyReader {
        rx,
        current: Bytes::new(),
    };
    engine.archive_put(id, &path, opts, reader).await?;
    Ok(body::with_status(200, None, body::empty()))
}
