//! Talking to a shim over its unix socket: one JSON request line, one JSON reply line,
//! then (attach and exec) frames out and stdin bytes in.

use super::{Output, TaskIo};
use crate::error::{Result, RuntimeError};
use crate::shim::frames::{self, FrameKind, HEADER_LEN};
use crate::shim::protocol::{Reply, Request};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Largest reply line read from a shim.
const MAX_REPLY: u64 = 1 << 20;

fn unreachable(e: std::io::Error) -> RuntimeError {
    RuntimeError::Shim(format!("cannot reach the container's shim: {e}"))
}

async fn send(
    socket: &Path,
    req: &Request,
) -> Result<(Reply, BufReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let stream = UnixStream::connect(socket).await.map_err(unreachable)?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(|e| RuntimeError::Shim(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line).await.map_err(unreachable)?;
    let mut reader = BufReader::new(r);
    let mut resp = Vec::new();
    (&mut reader)
        .take(MAX_REPLY)
        .read_until(b'\n', &mut resp)
        .await
        .map_err(unreachable)?;
    if resp.is_empty() {
        return Err(RuntimeError::Shim("the shim closed the connection".into()));
    }
    let reply: Reply = serde_json::from_slice(&resp)
        .map_err(|e| RuntimeError::Shim(format!("bad reply from the shim: {e}")))?;
    Ok((reply, reader, w))
}

/// One request, one reply (which may say the request failed).
pub(super) async fn request(socket: &Path, req: &Request) -> Result<Reply> {
    Ok(send(socket, req).await?.0)
}

/// A request whose failure is an error.
pub(super) async fn call(socket: &Path, req: &Request) -> Result<Reply> {
    into_result(request(socket, req).await?)
}

/// A failed reply as the error the shim reported, by its exit code.
pub(super) fn into_result(r: Reply) -> Result<Reply> {
    if r.ok {
        return Ok(r);
    }
    let msg = r.error.clone().unwrap_or_else(|| "shim error".into());
    Err(RuntimeError::reported(r.exit_code.unwrap_or(125), &msg))
}

/// A request that opens a stream (attach, exec).
pub(super) async fn open(socket: &Path, req: &Request) -> Result<TaskIo> {
    let (reply, reader, input) = send(socket, req).await?;
    let reply = into_result(reply)?;
    Ok(TaskIo {
        pid: reply.pid,
        output: OutputStream { reader },
        input,
    })
}

/// The output side of an attach or exec.
pub struct OutputStream {
    reader: BufReader<OwnedReadHalf>,
}

impl OutputStream {
    /// The next event; None once the shim has closed the stream (after `Exit`, or when
    /// it died) or sent something that is not a frame.
    pub async fn next(&mut self) -> Option<Output> {
        let mut h = [0u8; HEADER_LEN];
        self.reader.read_exact(&mut h).await.ok()?;
        let (kind, len) = frames::decode_header(&h)?;
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload).await.ok()?;
        Some(match kind {
            FrameKind::Stdout => Output::Stdout(payload),
            FrameKind::Stderr => Output::Stderr(payload),
            FrameKind::Error => Output::Error(String::from_utf8_lossy(&payload).into_owned()),
            FrameKind::Exit => Output::Exit(String::from_utf8_lossy(&payload).trim().parse().ok()?),
        })
    }
}
