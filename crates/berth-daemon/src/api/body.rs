//! Response bodies, JSON helpers and query parsing for the API layer.

use crate::error::DaemonError;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming};
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;

/// A streamed body fed through a channel (logs, progress messages).
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A blocking `Write` into a response body (for work on a blocking thread): chunks go
/// through a bounded channel, so a slow client slows the writer instead of filling memory.
pub struct BlockingWriter(pub mpsc::Sender<Bytes>);

impl std::io::Write for BlockingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn channel_body(buffer: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(buffer);
    (tx, BodyExt::boxed(ChannelBody { rx }))
}

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn with_status(status: u16, content_type: Option<&str>, body: Body) -> Resp {
    let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if let Some(ct) = content_type {
        b = b.header("Content-Type", ct);
    }
    b.body(body).unwrap_or_else(|_| Response::new(empty()))
}

pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(mut v) => {
            v.push(b'\n');
            with_status(status, Some("application/json"), full(v))
        }
        Err(e) => error_response(&DaemonError::system(e)),
    }
}

pub fn no_content() -> Resp {
    with_status(204, None, empty())
}

pub fn error_response(e: &DaemonError) -> Resp {
    if e.status() == 304 {
        return with_status(304, None, empty());
    }
    json(
        e.status(),
        &berth_api::error::ErrorResponse {
            message: e.to_string(),
        },
    )
}

/// Query parameters; repeated keys keep the last value, `all` keeps every one.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        Self { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's booleans: `1`, `true`, `True` are true; absent is `default`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(v, "" | "0" | "false" | "False" | "no"),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, DaemonError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                DaemonError::InvalidParameter(format!("invalid value for {key}: {v:?}"))
            }),
        }
    }

    /// The `filters` parameter: `{"key": ["v1", "v2"]}` (or the old `{"key": {"v": true}}`).
    pub fn filters(&self) -> Result<HashMap<String, Vec<String>>, DaemonError> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(HashMap::new());
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| DaemonError::InvalidParameter(format!("invalid filter: {e}")))?;
        let obj = v.as_object().ok_or_else(|| {
            DaemonError::InvalidParameter("invalid filter: expected an object".into())
        })?;
        let mut out = HashMap::new();
        for (k, vals) in obj {
            let list = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => {
                    return Err(DaemonError::InvalidParameter(format!(
                        "invalid filter value for {k}"
                    )))
                }
            };
            out.insert(k.clone(), list);
        }
        Ok(out)
    }
}

/// Largest JSON request body accepted.
const MAX_JSON_BODY: usize = 16 << 20;

/// Reads a JSON request body; an empty body is `T::default()`.
pub async fn read_json<T: serde::de::DeserializeOwned + Default>(
    body: Incoming,
) -> Result<T, DaemonError> {
    let limited = http_body_util::Limited::new(body, MAX_JSON_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| DaemonError::InvalidParameter(format!("reading request body: {e}")))?
        .to_bytes();
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| DaemonError::InvalidParameter(format!("invalid JSON: {e}")))
}

/// A blocking `Read` over a request body, for tar streams handled off the executor.
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Forwards a request body into a `BodyReader` from an async task.
pub fn body_reader(mut body: Incoming) -> BodyReader {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        if tx.send(Ok(data)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_filters_both_forms() {
        let q = Query::parse(Some("all=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%2C%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D"));
        assert!(q.flag("all", false));
        let f = q.filters().unwrap();
        assert_eq!(f["status"], vec!["exited"]);
        assert_eq!(f["label"], vec!["a=b"]);
        assert!(Query::parse(Some("filters=nope")).filters().is_err());
    }
}
