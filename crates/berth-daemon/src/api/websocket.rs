//! `GET /containers/{id}/attach/ws`: attach over a WebSocket, for clients in browsers and
//! docker-py's `attach_socket(ws=True)`. The container's output goes out raw, without
//! Docker's stream headers, one message per chunk: binary messages from API 1.42, text
//! before, as dockerd sends them. What the client sends goes to the process's stdin.

use super::body::{empty, Query, Resp};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::version::ApiVersion;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role, Message};
use tokio_tungstenite::WebSocketStream;

/// The client's `Sec-WebSocket-Key`, if these are a WebSocket upgrade request's headers.
pub fn upgrade_key(h: &http::HeaderMap) -> Option<String> {
    let upgrade = h
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version = h.get("Sec-WebSocket-Version").and_then(|v| v.to_str().ok()) == Some("13");
    let key = h.get("Sec-WebSocket-Key").and_then(|v| v.to_str().ok())?;
    (upgrade && version).then(|| key.to_string())
}

pub async fn attach(
    engine: &Arc<Engine>,
    id: &str,
    q: &Query,
    version: ApiVersion,
    mut req: Request<Incoming>,
) -> Result<Resp> {
    let Some(key) = upgrade_key(req.headers()) else {
        return Err(DaemonError::InvalidParameter(
            "attach/ws needs a WebSocket upgrade (Upgrade: websocket, Sec-WebSocket-Version: 13, Sec-WebSocket-Key)".into(),
        ));
    };
    let plan = super::containers::AttachPlan::new(engine, id, q)?;
    let binary = version.at_least(1, 42);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        serve(ws, plan, binary).await;
    });
    Ok(Response::builder()
        .status(101)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Accept", derive_accept_key(key.as_bytes()))
        .body(empty())
        .unwrap_or_else(|_| Response::new(empty())))
}

/// Carries the attach over the socket: messages in become stdin; the output (the log's
/// replay first, with `logs`) becomes messages out.
async fn serve<S>(ws: WebSocketStream<S>, plan: super::containers::AttachPlan, binary: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let (mut to_stdin, stdin) = tokio::io::duplex(64 * 1024);
    let (mut output, mut from_output) = tokio::io::duplex(64 * 1024);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            let data = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if to_stdin.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = to_stdin.shutdown().await;
    });
    let writer = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match from_output.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let msg = if binary {
                Message::binary(buf[..n].to_vec())
            } else {
                Message::text(String::from_utf8_lossy(&buf[..n]).into_owned())
            };
            if sink.send(msg).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    // Raw output: the stream headers are for hijacked HTTP, not for messages.
    plan.run(stdin, &mut output, true).await;
    drop(output);
    let _ = writer.await;
    reader.abort();
}
