//! Legacy links and `--add-host` at start: the hosts entries and environment they give.

use crate::engine::container::Record;
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use std::net::IpAddr;

impl Engine {
    /// The running container a link names, and its address.
    fn link_target(&self, name: &str) -> Result<(Record, String)> {
        let target = self.get(name).map_err(|_| {
            DaemonError::InvalidParameter(format!("could not get container for {name}"))
        })?;
        let r = target.snapshot();
        let ip = r
            .networks
            .values()
            .find(|e| !e.ip_address.is_empty())
            .map(|e| e.ip_address.clone());
        match (r.state.running, ip) {
            (true, Some(ip)) => Ok((r, ip)),
            _ => Err(DaemonError::Conflict(format!(
                "Cannot link to a non running container: {} AS {}",
                r.name, name
            ))),
        }
    }

    /// `--add-host` entries, then an entry per link (`ip alias id name`).
    pub(crate) fn extra_hosts(&self, rec: &Record) -> Result<Vec<(String, IpAddr)>> {
        let gateway = self.networks.find("bridge").ok().and_then(|n| n.gateway);
        let mut out = vec![];
        for h in rec.host_config.extra_hosts.iter().flatten() {
            out.push(super::extra_host(h, gateway)?);
        }
        for l in rec.host_config.links.iter().flatten() {
            let (name, alias) = super::parse_link(l)?;
            let (target, ip) = self.link_target(&name)?;
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| DaemonError::System(format!("bad address {ip}")))?;
            let mut names = vec![alias.clone()];
            for n in [
                target.id[..12].to_string(),
                target.name.trim_start_matches('/').to_string(),
            ] {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            out.push((names.join(" "), ip));
        }
        Ok(out)
    }

    /// The environment of each link, for the container's process.
    pub(crate) fn link_env(&self, rec: &Record) -> Result<Vec<String>> {
        let mut env = vec![];
        for l in rec.host_config.links.iter().flatten() {
            let (name, alias) = super::parse_link(l)?;
            let (target, ip) = self.link_target(&name)?;
            let exposed: Vec<(u16, String)> = target
                .config
                .exposed_ports
                .iter()
                .flatten()
                .filter_map(|(k, _)| {
                    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                    Some((p.parse().ok()?, proto.to_string()))
                })
                .collect();
            let exposed: Vec<(u16, &str)> = exposed.iter().map(|(p, s)| (*p, s.as_str())).collect();
            env.extend(super::link_env(
                &alias,
                &rec.name,
                &ip,
                &exposed,
                target.config.env.as_deref().unwrap_or(&[]),
            ));
        }
        Ok(env)
    }
}
