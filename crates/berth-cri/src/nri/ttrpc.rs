//! ttrpc, containerd's small RPC protocol, over one byte stream: each message a 10-byte
//! header (length and stream id, big-endian; type; flags) and a protobuf body. A request
//! names its service and method and carries the call's message; the response carries a
//! status and the reply. Only unary calls are needed for NRI.
//!
//! Hand-written on prost: the ttrpc crate generates its messages with rust-protobuf,
//! and berth's CRI and NRI messages are prost's.

use prost::Message;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, Mutex};

pub const HEADER: usize = 10;
pub const MAX_MESSAGE: u32 = 4 << 20;
const TYPE_REQUEST: u8 = 1;
const TYPE_RESPONSE: u8 = 2;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(string, tag = "1")]
    pub service: String,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    #[prost(int64, tag = "4")]
    pub timeout_nano: i64,
    #[prost(message, repeated, tag = "5")]
    pub metadata: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

/// google.rpc.Status (its details are not read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// gRPC's codes, as ttrpc uses them.
pub mod code {
    pub const OK: i32 = 0;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INVALID_ARGUMENT: i32 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum TtrpcError {
    #[error("the connection is closed")]
    Closed,
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("{message} (code {code})")]
    Status { code: i32, message: String },
    #[error("invalid message: {0}")]
    Decode(#[from] prost::DecodeError),
}

fn frame(stream_id: u32, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.push(kind);
    out.push(0);
    out.extend_from_slice(body);
    out
}

/// Reads one message: (stream id, type, body); None at the end of the stream.
async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u32, u8, Vec<u8>)> {
    let mut header = [0u8; HEADER];
    r.read_exact(&mut header).await.ok()?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let id = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_MESSAGE {
        return None;
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await.ok()?;
    Some((id, header[8], body))
}

type Pending = Arc<std::sync::Mutex<Option<HashMap<u32, oneshot::Sender<Response>>>>>;

/// The calling side: requests on odd stream ids, replies matched by id.
pub struct Client<W> {
    writer: Mutex<Writer<W>>,
    pending: Pending,
}

/// The write half and the next stream id, under one lock: a ttrpc server refuses an id
/// lower than one it has seen, so ids must go out in the order they are taken.
struct Writer<W> {
    stream: W,
    next_id: u32,
}

impl<W: AsyncWrite + Unpin + Send + 'static> Client<W> {
    /// A client over `(read, write)`; `on_close` runs when the stream ends.
    pub fn new<R>(read: R, write: W, on_close: impl FnOnce() + Send + 'static) -> Arc<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let pending: Pending = Arc::new(std::sync::Mutex::new(Some(HashMap::new())));
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            let mut read = read;
            while let Some((id, kind, body)) = read_message(&mut read).await {
                if kind != TYPE_RESPONSE {
                    continue;
                }
                let Ok(resp) = Response::decode(body.as_slice()) else {
                    break;
                };
                let waiter = reader_pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.as_mut().and_then(|p| p.remove(&id)));
                if let Some(tx) = waiter {
                    let _ = tx.send(resp);
                }
            }
            // Every call still waiting fails: its sender is dropped.
            if let Ok(mut p) = reader_pending.lock() {
                p.take();
            }
            on_close();
        });
        Arc::new(Self {
            writer: Mutex::new(Writer {
                stream: write,
                next_id: 1,
            }),
            pending,
        })
    }

    /// One unary call of `service/method`, waiting at most `timeout` for the reply.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        service: &str,
        method: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, TtrpcError> {
        let request = Request {
            service: service.to_string(),
            method: method.to_string(),
            payload: req.encode_to_vec(),
            timeout_nano: timeout.as_nanos().min(i64::MAX as u128) as i64,
            metadata: vec![],
        }
        .encode_to_vec();
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut writer = self.writer.lock().await;
            let id = writer.next_id;
            writer.next_id = id.wrapping_add(2);
            match self.pending.lock() {
                Ok(mut p) => match p.as_mut() {
                    Some(p) => p.insert(id, tx),
                    None => return Err(TtrpcError::Closed),
                },
                Err(_) => return Err(TtrpcError::Closed),
            };
            if writer
                .stream
                .write_all(&frame(id, TYPE_REQUEST, &request))
                .await
                .is_err()
            {
                drop(writer);
                self.forget(id);
                return Err(TtrpcError::Closed);
            }
            id
        };
        let resp = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => return Err(TtrpcError::Closed),
            Err(_) => {
                self.forget(id);
                return Err(TtrpcError::Timeout(timeout));
            }
        };
        match resp.status {
            Some(s) if s.code != code::OK => Err(TtrpcError::Status {
                code: s.code,
                message: s.message,
            }),
            _ => Ok(Resp::decode(resp.payload.as_slice())?),
        }
    }

    fn forget(&self, id: u32) {
        if let Ok(mut p) = self.pending.lock() {
            if let Some(p) = p.as_mut() {
                p.remove(&id);
            }
        }
    }

    /// Ends the connection (the peer sees it close).
    pub async fn close(&self) {
        let _ = self.writer.lock().await.stream.shutdown().await;
    }
}

/// The serving side: each request is handed to `handle(service, method, body)` (in
/// turn: NRI's runtime service is called rarely), and its result written back.
pub async fn serve<S, F, Fut>(stream: S, handle: F)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    F: Fn(String, String, Vec<u8>) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, Status>>,
{
    let (mut read, mut write) = tokio::io::split(stream);
    let mut last_id = 0;
    while let Some((id, kind, body)) = read_message(&mut read).await {
        if kind != TYPE_REQUEST {
            continue;
        }
        // As Go's ttrpc server does: a client's stream ids only go up.
        let reused = id <= last_id;
        last_id = last_id.max(id);
        let resp = match Request::decode(body.as_slice()) {
            _ if reused => Response {
                status: Some(Status {
                    code: code::INVALID_ARGUMENT,
                    message: "StreamID cannot be re-used and must increment".into(),
                }),
                payload: vec![],
            },
            Ok(req) => match handle(req.service, req.method, req.payload).await {
                Ok(payload) => Response {
                    status: None,
                    payload,
                },
                Err(status) => Response {
                    status: Some(status),
                    payload: vec![],
                },
            },
            Err(e) => Response {
                status: Some(Status {
                    code: code::INVALID_ARGUMENT,
                    message: format!("invalid request: {e}"),
                }),
                payload: vec![],
            },
        };
        if write
            .write_all(&frame(id, TYPE_RESPONSE, &resp.encode_to_vec()))
            .await
            .is_err()
        {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_gets_its_reply_or_the_servers_status() {
        let (client_end, server_end) = tokio::io::duplex(1 << 16);
        tokio::spawn(serve(server_end, |service, method, body| async move {
            match (service.as_str(), method.as_str()) {
                ("echo.Echo", "Say") => {
                    let kv = KeyValue::decode(body.as_slice()).unwrap();
                    Ok(KeyValue {
                        key: kv.value,
                        value: kv.key,
                    }
                    .encode_to_vec())
                }
                _ => Err(Status {
                    code: code::UNIMPLEMENTED,
                    message: format!("{service}/{method}"),
                }),
            }
        }));
        let (read, write) = tokio::io::split(client_end);
        let client = Client::new(read, write, || {});
        let t = Duration::from_secs(5);
        let req = KeyValue {
            key: "a".into(),
            value: "b".into(),
        };
        let got: KeyValue = client.call("echo.Echo", "Say", &req, t).await.unwrap();
        assert_eq!((got.key.as_str(), got.value.as_str()), ("b", "a"));
        let e = client
            .call::<_, KeyValue>("echo.Echo", "Nope", &req, t)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                TtrpcError::Status {
                    code: code::UNIMPLEMENTED,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_calls_send_their_stream_ids_in_order() {
        // The server refuses an id lower than one it has seen (as Go's ttrpc does), so
        // calls racing each other must still put their ids on the wire in order.
        let (client_end, server_end) = tokio::io::duplex(1 << 10);
        tokio::spawn(serve(server_end, |_, _, body| async move { Ok(body) }));
        let (read, write) = tokio::io::split(client_end);
        let client = Client::new(read, write, || {});
        let calls: Vec<_> = (0..64)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let req = KeyValue {
                        key: format!("k{i}"),
                        value: "x".repeat(200),
                    };
                    client
                        .call::<_, KeyValue>("echo.Echo", "Say", &req, Duration::from_secs(5))
                        .await
                        .map(|r| r.key)
                })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), format!("k{i}"));
        }
    }
}
