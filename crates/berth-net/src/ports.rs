//! Published ports: the host ports held for a container (so that nothing else takes them,
//! and a second container asking for one is refused), and berth's own nftables table that
//! sends their traffic to the container.
//!
//! The table (`ip berth_<bridge>`) is berth's alone and rewritten whole, in one atomic
//! `nft -f` transaction, at every change: the host's own firewall rules are never
//! touched, and can see and filter what berth's rules let in.

use crate::error::{NetError, Result};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(NetError::Invalid(format!(
                "invalid proto '{other}': only tcp and udp ports can be published"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port, asked for: host port 0 means any free one; `last` makes a range.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRequest {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    /// The end of a host port range (`8000-8010`): the first free port in it is taken.
    pub host_port_last: Option<u16>,
}

/// A published port as it is held: the host socket, and where its traffic goes.
#[derive(Debug)]
pub struct HeldPort {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    socket: Held,
}

#[derive(Debug)]
enum Held {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl HeldPort {
    pub fn tcp(&self) -> Option<&TcpListener> {
        match &self.socket {
            Held::Tcp(l) => Some(l),
            Held::Udp(_) => None,
        }
    }

    pub fn udp(&self) -> Option<&UdpSocket> {
        match &self.socket {
            Held::Udp(s) => Some(s),
            Held::Tcp(_) => None,
        }
    }
}

fn hold(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<(Held, u16)> {
    let addr = SocketAddr::from((ip, port));
    Ok(match proto {
        Proto::Tcp => {
            let l = TcpListener::bind(addr)?;
            let port = l.local_addr()?.port();
            (Held::Tcp(l), port)
        }
        Proto::Udp => {
            let s = UdpSocket::bind(addr)?;
            let port = s.local_addr()?.port();
            (Held::Udp(s), port)
        }
    })
}

/// Takes the host ports of `requests`; all of them or none.
pub fn hold_ports(requests: &[PortRequest]) -> Result<Vec<HeldPort>> {
    let mut held = vec![];
    for r in requests {
        let ip = r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let last = r.host_port_last.unwrap_or(r.host_port).max(r.host_port);
        let mut got = None;
        let mut last_err = None;
        for port in r.host_port..=last {
            match hold(r.proto, ip, port) {
                Ok(h) => {
                    got = Some(h);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let Some((socket, port)) = got else {
            let why = last_err
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no port".into());
            return Err(NetError::Invalid(format!(
                "Bind for {ip}:{} failed: port is already allocated ({why})",
                r.host_port
            )));
        };
        held.push(HeldPort {
            proto: r.proto,
            host_ip: r.host_ip,
            host_port: port,
            container_port: r.container_port,
            socket,
        });
    }
    Ok(held)
}

/// One forwarding rule of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// A table name nft takes: `berth_` and the bridge's name with anything odd replaced.
pub fn table_name(bridge: &str) -> String {
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("berth_{safe}")
}

/// A bridge network as the table sees it.
#[derive(Debug, Clone)]
pub struct BridgeNet {
    pub bridge: String,
    pub subnet: String,
    /// Internal networks reach nothing beyond their bridge.
    pub internal: bool,
}

/// The whole table: DNAT of published ports for traffic to the host's own addresses
/// (from outside, and from the host itself, loopback included; what comes in from a
/// bridge is left to the daemon's proxy, see `proxy`); masquerading of loopback
/// sources leaving through a bridge (without it a reply to 127.0.0.1 could not come
/// back); with `masquerade`, of containers' traffic leaving the host through another
/// interface; and a drop of anything an internal network sends elsewhere.
pub fn render(table: &str, nets: &[BridgeNet], masquerade: bool, forwards: &[Forward]) -> String {
    let bridges: Vec<String> = nets.iter().map(|n| n.bridge.clone()).collect();
    let mut s = String::new();
    let _ = writeln!(s, "table ip {table} {{}}");
    let _ = writeln!(s, "delete table ip {table}");
    let quoted: Vec<String> = bridges.iter().map(|b| format!("\"{b}\"")).collect();
    let from_outside = if quoted.is_empty() {
        String::new()
    } else {
        format!("iifname != {{ {} }} ", quoted.join(", "))
    };
    let _ = writeln!(s, "table ip {table} {{");
    let _ = writeln!(
        s,
        "  chain prerouting {{ type nat hook prerouting priority -100; policy accept; {from_outside}fib daddr type local jump published; }}"
    );
    let _ = writeln!(
        s,
        "  chain output {{ type nat hook output priority -100; policy accept; fib daddr type local jump published; }}"
    );
    let _ = writeln!(s, "  chain postrouting {{");
    let _ = writeln!(
        s,
        "    type nat hook postrouting priority 100; policy accept;"
    );
    if !quoted.is_empty() {
        let _ = writeln!(
            s,
            "    ip saddr 127.0.0.0/8 oifname {{ {} }} masquerade",
            quoted.join(", ")
        );
    }
    for n in nets.iter().filter(|n| masquerade && !n.internal) {
        let _ = writeln!(
            s,
            "    ip saddr {} oifname != \"{}\" masquerade",
            n.subnet, n.bridge
        );
    }
    let _ = writeln!(s, "  }}");
    let internal: Vec<&BridgeNet> = nets.iter().filter(|n| n.internal).collect();
    if !internal.is_empty() {
        let _ = writeln!(s, "  chain forward {{");
        let _ = writeln!(s, "    type filter hook forward priority 0; policy accept;");
        for n in internal {
            let _ = writeln!(
                s,
                "    iifname \"{b}\" oifname != \"{b}\" drop\n    oifname \"{b}\" iifname != \"{b}\" drop",
                b = n.bridge
            );
        }
        let _ = writeln!(s, "  }}");
    }
    let _ = writeln!(s, "  chain published {{");
    for f in forwards {
        let daddr = f
            .host_ip
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    {daddr}{} dport {} dnat to {}:{}",
            f.proto.name(),
            f.host_port,
            f.container_ip,
            f.container_port
        );
    }
    let _ = writeln!(s, "  }}");
    let _ = writeln!(s, "}}");
    s
}

/// Applies a ruleset with `nft -f -`.
pub fn apply(ruleset: &str) -> Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| NetError::sys("running nft (is nftables installed?)", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ruleset.as_bytes())
            .map_err(|e| NetError::sys("writing to nft", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::sys("running nft", e))?;
    if !out.status.success() {
        return Err(NetError::Invalid(format!(
            "nft refused berth's rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Removes berth's table (a daemon whose bridge goes).
pub fn delete_table(table: &str) -> Result<()> {
    apply(&format!("table ip {table} {{}}\ndelete table ip {table}\n"))
}

/// Lets a bridge route packets from 127.0.0.1 (after DNAT to a container), which the
/// kernel otherwise drops as martians.
pub fn allow_localnet(bridge: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&path, "1").map_err(|e| NetError::sys(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset() {
        let nets = [
            BridgeNet {
                bridge: "b0".into(),
                subnet: "10.0.0.0/24".into(),
                internal: false,
            },
            BridgeNet {
                bridge: "b1".into(),
                subnet: "10.0.1.0/24".into(),
                internal: true,
            },
        ];
        let r = render(
            "berth_b0",
            &nets,
            true,
            &[
                Forward {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: "10.0.0.2".parse().unwrap(),
                    container_port: 80,
                },
                Forward {
                    proto: Proto::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 5353,
                    container_ip: "10.0.0.3".parse().unwrap(),
                    container_port: 53,
                },
            ],
        );
        assert!(r.starts_with("table ip berth_b0 {}\ndelete table ip berth_b0\n"));
        assert!(r.contains("    tcp dport 8080 dnat to 10.0.0.2:80\n"));
        assert!(r.contains("    ip daddr 127.0.0.1 udp dport 5353 dnat to 10.0.0.3:53\n"));
        assert!(r.contains("ip saddr 127.0.0.0/8 oifname { \"b0\", \"b1\" } masquerade"));
        assert!(r.contains("ip saddr 10.0.0.0/24 oifname != \"b0\" masquerade"));
        assert!(
            !r.contains("ip saddr 10.0.1.0/24"),
            "internal networks are not masqueraded"
        );
        assert!(r.contains("iifname \"b1\" oifname != \"b1\" drop"));
        assert!(
            r.contains("iifname != { \"b0\", \"b1\" } fib daddr type local jump published"),
            "containers' traffic to published ports goes to the proxy"
        );
        assert!(!render("t", &nets, false, &[]).contains("ip saddr 10.0.0.0/24"));
        assert_eq!(table_name("br-12ab"), "berth_br_12ab");
    }

    #[test]
    fn held_ports_are_refused_to_others() {
        let first = hold_ports(&[PortRequest {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 0,
            host_port_last: None,
        }])
        .unwrap();
        let port = first[0].host_port;
        assert_ne!(port, 0);
        let again = hold_ports(&[PortRequest {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: port,
            host_port_last: None,
        }]);
        assert!(again
            .unwrap_err()
            .to_string()
            .contains("port is already allocated"));
    }
}
