//! NRI's connection multiplexer: one unix socket carries a byte stream per logical
//! connection, each frame a 4-byte connection id and a 4-byte length (big-endian) before
//! its bytes. A plugin serves its Plugin service on connection 1 and calls the runtime's
//! Runtime service on connection 2.

use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::Mutex;

/// The connection on which the plugin serves and the runtime calls.
pub const PLUGIN_SERVICE: u32 = 1;
/// The connection on which the runtime serves and the plugin calls.
pub const RUNTIME_SERVICE: u32 = 2;

/// A frame's payload is at most a ttrpc message with its header (as NRI's mux).
const MAX_FRAME: usize = super::ttrpc::HEADER + super::ttrpc::MAX_MESSAGE as usize;
const PIPE: usize = 256 << 10;

/// Splits `trunk` into the two logical connections (plugin service, runtime service).
/// Frames for any other connection are dropped; the streams end when the trunk does.
pub fn split<T>(trunk: T) -> (DuplexStream, DuplexStream)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut trunk_read, trunk_write) = tokio::io::split(trunk);
    let trunk_write = Arc::new(Mutex::new(trunk_write));
    let (plugin_local, plugin_remote) = tokio::io::duplex(PIPE);
    let (runtime_local, runtime_remote) = tokio::io::duplex(PIPE);
    let (plugin_from, mut plugin_to) = tokio::io::split(plugin_remote);
    let (runtime_from, mut runtime_to) = tokio::io::split(runtime_remote);
    // Out: what each local end writes goes to the trunk in frames.
    for (id, from) in [
        (PLUGIN_SERVICE, plugin_from),
        (RUNTIME_SERVICE, runtime_from),
    ] {
        let out = trunk_write.clone();
        tokio::spawn(async move {
            let mut from = from;
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut frame = Vec::with_capacity(8 + n);
                frame.extend_from_slice(&id.to_be_bytes());
                frame.extend_from_slice(&(n as u32).to_be_bytes());
                frame.extend_from_slice(&buf[..n]);
                if out.lock().await.write_all(&frame).await.is_err() {
                    break;
                }
            }
            let _ = out.lock().await.shutdown().await;
        });
    }
    // In: each frame's bytes go to its connection's local end.
    tokio::spawn(async move {
        let mut header = [0u8; 8];
        loop {
            if trunk_read.read_exact(&mut header).await.is_err() {
                break;
            }
            let id = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if len > MAX_FRAME {
                break;
            }
            let mut payload = vec![0u8; len];
            if trunk_read.read_exact(&mut payload).await.is_err() {
                break;
            }
            let to = match id {
                PLUGIN_SERVICE => &mut plugin_to,
                RUNTIME_SERVICE => &mut runtime_to,
                _ => continue,
            };
            if to.write_all(&payload).await.is_err() {
                break;
            }
        }
        let _ = plugin_to.shutdown().await;
        let _ = runtime_to.shutdown().await;
    });
    (plugin_local, runtime_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_their_connection_and_writes_are_framed() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let (mut plugin, mut runtime) = split(ours);
        // The peer sends to the runtime service, then to the plugin service.
        let mut frames = vec![];
        for (id, data) in [
            (RUNTIME_SERVICE, &b"to runtime"[..]),
            (PLUGIN_SERVICE, b"to plugin"),
        ] {
            frames.extend_from_slice(&id.to_be_bytes());
            frames.extend_from_slice(&(data.len() as u32).to_be_bytes());
            frames.extend_from_slice(data);
        }
        theirs.write_all(&frames).await.unwrap();
        let mut got = [0u8; 10];
        runtime.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"to runtime");
        let mut got = [0u8; 9];
        plugin.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"to plugin");
        plugin.write_all(b"reply").await.unwrap();
        let mut header = [0u8; 8];
        theirs.read_exact(&mut header).await.unwrap();
        assert_eq!(
            u32::from_be_bytes(header[..4].try_into().unwrap()),
            PLUGIN_SERVICE
        );
        assert_eq!(u32::from_be_bytes(header[4..].try_into().unwrap()), 5);
        let mut body = [0u8; 5];
        theirs.read_exact(&mut body).await.unwrap();
        assert_eq!(&body, b"reply");
    }
}
