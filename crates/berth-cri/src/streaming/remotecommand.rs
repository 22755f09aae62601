//! Kubernetes' remote command protocol (`v4.channel.k8s.io`) over a SPDY session, for
//! exec and attach: the client opens an `error` stream and those of `stdin`, `stdout`,
//! `stderr` and `resize` it asked for; the process's output goes to its streams, the
//! terminal size comes as JSON on `resize`, and the end is a Status on `error`.

use super::spdy::{IncomingStream, Sender};
use super::tokens::Request;
use super::websocket;
use crate::error::{CriError, Result};
use crate::service::Cri;
use berth_runtime::task::Output;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// The protocol version berth speaks.
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";
/// How long the client has to open its streams.
const STREAM_WAIT: Duration = Duration::from_secs(30);

/// What the client asked for.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl Wanted {
    fn of(r: &Request) -> Option<Self> {
        match *r {
            Request::Exec {
                stdin,
                stdout,
                stderr,
                tty,
                ..
            }
            | Request::Attach {
                stdin,
                stdout,
                stderr,
                tty,
                ..
            } => Some(Self {
                stdin,
                stdout,
                // With a terminal, stderr is in stdout.
                stderr: stderr && !tty,
                tty,
            }),
            Request::PortForward { .. } => None,
        }
    }

    fn count(self) -> usize {
        1 + [self.stdin, self.stdout, self.stderr, self.tty]
            .iter()
            .filter(|b| **b)
            .count()
    }
}

/// The Status the client reads on the error stream: success, or the exit code.
fn status(exit: std::result::Result<i64, String>) -> String {
    match exit {
        Ok(0) => serde_json::json!({"metadata": {}, "status": "Success"}),
        Ok(code) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(message) => serde_json::json!({
            "metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
        }),
    }
    .to_string()
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct TerminalSize {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

/// The whole terminal sizes at the front of `buf`, taken out of it; a partial one stays
/// for the next bytes, and what is not a size is dropped rather than kept to grow.
fn take_sizes(buf: &mut Vec<u8>) -> Vec<TerminalSize> {
    let mut sizes = vec![];
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<TerminalSize>();
    let mut used = 0;
    loop {
        match it.next() {
            Some(Ok(size)) => {
                used = it.byte_offset();
                sizes.push(size);
            }
            Some(Err(e)) if !e.is_eof() => {
                used = buf.len();
                break;
            }
            _ => break,
        }
    }
    buf.drain(..used);
    sizes
}

/// Collects the streams the client opens, by type.
async fn collect(
    streams: &mut mpsc::Receiver<IncomingStream>,
    n: usize,
) -> Result<HashMap<String, IncomingStream>> {
    let mut by_type = HashMap::new();
    let deadline = tokio::time::Instant::now() + STREAM_WAIT;
    while by_type.len() < n {
        let s = tokio::time::timeout_at(deadline, streams.recv())
            .await
            .map_err(|_| CriError::DeadlineExceeded("the client did not open its streams".into()))?
            .ok_or_else(|| CriError::FailedPrecondition("the client went away".into()))?;
        let kind = s.headers.get("streamtype").cloned().unwrap_or_default();
        if !matches!(
            kind.as_str(),
            "error" | "stdin" | "stdout" | "stderr" | "resize"
        ) {
            return Err(CriError::InvalidArgument(format!(
                "unknown stream type {kind:?}"
            )));
        }
        by_type.insert(kind, s);
    }
    Ok(by_type)
}

/// What a resize on the process does.
enum Resizer {
    Exec(String),
    Container(String),
}

impl Resizer {
    async fn resize(&self, cri: &Cri, h: u16, w: u16) {
        let _ = match self {
            Self::Exec(id) => cri.engine.exec_resize(id, h, w).await,
            Self::Container(id) => cri.engine.resize(id, h, w).await,
        };
    }
}

/// Where a session's output goes.
enum Outlet {
    /// The SPDY streams the client opened, by id.
    Spdy {
        tx: Sender,
        stdout: Option<u32>,
        stderr: Option<u32>,
        error: Option<u32>,
    },
    WebSocket {
        writer: websocket::ChannelWriter,
        stdout: bool,
        stderr: bool,
    },
}

impl Outlet {
    /// Sends output (stderr's on stdout when there is no stderr); false once the client
    /// is gone.
    async fn output(&self, to_stderr: bool, data: &[u8]) -> bool {
        match self {
            Self::Spdy {
                tx, stdout, stderr, ..
            } => match if to_stderr {
                stderr.or(*stdout)
            } else {
                *stdout
            } {
                Some(id) => tx.send(id, data, false).await.is_ok(),
                None => true,
            },
            Self::WebSocket {
                writer,
                stdout,
                stderr,
            } => {
                let channel = match (to_stderr, *stdout, *stderr) {
                    (true, _, true) => websocket::STDERR,
                    (_, true, _) => websocket::STDOUT,
                    _ => return true,
                };
                writer.send(channel, data).await
            }
        }
    }

    /// Ends the output streams and sends the session's status.
    async fn end(self, status: String) {
        match self {
            Self::Spdy {
                tx,
                stdout,
                stderr,
                error,
            } => {
                for id in [stdout, stderr].into_iter().flatten() {
                    let _ = tx.close(id).await;
                }
                if let Some(id) = error {
                    let _ = tx.send(id, status.as_bytes(), true).await;
                }
            }
            Self::WebSocket { writer, .. } => writer.end(&status).await,
        }
    }
}

/// What the client sends, on whichever transport: stdin's bytes (ending when the client
/// closes stdin) and terminal sizes as JSON; each None when the client did not open it.
pub struct Inputs {
    pub stdin: Option<mpsc::Receiver<Vec<u8>>>,
    pub resize: Option<mpsc::Receiver<Vec<u8>>>,
}

/// A session over SPDY: the client opens a stream per channel.
pub async fn serve(
    cri: Arc<Cri>,
    req: Request,
    tx: Sender,
    mut streams: mpsc::Receiver<IncomingStream>,
) {
    let Some(wanted) = Wanted::of(&req) else {
        return;
    };
    let mut by_type = match collect(&mut streams, wanted.count()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berthd: cri streaming: {e}");
            return;
        }
    };
    let outlet = Outlet::Spdy {
        tx,
        stdout: by_type.get("stdout").map(|s| s.id),
        stderr: by_type.get("stderr").map(|s| s.id),
        error: by_type.get("error").map(|s| s.id),
    };
    let inputs = Inputs {
        stdin: by_type.remove("stdin").map(|s| s.data),
        resize: by_type.remove("resize").map(|s| s.data),
    };
    run(cri, req, wanted, outlet, inputs).await;
}

/// A session over a WebSocket: the channels are those the request asked for.
pub async fn serve_websocket(cri: Arc<Cri>, req: Request, socket: websocket::Socket) {
    let Some(wanted) = Wanted::of(&req) else {
        return;
    };
    let (writer, inputs) = websocket::channels(socket, wanted.stdin);
    // As the kubelet does: an empty message on the first channel the client reads tells
    // it the session is up.
    let first = match (wanted.stdout, wanted.stderr) {
        (true, _) => websocket::STDOUT,
        (_, true) => websocket::STDERR,
        _ => websocket::ERROR,
    };
    writer.send(first, &[]).await;
    let outlet = Outlet::WebSocket {
        writer,
        stdout: wanted.stdout,
        stderr: wanted.stderr,
    };
    run(cri, req, wanted, outlet, inputs).await;
}

async fn run(cri: Arc<Cri>, req: Request, wanted: Wanted, outlet: Outlet, inputs: Inputs) {
    let (session, resizer, exec_id) = match start(&cri, &req, wanted).await {
        Ok(x) => x,
        Err(e) => return outlet.end(status(Err(e.to_string()))).await,
    };
    let berth_daemon::engine::session::Session {
        mut output,
        mut input,
    } = session;
    // stdin: the client's bytes, then EOF when its stream ends.
    if let Some(mut stdin) = inputs.stdin {
        tokio::spawn(async move {
            while let Some(data) = stdin.recv().await {
                if input.write_all(&data).await.is_err() {
                    return;
                }
            }
            let _ = input.shutdown().await;
        });
    } else {
        drop(input);
    }
    if let Some(mut sizes) = inputs.resize {
        let cri = cri.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Some(data) = sizes.recv().await {
                buf.extend_from_slice(&data);
                for size in take_sizes(&mut buf) {
                    resizer.resize(&cri, size.height, size.width).await;
                }
            }
        });
    }
    while let Some(o) = output.recv().await {
        let sent = match o {
            Output::Stdout(b) => outlet.output(false, &b).await,
            Output::Stderr(b) => outlet.output(true, &b).await,
            Output::Error(e) => outlet.output(true, e.as_bytes()).await,
            Output::Exit(_) => continue,
        };
        if !sent {
            break;
        }
    }
    let exit = match &exec_id {
        Some(e) => cri
            .engine
            .exec_inspect(e)
            .map(|i| i.exit_code.unwrap_or(137))
            .map_err(|e| e.to_string()),
        None => Ok(0),
    };
    outlet.end(status(exit)).await;
}

type Started = (
    berth_daemon::engine::session::Session,
    Resizer,
    Option<String>,
);

async fn start(cri: &Arc<Cri>, req: &Request, w: Wanted) -> Result<Started> {
    match req {
        Request::Exec { container, cmd, .. } => {
            let c = cri.cri_container(container)?;
            let id = cri.engine.exec_create(
                &c.id,
                berth_api::exec::ExecCreateRequest {
                    attach_stdin: w.stdin,
                    attach_stdout: w.stdout,
                    attach_stderr: w.stderr || w.tty,
                    tty: w.tty,
                    cmd: Some(cmd.clone()),
                    ..Default::default()
                },
            )?;
            let session = cri.engine.exec_start(&id, None).await?;
            Ok((session, Resizer::Exec(id.clone()), Some(id)))
        }
        Request::Attach { container, .. } => {
            let c = cri.cri_container(container)?;
            if !c.is_running() {
                return Err(CriError::FailedPrecondition(format!(
                    "container {} is not running",
                    c.id
                )));
            }
            let session = cri
                .engine
                .attach(
                    &c,
                    berth_runtime::task::AttachStreams {
                        stdin: w.stdin,
                        stdout: w.stdout,
                        stderr: w.stderr || w.tty,
                    },
                )
                .await?
                .ok_or_else(|| CriError::FailedPrecondition("the container ended".into()))?;
            Ok((session, Resizer::Container(c.id.clone()), None))
        }
        Request::PortForward { .. } => Err(CriError::InvalidArgument("not a command".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_in_the_status_as_client_go_reads_them() {
        let ok: serde_json::Value = serde_json::from_str(&status(Ok(0))).unwrap();
        assert_eq!(ok["status"], "Success");
        let bad: serde_json::Value = serde_json::from_str(&status(Ok(3))).unwrap();
        assert_eq!(bad["reason"], "NonZeroExitCode");
        assert_eq!(bad["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(bad["details"]["causes"][0]["message"], "3");
    }

    #[test]
    fn terminal_sizes_are_read_whole_and_garbage_is_dropped() {
        let size = |w, h| TerminalSize {
            width: w,
            height: h,
        };
        let mut buf = br#"{"Width":80,"Height":24}{"Width":100,"#.to_vec();
        assert_eq!(take_sizes(&mut buf), vec![size(80, 24)]);
        buf.extend_from_slice(br#""Height":30}"#);
        assert_eq!(take_sizes(&mut buf), vec![size(100, 30)]);
        assert!(buf.is_empty());
        let mut buf = b"not json at all".to_vec();
        assert_eq!(take_sizes(&mut buf), vec![]);
        assert!(buf.is_empty());
    }
}
