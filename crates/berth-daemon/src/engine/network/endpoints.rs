//! A container's endpoints: which networks it is on, an address on each at start, its
//! veth pairs once its namespace exists, and everything given back at its exit.

use super::{net_error, Driver, Networks};
use crate::error::{DaemonError, Result};
use berth_api::container::HostConfig;
use berth_api::network::{EndpointSettings, NetworkingConfig};
use berth_net::ipam::{format_mac, mac_for};
use berth_net::link::{host_ifname, Attachment};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// The endpoints a new container is on, by network name, from its NetworkMode and the
/// request's EndpointsConfig.
impl Networks {
    pub fn endpoints_for_create(
        &self,
        hc: &HostConfig,
        networking: Option<&NetworkingConfig>,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        let mode = match hc.network_mode.as_str() {
            "" | "default" => "bridge",
            m => m,
        };
        if mode.starts_with("container:") {
            return Ok(BTreeMap::new());
        }
        let requested = networking
            .and_then(|n| n.endpoints_config.as_ref())
            .and_then(|e| e.get(mode))
            .cloned()
            .unwrap_or_default();
        let unsupported = [
            ("MacAddress", !requested.mac_address.is_empty()),
            (
                "DriverOpts",
                requested
                    .driver_opts
                    .as_ref()
                    .is_some_and(|d| !d.is_empty()),
            ),
            (
                "Links",
                requested.links.as_ref().is_some_and(|l| !l.is_empty()),
            ),
            (
                "IPAMConfig.IPv6Address",
                requested
                    .ipam_config
                    .as_ref()
                    .is_some_and(|c| !c.ipv6_address.is_empty()),
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
                "NetworkingConfig.EndpointsConfig.{mode}.{field} is not supported by berth yet"
            )));
        }
        if let Some((k, _)) = requested
            .other
            .iter()
            .find(|(_, v)| !crate::engine::host_config::is_unset(v))
        {
            return Err(DaemonError::InvalidParameter(format!(
                "NetworkingConfig.EndpointsConfig.{mode}.{k} is not supported by berth"
            )));
        }
        // As dockerd: a network that does not exist (yet) fails the start, not the create.
        let net = match self.find(mode) {
            Ok(n) => n,
            Err(DaemonError::NotFound(_)) => {
                return Ok(BTreeMap::from([(mode.to_string(), requested)]));
            }
            Err(e) => return Err(e),
        };
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
        if requested.aliases.as_ref().is_some_and(|a| !a.is_empty()) && net.predefined() {
            return Err(DaemonError::InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let mut settings = requested;
        settings.network_id = net.id.clone();
        Ok(BTreeMap::from([(net.name.clone(), settings)]))
    }

    /// Gives each bridge endpoint an address, a MAC and an endpoint ID, filled into
    /// `endpoints`. On failure, nothing stays allocated.
    pub fn allocate(&self, endpoints: &mut BTreeMap<String, EndpointSettings>) -> Result<()> {
        let mut done: Vec<(String, Ipv4Addr)> = vec![];
        let result = (|| -> Result<()> {
            for (name, ep) in endpoints.iter_mut() {
                let net = self.find(&ep.network_id).or_else(|_| self.find(name))?;
                if net.driver != Driver::Bridge {
                    continue;
                }
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
                ep.mac_address = format_mac(&mac_for(ip));
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
        }
    }

    /// The veth pairs into the namespace of the container's init (`pid`), one per bridge
    /// endpoint, in the order of `endpoints`.
    pub async fn attach(
        &self,
        container_id: &str,
        pid: i32,
        endpoints: &BTreeMap<String, EndpointSettings>,
    ) -> Result<()> {
        let netns = format!("/proc/{pid}/ns/net");
        for (n, (name, ep)) in endpoints.iter().enumerate() {
            let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else {
                continue;
            };
            let net = self.find(&ep.network_id).or_else(|_| self.find(name))?;
            let host = host_ifname(container_id, n);
            let a = Attachment {
                netns: Path::new(&netns),
                bridge: &net.bridge,
                host_ifname: &host,
                ifname: &format!("eth{n}"),
                address: ip,
                prefix_len: ep.ip_prefix_len as u8,
                gateway: ep.gateway.parse().ok(),
                mac: mac_for(ip),
                mtu: net.mtu,
            };
            self.netlink().await?.attach(&a).await.map_err(net_error)?;
        }
        Ok(())
    }

    /// Gives back a stopped container's addresses and removes what is left of its veth
    /// pairs (normally they went with its namespace); clears the addresses in `endpoints`.
    pub async fn release(
        &self,
        container_id: &str,
        endpoints: &mut BTreeMap<String, EndpointSettings>,
    ) {
        for (n, ep) in endpoints.values_mut().enumerate() {
            let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else {
                continue;
            };
            if let Some(pool) = self.lock().pools.get_mut(&ep.network_id) {
                pool.release(ip);
            }
            if let Ok(nl) = self.netlink().await {
                let _ = nl.delete(&host_ifname(container_id, n)).await;
            }
            ep.ip_address.clear();
            ep.ip_prefix_len = 0;
            ep.gateway.clear();
            ep.mac_address.clear();
            ep.endpoint_id.clear();
        }
    }
}
