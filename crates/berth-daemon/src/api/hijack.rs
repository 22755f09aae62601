//! Hijacked connections for attach and exec: Docker's raw stream (TTY) or its 8-byte
//! multiplexed frames, with stdin flowing the other way.

use super::body::{channel_body, empty, Resp};
use crate::engine::shim_client::ShimStream;
use berth_api::stream::{decode_header, encode_frame, StreamKind, HEADER_LEN};
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub fn wants_upgrade(req: &Request<Incoming>) -> bool {
    req.headers().get(http::header::UPGRADE).is_some()
}

pub fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Answers 101 and runs `f` on the upgraded connection.
pub fn upgrade<F, Fut>(req: &mut Request<Incoming>, tty: bool, f: F) -> Resp
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            f(TokioIo::new(up)).await;
        }
    });
    Response::builder()
        .status(101)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .header("Content-Type", content_type(tty))
        .body(empty())
        .unwrap_or_else(|_| Response::new(empty()))
}

/// Copies the shim's frames to `out` (raw payloads with a TTY), and `input` into the
/// shim's stdin. Returns the exit code when the shim reports one.
/// The caller closes `out` afterwards.
pub async fn proxy<R, W>(shim: ShimStream, mut input: R, out: &mut W, tty: bool) -> Option<i64>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let ShimStream {
        mut reader,
        mut writer,
        ..
    } = shim;
    let stdin = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut input, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let mut code = None;
    let mut header = [0u8; HEADER_LEN];
    loop {
        if reader.read_exact(&mut header).await.is_err() {
            break;
        }
        let Some((kind, len)) = decode_header(&header) else {
            break;
        };
        let mut payload = vec![0u8; len];
        if reader.read_exact(&mut payload).await.is_err() {
            break;
        }
        let res = match kind {
            StreamKind::Exit => {
                code = String::from_utf8_lossy(&payload).trim().parse().ok();
                break;
            }
            StreamKind::Error => {
                let mut msg = payload;
                msg.extend_from_slice(b"\r\n");
                if tty {
                    out.write_all(&msg).await
                } else {
                    out.write_all(&encode_frame(StreamKind::Stdout, &msg)).await
                }
            }
            StreamKind::Stdout | StreamKind::Stderr if tty => out.write_all(&payload).await,
            StreamKind::Stdout | StreamKind::Stderr => {
                out.write_all(&encode_frame(kind, &payload)).await
            }
            StreamKind::Stdin => Ok(()),
        };
        if res.is_err() {
            break;
        }
        let _ = out.flush().await;
    }
    stdin.abort();
    code
}

/// For clients that do not upgrade: output only, as a streamed 200 body.
pub fn stream_body<F>(tty: bool, run: F) -> Resp
where
    F: FnOnce(ChannelWriter) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static,
{
    let (tx, body) = channel_body(16);
    tokio::spawn(run(ChannelWriter { tx }));
    super::body::with_status(200, Some(content_type(tty)), body)
}

/// An AsyncWrite into a response body channel.
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match this.tx.try_send(Bytes::copy_from_slice(buf)) {
            Ok(()) => std::task::Poll::Ready(Ok(buf.len())),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                // Wait for room: poll a reservation, then retry on the next call.
                let tx = this.tx.clone();
                let waker = cx.waker().clone();
                tokio::spawn(async move {
                    if let Ok(permit) = tx.reserve().await {
                        drop(permit);
                    }
                    waker.wake();
                });
                std::task::Poll::Pending
            }
            Err(_) => {
                std::task::Poll::Ready(Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)))
            }
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
