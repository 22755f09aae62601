//! Hijacked connections for attach and exec: Docker's raw stream (TTY) or its 8-byte
//! multiplexed frames, with stdin flowing the other way.

use super::body::{channel_body, empty, Resp};
use crate::engine::session::Session;
use berth_api::stream::{encode_frame, StreamKind};
use berth_runtime::task::Output;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

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

/// A connection taken over after its 101: the client's input and where its output goes.
pub struct Hijacked {
    pub input: Box<dyn AsyncRead + Send + Unpin>,
    pub output: Box<dyn AsyncWrite + Send + Unpin>,
}

/// When a hijacked connection's output may start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FirstOutput {
    /// At once (attach: a client may type before it reads, and detach before it has).
    AtOnce,
    /// Once the client has read the 101 (exec: see `AfterHeadersRead`).
    AfterHeadersRead,
}

impl Hijacked {
    fn new(up: hyper::upgrade::Upgraded, first: FirstOutput) -> Self {
        use tokio::io::AsyncReadExt;
        match up.downcast::<TokioIo<tokio::net::UnixStream>>() {
            Ok(parts) => {
                let stream = parts.io.into_inner();
                let probe = (first == FirstOutput::AfterHeadersRead)
                    .then(|| std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned().ok())
                    .flatten();
                let (r, w) = stream.into_split();
                // What the client sent after its request (stdin typed ahead) comes first.
                let typed_ahead = std::io::Cursor::new(parts.read_buf);
                Hijacked {
                    input: Box::new(typed_ahead.chain(r)),
                    output: Box::new(AfterHeadersRead::new(w, probe)),
                }
            }
            Err(up) => {
                let (r, w) = tokio::io::split(TokioIo::new(up));
                Hijacked {
                    input: Box::new(r),
                    output: Box::new(w),
                }
            }
        }
    }
}

/// A hijacked unix connection's writer that holds its first write (a second at most)
/// until the client has read the 101's headers. docker-py reads them through a buffered
/// reader, then reads the bare socket, so output that came with the headers was lost
/// (docker/docker-py#3332); a fast exec's output often did. The bytes a unix socket's peer
/// has not read yet are known (SIOCOUTQ). Input is not held: it flows meanwhile.
struct AfterHeadersRead<W> {
    inner: W,
    /// The socket to ask, until the headers are read or the second is over.
    probe: Option<std::os::fd::OwnedFd>,
    until: tokio::time::Instant,
    tick: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<W> AfterHeadersRead<W> {
    fn new(inner: W, probe: Option<std::os::fd::OwnedFd>) -> Self {
        AfterHeadersRead {
            inner,
            probe,
            until: tokio::time::Instant::now() + std::time::Duration::from_secs(1),
            tick: None,
        }
    }

    fn unread(fd: &std::os::fd::OwnedFd) -> libc::c_int {
        use std::os::fd::AsRawFd;
        let mut unread: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int through the pointer, valid for the call; the fd
        // is open (owned here).
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut unread) };
        if rc != 0 {
            0
        } else {
            unread
        }
    }

    /// Ready once the client has read what came before (or the wait is over).
    fn poll_headers_read(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        use std::future::Future as _;
        while let Some(fd) = &self.probe {
            if Self::unread(fd) == 0 || tokio::time::Instant::now() >= self.until {
                self.probe = None;
                self.tick = None;
                break;
            }
            let tick = self.tick.get_or_insert_with(|| {
                Box::pin(tokio::time::sleep(std::time::Duration::from_millis(1)))
            });
            std::task::ready!(tick.as_mut().poll(cx));
            self.tick = None;
        }
        std::task::Poll::Ready(())
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AfterHeadersRead<W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_headers_read(cx));
        std::pin::Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Answers 101 and runs `f` on the upgraded connection.
pub fn upgrade<B, F, Fut>(req: &mut Request<B>, tty: bool, first: FirstOutput, f: F) -> Resp
where
    F: FnOnce(Hijacked) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            f(Hijacked::new(up, first)).await;
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

/// Copies the session's output to `out` in Docker's format (raw bytes with a TTY, else
/// multiplexed frames), and `input` into the process's stdin, until the output ends or
/// the client types the detach keys (`escape`): then the client is let go and the
/// process keeps running, its stdin open. The caller closes `out` afterwards.
pub async fn proxy<R, W>(
    session: Session,
    mut input: R,
    out: &mut W,
    tty: bool,
    escape: Option<super::detach::Escape>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let Session {
        mut output,
        input: mut stdin_writer,
    } = session;
    let (detached_tx, mut detached_rx) = tokio::sync::oneshot::channel();
    let stdin = tokio::spawn(async move {
        let mut escape = escape;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match input.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let f = match escape.as_mut() {
                Some(e) => e.feed(&buf[..n]),
                None => super::detach::Filtered {
                    pass: buf[..n].to_vec(),
                    detach: false,
                },
            };
            if !f.pass.is_empty() && stdin_writer.write_all(&f.pass).await.is_err() {
                break;
            }
            if f.detach {
                // The writer is handed over, not dropped: dropping it would end the
                // process's stdin.
                let _ = detached_tx.send(stdin_writer);
                return;
            }
        }
        let _ = stdin_writer.shutdown().await;
    });
    let mut input_open = true;
    loop {
        let event = tokio::select! {
            event = output.recv() => event,
            writer = &mut detached_rx, if input_open => {
                match writer {
                    Ok(writer) => {
                        // Detached: the attach to the task stays (its output read and
                        // dropped) until the process ends, so its stdin stays open.
                        tokio::spawn(async move {
                            while output.recv().await.is_some() {}
                            drop(writer);
                        });
                        return;
                    }
                    Err(_) => {
                        input_open = false;
                        continue;
                    }
                }
            }
        };
        let Some(event) = event else { break };
        let (kind, payload) = match event {
            Output::Stdout(b) => (StreamKind::Stdout, b),
            Output::Stderr(b) => (StreamKind::Stderr, b),
            Output::Error(msg) => (StreamKind::Stdout, error_line(&msg)),
            Output::Exit(_) => break,
        };
        if write_output(out, tty, kind, &payload).await.is_err() {
            break;
        }
        let _ = out.flush().await;
    }
    stdin.abort();
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

/// A failed exec's error as Docker prints it: a line on the stream's stdout.
pub fn error_line(msg: &str) -> Vec<u8> {
    format!("{msg}\r\n").into_bytes()
}

/// Output in the stream's format: raw with a TTY, else one multiplexed frame.
pub async fn write_output<W: AsyncWrite + Unpin>(
    out: &mut W,
    tty: bool,
    kind: StreamKind,
    payload: &[u8],
) -> std::io::Result<()> {
    if tty {
        out.write_all(payload).await
    } else {
        out.write_all(&encode_frame(kind, payload)).await
    }
}
