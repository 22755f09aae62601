//! SPDY/3.1, the server's half, as Kubernetes' streaming clients speak it (client-go
//! through moby/spdystream): the client opens streams (SYN_STREAM with headers), the
//! server answers each (SYN_REPLY) and both send data frames, a FIN flag ending a side.
//! Header blocks are zlib-compressed with SPDY/3's dictionary, one compression context
//! per direction for the whole session. Those peers do no flow control, so neither does
//! this: WINDOW_UPDATE and SETTINGS are read and ignored.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status: the stream was refused (an ID reused or out of order).
const PROTOCOL_ERROR: u32 = 1;
/// Frames bigger than this are refused: a peer cannot make the server buffer without end.
const MAX_FRAME: usize = 1 << 20;
/// Data is sent in frames of at most this.
const MAX_DATA: usize = 32 * 1024;

/// The header names and values SPDY/3 primes its zlib dictionary with (SPDY/3 draft,
/// 2.6.10.1): each name length-prefixed, then a run of common text.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("SPDY: {0}")]
    Protocol(String),
    #[error("SPDY: {0}")]
    Io(#[from] std::io::Error),
}

fn protocol(msg: impl Into<String>) -> SpdyError {
    SpdyError::Protocol(msg.into())
}

/// A header block: names (lower case) and values, as a stream's SYN_STREAM carries them.
pub type Headers = HashMap<String, String>;

/// The inflating side of the session's header compression.
struct HeaderReader {
    z: Decompress,
    dictionary: Vec<u8>,
}

impl HeaderReader {
    fn new() -> Self {
        Self {
            z: Decompress::new(true),
            dictionary: dictionary(),
        }
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
            if out.len() > MAX_FRAME {
                return Err(protocol("a header block inflates past the limit"));
            }
            let before_in = self.z.total_in();
            let before_out = out.len();
            match self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| protocol(format!("header dictionary: {e}")))?;
                }
                Err(e) => return Err(protocol(format!("header block: {e}"))),
            }
            let used = (self.z.total_in() - before_in) as usize;
            input = &input[used..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if used == 0 && out.len() == before_out && out.len() < out.capacity() {
                return Err(protocol("a header block does not inflate"));
            }
        }
    }

    fn read(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let raw = self.inflate(block)?;
        let mut r = raw.as_slice();
        let mut take = |n: usize| -> Result<&[u8], SpdyError> {
            if r.len() < n {
                return Err(protocol("a header block ends early"));
            }
            let (a, b) = r.split_at(n);
            r = b;
            Ok(a)
        };
        let u32_at = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let count = u32_at(take(4)?);
        let mut headers = Headers::new();
        for _ in 0..count {
            let n = u32_at(take(4)?);
            let name = String::from_utf8_lossy(take(n)?).to_ascii_lowercase();
            let n = u32_at(take(4)?);
            // Several values of one name are separated by NUL; the first is what the
            // streaming protocol uses.
            let value = take(n)?;
            let first = value.split(|b| *b == 0).next().unwrap_or(&[]);
            headers.insert(name, String::from_utf8_lossy(first).into_owned());
        }
        Ok(headers)
    }
}

/// The deflating side.
struct HeaderWriter {
    z: Compress,
}

impl HeaderWriter {
    fn new() -> Result<Self, SpdyError> {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(&dictionary())
            .map_err(|e| protocol(format!("header dictionary: {e}")))?;
        Ok(Self { z })
    }

    fn write(&mut self, headers: &[(&str, &str)]) -> Result<Vec<u8>, SpdyError> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (k, v) in headers {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = raw.as_slice();
        loop {
            if out.len() == out.capacity() {
                out.reserve(256);
            }
            let before = self.z.total_in();
            let status = self
                .z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| protocol(format!("header block: {e}")))?;
            input = &input[(self.z.total_in() - before) as usize..];
            // Done once the input is in and the flush fitted in what was left.
            if input.is_empty() && out.len() < out.capacity() && status == Status::Ok {
                return Ok(out);
            }
        }
    }
}

fn control_frame(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

fn data_frame(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(data);
    f
}

/// A stream the client opened: its headers and what it sends (None once it is done).
pub struct IncomingStream {
    pub id: u32,
    pub headers: Headers,
    pub data: mpsc::Receiver<Vec<u8>>,
}

/// Sends on the session's streams; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    out: mpsc::Sender<Vec<u8>>,
}

impl Sender {
    /// Sends `data` on a stream (in frames of at most 32 KiB); `fin` ends the server's side.
    pub async fn send(&self, id: u32, data: &[u8], fin: bool) -> Result<(), SpdyError> {
        let closed = || protocol("the session is closed");
        if data.is_empty() {
            return self
                .out
                .send(data_frame(id, fin, &[]))
                .await
                .map_err(|_| closed());
        }
        let mut chunks = data.chunks(MAX_DATA).peekable();
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            self.out
                .send(data_frame(id, fin && last, c))
                .await
                .map_err(|_| closed())?;
        }
        Ok(())
    }

    pub async fn close(&self, id: u32) -> Result<(), SpdyError> {
        self.send(id, &[], true).await
    }
}

/// Serves one SPDY session on `io`: streams the client opens come out of the returned
/// receiver (each already answered); the `Sender` writes on them. The session ends when
/// the client goes away or every `Sender` and the receiver are dropped.
pub fn serve<I>(io: I) -> (Sender, mpsc::Receiver<IncomingStream>)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let (streams_tx, streams_rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let out = out_tx.clone();
    tokio::spawn(async move {
        if let Err(e) = read_loop(&mut rd, out, streams_tx).await {
            eprintln!("berthd: cri streaming: {e}");
        }
    });
    (Sender { out: out_tx }, streams_rx)
}

async fn read_loop<R: AsyncRead + Unpin>(
    rd: &mut R,
    out: mpsc::Sender<Vec<u8>>,
    streams: mpsc::Sender<IncomingStream>,
) -> Result<(), SpdyError> {
    let mut headers_in = HeaderReader::new();
    let mut headers_out = HeaderWriter::new()?;
    let mut open: HashMap<u32, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut last_id = 0u32;
    loop {
        let mut head = [0u8; 8];
        match rd.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let flags = head[4];
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        if len > MAX_FRAME {
            return Err(protocol(format!(
                "a frame of {len} bytes is past the limit"
            )));
        }
        let mut payload = vec![0u8; len];
        rd.read_exact(&mut payload).await?;
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if head[0] & 0x80 == 0 {
            // A data frame.
            let id = be32(&head[..4]) & 0x7fff_ffff;
            if let Some(tx) = open.get(&id) {
                if !payload.is_empty() {
                    let _ = tx.send(payload).await;
                }
            }
            if flags & FLAG_FIN != 0 {
                open.remove(&id);
            }
            continue;
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(protocol(format!("version {version}, not 3")));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        match kind {
            SYN_STREAM => {
                if payload.len() < 10 {
                    return Err(protocol("a short SYN_STREAM"));
                }
                let id = be32(&payload[..4]) & 0x7fff_ffff;
                let hs = headers_in.read(&payload[10..])?;
                // Client streams are odd and rise; anything else is refused.
                if id % 2 == 0 || id <= last_id {
                    let mut p = id.to_be_bytes().to_vec();
                    p.extend_from_slice(&PROTOCOL_ERROR.to_be_bytes());
                    let _ = out.send(control_frame(RST_STREAM, 0, &p)).await;
                    continue;
                }
                last_id = id;
                let mut reply = id.to_be_bytes().to_vec();
                reply.extend_from_slice(&headers_out.write(&[])?);
                if out.send(control_frame(SYN_REPLY, 0, &reply)).await.is_err() {
                    return Ok(());
                }
                let (tx, rx) = mpsc::channel(64);
                if flags & FLAG_FIN == 0 {
                    open.insert(id, tx);
                }
                let stream = IncomingStream {
                    id,
                    headers: hs,
                    data: rx,
                };
                if streams.send(stream).await.is_err() {
                    return Ok(());
                }
            }
            RST_STREAM if payload.len() >= 4 => {
                open.remove(&(be32(&payload[..4]) & 0x7fff_ffff));
            }
            PING if payload.len() >= 4 => {
                let _ = out.send(control_frame(PING, 0, &payload[..4])).await;
            }
            GOAWAY => return Ok(()),
            HEADERS if payload.len() >= 4 => {
                // Trailing headers: the compression context must still see them.
                headers_in.read(&payload[4..])?;
                if flags & FLAG_FIN != 0 {
                    open.remove(&(be32(&payload[..4]) & 0x7fff_ffff));
                }
            }
            // SETTINGS, WINDOW_UPDATE, and frames of later drafts: nothing to do.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"enq=0."));
        // The checksum a SPDY/3 peer's compressed headers name as their dictionary.
        let mut z = Compress::new(Compression::default(), true);
        assert_eq!(z.set_dictionary(&d).unwrap(), 0xe3c6_a7c2);
    }

    #[test]
    fn header_blocks_round_trip_through_one_context_per_direction() {
        let mut w = HeaderWriter::new().unwrap();
        let mut r = HeaderReader::new();
        for i in 0..3 {
            let port = i.to_string();
            let block = w
                .write(&[("streamtype", "data"), ("port", &port), ("requestid", "7")])
                .unwrap();
            let h = r.read(&block).unwrap();
            assert_eq!(h["streamtype"], "data");
            assert_eq!(h["port"], port);
        }
    }

    #[tokio::test]
    async fn streams_are_answered_and_carry_data_both_ways() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (tx, mut streams) = serve(server);
        let (mut crd, mut cwr) = tokio::io::split(client);
        let mut w = HeaderWriter::new().unwrap();
        let mut syn = 1u32.to_be_bytes().to_vec();
        syn.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        syn.extend_from_slice(&w.write(&[("streamtype", "stdin")]).unwrap());
        cwr.write_all(&control_frame(SYN_STREAM, 0, &syn))
            .await
            .unwrap();
        cwr.write_all(&data_frame(1, true, b"hello")).await.unwrap();
        let mut s = streams.recv().await.unwrap();
        assert_eq!((s.id, s.headers["streamtype"].as_str()), (1, "stdin"));
        assert_eq!(s.data.recv().await.unwrap(), b"hello");
        assert!(s.data.recv().await.is_none(), "FIN ends the stream");
        // The reply comes first, then the data with FIN.
        tx.send(1, b"out", true).await.unwrap();
        let mut head = [0u8; 8];
        crd.read_exact(&mut head).await.unwrap();
        assert_eq!(u16::from_be_bytes([head[2], head[3]]), SYN_REPLY);
        let mut p = vec![0u8; u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize];
        crd.read_exact(&mut p).await.unwrap();
        crd.read_exact(&mut head).await.unwrap();
        assert_eq!(head[4], FLAG_FIN);
        let mut d = [0u8; 3];
        crd.read_exact(&mut d).await.unwrap();
        assert_eq!(&d, b"out");
    }

    #[tokio::test]
    async fn oversized_frames_end_the_session() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (_tx, mut streams) = serve(server);
        let (_crd, mut cwr) = tokio::io::split(client);
        let mut f = control_frame(SYN_STREAM, 0, &[]);
        f[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
        cwr.write_all(&f).await.unwrap();
        assert!(streams.recv().await.is_none());
    }
}
