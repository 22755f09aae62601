//! Network records and where they are kept.

use crate::config::DaemonConfig;
use crate::error::{DaemonError, Result};
use berth_net::ipam::{parse_subnet, Pool, Pool6};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    Null,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One network as berth keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: Driver,
    pub created: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The host's bridge device.
    #[serde(default)]
    pub bridge: String,
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    /// `--ipv6`: the IPv6 subnet and gateway beside the IPv4 ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Ipv6Net>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
}

fn default_mtu() -> u32 {
    1500
}

impl NetworkRecord {
    pub fn new(name: &str, driver: Driver) -> Self {
        Self {
            id: crate::engine::names::new_id(),
            name: name.to_string(),
            driver,
            created: crate::engine::time::now(),
            subnet: None,
            gateway: None,
            ip_range: None,
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            bridge: String::new(),
            mtu: default_mtu(),
            subnet6: None,
            gateway6: None,
        }
    }

    /// Whether this is one of `bridge`, `host`, `none`.
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    pub fn pool(&self) -> Result<Pool> {
        let subnet = self
            .subnet
            .ok_or_else(|| DaemonError::System(format!("network {} has no subnet", self.name)))?;
        Pool::new(subnet, self.gateway, self.ip_range).map_err(super::net_error)
    }

    /// The IPv6 pool of a network with IPv6.
    pub fn pool6(&self) -> Result<Option<Pool6>> {
        self.subnet6
            .map(|s| Pool6::new(s, self.gateway6).map_err(super::net_error))
            .transpose()
    }
}

/// The default bridge as the daemon's flags describe it.
#[derive(Debug, Clone)]
pub struct DefaultBridge {
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub range: Option<Ipv4Net>,
    pub mtu: u32,
}

impl DefaultBridge {
    /// `--bip 172.17.0.1/16`: the bridge's own address, and with it the subnet.
    pub fn from_config(cfg: &DaemonConfig) -> Result<Self> {
        let bad = |what: &str| {
            DaemonError::InvalidParameter(format!("invalid --bip {}: {what}", cfg.bip))
        };
        let bip: Ipv4Net = cfg.bip.parse().map_err(|_| bad("want an address/prefix"))?;
        let subnet = bip.trunc();
        if bip.addr() == subnet.network() || bip.addr() == subnet.broadcast() {
            return Err(bad("the bridge needs a host address"));
        }
        let range = match &cfg.fixed_cidr {
            Some(r) => {
                let r = parse_subnet(r).map_err(super::net_error)?;
                if !subnet.contains(&r) {
                    return Err(DaemonError::InvalidParameter(format!(
                        "--fixed-cidr {r} is not inside --bip's subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        Ok(Self {
            name: cfg.bridge.clone(),
            subnet,
            gateway: bip.addr(),
            range,
            mtu: cfg.mtu,
        })
    }

    pub fn apply(&self, rec: &mut NetworkRecord) {
        rec.subnet = Some(self.subnet);
        rec.gateway = Some(self.gateway);
        rec.ip_range = self.range;
        rec.bridge = self.name.clone();
        rec.mtu = self.mtu;
        rec.options = BTreeMap::from([
            (
                "com.docker.network.bridge.default_bridge".into(),
                "true".into(),
            ),
            ("com.docker.network.bridge.enable_icc".into(), "true".into()),
            (
                "com.docker.network.bridge.enable_ip_masquerade".into(),
                "true".into(),
            ),
            (
                "com.docker.network.bridge.host_binding_ipv4".into(),
                "0.0.0.0".into(),
            ),
            ("com.docker.network.bridge.name".into(), self.name.clone()),
            ("com.docker.network.driver.mtu".into(), self.mtu.to_string()),
        ]);
    }
}

pub fn load_all(dir: &Path) -> Result<Vec<NetworkRecord>> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir)?.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        match std::fs::read(&path)
            .map_err(DaemonError::from)
            .and_then(|d| Ok(serde_json::from_slice::<NetworkRecord>(&d)?))
        {
            Ok(rec) => out.push(rec),
            Err(e) => eprintln!("berthd: skipping network {}: {e}", path.display()),
        }
    }
    Ok(out)
}

pub fn save(dir: &Path, rec: &NetworkRecord) -> Result<()> {
    let data = serde_json::to_vec_pretty(rec)?;
    berth_image::atomic::write_file(&dir.join(format!("{}.json", rec.id)), &data)?;
    Ok(())
}

pub fn remove(dir: &Path, id: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{id}.json")));
}
