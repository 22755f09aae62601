//! Networks: the predefined `bridge`, `host` and `none`, and user-defined bridge
//! networks, each with its address pool. Records live in `<data-root>/network/<id>.json`;
//! addresses in use are not stored separately but rebuilt from the records of running
//! containers when the daemon starts.

mod connect;
mod endpoints;
mod links;
mod names;
mod published;
mod query;
mod resolver;
mod store;

pub use names::{extra_host, link_env, parse_link, resolv_options};
pub use published::{requests as port_requests, PortMap};
pub use store::{Driver, NetworkRecord};

use crate::config::DaemonConfig;
use crate::error::{DaemonError, Result};
use berth_net::ipam::Pool;
use berth_net::link::Netlink;
use std::collections::HashMap;
use std::sync::Mutex;

/// Everything about networks the engine keeps.
pub struct Networks {
    dir: std::path::PathBuf,
    state: Mutex<State>,
    /// Made on first use, inside the daemon's runtime.
    netlink: tokio::sync::OnceCell<Netlink>,
    /// The daemon's bridge settings (`--bridge`, `--bip`, `--fixed-cidr`, `--mtu`).
    default_bridge: store::DefaultBridge,
    /// The embedded resolver of each running container on a user network.
    resolvers: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Each running container's published ports, held, and the address they go to.
    published: Mutex<HashMap<String, PublishedPorts>>,
    /// berth's nftables table (named after the default bridge).
    table: String,
    /// Held while the table is rewritten.
    rules_lock: Mutex<()>,
    /// `--ip-masq`: containers' traffic leaving the host takes the host's address.
    masquerade: bool,
}

/// A running container's published ports.
#[derive(Default)]
struct PublishedPorts {
    held: Vec<berth_net::ports::HeldPort>,
    /// The container's address, once it has one: where the rules and the proxy send.
    target: Option<std::net::Ipv4Addr>,
    /// Carries what containers send to these ports; stops when dropped.
    proxies: berth_net::proxy::Proxies,
}

#[derive(Default)]
struct State {
    by_id: HashMap<String, NetworkRecord>,
    pools: HashMap<String, Pool>,
    /// The IPv6 pools of networks with IPv6, by network ID.
    pools6: HashMap<String, berth_net::ipam::Pool6>,
}

impl Networks {
    pub fn open(cfg: &DaemonConfig) -> Result<Self> {
        let dir = cfg.data_root.join("network");
        crate::dirs::ensure(&dir, crate::dirs::PRIVATE_MODE)?;
        let default_bridge = store::DefaultBridge::from_config(cfg)?;
        let mut state = State::default();
        for rec in store::load_all(&dir)? {
            state.by_id.insert(rec.id.clone(), rec);
        }
        let networks = Self {
            dir,
            state: Mutex::new(state),
            netlink: tokio::sync::OnceCell::new(),
            default_bridge,
            resolvers: Mutex::new(HashMap::new()),
            published: Mutex::new(HashMap::new()),
            table: berth_net::ports::table_name(&cfg.bridge),
            rules_lock: Mutex::new(()),
            masquerade: cfg.ip_masq,
        };
        networks.ensure_predefined()?;
        Ok(networks)
    }

    fn resolvers(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::task::AbortHandle>> {
        self.resolvers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn published(&self) -> std::sync::MutexGuard<'_, HashMap<String, PublishedPorts>> {
        self.published.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn netlink(&self) -> Result<&Netlink> {
        self.netlink
            .get_or_try_init(|| async { Netlink::connect() })
            .await
            .map_err(net_error)
    }

    /// `bridge`, `host` and `none`, with IDs that stay the same across restarts; the
    /// bridge network follows the daemon's flags.
    fn ensure_predefined(&self) -> Result<()> {
        let mut st = self.lock();
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let existing = st.by_id.values().find(|n| n.name == name).cloned();
            let mut rec = existing.unwrap_or_else(|| NetworkRecord::new(name, driver));
            if driver == Driver::Bridge {
                self.default_bridge.apply(&mut rec);
            }
            store::save(&self.dir, &rec)?;
            st.by_id.insert(rec.id.clone(), rec);
        }
        let bridges: Vec<NetworkRecord> = st
            .by_id
            .values()
            .filter(|n| n.driver == Driver::Bridge)
            .cloned()
            .collect();
        for rec in bridges {
            let pool = rec.pool()?;
            st.pools.insert(rec.id.clone(), pool);
            if let Some(p6) = rec.pool6()? {
                st.pools6.insert(rec.id.clone(), p6);
            }
        }
        Ok(())
    }

    /// Makes every bridge network's bridge on the host (on daemon start), and with
    /// `--ip-forward` lets the host route containers' traffic, as dockerd does.
    pub async fn create_bridges(&self, ip_forward: bool) -> Result<()> {
        if ip_forward {
            let path = "/proc/sys/net/ipv4/ip_forward";
            if std::fs::read_to_string(path).is_ok_and(|v| v.trim() != "1") {
                std::fs::write(path, "1").map_err(|e| {
                    DaemonError::System(format!(
                        "enabling IP forwarding (--ip-forward=false to leave it): {e}"
                    ))
                })?;
            }
        }
        let bridges: Vec<NetworkRecord> = self
            .lock()
            .by_id
            .values()
            .filter(|n| n.driver == Driver::Bridge)
            .cloned()
            .collect();
        for rec in bridges {
            self.ensure_bridge(&rec).await?;
        }
        Ok(())
    }

    async fn ensure_bridge(&self, rec: &NetworkRecord) -> Result<()> {
        let (Some(subnet), Some(gateway)) = (rec.subnet, rec.gateway) else {
            return Ok(());
        };
        let nl = self.netlink().await?;
        nl.ensure_bridge(&rec.bridge, gateway, subnet.prefix_len(), rec.mtu)
            .await
            .map_err(net_error)?;
        if let (Some(subnet6), Some(gateway6)) = (rec.subnet6, rec.gateway6) {
            nl.add_bridge_address6(&rec.bridge, gateway6, subnet6.prefix_len())
                .await
                .map_err(net_error)?;
        }
        Ok(())
    }

    /// A network by full ID, name, or unique ID prefix (Docker's order).
    /// How much of each of network `id`'s subnets is used, by subnet.
    pub fn subnet_status(
        &self,
        id: &str,
    ) -> std::collections::BTreeMap<String, berth_net::ipam::SubnetStatus> {
        let st = self.lock();
        let v4 = st
            .pools
            .get(id)
            .map(|p| (p.subnet().to_string(), p.status()));
        let v6 = st
            .pools6
            .get(id)
            .map(|p| (p.subnet().to_string(), p.status()));
        v4.into_iter().chain(v6).collect()
    }

    pub fn find(&self, name_or_id: &str) -> Result<NetworkRecord> {
        let st = self.lock();
        let not_found = || DaemonError::NotFound(format!("network {name_or_id} not found"));
        if name_or_id.is_empty() {
            return Err(not_found());
        }
        if let Some(n) = st.by_id.get(name_or_id) {
            return Ok(n.clone());
        }
        if let Some(n) = st.by_id.values().find(|n| n.name == name_or_id) {
            return Ok(n.clone());
        }
        let prefixed: Vec<_> = st
            .by_id
            .values()
            .filter(|n| n.id.starts_with(name_or_id))
            .collect();
        match prefixed.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(not_found()),
            _ => Err(DaemonError::InvalidParameter(format!(
                "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                prefixed.len()
            ))),
        }
    }

    pub fn all(&self) -> Vec<NetworkRecord> {
        let mut v: Vec<_> = self.lock().by_id.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

pub(crate) fn net_error(e: berth_net::NetError) -> DaemonError {
    use berth_net::NetError as N;
    match e {
        N::Invalid(_) => DaemonError::InvalidParameter(e.to_string()),
        N::InUse => DaemonError::Conflict(e.to_string()),
        _ => DaemonError::System(e.to_string()),
    }
}
