//! Docker's embedded resolver: inside a container on a user network, 127.0.0.11:53
//! answers the names of the containers on its networks (names, aliases, short IDs) and
//! passes every other question to the host's nameservers.
//!
//! The socket is made inside the container's network namespace and served by the
//! daemon; it must be closed when the container exits, or it would keep the namespace.

use crate::error::{NetError, Result};
use simple_dns::rdata::{RData, A, AAAA};
use simple_dns::{Packet, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What the daemon knows: the addresses a name has for this container, if it is a
/// container's name on one of its networks.
pub trait Names: Send + Sync + 'static {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>>;
}

/// What to do with one query.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// The reply to send back.
    Reply(Vec<u8>),
    /// Not one of ours: ask the host's nameservers.
    Forward,
}

/// Answers a query for a container name (A records; an empty NOERROR for other types, so
/// that a client asking AAAA first does not wait on the host's nameservers).
pub fn answer(query: &[u8], names: &dyn Names) -> Answer {
    let Ok(packet) = Packet::parse(query) else {
        return Answer::Forward;
    };
    let Some(q) = packet.questions.first() else {
        return Answer::Forward;
    };
    let name = q.qname.to_string();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let Some(addrs) = names.lookup(&name) else {
        return Answer::Forward;
    };
    let mut reply = Packet::new_reply(packet.id());
    reply.set_flags(simple_dns::PacketFlag::RECURSION_AVAILABLE);
    if packet.has_flags(simple_dns::PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(simple_dns::PacketFlag::RECURSION_DESIRED);
    }
    reply.questions.push(q.clone());
    // A name berth knows gets its addresses of the type asked for, and an empty answer
    // (not a forward) for the other type.
    for ip in addrs {
        let rdata = match ip {
            IpAddr::V4(v4) if q.qtype == QTYPE::TYPE(TYPE::A) => RData::A(A {
                address: u32::from(v4),
            }),
            IpAddr::V6(v6) if q.qtype == QTYPE::TYPE(TYPE::AAAA) => RData::AAAA(AAAA {
                address: u128::from(v6),
            }),
            _ => continue,
        };
        reply
            .answers
            .push(ResourceRecord::new(q.qname.clone(), CLASS::IN, 600, rdata));
    }
    *reply.rcode_mut() = RCODE::NoError;
    match reply.build_bytes_vec() {
        Ok(bytes) => Answer::Reply(bytes),
        Err(_) => Answer::Forward,
    }
}

/// A UDP socket bound to 127.0.0.11:53 inside the namespace `netns`.
pub fn bind_in(netns: &File) -> Result<std::net::UdpSocket> {
    let ns = netns
        .try_clone()
        .map_err(|e| NetError::sys("the container's network namespace", e))?;
    std::thread::spawn(move || -> std::io::Result<std::net::UdpSocket> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let s = std::net::UdpSocket::bind((crate::files::EMBEDDED_DNS, 53))?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .join()
    .map_err(|_| NetError::Invalid("resolver thread panicked".into()))?
    .map_err(|e| NetError::sys("binding the resolver in the container", e))
}

/// Serves queries on `socket` until the task is aborted.
pub async fn serve(socket: std::net::UdpSocket, names: Arc<dyn Names>, upstreams: Vec<SocketAddr>) {
    let Ok(socket) = tokio::net::UdpSocket::from_std(socket) else {
        return;
    };
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let query = buf[..n].to_vec();
        match answer(&query, names.as_ref()) {
            Answer::Reply(r) => {
                let _ = socket.send_to(&r, from).await;
            }
            Answer::Forward => {
                let socket = socket.clone();
                let upstreams = upstreams.clone();
                tokio::spawn(async move {
                    if let Some(r) = forward(&query, &upstreams).await {
                        let _ = socket.send_to(&r, from).await;
                    }
                });
            }
        }
    }
}

/// Asks each upstream in turn (from the host's namespace); the first answer wins.
async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = tokio::net::UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(3), s.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::{Name, Question};
    use std::net::Ipv4Addr;

    struct Fixed;
    impl Names for Fixed {
        fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
            match name {
                "web" => Some(vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))]),
                "six" => Some(vec![
                    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4)),
                    IpAddr::V6("fd00::4".parse().unwrap()),
                ]),
                _ => None,
            }
        }
    }

    fn query(name: &str, t: TYPE) -> Vec<u8> {
        let mut p = Packet::new_query(7);
        p.questions.push(Question::new(
            Name::new_unchecked(name),
            QTYPE::TYPE(t),
            simple_dns::QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn answers_container_names_and_forwards_the_rest() {
        let Answer::Reply(r) = answer(&query("Web.", TYPE::A), &Fixed) else {
            panic!("not answered");
        };
        let p = Packet::parse(&r).unwrap();
        assert_eq!(p.id(), 7);
        assert_eq!(p.answers.len(), 1);
        assert!(
            matches!(p.answers[0].rdata, RData::A(A { address }) if address == u32::from(Ipv4Addr::new(10, 1, 2, 3)))
        );
        // AAAA for a container: an empty answer, not a forward.
        let Answer::Reply(r) = answer(&query("web", TYPE::AAAA), &Fixed) else {
            panic!("not answered");
        };
        assert!(Packet::parse(&r).unwrap().answers.is_empty());
        let Answer::Reply(r) = answer(&query("six", TYPE::AAAA), &Fixed) else {
            panic!("not answered");
        };
        let p = Packet::parse(&r).unwrap();
        assert_eq!(p.answers.len(), 1);
        assert!(
            matches!(p.answers[0].rdata, RData::AAAA(AAAA { address }) if address == u128::from("fd00::4".parse::<std::net::Ipv6Addr>().unwrap()))
        );
        assert_eq!(
            answer(&query("example.org", TYPE::A), &Fixed),
            Answer::Forward
        );
        assert_eq!(answer(b"junk", &Fixed), Answer::Forward);
    }
}
