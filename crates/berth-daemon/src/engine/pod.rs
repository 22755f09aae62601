//! Containers of a Kubernetes pod, made through CRI: the pod holds the namespaces its
//! containers share (as files that keep them alive, so no pause process is needed),
//! its /dev/shm, hostname and resolver file; each container joins them at start.

use super::create::CreateOptions;
use super::Engine;
use crate::error::Result;
use berth_api::container::{CreateRequest, CreateResponse};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// What a container takes from its pod, recorded with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodLink {
    pub sandbox_id: String,
    /// Namespace files the container joins instead of making its own; None: its own
    /// (or the host's, as the container's HostConfig says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<PathBuf>,
    /// The pod's user namespace (which owns the namespaces above) and its uid and gid
    /// ranges: the container's root is the first id of each on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_maps: Option<(
        berth_runtime::pod_userns::IdMap,
        berth_runtime::pod_userns::IdMap,
    )>,
    /// Container paths of binds ID-mapped with the user namespace's ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idmapped: Vec<PathBuf>,
    /// The pod's /dev/shm (a tmpfs the pod mounted), shared by its containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm: Option<PathBuf>,
    /// The pod's resolv.conf (from its DNS config), instead of the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<PathBuf>,
    /// Where the container's log goes, in the CRI format (the kubelet reads it there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_path: Option<PathBuf>,
    /// Kubernetes' SupplementalGroupsPolicy Strict: the process gets only the groups the
    /// pod names, not the user's memberships in the image's /etc/group.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_groups: bool,
}

impl Engine {
    /// Creates a container of a pod: a berth container like any other (`berth ps -a`
    /// lists it), which joins what `pod` holds when it starts.
    /// `id` is the container's, chosen by the caller (a new one from `names::new_id`).
    pub async fn create_pod_container(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        req: CreateRequest,
        pod: PodLink,
    ) -> Result<CreateResponse> {
        self.create_container_with(
            Some(name),
            req,
            CreateOptions {
                pod: Some(pod),
                id: Some(id.to_string()),
                ..Default::default()
            },
        )
        .await
    }

    /// Opens the log of a pod's container again at its path (the kubelet rotated it).
    pub async fn reopen_log(&self, name: &str) -> Result<()> {
        let c = self.get(name)?;
        if !c.is_running() {
            return Err(crate::error::DaemonError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        Ok(self.task(&c.id).reopen_log().await?)
    }
}
