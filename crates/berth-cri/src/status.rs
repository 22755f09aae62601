//! Status: whether the runtime and the pod network are ready, as the kubelet asks.

use crate::proto::{self, RuntimeCondition};
use crate::service::Cri;
use std::collections::HashMap;

impl Cri {
    pub fn status(&self, verbose: bool) -> proto::StatusResponse {
        let network = crate::sandbox::network::default_network(&self.cfg);
        let (net_ok, reason, message) = match &network {
            Ok(Some(_)) => (true, String::new(), String::new()),
            Ok(None) => (
                false,
                "NetworkPluginNotReady".to_string(),
                format!(
                    "no CNI network config in {}",
                    self.cfg.cni_conf_dir.display()
                ),
            ),
            Err(e) => (false, "NetworkPluginNotReady".to_string(), e.to_string()),
        };
        let mut info = HashMap::new();
        if verbose {
            info.insert(
                "config".to_string(),
                serde_json::json!({
                    "cniConfDir": self.cfg.cni_conf_dir,
                    "cniBinDirs": self.cfg.cni_bin_dirs,
                    "network": network.ok().flatten().map(|n| n.name),
                    "sandboxesWithoutPause": true,
                })
                .to_string(),
            );
        }
        proto::StatusResponse {
            status: Some(proto::RuntimeStatus {
                conditions: vec![
                    RuntimeCondition {
                        r#type: "RuntimeReady".into(),
                        status: true,
                        reason: String::new(),
                        message: String::new(),
                    },
                    RuntimeCondition {
                        r#type: "NetworkReady".into(),
                        status: net_ok,
                        reason,
                        message,
                    },
                ],
            }),
            info,
            runtime_handlers: vec![proto::RuntimeHandler {
                name: String::new(),
                features: Some(proto::RuntimeHandlerFeatures {
                    recursive_read_only_mounts: berth_runtime::mounts::recursive_readonly_supported(
                    ),
                    user_namespaces: berth_runtime::userns::supported(),
                }),
            }],
            features: Some(proto::RuntimeFeatures {
                supplemental_groups_policy: true,
                user_namespaces_host_network: false,
                mount_options: false,
            }),
        }
    }
}
