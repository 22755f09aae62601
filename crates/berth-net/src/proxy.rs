//! Published ports reached from containers. berth's DNAT leaves traffic that comes in
//! from its bridges alone: sending it back out onto a bridge would need the host to
//! forward packets. It reaches the held host socket instead, and the daemon carries it
//! to the container, as Docker's docker-proxy does.

use crate::error::{NetError, Result};
use crate::ports::{HeldPort, Proto};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a UDP flow without traffic keeps its socket (docker-proxy's timeout).
const UDP_IDLE: Duration = Duration::from_secs(90);

/// The proxies of one container's ports; dropping it stops them.
#[derive(Debug, Default)]
pub struct Proxies {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts carrying what arrives at each held port to `target`. Must be called inside a
/// tokio runtime.
pub fn start(held: &[HeldPort], target: Ipv4Addr) -> Result<Proxies> {
    let mut proxies = Proxies::default();
    for h in held {
        let to = SocketAddrV4::new(target, h.container_port);
        let task = match h.proto {
            Proto::Tcp => tokio::spawn(tcp(tcp_listener(h)?, to)),
            Proto::Udp => tokio::spawn(udp(Arc::new(udp_socket(h)?), to)),
        };
        proxies.tasks.push(task);
    }
    Ok(proxies)
}

fn tcp_listener(h: &HeldPort) -> Result<tokio::net::TcpListener> {
    let l = h
        .tcp()
        .ok_or_else(|| NetError::Invalid("a TCP port without a listener".into()))?
        .try_clone()
        .map_err(|e| NetError::sys("the published port's socket", e))?;
    l.set_nonblocking(true)
        .map_err(|e| NetError::sys("the published port's socket", e))?;
    tokio::net::TcpListener::from_std(l).map_err(|e| NetError::sys("the published port", e))
}

fn udp_socket(h: &HeldPort) -> Result<tokio::net::UdpSocket> {
    let s = h
        .udp()
        .ok_or_else(|| NetError::Invalid("a UDP port without a socket".into()))?
        .try_clone()
        .map_err(|e| NetError::sys("the published port's socket", e))?;
    s.set_nonblocking(true)
        .map_err(|e| NetError::sys("the published port's socket", e))?;
    tokio::net::UdpSocket::from_std(s).map_err(|e| NetError::sys("the published port", e))
}

async fn tcp(listener: tokio::net::TcpListener, to: SocketAddrV4) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            // EMFILE and the like: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}

/// UDP: one connected socket per client address, so that the container's replies find
/// their way back; a flow ends after `UDP_IDLE` without a reply.
async fn udp(socket: Arc<tokio::net::UdpSocket>, to: SocketAddrV4) {
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let existing = flows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&client)
            .cloned();
        let upstream = match existing {
            Some(u) => u,
            None => {
                let Ok(u) = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await else {
                    continue;
                };
                if u.connect(to).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                flows
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(client, u.clone());
                tokio::spawn(udp_replies(
                    u.clone(),
                    socket.clone(),
                    client,
                    flows.clone(),
                ));
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

async fn udp_replies(
    upstream: Arc<tokio::net::UdpSocket>,
    socket: Arc<tokio::net::UdpSocket>,
    client: SocketAddr,
    flows: Arc<Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
        let _ = socket.send_to(&buf[..n], client).await;
    }
    flows
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&client);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{hold_ports, PortRequest};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn request(proto: Proto, container_port: u16) -> PortRequest {
        PortRequest {
            proto,
            container_port,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 0,
            host_port_last: None,
        }
    }

    #[tokio::test]
    async fn carries_tcp_and_udp_both_ways() {
        // Stand-ins for the container's servers, on loopback.
        let tcp_server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_port = tcp_server.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = tcp_server.accept().await.unwrap();
            let mut line = [0u8; 4];
            s.read_exact(&mut line).await.unwrap();
            s.write_all(b"tcp:").await.unwrap();
            s.write_all(&line).await.unwrap();
        });
        let udp_server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let udp_port = udp_server.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = udp_server.recv_from(&mut buf).await.unwrap();
            let reply = [b"udp:".as_slice(), &buf[..n]].concat();
            udp_server.send_to(&reply, from).await.unwrap();
        });
        let held =
            hold_ports(&[request(Proto::Tcp, tcp_port), request(Proto::Udp, udp_port)]).unwrap();
        let proxies = start(&held, Ipv4Addr::LOCALHOST).unwrap();

        let mut c = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, held[0].host_port))
            .await
            .unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "tcp:ping");

        let u = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        u.send_to(b"pong", (Ipv4Addr::LOCALHOST, held[1].host_port))
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), u.recv(&mut buf))
            .await
            .expect("a UDP reply through the proxy")
            .unwrap();
        assert_eq!(&buf[..n], b"udp:pong");

        // Stopped with its container: the port no longer answers.
        drop(proxies);
        let tcp_host_port = held[0].host_port;
        drop(held);
        tokio::task::yield_now().await;
        assert!(
            tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, tcp_host_port))
                .await
                .is_err()
        );
    }
}
