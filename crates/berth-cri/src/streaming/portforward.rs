//! Port forwarding (`portforward.k8s.io`) over a SPDY session: for each connection the
//! client opens an `error` and a `data` stream naming the port and a request ID; berth
//! connects to that port on the pod's loopback, inside the pod's network namespace, and
//! copies both ways.

use super::spdy::{IncomingStream, Sender};
use crate::sandbox::namespaces::in_network_namespace;
use crate::service::Cri;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

pub const PROTOCOL: &str = "portforward.k8s.io";

/// Connects to `port` on loopback in the network namespace held by `netns` (the host's
/// when None); the socket keeps the namespace it was made in.
async fn connect(netns: Option<PathBuf>, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let s = in_network_namespace(netns, move || {
        let timeout = std::time::Duration::from_secs(10);
        let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
        std::net::TcpStream::connect_timeout(&v4, timeout)
            .or_else(|_| std::net::TcpStream::connect_timeout(&v6, timeout))
    })
    .await?;
    s.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(s)
}

/// One forwarded connection: its error and data streams.
#[derive(Default)]
struct Pair {
    error: Option<IncomingStream>,
    data: Option<IncomingStream>,
}

pub async fn serve(
    cri: Arc<Cri>,
    sandbox: String,
    tx: Sender,
    mut streams: mpsc::Receiver<IncomingStream>,
) {
    let netns = match cri.sandboxes.get(&sandbox) {
        Ok(s) => s.lock().await.record.held.net.clone(),
        Err(_) => return,
    };
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(s) = streams.recv().await {
        let request = s.headers.get("requestid").cloned().unwrap_or_default();
        let pair = pairs.entry(request.clone()).or_default();
        match s.headers.get("streamtype").map(String::as_str) {
            Some("error") => pair.error = Some(s),
            Some("data") => pair.data = Some(s),
            _ => {
                let _ = tx.close(s.id).await;
                continue;
            }
        }
        if pair.error.is_some() && pair.data.is_some() {
            if let Some(Pair {
                error: Some(error),
                data: Some(data),
            }) = pairs.remove(&request)
            {
                tokio::spawn(forward(netns.clone(), tx.clone(), error, data));
            }
        }
    }
}

async fn forward(
    netns: Option<PathBuf>,
    tx: Sender,
    error: IncomingStream,
    mut data: IncomingStream,
) {
    let port: Option<u16> = data
        .headers
        .get("port")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p > 0);
    let Some(port) = port else {
        let msg = format!("invalid port {:?}", data.headers.get("port"));
        let _ = tx.send(error.id, msg.as_bytes(), true).await;
        let _ = tx.close(data.id).await;
        return;
    };
    let sock = match connect(netns, port).await {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("failed to connect to localhost:{port} in the pod's network: {e}");
            let _ = tx.send(error.id, msg.as_bytes(), true).await;
            let _ = tx.close(data.id).await;
            return;
        }
    };
    let (mut rd, mut wr) = sock.into_split();
    let to_pod = async {
        while let Some(bytes) = data.data.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let data_id = data.id;
    let from_pod = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(data_id, &buf[..n], false).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.close(data_id).await;
    };
    tokio::join!(to_pod, from_pod);
    let _ = tx.close(error.id).await;
}
