//! Published ports of running containers: `-p`, `-P`, held on the host and forwarded
//! by berth's nftables table, reported in inspect's NetworkSettings.Ports.

use super::{net_error, Networks};
use crate::error::{DaemonError, Result};
use berth_api::container::{Config, HostConfig};
use berth_net::ports::{self, Forward, HeldPort, PortRequest, Proto};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `80/tcp` → (80, tcp); a bad one is refused naming `field`.
fn parse_port_key(field: &str, key: &str) -> Result<(u16, Proto)> {
    let bad = |why: String| DaemonError::InvalidParameter(format!("{field}: {why}"));
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad(format!("invalid port specification: \"{key}\"")))?;
    Ok((port, Proto::parse(proto).map_err(|e| bad(e.to_string()))?))
}

/// What HostConfig.PortBindings and PublishAllPorts ask for, checked; `exposed` is the
/// container's ExposedPorts (for -P).
pub fn requests(hc: &HostConfig, cfg: &Config) -> Result<Vec<PortRequest>> {
    let mut out = vec![];
    let bindings = hc.port_bindings.clone().unwrap_or_default();
    let mut keys: Vec<&String> = bindings.keys().collect();
    keys.sort();
    for key in keys {
        let (container_port, proto) = parse_port_key("HostConfig.PortBindings", key)?;
        let mut list = bindings
            .get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        // An empty list publishes on an ephemeral host port, as dockerd backfills it
        // (deprecated in API 1.52, which warns at create).
        if list.is_empty() {
            list.push(serde_json::json!({}));
        }
        for b in list {
            let field = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let host_ip = match field("HostIp").as_str() {
                "" => None,
                ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    DaemonError::InvalidParameter(format!(
                        "HostConfig.PortBindings: invalid or unsupported host IP {ip} (berth publishes ports on IPv4 host addresses)"
                    ))
                })?),
            };
            let host = field("HostPort");
            let (first, last) = match host.split_once('-') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (host.clone(), None),
            };
            let num = |s: &str| -> Result<u16> {
                if s.is_empty() {
                    return Ok(0);
                }
                s.parse()
                    .map_err(|_| DaemonError::InvalidParameter(format!("invalid hostPort: {host}")))
            };
            out.push(PortRequest {
                proto,
                container_port,
                host_ip,
                host_port: num(&first)?,
                host_port_last: last.as_deref().map(num).transpose()?,
            });
        }
    }
    if hc.publish_all_ports {
        let mut exposed: Vec<&String> =
            cfg.exposed_ports.iter().flatten().map(|(k, _)| k).collect();
        exposed.sort();
        for key in exposed {
            let (container_port, proto) = parse_port_key("Config.ExposedPorts", key)?;
            if !out
                .iter()
                .any(|r| r.container_port == container_port && r.proto == proto)
            {
                out.push(PortRequest {
                    proto,
                    container_port,
                    host_ip: None,
                    host_port: 0,
                    host_port_last: None,
                });
            }
        }
    }
    Ok(out)
}

/// Docker's NetworkSettings.Ports: every exposed or published port, with its bindings
/// while the container runs.
pub type PortMap = BTreeMap<String, Option<Vec<serde_json::Value>>>;

impl Networks {
    /// Holds the host ports of a starting container; the bindings for inspect.
    pub fn hold_ports(
        &self,
        id: &str,
        requests: &[PortRequest],
    ) -> Result<BTreeMap<String, Vec<serde_json::Value>>> {
        let held = ports::hold_ports(requests).map_err(net_error)?;
        let mut bindings: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for h in &held {
            bindings
                .entry(format!("{}/{}", h.container_port, h.proto.name()))
                .or_default()
                .push(serde_json::json!({
                    "HostIp": h.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                    "HostPort": h.host_port.to_string(),
                }));
        }
        self.published().insert(
            id.to_string(),
            super::PublishedPorts {
                held,
                ..Default::default()
            },
        );
        Ok(bindings)
    }

    /// After a daemon restart: takes the ports of a running container again (the dead
    /// daemon's sockets are gone), without rewriting the rules yet.
    pub fn rehold_ports(
        &self,
        id: &str,
        bindings: &BTreeMap<String, Vec<serde_json::Value>>,
        container_ip: Option<Ipv4Addr>,
    ) -> Result<()> {
        let mut requests = vec![];
        for (key, list) in bindings {
            let (container_port, proto) = parse_port_key("NetworkSettings.Ports", key)?;
            for b in list {
                let field = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                requests.push(PortRequest {
                    proto,
                    container_port,
                    host_ip: field("HostIp")
                        .parse()
                        .ok()
                        .filter(|ip: &Ipv4Addr| !ip.is_unspecified()),
                    host_port: field("HostPort").parse().unwrap_or(0),
                    host_port_last: None,
                });
            }
        }
        let held = ports::hold_ports(&requests).map_err(net_error)?;
        let proxies = match container_ip {
            Some(ip) => berth_net::proxy::start(&held, ip).map_err(net_error)?,
            None => Default::default(),
        };
        self.published().insert(
            id.to_string(),
            super::PublishedPorts {
                held,
                target: container_ip,
                proxies,
            },
        );
        Ok(())
    }

    /// Forwards the held ports to the container's address, now that it has one: the
    /// rules for traffic from the host and outside, the proxy for containers'.
    pub fn forward_ports(&self, id: &str, container_ip: Ipv4Addr) -> Result<()> {
        if let Some(entry) = self.published().get_mut(id) {
            if entry.held.is_empty() {
                return Ok(());
            }
            entry.proxies =
                berth_net::proxy::start(&entry.held, container_ip).map_err(net_error)?;
            entry.target = Some(container_ip);
        } else {
            return Ok(());
        }
        self.sync_rules()
    }

    /// Lets go of a container's ports and their rules.
    pub fn release_ports(&self, id: &str) {
        let had = self
            .published()
            .remove(id)
            .is_some_and(|p| !p.held.is_empty());
        if had {
            if let Err(e) = self.sync_rules() {
                eprintln!("berthd: removing the rules of container {id}: {e}");
            }
        }
    }

    /// Rewrites berth's table from the ports held now (also on daemon start, which drops
    /// whatever a crashed daemon left).
    pub fn sync_rules(&self) -> Result<()> {
        // One rewrite at a time, each from the state at its start: two interleaved could
        // leave the older state in place.
        let _one = self.rules_lock.lock().unwrap_or_else(|p| p.into_inner());
        let forwards: Vec<Forward> = self
            .published()
            .values()
            .filter_map(|p| p.target.map(|ip| (&p.held, ip)))
            .flat_map(|(held, ip)| {
                held.iter().map(move |h: &HeldPort| Forward {
                    proto: h.proto,
                    host_ip: h.host_ip,
                    host_port: h.host_port,
                    container_ip: ip,
                    container_port: h.container_port,
                })
            })
            .collect();
        let nets: Vec<ports::BridgeNet> = self
            .all()
            .into_iter()
            .filter(|n| n.driver == super::Driver::Bridge)
            .filter_map(|n| {
                Some(ports::BridgeNet {
                    subnet: n.subnet?.to_string(),
                    bridge: n.bridge,
                    internal: n.internal,
                })
            })
            .collect();
        if !forwards.is_empty() {
            for n in &nets {
                ports::allow_localnet(&n.bridge).map_err(net_error)?;
            }
        }
        ports::apply(&ports::render(
            &self.table,
            &nets,
            self.masquerade,
            &forwards,
        ))
        .map_err(net_error)
    }
}
