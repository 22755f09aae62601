//! The embedded resolver of each running container on a user network: started when its
//! namespace has its veths, stopped at its exit (its socket would keep the namespace).

use crate::engine::Engine;
use berth_net::dns::{self, Names};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};

/// Names as one container sees them: the containers sharing a user network with it.
struct ContainerNames {
    engine: Weak<Engine>,
    asker: String,
}

impl Names for ContainerNames {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        self.engine.upgrade()?.resolve_name(&self.asker, name)
    }
}

impl Engine {
    /// The addresses `name` has for container `asker`: every running container on one of
    /// its user networks whose name, short ID or alias on that network is `name`.
    pub(crate) fn resolve_name(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        let asker = self.get(asker).ok()?;
        let nets: Vec<String> = asker
            .record()
            .networks
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "bridge" | "host" | "none"))
            .map(|(_, e)| e.network_id.clone())
            .collect();
        let mut found = vec![];
        for c in self.all() {
            let r = c.record();
            if !r.state.running {
                continue;
            }
            for ep in r.networks.values().filter(|e| nets.contains(&e.network_id)) {
                let Ok(ip) = ep.ip_address.parse::<IpAddr>() else {
                    continue;
                };
                let ip6 = ep.global_ipv6_address.parse::<IpAddr>().ok();
                let own = r.name.trim_start_matches('/');
                let matches = own.eq_ignore_ascii_case(name)
                    || c.id[..12].eq_ignore_ascii_case(name)
                    || ep
                        .aliases
                        .iter()
                        .flatten()
                        .any(|a| a.eq_ignore_ascii_case(name));
                if matches {
                    found.push(ip);
                    found.extend(ip6);
                }
            }
        }
        (!found.is_empty()).then_some(found)
    }

    /// Serves 127.0.0.11 inside the container whose init is `pid`, if it is on a user
    /// network.
    pub(crate) fn start_resolver(self: &Arc<Self>, id: &str, pid: i32) -> crate::error::Result<()> {
        let (on_user_network, user) = {
            let c = self.get(id)?;
            let r = c.record();
            (
                r.networks
                    .keys()
                    .any(|n| !matches!(n.as_str(), "bridge" | "host" | "none")),
                super::resolv_options(&r.host_config),
            )
        };
        if !on_user_network {
            return Ok(());
        }
        let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        let socket = dns::bind_in(&netns).map_err(super::net_error)?;
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        // `--dns` servers when given, as Docker's resolver does; else the host's.
        let upstreams: Vec<SocketAddr> = berth_net::files::upstream_nameservers(&host, &user)
            .iter()
            .filter_map(|ns| ns.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        let names = Arc::new(ContainerNames {
            engine: Arc::downgrade(self),
            asker: id.to_string(),
        });
        let task = tokio::spawn(dns::serve(socket, names, upstreams));
        if let Some(old) = self
            .networks
            .resolvers()
            .insert(id.to_string(), task.abort_handle())
        {
            old.abort();
        }
        Ok(())
    }

    /// Closes the container's resolver socket.
    pub(crate) fn stop_resolver(&self, id: &str) {
        if let Some(h) = self.networks.resolvers().remove(id) {
            h.abort();
        }
    }
}
