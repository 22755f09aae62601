//! Talking to a container's shim over its unix socket.

use crate::error::{DaemonError, Result};
use berth_runtime::shim::protocol::{Reply, Request};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// An attach or exec connection after the shim's reply: frames come out of `reader`,
/// stdin goes into `writer`.
pub struct ShimStream {
    pub reply: Reply,
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

pub async fn open(socket: &Path, req: &Request) -> Result<ShimStream> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| DaemonError::System(format!("cannot reach the container's shim: {e}")))?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    w.write_all(&line)
        .await
        .map_err(|e| DaemonError::System(format!("shim: {e}")))?;
    let mut reader = BufReader::new(r);
    let mut resp = String::new();
    reader
        .read_line(&mut resp)
        .await
        .map_err(|e| DaemonError::System(format!("shim: {e}")))?;
    if resp.is_empty() {
        return Err(DaemonError::System("the shim closed the connection".into()));
    }
    let reply: Reply = serde_json::from_str(&resp)?;
    Ok(ShimStream {
        reply,
        reader,
        writer: w,
    })
}

/// One request, one reply.
pub async fn request(socket: &Path, req: &Request) -> Result<Reply> {
    Ok(open(socket, req).await?.reply)
}

/// A request whose failure is an error.
pub async fn call(socket: &Path, req: &Request) -> Result<Reply> {
    let r = request(socket, req).await?;
    if !r.ok {
        return Err(DaemonError::System(
            r.error.unwrap_or_else(|| "shim error".into()),
        ));
    }
    Ok(r)
}
