//! Pod sandboxes: the namespaces a pod's containers share, its network (through CNI), and
//! what the kubelet said about it. A sandbox is Ready from run until stop, NotReady after
//! (its network gone, its containers stopped), and gone after remove.

pub mod namespaces;
pub mod network;
pub mod store;
pub mod userns;

use crate::proto::PodSandboxConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SandboxState {
    Ready,
    NotReady,
}

impl SandboxState {
    /// A stop may come any number of times; a stopped sandbox never becomes ready again
    /// (the kubelet makes a new one).
    pub fn stop(self) -> Self {
        SandboxState::NotReady
    }

    pub fn to_proto(self) -> crate::proto::PodSandboxState {
        match self {
            Self::Ready => crate::proto::PodSandboxState::SandboxReady,
            Self::NotReady => crate::proto::PodSandboxState::SandboxNotready,
        }
    }
}

/// What berth records of a sandbox (`sandbox.json`); the kubelet's config is kept beside
/// it as the protobuf it came in (`config.pb`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub state: SandboxState,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
    pub runtime_handler: String,
    /// The namespaces the pod holds, under the exec root.
    pub held: namespaces::Held,
    /// The pod's resolv.conf (from its DNS config), or None for the host's.
    pub resolv_conf: Option<PathBuf>,
    /// The pod's network as CNI set it up: the network's config file and the result of
    /// its ADD (for its DEL).
    pub network: Option<network::Attachment>,
    /// The cgroup the pod's containers go under (the kubelet's `cgroup_parent`).
    pub cgroup_parent: String,
}

/// A sandbox: its record and its config.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub record: SandboxRecord,
    pub config: PodSandboxConfig,
}

impl Sandbox {
    pub fn ip(&self) -> Option<&str> {
        self.record
            .network
            .as_ref()
            .and_then(|n| n.addresses.first().map(String::as_str))
    }
}
