//! `network connect` and `network disconnect`, for created and running containers.

use super::endpoints::check_supported;
use super::{Driver, Networks};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::network::EndpointSettings;
use std::collections::BTreeMap;
use std::sync::Arc;

fn shares_a_namespace(mode: &str) -> bool {
    matches!(mode, "host" | "none") || mode.starts_with("container:")
}

impl Engine {
    pub async fn network_connect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        requested: Option<EndpointSettings>,
    ) -> Result<()> {
        let net = self.networks.find(network)?;
        let c = self.get(container)?;
        let _op = c.op_lock.lock().await;
        if net.driver != Driver::Bridge {
            return Err(DaemonError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let (mode, name) = {
            let r = c.record();
            (r.host_config.network_mode.clone(), r.name.clone())
        };
        if shares_a_namespace(&mode) {
            return Err(DaemonError::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        if c.record().networks.contains_key(&net.name) {
            return Err(DaemonError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                name.trim_start_matches('/'),
                net.name
            )));
        }
        let requested = requested.unwrap_or_default();
        check_supported(&net.name, &requested)?;
        let ep = Networks::endpoint_on(&net, requested)?;
        if !ep.mac_address.is_empty() {
            c.record()
                .mac_requests
                .insert(net.name.clone(), ep.mac_address.clone());
        }
        let (running, pid) = {
            let r = c.record();
            (r.state.running, r.state.pid as i32)
        };
        if !running {
            c.record().networks.insert(net.name.clone(), ep);
            return c.save(&self.cfg.container_dir(&c.id));
        }
        let mut one = BTreeMap::from([(net.name.clone(), ep)]);
        if let Err(e) = self.networks.allocate(&mut one) {
            c.record().mac_requests.remove(&net.name);
            return Err(e);
        }
        let Some(mut ep) = one.remove(&net.name) else {
            return Err(DaemonError::System("endpoint lost".into()));
        };
        if let Err(e) = self.networks.attach_running(pid, &ep, &net).await {
            self.networks.release_one(&mut ep).await;
            c.record().mac_requests.remove(&net.name);
            return Err(e);
        }
        c.record().networks.insert(net.name.clone(), ep);
        // Names on the new network are answered from now on.
        self.start_resolver(&c.id, pid)?;
        self.network_event(
            "connect",
            &net.id,
            &net.name,
            net.driver.name(),
            &[("container", c.id.clone())],
        );
        c.save_state(&self.cfg.container_dir(&c.id))
    }

    pub async fn network_disconnect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let c = self.get(container)?;
        let _op = c.op_lock.lock().await;
        // With force, a network that is gone is still taken off the container.
        let key = match self.networks.find(network) {
            Ok(n) => n.name,
            Err(_) if force => network.to_string(),
            Err(e) => return Err(e),
        };
        if matches!(key.as_str(), "host" | "none") && c.record().networks.contains_key(&key) {
            return Err(DaemonError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        c.record().mac_requests.remove(&key);
        let Some(mut ep) = c.record().networks.remove(&key) else {
            return Err(DaemonError::Forbidden(format!(
                "container {} is not connected to network {network}",
                c.id
            )));
        };
        self.networks.release_one(&mut ep).await;
        let (running, pid, still_named) = {
            let r = c.record();
            (
                r.state.running,
                r.state.pid as i32,
                r.networks
                    .keys()
                    .any(|n| !matches!(n.as_str(), "bridge" | "host" | "none")),
            )
        };
        if running && !still_named {
            self.stop_resolver(&c.id);
        } else if running {
            self.start_resolver(&c.id, pid)?;
        }
        if running {
            if let Ok(n) = self.networks.find(&key) {
                let id = c.id.clone();
                self.network_event(
                    "disconnect",
                    &n.id,
                    &n.name,
                    n.driver.name(),
                    &[("container", id)],
                );
            }
        }
        c.save_state(&self.cfg.container_dir(&c.id))
    }
}
