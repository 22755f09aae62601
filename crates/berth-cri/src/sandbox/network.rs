//! A pod's network through CNI: `lo` up with the loopback plugin, then the conf dir's
//! network as `eth0`; torn down in reverse with the result of the set-up.

use crate::config::CriConfig;
use crate::error::{CriError, Result};
use berth_net::cni::{self, Invocation, Network};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

const POD_IFNAME: &str = "eth0";

/// What the CNI ADD made, kept for the DEL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// The network's config file, read again for the DEL.
    pub conf_file: PathBuf,
    pub name: String,
    pub result: Value,
    /// The pod's addresses, first the one the kubelet reports.
    pub addresses: Vec<String>,
    /// The CNI_ARGS and capabilities it was set up with (DEL gets the same).
    pub args: Vec<(String, String)>,
    pub capabilities: Map<String, Value>,
}

/// The CNI network pods get, if the conf dir has one.
pub fn default_network(cfg: &CriConfig) -> Result<Option<Network>> {
    Ok(Network::load_default(&cfg.cni_conf_dir)?)
}

fn loopback() -> Network {
    Network::single("cni-loopback", "loopback")
}

pub async fn set_up(
    cfg: &CriConfig,
    sandbox_id: &str,
    netns: &Path,
    args: Vec<(String, String)>,
    capabilities: Map<String, Value>,
) -> Result<Attachment> {
    let network = default_network(cfg)?.ok_or_else(|| {
        CriError::FailedPrecondition(format!(
            "no CNI network is configured in {}: the pod's network cannot be set up",
            cfg.cni_conf_dir.display()
        ))
    })?;
    let inv = |ifname| Invocation {
        bin_dirs: &cfg.cni_bin_dirs,
        container_id: sandbox_id,
        netns,
        ifname,
        args: &args,
        capabilities: &capabilities,
    };
    let lo = loopback();
    lo.add(&inv("lo")).await?;
    let result = match network.add(&inv(POD_IFNAME)).await {
        Ok(r) => r,
        Err(e) => {
            // What the failed ADD left is undone before the error is answered.
            let _ = network.del(&inv(POD_IFNAME), None).await;
            let _ = lo.del(&inv("lo"), None).await;
            return Err(e.into());
        }
    };
    Ok(Attachment {
        conf_file: network.source.clone(),
        name: network.name.clone(),
        addresses: cni::result_addresses(&result),
        result,
        args,
        capabilities,
    })
}

pub async fn tear_down(
    cfg: &CriConfig,
    sandbox_id: &str,
    netns: &Path,
    a: &Attachment,
) -> Result<()> {
    // The network as it was set up; if its file is gone, the conf dir's network now.
    let network = match Network::load(&a.conf_file) {
        Ok(n) => n,
        Err(_) => default_network(cfg)?.ok_or_else(|| {
            CriError::FailedPrecondition(format!(
                "the CNI network {} of pod {sandbox_id} is gone: its file {} was removed",
                a.name,
                a.conf_file.display()
            ))
        })?,
    };
    let inv = |ifname| Invocation {
        bin_dirs: &cfg.cni_bin_dirs,
        container_id: sandbox_id,
        netns,
        ifname,
        args: &a.args,
        capabilities: &a.capabilities,
    };
    network.del(&inv(POD_IFNAME), Some(&a.result)).await?;
    loopback().del(&inv("lo"), None).await?;
    Ok(())
}
