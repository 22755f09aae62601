//! The network endpoints of the API: create, inspect, list, remove, prune.

use super::net_error;
use super::store::{self, Driver, NetworkRecord};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::network::{
    Ipam, IpamPool, Network, NetworkContainer, NetworkCreateRequest, NetworkCreateResponse,
};
use berth_net::ipam::parse_subnet;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Where `network create` without a subnet takes one from: Docker's default pools.
fn candidate_subnets() -> impl Iterator<Item = Ipv4Net> {
    let sixteens = (18..=31u8).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let twenties = (0..16u8).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    sixteens.chain(twenties).flatten()
}

/// The host's IPv4 routes (destination/prefix), which a new network must not overlap.
fn host_routes() -> Vec<Ipv4Net> {
    let Ok(table) = std::fs::read_to_string("/proc/net/route") else {
        return vec![];
    };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if dest == 0 {
                return None; // the default route overlaps everything
            }
            Ipv4Net::new(Ipv4Addr::from(dest.swap_bytes()), mask.count_ones() as u8).ok()
        })
        .collect()
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Driver options berth honours; anything else is refused by name.
const KNOWN_OPTIONS: &[&str] = &[
    "com.docker.network.bridge.name",
    "com.docker.network.driver.mtu",
];

impl Engine {
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let bad = |m: String| Err(DaemonError::InvalidParameter(m));
        if req.name.is_empty() {
            return bad("network name must not be empty".into());
        }
        if let Some((field, _)) = req.other.iter().next() {
            return bad(format!("{field} is not supported by berth's networks"));
        }
        match req.driver.as_str() {
            "" | "bridge" => {}
            other => {
                return Err(DaemonError::NotFound(format!(
                    "could not find plugin {other} in v1 plugin registry: plugin not found"
                )))
            }
        }
        if !matches!(req.scope.as_str(), "" | "local")
            || req.ingress
            || req.config_only
            || req.config_from.is_some()
        {
            return bad("swarm-scoped, ingress and config-only networks are not supported".into());
        }
        if req.enable_ipv4 == Some(false) {
            return bad("EnableIPv4: a network without IPv4 is not supported".into());
        }
        let options = req.options.clone().unwrap_or_default();
        if let Some(k) = options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return bad(format!("network option {k} is not supported"));
        }
        if self
            .networks
            .find(&req.name)
            .is_ok_and(|n| n.name == req.name)
        {
            return Err(DaemonError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        if !matches!(ipam.driver.as_str(), "" | "default") {
            return Err(DaemonError::NotFound(format!(
                "could not find plugin {} in v1 plugin registry: plugin not found",
                ipam.driver
            )));
        }
        if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return bad("IPAM.Options are not supported by berth's address pools".into());
        }
        // One IPv4 pool, and with EnableIPv6 one IPv6 pool.
        let (v6_pools, v4_pools): (Vec<IpamPool>, Vec<IpamPool>) = ipam
            .config
            .iter()
            .cloned()
            .partition(|p| p.subnet.contains(':') || p.gateway.contains(':'));
        if v4_pools.len() > 1 || v6_pools.len() > 1 {
            return bad("IPAM.Config: one IPv4 and one IPv6 pool per network are supported".into());
        }
        let ipv6 = req.enable_ipv6 == Some(true);
        if !v6_pools.is_empty() && !ipv6 {
            return bad("IPAM.Config: an IPv6 pool needs EnableIPv6 (--ipv6)".into());
        }
        if ipv6 && req.internal {
            return bad("Internal: an internal network with IPv6 is not supported by berth yet (its IPv6 traffic could not be kept on the bridge)".into());
        }
        let pool = v4_pools.first().cloned().unwrap_or_default();
        let pool6 = v6_pools.first().cloned().unwrap_or_default();
        if [&pool, &pool6].iter().any(|p| {
            p.auxiliary_addresses
                .as_ref()
                .is_some_and(|a| !a.is_empty())
        }) {
            return bad("IPAM.Config.AuxiliaryAddresses are not supported".into());
        }
        if !pool6.ip_range.is_empty() {
            return bad("IPAM.Config.IPRange of an IPv6 pool is not supported".into());
        }
        let taken: Vec<Ipv4Net> = self
            .networks
            .all()
            .iter()
            .filter_map(|n| n.subnet)
            .chain(host_routes())
            .collect();
        let subnet = if pool.subnet.is_empty() {
            candidate_subnets()
                .find(|c| !taken.iter().any(|t| overlaps(c, t)))
                .ok_or_else(|| {
                    DaemonError::System(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?
        } else {
            let s = parse_subnet(&pool.subnet).map_err(net_error)?;
            if let Some(t) = taken.iter().find(|t| overlaps(&s, t)) {
                return Err(DaemonError::Forbidden(format!(
                    "Pool overlaps with other one on this address space: {s} overlaps {t}"
                )));
            }
            s
        };
        let gateway = match pool.gateway.as_str() {
            "" => None,
            g => Some(g.parse::<Ipv4Addr>().map_err(|_| {
                DaemonError::InvalidParameter(format!("invalid gateway address {g}"))
            })?),
        };
        let range = match pool.ip_range.as_str() {
            "" => None,
            r => Some(parse_subnet(r).map_err(net_error)?),
        };
        let mut rec = NetworkRecord::new(&req.name, Driver::Bridge);
        if ipv6 {
            let taken6: Vec<ipnet::Ipv6Net> = self
                .networks
                .all()
                .iter()
                .filter_map(|n| n.subnet6)
                .collect();
            let subnet6 = if pool6.subnet.is_empty() {
                berth_net::ipam::ula_subnet(&rec.id)
            } else {
                berth_net::ipam::parse_subnet6(&pool6.subnet).map_err(net_error)?
            };
            if let Some(t) = taken6
                .iter()
                .find(|t| t.contains(&subnet6.network()) || subnet6.contains(&t.network()))
            {
                return Err(DaemonError::Forbidden(format!(
                    "Pool overlaps with other one on this address space: {subnet6} overlaps {t}"
                )));
            }
            rec.subnet6 = Some(subnet6);
            rec.gateway6 = match pool6.gateway.as_str() {
                "" => None,
                g => Some(g.parse().map_err(|_| {
                    DaemonError::InvalidParameter(format!("invalid gateway address {g}"))
                })?),
            };
        }
        rec.subnet = Some(subnet);
        rec.gateway = gateway;
        rec.ip_range = range;
        rec.internal = req.internal;
        rec.attachable = req.attachable;
        rec.labels = req.labels.clone().unwrap_or_default();
        rec.bridge = options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &rec.id[..12]));
        if rec.bridge.is_empty() || rec.bridge.len() > 15 {
            return bad(format!("invalid bridge name {:?}", rec.bridge));
        }
        if let Some(mtu) = options.get("com.docker.network.driver.mtu") {
            rec.mtu = mtu
                .parse()
                .ok()
                .filter(|m| (68..=65535).contains(m))
                .ok_or_else(|| DaemonError::InvalidParameter(format!("invalid MTU {mtu}")))?;
        }
        rec.options = options;
        // Checks gateway and range against the subnet before anything is made.
        let pool = rec.pool()?;
        rec.gateway = Some(pool.gateway());
        let pool6 = rec.pool6()?;
        rec.gateway6 = pool6.as_ref().map(|p| p.gateway());
        self.networks.ensure_bridge(&rec).await?;
        // The network's rules (masquerading, or an internal network's drop) come with it.
        let added = self
            .networks
            .add(rec.clone(), pool, pool6)
            .and_then(|()| self.networks.sync_rules());
        if let Err(e) = added {
            self.networks.forget(&rec.id);
            if let Ok(nl) = self.networks.netlink().await {
                let _ = nl.delete(&rec.bridge).await;
            }
            return Err(e);
        }
        self.network_event("create", &rec.id, &rec.name, rec.driver.name(), &[]);
        Ok(NetworkCreateResponse {
            id: rec.id,
            warning: String::new(),
        })
    }

    /// Docker's view of a network, with the running containers on it.
    pub fn network_inspect(&self, name_or_id: &str) -> Result<Network> {
        let rec = self.networks.find(name_or_id)?;
        Ok(self.network_view(&rec))
    }

    fn network_view(&self, rec: &NetworkRecord) -> Network {
        let mut containers = BTreeMap::new();
        for c in self.all() {
            let r = c.record();
            if !r.state.running {
                continue;
            }
            if let Some(ep) = r.networks.values().find(|e| e.network_id == rec.id) {
                containers.insert(
                    c.id.clone(),
                    NetworkContainer {
                        name: r.name.trim_start_matches('/').to_string(),
                        endpoint_id: ep.endpoint_id.clone(),
                        mac_address: ep.mac_address.clone(),
                        ipv4_address: if ep.ip_address.is_empty() {
                            String::new()
                        } else {
                            format!("{}/{}", ep.ip_address, ep.ip_prefix_len)
                        },
                        ipv6_address: if ep.global_ipv6_address.is_empty() {
                            String::new()
                        } else {
                            format!("{}/{}", ep.global_ipv6_address, ep.global_ipv6_prefix_len)
                        },
                    },
                );
            }
        }
        let mut config = match (rec.subnet, rec.gateway) {
            (Some(s), g) => vec![IpamPool {
                subnet: s.to_string(),
                ip_range: rec.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: g.map(|g| g.to_string()).unwrap_or_default(),
                auxiliary_addresses: None,
            }],
            _ => vec![],
        };
        if let Some(s) = rec.subnet6 {
            config.push(IpamPool {
                subnet: s.to_string(),
                gateway: rec.gateway6.map(|g| g.to_string()).unwrap_or_default(),
                ..Default::default()
            });
        }
        Network {
            name: rec.name.clone(),
            id: rec.id.clone(),
            created: rec.created.clone(),
            scope: "local".into(),
            driver: rec.driver.name().into(),
            enable_ipv4: rec.driver == Driver::Bridge,
            enable_ipv6: rec.subnet6.is_some(),
            ipam: Ipam {
                driver: "default".into(),
                config,
                options: None,
            },
            internal: rec.internal,
            attachable: rec.attachable,
            ingress: false,
            config_from: BTreeMap::from([("Network".into(), String::new())]),
            config_only: false,
            containers,
            options: rec.options.clone(),
            labels: rec.labels.clone(),
            status: Some(serde_json::json!({
                "IPAM": {"Subnets": self.networks.subnet_status(&rec.id)}
            })),
        }
    }

    /// `GET /networks` with Docker's filters (name and id match substrings and prefixes,
    /// driver, label, type custom|builtin).
    pub fn network_list(
        &self,
        filters: &std::collections::HashMap<String, Vec<String>>,
    ) -> Result<Vec<Network>> {
        for key in filters.keys() {
            if !matches!(
                key.as_str(),
                "name" | "id" | "driver" | "label" | "type" | "scope" | "dangling"
            ) {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid filter '{key}'"
                )));
            }
        }
        let any = |key: &str, f: &dyn Fn(&str) -> bool| {
            filters
                .get(key)
                .is_none_or(|vals| vals.iter().any(|v| f(v)))
        };
        let mut out = vec![];
        for rec in self.networks.all() {
            let view = self.network_view(&rec);
            let keep = any("name", &|v| rec.name.contains(v))
                && any("id", &|v| rec.id.starts_with(v))
                && any("driver", &|v| rec.driver.name() == v)
                && any("scope", &|v| v == "local")
                && any("type", &|v| match v {
                    "builtin" => rec.predefined(),
                    "custom" => !rec.predefined(),
                    _ => false,
                })
                && any("dangling", &|v| {
                    let dangling = !rec.predefined() && view.containers.is_empty();
                    matches!((v, dangling), ("true" | "1", true) | ("false" | "0", false))
                })
                && filters.get("label").is_none_or(|labels| {
                    labels.iter().all(|l| match l.split_once('=') {
                        Some((k, v)) => rec.labels.get(k).is_some_and(|x| x == v),
                        None => rec.labels.contains_key(l),
                    })
                });
            if keep {
                out.push(view);
            }
        }
        Ok(out)
    }

    pub async fn network_remove(&self, name_or_id: &str) -> Result<()> {
        let rec = self.networks.find(name_or_id)?;
        if rec.predefined() {
            return Err(DaemonError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let view = self.network_view(&rec);
        if !view.containers.is_empty() {
            return Err(DaemonError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                rec.name, rec.id
            )));
        }
        self.networks.forget(&rec.id);
        if let Err(e) = self.networks.sync_rules() {
            eprintln!("berthd: the rules of network {}: {e}", rec.name);
        }
        if let Ok(nl) = self.networks.netlink().await {
            nl.delete(&rec.bridge).await.map_err(net_error)?;
        }
        self.network_event("destroy", &rec.id, &rec.name, rec.driver.name(), &[]);
        Ok(())
    }

    /// Removes every user network no running container is on; returns their names.
    pub async fn network_prune(
        self: &Arc<Self>,
        filter: &crate::engine::prune_filter::PruneFilter,
    ) -> Result<Vec<String>> {
        let mut removed = vec![];
        for rec in self.networks.all() {
            if rec.predefined() || !filter.matches(Some(&rec.created), &rec.labels) {
                continue;
            }
            if self.network_remove(&rec.id).await.is_ok() {
                removed.push(rec.name);
            }
        }
        Ok(removed)
    }
}

impl super::Networks {
    fn add(
        &self,
        rec: NetworkRecord,
        pool: berth_net::ipam::Pool,
        pool6: Option<berth_net::ipam::Pool6>,
    ) -> Result<()> {
        store::save(&self.dir, &rec)?;
        let mut st = self.lock();
        st.pools.insert(rec.id.clone(), pool);
        if let Some(p6) = pool6 {
            st.pools6.insert(rec.id.clone(), p6);
        }
        st.by_id.insert(rec.id.clone(), rec);
        Ok(())
    }

    fn forget(&self, id: &str) {
        store::remove(&self.dir, id);
        let mut st = self.lock();
        st.by_id.remove(id);
        st.pools.remove(id);
        st.pools6.remove(id);
    }
}
