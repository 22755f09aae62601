//! A container's endpoints: which networks it is on, an address on each at start, its
//! veth pairs once its namespace exists, and everything given back at its exit.

use super::{net_error, Driver, Networks};
use crate::error::{DaemonError, Result};
use berth_api::container::HostConfig;
use berth_api::network::{EndpointSettings, NetworkingConfig};
use berth_net::ipam::{format_mac, mac_for};
use berth_net::link::Attachment;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The endpoints a new container is on, by network name, from its NetworkMode and the
/// request's EndpointsConfig.
impl Networks {
    pub fn endpoints_for_create(
        &self,
        hc: &HostConfig,
        networking: Option<&NetworkingConfig>,
        config_mac: Option<&str>,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        let mode = match hc.network_mode.as_str() {
            "" | "default" => "bridge",
            m => m,
        };
        let endpoints = networking.and_then(|n| n.endpoints_config.as_ref());
        if mode.starts_with("container:") {
            // The network is the donor's: nothing about it can be asked for here.
            for (name, ep) in endpoints.into_iter().flatten() {
                if !ep.mac_address.is_empty() {
                    return Err(DaemonError::InvalidParameter(
                        "conflicting options: mac-address and the network mode".into(),
                    ));
                }
                if serde_json::to_value(ep)
                    .is_ok_and(|v| !crate::engine::host_config::is_unset_deep(&v))
                {
                    return Err(DaemonError::InvalidParameter(format!(
                        "NetworkingConfig.EndpointsConfig.{name}: a container on another container's network namespace has no endpoint of its own"
                    )));
                }
            }
            return Ok(BTreeMap::new());
        }
        // Only the NetworkMode's network is joined at create: another one asked for here
        // would be dropped, so it is refused (`network connect` adds it).
        let given = hc.network_mode.as_str();
        if let Some(other) =
            endpoints.and_then(|e| e.keys().find(|k| k.as_str() != mode && k.as_str() != given))
        {
            return Err(DaemonError::InvalidParameter(format!(
                "NetworkingConfig.EndpointsConfig.{other}: a container is created on its NetworkMode's network ({mode}) only; connect it to {other} with network connect"
            )));
        }
        let mut requested = endpoints
            .and_then(|e| e.get(mode).or_else(|| e.get(given)))
            .cloned()
            .unwrap_or_default();
        // The deprecated Config.MacAddress is the NetworkMode's endpoint's, as in dockerd.
        if let Some(mac) = config_mac.filter(|m| !m.is_empty()) {
            if !requested.mac_address.is_empty() && requested.mac_address != mac {
                return Err(DaemonError::InvalidParameter(format!(
                    "Config.MacAddress ({mac}) and NetworkingConfig.EndpointsConfig.{mode}.MacAddress ({}) differ",
                    requested.mac_address
                )));
            }
            requested.mac_address = mac.to_string();
        }
        if matches!(mode, "host" | "none") && !requested.mac_address.is_empty() {
            return Err(DaemonError::InvalidParameter(format!(
                "conflicting options: mac-address and the network mode ({mode})"
            )));
        }
        check_supported(mode, &requested)?;
        // As dockerd: a network that does not exist (yet) fails the start, not the create.
        let net = match self.find(mode) {
            Ok(n) => n,
            Err(DaemonError::NotFound(_)) => {
                return Ok(BTreeMap::from([(mode.to_string(), requested)]));
            }
            Err(e) => return Err(e),
        };
        let settings = Self::endpoint_on(&net, requested)?;
        Ok(BTreeMap::from([(net.name.clone(), settings)]))
    }

    /// An endpoint asked for on `net`, checked as Docker checks it.
    pub fn endpoint_on(
        net: &super::NetworkRecord,
        requested: EndpointSettings,
    ) -> Result<EndpointSettings> {
        if let Some(ip) = requested
            .ipam_config
            .as_ref()
            .map(|c| c.ipv4_address.as_str())
            .filter(|s| !s.is_empty())
        {
            let ip: Ipv4Addr = ip.parse().map_err(|_| {
                DaemonError::InvalidParameter(format!("invalid IPv4 address: {ip}"))
            })?;
            if net.name == "bridge" {
                return Err(DaemonError::InvalidParameter(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if !net.subnet.is_some_and(|s| s.contains(&ip)) {
                return Err(DaemonError::InvalidParameter(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
        if let Some(ip6) = requested
            .ipam_config
            .as_ref()
            .map(|c| c.ipv6_address.as_str())
            .filter(|s| !s.is_empty())
        {
            let ip6: Ipv6Addr = ip6.parse().map_err(|_| {
                DaemonError::InvalidParameter(format!("invalid IPv6 address: {ip6}"))
            })?;
            match net.subnet6 {
                None => {
                    return Err(DaemonError::InvalidParameter(format!(
                        "IPv6 address {ip6} requested on network {}, which has no IPv6 (create it with --ipv6)",
                        net.name
                    )))
                }
                Some(s) if !s.contains(&ip6) => {
                    return Err(DaemonError::InvalidParameter(format!(
                        "no configured subnet or ip-range contain the IP address {ip6}"
                    )))
                }
                Some(_) => {}
            }
        }
        if requested.aliases.as_ref().is_some_and(|a| !a.is_empty()) && net.predefined() {
            return Err(DaemonError::InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let mut settings = requested;
        settings.network_id = net.id.clone();
        Ok(settings)
    }

    /// Gives each bridge endpoint an address, a MAC and an endpoint ID, filled into
    /// `endpoints`. On failure, nothing stays allocated.
    pub fn allocate(&self, endpoints: &mut BTreeMap<String, EndpointSettings>) -> Result<()> {
        let mut done: Vec<(String, Ipv4Addr)> = vec![];
        let mut done6: Vec<(String, Ipv6Addr)> = vec![];
        let result = (|| -> Result<()> {
            for (name, ep) in endpoints.iter_mut() {
                let net = self.find(&ep.network_id).or_else(|_| self.find(name))?;
                if net.driver != Driver::Bridge {
                    continue;
                }
                // Checked again here: the network may have been made after the create.
                *ep = Self::endpoint_on(&net, std::mem::take(ep))?;
                let requested = ep
                    .ipam_config
                    .as_ref()
                    .and_then(|c| c.ipv4_address.parse().ok());
                let ip = {
                    let mut st = self.lock();
                    let pool = st.pools.get_mut(&net.id).ok_or_else(|| {
                        DaemonError::System(format!("network {} has no address pool", net.name))
                    })?;
                    pool.allocate(requested).map_err(net_error)?
                };
                done.push((net.id.clone(), ip));
                let subnet = net.subnet.unwrap_or_default();
                ep.network_id = net.id.clone();
                ep.endpoint_id = crate::engine::names::new_id();
                ep.ip_address = ip.to_string();
                ep.ip_prefix_len = subnet.prefix_len().into();
                ep.gateway = if net.internal {
                    String::new()
                } else {
                    net.gateway.map(|g| g.to_string()).unwrap_or_default()
                };
                if ep.mac_address.is_empty() {
                    ep.mac_address = format_mac(&mac_for(ip));
                }
                if let Some(subnet6) = net.subnet6 {
                    let requested6 = ep
                        .ipam_config
                        .as_ref()
                        .and_then(|c| c.ipv6_address.parse().ok());
                    let ip6 = {
                        let mut st = self.lock();
                        let pool = st.pools6.get_mut(&net.id).ok_or_else(|| {
                            DaemonError::System(format!("network {} has no IPv6 pool", net.name))
                        })?;
                        pool.allocate(requested6).map_err(net_error)?
                    };
                    done6.push((net.id.clone(), ip6));
                    ep.global_ipv6_address = ip6.to_string();
                    ep.global_ipv6_prefix_len = subnet6.prefix_len().into();
                    ep.ipv6_gateway = net.gateway6.map(|g| g.to_string()).unwrap_or_default();
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let mut st = self.lock();
            for (id, ip) in done {
                if let Some(p) = st.pools.get_mut(&id) {
                    p.release(ip);
                }
            }
            for (id, ip) in done6 {
                if let Some(p) = st.pools6.get_mut(&id) {
                    p.release(ip);
                }
            }
        }
        result
    }

    /// Marks the addresses of a container that was running before a daemon restart.
    pub fn reserve(&self, endpoints: &BTreeMap<String, EndpointSettings>) {
        let mut st = self.lock();
        for ep in endpoints.values() {
            if let (Some(pool), Ok(ip)) = (
                st.pools.get_mut(&ep.network_id),
                ep.ip_address.parse::<Ipv4Addr>(),
            ) {
                let _ = pool.reserve(ip);
            }
            if let (Some(pool), Ok(ip)) = (
                st.pools6.get_mut(&ep.network_id),
                ep.global_ipv6_address.parse::<Ipv6Addr>(),
            ) {
                let _ = pool.reserve(ip);
            }
        }
    }

    /// The veth pairs into the namespace of the container's init (`pid`), one per bridge
    /// endpoint, in the order of `endpoints`; the default route goes through `gateway_of`'s
    /// choice.
    pub async fn attach(
        &self,
        pid: i32,
        endpoints: &BTreeMap<String, EndpointSettings>,
    ) -> Result<()> {
        let netns = format!("/proc/{pid}/ns/net");
        let routed = gateway_of(endpoints);
        for (n, (name, ep)) in endpoints.iter().enumerate() {
            if ep.ip_address.is_empty() {
                continue;
            }
            let net = self.find(&ep.network_id).or_else(|_| self.find(name))?;
            let route = routed == Some(name.as_str());
            self.attach_one(Path::new(&netns), ep, &net, &format!("eth{n}"), route)
                .await?;
        }
        Ok(())
    }

    /// One more network for a running container: the next free `ethN`, no default route.
    pub async fn attach_running(
        &self,
        pid: i32,
        ep: &EndpointSettings,
        net: &super::NetworkRecord,
    ) -> Result<()> {
        let netns = format!("/proc/{pid}/ns/net");
        let taken: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root/sys/class/net"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let ifname = (0..64)
            .map(|n| format!("eth{n}"))
            .find(|n| !taken.contains(n))
            .unwrap_or_else(|| "eth64".into());
        self.attach_one(Path::new(&netns), ep, net, &ifname, false)
            .await
    }

    async fn attach_one(
        &self,
        netns: &Path,
        ep: &EndpointSettings,
        net: &super::NetworkRecord,
        ifname: &str,
        default_route: bool,
    ) -> Result<()> {
        let ip: Ipv4Addr = ep
            .ip_address
            .parse()
            .map_err(|_| DaemonError::System(format!("bad address {}", ep.ip_address)))?;
        let host = veth_name(ep);
        let a = Attachment {
            netns,
            bridge: &net.bridge,
            host_ifname: &host,
            ifname,
            address: ip,
            prefix_len: ep.ip_prefix_len as u8,
            gateway: if default_route {
                ep.gateway.parse().ok()
            } else {
                None
            },
            address6: ep
                .global_ipv6_address
                .parse()
                .ok()
                .map(|a| (a, ep.global_ipv6_prefix_len as u8)),
            gateway6: if default_route {
                ep.ipv6_gateway.parse().ok()
            } else {
                None
            },
            mac: if ep.mac_address.is_empty() {
                mac_for(ip)
            } else {
                parse_mac(&ep.mac_address)?
            },
            mtu: net.mtu,
        };
        self.netlink().await?.attach(&a).await.map_err(net_error)?;
        // Per-interface sysctls, once the interface has its name in the namespace.
        if let Some(list) = ep
            .driver_opts
            .as_ref()
            .and_then(|d| d.get(berth_net::sysctl::ENDPOINT_SYSCTLS))
        {
            let sysctls = berth_net::sysctl::parse(list).map_err(net_error)?;
            let (netns, ifname) = (netns.to_path_buf(), ifname.to_string());
            tokio::task::spawn_blocking(move || {
                berth_net::sysctl::apply_in(&netns, &ifname, &sysctls)
            })
            .await
            .map_err(DaemonError::system)?
            .map_err(net_error)?;
        }
        Ok(())
    }

    /// Gives back a stopped container's addresses; clears them in `endpoints`. Its veth
    /// pairs go with its namespace, which the kernel tears down on its own: deleting them
    /// here would wait for an RCU grace period (~20 ms) on the path of every `run --rm`.
    /// What a namespace kept alive leaves behind is removed in the background.
    /// A MAC address the user asked for (`requested_macs`, by network) stays.
    pub async fn release(
        &self,
        endpoints: &mut BTreeMap<String, EndpointSettings>,
        requested_macs: &BTreeMap<String, String>,
    ) {
        for (name, ep) in endpoints.iter_mut() {
            let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else {
                continue;
            };
            self.release_addresses(ep, ip);
            if let Ok(nl) = self.netlink().await {
                let nl = nl.clone();
                let veth = veth_name(ep);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let _ = nl.delete(&veth).await;
                });
            }
            clear(ep);
            if let Some(mac) = requested_macs.get(name) {
                ep.mac_address = mac.clone();
            }
        }
    }

    /// An endpoint's addresses, back to their pools.
    fn release_addresses(&self, ep: &EndpointSettings, ip: Ipv4Addr) {
        let mut st = self.lock();
        if let Some(pool) = st.pools.get_mut(&ep.network_id) {
            pool.release(ip);
        }
        if let (Some(pool), Ok(ip6)) = (
            st.pools6.get_mut(&ep.network_id),
            ep.global_ipv6_address.parse::<Ipv6Addr>(),
        ) {
            pool.release(ip6);
        }
    }

    /// One endpoint's address and veth.
    pub async fn release_one(&self, ep: &mut EndpointSettings) {
        let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else {
            return;
        };
        self.release_addresses(ep, ip);
        if let Ok(nl) = self.netlink().await {
            let _ = nl.delete(&veth_name(ep)).await;
        }
        clear(ep);
    }
}

/// A MAC address as the user wrote it (`92:d0:c6:0a:29:33`): six hex bytes, unicast.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || DaemonError::InvalidParameter(format!("invalid MAC address: {s}"));
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| {
            (b.len() == 2)
                .then(|| u8::from_str_radix(b, 16).ok())
                .flatten()
                .ok_or_else(bad)
        })
        .collect::<Result<_>>()?;
    let mac: [u8; 6] = bytes.try_into().map_err(|_| bad())?;
    if mac[0] & 1 == 1 {
        return Err(DaemonError::InvalidParameter(format!(
            "invalid MAC address: {s} is a multicast address"
        )));
    }
    Ok(mac)
}

/// A stopped endpoint keeps its network and settings, not its address.
fn clear(ep: &mut EndpointSettings) {
    ep.ip_address.clear();
    ep.ip_prefix_len = 0;
    ep.gateway.clear();
    ep.mac_address.clear();
    ep.endpoint_id.clear();
    ep.global_ipv6_address.clear();
    ep.global_ipv6_prefix_len = 0;
    ep.ipv6_gateway.clear();
}

/// The host end of an endpoint's veth: named after the endpoint, so it stays the same
/// whichever other networks the container joins or leaves.
fn veth_name(ep: &EndpointSettings) -> String {
    let short: String = ep.endpoint_id.chars().take(8).collect();
    format!("veth{short}")
}

/// Endpoint settings berth does not implement, refused by name.
pub(super) fn check_supported(network: &str, requested: &EndpointSettings) -> Result<()> {
    if !requested.mac_address.is_empty() {
        parse_mac(&requested.mac_address)?;
    }
    // Of the driver options, the per-interface sysctls (API 1.46) are taken.
    for (k, v) in requested.driver_opts.iter().flatten() {
        if k != berth_net::sysctl::ENDPOINT_SYSCTLS {
            return Err(DaemonError::InvalidParameter(format!(
                "NetworkingConfig.EndpointsConfig.{network}.DriverOpts.{k} is not supported by berth (only {})",
                berth_net::sysctl::ENDPOINT_SYSCTLS
            )));
        }
        berth_net::sysctl::parse(v).map_err(|e| DaemonError::InvalidParameter(e.to_string()))?;
    }
    let unsupported = [
        (
            "Links",
            requested.links.as_ref().is_some_and(|l| !l.is_empty()),
        ),
        (
            "IPAMConfig.LinkLocalIPs",
            requested
                .ipam_config
                .as_ref()
                .is_some_and(|c| c.link_local_ips.as_ref().is_some_and(|l| !l.is_empty())),
        ),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(DaemonError::InvalidParameter(format!(
            "NetworkingConfig.EndpointsConfig.{network}.{field} is not supported by berth yet"
        )));
    }
    if let Some((k, _)) = requested
        .other
        .iter()
        .find(|(_, v)| !crate::engine::host_config::is_unset(v))
    {
        return Err(DaemonError::InvalidParameter(format!(
            "NetworkingConfig.EndpointsConfig.{network}.{k} is not supported by berth"
        )));
    }
    Ok(())
}

/// The network whose gateway is the container's default route, as dockerd picks it (API
/// 1.48): the endpoint with the highest `GwPriority`, ties going to the network name
/// that sorts first; only endpoints with an address and a gateway take part.
pub fn gateway_of(endpoints: &BTreeMap<String, EndpointSettings>) -> Option<&str> {
    endpoints
        .iter()
        .filter(|(_, ep)| !ep.ip_address.is_empty() && !ep.gateway.is_empty())
        .max_by(|(a_name, a), (b_name, b)| {
            a.gw_priority
                .cmp(&b.gw_priority)
                .then_with(|| b_name.cmp(a_name))
        })
        .map(|(name, _)| name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(priority: i64) -> EndpointSettings {
        EndpointSettings {
            ip_address: "10.0.0.2".into(),
            gateway: "10.0.0.1".into(),
            gw_priority: priority,
            ..Default::default()
        }
    }

    #[test]
    fn the_highest_gw_priority_routes_then_the_first_name() {
        let mut eps = BTreeMap::from([("b".to_string(), ep(0)), ("a".to_string(), ep(0))]);
        assert_eq!(gateway_of(&eps), Some("a"));
        eps.insert("z".into(), ep(10));
        assert_eq!(gateway_of(&eps), Some("z"));
        eps.insert("y".into(), ep(10));
        assert_eq!(gateway_of(&eps), Some("y"));
        // Without a gateway (an internal network) an endpoint never routes.
        let internal = EndpointSettings {
            gateway: String::new(),
            ..ep(100)
        };
        eps.insert("i".into(), internal);
        assert_eq!(gateway_of(&eps), Some("y"));
    }
}
