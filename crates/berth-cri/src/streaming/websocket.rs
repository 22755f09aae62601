//! The streaming server's WebSocket transports, as client-go's WebSocket executor and its
//! SPDY-over-WebSocket dialer (kubectl's since Kubernetes 1.30, crictl's and critest's
//! `--transport websocket`) speak them:
//! - remote command, `v5.channel.k8s.io` or `v4.channel.k8s.io`: every binary message is
//!   a channel byte and its data (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize); v5 adds
//!   `255, channel` to close a channel, which is how the client ends stdin.
//! - port forwarding, `SPDY/3.1+portforward.k8s.io`: the messages carry a SPDY session's
//!   bytes, served as on a plain upgrade.

use super::remotecommand::Inputs;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const REMOTE_COMMAND_V5: &str = "v5.channel.k8s.io";
pub const REMOTE_COMMAND_V4: &str = "v4.channel.k8s.io";
/// Port forwarding's SPDY session tunnelled in the socket's messages.
pub const TUNNELLED_PORT_FORWARD: &str = "SPDY/3.1+portforward.k8s.io";

const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: `[CLOSE, channel]` ends that channel.
const CLOSE: u8 = 255;

pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// The subprotocols the client offered, in its order.
pub fn offered(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The first of berth's `supported` protocols (in berth's order of preference) that the
/// client offered.
pub fn choose(offered: &[String], supported: &[&'static str]) -> Option<&'static str> {
    supported
        .iter()
        .find(|s| offered.iter().any(|o| o == *s))
        .copied()
}

/// The largest message a client may send: stdin comes in client-go's 32 KiB reads, and a
/// tunnelled SPDY frame is at most 1 MiB (what berth's SPDY server takes).
const MAX_MESSAGE: usize = 4 << 20;

pub async fn accept(upgraded: Upgraded) -> Socket {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await
}

/// Writes a remote command session's channels; dropping it or `end` closes the socket.
pub struct ChannelWriter {
    out: mpsc::Sender<Message>,
}

impl ChannelWriter {
    /// Sends `data` on `channel`; false once the client is gone.
    pub async fn send(&self, channel: u8, data: &[u8]) -> bool {
        let mut m = Vec::with_capacity(data.len() + 1);
        m.push(channel);
        m.extend_from_slice(data);
        self.out.send(Message::binary(m)).await.is_ok()
    }

    /// Sends the session's status on the error channel, then closes the socket normally:
    /// client-go reads the status to the stream's end, which the close is.
    pub async fn end(self, status: &str) {
        self.send(ERROR, status.as_bytes()).await;
        let _ = self.out.send(close_normally()).await;
    }
}

fn close_normally() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// Splits a remote command socket into its channels.
pub fn channels(socket: Socket, stdin: bool) -> (ChannelWriter, Inputs) {
    let (mut sink, mut source) = socket.split();
    let (out, mut to_send) = mpsc::channel::<Message>(64);
    tokio::spawn(async move {
        while let Some(m) = to_send.recv().await {
            let last = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let (stdin_tx, stdin_rx) = mpsc::channel::<Vec<u8>>(16);
    let (resize_tx, resize_rx) = mpsc::channel::<Vec<u8>>(4);
    tokio::spawn(async move {
        let mut stdin_tx = stdin.then_some(stdin_tx);
        while let Some(Ok(m)) = source.next().await {
            let data = match m {
                Message::Binary(b) => b,
                Message::Close(_) => break,
                // Pings are answered by the socket itself; text is not part of the protocol.
                _ => continue,
            };
            match (data.first(), &data[1.min(data.len())..]) {
                (Some(&STDIN), rest) => {
                    if let Some(tx) = &stdin_tx {
                        if !rest.is_empty() && tx.send(rest.to_vec()).await.is_err() {
                            stdin_tx = None;
                        }
                    }
                }
                (Some(&RESIZE), rest) => {
                    let _ = resize_tx.send(rest.to_vec()).await;
                }
                (Some(&CLOSE), [STDIN]) => stdin_tx = None,
                _ => {}
            }
        }
    });
    (
        ChannelWriter { out },
        Inputs {
            stdin: stdin.then_some(stdin_rx),
            resize: Some(resize_rx),
        },
    )
}

/// The byte stream a tunnelled SPDY session runs on: each binary message in is read
/// from it, each write to it goes out as a message.
pub fn tunnel(socket: Socket) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_spdy, mut to_spdy) = tokio::io::split(theirs);
    let (mut sink, mut source) = socket.split();
    tokio::spawn(async move {
        while let Some(Ok(m)) = source.next().await {
            match m {
                Message::Binary(b) if to_spdy.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = to_spdy.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_spdy.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::binary(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(close_normally()).await;
        let _ = sink.close().await;
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berths_preference_wins_over_the_clients_order() {
        let mut h = http::HeaderMap::new();
        h.append(
            "sec-websocket-protocol",
            "v4.channel.k8s.io, v5.channel.k8s.io".parse().unwrap(),
        );
        h.append("sec-websocket-protocol", "channel.k8s.io".parse().unwrap());
        let o = offered(&h);
        assert_eq!(o.len(), 3);
        assert_eq!(
            choose(&o, &[REMOTE_COMMAND_V5, REMOTE_COMMAND_V4]),
            Some(REMOTE_COMMAND_V5)
        );
        assert_eq!(choose(&o, &[TUNNELLED_PORT_FORWARD]), None);
    }
}
